//! What the scheduler knows of pods and nodes: each object parsed once into
//! the figures the plugins need, like pkg/scheduler/framework/types.go
//! (`PodInfo`, `NodeInfo`, `Resource`).

use crate::apimachinery::labels::{string_map, Selector};
use crate::apimachinery::time::parse_rfc3339;
use crate::quantity::Quantity;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The CPU a container without a request counts for when scoring (100m),
/// pkg/scheduler/util/pod_resources.go `DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a request counts for when scoring (200 MB),
/// pkg/scheduler/util/pod_resources.go `DefaultMemoryRequest`.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of compute resources (framework.Resource).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// How many pods (allocatable only).
    pub allowed_pod_number: i64,
    /// Extended resources (`example.com/gpu`, `hugepages-2Mi`), by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Reads a `ResourceList` (`{"cpu": "2", "memory": "4Gi", ...}`).
    pub fn from_list(list: Option<&Value>) -> Resource {
        let mut r = Resource::default();
        let Some(map) = list.and_then(Value::as_object) else {
            return r;
        };
        for (name, q) in map {
            let Some(q) = quantity(q) else { continue };
            match name.as_str() {
                "cpu" => r.milli_cpu = q.millis() as i64,
                "memory" => r.memory = q.value() as i64,
                "ephemeral-storage" => r.ephemeral_storage = q.value() as i64,
                "pods" => r.allowed_pod_number = q.value() as i64,
                _ => {
                    r.scalar.insert(name.clone(), q.value() as i64);
                }
            }
        }
        r
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts `other` from this.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Each resource the larger of the two (init containers run one at a time).
    fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// An amount of one resource by its name.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            _ => self.scalar.get(name).copied().unwrap_or(0),
        }
    }
}

fn quantity(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => Quantity::parse(s).ok(),
        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// A taint or toleration effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
    /// An empty effect (tolerations only: every effect).
    All,
}

impl Effect {
    fn parse(s: &str) -> Effect {
        match s {
            "NoSchedule" => Effect::NoSchedule,
            "PreferNoSchedule" => Effect::PreferNoSchedule,
            "NoExecute" => Effect::NoExecute,
            _ => Effect::All,
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Effect.
    pub effect: Effect,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// Key (empty with Exists: every key).
    pub key: String,
    /// `Exists` or `Equal` (the default).
    pub exists: bool,
    /// Value for `Equal`.
    pub value: String,
    /// Effect (All when empty).
    pub effect: Effect,
}

impl Toleration {
    /// Whether it tolerates `taint` (k8s.io/api/core/v1 toleration.go `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect != Effect::All && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        if self.exists {
            return true;
        }
        self.value == taint.value
    }
}

/// The first of `taints` with an effect in `effects` that no toleration
/// tolerates (v1helper `FindMatchingUntoleratedTaint`).
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration], effects: &[Effect]) -> Option<&'a Taint> {
    taints.iter().filter(|t| effects.contains(&t.effect)).find(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// One requirement of a node selector term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRequirement {
    /// The label key (or `metadata.name` for a field requirement).
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`.
    pub operator: String,
    /// The values.
    pub values: Vec<String>,
}

impl NodeRequirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (self.operator.as_str(), value) {
            ("In", Some(v)) => self.values.iter().any(|x| x == v),
            ("In", None) => false,
            ("NotIn", Some(v)) => !self.values.iter().any(|x| x == v),
            ("NotIn", None) => true,
            ("Exists", v) => v.is_some(),
            ("DoesNotExist", v) => v.is_none(),
            ("Gt" | "Lt", Some(v)) => {
                let (Ok(have), Some(Ok(want))) = (v.parse::<i64>(), self.values.first().map(|w| w.parse::<i64>()))
                else {
                    return false;
                };
                if self.operator == "Gt" {
                    have > want
                } else {
                    have < want
                }
            }
            _ => false,
        }
    }
}

/// A node selector term: all its expressions and fields must match; a term
/// with neither matches no node (component-helpers nodeaffinity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    /// `matchExpressions` on labels.
    pub expressions: Vec<NodeRequirement>,
    /// `matchFields` (only `metadata.name`).
    pub fields: Vec<NodeRequirement>,
}

impl NodeSelectorTerm {
    fn parse(v: &Value) -> NodeSelectorTerm {
        let reqs = |field: &str| -> Vec<NodeRequirement> {
            v.get(field)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|e| NodeRequirement {
                            key: e.get("key").and_then(Value::as_str).unwrap_or_default().to_string(),
                            operator: e.get("operator").and_then(Value::as_str).unwrap_or_default().to_string(),
                            values: e
                                .get("values")
                                .and_then(Value::as_array)
                                .map(|vs| vs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        NodeSelectorTerm { expressions: reqs("matchExpressions"), fields: reqs("matchFields") }
    }

    /// Whether a node with this name and these labels matches.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.expressions.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.expressions.iter().all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| r.key == "metadata.name" && r.matches(Some(name)))
    }
}

/// A pod's required node affinity: its `nodeSelector` and its required
/// node affinity terms (ORed), both of which must hold
/// (component-helpers/scheduling/corev1/nodeaffinity `RequiredNodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; None when unset.
    pub terms: Option<Vec<NodeSelectorTerm>>,
}

impl RequiredNodeAffinity {
    /// Whether a node matches.
    pub fn matches(&self, node: &NodeInfo) -> bool {
        self.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && self.terms.as_ref().is_none_or(|terms| terms.iter().any(|t| t.matches(&node.name, &node.labels)))
    }
}

/// A preferred node affinity term with its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferredNodeTerm {
    /// 1..100.
    pub weight: i64,
    /// The term.
    pub term: NodeSelectorTerm,
}

/// A pod affinity or anti-affinity term, resolved (framework.AffinityTerm).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces the term's pods are in (the pod's own when the term names
    /// none and has no namespace selector).
    pub namespaces: Vec<String>,
    /// Namespaces selected by labels; None when unset.
    pub namespace_selector: Option<Selector>,
    /// The pods it selects; None (a nil selector) selects none.
    pub selector: Option<Selector>,
    /// The topology key.
    pub topology_key: String,
}

impl AffinityTerm {
    fn parse(v: &Value, own_namespace: &str) -> AffinityTerm {
        let namespaces: Vec<String> = v
            .get("namespaces")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let namespace_selector = v.get("namespaceSelector").filter(|s| !s.is_null()).map(selector_or_nothing);
        let namespaces = if namespaces.is_empty() && namespace_selector.is_none() {
            vec![own_namespace.to_string()]
        } else {
            namespaces
        };
        AffinityTerm {
            namespaces,
            namespace_selector,
            selector: v.get("labelSelector").filter(|s| !s.is_null()).map(selector_or_nothing),
            topology_key: v.get("topologyKey").and_then(Value::as_str).unwrap_or_default().to_string(),
        }
    }

    /// Whether `pod` is one of the term's pods (framework `AffinityTerm.Matches`),
    /// given the labels of the namespaces.
    pub fn matches(&self, pod: &PodInfo, namespace_labels: &BTreeMap<String, BTreeMap<String, String>>) -> bool {
        let in_namespace = self.namespaces.iter().any(|n| *n == pod.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(namespace_labels.get(&pod.namespace).unwrap_or(&BTreeMap::new())));
        in_namespace && self.selector.as_ref().is_some_and(|s| s.matches(&pod.labels))
    }
}

/// A selector that cannot be parsed selects nothing (the apiserver validates them).
fn selector_or_nothing(v: &Value) -> Selector {
    Selector::from_label_selector(v).unwrap_or_else(|| Selector {
        requirements: vec![crate::apimachinery::labels::Requirement {
            key: String::new(),
            op: crate::apimachinery::labels::Operator::In(Vec::new()),
        }],
    })
}

/// A weighted pod affinity term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// 1..100.
    pub weight: i64,
}

/// A topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    /// maxSkew.
    pub max_skew: i64,
    /// topologyKey.
    pub topology_key: String,
    /// `DoNotSchedule` (hard) or `ScheduleAnyway`.
    pub hard: bool,
    /// The pods counted.
    pub selector: Selector,
    /// minDomains (1 when unset).
    pub min_domains: i64,
    /// nodeAffinityPolicy Honor (the default).
    pub honor_node_affinity: bool,
    /// nodeTaintsPolicy Honor (default Ignore).
    pub honor_node_taints: bool,
}

impl SpreadConstraint {
    /// A constraint from a plugin's `defaultConstraints` (no pod labels).
    pub fn parse_for_default(v: &Value) -> SpreadConstraint {
        SpreadConstraint::parse(v, &BTreeMap::new())
    }

    fn parse(v: &Value, pod_labels: &BTreeMap<String, String>) -> SpreadConstraint {
        let mut selector = v.get("labelSelector").filter(|s| !s.is_null()).map(selector_or_nothing);
        // matchLabelKeys: the pod's values for these keys narrow the selector.
        if let Some(keys) = v.get("matchLabelKeys").and_then(Value::as_array) {
            let sel = selector.get_or_insert_with(Selector::default);
            for key in keys.iter().filter_map(Value::as_str) {
                if let Some(value) = pod_labels.get(key) {
                    sel.requirements.push(crate::apimachinery::labels::Requirement {
                        key: key.to_string(),
                        op: crate::apimachinery::labels::Operator::In(vec![value.clone()]),
                    });
                }
            }
        }
        SpreadConstraint {
            max_skew: v.get("maxSkew").and_then(Value::as_i64).unwrap_or(1),
            topology_key: v.get("topologyKey").and_then(Value::as_str).unwrap_or_default().to_string(),
            hard: v.get("whenUnsatisfiable").and_then(Value::as_str) != Some("ScheduleAnyway"),
            // A nil label selector matches no pods: counts stay 0.
            selector: selector.unwrap_or_else(|| selector_or_nothing(&Value::Null)),
            min_domains: v.get("minDomains").and_then(Value::as_i64).unwrap_or(1),
            honor_node_affinity: v.get("nodeAffinityPolicy").and_then(Value::as_str) != Some("Ignore"),
            honor_node_taints: v.get("nodeTaintsPolicy").and_then(Value::as_str) == Some("Honor"),
        }
    }
}

/// A host port a pod asks for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    /// Protocol (TCP when unset).
    pub protocol: String,
    /// hostIP (`0.0.0.0` when unset).
    pub ip: String,
    /// The port.
    pub port: i64,
}

impl HostPort {
    /// Whether two host ports conflict (framework `HostPortInfo.CheckConflict`):
    /// same protocol and port, and the same IP or either on every address.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A pod as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// resourceVersion of the object this was parsed from.
    pub resource_version: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// spec.priority (0 when unset).
    pub priority: i64,
    /// spec.schedulerName.
    pub scheduler_name: String,
    /// spec.nodeName ("" when unbound).
    pub node_name: String,
    /// status.nominatedNodeName.
    pub nominated_node_name: String,
    /// Being deleted.
    pub terminating: bool,
    /// spec.preemptionPolicy is Never.
    pub never_preempt: bool,
    /// spec.schedulingGates names.
    pub scheduling_gates: Vec<String>,
    /// The requests the pod needs on a node (init containers, sidecars and
    /// overhead included), pkg/api/v1/resource `PodRequests`.
    pub requests: Resource,
    /// The same with 100m / 200 MB for containers that request no CPU / memory (for scoring).
    pub non_zero_requests: Resource,
    /// Host ports.
    pub host_ports: Vec<HostPort>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Required node affinity and node selector.
    pub required_node_affinity: RequiredNodeAffinity,
    /// Preferred node affinity terms.
    pub preferred_node_terms: Vec<PreferredNodeTerm>,
    /// Required pod affinity terms.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// Topology spread constraints.
    pub spread_constraints: Vec<SpreadConstraint>,
    /// The images of its init containers and containers, normalized
    /// (`:latest` added where no tag is given), as ImageLocality looks them up.
    pub images: Vec<String>,
    /// creationTimestamp (ms).
    pub created_ms: u64,
    /// status.startTime (ms), when it has one.
    pub start_ms: Option<u64>,
    /// (kind, name) of the controller owning it.
    pub controller: Option<(String, String)>,
    /// Its PodScheduled condition: (status, reason, message).
    pub pod_scheduled: Option<(String, String, String)>,
    /// Being deleted because kube-scheduler preempted it (a DisruptionTarget
    /// condition with reason PreemptionByScheduler), `podTerminatingByPreemption`.
    pub terminating_by_preemption: bool,
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

fn array<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    v.pointer(path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// A container's requests, with limits standing in for missing requests (the
/// apiserver defaults requests from limits; done here too for objects that
/// bypassed defaulting).
fn container_requests(c: &Value) -> Resource {
    let mut r = Resource::from_list(c.pointer("/resources/limits"));
    let req = Resource::from_list(c.pointer("/resources/requests"));
    if c.pointer("/resources/requests/cpu").is_some() {
        r.milli_cpu = req.milli_cpu;
    }
    if c.pointer("/resources/requests/memory").is_some() {
        r.memory = req.memory;
    }
    if c.pointer("/resources/requests/ephemeral-storage").is_some() {
        r.ephemeral_storage = req.ephemeral_storage;
    }
    for (k, v) in req.scalar {
        r.scalar.insert(k, v);
    }
    r.allowed_pod_number = 0;
    r
}

/// A container's requests with the scoring defaults for CPU and memory it
/// does not request at all (an explicit "0" stays 0), pkg/scheduler/util
/// `GetNonzeroRequests` through `NonMissingContainerRequests`.
fn non_zero(c: &Value, mut r: Resource) -> Resource {
    let has = |name: &str| {
        c.pointer(&format!("/resources/requests/{name}")).is_some()
            || c.pointer(&format!("/resources/limits/{name}")).is_some()
    };
    if !has("cpu") {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !has("memory") {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

/// A pod's effective requests (pkg/api/v1/resource/helpers.go `PodRequests`):
/// the sum of its containers (and restartable init containers, which keep
/// running), or the largest init container plus the sidecars started before
/// it, whichever is larger; plus the pod overhead. `zero_default` applies the
/// scoring defaults per container.
fn pod_requests(pod: &Value, zero_default: bool) -> Resource {
    let each = |c: &Value| {
        let r = container_requests(c);
        if zero_default {
            non_zero(c, r)
        } else {
            r
        }
    };
    let mut sum = Resource::default();
    for c in array(pod, "/spec/containers") {
        sum.add(&each(c));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in array(pod, "/spec/initContainers") {
        let r = each(c);
        if str_at(c, "/restartPolicy") == "Always" {
            sidecars.add(&r);
            sum.add(&r);
            init_max.max_with(&sidecars);
        } else {
            let mut with_sidecars = r;
            with_sidecars.add(&sidecars);
            init_max.max_with(&with_sidecars);
        }
    }
    sum.max_with(&init_max);
    sum.add(&Resource::from_list(pod.pointer("/spec/overhead")));
    sum
}

fn weighted_terms(v: &Value, path: &str, namespace: &str) -> Vec<WeightedAffinityTerm> {
    array(v, path)
        .iter()
        .map(|w| WeightedAffinityTerm {
            weight: w.get("weight").and_then(Value::as_i64).unwrap_or(0),
            term: AffinityTerm::parse(w.get("podAffinityTerm").unwrap_or(&Value::Null), namespace),
        })
        .collect()
}

impl PodInfo {
    /// Parses a pod object.
    pub fn parse(pod: &Value) -> PodInfo {
        let namespace = str_at(pod, "/metadata/namespace").to_string();
        let name = str_at(pod, "/metadata/name").to_string();
        let labels = string_map(pod.pointer("/metadata/labels"));
        let mut images = Vec::new();
        let mut host_ports = Vec::new();
        for c in array(pod, "/spec/initContainers").iter().chain(array(pod, "/spec/containers")) {
            let image = str_at(c, "/image");
            if !image.is_empty() {
                images.push(normalize_image(image));
            }
        }
        for c in array(pod, "/spec/containers").iter().chain(
            // Restartable init containers keep their ports open too.
            array(pod, "/spec/initContainers").iter().filter(|c| str_at(c, "/restartPolicy") == "Always"),
        ) {
            for p in array(c, "/ports") {
                let port = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                if port <= 0 {
                    continue;
                }
                let protocol = match p.get("protocol").and_then(Value::as_str) {
                    Some(p) if !p.is_empty() => p.to_string(),
                    _ => "TCP".to_string(),
                };
                let ip = match p.get("hostIP").and_then(Value::as_str) {
                    Some(ip) if !ip.is_empty() => ip.to_string(),
                    _ => "0.0.0.0".to_string(),
                };
                host_ports.push(HostPort { protocol, ip, port });
            }
        }
        let tolerations = array(pod, "/spec/tolerations")
            .iter()
            .map(|t| Toleration {
                key: str_at(t, "/key").to_string(),
                exists: str_at(t, "/operator") == "Exists",
                value: str_at(t, "/value").to_string(),
                effect: Effect::parse(str_at(t, "/effect")),
            })
            .collect();
        let affinity = pod.pointer("/spec/affinity").cloned().unwrap_or(Value::Null);
        let terms = affinity
            .pointer("/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution")
            .filter(|v| !v.is_null())
            .map(|r| array(r, "/nodeSelectorTerms").iter().map(NodeSelectorTerm::parse).collect());
        let preferred_node_terms = array(&affinity, "/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .map(|p| PreferredNodeTerm {
                weight: p.get("weight").and_then(Value::as_i64).unwrap_or(0),
                term: NodeSelectorTerm::parse(p.get("preference").unwrap_or(&Value::Null)),
            })
            .collect();
        let required = |path: &str| -> Vec<AffinityTerm> {
            array(&affinity, path).iter().map(|t| AffinityTerm::parse(t, &namespace)).collect()
        };
        let controller = array(pod, "/metadata/ownerReferences")
            .iter()
            .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
            .map(|o| (str_at(o, "/kind").to_string(), str_at(o, "/name").to_string()));
        PodInfo {
            key: format!("{namespace}/{name}"),
            uid: str_at(pod, "/metadata/uid").to_string(),
            resource_version: str_at(pod, "/metadata/resourceVersion").to_string(),
            priority: pod.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0),
            scheduler_name: match str_at(pod, "/spec/schedulerName") {
                "" => "default-scheduler".to_string(),
                s => s.to_string(),
            },
            node_name: str_at(pod, "/spec/nodeName").to_string(),
            nominated_node_name: str_at(pod, "/status/nominatedNodeName").to_string(),
            terminating: pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()),
            never_preempt: str_at(pod, "/spec/preemptionPolicy") == "Never",
            scheduling_gates: array(pod, "/spec/schedulingGates")
                .iter()
                .map(|g| str_at(g, "/name").to_string())
                .collect(),
            requests: pod_requests(pod, false),
            non_zero_requests: pod_requests(pod, true),
            host_ports,
            tolerations,
            required_node_affinity: RequiredNodeAffinity {
                node_selector: string_map(pod.pointer("/spec/nodeSelector")),
                terms,
            },
            preferred_node_terms,
            required_affinity: required("/podAffinity/requiredDuringSchedulingIgnoredDuringExecution"),
            required_anti_affinity: required("/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution"),
            preferred_affinity: weighted_terms(
                &affinity,
                "/podAffinity/preferredDuringSchedulingIgnoredDuringExecution",
                &namespace,
            ),
            preferred_anti_affinity: weighted_terms(
                &affinity,
                "/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution",
                &namespace,
            ),
            spread_constraints: array(pod, "/spec/topologySpreadConstraints")
                .iter()
                .map(|c| SpreadConstraint::parse(c, &labels))
                .collect(),
            images,
            created_ms: parse_rfc3339(str_at(pod, "/metadata/creationTimestamp")).unwrap_or(0),
            start_ms: parse_rfc3339(str_at(pod, "/status/startTime")),
            controller,
            terminating_by_preemption: pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
                && array(pod, "/status/conditions").iter().any(|c| {
                    str_at(c, "/type") == "DisruptionTarget"
                        && str_at(c, "/status") == "True"
                        && str_at(c, "/reason") == "PreemptionByScheduler"
                }),
            pod_scheduled: array(pod, "/status/conditions").iter().find(|c| str_at(c, "/type") == "PodScheduled").map(
                |c| {
                    (
                        str_at(c, "/status").to_string(),
                        str_at(c, "/reason").to_string(),
                        str_at(c, "/message").to_string(),
                    )
                },
            ),
            labels,
            namespace,
            name,
        }
    }

    /// Whether it has any pod affinity or anti-affinity.
    pub fn has_pod_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }
}

/// An image present on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageState {
    /// Size in bytes.
    pub size: i64,
    /// How many nodes have it.
    pub num_nodes: usize,
}

/// A node with the pods on it (framework.NodeInfo).
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// spec.unschedulable (cordoned).
    pub unschedulable: bool,
    /// status.allocatable.
    pub allocatable: Resource,
    /// Sum of the requests of its pods.
    pub requested: Resource,
    /// The same with the scoring defaults.
    pub non_zero_requested: Resource,
    /// Pods on it (bound, or assumed by this scheduler).
    pub pods: Vec<Rc<PodInfo>>,
    /// Host ports in use.
    pub used_ports: Vec<HostPort>,
    /// Images on the node by every name they have, with their size.
    pub images: BTreeMap<String, i64>,
    /// How many of its pods have pod affinity or anti-affinity terms.
    pub affinity_pods: usize,
    /// How many of its pods have required anti-affinity terms.
    pub required_anti_affinity_pods: usize,
    /// Bumped on every change.
    pub generation: u64,
}

impl NodeInfo {
    /// A node from its object (no pods yet).
    pub fn from_node(node: &Value) -> NodeInfo {
        let mut info = NodeInfo { name: str_at(node, "/metadata/name").to_string(), ..NodeInfo::default() };
        info.set_node(node);
        info
    }

    /// Takes the node's labels, taints, allocatable and images from its object.
    pub fn set_node(&mut self, node: &Value) {
        self.labels = string_map(node.pointer("/metadata/labels"));
        self.taints = array(node, "/spec/taints")
            .iter()
            .map(|t| Taint {
                key: str_at(t, "/key").to_string(),
                value: str_at(t, "/value").to_string(),
                effect: Effect::parse(str_at(t, "/effect")),
            })
            .collect();
        self.unschedulable = node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
        self.allocatable = Resource::from_list(node.pointer("/status/allocatable"));
        self.images.clear();
        for image in array(node, "/status/images") {
            let size = image.get("sizeBytes").and_then(Value::as_i64).unwrap_or(0);
            for name in array(image, "/names").iter().filter_map(Value::as_str) {
                self.images.insert(normalize_image(name), size);
            }
        }
        self.generation += 1;
    }

    /// Adds a pod's requests and ports.
    pub fn add_pod(&mut self, pod: Rc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory += pod.non_zero_requests.memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        self.affinity_pods += usize::from(pod.has_pod_affinity());
        self.required_anti_affinity_pods += usize::from(!pod.required_anti_affinity.is_empty());
        self.pods.push(pod);
        self.generation += 1;
    }

    /// Removes a pod by key; whether it was there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i); // like NodeInfo.RemovePod: the last pod takes its place
        self.affinity_pods -= usize::from(pod.has_pod_affinity());
        self.required_anti_affinity_pods -= usize::from(!pod.required_anti_affinity.is_empty());
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero_requests.memory;
        for port in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(j);
            }
        }
        self.generation += 1;
        true
    }
}

/// An image name with `:latest` added when it has no tag
/// (pkg/scheduler/framework/types.go `normalizedImageName`). No registry
/// is added: `nginx` and `docker.io/library/nginx` stay different images to
/// ImageLocality, as in kube-scheduler.
pub fn normalize_image(name: &str) -> String {
    let colon = name.rfind(':').map_or(-1, |i| i as i64);
    let slash = name.rfind('/').map_or(-1, |i| i as i64);
    if colon <= slash {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}
