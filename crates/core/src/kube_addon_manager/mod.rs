//! kube-addon-manager: keeps the cluster's add-ons applied, as
//! cluster/addons/addon-manager/kube-addons.sh does.
//!
//! It talks only to kube-apiserver, as user `system:addon-manager` in
//! `system:masters` (the token cluster/gce/gci/configure-helper.sh gives it),
//! and works like the script: it waits until the `default` ServiceAccount of
//! `kube-system` exists (polling every 0.5 s), then every
//! `ADDON_CHECK_INTERVAL_SEC` (60 s, `${TEST_ADDON_CHECK_INTERVAL_SEC:-60}`)
//! runs one pass, its two kubectl commands in order:
//!
//! - `ensure_addons`: `kubectl create -l addonmanager.kubernetes.io/mode=EnsureExists`:
//!   each EnsureExists object is created if missing; `AlreadyExists` is
//!   ignored, so an edited one is left alone.
//! - `reconcile_addons`: `kubectl apply --prune -l addonmanager.kubernetes.io/mode=Reconcile`
//!   with the script's prune allow-list: each Reconcile object is applied
//!   client-side (kscope's kubectl apply: the last-applied annotation and a
//!   three-way merge patch), so a deleted one is created again and an edit
//!   to a field the manifest sets is reverted; then objects of the
//!   allow-listed kinds that carry the Reconcile label and the last-applied
//!   annotation but are no longer in the manifests are deleted (pruned), in
//!   the namespaces the manifests name (kubectl's visited namespaces).
//!
//! A pass waits for each answer before the next request, as kubectl does,
//! and gives up on one after 65 s (the pass is then over). What each pass
//! did goes into the trace in kubectl's words (`deployment.apps/coredns
//! created`, `... configured`, `... pruned`). Objects without the mode label
//! are never touched, as in the script; the deprecated
//! `kubernetes.io/cluster-service` label alone is not honoured.
//!
//! Without `spec.addons` in the scenario, the add-ons are kubeadm's CoreDNS
//! and kube-proxy ([`DEFAULT_ADDONS`]).

use crate::apimachinery::request::with_query;
use crate::apimachinery::resources::{self, Resource};
use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::duration::Duration;
use crate::kube_apiserver::patch::MERGE_PATCH;
use crate::kubectl::printers::kind_prefix;
use crate::kubectl::{three_way_patch, with_last_applied, LAST_APPLIED};
use crate::message::{ApiRequest, Method, Payload};
use kscope_protocol::ComponentKind;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, VecDeque};

/// The default add-ons: kubeadm's CoreDNS and kube-proxy, labelled for the addon manager.
pub const DEFAULT_ADDONS: &[&str] = &[include_str!("coredns.yaml"), include_str!("kube-proxy.yaml")];

/// `ADDON_CHECK_INTERVAL_SEC` (cluster/addons/addon-manager/kube-addons.sh: 60).
pub const ADDON_CHECK_INTERVAL_MS: u64 = 60_000;
/// How often the script looks for the `default` ServiceAccount before its first pass.
const SERVICE_ACCOUNT_POLL_MS: u64 = 500;
/// How long a request may take before the pass gives up on it.
const REQUEST_TIMEOUT_MS: u64 = 65_000;
/// The label that puts an object under the addon manager.
pub const MODE_LABEL: &str = "addonmanager.kubernetes.io/mode";
/// `KUBECTL_PRUNE_WHITELIST` in kube-addons.sh, as (apiVersion, kind); kinds
/// kscope does not serve are skipped.
const PRUNE_ALLOW_LIST: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Endpoints"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "PersistentVolume"),
    ("v1", "Pod"),
    ("v1", "ReplicationController"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("networking.k8s.io/v1", "Ingress"),
];

const TIMER_PASS: u64 = 1;
const TIMER_TIMEOUT: u64 = 2;

/// What the addon manager does with an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Applied every pass: recreated, edits reverted, pruned when gone from the manifests.
    Reconcile,
    /// Created when missing, otherwise left alone.
    EnsureExists,
}

/// One object of an add-on manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Addon {
    resource: &'static Resource,
    namespace: Option<String>,
    name: String,
    object: Value,
    mode: Option<Mode>,
}

impl Addon {
    /// The objects of one manifest text (`---`-separated YAML documents);
    /// `source` names it in errors, which read like kubectl's.
    pub fn parse_all(text: &str, source: &str) -> Result<Vec<Addon>, String> {
        let mut out = Vec::new();
        for m in crate::kubectl::read_manifests(text, source)? {
            let s = |p: &str| m.object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
            let Some(resource) = resources::by_kind(&api_version, &kind) else {
                return Err(format!(
                    "{source}: resource mapping not found for name: {name:?} namespace: {:?} from {source:?}: no matches for kind {kind:?} in version {api_version:?}",
                    s("/metadata/namespace")
                ));
            };
            if name.is_empty() {
                return Err(format!("{source}: {kind}: metadata.name: Required value: name is required"));
            }
            let namespace = resource.namespaced.then(|| match s("/metadata/namespace") {
                ns if ns.is_empty() => "default".to_string(),
                ns => ns,
            });
            let mode = match m.object.pointer(&format!("/metadata/labels/{}", MODE_LABEL.replace('/', "~1"))) {
                Some(Value::String(v)) if v == "Reconcile" => Some(Mode::Reconcile),
                Some(Value::String(v)) if v == "EnsureExists" => Some(Mode::EnsureExists),
                _ => None,
            };
            out.push(Addon { resource, namespace, name, object: m.object, mode });
        }
        Ok(out)
    }

    fn path(&self) -> String {
        self.resource.object_path(self.namespace.as_deref(), &self.name)
    }

    fn reference(&self) -> String {
        format!("{}/{}", kind_prefix(self.resource), self.name)
    }
}

/// One request of a pass.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// `kubectl get -n kube-system serviceaccount default`, before the first pass.
    FindServiceAccount,
    /// `kubectl create` of an EnsureExists object.
    Ensure(usize),
    /// The GET with which apply starts for a Reconcile object.
    Get(usize),
    /// Apply's create, when the GET found nothing.
    Create(usize),
    /// Apply's patch.
    Patch(usize),
    /// The prune list of one kind in one namespace (`None`: cluster-scoped).
    List(&'static Resource, Option<String>),
    /// A pruned object's delete.
    Delete(&'static Resource, Option<String>, String),
}

/// The kube-addon-manager component.
#[derive(Debug)]
pub struct KubeAddonManager {
    addons: Vec<Addon>,
    next_request: u64,
    /// Requests of the pass still to send.
    queue: VecDeque<Step>,
    /// (request id, step, when sent).
    in_flight: Option<(u64, Step, u64)>,
    found_service_account: bool,
    pass_started_ms: u64,
    passes: u64,
    /// Objects this pass applied, as (resource plural, namespace, name), for pruning.
    applied: BTreeSet<(&'static str, Option<String>, String)>,
    /// What the last finished pass did.
    last_actions: usize,
}

impl KubeAddonManager {
    /// An addon manager for the manifests `texts` (each YAML, already
    /// checked by the scenario's validation; unreadable ones are skipped).
    pub fn new(texts: &[String]) -> Self {
        let addons = texts
            .iter()
            .enumerate()
            .flat_map(|(i, t)| Addon::parse_all(t, &format!("spec.addons[{i}]")).unwrap_or_default())
            .collect();
        KubeAddonManager {
            addons,
            next_request: 0,
            queue: VecDeque::new(),
            in_flight: None,
            found_service_account: false,
            pass_started_ms: 0,
            passes: 0,
            applied: BTreeSet::new(),
            last_actions: 0,
        }
    }

    /// The add-on objects it manages.
    pub fn addons(&self) -> &[Addon] {
        &self.addons
    }

    fn send(&mut self, ctx: &mut Context<'_>, step: Step) {
        let (method, path, body, content_type) = match &step {
            Step::FindServiceAccount => {
                (Method::Get, "/api/v1/namespaces/kube-system/serviceaccounts/default".to_string(), None, None)
            }
            Step::Ensure(i) => {
                let a = &self.addons[*i];
                let mut object = a.object.clone();
                if let Some(ns) = &a.namespace {
                    object["metadata"]["namespace"] = Value::String(ns.clone());
                }
                let path = a.resource.collection_path(a.namespace.as_deref());
                (Method::Post, with_query(&path, &[("fieldValidation", "Strict")]), Some(object), None)
            }
            Step::Get(i) => (Method::Get, self.addons[*i].path(), None, None),
            Step::Create(i) => {
                let a = &self.addons[*i];
                let path = a.resource.collection_path(a.namespace.as_deref());
                let desired = with_last_applied(&a.object, a.namespace.as_deref());
                (Method::Post, with_query(&path, &[("fieldValidation", "Strict")]), Some(desired), None)
            }
            Step::Patch(_) => unreachable!("patches are sent by send_patch"),
            Step::List(r, ns) => {
                let selector = format!("{MODE_LABEL}=Reconcile");
                (
                    Method::Get,
                    with_query(&r.collection_path(ns.as_deref()), &[("labelSelector", &selector)]),
                    None,
                    None,
                )
            }
            Step::Delete(r, ns, name) => (Method::Delete, r.object_path(ns.as_deref(), name), None, None),
        };
        let mut request = ApiRequest::new(0, method, path);
        request.body = body;
        request.content_type = content_type;
        self.send_request(ctx, request, step);
    }

    fn send_request(&mut self, ctx: &mut Context<'_>, mut request: ApiRequest, step: Step) {
        self.next_request += 1;
        request.request_id = self.next_request;
        self.in_flight = Some((self.next_request, step, ctx.now_ms()));
        ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
        ctx.set_timer(REQUEST_TIMEOUT_MS, TIMER_TIMEOUT);
    }

    /// Starts a pass: ensure, then apply, then prune.
    fn start_pass(&mut self, ctx: &mut Context<'_>) {
        self.pass_started_ms = ctx.now_ms();
        self.passes += 1;
        self.applied.clear();
        self.last_actions = 0;
        let mode = |m: Mode| self.addons.iter().enumerate().filter(move |(_, a)| a.mode == Some(m)).map(|(i, _)| i);
        let mut queue: VecDeque<Step> = mode(Mode::EnsureExists).map(Step::Ensure).collect();
        queue.extend(mode(Mode::Reconcile).map(Step::Get));
        let visited: BTreeSet<String> =
            mode(Mode::Reconcile).filter_map(|i| self.addons[i].namespace.clone()).collect();
        for (api_version, kind) in PRUNE_ALLOW_LIST {
            let Some(r) = resources::by_kind(api_version, kind) else { continue };
            if r.namespaced {
                queue.extend(visited.iter().map(|ns| Step::List(r, Some(ns.clone()))));
            } else {
                queue.push_back(Step::List(r, None));
            }
        }
        self.queue = queue;
        self.next(ctx);
    }

    /// Sends the pass's next request, or ends the pass.
    fn next(&mut self, ctx: &mut Context<'_>) {
        match self.queue.pop_front() {
            Some(step) => self.send(ctx, step),
            None => self.end_pass(ctx),
        }
    }

    fn end_pass(&mut self, ctx: &mut Context<'_>) {
        self.in_flight = None;
        self.queue.clear();
        let now = ctx.now_ms();
        // kube-addons.sh sleeps what is left of the interval.
        let next = (self.pass_started_ms + ADDON_CHECK_INTERVAL_MS).max(now + 1);
        ctx.set_timer(next - now, TIMER_PASS);
    }

    fn action(&mut self, ctx: &mut Context<'_>, what: String) {
        self.last_actions += 1;
        ctx.record(format!("kube-addon-manager: {what}"));
    }

    fn answer(&mut self, ctx: &mut Context<'_>, step: Step, code: u16, body: Option<Value>) {
        match step {
            Step::FindServiceAccount => {
                if code == 200 {
                    self.found_service_account = true;
                    ctx.record("kube-addon-manager: found the default service account in kube-system");
                    self.start_pass(ctx);
                } else {
                    ctx.set_timer(SERVICE_ACCOUNT_POLL_MS, TIMER_PASS);
                }
                return;
            }
            Step::Ensure(i) if code == 201 => {
                let what = format!("{} created", self.addons[i].reference());
                self.action(ctx, what);
            }
            Step::Get(i) => match (code, body) {
                (404, _) => {
                    self.send(ctx, Step::Create(i));
                    return;
                }
                (200, Some(live)) => {
                    let a = &self.addons[i];
                    self.applied.insert((a.resource.plural, a.namespace.clone(), a.name.clone()));
                    let desired = with_last_applied(&a.object, a.namespace.as_deref());
                    let original: Value = live
                        .pointer("/metadata/annotations")
                        .and_then(|m| m.get(LAST_APPLIED))
                        .and_then(Value::as_str)
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or(Value::Null);
                    let patch = three_way_patch(&original, &desired, &live);
                    if !patch.as_object().is_some_and(Map::is_empty) {
                        let path = with_query(&a.path(), &[("fieldValidation", "Strict")]);
                        let mut request = ApiRequest::new(0, Method::Patch, path).with_body(patch);
                        request.content_type = Some(MERGE_PATCH.to_string());
                        self.send_request(ctx, request, Step::Patch(i));
                        return;
                    }
                }
                _ => {}
            },
            Step::Create(i) if code == 201 => {
                let a = &self.addons[i];
                self.applied.insert((a.resource.plural, a.namespace.clone(), a.name.clone()));
                let what = format!("{} created", a.reference());
                self.action(ctx, what);
            }
            Step::Patch(i) if code == 200 => {
                let what = format!("{} configured", self.addons[i].reference());
                self.action(ctx, what);
            }
            Step::List(r, ns) if code == 200 => {
                for item in body.as_ref().and_then(|b| b.get("items")).and_then(Value::as_array).into_iter().flatten() {
                    let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    let annotated = item.pointer("/metadata/annotations").and_then(|a| a.get(LAST_APPLIED)).is_some();
                    let deleting = item.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
                    if annotated && !deleting && !self.applied.contains(&(r.plural, ns.clone(), name.to_string())) {
                        self.queue.push_back(Step::Delete(r, ns.clone(), name.to_string()));
                    }
                }
            }
            Step::Delete(r, _, name) if code == 200 || code == 202 => {
                self.action(ctx, format!("{}/{name} pruned", kind_prefix(r)));
            }
            // kubectl reports the error and goes on with the next object.
            _ => {}
        }
        self.next(ctx);
    }
}

impl Component for KubeAddonManager {
    fn kind(&self) -> ComponentKind {
        ComponentKind::AddonManager
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        self.queue.clear();
        self.in_flight = None;
        self.found_service_account = false;
        self.send(ctx, Step::FindServiceAccount);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else { return };
        if self.in_flight.as_ref().map(|f| f.0) != Some(response.request_id) {
            return;
        }
        let Some((_, step, _)) = self.in_flight.take() else { return };
        self.answer(ctx, step, response.code, response.body);
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let now = ctx.now_ms();
        match token {
            TIMER_PASS if self.in_flight.is_none() => {
                if self.found_service_account {
                    self.start_pass(ctx);
                } else {
                    self.send(ctx, Step::FindServiceAccount);
                }
            }
            TIMER_TIMEOUT => {
                let Some((_, step, sent)) = &self.in_flight else { return };
                if now < sent + REQUEST_TIMEOUT_MS {
                    return;
                }
                ctx.record("kube-addon-manager: a request timed out; the pass is abandoned");
                if *step == Step::FindServiceAccount {
                    self.in_flight = None;
                    ctx.set_timer(SERVICE_ACCOUNT_POLL_MS, TIMER_PASS);
                } else {
                    self.end_pass(ctx);
                }
            }
            _ => {}
        }
    }

    fn details(&self) -> Vec<(String, String)> {
        let last = if self.passes == 0 {
            "never".to_string()
        } else {
            Duration::from_millis(self.pass_started_ms).to_string()
        };
        vec![
            ("add-on objects".into(), self.addons.len().to_string()),
            ("passes".into(), self.passes.to_string()),
            ("last pass".into(), last),
            ("changes in last pass".into(), self.last_actions.to_string()),
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
    fn the_default_addons_are_kubeadms_with_their_modes() {
        let addons: Vec<Addon> = DEFAULT_ADDONS
            .iter()
            .enumerate()
            .flat_map(|(i, t)| Addon::parse_all(t, &format!("default[{i}]")).unwrap())
            .collect();
        let listed: Vec<(String, Option<Mode>)> = addons.iter().map(|a| (a.reference(), a.mode)).collect();
        use Mode::*;
        assert_eq!(
            listed,
            [
                ("serviceaccount/coredns".to_string(), Some(Reconcile)),
                ("clusterrole.rbac.authorization.k8s.io/system:coredns".into(), Some(Reconcile)),
                ("clusterrolebinding.rbac.authorization.k8s.io/system:coredns".into(), Some(EnsureExists)),
                ("configmap/coredns".into(), Some(EnsureExists)),
                ("deployment.apps/coredns".into(), Some(Reconcile)),
                ("service/kube-dns".into(), Some(Reconcile)),
                ("serviceaccount/kube-proxy".into(), Some(Reconcile)),
                ("clusterrolebinding.rbac.authorization.k8s.io/kubeadm:node-proxier".into(), Some(Reconcile)),
                ("role.rbac.authorization.k8s.io/kube-proxy".into(), Some(Reconcile)),
                ("rolebinding.rbac.authorization.k8s.io/kube-proxy".into(), Some(Reconcile)),
                ("configmap/kube-proxy".into(), Some(EnsureExists)),
                ("daemonset.apps/kube-proxy".into(), Some(Reconcile)),
            ]
        );
    }

    #[test]
    fn unknown_kinds_are_refused_in_kubectls_words() {
        let e = Addon::parse_all("apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n", "spec.addons[0]").unwrap_err();
        assert!(e.contains("no matches for kind \"Gadget\" in version \"v1\""), "{e}");
    }
}
