//! Which client watches a change may concern, so a change meets only those
//! instead of every watch (with a kubelet per node watching its pods, most
//! watches are kubelets'). Like the cacher's watcher indexes
//! (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go
//! `indexedWatchers`, keyed by the `spec.nodeName` trigger for pods), it only
//! narrows the candidates: each one still decides with its own selectors.

use crate::apimachinery::labels::FieldSelector;
use crate::component_id::ComponentId;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A client watch: the client and its request id.
pub type WatchKey = (ComponentId, u64);

/// The field a watch can be indexed by.
const NODE_NAME: &str = "spec.nodeName";

/// Watches by key prefix, and those selecting `spec.nodeName=<node>` by node.
#[derive(Debug, Default)]
pub struct WatchIndex {
    by_prefix: BTreeMap<String, BTreeSet<WatchKey>>,
    by_node: BTreeMap<String, BTreeMap<String, BTreeSet<WatchKey>>>,
}

/// The node a watch selects by `spec.nodeName=<node>`, if it does.
fn node_term(fields: &FieldSelector) -> Option<&str> {
    fields.terms.iter().find(|(field, _, negated)| field == NODE_NAME && !negated).map(|(_, value, _)| value.as_str())
}

impl WatchIndex {
    /// Adds a watch of the keys under `prefix`.
    pub fn insert(&mut self, key: WatchKey, prefix: &str, fields: &FieldSelector) {
        match node_term(fields) {
            Some(node) => {
                self.by_node.entry(prefix.to_string()).or_default().entry(node.to_string()).or_default().insert(key)
            }
            None => self.by_prefix.entry(prefix.to_string()).or_default().insert(key),
        };
    }

    /// Removes a watch added with the same prefix and fields.
    pub fn remove(&mut self, key: &WatchKey, prefix: &str, fields: &FieldSelector) {
        match node_term(fields) {
            Some(node) => {
                if let Some(nodes) = self.by_node.get_mut(prefix) {
                    if let Some(keys) = nodes.get_mut(node) {
                        keys.remove(key);
                        if keys.is_empty() {
                            nodes.remove(node);
                        }
                    }
                    if nodes.is_empty() {
                        self.by_node.remove(prefix);
                    }
                }
            }
            None => {
                if let Some(keys) = self.by_prefix.get_mut(prefix) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.by_prefix.remove(prefix);
                    }
                }
            }
        }
    }

    /// Forgets every watch.
    pub fn clear(&mut self) {
        *self = WatchIndex::default();
    }

    /// The watches a change of `key` from `prev` to `object` may concern, in
    /// key order: those whose prefix the key has and, for a node-selecting
    /// watch, whose node the object has before or after the change. Any
    /// other watch would not see the change.
    pub fn candidates(&self, key: &str, object: &Value, prev: Option<&Value>) -> Vec<WatchKey> {
        let mut found: Vec<&WatchKey> = Vec::new();
        for (prefix, keys) in &self.by_prefix {
            if key.starts_with(prefix.as_str()) {
                found.extend(keys);
            }
        }
        for (prefix, nodes) in &self.by_node {
            if !key.starts_with(prefix.as_str()) {
                continue;
            }
            let now = FieldSelector::field_value(object, NODE_NAME);
            found.extend(nodes.get(now.as_ref()).into_iter().flatten());
            if let Some(prev) = prev {
                let before = FieldSelector::field_value(prev, NODE_NAME);
                if before != now {
                    found.extend(nodes.get(before.as_ref()).into_iter().flatten());
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().cloned().collect()
    }
}
