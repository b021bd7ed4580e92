//! Micro-benchmarks of the hot paths: `cargo bench --bench hot_paths`.
//!
//! - sampling a draw (the cumulative table and the pity/near-miss rules),
//! - a wallet actor round trip that does not touch the store (a balance snapshot),
//! - access-token verification,
//! - rendering a draw response into the envelope.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use restaurant_lottery::actors::prize_wheel::PrizeWheelArgs;
use restaurant_lottery::actors::stock_ledger::{StockHandle, StockLedgerArgs};
use restaurant_lottery::actors::Wheels;
use restaurant_lottery::actors::{WalletDeps, Wallets};
use restaurant_lottery::auth::tokens::{Subject, SubjectKind, Tokens};
use restaurant_lottery::domain::wheel::{demo_sectors, spin, Pity, SamplingTable};
use restaurant_lottery::http::lottery::DrawBatch;
use restaurant_lottery::http::ok;
use restaurant_lottery::notify::Hub;
use restaurant_lottery::store::group_commit::{DrawCommitter, RedemptionCommitter};
use restaurant_lottery::store::wheel::{CommittedBatch, CommittedDraw};
use restaurant_lottery::store::Store;
use restaurant_lottery::Config;

fn sampling(c: &mut Criterion) {
    let sectors = demo_sectors();
    let table = SamplingTable::build(&sectors);
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let pity = Pity { enabled: true, limit: 10 };
    c.bench_function("wheel: sample one draw (table + pity + near miss)", |b| {
        let mut count = 0;
        b.iter(|| {
            let s = spin(&sectors, &table, pity, count, rng.random::<f64>());
            count = s.pity_after;
            black_box(s)
        })
    });
    c.bench_function("wheel: rebuild the sampling table", |b| {
        b.iter(|| black_box(SamplingTable::build(black_box(&sectors))))
    });
}

fn tokens(c: &mut Criterion) {
    let config = Config::from_lookup(|_| None).expect("config");
    let tokens = Tokens::new(&config);
    let subject = Subject { kind: SubjectKind::User, id: 42, mobile: "138****8000".into(), is_merchant: false };
    let pair = tokens.issue(&subject, "family").expect("issue");
    c.bench_function("auth: verify an access token", |b| {
        b.iter(|| black_box(tokens.verify_access(black_box(&pair.access_token))))
    });
}

fn envelope(c: &mut Criterion) {
    let draw = |i: i64| CommittedDraw {
        draw_id: i,
        prize_id: 3,
        prize_name: "100积分".into(),
        prize_type: "points".into(),
        prize_value: 100,
        angle: 90,
        is_near_miss: false,
        is_pity: false,
        redemption_code: None,
        is_activity: false,
    };
    let batch = CommittedBatch {
        batch_id: "0f3a".into(),
        user_id: 1,
        draws: (0..10).map(draw).collect(),
        points_cost: 1000,
        points_won: 1000,
        balance_after: 5000,
        pity_count: 3,
        pity_limit: 10,
    };
    c.bench_function("http: render a decade draw into the envelope", |b| {
        b.iter(|| {
            let body = ok(DrawBatch::of(black_box(&batch), false));
            black_box(serde_json::to_vec(&body).expect("json"))
        })
    });
}

fn wallet_round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = std::env::temp_dir().join(format!("bench-{}", std::process::id()));
    let url = format!("sqlite://{}/bench.db", dir.display());
    let (wallets, user_id) = rt.block_on(async {
        let store = Store::connect(&url, 4).await.expect("store");
        store.migrate().await.expect("migrate");
        store.seed_demo_wheel(0).await.expect("seed");
        let user = match store.user_by_phone("13800138000").await.expect("lookup") {
            Some(u) => u,
            None => store.create_user("13800138000", "用户8000", 1000, 0).await.expect("user"),
        };
        let hub = Hub::new(16);
        let ttl = restaurant_lottery::actors::RESERVATION_TTL;
        let wait = restaurant_lottery::actors::CALL_TIMEOUT;
        let args = PrizeWheelArgs {
            campaign_id: 1,
            store: store.clone(),
            hub: hub.clone(),
            seed: Some(1),
            reservation_ttl: ttl,
            business_tz: Default::default(),
            stock_node: None,
        };
        let wheels = Wheels::start(args, wait).await.expect("wheels");
        let args = StockLedgerArgs { store: store.clone(), hub: hub.clone(), reservation_ttl: ttl, stock_node: None };
        let stock = StockHandle::start(args, wait).await.expect("stock");
        let wallets = Wallets::start(WalletDeps {
            store: store.clone(),
            hub,
            wheels,
            coupon_valid_days: 30,
            stock,
            draws: DrawCommitter::start(store.clone(), 1),
            exchanges: RedemptionCommitter::start(store.clone(), 1),
            draws_per_min: 10,
            default_daily_limit: 0,
            idle_after: std::time::Duration::from_secs(600),
            events: restaurant_lottery::events::EventBus::default(),
            loyalty: std::sync::Arc::new(restaurant_lottery::actors::wallet::LoyaltyRules::new(
                Default::default(),
                10,
                Default::default(),
            )),
            call_timeout: wait,
            cluster: None,
        })
        .await
        .expect("wallets");
        wallets.snapshot(user.id).await.expect("warm");
        (wallets, user.id)
    });
    c.bench_function("actors: wallet snapshot round trip (no store)", |b| {
        b.to_async(&rt).iter(|| async { black_box(wallets.snapshot(user_id).await.expect("snapshot")) })
    });
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, sampling, tokens, envelope, wallet_round_trip);
criterion_main!(benches);
