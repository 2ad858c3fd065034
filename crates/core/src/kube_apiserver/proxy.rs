//! `pods/log`: kube-apiserver proxies the request to the pod's kubelet
//! (`GET https://<node>:10250/containerLogs/<ns>/<pod>/<container>`, as
//! pkg/registry/core/pod/strategy.go `LogLocation` builds it) and relays the
//! answer. A kubelet that does not answer in time gives the dial error.

use crate::component_id::ComponentId;
use std::collections::BTreeMap;

/// How long the apiserver waits for a kubelet.
pub const KUBELET_TIMEOUT_MS: u64 = 10_000;

/// A proxied request waiting for its kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxied {
    /// Who asked.
    pub client: ComponentId,
    /// The client's request id.
    pub request_id: u64,
    /// When to give up.
    pub deadline_ms: u64,
    /// The kubelet URL, for the timeout message.
    pub url: String,
}

/// The requests the apiserver has proxied to kubelets.
#[derive(Clone, Debug, Default)]
pub struct KubeletProxy {
    pending: BTreeMap<u64, Proxied>,
    next_id: u64,
}

impl KubeletProxy {
    /// Registers a proxied request; returns the id to send it with.
    pub fn start(&mut self, proxied: Proxied) -> u64 {
        self.next_id += 1;
        self.pending.insert(self.next_id, proxied);
        self.next_id
    }

    /// The request a kubelet's answer belongs to.
    pub fn finish(&mut self, id: u64) -> Option<Proxied> {
        self.pending.remove(&id)
    }

    /// The requests whose kubelet did not answer by `now_ms`.
    pub fn expired(&mut self, now_ms: u64) -> Vec<Proxied> {
        let ids: Vec<u64> = self.pending.iter().filter(|(_, p)| p.deadline_ms <= now_ms).map(|(id, _)| *id).collect();
        ids.into_iter().filter_map(|id| self.pending.remove(&id)).collect()
    }
}

/// The query string of a `containerLogs` request from a `pods/log` query
/// (`previous`, `tailLines`, `timestamps`).
pub fn container_logs_query(query: &BTreeMap<String, String>) -> String {
    let params: Vec<String> = ["previous", "tailLines", "timestamps"]
        .iter()
        .filter_map(|k| query.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}
