//! Tasks (任务): each customer's progress on the built-in tasks, measured from what the server
//! committed in the task's current round (draws made, receipts approved, the check-in streak,
//! shop orders, points spent), and the watcher that follows the event stream and pushes
//! `task_completed` when a committed fact completes a task.
//!
//! Progress is read from the store, not kept in memory, so it is right after a restart and can
//! never count what a client merely claims; the claim itself goes through the customer's wallet
//! with one unique row per task round, so it is credited exactly once.

use std::collections::{HashMap, HashSet};

use tokio::sync::broadcast::error::RecvError;

use crate::domain::loyalty::{task_status, BusinessTz, TaskMeasure, TaskRound, TaskStatus};
use crate::events::{Committed, EventBus};
use crate::notify::event::TaskCompleted;
use crate::notify::{Hub, ServerEvent};
use crate::store::loyalty::TaskRow;
use crate::store::{Store, StoreResult};

/// A task as one customer sees it now.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: TaskRow,
    /// Capped at the target.
    pub progress: i64,
    pub status: TaskStatus,
    pub round: TaskRound,
}

/// The customer's tasks at `now`.
pub async fn board(store: &Store, tz: &BusinessTz, user_id: i64, now: i64) -> StoreResult<Vec<TaskView>> {
    let claims: HashSet<(String, String)> = store.task_claims(user_id).await?.into_iter().collect();
    let mut out = Vec::new();
    for task in store.tasks().await? {
        let round = task.period().round(tz, now);
        let progress = match TaskMeasure::of(&task.task_key) {
            Some(m) => measure(store, user_id, m, &round).await?,
            None => 0,
        }
        .min(task.target);
        let claimed = claims.contains(&(task.task_key.clone(), round.key.clone()));
        let status = task_status(progress, task.target, claimed);
        out.push(TaskView { task, progress, status, round });
    }
    Ok(out)
}

async fn measure(store: &Store, user_id: i64, m: TaskMeasure, r: &TaskRound) -> StoreResult<i64> {
    match m {
        TaskMeasure::Draws => store.draws_between(user_id, r.from, r.until).await,
        TaskMeasure::ApprovedReceipts => store.approved_receipts_between(user_id, r.from, r.until).await,
        TaskMeasure::CheckinStreak => store.longest_streak(user_id).await,
        TaskMeasure::Exchanges => store.exchanges_between(user_id, r.from, r.until).await,
        TaskMeasure::PointsSpent => store.points_spent_between(user_id, r.from, r.until).await,
    }
}

/// Which measure a committed fact moves.
fn moved(event: &Committed) -> Option<TaskMeasure> {
    match event {
        Committed::Drew { .. } => Some(TaskMeasure::Draws),
        Committed::ReceiptApproved { .. } => Some(TaskMeasure::ApprovedReceipts),
        Committed::CheckedIn { .. } => Some(TaskMeasure::CheckinStreak),
        Committed::Exchanged { .. } => Some(TaskMeasure::Exchanges),
        Committed::Spent { .. } => Some(TaskMeasure::PointsSpent),
        Committed::Earned { .. } => None,
    }
}

/// Follows the event stream and pushes `task_completed` once per task round that a committed
/// fact completes (and the customer has not claimed yet). It only reads; it never writes.
pub fn start_watcher(store: Store, events: &EventBus, hub: Hub, tz: BusinessTz) {
    let mut rx = events.subscribe();
    tokio::spawn(async move {
        // Rounds already announced, per customer. Forgotten on restart: a customer may then hear
        // once more of a task they completed but have not claimed.
        // Cleared when the business day turns, so it holds one day's announcements at most.
        let mut told: HashMap<i64, HashSet<(String, String)>> = HashMap::new();
        // Measures with nothing left to announce to a customer today: every task they move is
        // completed or claimed in its round, and progress never goes back inside a round (rounds
        // turn only when the business day does). Without this, every draw of a busy customer
        // re-read their whole task board from the store (about eight queries per committed fact).
        let mut settled: HashSet<(i64, TaskMeasure)> = HashSet::new();
        let mut today = 0;
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                // Missed events only mean missed notifications; progress itself is in the store.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the task watcher fell behind");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let Some(m) = moved(&event) else { continue };
            let user_id = event.user_id();
            let at = match event {
                Committed::Drew { at, .. }
                | Committed::ReceiptApproved { at, .. }
                | Committed::CheckedIn { at, .. }
                | Committed::Exchanged { at, .. }
                | Committed::Spent { at, .. }
                | Committed::Earned { at, .. } => at,
            };
            if tz.day(at) != today {
                today = tz.day(at);
                told.clear();
                settled.clear();
            }
            if settled.contains(&(user_id, m)) {
                continue;
            }
            let tasks = match board(&store, &tz, user_id, at).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(user_id, error = %e, "could not read task progress");
                    continue;
                }
            };
            let moved_by_m = |t: &&TaskView| TaskMeasure::of(&t.task.task_key) == Some(m);
            if tasks.iter().filter(moved_by_m).all(|t| t.status != TaskStatus::InProgress) {
                settled.insert((user_id, m));
            }
            let seen = told.entry(user_id).or_default();
            for t in tasks {
                if t.status != TaskStatus::Completed || TaskMeasure::of(&t.task.task_key) != Some(m) {
                    continue;
                }
                if seen.insert((t.task.task_key.clone(), t.round.key.clone())) {
                    hub.to_user(
                        user_id,
                        ServerEvent::TaskCompleted(TaskCompleted {
                            task_id: t.task.id,
                            key: t.task.task_key.clone(),
                            name: t.task.name.clone(),
                            points: t.task.points,
                        }),
                    );
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fact_moves_its_own_measure() {
        assert_eq!(moved(&Committed::Drew { user_id: 1, count: 3, at: 0 }), Some(TaskMeasure::Draws));
        assert_eq!(moved(&Committed::Spent { user_id: 1, points: 300, at: 0 }), Some(TaskMeasure::PointsSpent));
        assert_eq!(moved(&Committed::Earned { user_id: 1, points: 300, at: 0 }), None);
    }
}
