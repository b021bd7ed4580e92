//! What a caller gets back when an actor could not do what it was asked: either the business
//! said no (a [`DomainError`], shown to the client as its contract code), or something under the
//! business failed (the store, the actor itself), which the client sees only as "try again".
//! Keeping the two apart is what lets `DomainError` mean "a rule refused" and nothing else; the
//! fault keeps its cause chain for the log.

use crate::domain::DomainError;
use crate::store::StoreError;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A business rule refused; nothing changed.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The store could not be reached; nothing was committed.
    #[error("the store is unavailable")]
    StoreUnavailable(#[source] StoreError),
    /// The caller stopped waiting (its actor-call timeout passed, or its request was dropped);
    /// the work was skipped, or released before anything was committed.
    #[error("{0}")]
    TimedOut(String),
    /// Cluster mode: the customer's wallet is another node's, and that node could not take the
    /// call, or the wallet moved while it was being called. Nothing was done; the caller may ask
    /// again (the client sees "try again").
    #[error("{0}")]
    Elsewhere(String),
    /// Anything else: an actor that died or did not answer, a failed query, a broken invariant.
    #[error("{context}")]
    Fault {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl Failure {
    pub fn fault(context: impl Into<String>) -> Failure {
        Failure::Fault { context: context.into(), source: None }
    }

    /// True when the failed call certainly changed nothing: a rule refused it, or the store
    /// refused or never began the write. (A timeout or a broken connection may have committed.)
    pub fn nothing_written(&self) -> bool {
        match self {
            Failure::Refused(_) | Failure::Elsewhere(_) => true,
            Failure::StoreUnavailable(e) => e.nothing_written(),
            Failure::Fault { source: Some(source), .. } => {
                source.downcast_ref::<StoreError>().is_some_and(StoreError::nothing_written)
            }
            Failure::TimedOut(_) | Failure::Fault { source: None, .. } => false,
        }
    }

    pub fn caused_by(context: impl Into<String>, source: impl Into<BoxError>) -> Failure {
        Failure::Fault { context: context.into(), source: Some(source.into()) }
    }
}

/// True when whoever asked has stopped waiting for `reply` (their timeout passed, or their
/// request was dropped). Work for them must not start: they were answered "failed" and may retry.
pub fn caller_gone<T>(reply: &ractor::RpcReplyPort<T>, actor: &'static str) -> bool {
    let gone = reply.is_closed();
    if gone {
        metrics::counter!("abandoned_requests_total", "actor" => actor).increment(1);
    }
    gone
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Failure::StoreUnavailable(e),
            other => Failure::caused_by("store", other),
        }
    }
}

/// What an actor's reply carries.
pub type Reply<T> = Result<T, Failure>;
