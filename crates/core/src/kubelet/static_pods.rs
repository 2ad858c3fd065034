//! The static pods of a control-plane node, as `kubeadm init` writes them to
//! `/etc/kubernetes/manifests` and the kubelet runs them.
//!
//! kscope's control plane is simulated components, not containers. A
//! control-plane node's kubelet runs one static pod per component it hosts:
//! the pod's container is tied to the component's process (see
//! [`crate::simulation::Process`]), so `sim kill etcd-2` kills the `etcd`
//! container of `etcd-control-plane2` and the kubelet reports it like a
//! container that keeps dying (`Error`, then `CrashLoopBackOff` with
//! growing back-off and restarts) until `sim restart etcd-2`.
//!
//! The manifests follow kubeadm v1.32: `cmd/kubeadm/app/phases/controlplane/manifests.go`
//! (component flags, CPU requests 250m/200m/100m), `cmd/kubeadm/app/phases/etcd/local.go`
//! (etcd's flags, requests cpu 100m memory 100Mi), `cmd/kubeadm/app/util/staticpod/utils.go`
//! (`ComponentPod`: labels `component`/`tier: control-plane`, host network,
//! `system-node-critical`, the `RuntimeDefault` seccomp profile) and
//! `cmd/kubeadm/app/constants/constants.go` (etcd `3.5.16-0` for v1.32,
//! `registry.k8s.io` images tagged with the Kubernetes version). The
//! kubelet adds what pkg/kubelet/config/common.go `applyDefaults` adds
//! (the `kubernetes.io/config.*` annotations, node name, the NoExecute
//! toleration) and names each pod `<name>-<node>`.

use crate::component_id::ComponentId;
use crate::sha256::{hex, sha256};
use serde_json::{json, Value};

/// The Kubernetes version of the control-plane images.
pub const KUBERNETES_VERSION: &str = "v1.32.0";
/// The etcd image kubeadm v1.32 uses.
pub const ETCD_IMAGE: &str = "registry.k8s.io/etcd:3.5.16-0";

/// A control-plane component a node hosts as a static pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticComponent {
    /// An etcd member.
    Etcd {
        /// Its number (`etcd-<member>`).
        member: u8,
        /// Its member name.
        name: String,
        /// Every member of the initial cluster: (name, address).
        peers: Vec<(String, String)>,
    },
    /// kube-apiserver.
    ApiServer {
        /// The etcd members' addresses (`--etcd-servers`).
        etcd: Vec<String>,
    },
    /// kube-controller-manager.
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
    /// kube-addon-manager, as kube-up runs it on the master
    /// (cluster/gce/manifests/kube-addon-manager.yaml).
    AddonManager,
}

/// A static pod: its manifest (as the kubelet read it from the file, with
/// the kubelet's defaults) and the component its one container runs.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticPod {
    /// The pod, with `metadata.uid` set to the manifest's hash as the kubelet sets it.
    pub pod: Value,
    /// The simulated component its container runs.
    pub component: ComponentId,
}

/// The static pods of node `node` (address `address`) for `components`.
pub fn static_pods(node: &str, address: &str, components: &[StaticComponent]) -> Vec<StaticPod> {
    components.iter().map(|c| static_pod(node, address, c)).collect()
}

fn static_pod(node: &str, address: &str, component: &StaticComponent) -> StaticPod {
    let pki = "/etc/kubernetes/pki";
    let (name, id, image, command, requests, annotations, volumes): (
        &str,
        ComponentId,
        String,
        Vec<String>,
        Value,
        Value,
        Vec<(&str, &str, &str)>,
    ) = match component {
        StaticComponent::Etcd { member, name, peers } => {
            let cluster: Vec<String> = peers.iter().map(|(n, a)| format!("{n}=https://{a}:2380")).collect();
            let command = vec![
                "etcd".to_string(),
                format!("--advertise-client-urls=https://{address}:2379"),
                format!("--cert-file={pki}/etcd/server.crt"),
                "--client-cert-auth=true".into(),
                "--data-dir=/var/lib/etcd".into(),
                "--experimental-initial-corrupt-check=true".into(),
                "--experimental-watch-progress-notify-interval=5s".into(),
                format!("--initial-advertise-peer-urls=https://{address}:2380"),
                format!("--initial-cluster={}", cluster.join(",")),
                format!("--key-file={pki}/etcd/server.key"),
                format!("--listen-client-urls=https://127.0.0.1:2379,https://{address}:2379"),
                "--listen-metrics-urls=http://127.0.0.1:2381".into(),
                format!("--listen-peer-urls=https://{address}:2380"),
                format!("--name={name}"),
                format!("--peer-cert-file={pki}/etcd/peer.crt"),
                "--peer-client-cert-auth=true".into(),
                format!("--peer-key-file={pki}/etcd/peer.key"),
                format!("--peer-trusted-ca-file={pki}/etcd/ca.crt"),
                "--snapshot-count=10000".into(),
                format!("--trusted-ca-file={pki}/etcd/ca.crt"),
            ];
            (
                "etcd",
                ComponentId::Etcd(*member),
                ETCD_IMAGE.to_string(),
                command,
                json!({"cpu": "100m", "memory": "100Mi"}),
                json!({"kubeadm.kubernetes.io/etcd.advertise-client-urls": format!("https://{address}:2379")}),
                vec![
                    ("etcd-certs", "/etc/kubernetes/pki/etcd", "DirectoryOrCreate"),
                    ("etcd-data", "/var/lib/etcd", "DirectoryOrCreate"),
                ],
            )
        }
        StaticComponent::ApiServer { etcd } => {
            let servers: Vec<String> = etcd.iter().map(|a| format!("https://{a}:2379")).collect();
            let command = vec![
                "kube-apiserver".to_string(),
                format!("--advertise-address={address}"),
                "--allow-privileged=true".into(),
                "--authorization-mode=Node,RBAC".into(),
                format!("--client-ca-file={pki}/ca.crt"),
                "--enable-admission-plugins=NodeRestriction".into(),
                "--enable-bootstrap-token-auth=true".into(),
                format!("--etcd-cafile={pki}/etcd/ca.crt"),
                format!("--etcd-certfile={pki}/apiserver-etcd-client.crt"),
                format!("--etcd-keyfile={pki}/apiserver-etcd-client.key"),
                format!("--etcd-servers={}", servers.join(",")),
                "--secure-port=6443".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                "--service-cluster-ip-range=10.96.0.0/12".into(),
                format!("--tls-cert-file={pki}/apiserver.crt"),
                format!("--tls-private-key-file={pki}/apiserver.key"),
            ];
            (
                "kube-apiserver",
                ComponentId::ApiServer,
                format!("registry.k8s.io/kube-apiserver:{KUBERNETES_VERSION}"),
                command,
                json!({"cpu": "250m"}),
                json!({"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": format!("{address}:6443")}),
                vec![("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate"), ("k8s-certs", pki, "DirectoryOrCreate")],
            )
        }
        StaticComponent::ControllerManager => (
            "kube-controller-manager",
            ComponentId::ControllerManager,
            format!("registry.k8s.io/kube-controller-manager:{KUBERNETES_VERSION}"),
            vec![
                "kube-controller-manager".to_string(),
                "--allocate-node-cidrs=true".into(),
                "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--bind-address=127.0.0.1".into(),
                "--cluster-cidr=10.244.0.0/16".into(),
                "--cluster-name=kscope".into(),
                "--controllers=*,bootstrapsigner,tokencleaner".into(),
                "--kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--leader-elect=true".into(),
                "--service-cluster-ip-range=10.96.0.0/12".into(),
                "--use-service-account-credentials=true".into(),
            ],
            json!({"cpu": "200m"}),
            json!({}),
            vec![
                ("k8s-certs", pki, "DirectoryOrCreate"),
                ("kubeconfig", "/etc/kubernetes/controller-manager.conf", "FileOrCreate"),
            ],
        ),
        StaticComponent::Scheduler => (
            "kube-scheduler",
            ComponentId::Scheduler,
            format!("registry.k8s.io/kube-scheduler:{KUBERNETES_VERSION}"),
            vec![
                "kube-scheduler".to_string(),
                "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--bind-address=127.0.0.1".into(),
                "--kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--leader-elect=true".into(),
            ],
            json!({"cpu": "100m"}),
            json!({}),
            vec![("kubeconfig", "/etc/kubernetes/scheduler.conf", "FileOrCreate")],
        ),
        StaticComponent::AddonManager => (
            "kube-addon-manager",
            ComponentId::AddonManager,
            "registry.k8s.io/addon-manager/kube-addon-manager:v9.1.8".to_string(),
            vec![
                "/bin/bash".to_string(),
                "-c".into(),
                "exec /opt/kube-addons-main.sh 1>>/var/log/kube-addon-manager.log 2>&1".into(),
            ],
            json!({"cpu": "5m", "memory": "50Mi"}),
            json!({}),
            vec![("addons", "/etc/kubernetes/addons", "DirectoryOrCreate")],
        ),
    };
    let mounts: Vec<Value> = volumes
        .iter()
        .map(|(n, path, _)| json!({"name": n, "mountPath": path, "readOnly": !n.ends_with("-data")}))
        .collect();
    let volumes: Vec<Value> =
        volumes.iter().map(|(n, path, kind)| json!({"name": n, "hostPath": {"path": path, "type": kind}})).collect();
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"component": name, "tier": "control-plane"},
            "annotations": annotations,
        },
        "spec": {
            "containers": [{
                "name": name,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": command,
                "resources": {"requests": requests},
                "volumeMounts": mounts,
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "hostNetwork": true,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": volumes,
        },
    });
    // The kubelet's source hash of the manifest (`kubernetes.io/config.hash`)
    // doubles as the static pod's uid, as in pkg/kubelet/config/common.go.
    let hash = hex(&sha256(format!("{node}/{manifest}").as_bytes()))[..32].to_string();
    let mut pod = manifest;
    pod["metadata"]["name"] = json!(format!("{name}-{node}"));
    pod["metadata"]["uid"] = json!(hash);
    let annotations = pod["metadata"]["annotations"].as_object_mut().expect("annotations are an object");
    annotations.insert("kubernetes.io/config.hash".into(), json!(hash));
    annotations.insert("kubernetes.io/config.source".into(), json!("file"));
    let spec = &mut pod["spec"];
    spec["nodeName"] = json!(node);
    spec["restartPolicy"] = json!("Always");
    spec["dnsPolicy"] = json!("ClusterFirst");
    spec["schedulerName"] = json!("default-scheduler");
    spec["terminationGracePeriodSeconds"] = json!(30);
    spec["enableServiceLinks"] = json!(true);
    spec["preemptionPolicy"] = json!("PreemptLowerPriority");
    spec["tolerations"] = json!([{"operator": "Exists", "effect": "NoExecute"}]);
    StaticPod { pod, component: id }
}

/// Whether a pod from the apiserver is a mirror pod (`kubernetes.io/config.mirror`).
pub fn is_mirror(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror").is_some()
}

/// The mirror pod of `static_pod` (pkg/kubelet/pod/mirror_client.go
/// `CreateMirrorPod`): the same pod with the `kubernetes.io/config.mirror`
/// annotation, owned by its Node, without the uid the apiserver gives.
pub fn mirror_pod(static_pod: &Value, node_uid: &str, seen: &str) -> Value {
    let mut pod = static_pod.clone();
    let hash = pod["metadata"]["uid"].clone();
    let metadata = pod["metadata"].as_object_mut().expect("metadata is an object");
    metadata.remove("uid");
    let node = static_pod["spec"]["nodeName"].clone();
    if let Some(a) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
        a.insert("kubernetes.io/config.mirror".into(), hash);
        a.insert("kubernetes.io/config.seen".into(), json!(seen));
    }
    if !node_uid.is_empty() {
        metadata.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": true}]),
        );
    }
    pod
}
