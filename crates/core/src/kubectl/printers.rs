//! What `kubectl get` prints: the server-side table columns of
//! pkg/printers/internalversion/printers.go, laid out by cli-runtime's tab
//! writer (minimum width 6, padding 3, last column unpadded), and the
//! `-o yaml|json|name|jsonpath` outputs.

use crate::apimachinery::labels::{format_labels, labels_of, string_map, Selector};
use crate::apimachinery::resources::Resource;
use crate::apimachinery::time::{age, parse_rfc3339};
use crate::kube_apiserver::registry::selector_string;
use serde_json::Value;

/// Lays out rows like cli-runtime's tabwriter: each column as wide as its
/// widest cell plus 3 (at least 6), the last column unpadded.
pub fn tabulate(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(6);
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// One column: header, whether it is `-o wide` only.
type Columns = &'static [(&'static str, bool)];

/// The columns kubectl shows for `resource`.
pub fn columns(resource: &Resource) -> Columns {
    match resource.plural {
        "pods" => &[
            ("NAME", false),
            ("READY", false),
            ("STATUS", false),
            ("RESTARTS", false),
            ("AGE", false),
            ("IP", true),
            ("NODE", true),
            ("NOMINATED NODE", true),
            ("READINESS GATES", true),
        ],
        "nodes" => &[
            ("NAME", false),
            ("STATUS", false),
            ("ROLES", false),
            ("AGE", false),
            ("VERSION", false),
            ("INTERNAL-IP", true),
            ("EXTERNAL-IP", true),
            ("OS-IMAGE", true),
            ("KERNEL-VERSION", true),
            ("CONTAINER-RUNTIME", true),
        ],
        "namespaces" => &[("NAME", false), ("STATUS", false), ("AGE", false)],
        "services" => &[
            ("NAME", false),
            ("TYPE", false),
            ("CLUSTER-IP", false),
            ("EXTERNAL-IP", false),
            ("PORT(S)", false),
            ("AGE", false),
            ("SELECTOR", true),
        ],
        "endpoints" => &[("NAME", false), ("ENDPOINTS", false), ("AGE", false)],
        "endpointslices" => {
            &[("NAME", false), ("ADDRESSTYPE", false), ("PORTS", false), ("ENDPOINTS", false), ("AGE", false)]
        }
        "replicasets" | "replicationcontrollers" => &[
            ("NAME", false),
            ("DESIRED", false),
            ("CURRENT", false),
            ("READY", false),
            ("AGE", false),
            ("CONTAINERS", true),
            ("IMAGES", true),
            ("SELECTOR", true),
        ],
        "daemonsets" => &[
            ("NAME", false),
            ("DESIRED", false),
            ("CURRENT", false),
            ("READY", false),
            ("UP-TO-DATE", false),
            ("AVAILABLE", false),
            ("NODE SELECTOR", false),
            ("AGE", false),
            ("CONTAINERS", true),
            ("IMAGES", true),
            ("SELECTOR", true),
        ],
        "controllerrevisions" => &[("NAME", false), ("CONTROLLER", false), ("REVISION", false), ("AGE", false)],
        "deployments" => &[
            ("NAME", false),
            ("READY", false),
            ("UP-TO-DATE", false),
            ("AVAILABLE", false),
            ("AGE", false),
            ("CONTAINERS", true),
            ("IMAGES", true),
            ("SELECTOR", true),
        ],
        "events" => &[
            ("LAST SEEN", false),
            ("TYPE", false),
            ("REASON", false),
            ("OBJECT", false),
            ("SUBOBJECT", true),
            ("SOURCE", true),
            ("MESSAGE", false),
            ("FIRST SEEN", true),
            ("COUNT", true),
            ("NAME", true),
        ],
        "configmaps" => &[("NAME", false), ("DATA", false), ("AGE", false)],
        "secrets" => &[("NAME", false), ("TYPE", false), ("DATA", false), ("AGE", false)],
        "serviceaccounts" => &[("NAME", false), ("SECRETS", false), ("AGE", false)],
        "leases" => &[("NAME", false), ("HOLDER", false), ("AGE", false)],
        "priorityclasses" => {
            &[("NAME", false), ("VALUE", false), ("GLOBAL-DEFAULT", false), ("AGE", false), ("PREEMPTIONPOLICY", false)]
        }
        "roles" | "clusterroles" | "limitranges" => &[("NAME", false), ("CREATED AT", false)],
        "resourcequotas" => &[("NAME", false), ("AGE", false), ("REQUEST", false), ("LIMIT", false)],
        "rolebindings" | "clusterrolebindings" => &[
            ("NAME", false),
            ("ROLE", false),
            ("AGE", false),
            ("USERS", true),
            ("GROUPS", true),
            ("SERVICEACCOUNTS", true),
        ],
        _ => &[("NAME", false), ("AGE", false)],
    }
}

/// Every cell of `object`'s row (wide columns included), in [`columns`] order.
pub fn cells(resource: &Resource, o: &Value, now_ms: u64) -> Vec<String> {
    let name = s(o, "/metadata/name").to_string();
    let age = age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now_ms);
    match resource.plural {
        "pods" => pod_cells(o, name, age, now_ms),
        "nodes" => {
            let ready = list(o, "/status/conditions").iter().find(|c| s(c, "/type") == "Ready");
            let mut status = vec![match ready.map(|c| s(c, "/status")) {
                Some("True") => "Ready",
                Some(_) => "NotReady",
                None => "Unknown",
            }
            .to_string()];
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push("SchedulingDisabled".into());
            }
            let labels = labels_of(o);
            let mut roles: Vec<String> = labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!role.is_empty()).then(|| role.to_string())
                    } else if k == "kubernetes.io/role" && !v.is_empty() {
                        Some(v.clone())
                    } else {
                        None
                    }
                })
                .collect();
            roles.sort();
            roles.dedup();
            let address = |kind: &str| {
                or_none(
                    list(o, "/status/addresses")
                        .iter()
                        .find(|a| s(a, "/type") == kind)
                        .map(|a| s(a, "/address").to_string())
                        .unwrap_or_default(),
                )
            };
            let info = |field: &str| {
                let v = s(o, &format!("/status/nodeInfo/{field}"));
                if v.is_empty() {
                    "<unknown>".to_string()
                } else {
                    v.to_string()
                }
            };
            vec![
                name,
                status.join(","),
                or_none(roles.join(",")),
                age,
                s(o, "/status/nodeInfo/kubeletVersion").to_string(),
                address("InternalIP"),
                address("ExternalIP"),
                info("osImage"),
                info("kernelVersion"),
                info("containerRuntimeVersion"),
            ]
        }
        "namespaces" => vec![name, s(o, "/status/phase").to_string(), age],
        "services" => {
            let kind = s(o, "/spec/type").to_string();
            let cluster_ip = list(o, "/spec/clusterIPs")
                .first()
                .and_then(Value::as_str)
                .or_else(|| o.pointer("/spec/clusterIP").and_then(Value::as_str))
                .unwrap_or("<none>")
                .to_string();
            let external: Vec<String> =
                list(o, "/spec/externalIPs").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            let external = match kind.as_str() {
                "ClusterIP" | "NodePort" => or_none(external.join(",")),
                "LoadBalancer" => {
                    let mut ips: Vec<String> = list(o, "/status/loadBalancer/ingress")
                        .iter()
                        .map(|i| if s(i, "/ip").is_empty() { s(i, "/hostname") } else { s(i, "/ip") }.to_string())
                        .chain(external)
                        .collect();
                    ips.sort();
                    ips.dedup();
                    if ips.is_empty() {
                        "<pending>".to_string()
                    } else {
                        ips.join(",")
                    }
                }
                "ExternalName" => s(o, "/spec/externalName").to_string(),
                _ => "<unknown>".to_string(),
            };
            let ports: Vec<String> = list(o, "/spec/ports")
                .iter()
                .map(|p| {
                    let (port, proto, node_port) = (int(p, "/port"), s(p, "/protocol"), int(p, "/nodePort"));
                    if node_port > 0 {
                        format!("{port}:{node_port}/{proto}")
                    } else {
                        format!("{port}/{proto}")
                    }
                })
                .collect();
            let selector = format_labels(&string_map(o.pointer("/spec/selector")));
            vec![name, kind, cluster_ip, external, or_none(ports.join(",")), age, or_none(selector)]
        }
        "endpoints" => {
            // printers.go formatEndpoints: port by port, the ready addresses;
            // `<none>` only without subsets (only not-ready addresses print empty).
            let mut all = Vec::new();
            for subset in list(o, "/subsets") {
                let ports = list(subset, "/ports");
                let addresses = list(subset, "/addresses");
                if ports.is_empty() {
                    all.extend(addresses.iter().map(|a| s(a, "/ip").to_string()));
                }
                for p in ports {
                    all.extend(addresses.iter().map(|a| format!("{}:{}", s(a, "/ip"), int(p, "/port"))));
                }
            }
            let text = if list(o, "/subsets").is_empty() {
                "<none>".to_string()
            } else if all.len() > 3 {
                format!("{} + {} more...", all[..3].join(","), all.len() - 3)
            } else {
                all.join(",")
            };
            vec![name, text, age]
        }
        "endpointslices" => {
            let three = |items: Vec<String>| {
                if items.is_empty() {
                    "<unset>".to_string()
                } else if items.len() > 3 {
                    format!("{} + {} more...", items[..3].join(","), items.len() - 3)
                } else {
                    items.join(",")
                }
            };
            let ports = list(o, "/ports")
                .iter()
                .map(|p| match (p.get("port").and_then(Value::as_i64), p.get("name").and_then(Value::as_str)) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(name)) => name.to_string(),
                    _ => "*".to_string(),
                })
                .collect();
            let addresses = list(o, "/endpoints")
                .iter()
                .flat_map(|e| list(e, "/addresses").iter().filter_map(|a| a.as_str().map(str::to_string)))
                .collect();
            vec![name, s(o, "/addressType").to_string(), three(ports), three(addresses), age]
        }
        "replicasets" | "replicationcontrollers" => {
            let (containers, images) = containers_and_images(o);
            let selector = if resource.plural == "replicasets" {
                label_selector_string(o.pointer("/spec/selector"))
            } else {
                or_none(format_labels(&string_map(o.pointer("/spec/selector"))))
            };
            vec![
                name,
                int(o, "/spec/replicas").to_string(),
                int(o, "/status/replicas").to_string(),
                int(o, "/status/readyReplicas").to_string(),
                age,
                containers,
                images,
                selector,
            ]
        }
        // printers.go printDaemonSet.
        "daemonsets" => {
            let (containers, images) = containers_and_images(o);
            let node_selector = format_labels(&string_map(o.pointer("/spec/template/spec/nodeSelector")));
            vec![
                name,
                int(o, "/status/desiredNumberScheduled").to_string(),
                int(o, "/status/currentNumberScheduled").to_string(),
                int(o, "/status/numberReady").to_string(),
                int(o, "/status/updatedNumberScheduled").to_string(),
                int(o, "/status/numberAvailable").to_string(),
                or_none(node_selector),
                age,
                containers,
                images,
                label_selector_string(o.pointer("/spec/selector")),
            ]
        }
        // printers.go printControllerRevision: the controller as `kind.group/name`.
        "controllerrevisions" => {
            let controller = list(o, "/metadata/ownerReferences")
                .iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .map(|r| {
                    let kind = s(r, "/kind").to_ascii_lowercase();
                    match s(r, "/apiVersion").split_once('/') {
                        Some((group, _)) => format!("{kind}.{group}/{}", s(r, "/name")),
                        None => format!("{kind}/{}", s(r, "/name")),
                    }
                })
                .unwrap_or_else(|| "<none>".into());
            vec![name, controller, int(o, "/revision").to_string(), age]
        }
        "deployments" => {
            let (containers, images) = containers_and_images(o);
            let selector = o
                .pointer("/spec/selector")
                .and_then(Selector::from_label_selector)
                .map(|sel| selector_string(&sel))
                .unwrap_or_else(|| "<invalid>".into());
            vec![
                name,
                format!("{}/{}", int(o, "/status/readyReplicas"), int(o, "/spec/replicas")),
                int(o, "/status/updatedReplicas").to_string(),
                int(o, "/status/availableReplicas").to_string(),
                age,
                containers,
                images,
                selector,
            ]
        }
        "events" => {
            let stamp = |p: &str| o.pointer(p).and_then(Value::as_str).filter(|t| parse_rfc3339(t).is_some());
            let first = stamp("/firstTimestamp").or_else(|| stamp("/eventTime"));
            let first_seen = crate::apimachinery::time::age(first, now_ms);
            // printers.go printEvent: a series (events.k8s.io) carries the
            // last time and count; otherwise lastTimestamp and count.
            let last_seen = match (stamp("/series/lastObservedTime"), stamp("/lastTimestamp")) {
                (Some(t), _) | (None, Some(t)) => crate::apimachinery::time::age(Some(t), now_ms),
                (None, None) => first_seen.clone(),
            };
            let kind = s(o, "/involvedObject/kind").to_ascii_lowercase();
            let object_name = s(o, "/involvedObject/name");
            let object = if object_name.is_empty() { kind } else { format!("{kind}/{object_name}") };
            let mut source = s(o, "/source/component").to_string();
            if source.is_empty() {
                source = s(o, "/reportingComponent").to_string();
            }
            let host = s(o, "/source/host");
            if !host.is_empty() {
                source = format!("{source}, {host}");
            }
            let count = match (int(o, "/series/count"), int(o, "/count")) {
                (0, 0) => 1,
                (0, n) | (n, _) => n,
            };
            vec![
                last_seen,
                s(o, "/type").to_string(),
                s(o, "/reason").to_string(),
                object,
                s(o, "/involvedObject/fieldPath").to_string(),
                source,
                s(o, "/message").trim().to_string(),
                first_seen,
                count.to_string(),
                name,
            ]
        }
        "configmaps" => {
            let n = o.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
                + o.get("binaryData").and_then(Value::as_object).map_or(0, |m| m.len());
            vec![name, n.to_string(), age]
        }
        "secrets" => {
            let n = o.get("data").and_then(Value::as_object).map_or(0, |m| m.len());
            vec![name, s(o, "/type").to_string(), n.to_string(), age]
        }
        "serviceaccounts" => vec![name, list(o, "/secrets").len().to_string(), age],
        "leases" => vec![name, s(o, "/spec/holderIdentity").to_string(), age],
        "priorityclasses" => vec![
            name,
            int(o, "/value").to_string(),
            o.get("globalDefault").and_then(Value::as_bool).unwrap_or(false).to_string(),
            age,
            s(o, "/preemptionPolicy").to_string(),
        ],
        "roles" | "clusterroles" | "limitranges" => vec![name, s(o, "/metadata/creationTimestamp").to_string()],
        "resourcequotas" => {
            // printResourceQuota: `resource: used/hard`, limits apart, sorted.
            let hard = o.pointer("/spec/hard").and_then(Value::as_object).cloned().unwrap_or_default();
            let used = o.pointer("/status/used").and_then(Value::as_object).cloned().unwrap_or_default();
            let (mut requests, mut limits) = (Vec::new(), Vec::new());
            for (k, h) in &hard {
                let u = used.get(k).and_then(Value::as_str).unwrap_or("0");
                let cell = format!("{k}: {u}/{}", h.as_str().unwrap_or_default());
                if k.starts_with("limits.") {
                    limits.push(cell)
                } else {
                    requests.push(cell)
                }
            }
            vec![name, age, requests.join(", "), limits.join(", ")]
        }
        "rolebindings" | "clusterrolebindings" => {
            let subjects = list(o, "/subjects");
            let of = |kind: &str| {
                subjects
                    .iter()
                    .filter(|x| s(x, "/kind") == kind)
                    .map(|x| {
                        if kind == "ServiceAccount" {
                            format!("{}/{}", s(x, "/namespace"), s(x, "/name"))
                        } else {
                            s(x, "/name").to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                name,
                format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name")),
                age,
                of("User"),
                of("Group"),
                of("ServiceAccount"),
            ]
        }
        _ => vec![name, age],
    }
}

fn label_selector_string(v: Option<&Value>) -> String {
    match v.and_then(Selector::from_label_selector) {
        Some(sel) if !sel.is_empty() => selector_string(&sel),
        Some(_) => "<none>".into(),
        None => "<invalid>".into(),
    }
}

fn containers_and_images(o: &Value) -> (String, String) {
    let containers = list(o, "/spec/template/spec/containers");
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// The pod STATUS column (`printPod`): the phase or reason, overridden by
/// init and regular container states, `Terminating` when deleting.
pub fn pod_status(o: &Value) -> String {
    let mut reason = s(o, "/status/phase").to_string();
    if !s(o, "/status/reason").is_empty() {
        reason = s(o, "/status/reason").to_string();
    }
    let conditions = list(o, "/status/conditions");
    if conditions.iter().any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".into();
    }
    let init_total = list(o, "/spec/initContainers").len();
    let mut initializing = false;
    for (i, c) in list(o, "/status/initContainerStatuses").iter().enumerate() {
        if c.pointer("/state/terminated").is_some() && int(c, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if let Some(t) = c.pointer("/state/terminated") {
            let r = s(t, "/reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int(t, "/signal") != 0 {
                format!("Init:Signal:{}", int(t, "/signal"))
            } else {
                format!("Init:ExitCode:{}", int(t, "/exitCode"))
            };
        } else if !s(c, "/state/waiting/reason").is_empty() && s(c, "/state/waiting/reason") != "PodInitializing" {
            reason = format!("Init:{}", s(c, "/state/waiting/reason"));
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in list(o, "/status/containerStatuses").iter().rev() {
            let waiting = s(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                let r = s(t, "/reason");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int(t, "/signal") != 0 {
                    format!("Signal:{}", int(t, "/signal"))
                } else {
                    format!("ExitCode:{}", int(t, "/exitCode"))
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            let ready = conditions.iter().any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if ready { "Running" } else { "NotReady" }.into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        if s(o, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if !matches!(s(o, "/status/phase"), "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }
    reason
}

fn pod_cells(o: &Value, name: String, age: String, now_ms: u64) -> Vec<String> {
    let total = list(o, "/spec/containers").len()
        + list(o, "/spec/initContainers").iter().filter(|c| s(c, "/restartPolicy") == "Always").count();
    let statuses = list(o, "/status/containerStatuses");
    let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
    let restarts: i64 = statuses.iter().map(|c| int(c, "/restartCount").clamp(0, i64::from(i32::MAX))).sum();
    let last_restart = statuses
        .iter()
        .filter_map(|c| c.pointer("/lastState/terminated/finishedAt").and_then(Value::as_str).and_then(parse_rfc3339))
        .max();
    let restarts = match (restarts, last_restart) {
        (0, _) => "0".to_string(),
        (n, Some(t)) => format!("{n} ({} ago)", crate::apimachinery::time::human_duration(now_ms.saturating_sub(t))),
        (n, None) => n.to_string(),
    };
    let ip = list(o, "/status/podIPs").first().map(|p| s(p, "/ip").to_string()).unwrap_or_default();
    let gates = list(o, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(o, "/status/conditions");
        let met = gates
            .iter()
            .filter(|g| conditions.iter().any(|c| s(c, "/type") == s(g, "/conditionType") && s(c, "/status") == "True"))
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        name,
        format!("{ready}/{total}"),
        pod_status(o),
        restarts,
        age,
        or_none(ip),
        or_none(s(o, "/spec/nodeName").to_string()),
        or_none(s(o, "/status/nominatedNodeName").to_string()),
        gates,
    ]
}

/// Options of a table.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableOptions {
    /// `-o wide`.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub namespace_column: bool,
    /// `--show-labels`.
    pub show_labels: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// Prefix names with `kind/` (several types in one get).
    pub kind_prefix: bool,
}

/// The rows (header first) of a table of `objects`.
pub fn table_rows(resource: &Resource, objects: &[Value], now_ms: u64, opts: TableOptions) -> Vec<Vec<String>> {
    let cols = columns(resource);
    let keep: Vec<usize> =
        cols.iter().enumerate().filter(|(_, (_, wide))| opts.wide || !wide).map(|(i, _)| i).collect();
    let mut rows = Vec::new();
    if !opts.no_headers {
        let mut header: Vec<String> = Vec::new();
        if opts.namespace_column && resource.namespaced {
            header.push("NAMESPACE".into());
        }
        header.extend(keep.iter().map(|&i| cols[i].0.to_string()));
        if opts.show_labels {
            header.push("LABELS".into());
        }
        rows.push(header);
    }
    let name_col = cols.iter().position(|(h, _)| *h == "NAME");
    for o in objects {
        let all = cells(resource, o, now_ms);
        let mut row = Vec::new();
        if opts.namespace_column && resource.namespaced {
            row.push(s(o, "/metadata/namespace").to_string());
        }
        for &i in &keep {
            let mut cell = all.get(i).cloned().unwrap_or_default();
            if opts.kind_prefix && Some(i) == name_col {
                cell = format!("{}/{cell}", kind_prefix(resource));
            }
            // Cells end at the first line break.
            if let Some(cut) = cell.find(['\n', '\r']) {
                cell = format!("{}...", &cell[..cut]);
            }
            row.push(cell);
        }
        if opts.show_labels {
            row.push(or_none(format_labels(&labels_of(o))));
        }
        rows.push(row);
    }
    rows
}

/// `pod`, `deployment.apps`: how kubectl prefixes names of a kind.
pub fn kind_prefix(resource: &Resource) -> String {
    let kind = resource.kind.to_ascii_lowercase();
    if resource.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", resource.group)
    }
}

/// YAML the way kubectl prints it: sigs.k8s.io/yaml turns the JSON into a
/// map (so keys come out sorted) and go-yaml v2 emits it: two-space indents,
/// lists under a key not indented, strings plain unless they would read as
/// something else, then double-quoted; multi-line strings as `|` blocks.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(k, indent));
        out.push(':');
        yaml_value_after_key(&m[k], indent, out);
    }
}

fn yaml_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(inner) if !inner.is_empty() => {
            out.push('\n');
            yaml_map(inner, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_seq(items, indent, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn yaml_seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key sits on the dash's line.
                let mut inner = String::new();
                yaml_map(m, indent + 2, &mut inner);
                out.push_str(inner.trim_start_matches(' '));
            }
            Value::Array(a) if !a.is_empty() => {
                let mut inner = String::new();
                yaml_seq(a, indent + 2, &mut inner);
                out.push_str(inner.trim_start_matches(' '));
            }
            scalar => {
                out.push_str(&yaml_scalar(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Whether go-yaml would read `s` back as something other than this string.
fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    let reserved = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan"];
    if reserved.contains(&lower.as_str()) {
        return true;
    }
    let numeric = s.parse::<f64>().is_ok()
        || s.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        || s.strip_prefix("0o").is_some_and(|h| !h.is_empty());
    // Dates and times (YAML's timestamp type).
    let b = s.as_bytes();
    let date = b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit);
    let first = s.chars().next().unwrap_or(' ');
    numeric
        || date
        || ",[]{}#&*!|>'\"%@`".contains(first)
        || ("-?:".contains(first) && (s.len() == 1 || s[1..].starts_with(' ')))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control() && c != '\n')
}

fn yaml_string(s: &str, indent: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| c.is_control() && c != '\n') && s.trim_start() == s {
        // A literal block; `|-` when there is no final newline.
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        let mut out = format!("|{chomp}");
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&" ".repeat(indent.max(2)));
                out.push_str(line);
            }
        }
        return out;
    }
    if !needs_quotes(s) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON the way kubectl prints it: keys sorted (it decodes into an
/// unstructured map), 4-space indent.
pub fn to_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let value = &sorted(value);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    let _ = serde::Serialize::serialize(value, &mut ser);
    String::from_utf8(out).unwrap_or_default() + "\n"
}

/// A small JSONPath as kubectl's `-o jsonpath=` takes it: `{.a.b}`,
/// `{.items[0].x}`, `{.items[*].metadata.name}`, `{range .items[*]}...{end}`
/// is not supported. Text outside braces is printed as is.
pub fn jsonpath(template: &str, value: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| "unclosed action".to_string())? + start;
        let expr = rest[start + 1..end].trim();
        if let Some(literal) = expr.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
            out.push_str(literal);
            rest = &rest[end + 1..];
            continue;
        }
        let results = eval_path(expr, value)?;
        let texts: Vec<String> = results
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&texts.join(" "));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out.replace("\\n", "\n").replace("\\t", "\t"))
}

/// The values a JSONPath expression (without braces) selects.
pub fn eval_path(expr: &str, value: &Value) -> Result<Vec<Value>, String> {
    let expr = expr.strip_prefix('$').unwrap_or(expr);
    let mut current = vec![value.clone()];
    let mut rest = expr;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            rest = &r[end..];
            if field.is_empty() {
                continue;
            }
            current = current.iter().filter_map(|v| v.get(field).cloned()).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unterminated array")?;
            let index = &r[..end];
            rest = &r[end + 1..];
            current = current
                .iter()
                .flat_map(|v| {
                    let items = v.as_array().cloned().unwrap_or_default();
                    match index {
                        "*" => items,
                        i => {
                            let i: i64 = i.parse().unwrap_or(i64::MAX);
                            let i = if i < 0 { items.len() as i64 + i } else { i };
                            items.get(i as usize).cloned().into_iter().collect()
                        }
                    }
                })
                .collect();
        } else {
            return Err(format!("unrecognized character in action: {rest:?}"));
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_pad_like_the_tabwriter() {
        let rows = vec![
            vec!["NAME".to_string(), "READY".into(), "STATUS".into()],
            vec!["web-7d4b9c8f6d-abcde".to_string(), "1/1".into(), "Running".into()],
        ];
        assert_eq!(tabulate(&rows), "NAME                   READY   STATUS\nweb-7d4b9c8f6d-abcde   1/1     Running\n");
    }

    #[test]
    fn pod_status_follows_print_pod() {
        let pending = json!({"status": {"phase": "Pending"}});
        assert_eq!(pod_status(&pending), "Pending");
        let creating = json!({"status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(pod_status(&creating), "ContainerCreating");
        let deleting =
            json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert_eq!(pod_status(&deleting), "Terminating");
        let init = json!({"spec": {"initContainers": [{}]}, "status": {"phase": "Pending", "initContainerStatuses": [{"state": {"waiting": {"reason": "PodInitializing"}}}]}});
        assert_eq!(pod_status(&init), "Init:0/1");
    }

    #[test]
    fn yaml_reads_like_kubectls() {
        let v = json!({"metadata": {"name": "web", "resourceVersion": "30", "creationTimestamp": "2025-01-01T00:00:03Z",
            "annotations": {"a": "{\"x\":1}\n"}, "labels": {}},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "args": ["-v", "true"]}], "replicas": 3, "paused": false, "x": null}});
        assert_eq!(
            to_yaml(&v),
            "metadata:\n  annotations:\n    a: |\n      {\"x\":1}\n  creationTimestamp: \"2025-01-01T00:00:03Z\"\n  labels: {}\n  name: web\n  resourceVersion: \"30\"\nspec:\n  containers:\n  - args:\n    - -v\n    - \"true\"\n    name: c\n    ports:\n    - containerPort: 80\n  paused: false\n  replicas: 3\n  x: null\n"
        );
    }

    #[test]
    fn jsonpath_covers_the_common_cases() {
        let v = json!({"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}], "n": 3});
        assert_eq!(jsonpath("{.items[*].metadata.name}", &v).unwrap(), "a b");
        assert_eq!(jsonpath("{.items[0].metadata.name}{\"\\n\"}", &v).unwrap(), "a\n");
        assert_eq!(jsonpath("n={.n}", &v).unwrap(), "n=3");
    }
}
