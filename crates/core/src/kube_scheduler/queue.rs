//! The scheduling queue (pkg/scheduler/backend/queue/scheduling_queue.go):
//! an active queue ordered by PrioritySort (higher priority first, then
//! the time the pod entered the queue), a backoff queue ordered by when
//! each pod's backoff ends, and a pool of unschedulable pods that a cluster
//! event one of their rejecting plugins registered for moves back.
//!
//! Backoff doubles from the initial backoff per attempt up to the maximum
//! (1 s, 2 s, 4 s, 8 s, 10 s with the defaults). Unschedulable pods left
//! for 5 minutes are moved back anyway (`podMaxInUnschedulablePodsDuration`).

use super::framework::ClusterEvent;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// How long a pod may sit in the unschedulable pool before it is retried anyway.
pub const POD_MAX_IN_UNSCHEDULABLE_PODS_MS: u64 = 5 * 60 * 1000;

/// Where a pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// activeQ.
    Active,
    /// backoffQ.
    Backoff,
    /// unschedulablePods (gated pods too).
    Unschedulable,
    /// Popped, being scheduled.
    InFlight,
}

/// A queued pod (framework.QueuedPodInfo).
#[derive(Clone, Debug)]
pub struct QueuedPod {
    /// Priority.
    pub priority: i64,
    /// When it last entered the queue.
    pub timestamp_ms: u64,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// Plugins that rejected it last time.
    pub rejected_by: Vec<&'static str>,
    /// The events those plugins registered.
    pub wake_on: Vec<ClusterEvent>,
    /// A PreEnqueue plugin keeps it out (scheduling gates).
    pub gated: bool,
    /// Where it is.
    pub place: Where,
    seq: u64,
}

type ActiveKey = (Reverse<i64>, u64, u64);

/// The queue.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    pods: BTreeMap<String, QueuedPod>,
    active: BTreeMap<ActiveKey, String>,
    backoff: BTreeSet<(u64, u64, String)>,
    /// Keys of the pods in the unschedulable pool.
    parked: BTreeSet<String>,
    seq: u64,
}

impl SchedulingQueue {
    /// An empty queue with these backoff bounds.
    pub fn new(initial_backoff_ms: u64, max_backoff_ms: u64) -> Self {
        SchedulingQueue { initial_backoff_ms, max_backoff_ms, ..Default::default() }
    }

    /// How long a pod with `attempts` attempts backs off (`calculateBackoffDuration`).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        if attempts == 0 {
            return 0;
        }
        let mut d = self.initial_backoff_ms;
        for _ in 1..attempts {
            if d > self.max_backoff_ms - d.min(self.max_backoff_ms) {
                return self.max_backoff_ms;
            }
            d += d;
        }
        d.min(self.max_backoff_ms)
    }

    fn backoff_expiry(&self, p: &QueuedPod) -> u64 {
        p.timestamp_ms + self.backoff_ms(p.attempts)
    }

    fn unlink(&mut self, key: &str) -> Option<QueuedPod> {
        let p = self.pods.remove(key)?;
        match p.place {
            Where::Active => {
                self.active.remove(&(Reverse(p.priority), p.timestamp_ms, p.seq));
            }
            Where::Backoff => {
                let expiry = self.backoff_expiry(&p);
                self.backoff.remove(&(expiry, p.seq, key.to_string()));
            }
            Where::Unschedulable => {
                self.parked.remove(key);
            }
            Where::InFlight => {}
        }
        Some(p)
    }

    fn place(&mut self, key: String, mut p: QueuedPod, place: Where) {
        self.seq += 1;
        p.seq = self.seq;
        p.place = place;
        match place {
            Where::Active => {
                self.active.insert((Reverse(p.priority), p.timestamp_ms, p.seq), key.clone());
            }
            Where::Backoff => {
                let expiry = self.backoff_expiry(&p);
                self.backoff.insert((expiry, p.seq, key.clone()));
            }
            Where::Unschedulable => {
                self.parked.insert(key.clone());
            }
            Where::InFlight => {}
        }
        self.pods.insert(key, p);
    }

    /// Whether `key` is queued (anywhere, or in flight).
    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// A queued pod.
    pub fn get(&self, key: &str) -> Option<&QueuedPod> {
        self.pods.get(key)
    }

    /// Adds a new pod: to the active queue, or the unschedulable pool when gated.
    pub fn add(&mut self, key: &str, priority: i64, gated: bool, now_ms: u64) {
        if self.pods.contains_key(key) {
            return;
        }
        let p = QueuedPod {
            priority,
            timestamp_ms: now_ms,
            attempts: 0,
            rejected_by: Vec::new(),
            wake_on: Vec::new(),
            gated,
            place: Where::Active,
            seq: 0,
        };
        self.place(key.to_string(), p, if gated { Where::Unschedulable } else { Where::Active });
    }

    /// The pod changed: its priority, and whether it is still gated. An
    /// ungated pod, or a parked pod whose rejecting plugins care about pod
    /// updates, goes back to be tried again.
    pub fn update(&mut self, key: &str, priority: i64, gated: bool, now_ms: u64) {
        let Some(mut p) = self.unlink(key) else {
            return self.add(key, priority, gated, now_ms);
        };
        let was_gated = p.gated;
        p.priority = priority;
        p.gated = gated;
        let place = match p.place {
            Where::InFlight => Where::InFlight,
            _ if gated => Where::Unschedulable,
            Where::Unschedulable if was_gated || p.wake_on.contains(&ClusterEvent::PodUpdate) => {
                if self.backoff_expiry(&p) > now_ms {
                    Where::Backoff
                } else {
                    Where::Active
                }
            }
            other => other,
        };
        self.place(key.to_string(), p, place);
    }

    /// Forgets a pod (deleted, or bound by someone).
    pub fn delete(&mut self, key: &str) {
        self.unlink(key);
    }

    /// Takes the next pod to schedule, counting the attempt.
    pub fn pop(&mut self) -> Option<String> {
        let (&k, _) = self.active.iter().next()?;
        let key = self.active.remove(&k)?;
        if let Some(p) = self.pods.get_mut(&key) {
            p.attempts += 1;
            p.place = Where::InFlight;
        }
        Some(key)
    }

    /// How many pods wait in each place: (active, backoff, unschedulable).
    pub fn counts(&self) -> (usize, usize, usize) {
        let unschedulable = self.parked.len();
        (self.active.len(), self.backoff.len(), unschedulable)
    }

    /// A pod that just failed: parked until an event its rejecting plugins
    /// registered, or (no rejecting plugin: an error) backed off.
    pub fn add_unschedulable(
        &mut self,
        key: &str,
        rejected_by: Vec<&'static str>,
        wake_on: Vec<ClusterEvent>,
        now_ms: u64,
    ) {
        let Some(mut p) = self.unlink(key) else {
            return;
        };
        p.timestamp_ms = now_ms;
        let place = if rejected_by.is_empty() { Where::Backoff } else { Where::Unschedulable };
        p.rejected_by = rejected_by;
        p.wake_on = wake_on;
        self.place(key.to_string(), p, place);
    }

    /// A pod whose binding failed goes to the backoff queue.
    pub fn add_backoff(&mut self, key: &str, now_ms: u64) {
        if let Some(mut p) = self.unlink(key) {
            p.timestamp_ms = now_ms;
            self.place(key.to_string(), p, Where::Backoff);
        }
    }

    /// A cluster event: parked pods whose rejecting plugins registered it
    /// move to the backoff queue (still backing off) or the active queue.
    /// Returns how many moved.
    pub fn on_event(&mut self, event: ClusterEvent, now_ms: u64) -> usize {
        let keys: Vec<String> = self
            .parked
            .iter()
            .filter(|k| self.pods.get(*k).is_some_and(|p| !p.gated && p.wake_on.contains(&event)))
            .cloned()
            .collect();
        for key in &keys {
            self.requeue(key, now_ms);
        }
        keys.len()
    }

    fn requeue(&mut self, key: &str, now_ms: u64) {
        if let Some(p) = self.unlink(key) {
            let place = if self.backoff_expiry(&p) > now_ms { Where::Backoff } else { Where::Active };
            self.place(key.to_string(), p, place);
        }
    }

    /// Moves pods whose backoff has ended to the active queue
    /// (`flushBackoffQCompleted`, every second) and pods parked for 5
    /// minutes back (`flushUnschedulablePodsLeftover`, every 30 s).
    pub fn flush(&mut self, now_ms: u64) {
        while let Some((expiry, seq, key)) = self.backoff.iter().next().cloned() {
            if expiry > now_ms {
                break;
            }
            self.backoff.remove(&(expiry, seq, key.clone()));
            if let Some(p) = self.pods.remove(&key) {
                self.place(key, p, Where::Active);
            }
        }
        let stale: Vec<String> = self
            .parked
            .iter()
            .filter_map(|k| self.pods.get(k).map(|p| (k, p)))
            .filter(|(_, p)| {
                p.place == Where::Unschedulable
                    && !p.gated
                    && now_ms - p.timestamp_ms.min(now_ms) > POD_MAX_IN_UNSCHEDULABLE_PODS_MS
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.requeue(&key, now_ms);
        }
    }

    /// When the earliest backoff ends.
    pub fn next_backoff_expiry(&self) -> Option<u64> {
        self.backoff.iter().next().map(|(e, _, _)| *e)
    }

    /// Whether any pod waits in the active queue.
    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_arrival_order() {
        let mut q = SchedulingQueue::new(1000, 10_000);
        q.add("a", 0, false, 0);
        q.add("b", 100, false, 1);
        q.add("c", 0, false, 2);
        q.add("gated", 1000, true, 3);
        assert_eq!(q.pop().as_deref(), Some("b"));
        assert_eq!(q.pop().as_deref(), Some("a"));
        assert_eq!(q.pop().as_deref(), Some("c"));
        assert_eq!(q.pop(), None);
        q.update("gated", 1000, false, 4);
        assert_eq!(q.pop().as_deref(), Some("gated"));
    }

    #[test]
    fn backoff_doubles_to_the_maximum() {
        let q = SchedulingQueue::new(1000, 10_000);
        let got: Vec<u64> = (0..7).map(|a| q.backoff_ms(a)).collect();
        assert_eq!(got, [0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn parked_pods_move_on_their_events_only_after_backoff() {
        let mut q = SchedulingQueue::new(1000, 10_000);
        q.add("p", 0, false, 0);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.add_unschedulable("p", vec!["NodeResourcesFit"], vec![ClusterEvent::NodeAdd], 100);
        assert_eq!(q.on_event(ClusterEvent::NodeLabel, 200), 0);
        assert_eq!(q.get("p").unwrap().place, Where::Unschedulable);
        // Still inside its 1 s backoff: to the backoff queue, then active once it ends.
        assert_eq!(q.on_event(ClusterEvent::NodeAdd, 500), 1);
        assert_eq!(q.get("p").unwrap().place, Where::Backoff);
        assert_eq!(q.next_backoff_expiry(), Some(1100));
        q.flush(1099);
        assert!(!q.has_active());
        q.flush(1100);
        assert_eq!(q.pop().as_deref(), Some("p"));
        // Parked for over 5 minutes: retried anyway.
        q.add_unschedulable("p", vec!["NodeResourcesFit"], vec![ClusterEvent::NodeAdd], 2000);
        q.flush(2000 + POD_MAX_IN_UNSCHEDULABLE_PODS_MS);
        assert!(!q.has_active());
        q.flush(2001 + POD_MAX_IN_UNSCHEDULABLE_PODS_MS);
        assert!(q.has_active());
    }
}
