//! kube-controller-manager's Deployment controller end to end: a Deployment
//! gets a ReplicaSet `<name>-<pod-template-hash>` with the revision and
//! replicas annotations and reaches its replicas; scaling resizes it; a new
//! template rolls out through a second ReplicaSet within maxSurge and
//! maxUnavailable at every 100 ms step; `kubectl rollout undo`, `pause`,
//! `resume` and `history` work like kubectl 1.32's; revisionHistoryLimit
//! deletes the oldest ReplicaSets.
//!
//! The kubelets run the pods (nginx pulls in under 2 s), so availability
//! comes from real Ready conditions.

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
    // Half a second in, the pods exist but their image is still being pulled.
    t.step(500);
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
    // Once the kubelets run them, the Deployment is available.
    t.step(4_000);
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!((d["status"]["readyReplicas"].as_i64(), d["status"]["availableReplicas"].as_i64()), (Some(3), Some(3)));
    let available = d["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Available").cloned();
    assert_eq!(available.unwrap()["message"], "Deployment has minimum availability.");
    let get = t.ok("kubectl get deploy web");
    assert!(get.contains("web    3/3     3            3"), "{get}");
    let describe = t.ok("kubectl describe deploy web");
    assert!(describe.contains(&format!("NewReplicaSet:   web-{hash} (3/3 replicas created)")), "{describe}");
    assert!(describe.contains("OldReplicaSets:  <none>"), "{describe}");
    assert!(
        describe.contains(&format!("deployment-controller  Scaled up replica set web-{hash} from 0 to 3")),
        "{describe}"
    );
}

#[test]
fn scaling_a_deployment_resizes_its_replica_set() {
    let mut t = Test::new();
    t.ok(&deployment("web", 2, "nginx:1.27", ""));
    t.step(2_000);
    t.ok("kubectl scale deployment web --replicas=5");
    t.step(2_000);
    let rss = t.replica_sets("web");
    assert_eq!(rss.len(), 1);
    assert_eq!(rss[0]["spec"]["replicas"], 5);
    assert_eq!(rss[0]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "5");
    assert_eq!(t.pods("web").len(), 5);
    let name = rss[0]["metadata"]["name"].as_str().unwrap().to_string();
    let describe = t.ok("kubectl describe deploy web");
    assert!(describe.contains(&format!("Scaled up replica set {name} from 2 to 5")), "{describe}");
    t.ok("kubectl scale deployment web --replicas=1");
    t.step(2_000);
    assert_eq!(t.pods("web").len(), 1);
    assert!(t.ok("kubectl describe deploy web").contains(&format!("Scaled down replica set {name} from 5 to 1")));
}

#[test]
fn a_new_image_rolls_out_within_surge_and_unavailability() {
    let mut t = Test::new();
    let strategy = "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}\n";
    t.ok(&deployment("web", 4, "nginx:1.26", strategy));
    t.step(2_000);
    t.step(2_000);
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(d["status"]["availableReplicas"], 4, "{d}");
    assert!(t.ok("kubectl rollout status deployment web").contains("successfully rolled out"));
    let progressing =
        d["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Progressing").cloned().unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    let first = t.replica_sets("web")[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(progressing["message"], format!("ReplicaSet \"{first}\" has successfully progressed."));

    t.ok("kubectl set image deployment/web c=nginx:1.27");
    for _ in 0..300 {
        t.step(100);
        let pods = t.pods("web");
        assert!(pods.len() <= 4 + 1, "{} pods exceed replicas + maxSurge", pods.len());
        let ready = t.ready_count("web");
        assert!(ready >= 4 - 1, "{ready} ready pods are fewer than replicas - maxUnavailable");
    }
    let rss = t.replica_sets("web");
    assert_eq!(rss.len(), 2);
    assert_eq!(
        (rss[0]["metadata"]["name"].as_str(), rss[0]["spec"]["replicas"].as_i64()),
        (Some(first.as_str()), Some(0))
    );
    assert_eq!(rss[1]["spec"]["replicas"], 4);
    assert_eq!(rss[1]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(
        (d["status"]["updatedReplicas"].as_i64(), d["status"]["availableReplicas"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let describe = t.ok("kubectl describe deploy web");
    let second = rss[1]["metadata"]["name"].as_str().unwrap();
    assert!(describe.contains(&format!("NewReplicaSet:   {second} (4/4 replicas created)")), "{describe}");
    assert!(describe.contains("OldReplicaSets:  <none>"), "{describe}");
    assert!(describe.contains(&format!("Scaled down replica set {first} from 4 to 3")), "{describe}");
    assert_eq!(
        t.ok("kubectl rollout history deployment/web"),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    );

    // Undo goes back to revision 1's template, which becomes revision 3.
    assert_eq!(t.ok("kubectl rollout undo deployment/web"), "deployment.apps/web rolled back\n");
    for _ in 0..300 {
        t.step(100);
        assert!(t.pods("web").len() <= 5);
    }
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
    assert!(d["spec"]["template"]["metadata"]["labels"]["pod-template-hash"].is_null());
    let rss = t.replica_sets("web");
    assert_eq!(rss.len(), 2, "the old ReplicaSet is new again");
    assert_eq!(rss[1]["metadata"]["name"], first.as_str());
    assert_eq!(rss[1]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert_eq!(rss[1]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");
    assert_eq!(rss[1]["spec"]["replicas"], 4);
    assert_eq!(
        t.ok("kubectl rollout history deployment/web"),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n2         <none>\n3         <none>\n\n"
    );
    let history = t.ok("kubectl rollout history deployment/web --revision=2");
    assert!(
        history.starts_with(
            "deployment.apps/web with revision #2\nPod Template:\n  Labels:\tapp=web\n  \tpod-template-hash="
        ),
        "{history}"
    );
    assert!(history.contains("    Image:\tnginx:1.27\n"), "{history}");
    assert_eq!(
        common::run(&mut t.c, "kubectl rollout undo deployment/web --to-revision=9").text,
        "error: unable to find specified revision 9 in history\n"
    );
    assert_eq!(
        t.ok("kubectl rollout undo deployment/web --to-revision=3"),
        "deployment.apps/web skipped rollback (current template already matches revision 3)\n"
    );
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out() {
    let mut t = Test::new();
    t.ok(&deployment("web", 2, "nginx:1.26", ""));
    t.step(2_000);
    assert_eq!(t.ok("kubectl rollout pause deployment/web"), "deployment.apps/web paused\n");
    assert_eq!(
        common::run(&mut t.c, "kubectl rollout pause deployment/web").text,
        "error: deployments.apps \"web\" is already paused\n"
    );
    t.ok("kubectl set image deployment/web c=nginx:1.27");
    t.ok("kubectl scale deployment web --replicas=3");
    t.step(3_000);
    let rss = t.replica_sets("web");
    assert_eq!(rss.len(), 1, "no new ReplicaSet while paused");
    assert_eq!(rss[0]["spec"]["replicas"], 3, "scaling still happens");
    let d = t.json("kubectl get deploy web -o json");
    let progressing =
        d["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Progressing").cloned().unwrap();
    assert_eq!(
        (progressing["status"].as_str(), progressing["reason"].as_str()),
        (Some("Unknown"), Some("DeploymentPaused"))
    );
    assert_eq!(
        common::run(&mut t.c, "kubectl rollout undo deployment/web").text,
        "error: no rollout history found for deployment \"web\"\n",
        "kubectl looks for the previous revision first"
    );
    assert_eq!(t.ok("kubectl rollout resume deployment/web"), "deployment.apps/web resumed\n");
    assert_eq!(
        common::run(&mut t.c, "kubectl rollout resume deployment/web").text,
        "error: deployments.apps \"web\" is not paused\n"
    );
    t.step(3_000);
    assert_eq!(t.replica_sets("web").len(), 2, "the rollout starts once resumed");
}

#[test]
fn revision_history_limit_deletes_the_oldest_replica_sets() {
    let mut t = Test::new();
    t.ok(&deployment("web", 1, "nginx:1.20", "  revisionHistoryLimit: 1\n"));
    for image in ["nginx:1.21", "nginx:1.22", "nginx:1.23", "nginx:1.24"] {
        for _ in 0..30 {
            t.step(100);
        }
        t.ok(&format!("kubectl set image deployment/web c={image}"));
    }
    for _ in 0..50 {
        t.step(100);
    }
    let rss = t.replica_sets("web");
    let revisions: Vec<&str> = rss
        .iter()
        .map(|rs| rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().unwrap())
        .collect();
    assert_eq!(revisions, ["4", "5"], "one old ReplicaSet is kept");
}

#[test]
fn a_write_lost_in_a_partition_is_given_up_after_a_minute() {
    let mut t = Test::new();
    t.ok(&deployment("web", 3, "nginx", ""));
    t.step(20_000);
    assert_eq!(t.ready_count("web"), 3);
    // The controller records the pause in the Deployment's status; that
    // write is lost in a brief partition and no answer will ever come.
    // The controller's write may leave while kubectl still waits for its
    // own answer, so the sends are recorded from before the command.
    common::record_sends(&mut t.c);
    t.ok("kubectl rollout pause deployment web");
    common::until_sent_since_recording(&mut t.c, "kube-controller-manager", "/deployments/web/status");
    common::ok(&mut t.c, "sim partition kube-controller-manager");
    t.step(100);
    t.ok("sim heal");
    t.ok("kubectl rollout resume deployment web");
    t.ok("kubectl scale deployment web --replicas=1");
    // Waiting for the answer, the controller would never sync the
    // Deployment again; after 60 s the write counts as failed and it does.
    t.step(90_000);
    let d = t.json("kubectl get deploy web -o json");
    assert_eq!(d["status"]["observedGeneration"], d["metadata"]["generation"], "{d}");
    assert_eq!(d["status"]["replicas"], 1, "{}", t.ok("kubectl get rs,pods"));
    assert_eq!(t.replica_sets("web")[0]["spec"]["replicas"], 1);
    assert_eq!(t.pods("web").len(), 1);
}
