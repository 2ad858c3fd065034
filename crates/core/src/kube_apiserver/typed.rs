//! Objects as `k8s-openapi` types: decoding with strict field checking (what
//! `fieldValidation=Strict` does), and back to JSON. Decoding through the real
//! types is what makes stored objects carry real field names and shapes.

use crate::apimachinery::errors::{FieldError, StatusError};
use crate::apimachinery::resources::Resource;
use k8s_openapi::api::{apps, coordination, core, discovery, rbac, scheduling};
use serde_json::Value;

macro_rules! typed {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// A decoded object of one of the served kinds.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)]
        pub enum Typed {
            $($variant(Box<$ty>),)*
        }

        impl Typed {
            fn from_value(kind: &str, value: Value) -> Option<Result<Typed, serde_path_to_error::Error<serde_json::Error>>> {
                Some(match kind {
                    $(stringify!($variant) => serde_path_to_error::deserialize(value).map(|o| Typed::$variant(Box::new(o))),)*
                    _ => return None,
                })
            }

            /// The object's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Typed::$variant(_) => stringify!($variant),)*
                }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                match self {
                    $(Typed::$variant(o) => &o.metadata,)*
                }
            }

            /// Back to JSON.
            pub fn to_value(&self) -> Value {
                match self {
                    $(Typed::$variant(o) => serde_json::to_value(o.as_ref()),)*
                }
                .unwrap_or(Value::Null)
            }
        }
    };
}

typed! {
    ConfigMap => core::v1::ConfigMap,
    Endpoints => core::v1::Endpoints,
    Event => core::v1::Event,
    LimitRange => core::v1::LimitRange,
    ResourceQuota => core::v1::ResourceQuota,
    Namespace => core::v1::Namespace,
    Node => core::v1::Node,
    Pod => core::v1::Pod,
    ReplicationController => core::v1::ReplicationController,
    Secret => core::v1::Secret,
    ServiceAccount => core::v1::ServiceAccount,
    Service => core::v1::Service,
    ControllerRevision => apps::v1::ControllerRevision,
    DaemonSet => apps::v1::DaemonSet,
    Deployment => apps::v1::Deployment,
    ReplicaSet => apps::v1::ReplicaSet,
    Lease => coordination::v1::Lease,
    EndpointSlice => discovery::v1::EndpointSlice,
    ClusterRoleBinding => rbac::v1::ClusterRoleBinding,
    ClusterRole => rbac::v1::ClusterRole,
    RoleBinding => rbac::v1::RoleBinding,
    Role => rbac::v1::Role,
    PriorityClass => scheduling::v1::PriorityClass,
}

/// `Pod in version "v1" cannot be handled as a Pod: <why>`, the apiserver's
/// decoding error (400 BadRequest).
fn cannot_handle(resource: &Resource, why: &str) -> StatusError {
    StatusError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}",
        kind = resource.kind,
        version = resource.version
    ))
}

/// Decodes `value` as `resource`'s kind. With `strict`, fields the type does not
/// have are an error (`strict decoding error: unknown field "spec.foo"`);
/// otherwise they are dropped. A missing required field is reported as the
/// validation error it becomes in the real apiserver (the Go decoder leaves it
/// empty and validation requires it).
pub fn decode(resource: &Resource, value: &Value, strict: bool) -> Result<Typed, StatusError> {
    let without_nulls = quantities_as_strings(drop_nulls(value.clone()));
    let typed = match Typed::from_value(resource.kind, without_nulls.clone()) {
        None => return Err(StatusError::bad_request(format!("no kind \"{}\" is registered", resource.kind))),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            let path = go_path(&e.path().to_string());
            let inner = e.into_inner().to_string();
            if let Some(field) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                let field = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
                let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                return Err(StatusError::invalid(
                    resource.group,
                    resource.kind,
                    name,
                    vec![FieldError::required(field, "")],
                ));
            }
            let why = inner.split(" at line ").next().unwrap_or(&inner).to_string();
            return Err(cannot_handle(resource, &format!("json: cannot unmarshal {path}: {why}")));
        }
    };
    if strict {
        let mut unknown = Vec::new();
        unknown_fields(&without_nulls, &typed.to_value(), "", &mut unknown);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
            return Err(cannot_handle(resource, &format!("strict decoding error: {}", list.join(", "))));
        }
    }
    Ok(typed)
}

/// Quantities may be written as bare numbers (`cpu: 1`, `memory: 512`): Go's
/// `Quantity.UnmarshalJSON` takes them; the typed structs want strings.
fn quantities_as_strings(value: Value) -> Value {
    const MAPS: &[&str] = &[
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "hard",
        "used",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
        "overhead",
    ];
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match v {
                    Value::Object(entries) if MAPS.contains(&k.as_str()) => {
                        let entries = entries
                            .into_iter()
                            .map(|(name, q)| match q {
                                Value::Number(n) => (name, Value::String(n.to_string())),
                                other => (name, quantities_as_strings(other)),
                            })
                            .collect();
                        (k, Value::Object(entries))
                    }
                    v => (k, quantities_as_strings(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(quantities_as_strings).collect()),
        other => other,
    }
}

fn drop_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, drop_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(drop_nulls).collect()),
        other => other,
    }
}

/// serde_path_to_error's `spec.containers[0]` is already Go's notation; the
/// root is `.`.
fn go_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

/// Fields present in `input` but not in `decoded` (what the typed object has no place for).
fn unknown_fields(input: &Value, decoded: &Value, path: &str, out: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get(k) {
                    Some(d) => unknown_fields(v, d, &p, out),
                    // Free-form maps (labels, data, ...) keep every key, so a missing key is unknown.
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, d)) in a.iter().zip(b).enumerate() {
                unknown_fields(v, d, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apimachinery::resources::resolve;
    use serde_json::json;

    #[test]
    fn strict_decoding_names_unknown_fields() {
        let pods = resolve("pods").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "imagee": "x"}], "foo": 1, "nodeName": null}});
        let e = decode(pods, &pod, true).unwrap_err();
        assert_eq!(
            e.message,
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\", unknown field \"spec.foo\""
        );
        assert_eq!(e.code, 400);
        let typed = decode(pods, &pod, false).unwrap();
        assert!(typed.to_value().pointer("/spec/foo").is_none());
        assert_eq!(typed.to_value()["metadata"]["labels"]["a"], "b");
    }

    #[test]
    fn missing_required_fields_are_validation_errors_and_type_errors_bad_requests() {
        let pods = resolve("pods").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"image": "nginx"}]}});
        // The typed decoder leaves a missing name empty, as Go's does; validation then requires it.
        let typed = decode(pods, &pod, true).unwrap();
        let errors = crate::kube_apiserver::validation::validate(&typed, None, false);
        assert!(errors.iter().any(|e| e.to_string() == "spec.containers[0].name: Required value"), "{errors:?}");
        let pod =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": "nginx"}});
        let e = decode(pods, &pod, true).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message.starts_with(
                "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal spec.containers"
            ),
            "{}",
            e.message
        );
    }
}
