//! The DaemonSet controller (pkg/controller/daemon of Kubernetes v1.32):
//! one pod of each DaemonSet on every node that should run it.
//!
//! For each DaemonSet, like `syncDaemonSet` in daemon_controller.go:
//!
//! - its history (update.go `constructHistory`): the ControllerRevisions it
//!   controls (adopting matching orphans), the current one being the one
//!   whose `data` is the DaemonSet's template as a strategic merge patch;
//!   none is created as `<name>-<hash>` with the next revision number, and
//!   the DaemonSet waits until the watch shows it. The hash labels the pods
//!   (`controller-revision-hash`);
//! - `manage`: for each node, `NodeShouldRunDaemonPod` (the template's
//!   nodeSelector and required node affinity match, and its tolerations,
//!   with the DaemonSet defaults, cover the node's NoSchedule and NoExecute
//!   taints; an untolerated NoSchedule taint alone lets a running pod stay)
//!   decides whether to create a pod there, pinned by a required node
//!   affinity on `metadata.name`, or to delete its pods; failed and
//!   succeeded pods are replaced (failed ones with a back-off from 1 s to
//!   15 min), surplus pods deleted, in slow-start batches of at most
//!   `BurstReplicas` (250);
//! - when nothing is pending, `RollingUpdate` (update.go `rollingUpdate`):
//!   without surge, old pods are deleted while at most `maxUnavailable`
//!   nodes lack an available pod; with `maxSurge`, new pods are created
//!   beside old ones and the old deleted once the new are available;
//!   `OnDelete` waits for the user to delete old pods;
//! - old revisions beyond `revisionHistoryLimit` that no pod uses are
//!   deleted (`cleanupHistory`), and the status written
//!   (`updateDaemonSetStatus`).
//!
//! Expectations keep a sync from acting again before the watch has shown
//! what the last one did, as in the ReplicaSet controller. Nodes are
//! visited in name order where upstream walks a Go map, so the pods a
//! rolling update replaces first are the first nodes by name.

use super::replicaset::EXPECTATIONS_TIMEOUT_MS;
use super::Outbox;
use crate::apimachinery::labels::{labels_of, Selector};
use crate::apimachinery::time::parse_rfc3339;
use crate::kube_scheduler::types::{untolerated, Effect, NodeInfo, PodInfo};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The controller's name in events (`source.component`).
pub const COMPONENT: &str = "daemonset-controller";
/// The first tag of the controller's requests (slot 6, see [`super::loop_tag_base`]).
pub const TAG_BASE: u64 = super::loop_tag_base(6);
/// Pods created or deleted per sync at most (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;
/// The label with the hash of the revision a pod was made from
/// (`apps.ControllerRevisionHashLabelKey`, `DefaultDaemonSetUniqueLabelKey`).
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// The label with the template generation a pod was made from
/// (`extensions.DaemonSetTemplateGenerationKey`).
pub const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// The first delay before deleting a failed daemon pod again (kube-controller-manager's
/// `flowcontrol.NewBackOff(1*time.Second, 15*time.Minute)` for the daemon controller).
const FAILED_POD_BACKOFF_MS: u64 = 1_000;
/// The longest such delay.
const FAILED_POD_BACKOFF_MAX_MS: u64 = 15 * 60 * 1000;
/// The first retry after a failed sync (the workqueue's rate limiter starts at 5 ms).
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay (1000 s).
const RETRY_MAX_MS: u64 = 1_000_000;

/// The tolerations every daemon pod gets (daemonset_util.go
/// `AddOrUpdateDaemonPodTolerations`): the node problems the node lifecycle
/// controller taints for, without a time limit, so that neither the
/// scheduler nor taint eviction keeps a daemon off its node.
const DAEMON_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];
/// Tolerated too by pods on the host network.
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

#[derive(Clone, Debug, Default)]
struct Expectation {
    adds: i64,
    deleting: BTreeSet<String>,
    set_ms: u64,
}

/// Pod creations of one sync, sent in slow-start batches.
#[derive(Clone, Debug)]
struct SlowStart {
    started_ms: u64,
    /// Nodes still to get a pod, in order.
    nodes: Vec<String>,
    batch: usize,
    in_flight: usize,
    failed: bool,
    hash: String,
}

#[derive(Clone, Debug)]
enum Request {
    Create {
        ds: String,
    },
    Delete {
        ds: String,
        pod: String,
        name: String,
    },
    /// A ControllerRevision created for the DaemonSet.
    Revision {
        ds: String,
        name: String,
    },
    /// A status write.
    Status {
        ds: String,
    },
    /// An Event written; for a count patch, its path.
    Event(Option<String>),
    Other,
}

/// The controller's state.
#[derive(Debug)]
pub struct DaemonSetsController {
    dirty: BTreeSet<String>,
    expectations: BTreeMap<String, Expectation>,
    creating: BTreeMap<String, SlowStart>,
    /// The DaemonSet as it was when its current writes were computed (for events).
    pending_ds: BTreeMap<String, Value>,
    /// A ControllerRevision being created: (its name, since when); the
    /// DaemonSet waits for the watch to show it.
    revision_pending: BTreeMap<String, (String, u64)>,
    requests: BTreeMap<u64, Request>,
    /// Keys to sync again at a time (retries, minReadySeconds, back-offs).
    delayed: BTreeMap<String, u64>,
    failures: BTreeMap<String, u32>,
    /// `failedPodsBackoff`: per `uid/observedGeneration/node`, (delay, last step).
    failed_pods_backoff: BTreeMap<String, (u64, u64)>,
    next_tag: u64,
    created: u64,
    known: usize,
    recorder: Option<EventRecorder>,
}

impl Default for DaemonSetsController {
    fn default() -> Self {
        DaemonSetsController {
            dirty: BTreeSet::new(),
            expectations: BTreeMap::new(),
            creating: BTreeMap::new(),
            pending_ds: BTreeMap::new(),
            revision_pending: BTreeMap::new(),
            requests: BTreeMap::new(),
            delayed: BTreeMap::new(),
            failures: BTreeMap::new(),
            failed_pods_backoff: BTreeMap::new(),
            next_tag: TAG_BASE,
            created: 0,
            known: 0,
            recorder: None,
        }
    }
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

/// The controller reference of an object, as (kind, name, uid).
fn controller_ref(o: &Value) -> Option<(String, String, String)> {
    o.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let s = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
            (s("kind"), s("name"), s("uid"))
        })
}

/// The DaemonSet an object's controller reference names, as its key.
fn owner_key(o: &Value) -> Option<String> {
    controller_ref(o)
        .filter(|(kind, _, _)| kind == "DaemonSet")
        .map(|(_, name, _)| format!("{}/{name}", meta(o, "namespace")))
}

fn owner_reference(ds: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": meta(ds, "name"), "uid": meta(ds, "uid"),
        "controller": true, "blockOwnerDeletion": true})
}

/// The DaemonSet's selector; none when empty (it selects nothing).
fn selector_of(ds: &Value) -> Option<Selector> {
    ds.pointer("/spec/selector").and_then(Selector::from_label_selector).filter(|s| !s.is_empty())
}

/// Ready, and for longer than `min_ready_ms` (podutil `IsPodAvailable`).
fn available(pod: &Value, min_ready_ms: u64, now: u64) -> bool {
    ready_since(pod).is_some_and(|since| min_ready_ms == 0 || since.is_some_and(|t| t + min_ready_ms < now))
}

/// `Some(when)` when the pod is Ready (`when` unknown without a transition time).
fn ready_since(pod: &Value) -> Option<Option<u64>> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .map(|c| c.get("lastTransitionTime").and_then(Value::as_str).and_then(parse_rfc3339))
}

/// The node a daemon pod is for: its `spec.nodeName`, or the node its
/// required node affinity names (daemonset_util.go `GetTargetNodeName`).
pub fn target_node(pod: &Value) -> Option<String> {
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if !node.is_empty() {
        return Some(node.to_string());
    }
    let terms = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?;
    terms.iter().flat_map(|t| t.get("matchFields").and_then(Value::as_array).into_iter().flatten()).find_map(|e| {
        let values = e.get("values").and_then(Value::as_array)?;
        (e["key"] == "metadata.name" && e["operator"] == "In" && values.len() == 1)
            .then(|| values[0].as_str().map(str::to_string))
            .flatten()
    })
}

/// `podByCreationTimestampAndPhase`: scheduled pods first, then the oldest,
/// then by name.
fn pod_order(pod: &Value) -> (bool, u64, String) {
    let scheduled = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let created = parse_rfc3339(meta(pod, "creationTimestamp")).unwrap_or(0);
    (!scheduled, created, meta(pod, "name").to_string())
}

/// The DaemonSet's template generation (`util.GetTemplateGeneration`).
fn template_generation(ds: &Value) -> Option<i64> {
    ds.pointer("/metadata/annotations")
        .and_then(|a| a.get(crate::kube_apiserver::registry::TEMPLATE_GENERATION))
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
}

/// Whether a pod is of the current revision or template generation (`util.IsPodUpdated`).
fn pod_updated(pod: &Value, hash: &str, generation: Option<i64>) -> bool {
    let labels = labels_of(pod);
    let template_matches = generation.is_some_and(|g| labels.get(POD_TEMPLATE_GENERATION) == Some(&g.to_string()));
    let hash_matches = !hash.is_empty() && labels.get(CONTROLLER_REVISION_HASH).map(String::as_str) == Some(hash);
    hash_matches || template_matches
}

/// Adds the DaemonSet tolerations to a pod spec (v1helper
/// `AddOrUpdateTolerationInPodSpec`: an equal key/operator/value/effect is replaced).
fn add_daemon_tolerations(spec: &mut Value) {
    if !spec.is_object() {
        *spec = json!({});
    }
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    let extra = host_network.then_some((NETWORK_UNAVAILABLE, "NoSchedule"));
    let mut list: Vec<Value> = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    for (key, effect) in DAEMON_TOLERATIONS.into_iter().chain(extra) {
        let toleration = json!({"key": key, "operator": "Exists", "effect": effect});
        let same = |t: &Value| {
            t.get("key").and_then(Value::as_str) == Some(key)
                && t.get("operator").and_then(Value::as_str) == Some("Exists")
                && t.get("value").and_then(Value::as_str).unwrap_or_default().is_empty()
                && t.get("effect").and_then(Value::as_str) == Some(effect)
        };
        match list.iter().position(same) {
            Some(i) => list[i] = toleration,
            None => list.push(toleration),
        }
    }
    spec["tolerations"] = Value::Array(list);
}

/// `NodeShouldRunDaemonPod`: (should run, should continue running). A pod
/// of the template (with the daemon tolerations) must fit the node's name,
/// the template's nodeSelector and required node affinity, and tolerate its
/// NoSchedule and NoExecute taints; a pod already there may stay when only
/// NoSchedule taints are untolerated.
pub fn node_should_run(node: &Value, ds: &Value) -> (bool, bool) {
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let node_name = meta(node, "name");
    let wanted = template.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if !wanted.is_empty() && wanted != node_name {
        return (false, false);
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    add_daemon_tolerations(&mut spec);
    let pod =
        PodInfo::parse(&json!({"metadata": template.get("metadata").cloned().unwrap_or(json!({})), "spec": spec}));
    let info = NodeInfo::from_node(node);
    if !pod.required_node_affinity.matches(&info) {
        return (false, false);
    }
    if untolerated(&info.taints, &pod.tolerations, &[Effect::NoSchedule, Effect::NoExecute]).is_some() {
        return (false, untolerated(&info.taints, &pod.tolerations, &[Effect::NoExecute]).is_none());
    }
    (true, true)
}

/// A daemon pod for `node` (daemonset_util.go `CreatePodTemplate`,
/// `ReplaceDaemonSetPodNodeNameNodeAffinity`, controller_utils.go
/// `GetPodFromTemplate`): the template with the daemon tolerations, the
/// revision hash and template generation labels, and a required node
/// affinity on the node's name in place of the template's.
fn daemon_pod(ds: &Value, node: &str, hash: &str) -> Value {
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    add_daemon_tolerations(&mut spec);
    let term =
        json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    if !spec["affinity"].is_object() {
        spec["affinity"] = json!({});
    }
    if !spec["affinity"]["nodeAffinity"].is_object() {
        spec["affinity"]["nodeAffinity"] = json!({});
    }
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = term;
    let mut labels = template.pointer("/metadata/labels").cloned().filter(Value::is_object).unwrap_or(json!({}));
    if let Some(g) = template_generation(ds) {
        labels[POD_TEMPLATE_GENERATION] = json!(g.to_string());
    }
    if !hash.is_empty() {
        labels[CONTROLLER_REVISION_HASH] = json!(hash);
    }
    let mut metadata = json!({
        "generateName": format!("{}-", meta(ds, "name")),
        "namespace": meta(ds, "namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(ds)],
    });
    for field in ["annotations", "finalizers"] {
        if let Some(v) = template.pointer(&format!("/metadata/{field}")) {
            metadata[field] = v.clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// The revision data of a DaemonSet (update.go `getPatch`): its template as
/// a strategic merge patch replacing `spec.template`.
pub fn revision_data(ds: &Value) -> Value {
    let mut template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    if let Some(m) = template.as_object_mut() {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

fn revision_number(cr: &Value) -> i64 {
    cr.get("revision").and_then(Value::as_i64).unwrap_or(0)
}

/// One sync's view of a DaemonSet's pods: by target node, each list in
/// [`pod_order`].
type NodePods<'a> = BTreeMap<String, Vec<&'a Value>>;

impl DaemonSetsController {
    /// Whether the controller sent the request tagged `tag`.
    pub fn owns(tag: u64) -> bool {
        super::in_loop_slot(TAG_BASE, tag)
    }

    /// DaemonSets known.
    pub fn count(&self) -> usize {
        self.known
    }

    /// Pods created so far.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// When a delayed sync is due next.
    pub fn next_due(&self) -> Option<u64> {
        self.delayed.values().copied().min()
    }

    fn tag(&mut self, request: Request) -> u64 {
        self.next_tag += 1;
        self.requests.insert(self.next_tag, request);
        self.next_tag
    }

    /// A DaemonSet changed: sync it; a deleted one is forgotten.
    pub fn on_daemon_set(&mut self, change: &Change) {
        match change {
            Change::Added(o) | Change::Modified(_, o) => {
                self.dirty.insert(object_key(o));
            }
            Change::Deleted(o) => {
                let key = object_key(o);
                self.delayed.remove(&key);
                self.expectations.remove(&key);
                self.creating.remove(&key);
                self.pending_ds.remove(&key);
                self.revision_pending.remove(&key);
                self.failures.remove(&key);
                self.dirty.remove(&key);
            }
        }
    }

    /// A pod changed: observe expectations and sync the DaemonSets concerned
    /// (`addPod`, `updatePod`, `deletePod`).
    pub fn on_pod(&mut self, change: &Change, daemon_sets: &Reflector) {
        let (pod, old) = match change {
            Change::Added(p) | Change::Deleted(p) => (p, None),
            Change::Modified(old, p) => (p, Some(old)),
        };
        let pod_key = object_key(pod);
        if let Some(key) = owner_key(pod) {
            if let Some(e) = self.expectations.get_mut(&key) {
                match change {
                    Change::Added(_) if !deleting(pod) => e.adds -= 1,
                    // A pod marked for deletion counts as deleted.
                    _ if deleting(pod) || matches!(change, Change::Deleted(_)) => {
                        e.deleting.remove(&pod_key);
                    }
                    _ => {}
                }
            }
            self.dirty.insert(key);
        } else if controller_ref(pod).is_none() {
            // An orphan: the DaemonSets whose selector matches may adopt it.
            let labels = labels_of(pod);
            for (key, ds) in daemon_sets.store() {
                if meta(ds, "namespace") == meta(pod, "namespace")
                    && selector_of(ds).is_some_and(|s| s.matches(&labels))
                {
                    self.dirty.insert(key.clone());
                }
            }
        }
        if let Some(key) = old.and_then(owner_key) {
            self.dirty.insert(key);
        }
    }

    /// A node joined or changed (`addNode`, `updateNode`): the DaemonSets
    /// whose verdict for it changed sync. Deleted nodes need nothing: their
    /// pods go with the pod garbage collector, and those deletions wake the
    /// DaemonSets.
    pub fn on_node(&mut self, change: &Change, daemon_sets: &Reflector) {
        match change {
            Change::Added(node) => {
                for (key, ds) in daemon_sets.store() {
                    if node_should_run(node, ds).0 {
                        self.dirty.insert(key.clone());
                    }
                }
            }
            Change::Modified(old, node) => {
                if ignore_node_update(old, node) {
                    return;
                }
                for (key, ds) in daemon_sets.store() {
                    if node_should_run(old, ds) != node_should_run(node, ds) {
                        self.dirty.insert(key.clone());
                    }
                }
            }
            Change::Deleted(_) => {}
        }
    }

    /// A ControllerRevision changed: its DaemonSet syncs (it may be waiting
    /// for it), or the DaemonSets that may adopt an orphan.
    pub fn on_revision(&mut self, change: &Change, daemon_sets: &Reflector) {
        let (cr, old) = match change {
            Change::Added(o) | Change::Deleted(o) => (o, None),
            Change::Modified(old, o) => (o, Some(old)),
        };
        if let Some(key) = owner_key(cr) {
            self.dirty.insert(key);
        } else if controller_ref(cr).is_none() && !matches!(change, Change::Deleted(_)) {
            let labels = labels_of(cr);
            for (key, ds) in daemon_sets.store() {
                if meta(ds, "namespace") == meta(cr, "namespace") && selector_of(ds).is_some_and(|s| s.matches(&labels))
                {
                    self.dirty.insert(key.clone());
                }
            }
        }
        if let Some(key) = old.and_then(owner_key) {
            self.dirty.insert(key);
        }
    }

    /// Drops expectations older than the timeout and wakes delayed syncs;
    /// whether any did.
    pub fn expire(&mut self, now: u64) -> bool {
        let mut woke = Vec::new();
        self.expectations.retain(|k, e| {
            let keep = now.saturating_sub(e.set_ms) < EXPECTATIONS_TIMEOUT_MS;
            if !keep {
                woke.push(k.clone());
            }
            keep
        });
        // Creations or revisions whose answers never came give up too.
        self.creating.retain(|k, c| {
            let keep = now.saturating_sub(c.started_ms) < EXPECTATIONS_TIMEOUT_MS;
            if !keep {
                woke.push(k.clone());
            }
            keep
        });
        self.revision_pending.retain(|k, (_, since)| {
            let keep = now.saturating_sub(*since) < EXPECTATIONS_TIMEOUT_MS;
            if !keep {
                woke.push(k.clone());
            }
            keep
        });
        self.delayed.retain(|k, t| {
            let keep = *t > now;
            if !keep {
                woke.push(k.clone());
            }
            keep
        });
        let any = !woke.is_empty();
        self.dirty.extend(woke);
        any
    }

    fn satisfied(&self, key: &str) -> bool {
        self.expectations.get(key).is_none_or(|e| e.adds <= 0 && e.deleting.is_empty())
            && !self.creating.contains_key(key)
    }

    /// Syncs every DaemonSet marked dirty (except those waiting out a retry delay).
    pub fn sync(
        &mut self,
        pods: &Reflector,
        nodes: &Reflector,
        daemon_sets: &Reflector,
        revisions: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        self.known = daemon_sets.store().len();
        for key in std::mem::take(&mut self.dirty) {
            if self.delayed.get(&key).is_some_and(|t| *t > now) && self.failures.contains_key(&key) {
                continue;
            }
            if let Some(ds) = daemon_sets.store().get(&key) {
                self.sync_one(&key, ds, pods, nodes, revisions, now, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sync_one(
        &mut self,
        key: &str,
        ds: &Value,
        pods: &Reflector,
        nodes: &Reflector,
        revisions: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        if deleting(ds) {
            // The history may be going already; the status cannot be trusted.
            return;
        }
        let Some(selector) = selector_of(ds) else {
            self.event(
                ds,
                "Warning",
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
                now,
                out,
            );
            return;
        };
        if let Some((name, _)) = self.revision_pending.get(key) {
            let revision_key = format!("{}/{name}", meta(ds, "namespace"));
            if !revisions.store().contains_key(&revision_key) {
                return;
            }
            self.revision_pending.remove(key);
        }
        let Some((hash, old_revisions)) = self.construct_history(key, ds, &selector, pods, revisions, now, out) else {
            return;
        };
        let satisfied = self.satisfied(key);
        let all_pods = self.claim_pods(ds, &selector, pods, out);
        // getNodesToDaemonPods: deleted pods that have finished are done with.
        let mut node_pods: NodePods = BTreeMap::new();
        for pod in all_pods.iter().filter(|p| !(deleting(p) && matches!(phase(p), "Succeeded" | "Failed"))) {
            if let Some(node) = target_node(pod) {
                node_pods.entry(node).or_default().push(pod);
            }
        }
        for list in node_pods.values_mut() {
            list.sort_by_key(|p| pod_order(p));
        }
        if satisfied {
            let acted = self.manage(key, ds, nodes, &node_pods, &hash, now, out);
            let strategy = ds.pointer("/spec/updateStrategy/type").and_then(Value::as_str).unwrap_or_default();
            if !acted && strategy == "RollingUpdate" {
                self.rolling_update(key, ds, nodes, &node_pods, &hash, now, out);
            }
            self.cleanup_history(ds, &all_pods, old_revisions, out);
        }
        self.update_status(key, ds, nodes, &node_pods, &hash, satisfied, now, out);
    }

    /// update.go `constructHistory` (with `controlledHistories`,
    /// `dedupCurHistories` and `snapshot`): the current revision's hash and
    /// the old revisions; None while the current revision is being created.
    #[allow(clippy::too_many_arguments)]
    fn construct_history<'a>(
        &mut self,
        key: &str,
        ds: &Value,
        selector: &Selector,
        pods: &Reflector,
        revisions: &'a Reflector,
        now: u64,
        out: &mut Outbox,
    ) -> Option<(String, Vec<&'a Value>)> {
        let namespace = meta(ds, "namespace").to_string();
        let uid = meta(ds, "uid");
        let data = revision_data(ds);
        let mut current: Vec<&Value> = Vec::new();
        let mut old: Vec<&Value> = Vec::new();
        for cr in revisions.store().values().filter(|cr| meta(cr, "namespace") == namespace) {
            let owned = match controller_ref(cr) {
                Some((_, _, owner)) if owner == uid => {
                    if !selector.matches(&labels_of(cr)) {
                        self.patch_owner(cr, "controllerrevisions", json!([{"$patch": "delete", "uid": uid}]), out);
                        continue;
                    }
                    true
                }
                None if !deleting(cr) && selector.matches(&labels_of(cr)) => {
                    self.patch_owner(cr, "controllerrevisions", json!([owner_reference(ds)]), out);
                    true
                }
                _ => false,
            };
            if owned {
                if cr.get("data") == Some(&data) {
                    current.push(cr);
                } else {
                    old.push(cr);
                }
            }
        }
        let next_revision = old.iter().map(|cr| revision_number(cr)).max().unwrap_or(0) + 1;
        let Some(keep) = current.iter().copied().max_by_key(|cr| (revision_number(cr), meta(cr, "name").to_string()))
        else {
            self.snapshot(key, ds, next_revision, now, out);
            return None;
        };
        let hash =
            labels_of(keep).get(CONTROLLER_REVISION_HASH).cloned().unwrap_or_else(|| meta(keep, "name").to_string());
        if current.len() > 1 {
            // Duplicates: relabel the pods to the kept one's hash, delete the rest.
            for pod in pods.store().values().filter(|p| {
                meta(p, "namespace") == namespace
                    && controller_ref(p).is_some_and(|(_, _, owner)| owner == uid)
                    && labels_of(p).get(CONTROLLER_REVISION_HASH) != Some(&hash)
            }) {
                let path = format!("/api/v1/namespaces/{namespace}/pods/{}", meta(pod, "name"));
                let mut request = ApiRequest::new(0, Method::Patch, path)
                    .with_body(json!({"metadata": {"labels": {CONTROLLER_REVISION_HASH: hash}}}));
                request.content_type = Some("application/merge-patch+json".into());
                let tag = self.tag(Request::Other);
                out.send(request, tag);
            }
            for cr in current.iter().filter(|cr| meta(cr, "name") != meta(keep, "name")) {
                let path = format!("/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{}", meta(cr, "name"));
                let tag = self.tag(Request::Other);
                out.send(ApiRequest::new(0, Method::Delete, path), tag);
            }
        }
        if revision_number(keep) < next_revision {
            // Back to an older template (a rollback): it becomes the newest revision.
            let mut updated = keep.clone();
            updated["revision"] = json!(next_revision);
            let path = format!("/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{}", meta(keep, "name"));
            let tag = self.tag(Request::Other);
            out.send(ApiRequest::new(0, Method::Put, path).with_body(updated), tag);
        }
        Some((hash, old))
    }

    /// update.go `snapshot`: the revision `<name>-<hash>` of the current
    /// template, with the template's labels plus the hash, the DaemonSet's
    /// annotations and its controller reference.
    fn snapshot(&mut self, key: &str, ds: &Value, revision: i64, now: u64, out: &mut Outbox) {
        let collision_count = ds.pointer("/status/collisionCount").and_then(Value::as_i64).map(|c| c as i32);
        let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = super::deployment::compute_hash(&template, collision_count);
        let name = format!("{}-{hash}", meta(ds, "name"));
        let mut labels = template.pointer("/metadata/labels").cloned().filter(Value::is_object).unwrap_or(json!({}));
        labels[CONTROLLER_REVISION_HASH] = json!(hash);
        let mut metadata = json!({"name": name, "namespace": meta(ds, "namespace"), "labels": labels,
            "ownerReferences": [owner_reference(ds)]});
        if let Some(a) = ds.pointer("/metadata/annotations") {
            metadata["annotations"] = a.clone();
        }
        let revision = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": metadata,
            "data": revision_data(ds), "revision": revision});
        let path = format!("/apis/apps/v1/namespaces/{}/controllerrevisions", meta(ds, "namespace"));
        let tag = self.tag(Request::Revision { ds: key.to_string(), name: name.clone() });
        out.send(ApiRequest::new(0, Method::Post, path).with_body(revision), tag);
        self.revision_pending.insert(key.to_string(), (name, now));
        self.pending_ds.insert(key.to_string(), ds.clone());
    }

    /// Sets or removes an object's controller reference with a strategic
    /// merge patch (controller_ref_manager.go `AdoptPod`, `ReleasePod` and
    /// their ControllerRevision twins), guarded by its uid.
    fn patch_owner(&mut self, o: &Value, plural: &str, refs: Value, out: &mut Outbox) {
        let group = if plural == "pods" { "/api/v1".to_string() } else { "/apis/apps/v1".to_string() };
        let path = format!("{group}/namespaces/{}/{plural}/{}", meta(o, "namespace"), meta(o, "name"));
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": meta(o, "uid")}});
        let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
        request.content_type = Some("application/strategic-merge-patch+json".into());
        let tag = self.tag(Request::Other);
        out.send(request, tag);
    }

    /// `getDaemonPods`: the pods the DaemonSet controls, adopting matching
    /// orphans and releasing those whose labels stopped matching.
    fn claim_pods<'a>(
        &mut self,
        ds: &Value,
        selector: &Selector,
        pods: &'a Reflector,
        out: &mut Outbox,
    ) -> Vec<&'a Value> {
        let uid = meta(ds, "uid");
        let mut owned = Vec::new();
        for pod in pods.store().values().filter(|p| meta(p, "namespace") == meta(ds, "namespace")) {
            let matches = selector.matches(&labels_of(pod));
            match controller_ref(pod) {
                Some((_, _, owner)) if owner == uid => {
                    if matches {
                        owned.push(pod);
                    } else {
                        self.patch_owner(pod, "pods", json!([{"$patch": "delete", "uid": uid}]), out);
                    }
                }
                None if matches && !deleting(pod) => {
                    self.patch_owner(pod, "pods", json!([owner_reference(ds)]), out);
                    owned.push(pod);
                }
                _ => {}
            }
        }
        owned
    }

    /// `manage` with `podsShouldBeOnNode` and `syncNodes`; whether it sent
    /// anything.
    #[allow(clippy::too_many_arguments)]
    fn manage(
        &mut self,
        key: &str,
        ds: &Value,
        nodes: &Reflector,
        node_pods: &NodePods,
        hash: &str,
        now: u64,
        out: &mut Outbox,
    ) -> bool {
        let surge = surge_count(ds, 1) > 0;
        let min_ready_ms = min_ready_ms(ds);
        let mut create: Vec<String> = Vec::new();
        let mut delete: Vec<&Value> = Vec::new();
        for node in nodes.store().values() {
            let name = meta(node, "name").to_string();
            let (should_run, should_continue) = node_should_run(node, ds);
            let pods = node_pods.get(&name);
            match pods {
                None if should_run => create.push(name),
                _ if should_continue => {
                    let mut running: Vec<&Value> = Vec::new();
                    for pod in pods.into_iter().flatten().copied().filter(|p| !deleting(p)) {
                        match phase(pod) {
                            "Failed" => {
                                // Kubelets that reject a pod fight the controller: back off.
                                let backoff_key = format!(
                                    "{}/{}/{name}",
                                    meta(ds, "uid"),
                                    ds.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0)
                                );
                                if let Some(delay) = self.in_backoff(&backoff_key, now) {
                                    let due = now + delay;
                                    let at = self.delayed.entry(key.to_string()).or_insert(due);
                                    *at = (*at).min(due);
                                    continue;
                                }
                                self.next_backoff(&backoff_key, now);
                                let message = format!(
                                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                                    meta(pod, "namespace"),
                                    meta(pod, "name")
                                );
                                self.event(ds, "Warning", "FailedDaemonPod", &message, now, out);
                                delete.push(pod);
                            }
                            "Succeeded" => {
                                let message = format!(
                                    "Found succeeded daemon pod {}/{} on node {name}, will try to delete it",
                                    meta(pod, "namespace"),
                                    meta(pod, "name")
                                );
                                self.event(ds, "Normal", "SucceededDaemonPod", &message, now, out);
                                delete.push(pod);
                            }
                            _ => running.push(pod),
                        }
                    }
                    if !surge {
                        // More than one: all but the oldest go.
                        delete.extend(running.iter().skip(1));
                        continue;
                    }
                    if running.len() <= 1 {
                        if running.is_empty() && should_run {
                            create.push(name);
                        }
                        continue;
                    }
                    // Surging: an old and a new pod may share the node while
                    // the new one is not yet available.
                    let (mut oldest_new, mut oldest_old) = (None, None);
                    for pod in &running {
                        let slot = if labels_of(pod).get(CONTROLLER_REVISION_HASH).map(String::as_str) == Some(hash) {
                            &mut oldest_new
                        } else {
                            &mut oldest_old
                        };
                        if slot.is_none() {
                            *slot = Some(*pod);
                        } else {
                            delete.push(pod);
                        }
                    }
                    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                        if ready_since(old).is_none() || available(new, min_ready_ms, now) {
                            delete.push(old);
                        }
                    }
                }
                Some(pods) if !should_continue => delete.extend(pods.iter().copied().filter(|p| !deleting(p))),
                _ => {}
            }
        }
        // Unscheduled pods for nodes that do not exist: no one else deletes them.
        for (node, pods) in node_pods {
            if !nodes.store().contains_key(node) {
                delete.extend(
                    pods.iter()
                        .copied()
                        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty()),
                );
            }
        }
        self.sync_nodes(key, ds, &delete, create, hash, now, out)
    }

    /// `syncNodes`: at most [`BURST_REPLICAS`] creations (slow start) and
    /// deletions, with expectations set first; whether anything was sent.
    #[allow(clippy::too_many_arguments)]
    fn sync_nodes(
        &mut self,
        key: &str,
        ds: &Value,
        delete: &[&Value],
        mut create: Vec<String>,
        hash: &str,
        now: u64,
        out: &mut Outbox,
    ) -> bool {
        create.truncate(BURST_REPLICAS);
        let delete = &delete[..delete.len().min(BURST_REPLICAS)];
        if create.is_empty() && delete.is_empty() {
            return false;
        }
        let deleting: BTreeSet<String> = delete.iter().map(|p| object_key(p)).collect();
        self.expectations.insert(key.to_string(), Expectation { adds: create.len() as i64, deleting, set_ms: now });
        self.pending_ds.insert(key.to_string(), ds.clone());
        if !create.is_empty() {
            self.creating.insert(
                key.to_string(),
                SlowStart {
                    started_ms: now,
                    nodes: create,
                    batch: 0,
                    in_flight: 0,
                    failed: false,
                    hash: hash.to_string(),
                },
            );
            self.next_batch(key, out);
        }
        for pod in delete {
            let name = meta(pod, "name").to_string();
            let path = format!("/api/v1/namespaces/{}/pods/{name}", meta(pod, "namespace"));
            let tag = self.tag(Request::Delete { ds: key.to_string(), pod: object_key(pod), name });
            out.send(ApiRequest::new(0, Method::Delete, path), tag);
        }
        true
    }

    /// Sends the next slow-start batch (1, 2, 4, ... pods).
    fn next_batch(&mut self, key: &str, out: &mut Outbox) {
        let Some(ds) = self.pending_ds.get(key).cloned() else { return };
        let Some(s) = self.creating.get_mut(key) else { return };
        s.batch = if s.batch == 0 { 1 } else { s.batch * 2 }.min(s.nodes.len());
        let batch: Vec<String> = s.nodes.drain(..s.batch).collect();
        s.in_flight = batch.len();
        let hash = s.hash.clone();
        let path = format!("/api/v1/namespaces/{}/pods", meta(&ds, "namespace"));
        for node in batch {
            let tag = self.tag(Request::Create { ds: key.to_string() });
            out.send(ApiRequest::new(0, Method::Post, path.clone()).with_body(daemon_pod(&ds, &node, &hash)), tag);
        }
    }

    /// update.go `rollingUpdate`: old pods replaced within `maxUnavailable`,
    /// or new ones created beside them within `maxSurge`.
    #[allow(clippy::too_many_arguments)]
    fn rolling_update<'a>(
        &mut self,
        key: &str,
        ds: &Value,
        nodes: &Reflector,
        node_pods: &NodePods<'a>,
        hash: &str,
        now: u64,
        out: &mut Outbox,
    ) {
        let min_ready_ms = min_ready_ms(ds);
        let generation = template_generation(ds);
        // updatedDesiredNodeCounts: nodes that should run a pod and have none count too.
        let mut by_node: BTreeMap<String, Vec<&'a Value>> =
            node_pods.iter().map(|(n, pods)| (n.clone(), pods.clone())).collect();
        let mut desired = 0;
        for node in nodes.store().values() {
            if node_should_run(node, ds).0 {
                desired += 1;
                by_node.entry(meta(node, "name").to_string()).or_default();
            }
        }
        let max_surge = surge_count(ds, desired);
        let mut max_unavailable = unavailable_count(ds, desired);
        if desired > 0 && max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        let find = |pods: &[&'a Value]| find_updated_pods(pods, hash, generation);
        let is_available = |p: &Value| available(p, min_ready_ms, now);
        if max_surge == 0 {
            let mut unavailable = 0;
            let mut replacements: Vec<&Value> = Vec::new();
            let mut candidates: Vec<&Value> = Vec::new();
            for pods in by_node.values() {
                let Some((new, old)) = find(pods) else {
                    unavailable += 1;
                    continue;
                };
                match (new, old) {
                    (None, None) | (Some(_), Some(_)) => unavailable += 1,
                    (Some(new), None) => {
                        if !is_available(new) {
                            unavailable += 1;
                        }
                    }
                    (None, Some(old)) => {
                        if !is_available(old) {
                            replacements.push(old);
                            unavailable += 1;
                        } else if unavailable < max_unavailable {
                            candidates.push(old);
                        }
                    }
                }
            }
            let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
            replacements.extend(candidates.into_iter().take(room));
            self.sync_nodes(key, ds, &replacements, Vec::new(), hash, now, out);
            return;
        }
        let mut old_to_delete: Vec<&Value> = Vec::new();
        let mut should_not_run: Vec<&Value> = Vec::new();
        let mut candidate_nodes: Vec<String> = Vec::new();
        let mut allowed_nodes: Vec<String> = Vec::new();
        let (mut surging, mut available_count) = (0, 0);
        for (node_name, pods) in &by_node {
            let Some((new, old)) = find(pods) else {
                surging += 1;
                continue;
            };
            if let Some(p) = old.or(new) {
                if is_available(p) {
                    available_count += 1;
                }
            }
            let should_run = || nodes.store().get(node_name).is_some_and(|n| node_should_run(n, ds).0);
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) if !is_available(old) => {
                    if should_run() {
                        allowed_nodes.push(node_name.clone());
                    } else {
                        old_to_delete.push(old);
                    }
                }
                (None, Some(old)) => {
                    if !should_run() {
                        should_not_run.push(old);
                    } else if surging < max_surge {
                        candidate_nodes.push(node_name.clone());
                    }
                }
                (Some(new), Some(old)) => {
                    if is_available(new) {
                        old_to_delete.push(old);
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        // Pods on nodes that no longer fit go only as others become available.
        let deletable = (available_count - desired).clamp(0, should_not_run.len() as i32) as usize;
        old_to_delete.extend(should_not_run.into_iter().take(deletable));
        let room = (max_surge - surging).clamp(0, candidate_nodes.len() as i32) as usize;
        allowed_nodes.extend(candidate_nodes.into_iter().take(room));
        self.sync_nodes(key, ds, &old_to_delete, allowed_nodes, hash, now, out);
    }

    /// update.go `cleanupHistory`: old revisions beyond the limit, oldest
    /// first, unless a pod still carries their hash.
    fn cleanup_history(&mut self, ds: &Value, pods: &[&Value], mut old: Vec<&Value>, out: &mut Outbox) {
        let limit = ds.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10).max(0) as usize;
        let mut to_kill = old.len().saturating_sub(limit);
        if to_kill == 0 {
            return;
        }
        let live: BTreeSet<String> =
            pods.iter().filter_map(|p| labels_of(p).get(CONTROLLER_REVISION_HASH).cloned()).collect();
        old.sort_by_key(|cr| (revision_number(cr), meta(cr, "name").to_string()));
        for cr in old {
            if to_kill == 0 {
                break;
            }
            if labels_of(cr).get(CONTROLLER_REVISION_HASH).is_some_and(|h| live.contains(h)) {
                continue;
            }
            let path =
                format!("/apis/apps/v1/namespaces/{}/controllerrevisions/{}", meta(cr, "namespace"), meta(cr, "name"));
            let tag = self.tag(Request::Other);
            out.send(ApiRequest::new(0, Method::Delete, path), tag);
            to_kill -= 1;
        }
    }

    /// `updateDaemonSetStatus` and `storeDaemonSetStatus`: the counts over
    /// the nodes, written when they changed; `observedGeneration` only when
    /// the sync acted on this generation.
    #[allow(clippy::too_many_arguments)]
    fn update_status(
        &mut self,
        key: &str,
        ds: &Value,
        nodes: &Reflector,
        node_pods: &NodePods,
        hash: &str,
        observed: bool,
        now: u64,
        out: &mut Outbox,
    ) {
        let min_ready_ms = min_ready_ms(ds);
        let generation = template_generation(ds);
        let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut available_n) = (0, 0, 0, 0, 0, 0);
        let mut next_available: Option<u64> = None;
        for node in nodes.store().values() {
            let (should_run, _) = node_should_run(node, ds);
            let pods = node_pods.get(meta(node, "name")).map(Vec::as_slice).unwrap_or_default();
            if !should_run {
                if !pods.is_empty() {
                    misscheduled += 1;
                }
                continue;
            }
            desired += 1;
            let Some(pod) = pods.first() else { continue };
            current += 1;
            if let Some(since) = ready_since(pod) {
                ready += 1;
                if available(pod, min_ready_ms, now) {
                    available_n += 1;
                } else if let Some(t) = since {
                    let due = t + min_ready_ms + 1;
                    next_available = Some(next_available.map_or(due, |n| n.min(due)));
                }
            }
            if pod_updated(pod, hash, generation) {
                updated += 1;
            }
        }
        if let Some(due) = next_available {
            // Look again when the next ready pod has been ready long enough.
            let at = self.delayed.entry(key.to_string()).or_insert(due);
            *at = (*at).min(due);
        }
        let status = ds.get("status").cloned().filter(Value::is_object).unwrap_or(json!({}));
        let int = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
        let ds_generation = ds.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let counts = [
            ("desiredNumberScheduled", desired),
            ("currentNumberScheduled", current),
            ("numberMisscheduled", misscheduled),
            ("numberReady", ready),
            ("updatedNumberScheduled", updated),
            ("numberAvailable", available_n),
            ("numberUnavailable", desired - available_n),
        ];
        if counts.iter().all(|(f, v)| int(f) == *v) && int("observedGeneration") >= ds_generation {
            return;
        }
        let mut status = status;
        for (field, value) in counts {
            // The optional counts are omitted at zero, as Go's `omitempty` leaves them.
            let required = matches!(
                field,
                "desiredNumberScheduled" | "currentNumberScheduled" | "numberMisscheduled" | "numberReady"
            );
            if value == 0 && !required {
                if let Some(m) = status.as_object_mut() {
                    m.remove(field);
                }
            } else {
                status[field] = json!(value);
            }
        }
        if observed {
            status["observedGeneration"] = json!(ds_generation);
        }
        let mut updated_ds = ds.clone();
        updated_ds["status"] = status;
        let path = format!("/apis/apps/v1/namespaces/{}/daemonsets/{}/status", meta(ds, "namespace"), meta(ds, "name"));
        let tag = self.tag(Request::Status { ds: key.to_string() });
        out.send(ApiRequest::new(0, Method::Put, path).with_body(updated_ds), tag);
    }

    /// `flowcontrol.Backoff.IsInBackOffSinceUpdate`: the delay when the
    /// last step was less than a delay ago.
    fn in_backoff(&self, key: &str, now: u64) -> Option<u64> {
        self.failed_pods_backoff.get(key).filter(|(delay, at)| now.saturating_sub(*at) < *delay).map(|(d, _)| *d)
    }

    /// `flowcontrol.Backoff.Next`: 1 s, doubling to 15 min; starting over
    /// after twice the maximum without a step.
    fn next_backoff(&mut self, key: &str, now: u64) {
        let entry = self.failed_pods_backoff.entry(key.to_string()).or_insert((0, now));
        let expired = now.saturating_sub(entry.1) > 2 * FAILED_POD_BACKOFF_MAX_MS;
        entry.0 =
            if entry.0 == 0 || expired { FAILED_POD_BACKOFF_MS } else { (entry.0 * 2).min(FAILED_POD_BACKOFF_MAX_MS) };
        entry.1 = now;
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(
        &mut self,
        tag: u64,
        response: &ApiResponse,
        daemon_sets: &Reflector,
        revisions: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        let message = || {
            response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error").to_string()
        };
        match self.requests.remove(&tag) {
            Some(Request::Create { ds: key }) => self.created_pod(&key, response, now, out),
            Some(Request::Delete { ds: key, pod, name }) => {
                let ok = response.code < 300;
                if !ok {
                    // Not deleted (or gone already): no longer expected to go.
                    if let Some(e) = self.expectations.get_mut(&key) {
                        e.deleting.remove(&pod);
                    }
                }
                let Some(ds) = self.pending_ds.get(&key).cloned() else { return };
                if ok {
                    self.event(&ds, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"), now, out);
                } else if response.code != 404 {
                    self.event(&ds, "Warning", "FailedDelete", &format!("Error deleting: {}", message()), now, out);
                    self.retry_later(&key, now);
                }
            }
            Some(Request::Revision { ds: key, name }) => {
                if response.code < 300 {
                    return;
                }
                self.revision_pending.remove(&key);
                let ds = self.pending_ds.get(&key).cloned();
                let existing =
                    ds.as_ref().and_then(|ds| revisions.store().get(&format!("{}/{name}", meta(ds, "namespace"))));
                match (response.code, ds, existing) {
                    // The name is taken by another template: a hash collision.
                    // Count it in the status, so the next hash differs.
                    (409, Some(ds), Some(existing)) if existing.get("data") != Some(&revision_data(&ds)) => {
                        if let Some(current) = daemon_sets.store().get(&key) {
                            if current.pointer("/status/collisionCount") == ds.pointer("/status/collisionCount") {
                                let mut bumped = current.clone();
                                let count =
                                    current.pointer("/status/collisionCount").and_then(Value::as_i64).unwrap_or(0);
                                bumped["status"]["collisionCount"] = json!(count + 1);
                                let path = format!(
                                    "/apis/apps/v1/namespaces/{}/daemonsets/{}/status",
                                    meta(current, "namespace"),
                                    meta(current, "name")
                                );
                                let tag = self.tag(Request::Status { ds: key.clone() });
                                out.send(ApiRequest::new(0, Method::Put, path).with_body(bumped), tag);
                            }
                        }
                        self.retry_later(&key, now);
                    }
                    _ => self.retry_later(&key, now),
                }
            }
            Some(Request::Status { ds: key }) => {
                if response.code >= 300 {
                    self.retry_later(&key, now);
                } else {
                    self.failures.remove(&key);
                }
            }
            Some(Request::Event(Some(path))) if response.code == 404 => {
                // The Event expired since it was first written: create it again.
                if let Some(request) = self.recorder.as_ref().and_then(|r| r.recreate(&path)) {
                    let tag = self.tag(Request::Event(None));
                    out.send(request, tag);
                }
            }
            _ => {}
        }
    }

    /// The answer to a pod creation: its event, then the next batch.
    fn created_pod(&mut self, key: &str, response: &ApiResponse, now: u64, out: &mut Outbox) {
        let Some(ds) = self.pending_ds.get(key).cloned() else { return };
        if response.code == 201 {
            self.created += 1;
            let name = response.body.as_ref().map(|b| meta(b, "name").to_string()).unwrap_or_default();
            self.event(&ds, "Normal", "SuccessfulCreate", &format!("Created pod: {name}"), now, out);
        } else {
            let message =
                response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error");
            self.event(&ds, "Warning", "FailedCreate", &format!("Error creating: {message}"), now, out);
            // The pod will not show up in the watch.
            if let Some(e) = self.expectations.get_mut(key) {
                e.adds -= 1;
            }
            if let Some(s) = self.creating.get_mut(key) {
                s.failed = true;
            }
        }
        let Some(s) = self.creating.get_mut(key) else { return };
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight > 0 {
            return;
        }
        if s.failed || s.nodes.is_empty() {
            // After a failed batch the rest are skipped: no longer expected.
            let (skipped, failed) = (s.nodes.len() as i64, s.failed);
            self.creating.remove(key);
            if let Some(e) = self.expectations.get_mut(key) {
                e.adds -= skipped;
            }
            if failed {
                self.retry_later(key, now);
            } else {
                self.failures.remove(key);
                self.dirty.insert(key.to_string());
            }
            return;
        }
        self.next_batch(key, out);
    }

    /// A failed sync is retried after a delay doubling from 5 ms to 1000 s
    /// (the workqueue's `AddRateLimited`).
    fn retry_later(&mut self, key: &str, now: u64) {
        let n = self.failures.entry(key.to_string()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        self.delayed.insert(key.to_string(), now + delay);
    }

    /// A legacy (core/v1) event about the DaemonSet, through client-go's
    /// recorder ([`EventRecorder`]: a repeat counts on the first).
    fn event(&mut self, ds: &Value, kind: &str, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let object = ObjectReference {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            namespace: meta(ds, "namespace").to_string(),
            name: meta(ds, "name").to_string(),
            uid: meta(ds, "uid").to_string(),
            resource_version: meta(ds, "resourceVersion").to_string(),
            field_path: String::new(),
        };
        let request = self
            .recorder
            .get_or_insert_with(|| EventRecorder::new(COMPONENT, ""))
            .event(&object, kind, reason, message, now);
        let patch = (request.method == Method::Patch).then(|| request.path.clone());
        let tag = self.tag(Request::Event(patch));
        out.send(request, tag);
    }
}

/// `findUpdatedPodsOnNode`: the node's new and old pod (not being deleted);
/// None when there are several of either, which the manage loop prunes first.
fn find_updated_pods<'a>(
    pods: &[&'a Value],
    hash: &str,
    generation: Option<i64>,
) -> Option<(Option<&'a Value>, Option<&'a Value>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().copied().filter(|p| !deleting(p)) {
        let slot = if pod_updated(pod, hash, generation) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

fn min_ready_ms(ds: &Value) -> u64 {
    ds.pointer("/spec/minReadySeconds").and_then(Value::as_u64).unwrap_or(0) * 1000
}

/// `util.SurgeCount`: maxSurge of `desired` rounded up, for RollingUpdate.
fn surge_count(ds: &Value, desired: i32) -> i32 {
    rolling_value(ds, "maxSurge", desired)
}

/// `util.UnavailableCount`: maxUnavailable of `desired` rounded up, for RollingUpdate.
fn unavailable_count(ds: &Value, desired: i32) -> i32 {
    rolling_value(ds, "maxUnavailable", desired)
}

fn rolling_value(ds: &Value, field: &str, desired: i32) -> i32 {
    if ds.pointer("/spec/updateStrategy/type").and_then(Value::as_str) != Some("RollingUpdate") {
        return 0;
    }
    ds.pointer(&format!("/spec/updateStrategy/rollingUpdate/{field}"))
        .filter(|v| !v.is_null())
        .and_then(|v| super::deployment::scaled_value(v, desired, true))
        .unwrap_or(0)
}

/// `shouldIgnoreNodeUpdate`: nothing but the resourceVersion and the
/// conditions changed, and the same conditions are True.
fn ignore_node_update(old: &Value, new: &Value) -> bool {
    let true_conditions = |n: &Value| -> BTreeSet<String> {
        n.pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["status"] == "True")
                    .filter_map(|c| c.get("type").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if true_conditions(old) != true_conditions(new) {
        return false;
    }
    let strip = |n: &Value| {
        let mut n = n.clone();
        if let Some(m) = n.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        if let Some(m) = n.pointer_mut("/status").and_then(Value::as_object_mut) {
            m.remove("conditions");
        }
        n
    };
    strip(old) == strip(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
    }

    fn ds(spec: Value) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "default", "uid": "u1",
                "annotations": {"deprecated.daemonset.template.generation": "2"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}}})
    }

    #[test]
    fn nodes_are_chosen_by_selector_affinity_and_taints() {
        let plain = ds(json!({"containers": [{"name": "c", "image": "nginx"}]}));
        let n = node("n1", json!({"disk": "ssd"}), json!([]));
        assert_eq!(node_should_run(&n, &plain), (true, true));
        let selected = ds(json!({"nodeSelector": {"disk": "hdd"}, "containers": []}));
        assert_eq!(node_should_run(&n, &selected), (false, false));
        let named = ds(json!({"nodeName": "n2", "containers": []}));
        assert_eq!(node_should_run(&n, &named), (false, false));
        // A NoSchedule taint keeps new pods away but lets a running one stay.
        let tainted = node("n1", json!({}), json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]));
        assert_eq!(node_should_run(&tainted, &plain), (false, true));
        let evicting = node("n1", json!({}), json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]));
        assert_eq!(node_should_run(&evicting, &plain), (false, false));
        let tolerant = ds(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}], "containers": []}));
        assert_eq!(node_should_run(&evicting, &tolerant), (true, true));
        // The daemon tolerations cover cordoned and unreachable nodes.
        let cordoned = node(
            "n1",
            json!({}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
        );
        assert_eq!(node_should_run(&cordoned, &plain), (true, true));
    }

    #[test]
    fn daemon_pods_are_pinned_labelled_and_tolerant() {
        let d = ds(json!({"hostNetwork": true, "containers": [{"name": "c", "image": "nginx"}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}}));
        let pod = daemon_pod(&d, "node-2", "abc");
        assert_eq!(pod["metadata"]["generateName"], "agent-");
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"app": "agent", "controller-revision-hash": "abc", "pod-template-generation": "2"})
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert_eq!(target_node(&pod).as_deref(), Some("node-2"));
        let keys: Vec<&str> =
            pod["spec"]["tolerations"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
                "node.kubernetes.io/disk-pressure",
                "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure",
                "node.kubernetes.io/unschedulable",
                "node.kubernetes.io/network-unavailable"
            ]
        );
        // The matching toleration is replaced by the unlimited one.
        assert!(pod["spec"]["tolerations"][0].get("tolerationSeconds").is_none());
        assert_eq!(
            revision_data(&d)["spec"]["template"]["$patch"],
            "replace",
            "the revision replaces the whole template"
        );
    }

    #[test]
    fn pods_are_updated_by_hash_or_generation() {
        let pod = json!({"metadata": {"labels": {"controller-revision-hash": "h1", "pod-template-generation": "3"}}});
        assert!(pod_updated(&pod, "h1", Some(9)));
        assert!(pod_updated(&pod, "h2", Some(3)));
        assert!(!pod_updated(&pod, "h2", Some(4)));
        assert!(!pod_updated(&pod, "", None));
    }

    #[test]
    fn heartbeats_alone_do_not_wake_daemon_sets() {
        let old = json!({"metadata": {"name": "n", "resourceVersion": "1"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "a"}]}});
        let mut beat = old.clone();
        beat["metadata"]["resourceVersion"] = json!("2");
        beat["status"]["conditions"][0]["lastHeartbeatTime"] = json!("b");
        assert!(ignore_node_update(&old, &beat));
        let mut not_ready = beat.clone();
        not_ready["status"]["conditions"][0]["status"] = json!("False");
        assert!(!ignore_node_update(&old, &not_ready));
        let mut labelled = beat;
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert!(!ignore_node_update(&old, &labelled));
    }
}
