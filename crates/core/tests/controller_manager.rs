//! kube-controller-manager's ReplicaSet controller end to end: pods created
//! from the template (named `<rs>-xxxxx`, owned, scheduled), scale up and
//! down with kube-controller-manager's deletion order, replacement of a
//! deleted pod, adoption of orphans, and events. At every 100 ms step no
//! ReplicaSet has more active pods than it asked for (expectations hold off
//! a second sync until the watch shows the first one's pods).

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

    /// Active (not terminating) pods controlled by the ReplicaSet `rs`.
    fn active_pods(&mut self, rs: &str) -> Vec<Value> {
        let uid = self.json(&format!("kubectl get rs {rs} -o json"))["metadata"]["uid"].clone();
        self.json("kubectl get pods -o json")["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| p["metadata"]["ownerReferences"].as_array().is_some_and(|r| r.iter().any(|o| o["uid"] == uid)))
            .cloned()
            .collect()
    }

    /// Advances in 100 ms steps; the ReplicaSet never overshoots.
    fn advance(&mut self, ms: u64, rs: &str) {
        for _ in 0..ms / 100 {
            self.c.advance(Duration::from_millis(100)).unwrap();
            let want = self.json(&format!("kubectl get rs {rs} -o json"))["spec"]["replicas"].as_u64().unwrap();
            let have = self.active_pods(rs).len() as u64;
            assert!(have <= want, "{rs} has {have} active pods for {want} replicas");
        }
    }
}

fn replica_set(name: &str, replicas: u32) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: 100m}}}}}}]\nEOF"
    )
}

#[test]
fn a_replica_set_creates_its_pods_which_are_scheduled() {
    let mut t = Test::new();
    t.ok(&replica_set("web", 3));
    t.advance(4_000, "web");
    let pods = t.active_pods("web");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!((owner["kind"].as_str(), owner["controller"].as_bool()), (Some("ReplicaSet"), Some(true)));
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert_eq!(p["metadata"]["labels"]["app"], "web");
        assert!(p["spec"]["nodeName"].is_string(), "scheduled: {p}");
    }
    let rs = t.json("kubectl get rs web -o json");
    assert_eq!(rs["status"]["replicas"], 3);
    assert_eq!(rs["status"]["fullyLabeledReplicas"], 3);
    assert_eq!(rs["status"]["observedGeneration"], 1);
    let describe = t.ok("kubectl describe rs web");
    assert_eq!(describe.matches("replicaset-controller  Created pod: web-").count(), 3, "{describe}");
    assert!(describe.contains("Replicas:     3 current / 3 desired"), "{describe}");
    // The kubelets run them (nginx is pulled in under 2 s, after the
    // add-ons' kube-proxy and coredns images: pulls are serialized).
    assert!(describe.contains("Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed"), "{describe}");
}

#[test]
fn scaling_down_deletes_the_newest_pods_and_a_deleted_pod_is_replaced() {
    let mut t = Test::new();
    t.ok(&replica_set("web", 2));
    t.advance(2_000, "web");
    let first: Vec<String> =
        t.active_pods("web").iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    t.c.advance(Duration::from_secs(2)).unwrap();
    t.ok("kubectl scale rs web --replicas=4");
    t.advance(2_000, "web");
    assert_eq!(t.active_pods("web").len(), 4);
    t.ok("kubectl scale rs web --replicas=2");
    t.advance(2_000, "web");
    let left: Vec<String> =
        t.active_pods("web").iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    let mut sorted_first = first.clone();
    sorted_first.sort();
    let mut sorted_left = left.clone();
    sorted_left.sort();
    assert_eq!(sorted_left, sorted_first, "the two newer pods go first");
    assert_eq!(t.ok("kubectl describe rs web").matches("SuccessfulDelete").count(), 2);
    // A pod deleted by hand is replaced.
    t.ok(&format!("kubectl delete pod {} --grace-period=0 --force", left[0]));
    t.advance(2_000, "web");
    let now: Vec<String> =
        t.active_pods("web").iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(now.len(), 2);
    assert!(!now.contains(&left[0]));
}

#[test]
fn a_replica_set_adopts_matching_orphans() {
    let mut t = Test::new();
    t.ok("kubectl run stray --image=nginx --labels=app=web");
    t.c.advance(Duration::from_secs(1)).unwrap();
    t.ok(&replica_set("web", 2));
    t.advance(2_000, "web");
    let pods = t.active_pods("web");
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().any(|p| p["metadata"]["name"] == "stray"), "the orphan was adopted");
    let describe = t.ok("kubectl describe pod stray");
    assert!(describe.lines().any(|l| l.starts_with("Controlled By:") && l.ends_with(" ReplicaSet/web")), "{describe}");
}

#[test]
fn a_big_replica_set_converges_without_overshooting() {
    let nodes = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {name: big}\nspec:\n  nodes:\n  - {name: n1, cpu: '64', memory: 64Gi}\n";
    let mut t = Test { c: Cluster::new(Scenario::from_yaml(nodes, "test").unwrap()).unwrap() };
    t.c.advance(Duration::from_secs(3)).unwrap();
    t.ok(&replica_set("many", 40));
    t.advance(3_000, "many");
    assert_eq!(t.active_pods("many").len(), 40);
    assert_eq!(t.json("kubectl get rs many -o json")["status"]["replicas"], 40);
}

#[test]
fn a_relabelled_pod_is_released_and_replaced() {
    let mut t = Test::new();
    t.ok(&replica_set("web", 2));
    t.advance(2_000, "web");
    let pod = t.active_pods("web")[0]["metadata"]["name"].as_str().unwrap().to_string();
    t.ok(&format!("kubectl label pod {pod} app=debug --overwrite"));
    t.advance(2_000, "web");
    let owned: Vec<String> =
        t.active_pods("web").iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(owned.len(), 2);
    assert!(!owned.contains(&pod), "{pod} was released");
    let p = t.json(&format!("kubectl get pod {pod} -o json"));
    assert!(p["metadata"]["ownerReferences"].as_array().is_none_or(|r| r.is_empty()), "{p}");
}

#[test]
fn failed_creates_back_off_and_resume_when_they_can() {
    let mut t = Test::new();
    t.ok("kubectl apply -f - <<EOF\napiVersion: v1\nkind: LimitRange\nmetadata: {name: small}\nspec:\n  limits:\n  - type: Container\n    max: {cpu: 50m}\nEOF");
    t.ok(&replica_set("web", 3));
    t.advance(10_000, "web");
    assert_eq!(t.active_pods("web").len(), 0);
    let events = t.json("kubectl get events --field-selector reason=FailedCreate -o json");
    let failed = events["items"].as_array().unwrap().len();
    // Retried after 5 ms, 10 ms, 20 ms, ... rather than in a loop.
    assert!((5..=15).contains(&failed), "retries back off: {failed} FailedCreate events in 10 s");
    let message = events["items"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Error creating: pods ") && message.contains("maximum cpu usage per Container is 50m"),
        "{message}"
    );
    t.ok("kubectl delete limitrange small");
    t.advance(40_000, "web");
    assert_eq!(t.active_pods("web").len(), 3);
}

#[test]
fn creates_and_deletes_lost_in_a_partition_fail_after_a_minute() {
    let mut t = Test::new();
    t.ok(&replica_set("web", 1));
    t.c.advance(Duration::from_secs(10)).unwrap();
    assert_eq!(t.active_pods("web").len(), 1);
    // The creations are lost: their pods never come, and no answer either.
    t.ok("kubectl scale rs web --replicas=3");
    common::lose_request(&mut t.c, "kube-controller-manager", "POST /api/v1/namespaces/default/pods");
    t.c.advance(Duration::from_millis(100)).unwrap();
    t.ok("sim heal");
    // Waiting for them, the controller would create nothing for the 5
    // minutes of its expectations; after 60 s they count as failed.
    t.c.advance(Duration::from_secs(75)).unwrap();
    assert_eq!(t.active_pods("web").len(), 3, "{}", t.ok("kubectl get pods"));
    // The same for deletions.
    t.ok("kubectl scale rs web --replicas=1");
    common::lose_request(&mut t.c, "kube-controller-manager", "DELETE /api/v1/namespaces/default/pods/web-");
    t.c.advance(Duration::from_millis(100)).unwrap();
    t.ok("sim heal");
    t.c.advance(Duration::from_secs(75)).unwrap();
    assert_eq!(t.active_pods("web").len(), 1, "{}", t.ok("kubectl get pods"));
}

/// kube-controller-manager's requests waiting for an answer.
fn requests_in_flight(c: &Cluster) -> usize {
    c.simulation()
        .components()
        .find_map(|(_, comp, _)| {
            comp.as_any().downcast_ref::<kscope_core::kube_controller_manager::KubeControllerManager>()
        })
        .map(|k| k.requests_in_flight())
        .unwrap()
}

#[test]
fn answers_lost_in_a_partition_are_not_waited_for_forever() {
    let mut t = Test::new();
    t.ok(&replica_set("web", 1));
    t.c.advance(Duration::from_secs(10)).unwrap();
    t.ok("kubectl scale rs web --replicas=3");
    common::lose_request(&mut t.c, "kube-controller-manager", "POST /api/v1/namespaces/default/pods");
    t.c.advance(Duration::from_millis(100)).unwrap();
    t.ok("sim heal");
    assert!(requests_in_flight(&t.c) > 0);
    // Once every loop has given up on them (5 minutes at most), they go.
    t.c.advance(Duration::from_secs(330)).unwrap();
    assert_eq!(requests_in_flight(&t.c), 0);
    assert_eq!(t.active_pods("web").len(), 3);
}
