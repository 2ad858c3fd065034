//! The EndpointSlice controller (pkg/controller/endpointslice of Kubernetes
//! v1.32, with the reconciler of staging/src/k8s.io/endpointslice): for each
//! Service with a selector, EndpointSlices named `<service>-<random>`
//! (generateName) holding one endpoint per selected pod with an IP.
//!
//! An endpoint (`podToEndpoint`, utils.go) has the pod's addresses of the
//! slice's address type, `conditions` (`serving` = the pod is Ready,
//! `terminating` = it is being deleted, `ready` = serving and not
//! terminating, or `publishNotReadyAddresses`), `nodeName`, `zone` (the
//! node's `topology.kubernetes.io/zone` label), `targetRef` and, when the
//! pod's subdomain is the Service, `hostname`. Terminating pods are kept.
//! Pods are grouped by the ports their Service ports resolve to on them
//! (`getEndpointPorts`, `FindPort`): one group of slices per distinct port
//! list, per address type of the Service's `ipFamilies`.
//!
//! Placement follows `reconcileByPortMapping` (reconciler.go) to keep churn
//! low: (1) each existing slice keeps the endpoints still desired, updated
//! in place, and is deleted when none remain; (2) the slices changed in (1)
//! are filled up, fullest first, to `maxEndpointsPerSlice` (100, the
//! `--max-endpoints-per-slice` default); (3) the rest go, when fewer than a
//! full slice, into the unchanged slice that ends up closest to full
//! (`getSliceToFill`), otherwise into new slices. Then (`finalize`) creates
//! become updates of slices about to be deleted, no slice is created for a
//! Service being deleted, and a Service without endpoints keeps one empty
//! placeholder slice. Slices carry the Service's labels plus
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`
//! (and `service.kubernetes.io/headless` for headless Services), a
//! controller ownerReference to the Service, and the
//! `endpoints.kubernetes.io/last-change-trigger-time` annotation.
//!
//! A deleted Service's slices are left to the garbage collector through
//! their ownerReference, as upstream does (`syncService` only forgets the
//! Service). Like upstream's `EndpointSliceTracker`, a Service is not synced
//! while the informer has not yet shown the generations (or deletions) of
//! the controller's own writes.
//!
//! Deviations: where upstream pops endpoints from a hash set in random
//! order and ranges over Go maps, the order here is sorted (by address,
//! port list and slice name), so placement is deterministic; topology hints
//! and `trafficDistribution` are not modelled; node changes do not requeue
//! Services (upstream uses them only for topology hints).

use super::endpoints::{
    find_port, is_pod_ready, is_terminating, pod_ips, selected_pods, service_selector, services_for_pod_change,
    should_pod_be_in_endpoints, should_set_hostname, TargetRef, TriggerTimeTracker, HEADLESS, LAST_CHANGE_TRIGGER_TIME,
};
use super::workqueue::WorkQueue;
use super::Outbox;
use crate::apimachinery::labels::{labels_of, string_map};
use crate::apimachinery::time::rfc3339;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The controller's name in events (`source.component`).
pub const COMPONENT: &str = "endpoint-slice-controller";
/// The `managed-by` value of this controller's slices (`ControllerName`).
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The label naming a slice's Service (`discovery.LabelServiceName`).
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager (`discovery.LabelManagedBy`).
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The node label an endpoint's zone comes from (`v1.LabelTopologyZone`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Endpoints per slice at most (`--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Tags of this controller's requests start here (see the manager's routing).
pub const TAG_BASE: u64 = 1 << 59;

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(o: &'a Value, pointer: &str) -> &'a [Value] {
    o.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// One endpoint of a slice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `addresses`.
    pub addresses: Vec<String>,
    /// `conditions.ready`.
    pub ready: Option<bool>,
    /// `conditions.serving`.
    pub serving: Option<bool>,
    /// `conditions.terminating`.
    pub terminating: Option<bool>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `targetRef`.
    pub target: Option<TargetRef>,
}

/// What identifies an endpoint across syncs (`hashEndpoint` in
/// endpointset.go): its sorted addresses, hostname and target's namespace/name.
pub type EndpointKey = (Vec<String>, String, String, String);

impl Endpoint {
    /// The endpoint's identity.
    pub fn key(&self) -> EndpointKey {
        let mut addresses = self.addresses.clone();
        addresses.sort();
        let (ns, name) = self.target.as_ref().map(|t| (t.namespace.clone(), t.name.clone())).unwrap_or_default();
        (addresses, self.hostname.clone().unwrap_or_default(), ns, name)
    }

    fn from_value(v: &Value) -> Endpoint {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(String::from);
        let b = |p: &str| v.pointer(p).and_then(Value::as_bool);
        Endpoint {
            addresses: list(v, "/addresses").iter().filter_map(Value::as_str).map(String::from).collect(),
            ready: b("/conditions/ready"),
            serving: b("/conditions/serving"),
            terminating: b("/conditions/terminating"),
            hostname: s("/hostname"),
            node_name: s("/nodeName"),
            zone: s("/zone"),
            target: v.get("targetRef").filter(|t| t.is_object()).map(TargetRef::from_value),
        }
    }

    fn to_value(&self) -> Value {
        let mut conditions = json!({});
        for (name, value) in [("ready", self.ready), ("serving", self.serving), ("terminating", self.terminating)] {
            if let Some(b) = value {
                conditions[name] = json!(b);
            }
        }
        let mut v = json!({"addresses": self.addresses, "conditions": conditions});
        if let Some(h) = &self.hostname {
            v["hostname"] = json!(h);
        }
        if let Some(t) = &self.target {
            v["targetRef"] = t.to_value();
        }
        if let Some(n) = &self.node_name {
            v["nodeName"] = json!(n);
        }
        if let Some(z) = &self.zone {
            v["zone"] = json!(z);
        }
        v
    }
}

/// One port of a slice.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlicePort {
    /// `name` (defaulted to empty).
    pub name: String,
    /// `port`.
    pub port: Option<i64>,
    /// `protocol` (defaulted to TCP).
    pub protocol: String,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

impl SlicePort {
    fn from_value(v: &Value) -> SlicePort {
        SlicePort {
            name: v.get("name").and_then(Value::as_str).unwrap_or_default().into(),
            port: v.get("port").and_then(Value::as_i64),
            protocol: v.get("protocol").and_then(Value::as_str).unwrap_or("TCP").into(),
            app_protocol: v.get("appProtocol").and_then(Value::as_str).map(String::from),
        }
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"name": self.name, "protocol": self.protocol});
        if let Some(p) = self.port {
            v["port"] = json!(p);
        }
        if let Some(a) = &self.app_protocol {
            v["appProtocol"] = json!(a);
        }
        v
    }
}

/// An EndpointSlice as the reconciler sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slice {
    /// Its name; empty for one still to be created.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `addressType`.
    pub address_type: String,
    /// Its ports, sorted (the port-map key).
    pub ports: Vec<SlicePort>,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
    /// `metadata.ownerReferences`.
    pub owner_references: Value,
    /// The stored object it was read from (kept for updates).
    pub stored: Option<Value>,
}

impl Slice {
    /// A stored EndpointSlice.
    pub fn from_value(v: &Value) -> Slice {
        let mut ports: Vec<SlicePort> = list(v, "/ports").iter().map(SlicePort::from_value).collect();
        ports.sort();
        Slice {
            name: meta(v, "name").into(),
            labels: labels_of(v),
            address_type: v.get("addressType").and_then(Value::as_str).unwrap_or_default().into(),
            ports,
            endpoints: list(v, "/endpoints").iter().map(Endpoint::from_value).collect(),
            owner_references: v.pointer("/metadata/ownerReferences").cloned().unwrap_or(json!([])),
            stored: Some(v.clone()),
        }
    }

    /// `ownedBy`: an ownerReference to this Service (by uid, kind Service, apiVersion v1).
    fn owned_by(&self, service: &Value) -> bool {
        self.owner_references.as_array().is_some_and(|refs| {
            refs.iter().any(|o| o["uid"] == meta(service, "uid") && o["kind"] == "Service" && o["apiVersion"] == "v1")
        })
    }

    /// The object to write, with the trigger-time annotation set or cleared
    /// (`addTriggerTimeAnnotation`).
    pub fn to_value(&self, service: &Value, trigger_ms: Option<u64>) -> Value {
        let mut v = self.stored.clone().unwrap_or_else(|| {
            let name = meta(service, "name");
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": format!("{name}-"), "namespace": meta(service, "namespace"),
                    "ownerReferences": self.owner_references}})
        });
        if !self.name.is_empty() {
            v["metadata"]["name"] = json!(self.name);
        }
        let mut annotations = string_map(v.pointer("/metadata/annotations"));
        match trigger_ms {
            Some(t) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), rfc3339(t)),
            None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
        };
        v["metadata"]["annotations"] = json!(annotations);
        v["metadata"]["labels"] = json!(self.labels);
        v["addressType"] = json!(self.address_type);
        v["endpoints"] = Value::Array(self.endpoints.iter().map(Endpoint::to_value).collect());
        v["ports"] = Value::Array(self.ports.iter().map(SlicePort::to_value).collect());
        v
    }
}

/// The writes one sync makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Slices to create.
    pub create: Vec<Slice>,
    /// Slices to update.
    pub update: Vec<Slice>,
    /// Slices to delete.
    pub delete: Vec<Slice>,
    /// Why some pods were left out (their node is unknown); the Service is retried.
    pub errors: Vec<String>,
}

/// `getAddressTypesForService`: from `ipFamilies`, else the cluster IP's
/// family, else (headless) both.
pub fn address_types(service: &Value) -> BTreeSet<String> {
    let mut types: BTreeSet<String> = list(service, "/spec/ipFamilies")
        .iter()
        .filter_map(|f| match f.as_str() {
            Some("IPv4") => Some("IPv4".to_string()),
            Some("IPv6") => Some("IPv6".to_string()),
            _ => None,
        })
        .collect();
    if types.is_empty() {
        let ip = service.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default();
        if !ip.is_empty() && ip != "None" {
            types.insert(if ip.contains(':') { "IPv6" } else { "IPv4" }.to_string());
        } else {
            types.insert("IPv4".into());
            types.insert("IPv6".into());
        }
    }
    types
}

/// `setEndpointSliceLabels`: the Service's labels (but the reserved ones)
/// plus the reserved ones; and whether the slice's non-reserved labels differ.
pub fn slice_labels(current: &BTreeMap<String, String>, service: &Value) -> (BTreeMap<String, String>, bool) {
    let reserved = |k: &String| k == LABEL_SERVICE_NAME || k == LABEL_MANAGED_BY || k == HEADLESS;
    let ours: BTreeMap<String, String> =
        current.iter().filter(|(k, _)| !reserved(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut labels: BTreeMap<String, String> = labels_of(service).into_iter().filter(|(k, _)| !reserved(k)).collect();
    let changed = ours != labels;
    if !super::endpoints::is_service_ip_set(service) {
        labels.insert(HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.into(), meta(service, "name").into());
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    (labels, changed)
}

/// The ownerReference a slice points at its Service with (`NewControllerRef`).
pub fn owner_reference(service: &Value) -> Value {
    json!([{"apiVersion": "v1", "kind": "Service", "name": meta(service, "name"), "uid": meta(service, "uid"),
        "controller": true, "blockOwnerDeletion": true}])
}

/// `newEndpointSlice`: an empty slice for the Service.
fn new_slice(service: &Value, address_type: &str, ports: &[SlicePort]) -> Slice {
    Slice {
        labels: slice_labels(&BTreeMap::new(), service).0,
        address_type: address_type.into(),
        ports: ports.to_vec(),
        owner_references: owner_reference(service),
        ..Slice::default()
    }
}

/// `getEndpointPorts`: the Service's ports resolved on `pod`, sorted.
pub fn endpoint_ports(service: &Value, pod: &Value) -> Vec<SlicePort> {
    let mut ports: Vec<SlicePort> = list(service, "/spec/ports")
        .iter()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(SlicePort {
                name: sp.get("name").and_then(Value::as_str).unwrap_or_default().into(),
                port: Some(port),
                protocol: sp.get("protocol").and_then(Value::as_str).unwrap_or("TCP").into(),
                app_protocol: sp.get("appProtocol").and_then(Value::as_str).map(String::from),
            })
        })
        .collect();
    ports.sort();
    ports
}

/// `podToEndpoint`.
pub fn pod_to_endpoint(pod: &Value, node: Option<&Value>, service: &Value, address_type: &str) -> Endpoint {
    let serving = is_pod_ready(pod);
    let terminating = is_terminating(pod);
    let publish = service.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty());
    let zone = node.and_then(|n| labels_of(n).get(ZONE_LABEL).cloned()).filter(|z| !z.is_empty());
    Endpoint {
        addresses: pod_ips(pod).into_iter().filter(|ip| ip.contains(':') == (address_type == "IPv6")).collect(),
        ready: Some(publish || (serving && !terminating)),
        serving: Some(serving),
        terminating: Some(terminating),
        hostname: should_set_hostname(pod, service)
            .then(|| pod.pointer("/spec/hostname").and_then(Value::as_str).unwrap_or_default().to_string()),
        node_name: node_name.map(String::from),
        zone,
        target: Some(TargetRef::to_pod(pod)),
    }
}

/// `getSliceToFill`: of `slices`, the one closest to full after taking `n`
/// more endpoints (first of equals), if any has room.
pub fn slice_to_fill(slices: &[&Slice], n: usize, max: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, s) in slices.iter().enumerate() {
        let Some(diff) = max.checked_sub(n + s.endpoints.len()) else { continue };
        if best.is_none_or(|(d, _)| diff < d) {
            best = Some((diff, i));
            if diff == 0 {
                break;
            }
        }
    }
    best.map(|(_, i)| i)
}

/// `reconcileByPortMapping`: (create, update, delete) for one group of slices.
pub fn reconcile_port_mapping(
    service: &Value,
    existing: &[Slice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    address_type: &str,
    ports: &[SlicePort],
    max: usize,
) -> (Vec<Slice>, Vec<Slice>, Vec<Slice>) {
    let mut by_name: BTreeMap<String, Slice> = BTreeMap::new();
    let mut unchanged: BTreeSet<String> = BTreeSet::new();
    let mut to_update: BTreeSet<String> = BTreeSet::new();
    let mut to_delete: BTreeSet<String> = BTreeSet::new();
    // 1. Keep what is still desired; update what changed.
    let mut sorted: Vec<&Slice> = existing.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for slice in sorted {
        let mut kept = Vec::new();
        let mut changed = false;
        for e in &slice.endpoints {
            if let Some(want) = desired.remove(&e.key()) {
                changed |= &want != e;
                kept.push(want);
            }
        }
        let (labels, labels_changed) = slice_labels(&slice.labels, service);
        let mut s = slice.clone();
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                to_delete.insert(s.name.clone());
            } else {
                s.endpoints = kept;
                s.labels = labels;
                to_update.insert(s.name.clone());
            }
        } else if labels_changed {
            s.labels = labels;
            to_update.insert(s.name.clone());
        } else {
            unchanged.insert(s.name.clone());
        }
        by_name.insert(s.name.clone(), s);
    }
    // 2. Fill the slices being updated anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<&String> = to_update.iter().collect();
        names.sort_by_key(|n| std::cmp::Reverse(by_name[*n].endpoints.len()));
        for name in names {
            let s = by_name.get_mut(name).expect("slice to update");
            while s.endpoints.len() < max {
                let Some((_, e)) = desired.pop_first() else { break };
                s.endpoints.push(e);
            }
        }
    }
    // 3. The rest: into the unchanged slice closest to full, or new slices.
    let mut create = Vec::new();
    while !desired.is_empty() {
        let mut fill: Option<String> = None;
        if desired.len() < max && !unchanged.is_empty() {
            let candidates: Vec<&Slice> = unchanged.iter().map(|n| &by_name[n]).collect();
            fill = slice_to_fill(&candidates, desired.len(), max).map(|i| candidates[i].name.clone());
        }
        let mut slice = match &fill {
            Some(name) => by_name[name].clone(),
            None => new_slice(service, address_type, ports),
        };
        while slice.endpoints.len() < max {
            let Some((_, e)) = desired.pop_first() else { break };
            slice.endpoints.push(e);
        }
        match fill {
            Some(name) => {
                unchanged.remove(&name);
                to_update.insert(name.clone());
                by_name.insert(name, slice);
            }
            None => create.push(slice),
        }
    }
    let update = to_update.iter().map(|n| by_name[n].clone()).collect();
    let delete = to_delete.iter().map(|n| by_name[n].clone()).collect();
    (create, update, delete)
}

/// `reconcileByAddressType` and `finalize` for one address type.
fn reconcile_address_type(
    service: &Value,
    pods: &[&Value],
    nodes: &BTreeMap<String, Value>,
    existing: &[Slice],
    address_type: &str,
    max: usize,
    plan: &mut Plan,
) {
    let publish = service.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    let mut delete: Vec<Slice> = Vec::new();
    let mut existing_by_ports: BTreeMap<Vec<SlicePort>, Vec<Slice>> = BTreeMap::new();
    for s in existing {
        if s.owned_by(service) {
            existing_by_ports.entry(s.ports.clone()).or_default().push(s.clone());
        } else {
            delete.push(s.clone());
        }
    }
    let mut desired: BTreeMap<Vec<SlicePort>, BTreeMap<EndpointKey, Endpoint>> = BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(service, pod);
        let group = desired.entry(ports).or_default();
        let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
        let node = nodes.get(node_name);
        if node.is_none() && !publish {
            plan.errors.push(format!(
                "skipping Pod {} for Service {}: Node {node_name} Not Found",
                meta(pod, "name"),
                object_key(service)
            ));
            continue;
        }
        let endpoint = pod_to_endpoint(pod, node, service, address_type);
        if !endpoint.addresses.is_empty() {
            group.insert(endpoint.key(), endpoint);
        }
    }
    let mut create = Vec::new();
    let mut update = Vec::new();
    for (ports, endpoints) in &desired {
        let current = existing_by_ports.get(ports).map(Vec::as_slice).unwrap_or_default();
        let (c, u, d) = reconcile_port_mapping(service, current, endpoints.clone(), address_type, ports, max);
        create.extend(c);
        update.extend(u);
        delete.extend(d);
    }
    for (ports, slices) in &existing_by_ports {
        if !desired.contains_key(ports) {
            delete.extend(slices.iter().cloned());
        }
    }
    // A Service without endpoints keeps one empty placeholder slice.
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(service, address_type, &[]);
        let same = |s: &Slice| {
            s.endpoints.is_empty()
                && s.ports.is_empty()
                && s.address_type == placeholder.address_type
                && s.labels == placeholder.labels
                && s.owner_references == placeholder.owner_references
        };
        if delete.len() == 1 && same(&delete[0]) {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // finalize: creations reuse slices about to be deleted.
    let mut i = 0;
    while i < delete.len() && !create.is_empty() {
        if delete[i].address_type == address_type && delete[i].owned_by(service) {
            let mut slice = create.pop().expect("a creation");
            let old = delete.remove(i);
            slice.name = old.name.clone();
            slice.stored = old.stored;
            update.push(slice);
        } else {
            i += 1;
        }
    }
    if service.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        create.clear();
    }
    plan.create.extend(create);
    plan.update.extend(update);
    plan.delete.extend(delete);
}

/// `Reconcile`: the writes that bring `existing` (the Service's managed
/// slices) to the endpoints of `pods`.
pub fn reconcile(
    service: &Value,
    pods: &[&Value],
    nodes: &BTreeMap<String, Value>,
    existing: &[Slice],
    max: usize,
) -> Plan {
    let mut plan = Plan::default();
    let types = address_types(service);
    let mut by_type: BTreeMap<String, Vec<Slice>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for s in existing {
        if types.contains(&s.address_type) {
            by_type.entry(s.address_type.clone()).or_default().push(s.clone());
        } else {
            unsupported.push(s.clone());
        }
    }
    for t in &types {
        let slices = by_type.get(t).map(Vec::as_slice).unwrap_or_default();
        reconcile_address_type(service, pods, nodes, slices, t, max, &mut plan);
    }
    plan.delete.extend(unsupported);
    plan
}

// ---------------------------------------------------------------------------
// The controller.

#[derive(Clone, Debug)]
enum Request {
    Create { key: String },
    Update { key: String, slice: String },
    Delete { key: String, slice: String },
    Event,
}

/// The controller's state.
#[derive(Debug)]
pub struct EndpointSliceController {
    queue: WorkQueue,
    requests: BTreeMap<u64, Request>,
    next_tag: u64,
    triggers: TriggerTimeTracker,
    /// `EndpointSliceTracker`: Service key → slice name → the generation the
    /// informer must show (`None`: its deletion).
    expected: BTreeMap<String, BTreeMap<String, Option<i64>>>,
    recorder: EventRecorder,
    max_endpoints_per_slice: usize,
    writes: u64,
}

impl Default for EndpointSliceController {
    fn default() -> Self {
        EndpointSliceController {
            queue: WorkQueue::default(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            triggers: TriggerTimeTracker::default(),
            expected: BTreeMap::new(),
            recorder: EventRecorder::new(COMPONENT, ""),
            max_endpoints_per_slice: MAX_ENDPOINTS_PER_SLICE,
            writes: 0,
        }
    }
}

/// The Service key of a managed slice (`ServiceControllerKey`).
fn service_key_of(slice: &Value) -> Option<String> {
    let labels = labels_of(slice);
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
        return None;
    }
    let service = labels.get(LABEL_SERVICE_NAME).filter(|s| !s.is_empty())?;
    Some(format!("{}/{service}", meta(slice, "namespace")))
}

impl EndpointSliceController {
    /// Whether `tag` is one of this controller's.
    pub fn owns(tag: u64) -> bool {
        (TAG_BASE..TAG_BASE * 2).contains(&tag)
    }

    /// EndpointSlices created, updated or deleted so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn send(&mut self, request: Request, api: ApiRequest, now: u64, out: &mut Outbox) {
        self.next_tag += 1;
        if let Request::Create { key } | Request::Update { key, .. } | Request::Delete { key, .. } = &request {
            self.queue.sent(key, now);
        }
        self.requests.insert(self.next_tag, request);
        out.send(api, self.next_tag);
    }

    /// A Service changed.
    pub fn on_service(&mut self, change: &Change) {
        let (Change::Added(o) | Change::Modified(_, o) | Change::Deleted(o)) = change;
        self.queue.add(&object_key(o));
    }

    /// A pod changed.
    pub fn on_pod(&mut self, change: &Change, services: &Reflector) {
        for key in services_for_pod_change(change, services) {
            self.queue.add(&key);
        }
    }

    /// A managed slice changed: the tracker notes it; a change the
    /// controller did not make (or the last one it waited for) syncs the Service.
    pub fn on_slice(&mut self, change: &Change) {
        let (slice, deleted) = match change {
            Change::Added(o) | Change::Modified(_, o) => (o, false),
            Change::Deleted(o) => (o, true),
        };
        let Some(key) = service_key_of(slice) else { return };
        let name = meta(slice, "name").to_string();
        let generation = slice.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let Some(tracked) = self.expected.get_mut(&key) else {
            self.queue.add(&key);
            return;
        };
        let seen = match tracked.get(&name) {
            None => {
                self.queue.add(&key);
                return;
            }
            Some(None) => deleted,
            Some(Some(g)) => deleted || generation >= *g,
        };
        if seen {
            tracked.remove(&name);
            if tracked.is_empty() {
                self.expected.remove(&key);
                self.queue.add(&key);
            }
        }
    }

    /// Moves due retries to the queue; whether any.
    pub fn expire(&mut self, now: u64) -> bool {
        self.queue.expire(now)
    }

    /// When the next retry is due.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.next_due()
    }

    /// Syncs every queued Service whose earlier writes are answered.
    pub fn sync(
        &mut self,
        services: &Reflector,
        pods: &Reflector,
        slices: &Reflector,
        nodes: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        for key in self.queue.take_ready() {
            self.sync_one(&key, services, pods, slices, nodes, now, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sync_one(
        &mut self,
        key: &str,
        services: &Reflector,
        pods: &Reflector,
        slices: &Reflector,
        nodes: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        let Some(service) = services.store().get(key) else {
            // The garbage collector deletes the slices (ownerReferences).
            self.triggers.delete(key);
            self.expected.remove(key);
            return;
        };
        if service.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName")
            || service_selector(service).is_none()
        {
            return;
        }
        // The informer must show the controller's own writes (`StaleSlices`);
        // the watch event may have come before the write's answer.
        let namespace = meta(service, "namespace").to_string();
        if let Some(tracked) = self.expected.get_mut(key) {
            tracked.retain(|name, want| {
                let cached = slices.store().get(&format!("{namespace}/{name}"));
                let generation = cached.and_then(|s| s.pointer("/metadata/generation")).and_then(Value::as_i64);
                match want {
                    None => cached.is_some(),
                    Some(g) => generation.is_none_or(|have| have < *g),
                }
            });
            if !tracked.is_empty() {
                self.queue.add_rate_limited(key, now);
                return;
            }
            self.expected.remove(key);
        }
        let existing: Vec<Slice> = slices
            .store()
            .values()
            .filter(|s| service_key_of(s).as_deref() == Some(key))
            .filter(|s| s.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null))
            .map(Slice::from_value)
            .collect();
        let pods = selected_pods(service, pods);
        let trigger = self.triggers.compute(service, &pods);
        let plan = reconcile(service, &pods, nodes.store(), &existing, self.max_endpoints_per_slice);
        let collection = format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices");
        for slice in &plan.create {
            let api = ApiRequest::new(0, Method::Post, collection.clone()).with_body(slice.to_value(service, trigger));
            self.send(Request::Create { key: key.to_string() }, api, now, out);
        }
        for slice in &plan.update {
            let path = format!("{collection}/{}", slice.name);
            let api = ApiRequest::new(0, Method::Put, path).with_body(slice.to_value(service, trigger));
            self.send(Request::Update { key: key.to_string(), slice: slice.name.clone() }, api, now, out);
        }
        for slice in &plan.delete {
            let api = ApiRequest::new(0, Method::Delete, format!("{collection}/{}", slice.name));
            self.send(Request::Delete { key: key.to_string(), slice: slice.name.clone() }, api, now, out);
        }
        if !plan.errors.is_empty() {
            self.failed(service, &plan.errors.join(", "), now, out);
        } else if plan.create.is_empty() && plan.update.is_empty() && plan.delete.is_empty() {
            self.queue.forget(key);
        }
    }

    /// A sync failed: a `FailedToUpdateEndpointSlices` event and a retry.
    fn failed(&mut self, service: &Value, error: &str, now: u64, out: &mut Outbox) {
        let key = object_key(service);
        let mut reference = ObjectReference::to(service);
        reference.api_version = "v1".into();
        reference.kind = "Service".into();
        let message = format!("Error updating Endpoint Slices for Service {key}: {error}");
        let api = self.recorder.event(&reference, "Warning", "FailedToUpdateEndpointSlices", &message, now);
        self.send(Request::Event, api, now, out);
        self.queue.add_rate_limited(&key, now);
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, services: &Reflector, now: u64, out: &mut Outbox) {
        let Some(request) = self.requests.remove(&tag) else { return };
        let ok = response.code < 300;
        let message = response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error");
        let generation = response.body.as_ref().and_then(|b| b.pointer("/metadata/generation")).and_then(Value::as_i64);
        let (key, error) = match request {
            Request::Event => return,
            Request::Create { key } => {
                self.queue.answered(&key);
                if ok {
                    let name = response.body.as_ref().map(|b| meta(b, "name").to_string()).unwrap_or_default();
                    self.expected.entry(key.clone()).or_default().insert(name, Some(generation.unwrap_or(1)));
                    self.writes += 1;
                    return;
                }
                if response.code == 403 && message.contains("because it is being terminated") {
                    return;
                }
                let error = format!("failed to create EndpointSlice for Service {key}: {message}");
                (key, error)
            }
            Request::Update { key, slice } => {
                self.queue.answered(&key);
                if ok {
                    self.expected.entry(key.clone()).or_default().insert(slice, Some(generation.unwrap_or(1)));
                    self.writes += 1;
                    return;
                }
                let error = format!("failed to update {slice} EndpointSlice for Service {key}: {message}");
                (key, error)
            }
            Request::Delete { key, slice } => {
                self.queue.answered(&key);
                if ok {
                    self.expected.entry(key.clone()).or_default().insert(slice, None);
                    self.writes += 1;
                    return;
                }
                if response.code == 404 {
                    return;
                }
                let error = format!("failed to delete {slice} EndpointSlice for Service {key}: {message}");
                (key, error)
            }
        };
        match services.store().get(&key).cloned() {
            Some(service) => self.failed(&service, &error, now, out),
            None => self.queue.add_rate_limited(&key, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"tier": "front"},
                "creationTimestamp": "2025-01-01T00:00:01Z"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ipFamilies": ["IPv4"],
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    }

    fn pod(i: usize, ready: bool) -> Value {
        let ip = format!("10.244.{}.{}", i / 200 + 1, i % 200 + 2);
        json!({"metadata": {"name": format!("p{i:03}"), "namespace": "default", "uid": format!("uid-{i}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn nodes() -> BTreeMap<String, Value> {
        BTreeMap::from([(
            "node-1".to_string(),
            json!({"metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}}),
        )])
    }

    /// The plan's creations, stored under names, as the next sync sees them.
    fn stored(plan: &Plan, existing: &[Slice]) -> Vec<Slice> {
        let mut out: Vec<Slice> = existing
            .iter()
            .filter(|s| !plan.delete.iter().any(|d| d.name == s.name) && !plan.update.iter().any(|u| u.name == s.name))
            .cloned()
            .collect();
        out.extend(plan.update.iter().cloned());
        for (i, s) in plan.create.iter().enumerate() {
            let mut s = s.clone();
            s.name = format!("web-new{i}-{}", existing.len());
            out.push(s);
        }
        out
    }

    #[test]
    fn endpoints_carry_conditions_node_zone_and_target() {
        let svc = service();
        let (a, mut b) = (pod(0, true), pod(1, false));
        b["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:01:00Z");
        let plan = reconcile(&svc, &[&a, &b], &nodes(), &[], 100);
        assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (1, 0, 0));
        let v = plan.create[0].to_value(&svc, Some(1000));
        assert_eq!(v["metadata"]["generateName"], "web-");
        assert_eq!(
            v["metadata"]["labels"],
            json!({"tier": "front", "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": CONTROLLER_NAME})
        );
        assert_eq!(v["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(v["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME], "2025-01-01T00:00:01Z");
        assert_eq!(v["ports"], json!([{"name": "http", "port": 8080, "protocol": "TCP"}]));
        assert_eq!(v["addressType"], "IPv4");
        let e = &v["endpoints"];
        assert_eq!(e[0]["addresses"], json!(["10.244.1.2"]));
        assert_eq!(e[0]["conditions"], json!({"ready": true, "serving": true, "terminating": false}));
        assert_eq!((e[0]["nodeName"].as_str(), e[0]["zone"].as_str()), (Some("node-1"), Some("zone-a")));
        assert_eq!(e[0]["targetRef"]["name"], "p000");
        // A terminating pod stays, neither ready nor serving.
        assert_eq!(e[1]["conditions"], json!({"ready": false, "serving": false, "terminating": true}));
    }

    #[test]
    fn a_service_without_pods_gets_one_placeholder_kept_across_syncs() {
        let svc = service();
        let plan = reconcile(&svc, &[], &nodes(), &[], 100);
        assert_eq!(plan.create.len(), 1);
        assert!(plan.create[0].endpoints.is_empty() && plan.create[0].ports.is_empty());
        let existing = stored(&plan, &[]);
        assert_eq!(reconcile(&svc, &[], &nodes(), &existing, 100), Plan::default());
        // The first pod fills the placeholder in place (a creation turned update).
        let a = pod(0, true);
        let plan = reconcile(&svc, &[&a], &nodes(), &existing, 100);
        assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 1, 0), "{plan:?}");
        assert_eq!(plan.update[0].name, existing[0].name);
        assert_eq!(plan.update[0].endpoints.len(), 1);
    }

    #[test]
    fn slices_fill_to_the_maximum_and_shrink_in_place() {
        let svc = service();
        let pods: Vec<Value> = (0..250).map(|i| pod(i, true)).collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let plan = reconcile(&svc, &refs, &nodes(), &[], 100);
        let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let existing = stored(&plan, &[]);
        assert_eq!(reconcile(&svc, &refs, &nodes(), &existing, 100), Plan::default(), "a second sync writes nothing");
        // Five pods go: only the slices holding them are updated.
        let fewer: Vec<&Value> = refs
            .iter()
            .copied()
            .filter(|p| !["p000", "p001", "p002", "p003", "p004"].contains(&meta(p, "name")))
            .collect();
        let plan = reconcile(&svc, &fewer, &nodes(), &existing, 100);
        assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 1, 0));
        assert_eq!(plan.update[0].endpoints.len(), 95);
        // Ten new pods go into the unchanged slice closest to full that fits them (the one with 50).
        let more_pods: Vec<Value> = (250..260).map(|i| pod(i, true)).collect();
        let mut more = refs.clone();
        more.extend(more_pods.iter());
        let plan = reconcile(&svc, &more, &nodes(), &existing, 100);
        assert_eq!((plan.create.len(), plan.update.len()), (0, 1), "{plan:?}");
        assert_eq!(plan.update[0].endpoints.len(), 60);
    }

    #[test]
    fn readiness_changes_update_the_endpoint_in_place() {
        let svc = service();
        let a = pod(0, false);
        let plan = reconcile(&svc, &[&a], &nodes(), &[], 100);
        assert_eq!(plan.create[0].endpoints[0].ready, Some(false));
        let existing = stored(&plan, &[]);
        let a = pod(0, true);
        let plan = reconcile(&svc, &[&a], &nodes(), &existing, 100);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].endpoints[0].ready, Some(true));
    }

    #[test]
    fn pods_with_different_ports_get_separate_slices_and_unknown_nodes_are_errors() {
        let mut svc = service();
        svc["spec"]["ports"][0]["targetPort"] = json!("web");
        let mut a = pod(0, true);
        a["spec"]["containers"][0]["ports"] = json!([{"name": "web", "containerPort": 8080, "protocol": "TCP"}]);
        let mut b = pod(1, true);
        b["spec"]["containers"][0]["ports"] = json!([{"name": "web", "containerPort": 9090, "protocol": "TCP"}]);
        let mut c = pod(2, true);
        c["spec"]["nodeName"] = json!("node-9");
        let plan = reconcile(&svc, &[&a, &b, &c], &nodes(), &[], 100);
        let mut ports: Vec<Vec<Option<i64>>> =
            plan.create.iter().map(|s| s.ports.iter().map(|p| p.port).collect()).collect();
        ports.sort();
        assert_eq!(ports, vec![vec![Some(8080)], vec![Some(9090)]]);
        assert_eq!(plan.errors, ["skipping Pod p002 for Service default/web: Node node-9 Not Found"]);
    }

    #[test]
    fn slices_not_owned_by_the_service_are_replaced() {
        let svc = service();
        let a = pod(0, true);
        let mut foreign = reconcile(&svc, &[&a], &nodes(), &[], 100).create.remove(0);
        foreign.name = "web-old".into();
        foreign.owner_references = json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "old-uid"}]);
        let plan = reconcile(&svc, &[&a], &nodes(), &[foreign], 100);
        assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (1, 0, 1));
        assert_eq!(plan.delete[0].name, "web-old");
    }

    #[test]
    fn the_closest_to_full_slice_is_filled() {
        let slice = |n: usize| Slice { endpoints: vec![Endpoint::default(); n], ..Slice::default() };
        let (a, b, c) = (slice(10), slice(95), slice(80));
        assert_eq!(slice_to_fill(&[&a, &b, &c], 10, 100), Some(2));
        assert_eq!(slice_to_fill(&[&a, &b, &c], 5, 100), Some(1));
        assert_eq!(slice_to_fill(&[&b], 10, 100), None);
    }
}
