//! A whole simulated cluster built from a [`Scenario`]: the driver with every
//! component added, the scenario's script, and the command layer on top.
//!
//! `kscope run`, `kscope shell`, the web worker and the tests all drive a
//! `Cluster`, so they behave identically.

use crate::command::{Command, HELP};
use crate::etcd;
use crate::etcdctl::{self, Etcdctl, EtcdctlCommand, WriteOut};
use crate::message::Payload;
use crate::component_id::ComponentId;
use crate::dormant::Dormant;
use crate::etcd::member::{member_id, EtcdMember, Peer};
use crate::duration::{clock, Duration};
use crate::kube_apiserver::KubeApiServer;
use crate::kubelet::Kubelet;
use crate::network::NetworkConfig;
use crate::scenario::Scenario;
use crate::simulation::Simulation;
use kscope_protocol::{ComponentKind, ComponentView, NodeView};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a command printed, and whether it succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// The text, ending in a newline unless empty. Errors start with `error: `.
    pub text: String,
    /// False when the command failed.
    pub ok: bool,
}

impl CommandOutput {
    fn ok(text: String) -> Self {
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

/// An `etcdctl txn` being typed: its compares, success and failure requests
/// come on the following lines, each section ended by a blank line.
struct TxnInput {
    cmd: Etcdctl,
    section: usize,
    txn: etcd::api::Txn,
}

/// An `etcdctl watch` streaming into the console.
struct ConsoleWatch {
    client: String,
    json: bool,
}

/// The cluster's initial etcd members, as the scenario defines them.
fn etcd_peers(scenario: &Scenario) -> Vec<Peer> {
    (1..=scenario.spec.etcd.members)
        .map(|n| {
            let name = format!("etcd-{n}");
            Peer { id: member_id(&name), name, component: ComponentId::Etcd(n) }
        })
        .collect()
}

/// The etcd members' snapshot settings from the scenario.
fn etcd_tuning(scenario: &Scenario) -> etcd::member::Tuning {
    etcd::member::Tuning {
        snapshot_count: scenario.spec.etcd.snapshot_count,
        snapshot_catch_up_entries: scenario.spec.etcd.snapshot_catch_up_entries,
    }
}

/// A running simulated cluster.
pub struct Cluster {
    scenario: Scenario,
    seed: u64,
    sim: Simulation,
    /// Script step indices in the order they run (by time, then file order).
    script_order: Vec<usize>,
    /// Position in `script_order` of the next step to run.
    next_step: usize,
    /// Id of the next request a console client (etcdctl) sends.
    next_client_request: u64,
    txn_input: Option<TxnInput>,
    watches: Vec<ConsoleWatch>,
    /// Output of background commands (watches) not yet shown.
    background: String,
    /// Files the console's commands wrote (`etcdctl snapshot save`): kscope
    /// has no real disk, in the browser or out.
    files: BTreeMap<String, Vec<u8>>,
    /// A script step is running: steps that fall due meanwhile wait for it.
    in_script: bool,
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
        sim.add(ComponentId::ApiServer, Box::new(KubeApiServer::new()));
        let peers = etcd_peers(&scenario);
        for peer in &peers {
            sim.add(peer.component.clone(), Box::new(EtcdMember::new(&peer.name, peers.clone(), etcd_tuning(&scenario))));
        }
        sim.add(ComponentId::Scheduler, Box::new(Dormant::new(ComponentKind::Scheduler)));
        sim.add(ComponentId::ControllerManager, Box::new(Dormant::new(ComponentKind::ControllerManager)));
        for node in &scenario.spec.nodes {
            sim.add(ComponentId::Kubelet(node.name.clone()), Box::new(Kubelet::new(&node.name)));
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
            background: String::new(),
            files: BTreeMap::new(),
            in_script: false,
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
        Ok(runs)
    }

    /// Collects what background watches received into the background output.
    fn drain_watches(&mut self) {
        for watch in &self.watches {
            for envelope in self.sim.take_client_inbox(&watch.client) {
                if let Payload::EtcdResponse { response, .. } = envelope.payload {
                    if let Ok(etcd::api::Reply::Watch(w)) = &response.result {
                        if !w.created || watch.json {
                            self.background.push_str(&etcdctl::format_watch(w, watch.json, &response.header));
                        }
                    }
                }
            }
        }
    }

    /// Output of background commands (`etcdctl watch`) since the last call.
    /// The shell prints it after each command; the browser console as it comes.
    pub fn take_background_output(&mut self) -> String {
        self.drain_watches();
        std::mem::take(&mut self.background)
    }

    /// Whether the console is in the middle of reading an `etcdctl txn`.
    pub fn reading_txn(&self) -> bool {
        self.txn_input.is_some()
    }

    fn feed_txn(&mut self, line: &str) -> CommandOutput {
        let input = self.txn_input.as_mut().expect("called while reading a txn");
        let line = line.trim();
        let parsed = if line.is_empty() {
            input.section += 1;
            Ok(())
        } else if input.section == 0 {
            etcdctl::parse_compare(line).map(|c| input.txn.compare.push(c))
        } else {
            etcdctl::parse_txn_op(line).map(|op| {
                if input.section == 1 { input.txn.success.push(op) } else { input.txn.failure.push(op) }
            })
        };
        if let Err(e) = parsed {
            self.txn_input = None;
            return CommandOutput { text: format!("Error: {e}\n"), ok: false };
        }
        if input.section < 3 {
            return CommandOutput::ok(String::new());
        }
        let TxnInput { mut cmd, txn, .. } = self.txn_input.take().expect("present");
        cmd.txn = Some(txn);
        self.etcdctl(&cmd)
    }

    /// Parses and runs one command line, as typed in a shell or console.
    /// Script steps that fell due while the command ran (an etcdctl request
    /// takes simulated time) run right after it, and their output follows.
    pub fn exec(&mut self, line: &str) -> CommandOutput {
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
        if self.txn_input.is_some() {
            return self.feed_txn(line);
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
                            let empty = etcd::api::Txn { compare: Vec::new(), success: Vec::new(), failure: Vec::new() };
                            self.txn_input = Some(TxnInput { cmd: *cmd, section: 0, txn: empty });
                            CommandOutput::ok(String::new())
                        }
                        EtcdctlCommand::Watch { .. } => self.start_watch(&cmd),
                        _ => self.etcdctl(&cmd),
                    };
                }
                match self.execute(command) {
                    Ok(text) => CommandOutput::ok(text),
                    Err(message) => error(&message),
                }
            }
            Err(message) => error(&message),
        }
    }

    /// Sends `request` from client `client` to `to` and runs the simulation until
    /// the answer arrives or `timeout_ms` passes. Returns the answer (or `None`
    /// on timeout) and the simulated time it took. Script steps that fall due
    /// meanwhile run when the command is done (see [`Cluster::exec`]), so
    /// commands never nest.
    fn call(
        &mut self,
        client: &str,
        to: ComponentId,
        request: etcd::api::Request,
        timeout_ms: u64,
    ) -> Result<(Option<etcd::api::Response>, u64), String> {
        let request_id = self.next_client_request;
        self.next_client_request += 1;
        let start = self.now_ms();
        let deadline = start + timeout_ms;
        self.sim.send_as_client(client, to, Payload::EtcdRequest { request_id, request });
        loop {
            // Answers to earlier requests that timed out are dropped here.
            for envelope in self.sim.take_client_inbox(client) {
                if let Payload::EtcdResponse { request_id: id, response } = envelope.payload {
                    if id == request_id {
                        return Ok((Some(response), self.now_ms() - start));
                    }
                }
            }
            match self.sim.next_event_ms() {
                Some(t) if t <= deadline => self.sim.run_until(t)?,
                _ => {
                    self.sim.run_until(deadline)?;
                    return Ok((None, timeout_ms));
                }
            }
        }
    }

    fn start_watch(&mut self, cmd: &Etcdctl) -> CommandOutput {
        let client = format!("etcdctl-watch-{}", self.next_client_request);
        let request_id = self.next_client_request;
        self.next_client_request += 1;
        let endpoint = cmd.endpoints.as_ref().and_then(|e| e.first().cloned()).unwrap_or_else(|| "etcd-1".into());
        let to = self.resolve_endpoint(&endpoint);
        self.sim.send_as_client(&client, to, Payload::EtcdRequest { request_id, request: cmd.request() });
        self.watches.push(ConsoleWatch { client, json: cmd.write_out == WriteOut::Json });
        CommandOutput::ok(String::new())
    }

    /// Stops every console watch, as Ctrl-C stops etcdctl watch.
    fn interrupt(&mut self) -> String {
        let stopped = self.watches.len();
        self.drain_watches();
        self.watches.clear();
        self.txn_input = None;
        match stopped {
            0 => "nothing to interrupt\n".into(),
            n => format!("stopped {n} watch{}\n", if n == 1 { "" } else { "es" }),
        }
    }

    /// The N of a new member named `etcd-N` that is not yet a component.
    fn new_member_number(&self, name: &str) -> Result<u8, String> {
        let n: u8 = name
            .strip_prefix("etcd-")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0 && *n <= 9)
            .ok_or_else(|| format!("kscope names etcd members etcd-1..etcd-9, not {name:?}"))?;
        if self.sim.has(&ComponentId::Etcd(n)) {
            return Err(format!("etcdserver: member {name} already runs in this simulation"));
        }
        Ok(n)
    }

    /// The member an etcdctl endpoint names: `etcd-2`, `10.0.0.12:2379` or a URL.
    fn resolve_endpoint(&self, endpoint: &str) -> ComponentId {
        let bare = endpoint.trim_start_matches("https://").trim_start_matches("http://");
        for n in 1..=9u8 {
            if !self.sim.has(&ComponentId::Etcd(n)) {
                continue;
            }
            let url = etcd::member::client_url(usize::from(n));
            if endpoint == format!("etcd-{n}") || bare == url.trim_start_matches("https://") {
                return ComponentId::Etcd(n);
            }
        }
        // Not a member: requests go nowhere and time out, as with the real etcdctl.
        ComponentId::Client(format!("unreachable {endpoint}"))
    }

    fn etcdctl(&mut self, cmd: &Etcdctl) -> CommandOutput {
        use etcd::api::Reply;
        let default_endpoint = etcd::member::client_url(1).trim_start_matches("https://").to_string();
        let endpoints = cmd.endpoints.clone().unwrap_or_else(|| vec![default_endpoint]);
        let mut out = String::new();
        let mut failed = None;
        let timeout = cmd.command_timeout_ms;
        let call = |cluster: &mut Cluster, endpoint: &str, request| -> Result<(Result<etcd::api::Response, String>, u64), String> {
            let to = cluster.resolve_endpoint(endpoint);
            let (response, took) = cluster.call("etcdctl", to, request, timeout)?;
            Ok((response.ok_or_else(|| "context deadline exceeded".to_string()), took))
        };
        let result: Result<(), String> = (|| {
            match &cmd.command {
                EtcdctlCommand::EndpointStatus { cluster } | EtcdctlCommand::EndpointHealth { cluster } => {
                    let mut targets = endpoints.clone();
                    if *cluster {
                        let (response, _) = call(self, &endpoints[0], etcd::api::Request::MemberList)?;
                        let response = response?;
                        if let Ok(Reply::MemberList(members)) = response.result {
                            targets = members.iter().flat_map(|m| m.client_urls.clone()).collect();
                        }
                    }
                    let mut rows = Vec::new();
                    let mut health = Vec::new();
                    for endpoint in &targets {
                        let (response, took) = call(self, endpoint, cmd.request())?;
                        let took_text = Duration::from_millis(took.max(1)).to_string();
                        match (response.map(|r| (r.header.clone(), r.result)), &cmd.command) {
                            (Ok((header, Ok(Reply::Status(status)))), _) => rows.push((endpoint.clone(), header, status)),
                            (Ok((_, Ok(_))), _) => health.push((endpoint.clone(), true, took_text, String::new())),
                            (Ok((_, Err(e))), EtcdctlCommand::EndpointHealth { .. }) | (Err(e), EtcdctlCommand::EndpointHealth { .. }) => {
                                health.push((endpoint.clone(), false, took_text, e))
                            }
                            (Ok((_, Err(e))), _) | (Err(e), _) => {
                                failed = Some(String::new());
                                out.push_str(&format!("Failed to get the status of endpoint {endpoint} ({e})\n"));
                            }
                        }
                    }
                    if matches!(cmd.command, EtcdctlCommand::EndpointStatus { .. }) {
                        out.push_str(&etcdctl::format_status(&rows, cmd.write_out));
                    } else if cmd.write_out == WriteOut::Table {
                        let rows: Vec<Vec<String>> =
                            health.iter().map(|(e, ok, took, err)| vec![e.clone(), ok.to_string(), took.clone(), err.clone()]).collect();
                        out.push_str(&etcdctl::table(&["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &rows));
                    } else {
                        for (endpoint, ok, took, err) in &health {
                            if *ok {
                                out.push_str(&format!("{endpoint} is healthy: successfully committed proposal: took = {took}\n"));
                            } else {
                                out.push_str(&format!("{endpoint} is unhealthy: failed to commit proposal: {err}\n"));
                            }
                        }
                    }
                    if health.iter().any(|h| !h.1) {
                        failed = Some("unhealthy cluster".into());
                    }
                    Ok(())
                }
                EtcdctlCommand::SnapshotSave { file } => {
                    let (response, _) = call(self, &endpoints[0], cmd.request())?;
                    if let Reply::Snapshot { data } = response?.result? {
                        self.files.insert(file.clone(), data);
                    }
                    out.push_str(&format!("Snapshot saved at {file}\n"));
                    Ok(())
                }
                EtcdctlCommand::SnapshotStatus { file } => {
                    let data = self.files.get(file).ok_or_else(|| format!("stat {file}: no such file or directory"))?;
                    let (revision, keys, _) = etcd::member::EtcdMember::snapshot_summary(data)
                        .ok_or_else(|| format!("snapshot file {file} is not a snapshot"))?;
                    out.push_str(&etcdctl::format_snapshot_status(data, revision, keys, cmd.write_out));
                    Ok(())
                }
                EtcdctlCommand::SnapshotRestore { file } => {
                    let data = self.files.get(file).cloned().ok_or_else(|| format!("stat {file}: no such file or directory"))?;
                    let (revision, ..) = etcd::member::EtcdMember::snapshot_summary(&data)
                        .ok_or_else(|| format!("snapshot file {file} is not a snapshot"))?;
                    let peers = etcd_peers(&self.scenario);
                    let tuning = etcd_tuning(&self.scenario);
                    for peer in &peers {
                        let member = etcd::member::EtcdMember::restored(&peer.name, peers.clone(), tuning, data.clone());
                        self.sim.replace(&peer.component, Box::new(member));
                    }
                    // Members added later belong to the old cluster: they stop.
                    let initial: Vec<&ComponentId> = peers.iter().map(|p| &p.component).collect();
                    let others: Vec<ComponentId> = (1..=9u8)
                        .map(ComponentId::Etcd)
                        .filter(|id| self.sim.has(id) && !initial.contains(&id))
                        .collect();
                    for id in others {
                        self.sim.kill(&id);
                    }
                    let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
                    out.push_str(&format!(
                        "restored {} from {file} at revision {revision}; every member restarted from it as a new cluster\n",
                        names.join(", ")
                    ));
                    Ok(())
                }
                EtcdctlCommand::Defrag { cluster } => {
                    let mut targets = endpoints.clone();
                    if *cluster {
                        targets = (1..=9u8)
                            .filter(|n| self.sim.has(&ComponentId::Etcd(*n)))
                            .map(|n| etcd::member::client_url(usize::from(n)))
                            .collect();
                    }
                    for endpoint in &targets {
                        let (response, _) = call(self, endpoint, cmd.request())?;
                        match response.and_then(|r| r.result) {
                            Ok(_) => out.push_str(&format!("Finished defragmenting etcd member[{endpoint}]\n")),
                            Err(e) => {
                                out.push_str(&format!("Failed to defragment etcd member[{endpoint}] ({e})\n"));
                                failed = Some(String::new());
                            }
                        }
                    }
                    Ok(())
                }
                EtcdctlCommand::MoveLeader { target } => {
                    // Like etcdctl: ask each endpoint for its status and send the
                    // request to the one that leads.
                    let mut leader = None;
                    for endpoint in &endpoints {
                        if let (Ok(response), _) = call(self, endpoint, etcd::api::Request::Status)? {
                            if let Ok(Reply::Status(status)) = &response.result {
                                if status.leader == response.header.member_id {
                                    leader = Some((endpoint.clone(), status.leader));
                                }
                            }
                        }
                    }
                    let Some((endpoint, leader_id)) = leader else {
                        return Err(format!("no leader endpoint given at [{}]", endpoints.join(" ")));
                    };
                    let (response, _) = call(self, &endpoint, cmd.request())?;
                    response?.result?;
                    out.push_str(&format!("Leadership transferred from {leader_id:x} to {target:x}\n"));
                    Ok(())
                }
                EtcdctlCommand::MemberAdd { name, peer_urls, .. } => {
                    let n = self.new_member_number(name)?;
                    let expected = etcd::member::peer_url(usize::from(n));
                    if !peer_urls.is_empty() && peer_urls != &vec![expected.clone()] {
                        return Err(format!("kscope simulates {name} at {expected}: use --peer-urls={expected}"));
                    }
                    let mut cmd = cmd.clone();
                    if let EtcdctlCommand::MemberAdd { peer_urls, .. } = &mut cmd.command {
                        *peer_urls = vec![expected];
                    }
                    let (response, _) = call(self, &endpoints[0], cmd.request())?;
                    let response = response?;
                    let reply = response.result.clone()?;
                    if let Reply::MemberAdd { members, .. } = &reply {
                        let tuning = etcd_tuning(&self.scenario);
                        let member = etcd::member::EtcdMember::joining(name, response.header.cluster_id, members.clone(), tuning);
                        self.sim.add_stopped(ComponentId::Etcd(n), Box::new(member));
                    }
                    out.push_str(&etcdctl::format_reply(&cmd, &response, &reply)?);
                    out.push_str(&format!("(kscope: start the new member with: sim start {name})\n"));
                    Ok(())
                }
                _ => {
                    let (response, _) = call(self, &endpoints[0], cmd.request())?;
                    let response = response?;
                    match (&response.result, &cmd.command) {
                        (Ok(reply), _) => {
                            out.push_str(&etcdctl::format_reply(cmd, &response, reply)?);
                            Ok(())
                        }
                        (Err(e), EtcdctlCommand::LeaseRevoke { .. }) => Err(format!("failed to revoke lease ({e})")),
                        (Err(e), _) => Err(e.clone()),
                    }
                }
            }
        })();
        let text = out;
        match (result, failed) {
            (Err(e), _) => CommandOutput { text: format!("{text}Error: {e}\n"), ok: false },
            (Ok(()), Some(e)) if !e.is_empty() => CommandOutput { text: format!("{text}Error: {e}\n"), ok: false },
            (Ok(()), Some(_)) => CommandOutput { text, ok: false },
            (Ok(()), None) => CommandOutput::ok(text),
        }
    }

    fn check_component(&self, id: &ComponentId) -> Result<(), String> {
        if self.sim.has(id) {
            Ok(())
        } else {
            Err(format!("component {:?} not found (see sim status)", id.to_string()))
        }
    }

    fn execute(&mut self, command: Command) -> Result<String, String> {
        match command {
            Command::Help => Ok(format!("{HELP}\n")),
            Command::Status => Ok(self.status()),
            Command::Advance(by) => {
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
                let described: Vec<String> = groups
                    .iter()
                    .map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
                    .collect();
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
            Command::Interrupt => Ok(self.interrupt()),
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

    /// Components and nodes as the UI draws them.
    pub fn view(&self) -> (Vec<ComponentView>, Vec<NodeView>) {
        let components = self
            .sim
            .components()
            .map(|(id, c, up)| ComponentView {
                id: id.to_string(),
                kind: c.kind(),
                node: match id {
                    ComponentId::Kubelet(node) => Some(node.clone()),
                    _ => None,
                },
                up,
                details: c.details(),
            })
            .collect();
        let nodes = self
            .scenario
            .spec
            .nodes
            .iter()
            .map(|n| NodeView {
                name: n.name.clone(),
                cpu_millis: n.cpu.millis().clamp(0, i128::from(u64::MAX)) as u64,
                memory_bytes: n.memory.value().clamp(0, i128::from(u64::MAX)) as u64,
                labels: n.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            })
            .collect();
        (components, nodes)
    }
}
