//! The driver: owns the virtual clock, the RNG, the network, the components and
//! the trace, and runs events in a well-defined order.
//!
//! Events (message deliveries, timers, starts) sit in one queue ordered by
//! (time, sequence number); the sequence number is the order in which they were
//! scheduled, so ties are broken the same way every run. Components are kept in
//! a `BTreeMap`, so nothing depends on hash order.

use crate::component::{Component, Context, Envelope};
use crate::component_id::ComponentId;
use crate::flow::FlowLog;
use crate::message::Payload;
use crate::network::{Network, NetworkConfig};
use crate::rng::SimRng;
use crate::trace::{Trace, TraceKind};
use kscope_protocol::Fate;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Most events the driver runs for one call to [`Simulation::run_until`] before it
/// stops and reports a runaway simulation, so a bug can never hang the UI.
pub const MAX_EVENTS_PER_RUN: u64 = 50_000_000;

struct Slot {
    component: Box<dyn Component>,
    up: bool,
    /// Bumped on every kill, so timers set before it are ignored.
    epoch: u64,
    /// The component that spawned this one as a process (a kubelet running
    /// a container), if any: it dies with its host.
    host: Option<ComponentId>,
}

enum Event {
    Start {
        id: ComponentId,
        epoch: u64,
    },
    /// Boxed: the queue moves its elements around, so they stay small.
    Deliver(Box<Envelope>),
    Timer {
        id: ComponentId,
        epoch: u64,
        token: u64,
    },
    /// A hosted process was killed from outside: its host hears of it.
    ProcessExited {
        host: ComponentId,
        epoch: u64,
        process: ComponentId,
    },
}

struct Scheduled {
    at_ms: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

/// Counts of what the network did, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Copies delivered to a running receiver.
    pub delivered: u64,
    /// Lost by the loss setting.
    pub lost: u64,
    /// Cut by a partition (at send time or in flight).
    pub partitioned: u64,
    /// Extra copies made by the duplicate setting.
    pub duplicated: u64,
    /// Arrived at a component that was down.
    pub dropped_down: u64,
}

/// The deterministic simulation driver.
pub struct Simulation {
    now_ms: u64,
    rng: SimRng,
    network: Network,
    components: BTreeMap<ComponentId, Slot>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
    next_msg: u64,
    trace: Trace,
    stats: MessageStats,
    /// What clients (etcdctl, kubectl) have received and not yet taken.
    client_inbox: BTreeMap<String, Vec<Envelope>>,
    /// The steps recent pods took on their way to running.
    flows: FlowLog,
    /// Each component's process: whether it runs, and how many times it
    /// was stopped (a kubelet reads this for its static pods, as it would
    /// see its containers' processes; see [`Context::process`]).
    processes: BTreeMap<ComponentId, Process>,
}

/// A component's process as its node would see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Process {
    /// Whether it runs.
    pub up: bool,
    /// How many times it was stopped: a change means it died (and maybe restarted).
    pub stops: u64,
}

impl Simulation {
    /// An empty simulation at time 0 whose randomness all comes from `seed`.
    pub fn new(seed: u64, network: NetworkConfig) -> Self {
        Simulation {
            now_ms: 0,
            rng: SimRng::new(seed),
            network: Network::new(network),
            components: BTreeMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            next_msg: 0,
            trace: Trace::default(),
            stats: MessageStats::default(),
            client_inbox: BTreeMap::new(),
            flows: FlowLog::default(),
            processes: BTreeMap::new(),
        }
    }

    /// The steps recent pods took from create to running (see [`crate::flow`]).
    pub fn flows(&self) -> &FlowLog {
        &self.flows
    }

    /// Adds a component; it starts at the current time, after events already queued.
    pub fn add(&mut self, id: ComponentId, component: Box<dyn Component>) {
        assert!(!self.components.contains_key(&id), "component {id} added twice");
        self.components.insert(id.clone(), Slot { component, up: true, epoch: 0, host: None });
        self.processes.insert(id.clone(), Process { up: true, stops: 0 });
        self.schedule(self.now_ms, Event::Start { id, epoch: 0 });
    }

    /// Replaces a component with a new one that starts now (the old one is
    /// stopped first and its pending timers forgotten).
    pub fn replace(&mut self, id: &ComponentId, component: Box<dyn Component>) {
        self.stop(id);
        let slot = self.components.get_mut(id).expect("replace: unknown component");
        slot.component = component;
        slot.up = true;
        let epoch = slot.epoch;
        self.processes.insert(id.clone(), Process { up: true, stops: epoch });
        self.schedule(self.now_ms, Event::Start { id: id.clone(), epoch });
    }

    /// Takes a component out of the simulation for good (a node shut down
    /// and gone): its timers are forgotten and messages to it are dropped.
    /// Returns false if there was no such component.
    pub fn remove(&mut self, id: &ComponentId) -> bool {
        if !self.components.contains_key(id) {
            return false;
        }
        self.kill(id);
        self.components.remove(id);
        self.processes.remove(id);
        self.trace.push(self.now_ms, TraceKind::State { component: id.clone(), change: "removed".into() });
        true
    }

    /// Adds a component that is not running yet (`sim start` starts it).
    pub fn add_stopped(&mut self, id: ComponentId, component: Box<dyn Component>) {
        assert!(!self.components.contains_key(&id), "component {id} added twice");
        self.processes.insert(id.clone(), Process { up: false, stops: 0 });
        self.components.insert(id, Slot { component, up: false, epoch: 0, host: None });
    }

    /// The seeded RNG (for choices a console command makes, like the endpoint a `sim curl` hits).
    pub fn rng_mut(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// Simulated time now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The trace, to record or drain it.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// What the network has done so far.
    pub fn stats(&self) -> MessageStats {
        self.stats
    }

    /// The network, to inspect it.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network, to change its configuration or partitions. Callers record the
    /// change in the trace with [`Simulation::record_action`].
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Every component id, in order.
    pub fn component_ids(&self) -> Vec<ComponentId> {
        self.components.keys().cloned().collect()
    }

    /// Each component with whether it is up, in id order.
    pub fn components(&self) -> impl Iterator<Item = (&ComponentId, &dyn Component, bool)> {
        self.components.iter().map(|(id, slot)| (id, slot.component.as_ref(), slot.up))
    }

    /// Whether `id` names a component of this simulation.
    pub fn has(&self, id: &ComponentId) -> bool {
        self.components.contains_key(id)
    }

    /// Records a user or script action in the trace.
    pub fn record_action(&mut self, command: &str) {
        self.trace.push(self.now_ms, TraceKind::Action { command: command.to_string() });
    }

    /// Stops a component: its pending timers are forgotten and messages to it are
    /// dropped until it is started again. Returns false if it was already down.
    /// The processes it hosts are removed with it; a hosted process's host
    /// hears that it exited.
    pub fn kill(&mut self, id: &ComponentId) -> bool {
        if !self.stop(id) {
            return false;
        }
        if let Some(host) = self.components.get(id).and_then(|s| s.host.clone()) {
            if let Some(epoch) = self.components.get(&host).filter(|s| s.up).map(|s| s.epoch) {
                self.schedule(self.now_ms, Event::ProcessExited { host, epoch, process: id.clone() });
            }
        }
        true
    }

    /// Stops a component and removes the processes it hosts.
    fn stop(&mut self, id: &ComponentId) -> bool {
        let slot = self.components.get_mut(id).expect("kill: unknown component");
        if !slot.up {
            return false;
        }
        slot.up = false;
        slot.epoch += 1;
        slot.component.stop();
        self.processes.insert(id.clone(), Process { up: false, stops: slot.epoch });
        self.trace.push(self.now_ms, TraceKind::State { component: id.clone(), change: "stopped".into() });
        let hosted: Vec<ComponentId> =
            self.components.iter().filter(|(_, s)| s.host.as_ref() == Some(id)).map(|(p, _)| p.clone()).collect();
        for process in hosted {
            self.remove_process(&process);
        }
        true
    }

    /// Stops a hosted process and forgets it.
    fn remove_process(&mut self, id: &ComponentId) {
        if self.components.contains_key(id) {
            self.stop(id);
            self.components.remove(id);
            self.processes.remove(id);
        }
    }

    /// Starts `component` as `id`, hosted by `host` (replacing what ran as `id`).
    fn spawn(&mut self, host: &ComponentId, id: ComponentId, component: Box<dyn Component>) {
        if self.components.contains_key(&id) {
            self.stop(&id);
        }
        let epoch = self.components.get(&id).map_or(0, |s| s.epoch);
        self.components.insert(id.clone(), Slot { component, up: true, epoch, host: Some(host.clone()) });
        self.processes.insert(id.clone(), Process { up: true, stops: epoch });
        self.schedule(self.now_ms, Event::Start { id, epoch });
    }

    /// Starts a stopped component again (its `start` runs at the current time).
    /// Returns false if it was already up.
    pub fn restart(&mut self, id: &ComponentId) -> bool {
        let slot = self.components.get_mut(id).expect("restart: unknown component");
        if slot.up {
            return false;
        }
        slot.up = true;
        let epoch = slot.epoch;
        self.processes.insert(id.clone(), Process { up: true, stops: epoch });
        self.schedule(self.now_ms, Event::Start { id: id.clone(), epoch });
        true
    }

    /// Runs every event due at or before `until_ms`, then sets the clock to
    /// `until_ms`. Time never goes backwards.
    pub fn run_until(&mut self, until_ms: u64) -> Result<(), String> {
        let mut budget = MAX_EVENTS_PER_RUN;
        while self.queue.peek().is_some_and(|Reverse(s)| s.at_ms <= until_ms) {
            if budget == 0 {
                return Err(format!(
                    "the simulation ran more than {MAX_EVENTS_PER_RUN} events before t={}ms and was stopped",
                    self.now_ms
                ));
            }
            budget -= 1;
            self.step();
        }
        self.now_ms = self.now_ms.max(until_ms);
        Ok(())
    }

    /// Time of the next queued event, if any.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(s)| s.at_ms)
    }

    /// Runs the next event. Returns false when the queue is empty.
    pub fn step(&mut self) -> bool {
        let Some(Reverse(next)) = self.queue.pop() else {
            return false;
        };
        debug_assert!(next.at_ms >= self.now_ms, "time went backwards");
        self.now_ms = next.at_ms;
        match next.event {
            Event::Start { id, epoch } => self.run_component(&id, Some(epoch), |c, ctx| c.start(ctx)),
            Event::Timer { id, epoch, token } => self.run_component(&id, Some(epoch), |c, ctx| c.timer(ctx, token)),
            Event::Deliver(envelope) => self.deliver(*envelope),
            Event::ProcessExited { host, epoch, process } => {
                self.run_component(&host, Some(epoch), |c, ctx| c.process_exited(ctx, &process))
            }
        }
        true
    }

    fn deliver(&mut self, envelope: Envelope) {
        let to = envelope.to.clone();
        let drop_reason = if self.network.is_cut(&envelope.from, &to) {
            self.stats.partitioned += 1;
            Some("partitioned in flight")
        } else if !matches!(to, ComponentId::Client(_)) && !self.components.get(&to).is_some_and(|s| s.up) {
            self.stats.dropped_down += 1;
            Some("receiver down")
        } else {
            None
        };
        if let Some(reason) = drop_reason {
            self.trace.push(self.now_ms, TraceKind::Drop { msg: envelope.id, to: to.clone(), reason: reason.into() });
            return;
        }
        self.stats.delivered += 1;
        self.trace.push(self.now_ms, TraceKind::Deliver { msg: envelope.id, to: to.clone() });
        if let ComponentId::Client(name) = &to {
            self.client_inbox.entry(name.clone()).or_default().push(envelope);
            return;
        }
        self.run_component(&to, None, |c, ctx| c.receive(ctx, envelope));
    }

    /// Runs one handler of component `id` and applies what it asked for. With
    /// `epoch`, the handler only runs if the component has not been killed since.
    fn run_component(
        &mut self,
        id: &ComponentId,
        epoch: Option<u64>,
        handler: impl FnOnce(&mut dyn Component, &mut Context<'_>),
    ) {
        let Some(slot) = self.components.get_mut(id) else {
            return;
        };
        if !slot.up || epoch.is_some_and(|e| e != slot.epoch) {
            return;
        }
        let slot_epoch = slot.epoch;
        let mut ctx = Context::new(self.now_ms, id, &mut self.rng, &self.processes);
        handler(slot.component.as_mut(), &mut ctx);
        let Context { sends, timers, changes, flows, spawns, terminates, .. } = ctx;
        for change in changes {
            self.trace.push(self.now_ms, TraceKind::State { component: id.clone(), change });
        }
        for (step, pod) in flows {
            self.flows.push(&pod, step, self.now_ms, id);
            self.trace.push(self.now_ms, TraceKind::Flow { component: id.clone(), step, pod });
        }
        for (delay_ms, token) in timers {
            let event = Event::Timer { id: id.clone(), epoch: slot_epoch, token };
            self.schedule(self.now_ms + delay_ms, event);
        }
        for (to, payload) in sends {
            self.send(id.clone(), to, payload);
        }
        for process in terminates {
            if self.components.get(&process).is_some_and(|s| s.host.as_ref() == Some(id)) {
                self.remove_process(&process);
            }
        }
        for (process, component) in spawns {
            // A name taken by a component that is not this host's process stays as it is.
            if self.components.get(&process).is_none_or(|s| s.host.as_ref() == Some(id)) {
                self.spawn(id, process, component);
            }
        }
    }

    /// Sends a message on behalf of an external client such as etcdctl. Its
    /// answers collect in the client's inbox ([`Simulation::take_client_inbox`]).
    pub fn send_as_client(&mut self, client: &str, to: ComponentId, payload: Payload) {
        self.send(ComponentId::Client(client.to_string()), to, payload);
    }

    /// Takes what `client` has received so far.
    pub fn take_client_inbox(&mut self, client: &str) -> Vec<Envelope> {
        self.client_inbox.remove(client).unwrap_or_default()
    }

    fn send(&mut self, from: ComponentId, to: ComponentId, payload: Payload) {
        let msg = self.next_msg;
        self.next_msg += 1;
        self.stats.sent += 1;
        let stream = !matches!(payload, Payload::Raft(_));
        let routes = self.network.route(&mut self.rng, self.now_ms, &from, &to, stream);
        let fingerprint = payload.fingerprint();
        let kind = payload.kind();
        let summary = self.trace.is_recording().then(|| payload.summary());
        let copies = routes.len();
        let mut payload = Some(payload);
        for (copy, route) in routes.into_iter().enumerate() {
            if copy > 0 {
                self.stats.duplicated += 1;
            }
            match route.fate {
                Fate::Lost => self.stats.lost += 1,
                Fate::Partitioned => self.stats.partitioned += 1,
                Fate::Delivered => {}
            }
            self.trace.push(
                self.now_ms,
                TraceKind::Send {
                    msg,
                    from: from.clone(),
                    to: to.clone(),
                    kind,
                    fingerprint,
                    summary: summary.clone(),
                    fate: route.fate,
                    deliver_ms: route.deliver_ms,
                },
            );
            if route.fate == Fate::Delivered {
                // Move the payload into its last copy; clone only for duplicates.
                let payload = if copy + 1 == copies {
                    payload.take().expect("taken once")
                } else {
                    payload.clone().expect("present")
                };
                let envelope = Envelope { id: msg, from: from.clone(), to: to.clone(), sent_ms: self.now_ms, payload };
                self.schedule(route.deliver_ms, Event::Deliver(Box::new(envelope)));
            }
        }
    }

    fn schedule(&mut self, at_ms: u64, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse(Scheduled { at_ms, seq, event }));
    }
}
