//! The worker-facing session: handshake, playback, batching and deltas, as the
//! UI sees them.

use kscope_core::session::Session;
use kscope_core::{Cluster, Scenario};
use kscope_protocol::{Batch, Delta, FromWorker, ToWorker, PROTOCOL_VERSION};

fn session() -> Session {
    Session::new(Cluster::new(Scenario::default()).unwrap())
}

fn batches(replies: &[FromWorker]) -> Vec<&Batch> {
    replies.iter().filter_map(|r| if let FromWorker::Batch(b) = r { Some(b) } else { None }).collect()
}

#[test]
fn hello_gets_a_snapshot_of_the_real_cluster() {
    let mut s = session();
    let replies = s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    let [FromWorker::Welcome { snapshot, .. }] = replies.as_slice() else { panic!("{replies:?}") };
    let nodes: Vec<_> = snapshot.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["control-plane", "control-plane2", "control-plane3", "node-1", "node-2", "node-3"]);
    assert_eq!(snapshot.nodes[3].cpu_millis, 4000);
    // apiserver, 3 etcd, scheduler and controller manager, kube-addon-manager
    // and a kubelet per node (three control-plane nodes, three workers);
    // kube-proxy and CoreDNS come later, with their pods.
    assert_eq!(snapshot.components.len(), 1 + 3 + 2 + 1 + 6);
    assert_eq!(snapshot.meta.seed, 1);
    assert!(snapshot.meta.running);
}

#[test]
fn protocol_mismatch_is_explained() {
    let replies = session().handle(ToWorker::Hello { protocol: PROTOCOL_VERSION + 1 });
    assert!(matches!(&replies[..], [FromWorker::Error { message }] if message.contains("Reload the page")));
}

#[test]
fn ticks_advance_time_at_speed_and_pause_stops_it() {
    let mut s = session();
    s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    let replies = s.tick(50);
    assert_eq!(batches(&replies)[0].meta.time_ms, 50);
    s.handle(ToWorker::SetSpeed { percent: 1000 });
    let replies = s.tick(50);
    assert_eq!(batches(&replies)[0].meta.time_ms, 550);
    s.handle(ToWorker::SetSpeed { percent: 10 });
    for _ in 0..3 {
        s.tick(5); // 0.5ms each: owed time carries over
    }
    assert_eq!(s.cluster().now_ms(), 551);
    s.handle(ToWorker::Pause);
    assert!(s.tick(1000).is_empty(), "a paused session sends nothing when nothing changed");
    assert_eq!(s.cluster().now_ms(), 551);
    let replies = s.handle(ToWorker::Play);
    assert!(batches(&replies)[0].meta.running);
    s.handle(ToWorker::SetSpeed { percent: 1_000_000 });
    let replies = s.tick(0);
    assert!(replies.is_empty() || batches(&replies)[0].meta.speed_percent == 10_000);
}

#[test]
fn batches_carry_messages_capped_and_component_deltas() {
    // No add-ons: nothing is placed on the 400 nodes, so a quiet tick is quiet.
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  addons: []\n  nodes:\n".to_string()
        + &(0..400).map(|i| format!("  - {{name: n{i}}}\n")).collect::<String>();
    let mut s = Session::new(Cluster::new(Scenario::from_yaml(&text, "t").unwrap()).unwrap());
    s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    let replies = s.tick(3000);
    let batch = batches(&replies)[0];
    assert_eq!(batch.messages.len(), Batch::MAX_MESSAGES);
    assert!(batch.messages_omitted > 0);
    assert!(batch.deltas.iter().any(|d| matches!(d, Delta::Component(c) if c.id == "kube-apiserver")));
    // Everything sent was new; a quiet tick brings no component deltas.
    let replies = s.tick(1);
    assert!(batches(&replies).iter().all(|b| b.deltas.iter().all(|d| !matches!(d, Delta::Node(_)))));
}

#[test]
fn exec_replies_with_output_and_then_the_changes() {
    let mut s = session();
    s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    s.handle(ToWorker::Pause);
    let replies = s.handle(ToWorker::Exec { id: 7, line: "sim advance 5s".into() });
    assert!(matches!(&replies[0], FromWorker::ExecResult { id: 7, ok: true, output } if output.contains("to 5s")));
    assert_eq!(batches(&replies)[0].meta.time_ms, 5000);
    let replies = s.handle(ToWorker::Exec { id: 8, line: "sim kill kubelet/node-3".into() });
    let batch = batches(&replies)[0];
    assert!(batch.deltas.iter().any(|d| matches!(d, Delta::Component(c) if c.id == "kubelet/node-3" && !c.up)));
    let replies = s.handle(ToWorker::Exec { id: 9, line: "bogus".into() });
    assert!(
        matches!(&replies[0], FromWorker::ExecResult { id: 9, ok: false, output } if output.starts_with("error: unknown command \"bogus\""))
    );
}

#[test]
fn nodes_carry_their_pods_status_and_requests_and_unscheduled_pods_come_apart() {
    let mut s = session();
    s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    s.handle(ToWorker::Pause);
    s.handle(ToWorker::Exec { id: 1, line: "sim advance 3s".into() });
    let mut replies = Vec::new();
    for (name, cpu) in [("small", "500m"), ("huge", "64")] {
        for line in [
            "kubectl apply -f - <<EOF".to_string(),
            "apiVersion: v1".into(),
            "kind: Pod".into(),
            format!("metadata: {{name: {name}}}"),
            format!("spec: {{containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: \"{cpu}\"}}}}}}]}}"),
            "EOF".into(),
        ] {
            replies.extend(s.handle(ToWorker::Exec { id: 2, line }));
        }
    }
    replies.extend(s.handle(ToWorker::Exec { id: 3, line: "sim advance 5s".into() }));
    let deltas: Vec<&Delta> = batches(&replies).iter().flat_map(|b| b.deltas.iter()).collect();
    let unscheduled = deltas.iter().rev().find_map(|d| if let Delta::Unscheduled(p) = d { Some(p) } else { None });
    let unscheduled = unscheduled.expect("the huge pod waits");
    assert_eq!(
        unscheduled.iter().map(|p| (p.name.as_str(), p.status.as_str())).collect::<Vec<_>>(),
        [("huge", "Pending")]
    );
    // Every node is drawn Ready; the one running small shows it, 500m requested.
    let replies = session_snapshot(&mut s);
    let nodes = &replies;
    assert!(nodes.iter().all(|n| n.status == "Ready"), "{nodes:?}");
    let host: Vec<_> = nodes.iter().filter(|n| n.pods.iter().any(|p| p.name == "small")).collect();
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].cpu_requested_millis, 500);
    let small = host[0].pods.iter().find(|p| p.name == "small").unwrap();
    assert_eq!((small.phase.as_str(), small.status.as_str(), small.ready.as_str()), ("Running", "Running", "1/1"));
    // A cordon shows in the status and the taints the node lifecycle controller adds.
    let name = host[0].name.clone();
    s.handle(ToWorker::Exec { id: 4, line: format!("kubectl cordon {name}") });
    s.handle(ToWorker::Exec { id: 5, line: "sim advance 1s".into() });
    let node = session_snapshot(&mut s).into_iter().find(|n| n.name == name).unwrap();
    assert_eq!(node.status, "Ready,SchedulingDisabled");
    assert_eq!(node.taints, ["node.kubernetes.io/unschedulable:NoSchedule"]);
}

/// The nodes of a fresh snapshot.
fn session_snapshot(s: &mut Session) -> Vec<kscope_protocol::NodeView> {
    let replies = s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    let [FromWorker::Welcome { snapshot, .. }] = replies.as_slice() else { panic!("{replies:?}") };
    snapshot.nodes.clone()
}

#[test]
fn services_carry_their_endpoints_and_follow_the_pods() {
    let mut s = session();
    s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
    s.handle(ToWorker::Pause);
    let services = |s: &mut Session| {
        let replies = s.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION });
        let [FromWorker::Welcome { snapshot, .. }] = replies.as_slice() else { panic!("{replies:?}") };
        snapshot.services.clone()
    };
    s.handle(ToWorker::Exec { id: 1, line: "sim advance 3s".into() });
    // The bootstrap Services: kubernetes (the apiserver) and kube-dns.
    let names: Vec<String> = services(&mut s).iter().map(|v| format!("{}/{}", v.namespace, v.name)).collect();
    assert!(names.contains(&"default/kubernetes".to_string()), "{names:?}");
    let mut replies = Vec::new();
    for (id, line) in [
        "kubectl create deployment web --image=nginx --replicas=3",
        "kubectl expose deployment web --port=80",
        "sim advance 10s",
    ]
    .into_iter()
    .enumerate()
    {
        replies.extend(s.handle(ToWorker::Exec { id: id as u64 + 1, line: line.into() }));
    }
    // The Service arrives as a delta, then its endpoints fill in.
    let deltas: Vec<&Delta> = batches(&replies).iter().flat_map(|b| b.deltas.iter()).collect();
    let web = deltas
        .iter()
        .rev()
        .find_map(|d| if let Delta::Service(v) = d { (v.name == "web").then_some(v) } else { None })
        .expect("a delta for the web Service");
    assert_eq!((web.kind.as_str(), web.ports.as_str()), ("ClusterIP", "80/TCP"));
    assert!(web.cluster_ip.starts_with("10.1") || web.cluster_ip.starts_with("10.9"), "in 10.96.0.0/12: {web:?}");
    assert_eq!(web.endpoints.iter().filter(|e| e.ready).count(), 3, "{web:?}");
    assert!(web.endpoints.iter().all(|e| e.ip.starts_with("10.244.") && e.pod.starts_with("web-")), "{web:?}");
    // Deleting it sends its removal.
    let replies = s.handle(ToWorker::Exec { id: 9, line: "kubectl delete svc web".into() });
    let removed = batches(&replies)
        .iter()
        .flat_map(|b| b.deltas.iter())
        .any(|d| matches!(d, Delta::ServiceRemoved(key) if key == "default/web"));
    assert!(removed, "{replies:?}");
}
