//! Builds the whole server from a [`Config`]: store, actors, auth, router, listener. `main.rs`,
//! the tests and the benches all go through [`Application::build`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actors::prize_wheel::PrizeWheelArgs;
use crate::actors::review_queue::ReviewQueueArgs;
use crate::actors::stock_ledger::StockLedgerArgs;
use crate::actors::{ReviewHandle, StockHandle, WalletDeps, Wallets, Wheels};
use crate::auth::wechat::Wechat;
use crate::auth::{sms, BanList, SignInCodes, Tokens};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::domain::draw::DEFAULT_CAMPAIGN_ID;
use crate::domain::time::{now_ms, wall_ms};
use crate::http::{self, limits::IpLimiter, AppState, Services};
use crate::notify::{CloseReason, Hub};
use crate::objects::ObjectStore;
use crate::store::group_commit::{DrawCommitter, RedemptionCommitter};
use crate::store::Store;
use crate::telemetry;

/// Bounds on every call to WeChat and the SMS providers: a slow provider costs a customer a few
/// seconds and a 1005/1008, never a hung request.
const OUTBOUND_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(8);

/// Idempotency records are kept at least 24 h; they are swept after 48 h.
const IDEMPOTENCY_KEEP_MS: i64 = 48 * 60 * 60 * 1000;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Store::connect_with(&config.database_url, config.db_pool_size, config.db_acquire_timeout).await?;
        store.migrate().await.context("running migrations")?;
        if config.jwt_generated {
            tracing::warn!("JWT_SECRET / JWT_REFRESH_SECRET not set: generated a random pair for this run (development only); tokens will not survive a restart");
        }

        let tokens = Tokens::new(&config);
        for (fam, until) in store.revoked_token_families(wall_ms()).await? {
            tokens.mark_revoked_until(&fam, until);
        }
        let banned = BanList::from_store(store.banned_user_ids().await?);
        if config.seed_demo {
            if store.seed_demo_wheel(now_ms()).await? {
                tracing::info!("seeded the demo wheel");
            }
            if store.seed_demo_shop(now_ms()).await? {
                tracing::info!("seeded the demo shop");
            }
        }
        let hub = Hub::with_ticker(config.ws.queue, config.ws.ticker_per_sec, config.ws.flush_every);
        let actors = config.actors;
        let cluster = match &config.cluster {
            Some(settings) => Some(Cluster::join(settings, store.clone(), actors.call_timeout).await?),
            None => None,
        };
        let wheels = Wheels::start(
            PrizeWheelArgs {
                campaign_id: DEFAULT_CAMPAIGN_ID,
                store: store.clone(),
                hub: hub.clone(),
                seed: config.wheel_seed,
                reservation_ttl: actors.reservation_ttl,
                business_tz: config.business_tz.clone(),
                stock_node: cluster.as_ref().map(|c| c.node_arc()),
            },
            actors.call_timeout,
        )
        .await?;
        let stock = StockHandle::start(
            StockLedgerArgs {
                store: store.clone(),
                hub: hub.clone(),
                reservation_ttl: actors.reservation_ttl,
                stock_node: cluster.as_ref().map(|c| c.node_arc()),
            },
            actors.call_timeout,
        )
        .await?;
        // Two committers kept p99 lowest on MySQL in the benchmarks (BENCHMARKS.md); SQLite has a
        // single writer anyway.
        let committers = config.group_commit_workers.unwrap_or(if config.is_sqlite() { 1 } else { 2 });
        let objects = ObjectStore::from_config(&config).await.context("opening object storage")?;
        let events = crate::events::EventBus::default();
        let loyalty = Arc::new(crate::actors::wallet::LoyaltyRules::new(
            config.business_tz.clone(),
            config.checkin_base,
            store.level_table().await?,
        ));
        let leaderboard =
            crate::actors::leaderboard::Leaderboard::start(store.clone(), &events, config.business_tz.clone()).await?;
        crate::actors::tasks::start_watcher(store.clone(), &events, hub.clone(), config.business_tz.clone());
        let wallets = Wallets::start(WalletDeps {
            events: events.clone(),
            loyalty: loyalty.clone(),
            store: store.clone(),
            hub: hub.clone(),
            wheels: wheels.clone(),
            stock: stock.clone(),
            draws: DrawCommitter::start(store.clone(), committers),
            exchanges: RedemptionCommitter::start(store.clone(), committers),
            draws_per_min: config.limits.draws_per_min,
            default_daily_limit: i64::from(config.limits.daily_draws),
            coupon_valid_days: config.coupon_valid_days,
            idle_after: config.wallet_idle,
            call_timeout: actors.call_timeout,
            cluster: cluster.clone(),
        })
        .await?;
        let tokens = Arc::new(tokens);
        let banned = Arc::new(banned);
        if let Some(cluster) = &cluster {
            let (on_lapse, forwarded, lapsed_wheels) = (wallets.clone(), wallets.clone(), wheels.clone());
            cluster.on_lapse(move || {
                on_lapse.drop_all();
                // Its stock blocks may have gone back to the pools meanwhile.
                lapsed_wheels.reload_all();
            });
            cluster
                .serve_wallet_calls(move |user_id, call| {
                    let wallets = forwarded.clone();
                    async move { wallets.serve_forwarded(user_id, call).await }
                })
                .await?;
            let local = crate::cluster::relay::Local {
                hub: hub.clone(),
                events: events.clone(),
                tokens: tokens.clone(),
                banned: banned.clone(),
                wheels: wheels.clone(),
                shop: stock.clone(),
            };
            crate::cluster::relay::Relay::start(cluster.name(), cluster.nats().clone(), local).await?;
            cluster.spawn_heartbeat();
        }
        let outbound = reqwest::Client::builder()
            .connect_timeout(OUTBOUND_CONNECT_TIMEOUT)
            .timeout(OUTBOUND_TIMEOUT)
            .build()
            .context("building the HTTP client for WeChat and SMS")?;
        let codes = Arc::new(SignInCodes::new(
            Duration::from_secs(config.limits.sms_phone_interval_s),
            config.limits.sms_per_ip_per_hour,
            !config.is_production(),
            sms::from_config(&config.sms, outbound.clone(), !config.is_production()),
        ));
        if let Some(cluster) = &cluster {
            // This node keeps the sign-in codes of the phones whose home it is.
            cluster.serve_code_calls(codes.clone()).await?;
        }
        let wechat = config.wechat.as_ref().map(|w| Arc::new(Wechat::new(w, outbound.clone())));
        let reviews = ReviewHandle::start(
            ReviewQueueArgs {
                store: store.clone(),
                wallets: wallets.clone(),
                hub: hub.clone(),
                objects: objects.clone(),
                image_link_ttl: http::photo::IMAGE_URL_TTL,
                upload_limits: http::photo::upload_limits(&config),
            },
            actors.call_timeout,
        )
        .await?;
        let addr = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
        let state = AppState::new(Services {
            ip_limiter: Arc::new(IpLimiter::per_minute(config.limits.per_ip_per_min)),
            admin_lockout: Arc::new(crate::auth::passwords::AdminLockout::new()),
            in_flight: http::limits::InFlight::new(config.http.max_in_flight),
            config: Arc::new(config),
            store,
            wallets,
            events,
            loyalty,
            leaderboard,
            wheels,
            stock,
            reviews,
            objects,
            hub,
            shutdown: CancellationToken::new(),
            sockets: TaskTracker::new(),
            tokens,
            cluster,
            codes,
            wechat,
            banned,
            metrics: telemetry::metrics_handle(),
            health: http::ops::HealthCache::default(),
            started: Instant::now(),
        });
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and stops the actors.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state.clone();
        let housekeeping = tokio::spawn(housekeeping(state.clone()));
        let flusher = state.hub.spawn_flusher(state.config.ws.flush_every);
        let app = http::router(state.clone());
        let stopping = state.shutdown.clone();
        let signal = async move {
            shutdown.await;
            // axum's graceful shutdown does not wait for upgraded WebSockets (tokio-rs/axum#3003):
            // tell every socket to close with 1001 and wait for them below.
            stopping.cancel();
        };
        serve(self.listener, app, &state.config.http, signal).await;
        state.hub.close_all(CloseReason::Shutdown);
        state.sockets.close();
        if tokio::time::timeout(Duration::from_secs(10), state.sockets.wait()).await.is_err() {
            tracing::warn!("some WebSockets did not close in time");
        }
        housekeeping.abort();
        flusher.abort();
        state.wallets.stop();
        state.wheels.stop();
        state.stock.stop();
        state.reviews.stop();
        if let Some(cluster) = &state.cluster {
            cluster.leave().await;
        }
        state.store.close().await;
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Accepts connections until `signal` resolves, then lets requests in flight finish for at most
/// the drain deadline. hyper is driven directly (not `axum::serve`) to give it a timer: without
/// one its header timeout never runs, and a client that never finishes its headers holds a
/// connection for ever.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    settings: &crate::config::HttpSettings,
    signal: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let connections = TaskTracker::new();
    let draining = CancellationToken::new();
    let closing = CancellationToken::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = app.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(settings.header_timeout).keep_alive(true);
        let idle = settings.idle_timeout;
        let (draining, closing) = (draining.clone(), closing.clone());
        connections.spawn(async move {
            let io = TokioIo::new(idle::IdleClose::new(stream, idle));
            let conn = builder.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = draining.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = conn => {}
                        _ = closing.cancelled() => {}
                    }
                }
            }
        });
    }
    drop(listener);
    draining.cancel();
    connections.close();
    if tokio::time::timeout(settings.drain_deadline, connections.wait()).await.is_err() {
        tracing::warn!("some connections were still busy at the drain deadline; closing them");
        closing.cancel();
        connections.wait().await;
    }
}

mod idle {
    //! A connection that nobody reads from or writes to for a while is closed: keep-alive
    //! connections must not be held open for ever by clients that went quiet.
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::time::{Instant, Sleep};

    pub struct IdleClose<S> {
        inner: S,
        idle: Duration,
        deadline: Pin<Box<Sleep>>,
    }

    impl<S> IdleClose<S> {
        pub fn new(inner: S, idle: Duration) -> Self {
            IdleClose { inner, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
        }

        fn touch(&mut self) {
            self.deadline.as_mut().reset(Instant::now() + self.idle);
        }
    }

    impl<S: AsyncRead + Unpin> AsyncRead for IdleClose<S> {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            match Pin::new(&mut self.inner).poll_read(cx, buf) {
                Poll::Ready(r) => {
                    if buf.filled().len() > before {
                        self.touch();
                    }
                    Poll::Ready(r)
                }
                Poll::Pending => match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection"))),
                    Poll::Pending => Poll::Pending,
                },
            }
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for IdleClose<S> {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write(cx, data);
            if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                self.touch();
            }
            r
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }
}

async fn housekeeping(state: AppState) {
    // The first tick is at once: what expired while the server was down goes at start.
    let mut tick = tokio::time::interval(http::SWEEP_EVERY);
    loop {
        tick.tick().await;
        state.codes.sweep();
        state.ip_limiter.sweep();
        state.admin_lockout.sweep(now_ms());
        state.wheels.sweep().await;
        match state.store.expire_idempotency(now_ms() - IDEMPOTENCY_KEEP_MS).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "expired idempotency records"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiring idempotency records failed"),
        }
        // Revoked families stay in memory only while some token of theirs could be presented.
        // Sessions run on the wall clock, like the tokens' `exp` (see crate::domain::time).
        let now = wall_ms();
        state.tokens.prune(now);
        match state.store.delete_expired_tokens(now).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "deleted expired token families and refresh tokens"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deleting expired tokens failed"),
        }
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
