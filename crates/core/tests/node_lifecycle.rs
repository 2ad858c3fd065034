//! The node lifecycle, taint eviction and pod GC controllers end to end: a
//! node whose kubelet dies goes `Unknown` 50 s after its last heartbeat, is
//! tainted `unreachable:NoExecute`, and its pods are deleted 300 s later
//! (DefaultTolerationSeconds) and replaced on the other nodes; the node
//! comes back Ready and untainted when its kubelet starts again. When every
//! node goes silent nothing is evicted (full disruption). Cordoning taints
//! `unschedulable:NoSchedule`. Pods of a deleted node are collected after
//! the 40 s quarantine.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

struct Test {
    c: Cluster,
}

impl Test {
    fn new() -> Test {
        let mut c = Cluster::new(Scenario::default()).unwrap();
        c.advance(Duration::from_secs(3)).unwrap();
        Test { c }
    }

    fn ok(&mut self, text: &str) -> String {
        common::ok(&mut self.c, text)
    }

    fn json(&mut self, command: &str) -> Value {
        common::json(&mut self.c, command)
    }

    fn secs(&mut self, s: u64) {
        self.c.advance(Duration::from_secs(s)).unwrap();
    }

    fn now_s(&self) -> u64 {
        self.c.simulation().now_ms() / 1000
    }

    fn node(&mut self, name: &str) -> Value {
        self.json(&format!("kubectl get node {name} -o json"))
    }

    fn ready(&mut self, node: &str) -> (String, String) {
        let n = self.node(node);
        let c = n["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
        (c["status"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap_or_default().to_string())
    }

    fn taints(&mut self, node: &str) -> Vec<String> {
        let n = self.node(node);
        n["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{}:{}", t["key"].as_str().unwrap(), t["effect"].as_str().unwrap()))
            .collect()
    }

    fn pods(&mut self) -> Vec<Value> {
        self.json("kubectl get pods -o json")["items"].as_array().unwrap().clone()
    }

    /// Pods not being deleted, with Ready True, by node.
    fn ready_pods_on(&mut self, node: &str) -> usize {
        self.pods()
            .iter()
            .filter(|p| p["spec"]["nodeName"] == node && p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
            .count()
    }

    fn deploy(&mut self, replicas: u32) {
        self.ok(&format!("kubectl create deployment web --image=nginx --replicas={replicas}"));
        for _ in 0..60 {
            self.secs(1);
            let d = self.json("kubectl get deploy web -o json");
            if d["status"]["availableReplicas"] == replicas {
                return;
            }
        }
        panic!("web never became available");
    }

    /// The node with the most `web` pods.
    fn busiest_node(&mut self) -> String {
        let mut best = (0, String::new());
        for n in ["node-1", "node-2", "node-3"] {
            let count = self.ready_pods_on(n);
            if count > best.0 {
                best = (count, n.to_string());
            }
        }
        best.1
    }

    fn events(&mut self) -> String {
        self.ok("kubectl get events -A")
    }
}

#[test]
fn a_dead_node_goes_unknown_its_pods_move_after_300s_and_it_comes_back() {
    let mut t = Test::new();
    t.deploy(6);
    t.ok("kubectl create service clusterip web --tcp=80:80");
    let node = t.busiest_node();
    let moved = t.ready_pods_on(&node);
    assert!(moved > 0);
    assert!(t.ok(&format!("sim kill kubelet/{node}")).contains("stopped"));
    let killed_at = t.now_s();

    // The last heartbeat (lease or status) was at most 10 s before the kill:
    // at kill + 35 s the node is still Ready.
    t.secs(35);
    assert_eq!(t.ready(&node).0, "True", "within the 50 s grace period");

    // At most 10 + 50 s after the kill plus a 5 s monitor period: Unknown.
    t.secs(30);
    let (status, reason) = t.ready(&node);
    assert_eq!((status.as_str(), reason.as_str()), ("Unknown", "NodeStatusUnknown"));
    let n = t.node(&node);
    let ready = n["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        let c = n["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap().clone();
        assert_eq!(c["status"], "Unknown", "{kind}");
    }
    let taints = t.taints(&node);
    assert!(taints.contains(&"node.kubernetes.io/unreachable:NoExecute".to_string()), "{taints:?}");
    assert!(taints.contains(&"node.kubernetes.io/unreachable:NoSchedule".to_string()), "{taints:?}");
    let nodes = t.ok("kubectl get nodes");
    assert!(nodes.lines().any(|l| l.split_whitespace().take(2).eq([node.as_str(), "NotReady"])), "{nodes}");
    assert_eq!(t.ready_pods_on(&node), 0, "its pods are marked not ready");
    let events = t.events();
    assert!(events.contains(&format!("Node {node} status is now: NodeNotReady")), "{events}");
    assert!(events.contains("Node is not ready"), "{events}");
    // The Endpoints list them as not ready.
    t.secs(1);
    let eps = t.json("kubectl get endpoints web -o json");
    let not_ready = eps["subsets"][0]["notReadyAddresses"].as_array().map_or(0, Vec::len);
    assert_eq!(not_ready, moved, "{eps}");

    // Still there just before the 300 s toleration ends.
    let tainted_at = t.now_s();
    t.secs(290);
    let terminating = |t: &mut Test| {
        t.pods()
            .iter()
            .filter(|p| p["spec"]["nodeName"] == node.as_str() && !p["metadata"]["deletionTimestamp"].is_null())
            .count()
    };
    assert_eq!(terminating(&mut t), 0, "tolerated for 300 s (tainted at {tainted_at} s, killed at {killed_at} s)");
    t.secs(20);
    assert_eq!(terminating(&mut t), moved, "evicted after the toleration");
    let evicted = t.pods().into_iter().find(|p| p["spec"]["nodeName"] == node.as_str()).unwrap();
    let condition = evicted["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .cloned()
        .expect("DisruptionTarget");
    assert_eq!(condition["reason"], "DeletionByTaintManager");
    assert!(t.events().contains("Marking for deletion Pod default/"));
    // Replaced on the other nodes.
    t.secs(10);
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(d["status"]["availableReplicas"], 6, "{}", t.ok("kubectl get pods -o wide"));
    assert!(t.ok("kubectl get pods").contains("Terminating"), "stuck on the dead node");

    // The kubelet comes back: Ready again, untainted, its old pods finished.
    t.ok(&format!("sim start kubelet/{node}"));
    t.secs(30);
    assert_eq!(t.ready(&node).0, "True");
    assert_eq!(t.taints(&node), Vec::<String>::new());
    assert_eq!(terminating(&mut t), 0, "{}", t.ok("kubectl get pods -o wide"));
    assert_eq!(t.json("kubectl get deploy web -o json")["status"]["availableReplicas"], 6);
}

#[test]
fn when_every_node_is_silent_nothing_is_evicted() {
    let mut t = Test::new();
    t.deploy(3);
    // Every kubelet, the control-plane nodes' too (their static pods, the
    // control plane itself, run on).
    let all = ["control-plane", "control-plane2", "control-plane3", "node-1", "node-2", "node-3"];
    for n in all {
        t.ok(&format!("sim kill kubelet/{n}"));
    }
    t.secs(500);
    for n in all {
        assert_eq!(t.ready(n).0, "Unknown");
        let taints = t.taints(n);
        assert!(!taints.iter().any(|t| t.ends_with(":NoExecute")), "{n}: {taints:?}");
    }
    let deleting = t.pods().iter().filter(|p| !p["metadata"]["deletionTimestamp"].is_null()).count();
    assert_eq!(deleting, 0, "full disruption: no evictions");
}

#[test]
fn a_partitioned_kubelet_recovers_its_node_and_pods() {
    let mut t = Test::new();
    t.deploy(3);
    let node = t.busiest_node();
    let before = t.ready_pods_on(&node);
    t.ok(&format!("sim partition kubelet/{node}"));
    t.secs(90);
    assert_eq!(t.ready(&node).0, "Unknown");
    assert_eq!(t.ready_pods_on(&node), 0);
    t.ok("sim heal");
    t.secs(25);
    assert_eq!(t.ready(&node), ("True".to_string(), "KubeletReady".to_string()));
    // The pod watch the kubelet sent during the partition was lost; it is
    // sent again once it has heard nothing for 90 s (the reflector's idle
    // timeout), replays what was missed, and the kubelet sees that its pods
    // were marked not ready and reports them ready again.
    t.secs(90);
    assert_eq!(t.ready_pods_on(&node), before, "the kubelet reports its pods ready again");
    assert_eq!(t.taints(&node), Vec::<String>::new());
}

#[test]
fn cordon_taints_the_node_unschedulable() {
    let mut t = Test::new();
    t.ok("kubectl cordon node-2");
    t.secs(1);
    assert_eq!(t.taints("node-2"), vec!["node.kubernetes.io/unschedulable:NoSchedule".to_string()]);
    let n = t.node("node-2");
    assert!(n["spec"]["taints"][0]["timeAdded"].is_string());
    t.ok("kubectl uncordon node-2");
    t.secs(1);
    assert_eq!(t.taints("node-2"), Vec::<String>::new());
}

#[test]
fn pods_of_a_deleted_node_are_collected_after_the_quarantine() {
    let mut t = Test::new();
    t.deploy(3);
    let node = t.busiest_node();
    t.ok(&format!("sim kill kubelet/{node}"));
    t.ok(&format!("kubectl delete node {node}"));
    let on_node = |t: &mut Test| t.pods().iter().filter(|p| p["spec"]["nodeName"] == node.as_str()).count();
    t.secs(35);
    assert!(on_node(&mut t) > 0, "quarantined for 40 s");
    t.secs(30);
    assert_eq!(on_node(&mut t), 0, "{}", t.ok("kubectl get pods -o wide"));
    assert!(t.events().contains(&format!("Removing Node {node} from Controller")));
    t.secs(10);
    assert_eq!(t.json("kubectl get deploy web -o json")["status"]["availableReplicas"], 3);
}
