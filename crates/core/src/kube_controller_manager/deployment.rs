//! The Deployment controller (pkg/controller/deployment of Kubernetes
//! v1.32): for each Deployment, claim the ReplicaSets its selector matches
//! (adopting orphans, releasing those that stopped matching), find the new
//! ReplicaSet (the one whose template equals the Deployment's, ignoring the
//! `pod-template-hash` label) and the old ones, and then, like
//! `syncDeployment` in deployment_controller.go:
//!
//! - paused, or a scaling event (an active ReplicaSet's
//!   `deployment.kubernetes.io/desired-replicas` differs from
//!   `spec.replicas`): scale proportionally (`sync` and `scale` in sync.go);
//! - `RollingUpdate`: scale the new ReplicaSet up within `maxSurge`, then the
//!   old ones down within `maxUnavailable`, unhealthy replicas first
//!   (rolling.go);
//! - `Recreate`: scale the old ones to 0, wait until none of their pods
//!   runs, then create and scale up the new one (recreate.go);
//!
//! and write the status with its `Available` and `Progressing` conditions
//! (progress.go), requeueing at the progress deadline.
//!
//! One sync is computed by a pure function ([`plan`]) from the informers'
//! caches; its writes (ReplicaSet creates, updates and deletes, one status
//! update of the Deployment) are sent together. Where upstream writes one
//! object several times in a sync, the writes are merged into one. While a
//! Deployment's writes are in flight it is not synced again; writes carry
//! the resourceVersion they were computed from, so a sync from a stale cache
//! fails with a conflict and is retried, as upstream's updates do.

use super::workqueue::expired;
use super::Outbox;
use crate::apimachinery::labels::{labels_of, string_map, Selector};
use crate::apimachinery::time::{parse_rfc3339, rfc3339};
use crate::message::{ApiRequest, ApiResponse, Method};
use crate::record::{EventRecorder, ObjectReference};
use crate::reflector::{object_key, Change, Reflector};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The controller's name in events (`source.component`).
pub const COMPONENT: &str = "deployment-controller";
/// The label that tells a Deployment's ReplicaSets apart (`apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The rollout sequence number of a ReplicaSet and of its Deployment.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The revisions a ReplicaSet served before a rollback made it new again.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when it last scaled the ReplicaSet.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the Deployment last scaled the ReplicaSet.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The change cause `kubectl rollout history` prints.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// Annotations never copied between a Deployment and its ReplicaSets
/// (`annotationsToSkip` in deployment_util.go).
pub const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// The longest `revision-history` annotation (`maxRevHistoryLengthInChars`, sync.go).
const MAX_REV_HISTORY_CHARS: usize = 2000;
/// The first retry after a failed write (the workqueue's rate limiter starts at 5 ms).
const RETRY_BASE_MS: u64 = 5;
/// The longest retry delay (1000 s).
const RETRY_MAX_MS: u64 = 1_000_000;
/// Tags of the Deployment controller's requests start here, so the manager
/// can tell its answers from the ReplicaSet controller's.
pub const TAG_BASE: u64 = 1 << 62;

// Condition reasons (pkg/controller/deployment/util/deployment_util.go).
/// Progressing: a ReplicaSet was scaled as part of the rollout.
pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing: the new ReplicaSet could not be created.
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
/// Progressing: the new ReplicaSet was created.
pub const NEW_REPLICA_SET: &str = "NewReplicaSetCreated";
/// Progressing: an existing ReplicaSet was found to be the new one.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing: the rollout is complete.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing: no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing: the Deployment is paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Progressing: the Deployment was resumed.
pub const RESUMED: &str = "DeploymentResumed";
/// Available: at least `replicas - maxUnavailable` pods are available.
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available: fewer than `replicas - maxUnavailable` pods are available.
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

fn int32(v: Option<&Value>) -> Option<i32> {
    v.and_then(Value::as_i64).map(|n| n.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
}

/// The controller reference of an object, as (kind, name, uid).
fn controller_ref(o: &Value) -> Option<(String, String, String)> {
    o.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let s = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
            (s("kind"), s("name"), s("uid"))
        })
}

/// `intstr.GetScaledValueFromIntOrPercent`: an integer as is, `"N%"` of
/// `total` rounded up or down; `None` for anything else (validation rejects it).
pub fn scaled_value(v: &Value, total: i32, round_up: bool) -> Option<i32> {
    if let Some(n) = v.as_i64() {
        return Some(n.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
    }
    let percent: i64 = v.as_str()?.strip_suffix('%')?.parse().ok()?;
    let product = percent * total as i64;
    let scaled = if round_up {
        product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
    } else {
        product.div_euclid(100)
    };
    Some(scaled.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
}

/// `ResolveFenceposts`: (maxSurge rounded up, maxUnavailable rounded down)
/// for `desired` replicas; when both come to 0, maxUnavailable is 1.
pub fn resolve_fenceposts(max_surge: Option<&Value>, max_unavailable: Option<&Value>, desired: i32) -> (i32, i32) {
    let zero = json!(0);
    let surge = scaled_value(max_surge.filter(|v| !v.is_null()).unwrap_or(&zero), desired, true).unwrap_or(0);
    let unavailable =
        scaled_value(max_unavailable.filter(|v| !v.is_null()).unwrap_or(&zero), desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// `rand.SafeEncodeString`: each byte mapped onto consonants and digits
/// that cannot spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// 32-bit FNV-1a (`hash/fnv.New32a`).
fn fnv32a(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(16_777_619);
    }
    hash
}

/// JSON with every object's keys sorted (spew's `SortKeys`), nulls dropped.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The `pod-template-hash` of a template (`controller.ComputeHash`,
/// controller_utils.go): FNV-32a over the template, then the collision
/// count as 8 little-endian bytes when set, the decimal sum safe-encoded.
///
/// Upstream hashes spew's `%#v` printing of the Go struct
/// (`hashutil.DeepHashObject`); kscope holds objects as JSON, so it hashes
/// the template's JSON with sorted keys instead. The names differ from a
/// real cluster's for the same template, but are as stable: equal
/// templates (as stored, after defaulting) give equal hashes.
pub fn compute_hash(template: &Value, collision_count: Option<i32>) -> String {
    let text = serde_json::to_string(&canonical(template)).unwrap_or_default();
    let mut hash = fnv32a(text.as_bytes(), 0x811c_9dc5);
    if let Some(c) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        hash = fnv32a(&bytes, hash);
    }
    safe_encode(&hash.to_string())
}

/// Templates equal but for the `pod-template-hash` label (`EqualIgnoreHash`;
/// like `Semantic.DeepEqual`, missing and empty label maps are equal).
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    let strip = |t: &Value| {
        let mut t = canonical(t);
        if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            if let Some(labels) = m.get_mut("labels").and_then(Value::as_object_mut) {
                labels.remove(POD_TEMPLATE_HASH);
            }
            for field in ["labels", "annotations"] {
                if m.get(field).and_then(Value::as_object).is_some_and(Map::is_empty) {
                    m.remove(field);
                }
            }
        }
        if t.get("metadata").and_then(Value::as_object).is_some_and(Map::is_empty) {
            t.as_object_mut().map(|m| m.remove("metadata"));
        }
        t
    };
    strip(a) == strip(b)
}

/// `integer.RoundToInt32`: halves away from zero.
fn round_to_i32(a: f64) -> i32 {
    if a < 0.0 {
        (a - 0.5) as i32
    } else {
        (a + 0.5) as i32
    }
}

/// The deployment strategy.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// `RollingUpdate` with its maxSurge and maxUnavailable (int or percent).
    RollingUpdate {
        /// `maxSurge`.
        max_surge: Value,
        /// `maxUnavailable`.
        max_unavailable: Value,
    },
    /// `Recreate`.
    Recreate,
}

/// A condition of a Deployment's status.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When last updated (RFC 3339).
    pub last_update: String,
    /// When the status last changed (RFC 3339).
    pub last_transition: String,
    /// Why, in one word.
    pub reason: String,
    /// Why, for people.
    pub message: String,
}

impl Condition {
    /// `NewDeploymentCondition` at simulated time `now`.
    pub fn new(kind: &str, status: &str, reason: &str, message: &str, now: u64) -> Condition {
        Condition {
            kind: kind.into(),
            status: status.into(),
            last_update: rfc3339(now),
            last_transition: rfc3339(now),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn from_value(v: &Value) -> Condition {
        let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        Condition {
            kind: s("type"),
            status: s("status"),
            last_update: s("lastUpdateTime"),
            last_transition: s("lastTransitionTime"),
            reason: s("reason"),
            message: s("message"),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        m.insert("status".into(), json!(self.status));
        for (k, v) in [
            ("lastUpdateTime", &self.last_update),
            ("lastTransitionTime", &self.last_transition),
            ("reason", &self.reason),
            ("message", &self.message),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// A Deployment's status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// `observedGeneration`.
    pub observed_generation: i64,
    /// `replicas`: pods of all its ReplicaSets.
    pub replicas: i32,
    /// `updatedReplicas`: pods of the new ReplicaSet.
    pub updated: i32,
    /// `readyReplicas`.
    pub ready: i32,
    /// `availableReplicas`.
    pub available: i32,
    /// `unavailableReplicas`.
    pub unavailable: i32,
    /// The conditions, in order.
    pub conditions: Vec<Condition>,
    /// `collisionCount`.
    pub collision_count: Option<i32>,
}

impl Status {
    fn from_value(v: Option<&Value>) -> Status {
        let v = v.cloned().unwrap_or(json!({}));
        let i = |f: &str| int32(v.get(f)).unwrap_or(0);
        Status {
            observed_generation: v.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0),
            replicas: i("replicas"),
            updated: i("updatedReplicas"),
            ready: i("readyReplicas"),
            available: i("availableReplicas"),
            unavailable: i("unavailableReplicas"),
            conditions: v
                .get("conditions")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Condition::from_value).collect())
                .unwrap_or_default(),
            collision_count: int32(v.get("collisionCount")),
        }
    }

    /// The JSON form (zero counts left out, as `omitempty` does).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if self.observed_generation != 0 {
            m.insert("observedGeneration".into(), json!(self.observed_generation));
        }
        for (k, v) in [
            ("replicas", self.replicas),
            ("updatedReplicas", self.updated),
            ("readyReplicas", self.ready),
            ("availableReplicas", self.available),
            ("unavailableReplicas", self.unavailable),
        ] {
            if v != 0 {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.conditions.is_empty() {
            m.insert("conditions".into(), Value::Array(self.conditions.iter().map(Condition::to_value).collect()));
        }
        if let Some(c) = self.collision_count {
            m.insert("collisionCount".into(), json!(c));
        }
        Value::Object(m)
    }

    /// `GetDeploymentCondition`.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// `SetDeploymentCondition`: nothing when status and reason are the
    /// same; the transition time kept when only the reason changes.
    pub fn set_condition(&mut self, mut condition: Condition) {
        if let Some(current) = self.condition(&condition.kind) {
            if current.status == condition.status && current.reason == condition.reason {
                return;
            }
            if current.status == condition.status {
                condition.last_transition = current.last_transition.clone();
            }
        }
        self.remove_condition(&condition.kind.clone());
        self.conditions.push(condition);
    }

    /// `RemoveDeploymentCondition`.
    pub fn remove_condition(&mut self, kind: &str) {
        self.conditions.retain(|c| c.kind != kind);
    }
}

/// A Deployment, as the controller reads it.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// Being deleted.
    pub deleting: bool,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `spec.strategy`.
    pub strategy: Strategy,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: i64,
    /// `spec.revisionHistoryLimit` (None: keep all).
    pub revision_history_limit: Option<i32>,
    /// `spec.progressDeadlineSeconds` (None: no deadline).
    pub progress_deadline_seconds: Option<i32>,
    /// `spec.paused`.
    pub paused: bool,
    /// `spec.selector`.
    pub selector: Value,
    /// `spec.template`.
    pub template: Value,
    /// `status`.
    pub status: Status,
    /// The object as read.
    pub object: Value,
}

impl Deployment {
    /// Reads a Deployment; `None` when it lacks a name or selector.
    pub fn from_value(o: &Value) -> Option<Deployment> {
        let name = meta(o, "name").to_string();
        let selector = o.pointer("/spec/selector").filter(|v| v.is_object())?.clone();
        if name.is_empty() {
            return None;
        }
        let strategy = match o.pointer("/spec/strategy/type").and_then(Value::as_str) {
            Some("Recreate") => Strategy::Recreate,
            _ => Strategy::RollingUpdate {
                max_surge: o.pointer("/spec/strategy/rollingUpdate/maxSurge").cloned().unwrap_or(json!("25%")),
                max_unavailable: o
                    .pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                    .cloned()
                    .unwrap_or(json!("25%")),
            },
        };
        // HasProgressDeadline and HasRevisionHistoryLimit: MaxInt32 means none.
        let unless_max = |v: Option<i32>| v.filter(|n| *n != i32::MAX);
        Some(Deployment {
            name,
            namespace: meta(o, "namespace").to_string(),
            uid: meta(o, "uid").to_string(),
            generation: o.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0),
            deleting: o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()),
            annotations: string_map(o.pointer("/metadata/annotations")),
            replicas: int32(o.pointer("/spec/replicas")).unwrap_or(1).max(0),
            strategy,
            min_ready_seconds: o.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0),
            revision_history_limit: unless_max(int32(o.pointer("/spec/revisionHistoryLimit"))),
            progress_deadline_seconds: unless_max(int32(o.pointer("/spec/progressDeadlineSeconds"))),
            paused: o.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false),
            selector,
            template: o.pointer("/spec/template").filter(|t| t.is_object()).cloned().unwrap_or(json!({})),
            status: Status::from_value(o.get("status")),
            object: o.clone(),
        })
    }

    fn rolling(&self) -> bool {
        matches!(self.strategy, Strategy::RollingUpdate { .. })
    }

    fn fenceposts(&self) -> (i32, i32) {
        match &self.strategy {
            Strategy::RollingUpdate { max_surge, max_unavailable } => {
                resolve_fenceposts(Some(max_surge), Some(max_unavailable), self.replicas)
            }
            Strategy::Recreate => (0, 0),
        }
    }

    /// `MaxSurge`: 0 unless rolling.
    pub fn max_surge(&self) -> i32 {
        if !self.rolling() {
            return 0;
        }
        self.fenceposts().0
    }

    /// `MaxUnavailable`: 0 unless rolling or when scaled to 0; at most `replicas`.
    pub fn max_unavailable(&self) -> i32 {
        if !self.rolling() || self.replicas == 0 {
            return 0;
        }
        self.fenceposts().1.min(self.replicas)
    }

    /// The JSON object with this status and these annotations.
    pub fn to_value(&self) -> Value {
        let mut o = self.object.clone();
        if !o["metadata"].is_object() {
            o["metadata"] = json!({});
        }
        if self.annotations.is_empty() {
            o["metadata"].as_object_mut().map(|m| m.remove("annotations"));
        } else {
            o["metadata"]["annotations"] = json!(self.annotations);
        }
        o["status"] = self.status.to_value();
        o
    }
}

/// A ReplicaSet, as the controller reads and scales it.
#[derive(Clone, Debug)]
pub struct ReplicaSet {
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// `metadata.creationTimestamp` in simulated ms.
    pub created_ms: u64,
    /// `metadata.generation`.
    pub generation: i64,
    /// Being deleted.
    pub deleting: bool,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations` (as the controller would write them).
    pub annotations: BTreeMap<String, String>,
    /// `spec.replicas` (as the controller would write it).
    pub replicas: i32,
    /// `spec.minReadySeconds` (as the controller would write it).
    pub min_ready_seconds: i64,
    /// `spec.template`.
    pub template: Value,
    /// `status.replicas`.
    pub status_replicas: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// The object as read.
    pub object: Value,
    /// `ScalingReplicaSet` messages to record once the write succeeds.
    pub events: Vec<String>,
}

impl ReplicaSet {
    /// Reads a ReplicaSet; `None` without a name or a spec.
    pub fn from_value(o: &Value) -> Option<ReplicaSet> {
        let name = meta(o, "name").to_string();
        if name.is_empty() || !o.get("spec").is_some_and(Value::is_object) {
            return None;
        }
        let i = |p: &str| int32(o.pointer(p)).unwrap_or(0);
        Some(ReplicaSet {
            name,
            uid: meta(o, "uid").to_string(),
            created_ms: parse_rfc3339(meta(o, "creationTimestamp")).unwrap_or(0),
            generation: o.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0),
            deleting: o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()),
            labels: labels_of(o),
            annotations: string_map(o.pointer("/metadata/annotations")),
            replicas: int32(o.pointer("/spec/replicas")).unwrap_or(1),
            min_ready_seconds: o.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0),
            template: o.pointer("/spec/template").filter(|t| t.is_object()).cloned().unwrap_or(json!({})),
            status_replicas: i("/status/replicas"),
            ready: i("/status/readyReplicas"),
            available: i("/status/availableReplicas"),
            observed_generation: o.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0),
            object: o.clone(),
            events: Vec::new(),
        })
    }

    /// `deploymentutil.Revision` (0 when unset, `None` when malformed).
    pub fn revision(&self) -> Option<i64> {
        match self.annotations.get(REVISION) {
            None => Some(0),
            Some(v) => v.parse().ok(),
        }
    }

    fn annotation_i32(&self, key: &str) -> Option<i32> {
        self.annotations.get(key)?.parse().ok()
    }

    /// Whether the controller changed what it writes.
    fn changed(&self) -> bool {
        let original = ReplicaSet::from_value(&self.object);
        original.is_none_or(|o| {
            o.replicas != self.replicas
                || o.annotations != self.annotations
                || o.min_ready_seconds != self.min_ready_seconds
        })
    }

    /// The JSON object with the controller's changes.
    pub fn to_value(&self) -> Value {
        let mut o = self.object.clone();
        o["spec"]["replicas"] = json!(self.replicas);
        if self.min_ready_seconds == 0 {
            o["spec"].as_object_mut().map(|m| m.remove("minReadySeconds"));
        } else {
            o["spec"]["minReadySeconds"] = json!(self.min_ready_seconds);
        }
        if self.annotations.is_empty() {
            o["metadata"].as_object_mut().map(|m| m.remove("annotations"));
        } else {
            o["metadata"]["annotations"] = json!(self.annotations);
        }
        o
    }
}

/// `ReplicaSetsByCreationTimestamp` (name breaks ties).
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    a.created_ms.cmp(&b.created_ms).then_with(|| a.name.cmp(&b.name))
}

/// `ReplicaSetsBySizeNewer` (scale-up order) or `ReplicaSetsBySizeOlder`
/// (scale-down order): larger first, then newer or older first.
fn by_size(a: &ReplicaSet, b: &ReplicaSet, newer_first: bool) -> std::cmp::Ordering {
    b.replicas.cmp(&a.replicas).then_with(|| if newer_first { by_creation(b, a) } else { by_creation(a, b) })
}

/// `ReplicaSetsByRevision` (creation time breaks ties and parse errors).
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    match (a.revision(), b.revision()) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => by_creation(a, b),
    }
}

/// `SetReplicasAnnotations`; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let mut updated = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        if rs.annotations.get(k) != Some(&v.to_string()) {
            rs.annotations.insert(k.into(), v.to_string());
            updated = true;
        }
    }
    updated
}

/// `SetNewReplicaSetAnnotations`: the Deployment's annotations (but the
/// skipped ones), the revision when it is below `new_revision` (keeping the
/// old one in `revision-history`), and for a ReplicaSet about to be created
/// the replicas annotations; whether anything changed.
pub fn set_new_replica_set_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    for (k, v) in &d.annotations {
        if ANNOTATIONS_TO_SKIP.contains(&k.as_str()) || rs.annotations.get(k) == Some(v) {
            continue;
        }
        rs.annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = rs.annotations.get(REVISION).cloned();
    let old_int = match &old {
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) if v.is_empty() => 0,
            Err(_) => return false,
        },
        None => 0,
    };
    if old_int < new_revision {
        rs.annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = rs.annotations.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                rs.annotations.insert(REVISION_HISTORY.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    rs.annotations.insert(REVISION_HISTORY.into(), parts.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, d.replicas, d.replicas + d.max_surge()) {
        changed = true;
    }
    changed
}

/// `NewRSNewReplicas`: the size of the new ReplicaSet in a rollout.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    match &d.strategy {
        Strategy::RollingUpdate { max_surge, .. } => {
            let surge = scaled_value(max_surge, d.replicas, true).unwrap_or(0);
            let current: i32 = all.iter().map(|rs| rs.replicas).sum();
            let max_total = d.replicas + surge;
            if current >= max_total {
                return new.replicas;
            }
            let up = (max_total - current).min(d.replicas - new.replicas);
            new.replicas + up
        }
        Strategy::Recreate => d.replicas,
    }
}

/// `IsSaturated`: the new ReplicaSet has all the Deployment's replicas,
/// knows it, and all are available.
pub fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    rs.annotation_i32(DESIRED_REPLICAS) == Some(d.replicas) && rs.replicas == d.replicas && rs.available == d.replicas
}

/// `getReplicaSetFraction`: the replicas a ReplicaSet gains (or loses) when
/// the Deployment is scaled, by its share of the previous size.
fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if d.replicas == 0 {
        return -rs.replicas;
    }
    let deployment_replicas = d.replicas + d.max_surge();
    let annotated = rs.annotation_i32(MAX_REPLICAS).unwrap_or(d.status.replicas);
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs.replicas) * f64::from(deployment_replicas) / f64::from(annotated);
    round_to_i32(size) - rs.replicas
}

/// `GetProportion`: a ReplicaSet's share of `to_add`, bounded by what is
/// left to add.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs.replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &Status) -> bool {
    status.updated == d.replicas
        && status.replicas == d.replicas
        && status.available == d.replicas
        && status.observed_generation >= d.generation
}

/// `DeploymentProgressing`: more updated, ready or available pods, or
/// fewer old ones, than the Deployment's current status says.
pub fn deployment_progressing(d: &Deployment, new: &Status) -> bool {
    let old = &d.status;
    new.updated > old.updated
        || (new.replicas - new.updated) < (old.replicas - old.updated)
        || new.ready > old.ready
        || new.available > old.available
}

/// `DeploymentTimedOut`: the Progressing condition was last updated more
/// than `progressDeadlineSeconds` ago (never after a complete rollout).
pub fn deployment_timed_out(d: &Deployment, status: &Status, now: u64) -> bool {
    let Some(deadline) = d.progress_deadline_seconds else { return false };
    let Some(c) = status.condition("Progressing") else { return false };
    if c.reason == NEW_RS_AVAILABLE {
        return false;
    }
    if c.reason == TIMED_OUT {
        return true;
    }
    let from = parse_rfc3339(&c.last_update).unwrap_or(0);
    from + deadline.max(0) as u64 * 1000 < now
}

/// A write of a sync.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Adopt (patch in our controller reference) or release a ReplicaSet.
    Patch {
        /// The ReplicaSet.
        name: String,
        /// The strategic merge patch.
        patch: Value,
    },
    /// Create the new ReplicaSet; then record `event`.
    Create {
        /// The ReplicaSet.
        rs: Value,
        /// The `ScalingReplicaSet` message, when it starts with replicas.
        event: Option<String>,
    },
    /// Update a ReplicaSet; then record the events.
    Update {
        /// The ReplicaSet.
        rs: Value,
        /// `ScalingReplicaSet` messages.
        events: Vec<String>,
    },
    /// Delete an old ReplicaSet (revision history cleanup).
    Delete {
        /// Its name.
        name: String,
    },
}

/// What one sync of a Deployment does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// ReplicaSet writes.
    pub writes: Vec<Write>,
    /// The Deployment with its new status and annotations, to write to
    /// `/status` (after the new ReplicaSet's creation, when there is one).
    pub status: Option<Value>,
    /// Events about the Deployment to record now: (type, reason, message).
    pub events: Vec<(String, String, String)>,
    /// When to sync again to check the progress deadline.
    pub requeue_at: Option<u64>,
}

/// One sync's working state: the Deployment and its ReplicaSets as the
/// sync would leave them.
struct Sync {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    /// Index of the new ReplicaSet in `rss`.
    new: Option<usize>,
    /// The new ReplicaSet is to be created.
    creating: bool,
    deletes: Vec<String>,
    requeue_at: Option<u64>,
    now: u64,
}

impl Sync {
    fn old_indices(&self) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != self.new).collect()
    }

    fn active_old(&self) -> Vec<usize> {
        self.old_indices().into_iter().filter(|i| self.rss[*i].replicas > 0).collect()
    }

    fn all(&self) -> Vec<&ReplicaSet> {
        self.rss.iter().collect()
    }

    /// `getAllReplicaSetsAndSyncRevision` / `getNewReplicaSet`.
    fn new_and_old(&mut self, create: bool) {
        let mut order: Vec<usize> = (0..self.rss.len()).collect();
        order.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        self.new = order.into_iter().find(|i| equal_ignore_hash(&self.rss[*i].template, &self.d.template));
        let max_old = self.old_indices().iter().filter_map(|i| self.rss[*i].revision()).max().unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(i) = self.new {
            let d = self.d.clone();
            let rs = &mut self.rss[i];
            let annotations_updated = set_new_replica_set_annotations(&d, rs, new_revision, true);
            if annotations_updated || rs.min_ready_seconds != d.min_ready_seconds {
                // Upstream returns the updated ReplicaSet here; the
                // Deployment's revision follows in the next sync.
                rs.min_ready_seconds = d.min_ready_seconds;
                return;
            }
            let revision = rs.annotations.get(REVISION).cloned().unwrap_or_default();
            let name = rs.name.clone();
            self.d.annotations.insert(REVISION.into(), revision);
            if self.d.progress_deadline_seconds.is_some() && self.d.status.condition("Progressing").is_none() {
                let message = format!("Found new replica set \"{name}\"");
                self.d.status.set_condition(Condition::new("Progressing", "True", FOUND_NEW_RS, &message, self.now));
            }
            return;
        }
        if !create {
            return;
        }
        let d = &self.d;
        let hash = compute_hash(&d.template, d.status.collision_count);
        let mut template = d.template.clone();
        if !template["metadata"].is_object() {
            template["metadata"] = json!({});
        }
        if !template["metadata"]["labels"].is_object() {
            template["metadata"]["labels"] = json!({});
        }
        template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        let mut selector = d.selector.clone();
        if !selector["matchLabels"].is_object() {
            selector["matchLabels"] = json!({});
        }
        selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
        let name = format!("{}-{hash}", d.name);
        let mut spec = json!({"replicas": 0, "selector": selector, "template": template.clone()});
        if d.min_ready_seconds != 0 {
            spec["minReadySeconds"] = json!(d.min_ready_seconds);
        }
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d.namespace,
                "labels": template["metadata"]["labels"].clone(),
                "ownerReferences": [owner_reference(d)],
            },
            "spec": spec,
        });
        let Some(mut rs) = ReplicaSet::from_value(&object) else { return };
        rs.replicas = 0;
        rs.created_ms = u64::MAX;
        let count = {
            let mut all = self.all();
            all.push(&rs);
            new_rs_new_replicas(d, &all, &rs)
        };
        rs.replicas = count;
        let d = self.d.clone();
        set_new_replica_set_annotations(&d, &mut rs, new_revision, false);
        self.rss.push(rs);
        self.new = Some(self.rss.len() - 1);
        self.creating = true;
        self.d.annotations.insert(REVISION.into(), new_revision.to_string());
        if self.d.progress_deadline_seconds.is_some() {
            let message = format!("Created new replica set \"{name}\"");
            self.d.status.set_condition(Condition::new("Progressing", "True", NEW_REPLICA_SET, &message, self.now));
        }
    }

    /// `scaleReplicaSetAndRecordEvent`.
    fn scale_and_record(&mut self, i: usize, new_scale: i32) -> bool {
        if self.rss[i].replicas == new_scale {
            return false;
        }
        let op = if self.rss[i].replicas < new_scale { "up" } else { "down" };
        self.scale_replica_set(i, new_scale, op)
    }

    /// `scaleReplicaSet`: the size and the replicas annotations; whether
    /// the size changed.
    fn scale_replica_set(&mut self, i: usize, new_scale: i32, op: &str) -> bool {
        let (desired, max) = (self.d.replicas, self.d.replicas + self.d.max_surge());
        let rs = &mut self.rss[i];
        let old = rs.replicas;
        let size_changed = old != new_scale;
        rs.replicas = new_scale;
        set_replicas_annotations(rs, desired, max);
        if size_changed {
            rs.events.push(format!("Scaled {op} replica set {} from {old} to {new_scale}", rs.name));
        }
        size_changed
    }

    /// `scale` (sync.go): the only active ReplicaSet takes the whole size;
    /// a saturated new one leaves the old ones nothing; otherwise a
    /// rolling Deployment's change in size is spread over the active
    /// ReplicaSets in proportion to their sizes.
    fn scale(&mut self) {
        // FindActiveOrLatest.
        let mut olds = self.old_indices();
        olds.sort_by(|a, b| by_creation(&self.rss[*b], &self.rss[*a]));
        let mut all: Vec<usize> = olds.clone();
        all.extend(self.new);
        let active: Vec<usize> = all.iter().copied().filter(|i| self.rss[*i].replicas > 0).collect();
        let active_or_latest = match active.len() {
            0 => self.new.or(olds.first().copied()),
            1 => Some(active[0]),
            _ => None,
        };
        if active_or_latest.is_none() && all.is_empty() {
            return;
        }
        if let Some(i) = active_or_latest {
            if self.rss[i].replicas != self.d.replicas {
                self.scale_and_record(i, self.d.replicas);
            }
            return;
        }
        if let Some(n) = self.new {
            if is_saturated(&self.d, &self.rss[n]) {
                for i in self.active_old() {
                    self.scale_and_record(i, 0);
                }
                return;
            }
        }
        if !self.d.rolling() {
            return;
        }
        let mut active = active;
        let total: i32 = active.iter().map(|i| self.rss[*i].replicas).sum();
        let allowed = if self.d.replicas > 0 { self.d.replicas + self.d.max_surge() } else { 0 };
        let to_add = allowed - total;
        let op = match to_add.cmp(&0) {
            std::cmp::Ordering::Greater => {
                active.sort_by(|a, b| by_size(&self.rss[*a], &self.rss[*b], true));
                "up"
            }
            std::cmp::Ordering::Less => {
                active.sort_by(|a, b| by_size(&self.rss[*a], &self.rss[*b], false));
                "down"
            }
            std::cmp::Ordering::Equal => "",
        };
        let mut added = 0;
        let mut sizes: BTreeMap<usize, i32> = BTreeMap::new();
        for i in &active {
            let rs = &self.rss[*i];
            if to_add != 0 {
                let p = proportion(rs, &self.d, to_add, added);
                sizes.insert(*i, rs.replicas + p);
                added += p;
            } else {
                sizes.insert(*i, rs.replicas);
            }
        }
        for (k, i) in active.iter().enumerate() {
            let mut size = sizes.get(i).copied().unwrap_or(0);
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_replica_set(*i, size, op);
        }
    }

    /// `reconcileNewReplicaSet`; whether it scaled.
    fn reconcile_new(&mut self) -> bool {
        let Some(n) = self.new else { return false };
        let new = &self.rss[n];
        if new.replicas == self.d.replicas {
            return false;
        }
        if new.replicas > self.d.replicas {
            return self.scale_and_record(n, self.d.replicas);
        }
        let count = new_rs_new_replicas(&self.d, &self.all(), new);
        self.scale_and_record(n, count)
    }

    /// `reconcileOldReplicaSets`: scale old ReplicaSets down as far as
    /// `maxUnavailable` allows, counting the new ReplicaSet's unavailable
    /// pods; unhealthy replicas go first. Whether it scaled.
    fn reconcile_old(&mut self) -> bool {
        let Some(n) = self.new else { return false };
        let old = self.active_old();
        let old_count: i32 = old.iter().map(|i| self.rss[*i].replicas).sum();
        if old_count == 0 {
            return false;
        }
        let all_count: i32 = self.rss.iter().map(|rs| rs.replicas).sum();
        let min_available = self.d.replicas - self.d.max_unavailable();
        let new_unavailable = self.rss[n].replicas - self.rss[n].available;
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(old.clone(), max_scaled_down);
        let scaled = self.scale_down_old_for_rolling_update(old);
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas`: old ReplicaSets, oldest first, lose
    /// their unavailable replicas (at most `max` in all).
    fn cleanup_unhealthy(&mut self, mut old: Vec<usize>, max: i32) -> i32 {
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let mut total = 0;
        for i in old {
            if total >= max {
                break;
            }
            let rs = &self.rss[i];
            if rs.replicas == 0 || rs.replicas == rs.available {
                continue;
            }
            let down = (max - total).min(rs.replicas - rs.available);
            let target = rs.replicas - down;
            if target > rs.replicas {
                break;
            }
            self.scale_and_record(i, target);
            total += down;
        }
        total
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: the available pods above
    /// `replicas - maxUnavailable` go, from the oldest ReplicaSets.
    fn scale_down_old_for_rolling_update(&mut self, mut old: Vec<usize>) -> i32 {
        let min_available = self.d.replicas - self.d.max_unavailable();
        let available: i32 = self.rss.iter().map(|rs| rs.available).sum();
        if available <= min_available {
            return 0;
        }
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let want = available - min_available;
        let mut total = 0;
        for i in old {
            if total >= want {
                break;
            }
            let replicas = self.rss[i].replicas;
            if replicas == 0 {
                continue;
            }
            let down = replicas.min(want - total);
            self.scale_and_record(i, replicas - down);
            total += down;
        }
        total
    }

    /// `cleanupDeployment`: beyond `revisionHistoryLimit`, the oldest old
    /// ReplicaSets that are scaled to 0 with no pods are deleted.
    fn cleanup(&mut self) {
        let Some(limit) = self.d.revision_history_limit else { return };
        let mut cleanable: Vec<usize> = self.old_indices().into_iter().filter(|i| !self.rss[*i].deleting).collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| by_revision(&self.rss[*a], &self.rss[*b]));
        for i in cleanable.into_iter().take(diff as usize) {
            let rs = &self.rss[i];
            if rs.status_replicas != 0 || rs.replicas != 0 || rs.generation > rs.observed_generation || rs.deleting {
                continue;
            }
            self.deletes.push(rs.name.clone());
        }
    }

    /// `calculateStatus`.
    fn calculate_status(&self) -> Status {
        let sum = |f: fn(&ReplicaSet) -> i32| self.rss.iter().map(f).sum::<i32>();
        let available = sum(|rs| rs.available);
        let total = sum(|rs| rs.replicas);
        let mut status = Status {
            observed_generation: self.d.generation,
            replicas: sum(|rs| rs.status_replicas),
            updated: self.new.map(|n| self.rss[n].status_replicas).unwrap_or(0),
            ready: sum(|rs| rs.ready),
            available,
            unavailable: (total - available).max(0),
            conditions: self.d.status.conditions.clone(),
            collision_count: self.d.status.collision_count,
        };
        if available >= self.d.replicas - self.d.max_unavailable() {
            status.set_condition(Condition::new(
                "Available",
                "True",
                MIN_AVAILABLE,
                "Deployment has minimum availability.",
                self.now,
            ));
        } else {
            status.set_condition(Condition::new(
                "Available",
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
                self.now,
            ));
        }
        status
    }

    /// `syncDeploymentStatus`.
    fn sync_status(&mut self) {
        self.d.status = self.calculate_status();
    }

    /// `syncRolloutStatus` (progress.go): the status with the Progressing
    /// condition, and a requeue at the progress deadline when stuck.
    fn sync_rollout_status(&mut self) {
        let mut status = self.calculate_status();
        let d = &self.d;
        if d.progress_deadline_seconds.is_none() {
            status.remove_condition("Progressing");
        }
        let current = d.status.condition("Progressing").cloned();
        let complete_already =
            status.replicas == status.updated && current.as_ref().is_some_and(|c| c.reason == NEW_RS_AVAILABLE);
        let new_name = self.new.map(|n| self.rss[n].name.clone());
        if d.progress_deadline_seconds.is_some() && !complete_already {
            if deployment_complete(d, &status) {
                let message = match &new_name {
                    Some(n) => format!("ReplicaSet \"{n}\" has successfully progressed."),
                    None => String::new(),
                };
                status.set_condition(Condition::new("Progressing", "True", NEW_RS_AVAILABLE, &message, self.now));
            } else if deployment_progressing(d, &status) {
                let message = match &new_name {
                    Some(n) => format!("ReplicaSet \"{n}\" is progressing."),
                    None => format!("Deployment \"{}\" is progressing.", d.name),
                };
                let mut condition = Condition::new("Progressing", "True", REPLICA_SET_UPDATED, &message, self.now);
                // Progress moves lastUpdateTime even with the same reason.
                if let Some(c) = &current {
                    if c.status == "True" {
                        condition.last_transition = c.last_transition.clone();
                    }
                    status.remove_condition("Progressing");
                }
                status.set_condition(condition);
            } else if deployment_timed_out(d, &status, self.now) {
                let message = match &new_name {
                    Some(n) => format!("ReplicaSet \"{n}\" has timed out progressing."),
                    None => format!("Deployment \"{}\" has timed out progressing.", d.name),
                };
                status.set_condition(Condition::new("Progressing", "False", TIMED_OUT, &message, self.now));
            }
        }
        // No ReplicaSet reports a ReplicaFailure condition in kscope.
        status.remove_condition("ReplicaFailure");
        if status == d.status {
            self.requeue_at = requeue_stuck(d, &status, self.now);
        }
        self.d.status = status;
    }

    /// `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if self.d.progress_deadline_seconds.is_none() {
            return;
        }
        let current = self.d.status.condition("Progressing");
        if current.is_some_and(|c| c.reason == TIMED_OUT) {
            return;
        }
        let paused_exists = current.is_some_and(|c| c.reason == PAUSED);
        if self.d.paused && !paused_exists {
            let c = Condition::new("Progressing", "Unknown", PAUSED, "Deployment is paused", self.now);
            self.d.status.set_condition(c);
        } else if !self.d.paused && paused_exists {
            let c = Condition::new("Progressing", "Unknown", RESUMED, "Deployment is resumed", self.now);
            self.d.status.set_condition(c);
        }
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another
    /// `spec.replicas`.
    fn is_scaling_event(&self) -> bool {
        self.rss
            .iter()
            .filter(|rs| rs.replicas > 0)
            .filter_map(|rs| rs.annotation_i32(DESIRED_REPLICAS))
            .any(|desired| desired != self.d.replicas)
    }

    /// `sync` (sync.go): scaling only, for paused Deployments and scaling events.
    fn sync_scaling(&mut self) {
        self.new_and_old(false);
        self.scale();
        if self.d.paused {
            self.cleanup();
        }
        self.sync_status();
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self) {
        self.new_and_old(true);
        if self.reconcile_new() || self.reconcile_old() {
            self.sync_rollout_status();
            return;
        }
        if deployment_complete(&self.d, &self.d.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `rolloutRecreate`: old ReplicaSets to 0; once none of their pods
    /// runs, the new one is created at full size.
    fn rollout_recreate(&mut self, old_pods_running: &dyn Fn(Option<&str>) -> bool) {
        self.new_and_old(false);
        let mut scaled = false;
        for i in self.active_old() {
            scaled |= self.scale_and_record(i, 0);
        }
        if scaled {
            self.sync_rollout_status();
            return;
        }
        let old_replicas: i32 = self.old_indices().iter().map(|i| self.rss[*i].status_replicas).sum();
        let new_uid = self.new.map(|n| self.rss[n].uid.clone());
        if old_replicas > 0 || old_pods_running(new_uid.as_deref()) {
            self.sync_rollout_status();
            return;
        }
        if self.new.is_none() {
            self.new_and_old(true);
        }
        if let Some(n) = self.new {
            self.scale_and_record(n, self.d.replicas);
        }
        if deployment_complete(&self.d, &self.d.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }
}

/// `requeueStuckDeployment`: when a rollout shows no progress, sync again
/// at its deadline (upstream requeues with the rate limiter when less than
/// a second is left; kscope requeues at the deadline itself).
fn requeue_stuck(d: &Deployment, status: &Status, now: u64) -> Option<u64> {
    let deadline = d.progress_deadline_seconds?;
    let c = d.status.condition("Progressing")?;
    if deployment_complete(d, status) || c.reason == TIMED_OUT {
        return None;
    }
    let from = parse_rfc3339(&c.last_update).unwrap_or(0);
    // Timed out once strictly past the deadline (whole seconds on the clock).
    Some((from + deadline.max(0) as u64 * 1000 + 1).max(now + 1))
}

/// The ownerReference a Deployment puts on its ReplicaSets.
fn owner_reference(d: &Deployment) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name, "uid": d.uid,
        "controller": true, "blockOwnerDeletion": true})
}

/// One sync of Deployment `d` (`syncDeployment`): the writes it makes,
/// from the Deployment, the ReplicaSets of its namespace and its pods (only
/// read by a Recreate rollout: callers may pass none for a RollingUpdate).
pub fn plan(d: &Value, replica_sets: &[&Value], pods: &[&Value], now: u64) -> Plan {
    let mut p = Plan::default();
    let Some(d) = Deployment::from_value(d) else { return p };
    let selector = Selector::from_label_selector(&d.selector);
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        p.events.push((
            "Warning".into(),
            "SelectingAll".into(),
            "This deployment is selecting all pods. A non-empty selector is required.".into(),
        ));
        if d.status.observed_generation < d.generation {
            let mut d = d.clone();
            d.status.observed_generation = d.generation;
            p.status = Some(d.to_value());
        }
        return p;
    };
    // getReplicaSetsForDeployment: ClaimReplicaSets.
    let mut claimed = Vec::new();
    for o in replica_sets {
        let Some(rs) = ReplicaSet::from_value(o) else { continue };
        let matches = selector.matches(&rs.labels);
        match controller_ref(o) {
            Some((_, _, uid)) if uid == d.uid => {
                if matches || d.deleting {
                    claimed.push(rs);
                } else {
                    let patch =
                        json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": d.uid}], "uid": rs.uid}});
                    p.writes.push(Write::Patch { name: rs.name, patch });
                }
            }
            None if matches && !d.deleting && !rs.deleting => {
                let patch = json!({"metadata": {"ownerReferences": [owner_reference(&d)], "uid": rs.uid}});
                p.writes.push(Write::Patch { name: rs.name, patch });
            }
            _ => {}
        }
    }
    if !p.writes.is_empty() {
        // Adoptions and releases first: the next sync sees them.
        return p;
    }
    let rs_uids: BTreeSet<String> = claimed.iter().map(|rs| rs.uid.clone()).collect();
    let owned_pods: Vec<(String, String)> = pods
        .iter()
        .filter(|pod| selector.matches(&labels_of(pod)))
        .filter_map(|pod| {
            let (kind, _, uid) = controller_ref(pod)?;
            let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default().to_string();
            (kind == "ReplicaSet" && rs_uids.contains(&uid)).then_some((uid, phase))
        })
        .collect();
    let original = d.clone();
    let mut s = Sync { d, rss: claimed, new: None, creating: false, deletes: Vec::new(), requeue_at: None, now };
    if s.d.deleting {
        s.new_and_old(false);
        s.sync_status();
    } else {
        s.check_paused_conditions();
        if s.d.paused {
            s.sync_scaling();
        } else {
            let scaling = {
                let mut probe = Sync {
                    d: s.d.clone(),
                    rss: s.rss.clone(),
                    new: None,
                    creating: false,
                    deletes: Vec::new(),
                    requeue_at: None,
                    now,
                };
                probe.new_and_old(false);
                probe.is_scaling_event()
            };
            if scaling {
                s.sync_scaling();
            } else if s.d.rolling() {
                s.rollout_rolling();
            } else {
                // oldPodsRunning: a pod of an old ReplicaSet not yet finished.
                let running = |new_uid: Option<&str>| {
                    owned_pods
                        .iter()
                        .any(|(uid, phase)| Some(uid.as_str()) != new_uid && phase != "Failed" && phase != "Succeeded")
                };
                s.rollout_recreate(&running);
            }
        }
    }
    match s.new.filter(|_| s.creating) {
        // Upstream's sync goes on with the created ReplicaSet only when the
        // creation succeeded; kscope sends the creation alone and the next
        // sync (on the ReplicaSet's arrival) does the rest.
        Some(n) => {
            let rs = &s.rss[n];
            let event =
                (rs.replicas > 0).then(|| format!("Scaled up replica set {} from 0 to {}", rs.name, rs.replicas));
            p.writes.push(Write::Create { rs: rs.to_value(), event });
        }
        None => {
            for rs in s.rss.iter().filter(|rs| rs.changed()) {
                p.writes.push(Write::Update { rs: rs.to_value(), events: rs.events.clone() });
            }
            for name in &s.deletes {
                p.writes.push(Write::Delete { name: name.clone() });
            }
        }
    }
    if s.d.status != original.status || s.d.annotations != original.annotations {
        p.status = Some(s.d.to_value());
    }
    p.requeue_at = s.requeue_at;
    p
}

#[derive(Clone, Debug)]
enum Request {
    /// The new ReplicaSet's creation; the Deployment's status to write after it.
    Create { deployment: String, status: Option<Value>, event: Option<String>, name: String },
    /// A ReplicaSet update with the events it records about the Deployment `object`.
    Update { deployment: String, events: Vec<String>, object: Value },
    /// Another write for the Deployment.
    Other { deployment: String },
    /// An event.
    Event,
}

/// The controller's state.
#[derive(Debug)]
pub struct DeploymentController {
    dirty: BTreeSet<String>,
    /// Requests in flight per Deployment.
    in_flight: BTreeMap<String, usize>,
    /// Deployments to sync again after a failed write, not before.
    delayed: BTreeMap<String, u64>,
    /// Deployments to sync again at their progress deadline.
    deadlines: BTreeMap<String, u64>,
    failures: BTreeMap<String, u32>,
    /// Requests in flight by tag, with when they were sent.
    requests: BTreeMap<u64, (Request, u64)>,
    /// The Deployment objects in flight with a creation, by key.
    pending: BTreeMap<String, Value>,
    next_tag: u64,
    recorder: Option<EventRecorder>,
    known: usize,
    created: u64,
}

impl Default for DeploymentController {
    fn default() -> Self {
        DeploymentController {
            dirty: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            delayed: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            failures: BTreeMap::new(),
            requests: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_tag: TAG_BASE,
            recorder: None,
            known: 0,
            created: 0,
        }
    }
}

impl DeploymentController {
    /// Deployments known.
    pub fn count(&self) -> usize {
        self.known
    }

    /// ReplicaSets created so far.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// Whether `tag` is one of this controller's.
    pub fn owns(tag: u64) -> bool {
        (TAG_BASE..TAG_BASE << 1).contains(&tag)
    }

    fn tag(&mut self, request: Request, now: u64) -> u64 {
        self.next_tag += 1;
        if let Request::Create { deployment, .. } | Request::Update { deployment, .. } | Request::Other { deployment } =
            &request
        {
            *self.in_flight.entry(deployment.clone()).or_insert(0) += 1;
        }
        self.requests.insert(self.next_tag, (request, now));
        self.next_tag
    }

    /// A Deployment changed: sync it.
    pub fn on_deployment(&mut self, change: &Change) {
        match change {
            Change::Added(o) | Change::Modified(_, o) => {
                self.dirty.insert(object_key(o));
            }
            Change::Deleted(o) => {
                let key = object_key(o);
                self.dirty.remove(&key);
                self.delayed.remove(&key);
                self.deadlines.remove(&key);
                self.failures.remove(&key);
            }
        }
    }

    /// The Deployment controlling `rs`, or for an orphan those whose
    /// selector matches it (`getDeploymentsForReplicaSet`).
    fn owners(rs: &Value, deployments: &Reflector) -> Vec<String> {
        let namespace = meta(rs, "namespace");
        if let Some((kind, name, _)) = controller_ref(rs) {
            return if kind == "Deployment" { vec![format!("{namespace}/{name}")] } else { Vec::new() };
        }
        let labels = labels_of(rs);
        if labels.is_empty() {
            return Vec::new();
        }
        deployments
            .store()
            .iter()
            .filter(|(_, d)| meta(d, "namespace") == namespace)
            .filter(|(_, d)| {
                d.pointer("/spec/selector")
                    .and_then(Selector::from_label_selector)
                    .is_some_and(|s| !s.is_empty() && s.matches(&labels))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A ReplicaSet changed: sync its Deployment (old and new owners).
    pub fn on_replica_set(&mut self, change: &Change, deployments: &Reflector) {
        match change {
            Change::Added(rs) | Change::Deleted(rs) => self.dirty.extend(Self::owners(rs, deployments)),
            Change::Modified(old, rs) => {
                self.dirty.extend(Self::owners(old, deployments));
                self.dirty.extend(Self::owners(rs, deployments));
            }
        }
    }

    /// A pod changed: a Recreate rollout waits for old pods to go, so the
    /// Deployment owning the pod's ReplicaSet is synced when one goes.
    pub fn on_pod(&mut self, change: &Change, replica_sets: &Reflector) {
        let pod = match change {
            Change::Deleted(p) => p,
            Change::Modified(_, p) if p.pointer("/status/phase").and_then(Value::as_str) == Some("Failed") => p,
            Change::Modified(_, p) if p.pointer("/status/phase").and_then(Value::as_str) == Some("Succeeded") => p,
            _ => return,
        };
        let Some((kind, name, _)) = controller_ref(pod) else { return };
        if kind != "ReplicaSet" {
            return;
        }
        let key = format!("{}/{name}", meta(pod, "namespace"));
        if let Some(rs) = replica_sets.store().get(&key) {
            if let Some((kind, d, _)) = controller_ref(rs) {
                if kind == "Deployment" {
                    self.dirty.insert(format!("{}/{d}", meta(rs, "namespace")));
                }
            }
        }
    }

    /// Moves Deployments whose delay or deadline is over back to the dirty
    /// set; whether any were.
    pub fn expire(&mut self, now: u64) -> bool {
        let mut any = self.forget_lost(now);
        for map in [&mut self.delayed, &mut self.deadlines] {
            let due: Vec<String> = map.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
            for k in due {
                map.remove(&k);
                self.dirty.insert(k);
                any = true;
            }
        }
        any
    }

    /// A request answered or given up: its Deployment, which has one
    /// request fewer in flight.
    fn answered(&mut self, request: &Request) -> Option<String> {
        let key = match request {
            Request::Create { deployment, .. } | Request::Update { deployment, .. } | Request::Other { deployment } => {
                deployment.clone()
            }
            Request::Event => return None,
        };
        if let Some(n) = self.in_flight.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&key);
            }
        }
        Some(key)
    }

    /// Gives up on requests unanswered for [`IN_FLIGHT_TIMEOUT_MS`](super::workqueue::IN_FLIGHT_TIMEOUT_MS) (lost
    /// to a partition or a restarted apiserver): they count as failed
    /// writes, so their Deployment is synced again after a back-off instead
    /// of waiting forever; whether any Deployment became due.
    fn forget_lost(&mut self, now: u64) -> bool {
        let lost = expired(&self.requests, now);
        let mut any = false;
        for tag in lost {
            let Some((request, _)) = self.requests.remove(&tag) else { continue };
            let Some(key) = self.answered(&request) else { continue };
            if matches!(request, Request::Create { .. }) {
                self.pending.remove(&key);
            }
            self.retry_later(&key, now);
            any = true;
        }
        any
    }

    /// The next time a delayed Deployment is due.
    pub fn next_due(&self) -> Option<u64> {
        self.delayed.values().chain(self.deadlines.values()).min().copied()
    }

    /// Syncs every dirty Deployment whose writes are all answered.
    pub fn sync(
        &mut self,
        pods: &Reflector,
        replica_sets: &Reflector,
        deployments: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        self.known = deployments.store().len();
        for key in self.dirty.clone() {
            if self.in_flight.get(&key).is_some_and(|n| *n > 0) {
                continue;
            }
            if self.delayed.get(&key).is_some_and(|t| *t > now) && self.failures.contains_key(&key) {
                continue;
            }
            self.dirty.remove(&key);
            let Some(d) = deployments.store().get(&key) else { continue };
            let namespace = meta(d, "namespace");
            let rss: Vec<&Value> =
                replica_sets.store().values().filter(|rs| meta(rs, "namespace") == namespace).collect();
            // Only a Recreate rollout looks at pods (oldPodsRunning); listing
            // them for every sync of a rolling Deployment costs a scan of
            // every pod of the namespace for nothing.
            let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
            let ps: Vec<&Value> = if recreate {
                pods.store().values().filter(|p| meta(p, "namespace") == namespace).collect()
            } else {
                Vec::new()
            };
            let plan = plan(d, &rss, &ps, now);
            if plan.writes.is_empty() && plan.status.is_none() {
                // A sync without writes succeeded: the rate limiter forgets the key.
                self.failures.remove(&key);
            }
            self.apply(&key, d, plan, now, out);
        }
    }

    fn apply(&mut self, key: &str, d: &Value, plan: Plan, now: u64, out: &mut Outbox) {
        let namespace = meta(d, "namespace").to_string();
        let name = meta(d, "name").to_string();
        for (kind, reason, message) in &plan.events {
            self.event(d, kind, reason, message, now, out);
        }
        let rs_path = |n: &str| format!("/apis/apps/v1/namespaces/{namespace}/replicasets/{n}");
        let mut status = plan.status;
        for w in plan.writes {
            match w {
                Write::Patch { name: rs, patch } => {
                    let mut request = ApiRequest::new(0, Method::Patch, rs_path(&rs)).with_body(patch);
                    request.content_type = Some("application/strategic-merge-patch+json".into());
                    let tag = self.tag(Request::Other { deployment: key.to_string() }, now);
                    out.send(request, tag);
                }
                Write::Create { rs, event } => {
                    let rs_name = meta(&rs, "name").to_string();
                    let path = format!("/apis/apps/v1/namespaces/{namespace}/replicasets");
                    let tag = self.tag(
                        Request::Create { deployment: key.to_string(), status: status.take(), event, name: rs_name },
                        now,
                    );
                    self.pending.insert(key.to_string(), d.clone());
                    out.send(ApiRequest::new(0, Method::Post, path).with_body(rs), tag);
                }
                Write::Update { rs, events } => {
                    let tag = self.tag(Request::Update { deployment: key.to_string(), events, object: d.clone() }, now);
                    out.send(ApiRequest::new(0, Method::Put, rs_path(meta(&rs, "name"))).with_body(rs), tag);
                }
                Write::Delete { name: rs } => {
                    let tag = self.tag(Request::Other { deployment: key.to_string() }, now);
                    out.send(ApiRequest::new(0, Method::Delete, rs_path(&rs)), tag);
                }
            }
        }
        if let Some(body) = status {
            self.put_status(key, &namespace, &name, body, now, out);
        }
        match plan.requeue_at {
            Some(t) => self.deadlines.insert(key.to_string(), t),
            None => self.deadlines.remove(key),
        };
    }

    fn put_status(&mut self, key: &str, namespace: &str, name: &str, body: Value, now: u64, out: &mut Outbox) {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status");
        let tag = self.tag(Request::Other { deployment: key.to_string() }, now);
        out.send(ApiRequest::new(0, Method::Put, path).with_body(body), tag);
    }

    /// An answer to one of the controller's requests.
    pub fn on_response(
        &mut self,
        tag: u64,
        response: &ApiResponse,
        replica_sets: &Reflector,
        now: u64,
        out: &mut Outbox,
    ) {
        let Some((request, _)) = self.requests.remove(&tag) else { return };
        let ok = response.code < 300;
        let Some(key) = self.answered(&request) else { return };
        let deployment = self.pending.get(&key).cloned();
        match request {
            Request::Create { status, event, name, .. } => {
                self.pending.remove(&key);
                let Some(d) = deployment else { return };
                let (namespace, dname) = (meta(&d, "namespace").to_string(), meta(&d, "name").to_string());
                if ok {
                    self.created += 1;
                    if let Some(message) = event {
                        self.event(&d, "Normal", "ScalingReplicaSet", &message, now, out);
                    }
                    if let Some(body) = status {
                        self.put_status(&key, &namespace, &dname, body, now, out);
                    }
                } else if response.code == 409 {
                    // AlreadyExists: ours with the same template is the new
                    // ReplicaSet; anything else is a hash collision.
                    let existing = replica_sets.store().get(&format!("{namespace}/{name}"));
                    let Some(existing) = existing else {
                        self.retry_later(&key, now);
                        return;
                    };
                    let ours = controller_ref(existing).is_some_and(|(_, _, uid)| uid == meta(&d, "uid"));
                    let same = equal_ignore_hash(
                        existing.pointer("/spec/template").unwrap_or(&Value::Null),
                        d.pointer("/spec/template").unwrap_or(&Value::Null),
                    );
                    if !(ours && same) {
                        if let Some(mut dep) = Deployment::from_value(&d) {
                            dep.status.collision_count = Some(dep.status.collision_count.unwrap_or(0) + 1);
                            let mut body = d.clone();
                            body["status"] = dep.status.to_value();
                            self.put_status(&key, &namespace, &dname, body, now, out);
                        }
                    }
                    self.retry_later(&key, now);
                } else {
                    let reason = response.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str);
                    let message = format!("Failed to create new replica set \"{name}\": {}", reason.unwrap_or("error"));
                    if let Some(mut dep) = Deployment::from_value(&d) {
                        if dep.progress_deadline_seconds.is_some() {
                            let c = Condition::new("Progressing", "False", FAILED_RS_CREATE, &message, now);
                            dep.status.set_condition(c);
                            let mut body = d.clone();
                            body["status"] = dep.status.to_value();
                            self.put_status(&key, &namespace, &dname, body, now, out);
                        }
                    }
                    self.event(&d, "Warning", FAILED_RS_CREATE, &message, now, out);
                    self.retry_later(&key, now);
                }
            }
            Request::Update { events, object, .. } => {
                if ok {
                    self.failures.remove(&key);
                    for message in events {
                        self.event(&object, "Normal", "ScalingReplicaSet", &message, now, out);
                    }
                } else {
                    self.retry_later(&key, now);
                }
            }
            Request::Other { .. } => {
                if ok || response.code == 404 {
                    self.failures.remove(&key);
                } else {
                    self.retry_later(&key, now);
                }
            }
            Request::Event => {}
        }
    }

    /// A failed write is retried after a delay doubling from 5 ms to 1000 s
    /// (the workqueue's `AddRateLimited`).
    fn retry_later(&mut self, key: &str, now: u64) {
        let n = self.failures.entry(key.to_string()).or_insert(0);
        let delay = RETRY_BASE_MS.saturating_mul(1u64 << (*n).min(40)).min(RETRY_MAX_MS);
        *n += 1;
        self.delayed.insert(key.to_string(), now + delay);
        self.dirty.insert(key.to_string());
    }

    /// A legacy (core/v1) event about the Deployment, through client-go's
    /// recorder ([`EventRecorder`]: a repeat counts on the first).
    fn event(&mut self, d: &Value, kind: &str, reason: &str, message: &str, now: u64, out: &mut Outbox) {
        let object = ObjectReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: meta(d, "namespace").to_string(),
            name: meta(d, "name").to_string(),
            uid: meta(d, "uid").to_string(),
            resource_version: meta(d, "resourceVersion").to_string(),
            field_path: String::new(),
        };
        let request = self
            .recorder
            .get_or_insert_with(|| EventRecorder::new(COMPONENT, ""))
            .event(&object, kind, reason, message, now);
        let tag = self.tag(Request::Event, now);
        out.send(request, tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment of `replicas` with maxSurge and maxUnavailable (JSON:
    /// ints or percents) at generation 1, uid `d-uid`.
    fn deployment(replicas: i32, max_surge: Value, max_unavailable: Value) -> Deployment {
        let o = json!({
            "metadata": {"name": "foo", "namespace": "default", "uid": "d-uid", "generation": 1},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "foo"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
                "template": {"metadata": {"labels": {"app": "foo"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
        });
        Deployment::from_value(&o).unwrap()
    }

    /// A ReplicaSet `name` created at `created_s` with `replicas` of which
    /// `available` are available, its template's image `image`.
    fn rs(name: &str, created_s: u64, replicas: i32, available: i32, image: &str) -> ReplicaSet {
        let o = json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"),
                "creationTimestamp": rfc3339(created_s * 1000), "generation": 1,
                "labels": {"app": "foo", "pod-template-hash": name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "foo", "uid": "d-uid", "controller": true}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "foo", "pod-template-hash": name}},
                "template": {"metadata": {"labels": {"app": "foo", "pod-template-hash": name}},
                    "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available, "observedGeneration": 1},
        });
        ReplicaSet::from_value(&o).unwrap()
    }

    fn sync(d: Deployment, rss: Vec<ReplicaSet>) -> Sync {
        Sync { d, rss, new: None, creating: false, deletes: Vec::new(), requeue_at: None, now: 100_000 }
    }

    #[test]
    fn scaled_values_round_surge_up_and_unavailable_down() {
        // intstr_test.go TestGetScaledValueFromIntOrPercent.
        assert_eq!(scaled_value(&json!("10%"), 10, true), Some(1));
        assert_eq!(scaled_value(&json!("10%"), 10, false), Some(1));
        assert_eq!(scaled_value(&json!("10%"), 5, true), Some(1));
        assert_eq!(scaled_value(&json!("10%"), 5, false), Some(0));
        assert_eq!(scaled_value(&json!(5), 100, true), Some(5));
        assert_eq!(scaled_value(&json!("25%"), 10, true), Some(3));
        assert_eq!(scaled_value(&json!("25%"), 10, false), Some(2));
        assert_eq!(scaled_value(&json!("10"), 10, false), None);
        assert_eq!(scaled_value(&json!("x%"), 10, false), None);
    }

    #[test]
    fn fenceposts_resolve_to_one_unavailable_when_both_are_zero() {
        // deployment_util_test.go TestResolveFenceposts.
        let cases = [
            (json!("0"), json!("0"), 0, None),
            (json!("39%"), json!("39%"), 10, Some((4, 3))),
            (json!("oops"), json!("39%"), 10, None),
            (json!("55%"), json!("urg"), 10, None),
            (json!("5"), json!("2"), 10, None),
            (json!(5), json!(2), 10, Some((5, 2))),
            (json!("0%"), json!("0%"), 10, Some((0, 1))),
            (json!(0), json!(0), 10, Some((0, 1))),
            (json!("1%"), json!("1%"), 10, Some((1, 0))),
        ];
        for (surge, unavailable, desired, want) in cases {
            let valid =
                scaled_value(&surge, desired, true).is_some() && scaled_value(&unavailable, desired, false).is_some();
            if let Some(want) = want {
                assert!(valid);
                assert_eq!(
                    resolve_fenceposts(Some(&surge), Some(&unavailable), desired),
                    want,
                    "{surge} {unavailable}"
                );
            } else {
                // Upstream returns an error; validation keeps such values out.
                assert!(!valid || surge == json!("0"), "{surge} {unavailable}");
            }
        }
        let d = deployment(0, json!(1), json!(1));
        assert_eq!(d.max_unavailable(), 0, "nothing may be unavailable of 0 replicas");
        let d = deployment(2, json!(0), json!(5));
        assert_eq!(d.max_unavailable(), 2, "at most all replicas");
    }

    #[test]
    fn pod_template_hashes_are_stable_safe_encoded_and_moved_by_collisions() {
        let t = deployment(1, json!(1), json!(0)).template;
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t, None));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)) && !h.is_empty() && h.len() <= 10, "{h}");
        // Key order does not matter; content does.
        let reordered = json!({"spec": t["spec"].clone(), "metadata": t["metadata"].clone()});
        assert_eq!(compute_hash(&reordered, None), h);
        let mut other = t.clone();
        other["spec"]["containers"][0]["image"] = json!("v2");
        assert_ne!(compute_hash(&other, None), h);
        assert_ne!(compute_hash(&t, Some(1)), h);
        assert_ne!(compute_hash(&t, Some(1)), compute_hash(&t, Some(2)));
        // rand.SafeEncodeString maps bytes onto its alphabet by value.
        assert_eq!(safe_encode("0123"), "4567");
        assert_eq!(fnv32a(b"", 0x811c_9dc5), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a", 0x811c_9dc5), 0xe40c_292c);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let d = deployment(1, json!(1), json!(0));
        let r = rs("foo-abc", 1, 1, 1, "v1");
        assert!(equal_ignore_hash(&r.template, &d.template));
        assert!(!equal_ignore_hash(&rs("foo-abc", 1, 1, 1, "v2").template, &d.template));
        assert!(equal_ignore_hash(&json!({"metadata": {"labels": {}}, "spec": {}}), &json!({"spec": {}})));
    }

    #[test]
    fn new_replica_set_size_stays_within_max_surge() {
        // deployment_util_test.go TestNewRSNewReplicas.
        let cases = [
            // (strategy rolling?, deployment replicas, maxSurge, old replicas, new replicas, want)
            (true, 1, 1, 5, 0, 0),
            (true, 6, 10, 5, 0, 6),
            (false, 3, 0, 5, 0, 3),
            (true, 10, 3, 10, 0, 3),
            (true, 10, 3, 8, 2, 5),
            (true, 10, 3, 0, 10, 10),
        ];
        for (rolling, replicas, surge, old, new, want) in cases {
            let mut d = deployment(replicas, json!(surge), json!(1));
            if !rolling {
                d.strategy = Strategy::Recreate;
            }
            let o = rs("old", 1, old, old, "v0");
            let n = rs("new", 2, new, 0, "v1");
            assert_eq!(new_rs_new_replicas(&d, &[&o, &n], &n), want, "{replicas} {surge} {old} {new}");
        }
    }

    /// Runs `scale` for a Deployment scaled from `from` to `to` replicas
    /// (maxSurge 0, maxUnavailable 1) over (name, created, replicas)
    /// ReplicaSets, the first the new one; the sizes after.
    fn proportional(from: i32, to: i32, sets: &[(&str, u64, i32)]) -> Vec<i32> {
        let mut rss: Vec<ReplicaSet> = sets
            .iter()
            .enumerate()
            .map(|(i, (name, created, replicas))| {
                let mut r = rs(name, *created, *replicas, *replicas, if i == 0 { "v1" } else { name });
                set_replicas_annotations(&mut r, from, from);
                r
            })
            .collect();
        rss.iter_mut().for_each(|r| r.events.clear());
        let mut s = sync(deployment(to, json!(0), json!(1)), rss);
        s.d.status.replicas = from;
        s.new_and_old(false);
        assert_eq!(s.new, Some(0));
        s.scale();
        s.rss.iter().map(|r| r.replicas).collect()
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        // sync_test.go TestScale.
        assert_eq!(proportional(10, 12, &[("foo-v1", 3, 10)]), [12], "normal scaling event: 10 -> 12");
        assert_eq!(proportional(10, 5, &[("foo-v1", 3, 10)]), [5], "normal scaling event: 10 -> 5");
        assert_eq!(proportional(5, 10, &[("foo-v2", 3, 2), ("foo-v1", 2, 3)]), [4, 6], "proportional scaling: 5 -> 10");
        assert_eq!(proportional(5, 3, &[("foo-v2", 3, 2), ("foo-v1", 2, 3)]), [1, 2], "proportional scaling: 5 -> 3");
        assert_eq!(proportional(9, 4, &[("foo-v2", 3, 8), ("foo-v1", 2, 1)]), [4, 0], "proportional scaling: 9 -> 4");
        assert_eq!(
            proportional(7, 10, &[("foo-v3", 3, 2), ("foo-v2", 2, 3), ("foo-v1", 1, 2)]),
            [3, 4, 3],
            "proportional scaling: 7 -> 10"
        );
        assert_eq!(
            proportional(13, 8, &[("foo-v3", 3, 2), ("foo-v2", 2, 8), ("foo-v1", 1, 3)]),
            [1, 5, 2],
            "proportional scaling: 13 -> 8"
        );
        // Leftovers go to the largest (here the new) ReplicaSet.
        assert_eq!(proportional(3, 4, &[("foo-v2", 3, 1), ("foo-v1", 2, 1)])[..].iter().sum::<i32>(), 4);
    }

    #[test]
    fn a_saturated_new_replica_set_leaves_the_old_ones_nothing() {
        let mut new = rs("foo-v2", 3, 3, 3, "v1");
        set_replicas_annotations(&mut new, 3, 3);
        let mut old = rs("foo-v1", 1, 1, 1, "v0");
        set_replicas_annotations(&mut old, 3, 3);
        let mut s = sync(deployment(3, json!(0), json!(1)), vec![new, old]);
        s.new_and_old(false);
        s.scale();
        assert_eq!((s.rss[0].replicas, s.rss[1].replicas), (3, 0));
        assert_eq!(s.rss[1].events, ["Scaled down replica set foo-v1 from 1 to 0"]);
    }

    /// reconcileOldReplicaSets for a Deployment of `replicas` (maxSurge 0
    /// unless the new ReplicaSet surges) with one old and one new
    /// ReplicaSet; (scaled, old replicas after).
    fn reconcile_old(replicas: i32, max_unavailable: i32, old: (i32, i32), new: (i32, i32)) -> (bool, i32) {
        let d = deployment(replicas, json!(3), json!(max_unavailable));
        let mut s = sync(d, vec![rs("foo-v1", 1, old.0, old.1, "v0"), rs("foo-v2", 2, new.0, new.1, "v1")]);
        s.new_and_old(false);
        let scaled = s.reconcile_old();
        (scaled, s.rss[0].replicas)
    }

    #[test]
    fn old_replica_sets_scale_down_within_max_unavailable() {
        // rolling_test.go TestDeploymentController_reconcileOldReplicaSets, and
        // the example in rolling.go: 10 replicas, maxUnavailable 2, maxSurge 3.
        // Nothing available yet beyond the minimum: no scale down.
        assert_eq!(reconcile_old(10, 0, (10, 10), (0, 0)), (false, 10));
        // 2 may be unavailable: the old set gives up 2.
        assert_eq!(reconcile_old(10, 2, (10, 10), (0, 0)), (true, 8));
        // The new pods crashloop: 13 - 8 - 5 = 0, nothing more goes.
        assert_eq!(reconcile_old(10, 2, (8, 7), (5, 0)), (false, 8));
        // Unhealthy old pods go first, even with nothing else to give.
        assert_eq!(reconcile_old(10, 2, (10, 5), (3, 3)), (true, 5));
        // New pods available: as many old ones go.
        assert_eq!(reconcile_old(10, 2, (8, 8), (5, 5)), (true, 3));
    }

    #[test]
    fn cleanup_unhealthy_replicas_stops_at_the_maximum() {
        // rolling_test.go TestDeploymentController_cleanupUnhealthyReplicas.
        for (old, available, max, want_scaled) in [(10, 8, 3, 2), (10, 8, 1, 1), (10, 10, 3, 0), (10, 0, 3, 3)] {
            let mut s = sync(deployment(10, json!(1), json!(1)), vec![rs("foo-v1", 1, old, available, "v0")]);
            let scaled = s.cleanup_unhealthy(vec![0], max);
            assert_eq!(scaled, want_scaled, "{old} {available} {max}");
            assert_eq!(s.rss[0].replicas, old - want_scaled);
        }
    }

    #[test]
    fn scale_down_old_for_rolling_update_keeps_the_minimum_available() {
        // rolling_test.go TestDeploymentController_scaleDownOldReplicaSetsForRollingUpdate.
        for (replicas, max_unavailable, old_available, want) in
            [(10, 0, 10, 0), (10, 2, 10, 2), (10, 2, 8, 0), (10, 2, 9, 1)]
        {
            let mut s = sync(
                deployment(replicas, json!(1), json!(max_unavailable)),
                vec![rs("foo-v1", 1, 10, old_available, "v0")],
            );
            assert_eq!(s.scale_down_old_for_rolling_update(vec![0]), want, "{max_unavailable} {old_available}");
        }
    }

    #[test]
    fn revision_annotations_follow_the_newest_and_keep_their_history() {
        // deployment_util_test.go TestAnnotationUtils / SetNewReplicaSetAnnotations.
        let mut d = deployment(3, json!(1), json!(0));
        d.annotations.insert("team".into(), "a".into());
        d.annotations.insert(REVISION.into(), "9".into());
        let mut r = rs("foo-v1", 1, 3, 3, "v1");
        assert!(set_new_replica_set_annotations(&d, &mut r, 1, false));
        assert_eq!(r.annotations.get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(r.annotations.get("team").map(String::as_str), Some("a"));
        assert_eq!(r.annotations.get(DESIRED_REPLICAS).map(String::as_str), Some("3"));
        assert_eq!(r.annotations.get(MAX_REPLICAS).map(String::as_str), Some("4"));
        assert!(!set_new_replica_set_annotations(&d, &mut r, 1, true), "nothing new");
        // A rollback makes an old ReplicaSet new again with a higher revision.
        assert!(set_new_replica_set_annotations(&d, &mut r, 3, true));
        assert!(set_new_replica_set_annotations(&d, &mut r, 5, true));
        assert_eq!(r.annotations.get(REVISION).map(String::as_str), Some("5"));
        assert_eq!(r.annotations.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));
        r.annotations.insert(REVISION.into(), "x".into());
        assert!(!set_new_replica_set_annotations(&d, &mut r, 6, true), "a malformed revision is left alone");
    }

    #[test]
    fn conditions_keep_their_transition_time_and_order() {
        let mut s = Status::default();
        s.set_condition(Condition::new("Progressing", "True", NEW_REPLICA_SET, "a", 1_000));
        s.set_condition(Condition::new("Available", "False", MIN_UNAVAILABLE, "b", 1_000));
        s.set_condition(Condition::new("Progressing", "True", REPLICA_SET_UPDATED, "c", 5_000));
        assert_eq!(s.conditions.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(), ["Available", "Progressing"]);
        let p = s.condition("Progressing").unwrap();
        assert_eq!(
            (p.last_transition.as_str(), p.last_update.as_str()),
            ("2025-01-01T00:00:01Z", "2025-01-01T00:00:05Z")
        );
        let before = s.clone();
        s.set_condition(Condition::new("Available", "False", MIN_UNAVAILABLE, "b", 9_000));
        assert_eq!(s, before, "same status and reason: unchanged");
    }

    fn status(updated: i32, replicas: i32, available: i32, observed: i64) -> Status {
        Status { updated, replicas, available, observed_generation: observed, ..Status::default() }
    }

    #[test]
    fn complete_progressing_and_timed_out() {
        // deployment_util_test.go TestDeploymentComplete, TestDeploymentProgressing, TestDeploymentTimedOut.
        let d = deployment(5, json!(1), json!(0));
        assert!(deployment_complete(&d, &status(5, 5, 5, 1)));
        assert!(!deployment_complete(&d, &status(5, 5, 4, 1)), "not available");
        assert!(!deployment_complete(&d, &status(5, 6, 5, 1)), "old pods left");
        assert!(!deployment_complete(&d, &status(5, 5, 5, 0)), "not observed");
        let mut d = deployment(5, json!(1), json!(0));
        d.status = status(2, 5, 2, 1);
        assert!(deployment_progressing(&d, &status(3, 5, 2, 1)), "more updated");
        assert!(deployment_progressing(&d, &status(2, 4, 2, 1)), "fewer old");
        assert!(deployment_progressing(&d, &status(2, 5, 3, 1)), "more available");
        assert!(!deployment_progressing(&d, &status(2, 5, 2, 1)));
        let mut s = status(2, 5, 2, 1);
        s.set_condition(Condition::new("Progressing", "True", REPLICA_SET_UPDATED, "", 0));
        assert!(!deployment_timed_out(&d, &s, 600_000), "exactly at the deadline");
        assert!(deployment_timed_out(&d, &s, 600_001));
        s.set_condition(Condition::new("Progressing", "True", NEW_RS_AVAILABLE, "", 0));
        assert!(!deployment_timed_out(&d, &s, 999_999_999), "a complete rollout never times out");
        assert_eq!(requeue_stuck(&d, &status(2, 5, 2, 1), 1_000), None, "no condition in the current status");
        d.status.set_condition(Condition::new("Progressing", "True", REPLICA_SET_UPDATED, "", 0));
        assert_eq!(requeue_stuck(&d, &status(2, 5, 2, 1), 1_000), Some(600_001));
    }

    fn value(r: &ReplicaSet) -> Value {
        r.to_value()
    }

    #[test]
    fn a_first_sync_creates_the_replica_set_and_then_the_status() {
        let d = deployment(3, json!("25%"), json!("25%")).object;
        let p = plan(&d, &[], &[], 5_000);
        let [Write::Create { rs, event }] = p.writes.as_slice() else { panic!("{p:?}") };
        let hash = compute_hash(&d["spec"]["template"], None);
        assert_eq!(rs["metadata"]["name"], format!("foo-{hash}"));
        assert_eq!(rs["spec"]["replicas"], 3);
        assert_eq!(rs["metadata"]["annotations"][REVISION], "1");
        assert_eq!(event.as_deref(), Some(format!("Scaled up replica set foo-{hash} from 0 to 3").as_str()));
        let status = p.status.unwrap();
        assert_eq!(status["metadata"]["annotations"][REVISION], "1");
        let conditions = status["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions[0]["reason"], NEW_REPLICA_SET);
        assert_eq!(conditions[0]["message"], format!("Created new replica set \"foo-{hash}\""));
        assert_eq!(conditions[1]["message"], "Deployment does not have minimum availability.");
    }

    #[test]
    fn a_rollout_scales_the_new_set_up_then_the_old_one_down() {
        let mut d = deployment(3, json!(1), json!(0));
        d.object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
        let old = {
            let mut r = rs("foo-v1", 1, 3, 3, "v1");
            set_replicas_annotations(&mut r, 3, 4);
            r.annotations.insert(REVISION.into(), "1".into());
            r
        };
        let p = plan(&d.object, &[&value(&old)], &[], 5_000);
        let [Write::Create { rs: new, .. }] = p.writes.as_slice() else { panic!("{p:?}") };
        assert_eq!(
            (new["spec"]["replicas"].as_i64(), new["metadata"]["annotations"][REVISION].as_str()),
            (Some(1), Some("2"))
        );
        // The new ReplicaSet's pod becomes available: one old pod may go.
        let mut new = ReplicaSet::from_value(new).unwrap();
        new.available = 1;
        new.object["status"] = json!({"replicas": 1, "availableReplicas": 1});
        new.object["metadata"]["uid"] = json!("new-uid");
        new.object["metadata"]["creationTimestamp"] = json!(rfc3339(4_000));
        let mut d2 = d.object.clone();
        d2["metadata"]["annotations"] = json!({REVISION: "2"});
        let p = plan(&d2, &[&value(&old), &new.object], &[], 6_000);
        let updates: Vec<(i64, Vec<String>)> = p
            .writes
            .iter()
            .map(|w| match w {
                Write::Update { rs, events } => (rs["spec"]["replicas"].as_i64().unwrap(), events.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(updates, [(2, vec!["Scaled down replica set foo-v1 from 3 to 2".to_string()])]);
    }

    #[test]
    fn a_deployment_selecting_everything_only_gets_a_warning() {
        let mut d = deployment(3, json!(1), json!(0)).object;
        d["spec"]["selector"] = json!({});
        let p = plan(&d, &[], &[], 0);
        assert!(p.writes.is_empty());
        assert_eq!(p.events[0].1, "SelectingAll");
        assert_eq!(p.status.unwrap()["status"]["observedGeneration"], 1);
    }

    #[test]
    fn orphans_are_adopted_and_strays_released() {
        let d = deployment(3, json!(1), json!(0));
        let mut orphan = rs("foo-v1", 1, 3, 3, "v1").object;
        orphan["metadata"].as_object_mut().unwrap().remove("ownerReferences");
        let mut stray = rs("foo-v0", 1, 0, 0, "v0").object;
        stray["metadata"]["labels"] = json!({"app": "bar"});
        let p = plan(&d.object, &[&orphan, &stray], &[], 0);
        assert_eq!(p.writes.len(), 2, "{p:?}");
        assert!(
            matches!(&p.writes[0], Write::Patch { name, patch } if name == "foo-v1" && patch["metadata"]["ownerReferences"][0]["controller"] == true)
        );
        assert!(
            matches!(&p.writes[1], Write::Patch { name, patch } if name == "foo-v0" && patch["metadata"]["ownerReferences"][0]["$patch"] == "delete")
        );
    }

    #[test]
    fn malformed_objects_are_skipped() {
        for bad in [json!(null), json!([]), json!({"metadata": 3}), json!({"metadata": {"name": "x"}, "spec": 7})] {
            let p = plan(&bad, &[&bad], &[&bad], 0);
            assert_eq!(p, Plan::default());
            let d = deployment(1, json!(1), json!(0));
            let _ = plan(&d.object, &[&bad], &[&bad], 0);
        }
        let mut d = deployment(1, json!("bogus"), json!([1])).object;
        d["spec"]["replicas"] = json!(-4);
        d["spec"]["template"] = json!("nope");
        let _ = plan(&d, &[], &[], 0);
    }

    #[test]
    fn recreate_waits_for_old_pods_before_creating() {
        let mut d = deployment(2, json!(0), json!(0));
        d.object["spec"]["strategy"] = json!({"type": "Recreate"});
        d.object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
        let old = rs("foo-v1", 1, 2, 2, "v1");
        let p = plan(&d.object, &[&value(&old)], &[], 0);
        assert!(matches!(&p.writes[..], [Write::Update { rs, .. }] if rs["spec"]["replicas"] == 0), "{p:?}");
        // Scaled to 0 but a pod still runs.
        let mut gone = rs("foo-v1", 1, 0, 0, "v1");
        gone.object["status"] = json!({});
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "foo"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "foo-v1", "uid": "foo-v1-uid", "controller": true}]},
            "status": {"phase": "Running"}});
        let p = plan(&d.object, &[&gone.object], &[&pod], 0);
        assert!(p.writes.is_empty(), "{p:?}");
        let mut done = pod.clone();
        done["status"]["phase"] = json!("Succeeded");
        let p = plan(&d.object, &[&gone.object], &[&done], 0);
        assert!(matches!(&p.writes[..], [Write::Create { rs, .. }] if rs["spec"]["replicas"] == 2), "{p:?}");
    }

    #[test]
    fn old_replica_sets_beyond_the_history_limit_are_deleted() {
        let mut d = deployment(1, json!(1), json!(0));
        d.object["spec"]["revisionHistoryLimit"] = json!(1);
        let mut rss = Vec::new();
        for (i, name) in ["foo-a", "foo-b", "foo-c"].iter().enumerate() {
            let mut r = rs(name, i as u64 + 1, 0, 0, name);
            r.annotations.insert(REVISION.into(), (i + 1).to_string());
            r.object["status"] = json!({"observedGeneration": 1});
            rss.push(r.to_value());
        }
        let mut new = rs("foo-d", 9, 1, 1, "v1");
        new.annotations.insert(REVISION.into(), "4".into());
        set_replicas_annotations(&mut new, 1, 2);
        rss.push(new.to_value());
        d.object["metadata"]["annotations"] = json!({REVISION: "4"});
        d.object["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1});
        let refs: Vec<&Value> = rss.iter().collect();
        let p = plan(&d.object, &refs, &[], 0);
        let deleted: Vec<&str> = p
            .writes
            .iter()
            .filter_map(|w| if let Write::Delete { name } = w { Some(name.as_str()) } else { None })
            .collect();
        assert_eq!(deleted, ["foo-a", "foo-b"]);
    }

    #[test]
    fn a_paused_deployment_scales_but_does_not_roll_out() {
        let mut d = deployment(5, json!(1), json!(0));
        d.object["spec"]["paused"] = json!(true);
        d.object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
        let mut old = rs("foo-v1", 1, 3, 3, "v1");
        set_replicas_annotations(&mut old, 3, 4);
        let p = plan(&d.object, &[&value(&old)], &[], 0);
        assert!(matches!(&p.writes[..], [Write::Update { rs, .. }] if rs["spec"]["replicas"] == 5), "{p:?}");
        let status = p.status.unwrap();
        let progressing = status["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Progressing")
            .cloned()
            .unwrap();
        assert_eq!((progressing["status"].as_str(), progressing["reason"].as_str()), (Some("Unknown"), Some(PAUSED)));
        assert_eq!(progressing["message"], "Deployment is paused");
    }
}
