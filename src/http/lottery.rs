//! `/api/lottery`: the wheel as customers see it, draws, their history, statistics and prizes.
//!
//! Longer than most files: the wheel, draw and prize answers are typed and documented
//! beside their handlers, which is what keeps the OpenAPI document honest.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::campaigns::{campaign_in_query, pity_count, requested_campaign, visible_wheel};
use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::{ApiError, Operation};
use super::extract::{idempotency_key, ApiJson, ApiQuery, AuthUser, IdInput};
use super::AppState;
use crate::actors::prize_wheel::WheelView;
use crate::actors::DrawRequest;
use crate::domain::draw::DrawType;
use crate::domain::fairness::validate_client_seed;
use crate::domain::page::{Page, PageParams};
use crate::domain::prize::status_at;
use crate::domain::time::now_ms;
use crate::domain::wheel::PrizeKind;
use crate::domain::DomainError;
use crate::store::wheel::{CommittedBatch, DrawRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(draw))
        .routes(routes!(records))
        .routes(routes!(statistics))
        .routes(routes!(pity_status))
        .routes(routes!(my_prizes))
}

/// One sector of the wheel.
#[derive(Debug, Serialize, ToSchema)]
pub struct WheelPrize {
    pub id: i64,
    #[schema(example = "九八折券")]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PrizeKind,
    /// Points for a points prize; otherwise the prize's face value (0 for nothing).
    pub value: i64,
    /// Where the sector sits, in degrees: 0, 45, …, 315.
    #[schema(example = 45)]
    pub angle: i64,
    /// `#RRGGBB`.
    #[schema(example = "#FF6B6B")]
    pub color: String,
    /// The configured chance of one spin, 0–1; the eight sum to 1.
    #[schema(example = 0.15)]
    pub probability: f64,
    /// A headline prize: near misses are measured against these.
    pub is_activity: bool,
    /// Units left to win; null is unlimited.
    pub stock_left: Option<i64>,
}

/// The pity rule (保底): after `limit − 1` spins without the pity prize, the next one awards it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PityRule {
    pub enabled: bool,
    #[schema(example = 10)]
    pub limit: i64,
    pub prize_id: Option<i64>,
    #[schema(example = "九八折券")]
    pub prize_name: Option<String>,
}

/// Spins per batch, by `draw_type`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawTypes {
    #[schema(example = 1)]
    pub single: usize,
    #[schema(example = 3)]
    pub triple: usize,
    #[schema(example = 5)]
    pub quintuple: usize,
    #[schema(example = 10)]
    pub decade: usize,
}

impl DrawTypes {
    fn all() -> DrawTypes {
        DrawTypes {
            single: DrawType::Single.count(),
            triple: DrawType::Triple.count(),
            quintuple: DrawType::Quintuple.count(),
            decade: DrawType::Decade.count(),
        }
    }
}

/// The campaign the wheel belongs to; draws are refused (3004) outside its window.
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "幸运大转盘")]
    pub name: String,
    /// Null: open since always.
    pub starts_at: Option<Timestamp>,
    /// Null: no end.
    pub ends_at: Option<Timestamp>,
}

/// The wheel as the mini-program renders it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WheelConfig {
    /// Points one spin costs.
    #[schema(example = 100)]
    pub cost_points: i64,
    /// The eight sectors, by angle.
    pub prizes: Vec<WheelPrize>,
    pub pity: PityRule,
    pub draw_types: DrawTypes,
    pub campaign: Campaign,
}

impl WheelConfig {
    pub fn of(view: &WheelView) -> WheelConfig {
        let s = &view.settings;
        let pity_prize = view.sectors.iter().find(|p| p.is_pity_prize);
        WheelConfig {
            cost_points: s.cost_points,
            prizes: view
                .sectors
                .iter()
                .map(|p| WheelPrize {
                    id: p.id,
                    name: p.name.clone(),
                    kind: p.kind,
                    value: p.value,
                    angle: p.angle,
                    color: p.color.clone(),
                    probability: p.probability,
                    is_activity: p.is_activity,
                    stock_left: p.stock_left,
                })
                .collect(),
            pity: PityRule {
                enabled: s.pity_enabled,
                limit: s.pity_limit,
                prize_id: pity_prize.map(|p| p.id),
                prize_name: pity_prize.map(|p| p.name.clone()),
            },
            draw_types: DrawTypes::all(),
            campaign: Campaign {
                id: view.campaign_id,
                name: s.campaign_name.clone(),
                starts_at: s.starts_at.map(Timestamp),
                ends_at: s.ends_at.map(Timestamp),
            },
        }
    }
}

/// [`WheelConfig`] as a JSON value, for the admin area's answers that are still built by hand.
pub fn wheel_json(view: &WheelView) -> Value {
    serde_json::to_value(WheelConfig::of(view)).unwrap_or(Value::Null)
}

/// The wheel
///
/// Its eight sectors with their odds and stock, the pity rule, the batch sizes and the campaign.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/config", tag = "lottery", security(("bearerAuth" = [])),
    params(("campaign_id" = Option<i64>, Query, description = "The campaign (default 1)")),
    responses((status = 200, description = "The wheel", body = Envelope<WheelConfig>)))]
async fn config(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<WheelConfig> {
    let view = visible_wheel(&state, campaign_in_query(&q)?).await?;
    if view.sectors.is_empty() {
        // Not configured yet.
        return Err(DomainError::WheelClosed.into());
    }
    Ok(ok(WheelConfig::of(&view)))
}

/// The batch to draw: by `draw_type` or by `count` (both must agree when both are sent);
/// neither is a single spin.
#[derive(Deserialize, ToSchema)]
struct Draw {
    #[schema(value_type = Option<DrawType>)]
    draw_type: Option<String>,
    /// 1, 3, 5 or 10.
    #[schema(example = 3)]
    count: Option<i64>,
    /// An idempotency key, when the `Idempotency-Key` header cannot be set (the header wins).
    request_id: Option<String>,
    /// Mixed into each draw's random number (1–64 printable ASCII characters); default: the
    /// customer's user id. See `GET /verify/{draw_id}`.
    #[schema(example = "lucky-dragon")]
    client_seed: Option<String>,
    /// The campaign to draw in (default 1).
    campaign_id: Option<IdInput>,
}

/// One spin of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawResult {
    pub draw_id: i64,
    pub prize_id: i64,
    pub prize_name: String,
    #[schema(value_type = PrizeKind)]
    pub prize_type: String,
    pub prize_value: i64,
    /// The sector's angle, for the animation to stop at.
    pub angle: i64,
    /// Display only: the spin fell just beside a headline prize.
    pub is_near_miss: bool,
    /// The pity rule awarded this prize.
    pub is_pity: bool,
    /// For coupons and physical prizes: the code the counter verifies; null otherwise.
    pub redemption_code: Option<String>,
}

/// The customer's pity counter after a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct PityProgress {
    /// Spins since the pity prize last came up.
    pub count: i64,
    pub limit: i64,
}

/// A committed batch: paid for once, every spin recorded, points prizes already credited.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawBatch {
    pub batch_id: String,
    /// The spins, in order.
    pub results: Vec<DrawResult>,
    /// Points debited for the batch (spins × cost).
    pub points_cost: i64,
    /// Points credited by points prizes in the batch.
    pub points_won: i64,
    /// The balance after the batch.
    pub remaining_points: i64,
    pub pity: PityProgress,
    /// True when this answers a repeated idempotency key: nothing was drawn again.
    pub replayed: bool,
}

impl DrawBatch {
    pub fn of(b: &CommittedBatch, replayed: bool) -> DrawBatch {
        DrawBatch {
            batch_id: b.batch_id.clone(),
            results: b
                .draws
                .iter()
                .map(|d| DrawResult {
                    draw_id: d.draw_id,
                    prize_id: d.prize_id,
                    prize_name: d.prize_name.clone(),
                    prize_type: d.prize_type.clone(),
                    prize_value: d.prize_value,
                    angle: d.angle,
                    is_near_miss: d.is_near_miss,
                    is_pity: d.is_pity,
                    redemption_code: d.redemption_code.clone(),
                })
                .collect(),
            points_cost: b.points_cost,
            points_won: b.points_won,
            remaining_points: b.balance_after,
            pity: PityProgress { count: b.pity_count, limit: b.pity_limit },
            replayed,
        }
    }
}

/// Draw
///
/// One batch of 1, 3, 5 or 10 spins, paid for and committed at once. With an idempotency key
/// (header or `request_id`), a repeat answers the first batch with `replayed: true`.
///
/// Errors: 1003 1003/413 2005 3000 3001 3002 3003 3004 3005
#[utoipa::path(post, path = "/draw", tag = "lottery", security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–128 visible ASCII characters; a repeat answers the first result")),
    request_body = Draw,
    responses((status = 200, description = "The committed batch", body = Envelope<DrawBatch>)))]
async fn draw(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Draw>,
) -> Answer<DrawBatch> {
    let count = DrawType::requested(body.draw_type.as_deref(), body.count)?.count();
    let campaign_id = requested_campaign(body.campaign_id.as_ref().map(|c| c.parse("campaign_id")).transpose()?);
    let key = idempotency_key(&headers, body.request_id.as_deref())?;
    if let Some(seed) = &body.client_seed {
        validate_client_seed(seed)?;
    }
    let outcome = state
        .wallets
        .draw(user.user_id, DrawRequest { campaign_id, count, idempotency_key: key, client_seed: body.client_seed })
        .await
        .map_err(ApiError::during(Operation::Draw))?;
    Ok(ok(DrawBatch::of(&outcome.batch, outcome.replayed)))
}

/// One past spin.
#[derive(Debug, Serialize, ToSchema)]
struct DrawRecord {
    draw_id: i64,
    prize_id: i64,
    prize_name: String,
    #[schema(value_type = PrizeKind)]
    prize_type: String,
    prize_value: i64,
    angle: i64,
    is_pity: bool,
    is_near_miss: bool,
    /// What this spin cost (the wheel's price per spin when it was drawn).
    points_cost: i64,
    created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
struct DrawRecords {
    records: Vec<DrawRecord>,
    pagination: Page,
}

/// The customer's draws
///
/// Every spin, newest first.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/records", tag = "lottery", security(("bearerAuth" = [])),
    params(PageParams, ("campaign_id" = Option<i64>, Query, description = "The campaign (default 1)")),
    responses((status = 200, description = "One page of draws", body = Envelope<DrawRecords>)))]
async fn records(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<DrawRecords> {
    let campaign_id = visible_wheel(&state, campaign_in_query(&q)?).await?.campaign_id;
    let page = q.page()?;
    let (rows, total) = state.store.draw_page(user.user_id, campaign_id, false, page).await?;
    let records = rows
        .into_iter()
        .map(|d| DrawRecord {
            draw_id: d.id,
            prize_id: d.prize_id,
            prize_name: d.prize_name,
            prize_type: d.prize_type,
            prize_value: d.prize_value,
            angle: d.angle,
            is_pity: d.is_pity,
            is_near_miss: d.is_near_miss,
            points_cost: d.points_cost,
            created_at: Timestamp(d.created_at),
        })
        .collect();
    Ok(ok(DrawRecords { records, pagination: page.of(total) }))
}

/// The customer's wins, by prize kind.
#[derive(Debug, Serialize, ToSchema)]
struct WinsByType {
    points: i64,
    coupon: i64,
    physical: i64,
    empty: i64,
}

impl WinsByType {
    fn of(by_type: &[(String, i64)]) -> WinsByType {
        let wins = |kind: PrizeKind| by_type.iter().find(|(k, _)| k == kind.as_str()).map_or(0, |(_, n)| *n);
        WinsByType {
            points: wins(PrizeKind::Points),
            coupon: wins(PrizeKind::Coupon),
            physical: wins(PrizeKind::Physical),
            empty: wins(PrizeKind::Empty),
        }
    }
}

/// One sector's configured chance beside how often it really came up, over every customer.
#[derive(Debug, Serialize, ToSchema)]
struct PrizeOdds {
    prize_id: i64,
    prize_name: String,
    /// 0–1.
    configured_probability: f64,
    /// A fraction 0–1 of every spin so far (0 before the first).
    observed_frequency: f64,
    times_drawn: i64,
}

/// The wheel's odds, for disclosure.
#[derive(Debug, Serialize, ToSchema)]
struct WheelOdds {
    /// Spins by every customer.
    total_draws: i64,
    prizes: Vec<PrizeOdds>,
}

#[derive(Debug, Serialize, ToSchema)]
struct DrawStatistics {
    /// The customer's spins.
    total_draws: i64,
    wins_by_type: WinsByType,
    points_spent: i64,
    points_won: i64,
    probabilities: WheelOdds,
}

/// The customer's draw totals and the wheel's odds
///
/// The customer's spins, wins by kind and points; beside them, for disclosure, each sector's
/// configured probability and its observed frequency over every customer's spins.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/statistics", tag = "lottery", operation_id = "lottery_statistics", security(("bearerAuth" = [])),
    params(("campaign_id" = Option<i64>, Query, description = "The campaign (default 1)")),
    responses((status = 200, description = "Totals and odds", body = Envelope<DrawStatistics>)))]
async fn statistics(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<DrawStatistics> {
    let view = visible_wheel(&state, campaign_in_query(&q)?).await?;
    let totals = state.store.draw_totals(user.user_id, view.campaign_id).await?;
    let ids: Vec<i64> = view.sectors.iter().map(|s| s.id).collect();
    let counts = state.store.draw_counts(&ids).await?;
    let all: i64 = counts.iter().map(|(_, n)| n).sum();
    let prizes = view
        .sectors
        .iter()
        .map(|s| {
            let n = counts.iter().find(|(id, _)| *id == s.id).map(|(_, n)| *n).unwrap_or(0);
            PrizeOdds {
                prize_id: s.id,
                prize_name: s.name.clone(),
                configured_probability: s.probability,
                observed_frequency: if all > 0 { n as f64 / all as f64 } else { 0.0 },
                times_drawn: n,
            }
        })
        .collect();
    Ok(ok(DrawStatistics {
        total_draws: totals.draws,
        wins_by_type: WinsByType::of(&totals.by_type),
        points_spent: totals.points_spent,
        points_won: totals.points_won,
        probabilities: WheelOdds { total_draws: all, prizes },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct PityStatus {
    /// Spins since the pity prize last came up.
    count: i64,
    limit: i64,
    /// Spins until the pity prize is certain (never below 0).
    remaining: i64,
}

/// The customer's pity counter
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/pity-status", tag = "lottery", security(("bearerAuth" = [])),
    params(("campaign_id" = Option<i64>, Query, description = "The campaign (default 1)")),
    responses((status = 200, description = "The counter", body = Envelope<PityStatus>)))]
async fn pity_status(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<PityStatus> {
    let view = visible_wheel(&state, campaign_in_query(&q)?).await?;
    let count = pity_count(&state, user.user_id, view.campaign_id).await?;
    let limit = view.settings.pity_limit;
    Ok(ok(PityStatus { count, limit, remaining: (limit - count).max(0) }))
}

/// A coupon or physical prize the customer won.
#[derive(Debug, Serialize, ToSchema)]
struct WonPrize {
    draw_id: i64,
    prize_id: i64,
    prize_name: String,
    #[schema(value_type = PrizeKind)]
    prize_type: String,
    /// The code a merchant verifies at the counter.
    redemption_code: Option<String>,
    /// `unused`, `claimed` (a physical prize with delivery details), `used` or `expired`.
    #[schema(example = "unused")]
    status: String,
    won_at: Timestamp,
    /// Coupons expire `COUPON_VALID_DAYS` (30) after the win; null: never.
    expires_at: Option<Timestamp>,
    /// When a merchant verified it; null while unused.
    used_at: Option<Timestamp>,
}

impl WonPrize {
    fn of(d: DrawRow, now: i64) -> WonPrize {
        WonPrize {
            status: status_at(d.status.as_deref(), d.expires_at, now).to_string(),
            expires_at: d.expires_at.map(Timestamp),
            draw_id: d.id,
            prize_id: d.prize_id,
            prize_name: d.prize_name,
            prize_type: d.prize_type,
            redemption_code: d.redemption_code,
            won_at: Timestamp(d.created_at),
            used_at: d.used_at.and_then(Timestamp::opt),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct MyPrizes {
    prizes: Vec<WonPrize>,
    pagination: Page,
}

/// The customer's prizes
///
/// Coupons and physical prizes won, each with its redemption code, newest first.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/my-prizes", tag = "lottery", security(("bearerAuth" = [])),
    params(PageParams, ("campaign_id" = Option<i64>, Query, description = "The campaign (default 1)")),
    responses((status = 200, description = "One page of prizes", body = Envelope<MyPrizes>)))]
async fn my_prizes(State(state): State<AppState>, user: AuthUser, q: ApiQuery) -> Answer<MyPrizes> {
    let campaign_id = visible_wheel(&state, campaign_in_query(&q)?).await?.campaign_id;
    let page = q.page()?;
    let (rows, total) = state.store.draw_page(user.user_id, campaign_id, true, page).await?;
    let now = now_ms();
    Ok(ok(MyPrizes { prizes: rows.into_iter().map(|d| WonPrize::of(d, now)).collect(), pagination: page.of(total) }))
}
