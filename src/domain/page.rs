//! Pagination as the contract states it: `page` ≥ 1 (default 1), `limit` 1–50 (default 20);
//! anything else is refused, never clamped.

use serde::Serialize;

use super::DomainError;

pub const MAX_LIMIT: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub limit: i64,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { page: 1, limit: 20 }
    }
}

impl PageRequest {
    pub fn parse(page: Option<&str>, limit: Option<&str>) -> Result<PageRequest, DomainError> {
        let page = match page {
            None => 1,
            Some(raw) => parse_in_range("page", raw, 1, 1_000_000)?,
        };
        let limit = match limit {
            None => 20,
            Some(raw) => parse_in_range("limit", raw, 1, MAX_LIMIT)?,
        };
        Ok(PageRequest { page, limit })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }

    pub fn of(&self, total: i64) -> Page {
        Page { total, page: self.page, limit: self.limit, total_pages: (total + self.limit - 1) / self.limit }
    }
}

/// The query parameters every list takes, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// ≥ 1, default 1.
    page: Option<i64>,
    /// 1–50, default 20.
    limit: Option<i64>,
}

fn parse_in_range(field: &str, raw: &str, min: i64, max: i64) -> Result<i64, DomainError> {
    let n: i64 = raw.trim().parse().map_err(|_| DomainError::invalid(field, "must be an integer"))?;
    if n < min || n > max {
        return Err(DomainError::invalid(field, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

/// The `pagination` object beside every list.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Pagination)]
pub struct Page {
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    pub total_pages: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(PageRequest::parse(None, None).unwrap(), PageRequest { page: 1, limit: 20 });
        assert_eq!(PageRequest::parse(Some("3"), Some("50")).unwrap().offset(), 100);
        for (p, l) in [("0", "1"), ("1", "0"), ("1", "51"), ("x", "1"), ("1", "2.5"), ("-1", "5")] {
            assert!(PageRequest::parse(Some(p), Some(l)).is_err(), "{p} {l}");
        }
    }

    #[test]
    fn total_pages_rounds_up() {
        let r = PageRequest { page: 1, limit: 20 };
        assert_eq!(r.of(0).total_pages, 0);
        assert_eq!(r.of(20).total_pages, 1);
        assert_eq!(r.of(21).total_pages, 2);
    }
}
