//! The Hub (customer → sockets) and each socket's bounded outbox. Publishers hand the Hub a
//! [`ServerEvent`]; it is serialized once, only when some socket will get it, and every outbox
//! holds the same shared bytes.
//!
//! Each outbox also remembers the authority that opened it (customer, token family, token expiry,
//! merchant role), so that revoking that authority — a sign-out, a revoked family, a ban, the
//! loss of the merchant role — can close exactly the sockets it opened ([`Hub::close_user`],
//! [`Hub::close_family`], [`Hub::set_merchant`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use tokio::sync::Notify;

use super::event::ServerEvent;
use super::message::ServerMessage;

/// At most this many live sockets per customer; a new one closes the oldest.
pub const SOCKETS_PER_USER: usize = 3;

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
    pub close: Option<CloseReason>,
}

struct OutboxState {
    /// Events for this customer and broadcasts, in order.
    events: VecDeque<Utf8Bytes>,
    /// Latest value per key ("stock:7", "prize:3"): a newer value replaces an unsent older one.
    latest: HashMap<String, Utf8Bytes>,
    latest_order: Vec<String>,
    /// `None` = every product's stock updates.
    products: Option<HashSet<i64>>,
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

    fn push_latest(&self, values: &[(String, Option<i64>, Utf8Bytes)]) {
        let mut s = self.lock();
        if s.close.is_some() {
            return;
        }
        let mut any = false;
        for (key, product, text) in values {
            if let (Some(p), Some(wanted)) = (product, &s.products) {
                if !wanted.contains(p) {
                    continue;
                }
            }
            if s.latest.insert(key.clone(), text.clone()).is_none() {
                s.latest_order.push(key.clone());
            }
            any = true;
        }
        drop(s);
        if any {
            self.notify.notify_one();
        }
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
        self.lock().products = Some(ids);
    }

    /// Waits until there is something to send.
    pub async fn ready(&self) {
        self.notify.notified().await
    }

    /// Takes everything queued: events first (in order), then the latest coalesced values.
    pub fn take(&self) -> Batch {
        let mut s = self.lock();
        let mut messages: Vec<Utf8Bytes> = s.events.drain(..).collect();
        let order = std::mem::take(&mut s.latest_order);
        let mut latest = std::mem::take(&mut s.latest);
        messages.extend(order.iter().filter_map(|k| latest.remove(k)));
        Batch { messages, close: s.close }
    }
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
    /// Latest values waiting for the next flush, by key. Publishing only records the value; the
    /// flusher visits every socket once per interval, however many values changed meanwhile.
    pending: Mutex<HashMap<String, Latest>>,
}

/// A coalesced value: the product it concerns (for subscriptions) and the rendered message.
type Latest = (Option<i64>, Utf8Bytes);

impl Hub {
    /// `capacity`: events a socket may have queued before it is considered too slow.
    pub fn new(capacity: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                sockets: DashMap::new(),
                by_user: DashMap::new(),
                next_id: AtomicU64::new(1),
                capacity: capacity.max(1),
                pending: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Registers a socket with no family and no expiry (for tests of delivery alone).
    pub fn register(&self, user_id: i64, is_merchant: bool) -> Arc<Outbox> {
        self.open(Grant { user_id, family: String::new(), expires_at_ms: i64::MAX, is_merchant })
    }

    /// Registers a new socket; the customer's oldest socket is closed when this is their fourth.
    pub fn open(&self, grant: Grant) -> Arc<Outbox> {
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
                latest: HashMap::new(),
                latest_order: Vec::new(),
                products: None,
                close: None,
            }),
            notify: Notify::new(),
        });
        self.inner.sockets.insert(outbox.id, outbox.clone());
        let mut mine = self.inner.by_user.entry(user_id).or_default();
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
        self.inner.by_user.remove_if(&outbox.user_id, |_, v| v.is_empty());
    }

    pub fn sockets(&self) -> usize {
        self.inner.sockets.len()
    }

    /// To every socket of one customer, in order. Not rendered at all when the customer has no
    /// socket open, which is most of the time.
    pub fn to_user(&self, user_id: i64, event: ServerEvent) {
        if let Some(mine) = self.inner.by_user.get(&user_id) {
            let msg = ServerMessage::from(event);
            for o in mine.iter() {
                o.push(msg.text.clone());
            }
        }
    }

    /// To every socket, coalesced under the event's [`ServerEvent::latest_key`]: only the latest
    /// value per key goes out at the next flush, and a slow socket keeps only the latest too.
    /// Sockets subscribed to other products skip a product's value. (With ten thousand sockets,
    /// sending every stock change to every socket as it happens would cost more than the
    /// purchases themselves.)
    pub fn broadcast_latest(&self, event: ServerEvent) {
        let (key, product) = event.latest_key();
        let msg = ServerMessage::from(event);
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert(key.into_owned(), (product, msg.text));
    }

    /// Sends the values published since the last flush to every socket.
    pub fn flush(&self) {
        let values: Vec<(String, Option<i64>, Utf8Bytes)> = {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.is_empty() {
                return;
            }
            pending.drain().map(|(k, (p, t))| (k, p, t)).collect()
        };
        for o in self.inner.sockets.iter() {
            o.push_latest(&values);
        }
    }

    /// Flushes coalesced values every `every` until the task is dropped.
    pub fn spawn_flusher(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                hub.flush();
            }
        })
    }

    /// To merchants' sockets only.
    pub fn to_merchants(&self, event: ServerEvent) {
        let msg = ServerMessage::from(event);
        for o in self.inner.sockets.iter().filter(|o| o.is_merchant()) {
            o.push(msg.text.clone());
        }
    }

    /// Closes every socket of one customer (sign-out everywhere, a ban). Returns how many.
    pub fn close_user(&self, user_id: i64) -> usize {
        let mine = self.inner.by_user.get(&user_id).map(|m| m.clone()).unwrap_or_default();
        for o in &mine {
            o.close(CloseReason::Revoked);
        }
        mine.len()
    }

    /// Closes the sockets opened with tokens of one family (a sign-out, a reused refresh token).
    /// `user_id` narrows the search to that customer's sockets. Returns how many.
    pub fn close_family(&self, user_id: i64, family: &str) -> usize {
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
    fn values_wait_for_the_flush_and_only_the_latest_goes_out() {
        let hub = Hub::new(10);
        let o = hub.register(1, false);
        hub.broadcast_latest(win("first"));
        hub.broadcast_latest(win("second"));
        assert!(o.take().messages.is_empty(), "nothing before the flush");
        hub.flush();
        let got = texts(&o.take());
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("second"));
        hub.flush();
        assert!(o.take().messages.is_empty(), "a value goes out once");
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
