//! The task watcher, black-box on SQLite and MariaDB: `task_completed` arrives on the customer's
//! socket for the commit that completes a task, not before and not after, when the customer moves
//! a task one small step at a time. (The watcher reads the store again only when the facts since
//! its last read could have completed a task, so these are the steps that could go wrong.)

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// How long a customer waits for a `task_completed` that must come.
const WAIT: Duration = Duration::from_secs(5);
/// How long a customer listens for one that must not come.
const QUIET: Duration = Duration::from_millis(700);

/// The keys of every `task_completed` that arrives within `window`.
async fn completed_within(ws: &mut WsClient, window: Duration) -> Vec<String> {
    ws.drain(window)
        .await
        .iter()
        .filter(|m| m["type"] == "task_completed")
        .map(|m| m["data"]["key"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits for the `task_completed` of `key`; fails on any other first.
async fn expect_completed(ws: &mut WsClient, key: &str) {
    let m = ws.next_of("task_completed", WAIT).await.unwrap_or_else(|| panic!("task_completed for {key}"));
    assert_eq!(m["data"]["key"], key, "{m}");
}

async fn single_draw(server: &TestServer, c: &Customer) -> Value {
    assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await)
}

async fn completions_arrive_with_the_commit_that_completes(backend: Backend) {
    // Eleven draws in a few seconds: above the production per-minute window.
    let server = TestServer::start_with(backend, &[("DRAW_LIMIT_PER_MIN", "100")]).await;
    let admin = server.admin().await;
    server.wheel_all_on(&admin, "谢谢参与", None).await;
    let c = server.login(&phone(707, 1)).await;
    // Enough points for ten draws whatever the sign-up grant is.
    let path = format!("/api/admin/users/{}/points", c.user_id);
    assert_ok(&server.post(&path, Some(&admin), json!({ "delta": 2000, "reason": "task watcher test" })).await);
    let cost = {
        let config = assert_ok(&server.get("/api/lottery/config", Some(&c.token)).await);
        config["cost_points"].as_i64().unwrap_or_else(|| panic!("cost_points in {config}"))
    };
    assert_eq!(cost, 100, "the weekly spender's 1000 points are ten draws of the default wheel");
    let mut ws = server.ws(&c.token).await;

    // Draw 1 completes first_draw; daily_draw (3 today) is at 1.
    single_draw(&server, &c).await;
    expect_completed(&mut ws, "first_draw").await;
    assert_eq!(completed_within(&mut ws, QUIET).await, Vec::<String>::new());
    // Draw 2: nothing completes.
    single_draw(&server, &c).await;
    assert_eq!(completed_within(&mut ws, QUIET).await, Vec::<String>::new());
    // Draw 3 completes daily_draw, and only that.
    single_draw(&server, &c).await;
    expect_completed(&mut ws, "daily_draw").await;
    assert_eq!(completed_within(&mut ws, QUIET).await, Vec::<String>::new());
    // Draws 4 to 9 spend 900 of the weekly spender's 1000 points: nothing completes.
    for _ in 4..=9 {
        single_draw(&server, &c).await;
    }
    assert_eq!(completed_within(&mut ws, QUIET).await, Vec::<String>::new());
    let tasks = assert_ok(&server.get("/api/tasks", Some(&c.token)).await);
    let spender = tasks["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["key"] == "weekly_spender"))
        .unwrap_or_else(|| panic!("weekly_spender in {tasks}"));
    assert_eq!((spender["progress"].as_i64(), spender["status"].as_str()), (Some(900), Some("in_progress")));
    // Draw 10 completes it.
    single_draw(&server, &c).await;
    expect_completed(&mut ws, "weekly_spender").await;
    // Further draws announce nothing again.
    single_draw(&server, &c).await;
    assert_eq!(completed_within(&mut ws, QUIET).await, Vec::<String>::new());
    server.assert_reconciled();
}

both_backends!(completions_arrive_with_the_commit_that_completes);
