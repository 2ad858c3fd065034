//! `sim curl` and `sim nslookup`: a request from inside a pod (or from a
//! node), traced hop by hop through the cluster's own state at this
//! instant: the pod's resolver and CoreDNS, the source node's kube-proxy
//! rules (with kube-proxy's random endpoint choice from the seeded RNG, and
//! ClientIP affinity), and the backend container. The answer is what the
//! container serves (nginx's welcome page, http-echo's `-text`, ...);
//! failures read like curl's (`curl: (6) Could not resolve host`, `curl:
//! (7) Failed to connect ... Couldn't connect to server`).

use crate::coredns::{self, QueryType, Record};
use crate::kube_proxy::{pick_endpoint, KubeProxy};
use crate::kubelet::images::ImageRef;
use crate::kubelet::Kubelet;
use std::collections::BTreeMap;

/// nginx's default page (`/usr/share/nginx/html/index.html`, 615 bytes).
pub const NGINX_WELCOME: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\nbody { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n<a href=\"http://nginx.org/\">nginx.org</a>.<br/>\nCommercial support is available at\n<a href=\"http://nginx.com/\">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n";

/// Where a request starts.
pub struct Source<'a> {
    /// The node it leaves from.
    pub node: &'a str,
    /// Its IP (the pod's, or the node's).
    pub ip: String,
    /// The namespace for the search list (`None` from a node: no cluster search path).
    pub namespace: Option<String>,
}

/// The ClientIP affinity memory of each node's kernel: (node, client, chain) → (backend index key, expiry).
pub type Affinity = BTreeMap<(String, String, String), (String, u64)>;

/// The pod serving at `ip:port` on any node: (pod `ns/name`, container, image, args).
fn backend(kubelets: &[&Kubelet], ip: &str, port: u16) -> Result<(String, String, String, Vec<String>), ()> {
    for k in kubelets {
        for w in k.workers().values() {
            if w.ip.as_deref() != Some(ip) {
                continue;
            }
            return match w.server_on(port) {
                Some((c, image)) => {
                    Ok((format!("{}/{}", w.namespace, w.name), c.to_string(), image.to_string(), w.args_of(c)))
                }
                None => Err(()),
            };
        }
    }
    Err(())
}

/// What the container answers to `GET path`.
fn body(image: &str, args: &[String], pod: &str, pod_ip: &str) -> Result<String, String> {
    let repository = ImageRef::parse(image).map(|r| r.repository).unwrap_or_default();
    let name = pod.split('/').nth(1).unwrap_or(pod);
    Ok(match repository.rsplit('/').next().unwrap_or_default() {
        "nginx" => NGINX_WELCOME.to_string(),
        "httpd" => "<html><body><h1>It works!</h1></body></html>\n".to_string(),
        "http-echo" => {
            let text = args
                .iter()
                .find_map(|a| a.strip_prefix("-text=").or_else(|| a.strip_prefix("--text=")))
                .unwrap_or("hello-world");
            format!("{text}\n")
        }
        "whoami" => format!("Hostname: {name}\nIP: 127.0.0.1\nIP: {pod_ip}\n"),
        "agnhost" | "echo-server" | "echoserver" => name.to_string(),
        "hello-app" => format!("Hello, world!\nVersion: 1.0.0\nHostname: {name}\n"),
        _ => return Err("curl: (1) Received HTTP/0.9 when not allowed".into()),
    })
}

/// Runs `curl url` from `source`. `roll` draws below its argument from the
/// seeded RNG. Returns the trace and the answer, and whether it worked.
#[allow(clippy::too_many_arguments)]
pub fn curl(
    url: &str,
    source: &Source<'_>,
    dns: Option<&crate::coredns::CoreDns>,
    proxy: Option<&KubeProxy>,
    kubelets: &[&Kubelet],
    affinity: &mut Affinity,
    now_ms: u64,
    roll: &mut dyn FnMut(u64) -> u64,
) -> (String, bool) {
    let mut out = String::new();
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if url.starts_with("https://") {
        return ("curl: (35) kscope's containers serve plain HTTP only\n".into(), false);
    }
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => {
                return (
                    "curl: (3) URL rejected: Port number was not a decimal number between 0 and 65535\n".to_string(),
                    false,
                )
            }
        },
        None => (authority.to_string(), 80),
    };
    if host.is_empty() {
        return ("curl: (3) URL rejected: No host part in the URL\n".into(), false);
    }
    let is_ip = host.split('.').count() == 4 && host.split('.').all(|o| o.parse::<u8>().is_ok());
    let ip = if is_ip {
        host.clone()
    } else {
        let Some(dns) = dns else {
            return (format!("curl: (6) Could not resolve host: {host}\n"), false);
        };
        let namespace = source.namespace.clone();
        let answer = match &namespace {
            Some(ns) => dns.resolve(&host, ns, QueryType::A),
            None => dns.lookup(&host, QueryType::A).map(|r| (host.clone(), r)),
        };
        match answer {
            Ok((fqdn, records)) => match records.iter().find_map(|r| match r {
                Record::A(_, ip) => Some(ip.clone()),
                _ => None,
            }) {
                Some(ip) => {
                    out.push_str(&format!("* dns: {host} → {fqdn} A {ip} (kube-dns {})\n", coredns::DNS_SERVICE_IP));
                    ip
                }
                None => return (format!("{out}curl: (6) Could not resolve host: {host}\n"), false),
            },
            Err(rcode) => {
                out.push_str(&format!("* dns: {host} → {rcode} (kube-dns {})\n", coredns::DNS_SERVICE_IP));
                return (format!("{out}curl: (6) Could not resolve host: {host}\n"), false);
            }
        }
    };
    let node_addresses: Vec<String> = kubelets.iter().map(|k| k.address().to_string()).collect();
    let refused = |out: String| {
        (
            format!("{out}curl: (7) Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server\n"),
            false,
        )
    };
    let (target_ip, target_port) = match proxy
        .and_then(|p| p.rules().iter().find(|r| r.matches(&ip, port, &node_addresses)))
    {
        Some(rule) => {
            let n = rule.endpoints.len();
            out.push_str(&format!(
                "* {}: {ip}:{port}/{} → {} ({}, {n} endpoint{})\n",
                source.node,
                rule.protocol,
                rule.chain,
                rule.service_port,
                if n == 1 { "" } else { "s" }
            ));
            if n == 0 {
                out.push_str(&format!("* {}: {} has no endpoints: REJECT\n", source.node, rule.service_port));
                return refused(out);
            }
            let key = (source.node.to_string(), source.ip.clone(), rule.chain.clone());
            let sticky = rule.affinity_seconds.and_then(|_| affinity.get(&key)).filter(|(_, until)| *until > now_ms);
            let index = match sticky.and_then(|(chain, _)| rule.endpoints.iter().position(|e| e.chain == *chain)) {
                Some(i) => {
                    out.push_str(&format!(
                        "* {}: ClientIP affinity keeps {} on {}\n",
                        source.node, source.ip, rule.endpoints[i].chain
                    ));
                    i
                }
                None => {
                    let i = pick_endpoint(n, roll);
                    let chance = if i + 1 == n {
                        "the last rule, always".to_string()
                    } else {
                        format!("probability 1/{}", n - i)
                    };
                    out.push_str(&format!(
                        "* {}: {} → {} (endpoint {} of {n}, {chance})\n",
                        source.node,
                        rule.chain,
                        rule.endpoints[i].chain,
                        i + 1
                    ));
                    i
                }
            };
            if let Some(seconds) = rule.affinity_seconds {
                affinity.insert(key, (rule.endpoints[index].chain.clone(), now_ms + seconds * 1000));
            }
            let e = &rule.endpoints[index];
            out.push_str(&format!("* {}: DNAT to {}:{} (pod {} on {})\n", e.chain, e.ip, e.port, e.pod, e.node));
            (e.ip.clone(), e.port)
        }
        None => (ip.clone(), port),
    };
    let Ok((pod, _container, image, args)) = backend(kubelets, &target_ip, target_port) else {
        out.push_str(&format!("* nothing listens on {target_ip}:{target_port}\n"));
        return refused(out);
    };
    match body(&image, &args, &pod, &target_ip) {
        Ok(text) => {
            out.push_str(&format!("* {pod} answers GET {path}: HTTP/1.1 200 OK\n"));
            out.push_str(&text);
            (out, true)
        }
        Err(e) => (format!("{out}{e}\n"), false),
    }
}
