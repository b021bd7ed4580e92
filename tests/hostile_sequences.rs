//! Random sequences of client requests, valid and hostile, against the real server, then the
//! invariants: every answer is the contract's envelope, no 5xx except 503, no panic in the log,
//! and `reconcile` (ledger chains, balances, stock, orders) passes afterwards.
//!
//! Several customers, a merchant and an admin act at once, so the sequences interleave for
//! real. The generator is seeded (`HOSTILE_SEED`, else a fresh seed that the test prints), so a
//! failing sequence can be replayed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Everything the workers share: who exists and what they have made.
struct World {
    server: TestServer,
    customers: Vec<Customer>,
    merchant: Customer,
    admin: String,
    products: Vec<i64>,
    /// Answers by class, for the report.
    ok: AtomicU64,
    refused: AtomicU64,
}

/// One request as sent: what was asked, and the answer.
struct Exchange {
    what: String,
    status: StatusCode,
    body: Value,
}

fn pick<'a, T>(rng: &mut Pcg64Mcg, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A value of a random JSON kind, often absurd.
fn junk(rng: &mut Pcg64Mcg) -> Value {
    match rng.random_range(0..10) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(i64::MAX),
        3 => json!(1e300),
        4 => json!("'; DROP TABLE users; --"),
        5 => json!("𝓤𝓷𝓲𝓬𝓸𝓭𝓮\u{202E}"),
        6 => json!([1, 2, 3]),
        7 => json!({ "nested": { "deeper": [null] } }),
        8 => json!(true),
        _ => json!(""),
    }
}

fn receipt(rng: &mut Pcg64Mcg) -> Vec<u8> {
    let mut bytes = match rng.random_range(0..4) {
        0 => vec![0xFF, 0xD8, 0xFF, 0xE0],
        1 => b"\x89PNG\r\n\x1a\n".to_vec(),
        2 => b"GIF89a".to_vec(),
        _ => b"<html>not an image</html>".to_vec(),
    };
    bytes.extend((0..rng.random_range(0..2048)).map(|_| rng.random::<u8>()));
    bytes
}

impl World {
    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Exchange {
        let mut req = self.server.http.request(method.clone(), self.server.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        self.finish(format!("{method} {path} {}", body.unwrap_or(Value::Null)), req).await
    }

    async fn finish(&self, what: String, req: reqwest::RequestBuilder) -> Exchange {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: non-JSON answer ({status}): {text}"));
        Exchange { what, status, body }
    }

    /// The contract's promises about any single answer.
    fn check(&self, x: &Exchange) {
        let code = x.body["code"].as_i64().unwrap_or_else(|| panic!("{}: no envelope code: {}", x.what, x.body));
        assert!(x.body["msg"].is_string(), "{}: no msg: {}", x.what, x.body);
        assert!(
            !x.status.is_server_error() || x.status == StatusCode::SERVICE_UNAVAILABLE,
            "{}: {} {}",
            x.what,
            x.status,
            x.body
        );
        if x.status == StatusCode::OK {
            assert_eq!(code, 0, "{}: 200 with code {code}", x.what);
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            assert_ne!(code, 0, "{}: {} with code 0", x.what, x.status);
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn step(&self, rng: &mut Pcg64Mcg, me: &Customer) {
        let t = Some(me.token.as_str());
        let x = match rng.random_range(0..16) {
            0 | 1 => {
                let body = match rng.random_range(0..4) {
                    0 => json!({ "draw_type": pick(rng, &["single", "triple", "quintuple", "decade", "bogus", ""]) }),
                    1 => json!({ "count": pick(rng, &[-1, 0, 1, 3, 5, 10, 11, 1_000_000_000_000i64]) }),
                    2 => json!({ "draw_type": "single", "request_id": format!("k{}", rng.random_range(0..5)) }),
                    _ => json!({ "draw_type": junk(rng), "count": junk(rng) }),
                };
                self.send(Method::POST, "/api/lottery/draw", t, Some(body)).await
            }
            2 | 3 => {
                let product = if rng.random_bool(0.8) { json!(pick(rng, &self.products)) } else { junk(rng) };
                let quantity = if rng.random_bool(0.8) { json!(rng.random_range(1..3)) } else { junk(rng) };
                let mut body = json!({ "product_id": product, "quantity": quantity });
                if rng.random_bool(0.3) {
                    body["request_id"] = json!(format!("r{}", rng.random_range(0..5)));
                }
                let path = pick(rng, &["/api/exchange/redeem", "/api/exchange/submit"]);
                self.send(Method::POST, path, t, Some(body)).await
            }
            4 => {
                let amount = pick(rng, &["20", "0.01", "10000", "0", "-5", "abc", "1e9", "99999999999999999999"]);
                let form = Form::new().text("amount", amount.to_string()).part(
                    pick(rng, &["photo", "image", "file", "other"]).to_string(),
                    Part::bytes(receipt(rng)).file_name("r.jpg"),
                );
                let req =
                    self.server.http.post(self.server.url("/api/photo/upload")).bearer_auth(&me.token).multipart(form);
                self.finish(format!("upload amount={amount}"), req).await
            }
            5 | 6 => {
                // The merchant decides whatever is pending, sometimes with absurd amounts.
                let (_, pending) =
                    self.server.get("/api/merchant/reviews/pending?limit=5", Some(&self.merchant.token)).await;
                let id = pending["data"]["reviews"]
                    .as_array()
                    .and_then(|r| r.first())
                    .and_then(|r| r["upload_id"].as_i64())
                    .unwrap_or_else(|| rng.random_range(-1..50));
                let body = match rng.random_range(0..3) {
                    0 => {
                        json!({ "upload_id": id, "action": "approve", "actual_amount": pick(rng, &[20.0, 0.0, -1.0, 10000.0, 1e12]) })
                    }
                    1 => json!({ "upload_id": id, "action": "reject", "reason": junk(rng) }),
                    _ => json!({ "upload_id": junk(rng), "action": junk(rng) }),
                };
                self.send(Method::POST, "/api/merchant/review", Some(&self.merchant.token), Some(body)).await
            }
            7 => {
                let odd = junk(rng);
                let delta =
                    pick(rng, &[json!(100), json!(-100), json!(-1_000_000), json!(0), json!(1_000_001), odd]).clone();
                let path = format!("/api/admin/users/{}/points", me.user_id);
                self.send(Method::POST, &path, Some(&self.admin), Some(json!({ "delta": delta, "reason": "随机调整" })))
                    .await
            }
            8 => {
                let id = pick(rng, &self.products);
                let odd = junk(rng);
                let body = json!({ "quantity": pick(rng, &[json!(1), json!(0), json!(-3), odd]).clone() });
                self.send(Method::POST, &format!("/api/admin/products/{id}/restock"), Some(&self.admin), Some(body))
                    .await
            }
            9 => {
                let code =
                    if rng.random_bool(0.5) { json!(format!("{:012X}", rng.random::<u64>())) } else { junk(rng) };
                self.send(
                    Method::POST,
                    "/api/merchant/orders/verify",
                    Some(&self.merchant.token),
                    Some(json!({ "exchange_code": code })),
                )
                .await
            }
            10 => {
                // Someone else's token, a refresh token as an access token, or garbage.
                let token = match rng.random_range(0..3) {
                    0 => me.refresh.clone(),
                    1 => format!("{}x", me.token),
                    _ => "not-a-token".to_string(),
                };
                self.send(Method::GET, "/api/user/info", Some(&token), None).await
            }
            11 => {
                const RAW: [&[u8]; 6] = [b"{", b"[]", b"null", b"\"x\"", b"{\"draw_type\":}", &[0xFF, 0xFE]];
                let raw = RAW[rng.random_range(0..RAW.len())];
                let req = self
                    .server
                    .http
                    .post(self.server.url("/api/lottery/draw"))
                    .bearer_auth(&me.token)
                    .header("content-type", "application/json")
                    .body(raw.to_vec());
                self.finish(format!("raw body {raw:?}"), req).await
            }
            12 => {
                let big = "x".repeat(70 * 1024);
                self.send(Method::PUT, "/api/user/profile", t, Some(json!({ "nickname": big }))).await
            }
            13 => {
                let path = pick(
                    rng,
                    &[
                        "/api/nope",
                        "/api/lottery/draw/../../etc/passwd",
                        "/api/exchange/products?limit=999",
                        "/api/lottery/records?page=-1",
                        "/api/exchange/products?sort_by=password",
                        "/api/lottery/records?page=2&limit=50",
                    ],
                );
                let method = pick(rng, &[Method::GET, Method::DELETE, Method::PATCH]).clone();
                self.send(method, path, t, None).await
            }
            14 => {
                let path = pick(
                    rng,
                    &[
                        "/api/lottery/config",
                        "/api/lottery/records",
                        "/api/lottery/my-prizes",
                        "/api/exchange/orders",
                        "/api/user/points-records",
                        "/api/lottery/pity-status",
                        "/api/photo/history",
                    ],
                );
                self.send(Method::GET, path, t, None).await
            }
            _ => {
                let id = rng.random_range(-1..40);
                self.send(Method::DELETE, &format!("/api/photo/{id}"), t, None).await
            }
        };
        self.check(&x);
    }
}

async fn random_sequences_keep_every_invariant(backend: Backend) {
    let seed = std::env::var("HOSTILE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    eprintln!("hostile sequences: HOSTILE_SEED={seed}");
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = server.login(&phone(91, 900)).await;
    assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{}/merchant", merchant.user_id),
                Some(&admin),
                json!({ "is_merchant": true }),
            )
            .await,
    );
    let mut customers = Vec::new();
    for i in 0..6 {
        customers.push(server.login(&phone(91, i)).await);
    }
    let (_, list) = server.get("/api/exchange/products?limit=50", Some(&customers[0].token)).await;
    let mut products: Vec<i64> =
        list["data"]["products"].as_array().expect("products").iter().filter_map(|p| p["id"].as_i64()).collect();
    products.push(999_999);
    let world = Arc::new(World {
        server,
        customers,
        merchant,
        admin,
        products,
        ok: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });

    let mut workers = Vec::new();
    // Every customer acts, and so does the merchant as a customer (uploading receipts that it
    // may then be asked to decide).
    for w in 0..=world.customers.len() {
        let world = world.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = Pcg64Mcg::seed_from_u64(seed.wrapping_add(w as u64));
            let me = world.customers.get(w).unwrap_or(&world.merchant).clone();
            for _ in 0..250 {
                world.step(&mut rng, &me).await;
            }
        }));
    }
    for w in workers {
        if let Err(e) = w.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let (ok, refused) = (world.ok.load(Ordering::Relaxed), world.refused.load(Ordering::Relaxed));
    eprintln!("hostile sequences: {ok} accepted, {refused} refused");
    assert!(ok > 50 && refused > 50, "the mix should both succeed and be refused: {ok} / {refused}");

    let log = world.server.log();
    assert!(!log.contains("panicked"), "a panic reached the log:\n{log}");
    world.server.assert_reconciled();
    for c in &world.customers {
        let balance = world.server.balance(c).await;
        assert!(balance >= 0, "negative balance {balance}");
    }
}

both_backends!(random_sequences_keep_every_invariant);
