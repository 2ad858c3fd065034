//! DefaultPreemption (pkg/scheduler/framework/preemption/preemption.go and
//! plugins/defaultpreemption/default_preemption.go): when no node fits,
//! find nodes where evicting lower-priority pods would make room, pick the
//! one whose victims matter least, and nominate it.
//!
//! kscope has no PodDisruptionBudgets yet, so no victim ever violates one.

use super::config::{PreemptionArgs, Profile};
use super::framework::{Code, Snapshot, Status};
use super::schedule_one::{active_filters, filter_with_nominated, run_pre_filter, FitError, Nominated};
use super::types::PodInfo;
use crate::rng::SimRng;
use std::rc::Rc;

/// No lower-priority pod on the node.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// A node preemption cannot help (not tried, or rejected for good).
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// A node where preemption would work.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// Pods to evict, most important first.
    pub victims: Vec<Rc<PodInfo>>,
}

/// What preemption decided.
#[derive(Clone, Debug)]
pub enum Preemption {
    /// Nominate this node and evict these pods.
    Nominate(Candidate),
    /// No luck: the PostFilter message ("preemption: ..."), and whether to
    /// clear an earlier nomination.
    Failed {
        /// The PostFilter message.
        message: String,
        /// Whether an earlier nomination is cleared.
        clear_nomination: bool,
    },
}

/// Whether `a` is more important than `b` (util.MoreImportantPod): higher
/// priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority.cmp(&a.priority).then(a.start_ms.unwrap_or(u64::MAX).cmp(&b.start_ms.unwrap_or(u64::MAX)))
}

/// `PodEligibleToPreemptOthers`.
fn eligible(pod: &PodInfo, fit: &FitError, snapshot: &Snapshot) -> Result<(), &'static str> {
    if pod.never_preempt {
        return Err("not eligible due to preemptionPolicy=Never.");
    }
    if !pod.nominated_node_name.is_empty() {
        let unresolvable =
            fit.statuses.get(&pod.nominated_node_name).is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable);
        if unresolvable {
            return Ok(());
        }
        if let Some(node) = snapshot.node(&pod.nominated_node_name) {
            if node.pods.iter().any(|p| p.priority < pod.priority && p.terminating_by_preemption) {
                return Err("not eligible due to a terminating pod on the nominated node.");
            }
        }
    }
    Ok(())
}

/// `SelectVictimsOnNode`: remove every lower-priority pod; if the pod then
/// fits, put them back most important first while it still fits.
fn select_victims(
    profile: &Profile,
    pod: &PodInfo,
    node_index: usize,
    snapshot: &Snapshot,
    nominated: &Nominated,
) -> Result<Vec<Rc<PodInfo>>, Status> {
    let mut state = match run_pre_filter(profile, pod, snapshot) {
        Ok(s) => s,
        Err(s) => return Err(s),
    };
    let mut node = snapshot.nodes[node_index].clone();
    let mut potential: Vec<Rc<PodInfo>> = node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for p in &potential {
        node.remove_pod(&p.key);
        for (_, plugin) in profile.at(super::framework::Point::PreFilter) {
            plugin.remove_pod(&mut state, pod, p, &node);
        }
    }
    let status = filter_with_nominated(&active_filters(profile, &state), &state, pod, &node, snapshot, nominated);
    if !status.is_success() {
        return Err(status);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let mut victims = Vec::new();
    for p in potential {
        node.add_pod(p.clone());
        for (_, plugin) in profile.at(super::framework::Point::PreFilter) {
            plugin.add_pod(&mut state, pod, &p, &node);
        }
        if !filter_with_nominated(&active_filters(profile, &state), &state, pod, &node, snapshot, nominated)
            .is_success()
        {
            node.remove_pod(&p.key);
            for (_, plugin) in profile.at(super::framework::Point::PreFilter) {
                plugin.remove_pod(&mut state, pod, &p, &node);
            }
            victims.push(p);
        }
    }
    Ok(victims)
}

/// `pickOneNodeForPreemption` without PDBs: lowest highest-priority victim,
/// lowest priority sum, fewest victims, latest start of the most important
/// victims, then the first.
fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    let mut left = candidates;
    let criteria: [&dyn Fn(&Candidate) -> i128; 4] = [
        &|c| -(c.victims.first().map_or(0, |v| v.priority) as i128),
        &|c| -c.victims.iter().map(|v| v.priority as i128 + i32::MAX as i128 + 1).sum::<i128>(),
        &|c| -(c.victims.len() as i128),
        &|c| {
            let top = c.victims.first().map_or(0, |v| v.priority);
            c.victims
                .iter()
                .filter(|v| v.priority == top)
                .map(|v| v.start_ms.unwrap_or(u64::MAX) as i128)
                .min()
                .unwrap_or(0)
        },
    ];
    for score in criteria {
        if left.len() <= 1 {
            break;
        }
        let best = left.iter().map(|c| score(c)).max()?;
        left.retain(|c| score(c) == best);
    }
    left.into_iter().next()
}

/// Runs DefaultPreemption for a pod no node fits.
pub fn preempt(
    profile: &Profile,
    args: &PreemptionArgs,
    pod: &PodInfo,
    fit: &FitError,
    snapshot: &Snapshot,
    nominated: &Nominated,
    rng: &mut SimRng,
) -> Preemption {
    if let Err(message) = eligible(pod, fit, snapshot) {
        return Preemption::Failed { message: format!("preemption: {message}"), clear_nomination: false };
    }
    // Only nodes the filters found merely Unschedulable can be helped.
    let potential: Vec<usize> = snapshot
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| fit.statuses.get(&n.name).is_some_and(|s| s.code == Code::Unschedulable))
        .map(|(i, _)| i)
        .collect();
    let mut dry_run = FitError { num_all_nodes: snapshot.nodes.len(), ..FitError::default() };
    let mut candidates = Vec::new();
    if !potential.is_empty() {
        let count = potential.len();
        let want = ((count as i64 * args.min_candidate_nodes_percentage / 100).max(args.min_candidate_nodes_absolute)
            as usize)
            .min(count);
        let offset = rng.below(count as u64) as usize;
        for i in 0..count {
            let idx = potential[(offset + i) % count];
            let name = &snapshot.nodes[idx].name;
            match select_victims(profile, pod, idx, snapshot, nominated) {
                Ok(victims) if !victims.is_empty() => {
                    candidates.push(Candidate { node: name.clone(), victims });
                    if candidates.len() >= want {
                        break;
                    }
                }
                Ok(_) => {
                    dry_run.statuses.insert(
                        name.clone(),
                        Status::new(Code::Error, &[&format!("expected at least one victim pod on node {name:?}")]),
                    );
                }
                Err(status) => {
                    dry_run.statuses.insert(name.clone(), status);
                }
            }
        }
    }
    if candidates.is_empty() {
        dry_run.absent = Some(Status::unresolvable(NOT_HELPFUL));
        return Preemption::Failed { message: format!("preemption: {}", dry_run.message("")), clear_nomination: true };
    }
    match pick(candidates) {
        Some(c) => Preemption::Nominate(c),
        None => Preemption::Failed {
            message: "preemption: no candidate node for preemption".into(),
            clear_nomination: false,
        },
    }
}
