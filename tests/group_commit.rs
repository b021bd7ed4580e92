//! Group commit at the store level, against real SQLite and MariaDB: many customers' draw
//! batches (or redemptions) written in one transaction, and a group with one bad write (a wallet
//! that changed underneath it) refusing only that write while its neighbours commit.

mod common;

use common::{fresh_database, Backend, TestDatabase};
use restaurant_lottery::domain::shop::ProductPatch;
use restaurant_lottery::store::audit::AuditEntry;
use restaurant_lottery::store::group_commit::{DrawCommitter, RedemptionCommitter};
use restaurant_lottery::store::shop::RedemptionWrite;
use restaurant_lottery::store::wheel::{DrawBatchWrite, DrawWrite};
use restaurant_lottery::store::Store;

/// A migrated store with the demo wheel, on a database of its own; keep the guard alive for as
/// long as the store is used (dropping it drops the database).
async fn fresh_store(backend: Backend) -> (Store, TestDatabase) {
    let db = fresh_database(backend);
    let store = Store::connect(&db.url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.seed_demo_wheel(0).await.expect("seed");
    (store, db)
}

/// A single draw of 100积分 (points 100) for a customer believed to hold `balance`.
async fn write_for(store: &Store, user_id: i64, balance: i64) -> DrawBatchWrite {
    let (sectors, _) = store.wheel().await.expect("wheel").expect("configured");
    let prize = sectors.iter().find(|s| s.name == "100积分").expect("100积分").clone();
    DrawBatchWrite {
        user_id,
        batch_id: format!("b{user_id}"),
        balance_before: balance,
        fence: 0,
        cost_per_draw: 100,
        draws: vec![DrawWrite {
            prize,
            is_pity: false,
            is_near_miss: false,
            redemption_code: None,
            fair: None,
            expires_at: None,
        }],
        pity_before: 0,
        pity_after: 1,
        pity_limit: 10,
        idempotency_key: Some(format!("k{user_id}")),
        at: 1,
        campaign_id: 1,
        seed_id: None,
        client_seed: None,
        stock_node: None,
    }
}

async fn one_bad_write_is_refused_alone(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let mut writes = Vec::new();
    for i in 0..40 {
        let u = store.create_user(&format!("1350000{:04}", i), "x", 1000, 0).await.expect("user");
        // Customer 7's wallet is stale: the store holds 1000, the write believes 999.
        writes.push(write_for(&store, u.id, if i == 7 { 999 } else { 1000 }).await);
    }
    let stale = writes[7].user_id;

    // Written as one group, the stale wallet sinks the whole transaction…
    assert!(store.commit_draw_group(&writes).await.is_err());
    for w in &writes {
        assert_eq!(store.wallet(w.user_id).await.unwrap().unwrap().0, 1000, "nothing of a failed group is kept");
    }

    // …so the committer retries a failed group's writes one by one: only the stale one fails.
    let committer = DrawCommitter::start(store.clone(), 2);
    let mut tasks = Vec::new();
    for w in writes.clone() {
        let c = committer.clone();
        tasks.push(tokio::spawn(async move { (w.user_id, c.commit(w).await) }));
    }
    let mut draw_ids = std::collections::HashSet::new();
    for t in tasks {
        let (user, result) = t.await.expect("task");
        if user == stale {
            assert!(result.is_err(), "the stale wallet's write must be refused");
            assert_eq!(store.wallet(user).await.unwrap().unwrap(), (1000, 0));
        } else {
            let batch = result.expect("a good write commits");
            assert_eq!(batch.balance_after, 1000, "100 spent, 100 won");
            assert!(draw_ids.insert(batch.draws[0].draw_id), "draw ids are unique");
            assert_eq!(store.wallet(user).await.unwrap().unwrap(), (1000, 1));
        }
    }
    let report = store.reconcile().await.expect("reconcile");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(report.ledger_rows_checked, 40 + 39 * 2, "sign-up grants + a debit and a credit per good write");
}

/// The same for shop redemptions, which share one hot product row: one group, one guarded
/// stock decrement, and the stale wallet refused alone.
async fn one_bad_redemption_is_refused_alone(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let audit = AuditEntry {
        actor_kind: "admin".into(),
        actor_id: 1,
        actor_name: "test".into(),
        action: "product.create".into(),
        target_type: "product".into(),
        target_id: "0".into(),
        before: None,
        after: None,
        at: 0,
    };
    let patch = ProductPatch {
        name: Some("奶茶".into()),
        category: Some("饮品".into()),
        exchange_points: Some(100),
        stock: Some(30),
        ..Default::default()
    };
    let product = store.create_product(&patch, &audit).await.expect("product");
    let mut writes = Vec::new();
    for i in 0..20 {
        let u = store.create_user(&format!("1360000{:04}", i), "x", 1000, 0).await.expect("user");
        writes.push(RedemptionWrite {
            user_id: u.id,
            balance_before: if i == 3 { 990 } else { 1000 },
            fence: 0,
            product_id: product.id,
            product_name: product.name.clone(),
            quantity: 1,
            points_cost: 100,
            exchange_code: format!("CODE{i:06}"),
            delivery_info: None,
            idempotency_key: None,
            at: 1,
            stock_node: None,
        });
    }
    let stale = writes[3].user_id;
    assert!(store.commit_redemption_group(&writes).await.is_err(), "the stale wallet sinks a shared group");
    let committer = RedemptionCommitter::start(store.clone(), 2);
    let mut tasks = Vec::new();
    for w in writes {
        let c = committer.clone();
        tasks.push(tokio::spawn(async move { (w.user_id, c.commit(w).await) }));
    }
    let mut order_ids = std::collections::HashSet::new();
    for t in tasks {
        let (user, result) = t.await.expect("task");
        if user == stale {
            assert!(result.is_err());
            assert_eq!(store.wallet(user).await.unwrap().unwrap().0, 1000);
        } else {
            let order = result.expect("a good redemption commits");
            assert!(order_ids.insert(order.order_id));
            assert_eq!(store.wallet(user).await.unwrap().unwrap().0, 900);
        }
    }
    assert_eq!(store.product(product.id).await.unwrap().unwrap().stock, 30 - 19);
    let report = store.reconcile().await.expect("reconcile");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// A write abandoned half way (an early return, an error, a caller that gave up) rolls back
/// before the next writer gets the database: on SQLite the next write must never find the lock
/// still held ("database is locked"), and nothing of the abandoned writes remains.
async fn an_abandoned_write_never_blocks_the_next_one(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(store.pool()).await.expect("count")
    };
    let before = rows().await;
    for i in 0..40 {
        let mut abandoned = store.begin_write().await.expect("begin");
        restaurant_lottery::store::audit::insert(&mut abandoned, &entry(&format!("abandoned {i}")))
            .await
            .expect("insert");
        drop(abandoned);
        let mut next = store.begin_write().await.expect("the next write begins");
        restaurant_lottery::store::audit::insert(&mut next, &entry(&format!("kept {i}")))
            .await
            .expect("the next write writes");
        next.commit().await.expect("the next write commits");
    }
    assert_eq!(rows().await, before + 40, "only the committed writes remain");
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        actor_kind: "admin".into(),
        actor_id: 1,
        actor_name: "test".into(),
        action: action.into(),
        target_type: "test".into(),
        target_id: "0".into(),
        before: None,
        after: None,
        at: 0,
    }
}

both_backends!(
    one_bad_write_is_refused_alone,
    one_bad_redemption_is_refused_alone,
    an_abandoned_write_never_blocks_the_next_one
);
