//! The etcd v3 API as the simulated network carries it: requests from clients
//! (kube-apiserver, etcdctl) to a member, and the member's responses. Shapes and
//! field names follow etcd's `etcdserverpb` (rpc.proto).

use crate::etcd::mvcc::{Event, KeyRange, KeyValue, RangeResult};
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
        /// Return the previous key-value.
        prev_kv: bool,
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
    /// `KV.Txn`: compare, then run the success or the failure operations, all
    /// at one revision.
    Txn(Txn),
    /// `Watch.Watch` create: a stream of events on `range` from `start_revision`
    /// (0: from now on). Answers keep coming under the request's id.
    Watch {
        /// Keys to watch.
        range: KeyRange,
        /// First revision to deliver; 0 for "after the current one".
        start_revision: i64,
        /// Include each event's previous key-value.
        prev_kv: bool,
        /// Send empty progress notifications periodically.
        progress_notify: bool,
    },
    /// `Watch.Watch` cancel.
    WatchCancel {
        /// The watch to cancel.
        watch_id: i64,
    },
    /// `Lease.LeaseGrant`.
    LeaseGrant {
        /// Requested TTL in seconds.
        ttl_secs: i64,
        /// Lease id; 0 lets the member choose.
        id: i64,
    },
    /// `Lease.LeaseRevoke`.
    LeaseRevoke {
        /// The lease.
        id: i64,
    },
    /// `Lease.LeaseKeepAlive` (one renewal).
    LeaseKeepAlive {
        /// The lease.
        id: i64,
    },
    /// `Lease.LeaseTimeToLive`.
    LeaseTimeToLive {
        /// The lease.
        id: i64,
        /// Also list the attached keys.
        keys: bool,
    },
    /// `Lease.LeaseLeases`.
    LeaseLeases,
    /// `Maintenance.Status`.
    Status,
    /// `Cluster.MemberList`.
    MemberList,
    /// `Cluster.MemberAdd`.
    MemberAdd {
        /// The new member's name (kscope names members `etcd-N`).
        name: String,
        /// Its peer URLs.
        peer_urls: Vec<String>,
        /// Add it as a non-voting learner.
        is_learner: bool,
    },
    /// `Cluster.MemberRemove`.
    MemberRemove {
        /// The member.
        id: u64,
    },
    /// `Cluster.MemberPromote`: a learner becomes a voter.
    MemberPromote {
        /// The learner.
        id: u64,
    },
    /// `Cluster.MemberUpdate`: new peer URLs.
    MemberUpdate {
        /// The member.
        id: u64,
        /// Its new peer URLs.
        peer_urls: Vec<String>,
    },
    /// A started member announcing its name and client URLs (etcd's publish).
    MemberPublish {
        /// The member.
        id: u64,
        /// Its name.
        name: String,
        /// Its client URLs.
        client_urls: Vec<String>,
    },
    /// The leader setting the cluster version once all members are known
    /// (etcd's ClusterVersionSet; "3.5.0" for v3.5 members).
    ClusterVersionSet {
        /// The version.
        version: String,
    },
    /// `Maintenance.MoveLeader`.
    MoveLeader {
        /// The member to hand leadership to.
        target: u64,
    },
    /// The client gave up on request `request_id` (gRPC cancellation): a
    /// proposal still waiting for a leader is abandoned. No answer.
    Cancel {
        /// The abandoned request's id.
        request_id: u64,
    },
    /// `Maintenance.Snapshot`: the member's applied state as a blob.
    Snapshot,
    /// `Maintenance.Defragment`.
    Defragment,
    /// `Maintenance.Alarm` (list).
    AlarmList,
}

/// `etcdserverpb.TxnRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// All must hold for `success` to run.
    pub compare: Vec<Compare>,
    /// Run when every comparison holds.
    pub success: Vec<TxnOp>,
    /// Run otherwise.
    pub failure: Vec<TxnOp>,
}

/// One comparison of a [`Txn`] (`etcdserverpb.Compare`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// What is compared, with the operand.
    pub target: CompareTarget,
    /// How.
    pub result: CompareResult,
}

/// What a [`Compare`] looks at, with the value to compare with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// The key's version.
    Version(i64),
    /// Its create revision.
    Create(i64),
    /// Its mod revision.
    Mod(i64),
    /// Its value.
    Value(Vec<u8>),
    /// Its lease.
    Lease(i64),
}

/// The comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    /// `=`.
    Equal,
    /// `>`.
    Greater,
    /// `<`.
    Less,
    /// `!=`.
    NotEqual,
}

/// An operation inside a [`Txn`] (`etcdserverpb.RequestOp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// Read.
    Range {
        /// Keys.
        range: KeyRange,
        /// Most keys; 0 for all.
        limit: i64,
    },
    /// Write.
    Put {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
        /// Lease, 0 for none.
        lease: i64,
    },
    /// Delete.
    DeleteRange {
        /// Keys.
        range: KeyRange,
    },
}

/// `etcdserverpb.WatchResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    /// The watch this answer belongs to.
    pub watch_id: i64,
    /// First answer of a new watch.
    pub created: bool,
    /// The watch ended.
    pub canceled: bool,
    /// Set when the watch was canceled because its start is compacted.
    pub compact_revision: i64,
    /// Why it was canceled.
    pub cancel_reason: String,
    /// Events, in revision order (empty for a progress notification).
    pub events: Vec<Event>,
    /// Position of this response on its stream (created is 0, then 1, 2, ...).
    /// Not an etcd field: it stands for the ordering TCP gives a gRPC stream,
    /// so a client can tell when a message of the stream was lost and watch again.
    pub seq: u64,
}

impl Request {
    /// Whether the request changes the keyspace (and so goes through Raft).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Put { .. }
                | Request::DeleteRange { .. }
                | Request::Compact { .. }
                | Request::Txn(_)
                | Request::LeaseGrant { .. }
                | Request::LeaseRevoke { .. }
        )
    }

    /// The gRPC method, for the trace and the diagram.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Range { .. } => "Range",
            Request::Put { .. } => "Put",
            Request::DeleteRange { .. } => "DeleteRange",
            Request::Compact { .. } => "Compact",
            Request::Txn(_) => "Txn",
            Request::Watch { .. } | Request::WatchCancel { .. } => "Watch",
            Request::LeaseGrant { .. } => "LeaseGrant",
            Request::LeaseRevoke { .. } => "LeaseRevoke",
            Request::LeaseKeepAlive { .. } => "LeaseKeepAlive",
            Request::LeaseTimeToLive { .. } => "LeaseTimeToLive",
            Request::LeaseLeases => "LeaseLeases",
            Request::Status => "Status",
            Request::MemberList => "MemberList",
            Request::MemberAdd { .. } => "MemberAdd",
            Request::MemberRemove { .. } => "MemberRemove",
            Request::MemberPromote { .. } => "MemberPromote",
            Request::MemberUpdate { .. } => "MemberUpdate",
            Request::MemberPublish { .. } => "MemberPublish",
            Request::MoveLeader { .. } => "MoveLeader",
            Request::ClusterVersionSet { .. } => "ClusterVersionSet",
            Request::Snapshot => "Snapshot",
            Request::Cancel { .. } => "Cancel",
            Request::Defragment => "Defragment",
            Request::AlarmList => "Alarm",
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
    /// `TxnResponse`: which branch ran, and its answers in order.
    Txn {
        /// Whether every comparison held.
        succeeded: bool,
        /// One answer per operation of the branch that ran.
        responses: Vec<Reply>,
    },
    /// One `WatchResponse` of a watch stream.
    Watch(WatchResponse),
    /// `LeaseGrantResponse`.
    LeaseGrant {
        /// The lease id.
        id: i64,
        /// The TTL granted, in seconds.
        ttl_secs: i64,
    },
    /// `LeaseRevokeResponse`.
    LeaseRevoke,
    /// `LeaseKeepAliveResponse`.
    LeaseKeepAlive {
        /// The lease id.
        id: i64,
        /// The renewed TTL in seconds.
        ttl_secs: i64,
    },
    /// `LeaseTimeToLiveResponse`; `ttl_secs` is -1 when the lease is gone.
    LeaseTimeToLive {
        /// The lease id.
        id: i64,
        /// Seconds left, or -1.
        ttl_secs: i64,
        /// The TTL it was granted with.
        granted_ttl_secs: i64,
        /// Attached keys, when asked for.
        keys: Vec<Vec<u8>>,
    },
    /// `LeaseLeasesResponse`.
    LeaseLeases(Vec<i64>),
    /// `StatusResponse`.
    Status(Status),
    /// `MemberListResponse`, and the answer to every membership change (the
    /// member concerned, then the members after the change).
    MemberList(Vec<Member>),
    /// `MemberAddResponse`: the new member and the members after the change.
    MemberAdd {
        /// The new member.
        member: Member,
        /// Every member, the new one included.
        members: Vec<Member>,
    },
    /// `MoveLeaderResponse`.
    MoveLeader,
    /// The snapshot blob (etcd streams the backend database).
    Snapshot {
        /// The serialized state machine.
        data: Vec<u8>,
    },
    /// `DefragmentResponse`.
    Defragment,
    /// `AlarmResponse`: the active alarms (kscope raises none yet).
    AlarmList(Vec<String>),
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
