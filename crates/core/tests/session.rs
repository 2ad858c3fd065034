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
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    assert_eq!(snapshot.nodes[0].cpu_millis, 4000);
    // apiserver, 3 etcd, scheduler and controller manager, CoreDNS, and a kubelet and kube-proxy per node.
    assert_eq!(snapshot.components.len(), 1 + 3 + 2 + 1 + 3 * 2);
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
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes:\n".to_string()
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
