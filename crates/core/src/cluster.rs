//! A whole simulated cluster built from a [`Scenario`]: the driver with every
//! component added, the scenario's script, and the command layer on top.
//!
//! `kscope run`, `kscope shell`, the web worker and the tests all drive a
//! `Cluster`, so they behave identically.

use crate::command::{Command, HELP};
use crate::component_id::ComponentId;
use crate::coredns::CoreDns;
use crate::duration::{clock, Duration};
use crate::etcd;
use crate::etcd::member::{member_id, EtcdMember, Peer};
use crate::etcdctl::{ConsoleWatch, EtcdctlCommand, TxnInput};
use crate::kube_addon_manager::KubeAddonManager;
use crate::kube_apiserver::KubeApiServer;
use crate::kube_controller_manager::KubeControllerManager;
use crate::kube_proxy::KubeProxy;
use crate::kube_scheduler::KubeScheduler;
use crate::kubelet::Kubelet;
use crate::network::NetworkConfig;
use crate::scenario::Scenario;
use crate::simulation::Simulation;
use kscope_protocol::{ComponentView, NodeView, PodView};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Longest `sim advance` one console line may ask for: a day of simulated
/// time keeps the browser responsive; `kscope run --until` has no such limit.
pub const MAX_ADVANCE: Duration = Duration::from_secs(24 * 3600);

/// What a command printed, and whether it succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// The text, ending in a newline unless empty. Errors start with `error: `.
    pub text: String,
    /// False when the command failed.
    pub ok: bool,
}

impl CommandOutput {
    pub(crate) fn ok(text: String) -> Self {
        CommandOutput { text, ok: true }
    }

    fn error(message: &str) -> Self {
        CommandOutput { text: format!("error: {message}\n"), ok: false }
    }
}

/// A script step that ran, with what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptRun {
    /// When it ran.
    pub at_ms: u64,
    /// The command line.
    pub line: String,
    /// What it printed.
    pub output: CommandOutput,
}

impl ScriptRun {
    /// `[5s] $ line` followed by the output, as the shell and `kscope run` show it.
    pub fn render(&self) -> String {
        format!("[{}] $ {}\n{}", Duration::from_millis(self.at_ms), self.line, self.output.text)
    }
}

/// The cluster's initial etcd members, as the scenario defines them.
pub(crate) fn etcd_peers(scenario: &Scenario) -> Vec<Peer> {
    (1..=scenario.spec.etcd.members)
        .map(|n| {
            let name = format!("etcd-{n}");
            Peer { id: member_id(&name), name, component: ComponentId::Etcd(n) }
        })
        .collect()
}

/// The etcd members' snapshot settings from the scenario.
pub(crate) fn etcd_tuning(scenario: &Scenario) -> etcd::member::Tuning {
    etcd::member::Tuning {
        snapshot_count: scenario.spec.etcd.snapshot_count,
        snapshot_catch_up_entries: scenario.spec.etcd.snapshot_catch_up_entries,
    }
}

/// A running simulated cluster.
pub struct Cluster {
    pub(crate) scenario: Scenario,
    seed: u64,
    pub(crate) sim: Simulation,
    /// Script step indices in the order they run (by time, then file order).
    script_order: Vec<usize>,
    /// Position in `script_order` of the next step to run.
    next_step: usize,
    /// Id of the next request a console client (etcdctl) sends.
    pub(crate) next_client_request: u64,
    pub(crate) txn_input: Option<TxnInput>,
    pub(crate) watches: Vec<ConsoleWatch>,
    /// `kubectl get -w` streams in the console.
    pub(crate) kube_watches: Vec<crate::kubectl::KubeWatch>,
    /// Output of background commands (watches) not yet shown.
    pub(crate) background: String,
    /// Files the console's commands wrote (`etcdctl snapshot save`): kscope
    /// has no real disk, in the browser or out.
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// A heredoc being typed (`kubectl apply -f - <<EOF`).
    heredoc: Option<Heredoc>,
    /// A script step is running: steps that fall due meanwhile wait for it.
    in_script: bool,
    /// Each node's ClientIP session-affinity memory (the kernel's `recent` lists).
    affinity: crate::curl::Affinity,
    /// Index of the next node to join (its address and pod CIDR follow from it).
    next_node_index: usize,
}

/// A command waiting for the lines of its heredoc.
#[derive(Debug)]
struct Heredoc {
    command: Vec<String>,
    terminator: String,
    body: String,
}

impl Cluster {
    /// Builds the cluster a scenario describes, with the scenario's seed.
    pub fn new(scenario: Scenario) -> Result<Cluster, String> {
        let seed = scenario.spec.seed;
        Cluster::with_seed(scenario, seed)
    }

    /// Builds the cluster a scenario describes, with another seed.
    pub fn with_seed(scenario: Scenario, seed: u64) -> Result<Cluster, String> {
        scenario.validate()?;
        let mut sim = Simulation::new(seed, scenario.network_config()?);
        let kubernetes = scenario.spec.kubernetes;
        if kubernetes {
            let endpoints = etcd_peers(&scenario).into_iter().map(|p| p.component).collect();
            sim.add(ComponentId::ApiServer, Box::new(KubeApiServer::new(endpoints)));
        }
        let peers = etcd_peers(&scenario);
        for peer in &peers {
            sim.add(
                peer.component.clone(),
                Box::new(EtcdMember::new(&peer.name, peers.clone(), etcd_tuning(&scenario))),
            );
        }
        if kubernetes {
            let config = scenario.spec.scheduler.clone().unwrap_or(serde_json::Value::Null);
            sim.add(ComponentId::Scheduler, Box::new(KubeScheduler::with_config(config)?));
            sim.add(ComponentId::ControllerManager, Box::new(KubeControllerManager::new()));
        }
        // Control-plane nodes first (kubeadm init, then joins), each kubelet
        // running its static pods.
        let control_plane = scenario.spec.control_plane_nodes();
        let next_node_index = scenario.spec.nodes.len() + control_plane.len().saturating_sub(1);
        for cp in control_plane {
            let pods = crate::kubelet::static_pods::static_pods(&cp.spec.name, &cp.address, &cp.components);
            let kubelet = Kubelet::new(&cp.spec, &cp.address, &cp.pod_cidr).with_static_pods(pods);
            sim.add(ComponentId::Kubelet(cp.spec.name.clone()), Box::new(kubelet));
        }
        let nodes = if kubernetes { scenario.spec.nodes.as_slice() } else { &[] };
        for (i, node) in nodes.iter().enumerate() {
            let address = crate::scenario::worker_address(i);
            let pod_cidr = crate::scenario::worker_pod_cidr(i);
            sim.add(ComponentId::Kubelet(node.name.clone()), Box::new(Kubelet::new(node, &address, &pod_cidr)));
        }
        if kubernetes {
            // kube-proxy and CoreDNS run as add-ons: their pods' containers
            // run them (see crate::kubelet on hosted programs).
            let addons: Vec<String> = match &scenario.spec.addons {
                Some(texts) => texts.clone(),
                None => crate::kube_addon_manager::DEFAULT_ADDONS.iter().map(|t| t.to_string()).collect(),
            };
            sim.add(ComponentId::AddonManager, Box::new(KubeAddonManager::new(&addons)));
        }
        let mut script_order: Vec<usize> = (0..scenario.spec.script.len()).collect();
        script_order.sort_by_key(|&i| scenario.spec.script[i].at); // stable: ties keep file order
        Ok(Cluster {
            scenario,
            seed,
            sim,
            script_order,
            next_step: 0,
            next_client_request: 0,
            txn_input: None,
            watches: Vec::new(),
            kube_watches: Vec::new(),
            background: String::new(),
            files: BTreeMap::new(),
            heredoc: None,
            in_script: false,
            affinity: BTreeMap::new(),
            next_node_index,
        })
    }

    /// The scenario this cluster was built from.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The scenario's name, or `(unnamed)`.
    pub fn name(&self) -> &str {
        match self.scenario.metadata.name.as_str() {
            "" => "(unnamed)",
            name => name,
        }
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Simulated time now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.sim.now_ms()
    }

    /// The simulation driver.
    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// The simulation driver, to record or drain its trace.
    pub fn simulation_mut(&mut self) -> &mut Simulation {
        &mut self.sim
    }

    /// Time of the last script step, if there is a script.
    pub fn script_end_ms(&self) -> Option<u64> {
        self.scenario.spec.script.iter().map(|s| s.at.ms).max()
    }

    /// Runs simulated time forward by `by`, running script steps as they fall due.
    pub fn advance(&mut self, by: Duration) -> Result<Vec<ScriptRun>, String> {
        let target = self
            .now_ms()
            .checked_add(by.ms)
            .ok_or_else(|| format!("cannot advance by {by}: simulated time would overflow"))?;
        self.advance_to(target)
    }

    /// Runs simulated time forward to `target_ms` (no-op if already past it).
    pub fn advance_to(&mut self, target_ms: u64) -> Result<Vec<ScriptRun>, String> {
        let mut runs = Vec::new();
        while let Some(&index) = self.script_order.get(self.next_step) {
            let step = &self.scenario.spec.script[index];
            if step.at.ms > target_ms {
                break;
            }
            let (at_ms, line) = (step.at.ms, step.run.clone());
            self.sim.run_until(at_ms)?;
            self.next_step += 1;
            let outer = std::mem::replace(&mut self.in_script, true);
            let output = self.exec(&line);
            self.in_script = outer;
            runs.push(ScriptRun { at_ms: self.now_ms(), line, output });
        }
        self.sim.run_until(target_ms)?;
        self.drain_watches();
        self.drain_kube_watches();
        Ok(runs)
    }

    /// Parses and runs one command line, as typed in a shell or console.
    /// Script steps that fell due while the command ran (an etcdctl request
    /// takes simulated time) run right after it, and their output follows.
    ///
    /// Text of several lines (a paste, or the UI's YAML editor sending
    /// `kubectl apply -f - <<EOF` with its manifest) runs line by line, as a
    /// shell reads it; the outputs follow each other and it fails if any
    /// line failed.
    pub fn exec(&mut self, line: &str) -> CommandOutput {
        if line.contains('\n') && !self.in_script {
            let mut all = CommandOutput::ok(String::new());
            for one in line.split('\n') {
                let out = self.exec(one.strip_suffix('\r').unwrap_or(one));
                all.text.push_str(&out.text);
                all.ok &= out.ok;
            }
            return all;
        }
        let mut output = self.exec_one(line);
        if !self.in_script {
            match self.advance_to(self.now_ms()) {
                Ok(runs) => output.text.extend(runs.iter().map(ScriptRun::render)),
                Err(e) => {
                    output.text.push_str(&format!("error: {e}\n"));
                    output.ok = false;
                }
            }
        }
        output
    }

    fn exec_one(&mut self, line: &str) -> CommandOutput {
        // A txn being typed takes the console's next lines, not a script's.
        if self.txn_input.is_some() && !self.in_script {
            return self.feed_txn(line);
        }
        if self.heredoc.is_some() && !self.in_script {
            return self.feed_heredoc(line);
        }
        // `kubectl apply -f - <<EOF`: the manifest follows on the next lines.
        if let Ok(words) = crate::command::split_words(line.trim()) {
            let reads_heredoc = matches!(words.first().map(String::as_str), Some("kubectl" | "k" | "cat"));
            if let Some((command, terminator)) = crate::kubectl::split_heredoc(&words).filter(|_| reads_heredoc) {
                if self.in_script {
                    return CommandOutput::error(
                        "a script step cannot read input lines (<<); put the manifest in a file",
                    );
                }
                self.heredoc = Some(Heredoc { command, terminator, body: String::new() });
                return CommandOutput::ok(String::new());
            }
        }
        // Each tool words its errors its own way: etcdctl says "Error: ".
        let etcdctl = line.split_whitespace().next() == Some("etcdctl");
        let error = |message: &str| {
            if etcdctl {
                CommandOutput { text: format!("Error: {message}\n"), ok: false }
            } else {
                CommandOutput::error(message)
            }
        };
        match Command::parse(line) {
            Ok(None) => CommandOutput::ok(String::new()),
            Ok(Some(command)) => {
                if command.changes_simulation() {
                    self.sim.record_action(line.trim());
                }
                if let Command::Etcdctl(cmd) = command {
                    return match cmd.command {
                        EtcdctlCommand::Txn => {
                            let empty =
                                etcd::api::Txn { compare: Vec::new(), success: Vec::new(), failure: Vec::new() };
                            self.txn_input = Some(TxnInput { cmd: *cmd, section: 0, txn: empty });
                            CommandOutput::ok(String::new())
                        }
                        EtcdctlCommand::Watch { .. } => self.start_watch(&cmd),
                        _ => self.etcdctl(&cmd),
                    };
                }
                if let Command::Kubectl(cmd) = command {
                    return self.kubectl(&cmd);
                }
                if let Command::Curl { namespace, from, url } = &command {
                    return self.curl(namespace, from, url);
                }
                if let Command::Nslookup { namespace, from, name, srv } = &command {
                    return self.nslookup(namespace, from, name, *srv);
                }
                match self.execute(command) {
                    Ok(text) => CommandOutput::ok(text),
                    Err(message) => error(&message),
                }
            }
            Err(message) => error(&message),
        }
    }

    /// Whether the console is reading the lines of a heredoc (`<<EOF`).
    pub fn reading_heredoc(&self) -> bool {
        self.heredoc.is_some()
    }

    fn feed_heredoc(&mut self, line: &str) -> CommandOutput {
        if line.trim() == "sim interrupt" {
            // Ctrl-C abandons the heredoc, as in a shell.
            self.heredoc = None;
            return CommandOutput::ok("^C\n".to_string());
        }
        let doc = self.heredoc.as_mut().expect("called while reading a heredoc");
        if line.trim() != doc.terminator {
            doc.body.push_str(line);
            doc.body.push('\n');
            return CommandOutput::ok(String::new());
        }
        let Heredoc { command, body, .. } = self.heredoc.take().expect("present");
        match command.split_first() {
            Some((tool, rest)) if tool == "kubectl" || tool == "k" => match crate::kubectl::Kubectl::parse(rest) {
                Ok(mut cmd) => {
                    self.sim.record_action(&command.join(" "));
                    cmd.stdin = Some(body);
                    self.kubectl(&cmd)
                }
                Err(e) => CommandOutput::error(&e),
            },
            _ => CommandOutput::error("only kubectl reads a heredoc (kubectl apply -f - <<EOF)"),
        }
    }

    /// Puts a file where `kubectl apply -f NAME` (and etcdctl's snapshot
    /// commands) find it: the browser's uploads and the shell's local files.
    pub fn put_file(&mut self, name: &str, contents: Vec<u8>) {
        self.files.insert(name.to_string(), contents);
    }

    /// `sim add node`: a new worker's kubelet starts; it registers the Node
    /// and its Lease, and the controllers take it from there (the kube-proxy
    /// DaemonSet's pod, node lifecycle).
    fn add_node(&mut self, spec: crate::scenario::NodeSpec) -> Result<String, String> {
        if !self.scenario.spec.kubernetes {
            return Err("this scenario runs no Kubernetes (spec.kubernetes: false): there are no nodes".into());
        }
        let kubelet = ComponentId::Kubelet(spec.name.clone());
        if self.sim.has(&kubelet) {
            return Err(format!("node {:?} already exists", spec.name));
        }
        let address = crate::scenario::worker_address(self.next_node_index);
        let pod_cidr = crate::scenario::worker_pod_cidr(self.next_node_index);
        self.next_node_index += 1;
        self.sim.add(kubelet, Box::new(Kubelet::new(&spec, &address, &pod_cidr)));
        Ok(format!(
            "node {} ({address}, pod CIDR {pod_cidr}) is joining: kubelet/{} started (kube-proxy follows as its DaemonSet pod)\n",
            spec.name, spec.name
        ))
    }

    /// `sim remove node`: the way an administrator takes a node out: drain
    /// it, wait for its evicted pods to go, shut the machine down and delete
    /// the Node (the pod GC then removes what was left on it).
    fn remove_node(&mut self, name: &str) -> Result<String, String> {
        let kubelet = ComponentId::Kubelet(name.to_string());
        if !self.sim.has(&kubelet) {
            return Err(format!("node {name:?} not found"));
        }
        if self.scenario.spec.control_plane_nodes().iter().any(|c| c.spec.name == name) {
            return Err(format!(
                "node {name:?} is a control-plane node: its static pods run etcd and the control plane (kill them with sim kill)"
            ));
        }
        let words: Vec<String> =
            ["drain", name, "--ignore-daemonsets", "--force"].iter().map(|w| w.to_string()).collect();
        let drain = crate::kubectl::Kubectl::parse(&words).expect("a valid drain command");
        let mut out = self.kubectl(&drain).text;
        // Like kubectl drain, wait (up to its grace periods) for the evicted pods to go.
        let deadline = self.now_ms() + 60_000;
        while self.now_ms() < deadline && self.pods_to_drain(name) > 0 {
            self.advance(Duration::from_secs(1))?;
        }
        self.sim.remove(&kubelet);
        self.sim.remove(&ComponentId::KubeProxy(name.to_string()));
        writeln!(out, "kubelet/{name} and kube-proxy/{name} shut down").unwrap();
        let words: Vec<String> = ["delete", "node", name].iter().map(|w| w.to_string()).collect();
        let delete = crate::kubectl::Kubectl::parse(&words).expect("a valid delete command");
        out.push_str(&self.kubectl(&delete).text);
        Ok(out)
    }

    /// Pods on `node` that a drain evicts (not DaemonSet or mirror pods), as the apiserver has them.
    fn pods_to_drain(&self, node: &str) -> usize {
        let (_, nodes, _) = self.view();
        nodes
            .iter()
            .find(|n| n.name == node)
            .map_or(0, |n| n.pods.iter().filter(|p| !matches!(p.controller.as_str(), "DaemonSet" | "Node")).count())
    }

    fn check_component(&self, id: &ComponentId) -> Result<(), String> {
        if self.sim.has(id) {
            Ok(())
        } else {
            Err(format!("component {:?} not found (see sim status)", id.to_string()))
        }
    }

    /// `sim explain`: kube-scheduler's last attempt for a pod.
    fn kubelets(&self) -> Vec<&Kubelet> {
        self.sim.components().filter_map(|(_, c, up)| up.then_some(c)?.as_any().downcast_ref::<Kubelet>()).collect()
    }

    /// Where `from` (a pod in `namespace`, or a node) sends from: (node, IP, namespace for the search list).
    fn source(&self, namespace: &str, from: &str) -> Result<(String, String, Option<String>), String> {
        for (id, c, up) in self.sim.components() {
            let (ComponentId::Kubelet(node), true) = (id, up) else { continue };
            let Some(k) = c.as_any().downcast_ref::<Kubelet>() else { continue };
            if let Some(w) = k.workers().values().find(|w| w.namespace == namespace && w.name == from) {
                return match &w.ip {
                    Some(ip) if w.phase() == "Running" => Ok((node.clone(), ip.clone(), Some(namespace.to_string()))),
                    _ => Err(format!("error: unable to upgrade connection: container not found ({from:?})\n")),
                };
            }
            if node == from {
                return Ok((node.clone(), k.address().to_string(), None));
            }
        }
        Err(format!("Error from server (NotFound): pods {from:?} not found\n"))
    }

    fn curl(&mut self, namespace: &str, from: &str, url: &str) -> CommandOutput {
        let (node, ip, search) = match self.source(namespace, from) {
            Ok(s) => s,
            Err(text) => return CommandOutput { text, ok: false },
        };
        let seed = self.sim.rng_mut().next_u64();
        let mut local = crate::rng::SimRng::new(seed);
        let now = self.now_ms();
        let mut affinity = std::mem::take(&mut self.affinity);
        let dns = self.dns_server(&node, &mut |k| local.below(k));
        let dns = dns.and_then(|id| self.coredns(&id));
        let proxy_id = ComponentId::KubeProxy(node.clone());
        let proxy = self
            .sim
            .components()
            .find(|(id, _, up)| **id == proxy_id && *up)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeProxy>());
        let source = crate::curl::Source { node: &node, ip, namespace: search };
        let (text, ok) =
            crate::curl::curl(url, &source, dns, proxy, &self.kubelets(), &mut affinity, now, &mut |k| local.below(k));
        self.affinity = affinity;
        self.sim.record_action(&format!("sim curl {from} {url}"));
        CommandOutput { text, ok }
    }

    fn nslookup(&mut self, namespace: &str, from: &str, name: &str, srv: bool) -> CommandOutput {
        let (node, search) = match self.source(namespace, from) {
            Ok((node, _, search)) => (node, search),
            Err(text) => return CommandOutput { text, ok: false },
        };
        let seed = self.sim.rng_mut().next_u64();
        let mut local = crate::rng::SimRng::new(seed);
        let server = self.dns_server(&node, &mut |k| local.below(k));
        let Some(dns) = server.and_then(|id| self.coredns(&id)) else {
            return CommandOutput {
                text: ";; connection timed out; no servers could be reached\n\n".into(),
                ok: false,
            };
        };
        let qtype = if srv { crate::coredns::QueryType::Srv } else { crate::coredns::QueryType::A };
        let answer = match search {
            Some(ns) => dns.resolve(name, &ns, qtype),
            None => dns.lookup(name, qtype).map(|r| (name.to_string(), r)),
        };
        CommandOutput { text: crate::coredns::nslookup_text(name, &answer), ok: answer.is_ok() }
    }

    /// The CoreDNS server a query from `node` to the kube-dns Service
    /// (10.96.0.10:53/UDP) reaches: the node's kube-proxy rule for it picks
    /// one of its endpoints, a coredns pod whose container runs the server.
    /// `None` when the query goes nowhere (no kube-proxy running on the node,
    /// no ready endpoint, the server down): the resolver times out.
    fn dns_server(&self, node: &str, roll: &mut dyn FnMut(u64) -> u64) -> Option<ComponentId> {
        let proxy_id = ComponentId::KubeProxy(node.to_string());
        let proxy = self
            .sim
            .components()
            .find(|(id, _, up)| **id == proxy_id && *up)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeProxy>())?;
        let rule = proxy
            .rules()
            .iter()
            .find(|r| r.cluster_ip == crate::coredns::DNS_SERVICE_IP && r.port == 53 && r.protocol == "UDP")?;
        if rule.endpoints.is_empty() {
            return None;
        }
        let endpoint = &rule.endpoints[crate::kube_proxy::pick_endpoint(rule.endpoints.len(), roll)];
        let pod = endpoint.pod.split_once('/').map_or(endpoint.pod.as_str(), |(_, name)| name);
        Some(ComponentId::CoreDns(pod.to_string()))
    }

    /// The node whose kubelet runs the kube-system pod `pod` (a coredns pod).
    fn node_running(&self, pod: &str) -> Option<String> {
        self.sim.components().find_map(|(id, c, _)| {
            let ComponentId::Kubelet(node) = id else { return None };
            let k = c.as_any().downcast_ref::<Kubelet>()?;
            k.workers().values().any(|w| w.namespace == "kube-system" && w.name == pod).then(|| node.clone())
        })
    }

    /// The running CoreDNS server `id`.
    fn coredns(&self, id: &ComponentId) -> Option<&CoreDns> {
        self.sim
            .components()
            .find(|(c, _, up)| *c == id && *up)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<CoreDns>())
    }

    /// `sim flow`: the steps of [`crate::flow::STEPS`] the pod took, with
    /// their times and the component that took each.
    fn flow(&self, namespace: &str, name: &str) -> Result<String, String> {
        use crate::flow::STEPS;
        let key = format!("{namespace}/{name}");
        let Some(steps) = self.sim.flows().steps(&key) else {
            return Err(format!(
                "no steps recorded for pod {key:?}: sim flow follows pods created while the simulation runs (the last {})",
                crate::flow::FlowLog::MAX_PODS
            ));
        };
        let start = steps.first().map_or(0, |s| s.at_ms);
        let mut rows = vec![["STEP", "TIME", "+", "WHERE", "BY", "WHAT"].map(String::from).to_vec()];
        for s in steps {
            let (place, what) = STEPS[usize::from(s.step.clamp(1, 11)) - 1];
            rows.push(vec![
                s.step.to_string(),
                Duration::from_millis(s.at_ms).to_string(),
                Duration::from_millis(s.at_ms - start).to_string(),
                place.to_string(),
                s.component.to_string(),
                what.to_string(),
            ]);
        }
        let mut out = String::new();
        let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c == 5 {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let taken: Vec<u8> = steps.iter().map(|s| s.step).collect();
        let missing: Vec<String> = (1..=11u8).filter(|s| !taken.contains(s)).map(|s| s.to_string()).collect();
        if missing.is_empty() {
            writeln!(
                out,
                "pod {key} went from create to running in {}",
                Duration::from_millis(steps.last().map_or(0, |s| s.at_ms) - start)
            )
            .unwrap();
        } else {
            writeln!(out, "not yet taken: step {}", missing.join(", ")).unwrap();
        }
        Ok(out)
    }

    fn explain(&self, namespace: &str, name: &str) -> Result<String, String> {
        let key = format!("{namespace}/{name}");
        let scheduler = self
            .sim
            .components()
            .find(|(id, _, _)| **id == ComponentId::Scheduler)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeScheduler>())
            .ok_or("this scenario runs no kube-scheduler")?;
        match scheduler.explanation(&key) {
            Some(attempt) => Ok(attempt.render(&key)),
            None => Err(format!(
                "kube-scheduler has no attempt on record for pod {key:?} (pods already bound when it started, pods for another scheduler, and old attempts are not kept)"
            )),
        }
    }

    fn execute(&mut self, command: Command) -> Result<String, String> {
        match command {
            Command::Help => Ok(format!("{HELP}\n")),
            Command::Status => Ok(self.status()),
            Command::Explain { namespace, name } => self.explain(&namespace, &name),
            Command::Flow { namespace, name } => self.flow(&namespace, &name),
            Command::Advance(by) => {
                if by > MAX_ADVANCE {
                    return Err(format!(
                        "sim advance takes at most {MAX_ADVANCE} at a time (asked for {by}); use kscope run --until for longer runs"
                    ));
                }
                let runs = self.advance(by)?;
                let mut out: String = runs.iter().map(ScriptRun::render).collect();
                writeln!(out, "advanced {by} to {}", Duration::from_millis(self.now_ms())).unwrap();
                Ok(out)
            }
            Command::Reset { seed } => {
                let seed = seed.unwrap_or(self.scenario.spec.seed);
                let recording = self.sim.trace().is_recording();
                *self = Cluster::with_seed(self.scenario.clone(), seed)?;
                self.sim.trace_mut().set_recording(recording);
                Ok(format!("reset scenario {} with seed {seed}\n", self.name()))
            }
            Command::Partition(groups) => {
                for id in groups.iter().flatten() {
                    self.check_component(id)?;
                }
                let all = self.sim.component_ids();
                self.sim.network_mut().partition(&groups, &all);
                let described: Vec<String> =
                    groups.iter().map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")).collect();
                Ok(if described.len() == 1 {
                    format!("partitioned {} from the rest of the cluster\n", described[0])
                } else {
                    format!("partitioned {}\n", described.join(" | "))
                })
            }
            Command::Heal => {
                self.sim.network_mut().heal();
                Ok("healed all network partitions\n".into())
            }
            Command::Kill(id) => {
                self.check_component(&id)?;
                Ok(if self.sim.kill(&id) { format!("{id} stopped\n") } else { format!("{id} is already stopped\n") })
            }
            Command::Start(id) => {
                self.check_component(&id)?;
                Ok(if self.sim.restart(&id) { format!("{id} started\n") } else { format!("{id} is already running\n") })
            }
            Command::Etcdctl(_) => unreachable!("etcdctl runs through Cluster::etcdctl"),
            Command::Kubectl(_) | Command::Curl { .. } | Command::Nslookup { .. } => {
                unreachable!("kubectl, sim curl and sim nslookup run before execute")
            }
            Command::Interrupt => Ok(self.interrupt()),
            Command::AddNode(spec) => self.add_node(spec),
            Command::RemoveNode(name) => self.remove_node(&name),
            Command::Restart(id) => {
                self.check_component(&id)?;
                self.sim.kill(&id);
                self.sim.restart(&id);
                Ok(format!("{id} restarted\n"))
            }
            Command::Network(change) => {
                if !change.is_empty() {
                    let old = self.sim.network().config().clone();
                    let (latency_ms_min, latency_ms_max) =
                        change.latency_ms.unwrap_or((old.latency_ms_min, old.latency_ms_max));
                    let config = NetworkConfig {
                        latency_ms_min,
                        latency_ms_max,
                        loss_ppm: change.loss_ppm.unwrap_or(old.loss_ppm),
                        duplicate_ppm: change.duplicate_ppm.unwrap_or(old.duplicate_ppm),
                        reorder_ppm: change.reorder_ppm.unwrap_or(old.reorder_ppm),
                    };
                    self.sim.network_mut().set_config(config)?;
                }
                Ok(format!("network: {}\npartitions: {}\n", self.sim.network().config(), self.partitions_text()))
            }
        }
    }

    fn partitions_text(&self) -> String {
        let cut = self.sim.network().partitions();
        if cut.is_empty() {
            "none".into()
        } else {
            format!("{} links cut", cut.len())
        }
    }

    /// The `sim status` report.
    pub fn status(&self) -> String {
        let trace = self.sim.trace();
        let stats = self.sim.stats();
        let mut out = String::new();
        let now = self.now_ms();
        writeln!(out, "Scenario:   {}", self.name()).unwrap();
        writeln!(out, "Seed:       {}", self.seed).unwrap();
        writeln!(out, "Time:       {} ({})", Duration::from_millis(now), clock(now)).unwrap();
        writeln!(out, "Trace:      {} events, hash {}", trace.len(), trace.hash_hex()).unwrap();
        writeln!(
            out,
            "Messages:   {} sent, {} delivered, {} lost, {} partitioned, {} duplicated",
            stats.sent, stats.delivered, stats.lost, stats.partitioned, stats.duplicated
        )
        .unwrap();
        writeln!(out, "Network:    {}; partitions: {}", self.sim.network().config(), self.partitions_text()).unwrap();
        writeln!(out).unwrap();
        let rows: Vec<(String, &str, String)> = self
            .sim
            .components()
            .map(|(id, c, up)| {
                let details = c.details().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
                (id.to_string(), if up { "Running" } else { "Stopped" }, details)
            })
            .collect();
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max("COMPONENT".len());
        writeln!(out, "{:<width$}   {:<7}   DETAILS", "COMPONENT", "STATUS").unwrap();
        for (id, status, details) in rows {
            writeln!(out, "{id:<width$}   {status:<7}   {details}").unwrap();
        }
        out
    }

    /// Components, nodes (with their pods) and the pods waiting for a node,
    /// as the UI draws them.
    pub fn view(&self) -> (Vec<ComponentView>, Vec<NodeView>, Vec<PodView>) {
        let components = self
            .sim
            .components()
            .map(|(id, c, up)| ComponentView {
                id: id.to_string(),
                kind: c.kind(),
                node: match id {
                    ComponentId::Kubelet(node) | ComponentId::KubeProxy(node) => Some(node.clone()),
                    ComponentId::CoreDns(pod) => self.node_running(pod),
                    _ => None,
                },
                up,
                details: c.details(),
            })
            .collect();
        let (mut by_node, unscheduled) = self.pod_views();
        let cache = self.apiserver_cache();
        // Every node with a kubelet: the control-plane nodes, the scenario's
        // workers and those that joined since, by name.
        let nodes = self
            .sim
            .components()
            .filter_map(|(_, c, _)| c.as_any().downcast_ref::<Kubelet>())
            .map(Kubelet::spec)
            .map(|n| {
                let object = cache.and_then(|c| c.get(&format!("/registry/minions/{}", n.name))).map(|c| &c.object);
                let status = object
                    .and_then(|o| {
                        let r = crate::apimachinery::resources::by_plural("", "nodes")?;
                        crate::kubectl::printers::cells(r, o, self.now_ms()).into_iter().nth(1)
                    })
                    .unwrap_or_default();
                let taints = object
                    .and_then(|o| o.pointer("/spec/taints"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let s = |f: &str| t.get(f).and_then(Value::as_str).unwrap_or_default();
                        match s("value") {
                            "" => format!("{}:{}", s("key"), s("effect")),
                            v => format!("{}={v}:{}", s("key"), s("effect")),
                        }
                    })
                    .collect();
                let (pods, cpu, memory) = by_node.remove(&n.name).unwrap_or_default();
                NodeView {
                    name: n.name.clone(),
                    cpu_millis: n.cpu.millis().clamp(0, i128::from(u64::MAX)) as u64,
                    memory_bytes: n.memory.value().clamp(0, i128::from(u64::MAX)) as u64,
                    labels: n.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    status,
                    taints,
                    cpu_requested_millis: cpu,
                    memory_requested_bytes: memory,
                    pods,
                }
            })
            .collect();
        (components, nodes, unscheduled)
    }

    /// The Services with their endpoints, from kube-apiserver's cache (its
    /// Endpoints objects, as the endpoints controller wrote them).
    pub fn services(&self) -> Vec<kscope_protocol::ServiceView> {
        let Some(cache) = self.apiserver_cache() else { return Vec::new() };
        let Some(resource) = crate::apimachinery::resources::by_plural("", "services") else { return Vec::new() };
        cache
            .list("/registry/services/specs/")
            .into_iter()
            .map(|(_, cached)| {
                let o = &cached.object;
                let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
                let (namespace, name) = (s("/metadata/namespace"), s("/metadata/name"));
                let cells = crate::kubectl::printers::cells(resource, o, self.now_ms());
                let endpoints_key = format!("/registry/services/endpoints/{namespace}/{name}");
                let mut endpoints = Vec::new();
                if let Some(ep) = cache.get(&endpoints_key) {
                    for subset in ep.object.get("subsets").and_then(Value::as_array).into_iter().flatten() {
                        for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
                            for a in subset.get(field).and_then(Value::as_array).into_iter().flatten() {
                                let f = |p: &str| a.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
                                endpoints.push(kscope_protocol::EndpointView {
                                    ip: f("/ip"),
                                    pod: f("/targetRef/name"),
                                    node: f("/nodeName"),
                                    ready,
                                });
                            }
                        }
                    }
                }
                endpoints.sort_by(|a, b| (!a.ready, &a.ip).cmp(&(!b.ready, &b.ip)));
                endpoints.dedup();
                kscope_protocol::ServiceView {
                    namespace,
                    name,
                    kind: s("/spec/type"),
                    cluster_ip: s("/spec/clusterIP"),
                    ports: cells.get(4).cloned().unwrap_or_default(),
                    endpoints,
                }
            })
            .collect()
    }

    /// kube-apiserver's watch cache: what the cluster's objects are now.
    fn apiserver_cache(&self) -> Option<&crate::kube_apiserver::watch_cache::WatchCache> {
        self.sim
            .components()
            .find(|(id, _, _)| **id == ComponentId::ApiServer)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<KubeApiServer>())
            .map(KubeApiServer::cache)
    }

    /// Pods by node (with the CPU and memory requested by those not ended),
    /// and the unscheduled ones, from kube-apiserver's cache.
    #[allow(clippy::type_complexity)]
    fn pod_views(&self) -> (BTreeMap<String, (Vec<PodView>, u64, u64)>, Vec<PodView>) {
        let mut by_node: BTreeMap<String, (Vec<PodView>, u64, u64)> = BTreeMap::new();
        let mut unscheduled = Vec::new();
        let Some(cache) = self.apiserver_cache() else { return (by_node, unscheduled) };
        let Some(pods) = crate::apimachinery::resources::by_plural("", "pods") else {
            return (by_node, unscheduled);
        };
        for (_, cached) in cache.list("/registry/pods/") {
            let o = &cached.object;
            let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            let cells = crate::kubectl::printers::cells(pods, o, self.now_ms());
            let restarts = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_u64))
                .sum::<u64>();
            let view = PodView {
                namespace: s("/metadata/namespace"),
                name: s("/metadata/name"),
                phase: s("/status/phase"),
                status: cells.get(2).cloned().unwrap_or_default(),
                ready: cells.get(1).cloned().unwrap_or_default(),
                restarts: u32::try_from(restarts).unwrap_or(u32::MAX),
                controller: o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .and_then(|refs| refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
                    .and_then(|r| r.get("kind").and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_string(),
            };
            let node = s("/spec/nodeName");
            if node.is_empty() {
                unscheduled.push(view);
                continue;
            }
            let entry = by_node.entry(node).or_default();
            if !matches!(view.phase.as_str(), "Succeeded" | "Failed") {
                for c in o.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                    let request = |r: &str| {
                        c.pointer(&format!("/resources/requests/{r}"))
                            .and_then(Value::as_str)
                            .and_then(|q| crate::quantity::Quantity::parse(q).ok())
                    };
                    if let Some(q) = request("cpu") {
                        entry.1 += q.millis().clamp(0, i128::from(u64::MAX)) as u64;
                    }
                    if let Some(q) = request("memory") {
                        entry.2 += q.value().clamp(0, i128::from(u64::MAX)) as u64;
                    }
                }
            }
            entry.0.push(view);
        }
        (by_node, unscheduled)
    }
}
