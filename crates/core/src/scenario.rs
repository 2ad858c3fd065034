//! The scenario file: `apiVersion: kscope.dev/v1alpha1`, `kind: Scenario`.
//!
//! Minimal version: cluster shape (etcd members, worker nodes with capacity and
//! labels), network behaviour, seed, and a timed script of commands. Unknown
//! fields are errors, so a typo never silently falls back to a default. Errors
//! carry the file, line and column where the YAML parser knows them, and the
//! field path otherwise, in the words of Kubernetes' field validation.

use crate::command::Command;
use crate::duration::Duration;
use crate::network::{format_ppm, parse_probability, NetworkConfig};
use crate::quantity::{Quantity, ScalarText};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The only scenario `apiVersion` this kscope reads.
pub const API_VERSION: &str = "kscope.dev/v1alpha1";
/// The scenario `kind`.
pub const KIND: &str = "Scenario";
/// Supported etcd cluster sizes.
pub const ETCD_MEMBER_COUNTS: [u8; 3] = [1, 3, 5];
/// Most worker nodes a scenario may declare.
pub const MAX_NODES: usize = 5_000;
/// Most script steps a scenario may declare.
pub const MAX_SCRIPT_STEPS: usize = 10_000;

/// A whole scenario document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Name and description.
    #[serde(default)]
    pub metadata: ScenarioMetadata,
    /// What to simulate.
    #[serde(default)]
    pub spec: ScenarioSpec,
}

/// A scenario's name and description.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioMetadata {
    /// Short name, shown in the UI's title bar.
    #[serde(default)]
    pub name: String,
    /// One paragraph on what the scenario shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Seed of the simulation's RNG (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The etcd cluster.
    #[serde(default)]
    pub etcd: EtcdSpec,
    /// Run Kubernetes (apiserver, scheduler, controller-manager, kubelets) on
    /// the etcd cluster (default true); false leaves an etcd-only playground.
    #[serde(default = "default_true")]
    pub kubernetes: bool,
    /// Worker nodes (default: node-1..node-3, 4 CPU and 8Gi each).
    #[serde(default = "default_nodes")]
    pub nodes: Vec<NodeSpec>,
    /// Network behaviour.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Commands to run at given simulated times.
    #[serde(default)]
    pub script: Vec<ScriptStep>,
    /// kube-scheduler's configuration: a KubeSchedulerConfiguration
    /// (kubescheduler.config.k8s.io/v1) with profiles, plugins and plugin args.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<serde_json::Value>,
    /// How the control plane runs (default: on kubeadm control-plane nodes).
    #[serde(default, skip_serializing_if = "ControlPlaneSpec::is_default")]
    pub control_plane: ControlPlaneSpec,
    /// The add-on manifests kube-addon-manager keeps applied, each a YAML
    /// text (several `---` documents allowed); default: kubeadm's CoreDNS
    /// and kube-proxy add-ons ([`crate::kube_addon_manager::DEFAULT_ADDONS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<Vec<String>>,
}

/// How the control plane runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlaneSpec {
    /// `kubeadm` (default) or `managed`.
    #[serde(default)]
    pub mode: ControlPlaneMode,
}

impl ControlPlaneSpec {
    fn is_default(&self) -> bool {
        *self == ControlPlaneSpec::default()
    }
}

/// Where the control-plane components run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ControlPlaneMode {
    /// Stacked etcd on kubeadm control-plane nodes: one node per etcd member
    /// (`control-plane`, `control-plane2`, ...), each running its member as
    /// a static pod; the first also runs kube-apiserver,
    /// kube-controller-manager and kube-scheduler. Their mirror pods are in
    /// kube-system, as on a kubeadm cluster.
    #[default]
    Kubeadm,
    /// A hosted control plane (as GKE, EKS or AKS run it): no control-plane
    /// nodes and no control-plane pods to see, only the worker nodes.
    Managed,
}

/// A control-plane node: its name, address, pod CIDR and static pods.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlPlaneNode {
    /// The node as its kubelet registers it.
    pub spec: NodeSpec,
    /// Its InternalIP.
    pub address: String,
    /// Its pod CIDR.
    pub pod_cidr: String,
    /// What it runs as static pods.
    pub components: Vec<crate::kubelet::static_pods::StaticComponent>,
}

/// Name of the `n`th control-plane node (from 1), as kind names them.
pub fn control_plane_node_name(n: u8) -> String {
    if n == 1 {
        "control-plane".to_string()
    } else {
        format!("control-plane{n}")
    }
}

/// The InternalIP of worker node `i` (from 0): a kind-like 172.18.0.0/16
/// network, where the first control-plane node is .2 and workers follow.
pub fn worker_address(i: usize) -> String {
    format!("172.18.{}.{}", (i + 3) / 256, (i + 3) % 256)
}

/// The pod CIDR of worker node `i` (from 0): like kubeadm with flannel's
/// 10.244.0.0/16, a /24 per node; 10.244.0.0/24 is the first control-plane node's.
pub fn worker_pod_cidr(i: usize) -> String {
    format!("10.244.{}.0/24", (i + 1) % 256)
}

/// The etcd cluster's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdSpec {
    /// Number of members, named etcd-1..etcd-N: 1, 3 or 5 (default 3).
    #[serde(default = "default_etcd_members")]
    pub members: u8,
    /// Applied entries between snapshots (etcd's --snapshot-count, default 100000).
    #[serde(default = "default_snapshot_count")]
    pub snapshot_count: u64,
    /// Log entries kept before a snapshot for lagging followers (default 5000).
    #[serde(default = "default_catch_up_entries")]
    pub snapshot_catch_up_entries: u64,
}

fn default_true() -> bool {
    true
}

fn default_snapshot_count() -> u64 {
    100_000
}
fn default_catch_up_entries() -> u64 {
    5_000
}

/// One worker node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name (an RFC 1123 subdomain).
    pub name: String,
    /// Allocatable CPU (default "4").
    #[serde(default = "default_cpu")]
    pub cpu: Quantity,
    /// Allocatable memory (default "8Gi").
    #[serde(default = "default_memory")]
    pub memory: Quantity,
    /// Node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints the kubelet registers the node with (`--register-with-taints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<TaintSpec>,
}

impl NodeSpec {
    /// A node with the default capacity (4 CPU, 8Gi), no labels and no taints.
    pub fn named(name: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            cpu: default_cpu(),
            memory: default_memory(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaintSpec {
    /// Key.
    pub key: String,
    /// Value (may be empty; an empty value is left out, as the apiserver's
    /// JSON leaves out `value` of a Taint without one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

/// Network behaviour; probabilities as fractions (`0.05`) or percentages (`"5%"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency range (default 1ms..5ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Chance a message is lost.
    #[serde(default)]
    pub loss: Probability,
    /// Chance a message is delivered twice.
    #[serde(default)]
    pub duplicate: Probability,
    /// Chance a message is held back and overtaken.
    #[serde(default)]
    pub reorder: Probability,
}

/// A latency range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencySpec {
    /// Smallest one-way latency.
    pub min: Duration,
    /// Largest one-way latency.
    pub max: Duration,
}

/// A probability in parts per million.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probability(pub u32);

impl Serialize for Probability {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_ppm(self.0))
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(ScalarText)?;
        parse_probability(&text).map(Probability).map_err(serde::de::Error::custom)
    }
}

/// One timed command of the script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptStep {
    /// Simulated time at which to run it.
    pub at: Duration,
    /// The command line, as typed in the console.
    pub run: String,
}

fn default_seed() -> u64 {
    1
}
fn default_etcd_members() -> u8 {
    3
}
fn default_cpu() -> Quantity {
    Quantity::parse("4").expect("valid default")
}
fn default_memory() -> Quantity {
    Quantity::parse("8Gi").expect("valid default")
}
fn default_nodes() -> Vec<NodeSpec> {
    (1..=3)
        .map(|i| NodeSpec {
            name: format!("node-{i}"),
            cpu: default_cpu(),
            memory: default_memory(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
        })
        .collect()
}

impl Default for EtcdSpec {
    fn default() -> Self {
        EtcdSpec {
            members: default_etcd_members(),
            snapshot_count: default_snapshot_count(),
            snapshot_catch_up_entries: default_catch_up_entries(),
        }
    }
}

impl ScenarioSpec {
    /// The control-plane nodes the scenario has (none when managed or
    /// without Kubernetes). Node `k` of `n` hosts etcd member `k`; the first
    /// also hosts the apiserver, controller-manager and scheduler.
    pub fn control_plane_nodes(&self) -> Vec<ControlPlaneNode> {
        use crate::kubelet::static_pods::StaticComponent;
        if !self.kubernetes || self.control_plane.mode == ControlPlaneMode::Managed {
            return Vec::new();
        }
        let workers = self.nodes.len();
        let members = self.etcd.members;
        let address = |k: u8| {
            if k == 1 {
                "172.18.0.2".to_string()
            } else {
                // Later control-plane nodes joined after the workers.
                worker_address(workers + usize::from(k) - 2)
            }
        };
        let peers: Vec<(String, String)> = (1..=members).map(|k| (format!("etcd-{k}"), address(k))).collect();
        (1..=members)
            .map(|k| {
                let name = control_plane_node_name(k);
                let mut labels = BTreeMap::new();
                // kubeadm's mark-control-plane phase (cmd/kubeadm/app/phases/markcontrolplane).
                labels.insert("node-role.kubernetes.io/control-plane".to_string(), String::new());
                labels.insert("node.kubernetes.io/exclude-from-external-load-balancers".to_string(), String::new());
                let taints = vec![TaintSpec {
                    key: "node-role.kubernetes.io/control-plane".into(),
                    value: String::new(),
                    effect: "NoSchedule".into(),
                }];
                let mut components =
                    vec![StaticComponent::Etcd { member: k, name: format!("etcd-{k}"), peers: peers.clone() }];
                if k == 1 {
                    components.push(StaticComponent::ApiServer { etcd: peers.iter().map(|p| p.1.clone()).collect() });
                    components.push(StaticComponent::ControllerManager);
                    components.push(StaticComponent::Scheduler);
                    components.push(StaticComponent::AddonManager);
                }
                let pod_cidr =
                    if k == 1 { "10.244.0.0/24".to_string() } else { worker_pod_cidr(workers + usize::from(k) - 2) };
                ControlPlaneNode {
                    spec: NodeSpec { name, cpu: default_cpu(), memory: default_memory(), labels, taints },
                    address: address(k),
                    pod_cidr,
                    components,
                }
            })
            .collect()
    }
}

impl Default for ScenarioSpec {
    fn default() -> Self {
        ScenarioSpec {
            seed: default_seed(),
            etcd: EtcdSpec::default(),
            kubernetes: true,
            nodes: default_nodes(),
            network: NetworkSpec::default(),
            script: Vec::new(),
            scheduler: None,
            control_plane: ControlPlaneSpec::default(),
            addons: None,
        }
    }
}

impl Default for Scenario {
    /// The cluster you get when you give nothing: 3 etcd members, 3 nodes, seed 1.
    fn default() -> Self {
        Scenario {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ScenarioMetadata { name: "default".into(), description: None },
            spec: ScenarioSpec::default(),
        }
    }
}

/// Why a scenario could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where the scenario came from (a file path, or `<scenario>`).
    pub source: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// What is wrong, with the field path where known.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{}:{}: {}", self.source, line, column, self.message),
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The regular expression apimachinery names in its RFC 1123 subdomain message.
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used \
for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Whether `name` is an RFC 1123 subdomain (k8s.io/apimachinery/pkg/util/validation).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Finds `key:` in the YAML mapping that starts at (`line`, `column`), 1-based,
/// in block or flow style. Returns its 1-based line and column.
fn find_key(text: &str, line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let needle = format!("{key}:");
    for (index, content) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let chars: Vec<char> = content.chars().collect();
        let from = if index + 1 == line { column.saturating_sub(1) } else { 0 };
        if index + 1 > line {
            let indent = chars.iter().take_while(|c| **c == ' ').count();
            if !content.trim().is_empty() && indent < column.saturating_sub(1) {
                return None; // left the mapping
            }
        }
        let tail: String = chars.iter().skip(from).collect();
        let mut search = 0;
        while let Some(found) = tail[search..].find(&needle) {
            let at = search + found;
            let before = tail[..at].chars().last();
            if before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-') {
                return Some((index + 1, from + tail[..at].chars().count() + 1));
            }
            search = at + needle.len();
        }
    }
    None
}

impl Scenario {
    /// Parses and validates a scenario document. `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let error = |line, column, message: String| ScenarioError { source: source.to_string(), line, column, message };
        if text.trim().is_empty() {
            return Err(error(None, None, "the scenario is empty: expected a YAML document with apiVersion: kscope.dev/v1alpha1 and kind: Scenario".into()));
        }
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut location = inner.location().map(|l| (l.line(), l.column()));
            let mut message = inner.to_string();
            if let Some((line, column)) = location {
                // The parser appends its own "at line L column C"; we lead with it instead.
                let suffix = format!(" at line {line} column {column}");
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_string();
                }
            }
            if path != "." {
                // The parser's own path stops at the enclosing mapping; use the full one.
                if let Some((prefix, rest)) = message.split_once(": ") {
                    if path.starts_with(prefix) {
                        message = rest.to_string();
                    }
                }
                message = format!("{path}: {message}");
                // Errors raised by a field's own parser (a bad quantity or duration)
                // are placed at the enclosing mapping; move them to the field.
                if let (Some((line, column)), Some(key)) = (location, path.rsplit('.').next()) {
                    if !key.ends_with(']') {
                        location = Some(find_key(text, line, column, key).unwrap_or((line, column)));
                    }
                }
            }
            error(location.map(|l| l.0), location.map(|l| l.1), message)
        })?;
        scenario.validate().map_err(|message| error(None, None, message))?;
        Ok(scenario)
    }

    /// Checks what serde cannot: versions, sizes, names, and script commands.
    pub fn validate(&self) -> Result<(), String> {
        if self.api_version != API_VERSION {
            return Err(format!(
                "apiVersion: Unsupported value: {:?}: this kscope reads {API_VERSION:?}",
                self.api_version
            ));
        }
        if self.kind != KIND {
            return Err(format!("kind: Unsupported value: {:?}: supported values: {KIND:?}", self.kind));
        }
        let spec = &self.spec;
        if !ETCD_MEMBER_COUNTS.contains(&spec.etcd.members) {
            return Err(format!(
                "spec.etcd.members: Unsupported value: {}: supported values: \"1\", \"3\", \"5\"",
                spec.etcd.members
            ));
        }
        if spec.etcd.snapshot_count == 0 {
            return Err("spec.etcd.snapshotCount: Invalid value: 0: must be greater than 0".into());
        }
        if let Some(config) = &spec.scheduler {
            crate::kube_scheduler::config::SchedulerConfig::parse(config)
                .map_err(|e| format!("spec.scheduler: {e}"))?;
        }
        for (i, text) in spec.addons.iter().flatten().enumerate() {
            crate::kube_addon_manager::Addon::parse_all(text, &format!("spec.addons[{i}]"))?;
        }
        if spec.nodes.len() > MAX_NODES {
            return Err(format!("spec.nodes: Too many: {}: must have at most {MAX_NODES} items", spec.nodes.len()));
        }
        let mut names = BTreeSet::new();
        for (i, node) in spec.nodes.iter().enumerate() {
            if !is_dns1123_subdomain(&node.name) {
                return Err(format!("spec.nodes[{i}].name: Invalid value: {:?}: {DNS1123_SUBDOMAIN_MSG}", node.name));
            }
            if !names.insert(node.name.as_str()) {
                return Err(format!("spec.nodes[{i}].name: Duplicate value: {:?}", node.name));
            }
            if spec.control_plane_nodes().iter().any(|c| c.spec.name == node.name) {
                return Err(format!(
                    "spec.nodes[{i}].name: Invalid value: {:?}: the name of a control-plane node (set spec.controlPlane.mode: managed to have none)",
                    node.name
                ));
            }
            for (j, t) in node.taints.iter().enumerate() {
                if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str()) {
                    return Err(format!(
                        "spec.nodes[{i}].taints[{j}].effect: Unsupported value: {:?}: supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"",
                        t.effect
                    ));
                }
            }
            for (field, q) in [("cpu", &node.cpu), ("memory", &node.memory)] {
                if q.millis() < 0 {
                    return Err(format!(
                        "spec.nodes[{i}].{field}: Invalid value: \"{q}\": must be greater than or equal to 0"
                    ));
                }
            }
        }
        self.network_config().map_err(|e| format!("spec.network: Invalid value: {e}"))?;
        if spec.script.len() > MAX_SCRIPT_STEPS {
            return Err(format!(
                "spec.script: Too many: {}: must have at most {MAX_SCRIPT_STEPS} items",
                spec.script.len()
            ));
        }
        for (i, step) in spec.script.iter().enumerate() {
            match Command::parse(&step.run) {
                Ok(Some(command)) if !command.allowed_in_script() => {
                    return Err(format!(
                        "spec.script[{i}].run: Invalid value: {:?}: not allowed in a script",
                        step.run
                    ));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("spec.script[{i}].run: Required value")),
                Err(e) => return Err(format!("spec.script[{i}].run: Invalid value: {:?}: {e}", step.run)),
            }
        }
        Ok(())
    }

    /// The network configuration this scenario asks for.
    pub fn network_config(&self) -> Result<NetworkConfig, String> {
        let n = &self.spec.network;
        let defaults = NetworkConfig::default();
        let config = NetworkConfig {
            latency_ms_min: n.latency.as_ref().map_or(defaults.latency_ms_min, |l| l.min.ms),
            latency_ms_max: n.latency.as_ref().map_or(defaults.latency_ms_max, |l| l.max.ms),
            loss_ppm: n.loss.0,
            duplicate_ppm: n.duplicate.0,
            reorder_ppm: n.reorder.0,
        };
        config.validate()?;
        Ok(config)
    }

    /// The scenario as YAML, in the same format it is read from.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("scenarios always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_yaml(text, "test.yaml")
    }

    #[test]
    fn minimal_document_gets_the_defaults() {
        let s = parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\n").unwrap();
        assert_eq!(s.spec, ScenarioSpec::default());
        assert_eq!(s.spec.seed, 1);
        assert_eq!(s.spec.etcd.members, 3);
        let names: Vec<_> = s.spec.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3"]);
        assert_eq!(s.spec.nodes[0].cpu.millis(), 4000);
        assert_eq!(s.spec.nodes[0].memory.value(), 8 << 30);
    }

    #[test]
    fn full_document_parses_and_round_trips() {
        let text = r#"
apiVersion: kscope.dev/v1alpha1
kind: Scenario
metadata:
  name: two-zones
spec:
  seed: 42
  etcd: {members: 5}
  nodes:
  - {name: a-1, cpu: 2, memory: 4Gi, labels: {topology.kubernetes.io/zone: a}}
  - {name: b-1, cpu: 500m}
  network:
    latency: {min: 2ms, max: 20ms}
    loss: 0.01
    reorder: "5%"
  script:
  - at: 5s
    run: sim partition etcd-1
  - at: 1m
    run: sim heal
"#;
        let s = parse(text).unwrap();
        assert_eq!(s.spec.seed, 42);
        assert_eq!(s.spec.etcd.members, 5);
        assert_eq!(s.spec.nodes[1].memory.value(), 8 << 30);
        assert_eq!(s.spec.nodes[0].labels["topology.kubernetes.io/zone"], "a");
        let net = s.network_config().unwrap();
        assert_eq!((net.latency_ms_min, net.latency_ms_max, net.loss_ppm, net.reorder_ppm), (2, 20, 10_000, 50_000));
        assert_eq!(s.spec.script[1].at, Duration::from_secs(60));
        assert_eq!(parse(&s.to_yaml()).unwrap(), s);
    }

    #[test]
    fn syntax_and_type_errors_carry_line_and_column() {
        let e = parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        let e = parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodez: []\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(4), Some(3)), "{e}");
        assert!(e.message.contains("unknown field `nodez`"), "{e}");
        assert!(e.to_string().starts_with("test.yaml:4:3: "), "{e}");
        let e = parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes:\n  - {name: n, cpu: 4x}\n")
            .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("quantities must match the regular expression"), "{e}");
        let e =
            parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  script:\n  - {at: 5x, run: sim heal}\n")
                .unwrap_err();
        assert!(e.message.contains(r#"unknown unit "x" in duration "5x""#), "{e}");
        let e = parse("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes:\n  - name: a\n    cpu: lots\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (Some(6), Some(5)), "{e}");
        assert!(e.message.starts_with("spec.nodes[0].cpu: quantities must match"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = [
            ("apiVersion: v1\nkind: Scenario\n", "apiVersion: Unsupported value: \"v1\""),
            ("apiVersion: kscope.dev/v1alpha1\nkind: Pod\n", "kind: Unsupported value: \"Pod\""),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {etcd: {members: 4}}\n",
                "spec.etcd.members: Unsupported value: 4",
            ),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {nodes: [{name: a}, {name: a}]}\n",
                "spec.nodes[1].name: Duplicate value: \"a\"",
            ),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {nodes: [{name: Node_1}]}\n",
                "spec.nodes[0].name: Invalid value: \"Node_1\": a lowercase RFC 1123",
            ),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {nodes: [{name: a, cpu: \"-1\"}]}\n",
                "spec.nodes[0].cpu: Invalid value: \"-1\"",
            ),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {network: {latency: {min: 0s, max: 1ms}}}\n",
                "spec.network: Invalid value: network latency must be at least 1ms",
            ),
            ("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {network: {loss: 2}}\n", "invalid probability"),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {script: [{at: 1s, run: frobnicate}]}\n",
                "spec.script[0].run: Invalid value: \"frobnicate\": unknown command \"frobnicate\"",
            ),
            (
                "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {script: [{at: 1s, run: sim advance 5s}]}\n",
                "spec.script[0].run: Invalid value: \"sim advance 5s\": not allowed in a script",
            ),
            ("", "the scenario is empty"),
            ("- just\n- a list\n", "invalid type: sequence, expected struct Scenario"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}\n  got:  {e}\n  want: {want}");
        }
    }

    #[test]
    fn dns1123_subdomain() {
        for ok in ["node-1", "a", "a.b-c.d", "0"] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a..b", ".a"] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }
}
