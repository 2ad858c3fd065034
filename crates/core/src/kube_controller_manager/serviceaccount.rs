//! The ServiceAccount controller
//! (pkg/controller/serviceaccount/serviceaccounts_controller.go, v1.32):
//! makes sure every active namespace has the ServiceAccounts it should
//! (`DefaultServiceAccountsControllerOptions`: just `default`).
//!
//! A namespace is synced when it is added or updated, and when one of its
//! ServiceAccounts is deleted. `syncNamespace` does nothing for a namespace
//! that is gone or not `Active` (a terminating one is being emptied); for
//! each wanted account missing from the informer it creates one with only a
//! name. `AlreadyExists` (the watch had not shown it yet) and a namespace
//! that started terminating meanwhile are fine; any other failure retries
//! the namespace with the work queue's back-off.

use super::workqueue::WorkQueue;
use super::Outbox;
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::reflector::{Change, Reflector};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The ServiceAccounts ensured in every namespace.
pub const SERVICE_ACCOUNTS: [&str; 1] = ["default"];
/// Tags of this controller's requests (slot 4, see [`super::loop_tag_base`]).
pub const TAG_BASE: u64 = super::loop_tag_base(4);

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

/// Whether a failed create may be ignored: the namespace is terminating
/// (NamespaceLifecycle's refusal, `NamespaceTerminatingCause`).
pub(super) fn namespace_terminating(response: &ApiResponse) -> bool {
    let message = response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or_default();
    response.code == 403 && message.contains("because it is being terminated")
}

/// The controller's state.
#[derive(Debug)]
pub struct ServiceAccountsController {
    queue: WorkQueue,
    /// Request tag → the namespace it was for.
    requests: BTreeMap<u64, String>,
    next_tag: u64,
    created: u64,
}

impl Default for ServiceAccountsController {
    fn default() -> Self {
        ServiceAccountsController {
            queue: WorkQueue::default(),
            requests: BTreeMap::new(),
            next_tag: TAG_BASE,
            created: 0,
        }
    }
}

impl ServiceAccountsController {
    /// Whether `tag` is one of this controller's.
    pub fn owns(tag: u64) -> bool {
        super::in_loop_slot(TAG_BASE, tag)
    }

    /// ServiceAccounts created so far.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// A namespace was added or updated (`namespaceAdded`, `namespaceUpdated`).
    pub fn on_namespace(&mut self, change: &Change) {
        if let Change::Added(ns) | Change::Modified(_, ns) = change {
            self.queue.add(meta(ns, "name"));
        }
    }

    /// A ServiceAccount was deleted: its namespace may need it back
    /// (`serviceAccountDeleted`).
    pub fn on_service_account(&mut self, change: &Change) {
        if let Change::Deleted(sa) = change {
            self.queue.add(meta(sa, "namespace"));
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
    pub fn sync(&mut self, namespaces: &Reflector, service_accounts: &Reflector, now: u64, out: &mut Outbox) {
        for namespace in self.queue.take_ready() {
            let active = namespaces
                .store()
                .get(&namespace)
                .is_some_and(|ns| ns.pointer("/status/phase").and_then(Value::as_str) == Some("Active"));
            if !active {
                self.queue.forget(&namespace);
                continue;
            }
            for name in SERVICE_ACCOUNTS {
                if service_accounts.store().contains_key(&format!("{namespace}/{name}")) {
                    continue;
                }
                let body = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace}});
                let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts");
                self.next_tag += 1;
                self.requests.insert(self.next_tag, namespace.clone());
                self.queue.sent(&namespace, now);
                out.send(ApiRequest::new(0, Method::Post, path).with_body(body), self.next_tag);
            }
        }
    }

    /// An answer to one of the controller's creates.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64) {
        let Some(namespace) = self.requests.remove(&tag) else { return };
        self.queue.answered(&namespace);
        if response.code < 300 {
            self.created += 1;
            self.queue.forget(&namespace);
        } else if response.code == 409 || namespace_terminating(response) {
            self.queue.forget(&namespace);
        } else {
            self.queue.add_rate_limited(&namespace, now);
        }
    }
}
