//! The Endpoints controller (pkg/controller/endpoint/endpoints_controller.go
//! of Kubernetes v1.32): for each Service with a selector, an Endpoints
//! object of the same name listing the selected pods' IPs.
//!
//! Like `syncService`: the Service's pods that should be in endpoints
//! (`ShouldPodBeInEndpoints`: not terminal, with an IP, not terminating
//! unless `publishNotReadyAddresses`) each give an address (`ip`,
//! `nodeName`, `targetRef` to the pod, `hostname` when the pod's subdomain
//! is the Service) per Service port whose `targetPort` resolves on the pod
//! (`FindPort`: a number as is, a name looked up in the containers' ports
//! with the same protocol; a pod without it is left out of that port), ready
//! or not ready by the pod's `Ready` condition. The subsets are repacked
//! like `endpoints.RepackSubsets` (pkg/api/v1/endpoints/util.go), truncated
//! to 1000 addresses (`maxCapacity`, annotation
//! `endpoints.kubernetes.io/over-capacity: truncated`), and written when
//! they, the labels (the Service's, plus `service.kubernetes.io/headless`
//! for headless Services) or the capacity annotation differ from the
//! stored object, with `endpoints.kubernetes.io/last-change-trigger-time`
//! from the trigger-time tracker
//! (staging/src/k8s.io/endpointslice/util/trigger_time_tracker.go).
//! Services without a selector, and ExternalName Services, are left alone;
//! the Endpoints of a deleted Service are deleted; at start every Endpoints
//! object is checked (`checkLeftoverEndpoints`).
//!
//! Deviation: `RepackSubsets` orders ports and subsets by an md5 of their Go
//! dump; here ports are ordered by (name, port, protocol) and subsets by
//! their contents, so the order is stable but not byte-for-byte upstream's.

use super::workqueue::WorkQueue;
use super::Outbox;
use crate::apimachinery::labels::{labels_of, string_map, Selector};
use crate::apimachinery::time::{parse_rfc3339, rfc3339};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The controller's name in events (`source.component`).
pub const COMPONENT: &str = "endpoint-controller";
/// Addresses an Endpoints object holds at most (`maxCapacity`).
pub const MAX_CAPACITY: usize = 1000;
/// Set when the addresses were truncated to [`MAX_CAPACITY`] (`v1.EndpointsOverCapacity`).
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// When the change that led to the endpoints happened (`v1.EndpointsLastChangeTriggerTime`).
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Marks the endpoints of a Service without a cluster IP (`v1.IsHeadlessService`).
pub const HEADLESS: &str = "service.kubernetes.io/headless";
/// Tags of this controller's requests start here (see the manager's routing).
pub const TAG_BASE: u64 = 1 << 58;

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(o: &'a Value, pointer: &str) -> &'a [Value] {
    o.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Pod and Service helpers shared with the EndpointSlice controller
// (staging/src/k8s.io/endpointslice/util/controller_utils.go, utils.go).

/// The pod's `Ready` condition is True (`IsPodReady`).
pub fn is_pod_ready(pod: &Value) -> bool {
    list(pod, "/status/conditions").iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The pod has a deletion timestamp.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// `ShouldPodBeInEndpoints`: not Succeeded or Failed, has an IP, and (unless
/// `include_terminating`) is not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    let phase = str_at(pod, "/status/phase");
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if str_at(pod, "/status/podIP").is_empty() && list(pod, "/status/podIPs").is_empty() {
        return false;
    }
    include_terminating || !is_terminating(pod)
}

/// The pod's IPs (`status.podIPs`, or `status.podIP` alone).
pub fn pod_ips(pod: &Value) -> Vec<String> {
    let ips: Vec<String> = list(pod, "/status/podIPs")
        .iter()
        .filter_map(|p| p.get("ip").and_then(Value::as_str))
        .map(String::from)
        .collect();
    if ips.is_empty() && !str_at(pod, "/status/podIP").is_empty() {
        return vec![str_at(pod, "/status/podIP").to_string()];
    }
    ips
}

/// `FindPort`: the container port a Service port's `targetPort` names on
/// `pod`: a number as is; a name looked up among the ports (with the Service
/// port's protocol) of the containers and of restartable init containers
/// (sidecars). `None` when the name is not found.
pub fn find_port(pod: &Value, service_port: &Value) -> Option<i64> {
    let protocol = service_port.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
    match service_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) if !name.is_empty() => {
            let sidecars = list(pod, "/spec/initContainers")
                .iter()
                .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
            list(pod, "/spec/containers").iter().chain(sidecars).flat_map(|c| list(c, "/ports")).find_map(|p| {
                let p_protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                (p.get("name").and_then(Value::as_str) == Some(name) && p_protocol == protocol)
                    .then(|| p.get("containerPort").and_then(Value::as_i64))
                    .flatten()
            })
        }
        // Defaulting sets targetPort to the port.
        _ => service_port.get("port").and_then(Value::as_i64),
    }
}

/// `ShouldSetHostname`: the pod sets a hostname and its subdomain is the Service.
pub fn should_set_hostname(pod: &Value, service: &Value) -> bool {
    !str_at(pod, "/spec/hostname").is_empty()
        && str_at(pod, "/spec/subdomain") == meta(service, "name")
        && meta(service, "namespace") == meta(pod, "namespace")
}

/// The Service's selector; `None` when it has none (a nil selector selects nothing).
pub fn service_selector(service: &Value) -> Option<Selector> {
    let map = string_map(service.pointer("/spec/selector"));
    if map.is_empty() {
        return None;
    }
    Selector::from_label_selector(&json!({ "matchLabels": map }))
}

/// Whether the Service has a cluster IP (`IsServiceIPSet`): not headless.
pub fn is_service_ip_set(service: &Value) -> bool {
    let ip = str_at(service, "/spec/clusterIP");
    !ip.is_empty() && ip != "None"
}

/// The pods of `service`'s namespace its selector matches.
pub fn selected_pods<'a>(service: &Value, pods: &'a Reflector) -> Vec<&'a Value> {
    let Some(selector) = service_selector(service) else { return Vec::new() };
    let namespace = meta(service, "namespace");
    pods.store().values().filter(|p| meta(p, "namespace") == namespace && selector.matches(&labels_of(p))).collect()
}

/// The keys of the Services a pod change concerns (`GetServicesToUpdateOnPodChange`):
/// none when nothing endpoints depend on changed; those matching the new
/// labels, and the old ones too when the labels changed.
pub fn services_for_pod_change(change: &Change, services: &Reflector) -> BTreeSet<String> {
    let (pod, old) = match change {
        Change::Added(p) | Change::Deleted(p) => (p, None),
        Change::Modified(old, p) => (p, Some(old)),
    };
    let matching = |p: &Value| -> BTreeSet<String> {
        let labels = labels_of(p);
        services
            .store()
            .iter()
            .filter(|(_, s)| meta(s, "namespace") == meta(p, "namespace"))
            .filter(|(_, s)| service_selector(s).is_some_and(|sel| sel.matches(&labels)))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let Some(old) = old else { return matching(pod) };
    let labels_changed = labels_of(old) != labels_of(pod)
        || str_at(old, "/spec/hostname") != str_at(pod, "/spec/hostname")
        || str_at(old, "/spec/subdomain") != str_at(pod, "/spec/subdomain");
    let pod_changed = is_terminating(old) != is_terminating(pod)
        || is_pod_ready(old) != is_pod_ready(pod)
        || pod_ips(old) != pod_ips(pod)
        // Not in upstream's list: a pod turning terminal leaves the endpoints,
        // which upstream notices through its IP change or deletion.
        || str_at(old, "/status/phase") != str_at(pod, "/status/phase");
    match (pod_changed, labels_changed) {
        (false, false) => BTreeSet::new(),
        (true, false) => matching(pod),
        (true, true) => matching(pod).union(&matching(old)).cloned().collect(),
        (false, true) => matching(pod).symmetric_difference(&matching(old)).cloned().collect(),
    }
}

/// `TriggerTimeTracker`: when the change that the next endpoints write
/// reflects happened. For a Service seen for the first time, its creation
/// time; afterwards the earliest pod `Ready` transition (or Service
/// creation) newer than what the previous sync saw; `None` when none is.
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    /// Service key → (its creation time, pod name → Ready transition time).
    states: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
}

impl TriggerTimeTracker {
    /// The trigger time for a sync of `service` with `pods` (ms), updating the state.
    pub fn compute(&mut self, service: &Value, pods: &[&Value]) -> Option<u64> {
        let key = object_key(service);
        let created = parse_rfc3339(meta(service, "creationTimestamp")).unwrap_or(0);
        let mut pod_times = BTreeMap::new();
        let mut min_changed: Option<u64> = None;
        let previous = self.states.get(&key);
        for pod in pods {
            let ready = list(pod, "/status/conditions").iter().find(|c| c["type"] == "Ready");
            let Some(t) =
                ready.and_then(|c| c.get("lastTransitionTime")).and_then(Value::as_str).and_then(parse_rfc3339)
            else {
                continue;
            };
            pod_times.insert(meta(pod, "name").to_string(), t);
            let seen = previous.and_then(|(_, times)| times.get(meta(pod, "name")).copied());
            if seen.is_none_or(|s| t > s) {
                min_changed = Some(min_changed.map_or(t, |m| m.min(t)));
            }
        }
        if previous.is_none_or(|(c, _)| created > *c) {
            min_changed = Some(min_changed.map_or(created, |m| m.min(created)));
        }
        let known = previous.is_some();
        self.states.insert(key, (created, pod_times));
        if known {
            min_changed
        } else {
            Some(created)
        }
    }

    /// Forgets a deleted Service.
    pub fn delete(&mut self, key: &str) {
        self.states.remove(key);
    }
}

// ---------------------------------------------------------------------------
// Subsets.

/// The pod an address belongs to (`targetRef`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetRef {
    /// `kind` (Pod).
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

impl TargetRef {
    /// The reference to `pod`.
    pub fn to_pod(pod: &Value) -> TargetRef {
        TargetRef {
            kind: "Pod".into(),
            namespace: meta(pod, "namespace").into(),
            name: meta(pod, "name").into(),
            uid: meta(pod, "uid").into(),
        }
    }

    /// From JSON, ignoring the resourceVersion (as upstream's comparison does).
    pub fn from_value(v: &Value) -> TargetRef {
        let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        TargetRef { kind: s("kind"), namespace: s("namespace"), name: s("name"), uid: s("uid") }
    }

    /// As JSON.
    pub fn to_value(&self) -> Value {
        json!({"kind": self.kind, "namespace": self.namespace, "name": self.name, "uid": self.uid})
    }
}

/// One `EndpointAddress`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    /// `ip`.
    pub ip: String,
    /// `hostname` (empty for none).
    pub hostname: String,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `targetRef`.
    pub target: Option<TargetRef>,
}

impl Address {
    fn from_value(v: &Value) -> Address {
        Address {
            ip: str_at(v, "/ip").into(),
            hostname: str_at(v, "/hostname").into(),
            node_name: v.get("nodeName").and_then(Value::as_str).map(String::from),
            target: v.get("targetRef").filter(|t| t.is_object()).map(TargetRef::from_value),
        }
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"ip": self.ip});
        if !self.hostname.is_empty() {
            v["hostname"] = json!(self.hostname);
        }
        if let Some(n) = &self.node_name {
            v["nodeName"] = json!(n);
        }
        if let Some(t) = &self.target {
            v["targetRef"] = t.to_value();
        }
        v
    }

    /// `LessEndpointAddress`: by IP (as bytes), then by the target's uid.
    fn order_key(&self) -> (&str, Option<&str>) {
        (&self.ip, self.target.as_ref().map(|t| t.uid.as_str()))
    }

    /// The identity `RepackSubsets` dedupes by: IP and target uid.
    fn identity(&self) -> (String, String) {
        (self.ip.clone(), self.target.as_ref().map(|t| t.uid.clone()).unwrap_or_default())
    }
}

/// One `EndpointPort`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// `name` (empty for none).
    pub name: String,
    /// `port`.
    pub port: i64,
    /// `protocol`.
    pub protocol: String,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

impl Port {
    fn from_value(v: &Value) -> Port {
        Port {
            name: str_at(v, "/name").into(),
            port: v.get("port").and_then(Value::as_i64).unwrap_or(0),
            protocol: v.get("protocol").and_then(Value::as_str).unwrap_or("TCP").into(),
            app_protocol: v.get("appProtocol").and_then(Value::as_str).map(String::from),
        }
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"port": self.port, "protocol": self.protocol});
        if !self.name.is_empty() {
            v["name"] = json!(self.name);
        }
        if let Some(a) = &self.app_protocol {
            v["appProtocol"] = json!(a);
        }
        v
    }
}

/// One `EndpointSubset`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subset {
    /// Ready addresses.
    pub addresses: Vec<Address>,
    /// `notReadyAddresses`.
    pub not_ready: Vec<Address>,
    /// Ports.
    pub ports: Vec<Port>,
}

/// The subsets of an Endpoints object.
pub fn subsets_from_value(endpoints: &Value) -> Vec<Subset> {
    list(endpoints, "/subsets")
        .iter()
        .map(|s| Subset {
            addresses: list(s, "/addresses").iter().map(Address::from_value).collect(),
            not_ready: list(s, "/notReadyAddresses").iter().map(Address::from_value).collect(),
            ports: list(s, "/ports").iter().map(Port::from_value).collect(),
        })
        .collect()
}

/// Subsets as JSON (empty lists left out, as Go's `omitempty` does).
pub fn subsets_to_value(subsets: &[Subset]) -> Value {
    Value::Array(
        subsets
            .iter()
            .map(|s| {
                let mut v = Map::new();
                let addrs = |a: &[Address]| Value::Array(a.iter().map(Address::to_value).collect());
                if !s.addresses.is_empty() {
                    v.insert("addresses".into(), addrs(&s.addresses));
                }
                if !s.not_ready.is_empty() {
                    v.insert("notReadyAddresses".into(), addrs(&s.not_ready));
                }
                if !s.ports.is_empty() {
                    v.insert("ports".into(), Value::Array(s.ports.iter().map(Port::to_value).collect()));
                }
                Value::Object(v)
            })
            .collect(),
    )
}

/// `RepackSubsets`: every (address, port) pair regrouped so that each
/// subset holds the ports served by exactly the same addresses; an address
/// not ready on a port stays not ready; addresses sorted by IP and uid.
pub fn repack_subsets(subsets: &[Subset]) -> Vec<Subset> {
    let mut all: BTreeMap<(String, String), Address> = BTreeMap::new();
    // Port → address identity → ready.
    let mut by_port: BTreeMap<Port, BTreeMap<(String, String), bool>> = BTreeMap::new();
    for s in subsets {
        for port in &s.ports {
            for (addrs, ready) in [(&s.addresses, true), (&s.not_ready, false)] {
                for a in addrs {
                    let id = a.identity();
                    all.entry(id.clone()).or_insert_with(|| a.clone());
                    let set = by_port.entry(port.clone()).or_default();
                    let slot = set.entry(id).or_insert(ready);
                    // Not ready trumps ready.
                    *slot = *slot && ready;
                }
            }
        }
    }
    let mut by_addresses: BTreeMap<Vec<((String, String), bool)>, Vec<Port>> = BTreeMap::new();
    for (port, set) in by_port {
        by_addresses.entry(set.into_iter().collect()).or_default().push(port);
    }
    let mut out: Vec<Subset> = by_addresses
        .into_iter()
        .map(|(set, ports)| {
            let mut s = Subset { ports, ..Subset::default() };
            for (id, ready) in set {
                let a = all[&id].clone();
                if ready {
                    s.addresses.push(a);
                } else {
                    s.not_ready.push(a);
                }
            }
            s
        })
        .collect();
    for s in &mut out {
        s.addresses.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        s.not_ready.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        s.ports.sort();
    }
    out.sort();
    out
}

/// The subsets a Service's endpoints should have (before truncation).
pub fn desired_subsets(service: &Value, pods: &[&Value]) -> Vec<Subset> {
    let publish_not_ready = service.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    let ports = list(service, "/spec/ports");
    // The Service's first IP family picks the pod IP (podToEndpointAddressForService).
    let ipv6 = match service.pointer("/spec/ipFamilies/0").and_then(Value::as_str) {
        Some(family) => family == "IPv6",
        None => str_at(service, "/spec/clusterIP").contains(':'),
    };
    let mut subsets = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(ip) = pod_ips(pod).into_iter().find(|ip| ip.contains(':') == ipv6) else { continue };
        let node = str_at(pod, "/spec/nodeName");
        let address = Address {
            ip,
            hostname: if should_set_hostname(pod, service) {
                str_at(pod, "/spec/hostname").into()
            } else {
                String::new()
            },
            node_name: Some(node.to_string()),
            target: Some(TargetRef::to_pod(pod)),
        };
        let ready = publish_not_ready || is_pod_ready(pod);
        let mut subset = |ports: Vec<Port>| {
            subsets.push(if ready {
                Subset { addresses: vec![address.clone()], not_ready: vec![], ports }
            } else {
                Subset { addresses: vec![], not_ready: vec![address.clone()], ports }
            })
        };
        if ports.is_empty() {
            // A headless Service may have no ports.
            if str_at(service, "/spec/clusterIP") == "None" {
                subset(vec![]);
            }
            continue;
        }
        for sp in ports {
            let Some(number) = find_port(pod, sp) else { continue };
            subset(vec![Port {
                name: str_at(sp, "/name").into(),
                port: number,
                protocol: sp.get("protocol").and_then(Value::as_str).unwrap_or("TCP").into(),
                app_protocol: sp.get("appProtocol").and_then(Value::as_str).map(String::from),
            }]);
        }
    }
    // Subsets without ports (headless, portless) are not repacked upstream:
    // RepackSubsets would drop them.
    let (portless, ported): (Vec<Subset>, Vec<Subset>) = subsets.into_iter().partition(|s| s.ports.is_empty());
    let mut out = repack_subsets(&ported);
    out.extend(portless);
    out
}

/// `truncateEndpoints`: cuts the addresses to [`MAX_CAPACITY`], ready ones
/// first, each subset keeping its share (rounded up) of what fits; whether
/// anything was cut.
pub fn truncate(subsets: &mut [Subset]) -> bool {
    let ready: usize = subsets.iter().map(|s| s.addresses.len()).sum();
    let not_ready: usize = subsets.iter().map(|s| s.not_ready.len()).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready { (MAX_CAPACITY, ready) } else { (MAX_CAPACITY - ready, not_ready) };
    let mut can_be_added = max;
    for s in subsets.iter_mut() {
        let n = if truncate_ready { s.addresses.len() } else { s.not_ready.len() };
        let share = (n * max).div_ceil(total.max(1)).min(can_be_added);
        if truncate_ready {
            s.addresses.truncate(share);
            s.not_ready.clear();
            can_be_added -= s.addresses.len();
        } else {
            s.not_ready.truncate(share);
            can_be_added -= s.not_ready.len();
        }
    }
    true
}

fn address_count(subsets: &[Subset]) -> usize {
    subsets.iter().map(|s| s.addresses.len() + s.not_ready.len()).sum()
}

/// The Endpoints object to write for `service`, or `None` when `current`
/// (the stored one, if any) is already right.
pub fn plan_endpoints(
    service: &Value,
    pods: &[&Value],
    current: Option<&Value>,
    trigger_ms: Option<u64>,
) -> Option<Value> {
    let mut subsets = desired_subsets(service, pods);
    let service_labels = string_map(service.pointer("/metadata/labels"));
    if let Some(current) = current {
        let mut labels = labels_of(current);
        labels.remove(HEADLESS);
        let annotations = string_map(current.pointer("/metadata/annotations"));
        let current_subsets = subsets_from_value(current);
        // capacityAnnotationSetCorrectly.
        let capacity_ok = address_count(&current_subsets) <= MAX_CAPACITY && !annotations.contains_key(OVER_CAPACITY);
        if current_subsets == subsets && labels == service_labels && capacity_ok {
            return None;
        }
    }
    let mut object = current.cloned().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": meta(service, "name"), "namespace": meta(service, "namespace")}})
    });
    let mut annotations = string_map(object.pointer("/metadata/annotations"));
    match trigger_ms {
        Some(t) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), rfc3339(t)),
        None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
    };
    if truncate(&mut subsets) {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let mut labels = service_labels;
    if is_service_ip_set(service) {
        labels.remove(HEADLESS);
    } else {
        labels.insert(HEADLESS.into(), String::new());
    }
    object["metadata"]["labels"] = json!(labels);
    object["metadata"]["annotations"] = json!(annotations);
    object["subsets"] = subsets_to_value(&subsets);
    Some(object)
}

// ---------------------------------------------------------------------------
// The controller.

#[derive(Clone, Debug)]
enum Request {
    Create { key: String, object: Value },
    Update { key: String, object: Value, from_rv: String },
    Delete { key: String },
    Event,
}

/// What the informer cache must show before a Service is synced again
/// (upstream's `staleEndpointsTracker`, and the created object's arrival).
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// The Endpoints was created: it must be in the cache.
    Exists,
    /// It was updated from this resourceVersion: the cache must have moved on.
    Past(String),
}

/// The controller's state.
#[derive(Debug)]
pub struct EndpointsController {
    queue: WorkQueue,
    requests: BTreeMap<u64, Request>,
    next_tag: u64,
    triggers: TriggerTimeTracker,
    expect: BTreeMap<String, Expect>,
    recorder: EventRecorder,
    /// Whether `checkLeftoverEndpoints` ran.
    checked_leftovers: bool,
    writes: u64,
}

impl Default for EndpointsController {
    fn default() -> Self {
        EndpointsController {
            queue: WorkQueue::default(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            triggers: TriggerTimeTracker::default(),
            expect: BTreeMap::new(),
            recorder: EventRecorder::new(COMPONENT, ""),
            checked_leftovers: false,
            writes: 0,
        }
    }
}

impl EndpointsController {
    /// Whether `tag` is one of this controller's.
    pub fn owns(tag: u64) -> bool {
        (TAG_BASE..TAG_BASE * 2).contains(&tag)
    }

    /// Endpoints objects created, updated or deleted so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn send(&mut self, request: Request, api: ApiRequest, now: u64, out: &mut Outbox) {
        self.next_tag += 1;
        if let Request::Create { key, .. } | Request::Update { key, .. } | Request::Delete { key } = &request {
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

    /// An Endpoints object changed: a deleted one is recreated if its Service
    /// wants it (`onEndpointsDelete`); any change may be what a sync waits for.
    pub fn on_endpoints(&mut self, change: &Change) {
        let (o, deleted) = match change {
            Change::Added(o) | Change::Modified(_, o) => (o, false),
            Change::Deleted(o) => (o, true),
        };
        let key = object_key(o);
        let seen = match self.expect.get(&key) {
            Some(Expect::Exists) => true,
            Some(Expect::Past(rv)) => meta(o, "resourceVersion") != rv,
            None => false,
        };
        if seen {
            self.expect.remove(&key);
            self.queue.add(&key);
        }
        if deleted {
            self.queue.add(&key);
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
    pub fn sync(&mut self, services: &Reflector, pods: &Reflector, endpoints: &Reflector, now: u64, out: &mut Outbox) {
        if !self.checked_leftovers {
            self.checked_leftovers = true;
            for (key, ep) in endpoints.store() {
                // Leader-election records live in Endpoints without a Service.
                if string_map(ep.pointer("/metadata/annotations"))
                    .contains_key("control-plane.alpha.kubernetes.io/leader")
                {
                    continue;
                }
                self.queue.add(key);
            }
        }
        for key in self.queue.take_ready() {
            self.sync_one(&key, services, pods, endpoints, now, out);
        }
    }

    fn sync_one(
        &mut self,
        key: &str,
        services: &Reflector,
        pods: &Reflector,
        endpoints: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        let current = endpoints.store().get(key);
        let Some(service) = services.store().get(key) else {
            self.triggers.delete(key);
            self.expect.remove(key);
            if let Some(ep) = current {
                let path = format!("/api/v1/namespaces/{}/endpoints/{}", meta(ep, "namespace"), meta(ep, "name"));
                self.send(Request::Delete { key: key.to_string() }, ApiRequest::new(0, Method::Delete, path), now, out);
            }
            return;
        };
        if str_at(service, "/spec/type") == "ExternalName" || service_selector(service).is_none() {
            return;
        }
        // The cache must show our last write first (upstream returns an
        // error and retries; the watch event brings the key back too).
        let stale = match (self.expect.get(key), current) {
            (Some(Expect::Exists), None) => true,
            (Some(Expect::Past(rv)), Some(ep)) => meta(ep, "resourceVersion") == rv,
            _ => false,
        };
        if stale {
            self.queue.add_rate_limited(key, now);
            return;
        }
        self.expect.remove(key);
        let pods = selected_pods(service, pods);
        let trigger = self.triggers.compute(service, &pods);
        let Some(object) = plan_endpoints(service, &pods, current, trigger) else {
            self.queue.forget(key);
            return;
        };
        let namespace = meta(service, "namespace");
        match current {
            None => {
                let path = format!("/api/v1/namespaces/{namespace}/endpoints");
                let api = ApiRequest::new(0, Method::Post, path).with_body(object.clone());
                self.send(Request::Create { key: key.to_string(), object }, api, now, out);
            }
            Some(ep) => {
                let path = format!("/api/v1/namespaces/{namespace}/endpoints/{}", meta(ep, "name"));
                let from_rv = meta(ep, "resourceVersion").to_string();
                let api = ApiRequest::new(0, Method::Put, path).with_body(object.clone());
                self.send(Request::Update { key: key.to_string(), object, from_rv }, api, now, out);
            }
        }
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64, out: &mut Outbox) {
        let Some(request) = self.requests.remove(&tag) else { return };
        let ok = response.code < 300;
        let message = response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error");
        match request {
            Request::Event => {}
            Request::Create { key, object } => {
                self.queue.answered(&key);
                if ok {
                    self.writes += 1;
                    self.expect.insert(key.clone(), Expect::Exists);
                    self.queue.forget(&key);
                    return;
                }
                // A terminating namespace refuses creations for good: drop the key.
                if response.code == 403 && message.contains("because it is being terminated") {
                    self.queue.forget(&key);
                    return;
                }
                let text = format!("Failed to create endpoint for service {key}: {message}");
                self.event(&object, "FailedToCreateEndpoint", &text, now, out);
                self.queue.add_rate_limited(&key, now);
            }
            Request::Update { key, object, from_rv } => {
                self.queue.answered(&key);
                if ok {
                    self.writes += 1;
                    let rv = response.body.as_ref().map(|b| meta(b, "resourceVersion").to_string()).unwrap_or_default();
                    if rv != from_rv {
                        self.expect.insert(key.clone(), Expect::Past(from_rv));
                    }
                    self.queue.forget(&key);
                    return;
                }
                let text = format!("Failed to update endpoint {key}: {message}");
                self.event(&object, "FailedToUpdateEndpoint", &text, now, out);
                self.queue.add_rate_limited(&key, now);
            }
            Request::Delete { key } => {
                self.queue.answered(&key);
                if ok || response.code == 404 {
                    self.writes += u64::from(ok);
                    self.queue.forget(&key);
                } else {
                    self.queue.add_rate_limited(&key, now);
                }
            }
        }
    }

    fn event(&mut self, endpoints: &Value, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let mut reference = ObjectReference::to(endpoints);
        reference.api_version = "v1".into();
        reference.kind = "Endpoints".into();
        let api = self.recorder.event(&reference, "Warning", reason, message, now);
        self.send(Request::Event, api, now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, ports: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                    "lastTransitionTime": "2025-01-01T00:00:05Z"}]}})
    }

    fn service(ports: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"},
                "creationTimestamp": "2025-01-01T00:00:01Z"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ipFamilies": ["IPv4"], "ports": ports}})
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_repacked_subset() {
        let svc = service(json!([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]));
        let a = pod("a", "10.244.1.10", true, json!([]));
        let b = pod("b", "10.244.1.2", true, json!([]));
        let c = pod("c", "10.244.2.3", false, json!([]));
        let subsets = desired_subsets(&svc, &[&a, &b, &c]);
        assert_eq!(subsets.len(), 1);
        // Ordered as bytes: "10.244.1.10" before "10.244.1.2".
        let ips: Vec<&str> = subsets[0].addresses.iter().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.244.1.10", "10.244.1.2"]);
        assert_eq!(subsets[0].not_ready[0].ip, "10.244.2.3");
        assert_eq!(
            subsets[0].ports,
            vec![Port { name: "http".into(), port: 8080, protocol: "TCP".into(), app_protocol: None }]
        );
        let v = subsets_to_value(&subsets);
        assert_eq!(
            v[0]["addresses"][0]["targetRef"],
            json!({"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"})
        );
        assert_eq!(v[0]["addresses"][0]["nodeName"], "node-1");
    }

    #[test]
    fn named_target_ports_resolve_per_pod_and_skip_pods_without_them() {
        let svc = service(json!([{"port": 80, "targetPort": "web", "protocol": "TCP"}]));
        let a = pod("a", "10.244.1.5", true, json!([{"name": "web", "containerPort": 8080, "protocol": "TCP"}]));
        let b = pod("b", "10.244.1.6", true, json!([{"name": "web", "containerPort": 9090, "protocol": "TCP"}]));
        let c = pod("c", "10.244.1.7", true, json!([{"name": "other", "containerPort": 80, "protocol": "TCP"}]));
        let udp = pod("d", "10.244.1.8", true, json!([{"name": "web", "containerPort": 53, "protocol": "UDP"}]));
        let subsets = desired_subsets(&svc, &[&a, &b, &c, &udp]);
        let got: Vec<(Vec<&str>, i64)> =
            subsets.iter().map(|s| (s.addresses.iter().map(|a| a.ip.as_str()).collect(), s.ports[0].port)).collect();
        assert_eq!(got, vec![(vec!["10.244.1.5"], 8080), (vec!["10.244.1.6"], 9090)]);
    }

    #[test]
    fn repacking_merges_ports_served_by_the_same_addresses() {
        let addr = |ip: &str| Address {
            ip: ip.into(),
            target: Some(TargetRef { uid: ip.into(), ..Default::default() }),
            ..Default::default()
        };
        let port = |n: i64| Port { name: format!("p{n}"), port: n, protocol: "TCP".into(), app_protocol: None };
        let input = vec![
            Subset { addresses: vec![addr("1.1.1.1")], not_ready: vec![], ports: vec![port(80)] },
            Subset { addresses: vec![addr("1.1.1.1")], not_ready: vec![], ports: vec![port(443)] },
            Subset { addresses: vec![], not_ready: vec![addr("2.2.2.2")], ports: vec![port(80)] },
            Subset { addresses: vec![addr("2.2.2.2")], not_ready: vec![], ports: vec![port(443)] },
            // The same address again, not ready: not ready wins.
            Subset { addresses: vec![], not_ready: vec![addr("1.1.1.1")], ports: vec![port(443)] },
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 2, "{out:?}");
        let p80 = out.iter().find(|s| s.ports == vec![port(80)]).unwrap();
        assert_eq!((p80.addresses.len(), p80.not_ready.len()), (1, 1));
        let p443 = out.iter().find(|s| s.ports == vec![port(443)]).unwrap();
        assert_eq!((p443.addresses[0].ip.as_str(), p443.not_ready[0].ip.as_str()), ("2.2.2.2", "1.1.1.1"));
        assert_eq!(repack_subsets(&out), out, "repacking is idempotent");
    }

    #[test]
    fn terminating_and_finished_pods_are_left_out_unless_published() {
        let mut svc = service(json!([{"port": 80, "targetPort": 80, "protocol": "TCP"}]));
        let mut gone = pod("a", "10.244.1.5", true, json!([]));
        gone["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:01:00Z");
        let mut done = pod("b", "10.244.1.6", false, json!([]));
        done["status"]["phase"] = json!("Succeeded");
        assert!(desired_subsets(&svc, &[&gone, &done]).is_empty());
        svc["spec"]["publishNotReadyAddresses"] = json!(true);
        let subsets = desired_subsets(&svc, &[&gone, &done]);
        assert_eq!(subsets[0].addresses.iter().map(|a| a.ip.as_str()).collect::<Vec<_>>(), ["10.244.1.5"]);
    }

    #[test]
    fn over_capacity_keeps_ready_addresses_first() {
        let addr = |i: usize| Address { ip: format!("10.0.{}.{}", i / 256, i % 256), ..Default::default() };
        let port = Port { name: String::new(), port: 80, protocol: "TCP".into(), app_protocol: None };
        let mut subsets = vec![Subset {
            addresses: (0..900).map(addr).collect(),
            not_ready: (900..1200).map(addr).collect(),
            ports: vec![port],
        }];
        assert!(truncate(&mut subsets));
        assert_eq!((subsets[0].addresses.len(), subsets[0].not_ready.len()), (900, 100));
        let svc = service(json!([{"port": 80, "targetPort": 80, "protocol": "TCP"}]));
        let pods: Vec<Value> = (0..1001)
            .map(|i| pod(&format!("p{i}"), &format!("10.1.{}.{}", i / 256, i % 256), true, json!([])))
            .collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let ep = plan_endpoints(&svc, &refs, None, Some(1000)).unwrap();
        assert_eq!(ep["metadata"]["annotations"][OVER_CAPACITY], "truncated");
        assert_eq!(ep["subsets"][0]["addresses"].as_array().unwrap().len(), 1000);
    }

    #[test]
    fn an_unchanged_service_writes_nothing_and_headless_ones_are_labelled() {
        let mut svc = service(json!([{"port": 80, "targetPort": 80, "protocol": "TCP"}]));
        let a = pod("a", "10.244.1.5", true, json!([]));
        let ep = plan_endpoints(&svc, &[&a], None, Some(1000)).unwrap();
        assert_eq!(ep["metadata"]["labels"], json!({"tier": "front"}));
        assert_eq!(ep["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME], "2025-01-01T00:00:01Z");
        assert_eq!(plan_endpoints(&svc, &[&a], Some(&ep), None), None);
        svc["spec"]["clusterIP"] = json!("None");
        let headless = plan_endpoints(&svc, &[&a], None, None).unwrap();
        assert_eq!(headless["metadata"]["labels"][HEADLESS], "");
        assert!(headless["metadata"]["annotations"].get(LAST_CHANGE_TRIGGER_TIME).is_none());
        // The headless label is not the Service's: no rewrite for it.
        assert_eq!(plan_endpoints(&svc, &[&a], Some(&headless), None), None);
    }

    #[test]
    fn trigger_times_are_the_earliest_new_change() {
        let mut t = TriggerTimeTracker::default();
        let svc = service(json!([]));
        let a = pod("a", "10.244.1.5", true, json!([]));
        assert_eq!(t.compute(&svc, &[&a]), parse_rfc3339("2025-01-01T00:00:01Z"), "a new Service: its creation");
        assert_eq!(t.compute(&svc, &[&a]), None, "nothing changed");
        let mut b = pod("b", "10.244.1.6", true, json!([]));
        b["status"]["conditions"][0]["lastTransitionTime"] = json!("2025-01-01T00:00:09Z");
        assert_eq!(t.compute(&svc, &[&a, &b]), parse_rfc3339("2025-01-01T00:00:09Z"));
    }
}
