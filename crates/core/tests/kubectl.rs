//! kube-apiserver and kubectl as a user meets them: manifests from the
//! Kubernetes documentation applied in the console, `kubectl get` tables,
//! objects under their real etcd keys, kubectl's and the apiserver's error
//! wording, RBAC, and bad input that must leave every stored object as it was.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, CommandOutput, Scenario};
use serde_json::Value;

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(12)).unwrap();
    c
}

/// The apiserver's open watches: the system components' own (kube-scheduler's
/// informers, the kubelets' pod watches) plus any console client's.
fn watches(c: &mut Cluster) -> usize {
    let status = ok(c, "sim status");
    let token = status.split_whitespace().find_map(|t| t.strip_prefix("watches=")).expect("watches in sim status");
    token.parse().unwrap()
}

/// The watches a fresh cluster holds: the components' own.
fn system_watches() -> usize {
    watches(&mut cluster())
}

/// Runs a command, and the lines of its heredoc when it has one.
fn run(c: &mut Cluster, text: &str) -> CommandOutput {
    let mut lines = text.lines();
    let mut out = c.exec(lines.next().unwrap());
    for line in lines {
        out = c.exec(line);
    }
    out
}

fn ok(c: &mut Cluster, text: &str) -> String {
    let out = run(c, text);
    assert!(out.ok, "{text}\n=> {}", out.text);
    out.text
}

fn fails(c: &mut Cluster, text: &str) -> String {
    let out = run(c, text);
    assert!(!out.ok, "{text} should fail\n=> {}", out.text);
    out.text
}

/// Everything stored under /registry/ except what the kubelets rewrite on
/// their own (leases), as `key => value` lines.
fn stored(c: &mut Cluster) -> Vec<String> {
    let json = ok(c, "etcdctl get /registry/ --prefix -w json");
    let v: Value = serde_json::from_str(&json).unwrap();
    let b64 = |s: &str| {
        use base64::Engine;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    };
    v["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (b64(kv["key"].as_str().unwrap()), b64(kv["value"].as_str().unwrap())))
        .filter(|(k, _)| !k.starts_with("/registry/leases/"))
        .map(|(k, v)| format!("{k} => {v}"))
        .collect()
}

/// Ages depend on when a test runs its commands; tables are compared with them blanked.
fn without_ages(table: &str) -> String {
    table
        .lines()
        .map(|l| {
            l.split("   ")
                .map(|cell| {
                    let t = cell.trim();
                    let is_age = !t.is_empty()
                        && t.chars().last().is_some_and(|c| "smhdy".contains(c))
                        && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                        && t.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c));
                    if is_age {
                        cell.replace(t, &"?".repeat(t.len()))
                    } else {
                        cell.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("   ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const DEPLOYMENT: &str = "kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
EOF";

const SERVICE: &str = "kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - protocol: TCP
      port: 80
      targetPort: 9376
EOF";

const RBAC: &str = "kubectl apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  namespace: prod
  name: pod-reader
rules:
- apiGroups: [\"\"] # \"\" indicates the core API group
  resources: [\"pods\"]
  verbs: [\"get\", \"watch\", \"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read-pods
  namespace: prod
subjects:
- kind: User
  name: jane
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: Role
  name: pod-reader
  apiGroup: rbac.authorization.k8s.io
EOF";

const PROBES: &str = "kubectl apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-http
spec:
  containers:
  - name: liveness
    image: registry.k8s.io/e2e-test-images/agnhost:2.40
    args:
    - liveness
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 3
      periodSeconds: 3
EOF";

#[test]
fn documentation_manifests_apply_and_get_prints_kubectls_tables() {
    let mut c = cluster();
    assert_eq!(ok(&mut c, DEPLOYMENT), "deployment.apps/nginx-deployment created\n");
    assert_eq!(ok(&mut c, SERVICE), "service/my-service created\n");
    assert_eq!(
        ok(&mut c, RBAC),
        "namespace/prod created\nrole.rbac.authorization.k8s.io/pod-reader created\nrolebinding.rbac.authorization.k8s.io/read-pods created\n"
    );
    assert_eq!(ok(&mut c, PROBES), "pod/liveness-http created\n");
    // Applying again changes nothing.
    assert_eq!(ok(&mut c, DEPLOYMENT), "deployment.apps/nginx-deployment unchanged\n");
    assert_eq!(
        ok(&mut c, RBAC),
        "namespace/prod unchanged\nrole.rbac.authorization.k8s.io/pod-reader unchanged\nrolebinding.rbac.authorization.k8s.io/read-pods unchanged\n"
    );

    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get deployments")),
        without_ages("NAME               READY   UP-TO-DATE   AVAILABLE   AGE\nnginx-deployment   0/3     3            0           0s")
    );
    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get deploy -o wide")),
        without_ages("NAME               READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES         SELECTOR\nnginx-deployment   0/3     3            0           0s    nginx        nginx:1.14.2   app=nginx")
    );
    let services = ok(&mut c, "kubectl get svc");
    let cells: Vec<Vec<&str>> = services.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(cells[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(cells[1][..5], ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]);
    assert_eq!((cells[2][0], cells[2][1], cells[2][3], cells[2][4]), ("my-service", "ClusterIP", "<none>", "80/TCP"));
    assert!(cells[2][2].starts_with("10.") && cells[2][2] != "10.96.0.1", "{services}");
    // Columns line up: each starts where its header does.
    let header = services.lines().next().unwrap();
    for line in services.lines().skip(1) {
        assert_eq!(&line[header.find("PORT(S)").unwrap()..][..3], if line.starts_with("kube") { "443" } else { "80/" });
    }
    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get pods -l test=liveness")),
        without_ages(
            "NAME            READY   STATUS              RESTARTS   AGE\nliveness-http   0/1     ContainerCreating   0          0s"
        )
    );
    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get ns")),
        without_ages("NAME              STATUS   AGE\ndefault           Active   12s\nkube-node-lease   Active   12s\nkube-public       Active   12s\nkube-system       Active   12s\nprod              Active   0s")
    );
    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get nodes")),
        without_ages("NAME             STATUS   ROLES           AGE   VERSION\ncontrol-plane    Ready    control-plane   11s   v1.32.0\ncontrol-plane2   Ready    control-plane   11s   v1.32.0\ncontrol-plane3   Ready    control-plane   11s   v1.32.0\nnode-1           Ready    <none>          11s   v1.32.0\nnode-2           Ready    <none>          11s   v1.32.0\nnode-3           Ready    <none>          11s   v1.32.0")
    );
    assert_eq!(
        without_ages(&ok(&mut c, "kubectl get rolebinding -n prod -o wide")),
        without_ages("NAME        ROLE              AGE   USERS   GROUPS   SERVICEACCOUNTS\nread-pods   Role/pod-reader   0s    jane")
    );
    assert_eq!(ok(&mut c, "kubectl get pods -n prod"), "No resources found in prod namespace.\n");
    assert_eq!(ok(&mut c, "kubectl get pods -l app=nope -A"), "No resources found\n");

    // The server filled in the defaults the real one does.
    let pod: Value = serde_json::from_str(&ok(&mut c, "kubectl get pod liveness-http -o json")).unwrap();
    let probe = &pod["spec"]["containers"][0]["livenessProbe"];
    assert_eq!(
        (probe["timeoutSeconds"].as_i64(), probe["successThreshold"].as_i64(), probe["failureThreshold"].as_i64()),
        (Some(1), Some(1), Some(3))
    );
    assert_eq!(probe["httpGet"]["scheme"], "HTTP");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    let deploy: Value = serde_json::from_str(&ok(&mut c, "kubectl get deploy nginx-deployment -o json")).unwrap();
    assert_eq!(deploy["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(
        (deploy["spec"]["revisionHistoryLimit"].as_i64(), deploy["spec"]["progressDeadlineSeconds"].as_i64()),
        (Some(10), Some(600))
    );
    assert_eq!(deploy["metadata"]["generation"], 1);
    let rv: i64 = deploy["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    let svc: Value = serde_json::from_str(&ok(&mut c, "kubectl get svc my-service -o json")).unwrap();
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 9376);
    assert_eq!(svc["spec"]["ipFamilies"][0], "IPv4");

    // resourceVersion is the etcd mod revision.
    let kv = ok(&mut c, "etcdctl get /registry/deployments/default/nginx-deployment -w fields");
    assert!(kv.contains(&format!("\"ModRevision\" : {rv}\n")), "{kv}");

    // And every object is under the key a real apiserver uses.
    let keys = ok(&mut c, "etcdctl get /registry/ --prefix --keys-only");
    for key in [
        "/registry/deployments/default/nginx-deployment",
        "/registry/services/specs/default/my-service",
        "/registry/services/specs/default/kubernetes",
        "/registry/services/endpoints/default/kubernetes",
        "/registry/namespaces/prod",
        "/registry/roles/prod/pod-reader",
        "/registry/rolebindings/prod/read-pods",
        "/registry/pods/default/liveness-http",
        "/registry/minions/node-1",
        "/registry/leases/kube-node-lease/node-1",
        "/registry/clusterroles/cluster-admin",
        "/registry/priorityclasses/system-node-critical",
    ] {
        assert!(keys.contains(&format!("{key}\n")), "{key} missing from\n{keys}");
    }
}

#[test]
fn changes_go_through_with_kubectls_wording() {
    let mut c = cluster();
    ok(&mut c, DEPLOYMENT);
    assert_eq!(
        ok(&mut c, "kubectl scale deployment nginx-deployment --replicas=5"),
        "deployment.apps/nginx-deployment scaled\n"
    );
    assert_eq!(ok(&mut c, "kubectl get deploy nginx-deployment -o jsonpath={.spec.replicas}"), "5");
    assert_eq!(
        ok(&mut c, "kubectl label deploy nginx-deployment tier=web"),
        "deployment.apps/nginx-deployment labeled\n"
    );
    assert_eq!(
        fails(&mut c, "kubectl label deploy nginx-deployment tier=db"),
        "error: 'tier' already has a value (web), and --overwrite is false\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl label deploy nginx-deployment tier=db --overwrite"),
        "deployment.apps/nginx-deployment labeled\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl label deploy nginx-deployment tier-"),
        "deployment.apps/nginx-deployment unlabeled\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl annotate deploy nginx-deployment owner=team-a"),
        "deployment.apps/nginx-deployment annotated\n"
    );
    ok(&mut c, "kubectl create cm one");
    ok(&mut c, "kubectl create cm two");
    // `--all` includes the root CA ConfigMap every namespace has.
    assert_eq!(
        ok(&mut c, "kubectl label cm --all team=x"),
        "configmap/kube-root-ca.crt labeled\nconfigmap/one labeled\nconfigmap/two labeled\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl annotate cm -l team=x note=y"),
        "configmap/kube-root-ca.crt annotated\nconfigmap/one annotated\nconfigmap/two annotated\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl set image deployment/nginx-deployment nginx=nginx:1.16.1"),
        "deployment.apps/nginx-deployment image updated\n"
    );
    let d: Value = serde_json::from_str(&ok(&mut c, "kubectl get deploy nginx-deployment -o json")).unwrap();
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80,
        "strategic merge kept the port"
    );
    assert!(d["metadata"]["generation"].as_i64().unwrap() >= 3, "spec changes bump the generation");
    assert_eq!(
        ok(&mut c, "kubectl rollout restart deployment nginx-deployment"),
        "deployment.apps/nginx-deployment restarted\n"
    );
    assert_eq!(ok(&mut c, "kubectl cordon node-1"), "node/node-1 cordoned\n");
    assert_eq!(ok(&mut c, "kubectl cordon node-1"), "node/node-1 already cordoned\n");
    assert!(ok(&mut c, "kubectl get nodes").contains("\nnode-1           Ready,SchedulingDisabled   <none>   "));
    assert_eq!(ok(&mut c, "kubectl uncordon node-1"), "node/node-1 uncordoned\n");
    assert_eq!(ok(&mut c, "kubectl taint nodes node-2 dedicated=gpu:NoSchedule"), "node/node-2 tainted\n");
    assert_eq!(ok(&mut c, "kubectl taint nodes node-2 dedicated=gpu:NoSchedule-"), "node/node-2 untainted\n");
    assert_eq!(ok(&mut c, "kubectl create namespace dev"), "namespace/dev created\n");
    assert_eq!(ok(&mut c, "kubectl create deployment web --image=nginx -n dev"), "deployment.apps/web created\n");
    assert_eq!(ok(&mut c, "kubectl expose deployment web --port=80 -n dev"), "service/web exposed\n");
    assert_eq!(
        ok(&mut c, "kubectl create configmap settings --from-literal=a=1 --from-literal=b=2 -n dev"),
        "configmap/settings created\n"
    );
    let listed = ok(&mut c, "kubectl get cm -n dev");
    assert!(listed.lines().any(|l| l.split_whitespace().take(2).eq(["settings", "2"])), "{listed}");
    assert_eq!(ok(&mut c, "kubectl run box --image=busybox --restart=Never -- sleep 3600"), "pod/box created\n");
    assert_eq!(ok(&mut c, "kubectl delete pod box"), "pod \"box\" deleted\n");
    assert_eq!(ok(&mut c, "kubectl delete deployment web -n dev"), "deployment.apps \"web\" deleted\n");
    assert_eq!(
        ok(&mut c, "kubectl create deployment web --image=nginx --dry-run=client"),
        "deployment.apps/web created (dry run)\n"
    );
    assert_eq!(
        ok(&mut c, "kubectl create deployment web --image=nginx --dry-run=server"),
        "deployment.apps/web created (server dry run)\n"
    );
    assert_eq!(
        fails(&mut c, "kubectl get deployment web"),
        "Error from server (NotFound): deployments.apps \"web\" not found\n"
    );
    let version = ok(&mut c, "kubectl version");
    assert!(
        version.starts_with("Client Version: v1.32.0\nKustomize Version: v5.5.0\nServer Version: v1.32.0\n"),
        "{version}"
    );
    assert_eq!(
        ok(&mut c, "kubectl cluster-info"),
        "Kubernetes control plane is running at https://172.18.0.2:6443\nCoreDNS is running at https://172.18.0.2:6443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
    );
}

#[test]
fn errors_read_like_kubectl_and_the_apiserver_and_change_nothing() {
    let mut c = cluster();
    ok(&mut c, DEPLOYMENT);
    ok(&mut c, RBAC);
    // The Deployment's ReplicaSet and pods settle first.
    c.advance(kscope_core::duration::Duration::from_secs(5)).unwrap();
    let before = stored(&mut c);
    let cases: &[(&str, &str)] = &[
        ("kubectl get podz", "error: the server doesn't have a resource type \"podz\"\n"),
        ("kubectl get pods --foo", "error: unknown flag: --foo\nSee 'kubectl get --help' for usage.\n"),
        ("kubectl get pods -n", "error: flag needs an argument: 'n' in -n\nSee 'kubectl get --help' for usage.\n"),
        ("kubectl frobnicate", "error: unknown command \"frobnicate\" for \"kubectl\"\n"),
        ("kubectl get pods x", "Error from server (NotFound): pods \"x\" not found\n"),
        ("kubectl delete pod", "error: resource(s) were provided, but no name was specified\n"),
        ("kubectl apply", "error: must specify one of -f and -k\n"),
        ("kubectl apply -f nonexist.yaml", "error: the path \"nonexist.yaml\" does not exist\n"),
        ("kubectl create deployment web", "error: required flag(s) \"image\" not set\n"),
        ("kubectl scale deployment nginx-deployment", "error: required flag(s) \"replicas\" not set\n"),
        ("kubectl label pod", "error: at least one label update is required\n"),
        (
            "kubectl create namespace prod",
            "Error from server (AlreadyExists): namespaces \"prod\" already exists\n",
        ),
        (
            "kubectl --as jane get pods -n default",
            "Error from server (Forbidden): pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"\n",
        ),
        (
            "kubectl --as jane delete pod x -n prod",
            "Error from server (Forbidden): pods \"x\" is forbidden: User \"jane\" cannot delete resource \"pods\" in API group \"\" in the namespace \"prod\"\n",
        ),
        (
            "kubectl --as jane get nodes",
            "Error from server (Forbidden): nodes is forbidden: User \"jane\" cannot list resource \"nodes\" in API group \"\" at the cluster scope\n",
        ),
        (
            "kubectl create namespace Bad_Name",
            "The Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')\n",
        ),
        ("kubectl scale deployment nginx-deployment --replicas=-1", "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0\n"),
        (
            "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: c\nEOF",
            "The Pod \"x\" is invalid: spec.containers[0].image: Required value\n",
        ),
        (
            "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: c\n    image: nginx\n    imagee: nginx\nEOF",
            "Error from server (BadRequest): error when creating \"STDIN\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\"\n",
        ),
        (
            "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: -2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: other}\n    spec:\n      containers: [{name: c, image: nginx}]\nEOF",
            "The Deployment \"web\" is invalid: \n* spec.replicas: Invalid value: -2: must be greater than or equal to 0\n* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n",
        ),
        (
            "kubectl apply -f - <<EOF\napiVersion: v2\nkind: Pod\nmetadata:\n  name: x\nEOF",
            "error: resource mapping not found for name: \"x\" namespace: \"\" from \"STDIN\": no matches for kind \"Pod\" in version \"v2\"\nensure CRDs are installed first\n",
        ),
        (
            "kubectl apply -f - <<EOF\nmetadata:\n  name: x\nEOF",
            "error: error validating \"STDIN\": error validating data: [apiVersion not set, kind not set]; if you choose to ignore these errors, turn validation off with --validate=false\n",
        ),
        (
            "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nope\nEOF",
            "Error from server (NotFound): error when creating \"STDIN\": namespaces \"nope\" not found\n",
        ),
        (
            "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  priorityClassName: gold\n  containers: [{name: c, image: nginx}]\nEOF",
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"x\" is forbidden: no PriorityClass with name gold was found\n",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(fails(&mut c, input), *expected, "{input}");
    }
    let out = fails(
        &mut c,
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n    bad: indent\nEOF",
    );
    assert!(out.starts_with("error: error parsing STDIN: error converting YAML to JSON: yaml: line "), "{out}");
    let out = fails(
        &mut c,
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\nEOF",
    );
    assert!(out.starts_with("error: error parsing STDIN:"), "{out}");
    let huge = format!(
        "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  a: {}\nEOF",
        "x".repeat(10 << 20)
    );
    let out = fails(&mut c, &huge);
    assert!(out.contains("larger than"), "{}", &out[..out.len().min(200)]);
    let out = fails(&mut c, "kubectl create namespace ünïcode");
    assert!(out.starts_with("The Namespace \"ünïcode\" is invalid: \n* metadata.name: Invalid value: \"ünïcode\": a lowercase RFC 1123 label"), "{out}");
    assert!(out.contains("\n* metadata.labels: Invalid value: \"ünïcode\": a valid label must be"), "{out}");
    assert_eq!(stored(&mut c), before, "no error may change a stored object");
}

#[test]
fn rbac_follows_roles_bindings_and_the_bootstrap_cluster_roles() {
    let mut c = cluster();
    ok(&mut c, RBAC);
    ok(&mut c, "kubectl create rolebinding dev-edit --clusterrole=edit --user=dev -n prod");
    ok(&mut c, "kubectl create clusterrolebinding auditors --clusterrole=view --group=auditors");
    let can = |c: &mut Cluster, line: &str| run(c, line).text.trim().to_string();
    let matrix: &[(&str, &str)] = &[
        ("kubectl auth can-i list pods -n prod --as jane", "yes"),
        ("kubectl auth can-i get pods -n prod --as jane", "yes"),
        ("kubectl auth can-i delete pods -n prod --as jane", "no"),
        ("kubectl auth can-i list pods -n default --as jane", "no"),
        ("kubectl auth can-i create deployments -n prod --as dev", "yes"),
        ("kubectl auth can-i get secrets -n prod --as dev", "yes"),
        ("kubectl auth can-i create roles -n prod --as dev", "no"),
        ("kubectl auth can-i create deployments -n default --as dev", "no"),
        ("kubectl auth can-i list nodes --as dev", "no"),
        ("kubectl auth can-i list nodes", "yes"),
        ("kubectl auth can-i create pods --subresource=binding --as system:kube-scheduler", "yes"),
        ("kubectl auth can-i delete nodes --as system:kube-scheduler", "no"),
    ];
    for (line, want) in matrix {
        assert_eq!(can(&mut c, line), *want, "{line}");
    }
    // And the apiserver enforces what can-i says.
    ok(&mut c, "kubectl --as dev create deployment web --image=nginx -n prod");
    ok(&mut c, "kubectl --as jane get pods -n prod");
    let out = fails(&mut c, "kubectl --as jane create deployment web2 --image=nginx -n prod");
    assert_eq!(out, "Error from server (Forbidden): deployments.apps is forbidden: User \"jane\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"prod\"\n");
    // No escalation: a namespace admin may grant what it holds, not more.
    ok(&mut c, "kubectl create rolebinding boss --clusterrole=admin --user=boss -n prod");
    ok(&mut c, "kubectl --as boss create role reader --verb=get --resource=pods -n prod");
    let out =
        fails(&mut c, "kubectl --as boss create rolebinding root --clusterrole=cluster-admin --user=boss -n prod");
    assert!(out.contains("is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"), "{out}");
    let out = fails(&mut c, "kubectl --as boss create role nodes --verb=get --resource=nodes -n prod");
    assert!(
        out.starts_with(
            "Error from server (Forbidden): roles.rbac.authorization.k8s.io \"nodes\" is forbidden: user \"boss\""
        ),
        "{out}"
    );
}

#[test]
fn writes_survive_an_etcd_leader_change_and_fail_clearly_without_quorum() {
    let mut c = cluster();
    ok(&mut c, "kubectl create namespace before");
    let status = ok(&mut c, "sim status");
    let leader =
        status.lines().find(|l| l.contains("role=leader")).unwrap().split_whitespace().next().unwrap().to_string();
    ok(&mut c, &format!("sim kill {leader}"));
    // A write forwarded to the dead leader before the election times out
    // (etcd's 7 s request timeout), so give the followers time to elect one.
    ok(&mut c, "sim advance 3s");
    // The apiserver's etcd client finds the new leader through the followers.
    ok(&mut c, "kubectl create namespace during");
    let others: Vec<String> =
        ["etcd-1", "etcd-2", "etcd-3"].iter().filter(|m| **m != leader).map(|m| m.to_string()).collect();
    ok(&mut c, &format!("sim kill {}", others[0]));
    let out = fails(&mut c, "kubectl create namespace lost");
    assert!(out.starts_with("Error from server"), "{out}");
    ok(&mut c, &format!("sim start {}", others[0]));
    ok(&mut c, &format!("sim start {leader}"));
    ok(&mut c, "sim advance 5s");
    ok(&mut c, "kubectl create namespace after");
    let names = ok(&mut c, "kubectl get ns -o name");
    for ns in ["before", "during", "after"] {
        assert!(names.contains(&format!("namespace/{ns}\n")), "{names}");
    }
}

#[test]
fn the_same_commands_give_the_same_trace() {
    let hash = || {
        let mut c = cluster();
        ok(&mut c, DEPLOYMENT);
        ok(&mut c, SERVICE);
        ok(&mut c, "kubectl run web --image=nginx");
        ok(&mut c, "sim advance 20s");
        c.simulation().trace().hash_hex()
    };
    assert_eq!(hash(), hash());
}

#[test]
fn api_resources_matches_kubectl() {
    let mut c = cluster();
    // Byte for byte what kubectl 1.32 prints for this set of resources (the rows
    // and layout were taken from the real kubectl against a fake discovery).
    let expected = "NAME                     SHORTNAMES   APIVERSION                     NAMESPACED   KIND
bindings                              v1                             true         Binding
configmaps               cm           v1                             true         ConfigMap
endpoints                ep           v1                             true         Endpoints
events                   ev           v1                             true         Event
limitranges              limits       v1                             true         LimitRange
namespaces               ns           v1                             false        Namespace
nodes                    no           v1                             false        Node
pods                     po           v1                             true         Pod
replicationcontrollers   rc           v1                             true         ReplicationController
resourcequotas           quota        v1                             true         ResourceQuota
secrets                               v1                             true         Secret
serviceaccounts          sa           v1                             true         ServiceAccount
services                 svc          v1                             true         Service
controllerrevisions                   apps/v1                        true         ControllerRevision
daemonsets               ds           apps/v1                        true         DaemonSet
deployments              deploy       apps/v1                        true         Deployment
replicasets              rs           apps/v1                        true         ReplicaSet
leases                                coordination.k8s.io/v1         true         Lease
endpointslices                        discovery.k8s.io/v1            true         EndpointSlice
events                   ev           events.k8s.io/v1               true         Event
clusterrolebindings                   rbac.authorization.k8s.io/v1   false        ClusterRoleBinding
clusterroles                          rbac.authorization.k8s.io/v1   false        ClusterRole
rolebindings                          rbac.authorization.k8s.io/v1   true         RoleBinding
roles                                 rbac.authorization.k8s.io/v1   true         Role
priorityclasses          pc           scheduling.k8s.io/v1           false        PriorityClass
";
    assert_eq!(ok(&mut c, "kubectl api-resources"), expected);
}

mod watch {
    //! Client watches on kube-apiserver, as controllers and kubelets use them.
    use super::*;
    use kscope_core::component_id::ComponentId;
    use kscope_core::message::{ApiRequest, Method, Payload};

    fn watch(c: &mut Cluster, client: &str, path: &str) {
        let request = ApiRequest::new(1, Method::Get, path);
        c.simulation_mut().send_as_client(client, ComponentId::ApiServer, Payload::ApiRequest(request));
    }

    /// (type, name, resourceVersion) of every event `client` received.
    fn events(c: &mut Cluster, client: &str) -> Vec<(String, String, i64)> {
        c.simulation_mut()
            .take_client_inbox(client)
            .into_iter()
            .filter_map(|e| match e.payload {
                Payload::ApiResponse(r) => r.body,
                _ => None,
            })
            .map(|b| {
                let rv = b["object"]["metadata"]["resourceVersion"].as_str().unwrap_or("0").parse().unwrap_or(0);
                let name = b["object"]["metadata"]["name"].as_str().unwrap_or_default().to_string();
                (b["type"].as_str().unwrap_or_default().to_string(), name, rv)
            })
            .collect()
    }

    #[test]
    fn watch_delivers_every_change_in_order_across_an_etcd_leader_change() {
        let mut c = cluster();
        ok(&mut c, "kubectl create configmap a -n default");
        watch(&mut c, "w", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0");
        ok(&mut c, "sim advance 100ms");
        let initial = events(&mut c, "w");
        assert_eq!(
            initial.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect::<Vec<_>>(),
            [("ADDED", "a"), ("ADDED", "kube-root-ca.crt")]
        );
        let mut last = initial.iter().map(|e| e.2).max().unwrap();
        ok(&mut c, "kubectl create configmap b");
        let status = ok(&mut c, "sim status");
        let leader =
            status.lines().find(|l| l.contains("role=leader")).unwrap().split_whitespace().next().unwrap().to_string();
        ok(&mut c, &format!("sim kill {leader}"));
        // Writes forwarded to the dead leader time out until a new one is elected.
        ok(&mut c, "sim advance 3s");
        ok(&mut c, "kubectl create configmap c");
        ok(&mut c, "kubectl label cm a x=1");
        ok(&mut c, "kubectl delete cm b");
        ok(&mut c, &format!("sim start {leader}"));
        ok(&mut c, "sim advance 20s");
        let seen = events(&mut c, "w");
        let kinds: Vec<(&str, &str)> = seen.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
        assert_eq!(kinds, [("ADDED", "b"), ("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")], "{seen:?}");
        for e in &seen {
            assert!(e.2 > last, "resourceVersions increase with no repeats: {seen:?}");
            last = e.2;
        }
    }

    #[test]
    fn watch_from_a_version_replays_and_selectors_filter() {
        let mut c = cluster();
        let rv: i64 = ok(&mut c, "kubectl create configmap a -o jsonpath={.metadata.resourceVersion}")
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                let v: Value = serde_json::from_str(&ok(&mut c, "kubectl get cm a -o json")).unwrap();
                v["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
            });
        ok(&mut c, "kubectl create configmap b");
        ok(&mut c, "kubectl label cm b app=web");
        watch(&mut c, "from", &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"));
        watch(
            &mut c,
            "web",
            &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&labelSelector=app%3Dweb"),
        );
        ok(&mut c, "kubectl label cm b app-");
        ok(&mut c, "sim advance 100ms");
        let all: Vec<(String, String)> = events(&mut c, "from").into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(
            all,
            [("ADDED".into(), "b".into()), ("MODIFIED".into(), "b".into()), ("MODIFIED".into(), "b".into())]
        );
        // Moving into the selection reads as ADDED, out of it as DELETED.
        let web: Vec<(String, String)> = events(&mut c, "web").into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(web, [("ADDED".into(), "b".into()), ("DELETED".into(), "b".into())]);
    }

    #[test]
    fn watch_from_before_the_window_gets_410_expired() {
        let mut c = cluster();
        for i in 0..kscope_core::kube_apiserver::watch_cache::WINDOW + 5 {
            let out = c.exec(&format!("kubectl create configmap c{i}"));
            assert!(out.ok, "{}", out.text);
        }
        watch(&mut c, "old", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2");
        ok(&mut c, "sim advance 100ms");
        let body = c
            .simulation_mut()
            .take_client_inbox("old")
            .into_iter()
            .find_map(|e| match e.payload {
                Payload::ApiResponse(r) => r.body,
                _ => None,
            })
            .unwrap();
        assert_eq!(body["type"], "ERROR");
        assert_eq!(body["object"]["code"], 410);
        assert_eq!(body["object"]["reason"], "Expired");
        let message = body["object"]["message"].as_str().unwrap();
        assert!(message.starts_with("too old resource version: 2 ("), "{message}");
    }
}

mod review_regressions {
    //! Inputs a review found to crash, hang or misbehave, kept as tests.
    use super::*;

    #[test]
    fn hostile_input_gets_errors_not_panics_or_hangs() {
        let mut c = cluster();
        let long_unicode = "é".repeat(40);
        fails(&mut c, &format!("kubectl create namespace {long_unicode}"));
        fails(&mut c, &format!("kubectl run {long_unicode} --image=x"));
        let out = fails(&mut c, "kubectl create -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata: hello\nEOF");
        assert!(out.contains("ValidationError(ConfigMap.metadata): invalid type"), "{out}");
        let out = fails(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations: hello\nEOF");
        assert!(out.contains("ValidationError(ConfigMap.metadata.annotations)"), "{out}");
        // Objects written behind the apiserver's back are treated as corrupt, never crash it.
        ok(&mut c, "etcdctl put /registry/configmaps/default/x 5");
        ok(&mut c, "etcdctl put /registry/deployments/default/d '{\"metadata\":{\"name\":\"d\"},\"spec\":5}'");
        ok(&mut c, "sim advance 1s");
        ok(&mut c, "kubectl get cm -o yaml");
        fails(&mut c, "kubectl scale deploy d --replicas=2");
        assert!(fails(&mut c, "kubectl get deploy d").contains("unable to decode"));
        // A huge grace period, a full node-port range, a tab-riddled image.
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: node-1\n  containers: [{name: c, image: nginx}]\nEOF");
        ok(&mut c, "kubectl delete pod p --grace-period=9223372036854775807");
        let ports: String = (1..=2800).map(|p| format!("  - {{name: p{p}, port: {p}}}\n")).collect();
        let out = fails(&mut c, &format!("kubectl create -f - <<EOF\napiVersion: v1\nkind: Service\nmetadata: {{name: many}}\nspec:\n  type: NodePort\n  ports:\n{ports}EOF"));
        assert!(out.contains("range is full"), "{}", &out[..out.len().min(300)]);
        let tabs = "\t".repeat(50_000);
        fails(&mut c, "kubectl run spaced --image=\" nginx \"");
        ok(&mut c, &format!("kubectl run tabby --image=\"nginx{tabs}x\""));
        ok(&mut c, "kubectl describe pod tabby");
        // Names that are not one path segment never reach the server.
        assert_eq!(
            fails(&mut c, "kubectl get ns '?watch=true'"),
            "error: invalid resource name \"?watch=true\": [may not contain '?']\n"
        );
        assert_eq!(fails(&mut c, "kubectl delete cm ''"), "error: resource name may not be empty\n");
        assert_eq!(watches(&mut c), system_watches(), "no console watch is left open");
    }

    #[test]
    fn a_timed_out_create_is_retried_as_the_same_write() {
        let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {etcd: {members: 1}}\n";
        let mut c = Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap();
        ok(&mut c, "sim advance 5s");
        ok(&mut c, "sim delay 4500ms..4500ms");
        let _ = run(
            &mut c,
            "kubectl create -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\nEOF",
        );
        ok(&mut c, "sim delay 1ms..2ms");
        ok(&mut c, "sim advance 30s");
        let names = ok(&mut c, "kubectl get cm -o name");
        assert_eq!(names.matches("configmap/gen-").count(), 1, "one create, one object: {names}");
    }

    #[test]
    fn dry_runs_change_nothing() {
        let mut c = cluster();
        ok(&mut c, "kubectl create configmap keep");
        let before = stored(&mut c);
        assert_eq!(ok(&mut c, "kubectl delete cm keep --dry-run=client"), "configmap \"keep\" deleted (dry run)\n");
        assert_eq!(
            ok(&mut c, "kubectl delete cm keep --dry-run=server"),
            "configmap \"keep\" deleted (server dry run)\n"
        );
        assert_eq!(ok(&mut c, "kubectl label cm keep a=b --dry-run=client"), "configmap/keep labeled (dry run)\n");
        assert_eq!(
            ok(&mut c, "kubectl label cm keep a=b --dry-run=server"),
            "configmap/keep labeled (server dry run)\n"
        );
        assert_eq!(ok(&mut c, "kubectl cordon node-1 --dry-run=server"), "node/node-1 cordoned (server dry run)\n");
        assert_eq!(stored(&mut c), before);
    }

    #[test]
    fn system_namespaces_stay_and_bootstrap_objects_come_back() {
        let mut c = cluster();
        assert_eq!(
            fails(&mut c, "kubectl delete ns default"),
            "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted\n"
        );
        ok(&mut c, "kubectl delete svc kubernetes");
        ok(&mut c, "sim advance 10s");
        assert!(ok(&mut c, "kubectl get svc kubernetes").contains("10.96.0.1"));
        // And the apiserver still serves everyone.
        ok(&mut c, "sim advance 30s");
        assert_ne!(ok(&mut c, "sim status").matches("lease renewals=0").count(), 3);
    }

    #[test]
    fn immutable_fields_and_selector_operators_are_checked() {
        let mut c = cluster();
        ok(&mut c, "kubectl create rolebinding rb --clusterrole=view --user=bob");
        let out = fails(&mut c, "kubectl apply -f - <<EOF\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]\nEOF");
        assert!(out.contains("roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"cluster-admin\"}: cannot change roleRef"), "{out}");
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: \"1\"}\nEOF");
        let out = fails(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: \"2\"}\nEOF");
        assert!(out.contains("data: Forbidden: field is immutable when `immutable` is set"), "{out}");
        let out = fails(&mut c, "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector:\n    matchExpressions: [{key: app, operator: Foo, values: [x]}]\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: c, image: nginx}]}\nEOF");
        assert!(
            out.contains(
                "spec.selector.matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator"
            ),
            "{out}"
        );
        assert!(
            ok(&mut c, "kubectl get nodes --field-selector spec.unschedulable=false -o name").contains("node/node-1")
        );
    }

    #[test]
    fn ctrl_c_abandons_a_heredoc_and_only_kubectl_reads_one() {
        let mut c = cluster();
        ok(&mut c, "etcdctl put a '<<b'");
        assert_eq!(ok(&mut c, "etcdctl get a --print-value-only"), "<<b\n");
        ok(&mut c, "kubectl apply -f - <<EOF");
        assert!(c.reading_heredoc());
        ok(&mut c, "sim interrupt");
        assert!(!c.reading_heredoc());
        ok(&mut c, "kubectl get ns default");
    }
}

#[test]
fn get_watch_streams_rows_until_interrupted() {
    let mut c = cluster();
    ok(&mut c, "kubectl create cm first");
    let listed = ok(&mut c, "kubectl get cm -w");
    assert!(listed.starts_with("NAME               DATA   AGE\nfirst              0      "), "{listed}");
    assert!(listed.contains("\nkube-root-ca.crt   1      "), "{listed}");
    ok(&mut c, "kubectl create cm second");
    ok(&mut c, "kubectl delete cm first");
    ok(&mut c, "sim advance 1s");
    let streamed = c.take_background_output();
    let names: Vec<&str> = streamed.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["second", "first"], "{streamed}");
    assert_eq!(ok(&mut c, "sim interrupt"), "stopped 1 watch\n");
    ok(&mut c, "kubectl create cm third");
    ok(&mut c, "sim advance 1s");
    assert_eq!(c.take_background_output(), "");
    assert_eq!(watches(&mut c), system_watches(), "the apiserver closed the watch");
}

#[test]
fn patch_and_service_type_changes() {
    let mut c = cluster();
    ok(&mut c, "kubectl create service nodeport web --tcp=80:8080");
    let port = |c: &mut Cluster| ok(c, "kubectl get svc web -o jsonpath={.spec.ports[0].nodePort}");
    assert!(port(&mut c).parse::<u16>().is_ok_and(|p| (30000..=32767).contains(&p)));
    assert_eq!(ok(&mut c, r#"kubectl patch svc web -p '{"spec":{"type":"ClusterIP"}}'"#), "service/web patched\n");
    assert_eq!(port(&mut c), "", "a ClusterIP service keeps no node port");
    assert_eq!(ok(&mut c, r#"kubectl patch svc web -p '{"spec":{"type":"NodePort"}}'"#), "service/web patched\n");
    assert!(port(&mut c).parse::<u16>().is_ok(), "changing to NodePort allocates one");
    assert_eq!(
        ok(&mut c, r#"kubectl patch svc web -p '{"spec":{"type":"NodePort"}}'"#),
        "service/web patched (no change)\n"
    );
    assert_eq!(
        ok(&mut c, r#"kubectl patch svc web --type merge -p '{"metadata":{"labels":{"tier":"front"}}}'"#),
        "service/web patched\n"
    );
    assert_eq!(ok(&mut c, "kubectl get svc web -o jsonpath={.metadata.labels.tier}"), "front");
    let out = fails(&mut c, r#"kubectl patch svc web --type json -p '[{"op":"remove","path":"/spec/nope"}]'"#);
    assert!(out.starts_with("Error from server (BadRequest): remove operation does not apply"), "{out}");
}

#[test]
fn limit_ranges_and_quotas_admit_like_the_documentation_says() {
    // The manifests and the expected messages of the "Configure Memory and CPU
    // Quotas for a Namespace" task in the Kubernetes documentation.
    let mut c = cluster();
    ok(&mut c, "kubectl create namespace quota-mem-cpu-example");
    ok(&mut c, "kubectl apply -n quota-mem-cpu-example -f - <<EOF\napiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: mem-cpu-demo\nspec:\n  hard:\n    requests.cpu: \"1\"\n    requests.memory: 1Gi\n    limits.cpu: \"2\"\n    limits.memory: 2Gi\nEOF");
    let pod = |name: &str, mem_limit: &str, mem_request: &str| {
        format!("kubectl apply -n quota-mem-cpu-example -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: {name}-ctr\n    image: nginx\n    resources:\n      limits:\n        memory: \"{mem_limit}\"\n        cpu: \"800m\"\n      requests:\n        memory: \"{mem_request}\"\n        cpu: \"400m\"\nEOF")
    };
    assert_eq!(ok(&mut c, &pod("quota-mem-cpu-demo", "800Mi", "600Mi")), "pod/quota-mem-cpu-demo created\n");
    assert_eq!(
        fails(&mut c, &pod("quota-mem-cpu-demo-2", "1Gi", "700Mi")),
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"quota-mem-cpu-demo-2\" is forbidden: exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi\n"
    );
    assert_eq!(
        fails(&mut c, "kubectl run bare -n quota-mem-cpu-example --image=nginx"),
        "Error from server (Forbidden): pods \"bare\" is forbidden: failed quota: mem-cpu-demo: must specify limits.cpu for: bare; limits.memory for: bare; requests.cpu for: bare; requests.memory for: bare\n"
    );
    // A LimitRange fills in defaults and enforces its maximum.
    ok(&mut c, "kubectl create namespace limits");
    ok(&mut c, "kubectl apply -n limits -f - <<EOF\napiVersion: v1\nkind: LimitRange\nmetadata:\n  name: cpu-max\nspec:\n  limits:\n  - max: {cpu: 800m}\n    type: Container\nEOF");
    ok(&mut c, "kubectl run small -n limits --image=nginx");
    assert_eq!(
        ok(&mut c, "kubectl get pod small -n limits -o jsonpath={.spec.containers[0].resources}"),
        r#"{"limits":{"cpu":"800m"},"requests":{"cpu":"800m"}}"#
    );
    let big = "kubectl apply -n limits -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    resources: {limits: {cpu: \"2\"}}\nEOF";
    assert_eq!(
        fails(&mut c, big),
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"big\" is forbidden: maximum cpu usage per Container is 800m, but limit is 2\n"
    );
}

mod api {
    //! REST semantics below kubectl: paging, finalizers, preconditions, bookmarks.
    use super::*;
    use kscope_core::component_id::ComponentId;
    use kscope_core::message::{ApiRequest, Method, Payload};

    /// Sends one request as client `who` and returns (code, body).
    fn call(c: &mut Cluster, request: ApiRequest) -> (u16, Value) {
        c.simulation_mut().send_as_client("api-test", ComponentId::ApiServer, Payload::ApiRequest(request));
        for _ in 0..200 {
            c.advance(Duration::from_millis(10)).unwrap();
            for e in c.simulation_mut().take_client_inbox("api-test") {
                if let Payload::ApiResponse(r) = e.payload {
                    return (r.code, r.body.unwrap_or(Value::Null));
                }
            }
        }
        panic!("no answer");
    }

    #[test]
    fn lists_page_with_limit_and_continue_at_one_revision() {
        let mut c = cluster();
        // With the root CA ConfigMap: five objects.
        for i in 0..4 {
            ok(&mut c, &format!("kubectl create cm page-{i}"));
        }
        let (code, first) =
            call(&mut c, ApiRequest::new(1, Method::Get, "/api/v1/namespaces/default/configmaps?limit=2"));
        assert_eq!(code, 200);
        let names = |v: &Value| {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&first), ["kube-root-ca.crt", "page-0"]);
        let token = first["metadata"]["continue"].as_str().unwrap().to_string();
        ok(&mut c, "kubectl delete cm page-2");
        let (_, second) = call(
            &mut c,
            ApiRequest::new(2, Method::Get, format!("/api/v1/namespaces/default/configmaps?limit=2&continue={token}")),
        );
        // The next page is read at the first page's revision: page-2 is still there.
        assert_eq!(names(&second), ["page-1", "page-2"]);
        assert_eq!(second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
        let token = second["metadata"]["continue"].as_str().unwrap().to_string();
        let (_, third) = call(
            &mut c,
            ApiRequest::new(3, Method::Get, format!("/api/v1/namespaces/default/configmaps?limit=2&continue={token}")),
        );
        assert_eq!(names(&third), ["page-3"]);
        assert!(third["metadata"].get("continue").is_none());
        let (code, bad) =
            call(&mut c, ApiRequest::new(4, Method::Get, "/api/v1/namespaces/default/configmaps?continue=garbage"));
        assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")));
    }

    #[test]
    fn finalizers_hold_a_delete_and_preconditions_guard_it() {
        let mut c = cluster();
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\nEOF");
        let (code, body) = call(
            &mut c,
            ApiRequest::new(1, Method::Delete, "/api/v1/namespaces/default/configmaps/held")
                .with_body(serde_json::json!({"preconditions": {"uid": "not-the-uid"}})),
        );
        assert_eq!(code, 409);
        assert!(
            body["message"].as_str().unwrap().contains("Precondition failed: UID in precondition: not-the-uid"),
            "{body}"
        );
        assert_eq!(ok(&mut c, "kubectl delete cm held"), "configmap \"held\" deleted\n");
        let stamp = ok(&mut c, "kubectl get cm held -o jsonpath={.metadata.deletionTimestamp}");
        assert!(stamp.starts_with("2025-01-01T00:00:"), "still there, being deleted: {stamp}");
        ok(&mut c, "kubectl patch cm held --type merge -p '{\"metadata\":{\"finalizers\":null}}'");
        assert_eq!(
            fails(&mut c, "kubectl get cm held"),
            "Error from server (NotFound): configmaps \"held\" not found\n"
        );
    }

    #[test]
    fn watchers_that_ask_get_bookmarks() {
        let mut c = cluster();
        let request = ApiRequest::new(
            7,
            Method::Get,
            "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&resourceVersion=0",
        );
        c.simulation_mut().send_as_client("bm", ComponentId::ApiServer, Payload::ApiRequest(request));
        c.advance(Duration::from_secs(61)).unwrap();
        let bookmarks: Vec<Value> = c
            .simulation_mut()
            .take_client_inbox("bm")
            .into_iter()
            .filter_map(|e| match e.payload {
                Payload::ApiResponse(r) => r.body,
                _ => None,
            })
            .filter(|b| b["type"] == "BOOKMARK")
            .collect();
        assert_eq!(bookmarks.len(), 1, "one a minute");
        assert_eq!(bookmarks[0]["object"]["kind"], "Pod");
        assert!(bookmarks[0]["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    }
}

#[test]
fn replace_with_a_stale_resource_version_is_a_conflict() {
    let mut c = cluster();
    ok(&mut c, "kubectl create configmap app --from-literal=v=1");
    let rv = ok(&mut c, "kubectl get cm app -o jsonpath={.metadata.resourceVersion}");
    let manifest = |value: &str| {
        format!("kubectl replace -f - <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  resourceVersion: \"{rv}\"\ndata:\n  v: \"{value}\"\nEOF")
    };
    assert_eq!(ok(&mut c, &manifest("2")), "configmap/app replaced\n");
    // The same resourceVersion again is now stale: someone (we) changed it since.
    assert_eq!(
        fails(&mut c, &manifest("3")),
        "Error from server (Conflict): error when replacing \"STDIN\": Operation cannot be fulfilled on configmaps \"app\": the object has been modified; please apply your changes to the latest version and try again\n"
    );
    assert_eq!(ok(&mut c, "kubectl get cm app -o jsonpath={.data.v}"), "2");
}

mod second_review {
    //! What a second review found, kept as tests.
    use super::*;

    #[test]
    fn sort_by_mixed_keys_deep_patches_and_deep_yaml_are_handled() {
        let mut c = cluster();
        for n in [
            "9", "10", "1a", "2", "20", "3b", "100", "x", "5", "nan", "inf", "7", "77", "7a", "8", "80", "8b", "11",
            "12", "1b", "13",
        ] {
            ok(&mut c, &format!("kubectl create configmap {n}"));
        }
        let sorted = ok(&mut c, "kubectl get cm --sort-by=.metadata.name -o name");
        assert!(sorted.starts_with("configmap/10\nconfigmap/100\n"), "string keys sort as strings: {sorted}");
        let mut ops = vec![r#"{"op":"add","path":"/metadata/annotations","value":{}}"#.to_string()];
        ops.push(r#"{"op":"add","path":"/data","value":{"x":{}}}"#.to_string());
        let mut path = "/data/x".to_string();
        for _ in 0..12 {
            ops.push(format!(r#"{{"op":"copy","from":"/data/x","path":"{path}/x"}}"#));
            path.push_str("/x");
        }
        let out = fails(&mut c, &format!("kubectl patch cm 9 --type json -p '[{}]'", ops.join(",")));
        assert!(out.starts_with("Error from server (BadRequest)"), "{out}");
        let deep = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
        assert!(fails(&mut c, &format!("kubectl patch cm 9 -p '{deep}'")).contains("exceeded max depth"));
        let deep_yaml = format!("kubectl apply -f - <<EOF\na: {}{}\nEOF", "[".repeat(5_000), "]".repeat(5_000));
        assert!(fails(&mut c, &deep_yaml).contains("exceeded max depth"));
    }

    #[test]
    fn numeric_quantities_toleration_removal_and_replicaset_selectors() {
        let mut c = cluster();
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    resources: {limits: {cpu: 1, memory: 536870912}}\nEOF");
        assert_eq!(
            ok(&mut c, "kubectl get pod p -o jsonpath={.spec.containers[0].resources.limits.cpu}"),
            "1",
            "bare numbers are quantities"
        );
        let out = fails(&mut c, r#"kubectl patch pod p --type json -p '[{"op":"remove","path":"/spec/tolerations"}]'"#);
        assert!(out.contains("pod updates may not change fields other than"), "{out}");
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b, c: d}}\n    spec: {containers: [{name: c, image: x}]}\nEOF");
        let out =
            fails(&mut c, r#"kubectl patch rs r --type merge -p '{"spec":{"selector":{"matchLabels":{"c":"d"}}}}'"#);
        assert!(out.contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\", \"c\":\"d\"}"), "{out}");
        assert!(out.ends_with("field is immutable\n"), "{out}");
    }

    #[test]
    fn rbac_rules_drain_namespaces_and_can_i_groups() {
        let mut c = cluster();
        ok(
            &mut c,
            "kubectl create clusterrole rbac-writer --verb=create,get,list --resource=clusterroles,clusterrolebindings",
        );
        ok(&mut c, "kubectl create clusterrolebinding dev-rbac --clusterrole=rbac-writer --user=dev");
        let out = fails(&mut c, "kubectl --as dev apply -f - <<EOF\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: evil}\nrules:\n- {apiGroups: ['*'], resources: ['*'], verbs: ['*'], nonResourceURLs: [/healthz]}\nEOF");
        assert!(out.contains("rules cannot apply to both regular resources and non-resource URLs"), "{out}");
        let out = fails(&mut c, "kubectl --as dev create clusterrolebinding evil --clusterrole=evil --user=dev");
        assert!(out.contains("clusterroles.rbac.authorization.k8s.io \"evil\" not found"), "{out}");
        let out = fails(&mut c, "kubectl create rolebinding rb --role=x --serviceaccount=:");
        assert!(out.contains("subjects[0].name: Required value"), "{out}");
        assert_eq!(run(&mut c, "kubectl auth can-i get secrets --as dev --as-group system:masters").text, "yes\n");
        ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nmetadata: {name: lonely}\nspec:\n  nodeName: node-1\n  containers: [{name: c, image: nginx}]\nEOF");
        let out = fails(&mut c, "kubectl drain node-1");
        assert!(
            out.contains("cannot delete Pods that declare no controller (use --force to override): default/lonely"),
            "{out}"
        );
        assert!(ok(&mut c, "kubectl drain node-1 --force --ignore-daemonsets --dry-run=client")
            .contains("pod/lonely evicted (dry run)"));
        assert!(!ok(&mut c, "kubectl get pod lonely").contains("Terminating"), "a dry run evicts nothing");
        assert_eq!(
            fails(&mut c, "kubectl get pods -n 'default/pods?watch=true&x='"),
            "error: invalid namespace \"default/pods?watch=true&x=\": [may not contain '/']\n"
        );
        assert_eq!(watches(&mut c), system_watches());
    }
}

#[test]
fn count_quotas_finalizer_merges_and_patch_subresources() {
    let mut c = cluster();
    ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec:\n  hard: {count/deployments.apps: \"1\"}\nEOF");
    ok(&mut c, "kubectl create deploy a --image=x");
    assert_eq!(
        fails(&mut c, "kubectl create deploy b --image=x"),
        "Error from server (Forbidden): deployments.apps \"b\" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1\n"
    );
    ok(&mut c, "kubectl create namespace f");
    ok(&mut c, r#"kubectl patch ns f -p '{"metadata":{"finalizers":["a.io/x"]}}'"#);
    ok(&mut c, r#"kubectl patch ns f -p '{"metadata":{"finalizers":["b.io/y"]}}'"#);
    assert_eq!(ok(&mut c, "kubectl get ns f -o jsonpath={.metadata.finalizers}"), r#"["a.io/x","b.io/y"]"#);
    assert_eq!(
        ok(&mut c, r#"kubectl patch deploy a --subresource=scale --type merge -p '{"spec":{"replicas":4}}'"#),
        "deployment.apps/a patched\n"
    );
    assert_eq!(ok(&mut c, "kubectl get deploy a -o jsonpath={.spec.replicas}"), "4");
    assert!(fails(&mut c, "kubectl patch deploy a --subresource=bogus -p '{}'").contains("invalid subresource value"));
    ok(&mut c, "kubectl create cm d");
    assert_eq!(
        ok(&mut c, r#"kubectl patch cm d -p '{"data":{"x":"y"}}' --dry-run=server"#),
        "configmap/d patched (server dry run)\n"
    );
}
