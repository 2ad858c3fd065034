//! The event trace: every message and every state change, in order, with a stable
//! hash.
//!
//! The hash is FNV-1a (64-bit) over each event's fields in a fixed binary form.
//! It does not depend on the platform, so the same scenario and seed give the
//! same hash natively and in wasm; it is what the determinism tests and share
//! URLs compare.

use crate::component_id::ComponentId;
use kscope_protocol::{Fate, MessageKind};
use serde::{Deserialize, Serialize};

/// One entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Position in the trace, from 0.
    pub seq: u64,
    /// Simulated time in milliseconds.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub what: TraceKind,
}

/// What a [`TraceEvent`] records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum TraceKind {
    /// A message was handed to the network.
    #[serde(rename_all = "camelCase")]
    Send {
        /// Message id (a duplicate shares its original's id).
        msg: u64,
        /// Sender.
        from: ComponentId,
        /// Receiver.
        to: ComponentId,
        /// Family.
        kind: MessageKind,
        /// Digest of the message's content (see `Payload::fingerprint`).
        fingerprint: u64,
        /// One-line description; only built while recording, and not hashed
        /// (the fingerprint stands for the content).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        summary: Option<String>,
        /// What the network decided.
        fate: Fate,
        /// Arrival time (send time when dropped).
        deliver_ms: u64,
    },
    /// A message reached its receiver.
    Deliver {
        /// Message id.
        msg: u64,
        /// Receiver.
        to: ComponentId,
    },
    /// A message arrived at a component that is down, or on a link cut while it was in flight.
    Drop {
        /// Message id.
        msg: u64,
        /// Receiver.
        to: ComponentId,
        /// Why it was dropped.
        reason: String,
    },
    /// A component changed state.
    State {
        /// The component.
        component: ComponentId,
        /// What changed, in words.
        change: String,
    },
    /// A user or script action that changed the simulation (fault, network change).
    Action {
        /// The command line.
        command: String,
    },
    /// A component took a step of a pod's way to running (see [`crate::flow`]).
    Flow {
        /// The component.
        component: ComponentId,
        /// The step, 1 to 11.
        step: u8,
        /// The pod, `namespace/name`.
        pod: String,
    },
}

impl TraceKind {
    /// Feeds the event into the hash field by field: integers as little-endian
    /// bytes, strings length-prefixed, so the hash is the same on every
    /// platform and independent of any serializer.
    fn hash_into(&self, h: &mut u64) {
        let int = |h: &mut u64, v: u64| *h = fnv1a(*h, &v.to_le_bytes());
        let text = |h: &mut u64, s: &str| {
            *h = fnv1a(*h, &(s.len() as u64).to_le_bytes());
            *h = fnv1a(*h, s.as_bytes());
        };
        // Component ids without building their names (this runs per event).
        let id = |h: &mut u64, c: &ComponentId| match c {
            ComponentId::ApiServer => int(h, 1),
            ComponentId::Etcd(n) => {
                int(h, 2);
                int(h, u64::from(*n));
            }
            ComponentId::Scheduler => int(h, 3),
            ComponentId::ControllerManager => int(h, 4),
            ComponentId::Kubelet(node) => {
                int(h, 5);
                text(h, node);
            }
            ComponentId::Client(name) => {
                int(h, 6);
                text(h, name);
            }
            ComponentId::KubeProxy(node) => {
                int(h, 7);
                text(h, node);
            }
            ComponentId::CoreDns(pod) => {
                int(h, 8);
                text(h, pod);
            }
            ComponentId::AddonManager => int(h, 9),
        };
        match self {
            TraceKind::Send { msg, from, to, kind, fingerprint, fate, deliver_ms, summary: _ } => {
                int(h, 1);
                int(h, *msg);
                id(h, from);
                id(h, to);
                int(h, *kind as u64);
                int(h, *fingerprint);
                int(h, *fate as u64);
                int(h, *deliver_ms);
            }
            TraceKind::Deliver { msg, to } => {
                int(h, 2);
                int(h, *msg);
                id(h, to);
            }
            TraceKind::Drop { msg, to, reason } => {
                int(h, 3);
                int(h, *msg);
                id(h, to);
                text(h, reason);
            }
            TraceKind::State { component, change } => {
                int(h, 4);
                id(h, component);
                text(h, change);
            }
            TraceKind::Action { command } => {
                int(h, 5);
                text(h, command);
            }
            TraceKind::Flow { component, step, pod } => {
                int(h, 6);
                id(h, component);
                int(h, u64::from(*step));
                text(h, pod);
            }
        }
    }
}

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `bytes` into an FNV-1a hash.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The trace of one simulation run.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    len: u64,
    /// Events not yet taken by [`Trace::drain`]; only collected when recording.
    pending: Vec<TraceEvent>,
    recording: bool,
}

impl Default for Trace {
    fn default() -> Self {
        Trace { hash: FNV_OFFSET, len: 0, pending: Vec::new(), recording: false }
    }
}

impl Trace {
    /// Appends an event: it always goes into the hash, and into the pending buffer
    /// while recording.
    pub fn push(&mut self, at_ms: u64, what: TraceKind) {
        self.hash = fnv1a(self.hash, &self.len.to_le_bytes());
        self.hash = fnv1a(self.hash, &at_ms.to_le_bytes());
        what.hash_into(&mut self.hash);
        if self.recording {
            self.pending.push(TraceEvent { seq: self.len, at_ms, what });
        }
        self.len += 1;
    }

    /// Number of events so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before the first event.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The hash as 16 hex digits, as printed by `kscope run` and `sim status`.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// Whether events are kept for [`Trace::drain`].
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Starts or stops keeping events for [`Trace::drain`]. Whoever turns it on
    /// must drain regularly.
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
        if !on {
            self.pending.clear();
        }
    }

    /// Takes the events recorded since the last drain.
    pub fn drain(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_depends_on_every_event_and_recording_does_not_change_it() {
        let note = |c: &str| TraceKind::State { component: ComponentId::ApiServer, change: c.into() };
        let mut a = Trace::default();
        let mut b = Trace::default();
        b.set_recording(true);
        for t in [&mut a, &mut b] {
            t.push(1, note("x"));
            t.push(2, note("y"));
        }
        assert_eq!(a.hash(), b.hash());
        assert_eq!(b.drain().len(), 2);
        assert!(b.drain().is_empty());
        let mut c = Trace::default();
        c.push(1, note("x"));
        c.push(2, note("z"));
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.hash_hex().len(), 16);
    }
}
