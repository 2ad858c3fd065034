//! Running etcdctl commands against the simulated members: requests travel
//! the simulated network from an `etcdctl` client endpoint and the console
//! waits, in simulated time, for the answer or etcdctl's command timeout.
//! Streaming commands (`watch`) and multi-line input (`txn`) live here too.

use super::{Etcdctl, EtcdctlCommand, WriteOut};
use crate::cluster::{etcd_peers, etcd_tuning, Cluster, CommandOutput};
use crate::component_id::ComponentId;
use crate::duration::Duration;
use crate::etcd;
use crate::etcdctl as printers;
use crate::message::Payload;

/// An `etcdctl txn` being typed: its compares, success and failure requests
/// come on the following lines, each section ended by a blank line.
pub(crate) struct TxnInput {
    pub(crate) cmd: Etcdctl,
    pub(crate) section: usize,
    pub(crate) txn: etcd::api::Txn,
}

/// An `etcdctl watch` streaming into the console.
pub(crate) struct ConsoleWatch {
    pub(crate) client: String,
    pub(crate) json: bool,
}

impl Cluster {
    /// Collects what background watches received into the background output.
    pub(crate) fn drain_watches(&mut self) {
        for watch in &self.watches {
            for envelope in self.sim.take_client_inbox(&watch.client) {
                if let Payload::EtcdResponse { response, .. } = envelope.payload {
                    if let Ok(etcd::api::Reply::Watch(w)) = &response.result {
                        if !w.created || watch.json {
                            self.background.push_str(&printers::format_watch(w, watch.json, &response.header));
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
        self.drain_kube_watches();
        std::mem::take(&mut self.background)
    }

    /// Whether the console is in the middle of reading an `etcdctl txn`.
    pub fn reading_txn(&self) -> bool {
        self.txn_input.is_some()
    }

    pub(crate) fn feed_txn(&mut self, line: &str) -> CommandOutput {
        let input = self.txn_input.as_mut().expect("called while reading a txn");
        let line = line.trim();
        let parsed = if line.is_empty() {
            input.section += 1;
            Ok(())
        } else if input.section == 0 {
            printers::parse_compare(line).map(|c| input.txn.compare.push(c))
        } else {
            printers::parse_txn_op(line).map(|op| {
                if input.section == 1 {
                    input.txn.success.push(op)
                } else {
                    input.txn.failure.push(op)
                }
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
        self.sim.send_as_client(client, to.clone(), Payload::EtcdRequest { request_id, request });
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
                    // The client gives up, and gRPC tells the server: a request
                    // still waiting for a leader there is abandoned.
                    let cancel = etcd::api::Request::Cancel { request_id };
                    let cancel_id = self.next_client_request;
                    self.next_client_request += 1;
                    self.sim.send_as_client(
                        client,
                        to,
                        Payload::EtcdRequest { request_id: cancel_id, request: cancel },
                    );
                    return Ok((None, timeout_ms));
                }
            }
        }
    }

    pub(crate) fn start_watch(&mut self, cmd: &Etcdctl) -> CommandOutput {
        let client = format!("etcdctl-watch-{}", self.next_client_request);
        let request_id = self.next_client_request;
        self.next_client_request += 1;
        let endpoints = cmd.endpoints.clone().unwrap_or_else(|| vec!["etcd-1".into()]);
        let to = self.resolve_endpoint(&self.pick_endpoint(&endpoints));
        self.sim.send_as_client(&client, to, Payload::EtcdRequest { request_id, request: cmd.request() });
        self.watches.push(ConsoleWatch { client, json: cmd.write_out == WriteOut::Json });
        CommandOutput::ok(String::new())
    }

    /// Stops every console watch, as Ctrl-C stops etcdctl watch.
    pub(crate) fn interrupt(&mut self) -> String {
        let stopped = self.watches.len() + self.kube_watches.len();
        self.drain_watches();
        self.watches.clear();
        self.stop_kube_watches();
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

    /// Which of `--endpoints` a one-request command goes to: like clientv3's
    /// balancer, the first endpoint that accepts connections (a stopped member
    /// refuses them at once); if none does, the first, which times out.
    fn pick_endpoint(&self, endpoints: &[String]) -> String {
        // A member that applied its own removal is up but has shut its server.
        let running = |e: &&String| {
            let id = self.resolve_endpoint(e);
            self.sim.components().any(|(c, component, up)| {
                let removed = component
                    .as_any()
                    .downcast_ref::<etcd::member::EtcdMember>()
                    .is_some_and(|m| m.raft_state().is_none());
                *c == id && up && !removed
            })
        };
        endpoints.iter().find(running).unwrap_or(&endpoints[0]).clone()
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

    pub(crate) fn etcdctl(&mut self, cmd: &Etcdctl) -> CommandOutput {
        use etcd::api::Reply;
        let default_endpoint = etcd::member::client_url(1).trim_start_matches("https://").to_string();
        let endpoints = cmd.endpoints.clone().unwrap_or_else(|| vec![default_endpoint]);
        let mut out = String::new();
        let mut failed = None;
        let timeout = cmd.command_timeout_ms;
        let call = |cluster: &mut Cluster,
                    endpoint: &str,
                    request|
         -> Result<(Result<etcd::api::Response, String>, u64), String> {
            let to = cluster.resolve_endpoint(endpoint);
            let (response, took) = cluster.call("etcdctl", to, request, timeout)?;
            Ok((response.ok_or_else(|| "context deadline exceeded".to_string()), took))
        };
        let result: Result<(), String> = (|| {
            match &cmd.command {
                EtcdctlCommand::EndpointStatus { cluster } | EtcdctlCommand::EndpointHealth { cluster } => {
                    let mut targets = endpoints.clone();
                    if *cluster {
                        let (response, _) =
                            call(self, &self.pick_endpoint(&endpoints), etcd::api::Request::MemberList)?;
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
                            (Ok((header, Ok(Reply::Status(status)))), _) => {
                                rows.push((endpoint.clone(), header, status))
                            }
                            (Ok((_, Ok(_))), _) => health.push((endpoint.clone(), true, took_text, String::new())),
                            (Ok((_, Err(e))), EtcdctlCommand::EndpointHealth { .. })
                            | (Err(e), EtcdctlCommand::EndpointHealth { .. }) => {
                                health.push((endpoint.clone(), false, took_text, e))
                            }
                            (Ok((_, Err(e))), _) | (Err(e), _) => {
                                failed = Some(String::new());
                                out.push_str(&format!("Failed to get the status of endpoint {endpoint} ({e})\n"));
                            }
                        }
                    }
                    if matches!(cmd.command, EtcdctlCommand::EndpointStatus { .. }) {
                        out.push_str(&printers::format_status(&rows, cmd.write_out));
                    } else if cmd.write_out == WriteOut::Table {
                        let rows: Vec<Vec<String>> = health
                            .iter()
                            .map(|(e, ok, took, err)| vec![e.clone(), ok.to_string(), took.clone(), err.clone()])
                            .collect();
                        out.push_str(&printers::table(&["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &rows));
                    } else {
                        for (endpoint, ok, took, err) in &health {
                            if *ok {
                                out.push_str(&format!(
                                    "{endpoint} is healthy: successfully committed proposal: took = {took}\n"
                                ));
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
                    let (response, _) = call(self, &self.pick_endpoint(&endpoints), cmd.request())?;
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
                    out.push_str(&printers::format_snapshot_status(data, revision, keys, cmd.write_out));
                    Ok(())
                }
                EtcdctlCommand::SnapshotRestore { file } => {
                    let data = self
                        .files
                        .get(file)
                        .cloned()
                        .ok_or_else(|| format!("stat {file}: no such file or directory"))?;
                    let (revision, ..) = etcd::member::EtcdMember::snapshot_summary(&data)
                        .ok_or_else(|| format!("snapshot file {file} is not a snapshot"))?;
                    let peers = etcd_peers(&self.scenario);
                    let tuning = etcd_tuning(&self.scenario);
                    for peer in &peers {
                        let member =
                            etcd::member::EtcdMember::restored(&peer.name, peers.clone(), tuning, data.clone());
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
                    let (response, _) = call(self, &self.pick_endpoint(&endpoints), cmd.request())?;
                    let response = response?;
                    let reply = response.result.clone()?;
                    if let Reply::MemberAdd { members, .. } = &reply {
                        let tuning = etcd_tuning(&self.scenario);
                        let member = etcd::member::EtcdMember::joining(
                            name,
                            response.header.cluster_id,
                            members.clone(),
                            tuning,
                        );
                        self.sim.add_stopped(ComponentId::Etcd(n), Box::new(member));
                    }
                    out.push_str(&printers::format_reply(&cmd, &response, &reply)?);
                    out.push_str(&format!("(kscope: start the new member with: sim start {name})\n"));
                    Ok(())
                }
                _ => {
                    let (response, _) = call(self, &self.pick_endpoint(&endpoints), cmd.request())?;
                    let response = response?;
                    match (&response.result, &cmd.command) {
                        (Ok(reply), _) => {
                            out.push_str(&printers::format_reply(cmd, &response, reply)?);
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
}
