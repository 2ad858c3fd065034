//! The garbage collector (pkg/controller/garbagecollector, v1.32).
//!
//! The graph builder (graph_builder.go) keeps a node per observed object,
//! keyed by uid, with the object's ownerReferences; an owner referenced but
//! not observed is a *virtual* node. Changes put nodes on two queues:
//! - `attemptToDelete`: a dependent whose owner went away, an owner whose
//!   dependents are being deleted in the foreground, a virtual owner to
//!   look up;
//! - `attemptToOrphan`: an owner deleted with the `orphan` finalizer.
//!
//! `attemptToDeleteItem` (garbagecollector.go) reads the item again with a
//! live GET rather than trusting the cache, then reads each owner live
//! (`isDangling`, remembering owners found absent in `absentOwnerCache`)
//! and classifies the references as solid, dangling, or waiting for their
//! dependents' deletion. With a solid owner left, the dangling and waiting
//! references are removed by a strategic merge patch
//! (`GenerateDeleteOwnerRefStrategicMergeBytes`); otherwise the item is
//! deleted with a UID precondition: in the foreground when an owner waits
//! for it and it has dependents of its own, else with the policy its own
//! finalizers ask for (background by default).
//!
//! An owner marked for deletion with `foregroundDeletion` is done once no
//! dependent blocks it (`blockOwnerDeletion: true`); then the finalizer is
//! removed with a JSON merge patch carrying the resourceVersion
//! (`removeFinalizer`), and the apiserver deletes the owner. An owner with
//! `orphan` has every dependent's reference to it removed, then the
//! finalizer (`orphanDependents`).
//!
//! Not modelled: the resync of monitors when resources appear (kscope's
//! resources are fixed), the cycle detection's unblocking patch falls back
//! to a strategic merge patch only, and owners of kinds kscope does not
//! serve are never looked up (the real collector retries their REST mapping).

use super::workqueue::expired;
use super::Outbox;
use crate::apimachinery::resources::{self, Resource};
use crate::kube_apiserver::registry::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::reflector::Change;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Tags of the collector's requests start here (the kube-controller-manager
/// routes answers by tag).
pub const TAG_BASE: u64 = 1 << 60;
/// Owners remembered as absent (`absentOwnerCache`: `NewReferenceCache(500)`).
pub const ABSENT_OWNER_CACHE_MAX: usize = 500;
/// The first retry after a failure (the workqueue's rate limiter starts at 5 ms).
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay (1000 s).
const RETRY_MAX_MS: u64 = 1_000_000;

/// One ownerReference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    /// `apiVersion` of the owner.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Whether the reference blocks the owner's foreground deletion.
    pub block_owner_deletion: bool,
}

/// Who an object is: its coordinates and uid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `apiVersion`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace ("" for cluster scope).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

impl Identity {
    /// The REST path of the object, if kscope serves its kind.
    fn path(&self) -> Option<String> {
        let r = resources::by_kind(&self.api_version, &self.kind)?;
        Some(r.object_path(r.namespaced.then_some(self.namespace.as_str()), &self.name))
    }
}

/// A node of the dependency graph.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// The object.
    pub identity: Identity,
    /// Its ownerReferences.
    pub owners: Vec<OwnerRef>,
    /// Seen by an informer (false: a virtual node, known only as an owner).
    pub observed: bool,
    /// It has a deletionTimestamp.
    pub being_deleted: bool,
    /// Being deleted with the `foregroundDeletion` finalizer.
    pub deleting_dependents: bool,
    /// Being deleted with the `orphan` finalizer.
    pub orphaning: bool,
}

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn has_finalizer(o: &Value, finalizer: &str) -> bool {
    o.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| f.iter().any(|x| x == finalizer))
}

fn being_deleted(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// The ownerReferences of an object (references without a uid are skipped).
pub fn owner_refs(o: &Value) -> Vec<OwnerRef> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let s = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
            let uid = s("uid");
            (!uid.is_empty()).then(|| OwnerRef {
                api_version: s("apiVersion"),
                kind: s("kind"),
                name: s("name"),
                uid,
                block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect()
}

impl Node {
    /// The node of an object of resource `r` (list items carry no kind);
    /// `None` for an object without a uid.
    pub fn of(r: &Resource, o: &Value) -> Option<Node> {
        let uid = str_at(o, "/metadata/uid");
        if uid.is_empty() {
            return None;
        }
        let deleting = being_deleted(o);
        Some(Node {
            identity: Identity {
                api_version: r.api_version(),
                kind: r.kind.to_string(),
                namespace: str_at(o, "/metadata/namespace").to_string(),
                name: str_at(o, "/metadata/name").to_string(),
                uid: uid.to_string(),
            },
            owners: owner_refs(o),
            observed: true,
            being_deleted: deleting,
            deleting_dependents: deleting && has_finalizer(o, FINALIZER_FOREGROUND),
            orphaning: deleting && has_finalizer(o, FINALIZER_ORPHAN),
        })
    }

    fn virtual_owner(owner: &OwnerRef, dependent_namespace: &str) -> Node {
        let namespaced = resources::by_kind(&owner.api_version, &owner.kind).is_none_or(|r| r.namespaced);
        Node {
            identity: Identity {
                api_version: owner.api_version.clone(),
                kind: owner.kind.clone(),
                namespace: if namespaced { dependent_namespace.to_string() } else { String::new() },
                name: owner.name.clone(),
                uid: owner.uid.clone(),
            },
            ..Node::default()
        }
    }
}

/// What a reference's owner turned out to be (`classifyReferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The owner exists.
    Solid,
    /// The owner is gone (not found, or another object under its name).
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
}

/// What to do with an item once its owners are classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Leave it.
    Keep,
    /// Remove the references to these owners.
    RemoveRefs(Vec<String>),
    /// Delete it with this propagation policy; first make the references to
    /// these owners non-blocking (the cycle breaker).
    Delete {
        /// `Background`, `Foreground` or `Orphan`.
        policy: &'static str,
        /// Owners whose references to unblock first.
        unblock: Vec<String>,
    },
}

/// The heart of `attemptToDeleteItem`: given the live item, the verdict on
/// each of its owners (in reference order), whether it has dependents, and
/// whether one of them is itself deleting its dependents.
pub fn decide(
    latest: &Value,
    owners: &[OwnerRef],
    verdicts: &[Verdict],
    has_dependents: bool,
    dependent_deleting_dependents: bool,
) -> Decision {
    let with = |v: Verdict| -> Vec<String> {
        owners.iter().zip(verdicts).filter(|(_, x)| **x == v).map(|(o, _)| o.uid.clone()).collect()
    };
    let (solid, dangling, waiting) = (with(Verdict::Solid), with(Verdict::Dangling), with(Verdict::Waiting));
    if !solid.is_empty() {
        if dangling.is_empty() && waiting.is_empty() {
            return Decision::Keep;
        }
        return Decision::RemoveRefs(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        let unblock = if dependent_deleting_dependents { waiting } else { Vec::new() };
        return Decision::Delete { policy: "Foreground", unblock };
    }
    let policy = if has_finalizer(latest, FINALIZER_ORPHAN) {
        "Orphan"
    } else if has_finalizer(latest, FINALIZER_FOREGROUND) {
        "Foreground"
    } else {
        "Background"
    };
    Decision::Delete { policy, unblock: Vec::new() }
}

#[derive(Clone, Debug)]
enum Request {
    /// The live item of an attempt to delete.
    Item { uid: String },
    /// A virtual owner looked up.
    Virtual { uid: String },
    /// Owner `index` of the item `uid`.
    Owner { uid: String, index: usize },
    /// A write for the item (patch or delete) of the delete queue.
    Write { uid: String },
    /// The live owner whose finalizer is to be removed.
    Finalizer { uid: String, finalizer: &'static str },
    /// The finalizer removal itself.
    FinalizerWrite { uid: String, queue: Queue },
    /// A dependent's reference to an orphaning owner removed.
    Orphan { uid: String },
    /// References made non-blocking before a foreground delete (the answer
    /// changes nothing: the delete follows either way).
    Unblock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Queue {
    Delete,
    Orphan,
}

/// An attempt to delete waiting for its owners' verdicts.
#[derive(Clone, Debug)]
struct Attempt {
    latest: Value,
    owners: Vec<OwnerRef>,
    verdicts: Vec<Option<Verdict>>,
    failed: bool,
}

/// The collector's state.
#[derive(Debug, Default)]
pub struct GarbageCollector {
    nodes: BTreeMap<String, Node>,
    attempt_to_delete: BTreeSet<String>,
    attempt_to_orphan: BTreeSet<String>,
    /// Work in progress, by queue and uid (a uid is processed once at a time).
    busy: BTreeSet<(Queue, String)>,
    attempts: BTreeMap<String, Attempt>,
    /// Orphaning owners: dependents' patches still unanswered, and whether one failed.
    orphaning: BTreeMap<String, (usize, bool)>,
    /// Owners found absent, with when (for evicting the oldest).
    absent: BTreeMap<String, u64>,
    absent_seq: u64,
    delayed: BTreeMap<(Queue, String), u64>,
    failures: BTreeMap<(Queue, String), u32>,
    /// Requests in flight by tag, with when they were sent.
    requests: BTreeMap<u64, (Request, u64)>,
    next_tag: u64,
    deleted: u64,
    /// The time of the last call that could send (for [`Self::tag`]).
    now_ms: u64,
}

impl GarbageCollector {
    /// Whether `tag` is one of the collector's requests.
    pub fn owns(tag: u64) -> bool {
        (TAG_BASE..TAG_BASE << 1).contains(&tag)
    }

    /// The graph's nodes by uid.
    pub fn nodes(&self) -> &BTreeMap<String, Node> {
        &self.nodes
    }

    /// Objects the collector has deleted.
    pub fn deleted(&self) -> u64 {
        self.deleted
    }

    /// The uids waiting in `attemptToDelete`.
    pub fn attempt_to_delete(&self) -> &BTreeSet<String> {
        &self.attempt_to_delete
    }

    /// The uids waiting in `attemptToOrphan`.
    pub fn attempt_to_orphan(&self) -> &BTreeSet<String> {
        &self.attempt_to_orphan
    }

    fn tag(&mut self, request: Request) -> u64 {
        if self.next_tag < TAG_BASE {
            self.next_tag = TAG_BASE;
        }
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (request, self.now_ms));
        self.next_tag
    }

    /// The dependents of `uid`: nodes with a reference to it.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.nodes.values().filter(|n| n.owners.iter().any(|o| o.uid == uid)).collect()
    }

    /// The dependents whose reference to `uid` blocks its deletion.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        self.nodes.values().filter(|n| n.owners.iter().any(|o| o.uid == uid && o.block_owner_deletion)).collect()
    }

    fn remember_absent(&mut self, uid: &str) {
        self.absent_seq += 1;
        self.absent.insert(uid.to_string(), self.absent_seq);
        if self.absent.len() > ABSENT_OWNER_CACHE_MAX {
            if let Some(oldest) = self.absent.iter().min_by_key(|(_, s)| **s).map(|(k, _)| k.clone()) {
                self.absent.remove(&oldest);
            }
        }
    }

    /// An informer of resource `r` saw a change (`processGraphChanges`).
    pub fn on_change(&mut self, r: &Resource, change: &Change) {
        match change {
            Change::Added(o) | Change::Modified(_, o) => {
                if let Some(node) = Node::of(r, o) {
                    self.observe(node);
                }
            }
            Change::Deleted(o) => {
                let uid = str_at(o, "/metadata/uid").to_string();
                self.remove(&uid);
            }
        }
    }

    fn observe(&mut self, new: Node) {
        let uid = new.identity.uid.clone();
        let old = self.nodes.get(&uid).filter(|n| n.observed).cloned();
        // Owners not seen yet become virtual nodes, looked up live.
        for owner in &new.owners {
            let added = old.as_ref().is_none_or(|o| !o.owners.iter().any(|x| x.uid == owner.uid));
            if added && !self.nodes.contains_key(&owner.uid) {
                self.nodes.insert(owner.uid.clone(), Node::virtual_owner(owner, &new.identity.namespace));
                self.attempt_to_delete.insert(owner.uid.clone());
            }
        }
        if let Some(old) = &old {
            // A reference that stopped blocking lets an owner waiting on it go on
            // (`addUnblockedOwnersToDeleteQueue`).
            for o in old.owners.iter().filter(|o| o.block_owner_deletion) {
                let still = new.owners.iter().any(|n| n.uid == o.uid && n.block_owner_deletion);
                if !still && self.nodes.get(&o.uid).is_some_and(|n| n.deleting_dependents) {
                    self.attempt_to_delete.insert(o.uid.clone());
                }
            }
        }
        // processTransitions.
        let was = |f: fn(&Node) -> bool| old.as_ref().is_some_and(f);
        if new.orphaning && !was(|n| n.orphaning) {
            self.attempt_to_orphan.insert(uid.clone());
        }
        let starts_deleting_dependents = new.deleting_dependents && !was(|n| n.deleting_dependents);
        self.nodes.insert(uid.clone(), new);
        if starts_deleting_dependents {
            let dependents: Vec<String> = self.dependents(&uid).iter().map(|d| d.identity.uid.clone()).collect();
            self.attempt_to_delete.extend(dependents);
            self.attempt_to_delete.insert(uid);
        }
    }

    /// An object is gone: its dependents are looked at, and owners waiting
    /// for it may finish.
    fn remove(&mut self, uid: &str) {
        let Some(node) = self.nodes.remove(uid) else { return };
        let dependents: Vec<String> = self.dependents(uid).iter().map(|d| d.identity.uid.clone()).collect();
        if !dependents.is_empty() {
            self.remember_absent(uid);
        }
        self.attempt_to_delete.extend(dependents);
        for owner in &node.owners {
            if self.nodes.get(&owner.uid).is_some_and(|n| n.deleting_dependents) {
                self.attempt_to_delete.insert(owner.uid.clone());
            }
        }
    }

    /// Retries whose delay is over go back on their queue; whether any did.
    /// Lookups and writes unanswered for [`IN_FLIGHT_TIMEOUT_MS`](super::workqueue::IN_FLIGHT_TIMEOUT_MS) (lost to
    /// a partition or a restarted apiserver) fail as a timed-out request
    /// does, and are retried: without an answer the item would stay busy,
    /// and never be collected.
    pub fn expire(&mut self, now: u64) -> bool {
        self.now_ms = now;
        let lost = expired(&self.requests, now);
        let timeout = ApiResponse { request_id: 0, code: 504, body: None, seq: 0 };
        let mut out = Outbox { requests: Vec::new(), next_id: 0 };
        for tag in lost {
            self.on_response(tag, &timeout, now, &mut out);
        }
        debug_assert!(out.requests.is_empty(), "a failed answer sends nothing");
        let due: Vec<(Queue, String)> =
            self.delayed.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for key in &due {
            self.delayed.remove(key);
            match key.0 {
                Queue::Delete => self.attempt_to_delete.insert(key.1.clone()),
                Queue::Orphan => self.attempt_to_orphan.insert(key.1.clone()),
            };
        }
        !due.is_empty()
    }

    /// When the next retry is due.
    pub fn next_due(&self) -> Option<u64> {
        self.delayed.values().min().copied()
    }

    fn retry_later(&mut self, queue: Queue, uid: &str, now: u64) {
        let key = (queue, uid.to_string());
        self.busy.remove(&key);
        let n = self.failures.entry(key.clone()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        self.delayed.insert(key, now + delay);
    }

    fn done(&mut self, queue: Queue, uid: &str) {
        let key = (queue, uid.to_string());
        self.busy.remove(&key);
        self.failures.remove(&key);
        if queue == Queue::Delete {
            self.attempts.remove(uid);
        }
    }

    /// Works through both queues (items already being processed wait).
    pub fn sync(&mut self, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        for uid in std::mem::take(&mut self.attempt_to_delete) {
            let key = (Queue::Delete, uid.clone());
            if self.busy.contains(&key) || self.delayed.contains_key(&key) {
                self.attempt_to_delete.insert(uid);
                continue;
            }
            self.start_attempt_to_delete(&uid, out);
        }
        for uid in std::mem::take(&mut self.attempt_to_orphan) {
            let key = (Queue::Orphan, uid.clone());
            if self.busy.contains(&key) || self.delayed.contains_key(&key) {
                self.attempt_to_orphan.insert(uid);
                continue;
            }
            self.start_orphan(&uid, out);
        }
    }

    fn get(&mut self, path: String, request: Request, out: &mut Outbox) {
        let tag = self.tag(request);
        out.send(ApiRequest::new(0, Method::Get, path), tag);
    }

    fn start_attempt_to_delete(&mut self, uid: &str, out: &mut Outbox) {
        let Some(node) = self.nodes.get(uid) else { return };
        let Some(path) = node.identity.path() else { return };
        if !node.observed {
            self.busy.insert((Queue::Delete, uid.to_string()));
            return self.get(path, Request::Virtual { uid: uid.to_string() }, out);
        }
        // "Being deleted" is a one-way trip: wait for the deletion itself.
        if node.being_deleted && !node.deleting_dependents {
            return;
        }
        // Nothing the live object could change (the real worker GETs it anyway).
        if node.owners.is_empty() && !node.deleting_dependents {
            return;
        }
        self.busy.insert((Queue::Delete, uid.to_string()));
        self.get(path, Request::Item { uid: uid.to_string() }, out);
    }

    /// The object is gone (or another one has its name): a virtual delete
    /// event (`enqueueVirtualDeleteEvent`).
    fn virtual_delete(&mut self, uid: &str) {
        self.done(Queue::Delete, uid);
        self.remove(uid);
    }

    /// An answer to one of the collector's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        let body = response.body.as_ref();
        let found = |uid: &str| response.code == 200 && body.is_some_and(|b| str_at(b, "/metadata/uid") == uid);
        match request {
            Request::Virtual { uid } => {
                if found(&uid) {
                    self.done(Queue::Delete, &uid);
                } else if response.code == 404 || response.code == 200 {
                    self.remember_absent(&uid);
                    self.virtual_delete(&uid);
                } else {
                    self.retry_later(Queue::Delete, &uid, now);
                }
            }
            Request::Item { uid } => {
                if response.code >= 300 && response.code != 404 {
                    return self.retry_later(Queue::Delete, &uid, now);
                }
                let Some(latest) = body.filter(|_| found(&uid)).cloned() else {
                    return self.virtual_delete(&uid);
                };
                self.on_item(&uid, latest, now, out);
            }
            Request::Owner { uid, index } => {
                let Some(attempt) = self.attempts.get(&uid) else { return };
                let Some(owner) = attempt.owners.get(index).cloned() else { return };
                let verdict = match response.code {
                    404 => Some(Verdict::Dangling),
                    200 if body.is_some_and(|b| str_at(b, "/metadata/uid") != owner.uid) => Some(Verdict::Dangling),
                    200 => {
                        let b = body.cloned().unwrap_or_default();
                        Some(if being_deleted(&b) && has_finalizer(&b, FINALIZER_FOREGROUND) {
                            Verdict::Waiting
                        } else {
                            Verdict::Solid
                        })
                    }
                    _ => None,
                };
                if verdict == Some(Verdict::Dangling) {
                    self.remember_absent(&owner.uid);
                }
                if let Some(attempt) = self.attempts.get_mut(&uid) {
                    attempt.verdicts[index] = verdict;
                    attempt.failed |= verdict.is_none();
                }
                self.maybe_decide(&uid, now, out);
            }
            Request::Write { uid } => {
                if response.code < 300 || response.code == 404 {
                    if response.code < 300
                        && response
                            .body
                            .as_ref()
                            .is_some_and(|b| b.get("kind") == Some(&json!("Status")) || being_deleted(b))
                    {
                        self.deleted += 1;
                    }
                    self.done(Queue::Delete, &uid);
                } else {
                    self.retry_later(Queue::Delete, &uid, now);
                }
            }
            Request::Finalizer { uid, finalizer } => {
                let queue = if finalizer == FINALIZER_ORPHAN { Queue::Orphan } else { Queue::Delete };
                if response.code == 404 {
                    return self.done(queue, &uid);
                }
                let Some(owner) = body.filter(|_| response.code == 200) else {
                    return self.retry_later(queue, &uid, now);
                };
                if !has_finalizer(owner, finalizer) {
                    return self.done(queue, &uid);
                }
                let rest: Vec<Value> = owner
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|f| *f != finalizer)
                    .cloned()
                    .collect();
                let rest = if rest.is_empty() { Value::Null } else { Value::Array(rest) };
                let patch = json!({"metadata": {"resourceVersion": str_at(owner, "/metadata/resourceVersion"), "finalizers": rest}});
                let Some(path) = self.nodes.get(&uid).and_then(|n| n.identity.path()) else {
                    return self.done(queue, &uid);
                };
                let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
                request.content_type = Some("application/merge-patch+json".into());
                let tag = self.tag(Request::FinalizerWrite { uid, queue });
                out.send(request, tag);
            }
            Request::FinalizerWrite { uid, queue } => {
                if response.code < 300 || response.code == 404 {
                    self.done(queue, &uid);
                } else {
                    // A conflict reads the owner again (`retry.RetryOnConflict`).
                    self.retry_later(queue, &uid, now);
                }
            }
            Request::Unblock => {}
            Request::Orphan { uid } => {
                let failed = response.code >= 300 && response.code != 404;
                let Some((left, any_failed)) = self.orphaning.get_mut(&uid) else { return };
                *left = left.saturating_sub(1);
                *any_failed |= failed;
                if *left > 0 {
                    return;
                }
                let any_failed = *any_failed;
                self.orphaning.remove(&uid);
                if any_failed {
                    self.retry_later(Queue::Orphan, &uid, now);
                } else {
                    self.remove_finalizer(&uid, FINALIZER_ORPHAN, out);
                }
            }
        }
    }

    /// The live item of an attempt to delete is in.
    fn on_item(&mut self, uid: &str, latest: Value, now: u64, out: &mut Outbox) {
        if self.nodes.get(uid).is_some_and(|n| n.deleting_dependents) {
            return self.process_deleting_dependents(uid, out);
        }
        let owners = owner_refs(&latest);
        if owners.is_empty() {
            return self.done(Queue::Delete, uid);
        }
        let namespace = str_at(&latest, "/metadata/namespace").to_string();
        let mut verdicts = vec![None; owners.len()];
        let mut lookups = Vec::new();
        for (i, owner) in owners.iter().enumerate() {
            if self.absent.contains_key(&owner.uid) {
                verdicts[i] = Some(Verdict::Dangling);
                continue;
            }
            let r = resources::by_kind(&owner.api_version, &owner.kind);
            match r {
                // A namespaced owner of a cluster-scoped object is invalid; an
                // unknown kind cannot be looked up: neither is acted on.
                Some(r) if !(r.namespaced && namespace.is_empty()) => {
                    let path = r.object_path(r.namespaced.then_some(namespace.as_str()), &owner.name);
                    lookups.push((i, path));
                }
                _ => return self.done(Queue::Delete, uid),
            }
        }
        self.attempts.insert(uid.to_string(), Attempt { latest, owners, verdicts, failed: false });
        for (index, path) in lookups {
            self.get(path, Request::Owner { uid: uid.to_string(), index }, out);
        }
        self.maybe_decide(uid, now, out);
    }

    fn maybe_decide(&mut self, uid: &str, now: u64, out: &mut Outbox) {
        let Some(attempt) = self.attempts.get(uid) else { return };
        if attempt.verdicts.iter().any(Option::is_none) && !attempt.failed {
            return;
        }
        if attempt.failed {
            // Wait for the other answers before retrying.
            if self.requests.values().any(|(r, _)| matches!(r, Request::Owner { uid: u, .. } if u == uid)) {
                return;
            }
            self.attempts.remove(uid);
            return self.retry_later(Queue::Delete, uid, now);
        }
        let Some(attempt) = self.attempts.remove(uid) else { return };
        let verdicts: Vec<Verdict> = attempt.verdicts.iter().flatten().copied().collect();
        let dependents = self.dependents(uid);
        let has_dependents = !dependents.is_empty();
        let cycle = dependents.iter().any(|d| d.deleting_dependents);
        let Some(path) = self.nodes.get(uid).and_then(|n| n.identity.path()) else {
            return self.done(Queue::Delete, uid);
        };
        match decide(&attempt.latest, &attempt.owners, &verdicts, has_dependents, cycle) {
            Decision::Keep => self.done(Queue::Delete, uid),
            Decision::RemoveRefs(owners) => {
                let refs: Vec<Value> = owners.iter().map(|o| json!({"$patch": "delete", "uid": o})).collect();
                let patch = json!({"metadata": {"ownerReferences": refs, "uid": uid}});
                let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
                request.content_type = Some("application/strategic-merge-patch+json".into());
                let tag = self.tag(Request::Write { uid: uid.to_string() });
                out.send(request, tag);
            }
            Decision::Delete { policy, unblock } => {
                if !unblock.is_empty() {
                    let refs: Vec<Value> = attempt
                        .owners
                        .iter()
                        .filter(|o| unblock.contains(&o.uid))
                        .map(|o| {
                            json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid,
                                "blockOwnerDeletion": false})
                        })
                        .collect();
                    let patch = json!({"metadata": {"ownerReferences": refs, "uid": uid}});
                    let mut request = ApiRequest::new(0, Method::Patch, path.clone()).with_body(patch);
                    request.content_type = Some("application/strategic-merge-patch+json".into());
                    let tag = self.tag(Request::Unblock);
                    out.send(request, tag);
                }
                let options = json!({"kind": "DeleteOptions", "apiVersion": "v1",
                    "preconditions": {"uid": uid}, "propagationPolicy": policy});
                let tag = self.tag(Request::Write { uid: uid.to_string() });
                out.send(ApiRequest::new(0, Method::Delete, path).with_body(options), tag);
            }
        }
    }

    /// An owner deleting its dependents in the foreground
    /// (`processDeletingDependentsItem`).
    fn process_deleting_dependents(&mut self, uid: &str, out: &mut Outbox) {
        let blocking: Vec<(String, bool)> =
            self.blocking_dependents(uid).iter().map(|d| (d.identity.uid.clone(), d.deleting_dependents)).collect();
        if blocking.is_empty() {
            return self.remove_finalizer(uid, FINALIZER_FOREGROUND, out);
        }
        for (dependent, deleting_dependents) in blocking {
            if !deleting_dependents {
                self.attempt_to_delete.insert(dependent);
            }
        }
        self.done(Queue::Delete, uid);
    }

    /// Reads the owner live, then patches the finalizer away (`removeFinalizer`).
    fn remove_finalizer(&mut self, uid: &str, finalizer: &'static str, out: &mut Outbox) {
        let queue = if finalizer == FINALIZER_ORPHAN { Queue::Orphan } else { Queue::Delete };
        let Some(path) = self.nodes.get(uid).and_then(|n| n.identity.path()) else {
            return self.done(queue, uid);
        };
        self.busy.insert((queue, uid.to_string()));
        self.get(path, Request::Finalizer { uid: uid.to_string(), finalizer }, out);
    }

    /// An owner deleted with the `orphan` finalizer: its dependents lose their
    /// reference to it, then it loses the finalizer (`orphanDependents`).
    fn start_orphan(&mut self, uid: &str, out: &mut Outbox) {
        if !self.nodes.contains_key(uid) {
            return;
        }
        self.busy.insert((Queue::Orphan, uid.to_string()));
        let dependents: Vec<Identity> = self.dependents(uid).iter().map(|d| d.identity.clone()).collect();
        let mut sent = 0;
        for d in dependents {
            let Some(path) = d.path() else { continue };
            let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": d.uid}});
            let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
            request.content_type = Some("application/strategic-merge-patch+json".into());
            let tag = self.tag(Request::Orphan { uid: uid.to_string() });
            out.send(request, tag);
            sent += 1;
        }
        if sent == 0 {
            self.remove_finalizer(uid, FINALIZER_ORPHAN, out);
        } else {
            self.orphaning.insert(uid.to_string(), (sent, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(plural: &str, group: &str) -> &'static Resource {
        resources::by_plural(group, plural).unwrap()
    }

    fn object(name: &str, uid: &str, owners: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": uid, "ownerReferences": owners}})
    }

    fn owner(kind: &str, name: &str, uid: &str, block: bool) -> Value {
        let api_version = if kind == "Pod" { "v1" } else { "apps/v1" };
        json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": block})
    }

    fn refs(o: &Value) -> Vec<OwnerRef> {
        owner_refs(o)
    }

    #[test]
    fn graph_links_dependents_and_makes_virtual_owners() {
        let mut gc = GarbageCollector::default();
        let pod = object("web-1", "p1", json!([owner("ReplicaSet", "web", "rs1", true)]));
        gc.on_change(res("pods", ""), &Change::Added(pod));
        // The ReplicaSet is not seen yet: a virtual node, to be looked up.
        assert!(!gc.nodes()["rs1"].observed);
        assert_eq!(gc.nodes()["rs1"].identity.kind, "ReplicaSet");
        assert!(gc.attempt_to_delete().contains("rs1"));
        gc.attempt_to_delete.clear();
        let rs = object("web", "rs1", json!([owner("Deployment", "web", "d1", true)]));
        gc.on_change(res("replicasets", "apps"), &Change::Added(rs.clone()));
        assert!(gc.nodes()["rs1"].observed);
        assert_eq!(gc.dependents("rs1").len(), 1);
        assert_eq!(gc.blocking_dependents("rs1")[0].identity.uid, "p1");
        // The ReplicaSet goes: its pod is looked at, and it is remembered absent.
        gc.attempt_to_delete.clear();
        gc.on_change(res("replicasets", "apps"), &Change::Deleted(rs));
        assert!(gc.attempt_to_delete().contains("p1"));
        assert!(gc.absent.contains_key("rs1"));
    }

    #[test]
    fn foreground_and_orphan_marks_queue_the_owner() {
        let mut gc = GarbageCollector::default();
        let d = object("web", "d1", json!([]));
        gc.on_change(res("deployments", "apps"), &Change::Added(d.clone()));
        let rs = object("web", "rs1", json!([owner("Deployment", "web", "d1", true)]));
        gc.on_change(res("replicasets", "apps"), &Change::Added(rs));
        gc.attempt_to_delete.clear();
        let mut marked = d.clone();
        marked["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        marked["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        gc.on_change(res("deployments", "apps"), &Change::Modified(d.clone(), marked.clone()));
        assert!(gc.nodes()["d1"].deleting_dependents);
        assert_eq!(gc.attempt_to_delete().iter().cloned().collect::<Vec<_>>(), vec!["d1", "rs1"]);
        let mut orphaned = d.clone();
        orphaned["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        orphaned["metadata"]["finalizers"] = json!(["orphan"]);
        gc.on_change(res("deployments", "apps"), &Change::Modified(marked, orphaned));
        assert!(gc.attempt_to_orphan().contains("d1"));
    }

    #[test]
    fn decisions_follow_the_owners_verdicts() {
        let two =
            object("p", "p1", json!([owner("ReplicaSet", "a", "a1", true), owner("ReplicaSet", "b", "b1", true)]));
        let owners = refs(&two);
        use Verdict::*;
        assert_eq!(decide(&two, &owners, &[Solid, Solid], false, false), Decision::Keep);
        assert_eq!(decide(&two, &owners, &[Solid, Dangling], false, false), Decision::RemoveRefs(vec!["b1".into()]));
        assert_eq!(decide(&two, &owners, &[Waiting, Solid], false, false), Decision::RemoveRefs(vec!["a1".into()]));
        let background = Decision::Delete { policy: "Background", unblock: vec![] };
        assert_eq!(decide(&two, &owners, &[Dangling, Dangling], false, false), background);
        assert_eq!(decide(&two, &owners, &[Dangling, Waiting], false, false), background);
        let foreground = Decision::Delete { policy: "Foreground", unblock: vec![] };
        assert_eq!(decide(&two, &owners, &[Dangling, Waiting], true, false), foreground);
        let unblock = Decision::Delete { policy: "Foreground", unblock: vec!["b1".into()] };
        assert_eq!(decide(&two, &owners, &[Dangling, Waiting], true, true), unblock);
        // The item's own finalizers choose the policy.
        let mut orphaning = two.clone();
        orphaning["metadata"]["finalizers"] = json!(["orphan"]);
        assert_eq!(
            decide(&orphaning, &owners, &[Dangling, Dangling], false, false),
            Decision::Delete { policy: "Orphan", unblock: vec![] }
        );
    }

    #[test]
    fn malformed_objects_are_skipped() {
        let mut gc = GarbageCollector::default();
        gc.on_change(res("pods", ""), &Change::Added(json!({"metadata": {"name": "x"}})));
        gc.on_change(res("pods", ""), &Change::Added(json!("not an object")));
        let bad_refs = json!({"metadata": {"name": "y", "uid": "u", "ownerReferences": [{"kind": 3}, "x"]}});
        gc.on_change(res("pods", ""), &Change::Added(bad_refs));
        assert_eq!(gc.nodes().len(), 1);
        assert!(gc.nodes()["u"].owners.is_empty());
    }
}
