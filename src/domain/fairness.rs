//! Provably fair draws (commit–reveal, API.md "Campaigns and fair draws"): the server seed and
//! its published commitment, the seed's period, and the random number of one draw.
//!
//! A draw's number is the first 8 bytes, big-endian, of HMAC-SHA256(key = the 32 seed bytes,
//! message = "{campaign_id}:{user_id}:{client_seed}:{nonce}") divided by 2^64; the prize is the
//! sector whose cumulative interval holds it ([`crate::domain::wheel::SamplingTable`]). Anyone
//! holding the revealed seed can recompute every draw of its period; the commitment,
//! hex(SHA-256(seed)), is shown before the draws so the seed cannot be chosen afterwards.
//!
//! The hot path ([`FairSampler::value`]) copies a keyed HMAC state kept per seed and writes the
//! decimal numbers through a stack buffer: no allocation per draw.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::loyalty::BusinessTz;
use super::wheel::{SamplingTable, Sector};
use super::DomainError;

pub const SEED_BYTES: usize = 32;
/// The longest `client_seed` a customer may send.
pub const CLIENT_SEED_MAX: usize = 64;

/// A campaign's secret for one period: 32 random bytes, revealed when the period ends.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSeed([u8; SEED_BYTES]);

impl std::fmt::Debug for ServerSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A seed in a log line before its period ends would let a reader predict draws.
        f.write_str("ServerSeed(…)")
    }
}

impl ServerSeed {
    /// 32 bytes from `rng`, which must be a cryptographic generator outside tests.
    pub fn generate(rng: &mut impl rand::Rng) -> ServerSeed {
        let mut bytes = [0u8; SEED_BYTES];
        rng.fill(&mut bytes);
        ServerSeed(bytes)
    }

    pub fn from_bytes(bytes: [u8; SEED_BYTES]) -> ServerSeed {
        ServerSeed(bytes)
    }

    /// The seed as stored and as revealed: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<ServerSeed> {
        let mut bytes = [0u8; SEED_BYTES];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(ServerSeed(bytes))
    }

    /// hex(SHA-256(the 32 seed bytes)), published before any draw uses the seed.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    pub fn sampler(&self) -> FairSampler {
        FairSampler { keyed: <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length") }
    }
}

/// Whether `seed_hex` is the seed behind `commitment` (what an auditor checks once it is revealed).
pub fn commitment_matches(seed_hex: &str, commitment: &str) -> bool {
    ServerSeed::from_hex(seed_hex).is_some_and(|s| s.commitment() == commitment)
}

/// The seed's HMAC key schedule, computed once per seed; each draw works on a copy.
#[derive(Clone)]
pub struct FairSampler {
    keyed: Hmac<Sha256>,
}

/// What the customer mixes in: their own string, or (by default) their user id in decimal.
#[derive(Debug, Clone, Copy)]
pub enum ClientSeed<'a> {
    UserId,
    Given(&'a str),
}

impl FairSampler {
    /// The draw's random number in [0, 1] (1 only when the 8 bytes round up to 2^64).
    pub fn value(&self, campaign_id: i64, user_id: i64, client_seed: ClientSeed<'_>, nonce: i64) -> f64 {
        let mut mac = self.keyed.clone();
        let mut buf = [0u8; 20];
        mac.update(decimal(campaign_id, &mut buf));
        mac.update(b":");
        mac.update(decimal(user_id, &mut buf));
        mac.update(b":");
        match client_seed {
            ClientSeed::UserId => mac.update(decimal(user_id, &mut buf)),
            ClientSeed::Given(s) => mac.update(s.as_bytes()),
        }
        mac.update(b":");
        mac.update(decimal(nonce, &mut buf));
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // u64 → f64 rounds to nearest, and dividing by a power of two is exact: the same number
        // any language's correctly rounded `int / 2**64` gives.
        u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0
    }
}

/// `n` in decimal, written into `buf` (an i64 needs at most 20 bytes with its sign).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// A customer's `client_seed`: 1–64 printable ASCII characters (1003 naming `client_seed`).
pub fn validate_client_seed(s: &str) -> Result<(), DomainError> {
    if s.is_empty() || s.len() > CLIENT_SEED_MAX || !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(DomainError::invalid("client_seed", "must be 1-64 printable ASCII characters"));
    }
    Ok(())
}

/// When a seed is used: from its start to the next 00:00 in the business time zone, or to the
/// campaign's end when that comes first. A seed is revealed once its period is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedPeriod {
    pub starts_at: i64,
    pub ends_at: i64,
}

impl SeedPeriod {
    /// The period a seed created at `now` covers.
    pub fn starting(now: i64, campaign_ends_at: Option<i64>, tz: &BusinessTz) -> SeedPeriod {
        let midnight = tz.day_start(tz.day(now) + 1);
        let ends_at = campaign_ends_at.filter(|e| *e > now).map_or(midnight, |e| e.min(midnight));
        SeedPeriod { starts_at: now, ends_at }
    }

    pub fn covers(&self, now: i64) -> bool {
        now >= self.starts_at && now < self.ends_at
    }

    /// Past periods show their seed; the current one only its commitment.
    pub fn is_revealed(&self, now: i64) -> bool {
        now >= self.ends_at
    }
}

/// The sectors out of stock when a draw was made, one bit per sector in angle order. Stored
/// with the draw so that its intervals can be rebuilt later.
pub fn sold_out_mask(sectors: &[Sector]) -> i64 {
    sectors.iter().enumerate().filter(|(_, s)| !s.available()).fold(0, |m, (i, _)| m | (1 << i))
}

/// One sector's share of [0, 1) as a draw saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub prize_id: i64,
    pub from: f64,
    pub to: f64,
}

/// The cumulative intervals of `sectors` (angle order) with the sectors in `mask` sold out:
/// what a verifier needs to find the prize of a random number.
pub fn intervals(sectors: &[Sector], mask: i64) -> Vec<Interval> {
    let as_drawn: Vec<Sector> = sectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            if mask & (1 << i) != 0 {
                s.stock_left = Some(0);
            }
            s
        })
        .collect();
    let table = SamplingTable::build(&as_drawn);
    as_drawn
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (from, to) = table.interval(i);
            Interval { prize_id: s.id, from, to }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::wheel::sampling_checks::{chi_square_of, shapes, CHI2_7_P001};
    use crate::domain::wheel::{demo_sectors, spin, Pity};

    fn seed(n: u8) -> ServerSeed {
        ServerSeed::from_bytes([n; SEED_BYTES])
    }

    #[test]
    fn decimal_writes_what_format_writes() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 42, 1_000_000, i64::MAX, i64::MIN, -5] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn the_value_is_the_hmac_of_the_spelled_out_message() {
        let s = seed(7);
        let message = "3:42:lucky:5";
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(message.as_bytes());
        let d = mac.finalize().into_bytes();
        let expected = u64::from_be_bytes(d[..8].try_into().unwrap()) as f64 / 2f64.powi(64);
        assert_eq!(s.sampler().value(3, 42, ClientSeed::Given("lucky"), 5), expected);
        // The default client seed is the user id in decimal.
        assert_eq!(
            s.sampler().value(3, 42, ClientSeed::UserId, 5),
            s.sampler().value(3, 42, ClientSeed::Given("42"), 5)
        );
        assert_ne!(s.sampler().value(3, 42, ClientSeed::UserId, 5), s.sampler().value(3, 42, ClientSeed::UserId, 6));
    }

    /// The worked example of docs/fairness.md, recomputed: if this fails, the document lies.
    #[test]
    fn the_worked_example_in_the_fairness_guide_holds() {
        let seed_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let s = ServerSeed::from_hex(seed_hex).unwrap();
        assert_eq!(s.to_hex(), seed_hex);
        assert_eq!(s.commitment(), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
        assert!(commitment_matches(seed_hex, &s.commitment()));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&hex::decode(seed_hex).unwrap()).unwrap();
        mac.update(b"1:1001:lucky-dragon:3");
        let hex_digest = hex::encode(mac.finalize().into_bytes());
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fairness.md")).unwrap();
        assert!(doc.contains(&hex_digest), "docs/fairness.md must show the HMAC {hex_digest}");
        let first8 = &hex_digest[..16];
        let value = u64::from_str_radix(first8, 16).unwrap() as f64 / 2f64.powi(64);
        assert_eq!(s.sampler().value(1, 1001, ClientSeed::Given("lucky-dragon"), 3), value);
        assert!(doc.contains(&format!("{value:.6}")), "docs/fairness.md must show the value {value:.6}");
        let mut sectors = demo_sectors();
        for (i, s) in sectors.iter_mut().enumerate() {
            s.id = i as i64 + 1;
        }
        let table = SamplingTable::build(&sectors);
        let won = &sectors[table.sample(value)];
        assert!(doc.contains(&format!("**{}**", won.name)), "docs/fairness.md must name the prize {}", won.name);
    }

    #[test]
    fn a_commitment_binds_its_seed_only() {
        assert_eq!(seed(1).commitment().len(), 64);
        assert!(commitment_matches(&seed(1).to_hex(), &seed(1).commitment()));
        assert!(!commitment_matches(&seed(2).to_hex(), &seed(1).commitment()));
        assert!(!commitment_matches("not hex", &seed(1).commitment()));
        let fresh = ServerSeed::generate(&mut rand::rng());
        assert_ne!(fresh, ServerSeed::generate(&mut rand::rng()));
        assert_eq!(ServerSeed::from_hex(&fresh.to_hex()), Some(fresh));
        assert!(!format!("{:?}", seed(9)).contains("0909"));
    }

    #[test]
    fn client_seeds_are_short_printable_ascii() {
        assert!(validate_client_seed("lucky dragon 8!").is_ok());
        assert!(validate_client_seed(&"x".repeat(64)).is_ok());
        for bad in ["", "福", "tab\there", &"x".repeat(65)] {
            assert!(validate_client_seed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn periods_rotate_at_midnight_in_the_business_time_zone_and_at_the_campaign_end() {
        // 2026-12-01T15:59:59.999Z is 23:59:59.999 in Shanghai: the period ends a millisecond later.
        let before_midnight = 1_764_604_799_999;
        let p = SeedPeriod::starting(before_midnight, None, &BusinessTz::default());
        assert_eq!(p.ends_at, before_midnight + 1);
        assert!(p.covers(before_midnight));
        assert!(!p.covers(before_midnight + 1));
        assert!(!p.is_revealed(before_midnight));
        assert!(p.is_revealed(before_midnight + 1));
        // Just after midnight the next period runs a whole day.
        let next = SeedPeriod::starting(before_midnight + 1, None, &BusinessTz::default());
        assert_eq!(next.ends_at - next.starts_at, 86_400_000);
        // With the business day in UTC the same moment's period runs to UTC midnight.
        let utc = BusinessTz::parse("UTC").expect("UTC");
        assert_eq!(SeedPeriod::starting(before_midnight, None, &utc).ends_at, before_midnight + 1 + 8 * 3_600_000);
        // A campaign ending at 18:00 local ends its last period then.
        let noon = before_midnight + 1 - 12 * 3_600_000;
        let six = noon + 6 * 3_600_000;
        assert_eq!(SeedPeriod::starting(noon, Some(six), &BusinessTz::default()).ends_at, six);
        // An end already past does not shorten anything.
        assert_eq!(SeedPeriod::starting(noon, Some(noon - 1), &BusinessTz::default()).ends_at, before_midnight + 1);
    }

    #[test]
    fn intervals_move_sold_out_mass_to_the_fallback() {
        let mut sectors = demo_sectors();
        for (i, s) in sectors.iter_mut().enumerate() {
            s.id = 10 + i as i64;
        }
        let all = intervals(&sectors, 0);
        assert_eq!(all.len(), 8);
        assert_eq!(all[0].from, 0.0);
        assert_eq!(all[7].to, 1.0);
        assert!(all.windows(2).all(|w| w[0].to == w[1].from));
        assert_eq!(sold_out_mask(&sectors), 0);
        sectors[6].stock_left = Some(0);
        let mask = sold_out_mask(&sectors);
        assert_eq!(mask, 1 << 6);
        let sold_out = intervals(&sectors, mask);
        assert_eq!(sold_out[6].from, sold_out[6].to);
        assert!((sold_out[7].to - sold_out[7].from - 0.405).abs() < 1e-12);
    }

    fn chi_square_of_hmac(sectors: &[Sector], expected_p: &[f64], n: i64, seed_byte: u8) -> f64 {
        let sampler = seed(seed_byte).sampler();
        let table = SamplingTable::build(sectors);
        let mut counts = [0usize; 8];
        for nonce in 1..=n {
            // A thousand customers, a thousand draws each, as a busy campaign would see them.
            let user = 1 + nonce % 1000;
            counts[table.sample(sampler.value(1, user, ClientSeed::UserId, 1 + nonce / 1000))] += 1;
        }
        chi_square_of(&counts, expected_p, n as f64)
    }

    #[test]
    fn hmac_draws_match_the_configured_distribution_over_a_million_draws() {
        for (i, (name, sectors)) in shapes().into_iter().enumerate() {
            let p: Vec<f64> = sectors.iter().map(|s| s.probability).collect();
            let chi = chi_square_of_hmac(&sectors, &p, 1_000_000, 11 + i as u8);
            assert!(chi < CHI2_7_P001, "{name}: χ² = {chi}");
        }
    }

    #[test]
    fn the_hmac_chi_square_check_rejects_a_wrong_distribution() {
        let wrong = [0.19, 0.16, 0.10, 0.08, 0.05, 0.015, 0.005, 0.40];
        assert!(chi_square_of_hmac(&demo_sectors(), &wrong, 1_000_000, 3) > CHI2_7_P001);
    }

    #[test]
    fn pity_still_overrides_the_fair_number() {
        let sectors = demo_sectors();
        let table = SamplingTable::build(&sectors);
        let u = seed(5).sampler().value(1, 1, ClientSeed::UserId, 10);
        let s = spin(&sectors, &table, Pity { enabled: true, limit: 10 }, 9, u);
        assert!(s.is_pity);
        assert!(sectors[s.sector].is_pity_prize);
    }
}
