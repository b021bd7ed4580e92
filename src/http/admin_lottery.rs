//! `/api/admin/lottery`: the wheel's sectors, settings and prize stock. Changes go through the
//! PrizeWheel actor, so live wheels use them from the next spin on; all are audited.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::ApiError;
use super::extract::{AdminUser, ApiJson, ApiPath};
use super::lottery::wheel_json;
use super::AppState;
use crate::actors::prize_wheel::WheelView;
use crate::domain::time::{iso, now_ms};
use crate::domain::wheel::{validate_sectors, SectorInput, WheelSettings};
use crate::store::audit::AuditEntry;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/lottery/prizes", get(prizes).put(replace_prizes))
            .route("/lottery/settings", get(settings).put(update_settings))
            .route("/lottery/prizes/{id}/stock", post(add_stock)),
    )
}

fn audit(admin: &AdminUser, action: &str, target_id: String) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin",
        actor_id: admin.admin_id,
        actor_name: admin.username.clone(),
        action: action.to_string(),
        target_type: "wheel",
        target_id,
        before: None,
        after: None,
        at: now_ms(),
    }
}

fn settings_json(s: &WheelSettings) -> Value {
    json!({
        "campaign_name": s.campaign_name,
        "cost_points": s.cost_points,
        "pity_enabled": s.pity_enabled,
        "pity_limit": s.pity_limit,
        "daily_limit": s.daily_limit,
        "starts_at": s.starts_at.map(iso),
        "ends_at": s.ends_at.map(iso),
    })
}

/// The admin's view: every field `PUT` takes, so it can be edited and sent back.
fn admin_json(view: &WheelView) -> Value {
    json!({
        "prizes": view.sectors.iter().map(|p| json!({
            "id": p.id,
            "name": p.name,
            "type": p.kind.as_str(),
            "value": p.value,
            "angle": p.angle,
            "color": p.color,
            "probability": p.probability,
            "is_activity": p.is_activity,
            "stock": p.stock_left,
            "stock_left": p.stock_left,
            "is_pity_prize": p.is_pity_prize,
            "is_fallback": p.is_fallback,
        })).collect::<Vec<_>>(),
        "settings": settings_json(&view.settings),
        "config": wheel_json(view),
    })
}

async fn prizes(State(state): State<AppState>, _admin: AdminUser) -> Answer<Value> {
    Ok(ok(admin_json(&state.wheel.view().await?)))
}

#[derive(Deserialize)]
struct Replace {
    prizes: Option<Vec<SectorInput>>,
}

async fn replace_prizes(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<Replace>,
) -> Answer<Value> {
    let input = body.prizes.ok_or_else(|| ApiError::bad("prizes", "is required"))?;
    let sectors = validate_sectors(&input)?;
    let mut entry = audit(&admin, "wheel.prizes.replace", "prizes".into());
    entry.before = state.wheel.view().await.ok().map(|v| admin_json(&v)["prizes"].clone());
    entry.after = Some(json!(sectors
        .iter()
        .map(|s| json!({ "name": s.name, "type": s.kind.as_str(), "value": s.value, "angle": s.angle, "probability": s.probability, "stock": s.stock_left }))
        .collect::<Vec<_>>()));
    let view = state.wheel.replace(sectors, entry).await?;
    Ok(ok(admin_json(&view)))
}

async fn settings(State(state): State<AppState>, _admin: AdminUser) -> Answer<Value> {
    Ok(ok(settings_json(&state.wheel.view().await?.settings)))
}

/// A time as ISO 8601 text or epoch milliseconds; `null` clears it.
#[derive(Deserialize)]
#[serde(untagged)]
enum TimeInput {
    Millis(i64),
    Text(String),
}

#[derive(Deserialize)]
struct SettingsPatch {
    campaign_name: Option<String>,
    cost_points: Option<i64>,
    pity_enabled: Option<bool>,
    pity_limit: Option<i64>,
    daily_limit: Option<i64>,
    #[serde(default, with = "double_option")]
    starts_at: Option<Option<TimeInput>>,
    #[serde(default, with = "double_option")]
    ends_at: Option<Option<TimeInput>>,
}

/// Tells "absent" (keep) from `null` (clear) for optional times.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn parse_time(field: &str, t: Option<TimeInput>) -> Result<Option<i64>, ApiError> {
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

async fn update_settings(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<SettingsPatch>,
) -> Answer<Value> {
    let current = state.wheel.view().await?.settings;
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
    entry.before = Some(settings_json(&current));
    entry.after = Some(settings_json(&next));
    let view = state.wheel.update_settings(next, entry).await?;
    Ok(ok(admin_json(&view)))
}

#[derive(Deserialize)]
struct AddStock {
    add: Option<i64>,
}

async fn add_stock(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(prize_id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddStock>,
) -> Answer<Value> {
    let add = body.add.ok_or_else(|| ApiError::bad("add", "is required"))?;
    if !(1..=1_000_000).contains(&add) {
        return Err(ApiError::bad("add", "must be 1-1000000"));
    }
    let entry = audit(&admin, "wheel.prize.restock", prize_id.to_string());
    let stock_left = state.wheel.add_stock(prize_id, add, entry).await?;
    Ok(ok(json!({ "prize_id": prize_id, "stock_left": stock_left })))
}
