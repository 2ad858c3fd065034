//! The kubelet and its simulated container runtime, end to end through
//! kube-apiserver: what `kubectl get pods`, `describe` and `logs` show as a
//! pod is pulled, started, probed, restarted and deleted, with the
//! kubelet's timings (CrashLoopBackOff 10 s doubling, image pull back-off,
//! probe periods, the 30 s grace period for a process that ignores SIGTERM).
//! Every 100 ms of the longer scenarios checks that no two live pods on a
//! node share an IP and that each pod's IP is in its node's pod CIDR.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;
use std::collections::BTreeMap;

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

    fn fails(&mut self, text: &str) -> String {
        let out = common::run(&mut self.c, text);
        assert!(!out.ok, "{text} should fail: {}", out.text);
        out.text
    }

    fn json(&mut self, command: &str) -> Value {
        common::json(&mut self.c, command)
    }

    fn pod(&mut self, name: &str) -> Value {
        self.json(&format!("kubectl get pod {name} -o json"))
    }

    /// The STATUS and RESTARTS cells of `kubectl get pod NAME`.
    fn row(&mut self, name: &str) -> (String, String) {
        let text = self.ok(&format!("kubectl get pod {name}"));
        let line = text.lines().nth(1).unwrap_or_default().to_string();
        let cells: Vec<&str> = line.split_whitespace().collect();
        let restarts = cells[3..cells.len() - 1].join(" ");
        (cells[2].to_string(), restarts)
    }

    /// Advances in 100 ms steps, checking pod IPs at each.
    fn advance(&mut self, ms: u64) {
        for _ in 0..ms / 100 {
            self.c.advance(Duration::from_millis(100)).unwrap();
            self.check_ips();
        }
    }

    fn check_ips(&mut self) {
        let nodes = self.json("kubectl get nodes -o json");
        let cidrs: BTreeMap<String, String> = nodes["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["metadata"]["name"].as_str().unwrap().into(), n["spec"]["podCIDR"].as_str().unwrap().into()))
            .collect();
        let pods = self.json("kubectl get pods -A -o json");
        let mut seen = BTreeMap::new();
        for p in pods["items"].as_array().unwrap() {
            let (Some(ip), Some(node)) = (p["status"]["podIP"].as_str(), p["spec"]["nodeName"].as_str()) else {
                continue;
            };
            if p["spec"]["hostNetwork"] == true {
                // Host-network pods (static pods, kube-proxy) have their node's address.
                continue;
            }
            let prefix = cidrs[node].trim_end_matches("0/24");
            assert!(ip.starts_with(prefix), "{ip} is outside {node}'s {}", cidrs[node]);
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            if let Some(other) = seen.insert(ip.to_string(), name.clone()) {
                panic!("{name} and {other} share {ip}");
            }
        }
    }

    /// (reason, message) of the events about `name`, oldest first.
    fn events(&mut self, name: &str) -> Vec<(String, String)> {
        let v = self.json(&format!("kubectl get events --field-selector involvedObject.name={name} -o json"));
        let mut items: Vec<Value> = v["items"].as_array().unwrap().clone();
        items.sort_by_key(|e| {
            (
                e["firstTimestamp"]
                    .as_str()
                    .or(e["eventTime"].as_str())
                    .unwrap_or_default()
                    .chars()
                    .take(19)
                    .collect::<String>(),
                e["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            )
        });
        items
            .iter()
            .map(|e| (e["reason"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
            .collect()
    }
}

fn shell_pod(name: &str, image: &str, script: &str, extra: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra}  containers:\n  - name: c\n    image: {image}\n    command: [sh, -c, '{script}']\nEOF"
    )
}

#[test]
fn a_pod_is_pulled_started_and_reported_running() {
    let mut t = Test::new();
    t.ok("kubectl run web --image=nginx:1.27");
    t.advance(500);
    assert_eq!(t.row("web"), ("ContainerCreating".into(), "0".into()));
    let pod = t.pod("web");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    assert_eq!(pod["status"]["containerStatuses"][0]["image"], "nginx:1.27");
    t.advance(2_500);
    assert_eq!(t.row("web"), ("Running".into(), "0".into()));
    let pod = t.pod("web");
    let status = &pod["status"];
    assert_eq!(status["phase"], "Running");
    let types: Vec<&str> =
        status["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
    assert!(status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "True" && c.get("reason").is_none()));
    let c = &status["containerStatuses"][0];
    assert_eq!(c["image"], "docker.io/library/nginx:1.27");
    assert!(c["imageID"].as_str().unwrap().starts_with("docker.io/library/nginx@sha256:"));
    assert!(c["containerID"].as_str().unwrap().starts_with("containerd://"));
    assert_eq!((c["ready"].as_bool(), c["started"].as_bool()), (Some(true), Some(true)));
    assert!(status["podIP"].as_str().unwrap().starts_with("10.244."));
    assert_eq!(status["hostIP"], status["hostIPs"][0]["ip"]);
    let reasons: Vec<String> = t.events("web").into_iter().map(|(r, _)| r).collect();
    assert_eq!(reasons, ["Scheduled", "Pulling", "Pulled", "Created", "Started"]);
    let pulled = t.events("web")[2].1.clone();
    assert!(
        // Pulls are serialized: at 3 s the node is still pulling its add-on
        // images (kube-proxy, coredns), so nginx waits half a second.
        pulled.starts_with("Successfully pulled image \"nginx:1.27\" in 1.741s (2.457s including waiting). Image size: 72099410 bytes."),
        "{pulled}"
    );
    assert_eq!(t.events("web")[3].1, "Created container: web");
    // The node reports the image at its next status update (every 10 s).
    t.advance(10_000);
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let images = t.json(&format!("kubectl get node {node} -o json"))["status"]["images"].clone();
    assert!(images.as_array().unwrap().iter().any(|i| i["names"][1] == "docker.io/library/nginx:1.27"), "{images}");
    // A second pod with the same IfNotPresent image on that node needs no pull.
    t.ok(&format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {{name: web2}}\nspec:\n  nodeName: {node}\n  containers: [{{name: web, image: 'nginx:1.27'}}]\nEOF"
    ));
    t.advance(1_000);
    assert_eq!(t.row("web2").0, "Running");
    assert!(t
        .events("web2")
        .contains(&("Pulled".into(), "Container image \"nginx:1.27\" already present on machine".into())));
}

#[test]
fn a_crashing_container_backs_off_10s_20s_40s() {
    let mut t = Test::new();
    t.ok(&shell_pod("crash", "busybox:1.36", "echo boom; exit 1", ""));
    // Restarts happen when the previous back-off has passed: the first at
    // once, then 10 s, 20 s and 40 s after each exit.
    let mut restarts_at = Vec::new();
    let mut last = 0;
    while t.c.now_ms() < 90_000 {
        t.c.advance(Duration::from_millis(100)).unwrap();
        let n = t.pod("crash")["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0);
        if n != last {
            restarts_at.push(t.c.now_ms());
            last = n;
        }
    }
    assert_eq!(restarts_at.len(), 4, "{restarts_at:?}");
    let gaps: Vec<u64> = restarts_at.windows(2).map(|w| (w[1] - w[0] + 500) / 1000).collect();
    assert_eq!(gaps, [10, 20, 40], "{restarts_at:?}");
    let pod = t.pod("crash");
    let c = &pod["status"]["containerStatuses"][0];
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(
        c["state"]["waiting"]["message"],
        format!("back-off 1m20s restarting failed container=c pod=crash_default({uid})")
    );
    assert_eq!(pod["status"]["phase"], "Running", "restartPolicy Always keeps it Running");
    let (status, restarts) = t.row("crash");
    assert_eq!(status, "CrashLoopBackOff");
    assert!(restarts.starts_with("4 (") && restarts.ends_with(" ago)"), "{restarts}");
    assert_eq!(t.ok("kubectl logs crash"), "boom\n");
    assert_eq!(t.ok("kubectl logs crash --previous"), "boom\n");
    let backoff = t.events("crash").into_iter().filter(|(r, _)| r == "BackOff").count();
    assert_eq!(backoff, 1, "repeats are counted on one event");
    let describe = t.ok("kubectl describe pod crash");
    assert!(
        describe.contains("    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    1\n"),
        "{describe}"
    );
    assert!(describe.contains(&format!("Back-off restarting failed container c in pod crash_default({uid})")));
}

#[test]
fn restart_policy_decides_completed_and_error() {
    let mut t = Test::new();
    t.ok(&shell_pod("ok", "busybox", "echo done", "  restartPolicy: Never\n"));
    t.ok(&shell_pod("bad", "busybox", "exit 3", "  restartPolicy: Never\n"));
    t.ok(&shell_pod("retry", "busybox", "exit 3", "  restartPolicy: OnFailure\n"));
    t.ok(&shell_pod("again", "busybox", "exit 0", "  restartPolicy: OnFailure\n"));
    t.advance(5_000);
    assert_eq!(t.row("ok"), ("Completed".into(), "0".into()));
    assert_eq!(t.pod("ok")["status"]["phase"], "Succeeded");
    let ready = t.pod("ok")["status"]["conditions"][2].clone();
    assert_eq!((ready["type"].as_str(), ready["reason"].as_str()), (Some("Ready"), Some("PodCompleted")));
    assert_eq!(t.row("bad"), ("Error".into(), "0".into()));
    assert_eq!(t.pod("bad")["status"]["phase"], "Failed");
    assert_eq!(t.pod("bad")["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
    assert_eq!(t.pod("retry")["status"]["phase"], "Running");
    assert!(t.pod("retry")["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap() >= 1);
    assert_eq!(t.row("again").0, "Completed");
    assert_eq!(t.ok("kubectl logs ok"), "done\n");
}

#[test]
fn a_missing_image_goes_from_err_image_pull_to_image_pull_back_off() {
    let mut t = Test::new();
    t.ok("kubectl run typo --image=nginy");
    t.advance(2_000);
    let error = "failed to pull and unpack image \"docker.io/library/nginy:latest\": failed to resolve reference \"docker.io/library/nginy:latest\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed";
    let c = t.pod("typo")["status"]["containerStatuses"][0].clone();
    assert_eq!(c["state"]["waiting"]["reason"], "ErrImagePull");
    assert_eq!(c["state"]["waiting"]["message"], error);
    assert_eq!(t.row("typo").0, "ErrImagePull");
    // The pod worker retries every 10 s; the image back-off doubles from
    // 10 s, so a retry soon falls inside it.
    let mut c = Value::Null;
    for _ in 0..400 {
        t.c.advance(Duration::from_millis(100)).unwrap();
        c = t.pod("typo")["status"]["containerStatuses"][0].clone();
        if c["state"]["waiting"]["reason"] == "ImagePullBackOff" {
            break;
        }
    }
    assert_eq!(c["state"]["waiting"]["reason"], "ImagePullBackOff");
    assert_eq!(t.row("typo").0, "ImagePullBackOff");
    assert_eq!(c["state"]["waiting"]["message"], format!("Back-off pulling image \"nginy\": ErrImagePull: {error}"));
    let events = t.events("typo");
    assert!(events.contains(&("Failed".into(), format!("Failed to pull image \"nginy\": {error}"))));
    assert!(events.contains(&("Failed".into(), "Error: ErrImagePull".into())));
    assert!(events.contains(&("BackOff".into(), "Back-off pulling image \"nginy\"".into())));
    assert!(events.contains(&("Failed".into(), "Error: ImagePullBackOff".into())));
    assert_eq!(
        t.fails("kubectl logs typo"),
        "Error from server (BadRequest): container \"typo\" in pod \"typo\" is waiting to start: ImagePullBackOff\n"
    );
    // Fixing the image lets it run.
    t.ok("kubectl delete pod typo");
    t.advance(1_000);
    assert!(!t.ok("kubectl get pods").contains("typo"), "a container that never started goes at once");
}

#[test]
fn liveness_and_readiness_probes_like_the_documentation() {
    let mut t = Test::new();
    // https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
    t.ok("kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: liveness-exec}\nspec:\n  containers:\n  - name: liveness\n    image: registry.k8s.io/busybox\n    args: [/bin/sh, -c, 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600']\n    livenessProbe:\n      exec: {command: [cat, /tmp/healthy]}\n      initialDelaySeconds: 5\n      periodSeconds: 5\nEOF");
    t.ok("kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: unready}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    readinessProbe:\n      httpGet: {path: /, port: 8080}\n      periodSeconds: 2\nEOF");
    t.advance(20_000);
    assert_eq!(t.pod("liveness-exec")["status"]["containerStatuses"][0]["restartCount"], 0);
    // nginx listens on 80, not 8080: never ready, but running.
    let unready = t.ok("kubectl get pod unready");
    assert!(unready.contains("unready   0/1     Running   0"), "{unready}");
    let ip = t.pod("unready")["status"]["podIP"].as_str().unwrap().to_string();
    assert!(t.events("unready").contains(&(
        "Unhealthy".into(),
        format!("Readiness probe failed: Get \"http://{ip}:8080/\": dial tcp {ip}:8080: connect: connection refused")
    )));
    let ready = t.pod("unready")["status"]["conditions"][2].clone();
    assert_eq!(ready["message"], "containers with unready status: [web]");
    // /tmp/healthy goes at 30 s; three failures 5 s apart; then the shell,
    // which ignores SIGTERM, is killed after the 30 s grace period.
    t.advance(60_000);
    let events = t.events("liveness-exec");
    assert!(events.contains(&(
        "Unhealthy".into(),
        "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n".into()
    )));
    assert!(events.contains(&("Killing".into(), "Container liveness failed liveness probe, will be restarted".into())));
    let c = t.pod("liveness-exec")["status"]["containerStatuses"][0].clone();
    assert_eq!(c["restartCount"], 1);
    assert_eq!(
        (c["lastState"]["terminated"]["exitCode"].as_i64(), c["lastState"]["terminated"]["reason"].as_str()),
        (Some(137), Some("Error"))
    );
}

#[test]
fn init_containers_run_first_and_in_order() {
    let mut t = Test::new();
    t.ok("kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  initContainers:\n  - {name: wait, image: busybox, command: [sh, -c, 'echo waiting; sleep 5']}\n  - {name: setup, image: busybox, command: [sh, -c, 'echo set up']}\n  containers:\n  - {name: main, image: nginx}\nEOF");
    t.advance(2_000);
    assert_eq!(t.row("app").0, "Init:0/2");
    let pod = t.pod("app");
    assert_eq!(pod["status"]["conditions"][1]["message"], "containers with incomplete status: [wait setup]");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
    t.advance(8_000);
    assert_eq!(t.row("app").0, "Running");
    let pod = t.pod("app");
    let inits: Vec<(Value, Value)> = pod["status"]["initContainerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].clone(), s["state"]["terminated"]["reason"].clone()))
        .collect();
    assert_eq!(inits, [("wait".into(), "Completed".into()), ("setup".into(), "Completed".into())]);
    assert_eq!(t.ok("kubectl logs app -c setup"), "set up\n");
}

#[test]
fn deletion_waits_for_the_grace_period_only_when_sigterm_is_ignored() {
    let mut t = Test::new();
    t.ok("kubectl run web --image=nginx");
    t.ok(&shell_pod("sleeper", "busybox", "sleep 3600", ""));
    t.ok(&shell_pod("quick", "busybox", "sleep 3600", "  terminationGracePeriodSeconds: 5\n"));
    t.advance(5_000);
    for name in ["web", "sleeper", "quick"] {
        t.ok(&format!("kubectl delete pod {name} --wait=false"));
    }
    t.advance(1_000);
    let pods = t.ok("kubectl get pods");
    assert!(!pods.contains("web "), "nginx stops on SIGTERM: {pods}");
    assert!(pods.contains("sleeper   1/1     Terminating"), "{pods}");
    assert!(t.events("sleeper").contains(&("Killing".into(), "Stopping container c".into())));
    t.advance(5_000);
    assert!(!t.ok("kubectl get pods").contains("quick"));
    t.advance(25_000);
    assert_eq!(t.ok("kubectl get pods"), "No resources found in default namespace.\n");
}

#[test]
fn a_restarted_node_starts_its_pods_again() {
    let mut t = Test::new();
    t.ok("kubectl run web --image=nginx");
    t.advance(3_000);
    let node = t.pod("web")["spec"]["nodeName"].as_str().unwrap().to_string();
    t.ok(&format!("sim kill kubelet/{node}"));
    t.advance(5_000);
    t.ok(&format!("sim start kubelet/{node}"));
    t.advance(5_000);
    let c = t.pod("web")["status"]["containerStatuses"][0].clone();
    assert_eq!(c["restartCount"], 1);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Unknown");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 255);
    assert!(c["state"]["running"].is_object(), "{c}");
}

#[test]
fn kubelet_runs_are_deterministic() {
    let run = || {
        let mut t = Test::new();
        t.ok(&shell_pod("crash", "busybox", "echo boom; sleep 1; exit 1", ""));
        t.ok("kubectl run web --image=nginx");
        t.c.advance(Duration::from_secs(40)).unwrap();
        (t.ok("kubectl get pods -o wide"), t.ok("kubectl describe pod crash"))
    };
    assert_eq!(run(), run());
}

#[test]
fn a_final_delete_refused_while_etcd_has_no_leader_is_sent_again() {
    let mut t = Test::new();
    t.ok("kubectl run web --image=nginx");
    t.advance(5_000);
    let node = t.pod("web")["spec"]["nodeName"].as_str().unwrap().to_string();
    t.ok("kubectl delete pod web --wait=false");
    // nginx stops at once; the kubelet's final delete (grace period 0)
    // reaches kube-apiserver while etcd has lost its quorum, and fails.
    common::until_sent(&mut t.c, &format!("kubelet/{node}"), "DELETE /api/v1/namespaces/default/pods/web");
    t.ok("sim kill etcd-1");
    t.ok("sim kill etcd-2");
    t.c.advance(Duration::from_secs(70)).unwrap();
    t.ok("sim start etcd-1");
    t.ok("sim start etcd-2");
    // The next node sync (every 10 s) sends it again.
    t.c.advance(Duration::from_secs(20)).unwrap();
    let out = common::run(&mut t.c, "kubectl get pod web");
    assert!(!out.ok && out.text.contains("not found"), "{}", out.text);
}
