//! The interface every simulated component implements.
//!
//! Like raft-rs's `RawNode`, a component does no I/O and reads no clock: the
//! simulation driver hands it the time, the RNG and the message or timer that woke
//! it, and collects what it wants to send, which timers to set and which state
//! changes to record. That is what makes runs replay exactly.

use crate::component_id::ComponentId;
use crate::message::Payload;
use crate::rng::SimRng;
use crate::simulation::Process;
use kscope_protocol::ComponentKind;
use std::collections::BTreeMap;

/// A message as delivered to a component.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Network-wide message id.
    pub id: u64,
    /// Sender.
    pub from: ComponentId,
    /// Receiver.
    pub to: ComponentId,
    /// When it was sent.
    pub sent_ms: u64,
    /// The message itself.
    pub payload: Payload,
}

/// What a component may do while handling one event.
pub struct Context<'a> {
    now_ms: u64,
    me: &'a ComponentId,
    rng: &'a mut SimRng,
    processes: &'a BTreeMap<ComponentId, Process>,
    pub(crate) sends: Vec<(ComponentId, Payload)>,
    pub(crate) timers: Vec<(u64, u64)>,
    pub(crate) changes: Vec<String>,
    pub(crate) flows: Vec<(u8, String)>,
    pub(crate) spawns: Vec<(ComponentId, Box<dyn Component>)>,
    pub(crate) terminates: Vec<ComponentId>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        now_ms: u64,
        me: &'a ComponentId,
        rng: &'a mut SimRng,
        processes: &'a BTreeMap<ComponentId, Process>,
    ) -> Self {
        Context {
            now_ms,
            me,
            rng,
            processes,
            sends: Vec::new(),
            timers: Vec::new(),
            changes: Vec::new(),
            flows: Vec::new(),
            spawns: Vec::new(),
            terminates: Vec::new(),
        }
    }

    /// Simulated time now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The id of the component being run.
    pub fn me(&self) -> &ComponentId {
        self.me
    }

    /// The simulation's seeded RNG.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// The process of component `id`, as the kubelet of the node it runs on
    /// sees it through the container runtime (static pods): no message
    /// crosses the network for this.
    pub fn process(&self, id: &ComponentId) -> Option<Process> {
        self.processes.get(id).copied()
    }

    /// Sends `payload` to `to` over the simulated network.
    pub fn send(&mut self, to: ComponentId, payload: Payload) {
        self.sends.push((to, payload));
    }

    /// Wakes this component with `token` after `delay_ms` (at least 1 ms, so a
    /// timer can never fire at the instant it is set).
    pub fn set_timer(&mut self, delay_ms: u64, token: u64) {
        self.timers.push((delay_ms.max(1), token));
    }

    /// Wakes this component with `token` at the end of the current instant,
    /// after every event already due now: how a component batches the work
    /// that several messages arriving at once cause (etcd's raft loop handles
    /// one Ready for everything that arrived meanwhile). The component must
    /// not defer again from the deferred handler without new input.
    pub fn defer(&mut self, token: u64) {
        self.timers.push((0, token));
    }

    /// Records a state change in the trace.
    pub fn record(&mut self, change: impl Into<String>) {
        self.changes.push(change.into());
    }

    /// Starts `component` on the network as `id`, a process this component
    /// hosts: how a kubelet's container runtime runs a container whose
    /// program is itself a component (kube-proxy, CoreDNS). A process already
    /// running under `id` is replaced. The process stops when its host is
    /// killed; when it is killed alone, its host hears of it through
    /// [`Component::process_exited`].
    pub fn spawn(&mut self, id: ComponentId, component: Box<dyn Component>) {
        self.spawns.push((id, component));
    }

    /// Stops and removes the process `id` this component started with
    /// [`Context::spawn`] (its container stopped).
    pub fn terminate(&mut self, id: ComponentId) {
        self.terminates.push(id);
    }

    /// Marks step `step` (see [`crate::flow::STEPS`]) of the pod
    /// `namespace/name` in the trace.
    pub fn flow(&mut self, step: u8, pod: impl Into<String>) {
        self.flows.push((step, pod.into()));
    }
}

/// A deterministic state machine on the simulated network.
pub trait Component {
    /// What kind of component this is, for the UI.
    fn kind(&self) -> ComponentKind;

    /// Called when the component starts, and again when it restarts after a
    /// kill: it must reset its volatile state here and set its first timers.
    fn start(&mut self, ctx: &mut Context<'_>);

    /// Called when the component is killed: it must drop its volatile state
    /// here (what survives is its "disk"). Nothing it does here is sent.
    fn stop(&mut self) {}

    /// Handles a message addressed to this component.
    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope);

    /// Handles a timer set with [`Context::set_timer`].
    fn timer(&mut self, ctx: &mut Context<'_>, token: u64);

    /// A process this component spawned was killed from outside (`sim kill`):
    /// for a kubelet, its container's program exited.
    fn process_exited(&mut self, _ctx: &mut Context<'_>, _process: &ComponentId) {}

    /// Facts to show in the UI and in `sim status`, as (label, value) pairs.
    fn details(&self) -> Vec<(String, String)>;

    /// The component as `Any`, so checkers can look inside a concrete type.
    fn as_any(&self) -> &dyn std::any::Any;
}
