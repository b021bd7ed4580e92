//! `/api/admin/campaigns`: campaigns as the admin runs them (API.md "Campaigns"): the list with
//! drafts, a new campaign (a draft), and its lifecycle. The default campaign's status goes
//! through its PrizeWheel, which owns whether it draws; the others are rows until they get a
//! wheel of their own. Every change is audited and pushed as `campaign_update`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin_lottery::{parse_time, TimeInput};
use super::campaigns::CampaignInfo;
use super::envelope::{ok, Answer, Envelope};
use super::error::ApiError;
use super::extract::{clean_text, AdminUser, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::domain::campaign::CampaignStatus;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::time::now_ms;
use crate::domain::wheel::WheelSettings;
use crate::domain::DomainError;
use crate::notify::event::CampaignUpdate;
use crate::notify::ServerEvent;
use crate::store::audit::AuditEntry;
use crate::store::campaigns::CampaignRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(set_status)).routes(routes!(stats))
}

fn audit(admin: &AdminUser, action: &str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin",
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "campaign",
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

/// A new campaign; it starts as a draft.
#[derive(Deserialize, ToSchema)]
struct NewCampaign {
    /// 1–64 characters.
    name: Option<String>,
    /// Up to 1000 characters.
    description: Option<String>,
    #[schema(value_type = Option<TimeInput>)]
    starts_at: Option<TimeInput>,
    /// After `starts_at`.
    #[schema(value_type = Option<TimeInput>)]
    ends_at: Option<TimeInput>,
    /// 1–100000 (default 100).
    cost_points: Option<i64>,
    /// 0–10000; 0 = the server's default.
    daily_limit: Option<i64>,
    /// 1–5 (default 1).
    min_level: Option<i64>,
    pity_enabled: Option<bool>,
    /// 2–1000 (default 10).
    pity_limit: Option<i64>,
    /// Up to 512 characters.
    banner_image: Option<String>,
}

/// Create a campaign
///
/// Answers the campaign, created as a draft.
///
/// Errors: 1003 1003/413 2004
#[utoipa::path(post, path = "/campaigns", tag = "admin", security(("bearerAuth" = [])),
    request_body = NewCampaign,
    responses((status = 200, description = "The new draft", body = Envelope<CampaignInfo>)))]
async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<NewCampaign>,
) -> Answer<CampaignInfo> {
    let name = clean_text("name", body.name.as_deref().unwrap_or_default(), 1, 64)?;
    let description = clean_text("description", body.description.as_deref().unwrap_or_default(), 0, 1000)?;
    let banner_image = clean_text("banner_image", body.banner_image.as_deref().unwrap_or_default(), 0, 512)?;
    let min_level = body.min_level.unwrap_or(1);
    if !(1..=5).contains(&min_level) {
        return Err(ApiError::bad("min_level", "must be 1-5"));
    }
    // The wheel's own rules say what a cost, a pity limit, a cap and a window may be.
    let rules = WheelSettings {
        campaign_name: name.clone(),
        cost_points: body.cost_points.unwrap_or(100),
        pity_enabled: body.pity_enabled.unwrap_or(true),
        pity_limit: body.pity_limit.unwrap_or(10),
        daily_limit: body.daily_limit.unwrap_or(0),
        starts_at: parse_time("starts_at", body.starts_at)?,
        ends_at: parse_time("ends_at", body.ends_at)?,
    };
    rules.validate()?;
    let mut row = CampaignRow {
        id: 0,
        name,
        description,
        status: CampaignStatus::Draft.as_str().into(),
        starts_at: rules.starts_at,
        ends_at: rules.ends_at,
        cost_points: rules.cost_points,
        daily_limit: rules.daily_limit,
        min_level,
        pity_enabled: rules.pity_enabled,
        pity_limit: rules.pity_limit,
        banner_image,
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
    if id == DEFAULT_CAMPAIGN_ID {
        state.wheel.set_status(to, entry).await?;
    } else {
        let from = CampaignStatus::parse(&row.status).unwrap_or(CampaignStatus::Draft);
        let to = from.transition(to)?;
        let mut entry = entry;
        entry.before = Some(json!({ "status": from.as_str() }));
        entry.after = Some(json!({ "status": to.as_str() }));
        if !state.store.set_campaign_status(id, to.as_str(), &entry).await? {
            return Err(DomainError::WheelClosed.into());
        }
        state.hub.broadcast_latest(ServerEvent::CampaignUpdate(CampaignUpdate { campaign_id: id, status: to }));
    }
    let row = state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
    Ok(ok(CampaignInfo::of(&row)))
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
    state.store.campaign(id).await?.ok_or(DomainError::WheelClosed)?;
    let sectors = match state.store.campaign_wheel(id).await? {
        Some((sectors, _)) if id != DEFAULT_CAMPAIGN_ID => sectors,
        // The default wheel's live stock is in its actor.
        _ if id == DEFAULT_CAMPAIGN_ID => state.wheel.view().await?.sectors,
        _ => Vec::new(),
    };
    let t = state.store.campaign_totals(id).await?;
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
        .map(|(start, draws, users)| DayStats { date: business_date(*start), draws: *draws, users: *users })
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

/// The business-day date (UTC+8) that starts at `start` (epoch ms).
fn business_date(start: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(start + 8 * 3_600_000)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
