//! client-go's tools/record: the legacy (core/v1) event recorder that the
//! kubelet and kube-controller-manager's loops write events with.
//!
//! Like `EventCorrelator`'s `EventLogger` (client-go tools/record/events_cache.go),
//! an event identical to one already written (same source, object, type,
//! reason and message) is not written again: the existing Event's `count`
//! and `lastTimestamp` are patched. That is what `kubectl describe` shows as
//! `x5 over 2m`. The cache keeps the 4,096 most recently used keys
//! (`maxLruCacheEntries`). When the patch finds the Event gone (the
//! apiserver's Event TTL ran out), the Event is created again with its
//! count so far (tools/record/event.go `recordToSink`: [`EventRecorder::recreate`]).
//! Not modelled: the aggregator that rewrites
//! messages as "(combined from similar events)" after 10 similar events in
//! 10 minutes, and the spam filter's token bucket.

use crate::apimachinery::time::{rfc3339, EPOCH_UNIX_SECS};
use crate::message::{ApiRequest, Method};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Keys remembered for deduplication (`maxLruCacheEntries`).
const CACHE_ENTRIES_MAX: usize = 4_096;

/// The object an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectReference {
    /// `apiVersion` of the object.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Its resourceVersion when the event happened.
    pub resource_version: String,
    /// The part of it the event is about (`spec.containers{nginx}`).
    pub field_path: String,
}

impl ObjectReference {
    /// A reference to `object` (a JSON Kubernetes object).
    pub fn to(object: &Value) -> ObjectReference {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        ObjectReference {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
            resource_version: s("/metadata/resourceVersion"),
            field_path: String::new(),
        }
    }

    /// The same reference, narrowed to a field (`spec.containers{nginx}`).
    pub fn with_field(&self, field_path: impl Into<String>) -> ObjectReference {
        ObjectReference { field_path: field_path.into(), ..self.clone() }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"kind": self.kind, "namespace": self.namespace, "name": self.name, "uid": self.uid,
            "apiVersion": self.api_version, "resourceVersion": self.resource_version});
        if !self.field_path.is_empty() {
            v["fieldPath"] = json!(self.field_path);
        }
        v
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct EventKey {
    object: (String, String, String, String, String, String),
    kind: String,
    reason: String,
    message: String,
}

#[derive(Clone, Debug)]
struct Written {
    name: String,
    /// The Event as last written, to create it again.
    event: Value,
    count: u64,
    first_ms: u64,
    used: u64,
}

/// One component's event recorder.
#[derive(Clone, Debug)]
pub struct EventRecorder {
    component: String,
    host: String,
    seq: u64,
    cache: BTreeMap<EventKey, Written>,
    use_clock: u64,
}

impl EventRecorder {
    /// A recorder for `component` (`source.component`) on `host` (`source.host`, may be empty).
    pub fn new(component: &str, host: &str) -> EventRecorder {
        EventRecorder { component: component.into(), host: host.into(), seq: 0, cache: BTreeMap::new(), use_clock: 0 }
    }

    /// The request that records an event: a POST of a new Event, or a PATCH
    /// counting a repeat of one already written. The request id is 0 (the
    /// caller numbers it).
    pub fn event(
        &mut self,
        object: &ObjectReference,
        kind: &str,
        reason: &str,
        message: &str,
        now_ms: u64,
    ) -> ApiRequest {
        let key = EventKey {
            object: (
                object.api_version.clone(),
                object.kind.clone(),
                object.namespace.clone(),
                object.name.clone(),
                object.uid.clone(),
                object.field_path.clone(),
            ),
            kind: kind.into(),
            reason: reason.into(),
            message: message.into(),
        };
        self.use_clock += 1;
        let namespace = if object.namespace.is_empty() { "default" } else { object.namespace.as_str() };
        if let Some(w) = self.cache.get_mut(&key) {
            w.count += 1;
            w.used = self.use_clock;
            w.event["count"] = json!(w.count);
            w.event["lastTimestamp"] = json!(rfc3339(now_ms));
            w.event["message"] = json!(message);
            let mut request =
                ApiRequest::new(0, Method::Patch, format!("/api/v1/namespaces/{namespace}/events/{}", w.name))
                    .with_body(json!({"count": w.count, "lastTimestamp": rfc3339(now_ms), "message": message}));
            request.content_type = Some("application/strategic-merge-patch+json".into());
            return request;
        }
        self.seq += 1;
        // Event names are `<object>.<UnixNano in hex>`; the sequence keeps two
        // events of one millisecond apart.
        let nanos = (EPOCH_UNIX_SECS as u64 * 1000 + now_ms) * 1_000_000 + self.seq % 1_000_000;
        let name = format!("{}.{nanos:x}", object.name);
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": object.to_json(),
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": rfc3339(now_ms),
            "lastTimestamp": rfc3339(now_ms),
            "count": 1,
            "type": kind,
            "eventTime": null,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        });
        if self.cache.len() >= CACHE_ENTRIES_MAX {
            if let Some(oldest) = self.cache.iter().min_by_key(|(_, w)| w.used).map(|(k, _)| k.clone()) {
                self.cache.remove(&oldest);
            }
        }
        self.cache
            .insert(key, Written { name, event: event.clone(), count: 1, first_ms: now_ms, used: self.use_clock });
        ApiRequest::new(0, Method::Post, format!("/api/v1/namespaces/{namespace}/events")).with_body(event)
    }

    /// The create that replaces an Event whose count patch (to `path`) found
    /// it gone: the remembered Event with its count and timestamps so far.
    pub fn recreate(&self, path: &str) -> Option<ApiRequest> {
        let (collection, name) = path.rsplit_once('/')?;
        let w = self.cache.values().find(|w| w.name == name)?;
        Some(ApiRequest::new(0, Method::Post, collection.to_string()).with_body(w.event.clone()))
    }

    /// Forgets what was written about the object with `uid` (it is gone).
    pub fn forget(&mut self, uid: &str) {
        self.cache.retain(|k, _| k.object.4 != uid);
    }

    /// How many distinct events are remembered.
    pub fn remembered(&self) -> usize {
        self.cache.len()
    }

    /// When the remembered event with this reason about `uid` was first written.
    pub fn first_written_ms(&self, uid: &str, reason: &str) -> Option<u64> {
        self.cache.iter().find(|(k, _)| k.object.4 == uid && k.reason == reason).map(|(_, w)| w.first_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_patch_the_count() {
        let mut r = EventRecorder::new("kubelet", "node-1");
        let pod = ObjectReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: "default".into(),
            name: "web".into(),
            uid: "u1".into(),
            ..Default::default()
        };
        let c = pod.with_field("spec.containers{web}");
        let first = r.event(&c, "Warning", "BackOff", "Back-off restarting failed container web", 1_000);
        assert_eq!(first.method, Method::Post);
        let body = first.body.unwrap();
        assert_eq!(body["source"], json!({"component": "kubelet", "host": "node-1"}));
        assert_eq!(body["involvedObject"]["fieldPath"], "spec.containers{web}");
        let name = body["metadata"]["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("web."));
        let second = r.event(&c, "Warning", "BackOff", "Back-off restarting failed container web", 5_000);
        assert_eq!(second.method, Method::Patch);
        assert_eq!(second.path, format!("/api/v1/namespaces/default/events/{name}"));
        assert_eq!(second.body.unwrap()["count"], 2);
        // The Event expired: the patch's 404 turns into a create with the count so far.
        let again = r.recreate(&second.path).expect("remembered");
        assert_eq!((again.method, again.path.as_str()), (Method::Post, "/api/v1/namespaces/default/events"));
        let body = again.body.unwrap();
        assert_eq!((body["count"].as_u64(), body["metadata"]["name"].as_str()), (Some(2), Some(name.as_str())));
        assert_eq!(body["firstTimestamp"], rfc3339(1_000));
        assert_eq!(body["lastTimestamp"], rfc3339(5_000));
        assert!(r.recreate("/api/v1/namespaces/default/events/other").is_none());
        let other = r.event(&c, "Normal", "Pulled", "x", 6_000);
        assert_eq!(other.method, Method::Post);
        r.forget("u1");
        assert_eq!(r.remembered(), 0);
    }
}
