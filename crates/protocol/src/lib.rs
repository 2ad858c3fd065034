//! The messages exchanged between the kscope UI and the web worker that owns the
//! simulation core.
//!
//! The UI never reaches into the core: it sends [`ToWorker`] commands and builds a
//! read model from the [`FromWorker`] replies, snapshots and batched deltas. This
//! crate is deliberately tiny (serde only) so that the UI bundle does not pay for
//! the core or the Kubernetes types.
//!
//! The wire format is versioned by [`PROTOCOL_VERSION`]: the UI opens with
//! [`ToWorker::Hello`] and the worker refuses a version it does not speak.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// Version of the UI ⇄ worker protocol. Bump it on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 4;

/// The slowest and fastest playback speeds, in percent of real time (0.1× .. 100×).
pub const SPEED_PERCENT_RANGE: (u32, u32) = (10, 10_000);

/// A command from the UI to the worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// First message: announces the protocol version the UI speaks.
    Hello {
        /// The UI's [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// Let simulated time run.
    Play,
    /// Stop simulated time.
    Pause,
    /// Set playback speed in percent of real time, clamped to [`SPEED_PERCENT_RANGE`].
    SetSpeed {
        /// 100 is real time.
        percent: u32,
    },
    /// Run one console line (`sim ...`, later `kubectl ...`, `etcdctl ...`).
    Exec {
        /// Chosen by the UI; echoed in [`FromWorker::ExecResult`].
        id: u64,
        /// The line as typed.
        line: String,
    },
}

/// A message from the worker to the UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// Answer to [`ToWorker::Hello`]: the whole current state.
    Welcome {
        /// The worker's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Everything the UI draws.
        snapshot: ClusterView,
    },
    /// Changes since the previous batch; sent at most once per worker tick.
    Batch(Batch),
    /// Output of a [`ToWorker::Exec`] line, as the CLI shell would print it.
    ExecResult {
        /// The id the UI sent.
        id: u64,
        /// What the command printed (stdout and stderr, in order).
        output: String,
        /// False when the command failed.
        ok: bool,
    },
    /// The worker could not act on a message (for example a protocol mismatch).
    Error {
        /// A sentence for the user.
        message: String,
    },
}

/// Everything the UI draws, as sent on connect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Clock, seed, playback and trace summary.
    pub meta: SimMeta,
    /// Control-plane and per-node components, ordered by id.
    pub components: Vec<ComponentView>,
    /// Worker nodes, ordered by name.
    pub nodes: Vec<NodeView>,
    /// Pods no node has been chosen for yet, by namespace and name.
    pub unscheduled: Vec<PodView>,
    /// Services with their endpoints, by namespace and name.
    #[serde(default)]
    pub services: Vec<ServiceView>,
}

/// A Service as the UI draws it: how it is reached and where it sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub kind: String,
    /// The cluster IP (`None` for a headless Service).
    pub cluster_ip: String,
    /// The PORT(S) column of `kubectl get svc` (`80/TCP`, `80:30080/TCP`).
    pub ports: String,
    /// Its endpoints, from its Endpoints object: ready ones first, each by IP.
    pub endpoints: Vec<EndpointView>,
}

/// One address of a Service's Endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// The address.
    pub ip: String,
    /// The pod behind it, if any (`targetRef`).
    pub pod: String,
    /// The node it is on, if known.
    pub node: String,
    /// Ready (in `addresses`) or not (`notReadyAddresses`).
    pub ready: bool,
}

/// Clock, seed, playback state and trace summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMeta {
    /// The scenario's `metadata.name`.
    pub scenario: String,
    /// The seed of the simulation's RNG.
    pub seed: u64,
    /// Simulated time since the start, in milliseconds.
    pub time_ms: u64,
    /// Whether simulated time is running.
    pub running: bool,
    /// Playback speed in percent of real time.
    pub speed_percent: u32,
    /// Number of events in the trace so far.
    pub trace_len: u64,
    /// Stable hash of the trace so far (16 hex digits).
    pub trace_hash: String,
}

/// What kind of control-plane or node component a [`ComponentView`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ComponentKind {
    /// kube-apiserver.
    ApiServer,
    /// An etcd member.
    Etcd,
    /// kube-scheduler.
    Scheduler,
    /// kube-controller-manager.
    ControllerManager,
    /// The kubelet of one node.
    Kubelet,
    /// kube-proxy of one node.
    KubeProxy,
    /// A CoreDNS server of the cluster DNS add-on (a coredns pod's program).
    Dns,
    /// kube-addon-manager.
    AddonManager,
}

/// One component as the UI draws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    /// Network name, e.g. `kube-apiserver`, `etcd-2`, `kubelet/node-1`.
    pub id: String,
    /// What it is.
    pub kind: ComponentKind,
    /// The node it runs on, for per-node components.
    pub node: Option<String>,
    /// False while the component is killed.
    pub up: bool,
    /// Component-specific facts to show (label, value), in display order.
    pub details: Vec<(String, String)>,
}

/// One worker node as the UI draws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Node name.
    pub name: String,
    /// Allocatable CPU in millicores.
    pub cpu_millis: u64,
    /// Allocatable memory in bytes.
    pub memory_bytes: u64,
    /// Node labels, ordered by key.
    pub labels: Vec<(String, String)>,
    /// The STATUS column of `kubectl get nodes` (`Ready`, `NotReady`,
    /// `Ready,SchedulingDisabled`); empty before the kubelet registers the node.
    pub status: String,
    /// Taints as `key=value:Effect` (`key:Effect` without a value).
    pub taints: Vec<String>,
    /// CPU requested by the pods bound to it that have not ended, in millicores.
    pub cpu_requested_millis: u64,
    /// Memory requested by those pods, in bytes.
    pub memory_requested_bytes: u64,
    /// The pods bound to it, by namespace and name.
    pub pods: Vec<PodView>,
}

/// One pod as the UI draws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
    pub phase: String,
    /// The STATUS column of `kubectl get pods` (`ContainerCreating`,
    /// `CrashLoopBackOff`, `Terminating`, ...).
    pub status: String,
    /// The READY column (`1/1`).
    pub ready: String,
    /// Container restarts.
    pub restarts: u32,
    /// The kind of its controlling owner: `ReplicaSet`, `DaemonSet`, `Node`
    /// (a static pod's mirror), or empty.
    #[serde(default)]
    pub controller: String,
}

/// A change to the UI's read model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delta {
    /// A component appeared or changed.
    Component(ComponentView),
    /// A component is gone.
    ComponentRemoved(String),
    /// A node appeared or changed.
    Node(NodeView),
    /// A node is gone.
    NodeRemoved(String),
    /// The pods waiting for a node, all of them.
    Unscheduled(Vec<PodView>),
    /// A Service appeared or changed.
    Service(ServiceView),
    /// A Service is gone, by `namespace/name`.
    ServiceRemoved(String),
}

/// The changes of one worker tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Clock, playback and trace summary after the tick.
    pub meta: SimMeta,
    /// Read-model changes, in order.
    pub deltas: Vec<Delta>,
    /// Messages sent during the tick, oldest first, at most [`Batch::MAX_MESSAGES`].
    pub messages: Vec<MessageView>,
    /// Messages of this tick left out because of the cap.
    pub messages_omitted: u64,
}

impl Batch {
    /// Cap on messages per batch, so a fast simulation cannot flood the UI.
    pub const MAX_MESSAGES: usize = 256;
}

/// The family of a message, used to colour and filter it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// A request to kube-apiserver.
    ApiRequest,
    /// kube-apiserver's answer.
    ApiResponse,
    /// Raft log replication (MsgAppend and its response).
    RaftAppend,
    /// Raft heartbeats (and their responses).
    RaftHeartbeat,
    /// Raft (pre-)votes and their responses.
    RaftVote,
    /// Other Raft traffic: snapshots, ReadIndex, leader transfer.
    RaftOther,
    /// A request to an etcd member (from kube-apiserver or etcdctl).
    EtcdRequest,
    /// An etcd member's answer.
    EtcdResponse,
}

/// What the network did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fate {
    /// In flight; it will arrive at `deliver_ms`.
    Delivered,
    /// Lost by the network's loss setting.
    Lost,
    /// Dropped because a partition cuts the link.
    Partitioned,
}

/// One message as the UI draws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Network-wide message id.
    pub id: u64,
    /// Sender id.
    pub from: String,
    /// Receiver id.
    pub to: String,
    /// Family of the message.
    pub kind: MessageKind,
    /// One line describing it, e.g. `PUT /apis/.../leases/node-1`.
    pub summary: String,
    /// When it was sent.
    pub sent_ms: u64,
    /// When it arrives (equal to `sent_ms` for a dropped message).
    pub deliver_ms: u64,
    /// What the network did with it.
    pub fate: Fate,
}
