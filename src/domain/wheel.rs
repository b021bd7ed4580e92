//! The prize wheel's rules: the eight sectors and their validation, the sampling table, near
//! misses and pity. Pure functions; the `PrizeWheel` actor owns the state and the random numbers.
//!
//! Longer than most files: about half of it is the sampler's tests, including the
//! chi-square checks with their power test, which belong beside what they test.

use serde::{Deserialize, Serialize};

use super::prize::MAX_CASH_VALUE_CENTS;
use super::DomainError;

pub const SECTORS: usize = 8;
pub const ANGLES: [i64; SECTORS] = [0, 45, 90, 135, 180, 225, 270, 315];
/// How close (in probability space) a miss must fall to an activity prize to count as "near".
pub const NEAR_MISS_BAND: f64 = 0.02;
pub const PROBABILITY_TOLERANCE: f64 = 1e-6;

/// What a sector awards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrizeKind {
    /// Points credited to the wallet in the draw's own commit.
    Points,
    /// A coupon in the customer's prizes, with a redemption code.
    Coupon,
    /// A physical prize in the customer's prizes, with a redemption code.
    Physical,
    /// Nothing (谢谢参与).
    Empty,
}

impl PrizeKind {
    pub const ALL: [PrizeKind; 4] = [PrizeKind::Points, PrizeKind::Coupon, PrizeKind::Physical, PrizeKind::Empty];

    pub fn as_str(self) -> &'static str {
        match self {
            PrizeKind::Points => "points",
            PrizeKind::Coupon => "coupon",
            PrizeKind::Physical => "physical",
            PrizeKind::Empty => "empty",
        }
    }

    pub fn parse(s: &str) -> Option<PrizeKind> {
        match s {
            "points" => Some(PrizeKind::Points),
            "coupon" => Some(PrizeKind::Coupon),
            "physical" => Some(PrizeKind::Physical),
            "empty" => Some(PrizeKind::Empty),
            _ => None,
        }
    }

    /// Coupons and physical prizes go to the customer's inventory with a redemption code.
    pub fn is_inventory(self) -> bool {
        matches!(self, PrizeKind::Coupon | PrizeKind::Physical)
    }
}

/// Points prizes worth this much or more are announced on the live ticker.
pub const NOTABLE_POINTS: i64 = 100;

/// Whether a win is announced to everyone (`wheel_win`, the live ticker): activity prizes,
/// physical prizes, and points prizes of at least [`NOTABLE_POINTS`]. Coupons, small points wins
/// and empty sectors stay between the customer and the wheel.
pub fn is_notable_win(kind: PrizeKind, value: i64, is_activity: bool) -> bool {
    is_activity || kind == PrizeKind::Physical || (kind == PrizeKind::Points && value >= NOTABLE_POINTS)
}

/// One sector as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Sector {
    pub id: i64,
    pub name: String,
    pub kind: PrizeKind,
    pub value: i64,
    pub angle: i64,
    pub color: String,
    pub probability: f64,
    pub is_activity: bool,
    /// Units left to win; `None` = unlimited.
    pub stock_left: Option<i64>,
    pub is_pity_prize: bool,
    pub is_fallback: bool,
    /// The prize's cash value in cents (at most [`MAX_CASH_VALUE_CENTS`]), for disclosure.
    pub cash_value_cents: i64,
}

impl Sector {
    pub fn available(&self) -> bool {
        self.stock_left.is_none_or(|s| s > 0)
    }
}

/// A sector as an admin submits it (`PUT /api/admin/lottery/prizes`); ids and stock_left in the
/// body are ignored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SectorInput {
    /// 1–20 characters.
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = Option<PrizeKind>)]
    pub kind: Option<String>,
    /// 0–1000000: the points a `points` prize gives (positive); for other kinds, for display.
    pub value: Option<i64>,
    /// The sector's start: 0, 45, …, 315, each exactly once.
    #[schema(example = 45)]
    pub angle: Option<i64>,
    /// `#RRGGBB`.
    #[schema(example = "#FF6B6B")]
    pub color: Option<String>,
    /// 0…1; the eight sum to 1 (within 1e-6).
    #[schema(example = 0.125)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub is_activity: bool,
    /// Units left to win; null = unlimited.
    pub stock: Option<i64>,
    /// Exactly one sector is the pity prize.
    #[serde(default)]
    pub is_pity_prize: bool,
    /// Exactly one sector takes the odds of sectors out of stock; its stock is unlimited.
    #[serde(default)]
    pub is_fallback: bool,
    /// The prize's cash value in cents, 0–5000000 (¥50,000, the legal ceiling); default 0.
    #[schema(example = 1500)]
    pub cash_value_cents: Option<i64>,
}

/// Checks a full replacement of the wheel; the error names the offending field.
pub fn validate_sectors(input: &[SectorInput]) -> Result<Vec<Sector>, DomainError> {
    if input.len() != SECTORS {
        return Err(DomainError::invalid(
            "prizes",
            format!("exactly {SECTORS} sectors are required, got {}", input.len()),
        ));
    }
    let mut out = Vec::with_capacity(SECTORS);
    for (i, s) in input.iter().enumerate() {
        let f = |name: &str| format!("prizes[{i}].{name}");
        let name = s.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 20 || name.chars().any(char::is_control) {
            return Err(DomainError::invalid(f("name"), "must be 1-20 characters"));
        }
        let kind = s
            .kind
            .as_deref()
            .and_then(PrizeKind::parse)
            .ok_or_else(|| DomainError::invalid(f("type"), "must be points, coupon, physical or empty"))?;
        let value = s.value.unwrap_or(0);
        if !(0..=1_000_000).contains(&value) || (kind == PrizeKind::Points && value == 0) {
            return Err(DomainError::invalid(f("value"), "must be 0-1000000 (and positive for a points prize)"));
        }
        let angle = s.angle.ok_or_else(|| DomainError::invalid(f("angle"), "is required"))?;
        if !ANGLES.contains(&angle) {
            return Err(DomainError::invalid(f("angle"), "must be one of 0, 45, 90, 135, 180, 225, 270, 315"));
        }
        let color = s.color.as_deref().unwrap_or_default();
        if !is_hex_colour(color) {
            return Err(DomainError::invalid(f("color"), "must be #RRGGBB"));
        }
        let probability = s.probability.ok_or_else(|| DomainError::invalid(f("probability"), "is required"))?;
        if !probability.is_finite() || !(0.0..=1.0).contains(&probability) {
            return Err(DomainError::invalid(f("probability"), "must be between 0 and 1"));
        }
        let cash_value_cents = s.cash_value_cents.unwrap_or(0);
        if !(0..=MAX_CASH_VALUE_CENTS).contains(&cash_value_cents) {
            return Err(DomainError::invalid(f("cash_value_cents"), "must be 0-5000000 (¥50,000 at most)"));
        }
        if let Some(stock) = s.stock {
            if !(0..=10_000_000).contains(&stock) {
                return Err(DomainError::invalid(f("stock"), "must be null (unlimited) or 0-10000000"));
            }
        }
        out.push(Sector {
            id: 0,
            name: name.to_string(),
            kind,
            value,
            angle,
            color: color.to_ascii_uppercase(),
            probability,
            is_activity: s.is_activity,
            stock_left: s.stock,
            is_pity_prize: s.is_pity_prize,
            is_fallback: s.is_fallback,
            cash_value_cents,
        });
    }
    let mut angles: Vec<i64> = out.iter().map(|s| s.angle).collect();
    angles.sort_unstable();
    if angles != ANGLES {
        return Err(DomainError::invalid("prizes[].angle", "each of 0, 45, …, 315 must appear exactly once"));
    }
    let sum: f64 = out.iter().map(|s| s.probability).sum();
    if (sum - 1.0).abs() > PROBABILITY_TOLERANCE {
        return Err(DomainError::invalid("prizes[].probability", format!("must sum to 1, got {sum}")));
    }
    if out.iter().filter(|s| s.is_pity_prize).count() != 1 {
        return Err(DomainError::invalid("prizes[].is_pity_prize", "exactly one sector must be the pity prize"));
    }
    if out.iter().filter(|s| s.is_fallback).count() != 1 {
        return Err(DomainError::invalid("prizes[].is_fallback", "exactly one sector must be the fallback"));
    }
    if let Some(fb) = out.iter().find(|s| s.is_fallback) {
        if fb.stock_left.is_some() {
            return Err(DomainError::invalid("prizes[].stock", "the fallback sector must have unlimited stock"));
        }
    }
    out.sort_by_key(|s| s.angle);
    Ok(out)
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cumulative sampling table: exhausted sectors give their mass to the fallback. Rebuilt only
/// when the wheel or a sector's availability changes; a draw is a binary search, O(log n).
#[derive(Debug, Clone)]
pub struct SamplingTable {
    /// Upper bounds of each sector's interval in [0, 1), in sector order.
    upper: Vec<f64>,
    /// Lower bounds, for near-miss checks.
    lower: Vec<f64>,
    /// The last sector with mass: its interval closes at exactly 1.
    last: usize,
}

impl SamplingTable {
    pub fn build(sectors: &[Sector]) -> SamplingTable {
        let fallback = sectors.iter().position(|s| s.is_fallback);
        let mut mass: Vec<f64> = sectors.iter().map(|s| if s.available() { s.probability } else { 0.0 }).collect();
        let lost: f64 = sectors.iter().filter(|s| !s.available()).map(|s| s.probability).sum();
        if let Some(fb) = fallback {
            mass[fb] += lost;
        }
        let total: f64 = mass.iter().sum();
        let mut upper = Vec::with_capacity(mass.len());
        let mut lower = Vec::with_capacity(mass.len());
        let mut acc = 0.0;
        for m in &mass {
            lower.push(acc);
            acc += if total > 0.0 { m / total } else { 0.0 };
            upper.push(acc);
        }
        // Guard against rounding: the last sector with mass closes the interval at exactly 1.
        let last = mass.iter().rposition(|m| *m > 0.0);
        if let Some(last) = last {
            for u in upper.iter_mut().skip(last) {
                *u = 1.0;
            }
        }
        SamplingTable { upper, lower, last: last.unwrap_or(0) }
    }

    /// The sector whose interval holds `u` ∈ [0, 1). A `u` of 1 (a fair draw's 8 bytes can
    /// round up to it) belongs to the last sector with mass, whose interval closes at 1.
    pub fn sample(&self, u: f64) -> usize {
        let i = self.upper.partition_point(|&up| up <= u);
        if i < self.upper.len() {
            i
        } else {
            self.last
        }
    }

    /// Sector `i`'s interval `[from, to)` in [0, 1].
    pub fn interval(&self, i: usize) -> (f64, f64) {
        (self.lower[i], self.upper[i])
    }

    /// The sector's effective probability after fallback redistribution.
    pub fn effective(&self, i: usize) -> f64 {
        self.upper[i] - self.lower[i]
    }

    /// True when `u` fell within [`NEAR_MISS_BAND`] of an activity prize's interval while the
    /// result itself is not an activity prize. Display only.
    pub fn is_near_miss(&self, sectors: &[Sector], result: usize, u: f64) -> bool {
        if sectors[result].is_activity {
            return false;
        }
        sectors.iter().enumerate().any(|(i, s)| {
            s.is_activity
                && self.upper[i] > self.lower[i]
                && u >= self.lower[i] - NEAR_MISS_BAND
                && u < self.upper[i] + NEAR_MISS_BAND
        })
    }
}

/// Pity settings as the wheel applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pity {
    pub enabled: bool,
    pub limit: i64,
}

/// The outcome of one draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spin {
    pub sector: usize,
    pub is_pity: bool,
    pub is_near_miss: bool,
    /// The customer's pity counter after this draw.
    pub pity_after: i64,
}

/// One draw for a customer whose counter stands at `pity_count`, with uniform `u`.
/// When the counter has reached `limit − 1`, the pity prize is awarded regardless of odds
/// (provided it can still be won); winning it in any way resets the counter.
pub fn spin(sectors: &[Sector], table: &SamplingTable, pity: Pity, pity_count: i64, u: f64) -> Spin {
    let pity_sector = sectors.iter().position(|s| s.is_pity_prize && s.available());
    if let (true, Some(p)) = (pity.enabled && pity_count >= pity.limit - 1, pity_sector) {
        return Spin { sector: p, is_pity: true, is_near_miss: false, pity_after: 0 };
    }
    let sector = table.sample(u);
    let pity_after = if sectors[sector].is_pity_prize { 0 } else { pity_count + 1 };
    Spin { sector, is_pity: false, is_near_miss: table.is_near_miss(sectors, sector, u), pity_after }
}

/// The demo wheel of the contract (angles 0…315).
pub fn demo_sectors() -> Vec<Sector> {
    let s = |name: &str, kind, value, angle, color: &str, p, act, stock: Option<i64>, pity, fb| Sector {
        id: 0,
        name: name.into(),
        kind,
        value,
        angle,
        color: color.into(),
        probability: p,
        is_activity: act,
        stock_left: stock,
        is_pity_prize: pity,
        is_fallback: fb,
        cash_value_cents: 0,
    };
    use PrizeKind::*;
    vec![
        s("50积分", Points, 50, 0, "#FFD700", 0.20, false, None, false, false),
        s("九八折券", Coupon, 98, 45, "#FF8C00", 0.15, false, None, true, false),
        s("100积分", Points, 100, 90, "#FF6347", 0.10, false, None, false, false),
        s("甜品一份", Physical, 1, 135, "#DA70D6", 0.08, false, Some(100), false, false),
        s("八八折券", Coupon, 88, 180, "#1E90FF", 0.05, false, None, false, false),
        s("500积分", Points, 500, 225, "#32CD32", 0.015, true, None, false, false),
        s("免单券", Coupon, 100, 270, "#DC143C", 0.005, true, Some(10), false, false),
        s("谢谢参与", Empty, 0, 315, "#A9A9A9", 0.40, false, None, false, true),
    ]
}

/// What the wheel's sampler and the fair sampler are both held to in their tests: the wheel
/// shapes, and the χ² statistic of observed counts against configured odds.
#[cfg(test)]
pub(crate) mod sampling_checks {
    use super::{demo_sectors, Sector};

    /// χ² critical value for 7 degrees of freedom at p = 0.001.
    pub const CHI2_7_P001: f64 = 24.322;

    /// χ² of `counts` (n draws in all) against `expected_p`; a sector of probability 0 must
    /// never have been drawn.
    pub fn chi_square_of(counts: &[usize], expected_p: &[f64], n: f64) -> f64 {
        let mut chi = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            let e = expected_p[i] * n;
            if e == 0.0 {
                assert_eq!(c, 0, "sector {i} has probability 0 but was drawn");
                continue;
            }
            chi += (c as f64 - e).powi(2) / e;
        }
        chi
    }

    pub fn shapes() -> Vec<(&'static str, Vec<Sector>)> {
        let demo = demo_sectors();
        let mut uniform = demo_sectors();
        for s in &mut uniform {
            s.probability = 0.125;
        }
        let mut with_zero = demo_sectors();
        with_zero[4].probability = 0.0; // 八八折券 never
        with_zero[7].probability += 0.05;
        let mut skewed = demo_sectors();
        for (s, p) in skewed.iter_mut().zip([0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.01, 0.05]) {
            s.probability = p;
        }
        vec![("demo", demo), ("uniform", uniform), ("with a zero sector", with_zero), ("skewed", skewed)]
    }
}

#[cfg(test)]
mod tests {
    use super::sampling_checks::{chi_square_of, shapes, CHI2_7_P001};
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn prize_kinds_are_spelled_one_way_in_the_store_and_on_the_wire() {
        for kind in PrizeKind::ALL {
            assert_eq!(PrizeKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::json!(kind.as_str())));
        }
        assert_eq!(PrizeKind::parse("Points"), None);
        let inventory: Vec<PrizeKind> = PrizeKind::ALL.into_iter().filter(|k| k.is_inventory()).collect();
        assert_eq!(inventory, [PrizeKind::Coupon, PrizeKind::Physical]);
    }

    fn chi_square(sectors: &[Sector], table: &SamplingTable, expected_p: &[f64], n: usize, seed: u64) -> f64 {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut counts = vec![0usize; sectors.len()];
        for _ in 0..n {
            counts[table.sample(rng.random::<f64>())] += 1;
        }
        chi_square_of(&counts, expected_p, n as f64)
    }

    #[test]
    fn sampling_matches_the_configured_distribution_over_a_million_draws() {
        for (seed, (name, sectors)) in shapes().into_iter().enumerate() {
            let table = SamplingTable::build(&sectors);
            let p: Vec<f64> = sectors.iter().map(|s| s.probability).collect();
            let chi = chi_square(&sectors, &table, &p, 1_000_000, 7 + seed as u64);
            assert!(chi < CHI2_7_P001, "{name}: χ² = {chi}");
        }
    }

    #[test]
    fn the_chi_square_check_rejects_a_wrong_distribution() {
        // Power check: the same test must fail when the table does not match the odds.
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        let wrong: Vec<f64> = vec![0.19, 0.16, 0.10, 0.08, 0.05, 0.015, 0.005, 0.40];
        assert!(chi_square(&sectors, &table, &wrong, 1_000_000, 1) > CHI2_7_P001);
    }

    #[test]
    fn an_exhausted_prize_falls_to_the_fallback() {
        let mut sectors = demo_sectors();
        sectors[6].stock_left = Some(0); // 免单券 gone
        sectors[3].stock_left = Some(0); // 甜品 gone
        let table = SamplingTable::build(&sectors);
        assert_eq!(table.effective(6), 0.0);
        assert_eq!(table.effective(3), 0.0);
        assert!((table.effective(7) - (0.40 + 0.005 + 0.08)).abs() < 1e-12);
        let mut p: Vec<f64> = sectors.iter().map(|s| s.probability).collect();
        p[7] += p[6] + p[3];
        p[6] = 0.0;
        p[3] = 0.0;
        let chi = chi_square(&sectors, &table, &p, 1_000_000, 99);
        assert!(chi < CHI2_7_P001, "χ² = {chi}");
    }

    #[test]
    fn sampling_edges() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        assert_eq!(table.sample(0.0), 0);
        assert_eq!(table.sample(0.1999999), 0);
        assert_eq!(table.sample(0.2), 1);
        assert_eq!(table.sample(0.9999999999), 7);
        assert_eq!(table.sample(1.0), 7);
        // When the last sectors have no mass, 1 still lands on a sector that can be won.
        let mut tail_empty = demo_sectors();
        tail_empty[7].probability = 0.0;
        tail_empty[0].probability += 0.40;
        let t = SamplingTable::build(&tail_empty);
        assert_eq!(t.sample(1.0), 6);
    }

    #[test]
    fn pity_awards_on_the_tenth_draw_and_resets() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        let pity = Pity { enabled: true, limit: 10 };
        // u = 0.99 lands on 谢谢参与 every time.
        let mut count = 0;
        for draw in 1..=9 {
            let s = spin(&sectors, &table, pity, count, 0.99);
            assert!(!s.is_pity, "draw {draw}");
            assert_eq!(sectors[s.sector].name, "谢谢参与");
            count = s.pity_after;
        }
        assert_eq!(count, 9);
        let tenth = spin(&sectors, &table, pity, count, 0.99);
        assert!(tenth.is_pity);
        assert_eq!(sectors[tenth.sector].name, "九八折券");
        assert_eq!(tenth.pity_after, 0);
    }

    #[test]
    fn winning_the_pity_prize_naturally_resets_the_counter() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        let s = spin(&sectors, &table, Pity { enabled: true, limit: 10 }, 5, 0.25); // 九八折券's interval
        assert_eq!(sectors[s.sector].name, "九八折券");
        assert!(!s.is_pity);
        assert_eq!(s.pity_after, 0);
    }

    #[test]
    fn disabled_pity_never_forces() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        let s = spin(&sectors, &table, Pity { enabled: false, limit: 10 }, 50, 0.99);
        assert!(!s.is_pity);
        assert_eq!(s.pity_after, 51);
    }

    #[test]
    fn near_misses_are_close_to_activity_prizes_only() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        // 500积分 occupies [0.58, 0.595); 免单券 [0.595, 0.60).
        let just_before = spin(&sectors, &table, Pity { enabled: false, limit: 10 }, 0, 0.57);
        assert_eq!(sectors[just_before.sector].name, "八八折券");
        assert!(just_before.is_near_miss);
        let far = spin(&sectors, &table, Pity { enabled: false, limit: 10 }, 0, 0.1);
        assert!(!far.is_near_miss);
        let hit = spin(&sectors, &table, Pity { enabled: false, limit: 10 }, 0, 0.59);
        assert!(sectors[hit.sector].is_activity);
        assert!(!hit.is_near_miss);
        let after = spin(&sectors, &table, Pity { enabled: false, limit: 10 }, 0, 0.615);
        assert_eq!(sectors[after.sector].name, "谢谢参与");
        assert!(after.is_near_miss);
    }

    #[test]
    fn big_wins_and_activity_prizes_make_the_ticker() {
        assert!(is_notable_win(PrizeKind::Physical, 0, false));
        assert!(is_notable_win(PrizeKind::Points, NOTABLE_POINTS, false));
        assert!(!is_notable_win(PrizeKind::Points, NOTABLE_POINTS - 1, false));
        assert!(!is_notable_win(PrizeKind::Coupon, 5000, false));
        assert!(!is_notable_win(PrizeKind::Empty, 0, false));
        assert!(is_notable_win(PrizeKind::Coupon, 0, true));
    }

    fn input_of(s: &Sector) -> SectorInput {
        SectorInput {
            name: Some(s.name.clone()),
            kind: Some(s.kind.as_str().into()),
            value: Some(s.value),
            angle: Some(s.angle),
            color: Some(s.color.clone()),
            probability: Some(s.probability),
            is_activity: s.is_activity,
            stock: s.stock_left,
            is_pity_prize: s.is_pity_prize,
            is_fallback: s.is_fallback,
            cash_value_cents: Some(s.cash_value_cents),
        }
    }

    fn field_of(e: DomainError) -> String {
        match e {
            DomainError::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_accepts_the_demo_wheel_and_names_bad_fields() {
        let good: Vec<SectorInput> = demo_sectors().iter().map(input_of).collect();
        assert_eq!(validate_sectors(&good).unwrap().len(), 8);

        let mut bad = good.clone();
        bad[2].color = Some("red".into());
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[2].color");

        let mut bad = good.clone();
        bad[3].angle = Some(30);
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[3].angle");

        let mut bad = good.clone();
        bad[3].angle = Some(0);
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[].angle");

        let mut bad = good.clone();
        bad[0].probability = Some(0.3);
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[].probability");

        let mut bad = good.clone();
        bad[0].is_pity_prize = true;
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[].is_pity_prize");

        let mut bad = good.clone();
        bad[0].is_fallback = true;
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[].is_fallback");

        let mut bad = good.clone();
        bad[6].cash_value_cents = Some(5_000_001);
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[6].cash_value_cents");
        bad[6].cash_value_cents = Some(5_000_000);
        assert_eq!(validate_sectors(&bad).unwrap()[6].cash_value_cents, 5_000_000);

        let mut bad = good.clone();
        bad[5].kind = Some("cash".into());
        assert_eq!(field_of(validate_sectors(&bad).unwrap_err()), "prizes[5].type");

        assert_eq!(field_of(validate_sectors(&good[..7]).unwrap_err()), "prizes");
    }
}

/// The campaign and its rules (one per wheel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WheelSettings {
    pub campaign_name: String,
    /// What customers read about the campaign (up to 1000 characters).
    pub description: String,
    /// A picture's address for the campaign's banner (up to 512 characters).
    pub banner_image: String,
    /// The lowest member level that may draw (1–5).
    pub min_level: i64,
    pub cost_points: i64,
    pub pity_enabled: bool,
    pub pity_limit: i64,
    /// Draws per customer per day; 0 = the server default (`DAILY_DRAW_LIMIT`).
    pub daily_limit: i64,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
}

impl WheelSettings {
    pub fn demo() -> WheelSettings {
        WheelSettings {
            campaign_name: "幸运大转盘".into(),
            description: String::new(),
            banner_image: String::new(),
            min_level: 1,
            cost_points: 100,
            pity_enabled: true,
            pity_limit: 10,
            daily_limit: 0,
            starts_at: None,
            ends_at: None,
        }
    }

    pub fn pity(&self) -> Pity {
        Pity { enabled: self.pity_enabled, limit: self.pity_limit }
    }

    /// Whether draws are allowed at `now` (epoch ms).
    pub fn is_open(&self, now: i64) -> bool {
        self.starts_at.is_none_or(|s| now >= s) && self.ends_at.is_none_or(|e| now < e)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        if !(1..=100_000).contains(&self.cost_points) {
            return Err(DomainError::invalid("cost_points", "must be 1-100000"));
        }
        if !(2..=1000).contains(&self.pity_limit) {
            return Err(DomainError::invalid("pity_limit", "must be 2-1000"));
        }
        if !(0..=10_000).contains(&self.daily_limit) {
            return Err(DomainError::invalid("daily_limit", "must be 0-10000 (0 = no limit)"));
        }
        if !(1..=5).contains(&self.min_level) {
            return Err(DomainError::invalid("min_level", "must be 1-5"));
        }
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at) {
            if e <= s {
                return Err(DomainError::invalid("ends_at", "must be after starts_at"));
            }
        }
        Ok(())
    }
}
