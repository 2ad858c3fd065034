//! `kscope bench cluster`: the whole control plane at scale, as issue 7 asks
//! (10,000 pods from Deployments on 1,000 nodes). The nodes' kubelets start
//! and register; once every Node is in kube-apiserver, `kubectl apply` creates
//! the Deployments, and the clock runs until every pod they own is Running
//! (status.phase as kube-apiserver stores it): Deployment and ReplicaSet
//! controllers, scheduler, kubelets and their status updates, all through
//! kube-apiserver and etcd.
//!
//! The benchmark only reads kube-apiserver's cache, the way `kscope`'s UI
//! does; it sends nothing, so the trace (and its hash) is the cluster's own.
//! Wall-clock time and memory are read here, in the benchmark, never in the core.

use kscope_core::component_id::ComponentId;
use kscope_core::kube_apiserver::KubeApiServer;
use kscope_core::{Cluster, Scenario};
use std::fmt::Write;
use std::time::Instant;

/// Simulated milliseconds between two looks at kube-apiserver's cache.
const POLL_MS: u64 = 10;
/// Simulated time the nodes have to register, and the pods to run, before the
/// benchmark gives up.
const LIMIT_MS: u64 = 600_000;

/// The results of one run.
pub struct ClusterMeasurement {
    /// Wall time from start to every Node registered.
    pub setup_wall_seconds: f64,
    /// Wall time from `kubectl apply` to every pod Running.
    pub wall_seconds: f64,
    /// Simulated milliseconds from `kubectl apply` to every pod Running.
    pub simulated_ms: u64,
    /// Peak resident memory of this process (VmHWM), in KiB, if the OS tells.
    pub peak_rss_kib: Option<u64>,
    /// CPU seconds (user and system) the whole run took, if the OS tells.
    pub cpu_seconds: Option<f64>,
    /// The trace hash when every pod ran.
    pub trace_hash: String,
    /// Trace events by then.
    pub trace_events: u64,
}

fn cache(cluster: &Cluster) -> Option<&kscope_core::kube_apiserver::watch_cache::WatchCache> {
    cluster
        .simulation()
        .components()
        .find(|(id, _, _)| **id == ComponentId::ApiServer)
        .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeApiServer>())
        .map(KubeApiServer::cache)
}

fn registered_nodes(cluster: &Cluster) -> u64 {
    cache(cluster).map_or(0, |c| c.list("/registry/minions/").count() as u64)
}

fn running_pods(cluster: &Cluster) -> u64 {
    cache(cluster).map_or(0, |c| {
        c.list("/registry/pods/default/")
            .filter(|(_, p)| p.object.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running"))
            .count() as u64
    })
}

/// The scenario: `nodes` nodes of 4 CPU and 32Gi, etcd of three members.
fn scenario(nodes: u64) -> Result<Scenario, String> {
    let mut text = String::from(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bench-cluster}\nspec:\n  seed: 1\n  nodes:\n",
    );
    for i in 1..=nodes {
        writeln!(text, "  - {{name: node-{i}, cpu: \"4\", memory: 32Gi}}").unwrap();
    }
    Scenario::from_yaml(&text, "bench-cluster").map_err(|e| e.to_string())
}

/// `deployments` Deployments sharing `pods` replicas (the first ones take the
/// remainder), each pod requesting 100m CPU and 500Mi like scheduler_perf's
/// pod-default.yaml.
fn manifest(pods: u64, deployments: u64) -> String {
    let mut text = String::new();
    for d in 0..deployments {
        let replicas = pods / deployments + u64::from(d < pods % deployments);
        write!(
            text,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bench-{d}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: bench-{d}}}\n  template:\n    metadata:\n      labels: {{app: bench-{d}}}\n    spec:\n      containers:\n      - name: pause\n        image: registry.k8s.io/pause:3.10\n        resources:\n          requests: {{cpu: 100m, memory: 500Mi}}\n          limits: {{cpu: 100m, memory: 500Mi}}\n"
        )
        .unwrap();
    }
    text
}

/// Peak resident set size of this process, from `VmHWM` in /proc/self/status.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `pods` pods from `deployments` Deployments on `nodes` nodes.
pub fn run(nodes: u64, pods: u64, deployments: u64) -> Result<ClusterMeasurement, String> {
    if nodes == 0 || deployments == 0 || deployments > pods {
        return Err(format!(
            "the benchmark needs at least one node and one to {pods} deployments (got --nodes {nodes} --deployments {deployments})"
        ));
    }
    let setup = Instant::now();
    let mut cluster = Cluster::new(scenario(nodes)?)?;
    while registered_nodes(&cluster) < nodes {
        if cluster.now_ms() > LIMIT_MS {
            return Err(format!(
                "only {} of {nodes} nodes registered in 10 simulated minutes",
                registered_nodes(&cluster)
            ));
        }
        let now = cluster.now_ms();
        cluster.advance_to(now + POLL_MS)?;
    }
    let setup_wall_seconds = setup.elapsed().as_secs_f64();

    let start = Instant::now();
    let start_ms = cluster.now_ms();
    cluster.put_file("bench.yaml", manifest(pods, deployments).into_bytes());
    let out = cluster.exec("kubectl apply -f bench.yaml");
    if !out.ok {
        return Err(out.text);
    }
    while running_pods(&cluster) < pods {
        if cluster.now_ms() - start_ms > LIMIT_MS {
            return Err(format!(
                "only {} of {pods} pods were Running 10 simulated minutes after kubectl apply",
                running_pods(&cluster)
            ));
        }
        let now = cluster.now_ms();
        cluster.advance_to(now + POLL_MS)?;
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    let trace = cluster.simulation().trace();
    let measurement = ClusterMeasurement {
        setup_wall_seconds,
        wall_seconds,
        simulated_ms: cluster.now_ms() - start_ms,
        peak_rss_kib: peak_rss_kib(),
        cpu_seconds: cpu_seconds(),
        trace_hash: trace.hash_hex(),
        trace_events: trace.len(),
    };
    // The process ends next: freeing a million JSON values one by one
    // would only add seconds to the run.
    std::mem::forget(cluster);
    Ok(measurement)
}

/// CPU time this process used so far (user and system), from
/// /proc/self/stat; on a shared machine it says more than wall time.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 14th and 15th of the line, in clock ticks (100 a second
    // on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
