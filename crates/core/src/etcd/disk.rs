//! A member's "disk": the raft hard state, the log since the last snapshot,
//! and the snapshot itself (its metadata and the serialized state machine),
//! like etcd's WAL and snap directory. It survives a kill; a restarted member
//! recovers its state machine from the snapshot and replays the log after it.
//!
//! raft-rs's `MemStorage` keeps no snapshot data and builds snapshots at the
//! commit index, which is not what a member has applied; this storage keeps
//! the snapshot the member actually took, so a lagging follower receives a
//! consistent state machine.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct DiskState {
    hard_state: HardState,
    conf_state: ConfState,
    /// The latest snapshot: metadata and the serialized state machine.
    snapshot: Snapshot,
    /// Index of `entries[0]`: the log starts here. It may be below the
    /// snapshot index: etcd keeps some entries before its snapshot so that
    /// slightly lagging followers catch up from the log.
    first: u64,
    /// Term of the entry at `first - 1`.
    prev_term: u64,
    entries: Vec<Entry>,
}

/// Shared handle to one member's disk (raft-rs reads it through `Storage`,
/// the member writes it while handling `Ready`).
#[derive(Clone, Default)]
pub struct Disk(Rc<RefCell<DiskState>>);

impl Disk {
    /// A fresh disk for a member bootstrapped with `conf_state`.
    pub fn bootstrap(conf_state: ConfState) -> Self {
        let disk = Disk::default();
        {
            let mut d = disk.0.borrow_mut();
            d.snapshot.mut_metadata().set_conf_state(conf_state.clone());
            d.conf_state = conf_state;
            d.first = 1;
        }
        disk
    }

    /// A fresh disk for a member of a new cluster, as etcd bootstraps one: the
    /// log starts with one committed AddNode entry per initial member at term
    /// 1, so the first election is for term 2 (etcd server/etcdserver/raft.go
    /// `startNode`).
    pub fn bootstrap_new_cluster(conf_state: ConfState, entries: Vec<Entry>) -> Self {
        let disk = Disk::bootstrap(conf_state);
        {
            let mut d = disk.0.borrow_mut();
            d.hard_state.term = 1;
            d.hard_state.commit = entries.len() as u64;
            d.entries = entries;
        }
        disk
    }

    /// Index of the last snapshot taken or received.
    pub fn last_snapshot_index(&self) -> u64 {
        self.0.borrow().snapshot.get_metadata().index
    }

    /// The latest snapshot (metadata and data).
    pub fn latest_snapshot(&self) -> Snapshot {
        self.0.borrow().snapshot.clone()
    }

    /// Appends entries from the leader, replacing any conflicting suffix.
    pub fn append(&self, entries: &[Entry]) {
        let Some(new_first) = entries.first() else { return };
        let mut d = self.0.borrow_mut();
        assert!(new_first.index >= d.first, "appending below the log start: {} < {}", new_first.index, d.first);
        let keep = (new_first.index - d.first) as usize;
        assert!(keep <= d.entries.len(), "raft logs must be continuous");
        d.entries.truncate(keep);
        d.entries.extend_from_slice(entries);
    }

    /// Persists the hard state.
    pub fn set_hard_state(&self, hs: HardState) {
        self.0.borrow_mut().hard_state = hs;
    }

    /// Persists the commit index.
    pub fn set_commit(&self, commit: u64) {
        self.0.borrow_mut().hard_state.commit = commit;
    }

    /// Persists a membership change.
    pub fn set_conf_state(&self, cs: ConfState) {
        self.0.borrow_mut().conf_state = cs;
    }

    /// Installs a snapshot received from the leader: the log is replaced.
    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        let mut d = self.0.borrow_mut();
        let meta = snapshot.get_metadata().clone();
        d.hard_state.term = d.hard_state.term.max(meta.term);
        d.hard_state.commit = d.hard_state.commit.max(meta.index);
        d.conf_state = meta.get_conf_state().clone();
        d.entries.clear();
        d.first = meta.index + 1;
        d.prev_term = meta.term;
        d.snapshot = snapshot;
    }

    /// Saves a snapshot of the state machine at `index` (applied by the
    /// member) and drops log entries before `compact_to` (at most `index + 1`).
    pub fn snapshot_and_compact(&self, index: u64, data: Vec<u8>, conf_state: ConfState, compact_to: u64) {
        let term = self.term(index).expect("snapshot index is in the log");
        let compact_to = compact_to.min(index + 1);
        let prev_term = self.term(compact_to - 1).ok();
        let mut d = self.0.borrow_mut();
        let mut snapshot = Snapshot::default();
        snapshot.data = data.into();
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(conf_state);
        d.snapshot = snapshot;
        if let (true, Some(prev_term)) = (compact_to > d.first, prev_term) {
            let drop = (compact_to - d.first) as usize;
            d.entries.drain(..drop);
            d.first = compact_to;
            d.prev_term = prev_term;
        }
    }
}

impl Storage for Disk {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let d = self.0.borrow();
        Ok(RaftState { hard_state: d.hard_state.clone(), conf_state: d.conf_state.clone() })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let d = self.0.borrow();
        if low < d.first {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        let end = d.first + d.entries.len() as u64;
        assert!(high <= end, "entries({low}, {high}) past the last index {}", end - 1);
        let mut entries = d.entries[(low - d.first) as usize..(high - d.first) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let d = self.0.borrow();
        let meta = d.snapshot.get_metadata();
        if idx == meta.index {
            return Ok(meta.term);
        }
        if idx + 1 == d.first {
            return Ok(d.prev_term);
        }
        if idx < d.first {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        d.entries.get((idx - d.first) as usize).map(|e| e.term).ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.0.borrow().first)
    }

    fn last_index(&self) -> raft::Result<u64> {
        let d = self.0.borrow();
        Ok((d.first + d.entries.len() as u64 - 1).max(d.snapshot.get_metadata().index))
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let d = self.0.borrow();
        if d.snapshot.get_metadata().index < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(d.snapshot.clone())
    }
}
