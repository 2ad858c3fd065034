//! The in-tree plugins kscope models, and the registry that builds them
//! from a profile's plugin configuration (pkg/scheduler/framework/plugins/registry.go).
//!
//! The volume plugins (VolumeRestrictions, NodeVolumeLimits, VolumeBinding,
//! VolumeZone) are registered so configurations that name them work, but
//! kscope has no volumes: they skip every pod, as the real ones do for a pod
//! without volumes.

pub mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod scheduling_gates;
pub mod taint_toleration;

use super::framework::{CycleState, Plugin, Point, Snapshot, Status};
use super::types::{NodeInfo, PodInfo};

/// PrioritySort's name.
pub const PRIORITY_SORT: &str = "PrioritySort";
/// DefaultPreemption's name.
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";
/// DefaultBinder's name.
pub const DEFAULT_BINDER: &str = "DefaultBinder";

/// A plugin whose work is done by the scheduler itself (PrioritySort orders
/// the queue, DefaultPreemption runs after failed filtering, DefaultBinder
/// posts the binding) or that has nothing to do without volumes.
pub struct Builtin {
    name: &'static str,
    points: &'static [Point],
}

impl Plugin for Builtin {
    fn name(&self) -> &'static str {
        self.name
    }

    fn points(&self) -> &'static [Point] {
        self.points
    }

    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, _: &Snapshot) -> Status {
        Status::skip()
    }

    fn pre_score(&self, _: &mut CycleState, _: &PodInfo, _: &[&NodeInfo], _: &Snapshot) -> Status {
        Status::skip()
    }
}

/// Every plugin name in the registry with the points it implements, in
/// the order of the default profile.
pub const REGISTRY: &[(&str, &[Point])] = &[
    (scheduling_gates::NAME, &[Point::PreEnqueue]),
    (PRIORITY_SORT, &[Point::QueueSort]),
    (node_unschedulable::NAME, &[Point::Filter]),
    (node_name::NAME, &[Point::Filter]),
    (taint_toleration::NAME, &[Point::Filter, Point::PreScore, Point::Score]),
    (node_affinity::NAME, &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]),
    (node_ports::NAME, &[Point::PreFilter, Point::Filter]),
    (node_resources::FIT, &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]),
    ("VolumeRestrictions", &[Point::PreFilter, Point::Filter]),
    ("NodeVolumeLimits", &[Point::PreFilter, Point::Filter]),
    (
        "VolumeBinding",
        &[Point::PreFilter, Point::Filter, Point::Reserve, Point::PreBind, Point::PreScore, Point::Score],
    ),
    ("VolumeZone", &[Point::PreFilter, Point::Filter]),
    (pod_topology_spread::NAME, &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]),
    (inter_pod_affinity::NAME, &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]),
    (DEFAULT_PREEMPTION, &[Point::PostFilter]),
    (node_resources::BALANCED_ALLOCATION, &[Point::PreScore, Point::Score]),
    (image_locality::NAME, &[Point::Score]),
    (DEFAULT_BINDER, &[Point::Bind]),
];

/// The points `name` implements, if it is a known plugin.
pub fn points_of(name: &str) -> Option<&'static [Point]> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// A plugin with default arguments (arguments are applied by the config).
pub fn build(name: &str) -> Option<Box<dyn Plugin>> {
    let (name, points) = REGISTRY.iter().find(|(n, _)| *n == name).copied()?;
    Some(match name {
        scheduling_gates::NAME => Box::new(scheduling_gates::SchedulingGates),
        node_unschedulable::NAME => Box::new(node_unschedulable::NodeUnschedulable),
        node_name::NAME => Box::new(node_name::NodeName),
        taint_toleration::NAME => Box::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Box::new(node_affinity::NodeAffinity),
        node_ports::NAME => Box::new(node_ports::NodePorts),
        node_resources::FIT => Box::new(node_resources::Fit::default()),
        node_resources::BALANCED_ALLOCATION => Box::new(node_resources::BalancedAllocation::default()),
        pod_topology_spread::NAME => Box::new(pod_topology_spread::PodTopologySpread::default()),
        inter_pod_affinity::NAME => Box::new(inter_pod_affinity::InterPodAffinity::default()),
        image_locality::NAME => Box::new(image_locality::ImageLocality),
        _ => Box::new(Builtin { name, points }),
    })
}
