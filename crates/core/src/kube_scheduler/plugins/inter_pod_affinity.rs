//! InterPodAffinity: required pod affinity and anti-affinity (the pod's own
//! and existing pods' anti-affinity towards it) filter nodes by topology
//! domain; preferred terms, both ways, score them
//! (pkg/scheduler/framework/plugins/interpodaffinity).

use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status, MAX_NODE_SCORE};
use crate::kube_scheduler::types::{AffinityTerm, NodeInfo, PodInfo, WeightedAffinityTerm};
use std::collections::BTreeMap;

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";
/// The pod's required affinity cannot be met (`ErrReasonAffinityRulesNotMatch`).
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// The pod's required anti-affinity cannot be met (`ErrReasonAntiAffinityRulesNotMatch`).
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// An existing pod's anti-affinity rejects the pod (`ErrReasonExistingAntiAffinityRulesNotMatch`).
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// The plugin.
pub struct InterPodAffinity {
    /// Weight of an existing pod's required affinity term that the new pod
    /// matches, in scoring (`hardPodAffinityWeight`, default 1).
    pub hard_pod_affinity_weight: i64,
    /// `ignorePreferredTermsOfExistingPods`.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity { hard_pod_affinity_weight: 1, ignore_preferred_terms_of_existing_pods: false }
    }
}

type Pair = (String, String);
type NsLabels = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Default)]
struct FilterState {
    /// Domains where an existing pod's required anti-affinity matches the pod.
    existing_anti: BTreeMap<Pair, i64>,
    /// Domains with pods matching all of the pod's required affinity terms.
    affinity: BTreeMap<Pair, i64>,
    /// Domains with pods matching one of the pod's required anti-affinity terms.
    anti: BTreeMap<Pair, i64>,
    ns_labels: NsLabels,
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, ns: &NsLabels) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns))
}

impl FilterState {
    /// Counts `other` on `node` into the state (`updateWithPod`), `delta` ±1.
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let bump = |map: &mut BTreeMap<Pair, i64>, key: &str| {
            if let Some(value) = node.labels.get(key) {
                let entry = map.entry((key.to_string(), value.clone())).or_default();
                *entry += delta;
                if *entry == 0 {
                    map.remove(&(key.to_string(), value.clone()));
                }
            }
        };
        for term in &other.required_anti_affinity {
            if term.matches(pod, &self.ns_labels) {
                bump(&mut self.existing_anti, &term.topology_key);
            }
        }
        if matches_all(&pod.required_affinity, other, &self.ns_labels) {
            for term in &pod.required_affinity {
                bump(&mut self.affinity, &term.topology_key);
            }
        }
        for term in &pod.required_anti_affinity {
            if term.matches(other, &self.ns_labels) {
                bump(&mut self.anti, &term.topology_key);
            }
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let any_existing_anti = snapshot.nodes.iter().any(|n| n.required_anti_affinity_pods > 0);
        if !any_existing_anti && pod.required_affinity.is_empty() && pod.required_anti_affinity.is_empty() {
            return Status::skip();
        }
        let mut s = FilterState { ns_labels: snapshot.namespace_labels.clone(), ..FilterState::default() };
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        for node in &snapshot.nodes {
            if !own_terms && node.required_anti_affinity_pods == 0 {
                continue;
            }
            for other in &node.pods {
                if own_terms || !other.required_anti_affinity.is_empty() {
                    s.update(pod, other, node, 1);
                }
            }
        }
        state.write(NAME, s);
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
        let count = |map: &BTreeMap<Pair, i64>, key: &str, value: &str| {
            map.get(&(key.to_string(), value.to_string())).copied().unwrap_or(0)
        };
        // satisfyPodAffinity: every term's domain must hold a matching pod,
        // unless no pod anywhere matches and the pod matches its own terms
        // (the first of a group that wants to be together).
        if !pod.required_affinity.is_empty() {
            let mut pods_exist = true;
            for term in &pod.required_affinity {
                let Some(value) = node.labels.get(&term.topology_key) else {
                    return Status::unresolvable(ERR_REASON_AFFINITY);
                };
                if count(&s.affinity, &term.topology_key, value) <= 0 {
                    pods_exist = false;
                }
            }
            if !pods_exist && !(s.affinity.is_empty() && matches_all(&pod.required_affinity, pod, &s.ns_labels)) {
                return Status::unresolvable(ERR_REASON_AFFINITY);
            }
        }
        // satisfyPodAntiAffinity.
        if !s.anti.is_empty() {
            for term in &pod.required_anti_affinity {
                if let Some(value) = node.labels.get(&term.topology_key) {
                    if count(&s.anti, &term.topology_key, value) > 0 {
                        return Status::unschedulable(ERR_REASON_ANTI_AFFINITY);
                    }
                }
            }
        }
        // satisfyExistingPodsAntiAffinity.
        if !s.existing_anti.is_empty() {
            for (key, value) in &node.labels {
                if count(&s.existing_anti, key, value) > 0 {
                    return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY);
                }
            }
        }
        Status::success()
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        let has_constraints = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let ns = &snapshot.namespace_labels;
        let mut topology: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut add = |terms: &[WeightedAffinityTerm], target: &PodInfo, node: &NodeInfo, sign: i64| {
            for t in terms {
                if t.term.matches(target, ns) {
                    if let Some(value) = node.labels.get(&t.term.topology_key) {
                        *topology.entry(t.term.topology_key.clone()).or_default().entry(value.clone()).or_default() +=
                            t.weight * sign;
                    }
                }
            }
        };
        for node in &snapshot.nodes {
            if node.labels.is_empty() || (!has_constraints && node.affinity_pods == 0) {
                continue;
            }
            for existing in &node.pods {
                if !has_constraints && !existing.has_pod_affinity() {
                    continue;
                }
                add(&pod.preferred_affinity, existing, node, 1);
                add(&pod.preferred_anti_affinity, existing, node, -1);
                if self.hard_pod_affinity_weight > 0 {
                    let hard: Vec<WeightedAffinityTerm> = existing
                        .required_affinity
                        .iter()
                        .map(|t| WeightedAffinityTerm { term: t.clone(), weight: self.hard_pod_affinity_weight })
                        .collect();
                    add(&hard, pod, node, 1);
                }
                add(&existing.preferred_affinity, pod, node, 1);
                add(&existing.preferred_anti_affinity, pod, node, -1);
            }
        }
        if topology.is_empty() {
            return Status::skip();
        }
        state.write(NAME, ScoreState(topology));
        Status::success()
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let Some(ScoreState(topology)) = state.read::<ScoreState>(NAME) else {
            return 0;
        };
        topology.iter().filter_map(|(key, values)| node.labels.get(key).and_then(|v| values.get(v))).sum()
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, _: &[&str], scores: &mut [i64]) {
        if state.read::<ScoreState>(NAME).is_none() {
            return;
        }
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 { (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64 } else { 0 };
        }
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::AssignedPodAdd,
            ClusterEvent::AssignedPodLabel,
            ClusterEvent::AssignedPodDelete,
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeLabel,
            ClusterEvent::NodeTaint,
        ]
    }
}

struct ScoreState(BTreeMap<String, BTreeMap<String, i64>>);
