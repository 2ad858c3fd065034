//! SchedulingGates: a pod with scheduling gates waits outside the active
//! queue until they are all removed
//! (pkg/scheduler/framework/plugins/schedulinggates/scheduling_gates.go).

use crate::kube_scheduler::framework::{ClusterEvent, Code, Plugin, Point, Status};
use crate::kube_scheduler::types::PodInfo;

/// The plugin's name.
pub const NAME: &str = "SchedulingGates";

/// The plugin.
pub struct SchedulingGates;

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreEnqueue]
    }

    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        if pod.scheduling_gates.is_empty() {
            return Status::success();
        }
        Status::new(
            Code::UnschedulableAndUnresolvable,
            &[&format!("waiting for scheduling gates: [{}]", pod.scheduling_gates.join(" "))],
        )
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::PodUpdate]
    }
}
