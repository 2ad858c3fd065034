//! client-go's rate-limited work queue (util/workqueue), as the Endpoints
//! and EndpointSlice controllers use it: a set of dirty keys, each synced by
//! one worker at a time; a failed sync is retried after a delay doubling
//! from 5 ms to 1000 s (`DefaultTypedControllerRateLimiter`'s per-item
//! exponential back-off; its overall token bucket is not modelled).
//!
//! "One worker at a time" is kept across the asynchronous writes of a sync:
//! while a key's requests are unanswered it is not synced again. A request
//! never answered (a lost message) stops holding its key back after
//! [`IN_FLIGHT_TIMEOUT_MS`].

use std::collections::{BTreeMap, BTreeSet};

/// The first retry after a failed sync.
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay (1000 s).
const RETRY_MAX_MS: u64 = 1_000_000;
/// Requests unanswered for this long are presumed lost (the client's request
/// timeout is 60 s in kube-controller-manager).
pub const IN_FLIGHT_TIMEOUT_MS: u64 = 60_000;

/// The tags of the requests (tag → (request, sent at ms)) sent
/// [`IN_FLIGHT_TIMEOUT_MS`] or more before `now`, in tag order: the ones a
/// loop gives up on as failed.
pub fn expired<R>(requests: &BTreeMap<u64, (R, u64)>, now: u64) -> Vec<u64> {
    requests
        .iter()
        .filter(|(_, (_, sent))| now.saturating_sub(*sent) >= IN_FLIGHT_TIMEOUT_MS)
        .map(|(tag, _)| *tag)
        .collect()
}

/// Dirty keys, delayed retries and the keys whose writes are in flight.
#[derive(Debug, Default)]
pub struct WorkQueue {
    dirty: BTreeSet<String>,
    /// Key → (requests unanswered, when the first was sent).
    in_flight: BTreeMap<String, (u32, u64)>,
    /// Key → when its retry is due.
    delayed: BTreeMap<String, u64>,
    failures: BTreeMap<String, u32>,
}

impl WorkQueue {
    /// Marks `key` for a sync (`Add`).
    pub fn add(&mut self, key: &str) {
        self.dirty.insert(key.to_string());
    }

    /// Retries `key` after its back-off (`AddRateLimited`).
    pub fn add_rate_limited(&mut self, key: &str, now: u64) {
        let n = self.failures.entry(key.to_string()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        let due = now + delay;
        let slot = self.delayed.entry(key.to_string()).or_insert(due);
        *slot = (*slot).min(due);
    }

    /// A sync of `key` succeeded: its back-off starts over (`Forget`).
    pub fn forget(&mut self, key: &str) {
        self.failures.remove(key);
    }

    /// Drops everything about `key`.
    pub fn remove(&mut self, key: &str) {
        self.dirty.remove(key);
        self.delayed.remove(key);
        self.failures.remove(key);
    }

    /// Takes the dirty keys that may be synced now: those without requests
    /// in flight. (A key added while its retry waits is synced at once, as
    /// client-go's `Add` does; the retry still comes.)
    pub fn take_ready(&mut self) -> Vec<String> {
        let ready: Vec<String> = self.dirty.iter().filter(|k| !self.in_flight.contains_key(*k)).cloned().collect();
        for k in &ready {
            self.dirty.remove(k);
        }
        ready
    }

    /// A request for `key` was sent.
    pub fn sent(&mut self, key: &str, now: u64) {
        self.in_flight.entry(key.to_string()).or_insert((0, now)).0 += 1;
    }

    /// A request for `key` was answered.
    pub fn answered(&mut self, key: &str) {
        if let Some((n, _)) = self.in_flight.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(key);
            }
        }
    }

    /// Moves due retries to the dirty set and forgets requests presumed
    /// lost; whether any key became ready.
    pub fn expire(&mut self, now: u64) -> bool {
        let due: Vec<String> = self.delayed.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        let lost: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, (_, since))| now.saturating_sub(*since) >= IN_FLIGHT_TIMEOUT_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.delayed.remove(k);
            self.dirty.insert(k.clone());
        }
        for k in &lost {
            self.in_flight.remove(k);
            self.dirty.insert(k.clone());
        }
        !due.is_empty() || !lost.is_empty()
    }

    /// When the next delayed retry is due.
    pub fn next_due(&self) -> Option<u64> {
        self.delayed.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_expire_a_full_timeout_after_they_were_sent() {
        let requests: BTreeMap<u64, (&str, u64)> =
            [(7, ("old", 1_000)), (3, ("new", 30_000)), (9, ("edge", 5_000))].into_iter().collect();
        assert_eq!(expired(&requests, 60_999), Vec::<u64>::new());
        assert_eq!(expired(&requests, 65_000), [7, 9]);
        assert_eq!(expired(&requests, 90_000), [3, 7, 9]);
        // A clock behind the send time (never, but harmless) expires nothing.
        assert_eq!(expired(&requests, 0), Vec::<u64>::new());
    }

    #[test]
    fn keys_wait_for_their_writes_and_back_off() {
        let mut q = WorkQueue::default();
        q.add("a");
        q.add("b");
        q.sent("b", 0);
        assert_eq!(q.take_ready(), vec!["a".to_string()]);
        q.add("b");
        assert!(q.take_ready().is_empty());
        q.answered("b");
        assert_eq!(q.take_ready(), vec!["b".to_string()]);
        q.add_rate_limited("a", 100);
        q.add_rate_limited("a", 100);
        assert_eq!(q.next_due(), Some(105));
        assert!(q.take_ready().is_empty(), "a retry waits for its time");
        assert!(q.expire(105));
        assert_eq!(q.take_ready(), vec!["a".to_string()]);
        q.add_rate_limited("a", 200);
        assert_eq!(q.next_due(), Some(220), "the third failure waits 20 ms");
        q.forget("a");
        q.sent("c", 0);
        assert!(q.expire(IN_FLIGHT_TIMEOUT_MS));
        assert!(q.take_ready().contains(&"c".to_string()));
    }
}
