//! RBAC authorization (plugin/pkg/auth/authorizer/rbac/rbac.go): deny by
//! default; a request is allowed when a rule of a role bound to the user, one
//! of its groups, or its service account covers the verb, API group, resource
//! (with subresource, `pods/binding`) and name. `system:masters` is the
//! superuser group and skips RBAC, as in kube-apiserver.
//!
//! The bootstrap roles follow plugin/pkg/auth/authorizer/rbac/bootstrappolicy,
//! trimmed to the resources kscope serves. Kubelets are authorized by the
//! `system:node` role bound to `system:nodes` (the real cluster uses the Node
//! authorizer and NodeRestriction admission instead).

use super::watch_cache::WatchCache;
use super::UserInfo;
use crate::apimachinery::errors::StatusError;
use crate::apimachinery::request::RequestInfo;
use crate::apimachinery::resources;
use serde_json::{json, Value};

/// (binding name, cluster role, subject kind, subject name).
pub const BOOTSTRAP_BINDINGS: &[(&str, &str, &str, &str)] = &[
    ("cluster-admin", "cluster-admin", "Group", "system:masters"),
    ("system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
    ("system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager"),
    ("system:node", "system:node", "Group", "system:nodes"),
    ("system:node-proxier", "system:node-proxier", "User", "system:kube-proxy"),
    ("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

/// The bootstrap ClusterRoles and their rules.
pub fn bootstrap_cluster_roles() -> Vec<(&'static str, Value)> {
    let all: Vec<&str> = READ.iter().chain(WRITE).copied().collect();
    let core_view = [
        "configmaps",
        "endpoints",
        "pods",
        "pods/log",
        "pods/status",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "replicationcontrollers/status",
        "serviceaccounts",
        "services",
        "services/status",
        "events",
    ];
    let apps_view = [
        "controllerrevisions",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
    ];
    let core_edit = [
        "configmaps",
        "endpoints",
        "pods",
        "pods/eviction",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "secrets",
        "serviceaccounts",
        "services",
    ];
    let apps_edit = ["daemonsets", "deployments", "deployments/scale", "replicasets", "replicasets/scale"];
    let view = vec![
        rule(&[""], &core_view, READ),
        rule(&[""], &["namespaces", "namespaces/status"], READ),
        rule(&["apps"], &apps_view, READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
    ];
    let mut edit = view.clone();
    edit.extend([
        rule(&[""], &core_edit, &all),
        rule(&[""], &["secrets"], READ),
        rule(&["apps"], &apps_edit, &all),
        rule(&["discovery.k8s.io"], &["endpointslices"], &all),
        rule(&["coordination.k8s.io"], &["leases"], &all),
    ]);
    let mut admin = edit.clone();
    admin.push(rule(&["rbac.authorization.k8s.io"], &["roles", "rolebindings"], &all));
    vec![
        ("cluster-admin", json!([rule(&["*"], &["*"], &["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}])),
        ("admin", Value::Array(admin)),
        ("edit", Value::Array(edit)),
        ("view", Value::Array(view)),
        (
            "system:kube-scheduler",
            json!([
                rule(&["", "events.k8s.io"], &["events"], &["create", "patch", "update"]),
                rule(&["coordination.k8s.io"], &["leases"], &["create", "get", "update"]),
                rule(&[""], &["nodes"], READ),
                rule(&[""], &["pods"], &["delete", "get", "list", "watch"]),
                rule(&[""], &["bindings", "pods/binding"], &["create"]),
                rule(&[""], &["pods/status"], &["patch", "update"]),
                rule(&[""], &["replicationcontrollers", "services", "namespaces"], READ),
                rule(&["apps"], &["replicasets"], READ),
                rule(&["scheduling.k8s.io"], &["priorityclasses"], READ),
            ]),
        ),
        ("system:kube-controller-manager", json!([rule(&["*"], &["*"], &["*"])])),
        (
            "system:node",
            json!([
                rule(&[""], &["nodes"], &["create", "get", "list", "watch", "patch", "update"]),
                rule(&[""], &["nodes/status"], &["patch", "update"]),
                rule(&[""], &["pods"], &["get", "list", "watch", "create", "delete"]),
                rule(&[""], &["pods/status"], &["patch", "update"]),
                rule(&[""], &["pods/eviction"], &["create"]),
                rule(&[""], &["services", "endpoints", "configmaps", "secrets"], READ),
                rule(&["", "events.k8s.io"], &["events"], &["create", "patch", "update"]),
                rule(&["coordination.k8s.io"], &["leases"], &["create", "delete", "get", "patch", "update"]),
                rule(&["discovery.k8s.io"], &["endpointslices"], READ),
            ]),
        ),
        (
            "system:node-proxier",
            json!([
                rule(&[""], &["endpoints", "services"], &["list", "watch"]),
                rule(&[""], &["nodes"], READ),
                rule(&["", "events.k8s.io"], &["events"], &["create", "patch", "update"]),
                rule(&["discovery.k8s.io"], &["endpointslices"], &["list", "watch"]),
            ]),
        ),
        (
            "system:basic-user",
            json!([rule(
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                &["create"]
            )]),
        ),
    ]
}

fn matches(list: Option<&Value>, value: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|l| l.iter().any(|v| v == "*" || v == value))
}

/// Whether `rule` allows `verb` on `group`/`resource` named `name`.
fn rule_allows(rule: &Value, verb: &str, group: &str, resource: &str, name: &str) -> bool {
    let names_ok = match rule.get("resourceNames").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => !name.is_empty() && names.iter().any(|n| n == name),
        _ => true,
    };
    matches(rule.get("verbs"), verb)
        && matches(rule.get("apiGroups"), group)
        && matches(rule.get("resources"), resource)
        && names_ok
}

fn subject_matches(subject: &Value, user: &UserInfo, namespace: &str) -> bool {
    let name = subject.get("name").and_then(Value::as_str).unwrap_or_default();
    match subject.get("kind").and_then(Value::as_str) {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = subject.get("namespace").and_then(Value::as_str).unwrap_or(namespace);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn role_rules<'a>(cache: &'a WatchCache, role_ref: &Value, namespace: &str) -> Vec<&'a Value> {
    let name = role_ref.get("name").and_then(Value::as_str).unwrap_or_default();
    let key = match role_ref.get("kind").and_then(Value::as_str) {
        Some("ClusterRole") => {
            resources::by_plural("rbac.authorization.k8s.io", "clusterroles").map(|r| r.etcd_key("", name))
        }
        Some("Role") => resources::by_plural("rbac.authorization.k8s.io", "roles").map(|r| r.etcd_key(namespace, name)),
        _ => None,
    };
    key.and_then(|k| cache.get(&k))
        .and_then(|c| c.object.get("rules"))
        .and_then(Value::as_array)
        .map(|rules| rules.iter().collect())
        .unwrap_or_default()
}

/// Whether `user` may do `verb` on `group`/`resource` (`pods/log` for a
/// subresource) named `name` in `namespace` ("" for cluster scope).
pub fn allowed(
    cache: &WatchCache,
    user: &UserInfo,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> bool {
    if user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let crb = resources::by_plural("rbac.authorization.k8s.io", "clusterrolebindings").expect("crb");
    for (_, binding) in cache.list(&crb.etcd_list_prefix("")) {
        let b = &binding.object;
        let subjects = b.get("subjects").and_then(Value::as_array).into_iter().flatten();
        if subjects.clone().any(|s| subject_matches(s, user, "")) {
            let rules = role_rules(cache, &b["roleRef"], "");
            if rules.iter().any(|r| rule_allows(r, verb, group, resource, name)) {
                return true;
            }
        }
    }
    if namespace.is_empty() {
        return false;
    }
    let rb = resources::by_plural("rbac.authorization.k8s.io", "rolebindings").expect("rb");
    for (_, binding) in cache.list(&rb.etcd_list_prefix(namespace)) {
        let b = &binding.object;
        let subjects = b.get("subjects").and_then(Value::as_array).into_iter().flatten();
        if subjects.clone().any(|s| subject_matches(s, user, namespace)) {
            let rules = role_rules(cache, &b["roleRef"], namespace);
            if rules.iter().any(|r| rule_allows(r, verb, group, resource, name)) {
                return true;
            }
        }
    }
    false
}

/// Whether `user` may `verb` the non-resource URL `url` (from ClusterRoles only).
fn allowed_non_resource(cache: &WatchCache, user: &UserInfo, verb: &str, url: &str) -> bool {
    if user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let crb = resources::by_plural("rbac.authorization.k8s.io", "clusterrolebindings").expect("crb");
    cache.list(&crb.etcd_list_prefix("")).any(|(_, binding)| {
        let b = &binding.object;
        let bound =
            b.get("subjects").and_then(Value::as_array).into_iter().flatten().any(|s| subject_matches(s, user, ""));
        bound
            && role_rules(cache, &b["roleRef"], "").iter().any(|r| {
                matches(r.get("verbs"), verb)
                    && r.get("nonResourceURLs").and_then(Value::as_array).is_some_and(|urls| {
                        urls.iter()
                            .filter_map(Value::as_str)
                            .any(|u| u == "*" || u == url || u.strip_suffix('*').is_some_and(|p| url.starts_with(p)))
                    })
            })
    })
}

/// RBAC's escalation check (pkg/registry/rbac/validation `ConfirmNoEscalation`):
/// a user may only create or change a Role/ClusterRole whose rules it holds
/// itself (or has `escalate` on roles), and only bind a role whose rules it
/// holds (or has `bind` on it). `object` is the Role, ClusterRole or binding.
pub fn confirm_no_escalation(
    cache: &WatchCache,
    user: &UserInfo,
    object: &Value,
    namespace: &str,
) -> Result<(), String> {
    if user.groups.iter().any(|g| g == "system:masters") {
        return Ok(());
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let group = "rbac.authorization.k8s.io";
    let (rules, plural): (Vec<Value>, &str) = match kind {
        "Role" | "ClusterRole" => {
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            if allowed(cache, user, "escalate", group, plural, namespace, name) {
                return Ok(());
            }
            (object.get("rules").and_then(Value::as_array).cloned().unwrap_or_default(), plural)
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = object.get("roleRef").cloned().unwrap_or(Value::Null);
            let role_kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or_default();
            let role_name = role_ref.get("name").and_then(Value::as_str).unwrap_or_default();
            let role_plural = if role_kind == "Role" { "roles" } else { "clusterroles" };
            if allowed(cache, user, "bind", group, role_plural, namespace, role_name) {
                return Ok(());
            }
            let plural = if kind == "RoleBinding" { "rolebindings" } else { "clusterrolebindings" };
            let key = match role_kind {
                "Role" => resources::by_plural(group, "roles").map(|r| r.etcd_key(namespace, role_name)),
                _ => resources::by_plural(group, "clusterroles").map(|r| r.etcd_key("", role_name)),
            };
            if key.and_then(|k| cache.get(&k)).is_none() {
                // GetRoleReferenceRules fails: nothing to check the grant against.
                return Err(format!("{role_plural}.{group} \"{role_name}\" not found"));
            }
            (role_rules(cache, &role_ref, namespace).into_iter().cloned().collect(), plural)
        }
        _ => return Ok(()),
    };
    let strings = |rule: &Value, field: &str| -> Vec<String> {
        rule.get(field)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let mut missing = Vec::new();
    for rule in &rules {
        if let Some(urls) = rule.get("nonResourceURLs").and_then(Value::as_array) {
            for url in urls.iter().filter_map(Value::as_str) {
                for verb in strings(rule, "verbs") {
                    if !allowed_non_resource(cache, user, &verb, url) {
                        missing.push(format!("{{NonResourceURLs:[{url:?}], Verbs:[{verb:?}]}}"));
                    }
                }
            }
            continue;
        }
        for g in strings(rule, "apiGroups") {
            for res in strings(rule, "resources") {
                for verb in strings(rule, "verbs") {
                    if !allowed(cache, user, &verb, &g, &res, namespace, "") {
                        missing.push(format!("{{APIGroups:[{g:?}], Resources:[{res:?}], Verbs:[{verb:?}]}}"));
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    Err(format!(
        "{plural}.{group} \"{name}\" is forbidden: user \"{}\" (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        groups.join(" "),
        missing.join("\n")
    ))
}

/// Authorizes a request; the 403 reads like kube-apiserver's
/// (endpoints/handlers/responsewriters/errors.go `forbiddenMessage`).
pub fn authorize(cache: &WatchCache, user: &UserInfo, info: &RequestInfo) -> Result<(), StatusError> {
    let r = info.resource;
    let resource =
        if info.subresource.is_empty() { r.plural.to_string() } else { format!("{}/{}", r.plural, info.subresource) };
    let namespace = if r.plural == "namespaces" { info.name.as_str() } else { info.namespace.as_str() };
    let scope_ns = if r.namespaced || r.plural == "namespaces" { namespace } else { "" };
    let verb = info.verb.as_str();
    // A namespace is authorized within itself too (its RequestInfo namespace is its name).
    if allowed(cache, user, verb, r.group, &resource, scope_ns, &info.name) {
        return Ok(());
    }
    let scope = if r.namespaced && !scope_ns.is_empty() {
        format!("in the namespace \"{scope_ns}\"")
    } else {
        "at the cluster scope".to_string()
    };
    let reason =
        format!("User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}", user.name, r.group);
    let gr = crate::apimachinery::errors::group_resource(r.group, &resource);
    let message = if info.name.is_empty() {
        format!("{gr} is forbidden: {reason}")
    } else {
        format!("{gr} \"{}\" is forbidden: {reason}", info.name)
    };
    Err(StatusError::forbidden(r.group, &resource, &info.name, message))
}
