//! kube-controller-manager: the control loops, each a level-triggered
//! reconciler that watches through kube-apiserver and writes through it.
//!
//! Today it runs the ReplicaSet controller ([`replicaset`], also run over
//! ReplicationControllers), the Deployment controller ([`deployment`]), the garbage collector
//! ([`garbagecollector`]), the namespace controller ([`namespace`]), the
//! Endpoints controller ([`endpoints`]), the EndpointSlice controller
//! ([`endpointslice`]), the ServiceAccount controller ([`serviceaccount`])
//! the root CA certificate publisher ([`rootcacertpublisher`]), node
//! lifecycle ([`nodelifecycle`]), taint eviction ([`tainteviction`]), pod
//! GC ([`podgc`]) and the DaemonSet controller ([`daemonset`]).

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod garbagecollector;
pub mod namespace;
pub mod nodelifecycle;
pub mod podgc;
pub mod replicaset;
pub mod rootcacertpublisher;
pub mod serviceaccount;
pub mod tainteviction;
pub mod workqueue;

use crate::apimachinery::resources;
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::message::{ApiRequest, Payload};
use crate::reflector::Reflector;
use daemonset::DaemonSetsController;
use deployment::DeploymentController;
use endpoints::EndpointsController;
use endpointslice::EndpointSliceController;
use garbagecollector::GarbageCollector;
use kscope_protocol::ComponentKind;
use namespace::NamespaceController;
use nodelifecycle::NodeLifecycleController;
use podgc::PodGcController;
use replicaset::{ReplicaSetController, EXPECTATIONS_TIMEOUT_MS};
use rootcacertpublisher::RootCaCertPublisher;
use serviceaccount::ServiceAccountsController;
use std::collections::BTreeMap;
use tainteviction::TaintEvictionController;

const TIMER_SYNC: u64 = 1;
const TIMER_RETRY: u64 = 2;
const TIMER_TICK: u64 = 3;
/// A Deployment's retry or progress deadline, a garbage collector retry or
/// a namespace's next sync is due.
const TIMER_REQUEUE: u64 = 4;
/// How often the manager checks its watches and expectations.
const TICK_MS: u64 = 1_000;

/// The watched collections (group, resource, label selector): what the
/// loops read, and what the garbage collector builds its graph from (the
/// first 13: the resources that commonly carry ownerReferences; the real
/// collector watches every deletable resource, kscope leaves out the busy
/// Leases and Events).
const INFORMERS: [(&str, &str, &str); 16] = [
    ("", "pods", ""),
    ("apps", "replicasets", ""),
    ("apps", "deployments", ""),
    ("", "namespaces", ""),
    ("", "replicationcontrollers", ""),
    ("", "services", ""),
    ("", "endpoints", ""),
    ("discovery.k8s.io", "endpointslices", ""),
    ("", "configmaps", ""),
    ("", "secrets", ""),
    ("", "serviceaccounts", ""),
    ("apps", "daemonsets", ""),
    ("apps", "controllerrevisions", ""),
    ("", "nodes", ""),
    // The EndpointSlice controller watches only the slices it manages.
    ("discovery.k8s.io", "endpointslices", "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"),
    // The node lifecycle controller reads the kubelets' heartbeats.
    ("coordination.k8s.io", "leases", ""),
];
// Each loop tags its requests in its own range, so answers find it:
// ReplicaSet below 2^58, Endpoints [2^58, 2^59), EndpointSlice [2^59, 2^60),
// garbage collector [2^60, 2^61), Namespace [2^61, 2^62), Deployment
// [2^62, 2^63). Loops added later take 2^58-wide slots above 2^63, by
// `loop_tag_base(n)`: 0 node lifecycle, 1 pod GC, 2 taint eviction,
// 3 ReplicationController, 4 ServiceAccount, 5 root CA publisher,
// 6 DaemonSet.

/// The first tag of the `n`th loop added after the Deployment controller.
pub const fn loop_tag_base(n: u64) -> u64 {
    (1 << 63) + (n << 58)
}

/// Whether `tag` lies in the slot that starts at `base` (see [`loop_tag_base`]).
pub const fn in_loop_slot(base: u64, tag: u64) -> bool {
    tag >= base && tag - base < (1 << 58)
}

/// How many informers feed the garbage collector.
const GC_INFORMERS: usize = 13;
const PODS: usize = 0;
const REPLICA_SETS: usize = 1;
const DEPLOYMENTS: usize = 2;
const NAMESPACES: usize = 3;
const REPLICATION_CONTROLLERS: usize = 4;
const SERVICES: usize = 5;
const ENDPOINTS: usize = 6;
const CONFIG_MAPS: usize = 8;
const SERVICE_ACCOUNTS: usize = 10;
const DAEMON_SETS: usize = 11;
const CONTROLLER_REVISIONS: usize = 12;
const NODES: usize = 13;
const ENDPOINT_SLICES: usize = 14;
const LEASES: usize = 15;

/// What a loop wants sent, and what it expects back.
pub struct Outbox {
    /// Requests to send, each with the tag its answer is routed by.
    pub requests: Vec<(ApiRequest, u64)>,
    next_id: u64,
}

impl Outbox {
    /// Queues a request; returns its id.
    pub fn send(&mut self, request: ApiRequest, tag: u64) -> u64 {
        self.next_id += 1;
        let mut request = request;
        request.request_id = self.next_id;
        self.requests.push((request, tag));
        self.next_id
    }
}

/// The kube-controller-manager component.
pub struct KubeControllerManager {
    reflectors: Vec<Reflector>,
    next_request: u64,
    replica_sets: ReplicaSetController,
    replication_controllers: ReplicaSetController,
    deployments: DeploymentController,
    garbage_collector: GarbageCollector,
    namespaces: NamespaceController,
    endpoints: EndpointsController,
    endpoint_slices: EndpointSliceController,
    node_lifecycle: NodeLifecycleController,
    pod_gc: PodGcController,
    taint_eviction: TaintEvictionController,
    service_accounts: ServiceAccountsController,
    root_ca_publisher: RootCaCertPublisher,
    daemon_sets: DaemonSetsController,
    /// When the requeue timer fires next, if set.
    requeue_armed_ms: Option<u64>,
    /// Request id → tag of the loop request it answers, and when it was sent.
    in_flight: BTreeMap<u64, (u64, u64)>,
    sync_deferred: bool,
}

impl KubeControllerManager {
    /// A controller manager with every modelled loop.
    pub fn new() -> Self {
        KubeControllerManager {
            reflectors: INFORMERS
                .iter()
                .enumerate()
                .filter_map(|(i, (g, p, labels))| {
                    let reflector = Reflector::new(&resources::by_plural(g, p)?.collection_path(None), labels, "");
                    // The ReplicaSet and ReplicationController loops find their pods by controller.
                    Some(if i == PODS { reflector.with_controller_index() } else { reflector })
                })
                .collect(),
            next_request: 0,
            replica_sets: ReplicaSetController::default(),
            replication_controllers: ReplicaSetController::for_replication_controllers(),
            deployments: DeploymentController::default(),
            garbage_collector: GarbageCollector::default(),
            namespaces: NamespaceController::default(),
            endpoints: EndpointsController::default(),
            endpoint_slices: EndpointSliceController::default(),
            node_lifecycle: NodeLifecycleController::default(),
            pod_gc: PodGcController::default(),
            taint_eviction: TaintEvictionController::default(),
            service_accounts: ServiceAccountsController::default(),
            root_ca_publisher: RootCaCertPublisher::default(),
            daemon_sets: DaemonSetsController::default(),
            requeue_armed_ms: None,
            in_flight: BTreeMap::new(),
            sync_deferred: false,
        }
    }

    /// The loops' requests sent and not yet answered (or given up).
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The ReplicaSet controller.
    pub fn replica_sets(&self) -> &ReplicaSetController {
        &self.replica_sets
    }

    /// The ReplicationController manager (the ReplicaSet controller over
    /// ReplicationControllers).
    pub fn replication_controllers(&self) -> &ReplicaSetController {
        &self.replication_controllers
    }

    /// The Deployment controller.
    pub fn deployments(&self) -> &DeploymentController {
        &self.deployments
    }

    /// The garbage collector.
    pub fn garbage_collector(&self) -> &GarbageCollector {
        &self.garbage_collector
    }

    /// The namespace controller.
    pub fn namespaces(&self) -> &NamespaceController {
        &self.namespaces
    }

    /// The Endpoints controller.
    pub fn endpoints(&self) -> &EndpointsController {
        &self.endpoints
    }

    /// The EndpointSlice controller.
    pub fn endpoint_slices(&self) -> &EndpointSliceController {
        &self.endpoint_slices
    }

    /// The ServiceAccount controller.
    pub fn service_accounts(&self) -> &ServiceAccountsController {
        &self.service_accounts
    }

    /// The root CA certificate publisher.
    pub fn root_ca_publisher(&self) -> &RootCaCertPublisher {
        &self.root_ca_publisher
    }

    /// The node lifecycle controller.
    pub fn node_lifecycle(&self) -> &NodeLifecycleController {
        &self.node_lifecycle
    }

    /// The pod garbage collector.
    pub fn pod_gc(&self) -> &PodGcController {
        &self.pod_gc
    }

    /// The taint eviction controller.
    pub fn taint_eviction(&self) -> &TaintEvictionController {
        &self.taint_eviction
    }

    /// The DaemonSet controller.
    pub fn daemon_sets(&self) -> &DaemonSetsController {
        &self.daemon_sets
    }

    /// The loops' next due times.
    fn due_times(&self) -> [Option<u64>; 11] {
        [
            self.deployments.next_due(),
            self.garbage_collector.next_due(),
            self.namespaces.next_due(),
            self.endpoints.next_due(),
            self.endpoint_slices.next_due(),
            self.node_lifecycle.next_due(),
            self.pod_gc.next_due(),
            self.taint_eviction.next_due(),
            self.service_accounts.next_due(),
            self.root_ca_publisher.next_due(),
            self.daemon_sets.next_due(),
        ]
    }

    /// Sets the requeue timer for the loops' next due time.
    fn arm_requeue(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now_ms();
        let Some(due) = self.due_times().into_iter().flatten().min() else { return };
        if self.requeue_armed_ms.is_some_and(|t| t > now && t <= due) {
            return;
        }
        let due = due.max(now + 1);
        self.requeue_armed_ms = Some(due);
        ctx.set_timer(due - now, TIMER_REQUEUE);
    }

    fn flush(&mut self, ctx: &mut Context<'_>, outbox: Outbox) {
        self.next_request = outbox.next_id;
        for (request, tag) in outbox.requests {
            self.in_flight.insert(request.request_id, (tag, ctx.now_ms()));
            ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
        }
    }

    fn outbox(&self) -> Outbox {
        Outbox { requests: Vec::new(), next_id: self.next_request }
    }

    fn defer_sync(&mut self, ctx: &mut Context<'_>) {
        if !self.sync_deferred {
            self.sync_deferred = true;
            ctx.defer(TIMER_SYNC);
        }
    }
}

impl Default for KubeControllerManager {
    fn default() -> Self {
        KubeControllerManager::new()
    }
}

impl Component for KubeControllerManager {
    fn kind(&self) -> ComponentKind {
        ComponentKind::ControllerManager
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        *self = KubeControllerManager::new();
        // Request ids of this run start above any earlier run's, so a late
        // answer to a request sent before a restart matches nothing.
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        for r in &mut self.reflectors {
            r.start_via(ctx, &mut self.next_request);
        }
        ctx.set_timer(TICK_MS, TIMER_TICK);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else {
            return;
        };
        let now = ctx.now_ms();
        if let Some(i) = self.reflectors.iter().position(|r| r.owns(response.request_id)) {
            let changes = self.reflectors[i].handle_via(ctx, &mut self.next_request, &response, TIMER_RETRY);
            let resource = resources::by_plural(INFORMERS[i].0, INFORMERS[i].1).filter(|_| i < GC_INFORMERS);
            for change in changes {
                if let Some(r) = resource {
                    self.garbage_collector.on_change(r, &change);
                }
                match i {
                    PODS => {
                        self.node_lifecycle.on_pod(&change);
                        self.taint_eviction.on_pod(&change);
                        self.replica_sets.on_pod(&change, &self.reflectors[REPLICA_SETS]);
                        self.replication_controllers.on_pod(&change, &self.reflectors[REPLICATION_CONTROLLERS]);
                        self.deployments.on_pod(&change, &self.reflectors[REPLICA_SETS]);
                        self.endpoints.on_pod(&change, &self.reflectors[SERVICES]);
                        self.endpoint_slices.on_pod(&change, &self.reflectors[SERVICES]);
                        self.daemon_sets.on_pod(&change, &self.reflectors[DAEMON_SETS]);
                    }
                    DAEMON_SETS => self.daemon_sets.on_daemon_set(&change),
                    CONTROLLER_REVISIONS => self.daemon_sets.on_revision(&change, &self.reflectors[DAEMON_SETS]),
                    REPLICA_SETS => {
                        self.replica_sets.on_replica_set(&change);
                        self.deployments.on_replica_set(&change, &self.reflectors[DEPLOYMENTS]);
                    }
                    DEPLOYMENTS => self.deployments.on_deployment(&change),
                    REPLICATION_CONTROLLERS => self.replication_controllers.on_replica_set(&change),
                    NAMESPACES => {
                        self.namespaces.on_namespace(&change, now);
                        self.service_accounts.on_namespace(&change);
                        self.root_ca_publisher.on_namespace(&change);
                    }
                    SERVICE_ACCOUNTS => self.service_accounts.on_service_account(&change),
                    CONFIG_MAPS => self.root_ca_publisher.on_config_map(&change),
                    SERVICES => {
                        self.endpoints.on_service(&change);
                        self.endpoint_slices.on_service(&change);
                    }
                    ENDPOINTS => self.endpoints.on_endpoints(&change),
                    ENDPOINT_SLICES => self.endpoint_slices.on_slice(&change),
                    NODES => {
                        self.node_lifecycle.on_node(&change);
                        self.taint_eviction.on_node(&change);
                        self.daemon_sets.on_node(&change, &self.reflectors[DAEMON_SETS]);
                    }
                    _ => {}
                }
            }
            self.defer_sync(ctx);
            return;
        }
        let Some((tag, _)) = self.in_flight.remove(&response.request_id) else {
            return;
        };
        let mut outbox = self.outbox();
        if NodeLifecycleController::owns(tag) {
            self.node_lifecycle.on_response(tag, &response, now);
        } else if TaintEvictionController::owns(tag) {
            self.taint_eviction.on_response(tag, &response, now, &mut outbox);
        } else if PodGcController::owns(tag) {
            self.pod_gc.on_response(tag, &response, &self.reflectors[PODS], now, &mut outbox);
        } else if DeploymentController::owns(tag) {
            self.deployments.on_response(tag, &response, &self.reflectors[REPLICA_SETS], now, &mut outbox);
        } else if NamespaceController::owns(tag) {
            self.namespaces.on_response(tag, &response, now, &mut outbox);
        } else if GarbageCollector::owns(tag) {
            self.garbage_collector.on_response(tag, &response, now, &mut outbox);
        } else if EndpointSliceController::owns(tag) {
            self.endpoint_slices.on_response(tag, &response, &self.reflectors[SERVICES], now, &mut outbox);
        } else if EndpointsController::owns(tag) {
            self.endpoints.on_response(tag, &response, now, &mut outbox);
        } else if ServiceAccountsController::owns(tag) {
            self.service_accounts.on_response(tag, &response, now);
        } else if RootCaCertPublisher::owns(tag) {
            self.root_ca_publisher.on_response(tag, &response, now);
        } else if DaemonSetsController::owns(tag) {
            self.daemon_sets.on_response(
                tag,
                &response,
                &self.reflectors[DAEMON_SETS],
                &self.reflectors[CONTROLLER_REVISIONS],
                now,
                &mut outbox,
            );
        } else if ReplicaSetController::owns_rc_tag(tag) {
            self.replication_controllers.on_response(tag, &response, now, &mut outbox);
        } else {
            self.replica_sets.on_response(tag, &response, now, &mut outbox);
        }
        self.flush(ctx, outbox);
        self.arm_requeue(ctx);
        self.defer_sync(ctx);
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let now = ctx.now_ms();
        match token {
            TIMER_SYNC => {
                self.sync_deferred = false;
                if self.reflectors.iter().all(Reflector::has_synced) {
                    let mut outbox = self.outbox();
                    self.replica_sets.sync(&self.reflectors[PODS], &self.reflectors[REPLICA_SETS], now, &mut outbox);
                    self.replication_controllers.sync(
                        &self.reflectors[PODS],
                        &self.reflectors[REPLICATION_CONTROLLERS],
                        now,
                        &mut outbox,
                    );
                    self.deployments.sync(
                        &self.reflectors[PODS],
                        &self.reflectors[REPLICA_SETS],
                        &self.reflectors[DEPLOYMENTS],
                        now,
                        &mut outbox,
                    );
                    self.garbage_collector.sync(now, &mut outbox);
                    self.namespaces.sync(now, &mut outbox);
                    self.endpoints.sync(
                        &self.reflectors[SERVICES],
                        &self.reflectors[PODS],
                        &self.reflectors[ENDPOINTS],
                        now,
                        &mut outbox,
                    );
                    self.endpoint_slices.sync(
                        &self.reflectors[SERVICES],
                        &self.reflectors[PODS],
                        &self.reflectors[ENDPOINT_SLICES],
                        &self.reflectors[NODES],
                        now,
                        &mut outbox,
                    );
                    self.node_lifecycle.sync(
                        &self.reflectors[NODES],
                        &self.reflectors[LEASES],
                        &self.reflectors[PODS],
                        now,
                        &mut outbox,
                    );
                    self.taint_eviction.sync(&self.reflectors[NODES], &self.reflectors[PODS], now, &mut outbox);
                    self.pod_gc.sync(&self.reflectors[PODS], &self.reflectors[NODES], now, &mut outbox);
                    self.service_accounts.sync(
                        &self.reflectors[NAMESPACES],
                        &self.reflectors[SERVICE_ACCOUNTS],
                        now,
                        &mut outbox,
                    );
                    self.root_ca_publisher.sync(&self.reflectors[CONFIG_MAPS], now, &mut outbox);
                    self.daemon_sets.sync(
                        &self.reflectors[PODS],
                        &self.reflectors[NODES],
                        &self.reflectors[DAEMON_SETS],
                        &self.reflectors[CONTROLLER_REVISIONS],
                        now,
                        &mut outbox,
                    );
                    self.flush(ctx, outbox);
                    self.arm_requeue(ctx);
                }
            }
            TIMER_TICK => {
                for r in &mut self.reflectors {
                    r.check_via(ctx, &mut self.next_request);
                }
                // Expectations time out; requests never answered are forgotten,
                // here once every loop has given up on them (the longest wait is
                // the ReplicaSet expectations' 5 minutes), so that lost answers
                // do not pile up.
                self.in_flight.retain(|_, (_, sent)| now.saturating_sub(*sent) < EXPECTATIONS_TIMEOUT_MS);
                if self.replica_sets.expire(now)
                    | self.replication_controllers.expire(now)
                    | self.deployments.expire(now)
                    | self.garbage_collector.expire(now)
                    | self.namespaces.expire(now)
                    | self.endpoints.expire(now)
                    | self.endpoint_slices.expire(now)
                    | self.node_lifecycle.expire(now)
                    | self.taint_eviction.expire(now)
                    | self.pod_gc.expire(now)
                    | self.service_accounts.expire(now)
                    | self.root_ca_publisher.expire(now)
                    | self.daemon_sets.expire(now)
                {
                    self.defer_sync(ctx);
                }
                ctx.set_timer(TICK_MS, TIMER_TICK);
            }
            TIMER_REQUEUE => {
                if self.requeue_armed_ms.is_some_and(|t| t <= now) {
                    self.requeue_armed_ms = None;
                }
                let loop_due = self.due_times().into_iter().flatten().any(|t| t <= now);
                if self.deployments.expire(now)
                    | self.daemon_sets.expire(now)
                    | self.garbage_collector.expire(now)
                    | self.endpoints.expire(now)
                    | self.endpoint_slices.expire(now)
                    || loop_due
                {
                    self.defer_sync(ctx);
                }
                self.arm_requeue(ctx);
            }
            TIMER_RETRY => {
                for r in &mut self.reflectors {
                    r.retry_via(ctx, &mut self.next_request);
                }
            }
            _ => {}
        }
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![
            (
                "loops".into(),
                "replicaset, replicationcontroller, deployment, garbagecollector, namespace, endpoint, endpointslice, nodelifecycle, taint-eviction-controller, podgc, serviceaccount, root-ca-cert-publisher, daemonset"
                    .into(),
            ),
            ("replicasets".into(), self.replica_sets.count().to_string()),
            ("pods created".into(), self.replica_sets.created().to_string()),
            ("replicationcontrollers".into(), self.replication_controllers.count().to_string()),
            ("rc pods created".into(), self.replication_controllers.created().to_string()),
            ("deployments".into(), self.deployments.count().to_string()),
            ("replicasets created".into(), self.deployments.created().to_string()),
            ("gc graph nodes".into(), self.garbage_collector.nodes().len().to_string()),
            ("gc deletions".into(), self.garbage_collector.deleted().to_string()),
            ("namespaces finalized".into(), self.namespaces.finalized().to_string()),
            ("endpoints writes".into(), self.endpoints.writes().to_string()),
            ("endpointslice writes".into(), self.endpoint_slices.writes().to_string()),
            ("nodes marked unknown".into(), self.node_lifecycle.marked_unknown().to_string()),
            ("taint evictions".into(), self.taint_eviction.evicted().to_string()),
            ("pods collected".into(), self.pod_gc.deleted().to_string()),
            ("serviceaccounts created".into(), self.service_accounts.created().to_string()),
            ("root CA configmap writes".into(), self.root_ca_publisher.writes().to_string()),
            ("daemonsets".into(), self.daemon_sets.count().to_string()),
            ("daemon pods created".into(), self.daemon_sets.created().to_string()),
        ]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loop_owns_only_its_own_tags() {
        // A collision once routed the Endpoints controller's answers to the
        // garbage collector, and the Endpoints never followed their pods.
        let owners = |tag: u64| {
            [
                DeploymentController::owns(tag),
                NamespaceController::owns(tag),
                GarbageCollector::owns(tag),
                EndpointSliceController::owns(tag),
                EndpointsController::owns(tag),
                NodeLifecycleController::owns(tag),
                PodGcController::owns(tag),
                TaintEvictionController::owns(tag),
                ReplicaSetController::owns_rc_tag(tag),
                ServiceAccountsController::owns(tag),
                RootCaCertPublisher::owns(tag),
                DaemonSetsController::owns(tag),
            ]
            .iter()
            .filter(|o| **o)
            .count()
        };
        for base in [
            deployment::TAG_BASE,
            namespace::TAG_BASE,
            garbagecollector::TAG_BASE,
            endpointslice::TAG_BASE,
            endpoints::TAG_BASE,
            nodelifecycle::TAG_BASE,
            podgc::TAG_BASE,
            tainteviction::TAG_BASE,
        ] {
            assert_eq!(owners(base), 1, "tag {base:#x}");
            assert_eq!(owners(base + 1_000_000), 1, "tag {base:#x} + 1e6");
        }
        assert_eq!(owners(1_000), 0, "ReplicaSet tags belong to no other loop");
        for base in
            [replicaset::RC_TAG_BASE, serviceaccount::TAG_BASE, rootcacertpublisher::TAG_BASE, daemonset::TAG_BASE]
        {
            assert_eq!(owners(base + 1), 1, "tag {base:#x} + 1");
        }
        for n in 0..7 {
            assert!(in_loop_slot(loop_tag_base(n), loop_tag_base(n) + 5));
            assert!(!in_loop_slot(loop_tag_base(n), loop_tag_base(n + 1)));
        }
    }
}
