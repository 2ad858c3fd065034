//! kube-controller-manager's DaemonSet controller end to end: a DaemonSet
//! runs one pod on each of the three nodes (pinned by a required node
//! affinity on the node's name, with the DaemonSet tolerations, labelled
//! with the revision hash) and reports 3/3; a nodeSelector limits it and
//! node labels move it; a NoSchedule-tainted node is skipped unless the
//! template tolerates the taint, a NoExecute taint removes the pod;
//! cordoning leaves the pod alone; a new image rolls through the nodes with
//! never more than `maxUnavailable` node without an available pod at any
//! 100 ms step (and with `maxSurge`, never one); `kubectl rollout
//! status|history|undo` follow the ControllerRevisions; OnDelete waits for
//! manual deletes; deleting the DaemonSet removes its pods and revisions;
//! a killed and restarted kubelet keeps exactly one pod.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use serde_json::Value;
use std::collections::BTreeMap;

mod common;

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    c
}

/// A DaemonSet `name` running `image`, with `extra` lines indented under `spec:`
/// of the template and `strategy` under the DaemonSet's `spec:`.
fn daemon_set(name: &str, image: &str, template_extra: &str, strategy: &str) -> String {
    format!(
        "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}}}\nspec:\n{strategy}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{template_extra}      containers: [{{name: c, image: {image}}}]\nEOF"
    )
}

fn advance(c: &mut Cluster, secs: u64) {
    c.advance(Duration::from_secs(secs)).unwrap();
}

/// The pods the DaemonSet `name` controls, not terminating, by node.
fn pods_by_node(c: &mut Cluster, name: &str) -> BTreeMap<String, Vec<Value>> {
    let uid = common::json(c, &format!("kubectl get ds {name} -o json"))["metadata"]["uid"].clone();
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in common::json(c, "kubectl get pods -o json")["items"].as_array().unwrap() {
        let owned = p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|o| o["uid"] == uid && o["controller"] == true));
        if owned && p["metadata"]["deletionTimestamp"].is_null() {
            let node = p["spec"]["nodeName"].as_str().unwrap_or("<unscheduled>").to_string();
            out.entry(node).or_default().push(p.clone());
        }
    }
    out
}

fn nodes(pods: &BTreeMap<String, Vec<Value>>) -> Vec<&str> {
    pods.keys().map(String::as_str).collect()
}

fn status(c: &mut Cluster, name: &str) -> Value {
    common::json(c, &format!("kubectl get ds {name} -o json"))["status"].clone()
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap()
}

#[test]
fn a_daemon_set_runs_one_pod_on_every_node() {
    let mut c = cluster();
    assert_eq!(common::ok(&mut c, &daemon_set("agent", "nginx", "", "")), "daemonset.apps/agent created\n");
    let ds = common::json(&mut c, "kubectl get ds agent -o json");
    // SetDefaults_DaemonSet and the strategy's template generation.
    assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"], serde_json::json!({"maxSurge": 0, "maxUnavailable": 1}));
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");
    advance(&mut c, 8);
    let pods = pods_by_node(&mut c, "agent");
    assert_eq!(nodes(&pods), ["node-1", "node-2", "node-3"]);
    let revisions = common::json(&mut c, "kubectl get controllerrevisions -o json");
    let revision = &revisions["items"][0];
    let hash = revision["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap().to_string();
    assert_eq!(revision["metadata"]["name"], format!("agent-{hash}"));
    assert_eq!(revision["revision"], 1);
    assert_eq!(revision["data"]["spec"]["template"]["$patch"], "replace");
    for (node, list) in &pods {
        assert_eq!(list.len(), 1, "{node}: {list:?}");
        let p = &list[0];
        assert_eq!(p["status"]["phase"], "Running", "{p}");
        assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], hash.as_str());
        assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "1");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        let term = &p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0];
        assert_eq!(term, &serde_json::json!({"key": "metadata.name", "operator": "In", "values": [node]}));
        let tolerations: Vec<String> = p["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}:{}", t["key"].as_str().unwrap(), t["effect"].as_str().unwrap()))
            .collect();
        assert_eq!(
            tolerations,
            [
                "node.kubernetes.io/not-ready:NoExecute",
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/disk-pressure:NoSchedule",
                "node.kubernetes.io/memory-pressure:NoSchedule",
                "node.kubernetes.io/pid-pressure:NoSchedule",
                "node.kubernetes.io/unschedulable:NoSchedule"
            ]
        );
        // DefaultTolerationSeconds added nothing: the daemon tolerations have no limit.
        assert!(p["spec"]["tolerations"][0]["tolerationSeconds"].is_null());
    }
    assert_eq!(
        status(&mut c, "agent"),
        serde_json::json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberAvailable": 3,
            "numberMisscheduled": 0, "numberReady": 3, "observedGeneration": 1, "updatedNumberScheduled": 3})
    );
    let table = common::ok(&mut c, "kubectl get ds");
    assert!(
        table.starts_with(
            "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE\nagent   3         3         3       3            3           <none>          "
        ),
        "{table}"
    );
    let revisions = common::ok(&mut c, "kubectl get controllerrevisions");
    assert!(revisions.contains(&format!("agent-{hash}   daemonset.apps/agent   1          ")), "{revisions}");
    let describe = common::ok(&mut c, "kubectl describe ds agent");
    assert!(describe.contains("\nDesired Number of Nodes Scheduled: 3\n"), "{describe}");
    assert!(describe.contains("Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed"), "{describe}");
    assert_eq!(describe.matches("SuccessfulCreate  8s    daemonset-controller  Created pod: agent-").count(), 3);
    assert_eq!(common::ok(&mut c, "kubectl rollout status ds/agent"), "daemon set \"agent\" successfully rolled out\n");
}

#[test]
fn invalid_daemon_sets_are_refused() {
    let mut c = cluster();
    let manifest = "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: bad}\nspec:\n  selector: {matchLabels: {app: x}}\n  updateStrategy: {rollingUpdate: {maxUnavailable: 0}}\n  template:\n    metadata: {labels: {app: y}}\n    spec:\n      restartPolicy: OnFailure\n      containers: [{name: c, image: nginx}]\nEOF";
    let out = common::run(&mut c, manifest);
    assert!(!out.ok);
    assert_eq!(
        out.text,
        "The DaemonSet \"bad\" is invalid: \n* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`\n* spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"\n* spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0\n"
    );
}

#[test]
fn a_node_selector_limits_the_nodes_and_node_labels_move_the_pods() {
    let mut c = cluster();
    common::ok(&mut c, "kubectl label node node-2 disk=ssd");
    common::ok(&mut c, &daemon_set("agent", "nginx", "      nodeSelector: {disk: ssd}\n", ""));
    advance(&mut c, 6);
    assert_eq!(nodes(&pods_by_node(&mut c, "agent")), ["node-2"]);
    assert_eq!(status(&mut c, "agent")["desiredNumberScheduled"], 1);
    assert!(common::ok(&mut c, "kubectl get ds agent").contains("   disk=ssd   "));
    // A node gaining the label gets a pod; one losing it loses its pod.
    common::ok(&mut c, "kubectl label node node-3 disk=ssd");
    common::ok(&mut c, "kubectl label node node-2 disk-");
    advance(&mut c, 6);
    assert_eq!(nodes(&pods_by_node(&mut c, "agent")), ["node-3"]);
    let describe = common::ok(&mut c, "kubectl describe ds agent");
    assert!(describe.contains("\nNode-Selector:  disk=ssd\n"), "{describe}");
    assert_eq!(describe.matches("SuccessfulDelete").count(), 1, "{describe}");
}

#[test]
fn tainted_nodes_are_skipped_unless_tolerated() {
    let mut c = cluster();
    common::ok(&mut c, "kubectl taint node node-1 dedicated=gpu:NoSchedule");
    common::ok(&mut c, &daemon_set("plain", "nginx", "", ""));
    let toleration = "      tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]\n";
    common::ok(&mut c, &daemon_set("tolerant", "nginx", toleration, ""));
    advance(&mut c, 6);
    assert_eq!(nodes(&pods_by_node(&mut c, "plain")), ["node-2", "node-3"]);
    assert_eq!(nodes(&pods_by_node(&mut c, "tolerant")), ["node-1", "node-2", "node-3"]);
    // A NoExecute taint the pod does not tolerate removes it.
    common::ok(&mut c, "kubectl taint node node-3 evict=now:NoExecute");
    advance(&mut c, 6);
    assert_eq!(nodes(&pods_by_node(&mut c, "plain")), ["node-2"]);
    assert_eq!(nodes(&pods_by_node(&mut c, "tolerant")), ["node-1", "node-2"]);
    let s = status(&mut c, "tolerant");
    assert_eq!((s["desiredNumberScheduled"].as_i64(), s["numberMisscheduled"].as_i64()), (Some(2), Some(0)));
}

#[test]
fn cordoning_a_node_keeps_its_daemon_pod() {
    let mut c = cluster();
    common::ok(&mut c, &daemon_set("agent", "nginx", "", ""));
    advance(&mut c, 6);
    let before = pods_by_node(&mut c, "agent");
    assert_eq!(common::ok(&mut c, "kubectl cordon node-2"), "node/node-2 cordoned\n");
    // A DaemonSet created after the cordon reaches the node too.
    common::ok(&mut c, &daemon_set("late", "nginx", "", ""));
    advance(&mut c, 20);
    let after = pods_by_node(&mut c, "agent");
    assert_eq!(
        before["node-2"][0]["metadata"]["uid"], after["node-2"][0]["metadata"]["uid"],
        "the pod on the cordoned node stays"
    );
    assert_eq!(nodes(&pods_by_node(&mut c, "late")), ["node-1", "node-2", "node-3"]);
    assert_eq!(status(&mut c, "agent")["numberAvailable"], 3);
}

/// Nodes without a pod of `name` that is Ready and not terminating.
fn unavailable_nodes(c: &mut Cluster, name: &str) -> usize {
    let pods = pods_by_node(c, name);
    let ready = |p: &Value| {
        p["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|x| x["type"] == "Ready" && x["status"] == "True"))
    };
    ["node-1", "node-2", "node-3"].iter().filter(|n| !pods.get(**n).is_some_and(|l| l.iter().any(ready))).count()
}

#[test]
fn a_new_image_rolls_through_the_nodes_within_max_unavailable() {
    let mut c = cluster();
    common::ok(&mut c, &daemon_set("agent", "nginx:1.26", "", ""));
    advance(&mut c, 8);
    assert_eq!(unavailable_nodes(&mut c, "agent"), 0);
    common::ok(&mut c, "kubectl set image ds/agent c=nginx:1.27");
    let mut worst = 0;
    let mut done_at = None;
    for step in 0..600 {
        c.advance(Duration::from_millis(100)).unwrap();
        worst = worst.max(unavailable_nodes(&mut c, "agent"));
        let pods = pods_by_node(&mut c, "agent");
        if pods.len() == 3 && pods.values().flatten().all(|p| image(p) == "nginx:1.27") && worst > 0 {
            if unavailable_nodes(&mut c, "agent") == 0 {
                done_at = Some(step);
                break;
            }
        }
    }
    assert!(done_at.is_some(), "the rollout finished within 60 s");
    assert_eq!(worst, 1, "one node at a time (maxUnavailable 1)");
    advance(&mut c, 2);
    let s = status(&mut c, "agent");
    assert_eq!((s["updatedNumberScheduled"].as_i64(), s["observedGeneration"].as_i64()), (Some(3), Some(2)));
    assert_eq!(common::ok(&mut c, "kubectl rollout status ds/agent"), "daemon set \"agent\" successfully rolled out\n");
    assert_eq!(
        common::ok(&mut c, "kubectl rollout history ds/agent"),
        "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    );
    let first = common::ok(&mut c, "kubectl rollout history ds/agent --revision=1");
    assert!(first.starts_with("daemonset.apps/agent with revision #1\nPod Template:\n"), "{first}");
    assert!(first.contains("    Image:\tnginx:1.26\n"), "{first}");
    // Undo goes back to revision 1's template, which becomes revision 3.
    assert_eq!(common::ok(&mut c, "kubectl rollout undo ds/agent"), "daemonset.apps/agent rolled back\n");
    advance(&mut c, 30);
    let pods = pods_by_node(&mut c, "agent");
    assert!(pods.values().flatten().all(|p| image(p) == "nginx:1.26"), "{pods:?}");
    assert_eq!(
        common::ok(&mut c, "kubectl rollout history ds/agent"),
        "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n2         <none>\n3         <none>\n\n"
    );
    assert_eq!(
        common::ok(&mut c, "kubectl rollout undo ds/agent --to-revision=3"),
        "daemonset.apps/agent skipped rollback (current template already matches revision 3)\n"
    );
    let out = common::run(&mut c, "kubectl rollout pause ds/agent");
    assert_eq!(out.text, "error: daemonsets.apps \"agent\" pausing is not supported\n");
}

#[test]
fn with_max_surge_every_node_keeps_an_available_pod() {
    let mut c = cluster();
    let strategy = "  updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n";
    common::ok(&mut c, &daemon_set("agent", "nginx:1.26", "", strategy));
    advance(&mut c, 8);
    common::ok(&mut c, "kubectl set image ds/agent c=nginx:1.27");
    let mut finished = false;
    for _ in 0..600 {
        c.advance(Duration::from_millis(100)).unwrap();
        assert_eq!(unavailable_nodes(&mut c, "agent"), 0, "a node lost its daemon mid-rollout");
        let pods = pods_by_node(&mut c, "agent");
        if pods.values().all(|l| l.len() == 1) && pods.values().flatten().all(|p| image(p) == "nginx:1.27") {
            finished = true;
            break;
        }
    }
    assert!(finished, "the surge rollout finished within 60 s");
}

#[test]
fn on_delete_waits_for_pods_to_be_deleted() {
    let mut c = cluster();
    common::ok(&mut c, &daemon_set("agent", "nginx:1.26", "", "  updateStrategy: {type: OnDelete}\n"));
    advance(&mut c, 8);
    common::ok(&mut c, "kubectl set image ds/agent c=nginx:1.27");
    advance(&mut c, 15);
    let pods = pods_by_node(&mut c, "agent");
    assert!(pods.values().flatten().all(|p| image(p) == "nginx:1.26"), "nothing replaced on its own");
    assert_eq!(status(&mut c, "agent")["updatedNumberScheduled"], Value::Null, "0 is omitted");
    let victim = pods["node-2"][0]["metadata"]["name"].as_str().unwrap().to_string();
    common::ok(&mut c, &format!("kubectl delete pod {victim}"));
    advance(&mut c, 10);
    let pods = pods_by_node(&mut c, "agent");
    assert_eq!(image(&pods["node-2"][0]), "nginx:1.27");
    assert_eq!((image(&pods["node-1"][0]), image(&pods["node-3"][0])), ("nginx:1.26", "nginx:1.26"));
    assert_eq!(status(&mut c, "agent")["updatedNumberScheduled"], 1);
    let out = common::run(&mut c, "kubectl rollout status ds/agent");
    assert_eq!(out.text, "error: rollout status is only available for RollingUpdate strategy type\n");
}

#[test]
fn deleting_the_daemon_set_removes_its_pods_and_history() {
    let mut c = cluster();
    common::ok(&mut c, &daemon_set("agent", "nginx", "", ""));
    advance(&mut c, 6);
    assert_eq!(pods_by_node(&mut c, "agent").len(), 3);
    assert_eq!(common::ok(&mut c, "kubectl delete ds agent"), "daemonset.apps \"agent\" deleted\n");
    advance(&mut c, 10);
    let pods = common::json(&mut c, "kubectl get pods -o json");
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "{pods}");
    let revisions = common::json(&mut c, "kubectl get controllerrevisions -o json");
    assert_eq!(revisions["items"].as_array().unwrap().len(), 0, "{revisions}");
}

#[test]
fn a_restarted_node_keeps_exactly_one_daemon_pod() {
    let mut c = cluster();
    common::ok(&mut c, &daemon_set("agent", "nginx", "", ""));
    advance(&mut c, 6);
    let before = pods_by_node(&mut c, "agent")["node-2"][0]["metadata"]["uid"].clone();
    common::ok(&mut c, "sim kill kubelet/node-2");
    // Past the grace period the node is Unknown and tainted unreachable;
    // the daemon pod tolerates that without the 300 s limit other pods get.
    advance(&mut c, 420);
    let node = common::json(&mut c, "kubectl get node node-2 -o json");
    assert!(node["spec"]["taints"].to_string().contains("node.kubernetes.io/unreachable"), "{node}");
    let pods = pods_by_node(&mut c, "agent");
    assert_eq!(pods["node-2"].len(), 1);
    assert_eq!(pods["node-2"][0]["metadata"]["uid"], before, "not evicted, not replaced");
    common::ok(&mut c, "sim start kubelet/node-2");
    advance(&mut c, 30);
    let pods = pods_by_node(&mut c, "agent");
    assert_eq!(pods["node-2"].len(), 1);
    assert_eq!(pods["node-2"][0]["metadata"]["uid"], before);
    assert_eq!(pods["node-2"][0]["status"]["phase"], "Running");
    let s = status(&mut c, "agent");
    assert_eq!((s["desiredNumberScheduled"].as_i64(), s["numberAvailable"].as_i64()), (Some(3), Some(3)));
}
