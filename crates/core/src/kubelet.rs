//! The kubelet of one worker node.
//!
//! For now it does what a kubelet does before any pod is bound to it: it
//! registers its Node and keeps its node Lease fresh. The renew interval is a
//! quarter of the 40 s lease duration, 10 s, as in pkg/kubelet/kubelet.go
//! (`nodeLeaseRenewIntervalFraction = 0.25`, `NodeLeaseDurationSeconds` default 40
//! in pkg/kubelet/apis/config/v1beta1/defaults.go). Each sync is level-triggered:
//! it does whatever step is missing (register, create lease, renew), so a lost
//! message is simply retried at the next sync.
//!
//! It also watches the pods bound to its node (`spec.nodeName=<node>`) and
//! finishes their graceful deletion: once a pod's deletionTimestamp passes
//! (its grace period is over, the containers are gone), it deletes the pod
//! with grace period 0, as the kubelet's status manager does. The container
//! runtime, pod phases and probes arrive with issue 7.

use crate::apimachinery::time::{parse_rfc3339, rfc3339, rfc3339_micro};
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::duration::Duration;
use crate::kube_apiserver::{NODES_PATH, NODE_LEASES_PATH};
use crate::message::{ApiRequest, Method, Payload};
use crate::reflector::Reflector;
use crate::scenario::NodeSpec;
use kscope_protocol::ComponentKind;
use serde_json::json;
use std::collections::BTreeMap;

/// The node lease duration (`nodeLeaseDurationSeconds`, default 40).
pub const NODE_LEASE_DURATION: Duration = Duration::from_secs(40);
/// How often the kubelet renews its lease: a quarter of the lease duration.
pub const NODE_LEASE_RENEW_INTERVAL: Duration = Duration::from_millis(NODE_LEASE_DURATION.ms / 4);

const TIMER_SYNC: u64 = 1;
const TIMER_REAP: u64 = 2;
const TIMER_PODS_RETRY: u64 = 3;
/// How often terminating pods are checked.
const REAP_MS: u64 = 1_000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    RegisterNode,
    CreateLease,
    RenewLease,
    FinishDeletion(String),
}

/// The kubelet version kscope's nodes report.
pub const KUBELET_VERSION: &str = "v1.32.0";

/// The kubelet component.
#[derive(Debug)]
pub struct Kubelet {
    node: String,
    spec: NodeSpec,
    address: String,
    registered: bool,
    lease_exists: bool,
    renewals: u64,
    last_renew_ms: Option<u64>,
    next_request: u64,
    in_flight: BTreeMap<u64, Call>,
    pods: Reflector,
}

impl Kubelet {
    /// The kubelet of the node `spec`, at IP `address`.
    pub fn new(spec: &NodeSpec, address: &str) -> Self {
        Kubelet {
            node: spec.name.clone(),
            spec: spec.clone(),
            address: address.to_string(),
            registered: false,
            lease_exists: false,
            renewals: 0,
            last_renew_ms: None,
            next_request: 0,
            in_flight: BTreeMap::new(),
            pods: Reflector::new("/api/v1/pods", "", &format!("spec.nodeName={}", spec.name)),
        }
    }

    /// Deletes, with grace period 0, the pods whose grace period has run out.
    fn reap(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let due: Vec<(String, String, String)> = self
            .pods
            .store()
            .values()
            .filter(|p| {
                p.pointer("/metadata/deletionTimestamp")
                    .and_then(|v| v.as_str())
                    .and_then(parse_rfc3339)
                    .is_some_and(|t| t <= now)
            })
            .map(|p| {
                let m = |f: &str| {
                    p.pointer(&format!("/metadata/{f}")).and_then(|v| v.as_str()).unwrap_or_default().to_string()
                };
                (m("namespace"), m("name"), m("uid"))
            })
            .collect();
        for (namespace, name, uid) in due {
            let call = Call::FinishDeletion(uid.clone());
            if self.in_flight.values().any(|c| *c == call) {
                continue;
            }
            self.next_request += 1;
            let id = self.next_request;
            self.in_flight.insert(id, call);
            let request = ApiRequest::new(id, Method::Delete, format!("/api/v1/namespaces/{namespace}/pods/{name}"))
                .with_body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}));
            ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
        }
    }

    /// The Node object the kubelet registers (pkg/kubelet/kubelet_node_status.go
    /// `initialNode` and the status setters): well-known labels, capacity,
    /// conditions, addresses and node info.
    fn node_object(&self, now_ms: u64) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", self.node.as_str()),
            ("kubernetes.io/os", "linux"),
        ] {
            labels.insert(k.into(), json!(v));
        }
        for (k, v) in &self.spec.labels {
            labels.insert(k.clone(), json!(v));
        }
        let resources = json!({
            "cpu": self.spec.cpu.to_string(),
            "memory": self.spec.memory.to_string(),
            "pods": "110",
            "ephemeral-storage": "100Gi",
        });
        let now = rfc3339(now_ms);
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now,
                "reason": reason, "message": message})
        };
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": labels,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": if self.spec.taints.is_empty() { json!({}) } else { json!({"taints": self.spec.taints}) },
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [{"type": "InternalIP", "address": self.address}, {"type": "Hostname", "address": self.node}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "kernelVersion": "6.1.0-kscope",
                    "kubeProxyVersion": KUBELET_VERSION,
                    "kubeletVersion": KUBELET_VERSION,
                    "machineID": "",
                    "operatingSystem": "linux",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "systemUUID": "",
                },
            },
        })
    }

    fn call(&mut self, ctx: &mut Context<'_>, call: Call) {
        let now_ms = ctx.now_ms();
        let lease = || {
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": self.node,
                    "leaseDurationSeconds": NODE_LEASE_DURATION.ms / 1000,
                    "renewTime": rfc3339_micro(now_ms),
                },
            })
        };
        let (method, path, body) = match call {
            Call::FinishDeletion(_) => return,
            Call::RegisterNode => (Method::Post, NODES_PATH.to_string(), self.node_object(now_ms)),
            Call::CreateLease => (Method::Post, NODE_LEASES_PATH.to_string(), lease()),
            Call::RenewLease => (Method::Put, format!("{NODE_LEASES_PATH}/{}", self.node), lease()),
        };
        // Ids are shared with the pod reflector: take a fresh one.
        self.next_request += 1;
        let request_id = self.next_request;
        self.in_flight.insert(request_id, call);
        let request = ApiRequest::new(request_id, method, path).with_body(body);
        ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
    }

    fn sync(&mut self, ctx: &mut Context<'_>) {
        // Forget requests whose answers never came (lost or cut); this sync retries.
        self.in_flight.clear();
        let call = match (self.registered, self.lease_exists) {
            (false, _) => Call::RegisterNode,
            (true, false) => Call::CreateLease,
            (true, true) => Call::RenewLease,
        };
        self.call(ctx, call);
    }
}

impl Component for Kubelet {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Kubelet
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        *self = Kubelet::new(&self.spec, &self.address);
        // Request ids of this run start above any earlier run's, so a late
        // answer to a request sent before a restart matches nothing.
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        self.sync(ctx);
        ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
        self.pods.start_via(ctx, &mut self.next_request);
        ctx.set_timer(REAP_MS, TIMER_REAP);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else {
            return;
        };
        if self.pods.owns(response.request_id) {
            self.pods.handle_via(ctx, &mut self.next_request, &response, TIMER_PODS_RETRY);
            return;
        }
        let Some(call) = self.in_flight.remove(&response.request_id) else {
            return;
        };
        match (call, response.code) {
            (Call::RegisterNode, 201 | 409) => {
                self.registered = true;
                ctx.record(format!("registered node {}", self.node));
                self.call(ctx, Call::CreateLease);
            }
            (Call::CreateLease, 201 | 409) => {
                self.lease_exists = true;
                self.last_renew_ms = Some(ctx.now_ms());
            }
            (Call::RenewLease, 200) => {
                self.renewals += 1;
                self.last_renew_ms = Some(ctx.now_ms());
            }
            (Call::RenewLease, 404) => self.lease_exists = false,
            _ => {}
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        match token {
            TIMER_SYNC => {
                self.sync(ctx);
                ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
            }
            TIMER_REAP => {
                self.reap(ctx);
                self.pods.check_via(ctx, &mut self.next_request);
                ctx.set_timer(REAP_MS, TIMER_REAP);
            }
            TIMER_PODS_RETRY => {
                self.pods.retry_via(ctx, &mut self.next_request);
            }
            _ => {}
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        let last = self.last_renew_ms.map_or("never".to_string(), |ms| Duration::from_millis(ms).to_string());
        vec![
            ("registered".into(), if self.registered { "yes" } else { "no" }.into()),
            ("lease renewals".into(), self.renewals.to_string()),
            ("last renew".into(), last),
        ]
    }
}
