//! `kscope bench scheduler`: pods scheduled per second, like scheduler_perf's
//! SchedulingBasic (test/integration/scheduler_perf/config/performance-config.yaml):
//! nodes with 4 CPU, 32Gi and 110 pods (node-default.yaml), pods requesting
//! 100m CPU and 500Mi (pod-default.yaml). The pods are created while
//! kube-scheduler is stopped; the clock runs from its start until the last
//! binding is acknowledged, through the real path: list+watch, filter,
//! score, `pods/binding` and events through kube-apiserver into etcd.
//!
//! Wall-clock time is read here, in the benchmark, never in the core.

use crate::bench_apiserver::create_objects;
use kscope_core::component_id::ComponentId;
use kscope_core::duration::Duration;
use kscope_core::kube_scheduler::KubeScheduler;
use kscope_core::{Cluster, Scenario};
use serde_json::json;
use std::time::Instant;

/// The results of one run.
pub struct SchedulerMeasurement {
    /// Pods bound per second of wall time.
    pub pods_per_second: f64,
    /// Wall time from the scheduler's start to the last binding.
    pub wall_seconds: f64,
    /// Simulated time the same took.
    pub simulated: Duration,
}

fn scheduled(cluster: &Cluster) -> u64 {
    cluster
        .simulation()
        .components()
        .find(|(id, _, _)| **id == ComponentId::Scheduler)
        .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeScheduler>())
        .map_or(0, |s| s.stats().scheduled)
}

/// Schedules `pods` pods on `nodes` nodes.
pub fn run(nodes: u64, pods: u64) -> Result<SchedulerMeasurement, String> {
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bench}\nspec: {seed: 1, nodes: []}\n";
    let mut cluster = Cluster::new(Scenario::from_yaml(text, "bench").map_err(|e| e.to_string())?)?;
    cluster.advance(Duration::from_secs(3))?;
    let out = cluster.exec("sim kill kube-scheduler");
    if !out.ok {
        return Err(out.text);
    }
    let resources = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    create_objects(&mut cluster, nodes, |i| {
        let name = format!("node-{i}");
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True"}]}});
        ("/api/v1/nodes".to_string(), node)
    })?;
    create_objects(&mut cluster, pods, |i| {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod-{i}")},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}, "limits": {"cpu": "100m", "memory": "500Mi"}}}]}});
        ("/api/v1/namespaces/default/pods".to_string(), pod)
    })?;
    cluster.advance(Duration::from_millis(500))?;
    let start_ms = cluster.now_ms();
    let start = Instant::now();
    let out = cluster.exec("sim start kube-scheduler");
    if !out.ok {
        return Err(out.text);
    }
    while scheduled(&cluster) < pods {
        let before = cluster.now_ms();
        cluster.advance_to(before + 10)?;
        if cluster.now_ms() - start_ms > 600_000 {
            return Err(format!("only {} of {pods} pods were scheduled in 10 simulated minutes", scheduled(&cluster)));
        }
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    Ok(SchedulerMeasurement {
        pods_per_second: pods as f64 / wall_seconds,
        wall_seconds,
        simulated: Duration::from_millis(cluster.now_ms() - start_ms),
    })
}
