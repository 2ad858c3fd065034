//! The simulated network and the driver under faults: partitions cut messages
//! (and the components see it), killed components drop what they are sent and
//! resume on start, and the kubelets' level-triggered lease loop recovers.

use kscope_core::duration::Duration;
use kscope_core::trace::TraceKind;
use kscope_core::{Cluster, Scenario};
use kscope_protocol::Fate;

fn detail(cluster: &Cluster, id: &str, key: &str) -> String {
    let (components, _, _) = cluster.view();
    let c = components.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no component {id}"));
    c.details.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no detail {key}")).1.clone()
}

/// How many keys etcd holds under `prefix` (asked with etcdctl, as an operator would).
fn stored(cluster: &mut Cluster, prefix: &str) -> usize {
    let out = cluster.exec(&format!("etcdctl get {prefix} --prefix --keys-only"));
    assert!(out.ok, "{}", out.text);
    out.text.lines().filter(|l| !l.is_empty()).count()
}

fn default_cluster() -> Cluster {
    Cluster::new(Scenario::default()).unwrap()
}

#[test]
fn kubelets_register_and_renew_their_lease_every_10s() {
    let mut cluster = default_cluster();
    cluster.advance(Duration::from_secs(3)).unwrap();
    assert_eq!(detail(&cluster, "kubelet/node-1", "registered"), "yes");
    // Three control-plane nodes and three workers.
    assert_eq!(stored(&mut cluster, "/registry/minions/"), 6);
    assert_eq!(stored(&mut cluster, "/registry/leases/kube-node-lease/"), 6);
    cluster.advance(Duration::from_secs(60)).unwrap();
    // Renewals at 10s, 20s, ..., 60s.
    assert_eq!(detail(&cluster, "kubelet/node-2", "lease renewals"), "6");
}

#[test]
fn partition_cuts_the_kubelet_off_and_heal_lets_it_renew_again() {
    let mut cluster = default_cluster();
    cluster.simulation_mut().trace_mut().set_recording(true);
    cluster.advance(Duration::from_secs(5)).unwrap();
    assert!(cluster.exec("sim partition kubelet/node-1").ok);
    cluster.advance(Duration::from_secs(30)).unwrap();
    assert_eq!(detail(&cluster, "kubelet/node-1", "lease renewals"), "0");
    assert_eq!(detail(&cluster, "kubelet/node-2", "lease renewals"), "3");
    let cut = cluster
        .simulation_mut()
        .trace_mut()
        .drain()
        .into_iter()
        .filter(|e| matches!(&e.what, TraceKind::Send { from, fate: Fate::Partitioned, .. } if from.to_string() == "kubelet/node-1"))
        .count();
    assert_eq!(cut, 6, "the 10s, 20s and 30s renewals and node status reads are cut");
    assert!(cluster.exec("sim heal").ok);
    cluster.advance(Duration::from_secs(10)).unwrap();
    assert_eq!(detail(&cluster, "kubelet/node-1", "lease renewals"), "1");
}

#[test]
fn killed_apiserver_drops_requests_and_loses_its_memory_on_start() {
    let mut cluster = default_cluster();
    cluster.advance(Duration::from_secs(3)).unwrap();
    assert_eq!(cluster.exec("sim kill kube-apiserver").text, "kube-apiserver stopped\n");
    assert_eq!(cluster.exec("sim kill kube-apiserver").text, "kube-apiserver is already stopped\n");
    cluster.advance(Duration::from_secs(10)).unwrap();
    assert!(cluster.simulation().stats().dropped_down >= 3);
    assert_eq!(detail(&cluster, "kubelet/node-1", "lease renewals"), "0");
    assert!(cluster.exec("sim start kube-apiserver").ok);
    // The objects live in etcd: the restarted apiserver lists them into its
    // cache again and the renewals go through.
    cluster.advance(Duration::from_secs(30)).unwrap();
    // The bootstrap objects (namespaces, the kubernetes Service with its
    // Endpoints and EndpointSlice, roles, bindings, priority classes), the
    // six nodes and their leases, each namespace's `default` ServiceAccount
    // and `kube-root-ca.crt` ConfigMap, the node lifecycle controller's
    // RegisteredNode events, the control plane's mirror pods, and what the
    // addon manager's first pass made: its add-on objects, the kube-dns
    // Endpoints and EndpointSlice, the coredns ReplicaSet, the kube-proxy
    // ControllerRevision, the add-on pods and their first events.
    assert_eq!(detail(&cluster, "kube-apiserver", "cached objects"), "119");
    assert_eq!(detail(&cluster, "kubelet/node-1", "lease renewals"), "3");
}

#[test]
fn lossy_network_still_converges() {
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {network: {loss: 0.3}}\n";
    let mut cluster = Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap();
    cluster.advance(Duration::from_secs(120)).unwrap();
    let stats = cluster.simulation().stats();
    assert!(stats.lost > 0);
    for node in ["node-1", "node-2", "node-3"] {
        assert_eq!(detail(&cluster, &format!("kubelet/{node}"), "registered"), "yes");
    }
    cluster.exec("sim network --loss 0");
    assert_eq!(stored(&mut cluster, "/registry/leases/kube-node-lease/"), 6);
}

#[test]
fn unknown_components_and_bad_settings_are_refused_without_side_effects() {
    let mut cluster = default_cluster();
    cluster.advance(Duration::from_secs(1)).unwrap();
    let before = cluster.simulation().network().config().clone();
    let out = cluster.exec("sim kill etcd-9");
    assert!(!out.ok);
    assert_eq!(out.text, "error: component \"etcd-9\" not found (see sim status)\n");
    let out = cluster.exec("sim network --latency 9ms..2ms");
    assert!(!out.ok && out.text.contains("above the maximum"), "{}", out.text);
    assert_eq!(cluster.simulation().network().config(), &before);
    assert!(cluster.exec("sim network --latency 2ms..9ms --loss 5%").text.contains("latency 2ms..9ms, loss 5%"));
    let out = cluster.exec("sim advance 1000h");
    assert!(!out.ok && out.text.starts_with("error: sim advance takes at most 24h0m0s at a time"), "{}", out.text);
    assert_eq!(cluster.now_ms(), 1_000, "nothing ran");
}

#[test]
fn scripts_run_at_their_time_and_in_file_order_on_ties() {
    let text = r#"
apiVersion: kscope.dev/v1alpha1
kind: Scenario
spec:
  script:
  - {at: 30s, run: sim heal}
  - {at: 10s, run: sim kill kubelet/node-1}
  - {at: 10s, run: sim status}
"#;
    let mut cluster = Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap();
    let runs = cluster.advance(Duration::from_secs(60)).unwrap();
    let order: Vec<(u64, &str)> = runs.iter().map(|r| (r.at_ms, r.line.as_str())).collect();
    assert_eq!(order, [(10_000, "sim kill kubelet/node-1"), (10_000, "sim status"), (30_000, "sim heal")]);
    let status = &runs[1].output.text;
    let row = status.lines().find(|l| l.starts_with("kubelet/node-1 ")).expect(status);
    assert_eq!(row.split_whitespace().nth(1), Some("Stopped"), "{status}");
}
