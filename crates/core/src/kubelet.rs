//! The kubelet of one worker node.
//!
//! For now it does what a kubelet does before any pod is bound to it: it
//! registers its Node and keeps its node Lease fresh. The renew interval is a
//! quarter of the 40 s lease duration, 10 s, as in pkg/kubelet/kubelet.go
//! (`nodeLeaseRenewIntervalFraction = 0.25`, `NodeLeaseDurationSeconds` default 40
//! in pkg/kubelet/apis/config/v1beta1/defaults.go). Each sync is level-triggered:
//! it does whatever step is missing (register, create lease, renew), so a lost
//! message is simply retried at the next sync. Pods and the container runtime
//! arrive with issue 7.

use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::duration::Duration;
use crate::kube_apiserver::{NODES_PATH, NODE_LEASES_PATH};
use crate::message::{ApiRequest, Method, Payload};
use kscope_protocol::ComponentKind;
use serde_json::json;
use std::collections::BTreeMap;

/// The node lease duration (`nodeLeaseDurationSeconds`, default 40).
pub const NODE_LEASE_DURATION: Duration = Duration::from_secs(40);
/// How often the kubelet renews its lease: a quarter of the lease duration.
pub const NODE_LEASE_RENEW_INTERVAL: Duration = Duration::from_millis(NODE_LEASE_DURATION.ms / 4);

const TIMER_SYNC: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    RegisterNode,
    CreateLease,
    RenewLease,
}

/// The kubelet component.
#[derive(Debug)]
pub struct Kubelet {
    node: String,
    registered: bool,
    lease_exists: bool,
    renewals: u64,
    last_renew_ms: Option<u64>,
    next_request: u64,
    in_flight: BTreeMap<u64, Call>,
}

impl Kubelet {
    /// The kubelet of node `node`.
    pub fn new(node: &str) -> Self {
        Kubelet {
            node: node.to_string(),
            registered: false,
            lease_exists: false,
            renewals: 0,
            last_renew_ms: None,
            next_request: 0,
            in_flight: BTreeMap::new(),
        }
    }

    fn call(&mut self, ctx: &mut Context<'_>, call: Call) {
        let lease = || {
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": self.node, "leaseDurationSeconds": NODE_LEASE_DURATION.ms / 1000},
            })
        };
        let (method, path, body) = match call {
            Call::RegisterNode => (
                Method::Post,
                NODES_PATH.to_string(),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}}),
            ),
            Call::CreateLease => (Method::Post, NODE_LEASES_PATH.to_string(), lease()),
            Call::RenewLease => (Method::Put, format!("{NODE_LEASES_PATH}/{}", self.node), lease()),
        };
        let request_id = self.next_request;
        self.next_request += 1;
        self.in_flight.insert(request_id, call);
        let request = ApiRequest { request_id, method, path, body: Some(body) };
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
        *self = Kubelet::new(&self.node);
        self.sync(ctx);
        ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else {
            return;
        };
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
        if token == TIMER_SYNC {
            self.sync(ctx);
            ctx.set_timer(NODE_LEASE_RENEW_INTERVAL.ms, TIMER_SYNC);
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
