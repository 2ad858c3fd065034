//! The ReplicaSet controller (pkg/controller/replicaset/replica_set.go):
//! for each ReplicaSet, count the active pods it controls (adopting matching
//! orphans), create the missing ones from its template in slow-start
//! batches (1, 2, 4, ...; at most `burstReplicas` 500 per sync), delete the
//! surplus ranked like `controller.ActivePods` (unscheduled before
//! scheduled, pending before running, not ready before ready, newest first),
//! and write the counts to its status.
//!
//! Expectations (pkg/controller/controller_utils.go) keep a sync from acting
//! again before the watch has shown the pods it created or deleted; they
//! expire after 5 minutes (`ExpectationsTimeout`).
//!
//! The same controller runs over ReplicationControllers
//! ([`ReplicaSetController::for_replication_controllers`]), as upstream's
//! pkg/controller/replication/replication_controller.go runs the ReplicaSet
//! controller through a conversion adapter: a map selector (`spec.selector`,
//! defaulted from the template's labels), `v1` ownerReferences of kind
//! ReplicationController and events from `replication-controller`.

use super::workqueue::expired;
use super::Outbox;
use crate::apimachinery::labels::{labels_of, Selector};
use crate::apimachinery::time::parse_rfc3339;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Pods created or deleted per sync at most (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// Expectations not met within this time are dropped (`ExpectationsTimeout`, 5 minutes).
pub const EXPECTATIONS_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// The controller's name in events (`source.component`).
pub const COMPONENT: &str = "replicaset-controller";
/// The ReplicationController manager's name in events
/// (pkg/controller/replication/replication_controller.go `NewReplicationManager`).
pub const RC_COMPONENT: &str = "replication-controller";
/// The first tag of the ReplicationController manager's requests.
pub const RC_TAG_BASE: u64 = super::loop_tag_base(3);

/// What the controller manages: ReplicaSets, or ReplicationControllers
/// through the adapter (pkg/controller/replication/conversion.go).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Workload {
    /// apps/v1 ReplicaSets, with a label selector.
    #[default]
    ReplicaSet,
    /// v1 ReplicationControllers, with a map selector.
    ReplicationController,
}

impl Workload {
    /// The kind in ownerReferences and events.
    pub fn kind(self) -> &'static str {
        match self {
            Workload::ReplicaSet => "ReplicaSet",
            Workload::ReplicationController => "ReplicationController",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Workload::ReplicaSet => "apps/v1",
            Workload::ReplicationController => "v1",
        }
    }

    fn component(self) -> &'static str {
        match self {
            Workload::ReplicaSet => COMPONENT,
            Workload::ReplicationController => RC_COMPONENT,
        }
    }

    fn status_path(self, namespace: &str, name: &str) -> String {
        match self {
            Workload::ReplicaSet => format!("/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/status"),
            Workload::ReplicationController => {
                format!("/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/status")
            }
        }
    }

    /// The object's selector; none when it is empty (an empty selector
    /// selects nothing here, as in the ReplicaSet controller).
    fn selector_of(self, rs: &Value) -> Option<Selector> {
        let selector = match self {
            Workload::ReplicaSet => rs.pointer("/spec/selector").and_then(Selector::from_label_selector),
            // conversion.go: the map becomes `matchLabels`.
            Workload::ReplicationController => rs
                .pointer("/spec/selector")
                .filter(|s| s.is_object())
                .and_then(|s| Selector::from_label_selector(&json!({"matchLabels": s}))),
        };
        selector.filter(|s| !s.is_empty())
    }

    /// The object of this kind controlling a pod (its controller
    /// ownerReference), as (name, uid).
    fn controller_of(self, pod: &Value) -> Option<(&str, &str)> {
        pod.pointer("/metadata/ownerReferences")?
            .as_array()?
            .iter()
            .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some(self.kind()))
            .map(|o| {
                let s = |f: &str| o.get(f).and_then(Value::as_str).unwrap_or_default();
                (s("name"), s("uid"))
            })
    }

    /// The ownerReference the controller puts on its pods.
    fn owner_reference(self, rs: &Value) -> Value {
        json!({"apiVersion": self.api_version(), "kind": self.kind(), "name": meta(rs, "name"), "uid": meta(rs, "uid"),
            "controller": true, "blockOwnerDeletion": true})
    }
}

#[derive(Clone, Debug, Default)]
struct Expectation {
    adds: i64,
    deleting: BTreeSet<String>,
    set_ms: u64,
}

#[derive(Clone, Debug)]
struct SlowStart {
    started_ms: u64,
    remaining: usize,
    batch: usize,
    in_flight: usize,
    failed: bool,
}

#[derive(Clone, Debug)]
enum Request {
    Create {
        rs: String,
    },
    Delete {
        rs: String,
        pod: String,
        name: String,
    },
    /// An Event written; for a count patch, its path.
    Event(Option<String>),
    Other,
}

/// The first retry after a failed sync (the workqueue's rate limiter starts at 5 ms).
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay (1000 s).
const RETRY_MAX_MS: u64 = 1_000_000;

/// The controller's state.
#[derive(Debug, Default)]
pub struct ReplicaSetController {
    dirty: BTreeSet<String>,
    expectations: BTreeMap<String, Expectation>,
    creating: BTreeMap<String, SlowStart>,
    /// The ReplicaSet as it was when its current creations started.
    pending_rs: BTreeMap<String, Value>,
    /// Requests in flight by tag, with when they were sent.
    requests: BTreeMap<u64, (Request, u64)>,
    /// Keys to sync again at a time: retries after failures (with their
    /// failure count) and waits for minReadySeconds.
    delayed: BTreeMap<String, u64>,
    failures: BTreeMap<String, u32>,
    next_tag: u64,
    created: u64,
    known: usize,
    recorder: Option<EventRecorder>,
    workload: Workload,
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn has_controller(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|o| o.get("controller").and_then(Value::as_bool) == Some(true)))
}

/// Not being deleted and not finished (`controller.IsPodActive`).
fn active(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
    pod.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null) && phase != "Succeeded" && phase != "Failed"
}

fn ready_since(pod: &Value) -> Option<u64> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .map(|c| c.get("lastTransitionTime").and_then(Value::as_str).and_then(parse_rfc3339).unwrap_or(0))
}

impl ReplicaSetController {
    /// The controller run over ReplicationControllers; it tags its requests
    /// in slot 3 ([`super::loop_tag_base`]).
    pub fn for_replication_controllers() -> Self {
        ReplicaSetController { workload: Workload::ReplicationController, next_tag: RC_TAG_BASE, ..Default::default() }
    }

    /// Whether the ReplicationController manager sent the request tagged `tag`.
    pub fn owns_rc_tag(tag: u64) -> bool {
        super::in_loop_slot(RC_TAG_BASE, tag)
    }

    /// What it manages.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// ReplicaSets known.
    pub fn count(&self) -> usize {
        self.known
    }

    /// Pods created so far.
    pub fn created(&self) -> u64 {
        self.created
    }

    fn tag(&mut self, request: Request, now: u64) -> u64 {
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (request, now));
        self.next_tag
    }

    /// A ReplicaSet changed: sync it.
    pub fn on_replica_set(&mut self, change: &Change) {
        let (o, deleted) = match change {
            Change::Added(o) | Change::Modified(_, o) => (o, false),
            Change::Deleted(o) => (o, true),
        };
        let key = object_key(o);
        if deleted {
            self.expectations.remove(&key);
            self.creating.remove(&key);
            self.pending_rs.remove(&key);
            self.delayed.remove(&key);
            self.failures.remove(&key);
            self.dirty.remove(&key);
        } else {
            self.dirty.insert(key);
        }
    }

    /// A pod changed: observe expectations and sync the ReplicaSets concerned.
    pub fn on_pod(&mut self, change: &Change, replica_sets: &Reflector) {
        let (pod, old) = match change {
            Change::Added(p) => (p, None),
            Change::Modified(old, p) => (p, Some(old)),
            Change::Deleted(p) => (p, None),
        };
        let namespace = meta(pod, "namespace");
        let pod_key = object_key(pod);
        if let Some((name, _)) = self.workload.controller_of(pod) {
            let rs_key = format!("{namespace}/{name}");
            if let Some(e) = self.expectations.get_mut(&rs_key) {
                match change {
                    Change::Added(_) => e.adds -= 1,
                    Change::Deleted(_) => {
                        e.deleting.remove(&pod_key);
                    }
                    Change::Modified(..) => {
                        // A pod marked for deletion counts as deleted (updatePod).
                        if !active(pod) {
                            e.deleting.remove(&pod_key);
                        }
                    }
                }
            }
            self.dirty.insert(rs_key);
        } else if !has_controller(pod) {
            // An orphan: the ReplicaSets whose selector matches may adopt it.
            let labels = labels_of(pod);
            for (key, rs) in replica_sets.store() {
                if meta(rs, "namespace") == namespace
                    && self.workload.selector_of(rs).is_some_and(|s| s.matches(&labels))
                {
                    self.dirty.insert(key.clone());
                }
            }
        }
        if let Some((name, _)) = old.and_then(|o| self.workload.controller_of(o)) {
            self.dirty.insert(format!("{namespace}/{name}"));
        }
    }

    /// Drops expectations older than the timeout; whether any were.
    pub fn expire(&mut self, now: u64) -> bool {
        let lost = self.forget_lost(now);
        let stale: Vec<String> = self
            .expectations
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.set_ms) >= EXPECTATIONS_TIMEOUT_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.expectations.remove(k);
            self.dirty.insert(k.clone());
        }
        // Creations whose answers never came (a lost request) give up too.
        let stuck: Vec<String> = self
            .creating
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.started_ms) >= EXPECTATIONS_TIMEOUT_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stuck {
            self.creating.remove(k);
            self.pending_rs.remove(k);
            self.dirty.insert(k.clone());
        }
        let due: Vec<String> = self.delayed.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for k in &due {
            self.delayed.remove(k);
            self.dirty.insert(k.clone());
        }
        lost || !stale.is_empty() || !stuck.is_empty() || !due.is_empty()
    }

    /// Requests unanswered for [`IN_FLIGHT_TIMEOUT_MS`](super::workqueue::IN_FLIGHT_TIMEOUT_MS) (the client's
    /// timeout; lost to a partition or a restarted apiserver) failed: a
    /// creation lowers the expected adds and ends its batch, a deletion is
    /// no longer expected, and the ReplicaSet is synced again after a
    /// back-off. Whether any was given up.
    fn forget_lost(&mut self, now: u64) -> bool {
        let lost = expired(&self.requests, now);
        for tag in &lost {
            match self.requests.remove(tag).map(|(r, _)| r) {
                Some(Request::Create { rs: key }) => {
                    self.create_failed(&key);
                    let Some(s) = self.creating.get_mut(&key) else { continue };
                    s.in_flight = s.in_flight.saturating_sub(1);
                    if s.in_flight == 0 {
                        let skipped = s.remaining as i64;
                        self.creating.remove(&key);
                        self.pending_rs.remove(&key);
                        if let Some(e) = self.expectations.get_mut(&key) {
                            e.adds -= skipped;
                        }
                        self.retry_later(&key, now);
                    }
                }
                Some(Request::Delete { rs: key, pod, .. }) => {
                    if let Some(e) = self.expectations.get_mut(&key) {
                        e.deleting.remove(&pod);
                    }
                    self.retry_later(&key, now);
                }
                _ => {}
            }
        }
        !lost.is_empty()
    }

    fn satisfied(&self, key: &str) -> bool {
        self.expectations.get(key).is_none_or(|e| e.adds <= 0 && e.deleting.is_empty())
    }

    /// Syncs every ReplicaSet marked dirty (except those waiting out a retry delay).
    pub fn sync(&mut self, pods: &Reflector, replica_sets: &Reflector, now: u64, out: &mut Outbox) {
        self.known = replica_sets.store().len();
        for key in std::mem::take(&mut self.dirty) {
            if self.delayed.get(&key).is_some_and(|t| *t > now) && self.failures.contains_key(&key) {
                continue;
            }
            if let Some(rs) = replica_sets.store().get(&key) {
                self.sync_one(&key, rs, pods, now, out);
            }
        }
    }

    fn sync_one(&mut self, key: &str, rs: &Value, pods: &Reflector, now: u64, out: &mut Outbox) {
        let namespace = meta(rs, "namespace").to_string();
        let name = meta(rs, "name").to_string();
        let uid = meta(rs, "uid").to_string();
        let Some(selector) = self.workload.selector_of(rs) else { return };
        let deleting = rs.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        // claimPods: ours, plus matching orphans adopted. Pods controlled by
        // anything else play no part, so only ours and the orphans are read
        // (through the pod index by controller uid).
        let mut owned: Vec<&Value> = Vec::new();
        let candidates = pods.controlled_by_or_orphan(&uid).into_iter().filter_map(|key| pods.store().get(key));
        for pod in candidates.filter(|p| meta(p, "namespace") == namespace && active(p)) {
            match self.workload.controller_of(pod) {
                Some((_, owner)) if owner == uid && !selector.matches_object(pod) && !deleting => {
                    // Its labels no longer match: release it (controller_ref_manager.go ReleasePod).
                    let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": meta(pod, "uid")}});
                    let path = format!("/api/v1/namespaces/{namespace}/pods/{}", meta(pod, "name"));
                    let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
                    request.content_type = Some("application/strategic-merge-patch+json".into());
                    let tag = self.tag(Request::Other, now);
                    out.send(request, tag);
                }
                Some((_, owner)) if owner == uid => owned.push(pod),
                None if !has_controller(pod) && !deleting && selector.matches_object(pod) => {
                    let patch = json!({"metadata": {"ownerReferences": [self.workload.owner_reference(rs)], "uid": meta(pod, "uid")}});
                    let path = format!("/api/v1/namespaces/{namespace}/pods/{}", meta(pod, "name"));
                    let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
                    request.content_type = Some("application/strategic-merge-patch+json".into());
                    let tag = self.tag(Request::Other, now);
                    out.send(request, tag);
                    owned.push(pod);
                }
                _ => {}
            }
        }
        let replicas = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as usize;
        if self.satisfied(key) && !deleting && !self.creating.contains_key(key) {
            if owned.len() < replicas {
                let n = (replicas - owned.len()).min(BURST_REPLICAS);
                self.expectations
                    .insert(key.to_string(), Expectation { adds: n as i64, deleting: BTreeSet::new(), set_ms: now });
                self.creating.insert(
                    key.to_string(),
                    SlowStart { started_ms: now, remaining: n, batch: 0, in_flight: 0, failed: false },
                );
                self.next_batch(key, rs, now, out);
            } else if owned.len() > replicas {
                let n = (owned.len() - replicas).min(BURST_REPLICAS);
                let mut ranked = owned.clone();
                ranked.sort_by(|a, b| rank(a).cmp(&rank(b)));
                let victims: Vec<&Value> = ranked.into_iter().take(n).collect();
                let deleting: BTreeSet<String> = victims.iter().map(|p| object_key(p)).collect();
                self.expectations.insert(key.to_string(), Expectation { adds: 0, deleting, set_ms: now });
                for pod in victims {
                    let pod_name = meta(pod, "name").to_string();
                    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod_name}");
                    let request = Request::Delete { rs: key.to_string(), pod: object_key(pod), name: pod_name.clone() };
                    let tag = self.tag(request, now);
                    out.send(ApiRequest::new(0, Method::Delete, path), tag);
                }
                self.pending_rs.entry(key.to_string()).or_insert_with(|| rs.clone());
            }
        }
        // calculateStatus.
        let template_labels = crate::apimachinery::labels::string_map(rs.pointer("/spec/template/metadata/labels"));
        let min_ready_ms = rs.pointer("/spec/minReadySeconds").and_then(Value::as_u64).unwrap_or(0) * 1000;
        let fully_labeled = owned
            .iter()
            .filter(|p| {
                let labels = p.pointer("/metadata/labels");
                template_labels.iter().all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v))
            })
            .count();
        // Each ready pod with when it became ready (None when unknown), its
        // Ready condition found and read once.
        let ready: Vec<Option<u64>> = owned
            .iter()
            .filter_map(|p| {
                p.pointer("/status/conditions")?
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready" && c["status"] == "True")
                    .map(|c| c.get("lastTransitionTime").and_then(Value::as_str).and_then(parse_rfc3339))
            })
            .collect();
        // IsPodAvailable: ready, and (with minReadySeconds) ready for longer than that.
        let available =
            ready.iter().filter(|since| min_ready_ms == 0 || since.is_some_and(|t| t + min_ready_ms < now)).count();
        if min_ready_ms > 0 && available < ready.len() {
            // Look again when the next pod has been ready long enough.
            if let Some(next) = ready.iter().flatten().map(|t| t + min_ready_ms + 1).filter(|t| *t > now).min() {
                self.delayed.insert(key.to_string(), next);
            }
        }
        let status = json!({
            "replicas": owned.len(),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready.len(),
            "availableReplicas": available,
            "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        let mut current = rs.get("status").cloned().unwrap_or(json!({}));
        if let Some(m) = current.as_object_mut() {
            m.retain(|k, _| k != "conditions");
        }
        let normalized = |v: &Value| -> BTreeMap<String, i64> {
            v.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).filter(|(_, v)| *v != 0).collect())
                .unwrap_or_default()
        };
        if normalized(&current) != normalized(&status) {
            let mut updated = rs.clone();
            let mut status = status;
            if let Some(conditions) = rs.pointer("/status/conditions") {
                status["conditions"] = conditions.clone();
            }
            updated["status"] = status;
            let path = self.workload.status_path(&namespace, &name);
            let tag = self.tag(Request::Other, now);
            out.send(ApiRequest::new(0, Method::Put, path).with_body(updated), tag);
        }
    }

    /// Sends the next slow-start batch (1, 2, 4, ... pods).
    fn next_batch(&mut self, key: &str, rs: &Value, now: u64, out: &mut Outbox) {
        let Some(s) = self.creating.get_mut(key) else { return };
        s.batch = if s.batch == 0 { 1 } else { s.batch * 2 }.min(s.remaining);
        let batch = s.batch;
        s.remaining -= batch;
        s.in_flight = batch;
        let namespace = meta(rs, "namespace").to_string();
        let pod = pod_from_template(rs, self.workload);
        for _ in 0..batch {
            let tag = self.tag(Request::Create { rs: key.to_string() }, now);
            let path = format!("/api/v1/namespaces/{namespace}/pods");
            out.send(ApiRequest::new(0, Method::Post, path).with_body(pod.clone()), tag);
        }
        self.pending_rs.insert(key.to_string(), rs.clone());
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64, out: &mut Outbox) {
        let key = match self.requests.remove(&tag).map(|(r, _)| r) {
            Some(Request::Create { rs }) => rs,
            Some(Request::Delete { rs: key, pod, name }) => {
                let rs = self.pending_rs.get(&key).cloned();
                let ok = response.code < 300;
                if !ok {
                    // Not deleted (or already gone): no longer expected to go.
                    if let Some(e) = self.expectations.get_mut(&key) {
                        e.deleting.remove(&pod);
                    }
                }
                if let Some(rs) = rs {
                    if ok {
                        self.event(&rs, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"), now, out);
                    } else if response.code != 404 {
                        let message = response
                            .body
                            .as_ref()
                            .and_then(|b| b.get("message"))
                            .and_then(Value::as_str)
                            .unwrap_or("error");
                        self.event(&rs, "Warning", "FailedDelete", &format!("Error deleting: {message}"), now, out);
                        self.retry_later(&key, now);
                    }
                }
                return;
            }
            Some(Request::Event(Some(path))) if response.code == 404 => {
                // The Event expired since it was first written: create it again.
                if let Some(request) = self.recorder.as_ref().and_then(|r| r.recreate(&path)) {
                    let tag = self.tag(Request::Event(None), now);
                    out.send(request, tag);
                }
                return;
            }
            _ => return,
        };
        let Some(rs) = self.pending_rs.get(&key).cloned() else { return };
        if response.code == 201 {
            self.created += 1;
            let name = response.body.as_ref().map(|b| meta(b, "name").to_string()).unwrap_or_default();
            self.event(&rs, "Normal", "SuccessfulCreate", &format!("Created pod: {name}"), now, out);
        } else {
            let message =
                response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error");
            self.event(&rs, "Warning", "FailedCreate", &format!("Error creating: {message}"), now, out);
            self.create_failed(&key);
        }
        self.create_answered(key, &rs, now, out);
    }

    /// A creation failed: the pod will not show up in the watch.
    fn create_failed(&mut self, key: &str) {
        if let Some(e) = self.expectations.get_mut(key) {
            e.adds -= 1;
        }
        if let Some(s) = self.creating.get_mut(key) {
            s.failed = true;
        }
    }

    /// One creation of the current batch is over: the next batch, or the
    /// end of the slow start.
    fn create_answered(&mut self, key: String, rs: &Value, now: u64, out: &mut Outbox) {
        let Some(s) = self.creating.get_mut(&key) else { return };
        s.in_flight -= 1;
        if s.in_flight > 0 {
            return;
        }
        if s.failed || s.remaining == 0 {
            // After a failed batch the rest are skipped (slowStartBatch):
            // they are no longer expected.
            let (skipped, failed) = (s.remaining as i64, s.failed);
            self.creating.remove(&key);
            self.pending_rs.remove(&key);
            if let Some(e) = self.expectations.get_mut(&key) {
                e.adds -= skipped;
            }
            if failed {
                self.retry_later(&key, now);
            } else {
                self.failures.remove(&key);
                self.dirty.insert(key);
            }
            return;
        }
        self.next_batch(&key, rs, now, out);
    }

    /// A failed sync is retried after a delay doubling from 5 ms to 1000 s
    /// (the workqueue's `AddRateLimited`).
    fn retry_later(&mut self, key: &str, now: u64) {
        let n = self.failures.entry(key.to_string()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        self.delayed.insert(key.to_string(), now + delay);
    }

    /// A legacy (core/v1) event about the ReplicaSet (or the
    /// ReplicationController), through client-go's recorder
    /// ([`EventRecorder`]: a repeat counts on the first).
    fn event(&mut self, rs: &Value, kind: &str, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let object = ObjectReference {
            api_version: self.workload.api_version().into(),
            kind: self.workload.kind().into(),
            namespace: meta(rs, "namespace").to_string(),
            name: meta(rs, "name").to_string(),
            uid: meta(rs, "uid").to_string(),
            resource_version: meta(rs, "resourceVersion").to_string(),
            field_path: String::new(),
        };
        let request = self
            .recorder
            .get_or_insert_with(|| EventRecorder::new(self.workload.component(), ""))
            .event(&object, kind, reason, message, now);
        let patch = (request.method == Method::Patch).then(|| request.path.clone());
        let tag = self.tag(Request::Event(patch), now);
        out.send(request, tag);
    }
}

/// A pod from the ReplicaSet's template (controller_utils.go
/// `GetPodFromTemplate`): generateName `<rs>-`, the template's labels,
/// annotations and finalizers, and the controller reference.
fn pod_from_template(rs: &Value, workload: Workload) -> Value {
    let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut metadata = json!({
        "generateName": format!("{}-", meta(rs, "name")),
        "namespace": meta(rs, "namespace"),
        "ownerReferences": [workload.owner_reference(rs)],
    });
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(v) = template.pointer(&format!("/metadata/{field}")) {
            metadata[field] = v.clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// The deletion order of `controller.ActivePods` (lowest first): not
/// scheduled before scheduled, Pending before Unknown before Running, not
/// ready before ready, then the newest first.
fn rank(pod: &Value) -> (u8, u8, u8, std::cmp::Reverse<u64>, String) {
    let scheduled = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let phase = match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Pending") => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let created =
        pod.pointer("/metadata/creationTimestamp").and_then(Value::as_str).and_then(parse_rfc3339).unwrap_or(0);
    (
        u8::from(scheduled),
        phase,
        u8::from(ready_since(pod).is_some()),
        std::cmp::Reverse(created),
        meta(pod, "uid").to_string(),
    )
}
