//! What components say to each other over the simulated network.
//!
//! Requests to kube-apiserver are shaped like the HTTP requests real components
//! send (method and REST path), so the later apiserver can route them unchanged.

use kscope_protocol::MessageKind;
use std::fmt;

/// HTTP method of an API request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET (get, list, watch).
    Get,
    /// POST (create).
    Post,
    /// PUT (update).
    Put,
    /// PATCH (patch).
    Patch,
    /// DELETE (delete).
    Delete,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        })
    }
}

/// A request to kube-apiserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    /// Chosen by the client, echoed in the response.
    pub request_id: u64,
    /// HTTP method.
    pub method: Method,
    /// REST path, e.g. `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1`.
    pub path: String,
    /// The JSON body of a create or update.
    pub body: Option<serde_json::Value>,
}

/// kube-apiserver's answer to an [`ApiRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    /// The request's id.
    pub request_id: u64,
    /// HTTP status code.
    pub code: u16,
}

/// The payload of one network message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A request to kube-apiserver.
    ApiRequest(ApiRequest),
    /// kube-apiserver's answer.
    ApiResponse(ApiResponse),
}

impl Payload {
    /// The family of the message, for colouring and filtering.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::ApiRequest(_) => MessageKind::ApiRequest,
            Payload::ApiResponse(_) => MessageKind::ApiResponse,
        }
    }

    /// One line describing the message, as the trace and the UI show it.
    pub fn summary(&self) -> String {
        match self {
            Payload::ApiRequest(r) => format!("{} {}", r.method, r.path),
            Payload::ApiResponse(r) => format!("{} {}", r.code, status_text(r.code)),
        }
    }
}

/// The reason phrase of an HTTP status code (net/http's `StatusText`).
pub fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
