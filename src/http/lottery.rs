//! `/api/lottery`: the wheel as customers see it, draws, their history, statistics and prizes.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{ok, Answer};
use super::error::ApiError;
use super::extract::{idempotency_key, ApiJson, ApiQuery, AuthUser};
use super::AppState;
use crate::actors::prize_wheel::WheelView;
use crate::actors::DrawRequest;
use crate::domain::time::{iso, iso_opt};
use crate::store::wheel::CommittedBatch;
use utoipa_axum::router::OpenApiRouter;

pub const DRAW_TYPES: [(&str, usize); 4] = [("single", 1), ("triple", 3), ("quintuple", 5), ("decade", 10)];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(
        Router::new()
            .route("/config", get(config))
            .route("/draw", post(draw))
            .route("/records", get(records))
            .route("/statistics", get(statistics))
            .route("/pity-status", get(pity_status))
            .route("/my-prizes", get(my_prizes)),
    )
}

/// The wheel as the mini-program renders it.
pub fn wheel_json(view: &WheelView) -> Value {
    let s = &view.settings;
    let pity_prize = view.sectors.iter().find(|p| p.is_pity_prize);
    json!({
        "cost_points": s.cost_points,
        "prizes": view.sectors.iter().map(|p| json!({
            "id": p.id,
            "name": p.name,
            "type": p.kind.as_str(),
            "value": p.value,
            "angle": p.angle,
            "color": p.color,
            "probability": p.probability,
            "is_activity": p.is_activity,
            "stock_left": p.stock_left,
        })).collect::<Vec<_>>(),
        "pity": {
            "enabled": s.pity_enabled,
            "limit": s.pity_limit,
            "prize_id": pity_prize.map(|p| p.id),
            "prize_name": pity_prize.map(|p| p.name.clone()),
        },
        "draw_types": DRAW_TYPES.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "campaign": {
            "id": 1,
            "name": s.campaign_name,
            "starts_at": s.starts_at.map(iso),
            "ends_at": s.ends_at.map(iso),
        },
    })
}

async fn config(State(state): State<AppState>, _user: AuthUser) -> Answer<Value> {
    Ok(ok(wheel_json(&state.wheel.view().await?)))
}

#[derive(Deserialize)]
struct Draw {
    draw_type: Option<String>,
    count: Option<i64>,
    request_id: Option<String>,
}

fn draw_count(body: &Draw) -> Result<usize, ApiError> {
    let by_type = match body.draw_type.as_deref() {
        None => None,
        Some(t) => Some(
            DRAW_TYPES
                .iter()
                .find(|(k, _)| *k == t)
                .map(|(_, n)| *n)
                .ok_or_else(|| ApiError::bad("draw_type", "must be single, triple, quintuple or decade"))?,
        ),
    };
    let by_count = match body.count {
        None => None,
        Some(c) => Some(
            DRAW_TYPES
                .iter()
                .find(|(_, n)| *n as i64 == c)
                .map(|(_, n)| *n)
                .ok_or_else(|| ApiError::bad("count", "must be 1, 3, 5 or 10"))?,
        ),
    };
    match (by_type, by_count) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad("count", "does not match draw_type")),
        (Some(n), _) | (None, Some(n)) => Ok(n),
        (None, None) => Ok(1),
    }
}

/// A committed batch as the draw endpoint answers it (also for replays).
pub fn batch_json(b: &CommittedBatch, replayed: bool) -> Value {
    json!({
        "batch_id": b.batch_id,
        "results": b.draws.iter().map(|d| json!({
            "draw_id": d.draw_id,
            "prize_id": d.prize_id,
            "prize_name": d.prize_name,
            "prize_type": d.prize_type,
            "prize_value": d.prize_value,
            "angle": d.angle,
            "is_near_miss": d.is_near_miss,
            "is_pity": d.is_pity,
            "redemption_code": d.redemption_code,
        })).collect::<Vec<_>>(),
        "points_cost": b.points_cost,
        "points_won": b.points_won,
        "remaining_points": b.balance_after,
        "pity": { "count": b.pity_count, "limit": b.pity_limit },
        "replayed": replayed,
    })
}

async fn draw(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Draw>,
) -> Answer<Value> {
    let count = draw_count(&body)?;
    let key = idempotency_key(&headers, body.request_id.as_deref())?;
    let outcome = state.wallets.draw(user.user_id, DrawRequest { count, idempotency_key: key }).await?;
    Ok(ok(batch_json(&outcome.batch, outcome.replayed)))
}

async fn records(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let (rows, total) = state.store.draw_page(user.user_id, false, page).await?;
    let records: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "draw_id": d.id,
                "prize_id": d.prize_id,
                "prize_name": d.prize_name,
                "prize_type": d.prize_type,
                "prize_value": d.prize_value,
                "angle": d.angle,
                "is_pity": d.is_pity,
                "is_near_miss": d.is_near_miss,
                "points_cost": d.points_cost,
                "created_at": iso(d.created_at),
            })
        })
        .collect();
    Ok(ok(json!({ "records": records, "pagination": page.of(total) })))
}

async fn statistics(State(state): State<AppState>, user: AuthUser) -> Answer<Value> {
    let totals = state.store.draw_totals(user.user_id).await?;
    let view = state.wheel.view().await?;
    let ids: Vec<i64> = view.sectors.iter().map(|s| s.id).collect();
    let counts = state.store.draw_counts(&ids).await?;
    let all: i64 = counts.iter().map(|(_, n)| n).sum();
    let mut wins = serde_json::Map::new();
    for kind in ["points", "coupon", "physical", "empty"] {
        let n = totals.by_type.iter().find(|(k, _)| k == kind).map(|(_, n)| *n).unwrap_or(0);
        wins.insert(kind.to_string(), json!(n));
    }
    let odds: Vec<Value> = view
        .sectors
        .iter()
        .map(|s| {
            let n = counts.iter().find(|(id, _)| *id == s.id).map(|(_, n)| *n).unwrap_or(0);
            json!({
                "prize_id": s.id,
                "prize_name": s.name,
                "configured_probability": s.probability,
                "observed_frequency": if all > 0 { n as f64 / all as f64 } else { 0.0 },
                "times_drawn": n,
            })
        })
        .collect();
    Ok(ok(json!({
        "total_draws": totals.draws,
        "wins_by_type": wins,
        "points_spent": totals.points_spent,
        "points_won": totals.points_won,
        "probabilities": { "total_draws": all, "prizes": odds },
    })))
}

async fn pity_status(State(state): State<AppState>, user: AuthUser) -> Answer<Value> {
    let wallet = state.wallets.snapshot(user.user_id).await?;
    let limit = state.wheel.view().await?.settings.pity_limit;
    Ok(ok(json!({
        "count": wallet.pity_count,
        "limit": limit,
        "remaining": (limit - wallet.pity_count).max(0),
    })))
}

async fn my_prizes(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<Value> {
    let page = q.page()?;
    let (rows, total) = state.store.draw_page(user.user_id, true, page).await?;
    let prizes: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "draw_id": d.id,
                "prize_id": d.prize_id,
                "prize_name": d.prize_name,
                "prize_type": d.prize_type,
                "redemption_code": d.redemption_code,
                "status": d.status.as_deref().unwrap_or("unused"),
                "won_at": iso(d.created_at),
                "used_at": d.used_at.and_then(iso_opt),
            })
        })
        .collect();
    Ok(ok(json!({ "prizes": prizes, "pagination": page.of(total) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(draw_type: Option<&str>, count: Option<i64>) -> Draw {
        Draw { draw_type: draw_type.map(str::to_string), count, request_id: None }
    }

    #[test]
    fn draw_types_and_counts() {
        assert_eq!(draw_count(&body(None, None)).unwrap(), 1);
        assert_eq!(draw_count(&body(Some("decade"), None)).unwrap(), 10);
        assert_eq!(draw_count(&body(None, Some(5))).unwrap(), 5);
        assert_eq!(draw_count(&body(Some("triple"), Some(3))).unwrap(), 3);
        assert!(draw_count(&body(Some("mega"), None)).is_err());
        assert!(draw_count(&body(None, Some(2))).is_err());
        assert!(draw_count(&body(Some("single"), Some(10))).is_err());
    }
}
