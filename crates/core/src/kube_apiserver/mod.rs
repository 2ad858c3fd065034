//! kube-apiserver: the only component that talks to etcd.
//!
//! Every request is parsed into a [`RequestInfo`], authenticated from the
//! sender (each component has its identity, like its client certificate),
//! authorized with RBAC, and served through the replicated etcd the way the
//! real etcd3 store does it (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go):
//! - get and list are quorum reads (`Range`);
//! - create is a `Txn` that puts the key only if its create revision is 0;
//! - update, patch and delete read the object, compute the new state, and
//!   `Txn` it in only if the mod revision is unchanged; on a lost race the
//!   failure branch returns the current object and the update is computed
//!   again (`GuaranteedUpdate`);
//! - `metadata.resourceVersion` is the etcd mod revision.
//!
//! Events are written attached to an etcd lease ([`lease_manager`]), so etcd
//! deletes them an hour after their last write (`--event-ttl`).
//!
//! Watches are served from the [`watch_cache`], which mirrors `/registry/`
//! through one etcd watch. The etcd client fails over between the
//! `--etcd-servers` endpoints when one stops answering.

pub mod admission;
pub mod defaults;
pub mod lease_manager;
pub mod patch;
pub mod proxy;
pub mod rbac;
pub mod registry;
pub mod typed;
pub mod validation;
pub mod watch_cache;
pub mod watch_index;

use crate::apimachinery::errors::StatusError;
use crate::apimachinery::labels::{selectable_fields, FieldSelector, Selector};
use crate::apimachinery::request::{RequestInfo, Verb};
use crate::apimachinery::resources::Resource;
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::etcd::api::{Compare, CompareResult, CompareTarget, Reply, Request, Response, Txn, TxnOp};
use crate::etcd::mvcc::{KeyRange, KeyValue};
use crate::message::{ApiRequest, ApiResponse, Payload};
use kscope_protocol::ComponentKind;
use lease_manager::{LeaseChoice, LeaseManager, EVENT_TTL_SECS};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use watch_cache::{CacheEvent, WatchCache};
use watch_index::WatchIndex;

/// Path prefix of node Leases (namespace `kube-node-lease`).
pub const NODE_LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
/// Path of the nodes collection.
pub const NODES_PATH: &str = "/api/v1/nodes";

/// How long the apiserver waits for one etcd answer before trying the next
/// endpoint (longer than etcd's own request timeout of 7 s, so etcd's
/// "request timed out" arrives first when the member is alive).
pub const ETCD_ATTEMPT_MS: u64 = 8_000;
/// How long a request may take in all (`--request-timeout`, 60 s).
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;
/// How often the apiserver checks its etcd endpoint (the `/healthz` etcd check
/// reads the key `health`).
pub const HEALTH_INTERVAL_MS: u64 = 5_000;
/// How often watchers that allow bookmarks get one.
pub const BOOKMARK_INTERVAL_MS: u64 = 60_000;
/// How many times an update is recomputed after losing a race.
const MAX_UPDATE_RETRIES: u32 = 10;
/// Most requests held while the apiserver is not ready.
const MAX_WAITING: usize = 10_000;

const TIMER_HEALTH: u64 = 1;
const TIMER_BOOKMARK: u64 = 2;
const TIMER_BOOTSTRAP: u64 = 3;
const TIMER_ETCD: u64 = 1 << 62;

/// Who is making a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// User name (`system:node:node-1`).
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// The identity of each sender, like the client certificates kubeadm issues:
/// the admin is `kubernetes-admin` in `system:masters`; `--as` impersonates.
pub fn authenticate(from: &ComponentId, impersonate: Option<&str>) -> UserInfo {
    authenticate_as(from, impersonate, &[])
}

/// [`authenticate`] with `--as-group` groups for an impersonated user.
pub fn authenticate_as(from: &ComponentId, impersonate: Option<&str>, groups: &[String]) -> UserInfo {
    let authed = |name: &str, groups: &[&str]| UserInfo {
        name: name.to_string(),
        groups: groups.iter().map(|g| g.to_string()).chain(["system:authenticated".to_string()]).collect(),
    };
    if let (ComponentId::Client(_), Some(user)) = (from, impersonate) {
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        return authed(user, &groups);
    }
    match from {
        ComponentId::ApiServer => authed("system:apiserver", &["system:masters"]),
        ComponentId::Scheduler => authed("system:kube-scheduler", &[]),
        ComponentId::ControllerManager => authed("system:kube-controller-manager", &[]),
        ComponentId::Kubelet(node) => authed(&format!("system:node:{node}"), &["system:nodes"]),
        // Both run in pods of kubeadm's add-ons, with their ServiceAccount's token.
        ComponentId::KubeProxy(_) => authed(
            "system:serviceaccount:kube-system:kube-proxy",
            &["system:serviceaccounts", "system:serviceaccounts:kube-system"],
        ),
        ComponentId::CoreDns(_) => authed(
            "system:serviceaccount:kube-system:coredns",
            &["system:serviceaccounts", "system:serviceaccounts:kube-system"],
        ),
        // The addon manager's token is in system:masters (cluster/gce/gci/configure-helper.sh).
        ComponentId::AddonManager => authed("system:addon-manager", &["system:masters"]),
        ComponentId::Etcd(_) | ComponentId::Client(_) => authed("kubernetes-admin", &["system:masters"]),
    }
}

/// Why an etcd request was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    Op(u64),
    CacheList,
    CacheWatch,
    Health,
    /// A lease for the writes waiting in `lease_waiters`.
    LeaseGrant,
}

#[derive(Debug)]
struct EtcdCall {
    purpose: Purpose,
    endpoint: usize,
}

/// One request being served.
#[derive(Debug)]
struct Op {
    /// Who asked (`None`: the apiserver itself, e.g. bootstrap objects).
    client: Option<ComponentId>,
    request_id: u64,
    info: RequestInfo,
    body: Option<Value>,
    content_type: Option<String>,
    user: UserInfo,
    deadline_ms: u64,
    retries: u32,
    /// The current object the last write was computed from (its mod revision).
    based_on: Option<i64>,
    /// The uids of the objects this op tried to create (to recognise its own
    /// write when a retry finds the key taken).
    written_uids: Vec<String>,
    /// The transaction in flight, resent as it is when an attempt times out
    /// (recomputing would draw a new uid or generated name).
    last_txn: Option<Txn>,
    /// For the apiserver's own bootstrap creates: the key being created.
    bootstrap_key: Option<String>,
    /// The step of a pod's way to running that this write's commit takes
    /// (see [`crate::flow`]).
    flow_on_commit: Option<u8>,
}

/// A client watch served from the cache.
#[derive(Debug)]
struct Watcher {
    resource: &'static Resource,
    prefix: String,
    labels: Selector,
    fields: FieldSelector,
    bookmarks: bool,
    /// Messages sent on this stream.
    sent: u64,
}

/// The API server component.
#[derive(Debug)]
pub struct KubeApiServer {
    etcd: Vec<ComponentId>,
    endpoint: usize,
    next_etcd_request: u64,
    /// Starts so far (kept across restarts): request ids carry it, so answers
    /// meant for an earlier run are never taken for this one's.
    incarnation: u64,
    /// The cache watch's etcd watch id and member, to cancel it when watching again.
    cache_watch_id: Option<(i64, usize)>,
    /// The etcd revision when the cache last watched again for being behind.
    rewatched_at: i64,
    inflight: BTreeMap<u64, EtcdCall>,
    next_op: u64,
    ops: BTreeMap<u64, Op>,
    /// The write each op has in flight, to answer with once etcd commits it.
    pending_outcomes: BTreeMap<u64, registry::Outcome>,
    cache: WatchCache,
    cache_watch: Option<u64>,
    /// The next stream position expected on the cache's watch.
    cache_watch_seq: u64,
    /// The cache revision when a health check last found etcd ahead of it.
    behind_at: Option<i64>,
    watchers: BTreeMap<(ComponentId, u64), Watcher>,
    /// The same watches by what they can see.
    watch_index: WatchIndex,
    /// Requests waiting for the cache to load and the bootstrap objects to exist.
    waiting: Vec<(ComponentId, ApiRequest, u64)>,
    /// Bootstrap objects being created (their etcd keys).
    bootstrapping: std::collections::BTreeSet<String>,
    /// Every bootstrap object has existed at once (the post-start hooks finished).
    bootstrapped: bool,
    requests_served: u64,
    /// `pods/log` requests waiting for their kubelet.
    kubelets: proxy::KubeletProxy,
    /// The lease Events are attached to.
    leases: LeaseManager,
    /// Ops whose write waits for a lease grant.
    lease_waiters: Vec<u64>,
}

impl KubeApiServer {
    /// An API server using the etcd members `etcd` (its `--etcd-servers`).
    pub fn new(etcd: Vec<ComponentId>) -> Self {
        KubeApiServer {
            etcd,
            endpoint: 0,
            next_etcd_request: 0,
            incarnation: 0,
            cache_watch_id: None,
            rewatched_at: 0,
            inflight: BTreeMap::new(),
            next_op: 0,
            ops: BTreeMap::new(),
            pending_outcomes: BTreeMap::new(),
            cache: WatchCache::default(),
            cache_watch: None,
            cache_watch_seq: 0,
            behind_at: None,
            watchers: BTreeMap::new(),
            watch_index: WatchIndex::default(),
            waiting: Vec::new(),
            bootstrapping: std::collections::BTreeSet::new(),
            bootstrapped: false,
            requests_served: 0,
            kubelets: proxy::KubeletProxy::default(),
            leases: LeaseManager::default(),
            lease_waiters: Vec::new(),
        }
    }

    /// The watch cache (what admission and RBAC read).
    pub fn cache(&self) -> &WatchCache {
        &self.cache
    }

    fn etcd_send(&mut self, ctx: &mut Context<'_>, purpose: Purpose, request: Request) -> u64 {
        let id = self.next_etcd_request;
        self.next_etcd_request += 1;
        let Some(to) = self.etcd.get(self.endpoint).cloned() else { return id };
        ctx.send(to, Payload::EtcdRequest { request_id: id, request });
        if purpose != Purpose::CacheWatch {
            ctx.set_timer(ETCD_ATTEMPT_MS, TIMER_ETCD | id);
        }
        self.inflight.insert(id, EtcdCall { purpose, endpoint: self.endpoint });
        id
    }

    /// Moves to the next etcd endpoint after `failed` stopped answering, and
    /// moves the cache's watch there too.
    fn fail_over(&mut self, ctx: &mut Context<'_>, failed: usize) {
        if failed != self.endpoint || self.etcd.len() < 2 {
            return;
        }
        self.endpoint = (self.endpoint + 1) % self.etcd.len();
        ctx.record(format!("etcd endpoint now {}", self.etcd[self.endpoint]));
        self.restart_cache_watch(ctx);
    }

    fn restart_cache_watch(&mut self, ctx: &mut Context<'_>) {
        if let Some(old) = self.cache_watch.take() {
            self.inflight.remove(&old);
        }
        if let Some((watch_id, endpoint)) = self.cache_watch_id.take() {
            if let Some(to) = self.etcd.get(endpoint).cloned() {
                let request_id = self.next_etcd_request;
                self.next_etcd_request += 1;
                ctx.send(to, Payload::EtcdRequest { request_id, request: Request::WatchCancel { watch_id } });
            }
        }
        if self.cache.is_ready() {
            let request = Request::Watch {
                range: KeyRange::prefix(b"/registry/"),
                start_revision: self.cache.revision() + 1,
                prev_kv: true,
                progress_notify: true,
            };
            self.cache_watch = Some(self.etcd_send(ctx, Purpose::CacheWatch, request));
            self.cache_watch_seq = 1;
        } else if !self.inflight.values().any(|c| c.purpose == Purpose::CacheList) {
            let request =
                Request::Range { range: KeyRange::prefix(b"/registry/"), revision: 0, limit: 0, serializable: false };
            self.etcd_send(ctx, Purpose::CacheList, request);
        }
    }

    fn respond(
        &mut self,
        ctx: &mut Context<'_>,
        client: &Option<ComponentId>,
        request_id: u64,
        code: u16,
        body: Value,
    ) {
        if let Some(client) = client {
            self.requests_served += 1;
            ctx.send(client.clone(), Payload::ApiResponse(ApiResponse { request_id, code, body: Some(body), seq: 0 }));
        }
    }

    fn fail_op(&mut self, ctx: &mut Context<'_>, id: u64, error: StatusError) {
        self.pending_outcomes.remove(&id);
        if let Some(op) = self.ops.remove(&id) {
            self.finish(ctx, &op, error.code, error.to_status());
        }
    }

    /// Ends op `id` with an answer.
    fn complete(&mut self, ctx: &mut Context<'_>, id: u64, code: u16, body: Value) {
        self.pending_outcomes.remove(&id);
        if let Some(op) = self.ops.remove(&id) {
            self.finish(ctx, &op, code, body);
        }
    }

    /// Answers an op's client, or for the apiserver's own ops moves its bootstrap on.
    fn finish(&mut self, ctx: &mut Context<'_>, op: &Op, code: u16, body: Value) {
        match &op.client {
            Some(_) => self.respond(ctx, &op.client, op.request_id, code, body),
            None => {
                // AlreadyExists is success: the object was created by an
                // earlier round whose watch event the cache has not seen yet
                // (the bootstrap controllers ignore it the same way).
                let exists = code == 409 && body["reason"] == "AlreadyExists";
                if code >= 300 && !exists {
                    ctx.record(format!("bootstrap: {}", body["message"].as_str().unwrap_or_default()));
                }
                let key = op.bootstrap_key.clone().unwrap_or_default();
                self.internal_done(ctx, &key, code < 300 || exists);
            }
        }
    }

    fn accept(&mut self, ctx: &mut Context<'_>, from: ComponentId, request: ApiRequest) {
        let info = match RequestInfo::parse(request.method, &request.path) {
            Ok(info) => info,
            Err(e) => return self.respond(ctx, &Some(from), request.request_id, e.code, e.to_status()),
        };
        let user = authenticate_as(&from, request.impersonate.as_deref(), &request.impersonate_groups);
        // Like kube-apiserver waiting for its RBAC informers and bootstrap
        // policy (the rbac/bootstrap-roles post-start hook), requests wait
        // until the cache is loaded and the bootstrap objects exist.
        if !self.is_ready() {
            if self.waiting.len() >= MAX_WAITING {
                let e = StatusError::unavailable("apiserver is not yet ready to handle requests: too many waiting");
                return self.respond(ctx, &Some(from), request.request_id, 429, e.to_status());
            }
            self.waiting.push((from, request, ctx.now_ms()));
            return;
        }
        if let Err(e) = rbac::authorize(&self.cache, &user, &info) {
            return self.respond(ctx, &Some(from), request.request_id, e.code, e.to_status());
        }
        if info.verb == Verb::Watch {
            return self.start_watch(ctx, from, request.request_id, &info);
        }
        if info.subresource == "log" && info.verb == Verb::Get {
            return self.proxy_log(ctx, from, request.request_id, &info);
        }
        let id = self.next_op;
        self.next_op += 1;
        let op = Op {
            client: Some(from),
            request_id: request.request_id,
            info,
            body: request.body,
            content_type: request.content_type,
            user,
            deadline_ms: ctx.now_ms() + REQUEST_TIMEOUT_MS,
            retries: 0,
            based_on: None,
            written_uids: Vec::new(),
            last_txn: None,
            bootstrap_key: None,
            flow_on_commit: None,
        };
        self.ops.insert(id, op);
        self.start_op(ctx, id);
    }

    /// Sends a `pods/log` request on to the pod's kubelet.
    fn proxy_log(&mut self, ctx: &mut Context<'_>, from: ComponentId, request_id: u64, info: &RequestInfo) {
        let client = Some(from.clone());
        let key = info.resource.etcd_key(&info.namespace, &info.name);
        let Some(pod) = self.cache.get(&key).map(|c| c.object.clone()) else {
            let e = StatusError::not_found("", "pods", &info.name);
            return self.respond(ctx, &client, request_id, e.code, e.to_status());
        };
        let names: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        // pkg/registry/core/pod/strategy.go LogLocation: a container must be
        // named when the pod has several, and must be one of them.
        let container = match info.query.get("container") {
            Some(c) if !c.is_empty() => c.clone(),
            _ if names.len() == 1 => names[0].clone(),
            _ => {
                let e = StatusError::bad_request(format!(
                    "a container name must be specified for pod {}, choose one of: [{}]",
                    info.name,
                    names.join(" ")
                ));
                return self.respond(ctx, &client, request_id, e.code, e.to_status());
            }
        };
        if !names.contains(&container) {
            let e = StatusError::bad_request(format!("container {container} is not valid for pod {}", info.name));
            return self.respond(ctx, &client, request_id, e.code, e.to_status());
        }
        let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().to_string();
        if node.is_empty() {
            // Not scheduled: LogLocation has no location, and the answer is empty.
            return self.respond(ctx, &client, request_id, 200, Value::String(String::new()));
        }
        let address = self
            .cache
            .get(&format!("/registry/minions/{node}"))
            .and_then(|n| {
                n.object.pointer("/status/addresses").and_then(Value::as_array).and_then(|a| {
                    a.iter().find(|x| x["type"] == "InternalIP").and_then(|x| x["address"].as_str()).map(str::to_string)
                })
            })
            .unwrap_or_else(|| node.clone());
        let path = format!(
            "/containerLogs/{}/{}/{container}{}",
            info.namespace,
            info.name,
            proxy::container_logs_query(&info.query)
        );
        let id = self.kubelets.start(proxy::Proxied {
            client: from,
            request_id,
            deadline_ms: ctx.now_ms() + proxy::KUBELET_TIMEOUT_MS,
            url: format!("https://{address}:10250{}", path.split('?').next().unwrap_or_default()),
        });
        ctx.send(
            ComponentId::Kubelet(node),
            Payload::ApiRequest(ApiRequest::new(id, crate::message::Method::Get, path)),
        );
    }

    /// Relays a kubelet's answer to a proxied request.
    fn on_kubelet(&mut self, ctx: &mut Context<'_>, response: ApiResponse) {
        let Some(p) = self.kubelets.finish(response.request_id) else { return };
        let body = response.body.unwrap_or(Value::String(String::new()));
        self.respond(ctx, &Some(p.client), p.request_id, response.code, body);
    }

    /// Fails the proxied requests whose kubelet did not answer.
    fn expire_proxied(&mut self, ctx: &mut Context<'_>) {
        for p in self.kubelets.expired(ctx.now_ms()) {
            let host = p.url.trim_start_matches("https://").split('/').next().unwrap_or_default().to_string();
            let e = StatusError::storage(format!("Get \"{}\": dial tcp {host}: i/o timeout", p.url));
            self.respond(ctx, &Some(p.client), p.request_id, e.code, e.to_status());
        }
    }

    /// Whether the cache is loaded and every bootstrap object has been created.
    pub fn is_ready(&self) -> bool {
        self.cache.is_ready() && self.bootstrapped
    }

    fn missing_bootstrap_objects(&self) -> Vec<(&'static Resource, Value, String)> {
        registry::bootstrap_objects()
            .into_iter()
            .filter_map(|(resource, object)| {
                let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let key = resource.etcd_key(namespace, name);
                self.cache.get(&key).is_none().then_some((resource, object, key))
            })
            .collect()
    }

    /// Serves a request the apiserver makes of itself (bootstrap objects).
    fn internal_create(&mut self, ctx: &mut Context<'_>, resource: &'static Resource, object: Value, key: String) {
        let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        let path = resource.collection_path(namespace.as_deref());
        let Ok(info) = RequestInfo::parse(crate::message::Method::Post, &path) else {
            self.bootstrapping.remove(&key);
            return;
        };
        let id = self.next_op;
        self.next_op += 1;
        let op = Op {
            client: None,
            request_id: 0,
            info,
            body: Some(object),
            content_type: None,
            user: authenticate(&ComponentId::ApiServer, None),
            deadline_ms: ctx.now_ms() + REQUEST_TIMEOUT_MS,
            retries: 0,
            based_on: None,
            written_uids: Vec::new(),
            last_txn: None,
            bootstrap_key: Some(key),
            flow_on_commit: None,
        };
        self.ops.insert(id, op);
        self.start_op(ctx, id);
    }

    fn start_op(&mut self, ctx: &mut Context<'_>, id: u64) {
        let Some(op) = self.ops.get(&id) else { return };
        let info = &op.info;
        let key = info.resource.etcd_key(&info.namespace, &info.name);
        match info.verb {
            Verb::Get => {
                self.etcd_send(ctx, Purpose::Op(id), read_key(&key));
            }
            Verb::List => {
                let prefix = info.resource.etcd_list_prefix(&info.namespace);
                let (start, revision) = match decode_continue(info.param("continue"), &prefix) {
                    Ok(c) => c,
                    Err(e) => return self.fail_op(ctx, id, e),
                };
                let mut range = KeyRange::prefix(prefix.as_bytes());
                range.key = start.into_bytes();
                let request = Request::Range { range, revision, limit: 0, serializable: false };
                self.etcd_send(ctx, Purpose::Op(id), request);
            }
            Verb::Create if info.subresource.is_empty() => self.compute_and_write(ctx, id, None),
            Verb::DeleteCollection | Verb::Watch => self.fail_op(ctx, id, StatusError::method_not_allowed()),
            _ => {
                self.etcd_send(ctx, Purpose::Op(id), read_key(&key));
            }
        }
    }

    /// Computes the new state of the op's object from `current` and writes it
    /// with a compare on the revision it was computed from.
    fn compute_and_write(&mut self, ctx: &mut Context<'_>, id: u64, current: Option<(Value, i64)>) {
        let Some(op) = self.ops.get_mut(&id) else { return };
        // A retried create that finds its own object: the first attempt won.
        if let Some((object, _)) = &current {
            let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
            if op.info.verb == Verb::Create
                && op.info.subresource.is_empty()
                && op.written_uids.iter().any(|u| u == uid)
            {
                return self.complete(ctx, id, 201, object.clone());
            }
        }
        let key = op.info.resource.etcd_key(&op.info.namespace, &op.info.name);
        let input = registry::Input {
            info: &op.info,
            body: op.body.as_ref(),
            content_type: op.content_type.as_deref(),
            user: &op.user,
            current: current.as_ref().map(|(v, _)| v),
            now_ms: ctx.now_ms(),
            cache: &self.cache,
        };
        let outcome = registry::compute(&input, ctx.rng());
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return self.fail_op(ctx, id, e),
        };
        let dry_run = op.info.param("dryRun") == "All";
        let (success, key) = match &outcome {
            registry::Outcome::Put { object, .. } => {
                // A create learns its name (maybe generated) from the object.
                if op.info.verb == Verb::Create && op.info.subresource.is_empty() {
                    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    op.info.name = name.to_string();
                }
                let key = op.info.resource.etcd_key(&op.info.namespace, &op.info.name);
                let mut stored = object.clone();
                if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
                    op.written_uids.push(uid.to_string());
                }
                let value = serde_json::to_vec(&stored).unwrap_or_default();
                (TxnOp::Put { key: key.clone().into_bytes(), value, lease: 0 }, key)
            }
            registry::Outcome::Delete { .. } => (TxnOp::DeleteRange { range: KeyRange::single(key.as_bytes()) }, key),
            registry::Outcome::Done { code, body } => {
                let (code, body) = (*code, body.clone());
                return self.complete(ctx, id, code, body);
            }
        };
        if dry_run {
            let (code, body) = outcome.reply(current.map_or(0, |(_, r)| r));
            return self.complete(ctx, id, code, body);
        }
        if let registry::Outcome::Put { object, .. } = &outcome {
            op.flow_on_commit = pod_flow(op, current.as_ref().map(|(v, _)| v), object, ctx);
        }
        let based_on = current.as_ref().map(|(_, rev)| *rev);
        op.based_on = based_on;
        let compare = match based_on {
            // The etcd3 store's create: the key's mod revision must be 0 (absent).
            None => {
                Compare { key: key.clone().into_bytes(), target: CompareTarget::Mod(0), result: CompareResult::Equal }
            }
            Some(rev) => {
                Compare { key: key.clone().into_bytes(), target: CompareTarget::Mod(rev), result: CompareResult::Equal }
            }
        };
        let failure = vec![TxnOp::Range { range: KeyRange::single(key.as_bytes()), limit: 0 }];
        let with_ttl = matches!(success, TxnOp::Put { .. }) && ttl_secs(op.info.resource).is_some();
        let txn = Txn { compare: vec![compare], success: vec![success], failure };
        op.last_txn = Some(txn.clone());
        self.pending_outcomes.insert(id, outcome);
        if with_ttl {
            return self.send_with_lease(ctx, id);
        }
        self.etcd_send(ctx, Purpose::Op(id), Request::Txn(txn));
    }

    /// Sends op `id`'s write with its put attached to a lease from the lease
    /// manager, once there is one (the etcd3 store's `ttlOpts`).
    fn send_with_lease(&mut self, ctx: &mut Context<'_>, id: u64) {
        let Some(ttl) = self.ops.get(&id).and_then(|op| ttl_secs(op.info.resource)) else { return };
        if self.ops.get(&id).is_some_and(|op| ctx.now_ms() >= op.deadline_ms) {
            let e = StatusError::timeout(
                "Timeout: request did not complete within requested timeout - context deadline exceeded".to_string(),
            );
            return self.fail_op(ctx, id, e);
        }
        match self.leases.get(ttl, ctx.now_ms()) {
            LeaseChoice::Reuse(lease) => {
                let Some(txn) = self.ops.get_mut(&id).and_then(|op| op.last_txn.as_mut()) else { return };
                for op in &mut txn.success {
                    if let TxnOp::Put { lease: l, .. } = op {
                        *l = lease;
                    }
                }
                let txn = txn.clone();
                self.etcd_send(ctx, Purpose::Op(id), Request::Txn(txn));
            }
            LeaseChoice::Grant(ttl_secs) => {
                self.lease_waiters.push(id);
                self.etcd_send(ctx, Purpose::LeaseGrant, Request::LeaseGrant { ttl_secs, id: 0 });
            }
            LeaseChoice::Wait => self.lease_waiters.push(id),
        }
    }

    /// The lease grant ended: the writes waiting for it ask again (and
    /// reuse the new lease, or try another grant after a failure).
    fn resume_lease_waiters(&mut self, ctx: &mut Context<'_>) {
        for id in std::mem::take(&mut self.lease_waiters) {
            self.send_with_lease(ctx, id);
        }
    }

    fn on_etcd(&mut self, ctx: &mut Context<'_>, request_id: u64, response: Response) {
        let is_watch = self.cache_watch == Some(request_id);
        let Some(call) = self.inflight.get(&request_id) else {
            return;
        };
        let (purpose, endpoint) = (call.purpose.clone(), call.endpoint);
        if !is_watch {
            self.inflight.remove(&request_id);
        }
        match purpose {
            Purpose::Health => {
                if response.result.is_err() {
                    return self.fail_over(ctx, endpoint);
                }
                // etcd is ahead of the cache twice in a row at the same cache
                // revision: the watch may have lost its last message. Watching
                // again from the cache's revision replays whatever was missed.
                // etcd went back in time (a snapshot was restored): the cache
                // cannot be patched up, list everything again.
                if response.header.revision < self.cache.revision() && self.cache.is_ready() {
                    ctx.record("watch cache: etcd's revision went back, listing again".to_string());
                    self.cache.set_stale();
                    self.restart_cache_watch(ctx);
                    return;
                }
                // Writes outside /registry/ (etcdctl) also move etcd's revision:
                // watch again only when it moved since the last time.
                let behind = response.header.revision > self.cache.revision();
                if behind
                    && self.behind_at == Some(self.cache.revision())
                    && self.cache.is_ready()
                    && response.header.revision > self.rewatched_at
                {
                    self.behind_at = None;
                    self.rewatched_at = response.header.revision;
                    self.restart_cache_watch(ctx);
                } else {
                    self.behind_at = behind.then_some(self.cache.revision());
                }
            }
            Purpose::CacheList => match response.result {
                Ok(Reply::Range(r)) => {
                    self.cache.reset(&r.kvs, response.header.revision);
                    ctx.record(format!("watch cache synced at revision {}", response.header.revision));
                    self.end_client_watches(ctx);
                    self.restart_cache_watch(ctx);
                    self.bootstrap(ctx);
                }
                _ => self.fail_over(ctx, endpoint),
            },
            Purpose::CacheWatch => match response.result {
                Ok(Reply::Watch(w)) if !w.created && w.seq != self.cache_watch_seq => {
                    // A message of the stream was lost: watch again from where the cache is.
                    ctx.record(format!("watch cache: stream gap at {}, watching again", self.cache.revision()));
                    self.restart_cache_watch(ctx);
                }
                Ok(Reply::Watch(w)) if w.created => self.cache_watch_id = Some((w.watch_id, endpoint)),
                Ok(Reply::Watch(w)) if w.canceled => {
                    // Compacted past the cache, or the member went away: list again.
                    self.cache_watch = None;
                    self.inflight.remove(&request_id);
                    self.cache.set_stale();
                    self.restart_cache_watch(ctx);
                }
                Ok(Reply::Watch(w)) => {
                    self.cache_watch_seq += 1;
                    if w.events.is_empty() {
                        self.cache.progress(response.header.revision);
                    } else {
                        let events = self.cache.apply(&w.events);
                        for event in &events {
                            self.fan_out(ctx, event);
                        }
                    }
                }
                _ => {}
            },
            Purpose::Op(id) => self.on_op_reply(ctx, id, endpoint, response),
            Purpose::LeaseGrant => match response.result {
                Ok(Reply::LeaseGrant { id, .. }) => {
                    self.leases.granted(id);
                    self.resume_lease_waiters(ctx);
                }
                Err(e) if e == crate::etcd::member::ERR_NO_LEADER || e == crate::etcd::member::ERR_TIMEOUT => {
                    // clientv3 tries the next endpoint.
                    self.fail_over(ctx, endpoint);
                    self.leases.grant_failed();
                    self.resume_lease_waiters(ctx);
                }
                other => {
                    self.leases.grant_failed();
                    let message = match other {
                        Err(e) => e,
                        Ok(_) => "unexpected answer from etcd".to_string(),
                    };
                    for id in std::mem::take(&mut self.lease_waiters) {
                        self.fail_op(ctx, id, StatusError::storage(message.clone()));
                    }
                }
            },
        }
    }

    fn on_op_reply(&mut self, ctx: &mut Context<'_>, id: u64, endpoint: usize, response: Response) {
        let Some(op) = self.ops.get(&id) else { return };
        let reply = match response.result {
            Ok(reply) => reply,
            Err(e) if e == crate::etcd::member::ERR_NO_LEADER => {
                // clientv3 retries an unavailable member on the next endpoint.
                self.fail_over(ctx, endpoint);
                return self.retry(ctx, id);
            }
            Err(e) => {
                let error = if e == crate::etcd::mvcc::ERR_COMPACTED {
                    StatusError::expired("The resourceVersion for the provided list is too old.")
                } else if e.contains("future revision") {
                    StatusError::timeout("Timeout: Too large resource version")
                } else {
                    if e == crate::etcd::member::ERR_TIMEOUT {
                        // A member that cannot reach a quorum: try another next time.
                        self.fail_over(ctx, endpoint);
                    }
                    StatusError::storage(e)
                };
                return self.fail_op(ctx, id, error);
            }
        };
        let revision = response.header.revision;
        let info = &op.info;
        match (info.verb, reply) {
            (Verb::Get, Reply::Range(r)) => match r.kvs.first().and_then(decode_kv) {
                Some((object, _)) => {
                    let (client, request_id) = (op.client.clone(), op.request_id);
                    let object =
                        if info.subresource == "scale" { registry::to_scale(info.resource, &object) } else { object };
                    self.ops.remove(&id);
                    self.respond(ctx, &client, request_id, 200, object);
                }
                None if r.kvs.is_empty() => {
                    let e = StatusError::not_found(info.resource.group, info.resource.plural, &info.name);
                    self.fail_op(ctx, id, e)
                }
                None => {
                    let key = info.resource.etcd_key(&info.namespace, &info.name);
                    let e = StatusError::internal(format!(
                        "Internal error occurred: unable to decode the stored object at {key}"
                    ));
                    self.fail_op(ctx, id, e)
                }
            },
            (Verb::List, Reply::Range(r)) => {
                // A continued list is read, and reported, at its first page's revision.
                let prefix = info.resource.etcd_list_prefix(&info.namespace);
                let at = match decode_continue(info.param("continue"), &prefix) {
                    Ok((_, rev)) if rev > 0 => rev,
                    _ => revision,
                };
                let list = list_response(info, &r.kvs, at);
                let (client, request_id) = (op.client.clone(), op.request_id);
                self.ops.remove(&id);
                match list {
                    Ok(list) => self.respond(ctx, &client, request_id, 200, list),
                    Err(e) => self.respond(ctx, &client, request_id, e.code, e.to_status()),
                }
            }
            (_, Reply::Range(r)) => {
                // The current object of an update, patch, delete or subresource write.
                let current = r.kvs.first().and_then(decode_kv);
                self.compute_and_write(ctx, id, current);
            }
            (_, Reply::Txn { succeeded: true, .. }) => {
                let Some(outcome) = self.pending_outcomes.remove(&id) else { return };
                let Some(op) = self.ops.remove(&id) else { return };
                let (code, body) = outcome.reply(revision);
                if let Some(step) = op.flow_on_commit {
                    ctx.flow(step, format!("{}/{}", op.info.namespace, op.info.name));
                }
                if let (registry::Outcome::Put { object, .. }, None) = (&outcome, &op.client) {
                    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
                    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    ctx.record(format!("bootstrap: created {kind} {name}"));
                }
                self.finish(ctx, &op, code, body);
            }
            (_, Reply::Txn { succeeded: false, responses }) => {
                self.pending_outcomes.remove(&id);
                if let Some(op) = self.ops.get_mut(&id) {
                    op.last_txn = None;
                }
                let current = match responses.first() {
                    Some(Reply::Range(r)) => r.kvs.first().and_then(decode_kv),
                    _ => None,
                };
                let Some(op) = self.ops.get_mut(&id) else { return };
                op.retries += 1;
                if op.retries > MAX_UPDATE_RETRIES {
                    let info = &op.info;
                    let e = StatusError::conflict(
                        info.resource.group,
                        info.resource.plural,
                        &info.name,
                        registry::OPTIMISTIC_LOCK_MESSAGE,
                    );
                    return self.fail_op(ctx, id, e);
                }
                self.compute_and_write(ctx, id, current);
            }
            _ => self.fail_op(ctx, id, StatusError::storage("unexpected answer from etcd")),
        }
    }

    /// Tries an op's current step again on the (new) endpoint: a write in
    /// flight is resent exactly as it was, anything else starts over.
    fn retry(&mut self, ctx: &mut Context<'_>, id: u64) {
        let Some(op) = self.ops.get(&id) else { return };
        if ctx.now_ms() >= op.deadline_ms {
            let e = StatusError::timeout(
                "Timeout: request did not complete within requested timeout - context deadline exceeded".to_string(),
            );
            return self.fail_op(ctx, id, e);
        }
        match (&op.last_txn, self.pending_outcomes.contains_key(&id)) {
            (Some(txn), true) => {
                let txn = txn.clone();
                self.etcd_send(ctx, Purpose::Op(id), Request::Txn(txn));
            }
            _ => {
                self.pending_outcomes.remove(&id);
                if let Some(op) = self.ops.get_mut(&id) {
                    op.last_txn = None;
                }
                self.start_op(ctx, id)
            }
        }
    }

    fn on_attempt_timeout(&mut self, ctx: &mut Context<'_>, request_id: u64) {
        let Some(call) = self.inflight.remove(&request_id) else { return };
        if let Some(to) = self.etcd.get(call.endpoint).cloned() {
            // gRPC cancels the abandoned request on the member.
            let cancel_id = self.next_etcd_request;
            self.next_etcd_request += 1;
            ctx.send(to, Payload::EtcdRequest { request_id: cancel_id, request: Request::Cancel { request_id } });
        }
        self.fail_over(ctx, call.endpoint);
        match call.purpose {
            Purpose::Op(id) => self.retry(ctx, id),
            Purpose::CacheList => self.restart_cache_watch(ctx),
            Purpose::LeaseGrant => {
                self.leases.grant_failed();
                self.resume_lease_waiters(ctx);
            }
            Purpose::Health | Purpose::CacheWatch => {}
        }
    }

    /// Creates the objects every cluster starts with, if missing: the system
    /// namespaces, the `kubernetes` Service, and the bootstrap RBAC policy.
    fn bootstrap(&mut self, ctx: &mut Context<'_>) {
        if !self.cache.is_ready() || !self.bootstrapping.is_empty() {
            return;
        }
        let missing = self.missing_bootstrap_objects();
        if missing.is_empty() {
            self.bootstrapped = true;
        }
        // Namespaces first: NamespaceLifecycle refuses content in a missing namespace.
        let namespaces_missing = missing.iter().any(|(r, _, _)| r.plural == "namespaces");
        for (resource, object, key) in missing {
            if namespaces_missing && resource.plural != "namespaces" {
                continue;
            }
            self.bootstrapping.insert(key.clone());
            self.internal_create(ctx, resource, object, key);
        }
        if self.is_ready() {
            for (from, request, _) in std::mem::take(&mut self.waiting) {
                self.accept(ctx, from, request);
            }
        }
    }

    /// Requests that waited the whole request timeout for readiness get the
    /// apiserver's 504.
    fn expire_waiting(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(_, _, at)| now >= at + REQUEST_TIMEOUT_MS);
        self.waiting = kept;
        for (from, request, _) in expired {
            let e = StatusError::timeout(
                "Timeout: request did not complete within requested timeout - context deadline exceeded".to_string(),
            );
            self.respond(ctx, &Some(from), request.request_id, e.code, e.to_status());
        }
    }

    /// An internal op ended: once every bootstrap object of this round is in,
    /// the next round goes (namespaces first, then what lives in them). After
    /// a failure the next try waits for the health tick, so a create that
    /// keeps failing at once cannot loop.
    fn internal_done(&mut self, ctx: &mut Context<'_>, key: &str, succeeded: bool) {
        if self.bootstrapping.remove(key) && self.bootstrapping.is_empty() && succeeded {
            ctx.defer(TIMER_BOOTSTRAP);
        }
    }

    fn start_watch(&mut self, ctx: &mut Context<'_>, from: ComponentId, request_id: u64, info: &RequestInfo) {
        let fail = |this: &mut Self, ctx: &mut Context<'_>, e: StatusError| {
            this.respond(ctx, &Some(from.clone()), request_id, e.code, e.to_status())
        };
        let labels = match Selector::parse(info.param("labelSelector")) {
            Ok(s) => s,
            Err(e) => return fail(self, ctx, StatusError::bad_request(e)),
        };
        let fields = match FieldSelector::parse(info.param("fieldSelector"), selectable_fields(info.resource.plural)) {
            Ok(s) => s,
            Err(e) => return fail(self, ctx, StatusError::bad_request(e)),
        };
        let watcher = Watcher {
            resource: info.resource,
            prefix: info.resource.etcd_list_prefix(&info.namespace),
            labels,
            fields,
            bookmarks: info.param("allowWatchBookmarks") == "true",
            sent: 0,
        };
        let rv = info.param("resourceVersion");
        let mut initial: Vec<Value> = Vec::new();
        if rv.is_empty() || rv == "0" {
            // "Get state and start at most recent": every current object as ADDED.
            for (_, cached) in self.cache.list(&watcher.prefix) {
                if watcher.selects(&cached.object) {
                    initial.push(watch_event("ADDED", &cached.object));
                }
            }
        } else {
            let Ok(since) = rv.parse::<i64>() else {
                return fail(self, ctx, StatusError::bad_request(format!("invalid resource version: {rv}")));
            };
            let replay: Option<Vec<Value>> = self
                .cache
                .since(since, &watcher.prefix)
                .map(|events| events.filter_map(|e| watcher.event_for(e)).collect());
            match replay {
                Some(events) => initial = events,
                None => {
                    // The watch starts with an ERROR event carrying 410 Expired.
                    let e = StatusError::expired(format!(
                        "too old resource version: {since} ({})",
                        self.cache.window_start()
                    ));
                    let event = json!({"type": "ERROR", "object": e.to_status()});
                    let mut watcher = watcher;
                    stream_send(ctx, &from, request_id, &mut watcher, Some(event));
                    stream_send(ctx, &from, request_id, &mut watcher, None);
                    return;
                }
            }
        }
        let mut watcher = watcher;
        for event in initial {
            stream_send(ctx, &from, request_id, &mut watcher, Some(event));
        }
        self.watch_index.insert((from.clone(), request_id), &watcher.prefix, &watcher.fields);
        self.watchers.insert((from, request_id), watcher);
    }

    /// Closes every client watch (the cache relisted, so it cannot promise
    /// continuity); clients watch again from their last resourceVersion.
    fn end_client_watches(&mut self, ctx: &mut Context<'_>) {
        self.watch_index.clear();
        for ((client, request_id), mut watcher) in std::mem::take(&mut self.watchers) {
            stream_send(ctx, &client, request_id, &mut watcher, None);
        }
    }

    fn fan_out(&mut self, ctx: &mut Context<'_>, event: &CacheEvent) {
        // In the watchers' order, as a walk over all of them would go.
        for key in self.watch_index.candidates(&event.key, &event.object, event.prev.as_ref()) {
            let Some(watcher) = self.watchers.get_mut(&key) else { continue };
            if let Some(e) = watcher.event_for(event) {
                stream_send(ctx, &key.0, key.1, watcher, Some(e));
            }
        }
    }

    fn send_bookmarks(&mut self, ctx: &mut Context<'_>) {
        let revision = self.cache.revision().to_string();
        for ((client, request_id), watcher) in self.watchers.iter_mut() {
            if watcher.bookmarks {
                let object = json!({
                    "kind": watcher.resource.kind,
                    "apiVersion": watcher.resource.api_version(),
                    "metadata": {"resourceVersion": revision},
                });
                let body = json!({"type": "BOOKMARK", "object": object});
                stream_send(ctx, client, *request_id, watcher, Some(body));
            }
        }
    }
}

/// Sends the next message of a watch stream (`None` ends it).
fn stream_send(
    ctx: &mut Context<'_>,
    client: &ComponentId,
    request_id: u64,
    watcher: &mut Watcher,
    body: Option<Value>,
) {
    watcher.sent += 1;
    let response = ApiResponse { request_id, code: 200, body, seq: watcher.sent };
    ctx.send(client.clone(), Payload::ApiResponse(response));
}

impl Watcher {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches_object(object) && self.fields.matches(object)
    }

    /// What this watcher sees of a change: objects moving into its selection
    /// are ADDED, out of it DELETED (like the cacher's filtering).
    fn event_for(&self, event: &CacheEvent) -> Option<Value> {
        if !event.key.starts_with(&self.prefix) {
            return None;
        }
        let now = !event.deleted && self.selects(&event.object);
        let before = event.prev.as_ref().is_some_and(|p| self.selects(p));
        let kind = match (before, now) {
            (false, true) => "ADDED",
            (true, true) => "MODIFIED",
            (true, false) => "DELETED",
            (false, false) => return None,
        };
        if kind == "DELETED" && !event.deleted {
            // Leaving the selection: the cacher sends the object as the watcher
            // last saw it, at the change's resourceVersion.
            let mut previous = event.prev.clone().unwrap_or_else(|| event.object.clone());
            watch_cache::set_resource_version(&mut previous, event.revision);
            return Some(watch_event(kind, &previous));
        }
        Some(watch_event(kind, &event.object))
    }
}

/// Marks the steps of a pod's way to running that a write computed for `op`
/// takes ([`crate::flow`]): a pod create (steps 1 and 2), its binding, and
/// the status update that first makes it Running (step 10). Returns the
/// step its commit takes (3, 6 or 11).
fn pod_flow(op: &Op, current: Option<&Value>, object: &Value, ctx: &mut Context<'_>) -> Option<u8> {
    use crate::flow::step;
    let r = op.info.resource;
    if r.group != "" || r.plural != "pods" {
        return None;
    }
    let pod = format!("{}/{}", op.info.namespace, op.info.name);
    let phase =
        |v: Option<&Value>| v.and_then(|v| v.pointer("/status/phase")).and_then(Value::as_str).map(str::to_string);
    match (op.info.verb, op.info.subresource.as_str()) {
        (Verb::Create, "") => {
            ctx.flow(step::REQUEST, pod.clone());
            ctx.flow(step::WRITE, pod);
            Some(step::STORED)
        }
        (Verb::Create, "binding") => Some(step::BOUND),
        (_, "status")
            if phase(Some(object)).as_deref() == Some("Running") && phase(current).as_deref() != Some("Running") =>
        {
            ctx.flow(step::STATUS_REQUEST, pod);
            Some(step::STATUS_STORED)
        }
        _ => None,
    }
}

fn watch_event(kind: &str, object: &Value) -> Value {
    json!({"type": kind, "object": object.clone()})
}

/// The TTL of the objects of `resource`, if they have one (Events:
/// pkg/registry/core/event/storage/storage.go `TTLFunc`).
fn ttl_secs(resource: &Resource) -> Option<i64> {
    (resource.plural == "events").then_some(EVENT_TTL_SECS)
}

/// A quorum read of one key.
fn read_key(key: &str) -> Request {
    Request::Range { range: KeyRange::single(key.as_bytes()), revision: 0, limit: 0, serializable: false }
}

/// A stored key-value as (object with its resourceVersion, mod revision).
fn decode_kv(kv: &KeyValue) -> Option<(Value, i64)> {
    watch_cache::decode(kv, kv.mod_revision).map(|v| (v, kv.mod_revision))
}

/// Where a list continues, from its continue token: the key to start at and the
/// revision of the first page. The token is base64 of
/// `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>"}` like the etcd3 store's.
fn decode_continue(token: &str, prefix: &str) -> Result<(String, i64), StatusError> {
    if token.is_empty() {
        return Ok((prefix.to_string(), 0));
    }
    use base64::Engine;
    let bad = || {
        StatusError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value.get("rv").and_then(Value::as_i64).filter(|rv| *rv > 0).ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((format!("{prefix}{start}"), rv))
}

fn encode_continue(revision: i64, start: &str) -> String {
    use base64::Engine;
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// A `...List` answer: matching items in key order, at most `limit`, with a
/// continue token when more match.
fn list_response(info: &RequestInfo, kvs: &[KeyValue], revision: i64) -> Result<Value, StatusError> {
    let labels = Selector::parse(info.param("labelSelector")).map_err(StatusError::bad_request)?;
    let fields = FieldSelector::parse(info.param("fieldSelector"), selectable_fields(info.resource.plural))
        .map_err(StatusError::bad_request)?;
    let limit: usize = match info.param("limit") {
        "" => 0,
        l => l.parse().map_err(|_| StatusError::bad_request(format!("invalid limit: {l}")))?,
    };
    let prefix = info.resource.etcd_list_prefix(&info.namespace);
    let mut items = Vec::new();
    let mut next = None;
    let mut last_key = String::new();
    for kv in kvs {
        let Some((mut object, _)) = decode_kv(kv) else { continue };
        if !(labels.matches_object(&object) && fields.matches(&object)) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            next = Some(last_key.clone());
            break;
        }
        last_key = String::from_utf8_lossy(&kv.key).into_owned();
        if let Some(map) = object.as_object_mut() {
            map.remove("kind");
            map.remove("apiVersion");
        }
        items.push(object);
    }
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(last) = next {
        let start = format!("{}\u{0}", last.strip_prefix(&prefix).unwrap_or(&last));
        metadata["continue"] = json!(encode_continue(revision, &start));
    }
    Ok(json!({
        "kind": format!("{}List", info.resource.kind),
        "apiVersion": info.resource.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

impl Component for KubeApiServer {
    fn kind(&self) -> ComponentKind {
        ComponentKind::ApiServer
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        let incarnation = self.incarnation + 1;
        *self = KubeApiServer::new(std::mem::take(&mut self.etcd));
        self.incarnation = incarnation;
        self.next_etcd_request = incarnation << 32;
        self.restart_cache_watch(ctx);
        ctx.set_timer(HEALTH_INTERVAL_MS, TIMER_HEALTH);
        ctx.set_timer(BOOKMARK_INTERVAL_MS, TIMER_BOOKMARK);
    }

    fn stop(&mut self) {
        let incarnation = self.incarnation;
        *self = KubeApiServer::new(std::mem::take(&mut self.etcd));
        self.incarnation = incarnation;
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        match envelope.payload {
            Payload::ApiRequest(request) => self.accept(ctx, envelope.from, request),
            Payload::ApiCancel { request_id } => {
                self.waiting.retain(|(from, r, _)| !(*from == envelope.from && r.request_id == request_id));
                let key = (envelope.from, request_id);
                if let Some(watcher) = self.watchers.remove(&key) {
                    self.watch_index.remove(&key, &watcher.prefix, &watcher.fields);
                }
            }
            Payload::EtcdResponse { request_id, response } => self.on_etcd(ctx, request_id, response),
            Payload::ApiResponse(response) if matches!(envelope.from, ComponentId::Kubelet(_)) => {
                self.on_kubelet(ctx, response)
            }
            _ => {}
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        match token {
            TIMER_HEALTH => {
                self.expire_proxied(ctx);
                if !self.inflight.values().any(|c| c.purpose == Purpose::Health) {
                    let request = Request::Range {
                        range: KeyRange::single(b"health"),
                        revision: 0,
                        limit: 0,
                        serializable: false,
                    };
                    self.etcd_send(ctx, Purpose::Health, request);
                }
                if !self.cache.is_ready() {
                    self.restart_cache_watch(ctx);
                }
                self.bootstrap(ctx);
                self.expire_waiting(ctx);
                ctx.set_timer(HEALTH_INTERVAL_MS, TIMER_HEALTH);
            }
            TIMER_BOOTSTRAP => self.bootstrap(ctx),
            TIMER_BOOKMARK => {
                self.send_bookmarks(ctx);
                ctx.set_timer(BOOKMARK_INTERVAL_MS, TIMER_BOOKMARK);
            }
            t if t & TIMER_ETCD != 0 => self.on_attempt_timeout(ctx, t & !TIMER_ETCD),
            _ => {}
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        let endpoint = self.etcd.get(self.endpoint).map(ToString::to_string).unwrap_or_default();
        vec![
            ("requests".into(), self.requests_served.to_string()),
            ("etcd endpoint".into(), endpoint),
            ("cached objects".into(), self.cache.len().to_string()),
            ("cache revision".into(), self.cache.revision().to_string()),
            ("watches".into(), self.watchers.len().to_string()),
            ("event leases granted".into(), self.leases.leases_granted().to_string()),
        ]
    }
}
