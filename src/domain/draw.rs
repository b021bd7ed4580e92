//! How many spins one draw request buys: the four batch sizes the wheel sells (single, triple,
//! quintuple, decade), named or counted, and the campaign a request without one plays.

use serde::Serialize;

use super::DomainError;

/// The wheel there is today. Campaigns arrive later (API.md, release 2), and campaign 1 stays
/// the one every request without a `campaign_id` plays.
pub const DEFAULT_CAMPAIGN_ID: i64 = 1;

/// A batch size, as `draw_type` names it; the whole batch is paid for and committed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrawType {
    Single,
    Triple,
    Quintuple,
    Decade,
}

impl DrawType {
    pub const ALL: [DrawType; 4] = [DrawType::Single, DrawType::Triple, DrawType::Quintuple, DrawType::Decade];

    pub fn as_str(self) -> &'static str {
        match self {
            DrawType::Single => "single",
            DrawType::Triple => "triple",
            DrawType::Quintuple => "quintuple",
            DrawType::Decade => "decade",
        }
    }

    /// Spins in the batch.
    pub fn count(self) -> usize {
        match self {
            DrawType::Single => 1,
            DrawType::Triple => 3,
            DrawType::Quintuple => 5,
            DrawType::Decade => 10,
        }
    }

    pub fn parse(name: &str) -> Option<DrawType> {
        DrawType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn of_count(count: i64) -> Option<DrawType> {
        DrawType::ALL.into_iter().find(|t| t.count() as i64 == count)
    }

    /// The batch a request asks for: by `draw_type`, by `count`, or both when they agree; a
    /// single spin when it says neither. An unknown name or size is refused, never rounded.
    pub fn requested(draw_type: Option<&str>, count: Option<i64>) -> Result<DrawType, DomainError> {
        let by_type = draw_type
            .map(|t| {
                DrawType::parse(t)
                    .ok_or_else(|| DomainError::invalid("draw_type", "must be single, triple, quintuple or decade"))
            })
            .transpose()?;
        let by_count = count
            .map(|c| DrawType::of_count(c).ok_or_else(|| DomainError::invalid("count", "must be 1, 3, 5 or 10")))
            .transpose()?;
        match (by_type, by_count) {
            (Some(a), Some(b)) if a != b => Err(DomainError::invalid("count", "does not match draw_type")),
            (Some(t), _) | (None, Some(t)) => Ok(t),
            (None, None) => Ok(DrawType::Single),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: DomainError) -> String {
        match e {
            DomainError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn the_four_batches() {
        let counts: Vec<(&str, usize)> = DrawType::ALL.iter().map(|t| (t.as_str(), t.count())).collect();
        assert_eq!(counts, [("single", 1), ("triple", 3), ("quintuple", 5), ("decade", 10)]);
        for t in DrawType::ALL {
            assert_eq!(DrawType::parse(t.as_str()), Some(t));
            assert_eq!(DrawType::of_count(t.count() as i64), Some(t));
            assert_eq!(serde_json::to_value(t).ok(), Some(serde_json::json!(t.as_str())));
        }
    }

    #[test]
    fn a_request_names_or_counts_its_batch() {
        assert_eq!(DrawType::requested(None, None), Ok(DrawType::Single));
        assert_eq!(DrawType::requested(Some("decade"), None), Ok(DrawType::Decade));
        assert_eq!(DrawType::requested(None, Some(5)), Ok(DrawType::Quintuple));
        assert_eq!(DrawType::requested(Some("triple"), Some(3)), Ok(DrawType::Triple));
    }

    #[test]
    fn unknown_or_contradictory_batches_are_refused_naming_the_field() {
        assert_eq!(field(DrawType::requested(Some("mega"), None).unwrap_err()), "draw_type");
        assert_eq!(field(DrawType::requested(Some("Single"), None).unwrap_err()), "draw_type");
        assert_eq!(field(DrawType::requested(None, Some(2)).unwrap_err()), "count");
        assert_eq!(field(DrawType::requested(None, Some(0)).unwrap_err()), "count");
        assert_eq!(field(DrawType::requested(Some("single"), Some(10)).unwrap_err()), "count");
    }
}
