//! What the server tells a socket, as values: [`ServerEvent`] is every server → client WebSocket
//! message, each variant's `data` a typed struct. Actors build events after commit and hand them
//! to the Hub, which serializes each once ([`super::ServerMessage`]); the OpenAPI document's
//! `x-websocket-messages` is generated from this enum's schema, so the wire and the document
//! cannot drift. A variant's doc comment is its "when" in that document.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::message::WsServerMessage;
use crate::domain::campaign::CampaignStatus;

use crate::domain::review::ReviewStatus;
use crate::domain::time::Timestamp;
use crate::domain::wheel::PrizeKind;
use crate::domain::PointsSource;

/// A server → client message; on the wire `{type, data, timestamp, message_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerEvent {
    /// On open
    Connected(#[schema(inline)] Connected),
    /// Answer to a client ping
    Pong(#[schema(inline)] Pong),
    /// After every committed balance change of this customer
    PointsUpdate(#[schema(inline)] PointsUpdate),
    /// One per draw of this customer's batch
    LotteryResult(#[schema(inline)] LotteryResult),
    /// Broadcast, coalesced to the latest value per product; narrowed by subscribe_product
    StockUpdate(#[schema(inline)] StockUpdate),
    /// Broadcast, coalesced per prize
    PrizeStockUpdate(#[schema(inline)] PrizeStockUpdate),
    /// Broadcast ticker of notable wins, coalesced to the latest
    WheelWin(#[schema(inline)] WheelWin),
    /// To the uploader when a receipt is decided
    ReviewResult(#[schema(inline)] ReviewResult),
    /// Merchants only: a new receipt is waiting
    NewReview(#[schema(inline)] NewReview),
    /// Answer to an unknown or malformed client message; the socket stays open
    Error(#[schema(inline)] BadMessage),
    /// Answer to subscribe and subscribe_product: what this socket now listens to
    Subscribed(#[schema(inline)] Subscribed),
    /// To the customer, after the earning that lifted them to a new member level committed
    LevelUp(#[schema(inline)] LevelUp),
    /// To the customer, when what the server committed completes one of their tasks
    TaskCompleted(#[schema(inline)] TaskCompleted),
    /// Broadcast when a campaign's status or odds change, coalesced per campaign
    CampaignUpdate(#[schema(inline)] CampaignUpdate),
    /// Only to sockets that asked for batches (`?batch=1`, or `batch: true` in subscribe): once
    /// per flush, every coalesced broadcast this socket listens to (stock_update,
    /// prize_stock_update, wheel_win), each item exactly the message it would have been alone,
    /// in one frame; a customer's own messages still come one by one, at once
    Batch(#[schema(inline)] BatchItems),
    /// Admins only (a socket opened with an admin token gets nothing else but connected, pong and
    /// error): every 2 s, the live figures the console shows
    LiveStats(#[schema(inline)] LiveStats),
}

/// The console's live figures. Read from what the server already keeps (the Hub's socket count,
/// the committed-facts stream), so they cost the draw path nothing.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveStats {
    /// Draws committed in the last 60 s (a decade counts 10), counted since this socket opened:
    /// the first minute after opening shows only what that socket has seen.
    pub draws_per_minute: i64,
    /// Draws committed since this socket opened.
    pub draws_since_open: i64,
    /// Customer and merchant sockets open on this server now.
    pub open_sockets: i64,
    pub server_time: Timestamp,
}

/// The messages of one `batch`, each `{type, data, timestamp, message_id}` as it would have come
/// alone. Its schema names the envelope in words rather than by reference, so that the document
/// has no cycle (a batch inside a message inside a batch).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct BatchItems(pub Vec<WsServerMessage>);

impl utoipa::PartialSchema for BatchItems {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let item = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A server message exactly as it would have come alone: {type, data, timestamp (when the change was committed), message_id} (the WsServerMessage envelope); stock_update, prize_stock_update or wheel_win",
            ))
            .property("type", ObjectBuilder::new().schema_type(Type::String))
            .property("data", ObjectBuilder::new())
            .property("timestamp", ObjectBuilder::new().schema_type(Type::String))
            .property("message_id", ObjectBuilder::new().schema_type(Type::String))
            .required("type")
            .required("data")
            .required("timestamp")
            .required("message_id");
        ArrayBuilder::new().items(item).into()
    }
}

impl utoipa::ToSchema for BatchItems {}

/// A broadcast a socket can choose to listen to (`subscribe`); by default it hears all of them.
/// A customer's own messages (points, draw results, reviews) are not topics: they always come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// `wheel_win`: the ticker of notable wins, a few a second at most.
    Ticker,
    /// `stock_update`: the shop's product stock (narrowed further by subscribe_product).
    Stock,
    /// `prize_stock_update`: the wheel's limited prizes.
    PrizeStock,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Ticker, Topic::Stock, Topic::PrizeStock];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Ticker => "ticker",
            Topic::Stock => "stock",
            Topic::PrizeStock => "prize_stock",
        }
    }

    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of topics, as one byte so that every socket's choice is a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topics(u8);

impl Topics {
    /// What the mini-program shows: every topic.
    pub const ALL: Topics = Topics((1 << Topic::ALL.len()) - 1);

    pub fn of(topics: impl IntoIterator<Item = Topic>) -> Topics {
        Topics(topics.into_iter().fold(0, |bits, t| bits | t.bit()))
    }

    pub fn contains(self, topic: Topic) -> bool {
        self.0 & topic.bit() != 0
    }

    /// In the order of [`Topic::ALL`].
    pub fn list(self) -> Vec<Topic> {
        Topic::ALL.into_iter().filter(|t| self.contains(*t)).collect()
    }
}

impl ServerEvent {
    /// The `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerEvent::Connected(_) => "connected",
            ServerEvent::Pong(_) => "pong",
            ServerEvent::PointsUpdate(_) => "points_update",
            ServerEvent::LotteryResult(_) => "lottery_result",
            ServerEvent::StockUpdate(_) => "stock_update",
            ServerEvent::PrizeStockUpdate(_) => "prize_stock_update",
            ServerEvent::WheelWin(_) => "wheel_win",
            ServerEvent::ReviewResult(_) => "review_result",
            ServerEvent::NewReview(_) => "new_review",
            ServerEvent::Error(_) => "error",
            ServerEvent::Subscribed(_) => "subscribed",
            ServerEvent::LevelUp(_) => "level_up",
            ServerEvent::TaskCompleted(_) => "task_completed",
            ServerEvent::CampaignUpdate(_) => "campaign_update",
            ServerEvent::Batch(_) => "batch",
            ServerEvent::LiveStats(_) => "live_stats",
        }
    }

    /// The topic a broadcast belongs to; `None` for what every socket gets.
    pub fn topic(&self) -> Option<Topic> {
        match self {
            ServerEvent::StockUpdate(_) => Some(Topic::Stock),
            ServerEvent::PrizeStockUpdate(_) => Some(Topic::PrizeStock),
            ServerEvent::WheelWin(_) => Some(Topic::Ticker),
            _ => None,
        }
    }

    /// For a broadcast that coalesces: the key under which only the latest value is kept (one
    /// per product, one per prize, else one per type), and the product it concerns, for sockets
    /// that subscribed to some products only.
    pub fn latest_key(&self) -> (Cow<'static, str>, Option<i64>) {
        match self {
            ServerEvent::StockUpdate(s) => (Cow::Owned(format!("stock:{}", s.product_id)), Some(s.product_id)),
            ServerEvent::PrizeStockUpdate(p) => (Cow::Owned(format!("prize:{}", p.prize_id)), None),
            ServerEvent::CampaignUpdate(c) => (Cow::Owned(format!("campaign:{}", c.campaign_id)), None),
            other => (Cow::Borrowed(other.kind()), None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LevelUp {
    /// The new level's number.
    pub level: i64,
    #[schema(example = "白银会员")]
    pub name: String,
    /// The new earning multiplier, e.g. 1.1.
    pub multiplier: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TaskCompleted {
    pub task_id: i64,
    #[schema(example = "daily_draw")]
    pub key: String,
    pub name: String,
    /// What claiming it will credit.
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Deserialize)]
pub struct CampaignUpdate {
    pub campaign_id: i64,
    pub status: CampaignStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Connected {
    pub user_id: i64,
    pub server_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Pong {
    pub server_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PointsUpdate {
    pub user_id: i64,
    /// The balance after the change.
    pub total_points: i64,
    /// Signed; for a draw batch the net of its cost and its points wins.
    pub change_points: i64,
    /// The ledger source: lottery, exchange, photo_review, admin_adjust, …
    pub reason: PointsSource,
    /// The ledger entry's text, as the points history shows it.
    #[schema(example = "抽奖 3 次")]
    pub description: String,
    /// What the change belongs to: the draw batch id, the order id, the upload id, or the ledger
    /// row id of an adjustment.
    pub operation_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LotteryResult {
    pub draw_id: i64,
    pub batch_id: String,
    pub prize_id: i64,
    pub prize_name: String,
    pub prize_type: PrizeKind,
    /// Points for a points prize; otherwise as configured (0 for most).
    pub prize_value: i64,
    /// Forced by the pity rule.
    pub is_pity: bool,
    /// The balance after the whole batch.
    pub remaining_points: i64,
}

/// Why a product's stock changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockChange {
    Purchase,
    Restock,
    AdminAdjust,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Deserialize)]
pub struct StockUpdate {
    pub product_id: i64,
    /// Units left to redeem.
    pub stock: i64,
    pub operation: StockChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Deserialize)]
pub struct PrizeStockUpdate {
    pub prize_id: i64,
    /// Units left to win; null for an unlimited prize.
    pub stock_left: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Deserialize)]
pub struct WheelWin {
    /// The winner's phone number, masked (`138****0000`).
    #[schema(example = "138****0000")]
    pub masked_user: String,
    pub prize_name: String,
    pub prize_type: PrizeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewResult {
    pub upload_id: i64,
    /// approved or rejected.
    pub status: ReviewStatus,
    pub points_awarded: i64,
    /// Yuan, e.g. 88.5 (as in the HTTP answers); null for a rejection.
    #[schema(example = 88.5)]
    pub actual_amount: Option<f64>,
    pub review_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NewReview {
    pub upload_id: i64,
    /// The uploader.
    pub user_id: i64,
    /// Yuan, as the customer claimed it.
    #[schema(example = 88.5)]
    pub amount: f64,
    /// A signed, time-limited link to the photo.
    pub image_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BadMessage {
    /// Always 1003.
    #[schema(example = 1003)]
    pub code: u32,
    pub msg: String,
}

impl BadMessage {
    /// The socket's refusal of a client message, saying what was wrong.
    pub fn event(msg: impl Into<String>) -> ServerEvent {
        ServerEvent::Error(BadMessage { code: 1003, msg: msg.into() })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Subscribed {
    /// The products whose stock updates this socket now gets, ascending; absent when it gets
    /// every product's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_ids: Option<Vec<i64>>,
    /// The broadcasts this socket now listens to.
    pub topics: Vec<Topic>,
    /// Whether broadcasts come as one `batch` per flush.
    pub batch: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// One of each variant.
    pub(crate) fn every_event() -> Vec<ServerEvent> {
        vec![
            ServerEvent::Connected(Connected { user_id: 7, server_time: Timestamp(0) }),
            ServerEvent::Pong(Pong { server_time: Timestamp(0) }),
            ServerEvent::PointsUpdate(PointsUpdate {
                user_id: 7,
                total_points: 900,
                change_points: -100,
                reason: PointsSource::Lottery,
                description: "抽奖 1 次".into(),
                operation_id: "b1".into(),
            }),
            ServerEvent::LotteryResult(LotteryResult {
                draw_id: 1,
                batch_id: "b1".into(),
                prize_id: 3,
                prize_name: "500积分".into(),
                prize_type: PrizeKind::Points,
                prize_value: 500,
                is_pity: false,
                remaining_points: 1400,
            }),
            ServerEvent::StockUpdate(StockUpdate { product_id: 9, stock: 4, operation: StockChange::Purchase }),
            ServerEvent::PrizeStockUpdate(PrizeStockUpdate { prize_id: 3, stock_left: None }),
            ServerEvent::WheelWin(WheelWin {
                masked_user: "138****0000".into(),
                prize_name: "500积分".into(),
                prize_type: PrizeKind::Points,
            }),
            ServerEvent::ReviewResult(ReviewResult {
                upload_id: 5,
                status: ReviewStatus::Approved,
                points_awarded: 885,
                actual_amount: Some(88.5),
                review_reason: None,
            }),
            ServerEvent::NewReview(NewReview { upload_id: 5, user_id: 7, amount: 88.5, image_url: "u".into() }),
            BadMessage::event("not JSON"),
            ServerEvent::Subscribed(Subscribed {
                product_ids: Some(vec![1, 2]),
                topics: vec![Topic::Ticker, Topic::Stock],
                batch: true,
            }),
            ServerEvent::LevelUp(LevelUp { level: 2, name: "白银会员".into(), multiplier: 1.1 }),
            ServerEvent::TaskCompleted(TaskCompleted {
                task_id: 2,
                key: "daily_draw".into(),
                name: "每日抽奖".into(),
                points: 20,
            }),
            ServerEvent::CampaignUpdate(CampaignUpdate { campaign_id: 1, status: CampaignStatus::Paused }),
            ServerEvent::Batch(BatchItems(vec![WsServerMessage {
                event: ServerEvent::PrizeStockUpdate(PrizeStockUpdate { prize_id: 3, stock_left: Some(2) }),
                timestamp: Timestamp(0),
                message_id: "m1".into(),
            }])),
            ServerEvent::LiveStats(LiveStats {
                draws_per_minute: 12,
                draws_since_open: 30,
                open_sockets: 4,
                server_time: Timestamp(0),
            }),
        ]
    }

    #[test]
    fn every_kind_is_the_wire_type() {
        let events = every_event();
        for e in &events {
            assert_eq!(serde_json::to_value(e).unwrap()["type"], json!(e.kind()), "{e:?}");
        }
        let kinds: std::collections::BTreeSet<&str> = events.iter().map(ServerEvent::kind).collect();
        assert_eq!(kinds.len(), 16, "one event of each of the 16 kinds");
    }

    #[test]
    fn data_keeps_the_published_field_names_and_formats() {
        let events = every_event();
        let [_, _, points, result, stock, prize, win, review, _, _, subscribed, _, _, _, batch, live] = &events[..]
        else {
            unreachable!()
        };
        assert_eq!(
            serde_json::to_value(points).unwrap()["data"],
            json!({ "user_id": 7, "total_points": 900, "change_points": -100, "reason": "lottery",
                    "description": "抽奖 1 次", "operation_id": "b1" })
        );
        assert_eq!(serde_json::to_value(result).unwrap()["data"]["prize_type"], json!("points"));
        assert_eq!(
            serde_json::to_value(stock).unwrap()["data"],
            json!({ "product_id": 9, "stock": 4, "operation": "purchase" })
        );
        assert_eq!(serde_json::to_value(prize).unwrap()["data"], json!({ "prize_id": 3, "stock_left": null }));
        assert_eq!(
            serde_json::to_value(win).unwrap()["data"],
            json!({ "masked_user": "138****0000", "prize_name": "500积分", "prize_type": "points" })
        );
        assert_eq!(
            serde_json::to_value(review).unwrap()["data"],
            json!({ "upload_id": 5, "status": "approved", "points_awarded": 885, "actual_amount": 88.5,
                    "review_reason": null })
        );
        assert_eq!(
            serde_json::to_value(subscribed).unwrap()["data"],
            json!({ "product_ids": [1, 2], "topics": ["ticker", "stock"], "batch": true })
        );
        assert_eq!(
            serde_json::to_value(batch).unwrap()["data"],
            json!([{ "type": "prize_stock_update", "data": { "prize_id": 3, "stock_left": 2 },
                     "timestamp": "1970-01-01T00:00:00.000Z", "message_id": "m1" }])
        );
        assert_eq!(
            serde_json::to_value(live).unwrap()["data"],
            json!({ "draws_per_minute": 12, "draws_since_open": 30, "open_sockets": 4,
                    "server_time": "1970-01-01T00:00:00.000Z" })
        );
    }

    #[test]
    fn topics_are_the_broadcasts_and_every_socket_hears_all_of_them_by_default() {
        let topics: Vec<(&str, Option<Topic>)> = every_event().iter().map(|e| (e.kind(), e.topic())).collect();
        assert!(topics.contains(&("stock_update", Some(Topic::Stock))));
        assert!(topics.contains(&("prize_stock_update", Some(Topic::PrizeStock))));
        assert!(topics.contains(&("wheel_win", Some(Topic::Ticker))));
        assert!(topics.contains(&("points_update", None)), "a customer's own messages are not a topic");
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.name()));
            assert!(Topics::ALL.contains(t));
        }
        assert_eq!(Topic::parse("prizes"), None);
        let some = Topics::of([Topic::PrizeStock, Topic::Ticker]);
        assert_eq!(some.list(), [Topic::Ticker, Topic::PrizeStock]);
        assert!(!some.contains(Topic::Stock));
        assert!(Topics::of([]).list().is_empty());
    }

    #[test]
    fn stock_coalesces_per_product_prizes_per_prize_and_the_ticker_as_one() {
        let keys: Vec<(String, Option<i64>)> =
            every_event().iter().map(|e| e.latest_key()).map(|(k, p)| (k.into_owned(), p)).collect();
        assert!(keys.contains(&("stock:9".into(), Some(9))));
        assert!(keys.contains(&("prize:3".into(), None)));
        assert!(keys.contains(&("wheel_win".into(), None)));
    }
}
