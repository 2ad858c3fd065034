//! NodeName: a pod that names its node fits only there
//! (pkg/scheduler/framework/plugins/nodename/node_name.go).

use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status};
use crate::kube_scheduler::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeName";
/// Its failure reason (`ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The plugin.
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::Filter]
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        if pod.node_name.is_empty() || pod.node_name == node.name {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd]
    }
}
