//! `ReviewQueue`: owns the pending receipt reviews (reloaded from the store at start). A new
//! receipt is queued here and announced to merchants (`new_review`) once it is stored. Decisions
//! arrive one at a time, so each upload leaves `pending` exactly once: the first merchant wins,
//! every later decision gets 6004 with the status it found. An approval asks the customer's
//! wallet to credit the points in the same transaction as the status change; the uploader hears
//! the result (`review_result`) after it commits.
//!
//! The queue also guards itself against floods: a customer has at most so many receipts
//! waiting and uploads at most so many in 24 hours, and never the same photo twice. Uploads are
//! admitted one at a time here, so two uploads at once cannot both take the last place.

use std::collections::HashMap;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::failure::{caller_gone, Failure, Reply};
use super::supervision::Supervised;
use super::wallet::{ApprovalRequest, Wallets};
use crate::domain::money::{review_points, yuan};
use crate::domain::review::ReviewStatus;
use crate::domain::time::now_ms;
use crate::domain::DomainError;
use crate::notify::event::{NewReview, ReviewResult};
use crate::notify::{Hub, ServerEvent};
use crate::objects::ObjectStore;
use crate::store::reviews::{ReceiptRow, UploadHistory, UploadWrite};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub user_id: i64,
    pub object_key: String,
    pub content_type: String,
    pub size: i64,
    pub amount_cents: i64,
    /// Lowercase hex SHA-256 of the photo ([`image_digest`]).
    pub image_sha256: String,
}

/// The per-customer upload caps (`UPLOAD_PENDING_LIMIT`, `UPLOAD_DAILY_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    pub pending: u32,
    pub per_day: u32,
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// A full queue empties as merchants review, which takes minutes rather than seconds.
const PENDING_RETRY_MS: u64 = 60_000;

/// The photo's digest as stored beside the upload: lowercase hex SHA-256 of its bytes.
pub fn image_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Whether one more upload fits the caps, given the customer's uploads as the store counts them
/// (`recent`: those after `now - 24h`). Refused with how long to wait: a minute for a full queue,
/// or until the oldest upload of the last 24 hours leaves the window.
pub fn may_upload(limits: UploadLimits, history: &UploadHistory, now: i64) -> Result<(), DomainError> {
    if history.pending >= i64::from(limits.pending) {
        return Err(DomainError::TooManyUploads { retry_after_ms: PENDING_RETRY_MS });
    }
    if history.recent >= i64::from(limits.per_day) {
        let frees_at = history.oldest_recent.unwrap_or(now) + DAY_MS;
        let wait = u64::try_from(frees_at - now).unwrap_or(0).max(1000);
        return Err(DomainError::TooManyUploads { retry_after_ms: wait });
    }
    Ok(())
}

/// Checks a customer's next upload against the caps and their earlier photos. The upload
/// handler asks before storing the photo (so a flood writes nothing); the queue asks again when
/// it queues the upload, one at a time, which is the check that counts.
pub async fn admit(store: &Store, limits: UploadLimits, user_id: i64, image_sha256: &str, now: i64) -> Reply<()> {
    let history = store.upload_history(user_id, now - DAY_MS).await?;
    may_upload(limits, &history, now)?;
    if store.has_uploaded_image(user_id, image_sha256).await? {
        return Err(DomainError::invalid("photo", "this receipt photo was already uploaded").into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve { actual_amount_cents: i64 },
    Reject,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub upload_id: i64,
    pub reviewer_id: i64,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub upload_id: i64,
    pub user_id: i64,
    /// Approved or rejected.
    pub status: ReviewStatus,
    pub points_awarded: i64,
    pub actual_amount_cents: Option<i64>,
    pub reason: Option<String>,
}

pub enum ReviewQueueMessage {
    Submit(Box<NewReceipt>, RpcReplyPort<Reply<ReceiptRow>>),
    Decide(Decision, RpcReplyPort<Reply<Decided>>),
    /// The owner takes back a pending upload; answers its object key.
    Withdraw {
        upload_id: i64,
        user_id: i64,
        reply: RpcReplyPort<Reply<String>>,
    },
    /// Test hook (only reachable when the server runs with test hooks): panic inside the actor.
    InjectPanic,
}

#[derive(Clone)]
pub struct ReviewQueue;

#[derive(Clone)]
pub struct ReviewQueueArgs {
    pub store: Store,
    pub wallets: Wallets,
    pub hub: Hub,
    /// Where the photos are, for the signed link merchants get with `new_review`.
    pub objects: ObjectStore,
    /// How long that link works.
    pub image_link_ttl: Duration,
    pub upload_limits: UploadLimits,
}

pub struct ReviewQueueState {
    /// upload id → owner.
    pending: HashMap<i64, i64>,
    args: ReviewQueueArgs,
}

impl Actor for ReviewQueue {
    type Msg = ReviewQueueMessage;
    type State = ReviewQueueState;
    type Arguments = ReviewQueueArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        args: ReviewQueueArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let pending = args.store.pending_uploads().await?.into_iter().collect();
        Ok(ReviewQueueState { pending, args })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let gone = match &msg {
            ReviewQueueMessage::Submit(_, reply) => caller_gone(reply, "review_queue"),
            ReviewQueueMessage::Decide(_, reply) => caller_gone(reply, "review_queue"),
            ReviewQueueMessage::Withdraw { reply, .. } => caller_gone(reply, "review_queue"),
            ReviewQueueMessage::InjectPanic => false,
        };
        if gone {
            return Ok(());
        }
        match msg {
            ReviewQueueMessage::Submit(upload, reply) => {
                let result = state.submit(*upload).await;
                let _ = reply.send(result);
            }
            ReviewQueueMessage::Decide(decision, reply) => {
                let result = state.decide(decision).await;
                let _ = reply.send(result);
            }
            ReviewQueueMessage::Withdraw { upload_id, user_id, reply } => {
                let result = state.withdraw(upload_id, user_id).await;
                let _ = reply.send(result);
            }
            ReviewQueueMessage::InjectPanic => panic!("test hook: injected panic in the review queue"),
        }
        Ok(())
    }
}

impl ReviewQueueState {
    async fn submit(&mut self, u: NewReceipt) -> Reply<ReceiptRow> {
        let store = &self.args.store;
        let now = now_ms();
        admit(store, self.args.upload_limits, u.user_id, &u.image_sha256, now).await?;
        let row = store
            .insert_upload(&UploadWrite {
                user_id: u.user_id,
                object_key: u.object_key,
                content_type: u.content_type,
                size: u.size,
                amount_cents: u.amount_cents,
                image_sha256: u.image_sha256,
                at: now,
            })
            .await?;
        self.pending.insert(row.id, row.user_id);
        let image_url = self.args.objects.signed_url(&row.object_key, self.args.image_link_ttl).await;
        self.args.hub.to_merchants(ServerEvent::NewReview(NewReview {
            upload_id: row.id,
            user_id: row.user_id,
            amount: yuan(row.amount_cents),
            // Merchants can still open the review from the pending list, which signs afresh.
            image_url: image_url.unwrap_or_default(),
        }));
        Ok(row)
    }

    /// Why `upload_id` cannot be decided: unknown (6001) or already decided (6004).
    async fn not_pending(&self, upload_id: i64) -> Failure {
        match self.args.store.upload(upload_id).await {
            Ok(Some(u)) => DomainError::AlreadyReviewed { current_status: u.status }.into(),
            Ok(None) => DomainError::ReviewNotFound.into(),
            Err(e) => e.into(),
        }
    }

    /// The uploader of a pending upload. One this queue has not seen was taken in by another
    /// node (cluster mode): the store says whether it still waits. Deciding it here is safe:
    /// the store moves an upload out of `pending` once, whichever node asks first.
    async fn pending_owner(&mut self, upload_id: i64) -> Reply<Option<i64>> {
        if let Some(&user_id) = self.pending.get(&upload_id) {
            return Ok(Some(user_id));
        }
        Ok(match self.args.store.upload(upload_id).await? {
            Some(u) if u.status.parse() == Ok(ReviewStatus::Pending) => {
                self.pending.insert(upload_id, u.user_id);
                Some(u.user_id)
            }
            _ => None,
        })
    }

    async fn decide(&mut self, d: Decision) -> Reply<Decided> {
        let Some(user_id) = self.pending_owner(d.upload_id).await? else {
            return Err(self.not_pending(d.upload_id).await);
        };
        may_decide(d.reviewer_id, user_id)?;
        let decided = match d.verdict {
            Verdict::Approve { actual_amount_cents } => {
                let points = review_points(actual_amount_cents);
                let request = ApprovalRequest {
                    upload_id: d.upload_id,
                    points,
                    actual_amount_cents,
                    reviewer_id: d.reviewer_id,
                    reason: d.reason.clone(),
                };
                let credited = match self.args.wallets.approve(user_id, request).await {
                    // The wallet applies the customer's level multiplier after the clamp.
                    Ok(done) => done.points,
                    Err(e) => {
                        // The outcome may be unknown (a lost commit acknowledgement): trust the store.
                        if let Ok(Some(u)) = self.args.store.upload(d.upload_id).await {
                            if u.status.parse() != Ok(ReviewStatus::Pending) {
                                self.pending.remove(&d.upload_id);
                                // Decided by another node meanwhile: the merchant hears who won.
                                if e.nothing_written() {
                                    return Err(DomainError::AlreadyReviewed { current_status: u.status }.into());
                                }
                            }
                        }
                        return Err(e);
                    }
                };
                Decided {
                    upload_id: d.upload_id,
                    user_id,
                    status: ReviewStatus::Approved,
                    points_awarded: credited,
                    actual_amount_cents: Some(actual_amount_cents),
                    reason: d.reason,
                }
            }
            Verdict::Reject => {
                let moved =
                    self.args.store.reject_upload(d.upload_id, d.reviewer_id, d.reason.as_deref(), now_ms()).await?;
                if !moved {
                    self.pending.remove(&d.upload_id);
                    return Err(self.not_pending(d.upload_id).await);
                }
                Decided {
                    upload_id: d.upload_id,
                    user_id,
                    status: ReviewStatus::Rejected,
                    points_awarded: 0,
                    actual_amount_cents: None,
                    reason: d.reason,
                }
            }
        };
        self.pending.remove(&d.upload_id);
        self.args.hub.to_user(
            user_id,
            ServerEvent::ReviewResult(ReviewResult {
                upload_id: decided.upload_id,
                status: decided.status,
                points_awarded: decided.points_awarded,
                actual_amount: decided.actual_amount_cents.map(yuan),
                review_reason: decided.reason.clone(),
            }),
        );
        Ok(decided)
    }

    async fn withdraw(&mut self, upload_id: i64, user_id: i64) -> Reply<String> {
        match self.pending_owner(upload_id).await? {
            Some(owner) if owner == user_id => {}
            Some(_) => return Err(DomainError::ReviewNotFound.into()),
            None => {
                return match self.args.store.upload(upload_id).await? {
                    Some(u) if u.user_id == user_id => {
                        Err(DomainError::AlreadyReviewed { current_status: u.status }.into())
                    }
                    _ => Err(DomainError::ReviewNotFound.into()),
                }
            }
        }
        let Some(key) = self.args.store.delete_pending_upload(upload_id, user_id).await? else {
            // Decided meanwhile (a late approval committed): the upload and its photo stay.
            self.pending.remove(&upload_id);
            return match self.args.store.upload(upload_id).await? {
                Some(u) => Err(DomainError::AlreadyReviewed { current_status: u.status }.into()),
                None => Err(DomainError::ReviewNotFound.into()),
            };
        };
        self.pending.remove(&upload_id);
        Ok(key)
    }
}

/// A merchant is a customer too: deciding their own receipt would let them mint points. The
/// store's approval write refuses it as well, in case a caller ever skips this check.
fn may_decide(reviewer_id: i64, owner_id: i64) -> Result<(), DomainError> {
    if reviewer_id == owner_id {
        return Err(DomainError::OwnUpload);
    }
    Ok(())
}

/// The live ReviewQueue, restarted from the store by its supervisor after a failure.
#[derive(Clone)]
pub struct ReviewHandle {
    actor: Supervised<ReviewQueue>,
}

impl ReviewHandle {
    pub async fn start(args: ReviewQueueArgs, call_timeout: Duration) -> anyhow::Result<ReviewHandle> {
        Ok(ReviewHandle { actor: Supervised::start("review_queue", ReviewQueue, args, call_timeout).await? })
    }

    pub async fn submit(&self, upload: NewReceipt) -> Reply<ReceiptRow> {
        self.actor.call(|reply| ReviewQueueMessage::Submit(Box::new(upload), reply)).await
    }

    pub async fn decide(&self, decision: Decision) -> Reply<Decided> {
        self.actor.call(|reply| ReviewQueueMessage::Decide(decision, reply)).await
    }

    pub async fn withdraw(&self, upload_id: i64, user_id: i64) -> Reply<String> {
        self.actor.call(|reply| ReviewQueueMessage::Withdraw { upload_id, user_id, reply }).await
    }

    /// Test hook: makes the ReviewQueue panic (its supervisor restarts it from the store).
    pub fn inject_panic(&self) -> Reply<()> {
        self.actor.cast(ReviewQueueMessage::InjectPanic)
    }

    pub fn stop(&self) {
        self.actor.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::Application;
    use crate::config::Config;

    const LIMITS: UploadLimits = UploadLimits { pending: 2, per_day: 3 };

    fn history(pending: i64, recent: i64, oldest_recent: Option<i64>) -> UploadHistory {
        UploadHistory { pending, recent, oldest_recent }
    }

    #[test]
    fn uploads_fit_until_the_queue_or_the_day_is_full() {
        let now = 10 * DAY_MS;
        assert_eq!(may_upload(LIMITS, &history(0, 0, None), now), Ok(()));
        assert_eq!(may_upload(LIMITS, &history(1, 2, Some(now - 5)), now), Ok(()));
        assert_eq!(
            may_upload(LIMITS, &history(2, 2, Some(now - 5)), now),
            Err(DomainError::TooManyUploads { retry_after_ms: PENDING_RETRY_MS })
        );
    }

    #[test]
    fn a_full_day_waits_until_its_oldest_upload_leaves_the_window() {
        let now = 10 * DAY_MS;
        let oldest = now - DAY_MS + 90_000;
        assert_eq!(
            may_upload(LIMITS, &history(0, 3, Some(oldest)), now),
            Err(DomainError::TooManyUploads { retry_after_ms: 90_000 })
        );
        // At the edge the store no longer counts it; a wait is never shorter than a second.
        assert_eq!(
            may_upload(LIMITS, &history(0, 3, Some(now - DAY_MS)), now),
            Err(DomainError::TooManyUploads { retry_after_ms: 1000 })
        );
    }

    #[test]
    fn the_digest_is_lowercase_hex_sha256() {
        assert_eq!(image_digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_merchant_never_decides_their_own_receipt() {
        assert_eq!(may_decide(7, 7), Err(DomainError::OwnUpload));
        assert_eq!(may_decide(8, 7), Ok(()));
    }

    /// Decides `decision`, waiting while the queue restarts (its calls fail as faults meanwhile).
    async fn decide_when_back(reviews: &ReviewHandle, decision: &Decision) -> Reply<Decided> {
        for _ in 0..100 {
            match reviews.decide(decision.clone()).await {
                Err(Failure::Fault { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
                answered => return answered,
            }
        }
        panic!("the review queue did not come back");
    }

    /// In process, through the real server's actors: a panic in the queue restarts it from the
    /// store with its pending receipts, and each is still decided exactly once. Merchants heard
    /// of the receipt when it was queued.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_queue_restarts_with_its_pending_receipts() {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}/reviews.db", dir.path().display());
        let uploads = dir.path().join("uploads").display().to_string();
        let config = Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some(database.clone()),
            "UPLOAD_DIR" => Some(uploads.clone()),
            "HOST" => Some("127.0.0.1".into()),
            "PORT" => Some("0".into()),
            "SEED_DEMO" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        let app = Application::build(config).await.unwrap();
        let state = app.state();
        let customer = state.store.create_user("13800138000", "用户8000", 0, now_ms()).await.unwrap();
        let merchant = state.hub.register(customer.id + 1, true);

        let upload = NewReceipt {
            user_id: customer.id,
            object_key: "receipts/test.jpg".into(),
            content_type: "image/jpeg".into(),
            size: 3,
            amount_cents: 8850,
            image_sha256: image_digest(b"receipt"),
        };
        let row = state.reviews.submit(upload).await.unwrap();
        let heard: Vec<String> = merchant.take().messages.iter().map(|m| m.to_string()).collect();
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert!(heard[0].contains(r#""type":"new_review""#) && heard[0].contains(r#""amount":88.5"#), "{heard:?}");

        state.reviews.inject_panic().unwrap();
        let approve = Decision {
            upload_id: row.id,
            // Any merchant but the uploader (who would be refused with 6005).
            reviewer_id: customer.id + 1,
            verdict: Verdict::Approve { actual_amount_cents: 8850 },
            reason: None,
        };
        let decided = decide_when_back(&state.reviews, &approve).await.unwrap();
        assert_eq!((decided.status, decided.points_awarded), (ReviewStatus::Approved, 885));
        assert_eq!(state.wallets.snapshot(customer.id).await.unwrap().balance, 885);

        let again = state.reviews.decide(approve).await;
        assert!(
            matches!(&again, Err(Failure::Refused(DomainError::AlreadyReviewed { current_status })) if current_status == "approved"),
            "{again:?}"
        );
    }
}
