//! kube-addon-manager and the add-ons it keeps: a fresh default cluster's
//! kube-system lists what kubeadm's lists (the control plane's mirror pods,
//! two coredns pods, one kube-proxy per node, the DaemonSet, the Deployment,
//! the kube-dns Service); the
//! `addonmanager.kubernetes.io/mode` label works as in kube-addons.sh within
//! one 60 s interval (Reconcile objects recreated, edits reverted, strays
//! pruned; EnsureExists objects recreated but never changed); and the add-ons
//! drive the data path: a node without a running kube-proxy container has no
//! Service rules, and with no coredns pod `nslookup` times out.

use kscope_core::duration::Duration;
use kscope_core::trace::TraceKind;
use kscope_core::{Cluster, Scenario};

mod common;
use common::{json, ok, run};

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.simulation_mut().trace_mut().set_recording(true);
    c.advance(Duration::from_secs(30)).unwrap();
    c
}

/// What kube-addon-manager recorded in the trace since the last call.
fn actions(c: &mut Cluster) -> Vec<String> {
    c.simulation_mut()
        .trace_mut()
        .drain()
        .into_iter()
        .filter_map(|e| match e.what {
            TraceKind::State { change, .. } => change.strip_prefix("kube-addon-manager: ").map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The rows of a table without their AGE column (the last one).
fn rows(table: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| {
            let mut words: Vec<&str> = l.split_whitespace().collect();
            if words.last().is_some_and(|w| *w == "AGE" || w.ends_with('s') || w.ends_with('m')) {
                words.pop();
            }
            words.join(" ")
        })
        .collect()
}

/// A name made of `prefix` and `len` characters of the apiserver's random suffix alphabet.
fn named(name: &str, prefix: &str, len: usize) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == len && rest.chars().all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)))
}

#[test]
fn a_fresh_cluster_lists_kubeadms_kube_system() {
    let mut c = cluster();
    let pods = ok(&mut c, "kubectl get pods -n kube-system");
    let lines: Vec<&str> = pods.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let dns: Vec<&str> = lines[1..].iter().copied().filter(|l| l.starts_with("coredns-")).collect();
    let proxy: Vec<&str> = lines[1..].iter().copied().filter(|l| l.starts_with("kube-proxy-")).collect();
    let mut static_pods: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|n| !n.starts_with("coredns-") && !n.starts_with("kube-proxy-"))
        .collect();
    static_pods.sort();
    assert_eq!(dns.len(), 2, "{pods}");
    // One kube-proxy per node: the three control-plane nodes and the three workers.
    assert_eq!(proxy.len(), 6, "{pods}");
    // The mirror pods of the kubelets' static pods: stacked etcd on every
    // control-plane node, the rest on the first one.
    assert_eq!(
        static_pods,
        [
            "etcd-control-plane",
            "etcd-control-plane2",
            "etcd-control-plane3",
            "kube-addon-manager-control-plane",
            "kube-apiserver-control-plane",
            "kube-controller-manager-control-plane",
            "kube-scheduler-control-plane",
        ],
        "{pods}"
    );
    for row in lines[1..].iter() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1..4], ["1/1", "Running", "0"], "{pods}");
    }
    for row in &dns {
        // coredns-<pod-template-hash>-<5 random characters>.
        let name = row.split_whitespace().next().unwrap();
        let (rs, suffix) = name.rsplit_once('-').unwrap();
        assert!(rs.starts_with("coredns-") && named(suffix, "", 5), "{name}");
    }
    for row in &proxy {
        assert!(named(row.split_whitespace().next().unwrap(), "kube-proxy-", 5), "{row}");
    }
    // kube-proxy runs on the host network, one pod per node.
    let wide = json(&mut c, "kubectl get pods -n kube-system -l k8s-app=kube-proxy -o json");
    let mut placed: Vec<(String, String)> = wide["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["spec"]["nodeName"].as_str().unwrap().into(), p["status"]["podIP"].as_str().unwrap().into()))
        .collect();
    placed.sort();
    assert_eq!(
        placed,
        [
            ("control-plane", "172.18.0.2"),
            ("control-plane2", "172.18.0.6"),
            ("control-plane3", "172.18.0.7"),
            ("node-1", "172.18.0.3"),
            ("node-2", "172.18.0.4"),
            ("node-3", "172.18.0.5"),
        ]
        .map(|(n, ip)| (n.to_string(), ip.to_string()))
    );

    let table = ok(&mut c, "kubectl get ds,deploy,svc -n kube-system");
    assert_eq!(
        rows(&table),
        [
            "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR",
            "daemonset.apps/kube-proxy 6 6 6 6 6 kubernetes.io/os=linux",
            "",
            "NAME READY UP-TO-DATE AVAILABLE",
            "deployment.apps/coredns 2/2 2 2",
            "",
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S)",
            "service/kube-dns ClusterIP 10.96.0.10 <none> 53/UDP,53/TCP,9153/TCP",
        ],
        "{table}"
    );
    // The kube-dns Endpoints list the ready coredns pods.
    let ep = json(&mut c, "kubectl get endpoints kube-dns -n kube-system -o json");
    let mut ips: Vec<&str> =
        ep["subsets"][0]["addresses"].as_array().unwrap().iter().map(|a| a["ip"].as_str().unwrap()).collect();
    ips.sort();
    let dns_pods = json(&mut c, "kubectl get pods -n kube-system -l k8s-app=kube-dns -o json");
    let mut pod_ips: Vec<&str> =
        dns_pods["items"].as_array().unwrap().iter().map(|p| p["status"]["podIP"].as_str().unwrap()).collect();
    pod_ips.sort();
    assert_eq!(ips, pod_ips);
}

#[test]
fn the_first_pass_creates_every_add_on_object_in_kubectls_words() {
    let mut c = cluster();
    let done = actions(&mut c);
    assert_eq!(
        done,
        [
            "found the default service account in kube-system",
            "clusterrolebinding.rbac.authorization.k8s.io/system:coredns created",
            "configmap/coredns created",
            "configmap/kube-proxy created",
            "serviceaccount/coredns created",
            "clusterrole.rbac.authorization.k8s.io/system:coredns created",
            "deployment.apps/coredns created",
            "service/kube-dns created",
            "serviceaccount/kube-proxy created",
            "clusterrolebinding.rbac.authorization.k8s.io/kubeadm:node-proxier created",
            "role.rbac.authorization.k8s.io/kube-proxy created",
            "rolebinding.rbac.authorization.k8s.io/kube-proxy created",
            "daemonset.apps/kube-proxy created",
        ]
    );
    // Later passes find nothing to do.
    c.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(actions(&mut c), Vec::<String>::new());
}

#[test]
fn a_deleted_reconcile_object_is_recreated_within_the_interval() {
    let mut c = cluster();
    ok(&mut c, "kubectl delete deployment coredns -n kube-system");
    c.advance(Duration::from_secs(5)).unwrap();
    assert!(!run(&mut c, "kubectl get deployment coredns -n kube-system").ok);
    actions(&mut c);
    c.advance(Duration::from_secs(55)).unwrap();
    assert_eq!(actions(&mut c), ["deployment.apps/coredns created"]);
    c.advance(Duration::from_secs(10)).unwrap();
    let deploy = ok(&mut c, "kubectl get deployment coredns -n kube-system");
    assert!(deploy.contains("coredns   2/2"), "{deploy}");
}

#[test]
fn an_edited_reconcile_object_is_reverted() {
    let mut c = cluster();
    ok(&mut c, "kubectl scale deployment coredns -n kube-system --replicas=4");
    ok(&mut c, "kubectl set image daemonset/kube-proxy -n kube-system kube-proxy=registry.k8s.io/kube-proxy:v1.32.1");
    actions(&mut c);
    c.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(actions(&mut c), ["deployment.apps/coredns configured", "daemonset.apps/kube-proxy configured"]);
    let d = json(&mut c, "kubectl get deployment coredns -n kube-system -o json");
    assert_eq!(d["spec"]["replicas"], 2);
    let ds = json(&mut c, "kubectl get daemonset kube-proxy -n kube-system -o json");
    assert_eq!(ds["spec"]["template"]["spec"]["containers"][0]["image"], "registry.k8s.io/kube-proxy:v1.32.0");
}

#[test]
fn an_ensure_exists_object_is_left_alone_once_it_exists() {
    let mut c = cluster();
    ok(&mut c, r#"kubectl patch configmap coredns -n kube-system --type merge -p '{"data":{"Corefile":".:53 {}"}}'"#);
    actions(&mut c);
    c.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(actions(&mut c), Vec::<String>::new());
    let cm = json(&mut c, "kubectl get configmap coredns -n kube-system -o json");
    assert_eq!(cm["data"]["Corefile"], ".:53 {}");
    // Deleted, it is created again as the manifest has it.
    ok(&mut c, "kubectl delete configmap coredns -n kube-system");
    c.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(actions(&mut c), ["configmap/coredns created"]);
    let cm = json(&mut c, "kubectl get configmap coredns -n kube-system -o json");
    assert!(cm["data"]["Corefile"].as_str().unwrap().contains("kubernetes cluster.local in-addr.arpa ip6.arpa"));
}

#[test]
fn a_reconcile_object_no_longer_in_the_manifests_is_pruned() {
    let mut c = cluster();
    // Applied with the Reconcile label, as if from an add-on manifest since removed.
    ok(
        &mut c,
        "kubectl apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: retired-addon
  namespace: kube-system
  labels: {addonmanager.kubernetes.io/mode: Reconcile}
data: {a: b}
EOF",
    );
    // Without the label, or created without the last-applied annotation, nothing is pruned.
    ok(&mut c, "kubectl create configmap hand-made -n kube-system --from-literal=a=b");
    ok(&mut c, "kubectl label configmap hand-made -n kube-system addonmanager.kubernetes.io/mode=Reconcile");
    actions(&mut c);
    c.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(actions(&mut c), ["configmap/retired-addon pruned"]);
    assert!(!run(&mut c, "kubectl get configmap retired-addon -n kube-system").ok);
    ok(&mut c, "kubectl get configmap hand-made -n kube-system");
}

#[test]
fn a_scenarios_own_add_ons_replace_the_defaults() {
    let mut scenario = Scenario::default();
    scenario.spec.addons = Some(vec!["apiVersion: v1
kind: ConfigMap
metadata:
  name: course-settings
  namespace: kube-system
  labels: {addonmanager.kubernetes.io/mode: EnsureExists}
data: {level: beginner}
---
apiVersion: v1
kind: Namespace
metadata:
  name: lab
  labels: {addonmanager.kubernetes.io/mode: Reconcile}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored, namespace: lab}
"
    .to_string()]);
    let mut c = Cluster::new(scenario).unwrap();
    c.advance(Duration::from_secs(10)).unwrap();
    ok(&mut c, "kubectl get configmap course-settings -n kube-system");
    ok(&mut c, "kubectl get namespace lab");
    // Objects without the mode label are not the addon manager's.
    assert!(!run(&mut c, "kubectl get configmap ignored -n lab").ok);
    // No CoreDNS and no kube-proxy add-on: kube-system holds only the
    // control plane's mirror pods.
    let pods = ok(&mut c, "kubectl get pods -n kube-system");
    assert_eq!(pods.lines().count(), 8, "{pods}");
    assert!(!pods.contains("coredns-") && !pods.contains("kube-proxy-"), "{pods}");
    assert_eq!(ok(&mut c, "kubectl get ds,deploy -n kube-system"), "No resources found in kube-system namespace.\n");
}

#[test]
fn a_bad_add_on_manifest_is_refused_with_its_place() {
    let mut scenario = Scenario::default();
    scenario.spec.addons = Some(vec!["apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n".into()]);
    let e = Cluster::new(scenario).err().unwrap();
    assert!(e.starts_with("spec.addons[0]: resource mapping not found for name: \"g\""), "{e}");
}

#[test]
fn a_node_without_its_kube_proxy_container_serves_no_service_traffic() {
    let mut c = cluster();
    ok(&mut c, "kubectl create deployment web --image=nginx --replicas=2");
    ok(&mut c, "kubectl expose deployment web --port=80");
    c.advance(Duration::from_secs(10)).unwrap();
    let ip = json(&mut c, "kubectl get svc web -o json")["spec"]["clusterIP"].as_str().unwrap().to_string();
    let url = format!("sim curl node-1 http://{ip}");
    assert!(ok(&mut c, &url).contains("Welcome to nginx!"));
    // The process in the kube-proxy pod's container dies: node-1 has no rules.
    ok(&mut c, "sim kill kube-proxy/node-1");
    let out = run(&mut c, &url);
    assert!(!out.ok && out.text.contains("Couldn't connect to server"), "{}", out.text);
    // The kubelet restarts the container, and kube-proxy writes the rules again.
    c.advance(Duration::from_secs(2)).unwrap();
    assert!(ok(&mut c, &url).contains("Welcome to nginx!"));
    let pod = json(
        &mut c,
        "kubectl get pods -n kube-system -l k8s-app=kube-proxy --field-selector spec.nodeName=node-1 -o json",
    );
    let status = &pod["items"][0]["status"]["containerStatuses"][0];
    assert_eq!(status["restartCount"], 1);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
    // Other nodes never lost theirs.
    assert!(ok(&mut c, &format!("sim curl node-2 http://{ip}")).contains("Welcome to nginx!"));
}

#[test]
fn nslookup_times_out_without_a_ready_coredns_pod() {
    let mut c = cluster();
    ok(&mut c, "kubectl run client --image=busybox -- sleep 3600");
    c.advance(Duration::from_secs(5)).unwrap();
    assert!(ok(&mut c, "sim nslookup client kubernetes.default").contains("Address: 10.96.0.1"));
    ok(&mut c, "kubectl scale deployment coredns -n kube-system --replicas=0");
    c.advance(Duration::from_secs(5)).unwrap();
    let ep = json(&mut c, "kubectl get endpoints kube-dns -n kube-system -o json");
    assert!(ep.get("subsets").is_none_or(|s| s.as_array().is_none_or(Vec::is_empty)), "{ep}");
    let out = run(&mut c, "sim nslookup client kubernetes.default");
    assert!(!out.ok);
    assert_eq!(out.text, ";; connection timed out; no servers could be reached\n\n");
    let curl = run(&mut c, "sim curl client http://kubernetes.default");
    assert_eq!(curl.text, "curl: (6) Could not resolve host: kubernetes.default\n");
    // The addon manager puts the replicas back; DNS answers again.
    c.advance(Duration::from_secs(60)).unwrap();
    assert!(ok(&mut c, "sim nslookup client kubernetes.default").contains("Address: 10.96.0.1"));
}
