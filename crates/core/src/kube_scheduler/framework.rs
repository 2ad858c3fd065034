//! The scheduling framework (pkg/scheduler/framework/interface.go and
//! runtime/framework.go): plugin statuses, the cycle state, the plugin
//! interface with one method per extension point, and the snapshot of the
//! cluster the plugins read.

use super::types::{NodeInfo, PodInfo};
use crate::apimachinery::labels::Selector;
use std::any::Any;
use std::collections::BTreeMap;

/// The highest score a Score plugin may give after normalization (framework.MaxNodeScore).
pub const MAX_NODE_SCORE: i64 = 100;

/// A plugin's verdict (framework.Code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// The pod may go on.
    Success,
    /// Something went wrong inside the plugin.
    Error,
    /// Not schedulable here now; preemption might help.
    Unschedulable,
    /// Not schedulable here, and preemption cannot help.
    UnschedulableAndUnresolvable,
    /// The plugin has nothing to do for this pod (PreFilter/PreScore).
    Skip,
}

/// A plugin's answer: a code, the reasons, and which plugin gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The verdict.
    pub code: Code,
    /// Why (shown in FailedScheduling messages).
    pub reasons: Vec<String>,
    /// The plugin that failed, for the explanation and the queue.
    pub plugin: &'static str,
}

impl Status {
    /// Success.
    pub fn success() -> Status {
        Status { code: Code::Success, reasons: Vec::new(), plugin: "" }
    }

    /// Skip.
    pub fn skip() -> Status {
        Status { code: Code::Skip, reasons: Vec::new(), plugin: "" }
    }

    /// A failure with `code` and one or more reasons.
    pub fn new(code: Code, reasons: &[&str]) -> Status {
        Status { code, reasons: reasons.iter().map(|r| r.to_string()).collect(), plugin: "" }
    }

    /// Unschedulable for `reason`.
    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status { code: Code::Unschedulable, reasons: vec![reason.into()], plugin: "" }
    }

    /// UnschedulableAndUnresolvable for `reason`.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons: vec![reason.into()], plugin: "" }
    }

    /// Whether it is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether it rejects the pod.
    pub fn is_rejected(&self) -> bool {
        matches!(self.code, Code::Unschedulable | Code::UnschedulableAndUnresolvable)
    }

    /// All reasons joined (framework `Status.Message`).
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// What plugins computed in PreFilter/PreScore for the later points of the
/// same cycle (framework.CycleState), by plugin name.
#[derive(Default)]
pub struct CycleState {
    data: BTreeMap<&'static str, Box<dyn Any>>,
    /// Plugins whose PreFilter said Skip: their Filter is not run.
    pub skip_filter: Vec<&'static str>,
    /// Plugins whose PreScore said Skip: their Score is not run.
    pub skip_score: Vec<&'static str>,
}

impl CycleState {
    /// Stores a plugin's data.
    pub fn write<T: Any>(&mut self, plugin: &'static str, value: T) {
        self.data.insert(plugin, Box::new(value));
    }

    /// A plugin's data.
    pub fn read<T: Any>(&self, plugin: &'static str) -> Option<&T> {
        self.data.get(plugin).and_then(|b| b.downcast_ref())
    }

    /// A plugin's data, to change.
    pub fn read_mut<T: Any>(&mut self, plugin: &'static str) -> Option<&mut T> {
        self.data.get_mut(plugin).and_then(|b| b.downcast_mut())
    }
}

/// The workload objects whose selectors the default topology spread
/// constraints follow (helper.DefaultSelector): Services, ReplicationControllers,
/// ReplicaSets and StatefulSets, by namespace.
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    /// Service selectors (namespace, selector).
    pub services: Vec<(String, Selector)>,
    /// ReplicationController selectors, by namespace/name.
    pub replication_controllers: BTreeMap<String, Selector>,
    /// ReplicaSet selectors, by namespace/name.
    pub replica_sets: BTreeMap<String, Selector>,
    /// StatefulSet selectors, by namespace/name.
    pub stateful_sets: BTreeMap<String, Selector>,
}

/// The cluster as one scheduling cycle sees it (the cache's snapshot).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Nodes in node-tree order (zones taken in turn).
    pub nodes: Vec<NodeInfo>,
    /// Position of each node in `nodes`.
    pub index: BTreeMap<String, usize>,
    /// Labels of every namespace, for namespace selectors.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Selectors the default spreading uses.
    pub workloads: Workloads,
    /// Image name → on how many nodes (ImageLocality's spread).
    pub image_nodes: BTreeMap<String, usize>,
}

impl Snapshot {
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }
}

/// One plugin: a method per extension point, each defaulting to "not
/// implemented". Which points a plugin implements is [`Plugin::points`].
pub trait Plugin {
    /// The plugin's name, as in KubeSchedulerConfiguration.
    fn name(&self) -> &'static str;

    /// The extension points it implements.
    fn points(&self) -> &'static [Point];

    /// PreEnqueue: may keep the pod out of the active queue.
    fn pre_enqueue(&self, _pod: &PodInfo) -> Status {
        Status::success()
    }

    /// PreFilter: computes state for Filter; Skip means Filter is not needed.
    fn pre_filter(&self, _state: &mut CycleState, _pod: &PodInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// PreFilter extension: `other` is (hypothetically) added to `node`.
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}

    /// PreFilter extension: `other` is (hypothetically) removed from `node`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}

    /// Filter: whether the pod may run on `node`.
    fn filter(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// PreScore: computes state for Score over the feasible nodes.
    fn pre_score(&self, _state: &mut CycleState, _pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// Score: a raw score for `node`.
    fn score(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) -> i64 {
        0
    }

    /// NormalizeScore: maps the raw scores of the nodes `names` (in the same
    /// order) to 0..=100.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _names: &[&str], _scores: &mut [i64]) {}

    /// The cluster events after which a pod this plugin rejected may fit
    /// (EnqueueExtensions.EventsToRegister).
    fn events(&self) -> &'static [ClusterEvent] {
        &[]
    }
}

/// An extension point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    /// PreEnqueue.
    PreEnqueue,
    /// QueueSort.
    QueueSort,
    /// PreFilter.
    PreFilter,
    /// Filter.
    Filter,
    /// PostFilter.
    PostFilter,
    /// PreScore.
    PreScore,
    /// Score.
    Score,
    /// Reserve.
    Reserve,
    /// Permit.
    Permit,
    /// PreBind.
    PreBind,
    /// Bind.
    Bind,
    /// PostBind.
    PostBind,
}

impl Point {
    /// Every point, in KubeSchedulerConfiguration's order.
    pub const ALL: [Point; 12] = [
        Point::PreEnqueue,
        Point::QueueSort,
        Point::PreFilter,
        Point::Filter,
        Point::PostFilter,
        Point::PreScore,
        Point::Score,
        Point::Reserve,
        Point::Permit,
        Point::PreBind,
        Point::Bind,
        Point::PostBind,
    ];

    /// The field name in `profiles[].plugins` (`preFilter`).
    pub fn field(self) -> &'static str {
        match self {
            Point::PreEnqueue => "preEnqueue",
            Point::QueueSort => "queueSort",
            Point::PreFilter => "preFilter",
            Point::Filter => "filter",
            Point::PostFilter => "postFilter",
            Point::PreScore => "preScore",
            Point::Score => "score",
            Point::Reserve => "reserve",
            Point::Permit => "permit",
            Point::PreBind => "preBind",
            Point::Bind => "bind",
            Point::PostBind => "postBind",
        }
    }

    /// The name in messages (`Score`).
    pub fn title(self) -> &'static str {
        match self {
            Point::PreEnqueue => "PreEnqueue",
            Point::QueueSort => "QueueSort",
            Point::PreFilter => "PreFilter",
            Point::Filter => "Filter",
            Point::PostFilter => "PostFilter",
            Point::PreScore => "PreScore",
            Point::Score => "Score",
            Point::Reserve => "Reserve",
            Point::Permit => "Permit",
            Point::PreBind => "PreBind",
            Point::Bind => "Bind",
            Point::PostBind => "PostBind",
        }
    }
}

/// A kind of change in the cluster that can make a parked pod schedulable
/// (framework.ClusterEvent, coarsened to what kscope's plugins register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClusterEvent {
    /// A node was added.
    NodeAdd,
    /// A node was deleted.
    NodeDelete,
    /// A node's allocatable grew.
    NodeAllocatable,
    /// A node's labels changed.
    NodeLabel,
    /// A node's taints or spec.unschedulable changed.
    NodeTaint,
    /// An assigned pod was added (or bound).
    AssignedPodAdd,
    /// An assigned pod's labels changed.
    AssignedPodLabel,
    /// An assigned pod was deleted (or its requests shrank).
    AssignedPodDelete,
    /// The unscheduled pod itself changed (gates removed, tolerations added...).
    PodUpdate,
}
