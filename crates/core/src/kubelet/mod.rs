//! The kubelet of one worker node.
//!
//! It registers its Node and keeps its node Lease fresh. The renew interval
//! is a quarter of the 40 s lease duration, 10 s, as in pkg/kubelet/kubelet.go
//! (`nodeLeaseRenewIntervalFraction = 0.25`, `NodeLeaseDurationSeconds`
//! default 40 in pkg/kubelet/apis/config/v1beta1/defaults.go). Each sync is
//! level-triggered: it does whatever step is missing (register, create
//! lease, renew), so a lost message is simply retried at the next sync.
//!
//! It watches the pods bound to its node (`spec.nodeName=<node>`) and runs
//! each in the simulated container runtime ([`pod_worker`]): sandbox and pod
//! IP (from the node's pod CIDR, `10.244.<n>.0/24`, given to the kubelet like
//! its `--pod-cidr` flag), image pulls ([`images`]), containers whose
//! behaviour comes from their command ([`program`]), probes and restarts.
//! Like the status manager it patches `pods/status` whenever the status it
//! computes changes (one patch per pod in flight), records events as
//! `kubelet` on its host, and once a deleted pod's containers are gone and
//! its terminal status is written, deletes it with grace period 0 and a uid
//! precondition. The Node's `status.images` follows the image store, checked
//! with every node status sync (10 s, `nodeStatusUpdateFrequency`).
//!
//! **Hosted programs.** Two images run kscope components instead of a
//! simulated program: a running container of `registry.k8s.io/kube-proxy`
//! is the node's [`KubeProxy`] (`kube-proxy/<node>`), one of
//! `registry.k8s.io/coredns/coredns` is a [`CoreDns`] server
//! (`coredns/<pod>`). The kubelet starts the component on the simulated
//! network when the container starts ([`Context::spawn`]) and stops it when
//! the container stops, is deleted or restarts; killing the component
//! (`sim kill kube-proxy/node-1`) is the container's process dying: the
//! container ends with exit code 137 and is restarted by its restart
//! policy. So a node has proxy rules only while its kube-proxy pod runs, and
//! DNS answers come from the coredns pods, while these components still
//! talk only to kube-apiserver, with their pods' ServiceAccount identities.
//! A `hostNetwork` pod takes the node's address as its IP.

pub mod images;
pub mod pod_worker;
pub mod program;
pub mod static_pods;

use crate::apimachinery::errors::StatusError;
use crate::apimachinery::time::{rfc3339, rfc3339_micro};
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::coredns::CoreDns;
use crate::duration::Duration;
use crate::kube_apiserver::{NODES_PATH, NODE_LEASES_PATH};
use crate::kube_proxy::KubeProxy;
use crate::message::{ApiRequest, ApiResponse, Method, Payload};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{Change, Reflector};
use crate::scenario::NodeSpec;
use images::{ImageRef, ImageStore};
use kscope_protocol::ComponentKind;
use pod_worker::{Env, PodWorker, State};
use serde_json::{json, Value};
use static_pods::StaticPod;
use std::collections::{BTreeMap, BTreeSet};

/// The node lease duration (`nodeLeaseDurationSeconds`, default 40).
pub const NODE_LEASE_DURATION: Duration = Duration::from_secs(40);
/// How often the kubelet renews its lease: a quarter of the lease duration.
pub const NODE_LEASE_RENEW_INTERVAL: Duration = Duration::from_millis(NODE_LEASE_DURATION.ms / 4);
/// The node conditions the kubelet reports, healthy (type, status, reason,
/// message), from pkg/kubelet/nodestatus/setters.go.
const NODE_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
];
/// How often node status is reported even when nothing changed (`nodeStatusReportFrequency`).
const NODE_STATUS_REPORT_MS: u64 = 5 * 60 * 1000;

const TIMER_SYNC: u64 = 1;
const TIMER_HOUSEKEEPING: u64 = 2;
const TIMER_PODS_RETRY: u64 = 3;
const TIMER_WORK: u64 = 4;
const TIMER_FLUSH: u64 = 5;
/// How often the pod watch is checked and stuck requests forgotten.
const HOUSEKEEPING_MS: u64 = 1_000;
/// The sandbox image every node has (kubeadm preloads it).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    RegisterNode,
    CreateLease,
    RenewLease,
    GetNode,
    NodeStatus,
    PodStatus(String),
    FinishDeletion(String),
    /// A static pod's mirror pod created, by the static pod's uid.
    CreateMirror(String),
    /// An Event written; for a count patch, its path.
    Event(Option<String>),
}

/// The kubelet version kscope's nodes report.
pub const KUBELET_VERSION: &str = "v1.32.0";

/// The kubelet component.
#[derive(Debug)]
pub struct Kubelet {
    node: String,
    spec: NodeSpec,
    address: String,
    pod_cidr: String,
    registered: bool,
    lease_exists: bool,
    renewals: u64,
    last_renew_ms: Option<u64>,
    next_request: u64,
    /// Request id → (call, when sent).
    in_flight: BTreeMap<u64, (Call, u64)>,
    pods: Reflector,
    workers: BTreeMap<String, PodWorker>,
    images: ImageStore,
    recorder: EventRecorder,
    /// Pods to sync at the end of this instant.
    dirty: BTreeSet<String>,
    flush_deferred: bool,
    /// (when, pod uid) a pod worker asked to run again.
    wakeups: BTreeSet<(u64, String)>,
    /// The last status sent for each pod.
    sent_status: BTreeMap<String, Value>,
    /// Pods whose status patch is in flight.
    status_in_flight: BTreeSet<String>,
    /// Final deletes not yet confirmed, by pod uid: the pod to delete. One
    /// that fails or goes unanswered is sent again at the next node sync.
    final_deletes: BTreeMap<String, Value>,
    /// Pod IPs in use: last octet → pod uid.
    ips: BTreeMap<u8, String>,
    next_ip: u8,
    images_reported: Option<usize>,
    last_node_status_ms: u64,
    /// The last step of its way to running (see [`crate::flow`]) this
    /// kubelet marked for each pod, by uid.
    flow_marks: BTreeMap<String, u8>,
    /// The static pods this kubelet runs from its manifests directory.
    static_pods: Vec<StaticPod>,
    /// Each static pod's mirror pod uid, by the static pod's uid, once seen.
    mirrors: BTreeMap<String, String>,
    /// The registered Node's uid (mirror pods are owned by it).
    node_uid: String,
    /// The components this kubelet's containers run: id → (pod uid,
    /// container, container id).
    processes: BTreeMap<ComponentId, (String, String, String)>,
}

impl Kubelet {
    /// The kubelet of the node `spec`, at IP `address`, giving pods IPs from
    /// `pod_cidr` (a /24 like `10.244.1.0/24`).
    pub fn new(spec: &NodeSpec, address: &str, pod_cidr: &str) -> Self {
        let mut images = ImageStore::default();
        if let Some(pause) = ImageRef::parse(PAUSE_IMAGE) {
            images.preload(&pause);
        }
        Kubelet {
            node: spec.name.clone(),
            spec: spec.clone(),
            address: address.to_string(),
            pod_cidr: pod_cidr.to_string(),
            registered: false,
            lease_exists: false,
            renewals: 0,
            last_renew_ms: None,
            next_request: 0,
            in_flight: BTreeMap::new(),
            pods: Reflector::new("/api/v1/pods", "", &format!("spec.nodeName={}", spec.name)),
            workers: BTreeMap::new(),
            images,
            recorder: EventRecorder::new("kubelet", &spec.name),
            dirty: BTreeSet::new(),
            flush_deferred: false,
            wakeups: BTreeSet::new(),
            sent_status: BTreeMap::new(),
            status_in_flight: BTreeSet::new(),
            final_deletes: BTreeMap::new(),
            ips: BTreeMap::new(),
            next_ip: 2,
            images_reported: None,
            last_node_status_ms: 0,
            flow_marks: BTreeMap::new(),
            static_pods: Vec::new(),
            mirrors: BTreeMap::new(),
            node_uid: String::new(),
            processes: BTreeMap::new(),
        }
    }

    /// The same kubelet with static pods to run (a control-plane node's).
    pub fn with_static_pods(mut self, pods: Vec<StaticPod>) -> Self {
        // `kubeadm init` pulls the control plane's images before it writes the manifests.
        for image in pods.iter().filter_map(|p| p.pod.pointer("/spec/containers/0/image").and_then(Value::as_str)) {
            if let Some(image) = ImageRef::parse(image) {
                self.images.preload(&image);
            }
        }
        self.static_pods = pods;
        self
    }

    /// Starts a worker for each static pod: the kubelet runs them from its
    /// manifests whether or not the apiserver answers (it may be one of them).
    fn start_static_pods(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let mut seen = self.static_pods.clone();
        for s in &mut seen {
            s.pod["metadata"]["annotations"]["kubernetes.io/config.seen"] = json!(rfc3339_nano(now));
        }
        self.static_pods = seen;
        for s in &self.static_pods {
            let worker = PodWorker::new(&s.pod, now);
            let uid = worker.uid.clone();
            self.workers.insert(uid.clone(), worker);
            self.dirty.insert(uid);
        }
        self.observe_static_pods(ctx);
    }

    /// Looks at the processes of the static pods' components (the
    /// runtime's relist); a pod whose process stopped or came back is synced.
    fn observe_static_pods(&mut self, ctx: &mut Context<'_>) {
        for s in &self.static_pods {
            let uid = s.pod["metadata"]["uid"].as_str().unwrap_or_default();
            let container = s.pod.pointer("/spec/containers/0/name").and_then(Value::as_str).unwrap_or_default();
            let process = ctx.process(&s.component).unwrap_or_default();
            if let Some(w) = self.workers.get_mut(uid) {
                if w.observe_process(container, process.up, process.stops) {
                    self.dirty.insert(uid.to_string());
                }
            }
        }
    }

    /// The static pod with this uid, if it is one.
    fn static_pod(&self, uid: &str) -> Option<&StaticPod> {
        self.static_pods.iter().find(|s| s.pod["metadata"]["uid"] == uid)
    }

    /// Creates the mirror pods that are missing (pkg/kubelet/kubelet.go
    /// `syncPod`: a static pod without a mirror pod gets one).
    fn sync_mirror_pods(&mut self, ctx: &mut Context<'_>) {
        if !self.registered {
            return;
        }
        let now = ctx.now_ms();
        let missing: Vec<Value> = self
            .static_pods
            .iter()
            .filter(|s| {
                let uid = s.pod["metadata"]["uid"].as_str().unwrap_or_default();
                !self.mirrors.contains_key(uid)
                    && !self.in_flight.values().any(|(c, _)| *c == Call::CreateMirror(uid.to_string()))
            })
            .map(|s| s.pod.clone())
            .collect();
        for pod in missing {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
            let seen = pod.pointer("/metadata/annotations/kubernetes.io~1config.seen").cloned();
            let seen = seen.as_ref().and_then(Value::as_str).map_or_else(|| rfc3339_nano(now), str::to_string);
            let body = static_pods::mirror_pod(&pod, &self.node_uid, &seen);
            let request =
                ApiRequest::new(0, Method::Post, "/api/v1/namespaces/kube-system/pods".to_string()).with_body(body);
            self.send(ctx, request, Call::CreateMirror(uid));
        }
    }

    /// Takes a change to a mirror pod of this node.
    fn on_mirror_pod(&mut self, ctx: &mut Context<'_>, change: Change) {
        let (pod, gone) = match change {
            Change::Added(p) | Change::Modified(_, p) => (p, false),
            Change::Deleted(p) => (p, true),
        };
        let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let mirror_uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(static_uid) = self
            .static_pods
            .iter()
            .find(|s| s.pod["metadata"]["name"] == name)
            .and_then(|s| s.pod["metadata"]["uid"].as_str())
            .map(str::to_string)
        else {
            // A mirror pod of a static pod this kubelet no longer has:
            // deleted (`deleteOrphanedMirrorPods`).
            if !gone {
                self.finish_deletion(ctx, &pod);
            }
            return;
        };
        if gone {
            if self.mirrors.get(&static_uid) == Some(&mirror_uid) {
                self.mirrors.remove(&static_uid);
                self.sent_status.remove(&static_uid);
                self.sync_mirror_pods(ctx);
            }
            return;
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            // Someone deleted the mirror pod: the kubelet finishes the
            // deletion at once and creates it again; the static pod runs on.
            self.finish_deletion(ctx, &pod);
            return;
        }
        if self.mirrors.insert(static_uid.clone(), mirror_uid.clone()).as_ref() != Some(&mirror_uid) {
            self.sent_status.remove(&static_uid);
            self.dirty.insert(static_uid);
        }
    }

    /// The node as the scenario (or `sim add node`) gave it.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// The node's InternalIP.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The pod workers, by pod uid.
    pub fn workers(&self) -> &BTreeMap<String, PodWorker> {
        &self.workers
    }

    fn send(&mut self, ctx: &mut Context<'_>, mut request: ApiRequest, call: Call) {
        self.next_request += 1;
        request.request_id = self.next_request;
        self.in_flight.insert(self.next_request, (call, ctx.now_ms()));
        ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
    }

    fn defer_flush(&mut self, ctx: &mut Context<'_>) {
        if !self.flush_deferred {
            self.flush_deferred = true;
            ctx.defer(TIMER_FLUSH);
        }
    }

    /// Takes a change to a pod bound to this node.
    fn on_pod(&mut self, ctx: &mut Context<'_>, change: Change) {
        let now = ctx.now_ms();
        // Status changes (mostly this kubelet's own) are no reason to sync
        // (pkg/kubelet/config: only spec and metadata changes are updates).
        let (pod, gone, status_only) = match change {
            Change::Added(p) => (p, false, false),
            Change::Modified(old, p) => {
                let unchanged = |f: &str| old.get(f) == p.get(f);
                let meta = |v: &Value| {
                    let mut m = v.get("metadata").cloned().unwrap_or(Value::Null);
                    if let Some(m) = m.as_object_mut() {
                        m.remove("resourceVersion");
                        m.remove("managedFields");
                    }
                    m
                };
                let status_only = unchanged("spec") && meta(&old) == meta(&p);
                (p, false, status_only)
            }
            Change::Deleted(p) => (p, true, false),
        };
        if static_pods::is_mirror(&pod) {
            let change = if gone { Change::Deleted(pod) } else { Change::Modified(Value::Null, pod) };
            self.on_mirror_pod(ctx, change);
            return;
        }
        let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
        if gone {
            if self.workers.remove(&uid).is_some() {
                self.ips.retain(|_, u| *u != uid);
                self.wakeups.retain(|(_, u)| *u != uid);
            }
            self.sent_status.remove(&uid);
            self.final_deletes.remove(&uid);
            self.recorder.forget(&uid);
            self.flow_marks.remove(&uid);
            return;
        }
        if let Some(w) = self.workers.get_mut(&uid) {
            w.update(&pod, now);
            if !status_only {
                self.dirty.insert(uid);
            } else if !self.status_in_flight.contains(&uid)
                && self.sent_status.get(&uid).is_some_and(|sent| status_differs(sent, &pod["status"]))
            {
                // Someone else changed what the kubelet reports (the node
                // lifecycle controller marked the pod not ready while this
                // node was unreachable): the status manager's `needsReconcile`
                // sends the kubelet's status again.
                self.sent_status.remove(&uid);
                self.dirty.insert(uid);
            }
            return;
        }
        let terminal = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
        let deleting = pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        if terminal {
            // Its containers ran and ended before this kubelet started:
            // nothing to run, only a deletion to finish.
            if deleting {
                self.finish_deletion(ctx, &pod);
            }
            return;
        }
        let mut worker = PodWorker::new(&pod, now);
        worker.update(&pod, now);
        self.workers.insert(uid.clone(), worker);
        self.mark_flow(ctx, &uid, crate::flow::step::KUBELET_WATCH);
        self.dirty.insert(uid);
    }

    /// A free pod IP from the node's CIDR (host-local IPAM: the next free
    /// address after the last one given, from .2; .1 is the bridge).
    fn allocate_ip(ips: &mut BTreeMap<u8, String>, next_ip: &mut u8, cidr: &str, uid: &str) -> String {
        let prefix = cidr.rsplit_once('.').map_or("10.244.0", |(p, _)| p);
        for _ in 0..253 {
            let candidate = *next_ip;
            *next_ip = if *next_ip >= 254 { 2 } else { *next_ip + 1 };
            if let std::collections::btree_map::Entry::Vacant(e) = ips.entry(candidate) {
                e.insert(uid.to_string());
                return format!("{prefix}.{candidate}");
            }
        }
        // Out of addresses: the sandbox would fail; share the last one.
        format!("{prefix}.254")
    }

    /// Syncs the dirty pods: runtime steps, events, status patches, final deletes.
    fn flush(&mut self, ctx: &mut Context<'_>) {
        self.flush_deferred = false;
        let now = ctx.now_ms();
        for uid in std::mem::take(&mut self.dirty) {
            if self.flow_marks.get(&uid) == Some(&crate::flow::step::KUBELET_WATCH) {
                self.mark_flow(ctx, &uid, crate::flow::step::RUNTIME);
            }
            let Some(worker) = self.workers.get_mut(&uid) else { continue };
            let mut env = Env { images: &mut self.images, events: Vec::new() };
            let (ips, next_ip, cidr) = (&mut self.ips, &mut self.next_ip, self.pod_cidr.as_str());
            let host_network = worker.pod().pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true);
            let address = self.address.clone();
            let wake = worker.sync(now, &mut env, &mut || {
                if host_network {
                    // The pod shares the node's network namespace: its IP is the node's.
                    address.clone()
                } else {
                    Kubelet::allocate_ip(ips, next_ip, cidr, &uid)
                }
            });
            let events = env.events;
            if let Some(at) = wake {
                let at = at.max(now + 1);
                if self.wakeups.insert((at, uid.clone())) {
                    ctx.set_timer(at - now, TIMER_WORK);
                }
            }
            let reference = ObjectReference::to(worker.pod());
            for e in events {
                let object = if e.field_path.is_empty() {
                    reference.clone()
                } else {
                    reference.with_field(e.field_path.clone())
                };
                let request = self.recorder.event(&object, e.kind, e.reason, &e.message, now);
                let patch = (request.method == crate::message::Method::Patch).then(|| request.path.clone());
                self.send(ctx, request, Call::Event(patch));
            }
            self.sync_status(ctx, &uid);
        }
        self.sync_processes(ctx);
    }

    /// Starts the components the running containers of hosted images run,
    /// and stops those whose container stopped (see the module docs).
    fn sync_processes(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let mut desired = BTreeMap::new();
        for (uid, w) in &self.workers {
            for c in w.containers.iter().filter(|c| c.running_at(now)) {
                let id = match c.repository() {
                    Some("registry.k8s.io/kube-proxy") => ComponentId::KubeProxy(self.node.clone()),
                    Some("registry.k8s.io/coredns/coredns") => ComponentId::CoreDns(w.name.clone()),
                    _ => continue,
                };
                desired.insert(id, (uid.clone(), c.name.clone(), c.container_id().to_string()));
            }
        }
        for id in self.processes.keys().filter(|id| !desired.contains_key(*id)) {
            ctx.terminate(id.clone());
        }
        for (id, entry) in &desired {
            if self.processes.get(id) == Some(entry) {
                continue;
            }
            let component: Box<dyn Component> = match id {
                ComponentId::KubeProxy(node) => Box::new(KubeProxy::new(node)),
                _ => Box::new(CoreDns::new()),
            };
            ctx.spawn(id.clone(), component);
        }
        self.processes = desired;
    }

    /// Marks `step` of the pod's way to running in the trace.
    fn mark_flow(&mut self, ctx: &mut Context<'_>, uid: &str, step: u8) {
        let Some(worker) = self.workers.get(uid) else { return };
        ctx.flow(step, format!("{}/{}", worker.namespace, worker.name));
        self.flow_marks.insert(uid.to_string(), step);
    }

    /// Sends the pod's status if it changed, or its final delete once its
    /// containers are gone and that status is written.
    fn sync_status(&mut self, ctx: &mut Context<'_>, uid: &str) {
        let now = ctx.now_ms();
        if self.status_in_flight.contains(uid) {
            return;
        }
        // A static pod's status goes to its mirror pod, once there is one
        // (the status manager's `translatePodUID`).
        let is_static = self.static_pod(uid).is_some();
        let target_uid = if is_static {
            match self.mirrors.get(uid) {
                Some(mirror) => mirror.clone(),
                None => return,
            }
        } else {
            uid.to_string()
        };
        let Some(worker) = self.workers.get_mut(uid) else { return };
        let status = worker.api_status(now, &self.address);
        let (namespace, name) = (worker.namespace.clone(), worker.name.clone());
        if self.sent_status.get(uid) != Some(&status) {
            // Like the status manager's two-way patch: a condition's fields
            // that went away are deleted, and the conditions keep the
            // kubelet's order.
            let mut patched = status.clone();
            let conditions =
                patched.get_mut("conditions").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default();
            let order: Vec<Value> = conditions.iter().map(|c| json!({"type": c["type"]})).collect();
            let conditions: Vec<Value> = conditions
                .into_iter()
                .map(|mut c| {
                    for f in ["reason", "message"] {
                        if c.get(f).is_none() {
                            c[f] = Value::Null;
                        }
                    }
                    c
                })
                .collect();
            patched["conditions"] = json!(conditions);
            patched["$setElementOrder/conditions"] = json!(order);
            let patch = json!({"metadata": {"uid": target_uid}, "status": patched});
            let mut request =
                ApiRequest::new(0, Method::Patch, format!("/api/v1/namespaces/{namespace}/pods/{name}/status"))
                    .with_body(patch);
            request.content_type = Some("application/strategic-merge-patch+json".into());
            if status["phase"] == "Running" && self.flow_marks.get(uid) == Some(&crate::flow::step::RUNTIME) {
                self.mark_flow(ctx, uid, crate::flow::step::STATUS);
            }
            self.sent_status.insert(uid.to_string(), status);
            self.status_in_flight.insert(uid.to_string());
            self.send(ctx, request, Call::PodStatus(uid.to_string()));
            return;
        }
        if worker.terminated() && !is_static {
            let pod = worker.pod().clone();
            self.finish_deletion(ctx, &pod);
        }
    }

    /// Deletes a pod whose containers are gone, with grace period 0 and a
    /// uid precondition (the status manager's final delete).
    fn finish_deletion(&mut self, ctx: &mut Context<'_>, pod: &Value) {
        let m =
            |f: &str| pod.pointer(&format!("/metadata/{f}")).and_then(Value::as_str).unwrap_or_default().to_string();
        let (namespace, name, uid) = (m("namespace"), m("name"), m("uid"));
        self.final_deletes.insert(uid.clone(), pod.clone());
        let call = Call::FinishDeletion(uid.clone());
        if self.in_flight.values().any(|(c, _)| *c == call) {
            return;
        }
        let request = ApiRequest::new(0, Method::Delete, format!("/api/v1/namespaces/{namespace}/pods/{name}"))
            .with_body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}));
        self.send(ctx, request, call);
    }

    /// Answers the kubelet's own API (port 10250): `GET
    /// /containerLogs/<ns>/<pod>/<container>[?previous=true&tailLines=N&timestamps=true]`.
    /// Which instance's log is read, and the errors, follow kubelet_pods.go
    /// `validateContainerLogStatus`.
    fn serve(&self, path: &str) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let param = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')).unwrap_or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ["containerLogs", namespace, name, container] = parts.as_slice() else {
            return (404, json!(StatusError::no_such_path().to_status()));
        };
        let bad = |message: String| (400, StatusError::bad_request(message).to_status());
        let Some(worker) = self.workers.values().find(|w| w.namespace == *namespace && w.name == *name) else {
            return (404, StatusError::not_found("", "pods", name).to_status());
        };
        let Some(c) = worker.container(container) else {
            return bad(format!("container {container:?} in pod {name:?} is not available"));
        };
        let previous = param("previous") == "true";
        let lines = match (&c.state, previous) {
            (_, true) if c.last_state.is_none() => {
                return bad(format!("previous terminated container {container:?} in pod {name:?} not found"));
            }
            (_, true) => &c.previous_logs,
            (State::Waiting { .. }, false) if c.last_state.is_some() => &c.previous_logs,
            (State::Waiting { reason, .. }, false) => {
                return bad(format!("container {container:?} in pod {name:?} is waiting to start: {reason}"));
            }
            _ => &c.logs,
        };
        let skip = param("tailLines").parse::<usize>().map_or(0, |n| lines.len().saturating_sub(n));
        let timestamps = param("timestamps") == "true";
        let mut text = String::new();
        for (ms, line) in lines.iter().skip(skip) {
            if timestamps {
                text.push_str(&rfc3339_nano(*ms));
                text.push(' ');
            }
            text.push_str(line);
            text.push('\n');
        }
        (200, Value::String(text))
    }

    /// Asks for the node as stored (kubelet_node_status.go `tryUpdateNodeStatus`
    /// reads it from the apiserver's cache every `nodeStatusUpdateFrequency`,
    /// 10 s) to compare it with what the kubelet would report.
    fn sync_node_status(&mut self, ctx: &mut Context<'_>) {
        if !self.registered || self.in_flight.values().any(|(c, _)| matches!(c, Call::NodeStatus | Call::GetNode)) {
            return;
        }
        let request = ApiRequest::new(0, Method::Get, format!("{NODES_PATH}/{}?resourceVersion=0", self.node));
        self.send(ctx, request, Call::GetNode);
    }

    /// Patches the node's status when it differs from what the kubelet
    /// reports (a condition another component changed, like the node
    /// lifecycle controller's `Unknown`, or new images), and otherwise only
    /// every `nodeStatusReportFrequency` (5 min) to refresh the heartbeats.
    fn update_node_status(&mut self, ctx: &mut Context<'_>, stored: &Value) {
        let now = ctx.now_ms();
        let stamp = rfc3339(now);
        let stored_conditions = stored.pointer("/status/conditions").and_then(Value::as_array);
        let mut changed = self.images_reported != Some(self.images.version());
        let conditions: Vec<Value> = NODE_CONDITIONS
            .iter()
            .map(|(kind, status, reason, message)| {
                let current = stored_conditions
                    .and_then(|cs| cs.iter().find(|c| c["type"] == *kind))
                    .and_then(|c| c["status"].as_str());
                if current == Some(status) {
                    json!({"type": kind, "lastHeartbeatTime": stamp})
                } else {
                    changed = true;
                    json!({"type": kind, "status": status, "reason": reason, "message": message,
                        "lastHeartbeatTime": stamp, "lastTransitionTime": stamp})
                }
            })
            .collect();
        if !changed && now.saturating_sub(self.last_node_status_ms) < NODE_STATUS_REPORT_MS {
            return;
        }
        self.images_reported = Some(self.images.version());
        self.last_node_status_ms = now;
        let patch = json!({"status": {"images": self.images.node_images(), "conditions": conditions}});
        let mut request =
            ApiRequest::new(0, Method::Patch, format!("{NODES_PATH}/{}/status", self.node)).with_body(patch);
        request.content_type = Some("application/strategic-merge-patch+json".into());
        self.send(ctx, request, Call::NodeStatus);
    }

    /// The Node object the kubelet registers (pkg/kubelet/kubelet_node_status.go
    /// `initialNode` and the status setters): well-known labels, capacity,
    /// conditions, addresses and node info.
    fn node_object(&self, now_ms: u64) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", self.node.as_str()),
            ("kubernetes.io/os", "linux"),
        ] {
            labels.insert(k.into(), json!(v));
        }
        for (k, v) in &self.spec.labels {
            labels.insert(k.clone(), json!(v));
        }
        let resources = json!({
            "cpu": self.spec.cpu.to_string(),
            "memory": self.spec.memory.to_string(),
            "pods": "110",
            "ephemeral-storage": "100Gi",
        });
        let now = rfc3339(now_ms);
        let conditions: Vec<Value> = NODE_CONDITIONS
            .iter()
            .map(|(kind, status, reason, message)| {
                json!({"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now,
                    "reason": reason, "message": message})
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": labels,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": if self.spec.taints.is_empty() {
                json!({"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]})
            } else {
                json!({"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr], "taints": self.spec.taints})
            },
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": self.address}, {"type": "Hostname", "address": self.node}],
                "images": self.images.node_images(),
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "kernelVersion": "6.1.0-kscope",
                    "kubeProxyVersion": KUBELET_VERSION,
                    "kubeletVersion": KUBELET_VERSION,
                    "machineID": "",
                    "operatingSystem": "linux",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "systemUUID": "",
                },
            },
        })
    }

    fn lease_call(&mut self, ctx: &mut Context<'_>, call: Call) {
        let now_ms = ctx.now_ms();
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": NODE_LEASE_DURATION.ms / 1000,
                "renewTime": rfc3339_micro(now_ms),
            },
        });
        let (method, path, body) = match call {
            Call::RegisterNode => (Method::Post, NODES_PATH.to_string(), self.node_object(now_ms)),
            Call::CreateLease => (Method::Post, NODE_LEASES_PATH.to_string(), lease),
            Call::RenewLease => (Method::Put, format!("{NODE_LEASES_PATH}/{}", self.node), lease),
            _ => return,
        };
        self.send(ctx, ApiRequest::new(0, method, path).with_body(body), call);
    }

    fn sync(&mut self, ctx: &mut Context<'_>) {
        // Forget requests whose answers never came (lost or cut); this sync retries.
        let now = ctx.now_ms();
        let stale: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, (_, sent))| now.saturating_sub(*sent) >= NODE_LEASE_RENEW_INTERVAL.ms)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            match self.in_flight.remove(&id) {
                Some((Call::PodStatus(uid), _)) => {
                    self.status_in_flight.remove(&uid);
                    self.sent_status.remove(&uid);
                    self.dirty.insert(uid);
                }
                _ => {}
            }
        }
        // Final deletes lost, cut or refused (a 500 while etcd has no
        // leader) are sent again, like the status manager's periodic sync
        // retries them: without one the pod would stay Terminating.
        let retry: Vec<Value> = self.final_deletes.values().cloned().collect();
        for pod in retry {
            self.finish_deletion(ctx, &pod);
        }
        let call = match (self.registered, self.lease_exists) {
            (false, _) => Call::RegisterNode,
            (true, false) => Call::CreateLease,
            (true, true) => Call::RenewLease,
        };
        self.lease_call(ctx, call);
        self.sync_node_status(ctx);
        self.sync_mirror_pods(ctx);
        if !self.dirty.is_empty() {
            self.defer_flush(ctx);
        }
    }
}

impl Component for Kubelet {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Kubelet
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        // A restart is a node reboot: the runtime's containers are gone too.
        let static_pods = std::mem::take(&mut self.static_pods);
        *self = Kubelet::new(&self.spec, &self.address, &self.pod_cidr).with_static_pods(static_pods);
        // Request ids of this run start above any earlier run's, so a late
        // answer to a request sent before a restart matches nothing.
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        self.start_static_pods(ctx);
        self.sync(ctx);
        ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
        self.pods.start_via(ctx, &mut self.next_request);
        ctx.set_timer(HOUSEKEEPING_MS, TIMER_HOUSEKEEPING);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let response = match envelope.payload {
            Payload::ApiResponse(response) => response,
            Payload::ApiRequest(request) if envelope.from == ComponentId::ApiServer => {
                let (code, body) = self.serve(&request.path);
                let response = ApiResponse { request_id: request.request_id, code, body: Some(body), seq: 0 };
                ctx.send(ComponentId::ApiServer, Payload::ApiResponse(response));
                return;
            }
            _ => return,
        };
        let now = ctx.now_ms();
        if self.pods.owns(response.request_id) {
            let changes = self.pods.handle_via(ctx, &mut self.next_request, &response, TIMER_PODS_RETRY);
            for change in changes {
                self.on_pod(ctx, change);
            }
            if !self.dirty.is_empty() {
                self.defer_flush(ctx);
            }
            self.sync_processes(ctx);
            return;
        }
        let Some((call, _)) = self.in_flight.remove(&response.request_id) else {
            return;
        };
        match (call, response.code) {
            (Call::RegisterNode, code @ (201 | 409)) => {
                self.registered = true;
                if let Some(uid) =
                    response.body.as_ref().and_then(|b| b.pointer("/metadata/uid")).and_then(Value::as_str)
                {
                    self.node_uid = uid.to_string();
                }
                if code == 201 {
                    self.images_reported = Some(self.images.version());
                    self.last_node_status_ms = now;
                }
                ctx.record(format!("registered node {}", self.node));
                self.lease_call(ctx, Call::CreateLease);
                // The static pods' syncs create their mirror pods as soon as the apiserver takes writes.
                self.sync_mirror_pods(ctx);
            }
            (Call::CreateLease, 201 | 409) => {
                self.lease_exists = true;
                self.last_renew_ms = Some(now);
            }
            (Call::RenewLease, 200) => {
                self.renewals += 1;
                self.last_renew_ms = Some(now);
            }
            (Call::RenewLease, 404) => self.lease_exists = false,
            (Call::GetNode, 200) => {
                if let Some(node) = response.body.as_ref() {
                    if let Some(uid) = node.pointer("/metadata/uid").and_then(Value::as_str) {
                        self.node_uid = uid.to_string();
                    }
                    self.update_node_status(ctx, node);
                }
            }
            (Call::NodeStatus, code) if code != 200 => self.images_reported = None,
            (Call::PodStatus(uid), code) => {
                self.status_in_flight.remove(&uid);
                if code != 200 {
                    // Not written (conflict, gone, ...): computed and sent again.
                    self.sent_status.remove(&uid);
                }
                if self.workers.contains_key(&uid) && code != 404 {
                    // Only the status: a newer one may wait, or the final delete.
                    self.sync_status(ctx, &uid);
                }
            }
            (Call::CreateMirror(uid), 201) => {
                if let Some(mirror) =
                    response.body.as_ref().and_then(|b| b.pointer("/metadata/uid")).and_then(Value::as_str)
                {
                    self.mirrors.insert(uid.clone(), mirror.to_string());
                    self.sent_status.remove(&uid);
                    self.dirty.insert(uid);
                    self.defer_flush(ctx);
                }
            }
            // Deleted, already gone, or another pod by now (the uid
            // precondition failed): done. Other errors are retried.
            (Call::FinishDeletion(uid), code) if code < 300 || code == 404 || code == 409 => {
                self.final_deletes.remove(&uid);
            }
            // The Event expired since it was first written: create it again.
            (Call::Event(Some(path)), 404) => {
                if let Some(request) = self.recorder.recreate(&path) {
                    self.send(ctx, request, Call::Event(None));
                }
            }
            _ => {}
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let now = ctx.now_ms();
        match token {
            TIMER_SYNC => {
                self.sync(ctx);
                ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
            }
            TIMER_HOUSEKEEPING => {
                self.pods.check_via(ctx, &mut self.next_request);
                self.observe_static_pods(ctx);
                if !self.dirty.is_empty() {
                    self.defer_flush(ctx);
                }
                ctx.set_timer(HOUSEKEEPING_MS, TIMER_HOUSEKEEPING);
            }
            TIMER_PODS_RETRY => self.pods.retry_via(ctx, &mut self.next_request),
            TIMER_WORK => {
                while let Some((at, uid)) = self.wakeups.first().cloned() {
                    if at > now {
                        break;
                    }
                    self.wakeups.pop_first();
                    self.dirty.insert(uid);
                }
                if !self.dirty.is_empty() {
                    self.defer_flush(ctx);
                }
            }
            TIMER_FLUSH => self.flush(ctx),
            _ => {}
        }
    }

    fn process_exited(&mut self, ctx: &mut Context<'_>, process: &ComponentId) {
        let Some((uid, container, _)) = self.processes.remove(process) else { return };
        if let Some(w) = self.workers.get_mut(&uid) {
            w.kill_container(&container, ctx.now_ms());
            self.dirty.insert(uid);
            self.defer_flush(ctx);
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        let last = self.last_renew_ms.map_or("never".to_string(), |ms| Duration::from_millis(ms).to_string());
        let running = self.workers.values().filter(|w| w.phase() == "Running").count();
        vec![
            ("registered".into(), if self.registered { "yes" } else { "no" }.into()),
            ("lease renewals".into(), self.renewals.to_string()),
            ("last renew".into(), last),
            ("pods".into(), format!("{} ({running} running)", self.workers.len())),
            ("images".into(), self.images.version().to_string()),
        ]
    }
}

/// RFC 3339 with nanoseconds, as `--timestamps` prints each log line.
/// Whether the stored pod status `stored` disagrees with the status the
/// kubelet sent, `sent`, in its phase or a condition's status.
fn status_differs(sent: &Value, stored: &Value) -> bool {
    if sent.get("phase") != stored.get("phase") {
        return true;
    }
    let status_of = |v: &Value, kind: &Value| {
        v.get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(kind)))
            .and_then(|c| c.get("status").cloned())
    };
    sent.get("conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| c.get("type").is_some_and(|kind| status_of(sent, kind) != status_of(stored, kind)))
    })
}

fn rfc3339_nano(ms: u64) -> String {
    let micro = rfc3339_micro(ms);
    format!("{}000Z", micro.trim_end_matches('Z'))
}
