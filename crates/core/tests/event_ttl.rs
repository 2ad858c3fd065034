//! Events expire like in a real cluster: kube-apiserver writes each Event
//! attached to an etcd lease (`--event-ttl` 1h plus a reuse window of 60 s,
//! shared by the Events of a minute, as the etcd3 store's lease manager
//! does), and etcd deletes the keys when the lease runs out. An Event is
//! still there after 59 minutes and gone after 61, from `kubectl get
//! events` and from etcd; a write to an Event attaches it to a newer lease.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

fn events(c: &mut Cluster) -> Vec<Value> {
    common::json(c, "kubectl get events -A -o json")["items"].as_array().unwrap().clone()
}

fn event_keys(c: &mut Cluster) -> usize {
    let out = common::ok(c, "etcdctl get /registry/events/ --prefix --keys-only");
    out.lines().filter(|l| l.starts_with("/registry/events/")).count()
}

fn leases(c: &mut Cluster) -> Vec<String> {
    let out = common::ok(c, "etcdctl lease list");
    out.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn events_share_a_lease_and_are_gone_after_the_ttl() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    // The node lifecycle controller's RegisteredNode events came first.
    assert_eq!(leases(&mut c).len(), 1, "one lease for the events of the first minute");
    common::ok(&mut c, "kubectl create deployment web --image=nginx --replicas=2");
    c.advance(Duration::from_secs(5)).unwrap();
    let written = events(&mut c).len();
    assert!(written >= 10, "scheduling, pulling, starting and scaling events: {written}");
    assert_eq!(event_keys(&mut c), written);
    // Every Event of the first minute shares one lease of 3600 + 60 s.
    let ids = leases(&mut c);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let ttl = common::ok(&mut c, &format!("etcdctl lease timetolive {}", ids[0]));
    assert!(ttl.starts_with(&format!("lease {} granted with TTL(3660s), remaining(", ids[0])), "{ttl}");
    let keys = common::ok(&mut c, &format!("etcdctl lease timetolive {} --keys", ids[0]));
    // kube-system's (the add-ons' pods) included.
    assert_eq!(keys.matches("/registry/events/").count(), written, "{keys}");

    c.advance(Duration::from_secs(59 * 60)).unwrap();
    assert_eq!(events(&mut c).len(), written, "still there at 59 minutes");
    c.advance(Duration::from_secs(2 * 60)).unwrap();
    assert!(events(&mut c).is_empty(), "gone after the TTL and the reuse window");
    assert_eq!(common::ok(&mut c, "kubectl get events"), "No resources found in default namespace.\n");
    assert_eq!(event_keys(&mut c), 0);
    assert!(leases(&mut c).is_empty());
    // The pods and the Deployment are not touched.
    assert_eq!(common::json(&mut c, "kubectl get pods -o json")["items"].as_array().unwrap().len(), 2);
}

#[test]
fn a_written_event_moves_to_a_newer_lease() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(&mut c, "kubectl run web --image=nginx");
    c.advance(Duration::from_secs(3)).unwrap();
    let all = events(&mut c);
    let kept = all[0]["metadata"]["name"].as_str().unwrap().to_string();
    c.advance(Duration::from_secs(30 * 60)).unwrap();
    // An update (what the recorder's count patch is) takes a lease again:
    // the first one is past its reuse window, so a new one is granted.
    assert_eq!(
        common::ok(&mut c, &format!("kubectl annotate event {kept} seen=yes")),
        format!("event/{kept} annotated\n")
    );
    assert_eq!(leases(&mut c).len(), 2);
    c.advance(Duration::from_secs(31 * 60)).unwrap();
    let left: Vec<String> =
        events(&mut c).iter().map(|e| e["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, [kept.clone()], "only the rewritten Event outlives the first lease");
    assert_eq!(leases(&mut c).len(), 1);
    c.advance(Duration::from_secs(30 * 60)).unwrap();
    assert!(events(&mut c).is_empty());
}

#[test]
fn a_repeated_event_that_expired_is_created_again_with_its_count() {
    // client-go's recorder patches the count of a repeated Event; when the
    // patch finds it gone (its lease ran out) it creates it again, with its
    // count and first time. The container exits after 3700 s and is started
    // again: the second "Started" comes after the first one expired.
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(&mut c, "kubectl run sleeper --image=busybox -- sleep 3700");
    c.advance(Duration::from_secs(3)).unwrap();
    let sleeper_started = |e: &Value| e["reason"] == "Started" && e["involvedObject"]["name"] == "sleeper";
    assert_eq!(events(&mut c).iter().filter(|e| sleeper_started(e)).count(), 1);
    c.advance(Duration::from_secs(61 * 60 + 4)).unwrap();
    assert!(events(&mut c).is_empty(), "all expired at 61 minutes");
    c.advance(Duration::from_secs(2 * 60)).unwrap();
    let started: Vec<Value> = events(&mut c).into_iter().filter(sleeper_started).collect();
    assert_eq!(started.len(), 1, "{started:?}");
    let e = &started[0];
    assert_eq!(e["count"], 2, "{e}");
    assert!(e["firstTimestamp"].as_str().unwrap().starts_with("2025-01-01T00:00:"), "{e}");
    assert!(e["metadata"]["creationTimestamp"].as_str().unwrap() > "2025-01-01T01:01:00Z", "{e}");
    let describe = common::ok(&mut c, "kubectl describe pod sleeper");
    assert!(describe.contains("(x2 over 6"), "{describe}");
}
