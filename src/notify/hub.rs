//! The Hub (customer → sockets) and each socket's bounded outbox. Publishers hand the Hub a
//! [`ServerEvent`] and return at once.
//!
//! A customer's own events are rendered once and queued on that customer's sockets, in order, and
//! go out at once. Broadcasts (stock, prize stock, the ticker of wins) wait for the next flush:
//! only the latest value per product or prize is kept, wins pass the [`Ticker`], and the flush
//! renders each value once into a shared [`Tick`]. What a socket gets of it depends on what it
//! listens to ([`Listen`]): the rendered messages one by one, or one `batch` frame that is itself
//! rendered once per tick for every socket that listens to everything.
//!
//! A socket with nothing queued gets its frame written by the flusher itself, through the
//! socket's [`Wire`], when the socket takes it without waiting: no wake-up of its task. Otherwise
//! the tick is queued (the same `Arc`, a push) and the socket's task writes it, so a slow socket
//! never holds the flusher up and broadcasts never overtake each other.
//!
//! Each outbox also remembers the authority that opened it (customer, token family, token expiry,
//! merchant role), so that revoking that authority — a sign-out, a revoked family, a ban, the
//! loss of the merchant role — can close exactly the sockets it opened ([`Hub::close_user`],
//! [`Hub::close_family`], [`Hub::set_merchant`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use tokio::sync::Notify;

use super::event::{ServerEvent, Topic, Topics};
use super::message::{batch_frame, ServerMessage};
use super::ticker::Ticker;
use crate::cluster::relay::{Broadcast, Relay, SocketControl};
use crate::domain::time::now_ms;

/// At most this many live sockets per customer; a new one closes the oldest.
pub const SOCKETS_PER_USER: usize = 3;

/// The ticker's rate when none is configured (`TICKER_MAX_PER_SEC`).
pub const TICKER_PER_SEC: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The outbox overflowed: the client cannot keep up.
    Overflow,
    /// A newer socket of the same customer took this one's place.
    Replaced,
    /// The server is shutting down.
    Shutdown,
    /// The authority that opened the socket is gone: signed out, family revoked, banned, merchant
    /// role lost, or the access token expired.
    Revoked,
}

/// The authority a socket was opened with: whose it is, which token family, until when.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: i64,
    /// The token family (`fam`) of the access token that opened the socket.
    pub family: String,
    /// When that access token expires (epoch ms).
    pub expires_at_ms: i64,
    /// Whether the customer held the merchant role when the socket opened.
    pub is_merchant: bool,
}

/// What the socket task takes out of its outbox in one go.
pub struct Batch {
    pub messages: Vec<Utf8Bytes>,
    /// A frame the flusher wrote is not all on the wire yet: flush before anything else.
    pub flush: bool,
    pub close: Option<CloseReason>,
}

/// What became of a frame offered to a socket's [`Wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// On the wire.
    Sent,
    /// Nothing was written: the socket task is writing, or the socket cannot take more now.
    Busy,
    /// Taken, but not all of it is on the wire (or the write failed): the socket task must flush,
    /// and finds out then.
    Unflushed,
}

/// A socket's write side as the flusher sees it: a frame goes out now, without waiting, or not
/// at all. The socket task holds the same wire while it writes (and while it takes from its
/// outbox, so that a broadcast it took cannot be overtaken by a newer one written here).
pub trait Wire: Send + Sync {
    fn offer(&self, frame: &Utf8Bytes) -> Offered;
}

/// What a socket listens to besides its own events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub topics: Topics,
    /// `None` = every product's stock updates.
    pub products: Option<HashSet<i64>>,
    /// Broadcasts as one `batch` frame per flush.
    pub batch: bool,
}

impl Default for Listen {
    /// What the mini-program shows: everything, one message at a time.
    fn default() -> Listen {
        Listen { topics: Topics::ALL, products: None, batch: false }
    }
}

impl Listen {
    fn takes_everything(&self) -> bool {
        self.topics == Topics::ALL && self.products.is_none()
    }

    fn wants(&self, v: &TickValue) -> bool {
        if let Some(topic) = v.topic {
            if !self.topics.contains(topic) {
                return false;
            }
        }
        match (v.product, &self.products) {
            (Some(p), Some(wanted)) => wanted.contains(&p),
            _ => true,
        }
    }
}

/// One broadcast value of a flush, rendered.
struct TickValue {
    /// The coalescing key ("stock:7"); `None` for a ticker win, which is never replaced.
    key: Option<String>,
    topic: Option<Topic>,
    /// The product it concerns, for sockets that subscribed to some products only.
    product: Option<i64>,
    text: Utf8Bytes,
}

/// Everything one flush publishes, shared by every socket.
pub struct Tick {
    values: Vec<TickValue>,
    /// The `batch` frame of all values, rendered by the first socket that needs it.
    whole: OnceLock<Utf8Bytes>,
}

impl Tick {
    fn whole(&self) -> Utf8Bytes {
        self.whole.get_or_init(|| batch_frame(self.values.iter().map(|v| &v.text))).clone()
    }
}

/// The broadcasts `ticks` hold for a socket that listens as `listen` says: latest value per key
/// across the ticks, wins in order, as single messages or one batch.
fn compose(ticks: &[Arc<Tick>], listen: &Listen, out: &mut Vec<Utf8Bytes>) {
    if let [tick] = ticks {
        if listen.takes_everything() {
            if listen.batch {
                if !tick.values.is_empty() {
                    out.push(tick.whole());
                }
            } else {
                out.extend(tick.values.iter().map(|v| v.text.clone()));
            }
            return;
        }
    }
    // Newest first, so the first value seen under a key is the latest one.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut chosen: Vec<&Utf8Bytes> = Vec::new();
    for v in ticks.iter().rev().flat_map(|t| t.values.iter().rev()) {
        if !listen.wants(v) {
            continue;
        }
        if let Some(key) = &v.key {
            if !seen.insert(key.as_str()) {
                continue;
            }
        }
        chosen.push(&v.text);
    }
    chosen.reverse();
    if chosen.is_empty() {
        return;
    }
    if listen.batch {
        out.push(batch_frame(chosen));
    } else {
        out.extend(chosen.into_iter().cloned());
    }
}

struct OutboxState {
    /// Events for this customer, in order.
    events: VecDeque<Utf8Bytes>,
    /// Flushes not yet taken by the socket task (usually none or one).
    ticks: Vec<Arc<Tick>>,
    listen: Listen,
    /// A frame written straight to the wire still needs the socket task's flush.
    unflushed: bool,
    close: Option<CloseReason>,
}

/// One socket's queue. Publishers push and return at once; the socket's task drains it.
pub struct Outbox {
    pub id: u64,
    pub user_id: i64,
    pub family: String,
    pub expires_at_ms: i64,
    /// Live: cleared the moment the role is revoked, so `new_review` stops at once.
    is_merchant: AtomicBool,
    capacity: usize,
    state: Mutex<OutboxState>,
    notify: Notify,
    /// Where the flusher writes this socket's broadcasts itself when nothing is queued, without
    /// waking the socket's task (set once the socket said `connected`).
    wire: OnceLock<Arc<dyn Wire>>,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        // A poisoned lock only means a publisher panicked mid-push; the queue is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, text: Utf8Bytes) {
        let mut s = self.lock();
        if s.close.is_some() {
            return;
        }
        if s.events.len() >= self.capacity {
            s.close = Some(CloseReason::Overflow);
            s.events.clear();
        } else {
            s.events.push_back(text);
        }
        drop(s);
        self.notify.notify_one();
    }

    /// From now on the flusher may write broadcasts straight to `wire`.
    pub fn attach(&self, wire: Arc<dyn Wire>) {
        let _ = self.wire.set(wire);
    }

    /// Hands a flush to this socket: written at once when nothing is queued and the wire takes
    /// it without waiting (no wake-up of the socket's task, the usual case), queued otherwise.
    /// Returns whether it was written here.
    fn push_tick(&self, tick: &Arc<Tick>) -> bool {
        let mut s = self.lock();
        if s.close.is_some() {
            return false;
        }
        if s.ticks.is_empty() && s.events.is_empty() && !s.unflushed {
            if let Some(wire) = self.wire.get() {
                match write_now(wire.as_ref(), tick, &mut s) {
                    Written::All => return true,
                    Written::Rest => {
                        drop(s);
                        self.notify.notify_one();
                        return true;
                    }
                    Written::Nothing => {}
                }
            }
        }
        if s.ticks.len() >= self.capacity {
            // Values coalesce at take, but a socket that has not taken `capacity` flushes has
            // stopped reading.
            s.close = Some(CloseReason::Overflow);
            s.ticks.clear();
        } else {
            s.ticks.push(tick.clone());
        }
        drop(s);
        self.notify.notify_one();
        false
    }

    pub fn close(&self, reason: CloseReason) {
        let mut s = self.lock();
        if s.close.is_none() {
            s.close = Some(reason);
        }
        drop(s);
        self.notify.notify_one();
    }

    pub fn is_merchant(&self) -> bool {
        self.is_merchant.load(Ordering::Relaxed)
    }

    /// Narrows stock updates to these products.
    pub fn subscribe_products(&self, ids: HashSet<i64>) {
        self.lock().listen.products = Some(ids);
    }

    /// Chooses the broadcasts this socket hears, and whether they come batched (unchanged when
    /// `None`). Returns what it now listens to.
    pub fn subscribe(&self, topics: Topics, batch: Option<bool>) -> Listen {
        let mut s = self.lock();
        s.listen.topics = topics;
        if let Some(b) = batch {
            s.listen.batch = b;
        }
        s.listen.clone()
    }

    /// What this socket listens to.
    pub fn listening(&self) -> Listen {
        self.lock().listen.clone()
    }

    /// Waits until there is something to send.
    pub async fn ready(&self) {
        self.notify.notified().await
    }

    /// Takes everything queued: the customer's events first (in order), then the broadcasts of
    /// the flushes since the last take, latest value per key, as this socket listens to them.
    pub fn take(&self) -> Batch {
        let mut s = self.lock();
        let mut messages: Vec<Utf8Bytes> = s.events.drain(..).collect();
        let ticks = std::mem::take(&mut s.ticks);
        compose(&ticks, &s.listen, &mut messages);
        let flush = std::mem::take(&mut s.unflushed);
        Batch { messages, flush, close: s.close }
    }
}

/// Hands `flush` to each socket, yielding every few sockets. Returns how many were written
/// without waking the socket's task.
async fn write_to_sockets(sockets: Vec<Arc<Outbox>>, flush: Arc<Tick>) -> u64 {
    const SLICE: usize = 128;
    let mut written = 0;
    for (i, o) in sockets.iter().enumerate() {
        if i > 0 && i % SLICE == 0 {
            tokio::task::yield_now().await;
        }
        written += u64::from(o.push_tick(&flush));
    }
    written
}

/// How much of a flush [`write_now`] wrote.
enum Written {
    /// Every frame this socket wanted (or none was wanted).
    All,
    /// Some: the rest waits in the socket's queue, or the last frame needs a flush.
    Rest,
    /// None: the wire was busy; queue the flush as usual.
    Nothing,
}

/// Writes this socket's frames of `tick` straight to `wire`, in order. Frames the wire does not
/// take go to the front of the (empty) queue, in order, for the socket task.
fn write_now(wire: &dyn Wire, tick: &Arc<Tick>, s: &mut OutboxState) -> Written {
    let whole;
    let mut composed = Vec::new();
    let frames: &[Utf8Bytes] = if s.listen.batch && s.listen.takes_everything() {
        // The common case: the tick's one frame, shared by every such socket, nothing composed.
        if tick.values.is_empty() {
            return Written::All;
        }
        whole = tick.whole();
        std::slice::from_ref(&whole)
    } else {
        compose(std::slice::from_ref(tick), &s.listen, &mut composed);
        &composed
    };
    for (i, frame) in frames.iter().enumerate() {
        match wire.offer(frame) {
            Offered::Sent => {}
            Offered::Busy if i == 0 => return Written::Nothing,
            Offered::Busy => {
                s.events.extend(frames[i..].iter().cloned());
                return Written::Rest;
            }
            Offered::Unflushed => {
                s.unflushed = true;
                s.events.extend(frames[i + 1..].iter().cloned());
                return Written::Rest;
            }
        }
    }
    Written::All
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    sockets: DashMap<u64, Arc<Outbox>>,
    by_user: DashMap<i64, Vec<Arc<Outbox>>>,
    next_id: AtomicU64,
    capacity: usize,
    /// Cluster mode: where what this node publishes goes to reach the other nodes' sockets.
    relay: OnceLock<Relay>,
    /// Broadcasts waiting for the next flush. Publishing only records the event (not even
    /// rendered); the flusher renders each once and visits every socket once per interval,
    /// however many values changed meanwhile.
    pending: Mutex<Pending>,
}

struct Pending {
    /// Latest event per coalescing key, in the order the keys first appeared: the product it
    /// concerns, the event, when it was published (just after its commit).
    latest: HashMap<String, (Option<i64>, ServerEvent, i64)>,
    order: Vec<String>,
    ticker: Ticker,
}

impl Hub {
    /// `capacity`: events a socket may have queued before it is considered too slow. The ticker
    /// runs at [`TICKER_PER_SEC`] with 100 ms flushes.
    pub fn new(capacity: usize) -> Hub {
        Hub::with_ticker(capacity, TICKER_PER_SEC, Duration::from_millis(100))
    }

    /// As [`Hub::new`], with the ticker at `per_sec` wins a second (0 = off) for flushes every
    /// `flush_every`.
    pub fn with_ticker(capacity: usize, per_sec: u32, flush_every: Duration) -> Hub {
        let flush_ms = u64::try_from(flush_every.as_millis()).unwrap_or(u64::MAX);
        Hub {
            inner: Arc::new(Inner {
                sockets: DashMap::new(),
                by_user: DashMap::new(),
                next_id: AtomicU64::new(1),
                capacity: capacity.max(1),
                relay: OnceLock::new(),
                pending: Mutex::new(Pending {
                    latest: HashMap::new(),
                    order: Vec::new(),
                    ticker: Ticker::new(per_sec, flush_ms),
                }),
            }),
        }
    }

    /// Cluster mode: what this node publishes also goes to the other nodes (set once, at start).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.inner.relay.set(relay);
    }

    /// Cluster mode: the way to the other nodes (`None` on a single node).
    pub fn relay(&self) -> Option<&Relay> {
        self.inner.relay.get()
    }

    /// Registers a socket with no family and no expiry (for tests of delivery alone).
    pub fn register(&self, user_id: i64, is_merchant: bool) -> Arc<Outbox> {
        self.open(Grant { user_id, family: String::new(), expires_at_ms: i64::MAX, is_merchant })
    }

    /// Registers a new socket; the customer's oldest socket is closed when this is their fourth.
    pub fn open(&self, grant: Grant) -> Arc<Outbox> {
        self.open_listening(grant, Listen::default())
    }

    /// As [`Hub::open`], listening as `listen` says from the first flush on.
    pub fn open_listening(&self, grant: Grant, listen: Listen) -> Arc<Outbox> {
        let user_id = grant.user_id;
        let outbox = Arc::new(Outbox {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            user_id,
            family: grant.family,
            expires_at_ms: grant.expires_at_ms,
            is_merchant: AtomicBool::new(grant.is_merchant),
            capacity: self.inner.capacity,
            state: Mutex::new(OutboxState {
                events: VecDeque::new(),
                ticks: Vec::new(),
                listen,
                unflushed: false,
                close: None,
            }),
            notify: Notify::new(),
            wire: OnceLock::new(),
        });
        self.inner.sockets.insert(outbox.id, outbox.clone());
        let mut mine = self.inner.by_user.entry(user_id).or_default();
        if mine.is_empty() {
            if let Some(relay) = self.inner.relay.get() {
                relay.watch(user_id);
            }
        }
        mine.push(outbox.clone());
        while mine.len() > SOCKETS_PER_USER {
            let oldest = mine.remove(0);
            oldest.close(CloseReason::Replaced);
        }
        outbox
    }

    pub fn unregister(&self, outbox: &Outbox) {
        self.inner.sockets.remove(&outbox.id);
        if let Some(mut mine) = self.inner.by_user.get_mut(&outbox.user_id) {
            mine.retain(|o| o.id != outbox.id);
        }
        if self.inner.by_user.remove_if(&outbox.user_id, |_, v| v.is_empty()).is_some() {
            if let Some(relay) = self.inner.relay.get() {
                relay.unwatch(outbox.user_id);
            }
        }
    }

    pub fn sockets(&self) -> usize {
        self.inner.sockets.len()
    }

    /// To every socket of one customer, in order, on every node. Not rendered at all when the
    /// customer has no socket open here and there are no other nodes, which is most of the time.
    pub fn to_user(&self, user_id: i64, event: ServerEvent) {
        let relay = self.inner.relay.get();
        let mine = self.inner.by_user.get(&user_id);
        if mine.is_none() && relay.is_none() {
            return;
        }
        let msg = ServerMessage::from(event);
        if let Some(mine) = mine {
            for o in mine.iter() {
                o.push(msg.text.clone());
            }
        }
        if let Some(relay) = relay {
            relay.to_user(user_id, &msg.text);
        }
    }

    /// A customer's message rendered on another node, to this node's sockets of that customer.
    pub fn to_user_here(&self, user_id: i64, text: Utf8Bytes) {
        if let Some(mine) = self.inner.by_user.get(&user_id) {
            for o in mine.iter() {
                o.push(text.clone());
            }
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// To every socket that listens to the event's topic, at the next flush. A win goes through
    /// the ticker (a few a second at most, the same for everyone); any other value is coalesced
    /// under its [`ServerEvent::latest_key`]: only the latest per key goes out, and a slow socket
    /// keeps only the latest too. Sockets subscribed to other products skip a product's value.
    /// (With ten thousand sockets, sending every stock change to every socket as it happens would
    /// cost more than the purchases themselves.)
    pub fn broadcast_latest(&self, event: ServerEvent) {
        if let Some(relay) = self.inner.relay.get() {
            if let Some(b) = Broadcast::of(&event) {
                relay.broadcast(&b);
            }
        }
        self.broadcast_here(event);
    }

    /// [`Hub::broadcast_latest`] on this node's sockets only (a broadcast from another node).
    pub fn broadcast_here(&self, event: ServerEvent) {
        let at = now_ms();
        if event.topic() == Some(Topic::Ticker) {
            self.pending().ticker.offer(event, at);
            return;
        }
        let (key, product) = event.latest_key();
        let key = key.into_owned();
        let mut pending = self.pending();
        if pending.latest.insert(key.clone(), (product, event, at)).is_none() {
            pending.order.push(key);
        }
    }

    /// Sends the values published since the last flush, and the wins the ticker lets go now, to
    /// every socket.
    pub fn flush(&self) {
        self.flush_at(now_ms())
    }

    /// [`Hub::flush`] at a given time (for the ticker).
    pub fn flush_at(&self, now_ms: i64) {
        if let Some(tick) = self.tick_at(now_ms) {
            for o in self.inner.sockets.iter() {
                o.push_tick(&tick);
            }
        }
    }

    /// The values published since the last flush and the win the ticker lets go at `now_ms`,
    /// rendered once for every socket; `None` when there is nothing to send.
    fn tick_at(&self, now_ms: i64) -> Option<Arc<Tick>> {
        let (latest, win) = {
            let mut pending = self.pending();
            let order = std::mem::take(&mut pending.order);
            let mut latest = std::mem::take(&mut pending.latest);
            let latest: Vec<(String, Option<i64>, ServerEvent, i64)> =
                order.into_iter().filter_map(|k| latest.remove(&k).map(|(p, e, at)| (k, p, e, at))).collect();
            (latest, pending.ticker.release(now_ms))
        };
        if latest.is_empty() && win.is_none() {
            return None;
        }
        // Rendered outside the lock, once per value however many sockets get it.
        let mut values = Vec::with_capacity(latest.len() + 1);
        for (key, product, event, at) in latest {
            let topic = event.topic();
            values.push(TickValue { key: Some(key), topic, product, text: ServerMessage::at(event, at).text });
        }
        if let Some((win, at)) = win {
            let text = ServerMessage::at(win, at).text;
            values.push(TickValue { key: None, topic: Some(Topic::Ticker), product: None, text });
        }
        Some(Arc::new(Tick { values, whole: OnceLock::new() }))
    }

    /// Flushes coalesced values every `every` until the task is dropped. Each flush writes
    /// straight to the sockets that have nothing queued ([`Outbox::attach`]), from this one
    /// task, a slice of sockets at a time with a yield between, so that ten thousand writes never
    /// hold a worker thread for long. One task on purpose: fan-out takes at most one core while
    /// draws burst, and under that load sockets get fewer, fuller frames (BENCHMARKS.md, the
    /// flusher writes; one writer per worker cost more CPU per draw).
    pub fn spawn_flusher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(flush) = hub.tick_at(now_ms()) else { continue };
                let sockets: Vec<Arc<Outbox>> = hub.inner.sockets.iter().map(|o| o.value().clone()).collect();
                let written = write_to_sockets(sockets, flush).await;
                metrics::counter!("ws_broadcasts_written_by_flusher_total").increment(written);
            }
        })
    }

    /// To merchants' sockets only, on every node.
    pub fn to_merchants(&self, event: ServerEvent) {
        let msg = ServerMessage::from(event);
        if let Some(relay) = self.inner.relay.get() {
            relay.to_merchants(&msg.text);
        }
        self.to_merchants_here(msg.text);
    }

    pub fn to_merchants_here(&self, text: Utf8Bytes) {
        for o in self.inner.sockets.iter().filter(|o| o.is_merchant()) {
            o.push(text.clone());
        }
    }

    /// A revocation decided on another node, applied to this node's sockets.
    pub fn control_here(&self, c: SocketControl) {
        match c {
            SocketControl::CloseUser { user_id } => {
                self.close_user_here(user_id);
            }
            SocketControl::CloseFamily { user_id, family } => {
                self.close_family_here(user_id, &family);
            }
            SocketControl::SetMerchant { user_id, on } => self.set_merchant_here(user_id, on),
        }
    }

    fn relay_control(&self, c: SocketControl) {
        if let Some(relay) = self.inner.relay.get() {
            relay.control(&c);
        }
    }

    /// Closes every socket of one customer (sign-out everywhere, a ban), on every node. Returns
    /// how many were open on this node.
    pub fn close_user(&self, user_id: i64) -> usize {
        self.relay_control(SocketControl::CloseUser { user_id });
        self.close_user_here(user_id)
    }

    fn close_user_here(&self, user_id: i64) -> usize {
        let mine = self.inner.by_user.get(&user_id).map(|m| m.clone()).unwrap_or_default();
        for o in &mine {
            o.close(CloseReason::Revoked);
        }
        mine.len()
    }

    /// Closes the sockets opened with tokens of one family (a sign-out, a reused refresh token).
    /// `user_id` narrows the search to that customer's sockets. Returns how many.
    pub fn close_family(&self, user_id: i64, family: &str) -> usize {
        self.relay_control(SocketControl::CloseFamily { user_id, family: family.to_string() });
        self.close_family_here(user_id, family)
    }

    fn close_family_here(&self, user_id: i64, family: &str) -> usize {
        let Some(mine) = self.inner.by_user.get(&user_id).map(|m| m.clone()) else { return 0 };
        let mut closed = 0;
        for o in mine.iter().filter(|o| o.family == family) {
            o.close(CloseReason::Revoked);
            closed += 1;
        }
        closed
    }

    /// The customer's merchant role changed. Losing it stops `new_review` at once and closes the
    /// sockets that were receiving it (the client reconnects as a customer); gaining it lets the
    /// open sockets receive `new_review` from now on.
    pub fn set_merchant(&self, user_id: i64, on: bool) {
        self.relay_control(SocketControl::SetMerchant { user_id, on });
        self.set_merchant_here(user_id, on);
    }

    fn set_merchant_here(&self, user_id: i64, on: bool) {
        let mine = self.inner.by_user.get(&user_id).map(|m| m.clone()).unwrap_or_default();
        for o in &mine {
            let was = o.is_merchant.swap(on, Ordering::Relaxed);
            if was && !on {
                o.close(CloseReason::Revoked);
            }
        }
    }

    pub fn close_all(&self, reason: CloseReason) {
        for o in self.inner.sockets.iter() {
            o.close(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::wheel::PrizeKind;
    use crate::notify::event::{BadMessage, PrizeStockUpdate, StockChange, StockUpdate, WheelWin};
    use serde_json::Value;

    fn texts(b: &Batch) -> Vec<String> {
        b.messages.iter().map(|m| m.to_string()).collect()
    }

    fn note(n: u32) -> ServerEvent {
        BadMessage::event(format!("note {n}"))
    }

    fn stock(product_id: i64, stock: i64) -> ServerEvent {
        ServerEvent::StockUpdate(StockUpdate { product_id, stock, operation: StockChange::Purchase })
    }

    fn win(prize_name: &str) -> ServerEvent {
        ServerEvent::WheelWin(WheelWin {
            masked_user: "138****0000".into(),
            prize_name: prize_name.into(),
            prize_type: PrizeKind::Points,
        })
    }

    /// A wire that answers each offer as told (then `Sent`) and keeps what it was given.
    #[derive(Default)]
    struct FakeWire {
        answers: Mutex<VecDeque<Offered>>,
        taken: Mutex<Vec<String>>,
    }

    impl FakeWire {
        fn answering(answers: impl IntoIterator<Item = Offered>) -> Arc<FakeWire> {
            Arc::new(FakeWire { answers: Mutex::new(answers.into_iter().collect()), ..FakeWire::default() })
        }

        fn taken(&self) -> Vec<String> {
            self.taken.lock().unwrap().clone()
        }
    }

    impl Wire for FakeWire {
        fn offer(&self, frame: &Utf8Bytes) -> Offered {
            let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Offered::Sent);
            if answer != Offered::Busy {
                self.taken.lock().unwrap().push(frame.to_string());
            }
            answer
        }
    }

    #[test]
    fn the_flusher_writes_to_an_idle_socket_itself_and_queues_nothing() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        o.subscribe(Topics::ALL, Some(true));
        let wire = FakeWire::answering([]);
        o.attach(wire.clone());
        hub.broadcast_latest(stock(1, 5));
        hub.broadcast_latest(stock(1, 4));
        hub.flush();
        let written = wire.taken();
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(written[0].starts_with(r#"{"type":"batch""#) && written[0].contains("\"stock\":4"), "{written:?}");
        let left = o.take();
        assert!(left.messages.is_empty() && !left.flush, "nothing left for the socket's task");
    }

    #[test]
    fn a_busy_wire_gets_the_flush_queued_and_later_flushes_wait_behind_it() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        let wire = FakeWire::answering([Offered::Busy]);
        o.attach(wire.clone());
        hub.broadcast_latest(stock(1, 5));
        hub.flush();
        hub.broadcast_latest(stock(1, 4));
        hub.flush();
        assert!(wire.taken().is_empty(), "the second flush must not overtake the queued first");
        let got = texts(&o.take());
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("\"stock\":4"), "the latest value, from the queue");
        hub.broadcast_latest(stock(1, 3));
        hub.flush();
        assert_eq!(wire.taken().len(), 1, "with the queue empty again the flusher writes");
    }

    #[test]
    fn frames_the_wire_did_not_finish_are_left_to_the_socket_task_in_order() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        let wire = FakeWire::answering([Offered::Sent, Offered::Busy]);
        o.attach(wire.clone());
        for product in [1, 2, 3] {
            hub.broadcast_latest(stock(product, 9));
        }
        hub.flush();
        assert_eq!(wire.taken().len(), 1);
        let rest = o.take();
        let rest = texts(&rest);
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert!(rest[0].contains("\"product_id\":2") && rest[1].contains("\"product_id\":3"), "{rest:?}");

        let wire = FakeWire::answering([Offered::Unflushed]);
        let o = hub.register(2, false);
        o.attach(wire.clone());
        hub.broadcast_latest(stock(1, 8));
        hub.flush();
        let left = o.take();
        assert!(left.flush, "the socket task must flush what the wire took");
        assert!(left.messages.is_empty());
    }

    #[test]
    fn a_fourth_socket_closes_the_oldest() {
        let hub = Hub::new(10);
        let first = hub.register(1, false);
        for _ in 0..3 {
            hub.register(1, false);
        }
        assert_eq!(first.take().close, Some(CloseReason::Replaced));
        assert_eq!(hub.sockets(), 4, "still registered until its task ends");
        hub.unregister(&first);
        assert_eq!(hub.sockets(), 3);
    }

    #[test]
    fn stock_values_coalesce_and_events_keep_their_order() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        hub.to_user(1, note(1));
        for left in [5, 4, 3] {
            hub.broadcast_latest(stock(9, left));
        }
        hub.flush();
        hub.to_user(1, note(2));
        let got = texts(&o.take());
        assert_eq!(got.len(), 3);
        assert!(got[0].contains("note 1"));
        assert!(got[1].contains("note 2"));
        assert!(got[2].contains("\"stock\":3"));
    }

    #[test]
    fn each_product_and_each_prize_keeps_its_own_latest_value() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        hub.broadcast_latest(stock(1, 5));
        hub.broadcast_latest(stock(2, 7));
        hub.broadcast_latest(ServerEvent::PrizeStockUpdate(PrizeStockUpdate { prize_id: 1, stock_left: Some(3) }));
        hub.broadcast_latest(stock(1, 4));
        hub.flush();
        let got = texts(&o.take());
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().any(|m| m.contains("\"product_id\":1") && m.contains("\"stock\":4")));
        assert!(got.iter().any(|m| m.contains("\"product_id\":2")));
        assert!(got.iter().any(|m| m.contains("prize_stock_update")));
    }

    #[test]
    fn an_overflowing_socket_is_closed_not_waited_for() {
        let hub = Hub::new(3);
        let slow = hub.register(1, false);
        let other = hub.register(2, false);
        for i in 0..4 {
            hub.to_user(1, note(i));
            hub.to_user(2, note(i));
            other.take();
        }
        assert_eq!(slow.take().close, Some(CloseReason::Overflow));
        assert_eq!(other.take().close, None);
    }

    #[test]
    fn product_subscriptions_narrow_stock_updates() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        o.subscribe_products([2].into_iter().collect());
        hub.broadcast_latest(stock(1, 1));
        hub.broadcast_latest(stock(2, 1));
        hub.flush();
        let got = texts(&o.take());
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("\"product_id\":2"));
    }

    #[test]
    fn values_wait_for_the_flush_and_go_out_once() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        hub.broadcast_latest(stock(1, 5));
        hub.broadcast_latest(stock(1, 4));
        assert!(o.take().messages.is_empty(), "nothing before the flush");
        hub.flush();
        let got = texts(&o.take());
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("\"stock\":4"));
        hub.flush();
        assert!(o.take().messages.is_empty(), "a value goes out once");
    }

    #[test]
    fn wins_pass_the_ticker_one_slot_at_a_time() {
        let hub = Hub::with_ticker(10, 3, Duration::from_millis(100));
        let o = hub.register(1, false);
        hub.broadcast_latest(win("first"));
        hub.broadcast_latest(win("second"));
        hub.flush_at(0);
        let got = texts(&o.take());
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("second"), "the latest win: {got:?}");
        hub.broadcast_latest(win("third"));
        hub.flush_at(100);
        assert!(o.take().messages.is_empty(), "the next slot is a third of a second later");
        hub.flush_at(300);
        let got = texts(&o.take());
        assert!(got.len() == 1 && got[0].contains("third"), "{got:?}");
    }

    fn batched(o: &Outbox) -> Vec<Value> {
        o.take()
            .messages
            .iter()
            .map(|m| serde_json::from_str::<Value>(m).unwrap())
            .inspect(|v| assert_eq!(v["type"], "batch", "{v}"))
            .flat_map(|v| v["data"].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn a_batch_socket_gets_one_frame_per_flush_with_every_change() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        o.subscribe(Topics::ALL, Some(true));
        let plain = hub.register(2, false);
        hub.broadcast_latest(stock(1, 5));
        hub.broadcast_latest(stock(2, 7));
        hub.broadcast_latest(ServerEvent::PrizeStockUpdate(PrizeStockUpdate { prize_id: 1, stock_left: Some(3) }));
        hub.broadcast_latest(stock(1, 4));
        hub.broadcast_latest(win("w"));
        hub.flush();
        let frames = o.take().messages;
        assert_eq!(frames.len(), 1, "one frame");
        let items: Vec<Value> = serde_json::from_str::<Value>(&frames[0]).unwrap()["data"].as_array().unwrap().clone();
        let kinds: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
        assert_eq!(kinds, ["stock_update", "stock_update", "prize_stock_update", "wheel_win"]);
        assert_eq!(items[0]["data"]["stock"], 4, "the latest value of product 1");
        let singles = texts(&plain.take());
        assert_eq!(singles.len(), 4, "a socket that did not ask gets the same values one by one");
        let items: Vec<String> = items.iter().map(Value::to_string).collect();
        let singles: Vec<String> =
            singles.iter().map(|t| serde_json::from_str::<Value>(t).unwrap().to_string()).collect();
        assert_eq!(items, singles, "each item is the very message sent alone");
    }

    #[test]
    fn a_slow_socket_gets_the_latest_of_several_flushes_in_one_batch() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        o.subscribe(Topics::ALL, Some(true));
        for left in [5, 4, 3] {
            hub.broadcast_latest(stock(1, left));
            hub.flush();
        }
        hub.broadcast_latest(stock(2, 9));
        hub.flush();
        let items = batched(&o);
        let stock: Vec<(i64, i64)> = items
            .iter()
            .map(|i| (i["data"]["product_id"].as_i64().unwrap(), i["data"]["stock"].as_i64().unwrap()))
            .collect();
        assert_eq!(stock, [(1, 3), (2, 9)]);
    }

    #[test]
    fn topics_choose_the_broadcasts_and_own_events_always_come() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        let listen = o.subscribe(Topics::of([Topic::PrizeStock]), None);
        assert!(!listen.batch, "batching is unchanged when not said");
        hub.broadcast_latest(stock(1, 5));
        hub.broadcast_latest(ServerEvent::PrizeStockUpdate(PrizeStockUpdate { prize_id: 1, stock_left: Some(3) }));
        hub.broadcast_latest(win("w"));
        hub.to_user(1, note(1));
        hub.flush();
        let got = texts(&o.take());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("note 1") && got[1].contains("prize_stock_update"), "{got:?}");
        o.subscribe(Topics::of([]), Some(true));
        hub.broadcast_latest(stock(1, 4));
        hub.flush();
        assert!(o.take().messages.is_empty(), "no topic, no batch frame at all");
    }

    #[test]
    fn a_socket_that_never_takes_its_flushes_is_closed() {
        let hub = Hub::new(3);
        let o = hub.register(1, false);
        for left in 0..4 {
            hub.broadcast_latest(stock(1, left));
            hub.flush();
        }
        assert_eq!(o.take().close, Some(CloseReason::Overflow));
    }

    #[test]
    fn merchants_only_messages() {
        let hub = Hub::new(10);
        let customer = hub.register(1, false);
        let merchant = hub.register(2, true);
        hub.to_merchants(note(1));
        assert!(customer.take().messages.is_empty());
        assert_eq!(merchant.take().messages.len(), 1);
    }

    fn grant(user_id: i64, family: &str, is_merchant: bool) -> Grant {
        Grant { user_id, family: family.into(), expires_at_ms: i64::MAX, is_merchant }
    }

    #[test]
    fn closing_a_family_closes_only_its_sockets() {
        let hub = Hub::new(10);
        let (a, b, other) =
            (hub.open(grant(1, "f1", false)), hub.open(grant(1, "f2", false)), hub.open(grant(2, "f1", false)));
        assert_eq!(hub.close_family(1, "f1"), 1);
        assert_eq!(a.take().close, Some(CloseReason::Revoked));
        assert_eq!(b.take().close, None);
        assert_eq!(other.take().close, None, "another customer's family of the same name is not touched");
        assert_eq!(hub.close_user(1), 2);
        assert_eq!(b.take().close, Some(CloseReason::Revoked));
        assert_eq!(hub.close_user(3), 0);
    }

    #[test]
    fn a_demoted_merchant_stops_receiving_merchant_messages_at_once() {
        let hub = Hub::new(10);
        let merchant = hub.open(grant(2, "f", true));
        hub.set_merchant(2, false);
        hub.to_merchants(note(1));
        let batch = merchant.take();
        assert!(batch.messages.is_empty());
        assert_eq!(batch.close, Some(CloseReason::Revoked));
        let promoted = hub.open(grant(3, "g", false));
        hub.set_merchant(3, true);
        hub.to_merchants(note(2));
        let batch = promoted.take();
        assert_eq!(batch.messages.len(), 1);
        assert_eq!(batch.close, None);
    }

    #[test]
    fn every_socket_of_a_broadcast_shares_one_rendering() {
        let hub = Hub::new(10);
        let (a, b) = (hub.register(1, false), hub.register(2, false));
        hub.broadcast_latest(win("shared"));
        hub.flush();
        let (a, b) = (a.take().messages, b.take().messages);
        assert_eq!(a, b, "the same message id and bytes");
    }
}
