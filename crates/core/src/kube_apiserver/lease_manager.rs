//! The etcd3 store's lease manager
//! (staging/src/k8s.io/apiserver/pkg/storage/etcd3/lease_manager.go): objects
//! written with a TTL — Events, `--event-ttl` — are attached to an etcd lease,
//! and etcd deletes them when it expires.
//!
//! Granting a lease is a raft round, so one lease is shared: a write reuses
//! the previous lease while it outlives the TTL (`valid`) and does not outlive
//! it by more than the reuse window (`sufficient`), and until 1,000 objects
//! were attached to it (`MaxObjectCount`). Otherwise a lease is granted for
//! the TTL plus the reuse window: min(5 % of the TTL, 60 s). With the default
//! hour, every lease lives 61 minutes and takes the Events of its first
//! minute, so an Event is gone between 60 and 61 minutes after its last write.
//!
//! Upstream holds a mutex across the grant; here a write that needs a lease
//! while a grant is in flight waits for that grant and then reuses it.

/// The Event TTL (kube-apiserver `--event-ttl`, default 1h:
/// cmd/kube-apiserver/app/options/options.go `EventTTL`).
pub const EVENT_TTL_SECS: i64 = 3_600;
/// The longest reuse window (`defaultLeaseReuseDurationSeconds`).
pub const REUSE_DURATION_SECS_MAX: i64 = 60;
/// The reuse window as a share of the TTL, in percent (`leaseReuseDurationPercent` 0.05).
pub const REUSE_DURATION_PERCENT: i64 = 5;
/// Writes a lease takes at most (`defaultLeaseMaxObjectCount`).
pub const MAX_OBJECT_COUNT: i64 = 1_000;

/// What a write gets from the lease manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChoice {
    /// Attach to this lease.
    Reuse(i64),
    /// Ask etcd for a lease with this TTL (seconds), then ask again.
    Grant(i64),
    /// A grant is in flight: wait for it, then ask again.
    Wait,
}

/// The lease manager's state.
#[derive(Clone, Debug, Default)]
pub struct LeaseManager {
    prev_lease_id: i64,
    prev_expiration_ms: u64,
    attached: i64,
    /// The grant in flight: when it was asked for and its TTL.
    granting: Option<(u64, i64)>,
    granted: u64,
}

/// The reuse window for `ttl_secs` (`getReuseDurationSecondsLocked`).
pub fn reuse_duration_secs(ttl_secs: i64) -> i64 {
    (ttl_secs.saturating_mul(REUSE_DURATION_PERCENT) / 100).min(REUSE_DURATION_SECS_MAX)
}

fn ms(secs: i64) -> u64 {
    (secs.max(0) as u64).saturating_mul(1000)
}

impl LeaseManager {
    /// The lease for one write with `ttl_secs` at `now_ms` (`GetLease`).
    pub fn get(&mut self, ttl_secs: i64, now_ms: u64) -> LeaseChoice {
        if self.granting.is_some() {
            return LeaseChoice::Wait;
        }
        let reuse = reuse_duration_secs(ttl_secs);
        let valid = now_ms.saturating_add(ms(ttl_secs)) < self.prev_expiration_ms;
        // Upstream compares wall-clock instants with `After`; on a millisecond
        // clock a write in the same millisecond as the grant must reuse it too.
        let sufficient = now_ms.saturating_add(ms(ttl_secs + reuse)) >= self.prev_expiration_ms;
        // Every write counts, whether it succeeds or not.
        self.attached += 1;
        if self.prev_lease_id != 0 && valid && sufficient && self.attached <= MAX_OBJECT_COUNT {
            return LeaseChoice::Reuse(self.prev_lease_id);
        }
        let ttl = ttl_secs + reuse;
        self.granting = Some((now_ms, ttl));
        LeaseChoice::Grant(ttl)
    }

    /// etcd granted lease `id` for the grant in flight.
    pub fn granted(&mut self, id: i64) {
        if let Some((asked_ms, ttl)) = self.granting.take() {
            self.prev_lease_id = id;
            self.prev_expiration_ms = asked_ms.saturating_add(ms(ttl));
            self.attached = 0;
            self.granted += 1;
        }
    }

    /// The grant in flight failed.
    pub fn grant_failed(&mut self) {
        self.granting = None;
    }

    /// Whether a grant is in flight.
    pub fn granting(&self) -> bool {
        self.granting.is_some()
    }

    /// Leases granted so far.
    pub fn leases_granted(&self) -> u64 {
        self.granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_reused_for_a_minute_then_renewed() {
        assert_eq!(reuse_duration_secs(EVENT_TTL_SECS), 60);
        assert_eq!(reuse_duration_secs(100), 5);
        let mut m = LeaseManager::default();
        assert_eq!(m.get(EVENT_TTL_SECS, 1_000), LeaseChoice::Grant(3_660));
        assert_eq!(m.get(EVENT_TTL_SECS, 1_000), LeaseChoice::Wait, "one grant at a time");
        m.granted(7);
        // The grant's own write asks again and attaches as the first.
        assert_eq!(m.get(EVENT_TTL_SECS, 1_005), LeaseChoice::Reuse(7));
        assert_eq!(m.get(EVENT_TTL_SECS, 60_999), LeaseChoice::Reuse(7));
        assert_eq!(m.get(EVENT_TTL_SECS, 61_000), LeaseChoice::Grant(3_660), "60 s on, it would outlive no Event");
        m.granted(8);
        for _ in 0..MAX_OBJECT_COUNT {
            assert_eq!(m.get(EVENT_TTL_SECS, 62_000), LeaseChoice::Reuse(8));
        }
        assert_eq!(m.get(EVENT_TTL_SECS, 62_000), LeaseChoice::Grant(3_660), "full after 1,000 objects");
        m.grant_failed();
        assert!(!m.granting());
        assert_eq!(m.leases_granted(), 2);
    }
}
