//! Load generator: drives a running server over real HTTP and WebSocket the way a promotion does —
//! many customers signing in, holding sockets, and spinning the wheel at once — then audits every
//! balance against what the responses reported.
//!
//! ```text
//! cargo bench --bench loadgen -- --url http://127.0.0.1:3000 --users 2000 --sockets 2000 \
//!     --concurrency 256 --duration 60 --mix single --scenarios draws,exchange,fanout \
//!     --admin-user bench --admin-password bench-password --json bench-results/run.json
//! ```
//!
//! The server must run with the per-customer and per-IP limits raised (every request comes from
//! one address and each customer draws far more than 10 times a minute), e.g.
//! `DRAW_LIMIT_PER_MIN=100000000 RATE_LIMIT_PER_IP_PER_MIN=100000000`.
//!
//! The `live` scenario is a promotion with everyone listening: the same draw burst twice, first
//! with no socket open, then with `--sockets` held (listening as the mini-program does, batched
//! unless `--socket-mode single`), reporting draws/s and p99 of both, the server's CPU per draw
//! (utime + stime from `/proc/<server-pid>/stat`), commit → socket latency of the ticker and of
//! prize stock, the frames and messages delivered, the server's CPU per delivered message (from a
//! series of restocks to every socket), and the RSS per socket. Open files: the sockets need one
//! descriptor each on both sides; `scripts/bench` raises the limit (`ulimit -n`) for the server
//! and this process, and the limits in force are checked before sockets are opened.
//!
//! The `checkin` scenario is the morning rush of the daily check-in: every customer checks in at
//! once (`--concurrency` in flight), once per business day for `--checkin-days` days; between
//! days the server's clock moves on a day through the test hook `POST
//! /api/admin/test-hooks/clock`, so the server must run with `ENABLE_TEST_HOOKS=1` (development
//! only; `scripts/bench` sets it). It reports check-ins/s and latency over all days, and checks
//! that every customer holds exactly as many `checkin` ledger records as check-ins the server
//! acknowledged to them (one a day unless a request failed, which the errors column shows).
//!
//! The `idle` scenario is the day after a promotion: every signed-in customer draws once and goes
//! quiet. It reports the server's RSS per customer (against the RSS before the first sign-in)
//! while their wallets are still up, and again once the server's idle timer has stopped them all
//! (`wallet_actors_active` in `/metrics` at 0; run the server with a short `WALLET_IDLE_SECS`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

#[derive(Parser, Debug, Clone)]
#[command(about = "Drives a running restaurant-lottery server with draw bursts and socket fan-out")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Customers to sign in.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// WebSockets to hold open (spread over the customers, at most 3 each).
    #[arg(long, default_value_t = 0)]
    sockets: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds of the draw burst.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds of the exchange burst.
    #[arg(long, default_value_t = 15)]
    exchange_duration: u64,
    /// Draw types and weights, e.g. `single` or `single:70,triple:20,decade:10`.
    #[arg(long, default_value = "single")]
    mix: String,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "draws")]
    scenarios: Vec<Scenario>,
    #[arg(long, env = "BENCH_ADMIN_USER", default_value = "bench")]
    admin_user: String,
    #[arg(long, env = "BENCH_ADMIN_PASSWORD", default_value = "bench-password")]
    admin_password: String,
    /// First phone number of the simulated customers (11 digits, 1[3-9]…).
    #[arg(long, default_value_t = 17_000_000_000)]
    phone_base: u64,
    /// PID of the server, to report its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// How the sockets listen: `batch` (`?batch=1`, one frame per flush) or `single` (one
    /// message per change, as before batches existed).
    #[arg(long, value_enum, default_value = "batch")]
    socket_mode: SocketMode,
    /// Restocks timed to every socket in the live scenario (for the CPU per delivered message).
    #[arg(long, default_value_t = 5)]
    restocks: usize,
    /// Business days of the checkin scenario (every customer checks in once a day).
    #[arg(long, default_value_t = 3)]
    checkin_days: u32,
    /// Longest wait, in the idle scenario, for the idle timer to stop every wallet (the server's
    /// `WALLET_IDLE_SECS` plus its sweep).
    #[arg(long, default_value_t = 900)]
    idle_wait: u64,
    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Draws,
    Exchange,
    Fanout,
    /// Draws without sockets, then the same with every socket listening.
    Live,
    /// Every customer checks in at once, once per (hooked) business day.
    Checkin,
    /// Every customer draws once, then goes idle: the server's RSS per customer while their
    /// wallets wait for the idle timer, and after it stopped them.
    Idle,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SocketMode {
    Batch,
    Single,
}

struct Customer {
    id: i64,
    token: String,
    /// Balance after the top-up, as the server reported it.
    start: AtomicI64,
    /// Sum of changes the server acknowledged since then.
    net: AtomicI64,
}

/// Latencies (µs) and outcomes of one request type.
struct Series {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Series {
    fn new() -> Series {
        Series {
            hist: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")),
            ok: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn record(&self, took: Duration, code: Option<i64>) {
        let _ = self.hist.lock().unwrap_or_else(|p| p.into_inner()).record(took.as_micros().max(1) as u64);
        self.count(code);
    }

    /// Counts an outcome whose latency is kept in a worker's own histogram (merged at the end),
    /// so hundreds of workers do not queue on one lock.
    fn count(&self, code: Option<i64>) {
        match code {
            Some(0) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                let key = other.map(|c| c.to_string()).unwrap_or_else(|| "transport".into());
                *self.errors.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
            }
        }
    }

    fn reset(&self) {
        self.hist.lock().unwrap_or_else(|p| p.into_inner()).reset();
        self.ok.store(0, Ordering::Relaxed);
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn summary(&self, seconds: f64) -> Value {
        let h = self.hist.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let ok = self.ok.load(Ordering::Relaxed);
        json!({
            "requests": h.len(),
            "ok": ok,
            "throughput_per_s": if seconds > 0.0 { ok as f64 / seconds } else { 0.0 },
            "latency_ms": { "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p99_9": ms(0.999), "max": h.max() as f64 / 1000.0 },
            "errors": *self.errors.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

struct Shared {
    args: Args,
    http: reqwest::Client,
    customers: Vec<Customer>,
    series: BTreeMap<&'static str, Series>,
    /// Commit → socket delivery of a customer's own updates (µs).
    delivery: Mutex<Histogram<u64>>,
    fanout: Mutex<Histogram<u64>>,
    fanout_mark: Mutex<Option<(i64, Instant)>>,
    fanout_seen: AtomicUsize,
    sockets_open: AtomicUsize,
    /// Commit → socket of ticker wins and of prize stock (µs), from the item's own timestamp.
    ticker: Mutex<Histogram<u64>>,
    prize_stock: Mutex<Histogram<u64>>,
    /// Frames received on every socket, and the messages in them (a batch counts its items).
    frames: AtomicU64,
    messages: AtomicU64,
}

fn hist() -> Mutex<Histogram<u64>> {
    Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"))
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> (Option<i64>, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(r) => match r.json::<Value>().await {
            Ok(v) => (v["code"].as_i64(), v),
            Err(_) => (None, Value::Null),
        },
        Err(_) => (None, Value::Null),
    }
}

fn parse_mix(mix: &str) -> Vec<(String, u32)> {
    mix.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| match part.split_once(':') {
            Some((t, w)) => (t.trim().to_string(), w.trim().parse().unwrap_or(1)),
            None => (part.trim().to_string(), 1),
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(16))
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();

    let (code, admin) = post(
        &http,
        format!("{base}/api/auth/admin-login"),
        None,
        json!({ "username": args.admin_user, "password": args.admin_password }),
    )
    .await;
    anyhow::ensure!(code == Some(0), "admin login failed ({admin}); create one with `restaurant-lottery create-admin`");
    let admin_token = admin["data"]["access_token"].as_str().unwrap_or_default().to_string();

    let rss_at_start = args.server_pid.map(rss_mib);
    // Sign in and top up every customer so nobody runs dry during the burst.
    println!("signing in {} customers …", args.users);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut joins = Vec::new();
    for i in 0..args.users {
        let (http, base, gate, admin) = (http.clone(), base.clone(), gate.clone(), admin_token.clone());
        let phone = (args.phone_base + i as u64).to_string();
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await.ok()?;
            let (code, v) =
                post(&http, format!("{base}/api/auth/login"), None, json!({ "phone": phone, "code": "123456" })).await;
            if code != Some(0) {
                return None;
            }
            let id = v["data"]["user_info"]["user_id"].as_i64()?;
            let token = v["data"]["access_token"].as_str()?.to_string();
            let (code, top) = post(
                &http,
                format!("{base}/api/admin/users/{id}/points"),
                Some(&admin),
                json!({ "delta": 1_000_000, "reason": "load test" }),
            )
            .await;
            let start = if code == Some(0) {
                top["data"]["total_points"].as_i64()?
            } else {
                // Already topped up by an earlier run past the cap: read the balance instead.
                let info = http
                    .get(format!("{base}/api/user/info"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json::<Value>()
                    .await
                    .ok()?;
                info["data"]["total_points"].as_i64()?
            };
            Some(Customer { id, token, start: AtomicI64::new(start), net: AtomicI64::new(0) })
        }));
    }
    let mut customers = Vec::new();
    for j in joins {
        if let Ok(Some(c)) = j.await {
            customers.push(c);
        }
    }
    anyhow::ensure!(!customers.is_empty(), "no customer could sign in");
    println!("  {} signed in and topped up in {:.1} s", customers.len(), started.elapsed().as_secs_f64());

    let mut series = BTreeMap::new();
    for (t, _) in parse_mix(&args.mix) {
        let name: &'static str = Box::leak(format!("draw_{t}").into_boxed_str());
        series.insert(name, Series::new());
    }
    series.insert("exchange", Series::new());
    series.insert("checkin", Series::new());
    let shared = Arc::new(Shared {
        args: args.clone(),
        http: http.clone(),
        customers,
        series,
        delivery: hist(),
        fanout: hist(),
        fanout_mark: Mutex::new(None),
        fanout_seen: AtomicUsize::new(0),
        sockets_open: AtomicUsize::new(0),
        ticker: hist(),
        prize_stock: hist(),
        frames: AtomicU64::new(0),
        messages: AtomicU64::new(0),
    });

    let live = args.scenarios.contains(&Scenario::Live);
    if !live {
        open_sockets(&shared, &base).await;
    }
    let mut report = serde_json::Map::new();
    report.insert("users".into(), json!(shared.customers.len()));
    report.insert("sockets".into(), json!(shared.sockets_open.load(Ordering::Relaxed)));
    report.insert("concurrency".into(), json!(args.concurrency));
    if let Some(pid) = args.server_pid {
        report.insert("server_rss_mib_with_sockets".into(), json!(rss_mib(pid)));
    }

    if live {
        report.insert("live".into(), live_scenario(&shared, &base, &admin_token).await?);
    }
    if args.scenarios.contains(&Scenario::Draws) {
        let secs = burst(&shared, &base, Duration::from_secs(args.duration), Work::Draws).await;
        report.insert("draw_seconds".into(), json!(secs));
        for (name, s) in &shared.series {
            if name.starts_with("draw_") {
                report.insert((*name).into(), s.summary(secs));
            }
        }
    }
    let bench_product = if args.scenarios.iter().any(|s| matches!(s, Scenario::Exchange | Scenario::Fanout)) {
        Some(bench_product(&shared, &base, &admin_token).await?)
    } else {
        None
    };
    if let (true, Some(pid)) = (args.scenarios.contains(&Scenario::Exchange), bench_product) {
        let secs = burst(&shared, &base, Duration::from_secs(args.exchange_duration), Work::Exchange(pid)).await;
        report.insert("exchange".into(), shared.series["exchange"].summary(secs));
    }
    if let (true, Some(pid)) = (args.scenarios.contains(&Scenario::Fanout), bench_product) {
        report.insert("fanout".into(), fanout(&shared, &base, &admin_token, pid).await);
    }
    if args.scenarios.contains(&Scenario::Checkin) {
        report.insert("checkin".into(), checkin_scenario(&shared, &base, &admin_token).await?);
    }
    if args.scenarios.contains(&Scenario::Idle) {
        report.insert("idle".into(), idle_scenario(&shared, &base, rss_at_start).await?);
    }
    // Let the last socket messages arrive before reading the delivery histogram.
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let d = shared.delivery.lock().unwrap_or_else(|p| p.into_inner());
        report.insert("ws_delivery_ms".into(), quantiles(&d));
    }
    let mismatches = audit(&shared, &base).await;
    report.insert("audit_mismatches".into(), json!(mismatches));
    if let Some(pid) = args.server_pid {
        report.insert("server_rss_mib_end".into(), json!(rss_mib(pid)));
    }

    print_table(&report);
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(report.clone()))?)?;
        let svg = path.with_extension("svg");
        std::fs::write(&svg, latency_svg(&report))?;
        println!("results written to {} (chart: {})", path.display(), svg.display());
    }
    anyhow::ensure!(mismatches == 0, "{mismatches} balances disagree with the acknowledged responses");
    if let Some(c) = report.get("checkin") {
        let wrong = c["record_mismatches"].as_u64().unwrap_or(u64::MAX);
        anyhow::ensure!(wrong == 0, "{wrong} customers' check-in records differ from the acknowledged check-ins");
    }
    Ok(())
}

fn quantiles(h: &Histogram<u64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({ "samples": h.len(), "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p99_9": ms(0.999), "max": h.max() as f64 / 1000.0 })
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Server timestamps are ISO 8601 UTC with milliseconds; both ends share this machine's clock.
fn age_us(ts: &str) -> Option<u64> {
    let sent = chrono::DateTime::parse_from_rfc3339(ts).ok()?.timestamp_micros();
    let now = chrono::Utc::now().timestamp_micros();
    Some((now - sent).max(1) as u64)
}

async fn open_sockets(shared: &Arc<Shared>, base: &str) {
    let n = shared.args.sockets.min(shared.customers.len() * 3);
    if n == 0 {
        return;
    }
    println!("opening {n} sockets …");
    for (who, pid) in [("loadgen", Some(std::process::id())), ("server", shared.args.server_pid)] {
        if let Some(limit) = pid.and_then(open_files_limit) {
            if limit < (n + shared.args.concurrency + 64) as u64 {
                println!("  warning: the {who} may open {limit} files, fewer than {n} sockets need (ulimit -n)");
            }
        }
    }
    let started = Instant::now();
    let ws_base = base.replacen("http://", "ws://", 1);
    let batch = if shared.args.socket_mode == SocketMode::Batch { "&batch=1" } else { "" };
    let gate = Arc::new(Semaphore::new(128));
    let mut joins = Vec::new();
    for i in 0..n {
        let (shared, gate) = (shared.clone(), gate.clone());
        let url = format!("{ws_base}/ws?token={}{batch}", shared.customers[i % shared.customers.len()].token);
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await.ok()?;
            let (stream, _) = tokio_tungstenite::connect_async(url).await.ok()?;
            shared.sockets_open.fetch_add(1, Ordering::Relaxed);
            // Broadcast latency is sampled on one socket in 16: every socket recording into one
            // histogram would make the load generator queue on its lock.
            tokio::spawn(read_socket(shared.clone(), stream, i % 16 == 0));
            Some(())
        }));
    }
    for j in joins {
        let _ = j.await;
    }
    println!("  {} open in {:.1} s", shared.sockets_open.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
}

async fn read_socket(
    shared: Arc<Shared>,
    mut stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    sampled: bool,
) {
    use tokio_tungstenite::tungstenite::Message;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
        shared.frames.fetch_add(1, Ordering::Relaxed);
        match v["data"].as_array() {
            Some(items) if v["type"] == "batch" => {
                shared.messages.fetch_add(items.len() as u64, Ordering::Relaxed);
                for item in items {
                    observe(&shared, item, sampled);
                }
            }
            _ => {
                shared.messages.fetch_add(1, Ordering::Relaxed);
                observe(&shared, &v, sampled);
            }
        }
    }
}

/// Records what one message (alone or inside a batch) says about delivery.
fn observe(shared: &Shared, v: &Value, sampled: bool) {
    match v["type"].as_str() {
        Some("points_update") | Some("lottery_result") => {
            if let Some(us) = v["timestamp"].as_str().and_then(age_us) {
                let _ = shared.delivery.lock().unwrap_or_else(|p| p.into_inner()).record(us);
            }
        }
        Some(kind @ ("wheel_win" | "prize_stock_update")) if sampled => {
            let h = if kind == "wheel_win" { &shared.ticker } else { &shared.prize_stock };
            if let Some(us) = v["timestamp"].as_str().and_then(age_us) {
                let _ = h.lock().unwrap_or_else(|p| p.into_inner()).record(us);
            }
        }
        Some("stock_update") => {
            let mark = *shared.fanout_mark.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((product, t0)) = mark {
                if v["data"]["product_id"].as_i64() == Some(product) && v["data"]["operation"] == "restock" {
                    let _ = shared
                        .fanout
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(t0.elapsed().as_micros().max(1) as u64);
                    shared.fanout_seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy)]
enum Work {
    Draws,
    Exchange(i64),
}

/// Runs `work` at the configured concurrency for `length`; returns the measured seconds.
async fn burst(shared: &Arc<Shared>, base: &str, length: Duration, work: Work) -> f64 {
    let label = match work {
        Work::Draws => "draw",
        Work::Exchange(_) => "exchange",
    };
    println!("{label} burst: {} in flight for {} s …", shared.args.concurrency, length.as_secs());
    let mix: Vec<(String, u32)> = parse_mix(&shared.args.mix);
    let total_weight: u32 = mix.iter().map(|(_, w)| w).sum::<u32>().max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + length;
    let mut workers = Vec::new();
    for w in 0..shared.args.concurrency {
        let (shared, next, mix, base) = (shared.clone(), next.clone(), mix.clone(), base.to_string());
        workers.push(tokio::spawn(async move {
            let mut local: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
            let mut k = w as u32;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % shared.customers.len();
                let c = &shared.customers[i];
                let t0 = Instant::now();
                match work {
                    Work::Draws => {
                        k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        let mut pick = k % total_weight;
                        let kind = mix
                            .iter()
                            .find(|(_, wgt)| {
                                if pick < *wgt {
                                    true
                                } else {
                                    pick -= wgt;
                                    false
                                }
                            })
                            .map(|(t, _)| t.as_str())
                            .unwrap_or("single");
                        let (code, v) = post(
                            &shared.http,
                            format!("{base}/api/lottery/draw"),
                            Some(&c.token),
                            json!({ "draw_type": kind }),
                        )
                        .await;
                        let key = format!("draw_{kind}");
                        if let Some(s) = shared.series.get(key.as_str()) {
                            s.record(t0.elapsed(), code);
                        }
                        if code == Some(0) {
                            let cost = v["data"]["points_cost"].as_i64().unwrap_or(0);
                            let won = v["data"]["points_won"].as_i64().unwrap_or(0);
                            c.net.fetch_add(won - cost, Ordering::Relaxed);
                        }
                    }
                    Work::Exchange(product) => {
                        let (code, v) = post(
                            &shared.http,
                            format!("{base}/api/exchange/redeem"),
                            Some(&c.token),
                            json!({ "product_id": product, "quantity": 1 }),
                        )
                        .await;
                        shared.series["exchange"].count(code);
                        let h = local
                            .entry("exchange")
                            .or_insert_with(|| Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds"));
                        let _ = h.record(t0.elapsed().as_micros().max(1) as u64);
                        if code == Some(0) {
                            c.net.fetch_sub(v["data"]["points_cost"].as_i64().unwrap_or(0), Ordering::Relaxed);
                        }
                    }
                }
            }
            for (name, h) in local {
                if let Some(s) = shared.series.get(name) {
                    let _ = s.hist.lock().unwrap_or_else(|p| p.into_inner()).add(&h);
                }
            }
        }));
    }
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let done: u64 = shared.series.values().map(|s| s.ok.load(Ordering::Relaxed)).sum();
                let errors: u64 = shared
                    .series
                    .values()
                    .map(|s| s.errors.lock().unwrap_or_else(|p| p.into_inner()).values().sum::<u64>())
                    .sum();
                println!(
                    "  {:>5.1} s  {:>7} ok/s  {:>9} ok  {:>6} errors",
                    started.elapsed().as_secs_f64(),
                    done - last,
                    done,
                    errors
                );
                last = done;
            }
        })
    };
    for w in workers {
        let _ = w.await;
    }
    progress.abort();
    started.elapsed().as_secs_f64()
}

/// The idle scenario (see the module documentation).
async fn idle_scenario(shared: &Arc<Shared>, base: &str, rss_at_start: Option<f64>) -> anyhow::Result<Value> {
    let (Some(pid), Some(rss_at_start)) = (shared.args.server_pid, rss_at_start) else {
        anyhow::bail!("the idle scenario reads the server's memory: pass --server-pid");
    };
    let n = shared.customers.len();
    let series = shared.series.get("draw_single").ok_or_else(|| anyhow::anyhow!("the idle scenario draws singles"))?;
    println!("idle: {n} customers draw once, {} in flight …", shared.args.concurrency);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..shared.args.concurrency.min(n) {
        let (shared, next, base) = (shared.clone(), next.clone(), base.to_string());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = shared.customers.get(i) else { break };
                let t0 = Instant::now();
                let (code, v) = post(
                    &shared.http,
                    format!("{base}/api/lottery/draw"),
                    Some(&c.token),
                    json!({ "draw_type": "single" }),
                )
                .await;
                shared.series["draw_single"].record(t0.elapsed(), code);
                if code == Some(0) {
                    let net =
                        v["data"]["points_won"].as_i64().unwrap_or(0) - v["data"]["points_cost"].as_i64().unwrap_or(0);
                    c.net.fetch_add(net, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let drew = series.ok.load(Ordering::Relaxed);
    println!("  {drew} of {n} drew in {:.1} s", started.elapsed().as_secs_f64());
    // Let what follows a draw (the task watcher, the leaderboards, the ticker) settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_customer_kib = |rss: f64| (rss - rss_at_start) * 1024.0 / n.max(1) as f64;
    let wallets_up = wallets_active(&shared.http, base).await;
    let rss_up = rss_mib(pid);
    println!(
        "  {} wallets up: server RSS {rss_up:.1} MiB ({:.2} KiB per customer over {rss_at_start:.1} MiB before the sign-ins)",
        wallets_up.map_or("?".to_string(), |w| w.to_string()),
        per_customer_kib(rss_up)
    );
    println!("  waiting (at most {} s) for the idle timer to stop every wallet …", shared.args.idle_wait);
    let waited = Instant::now();
    let mut wallets_left = wallets_up;
    while waited.elapsed() < Duration::from_secs(shared.args.idle_wait) {
        wallets_left = wallets_active(&shared.http, base).await;
        if wallets_left == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The allocator hands freed pages back to the system on its own schedule.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_idle = rss_mib(pid);
    println!(
        "  {} wallets up after {:.0} s: server RSS {rss_idle:.1} MiB ({:.2} KiB per customer)",
        wallets_left.map_or("?".to_string(), |w| w.to_string()),
        waited.elapsed().as_secs_f64(),
        per_customer_kib(rss_idle)
    );
    Ok(json!({
        "customers": n,
        "drew": drew,
        "rss_mib_before_sign_ins": rss_at_start,
        "wallets_up": wallets_up,
        "rss_mib_wallets_up": rss_up,
        "kib_per_customer_wallets_up": per_customer_kib(rss_up),
        "wallets_left": wallets_left,
        "rss_mib_wallets_stopped": rss_idle,
        "kib_per_customer_wallets_stopped": per_customer_kib(rss_idle),
    }))
}

/// `wallet_actors_active` from the server's `/metrics` (open to loopback).
async fn wallets_active(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("wallet_actors_active "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// The checkin scenario (see the module documentation).
async fn checkin_scenario(shared: &Arc<Shared>, base: &str, admin: &str) -> anyhow::Result<Value> {
    const DAY_MS: i64 = 86_400_000;
    let days = shared.args.checkin_days.max(1);
    let n = shared.customers.len();
    let series = &shared.series["checkin"];
    series.reset();
    // Check-ins acknowledged to each customer (by index): what their ledger must hold.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let mut seconds = 0.0;
    let mut per_day = Vec::new();
    for day in 0..days {
        if day > 0 {
            // Exactly a day on from the wall clock, whatever time it is: each day is a new one.
            let (code, v) = post(
                &shared.http,
                format!("{base}/api/admin/test-hooks/clock"),
                Some(admin),
                json!({ "offset_ms": i64::from(day) * DAY_MS }),
            )
            .await;
            anyhow::ensure!(code == Some(0), "moving the clock failed ({v}): run the server with ENABLE_TEST_HOOKS=1");
        }
        println!("check-in day {}: {n} customers, {} in flight …", day + 1, shared.args.concurrency);
        let ok_before = series.ok.load(Ordering::Relaxed);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..shared.args.concurrency.min(n) {
            let (shared, next, base, acked) = (shared.clone(), next.clone(), base.to_string(), acked.clone());
            workers.push(tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = shared.customers.get(i) else { break };
                    let t0 = Instant::now();
                    let (code, v) = post(&shared.http, format!("{base}/api/checkin"), Some(&c.token), json!({})).await;
                    let _ = h.record(t0.elapsed().as_micros().max(1) as u64);
                    shared.series["checkin"].count(code);
                    if code == Some(0) {
                        acked[i].fetch_add(1, Ordering::Relaxed);
                        let credited = v["data"]["points_awarded"].as_i64().unwrap_or(0)
                            + v["data"]["bonus_points"].as_i64().unwrap_or(0);
                        c.net.fetch_add(credited, Ordering::Relaxed);
                    }
                }
                let _ = shared.series["checkin"].hist.lock().unwrap_or_else(|p| p.into_inner()).add(&h);
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        let secs = started.elapsed().as_secs_f64();
        seconds += secs;
        let ok = series.ok.load(Ordering::Relaxed) - ok_before;
        println!("  {ok} of {n} checked in in {secs:.2} s ({:.0} check-ins/s)", ok as f64 / secs.max(1e-9));
        per_day
            .push(json!({ "day": day + 1, "ok": ok, "seconds": secs, "checkins_per_s": ok as f64 / secs.max(1e-9) }));
    }

    // Exactly once: each customer's ledger holds one check-in per acknowledged check-in.
    println!("checking {n} customers' check-in records …");
    let gate = Arc::new(Semaphore::new(64));
    let wrong = Arc::new(AtomicU64::new(0));
    let mut joins = Vec::new();
    for i in 0..n {
        let (shared, gate, wrong, base) = (shared.clone(), gate.clone(), wrong.clone(), base.to_string());
        let expected = acked[i].load(Ordering::Relaxed) as i64;
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            let c = &shared.customers[i];
            let url = format!("{base}/api/user/points-records?source=checkin");
            let total = match shared.http.get(url).bearer_auth(&c.token).send().await {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["data"]["pagination"]["total"].as_i64()),
                Err(_) => None,
            };
            if total != Some(expected) {
                wrong.fetch_add(1, Ordering::Relaxed);
                eprintln!("CHECK-INS user {}: {total:?} records, {expected} acknowledged", c.id);
            }
        }));
    }
    for j in joins {
        let _ = j.await;
    }
    let mut out = series.summary(seconds);
    out["days"] = json!(days);
    out["customers"] = json!(n);
    out["per_day"] = json!(per_day);
    out["record_mismatches"] = json!(wrong.load(Ordering::Relaxed));
    println!("  {} customers whose check-in records differ from the acknowledged", wrong.load(Ordering::Relaxed));
    Ok(out)
}

/// A product with stock for the whole exchange burst.
async fn bench_product(shared: &Arc<Shared>, base: &str, admin: &str) -> anyhow::Result<i64> {
    let (code, v) = post(
        &shared.http,
        format!("{base}/api/admin/products"),
        Some(admin),
        json!({ "name": "压测套餐", "description": "load test", "category": "压测", "exchange_points": 10, "stock": 5_000_000, "sort_order": 999 }),
    )
    .await;
    anyhow::ensure!(code == Some(0), "creating the bench product failed: {v}");
    v["data"]["id"].as_i64().ok_or_else(|| anyhow::anyhow!("no product id in {v}"))
}

/// One restock, measured until every open socket has seen it.
async fn fanout(shared: &Arc<Shared>, base: &str, admin: &str, product: i64) -> Value {
    let open = shared.sockets_open.load(Ordering::Relaxed);
    println!("fan-out: one restock to {open} sockets …");
    shared.fanout.lock().unwrap_or_else(|p| p.into_inner()).reset();
    shared.fanout_seen.store(0, Ordering::Relaxed);
    *shared.fanout_mark.lock().unwrap_or_else(|p| p.into_inner()) = Some((product, Instant::now()));
    let (code, _) = post(
        &shared.http,
        format!("{base}/api/admin/products/{product}/restock"),
        Some(admin),
        json!({ "quantity": 1 }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while shared.fanout_seen.load(Ordering::Relaxed) < open && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let h = shared.fanout.lock().unwrap_or_else(|p| p.into_inner());
    let mut v = quantiles(&h);
    v["restock_ok"] = json!(code == Some(0));
    v["sockets"] = json!(open);
    v["delivered"] = json!(shared.fanout_seen.load(Ordering::Relaxed));
    v
}

/// The server's CPU time so far (utime + stime from `/proc/<pid>/stat`), in seconds. Linux counts
/// it in clock ticks of 10 ms (`getconf CLK_TCK` = 100 on every common build).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The soft limit of open files of a process (`Max open files` in `/proc/<pid>/limits`).
fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Draws a request of each type stands for.
fn draws_per_request(series: &str) -> u64 {
    match series {
        "draw_triple" => 3,
        "draw_decade" => 10,
        _ => 1,
    }
}

/// One draw burst of the live scenario: throughput, latency and the server's CPU per draw.
async fn live_burst(shared: &Arc<Shared>, base: &str, label: &str) -> Value {
    for s in shared.series.values() {
        s.reset();
    }
    let pid = shared.args.server_pid;
    let cpu_before = pid.and_then(cpu_seconds);
    let secs = burst(shared, base, Duration::from_secs(shared.args.duration), Work::Draws).await;
    let cpu = pid.and_then(cpu_seconds).zip(cpu_before).map(|(after, before)| after - before);
    let mut out = serde_json::Map::new();
    let mut draws = 0;
    let mut worst_p99: f64 = 0.0;
    for (name, s) in &shared.series {
        if name.starts_with("draw_") {
            draws += s.ok.load(Ordering::Relaxed) * draws_per_request(name);
            let summary = s.summary(secs);
            worst_p99 = worst_p99.max(summary["latency_ms"]["p99"].as_f64().unwrap_or(0.0));
            out.insert((*name).into(), summary);
        }
    }
    out.insert("seconds".into(), json!(secs));
    out.insert("draws".into(), json!(draws));
    out.insert("draws_per_s".into(), json!(draws as f64 / secs.max(1e-9)));
    out.insert("p99_ms".into(), json!(worst_p99));
    if let Some(cpu) = cpu {
        out.insert("server_cpu_s".into(), json!(cpu));
        out.insert("server_cpu_us_per_draw".into(), json!(cpu * 1e6 / draws.max(1) as f64));
    }
    println!(
        "  {label}: {draws} draws, {:.0} draws/s, p99 {worst_p99:.2} ms, server CPU {}",
        draws as f64 / secs.max(1e-9),
        cpu.map(|c| format!("{:.1} µs per draw", c * 1e6 / draws.max(1) as f64)).unwrap_or_else(|| "unknown".into())
    );
    Value::Object(out)
}

/// Draws with nobody listening, then the same burst with every socket open; then restocks to
/// every socket for the CPU per delivered message.
async fn live_scenario(shared: &Arc<Shared>, base: &str, admin: &str) -> anyhow::Result<Value> {
    let pid = shared.args.server_pid;
    stock_up_prizes(shared, base, admin).await?;
    println!("live: the draw burst without sockets …");
    let quiet = live_burst(shared, base, "without sockets").await;
    let rss_before = pid.map(rss_mib);
    open_sockets(shared, base).await;
    // Let the greetings and any pending flush arrive before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = shared.sockets_open.load(Ordering::Relaxed);
    let rss_open = pid.map(rss_mib);
    for h in [&shared.ticker, &shared.prize_stock] {
        h.lock().unwrap_or_else(|p| p.into_inner()).reset();
    }
    let (frames0, messages0) = (shared.frames.load(Ordering::Relaxed), shared.messages.load(Ordering::Relaxed));
    println!("live: the same burst with {open} sockets listening ({:?}) …", shared.args.socket_mode);
    let loud = live_burst(shared, base, "with sockets").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frames = shared.frames.load(Ordering::Relaxed) - frames0;
    let messages = shared.messages.load(Ordering::Relaxed) - messages0;

    let product = bench_product(shared, base, admin).await?;
    let mut delivered = 0;
    let mut restock_ms = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
    let cpu_before = pid.and_then(cpu_seconds);
    for _ in 0..shared.args.restocks {
        let one = fanout(shared, base, admin, product).await;
        delivered += one["delivered"].as_u64().unwrap_or(0);
        let _ = restock_ms.add(&*shared.fanout.lock().unwrap_or_else(|p| p.into_inner()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restock_cpu = pid.and_then(cpu_seconds).zip(cpu_before).map(|(after, before)| after - before);

    let ratio = |key: &str| {
        let (a, b) = (loud[key].as_f64().unwrap_or(0.0), quiet[key].as_f64().unwrap_or(0.0));
        if b > 0.0 {
            json!(a / b)
        } else {
            Value::Null
        }
    };
    let extra_cpu_per_frame = match (loud["server_cpu_s"].as_f64(), quiet["server_cpu_us_per_draw"].as_f64()) {
        (Some(cpu), Some(per_draw)) if frames > 0 => {
            let fanout_cpu = cpu - per_draw * 1e-6 * loud["draws"].as_f64().unwrap_or(0.0);
            json!(fanout_cpu.max(0.0) * 1e6 / frames as f64)
        }
        _ => Value::Null,
    };
    let rss_per_socket_kib = match (rss_before, rss_open) {
        (Some(a), Some(b)) if open > 0 => json!((b - a) * 1024.0 / open as f64),
        _ => Value::Null,
    };
    let live = json!({
        "socket_mode": format!("{:?}", shared.args.socket_mode).to_lowercase(),
        "sockets": open,
        "without_sockets": quiet,
        "with_sockets": loud,
        "draws_per_s_ratio": ratio("draws_per_s"),
        "cpu_per_draw_ratio": ratio("server_cpu_us_per_draw"),
        "frames_during_draws": frames,
        "messages_during_draws": messages,
        "fanout_cpu_us_per_frame_during_draws": extra_cpu_per_frame,
        "ticker_commit_to_socket_ms": quantiles(&shared.ticker.lock().unwrap_or_else(|p| p.into_inner())),
        "prize_stock_commit_to_socket_ms": quantiles(&shared.prize_stock.lock().unwrap_or_else(|p| p.into_inner())),
        "restocks": shared.args.restocks,
        "restock_delivered": delivered,
        "restock_to_socket_ms": quantiles(&restock_ms),
        "restock_cpu_us_per_message": restock_cpu.filter(|_| delivered > 0).map(|c| c * 1e6 / delivered as f64),
        "server_rss_mib_before_sockets": rss_before,
        "server_rss_mib_with_sockets": rss_open,
        "server_rss_kib_per_socket": rss_per_socket_kib,
    });
    print_live(&live);
    Ok(live)
}

/// Gives every limited prize far more stock than a run can win, so that both bursts draw the
/// same wheel and the second one keeps changing prize stock (the demo's 10 and 100 units would be
/// gone within the first second).
async fn stock_up_prizes(shared: &Arc<Shared>, base: &str, admin: &str) -> anyhow::Result<()> {
    let wheel: Value =
        shared.http.get(format!("{base}/api/admin/lottery/prizes")).bearer_auth(admin).send().await?.json().await?;
    for prize in wheel["data"]["prizes"].as_array().into_iter().flatten() {
        if let (Some(id), Some(_)) = (prize["id"].as_i64(), prize["stock"].as_i64()) {
            let (code, v) = post(
                &shared.http,
                format!("{base}/api/admin/lottery/prizes/{id}/stock"),
                Some(admin),
                json!({ "add": 1_000_000 }),
            )
            .await;
            anyhow::ensure!(code == Some(0), "adding stock to prize {id} failed: {v}");
        }
    }
    Ok(())
}

fn print_live(live: &Value) {
    let q = |v: &Value| {
        format!(
            "{} samples, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v["samples"],
            v["p50"].as_f64().unwrap_or(0.0),
            v["p99"].as_f64().unwrap_or(0.0),
            v["max"].as_f64().unwrap_or(0.0)
        )
    };
    let f = |v: &Value| v.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into());
    println!();
    println!("live ({} sockets, {}):", live["sockets"], live["socket_mode"].as_str().unwrap_or(""));
    println!("{:<34} {:>12} {:>12} {:>8}", "", "no sockets", "sockets", "ratio");
    for (label, key, ratio) in [
        ("draws/s", "draws_per_s", "draws_per_s_ratio"),
        ("server CPU per draw (µs)", "server_cpu_us_per_draw", "cpu_per_draw_ratio"),
        ("p99 (ms, worst draw type)", "p99_ms", ""),
    ] {
        println!(
            "{label:<34} {:>12} {:>12} {:>8}",
            f(&live["without_sockets"][key]),
            f(&live["with_sockets"][key]),
            if ratio.is_empty() { String::new() } else { f(&live[ratio]) }
        );
    }
    println!(
        "frames / messages during the draws: {} / {}; fan-out CPU per frame: {} µs",
        live["frames_during_draws"],
        live["messages_during_draws"],
        f(&live["fanout_cpu_us_per_frame_during_draws"])
    );
    println!("ticker commit → socket: {}", q(&live["ticker_commit_to_socket_ms"]));
    println!("prize stock commit → socket: {}", q(&live["prize_stock_commit_to_socket_ms"]));
    println!(
        "{} restocks → {} messages: {}; server CPU {} µs per message",
        live["restocks"],
        live["restock_delivered"],
        q(&live["restock_to_socket_ms"]),
        f(&live["restock_cpu_us_per_message"])
    );
    println!(
        "server RSS: {} MiB before sockets, {} MiB with them, {} KiB per socket",
        f(&live["server_rss_mib_before_sockets"]),
        f(&live["server_rss_mib_with_sockets"]),
        f(&live["server_rss_kib_per_socket"])
    );
    println!();
}

/// Every balance must equal its start plus what the acknowledged responses reported.
async fn audit(shared: &Arc<Shared>, base: &str) -> u64 {
    println!("auditing {} balances …", shared.customers.len());
    let gate = Arc::new(Semaphore::new(64));
    let mismatches = Arc::new(AtomicU64::new(0));
    let mut joins = Vec::new();
    for i in 0..shared.customers.len() {
        let (shared, gate, mismatches, base) = (shared.clone(), gate.clone(), mismatches.clone(), base.to_string());
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            let c = &shared.customers[i];
            let expected = c.start.load(Ordering::Relaxed) + c.net.load(Ordering::Relaxed);
            let got = match shared.http.get(format!("{base}/api/user/info")).bearer_auth(&c.token).send().await {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["data"]["total_points"].as_i64()),
                Err(_) => None,
            };
            if got != Some(expected) {
                mismatches.fetch_add(1, Ordering::Relaxed);
                eprintln!("MISMATCH user {}: expected {expected}, server says {got:?}", c.id);
            }
        }));
    }
    for j in joins {
        let _ = j.await;
    }
    mismatches.load(Ordering::Relaxed)
}

fn print_table(report: &serde_json::Map<String, Value>) {
    println!();
    println!(
        "{:<16} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}  errors",
        "request", "ok", "ok/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (name, v) in report {
        let Some(lat) = v.get("latency_ms") else { continue };
        println!(
            "{:<16} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            name,
            v["ok"],
            v["throughput_per_s"].as_f64().unwrap_or(0.0),
            lat["p50"].as_f64().unwrap_or(0.0),
            lat["p90"].as_f64().unwrap_or(0.0),
            lat["p99"].as_f64().unwrap_or(0.0),
            lat["p99_9"].as_f64().unwrap_or(0.0),
            lat["max"].as_f64().unwrap_or(0.0),
            v["errors"],
        );
    }
    for key in ["ws_delivery_ms", "fanout"] {
        if let Some(v) = report.get(key) {
            println!(
                "{:<16} {:>9} {:>10} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                key,
                v["samples"],
                "",
                v["p50"].as_f64().unwrap_or(0.0),
                v["p90"].as_f64().unwrap_or(0.0),
                v["p99"].as_f64().unwrap_or(0.0),
                v["p99_9"].as_f64().unwrap_or(0.0),
                v["max"].as_f64().unwrap_or(0.0)
            );
        }
    }
    for key in
        ["users", "sockets", "concurrency", "server_rss_mib_with_sockets", "server_rss_mib_end", "audit_mismatches"]
    {
        if let Some(v) = report.get(key) {
            println!("{key}: {v}");
        }
    }
}

/// A small bar chart of the latency percentiles per request type (and socket delivery), as SVG.
fn latency_svg(report: &serde_json::Map<String, Value>) -> String {
    let mut rows: Vec<(String, [f64; 4])> = Vec::new();
    for (name, v) in report {
        let lat = v.get("latency_ms").unwrap_or(v);
        let q = |k: &str| lat.get(k).and_then(Value::as_f64);
        if let (Some(a), Some(b), Some(c), Some(d)) = (q("p50"), q("p90"), q("p99"), q("p99_9")) {
            if d > 0.0 {
                rows.push((name.clone(), [a, b, c, d]));
            }
        }
    }
    let max = rows.iter().map(|(_, q)| q[3]).fold(1.0_f64, f64::max);
    let (left, width, bar, gap) = (150.0, 600.0, 10.0, 12.0);
    let height = 40.0 + rows.len() as f64 * (4.0 * bar + gap) + 30.0;
    let colours = ["#4c78a8", "#72b7b2", "#f58518", "#e45756"];
    let labels = ["p50", "p90", "p99", "p99.9"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"10\" y=\"18\" font-size=\"13\">latency (ms), max {max:.1}</text>\n",
        left + width + 80.0
    );
    for (i, l) in labels.iter().enumerate() {
        out += &format!(
            "<rect x=\"{}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"35\">{l}</text>\n",
            left + i as f64 * 70.0,
            colours[i],
            left + 14.0 + i as f64 * 70.0
        );
    }
    let mut y = 46.0;
    for (name, q) in &rows {
        out += &format!("<text x=\"10\" y=\"{}\">{name}</text>\n", y + 2.0 * bar + 4.0);
        for (i, v) in q.iter().enumerate() {
            let w = (v / max * width).max(1.0);
            out += &format!(
                "<rect x=\"{left}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{v:.1}</text>\n",
                y + i as f64 * bar,
                bar - 1.0,
                colours[i],
                left + w + 4.0,
                y + i as f64 * bar + bar - 2.0
            );
        }
        y += 4.0 * bar + gap;
    }
    out + "</svg>\n"
}
