//! `metav1.Status` errors and field errors, worded like apimachinery's
//! `pkg/api/errors/errors.go` and `pkg/util/validation/field/errors.go`.

use serde_json::{json, Value};
use std::fmt;

/// A failed API call: what the apiserver sends as a `Status` object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, ...); empty for none.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details.name`.
    pub name: String,
    /// `details.group`.
    pub group: String,
    /// `details.kind`: the resource (for most errors) or the kind (Invalid).
    pub kind: String,
    /// `details.causes` of an Invalid error.
    pub causes: Vec<FieldError>,
}

/// `pods` for the core group, `deployments.apps` otherwise: how errors name a
/// group and resource (`schema.GroupResource.String`).
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl StatusError {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        StatusError {
            code,
            reason,
            message,
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            causes: Vec::new(),
        }
    }

    fn about(mut self, group: &str, resource: &str, name: &str) -> Self {
        self.group = group.to_string();
        self.kind = resource.to_string();
        self.name = name.to_string();
        self
    }

    /// 404: `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", group_resource(group, resource)))
            .about(group, resource, name)
    }

    /// 409: `pods "x" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", group_resource(group, resource)))
            .about(group, resource, name)
    }

    /// 409 from an optimistic-concurrency failure: `Operation cannot be
    /// fulfilled on pods "x": <why>`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let gr = group_resource(group, resource);
        Self::new(409, "Conflict", format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"))
            .about(group, resource, name)
    }

    /// 422: `Pod "x" is invalid: <errors>`; one error is printed bare, several
    /// as `[a, b]` (apimachinery's `NewInvalid` with `ToAggregate`).
    pub fn invalid(group: &str, kind: &str, name: &str, errors: Vec<FieldError>) -> Self {
        let list = match errors.as_slice() {
            [one] => one.to_string(),
            many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        };
        let mut e = Self::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {list}")).about(group, kind, name);
        e.causes = errors;
        e
    }

    /// 403 with the given message.
    pub fn forbidden(group: &str, resource: &str, name: &str, message: String) -> Self {
        Self::new(403, "Forbidden", message).about(group, resource, name)
    }

    /// 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into())
    }

    /// 405: `the server does not allow this method on the requested resource`.
    pub fn method_not_allowed() -> Self {
        Self::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource".into())
    }

    /// 404 for a path that names no resource.
    pub fn no_such_path() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource".into())
    }

    /// 410 Expired: a watch or list from a compacted resourceVersion.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message.into())
    }

    /// 500 with the storage layer's message (etcd's error text).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message.into())
    }

    /// 500 with no reason: a storage error passed through as it is (etcd's
    /// text), which kubectl prints as `Error from server: <message>`
    /// (responsewriters/status.go `ErrorToAPIStatus`).
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(500, "", message.into())
    }

    /// 504: the apiserver gave up waiting for its storage.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message.into())
    }

    /// 503 with the given message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message.into())
    }

    /// The `Status` object sent on the wire.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        });
        if !self.reason.is_empty() {
            status["reason"] = json!(self.reason);
        }
        let mut details = serde_json::Map::new();
        if !self.name.is_empty() {
            details.insert("name".into(), json!(self.name));
        }
        if !self.group.is_empty() {
            details.insert("group".into(), json!(self.group));
        }
        if !self.kind.is_empty() {
            details.insert("kind".into(), json!(self.kind));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    let reason = match &c.kind {
                        FieldErrorKind::Received(reason, _) => reason.as_str(),
                        kind => kind.reason(),
                    };
                    json!({"reason": reason, "message": c.body(), "field": c.field})
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status["code"] = json!(self.code);
        status
    }

    /// Reads a `Status` object back (what clients do with an error body).
    pub fn from_status(code: u16, status: &Value) -> Self {
        let text = |p: &str| status.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let reason = match text("/reason").as_str() {
            "NotFound" => "NotFound",
            "AlreadyExists" => "AlreadyExists",
            "Conflict" => "Conflict",
            "Invalid" => "Invalid",
            "Forbidden" => "Forbidden",
            "BadRequest" => "BadRequest",
            "MethodNotAllowed" => "MethodNotAllowed",
            "Expired" => "Expired",
            "Gone" => "Gone",
            "InternalError" => "InternalError",
            "Timeout" => "Timeout",
            "ServiceUnavailable" => "ServiceUnavailable",
            "Unauthorized" => "Unauthorized",
            "NotAcceptable" => "NotAcceptable",
            "UnsupportedMediaType" => "UnsupportedMediaType",
            "RequestEntityTooLarge" => "RequestEntityTooLarge",
            _ => "",
        };
        let causes = status
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                FieldError {
                    field: field("field"),
                    kind: FieldErrorKind::Received(field("reason"), field("message")),
                    detail: String::new(),
                }
            })
            .collect();
        StatusError {
            code,
            reason,
            message: text("/message"),
            name: text("/details/name"),
            group: text("/details/group"),
            kind: text("/details/kind"),
            causes,
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A field error's type (`field.ErrorType`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value`.
    Required,
    /// `Invalid value: <value>`.
    Invalid(BadValue),
    /// `Unsupported value: <value>: supported values: "a", "b"`.
    NotSupported(BadValue, Vec<String>),
    /// `Duplicate value: <value>`.
    Duplicate(BadValue),
    /// `Forbidden`.
    Forbidden,
    /// `Too long: may not be more than N bytes`.
    TooLong(usize),
    /// `Not found: <value>`.
    NotFound(BadValue),
    /// A cause read back from a `Status` (`reason` and `message` as sent).
    Received(String, String),
}

impl FieldErrorKind {
    /// The cause reason (`FieldValueRequired`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong(_) => "FieldValueTooLong",
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
            FieldErrorKind::Received(..) => "FieldValueInvalid",
        }
    }
}

/// The offending value of a field error, printed like Go: strings quoted,
/// numbers and booleans bare, anything else pre-formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed `"x"`.
    Str(String),
    /// A number or boolean, printed bare.
    Bare(String),
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Str(s) => write!(f, "{}", go_quote(s)),
            BadValue::Bare(s) => f.write_str(s),
        }
    }
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_string())
    }
}

impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}

impl From<i64> for BadValue {
    fn from(v: i64) -> Self {
        BadValue::Bare(v.to_string())
    }
}

impl From<i32> for BadValue {
    fn from(v: i32) -> Self {
        BadValue::Bare(v.to_string())
    }
}

/// Go's `%q` for the strings kscope meets: ASCII escapes, printable Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One validation error on one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path (`spec.containers[0].image`).
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// More detail, appended after `: `.
    pub detail: String,
}

impl FieldError {
    /// `<field>: Required value`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Required, detail: detail.into() }
    }

    /// `<field>: Invalid value: <value>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: impl Into<BadValue>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Invalid(value.into()), detail: detail.into() }
    }

    /// `<field>: Unsupported value: <value>: supported values: ...`.
    pub fn not_supported(field: impl Into<String>, value: impl Into<BadValue>, valid: &[&str]) -> Self {
        let valid = valid.iter().map(|v| v.to_string()).collect();
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::NotSupported(value.into(), valid),
            detail: String::new(),
        }
    }

    /// `<field>: Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<BadValue>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Duplicate(value.into()), detail: String::new() }
    }

    /// `<field>: Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Forbidden, detail: detail.into() }
    }

    /// `<field>: Too long: may not be more than <max> bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::TooLong(max), detail: String::new() }
    }

    /// `<field>: Not found: <value>`.
    pub fn not_found(field: impl Into<String>, value: impl Into<BadValue>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::NotFound(value.into()), detail: String::new() }
    }

    /// The error without its field (`ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {v}"),
            FieldErrorKind::NotSupported(v, valid) => {
                let quoted: Vec<String> = valid.iter().map(|s| go_quote(s)).collect();
                format!("Unsupported value: {v}: supported values: {}", quoted.join(", "))
            }
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::TooLong(max) => format!("Too long: may not be more than {max} bytes"),
            FieldErrorKind::NotFound(v) => format!("Not found: {v}"),
            FieldErrorKind::Received(_, message) => message.clone(),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_apimachinery() {
        assert_eq!(StatusError::not_found("", "pods", "x").message, "pods \"x\" not found");
        assert_eq!(
            StatusError::already_exists("apps", "deployments", "web").message,
            "deployments.apps \"web\" already exists"
        );
        let one = StatusError::invalid("", "Pod", "x", vec![FieldError::required("spec.containers[0].image", "")]);
        assert_eq!(one.message, "Pod \"x\" is invalid: spec.containers[0].image: Required value");
        let two = StatusError::invalid(
            "",
            "Pod",
            "x",
            vec![
                FieldError::required("spec.containers[0].image", ""),
                FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
            ],
        );
        assert_eq!(
            two.message,
            "Pod \"x\" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"]"
        );
        let status = two.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["details"]["causes"][1]["reason"], "FieldValueNotSupported");
        let back = StatusError::from_status(422, &status);
        assert_eq!((back.reason, back.message), ("Invalid", two.message));
    }
}
