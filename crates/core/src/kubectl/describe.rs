//! `kubectl describe`, after staging/src/k8s.io/kubectl/pkg/describe/describe.go:
//! the same sections and labels, laid out by Go's text/tabwriter with
//! padding 2 (`tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`).

use crate::apimachinery::labels::{labels_of, string_map};
use crate::apimachinery::resources::Resource;
use crate::apimachinery::time::{age, human_duration, parse_rfc3339};
use serde_json::Value;
use std::fmt::Write;

/// Go's text/tabwriter: a cell ends at a tab; a column is aligned over each
/// run of consecutive lines that have a cell in it, as wide as its widest
/// cell plus `padding`.
pub fn tabwriter(text: &str, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|c| vec![0; c.len() - 1]).collect();
    // Go's recursive block formatting, with an explicit stack (a line may have
    // many cells).
    let mut stack = vec![(0usize, 0usize, lines.len())];
    while let Some((col, start, end)) = stack.pop() {
        let mut i = start;
        while i < end {
            if lines[i].len() - 1 > col {
                let mut j = i;
                let mut w = 0;
                while j < end && lines[j].len() - 1 > col {
                    w = w.max(lines[j][col].chars().count() + padding);
                    j += 1;
                }
                for row in widths.iter_mut().take(j).skip(i) {
                    row[col] = w;
                }
                stack.push((col + 1, i, j));
                i = j;
            } else {
                i += 1;
            }
        }
    }
    let mut out = String::new();
    for (n, (cells, w)) in lines.iter().zip(&widths).enumerate() {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < w.len() {
                out.push_str(&" ".repeat(w[i].saturating_sub(cell.chars().count())));
            }
        }
        if n + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// `key=value` lines, the first after the label, the rest indented under it
/// (describe.go `printLabelsMultiline`).
fn multiline(w: &mut String, indent: &str, title: &str, map: &std::collections::BTreeMap<String, String>) {
    let _ = write!(w, "{indent}{title}:\t");
    if map.is_empty() {
        w.push_str("<none>\n");
        return;
    }
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            let _ = write!(w, "{indent}\t");
        }
        let _ = writeln!(w, "{k}={v}");
    }
}

fn annotations(o: &Value) -> std::collections::BTreeMap<String, String> {
    let mut a = string_map(o.pointer("/metadata/annotations"));
    // describe skips the last-applied annotation (kubectl's `skipAnnotations`).
    a.remove("kubectl.kubernetes.io/last-applied-configuration");
    a
}

/// Annotations as `key: value` lines (describe.go `printAnnotationsMultiline`):
/// values longer than 140 characters with their key, or with line breaks,
/// go on their own lines under the key, shortened.
fn annotations_multiline(w: &mut String, indent: &str, title: &str, map: &std::collections::BTreeMap<String, String>) {
    const MAX: usize = 140;
    let _ = write!(w, "{indent}{title}:\t");
    if map.is_empty() {
        w.push_str("<none>\n");
        return;
    }
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            let _ = write!(w, "{indent}\t");
        }
        let v = v.strip_suffix('\n').unwrap_or(v);
        if v.len() + k.len() + 2 > MAX || v.contains('\n') {
            let _ = writeln!(w, "{k}:");
            for line in v.split('\n') {
                let short: String = if line.chars().count() > MAX - 2 {
                    format!("{}...", line.chars().take(MAX - 2).collect::<String>())
                } else {
                    line.to_string()
                };
                let _ = writeln!(w, "{indent}\t  {short}");
            }
        } else {
            let _ = writeln!(w, "{k}: {v}");
        }
    }
}

/// Objects describe looks up besides the one it describes.
#[derive(Debug, Default)]
pub struct Related {
    /// Events about the object.
    pub events: Vec<Value>,
    /// A node's Lease.
    pub lease: Option<Value>,
    /// The non-terminated pods on a node.
    pub pods: Vec<Value>,
    /// A Deployment's ReplicaSets: (old ones with replicas, the new one).
    pub replica_sets: Option<(Vec<Value>, Option<Value>)>,
    /// A Service's EndpointSlices.
    pub endpoint_slices: Vec<Value>,
}

fn or_none(v: &str) -> &str {
    if v.is_empty() {
        "<none>"
    } else {
        v
    }
}

/// The describe text of `object`, with the `related` objects describe shows.
pub fn describe(resource: &Resource, object: &Value, related: &Related, now_ms: u64) -> String {
    let mut w = String::new();
    match resource.plural {
        "pods" => pod(&mut w, object),
        "nodes" => node(&mut w, object, related, now_ms),
        "deployments" => deployment(&mut w, object, related.replica_sets.as_ref()),
        "replicasets" => replicaset(&mut w, object, &related.pods, false),
        "replicationcontrollers" => replicaset(&mut w, object, &related.pods, true),
        "daemonsets" => daemonset(&mut w, object, &related.pods),
        "services" => service(&mut w, object, &related.endpoint_slices),
        "namespaces" => namespace(&mut w, object),
        _ => generic(&mut w, object),
    }
    // The Namespace describer lists no events.
    if resource.plural != "namespaces" {
        events_section(&mut w, &related.events, now_ms);
    }
    tabwriter(&w, 2)
}

fn header(w: &mut String, o: &Value, namespaced: bool) {
    let _ = writeln!(w, "Name:\t{}", s(o, "/metadata/name"));
    if namespaced {
        let _ = writeln!(w, "Namespace:\t{}", s(o, "/metadata/namespace"));
    }
}

fn generic(w: &mut String, o: &Value) {
    header(w, o, !s(o, "/metadata/namespace").is_empty());
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let mut rest = o.clone();
    if let Some(m) = rest.as_object_mut() {
        for k in ["apiVersion", "kind", "metadata"] {
            m.remove(k);
        }
    }
    let yaml = serde_yaml_ng::to_string(&rest).unwrap_or_default();
    for line in yaml.lines().filter(|l| *l != "{}") {
        let _ = writeln!(w, "{line}");
    }
}

fn pod(w: &mut String, o: &Value) {
    header(w, o, true);
    let _ = writeln!(w, "Priority:\t{}", o.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0));
    let pc = s(o, "/spec/priorityClassName");
    if !pc.is_empty() {
        let _ = writeln!(w, "Priority Class Name:\t{pc}");
    }
    let _ = writeln!(w, "Service Account:\t{}", s(o, "/spec/serviceAccountName"));
    let node = s(o, "/spec/nodeName");
    let host_ip = s(o, "/status/hostIP");
    let _ = writeln!(w, "Node:\t{}", if node.is_empty() { "<none>".to_string() } else { format!("{node}/{host_ip}") });
    let start = s(o, "/status/startTime");
    if !start.is_empty() {
        let _ = writeln!(w, "Start Time:\t{}", go_time(start));
    }
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        let _ = writeln!(w, "Status:\tTerminating (lasts <unknown>)");
        let _ = writeln!(
            w,
            "Termination Grace Period:\t{}s",
            o.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0)
        );
    } else {
        let _ = writeln!(w, "Status:\t{}", s(o, "/status/phase"));
    }
    let _ = writeln!(w, "IP:\t{}", s(o, "/status/podIP"));
    let ips = list(o, "/status/podIPs");
    if ips.is_empty() {
        let _ = writeln!(w, "IPs:\t<none>");
    } else {
        let _ = writeln!(w, "IPs:");
        for ip in ips {
            let _ = writeln!(w, "  IP:\t{}", s(ip, "/ip"));
        }
    }
    let controlled = list(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    if let Some(owner) = controlled {
        let _ = writeln!(w, "Controlled By:\t{}/{}", s(owner, "/kind"), s(owner, "/name"));
    }
    let statuses = list(o, "/status/containerStatuses");
    for (title, pointer) in [("Init Containers", "/spec/initContainers"), ("Containers", "/spec/containers")] {
        let containers = list(o, pointer);
        if containers.is_empty() && title == "Init Containers" {
            continue;
        }
        let _ = writeln!(w, "{title}:");
        for c in containers {
            let name = s(c, "/name");
            let status = statuses.iter().find(|st| s(st, "/name") == name);
            let _ = writeln!(w, "  {name}:");
            // Printed whenever there is a status, even before the container exists.
            if let Some(st) = status {
                let _ = writeln!(w, "    Container ID:\t{}", s(st, "/containerID"));
            }
            let _ = writeln!(w, "    Image:\t{}", s(c, "/image"));
            if let Some(st) = status {
                let _ = writeln!(w, "    Image ID:\t{}", s(st, "/imageID"));
            }
            let ports = list(c, "/ports");
            match ports {
                [] => {
                    let _ = writeln!(w, "    Port:\t<none>");
                    let _ = writeln!(w, "    Host Port:\t<none>");
                }
                [p] => {
                    let proto = s(p, "/protocol");
                    let _ = writeln!(
                        w,
                        "    Port:\t{}/{proto}",
                        p.get("containerPort").and_then(Value::as_i64).unwrap_or(0)
                    );
                    let _ = writeln!(
                        w,
                        "    Host Port:\t{}/{proto}",
                        p.get("hostPort").and_then(Value::as_i64).unwrap_or(0)
                    );
                }
                many => {
                    let fmt = |f: &str| {
                        many.iter()
                            .map(|p| format!("{}/{}", p.get(f).and_then(Value::as_i64).unwrap_or(0), s(p, "/protocol")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let _ = writeln!(w, "    Ports:\t{}", fmt("containerPort"));
                    let _ = writeln!(w, "    Host Ports:\t{}", fmt("hostPort"));
                }
            }
            for (label, field) in [("Command", "/command"), ("Args", "/args")] {
                let items = list(c, field);
                if !items.is_empty() {
                    let _ = writeln!(w, "    {label}:");
                    for item in items {
                        let _ = writeln!(w, "      {}", item.as_str().unwrap_or_default());
                    }
                }
            }
            match status {
                Some(st) => {
                    describe_state(w, "State", st.get("state").unwrap_or(&Value::Null));
                    if let Some(last) = st.get("lastState").filter(|l| l.get("terminated").is_some()) {
                        describe_state(w, "Last State", last);
                    }
                    let ready = st.get("ready").and_then(Value::as_bool).unwrap_or(false);
                    let _ = writeln!(w, "    Ready:\t{}", if ready { "True" } else { "False" });
                    let _ = writeln!(
                        w,
                        "    Restart Count:\t{}",
                        st.get("restartCount").and_then(Value::as_i64).unwrap_or(0)
                    );
                }
                // No status yet: describe prints no state, readiness or restarts.
                None => {}
            }
            resources_lines(w, c);
            for (label, field) in
                [("Liveness", "/livenessProbe"), ("Readiness", "/readinessProbe"), ("Startup", "/startupProbe")]
            {
                if let Some(p) = c.pointer(field) {
                    let _ = writeln!(w, "    {label}:\t{}", probe(p));
                }
            }
            env_and_mounts(w, c);
        }
    }
    let conditions = list(o, "/status/conditions");
    if !conditions.is_empty() {
        let _ = writeln!(w, "Conditions:\n  Type\tStatus");
        for c in conditions {
            let _ = writeln!(w, "  {} \t{} ", s(c, "/type"), s(c, "/status"));
        }
    }
    let volumes = list(o, "/spec/volumes");
    if volumes.is_empty() {
        let _ = writeln!(w, "Volumes:\t<none>");
    } else {
        let _ = writeln!(w, "Volumes:");
        for v in volumes {
            let _ = writeln!(w, "  {}:", s(v, "/name"));
            let kind = v.as_object().and_then(|m| m.keys().find(|k| *k != "name").cloned()).unwrap_or_default();
            let _ = writeln!(w, "    Type:\t{kind}");
        }
    }
    let _ = writeln!(w, "QoS Class:\t{}", s(o, "/status/qosClass"));
    let selectors = string_map(o.pointer("/spec/nodeSelector"));
    let _ = writeln!(w, "Node-Selectors:\t{}", or_none(&crate::apimachinery::labels::format_labels(&selectors)));
    tolerations_multiline(w, "Tolerations", list(o, "/spec/tolerations"));
}

/// describe.go `printTolerationsMultilineWithIndent`: `key=value:effect`,
/// ` op=Exists`, ` for Ns`, one a line, the first after the title.
fn tolerations_multiline(w: &mut String, title: &str, tolerations: &[Value]) {
    if tolerations.is_empty() {
        let _ = writeln!(w, "{title}:\t<none>");
        return;
    }
    for (i, t) in tolerations.iter().enumerate() {
        let mut text = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            text.push_str(&format!("={}", s(t, "/value")));
        }
        if !s(t, "/effect").is_empty() {
            text.push_str(&format!(":{}", s(t, "/effect")));
        }
        if s(t, "/operator") == "Exists" && s(t, "/value").is_empty() {
            text.push_str(" op=Exists");
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            text.push_str(&format!(" for {secs}s"));
        }
        let _ = writeln!(w, "{}\t{text}", if i == 0 { format!("{title}:") } else { String::new() });
    }
}

/// A container's Environment and Mounts lines.
fn env_and_mounts(w: &mut String, c: &Value) {
    let env = list(c, "/env");
    if env.is_empty() {
        let _ = writeln!(w, "    Environment:\t<none>");
    } else {
        let _ = writeln!(w, "    Environment:");
        for e in env {
            let _ = writeln!(w, "      {}:\t{}", s(e, "/name"), s(e, "/value"));
        }
    }
    let mounts = list(c, "/volumeMounts");
    if mounts.is_empty() {
        let _ = writeln!(w, "    Mounts:\t<none>");
    } else {
        let _ = writeln!(w, "    Mounts:");
        for m in mounts {
            let ro = if m.get("readOnly").and_then(Value::as_bool) == Some(true) { "ro" } else { "rw" };
            let _ = writeln!(w, "      {} from {} ({ro})", s(m, "/mountPath"), s(m, "/name"));
        }
    }
}

fn resources_lines(w: &mut String, c: &Value) {
    for (label, field) in [("Limits", "/resources/limits"), ("Requests", "/resources/requests")] {
        if let Some(m) = c.pointer(field).and_then(Value::as_object).filter(|m| !m.is_empty()) {
            let _ = writeln!(w, "    {label}:");
            for (k, v) in m {
                let _ = writeln!(w, "      {k}:\t{}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            }
        }
    }
}

/// `http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3`.
fn probe(p: &Value) -> String {
    let int = |f: &str| p.get(f).and_then(Value::as_i64).unwrap_or(0);
    let action = if let Some(h) = p.get("httpGet") {
        let port =
            h.get("port").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
        format!("http-get {}://{}:{port}{}", s(h, "/scheme").to_ascii_lowercase(), s(h, "/host"), s(h, "/path"))
    } else if let Some(t) = p.get("tcpSocket") {
        let port =
            t.get("port").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
        format!("tcp-socket {}:{port}", s(t, "/host"))
    } else if let Some(e) = p.get("exec") {
        let cmd: Vec<&str> = list(e, "/command").iter().filter_map(Value::as_str).collect();
        format!("exec [{}]", cmd.join(" "))
    } else {
        "unknown".into()
    };
    format!(
        "{action} delay={}s timeout={}s period={}s #success={} #failure={}",
        int("initialDelaySeconds"),
        int("timeoutSeconds"),
        int("periodSeconds"),
        int("successThreshold"),
        int("failureThreshold")
    )
}

/// Go's `time.RFC1123Z` as describe prints times: `Wed, 01 Jan 2025 00:00:05 +0000`.
pub fn go_time(stamp: &str) -> String {
    let Some(ms) = parse_rfc3339(stamp) else { return stamp.to_string() };
    let secs = crate::apimachinery::time::EPOCH_UNIX_SECS + (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = (&stamp[0..4], &stamp[5..7], &stamp[8..10]);
    let month = months[m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    format!("{weekday}, {d} {month} {y} {} +0000", &stamp[11..19])
}

fn node(w: &mut String, o: &Value, related: &Related, now_ms: u64) {
    header(w, o, false);
    let roles: Vec<String> =
        labels_of(o).keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string)).collect();
    let _ = writeln!(w, "Roles:\t{}", or_none(&roles.join(",")));
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let _ = writeln!(w, "CreationTimestamp:\t{}", go_time(s(o, "/metadata/creationTimestamp")));
    let taints = list(o, "/spec/taints");
    if taints.is_empty() {
        let _ = writeln!(w, "Taints:\t<none>");
    } else {
        for (i, t) in taints.iter().enumerate() {
            let value = if s(t, "/value").is_empty() { String::new() } else { format!("={}", s(t, "/value")) };
            let _ = writeln!(w, "{}\t{}{value}:{}", if i == 0 { "Taints:" } else { "" }, s(t, "/key"), s(t, "/effect"));
        }
    }
    let _ =
        writeln!(w, "Unschedulable:\t{}", o.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false));
    match &related.lease {
        Some(lease) => {
            let unset = |v: &str| if v.is_empty() { "<unset>".to_string() } else { go_time(v) };
            let _ = writeln!(w, "Lease:\n  HolderIdentity:\t{}", or_none(s(lease, "/spec/holderIdentity")));
            let _ = writeln!(w, "  AcquireTime:\t{}", unset(&micro_to_seconds(s(lease, "/spec/acquireTime"))));
            let _ = writeln!(w, "  RenewTime:\t{}", unset(&micro_to_seconds(s(lease, "/spec/renewTime"))));
        }
        None => {
            let _ = writeln!(w, "Lease:\tFailed to get lease");
        }
    }
    let conditions = list(o, "/status/conditions");
    let _ = writeln!(w, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n  ----\t------\t-----------------\t------------------\t------\t-------");
    for c in conditions {
        let _ = writeln!(
            w,
            "  {} \t{} \t{} \t{} \t{} \t{}",
            s(c, "/type"),
            s(c, "/status"),
            go_time(s(c, "/lastHeartbeatTime")),
            go_time(s(c, "/lastTransitionTime")),
            s(c, "/reason"),
            s(c, "/message")
        );
    }
    let _ = writeln!(w, "Addresses:");
    for a in list(o, "/status/addresses") {
        let _ = writeln!(w, "  {}:\t{}", s(a, "/type"), s(a, "/address"));
    }
    for (title, field) in [("Capacity", "/status/capacity"), ("Allocatable", "/status/allocatable")] {
        let _ = writeln!(w, "{title}:");
        for (k, v) in o.pointer(field).and_then(Value::as_object).into_iter().flatten() {
            let _ = writeln!(w, "  {k}:\t{}", v.as_str().unwrap_or_default());
        }
    }
    let info = |f: &str| s(o, &format!("/status/nodeInfo/{f}")).to_string();
    let _ = writeln!(w, "System Info:");
    for (label, field) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        let _ = writeln!(w, "  {label}:\t{}", info(field));
    }
    if !s(o, "/spec/podCIDR").is_empty() {
        let _ = writeln!(w, "PodCIDR:\t{}", s(o, "/spec/podCIDR"));
        let cidrs: Vec<&str> = list(o, "/spec/podCIDRs").iter().filter_map(Value::as_str).collect();
        let _ = writeln!(w, "PodCIDRs:\t{}", cidrs.join(","));
    }
    if !s(o, "/spec/providerID").is_empty() {
        let _ = writeln!(w, "ProviderID:\t{}", s(o, "/spec/providerID"));
    }
    node_resources(w, o, &related.pods, now_ms);
}

/// `2025-01-01T00:00:30.000000Z` (MicroTime) as whole seconds for [`go_time`].
fn micro_to_seconds(stamp: &str) -> String {
    match stamp.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => stamp.to_string(),
    }
}

fn quantity_millis(v: Option<&Value>) -> i128 {
    v.and_then(Value::as_str).and_then(|q| crate::quantity::Quantity::parse(q).ok()).map_or(0, |q| q.millis())
}

/// CPU millicores as `resource.Quantity` prints them (`0`, `250m`, `2`).
fn cpu_text(millis: i128) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes as `resource.Quantity` prints binary amounts (`0`, `128Mi`, `1Gi`).
fn memory_text(bytes: i128) -> String {
    for (suffix, unit) in
        [("Ei", 1i128 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
    {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// The pods table and allocated resources of a node (describe.go `describeNodeResource`).
fn node_resources(w: &mut String, node: &Value, pods: &[Value], now_ms: u64) {
    let alloc = |r: &str| quantity_millis(node.pointer(&format!("/status/allocatable/{r}")));
    let percent = |v: i128, total: i128| if total == 0 { 0 } else { v * 100 / total };
    let sum = |pod: &Value, kind: &str, r: &str| -> i128 {
        list(pod, "/spec/containers")
            .iter()
            .map(|c| quantity_millis(c.pointer(&format!("/resources/{kind}/{r}"))))
            .sum()
    };
    let _ = writeln!(w, "Non-terminated Pods:\t({} in total)", pods.len());
    let _ = writeln!(w, "  Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge");
    let _ = writeln!(w, "  ---------\t----\t\t------------\t----------\t---------------\t-------------\t---");
    let (cpu_total, mem_total) = (alloc("cpu"), alloc("memory"));
    let mut totals = [0i128; 6];
    for pod in pods {
        let (cr, cl, mr, ml) = (
            sum(pod, "requests", "cpu"),
            sum(pod, "limits", "cpu"),
            sum(pod, "requests", "memory"),
            sum(pod, "limits", "memory"),
        );
        let (er, el) = (sum(pod, "requests", "ephemeral-storage"), sum(pod, "limits", "ephemeral-storage"));
        for (t, v) in totals.iter_mut().zip([cr, cl, mr, ml, er, el]) {
            *t += v;
        }
        let _ = writeln!(
            w,
            "  {}\t{}\t\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{}",
            s(pod, "/metadata/namespace"),
            s(pod, "/metadata/name"),
            cpu_text(cr),
            percent(cr, cpu_total),
            cpu_text(cl),
            percent(cl, cpu_total),
            memory_text(mr / 1000),
            percent(mr, mem_total),
            memory_text(ml / 1000),
            percent(ml, mem_total),
            age(pod.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now_ms)
        );
    }
    let eph_total = alloc("ephemeral-storage");
    let _ = writeln!(w, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)");
    let _ = writeln!(w, "  Resource\tRequests\tLimits\n  --------\t--------\t------");
    let _ = writeln!(
        w,
        "  cpu\t{} ({}%)\t{} ({}%)",
        cpu_text(totals[0]),
        percent(totals[0], cpu_total),
        cpu_text(totals[1]),
        percent(totals[1], cpu_total)
    );
    let _ = writeln!(
        w,
        "  memory\t{} ({}%)\t{} ({}%)",
        memory_text(totals[2] / 1000),
        percent(totals[2], mem_total),
        memory_text(totals[3] / 1000),
        percent(totals[3], mem_total)
    );
    let _ = writeln!(
        w,
        "  ephemeral-storage\t{} ({}%)\t{} ({}%)",
        memory_text(totals[4] / 1000),
        percent(totals[4], eph_total),
        memory_text(totals[5] / 1000),
        percent(totals[5], eph_total)
    );
}

fn selector_text(o: &Value, pointer: &str) -> String {
    o.pointer(pointer)
        .and_then(crate::apimachinery::labels::Selector::from_label_selector)
        .map(|sel| crate::kube_apiserver::registry::selector_string(&sel))
        .unwrap_or_default()
}

fn pod_template(w: &mut String, t: &Value) {
    let _ = writeln!(w, "Pod Template:");
    multiline(w, "  ", "Labels", &labels_of(t));
    let a = string_map(t.pointer("/metadata/annotations"));
    if !a.is_empty() {
        annotations_multiline(w, "  ", "Annotations", &a);
    }
    let _ = writeln!(w, "  Containers:");
    for c in list(t, "/spec/containers") {
        let _ = writeln!(w, "   {}:", s(c, "/name"));
        let _ = writeln!(w, "    Image:\t{}", s(c, "/image"));
        let ports = list(c, "/ports");
        match ports.first() {
            Some(p) => {
                let proto = s(p, "/protocol");
                let _ =
                    writeln!(w, "    Port:\t{}/{proto}", p.get("containerPort").and_then(Value::as_i64).unwrap_or(0));
                let _ =
                    writeln!(w, "    Host Port:\t{}/{proto}", p.get("hostPort").and_then(Value::as_i64).unwrap_or(0));
            }
            None => {
                let _ = writeln!(w, "    Port:\t<none>");
                let _ = writeln!(w, "    Host Port:\t<none>");
            }
        }
        resources_lines(w, c);
        env_and_mounts(w, c);
    }
    let _ = writeln!(w, "  Volumes:\t<none>");
    multiline(w, "", "  Node-Selectors", &string_map(t.pointer("/spec/nodeSelector")));
    tolerations_multiline(w, "  Tolerations", list(t, "/spec/tolerations"));
}

/// `name (status.replicas/spec.replicas replicas created), ...` or `<none>`
/// (`printReplicaSetsByLabels`).
fn replica_sets_text(rss: &[&Value]) -> String {
    let text: Vec<String> = rss
        .iter()
        .map(|rs| {
            let int = |p: &str| rs.pointer(p).and_then(Value::as_i64).unwrap_or(0);
            format!(
                "{} ({}/{} replicas created)",
                s(rs, "/metadata/name"),
                int("/status/replicas"),
                int("/spec/replicas")
            )
        })
        .collect();
    or_none(&text.join(", ")).to_string()
}

fn deployment(w: &mut String, o: &Value, replica_sets: Option<&(Vec<Value>, Option<Value>)>) {
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    header(w, o, true);
    let _ = writeln!(w, "CreationTimestamp:\t{}", go_time(s(o, "/metadata/creationTimestamp")));
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let _ = writeln!(w, "Selector:\t{}", selector_text(o, "/spec/selector"));
    let _ = writeln!(
        w,
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable",
        int("/spec/replicas"),
        int("/status/updatedReplicas"),
        int("/status/replicas"),
        int("/status/availableReplicas"),
        int("/status/unavailableReplicas")
    );
    let strategy = s(o, "/spec/strategy/type");
    let _ = writeln!(w, "StrategyType:\t{strategy}");
    let _ = writeln!(w, "MinReadySeconds:\t{}", int("/spec/minReadySeconds"));
    if strategy == "RollingUpdate" {
        let iv = |p: &str| {
            o.pointer(p).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default()
        };
        let _ = writeln!(
            w,
            "RollingUpdateStrategy:\t{} max unavailable, {} max surge",
            iv("/spec/strategy/rollingUpdate/maxUnavailable"),
            iv("/spec/strategy/rollingUpdate/maxSurge")
        );
    }
    pod_template(w, o.pointer("/spec/template").unwrap_or(&Value::Null));
    let conditions = list(o, "/status/conditions");
    if !conditions.is_empty() {
        let _ = writeln!(w, "Conditions:\n  Type\tStatus\tReason\n  ----\t------\t------");
        for c in conditions {
            let _ = writeln!(w, "  {} \t{}\t{}", s(c, "/type"), s(c, "/status"), s(c, "/reason"));
        }
    }
    if let Some((old, new)) = replica_sets {
        let _ = writeln!(w, "OldReplicaSets:\t{}", replica_sets_text(&old.iter().collect::<Vec<_>>()));
        let _ = writeln!(w, "NewReplicaSet:\t{}", replica_sets_text(&new.iter().collect::<Vec<_>>()));
    }
}

/// The describe text of a pod template (`DescribePodTemplate`), as
/// `kubectl rollout history --revision` prints it: through a plain prefix
/// writer, so its tabs are left as they are.
pub fn pod_template_text(template: &Value) -> String {
    let mut w = String::new();
    pod_template(&mut w, template);
    w
}

/// describe.go `describeReplicaSet` and `describeReplicationController`:
/// the same sections, but an RC's selector is a map (`labels.FormatLabels`)
/// and its describer prints no controller.
fn replicaset(w: &mut String, o: &Value, pods: &[Value], rc: bool) {
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    header(w, o, true);
    let selector = if rc {
        or_none(&crate::apimachinery::labels::format_labels(&string_map(o.pointer("/spec/selector")))).to_string()
    } else {
        selector_text(o, "/spec/selector")
    };
    let _ = writeln!(w, "Selector:\t{selector}");
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    if let Some(owner) = list(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .filter(|_| !rc)
    {
        let _ = writeln!(w, "Controlled By:\t{}/{}", s(owner, "/kind"), s(owner, "/name"));
    }
    let _ = writeln!(w, "Replicas:\t{} current / {} desired", int("/status/replicas"), int("/spec/replicas"));
    let phase = |p: &str| pods.iter().filter(|pod| s(pod, "/status/phase") == p).count();
    let _ = writeln!(
        w,
        "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed",
        phase("Running"),
        phase("Pending"),
        phase("Succeeded"),
        phase("Failed")
    );
    pod_template(w, o.pointer("/spec/template").unwrap_or(&Value::Null));
    let conditions = list(o, "/status/conditions");
    if !conditions.is_empty() {
        let _ = writeln!(w, "Conditions:\n  Type\tStatus\tReason\n  ----\t------\t------");
        for c in conditions {
            let _ = writeln!(w, "  {} \t{}\t{}", s(c, "/type"), s(c, "/status"), s(c, "/reason"));
        }
    }
}

/// describe.go `describeDaemonSet` (kubectl 1.32 prints no namespace): the
/// scheduling counts (not aligned: their labels carry no tab) between the
/// metadata and the pods' phases.
fn daemonset(w: &mut String, o: &Value, pods: &[Value]) {
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    header(w, o, false);
    let _ = writeln!(w, "Selector:\t{}", selector_text(o, "/spec/selector"));
    let node_selector =
        crate::apimachinery::labels::format_labels(&string_map(o.pointer("/spec/template/spec/nodeSelector")));
    let _ = writeln!(w, "Node-Selector:\t{}", or_none(&node_selector));
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let _ = writeln!(w, "Desired Number of Nodes Scheduled: {}", int("/status/desiredNumberScheduled"));
    let _ = writeln!(w, "Current Number of Nodes Scheduled: {}", int("/status/currentNumberScheduled"));
    let _ = writeln!(w, "Number of Nodes Scheduled with Up-to-date Pods: {}", int("/status/updatedNumberScheduled"));
    let _ = writeln!(w, "Number of Nodes Scheduled with Available Pods: {}", int("/status/numberAvailable"));
    let _ = writeln!(w, "Number of Nodes Misscheduled: {}", int("/status/numberMisscheduled"));
    let phase = |p: &str| pods.iter().filter(|pod| s(pod, "/status/phase") == p).count();
    let _ = writeln!(
        w,
        "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed",
        phase("Running"),
        phase("Pending"),
        phase("Succeeded"),
        phase("Failed")
    );
    pod_template(w, o.pointer("/spec/template").unwrap_or(&Value::Null));
}

fn service(w: &mut String, o: &Value, slices: &[Value]) {
    header(w, o, true);
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let selector = crate::apimachinery::labels::format_labels(&string_map(o.pointer("/spec/selector")));
    let _ = writeln!(w, "Selector:\t{}", or_none(&selector));
    let _ = writeln!(w, "Type:\t{}", s(o, "/spec/type"));
    let _ = writeln!(w, "IP Family Policy:\t{}", s(o, "/spec/ipFamilyPolicy"));
    let families: Vec<&str> = list(o, "/spec/ipFamilies").iter().filter_map(Value::as_str).collect();
    let _ = writeln!(w, "IP Families:\t{}", families.join(","));
    let _ = writeln!(w, "IP:\t{}", s(o, "/spec/clusterIP"));
    let ips: Vec<&str> = list(o, "/spec/clusterIPs").iter().filter_map(Value::as_str).collect();
    let _ = writeln!(w, "IPs:\t{}", ips.join(","));
    for p in list(o, "/spec/ports") {
        let name = if s(p, "/name").is_empty() { "<unset>" } else { s(p, "/name") };
        let proto = s(p, "/protocol");
        let _ = writeln!(w, "Port:\t{name}\t{}/{proto}", p.get("port").and_then(Value::as_i64).unwrap_or(0));
        let target = p
            .get("targetPort")
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
            .unwrap_or_default();
        let _ = writeln!(w, "TargetPort:\t{target}/{proto}");
        if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
            let _ = writeln!(w, "NodePort:\t{name}\t{np}/{proto}");
        }
        let _ = writeln!(w, "Endpoints:\t{}", format_endpoint_slices(slices, s(p, "/name")));
    }
    let _ = writeln!(w, "Session Affinity:\t{}", s(o, "/spec/sessionAffinity"));
    if !s(o, "/spec/internalTrafficPolicy").is_empty() {
        let _ = writeln!(w, "Internal Traffic Policy:\t{}", s(o, "/spec/internalTrafficPolicy"));
    }
}

fn namespace(w: &mut String, o: &Value) {
    header(w, o, false);
    multiline(w, "", "Labels", &labels_of(o));
    annotations_multiline(w, "", "Annotations", &annotations(o));
    let _ = writeln!(w, "Status:\t{}", s(o, "/status/phase"));
    let _ = writeln!(w, "\nNo resource quota.\n\nNo LimitRange resource.");
}

fn events_section(w: &mut String, events: &[Value], now_ms: u64) {
    if events.is_empty() {
        let _ = writeln!(w, "Events:\t<none>");
        return;
    }
    let _ = writeln!(w, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------");
    let mut sorted: Vec<&Value> = events.iter().collect();
    let stamp = |e: &Value, p: &str| parse_rfc3339(s(e, p));
    sorted.sort_by_key(|e| stamp(e, "/lastTimestamp").or_else(|| stamp(e, "/firstTimestamp")).unwrap_or(0));
    for e in sorted {
        // describe.go DescribeEvents: the age of the first occurrence
        // (eventTime for events.k8s.io events), with "(xN over AGE)" for
        // series and counted events.
        let first = stamp(e, "/eventTime").or_else(|| stamp(e, "/firstTimestamp"));
        let first_since = first.map_or("<unknown>".to_string(), |f| human_duration(now_ms.saturating_sub(f)));
        let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
        let series_count = e.pointer("/series/count").and_then(Value::as_i64);
        let since = |t: Option<u64>| t.map_or("<unknown>".to_string(), |t| human_duration(now_ms.saturating_sub(t)));
        let interval = match series_count {
            Some(n) => format!("{} (x{n} over {first_since})", since(stamp(e, "/series/lastObservedTime"))),
            None if count > 1 => format!("{} (x{count} over {first_since})", since(stamp(e, "/lastTimestamp"))),
            None => first_since,
        };
        let from =
            if s(e, "/source/component").is_empty() { s(e, "/reportingComponent") } else { s(e, "/source/component") };
        let _ =
            writeln!(w, "  {}\t{}\t{interval}\t{from}\t{}", s(e, "/type"), s(e, "/reason"), s(e, "/message").trim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_aligns_runs_of_cells() {
        let text = "Name:\tweb\nNamespace:\tdefault\nContainers:\n  nginx:\n    Image:\tnginx\n    Port:\t80/TCP";
        assert_eq!(
            tabwriter(text, 2),
            "Name:       web\nNamespace:  default\nContainers:\n  nginx:\n    Image:  nginx\n    Port:   80/TCP"
        );
        assert_eq!(go_time("2025-01-01T00:00:05Z"), "Wed, 01 Jan 2025 00:00:05 +0000");
    }
}

/// One container state as describe.go `describeStatus` prints it.
fn describe_state(w: &mut String, label: &str, state: &Value) {
    if state.get("running").is_some() {
        let _ = writeln!(w, "    {label}:\tRunning");
        let _ = writeln!(w, "      Started:\t{}", go_time(s(state, "/running/startedAt")));
    } else if let Some(t) = state.get("terminated") {
        let _ = writeln!(w, "    {label}:\tTerminated");
        for (field, name) in [("/reason", "Reason"), ("/message", "Message")] {
            if !s(t, field).is_empty() {
                let _ = writeln!(w, "      {name}:\t{}", s(t, field));
            }
        }
        let _ = writeln!(w, "      Exit Code:\t{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0));
        if let Some(signal) = t.get("signal").and_then(Value::as_i64).filter(|n| *n > 0) {
            let _ = writeln!(w, "      Signal:\t{signal}");
        }
        let _ = writeln!(w, "      Started:\t{}", go_time(s(t, "/startedAt")));
        let _ = writeln!(w, "      Finished:\t{}", go_time(s(t, "/finishedAt")));
    } else {
        let _ = writeln!(w, "    {label}:\tWaiting");
        if let Some(reason) = state.pointer("/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            let _ = writeln!(w, "      Reason:\t{reason}");
        }
    }
}

/// describe.go `formatEndpointSlices`: the addresses of the slices' ports
/// named like the Service port, `ip:port`, three at most then `+ N more...`;
/// `<none>` without slices.
fn format_endpoint_slices(slices: &[Value], port_name: &str) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    let mut all = Vec::new();
    for slice in slices {
        for port in list(slice, "/ports") {
            if s(port, "/name") != port_name {
                continue;
            }
            let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
            for endpoint in list(slice, "/endpoints") {
                for address in list(endpoint, "/addresses").iter().filter_map(Value::as_str) {
                    all.push(format!("{address}:{number}"));
                }
            }
        }
    }
    let mut text = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    if all.len() > 3 {
        text.push_str(&format!(" + {} more...", all.len() - 3));
    }
    text
}
