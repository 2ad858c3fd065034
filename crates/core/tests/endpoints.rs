//! kube-controller-manager's Endpoints and EndpointSlice controllers end to
//! end: a Service selecting a Deployment's pods gets an Endpoints object
//! listing the ready pods' `ip:port` and an EndpointSlice holding one
//! endpoint per pod; scaling shrinks both; a pod failing its readiness probe
//! is listed as not ready; a named targetPort resolves to each pod's
//! container port; deleting the Service deletes its Endpoints; `kubectl get`
//! prints the columns of kubectl 1.32; and at every 100 ms step of a scale
//! up and down, once the pods have been still for a second, the Endpoints'
//! ready addresses are exactly the ready, non-terminating selected pods.
//!
//! The kubelets run the pods (nginx pulls in about 2 s), so readiness comes
//! from real Ready conditions.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;
use std::collections::BTreeSet;

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

    fn step(&mut self, ms: u64) {
        self.c.advance(Duration::from_millis(ms)).unwrap();
    }

    /// `ip` of the ready, non-terminating pods labelled `app=<app>`.
    fn ready_pod_ips(&mut self, app: &str) -> BTreeSet<String> {
        self.json(&format!("kubectl get pods -l app={app} -o json"))["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
            .map(|p| p["status"]["podIP"].as_str().unwrap().to_string())
            .collect()
    }

    /// The Endpoints' (ready, not ready) `ip:port`s.
    fn endpoints(&mut self, name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let ep = self.json(&format!("kubectl get endpoints {name} -o json"));
        let mut ready = BTreeSet::new();
        let mut not_ready = BTreeSet::new();
        for subset in ep["subsets"].as_array().into_iter().flatten() {
            for port in subset["ports"].as_array().into_iter().flatten() {
                for (field, set) in [("addresses", &mut ready), ("notReadyAddresses", &mut not_ready)] {
                    for a in subset[field].as_array().into_iter().flatten() {
                        set.insert(format!("{}:{}", a["ip"].as_str().unwrap(), port["port"]));
                    }
                }
            }
        }
        (ready, not_ready)
    }

    /// The EndpointSlices of Service `name`.
    fn slices(&mut self, name: &str) -> Vec<Value> {
        self.json(&format!("kubectl get endpointslices -l kubernetes.io/service-name={name} -o json"))["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// (address, ready) of every endpoint in the Service's slices.
    fn slice_endpoints(&mut self, name: &str) -> BTreeSet<(String, bool)> {
        self.slices(name)
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| (e["addresses"][0].as_str().unwrap().to_string(), e["conditions"]["ready"] == true))
            .collect()
    }
}

fn deployment(name: &str, replicas: u32, container: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{container}]\nEOF"
    )
}

const NGINX: &str =
    "{name: c, image: nginx:1.27, ports: [{name: http, containerPort: 80}], resources: {requests: {cpu: 100m}}}";

fn service(name: &str, target_port: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, labels: {{tier: front}}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: web, port: 8080, targetPort: {target_port}}}]\nEOF"
    )
}

fn with_port(ips: &BTreeSet<String>, port: u16) -> BTreeSet<String> {
    ips.iter().map(|ip| format!("{ip}:{port}")).collect()
}

#[test]
fn a_service_lists_its_ready_pods_and_follows_scaling() {
    let mut t = Test::new();
    t.ok(&deployment("web", 3, NGINX));
    t.ok(&service("web", "80"));
    t.step(6_000);
    let ips = t.ready_pod_ips("web");
    assert_eq!(ips.len(), 3);
    let (ready, not_ready) = t.endpoints("web");
    assert_eq!(ready, with_port(&ips, 80));
    assert!(not_ready.is_empty());
    let ep = t.json("kubectl get endpoints web -o json");
    assert_eq!(ep["metadata"]["labels"], serde_json::json!({"tier": "front"}));
    assert!(ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"].is_string(), "{ep}");
    let address = &ep["subsets"][0]["addresses"][0];
    assert_eq!(address["targetRef"]["kind"], "Pod");
    assert!(address["nodeName"].as_str().is_some_and(|n| n.starts_with("node-")), "{address}");
    assert_eq!(ep["subsets"][0]["ports"], serde_json::json!([{"name": "web", "port": 80, "protocol": "TCP"}]));

    let slices = t.slices("web");
    assert_eq!(slices.len(), 1, "{slices:?}");
    let slice = &slices[0];
    assert!(slice["metadata"]["name"].as_str().unwrap().starts_with("web-"));
    assert_eq!(slice["metadata"]["name"].as_str().unwrap().len(), "web-".len() + 5);
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["labels"]["tier"], "front");
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["name"].as_str()), (Some("Service"), Some("web")));
    assert_eq!((owner["controller"].as_bool(), owner["blockOwnerDeletion"].as_bool()), (Some(true), Some(true)));
    assert_eq!(slice["ports"], serde_json::json!([{"name": "web", "port": 80, "protocol": "TCP"}]));
    let endpoints = t.slice_endpoints("web");
    assert_eq!(endpoints, ips.iter().map(|ip| (ip.clone(), true)).collect());
    let e = &slice["endpoints"][0];
    assert_eq!(e["conditions"], serde_json::json!({"ready": true, "serving": true, "terminating": false}));
    assert_eq!(e["targetRef"]["kind"], "Pod");

    t.ok("kubectl scale deployment web --replicas=1");
    t.step(3_000);
    let ips = t.ready_pod_ips("web");
    assert_eq!(ips.len(), 1);
    assert_eq!(t.endpoints("web").0, with_port(&ips, 80));
    let slices = t.slices("web");
    assert_eq!(slices.len(), 1, "the slice shrinks in place");
    assert_eq!(t.slice_endpoints("web"), ips.iter().map(|ip| (ip.clone(), true)).collect());
}

#[test]
fn a_pod_failing_its_readiness_probe_is_listed_as_not_ready() {
    let mut t = Test::new();
    let busybox = "{name: c, image: busybox:1.36, command: [sh, -c, sleep 3600], readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}}";
    t.ok(&deployment("probe", 1, busybox));
    t.ok(&service("probe", "8080"));
    t.step(8_000);
    let pod = &t.json("kubectl get pods -l app=probe -o json")["items"][0];
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let (ready, not_ready) = t.endpoints("probe");
    assert!(ready.is_empty(), "{ready:?}");
    assert_eq!(not_ready, BTreeSet::from([format!("{ip}:8080")]));
    let slices = t.slices("probe");
    assert_eq!(slices.len(), 1);
    assert_eq!(
        slices[0]["endpoints"][0]["conditions"],
        serde_json::json!({"ready": false, "serving": false, "terminating": false})
    );
    // Only not-ready addresses: kubectl prints an empty ENDPOINTS cell.
    let get = t.ok("kubectl get endpoints probe");
    assert!(get.lines().nth(1).unwrap().starts_with("probe "), "{get}");
    assert!(!get.contains(&ip), "{get}");
}

#[test]
fn a_named_target_port_resolves_to_each_pods_container_port() {
    let mut t = Test::new();
    t.ok(&deployment("named", 2, NGINX));
    t.ok(&service("named", "http"));
    t.step(6_000);
    let ips = t.ready_pod_ips("named");
    assert_eq!(ips.len(), 2);
    assert_eq!(t.endpoints("named").0, with_port(&ips, 80));
    assert_eq!(t.slices("named")[0]["ports"][0]["port"], 80);
    // A named port no pod has: the Endpoints lists no address, while the
    // EndpointSlice keeps the pods with an empty port list (getEndpointPorts
    // skips the port, not the pod).
    t.ok(&service("named", "metrics"));
    t.step(2_000);
    let ep = t.json("kubectl get endpoints named -o json");
    assert!(ep["subsets"].as_array().is_none_or(|s| s.is_empty()), "{ep}");
    assert!(t.ok("kubectl get endpoints named").contains("<none>"));
    let slices = t.slices("named");
    assert_eq!(slices.len(), 1, "{slices:?}");
    assert!(slices[0]["ports"].as_array().is_none_or(|p| p.is_empty()), "{slices:?}");
    assert_eq!(t.slice_endpoints("named").len(), 2);
    let get = t.ok("kubectl get endpointslices -l kubernetes.io/service-name=named");
    assert!(get.lines().nth(1).unwrap().contains("IPv4          <unset>"), "{get}");
}

#[test]
fn deleting_a_service_deletes_its_endpoints() {
    let mut t = Test::new();
    t.ok(&deployment("gone", 2, NGINX));
    t.ok(&service("gone", "80"));
    t.step(6_000);
    let uid = t.json("kubectl get service gone -o json")["metadata"]["uid"].clone();
    assert_eq!(t.endpoints("gone").0.len(), 2);
    t.ok("kubectl delete service gone");
    t.step(1_000);
    let out = common::run(&mut t.c, "kubectl get endpoints gone");
    assert!(!out.ok && out.text.contains("endpoints \"gone\" not found"), "{}", out.text);
    // The slices go with the garbage collector (their ownerReference); the
    // controller itself does not delete them, as upstream.
    for slice in t.slices("gone") {
        let owner = &slice["metadata"]["ownerReferences"][0];
        assert_eq!((&owner["uid"], &owner["blockOwnerDeletion"]), (&uid, &Value::Bool(true)));
    }
}

#[test]
fn kubectl_prints_endpoints_and_slices_like_kubectl_1_32() {
    let mut t = Test::new();
    t.ok(&deployment("web", 5, NGINX));
    t.ok(&service("web", "80"));
    t.step(7_000);
    let ips: Vec<String> = t.ready_pod_ips("web").into_iter().collect();
    assert_eq!(ips.len(), 5);
    let get = t.ok("kubectl get endpoints");
    let lines: Vec<&str> = get.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["NAME", "ENDPOINTS", "AGE"]);
    assert!(lines[1].starts_with("kubernetes   172.18.0.2:6443"), "{get}");
    // Addresses sorted as strings, three shown.
    let shown = format!("{}:80,{}:80,{}:80 + 2 more...", ips[0], ips[1], ips[2]);
    assert!(lines[2].starts_with("web") && lines[2].contains(&shown), "{get}");

    let get = t.ok("kubectl get endpointslices");
    let lines: Vec<&str> = get.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]);
    assert!(lines[1].starts_with("kubernetes") && lines[1].contains("IPv4          6443    172.18.0.2"), "{get}");
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert!(row[0].starts_with("web-"), "{get}");
    assert_eq!((row[1], row[2], row[4], row[5], row[6]), ("IPv4", "80", "+", "2", "more..."), "{get}");

    let both = t.ok("kubectl get endpoints,endpointslices");
    assert!(both.contains("endpoints/web"), "{both}");
    assert!(both.contains("endpointslice.discovery.k8s.io/web-"), "{both}");
}

#[test]
fn endpoints_track_ready_pods_at_every_step() {
    let mut t = Test::new();
    t.ok(&deployment("web", 2, NGINX));
    t.ok(&service("web", "80"));
    let mut expected = BTreeSet::new();
    let mut still_ms = 0;
    let mut checked = 0;
    for i in 0..240 {
        match i {
            60 => {
                t.ok("kubectl scale deployment web --replicas=5");
            }
            140 => {
                t.ok("kubectl scale deployment web --replicas=1");
            }
            _ => {}
        }
        t.step(100);
        let now = with_port(&t.ready_pod_ips("web"), 80);
        if now == expected {
            still_ms += 100;
        } else {
            expected = now;
            still_ms = 0;
        }
        // Once the pods have been still for a second, the endpoints agree.
        if still_ms >= 1_000 {
            let ready = t.endpoints("web").0;
            assert_eq!(ready, expected, "step {i}: endpoints lag the ready pods");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} steps checked");
    assert_eq!(expected.len(), 1);
}
