//! kube-apiserver.
//!
//! For now it serves only what the kubelets send (node registration and node
//! Leases) and keeps those objects in memory. The replicated etcd (issue 4) and
//! the full REST API with real Kubernetes objects (issue 5) replace this store;
//! the request/response shapes and status codes are already the real ones.

use crate::component::{Component, Context, Envelope};
use crate::message::{ApiRequest, ApiResponse, Method, Payload};
use kscope_protocol::ComponentKind;
use std::collections::BTreeMap;

/// Path prefix of node Leases (namespace `kube-node-lease`).
pub const NODE_LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
/// Path of the nodes collection.
pub const NODES_PATH: &str = "/api/v1/nodes";

/// The API server component.
#[derive(Debug, Default)]
pub struct KubeApiServer {
    /// Registered node names.
    nodes: BTreeMap<String, u64>,
    /// Node lease name → last renew time (ms).
    leases: BTreeMap<String, u64>,
    requests_served: u64,
}

impl KubeApiServer {
    /// A fresh API server.
    pub fn new() -> Self {
        Self::default()
    }

    fn serve(&mut self, now_ms: u64, request: &ApiRequest) -> u16 {
        let path = request.path.as_str();
        let item = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|name| !name.is_empty() && !name.contains('/'))
                .map(str::to_string)
        };
        let body_name = || {
            request.body.as_ref().and_then(|b| b.pointer("/metadata/name")).and_then(|n| n.as_str()).map(str::to_string)
        };
        match request.method {
            Method::Post if path == NODES_PATH || path == NODE_LEASES_PATH => {
                let store = if path == NODES_PATH { &mut self.nodes } else { &mut self.leases };
                match body_name() {
                    Some(name) => create(store, name, now_ms),
                    None => 422,
                }
            }
            Method::Put => match item(NODE_LEASES_PATH).and_then(|name| self.leases.get_mut(&name)) {
                Some(renewed) => {
                    *renewed = now_ms;
                    200
                }
                None => 404,
            },
            Method::Get if path == NODES_PATH || path == NODE_LEASES_PATH => 200,
            _ => 404,
        }
    }
}

fn create(store: &mut BTreeMap<String, u64>, name: String, now_ms: u64) -> u16 {
    if store.contains_key(&name) {
        409
    } else {
        store.insert(name, now_ms);
        201
    }
}

impl Component for KubeApiServer {
    fn kind(&self) -> ComponentKind {
        ComponentKind::ApiServer
    }

    fn start(&mut self, _ctx: &mut Context<'_>) {
        // Volatile until the etcd issue gives it durable storage.
        *self = Self::default();
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiRequest(request) = envelope.payload else {
            return;
        };
        let code = self.serve(ctx.now_ms(), &request);
        self.requests_served += 1;
        if code == 201 {
            let name = request.body.as_ref().and_then(|b| b.pointer("/metadata/name")).and_then(|n| n.as_str());
            ctx.record(format!("created {}/{}", request.path, name.unwrap_or_default()));
        }
        ctx.send(envelope.from, Payload::ApiResponse(ApiResponse { request_id: request.request_id, code }));
    }

    fn timer(&mut self, _ctx: &mut Context<'_>, _token: u64) {}

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![
            ("requests".into(), self.requests_served.to_string()),
            ("nodes".into(), self.nodes.len().to_string()),
            ("node leases".into(), self.leases.len().to_string()),
        ]
    }
}
