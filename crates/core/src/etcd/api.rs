//! The etcd v3 API as the simulated network carries it: requests from clients
//! (kube-apiserver, etcdctl) to a member, and the member's responses. Shapes and
//! field names follow etcd's `etcdserverpb` (rpc.proto).

use crate::etcd::mvcc::{KeyRange, KeyValue, RangeResult};
use serde::{Deserialize, Serialize};

/// A request to an etcd member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `KV.Range`.
    Range {
        /// Keys to read.
        range: KeyRange,
        /// Revision to read at; 0 for the latest.
        revision: i64,
        /// Most keys to return; 0 for all.
        limit: i64,
        /// Serve from the member's local state without a ReadIndex round.
        serializable: bool,
    },
    /// `KV.Put`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Lease to attach, 0 for none.
        lease: i64,
    },
    /// `KV.DeleteRange`.
    DeleteRange {
        /// Keys to delete.
        range: KeyRange,
    },
    /// `KV.Compact`.
    Compact {
        /// Compact history below this revision.
        revision: i64,
    },
    /// `Maintenance.Status`.
    Status,
    /// `Cluster.MemberList`.
    MemberList,
}

impl Request {
    /// Whether the request changes the keyspace (and so goes through Raft).
    pub fn is_write(&self) -> bool {
        matches!(self, Request::Put { .. } | Request::DeleteRange { .. } | Request::Compact { .. })
    }

    /// The gRPC method, for the trace and the diagram.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Range { .. } => "Range",
            Request::Put { .. } => "Put",
            Request::DeleteRange { .. } => "DeleteRange",
            Request::Compact { .. } => "Compact",
            Request::Status => "Status",
            Request::MemberList => "MemberList",
        }
    }
}

/// `etcdserverpb.ResponseHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    /// The cluster's id.
    pub cluster_id: u64,
    /// The answering member's id.
    pub member_id: u64,
    /// The store revision when the request was served.
    pub revision: i64,
    /// The member's raft term.
    pub raft_term: u64,
}

/// One member, as `Cluster.MemberList` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member id.
    pub id: u64,
    /// Member name (`etcd-1`).
    pub name: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Whether it is a non-voting learner.
    pub is_learner: bool,
}

/// `Maintenance.Status` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// etcd version the member claims.
    pub version: String,
    /// Backend size in bytes.
    pub db_size: i64,
    /// Id of the leader the member knows, 0 for none.
    pub leader: u64,
    /// Index of the member's last log entry.
    pub raft_index: u64,
    /// The member's term.
    pub raft_term: u64,
    /// Index of the last applied entry.
    pub raft_applied_index: u64,
    /// Whether it is a learner.
    pub is_learner: bool,
    /// Alarms and other errors.
    pub errors: Vec<String>,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// `RangeResponse`.
    Range(RangeResult),
    /// `PutResponse`.
    Put {
        /// The previous key-value, if there was one.
        prev_kv: Option<KeyValue>,
    },
    /// `DeleteRangeResponse`.
    DeleteRange {
        /// The deleted key-values.
        prev_kvs: Vec<KeyValue>,
    },
    /// `CompactionResponse`.
    Compact,
    /// `StatusResponse`.
    Status(Status),
    /// `MemberListResponse`.
    MemberList(Vec<Member>),
}

/// A member's response to a [`Request`]; `Err` holds etcd's error text
/// (`etcdserver: ...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Header of the answering member.
    pub header: ResponseHeader,
    /// The answer or the error.
    pub result: Result<Reply, String>,
}
