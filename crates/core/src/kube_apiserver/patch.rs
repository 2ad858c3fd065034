//! The three patch types kubectl sends: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902) and strategic merge patch, which merges lists by their
//! `patchMergeKey` (containers by name, ports by containerPort, ...) as
//! apimachinery's `strategicpatch` does for the built-in types.

use serde_json::{Map, Value};

/// `Content-Type` of a JSON patch.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// `Content-Type` of a JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// `Content-Type` of a strategic merge patch.
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";

/// Applies `patch` of `content_type` to `target`. Errors are the apiserver's
/// texts for a malformed patch.
pub fn apply(target: &Value, patch: &Value, content_type: &str) -> Result<Value, String> {
    match content_type {
        JSON_PATCH => json_patch(target, patch),
        MERGE_PATCH => {
            if !patch.is_object() {
                return Err("json: cannot unmarshal into Go value of type map[string]interface {}".into());
            }
            Ok(merge_patch(target, patch))
        }
        STRATEGIC_MERGE_PATCH => {
            if !patch.is_object() {
                return Err("json: cannot unmarshal into Go value of type map[string]interface {}".into());
            }
            Ok(strategic_merge(target, patch, ""))
        }
        other => Err(format!("the server does not support the patch type {other:?}")),
    }
}

/// RFC 7386.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The merge key of a list field of the built-in types, by field name
/// (`patchMergeKey` tags in k8s.io/api).
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" => "port|containerPort",
        "conditions" => "type",
        "hostAliases" => "ip",
        "addresses" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "resourceClaims" => "name",
        _ => return None,
    })
}

fn key_of<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('|').find_map(|k| item.get(k))
}

/// Strategic merge patch of `patch` into `target` (`field` names the list
/// being merged, to find its merge key).
pub fn strategic_merge(target: &Value, patch: &Value, field: &str) -> Value {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut p = p.clone();
                p.remove("$patch");
                return Value::Object(p);
            }
            let mut out = t.clone();
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match out.get(k) {
                    Some(existing) => strategic_merge(existing, v, k),
                    None => strip_directives(v),
                };
                out.insert(k.clone(), merged);
            }
            // `$setElementOrder/<list>` gives the order of a merged list's
            // items by merge key; items it does not name follow.
            for (k, order) in p {
                let (Some(field), Some(order)) = (k.strip_prefix("$setElementOrder/"), order.as_array()) else {
                    continue;
                };
                let (Some(key), Some(Value::Array(items))) = (merge_key(field), out.get_mut(field)) else {
                    continue;
                };
                let rank = |item: &Value| {
                    let k = key_of(item, key);
                    order.iter().position(|o| k.is_some() && key_of(o, key) == k).unwrap_or(order.len())
                };
                items.sort_by_key(rank);
            }
            Value::Object(out)
        }
        // Lists of strings with patchStrategy "merge" (metadata.finalizers) take the union.
        (Value::Array(t), Value::Array(p)) if field == "finalizers" => {
            let mut out = t.clone();
            for item in p {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Array(t), Value::Array(p)) => match merge_key(field) {
            Some(key) => {
                let mut out = t.clone();
                for item in p {
                    let Some(k) = key_of(item, key) else {
                        out.push(strip_directives(item));
                        continue;
                    };
                    let position = out.iter().position(|e| key_of(e, key) == Some(k));
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (position, delete) {
                        (Some(i), true) => {
                            out.remove(i);
                        }
                        (Some(i), false) => out[i] = strategic_merge(&out[i], item, ""),
                        (None, true) => {}
                        (None, false) => out.push(strip_directives(item)),
                    }
                }
                Value::Array(out)
            }
            None => strip_directives(patch),
        },
        _ => strip_directives(patch),
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let Some(ops) = patch.as_array() else {
        return Err("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into());
    };
    // The apiserver's limits: at most 10000 operations, and the document may
    // not outgrow the request size limit (3 MiB) along the way.
    const MAX_OPERATIONS: usize = 10_000;
    const MAX_BYTES: usize = 3 * 1024 * 1024;
    if ops.len() > MAX_OPERATIONS {
        return Err(format!("the allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}", ops.len()));
    }
    let mut doc = target.clone();
    // A running upper bound of the document's size: what each op adds.
    let mut size = doc.to_string().len();
    for op in ops {
        let added = match op.get("op").and_then(Value::as_str) {
            Some("add" | "replace" | "test") => op.get("value").map_or(0, |v| v.to_string().len()),
            Some("copy") => op
                .get("from")
                .and_then(Value::as_str)
                .and_then(|from| doc.pointer(from))
                .map_or(0, |v| v.to_string().len()),
            _ => 0,
        };
        size = size.saturating_add(added);
        if size > MAX_BYTES {
            return Err("the patched document is larger than the request size limit".into());
        }
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Value::as_str).ok_or("missing path in patch operation")?;
        let value = || op.get("value").cloned().ok_or_else(|| format!("missing value for {kind} operation"));
        match kind {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).ok_or("missing from in patch operation")?;
                let v = if kind == "move" {
                    remove(&mut doc, from)?
                } else {
                    doc.pointer(from).cloned().ok_or_else(|| format!("copy from {from:?}: missing value"))?
                };
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((parent.to_string(), last.replace("~1", "/").replace("~0", "~")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("add operation does not apply: doc is missing path: {path:?}");
    match doc.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let index = if last == "-" { a.len() } else { last.parse::<usize>().map_err(|_| missing())? };
            if index > a.len() {
                return Err(missing());
            }
            a.insert(index, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path:?}");
    match doc.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let index = last.parse::<usize>().map_err(|_| missing())?;
            if index >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(index))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "busybox"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "nginx:2", "env": [{"name": "Y", "value": "2"}]}, {"name": "b", "$patch": "delete"}]}});
        let out = apply(&pod, &patch, STRATEGIC_MERGE_PATCH).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "image": "nginx:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
        );
        // A merge patch replaces the list instead.
        let out = apply(&pod, &json!({"spec": {"containers": [{"name": "c"}]}}), MERGE_PATCH).unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "c"}]));
    }

    #[test]
    fn set_element_order_orders_a_merged_list() {
        // The kubelet's status patches put its conditions before PodScheduled.
        let pod = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}});
        let patch = json!({"status": {
            "$setElementOrder/conditions": [{"type": "Ready"}, {"type": "PodScheduled"}],
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}});
        let out = apply(&pod, &patch, STRATEGIC_MERGE_PATCH).unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}, {"type": "PodScheduled", "status": "True"}])
        );
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": null}]}});
        let out = apply(&out, &patch, STRATEGIC_MERGE_PATCH).unwrap();
        assert_eq!(out["status"]["conditions"][0], json!({"type": "Ready", "status": "True"}));
    }

    #[test]
    fn merge_and_json_patches() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let out = apply(&doc, &json!({"metadata": {"labels": {"a": null, "c": "3"}}}), MERGE_PATCH).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        let ops = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "add", "path": "/metadata/labels/d~1e", "value": "4"}]);
        let out = apply(&doc, &ops, JSON_PATCH).unwrap();
        assert_eq!((out["spec"]["replicas"].clone(), out["metadata"]["labels"]["d/e"].clone()), (json!(3), json!("4")));
        assert!(apply(&doc, &json!([{"op": "remove", "path": "/spec/nope"}]), JSON_PATCH).is_err());
        assert!(apply(&doc, &json!([{"op": "test", "path": "/spec/replicas", "value": 2}]), JSON_PATCH).is_err());
        assert!(apply(&doc, &json!([1]), MERGE_PATCH).is_err());
    }
}
