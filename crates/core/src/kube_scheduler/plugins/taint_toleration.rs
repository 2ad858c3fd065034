//! TaintToleration: NoSchedule and NoExecute taints keep out pods that do
//! not tolerate them; untolerated PreferNoSchedule taints lower the score
//! (pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go).

use super::helper::normalize;
use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status};
use crate::kube_scheduler::types::{untolerated, Effect, NodeInfo, PodInfo, Toleration};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// The plugin.
pub struct TaintToleration;

/// The pod's tolerations that can match PreferNoSchedule taints.
struct PreScore(Vec<Toleration>);

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::Filter, Point::PreScore, Point::Score]
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        match untolerated(&node.taints, &pod.tolerations, &[Effect::NoSchedule, Effect::NoExecute]) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value)),
        }
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Snapshot) -> Status {
        let prefer = pod
            .tolerations
            .iter()
            .filter(|t| matches!(t.effect, Effect::All | Effect::PreferNoSchedule))
            .cloned()
            .collect();
        state.write(NAME, PreScore(prefer));
        Status::success()
    }

    /// How many PreferNoSchedule taints the pod does not tolerate.
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let empty = PreScore(Vec::new());
        let tolerations = &state.read::<PreScore>(NAME).unwrap_or(&empty).0;
        node.taints
            .iter()
            .filter(|t| t.effect == Effect::PreferNoSchedule && !tolerations.iter().any(|tol| tol.tolerates(t)))
            .count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&str], scores: &mut [i64]) {
        normalize(true, scores)
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeTaint, ClusterEvent::PodUpdate]
    }
}
