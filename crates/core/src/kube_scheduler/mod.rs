//! kube-scheduler: watches pods and nodes through kube-apiserver, keeps a
//! cache of what runs where, and binds each unscheduled pod to the node its
//! profile's plugins choose (pkg/scheduler/scheduler.go, schedule_one.go,
//! eventhandlers.go).
//!
//! Like the real one it reaches the cluster only through the apiserver:
//! list+watch of pods (not terminated), nodes, namespaces, Services,
//! ReplicaSets and ReplicationControllers; `pods/binding` to bind; status
//! patches for the PodScheduled condition and nominatedNodeName; events
//! (`Scheduled`, `FailedScheduling`, `Preempted`); deletes for preemption
//! victims. A bound pod is "assumed" on its node at once, so the next pod
//! sees the room it takes before the watch confirms it.
//!
//! Each attempt's filter verdicts and scores are kept for `sim explain`.

pub mod config;
pub mod explain;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod schedule_one;
pub mod types;

use crate::apimachinery::labels::Selector;
use crate::apimachinery::time::{rfc3339, rfc3339_micro, EPOCH_UNIX_SECS};
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::message::{ApiRequest, ApiResponse, Method, Payload};
use crate::reflector::{Change, Reflector};
use config::SchedulerConfig;
use explain::{Attempt, Outcome};
use framework::{ClusterEvent, Point, Snapshot};
use kscope_protocol::ComponentKind;
use preemption::Preemption;
use queue::SchedulingQueue;
use schedule_one::{schedule_pod, Nominated, ERR_NO_NODES_AVAILABLE};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use types::{NodeInfo, PodInfo};

const TIMER_SCHEDULE: u64 = 1;
const TIMER_FLUSH: u64 = 2;
const TIMER_RETRY: u64 = 3;
/// The queue's flush period (`flushBackoffQCompleted`, every second).
const FLUSH_MS: u64 = 1_000;
/// How many attempts `sim explain` keeps (the most recent pods).
pub const EXPLANATIONS_KEPT: usize = 1_000;
/// Event notes longer than this are cut (`truncateMessage`, `NoteLengthLimit` 1024).
const NOTE_LENGTH_LIMIT: usize = 1024;
/// The instance name on the scheduler's events.
/// The host in the scheduler's events' reportingInstance (`<profile>-<host>`).
const REPORTING_HOST: &str = "kscope-control-plane";

/// The watched collections.
const INFORMERS: [(&str, &str); 6] = [
    ("/api/v1/pods", "status.phase!=Succeeded,status.phase!=Failed"),
    ("/api/v1/nodes", ""),
    ("/api/v1/namespaces", ""),
    ("/api/v1/services", ""),
    ("/apis/apps/v1/replicasets", ""),
    ("/api/v1/replicationcontrollers", ""),
];

#[derive(Clone, Debug)]
enum Call {
    /// A binding, with the pod as it was scheduled.
    Bind {
        pod: Rc<PodInfo>,
        node: String,
    },
    Event {
        key: EventKey,
    },
    Other,
}

/// How long a binding may go unanswered (the apiserver or the network is
/// gone) before the scheduler gives up on it, forgets the assumed pod and
/// tries again. Real kube-scheduler's client sees a failed request instead.
pub const BIND_TIMEOUT_MS: u64 = 30_000;
/// Requests other than bindings are forgotten after this long unanswered.
const CALL_TIMEOUT_MS: u64 = 60_000;
/// A series not seen for this long is finished (client-go events `finishTime`, 6 minutes).
const SERIES_FINISH_MS: u64 = 6 * 60 * 1000;
/// Series counts are written back this often (`refreshTime`, 30 minutes).
const SERIES_REFRESH_MS: u64 = 30 * 60 * 1000;

/// What makes two events the same series (client-go tools/events `getKey`):
/// action, reason, reporting controller, the object regarded (with its
/// resourceVersion) and the related object. The note is not part of it.
type EventKey = (String, String, String, String, String);

/// An event the scheduler posted, for its series.
#[derive(Clone, Debug)]
struct PostedEvent {
    name: String,
    namespace: String,
    posted_ms: u64,
    /// Occurrences; 1 until it becomes a series.
    count: u64,
    last_observed_ms: u64,
    /// The count written to the apiserver so far.
    written: u64,
}

/// Counters shown in `sim status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pods bound.
    pub scheduled: u64,
    /// Failed attempts.
    pub unschedulable: u64,
    /// Preemptions carried out.
    pub preemptions: u64,
    /// Bindings the apiserver refused.
    pub bind_errors: u64,
}

/// The kube-scheduler component.
pub struct KubeScheduler {
    config_source: Value,
    config: Rc<SchedulerConfig>,
    reflectors: Vec<Reflector>,
    next_request: u64,
    snapshot: Snapshot,
    /// Zones in the order first seen, with their nodes (the node tree).
    zones: Vec<(String, Vec<String>)>,
    /// Bound (or assumed) pods by key.
    assigned: BTreeMap<String, Rc<PodInfo>>,
    /// Pods assumed on a node while their binding is in flight.
    assumed: BTreeMap<String, String>,
    /// Unscheduled pods this scheduler is responsible for.
    pending: BTreeMap<String, Rc<PodInfo>>,
    nominated: Nominated,
    queue: SchedulingQueue,
    /// Requests awaiting an answer: when each was sent, and why.
    in_flight: BTreeMap<u64, (u64, Call)>,
    next_start: usize,
    explanations: BTreeMap<String, Attempt>,
    explain_order: VecDeque<String>,
    events: BTreeMap<EventKey, PostedEvent>,
    last_series_refresh_ms: u64,
    event_seq: u64,
    schedule_deferred: bool,
    /// Nodes changed: the node order and image counts need rebuilding.
    nodes_dirty: bool,
    stats: Stats,
}

impl KubeScheduler {
    /// A scheduler with the default configuration.
    pub fn new() -> Self {
        KubeScheduler::with_config(Value::Null).expect("the default configuration is valid")
    }

    /// A scheduler with a KubeSchedulerConfiguration (JSON); errors read
    /// like kube-scheduler's.
    pub fn with_config(config: Value) -> Result<Self, String> {
        let parsed = SchedulerConfig::parse(&config)?;
        Ok(KubeScheduler {
            queue: SchedulingQueue::new(parsed.initial_backoff_ms, parsed.max_backoff_ms),
            config_source: config,
            config: Rc::new(parsed),
            reflectors: INFORMERS.iter().map(|(path, fields)| Reflector::new(path, "", fields)).collect(),
            next_request: 0,
            snapshot: Snapshot::default(),
            zones: Vec::new(),
            assigned: BTreeMap::new(),
            assumed: BTreeMap::new(),
            pending: BTreeMap::new(),
            nominated: Nominated::new(),
            in_flight: BTreeMap::new(),
            next_start: 0,
            explanations: BTreeMap::new(),
            explain_order: VecDeque::new(),
            events: BTreeMap::new(),
            last_series_refresh_ms: 0,
            event_seq: 0,
            schedule_deferred: false,
            nodes_dirty: false,
            stats: Stats::default(),
        })
    }

    /// The last scheduling attempt of a pod (`namespace/name`).
    pub fn explanation(&self, key: &str) -> Option<&Attempt> {
        self.explanations.get(key)
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The scheduler's view of the nodes.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn next_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    fn send(&mut self, ctx: &mut Context<'_>, request: ApiRequest, call: Call) {
        self.in_flight.insert(request.request_id, (ctx.now_ms(), call));
        ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
    }

    fn synced(&self) -> bool {
        self.reflectors.iter().all(Reflector::has_synced)
    }

    fn defer_schedule(&mut self, ctx: &mut Context<'_>) {
        if !self.schedule_deferred && self.queue.has_active() {
            self.schedule_deferred = true;
            ctx.defer(TIMER_SCHEDULE);
        }
    }

    // ---- the cache -------------------------------------------------------

    /// Rebuilds the node order: zones taken in turn, nodes in the order they
    /// were added (internal/cache/node_tree.go).
    fn rebuild_node_order(&mut self) {
        let mut by_name: BTreeMap<String, NodeInfo> =
            std::mem::take(&mut self.snapshot.nodes).into_iter().map(|n| (n.name.clone(), n)).collect();
        let longest = self.zones.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
        let mut order = Vec::new();
        for i in 0..longest {
            for (_, nodes) in &self.zones {
                if let Some(n) = nodes.get(i) {
                    order.push(n.clone());
                }
            }
        }
        for name in order {
            if let Some(n) = by_name.remove(&name) {
                self.snapshot.nodes.push(n);
            }
        }
        self.snapshot.index = self.snapshot.nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        // nextStartNodeIndex carries over (modulo the new node count).
        self.next_start = self.next_start.checked_rem(self.snapshot.nodes.len()).unwrap_or(0);
    }

    fn zone_of(node: &NodeInfo) -> String {
        let region = node.labels.get("topology.kubernetes.io/region").cloned().unwrap_or_default();
        let zone = node.labels.get("topology.kubernetes.io/zone").cloned().unwrap_or_default();
        format!("{region}:\u{0}:{zone}")
    }

    fn recount_images(&mut self) {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for n in &self.snapshot.nodes {
            for image in n.images.keys() {
                *counts.entry(image.clone()).or_default() += 1;
            }
        }
        self.snapshot.image_nodes = counts;
    }

    fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        match self.snapshot.index.get(name) {
            Some(&i) if self.snapshot.nodes.get(i).is_some_and(|n| n.name == name) => self.snapshot.nodes.get_mut(i),
            // Nodes were added or removed and the order is not rebuilt yet.
            _ => self.snapshot.nodes.iter_mut().find(|n| n.name == name),
        }
    }

    fn on_node(&mut self, change: Change, now_ms: u64) {
        match change {
            Change::Added(node) => {
                let mut info = NodeInfo::from_node(&node);
                let name = info.name.clone();
                for pod in self.assigned.values().filter(|p| p.node_name == name) {
                    info.add_pod(pod.clone());
                }
                let zone = Self::zone_of(&info);
                match self.zones.iter_mut().find(|(z, _)| *z == zone) {
                    Some((_, nodes)) => nodes.push(info.name.clone()),
                    None => self.zones.push((zone, vec![info.name.clone()])),
                }
                self.snapshot.nodes.push(info);
                self.nodes_dirty = true;
                self.queue.on_event(ClusterEvent::NodeAdd, now_ms);
            }
            Change::Modified(_, node) => {
                let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                let Some(info) = self.node_mut(&name) else {
                    return self.on_node(Change::Added(node), now_ms);
                };
                let before = (info.labels.clone(), info.taints.clone(), info.unschedulable, info.allocatable.clone());
                info.set_node(&node);
                let after = (&info.labels, &info.taints, info.unschedulable, &info.allocatable);
                let mut events = Vec::new();
                if before.0 != *after.0 {
                    events.push(ClusterEvent::NodeLabel);
                }
                if before.1 != *after.1 || before.2 != after.2 {
                    events.push(ClusterEvent::NodeTaint);
                }
                if before.3 != *after.3 {
                    events.push(ClusterEvent::NodeAllocatable);
                }
                let zone_changed = before.0.get("topology.kubernetes.io/zone")
                    != after.0.get("topology.kubernetes.io/zone")
                    || before.0.get("topology.kubernetes.io/region") != after.0.get("topology.kubernetes.io/region");
                if zone_changed {
                    let zone = Self::zone_of(info);
                    for (_, nodes) in self.zones.iter_mut() {
                        nodes.retain(|n| *n != name);
                    }
                    match self.zones.iter_mut().find(|(z, _)| *z == zone) {
                        Some((_, nodes)) => nodes.push(name.clone()),
                        None => self.zones.push((zone, vec![name.clone()])),
                    }
                    self.zones.retain(|(_, n)| !n.is_empty());
                }
                self.nodes_dirty = true;
                for e in events {
                    self.queue.on_event(e, now_ms);
                }
            }
            Change::Deleted(node) => {
                let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                for (_, nodes) in self.zones.iter_mut() {
                    nodes.retain(|n| *n != name);
                }
                self.zones.retain(|(_, n)| !n.is_empty());
                self.snapshot.nodes.retain(|n| n.name != name);
                self.nodes_dirty = true;
                self.queue.on_event(ClusterEvent::NodeDelete, now_ms);
            }
        }
    }

    fn remove_assigned(&mut self, key: &str) -> Option<Rc<PodInfo>> {
        let old = self.assigned.remove(key)?;
        if let Some(node) = self.node_mut(&old.node_name.clone()) {
            node.remove_pod(key);
        }
        Some(old)
    }

    fn unnominate(&mut self, key: &str) {
        for pods in self.nominated.values_mut() {
            pods.retain(|p| p.key != key);
        }
        self.nominated.retain(|_, pods| !pods.is_empty());
    }

    fn on_pod(&mut self, change: Change, now_ms: u64) {
        let (object, deleted, old) = match change {
            Change::Added(o) => (o, false, None),
            Change::Modified(old, o) => (o, false, Some(old)),
            Change::Deleted(o) => (o, true, None),
        };
        let pod = Rc::new(PodInfo::parse(&object));
        let key = pod.key.clone();
        if deleted {
            self.pending.remove(&key);
            self.queue.delete(&key);
            self.unnominate(&key);
            self.assumed.remove(&key);
            if self.remove_assigned(&key).is_some() {
                self.queue.on_event(ClusterEvent::AssignedPodDelete, now_ms);
            }
            return;
        }
        if !pod.node_name.is_empty() {
            // Assigned: into the cache (replacing an assumed copy).
            self.pending.remove(&key);
            self.queue.delete(&key);
            self.unnominate(&key);
            let was_assumed = self.assumed.remove(&key).is_some();
            let old = self.remove_assigned(&key);
            if let Some(node) = self.node_mut(&pod.node_name.clone()) {
                node.add_pod(pod.clone());
            }
            self.assigned.insert(key, pod.clone());
            match old {
                // New to the cache, or our own assumption confirmed (addPodToCache).
                None => {
                    self.queue.on_event(ClusterEvent::AssignedPodAdd, now_ms);
                }
                Some(_) if was_assumed => {
                    self.queue.on_event(ClusterEvent::AssignedPodAdd, now_ms);
                }
                Some(old) if old.labels != pod.labels => {
                    self.queue.on_event(ClusterEvent::AssignedPodLabel, now_ms);
                }
                Some(old) if old.requests != pod.requests => {
                    self.queue.on_event(ClusterEvent::AssignedPodDelete, now_ms);
                }
                Some(_) => {}
            }
            return;
        }
        if self.assumed.contains_key(&key) {
            // Our binding is in flight; the watch has not caught up. Keep the
            // latest copy for a retry should the binding fail.
            if self.pending.contains_key(&key) {
                self.pending.insert(key, pod);
            }
            return;
        }
        if self.config.profile(&pod.scheduler_name).is_none() {
            return;
        }
        if pod.terminating {
            self.pending.remove(&key);
            self.queue.delete(&key);
            self.unnominate(&key);
            return;
        }
        self.unnominate(&key);
        if !pod.nominated_node_name.is_empty() {
            self.nominated.entry(pod.nominated_node_name.clone()).or_default().push(pod.clone());
        }
        let gated = self.gated(&pod);
        if self.queue.contains(&key) {
            // A status-only change (our own PodScheduled patch) is no reason
            // to try again (eventhandlers.go `isPodUpdated`).
            if old.as_ref().is_none_or(|old| pod_updated(old, &object)) {
                self.queue.update(&key, pod.priority, gated, now_ms);
            }
        } else {
            self.queue.add(&key, pod.priority, gated, now_ms);
        }
        self.pending.insert(key, pod);
    }

    /// Whether a PreEnqueue plugin keeps the pod out of the active queue.
    fn gated(&self, pod: &PodInfo) -> bool {
        self.config
            .profile(&pod.scheduler_name)
            .is_some_and(|p| p.at(Point::PreEnqueue).any(|(_, plugin)| !plugin.pre_enqueue(pod).is_success()))
    }

    fn rebuild_workloads(&mut self) {
        let w = &mut self.snapshot.workloads;
        w.services.clear();
        for svc in self.reflectors[3].store().values() {
            let ns = svc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
            let selector = crate::apimachinery::labels::string_map(svc.pointer("/spec/selector"));
            if selector.is_empty() {
                continue;
            }
            let s = Selector::parse(&crate::apimachinery::labels::format_labels(&selector)).unwrap_or_default();
            w.services.push((ns, s));
        }
        w.replica_sets = self.reflectors[4]
            .store()
            .iter()
            .filter_map(|(k, rs)| {
                rs.pointer("/spec/selector").and_then(Selector::from_label_selector).map(|s| (k.clone(), s))
            })
            .collect();
        w.replication_controllers = self.reflectors[5]
            .store()
            .iter()
            .map(|(k, rc)| {
                let labels = crate::apimachinery::labels::string_map(rc.pointer("/spec/selector"));
                (k.clone(), Selector::parse(&crate::apimachinery::labels::format_labels(&labels)).unwrap_or_default())
            })
            .collect();
    }

    fn apply_changes(&mut self, informer: usize, changes: Vec<Change>, now_ms: u64) {
        match informer {
            0 => changes.into_iter().for_each(|c| self.on_pod(c, now_ms)),
            1 => {
                changes.into_iter().for_each(|c| self.on_node(c, now_ms));
                if std::mem::take(&mut self.nodes_dirty) {
                    self.rebuild_node_order();
                    self.recount_images();
                }
            }
            2 => {
                self.snapshot.namespace_labels = self.reflectors[2]
                    .store()
                    .values()
                    .map(|ns| {
                        let name = ns.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                        (name, crate::apimachinery::labels::labels_of(ns))
                    })
                    .collect();
            }
            _ => self.rebuild_workloads(),
        }
    }

    // ---- scheduling ------------------------------------------------------

    fn keep_explanation(&mut self, key: &str, attempt: Attempt) {
        if self.explanations.insert(key.to_string(), attempt).is_none() {
            self.explain_order.push_back(key.to_string());
            while self.explain_order.len() > EXPLANATIONS_KEPT {
                if let Some(old) = self.explain_order.pop_front() {
                    self.explanations.remove(&old);
                }
            }
        }
    }

    fn run_cycles(&mut self, ctx: &mut Context<'_>) {
        if !self.synced() {
            return;
        }
        while let Some(key) = self.queue.pop() {
            self.schedule_one(ctx, &key);
        }
    }

    fn schedule_one(&mut self, ctx: &mut Context<'_>, key: &str) {
        let Some(pod) = self.pending.get(key).cloned() else {
            self.queue.delete(key);
            return;
        };
        let now = ctx.now_ms();
        let config = self.config.clone();
        let Some(profile) = config.profile(&pod.scheduler_name) else {
            self.queue.delete(key);
            return;
        };
        let mut attempt = Attempt {
            at_ms: now,
            attempt: self.queue.get(key).map_or(1, |q| q.attempts),
            profile: profile.scheduler_name.clone(),
            num_all_nodes: self.snapshot.nodes.len(),
            nodes_to_find: 0,
            pre_filter_rejection: None,
            filtered: Vec::new(),
            nominated_fast_path: false,
            scored: Vec::new(),
            scores: Vec::new(),
            skipped_score_plugins: Vec::new(),
            tied: Vec::new(),
            preemption: None,
            outcome: Outcome::Error(String::new()),
        };
        if self.snapshot.nodes.is_empty() {
            attempt.outcome = Outcome::Unschedulable(ERR_NO_NODES_AVAILABLE.into());
            self.keep_explanation(key, attempt);
            self.fail(ctx, &pod, ERR_NO_NODES_AVAILABLE.to_string(), Some(String::new()));
            self.queue.add_unschedulable(key, Vec::new(), Vec::new(), now);
            return;
        }
        let result = schedule_pod(
            profile,
            config.percentage_of_nodes_to_score,
            &self.snapshot,
            &pod,
            &self.nominated,
            ctx.rng(),
            &mut self.next_start,
            &mut attempt,
        );
        match result {
            Ok(scheduled) => {
                attempt.outcome = Outcome::Bound(scheduled.node.clone());
                self.keep_explanation(key, attempt);
                self.assume_and_bind(ctx, &pod, &scheduled.node);
            }
            Err((fit, _state)) => {
                let mut post_filter = String::new();
                let mut nominate: Option<String> = None;
                let mut victims = Vec::new();
                if let Some(args) = profile.preemption.clone() {
                    match preemption::preempt(profile, &args, &pod, &fit, &self.snapshot, &self.nominated, ctx.rng()) {
                        Preemption::Nominate(c) => {
                            attempt.preemption = Some(format!(
                                "nominated {}; evicting {}",
                                c.node,
                                c.victims.iter().map(|v| v.key.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                            nominate = Some(c.node.clone());
                            victims = c.victims.clone();
                        }
                        Preemption::Failed { message, clear_nomination } => {
                            attempt.preemption = Some(message.clone());
                            post_filter = message;
                            if clear_nomination {
                                nominate = Some(String::new());
                            }
                        }
                    }
                }
                let message = fit.message(&post_filter);
                attempt.outcome = Outcome::Unschedulable(message.clone());
                self.keep_explanation(key, attempt);
                if let Some(node) = nominate.clone().filter(|n| !n.is_empty()) {
                    self.carry_out_preemption(ctx, &pod, &node, &victims);
                }
                self.fail(ctx, &pod, message, nominate);
                let rejectors = fit.rejectors();
                let mut wake_on: Vec<ClusterEvent> = Vec::new();
                for plugin in &profile.plugins {
                    if rejectors.contains(&plugin.name()) {
                        wake_on.extend(plugin.events().iter().copied());
                    }
                }
                wake_on.sort();
                wake_on.dedup();
                self.queue.add_unschedulable(key, rejectors, wake_on, now);
            }
        }
    }

    fn assume_and_bind(&mut self, ctx: &mut Context<'_>, pod: &Rc<PodInfo>, node: &str) {
        let mut assumed = (**pod).clone();
        assumed.node_name = node.to_string();
        let assumed = Rc::new(assumed);
        if let Some(n) = self.node_mut(node) {
            n.add_pod(assumed.clone());
        }
        self.assigned.insert(pod.key.clone(), assumed);
        self.assumed.insert(pod.key.clone(), node.to_string());
        self.unnominate(&pod.key);
        let id = self.next_id();
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let path = format!("/api/v1/namespaces/{}/pods/{}/binding", pod.namespace, pod.name);
        let request = ApiRequest::new(id, Method::Post, path).with_body(binding);
        ctx.flow(crate::flow::step::BIND, pod.key.clone());
        self.send(ctx, request, Call::Bind { pod: pod.clone(), node: node.to_string() });
    }

    /// The pod could not be scheduled: FailedScheduling event, PodScheduled
    /// False condition and nominatedNodeName (`handleSchedulingFailure`).
    fn fail(&mut self, ctx: &mut Context<'_>, pod: &PodInfo, message: String, nominate: Option<String>) {
        self.fail_with(ctx, pod, "Unschedulable", message, nominate);
    }

    /// [`Self::fail`] with the condition's reason (`Unschedulable`, or
    /// `SchedulerError` for errors such as a failed binding).
    fn fail_with(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &PodInfo,
        reason: &str,
        message: String,
        nominate: Option<String>,
    ) {
        self.stats.unschedulable += 1;
        let mut note = message.clone();
        if note.len() > NOTE_LENGTH_LIMIT {
            let mut cut = NOTE_LENGTH_LIMIT - 4;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str(" ...");
        }
        self.event(ctx, pod, "Warning", "FailedScheduling", "Scheduling", &note, None);
        let nominated = nominate.filter(|n| *n != pod.nominated_node_name);
        let condition_same = pod
            .pod_scheduled
            .as_ref()
            .is_some_and(|(status, r, msg)| status == "False" && r == reason && *msg == message);
        if condition_same && nominated.is_none() {
            return;
        }
        let mut status = json!({});
        if !condition_same {
            let mut condition = json!({
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": null,
            });
            // UpdatePodCondition keeps the transition time while the status stays False.
            if pod.pod_scheduled.as_ref().is_none_or(|(status, _, _)| status != "False") {
                condition["lastTransitionTime"] = json!(rfc3339(ctx.now_ms()));
            }
            status["conditions"] = json!([condition]);
        }
        if let Some(node) = &nominated {
            status["nominatedNodeName"] = if node.is_empty() { Value::Null } else { json!(node) };
            self.unnominate(&pod.key);
            if !node.is_empty() {
                let mut p = pod.clone();
                p.nominated_node_name = node.clone();
                self.nominated.entry(node.clone()).or_default().push(Rc::new(p));
            }
        }
        self.patch_status(ctx, pod, json!({ "status": status }));
    }

    fn patch_status(&mut self, ctx: &mut Context<'_>, pod: &PodInfo, patch: Value) {
        let id = self.next_id();
        let path = format!("/api/v1/namespaces/{}/pods/{}/status", pod.namespace, pod.name);
        let mut request = ApiRequest::new(id, Method::Patch, path).with_body(patch);
        request.content_type = Some("application/strategic-merge-patch+json".into());
        self.send(ctx, request, Call::Other);
    }

    /// `prepareCandidate`: mark and delete the victims, tell them why, and
    /// drop lower-priority nominations to the node.
    fn carry_out_preemption(
        &mut self,
        ctx: &mut Context<'_>,
        preemptor: &PodInfo,
        node: &str,
        victims: &[Rc<PodInfo>],
    ) {
        self.stats.preemptions += 1;
        let now = ctx.now_ms();
        for v in victims {
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": format!("{}: preempting to accommodate a higher priority pod", preemptor.scheduler_name),
                "lastTransitionTime": rfc3339(now),
            }]}});
            self.patch_status(ctx, v, condition);
            let id = self.next_id();
            let path = format!("/api/v1/namespaces/{}/pods/{}", v.namespace, v.name);
            self.send(ctx, ApiRequest::new(id, Method::Delete, path), Call::Other);
            let note = format!("Preempted by pod {} on node {node}", preemptor.uid);
            self.event(ctx, v, "Normal", "Preempted", "Preempting", &note, Some(preemptor));
        }
        let lower: Vec<Rc<PodInfo>> = self
            .nominated
            .get(node)
            .into_iter()
            .flatten()
            .filter(|p| p.priority < preemptor.priority)
            .cloned()
            .collect();
        for p in lower {
            self.unnominate(&p.key);
            self.patch_status(ctx, &p, json!({"status": {"nominatedNodeName": null}}));
        }
    }

    /// Posts an event about `pod`, or counts a repeat of the same one in its series.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &PodInfo,
        kind: &str,
        reason: &str,
        action: &str,
        note: &str,
        related: Option<&PodInfo>,
    ) {
        let now = ctx.now_ms();
        let regarding = format!("{}/{}/{}/{}", pod.namespace, pod.name, pod.uid, pod.resource_version);
        let related_key = related.map(|r| format!("{}/{}/{}", r.namespace, r.name, r.uid)).unwrap_or_default();
        let controller = pod.scheduler_name.clone();
        let key: EventKey = (action.to_string(), reason.to_string(), controller.clone(), regarding, related_key);
        if let Some(posted) = self.events.get_mut(&key) {
            // An isomorphic event: the first repeat turns it into a series
            // (written at once); later ones are counted and written with the
            // periodic refresh or when the series finishes.
            posted.count += 1;
            posted.last_observed_ms = now;
            if posted.count == 2 {
                let posted = posted.clone();
                self.write_series(ctx, &posted);
                if let Some(p) = self.events.get_mut(&key) {
                    p.written = 2;
                }
            }
            return;
        }
        self.event_seq += 1;
        let nanos = (EPOCH_UNIX_SECS as u64 * 1000 + now) * 1_000_000 + self.event_seq % 1_000_000;
        let name = format!("{}.{nanos:x}", pod.name);
        let reference = |p: &PodInfo| {
            json!({"apiVersion": "v1", "kind": "Pod", "namespace": p.namespace, "name": p.name, "uid": p.uid,
                   "resourceVersion": p.resource_version})
        };
        let mut event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": pod.namespace},
            "involvedObject": reference(pod),
            "reason": reason,
            "message": note,
            "type": kind,
            "eventTime": rfc3339_micro(now),
            "action": action,
            "reportingComponent": controller,
            "reportingInstance": format!("{controller}-{REPORTING_HOST}"),
            "source": {},
        });
        if let Some(r) = related {
            event["related"] = reference(r);
        }
        self.events.insert(
            key.clone(),
            PostedEvent {
                name: name.clone(),
                namespace: pod.namespace.clone(),
                posted_ms: now,
                count: 1,
                last_observed_ms: now,
                written: 1,
            },
        );
        let id = self.next_id();
        let path = format!("/api/v1/namespaces/{}/events", pod.namespace);
        self.send(ctx, ApiRequest::new(id, Method::Post, path).with_body(event), Call::Event { key });
    }

    /// Writes a series' count and last time (a merge patch of `series`).
    fn write_series(&mut self, ctx: &mut Context<'_>, posted: &PostedEvent) {
        let patch =
            json!({"series": {"count": posted.count, "lastObservedTime": rfc3339_micro(posted.last_observed_ms)}});
        let path = format!("/api/v1/namespaces/{}/events/{}", posted.namespace, posted.name);
        let id = self.next_id();
        let mut request = ApiRequest::new(id, Method::Patch, path).with_body(patch);
        request.content_type = Some("application/merge-patch+json".into());
        self.send(ctx, request, Call::Other);
    }

    /// The event cache's housekeeping (client-go tools/events
    /// `refreshExistingEventSeries` every 30 minutes, `finishSeries` every
    /// 6): series are written back, and events not seen for 6 minutes are
    /// dropped from the cache (a series gets its final count first).
    fn maintain_events(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let refresh = now.saturating_sub(self.last_series_refresh_ms) >= SERIES_REFRESH_MS;
        if refresh {
            self.last_series_refresh_ms = now;
        }
        let mut writes = Vec::new();
        let mut drop = Vec::new();
        for (key, e) in &self.events {
            let stale = now.saturating_sub(e.last_observed_ms.max(e.posted_ms)) >= SERIES_FINISH_MS;
            if e.count > 1 && e.count != e.written && (refresh || stale) {
                writes.push(key.clone());
            }
            if stale {
                drop.push(key.clone());
            }
        }
        for key in writes {
            if let Some(e) = self.events.get_mut(&key) {
                e.written = e.count;
                let e = e.clone();
                self.write_series(ctx, &e);
            }
        }
        for key in drop {
            self.events.remove(&key);
        }
        // Requests whose answers never came: forget them (bindings are handled on their own).
        self.in_flight.retain(|_, (sent_ms, call)| {
            matches!(call, Call::Bind { .. }) || now.saturating_sub(*sent_ms) < CALL_TIMEOUT_MS
        });
    }

    /// Bindings unanswered for [`BIND_TIMEOUT_MS`] fail like a refused one.
    fn expire_bindings(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, (sent_ms, c))| {
                matches!(c, Call::Bind { .. }) && now.saturating_sub(*sent_ms) >= BIND_TIMEOUT_MS
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, Call::Bind { pod, .. })) = self.in_flight.remove(&id) {
                self.binding_failed(ctx, &pod, "context deadline exceeded");
            }
        }
    }

    /// `handleBindingCycleError`: forget the assumed pod (its room is free
    /// again, which may help other pods), report the error and retry the
    /// pod after its backoff.
    fn binding_failed(&mut self, ctx: &mut Context<'_>, pod: &Rc<PodInfo>, error: &str) {
        let now = ctx.now_ms();
        self.stats.bind_errors += 1;
        if self.assumed.remove(&pod.key).is_some() {
            self.remove_assigned(&pod.key);
            self.queue.on_event(ClusterEvent::AssignedPodDelete, now);
        }
        // The pod as the informer knows it now (updates were held back while it was assumed).
        let Some(current) = self.pending.get(&pod.key).cloned() else {
            return;
        };
        let message = format!("running Bind plugin \"DefaultBinder\": {error}");
        self.fail_with(ctx, &current, "SchedulerError", message, Some(String::new()));
        if !self.queue.contains(&current.key) {
            self.queue.add(&current.key, current.priority, false, now);
        }
        self.queue.add_backoff(&current.key, now);
    }

    fn on_response(&mut self, ctx: &mut Context<'_>, response: ApiResponse) {
        let now = ctx.now_ms();
        if let Some(i) = self.reflectors.iter().position(|r| r.owns(response.request_id)) {
            let changes = self.reflectors[i].handle_via(ctx, &mut self.next_request, &response, TIMER_RETRY);
            if i == 0 {
                // Step 4 of a pod's way to running: the watch delivers it unscheduled.
                for change in &changes {
                    if let Change::Added(pod) = change {
                        if pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty() {
                            ctx.flow(crate::flow::step::SCHEDULER_WATCH, crate::reflector::object_key(pod));
                        }
                    }
                }
            }
            self.apply_changes(i, changes, now);
            self.defer_schedule(ctx);
            return;
        }
        let Some((_, call)) = self.in_flight.remove(&response.request_id) else {
            return;
        };
        match call {
            Call::Bind { pod, node, .. } => {
                if response.code == 201 || response.code == 200 {
                    self.stats.scheduled += 1;
                    let note = format!("Successfully assigned {}/{} to {node}", pod.namespace, pod.name);
                    self.event(ctx, &pod, "Normal", "Scheduled", "Binding", &note, None);
                    return;
                }
                let message = response
                    .body
                    .as_ref()
                    .and_then(|b| b.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("binding failed")
                    .to_string();
                self.binding_failed(ctx, &pod, &message);
            }
            Call::Event { key } if response.code >= 300 => {
                // The event was not recorded: a repeat will post it anew.
                self.events.remove(&key);
            }
            Call::Event { .. } | Call::Other => {}
        }
    }
}

/// Whether a pod changed other than in its status, resourceVersion,
/// generation, managedFields or finalizers (eventhandlers.go `isPodUpdated`).
fn pod_updated(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in ["resourceVersion", "generation", "managedFields", "finalizers"] {
                m.remove(f);
            }
        }
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

impl Default for KubeScheduler {
    fn default() -> Self {
        KubeScheduler::new()
    }
}

impl Component for KubeScheduler {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Scheduler
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        let config = std::mem::take(&mut self.config_source);
        *self = KubeScheduler::with_config(config).unwrap_or_default();
        // Request ids of this run start above any earlier run's, so a late
        // answer to a request sent before a restart matches nothing.
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        for r in &mut self.reflectors {
            r.start_via(ctx, &mut self.next_request);
        }
        ctx.set_timer(FLUSH_MS, TIMER_FLUSH);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        if let Payload::ApiResponse(response) = envelope.payload {
            self.on_response(ctx, response);
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let now = ctx.now_ms();
        match token {
            TIMER_SCHEDULE => {
                self.schedule_deferred = false;
                self.run_cycles(ctx);
            }
            TIMER_FLUSH => {
                self.expire_bindings(ctx);
                self.maintain_events(ctx);
                self.queue.flush(now);
                for r in &mut self.reflectors {
                    r.check_via(ctx, &mut self.next_request);
                }
                self.defer_schedule(ctx);
                ctx.set_timer(FLUSH_MS, TIMER_FLUSH);
            }
            TIMER_RETRY => {
                for r in &mut self.reflectors {
                    r.retry_via(ctx, &mut self.next_request);
                }
            }
            _ => {}
        }
    }

    fn details(&self) -> Vec<(String, String)> {
        let (active, backoff, unschedulable) = self.queue.counts();
        vec![
            ("nodes".into(), self.snapshot.nodes.len().to_string()),
            ("queue".into(), format!("{active} active, {backoff} backoff, {unschedulable} unschedulable")),
            ("scheduled".into(), self.stats.scheduled.to_string()),
            ("failed attempts".into(), self.stats.unschedulable.to_string()),
            ("preemptions".into(), self.stats.preemptions.to_string()),
        ]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
