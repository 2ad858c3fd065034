//! kube-scheduler end to end: pods applied with kubectl are bound (or left
//! Pending with kube-scheduler's exact FailedScheduling message) through the
//! apiserver, and `sim explain` shows filter verdicts and scores that add up
//! to the choice. Every test checks the scheduling invariants as it goes: no
//! node's allocatable is exceeded by the requests bound to it, and no pod is
//! bound to a cordoned node or one whose NoSchedule taint it does not tolerate.

use kscope_core::duration::Duration;
use kscope_core::quantity::Quantity;
use kscope_core::{Cluster, CommandOutput, Scenario};
use serde_json::Value;

mod common;
use common::requests;
use std::collections::{BTreeMap, BTreeSet};

const NODES: &str = "
  - {name: control-plane, cpu: '4', memory: 8Gi, labels: {node-role.kubernetes.io/control-plane: ''},
     taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
  - {name: node-1, cpu: '2', memory: 4Gi, labels: {topology.kubernetes.io/zone: a}}
  - {name: node-2, cpu: '2', memory: 4Gi, labels: {topology.kubernetes.io/zone: b}}
";

fn scenario(nodes: &str, extra: &str) -> Scenario {
    let yaml = format!(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: sched}}\nspec:\n  seed: 3\n  controlPlane: {{mode: managed}}\n  nodes:{nodes}{extra}"
    );
    Scenario::from_yaml(&yaml, "test").unwrap()
}

/// A cluster with the scenario's nodes registered and the scheduler synced.
struct Test {
    c: Cluster,
    /// Pods seen bound so far (their bindings were checked).
    seen_bound: BTreeSet<String>,
}

impl Test {
    fn new(nodes: &str, extra: &str) -> Test {
        let mut t = Test { c: Cluster::new(scenario(nodes, extra)).unwrap(), seen_bound: BTreeSet::new() };
        t.advance(3_000);
        t
    }

    fn run(&mut self, text: &str) -> CommandOutput {
        common::run(&mut self.c, text)
    }

    fn ok(&mut self, text: &str) -> String {
        common::ok(&mut self.c, text)
    }

    fn json(&mut self, command: &str) -> Value {
        common::json(&mut self.c, command)
    }

    /// Advances in 100 ms steps, checking the invariants at each.
    fn advance(&mut self, ms: u64) {
        for _ in 0..ms.div_ceil(100) {
            self.c.advance(Duration::from_millis(100)).unwrap();
            self.check_invariants();
        }
    }

    fn pods(&mut self) -> Vec<Value> {
        self.json("kubectl get pods -A -o json")["items"].as_array().unwrap().clone()
    }

    fn node_of(&mut self, pod: &str) -> String {
        let p = self.json(&format!("kubectl get pod {pod} -o json"));
        p["spec"]["nodeName"].as_str().unwrap_or_default().to_string()
    }

    fn check_invariants(&mut self) {
        let nodes = self.json("kubectl get nodes -o json");
        let pods = self.pods();
        let mut used: BTreeMap<String, (i128, i128, i64)> = BTreeMap::new();
        for p in &pods {
            let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
            let phase = p["status"]["phase"].as_str().unwrap_or_default();
            if node.is_empty() || phase == "Succeeded" || phase == "Failed" {
                continue;
            }
            let (cpu, mem) = requests(p);
            let u = used.entry(node.to_string()).or_default();
            u.0 += cpu;
            u.1 += mem;
            u.2 += 1;
            // A newly bound pod: its node must have taken it.
            let key =
                format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap());
            if self.seen_bound.insert(key.clone()) {
                let n = nodes["items"].as_array().unwrap().iter().find(|n| n["metadata"]["name"] == node).unwrap();
                assert!(n["spec"]["unschedulable"] != true, "{key} bound to cordoned {node}");
                let tolerations = p["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
                for taint in n["spec"]["taints"].as_array().into_iter().flatten() {
                    if taint["effect"] != "NoSchedule" {
                        continue;
                    }
                    let tolerated = tolerations.iter().any(|t| {
                        (t["effect"].is_null() || t["effect"] == taint["effect"])
                            && (t["key"].is_null() || t["key"] == taint["key"])
                            // Equal (the default) compares values, unset being empty.
                            && (t["operator"] == "Exists"
                                || t["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default())
                    });
                    assert!(tolerated, "{key} bound to {node} despite its taint {taint}");
                }
            }
        }
        for n in nodes["items"].as_array().unwrap() {
            let name = n["metadata"]["name"].as_str().unwrap();
            let alloc = &n["status"]["allocatable"];
            let q = |v: &Value| Quantity::parse(v.as_str().unwrap_or("0")).unwrap();
            let (cpu, mem, count) = used.get(name).copied().unwrap_or_default();
            assert!(cpu <= q(&alloc["cpu"]).millis(), "{name} overcommitted: cpu {cpu}m");
            assert!(mem <= q(&alloc["memory"]).value(), "{name} overcommitted: memory {mem}");
            assert!(count as i128 <= q(&alloc["pods"]).value(), "{name} has {count} pods");
        }
    }

    fn events_for(&mut self, pod: &str) -> Vec<(String, String)> {
        let v = self.json(&format!("kubectl get events --field-selector involvedObject.name={pod} -o json"));
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["reason"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
            .collect()
    }
}

fn pod(name: &str, cpu: &str, extra: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n{extra}  containers:\n  - name: c\n    image: nginx\n    resources: {{requests: {{cpu: '{cpu}'}}}}\nEOF"
    )
}

#[test]
fn a_pod_that_fits_nowhere_gets_the_exact_message_then_runs_on_a_new_node() {
    let mut t = Test::new(NODES, "");
    t.ok(&pod("big", "3", ""));
    t.advance(2_000);
    assert_eq!(t.node_of("big"), "");
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.";
    let events = t.events_for("big");
    assert_eq!(events, [("FailedScheduling".to_string(), expected.to_string())]);
    let p = t.json("kubectl get pod big -o json");
    let cond =
        p["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PodScheduled").unwrap().clone();
    assert_eq!(
        (cond["status"].as_str(), cond["reason"].as_str(), cond["message"].as_str()),
        (Some("False"), Some("Unschedulable"), Some(expected))
    );
    let describe = t.ok("kubectl describe pod big");
    assert!(describe.contains("Warning  FailedScheduling"), "{describe}");
    assert!(describe.contains("default-scheduler"), "{describe}");
    // Nothing changes: the pod stays parked (no new attempt, no new event).
    t.advance(20_000);
    assert_eq!(t.events_for("big").len(), 1);
    // A bigger node joins: NodeAdd moves the pod back and it is bound there.
    t.ok("kubectl apply -f - <<EOF\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-3\nstatus:\n  allocatable: {cpu: '8', memory: 16Gi, pods: '110'}\n  capacity: {cpu: '8', memory: 16Gi, pods: '110'}\nEOF");
    t.advance(2_000);
    assert_eq!(t.node_of("big"), "node-3");
    let events = t.events_for("big");
    assert!(events.contains(&("Scheduled".into(), "Successfully assigned default/big to node-3".into())), "{events:?}");
    let p = t.json("kubectl get pod big -o json");
    let cond =
        p["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PodScheduled").unwrap().clone();
    assert_eq!(cond["status"], "True");
}

#[test]
fn tolerations_node_selectors_and_affinity_steer_pods() {
    let mut t = Test::new(NODES, "");
    // Only a pod that tolerates the control-plane taint and selects it lands there.
    t.ok(&pod(
        "cp",
        "100m",
        "  nodeSelector: {node-role.kubernetes.io/control-plane: ''}\n  tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]\n",
    ));
    t.ok(&pod("zone-b", "100m", "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [b]}]\n"));
    t.ok(&pod("prefers-a", "100m", "  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 50\n        preference:\n          matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a]}]\n"));
    t.ok(&pod("nowhere", "100m", "  nodeSelector: {disk: ssd}\n"));
    t.advance(2_000);
    assert_eq!(t.node_of("cp"), "control-plane");
    assert_eq!(t.node_of("zone-b"), "node-2");
    assert_eq!(t.node_of("prefers-a"), "node-1");
    assert_eq!(t.node_of("nowhere"), "");
    let events = t.events_for("nowhere");
    assert_eq!(
        events[0].1,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // Labelling a node is a NodeLabel event: the pod's rejecting plugin
    // (NodeAffinity) registered it, so the pod is retried and bound.
    t.ok("kubectl label node node-1 disk=ssd");
    t.advance(2_000);
    assert_eq!(t.node_of("nowhere"), "node-1");
    // sim explain: the preferred node won on NodeAffinity, and the totals add up.
    let explain = t.ok("sim explain pod/prefers-a");
    assert!(explain.contains("result: bound to node-1"), "{explain}");
    assert!(explain.contains("control-plane  TaintToleration: node(s) had untolerated taint"), "{explain}");
    assert!(explain.contains("NodeAffinity"), "{explain}");
}

/// Parses `sim explain`'s score table: per node, the weighted cells and the total.
fn score_table(explain: &str) -> BTreeMap<String, (Vec<i64>, i64)> {
    let lines: Vec<&str> = explain.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("Score (raw")).expect("a score table");
    let header: Vec<&str> = lines[start + 1].split_whitespace().skip(1).collect();
    let mut out: BTreeMap<String, (Vec<i64>, i64)> = header.iter().map(|n| (n.to_string(), (Vec::new(), 0))).collect();
    for line in &lines[start + 2..] {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.first() == Some(&"TOTAL") {
            for (n, t) in header.iter().zip(&cells[1..]) {
                out.get_mut(*n).unwrap().1 = t.parse().unwrap();
            }
            break;
        }
        for (n, cell) in header.iter().zip(&cells[1..]) {
            let weighted: i64 = cell.rsplit('=').next().unwrap().parse().unwrap();
            out.get_mut(*n).unwrap().0.push(weighted);
        }
    }
    out
}

#[test]
fn explain_scores_add_up_to_the_choice() {
    let mut t = Test::new(NODES, "");
    t.ok(&pod("first", "1", ""));
    t.advance(2_000);
    t.ok(&pod("second", "500m", ""));
    t.advance(2_000);
    let node = t.node_of("second");
    let explain = t.ok("sim explain pod/second");
    let table = score_table(&explain);
    assert_eq!(table.len(), 2, "{explain}");
    for (n, (cells, total)) in &table {
        assert_eq!(cells.iter().sum::<i64>(), *total, "{n}: {explain}");
    }
    let best = table.values().map(|(_, t)| *t).max().unwrap();
    assert_eq!(table[&node].1, best, "{explain}");
    // LeastAllocated prefers the node without the first pod.
    assert_ne!(node, t.node_of("first"), "{explain}");
    // Unknown pods and bad arguments get clear errors.
    let out = t.run("sim explain pod/nope");
    assert!(!out.ok && out.text.contains("no attempt on record for pod \"default/nope\""), "{}", out.text);
    let out = t.run("sim explain deploy/web");
    assert!(!out.ok && out.text.contains("explains pods"), "{}", out.text);
}

#[test]
fn required_anti_affinity_spreads_replicas_one_per_node() {
    let nodes = "
  - {name: node-1, cpu: '4', memory: 8Gi}
  - {name: node-2, cpu: '4', memory: 8Gi}
  - {name: node-3, cpu: '4', memory: 8Gi}
";
    let mut t = Test::new(nodes, "");
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {tier: web}}\n        topologyKey: kubernetes.io/hostname\n";
    for i in 1..=4 {
        let text =
            pod(&format!("web-{i}"), "100m", anti).replace("labels: {app: web-", "labels: {tier: web, app: web-");
        t.ok(&text);
    }
    t.advance(3_000);
    let placed: BTreeSet<String> = (1..=3).map(|i| t.node_of(&format!("web-{i}"))).collect();
    assert_eq!(placed.len(), 3, "three replicas on three nodes: {placed:?}");
    assert_eq!(t.node_of("web-4"), "");
    assert_eq!(
        t.events_for("web-4")[0].1,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );
    // One replica goes: the parked pod is retried (AssignedPodDelete) and takes its place.
    let freed = t.node_of("web-2");
    t.ok("kubectl delete pod web-2 --grace-period=0 --force");
    t.advance(3_000);
    assert_eq!(t.node_of("web-4"), freed);
}

#[test]
fn topology_spread_keeps_zones_within_max_skew() {
    let nodes = "
  - {name: a-1, cpu: '8', memory: 16Gi, labels: {topology.kubernetes.io/zone: a}}
  - {name: a-2, cpu: '8', memory: 16Gi, labels: {topology.kubernetes.io/zone: a}}
  - {name: b-1, cpu: '8', memory: 16Gi, labels: {topology.kubernetes.io/zone: b}}
";
    let mut t = Test::new(nodes, "");
    let spread = "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: topology.kubernetes.io/zone\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector: {matchLabels: {tier: db}}\n";
    for i in 1..=6 {
        let text = pod(&format!("db-{i}"), "100m", spread).replace("labels: {app: db-", "labels: {tier: db, app: db-");
        t.ok(&text);
        t.advance(1_000);
    }
    let mut per_zone: BTreeMap<char, usize> = BTreeMap::new();
    for i in 1..=6 {
        let node = t.node_of(&format!("db-{i}"));
        assert!(!node.is_empty(), "db-{i} pending");
        *per_zone.entry(node.chars().next().unwrap()).or_default() += 1;
    }
    assert_eq!(per_zone, BTreeMap::from([('a', 3), ('b', 3)]));
    // Zone b's only node is cordoned. It still counts as a domain (cordoning
    // is NodeUnschedulable's business), so one more pod may go to zone a
    // (skew 4 - 3 = 1), but the next would make it 2: Pending, with both
    // reasons counted.
    t.ok("kubectl cordon b-1");
    for i in 7..=8 {
        let text = pod(&format!("db-{i}"), "100m", spread).replace("labels: {app: db-", "labels: {tier: db, app: db-");
        t.ok(&text);
        t.advance(1_000);
    }
    assert!(t.node_of("db-7").starts_with("a-"));
    assert_eq!(t.node_of("db-8"), "");
    assert_eq!(
        t.events_for("db-8")[0].1,
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    );
    // Uncordoning is a NodeTaint event (spec.unschedulable): the pod is retried.
    t.ok("kubectl uncordon b-1");
    t.advance(2_000);
    assert_eq!(t.node_of("db-8"), "b-1");
}

#[test]
fn a_high_priority_pod_preempts_a_low_priority_one() {
    let nodes = "\n  - {name: node-1, cpu: '2', memory: 4Gi}\n";
    let mut t = Test::new(nodes, "");
    t.ok("kubectl apply -f - <<EOF\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\nEOF");
    // busybox's `sleep` runs as PID 1 without a trap and ignores SIGTERM: the
    // victim takes its whole 30 s grace period to go.
    t.ok(&pod("low", "1500m", "").replace("image: nginx", "image: busybox\n    command: [sleep, '3600']"));
    t.advance(2_000);
    assert_eq!(t.node_of("low"), "node-1");
    t.ok(&pod("vip", "1500m", "  priorityClassName: high\n"));
    t.advance(2_000);
    // Nominated, the victim marked and terminating, the event says who preempted it.
    let vip = t.json("kubectl get pod vip -o json");
    assert_eq!(vip["status"]["nominatedNodeName"], "node-1");
    assert_eq!(vip["spec"]["nodeName"], Value::Null);
    let low = t.json("kubectl get pod low -o json");
    assert!(low["metadata"]["deletionTimestamp"].is_string(), "{low}");
    let target = low["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .unwrap()
        .clone();
    assert_eq!(target["reason"], "PreemptionByScheduler");
    assert_eq!(target["message"], "default-scheduler: preempting to accommodate a higher priority pod");
    let uid = vip["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(t.events_for("low").contains(&("Preempted".into(), format!("Preempted by pod {uid} on node node-1"))));
    assert_eq!(t.events_for("vip")[0].1, "0/1 nodes are available: 1 Insufficient cpu.");
    let wide = t.ok("kubectl get pod vip -o wide");
    assert!(wide.contains("node-1"), "NOMINATED NODE column: {wide}");
    // The kubelet finishes the victim's 30 s graceful deletion; the pod then binds.
    t.advance(35_000);
    assert!(!t.ok("kubectl get pods").contains("low"));
    assert_eq!(t.node_of("vip"), "node-1");
}

#[test]
fn pods_that_cannot_preempt_say_why() {
    let nodes = "\n  - {name: node-1, cpu: '2', memory: 4Gi}\n";
    let mut t = Test::new(nodes, "");
    t.ok("kubectl apply -f - <<EOF\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: polite}\nvalue: 1000\npreemptionPolicy: Never\nEOF");
    t.ok(&pod("low", "1500m", ""));
    t.advance(2_000);
    t.ok(&pod("polite", "1500m", "  priorityClassName: polite\n"));
    t.advance(2_000);
    assert_eq!(
        t.events_for("polite")[0].1,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    assert_eq!(t.node_of("low"), "node-1");
}

#[test]
fn scheduling_gates_hold_a_pod_until_removed() {
    let mut t = Test::new(NODES, "");
    t.ok(&pod("gated", "100m", "  schedulingGates: [{name: example.com/wait}]\n"));
    t.advance(2_000);
    assert_eq!(t.node_of("gated"), "");
    assert!(t.events_for("gated").is_empty(), "gated pods get no events");
    assert!(t.ok("kubectl get pod gated").contains("SchedulingGated"));
    let p = t.json("kubectl get pod gated -o json");
    let cond = &p["status"]["conditions"][0];
    assert_eq!((cond["reason"].as_str(), cond["status"].as_str()), (Some("SchedulingGated"), Some("False")));
    assert!(cond["lastTransitionTime"].is_string(), "{cond}");
    // Gates can only be removed.
    let out = t.run("kubectl patch pod gated --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/schedulingGates/-\",\"value\":{\"name\":\"more\"}}]'");
    assert!(
        !out.ok && out.text.contains("only deletion is allowed, but found new scheduling gate 'more'"),
        "{}",
        out.text
    );
    t.ok("kubectl patch pod gated --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/schedulingGates\"}]'");
    t.advance(2_000);
    assert_ne!(t.node_of("gated"), "");
}

#[test]
fn a_scheduler_configuration_changes_the_scoring() {
    let config = "
  scheduler:
    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    profiles:
    - schedulerName: default-scheduler
      pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]
    - schedulerName: spread-scheduler
";
    let mut t = Test::new(NODES, config);
    // Bin packing: the second pod joins the first one's node.
    t.ok(&pod("first", "1", ""));
    t.advance(2_000);
    t.ok(&pod("second", "500m", ""));
    t.advance(2_000);
    assert_eq!(t.node_of("second"), t.node_of("first"));
    // A pod for an unknown scheduler is left alone; one for the second profile is scheduled.
    t.ok(&pod("other", "100m", "  schedulerName: nobody\n"));
    t.ok(&pod("spread", "100m", "  schedulerName: spread-scheduler\n"));
    t.advance(2_000);
    assert_eq!(t.node_of("other"), "");
    assert!(t.events_for("other").is_empty());
    assert_ne!(t.node_of("spread"), "");
    // An invalid configuration is refused with kube-scheduler's words.
    let bad = "\n  scheduler:\n    profiles:\n    - plugins:\n        score:\n          enabled: [{name: NodeName}]\n";
    let yaml = format!(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: bad}}\nspec:\n  nodes:{NODES}{bad}"
    );
    let err = Scenario::from_yaml(&yaml, "test").err().unwrap();
    assert_eq!(
        err.message,
        "spec.scheduler: initializing profiles: creating profile for scheduler name default-scheduler: plugin \"NodeName\" does not extend ScorePlugin plugin"
    );
}

#[test]
fn the_scheduler_recovers_after_a_restart() {
    let mut t = Test::new(NODES, "");
    t.ok("sim kill kube-scheduler");
    t.ok(&pod("while-down", "100m", ""));
    t.advance(2_000);
    assert_eq!(t.node_of("while-down"), "");
    t.ok("sim start kube-scheduler");
    t.advance(3_000);
    assert_ne!(t.node_of("while-down"), "");
}

#[test]
fn repeated_failures_count_up_an_event_series_like_client_go() {
    let mut t = Test::new(NODES, "");
    t.ok(&pod("picky", "100m", "  nodeSelector: {disk: ssd}\n"));
    t.advance(2_000);
    // Each label change retries the pod (NodeAffinity registered NodeLabel);
    // its own status patch does not (a status-only change).
    t.ok("kubectl label node node-1 foo=bar");
    t.advance(2_000);
    t.ok("kubectl label node node-2 foo=bar");
    t.advance(2_000);
    // client-go's events key on the regarded object with its
    // resourceVersion: the first failure's status patch changes it, so the
    // second failure starts a new event, which the third turns into a series.
    let v = t.json("kubectl get events --field-selector involvedObject.name=picky -o json");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert!(items[0]["series"].is_null(), "{v}");
    assert_eq!(items[1]["series"]["count"], 2);
    assert_eq!(items[1]["reportingComponent"], "default-scheduler");
    assert_eq!(items[1]["reportingInstance"], "default-scheduler-kscope-control-plane");
    let describe = t.ok("kubectl describe pod picky");
    assert!(describe.contains("(x2 over "), "{describe}");
    // Later failures (this one, and the retries every 5 minutes of a pod
    // left unschedulable) are counted in memory and written back with the
    // 30-minute refresh.
    t.ok("kubectl label node node-1 foo=baz --overwrite");
    t.advance(6_000);
    let v = t.json("kubectl get events --field-selector involvedObject.name=picky -o json");
    assert_eq!(v["items"][1]["series"]["count"], 2);
    t.c.advance(Duration::from_secs(31 * 60)).unwrap();
    let v = t.json("kubectl get events --field-selector involvedObject.name=picky -o json");
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["items"][1]["series"]["count"].as_i64().unwrap() >= 8, "{v}");
}
