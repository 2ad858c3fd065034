//! NodeUnschedulable: cordoned nodes take no new pods, unless the pod
//! tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint
//! (pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable.go).

use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status};
use crate::kube_scheduler::types::{Effect, NodeInfo, PodInfo, Taint};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";
/// Its failure reason (`ErrReasonUnschedulable`).
pub const ERR_REASON: &str = "node(s) were unschedulable";

/// The plugin.
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::Filter]
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        if !node.unschedulable {
            return Status::success();
        }
        let taint =
            Taint { key: "node.kubernetes.io/unschedulable".into(), value: String::new(), effect: Effect::NoSchedule };
        if pod.tolerations.iter().any(|t| t.tolerates(&taint)) {
            return Status::success();
        }
        Status::unresolvable(ERR_REASON)
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeTaint, ClusterEvent::PodUpdate]
    }
}
