//! The control plane as a kubeadm cluster shows it: control-plane nodes
//! (one per etcd member, tainted and labelled as kubeadm marks them) whose
//! kubelets run etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler as static pods, with mirror pods in kube-system that
//! follow the simulated components: `sim kill etcd-2` shows as a dying
//! container, `sim restart etcd-2` as Running again. A deleted mirror pod is
//! recreated; workloads stay off the control-plane nodes; `controlPlane:
//! {mode: managed}` hides it all. `sim add node` / `sim remove node` bring
//! workers in and out.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

struct Test {
    c: Cluster,
}

impl Test {
    fn new() -> Test {
        Test::with(Scenario::default())
    }

    fn with(scenario: Scenario) -> Test {
        let mut c = Cluster::new(scenario).unwrap();
        c.advance(Duration::from_secs(20)).unwrap();
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

    /// `kubectl get pods -n kube-system` rows as (name, ready, status, restarts).
    fn system_pods(&mut self) -> Vec<(String, String, String, String)> {
        let text = self.ok("kubectl get pods -n kube-system");
        text.lines()
            .skip(1)
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w[0].to_string(), w[1].to_string(), w[2].to_string(), w[3].to_string())
            })
            .collect()
    }

    fn system_pod(&mut self, name: &str) -> (String, String, String, String) {
        self.system_pods().into_iter().find(|p| p.0 == name).unwrap_or_else(|| panic!("no pod {name}"))
    }
}

const STATIC_PODS: [&str; 6] = [
    "etcd-control-plane",
    "etcd-control-plane2",
    "etcd-control-plane3",
    "kube-apiserver-control-plane",
    "kube-controller-manager-control-plane",
    "kube-scheduler-control-plane",
];

#[test]
fn the_default_cluster_lists_its_control_plane_like_kubeadm() {
    let mut t = Test::new();
    let nodes = t.ok("kubectl get nodes");
    let lines: Vec<&str> = nodes.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    for (line, name) in lines[1..4].iter().zip(["control-plane", "control-plane2", "control-plane3"]) {
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&w[..3], [name, "Ready", "control-plane"], "{nodes}");
    }
    for line in &lines[4..] {
        assert_eq!(line.split_whitespace().nth(2), Some("<none>"), "{nodes}");
    }
    let pods = t.system_pods();
    for name in STATIC_PODS {
        let pod = pods.iter().find(|p| p.0 == name).unwrap_or_else(|| panic!("{name} missing: {pods:?}"));
        assert_eq!((pod.1.as_str(), pod.2.as_str(), pod.3.as_str()), ("1/1", "Running", "0"), "{name}");
    }
    // The mirror pod as a kubelet writes it: the config annotations, owned
    // by its Node, host network, the node's IP, no service account.
    let pod = t.json("kubectl get pod etcd-control-plane2 -n kube-system -o json");
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["kubernetes.io/config.source"], "file");
    assert_eq!(annotations["kubernetes.io/config.mirror"], annotations["kubernetes.io/config.hash"]);
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], "control-plane2");
    assert_eq!(pod["metadata"]["labels"]["component"], "etcd");
    assert_eq!(pod["metadata"]["labels"]["tier"], "control-plane");
    assert_eq!(pod["spec"]["hostNetwork"], true);
    assert_eq!(pod["spec"]["priorityClassName"], "system-node-critical");
    assert!(pod["spec"].get("serviceAccountName").is_none(), "{}", pod["spec"]);
    let node = t.json("kubectl get node control-plane2 -o json");
    assert_eq!(pod["status"]["podIP"], node["status"]["addresses"][0]["address"]);
    let scheduled = pod["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "PodScheduled");
    assert!(scheduled, "{}", pod["status"]);
    // kubeadm's marks on the node.
    assert_eq!(node["spec"]["taints"][0]["key"], "node-role.kubernetes.io/control-plane");
    assert_eq!(node["spec"]["taints"][0]["effect"], "NoSchedule");
    assert!(node["metadata"]["labels"].get("node-role.kubernetes.io/control-plane").is_some());
}

#[test]
fn a_killed_etcd_member_shows_in_its_mirror_pod_and_recovers() {
    let mut t = Test::new();
    t.ok("sim kill etcd-2");
    t.secs(3);
    let (_, ready, status, restarts) = t.system_pod("etcd-control-plane2");
    assert_eq!(ready, "0/1");
    assert!(status == "CrashLoopBackOff" || status == "Error", "{status}");
    assert_ne!(restarts, "0");
    t.secs(60);
    let (_, ready, status, restarts) = t.system_pod("etcd-control-plane2");
    assert_eq!((ready.as_str(), status.as_str()), ("0/1", "CrashLoopBackOff"));
    let restarts: u32 = restarts.split_whitespace().next().unwrap().parse().unwrap();
    assert!(restarts >= 3, "back-off restarts while it keeps dying: {restarts}");
    let pod = t.json("kubectl get pod etcd-control-plane2 -n kube-system -o json");
    let last = &pod["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!((last["reason"].as_str(), last["exitCode"].as_i64()), (Some("Error"), Some(137)));
    // The other members are untouched.
    assert_eq!(t.system_pod("etcd-control-plane").1, "1/1");
    t.ok("sim restart etcd-2");
    t.secs(3);
    let (_, ready, status, _) = t.system_pod("etcd-control-plane2");
    assert_eq!((ready.as_str(), status.as_str()), ("1/1", "Running"));
}

#[test]
fn restarting_a_component_counts_a_restart() {
    let mut t = Test::new();
    t.ok("sim restart kube-scheduler");
    t.secs(3);
    let (_, ready, status, restarts) = t.system_pod("kube-scheduler-control-plane");
    assert_eq!((ready.as_str(), status.as_str()), ("1/1", "Running"));
    assert!(restarts.starts_with('1'), "{restarts}");
}

#[test]
fn a_deleted_mirror_pod_comes_back_and_the_static_pod_runs_on() {
    let mut t = Test::new();
    let before = t.json("kubectl get pod kube-scheduler-control-plane -n kube-system -o json");
    let out = t.ok("kubectl delete pod kube-scheduler-control-plane -n kube-system");
    assert_eq!(out, "pod \"kube-scheduler-control-plane\" deleted\n");
    t.secs(3);
    let after = t.json("kubectl get pod kube-scheduler-control-plane -n kube-system -o json");
    assert_ne!(before["metadata"]["uid"], after["metadata"]["uid"]);
    assert_eq!(after["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(after["status"]["phase"], "Running");
    // The scheduler itself never stopped: it still binds pods.
    t.ok("kubectl create deployment web --image=nginx --replicas=2");
    t.secs(10);
    let pods = t.ok("kubectl get pods");
    assert_eq!(pods.matches("Running").count(), 2, "{pods}");
}

#[test]
fn workloads_stay_off_the_control_plane_nodes() {
    let mut t = Test::new();
    t.ok("kubectl create deployment web --image=nginx --replicas=9");
    t.secs(15);
    let pods = t.json("kubectl get pods -o json");
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    for p in items {
        let node = p["spec"]["nodeName"].as_str().unwrap();
        assert!(node.starts_with("node-"), "{} landed on {node}", p["metadata"]["name"]);
    }
    // The control plane's requests count on its node.
    let described = t.ok("kubectl describe node control-plane");
    // 100m etcd + 250m apiserver + 200m kcm + 100m scheduler + 5m kube-addon-manager.
    assert!(described.contains("cpu                655m (16%)"), "{described}");
}

#[test]
fn a_dead_control_plane_kubelet_leaves_etcd_running_and_its_node_unknown() {
    let mut t = Test::new();
    t.ok("sim kill kubelet/control-plane3");
    t.secs(70);
    let nodes = t.ok("kubectl get nodes");
    assert!(nodes.lines().any(|l| l.starts_with("control-plane3 ") && l.contains("NotReady")), "{nodes}");
    // etcd-3 runs on: its member still answers.
    let health = t.ok("etcdctl endpoint health --endpoints etcd-3");
    assert!(health.contains("is healthy"), "{health}");
    // The node lifecycle controller marked the mirror pod not ready (the
    // READY column, counted from container statuses, still says 1/1, as
    // on a real cluster).
    let ready = |t: &mut Test| {
        let pod = t.json("kubectl get pod etcd-control-plane3 -n kube-system -o json");
        let c = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
        c["status"].as_str().unwrap().to_string()
    };
    assert_eq!(ready(&mut t), "False");
    t.ok("sim restart kubelet/control-plane3");
    t.secs(20);
    assert_eq!(ready(&mut t), "True");
}

#[test]
fn a_managed_control_plane_shows_no_nodes_or_pods_of_its_own() {
    let scenario = Scenario::from_yaml(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  controlPlane:\n    mode: managed\n",
        "managed.yaml",
    )
    .unwrap();
    let mut t = Test::with(scenario);
    let nodes = t.ok("kubectl get nodes");
    assert_eq!(nodes.lines().count(), 4, "{nodes}");
    assert!(!nodes.contains("control-plane"), "{nodes}");
    let pods = t.system_pods();
    assert!(pods.iter().all(|p| !STATIC_PODS.contains(&p.0.as_str())), "{pods:?}");
    // etcd and the rest run all the same.
    let health = t.ok("etcdctl endpoint health --endpoints etcd-2");
    assert!(health.contains("is healthy"), "{health}");
}

#[test]
fn a_worker_named_like_a_control_plane_node_is_refused() {
    let e = Scenario::from_yaml(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes:\n  - name: control-plane\n",
        "clash.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("spec.nodes[0].name: Invalid value: \"control-plane\""), "{e}");
}

#[test]
fn nodes_join_and_leave() {
    let mut t = Test::new();
    let out = t.ok("sim add node node-4 --cpu 2 --memory 4Gi --labels zone=b");
    assert!(
        out.starts_with("node node-4 (172.18.0.8, pod CIDR 10.244.6.0/24) is joining: kubelet/node-4 started"),
        "{out}"
    );
    t.secs(5);
    let node = t.json("kubectl get node node-4 -o json");
    assert_eq!(node["metadata"]["labels"]["zone"], "b");
    assert_eq!(node["status"]["allocatable"]["cpu"], "2");
    let ready = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "True");
    let lease = t.ok("kubectl get lease node-4 -n kube-node-lease");
    assert!(lease.contains("node-4"), "{lease}");
    // Work lands on it.
    t.ok("kubectl create deployment web --image=nginx --replicas=8");
    t.secs(15);
    let pods = t.json("kubectl get pods -o json");
    let on = |pods: &Value, node: &str| {
        pods["items"].as_array().unwrap().iter().filter(|p| p["spec"]["nodeName"] == node).count()
    };
    assert!(on(&pods, "node-4") > 0, "no pod on the new node");
    // The kube-proxy DaemonSet gave it a pod, whose container programs the
    // node's Service rules: a Service answers from node-4.
    let proxies = t.json("kubectl get pods -n kube-system -l k8s-app=kube-proxy -o json");
    let mine: Vec<&Value> =
        proxies["items"].as_array().unwrap().iter().filter(|p| p["spec"]["nodeName"] == "node-4").collect();
    assert_eq!(mine.len(), 1, "{proxies}");
    assert_eq!(mine[0]["status"]["phase"], "Running");
    t.ok("kubectl expose deployment web --port=80");
    t.secs(2);
    let ip = t.json("kubectl get svc web -o json")["spec"]["clusterIP"].as_str().unwrap().to_string();
    let answer = t.ok(&format!("sim curl node-4 http://{ip}"));
    assert!(answer.contains("Welcome to nginx!"), "{answer}");
    // Removal drains it: its pods are replaced elsewhere and the Node is gone.
    let out = t.ok("sim remove node node-4");
    assert!(out.starts_with("node/node-4 cordoned\n"), "{out}");
    assert!(out.contains("node/node-4 drained\n"), "{out}");
    assert!(out.ends_with("kubelet/node-4 and kube-proxy/node-4 shut down\nnode \"node-4\" deleted\n"), "{out}");
    t.secs(15);
    let nodes = t.ok("kubectl get nodes");
    assert!(!nodes.contains("node-4"), "{nodes}");
    let pods = t.json("kubectl get pods -o json");
    assert_eq!(on(&pods, "node-4"), 0);
    let running = pods["items"].as_array().unwrap().iter().filter(|p| p["status"]["phase"] == "Running").count();
    assert_eq!(running, 8);
    let status = t.ok("sim status");
    assert!(!status.contains("kubelet/node-4"), "{status}");
}

#[test]
fn node_commands_check_their_arguments() {
    let mut t = Test::new();
    for (line, error) in [
        ("sim add node", "error: \"sim add node\" requires 1 argument: the node's name\n"),
        ("sim add pod x", "error: unknown command \"pod\" for \"sim add\" (only nodes: sim add node NAME)\n"),
        ("sim add node Bad_Name", "error: invalid node name \"Bad_Name\": must be a lowercase RFC 1123 subdomain\n"),
        ("sim add node node-1", "error: node \"node-1\" already exists\n"),
        ("sim add node n --cpu lots", ""),
        ("sim add node n --gpu 1", "error: unknown flag: --gpu\n"),
        ("sim remove node nope", "error: node \"nope\" not found\n"),
        (
            "sim remove node control-plane2",
            "error: node \"control-plane2\" is a control-plane node: its static pods run etcd and the control plane (kill them with sim kill)\n",
        ),
    ] {
        let out = t.c.exec(line);
        assert!(!out.ok, "{line} succeeded");
        if error.is_empty() {
            assert!(out.text.starts_with("error: invalid argument \"lots\" for \"--cpu\" flag"), "{}", out.text);
        } else {
            assert_eq!(out.text, error, "{line}");
        }
    }
    // Nothing changed.
    let nodes = t.ok("kubectl get nodes");
    assert_eq!(nodes.lines().count(), 7, "{nodes}");
}
