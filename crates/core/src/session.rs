//! What the web worker runs: a [`Cluster`] plus playback (play, pause, speed),
//! and the translation of its state into the UI protocol — a snapshot on
//! connect, then one [`Batch`] of deltas and messages per tick.
//!
//! It lives in the core, not the worker, so that everything but the
//! `postMessage` plumbing is tested natively.

use crate::cluster::Cluster;
use crate::trace::TraceKind;
use kscope_protocol::{
    Batch, ClusterView, ComponentView, Delta, FromWorker, MessageView, NodeView, PodView, ServiceView, SimMeta,
    ToWorker, PROTOCOL_VERSION, SPEED_PERCENT_RANGE,
};
use std::collections::BTreeMap;

/// Playback state and the last state sent to the UI.
pub struct Session {
    cluster: Cluster,
    running: bool,
    speed_percent: u32,
    /// Simulated time owed from previous ticks, in hundredths of a millisecond.
    carry: u64,
    sent_components: BTreeMap<String, ComponentView>,
    sent_nodes: BTreeMap<String, NodeView>,
    sent_unscheduled: Vec<PodView>,
    sent_services: BTreeMap<String, ServiceView>,
    sent_meta: SimMeta,
}

impl Session {
    /// A session over `cluster`, playing at real-time speed.
    pub fn new(mut cluster: Cluster) -> Self {
        cluster.simulation_mut().trace_mut().set_recording(true);
        Session {
            cluster,
            running: true,
            speed_percent: 100,
            carry: 0,
            sent_components: BTreeMap::new(),
            sent_nodes: BTreeMap::new(),
            sent_unscheduled: Vec::new(),
            sent_services: BTreeMap::new(),
            sent_meta: SimMeta::default(),
        }
    }

    /// The cluster, for tests.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn meta(&self) -> SimMeta {
        let trace = self.cluster.simulation().trace();
        SimMeta {
            scenario: self.cluster.name().to_string(),
            seed: self.cluster.seed(),
            time_ms: self.cluster.now_ms(),
            running: self.running,
            speed_percent: self.speed_percent,
            trace_len: trace.len(),
            trace_hash: trace.hash_hex(),
        }
    }

    /// Handles one message from the UI; returns the replies in order.
    pub fn handle(&mut self, message: ToWorker) -> Vec<FromWorker> {
        match message {
            ToWorker::Hello { protocol } if protocol != PROTOCOL_VERSION => vec![FromWorker::Error {
                message: format!(
                    "The page and the simulation worker are different versions (protocol {protocol} and {PROTOCOL_VERSION}). Reload the page."
                ),
            }],
            ToWorker::Hello { .. } => {
                // Messages so far are part of the snapshot; do not animate them.
                self.cluster.simulation_mut().trace_mut().drain();
                let (components, nodes, unscheduled) = self.cluster.view();
                self.sent_components = components.iter().map(|c| (c.id.clone(), c.clone())).collect();
                self.sent_nodes = nodes.iter().map(|n| (n.name.clone(), n.clone())).collect();
                self.sent_unscheduled = unscheduled.clone();
                let services = self.cluster.services();
                self.sent_services = services.iter().map(|s| (service_key(s), s.clone())).collect();
                self.sent_meta = self.meta();
                let snapshot = ClusterView { meta: self.sent_meta.clone(), components, nodes, unscheduled, services };
                vec![FromWorker::Welcome { protocol: PROTOCOL_VERSION, snapshot }]
            }
            ToWorker::Play => {
                self.running = true;
                self.batch().into_iter().collect()
            }
            ToWorker::Pause => {
                self.running = false;
                self.carry = 0;
                self.batch().into_iter().collect()
            }
            ToWorker::SetSpeed { percent } => {
                self.speed_percent = percent.clamp(SPEED_PERCENT_RANGE.0, SPEED_PERCENT_RANGE.1);
                self.batch().into_iter().collect()
            }
            ToWorker::Exec { id, line } => {
                let output = self.cluster.exec(&line);
                let mut replies = vec![FromWorker::ExecResult { id, output: output.text, ok: output.ok }];
                replies.extend(self.background());
                replies.extend(self.batch());
                replies
            }
        }
    }

    /// Advances simulated time for `real_ms` of wall time at the current speed
    /// (if playing) and returns what the UI needs to hear: console output of
    /// script steps that ran, then one batch if anything changed.
    pub fn tick(&mut self, real_ms: u64) -> Vec<FromWorker> {
        let mut replies = Vec::new();
        if self.running {
            let owed = self.carry + real_ms * u64::from(self.speed_percent);
            self.carry = owed % 100;
            match self.cluster.advance(crate::duration::Duration::from_millis(owed / 100)) {
                Ok(runs) => replies.extend(runs.iter().map(|run| FromWorker::ExecResult {
                    id: 0,
                    output: run.render(),
                    ok: run.output.ok,
                })),
                Err(message) => {
                    self.running = false;
                    replies.push(FromWorker::Error { message });
                }
            }
        }
        replies.extend(self.background());
        replies.extend(self.batch());
        replies
    }

    /// Output of background commands (etcdctl watch), as an unsolicited console entry.
    fn background(&mut self) -> Option<FromWorker> {
        let output = self.cluster.take_background_output();
        (!output.is_empty()).then_some(FromWorker::ExecResult { id: 0, output, ok: true })
    }

    /// The changes since the last batch, or `None` if nothing changed.
    fn batch(&mut self) -> Option<FromWorker> {
        let (components, nodes, unscheduled) = self.cluster.view();
        let mut deltas = Vec::new();
        if unscheduled != self.sent_unscheduled {
            self.sent_unscheduled = unscheduled.clone();
            deltas.push(Delta::Unscheduled(unscheduled));
        }
        diff(
            &mut self.sent_components,
            components,
            |c| c.id.clone(),
            Delta::Component,
            Delta::ComponentRemoved,
            &mut deltas,
        );
        diff(&mut self.sent_nodes, nodes, |n| n.name.clone(), Delta::Node, Delta::NodeRemoved, &mut deltas);
        let services = self.cluster.services();
        diff(&mut self.sent_services, services, service_key, Delta::Service, Delta::ServiceRemoved, &mut deltas);
        let mut messages = Vec::new();
        let mut messages_omitted = 0;
        for event in self.cluster.simulation_mut().trace_mut().drain() {
            if let TraceKind::Send { msg, from, to, kind, summary, fate, deliver_ms, .. } = event.what {
                if messages.len() < Batch::MAX_MESSAGES {
                    messages.push(MessageView {
                        id: msg,
                        from: from.to_string(),
                        to: to.to_string(),
                        kind,
                        summary: summary.unwrap_or_default(),
                        sent_ms: event.at_ms,
                        deliver_ms,
                        fate,
                    });
                } else {
                    messages_omitted += 1;
                }
            }
        }
        let meta = self.meta();
        if deltas.is_empty() && messages.is_empty() && messages_omitted == 0 && meta == self.sent_meta {
            return None;
        }
        self.sent_meta = meta.clone();
        Some(FromWorker::Batch(Batch { meta, deltas, messages, messages_omitted }))
    }
}

/// A Service's key in the read model: `namespace/name`.
fn service_key(s: &ServiceView) -> String {
    format!("{}/{}", s.namespace, s.name)
}

/// Compares `current` with what was `sent`, pushes the deltas, and remembers `current`.
fn diff<T: Clone + PartialEq>(
    sent: &mut BTreeMap<String, T>,
    current: Vec<T>,
    key: impl Fn(&T) -> String,
    changed: impl Fn(T) -> Delta,
    removed: impl Fn(String) -> Delta,
    deltas: &mut Vec<Delta>,
) {
    let current: BTreeMap<String, T> = current.into_iter().map(|item| (key(&item), item)).collect();
    for name in sent.keys() {
        if !current.contains_key(name) {
            deltas.push(removed(name.clone()));
        }
    }
    for (name, item) in &current {
        if sent.get(name) != Some(item) {
            deltas.push(changed(item.clone()));
        }
    }
    *sent = current;
}
