//! The namespace controller (pkg/controller/namespace, v1.32): empties a
//! namespace being deleted, then removes its `kubernetes` finalizer so the
//! apiserver can delete it.
//!
//! A sync (deletion/namespaced_resources_deleter.go `Delete`) reads the
//! namespace live; when it is marked for deletion and still carries the
//! `kubernetes` finalizer it deletes all content (`deleteAllContent`): for
//! every namespaced resource it lists the objects and deletes each with
//! propagationPolicy Background, then lists again to see what remains.
//! Pods that may still be terminating give an estimate, their longest
//! `terminationGracePeriodSeconds` while that much time has not passed since
//! the namespace's deletion (`estimateGracefulTermination`); objects held by
//! finalizers 15 s (`finalizerEstimateSeconds`); anything else left is an
//! error.
//! The namespace's status gets the five deletion conditions
//! (status_condition_utils.go: `NamespaceDeletionDiscoveryFailure`,
//! `NamespaceDeletionGroupVersionParsingFailure`,
//! `NamespaceDeletionContentFailure`, `NamespaceContentRemaining`,
//! `NamespaceFinalizersRemaining`), written only when they changed. With
//! content left the namespace is synced again after `estimate/2 + 1`
//! seconds (namespace_controller.go `ResourcesRemainingError`); after an
//! error, with the controller's rate limiter (5 ms doubling to 60 s). Once
//! empty, `PUT /api/v1/namespaces/<ns>/finalize` drops the finalizer
//! (`finalizeNamespace`).
//!
//! Deviation: the real deleter first tries `deletecollection`, which
//! kscope's apiserver does not serve, so it lists and deletes each object
//! (what the real one does for resources without `deletecollection`).
//! kscope's resources are fixed, so discovery never fails.

use super::workqueue::IN_FLIGHT_TIMEOUT_MS;
use super::Outbox;
use crate::apimachinery::resources::{Resource, RESOURCES};
use crate::apimachinery::time::{parse_rfc3339, rfc3339};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::reflector::Change;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Tags of the controller's requests start here.
pub const TAG_BASE: u64 = 1 << 61;
/// The namespace controller's finalizer token.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
/// How long finalizers are expected to take (`finalizerEstimateSeconds`).
const FINALIZER_ESTIMATE_S: i64 = 15;
/// The first retry after a failure (`nsControllerRateLimiter`: 5 ms).
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay: a namespace is retried at least every minute.
const RETRY_MAX_MS: u64 = 60_000;

/// The condition types the controller maintains, in its order, with the
/// reason and message of their healthy (`False`) state.
pub const CONDITIONS: [(&str, &str, &str); 5] = [
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the namespace.
    Get,
    /// First list of every resource.
    List,
    /// Deleting what the lists showed.
    Delete,
    /// Listing again to see what remains.
    Verify,
    /// Writing the status conditions.
    Status,
    /// Removing the finalizer.
    Finalize,
}

/// One pass over a namespace.
#[derive(Clone, Debug)]
struct Round {
    phase: Phase,
    namespace: Value,
    pending: usize,
    /// The longest grace period of a pod that may still be terminating.
    estimate_s: i64,
    /// How long to wait for what remains (the largest estimate of any resource).
    wait_s: i64,
    /// Deletion errors, by resource.
    errors: BTreeMap<&'static str, String>,
    /// Objects remaining, by resource (`pods.`, `deployments.apps`).
    remaining: BTreeMap<String, usize>,
    /// Remaining objects by finalizer.
    finalizers: BTreeMap<String, usize>,
    /// Objects to delete, as paths.
    to_delete: Vec<(usize, String)>,
}

#[derive(Clone, Debug)]
struct Request {
    namespace: String,
    /// Index into [`RESOURCES`] for lists and deletes.
    resource: usize,
}

/// The controller's state.
#[derive(Debug, Default)]
pub struct NamespaceController {
    /// Namespaces to sync, and when.
    queue: BTreeMap<String, u64>,
    rounds: BTreeMap<String, Round>,
    failures: BTreeMap<String, u32>,
    /// Requests in flight by tag, with when they were sent.
    requests: BTreeMap<u64, (Request, u64)>,
    next_tag: u64,
    finalized: u64,
    /// The time of the last call that could send (for [`Self::tag`]).
    now_ms: u64,
}

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn namespaced_resources() -> impl Iterator<Item = (usize, &'static Resource)> {
    RESOURCES.iter().enumerate().filter(|(_, r)| r.namespaced)
}

/// The gvr as `%v` prints it (`/v1, Resource=pods`).
fn gvr(r: &Resource) -> String {
    format!("{}/{}, Resource={}", r.group, r.version, r.plural)
}

/// The conditions after a round (`namespaceConditionUpdater.Update`): each
/// type keeps its lastTransitionTime unless its status changes. `None`
/// when nothing changed.
pub fn updated_conditions(
    current: &[Value],
    failing: &BTreeMap<&'static str, (String, String)>,
    now_ms: u64,
) -> Option<Vec<Value>> {
    let mut out: Vec<Value> = current.to_vec();
    let mut changed = false;
    for (kind, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match failing.get(kind) {
            Some((reason, message)) => ("True", reason.as_str(), message.as_str()),
            None => ("False", ok_reason, ok_message),
        };
        match out.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some(kind)) {
            None => {
                out.push(json!({"type": kind, "status": status, "lastTransitionTime": rfc3339(now_ms),
                    "reason": reason, "message": message}));
                changed = true;
            }
            Some(c) if c["status"] != status || c["reason"] != reason || c["message"] != message => {
                if c["status"] != status {
                    c["lastTransitionTime"] = json!(rfc3339(now_ms));
                }
                c["status"] = json!(status);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed.then_some(out)
}

impl NamespaceController {
    /// Whether `tag` is one of the controller's requests.
    pub fn owns(tag: u64) -> bool {
        (TAG_BASE..TAG_BASE << 1).contains(&tag)
    }

    /// Namespaces finalized so far.
    pub fn finalized(&self) -> u64 {
        self.finalized
    }

    fn tag(&mut self, namespace: &str, resource: usize) -> u64 {
        if self.next_tag < TAG_BASE {
            self.next_tag = TAG_BASE;
        }
        self.next_tag += 1;
        self.requests.insert(self.next_tag, (Request { namespace: namespace.to_string(), resource }, self.now_ms));
        self.next_tag
    }

    /// A namespace changed: one being deleted is synced.
    pub fn on_namespace(&mut self, change: &Change, now: u64) {
        match change {
            Change::Added(ns) | Change::Modified(_, ns) => {
                let deleting = ns.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
                let name = str_at(ns, "/metadata/name");
                if deleting && !name.is_empty() {
                    self.queue.entry(name.to_string()).or_insert(now);
                }
            }
            Change::Deleted(ns) => {
                let name = str_at(ns, "/metadata/name");
                self.queue.remove(name);
                self.failures.remove(name);
            }
        }
    }

    /// A round with a request unanswered for [`IN_FLIGHT_TIMEOUT_MS`] (lost
    /// to a partition or a restarted apiserver) failed: its other answers
    /// are ignored and the namespace is synced again after a back-off;
    /// without this the round would wait forever. Whether any failed.
    pub fn expire(&mut self, now: u64) -> bool {
        self.now_ms = now;
        let lost: BTreeSet<String> = self
            .requests
            .values()
            .filter(|(_, sent)| now.saturating_sub(*sent) >= IN_FLIGHT_TIMEOUT_MS)
            .map(|(r, _)| r.namespace.clone())
            .collect();
        self.requests.retain(|_, (r, _)| !lost.contains(&r.namespace));
        for ns in &lost {
            self.retry_later(ns, now);
        }
        !lost.is_empty()
    }

    /// When the next queued namespace is due.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.iter().filter(|(ns, _)| !self.rounds.contains_key(*ns)).map(|(_, t)| *t).min()
    }

    /// Starts a round for every namespace due.
    pub fn sync(&mut self, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        let due: Vec<String> = self
            .queue
            .iter()
            .filter(|(ns, t)| **t <= now && !self.rounds.contains_key(*ns))
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in due {
            self.queue.remove(&ns);
            let round = Round {
                phase: Phase::Get,
                namespace: Value::Null,
                pending: 1,
                estimate_s: 0,
                wait_s: 0,
                errors: BTreeMap::new(),
                remaining: BTreeMap::new(),
                finalizers: BTreeMap::new(),
                to_delete: Vec::new(),
            };
            self.rounds.insert(ns.clone(), round);
            let tag = self.tag(&ns, 0);
            out.send(ApiRequest::new(0, Method::Get, format!("/api/v1/namespaces/{ns}")), tag);
        }
    }

    fn requeue(&mut self, ns: &str, at: u64) {
        self.rounds.remove(ns);
        let at = self.queue.get(ns).map_or(at, |t| (*t).min(at));
        self.queue.insert(ns.to_string(), at);
    }

    fn retry_later(&mut self, ns: &str, now: u64) {
        let n = self.failures.entry(ns.to_string()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        self.requeue(ns, now + delay);
    }

    fn finish(&mut self, ns: &str) {
        self.rounds.remove(ns);
        self.failures.remove(ns);
    }

    fn list_all(&mut self, ns: &str, out: &mut Outbox) {
        let mut n = 0;
        for (i, r) in namespaced_resources() {
            let tag = self.tag(ns, i);
            out.send(ApiRequest::new(0, Method::Get, r.collection_path(Some(ns))), tag);
            n += 1;
        }
        if let Some(round) = self.rounds.get_mut(ns) {
            round.pending = n;
        }
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(&mut self, tag: u64, response: &ApiResponse, now: u64, out: &mut Outbox) {
        self.now_ms = now;
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        let ns = request.namespace.clone();
        let Some(round) = self.rounds.get_mut(&ns) else { return };
        let body = response.body.as_ref();
        let message = || body.and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or("error").to_string();
        match round.phase {
            Phase::Get => {
                let Some(namespace) = body.filter(|_| response.code == 200) else {
                    return if response.code == 404 { self.finish(&ns) } else { self.retry_later(&ns, now) };
                };
                let deleting = namespace.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
                let finalized = !namespace
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|x| x == FINALIZER_KUBERNETES));
                if !deleting || finalized {
                    return self.finish(&ns);
                }
                round.namespace = namespace.clone();
                round.phase = Phase::List;
                self.list_all(&ns, out);
            }
            Phase::List => {
                let r = &RESOURCES[request.resource];
                round.pending -= 1;
                match body.and_then(|b| b.get("items")).and_then(Value::as_array).filter(|_| response.code == 200) {
                    Some(items) => {
                        for item in items {
                            let name = str_at(item, "/metadata/name");
                            if name.is_empty() {
                                continue;
                            }
                            if r.kind == "Pod" {
                                let phase = str_at(item, "/status/phase");
                                if phase != "Succeeded" && phase != "Failed" {
                                    let grace = item
                                        .pointer("/spec/terminationGracePeriodSeconds")
                                        .and_then(Value::as_i64)
                                        .unwrap_or(0);
                                    round.estimate_s = round.estimate_s.max(grace);
                                }
                            }
                            round.to_delete.push((request.resource, r.object_path(Some(&ns), name)));
                        }
                    }
                    None => {
                        round.errors.insert(r.plural, message());
                    }
                }
                if round.pending > 0 {
                    return;
                }
                round.phase = Phase::Delete;
                let to_delete = std::mem::take(&mut round.to_delete);
                round.pending = to_delete.len();
                if to_delete.is_empty() {
                    return self.verify(&ns, out);
                }
                for (resource, path) in to_delete {
                    let options =
                        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
                    let tag = self.tag(&ns, resource);
                    out.send(ApiRequest::new(0, Method::Delete, path).with_body(options), tag);
                }
            }
            Phase::Delete => {
                round.pending -= 1;
                if response.code >= 300 && response.code != 404 {
                    let r = &RESOURCES[request.resource];
                    round.errors.entry(r.plural).or_insert_with(message);
                }
                if round.pending == 0 {
                    self.verify(&ns, out);
                }
            }
            Phase::Verify => {
                let r = &RESOURCES[request.resource];
                round.pending -= 1;
                match body.and_then(|b| b.get("items")).and_then(Value::as_array).filter(|_| response.code == 200) {
                    Some(items) if !items.is_empty() => {
                        round.remaining.insert(format!("{}.{}", r.plural, r.group), items.len());
                        let mut any_finalizer = false;
                        for item in items {
                            for f in
                                item.pointer("/metadata/finalizers").and_then(Value::as_array).into_iter().flatten()
                            {
                                if let Some(f) = f.as_str() {
                                    *round.finalizers.entry(f.to_string()).or_insert(0) += 1;
                                    any_finalizer = true;
                                }
                            }
                        }
                        // Pods get their grace period, counted from the namespace's
                        // deletion (`estimateGracefulTermination`); finalizers a default.
                        let deleted_at =
                            parse_rfc3339(str_at(&round.namespace, "/metadata/deletionTimestamp")).unwrap_or(now);
                        let elapsed_s = (now.saturating_sub(deleted_at) / 1000) as i64;
                        let pods = if r.kind == "Pod" && elapsed_s < round.estimate_s { round.estimate_s } else { 0 };
                        if pods != 0 {
                            round.wait_s = round.wait_s.max(pods);
                        } else if any_finalizer {
                            round.wait_s = round.wait_s.max(FINALIZER_ESTIMATE_S);
                        } else {
                            round.errors.entry(r.plural).or_insert_with(|| {
                                format!("unexpected items still remain in namespace: {ns} for gvr: {}", gvr(r))
                            });
                        }
                    }
                    Some(_) => {}
                    None => {
                        round.errors.entry(r.plural).or_insert_with(message);
                    }
                }
                if round.pending == 0 {
                    self.write_status(&ns, now, out);
                }
            }
            Phase::Status => self.after_status(&ns, Some(response), now, out),
            Phase::Finalize => {
                if response.code < 300 || response.code == 404 {
                    self.finalized += u64::from(response.code < 300);
                    self.finish(&ns);
                } else {
                    self.retry_later(&ns, now);
                }
            }
        }
    }

    fn verify(&mut self, ns: &str, out: &mut Outbox) {
        if let Some(round) = self.rounds.get_mut(ns) {
            round.phase = Phase::Verify;
        }
        self.list_all(ns, out);
    }

    /// Writes the conditions if they changed (`UpdateStatus`), then goes on.
    fn write_status(&mut self, ns: &str, now: u64, out: &mut Outbox) {
        let Some(round) = self.rounds.get_mut(ns) else { return };
        let mut failing: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        if !round.errors.is_empty() {
            let mut messages: Vec<&String> = round.errors.values().collect();
            messages.sort();
            let joined = messages.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
            failing.insert(
                "NamespaceDeletionContentFailure",
                (
                    "ContentDeletionFailed".into(),
                    format!("Failed to delete all resource types, {} remaining: {joined}", messages.len()),
                ),
            );
        }
        if !round.remaining.is_empty() {
            let mut parts: Vec<String> =
                round.remaining.iter().map(|(r, n)| format!("{r} has {n} resource instances")).collect();
            parts.sort();
            failing.insert(
                "NamespaceContentRemaining",
                ("SomeResourcesRemain".into(), format!("Some resources are remaining: {}", parts.join(", "))),
            );
        }
        if !round.finalizers.is_empty() {
            let mut parts: Vec<String> =
                round.finalizers.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect();
            parts.sort();
            failing.insert(
                "NamespaceFinalizersRemaining",
                (
                    "SomeFinalizersRemain".into(),
                    format!("Some content in the namespace has finalizers remaining: {}", parts.join(", ")),
                ),
            );
        }
        let current: Vec<Value> =
            round.namespace.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let phase_ok = str_at(&round.namespace, "/status/phase") == "Terminating";
        match updated_conditions(&current, &failing, now) {
            None if phase_ok => self.after_status(ns, None, now, out),
            conditions => {
                let mut updated = round.namespace.clone();
                updated["status"]["phase"] = json!("Terminating");
                if let Some(conditions) = conditions {
                    updated["status"]["conditions"] = json!(conditions);
                }
                round.phase = Phase::Status;
                let tag = self.tag(ns, 0);
                out.send(
                    ApiRequest::new(0, Method::Put, format!("/api/v1/namespaces/{ns}/status")).with_body(updated),
                    tag,
                );
            }
        }
    }

    /// After the status write (its failure is only logged by the real
    /// controller): retry, wait for content, or finalize.
    fn after_status(&mut self, ns: &str, response: Option<&ApiResponse>, now: u64, out: &mut Outbox) {
        let Some(round) = self.rounds.get_mut(ns) else { return };
        let written = response.filter(|r| r.code < 300).and_then(|r| r.body.as_ref());
        if let Some(updated) = written.filter(|b| b.get("metadata").is_some()) {
            round.namespace = updated.clone();
        }
        if !round.errors.is_empty() {
            return self.retry_later(ns, now);
        }
        let estimate = round.wait_s;
        if estimate > 0 {
            let wait_ms = (estimate as u64 / 2 + 1) * 1000;
            self.failures.remove(ns);
            return self.requeue(ns, now + wait_ms);
        }
        let mut finalize = round.namespace.clone();
        let kept: Vec<Value> = finalize
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| *f != FINALIZER_KUBERNETES)
            .cloned()
            .collect();
        finalize["spec"]["finalizers"] = json!(kept);
        round.phase = Phase::Finalize;
        let tag = self.tag(ns, 0);
        out.send(ApiRequest::new(0, Method::Put, format!("/api/v1/namespaces/{ns}/finalize")).with_body(finalize), tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_start_healthy_and_keep_their_transition_times() {
        let failing = BTreeMap::new();
        let first = updated_conditions(&[], &failing, 1_000).unwrap();
        assert_eq!(first.len(), 5);
        assert!(first.iter().all(|c| c["status"] == "False"));
        assert_eq!(first[3]["reason"], "ContentRemoved");
        assert_eq!(updated_conditions(&first, &failing, 2_000), None);
        let mut failing = BTreeMap::new();
        failing.insert(
            "NamespaceContentRemaining",
            ("SomeResourcesRemain".to_string(), "Some resources are remaining: pods. has 2 resource instances".into()),
        );
        let second = updated_conditions(&first, &failing, 3_000).unwrap();
        assert_eq!(second[3]["status"], "True");
        assert_eq!(second[3]["lastTransitionTime"], rfc3339(3_000));
        assert_eq!(second[0]["lastTransitionTime"], rfc3339(1_000));
    }

    #[test]
    fn gvr_prints_like_go() {
        let pods = crate::apimachinery::resources::by_plural("", "pods").unwrap();
        assert_eq!(gvr(pods), "/v1, Resource=pods");
        let deploys = crate::apimachinery::resources::by_plural("apps", "deployments").unwrap();
        assert_eq!(gvr(deploys), "apps/v1, Resource=deployments");
    }
}
