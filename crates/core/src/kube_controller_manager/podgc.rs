//! The pod garbage collector (pkg/controller/podgc/gc_controller.go, v1.32).
//!
//! Every 20 s (`gcCheckPeriod`) it force-deletes, each time after patching
//! the pod's phase to `Failed` if it had not ended:
//! - terminated pods (`Succeeded`/`Failed`) beyond `--terminated-pod-gc-threshold`
//!   (12,500), evicted ones first, then the oldest;
//! - terminating pods on a not-ready node tainted
//!   `node.kubernetes.io/out-of-service`;
//! - pods bound to a node that no longer exists, once the node has been
//!   missing for the 40 s quarantine and a GET confirms it is gone
//!   (with `DisruptionTarget`, reason `DeletionByPodGC`);
//! - terminating pods that were never scheduled.

use super::workqueue::expired;
use super::{in_loop_slot, loop_tag_base, Outbox};
use crate::apimachinery::time::rfc3339;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::reflector::Reflector;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Tags of the controller's requests start here.
pub const TAG_BASE: u64 = loop_tag_base(1);
/// How often the collector runs (`gcCheckPeriod`).
pub const GC_CHECK_PERIOD_MS: u64 = 20_000;
/// How long a missing node is waited for (`quarantineTime`).
pub const QUARANTINE_MS: u64 = 40_000;
/// Terminated pods kept (`--terminated-pod-gc-threshold`).
pub const TERMINATED_POD_THRESHOLD: usize = 12_500;
/// The taint that lets terminating pods of a dead node go.
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

#[derive(Clone, Debug)]
enum Request {
    /// Does the node still exist?
    NodeGet(String),
    /// The Failed phase of a pod; its delete follows.
    Fail { path: String, uid: String },
    /// The final delete of a pod.
    Delete { uid: String },
}

/// The collector's state.
#[derive(Debug)]
pub struct PodGcController {
    next_run_ms: Option<u64>,
    /// Missing nodes and when their quarantine ends.
    quarantine: BTreeMap<String, u64>,
    /// Pods being deleted, by uid.
    deleting: BTreeSet<String>,
    requests: BTreeMap<u64, (Request, u64)>,
    next_tag: u64,
    now_ms: u64,
    deleted: u64,
}

impl Default for PodGcController {
    fn default() -> Self {
        PodGcController {
            next_run_ms: None,
            quarantine: BTreeMap::new(),
            deleting: BTreeSet::new(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            now_ms: 0,
            deleted: 0,
        }
    }
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default()
}

fn terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// `eviction.PodIsEvicted`: failed with reason `Evicted`.
fn evicted(pod: &Value) -> bool {
    phase(pod) == "Failed" && pod.pointer("/status/reason").and_then(Value::as_str) == Some("Evicted")
}

impl PodGcController {
    /// Whether a request tag is this controller's.
    pub fn owns(tag: u64) -> bool {
        in_loop_slot(TAG_BASE, tag)
    }

    /// Pods force-deleted so far.
    pub fn deleted(&self) -> u64 {
        self.deleted
    }

    fn tag(&mut self, request: Request) -> u64 {
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (request, self.now_ms));
        self.next_tag
    }

    /// When the collector runs next.
    pub fn next_due(&self) -> Option<u64> {
        self.next_run_ms
    }

    /// Runs the collector when it is due.
    pub fn sync(&mut self, pods: &Reflector, nodes: &Reflector, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        if self.next_run_ms.is_some_and(|t| t > now) {
            return;
        }
        self.next_run_ms = Some(now + GC_CHECK_PERIOD_MS);
        let all: Vec<&Value> = pods.store().values().collect();
        // gcTerminated
        let mut ended: Vec<&Value> =
            all.iter().copied().filter(|p| matches!(phase(p), "Succeeded" | "Failed")).collect();
        if ended.len() > TERMINATED_POD_THRESHOLD {
            ended.sort_by(|a, b| {
                (!evicted(a), meta(a, "creationTimestamp"), meta(a, "name")).cmp(&(
                    !evicted(b),
                    meta(b, "creationTimestamp"),
                    meta(b, "name"),
                ))
            });
            let excess = ended.len() - TERMINATED_POD_THRESHOLD;
            for pod in ended.into_iter().take(excess) {
                self.fail_and_delete(pod, None, out);
            }
        }
        // gcTerminating
        for pod in all.iter().filter(|p| terminating(p)) {
            let Some(node) = nodes.store().get(node_name(pod)) else { continue };
            let ready = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let out_of_service = node
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|t| t["key"] == TAINT_OUT_OF_SERVICE);
            if !ready && out_of_service {
                self.fail_and_delete(pod, None, out);
            }
        }
        // gcOrphaned: quarantine missing nodes, then check them.
        for pod in &all {
            let node = node_name(pod);
            if !node.is_empty() && !nodes.store().contains_key(node) {
                self.quarantine.entry(node.to_string()).or_insert(now + QUARANTINE_MS);
            }
        }
        let due: Vec<String> = self.quarantine.iter().filter(|(_, t)| **t <= now).map(|(n, _)| n.clone()).collect();
        for node in due {
            self.quarantine.remove(&node);
            if !nodes.store().contains_key(&node) {
                let tag = self.tag(Request::NodeGet(node.clone()));
                out.send(ApiRequest::new(0, Method::Get, format!("/api/v1/nodes/{node}")), tag);
            }
        }
        // gcUnscheduledTerminating
        for pod in all.iter().filter(|p| terminating(p) && node_name(p).is_empty()) {
            self.fail_and_delete(pod, None, out);
        }
    }

    /// `markFailedAndDeletePodWithCondition`.
    fn fail_and_delete(&mut self, pod: &Value, condition: Option<Value>, out: &mut Outbox) {
        let uid = meta(pod, "uid").to_string();
        if !self.deleting.insert(uid.clone()) {
            return;
        }
        let path = format!("/api/v1/namespaces/{}/pods/{}", meta(pod, "namespace"), meta(pod, "name"));
        if matches!(phase(pod), "Succeeded" | "Failed") {
            self.delete(path, uid, out);
            return;
        }
        let mut status = json!({"phase": "Failed"});
        if let Some(c) = condition {
            status["conditions"] = json!([c]);
        }
        let mut request = ApiRequest::new(0, Method::Patch, format!("{path}/status"))
            .with_body(json!({"metadata": {"uid": uid}, "status": status}));
        request.content_type = Some("application/strategic-merge-patch+json".into());
        let tag = self.tag(Request::Fail { path, uid });
        out.send(request, tag);
    }

    fn delete(&mut self, path: String, uid: String, out: &mut Outbox) {
        let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
        let tag = self.tag(Request::Delete { uid });
        out.send(ApiRequest::new(0, Method::Delete, path).with_body(body), tag);
    }

    /// Takes the answer to one of the collector's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, pods: &Reflector, now: u64, out: &mut Outbox) {
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        self.now_ms = now;
        match request {
            Request::NodeGet(node) if response.code == 404 => {
                let orphans: Vec<Value> = pods.store().values().filter(|p| node_name(p) == node).cloned().collect();
                let condition = json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists", "lastTransitionTime": rfc3339(now), "lastProbeTime": null});
                for pod in &orphans {
                    self.fail_and_delete(pod, Some(condition.clone()), out);
                }
            }
            Request::NodeGet(_) => {}
            Request::Fail { path, uid } if (200..300).contains(&response.code) => self.delete(path, uid, out),
            Request::Fail { uid, .. } | Request::Delete { uid } => {
                // Done, or failed: the next run looks again.
                self.deleting.remove(&uid);
                if (200..300).contains(&response.code) {
                    self.deleted += 1;
                }
            }
        }
    }

    /// Forgets requests unanswered for a minute.
    pub fn expire(&mut self, now: u64) -> bool {
        let stale = expired(&self.requests, now);
        for tag in &stale {
            if let Some((Request::Fail { uid, .. } | Request::Delete { uid }, _)) = self.requests.remove(tag) {
                self.deleting.remove(&uid);
            }
        }
        false
    }
}
