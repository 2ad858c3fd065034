//! What each write does to an object: the generic registry store's create,
//! update and delete (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go)
//! with the resource strategies (pkg/registry/*/strategy.go), admission
//! (NamespaceLifecycle, ServiceAccount, DefaultTolerationSeconds, Priority),
//! defaulting and validation, and the subresources (status, binding, scale,
//! eviction, finalize).
//!
//! Everything here is a pure function of the request, the current stored
//! object and the watch cache: the component does the etcd round trips.

use super::typed::{self, Typed};
use super::watch_cache::WatchCache;
use super::{defaults, patch, validation, UserInfo};
use crate::apimachinery::errors::{FieldError, StatusError};
use crate::apimachinery::request::{RequestInfo, Verb};
use crate::apimachinery::resources::{self, Resource};
use crate::apimachinery::time::rfc3339;
use crate::rng::SimRng;
use serde_json::{json, Value};

/// The second half of a Conflict on a stale resourceVersion
/// (registry/store.go `OptimisticLockErrorMsg`).
pub const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The finalizer asking the garbage collector to orphan the dependents
/// (metav1.FinalizerOrphanDependents).
pub const FINALIZER_ORPHAN: &str = "orphan";
/// The finalizer asking the garbage collector to delete the dependents first
/// (metav1.FinalizerDeleteDependents).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// The annotation holding a DaemonSet's template generation
/// (`appsv1.DeprecatedTemplateGeneration`).
pub const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// The Service cluster IP range (kubeadm's default `10.96.0.0/12`).
pub const SERVICE_CIDR: (u32, u32) = (0x0A60_0000, 12);
/// The NodePort range (`--service-node-port-range`, 30000-32767).
pub const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;
/// Where the `kubernetes` Service sends traffic: the apiserver's address.
pub const APISERVER_ADDRESS: &str = "172.18.0.2";

/// What a write needs to know.
pub struct Input<'a> {
    /// The request.
    pub info: &'a RequestInfo,
    /// Its body.
    pub body: Option<&'a Value>,
    /// Its content type (patches).
    pub content_type: Option<&'a str>,
    /// Who sent it.
    pub user: &'a UserInfo,
    /// The stored object now, if any.
    pub current: Option<&'a Value>,
    /// Simulated time.
    pub now_ms: u64,
    /// The watch cache, for admission's lookups.
    pub cache: &'a WatchCache,
}

/// What to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Store `object` and answer `code` with it (or with `reply`).
    Put {
        /// The new state.
        object: Value,
        /// 200 or 201.
        code: u16,
        /// Answer with this instead of the object (binding, eviction).
        reply: Option<Value>,
    },
    /// Remove the object; answer with it (or a Success status).
    Delete {
        /// The object as it was.
        object: Value,
        /// Answer with a `Status` of Success instead of the object.
        status_reply: bool,
    },
    /// Nothing to write: answer now.
    Done {
        /// HTTP code.
        code: u16,
        /// Body.
        body: Value,
    },
}

fn success_status(info: &RequestInfo, uid: Option<&str>, code: u16) -> Value {
    let mut details = json!({"name": info.name, "kind": info.resource.plural});
    if !info.resource.group.is_empty() {
        details["group"] = json!(info.resource.group);
    }
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details, "code": code})
}

impl Outcome {
    /// The answer once etcd committed the write at `revision`.
    pub fn reply(&self, revision: i64) -> (u16, Value) {
        match self {
            Outcome::Put { object, code, reply } => match reply {
                Some(r) => (*code, r.clone()),
                None => {
                    let mut object = object.clone();
                    super::watch_cache::set_resource_version(&mut object, revision);
                    (*code, object)
                }
            },
            Outcome::Delete { object, status_reply } => {
                if *status_reply {
                    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    let uid = object.pointer("/metadata/uid").and_then(Value::as_str);
                    let resource = object
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .zip(object.get("kind").and_then(Value::as_str))
                        .and_then(|(v, k)| resources::by_kind(v, k));
                    let mut details = json!({"name": name});
                    if let Some(r) = resource {
                        if !r.group.is_empty() {
                            details["group"] = json!(r.group);
                        }
                        details["kind"] = json!(r.plural);
                    }
                    if let Some(uid) = uid {
                        details["uid"] = json!(uid);
                    }
                    (
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                    )
                } else {
                    (200, object.clone())
                }
            }
            Outcome::Done { code, body } => (*code, body.clone()),
        }
    }
}

/// Computes the outcome of a write.
pub fn compute(input: &Input<'_>, rng: &mut SimRng) -> Result<Outcome, StatusError> {
    let info = input.info;
    let r = info.resource;
    // Something not an object of this kind was written under the key (with
    // etcdctl): the apiserver cannot decode it, as the real one cannot.
    // The decoded current object is what updates validate against.
    let old = match input.current {
        Some(current) => match typed::decode(r, current, false) {
            Ok(old) if stored_object_ok(current) => Some(old),
            _ => {
                return Err(StatusError::internal(format!(
                    "Internal error occurred: unable to decode the stored object at {}",
                    r.etcd_key(&info.namespace, &info.name)
                )))
            }
        },
        None => None,
    };
    let not_found = || StatusError::not_found(r.group, r.plural, &info.name);
    let body = || input.body.ok_or_else(|| StatusError::bad_request("the body of the request was empty"));
    let too_deep = || {
        StatusError::bad_request(format!(
            "the request body is nested more than {} levels deep",
            crate::apimachinery::MAX_DEPTH
        ))
    };
    if input.body.is_some_and(|b| crate::apimachinery::too_deep(b, crate::apimachinery::MAX_DEPTH)) {
        return Err(too_deep());
    }
    match (info.verb, info.subresource.as_str()) {
        (Verb::Create, "") => create(input, body()?.clone(), rng),
        (Verb::Create, "binding") => bind(input, input.current.ok_or_else(not_found)?, body()?),
        (Verb::Create, "eviction") => {
            let current = input.current.ok_or_else(not_found)?;
            match delete(input, current, &json!({}))? {
                Outcome::Delete { object, .. } => Ok(Outcome::Delete { object, status_reply: true }),
                Outcome::Put { object, .. } => {
                    let reply = Some(success_status(info, None, 201));
                    Ok(Outcome::Put { object, code: 201, reply })
                }
                done => Ok(done),
            }
        }
        (Verb::Update | Verb::Patch, sub) if !sub.is_empty() && !["status", "scale", "finalize"].contains(&sub) => {
            Err(StatusError::method_not_allowed())
        }
        (Verb::Update, sub) => {
            let current = input.current.zip(old.as_ref()).ok_or_else(not_found)?;
            update(input, current, body()?.clone(), sub, rng)
        }
        (Verb::Patch, sub) => {
            let current = input.current.zip(old.as_ref()).ok_or_else(not_found)?;
            let content_type = input.content_type.unwrap_or(patch::STRATEGIC_MERGE_PATCH);
            let target = if sub == "scale" { to_scale(r, current.0) } else { current.0.clone() };
            let patched = patch::apply(&target, body()?, content_type).map_err(StatusError::bad_request)?;
            if crate::apimachinery::too_deep(&patched, crate::apimachinery::MAX_DEPTH) {
                return Err(too_deep());
            }
            update(input, current, patched, sub, rng)
        }
        (Verb::Delete, "") => {
            let options = input.body.cloned().unwrap_or_else(|| json!({}));
            delete(input, input.current.ok_or_else(not_found)?, &options)
        }
        _ => Err(StatusError::method_not_allowed()),
    }
}

/// Whether a stored value has the shape every object has: a JSON object whose
/// `metadata` and `spec`/`status` (when present) are objects.
pub fn stored_object_ok(v: &Value) -> bool {
    v.is_object()
        && v.get("metadata").is_some_and(Value::is_object)
        && ["spec", "status"].iter().all(|f| v.get(*f).is_none_or(Value::is_object))
}

/// The `autoscaling/v1` Scale of a scalable object.
pub fn to_scale(resource: &Resource, object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = match resource.kind {
        "ReplicationController" => crate::apimachinery::labels::format_labels(
            &crate::apimachinery::labels::string_map(object.pointer("/spec/selector")),
        ),
        _ => object
            .pointer("/spec/selector")
            .and_then(crate::apimachinery::labels::Selector::from_label_selector)
            .map(|s| selector_string(&s))
            .unwrap_or_default(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// A selector's string form (`app=web,tier in (a,b)`).
pub fn selector_string(s: &crate::apimachinery::labels::Selector) -> String {
    use crate::apimachinery::labels::Operator;
    s.requirements
        .iter()
        .map(|r| match &r.op {
            Operator::In(v) if v.len() == 1 => format!("{}={}", r.key, v[0]),
            Operator::NotIn(v) if v.len() == 1 => format!("{}!={}", r.key, v[0]),
            Operator::In(v) => format!("{} in ({})", r.key, v.join(",")),
            Operator::NotIn(v) => format!("{} notin ({})", r.key, v.join(",")),
            Operator::Exists => r.key.clone(),
            Operator::DoesNotExist => format!("!{}", r.key),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn random_suffix(rng: &mut SimRng, n: usize) -> String {
    // apimachinery's utilrand.String alphabet: no vowels, no confusable digits.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char).collect()
}

/// A random (v4) UUID from the simulation's RNG.
pub fn new_uid(rng: &mut SimRng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn check_type_meta(r: &Resource, body: &mut Value) -> Result<(), StatusError> {
    let expected = r.api_version();
    match body.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != expected => {
            return Err(StatusError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )))
        }
        None => body["apiVersion"] = json!(expected),
        _ => {}
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(k) if k != r.kind => {
            return Err(StatusError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )))
        }
        None => body["kind"] = json!(r.kind),
        _ => {}
    }
    Ok(())
}

fn strict(info: &RequestInfo) -> bool {
    info.param("fieldValidation") == "Strict"
}

fn invalid(r: &Resource, name: &str, errors: Vec<FieldError>) -> StatusError {
    let group_kind = if r.group.is_empty() { r.kind.to_string() } else { format!("{}.{}", r.kind, r.group) };
    let mut e = StatusError::invalid(r.group, &group_kind, name, errors);
    e.kind = r.kind.to_string();
    e
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

/// The kinds whose strategies keep `metadata.generation` (1.32: not pods).
fn has_generation(kind: &str) -> bool {
    matches!(kind, "Deployment" | "ReplicaSet" | "ReplicationController" | "DaemonSet" | "EndpointSlice")
}

fn create(input: &Input<'_>, mut body: Value, rng: &mut SimRng) -> Result<Outcome, StatusError> {
    let info = input.info;
    let r = info.resource;
    if !body.is_object() {
        return Err(StatusError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {t} into Go value of type struct",
            kind = r.kind,
            v = r.version,
            t = json_type(&body)
        )));
    }
    check_type_meta(r, &mut body)?;
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    if !meta_str(&body, "resourceVersion").is_empty() {
        let mut e = StatusError::storage("resourceVersion should not be set on objects to be created");
        e.code = 500;
        return Err(e);
    }
    let namespace = meta_str(&body, "namespace").to_string();
    if r.namespaced {
        if !namespace.is_empty() && namespace != info.namespace {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        body["metadata"]["namespace"] = json!(info.namespace);
    } else if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if meta_str(&body, "name").is_empty() {
        let prefix = meta_str(&body, "generateName").to_string();
        if !prefix.is_empty() {
            body["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix(rng, 5)));
        }
    }
    let name = meta_str(&body, "name").to_string();
    // The name the object would have, for errors (AlreadyExists, Invalid, Forbidden).
    let info_name = if info.name.is_empty() { name.clone() } else { info.name.clone() };
    let mut object = typed::decode(r, &body, strict(info))?;
    if input.current.is_some() {
        return Err(StatusError::already_exists(r.group, r.plural, &info_name));
    }
    // Scheme defaults come with decoding, before admission (so a pod's
    // requests default to its limits before LimitRanger fills in the rest).
    defaults::apply(&mut object);
    admit_create(input, &mut object, &info_name)?;
    let mut value = object.to_value();
    if r.namespaced {
        if r.kind == "Pod" {
            super::admission::limit_ranger(input.cache, &info.namespace, &mut value, &info_name)?;
        }
        super::admission::resource_quota(input.cache, r, &info.namespace, &value, &info_name)?;
    }
    // PrepareForCreate (generic store + strategy).
    {
        let meta = value["metadata"].as_object_mut().expect("metadata is an object");
        meta.insert("uid".into(), json!(new_uid(rng)));
        meta.insert("creationTimestamp".into(), json!(rfc3339(input.now_ms)));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("resourceVersion");
        meta.remove("generation");
        if has_generation(r.kind) {
            meta.insert("generation".into(), json!(1));
        }
    }
    prepare_status_on_create(r.kind, &mut value, input.now_ms);
    if r.kind == "DaemonSet" {
        // PrepareForCreate: the template generation starts at 1 (or what
        // the annotation asked for, when more).
        let asked = template_generation(&value).max(1);
        set_template_generation(&mut value, asked);
    }
    if r.kind == "Service" {
        allocate_service(input, &mut value, rng, None)?;
    }
    let object = typed::decode(r, &value, false)?;
    let errors = validation::validate(&object, None, r.namespaced);
    if !errors.is_empty() {
        return Err(invalid(r, &info_name, errors));
    }
    let value = object.to_value();
    super::rbac::confirm_no_escalation(input.cache, input.user, &value, &info.namespace)
        .map_err(|message| StatusError::forbidden(r.group, r.plural, &info_name, message))?;
    Ok(Outcome::Put { object: value, code: 201, reply: None })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn prepare_status_on_create(kind: &str, value: &mut Value, now_ms: u64) {
    match kind {
        "Pod" => {
            let qos = qos_class(value);
            value["status"] = json!({"phase": "Pending", "qosClass": qos});
            // pod/strategy.go `applySchedulingGatedCondition`.
            let gated = value.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty());
            if gated {
                value["status"]["conditions"] = json!([{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates",
                    "lastProbeTime": null,
                    "lastTransitionTime": rfc3339(now_ms),
                }]);
            }
        }
        "Deployment" | "ReplicaSet" | "ReplicationController" | "DaemonSet" => value["status"] = json!({}),
        "Namespace" => {
            value["status"] = json!({"phase": "Active"});
            let finalizers = value.pointer_mut("/spec/finalizers");
            match finalizers.and_then(Value::as_array_mut) {
                Some(list) if list.iter().any(|f| f == "kubernetes") => {}
                Some(list) => list.push(json!("kubernetes")),
                None => value["spec"] = json!({"finalizers": ["kubernetes"]}),
            }
        }
        "Service" => value["status"] = json!({"loadBalancer": {}}),
        _ => {}
    }
}

/// `GetPodQOS` (pkg/apis/core/helper/qos): Guaranteed when every container
/// has equal cpu and memory requests and limits, BestEffort when none has
/// any, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Admission on create: NamespaceLifecycle, then for pods ServiceAccount,
/// DefaultTolerationSeconds and Priority.
fn admit_create(input: &Input<'_>, object: &mut Typed, name: &str) -> Result<(), StatusError> {
    let info = input.info;
    let r = info.resource;
    if r.namespaced {
        let ns_key = resources::by_plural("", "namespaces").expect("namespaces").etcd_key("", &info.namespace);
        match input.cache.get(&ns_key) {
            None if input.cache.is_ready() => {
                return Err(StatusError::not_found("", "namespaces", &info.namespace));
            }
            Some(ns) if ns.object.pointer("/metadata/deletionTimestamp").is_some() => {
                return Err(StatusError::forbidden(
                    r.group,
                    r.plural,
                    name,
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                        r.group_resource(),
                        info.namespace
                    ),
                ));
            }
            _ => {}
        }
    }
    let Typed::Pod(pod) = object else { return Ok(()) };
    let Some(spec) = pod.spec.as_mut() else { return Ok(()) };
    // ServiceAccount admission (the token volume is left out: no pod reads it here).
    // Lenient: a pod naming an account that does not exist yet is admitted,
    // where plugin/pkg/admission/serviceaccount refuses it ("error looking up
    // service account"); the `default` account appears only when the
    // ServiceAccount controller has seen the namespace, and a pod created in
    // the same instant as its namespace would otherwise fail.
    // Mirror pods are left alone (plugin/pkg/admission/serviceaccount/admission.go:
    // a static pod cannot use the API's credentials).
    let mirror = pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    if !mirror {
        let sa = spec.service_account_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into());
        spec.service_account_name = Some(sa.clone());
        spec.service_account = Some(sa);
    }
    // DefaultTolerationSeconds.
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let covered = tolerations.iter().any(|t| {
            (t.key.as_deref().unwrap_or_default().is_empty() || t.key.as_deref() == Some(key))
                && (t.effect.as_deref().unwrap_or_default().is_empty() || t.effect.as_deref() == Some("NoExecute"))
        });
        if !covered {
            tolerations.push(k8s_openapi::api::core::v1::Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
    // Priority admission.
    match spec.priority_class_name.clone().filter(|p| !p.is_empty()) {
        Some(class) => {
            let key = resources::by_plural("scheduling.k8s.io", "priorityclasses").expect("pc").etcd_key("", &class);
            let Some(pc) = input.cache.get(&key) else {
                return Err(StatusError::forbidden(
                    r.group,
                    r.plural,
                    name,
                    format!("pods \"{name}\" is forbidden: no PriorityClass with name {class} was found"),
                ));
            };
            spec.priority = pc.object.get("value").and_then(Value::as_i64).map(|v| v as i32);
            spec.preemption_policy = pc
                .object
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(Some("PreemptLowerPriority".into()));
        }
        None => {
            if let Some(p) = spec.priority.filter(|p| *p != 0) {
                return Err(StatusError::forbidden(
                    r.group,
                    r.plural,
                    name,
                    format!("pods \"{name}\" is forbidden: the integer value of priority ({p}) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name"),
                ));
            }
            spec.priority = Some(0);
            spec.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
        }
    }
    Ok(())
}

fn ip_string(ip: u32) -> String {
    format!("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff)
}

fn parse_ip(s: &str) -> Option<u32> {
    let parts: Vec<u32> = s.split('.').map(|p| p.parse::<u8>().ok().map(u32::from)).collect::<Option<_>>()?;
    (parts.len() == 4).then(|| parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3])
}

/// A random free offset of the Service range for a cluster IP, past the
/// network address and the first address (the `kubernetes` Service's): the
/// pick counts free offsets only, so it never lands on a used one, whether
/// or not the first address is taken.
fn free_offset(used: &std::collections::BTreeSet<u32>, base: u32, size: u32, rng: &mut SimRng) -> Option<u32> {
    let candidates = || (2..size - 1).filter(move |o| !used.contains(&(base + o)));
    let free = candidates().count() as u64;
    if free == 0 {
        return None;
    }
    candidates().nth(rng.below(free) as usize)
}

/// Allocates the Service's cluster IP (random free address of the range, like
/// the bitmap allocator; the first address is the `kubernetes` Service's) and
/// node ports.
fn allocate_service(
    input: &Input<'_>,
    value: &mut Value,
    rng: &mut SimRng,
    own_key: Option<&str>,
) -> Result<(), StatusError> {
    let r = input.info.resource;
    let name = meta_str(value, "name").to_string();
    let services = resources::by_plural("", "services").expect("services");
    let mut used_ips = std::collections::BTreeSet::new();
    let mut used_ports = std::collections::BTreeSet::new();
    for (key, cached) in input.cache.list(&services.etcd_list_prefix("")) {
        if Some(key.as_str()) == own_key {
            continue;
        }
        if let Some(ip) = cached.object.pointer("/spec/clusterIP").and_then(Value::as_str).and_then(parse_ip) {
            used_ips.insert(ip);
        }
        for p in cached.object.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
            if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                used_ports.insert(np as i32);
            }
        }
    }
    let spec = value.get_mut("spec").and_then(Value::as_object_mut);
    let Some(spec) = spec else { return Ok(()) };
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if kind != "ExternalName" {
        let (base, bits) = SERVICE_CIDR;
        let size = 1u32 << (32 - bits);
        let requested = spec.get("clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
        let ip = if requested == "None" {
            "None".to_string()
        } else if requested.is_empty() {
            let reserved_first = name == "kubernetes" && input.info.namespace == "default";
            let offset = if reserved_first && !used_ips.contains(&(base + 1)) {
                Some(1)
            } else {
                free_offset(&used_ips, base, size, rng)
            };
            let Some(offset) = offset else {
                return Err(StatusError::internal("failed to allocate a serviceIP: range is full"));
            };
            ip_string(base + offset)
        } else {
            let bad = |why: &str| {
                invalid(
                    r,
                    &name,
                    vec![FieldError::invalid(
                        "spec.clusterIPs",
                        crate::apimachinery::errors::BadValue::Bare(format!("[]string{{{requested:?}}}")),
                        format!("failed to allocate IP {requested}: {why}"),
                    )],
                )
            };
            let Some(ip) = parse_ip(&requested) else {
                return Err(bad("provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"));
            };
            if ip < base || ip >= base + size {
                return Err(bad("provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"));
            }
            if used_ips.contains(&ip) {
                return Err(bad("provided IP is already allocated"));
            }
            requested
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        if ip != "None" {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
            spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
        } else {
            spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
            spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        }
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        let size = (NODE_PORTS.end() - NODE_PORTS.start() + 1) as u64;
        for (i, port) in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten().enumerate() {
            match port.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => {
                    if used_ports.contains(&(np as i32)) {
                        return Err(invalid(
                            r,
                            &name,
                            vec![FieldError::invalid(
                                format!("spec.ports[{i}].nodePort"),
                                np,
                                "provided port is already allocated",
                            )],
                        ));
                    }
                    used_ports.insert(np as i32);
                }
                _ => {
                    if used_ports.len() as u64 >= size {
                        return Err(StatusError::internal("failed to allocate a nodePort: range is full".to_string()));
                    }
                    let mut candidate = *NODE_PORTS.start() + rng.below(size) as i32;
                    while used_ports.contains(&candidate) {
                        candidate = if candidate == *NODE_PORTS.end() { *NODE_PORTS.start() } else { candidate + 1 };
                    }
                    used_ports.insert(candidate);
                    port["nodePort"] = json!(candidate);
                }
            }
        }
    }
    Ok(())
}

/// An update (PUT, or a patch already applied): keeps what clients may not
/// change, checks the resourceVersion precondition, defaults, validates, and
/// bumps the generation when the spec changed.
/// `current` is the stored object, as JSON and decoded.
fn update(
    input: &Input<'_>,
    (current, old): (&Value, &Typed),
    mut body: Value,
    sub: &str,
    rng: &mut SimRng,
) -> Result<Outcome, StatusError> {
    let info = input.info;
    let r = info.resource;
    if sub == "scale" {
        let replicas = body.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
        if replicas < 0 {
            let e = FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0");
            let mut err = StatusError::invalid("autoscaling", "Scale", &info.name, vec![e]);
            err.kind = "Scale".into();
            return Err(err);
        }
        let rv = meta_str(&body, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(current, "resourceVersion") {
            return Err(StatusError::conflict(r.group, r.plural, &info.name, OPTIMISTIC_LOCK_MESSAGE));
        }
        let mut next = current.clone();
        next["spec"]["replicas"] = json!(replicas);
        body = next;
    }
    if !body.is_object() {
        return Err(StatusError::bad_request("the body of the request was not an object"));
    }
    check_type_meta(r, &mut body)?;
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    let body_name = meta_str(&body, "name");
    if body_name.is_empty() {
        body["metadata"]["name"] = json!(info.name);
    } else if body_name != info.name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            info.name
        )));
    }
    if r.namespaced {
        let ns = meta_str(&body, "namespace");
        if !ns.is_empty() && ns != info.namespace {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        body["metadata"]["namespace"] = json!(info.namespace);
    }
    let rv = meta_str(&body, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(current, "resourceVersion") {
        return Err(StatusError::conflict(r.group, r.plural, &info.name, OPTIMISTIC_LOCK_MESSAGE));
    }
    let mut object = typed::decode(r, &body, strict(info))?;
    defaults::apply(&mut object);
    let mut value = object.to_value();
    // BeforeUpdate: identity and lifecycle fields stay the server's.
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match current["metadata"].get(field) {
            Some(v) => value["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = value["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    let has_status = r.subresources.contains(&"status");
    match sub {
        // A status update changes only status.
        "status" => {
            let status = value.get("status").cloned();
            // A Deployment's status update keeps only its spec and labels
            // (deploymentStatusStrategy.PrepareForUpdate): the controller
            // writes the revision annotation this way.
            let annotations = (r.kind == "Deployment").then(|| value.pointer("/metadata/annotations").cloned());
            value = current.clone();
            match annotations {
                Some(Some(a)) => value["metadata"]["annotations"] = a,
                Some(None) => {
                    value["metadata"].as_object_mut().map(|m| m.remove("annotations"));
                }
                None => {}
            }
            match status {
                Some(s) => value["status"] = s,
                None => {
                    value.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
        "finalize" => {
            let finalizers = value.pointer("/spec/finalizers").cloned();
            value = current.clone();
            value["spec"]["finalizers"] = finalizers.unwrap_or(json!([]));
        }
        _ if has_status => match current.get("status") {
            Some(s) => value["status"] = s.clone(),
            None => {
                value.as_object_mut().map(|m| m.remove("status"));
            }
        },
        _ => {}
    }
    if r.kind == "Namespace" && sub.is_empty() {
        value["spec"] = current.get("spec").cloned().unwrap_or(json!({}));
    }
    if r.kind == "Service" {
        // The allocated addresses carry over when the update leaves them out.
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if value.pointer(&format!("/spec/{field}")).is_none() {
                if let Some(v) = current.pointer(&format!("/spec/{field}")) {
                    value["spec"][field] = v.clone();
                }
            }
        }
    }
    if r.kind == "Service" && sub.is_empty() {
        // A type change drops or allocates what the type needs (the service
        // strategy's dropTypeDependentFields and the allocators).
        let kind = value.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        let external = kind == "NodePort" || kind == "LoadBalancer";
        if !external && current.pointer("/spec/type") != value.pointer("/spec/type") {
            for p in value.pointer_mut("/spec/ports").and_then(Value::as_array_mut).into_iter().flatten() {
                p.as_object_mut().map(|m| m.remove("nodePort"));
            }
            if value.pointer("/spec/externalIPs").and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
                value["spec"].as_object_mut().map(|m| m.remove("externalTrafficPolicy"));
            }
        }
        if external {
            let own = r.etcd_key(&info.namespace, &info.name);
            allocate_service(input, &mut value, rng, Some(&own))?;
        }
    }
    if r.kind == "DaemonSet" {
        // The daemonset strategy's PrepareForUpdate: clients cannot set the
        // template generation; a changed template bumps it.
        let template_changed = sub.is_empty() && current.pointer("/spec/template") != value.pointer("/spec/template");
        let generation = template_generation(current) + i64::from(template_changed);
        set_template_generation(&mut value, generation);
    }
    if r.kind == "Pod" && sub.is_empty() {
        pod_update_allowed(current, &value).map_err(|e| invalid(r, &info.name, vec![e]))?;
    }
    // An EndpointSlice has no spec: any change outside its metadata counts
    // (pkg/registry/discovery/endpointslice/strategy.go PrepareForUpdate).
    let spec_changed = if r.kind == "EndpointSlice" {
        fn body(o: &Value) -> Option<Vec<(&String, &Value)>> {
            o.as_object().map(|m| m.iter().filter(|(k, _)| *k != "metadata").collect())
        }
        body(current) != body(&value)
    } else {
        current.get("spec") != value.get("spec")
    };
    // The scale subresource updates through the main strategy, which bumps
    // the generation (pkg/registry/apps/replicaset/storage/storage.go ScaleREST.Update).
    if has_generation(r.kind) && (sub.is_empty() || sub == "scale") {
        let annotations_changed = r.kind == "Deployment"
            && current.pointer("/metadata/annotations") != value.pointer("/metadata/annotations");
        if spec_changed || annotations_changed {
            let g = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            value["metadata"]["generation"] = json!(g + 1);
        }
    }
    let object = typed::decode(r, &value, false)?;
    let errors = validation::validate(&object, Some(old), r.namespaced);
    if !errors.is_empty() {
        return Err(invalid(r, &info.name, errors));
    }
    let mut value = object.to_value();
    super::rbac::confirm_no_escalation(input.cache, input.user, &value, &info.namespace)
        .map_err(|message| StatusError::forbidden(r.group, r.plural, &info.name, message))?;
    if should_delete_during_update(r, current, &value) {
        return Ok(Outcome::Delete { object: value, status_reply: false });
    }
    // A no-op update writes nothing (GuaranteedUpdate compares the bytes).
    let mut unchanged = current.clone();
    super::watch_cache::set_resource_version(&mut value, 0);
    super::watch_cache::set_resource_version(&mut unchanged, 0);
    if value == unchanged {
        return Ok(Outcome::Done { code: 200, body: current.clone() });
    }
    let reply = (sub == "scale").then(|| {
        let mut scaled = value.clone();
        scaled["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        to_scale(r, &scaled)
    });
    if let Some(m) = value["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    Ok(Outcome::Put { object: value, code: 200, reply })
}

/// A DaemonSet's `spec.templateGeneration`, which apps/v1 carries in the
/// `deprecated.daemonset.template.generation` annotation
/// (pkg/apis/apps/v1/conversion.go); 0 when absent or not a number.
fn template_generation(ds: &Value) -> i64 {
    ds.pointer("/metadata/annotations")
        .and_then(|a| a.get(TEMPLATE_GENERATION))
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn set_template_generation(ds: &mut Value, generation: i64) {
    if !ds["metadata"]["annotations"].is_object() {
        ds["metadata"]["annotations"] = json!({});
    }
    ds["metadata"]["annotations"][TEMPLATE_GENERATION] = json!(generation.to_string());
}

/// Whether an update completes a pending deletion (registry/store.go
/// `ShouldDeleteDuringUpdate`): the object was marked for deletion with no
/// grace period left and the update leaves no finalizer. A namespace must
/// also have no `spec.finalizers` left (namespace storage.go
/// `ShouldDeleteNamespaceDuringUpdate`).
fn should_delete_during_update(r: &Resource, current: &Value, new: &Value) -> bool {
    let marked = current.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let grace = current.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    let finalizers_left = !string_list(new.pointer("/metadata/finalizers")).is_empty();
    let spec_finalizers_left = r.kind == "Namespace" && !string_list(new.pointer("/spec/finalizers")).is_empty();
    marked && grace == 0 && !finalizers_left && !spec_finalizers_left
}

/// `ValidatePodUpdate`: only images, activeDeadlineSeconds, added tolerations
/// and a negative grace period may change in a pod's spec.
fn pod_update_allowed(old: &Value, new: &Value) -> Result<(), FieldError> {
    let neutral = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(json!({}));
        for list in ["containers", "initContainers"] {
            for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                c.as_object_mut().map(|m| m.remove("image"));
            }
        }
        if let Some(m) = spec.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
            m.remove("schedulingGates");
        }
        spec
    };
    // Scheduling gates may only be removed (validation.go
    // `validateOnlyDeletedSchedulingGates`).
    let gates = |v: &Value| -> Vec<String> {
        v.pointer("/spec/schedulingGates")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|g| g.get("name").and_then(Value::as_str).map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let old_gates = gates(old);
    if let Some(added) = gates(new).into_iter().find(|g| !old_gates.contains(g)) {
        return Err(FieldError::forbidden(
            "spec.schedulingGates",
            &format!("only deletion is allowed, but found new scheduling gate '{added}'"),
        ));
    }
    // Tolerations may only be added to (every old one must still be there).
    let tolerations = |v: &Value| v.pointer("/spec/tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let kept = tolerations(old).iter().all(|t| tolerations(new).contains(t));
    if neutral(old) == neutral(new) && kept {
        return Ok(());
    }
    Err(FieldError::forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    ))
}

/// `pods/binding`: sets the node of an unbound pod (pkg/registry/core/pod/storage/storage.go `assignPod`).
fn bind(input: &Input<'_>, current: &Value, body: &Value) -> Result<Outcome, StatusError> {
    let info = input.info;
    let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        return Err(invalid(info.resource, &info.name, vec![FieldError::required("target.name", "")]));
    }
    // storage.go `setPodNodeAndMetadata` runs with a UID precondition: a
    // binding for a pod deleted and created again under the same name fails.
    let uid = current.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    if let Some(want) = body.pointer("/metadata/uid").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        if want != uid {
            return Err(StatusError::conflict(
                "",
                "pods",
                &info.name,
                &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
            ));
        }
    }
    if current.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(StatusError::conflict(
            "",
            "pods/binding",
            &info.name,
            &format!("pod {} is being deleted, cannot be assigned to a host", info.name),
        ));
    }
    if let Some(existing) = current.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Err(StatusError::conflict(
            "",
            "pods/binding",
            &info.name,
            &format!("pod {} is already assigned to node {existing:?}", info.name),
        ));
    }
    let mut pod = current.clone();
    pod["spec"]["nodeName"] = json!(node);
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": rfc3339(input.now_ms)});
    let conditions = pod["status"].as_object_mut().map(|s| s.entry("conditions").or_insert(json!([])));
    if let Some(Value::Array(list)) = conditions {
        list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        list.push(condition);
    }
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let reply = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(Outcome::Put { object: pod, code: 201, reply: Some(reply) })
}

/// Graceful deletion and finalizers (registry/store.go `Delete` and
/// `updateForGracefulDeletionAndFinalizers`, rest/delete.go `BeforeDelete`):
/// the propagation policy sets the `orphan` or `foregroundDeletion`
/// finalizer; objects with finalizers, and pods on a node with a grace
/// period, get a deletionTimestamp; others go at once. A DELETE of an object
/// already marked may shorten a pod's grace period or change the garbage
/// collection finalizers.
fn delete(input: &Input<'_>, current: &Value, options: &Value) -> Result<Outcome, StatusError> {
    let info = input.info;
    let r = info.resource;
    // NamespaceLifecycle: the system namespaces stay.
    if r.kind == "Namespace" && ["default", "kube-system", "kube-public"].contains(&info.name.as_str()) {
        return Err(StatusError::forbidden(
            "",
            "namespaces",
            &info.name,
            format!("namespaces \"{}\" is forbidden: this namespace may not be deleted", info.name),
        ));
    }
    let uid = meta_str(current, "uid");
    if let Some(want) = options.pointer("/preconditions/uid").and_then(Value::as_str) {
        if want != uid {
            return Err(StatusError::conflict(
                r.group,
                r.plural,
                &info.name,
                &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
            ));
        }
    }
    if let Some(want) = options.pointer("/preconditions/resourceVersion").and_then(Value::as_str) {
        let rv = meta_str(current, "resourceVersion");
        if want != rv {
            return Err(StatusError::conflict(
                r.group,
                r.plural,
                &info.name,
                &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"),
            ));
        }
    }
    let grace = options
        .get("gracePeriodSeconds")
        .and_then(Value::as_i64)
        .or_else(|| info.param("gracePeriodSeconds").parse().ok());
    let propagation = options
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| info.param("propagationPolicy").to_string());
    if !["", "Background", "Orphan", "Foreground"].contains(&propagation.as_str()) {
        return Err(invalid(
            r,
            &info.name,
            vec![FieldError::not_supported(
                "propagationPolicy",
                propagation.as_str(),
                &["Foreground", "Background", "Orphan"],
            )],
        ));
    }
    let orphan_dependents = options.get("orphanDependents").and_then(Value::as_bool);
    let status_reply = !matches!(r.plural, "pods" | "services" | "namespaces" | "nodes" | "secrets" | "configmaps");
    let mut object = current.clone();
    let finalizers: Vec<String> = string_list(object.pointer("/metadata/finalizers"));
    let wanted = gc_finalizers(&finalizers, &propagation, orphan_dependents);
    let already_deleting = object.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if r.kind == "Namespace" {
        return delete_namespace(input, object, already_deleting, wanted, status_reply);
    }
    // rest.BeforeDelete: (graceful, graceful deletion already pending).
    let existing_grace = object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    let mut graceful_at: Option<i64> = None;
    if already_deleting {
        if existing_grace > 0 {
            // Only a shorter grace period may be asked for.
            match grace.map(|g| g.max(0)) {
                Some(g) if g < existing_grace => graceful_at = Some(g),
                _ => return Ok(Outcome::Done { code: 200, body: object }),
            }
        }
    } else if r.kind == "Pod" {
        // The pod strategy's CheckGracefulDelete: unscheduled and terminal
        // pods go at once, others get their grace period.
        let on_node = object.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let terminal = matches!(object.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
        let default = object.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        graceful_at = Some(if on_node && !terminal { grace.unwrap_or(default).max(0) } else { 0 });
    }
    let pending_finalizers = !wanted.is_empty();
    let period = match graceful_at {
        // A graceful delete with no time left and nothing to wait for is immediate.
        Some(0) | None if !pending_finalizers => return Ok(Outcome::Delete { object, status_reply }),
        Some(p) => p,
        None => 0,
    };
    let meta = object["metadata"].as_object_mut().expect("metadata");
    if graceful_at.is_some() || !already_deleting {
        // Grace periods beyond a year are cut to one (the stamp must stay a real time).
        let grace_ms = (period as u64).min(365 * 86_400).saturating_mul(1000);
        meta.insert("deletionTimestamp".into(), json!(rfc3339(input.now_ms.saturating_add(grace_ms))));
        meta.insert("deletionGracePeriodSeconds".into(), json!(period));
        if let Some(g) = meta.get("generation").and_then(Value::as_i64).filter(|_| !already_deleting) {
            meta.insert("generation".into(), json!(g + 1));
        }
    }
    if wanted.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(wanted));
    }
    meta.remove("resourceVersion");
    if object == *current || (already_deleting && graceful_at.is_none() && wanted == finalizers) {
        return Ok(Outcome::Done { code: 200, body: current.clone() });
    }
    Ok(Outcome::Put { object, code: 200, reply: None })
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The finalizers an object keeps after a DELETE with this propagation
/// policy (registry/store.go `deletionFinalizersForGarbageCollection`,
/// `shouldOrphanDependents`, `shouldDeleteDependents`): `orphan` and
/// `foregroundDeletion` are dropped and added back as the options say; with
/// no option the ones already there stay. Every resource kscope serves
/// defaults to deleting dependents in the background.
fn gc_finalizers(finalizers: &[String], propagation: &str, orphan_dependents: Option<bool>) -> Vec<String> {
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    let (orphan, foreground) = match (orphan_dependents, propagation) {
        (Some(o), _) => (o, false),
        (None, "Orphan") => (true, false),
        (None, "Foreground") => (false, true),
        (None, "Background") => (false, false),
        _ => (has(FINALIZER_ORPHAN), has(FINALIZER_FOREGROUND) && !has(FINALIZER_ORPHAN)),
    };
    let mut out: Vec<String> =
        finalizers.iter().filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND).cloned().collect();
    if orphan {
        out.push(FINALIZER_ORPHAN.into());
    }
    if foreground {
        out.push(FINALIZER_FOREGROUND.into());
    }
    if out.iter().collect::<std::collections::BTreeSet<_>>() == finalizers.iter().collect() {
        return finalizers.to_vec();
    }
    out
}

/// The namespace registry's Delete (pkg/registry/core/namespace/storage/storage.go):
/// the first DELETE stamps deletionTimestamp, moves the phase to
/// `Terminating` and sets the orphan/foreground finalizers the options ask
/// for; the namespace goes only once `spec.finalizers` is empty (the
/// namespace controller empties it through `finalize`).
fn delete_namespace(
    input: &Input<'_>,
    mut object: Value,
    already_deleting: bool,
    wanted: Vec<String>,
    status_reply: bool,
) -> Result<Outcome, StatusError> {
    let spec_finalizers = !string_list(object.pointer("/spec/finalizers")).is_empty();
    if !already_deleting {
        if !spec_finalizers && wanted.is_empty() {
            return Ok(Outcome::Delete { object, status_reply });
        }
        let meta = object["metadata"].as_object_mut().expect("metadata");
        meta.insert("deletionTimestamp".into(), json!(rfc3339(input.now_ms)));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        if !wanted.is_empty() {
            meta.insert("finalizers".into(), json!(wanted));
        }
        meta.remove("resourceVersion");
        object["status"]["phase"] = json!("Terminating");
        return Ok(Outcome::Put { object, code: 200, reply: None });
    }
    let finalizers_left = !string_list(object.pointer("/metadata/finalizers")).is_empty();
    if spec_finalizers || finalizers_left {
        return Ok(Outcome::Done { code: 200, body: object });
    }
    Ok(Outcome::Delete { object, status_reply })
}

/// The objects the apiserver creates when it starts, like the real bootstrap
/// controllers: system namespaces (pkg/controlplane/controller/systemnamespaces),
/// the `kubernetes` Service with its Endpoints and EndpointSlice, bootstrap RBAC
/// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) and the system priority
/// classes (pkg/apis/scheduling/types.go: 2000000000 and 2000001000).
pub fn bootstrap_objects() -> Vec<(&'static Resource, Value)> {
    let res = |plural: &str, group: &str| resources::by_plural(group, plural).expect("served resource");
    let mut out = Vec::new();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        out.push((res("namespaces", ""), json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})));
    }
    out.push((
        res("services", ""),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
    ));
    out.push((
        res("endpoints", ""),
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": APISERVER_ADDRESS}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}),
    ));
    // The apiserver's endpoint reconciler mirrors them into an EndpointSlice
    // (pkg/controlplane/reconcilers/endpointsadapter.go).
    out.push((
        res("endpointslices", "discovery.k8s.io"),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [APISERVER_ADDRESS], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}),
    ));
    for (name, value) in [("system-cluster-critical", 2_000_000_000), ("system-node-critical", 2_000_001_000)] {
        out.push((
            res("priorityclasses", "scheduling.k8s.io"),
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                "value": value, "globalDefault": false,
                "description": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."}),
        ));
    }
    for (name, rules) in super::rbac::bootstrap_cluster_roles() {
        out.push((
            res("clusterroles", "rbac.authorization.k8s.io"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
                "rules": rules}),
        ));
    }
    for (name, role, subject_kind, subject) in super::rbac::BOOTSTRAP_BINDINGS {
        let subject = match subject.split_once('/') {
            Some((namespace, sa)) if *subject_kind == "ServiceAccount" => {
                json!({"kind": subject_kind, "name": sa, "namespace": namespace})
            }
            _ => json!({"apiGroup": "rbac.authorization.k8s.io", "kind": subject_kind, "name": subject}),
        };
        out.push((
            res("clusterrolebindings", "rbac.authorization.k8s.io"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [subject]}),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ips_are_picked_among_free_addresses_only() {
        // An 8-address range: .2 to .6 are candidates; .1 is free (no
        // `kubernetes` Service yet, as while its create is retried) and
        // .2 to .5 are used. Counting .1 among the free ones let a pick fall
        // past the candidates onto .2, which was in use.
        let used: std::collections::BTreeSet<u32> = (2..6).collect();
        for seed in 0..64 {
            assert_eq!(free_offset(&used, 0, 8, &mut SimRng::new(seed)), Some(6), "seed {seed}");
        }
        let full: std::collections::BTreeSet<u32> = (2..7).collect();
        assert_eq!(free_offset(&full, 0, 8, &mut SimRng::new(1)), None);
    }

    #[test]
    fn uids_are_v4_and_qos_follows_resources() {
        let mut rng = SimRng::new(1);
        let uid = new_uid(&mut rng);
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(qos_class(&json!({"spec": {"containers": [{"name": "a"}]}})), "BestEffort");
        let g = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
