//! Service traffic end to end: a Deployment behind a Service, reached with
//! `sim curl` from a pod through CoreDNS, the source node's kube-proxy
//! rules and the backend container; `sim nslookup` answers. 3,000 requests
//! spread over 3 backends within a chi-square bound (kube-proxy's
//! `1/(n-i)` rules make each endpoint equally likely), ClientIP affinity
//! sticks, a Service without ready endpoints refuses connections, and names
//! that do not exist get NXDOMAIN.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use std::collections::BTreeMap;

mod common;

fn cluster() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(&mut c, "kubectl create deployment web --image=nginx --replicas=3");
    common::ok(&mut c, "kubectl expose deployment web --port=80");
    common::ok(&mut c, "kubectl run client --image=busybox -- sleep 3600");
    c.advance(Duration::from_secs(8)).unwrap();
    c
}

/// The backend pod a `sim curl` trace says it reached.
fn backend(trace: &str) -> String {
    let line = trace.lines().find(|l| l.contains(" answers GET ")).unwrap_or_else(|| panic!("{trace}"));
    line.trim_start_matches("* ").split_whitespace().next().unwrap().to_string()
}

#[test]
fn curl_spreads_requests_evenly_over_the_backends() {
    let mut c = cluster();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..3_000 {
        let out = common::ok(&mut c, "sim curl client http://web");
        assert!(out.contains("<title>Welcome to nginx!</title>"), "{out}");
        *counts.entry(backend(&out)).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    // Chi-square with 2 degrees of freedom: 13.8 is the 0.1% critical value.
    let chi2: f64 = counts.values().map(|&n| (f64::from(n) - 1000.0).powi(2) / 1000.0).sum();
    assert!(chi2 < 13.8, "chi-square {chi2} for {counts:?}");
}

#[test]
fn the_trace_shows_each_hop() {
    let mut c = cluster();
    let out = common::ok(&mut c, "sim curl client http://web.default:80/");
    let ip = common::json(&mut c, "kubectl get svc web -o json")["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(
        out.starts_with(&format!("* dns: web.default → web.default.svc.cluster.local A {ip} (kube-dns 10.96.0.10)\n")),
        "{out}"
    );
    assert!(out.contains(&format!("{ip}:80/TCP → KUBE-SVC-")), "{out}");
    assert!(out.contains("(default/web, 3 endpoints)"), "{out}");
    assert!(out.contains(": DNAT to 10.244."), "{out}");
    // A pod IP is reached directly, without kube-proxy.
    let pod_ip = common::json(&mut c, "kubectl get pods -l app=web -o json")["items"][0]["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    let direct = common::ok(&mut c, &format!("sim curl client http://{pod_ip}"));
    assert!(!direct.contains("KUBE-SVC"), "{direct}");
    assert!(direct.contains("answers GET /"), "{direct}");
}

#[test]
fn failures_read_like_curl() {
    let mut c = cluster();
    let out = common::run(&mut c, "sim curl client http://nope");
    assert!(!out.ok);
    assert!(out.text.ends_with("curl: (6) Could not resolve host: nope\n"), "{}", out.text);
    // Nothing listens on 8080 in nginx.
    let ip = common::json(&mut c, "kubectl get pods -l app=web -o json")["items"][0]["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    let out = common::run(&mut c, &format!("sim curl client http://{ip}:8080"));
    assert!(
        out.text.ends_with(&format!(
            "curl: (7) Failed to connect to {ip} port 8080 after 0 ms: Couldn't connect to server\n"
        )),
        "{}",
        out.text
    );
    // No endpoints: kube-proxy's REJECT.
    common::ok(&mut c, "kubectl scale deployment web --replicas=0");
    c.advance(Duration::from_secs(5)).unwrap();
    let out = common::run(&mut c, "sim curl client http://web");
    assert!(!out.ok);
    assert!(out.text.contains("default/web has no endpoints: REJECT"), "{}", out.text);
    assert!(out.text.ends_with("curl: (7) Failed to connect to web port 80 after 0 ms: Couldn't connect to server\n"));
    let out = common::run(&mut c, "sim curl ghost http://web");
    assert_eq!(out.text, "Error from server (NotFound): pods \"ghost\" not found\n");
}

#[test]
fn client_ip_affinity_sticks_to_one_backend() {
    let mut c = cluster();
    common::ok(&mut c, "kubectl patch svc web -p '{\"spec\":{\"sessionAffinity\":\"ClientIP\"}}'");
    c.advance(Duration::from_secs(2)).unwrap();
    let first = backend(&common::ok(&mut c, "sim curl client http://web"));
    for _ in 0..30 {
        let out = common::ok(&mut c, "sim curl client http://web");
        assert_eq!(backend(&out), first);
    }
}

#[test]
fn nslookup_answers_a_srv_and_nxdomain() {
    let mut c = cluster();
    let ip = common::json(&mut c, "kubectl get svc web -o json")["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert_eq!(
        common::ok(&mut c, "sim nslookup client web"),
        format!(
            "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tweb.default.svc.cluster.local\nAddress: {ip}\n\n"
        )
    );
    assert!(common::ok(&mut c, "sim nslookup client kubernetes.default").contains("Address: 10.96.0.1\n"));
    let out = common::run(&mut c, "sim nslookup client nope");
    assert!(!out.ok);
    assert!(out.text.ends_with("** server can't find nope: NXDOMAIN\n\n"), "{}", out.text);
    // A named port gets an SRV record; a headless Service answers with its pods.
    common::ok(&mut c, "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Service\nmetadata: {name: web-headless}\nspec:\n  clusterIP: None\n  selector: {app: web}\n  ports: [{name: http, port: 80}]\nEOF");
    c.advance(Duration::from_secs(2)).unwrap();
    let srv = common::ok(&mut c, "sim nslookup client _http._tcp.web-headless -type=srv");
    assert_eq!(srv.matches("\tservice = 0 33 80 10-244-").count(), 3, "{srv}");
    let headless = common::ok(&mut c, "sim nslookup client web-headless");
    assert_eq!(headless.matches("Address: 10.244.").count(), 3, "{headless}");
}
