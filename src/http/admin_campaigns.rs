//! `/api/admin/campaigns`: campaigns as the admin runs them (API.md "Campaigns"): the list with
//! drafts, a new campaign (a draft), its rules, prizes and stock, its lifecycle and its
//! statistics. A campaign with a running PrizeWheel is changed through it (it owns whether
//! and how the campaign draws); a draft or an ended one is changed in the store. Every change
//! is audited; status changes, and rule or odds changes of a running campaign, are pushed as
//! `campaign_update`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin_lottery::{
    campaign_prizes, parse_time, replace_campaign_prizes, restock, still_open, AddStock, AdminWheel, PrizeRestocked,
    Replace, TimeInput,
};
use super::campaigns::CampaignInfo;
use super::envelope::{ok, Answer, Envelope};
use super::error::ApiError;
use super::extract::{clean_text, AdminUser, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::domain::campaign::CampaignStatus;
use crate::domain::time::now_ms;
use crate::domain::wheel::WheelSettings;
use crate::domain::DomainError;
use crate::notify::event::CampaignUpdate;
use crate::notify::ServerEvent;
use crate::store::audit::AuditEntry;
use crate::store::campaigns::CampaignRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(set_status))
        .routes(routes!(prizes, replace_prizes))
        .routes(routes!(add_stock))
        .routes(routes!(stats))
}

fn audit(admin: &AdminUser, action: &str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin".into(),
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "campaign".into(),
        target_id,
        before: None,
        after: None,
        at: now_ms(),
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
struct AdminCampaigns {
    campaigns: Vec<CampaignInfo>,
}

/// Campaigns, drafts included
///
/// Errors: 1003 2004
#[utoipa::path(get, path = "/campaigns", tag = "admin", operation_id = "admin_campaigns", security(("bearerAuth" = [])),
    params(("status" = Option<String>, Query, description = "draft, active, paused or ended")),
    responses((status = 200, description = "Every campaign, by id", body = Envelope<AdminCampaigns>)))]
async fn list(State(state): State<AppState>, _admin: AdminUser, q: ApiQuery) -> Answer<AdminCampaigns> {
    let status = q.one_of("status", &["draft", "active", "paused", "ended"])?;
    let rows = state.store.campaigns(status.as_slice()).await?;
    Ok(ok(AdminCampaigns { campaigns: rows.iter().map(CampaignInfo::of).collect() }))
}

/// Create a campaign
///
/// Answers the campaign, created as a draft.
///
/// Errors: 1003 1003/413 2004
#[utoipa::path(post, path = "/campaigns", tag = "admin", security(("bearerAuth" = [])),
    request_body = CampaignPatch,
    responses((status = 200, description = "The new draft", body = Envelope<CampaignInfo>)))]
async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<CampaignPatch>,
) -> Answer<CampaignInfo> {
    if body.name.is_none() {
        return Err(ApiError::bad("name", "is required"));
    }
    let defaults = WheelSettings { campaign_name: String::new(), ..WheelSettings::demo() };
    let rules = body.apply_to(&defaults)?;
    let mut row = CampaignRow {
        id: 0,
        name: rules.campaign_name.clone(),
        description: rules.description.clone(),
        status: CampaignStatus::Draft.as_str().into(),
        starts_at: rules.starts_at,
        ends_at: rules.ends_at,
        cost_points: rules.cost_points,
        daily_limit: rules.daily_limit,
        min_level: rules.min_level,
        pity_enabled: rules.pity_enabled,
        pity_limit: rules.pity_limit,
        banner_image: rules.banner_image.clone(),
    };
    let mut entry = audit(&admin, "campaign.create", String::new());
    entry.after = Some(json!({ "name": row.name, "cost_points": row.cost_points, "min_level": row.min_level }));
    row.id = state.store.create_campaign(&row, &entry).await?;
    Ok(ok(CampaignInfo::of(&row)))
}

#[derive(Deserialize, ToSchema)]
struct StatusChange {
    /// `active`, `paused` or `ended`.
    #[schema(value_type = Option<CampaignStatus>)]
    status: Option<String>,
}

/// Move a campaign along its lifecycle
///
/// draft → active, active ⇄ paused, any → ended; ended is final (any other change is 1003
/// naming `status`). Pushed to every socket as `campaign_update`; ending a campaign reveals
/// its last seed.
///
/// Errors: 1003 1003/413 2004 3004
#[utoipa::path(post, path = "/campaigns/{id}/status", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    request_body = StatusChange,
    responses((status = 200, description = "The campaign after the change", body = Envelope<CampaignInfo>)))]
async fn set_status(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StatusChange>,
) -> Answer<CampaignInfo> {
    let to = body
        .status
        .as_deref()
        .and_then(CampaignStatus::parse)
        .ok_or_else(|| ApiError::bad("status", "must be draft, active, paused or ended"))?;
    let row = state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
    let entry = audit(&admin, "campaign.status", id.to_string());
    match state.wheels.running(id) {
        // The wheel owns whether its campaign draws: it records, announces and (when ending)
        // reveals its seed.
        Some(wheel) => {
            wheel.set_status(to, entry).await?;
        }
        None => {
            let from = CampaignStatus::parse(&row.status).unwrap_or(CampaignStatus::Draft);
            let to = from.transition(to)?;
            let mut entry = entry;
            entry.before = Some(json!({ "status": from.as_str() }));
            entry.after = Some(json!({ "status": to.as_str() }));
            if !state.store.set_campaign_status(id, from.as_str(), to.as_str(), &entry).await? {
                // Moved by someone else meanwhile: tell what it is now.
                let now = state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
                CampaignStatus::parse(&now.status).unwrap_or(CampaignStatus::Draft).transition(to)?;
                return Err(ApiError::bad("status", "the campaign's status changed meanwhile; try again"));
            }
            state.hub.broadcast_latest(ServerEvent::CampaignUpdate(CampaignUpdate { campaign_id: id, status: to }));
        }
    }
    let row = state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
    follow(&state, &row).await;
    Ok(ok(CampaignInfo::of(&row)))
}

/// Starts or stops the campaign's wheel after a change. A wheel that cannot start leaves the
/// campaign undrawable (3004) until the next change or restart; the change itself stands.
async fn follow(state: &AppState, row: &CampaignRow) {
    if let Err(e) = state.wheels.follow(row).await {
        tracing::error!(error = %e, campaign_id = row.id, "could not start or stop the campaign's wheel");
    }
}

/// A campaign's rules: all of them for a new campaign (only `name` is required; the others
/// default to 100 points a draw, pity after 10, no daily limit, level 1, no window), or the
/// ones to change (an absent field keeps its value).
#[derive(Deserialize, ToSchema)]
struct CampaignPatch {
    /// 1–64 characters.
    name: Option<String>,
    /// Up to 1000 characters.
    description: Option<String>,
    /// `null` clears it (no start).
    #[serde(default, with = "super::admin_lottery::double_option")]
    #[schema(value_type = Option<TimeInput>)]
    starts_at: Option<Option<TimeInput>>,
    /// After `starts_at`; `null` clears it (no end).
    #[serde(default, with = "super::admin_lottery::double_option")]
    #[schema(value_type = Option<TimeInput>)]
    ends_at: Option<Option<TimeInput>>,
    /// 1–100000.
    cost_points: Option<i64>,
    /// 0–10000; 0 = the server's default.
    daily_limit: Option<i64>,
    /// 1–5.
    min_level: Option<i64>,
    pity_enabled: Option<bool>,
    /// 2–1000.
    pity_limit: Option<i64>,
    /// Up to 512 characters.
    banner_image: Option<String>,
}

impl CampaignPatch {
    /// `current` with the fields sent, checked by the wheel's own rules (1003 naming the field).
    fn apply_to(self, current: &WheelSettings) -> Result<WheelSettings, ApiError> {
        let mut next = current.clone();
        if let Some(name) = self.name {
            next.campaign_name = clean_text("name", &name, 1, 64)?;
        }
        if let Some(text) = self.description {
            next.description = clean_text("description", &text, 0, 1000)?;
        }
        if let Some(banner) = self.banner_image {
            next.banner_image = clean_text("banner_image", &banner, 0, 512)?;
        }
        if let Some(t) = self.starts_at {
            next.starts_at = parse_time("starts_at", t)?;
        }
        if let Some(t) = self.ends_at {
            next.ends_at = parse_time("ends_at", t)?;
        }
        next.cost_points = self.cost_points.unwrap_or(next.cost_points);
        next.daily_limit = self.daily_limit.unwrap_or(next.daily_limit);
        next.min_level = self.min_level.unwrap_or(next.min_level);
        next.pity_enabled = self.pity_enabled.unwrap_or(next.pity_enabled);
        next.pity_limit = self.pity_limit.unwrap_or(next.pity_limit);
        next.validate()?;
        Ok(next)
    }
}

/// Change a campaign
///
/// Only the fields sent change; answers the campaign. A running campaign's new rules apply
/// from the next draw, end its seed period early (revealing the seed) and are pushed as
/// `campaign_update`. An ended campaign cannot change (1003 naming `status`).
///
/// Errors: 1003 1003/413 2004 3004
#[utoipa::path(put, path = "/campaigns/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    request_body = CampaignPatch,
    responses((status = 200, description = "The campaign after the change", body = Envelope<CampaignInfo>)))]
async fn update(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CampaignPatch>,
) -> Answer<CampaignInfo> {
    let current = state.wheels.view(id).await?.ok_or(DomainError::WheelClosed)?;
    still_open(&current)?;
    let before = current.settings;
    let next = body.apply_to(&before)?;
    let mut entry = audit(&admin, "campaign.update", id.to_string());
    entry.before = Some(rules_json(&before));
    entry.after = Some(rules_json(&next));
    match state.wheels.running(id) {
        Some(wheel) => {
            wheel.update_settings(next, entry).await?;
        }
        None => state.store.save_wheel_settings(id, &next, &entry).await?,
    }
    let row = state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
    // A window moved into the future may bring a stopped wheel back.
    follow(&state, &row).await;
    Ok(ok(CampaignInfo::of(&row)))
}

fn rules_json(s: &WheelSettings) -> serde_json::Value {
    json!({
        "name": s.campaign_name, "description": s.description, "banner_image": s.banner_image,
        "starts_at": s.starts_at, "ends_at": s.ends_at, "cost_points": s.cost_points,
        "daily_limit": s.daily_limit, "min_level": s.min_level, "pity_enabled": s.pity_enabled,
        "pity_limit": s.pity_limit,
    })
}

/// A campaign's wheel
///
/// The shape of `GET /api/admin/lottery/prizes`: every field `PUT` takes, so what this answers
/// can be edited and sent back.
///
/// Errors: 1003 2004 3004
#[utoipa::path(get, path = "/campaigns/{id}/prizes", tag = "admin", operation_id = "admin_campaign_prizes",
    security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    responses((status = 200, description = "The wheel", body = Envelope<AdminWheel>)))]
async fn prizes(State(state): State<AppState>, _admin: AdminUser, ApiPath(id): ApiPath<i64>) -> Answer<AdminWheel> {
    Ok(ok(campaign_prizes(&state, id).await?))
}

/// Replace a campaign's sectors
///
/// As `PUT /api/admin/lottery/prizes`: all eight at once, angles 0, 45, …, 315, probabilities
/// summing to 1, one pity prize and one fallback (1003 naming the field otherwise). On a
/// running campaign the change is announced (`campaign_update`) and ends the seed period.
///
/// Errors: 1003 1003/413 2004 3004
#[utoipa::path(put, path = "/campaigns/{id}/prizes", tag = "admin", operation_id = "admin_replace_campaign_prizes",
    security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    request_body = Replace,
    responses((status = 200, description = "The new wheel", body = Envelope<AdminWheel>)))]
async fn replace_prizes(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Replace>,
) -> Answer<AdminWheel> {
    Ok(ok(replace_campaign_prizes(&state, &admin, id, body).await?))
}

/// Add stock to a campaign's prize
///
/// Only for a sector of this campaign with limited stock; customers get `prize_stock_update`.
///
/// Errors: 1003 1003/413 2004 3004 9004
#[utoipa::path(post, path = "/campaigns/{id}/prizes/{prize_id}/stock", tag = "admin",
    operation_id = "admin_campaign_prize_stock", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign"), ("prize_id" = i64, Path, description = "The sector (prize)")),
    request_body = AddStock,
    responses((status = 200, description = "The new stock", body = Envelope<PrizeRestocked>)))]
async fn add_stock(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath((id, prize_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<AddStock>,
) -> Answer<PrizeRestocked> {
    Ok(ok(restock(&state, &admin, id, prize_id, body).await?))
}

/// One sector: its configured odds beside how often it came up.
#[derive(Debug, serde::Serialize, ToSchema)]
struct PrizeStats {
    prize_id: i64,
    name: String,
    configured_probability: f64,
    /// A fraction 0–1 of the campaign's draws (0 before the first).
    observed_frequency: f64,
    won: i64,
    stock_left: Option<i64>,
}

/// One business day of the campaign.
#[derive(Debug, serde::Serialize, ToSchema)]
struct DayStats {
    /// YYYY-MM-DD in the business time zone.
    #[schema(example = "2026-12-01")]
    date: String,
    draws: i64,
    users: i64,
}

#[derive(Debug, serde::Serialize, ToSchema)]
struct CampaignStats {
    draws: i64,
    unique_users: i64,
    points_spent: i64,
    points_awarded: i64,
    prizes: Vec<PrizeStats>,
    by_day: Vec<DayStats>,
}

/// A campaign's statistics
///
/// Draws, customers and points; each current sector's configured probability beside its
/// observed frequency; draws and customers per business day.
///
/// Errors: 1003 2004 3004
#[utoipa::path(get, path = "/campaigns/{id}/stats", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    responses((status = 200, description = "The statistics", body = Envelope<CampaignStats>)))]
async fn stats(State(state): State<AppState>, _admin: AdminUser, ApiPath(id): ApiPath<i64>) -> Answer<CampaignStats> {
    // A running wheel's stock is in its actor (reservations in flight included).
    let sectors = state.wheels.view(id).await?.ok_or(DomainError::WheelClosed)?.sectors;
    let tz = &state.config.business_tz;
    let t = state.store.campaign_totals(id, tz.offset_ms()).await?;
    let prizes = sectors
        .iter()
        .map(|s| {
            let won = t.wins.iter().find(|(p, _)| *p == s.id).map_or(0, |(_, n)| *n);
            PrizeStats {
                prize_id: s.id,
                name: s.name.clone(),
                configured_probability: s.probability,
                observed_frequency: if t.draws > 0 { won as f64 / t.draws as f64 } else { 0.0 },
                won,
                stock_left: s.stock_left,
            }
        })
        .collect();
    let by_day = t
        .days
        .iter()
        .map(|(day, draws, users)| DayStats { date: tz.date(*day), draws: *draws, users: *users })
        .collect();
    Ok(ok(CampaignStats {
        draws: t.draws,
        unique_users: t.unique_users,
        points_spent: t.points_spent,
        points_awarded: t.points_awarded,
        prizes,
        by_day,
    }))
}
