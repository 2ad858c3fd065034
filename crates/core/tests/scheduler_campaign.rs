//! A seeded scheduling campaign: random nodes (sizes, zones, taints), random
//! pods (requests, tolerations, node selectors, priorities, anti-affinity),
//! and random disruptions (cordons, taints, deletions, scheduler restarts).
//! Throughout, every 500 ms of simulated time:
//! - no node's allocatable CPU, memory or pod count is exceeded by the pods bound to it;
//! - no pod is bound to a node that was cordoned, or carried a NoSchedule
//!   taint the pod does not tolerate, when it was bound;
//! - no pod runs on two nodes (a bound pod never moves).
//!
//! At the end, after the disruptions stop and the cluster settles, no
//! Pending pod (without affinity) fits on any node with room to spare: the
//! queue always retries a pod when the change that could make it fit happens.
//!
//! `KSCOPE_SCHEDULER_SEEDS=N` runs seeds 0..N (default 12).

use kscope_core::duration::Duration;
use kscope_core::quantity::Quantity;
use kscope_core::rng::SimRng;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;
use common::requests;
use std::collections::BTreeMap;

struct Run {
    c: Cluster,
    rng: SimRng,
    /// Pod → the node it was first seen bound to.
    bound: BTreeMap<String, String>,
    next_pod: usize,
    nodes: Vec<String>,
}

fn q(v: &Value) -> Quantity {
    Quantity::parse(v.as_str().unwrap_or("0")).unwrap()
}

fn tolerates(p: &Value, taint: &Value) -> bool {
    p["spec"]["tolerations"].as_array().into_iter().flatten().any(|t| {
        (t["effect"].is_null() || t["effect"] == taint["effect"])
            && (t["key"].is_null() || t["key"] == taint["key"])
            && (t["operator"] == "Exists" || t["value"] == taint["value"])
    })
}

impl Run {
    fn new(seed: u64) -> Run {
        let mut rng = SimRng::new(seed);
        let count = rng.between(3, 6);
        let mut nodes = String::new();
        let mut names = Vec::new();
        for i in 1..=count {
            let cpu = ["1", "2", "4"][rng.below(3) as usize];
            let mem = ["2Gi", "4Gi", "8Gi"][rng.below(3) as usize];
            let zone = ["a", "b"][rng.below(2) as usize];
            let taint = match rng.below(4) {
                0 => ", taints: [{key: dedicated, value: gpu, effect: NoSchedule}]",
                1 => ", taints: [{key: spot, effect: PreferNoSchedule}]",
                _ => "",
            };
            nodes.push_str(&format!(
                "\n  - {{name: n{i}, cpu: '{cpu}', memory: {mem}, labels: {{topology.kubernetes.io/zone: {zone}, disk: {}}}{taint}}}",
                ["ssd", "hdd"][rng.below(2) as usize]
            ));
            names.push(format!("n{i}"));
        }
        let yaml = format!(
            "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: campaign}}\nspec:\n  seed: {seed}\n  nodes:{nodes}\n"
        );
        let mut c = Cluster::new(Scenario::from_yaml(&yaml, "campaign").unwrap()).unwrap();
        c.advance(Duration::from_secs(3)).unwrap();
        let mut run = Run { c, rng, bound: BTreeMap::new(), next_pod: 0, nodes: names };
        run.ok("kubectl apply -f - <<EOF\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\nEOF");
        run
    }

    fn ok(&mut self, text: &str) -> String {
        common::ok(&mut self.c, text)
    }

    fn json(&mut self, command: &str) -> Value {
        common::json(&mut self.c, command)
    }

    fn pick(&mut self, options: &[&'static str]) -> &'static str {
        options[self.rng.below(options.len() as u64) as usize]
    }

    fn create_pod(&mut self) {
        self.next_pod += 1;
        let name = format!("p{}", self.next_pod);
        let cpu = self.pick(&["100m", "250m", "500m", "1", "1500m"]);
        let mem = self.pick(&["64Mi", "256Mi", "1Gi", "3Gi"]);
        let mut spec = String::new();
        if self.rng.below(3) == 0 {
            spec.push_str("  tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]\n");
        }
        if self.rng.below(4) == 0 {
            let disk = self.pick(&["ssd", "hdd"]);
            spec.push_str(&format!("  nodeSelector: {{disk: {disk}}}\n"));
        }
        if self.rng.below(4) == 0 {
            spec.push_str("  priorityClassName: high\n");
        }
        let group = self.pick(&["web", "db"]);
        if self.rng.below(5) == 0 {
            spec.push_str(&format!(
                "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {{matchLabels: {{group: {group}}}}}\n        topologyKey: kubernetes.io/hostname\n"
            ));
        }
        self.ok(&format!(
            "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{group: {group}}}\nspec:\n{spec}  terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: nginx\n    resources: {{requests: {{cpu: '{cpu}', memory: {mem}}}}}\nEOF"
        ));
    }

    fn disrupt(&mut self) {
        let node = self.nodes[self.rng.below(self.nodes.len() as u64) as usize].clone();
        match self.rng.below(7) {
            0 => {
                self.ok(&format!("kubectl cordon {node}"));
            }
            1 => {
                self.ok(&format!("kubectl uncordon {node}"));
            }
            2 => {
                let _ = self.c.exec(&format!("kubectl taint nodes {node} maintenance=true:NoSchedule"));
            }
            3 => {
                let _ = self.c.exec(&format!("kubectl taint nodes {node} maintenance-"));
            }
            4 if self.next_pod > 0 => {
                let victim = format!("p{}", self.rng.between(1, self.next_pod as u64));
                let _ = self.c.exec(&format!("kubectl delete pod {victim} --wait=false"));
            }
            5 => {
                self.ok("sim restart kube-scheduler");
            }
            _ => self.create_pod(),
        }
    }

    fn check(&mut self) {
        let nodes = self.json("kubectl get nodes -o json");
        let pods = self.json("kubectl get pods -A -o json");
        let mut used: BTreeMap<String, (i128, i128, i128)> = BTreeMap::new();
        for p in pods["items"].as_array().unwrap() {
            let node = p["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
            if node.is_empty() {
                continue;
            }
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            let (cpu, mem) = requests(p);
            let u = used.entry(node.clone()).or_default();
            u.0 += cpu;
            u.1 += mem;
            u.2 += 1;
            match self.bound.get(&name) {
                Some(first) => assert_eq!(*first, node, "{name} moved from {first} to {node}"),
                None => {
                    let n = nodes["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|n| n["metadata"]["name"] == node.as_str())
                        .unwrap();
                    assert!(n["spec"]["unschedulable"] != true, "{name} bound to cordoned {node}");
                    // Static pods are the kubelet's own, never the scheduler's.
                    let mirror = !p["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_null();
                    for taint in n["spec"]["taints"].as_array().into_iter().flatten().filter(|_| !mirror) {
                        if taint["effect"] == "NoSchedule" && taint["key"] != "node.kubernetes.io/unschedulable" {
                            assert!(tolerates(p, taint), "{name} bound to {node} despite {taint}");
                        }
                    }
                    self.bound.insert(name, node);
                }
            }
        }
        for n in nodes["items"].as_array().unwrap() {
            let name = n["metadata"]["name"].as_str().unwrap();
            let a = &n["status"]["allocatable"];
            let (cpu, mem, count) = used.get(name).copied().unwrap_or_default();
            assert!(cpu <= q(&a["cpu"]).millis(), "{name}: {cpu}m CPU bound");
            assert!(mem <= q(&a["memory"]).value(), "{name}: {mem} bytes bound");
            assert!(count <= q(&a["pods"]).value(), "{name}: {count} pods");
        }
    }

    fn advance(&mut self, ms: u64) {
        for _ in 0..ms / 500 {
            self.c.advance(Duration::from_millis(500)).unwrap();
            self.check();
        }
    }

    /// No Pending pod without affinity fits a schedulable node's free room.
    fn check_settled(&mut self) {
        let nodes = self.json("kubectl get nodes -o json");
        let pods = self.json("kubectl get pods -A -o json");
        let items = pods["items"].as_array().unwrap();
        for p in items {
            if !p["spec"]["nodeName"].is_null()
                || p["metadata"]["deletionTimestamp"].is_string()
                || !p["spec"]["affinity"].is_null()
            {
                continue;
            }
            let (cpu, mem) = requests(p);
            for n in nodes["items"].as_array().unwrap() {
                let name = n["metadata"]["name"].as_str().unwrap();
                if n["spec"]["unschedulable"] == true {
                    continue;
                }
                let blocked = n["spec"]["taints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["effect"] == "NoSchedule" && !tolerates(p, t));
                let selected = p["spec"]["nodeSelector"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| n["metadata"]["labels"][k] == *v);
                if blocked || !selected {
                    continue;
                }
                let on_node: Vec<&Value> = items.iter().filter(|o| o["spec"]["nodeName"] == name).collect();
                // An existing pod's anti-affinity towards this pod's group keeps it out.
                let repelled = on_node.iter().any(|o| {
                    o["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|t| t["labelSelector"]["matchLabels"]["group"] == p["metadata"]["labels"]["group"])
                });
                if repelled {
                    continue;
                }
                let used = on_node.iter().fold((0, 0), |(c, m), o| {
                    let (oc, om) = requests(o);
                    (c + oc, m + om)
                });
                let a = &n["status"]["allocatable"];
                let fits = used.0 + cpu <= q(&a["cpu"]).millis()
                    && used.1 + mem <= q(&a["memory"]).value()
                    && on_node.len() as i128 + 1 <= q(&a["pods"]).value();
                let pod = p["metadata"]["name"].as_str().unwrap();
                if fits {
                    let explain = self.c.exec(&format!("sim explain pod/{pod}")).text;
                    let wide = self.c.exec("kubectl get pods -o wide").text;
                    let status = self.c.exec("sim status").text;
                    let events = self.c.exec("kubectl get events").text;
                    panic!(
                        "{pod} is Pending but fits {name} at {}:\n{explain}\n{wide}\n{status}\n{events}",
                        self.c.now_ms()
                    );
                }
            }
        }
    }
}

#[test]
fn seeded_scheduling_campaign_keeps_the_invariants() {
    let seeds: u64 = std::env::var("KSCOPE_SCHEDULER_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    for seed in 0..seeds {
        let mut run = Run::new(seed);
        for _ in 0..40 {
            if run.rng.below(3) == 0 {
                run.disrupt();
            } else {
                run.create_pod();
            }
            let pause = run.rng.between(1, 4) * 500;
            run.advance(pause);
        }
        // Settle: every node schedulable and untainted.
        for node in run.nodes.clone() {
            run.ok(&format!("kubectl uncordon {node}"));
            let _ = run.c.exec(&format!("kubectl taint nodes {node} maintenance-"));
        }
        // Long enough for victims' grace periods and the longest backoff (10 s)
        // after the last preemption the settling itself may cause.
        run.advance(60_000);
        run.check_settled();
    }
}
