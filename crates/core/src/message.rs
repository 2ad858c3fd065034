//! What components say to each other over the simulated network.
//!
//! Requests to kube-apiserver are shaped like the HTTP requests real components
//! send (method and REST path), so the later apiserver can route them unchanged.

use crate::etcd;
use kscope_protocol::MessageKind;
use raft::eraftpb::{Message as RaftMessage, MessageType};
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
    /// The JSON body of a create, update or patch.
    pub body: Option<serde_json::Value>,
    /// `Content-Type` of a patch body (`application/merge-patch+json`, ...).
    pub content_type: Option<String>,
    /// The user to act as (`kubectl --as`: the `Impersonate-User` header).
    pub impersonate: Option<String>,
    /// The groups to act as (`kubectl --as-group`: `Impersonate-Group` headers).
    pub impersonate_groups: Vec<String>,
}

impl ApiRequest {
    /// A request with no body.
    pub fn new(request_id: u64, method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            request_id,
            method,
            path: path.into(),
            body: None,
            content_type: None,
            impersonate: None,
            impersonate_groups: Vec::new(),
        }
    }

    /// The same request with a JSON body.
    pub fn with_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// kube-apiserver's answer to an [`ApiRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    /// The request's id.
    pub request_id: u64,
    /// HTTP status code.
    pub code: u16,
    /// The JSON body: the object, a list, a `Status`, or one watch event.
    pub body: Option<serde_json::Value>,
    /// Position on a watch stream (1, 2, ...; 0 for a plain answer). Not
    /// HTTP: it stands for TCP's ordering, so a client notices a lost
    /// message of its stream and watches again.
    pub seq: u64,
}

/// The payload of one network message.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A request to kube-apiserver.
    ApiRequest(ApiRequest),
    /// kube-apiserver's answer. A watch answers with one response per event.
    ApiResponse(ApiResponse),
    /// The client closed request `request_id` (ends a watch).
    ApiCancel {
        /// The request to end.
        request_id: u64,
    },
    /// Raft traffic between etcd members, as raft-rs produces it.
    Raft(Box<RaftMessage>),
    /// A request to an etcd member.
    EtcdRequest {
        /// Chosen by the client, echoed in the response.
        request_id: u64,
        /// The request.
        request: etcd::api::Request,
    },
    /// An etcd member's answer.
    EtcdResponse {
        /// The request's id.
        request_id: u64,
        /// The answer.
        response: etcd::api::Response,
    },
}

impl Payload {
    /// The family of the message, for colouring and filtering.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::ApiRequest(_) | Payload::ApiCancel { .. } => MessageKind::ApiRequest,
            Payload::ApiResponse(_) => MessageKind::ApiResponse,
            Payload::Raft(m) => match m.get_msg_type() {
                MessageType::MsgAppend | MessageType::MsgAppendResponse => MessageKind::RaftAppend,
                MessageType::MsgHeartbeat | MessageType::MsgHeartbeatResponse => MessageKind::RaftHeartbeat,
                MessageType::MsgRequestVote
                | MessageType::MsgRequestVoteResponse
                | MessageType::MsgRequestPreVote
                | MessageType::MsgRequestPreVoteResponse => MessageKind::RaftVote,
                _ => MessageKind::RaftOther,
            },
            Payload::EtcdRequest { .. } => MessageKind::EtcdRequest,
            Payload::EtcdResponse { .. } => MessageKind::EtcdResponse,
        }
    }

    /// A cheap digest of the message's content for the trace hash: enough that
    /// a change in what components say changes the hash, without serializing
    /// every message. (Raft entries count by index, term and size; their
    /// contents are the client requests, which are digested when sent.)
    pub fn fingerprint(&self) -> u64 {
        use crate::trace::fnv1a;
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let int = |h: &mut u64, v: u64| *h = fnv1a(*h, &v.to_le_bytes());
        match self {
            Payload::ApiRequest(r) => {
                int(&mut h, r.request_id);
                int(&mut h, r.method as u64);
                h = fnv1a(h, r.path.as_bytes());
                if let Some(body) = &r.body {
                    h = fnv1a(h, body.to_string().as_bytes());
                }
            }
            Payload::ApiResponse(r) => {
                int(&mut h, r.request_id);
                int(&mut h, u64::from(r.code));
                if let Some(body) = &r.body {
                    h = fnv1a(h, body.to_string().as_bytes());
                }
            }
            Payload::ApiCancel { request_id } => int(&mut h, *request_id),
            Payload::Raft(m) => {
                for v in
                    [m.get_msg_type() as u64, m.to, m.from, m.term, m.log_term, m.index, m.commit, u64::from(m.reject)]
                {
                    int(&mut h, v);
                }
                for e in m.entries.iter() {
                    int(&mut h, e.index);
                    int(&mut h, e.term);
                    int(&mut h, e.data.len() as u64);
                }
            }
            Payload::EtcdRequest { request_id, request } => {
                int(&mut h, *request_id);
                h = fnv1a(h, request.method().as_bytes());
                let (key, size) = match request {
                    etcd::api::Request::Put { key, value, lease, .. } => {
                        int(&mut h, *lease as u64);
                        (key.as_slice(), value.len())
                    }
                    etcd::api::Request::Range { range, revision, .. } => {
                        int(&mut h, *revision as u64);
                        (range.key.as_slice(), range.range_end.len())
                    }
                    etcd::api::Request::DeleteRange { range } => (range.key.as_slice(), range.range_end.len()),
                    _ => (&[][..], 0),
                };
                h = fnv1a(h, key);
                int(&mut h, size as u64);
            }
            Payload::EtcdResponse { request_id, response } => {
                int(&mut h, *request_id);
                int(&mut h, response.header.revision as u64);
                int(&mut h, u64::from(response.result.is_ok()));
            }
        }
        h
    }

    /// One line describing the message, as the trace and the UI show it.
    pub fn summary(&self) -> String {
        match self {
            Payload::ApiRequest(r) => format!("{} {}", r.method, r.path),
            Payload::ApiResponse(r) => match r.body.as_ref().and_then(|b| b.get("type")).and_then(|t| t.as_str()) {
                Some(event) => format!("watch event {event}"),
                None => format!("{} {}", r.code, status_text(r.code)),
            },
            Payload::ApiCancel { request_id } => format!("close request {request_id}"),
            Payload::Raft(m) => raft_summary(m),
            Payload::EtcdRequest { request, .. } => etcd_request_summary(request),
            Payload::EtcdResponse { response, .. } => match &response.result {
                Ok(etcd::api::Reply::Watch(w)) if w.created => format!("watch {} created", w.watch_id),
                Ok(etcd::api::Reply::Watch(w)) if w.canceled => format!("watch {} canceled", w.watch_id),
                Ok(etcd::api::Reply::Watch(w)) => format!("watch {}: {} events", w.watch_id, w.events.len()),
                Ok(_) => format!("OK (revision {})", response.header.revision),
                Err(e) => format!("error: {e}"),
            },
        }
    }
}

fn raft_summary(m: &RaftMessage) -> String {
    let kind = format!("{:?}", m.get_msg_type());
    match m.get_msg_type() {
        MessageType::MsgAppend => {
            format!("{kind} term={} index={} entries={} commit={}", m.term, m.index, m.entries.len(), m.commit)
        }
        MessageType::MsgAppendResponse => {
            format!("{kind} term={} index={}{}", m.term, m.index, if m.reject { " reject" } else { "" })
        }
        MessageType::MsgHeartbeat => format!("{kind} term={} commit={}", m.term, m.commit),
        MessageType::MsgRequestVote | MessageType::MsgRequestPreVote => {
            format!("{kind} term={} last={}/{}", m.term, m.log_term, m.index)
        }
        MessageType::MsgRequestVoteResponse | MessageType::MsgRequestPreVoteResponse => {
            format!("{kind} term={} {}", m.term, if m.reject { "rejected" } else { "granted" })
        }
        _ => format!("{kind} term={}", m.term),
    }
}

fn etcd_request_summary(request: &etcd::api::Request) -> String {
    use etcd::api::Request;
    let key = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    match request {
        Request::Range { range, .. } if range.range_end.is_empty() => format!("Range {}", key(&range.key)),
        Request::Range { range, .. } => format!("Range {}..", key(&range.key)),
        Request::Put { key: k, .. } => format!("Put {}", key(k)),
        Request::DeleteRange { range } => format!("DeleteRange {}", key(&range.key)),
        Request::Compact { revision } => format!("Compact {revision}"),
        Request::Txn(txn) => format!("Txn ({} compares)", txn.compare.len()),
        Request::Watch { range, .. } => format!("Watch {}", key(&range.key)),
        Request::WatchCancel { watch_id } => format!("WatchCancel {watch_id}"),
        Request::LeaseGrant { ttl_secs, .. } => format!("LeaseGrant ttl={ttl_secs}s"),
        Request::LeaseRevoke { id } | Request::LeaseKeepAlive { id } | Request::LeaseTimeToLive { id, .. } => {
            format!("{} {id:016x}", request.method())
        }
        Request::MemberAdd { name, .. } => format!("MemberAdd {name}"),
        Request::MemberRemove { id } | Request::MemberPromote { id } | Request::MemberUpdate { id, .. } => {
            format!("{} {id:x}", request.method())
        }
        Request::MemberPublish { name, .. } => format!("MemberPublish {name}"),
        Request::MoveLeader { target } => format!("MoveLeader to {target:x}"),
        Request::ClusterVersionSet { version } => format!("ClusterVersionSet {version}"),
        Request::Cancel { request_id } => format!("Cancel request {request_id}"),
        Request::Status
        | Request::MemberList
        | Request::LeaseLeases
        | Request::Snapshot
        | Request::Defragment
        | Request::AlarmList => request.method().to_string(),
    }
}

/// The reason phrase of an HTTP status code (net/http's `StatusText`).
pub fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}
