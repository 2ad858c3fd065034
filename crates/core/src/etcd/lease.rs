//! etcd's lessor (server/lease in etcd v3.5): leases with a TTL that keys can
//! be attached to; when a lease expires or is revoked, its keys are deleted.
//!
//! The granted leases and their keys are applied state, the same on every
//! member (grants and revokes go through the raft log). Expiry is the
//! leader's business alone: only the leader keeps deadlines, renews them on
//! keep-alive, and proposes a revoke when one passes. A new leader "promotes"
//! its lessor by giving every lease a fresh deadline of TTL plus an extension
//! (etcd extends by the election timeout), so leases survive a leader change.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// etcd's `ErrLeaseNotFound` as clients see it.
pub const ERR_LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
/// etcd's `ErrLeaseExists`.
pub const ERR_LEASE_EXISTS: &str = "etcdserver: lease already exists";
/// Smallest TTL etcd grants; shorter ones are raised to it. etcd derives it in
/// server/etcdserver/server.go as (3 × election ticks / 2) heartbeats, rounded
/// up to whole seconds: 1.5 s → 2 s with the default 100 ms / 10 ticks.
pub const MIN_TTL_SECS: i64 = 2;

/// Longest TTL etcd grants (server/lease `MaxLeaseTTL`, 9,000,000,000 s).
pub const MAX_TTL_SECS: i64 = 9_000_000_000;
/// etcd's ErrLeaseTTLTooLarge as clients see it.
pub const ERR_LEASE_TTL_TOO_LARGE: &str = "etcdserver: too large lease TTL";
/// How long the leader waits before proposing a revoke again when the first
/// proposal did not take effect.
pub const REVOKE_RETRY_MS: u64 = 3_000;

/// Milliseconds in `secs` seconds, saturating.
fn ms(secs: i64) -> u64 {
    (secs.max(0) as u64).saturating_mul(1000)
}

/// One granted lease (applied state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The TTL it was granted with, in seconds.
    pub ttl_secs: i64,
    /// The keys attached to it.
    pub keys: BTreeSet<Vec<u8>>,
}

/// The lessor of one member.
#[derive(Clone, Debug, Default)]
pub struct Lessor {
    /// Applied state: identical on every member at the same applied index.
    leases: BTreeMap<i64, Lease>,
    /// Leader only: when each lease expires (simulated ms).
    deadlines_ms: BTreeMap<i64, u64>,
    /// Leader only: leases whose revoke has been proposed, and when.
    revoking: BTreeMap<i64, u64>,
    primary: bool,
}

impl Lessor {
    /// The applied leases, for checkers and `lease list`.
    pub fn leases(&self) -> &BTreeMap<i64, Lease> {
        &self.leases
    }

    /// Replaces the applied leases (from a snapshot); deadlines are the
    /// leader's and start afresh on promotion.
    pub fn restore(&mut self, leases: BTreeMap<i64, Lease>) {
        self.leases = leases;
        self.deadlines_ms.clear();
        self.revoking.clear();
        self.primary = false;
    }

    /// The lease with `id`, if granted.
    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Applies a grant.
    pub fn grant(&mut self, id: i64, ttl_secs: i64, now_ms: u64) -> Result<i64, &'static str> {
        if self.leases.contains_key(&id) {
            return Err(ERR_LEASE_EXISTS);
        }
        let ttl_secs = ttl_secs.max(MIN_TTL_SECS);
        self.leases.insert(id, Lease { ttl_secs, keys: BTreeSet::new() });
        if self.primary {
            self.deadlines_ms.insert(id, now_ms.saturating_add(ms(ttl_secs)));
        }
        Ok(ttl_secs)
    }

    /// Applies a revoke; returns the keys to delete.
    pub fn revoke(&mut self, id: i64) -> Result<BTreeSet<Vec<u8>>, &'static str> {
        let lease = self.leases.remove(&id).ok_or(ERR_LEASE_NOT_FOUND)?;
        self.deadlines_ms.remove(&id);
        self.revoking.remove(&id);
        Ok(lease.keys)
    }

    /// Attaches `key` to lease `id` (0: none), detaching it from `old` first.
    pub fn attach(&mut self, key: &[u8], old: i64, id: i64) {
        if let Some(lease) = self.leases.get_mut(&old) {
            lease.keys.remove(key);
        }
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.insert(key.to_vec());
        }
    }

    /// Leader: renews lease `id`; returns its TTL, or `None` if it is gone.
    pub fn renew(&mut self, id: i64, now_ms: u64) -> Option<i64> {
        let ttl = self.leases.get(&id)?.ttl_secs;
        self.deadlines_ms.insert(id, now_ms.saturating_add(ms(ttl)));
        Some(ttl)
    }

    /// Leader: seconds left on lease `id` (rounded up), or `None` if it is gone.
    pub fn remaining_secs(&self, id: i64, now_ms: u64) -> Option<i64> {
        self.leases.get(&id)?;
        let deadline = self.deadlines_ms.get(&id).copied().unwrap_or(now_ms);
        Some(deadline.saturating_sub(now_ms).div_ceil(1000) as i64)
    }

    /// This member became leader: every lease gets TTL + `extend_ms` from now.
    pub fn promote(&mut self, now_ms: u64, extend_ms: u64) {
        self.primary = true;
        self.revoking.clear();
        self.deadlines_ms = self
            .leases
            .iter()
            .map(|(id, l)| (*id, now_ms.saturating_add(ms(l.ttl_secs)).saturating_add(extend_ms)))
            .collect();
    }

    /// This member stopped leading: it forgets deadlines.
    pub fn demote(&mut self) {
        self.primary = false;
        self.deadlines_ms.clear();
        self.revoking.clear();
    }

    /// Whether this member's lessor is the primary (the leader's).
    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// Leader: leases past their deadline whose revoke is not proposed yet,
    /// or was proposed more than [`REVOKE_RETRY_MS`] ago without taking effect.
    pub fn expired(&self, now_ms: u64) -> Vec<i64> {
        self.deadlines_ms
            .iter()
            .filter(|(id, deadline)| {
                **deadline <= now_ms && self.revoking.get(id).is_none_or(|at| now_ms >= at + REVOKE_RETRY_MS)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Leader: a revoke of `id` was proposed at `now_ms`.
    pub fn revoke_proposed(&mut self, id: i64, now_ms: u64) {
        self.revoking.insert(id, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_attach_expire_revoke() {
        let mut l = Lessor::default();
        l.promote(0, 0);
        assert_eq!(l.grant(7, 10, 0), Ok(10));
        assert_eq!(l.grant(7, 10, 0), Err(ERR_LEASE_EXISTS));
        assert_eq!(l.grant(8, 1, 0), Ok(MIN_TTL_SECS), "short TTLs are raised");
        l.attach(b"a", 0, 7);
        l.attach(b"b", 0, 7);
        l.attach(b"b", 7, 8);
        assert_eq!(l.remaining_secs(7, 2_500), Some(8));
        assert_eq!(l.expired(2_000), vec![8]);
        l.revoke_proposed(8, 2_000);
        assert!(l.expired(2_000).is_empty(), "a revoke is proposed once...");
        assert_eq!(l.expired(5_000), vec![8], "...and again if it did not take effect");
        l.revoke(8).unwrap();
        assert_eq!(l.renew(7, 9_000), Some(10));
        assert!(l.expired(12_000).is_empty());
        assert_eq!(l.expired(19_000), vec![7]);
        assert_eq!(l.revoke(7).unwrap().into_iter().collect::<Vec<_>>(), vec![b"a".to_vec()]);
        assert_eq!(l.revoke(7), Err(ERR_LEASE_NOT_FOUND));
    }

    #[test]
    fn a_new_leader_extends_every_lease() {
        let mut l = Lessor::default();
        l.grant(1, 5, 0).unwrap();
        assert!(l.expired(100_000).is_empty(), "followers never expire leases");
        l.promote(100_000, 1_000);
        assert_eq!(l.remaining_secs(1, 100_000), Some(6));
        l.demote();
        assert!(l.expired(1_000_000).is_empty());
        l.grant(2, i64::MAX, 0).unwrap();
        l.promote(u64::MAX - 5, 1_000);
        assert_eq!(l.renew(2, u64::MAX - 1), Some(i64::MAX), "no overflow");
    }
}
