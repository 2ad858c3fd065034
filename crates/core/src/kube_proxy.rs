//! kube-proxy of one node, in iptables mode (pkg/proxy/iptables/proxier.go,
//! v1.32). It is the program of the node's kube-proxy DaemonSet pod (the
//! kubelet runs it while that container runs), so the node has Service rules
//! only while its kube-proxy pod is Running.
//!
//! It watches Services and EndpointSlices through kube-apiserver, as its
//! pod's ServiceAccount `kube-system:kube-proxy` (ClusterRole
//! `system:node-proxier` through kubeadm's `kubeadm:node-proxier`), and turns them
//! into the node's rules: for each service port a `KUBE-SVC-*` chain
//! reached from its ClusterIP (and NodePort), jumping to one `KUBE-SEP-*`
//! chain per endpoint, each a DNAT to the pod. Endpoint `i` of `n` is taken
//! with probability `1/(n-i)` (the `statistic --mode random` rules), so each
//! is equally likely. Ready endpoints are used; with none, the serving
//! terminating ones (ProxyTerminatingEndpoints); with none of those the
//! service port REJECTs. `sessionAffinity: ClientIP` sticks a client to its
//! endpoint for `timeoutSeconds` (default 10800) with the `recent` match.
//!
//! Rules are rewritten at most once per `--iptables-min-sync-period` (1 s)
//! after a change, and every `--iptables-sync-period` (30 s) regardless.
//! Chain names are kube-proxy's: `KUBE-SVC-` plus the first 16 base32
//! characters of sha256(`<ns>/<svc>:<port>` + `tcp`), `KUBE-SEP-` likewise
//! with the endpoint appended.

use crate::component::{Component, Context, Envelope};
use crate::duration::Duration;
use crate::message::Payload;
use crate::reflector::Reflector;
use crate::sha256::{base32, sha256};
use kscope_protocol::ComponentKind;
use serde_json::Value;
use std::collections::BTreeMap;

const TIMER_SYNC: u64 = 1;
const TIMER_HOUSEKEEPING: u64 = 2;
const TIMER_RETRY: u64 = 3;
/// `--iptables-min-sync-period`.
const MIN_SYNC_MS: u64 = 1_000;
/// `--iptables-sync-period`.
const SYNC_PERIOD_MS: u64 = 30_000;
/// `sessionAffinityConfig.clientIP.timeoutSeconds` default (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: u64 = 10_800;

const SERVICES: usize = 0;
const SLICES: usize = 1;

/// One endpoint of a service port, as its `KUBE-SEP-*` chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRule {
    /// `KUBE-SEP-...`.
    pub chain: String,
    /// Pod IP.
    pub ip: String,
    /// Target port.
    pub port: u16,
    /// The node it runs on.
    pub node: String,
    /// The pod (`namespace/name`), from the slice's targetRef.
    pub pod: String,
}

/// One service port's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRule {
    /// `namespace/name:port` (`namespace/name` for an unnamed port).
    pub service_port: String,
    /// `KUBE-SVC-...`.
    pub chain: String,
    /// The ClusterIP.
    pub cluster_ip: String,
    /// The service port.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The NodePort, if any.
    pub node_port: Option<u16>,
    /// Session affinity timeout when `sessionAffinity: ClientIP`.
    pub affinity_seconds: Option<u64>,
    /// The endpoints jumped to, in rule order; empty: REJECT.
    pub endpoints: Vec<EndpointRule>,
}

impl ServiceRule {
    /// Whether this rule catches traffic to `ip:port` (ClusterIP, or any
    /// node address on the NodePort).
    pub fn matches(&self, ip: &str, port: u16, node_addresses: &[String]) -> bool {
        (ip == self.cluster_ip && port == self.port)
            || self.node_port == Some(port) && node_addresses.iter().any(|a| a == ip)
    }
}

/// The first 16 base32 characters of sha256 of `text` (`portProtoHash`).
pub fn chain_hash(text: &str) -> String {
    base32(&sha256(text.as_bytes()))[..16].to_string()
}

/// The kube-proxy component.
#[derive(Debug)]
pub struct KubeProxy {
    node: String,
    reflectors: Vec<Reflector>,
    next_request: u64,
    rules: Vec<ServiceRule>,
    last_sync_ms: Option<u64>,
    sync_scheduled: bool,
    syncs: u64,
}

impl KubeProxy {
    /// The kube-proxy of `node`.
    pub fn new(node: &str) -> Self {
        KubeProxy {
            node: node.to_string(),
            reflectors: vec![
                Reflector::new("/api/v1/services", "!service.kubernetes.io/service-proxy-name", ""),
                Reflector::new(
                    "/apis/discovery.k8s.io/v1/endpointslices",
                    "!service.kubernetes.io/service-proxy-name",
                    "",
                ),
            ],
            next_request: 0,
            rules: Vec::new(),
            last_sync_ms: None,
            sync_scheduled: false,
            syncs: 0,
        }
    }

    /// The node's service rules as last written, sorted by service port.
    pub fn rules(&self) -> &[ServiceRule] {
        &self.rules
    }

    fn schedule_sync(&mut self, ctx: &mut Context<'_>) {
        if self.sync_scheduled {
            return;
        }
        self.sync_scheduled = true;
        let now = ctx.now_ms();
        match self.last_sync_ms {
            Some(last) if now < last + MIN_SYNC_MS => ctx.set_timer(last + MIN_SYNC_MS - now, TIMER_SYNC),
            _ => ctx.defer(TIMER_SYNC),
        }
    }

    /// `syncProxyRules`: the rules from the Services and EndpointSlices known now.
    fn sync_rules(&mut self, now: u64) {
        self.sync_scheduled = false;
        self.last_sync_ms = Some(now);
        self.syncs += 1;
        self.rules = compute_rules(self.reflectors[SERVICES].store(), self.reflectors[SLICES].store());
    }
}

/// The rules for `services` given `slices` (both keyed `namespace/name`).
pub fn compute_rules(services: &BTreeMap<String, Value>, slices: &BTreeMap<String, Value>) -> Vec<ServiceRule> {
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut rules = Vec::new();
    for svc in services.values() {
        let cluster_ip = s(svc, "/spec/clusterIP");
        if cluster_ip.is_empty() || cluster_ip == "None" || s(svc, "/spec/type") == "ExternalName" {
            continue;
        }
        let (namespace, name) = (s(svc, "/metadata/namespace"), s(svc, "/metadata/name"));
        let affinity_seconds = (s(svc, "/spec/sessionAffinity") == "ClientIP").then(|| {
            svc.pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        let own_slices: Vec<&Value> = slices
            .values()
            .filter(|sl| {
                s(sl, "/metadata/namespace") == namespace
                    && sl.pointer("/metadata/labels/kubernetes.io~1service-name").and_then(Value::as_str)
                        == Some(name.as_str())
                    && s(sl, "/addressType") != "IPv6"
            })
            .collect();
        for port in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
            let port_name = port.get("name").and_then(Value::as_str).unwrap_or_default();
            let protocol = port.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string();
            let service_port = if port_name.is_empty() {
                format!("{namespace}/{name}")
            } else {
                format!("{namespace}/{name}:{port_name}")
            };
            let lower = protocol.to_ascii_lowercase();
            // (ip, port, node, pod, ready, serving, terminating), deduplicated by ip:port.
            let mut candidates: BTreeMap<String, (String, u16, String, String, bool, bool)> = BTreeMap::new();
            for slice in &own_slices {
                let Some(target_port) = slice
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|p| p.get("name").and_then(Value::as_str).unwrap_or_default() == port_name)
                    .and_then(|p| p.get("port")?.as_u64())
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                for ep in slice.get("endpoints").and_then(Value::as_array).into_iter().flatten() {
                    let Some(ip) = ep.pointer("/addresses/0").and_then(Value::as_str) else { continue };
                    let flag = |f: &str, default: bool| {
                        ep.pointer(&format!("/conditions/{f}")).and_then(Value::as_bool).unwrap_or(default)
                    };
                    // Unset ready means ready; serving follows ready; terminating defaults to false.
                    let ready = flag("ready", true);
                    let serving = flag("serving", ready);
                    let terminating = flag("terminating", false);
                    let pod = format!("{}/{}", s(ep, "/targetRef/namespace"), s(ep, "/targetRef/name"));
                    candidates.insert(
                        format!("{ip}:{target_port}"),
                        (
                            ip.to_string(),
                            target_port,
                            s(ep, "/nodeName"),
                            pod,
                            ready && !terminating,
                            serving && terminating,
                        ),
                    );
                }
            }
            let ready: Vec<_> = candidates.values().filter(|c| c.4).collect();
            let chosen = if ready.is_empty() { candidates.values().filter(|c| c.5).collect() } else { ready };
            let endpoints = chosen
                .into_iter()
                .map(|(ip, port, node, pod, _, _)| EndpointRule {
                    chain: format!("KUBE-SEP-{}", chain_hash(&format!("{service_port}{lower}{ip}:{port}"))),
                    ip: ip.clone(),
                    port: *port,
                    node: node.clone(),
                    pod: pod.clone(),
                })
                .collect();
            rules.push(ServiceRule {
                chain: format!("KUBE-SVC-{}", chain_hash(&format!("{service_port}{lower}"))),
                service_port,
                cluster_ip: cluster_ip.clone(),
                port: port.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                protocol,
                node_port: port.get("nodePort").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()),
                affinity_seconds,
                endpoints,
            });
        }
    }
    rules.sort_by(|a, b| a.service_port.cmp(&b.service_port).then(a.port.cmp(&b.port)));
    rules
}

/// Which endpoint the `statistic --mode random --probability 1/(n-i)` rules
/// pick, given `roll(k)`: a uniform draw below `k`. Returns the index.
pub fn pick_endpoint(n: usize, roll: &mut dyn FnMut(u64) -> u64) -> usize {
    for i in 0..n.saturating_sub(1) {
        if roll((n - i) as u64) == 0 {
            return i;
        }
    }
    n.saturating_sub(1)
}

impl Component for KubeProxy {
    fn kind(&self) -> ComponentKind {
        ComponentKind::KubeProxy
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        *self = KubeProxy::new(&self.node);
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        for r in &mut self.reflectors {
            r.start_via(ctx, &mut self.next_request);
        }
        ctx.set_timer(1_000, TIMER_HOUSEKEEPING);
        ctx.set_timer(SYNC_PERIOD_MS, TIMER_SYNC);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else { return };
        let Some(i) = self.reflectors.iter().position(|r| r.owns(response.request_id)) else { return };
        let changes = self.reflectors[i].handle_via(ctx, &mut self.next_request, &response, TIMER_RETRY);
        if !changes.is_empty() && self.reflectors.iter().all(Reflector::has_synced) {
            self.schedule_sync(ctx);
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        match token {
            TIMER_SYNC => {
                let now = ctx.now_ms();
                if self.reflectors.iter().all(Reflector::has_synced) {
                    self.sync_rules(now);
                    ctx.record(format!("kube-proxy/{}: rules synced ({} service ports)", self.node, self.rules.len()));
                } else {
                    self.sync_scheduled = false;
                }
                if self.last_sync_ms == Some(now) || self.last_sync_ms.is_none() {
                    ctx.set_timer(SYNC_PERIOD_MS, TIMER_SYNC);
                }
            }
            TIMER_HOUSEKEEPING => {
                for r in &mut self.reflectors {
                    r.check_via(ctx, &mut self.next_request);
                }
                ctx.set_timer(1_000, TIMER_HOUSEKEEPING);
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
        let endpoints: usize = self.rules.iter().map(|r| r.endpoints.len()).sum();
        vec![
            ("service ports".into(), self.rules.len().to_string()),
            ("endpoints".into(), endpoints.to_string()),
            ("last sync".into(), self.last_sync_ms.map_or("never".into(), |ms| Duration::from_millis(ms).to_string())),
        ]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chain_names_are_kube_proxys() {
        // sha256("ns1/svc1:p80tcp") in base32, as pkg/proxy/iptables tests name it.
        let name = format!("KUBE-SVC-{}", chain_hash("ns1/svc1:p80tcp"));
        assert_eq!(name.len(), "KUBE-SVC-".len() + 16);
        assert_eq!(name, "KUBE-SVC-XPGD46QRK7WJZT7O");
        // pkg/proxy/iptables/proxier_test.go: the endpoint 10.180.0.1:80 of that port.
        assert_eq!(chain_hash("ns1/svc1:p80tcp10.180.0.1:80"), "SXIVWICOYRO3J4NJ");
    }

    #[test]
    fn each_endpoint_is_equally_likely() {
        // With rolls that always land on 0, the first endpoint is taken; with
        // rolls never 0, the last one.
        assert_eq!(pick_endpoint(3, &mut |_| 0), 0);
        assert_eq!(pick_endpoint(3, &mut |k| k - 1), 2);
        // Over every pair of draws (the first below 3, the second below 2,
        // all equally likely), each of 3 endpoints is taken 2 times in 6.
        let mut counts = [0u32; 3];
        for a in 0..3u64 {
            for b in 0..2u64 {
                let mut rolls = [a, b].into_iter();
                counts[pick_endpoint(3, &mut |_| rolls.next().unwrap())] += 1;
            }
        }
        assert_eq!(counts, [2, 2, 2]);
    }

    #[test]
    fn rules_take_ready_endpoints_then_serving_terminating_ones() {
        let services = BTreeMap::from([(
            "default/web".to_string(),
            json!({"metadata": {"namespace": "default", "name": "web"},
                "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}}),
        )]);
        let slice = |ready: bool, terminating: bool| {
            json!({"metadata": {"namespace": "default", "name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": ["10.244.1.3"], "conditions": {"ready": ready, "serving": true, "terminating": terminating}, "nodeName": "node-1",
                     "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}},
                    {"addresses": ["10.244.2.3"], "conditions": {"ready": false, "serving": false, "terminating": false}, "nodeName": "node-2",
                     "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-2"}}]})
        };
        let rules = compute_rules(&services, &BTreeMap::from([("default/web-abcde".to_string(), slice(true, false))]));
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].service_port, "default/web:http");
        assert_eq!(rules[0].endpoints.len(), 1);
        assert_eq!((rules[0].endpoints[0].ip.as_str(), rules[0].endpoints[0].port), ("10.244.1.3", 8080));
        assert!(rules[0].matches("172.18.0.3", 30080, &["172.18.0.3".to_string()]));
        let rules = compute_rules(&services, &BTreeMap::from([("default/web-abcde".to_string(), slice(false, true))]));
        assert_eq!(rules[0].endpoints.len(), 1, "a serving, terminating endpoint is the fallback");
        let rules = compute_rules(&services, &BTreeMap::new());
        assert!(rules[0].endpoints.is_empty(), "no endpoints: REJECT");
    }
}
