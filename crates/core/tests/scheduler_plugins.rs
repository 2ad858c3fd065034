//! The kube-scheduler plugins' Filter / Score / NormalizeScore maths, checked
//! against cases from the real plugins' own unit tests (kubernetes/kubernetes,
//! pkg/scheduler/framework/plugins/...), re-derived here as kscope inputs.
//!
//! Each test runs a plugin the way the framework does: PreFilter then Filter
//! per node, or PreScore over the feasible nodes, Score per node, then
//! NormalizeScore over them all.
//!
//! Quantities follow the upstream tests: memory is often raw bytes ("10000"),
//! and `st.MakeNode().Capacity({"cpu": "4000"})` really is 4000 cores; only the
//! ratios matter.

use kscope_core::apimachinery::labels::Selector;
use kscope_core::kube_scheduler::framework::{Code, CycleState, Plugin, Snapshot, Status};
use kscope_core::kube_scheduler::plugins::node_resources::{
    self, BalancedAllocation, Fit, ResourceSpec, ShapePoint, Strategy,
};
use kscope_core::kube_scheduler::plugins::{
    helper, image_locality, inter_pod_affinity, node_affinity, pod_topology_spread, taint_toleration,
};
use kscope_core::kube_scheduler::types::{NodeInfo, PodInfo};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

// ---- helpers -------------------------------------------------------------

const MB: i64 = 1024 * 1024;
const HOSTNAME: &str = "kubernetes.io/hostname";

fn string_map(pairs: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), json!(v));
    }
    Value::Object(m)
}

/// A container requesting `requests` (resource → quantity).
fn container(requests: &[(&str, &str)]) -> Value {
    json!({"name": "c", "image": "pause", "resources": {"requests": string_map(requests)}})
}

/// A container with no resources at all (gets the scoring defaults).
fn bare_container() -> Value {
    json!({"name": "container", "image": "pause"})
}

/// A pod in `default` with these containers.
fn pod(containers: Vec<Value>) -> Value {
    json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": containers}})
}

/// A pod with no containers at all (`st.MakePod().Obj()`).
fn empty_pod() -> Value {
    pod(Vec::new())
}

/// `pod` bound to `node`.
fn on(node: &str, mut pod: Value) -> Value {
    pod["spec"]["nodeName"] = json!(node);
    pod
}

fn with_labels(mut pod: Value, labels: &[(&str, &str)]) -> Value {
    pod["metadata"]["labels"] = string_map(labels);
    pod
}

fn with_namespace(mut pod: Value, ns: &str) -> Value {
    pod["metadata"]["namespace"] = json!(ns);
    pod
}

/// A node with this allocatable.
fn node_alloc(name: &str, alloc: &[(&str, &str)]) -> Value {
    json!({"metadata": {"name": name}, "status": {"allocatable": string_map(alloc)}})
}

/// A node with these labels.
fn node_labels(name: &str, labels: &[(&str, &str)]) -> Value {
    json!({"metadata": {"name": name, "labels": string_map(labels)}})
}

/// The cluster as the scheduler's cache would hold it: the nodes, with each
/// pod added to the node its `spec.nodeName` names.
fn snapshot(nodes: &[Value], pods: &[Value]) -> Snapshot {
    let mut infos: Vec<NodeInfo> = nodes.iter().map(NodeInfo::from_node).collect();
    for (i, p) in pods.iter().enumerate() {
        let mut p = p.clone();
        p["metadata"]["name"] = json!(format!("existing-{i}"));
        if p.pointer("/metadata/namespace").is_none() {
            p["metadata"]["namespace"] = json!("default");
        }
        let info = PodInfo::parse(&p);
        let node = infos.iter_mut().find(|n| n.name == info.node_name).expect("pod bound to a known node");
        node.add_pod(Rc::new(info));
    }
    let index = infos.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    let mut image_nodes: BTreeMap<String, usize> = BTreeMap::new();
    for n in &infos {
        for image in n.images.keys() {
            *image_nodes.entry(image.clone()).or_default() += 1;
        }
    }
    Snapshot { nodes: infos, index, image_nodes, ..Snapshot::default() }
}

/// What a Score plugin gave the nodes.
#[derive(Debug)]
struct Scores {
    pre_score: Code,
    raw: Vec<i64>,
    normalized: Vec<i64>,
}

/// Runs PreScore over `feasible` (names; all snapshot nodes when empty), Score
/// on each, then NormalizeScore.
fn score(plugin: &dyn Plugin, pod: &Value, snap: &Snapshot, feasible: &[&str]) -> Scores {
    let pod = PodInfo::parse(pod);
    let names: Vec<&str> =
        if feasible.is_empty() { snap.nodes.iter().map(|n| n.name.as_str()).collect() } else { feasible.to_vec() };
    let nodes: Vec<&NodeInfo> = names.iter().map(|n| snap.node(n).expect("feasible node")).collect();
    let mut state = CycleState::default();
    let pre_score = plugin.pre_score(&mut state, &pod, &nodes, snap).code;
    if pre_score == Code::Skip {
        return Scores { pre_score, raw: vec![0; nodes.len()], normalized: vec![0; nodes.len()] };
    }
    let raw: Vec<i64> = nodes.iter().map(|n| plugin.score(&state, &pod, n, snap)).collect();
    let mut normalized = raw.clone();
    plugin.normalize(&state, &pod, &names, &mut normalized);
    Scores { pre_score, raw, normalized }
}

/// Runs PreFilter, then Filter on every node (all Success when PreFilter skips).
fn filter(plugin: &dyn Plugin, pod: &Value, snap: &Snapshot) -> Vec<Status> {
    let pod = PodInfo::parse(pod);
    let mut state = CycleState::default();
    let pre = plugin.pre_filter(&mut state, &pod, snap);
    assert!(!pre.is_rejected(), "PreFilter rejected: {pre:?}");
    snap.nodes
        .iter()
        .map(|n| if pre.code == Code::Skip { Status::success() } else { plugin.filter(&state, &pod, n, snap) })
        .collect()
}

fn spec(name: &str, weight: i64) -> ResourceSpec {
    ResourceSpec { name: name.into(), weight }
}

fn shape(points: &[(i64, i64)]) -> Vec<ShapePoint> {
    points.iter().map(|&(utilization, score)| ShapePoint { utilization, score }).collect()
}

fn fit(strategy: Strategy, resources: Vec<ResourceSpec>) -> Fit {
    Fit { strategy, resources }
}

/// The pod of most noderesources scoring tests: {1000, 2000} + {2000, 3000}.
fn pod_1000_2000_2000_3000() -> Value {
    pod(vec![container(&[("cpu", "1000"), ("memory", "2000")]), container(&[("cpu", "2000"), ("memory", "3000")])])
}

// ---- NodeResourcesFit: LeastAllocated -------------------------------------

// pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go
// "nothing scheduled, resources requested, differently sized nodes":
// node1 cpu (4000-3000)*100/4000 = 25, mem (10000-5000)*100/10000 = 50 → 37;
// node2 cpu 50, mem 50 → 50.
#[test]
fn least_allocated_differently_sized_nodes() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "4000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000")]),
        ],
        &[],
    );
    let plugin = fit(Strategy::LeastAllocated, node_resources::default_resources());
    let s = score(&plugin, &pod_1000_2000_2000_3000(), &snap, &[]);
    assert_eq!(s.normalized, [37, 50]);
}

// pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go
// "nothing scheduled, resources requested with different weight on CPU and
// memory, differently sized nodes": (25*1 + 50*2)/3 = 41; (50 + 100)/3 = 50.
#[test]
fn least_allocated_with_weights() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "4000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000")]),
        ],
        &[],
    );
    let plugin = fit(Strategy::LeastAllocated, vec![spec("memory", 2), spec("cpu", 1)]);
    let s = score(&plugin, &pod_1000_2000_2000_3000(), &snap, &[]);
    assert_eq!(s.normalized, [41, 50]);
}

// pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go
// "no resources requested, pods scheduled with resources": the pod has no
// containers (no defaults); an explicit memory "0" stays 0.
// node1 cpu (10000-6000)*100/10000 = 40, mem 100 → 70; node2 40, 75 → 57.
#[test]
fn least_allocated_existing_pods() {
    let cpu_only = || pod(vec![container(&[("cpu", "3000"), ("memory", "0")])]);
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "10000"), ("memory", "20000")]),
            node_alloc("node2", &[("cpu", "10000"), ("memory", "20000")]),
        ],
        &[
            on("node1", cpu_only()),
            on("node1", cpu_only()),
            on("node2", cpu_only()),
            on("node2", pod(vec![container(&[("cpu", "3000"), ("memory", "5000")])])),
        ],
    );
    let plugin = fit(Strategy::LeastAllocated, node_resources::default_resources());
    let s = score(&plugin, &empty_pod(), &snap, &[]);
    assert_eq!(s.normalized, [70, 57]);
}

// pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go
// "requested resources exceed node capacity": cpu 6000 > 4000 scores 0.
// node1 (0 + 100)/2 = 50; node2 (0 + 50)/2 = 25.
#[test]
fn least_allocated_over_capacity() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "4000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "4000"), ("memory", "10000")]),
        ],
        &[
            on("node1", pod(vec![container(&[("cpu", "3000"), ("memory", "0")])])),
            on("node2", pod(vec![container(&[("cpu", "3000"), ("memory", "5000")])])),
        ],
    );
    let plugin = fit(Strategy::LeastAllocated, node_resources::default_resources());
    let s = score(&plugin, &pod(vec![container(&[("cpu", "3000"), ("memory", "0")])]), &snap, &[]);
    assert_eq!(s.normalized, [50, 25]);
}

// pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go
// "honor extended resource if the pod requests": cpu and memory 50 on both;
// the extended resource 2/4 → 50 on node1, (10-2)/10 → 80 on node2.
// node1 (50+50+50)/3 = 50; node2 (50+50+80)/3 = 60.
#[test]
fn least_allocated_extended_resource() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "6000"), ("memory", "10000"), ("abc.com/xyz", "4")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000"), ("abc.com/xyz", "10")]),
        ],
        &[],
    );
    let plugin = fit(Strategy::LeastAllocated, vec![spec("cpu", 1), spec("memory", 1), spec("abc.com/xyz", 1)]);
    let p = pod(vec![container(&[("cpu", "3000"), ("memory", "5000"), ("abc.com/xyz", "2")])]);
    assert_eq!(score(&plugin, &p, &snap, &[]).normalized, [50, 60]);
    // "bypass extended resource if the pod does not request": (50+50)/2 on both.
    assert_eq!(score(&plugin, &pod_1000_2000_2000_3000(), &snap, &[]).normalized, [50, 50]);
}

// ---- NodeResourcesFit: MostAllocated --------------------------------------

// pkg/scheduler/framework/plugins/noderesources/most_allocated_test.go
// "resources requested equal node capacity": pod {2000,4000}+{3000,5000};
// node1 cpu 5000/5000 = 100, mem 9000/10000 = 90 → 95;
// node2 cpu 5000/10000 = 50, mem 9000/9000 = 100 → 75.
#[test]
fn most_allocated_equal_capacity() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "5000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "10000"), ("memory", "9000")]),
        ],
        &[],
    );
    let plugin = fit(Strategy::MostAllocated, node_resources::default_resources());
    let p =
        pod(vec![container(&[("cpu", "2000"), ("memory", "4000")]), container(&[("cpu", "3000"), ("memory", "5000")])]);
    assert_eq!(score(&plugin, &p, &snap, &[]).normalized, [95, 75]);
}

// pkg/scheduler/framework/plugins/noderesources/most_allocated_test.go
// "no resources requested, pods scheduled, nonzero request for resource":
// every container without requests counts 100m / 200Mi. node1 has two such
// pods: cpu 300m capped at 250m → 100, mem 600Mi/1000Mi → 60 → 80;
// node2: 100m/250m → 40, 200Mi/1000Mi → 20 → 30.
#[test]
fn most_allocated_nonzero_defaults() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "250m"), ("memory", "1000Mi")]),
            node_alloc("node2", &[("cpu", "250m"), ("memory", "1000Mi")]),
        ],
        &[on("node1", pod(vec![bare_container()])), on("node1", pod(vec![bare_container()]))],
    );
    let plugin = fit(Strategy::MostAllocated, node_resources::default_resources());
    assert_eq!(score(&plugin, &pod(vec![bare_container()]), &snap, &[]).normalized, [80, 30]);
}

// pkg/scheduler/framework/plugins/noderesources/most_allocated_test.go
// "honor extended resource if the pod request": extended 2/4 → 50, 2/10 → 20;
// node1 (50+50+50)/3 = 50; node2 (50+50+20)/3 = 40.
#[test]
fn most_allocated_extended_resource() {
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "6000"), ("memory", "10000"), ("abc.com/xyz", "4")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000"), ("abc.com/xyz", "10")]),
        ],
        &[],
    );
    let plugin = fit(Strategy::MostAllocated, vec![spec("cpu", 1), spec("memory", 1), spec("abc.com/xyz", 1)]);
    let p = pod(vec![container(&[("cpu", "3000"), ("memory", "5000"), ("abc.com/xyz", "2")])]);
    assert_eq!(score(&plugin, &p, &snap, &[]).normalized, [50, 40]);
}

// ---- NodeResourcesFit: RequestedToCapacityRatio ---------------------------

// pkg/scheduler/framework/plugins/noderesources/requested_to_capacity_ratio_test.go
// TestRequestedToCapacityRatioScoringStrategy, shape {0:10, 100:0} (scaled to
// {0:100, 100:0}): node1 cpu util 75 → 25, mem 50 → 50, round(37.5) = 38;
// node2 cpu 50 → 50, mem 50 → 50.
#[test]
fn requested_to_capacity_ratio_least_requested_shape() {
    let plugin =
        fit(Strategy::RequestedToCapacityRatio(shape(&[(0, 10), (100, 0)])), node_resources::default_resources());
    // "nothing scheduled, resources requested, differently sized nodes"
    // (node1 holds two pods without containers, which request nothing).
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "4000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000")]),
        ],
        &[on("node1", empty_pod()), on("node1", empty_pod())],
    );
    assert_eq!(score(&plugin, &pod_1000_2000_2000_3000(), &snap, &[]).normalized, [38, 50]);
    // "nothing scheduled, nothing requested": util 0 → 100 everywhere.
    assert_eq!(score(&plugin, &empty_pod(), &snap, &[]).normalized, [100, 100]);
    // "no resources requested, pods scheduled with resources": the same
    // utilizations come from the pods already there.
    let p = || pod(vec![container(&[("cpu", "3000"), ("memory", "5000")])]);
    let snap = snapshot(
        &[
            node_alloc("node1", &[("cpu", "4000"), ("memory", "10000")]),
            node_alloc("node2", &[("cpu", "6000"), ("memory", "10000")]),
        ],
        &[on("node1", p()), on("node2", p())],
    );
    assert_eq!(score(&plugin, &empty_pod(), &snap, &[]).normalized, [38, 50]);
}

// pkg/scheduler/framework/plugins/noderesources/requested_to_capacity_ratio_test.go
// TestResourceBinPackingSingleExtended: intel.com/foo weight 1, shape
// {0:0, 100:1} (scaled to {0:0, 100:10}); node1 has 8, node2 has 4.
#[test]
fn requested_to_capacity_ratio_single_extended_resource() {
    let plugin = fit(Strategy::RequestedToCapacityRatio(shape(&[(0, 0), (100, 1)])), vec![spec("intel.com/foo", 1)]);
    let nodes = [
        node_alloc("node1", &[("cpu", "4000m"), ("memory", "10485760000"), ("intel.com/foo", "8")]),
        node_alloc("node2", &[("cpu", "4000m"), ("memory", "10485760000"), ("intel.com/foo", "4")]),
    ];
    let foo = |n: &str| pod(vec![container(&[("intel.com/foo", n)])]);
    let snap = snapshot(&nodes, &[]);
    // "nothing scheduled, nothing requested": the resource is skipped → 0.
    assert_eq!(score(&plugin, &empty_pod(), &snap, &[]).normalized, [0, 0]);
    // "resources requested, pods scheduled with less resources":
    // 2/8 → util 25 → 10*25/100 = 2; 2/4 → 50 → 5.
    assert_eq!(score(&plugin, &foo("2"), &snap, &[]).normalized, [2, 5]);
    // "resources requested, pods scheduled with more resources": 4/8 → 5; 4/4 → 10.
    assert_eq!(score(&plugin, &foo("4"), &snap, &[]).normalized, [5, 10]);
    // "... on node with existing pod running": node2 already holds 2 → (2+2)/4 → 10.
    let snap = snapshot(&nodes, &[on("node2", foo("2"))]);
    assert_eq!(score(&plugin, &foo("2"), &snap, &[]).normalized, [2, 10]);
}

// pkg/scheduler/framework/plugins/noderesources/requested_to_capacity_ratio_test.go
// TestBrokenLinearFunction.
#[test]
fn broken_linear_function() {
    let f = shape(&[(10, 1), (90, 9)]);
    for (p, want) in
        [(-10, 1), (0, 1), (9, 1), (10, 1), (15, 1), (19, 1), (20, 2), (89, 8), (90, 9), (99, 9), (100, 9), (110, 9)]
    {
        assert_eq!(node_resources::broken_linear(&f, p), want, "p={p}");
    }
    let f = shape(&[(0, 2), (40, 10), (100, 0)]);
    for (p, want) in [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)] {
        assert_eq!(node_resources::broken_linear(&f, p), want, "p={p}");
    }
    let f = shape(&[(0, 2), (40, 2), (100, 2)]);
    for (p, want) in [(-10, 2), (0, 2), (20, 2), (30, 2), (40, 2), (70, 2), (100, 2), (110, 2)] {
        assert_eq!(node_resources::broken_linear(&f, p), want, "p={p}");
    }
}

// ---- NodeResourcesBalancedAllocation --------------------------------------

/// noderesources/test_util.go `makeNode(name, milliCPU, memory, extended)`.
fn make_node(name: &str, milli_cpu: i64, memory: i64, extended: &[(&str, &str)]) -> Value {
    let cpu = format!("{milli_cpu}m");
    let mem = memory.to_string();
    let mut alloc = vec![("cpu", cpu.as_str()), ("memory", mem.as_str()), ("pods", "100")];
    alloc.extend_from_slice(extended);
    node_alloc(name, &alloc)
}

fn cpu_only() -> Value {
    pod(vec![container(&[("cpu", "1000m"), ("memory", "0")]), container(&[("cpu", "2000m"), ("memory", "0")])])
}

fn cpu_and_memory() -> Value {
    pod(vec![container(&[("cpu", "1000m"), ("memory", "2000")]), container(&[("cpu", "2000m"), ("memory", "3000")])])
}

fn cpu_and_memory_and_gpu() -> Value {
    pod(vec![
        container(&[("cpu", "1000m"), ("memory", "2000")]),
        container(&[("cpu", "2000m"), ("memory", "3000"), ("nvidia.com/gpu", "3")]),
    ])
}

// pkg/scheduler/framework/plugins/noderesources/balanced_allocation_test.go
// "nothing scheduled, resources requested, differently sized nodes":
// node1 (0.75, 0.5) → std 0.125 → 87; node2 (0.5, 0.5) → 100.
#[test]
fn balanced_allocation_differently_sized_nodes() {
    let snap = snapshot(&[make_node("node1", 4000, 10000, &[]), make_node("node2", 6000, 10000, &[])], &[]);
    let s = score(&BalancedAllocation::default(), &cpu_and_memory(), &snap, &[]);
    assert_eq!(s.normalized, [87, 100]);
}

// pkg/scheduler/framework/plugins/noderesources/balanced_allocation_test.go
// "resources requested, pods scheduled with resources": real requests (an
// explicit memory "0" counts 0): node1 (0.6, 0.25) → 82; node2 (0.6, 0.5) → 95.
#[test]
fn balanced_allocation_existing_pods() {
    let snap = snapshot(
        &[make_node("node1", 10000, 20000, &[]), make_node("node2", 10000, 20000, &[])],
        &[on("node1", cpu_only()), on("node2", cpu_and_memory())],
    );
    let s = score(&BalancedAllocation::default(), &cpu_and_memory(), &snap, &[]);
    assert_eq!(s.normalized, [82, 95]);
}

// pkg/scheduler/framework/plugins/noderesources/balanced_allocation_test.go
// "requested resources at node capacity": node1 (1, 0) → 50; node2 (1, 0.5) → 75.
#[test]
fn balanced_allocation_at_capacity() {
    let snap = snapshot(
        &[make_node("node1", 6000, 10000, &[]), make_node("node2", 6000, 10000, &[])],
        &[on("node1", cpu_only()), on("node2", cpu_and_memory())],
    );
    let s = score(&BalancedAllocation::default(), &cpu_only(), &snap, &[]);
    assert_eq!(s.normalized, [50, 75]);
}

// pkg/scheduler/framework/plugins/noderesources/balanced_allocation_test.go
// "include scalar resource on a node for balanced resource allocation":
// three fractions, so the population standard deviation.
// node1 (3000/3500, 5000/40000, 4/8) → std 0.2989 → 70;
// node2 (3000/3500, 5000/40000, 1/8) → std 0.345 → 65.
// "node without the scalar resource should skip the scalar resource": a pod
// that does not ask for the GPU is balanced on cpu and memory only → 63 / 63.
#[test]
fn balanced_allocation_scalar_resource() {
    let gpu = [("nvidia.com/gpu", "8")];
    let plugin = BalancedAllocation { resources: vec![spec("cpu", 1), spec("memory", 1), spec("nvidia.com/gpu", 1)] };
    let snap = snapshot(
        &[make_node("node1", 3500, 40000, &gpu), make_node("node2", 3500, 40000, &gpu)],
        &[on("node2", cpu_and_memory()), on("node1", cpu_and_memory_and_gpu())],
    );
    let p = pod(vec![container(&[("memory", "0"), ("nvidia.com/gpu", "1")])]);
    assert_eq!(score(&plugin, &p, &snap, &[]).normalized, [70, 65]);

    let snap = snapshot(&[make_node("node1", 3500, 40000, &gpu), make_node("node2", 3500, 40000, &[])], &[]);
    assert_eq!(score(&plugin, &cpu_and_memory(), &snap, &[]).normalized, [63, 63]);
}

// ---- ImageLocality --------------------------------------------------------

fn image_node(name: &str, images: &[(&[&str], i64)]) -> Value {
    let images: Vec<Value> = images.iter().map(|(names, size)| json!({"names": names, "sizeBytes": size})).collect();
    json!({"metadata": {"name": name}, "status": {"images": images}})
}

fn image_pod(init: &[&str], containers: &[&str]) -> Value {
    let c = |images: &[&str]| -> Vec<Value> {
        images.iter().enumerate().map(|(i, image)| json!({"name": format!("c{i}"), "image": image})).collect()
    };
    json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"initContainers": c(init), "containers": c(containers)}})
}

fn node_40_300_2000(name: &str) -> Value {
    image_node(
        name,
        &[
            (&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40 * MB),
            (&["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB),
            (&["gcr.io/2000:latest"], 2000 * MB),
        ],
    )
}

fn node_250_10(name: &str) -> Value {
    image_node(name, &[(&["gcr.io/250:latest"], 250 * MB), (&["gcr.io/10:latest", "gcr.io/10:v1"], 10 * MB)])
}

fn node_4000_30(name: &str) -> Value {
    image_node(name, &[(&["gcr.io/4000:latest"], 4000 * MB), (&["gcr.io/30:latest"], 30 * MB)])
}

fn node_20_30_40(name: &str) -> Value {
    image_node(
        name,
        &[(&["gcr.io/20:latest"], 20 * MB), (&["gcr.io/30:latest"], 30 * MB), (&["gcr.io/40:latest"], 40 * MB)],
    )
}

// pkg/scheduler/framework/plugins/imagelocality/image_locality_test.go
// Pod images have no tag; the plugin looks them up as "<name>:latest"
// (normalizedImageName), and node image names are kept as reported.
#[test]
fn image_locality_scores() {
    let plugin = image_locality::ImageLocality;
    // "two images spread on two nodes, prefer the larger image one":
    // node2: 100*(250M/2 - 23M)/(1000M*2 - 23M) = 5; node1: 40M/2 < 23M → 0.
    let snap = snapshot(&[node_40_300_2000("node1"), node_250_10("node2")], &[]);
    let s = score(&plugin, &image_pod(&[], &["gcr.io/40", "gcr.io/250"]), &snap, &[]);
    assert_eq!(s.normalized, [0, 5]);

    // "two images on one node, prefer this node":
    // node1: 100*((40M + 300M)/2 - 23M)/(2000M - 23M) = 7.
    let s = score(&plugin, &image_pod(&[], &["gcr.io/40", "gcr.io/300"]), &snap, &[]);
    assert_eq!(s.normalized, [7, 0]);

    // "if exceed limit, use limit": 4000M/2 >= 2000M → 100.
    let snap = snapshot(&[node_4000_30("node1"), node_250_10("node2")], &[]);
    let s = score(&plugin, &image_pod(&[], &["gcr.io/10", "gcr.io/4000"]), &snap, &[]);
    assert_eq!(s.normalized, [100, 0]);

    // "if exceed limit, use limit (with node which has no images present)":
    // three nodes: 100*(4000M/3 - 23M)/(2000M - 23M) = 66.
    let snap = snapshot(&[node_4000_30("node1"), node_250_10("node2"), image_node("node3", &[])], &[]);
    let s = score(&plugin, &image_pod(&[], &["gcr.io/10", "gcr.io/4000"]), &snap, &[]);
    assert_eq!(s.normalized, [66, 0, 0]);

    // "pod with multiple large images, node2 is preferred":
    // node1 100*(600M*2/3 + 900M*2/3 - 23M)/(3000M - 23M) = 32;
    // node2 100*(300M/3 + 600M*2/3 + 900M*2/3 - 23M)/(3000M - 23M) = 36.
    let node_600_40_900 = image_node(
        "node1",
        &[(&["gcr.io/600:latest"], 600 * MB), (&["gcr.io/40:latest"], 40 * MB), (&["gcr.io/900:latest"], 900 * MB)],
    );
    let node_300_600_900 = image_node(
        "node2",
        &[(&["gcr.io/300:latest"], 300 * MB), (&["gcr.io/600:latest"], 600 * MB), (&["gcr.io/900:latest"], 900 * MB)],
    );
    let snap = snapshot(&[node_600_40_900, node_300_600_900, image_node("node3", &[])], &[]);
    let s = score(&plugin, &image_pod(&[], &["gcr.io/300", "gcr.io/600", "gcr.io/900"]), &snap, &[]);
    assert_eq!(s.normalized, [32, 36, 0]);

    // "pod with multiple small images": node1 100*(30M + 40M/2 - 23M)/(2000M - 23M) = 1.
    let snap = snapshot(&[node_20_30_40("node1"), node_4000_30("node2")], &[]);
    let s = score(&plugin, &image_pod(&[], &["gcr.io/30", "gcr.io/40"]), &snap, &[]);
    assert_eq!(s.normalized, [1, 0]);

    // "include InitContainers: two images spread on two nodes, prefer the
    // larger image one": init containers count, in the sum and in the number
    // of containers: node1 100*(300M/2 - 23M)/(2000M - 23M) = 6.
    let snap = snapshot(&[node_40_300_2000("node1"), node_20_30_40("node2")], &[]);
    let s = score(&plugin, &image_pod(&["gcr.io/300"], &["gcr.io/30"]), &snap, &[]);
    assert_eq!(s.normalized, [6, 0]);
}

// ---- TaintToleration ------------------------------------------------------

fn tainted(name: &str, taints: &[(&str, &str, &str)]) -> Value {
    let taints: Vec<Value> = taints.iter().map(|(k, v, e)| json!({"key": k, "value": v, "effect": e})).collect();
    json!({"metadata": {"name": name}, "spec": {"taints": taints}})
}

fn tolerating(tolerations: Value) -> Value {
    json!({"metadata": {"name": "pod1", "namespace": "default"}, "spec": {"containers": [], "tolerations": tolerations}})
}

fn prefer_no_schedule_nodes() -> Snapshot {
    snapshot(
        &[
            tainted("nodeA", &[]),
            tainted("nodeB", &[("cpu-type", "arm64", "PreferNoSchedule")]),
            tainted("nodeC", &[("cpu-type", "arm64", "PreferNoSchedule"), ("disk-type", "ssd", "PreferNoSchedule")]),
        ],
        &[],
    )
}

// pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go
// "the more intolerable taints a node has, the lower score it gets.":
// raw 0/1/2 untolerated PreferNoSchedule taints, reversed → 100/50/0.
#[test]
fn taint_toleration_score_counts_intolerable_taints() {
    let p = tolerating(json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]));
    let s = score(&taint_toleration::TaintToleration, &p, &prefer_no_schedule_nodes(), &[]);
    assert_eq!(s.raw, [0, 1, 2]);
    assert_eq!(s.normalized, [100, 50, 0]);
}

// pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go
// "node with taints tolerated by the pod, gets a higher score than those
// node with intolerable taints" (all tolerated here): 100/100/100.
#[test]
fn taint_toleration_score_all_tolerated() {
    let p = tolerating(json!([
        {"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"},
        {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "PreferNoSchedule"},
    ]));
    let s = score(&taint_toleration::TaintToleration, &p, &prefer_no_schedule_nodes(), &[]);
    assert_eq!(s.raw, [0, 0, 0]);
    assert_eq!(s.normalized, [100, 100, 100]);
}

// pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go
// TestTaintTolerationFilter.
#[test]
fn taint_toleration_filter_reason() {
    let snap = snapshot(&[tainted("nodeA", &[("dedicated", "user1", "NoSchedule")])], &[]);
    let reason = "node(s) had untolerated taint {dedicated: user1}";
    // "A pod having no tolerations can't be scheduled onto a node with nonempty taints"
    assert_eq!(
        filter(&taint_toleration::TaintToleration, &tolerating(json!([])), &snap),
        [Status::unresolvable(reason)]
    );
    // "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule"
    let p = tolerating(json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
    assert_eq!(filter(&taint_toleration::TaintToleration, &p, &snap), [Status::success()]);
    // "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule"
    let p = tolerating(json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]));
    let got = filter(&taint_toleration::TaintToleration, &p, &snap);
    assert_eq!(got, [Status::unresolvable(reason)]);
    assert_eq!(got[0].code, Code::UnschedulableAndUnresolvable);
}

// ---- NodeAffinity ---------------------------------------------------------

fn preferred_term(weight: i64, exprs: &[(&str, &str)]) -> Value {
    let exprs: Vec<Value> = exprs.iter().map(|(k, v)| json!({"key": k, "operator": "In", "values": [v]})).collect();
    json!({"weight": weight, "preference": {"matchExpressions": exprs}})
}

fn node_affinity_pod(terms: Vec<Value>) -> Value {
    json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}}})
}

// pkg/scheduler/framework/plugins/nodeaffinity/node_affinity_test.go
// TestNodeAffinityPriority.
#[test]
fn node_affinity_preferred_scores() {
    let label1 = [("foo", "bar")];
    let label2 = [("key", "value")];
    let label3 = [("az", "az1")];
    let label5 = [("foo", "bar"), ("key", "value"), ("az", "az1")];

    // "all nodes matches the preferred scheduling requirements of pod but with
    // different priorities": affinity2 = {w2 foo=bar, w4 key=value,
    // w5 foo=bar ∧ key=value ∧ az=az1} → raw 2/11/4 → 18/100/36.
    let affinity2 = node_affinity_pod(vec![
        preferred_term(2, &[("foo", "bar")]),
        preferred_term(4, &[("key", "value")]),
        preferred_term(5, &[("foo", "bar"), ("key", "value"), ("az", "az1")]),
    ]);
    let snap =
        snapshot(&[node_labels("node1", &label1), node_labels("node5", &label5), node_labels("node2", &label2)], &[]);
    let s = score(&node_affinity::NodeAffinity, &affinity2, &snap, &[]);
    assert_eq!(s.raw, [2, 11, 4]);
    assert_eq!(s.normalized, [18, 100, 36]);

    // "only node1 matches the preferred scheduling requirements of pod".
    let affinity1 = node_affinity_pod(vec![preferred_term(2, &[("foo", "bar")])]);
    let snap =
        snapshot(&[node_labels("node1", &label1), node_labels("node2", &label2), node_labels("node3", &label3)], &[]);
    assert_eq!(score(&node_affinity::NodeAffinity, &affinity1, &snap, &[]).normalized, [100, 0, 0]);

    // "Skip is returned in PreScore when NodeAffinity is nil".
    let s = score(&node_affinity::NodeAffinity, &empty_pod(), &snap, &[]);
    assert_eq!(s.pre_score, Code::Skip);
}

// ---- PodTopologySpread ----------------------------------------------------

fn foo_exists() -> Value {
    json!({"matchExpressions": [{"key": "foo", "operator": "Exists"}]})
}

fn spread_pod(labels: &[(&str, &str)], constraints: &[(i64, &str, &str)]) -> Value {
    let constraints: Vec<Value> = constraints
        .iter()
        .map(|(skew, key, when)| {
            json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": foo_exists()})
        })
        .collect();
    with_labels(
        json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [], "topologySpreadConstraints": constraints}}),
        labels,
    )
}

/// Pods labelled foo, `counts[i]` of them on `nodes[i]`.
fn foo_pods(nodes: &[&str], counts: &[usize]) -> Vec<Value> {
    let mut pods = Vec::new();
    for (node, &n) in nodes.iter().zip(counts) {
        for _ in 0..n {
            pods.push(on(node, with_labels(empty_pod(), &[("foo", "")])));
        }
    }
    pods
}

fn hostname_nodes(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| node_labels(n, &[(HOSTNAME, n)])).collect()
}

// pkg/scheduler/framework/plugins/podtopologyspread/scoring_test.go
// TestPodTopologySpreadScore, hostname constraints: raw = round(cnt*ln(4+2) +
// maxSkew-1), normalized 100*(max+min-s)/max.
#[test]
fn pod_topology_spread_hostname_scores() {
    let names = ["node-a", "node-b", "node-c", "node-d"];
    let plugin = pod_topology_spread::PodTopologySpread::default();

    // "one constraint on node, all 4 nodes are candidates": 2/1/0/3, maxSkew 1
    // → raw 4/2/0/5 → 20/60/100/0.
    let snap = snapshot(&hostname_nodes(&names), &foo_pods(&names, &[2, 1, 0, 3]));
    let s = score(&plugin, &spread_pod(&[("foo", "")], &[(1, HOSTNAME, "ScheduleAnyway")]), &snap, &[]);
    assert_eq!(s.raw, [4, 2, 0, 5]);
    assert_eq!(s.normalized, [20, 60, 100, 0]);

    // "... maxSkew=2": raw 5/3/1/6 → 33/66/100/16.
    let s = score(&plugin, &spread_pod(&[("foo", "")], &[(2, HOSTNAME, "ScheduleAnyway")]), &snap, &[]);
    assert_eq!(s.raw, [5, 3, 1, 6]);
    assert_eq!(s.normalized, [33, 66, 100, 16]);

    // "... maxSkew=3": 4/3/2/1 → raw 9/7/6/4 → 44/66/77/100.
    let snap = snapshot(&hostname_nodes(&names), &foo_pods(&names, &[4, 3, 2, 1]));
    let s = score(&plugin, &spread_pod(&[("foo", "")], &[(3, HOSTNAME, "ScheduleAnyway")]), &snap, &[]);
    assert_eq!(s.raw, [9, 7, 6, 4]);
    assert_eq!(s.normalized, [44, 66, 77, 100]);

    // "system defaulting, nodes don't have zone, pods match service": no
    // constraints of its own, a Service selects foo → the system defaults
    // (hostname maxSkew 3, zone maxSkew 5) give the same scores.
    let mut snap = snapshot(&hostname_nodes(&names), &foo_pods(&names, &[4, 3, 2, 1]));
    let selector = Selector::from_label_selector(&json!({"matchLabels": {"foo": ""}})).unwrap();
    snap.workloads.services.push(("default".into(), selector));
    let s = score(&plugin, &with_labels(empty_pod(), &[("foo", "")]), &snap, &[]);
    assert_eq!(s.normalized, [44, 66, 77, 100]);
}

// pkg/scheduler/framework/plugins/podtopologyspread/scoring_test.go
// "one constraint on node, 3 out of 4 nodes are candidates, one node doesn't
// match topology key": node-b lacks the hostname label → ignored, scores 0;
// the hostname weight is ln(2 + 2); node-a 4 pods → 6, node-x 1 → 1;
// normalized 100*(6+1-6)/6 = 16 and 100.
#[test]
fn pod_topology_spread_ignores_nodes_without_the_key() {
    let nodes = [
        node_labels("node-a", &[(HOSTNAME, "node-a")]),
        node_labels("node-b", &[("n", "node-b")]),
        node_labels("node-x", &[(HOSTNAME, "node-x")]),
        node_labels("node-y", &[(HOSTNAME, "node-y")]),
    ];
    let pods = foo_pods(&["node-a", "node-b", "node-x", "node-y"], &[4, 2, 1, 3]);
    let snap = snapshot(&nodes, &pods);
    let p = spread_pod(&[("foo", "")], &[(1, HOSTNAME, "ScheduleAnyway")]);
    let s = score(&pod_topology_spread::PodTopologySpread::default(), &p, &snap, &["node-a", "node-b", "node-x"]);
    assert_eq!(s.normalized, [16, 0, 100]);
}

// pkg/scheduler/framework/plugins/podtopologyspread/scoring_test.go
// "one constraint on zone, 3 out of 4 nodes are candidates": pods are counted
// on every node, node-y (filtered out) included: zone1 = 4+2, zone2 = 1+3;
// weight ln(2+2): raw 8/8/6 → 75/75/100.
#[test]
fn pod_topology_spread_zone_counts_all_nodes() {
    let nodes = [
        node_labels("node-a", &[("zone", "zone1"), (HOSTNAME, "node-a")]),
        node_labels("node-b", &[("zone", "zone1"), (HOSTNAME, "node-b")]),
        node_labels("node-x", &[("zone", "zone2"), (HOSTNAME, "node-x")]),
        node_labels("node-y", &[("zone", "zone2"), (HOSTNAME, "node-y")]),
    ];
    let pods = foo_pods(&["node-a", "node-b", "node-x", "node-y"], &[4, 2, 1, 3]);
    let snap = snapshot(&nodes, &pods);
    let p = spread_pod(&[("foo", "")], &[(1, "zone", "ScheduleAnyway")]);
    let s = score(&pod_topology_spread::PodTopologySpread::default(), &p, &snap, &["node-a", "node-b", "node-x"]);
    assert_eq!(s.raw, [8, 8, 6]);
    assert_eq!(s.normalized, [75, 75, 100]);
}

// pkg/scheduler/framework/plugins/podtopologyspread/scoring.go
// (initPreScoreState; no upstream test case covers it): with the system
// defaults, nodes need not have every key, and a feasible node without the
// zone label still counts as a zone domain (the value "") when sizing the
// zone weight. Here zone1 holds node-a (2 pods) and node-b (1), node-c has
// no zone: hostname weight ln(3+2), zone weight ln(2+2) (zone1 and "").
// node-a 2*ln5+2 + 3*ln4+4 = 13.38 → 13; node-b 1*ln5+2 + 3*ln4+4 = 11.77 → 12;
// node-c only hostname: ln5+2 = 3.61 → 4. Normalized 100*(13+4-s)/13.
#[test]
fn pod_topology_spread_system_defaults_count_unlabelled_zone() {
    let nodes = [
        node_labels("node-a", &[(HOSTNAME, "node-a"), ("topology.kubernetes.io/zone", "zone1")]),
        node_labels("node-b", &[(HOSTNAME, "node-b"), ("topology.kubernetes.io/zone", "zone1")]),
        node_labels("node-c", &[(HOSTNAME, "node-c")]),
    ];
    let mut snap = snapshot(&nodes, &foo_pods(&["node-a", "node-b", "node-c"], &[2, 1, 1]));
    let selector = Selector::from_label_selector(&json!({"matchLabels": {"foo": ""}})).unwrap();
    snap.workloads.services.push(("default".into(), selector));
    let s = score(
        &pod_topology_spread::PodTopologySpread::default(),
        &with_labels(empty_pod(), &[("foo", "")]),
        &snap,
        &[],
    );
    assert_eq!(s.raw, [13, 12, 4]);
    assert_eq!(s.normalized, [30, 38, 100]);
}

fn zone_nodes(zone_key_for_b: &str) -> Vec<Value> {
    vec![
        node_labels("node-a", &[("zone", "zone1"), ("node", "node-a")]),
        node_labels("node-b", &[(zone_key_for_b, "zone1"), ("node", "node-b")]),
        node_labels("node-x", &[("zone", "zone2"), ("node", "node-x")]),
        node_labels("node-y", &[("zone", "zone2"), ("node", "node-y")]),
    ]
}

// pkg/scheduler/framework/plugins/podtopologyspread/filtering_test.go
// TestSingleConstraint: maxSkew 1 on zone; skew = matching pods in the
// node's zone + 1 (the pod matches itself) - the emptiest zone.
#[test]
fn pod_topology_spread_zone_filter() {
    let plugin = pod_topology_spread::PodTopologySpread::default();
    let p = spread_pod(&[("foo", "")], &[(1, "zone", "DoNotSchedule")]);
    let not_match = Status::unschedulable(pod_topology_spread::ERR_REASON_CONSTRAINTS_NOT_MATCH);

    // "existing pods in a different namespace do not count": zone1 counts 0
    // (its pods are in ns1 / ns2), zone2 counts 2 → node-x/y: 2+1-0 > 1.
    let foo = || with_labels(empty_pod(), &[("foo", "")]);
    let pods = [
        on("node-a", with_namespace(foo(), "ns1")),
        on("node-a", with_namespace(foo(), "ns2")),
        on("node-x", foo()),
        on("node-y", foo()),
    ];
    let snap = snapshot(&zone_nodes("zone"), &pods);
    assert_eq!(
        filter(&plugin, &p, &snap),
        [Status::success(), Status::success(), not_match.clone(), not_match.clone()]
    );

    // "pods spread across zones as 3/3, all nodes fit".
    let pods = foo_pods(&["node-a", "node-b", "node-y"], &[2, 1, 3]);
    let snap = snapshot(&zone_nodes("zone"), &pods);
    assert!(filter(&plugin, &p, &snap).iter().all(Status::is_success));

    // "pods spread across zones as 1/2 due to absence of label 'zone' on
    // node-b": node-b is unresolvable, zone1 = 1 (node-a), zone2 = 2.
    let pods = foo_pods(&["node-a", "node-b", "node-x", "node-y"], &[1, 1, 1, 1]);
    let snap = snapshot(&zone_nodes("zon"), &pods);
    let got = filter(&plugin, &p, &snap);
    assert_eq!(
        got,
        [
            Status::success(),
            Status::unresolvable(pod_topology_spread::ERR_REASON_NODE_LABEL_NOT_MATCH),
            not_match.clone(),
            not_match,
        ]
    );
    assert_eq!(got[2].code, Code::Unschedulable);
}

// ---- InterPodAffinity -----------------------------------------------------

fn security(value: &str) -> [(&str, &str); 1] {
    [("security", value)]
}

fn in_term(key: &str, values: &[&str], topology: &str) -> Value {
    json!({"labelSelector": {"matchExpressions": [{"key": key, "operator": "In", "values": values}]},
        "topologyKey": topology})
}

fn weighted(weight: i64, term: Value) -> Value {
    json!({"weight": weight, "podAffinityTerm": term})
}

fn with_affinity(mut pod: Value, affinity: Value) -> Value {
    pod["spec"]["affinity"] = affinity;
    pod
}

fn stay_with(value: &str, weight: i64) -> Value {
    json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        weighted(weight, in_term("security", &[value], "region"))]}})
}

// pkg/scheduler/framework/plugins/interpodaffinity/scoring_test.go
// TestPreferredAffinity.
#[test]
fn inter_pod_affinity_preferred_scores() {
    let plugin = inter_pod_affinity::InterPodAffinity::default();
    let china = [("region", "China")];
    let india = [("region", "India")];
    let az1 = [("az", "az1")];
    let s1 = || with_labels(empty_pod(), &security("S1"));
    let s2 = || with_labels(empty_pod(), &security("S2"));

    // "Affinity: pod that matches topology key & pods in nodes will get high
    // score comparing to others which doesn't match either pods in nodes or in
    // topology key": stayWithS1InRegion (w5) → 100/0/0.
    let snap = snapshot(
        &[node_labels("node1", &china), node_labels("node2", &india), node_labels("node3", &az1)],
        &[on("node1", s1()), on("node2", s2()), on("node3", s1())],
    );
    let p = with_affinity(s1(), stay_with("S1", 5));
    assert_eq!(score(&plugin, &p, &snap, &[]).normalized, [100, 0, 0]);

    // "Affinity: nodes in one region has more matching pods comparing to other
    // region": stayWithS2InRegion (w6); China holds 4 S2 pods (24), India 2 (12)
    // → China nodes 100, India nodes 0.
    let snap = snapshot(
        &[
            node_labels("node1", &china),
            node_labels("node2", &india),
            node_labels("node3", &china),
            node_labels("node4", &china),
            node_labels("node5", &india),
        ],
        &[
            on("node1", s2()),
            on("node1", s2()),
            on("node2", s2()),
            on("node3", s2()),
            on("node4", s2()),
            on("node5", s2()),
        ],
    );
    let p = with_affinity(s1(), stay_with("S2", 6));
    let s = score(&plugin, &p, &snap, &[]);
    assert_eq!(s.raw, [24, 12, 24, 24, 12]);
    assert_eq!(s.normalized, [100, 0, 100, 100, 0]);

    // "Affinity: different Label operators and values for pod affinity
    // scheduling preference, including some match failures": affinity3 =
    // {w8: NotIn S1 ∧ In S2, w2: Exists security ∧ DoesNotExist wrongkey}
    // → raw 2/10/0 → 20/100/0.
    let affinity3 = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        weighted(8, json!({"labelSelector": {"matchExpressions": [
            {"key": "security", "operator": "NotIn", "values": ["S1"]},
            {"key": "security", "operator": "In", "values": ["S2"]}]}, "topologyKey": "region"})),
        weighted(2, json!({"labelSelector": {"matchExpressions": [
            {"key": "security", "operator": "Exists"},
            {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"})),
    ]}});
    let snap = snapshot(
        &[node_labels("node1", &china), node_labels("node2", &india), node_labels("node3", &az1)],
        &[on("node1", s1()), on("node2", s2()), on("node3", s1())],
    );
    let s = score(&plugin, &with_affinity(s1(), affinity3), &snap, &[]);
    assert_eq!(s.raw, [2, 10, 0]);
    assert_eq!(s.normalized, [20, 100, 0]);

    // "Affinity symmetry: considered RequiredDuringSchedulingIgnoredDuringExecution
    // in pod affinity symmetry": existing pods each have two required terms the
    // incoming S1 pod matches; hardPodAffinityWeight 1 → raw 2/2/0 → 100/100/0.
    let hard = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        in_term("security", &["S1", "value2"], "region"),
        {"labelSelector": {"matchExpressions": [
            {"key": "security", "operator": "Exists"},
            {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"},
    ]}});
    let snap = snapshot(
        &[node_labels("node1", &china), node_labels("node2", &india), node_labels("node3", &az1)],
        &[on("node1", with_affinity(s1(), hard.clone())), on("node2", with_affinity(s2(), hard))],
    );
    let s = score(&plugin, &s1(), &snap, &[]);
    assert_eq!(s.raw, [2, 2, 0]);
    assert_eq!(s.normalized, [100, 100, 0]);

    // "Anti Affinity symmetry: the existing pods in node which has anti
    // affinity match will get high score": awayFromS2InAz on node1's pod
    // (w5, az) and the incoming pod is S2 → raw -5/0 → 0/100.
    let away = |value: &str| {
        json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            weighted(5, in_term("security", &[value], "az"))]}})
    };
    let snap = snapshot(
        &[node_labels("node1", &[("az", "az1")]), node_labels("node2", &[("az", "az2")])],
        &[on("node1", with_affinity(s1(), away("S2"))), on("node2", with_affinity(s2(), away("S1")))],
    );
    let s = score(&plugin, &s2(), &snap, &[]);
    assert_eq!(s.raw, [-5, 0]);
    assert_eq!(s.normalized, [0, 100]);

    // "all nodes are same priority as Affinity is nil": PreScore skips.
    let snap = snapshot(&[node_labels("node1", &china), node_labels("node2", &india)], &[]);
    assert_eq!(score(&plugin, &s1(), &snap, &[]).pre_score, Code::Skip);
}

fn required(affinity: Vec<Value>, anti: Vec<Value>) -> Value {
    json!({
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": affinity},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": anti},
    })
}

// pkg/scheduler/framework/plugins/interpodaffinity/filtering_test.go
// TestRequiredAffinitySingleNode: one node (region r1, zone z11) with a pod
// labelled service=securityscan; the three reasons, in the order checked.
#[test]
fn inter_pod_affinity_filter_reasons() {
    let plugin = inter_pod_affinity::InterPodAffinity::default();
    let node = [node_labels("machine1", &[("region", "r1"), ("zone", "z11")])];
    let scan = || with_labels(empty_pod(), &[("service", "securityscan")]);
    let snap = snapshot(&node, &[on("machine1", scan())]);

    // "satisfies with requiredDuringSchedulingIgnoredDuringExecution in
    // PodAffinity using In operator that matches the existing pod".
    let p = with_affinity(
        with_labels(empty_pod(), &security("S1")),
        required(vec![in_term("service", &["securityscan", "value2"], "region")], vec![]),
    );
    assert_eq!(filter(&plugin, &p, &snap), [Status::success()]);

    // "The labelSelector requirements(items of matchExpressions) are ANDed,
    // the pod cannot schedule onto the node because one of the matchExpression
    // item don't match." → UnschedulableAndUnresolvable.
    let p = with_affinity(
        with_labels(empty_pod(), &security("S1")),
        required(
            vec![
                json!({"labelSelector": {"matchExpressions": [
                    {"key": "service", "operator": "Exists"},
                    {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"}),
                json!({"labelSelector": {"matchExpressions": [
                    {"key": "service", "operator": "In", "values": ["securityscan2"]},
                    {"key": "service", "operator": "NotIn", "values": ["WrongValue"]}]}, "topologyKey": "region"}),
            ],
            vec![],
        ),
    );
    let got = filter(&plugin, &p, &snap);
    assert_eq!(got, [Status::unresolvable(inter_pod_affinity::ERR_REASON_AFFINITY)]);
    assert_eq!(got[0].message(), "node(s) didn't match pod affinity rules");

    // "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with
    // the existing pod" → Unschedulable.
    let p = with_affinity(
        with_labels(empty_pod(), &security("S1")),
        required(
            vec![in_term("service", &["securityscan", "value2"], "region")],
            vec![in_term("service", &["securityscan", "value2"], "zone")],
        ),
    );
    let got = filter(&plugin, &p, &snap);
    assert_eq!(got, [Status::unschedulable(inter_pod_affinity::ERR_REASON_ANTI_AFFINITY)]);
    assert_eq!(got[0].message(), "node(s) didn't match pod anti-affinity rules");

    // "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy
    // PodAntiAffinity symmetry with the existing pod" → Unschedulable.
    let existing =
        with_affinity(scan(), required(vec![], vec![in_term("service", &["securityscan", "value2"], "zone")]));
    let snap = snapshot(&node, &[on("machine1", existing)]);
    let p = with_affinity(
        scan(),
        required(
            vec![in_term("service", &["securityscan", "value2"], "region")],
            vec![in_term("service", &["antivirusscan", "value2"], "node")],
        ),
    );
    let got = filter(&plugin, &p, &snap);
    assert_eq!(got, [Status::unschedulable(inter_pod_affinity::ERR_REASON_EXISTING_ANTI_AFFINITY)]);
    assert_eq!(got[0].message(), "node(s) didn't satisfy existing pods anti-affinity rules");
}

// ---- NodeResourcesFit: Filter ---------------------------------------------

/// fit_test.go `newResourcePod` / `newResourceInitPod`: containers and init
/// containers requesting (milliCPU, memory bytes).
fn resource_pod(containers: &[(i64, i64)], init: &[(i64, i64)]) -> Value {
    let c = |list: &[(i64, i64)]| -> Vec<Value> {
        list.iter()
            .map(|(cpu, mem)| {
                let cpu = format!("{cpu}m");
                let mem = mem.to_string();
                container(&[("cpu", cpu.as_str()), ("memory", mem.as_str()), ("pods", "0"), ("ephemeral-storage", "0")])
            })
            .collect()
    };
    json!({"metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": c(containers), "initContainers": c(init)}})
}

/// fit_test.go TestEnoughRequests' node: makeAllocatableResources(10, 20, 32, 5, 20, 5).
fn enough_requests_node() -> Value {
    node_alloc(
        "node",
        &[
            ("cpu", "10m"),
            ("memory", "20"),
            ("pods", "32"),
            ("example.com/aaa", "5"),
            ("ephemeral-storage", "20"),
            ("hugepages-2Mi", "5"),
        ],
    )
}

fn fit_filter(p: &Value, node: Value, existing: Value) -> Status {
    let snap = snapshot(&[node], &[on("node", existing)]);
    let mut got = filter(&Fit::default(), p, &snap);
    got.remove(0)
}

fn insufficient(reasons: &[&str]) -> Status {
    Status::new(Code::Unschedulable, reasons)
}

// pkg/scheduler/framework/plugins/noderesources/fit_test.go TestEnoughRequests.
#[test]
fn fit_filter_insufficient_resources() {
    let node = enough_requests_node;
    // "no resources requested always fits"
    assert_eq!(fit_filter(&empty_pod(), node(), resource_pod(&[(10, 20)], &[])), Status::success());
    // "too many resources fails": every failing resource is a reason.
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[]), node(), resource_pod(&[(10, 20)], &[])),
        insufficient(&["Insufficient cpu", "Insufficient memory"])
    );
    // "too many resources fails due to init container cpu": max(1, 3) = 3 > 10 - 8.
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[(3, 1)]), node(), resource_pod(&[(8, 19)], &[])),
        insufficient(&["Insufficient cpu"])
    );
    // "too many resources fails due to highest init container cpu": the
    // largest init container (3), not the sum (5).
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[(3, 1), (2, 1)]), node(), resource_pod(&[(8, 19)], &[])),
        insufficient(&["Insufficient cpu"])
    );
    // "too many resources fails due to init container memory".
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[(1, 3)]), node(), resource_pod(&[(9, 19)], &[])),
        insufficient(&["Insufficient memory"])
    );
    // "init container fits because it's the max, not sum, of containers and
    // init containers" (and the same with two init containers).
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[(1, 1)]), node(), resource_pod(&[(9, 19)], &[])),
        Status::success()
    );
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[(1, 1), (1, 1)]), node(), resource_pod(&[(9, 19)], &[])),
        Status::success()
    );
    // "equal edge case" and "equal edge case for init container".
    assert_eq!(fit_filter(&resource_pod(&[(5, 1)], &[]), node(), resource_pod(&[(5, 19)], &[])), Status::success());
    assert_eq!(
        fit_filter(&resource_pod(&[(4, 1)], &[(5, 1)]), node(), resource_pod(&[(5, 19)], &[])),
        Status::success()
    );
    // "extended resource capacity enforced": 10 > 5 - 0.
    let p = pod(vec![container(&[("cpu", "1m"), ("memory", "1"), ("example.com/aaa", "10")])]);
    assert_eq!(fit_filter(&p, node(), resource_pod(&[(0, 0)], &[])), insufficient(&["Insufficient example.com/aaa"]));
}

// pkg/scheduler/framework/plugins/noderesources/fit_test.go TestNotEnoughRequests:
// a node whose allocatable allows one pod and already runs one.
#[test]
fn fit_filter_too_many_pods() {
    let node = || node_alloc("node", &[("cpu", "10m"), ("memory", "20"), ("pods", "1")]);
    // "even without specified resources, predicate fails when there's no space for additional pod"
    assert_eq!(fit_filter(&empty_pod(), node(), resource_pod(&[(10, 20)], &[])), insufficient(&["Too many pods"]));
    // "even if both resources fit, predicate fails when there's no space for additional pod"
    assert_eq!(
        fit_filter(&resource_pod(&[(1, 1)], &[]), node(), resource_pod(&[(5, 5)], &[])),
        insufficient(&["Too many pods"])
    );
    // "even for equal edge case, predicate fails when there's no space for additional pod"
    assert_eq!(
        fit_filter(&resource_pod(&[(5, 1)], &[]), node(), resource_pod(&[(5, 19)], &[])),
        insufficient(&["Too many pods"])
    );
}

fn cpu_container(cpu: &str, sidecar: bool) -> Value {
    let mut c = container(&[("cpu", cpu)]);
    if sidecar {
        c["restartPolicy"] = json!("Always");
    }
    c
}

fn init_pod(init: Vec<Value>, containers: Vec<Value>) -> Value {
    json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"initContainers": init, "containers": containers}})
}

// k8s.io/component-helpers/resource/helpers_test.go (PodRequests with
// restartable init containers, as NodeResourcesFit computes them): sidecars
// keep running, so they add to the steady state and to every later init
// container.
#[test]
fn pod_requests_with_sidecars() {
    let cpu = |p: Value| PodInfo::parse(&p).requests.milli_cpu;
    // restartable init 1 + container 1 → 2.
    assert_eq!(cpu(init_pod(vec![cpu_container("1", true)], vec![cpu_container("1", false)])), 2000);
    // restartable inits 1, 2, 3 + container 1 → 7.
    assert_eq!(
        cpu(init_pod(
            vec![cpu_container("1", true), cpu_container("2", true), cpu_container("3", true)],
            vec![cpu_container("1", false)]
        )),
        7000
    );
    // init 5, restartable 1, restartable 2, init 5, restartable 3, container 1
    // → 8: the second init needs 5+1+2; the steady state is 1+2+3+1 = 7.
    assert_eq!(
        cpu(init_pod(
            vec![
                cpu_container("5", false),
                cpu_container("1", true),
                cpu_container("2", true),
                cpu_container("5", false),
                cpu_container("3", true),
            ],
            vec![cpu_container("1", false)]
        )),
        8000
    );
    // restartable 10, init 200, container 100 → 210.
    assert_eq!(
        cpu(init_pod(vec![cpu_container("10", true), cpu_container("200", false)], vec![cpu_container("100", false)])),
        210_000
    );
}

// ---- DefaultNormalizeScore ------------------------------------------------

// pkg/scheduler/framework/plugins/helper/normalize_score_test.go
#[test]
fn default_normalize_score_cases() {
    let run = |reverse: bool, scores: &[i64]| {
        let mut s = scores.to_vec();
        helper::default_normalize_score(100, reverse, &mut s);
        s
    };
    assert_eq!(run(false, &[1, 2, 3, 4]), [25, 50, 75, 100]);
    assert_eq!(run(true, &[1, 2, 3, 4]), [75, 50, 25, 0]);
    assert_eq!(run(false, &[1000, 10, 20, 30]), [100, 1, 2, 3]);
    assert_eq!(run(true, &[1000, 10, 20, 30]), [0, 99, 98, 97]);
    assert_eq!(run(false, &[1, 1, 1, 1]), [100, 100, 100, 100]);
    assert_eq!(run(true, &[0, 1, 1, 1]), [100, 0, 0, 0]);
}
