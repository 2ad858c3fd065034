//! kube-controller-manager's namespace controller end to end: deleting a
//! namespace marks it `Terminating` (as `kubectl get ns` shows), refuses new
//! content in it with NamespaceLifecycle's message, deletes everything in it
//! (a Deployment with its ReplicaSet and running pods, a Service, ConfigMaps,
//! a Secret), records the deletion conditions on its status, and once it is
//! empty removes the `kubernetes` finalizer through `finalize`, after which
//! the apiserver deletes the namespace.
//!
//! The pods really run (nginx pulls in under 2 s) and terminate gracefully,
//! so the controller waits for them: it looks again after half the longest
//! grace period plus a second (30 s / 2 + 1 = 16 s).

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

fn cluster_with_prod() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(&mut c, "kubectl create namespace prod");
    common::ok(&mut c, "kubectl create deployment web --image=nginx --replicas=2 -n prod");
    common::ok(&mut c, "kubectl create service clusterip web --tcp=80:80 -n prod");
    common::ok(&mut c, "kubectl create configmap settings --from-literal=a=1 -n prod");
    common::ok(&mut c, "kubectl create configmap more -n prod");
    common::ok(
        &mut c,
        "kubectl apply -n prod -f - <<EOF\napiVersion: v1\nkind: Secret\nmetadata: {name: token}\nstringData: {t: x}\nEOF",
    );
    c.advance(Duration::from_secs(8)).unwrap();
    let pods = common::json(&mut c, "kubectl get pods -n prod -o json");
    assert_eq!(pods["items"].as_array().unwrap().len(), 2);
    c
}

fn namespace_exists(c: &mut Cluster) -> bool {
    common::run(c, "kubectl get ns prod -o json").ok
}

fn count(c: &mut Cluster, what: &str) -> usize {
    let list = common::json(c, &format!("kubectl get {what} -n prod -o json"));
    list["items"].as_array().map_or(0, Vec::len)
}

fn conditions(ns: &Value) -> Vec<(String, String, String)> {
    ns["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |f: &str| c[f].as_str().unwrap_or_default().to_string();
            (s("type"), s("status"), s("reason"))
        })
        .collect()
}

#[test]
fn deleting_a_namespace_removes_its_content_then_the_namespace() {
    let mut c = cluster_with_prod();
    assert_eq!(common::ok(&mut c, "kubectl delete ns prod"), "namespace \"prod\" deleted\n");
    let listing = common::ok(&mut c, "kubectl get ns prod");
    assert!(listing.lines().nth(1).is_some_and(|l| l.contains("Terminating")), "{listing}");
    let ns = common::json(&mut c, "kubectl get ns prod -o json");
    assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    // The first round deletes everything; the pods take their grace period.
    c.advance(Duration::from_secs(2)).unwrap();
    for what in ["deploy", "rs", "svc", "cm", "secret"] {
        assert_eq!(count(&mut c, what), 0, "{what} left");
    }
    let mut gone = false;
    let mut saw_conditions = false;
    for _ in 0..60 {
        if !namespace_exists(&mut c) {
            gone = true;
            break;
        }
        let ns = common::json(&mut c, "kubectl get ns prod -o json");
        let conds = conditions(&ns);
        if !conds.is_empty() {
            saw_conditions = true;
            let types: Vec<&str> = conds.iter().map(|(t, _, _)| t.as_str()).collect();
            assert_eq!(
                types,
                [
                    "NamespaceDeletionDiscoveryFailure",
                    "NamespaceDeletionGroupVersionParsingFailure",
                    "NamespaceDeletionContentFailure",
                    "NamespaceContentRemaining",
                    "NamespaceFinalizersRemaining"
                ]
            );
            assert_eq!(
                conds[0],
                ("NamespaceDeletionDiscoveryFailure".into(), "False".into(), "ResourcesDiscovered".into())
            );
        }
        c.advance(Duration::from_secs(1)).unwrap();
    }
    assert!(saw_conditions, "the controller records its conditions");
    assert!(gone, "the namespace goes once empty");
    assert!(!common::ok(&mut c, "kubectl get ns").contains("prod"));
}

#[test]
fn remaining_pods_show_in_the_conditions_until_they_terminate() {
    let mut c = cluster_with_prod();
    // A pod that ignores SIGTERM holds the namespace for its grace period.
    common::ok(
        &mut c,
        "kubectl apply -n prod -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: stubborn\nspec:\n  terminationGracePeriodSeconds: 20\n  containers: [{name: c, image: busybox, command: [sh, -c, \"trap '' TERM; sleep 3600\"]}]\nEOF",
    );
    c.advance(Duration::from_secs(5)).unwrap();
    common::ok(&mut c, "kubectl delete ns prod");
    c.advance(Duration::from_secs(3)).unwrap();
    let ns = common::json(&mut c, "kubectl get ns prod -o json");
    let remaining = ns["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NamespaceContentRemaining")
        .cloned()
        .unwrap();
    assert_eq!(remaining["status"], "True");
    assert_eq!(remaining["reason"], "SomeResourcesRemain");
    assert!(remaining["message"].as_str().unwrap().starts_with("Some resources are remaining: pods. has "));
    c.advance(Duration::from_secs(60)).unwrap();
    assert!(!namespace_exists(&mut c));
}

#[test]
fn new_content_in_a_terminating_namespace_is_refused() {
    let mut c = cluster_with_prod();
    common::ok(
        &mut c,
        "kubectl apply -n prod -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\nEOF",
    );
    common::ok(&mut c, "kubectl delete ns prod");
    let out = common::run(&mut c, "kubectl create configmap late -n prod");
    assert!(!out.ok);
    // NamespaceLifecycle's wording (plugin/pkg/admission/namespace/lifecycle).
    assert!(
        out.text.contains(
            "configmaps \"late\" is forbidden: unable to create new content in namespace prod because it is being terminated"
        ),
        "{}",
        out.text
    );
    // A finalizer nobody removes holds the namespace, and says so.
    c.advance(Duration::from_secs(40)).unwrap();
    let ns = common::json(&mut c, "kubectl get ns prod -o json");
    let conds = conditions(&ns);
    assert!(conds.contains(&("NamespaceFinalizersRemaining".into(), "True".into(), "SomeFinalizersRemain".into())));
    let message = ns["status"]["conditions"][4]["message"].as_str().unwrap().to_string();
    assert_eq!(
        message,
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    assert!(namespace_exists(&mut c));
    // Removing it lets the namespace go.
    common::ok(&mut c, "kubectl patch cm held -n prod --type merge -p '{\"metadata\":{\"finalizers\":null}}'");
    c.advance(Duration::from_secs(70)).unwrap();
    assert!(!namespace_exists(&mut c));
}

#[test]
fn a_list_lost_in_a_partition_fails_the_round_after_a_minute() {
    let mut c = cluster_with_prod();
    common::ok(&mut c, "kubectl delete ns prod");
    // One of the round's lists is lost: its answer never comes.
    common::lose_request(&mut c, "kube-controller-manager", "GET /api/v1/namespaces/prod/");
    c.advance(Duration::from_millis(100)).unwrap();
    common::ok(&mut c, "sim heal");
    // Waiting for it, the round would never end; after 60 s it fails and
    // the namespace is synced again.
    let mut gone = false;
    for _ in 0..120 {
        c.advance(Duration::from_secs(1)).unwrap();
        if !namespace_exists(&mut c) {
            gone = true;
            break;
        }
    }
    assert!(gone, "{}", common::ok(&mut c, "kubectl get ns prod -o yaml"));
}
