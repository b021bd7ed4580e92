//! Admission at the edge: the general per-IP limit (9001 with `Retry-After`; generous by default,
//! because many customers share a restaurant's Wi-Fi address; it protects against floods, not
//! customers), the bound on requests in flight (9002 at once rather than a queue: the actor
//! mailboxes behind the handlers are unbounded), and the per-request deadline.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use tokio::sync::Semaphore;

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

    /// `Err(wait)` when `ip` (its /64 for IPv6) is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), std::time::Duration> {
        self.limiter
            .check_key(&super::extract::limit_key(ip))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    pub fn sweep(&self) {
        self.limiter.retain_recent();
    }
}

pub async fn per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::extract::client_ip(&parts, state.config.trust_proxy_hops);
    if let Err(wait) = state.ip_limiter.check(ip) {
        return ApiError::RateLimited(wait).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// At most `MAX_IN_FLIGHT` requests run at once. A request over it is answered 9002 before any
/// handler sees it, so nothing it carried can run later.
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    pub fn new(max: usize) -> InFlight {
        InFlight(Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))))
    }
}

pub async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.0.clone().try_acquire_owned() else {
        return ApiError::Overloaded.into_response();
    };
    let limit = if req.uri().path().ends_with("/upload") {
        state.config.http.upload_timeout
    } else {
        state.config.http.request_timeout
    };
    // The body is read inside the handler, so this bounds a slow body too.
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}
