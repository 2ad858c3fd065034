//! The node lifecycle controller (pkg/controller/nodelifecycle,
//! node_lifecycle_controller.go, v1.32): watches the kubelets' heartbeats and
//! taints nodes that stop sending them.
//!
//! Every `nodeMonitorPeriod` (5 s) `monitorNodeHealth` looks at each Node and
//! its Lease in `kube-node-lease`. A new heartbeat (the Ready condition's
//! `lastHeartbeatTime`, or a newer Lease `renewTime`) moves the node's probe
//! time to now. A node not heard from for `nodeMonitorGracePeriod` (50 s
//! since v1.32, kubernetes/kubernetes#126287; 60 s `nodeStartupGracePeriod`
//! for a node that never posted status) gets its Ready, MemoryPressure,
//! DiskPressure and PIDPressure conditions set to `Unknown` ("Kubelet stopped
//! posting node status."). On a Ready→not-Ready transition the controller
//! records `NodeNotReady` and marks the node's pods not ready
//! (controller_utils.go `MarkPodsNotReady`).
//!
//! Taints: a node whose Ready condition is `Unknown` is queued for the
//! `node.kubernetes.io/unreachable:NoExecute` taint, `False` for
//! `node.kubernetes.io/not-ready:NoExecute`. The queue of each zone is
//! rate limited (`evictionLimiterQPS` 0.1, burst 1; in a partially
//! disrupted zone 0.01 above 50 nodes and none below; when every zone is
//! fully disrupted no node is tainted and the taints are removed, the
//! "master disruption mode"). The taint eviction controller
//! ([`super::tainteviction`]) then deletes the pods that do not tolerate the
//! taint, after their `tolerationSeconds` (300 s by DefaultTolerationSeconds
//! admission). A Ready node loses both taints. `TaintNodesByCondition`
//! (`doNoScheduleTaintingPass`) keeps NoSchedule taints in step with the
//! conditions and with `spec.unschedulable`
//! (`node.kubernetes.io/unschedulable`).
//!
//! Not modelled: the beta os/arch label reconciliation (kscope's kubelets
//! register both), and DaemonSet pods being spared (no DaemonSets yet).

use super::workqueue::expired;
use super::{in_loop_slot, loop_tag_base, Outbox};
use crate::apimachinery::time::{parse_rfc3339, rfc3339};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Tags of the controller's requests start here.
pub const TAG_BASE: u64 = loop_tag_base(0);
/// The event source (`v1.EventSource{Component: "node-controller"}`).
pub const COMPONENT: &str = "node-controller";
/// How often node health is checked (`--node-monitor-period`).
pub const NODE_MONITOR_PERIOD_MS: u64 = 5_000;
/// How long a node may be silent before it is `Unknown` (`--node-monitor-grace-period`).
pub const NODE_MONITOR_GRACE_PERIOD_MS: u64 = 50_000;
/// The same for a node that never posted status (`--node-startup-grace-period`).
pub const NODE_STARTUP_GRACE_PERIOD_MS: u64 = 60_000;
/// Tokens of the zone tainting queues: one per 10 s (`--node-eviction-rate` 0.1).
const EVICTION_INTERVAL_MS: u64 = 10_000;
/// In a large partially disrupted zone: one per 100 s (`--secondary-node-eviction-rate` 0.01).
const SECONDARY_EVICTION_INTERVAL_MS: u64 = 100_000;
/// Zones above this many nodes keep tainting when partially disrupted (`--large-cluster-size-threshold`).
const LARGE_CLUSTER_THRESHOLD: usize = 50;
/// The not-ready share that makes a zone partially disrupted (`--unhealthy-zone-threshold`).
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
/// Nodes with this label are left out of the zone states.
const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The taint of a node whose Ready condition is `Unknown`.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose Ready condition is `False`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a cordoned node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// (condition, status, taint key): `nodeConditionToTaintKeyStatusMap`.
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

/// The conditions set to `Unknown` when a node goes silent
/// (NetworkUnavailable is left to the network plugin).
const MONITORED_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller last saw of a node (`nodeHealthData`).
#[derive(Clone, Debug, Default)]
struct Health {
    /// When the node was last heard from.
    probe_ms: u64,
    /// When its Ready condition last changed, as the controller saw it.
    ready_transition_ms: u64,
    /// Its Ready condition then, if it had one.
    ready: Option<Value>,
    /// The Lease `renewTime` last seen, in ms.
    lease_renew_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ZoneState {
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// A zone's rate-limited queue of nodes to taint
/// (scheduler.RateLimitedTimedQueue over a token bucket of burst 1).
#[derive(Clone, Debug)]
struct TaintQueue {
    /// One token per this many ms; `None` takes none (`SwapLimiter(0)`).
    interval_ms: Option<u64>,
    /// When the bucket holds its token.
    token_at: u64,
    /// (process at, node) waiting.
    queue: BTreeSet<(u64, String)>,
    /// Every node added and not removed, waiting or done.
    set: BTreeSet<String>,
}

impl TaintQueue {
    fn new(interval_ms: Option<u64>) -> TaintQueue {
        TaintQueue { interval_ms, token_at: 0, queue: BTreeSet::new(), set: BTreeSet::new() }
    }

    fn add(&mut self, node: &str, now: u64) -> bool {
        if !self.set.insert(node.to_string()) {
            return false;
        }
        self.queue.insert((now, node.to_string()));
        true
    }

    fn remove(&mut self, node: &str) -> bool {
        self.queue.retain(|(_, n)| n != node);
        self.set.remove(node)
    }

    /// Takes the token if the bucket has it.
    fn try_accept(&mut self, now: u64) -> bool {
        match self.interval_ms {
            Some(interval) if now >= self.token_at => {
                self.token_at = now + interval;
                true
            }
            _ => false,
        }
    }

    /// A new limiter, full (`SwapLimiter`); the same rate keeps the old one.
    fn swap_limiter(&mut self, interval_ms: Option<u64>) {
        if self.interval_ms != interval_ms {
            self.interval_ms = interval_ms;
            self.token_at = 0;
        }
    }

    /// When the head can be tried next.
    fn next_due(&self) -> Option<u64> {
        let (at, _) = self.queue.first()?;
        self.interval_ms.map(|_| (*at).max(self.token_at))
    }
}

#[derive(Clone, Debug)]
enum Request {
    /// An `Unknown` status write.
    NodeStatus,
    /// A taint write for a node; `Some(zone)` from the NoExecute queue.
    Taints {
        node: String,
        zone: Option<String>,
    },
    /// A pod marked not ready on a node.
    PodNotReady {
        node: String,
    },
    Event,
}

/// The controller's state.
#[derive(Debug)]
pub struct NodeLifecycleController {
    /// Nodes seen, by name.
    known: BTreeSet<String>,
    health: BTreeMap<String, Health>,
    zone_states: BTreeMap<String, ZoneState>,
    tainters: BTreeMap<String, TaintQueue>,
    /// Nodes whose pods must be marked not ready again (a write failed).
    nodes_to_retry: BTreeSet<String>,
    /// Nodes whose NoSchedule taints to check.
    no_schedule_queue: BTreeSet<String>,
    /// Pods newly bound, to mark not ready if their node is.
    pod_queue: BTreeSet<String>,
    /// Nodes with a taint write in flight (one at a time per node).
    taint_writes: BTreeSet<String>,
    /// Tag → (request, when sent).
    requests: BTreeMap<u64, (Request, u64)>,
    next_tag: u64,
    /// The time of the current sync (requests are stamped with it).
    now_ms: u64,
    next_monitor_ms: Option<u64>,
    recorder: EventRecorder,
    marked_unknown: u64,
    taints_written: u64,
}

impl Default for NodeLifecycleController {
    fn default() -> Self {
        NodeLifecycleController {
            known: BTreeSet::new(),
            health: BTreeMap::new(),
            zone_states: BTreeMap::new(),
            tainters: BTreeMap::new(),
            nodes_to_retry: BTreeSet::new(),
            no_schedule_queue: BTreeSet::new(),
            pod_queue: BTreeSet::new(),
            taint_writes: BTreeSet::new(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            now_ms: 0,
            next_monitor_ms: None,
            recorder: EventRecorder::new(COMPONENT, ""),
            marked_unknown: 0,
            taints_written: 0,
        }
    }
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

/// The node's condition of `kind`.
fn condition<'a>(node: &'a Value, kind: &str) -> Option<&'a Value> {
    node.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == kind)
}

fn status_of(condition: Option<&Value>) -> &str {
    condition.and_then(|c| c["status"].as_str()).unwrap_or("Unknown")
}

fn taints(node: &Value) -> Vec<Value> {
    node.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn has_taint(node: &Value, key: &str, effect: &str) -> bool {
    taints(node).iter().any(|t| t["key"] == key && t["effect"] == effect)
}

/// The zone key of a node (component-helpers/node/topology `GetZoneKey`):
/// region and zone joined by `:\0:`, or "" without either label.
pub fn zone_key(node: &Value) -> String {
    let label = |k: &str| node.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1"))).and_then(Value::as_str);
    let region = label("topology.kubernetes.io/region").or(label("failure-domain.beta.kubernetes.io/region"));
    let zone = label("topology.kubernetes.io/zone").or(label("failure-domain.beta.kubernetes.io/zone"));
    if region.is_none() && zone.is_none() {
        return String::new();
    }
    format!("{}:\0:{}", region.unwrap_or_default(), zone.unwrap_or_default())
}

impl NodeLifecycleController {
    /// Whether a request tag is this controller's.
    pub fn owns(tag: u64) -> bool {
        in_loop_slot(TAG_BASE, tag)
    }

    /// Nodes this controller has set to `Unknown` so far.
    pub fn marked_unknown(&self) -> u64 {
        self.marked_unknown
    }

    /// Taint writes sent so far.
    pub fn taints_written(&self) -> u64 {
        self.taints_written
    }

    fn tag(&mut self, request: Request) -> u64 {
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (request, self.now_ms));
        self.next_tag
    }

    fn event(&mut self, object: &ObjectReference, kind: &str, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let request = self.recorder.event(object, kind, reason, message, now);
        let tag = self.tag(Request::Event);
        out.send(request, tag);
    }

    fn node_event(&mut self, node: &Value, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let reference = ObjectReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: meta(node, "name").into(),
            uid: meta(node, "uid").into(),
            ..ObjectReference::default()
        };
        self.event(&reference, "Normal", reason, message, now, out);
    }

    /// A Node changed: its NoSchedule taints may need to follow.
    pub fn on_node(&mut self, change: &Change) {
        if let Change::Added(n) | Change::Modified(_, n) = change {
            self.no_schedule_queue.insert(meta(n, "name").to_string());
        }
    }

    /// A pod changed: a newly bound one may need marking not ready.
    pub fn on_pod(&mut self, change: &Change) {
        let node_of = |p: &Value| p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().to_string();
        match change {
            Change::Added(p) if !node_of(p).is_empty() => {
                self.pod_queue.insert(object_key(p));
            }
            Change::Modified(old, p) if !node_of(p).is_empty() && node_of(old) != node_of(p) => {
                self.pod_queue.insert(object_key(p));
            }
            _ => {}
        }
    }

    /// When the controller wants to run next.
    pub fn next_due(&self) -> Option<u64> {
        let taints = self.tainters.values().filter_map(TaintQueue::next_due).min();
        [self.next_monitor_ms, taints].into_iter().flatten().min()
    }

    /// Runs what is due: the NoSchedule pass for changed nodes, newly bound
    /// pods, the health monitor every 5 s and the zones' tainting queues.
    pub fn sync(&mut self, nodes: &Reflector, leases: &Reflector, pods: &Reflector, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        for name in std::mem::take(&mut self.no_schedule_queue) {
            if let Some(node) = nodes.store().get(&name) {
                if !self.no_schedule_pass(node, now, out) {
                    self.no_schedule_queue.insert(name);
                }
            }
        }
        for key in std::mem::take(&mut self.pod_queue) {
            self.process_pod(&key, pods, now, out);
        }
        if self.next_monitor_ms.is_none_or(|t| t <= now) {
            self.next_monitor_ms = Some(now + NODE_MONITOR_PERIOD_MS);
            self.monitor_node_health(nodes, leases, pods, now, out);
        }
        self.no_execute_tainting_pass(nodes, now, out);
    }

    /// `processPod`: a pod bound to a node that is not ready is marked not ready.
    fn process_pod(&mut self, key: &str, pods: &Reflector, now: u64, out: &mut Outbox) {
        let Some(pod) = pods.store().get(key) else { return };
        let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
        let Some(health) = self.health.get(node) else { return };
        let Some(ready) = health.ready.as_ref() else { return };
        if ready["status"] != "True" {
            let node = node.to_string();
            self.mark_pods_not_ready(std::slice::from_ref(pod), &node, now, out);
        }
    }

    /// `doNoScheduleTaintingPass`. Returns false when it must be tried again.
    fn no_schedule_pass(&mut self, node: &Value, now: u64, out: &mut Outbox) -> bool {
        let mut wanted: Vec<&str> = Vec::new();
        for c in node.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten() {
            for (kind, status, key) in CONDITION_TAINTS {
                if c["type"] == kind && c["status"] == status {
                    wanted.push(key);
                }
            }
        }
        if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            wanted.push(TAINT_UNSCHEDULABLE);
        }
        let managed = |key: &str| key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == key);
        let have: Vec<String> = taints(node)
            .iter()
            .filter(|t| t["effect"] == "NoSchedule")
            .filter_map(|t| t["key"].as_str())
            .filter(|k| managed(k))
            .map(str::to_string)
            .collect();
        let add: Vec<&str> = wanted.iter().copied().filter(|k| !have.iter().any(|h| h == k)).collect();
        let remove: Vec<&str> = have.iter().map(String::as_str).filter(|h| !wanted.contains(h)).collect();
        if add.is_empty() && remove.is_empty() {
            return true;
        }
        let add: Vec<(&str, &str)> = add.into_iter().map(|k| (k, "NoSchedule")).collect();
        let remove: Vec<(&str, &str)> = remove.into_iter().map(|k| (k, "NoSchedule")).collect();
        self.swap_taints(node, &add, &remove, None, now, out)
    }

    /// `SwapNodeControllerTaint`: adds `add` (stamped `timeAdded` now) and
    /// removes `remove`, as one patch with the node's resourceVersion.
    /// Returns false when a write to the node is already in flight.
    fn swap_taints(
        &mut self,
        node: &Value,
        add: &[(&str, &str)],
        remove: &[(&str, &str)],
        zone: Option<String>,
        now: u64,
        out: &mut Outbox,
    ) -> bool {
        let name = meta(node, "name").to_string();
        if self.taint_writes.contains(&name) {
            return false;
        }
        let before = taints(node);
        let mut after: Vec<Value> = before
            .iter()
            .filter(|t| !remove.iter().any(|(k, e)| t["key"] == *k && t["effect"] == *e))
            .cloned()
            .collect();
        for (key, effect) in add {
            let taint = json!({"key": key, "effect": effect, "timeAdded": rfc3339(now)});
            match after.iter_mut().find(|t| t["key"] == *key && t["effect"] == *effect) {
                Some(existing) => *existing = taint,
                None => after.push(taint),
            }
        }
        if after == before {
            return true;
        }
        let taints = if after.is_empty() { Value::Null } else { json!(after) };
        let patch = json!({"metadata": {"resourceVersion": meta(node, "resourceVersion")}, "spec": {"taints": taints}});
        let mut request = ApiRequest::new(0, Method::Patch, format!("/api/v1/nodes/{name}")).with_body(patch);
        request.content_type = Some("application/strategic-merge-patch+json".into());
        let tag = self.tag(Request::Taints { node: name.clone(), zone });
        out.send(request, tag);
        self.taint_writes.insert(name);
        self.taints_written += 1;
        true
    }

    /// `markNodeAsReachable`: both NoExecute taints off, out of the queue.
    fn mark_node_as_reachable(&mut self, node: &Value, now: u64, out: &mut Outbox) {
        let remove = [(TAINT_UNREACHABLE, "NoExecute"), (TAINT_NOT_READY, "NoExecute")];
        if remove.iter().any(|(k, e)| has_taint(node, k, e)) {
            self.swap_taints(node, &[], &remove, None, now, out);
        }
        if let Some(q) = self.tainters.get_mut(&zone_key(node)) {
            q.remove(meta(node, "name"));
        }
    }

    fn add_zone(&mut self, node: &Value) {
        let zone = zone_key(node);
        if !self.zone_states.contains_key(&zone) {
            self.zone_states.insert(zone.clone(), ZoneState::Initial);
            self.tainters.insert(zone, TaintQueue::new(Some(EVICTION_INTERVAL_MS)));
        }
    }

    /// `monitorNodeHealth`.
    fn monitor_node_health(
        &mut self,
        nodes: &Reflector,
        leases: &Reflector,
        pods: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        let all: Vec<&Value> = nodes.store().values().collect();
        // classifyNodes
        for node in &all {
            let name = meta(node, "name");
            if self.known.contains(name) {
                self.add_zone(node);
                continue;
            }
            let message = format!("Node {name} event: Registered Node {name} in Controller");
            self.node_event(node, "RegisteredNode", &message, now, out);
            self.known.insert(name.to_string());
            self.add_zone(node);
            self.mark_node_as_reachable(node, now, out);
        }
        let present: BTreeSet<&str> = all.iter().map(|n| meta(n, "name")).collect();
        let deleted: Vec<String> = self.known.iter().filter(|n| !present.contains(n.as_str())).cloned().collect();
        for name in deleted {
            let node = json!({"metadata": {"name": name}});
            let message = format!("Node {name} event: Removing Node {name} from Controller");
            self.node_event(&node, "RemovingNode", &message, now, out);
            self.known.remove(&name);
            self.health.remove(&name);
            self.nodes_to_retry.remove(&name);
        }

        let mut zone_conditions: BTreeMap<String, Vec<bool>> = BTreeMap::new();
        for node in &all {
            let name = meta(node, "name").to_string();
            let lease = leases.store().get(&format!("kube-node-lease/{name}"));
            let (observed, current) = self.try_update_node_health(node, lease, now, out);
            let excluded =
                node.pointer(&format!("/metadata/labels/{}", LABEL_EXCLUDE_DISRUPTION.replace('/', "~1"))).is_some();
            if !excluded {
                zone_conditions.entry(zone_key(node)).or_default().push(current.as_deref() == Some("True"));
            }
            let Some(current) = current else { continue };
            self.process_taint_based_eviction(node, &observed, now, out);
            let became_not_ready = current != "True" && observed == "True";
            if became_not_ready {
                self.node_event(node, "NodeNotReady", &format!("Node {name} status is now: NodeNotReady"), now, out);
            }
            if became_not_ready || (self.nodes_to_retry.contains(&name) && observed != "True") {
                let on_node: Vec<Value> = pods
                    .store()
                    .values()
                    .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name.as_str()))
                    .cloned()
                    .collect();
                self.nodes_to_retry.remove(&name);
                self.mark_pods_not_ready(&on_node, &name, now, out);
                continue;
            }
            self.nodes_to_retry.remove(&name);
        }
        self.handle_disruption(&zone_conditions, &all, now, out);
    }

    /// `tryUpdateNodeHealth`: returns the Ready status observed in the
    /// cache and the current one (after an `Unknown` this controller wrote),
    /// `None` when the node has no Ready condition.
    fn try_update_node_health(
        &mut self,
        node: &Value,
        lease: Option<&Value>,
        now: u64,
        out: &mut Outbox,
    ) -> (String, Option<String>) {
        let name = meta(node, "name").to_string();
        let created = parse_rfc3339(meta(node, "creationTimestamp")).unwrap_or(0);
        let current_ready = condition(node, "Ready").cloned();
        let saved = self.health.get(&name).cloned();
        let (observed, grace) = match &current_ready {
            None => ("Unknown".to_string(), NODE_STARTUP_GRACE_PERIOD_MS),
            Some(c) => (status_of(Some(c)).to_string(), NODE_MONITOR_GRACE_PERIOD_MS),
        };
        let fresh =
            |ready: Option<Value>| Health { probe_ms: now, ready_transition_ms: now, ready, lease_renew_ms: None };
        let mut health = match (saved, &current_ready) {
            (None, None) => {
                Health { probe_ms: created, ready_transition_ms: created, ready: None, lease_renew_ms: None }
            }
            (Some(h), None) if h.ready.is_none() => h,
            (None, Some(c)) => fresh(Some(c.clone())),
            (Some(h), Some(c)) if h.ready.is_none() => {
                Health { lease_renew_ms: h.lease_renew_ms, ..fresh(Some(c.clone())) }
            }
            (Some(h), None) => Health { lease_renew_ms: h.lease_renew_ms, ..fresh(None) },
            (Some(h), Some(c)) => {
                let saved_ready = h.ready.clone().unwrap_or(Value::Null);
                if saved_ready["lastHeartbeatTime"] != c["lastHeartbeatTime"] {
                    let transition = if saved_ready["lastTransitionTime"] != c["lastTransitionTime"] {
                        now
                    } else {
                        h.ready_transition_ms
                    };
                    Health {
                        probe_ms: now,
                        ready_transition_ms: transition,
                        ready: Some(c.clone()),
                        lease_renew_ms: h.lease_renew_ms,
                    }
                } else {
                    h
                }
            }
        };
        // A renewed Lease counts as a heartbeat.
        let renew = lease.and_then(|l| l.pointer("/spec/renewTime")).and_then(Value::as_str).and_then(parse_rfc3339);
        if let Some(renew) = renew {
            if health.lease_renew_ms.is_none_or(|seen| seen < renew) {
                health.lease_renew_ms = Some(renew);
                health.probe_ms = now;
            }
        }
        let mut current = current_ready.as_ref().map(|c| status_of(Some(c)).to_string());
        if now > health.probe_ms + grace {
            let mut updated = node.clone();
            let stamp = rfc3339(now);
            let conditions = updated["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut conditions = conditions;
            for kind in MONITORED_CONDITIONS {
                match conditions.iter_mut().find(|c| c["type"] == kind) {
                    None => conditions.push(json!({
                        "type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.",
                        "lastHeartbeatTime": meta(node, "creationTimestamp"), "lastTransitionTime": stamp,
                    })),
                    Some(c) if c["status"] != "Unknown" => {
                        c["status"] = json!("Unknown");
                        c["reason"] = json!("NodeStatusUnknown");
                        c["message"] = json!("Kubelet stopped posting node status.");
                        c["lastTransitionTime"] = json!(stamp);
                    }
                    Some(_) => {}
                }
            }
            updated["status"]["conditions"] = json!(conditions);
            let ready = condition(&updated, "Ready").cloned();
            if ready.as_ref() != current_ready.as_ref() {
                let request =
                    ApiRequest::new(0, Method::Put, format!("/api/v1/nodes/{name}/status")).with_body(updated);
                let tag = self.tag(Request::NodeStatus);
                out.send(request, tag);
                self.marked_unknown += 1;
                health.ready = ready;
                health.ready_transition_ms = now;
                current = Some("Unknown".to_string());
            }
        }
        self.health.insert(name, health);
        (observed, current)
    }

    /// `processTaintBaseEviction`.
    fn process_taint_based_eviction(&mut self, node: &Value, observed: &str, now: u64, out: &mut Outbox) {
        let (add, opposite) = match observed {
            "False" => (TAINT_NOT_READY, TAINT_UNREACHABLE),
            "Unknown" => (TAINT_UNREACHABLE, TAINT_NOT_READY),
            _ => {
                self.mark_node_as_reachable(node, now, out);
                return;
            }
        };
        if has_taint(node, opposite, "NoExecute") {
            // Swapped at once: the node is already being evicted.
            self.swap_taints(node, &[(add, "NoExecute")], &[(opposite, "NoExecute")], None, now, out);
            return;
        }
        let name = meta(node, "name");
        let Some(queue) = self.tainters.get_mut(&zone_key(node)) else { return };
        if !has_taint(node, add, "NoExecute") {
            queue.remove(name);
        }
        queue.add(name, now);
    }

    /// `doNoExecuteTaintingPass` (every `NodeEvictionPeriod`, here when due).
    fn no_execute_tainting_pass(&mut self, nodes: &Reflector, now: u64, out: &mut Outbox) {
        let zones: Vec<String> = self.tainters.keys().cloned().collect();
        for zone in zones {
            loop {
                let Some(queue) = self.tainters.get_mut(&zone) else { break };
                let Some((at, name)) = queue.queue.first().cloned() else { break };
                if !queue.try_accept(now) || at > now {
                    break;
                }
                queue.queue.pop_first();
                let Some(node) = nodes.store().get(&name) else { continue };
                let (add, opposite) = match status_of(condition(node, "Ready")) {
                    "False" => (TAINT_NOT_READY, TAINT_UNREACHABLE),
                    "Unknown" if condition(node, "Ready").is_some() => (TAINT_UNREACHABLE, TAINT_NOT_READY),
                    "True" => continue,
                    _ => {
                        // No Ready condition yet: again in 50 ms.
                        if let Some(q) = self.tainters.get_mut(&zone) {
                            q.queue.insert((now + 50, name));
                        }
                        continue;
                    }
                };
                if !self.swap_taints(
                    node,
                    &[(add, "NoExecute")],
                    &[(opposite, "NoExecute")],
                    Some(zone.clone()),
                    now,
                    out,
                ) {
                    if let Some(q) = self.tainters.get_mut(&zone) {
                        q.queue.insert((now + 1, name));
                    }
                }
            }
        }
    }

    /// `handleDisruption`: zone states and their tainting rates.
    fn handle_disruption(
        &mut self,
        zone_conditions: &BTreeMap<String, Vec<bool>>,
        nodes: &[&Value],
        now: u64,
        out: &mut Outbox,
    ) {
        let mut new_states = BTreeMap::new();
        let mut all_are_fully_disrupted = true;
        for (zone, ready) in zone_conditions {
            let ready_count = ready.iter().filter(|r| **r).count();
            let not_ready = ready.len() - ready_count;
            let state = if ready_count == 0 && not_ready > 0 {
                ZoneState::FullDisruption
            } else if not_ready > 2 && not_ready as f64 / ready.len() as f64 >= UNHEALTHY_ZONE_THRESHOLD {
                ZoneState::PartialDisruption
            } else {
                ZoneState::Normal
            };
            if state != ZoneState::FullDisruption {
                all_are_fully_disrupted = false;
            }
            new_states.insert(zone.clone(), state);
            self.zone_states.entry(zone.clone()).or_insert(ZoneState::Initial);
        }
        let mut all_were_fully_disrupted = true;
        let zones: Vec<(String, ZoneState)> = self.zone_states.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (zone, state) in zones {
            if !zone_conditions.contains_key(&zone) {
                self.zone_states.remove(&zone);
                continue;
            }
            if state != ZoneState::FullDisruption {
                all_were_fully_disrupted = false;
                break;
            }
        }
        if all_are_fully_disrupted && all_were_fully_disrupted {
            return;
        }
        if all_are_fully_disrupted {
            // Every node is silent: more likely the control plane's network
            // than every node at once. Evict nothing.
            for node in nodes {
                self.mark_node_as_reachable(node, now, out);
            }
            for (zone, state) in self.zone_states.iter_mut() {
                if let Some(q) = self.tainters.get_mut(zone) {
                    q.swap_limiter(None);
                }
                *state = ZoneState::FullDisruption;
            }
            return;
        }
        if all_were_fully_disrupted {
            for node in nodes {
                if let Some(h) = self.health.get_mut(meta(node, "name")) {
                    h.probe_ms = now;
                    h.ready_transition_ms = now;
                }
            }
            let zones: Vec<String> = self.zone_states.keys().cloned().collect();
            for zone in zones {
                let state = new_states.get(&zone).copied().unwrap_or(ZoneState::Normal);
                self.set_limiter(&zone, zone_conditions.get(&zone).map_or(0, Vec::len), state);
                self.zone_states.insert(zone, state);
            }
            return;
        }
        let zones: Vec<(String, ZoneState)> = self.zone_states.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (zone, state) in zones {
            let new_state = new_states.get(&zone).copied().unwrap_or(ZoneState::Normal);
            if state != new_state {
                self.set_limiter(&zone, zone_conditions.get(&zone).map_or(0, Vec::len), new_state);
                self.zone_states.insert(zone, new_state);
            }
        }
    }

    /// `setLimiterInZone`.
    fn set_limiter(&mut self, zone: &str, size: usize, state: ZoneState) {
        let interval = match state {
            ZoneState::Normal | ZoneState::FullDisruption | ZoneState::Initial => Some(EVICTION_INTERVAL_MS),
            ZoneState::PartialDisruption if size > LARGE_CLUSTER_THRESHOLD => Some(SECONDARY_EVICTION_INTERVAL_MS),
            ZoneState::PartialDisruption => None,
        };
        if let Some(q) = self.tainters.get_mut(zone) {
            q.swap_limiter(interval);
        }
    }

    /// `MarkPodsNotReady`: each pod's Ready condition to False, with a
    /// `NodeNotReady` warning.
    fn mark_pods_not_ready(&mut self, pods: &[Value], node: &str, now: u64, out: &mut Outbox) {
        for pod in pods {
            if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
                continue;
            }
            let mut updated = pod.clone();
            let Some(conditions) = updated.pointer_mut("/status/conditions").and_then(Value::as_array_mut) else {
                continue;
            };
            let Some(ready) = conditions.iter_mut().find(|c| c["type"] == "Ready") else { continue };
            if ready["status"] == "False" {
                continue;
            }
            ready["status"] = json!("False");
            ready["lastTransitionTime"] = json!(rfc3339(now));
            let path = format!("/api/v1/namespaces/{}/pods/{}/status", meta(pod, "namespace"), meta(pod, "name"));
            let tag = self.tag(Request::PodNotReady { node: node.to_string() });
            out.send(ApiRequest::new(0, Method::Put, path).with_body(updated), tag);
            let reference = ObjectReference::to(pod);
            self.event(&reference, "Warning", "NodeNotReady", "Node is not ready", now, out);
        }
    }

    /// Takes the answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64) {
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        let ok = (200..300).contains(&response.code);
        if !ok && response.code != 404 {
            self.failed(request, now);
        } else if let Request::Taints { node, .. } = request {
            self.taint_writes.remove(&node);
        }
    }

    /// A write failed (a conflict, or no answer): it is tried again.
    fn failed(&mut self, request: Request, now: u64) {
        match request {
            Request::Taints { node, zone } => {
                self.taint_writes.remove(&node);
                match zone.and_then(|z| self.tainters.get_mut(&z)) {
                    Some(q) => {
                        q.queue.insert((now + 1, node));
                    }
                    None => {
                        self.no_schedule_queue.insert(node);
                    }
                }
            }
            Request::PodNotReady { node } => {
                self.nodes_to_retry.insert(node);
            }
            Request::NodeStatus | Request::Event => {}
        }
    }

    /// Requests unanswered for [`IN_FLIGHT_TIMEOUT_MS`](super::workqueue::IN_FLIGHT_TIMEOUT_MS) count as failed.
    /// Returns whether any did.
    pub fn expire(&mut self, now: u64) -> bool {
        let stale = expired(&self.requests, now);
        for tag in &stale {
            if let Some((request, _)) = self.requests.remove(tag) {
                self.failed(request, now);
            }
        }
        !stale.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_key_joins_region_and_zone() {
        let node = json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "a"}}});
        assert_eq!(zone_key(&node), ":\0:a");
        assert_eq!(zone_key(&json!({"metadata": {}})), "");
    }

    #[test]
    fn the_taint_queue_takes_one_node_per_token() {
        let mut q = TaintQueue::new(Some(EVICTION_INTERVAL_MS));
        assert!(q.add("a", 0));
        assert!(q.add("b", 0));
        assert!(!q.add("a", 5), "a node is queued once");
        assert!(q.try_accept(0));
        assert!(!q.try_accept(9_999), "the next token comes 10 s later");
        assert!(q.try_accept(10_000));
        q.swap_limiter(None);
        assert!(!q.try_accept(50_000), "a zone in partial disruption below 50 nodes taints nothing");
        assert!(q.remove("a"));
        assert!(!q.remove("a"));
    }
}
