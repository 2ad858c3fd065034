//! etcd: the replicated key-value store behind kube-apiserver.
//!
//! - [`mvcc`]: the multi-version store each member applies the log to.
//! - [`api`]: the v3 requests and responses the network carries.
//! - [`disk`]: a member's raft log, hard state and snapshots, kept across kills.
//! - [`lease`]: the lessor: leases, their keys, and leader-side expiry.
//! - [`member`]: one member, a raft-rs node plus the store.
//! - [`linearizability`], [`campaign`]: the checker and the seeded fault campaign.

pub mod api;
pub mod campaign;
pub mod disk;
pub mod lease;
pub mod linearizability;
pub mod member;
pub mod mvcc;
