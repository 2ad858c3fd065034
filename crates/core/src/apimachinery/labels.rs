//! Label selectors (`app=web,tier!=db,env in (prod,staging),!canary`) and field
//! selectors (`spec.nodeName=node-1`), parsed and matched like
//! apimachinery's `pkg/labels/selector.go` and `pkg/fields/selector.go`.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a requirement compares a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`, `key==value`, `key in (a,b)`.
    In(Vec<String>),
    /// `key!=value`, `key notin (a,b)`.
    NotIn(Vec<String>),
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The comparison.
    pub op: Operator,
}

/// A label selector: every requirement must hold. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// The requirements.
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the string form. Errors read like apimachinery's.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err("unable to parse requirement: found ',', expected: identifier".into());
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Selector { requirements })
    }

    /// The selector of a `metav1.LabelSelector` object (`matchLabels` and
    /// `matchExpressions`); `None` for a malformed one.
    pub fn from_label_selector(value: &Value) -> Option<Selector> {
        let mut requirements = Vec::new();
        if let Some(labels) = value.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(Requirement { key: k.clone(), op: Operator::In(vec![v.as_str()?.to_string()]) });
            }
        }
        if let Some(exprs) = value.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key")?.as_str()?.to_string();
                let values = || -> Option<Vec<String>> {
                    e.get("values")
                        .and_then(Value::as_array)
                        .map(|vs| vs.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                        .or(Some(Vec::new()))
                };
                let op = match e.get("operator")?.as_str()? {
                    "In" => Operator::In(values()?),
                    "NotIn" => Operator::NotIn(values()?),
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    _ => return None,
                };
                requirements.push(Requirement { key, op });
            }
        }
        Some(Selector { requirements })
    }

    /// Whether it selects nothing in particular (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match &r.op {
            Operator::In(values) => labels.get(&r.key).is_some_and(|v| values.contains(v)),
            Operator::NotIn(values) => labels.get(&r.key).is_none_or(|v| !values.contains(v)),
            Operator::Exists => labels.contains_key(&r.key),
            Operator::DoesNotExist => !labels.contains_key(&r.key),
        })
    }

    /// Whether an object (JSON) is selected by its `metadata.labels`.
    pub fn matches_object(&self, object: &Value) -> bool {
        // The same as `matches(&labels_of(object))` (non-string values are no
        // labels), without building the map: watch fan-out and controllers
        // call this for every pod.
        let labels = object.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object);
        let label = |key: &str| labels.and_then(|m| m.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match &r.op {
            Operator::In(values) => label(&r.key).is_some_and(|v| values.iter().any(|x| x == v)),
            Operator::NotIn(values) => label(&r.key).is_none_or(|v| !values.iter().any(|x| x == v)),
            Operator::Exists => label(&r.key).is_some(),
            Operator::DoesNotExist => label(&r.key).is_none(),
        })
    }
}

/// The `metadata.labels` of an object.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/labels"))
}

/// A JSON object of strings as a sorted map (missing or malformed: empty).
pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m: &Map<String, Value>| {
            m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
        })
        .unwrap_or_default()
}

/// `a=b,c=d` for a label map, sorted by key (`labels.Set.String`).
pub fn format_labels(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = |detail: &str| Err(format!("unable to parse requirement: {detail}"));
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement { key: key.to_string(), op: Operator::DoesNotExist });
    }
    for (token, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = part.split_once(token) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            let values = vec![value.to_string()];
            let op = if negate { Operator::NotIn(values) } else { Operator::In(values) };
            return Ok(Requirement { key: key.to_string(), op });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 1 {
        check_key(words[0])?;
        return Ok(Requirement { key: words[0].to_string(), op: Operator::Exists });
    }
    let key = words[0];
    check_key(key)?;
    let rest = words[1].trim_start();
    let (negate, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return bad(&format!(
            "found '{}', expected: in, notin, =, ==, !=, gt, lt",
            rest.split_whitespace().next().unwrap_or_default()
        ));
    };
    let set = set.trim();
    let Some(inner) = set.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
        return bad(&format!("found '{set}', expected: '('"));
    };
    if inner.trim().is_empty() {
        return bad("for 'in', 'notin' operators, values set can't be empty");
    }
    let mut values = Vec::new();
    for v in inner.split(',') {
        let v = v.trim();
        check_value(v)?;
        values.push(v.to_string());
    }
    Ok(Requirement { key: key.to_string(), op: if negate { Operator::NotIn(values) } else { Operator::In(values) } })
}

fn check_key(key: &str) -> Result<(), String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ok = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && key.split('/').count() <= 2
        && !key.starts_with('/')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else if key.is_empty() {
        Err("unable to parse requirement: found '', expected: identifier".into())
    } else {
        Err(format!("unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && value.len() <= 63 {
        Ok(())
    } else {
        Err(format!("unable to parse requirement: invalid label value: \"{value}\": at key: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
    }
}

/// A field selector: `field=value` / `field!=value` terms, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// (field, value, negated).
    pub terms: Vec<(String, String, bool)>,
}

impl FieldSelector {
    /// Parses the string form and checks each field is one the resource
    /// supports (`supported`); errors read like the apiserver's.
    pub fn parse(text: &str, supported: &[&str]) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!("invalid selector: '{text}'; can't understand '{part}'"));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" && !supported.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), value.trim().to_string(), negated));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object's fields match.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, value, negated)| (Self::field_value(object, field) == *value) != *negated)
    }

    /// A field's value as a selector compares it (`spec.nodeName`); every
    /// watch event meets every candidate watch's selector, so a string
    /// field is borrowed, not copied.
    pub fn field_value<'a>(object: &'a Value, field: &str) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        match field.split('.').try_fold(object, |v, part| v.get(part)) {
            Some(Value::String(s)) => Cow::Borrowed(s),
            Some(Value::Bool(b)) => Cow::Owned(b.to_string()),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
            // The registries' GetAttrs format Go's zero values for unset
            // booleans and counts (`strconv.FormatBool`, `strconv.Itoa`).
            _ => Cow::Borrowed(match field {
                "spec.unschedulable" | "spec.hostNetwork" => "false",
                "status.replicas" => "0",
                _ => "",
            }),
        }
    }
}

/// The fields each resource can be selected by besides `metadata.name` and
/// `metadata.namespace` (the registries' `GetAttrs`/`SelectableFields`).
pub fn selectable_fields(resource: &str) -> &'static [&'static str] {
    match resource {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "nodes" => &["spec.unschedulable"],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["type"],
        "namespaces" => &["status.phase"],
        "replicasets" | "replicationcontrollers" => &["status.replicas"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_parse_and_match() {
        let s = Selector::parse("app=web,tier!=db,env in (prod, staging),!canary").unwrap();
        assert!(s.matches(&set(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&set(&[("app", "web"), ("env", "prod"), ("canary", "1")])));
        assert!(!s.matches(&set(&[("app", "web"), ("env", "dev")])));
        assert!(!s.matches(&set(&[("app", "web"), ("env", "prod"), ("tier", "db")])));
        let s = Selector::parse("app,env notin (dev)").unwrap();
        assert!(s.matches(&set(&[("app", "x")])));
        assert!(!s.matches(&set(&[("app", "x"), ("env", "dev")])));
        assert!(Selector::parse("").unwrap().is_empty());
        assert!(Selector::parse("app=we b").is_err());
        assert!(Selector::parse("app in web").is_err());
        assert!(Selector::parse("a,,b").is_err());
    }

    #[test]
    fn label_selector_objects_and_field_selectors() {
        let s = Selector::from_label_selector(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
        }))
        .unwrap();
        assert!(s.matches(&set(&[("app", "web")])));
        assert!(!s.matches(&set(&[("app", "web"), ("tier", "db")])));
        let f = FieldSelector::parse("spec.nodeName=node-1,status.phase!=Failed", selectable_fields("pods")).unwrap();
        assert!(f.matches(&json!({"spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}})));
        assert!(!f.matches(&json!({"spec": {"nodeName": "node-2"}})));
        assert_eq!(FieldSelector::parse("spec.foo=1", &[]).unwrap_err(), "field label not supported: spec.foo");
    }
}
