//! client-go's Reflector for simulated components: list a collection, then
//! watch it from the list's resourceVersion, keep a local store, and hand
//! the component every change as an event. It re-watches from the last
//! resourceVersion when a watch ends, and lists again (reporting what
//! changed meanwhile) when the apiserver answers 410 Expired, as
//! staging/src/k8s.io/client-go/tools/cache/reflector.go does.
//!
//! The reflector does no I/O itself: the component owning it forwards the
//! apiserver's answers to [`Reflector::handle`], sends what it returns, and
//! calls [`Reflector::retry`] from a timer after [`RETRY_MS`]. Components
//! use the `*_via` methods, which do that plumbing through their
//! [`Context`] with request ids taken from the component's counter.

use crate::apimachinery::request::with_query;
use crate::component::Context;
use crate::component_id::ComponentId;
use crate::message::{ApiRequest, ApiResponse, Method};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How long a reflector waits before listing again after a failed list
/// (client-go backs off from 800 ms; one step is enough here).
pub const RETRY_MS: u64 = 1_000;
/// A watch silent for this long is presumed dead (the apiserver sends a
/// bookmark every minute; a crashed apiserver sends nothing) and is
/// restarted, as client-go's watch timeout restarts it.
pub const WATCH_IDLE_MS: u64 = 90_000;

/// A change to the watched collection.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new object (or one first seen in a list).
    Added(Value),
    /// A changed object: (old, new).
    Modified(Value, Value),
    /// A removed object (its last known state).
    Deleted(Value),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Listing(u64),
    Watching(u64),
}

/// What the owner must do after feeding the reflector an answer.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Changes to the collection, in order.
    pub changes: Vec<Change>,
    /// A request to send to kube-apiserver.
    pub send: Option<ApiRequest>,
    /// The list failed: call [`Reflector::retry`] after [`RETRY_MS`].
    pub retry_later: bool,
}

/// A list+watch of one collection.
#[derive(Debug)]
pub struct Reflector {
    path: String,
    label_selector: String,
    field_selector: String,
    phase: Phase,
    resource_version: String,
    store: BTreeMap<String, Value>,
    synced: bool,
    /// When the current request last heard from the apiserver.
    last_heard_ms: u64,
    /// The next position expected on the watch stream.
    next_seq: u64,
    /// The store's keys by controller, when asked for ([`Reflector::with_controller_index`]).
    controllers: Option<ControllerIndex>,
}

/// The store's keys by the uid of the object's controller ownerReference,
/// like the pod indexer client-go's controllers add
/// (pkg/controller/controller_utils.go `PodControllerUIDIndex`), plus the
/// keys of objects that have no controller (orphans a controller may adopt).
#[derive(Debug, Default)]
struct ControllerIndex {
    by_uid: BTreeMap<String, BTreeSet<String>>,
    orphans: BTreeSet<String>,
}

/// The uid of an object's controller ownerReference (the first with
/// `controller: true`; empty when it has no uid).
fn controller_uid(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| o.get("uid").and_then(Value::as_str).unwrap_or_default())
}

impl ControllerIndex {
    fn insert(&mut self, key: &str, object: &Value) {
        match controller_uid(object) {
            Some(uid) => {
                self.by_uid.entry(uid.to_string()).or_default().insert(key.to_string());
            }
            None => {
                self.orphans.insert(key.to_string());
            }
        }
    }

    fn remove(&mut self, key: &str, object: &Value) {
        match controller_uid(object) {
            Some(uid) => {
                if let Some(keys) = self.by_uid.get_mut(uid) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.by_uid.remove(uid);
                    }
                }
            }
            None => {
                self.orphans.remove(key);
            }
        }
    }
}

/// `namespace/name` (or `name`) of an object: the store's key.
pub fn object_key(object: &Value) -> String {
    let meta = |f: &str| object.get("metadata").and_then(|m| m.get(f)).and_then(Value::as_str).unwrap_or_default();
    match meta("namespace") {
        "" => meta("name").to_string(),
        ns => format!("{ns}/{}", meta("name")),
    }
}

impl Reflector {
    /// A reflector for the collection at `path` (`/api/v1/pods`), filtered by
    /// label and field selectors (empty for none).
    pub fn new(path: &str, label_selector: &str, field_selector: &str) -> Self {
        Reflector {
            path: path.to_string(),
            label_selector: label_selector.to_string(),
            field_selector: field_selector.to_string(),
            phase: Phase::Idle,
            resource_version: String::new(),
            store: BTreeMap::new(),
            synced: false,
            last_heard_ms: 0,
            next_seq: 1,
            controllers: None,
        }
    }

    /// The same reflector keeping an index of its objects by controller
    /// ([`Reflector::controlled_by`]), for controllers that look up their
    /// own pods among many.
    pub fn with_controller_index(mut self) -> Self {
        self.controllers = Some(ControllerIndex::default());
        self
    }

    /// The keys of the objects whose controller ownerReference has `uid`
    /// together with those that have no controller, in key order; every
    /// object when the reflector keeps no index.
    pub fn controlled_by_or_orphan(&self, uid: &str) -> Vec<&String> {
        let Some(index) = &self.controllers else {
            return self.store.keys().collect();
        };
        let mut keys: Vec<&String> = index.by_uid.get(uid).into_iter().flatten().chain(&index.orphans).collect();
        // Two sorted runs: the sort merges them.
        keys.sort_unstable();
        keys
    }

    /// The objects known now, by `namespace/name`.
    pub fn store(&self) -> &BTreeMap<String, Value> {
        &self.store
    }

    /// Whether the first list has arrived (client-go's `HasSynced`).
    pub fn has_synced(&self) -> bool {
        self.synced
    }

    /// Whether `request_id` is this reflector's list or watch.
    pub fn owns(&self, request_id: u64) -> bool {
        matches!(self.phase, Phase::Listing(id) | Phase::Watching(id) if id == request_id)
    }

    /// Starts (or restarts) with a list; `request_id` must be unique for the owner.
    pub fn start(&mut self, request_id: u64) -> ApiRequest {
        self.phase = Phase::Listing(request_id);
        let path =
            with_query(&self.path, &[("labelSelector", &self.label_selector), ("fieldSelector", &self.field_selector)]);
        ApiRequest::new(request_id, Method::Get, path)
    }

    /// Lists again after a failure (the owner's retry timer).
    pub fn retry(&mut self, request_id: u64) -> Option<ApiRequest> {
        (self.phase == Phase::Idle).then(|| self.start(request_id))
    }

    /// Restarts a watch that has been silent for [`WATCH_IDLE_MS`] (the owner
    /// calls this from a periodic timer).
    pub fn check(&mut self, now_ms: u64, next_id: u64) -> Option<ApiRequest> {
        let stale = now_ms.saturating_sub(self.last_heard_ms) >= WATCH_IDLE_MS;
        match self.phase {
            Phase::Watching(_) if stale => {
                self.last_heard_ms = now_ms;
                Some(self.watch(next_id))
            }
            Phase::Listing(_) if stale => {
                self.last_heard_ms = now_ms;
                Some(self.start(next_id))
            }
            _ => None,
        }
    }

    /// Forgets everything (the owning component restarted).
    pub fn reset(&mut self) {
        let indexed = self.controllers.is_some();
        *self = Reflector::new(&self.path, &self.label_selector, &self.field_selector);
        if indexed {
            self.controllers = Some(ControllerIndex::default());
        }
    }

    fn watch(&mut self, request_id: u64) -> ApiRequest {
        self.phase = Phase::Watching(request_id);
        self.next_seq = 1;
        let path = with_query(
            &self.path,
            &[
                ("watch", "true"),
                ("allowWatchBookmarks", "true"),
                ("resourceVersion", &self.resource_version),
                ("labelSelector", &self.label_selector),
                ("fieldSelector", &self.field_selector),
            ],
        );
        ApiRequest::new(request_id, Method::Get, path)
    }

    /// Feeds one answer addressed to this reflector; `next_id` is the id for
    /// a request the reflector may need to send.
    pub fn handle(&mut self, response: &ApiResponse, next_id: u64, now_ms: u64) -> Step {
        let mut step = Step::default();
        if self.owns(response.request_id) {
            self.last_heard_ms = now_ms;
        }
        match self.phase {
            Phase::Listing(id) if id == response.request_id => {
                let items = response.body.as_ref().and_then(|b| b.get("items")).and_then(Value::as_array);
                match (response.code, items) {
                    (200, Some(items)) => {
                        let fresh: BTreeMap<String, Value> = items.iter().map(|o| (object_key(o), o.clone())).collect();
                        // Like client-go's Replace: what vanished is deleted, the rest added or modified.
                        for (key, old) in &self.store {
                            if !fresh.contains_key(key) {
                                step.changes.push(Change::Deleted(old.clone()));
                            }
                        }
                        for (key, new) in &fresh {
                            let uid = |o: &Value| o.pointer("/metadata/uid").cloned();
                            match self.store.get(key) {
                                None => step.changes.push(Change::Added(new.clone())),
                                // Deleted and created again with the same name while
                                // the watch was down: another object, and the
                                // handlers must see the old one go (client-go's
                                // DeltaFIFO Replace keys by name, but its handlers
                                // compare uids: a controller must not take one for
                                // the other).
                                Some(old) if uid(old) != uid(new) => {
                                    step.changes.push(Change::Deleted(old.clone()));
                                    step.changes.push(Change::Added(new.clone()));
                                }
                                Some(old) if old != new => {
                                    step.changes.push(Change::Modified(old.clone(), new.clone()))
                                }
                                Some(_) => {}
                            }
                        }
                        self.store = fresh;
                        if let Some(index) = &mut self.controllers {
                            *index = ControllerIndex::default();
                            for (key, object) in &self.store {
                                index.insert(key, object);
                            }
                        }
                        self.synced = true;
                        self.resource_version = response
                            .body
                            .as_ref()
                            .and_then(|b| b.pointer("/metadata/resourceVersion"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        step.send = Some(self.watch(next_id));
                    }
                    _ => {
                        self.phase = Phase::Idle;
                        step.retry_later = true;
                    }
                }
            }
            Phase::Watching(id) if id == response.request_id => {
                if response.seq != 0 && response.seq != self.next_seq {
                    // A message of the stream was lost: watch again from the
                    // last version seen, which replays what was missed.
                    step.send = Some(self.watch(next_id));
                    return step;
                }
                self.next_seq += 1;
                let Some(event) = &response.body else {
                    // The stream ended: watch again from where we were.
                    step.send = Some(self.watch(next_id));
                    return step;
                };
                if response.code >= 300 {
                    step.send = Some(self.start(next_id));
                    return step;
                }
                let object = event.get("object").cloned().unwrap_or(Value::Null);
                if let Some(rv) = object.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                    if event["type"] != "ERROR" {
                        self.resource_version = rv.to_string();
                    }
                }
                let key = object_key(&object);
                match event["type"].as_str() {
                    Some("ADDED") | Some("MODIFIED") => {
                        if let Some(index) = &mut self.controllers {
                            if let Some(old) = self.store.get(&key) {
                                index.remove(&key, old);
                            }
                            index.insert(&key, &object);
                        }
                        match self.store.insert(key, object.clone()) {
                            Some(old) => step.changes.push(Change::Modified(old, object)),
                            None => step.changes.push(Change::Added(object)),
                        }
                    }
                    Some("DELETED") => {
                        if let Some(old) = self.store.remove(&key) {
                            if let Some(index) = &mut self.controllers {
                                index.remove(&key, &old);
                            }
                        }
                        step.changes.push(Change::Deleted(object));
                    }
                    // 410 Expired (or any error): list again from scratch.
                    Some("ERROR") => step.send = Some(self.start(next_id)),
                    _ => {}
                }
            }
            _ => {}
        }
        step
    }
}

/// Sends a reflector's request to kube-apiserver; its id becomes the counter.
fn send_via(ctx: &mut Context<'_>, next_id: &mut u64, request: Option<ApiRequest>) {
    if let Some(request) = request {
        *next_id = request.request_id;
        ctx.send(ComponentId::ApiServer, crate::message::Payload::ApiRequest(request));
    }
}

impl Reflector {
    /// [`Reflector::start`], sent, with the next id of `next_id`.
    pub fn start_via(&mut self, ctx: &mut Context<'_>, next_id: &mut u64) {
        let request = self.start(*next_id + 1);
        send_via(ctx, next_id, Some(request));
    }

    /// [`Reflector::handle`], with its request sent and, when the list
    /// failed, a timer `retry_token` set after [`RETRY_MS`]; the changes.
    pub fn handle_via(
        &mut self,
        ctx: &mut Context<'_>,
        next_id: &mut u64,
        response: &ApiResponse,
        retry_token: u64,
    ) -> Vec<Change> {
        let step = self.handle(response, *next_id + 1, ctx.now_ms());
        send_via(ctx, next_id, step.send);
        if step.retry_later {
            ctx.set_timer(RETRY_MS, retry_token);
        }
        step.changes
    }

    /// [`Reflector::check`], sent if the watch must be restarted.
    pub fn check_via(&mut self, ctx: &mut Context<'_>, next_id: &mut u64) {
        let request = self.check(ctx.now_ms(), *next_id + 1);
        send_via(ctx, next_id, request);
    }

    /// [`Reflector::retry`], sent if the reflector was waiting to list again.
    pub fn retry_via(&mut self, ctx: &mut Context<'_>, next_id: &mut u64) {
        let request = self.retry(*next_id + 1);
        send_via(ctx, next_id, request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(id: u64, code: u16, body: Option<Value>) -> ApiResponse {
        ApiResponse { request_id: id, code, body, seq: 0 }
    }

    fn cm(name: &str, rv: &str, v: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": rv}, "data": {"v": v}})
    }

    #[test]
    fn lists_then_watches_and_relists_after_expiry() {
        let mut r = Reflector::new("/api/v1/configmaps", "app=web", "");
        let list = r.start(1);
        assert_eq!(list.path, "/api/v1/configmaps?labelSelector=app%3Dweb");
        let body = json!({"metadata": {"resourceVersion": "10"}, "items": [cm("a", "5", "1"), cm("b", "6", "1")]});
        let step = r.handle(&answer(1, 200, Some(body)), 2, 0);
        assert_eq!(step.changes.len(), 2);
        assert!(r.has_synced());
        let watch = step.send.unwrap();
        assert!(watch.path.contains("watch=true") && watch.path.contains("resourceVersion=10"), "{}", watch.path);
        let step = r.handle(&answer(2, 200, Some(json!({"type": "MODIFIED", "object": cm("a", "11", "2")}))), 3, 0);
        assert!(
            matches!(&step.changes[..], [Change::Modified(old, new)] if old["data"]["v"] == "1" && new["data"]["v"] == "2")
        );
        // The stream ends: watch again from 11.
        let step = r.handle(&answer(2, 200, None), 3, 0);
        assert!(step.send.unwrap().path.contains("resourceVersion=11"));
        // 410 Expired: list again; b vanished meanwhile and c appeared.
        let expired = json!({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}});
        let relist = r.handle(&answer(3, 200, Some(expired)), 4, 0).send.unwrap();
        assert!(!relist.path.contains("watch"));
        let body = json!({"metadata": {"resourceVersion": "20"}, "items": [cm("a", "11", "2"), cm("c", "19", "1")]});
        let step = r.handle(&answer(4, 200, Some(body)), 5, 0);
        assert!(
            matches!(&step.changes[..], [Change::Deleted(b), Change::Added(c)] if b["metadata"]["name"] == "b" && c["metadata"]["name"] == "c")
        );
        assert_eq!(r.store().keys().collect::<Vec<_>>(), ["default/a", "default/c"]);
        // While the watch was down, c was deleted and created again: a
        // relist reports the old one deleted and the new one added.
        let expired = json!({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}});
        r.handle(&answer(5, 200, Some(expired)), 6, 0);
        let mut c2 = cm("c", "25", "1");
        c2["metadata"]["uid"] = json!("second");
        let body = json!({"metadata": {"resourceVersion": "30"}, "items": [cm("a", "11", "2"), c2]});
        let step = r.handle(&answer(6, 200, Some(body)), 7, 0);
        assert!(
            matches!(&step.changes[..], [Change::Deleted(old), Change::Added(new)] if old["metadata"]["uid"].is_null() && new["metadata"]["uid"] == "second"),
            "{:?}",
            step.changes
        );
        // A failed list waits for the retry timer; answers to old requests are ignored.
        let mut r = Reflector::new("/api/v1/nodes", "", "");
        r.start(1);
        assert!(r.handle(&answer(1, 503, None), 2, 0).retry_later);
        assert_eq!(r.handle(&answer(1, 200, Some(json!({"items": []}))), 2, 0), Step::default());
        assert!(r.retry(2).is_some());
        // A gap in the stream's positions means a lost event: watch again.
        let mut r = Reflector::new("/api/v1/nodes", "", "");
        r.start(1);
        r.handle(&answer(1, 200, Some(json!({"metadata": {"resourceVersion": "3"}, "items": []}))), 2, 0);
        let event = |seq: u64, name: &str, rv: &str| ApiResponse {
            request_id: 2,
            code: 200,
            body: Some(json!({"type": "ADDED", "object": {"metadata": {"name": name, "resourceVersion": rv}}})),
            seq,
        };
        assert_eq!(r.handle(&event(1, "a", "4"), 3, 0).changes.len(), 1);
        let step = r.handle(&event(3, "c", "6"), 3, 0);
        assert!(step.changes.is_empty());
        assert!(step.send.unwrap().path.contains("resourceVersion=4"));
        // A silent watch is restarted.
        let mut r = Reflector::new("/api/v1/nodes", "", "");
        r.start(1);
        r.handle(&answer(1, 200, Some(json!({"metadata": {"resourceVersion": "3"}, "items": []}))), 2, 1_000);
        assert_eq!(r.check(60_000, 3), None);
        assert!(r.check(91_000, 3).unwrap().path.contains("watch=true"));
    }
}
