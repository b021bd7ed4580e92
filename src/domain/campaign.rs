//! A campaign's lifecycle (API.md "Campaigns"): draft → active ⇄ paused → ended, ended final.
//! Who may draw (`min_level` against the customer's member level) is the wheel's check.

use serde::Serialize;

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Being prepared; customers never see it.
    Draft,
    /// Running (inside its window, draws are accepted).
    Active,
    /// Stopped for a while (the kitchen ran out); draws are refused with 3004.
    Paused,
    /// Over for good; its last seed is revealed.
    Ended,
}

impl CampaignStatus {
    pub const ALL: [CampaignStatus; 4] =
        [CampaignStatus::Draft, CampaignStatus::Active, CampaignStatus::Paused, CampaignStatus::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<CampaignStatus> {
        CampaignStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether an admin may move a campaign from `self` to `to`: draft → active, active ⇄
    /// paused, anything but ended → ended. Anything else (ended is final) is 1003 naming `status`.
    pub fn transition(self, to: CampaignStatus) -> Result<CampaignStatus, DomainError> {
        use CampaignStatus::*;
        match (self, to) {
            (Draft, Active) | (Active, Paused) | (Paused, Active) | (Draft | Active | Paused, Ended) => Ok(to),
            _ => Err(DomainError::invalid(
                "status",
                format!("a {} campaign cannot become {}", self.as_str(), to.as_str()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignStatus::*;

    #[test]
    fn statuses_are_spelled_one_way() {
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        assert_eq!(CampaignStatus::parse("Active"), None);
    }

    #[test]
    fn the_lifecycle_allows_exactly_its_transitions() {
        let allowed =
            [(Draft, Active), (Active, Paused), (Paused, Active), (Draft, Ended), (Active, Ended), (Paused, Ended)];
        for from in CampaignStatus::ALL {
            for to in CampaignStatus::ALL {
                let ok = allowed.contains(&(from, to));
                match from.transition(to) {
                    Ok(s) => assert!(ok && s == to, "{from:?} → {to:?} should be refused"),
                    Err(DomainError::InvalidInput { field, .. }) => {
                        assert!(!ok, "{from:?} → {to:?} should be allowed");
                        assert_eq!(field, "status");
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    }
}
