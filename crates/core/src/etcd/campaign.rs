//! The seeded fault campaign: random client operations (put, get, delete and
//! compare-and-set transactions) against an etcd
//! cluster while random faults hit it, with safety checked all along and the
//! client history checked for linearizability at the end (TigerBeetle's VOPR
//! and Jepsen's etcd tests are the models).
//!
//! Checked after every simulation event:
//! - at most one leader per term;
//!
//! and every 250 ms of simulated time:
//! - committed log prefixes are identical on all running members;
//! - members that applied the same index have identical stores;
//!
//! and at the end, after healing everything: every key read back, and the whole
//! history (including those reads) linearizable.
//!
//! One seed fixes everything: cluster size, workload, faults and the
//! simulation's own randomness, so `kscope campaign etcd --seed N` replays a run.

use crate::component_id::ComponentId;
use crate::etcd::api::{Compare, CompareResult, CompareTarget, Reply, Request, Txn, TxnOp};
use crate::etcd::linearizability::{self, Op, Operation, Outcome};
use crate::etcd::member::EtcdMember;
use crate::etcd::mvcc::KeyRange;
use crate::message::Payload;
use crate::rng::SimRng;
use crate::{Cluster, Scenario};
use raft::StateRole;
use std::collections::BTreeMap;

/// Shape of one campaign run.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    /// Simulated time with faults and load.
    pub duration_ms: u64,
    /// Concurrent clients, each with at most one operation in flight.
    pub clients: usize,
    /// Keys the clients use.
    pub keys: usize,
    /// How long a client waits for an answer (etcdctl's --command-timeout).
    pub client_timeout_ms: u64,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig { duration_ms: 20_000, clients: 3, keys: 4, client_timeout_ms: 5_000 }
    }
}

/// What one run did and found.
#[derive(Clone, Debug)]
pub struct CampaignReport {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub members: u8,
    /// Operations invoked.
    pub operations: usize,
    /// Operations that got a definite answer.
    pub acknowledged: usize,
    /// Faults injected, as the commands that injected them (with their time).
    pub faults: Vec<String>,
    /// The simulation's trace hash.
    pub trace_hash: String,
    /// The first safety or linearizability violation, if any.
    pub violation: Option<String>,
}

struct Client {
    name: String,
    /// (request id, index into history, deadline) of the operation in flight.
    in_flight: Option<(u64, usize, u64)>,
    next_op_ms: u64,
}

struct Run {
    cluster: Cluster,
    rng: SimRng,
    /// Highest member number created so far (etcd-1..etcd-N exist as components).
    members: u8,
    /// Member numbers currently in the cluster (added ones in, removed ones out).
    live: Vec<u8>,
    history: Vec<Operation>,
    /// Global order of invocations and completions.
    clock: u64,
    next_request: u64,
    leaders_by_term: BTreeMap<u64, u64>,
    violation: Option<String>,
    faults: Vec<String>,
}

impl Run {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn members_state(&self) -> Vec<&EtcdMember> {
        self.cluster
            .simulation()
            .components()
            .filter(|(_, _, up)| *up)
            .filter_map(|(_, c, _)| c.as_any().downcast_ref::<EtcdMember>())
            .collect()
    }

    fn check_leaders(&mut self) {
        let mut found = None;
        let leaders: Vec<(u64, u64)> = self
            .members_state()
            .iter()
            .filter_map(|m| match m.raft_state() {
                Some((StateRole::Leader, term, _, _)) => Some((term, m.id())),
                _ => None,
            })
            .collect();
        for (term, id) in leaders {
            match self.leaders_by_term.insert(term, id) {
                Some(other) if other != id => {
                    found = Some(format!("two leaders in term {term}: {other:x} and {id:x}"));
                }
                _ => {}
            }
        }
        if self.violation.is_none() {
            self.violation = found;
        }
    }

    fn check_logs_and_stores(&mut self) {
        let members = self.members_state();
        let mut found = None;
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let (Some((_, _, ca, aa)), Some((_, _, cb, ab))) = (a.raft_state(), b.raft_state()) else { continue };
                let upto = ca.min(cb);
                let la: BTreeMap<u64, (u64, Vec<u8>)> = a.log(upto).into_iter().map(|(i, t, d)| (i, (t, d))).collect();
                for (index, term, data) in b.log(upto) {
                    if let Some((t, d)) = la.get(&index) {
                        if (*t, d) != (term, &data) {
                            found =
                                Some(format!("committed entry {index} differs between {:x} and {:x}", a.id(), b.id()));
                        }
                    }
                }
                if aa == ab && (a.store() != b.store() || a.lessor().leases() != b.lessor().leases()) {
                    found = Some(format!("{:x} and {:x} applied {aa} entries but their stores differ", a.id(), b.id()));
                }
            }
        }
        if self.violation.is_none() {
            self.violation = found;
        }
    }

    fn exec(&mut self, line: &str) {
        let out = self.cluster.exec(line);
        debug_assert!(out.ok, "{line}: {}", out.text);
        self.faults.push(format!("[{}ms] {line}", self.cluster.now_ms()));
    }

    /// Runs a command that may fail (membership changes under faults often do).
    fn try_exec(&mut self, line: &str) -> bool {
        let ok = self.cluster.exec(line).ok;
        self.faults.push(format!("[{}ms] {line}{}", self.cluster.now_ms(), if ok { "" } else { "  (failed)" }));
        ok
    }

    /// Adds a member (and starts it) or removes one, through etcdctl on a
    /// random member, as an operator would.
    fn change_membership(&mut self) {
        let via = self.random_member();
        if self.members < 7 && self.rng.below(2) == 0 {
            let n = self.members + 1;
            let add = format!(
                "etcdctl --endpoints=etcd-{via} --command-timeout=2s member add etcd-{n} --peer-urls=https://10.0.0.{}:2380",
                10 + u32::from(n)
            );
            if self.try_exec(&add) {
                self.members = n;
                self.live.push(n);
                self.exec(&format!("sim start etcd-{n}"));
            }
        } else if self.live.len() > 3 {
            let victim = self.random_member();
            let id = super::member::member_id(&format!("etcd-{victim}"));
            let remove = format!("etcdctl --endpoints=etcd-{via} --command-timeout=2s member remove {id:x}");
            if self.try_exec(&remove) {
                self.live.retain(|m| *m != victim);
            }
        }
    }

    /// A member currently in the cluster.
    fn random_member(&mut self) -> u8 {
        self.live[self.rng.below(self.live.len() as u64) as usize]
    }

    fn inject_fault(&mut self) {
        let down: Vec<u8> = (1..=self.members)
            .filter(|n| !self.cluster.simulation().components().any(|(id, _, up)| *id == ComponentId::Etcd(*n) && up))
            .collect();
        match self.rng.below(7) {
            6 => self.change_membership(),
            0 | 1 => {
                let n = self.random_member();
                if down.contains(&n) {
                    self.exec(&format!("sim start etcd-{n}"));
                } else {
                    self.exec(&format!("sim kill etcd-{n}"));
                }
            }
            2 => {
                let mut left = Vec::new();
                let mut right = Vec::new();
                for n in 1..=self.members {
                    if self.rng.below(2) == 0 {
                        left.push(n)
                    } else {
                        right.push(n)
                    }
                }
                if left.is_empty() || right.is_empty() {
                    return;
                }
                let group = |g: &[u8]| g.iter().map(|n| format!("etcd-{n}")).collect::<Vec<_>>().join(",");
                self.exec(&format!("sim partition {} / {}", group(&left), group(&right)));
            }
            3 => self.exec("sim heal"),
            4 => {
                let percent = self.rng.below(31);
                self.exec(&format!("sim drop {percent}%"));
            }
            _ => {
                let max = 5 + self.rng.below(100);
                self.exec(&format!("sim delay 1ms..{max}ms"));
            }
        }
    }

    fn invoke(&mut self, client: &mut Client, keys: usize, timeout_ms: u64) {
        let key = format!("k{}", self.rng.below(keys as u64));
        let roll = self.rng.below(100);
        let (op, request) = if roll < 15 {
            // Compare-and-set against the value this client last saw, as the
            // apiserver's optimistic concurrency does.
            let expected = self.history.iter().rev().find(|o| o.key == key).and_then(|o| match (&o.op, &o.outcome) {
                (Op::Put(v), _) => Some(v.clone()),
                (Op::Get, Outcome::Ok(v)) => v.clone(),
                _ => None,
            });
            let new = format!("{}-{}", client.name, self.next_request);
            let target = match &expected {
                Some(v) => CompareTarget::Value(v.clone().into_bytes()),
                None => CompareTarget::Create(0),
            };
            let txn = Txn {
                compare: vec![Compare { key: key.clone().into_bytes(), target, result: CompareResult::Equal }],
                success: vec![TxnOp::Put { key: key.clone().into_bytes(), value: new.clone().into_bytes(), lease: 0 }],
                failure: vec![],
            };
            (Op::Cas { expected, new }, Request::Txn(txn))
        } else if roll < 55 {
            let value = format!("{}-{}", client.name, self.next_request);
            let request = Request::Put {
                key: key.clone().into_bytes(),
                value: value.clone().into_bytes(),
                lease: 0,
                prev_kv: false,
            };
            (Op::Put(value), request)
        } else if roll < 85 {
            (
                Op::Get,
                Request::Range { range: KeyRange::single(key.as_bytes()), revision: 0, limit: 0, serializable: false },
            )
        } else {
            (Op::Delete, Request::DeleteRange { range: KeyRange::single(key.as_bytes()) })
        };
        let to = ComponentId::Etcd(self.random_member());
        let request_id = self.next_request;
        self.next_request += 1;
        let invoked = self.tick();
        self.history.push(Operation { key, op, invoked, completed: u64::MAX, outcome: Outcome::Unknown });
        let deadline = self.cluster.now_ms() + timeout_ms;
        client.in_flight = Some((request_id, self.history.len() - 1, deadline));
        self.cluster.simulation_mut().send_as_client(&client.name, to, Payload::EtcdRequest { request_id, request });
    }

    /// Takes answers from the client's inbox; returns true if its operation ended.
    fn collect(&mut self, client: &mut Client) {
        let inbox = self.cluster.simulation_mut().take_client_inbox(&client.name);
        let Some((request_id, index, deadline)) = client.in_flight else { return };
        for envelope in inbox {
            let Payload::EtcdResponse { request_id: id, response } = envelope.payload else { continue };
            if id != request_id {
                continue; // an answer to an operation we already gave up on
            }
            let completed = self.tick();
            let op = &mut self.history[index];
            match response.result {
                Ok(Reply::Txn { succeeded, .. }) => {
                    op.outcome = Outcome::Swapped(succeeded);
                    op.completed = completed;
                }
                Ok(Reply::Range(r)) => {
                    op.outcome = Outcome::Ok(r.kvs.first().map(|kv| String::from_utf8_lossy(&kv.value).into_owned()));
                    op.completed = completed;
                }
                Ok(_) => {
                    op.outcome = Outcome::Ok(None);
                    op.completed = completed;
                }
                // A failed read says nothing; a timed-out write may still apply.
                Err(_) if op.op == Op::Get => op.key.clear(),
                Err(_) => {}
            }
            client.in_flight = None;
            return;
        }
        if self.cluster.now_ms() >= deadline {
            if self.history[index].op == Op::Get {
                self.history[index].key.clear();
            }
            client.in_flight = None;
        }
    }

    /// Runs events up to `until_ms`, checking leaders after each one.
    fn run_to(&mut self, until_ms: u64) {
        while self.cluster.simulation().next_event_ms().is_some_and(|t| t <= until_ms) {
            self.cluster.simulation_mut().step();
            self.check_leaders();
        }
        self.cluster.advance_to(until_ms).expect("no runaway in the campaign");
    }
}

/// Runs one campaign with `seed`.
pub fn run(seed: u64, config: &CampaignConfig) -> CampaignReport {
    let mut rng = SimRng::new(seed ^ 0x6361_6d70_6169_676e);
    let members = if rng.below(2) == 0 { 3 } else { 5 };
    // Half the seeds snapshot often and keep little log, so restarted and
    // partitioned members catch up from snapshots under faults too.
    let (snapshot_count, catch_up) =
        if rng.below(2) == 0 { (100_000, 5_000) } else { (5 + rng.below(20), rng.below(3)) };
    let text = format!(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: etcd-campaign}}\nspec: {{seed: {seed}, nodes: [], etcd: {{members: {members}, snapshotCount: {snapshot_count}, snapshotCatchUpEntries: {catch_up}}}}}\n"
    );
    let scenario = Scenario::from_yaml(&text, "campaign").expect("campaign scenario is valid");
    let mut run = Run {
        cluster: Cluster::new(scenario).expect("campaign cluster builds"),
        rng,
        members,
        live: (1..=members).collect(),
        history: Vec::new(),
        clock: 0,
        next_request: 0,
        leaders_by_term: BTreeMap::new(),
        violation: None,
        faults: Vec::new(),
    };
    let mut clients: Vec<Client> = (0..config.clients)
        .map(|i| Client { name: format!("client-{i}"), in_flight: None, next_op_ms: 1_500 + 100 * i as u64 })
        .collect();
    let mut next_fault_ms = 2_000 + run.rng.below(2_000);
    let mut next_check_ms = 250;
    let step_ms = 10;
    while run.cluster.now_ms() < config.duration_ms && run.violation.is_none() {
        let now = run.cluster.now_ms();
        for client in clients.iter_mut() {
            run.collect(client);
            if client.in_flight.is_none() && now >= client.next_op_ms {
                run.invoke(client, config.keys, config.client_timeout_ms);
                client.next_op_ms = now + run.rng.between(5, 200);
            }
        }
        if now >= next_fault_ms {
            run.inject_fault();
            next_fault_ms = now + run.rng.between(500, 3_000);
        }
        if now >= next_check_ms {
            run.check_logs_and_stores();
            next_check_ms = now + 250;
        }
        run.run_to(now + step_ms);
    }
    // Heal everything, let the cluster settle, and read every key back.
    run.exec("sim heal");
    run.exec("sim network --loss 0 --latency 1ms..5ms");
    for n in 1..=run.members {
        if !run.cluster.simulation().components().any(|(id, _, up)| *id == ComponentId::Etcd(n) && up) {
            run.exec(&format!("sim start etcd-{n}"));
        }
    }
    let settle_until = run.cluster.now_ms() + 5_000;
    while run.cluster.now_ms() < settle_until {
        for client in clients.iter_mut() {
            run.collect(client);
        }
        let now = run.cluster.now_ms();
        run.run_to(now + step_ms);
    }
    for k in 0..config.keys {
        let mut reader = Client { name: "reader".into(), in_flight: None, next_op_ms: 0 };
        let key = format!("k{k}");
        // Retry until a read gets a definite answer.
        for _ in 0..5 {
            let request_id = run.next_request;
            run.next_request += 1;
            let invoked = run.tick();
            run.history.push(Operation {
                key: key.clone(),
                op: Op::Get,
                invoked,
                completed: u64::MAX,
                outcome: Outcome::Unknown,
            });
            let deadline = run.cluster.now_ms() + config.client_timeout_ms;
            reader.in_flight = Some((request_id, run.history.len() - 1, deadline));
            let request =
                Request::Range { range: KeyRange::single(key.as_bytes()), revision: 0, limit: 0, serializable: false };
            let to = ComponentId::Etcd(run.live[k % run.live.len()]);
            run.cluster.simulation_mut().send_as_client("reader", to, Payload::EtcdRequest { request_id, request });
            while reader.in_flight.is_some() {
                let now = run.cluster.now_ms();
                run.run_to(now + step_ms);
                run.collect(&mut reader);
            }
            if run.history.last().is_some_and(|o| !o.key.is_empty()) {
                break;
            }
        }
    }
    run.check_logs_and_stores();
    let history: Vec<Operation> = run.history.iter().filter(|o| !o.key.is_empty()).cloned().collect();
    if run.violation.is_none() {
        if let Err((key, ops)) = linearizability::check(&history) {
            run.violation = Some(format!("history of key {key} is not linearizable: {ops:?}"));
        }
    }
    CampaignReport {
        seed,
        members,
        operations: history.len(),
        acknowledged: history.iter().filter(|o| o.outcome != Outcome::Unknown).count(),
        faults: run.faults,
        trace_hash: run.cluster.simulation().trace().hash_hex(),
        violation: run.violation,
    }
}
