//! The web worker that owns the simulation core.
//!
//! Thin on purpose: it keeps one [`Session`] (playback, batching and deltas are
//! in the core, tested natively), ticks it every [`TICK_MS`] of wall time, and
//! forwards its replies to every connected page bridge. One batch per tick means
//! at most 20 `postMessage`s a second however fast the simulation runs.

use gloo_timers::callback::Interval;
use gloo_worker::{HandlerId, Worker, WorkerScope};
use kscope_core::session::Session;
use kscope_core::{Cluster, Scenario};
use kscope_protocol::{FromWorker, ToWorker};

/// Wall-clock milliseconds between worker ticks.
pub const TICK_MS: u32 = 50;

/// Internal worker messages.
pub enum Tick {
    /// The interval fired.
    Tick,
}

/// The simulation worker.
pub struct SimWorker {
    session: Session,
    bridges: Vec<HandlerId>,
    _interval: Interval,
}

impl SimWorker {
    fn broadcast(&self, scope: &WorkerScope<Self>, replies: Vec<FromWorker>) {
        for reply in replies {
            for id in &self.bridges {
                scope.respond(*id, reply.clone());
            }
        }
    }
}

impl Worker for SimWorker {
    type Message = Tick;
    type Input = ToWorker;
    type Output = FromWorker;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let scope = scope.clone();
        let interval = Interval::new(TICK_MS, move || scope.send_message(Tick::Tick));
        let cluster = Cluster::new(Scenario::default()).expect("the default scenario is valid");
        SimWorker { session: Session::new(cluster), bridges: Vec::new(), _interval: interval }
    }

    fn update(&mut self, scope: &WorkerScope<Self>, _msg: Self::Message) {
        let replies = self.session.tick(u64::from(TICK_MS));
        self.broadcast(scope, replies);
    }

    fn connected(&mut self, _scope: &WorkerScope<Self>, id: HandlerId) {
        if !self.bridges.contains(&id) {
            self.bridges.push(id);
        }
    }

    fn received(&mut self, scope: &WorkerScope<Self>, msg: Self::Input, id: HandlerId) {
        // Replies to a command go to whoever asked; the state they cause goes to all.
        for reply in self.session.handle(msg) {
            match reply {
                FromWorker::Batch(_) => self.broadcast(scope, vec![reply]),
                _ => scope.respond(id, reply),
            }
        }
    }

    fn disconnected(&mut self, _scope: &WorkerScope<Self>, id: HandlerId) {
        self.bridges.retain(|b| *b != id);
    }
}
