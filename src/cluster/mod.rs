//! Cluster mode: several nodes behind a load balancer, one shared MySQL-compatible database,
//! NATS between them (DESIGN.md "Cluster"). This module owns the node's membership (its lease,
//! renewed in the database), where each customer's wallet lives (ownership rows with a fencing
//! number, `store::cluster`), the forwarding of wallet calls to the owning node over NATS
//! request/reply ([`wire`]), and the relay that carries socket events and committed facts to the
//! other nodes ([`relay`]).
//!
//! ```text
//!   request for customer 42 on node B
//!     └─ Wallets: a live wallet here? ──yes──► call it
//!          │ no
//!          ▼
//!        owner of 42 (cache, else the users row + the owner's lease)
//!          ├─ a live other node A ──► NATS request <cluster>.wallet.A ──► A's Wallets (never forwards)
//!          └─ nobody / expired / B ──► claim (owner_fence + 1) and spawn the wallet here
//! ```
//!
//! Why forward rather than move the lease on every request: a customer whose requests alternate
//! between nodes (a round-robin balancer does exactly that) would move their wallet on every
//! request, each move a database write and a reload of the wallet; forwarding costs one NATS
//! round trip and keeps the wallet's memory (draw window, recent idempotency keys) warm. The
//! wallet moves only when its node's lease expires, or when it goes idle and is released.

pub mod codes;
pub mod relay;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures_util::StreamExt;

use crate::actors::Failure;
use crate::config::ClusterSettings;
use crate::domain::time::now_ms;
use crate::store::cluster::NodeRow;
use crate::store::Store;
use wire::{Forwarded, WalletCall, WalletDone, WireFailure};

/// The subject a node's wallets answer on.
fn wallet_subject(cluster: &str, node_id: &str) -> String {
    format!("{cluster}.wallet.{node_id}")
}

/// A node's part in the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    /// `CLUSTER_NAME`: the first token of every subject.
    name: String,
    node_id: String,
    node_arc: Arc<str>,
    epoch: i64,
    lease: Duration,
    nats: async_nats::Client,
    store: Store,
    /// Milliseconds after `base` until which this node's lease certainly runs (0 = lapsed).
    valid_until: AtomicU64,
    base: Instant,
    /// Another process joined under this node id: this one must never serve again.
    superseded: AtomicBool,
    /// Where other nodes' customers were last found, so a forwarded call needs no query.
    owners: DashMap<i64, String>,
    /// The nodes whose lease ran at the last heartbeat: a customer found on a node that has
    /// since lost its lease is looked up again (that node may be paused, and a call to it would
    /// wait for nothing).
    alive: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Called when the lease lapsed (a pause, a partition): every wallet here may have been taken.
    on_lapse: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// Where a customer's wallet call goes.
pub enum Route {
    Here,
    Node(String),
}

impl Cluster {
    /// Connects to NATS, joins the membership table with a fresh epoch and starts renewing.
    pub async fn join(settings: &ClusterSettings, store: Store, call_timeout: Duration) -> anyhow::Result<Cluster> {
        let nats = async_nats::ConnectOptions::new()
            .name(format!("restaurant-lottery {}", settings.node_id))
            // A node's own broadcasts are delivered to its sockets directly, not echoed back.
            .no_echo()
            .request_timeout(Some(call_timeout))
            .connect(settings.nats_url.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("connecting to NATS at {}: {e}", settings.nats_url))?;
        let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
        let started = Instant::now();
        let epoch = store.join_cluster(&settings.node_id, lease_ms, now_ms()).await?;
        let cluster = Cluster {
            inner: Arc::new(Inner {
                name: settings.name.clone(),
                node_id: settings.node_id.clone(),
                node_arc: settings.node_id.as_str().into(),
                epoch,
                lease: settings.lease,
                nats,
                store,
                valid_until: AtomicU64::new(0),
                base: started,
                superseded: AtomicBool::new(false),
                owners: DashMap::new(),
                alive: Default::default(),
                on_lapse: OnceLock::new(),
            }),
        };
        cluster.renewed(started);
        cluster.refresh_alive().await;
        tracing::info!(node_id = %settings.node_id, epoch, lease_ms, "joined the cluster");
        Ok(cluster)
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The node id, shared (it travels with every draw batch whose prizes come out of this
    /// node's stock blocks).
    pub fn node_arc(&self) -> Arc<str> {
        self.inner.node_arc.clone()
    }

    pub fn epoch(&self) -> i64 {
        self.inner.epoch
    }

    /// `CLUSTER_NAME`, which starts every subject.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// What to do when the lease lapsed (set once, by the application: stop every wallet).
    pub fn on_lapse(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.inner.on_lapse.set(Box::new(f));
    }

    /// Whether this node may serve wallets now: its lease certainly runs. A lease is counted
    /// from before the renewal was sent, less a fifth for clock-rate drift, so this node stops
    /// trusting its lease before any other node can believe it expired.
    pub fn lease_valid(&self) -> bool {
        if self.inner.superseded.load(Ordering::Relaxed) {
            return false;
        }
        let now = self.inner.base.elapsed().as_millis() as u64;
        now < self.inner.valid_until.load(Ordering::Acquire)
    }

    fn renewed(&self, sent_at: Instant) {
        let trusted = self.inner.lease.as_millis() as u64 * 4 / 5;
        let from = sent_at.duration_since(self.inner.base).as_millis() as u64;
        self.inner.valid_until.store(from + trusted, Ordering::Release);
    }

    /// Renews the lease every fifth of it until the process ends. A renewal that comes after
    /// the lease lapsed (the process was paused, the database unreachable) first drops every
    /// wallet of this node: other nodes may have taken those customers meanwhile.
    pub fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let every = cluster.inner.lease / 5;
            let lease_ms = i64::try_from(cluster.inner.lease.as_millis()).unwrap_or(i64::MAX);
            loop {
                tokio::time::sleep(every).await;
                let sent_at = Instant::now();
                let lapsed = !cluster.lease_valid();
                match cluster.inner.store.renew_lease(&cluster.inner.node_id, cluster.inner.epoch, lease_ms).await {
                    Ok(true) => {
                        if lapsed {
                            tracing::warn!("this node's lease had lapsed; dropping its wallets before serving again");
                            cluster.inner.owners.clear();
                            if let Some(f) = cluster.inner.on_lapse.get() {
                                f();
                            }
                        }
                        cluster.renewed(sent_at);
                        cluster.refresh_alive().await;
                        cluster.return_stale_blocks().await;
                    }
                    Ok(false) => {
                        tracing::error!(node_id = %cluster.inner.node_id, "another process joined under this node id; this one stops serving wallets");
                        cluster.inner.superseded.store(true, Ordering::Relaxed);
                        if let Some(f) = cluster.inner.on_lapse.get() {
                            f();
                        }
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the node's lease failed"),
                }
            }
        })
    }

    async fn refresh_alive(&self) {
        match self.inner.store.cluster_nodes().await {
            Ok(nodes) => {
                let alive = nodes.into_iter().filter(|n| n.alive).map(|n| n.node_id).collect();
                *self.inner.alive.write().unwrap_or_else(|p| p.into_inner()) = alive;
            }
            Err(e) => tracing::debug!(error = %e, "could not read the cluster's membership"),
        }
    }

    /// Puts the stock blocks of nodes whose lease expired back into the pools (any live node
    /// may do it; the store locks the blocks, so two nodes doing it at once return each once).
    async fn return_stale_blocks(&self) {
        let stale = match self.inner.store.nodes_with_stale_blocks().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::debug!(error = %e, "could not look for stale stock blocks");
                return;
            }
        };
        for node in stale.into_iter().filter(|n| *n != self.inner.node_id) {
            match self.inner.store.return_blocks(&node).await {
                Ok(units) if units > 0 => tracing::info!(node = %node, units, "returned a silent node's stock blocks"),
                Ok(_) => {}
                Err(e) => tracing::warn!(node = %node, error = %e, "returning a silent node's stock blocks failed"),
            }
        }
    }

    /// Resolves once `node_id` is no longer among the live nodes (as the heartbeat reads them).
    /// The first look waits for a heartbeat that began after the call did, so a node that
    /// joined a moment ago is not taken for lost.
    async fn lost(&self, node_id: &str) {
        tokio::time::sleep(self.inner.lease / 5 + Duration::from_millis(100)).await;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            if !self.is_alive(node_id) {
                return;
            }
        }
    }

    /// The live nodes as of the last heartbeat, sorted (this node always among them).
    fn alive_sorted(&self) -> Vec<String> {
        let mut nodes: Vec<String> =
            self.inner.alive.read().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        if !nodes.contains(&self.inner.node_id) {
            nodes.push(self.inner.node_id.clone());
        }
        nodes.sort();
        nodes
    }

    fn is_alive(&self, node_id: &str) -> bool {
        self.inner.alive.read().unwrap_or_else(|p| p.into_inner()).contains(node_id)
    }

    /// Gives up the lease (clean shutdown): this node's customers move to the others at once.
    pub async fn leave(&self) {
        self.inner.valid_until.store(0, Ordering::Release);
        if let Err(e) = self.inner.store.return_blocks(&self.inner.node_id).await {
            tracing::warn!(error = %e, "returning this node's stock blocks failed; another node will");
        }
        if let Err(e) = self.inner.store.leave_cluster(&self.inner.node_id, self.inner.epoch).await {
            tracing::warn!(error = %e, "leaving the cluster failed; the lease will expire instead");
        }
    }

    /// Where the customer's wallet call goes, as far as this node knows.
    pub async fn route(&self, user_id: i64) -> Result<Route, Failure> {
        let cached = self.inner.owners.get(&user_id).map(|n| n.clone());
        if let Some(node) = cached {
            if self.is_alive(&node) {
                return Ok(Route::Node(node));
            }
            self.inner.owners.remove(&user_id);
        }
        let owner = self.inner.store.wallet_owner(user_id).await?;
        Ok(match owner {
            Some(o) if o.alive => match o.node_id {
                Some(node) if node != self.inner.node_id => {
                    self.inner.owners.insert(user_id, node.clone());
                    Route::Node(node)
                }
                _ => Route::Here,
            },
            _ => Route::Here,
        })
    }

    /// Forgets where the customer was found (it moved, or its node did not answer).
    pub fn forget_owner(&self, user_id: i64) {
        self.inner.owners.remove(&user_id);
    }

    /// Remembers the live node that holds the customer (a claim found it there).
    pub fn found_owner(&self, user_id: i64, node_id: String) {
        if !node_id.is_empty() && node_id != self.inner.node_id {
            self.inner.owners.insert(user_id, node_id);
        }
    }

    /// Sends a wallet call to the node that owns the customer and waits for its answer.
    pub async fn forward(&self, node_id: &str, user_id: i64, call: WalletCall) -> Result<WalletDone, Failure> {
        let payload = serde_json::to_vec(&Forwarded { user_id, call })
            .map_err(|e| Failure::caused_by("encoding a forwarded wallet call", e))?;
        let started = Instant::now();
        let request = self.inner.nats.request(wallet_subject(&self.inner.name, node_id), payload.into());
        // A node that dies mid-call never answers: stop waiting once its lease has expired
        // rather than for the whole call timeout. The outcome is then unknown, as for any
        // timeout (the client's retry with its Idempotency-Key is answered by the new owner).
        let answer = tokio::select! {
            answer = request => answer,
            () = self.lost(node_id) => {
                return Err(Failure::TimedOut(format!("node {node_id} died during a call for user {user_id}")));
            }
        };
        metrics::histogram!("cluster_forward_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("cluster_forwarded_calls_total").increment(1);
        match answer {
            Ok(msg) => {
                let answer: Result<WalletDone, WireFailure> = serde_json::from_slice(&msg.payload)
                    .map_err(|e| Failure::caused_by("decoding a forwarded wallet answer", e))?;
                answer.map_err(Failure::from)
            }
            Err(e) => match e.kind() {
                // Nobody listens on that node's subject: it is gone, and nothing was done.
                async_nats::RequestErrorKind::NoResponders => {
                    Err(Failure::Elsewhere(format!("node {node_id} (wallet of user {user_id}) does not answer")))
                }
                // The call may have run: never retried, like a local timeout.
                async_nats::RequestErrorKind::TimedOut => {
                    Err(Failure::TimedOut(format!("node {node_id} did not answer for user {user_id} in time")))
                }
                _ => Err(Failure::TimedOut(format!("forwarding to node {node_id} for user {user_id} failed: {e}"))),
            },
        }
    }

    /// Answers the wallet calls other nodes forward here, each on its own task, until the
    /// subscription ends. `serve` runs a call on this node's wallets only (it never forwards).
    pub async fn serve_wallet_calls<F, Fut>(&self, serve: F) -> anyhow::Result<tokio::task::JoinHandle<()>>
    where
        F: Fn(i64, WalletCall) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<WalletDone, Failure>> + Send + 'static,
    {
        let mut calls = self
            .inner
            .nats
            .subscribe(wallet_subject(&self.inner.name, &self.inner.node_id))
            .await
            .map_err(|e| anyhow::anyhow!("subscribing to forwarded wallet calls: {e}"))?;
        let nats = self.inner.nats.clone();
        let serve = Arc::new(serve);
        Ok(tokio::spawn(async move {
            while let Some(msg) = calls.next().await {
                let Some(reply) = msg.reply.clone() else { continue };
                let (nats, serve) = (nats.clone(), serve.clone());
                tokio::spawn(async move {
                    let answer: Result<WalletDone, WireFailure> =
                        match serde_json::from_slice::<Forwarded>(&msg.payload) {
                            Ok(f) => serve(f.user_id, f.call).await.map_err(WireFailure::from),
                            Err(e) => Err(WireFailure::Fault(format!("undecodable wallet call: {e}"))),
                        };
                    match serde_json::to_vec(&answer) {
                        Ok(bytes) => {
                            if let Err(e) = nats.publish(reply, bytes.into()).await {
                                tracing::warn!(error = %e, "answering a forwarded wallet call failed");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "encoding a wallet answer failed"),
                    }
                });
            }
        }))
    }

    /// The membership table as the database sees it now, for `/health`.
    pub async fn view(&self) -> Result<Vec<NodeRow>, crate::store::StoreError> {
        self.inner.store.cluster_nodes().await
    }

    pub fn nats_connected(&self) -> bool {
        self.inner.nats.connection_state() == async_nats::connection::State::Connected
    }
}
