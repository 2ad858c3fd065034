//! NodePorts: a pod's host ports must be free on the node
//! (pkg/scheduler/framework/plugins/nodeports/node_ports.go).

use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status};
use crate::kube_scheduler::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodePorts";
/// Its failure reason (`ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The plugin.
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreFilter, Point::Filter]
    }

    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        if pod.host_ports.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let taken = pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if taken {
            Status::unschedulable(ERR_REASON)
        } else {
            Status::success()
        }
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::AssignedPodDelete]
    }
}
