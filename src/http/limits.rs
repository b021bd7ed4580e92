//! The general per-IP limit (9001 with `Retry-After`). Generous by default, because many
//! customers share a restaurant's Wi-Fi address; it protects against floods, not customers.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::AppState;

pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl IpLimiter {
    pub fn per_minute(n: u32) -> IpLimiter {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MAX);
        IpLimiter { limiter: RateLimiter::keyed(Quota::per_minute(n)) }
    }

    /// `Err(wait)` when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), std::time::Duration> {
        self.limiter.check_key(&ip).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    pub fn sweep(&self) {
        self.limiter.retain_recent();
    }
}

pub async fn per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::extract::client_ip(&parts, state.config.trust_proxy);
    if let Err(wait) = state.ip_limiter.check(ip) {
        return ApiError::RateLimited(wait).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
