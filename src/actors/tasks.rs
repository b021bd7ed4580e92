//! Tasks (任务): each customer's progress on the built-in tasks, measured from what the server
//! committed in the task's current round (draws made, receipts approved, the check-in streak,
//! shop orders, points spent), and the watcher that follows the event stream and pushes
//! `task_completed` when a committed fact completes a task.
//!
//! Progress is read from the store, not kept in memory, so it is right after a restart and can
//! never count what a client merely claims; the claim itself goes through the customer's wallet
//! with one unique row per task round, so it is credited exactly once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::domain::loyalty::{task_status, BusinessTz, TaskMeasure, TaskRound, TaskStatus};
use crate::events::{Committed, EventBus};
use crate::notify::event::TaskCompleted;
use crate::notify::{Hub, ServerEvent};
use crate::store::loyalty::{TaskProbe, TaskRow};
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

/// The customer's tasks at `now`: two queries (the definitions, then every task's progress and
/// claim in one statement).
pub async fn board(store: &Store, tz: &BusinessTz, user_id: i64, now: i64) -> StoreResult<Vec<TaskView>> {
    let tasks = store.tasks().await?;
    views(store, tz, user_id, now, tasks).await
}

/// How far the customer is at `now` in each of `tasks`, in one query.
async fn views(
    store: &Store,
    tz: &BusinessTz,
    user_id: i64,
    now: i64,
    tasks: Vec<TaskRow>,
) -> StoreResult<Vec<TaskView>> {
    let rounds: Vec<TaskRound> = tasks.iter().map(|t| t.period().round(tz, now)).collect();
    let probes: Vec<TaskProbe<'_>> = tasks
        .iter()
        .zip(&rounds)
        .map(|(t, r)| TaskProbe {
            measure: TaskMeasure::of(&t.task_key),
            from: r.from,
            until: r.until,
            task_key: &t.task_key,
            round_key: &r.key,
        })
        .collect();
    let measured = store.task_progress(user_id, &probes).await?;
    drop(probes);
    Ok(tasks
        .into_iter()
        .zip(rounds)
        .zip(measured)
        .map(|((task, round), (progress, claimed))| {
            let progress = progress.min(task.target);
            let status = task_status(progress, task.target, claimed);
            TaskView { task, progress, status, round }
        })
        .collect())
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

/// How much a committed fact moves its measure, when that is a sum (the check-in streak is not:
/// a streak can restart, so its progress is always read again).
fn amount(event: &Committed) -> Option<i64> {
    match *event {
        Committed::Drew { count, .. } => Some(count),
        Committed::Spent { points, .. } => Some(points),
        Committed::ReceiptApproved { .. } | Committed::Exchanged { .. } => Some(1),
        Committed::CheckedIn { .. } | Committed::Earned { .. } => None,
    }
}

/// What the watcher knows of one customer's measure since it last read their board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headroom {
    /// Every task the measure moves is completed or claimed in its round: nothing left to
    /// announce today (progress never goes back inside a round, and rounds turn only when the
    /// business day does).
    Settled,
    /// The nearest unfinished task needs at least this much more of the measure. An upper bound
    /// on the progress made since the read is subtracted as facts arrive (see [`Watch::moved`]).
    AtLeast(i64),
}

/// The watcher's memory of the day: per customer and measure, how far the nearest completion is.
/// Without it every committed fact re-read the customer's whole task board (about eight queries
/// per draw), and under a draw burst the watcher alone kept the database busy for longer than the
/// burst lasted.
#[derive(Debug, Default)]
struct Watch {
    headroom: HashMap<(i64, TaskMeasure), Headroom>,
    /// Customers whose whole board was read today: their first fact reads every measure at once
    /// (a draw moves two, the draws and the points spent), later ones only the measure moved.
    boarded: HashSet<i64>,
}

impl Watch {
    /// Whether `event` (moving measure `m` of `user_id`) may have completed a task, i.e. whether
    /// the board must be read. Why the bound is safe: the board is read after the commit of the
    /// fact being handled, so it holds every fact committed before the read; a fact committed
    /// after the read is published after it, hence handled after this one and subtracted here.
    /// Facts committed before the read but handled after it are subtracted too although the read
    /// already counted them: that only brings the next read forward, it never misses a completion.
    fn moved(&mut self, user_id: i64, m: TaskMeasure, event: &Committed) -> bool {
        match (self.headroom.get_mut(&(user_id, m)), amount(event)) {
            (Some(Headroom::Settled), _) => false,
            (Some(Headroom::AtLeast(left)), Some(a)) => {
                *left -= a;
                *left <= 0
            }
            _ => true,
        }
    }

    /// After reading the board: what is left of the measure's unfinished tasks.
    fn read(&mut self, user_id: i64, m: TaskMeasure, tasks: &[TaskView]) {
        let left = tasks
            .iter()
            .filter(|t| TaskMeasure::of(&t.task.task_key) == Some(m) && t.status == TaskStatus::InProgress)
            .map(|t| t.task.target - t.progress)
            .min();
        self.headroom.insert((user_id, m), left.map_or(Headroom::Settled, Headroom::AtLeast));
    }

    /// Whether the customer's next read should cover every measure (none was read today).
    fn first_read(&self, user_id: i64) -> bool {
        !self.boarded.contains(&user_id)
    }

    /// After reading the whole board: what is left of each measure's unfinished tasks. The bound
    /// of every measure is as safe as the one the fact moved (see [`Watch::moved`]): facts of any
    /// measure committed after the read are handled after this one.
    fn read_every(&mut self, user_id: i64, tasks: &[TaskView]) {
        let measures: HashSet<TaskMeasure> = tasks.iter().filter_map(|t| TaskMeasure::of(&t.task.task_key)).collect();
        for m in measures {
            self.read(user_id, m, tasks);
        }
        self.boarded.insert(user_id);
    }

    /// Forgets everything, when the business day turns (rounds start again).
    fn clear(&mut self) {
        self.headroom.clear();
        self.boarded.clear();
    }
}

/// How long the watcher trusts its copy of the task definitions. They change only through the
/// admin (a task's reward), so after an edit a `task_completed` may name the old reward for this
/// long; the board and the claim always read the definitions afresh.
const DEFINITIONS_FRESH: Duration = Duration::from_secs(5);

/// The watcher's copy of the task definitions, so that a read of a customer's progress is one
/// query (the definitions were read again for every read before).
#[derive(Debug, Default)]
struct Definitions {
    tasks: Vec<TaskRow>,
    read_at: Option<Instant>,
}

impl Definitions {
    /// The tasks measure `m` moves (every measured task without `m`), from a copy at most
    /// [`DEFINITIONS_FRESH`] old.
    async fn of(&mut self, store: &Store, m: Option<TaskMeasure>) -> StoreResult<Vec<TaskRow>> {
        if self.stale(Instant::now()) {
            match store.tasks().await {
                Ok(tasks) => {
                    self.tasks = tasks;
                    self.read_at = Some(Instant::now());
                }
                // An older copy is still right about targets and periods (only rewards change).
                Err(e) if self.read_at.is_some() => {
                    tracing::warn!(error = %e, "could not read the task definitions; using the last copy");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self
            .tasks
            .iter()
            .filter(|t| TaskMeasure::of(&t.task_key).is_some_and(|own| m.is_none_or(|m| m == own)))
            .cloned()
            .collect())
    }

    /// Whether the copy must be read again before it is used at `now`.
    fn stale(&self, now: Instant) -> bool {
        self.read_at.is_none_or(|at| now.duration_since(at) >= DEFINITIONS_FRESH)
    }

    /// Reads the definitions again at the next use (when the business day turns).
    fn expire(&mut self) {
        self.read_at = None;
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
        let mut watch = Watch::default();
        let mut definitions = Definitions::default();
        let mut today = 0;
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                // Missed events only delay notifications; progress itself is in the store. The
                // watch is kept: a customer whose facts were missed is read again once the facts
                // that follow use up their bound. (Forgetting it instead made every customer's
                // next fact a read, so a watcher that fell behind under a burst fell further
                // behind, over and over.)
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
                watch.clear();
                definitions.expire();
            }
            if !watch.moved(user_id, m, &event) {
                continue;
            }
            let whole = watch.first_read(user_id);
            let read = match definitions.of(&store, (!whole).then_some(m)).await {
                Ok(defs) => views(&store, &tz, user_id, at, defs).await,
                Err(e) => Err(e),
            };
            let tasks = match read {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(user_id, error = %e, "could not read task progress");
                    continue;
                }
            };
            if whole {
                watch.read_every(user_id, &tasks);
            } else {
                watch.read(user_id, m, &tasks);
            }
            let seen = told.entry(user_id).or_default();
            for t in tasks {
                if t.status != TaskStatus::Completed {
                    continue;
                }
                if seen.insert((t.task.task_key.clone(), t.round.key.clone())) {
                    hub.to_user(
                        user_id,
                        ServerEvent::TaskCompleted(TaskCompleted {
                            task_id: t.task.id,
                            key: t.task.task_key,
                            name: t.task.name,
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

    fn view(key: &str, target: i64, progress: i64) -> TaskView {
        let task = TaskRow {
            id: 1,
            task_key: key.into(),
            name: key.into(),
            description: String::new(),
            period: "daily".into(),
            target,
            points: 10,
        };
        let round = TaskRound { key: "d".into(), from: 0, until: i64::MAX, resets_at: None };
        TaskView { task, progress, status: task_status(progress, target, false), round }
    }

    fn drew(count: i64) -> Committed {
        Committed::Drew { user_id: 7, count, at: 0 }
    }

    #[test]
    fn the_board_is_read_again_only_when_the_nearest_task_may_be_done() {
        let mut w = Watch::default();
        assert!(w.moved(7, TaskMeasure::Draws, &drew(1)), "nothing known yet: read");
        // first_draw is done (1/1), daily_draw needs two more draws.
        w.read(7, TaskMeasure::Draws, &[view("first_draw", 1, 1), view("daily_draw", 3, 1)]);
        assert!(!w.moved(7, TaskMeasure::Draws, &drew(1)));
        assert!(w.moved(7, TaskMeasure::Draws, &drew(1)), "two draws may have finished daily_draw");
        // Another customer and another measure are read on their own.
        assert!(w.moved(8, TaskMeasure::Draws, &drew(1)));
        assert!(w.moved(7, TaskMeasure::PointsSpent, &Committed::Spent { user_id: 7, points: 100, at: 0 }));
        // A batch larger than the headroom reads at once.
        w.read(7, TaskMeasure::Draws, &[view("daily_draw", 3, 0)]);
        assert!(w.moved(7, TaskMeasure::Draws, &drew(10)));
    }

    #[test]
    fn a_customers_first_read_covers_every_measure() {
        let mut w = Watch::default();
        assert!(w.first_read(7));
        // A draw: its Drew fact reads the whole board …
        assert!(w.moved(7, TaskMeasure::Draws, &drew(1)));
        w.read_every(7, &[view("first_draw", 1, 1), view("daily_draw", 3, 1), view("weekly_spender", 1000, 100)]);
        assert!(!w.first_read(7));
        // … so its Spent fact needs no read of its own, nor do the next eight draws' spending.
        let spent = Committed::Spent { user_id: 7, points: 100, at: 0 };
        for _ in 0..8 {
            assert!(!w.moved(7, TaskMeasure::PointsSpent, &spent));
        }
        assert!(w.moved(7, TaskMeasure::PointsSpent, &spent), "900 more points may have finished the 1000");
        // A new business day reads the whole board again.
        w.clear();
        assert!(w.first_read(7));
    }

    #[test]
    fn a_settled_measure_is_not_read_until_the_watch_is_cleared() {
        let mut w = Watch::default();
        w.read(7, TaskMeasure::Draws, &[view("first_draw", 1, 1), view("daily_draw", 3, 3)]);
        assert!(!w.moved(7, TaskMeasure::Draws, &drew(10)));
        w.clear();
        assert!(w.moved(7, TaskMeasure::Draws, &drew(1)));
    }

    #[test]
    fn the_task_definitions_are_read_again_when_old_or_when_the_day_turns() {
        let mut d = Definitions::default();
        let t0 = Instant::now();
        assert!(d.stale(t0), "never read: read");
        d.read_at = Some(t0);
        assert!(!d.stale(t0 + DEFINITIONS_FRESH / 2));
        assert!(d.stale(t0 + DEFINITIONS_FRESH), "older than DEFINITIONS_FRESH: read again");
        d.expire();
        assert!(d.stale(t0), "a new business day: read again");
    }

    #[test]
    fn a_streak_is_read_on_every_check_in_until_it_is_settled() {
        let mut w = Watch::default();
        let checkin = Committed::CheckedIn { user_id: 7, streak: 2, at: 0 };
        w.read(7, TaskMeasure::CheckinStreak, &[view("checkin_streak_7", 7, 2)]);
        assert!(w.moved(7, TaskMeasure::CheckinStreak, &checkin));
        w.read(7, TaskMeasure::CheckinStreak, &[view("checkin_streak_7", 7, 7)]);
        assert!(!w.moved(7, TaskMeasure::CheckinStreak, &checkin));
    }
}
