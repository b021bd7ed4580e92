//! `/api/lottery` for campaigns and fair draws (API.md "Campaigns and fair draws"): the list of
//! campaigns, one campaign with its wheel and its seed commitment, the revealed seeds, and the
//! proof of one draw.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ok, Answer, Envelope, Timestamp};
use super::error::ApiError;
use super::extract::{AdminUser, ApiPath, ApiQuery, AuthUser};
use super::lottery::WheelConfig;
use super::AppState;
use crate::actors::prize_wheel::WheelView;
use crate::domain::campaign::CampaignStatus;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::fairness::intervals;
use crate::domain::page::{Page, PageParams};
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::store::campaigns::CampaignRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(campaigns))
        .routes(routes!(campaign))
        .routes(routes!(seeds))
        .routes(routes!(verify))
}

/// A campaign as customers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignInfo {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "幸运大转盘")]
    pub name: String,
    pub description: String,
    /// `draft`, `active`, `paused` or `ended`.
    #[schema(example = "active")]
    pub status: String,
    /// Null: open since always.
    pub starts_at: Option<Timestamp>,
    /// Null: no end.
    pub ends_at: Option<Timestamp>,
    #[schema(example = 100)]
    pub cost_points: i64,
    /// Draws per customer per day; 0 = the server's default.
    pub daily_limit: i64,
    /// The lowest membership level that may draw.
    #[schema(example = 1)]
    pub min_level: i64,
    pub banner_image: String,
}

impl CampaignInfo {
    pub fn of(c: &CampaignRow) -> CampaignInfo {
        CampaignInfo {
            id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            status: c.status.clone(),
            starts_at: c.starts_at.map(Timestamp),
            ends_at: c.ends_at.map(Timestamp),
            cost_points: c.cost_points,
            daily_limit: c.daily_limit,
            min_level: c.min_level,
            banner_image: c.banner_image.clone(),
        }
    }
}

/// Which of `active|upcoming|paused|ended` a campaign is in at `now` (drafts are in none).
fn phase(c: &CampaignRow, now: i64) -> Option<&'static str> {
    let before = c.starts_at.is_some_and(|s| now < s);
    let after = c.ends_at.is_some_and(|e| now >= e);
    match c.status.as_str() {
        "ended" => Some("ended"),
        "paused" if after => Some("ended"),
        "paused" => Some("paused"),
        "active" if after => Some("ended"),
        "active" if before => Some("upcoming"),
        "active" => Some("active"),
        _ => None,
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignList {
    campaigns: Vec<CampaignInfo>,
    pagination: Page,
}

/// Campaigns
///
/// Every campaign but drafts, by id; `status` narrows to `active` (running now), `upcoming`
/// (active, window not yet open), `paused` or `ended` (ended, or its window closed).
///
/// Errors: 1003 2005
#[utoipa::path(get, path = "/campaigns", tag = "lottery", security(("bearerAuth" = [])),
    params(("status" = Option<String>, Query, description = "active, upcoming, paused or ended"), PageParams),
    responses((status = 200, description = "One page of campaigns", body = Envelope<CampaignList>)))]
async fn campaigns(State(state): State<AppState>, _user: AuthUser, q: ApiQuery) -> Answer<CampaignList> {
    let wanted = q.one_of("status", &["active", "upcoming", "paused", "ended"])?;
    let page = q.page()?;
    let now = now_ms();
    let all: Vec<CampaignRow> = state
        .store
        .campaigns(&["active", "paused", "ended"])
        .await?
        .into_iter()
        .filter(|c| phase(c, now).is_some_and(|p| wanted.is_none_or(|w| w == p)))
        .collect();
    let total = all.len() as i64;
    let campaigns =
        all.iter().skip(page.offset().max(0) as usize).take(page.limit.max(0) as usize).map(CampaignInfo::of).collect();
    Ok(ok(CampaignList { campaigns, pagination: page.of(total) }))
}

/// The seed period in use.
#[derive(Debug, Serialize, ToSchema)]
struct SeedPeriodInfo {
    starts_at: Timestamp,
    ends_at: Timestamp,
}

/// The commitment to the seed that decides the draws of the current period.
#[derive(Debug, Serialize, ToSchema)]
struct Fairness {
    /// hex(SHA-256(the 32 seed bytes)); the seed is revealed when the period ends.
    #[schema(example = "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")]
    seed_commitment: String,
    seed_period: SeedPeriodInfo,
}

/// The caller's pity counter in this campaign.
#[derive(Debug, Serialize, ToSchema)]
struct PityCount {
    count: i64,
    limit: i64,
}

/// The caller in this campaign.
#[derive(Debug, Serialize, ToSchema)]
struct Me {
    /// Draws today (a decade counts 10).
    draws_today: i64,
    total_draws: i64,
    pity: PityCount,
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignDetail {
    campaign: CampaignInfo,
    wheel: WheelConfig,
    fairness: Option<Fairness>,
    /// The caller's standing; null when an administrator asks.
    me: Option<Me>,
}

/// A campaign: its wheel, fairness commitment and the caller's standing
///
/// `fairness` is the seed in use (a period starts at the first look or draw of the day), or
/// the campaign's last one once it no longer runs; null before its first seed. An
/// administrator may ask too (the console shows the commitment); `me` is then null.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/campaigns/{id}", tag = "lottery", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign")),
    responses((status = 200, description = "The campaign", body = Envelope<CampaignDetail>)))]
async fn campaign(
    State(state): State<AppState>,
    user: Result<AuthUser, ApiError>,
    admin: Result<AdminUser, ApiError>,
    path: Result<ApiPath<i64>, ApiError>,
) -> Answer<CampaignDetail> {
    let customer = customer_or_admin(user, admin)?;
    let ApiPath(id) = path?;
    let row = visible_campaign(&state, id).await?;
    let view = visible_wheel(&state, id).await?;
    let seed = match state.wheels.running(id) {
        Some(wheel) if !view.sectors.is_empty() => {
            wheel.fairness().await.ok().map(|s| (s.commitment, s.period.starts_at, s.period.ends_at))
        }
        _ => state.store.latest_seed(id).await?.map(|s| (s.commitment, s.period.starts_at, s.period.ends_at)),
    };
    let me = match customer {
        Some(user_id) => {
            let tz = &state.config.business_tz;
            let since = tz.day_start(tz.day(now_ms()));
            let (draws_today, _) = state.store.draw_counters(user_id, row.id, since).await?;
            let total_draws = state.store.draw_totals(user_id, row.id).await?.draws;
            let count = pity_count(&state, user_id, row.id).await?;
            Some(Me { draws_today, total_draws, pity: PityCount { count, limit: view.settings.pity_limit } })
        }
        None => None,
    };
    Ok(ok(CampaignDetail {
        campaign: CampaignInfo::of(&row),
        wheel: WheelConfig::of(&view),
        fairness: seed.map(|(seed_commitment, starts_at, ends_at)| Fairness {
            seed_commitment,
            seed_period: SeedPeriodInfo { starts_at: Timestamp(starts_at), ends_at: Timestamp(ends_at) },
        }),
        me,
    }))
}

/// A campaign customers may see: not a draft (3004 otherwise, as for an unknown one).
async fn visible_campaign(state: &AppState, id: i64) -> Result<CampaignRow, ApiError> {
    match state.store.campaign(id).await? {
        Some(c) if c.status != "draft" => Ok(c),
        _ => Err(DomainError::WheelClosed.into()),
    }
}

/// The wheel of a campaign customers may see (3004 for a draft or an unknown campaign).
pub(super) async fn visible_wheel(state: &AppState, id: i64) -> Result<WheelView, ApiError> {
    match state.wheels.view(id).await? {
        Some(view) if view.status != CampaignStatus::Draft => Ok(view),
        _ => Err(DomainError::WheelClosed.into()),
    }
}

/// The customer's pity counter in a campaign. Every draw commits before it is answered, so
/// the store holds what the wallet holds; the default campaign's is read from the wallet.
pub(super) async fn pity_count(state: &AppState, user_id: i64, campaign_id: i64) -> Result<i64, ApiError> {
    if campaign_id == DEFAULT_CAMPAIGN_ID {
        return Ok(state.wallets.snapshot(user_id).await?.pity_count);
    }
    Ok(state.store.campaign_pity(user_id, campaign_id).await?)
}

/// A past seed period, with its seed.
#[derive(Debug, Serialize, ToSchema)]
struct RevealedSeed {
    starts_at: Timestamp,
    ends_at: Timestamp,
    seed_commitment: String,
    /// The 32 seed bytes as 64 lowercase hex characters.
    server_seed: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct SeedList {
    seeds: Vec<RevealedSeed>,
    pagination: Page,
}

/// A campaign's revealed seeds
///
/// Every seed period that is over, newest first, with its seed: with it anyone can recompute
/// the period's draws. Customers and administrators may ask.
///
/// Errors: 1003 2005 3004
#[utoipa::path(get, path = "/campaigns/{id}/seeds", tag = "lottery", security(("bearerAuth" = [])),
    params(("id" = i64, Path, description = "The campaign"), PageParams),
    responses((status = 200, description = "One page of revealed seeds", body = Envelope<SeedList>)))]
async fn seeds(
    State(state): State<AppState>,
    user: Result<AuthUser, ApiError>,
    admin: Result<AdminUser, ApiError>,
    path: Result<ApiPath<i64>, ApiError>,
    q: ApiQuery,
) -> Answer<SeedList> {
    customer_or_admin(user, admin)?;
    let ApiPath(id) = path?;
    let page = q.page()?;
    let row = visible_campaign(&state, id).await?;
    let (rows, total) = state.store.revealed_seeds(row.id, now_ms(), page).await?;
    let seeds = rows
        .into_iter()
        .map(|s| RevealedSeed {
            starts_at: Timestamp(s.period.starts_at),
            ends_at: Timestamp(s.period.ends_at),
            seed_commitment: s.commitment,
            server_seed: s.seed,
        })
        .collect();
    Ok(ok(SeedList { seeds, pagination: page.of(total) }))
}

/// One sector's share of [0, 1) when the draw was made.
#[derive(Debug, Serialize, ToSchema)]
struct IntervalInfo {
    prize_id: i64,
    from: f64,
    to: f64,
}

/// Everything needed to recompute a draw (docs/fairness.md).
#[derive(Debug, Serialize, ToSchema)]
struct DrawProofInfo {
    draw_id: i64,
    campaign_id: i64,
    user_id: i64,
    /// The customer's n-th draw in the campaign; null for draws made before fair draws.
    nonce: Option<i64>,
    /// What the customer mixed in (their user id unless they sent one).
    client_seed: String,
    seed_commitment: Option<String>,
    /// Null until the seed's period is over.
    server_seed: Option<String>,
    random_value: Option<f64>,
    prize_id: i64,
    /// The pity rule chose the prize, not the number.
    is_pity: bool,
    intervals: Vec<IntervalInfo>,
}

/// Verify a draw
///
/// The draw's nonce, client seed, seed commitment (and the seed once revealed), random number
/// and intervals. The draw's owner or an administrator may ask.
///
/// Errors: 1003 2005 9004
#[utoipa::path(get, path = "/verify/{draw_id}", tag = "lottery", security(("bearerAuth" = [])),
    params(("draw_id" = i64, Path, description = "The draw")),
    responses((status = 200, description = "The draw's proof", body = Envelope<DrawProofInfo>)))]
async fn verify(
    State(state): State<AppState>,
    user: Result<AuthUser, ApiError>,
    admin: Result<AdminUser, ApiError>,
    path: Result<ApiPath<i64>, ApiError>,
) -> Answer<DrawProofInfo> {
    let caller = customer_or_admin(user, admin)?;
    let ApiPath(draw_id) = path?;
    let not_found = || ApiError::from(DomainError::NotFound("抽奖记录".into()));
    let proof = state.store.draw_proof(draw_id).await?.ok_or_else(not_found)?;
    if caller.is_some_and(|u| u != proof.user_id) {
        // Someone else's draw answers as if it did not exist.
        return Err(not_found());
    }
    let now = now_ms();
    let revealed = proof.seed.as_ref().filter(|s| s.period.is_revealed(now)).map(|s| s.seed.clone());
    Ok(ok(DrawProofInfo {
        draw_id: proof.draw_id,
        campaign_id: proof.campaign_id,
        user_id: proof.user_id,
        nonce: proof.nonce,
        client_seed: proof.client_seed.clone().unwrap_or_else(|| proof.user_id.to_string()),
        seed_commitment: proof.seed.as_ref().map(|s| s.commitment.clone()),
        server_seed: revealed,
        random_value: proof.random_value,
        prize_id: proof.prize_id,
        is_pity: proof.is_pity,
        intervals: intervals(&proof.sectors, proof.sold_out_mask)
            .into_iter()
            .map(|i| IntervalInfo { prize_id: i.prize_id, from: i.from, to: i.to })
            .collect(),
    }))
}

/// A customer (their id) or an administrator (`None`) may ask; who asks is settled before
/// what they ask about, as everywhere else.
fn customer_or_admin(
    user: Result<AuthUser, ApiError>,
    admin: Result<AdminUser, ApiError>,
) -> Result<Option<i64>, ApiError> {
    match (user, admin) {
        (Ok(u), _) => Ok(Some(u.user_id)),
        (_, Ok(_)) => Ok(None),
        (Err(e), Err(_)) => Err(e),
    }
}

/// The campaign a request acts on: `campaign_id` when sent, else the default one.
pub(super) fn requested_campaign(id: Option<i64>) -> i64 {
    id.unwrap_or(DEFAULT_CAMPAIGN_ID)
}

/// [`requested_campaign`] from the query string; a `campaign_id` that is not a number is 1003.
pub(super) fn campaign_in_query(q: &ApiQuery) -> Result<i64, ApiError> {
    let id = q
        .get("campaign_id")
        .map(|v| v.trim().parse::<i64>().map_err(|_| ApiError::bad("campaign_id", "must be a campaign id")))
        .transpose()?;
    Ok(requested_campaign(id))
}
