//! `/api/admin/lottery`: the wheel's sectors, settings and prize stock. Changes go through the
//! PrizeWheel actor, so live wheels use them from the next spin on; all are audited.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{AdminUser, ApiJson, ApiPath};
use super::lottery::WheelConfig;
use super::AppState;
use crate::actors::prize_wheel::WheelView;
use crate::domain::campaign::CampaignStatus;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::time::now_ms;
use crate::domain::wheel::{validate_sectors, PrizeKind, Sector, SectorInput, WheelSettings};
use crate::domain::DomainError;
use crate::store::audit::AuditEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(prizes, replace_prizes))
        .routes(routes!(settings, update_settings))
        .routes(routes!(add_stock))
}

fn audit(admin: &AdminUser, action: &str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin".into(),
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "wheel".into(),
        target_id,
        before: None,
        after: None,
        at: now_ms(),
    }
}

/// The wheel's settings, as `PUT /lottery/settings` takes them.
#[derive(Debug, Serialize, ToSchema)]
struct LotterySettings {
    campaign_name: String,
    /// Points one spin costs.
    cost_points: i64,
    pity_enabled: bool,
    /// Spins without a win after which the pity prize is given.
    pity_limit: i64,
    /// Spins per customer per local day; 0 = the server's default.
    daily_limit: i64,
    /// Null: no start.
    starts_at: Option<Timestamp>,
    /// Null: no end.
    ends_at: Option<Timestamp>,
}

impl LotterySettings {
    fn of(s: &WheelSettings) -> LotterySettings {
        LotterySettings {
            campaign_name: s.campaign_name.clone(),
            cost_points: s.cost_points,
            pity_enabled: s.pity_enabled,
            pity_limit: s.pity_limit,
            daily_limit: s.daily_limit,
            starts_at: s.starts_at.map(Timestamp),
            ends_at: s.ends_at.map(Timestamp),
        }
    }
}

/// A sector as the admin edits it: every field `PUT /lottery/prizes` takes, plus its id.
#[derive(Debug, Serialize, ToSchema)]
struct AdminPrize {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: PrizeKind,
    value: i64,
    angle: i64,
    #[schema(example = "#FF6B6B")]
    color: String,
    probability: f64,
    is_activity: bool,
    /// Units left to win; null = unlimited (the same number as `stock_left`, under the name PUT takes).
    stock: Option<i64>,
    stock_left: Option<i64>,
    is_pity_prize: bool,
    is_fallback: bool,
    /// Cash value in cents (≤ 5000000).
    cash_value_cents: i64,
}

impl AdminPrize {
    fn of(p: &Sector) -> AdminPrize {
        AdminPrize {
            id: p.id,
            name: p.name.clone(),
            kind: p.kind,
            value: p.value,
            angle: p.angle,
            color: p.color.clone(),
            probability: p.probability,
            is_activity: p.is_activity,
            stock: p.stock_left,
            stock_left: p.stock_left,
            is_pity_prize: p.is_pity_prize,
            is_fallback: p.is_fallback,
            cash_value_cents: p.cash_value_cents,
        }
    }
}

/// The wheel as the admin edits it, with what customers see of it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AdminWheel {
    /// The eight sectors, in angle order.
    prizes: Vec<AdminPrize>,
    settings: LotterySettings,
    config: WheelConfig,
}

impl AdminWheel {
    fn of(view: &WheelView) -> AdminWheel {
        AdminWheel {
            prizes: view.sectors.iter().map(AdminPrize::of).collect(),
            settings: LotterySettings::of(&view.settings),
            config: WheelConfig::of(view),
        }
    }
}

/// The wheel's sectors and settings
///
/// Every field `PUT /lottery/prizes` takes, so what this answers can be edited and sent back.
///
/// Errors: 2004 3004
#[utoipa::path(get, path = "/lottery/prizes", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "The wheel", body = Envelope<AdminWheel>)))]
async fn prizes(State(state): State<AppState>, _admin: AdminUser) -> Answer<AdminWheel> {
    Ok(ok(campaign_prizes(&state, DEFAULT_CAMPAIGN_ID).await?))
}

/// A campaign's wheel as the admin edits it; 3004 for an unknown campaign.
pub(super) async fn campaign_prizes(state: &AppState, campaign_id: i64) -> Result<AdminWheel, ApiError> {
    let view = state.wheels.view(campaign_id).await?.ok_or(DomainError::WheelClosed)?;
    Ok(AdminWheel::of(&view))
}

/// Refuses changes to an ended campaign: its odds, rules and stock are its record.
pub(super) fn still_open(view: &WheelView) -> Result<(), ApiError> {
    if view.status == CampaignStatus::Ended {
        return Err(ApiError::bad("status", "an ended campaign cannot be changed"));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct Replace {
    /// Exactly eight sectors (extra fields such as `id` and `stock_left` are ignored).
    prizes: Option<Vec<SectorInput>>,
}

/// Replace the wheel's sectors
///
/// All eight at once, atomically: angles exactly 0, 45, …, 315, probabilities summing to 1,
/// exactly one pity prize and one fallback. A violation is 1003 naming the field. Live wheels
/// use the new sectors from the next spin on.
///
/// Errors: 1003 1003/413 2004 3004
#[utoipa::path(put, path = "/lottery/prizes", tag = "admin", security(("bearerAuth" = [])),
    request_body = Replace,
    responses((status = 200, description = "The new wheel", body = Envelope<AdminWheel>)))]
async fn replace_prizes(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<Replace>,
) -> Answer<AdminWheel> {
    Ok(ok(replace_campaign_prizes(&state, &admin, DEFAULT_CAMPAIGN_ID, body).await?))
}

/// Replaces a campaign's sectors: through its wheel when it runs (announced to every socket),
/// else in the store (a draft, or a campaign past its window). Audited either way.
pub(super) async fn replace_campaign_prizes(
    state: &AppState,
    admin: &AdminUser,
    campaign_id: i64,
    body: Replace,
) -> Result<AdminWheel, ApiError> {
    let input = body.prizes.ok_or_else(|| ApiError::bad("prizes", "is required"))?;
    let sectors = validate_sectors(&input)?;
    let current = state.wheels.view(campaign_id).await?.ok_or(DomainError::WheelClosed)?;
    still_open(&current)?;
    let mut entry = audit(admin, "wheel.prizes.replace", campaign_id.to_string());
    entry.before = serde_json::to_value(AdminWheel::of(&current).prizes).ok();
    entry.after = Some(json!(sectors
        .iter()
        .map(|s| json!({ "name": s.name, "type": s.kind.as_str(), "value": s.value, "angle": s.angle, "probability": s.probability, "stock": s.stock_left }))
        .collect::<Vec<_>>()));
    match state.wheels.running(campaign_id) {
        Some(wheel) => Ok(AdminWheel::of(&wheel.replace(sectors, entry).await?)),
        None => {
            let saved = state.store.replace_sectors(campaign_id, &sectors, &entry).await?;
            Ok(AdminWheel::of(&WheelView { sectors: saved, ..current }))
        }
    }
}

/// The wheel's settings
///
/// Errors: 2004 3004
#[utoipa::path(get, path = "/lottery/settings", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "The settings", body = Envelope<LotterySettings>)))]
async fn settings(State(state): State<AppState>, _admin: AdminUser) -> Answer<LotterySettings> {
    Ok(ok(LotterySettings::of(&state.wheels.default_wheel().view().await?.settings)))
}

/// A time as ISO 8601 text or epoch milliseconds.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum TimeInput {
    Millis(i64),
    #[schema(example = "2026-12-01T00:00:00Z")]
    Text(String),
}

/// The settings to change; an absent field keeps its value.
#[derive(Deserialize, ToSchema)]
struct SettingsPatch {
    /// 1–64 characters.
    campaign_name: Option<String>,
    /// 1–100000.
    cost_points: Option<i64>,
    pity_enabled: Option<bool>,
    /// 2–1000.
    pity_limit: Option<i64>,
    /// 0–10000; 0 = the server's default.
    daily_limit: Option<i64>,
    /// `null` clears it (no start).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<TimeInput>)]
    starts_at: Option<Option<TimeInput>>,
    /// After `starts_at`; `null` clears it (no end).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<TimeInput>)]
    ends_at: Option<Option<TimeInput>>,
}

/// Tells "absent" (keep) from `null` (clear) for optional times.
pub(super) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

pub(super) fn parse_time(field: &str, t: Option<TimeInput>) -> Result<Option<i64>, ApiError> {
    match t {
        None => Ok(None),
        Some(TimeInput::Millis(ms)) => Ok(Some(ms)),
        Some(TimeInput::Text(s)) => {
            chrono::DateTime::parse_from_rfc3339(s.trim()).map(|d| Some(d.timestamp_millis())).map_err(|_| {
                ApiError::bad(field, "must be an ISO 8601 time like 2026-12-01T00:00:00Z, epoch milliseconds or null")
            })
        }
    }
}

/// Change the wheel's settings
///
/// Only the fields sent change. Answers the whole wheel, as `GET /lottery/prizes` does.
///
/// Errors: 1003 1003/413 2004 3004
#[utoipa::path(put, path = "/lottery/settings", tag = "admin", security(("bearerAuth" = [])),
    request_body = SettingsPatch,
    responses((status = 200, description = "The wheel with the new settings", body = Envelope<AdminWheel>)))]
async fn update_settings(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<SettingsPatch>,
) -> Answer<AdminWheel> {
    let wheel = state.wheels.default_wheel();
    let current = wheel.view().await?.settings;
    let mut next = current.clone();
    if let Some(name) = body.campaign_name {
        next.campaign_name = super::extract::clean_text("campaign_name", &name, 1, 64)?;
    }
    if let Some(v) = body.cost_points {
        next.cost_points = v;
    }
    if let Some(v) = body.pity_enabled {
        next.pity_enabled = v;
    }
    if let Some(v) = body.pity_limit {
        next.pity_limit = v;
    }
    if let Some(v) = body.daily_limit {
        next.daily_limit = v;
    }
    if let Some(t) = body.starts_at {
        next.starts_at = parse_time("starts_at", t)?;
    }
    if let Some(t) = body.ends_at {
        next.ends_at = parse_time("ends_at", t)?;
    }
    next.validate()?;
    let mut entry = audit(&admin, "wheel.settings.update", "settings".into());
    entry.before = serde_json::to_value(LotterySettings::of(&current)).ok();
    entry.after = serde_json::to_value(LotterySettings::of(&next)).ok();
    let view = wheel.update_settings(next, entry).await?;
    Ok(ok(AdminWheel::of(&view)))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct AddStock {
    /// Units to add, 1–1000000.
    add: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PrizeRestocked {
    prize_id: i64,
    /// Units left to win after the addition.
    stock_left: i64,
}

/// Add stock to a prize
///
/// Only for a sector with limited stock; customers get `prize_stock_update`.
///
/// Errors: 1003 1003/413 2004 3004 9004
#[utoipa::path(post, path = "/lottery/prizes/{id}/stock", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The sector (prize)")),
    request_body = AddStock,
    responses((status = 200, description = "The new stock", body = Envelope<PrizeRestocked>)))]
async fn add_stock(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(prize_id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddStock>,
) -> Answer<PrizeRestocked> {
    Ok(ok(restock(&state, &admin, DEFAULT_CAMPAIGN_ID, prize_id, body).await?))
}

/// Adds units to one of a campaign's limited prizes: through its wheel when it runs (sockets
/// get `prize_stock_update`), else in the store. 9004 for a prize not on the campaign's wheel.
pub(super) async fn restock(
    state: &AppState,
    admin: &AdminUser,
    campaign_id: i64,
    prize_id: i64,
    body: AddStock,
) -> Result<PrizeRestocked, ApiError> {
    let add = body.add.ok_or_else(|| ApiError::bad("add", "is required"))?;
    if !(1..=1_000_000).contains(&add) {
        return Err(ApiError::bad("add", "must be 1-1000000"));
    }
    let entry = audit(admin, "wheel.prize.restock", prize_id.to_string());
    let stock_left = match state.wheels.running(campaign_id) {
        Some(wheel) => wheel.add_stock(prize_id, add, entry).await?,
        None => {
            let view = state.wheels.view(campaign_id).await?.ok_or(DomainError::WheelClosed)?;
            still_open(&view)?;
            let sector = view.sectors.iter().find(|s| s.id == prize_id).ok_or(DomainError::NotFound("奖品".into()))?;
            if sector.stock_left.is_none() {
                return Err(ApiError::bad("prize_id", "this prize has unlimited stock"));
            }
            let mut entry = entry;
            entry.before = Some(json!({ "stock_left": sector.stock_left }));
            entry.after = Some(json!({ "add": add }));
            state
                .store
                .add_prize_stock(campaign_id, prize_id, add, &entry)
                .await?
                .ok_or(DomainError::NotFound("奖品".into()))?
        }
    };
    Ok(PrizeRestocked { prize_id, stock_left })
}
