//! NodeResourcesFit and NodeResourcesBalancedAllocation
//! (pkg/scheduler/framework/plugins/noderesources): a pod fits where the
//! node's allocatable minus what its pods request covers the pod's
//! requests; nodes score by how much would be left (LeastAllocated), used
//! (MostAllocated), or by a utilization curve (RequestedToCapacityRatio), and
//! by how evenly CPU and memory would be used (BalancedAllocation).

use crate::kube_scheduler::framework::{ClusterEvent, CycleState, Plugin, Point, Snapshot, Status, MAX_NODE_SCORE};
use crate::kube_scheduler::types::{NodeInfo, PodInfo, Resource};

/// NodeResourcesFit's name.
pub const FIT: &str = "NodeResourcesFit";
/// NodeResourcesBalancedAllocation's name.
pub const BALANCED_ALLOCATION: &str = "NodeResourcesBalancedAllocation";
/// Utilization is measured in percent (`maxUtilization`).
const MAX_UTILIZATION: i64 = 100;
/// Scores in a RequestedToCapacityRatio shape go up to 10 (`MaxCustomPriorityScore`).
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;

/// A resource and its weight in the score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    /// `cpu`, `memory` or an extended resource.
    pub name: String,
    /// 1..=100.
    pub weight: i64,
}

/// The default scored resources: cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![ResourceSpec { name: "cpu".into(), weight: 1 }, ResourceSpec { name: "memory".into(), weight: 1 }]
}

/// A point of a RequestedToCapacityRatio shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapePoint {
    /// Utilization, 0..=100.
    pub utilization: i64,
    /// Score, 0..=10.
    pub score: i64,
}

/// NodeResourcesFit's scoring strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer the emptiest nodes (the default).
    LeastAllocated,
    /// Prefer the fullest nodes (bin packing).
    MostAllocated,
    /// Score by a piecewise-linear function of utilization.
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

/// NodeResourcesFit.
pub struct Fit {
    /// The scoring strategy.
    pub strategy: Strategy,
    /// The scored resources.
    pub resources: Vec<ResourceSpec>,
}

impl Default for Fit {
    fn default() -> Self {
        Fit { strategy: Strategy::LeastAllocated, resources: default_resources() }
    }
}

/// Why a pod does not fit, resource by resource (fit.go `fitsRequest`):
/// the pod count first, then cpu, memory, ephemeral storage and extended
/// resources. A pod that requests nothing is only checked for the pod count.
pub fn insufficient_resources(pod: &Resource, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pod_number {
        reasons.push("Too many pods".to_string());
    }
    if pod.milli_cpu == 0 && pod.memory == 0 && pod.ephemeral_storage == 0 && pod.scalar.values().all(|v| *v == 0) {
        return reasons;
    }
    let free = |name: &str| node.allocatable.get(name) - node.requested.get(name);
    if pod.milli_cpu > 0 && pod.milli_cpu > free("cpu") {
        reasons.push("Insufficient cpu".into());
    }
    if pod.memory > 0 && pod.memory > free("memory") {
        reasons.push("Insufficient memory".into());
    }
    if pod.ephemeral_storage > 0 && pod.ephemeral_storage > free("ephemeral-storage") {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, want) in &pod.scalar {
        if *want > 0 && *want > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

/// least_allocated.go: the free share of each resource, weighted.
fn least_allocated(requested: &[i64], allocatable: &[i64], weights: &[i64]) -> i64 {
    let (mut score, mut weight_sum) = (0, 0);
    for i in 0..requested.len() {
        if allocatable[i] == 0 {
            continue;
        }
        let r = if requested[i] > allocatable[i] {
            0
        } else {
            (allocatable[i] - requested[i]) * MAX_NODE_SCORE / allocatable[i]
        };
        score += r * weights[i];
        weight_sum += weights[i];
    }
    if weight_sum == 0 {
        0
    } else {
        score / weight_sum
    }
}

/// most_allocated.go: the used share of each resource (capped at all of
/// it), weighted.
fn most_allocated(requested: &[i64], allocatable: &[i64], weights: &[i64]) -> i64 {
    let (mut score, mut weight_sum) = (0, 0);
    for i in 0..requested.len() {
        if allocatable[i] == 0 {
            continue;
        }
        let used = requested[i].min(allocatable[i]);
        score += used * MAX_NODE_SCORE / allocatable[i] * weights[i];
        weight_sum += weights[i];
    }
    if weight_sum == 0 {
        0
    } else {
        score / weight_sum
    }
}

/// helper/shape_score.go `BuildBrokenLinearFunction`: linear between the
/// shape's points, flat before the first and after the last.
pub fn broken_linear(shape: &[ShapePoint], p: i64) -> i64 {
    for (i, point) in shape.iter().enumerate() {
        if p <= point.utilization {
            if i == 0 {
                return point.score;
            }
            let prev = shape[i - 1];
            return prev.score
                + (point.score - prev.score) * (p - prev.utilization) / (point.utilization - prev.utilization);
        }
    }
    shape.last().map_or(0, |p| p.score)
}

/// requested_to_capacity_ratio.go: each resource's utilization mapped
/// through the shape (scores scaled from 0..10 to 0..100); resources that
/// score 0 do not count; the weighted mean is rounded.
fn requested_to_capacity_ratio(shape: &[ShapePoint], requested: &[i64], allocatable: &[i64], weights: &[i64]) -> i64 {
    let scaled: Vec<ShapePoint> = shape
        .iter()
        .map(|p| ShapePoint {
            utilization: p.utilization,
            score: p.score * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
        })
        .collect();
    let resource_score = |req: i64, cap: i64| {
        if cap == 0 || req > cap {
            broken_linear(&scaled, MAX_UTILIZATION)
        } else {
            broken_linear(&scaled, req * MAX_UTILIZATION / cap)
        }
    };
    let (mut score, mut weight_sum) = (0, 0);
    for i in 0..requested.len() {
        if allocatable[i] == 0 {
            continue;
        }
        let r = resource_score(requested[i], allocatable[i]);
        if r > 0 {
            score += r * weights[i];
            weight_sum += weights[i];
        }
    }
    if weight_sum == 0 {
        0
    } else {
        (score as f64 / weight_sum as f64).round() as i64
    }
}

/// balanced_allocation.go: one minus the standard deviation of the used
/// shares (each capped at 1), times 100.
fn balanced(requested: &[i64], allocatable: &[i64]) -> i64 {
    let mut fractions = [0f64; INLINE];
    let mut n = 0;
    for i in 0..requested.len() {
        if allocatable[i] != 0 {
            fractions[n] = (requested[i] as f64 / allocatable[i] as f64).min(1.0);
            n += 1;
        }
    }
    let fractions = &fractions[..n];
    let std = match fractions.len() {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// Most profiles score two resources; up to this many are kept on the stack.
const INLINE: usize = 8;

/// Per-resource figures without a heap allocation for the usual few resources.
struct Figures {
    alloc: [i64; INLINE],
    req: [i64; INLINE],
    weights: [i64; INLINE],
    len: usize,
}

/// The (allocatable, requested) of each scored resource on `node` with the
/// pod added (resource_allocation.go `calculateResourceAllocatableRequest`):
/// non-zero requests unless `use_requested`; an extended resource the pod
/// does not ask for counts as (0, 0).
fn allocatable_and_requested(
    resources: &[ResourceSpec],
    pod: &PodInfo,
    node: &NodeInfo,
    use_requested: bool,
) -> Figures {
    let (pod_req, node_req) = if use_requested {
        (&pod.requests, &node.requested)
    } else {
        (&pod.non_zero_requests, &node.non_zero_requested)
    };
    let mut f =
        Figures { alloc: [0; INLINE], req: [0; INLINE], weights: [0; INLINE], len: resources.len().min(INLINE) };
    for (i, r) in resources.iter().take(INLINE).enumerate() {
        f.weights[i] = r.weight;
        // `pods` is not a scored resource (calculateResourceAllocatableRequest
        // knows cpu, memory, ephemeral-storage and scalar resources).
        if r.name == "pods" {
            continue;
        }
        let cpu_or_memory = matches!(r.name.as_str(), "cpu" | "memory");
        let want = if cpu_or_memory { pod_req.get(&r.name) } else { pod.requests.get(&r.name) };
        let scalar = !cpu_or_memory && r.name != "ephemeral-storage";
        if scalar && want == 0 {
            continue;
        }
        // Only CPU and memory have non-zero defaults; the rest is counted
        // from the real requests in both modes.
        let used = if cpu_or_memory { node_req.get(&r.name) } else { node.requested.get(&r.name) };
        f.alloc[i] = node.allocatable.get(&r.name);
        f.req[i] = used + want;
    }
    f
}

impl Fit {
    /// The score of `node` for `pod` with this strategy.
    pub fn score_node(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let f = allocatable_and_requested(&self.resources, pod, node, false);
        let (req, alloc, weights) = (&f.req[..f.len], &f.alloc[..f.len], &f.weights[..f.len]);
        match &self.strategy {
            Strategy::LeastAllocated => least_allocated(req, alloc, weights),
            Strategy::MostAllocated => most_allocated(req, alloc, weights),
            Strategy::RequestedToCapacityRatio(shape) => requested_to_capacity_ratio(shape, req, alloc, weights),
        }
    }
}

impl Plugin for Fit {
    fn name(&self) -> &'static str {
        FIT
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreFilter, Point::Filter, Point::PreScore, Point::Score]
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let reasons = insufficient_resources(&pod.requests, node);
        if reasons.is_empty() {
            return Status::success();
        }
        Status { code: crate::kube_scheduler::framework::Code::Unschedulable, reasons, plugin: "" }
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        self.score_node(pod, node)
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeAllocatable,
            ClusterEvent::AssignedPodDelete,
            ClusterEvent::PodUpdate,
        ]
    }
}

/// NodeResourcesBalancedAllocation.
pub struct BalancedAllocation {
    /// The resources balanced (cpu and memory).
    pub resources: Vec<ResourceSpec>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation { resources: default_resources() }
    }
}

impl BalancedAllocation {
    /// The score of `node` for `pod`.
    pub fn score_node(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let f = allocatable_and_requested(&self.resources, pod, node, true);
        balanced(&f.req[..f.len], &f.alloc[..f.len])
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        BALANCED_ALLOCATION
    }

    fn points(&self) -> &'static [Point] {
        &[Point::PreScore, Point::Score]
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        self.score_node(pod, node)
    }
}
