//! Carries what the Hub and the event stream publish to the other nodes, over NATS.
//!
//! Subjects, each after `CLUSTER_NAME` (`rl` by default; designed for millions of customers: no
//! node subscribes per customer it does not hold a socket of):
//!
//! | subject          | payload                          | who subscribes                              |
//! |------------------|----------------------------------|---------------------------------------------|
//! | `user.<id>`      | one rendered message             | only a node holding a socket of customer id |
//! | `broadcast`      | a stock / prize / win / campaign | every node; coalesced by its own Hub        |
//! | `merchants`      | one rendered message             | every node (its merchants' sockets)         |
//! | `sockets`        | close a customer's sockets, …    | every node                                  |
//! | `facts`          | a committed fact                 | every node (its leaderboards)               |
//! | `auth`           | a ban, a revoked token family    | every node (its copies of both)             |
//! | `catalog`        | a campaign or the shop changed   | every node (its wheels and shop ledger)     |
//!
//! A customer's own events are published by the node that owns their wallet, once, and reach
//! whichever nodes hold that customer's sockets; the owner's own sockets get them directly (the
//! connection is `no_echo`). Everything leaves through one task in the order it was handed over,
//! so a customer's messages keep their order across nodes too.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::actors::{StockHandle, Wheels};
use crate::auth::{BanList, Tokens};
use crate::events::{Committed, EventBus};
use crate::notify::event::{CampaignUpdate, PrizeStockUpdate, StockUpdate, WheelWin};
use crate::notify::{Hub, ServerEvent};

const BROADCAST: &str = "broadcast";
const MERCHANTS: &str = "merchants";
const SOCKETS: &str = "sockets";
const FACTS: &str = "facts";
const AUTH: &str = "auth";
const CATALOG: &str = "catalog";
const USER: &str = "user";

/// A broadcast the Hub coalesces (the only kinds it broadcasts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Broadcast {
    Stock(StockUpdate),
    PrizeStock(PrizeStockUpdate),
    Win(WheelWin),
    Campaign(CampaignUpdate),
}

impl Broadcast {
    pub fn of(event: &ServerEvent) -> Option<Broadcast> {
        Some(match event {
            ServerEvent::StockUpdate(s) => Broadcast::Stock(s.clone()),
            ServerEvent::PrizeStockUpdate(p) => Broadcast::PrizeStock(p.clone()),
            ServerEvent::WheelWin(w) => Broadcast::Win(w.clone()),
            ServerEvent::CampaignUpdate(c) => Broadcast::Campaign(c.clone()),
            _ => return None,
        })
    }

    fn event(self) -> ServerEvent {
        match self {
            Broadcast::Stock(s) => ServerEvent::StockUpdate(s),
            Broadcast::PrizeStock(p) => ServerEvent::PrizeStockUpdate(p),
            Broadcast::Win(w) => ServerEvent::WheelWin(w),
            Broadcast::Campaign(c) => ServerEvent::CampaignUpdate(c),
        }
    }
}

/// What revokes sockets on every node (a sign-out, a ban, a lost merchant role).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SocketControl {
    CloseUser { user_id: i64 },
    CloseFamily { user_id: i64, family: String },
    SetMerchant { user_id: i64, on: bool },
}

/// What every node's request path must refuse from now on (or no longer refuse).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AuthControl {
    Ban { user_id: i64, banned: bool },
    Revoke { family: String, until_ms: i64 },
}

/// An administrator changed what the actors of every node hold in memory.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum CatalogChange {
    /// A campaign's odds, rules, status or prize stock.
    Campaign { campaign_id: i64 },
    /// A product, its price or stock.
    Shop,
}

#[derive(Debug)]
enum Out {
    Publish(String, Bytes),
    Watch(i64, String),
    Unwatch(i64),
}

/// What the relay keeps in step with the other nodes on this node.
pub struct Local {
    pub hub: Hub,
    pub events: EventBus,
    pub tokens: Arc<Tokens>,
    pub banned: Arc<BanList>,
    pub wheels: Wheels,
    pub shop: StockHandle,
}

/// The Hub's and the event stream's way out to the other nodes. Never blocks a publisher.
#[derive(Clone, Debug)]
pub struct Relay {
    out: mpsc::UnboundedSender<Out>,
    /// `CLUSTER_NAME.`, before every subject.
    prefix: Arc<str>,
}

impl Relay {
    /// Starts the relay for `hub` and `events` on this node's NATS connection, and wires both
    /// to it.
    pub async fn start(cluster: &str, nats: async_nats::Client, local: Local) -> anyhow::Result<Relay> {
        let Local { hub, events, tokens, banned, wheels, shop } = local;
        let (out, rx) = mpsc::unbounded_channel();
        let relay = Relay { out, prefix: format!("{cluster}.").into() };
        subscribe(&nats, relay.subject(BROADCAST), {
            let hub = hub.clone();
            move |payload| match serde_json::from_slice::<Broadcast>(&payload) {
                Ok(b) => hub.broadcast_here(b.event()),
                Err(e) => tracing::warn!(error = %e, "undecodable broadcast from another node"),
            }
        })
        .await?;
        subscribe(&nats, relay.subject(MERCHANTS), {
            let hub = hub.clone();
            move |payload| {
                if let Some(text) = text(payload) {
                    hub.to_merchants_here(text);
                }
            }
        })
        .await?;
        subscribe(&nats, relay.subject(SOCKETS), {
            let hub = hub.clone();
            move |payload| match serde_json::from_slice::<SocketControl>(&payload) {
                Ok(c) => hub.control_here(c),
                Err(e) => tracing::warn!(error = %e, "undecodable socket control from another node"),
            }
        })
        .await?;
        subscribe(&nats, relay.subject(FACTS), {
            let events = events.clone();
            move |payload| match serde_json::from_slice::<Committed>(&payload) {
                Ok(fact) => events.publish_from_elsewhere(fact),
                Err(e) => tracing::warn!(error = %e, "undecodable fact from another node"),
            }
        })
        .await?;
        subscribe(&nats, relay.subject(AUTH), {
            let (tokens, banned) = (tokens.clone(), banned.clone());
            move |payload| match serde_json::from_slice::<AuthControl>(&payload) {
                Ok(AuthControl::Ban { user_id, banned: on }) => banned.set_here(user_id, on),
                Ok(AuthControl::Revoke { family, until_ms }) => tokens.mark_revoked_here(&family, until_ms),
                Err(e) => tracing::warn!(error = %e, "undecodable auth control from another node"),
            }
        })
        .await?;
        subscribe(&nats, relay.subject(CATALOG), move |payload| {
            match serde_json::from_slice::<CatalogChange>(&payload) {
                Ok(CatalogChange::Campaign { campaign_id }) => {
                    let wheels = wheels.clone();
                    tokio::spawn(async move { wheels.changed_elsewhere(campaign_id).await });
                }
                Ok(CatalogChange::Shop) => shop.resync(),
                Err(e) => tracing::warn!(error = %e, "undecodable catalog change from another node"),
            }
        })
        .await?;
        tokio::spawn(run(nats, hub.clone(), rx));
        hub.set_relay(relay.clone());
        events.set_relay(relay.clone());
        tokens.set_relay(relay.clone());
        banned.set_relay(relay.clone());
        Ok(relay)
    }

    fn send(&self, out: Out) {
        // The task ends only with the process.
        let _ = self.out.send(out);
    }

    fn subject(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    fn user_subject(&self, user_id: i64) -> String {
        format!("{}{USER}.{user_id}", self.prefix)
    }

    fn publish_json(&self, topic: &str, value: &impl Serialize) {
        match serde_json::to_vec(value) {
            Ok(bytes) => self.send(Out::Publish(self.subject(topic), bytes.into())),
            Err(e) => tracing::error!(error = %e, topic, "encoding a relayed message failed"),
        }
    }

    pub fn to_user(&self, user_id: i64, text: &Utf8Bytes) {
        self.send(Out::Publish(self.user_subject(user_id), Bytes::copy_from_slice(text.as_bytes())));
    }

    pub fn broadcast(&self, b: &Broadcast) {
        self.publish_json(BROADCAST, b);
    }

    pub fn to_merchants(&self, text: &Utf8Bytes) {
        self.send(Out::Publish(self.subject(MERCHANTS), Bytes::copy_from_slice(text.as_bytes())));
    }

    pub fn control(&self, c: &SocketControl) {
        self.publish_json(SOCKETS, c);
    }

    pub fn ban(&self, user_id: i64, banned: bool) {
        self.publish_json(AUTH, &AuthControl::Ban { user_id, banned });
    }

    pub fn revoke(&self, family: &str, until_ms: i64) {
        self.publish_json(AUTH, &AuthControl::Revoke { family: family.to_string(), until_ms });
    }

    pub fn catalog(&self, change: CatalogChange) {
        self.publish_json(CATALOG, &change);
    }

    pub fn fact(&self, fact: &Committed) {
        self.publish_json(FACTS, fact);
    }

    /// The first socket of this customer opened on this node: hear their events.
    pub fn watch(&self, user_id: i64) {
        self.send(Out::Watch(user_id, self.user_subject(user_id)));
    }

    /// The last socket of this customer here closed.
    pub fn unwatch(&self, user_id: i64) {
        self.send(Out::Unwatch(user_id));
    }
}

fn text(payload: Bytes) -> Option<Utf8Bytes> {
    match String::from_utf8(payload.to_vec()) {
        Ok(s) => Some(Utf8Bytes::from(s)),
        Err(_) => {
            tracing::warn!("a relayed message was not UTF-8");
            None
        }
    }
}

async fn subscribe(
    nats: &async_nats::Client,
    subject: String,
    deliver: impl Fn(Bytes) + Send + 'static,
) -> anyhow::Result<()> {
    let mut sub =
        nats.subscribe(subject.clone()).await.map_err(|e| anyhow::anyhow!("subscribing to {subject}: {e}"))?;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            deliver(msg.payload);
        }
    });
    Ok(())
}

/// Sends everything in order; keeps one subscription per customer with a socket here.
async fn run(nats: async_nats::Client, hub: Hub, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut watching: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(out) = rx.recv().await {
        match out {
            Out::Publish(subject, payload) => {
                if let Err(e) = nats.publish(subject, payload).await {
                    tracing::warn!(error = %e, "publishing to the other nodes failed");
                }
            }
            Out::Watch(user_id, subject) => {
                if watching.contains_key(&user_id) {
                    continue;
                }
                match nats.subscribe(subject).await {
                    Ok(mut sub) => {
                        let hub = hub.clone();
                        let task = tokio::spawn(async move {
                            while let Some(msg) = sub.next().await {
                                if let Some(text) = text(msg.payload) {
                                    hub.to_user_here(user_id, text);
                                }
                            }
                        });
                        watching.insert(user_id, task);
                    }
                    Err(e) => tracing::warn!(error = %e, user_id, "subscribing to a customer's events failed"),
                }
            }
            Out::Unwatch(user_id) => {
                // Dropping the subscription (with its task) unsubscribes.
                if let Some(task) = watching.remove(&user_id) {
                    task.abort();
                }
            }
        }
    }
}
