//! kube-controller-manager's ServiceAccount controller and root CA
//! certificate publisher end to end: every active namespace, the system
//! ones included, gets a `default` ServiceAccount and a `kube-root-ca.crt`
//! ConfigMap (the CA bundle under `ca.crt`, with upstream's description
//! annotation); deleted ones come back, an edited bundle is put back, and a
//! terminating namespace gets nothing new. The apiserver creates neither:
//! right after the start there are none.

use kscope_core::component_id::ComponentId;
use kscope_core::duration::Duration;
use kscope_core::kube_controller_manager::rootcacertpublisher::{DESCRIPTION, ROOT_CA};
use kscope_core::kube_controller_manager::KubeControllerManager;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;

mod common;

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    c
}

fn get(c: &mut Cluster, what: &str, namespace: &str) -> Option<Value> {
    let out = common::run(c, &format!("kubectl get {what} -n {namespace} -o json"));
    out.ok.then(|| serde_json::from_str(&out.text).unwrap())
}

/// ServiceAccounts the controller created and ConfigMaps the publisher wrote.
fn written(c: &Cluster) -> (u64, u64) {
    let (_, kcm, _) = c.simulation().components().find(|(id, _, _)| **id == ComponentId::ControllerManager).unwrap();
    let kcm = kcm.as_any().downcast_ref::<KubeControllerManager>().unwrap();
    (kcm.service_accounts().created(), kcm.root_ca_publisher().writes())
}

fn uid(v: &Value) -> String {
    v["metadata"]["uid"].as_str().unwrap().to_string()
}

#[test]
fn every_namespace_gets_a_default_service_account_and_the_root_ca() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_millis(200)).unwrap();
    assert_eq!(common::ok(&mut c, "kubectl get sa -A"), "No resources found\n", "not bootstrapped by the apiserver");
    c.advance(Duration::from_secs(3)).unwrap();
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(get(&mut c, "sa default", ns).is_some(), "{ns}");
        assert!(get(&mut c, "cm kube-root-ca.crt", ns).is_some(), "{ns}");
    }
    common::ok(&mut c, "kubectl create namespace prod");
    c.advance(Duration::from_secs(1)).unwrap();
    let sa = get(&mut c, "sa default", "prod").expect("default ServiceAccount in prod");
    assert_eq!(sa["metadata"]["name"], "default");
    let cm = get(&mut c, "cm kube-root-ca.crt", "prod").expect("root CA ConfigMap in prod");
    assert_eq!(cm["data"], serde_json::json!({"ca.crt": ROOT_CA}));
    assert!(ROOT_CA.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(cm["metadata"]["annotations"]["kubernetes.io/description"], DESCRIPTION);
    // Pods still default to the `default` account.
    common::ok(&mut c, "kubectl run web --image=nginx -n prod");
    let pod = get(&mut c, "pod web", "prod").unwrap();
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
}

#[test]
fn deleted_or_edited_ones_are_put_back() {
    let mut c = cluster();
    let sa = get(&mut c, "sa default", "default").unwrap();
    let cm = get(&mut c, "cm kube-root-ca.crt", "default").unwrap();
    assert_eq!(common::ok(&mut c, "kubectl delete sa default"), "serviceaccount \"default\" deleted\n");
    assert_eq!(common::ok(&mut c, "kubectl delete cm kube-root-ca.crt"), "configmap \"kube-root-ca.crt\" deleted\n");
    c.advance(Duration::from_secs(1)).unwrap();
    let sa2 = get(&mut c, "sa default", "default").expect("recreated");
    let cm2 = get(&mut c, "cm kube-root-ca.crt", "default").expect("recreated");
    assert_ne!(uid(&sa), uid(&sa2));
    assert_ne!(uid(&cm), uid(&cm2));
    // A changed bundle or a dropped description is repaired in place.
    common::ok(
        &mut c,
        "kubectl patch cm kube-root-ca.crt --type=merge -p '{\"data\":{\"ca.crt\":\"x\"},\"metadata\":{\"annotations\":{\"kubernetes.io/description\":null}}}'",
    );
    let edited = get(&mut c, "cm kube-root-ca.crt", "default").unwrap();
    assert_eq!(edited["data"]["ca.crt"], "x");
    c.advance(Duration::from_secs(1)).unwrap();
    let repaired = get(&mut c, "cm kube-root-ca.crt", "default").unwrap();
    assert_eq!(uid(&repaired), uid(&cm2));
    assert_eq!(repaired["data"]["ca.crt"], ROOT_CA);
    assert_eq!(repaired["metadata"]["annotations"]["kubernetes.io/description"], DESCRIPTION);
}

#[test]
fn a_terminating_namespace_gets_nothing_new() {
    let mut c = cluster();
    common::ok(&mut c, "kubectl create namespace prod");
    // A finalizer keeps the namespace terminating until it is removed.
    common::ok(
        &mut c,
        "kubectl apply -n prod -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\nEOF",
    );
    c.advance(Duration::from_secs(1)).unwrap();
    assert!(get(&mut c, "sa default", "prod").is_some());
    let before = written(&c);
    common::ok(&mut c, "kubectl delete namespace prod --wait=false");
    c.advance(Duration::from_secs(5)).unwrap();
    assert_eq!(written(&c), before, "no ServiceAccount or ConfigMap written");
    let ns = get(&mut c, "namespace prod", "default").expect("still terminating");
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(get(&mut c, "sa default", "prod").is_none(), "the namespace controller deleted it; nobody recreates it");
    assert!(get(&mut c, "cm kube-root-ca.crt", "prod").is_none());
    common::ok(&mut c, "kubectl patch cm held -n prod --type=merge -p '{\"metadata\":{\"finalizers\":null}}'");
    c.advance(Duration::from_secs(20)).unwrap();
    assert!(get(&mut c, "namespace prod", "default").is_none(), "the namespace went away");
}
