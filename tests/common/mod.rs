//! The black-box harness: every test starts the real `restaurant-lottery` binary on a random
//! port with its own fresh database (a temporary SQLite file, or a new MariaDB database) and talks
//! to it over real HTTP (and WebSocket). Nothing is mocked.
//!
//! `both_backends!(a, b, …)` turns each `async fn a(backend: Backend)` into two tests,
//! `sqlite::a` and `mariadb::a`. The MariaDB leg is never skipped: when the server at
//! `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`) is unreachable, those tests fail.
//!
//! `fresh_database` is the one place a test database is named and dropped; `TestServer` uses it,
//! and so do the store-level tests that open a `Store` themselves.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_restaurant-lottery");
pub const JWT_SECRET: &str = "k3J9q0s8Vb2LmX5nR7tY1wZ4pA6dF8hGtest";
pub const JWT_REFRESH_SECRET: &str = "Q1w2E3r4T5y6U7i8O9p0AaSsDdFfGgHhtest";
pub const ADMIN_USER: &str = "boss";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::MariaDb).await
                }
            )*
        }
    };
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn mysql_base() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A database of its own for one test, with a temporary folder beside it. The SQLite file lives
/// in the folder; a MariaDB database gets a unique `rl_test_…` name on the server at
/// `TEST_MYSQL_URL`. Either is created by whoever connects first (the binary, or
/// `Store::connect`), and goes away when this guard drops.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    /// MariaDB only: the database to drop.
    mysql_db: Option<String>,
}

pub fn fresh_database(backend: Backend) -> TestDatabase {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (url, mysql_db) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("lottery.db").display()), None),
        Backend::MariaDb => {
            let name = format!("rl_test_{}_{}_{}", std::process::id(), n, rand_suffix());
            let mut url = url::Url::parse(&mysql_base()).expect("TEST_MYSQL_URL is a URL");
            url.set_path(&name);
            (url.to_string(), Some(name))
        }
    };
    TestDatabase { backend, url, dir, mysql_db }
}

impl TestDatabase {
    /// The temporary folder (the SQLite file, a server's logs and uploads).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a CLI subcommand (`migrate`, `reconcile`, …) against this database with the test
    /// environment: (success, stdout + stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        run_binary(&test_env(self), args, None)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(db) = &self.mysql_db {
            // Best effort: a leftover is harmless, uniquely named, and swept by scripts/test.
            if let Err(e) = drop_mysql_database(&self.url) {
                eprintln!("could not drop the test database {db}: {e}");
            }
        }
    }
}

/// `DROP DATABASE` through sqlx, with the credentials of the URL (so `TEST_MYSQL_URL` decides).
/// Guards drop inside the tests' runtime, where blocking on a future is not allowed, so this runs
/// on a thread of its own with a small runtime.
fn drop_mysql_database(url: &str) -> Result<(), String> {
    use sqlx::migrate::MigrateDatabase;
    let url = url.replacen("mariadb:", "mysql:", 1);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(sqlx::MySql::drop_database(&url)).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the drop thread panicked".to_string())?
}

/// The environment every run of the binary gets; a server's `extra` entries override it.
fn test_env(db: &TestDatabase) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("APP_ENV", "development"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("JWT_SECRET", JWT_SECRET),
        ("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
        // Every test client shares 127.0.0.1; the per-IP limit has its own test.
        ("RATE_LIMIT_PER_IP_PER_MIN", "1000000"),
        ("SMS_PER_IP_PER_HOUR", "1000000"),
        ("ENABLE_TEST_HOOKS", "1"),
        // Four servers and their databases share two cores during the suite: a connection may
        // wait longer than the production default (1 s) without anything being wrong. The
        // outage tests set the production value themselves.
        ("DB_ACQUIRE_TIMEOUT_MS", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push(("DATABASE_URL".into(), db.url.clone()));
    env.push(("UPLOAD_DIR".into(), db.dir().join("uploads").display().to_string()));
    env
}

/// Runs the binary with exactly `env`: (success, stdout + stderr).
fn run_binary(env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn cli");
    if let Some(input) = stdin {
        use std::io::Write;
        let _ = child.stdin.take().expect("stdin").write_all(input.as_bytes());
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("cli output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A running server and everything needed to restart it on the same database.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub database_url: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: u32,
    /// Where this server's logs go.
    logs: PathBuf,
    /// A node started beside another (cluster tests) has a folder of its own for its logs.
    _own_dir: Option<tempfile::TempDir>,
    /// Declared last: fields drop after `Drop for TestServer` has killed the process, so the
    /// database is dropped only once nothing uses it. `None` for a node that shares another
    /// server's database (that server drops it).
    db: Option<TestDatabase>,
}

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: i64,
    pub phone: String,
    pub token: String,
    pub refresh: String,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, &[]).await
    }

    /// Starts a server; `extra` environment entries override the test defaults.
    pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> TestServer {
        TestServer::start_reaching(backend, extra, |url| url.to_string()).await
    }

    /// Starts a server that reaches its fresh database at `reach(url)` (through a proxy the test
    /// controls, say); the harness itself still drops the database at its real address.
    pub async fn start_reaching(
        backend: Backend,
        extra: &[(&str, &str)],
        reach: impl Fn(&str) -> String,
    ) -> TestServer {
        let db = fresh_database(backend);
        let mut env = test_env(&db);
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let url = reach(&db.url);
        env.retain(|(key, _)| key != "DATABASE_URL");
        env.push(("DATABASE_URL".into(), url));
        let mut server = TestServer {
            base: String::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
            database_url: db.url.clone(),
            env,
            child: None,
            starts: 0,
            logs: db.dir().to_path_buf(),
            _own_dir: None,
            db: Some(db),
        };
        server.launch().await;
        server
    }

    /// Another server process on `first`'s database, with `first`'s environment and `extra` on
    /// top (a second node of a cluster). Drop it before `first`, which drops the database.
    pub async fn start_beside(first: &TestServer, extra: &[(&str, &str)]) -> TestServer {
        let mut env = first.env.clone();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = TestServer {
            base: String::new(),
            http: first.http.clone(),
            database_url: first.database_url.clone(),
            env,
            child: None,
            starts: 0,
            logs: dir.path().to_path_buf(),
            _own_dir: Some(dir),
            db: None,
        };
        server.launch().await;
        server
    }

    /// The process id of the running server (to stop and continue it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.logs.join(format!("server-{n}.log"))
    }

    async fn launch(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the server binary");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60))).await.expect("join");
        match addr {
            Ok(a) => self.base = a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", self.log_tail(self.starts));
            }
        }
        self.child = Some(child);
    }

    pub fn log_tail(&self, n: u32) -> String {
        let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The whole log of the current run (for asserting what is and is not logged).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL through a shared handle (while requests still hold the server); `start_again`
    /// reaps the process.
    pub fn sigkill(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").arg("-KILL").arg(c.id().to_string()).status();
        }
    }

    /// SIGTERM, then waits for the process to exit by itself.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("server running");
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        c.wait().expect("wait")
    }

    /// Starts the server again on the same database (after `kill9` or `terminate`).
    pub async fn start_again(&mut self) {
        self.kill9();
        self.launch().await;
    }

    /// Runs a CLI subcommand against this server's database: (success, stdout + stderr).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        run_binary(&self.env, args, stdin)
    }

    /// `restaurant-lottery reconcile` must pass.
    pub fn assert_reconciled(&self) {
        let (ok, out) = self.cli(&["reconcile"], None);
        assert!(ok, "reconcile failed:\n{out}");
        assert!(out.contains("0 violation(s)"), "{out}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; returns the status and the parsed JSON body (every response is JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    /// `call` with extra request headers (`Idempotency-Key`, `X-Request-Id`, …).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body for {path} ({status}): {text}"));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Sends raw bytes as the body, for malformed-input tests.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &'static [u8]) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body: {text}")))
    }

    /// Signs a customer in with the development code.
    pub async fn login(&self, phone: &str) -> Customer {
        let (status, body) = self.post("/api/auth/login", None, json!({ "phone": phone, "code": "123456" })).await;
        assert_eq!(status, StatusCode::OK, "login {phone}: {body}");
        let data = &body["data"];
        Customer {
            user_id: data["user_info"]["user_id"].as_i64().expect("user_id"),
            phone: phone.to_string(),
            token: data["access_token"].as_str().expect("access_token").to_string(),
            refresh: data["refresh_token"].as_str().expect("refresh_token").to_string(),
        }
    }

    /// Creates the test admin (through the CLI) and signs in; returns the access token.
    pub async fn admin(&self) -> String {
        let (ok, out) = self.cli(&["create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD], None);
        assert!(ok, "create-admin: {out}");
        let (status, body) = self
            .post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD }))
            .await;
        assert_eq!(status, StatusCode::OK, "admin login: {body}");
        body["data"]["access_token"].as_str().expect("admin token").to_string()
    }

    /// Puts every draw's odds on one sector (`name`), optionally with limited stock: what the
    /// admin would do through `GET` + `PUT /api/admin/lottery/prizes`. When the stock is gone the
    /// mass falls to the fallback sector.
    pub async fn wheel_all_on(&self, admin: &str, name: &str, stock: Option<i64>) {
        let (_, wheel) = self.get("/api/admin/lottery/prizes", Some(admin)).await;
        let mut prizes: Vec<Value> = wheel["data"]["prizes"].as_array().expect("prizes").clone();
        for p in prizes.iter_mut() {
            let chosen = p["name"] == name;
            p["probability"] = json!(if chosen { 1.0 } else { 0.0 });
            if chosen {
                p["stock"] = json!(stock);
            }
        }
        assert_ok(&self.put("/api/admin/lottery/prizes", Some(admin), json!({ "prizes": prizes })).await);
    }

    /// Uploads a receipt photo for `amount` yuan as `c` and answers its id. The JPEG is unique to
    /// the customer and `tag`, so the duplicate-receipt rule never refuses it.
    pub async fn upload_receipt(&self, c: &Customer, tag: &str, amount: &str) -> i64 {
        let form = receipt_form(c, tag, amount);
        let resp = self
            .http
            .post(self.url("/api/photo/upload"))
            .bearer_auth(&c.token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        let body: Value = resp.json().await.expect("json");
        let data = assert_ok(&(status, body));
        data["upload_id"].as_i64().unwrap_or_else(|| panic!("upload_id in {data}"))
    }

    /// The customer's balance as `GET /api/user/info` reports it.
    pub async fn balance(&self, c: &Customer) -> i64 {
        let (status, body) = self.get("/api/user/info", Some(&c.token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["total_points"].as_i64().expect("total_points")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log (last lines) ---\n{}", self.log_tail(self.starts));
        }
        // The database itself is dropped by the `db` field, after this.
        self.kill9();
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.load(Ordering::Relaxed));
    (h.finish() % 1_000_000) as u32
}

/// The upload form of a receipt photo for `amount` yuan: a JPEG unique to the customer and `tag`,
/// so the duplicate-receipt rule never refuses it.
pub fn receipt_form(c: &Customer, tag: &str, amount: &str) -> reqwest::multipart::Form {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend(format!(" receipt {} {tag} ", c.user_id).into_bytes());
    bytes.extend(0..=255u8);
    let photo = reqwest::multipart::Part::bytes(bytes).file_name("r.jpg").mime_str("image/jpeg").expect("mime");
    reqwest::multipart::Form::new().text("amount", amount.to_string()).part("photo", photo)
}

/// A distinct valid phone number per (test, index).
pub fn phone(seed: u32, i: u32) -> String {
    format!("13{:01}{:08}", seed % 10, (seed / 10) * 100_000 + i)
}

/// Asserts the envelope of an error: HTTP status, code, `data`.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, code: i64) {
    assert_eq!(got.0.as_u16(), status, "status for {}", got.1);
    assert_eq!(got.1["code"].as_i64(), Some(code), "code in {}", got.1);
    assert!(got.1["msg"].as_str().is_some_and(|m| !m.is_empty()), "msg in {}", got.1);
}

#[track_caller]
pub fn assert_ok(got: &(StatusCode, Value)) -> Value {
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["code"].as_i64(), Some(0), "{}", got.1);
    got.1["data"].clone()
}

/// A real WebSocket client (tokio-tungstenite) on `/ws`.
pub struct WsClient {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

/// What reading a socket produced.
#[derive(Debug)]
pub enum WsEvent {
    Json(Value),
    Closed(Option<(u16, String)>),
    Timeout,
}

impl TestServer {
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http://", "ws://", 1))
    }

    /// Opens `/ws?token=…` and returns the socket after its `connected` message.
    pub async fn ws(&self, token: &str) -> WsClient {
        let (stream, _) = tokio_tungstenite::connect_async(format!("{}?token={token}", self.ws_url()))
            .await
            .expect("websocket connect");
        let mut client = WsClient { stream };
        match client.next(Duration::from_secs(10)).await {
            WsEvent::Json(v) if v["type"] == "connected" => client,
            other => panic!("expected `connected`, got {other:?}"),
        }
    }
}

impl WsClient {
    /// The next server message as JSON (pings are answered by the client library and skipped).
    pub async fn next(&mut self, timeout: Duration) -> WsEvent {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return WsEvent::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return WsEvent::Closed(None),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => return WsEvent::Json(serde_json::from_str(t.as_str()).expect("server sent JSON")),
                Message::Close(frame) => {
                    return WsEvent::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                _ => continue,
            }
        }
    }

    /// Skips messages until one of type `kind` arrives; `None` on timeout or close.
    pub async fn next_of(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                WsEvent::Json(v) if v["type"] == kind => return Some(v),
                WsEvent::Json(_) => continue,
                _ => return None,
            }
        }
    }

    /// Everything that arrives within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + window;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                WsEvent::Json(v) => out.push(v),
                _ => return out,
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::Text(text.into())).await.expect("websocket send");
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await
    }
}

/// Where object storage lives for a test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    /// The local directory with HMAC-signed `/files` links (the default).
    Local,
    /// A real S3-compatible server (moto), each server with its own bucket.
    S3,
}

/// The S3-compatible server for tests: `TEST_S3_ENDPOINT` (scripts/test starts moto there), or
/// moto started here on 127.0.0.1:5055 when nothing answers. Never skipped: when no server can be
/// had, the S3 tests fail.
pub fn s3_endpoint() -> String {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let endpoint = std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".to_string());
            let addr = endpoint.trim_start_matches("http://").to_string();
            let up = || {
                std::net::TcpStream::connect_timeout(&addr.parse().expect("host:port"), Duration::from_secs(1)).is_ok()
            };
            if !up() {
                let port = addr.rsplit(':').next().unwrap_or("5055").to_string();
                // Left running for later tests and runs, like the database server; nobody waits
                // for it on purpose.
                #[allow(clippy::zombie_processes)]
                let _ = Command::new("moto_server")
                    .args(["-H", "127.0.0.1", "-p", &port])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start moto_server (pip install 'moto[server]')");
                for _ in 0..100 {
                    if up() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                assert!(up(), "moto_server did not come up at {endpoint}");
            }
            endpoint
        })
        .clone()
}

impl TestServer {
    /// A server whose object storage is `objects`.
    pub async fn start_with_objects(backend: Backend, objects: Objects, extra: &[(&str, &str)]) -> TestServer {
        let mut env: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if objects == Objects::S3 {
            let bucket = format!("rl-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            env.push(("S3_ENDPOINT".into(), s3_endpoint()));
            env.push(("S3_BUCKET".into(), bucket));
            env.push(("S3_REGION".into(), "us-east-1".into()));
            env.push(("S3_ACCESS_KEY".into(), "testing".into()));
            env.push(("S3_SECRET_KEY".into(), "testing".into()));
            env.push(("S3_FORCE_PATH_STYLE".into(), "true".into()));
        }
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        TestServer::start_with(backend, &refs).await
    }

    /// Resolves a link the server handed out (relative `/files/…` or an absolute S3 URL).
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            self.url(url)
        } else {
            url.to_string()
        }
    }
}

/// Like `both_backends!`, for tests that also run against both object stores: each
/// `async fn x(backend: Backend, objects: Objects)` becomes four tests.
#[macro_export]
macro_rules! all_storage {
    ($($name:ident),* $(,)?) => {
        mod sqlite_local {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite, $crate::common::Objects::Local).await } )*
        }
        mod sqlite_s3 {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite, $crate::common::Objects::S3).await } )*
        }
        mod mariadb_local {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::MariaDb, $crate::common::Objects::Local).await } )*
        }
        mod mariadb_s3 {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name($crate::common::Backend::MariaDb, $crate::common::Objects::S3).await } )*
        }
    };
}
