//! The cluster DNS addon: CoreDNS with kubeadm's Corefile (`kubernetes
//! cluster.local in-addr.arpa ip6.arpa { pods insecure ... }`), answering for
//! the `kube-dns` Service at 10.96.0.10. One server runs in each coredns pod
//! of the add-on's Deployment (the kubelet runs it as the container's
//! program, `coredns/<pod>`); a query reaches one of them through the source
//! node's kube-proxy rule for the Service.
//!
//! It watches Services and EndpointSlices through kube-apiserver (as the
//! `kube-system:coredns` ServiceAccount, ClusterRole `system:coredns`) and
//! answers like the kubernetes plugin (the DNS specification,
//! github.com/kubernetes/dns docs/specification.md):
//!
//! - `<svc>.<ns>.svc.cluster.local` A: the ClusterIP; for a headless
//!   Service, the addresses of its ready endpoints;
//! - `<hostname or a-b-c-d>.<svc>.<ns>.svc.cluster.local`: one endpoint of a
//!   headless Service;
//! - `_<port>._<proto>.<svc>.<ns>.svc.cluster.local` SRV for named ports;
//! - `<a-b-c-d>.<ns>.pod.cluster.local` A (`pods insecure`);
//! - ExternalName Services as a CNAME;
//! - other names are forwarded upstream, which a simulated cluster does
//!   not have: SERVFAIL. Not modelled: the 30 s answer cache.
//!
//! A pod resolves through `/etc/resolv.conf` with `search <ns>.svc.cluster.local
//! svc.cluster.local cluster.local` and `options ndots:5` ([`search_list`]).

use crate::component::{Component, Context, Envelope};
use crate::message::Payload;
use crate::reflector::Reflector;
use kscope_protocol::ComponentKind;
use serde_json::Value;

/// The cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The `kube-dns` Service's ClusterIP (the tenth address of 10.96.0.0/12, as kubeadm picks it).
pub const DNS_SERVICE_IP: &str = "10.96.0.10";

const TIMER_HOUSEKEEPING: u64 = 1;
const TIMER_RETRY: u64 = 2;
const SERVICES: usize = 0;
const SLICES: usize = 1;

/// A DNS answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `name A address`.
    A(String, String),
    /// `name CNAME target`.
    Cname(String, String),
    /// `name SRV priority weight port target`.
    Srv(String, u16, u16, u16, String),
}

/// A failed lookup's response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// The name does not exist.
    NxDomain,
    /// The server could not answer (no upstream for names outside the cluster).
    ServFail,
}

impl std::fmt::Display for Rcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::ServFail => "SERVFAIL",
        })
    }
}

/// The query type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    /// Addresses.
    A,
    /// Services.
    Srv,
}

/// The CoreDNS component.
#[derive(Debug)]
pub struct CoreDns {
    reflectors: Vec<Reflector>,
    next_request: u64,
    queries: u64,
}

impl Default for CoreDns {
    fn default() -> Self {
        CoreDns::new()
    }
}

/// The names a pod in `namespace` tries for `name`, in order (glibc's
/// resolver with `ndots:5` and the kubelet's search list).
pub fn search_list(name: &str, namespace: &str) -> Vec<String> {
    if let Some(absolute) = name.strip_suffix('.') {
        return vec![absolute.to_string()];
    }
    let searched: Vec<String> =
        [format!("{namespace}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.to_string()]
            .iter()
            .map(|domain| format!("{name}.{domain}"))
            .collect();
    if name.matches('.').count() >= 5 {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.into_iter().chain(std::iter::once(name.to_string())).collect()
    }
}

impl CoreDns {
    /// A CoreDNS with empty caches.
    pub fn new() -> Self {
        CoreDns {
            reflectors: vec![
                Reflector::new("/api/v1/services", "", ""),
                Reflector::new("/apis/discovery.k8s.io/v1/endpointslices", "", ""),
            ],
            next_request: 0,
            queries: 0,
        }
    }

    /// Whether both watches have listed.
    pub fn ready(&self) -> bool {
        self.reflectors.iter().all(Reflector::has_synced)
    }

    /// The ready endpoints of Service `ns/name`: (address, hostname).
    fn endpoints(&self, namespace: &str, name: &str) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = self.reflectors[SLICES]
            .store()
            .values()
            .filter(|s| {
                s.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace)
                    && s.pointer("/metadata/labels/kubernetes.io~1service-name").and_then(Value::as_str) == Some(name)
            })
            .flat_map(|s| s.get("endpoints").and_then(Value::as_array).cloned().unwrap_or_default())
            .filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool).unwrap_or(true))
            .filter_map(|e| {
                let ip = e.pointer("/addresses/0").and_then(Value::as_str)?.to_string();
                Some((ip, e.get("hostname").and_then(Value::as_str).map(str::to_string)))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.reflectors[SERVICES].store().get(&format!("{namespace}/{name}"))
    }

    /// Answers one fully qualified `name` (no trailing dot).
    pub fn lookup(&self, name: &str, qtype: QueryType) -> Result<Vec<Record>, Rcode> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let Some(local) = name.strip_suffix(&format!(".{CLUSTER_DOMAIN}")) else {
            // Forwarded upstream: a single label does not exist at the root;
            // anything else needs the internet, which a simulated cluster lacks.
            return Err(if name.contains('.') { Rcode::ServFail } else { Rcode::NxDomain });
        };
        let labels: Vec<&str> = local.split('.').collect();
        match labels.as_slice() {
            [ip, _ns, "pod"] if qtype == QueryType::A => {
                let dotted = ip.replace('-', ".");
                let valid = dotted.split('.').count() == 4 && dotted.split('.').all(|o| o.parse::<u8>().is_ok());
                if valid {
                    Ok(vec![Record::A(name.clone(), dotted)])
                } else {
                    Err(Rcode::NxDomain)
                }
            }
            [svc, ns, "svc"] => {
                let service = self.service(ns, svc).ok_or(Rcode::NxDomain)?;
                if qtype == QueryType::Srv {
                    return self.srv_all(&name, ns, svc, service);
                }
                let spec = |f: &str| service.pointer(&format!("/spec/{f}")).and_then(Value::as_str).unwrap_or_default();
                if spec("type") == "ExternalName" {
                    return Ok(vec![Record::Cname(name.clone(), spec("externalName").to_string())]);
                }
                if spec("clusterIP") == "None" {
                    let records: Vec<Record> =
                        self.endpoints(ns, svc).into_iter().map(|(ip, _)| Record::A(name.clone(), ip)).collect();
                    return if records.is_empty() { Err(Rcode::NxDomain) } else { Ok(records) };
                }
                Ok(vec![Record::A(name.clone(), spec("clusterIP").to_string())])
            }
            [endpoint, svc, ns, "svc"] if !endpoint.starts_with('_') => {
                let service = self.service(ns, svc).ok_or(Rcode::NxDomain)?;
                if service.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None") {
                    return Err(Rcode::NxDomain);
                }
                self.endpoints(ns, svc)
                    .into_iter()
                    .find(|(ip, host)| host.as_deref() == Some(*endpoint) || ip.replace('.', "-") == *endpoint)
                    .map(|(ip, _)| vec![Record::A(name.clone(), ip)])
                    .ok_or(Rcode::NxDomain)
            }
            [port, proto, svc, ns, "svc"] if qtype == QueryType::Srv => {
                let service = self.service(ns, svc).ok_or(Rcode::NxDomain)?;
                let (port, proto) =
                    (port.strip_prefix('_').ok_or(Rcode::NxDomain)?, proto.strip_prefix('_').ok_or(Rcode::NxDomain)?);
                let records: Vec<Record> = self
                    .srv_all(&format!("{svc}.{ns}.svc.{CLUSTER_DOMAIN}"), ns, svc, service)?
                    .into_iter()
                    .filter(|r| matches!(r, Record::Srv(n, ..) if n.starts_with(&format!("_{port}._{proto}."))))
                    .collect();
                if records.is_empty() {
                    Err(Rcode::NxDomain)
                } else {
                    Ok(records)
                }
            }
            _ => Err(Rcode::NxDomain),
        }
    }

    /// SRV records of every named port of a Service (`base` is its name).
    fn srv_all(&self, base: &str, ns: &str, svc: &str, service: &Value) -> Result<Vec<Record>, Rcode> {
        let headless = service.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
        let mut out = Vec::new();
        for port in service.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
            let Some(port_name) = port.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                continue;
            };
            let proto = port.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_ascii_lowercase();
            let owner = format!("_{port_name}._{proto}.{base}");
            let number = port.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
            if headless {
                let endpoints = self.endpoints(ns, svc);
                let weight = if endpoints.is_empty() { 0 } else { (100 / endpoints.len()) as u16 };
                for (ip, host) in endpoints {
                    let label = host.unwrap_or_else(|| ip.replace('.', "-"));
                    out.push(Record::Srv(owner.clone(), 0, weight, number, format!("{label}.{base}.")));
                }
            } else {
                out.push(Record::Srv(owner, 0, 100, number, format!("{base}.")));
            }
        }
        if out.is_empty() {
            Err(Rcode::NxDomain)
        } else {
            Ok(out)
        }
    }

    /// Resolves `name` for a pod in `namespace`, walking its search list.
    /// Returns the name that answered and its records.
    pub fn resolve(&self, name: &str, namespace: &str, qtype: QueryType) -> Result<(String, Vec<Record>), Rcode> {
        let mut last = Rcode::NxDomain;
        for candidate in search_list(name, namespace) {
            match self.lookup(&candidate, qtype) {
                Ok(records) => return Ok((candidate, records)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Counts a query (for the UI).
    pub fn count_query(&mut self) {
        self.queries += 1;
    }
}

/// What bind's `nslookup` prints for an answer or a failure.
pub fn nslookup_text(name: &str, answer: &Result<(String, Vec<Record>), Rcode>) -> String {
    let mut out = format!("Server:\t\t{DNS_SERVICE_IP}\nAddress:\t{DNS_SERVICE_IP}#53\n\n");
    match answer {
        Ok((_, records)) => {
            for r in records {
                match r {
                    Record::A(owner, ip) => out.push_str(&format!("Name:\t{owner}\nAddress: {ip}\n")),
                    Record::Cname(owner, target) => out.push_str(&format!("{owner}\tcanonical name = {target}.\n")),
                    Record::Srv(owner, p, w, port, target) => {
                        out.push_str(&format!("{owner}\tservice = {p} {w} {port} {target}\n"))
                    }
                }
            }
        }
        Err(rcode) => out.push_str(&format!("** server can't find {name}: {rcode}\n")),
    }
    out.push('\n');
    out
}

impl Component for CoreDns {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Dns
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        *self = CoreDns::new();
        self.next_request = ctx.now_ms().saturating_mul(1_000_000);
        for r in &mut self.reflectors {
            r.start_via(ctx, &mut self.next_request);
        }
        ctx.set_timer(1_000, TIMER_HOUSEKEEPING);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else { return };
        if let Some(i) = self.reflectors.iter().position(|r| r.owns(response.request_id)) {
            self.reflectors[i].handle_via(ctx, &mut self.next_request, &response, TIMER_RETRY);
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        match token {
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
        vec![
            ("services".into(), self.reflectors[SERVICES].store().len().to_string()),
            ("queries".into(), self.queries.to_string()),
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
    fn the_search_list_follows_ndots_5() {
        assert_eq!(
            search_list("web", "prod"),
            ["web.prod.svc.cluster.local", "web.svc.cluster.local", "web.cluster.local", "web"]
        );
        assert_eq!(search_list("web.default.svc.cluster.local.", "prod"), ["web.default.svc.cluster.local"]);
        assert_eq!(search_list("a.b.c.d.e.f", "x")[0], "a.b.c.d.e.f");
    }

    #[test]
    fn nslookup_prints_like_bind() {
        let ok = Ok((
            "web.default.svc.cluster.local".to_string(),
            vec![Record::A("web.default.svc.cluster.local".into(), "10.96.0.50".into())],
        ));
        assert_eq!(
            nslookup_text("web", &ok),
            "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tweb.default.svc.cluster.local\nAddress: 10.96.0.50\n\n"
        );
        assert!(nslookup_text("nope", &Err(Rcode::NxDomain)).ends_with("** server can't find nope: NXDOMAIN\n\n"));
    }
}
