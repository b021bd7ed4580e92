//! Mainland mobile numbers, parsed once at the edge.

use std::fmt;

/// A phone number that matches `^1[3-9]\d{9}$`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Option<Phone> {
        let b = raw.as_bytes();
        let ok = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
        ok.then(|| Phone(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****8000`: what clients and logs may show.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }

    /// `用户8000`: the nickname a new customer starts with.
    pub fn default_nickname(&self) -> String {
        format!("用户{}", &self.0[7..])
    }
}

/// Masks any stored phone string; tolerant of malformed values so it can never panic.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "****".to_string()
    }
}

// Debug deliberately masks, so a phone number that ends up in a log line is never complete.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mainland_mobiles() {
        for ok in ["13800138000", "19912345678", "15000000000"] {
            assert!(Phone::parse(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "12800138000", "1380013800", "138001380000", "1380013800a", "+8613800138000", "１3800138000"] {
            assert!(Phone::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn masks_and_names() {
        let p = Phone::parse("13800138000").unwrap();
        assert_eq!(p.masked(), "138****8000");
        assert_eq!(p.default_nickname(), "用户8000");
        assert_eq!(format!("{p:?}"), "Phone(138****8000)");
        assert_eq!(mask_phone("bad"), "****");
    }
}
