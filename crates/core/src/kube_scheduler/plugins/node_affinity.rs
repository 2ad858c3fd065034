//! NodeAffinity: the pod's nodeSelector and required node affinity must
//! match the node; matching preferred terms add their weights to the score
//! (pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go).

use super::helper::normalize;
use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status};
use crate::kube_scheduler::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";
/// Its failure reason (`ErrReasonPod`).
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

/// The plugin.
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]
    }

    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        let a = &pod.required_node_affinity;
        if a.node_selector.is_empty() && a.terms.is_none() {
            return Status::skip();
        }
        Status::success()
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        if pod.required_node_affinity.matches(node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }

    fn pre_score(&self, _: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Snapshot) -> Status {
        if pod.preferred_node_terms.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    /// The sum of the weights of the preferred terms the node matches.
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        pod.preferred_node_terms
            .iter()
            .filter(|p| p.weight != 0 && p.term.matches(&node.name, &node.labels))
            .map(|p| p.weight)
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&str], scores: &mut [i64]) {
        normalize(false, scores)
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeLabel, ClusterEvent::PodUpdate]
    }
}
