//! Several nodes, one system (issue 16): real server processes sharing one fresh MariaDB
//! database, coordinated through the local NATS server (`TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`). Each test runs its cluster under a name of its own, so tests that
//! run at once never hear each other.
//!
//! What a customer must see: one balance, one pity counter, one per-minute draw limit, one daily
//! cap and one idempotency scope whichever node each request reaches, and their socket hears every change
//! wherever it is held. What the nodes must never do: commit for a customer another node took
//! (the fence), or lose an acknowledged change when one of them is killed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{assert_error, assert_ok, phone, Backend, Customer, TestServer, WsEvent};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

static CLUSTERS: AtomicU64 = AtomicU64::new(0);

fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

/// `n` nodes named a, b, c… on one fresh database; the first seeds the demo wheel and shop.
async fn cluster(n: usize, extra: &[(&str, &str)]) -> Vec<TestServer> {
    let name = format!("t{}x{}", std::process::id(), CLUSTERS.fetch_add(1, Ordering::Relaxed));
    let nats = nats_url();
    let mut env: Vec<(&str, &str)> =
        vec![("CLUSTER_NATS_URL", &nats), ("CLUSTER_NAME", &name), ("CLUSTER_LEASE_MS", "1500")];
    env.extend_from_slice(extra);
    let mut first_env = env.clone();
    first_env.push(("NODE_ID", "a"));
    let first = TestServer::start_with(Backend::MariaDb, &first_env).await;
    let mut nodes = vec![first];
    for id in ["b", "c", "d"].into_iter().take(n.saturating_sub(1)) {
        let node = TestServer::start_beside(&nodes[0], &[("NODE_ID", id), ("SEED_DEMO", "0")]).await;
        nodes.push(node);
    }
    nodes
}

async fn draw(node: &TestServer, c: &Customer) -> (StatusCode, Value) {
    node.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await
}

async fn draw_keyed(node: &TestServer, c: &Customer, key: &str) -> (StatusCode, Value) {
    node.call_with(
        Method::POST,
        "/api/lottery/draw",
        Some(&c.token),
        Some(json!({ "draw_type": "single" })),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn pity_count(node: &TestServer, c: &Customer) -> i64 {
    assert_ok(&node.get("/api/lottery/pity-status", Some(&c.token)).await)["count"].as_i64().expect("count")
}

async fn records_total(node: &TestServer, c: &Customer) -> i64 {
    let data = assert_ok(&node.get("/api/lottery/records", Some(&c.token)).await);
    data["pagination"]["total"].as_i64().expect("total")
}

/// Every draw's odds on `name`, through `node`; then waits until every node's wheel shows it
/// (the change reaches the others through NATS).
async fn force_wheel(nodes: &[TestServer], admin: &str, name: &str) {
    let data = assert_ok(&nodes[0].get("/api/admin/lottery/prizes", Some(admin)).await);
    let mut prizes = data["prizes"].as_array().expect("prizes").clone();
    for p in &mut prizes {
        p["probability"] = json!(if p["name"] == name { 1.0 } else { 0.0 });
    }
    assert_ok(&nodes[0].put("/api/admin/lottery/prizes", Some(admin), json!({ "prizes": prizes })).await);
    for node in nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let data = assert_ok(&node.get("/api/admin/lottery/prizes", Some(admin)).await);
            let forced = data["prizes"]
                .as_array()
                .expect("prizes")
                .iter()
                .all(|p| (p["name"] == name) == (p["probability"].as_f64() == Some(1.0)));
            if forced {
                break;
            }
            assert!(Instant::now() < deadline, "node {} never saw the new odds: {data}", node.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The newest sign-in code for `phone` that any node's development SMS provider logged (the
/// phone's home node sends it; the log masks all but the last four digits).
async fn sent_code(nodes: &[TestServer], phone: &str) -> String {
    let last4 = &phone[phone.len() - 4..];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut codes: Vec<(String, String)> = nodes
            .iter()
            .flat_map(|n| n.log().lines().map(str::to_string).collect::<Vec<_>>())
            .filter_map(|line| {
                let v: Value = serde_json::from_str(&line).ok()?;
                let fields = &v["fields"];
                fields["phone"].as_str()?.ends_with(last4).then_some(())?;
                Some((v["timestamp"].as_str()?.to_string(), fields["code"].as_str()?.to_string()))
            })
            .collect();
        codes.sort();
        if let Some((_, code)) = codes.pop() {
            return code;
        }
        assert!(Instant::now() < deadline, "no sign-in code for {phone} in any node's log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn top_up(node: &TestServer, admin: &str, c: &Customer, delta: i64) {
    assert_ok(
        &node.post(&format!("/api/admin/users/{}/points", c.user_id), Some(admin), json!({ "delta": delta })).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_whose_requests_alternate_between_nodes_sees_one_system() {
    let nodes = cluster(3, &[("DRAW_LIMIT_PER_MIN", "12"), ("RUST_LOG", "warn,sms=info")]).await;
    let admin = nodes[0].admin().await;
    force_wheel(&nodes, &admin, "谢谢参与").await;

    // One sign-in code per phone: sent through one node, it signs in through another, once.
    for i in 10..13 {
        let p = phone(1601, i);
        assert_ok(&nodes[0].post("/api/auth/send-code", None, json!({ "phone": p })).await);
        let code = sent_code(&nodes, &p).await;
        assert_ok(&nodes[1].post("/api/auth/login", None, json!({ "phone": p, "code": code })).await);
        assert_error(&nodes[2].post("/api/auth/login", None, json!({ "phone": p, "code": code })).await, 400, 1002);
    }

    let c = nodes[1].login(&phone(1601, 1)).await;
    // Changed through node c, whichever node holds the wallet.
    top_up(&nodes[2], &admin, &c, 2000).await;
    let mut socket = nodes[2].ws(&c.token).await;

    // Twelve draws, each on the next node: the pity counter is one counter.
    for k in 1..=12i64 {
        let node = &nodes[k as usize % 3];
        let data = assert_ok(&draw(node, &c).await);
        let r = &data["results"][0];
        if k == 10 {
            assert_eq!((r["prize_name"].as_str(), r["is_pity"].as_bool()), (Some("九八折券"), Some(true)), "{data}");
        } else {
            assert_eq!((r["prize_name"].as_str(), r["is_pity"].as_bool()), (Some("谢谢参与"), Some(false)), "{data}");
        }
        assert_eq!(pity_count(&nodes[(k as usize + 1) % 3], &c).await, k % 10, "after draw {k}");
    }
    // One per-minute limit: the thirteenth draw is refused on every node.
    for node in &nodes {
        assert_error(&draw(node, &c).await, 429, 3002);
    }
    // One balance, read through any node.
    for node in &nodes {
        assert_eq!(node.balance(&c).await, 1000 + 2000 - 12 * 100, "through {}", node.base);
        assert_eq!(records_total(node, &c).await, 12);
    }
    // The socket on node c heard every draw, wherever it was made.
    let mut results = 0;
    let mut balances = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (results < 12 || balances.last() != Some(&1800)) && Instant::now() < deadline {
        let got = socket.drain(Duration::from_millis(300)).await;
        for m in got {
            match m["type"].as_str() {
                Some("lottery_result") => results += 1,
                Some("points_update") => balances.push(m["data"]["total_points"].as_i64().expect("total_points")),
                _ => {}
            }
        }
    }
    assert_eq!(results, 12, "lottery_result messages on the socket of node c");
    assert_eq!(balances.len(), 12, "one balance per draw: {balances:?}");
    assert_eq!(balances.first(), Some(&2900), "{balances:?}");
    assert_eq!(balances.last(), Some(&1800), "{balances:?}");
    assert!(balances.windows(2).all(|w| w[1] == w[0] - 100), "in commit order: {balances:?}");

    // One idempotency scope: a retry on another node is answered with the first result.
    let d = nodes[0].login(&phone(1601, 2)).await;
    let first = assert_ok(&draw_keyed(&nodes[0], &d, "cluster-key-1").await);
    let again = assert_ok(&draw_keyed(&nodes[1], &d, "cluster-key-1").await);
    let third = assert_ok(&draw_keyed(&nodes[2], &d, "cluster-key-1").await);
    assert_eq!(again["batch_id"], first["batch_id"]);
    assert_eq!(third["batch_id"], first["batch_id"]);
    assert_eq!((first["replayed"].as_bool(), again["replayed"].as_bool()), (Some(false), Some(true)));
    assert_eq!(nodes[2].balance(&d).await, 900, "charged once");
    assert_eq!(records_total(&nodes[1], &d).await, 1);

    // A ban on one node is refused on every node; signing out on one closes sockets on another.
    assert_ok(
        &nodes[1].post(&format!("/api/admin/users/{}/ban", d.user_id), Some(&admin), json!({ "banned": true })).await,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    for node in &nodes {
        loop {
            let got = node.get("/api/user/info", Some(&d.token)).await;
            if got.1["code"] == json!(2005) {
                break;
            }
            assert!(Instant::now() < deadline, "node {} still serves a banned customer: {:?}", node.base, got);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_ok(&nodes[0].post("/api/auth/logout", Some(&c.token), json!({})).await);
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        match socket.next(Duration::from_millis(500)).await {
            WsEvent::Closed(frame) => break frame,
            WsEvent::Json(_) | WsEvent::Timeout => {
                assert!(Instant::now() < deadline, "the socket on node c stayed open after a sign-out on node a")
            }
        }
    };
    assert_eq!(closed.map(|(code, _)| code), Some(4003), "closed as revoked");

    drop(socket);
    nodes[0].assert_reconciled();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_daily_draw_cap_whichever_node_a_draw_reaches() {
    let nodes = cluster(3, &[("DAILY_DRAW_LIMIT", "4")]).await;
    let admin = nodes[0].admin().await;
    force_wheel(&nodes, &admin, "谢谢参与").await;
    let c = nodes[2].login(&phone(1605, 1)).await;
    for k in 0..4 {
        assert_ok(&draw(&nodes[k % 3], &c).await);
    }
    // The fifth draw of the day is refused on every node, and nothing was charged for it.
    for node in &nodes {
        assert_error(&draw(node, &c).await, 409, 3003);
    }
    for node in &nodes {
        assert_eq!(node.balance(&c).await, 1000 - 4 * 100);
        assert_eq!(records_total(node, &c).await, 4);
    }
    nodes[0].assert_reconciled();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_cannot_commit_for_a_customer_another_node_took() {
    let nodes = cluster(2, &[]).await;
    let admin = nodes[0].admin().await;
    force_wheel(&nodes, &admin, "谢谢参与").await;
    let c = nodes[0].login(&phone(1602, 1)).await;
    assert_ok(&draw(&nodes[0], &c).await);

    // Node a holds the customer; its next write for them stops half-way, and then node a
    // itself stops, for longer than its lease.
    let held = nodes[0]
        .post(
            &format!("/api/admin/test-hooks/wallets/{}/hold-next-write", c.user_id),
            Some(&admin),
            json!({ "ms": 1500 }),
        )
        .await;
    assert_ok(&held);
    let stale = {
        let (http, url, token) = (nodes[0].http.clone(), nodes[0].url("/api/lottery/draw"), c.token.clone());
        tokio::spawn(async move {
            let resp = http.post(url).bearer_auth(token).json(&json!({ "draw_type": "single" })).send().await;
            let resp = resp.expect("the held draw gets an answer");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(nodes[0].pid(), "-STOP");
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Node b takes the customer once node a's lease has run out, and serves them.
    for _ in 0..3 {
        assert_ok(&retry_while_moving(|| draw(&nodes[1], &c)).await);
    }
    signal(nodes[0].pid(), "-CONT");
    let (status, body) = stale.await.expect("join");

    // The held write met the fence: whatever node a answered, it committed nothing of its own.
    // (It answers 503 when it notices first that its lease lapsed, or the result of node b
    // carrying out the draw once the call was routed again.)
    let carried_out = status == StatusCode::OK;
    if !carried_out {
        assert_error(&(status, body.clone()), 503, 1000);
    }
    let draws = 1 + 3 + i64::from(carried_out);
    assert_eq!(records_total(&nodes[1], &c).await, draws, "held draw answered {status}: {body}");
    assert_eq!(nodes[1].balance(&c).await, 1000 - 100 * draws);
    assert_eq!(nodes[0].balance(&c).await, 1000 - 100 * draws, "node a reads the same balance again");
    let log = nodes[0].log();
    assert!(log.contains("refused by the fence"), "node a's log:\n{}", nodes[0].log_tail(1));
    nodes[0].assert_reconciled();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_customers_are_served_by_the_others_with_nothing_lost() {
    let mut nodes = cluster(2, &[]).await;
    let admin = nodes[0].admin().await;
    force_wheel(&nodes, &admin, "谢谢参与").await;
    let customers: Vec<Customer> = {
        let mut v = Vec::new();
        for i in 0..12 {
            v.push(nodes[0].login(&phone(1603, i)).await);
        }
        v
    };
    // Every customer's wallet lives on node a (their first request went there).
    for c in &customers {
        assert_ok(&draw(&nodes[0], c).await);
    }
    nodes[0].kill9();

    // Node b serves each of them within a few seconds (node a's lease expires), with every
    // acknowledged draw present.
    let started = Instant::now();
    for c in &customers {
        assert_ok(&retry_while_moving(|| draw(&nodes[1], c)).await);
        assert_eq!(records_total(&nodes[1], c).await, 2);
        assert_eq!(nodes[1].balance(c).await, 800);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let health = assert_ok(&nodes[1].get("/health", None).await);
    let view = &health["cluster"];
    assert_eq!(view["node_id"], json!("b"), "{health}");
    assert_eq!(view["lease_valid"], json!(true), "{health}");
    let a = view["nodes"].as_array().expect("nodes").iter().find(|n| n["node_id"] == "a").cloned();
    assert_eq!(a.map(|n| n["alive"].clone()), Some(json!(false)), "{health}");
    nodes[1].assert_reconciled();
    // Node b goes first: node a owns the database.
    let b = nodes.pop();
    drop(b);
}

/// A request that arrives while the customer's wallet is between nodes is answered 503 and may
/// be sent again (nothing was done); this retries for up to ten seconds.
async fn retry_while_moving<F, Fut>(send: F) -> (StatusCode, Value)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = send().await;
        if got.0 != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").arg(sig).arg(pid.to_string()).status().expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

/// HAProxy in front of the nodes, as `deploy/haproxy.cfg` has it (round robin, `/health`
/// checks), on a port of its own.
struct Balancer {
    base: String,
    http: reqwest::Client,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Balancer {
    async fn start(nodes: &[TestServer]) -> Balancer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("    server node{i} {} check\n", n.base.trim_start_matches("http://")))
            .collect();
        let config = format!(
            "global\n    maxconn 4096\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    \
             timeout server 60s\n    timeout tunnel 1h\nfrontend api\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n    option httpchk GET /health\n    http-check expect status 200\n    \
             default-server inter 500ms fall 2 rise 2\n{servers}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("haproxy config");
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy (Debian package haproxy) starts");
        let lb = Balancer {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !lb.http.get(format!("{}/health", lb.base)).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            assert!(Instant::now() < deadline, "HAProxy never answered on {}", lb.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lb
    }

    /// Sends a request through the balancer. A connection the balancer dropped (its node was
    /// killed mid-request) answers `None`: the client does not know whether it was done.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Option<(StatusCode, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status();
        let text = resp.text().await.ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    async fn ok(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let got = self.call(method, path, token, body, None).await.unwrap_or_else(|| panic!("{path}: no answer"));
        assert_ok(&got)
    }

    /// A read, asked again while it is answered 503 (the customer's wallet is between nodes).
    async fn read(&self, path: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.call(Method::GET, path, Some(token), None, None).await {
                Some(got) if got.0 != StatusCode::SERVICE_UNAVAILABLE && got.0 != StatusCode::BAD_GATEWAY => {
                    return assert_ok(&got)
                }
                other => assert!(Instant::now() < deadline, "{path} never answered: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a keyed request until it gets a definite answer (a retry with the same key is
    /// answered with the first result, so nothing is done twice).
    async fn until_answered(&self, path: &str, token: &str, body: Value, key: &str) -> (StatusCode, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.call(Method::POST, path, Some(token), Some(body.clone()), Some(key)).await {
                Some(got) if got.0 != StatusCode::SERVICE_UNAVAILABLE && got.0 != StatusCode::BAD_GATEWAY => {
                    return got
                }
                other => assert!(Instant::now() < deadline, "{path} {key} never answered: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn login(&self, phone: &str) -> Customer {
        let data =
            self.ok(Method::POST, "/api/auth/login", None, Some(json!({ "phone": phone, "code": "123456" }))).await;
        Customer {
            user_id: data["user_info"]["user_id"].as_i64().expect("user_id"),
            phone: phone.to_string(),
            token: data["access_token"].as_str().expect("access_token").to_string(),
            refresh: data["refresh_token"].as_str().expect("refresh_token").to_string(),
        }
    }

    async fn ws(&self, token: &str) -> common::WsClient {
        let url = format!("{}/ws?token={token}", self.base.replacen("http://", "ws://", 1));
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket through the balancer");
        common::WsClient { stream }
    }

    async fn upload_receipt(&self, c: &Customer, amount: &str) -> i64 {
        let form = common::receipt_form(c, "via the balancer", amount);
        let resp = self
            .http
            .post(format!("{}/api/photo/upload", self.base))
            .bearer_auth(&c.token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        let data = assert_ok(&(status, resp.json().await.expect("json")));
        data["upload_id"].as_i64().expect("upload_id")
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one customer saw during the burst.
#[derive(Debug, Default)]
struct Served {
    draws: i64,
    redeemed: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_keep_being_served_through_a_balancer_while_a_node_dies() {
    let mut nodes = cluster(3, &[("DRAW_LIMIT_PER_MIN", "100000")]).await;
    let lb = Balancer::start(&nodes).await;
    let admin = nodes[0].admin().await;

    // Half of the draws win a dessert, of which there are 30; the rest win nothing.
    let data = lb.ok(Method::GET, "/api/admin/lottery/prizes", Some(&admin), None).await;
    let mut prizes = data["prizes"].as_array().expect("prizes").clone();
    for p in &mut prizes {
        let (probability, stock) = match p["name"].as_str() {
            Some("甜品一份") => (0.5, json!(30)),
            Some("谢谢参与") => (0.5, p["stock"].clone()),
            _ => (0.0, p["stock"].clone()),
        };
        p["probability"] = json!(probability);
        p["stock"] = stock;
    }
    lb.ok(Method::PUT, "/api/admin/lottery/prizes", Some(&admin), Some(json!({ "prizes": prizes }))).await;
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let cfg = assert_ok(&node.get("/api/admin/lottery/prizes", Some(&admin)).await);
            let dessert = cfg["prizes"].as_array().expect("prizes").iter().find(|p| p["name"] == "甜品一份").cloned();
            if dessert.is_some_and(|d| d["probability"].as_f64() == Some(0.5)) {
                break;
            }
            assert!(Instant::now() < deadline, "node {} never saw the new odds", node.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let products = lb.ok(Method::GET, "/api/admin/products", Some(&admin), None).await;
    let nuggets = products["products"]
        .as_array()
        .or(products["items"].as_array())
        .and_then(|ps| ps.iter().find(|p| p["name"] == "鸡米花").cloned())
        .unwrap_or_else(|| panic!("鸡米花 in {products}"));
    let (nuggets_id, nuggets_stock) = (nuggets["id"].as_i64().expect("id"), nuggets["stock"].as_i64().expect("stock"));

    // A merchant and 18 customers, each with a receipt waiting for review.
    let merchant = lb.login(&phone(1604, 99)).await;
    lb.ok(
        Method::POST,
        &format!("/api/admin/users/{}/merchant", merchant.user_id),
        Some(&admin),
        Some(json!({ "is_merchant": true })),
    )
    .await;
    let mut customers = Vec::new();
    let mut uploads = Vec::new();
    for i in 0..18 {
        let c = lb.login(&phone(1604, i)).await;
        uploads.push(lb.upload_receipt(&c, "88").await);
        customers.push(c);
    }
    let start_balance = vec![1000; customers.len()];

    // Every customer holds a socket through the balancer (so on every node) and draws three
    // times a second; each also tries once to buy nuggets; meanwhile the merchant approves every
    // receipt. Node c is killed one second in.
    let mut sockets = Vec::new();
    for c in &customers {
        sockets.push(lb.ws(&c.token).await);
    }
    let lb = std::sync::Arc::new(lb);
    let stop_at = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        let (lb, c) = (lb.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut served = Served::default();
            let mut n = 0;
            while Instant::now() < stop_at && served.draws < 6 {
                n += 1;
                let key = format!("burst-{}-{n}", c.user_id);
                let got =
                    lb.until_answered("/api/lottery/draw", &c.token, json!({ "draw_type": "single" }), &key).await;
                assert_ok(&got);
                served.draws += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
                if n == 2 + (i as i64 % 4) {
                    let key = format!("nuggets-{}", c.user_id);
                    let body = json!({ "product_id": nuggets_id, "quantity": 1 });
                    let got = lb.until_answered("/api/exchange/redeem", &c.token, body, &key).await;
                    if got.0 == StatusCode::OK {
                        served.redeemed += 1;
                    } else {
                        // Sold out is the only acceptable refusal.
                        assert_error(&got, 409, 4002);
                    }
                }
            }
            served
        }));
    }
    let approvals = {
        let (lb, merchant, uploads) = (lb.clone(), merchant.clone(), uploads.clone());
        tokio::spawn(async move {
            let mut credited = Vec::new();
            for upload in uploads {
                let path = format!("/api/merchant/reviews/{upload}/approve");
                let key = format!("approve-{upload}");
                let got = lb.until_answered(&path, &merchant.token, json!({ "actual_amount": 88 }), &key).await;
                if got.1["code"] == json!(6004) {
                    // Asked again after an answer was lost with the killed node: it was approved.
                    assert_eq!(got.1["data"]["current_status"], json!("approved"), "{got:?}");
                    credited.push(None);
                } else {
                    credited.push(assert_ok(&got)["points_awarded"].as_i64());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            credited
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes[2].kill9();
    let mut served = Vec::new();
    for t in tasks {
        served.push(t.await.expect("customer task"));
    }
    let credited = approvals.await.expect("merchant task");
    let points = credited.iter().flatten().next().copied().expect("at least one approval answered");
    assert!(points > 0 && credited.iter().flatten().all(|p| *p == points), "{credited:?}");

    // Every acknowledged draw and order is there, once; every customer was served throughout.
    let mut dessert_wins = 0;
    let mut orders = 0;
    for ((c, s), before) in customers.iter().zip(&served).zip(&start_balance) {
        assert_eq!(s.draws, 6, "customer {} was served every draw they asked for in 6 s", c.user_id);
        let records = lb.read("/api/lottery/records?limit=50", &c.token).await;
        assert_eq!(records["pagination"]["total"].as_i64(), Some(s.draws), "customer {}", c.user_id);
        dessert_wins +=
            records["records"].as_array().expect("records").iter().filter(|r| r["prize_name"] == "甜品一份").count()
                as i64;
        let info = lb.read("/api/user/info", &c.token).await;
        assert_eq!(
            info["total_points"].as_i64(),
            Some(before + points - 100 * s.draws - 350 * s.redeemed),
            "customer {}",
            c.user_id
        );
        orders += s.redeemed;
    }
    assert!(orders <= nuggets_stock, "{orders} orders of {nuggets_stock} nuggets");
    let products = lb.ok(Method::GET, "/api/admin/products", Some(&admin), None).await;
    let nuggets_left = products["products"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == json!(nuggets_id)))
        .and_then(|p| p["stock"].as_i64())
        .unwrap_or_else(|| panic!("鸡米花 in {products}"));
    assert_eq!(nuggets_left + orders, nuggets_stock, "no nugget lost or made (shelf and every node's block)");
    let cfg = lb.ok(Method::GET, "/api/admin/lottery/prizes", Some(&admin), None).await;
    let dessert =
        cfg["prizes"].as_array().expect("prizes").iter().find(|p| p["name"] == "甜品一份").cloned().expect("dessert");
    let left =
        dessert["stock_left"].as_i64().or(dessert["stock"].as_i64()).unwrap_or_else(|| panic!("stock in {dessert}"));
    assert!(dessert_wins <= 30, "{dessert_wins} desserts won of 30");
    assert_eq!(left + dessert_wins, 30, "no dessert lost or made: {dessert}");

    // The sockets: those on the killed node were closed; a customer reconnects through the
    // balancer, and every socket hears the customer's next change with the right balance.
    for (i, c) in customers.iter().enumerate() {
        sockets[i].drain(Duration::from_millis(50)).await;
        let alive = !matches!(sockets[i].next(Duration::from_millis(50)).await, WsEvent::Closed(_));
        if !alive {
            sockets[i] = lb.ws(&c.token).await;
        }
    }
    for (i, c) in customers.iter().enumerate() {
        let key = format!("after-{}", c.user_id);
        let got = lb.until_answered("/api/lottery/draw", &c.token, json!({ "draw_type": "single" }), &key).await;
        let balance = assert_ok(&got)["remaining_points"].as_i64().expect("remaining_points");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match sockets[i].next(Duration::from_millis(500)).await {
                WsEvent::Json(m) if m["type"] == "points_update" && m["data"]["total_points"] == json!(balance) => {
                    break
                }
                _ => {
                    assert!(Instant::now() < deadline, "customer {}'s socket never heard balance {balance}", c.user_id)
                }
            }
        }
    }
    drop(sockets);
    nodes[0].assert_reconciled();
    let killed = nodes.pop();
    drop(killed);
}
