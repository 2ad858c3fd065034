//! The taint eviction controller (pkg/controller/tainteviction,
//! taint_eviction.go, v1.32; its own controller since
//! `SeparateTaintEvictionController`): deletes the pods of nodes with
//! NoExecute taints they do not tolerate.
//!
//! When a node's NoExecute taints change, each of its pods is looked at
//! (`processPodOnNode`): a pod that does not tolerate every taint is deleted
//! at once; one whose tolerations carry `tolerationSeconds` is deleted after
//! the smallest of them, counted from when the controller noticed
//! (DefaultTolerationSeconds admission gives every pod 300 s for
//! `not-ready` and `unreachable`); one that tolerates them forever stays.
//! A pod's tolerations or node changing looks at that pod again. Taints
//! going away cancel the scheduled deletions ("Cancelling deletion of Pod").
//!
//! A deletion (`addConditionAndDeletePod`) records `TaintManagerEviction`,
//! adds the `DisruptionTarget` condition (`DeletionByTaintManager`) to the
//! pod's status, then deletes it with its grace period. On a dead node the
//! pod then stays `Terminating` until its kubelet comes back (or the node is
//! deleted and the pod GC removes it); its ReplicaSet replaces it at once,
//! since a terminating pod no longer counts.

use super::workqueue::expired;
use super::{in_loop_slot, loop_tag_base, Outbox};
use crate::apimachinery::time::rfc3339;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Tags of the controller's requests start here.
pub const TAG_BASE: u64 = loop_tag_base(2);
/// The controller's name and event source.
pub const COMPONENT: &str = "taint-eviction-controller";

/// A scheduled deletion (`TimedWorker`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Work {
    created_ms: u64,
    fire_ms: u64,
    /// Fired: kept so that the pod is not scheduled again until cancelled.
    done: bool,
}

#[derive(Clone, Debug)]
enum Request {
    /// The DisruptionTarget condition of the pod at `path`; its delete follows.
    Condition {
        path: String,
        key: String,
    },
    Delete,
    Event,
}

/// The controller's state.
#[derive(Debug)]
pub struct TaintEvictionController {
    /// NoExecute taints of each tainted node.
    tainted: BTreeMap<String, Vec<Value>>,
    /// Scheduled deletions by pod `namespace/name`.
    work: BTreeMap<String, Work>,
    node_queue: BTreeSet<String>,
    /// (pod key, node it was on when queued).
    pod_queue: BTreeSet<(String, String)>,
    /// Tag → (request, when sent).
    requests: BTreeMap<u64, (Request, u64)>,
    next_tag: u64,
    now_ms: u64,
    recorder: EventRecorder,
    evicted: u64,
}

impl Default for TaintEvictionController {
    fn default() -> Self {
        TaintEvictionController {
            tainted: BTreeMap::new(),
            work: BTreeMap::new(),
            node_queue: BTreeSet::new(),
            pod_queue: BTreeSet::new(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            now_ms: 0,
            recorder: EventRecorder::new(COMPONENT, ""),
            evicted: 0,
        }
    }
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default()
}

fn no_execute_taints(node: &Value) -> Vec<Value> {
    let taints = node.pointer("/spec/taints").and_then(Value::as_array);
    taints.into_iter().flatten().filter(|t| t["effect"] == "NoExecute").cloned().collect()
}

fn tolerations(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/tolerations").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// k8s.io/api/core/v1 toleration.go `ToleratesTaint`.
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let s = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    let effect = s(toleration, "effect");
    if !effect.is_empty() && effect != s(taint, "effect") {
        return false;
    }
    let key = s(toleration, "key");
    if !key.is_empty() && key != s(taint, "key") {
        return false;
    }
    match s(toleration, "operator").as_str() {
        "Exists" => true,
        "" | "Equal" => s(toleration, "value") == s(taint, "value"),
        _ => false,
    }
}

/// v1helper `GetMatchingTolerations`: whether every taint is tolerated, and
/// the first toleration of each.
fn matching_tolerations(taints: &[Value], tolerations: &[Value]) -> (bool, Vec<Value>) {
    let mut used = Vec::new();
    for taint in taints {
        match tolerations.iter().find(|t| tolerates(t, taint)) {
            Some(t) => used.push(t.clone()),
            None => return (false, Vec::new()),
        }
    }
    (true, used)
}

/// `getMinTolerationTime`: the smallest `tolerationSeconds` in ms, `Some(0)`
/// for none or a non-positive one, `None` for forever.
fn min_toleration_ms(used: &[Value]) -> Option<u64> {
    if used.is_empty() {
        return Some(0);
    }
    let mut min: Option<i64> = None;
    for t in used {
        if let Some(s) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            if s <= 0 {
                return Some(0);
            }
            min = Some(min.map_or(s, |m| m.min(s)));
        }
    }
    min.map(|s| s as u64 * 1000)
}

impl TaintEvictionController {
    /// Whether a request tag is this controller's.
    pub fn owns(tag: u64) -> bool {
        in_loop_slot(TAG_BASE, tag)
    }

    /// Pods deleted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// When the pod `namespace/name` is to be deleted, if it is.
    pub fn scheduled(&self, key: &str) -> Option<u64> {
        self.work.get(key).filter(|w| !w.done).map(|w| w.fire_ms)
    }

    fn tag(&mut self, request: Request) -> u64 {
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (request, self.now_ms));
        self.next_tag
    }

    /// A node changed: its pods are looked at when its NoExecute taints did.
    pub fn on_node(&mut self, change: &Change) {
        match change {
            Change::Added(n) | Change::Deleted(n) => {
                self.node_queue.insert(meta(n, "name").to_string());
            }
            Change::Modified(old, n) if no_execute_taints(old) != no_execute_taints(n) => {
                self.node_queue.insert(meta(n, "name").to_string());
            }
            Change::Modified(..) => {}
        }
    }

    /// A pod changed: looked at when its tolerations or node did.
    pub fn on_pod(&mut self, change: &Change) {
        let pod = match change {
            Change::Added(p) | Change::Deleted(p) => p,
            Change::Modified(old, p) if tolerations(old) != tolerations(p) || node_name(old) != node_name(p) => p,
            Change::Modified(..) => return,
        };
        self.pod_queue.insert((object_key(pod), node_name(pod).to_string()));
    }

    /// When the next deletion is due.
    pub fn next_due(&self) -> Option<u64> {
        self.work.values().filter(|w| !w.done).map(|w| w.fire_ms).min()
    }

    fn cancel(&mut self, key: &str, now: u64, out: &mut Outbox) {
        if let Some(work) = self.work.remove(key) {
            if !work.done {
                self.event(key, &format!("Cancelling deletion of Pod {key}"), now, out);
            }
        }
    }

    fn event(&mut self, key: &str, message: &str, now: u64, out: &mut Outbox) {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let reference = ObjectReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: namespace.into(),
            name: name.into(),
            ..ObjectReference::default()
        };
        let request = self.recorder.event(&reference, "Normal", "TaintManagerEviction", message, now);
        let tag = self.tag(Request::Event);
        out.send(request, tag);
    }

    /// `processPodOnNode`.
    fn process_pod_on_node(&mut self, pod: &Value, taints: &[Value], now: u64, out: &mut Outbox) {
        let key = object_key(pod);
        if taints.is_empty() {
            self.cancel(&key, now, out);
        }
        let (all, used) = matching_tolerations(taints, &tolerations(pod));
        if !all {
            self.cancel(&key, now, out);
            self.work.insert(key, Work { created_ms: now, fire_ms: now, done: false });
            return;
        }
        let Some(min) = min_toleration_ms(&used) else {
            self.cancel(&key, now, out);
            return;
        };
        let trigger = now + min;
        if let Some(existing) = self.work.get(&key) {
            if existing.done || existing.created_ms + min < trigger {
                return;
            }
            let created = existing.created_ms;
            self.cancel(&key, now, out);
            self.work.insert(key, Work { created_ms: created, fire_ms: trigger, done: false });
            return;
        }
        self.work.insert(key, Work { created_ms: now, fire_ms: trigger, done: false });
    }

    /// Handles changed nodes, then changed pods, then the deletions due.
    pub fn sync(&mut self, nodes: &Reflector, pods: &Reflector, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        for name in std::mem::take(&mut self.node_queue) {
            let Some(node) = nodes.store().get(&name) else {
                self.tainted.remove(&name);
                continue;
            };
            let taints = no_execute_taints(node);
            if taints.is_empty() {
                self.tainted.remove(&name);
            } else {
                self.tainted.insert(name.clone(), taints.clone());
            }
            let on_node: Vec<&Value> = pods.store().values().filter(|p| node_name(p) == name).collect();
            for pod in on_node {
                if taints.is_empty() {
                    self.cancel(&object_key(pod), now, out);
                } else {
                    self.process_pod_on_node(pod, &taints, now, out);
                }
            }
        }
        for (key, queued_node) in std::mem::take(&mut self.pod_queue) {
            let Some(pod) = pods.store().get(&key) else {
                self.cancel(&key, now, out);
                continue;
            };
            if node_name(pod) != queued_node || queued_node.is_empty() {
                continue;
            }
            if let Some(taints) = self.tainted.get(&queued_node).cloned() {
                self.process_pod_on_node(pod, &taints, now, out);
            }
        }
        let due: Vec<String> =
            self.work.iter().filter(|(_, w)| !w.done && w.fire_ms <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            if let Some(w) = self.work.get_mut(&key) {
                w.done = true;
            }
            self.event(&key, &format!("Marking for deletion Pod {key}"), now, out);
            let Some(pod) = pods.store().get(&key) else { continue };
            let path = format!("/api/v1/namespaces/{}/pods/{}", meta(pod, "namespace"), meta(pod, "name"));
            let uid = meta(pod, "uid").to_string();
            let already = pod.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
                c["type"] == "DisruptionTarget" && c["status"] == "True" && c["reason"] == "DeletionByTaintManager"
            });
            if already {
                self.delete(&path, out);
                continue;
            }
            let condition = json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint", "lastTransitionTime": rfc3339(now),
                "lastProbeTime": null});
            let patch = json!({"metadata": {"uid": uid}, "status": {"conditions": [condition]}});
            let mut request = ApiRequest::new(0, Method::Patch, format!("{path}/status")).with_body(patch);
            request.content_type = Some("application/strategic-merge-patch+json".into());
            let tag = self.tag(Request::Condition { path, key });
            out.send(request, tag);
        }
    }

    fn delete(&mut self, path: &str, out: &mut Outbox) {
        let tag = self.tag(Request::Delete);
        out.send(ApiRequest::new(0, Method::Delete, path.to_string()), tag);
        self.evicted += 1;
    }

    /// Takes the answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64, out: &mut Outbox) {
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        self.now_ms = now;
        if let Request::Condition { path, key } = request {
            match response.code {
                200..=299 => self.delete(&path, out),
                // Gone, or replaced by a pod of the same name: nothing to do.
                404 | 409 => {}
                // Tried again shortly, like the handler's five attempts.
                _ => self.reschedule(key, now + 10),
            }
        }
    }

    fn reschedule(&mut self, key: String, at: u64) {
        self.work.insert(key, Work { created_ms: at, fire_ms: at, done: false });
    }

    /// Requests unanswered for a minute are forgotten; a lost condition
    /// patch schedules its deletion again.
    pub fn expire(&mut self, now: u64) -> bool {
        let stale = expired(&self.requests, now);
        let mut any = false;
        for tag in stale {
            if let Some((Request::Condition { key, .. }, _)) = self.requests.remove(&tag) {
                self.reschedule(key, now);
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Value {
        json!({"key": key, "effect": "NoExecute"})
    }

    #[test]
    fn default_tolerations_give_300_seconds() {
        // What DefaultTolerationSeconds admission adds to every pod.
        let tolerations = vec![
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
        ];
        let (all, used) = matching_tolerations(&[taint("node.kubernetes.io/unreachable")], &tolerations);
        assert!(all);
        assert_eq!(min_toleration_ms(&used), Some(300_000));
        let (all, _) = matching_tolerations(&[taint("example.com/other")], &tolerations);
        assert!(!all, "a taint nobody tolerates evicts at once");
    }

    #[test]
    fn min_toleration_follows_get_min_toleration_time() {
        // taint_eviction_test.go TestGetMinTolerationTime: none → 0, an
        // unbounded one → forever, the smallest bounded one otherwise.
        assert_eq!(min_toleration_ms(&[]), Some(0));
        assert_eq!(min_toleration_ms(&[json!({"operator": "Exists"})]), None);
        assert_eq!(
            min_toleration_ms(&[json!({"tolerationSeconds": 20}), json!({"tolerationSeconds": 10})]),
            Some(10_000)
        );
        assert_eq!(min_toleration_ms(&[json!({"tolerationSeconds": -5})]), Some(0));
    }

    #[test]
    fn an_equal_toleration_needs_the_value() {
        let t = json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"});
        assert!(tolerates(&t, &json!({"key": "k", "value": "v", "effect": "NoExecute"})));
        assert!(!tolerates(&t, &json!({"key": "k", "value": "w", "effect": "NoExecute"})));
        assert!(!tolerates(&t, &json!({"key": "k", "value": "v", "effect": "NoSchedule"})));
    }
}
