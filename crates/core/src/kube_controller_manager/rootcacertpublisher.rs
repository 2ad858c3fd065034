//! The root CA certificate publisher
//! (pkg/controller/certificates/rootcacertpublisher/publisher.go, v1.32):
//! keeps a ConfigMap `kube-root-ca.crt` in every namespace, holding the
//! cluster's CA bundle under `ca.crt` and annotated with
//! `kubernetes.io/description`.
//!
//! A namespace is synced when it is added, when it is updated while
//! `Active`, and when its `kube-root-ca.crt` is updated or deleted.
//! `syncNamespace` creates the ConfigMap when the informer lacks it (a
//! namespace that is gone or terminating refuses, and that is the end of
//! it), and puts back its data and description when they differ. Other
//! failures (`AlreadyExists` of a create the watch had not shown yet, a
//! conflicting update) retry with the work queue's back-off.
//!
//! kscope runs no TLS: the bundle is a fixed, PEM-shaped stand-in.

use super::serviceaccount::namespace_terminating;
use super::workqueue::WorkQueue;
use super::Outbox;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::reflector::{Change, Reflector};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The ConfigMap's name (`RootCACertConfigMapName`).
pub const CONFIG_MAP_NAME: &str = "kube-root-ca.crt";
/// The annotation describing it (`DescriptionAnnotation`).
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Its value (`Description`).
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
/// The cluster's CA bundle: a stand-in shaped like a PEM certificate (its
/// payload is base64 of a sentence saying so).
pub const ROOT_CA: &str = "-----BEGIN CERTIFICATE-----\na3Njb3BlIHNpbXVsYXRlZCBjbHVzdGVyIENBIChDTj1rdWJlcm5ldGVzKS4ga3Nj\nb3BlIHJ1bnMgbm8gVExTOiB0aGlzIGJ1bmRsZSBzdGFuZHMgd2hlcmUgdGhlIGNs\ndXN0ZXIgQ0EgY2VydGlmaWNhdGUgd291bGQgYmUu\n-----END CERTIFICATE-----\n";
/// Tags of this controller's requests (slot 5, see [`super::loop_tag_base`]).
pub const TAG_BASE: u64 = super::loop_tag_base(5);

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

/// The publisher's state.
#[derive(Debug)]
pub struct RootCaCertPublisher {
    queue: WorkQueue,
    /// Request tag → (namespace, what was sent).
    requests: BTreeMap<u64, (String, Write)>,
    next_tag: u64,
    writes: u64,
}

impl Default for RootCaCertPublisher {
    fn default() -> Self {
        RootCaCertPublisher { queue: WorkQueue::default(), requests: BTreeMap::new(), next_tag: TAG_BASE, writes: 0 }
    }
}

impl RootCaCertPublisher {
    /// Whether `tag` is one of this controller's.
    pub fn owns(tag: u64) -> bool {
        super::in_loop_slot(TAG_BASE, tag)
    }

    /// ConfigMaps created or repaired so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// A namespace was added, or updated while active (`namespaceAdded`,
    /// `namespaceUpdated`).
    pub fn on_namespace(&mut self, change: &Change) {
        match change {
            Change::Added(ns) => self.queue.add(meta(ns, "name")),
            Change::Modified(_, ns) if ns.pointer("/status/phase").and_then(Value::as_str) == Some("Active") => {
                self.queue.add(meta(ns, "name"));
            }
            _ => {}
        }
    }

    /// A ConfigMap was updated or deleted (`configMapUpdated`, `configMapDeleted`).
    pub fn on_config_map(&mut self, change: &Change) {
        if let Change::Modified(_, cm) | Change::Deleted(cm) = change {
            if meta(cm, "name") == CONFIG_MAP_NAME {
                self.queue.add(meta(cm, "namespace"));
            }
        }
    }

    /// Retries that are due; whether any.
    pub fn expire(&mut self, now: u64) -> bool {
        self.queue.expire(now)
    }

    /// When the next retry is due.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.next_due()
    }

    /// Syncs the queued namespaces (`syncNamespace`).
    pub fn sync(&mut self, config_maps: &Reflector, now: u64, out: &mut Outbox) {
        let data = json!({"ca.crt": ROOT_CA});
        for namespace in self.queue.take_ready() {
            let (request, write) = match config_maps.store().get(&format!("{namespace}/{CONFIG_MAP_NAME}")) {
                None => {
                    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": CONFIG_MAP_NAME, "namespace": namespace,
                            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                        "data": data});
                    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
                    (ApiRequest::new(0, Method::Post, path).with_body(body), Write::Create)
                }
                Some(cm) => {
                    let described = cm
                        .pointer(&format!("/metadata/annotations/{}", DESCRIPTION_ANNOTATION.replace('/', "~1")))
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.is_empty());
                    if cm.get("data") == Some(&data) && described {
                        self.queue.forget(&namespace);
                        continue;
                    }
                    let mut cm = cm.clone();
                    cm["data"] = data.clone();
                    if !cm.pointer("/metadata/annotations").is_some_and(Value::is_object) {
                        cm["metadata"]["annotations"] = json!({});
                    }
                    cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION] = json!(DESCRIPTION);
                    let path = format!("/api/v1/namespaces/{namespace}/configmaps/{CONFIG_MAP_NAME}");
                    (ApiRequest::new(0, Method::Put, path).with_body(cm), Write::Update)
                }
            };
            self.next_tag += 1;
            self.requests.insert(self.next_tag, (namespace.clone(), write));
            self.queue.sent(&namespace, now);
            out.send(request, self.next_tag);
        }
    }

    /// An answer to one of the publisher's writes.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64) {
        let Some((namespace, write)) = self.requests.remove(&tag) else { return };
        self.queue.answered(&namespace);
        if response.code < 300 {
            self.writes += 1;
            self.queue.forget(&namespace);
        } else if write == Write::Create && (response.code == 404 || namespace_terminating(response)) {
            // Don't retry a create if the namespace is gone or terminating.
            self.queue.forget(&namespace);
        } else {
            self.queue.add_rate_limited(&namespace, now);
        }
    }
}
