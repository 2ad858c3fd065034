//! One scheduling cycle (pkg/scheduler/schedule_one.go `schedulePod` and
//! framework/runtime/framework.go): PreFilter, Filter over a sample of the
//! nodes (percentageOfNodesToScore, round-robin from where the last cycle
//! stopped), PreScore, Score, NormalizeScore and weights, then the pick
//! among the best nodes at random.

use super::config::Profile;
use super::explain::{Attempt, NodeVerdict, PluginScores};
use super::framework::{Code, CycleState, Plugin, Point, Snapshot, Status};
use super::types::{NodeInfo, PodInfo};
use crate::rng::SimRng;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Below this many nodes every node is evaluated (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;
/// The message when the cluster has no nodes (`ErrNoNodesAvailable`).
pub const ERR_NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Pods nominated to nodes by preemption and not bound yet, by node.
pub type Nominated = BTreeMap<String, Vec<Rc<PodInfo>>>;

/// How many feasible nodes to look for (`numFeasibleNodesToFind`): all
/// below 100 nodes; otherwise the percentage (adaptive when 0: 50% minus
/// one point per 125 nodes, at least 5%), but at least 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: i64, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = percentage;
    if pct == 0 {
        pct = (50 - num_all_nodes as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let n = (num_all_nodes as i64 * pct / 100) as usize;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why no node fits (framework.FitError).
#[derive(Clone, Debug, Default)]
pub struct FitError {
    /// Nodes in the cluster.
    pub num_all_nodes: usize,
    /// A PreFilter plugin's rejection (the same for every node).
    pub pre_filter: Option<Status>,
    /// Each evaluated node's failed status, by node name.
    pub statuses: BTreeMap<String, Status>,
    /// The status of nodes not in `statuses` (preemption's "not helpful").
    pub absent: Option<Status>,
}

impl FitError {
    /// `0/3 nodes are available: 1 node(s) ..., 2 Insufficient cpu.`
    /// (types.go `FitError.Error`): reasons counted per node, the
    /// "count reason" strings sorted as strings and joined; then the
    /// PostFilter message, if any.
    pub fn message(&self, post_filter: &str) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if let Some(pre) = &self.pre_filter {
            msg.push_str(&format!(" {}.", pre.message()));
        } else {
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for status in self.statuses.values() {
                for r in &status.reasons {
                    *reasons.entry(r).or_default() += 1;
                }
            }
            if let Some(absent) = &self.absent {
                let missing = self.num_all_nodes.saturating_sub(self.statuses.len());
                if missing > 0 {
                    for r in &absent.reasons {
                        *reasons.entry(r).or_default() += missing;
                    }
                }
            }
            let mut list: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            list.sort();
            if !list.is_empty() {
                msg.push_str(&format!(" {}.", list.join(", ")));
            }
        }
        if !post_filter.is_empty() {
            msg.push(' ');
            msg.push_str(post_filter);
        }
        msg
    }

    /// The plugins that rejected the pod somewhere.
    pub fn rejectors(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> =
            self.pre_filter.iter().chain(self.statuses.values()).map(|s| s.plugin).collect();
        out.sort_unstable();
        out.dedup();
        out.retain(|p| !p.is_empty());
        out
    }
}

/// Runs the PreFilter plugins. A rejection applies to every node.
pub fn run_pre_filter(profile: &Profile, pod: &PodInfo, snapshot: &Snapshot) -> Result<CycleState, Status> {
    let mut state = CycleState::default();
    for (_, plugin) in profile.at(Point::PreFilter) {
        let mut status = plugin.pre_filter(&mut state, pod, snapshot);
        match status.code {
            Code::Success => {}
            Code::Skip => state.skip_filter.push(plugin.name()),
            _ => {
                status.plugin = plugin.name();
                return Err(status);
            }
        }
    }
    Ok(state)
}

/// The Filter plugins to run this cycle: those whose PreFilter did not skip.
pub fn active_filters<'a>(profile: &'a Profile, state: &CycleState) -> Vec<&'a dyn Plugin> {
    profile.at(Point::Filter).map(|(_, p)| p).filter(|p| !state.skip_filter.contains(&p.name())).collect()
}

/// Runs the Filter plugins on one node; the first failure wins.
pub fn run_filters(
    filters: &[&dyn Plugin],
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Status {
    for plugin in filters {
        let mut status = plugin.filter(state, pod, node, snapshot);
        if !status.is_success() {
            status.plugin = plugin.name();
            return status;
        }
    }
    Status::success()
}

/// Filters a node counting the pods nominated to it with at least the
/// pod's priority as if they were there (framework
/// `RunFilterPluginsWithNominatedPods`), then without them.
pub fn filter_with_nominated(
    filters: &[&dyn Plugin],
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
    nominated: &Nominated,
) -> Status {
    if nominated.is_empty() {
        return run_filters(filters, state, pod, node, snapshot);
    }
    let others: Vec<&Rc<PodInfo>> = nominated
        .get(&node.name)
        .into_iter()
        .flatten()
        .filter(|p| p.key != pod.key && p.priority >= pod.priority)
        .collect();
    if !others.is_empty() {
        let mut with = node.clone();
        for p in others {
            with.add_pod(p.clone());
        }
        let status = run_filters(filters, state, pod, &with, snapshot);
        if !status.is_success() {
            return status;
        }
    }
    run_filters(filters, state, pod, node, snapshot)
}

/// The result of a successful cycle.
pub struct Scheduled {
    /// The chosen node.
    pub node: String,
}

/// Schedules one pod: Ok(node) or Err(FitError) with the cycle state for
/// preemption. `attempt` is filled in along the way.
#[allow(clippy::too_many_arguments)]
pub fn schedule_pod(
    profile: &Profile,
    global_percentage: i64,
    snapshot: &Snapshot,
    pod: &PodInfo,
    nominated: &Nominated,
    rng: &mut SimRng,
    next_start: &mut usize,
    attempt: &mut Attempt,
) -> Result<Scheduled, (FitError, Option<CycleState>)> {
    let n = snapshot.nodes.len();
    attempt.num_all_nodes = n;
    let mut fit = FitError { num_all_nodes: n, ..FitError::default() };
    let state = match run_pre_filter(profile, pod, snapshot) {
        Ok(s) => s,
        Err(status) => {
            attempt.pre_filter_rejection = Some((status.plugin, status.message()));
            fit.pre_filter = Some(status);
            return Err((fit, None));
        }
    };
    let filters = active_filters(profile, &state);
    // A pod nominated by an earlier preemption tries its node first.
    if !pod.nominated_node_name.is_empty() {
        if let Some(node) = snapshot.node(&pod.nominated_node_name) {
            if filter_with_nominated(&filters, &state, pod, node, snapshot, nominated).is_success() {
                attempt.nominated_fast_path = true;
                attempt.filtered.push(NodeVerdict { node: node.name.clone(), rejected: None });
                attempt.scored.push(node.name.clone());
                return Ok(Scheduled { node: node.name.clone() });
            }
        }
    }
    let pct = profile.percentage_of_nodes_to_score.unwrap_or(global_percentage);
    let to_find = num_feasible_nodes_to_find(pct, n);
    attempt.nodes_to_find = to_find;
    let mut feasible: Vec<usize> = Vec::new();
    let mut processed = 0;
    for i in 0..n {
        if feasible.len() >= to_find {
            break;
        }
        let idx = (*next_start + i) % n;
        let node = &snapshot.nodes[idx];
        processed += 1;
        let status = filter_with_nominated(&filters, &state, pod, node, snapshot, nominated);
        if status.is_success() {
            feasible.push(idx);
            attempt.filtered.push(NodeVerdict { node: node.name.clone(), rejected: None });
        } else {
            attempt
                .filtered
                .push(NodeVerdict { node: node.name.clone(), rejected: Some((status.plugin, status.message())) });
            fit.statuses.insert(node.name.clone(), status);
        }
    }
    if n > 0 {
        *next_start = (*next_start + processed) % n;
    }
    drop(filters);
    if feasible.is_empty() {
        return Err((fit, Some(state)));
    }
    attempt.scored = feasible.iter().map(|&i| snapshot.nodes[i].name.clone()).collect();
    if feasible.len() == 1 {
        return Ok(Scheduled { node: snapshot.nodes[feasible[0]].name.clone() });
    }
    let mut state = state;
    let nodes: Vec<&NodeInfo> = feasible.iter().map(|&i| &snapshot.nodes[i]).collect();
    for (_, plugin) in profile.at(Point::PreScore) {
        let status = plugin.pre_score(&mut state, pod, &nodes, snapshot);
        if status.code == Code::Skip {
            state.skip_score.push(plugin.name());
        }
    }
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut totals = vec![0i64; nodes.len()];
    for (i, plugin) in profile.at(Point::Score) {
        if state.skip_score.contains(&plugin.name()) {
            attempt.skipped_score_plugins.push(plugin.name());
            continue;
        }
        let raw: Vec<i64> = nodes.iter().map(|node| plugin.score(&state, pod, node, snapshot)).collect();
        let mut normalized = raw.clone();
        plugin.normalize(&state, pod, &names, &mut normalized);
        let weight = profile.weights.get(&i).copied().unwrap_or(1);
        for (t, s) in totals.iter_mut().zip(&normalized) {
            *t += s * weight;
        }
        attempt.scores.push(PluginScores { plugin: plugin.name(), weight, raw, normalized });
    }
    // selectHost: a uniform pick among the nodes sharing the top score
    // (reservoir sampling over the list).
    let top = totals.iter().copied().max().unwrap_or(0);
    let mut chosen = 0;
    let mut count = 0u64;
    for (i, t) in totals.iter().enumerate() {
        if *t == top {
            count += 1;
            attempt.tied.push(nodes[i].name.clone());
            if rng.below(count) == 0 {
                chosen = i;
            }
        }
    }
    Ok(Scheduled { node: nodes[chosen].name.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_nodes_to_find_follows_the_adaptive_percentage() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100); // 49% of 100 is below the floor of 100
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420); // 50 - 8 = 42%
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500); // 50 - 40 = 10%
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300); // floor 5%
        assert_eq!(num_feasible_nodes_to_find(100, 1000), 1000);
        assert_eq!(num_feasible_nodes_to_find(1, 1000), 100);
    }

    #[test]
    fn fit_error_counts_sorts_and_joins_reasons() {
        let mut e = FitError { num_all_nodes: 3, ..FitError::default() };
        e.statuses.insert(
            "cp".into(),
            Status::unresolvable("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
        );
        e.statuses.insert("n1".into(), Status::unschedulable("Insufficient cpu"));
        e.statuses.insert("n2".into(), Status::new(Code::Unschedulable, &["Insufficient cpu", "Insufficient memory"]));
        assert_eq!(
            e.message(""),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
        );
        assert_eq!(
            e.message("preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }
}
