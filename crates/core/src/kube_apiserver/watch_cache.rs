//! The apiserver's watch cache (the "cacher" of
//! staging/src/k8s.io/apiserver/pkg/storage/cacher): a mirror of everything
//! under `/registry/`, fed by one etcd watch, plus a window of recent events
//! from which client watches start. Admission and RBAC read the mirror, as
//! the real apiserver's informers do.

use crate::etcd::mvcc::{Event, EventKind, KeyValue};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// How many events the window keeps (the cacher's default capacity is 100 per
/// resource, growing with load; one window for all resources here).
pub const WINDOW: usize = 1000;

/// One stored object as the cache holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cached {
    /// The object, with `metadata.resourceVersion` set.
    pub object: Value,
    /// Its etcd mod revision.
    pub mod_revision: i64,
}

/// A change, as client watches see it.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheEvent {
    /// The revision of the change.
    pub revision: i64,
    /// The etcd key.
    pub key: String,
    /// The object after the change (for a delete: the last state, at the
    /// delete's revision).
    pub object: Value,
    /// The object before, if it existed.
    pub prev: Option<Value>,
    /// Whether the change deleted the object.
    pub deleted: bool,
}

/// The mirror and its event window.
#[derive(Debug, Default)]
pub struct WatchCache {
    objects: BTreeMap<String, Cached>,
    events: VecDeque<CacheEvent>,
    /// Every change after this revision is in `events` (oldest - 1).
    window_start: i64,
    /// The revision the mirror is current to.
    revision: i64,
    ready: bool,
}

/// Decodes a stored value and stamps its resourceVersion.
pub fn decode(kv: &KeyValue, revision: i64) -> Option<Value> {
    let mut object: Value = serde_json::from_slice(&kv.value).ok()?;
    if !super::registry::stored_object_ok(&object) {
        return None;
    }
    set_resource_version(&mut object, revision);
    Some(object)
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
    }
}

impl WatchCache {
    /// Whether the initial list has been loaded.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The revision the mirror is current to.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The oldest revision a watch can start after without missing events.
    pub fn window_start(&self) -> i64 {
        self.window_start
    }

    /// Replaces the mirror with a fresh list taken at `revision`.
    pub fn reset(&mut self, kvs: &[KeyValue], revision: i64) {
        self.objects = kvs
            .iter()
            .filter_map(|kv| {
                let object = decode(kv, kv.mod_revision)?;
                Some((String::from_utf8_lossy(&kv.key).into_owned(), Cached { object, mod_revision: kv.mod_revision }))
            })
            .collect();
        self.events.clear();
        self.window_start = revision;
        self.revision = revision;
        self.ready = true;
    }

    /// Marks the mirror stale (its watch broke); it stays readable.
    pub fn set_stale(&mut self) {
        self.ready = false;
    }

    /// Applies etcd watch events; returns the client-visible events.
    pub fn apply(&mut self, events: &[Event]) -> Vec<CacheEvent> {
        let mut out = Vec::new();
        for event in events {
            let revision = event.kv.mod_revision;
            let key = String::from_utf8_lossy(&event.kv.key).into_owned();
            let prev = self.objects.get(&key).map(|c| c.object.clone());
            let cache_event = match event.kind {
                EventKind::Put => {
                    let Some(object) = decode(&event.kv, revision) else {
                        // Not an object (written with etcdctl): nothing valid is
                        // there any more, and watchers see the object go.
                        self.revision = self.revision.max(revision);
                        let Some(mut gone) = self.objects.remove(&key).map(|c| c.object) else { continue };
                        set_resource_version(&mut gone, revision);
                        let e = CacheEvent { revision, key, object: gone, prev, deleted: true };
                        self.events.push_back(e.clone());
                        out.push(e);
                        continue;
                    };
                    self.objects.insert(key.clone(), Cached { object: object.clone(), mod_revision: revision });
                    CacheEvent { revision, key, object, prev, deleted: false }
                }
                EventKind::Delete => {
                    let Some(mut object) = self.objects.remove(&key).map(|c| c.object) else { continue };
                    set_resource_version(&mut object, revision);
                    CacheEvent { revision, key, object, prev, deleted: true }
                }
            };
            self.events.push_back(cache_event.clone());
            out.push(cache_event);
            self.revision = self.revision.max(revision);
        }
        while self.events.len() > WINDOW {
            if let Some(e) = self.events.pop_front() {
                self.window_start = e.revision;
            }
        }
        out
    }

    /// A progress notification: nothing changed up to `revision`.
    pub fn progress(&mut self, revision: i64) {
        self.revision = self.revision.max(revision);
    }

    /// The cached object at `key`.
    pub fn get(&self, key: &str) -> Option<&Cached> {
        self.objects.get(key)
    }

    /// Objects whose keys start with `prefix`, in key order.
    pub fn list<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a String, &'a Cached)> + 'a {
        let prefix = prefix.to_string();
        self.objects.range(prefix.clone()..).take_while(move |(k, _)| k.starts_with(&prefix))
    }

    /// Events after `revision` under `prefix`, or `None` when some are no
    /// longer in the window.
    pub fn since<'a>(&'a self, revision: i64, prefix: &'a str) -> Option<impl Iterator<Item = &'a CacheEvent> + 'a> {
        (revision >= self.window_start)
            .then(|| self.events.iter().filter(move |e| e.revision > revision && e.key.starts_with(prefix)))
    }

    /// How many objects the mirror holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the mirror is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}
