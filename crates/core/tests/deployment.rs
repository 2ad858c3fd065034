//! kube-controller-manager's Deployment controller end to end: a Deployment
//! gets a ReplicaSet `<name>-<pod-template-hash>` with the revision and
//! replicas annotations and reaches its replicas; scaling resizes it; a new
//! template rolls out through a second ReplicaSet within maxSurge and
//! maxUnavailable at every 100 ms step; `kubectl rollout undo`, `pause`,
//! `resume` and `history` work like kubectl 1.32's; revisionHistoryLimit
//! deletes the oldest ReplicaSets.
//!
//! Pods become Ready only through the kubelet, which does not run them yet:
//! the tests that need available pods mark them Running and Ready
//! themselves with [`Test::make_pods_ready`], a PATCH of each pod's status
//! as the kubelet would send it. Those tests say so in their names
//! (`..._with_pods_marked_ready`); once the kubelet runs pods they can drop
//! the helper.

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

    fn step(&mut self, ms: u64) {
        self.c.advance(Duration::from_millis(ms)).unwrap();
    }

    /// The ReplicaSets controlled by Deployment `d`, oldest revision first.
    fn replica_sets(&mut self, d: &str) -> Vec<Value> {
        let uid = self.json(&format!("kubectl get deploy {d} -o json"))["metadata"]["uid"].clone();
        let mut rss: Vec<Value> = self.json("kubectl get rs -o json")["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rs| {
                rs["metadata"]["ownerReferences"].as_array().is_some_and(|r| r.iter().any(|o| o["uid"] == uid))
            })
            .cloned()
            .collect();
        rss.sort_by_key(|rs| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap_or("0")
                .parse::<i64>()
                .unwrap_or(0)
        });
        rss
    }

    /// Active pods whose labels carry `app=<app>`.
    fn pods(&mut self, app: &str) -> Vec<Value> {
        self.json(&format!("kubectl get pods -l app={app} -o json"))["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .cloned()
            .collect()
    }

    /// Marks every active, not yet ready pod of `app` Running and Ready,
    /// PATCHing its status as the kubelet would. Stands in for the kubelet
    /// until it runs pods.
    fn make_pods_ready(&mut self, app: &str) {
        let now = kscope_core::apimachinery::time::rfc3339(self.c.now_ms());
        for p in self.pods(app) {
            if p["status"]["phase"] == "Running" {
                continue;
            }
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            let status = format!(
                r#"{{"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{now}"}},{{"type":"ContainersReady","status":"True","lastTransitionTime":"{now}"}}]}}}}"#
            );
            self.ok(&format!("kubectl patch pod {name} --subresource=status --type=merge -p '{status}'"));
        }
    }

    fn ready_count(&mut self, app: &str) -> usize {
        self.pods(app)
            .iter()
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
            .count()
    }
}

fn deployment(name: &str, replicas: u32, image: &str, extra: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n{extra}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: c, image: {image}, resources: {{requests: {{cpu: 100m}}}}}}]\nEOF"
    )
}

#[test]
fn a_deployment_creates_its_replica_set_which_reaches_the_replicas() {
    let mut t = Test::new();
    t.ok(&deployment("web", 3, "nginx:1.27", ""));
    t.step(3_000);
    let rss = t.replica_sets("web");
    assert_eq!(rss.len(), 1, "{rss:?}");
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash);
    assert_eq!(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], hash);
    assert_eq!(rs["spec"]["replicas"], 3);
    let a = &rs["metadata"]["annotations"];
    assert_eq!(
        (
            &a["deployment.kubernetes.io/revision"],
            &a["deployment.kubernetes.io/desired-replicas"],
            &a["deployment.kubernetes.io/max-replicas"]
        ),
        (&Value::from("1"), &Value::from("3"), &Value::from("4"))
    );
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["controller"].as_bool(), owner["blockOwnerDeletion"].as_bool()),
        (Some("Deployment"), Some(true), Some(true))
    );
    assert_eq!(t.pods("web").len(), 3);
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!((d["status"]["replicas"].as_i64(), d["status"]["updatedReplicas"].as_i64()), (Some(3), Some(3)));
    assert_eq!(d["status"]["unavailableReplicas"], 3);
    assert_eq!(d["status"]["observedGeneration"], 1);
    let conditions = d["status"]["conditions"].as_array().unwrap();
    let available = conditions.iter().find(|c| c["type"] == "Available").unwrap();
    assert_eq!(
        (available["status"].as_str(), available["reason"].as_str()),
        (Some("False"), Some("MinimumReplicasUnavailable"))
    );
    assert_eq!(available["message"], "Deployment does not have minimum availability.");
    let progressing = conditions.iter().find(|c| c["type"] == "Progressing").unwrap();
    assert_eq!(progressing["status"], "True");
    let describe = t.ok("kubectl describe deploy web");
    assert!(describe.contains(&format!("NewReplicaSet:   web-{hash} (3/3 replicas created)")), "{describe}");
    assert!(describe.contains("OldReplicaSets:  <none>"), "{describe}");
    assert!(
        describe.contains(&format!("deployment-controller  Scaled up replica set web-{hash} from 0 to 3")),
        "{describe}"
    );
}
