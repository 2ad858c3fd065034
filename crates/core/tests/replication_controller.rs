//! kube-controller-manager's ReplicationController manager end to end: the
//! ReplicaSet controller run over ReplicationControllers. An RC without a
//! selector or labels gets its template's labels (apiserver defaulting); it
//! creates its pods with a `v1` ReplicationController controller reference,
//! writes its status, records events as `replication-controller`, scales
//! down through `kubectl scale rc` (which bumps the generation), replaces a
//! deleted pod, leaves pods another controller owns alone, and its pods are
//! garbage-collected when it is deleted.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    c
}

fn rc(name: &str, replicas: u32) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ReplicationController\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: c, image: nginx}}]\nEOF"
    )
}

/// The pods controlled by the RC `name`, not terminating, sorted by name.
fn pods_of(c: &mut Cluster, name: &str) -> Vec<Value> {
    let uid = common::json(c, &format!("kubectl get rc {name} -o json"))["metadata"]["uid"].clone();
    let mut pods: Vec<Value> = common::json(c, "kubectl get pods -o json")["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.iter().any(|o| o["uid"] == uid && o["controller"] == true))
        })
        .cloned()
        .collect();
    pods.sort_by_key(|p| p["metadata"]["name"].as_str().unwrap().to_string());
    pods
}

fn names(pods: &[Value]) -> Vec<String> {
    pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_replication_controller_runs_its_pods_and_reports_them() {
    let mut c = cluster();
    assert_eq!(common::ok(&mut c, &rc("web", 3)), "replicationcontroller/web created\n");
    let created = common::json(&mut c, "kubectl get rc web -o json");
    // SetDefaults_ReplicationController: selector and labels from the template.
    assert_eq!(created["spec"]["selector"], serde_json::json!({"app": "web"}));
    assert_eq!(created["metadata"]["labels"], serde_json::json!({"app": "web"}));
    c.advance(Duration::from_secs(5)).unwrap();
    let pods = pods_of(&mut c, "web");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["apiVersion"], "v1");
        assert_eq!(owner["kind"], "ReplicationController");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert_eq!(p["status"]["phase"], "Running", "{p}");
    }
    let status = common::json(&mut c, "kubectl get rc web -o json")["status"].clone();
    assert_eq!(
        status,
        serde_json::json!({"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
            "availableReplicas": 3, "observedGeneration": 1})
    );
    let table = common::ok(&mut c, "kubectl get rc");
    assert!(
        table.starts_with("NAME   DESIRED   CURRENT   READY   AGE\nweb    3         3         3       "),
        "{table}"
    );
    let describe = common::ok(&mut c, "kubectl describe rc web");
    assert!(describe.contains("\nSelector:     app=web\n"), "{describe}");
    assert!(describe.contains("\nReplicas:     3 current / 3 desired\n"), "{describe}");
    assert!(describe.contains("Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed"), "{describe}");
    assert_eq!(describe.matches("SuccessfulCreate  5s    replication-controller  Created pod: web-").count(), 3);
    assert!(!describe.contains("Controlled By"), "{describe}");
    let pod = names(&pods)[0].clone();
    let pod_describe = common::ok(&mut c, &format!("kubectl describe pod {pod}"));
    assert!(pod_describe.contains("Controlled By:  ReplicationController/web"), "{pod_describe}");
}

#[test]
fn scaling_down_and_replacing_a_deleted_pod() {
    let mut c = cluster();
    common::ok(&mut c, &rc("web", 3));
    c.advance(Duration::from_secs(5)).unwrap();
    assert_eq!(common::ok(&mut c, "kubectl scale rc web --replicas=1"), "replicationcontroller/web scaled\n");
    c.advance(Duration::from_secs(2)).unwrap();
    let left = pods_of(&mut c, "web");
    assert_eq!(left.len(), 1);
    let rc_now = common::json(&mut c, "kubectl get rc web -o json");
    // The scale subresource goes through the main strategy: a new generation, observed.
    assert_eq!(rc_now["metadata"]["generation"], 2);
    assert_eq!(rc_now["status"]["observedGeneration"], 2);
    assert_eq!(rc_now["status"]["replicas"], 1);
    assert_eq!(common::ok(&mut c, "kubectl describe rc web").matches("SuccessfulDelete").count(), 2);
    let gone = names(&left)[0].clone();
    common::ok(&mut c, &format!("kubectl delete pod {gone} --grace-period=0 --force"));
    c.advance(Duration::from_secs(3)).unwrap();
    let now = names(&pods_of(&mut c, "web"));
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], gone, "the deleted pod was replaced");
}

#[test]
fn deleting_the_replication_controller_garbage_collects_its_pods() {
    let mut c = cluster();
    common::ok(&mut c, &rc("web", 2));
    c.advance(Duration::from_secs(5)).unwrap();
    assert_eq!(pods_of(&mut c, "web").len(), 2);
    assert_eq!(common::ok(&mut c, "kubectl delete rc web"), "replicationcontroller \"web\" deleted\n");
    // Background deletion; nginx stops at once on SIGTERM.
    c.advance(Duration::from_secs(10)).unwrap();
    let pods = common::json(&mut c, "kubectl get pods -o json");
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "{pods}");
}

#[test]
fn pods_a_replica_set_controls_are_not_taken() {
    // The RC and the ReplicaSet select the same labels; each keeps its own
    // pods (the controller reference decides) and neither overshoots.
    let mut c = cluster();
    common::ok(
        &mut c,
        "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\nEOF",
    );
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(&mut c, &rc("web", 1));
    c.advance(Duration::from_secs(5)).unwrap();
    assert_eq!(pods_of(&mut c, "web").len(), 1);
    let all = common::json(&mut c, "kubectl get pods -o json");
    let kinds: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["ownerReferences"][0]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "ReplicaSet").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "ReplicationController").count(), 1, "{kinds:?}");
}

#[test]
fn an_orphan_matching_the_selector_is_adopted() {
    let mut c = cluster();
    common::ok(&mut c, "kubectl run stray --image=nginx --labels=app=web");
    c.advance(Duration::from_secs(1)).unwrap();
    common::ok(&mut c, &rc("web", 2));
    c.advance(Duration::from_secs(5)).unwrap();
    let pods = names(&pods_of(&mut c, "web"));
    assert_eq!(pods.len(), 2);
    assert!(pods.contains(&"stray".to_string()), "{pods:?}");
}
