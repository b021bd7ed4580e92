//! The points shop's rules: what a product is, what an admin may set, and how the catalogue can
//! be filtered and sorted (a whitelist — a client never names a column).

use serde::{Deserialize, Serialize};

use super::{DomainError, PageRequest};

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    pub exchange_points: i64,
    pub stock: i64,
    pub sales_count: i64,
    pub image: String,
    pub is_hot: bool,
    pub rating: f64,
    pub sort_order: i64,
    pub active: bool,
    pub created_at: i64,
}

/// Whether a customer can redeem a product now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// On sale with stock left.
    Available,
    /// On sale, but none left until an admin restocks it.
    SoldOut,
    /// Taken off sale by an admin.
    Delisted,
}

impl Product {
    pub fn status(&self) -> ProductStatus {
        if !self.active {
            ProductStatus::Delisted
        } else if self.stock > 0 {
            ProductStatus::Available
        } else {
            ProductStatus::SoldOut
        }
    }
}

/// Product fields as an admin sends them; every field optional so one type serves create
/// (where some are required) and partial update.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProductInput {
    /// 1–64 characters; required to create.
    pub name: Option<String>,
    /// Up to 500 characters.
    pub description: Option<String>,
    /// 1–32 characters; required to create.
    pub category: Option<String>,
    /// The price in points, 1–10000000; required to create.
    pub exchange_points: Option<i64>,
    /// Units on sale, 0–10000000; required to create.
    pub stock: Option<i64>,
    /// An http(s) URL or a server path; empty for none.
    pub image: Option<String>,
    pub is_hot: Option<bool>,
    /// 0–5.
    pub rating: Option<f64>,
    /// Catalogue position (ascending), within ±1000000.
    pub sort_order: Option<i64>,
}

/// A checked set of changes (or, with every field present, a new product).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub exchange_points: Option<i64>,
    pub stock: Option<i64>,
    pub image: Option<String>,
    pub is_hot: Option<bool>,
    pub rating: Option<f64>,
    pub sort_order: Option<i64>,
}

fn text(field: &str, v: &str, min: usize, max: usize) -> Result<String, DomainError> {
    let t = v.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(char::is_control) {
        return Err(DomainError::invalid(field, format!("must be {min}-{max} characters without control characters")));
    }
    Ok(t.to_string())
}

impl ProductInput {
    pub fn into_patch(self) -> Result<ProductPatch, DomainError> {
        let image = match self.image {
            None => None,
            Some(i) => {
                let i = text("image", &i, 0, 512)?;
                if !(i.is_empty() || i.starts_with("https://") || i.starts_with("http://") || i.starts_with('/')) {
                    return Err(DomainError::invalid("image", "must be an http(s) URL or a server path"));
                }
                Some(i)
            }
        };
        if let Some(p) = self.exchange_points {
            if !(1..=10_000_000).contains(&p) {
                return Err(DomainError::invalid("exchange_points", "must be 1-10000000"));
            }
        }
        if let Some(s) = self.stock {
            if !(0..=10_000_000).contains(&s) {
                return Err(DomainError::invalid("stock", "must be 0-10000000"));
            }
        }
        if let Some(r) = self.rating {
            if !r.is_finite() || !(0.0..=5.0).contains(&r) {
                return Err(DomainError::invalid("rating", "must be 0-5"));
            }
        }
        if let Some(o) = self.sort_order {
            if !(-1_000_000..=1_000_000).contains(&o) {
                return Err(DomainError::invalid("sort_order", "must be within ±1000000"));
            }
        }
        Ok(ProductPatch {
            name: self.name.as_deref().map(|n| text("name", n, 1, 64)).transpose()?,
            description: self.description.as_deref().map(|d| text("description", d, 0, 500)).transpose()?,
            category: self.category.as_deref().map(|c| text("category", c, 1, 32)).transpose()?,
            exchange_points: self.exchange_points,
            stock: self.stock,
            image,
            is_hot: self.is_hot,
            rating: self.rating,
            sort_order: self.sort_order,
        })
    }
}

impl ProductPatch {
    /// A new product needs a name, a category, a price and a stock.
    pub fn require_new(&self) -> Result<(), DomainError> {
        for (field, missing) in [
            ("name", self.name.is_none()),
            ("category", self.category.is_none()),
            ("exchange_points", self.exchange_points.is_none()),
            ("stock", self.stock.is_none()),
        ] {
            if missing {
                return Err(DomainError::invalid(field, "is required"));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == ProductPatch::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    SortOrder,
    ExchangePoints,
    SalesCount,
    CreatedAt,
}

impl SortBy {
    pub const NAMES: [&'static str; 4] = ["sort_order", "exchange_points", "sales_count", "created_at"];

    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "sort_order" => Some(SortBy::SortOrder),
            "exchange_points" => Some(SortBy::ExchangePoints),
            "sales_count" => Some(SortBy::SalesCount),
            "created_at" => Some(SortBy::CreatedAt),
            _ => None,
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            SortBy::SortOrder => "sort_order",
            SortBy::ExchangePoints => "exchange_points",
            SortBy::SalesCount => "sales_count",
            SortBy::CreatedAt => "created_at",
        }
    }

    /// The direction when the client names none: the shop's own order and the cheapest first
    /// ascending (as the seeds list them), the best sellers and the newest first descending.
    pub fn descending_by_default(self) -> bool {
        match self {
            SortBy::SortOrder | SortBy::ExchangePoints => false,
            SortBy::SalesCount | SortBy::CreatedAt => true,
        }
    }
}

/// The mini-program's first catalogue tab, which lists every category.
pub const ALL_CATEGORIES: &str = "全部";

/// The category a catalogue query keeps: `None` (every category) when the value is absent, empty,
/// or 全部; otherwise the checked name.
pub fn category_filter(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") | Some(ALL_CATEGORIES) => Ok(None),
        Some(c) => text("category", c, 1, 32).map(Some),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockStatus {
    InStock,
    OutOfStock,
}

/// A catalogue query, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuery {
    pub category: Option<String>,
    pub min_points: Option<i64>,
    pub max_points: Option<i64>,
    pub stock_status: Option<StockStatus>,
    pub sort_by: SortBy,
    pub descending: bool,
    pub page: PageRequest,
}

impl ProductQuery {
    /// Parses the query-string values (`get` returns a parameter's raw text).
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>, page: PageRequest) -> Result<ProductQuery, DomainError> {
        let points = |field: &str| -> Result<Option<i64>, DomainError> {
            match get(field) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| DomainError::invalid(field, "must be a non-negative integer")),
            }
        };
        let min_points = points("min_points")?;
        let max_points = points("max_points")?;
        if let (Some(lo), Some(hi)) = (min_points, max_points) {
            if lo > hi {
                return Err(DomainError::invalid("min_points", "must not exceed max_points"));
            }
        }
        let stock_status = match get("stock_status") {
            None => None,
            Some("in_stock") => Some(StockStatus::InStock),
            Some("out_of_stock") => Some(StockStatus::OutOfStock),
            Some(_) => return Err(DomainError::invalid("stock_status", "must be in_stock or out_of_stock")),
        };
        let sort_by = match get("sort_by") {
            None => SortBy::SortOrder,
            Some(s) => SortBy::parse(s).ok_or_else(|| {
                DomainError::invalid("sort_by", format!("must be one of {}", SortBy::NAMES.join(", ")))
            })?,
        };
        let descending = match get("sort_order").map(|s| s.to_ascii_uppercase()) {
            None => sort_by.descending_by_default(),
            Some(s) if s == "ASC" => false,
            Some(s) if s == "DESC" => true,
            Some(_) => return Err(DomainError::invalid("sort_order", "must be ASC or DESC")),
        };
        let category = category_filter(get("category"))?;
        Ok(ProductQuery { category, min_points, max_points, stock_status, sort_by, descending, page })
    }
}

/// The demo shop: ten products over three categories, some with low stock.
pub fn demo_products() -> Vec<ProductPatch> {
    let p = |name: &str, desc: &str, cat: &str, points: i64, stock: i64, hot: bool, order: i64| ProductPatch {
        name: Some(name.into()),
        description: Some(desc.into()),
        category: Some(cat.into()),
        exchange_points: Some(points),
        stock: Some(stock),
        image: Some(String::new()),
        is_hot: Some(hot),
        rating: Some(4.8),
        sort_order: Some(order),
    };
    vec![
        p("柠檬茶", "手打鲜柠檬茶一杯", "饮品", 300, 200, true, 1),
        p("珍珠奶茶", "招牌珍珠奶茶一杯", "饮品", 400, 150, true, 2),
        p("鲜榨橙汁", "现榨橙汁一杯", "饮品", 500, 8, false, 3),
        p("美式咖啡", "现磨美式咖啡一杯", "饮品", 450, 60, false, 4),
        p("薯条", "香脆薯条一份", "小吃", 250, 300, true, 5),
        p("鸡米花", "鸡米花一份", "小吃", 350, 5, false, 6),
        p("蛋挞", "葡式蛋挞两只", "小吃", 300, 120, false, 7),
        p("10元代金券", "满50元可用", "代金券", 800, 500, true, 8),
        p("20元代金券", "满100元可用", "代金券", 1500, 3, false, 9),
        p("50元代金券", "满200元可用", "代金券", 3500, 1, false, 10),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> Result<ProductQuery, DomainError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        ProductQuery::parse(|k| map.get(k).copied(), PageRequest::default())
    }

    #[test]
    fn sort_is_a_whitelist() {
        assert_eq!(query(&[]).unwrap().sort_by, SortBy::SortOrder);
        assert!(!query(&[]).unwrap().descending);
        let q = query(&[("sort_by", "sales_count"), ("sort_order", "asc")]).unwrap();
        assert_eq!((q.sort_by, q.descending), (SortBy::SalesCount, false));
        for bad in ["id; DROP TABLE products", "name", "stock", ""] {
            assert!(query(&[("sort_by", bad)]).is_err(), "{bad}");
        }
        assert!(query(&[("sort_order", "sideways")]).is_err());
    }

    #[test]
    fn each_sort_key_has_its_default_direction() {
        let expected = [("sort_order", false), ("exchange_points", false), ("sales_count", true), ("created_at", true)];
        for (name, descending) in expected {
            let by = SortBy::parse(name).unwrap();
            assert_eq!(by.descending_by_default(), descending, "{name}");
            assert_eq!(query(&[("sort_by", name)]).unwrap().descending, descending, "{name}");
            // A direction the client names wins over the default.
            assert!(!query(&[("sort_by", name), ("sort_order", "ASC")]).unwrap().descending, "{name}");
            assert!(query(&[("sort_by", name), ("sort_order", "desc")]).unwrap().descending, "{name}");
        }
        assert_eq!(expected.len(), SortBy::NAMES.len(), "every sort key has a stated default");
    }

    #[test]
    fn all_categories_is_no_filter() {
        for all in [None, Some(""), Some("  "), Some("全部"), Some(" 全部 ")] {
            assert_eq!(category_filter(all).unwrap(), None, "{all:?}");
        }
        assert_eq!(category_filter(Some(" 饮品 ")).unwrap(), Some("饮品".to_string()));
        assert_eq!(category_filter(Some("全部饮品")).unwrap(), Some("全部饮品".to_string()));
        assert!(category_filter(Some(&"类".repeat(33))).is_err());
        assert!(category_filter(Some("a\u{7}b")).is_err());
        assert_eq!(query(&[("category", "全部")]).unwrap().category, None);
    }

    #[test]
    fn filters_are_checked() {
        let q =
            query(&[("min_points", "100"), ("max_points", "500"), ("stock_status", "in_stock"), ("category", "饮品")])
                .unwrap();
        assert_eq!(q.min_points, Some(100));
        assert_eq!(q.stock_status, Some(StockStatus::InStock));
        assert!(query(&[("min_points", "-1")]).is_err());
        assert!(query(&[("min_points", "9"), ("max_points", "1")]).is_err());
        assert!(query(&[("stock_status", "some")]).is_err());
    }

    #[test]
    fn products_are_validated() {
        let ok = ProductInput {
            name: Some("奶茶".into()),
            category: Some("饮品".into()),
            exchange_points: Some(300),
            stock: Some(5),
            ..Default::default()
        };
        assert!(ok.clone().into_patch().unwrap().require_new().is_ok());
        let missing = ProductInput { stock: None, ..ok.clone() };
        assert!(missing.into_patch().unwrap().require_new().is_err());
        assert!(ProductInput { exchange_points: Some(0), ..ok.clone() }.into_patch().is_err());
        assert!(ProductInput { stock: Some(-1), ..ok.clone() }.into_patch().is_err());
        assert!(ProductInput { name: Some("x".repeat(65)), ..ok.clone() }.into_patch().is_err());
        assert!(ProductInput { image: Some("javascript:alert(1)".into()), ..ok }.into_patch().is_err());
    }

    #[test]
    fn a_product_is_available_while_on_sale_with_stock() {
        let p = Product {
            id: 1,
            name: "奶茶".into(),
            description: String::new(),
            category: "饮品".into(),
            exchange_points: 300,
            stock: 1,
            sales_count: 0,
            image: String::new(),
            is_hot: false,
            rating: 4.8,
            sort_order: 1,
            active: true,
            created_at: 0,
        };
        assert_eq!(p.status(), ProductStatus::Available);
        assert_eq!(Product { stock: 0, ..p.clone() }.status(), ProductStatus::SoldOut);
        assert_eq!(Product { active: false, ..p.clone() }.status(), ProductStatus::Delisted);
        assert_eq!(Product { active: false, stock: 0, ..p }.status(), ProductStatus::Delisted);
        let wire: Vec<String> = [ProductStatus::Available, ProductStatus::SoldOut, ProductStatus::Delisted]
            .iter()
            .map(|s| serde_json::to_string(s).unwrap_or_default())
            .collect();
        assert_eq!(wire, [r#""available""#, r#""sold_out""#, r#""delisted""#]);
    }

    #[test]
    fn the_demo_shop_spans_three_categories() {
        let demo = demo_products();
        let cats: std::collections::HashSet<_> = demo.iter().map(|p| p.category.clone().unwrap()).collect();
        assert_eq!(cats.len(), 3);
        assert!(demo.iter().all(|p| p.require_new().is_ok()));
        assert!(demo.iter().any(|p| p.stock.unwrap() < 10));
    }
}
