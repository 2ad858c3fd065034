//! One etcd member: a raft-rs `RawNode` driven by the simulation, applying the
//! committed log to its MVCC store and serving the v3 API.
//!
//! Timing follows etcd's defaults (etcd `embed/config.go`): a 100 ms heartbeat
//! interval and a 1000 ms election timeout, so one tick is 100 ms,
//! `heartbeat_tick` 1 and `election_tick` 10; raft randomizes the timeout in
//! [election, 2×election) ticks. Pre-vote and check-quorum are on, as etcd
//! turns them on. raft-rs draws its jitter from an unseeded RNG; the member
//! overrides every draw with one from the simulation's seeded RNG, so runs replay
//! exactly.
//!
//! "Disk" (raft hard state, log and snapshot in a [`Disk`], and the boot
//! counter) survives a kill; everything else is rebuilt on start, the MVCC store
//! by re-applying the committed log, as etcd replays its WAL.

use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::etcd::api::{
    Compare, CompareResult, CompareTarget, Member, Reply, Request, Response, ResponseHeader, Status, Txn, TxnOp,
    WatchResponse,
};
use crate::etcd::disk::Disk;
use crate::etcd::lease::Lease;
use crate::etcd::lease::{Lessor, ERR_LEASE_NOT_FOUND};
use crate::etcd::mvcc::{KeyRange, KeyValue, Store, ERR_COMPACTED};
use crate::message::Payload;
use kscope_protocol::ComponentKind;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message as RaftMessage};
use raft::Storage as _;
use raft::{Config, RawNode, StateRole};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One raft tick: etcd's heartbeat interval.
pub const TICK_MS: u64 = 100;
/// Election timeout in ticks (1000 ms).
pub const ELECTION_TICKS: usize = 10;
/// Heartbeat interval in ticks.
pub const HEARTBEAT_TICKS: usize = 1;
/// The cluster version a v3.5 leader sets.
pub const CLUSTER_VERSION: &str = "3.5.0";
/// Largest raft message etcd sends (server/etcdserver/raft.go `maxSizePerMsg`, 1 MiB).
pub const MAX_SIZE_PER_MSG: u64 = 1024 * 1024;
/// Append messages in flight per follower (etcd's `maxInflightMsgs`, 4096 / 8).
pub const MAX_INFLIGHT_MSGS: usize = 4096 / 8;
/// The etcd version members report.
pub const ETCD_VERSION: &str = "3.5.16";
/// Server-side request timeout: etcd's `ReqTimeout` is 5 s plus twice the
/// election timeout (etcd server/config/config.go).
pub const REQUEST_TIMEOUT_MS: u64 = 5_000 + 2 * ELECTION_TICKS as u64 * TICK_MS;
/// etcd's timeout error (`etcdserver: request timed out`, ErrTimeout).
pub const ERR_TIMEOUT: &str = "etcdserver: request timed out";
/// etcd's error when a member has no leader (`ErrNoLeader`).
pub const ERR_NO_LEADER: &str = "etcdserver: no leader";

/// How often watches that asked for it get a progress notification (etcd's
/// default `--experimental-watch-progress-notify-interval`, 10 minutes).
pub const WATCH_PROGRESS_NOTIFY_MS: u64 = 10 * 60 * 1000;
/// etcd's error for a txn that writes one key twice (rpctypes.ErrGRPCDuplicateKey).
pub const ERR_DUPLICATE_KEY: &str = "etcdserver: duplicate key given in txn request";

const TIMER_TICK: u64 = 1;
const TIMER_EXPIRE: u64 = 2;
const TIMER_PROGRESS: u64 = 3;
const TIMER_READY: u64 = 4;

/// How often members snapshot and how much log they keep (etcd's
/// `--snapshot-count`, default 100000, and `SnapshotCatchUpEntries`, 5000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Applied entries between snapshots.
    pub snapshot_count: u64,
    /// Entries kept in the log before a snapshot, for lagging followers.
    pub snapshot_catch_up_entries: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { snapshot_count: 100_000, snapshot_catch_up_entries: 5_000 }
    }
}

/// What a snapshot holds: the applied state of the member.
#[derive(Serialize, Deserialize)]
struct StateMachine {
    store: Store,
    leases: BTreeMap<i64, Lease>,
    members: BTreeMap<u64, Member>,
    cluster_version: Option<String>,
}

/// A client's watch on this member.
#[derive(Clone, Debug)]
struct Watcher {
    client: ComponentId,
    request_id: u64,
    range: KeyRange,
    prev_kv: bool,
    progress_notify: bool,
    /// The next revision to deliver.
    next_revision: i64,
    /// Responses sent on the stream after `created`.
    sent: u64,
}

/// A write as it travels through the raft log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Proposal {
    /// (member id, boot, sequence): unique across members and restarts.
    id: (u64, u64, u64),
    request: Request,
}

/// A client waiting for an answer.
#[derive(Clone, Debug)]
struct Waiter {
    client: ComponentId,
    request_id: u64,
    deadline_ms: u64,
}

/// A linearizable read waiting for its ReadIndex and then for apply.
#[derive(Clone, Debug)]
struct PendingRead {
    waiter: Waiter,
    request: Request,
    /// Set when the ReadIndex round completes.
    read_index: Option<u64>,
    /// When the ReadIndex request was last sent into raft.
    issued_ms: u64,
}

/// How often a read still waiting for its index asks again (raft drops
/// ReadIndex requests while there is no leader; etcd retries every 500 ms).
pub const READ_INDEX_RETRY_MS: u64 = 500;

/// How each member of the cluster is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Member id (also the raft id).
    pub id: u64,
    /// Member name (`etcd-1`).
    pub name: String,
    /// Network name.
    pub component: ComponentId,
}

/// A member's id, derived from its name and the cluster like etcd derives it
/// from its peer URLs and cluster token: stable, and never 0.
pub fn member_id(name: &str) -> u64 {
    let id = crate::trace::fnv1a(0xcbf2_9ce4_8422_2325, format!("kscope/{name}").as_bytes());
    id.max(1)
}

/// The cluster id, derived from the member ids.
pub fn cluster_id(peers: &[Peer]) -> u64 {
    peers.iter().fold(0xcbf2_9ce4_8422_2325, |h, p| crate::trace::fnv1a(h, &p.id.to_be_bytes()))
}

/// The simulated client URL of member number `n` (1-based).
pub fn client_url(n: usize) -> String {
    format!("https://10.0.0.{}:2379", 10 + n)
}

/// The simulated peer URL of member number `n` (1-based).
pub fn peer_url(n: usize) -> String {
    format!("https://10.0.0.{}:2380", 10 + n)
}

/// The member number a simulated peer URL belongs to (`https://10.0.0.1N:2380` → N).
pub fn member_number(peer_url: &str) -> Option<u8> {
    let host = peer_url.split("://").last()?.split(':').next()?;
    let last: u8 = host.strip_prefix("10.0.0.")?.parse().ok()?;
    last.checked_sub(10).filter(|n| *n > 0)
}

/// etcd's ErrLeaderChanged: a linearizable read was waiting for its read
/// index when the leader changed.
pub const ERR_LEADER_CHANGED: &str = "etcdserver: leader changed";
/// etcd's ErrNotLeader.
pub const ERR_NOT_LEADER: &str = "etcdserver: not leader";
/// etcd's ErrIDNotFound as clients see it.
pub const ERR_MEMBER_NOT_FOUND: &str = "etcdserver: member not found";
/// etcd's ErrLearnerNotReady.
pub const ERR_LEARNER_NOT_READY: &str = "etcdserver: can only promote a learner member which is in sync with leader";
/// etcd's ErrMemberNotLearner.
pub const ERR_NOT_LEARNER: &str = "etcdserver: can only promote a learner member";
/// etcd's ErrTooManyLearners.
pub const ERR_TOO_MANY_LEARNERS: &str = "etcdserver: too many learner members in cluster";
/// etcd's ErrPeerURLexists.
pub const ERR_PEER_URL_EXISTS: &str = "etcdserver: Peer URLs already exists";
/// etcd's ErrGRPCNotSupportedForLearner.
pub const ERR_LEARNER_RPC: &str = "etcdserver: rpc not supported for learner";

/// A proposal waiting for a leader, with the id its client waits under.
struct Held {
    id: (u64, u64, u64),
    proposal: HeldProposal,
}

enum HeldProposal {
    /// A normal entry (a serialized [`Proposal`]).
    Entry(Vec<u8>),
    /// A membership change with its context.
    ConfChange(Vec<u8>, ConfChange),
}

/// The context of a membership change in the log: who asked, and the member.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ConfContext {
    proposal: (u64, u64, u64),
    member: Member,
}

/// One etcd member.
pub struct EtcdMember {
    me: Peer,
    /// The cluster this member was started with (etcd's --initial-cluster).
    initial: Vec<Member>,
    cluster_id: u64,
    // Disk.
    storage: Disk,
    tuning: Tuning,
    boots: u64,
    // Volatile.
    node: Option<RawNode<Disk>>,
    store: Store,
    next_seq: u64,
    waiters: BTreeMap<(u64, u64, u64), Waiter>,
    reads: BTreeMap<u64, PendingRead>,
    next_read: u64,
    watchers: BTreeMap<i64, Watcher>,
    next_watch: i64,
    lessor: Lessor,
    next_lease: i64,
    /// Requests this member forwarded to the leader (lease keep-alive and
    /// time-to-live are the leader's to answer), by forwarded request id.
    forwarded: BTreeMap<u64, Waiter>,
    next_forward: u64,
    /// Applied membership, by member id (etcd lists members in id order).
    members: BTreeMap<u64, Member>,
    /// This member applied its own removal and has shut down.
    removed: bool,
    /// The applied cluster version.
    cluster_version: Option<String>,
    /// The leader this member last knew, to notice changes.
    known_leader: u64,
    /// A Ready round is deferred to the end of this instant.
    ready_scheduled: bool,
    /// Proposals waiting for a leader (volatile; their clients time out).
    held: Vec<Held>,
    /// Leadership transfers waiting to complete: (target, client).
    transfers: Vec<(u64, Waiter)>,
    last_publish_ms: Option<u64>,
    logger: slog::Logger,
}

impl EtcdMember {
    /// Member `me` of a new cluster whose initial members are `peers`. Like
    /// etcd, members start unpublished (no name or client URLs in the member
    /// list) and publish them once they run.
    pub fn new(me: &str, peers: Vec<Peer>, tuning: Tuning) -> Self {
        let initial = peers
            .iter()
            .map(|p| {
                let n = match p.component {
                    ComponentId::Etcd(n) => usize::from(n),
                    _ => unreachable!("etcd peers are etcd components"),
                };
                Member {
                    id: p.id,
                    name: String::new(),
                    peer_urls: vec![peer_url(n)],
                    client_urls: Vec::new(),
                    is_learner: false,
                }
            })
            .collect::<Vec<_>>();
        let mut member = Self::with_initial(me, cluster_id(&peers), initial.clone(), tuning);
        let entries = initial
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut cc = ConfChange::default();
                cc.set_change_type(ConfChangeType::AddNode);
                cc.node_id = m.id;
                let mut entry = Entry::default();
                entry.set_entry_type(EntryType::EntryConfChange);
                entry.term = 1;
                entry.index = i as u64 + 1;
                entry.data = protobuf::Message::write_to_bytes(&cc).expect("conf changes encode").into();
                entry
            })
            .collect();
        let conf_state = member.storage.initial_state().expect("fresh disk").conf_state;
        member.storage = Disk::bootstrap_new_cluster(conf_state, entries);
        member
    }

    /// A member joining an existing cluster after `etcdctl member add`:
    /// `members` is the membership including it.
    pub fn joining(me: &str, cluster_id: u64, members: Vec<Member>, tuning: Tuning) -> Self {
        Self::with_initial(me, cluster_id, members, tuning)
    }

    fn with_initial(me: &str, cluster_id: u64, initial: Vec<Member>, tuning: Tuning) -> Self {
        let n: u8 = me.strip_prefix("etcd-").and_then(|n| n.parse().ok()).expect("members are named etcd-N");
        let me = Peer { id: member_id(me), name: me.to_string(), component: ComponentId::Etcd(n) };
        let voters: Vec<u64> = initial.iter().filter(|m| !m.is_learner).map(|m| m.id).collect();
        let learners: Vec<u64> = initial.iter().filter(|m| m.is_learner).map(|m| m.id).collect();
        let storage = Disk::bootstrap(ConfState::from((voters, learners)));
        EtcdMember {
            cluster_id,
            me,
            initial,
            storage,
            tuning,
            boots: 0,
            node: None,
            store: Store::new(),
            next_seq: 0,
            waiters: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            watchers: BTreeMap::new(),
            next_watch: 0,
            lessor: Lessor::default(),
            next_lease: 0,
            forwarded: BTreeMap::new(),
            next_forward: 0,
            members: BTreeMap::new(),
            removed: false,
            cluster_version: None,
            known_leader: 0,
            ready_scheduled: false,
            held: Vec::new(),
            transfers: Vec::new(),
            last_publish_ms: None,
            logger: slog::Logger::root(slog::Discard, slog::o!()),
        }
    }

    /// The raft role, term, commit and applied index, for status and the UI.
    pub fn raft_state(&self) -> Option<(StateRole, u64, u64, u64)> {
        self.node.as_ref().map(|n| (n.raft.state, n.raft.term, n.raft.raft_log.committed, n.raft.raft_log.applied))
    }

    /// The member's MVCC store, for tests and checkers.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The member's lessor, for tests and checkers.
    pub fn lessor(&self) -> &Lessor {
        &self.lessor
    }

    /// The member's id (its raft id).
    pub fn id(&self) -> u64 {
        self.me.id
    }

    /// The leader this member knows (0 for none), while running.
    pub fn leader(&self) -> Option<u64> {
        self.node.as_ref().map(|n| n.raft.leader_id)
    }

    /// The (term, data) of the member's log entries `1..=upto` that are still in
    /// its log (entries below a snapshot are gone), for the log-matching check.
    pub fn log(&self, upto: u64) -> Vec<(u64, u64, Vec<u8>)> {
        use raft::Storage;
        let first = self.storage.first_index().unwrap_or(1);
        let last = self.storage.last_index().unwrap_or(0).min(upto);
        if last < first {
            return Vec::new();
        }
        self.storage
            .entries(first, last + 1, None, raft::GetEntriesContext::empty(false))
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.index, e.term, e.data.to_vec()))
            .collect()
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.me.id,
            revision: self.store.revision(),
            raft_term: self.node.as_ref().map_or(0, |n| n.raft.term),
        }
    }

    fn reply(&self, ctx: &mut Context<'_>, waiter: &Waiter, result: Result<Reply, String>) {
        let response = Response { header: self.header(), result };
        ctx.send(waiter.client.clone(), Payload::EtcdResponse { request_id: waiter.request_id, response });
    }

    fn component_of(&self, raft_id: u64) -> Option<ComponentId> {
        let member = self.members.get(&raft_id).or_else(|| self.initial.iter().find(|m| m.id == raft_id))?;
        member.peer_urls.first().and_then(|u| member_number(u)).map(ComponentId::Etcd)
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    fn is_learner(&self) -> bool {
        self.members.get(&self.me.id).is_some_and(|m| m.is_learner)
    }

    /// Overrides raft-rs's unseeded election jitter after every call into raft:
    /// whenever the election clock was just reset, draw the timeout from the
    /// simulation's RNG, in raft's own range [election, 2×election).
    fn reseed_election_timeout(&mut self, ctx: &mut Context<'_>) {
        if let Some(node) = self.node.as_mut() {
            if node.raft.election_elapsed == 0 {
                let ticks = ctx.rng().between(ELECTION_TICKS as u64, 2 * ELECTION_TICKS as u64 - 1);
                node.raft.set_randomized_election_timeout(ticks as usize);
            }
        }
    }

    /// A ReadIndex context unique across members and restarts: raft-rs
    /// ignores a context that is already pending.
    fn read_context(&self, key: u64) -> Vec<u8> {
        [self.me.id, self.boots, key].iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// This member's read key in a ReadIndex context, if the context is its own.
    fn read_key(&self, context: &[u8]) -> Option<u64> {
        let mine = self.read_context(0);
        (context.len() == 24 && context[..16] == mine[..16])
            .then(|| u64::from_be_bytes(context[16..].try_into().expect("eight bytes")))
    }

    /// Asks again for reads whose ReadIndex got no answer (raft drops them
    /// while there is no leader, or before a new leader commits in its term).
    fn retry_reads(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let stale: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.read_index.is_none() && now >= r.issued_ms + READ_INDEX_RETRY_MS)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            let context = self.read_context(key);
            if let Some(read) = self.reads.get_mut(&key) {
                read.issued_ms = now;
            }
            if let Some(node) = self.node.as_mut() {
                node.read_index(context);
            }
        }
    }

    /// Sends raft's messages, ordered by receiver. raft-rs walks its peers in
    /// hash-map order, which differs between 64-bit and 32-bit (wasm) builds;
    /// sorting keeps the send order, and so the run, the same on both. The
    /// sort is stable, so each peer's messages keep their order.
    fn send_raft(&self, ctx: &mut Context<'_>, mut messages: Vec<RaftMessage>) {
        messages.sort_by_key(|m| m.to);
        for m in messages {
            if let Some(to) = self.component_of(m.to) {
                ctx.send(to, Payload::Raft(Box::new(m)));
            }
        }
    }

    /// The raft-rs Ready loop: persist, send, apply, advance.
    fn handle_ready(&mut self, ctx: &mut Context<'_>) {
        let Some(node) = self.node.as_mut() else { return };
        if !node.has_ready() {
            return;
        }
        let mut ready = node.ready();
        let messages = ready.take_messages();
        let storage = self.storage.clone();
        let snapshot = (!ready.snapshot().is_empty()).then(|| ready.snapshot().clone());
        if let Some(snapshot) = &snapshot {
            storage.apply_snapshot(snapshot.clone());
        }
        let committed = ready.take_committed_entries();
        if !ready.entries().is_empty() {
            storage.append(ready.entries());
        }
        if let Some(hs) = ready.hs() {
            storage.set_hard_state(hs.clone());
        }
        let read_states = ready.take_read_states();
        let persisted = ready.take_persisted_messages();
        let mut light = node.advance(ready);
        if let Some(commit) = light.commit_index() {
            storage.set_commit(commit);
        }
        let light_messages = light.take_messages();
        let light_committed = light.take_committed_entries();
        // Sending before persisting would be a bug in a real member; here the
        // "disk" writes above are synchronous, so every order is safe.
        self.send_raft(ctx, messages);
        self.send_raft(ctx, persisted);
        self.send_raft(ctx, light_messages);
        for rs in read_states {
            if let Some(key) = self.read_key(&rs.request_ctx) {
                if let Some(read) = self.reads.get_mut(&key) {
                    read.read_index = Some(rs.index);
                }
            }
        }
        if let Some(snapshot) = snapshot {
            // A snapshot from the leader replaces the state machine.
            self.restore(&snapshot.data);
            ctx.record(format!("installed snapshot at index {}", snapshot.get_metadata().index));
        }
        self.apply(ctx, committed);
        self.apply(ctx, light_committed);
        if let Some(node) = self.node.as_mut() {
            node.advance_apply();
        }
        self.maybe_snapshot(ctx);
        self.notify_watchers(ctx);
        self.serve_ready_reads(ctx);
        self.follow_leadership(ctx);
        self.finish_transfers(ctx);
        self.fail_reads_on_leader_change(ctx);
        if self.removed {
            self.node = None;
        }
    }

    /// Promotes or demotes the lessor when leadership changes (etcd extends
    /// leases by the election timeout on promotion).
    fn follow_leadership(&mut self, ctx: &mut Context<'_>) {
        let leading = self.node.as_ref().is_some_and(|n| n.raft.state == StateRole::Leader);
        if leading && !self.lessor.is_primary() {
            self.lessor.promote(ctx.now_ms(), ELECTION_TICKS as u64 * TICK_MS);
            if self.cluster_version.is_none() {
                self.propose_internal(Request::ClusterVersionSet { version: CLUSTER_VERSION.into() });
            }
        } else if !leading && self.lessor.is_primary() {
            self.lessor.demote();
        }
    }

    /// Forgets everything that does not survive a kill: all but the disk and
    /// the boot counter. The state machine goes back to the initial membership
    /// with an empty store, to be rebuilt from the disk on start.
    fn drop_volatile_state(&mut self) {
        self.node = None;
        self.store = Store::new();
        self.lessor = Lessor::default();
        self.members = self.initial.iter().map(|m| (m.id, m.clone())).collect();
        self.cluster_version = None;
        self.waiters.clear();
        self.reads.clear();
        self.watchers.clear();
        self.forwarded.clear();
        self.transfers.clear();
        self.removed = false;
        self.known_leader = 0;
        self.ready_scheduled = false;
        self.held.clear();
        self.last_publish_ms = None;
        self.next_seq = 0;
    }

    /// Runs the Ready loop once at the end of this instant, for everything
    /// that arrives until then.
    fn schedule_ready(&mut self, ctx: &mut Context<'_>) {
        if !self.ready_scheduled {
            self.ready_scheduled = true;
            ctx.defer(TIMER_READY);
        }
    }

    /// Reads still waiting for a read index fail when the leader changes, as
    /// etcd's linearizable read loop fails them.
    fn fail_reads_on_leader_change(&mut self, ctx: &mut Context<'_>) {
        let leader = self.leader().unwrap_or(0);
        if leader == self.known_leader {
            return;
        }
        let changed = self.known_leader != 0;
        self.known_leader = leader;
        if !changed {
            return;
        }
        let waiting: Vec<u64> = self.reads.iter().filter(|(_, r)| r.read_index.is_none()).map(|(k, _)| *k).collect();
        for key in waiting {
            let read = self.reads.remove(&key).expect("listed above");
            self.reply(ctx, &read.waiter, Err(ERR_LEADER_CHANGED.into()));
        }
    }

    /// Leader: proposes a revoke for every lease past its deadline.
    fn revoke_expired(&mut self, ctx: &mut Context<'_>) {
        for id in self.lessor.expired(ctx.now_ms()) {
            // A dropped proposal (during a leader transfer, say) is retried later.
            if self.propose_internal(Request::LeaseRevoke { id }) {
                self.lessor.revoke_proposed(id, ctx.now_ms());
            }
        }
    }

    fn apply(&mut self, ctx: &mut Context<'_>, entries: Vec<Entry>) {
        for entry in entries {
            match entry.get_entry_type() {
                EntryType::EntryNormal if !entry.data.is_empty() => {
                    let Ok(proposal) = bincode::deserialize::<Proposal>(&entry.data) else {
                        continue;
                    };
                    if matches!(proposal.request, Request::Compact { .. }) {
                        // Watchers get every event before history is compacted,
                        // as etcd notifies them after each write.
                        self.notify_watchers(ctx);
                    }
                    let result = self.apply_request(&proposal.request, ctx.now_ms());
                    if let Some(waiter) = self.waiters.remove(&proposal.id) {
                        self.reply(ctx, &waiter, result);
                    }
                }
                EntryType::EntryConfChange => self.apply_conf_change(ctx, &entry),
                _ => {}
            }
        }
    }

    fn apply_request(&mut self, request: &Request, now_ms: u64) -> Result<Reply, String> {
        match request {
            Request::Put { key, value, lease, prev_kv } => {
                if *lease != 0 && self.lessor.get(*lease).is_none() {
                    return Err(ERR_LEASE_NOT_FOUND.into());
                }
                let mut txn = self.store.write();
                let prev = if *prev_kv { txn.get(key).cloned() } else { None };
                let old_lease = txn.put(key, value.clone(), *lease);
                txn.commit();
                self.lessor.attach(key, old_lease, *lease);
                Ok(Reply::Put { prev_kv: prev })
            }
            Request::DeleteRange { range } => {
                let mut txn = self.store.write();
                let prev_kvs = txn.delete_range(range);
                txn.commit();
                for kv in &prev_kvs {
                    self.lessor.attach(&kv.key, kv.lease, 0);
                }
                Ok(Reply::DeleteRange { prev_kvs })
            }
            Request::LeaseGrant { ttl_secs, id } => {
                let ttl_secs = self.lessor.grant(*id, *ttl_secs, now_ms).map_err(String::from)?;
                Ok(Reply::LeaseGrant { id: *id, ttl_secs })
            }
            Request::LeaseRevoke { id } => {
                let keys = self.lessor.revoke(*id).map_err(String::from)?;
                let mut txn = self.store.write();
                for key in &keys {
                    txn.delete_range(&KeyRange::single(key));
                }
                txn.commit();
                Ok(Reply::LeaseRevoke)
            }
            Request::Compact { revision } => {
                self.store.compact(*revision).map(|_| Reply::Compact).map_err(String::from)
            }
            Request::Txn(txn) => self.apply_txn(txn),
            Request::MemberUpdate { id, peer_urls } => match self.members.get_mut(id) {
                Some(m) => {
                    m.peer_urls = peer_urls.clone();
                    Ok(Reply::MemberList(self.members()))
                }
                None => Err(ERR_MEMBER_NOT_FOUND.into()),
            },
            Request::ClusterVersionSet { version } => {
                self.cluster_version = Some(version.clone());
                Ok(Reply::MemberList(Vec::new()))
            }
            Request::MemberPublish { id, name, client_urls } => match self.members.get_mut(id) {
                Some(m) => {
                    m.name = name.clone();
                    m.client_urls = client_urls.clone();
                    Ok(Reply::MemberList(self.members()))
                }
                None => Err(ERR_MEMBER_NOT_FOUND.into()),
            },
            Request::Range { .. }
            | Request::Status
            | Request::MemberList
            | Request::Watch { .. }
            | Request::WatchCancel { .. }
            | Request::LeaseKeepAlive { .. }
            | Request::LeaseTimeToLive { .. }
            | Request::LeaseLeases
            | Request::MemberAdd { .. }
            | Request::MemberRemove { .. }
            | Request::MemberPromote { .. }
            | Request::MoveLeader { .. }
            | Request::Snapshot
            | Request::Cancel { .. }
            | Request::Defragment
            | Request::AlarmList => unreachable!("only writes go through the log"),
        }
    }

    fn apply_txn(&mut self, txn: &Txn) -> Result<Reply, String> {
        let mut attachments = Vec::new();
        let mut write = self.store.write();
        let succeeded = txn.compare.iter().all(|c| compare(write.get(&c.key), c));
        let ops = if succeeded { &txn.success } else { &txn.failure };
        // etcd's checkRequests (server/etcdserver/apply.go): a put on the
        // branch taken must name a lease that exists; nothing is written yet.
        if ops
            .iter()
            .any(|op| matches!(op, TxnOp::Put { lease, .. } if *lease != 0 && self.lessor.get(*lease).is_none()))
        {
            return Err(ERR_LEASE_NOT_FOUND.into());
        }
        let responses = ops
            .iter()
            .map(|op| match op {
                TxnOp::Range { range, limit } => Reply::Range(write.range(range, *limit)),
                TxnOp::Put { key, value, lease } => {
                    let old_lease = write.put(key, value.clone(), *lease);
                    attachments.push((key.clone(), old_lease, *lease));
                    Reply::Put { prev_kv: None }
                }
                TxnOp::DeleteRange { range } => {
                    let prev_kvs = write.delete_range(range);
                    attachments.extend(prev_kvs.iter().map(|kv| (kv.key.clone(), kv.lease, 0)));
                    Reply::DeleteRange { prev_kvs }
                }
            })
            .collect();
        write.commit();
        for (key, old, new) in attachments {
            self.lessor.attach(&key, old, new);
        }
        Ok(Reply::Txn { succeeded, responses })
    }

    /// Sends each watcher the events it has not seen yet.
    fn notify_watchers(&mut self, ctx: &mut Context<'_>) {
        let revision = self.store.revision();
        let mut canceled = Vec::new();
        let mut sends = Vec::new();
        for (id, watcher) in self.watchers.iter_mut() {
            if watcher.next_revision > revision {
                continue;
            }
            match self.store.events_since(&watcher.range, watcher.next_revision) {
                Ok(mut events) => {
                    watcher.next_revision = revision + 1;
                    if events.is_empty() {
                        continue;
                    }
                    if !watcher.prev_kv {
                        events.iter_mut().for_each(|e| e.prev_kv = None);
                    }
                    watcher.sent += 1;
                    let seq = watcher.sent;
                    sends.push((watcher.clone(), WatchResponse { watch_id: *id, events, seq, ..Default::default() }));
                }
                Err(_) => {
                    watcher.sent += 1;
                    let response = WatchResponse {
                        watch_id: *id,
                        seq: watcher.sent,
                        canceled: true,
                        compact_revision: self.store.compacted(),
                        cancel_reason: ERR_COMPACTED.into(),
                        ..Default::default()
                    };
                    sends.push((watcher.clone(), response));
                    canceled.push(*id);
                }
            }
        }
        for id in canceled {
            self.watchers.remove(&id);
        }
        for (watcher, response) in sends {
            let waiter = Waiter { client: watcher.client, request_id: watcher.request_id, deadline_ms: 0 };
            self.reply(ctx, &waiter, Ok(Reply::Watch(response)));
        }
    }

    fn serve_read(&self, request: &Request) -> Result<Reply, String> {
        match request {
            Request::Range { range, revision, limit, .. } => {
                self.store.range(range, *revision, *limit).map(Reply::Range).map_err(String::from)
            }
            _ => unreachable!("only ranges are reads"),
        }
    }

    fn serve_ready_reads(&mut self, ctx: &mut Context<'_>) {
        let applied = self.node.as_ref().map_or(0, |n| n.raft.raft_log.applied);
        let ready: Vec<u64> =
            self.reads.iter().filter(|(_, r)| r.read_index.is_some_and(|i| i <= applied)).map(|(k, _)| *k).collect();
        for key in ready {
            let read = self.reads.remove(&key).expect("listed above");
            let result = self.serve_read(&read.request);
            self.reply(ctx, &read.waiter, result);
        }
    }

    fn status(&self) -> Status {
        let node = self.node.as_ref().expect("status of a running member");
        Status {
            version: ETCD_VERSION.into(),
            db_size: 20_480 + 64 * self.store.key_count() as i64,
            leader: node.raft.leader_id,
            raft_index: node.raft.raft_log.last_index(),
            raft_term: node.raft.term,
            raft_applied_index: node.raft.raft_log.applied,
            is_learner: self.is_learner(),
            errors: Vec::new(),
        }
    }

    fn members(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }

    /// The state machine as a snapshot stores it.
    fn state_machine(&self) -> Vec<u8> {
        let state = StateMachine {
            store: self.store.clone(),
            leases: self.lessor.leases().clone(),
            members: self.members.clone(),
            cluster_version: self.cluster_version.clone(),
        };
        bincode::serialize(&state).expect("state machines serialize")
    }

    /// A member of a new cluster restored from a snapshot blob (`etcdctl
    /// snapshot restore`): its disk starts with that state.
    pub fn restored(me: &str, peers: Vec<Peer>, tuning: Tuning, mut data: Vec<u8>) -> Self {
        // Like etcd's restore, the snapshot stands in for the bootstrap entries
        // (one per member, term 1): the new cluster's log continues after them.
        let bootstrap_entries = peers.len() as u64;
        let member = EtcdMember::new(me, peers, tuning);
        // The new cluster's membership is the one it is restored into, not
        // the one the snapshot was taken from.
        if let Ok(mut state) = bincode::deserialize::<StateMachine>(&data) {
            state.members = member.initial.iter().map(|m| (m.id, m.clone())).collect();
            data = bincode::serialize(&state).expect("state machines serialize");
        }
        let conf_state = member.storage.initial_state().expect("fresh disk").conf_state;
        let mut snapshot = raft::eraftpb::Snapshot::default();
        snapshot.data = data.into();
        snapshot.mut_metadata().index = bootstrap_entries;
        snapshot.mut_metadata().term = 1;
        snapshot.mut_metadata().set_conf_state(conf_state);
        member.storage.apply_snapshot(snapshot);
        member
    }

    /// Summary of a snapshot blob: (revision, total keys, bytes), or `None` if
    /// the blob is not a snapshot.
    pub fn snapshot_summary(data: &[u8]) -> Option<(i64, usize, usize)> {
        let state: StateMachine = bincode::deserialize(data).ok()?;
        Some((state.store.revision(), state.store.version_count(), data.len()))
    }

    /// Replaces the state machine with a snapshot's.
    fn restore(&mut self, data: &[u8]) {
        let state: StateMachine = bincode::deserialize(data).expect("snapshots hold a state machine");
        self.store = state.store;
        // New lease ids must not repeat restored ones (etcd's id generator
        // mixes in time; ours continues after the highest restored counter).
        let counter_mask = (1i64 << 40) - 1;
        self.next_lease = state.leases.keys().map(|id| id & counter_mask).max().unwrap_or(0).max(self.next_lease);
        self.lessor.restore(state.leases);
        self.members = state.members;
        self.cluster_version = state.cluster_version;
    }

    /// Takes a snapshot every `snapshot_count` applied entries, and compacts the
    /// log, keeping `catch_up_entries` for slightly lagging followers (etcd's
    /// --snapshot-count and SnapshotCatchUpEntries).
    fn maybe_snapshot(&mut self, ctx: &mut Context<'_>) {
        let Some(node) = self.node.as_ref() else { return };
        let applied = node.raft.raft_log.applied;
        if applied < self.storage.last_snapshot_index().saturating_add(self.tuning.snapshot_count) {
            return;
        }
        let conf_state = node.raft.prs().conf().to_conf_state();
        let compact_to = applied.saturating_sub(self.tuning.snapshot_catch_up_entries).max(1);
        self.storage.snapshot_and_compact(applied, self.state_machine(), conf_state, compact_to);
        ctx.record(format!("saved snapshot at index {applied}"));
    }

    /// Proposes a membership change; the answer comes when it is applied.
    fn propose_conf_change(&mut self, ctx: &mut Context<'_>, waiter: Waiter, kind: ConfChangeType, member: Member) {
        let proposal = self.next_proposal_id();
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = member.id;
        let context = bincode::serialize(&ConfContext { proposal, member }).expect("contexts serialize");
        self.waiters.insert(proposal, waiter);
        ctx.set_timer(REQUEST_TIMEOUT_MS, TIMER_EXPIRE);
        self.propose_or_hold(Held { id: proposal, proposal: HeldProposal::ConfChange(context, cc) });
    }

    /// Proposes, or holds the proposal until a leader is known. etcd's raft
    /// node only takes proposals while there is a leader, so a request to a
    /// member without one waits; if its client gives up first (the request
    /// timeout), the proposal is abandoned, never proposed.
    fn propose_or_hold(&mut self, held: Held) {
        let Some(node) = self.node.as_mut() else { return };
        if node.raft.leader_id == 0 {
            self.held.push(held);
            return;
        }
        let accepted = match &held.proposal {
            HeldProposal::Entry(data) => node.propose(vec![], data.clone()).is_ok(),
            HeldProposal::ConfChange(context, cc) => node.propose_conf_change(context.clone(), cc.clone()).is_ok(),
        };
        if !accepted {
            // Dropped anyway (a leader transfer in progress): try again later.
            self.held.push(held);
        }
    }

    /// Proposes what was held back, once a leader is known; drops what its
    /// client no longer waits for.
    fn release_held(&mut self) {
        let waiting = &self.waiters;
        self.held.retain(|h| waiting.contains_key(&h.id));
        if self.held.is_empty() || self.leader().unwrap_or(0) == 0 {
            return;
        }
        for held in std::mem::take(&mut self.held) {
            self.propose_or_hold(held);
        }
    }

    fn apply_conf_change(&mut self, ctx: &mut Context<'_>, entry: &Entry) {
        use protobuf::Message as _;
        let mut cc = ConfChange::default();
        if cc.merge_from_bytes(&entry.data).is_err() {
            return;
        }
        // The bootstrap entries carry no context: their members are in the
        // initial configuration already.
        let Ok(context) = bincode::deserialize::<ConfContext>(&entry.context) else { return };
        let node = self.node.as_mut().expect("applying while running");
        match node.apply_conf_change(&cc) {
            Ok(cs) => self.storage.set_conf_state(cs),
            Err(_) => return,
        }
        let id = cc.node_id;
        let existed = self.members.contains_key(&id);
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let learner = cc.get_change_type() == ConfChangeType::AddLearnerNode;
                let member = self.members.entry(id).or_insert(context.member.clone());
                member.is_learner = learner;
            }
            ConfChangeType::RemoveNode => {
                self.members.remove(&id);
                if id == self.me.id {
                    self.removed = true;
                    ctx.record("removed from the cluster; shutting down");
                }
            }
        }
        if let Some(waiter) = self.waiters.remove(&context.proposal) {
            let result = match cc.get_change_type() {
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode if existed => {
                    Ok(Reply::MemberList(self.members()))
                }
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    Ok(Reply::MemberAdd { member: self.members[&id].clone(), members: self.members() })
                }
                ConfChangeType::RemoveNode => Ok(Reply::MemberList(self.members())),
            };
            self.reply(ctx, &waiter, result);
        }
    }

    /// A member added by `member add` announces its name once it runs and
    /// knows a leader (etcd's publish), retrying every second until applied.
    fn publish_if_needed(&mut self, ctx: &mut Context<'_>) {
        let published = self.members.get(&self.me.id).is_some_and(|m| !m.name.is_empty());
        let recent = self.last_publish_ms.is_some_and(|t| ctx.now_ms() < t + 1_000);
        if published || recent || self.leader().unwrap_or(0) == 0 {
            return;
        }
        self.last_publish_ms = Some(ctx.now_ms());
        let n = match self.me.component {
            ComponentId::Etcd(n) => usize::from(n),
            _ => unreachable!("etcd members are etcd components"),
        };
        self.propose_internal(Request::MemberPublish {
            id: self.me.id,
            name: self.me.name.clone(),
            client_urls: vec![client_url(n)],
        });
    }

    /// The id of this member's next proposal: unique across members and restarts.
    fn next_proposal_id(&mut self) -> (u64, u64, u64) {
        self.next_seq += 1;
        (self.me.id, self.boots, self.next_seq - 1)
    }

    /// Proposes a request of the member's own (no client waits for it).
    /// Returns whether raft took it.
    fn propose_internal(&mut self, request: Request) -> bool {
        let proposal = Proposal { id: self.next_proposal_id(), request };
        let data = bincode::serialize(&proposal).expect("proposals serialize");
        self.node.as_mut().is_some_and(|node| node.propose(vec![], data).is_ok())
    }

    /// Answers leadership transfers that completed.
    fn finish_transfers(&mut self, ctx: &mut Context<'_>) {
        let leader = self.leader().unwrap_or(0);
        let (done, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.transfers).into_iter().partition(|(t, _)| *t == leader);
        self.transfers = waiting;
        for (_, waiter) in done {
            self.reply(ctx, &waiter, Ok(Reply::MoveLeader));
        }
    }

    /// Checks a membership request before proposing it, as etcd's server does.
    fn check_membership(&self, request: &Request) -> Result<(), String> {
        let known = |id: &u64| self.members.contains_key(id);
        match request {
            Request::MemberAdd { name, peer_urls, is_learner } => {
                if self.members.values().any(|m| m.peer_urls.iter().any(|u| peer_urls.contains(u))) {
                    return Err(ERR_PEER_URL_EXISTS.into());
                }
                if *is_learner && self.members.values().any(|m| m.is_learner) {
                    return Err(ERR_TOO_MANY_LEARNERS.into());
                }
                if known(&member_id(name)) {
                    return Err("etcdserver: member ID already exist".into());
                }
                Ok(())
            }
            Request::MemberRemove { id } | Request::MemberUpdate { id, .. } if !known(id) => {
                Err(ERR_MEMBER_NOT_FOUND.into())
            }
            Request::MemberUpdate { id, peer_urls } => {
                let taken =
                    self.members.values().any(|m| m.id != *id && m.peer_urls.iter().any(|u| peer_urls.contains(u)));
                if taken {
                    Err(ERR_PEER_URL_EXISTS.into())
                } else {
                    Ok(())
                }
            }
            Request::MemberPromote { id } => match self.members.get(id) {
                None => Err(ERR_MEMBER_NOT_FOUND.into()),
                Some(m) if !m.is_learner => Err(ERR_NOT_LEARNER.into()),
                Some(_) => {
                    // etcd promotes a learner whose log is at least 90% of the leader's.
                    let node = self.node.as_ref().expect("running");
                    let matched = node.raft.prs().get(*id).map_or(0, |p| p.matched);
                    if node.raft.state != StateRole::Leader {
                        Err(ERR_NOT_LEADER.into())
                    } else if (matched as f64) < 0.9 * node.raft.raft_log.last_index() as f64 {
                        Err(ERR_LEARNER_NOT_READY.into())
                    } else {
                        Ok(())
                    }
                }
            },
            _ => Ok(()),
        }
    }

    fn handle_request(&mut self, ctx: &mut Context<'_>, from: ComponentId, request_id: u64, request: Request) {
        let waiter = Waiter { client: from, request_id, deadline_ms: ctx.now_ms() + REQUEST_TIMEOUT_MS };
        if self.node.is_none() {
            return; // removed: the process is gone, like a connection refused
        }
        let learner_may = matches!(
            request,
            Request::Status
                | Request::MemberList
                | Request::Range { serializable: true, .. }
                | Request::Snapshot
                | Request::Cancel { .. }
        );
        if self.is_learner() && !learner_may {
            self.reply(ctx, &waiter, Err(ERR_LEARNER_RPC.into()));
            return;
        }
        if let Err(e) = self.check_membership(&request) {
            self.reply(ctx, &waiter, Err(e));
            return;
        }
        match &request {
            Request::Cancel { request_id } => {
                let client = waiter.client;
                self.waiters.retain(|_, w| !(w.client == client && w.request_id == *request_id));
                self.reads.retain(|_, r| !(r.waiter.client == client && r.waiter.request_id == *request_id));
                let waiting = &self.waiters;
                self.held.retain(|h| waiting.contains_key(&h.id));
                return;
            }
            Request::Snapshot => {
                self.reply(ctx, &waiter, Ok(Reply::Snapshot { data: self.state_machine() }));
                return;
            }
            Request::Defragment => {
                self.reply(ctx, &waiter, Ok(Reply::Defragment));
                return;
            }
            Request::AlarmList => {
                self.reply(ctx, &waiter, Ok(Reply::AlarmList(Vec::new())));
                return;
            }
            Request::MemberAdd { name, peer_urls, is_learner } => {
                let member = Member {
                    id: member_id(name),
                    name: String::new(),
                    peer_urls: peer_urls.clone(),
                    client_urls: Vec::new(),
                    is_learner: *is_learner,
                };
                let kind = if *is_learner { ConfChangeType::AddLearnerNode } else { ConfChangeType::AddNode };
                self.propose_conf_change(ctx, waiter, kind, member);
                self.schedule_ready(ctx);
                return;
            }
            Request::MemberRemove { id } | Request::MemberPromote { id } => {
                let member = self.members[id].clone();
                let kind = if matches!(request, Request::MemberRemove { .. }) {
                    ConfChangeType::RemoveNode
                } else {
                    ConfChangeType::AddNode
                };
                self.propose_conf_change(ctx, waiter, kind, member);
                self.schedule_ready(ctx);
                return;
            }
            Request::MoveLeader { target } => {
                let node = self.node.as_mut().expect("running");
                if node.raft.state != StateRole::Leader {
                    self.reply(ctx, &waiter, Err(ERR_NOT_LEADER.into()));
                } else if !self.members.contains_key(target) {
                    self.reply(ctx, &waiter, Err("etcdserver: bad leader transferee".into()));
                } else {
                    node.transfer_leader(*target);
                    self.transfers.push((*target, waiter));
                    ctx.set_timer(REQUEST_TIMEOUT_MS, TIMER_EXPIRE);
                    self.schedule_ready(ctx);
                }
                return;
            }
            Request::Status => self.reply(ctx, &waiter, Ok(Reply::Status(self.status()))),
            Request::MemberList => self.reply(ctx, &waiter, Ok(Reply::MemberList(self.members()))),
            Request::Watch { range, start_revision, prev_kv, progress_notify } => {
                let watch_id = self.next_watch;
                self.next_watch += 1;
                let created = WatchResponse { watch_id, created: true, ..Default::default() };
                self.reply(ctx, &waiter, Ok(Reply::Watch(created)));
                let next_revision = if *start_revision > 0 { *start_revision } else { self.store.revision() + 1 };
                let watcher = Watcher {
                    client: waiter.client.clone(),
                    request_id,
                    range: range.clone(),
                    prev_kv: *prev_kv,
                    progress_notify: *progress_notify,
                    next_revision,
                    sent: 0,
                };
                self.watchers.insert(watch_id, watcher);
                // Catch up on history at once (or cancel if it is compacted).
                self.notify_watchers(ctx);
                return;
            }
            Request::WatchCancel { watch_id } => {
                if self.watchers.remove(watch_id).is_some() {
                    let canceled = WatchResponse { watch_id: *watch_id, canceled: true, ..Default::default() };
                    self.reply(ctx, &waiter, Ok(Reply::Watch(canceled)));
                }
                return;
            }
            Request::LeaseLeases => {
                let ids = self.lessor.leases().keys().copied().collect();
                self.reply(ctx, &waiter, Ok(Reply::LeaseLeases(ids)));
                return;
            }
            Request::LeaseKeepAlive { id } | Request::LeaseTimeToLive { id, .. } => {
                let id = *id;
                if self.lessor.is_primary() {
                    let now = ctx.now_ms();
                    let result = match &request {
                        Request::LeaseKeepAlive { .. } => match self.lessor.renew(id, now) {
                            Some(ttl_secs) => Ok(Reply::LeaseKeepAlive { id, ttl_secs }),
                            None => Err(ERR_LEASE_NOT_FOUND.to_string()),
                        },
                        Request::LeaseTimeToLive { keys, .. } => Ok(match self.lessor.get(id) {
                            Some(lease) => Reply::LeaseTimeToLive {
                                id,
                                ttl_secs: self.lessor.remaining_secs(id, now).unwrap_or(0),
                                granted_ttl_secs: lease.ttl_secs,
                                keys: if *keys { lease.keys.iter().cloned().collect() } else { Vec::new() },
                            },
                            None => Reply::LeaseTimeToLive { id, ttl_secs: -1, granted_ttl_secs: 0, keys: Vec::new() },
                        }),
                        _ => unreachable!("matched above"),
                    };
                    self.reply(ctx, &waiter, result);
                } else if let Some(leader) = self.leader().and_then(|l| self.component_of(l)) {
                    let forward_id = self.next_forward;
                    self.next_forward += 1;
                    self.forwarded.insert(forward_id, waiter);
                    ctx.send(leader, Payload::EtcdRequest { request_id: forward_id, request });
                } else {
                    self.reply(ctx, &waiter, Err(ERR_NO_LEADER.into()));
                }
                return;
            }
            Request::LeaseGrant { ttl_secs, .. } if *ttl_secs > crate::etcd::lease::MAX_TTL_SECS => {
                self.reply(ctx, &waiter, Err(crate::etcd::lease::ERR_LEASE_TTL_TOO_LARGE.into()));
                return;
            }
            Request::Txn(txn) if has_duplicate_write(txn) => {
                self.reply(ctx, &waiter, Err(ERR_DUPLICATE_KEY.into()));
                return;
            }
            Request::Range { serializable: true, .. } => {
                let result = self.serve_read(&request);
                self.reply(ctx, &waiter, result);
            }
            Request::Range { .. } => {
                let key = self.next_read;
                self.next_read += 1;
                self.reads.insert(key, PendingRead { waiter, request, read_index: None, issued_ms: ctx.now_ms() });
                let context = self.read_context(key);
                if let Some(node) = self.node.as_mut() {
                    node.read_index(context);
                }
                ctx.set_timer(REQUEST_TIMEOUT_MS, TIMER_EXPIRE);
            }
            _ => {
                let id = self.next_proposal_id();
                let request = match request {
                    // Like etcd, the member that takes the request picks the id:
                    // its member id's low bits, its boot and a counter.
                    Request::LeaseGrant { ttl_secs, id: 0 } => {
                        self.next_lease += 1;
                        let lease =
                            ((self.me.id & 0x7fff) << 48) as i64 | ((self.boots & 0xff) << 40) as i64 | self.next_lease;
                        Request::LeaseGrant { ttl_secs, id: lease }
                    }
                    other => other,
                };
                let data = bincode::serialize(&Proposal { id, request }).expect("proposals serialize");
                self.waiters.insert(id, waiter);
                ctx.set_timer(REQUEST_TIMEOUT_MS, TIMER_EXPIRE);
                self.propose_or_hold(Held { id, proposal: HeldProposal::Entry(data) });
            }
        }
        self.reseed_election_timeout(ctx);
        self.schedule_ready(ctx);
    }

    /// Fails requests that have waited longer than etcd's request timeout.
    fn expire(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let (late, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.transfers).into_iter().partition(|(_, w)| w.deadline_ms <= now);
        self.transfers = waiting;
        for (_, waiter) in late {
            self.reply(ctx, &waiter, Err("etcdserver: request timed out, leader transfer took too long".into()));
        }
        let expired: Vec<_> = self.waiters.iter().filter(|(_, w)| w.deadline_ms <= now).map(|(k, _)| *k).collect();
        for key in expired {
            let waiter = self.waiters.remove(&key).expect("listed above");
            self.reply(ctx, &waiter, Err(ERR_TIMEOUT.into()));
        }
        let expired: Vec<_> = self.reads.iter().filter(|(_, r)| r.waiter.deadline_ms <= now).map(|(k, _)| *k).collect();
        for key in expired {
            let read = self.reads.remove(&key).expect("listed above");
            self.reply(ctx, &read.waiter, Err(ERR_TIMEOUT.into()));
        }
    }
}

impl Component for EtcdMember {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Etcd
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        self.boots += 1;
        // Rebuild volatile state from disk: the store is replayed from the log.
        let config = Config {
            id: self.me.id,
            election_tick: ELECTION_TICKS,
            heartbeat_tick: HEARTBEAT_TICKS,
            pre_vote: true,
            check_quorum: true,
            applied: self.storage.last_snapshot_index(),
            max_size_per_msg: MAX_SIZE_PER_MSG,
            max_inflight_msgs: MAX_INFLIGHT_MSGS,
            ..Default::default()
        };
        self.drop_volatile_state();
        let snapshot = self.storage.latest_snapshot();
        if !snapshot.data.is_empty() {
            self.restore(&snapshot.data);
        }
        self.node = Some(RawNode::new(&config, self.storage.clone(), &self.logger).expect("valid raft config"));
        self.reseed_election_timeout(ctx);
        ctx.set_timer(TICK_MS, TIMER_TICK);
        ctx.set_timer(WATCH_PROGRESS_NOTIFY_MS, TIMER_PROGRESS);
        ctx.record(format!("started (boot {})", self.boots));
        self.handle_ready(ctx);
    }

    fn stop(&mut self) {
        self.drop_volatile_state();
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        match envelope.payload {
            Payload::Raft(message) => {
                // etcd's transport only talks to members of its cluster.
                if !self.members.contains_key(&message.from) {
                    return;
                }
                let before = self.raft_state();
                if let Some(node) = self.node.as_mut() {
                    // Messages from unknown peers or stale terms are dropped by raft.
                    let _ = node.step(*message);
                }
                self.reseed_election_timeout(ctx);
                self.record_role_change(ctx, before);
                self.schedule_ready(ctx);
            }
            Payload::EtcdRequest { request_id, request } => {
                self.handle_request(ctx, envelope.from, request_id, request);
            }
            Payload::EtcdResponse { request_id, response } => {
                if let Some(waiter) = self.forwarded.remove(&request_id) {
                    self.reply(ctx, &waiter, response.result);
                }
            }
            _ => {}
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        match token {
            TIMER_TICK => {
                let before = self.raft_state();
                if let Some(node) = self.node.as_mut() {
                    node.tick();
                }
                self.revoke_expired(ctx);
                self.release_held();
                self.retry_reads(ctx);
                self.publish_if_needed(ctx);
                self.reseed_election_timeout(ctx);
                self.handle_ready(ctx);
                self.record_role_change(ctx, before);
                ctx.set_timer(TICK_MS, TIMER_TICK);
            }
            TIMER_READY => {
                self.ready_scheduled = false;
                let before = self.raft_state();
                self.handle_ready(ctx);
                self.record_role_change(ctx, before);
            }
            TIMER_EXPIRE => self.expire(ctx),
            TIMER_PROGRESS => {
                let mut progress = Vec::new();
                for (id, w) in self.watchers.iter_mut().filter(|(_, w)| w.progress_notify) {
                    w.sent += 1;
                    progress.push((*id, w.sent, w.clone()));
                }
                for (watch_id, seq, watcher) in progress {
                    let waiter = Waiter { client: watcher.client, request_id: watcher.request_id, deadline_ms: 0 };
                    self.reply(ctx, &waiter, Ok(Reply::Watch(WatchResponse { watch_id, seq, ..Default::default() })));
                }
                ctx.set_timer(WATCH_PROGRESS_NOTIFY_MS, TIMER_PROGRESS);
            }
            _ => {}
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        let Some((role, term, commit, applied)) = self.raft_state() else {
            return vec![("role".into(), if self.removed { "removed" } else { "stopped" }.into())];
        };
        let leader = self.node.as_ref().map_or(0, |n| n.raft.leader_id);
        let leader_name = match self.component_of(leader) {
            Some(component) => component.to_string(),
            None => "none".to_string(),
        };
        let role = if self.is_learner() { "learner" } else { role_name(role) };
        vec![
            ("role".into(), role.into()),
            ("term".into(), term.to_string()),
            ("leader".into(), leader_name),
            ("commit".into(), commit.to_string()),
            ("applied".into(), applied.to_string()),
            ("revision".into(), self.store.revision().to_string()),
        ]
    }
}

impl EtcdMember {
    fn record_role_change(&self, ctx: &mut Context<'_>, before: Option<(StateRole, u64, u64, u64)>) {
        if let (Some((was, was_term, ..)), Some((now, term, ..))) = (before, self.raft_state()) {
            if was != now || (now == StateRole::Leader && was_term != term) {
                ctx.record(format!("became {} at term {term}", role_name(now)));
            }
        }
    }
}

/// Evaluates one txn comparison against a key's current value, as etcd's
/// applier does: a missing key compares as zeros, except that a value
/// comparison on a missing key always fails.
fn compare(kv: Option<&KeyValue>, c: &Compare) -> bool {
    use std::cmp::Ordering;
    let ordering = match (&c.target, kv) {
        (CompareTarget::Value(_), None) => return false,
        (CompareTarget::Value(v), Some(kv)) => kv.value.as_slice().cmp(v.as_slice()),
        (CompareTarget::Version(n), kv) => kv.map_or(0, |kv| kv.version).cmp(n),
        (CompareTarget::Create(n), kv) => kv.map_or(0, |kv| kv.create_revision).cmp(n),
        (CompareTarget::Mod(n), kv) => kv.map_or(0, |kv| kv.mod_revision).cmp(n),
        (CompareTarget::Lease(n), kv) => kv.map_or(0, |kv| kv.lease).cmp(n),
    };
    match c.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
        CompareResult::NotEqual => ordering != Ordering::Equal,
    }
}

/// Whether a txn branch puts one key twice (etcd rejects it before proposing).
fn has_duplicate_write(txn: &Txn) -> bool {
    [&txn.success, &txn.failure].iter().any(|ops| {
        let mut keys = std::collections::BTreeSet::new();
        ops.iter().any(|op| matches!(op, TxnOp::Put { key, .. } if !keys.insert(key.clone())))
    })
}

/// etcd's word for a raft role.
pub fn role_name(role: StateRole) -> &'static str {
    match role {
        StateRole::Follower => "follower",
        StateRole::Candidate => "candidate",
        StateRole::Leader => "leader",
        StateRole::PreCandidate => "pre-candidate",
    }
}
