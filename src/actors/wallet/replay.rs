//! Idempotency: a request that carries a key the customer already used gets the first result
//! back and changes nothing. The store keeps every key's result (a unique key guards it); the
//! wallet keeps the latest few in memory ([`RecentKeys`]) so a client's quick retry does not
//! cost a query.
//!
//! A key belongs to one kind of request: a retried draw reads back a draw batch, and a key first
//! used for a redemption is refused for a draw. [`WalletState::earlier`] asks for the kind the
//! caller expects, through `TryFrom<Remembered>`.

use std::collections::{HashMap, VecDeque};

use super::WalletState;
use crate::actors::failure::{Failure, Reply};
use crate::domain::DomainError;
use crate::store::ledger::CommittedChange;
use crate::store::shop::{CommittedOrder, EXCHANGE_OPERATION};
use crate::store::wheel::{CommittedBatch, DRAW_OPERATION};
use crate::store::StoreError;

/// The store's name for a direct points change's idempotency records.
pub(super) const CHANGE_OPERATION: &str = "points_change";

/// How many keys a wallet remembers in memory (the store remembers them all).
const RECENT_KEYS: usize = 64;

/// What a write with an idempotency key answers: its committed result, and whether that answers
/// a retry of an earlier request.
pub(super) trait Outcome: Sized {
    type Result: TryFrom<Remembered>;
    fn replayed(result: Self::Result) -> Self;
}

/// Declares the three kinds of result a retry can be answered with: [`Remembered`], holding any
/// one of them; each result's conversions to and from it (reading a result as another kind gives
/// the `Remembered` back); and the [`Outcome`] a write answers its caller with.
macro_rules! replayable {
    ($($(#[$doc:meta])* $variant:ident($result:ty) => $outcome:ident { $field:ident })+) => {
        /// A committed result, kept for a retry of the request that produced it.
        #[derive(Debug, Clone, PartialEq)]
        pub(super) enum Remembered {
            $($variant($result),)+
        }

        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            pub struct $outcome {
                pub $field: $result,
                /// True when this answers a retry of an earlier request with the same key.
                pub replayed: bool,
            }

            impl Outcome for $outcome {
                type Result = $result;
                fn replayed(result: $result) -> $outcome {
                    $outcome { $field: result, replayed: true }
                }
            }

            impl From<$result> for Remembered {
                fn from(result: $result) -> Remembered {
                    Remembered::$variant(result)
                }
            }

            impl TryFrom<Remembered> for $result {
                type Error = Remembered;
                fn try_from(r: Remembered) -> Result<$result, Remembered> {
                    match r {
                        Remembered::$variant(result) => Ok(result),
                        other => Err(other),
                    }
                }
            }
        )+
    };
}

replayable! {
    /// What a direct points change answers.
    Change(CommittedChange) => ChangeOutcome { committed }
    /// What a draw answers.
    Draw(CommittedBatch) => DrawOutcome { batch }
    /// What a redemption answers.
    Order(CommittedOrder) => RedeemOutcome { order }
}

impl Remembered {
    /// A result the store kept under `operation`, as JSON.
    fn parse(operation: &str, response: &str) -> Reply<Remembered> {
        let parsed = match operation {
            CHANGE_OPERATION => serde_json::from_str(response).map(Remembered::Change),
            DRAW_OPERATION => serde_json::from_str(response).map(Remembered::Draw),
            EXCHANGE_OPERATION => serde_json::from_str(response).map(Remembered::Order),
            _ => return Err(key_reused().into()),
        };
        parsed.map_err(|e| Failure::caused_by("reading a stored idempotent result", e))
    }
}

fn key_reused() -> DomainError {
    DomainError::invalid("Idempotency-Key", "already used for a different kind of request")
}

/// The results of the latest [`RECENT_KEYS`] keys; the oldest is forgotten first.
#[derive(Debug, Default)]
pub(super) struct RecentKeys {
    results: HashMap<String, Remembered>,
    /// Keys in the order they were first remembered.
    order: VecDeque<String>,
}

impl RecentKeys {
    fn get(&self, key: &str) -> Option<&Remembered> {
        self.results.get(key)
    }

    /// Keeps `result` under `key`, when the request carried one.
    pub(super) fn remember(&mut self, key: Option<String>, result: impl Into<Remembered>) {
        let Some(key) = key else { return };
        if let Some(kept) = self.results.get_mut(&key) {
            *kept = result.into();
            return;
        }
        if self.order.len() >= RECENT_KEYS {
            if let Some(oldest) = self.order.pop_front() {
                self.results.remove(&oldest);
            }
        }
        self.order.push_back(key.clone());
        self.results.insert(key, result.into());
    }
}

impl WalletState {
    /// Where every write starts: the balance is brought up to date, and a retry of a request
    /// already made is answered with its first result (`Some`), changing nothing.
    pub(super) async fn replay<O: Outcome>(&mut self, key: Option<&str>) -> Reply<Option<O>> {
        self.refresh_if_stale().await?;
        Ok(self.earlier(key).await?.map(O::replayed))
    }

    /// The result of an earlier request with `key`, from memory, else from the store; `None`
    /// when the key is new (or there is none). A key used for another kind of request is refused.
    async fn earlier<T: TryFrom<Remembered>>(&self, key: Option<&str>) -> Reply<Option<T>> {
        let Some(key) = key else { return Ok(None) };
        let remembered = match self.recent.get(key) {
            Some(r) => r.clone(),
            None => match self.deps.store.idempotent_result(self.user_id, key).await? {
                Some((operation, response)) => Remembered::parse(&operation, &response)?,
                None => return Ok(None),
            },
        };
        T::try_from(remembered).map(Some).map_err(|_| key_reused().into())
    }

    /// After a commit: the wallet's balance is the committed one, and the result is kept for a
    /// retry of the request (when it carried a key).
    pub(super) fn record_commit(&mut self, balance_after: i64, key: Option<String>, result: impl Into<Remembered>) {
        self.balance = balance_after;
        self.recent.remember(key, result);
    }

    /// After a write whose commit failed. Its outcome may be unknown (a lost acknowledgement),
    /// so the next request reloads the balance from the store. When the failure is the key's
    /// unique guard, another path recorded this key first, and its result is the answer.
    pub(super) async fn recover<O: Outcome>(&mut self, e: StoreError, key: Option<&str>) -> Reply<O> {
        self.stale = true;
        if e.is_unique_violation() {
            if let Some(earlier) = self.earlier(key).await? {
                return Ok(O::replayed(earlier));
            }
        }
        Err(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(record_id: i64) -> CommittedChange {
        CommittedChange { record_id, user_id: 1, delta: 5, balance_after: 105, source: "admin_adjust".into() }
    }

    fn batch() -> CommittedBatch {
        CommittedBatch {
            batch_id: "b1".into(),
            user_id: 1,
            draws: Vec::new(),
            points_cost: 100,
            points_won: 0,
            balance_after: 900,
            pity_count: 1,
            pity_limit: 10,
        }
    }

    fn refused_field(f: Failure) -> String {
        match f {
            Failure::Refused(DomainError::InvalidInput { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_result_reads_back_only_as_its_own_kind() {
        let draw = Remembered::from(batch());
        assert_eq!(CommittedBatch::try_from(draw.clone()), Ok(batch()));
        assert_eq!(CommittedChange::try_from(draw.clone()), Err(draw.clone()));
        assert!(CommittedOrder::try_from(draw).is_err());
        assert_eq!(CommittedChange::try_from(Remembered::from(change(3))), Ok(change(3)));
    }

    #[test]
    fn stored_results_parse_by_their_operation() {
        let json = serde_json::to_string(&batch()).unwrap();
        assert_eq!(Remembered::parse(DRAW_OPERATION, &json).unwrap(), Remembered::Draw(batch()));
        let json = serde_json::to_string(&change(4)).unwrap();
        assert_eq!(Remembered::parse(CHANGE_OPERATION, &json).unwrap(), Remembered::Change(change(4)));
        // A key recorded by an operation this wallet does not know is not for this request.
        assert_eq!(refused_field(Remembered::parse("check_in", &json).unwrap_err()), "Idempotency-Key");
        // A result that does not read back is a fault, not the client's mistake.
        assert!(matches!(Remembered::parse(DRAW_OPERATION, &json), Err(Failure::Fault { .. })));
    }

    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let mut recent = RecentKeys::default();
        for i in 0..RECENT_KEYS as i64 {
            recent.remember(Some(format!("k{i}")), change(i));
        }
        assert!(recent.get("k0").is_some());
        recent.remember(None, batch());
        assert_eq!(recent.order.len(), RECENT_KEYS, "no key, nothing to remember");
        recent.remember(Some("new".into()), batch());
        assert!(recent.get("k0").is_none(), "the oldest made room");
        assert!(recent.get("k1").is_some());
        assert_eq!(recent.get("new"), Some(&Remembered::Draw(batch())));
        assert_eq!(recent.results.len(), RECENT_KEYS);
        assert_eq!(recent.order.len(), RECENT_KEYS);
    }

    #[test]
    fn remembering_a_key_again_does_not_push_out_another() {
        let mut recent = RecentKeys::default();
        for i in 0..RECENT_KEYS as i64 {
            recent.remember(Some(format!("k{i}")), change(i));
        }
        recent.remember(Some("k5".into()), change(99));
        assert!(recent.get("k0").is_some());
        assert_eq!(recent.get("k5"), Some(&Remembered::Change(change(99))));
        assert_eq!(recent.order.len(), RECENT_KEYS);
    }
}
