//! PodTopologySpread: keep the number of matching pods in each topology
//! domain within maxSkew of the emptiest domain (hard constraints filter,
//! soft ones score), with the system default constraints for pods that
//! belong to a Service or a controller
//! (pkg/scheduler/framework/plugins/podtopologyspread).

use crate::apimachinery::labels::Selector;
use crate::kube_scheduler::framework::{
    ClusterEvent, CycleState, Plugin, Point, Snapshot, Status, Workloads, MAX_NODE_SCORE,
};
use crate::kube_scheduler::types::{untolerated, Effect, NodeInfo, PodInfo, SpreadConstraint};
use std::collections::{BTreeMap, BTreeSet};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";
/// Its failure reason when the skew would be too large (`ErrReasonConstraintsNotMatch`).
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Its failure reason when a node lacks a topology label (`ErrReasonNodeLabelNotMatch`).
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// The plugin.
pub struct PodTopologySpread {
    /// `defaultingType: System` (the default): pods without constraints get
    /// the system defaults; `List` uses `default_constraints` instead.
    pub system_defaulted: bool,
    /// Constraints for pods without their own (`defaultConstraints` with `List`).
    pub default_constraints: Vec<SpreadConstraint>,
}

impl Default for PodTopologySpread {
    fn default() -> Self {
        PodTopologySpread { system_defaulted: true, default_constraints: Vec::new() }
    }
}

/// The system default constraints (plugin.go `systemDefaultConstraints`):
/// hostname maxSkew 3 and zone maxSkew 5, both ScheduleAnyway.
fn system_default_constraints(selector: &Selector) -> Vec<SpreadConstraint> {
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| SpreadConstraint {
            max_skew: skew,
            topology_key: key.to_string(),
            hard: false,
            selector: selector.clone(),
            min_domains: 1,
            honor_node_affinity: true,
            honor_node_taints: false,
        })
        .collect()
}

impl Workloads {
    /// The selector the default constraints count pods with
    /// (helper/spread.go `DefaultSelector`): the Services selecting the pod,
    /// and its controlling ReplicationController, ReplicaSet or StatefulSet.
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        let mut selector = Selector::default();
        for (namespace, s) in &self.services {
            if *namespace == pod.namespace && !s.is_empty() && s.matches(&pod.labels) {
                selector.requirements.extend(s.requirements.iter().cloned());
            }
        }
        if let Some((kind, name)) = &pod.controller {
            let key = format!("{}/{name}", pod.namespace);
            let owner = match kind.as_str() {
                "ReplicationController" => self.replication_controllers.get(&key),
                "ReplicaSet" => self.replica_sets.get(&key),
                "StatefulSet" => self.stateful_sets.get(&key),
                _ => None,
            };
            if let Some(s) = owner {
                selector.requirements.extend(s.requirements.iter().cloned());
            }
        }
        selector.requirements.sort_by(|a, b| a.key.cmp(&b.key));
        selector.requirements.dedup();
        selector
    }
}

/// Whether `node` has every constraint's topology key.
fn has_all_keys(node: &NodeInfo, constraints: &[SpreadConstraint]) -> bool {
    constraints.iter().all(|c| node.labels.contains_key(&c.topology_key))
}

/// Whether `node` counts for `c` (common.go `matchNodeInclusionPolicies`).
fn included(c: &SpreadConstraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_node_affinity && !pod.required_node_affinity.matches(node) {
        return false;
    }
    if c.honor_node_taints
        && untolerated(&node.taints, &pod.tolerations, &[Effect::NoSchedule, Effect::NoExecute]).is_some()
    {
        return false;
    }
    true
}

/// Pods on `node` in `namespace` that `selector` matches and that are not
/// being deleted (common.go `countPodsMatchSelector`).
fn count_matching(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    node.pods.iter().filter(|p| !p.terminating && p.namespace == namespace && selector.matches(&p.labels)).count()
        as i64
}

struct FilterState {
    constraints: Vec<SpreadConstraint>,
    /// Per constraint: domain → matching pods.
    counts: Vec<BTreeMap<String, i64>>,
}

impl FilterState {
    fn min_match(&self, i: usize) -> i64 {
        let domains = &self.counts[i];
        if (domains.len() as i64) < self.constraints[i].min_domains {
            return 0;
        }
        domains.values().copied().min().unwrap_or(0)
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if other.terminating || other.namespace != pod.namespace || !has_all_keys(node, &self.constraints) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if included(c, pod, node) && c.selector.matches(&other.labels) {
                *self.counts[i].entry(node.labels[&c.topology_key].clone()).or_default() += delta;
            }
        }
    }
}

struct ScoreState {
    constraints: Vec<SpreadConstraint>,
    ignored: BTreeSet<String>,
    /// Per constraint (not hostname): domain → matching pods.
    counts: Vec<BTreeMap<String, i64>>,
    weights: Vec<f64>,
}

impl PodTopologySpread {
    /// The constraints of `pod` with `hard` whenUnsatisfiable, or the defaults
    /// when it has none at all.
    fn constraints(&self, pod: &PodInfo, hard: bool, snapshot: &Snapshot) -> Vec<SpreadConstraint> {
        if !pod.spread_constraints.is_empty() {
            return pod.spread_constraints.iter().filter(|c| c.hard == hard).cloned().collect();
        }
        let selector = snapshot.workloads.default_selector(pod);
        if selector.is_empty() {
            return Vec::new();
        }
        let defaults = if self.system_defaulted {
            system_default_constraints(&selector)
        } else {
            self.default_constraints
                .iter()
                .map(|c| SpreadConstraint { selector: selector.clone(), ..c.clone() })
                .collect()
        };
        defaults.into_iter().filter(|c| c.hard == hard).collect()
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let constraints = self.constraints(pod, true, snapshot);
        if constraints.is_empty() {
            return Status::skip();
        }
        let mut counts = vec![BTreeMap::new(); constraints.len()];
        for node in &snapshot.nodes {
            if !has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if included(c, pod, node) {
                    let n = count_matching(node, &c.selector, &pod.namespace);
                    *counts[i].entry(node.labels[&c.topology_key].clone()).or_default() += n;
                }
            }
        }
        state.write(NAME, FilterState { constraints, counts });
        Status::success()
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, other, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, other, node, -1);
        }
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else {
            return Status::success();
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let own = i64::from(c.selector.matches(&pod.labels));
            let count = s.counts[i].get(value).copied().unwrap_or(0);
            if count + own - s.min_match(i) > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, filtered: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        let constraints = self.constraints(pod, false, snapshot);
        if constraints.is_empty() {
            return Status::skip();
        }
        let require_all = !pod.spread_constraints.is_empty() || !self.system_defaulted;
        let mut ignored = BTreeSet::new();
        let mut counts = vec![BTreeMap::new(); constraints.len()];
        for node in filtered {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
                continue;
            }
            // Without require_all (the system defaults) a node lacking the
            // key is in the domain "", which counts towards the weight
            // (scoring.go initPreScoreState keys on `node.Labels[key]`).
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key != HOSTNAME {
                    let v = node.labels.get(&c.topology_key).cloned().unwrap_or_default();
                    counts[i].entry(v).or_insert(0i64);
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME { filtered.len() - ignored.len() } else { counts[i].len() };
                ((size + 2) as f64).ln()
            })
            .collect();
        for node in &snapshot.nodes {
            if require_all && !has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME || !included(c, pod, node) {
                    continue;
                }
                let value = node.labels.get(&c.topology_key).map_or("", String::as_str);
                if let Some(n) = counts[i].get_mut(value) {
                    *n += count_matching(node, &c.selector, &pod.namespace);
                }
            }
        }
        state.write(NAME, ScoreState { constraints, ignored, counts, weights });
        Status::success()
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let Some(s) = state.read::<ScoreState>(NAME) else {
            return 0;
        };
        if s.ignored.contains(&node.name) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let count = if c.topology_key == HOSTNAME {
                count_matching(node, &c.selector, &pod.namespace)
            } else {
                s.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, names: &[&str], scores: &mut [i64]) {
        normalize_spread(state, names, scores)
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeDelete,
            ClusterEvent::NodeLabel,
            ClusterEvent::NodeTaint,
            ClusterEvent::AssignedPodAdd,
            ClusterEvent::AssignedPodLabel,
            ClusterEvent::AssignedPodDelete,
            ClusterEvent::PodUpdate,
        ]
    }
}

/// NormalizeScore: the node with the fewest matching pods scores 100;
/// ignored nodes score 0 (scoring.go `NormalizeScore`).
fn normalize_spread(state: &CycleState, names: &[&str], scores: &mut [i64]) {
    let Some(s) = state.read::<ScoreState>(NAME) else {
        return;
    };
    let mut min = i64::MAX;
    let mut max = 0;
    for (name, score) in names.iter().zip(scores.iter()) {
        if s.ignored.contains(*name) {
            continue;
        }
        min = min.min(*score);
        max = max.max(*score);
    }
    for (name, score) in names.iter().zip(scores.iter_mut()) {
        if s.ignored.contains(*name) {
            *score = 0;
        } else if max == 0 {
            *score = MAX_NODE_SCORE;
        } else {
            *score = MAX_NODE_SCORE * (max + min - *score) / max;
        }
    }
}
