//! Validation with Kubernetes' wording and field paths: object metadata
//! (apimachinery pkg/api/validation/objectmeta.go), names and labels
//! (apimachinery pkg/util/validation/validation.go), and the kinds' own rules
//! (pkg/apis/core/validation/validation.go, pkg/apis/apps/validation/validation.go).

use super::typed::Typed;
use crate::apimachinery::errors::{BadValue, FieldError};
use crate::apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// `field is immutable`.
pub const IMMUTABLE: &str = "field is immutable";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain errors for `value` (empty when valid).
pub fn subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !value.split('.').all(is_label) {
        errs.push(SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// DNS-1123 label errors for `value`.
pub fn label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let ok = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok || value.is_empty() {
        errs.push(LABEL_MSG.to_string());
    }
    errs
}

/// DNS-1035 label errors for `value` (Service names).
pub fn dns1035_errors(value: &str) -> Vec<String> {
    let mut errs = label_errors(value);
    if !errs.is_empty() || value.starts_with(|c: char| c.is_ascii_digit()) {
        errs.retain(|e| e != LABEL_MSG);
        errs.push(DNS1035_MSG.to_string());
    }
    errs
}

fn qualified_name_errors(key: &str) -> Vec<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut errs = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            errs.extend(subdomain_errors(p).into_iter().map(|e| format!("prefix part {e}")));
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name.is_empty() && !ok {
        errs.push(NAME_PART_MSG.to_string());
    }
    errs
}

fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let ok = value.is_empty()
        || (value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if !ok {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Label value errors (for kubectl's client-side check of `label k=v`).
pub fn label_value_errors_pub(value: &str) -> Vec<String> {
    label_value_errors(value)
}

fn labels(labels: &Option<BTreeMap<String, String>>, path: &str, errs: &mut Vec<FieldError>) {
    for (k, v) in labels.iter().flatten() {
        for e in qualified_name_errors(k) {
            errs.push(FieldError::invalid(path, k.as_str(), e));
        }
        // ValidateLabels reports values at the map's path, not the key's.
        for e in label_value_errors(v) {
            errs.push(FieldError::invalid(path, v.as_str(), e));
        }
    }
}

/// Which name rule a kind's names follow.
#[derive(Clone, Copy)]
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    /// RBAC objects: any name that is a valid path segment.
    PathSegment,
}

fn name_rule(kind: &str) -> NameRule {
    match kind {
        "Namespace" => NameRule::Label,
        "Service" => NameRule::Dns1035,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// `ValidateObjectMeta`: name, namespace, labels, annotations.
fn object_meta(kind: &str, meta: &ObjectMeta, namespaced: bool, errs: &mut Vec<FieldError>) {
    let name = meta.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        let problems = match name_rule(kind) {
            NameRule::Subdomain => subdomain_errors(name),
            NameRule::Label => label_errors(name),
            NameRule::Dns1035 => dns1035_errors(name),
            NameRule::PathSegment => {
                if name == "." || name == ".." {
                    vec![format!("may not be '{name}'")]
                } else if name.contains('/') || name.contains('%') {
                    vec![format!("may not contain '{}'", if name.contains('/') { "/" } else { "%" })]
                } else {
                    vec![]
                }
            }
        };
        for p in problems {
            errs.push(FieldError::invalid("metadata.name", name, p));
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if namespaced && namespace.is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    } else if namespaced {
        for p in label_errors(namespace) {
            errs.push(FieldError::invalid("metadata.namespace", namespace, p));
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    labels(&meta.labels, "metadata.labels", errs);
    for k in meta.annotations.iter().flat_map(|a| a.keys()) {
        for e in qualified_name_errors(k) {
            errs.push(FieldError::invalid("metadata.annotations", k.as_str(), e));
        }
    }
}

/// Go's `%#v` of a `map[string]string`: `map[string]string{"app":"web"}`.
pub fn go_map(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", items.join(", "))
}

/// Go's `%#v` of a `v1.LabelSelector`.
fn go_label_selector(s: &LabelSelector) -> String {
    let labels = match &s.match_labels {
        Some(m) => go_map(m),
        None => "map[string]string(nil)".to_string(),
    };
    let exprs = match &s.match_expressions {
        Some(e) if !e.is_empty() => format!("[]v1.LabelSelectorRequirement{{/* {} items */}}", e.len()),
        _ => "[]v1.LabelSelectorRequirement(nil)".to_string(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// apps/v1 selectors are immutable: `spec.selector: Invalid value: ...: field is immutable`.
fn selector_unchanged(old: Option<&LabelSelector>, new: &LabelSelector, errs: &mut Vec<FieldError>) {
    if old != Some(new) {
        errs.push(FieldError::invalid("spec.selector", BadValue::Bare(go_label_selector(new)), IMMUTABLE));
    }
}

fn label_selector_value(s: &LabelSelector) -> Option<Selector> {
    Selector::from_label_selector(&serde_json::to_value(s).ok()?)
}

fn non_negative(value: Option<i32>, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(v) = value.filter(|v| *v < 0) {
        errs.push(FieldError::invalid(path, v, "must be greater than or equal to 0"));
    }
}

fn containers(
    list: &[Container],
    path: &str,
    required: bool,
    names: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    if required && list.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    for (i, c) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if c.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            for e in label_errors(&c.name) {
                errs.push(FieldError::invalid(format!("{p}.name"), c.name.as_str(), e));
            }
            if !names.insert(c.name.clone()) {
                errs.push(FieldError::duplicate(format!("{p}.name"), c.name.as_str()));
            }
        }
        match c.image.as_deref() {
            None => errs.push(FieldError::required(format!("{p}.image"), "")),
            Some(i) if i.trim().is_empty() => errs.push(FieldError::required(format!("{p}.image"), "")),
            Some(i) if i.trim() != i => {
                errs.push(FieldError::invalid(format!("{p}.image"), i, "must not have leading or trailing whitespace"))
            }
            _ => {}
        }
        if let Some(policy) = c.image_pull_policy.as_deref() {
            if !["Always", "IfNotPresent", "Never"].contains(&policy) {
                errs.push(FieldError::not_supported(
                    format!("{p}.imagePullPolicy"),
                    policy,
                    &["Always", "IfNotPresent", "Never"],
                ));
            }
        }
        let mut port_names = BTreeSet::new();
        for (j, port) in c.ports.iter().flatten().enumerate() {
            let pp = format!("{p}.ports[{j}]");
            if !(1..=65535).contains(&port.container_port) {
                errs.push(FieldError::invalid(
                    format!("{pp}.containerPort"),
                    port.container_port,
                    "must be between 1 and 65535, inclusive",
                ));
            }
            if let Some(proto) = port.protocol.as_deref() {
                if !["TCP", "UDP", "SCTP"].contains(&proto) {
                    errs.push(FieldError::not_supported(format!("{pp}.protocol"), proto, &["SCTP", "TCP", "UDP"]));
                }
            }
            if let Some(name) = port.name.as_deref() {
                if !port_names.insert(name.to_string()) {
                    errs.push(FieldError::duplicate(format!("{pp}.name"), name));
                }
            }
        }
        for (j, env) in c.env.iter().flatten().enumerate() {
            if env.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.env[{j}].name"), ""));
            }
        }
        if let Some(res) = &c.resources {
            for (kind, map) in [("limits", &res.limits), ("requests", &res.requests)] {
                for (name, q) in map.iter().flatten() {
                    if let Err(e) = crate::quantity::Quantity::parse(&q.0) {
                        errs.push(FieldError::invalid(format!("{p}.resources.{kind}[{name}]"), q.0.as_str(), e));
                    }
                }
            }
        }
    }
}

fn pod_spec(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    containers(&spec.containers, &format!("{path}.containers"), true, &mut names, errs);
    containers(
        spec.init_containers.as_deref().unwrap_or_default(),
        &format!("{path}.initContainers"),
        false,
        &mut names,
        errs,
    );
    if let Some(policy) = spec.restart_policy.as_deref() {
        if !["Always", "OnFailure", "Never"].contains(&policy) {
            errs.push(FieldError::not_supported(
                format!("{path}.restartPolicy"),
                policy,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    if let Some(policy) = spec.dns_policy.as_deref() {
        let valid = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
        if !valid.contains(&policy) {
            errs.push(FieldError::not_supported(format!("{path}.dnsPolicy"), policy, &valid));
        }
    }
    if let Some(g) = spec.termination_grace_period_seconds.filter(|g| *g < 0) {
        errs.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(node) = spec.node_name.as_deref() {
        for e in subdomain_errors(node) {
            errs.push(FieldError::invalid(format!("{path}.nodeName"), node, e));
        }
    }
    labels(&spec.node_selector, &format!("{path}.nodeSelector"), errs);
}

fn template(t: Option<&PodTemplateSpec>, selector: Option<&Selector>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(t) = t else {
        errs.push(FieldError::required(path, ""));
        return;
    };
    let template_labels = t.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if let Some(meta) = &t.metadata {
        labels(&meta.labels, &format!("{path}.metadata.labels"), errs);
    }
    if let Some(sel) = selector {
        if !sel.is_empty() && !sel.matches(&template_labels) {
            errs.push(FieldError::invalid(
                format!("{path}.metadata.labels"),
                BadValue::Bare(go_map(&template_labels)),
                "`selector` does not match template `labels`",
            ));
        }
    }
    match &t.spec {
        Some(spec) => {
            pod_spec(spec, &format!("{path}.spec"), errs);
            if let Some(policy) = spec.restart_policy.as_deref().filter(|p| *p != "Always") {
                errs.push(FieldError::not_supported(format!("{path}.spec.restartPolicy"), policy, &["Always"]));
            }
        }
        None => errs.push(FieldError::required(format!("{path}.spec"), "")),
    }
}

/// Go's `%#v` of an `intstr.IntOrString`.
fn go_int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => format!("intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:\"\"}}"),
        IntOrString::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{s:?}}}"),
    }
}

/// A percentage's number, when `v` is a valid percent string (`getPercentValue`).
fn percent_value(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%')?;
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().unwrap_or(i64::MAX))
        }
        IntOrString::Int(_) => None,
    }
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn int_or_percent(v: &IntOrString, path: &str, errs: &mut Vec<FieldError>) {
    let bad = || BadValue::Bare(go_int_or_string(v));
    match v {
        IntOrString::String(_) if percent_value(v).is_none() => errs.push(FieldError::invalid(
            path,
            bad(),
            "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        )),
        IntOrString::Int(n) if *n < 0 => errs.push(FieldError::invalid(path, *n, "must be greater than or equal to 0")),
        _ => {}
    }
    if percent_value(v).is_some_and(|p| p > 100) {
        errs.push(FieldError::invalid(path, bad(), "must not be greater than 100%"));
    }
}

/// pkg/apis/apps/validation `ValidateDaemonSetSpec`, `ValidateDaemonSetUpdateStrategy`,
/// `ValidateRollingUpdateDaemonSet`, and the selector's immutability on update
/// (the daemonset strategy's `ValidateUpdate`).
fn daemon_set_spec(spec: &k8s_openapi::api::apps::v1::DaemonSetSpec, old: Option<&Typed>, errs: &mut Vec<FieldError>) {
    let selector = selector_required(&spec.selector, "spec.selector", "daemonset", errs);
    template(Some(&spec.template), selector.as_ref(), "spec.template", errs);
    if spec.template.spec.as_ref().is_some_and(|s| s.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    non_negative(spec.min_ready_seconds, "spec.minReadySeconds", errs);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref().unwrap_or_default() {
        "OnDelete" => {}
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required("spec.updateStrategy.rollingUpdate", "")),
            Some(ru) => {
                let path = "spec.updateStrategy.rollingUpdate";
                let zero = IntOrString::Int(0);
                let unavailable = ru.max_unavailable.as_ref().unwrap_or(&zero);
                let surge = ru.max_surge.as_ref().unwrap_or(&zero);
                int_or_percent(unavailable, &format!("{path}.maxUnavailable"), errs);
                int_or_percent(surge, &format!("{path}.maxSurge"), errs);
                // getIntOrPercentValue: a percentage's number, else the integer.
                let value = |v: &IntOrString| match v {
                    IntOrString::Int(n) => i64::from(*n),
                    IntOrString::String(_) => percent_value(v).unwrap_or(0),
                };
                match (value(unavailable) != 0, value(surge) != 0) {
                    (true, true) => errs.push(FieldError::invalid(
                        format!("{path}.maxSurge"),
                        BadValue::Bare(go_int_or_string(surge)),
                        "may not be set when maxUnavailable is non-zero",
                    )),
                    (false, false) => errs
                        .push(FieldError::required(format!("{path}.maxUnavailable"), "cannot be 0 when maxSurge is 0")),
                    _ => {}
                }
            }
        },
        other => {
            let rolling = if strategy.rolling_update.is_some() { "0xc000000000" } else { "nil" };
            errs.push(FieldError::not_supported(
                "spec.updateStrategy",
                BadValue::Bare(format!(
                    "apps.DaemonSetUpdateStrategy{{Type:{other:?}, RollingUpdate:(*apps.RollingUpdateDaemonSet)({rolling})}}"
                )),
                &["RollingUpdate", "OnDelete"],
            ));
        }
    }
    non_negative(spec.revision_history_limit, "spec.revisionHistoryLimit", errs);
    if let Some(Typed::DaemonSet(old)) = old {
        selector_unchanged(old.spec.as_ref().map(|s| &s.selector), &spec.selector, errs);
    }
}

fn selector_required(selector: &LabelSelector, path: &str, kind: &str, errs: &mut Vec<FieldError>) -> Option<Selector> {
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|m| m.is_empty());
    if empty {
        if selector.match_labels.is_none() && selector.match_expressions.is_none() {
            errs.push(FieldError::required(path, ""));
        } else {
            errs.push(FieldError::invalid(
                path,
                BadValue::Bare(go_label_selector(selector)),
                format!("empty selector is invalid for {kind}"),
            ));
        }
        return None;
    }
    labels(&selector.match_labels, &format!("{path}.matchLabels"), errs);
    for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let has_values = e.values.as_ref().is_some_and(|v| !v.is_empty());
        match e.operator.as_str() {
            "In" | "NotIn" if !has_values => errs.push(FieldError::required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if has_values => errs.push(FieldError::forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(format!("{p}.operator"), other, "not a valid selector operator")),
        }
        for q in qualified_name_errors(&e.key) {
            errs.push(FieldError::invalid(format!("{p}.key"), e.key.as_str(), q));
        }
    }
    label_selector_value(selector)
}

/// Validates `object` (on create, `old` is `None`).
pub fn validate(object: &Typed, old: Option<&Typed>, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    object_meta(object.kind(), object.metadata(), namespaced, &mut errs);
    match object {
        Typed::Pod(pod) => match &pod.spec {
            Some(spec) => pod_spec(spec, "spec", &mut errs),
            None => errs.push(FieldError::required("spec", "")),
        },
        Typed::Deployment(d) => match &d.spec {
            Some(spec) => {
                non_negative(spec.replicas, "spec.replicas", &mut errs);
                let selector = selector_required(&spec.selector, "spec.selector", "deployment", &mut errs);
                template(Some(&spec.template), selector.as_ref(), "spec.template", &mut errs);
                non_negative(spec.revision_history_limit, "spec.revisionHistoryLimit", &mut errs);
                if let Some(strategy) = &spec.strategy {
                    match strategy.type_.as_deref() {
                        Some("RollingUpdate") | None => {}
                        Some("Recreate") => {
                            if strategy.rolling_update.is_some() {
                                errs.push(FieldError::forbidden(
                                    "spec.strategy.rollingUpdate",
                                    "may not be specified when strategy `type` is 'Recreate'",
                                ));
                            }
                        }
                        Some(other) => errs.push(FieldError::not_supported(
                            "spec.strategy.type",
                            other,
                            &["Recreate", "RollingUpdate"],
                        )),
                    }
                }
                if let (Some(p), m) = (spec.progress_deadline_seconds, spec.min_ready_seconds.unwrap_or(0)) {
                    if p <= m {
                        errs.push(FieldError::invalid(
                            "spec.progressDeadlineSeconds",
                            p,
                            "must be greater than minReadySeconds",
                        ));
                    }
                }
                if let Some(Typed::Deployment(old)) = old {
                    selector_unchanged(old.spec.as_ref().map(|s| &s.selector), &spec.selector, &mut errs);
                }
            }
            None => errs.push(FieldError::required("spec", "")),
        },
        Typed::ReplicaSet(rs) => match &rs.spec {
            Some(spec) => {
                non_negative(spec.replicas, "spec.replicas", &mut errs);
                let selector = selector_required(&spec.selector, "spec.selector", "replicaset", &mut errs);
                template(spec.template.as_ref(), selector.as_ref(), "spec.template", &mut errs);
                if let Some(Typed::ReplicaSet(old)) = old {
                    selector_unchanged(old.spec.as_ref().map(|s| &s.selector), &spec.selector, &mut errs);
                }
            }
            None => errs.push(FieldError::required("spec", "")),
        },
        Typed::DaemonSet(ds) => match &ds.spec {
            Some(spec) => daemon_set_spec(spec, old, &mut errs),
            None => errs.push(FieldError::required("spec", "")),
        },
        // ValidateControllerRevision and ValidateControllerRevisionUpdate.
        Typed::ControllerRevision(cr) => {
            if cr.data.is_none() {
                errs.push(FieldError::required("data", "data is mandatory"));
            }
            if cr.revision < 0 {
                errs.push(FieldError::invalid("revision", cr.revision, "must be greater than or equal to 0"));
            }
            if let Some(Typed::ControllerRevision(old)) = old {
                if old.data != cr.data {
                    let raw =
                        cr.data.as_ref().map(|d| serde_json::to_vec(&d.0).unwrap_or_default()).unwrap_or_default();
                    let bytes: Vec<String> = raw.iter().map(|b| format!("0x{b:x}")).collect();
                    let value = format!(
                        "runtime.RawExtension{{Raw:[]uint8{{{}}}, Object:runtime.Object(nil)}}",
                        bytes.join(", ")
                    );
                    errs.push(FieldError::invalid("data", BadValue::Bare(value), IMMUTABLE));
                }
            }
        }
        Typed::ReplicationController(rc) => match &rc.spec {
            Some(spec) => {
                non_negative(spec.replicas, "spec.replicas", &mut errs);
                let selector = spec.selector.clone().unwrap_or_default();
                if selector.is_empty() {
                    errs.push(FieldError::required("spec.selector", ""));
                }
                let sel = Selector::from_label_selector(&serde_json::json!({"matchLabels": selector}));
                template(spec.template.as_ref(), sel.as_ref(), "spec.template", &mut errs);
            }
            None => errs.push(FieldError::required("spec", "")),
        },
        Typed::Service(svc) => service(svc, old, &mut errs),
        Typed::EndpointSlice(slice) => endpoint_slice(slice, old, &mut errs),
        Typed::Endpoints(ep) => endpoints(ep, &mut errs),
        Typed::Namespace(_) | Typed::ConfigMap(_) | Typed::Secret(_) | Typed::ServiceAccount(_) => {}
        Typed::Role(role) => policy_rules(role.rules.as_deref().unwrap_or_default(), true, &mut errs),
        Typed::ClusterRole(role) => policy_rules(role.rules.as_deref().unwrap_or_default(), false, &mut errs),
        Typed::RoleBinding(b) => subjects(b.subjects.as_deref().unwrap_or_default(), &mut errs),
        Typed::ClusterRoleBinding(b) => subjects(b.subjects.as_deref().unwrap_or_default(), &mut errs),
        Typed::PriorityClass(pc)
            if pc.value > 1_000_000_000 && !pc.metadata.name.as_deref().unwrap_or_default().starts_with("system-") =>
        {
            errs.push(FieldError::forbidden("value", "maximum allowed value of a user defined priority is 1000000000"));
        }
        _ => {}
    }
    match (object, old) {
        (Typed::RoleBinding(new), Some(Typed::RoleBinding(old))) if new.role_ref != old.role_ref => {
            errs.push(role_ref_changed(&new.role_ref));
        }
        (Typed::ClusterRoleBinding(new), Some(Typed::ClusterRoleBinding(old))) if new.role_ref != old.role_ref => {
            errs.push(role_ref_changed(&new.role_ref));
        }
        (Typed::ConfigMap(new), Some(Typed::ConfigMap(old))) if old.immutable == Some(true) => {
            if new.data != old.data {
                errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
            }
            if new.binary_data != old.binary_data {
                errs.push(FieldError::forbidden("binaryData", "field is immutable when `immutable` is set"));
            }
            if new.immutable != Some(true) {
                errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
            }
        }
        (Typed::Secret(new), Some(Typed::Secret(old))) if old.immutable == Some(true) && new.data != old.data => {
            errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
        }
        (Typed::PriorityClass(new), Some(Typed::PriorityClass(old))) if new.value != old.value => {
            errs.push(FieldError::forbidden("value", "may not be changed in an update."));
        }
        _ => {}
    }
    if let (Some(old), meta) = (old.map(Typed::metadata), object.metadata()) {
        if old.uid != meta.uid && meta.uid.is_some() {
            errs.push(FieldError::invalid("metadata.uid", meta.uid.clone().unwrap_or_default(), IMMUTABLE));
        }
    }
    // ToAggregate drops repeated messages.
    let mut seen = BTreeSet::new();
    errs.retain(|e| seen.insert(e.to_string()));
    errs
}

fn port_number(port: i32, path: String, errs: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(path, port, "must be between 1 and 65535, inclusive"));
    }
}

fn protocol(value: Option<&str>, path: String, errs: &mut Vec<FieldError>) {
    match value {
        None | Some("") => errs.push(FieldError::required(path, "")),
        Some("TCP" | "UDP" | "SCTP") => {}
        Some(other) => errs.push(FieldError::not_supported(path, other, &["SCTP", "TCP", "UDP"])),
    }
}

/// pkg/apis/discovery/validation `ValidateEndpointSlice` (the basics:
/// address type, addresses of that type, ports) and its update rule (the
/// address type is immutable).
fn endpoint_slice(
    slice: &k8s_openapi::api::discovery::v1::EndpointSlice,
    old: Option<&Typed>,
    errs: &mut Vec<FieldError>,
) {
    let address_type = slice.address_type.as_str();
    match address_type {
        "" => errs.push(FieldError::required("addressType", "")),
        "IPv4" | "IPv6" | "FQDN" => {}
        other => errs.push(FieldError::not_supported("addressType", other, &["FQDN", "IPv4", "IPv6"])),
    }
    for (i, e) in slice.endpoints.iter().enumerate() {
        let path = format!("endpoints[{i}].addresses");
        if e.addresses.is_empty() {
            errs.push(FieldError::required(path.clone(), "must contain at least 1 address"));
        }
        for (j, a) in e.addresses.iter().enumerate() {
            let ok = match address_type {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => true,
            };
            if !ok {
                let why = if address_type == "IPv4" {
                    "must be a valid IPv4 address"
                } else {
                    "must be a valid IPv6 address"
                };
                errs.push(FieldError::invalid(format!("{path}[{j}]"), a.as_str(), why));
            }
        }
    }
    for (i, p) in slice.ports.iter().flatten().enumerate() {
        if let Some(n) = p.port {
            port_number(n, format!("ports[{i}].port"), errs);
        }
        protocol(p.protocol.as_deref(), format!("ports[{i}].protocol"), errs);
    }
    if let Some(Typed::EndpointSlice(old)) = old {
        if old.address_type != slice.address_type {
            errs.push(FieldError::invalid("addressType", address_type, IMMUTABLE));
        }
    }
}

/// pkg/apis/core/validation `ValidateEndpoints` (the basics: IPs and ports).
fn endpoints(ep: &k8s_openapi::api::core::v1::Endpoints, errs: &mut Vec<FieldError>) {
    for (i, s) in ep.subsets.iter().flatten().enumerate() {
        for (field, addresses) in [("addresses", &s.addresses), ("notReadyAddresses", &s.not_ready_addresses)] {
            for (j, a) in addresses.iter().flatten().enumerate() {
                if a.ip.parse::<std::net::IpAddr>().is_err() {
                    errs.push(FieldError::invalid(
                        format!("subsets[{i}].{field}[{j}].ip"),
                        a.ip.as_str(),
                        "must be a valid IP address",
                    ));
                }
            }
        }
        for (j, p) in s.ports.iter().flatten().enumerate() {
            port_number(p.port, format!("subsets[{i}].ports[{j}].port"), errs);
            protocol(p.protocol.as_deref(), format!("subsets[{i}].ports[{j}].protocol"), errs);
        }
    }
}

/// pkg/apis/rbac/validation `ValidatePolicyRule`.
fn policy_rules(rules: &[k8s_openapi::api::rbac::v1::PolicyRule], namespaced: bool, errs: &mut Vec<FieldError>) {
    for (i, rule) in rules.iter().enumerate() {
        let p = format!("rules[{i}]");
        if rule.verbs.is_empty() {
            errs.push(FieldError::required(format!("{p}.verbs"), "verbs must contain at least one value"));
        }
        let urls = rule.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty());
        let resources = rule.resources.as_ref().is_some_and(|r| !r.is_empty());
        let value = || BadValue::Bare(format!("{:?}", rule.non_resource_urls.clone().unwrap_or_default()));
        if urls {
            if namespaced {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    value(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if resources || rule.api_groups.as_ref().is_some_and(|g| !g.is_empty()) {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    value(),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
        } else {
            if rule.api_groups.as_ref().is_none_or(|g| g.is_empty()) {
                errs.push(FieldError::required(
                    format!("{p}.apiGroups"),
                    "resource rules must supply at least one api group",
                ));
            }
            if !resources {
                errs.push(FieldError::required(
                    format!("{p}.resources"),
                    "resource rules must supply at least one resource",
                ));
            }
        }
    }
}

fn subjects(subjects: &[k8s_openapi::api::rbac::v1::Subject], errs: &mut Vec<FieldError>) {
    for (i, s) in subjects.iter().enumerate() {
        let p = format!("subjects[{i}]");
        if s.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        match s.kind.as_str() {
            "ServiceAccount" => {
                if s.namespace.as_deref().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{p}.namespace"), ""));
                }
            }
            "User" | "Group" => {}
            other => {
                errs.push(FieldError::not_supported(format!("{p}.kind"), other, &["ServiceAccount", "User", "Group"]))
            }
        }
    }
}

fn role_ref_changed(r: &k8s_openapi::api::rbac::v1::RoleRef) -> FieldError {
    FieldError::invalid(
        "roleRef",
        BadValue::Bare(format!("rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}", r.api_group, r.kind, r.name)),
        "cannot change roleRef",
    )
}

fn service(svc: &k8s_openapi::api::core::v1::Service, old: Option<&Typed>, errs: &mut Vec<FieldError>) {
    let Some(spec) = &svc.spec else {
        errs.push(FieldError::required("spec", ""));
        return;
    };
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    let valid = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !valid.contains(&kind) {
        errs.push(FieldError::not_supported("spec.type", kind, &valid));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && kind != "ExternalName" && spec.cluster_ip.as_deref() != Some("None") {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        if ports.len() > 1 && p.name.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        }
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{path}.name"), name));
            }
        }
        if !(1..=65535).contains(&p.port) {
            errs.push(FieldError::invalid(format!("{path}.port"), p.port, "must be between 1 and 65535, inclusive"));
        }
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            if kind == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    format!("{path}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !(30000..=32767).contains(&np) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    np,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
        if let Some(proto) = p.protocol.as_deref() {
            if !["TCP", "UDP", "SCTP"].contains(&proto) {
                errs.push(FieldError::not_supported(format!("{path}.protocol"), proto, &["SCTP", "TCP", "UDP"]));
            }
        }
    }
    if let Some(policy) = spec.session_affinity.as_deref() {
        if !["ClientIP", "None"].contains(&policy) {
            errs.push(FieldError::not_supported("spec.sessionAffinity", policy, &["ClientIP", "None"]));
        }
    }
    if spec.external_traffic_policy.is_some()
        && !(kind == "NodePort" || kind == "LoadBalancer")
        && spec.external_ips.as_ref().is_none_or(|v| v.is_empty())
    {
        errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            spec.external_traffic_policy.clone().unwrap_or_default(),
            "may only be set for externally-accessible services",
        ));
    }
    labels(&spec.selector, "spec.selector", errs);
    if let Some(Typed::Service(old)) = old {
        let old_ip = old.spec.as_ref().and_then(|s| s.cluster_ip.clone());
        if old_ip.is_some() && spec.cluster_ip.is_some() && old_ip != spec.cluster_ip {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                spec.cluster_ip.clone().unwrap_or_default(),
                "may not change once set",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_dns_rules() {
        assert!(subdomain_errors("web.example-1").is_empty());
        assert_eq!(subdomain_errors("Web"), vec![SUBDOMAIN_MSG.to_string()]);
        assert_eq!(subdomain_errors(&"a".repeat(254)).len(), 2);
        assert!(label_errors("prod").is_empty());
        assert_eq!(label_errors("a.b"), vec![LABEL_MSG.to_string()]);
        assert!(dns1035_errors("web").is_empty());
        assert_eq!(dns1035_errors("1web"), vec![DNS1035_MSG.to_string()]);
        assert!(qualified_name_errors("app.kubernetes.io/name").is_empty());
        assert_eq!(qualified_name_errors("-bad"), vec![NAME_PART_MSG.to_string()]);
        assert_eq!(go_map(&[("app".to_string(), "x".to_string())].into()), "map[string]string{\"app\":\"x\"}");
    }
}
