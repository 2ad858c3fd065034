//! The LimitRanger and ResourceQuota admission plugins
//! (plugin/pkg/admission/limitranger, plugin/pkg/admission/resourcequota),
//! reading LimitRanges, ResourceQuotas and current usage from the watch cache.
//!
//! Differences on purpose: quota usage is counted from the cache at admission
//! time instead of from `status.used`, which the resource-quota controller
//! (not simulated yet) would maintain.

use super::watch_cache::WatchCache;
use crate::apimachinery::errors::StatusError;
use crate::apimachinery::resources::{self, Resource};
use crate::quantity::Quantity;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn millis(v: Option<&Value>) -> Option<i128> {
    v.and_then(Value::as_str).and_then(|q| Quantity::parse(q).ok()).map(|q| q.millis())
}

/// A quantity in milli-units as `resource.Quantity.String` prints it: CPU in
/// cores or `m`, everything else in bytes with binary suffixes.
pub fn format_quantity(resource: &str, millis: i128) -> String {
    if resource.ends_with("cpu") {
        return if millis % 1000 == 0 { (millis / 1000).to_string() } else { format!("{millis}m") };
    }
    let value = millis / 1000;
    for (suffix, unit) in
        [("Ei", 1i128 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
    {
        if value != 0 && value % unit == 0 && resource != "pods" && !resource.starts_with("count/") {
            return format!("{}{suffix}", value / unit);
        }
    }
    value.to_string()
}

fn items<'a>(cache: &'a WatchCache, plural: &str, namespace: &str) -> Vec<&'a Value> {
    let r = resources::by_plural("", plural).expect("served");
    cache.list(&r.etcd_list_prefix(namespace)).map(|(_, c)| &c.object).collect()
}

fn containers_mut(pod: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        for (k, v) in spec.iter_mut() {
            if k == "containers" || k == "initContainers" {
                out.extend(v.as_array_mut().into_iter().flatten());
            }
        }
    }
    out
}

/// LimitRanger for a pod being created: fills in each container's default
/// requests and limits from the namespace's LimitRanges, then checks min and
/// max. `pod` is JSON after defaulting.
pub fn limit_ranger(cache: &WatchCache, namespace: &str, pod: &mut Value, name: &str) -> Result<(), StatusError> {
    let mut problems = Vec::new();
    for range in items(cache, "limitranges", namespace) {
        for item in range.pointer("/spec/limits").and_then(Value::as_array).into_iter().flatten() {
            if item.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            for c in containers_mut(pod) {
                if !c.get("resources").is_some_and(Value::is_object) {
                    c["resources"] = json!({});
                }
                for (field, target) in [("default", "limits"), ("defaultRequest", "requests")] {
                    for (res, q) in item.get(field).and_then(Value::as_object).into_iter().flatten() {
                        let resources = c["resources"].as_object_mut().expect("made an object");
                        let list = resources.entry(target).or_insert(json!({}));
                        if let Some(list) = list.as_object_mut() {
                            list.entry(res.clone()).or_insert(q.clone());
                        }
                    }
                }
                let requests = c.pointer("/resources/requests").cloned();
                let limits = c.pointer("/resources/limits").cloned();
                let get = |list: &Option<Value>, res: &str| millis(list.as_ref().and_then(|l| l.get(res)));
                for (res, q) in item.get("min").and_then(Value::as_object).into_iter().flatten() {
                    let Some(min) = millis(Some(q)) else { continue };
                    let text = format_quantity(res, min);
                    match (get(&requests, res), get(&limits, res)) {
                        (None, _) => problems
                            .push(format!("minimum {res} usage per Container is {text}.  No request is specified")),
                        (Some(r), _) if r < min => problems.push(format!(
                            "minimum {res} usage per Container is {text}, but request is {}",
                            format_quantity(res, r)
                        )),
                        (_, Some(l)) if l < min => problems.push(format!(
                            "minimum {res} usage per Container is {text}, but limit is {}",
                            format_quantity(res, l)
                        )),
                        _ => {}
                    }
                }
                for (res, q) in item.get("max").and_then(Value::as_object).into_iter().flatten() {
                    let Some(max) = millis(Some(q)) else { continue };
                    let text = format_quantity(res, max);
                    match (get(&requests, res), get(&limits, res)) {
                        (_, None) => problems
                            .push(format!("maximum {res} usage per Container is {text}.  No limit is specified")),
                        (_, Some(l)) if l > max => problems.push(format!(
                            "maximum {res} usage per Container is {text}, but limit is {}",
                            format_quantity(res, l)
                        )),
                        (Some(r), _) if r > max => problems.push(format!(
                            "maximum {res} usage per Container is {text}, but request is {}",
                            format_quantity(res, r)
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    match problems.as_slice() {
        [] => Ok(()),
        [one] => Err(forbidden_pod(name, one)),
        many => Err(forbidden_pod(name, &format!("[{}]", many.join(", ")))),
    }
}

fn forbidden_pod(name: &str, why: &str) -> StatusError {
    StatusError::forbidden("", "pods", name, format!("pods \"{name}\" is forbidden: {why}"))
}

/// What a pod counts against quotas: `pods`, `count/pods`, and the sums of
/// its containers' requests and limits (`requests.cpu`, `cpu`, `limits.memory`, ...).
fn pod_usage(pod: &Value) -> BTreeMap<String, i128> {
    let mut usage = BTreeMap::new();
    usage.insert("pods".to_string(), 1000);
    usage.insert("count/pods".to_string(), 1000);
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        for (kind, list) in [("requests", "/resources/requests"), ("limits", "/resources/limits")] {
            for (res, q) in c.pointer(list).and_then(Value::as_object).into_iter().flatten() {
                let m = millis(Some(q)).unwrap_or(0);
                *usage.entry(format!("{kind}.{res}")).or_insert(0) += m;
                if kind == "requests" {
                    *usage.entry(res.clone()).or_insert(0) += m;
                }
            }
        }
    }
    usage
}

/// What one object of `resource` counts against quotas.
fn usage_of(resource: &Resource, object: &Value) -> BTreeMap<String, i128> {
    if resource.plural == "pods" {
        return pod_usage(object);
    }
    let mut usage = BTreeMap::new();
    let count = if resource.group.is_empty() {
        format!("count/{}", resource.plural)
    } else {
        format!("count/{}.{}", resource.plural, resource.group)
    };
    usage.insert(count, 1000);
    if resource.group.is_empty() {
        usage.insert(resource.plural.to_string(), 1000);
    }
    if resource.plural == "services" {
        match object.pointer("/spec/type").and_then(Value::as_str) {
            Some("NodePort") => {
                usage.insert(
                    "services.nodeports".into(),
                    1000 * object.pointer("/spec/ports").and_then(Value::as_array).map_or(0, |p| p.len() as i128),
                );
            }
            Some("LoadBalancer") => {
                usage.insert("services.loadbalancers".into(), 1000);
            }
            _ => {}
        }
    }
    usage
}

fn counts(object: &Value) -> bool {
    let terminal = matches!(object.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    !terminal && object.pointer("/metadata/deletionTimestamp").is_none()
}

/// ResourceQuota for an object being created in `namespace`.
pub fn resource_quota(
    cache: &WatchCache,
    resource: &Resource,
    namespace: &str,
    object: &Value,
    name: &str,
) -> Result<(), StatusError> {
    let quotas = items(cache, "resourcequotas", namespace);
    if quotas.is_empty() {
        return Ok(());
    }
    let requested = usage_of(resource, object);
    let forbidden = |why: String| {
        StatusError::forbidden(
            resource.group,
            resource.plural,
            name,
            format!("{} \"{name}\" is forbidden: {why}", resource.group_resource()),
        )
    };
    for quota in quotas {
        let quota_name = quota.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let hard: BTreeMap<String, i128> = quota
            .pointer("/spec/hard")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| millis(Some(v)).map(|m| (k.clone(), m)))
            .collect();
        // A quota on compute resources needs every container to say how much it wants.
        if resource.plural == "pods" {
            let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for c in object.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                let cname = c.get("name").and_then(Value::as_str).unwrap_or_default();
                for key in hard.keys() {
                    let (list, res) = match key.split_once('.') {
                        Some(("requests", res)) => ("requests", res),
                        Some(("limits", res)) => ("limits", res),
                        _ if key == "cpu" || key == "memory" => ("requests", key.as_str()),
                        _ => continue,
                    };
                    if c.pointer(&format!("/resources/{list}/{res}")).is_none() {
                        missing.entry(key.clone()).or_default().push(cname.to_string());
                    }
                }
            }
            if !missing.is_empty() {
                let parts: Vec<String> = missing.iter().map(|(k, cs)| format!("{k} for: {}", cs.join(","))).collect();
                return Err(forbidden(format!("failed quota: {quota_name}: must specify {}", parts.join("; "))));
            }
        }
        let mut used: BTreeMap<String, i128> = BTreeMap::new();
        // Usage of every resource the quota or the request names.
        let counted: Vec<&'static Resource> = resources::RESOURCES
            .iter()
            .filter(|r| {
                r.namespaced
                    && (r.plural == resource.plural || usage_of(r, &Value::Null).keys().any(|k| hard.contains_key(k)))
            })
            .collect();
        for r in counted {
            for (_, c) in cache.list(&r.etcd_list_prefix(namespace)) {
                if counts(&c.object) {
                    for (k, v) in usage_of(r, &c.object) {
                        *used.entry(k).or_insert(0) += v;
                    }
                }
            }
        }
        let exceeded: Vec<&String> = hard
            .iter()
            .filter(|(k, h)| requested.get(*k).is_some_and(|r| *r > 0 && used.get(*k).copied().unwrap_or(0) + r > **h))
            .map(|(k, _)| k)
            .collect();
        if !exceeded.is_empty() {
            let list = |values: &BTreeMap<String, i128>| {
                exceeded
                    .iter()
                    .map(|k| format!("{k}={}", format_quantity(k, values.get(*k).copied().unwrap_or(0))))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(forbidden(format!(
                "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                list(&requested),
                list(&used),
                list(&hard)
            )));
        }
    }
    Ok(())
}
