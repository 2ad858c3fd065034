//! What a REST request asks for: apiserver's `RequestInfo`
//! (staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) and the
//! query parameters kscope understands.

use super::errors::StatusError;
use super::resources::{self, Resource};
use crate::message::Method;
use std::collections::BTreeMap;

/// The verb, as RBAC sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET one object.
    Get,
    /// GET a collection.
    List,
    /// GET a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
}

impl Verb {
    /// The RBAC verb name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A parsed resource request.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// The verb.
    pub verb: Verb,
    /// The resource.
    pub resource: &'static Resource,
    /// The namespace, empty for cluster-scoped requests and lists across namespaces.
    pub namespace: String,
    /// The object's name, empty for collections.
    pub name: String,
    /// The subresource (`status`, `binding`, ...), empty for none.
    pub subresource: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
}

impl RequestInfo {
    /// Parses `method` and `path` (with its query string).
    pub fn parse(method: Method, path: &str) -> Result<RequestInfo, StatusError> {
        let (path, query_text) = path.split_once('?').unwrap_or((path, ""));
        let query = parse_query(query_text);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match parts.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return Err(StatusError::no_such_path()),
        };
        if version != "v1" || rest.is_empty() {
            return Err(StatusError::no_such_path());
        }
        let mut rest = rest.to_vec();
        let mut namespace = String::new();
        if rest[0] == "namespaces" && rest.len() > 1 {
            namespace = rest[1].to_string();
            if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
                rest.drain(..2);
            }
        }
        let resource = resources::by_plural(group, rest[0]).ok_or_else(StatusError::no_such_path)?;
        let name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
        let subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
        if rest.len() > 3 || (!subresource.is_empty() && !resource.subresources.contains(&subresource.as_str())) {
            return Err(StatusError::no_such_path());
        }
        if !resource.namespaced && resource.plural != "namespaces" && !namespace.is_empty() {
            return Err(StatusError::no_such_path());
        }
        if resource.plural == "namespaces" {
            namespace.clear();
        }
        let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
        let verb = match (method, name.is_empty()) {
            (Method::Get, false) => Verb::Get,
            (Method::Get, true) if watch => Verb::Watch,
            (Method::Get, true) => Verb::List,
            (Method::Post, _) => Verb::Create,
            (Method::Put, false) => Verb::Update,
            (Method::Patch, false) => Verb::Patch,
            (Method::Delete, false) => Verb::Delete,
            (Method::Delete, true) => Verb::DeleteCollection,
            _ => return Err(StatusError::method_not_allowed()),
        };
        if verb == Verb::Create && !name.is_empty() && subresource.is_empty() {
            return Err(StatusError::method_not_allowed());
        }
        Ok(RequestInfo { verb, resource, namespace, name, subresource, query })
    }

    /// A query parameter, empty when absent.
    pub fn param(&self, key: &str) -> &str {
        self.query.get(key).map(String::as_str).unwrap_or_default()
    }
}

/// Splits and percent-decodes a query string.
pub fn parse_query(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends `params` (skipping empty values) to `path` as a query string.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> =
        params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_request_info() {
        let r = RequestInfo::parse(Method::Get, "/api/v1/namespaces/default/pods/web?watch=1").unwrap();
        assert_eq!(
            (r.verb, r.resource.plural, r.namespace.as_str(), r.name.as_str()),
            (Verb::Get, "pods", "default", "web")
        );
        let r = RequestInfo::parse(Method::Get, "/api/v1/pods?watch=true&labelSelector=app%3Dweb").unwrap();
        assert_eq!((r.verb, r.namespace.as_str(), r.param("labelSelector")), (Verb::Watch, "", "app=web"));
        let r = RequestInfo::parse(Method::Get, "/api/v1/namespaces/prod").unwrap();
        assert_eq!((r.resource.plural, r.namespace.as_str(), r.name.as_str()), ("namespaces", "", "prod"));
        let r = RequestInfo::parse(Method::Put, "/api/v1/namespaces/prod/finalize").unwrap();
        assert_eq!((r.name.as_str(), r.subresource.as_str()), ("prod", "finalize"));
        let r = RequestInfo::parse(Method::Post, "/api/v1/namespaces/default/pods/web/binding").unwrap();
        assert_eq!((r.verb, r.subresource.as_str()), (Verb::Create, "binding"));
        let r = RequestInfo::parse(Method::Patch, "/apis/apps/v1/namespaces/default/deployments/web/scale").unwrap();
        assert_eq!((r.verb, r.resource.kind), (Verb::Patch, "Deployment"));
        for bad in
            ["/api/v2/pods", "/apis/apps/v1/pods", "/api/v1/namespaces/x/nodes", "/healthz", "/api/v1/pods/x/y/z"]
        {
            assert_eq!(RequestInfo::parse(Method::Get, bad).unwrap_err().code, 404, "{bad}");
        }
        assert_eq!(RequestInfo::parse(Method::Put, "/api/v1/pods").unwrap_err().code, 405);
        assert_eq!(
            with_query("/api/v1/pods", &[("labelSelector", "a in (b,c)"), ("limit", "")]),
            "/api/v1/pods?labelSelector=a%20in%20%28b%2Cc%29"
        );
        assert_eq!(parse_query("labelSelector=a%20in%20%28b%2Cc%29&x=%zz")["labelSelector"], "a in (b,c)");
        assert_eq!(parse_query("x=%zz%4")["x"], "%zz%4");
    }
}
