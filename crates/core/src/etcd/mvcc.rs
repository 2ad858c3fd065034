//! etcd's multi-version key-value store (server/storage/mvcc in etcd v3.5).
//!
//! Every write transaction gets the next cluster-wide main revision; each key
//! remembers its create revision, last modification revision and version (the
//! number of puts since it was created; a delete resets it). Reads can be served
//! at any revision back to the compaction point. The store is a pure function of
//! the sequence of writes applied to it, which is what lets every member reach
//! the same state from the same log.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// "etcdserver: mvcc: required revision has been compacted" (mvcc.ErrCompacted).
pub const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
/// "etcdserver: mvcc: required revision is a future revision" (mvcc.ErrFutureRev).
pub const ERR_FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";

/// A key's value at one revision, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// Revision of the put that created the key (since its last delete).
    pub create_revision: i64,
    /// Revision of the last put.
    pub mod_revision: i64,
    /// Puts since creation, from 1.
    pub version: i64,
    /// The value.
    pub value: Vec<u8>,
    /// Lease id, 0 for none.
    pub lease: i64,
}

/// What happened to a key at one revision, as etcd's `mvccpb.Event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after the event (for a delete: the key, with `mod_revision` the delete's revision).
    pub kv: KeyValue,
    /// The key-value before the event, if any.
    pub prev_kv: Option<KeyValue>,
}

/// `mvccpb.Event_EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

/// Which keys a request covers, in etcd's `key`/`range_end` form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    /// First key.
    pub key: Vec<u8>,
    /// Empty: just `key`. `[0]`: every key from `key` on. Otherwise: `[key, range_end)`.
    pub range_end: Vec<u8>,
}

impl KeyRange {
    /// Just `key`.
    pub fn single(key: &[u8]) -> Self {
        KeyRange { key: key.to_vec(), range_end: Vec::new() }
    }

    /// Every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
    pub fn prefix(prefix: &[u8]) -> Self {
        let mut end = prefix.to_vec();
        while let Some(last) = end.last_mut() {
            if *last < 0xff {
                *last += 1;
                return KeyRange { key: prefix.to_vec(), range_end: end };
            }
            end.pop();
        }
        // All 0xff (or empty): no upper bound.
        KeyRange { key: prefix.to_vec(), range_end: vec![0] }
    }

    /// Every key from `key` on.
    pub fn from_key(key: &[u8]) -> Self {
        KeyRange { key: key.to_vec(), range_end: vec![0] }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        if self.range_end.is_empty() {
            key == self.key.as_slice()
        } else if self.range_end == [0] {
            key >= self.key.as_slice()
        } else {
            key >= self.key.as_slice() && key < self.range_end.as_slice()
        }
    }
}

/// One stored version of a key: `None` is a tombstone (the key was deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Version {
    revision: i64,
    kv: Option<KeyValue>,
}

/// One key's change at one revision, in the store's change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Change {
    revision: i64,
    key: Vec<u8>,
    kind: EventKind,
}

/// Result of a range read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResult {
    /// The keys found (at most `limit`), in key order.
    pub kvs: Vec<KeyValue>,
    /// How many keys matched in all.
    pub count: i64,
    /// Whether more keys matched than were returned.
    pub more: bool,
}

/// The store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    /// Each key's versions, oldest first.
    keys: BTreeMap<Vec<u8>, Vec<Version>>,
    /// Which keys changed at each revision since the compaction point, and
    /// how. The key-values themselves are read back from `keys` when a
    /// watcher needs them, so history is kept once.
    events: Vec<Change>,
    revision: i64,
    compacted: i64,
}

impl Store {
    /// An empty store at revision 1, like a new etcd cluster.
    pub fn new() -> Self {
        Store { revision: 1, ..Default::default() }
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The compaction revision (0 if never compacted).
    pub fn compacted(&self) -> i64 {
        self.compacted
    }

    /// Number of stored key versions, tombstones included (etcd's snapshot
    /// status counts every key of its backend).
    pub fn version_count(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// Number of live keys (for a rough "db size").
    pub fn key_count(&self) -> usize {
        self.keys.values().filter(|v| v.last().is_some_and(|v| v.kv.is_some())).count()
    }

    fn check_rev(&self, rev: i64) -> Result<i64, &'static str> {
        let rev = if rev <= 0 { self.revision } else { rev };
        if rev > self.revision {
            return Err(ERR_FUTURE_REV);
        }
        if rev < self.compacted {
            return Err(ERR_COMPACTED);
        }
        Ok(rev)
    }

    fn live_at(versions: &[Version], rev: i64) -> Option<&KeyValue> {
        versions.iter().rev().find(|v| v.revision <= rev).and_then(|v| v.kv.as_ref())
    }

    fn keys_in<'a>(&'a self, range: &'a KeyRange) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<Version>)> + 'a {
        let start = std::ops::Bound::Included(range.key.clone());
        let end = if range.range_end.is_empty() {
            std::ops::Bound::Included(range.key.clone())
        } else if range.range_end == [0] {
            std::ops::Bound::Unbounded
        } else if range.range_end <= range.key {
            // An empty range; BTreeMap::range panics on start > end.
            std::ops::Bound::Excluded(range.key.clone())
        } else {
            std::ops::Bound::Excluded(range.range_end.clone())
        };
        self.keys.range((start, end))
    }

    /// Reads `range` at `rev` (0: current). `limit` 0 means no limit.
    pub fn range(&self, range: &KeyRange, rev: i64, limit: i64) -> Result<RangeResult, &'static str> {
        let rev = self.check_rev(rev)?;
        let mut result = RangeResult::default();
        for (_, versions) in self.keys_in(range) {
            if let Some(kv) = Self::live_at(versions, rev) {
                result.count += 1;
                if limit <= 0 || (result.kvs.len() as i64) < limit {
                    result.kvs.push(kv.clone());
                } else {
                    result.more = true;
                }
            }
        }
        Ok(result)
    }

    /// Starts a write transaction: every write in it shares one new revision.
    pub fn write(&mut self) -> WriteTxn<'_> {
        let revision = self.revision + 1;
        WriteTxn { store: self, revision, events: Vec::new() }
    }

    /// Drops history older than `rev`, keeping each key's latest version at `rev`.
    pub fn compact(&mut self, rev: i64) -> Result<(), &'static str> {
        if rev > self.revision {
            return Err(ERR_FUTURE_REV);
        }
        if rev <= self.compacted {
            return Err(ERR_COMPACTED);
        }
        self.compacted = rev;
        self.keys.retain(|_, versions| {
            let keep_from = versions.iter().rposition(|v| v.revision <= rev).unwrap_or(0);
            versions.drain(..keep_from);
            // A key whose newest version at the compaction point is a tombstone, and
            // that has nothing newer, is gone entirely.
            !(versions.len() == 1 && versions[0].kv.is_none() && versions[0].revision <= rev)
        });
        let keep_from = self.events.partition_point(|c| c.revision < rev);
        self.events.drain(..keep_from);
        Ok(())
    }

    /// Events with revision ≥ `from` on keys in `range`, in revision order,
    /// each with the key-value before it.
    pub fn events_since(&self, range: &KeyRange, from: i64) -> Result<Vec<Event>, &'static str> {
        if from > 0 && from < self.compacted {
            return Err(ERR_COMPACTED);
        }
        let mut out = Vec::new();
        let start = self.events.partition_point(|c| c.revision < from.max(1));
        for change in self.events[start..].iter().filter(|c| range.contains(&c.key)) {
            out.push(self.event_at(&change.key, change.revision, change.kind));
        }
        Ok(out)
    }

    fn event_at(&self, key: &[u8], revision: i64, kind: EventKind) -> Event {
        let versions = self.keys.get(key).map(Vec::as_slice).unwrap_or_default();
        let at = versions.iter().position(|v| v.revision == revision);
        let prev_kv = at.and_then(|i| i.checked_sub(1)).and_then(|i| versions[i].kv.clone());
        let kv = match (kind, at.and_then(|i| versions[i].kv.clone())) {
            (EventKind::Put, Some(kv)) => kv,
            _ => KeyValue {
                key: key.to_vec(),
                create_revision: 0,
                mod_revision: revision,
                version: 0,
                value: Vec::new(),
                lease: 0,
            },
        };
        Event { kind, kv, prev_kv }
    }
}

/// A write transaction; [`WriteTxn::commit`] makes its writes visible.
pub struct WriteTxn<'a> {
    store: &'a mut Store,
    revision: i64,
    events: Vec<(Vec<u8>, EventKind)>,
}

impl WriteTxn<'_> {
    /// The revision the writes get.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Reads as of the writes so far in this transaction.
    pub fn get(&self, key: &[u8]) -> Option<&KeyValue> {
        self.store.keys.get(key).and_then(|v| v.last()).and_then(|v| v.kv.as_ref())
    }

    /// Reads `range` as of the writes so far in this transaction.
    pub fn range(&self, range: &KeyRange, limit: i64) -> RangeResult {
        let mut result = RangeResult::default();
        for (_, versions) in self.store.keys_in(range) {
            if let Some(kv) = versions.last().and_then(|v| v.kv.as_ref()) {
                result.count += 1;
                if limit <= 0 || (result.kvs.len() as i64) < limit {
                    result.kvs.push(kv.clone());
                } else {
                    result.more = true;
                }
            }
        }
        result
    }

    /// Puts `value` at `key`; returns the lease the key had (0 for none).
    pub fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> i64 {
        // The previous version is read before this transaction's own earlier
        // write of the key is replaced: after a delete in the same txn, the put
        // starts a new life of the key (version 1), as in etcd.
        let (create_revision, version, old_lease) = match self.get(key) {
            Some(p) => (p.create_revision, p.version + 1, p.lease),
            None => (self.revision, 1, 0),
        };
        self.replace_this_revision(key);
        let revision = self.revision;
        let versions = match self.store.keys.get_mut(key) {
            Some(versions) => versions,
            None => self.store.keys.entry(key.to_vec()).or_default(),
        };
        let kv = KeyValue { key: key.to_vec(), create_revision, mod_revision: revision, version, value, lease };
        versions.push(Version { revision, kv: Some(kv) });
        self.events.push((key.to_vec(), EventKind::Put));
        old_lease
    }

    /// Two writes to one key in one transaction: the later one replaces the earlier.
    fn replace_this_revision(&mut self, key: &[u8]) {
        if let Some(versions) = self.store.keys.get_mut(key) {
            if versions.last().is_some_and(|v| v.revision == self.revision) {
                versions.pop();
                self.events.retain(|(k, _)| k != key);
            }
        }
    }

    /// Deletes every live key in `range`; returns the deleted key-values.
    pub fn delete_range(&mut self, range: &KeyRange) -> Vec<KeyValue> {
        let live: Vec<KeyValue> =
            self.store.keys_in(range).filter_map(|(_, versions)| versions.last().and_then(|v| v.kv.clone())).collect();
        for prev in &live {
            self.replace_this_revision(&prev.key);
            let versions = self.store.keys.get_mut(&prev.key).expect("live key exists");
            versions.push(Version { revision: self.revision, kv: None });
            self.events.push((prev.key.clone(), EventKind::Delete));
        }
        live
    }

    /// Ends the transaction; returns how many keys it changed. A transaction
    /// that wrote nothing does not take a revision (etcd only bumps the
    /// revision for changes).
    pub fn commit(self) -> usize {
        let changed = self.events.len();
        if changed > 0 {
            self.store.revision = self.revision;
            let revision = self.revision;
            self.store.events.extend(self.events.into_iter().map(|(key, kind)| Change { revision, key, kind }));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &mut Store, key: &str, value: &str) -> i64 {
        let mut txn = store.write();
        txn.put(key.as_bytes(), value.as_bytes().to_vec(), 0);
        let rev = txn.revision();
        txn.commit();
        rev
    }

    fn del(store: &mut Store, range: KeyRange) -> usize {
        let mut txn = store.write();
        let n = txn.delete_range(&range).len();
        txn.commit();
        n
    }

    fn values(result: &RangeResult) -> Vec<String> {
        result.kvs.iter().map(|kv| String::from_utf8(kv.value.clone()).unwrap()).collect()
    }

    #[test]
    fn revisions_versions_and_history() {
        let mut s = Store::new();
        assert_eq!(s.revision(), 1);
        assert_eq!(put(&mut s, "foo", "a"), 2);
        assert_eq!(put(&mut s, "foo", "b"), 3);
        let kv = &s.range(&KeyRange::single(b"foo"), 0, 0).unwrap().kvs[0];
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(values(&s.range(&KeyRange::single(b"foo"), 2, 0).unwrap()), ["a"]);
        assert_eq!(del(&mut s, KeyRange::single(b"foo")), 1);
        assert_eq!(s.revision(), 4);
        assert_eq!(s.range(&KeyRange::single(b"foo"), 0, 0).unwrap().count, 0);
        assert_eq!(del(&mut s, KeyRange::single(b"foo")), 0);
        assert_eq!(s.revision(), 4, "a delete of nothing takes no revision");
        put(&mut s, "foo", "c");
        let kv = &s.range(&KeyRange::single(b"foo"), 0, 0).unwrap().kvs[0];
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1), "recreated after delete");
        assert_eq!(s.range(&KeyRange::single(b"foo"), 9, 0).unwrap_err(), ERR_FUTURE_REV);
    }

    #[test]
    fn ranges_prefixes_limits() {
        let mut s = Store::new();
        for k in ["a", "b/1", "b/2", "b/3", "c"] {
            put(&mut s, k, k);
        }
        assert_eq!(values(&s.range(&KeyRange::prefix(b"b/"), 0, 0).unwrap()), ["b/1", "b/2", "b/3"]);
        let limited = s.range(&KeyRange::prefix(b"b/"), 0, 2).unwrap();
        assert_eq!((limited.kvs.len(), limited.count, limited.more), (2, 3, true));
        assert_eq!(values(&s.range(&KeyRange::from_key(b"b/3"), 0, 0).unwrap()), ["b/3", "c"]);
        assert_eq!(s.range(&KeyRange::prefix(b""), 0, 0).unwrap().count, 5);
        assert_eq!(KeyRange::prefix(b"a\xff").range_end, b"b");
        assert_eq!(s.range(&KeyRange { key: b"c".to_vec(), range_end: b"a".to_vec() }, 0, 0).unwrap().count, 0);
        assert_eq!(del(&mut s, KeyRange::prefix(b"b/")), 3);
        assert_eq!(values(&s.range(&KeyRange::prefix(b""), 0, 0).unwrap()), ["a", "c"]);
    }

    #[test]
    fn compaction_keeps_the_latest_and_refuses_older_reads() {
        let mut s = Store::new();
        put(&mut s, "k", "1"); // 2
        put(&mut s, "k", "2"); // 3
        put(&mut s, "gone", "x"); // 4
        del(&mut s, KeyRange::single(b"gone")); // 5
        put(&mut s, "k", "3"); // 6
        s.compact(5).unwrap();
        assert_eq!(s.range(&KeyRange::single(b"k"), 4, 0).unwrap_err(), ERR_COMPACTED);
        assert_eq!(values(&s.range(&KeyRange::single(b"k"), 5, 0).unwrap()), ["2"]);
        assert_eq!(values(&s.range(&KeyRange::single(b"k"), 0, 0).unwrap()), ["3"]);
        assert_eq!(s.compact(5).unwrap_err(), ERR_COMPACTED);
        assert_eq!(s.compact(7).unwrap_err(), ERR_FUTURE_REV);
        assert_eq!(s.events_since(&KeyRange::prefix(b""), 3).unwrap_err(), ERR_COMPACTED);
        let events = s.events_since(&KeyRange::prefix(b""), 5).unwrap();
        assert_eq!(events.iter().map(|e| e.kv.mod_revision).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(s.keys.len(), 1, "the deleted key's history is gone");
    }

    #[test]
    fn events_carry_prev_kv_and_share_the_txn_revision() {
        let mut s = Store::new();
        put(&mut s, "a", "1");
        let mut txn = s.write();
        txn.put(b"a", b"2".to_vec(), 0);
        txn.put(b"b", b"3".to_vec(), 0);
        assert_eq!(txn.commit(), 2);
        let events = s.events_since(&KeyRange::prefix(b""), 3).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.kv.mod_revision == 3));
        assert_eq!(events[0].prev_kv.as_ref().unwrap().value, b"1");
        assert_eq!(events[1].prev_kv, None);
        assert_eq!(s.events_since(&KeyRange::single(b"a"), 0).unwrap().len(), 2);
        let mut txn = s.write();
        txn.delete_range(&KeyRange::single(b"a"));
        txn.put(b"a", b"4".to_vec(), 0);
        txn.commit();
        let last = s.events_since(&KeyRange::single(b"a"), 4).unwrap();
        assert_eq!(last.len(), 1, "the put replaced the delete in the same txn");
        assert_eq!((last[0].kind, last[0].kv.value.as_slice()), (EventKind::Put, &b"4"[..]));
        assert_eq!((last[0].kv.create_revision, last[0].kv.version), (4, 1), "a new life of the key, as in etcd");
    }
}
