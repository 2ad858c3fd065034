//! The UI's read model: everything the page draws, built only from worker
//! messages. One reducer, one [`Action`] enum.

use kscope_protocol::{ComponentView, Delta, FromWorker, MessageView, NodeView, PodView, ServiceView, SimMeta};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use yew::Reducible;

/// Most recent messages kept for the traffic panel.
pub const MAX_MESSAGES: usize = 200;
/// Most console lines kept.
pub const MAX_CONSOLE: usize = 1000;

/// Where the page stands with its worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Waiting for the worker's first state.
    Connecting,
    /// The worker has sent its snapshot.
    Ready,
    /// The worker could not be used; the text says why and what to do.
    Failed(String),
}

/// What a console line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleKind {
    /// A line the user typed.
    Input,
    /// A command's output.
    Output,
    /// A command's error output.
    Error,
}

/// One console entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleLine {
    /// What it is.
    pub kind: ConsoleKind,
    /// Its text (may span lines).
    pub text: String,
}

/// The answer to the YAML editor's last apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorResult {
    /// The manifest as applied (error lines refer to it).
    pub text: String,
    /// What `kubectl apply` printed.
    pub output: String,
    /// False when it failed.
    pub ok: bool,
}

/// The read model.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Worker connection.
    pub connection: Connection,
    /// Clock, seed, playback and trace summary.
    pub meta: SimMeta,
    /// Components by id.
    pub components: BTreeMap<String, ComponentView>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeView>,
    /// Pods waiting for a node.
    pub unscheduled: Vec<PodView>,
    /// Services by `namespace/name`.
    pub services: BTreeMap<String, ServiceView>,
    /// Recent messages, oldest first.
    pub messages: VecDeque<MessageView>,
    /// Messages seen since the page connected, including omitted ones.
    pub messages_seen: u64,
    /// Console transcript, oldest first.
    pub console: VecDeque<ConsoleLine>,
    /// Id for the next console command.
    pub next_exec_id: u64,
    /// The YAML editor's apply waiting for its answer: (exec id, manifest).
    pub editor_pending: Option<(u64, String)>,
    /// The answer to the YAML editor's last apply.
    pub editor_result: Option<EditorResult>,
    /// Messages received from the worker so far.
    pub worker_messages: u64,
    /// `worker_messages` at the previous watchdog tick.
    pub worker_messages_at_watchdog: u64,
    /// The worker has not answered for a whole watchdog period while running.
    pub stalled: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            connection: Connection::Connecting,
            meta: SimMeta::default(),
            components: BTreeMap::new(),
            nodes: BTreeMap::new(),
            unscheduled: Vec::new(),
            services: BTreeMap::new(),
            messages: VecDeque::new(),
            messages_seen: 0,
            console: VecDeque::new(),
            next_exec_id: 1,
            editor_pending: None,
            editor_result: None,
            worker_messages: 0,
            worker_messages_at_watchdog: 0,
            stalled: false,
        }
    }
}

/// Everything that changes the read model.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A message from the worker.
    Worker(FromWorker),
    /// The user ran a console line (sent to the worker with id `next_exec_id`).
    ConsoleSubmitted(String),
    /// The YAML editor applied a manifest: the command (`kubectl apply -f -`
    /// with the manifest) went to the worker with id `next_exec_id`.
    EditorApplied {
        /// The command line as sent.
        line: String,
        /// The manifest.
        text: String,
    },
    /// The worker did not answer in time.
    WorkerTimedOut,
    /// The watchdog's periodic look: has the worker said anything since the last one?
    WatchdogTick,
}

impl State {
    fn push_console(&mut self, kind: ConsoleKind, text: String) {
        if self.console.len() == MAX_CONSOLE {
            self.console.pop_front();
        }
        self.console.push_back(ConsoleLine { kind, text });
    }

    /// A line went to the worker with id `next_exec_id`: the console shows it.
    fn submitted(&mut self, line: String) {
        self.push_console(ConsoleKind::Input, line);
        self.next_exec_id += 1;
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action) {
        if let Action::Worker(_) = action {
            self.worker_messages += 1;
            self.stalled = false;
        }
        match action {
            Action::WatchdogTick => {
                // A running simulation sends a batch every tick; silence for a
                // whole period means it is busy with a long command, or stopped.
                self.stalled = self.connection == Connection::Ready
                    && self.meta.running
                    && self.worker_messages == self.worker_messages_at_watchdog;
                self.worker_messages_at_watchdog = self.worker_messages;
            }
            Action::ConsoleSubmitted(line) => self.submitted(line),
            Action::EditorApplied { line, text } => {
                self.editor_pending = Some((self.next_exec_id, text));
                self.editor_result = None;
                self.submitted(line);
            }
            Action::WorkerTimedOut => {
                if self.connection == Connection::Connecting {
                    self.connection = Connection::Failed(
                        "The simulation worker did not start. Your browser may block web workers or WebAssembly; \
                         try reloading, or another browser."
                            .into(),
                    );
                }
            }
            Action::Worker(FromWorker::Welcome { snapshot, .. }) => {
                self.connection = Connection::Ready;
                self.meta = snapshot.meta;
                self.components = snapshot.components.into_iter().map(|c| (c.id.clone(), c)).collect();
                self.nodes = snapshot.nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
                self.unscheduled = snapshot.unscheduled;
                self.services =
                    snapshot.services.into_iter().map(|s| (format!("{}/{}", s.namespace, s.name), s)).collect();
            }
            Action::Worker(FromWorker::Batch(batch)) => {
                if batch.meta.time_ms < self.meta.time_ms {
                    // Time only goes back on `sim reset`: the old run's traffic is gone.
                    self.messages.clear();
                    self.messages_seen = 0;
                }
                self.meta = batch.meta;
                for delta in batch.deltas {
                    match delta {
                        Delta::Component(c) => {
                            self.components.insert(c.id.clone(), c);
                        }
                        Delta::ComponentRemoved(id) => {
                            self.components.remove(&id);
                        }
                        Delta::Node(n) => {
                            self.nodes.insert(n.name.clone(), n);
                        }
                        Delta::NodeRemoved(name) => {
                            self.nodes.remove(&name);
                        }
                        Delta::Unscheduled(pods) => self.unscheduled = pods,
                        Delta::Service(svc) => {
                            self.services.insert(format!("{}/{}", svc.namespace, svc.name), svc);
                        }
                        Delta::ServiceRemoved(key) => {
                            self.services.remove(&key);
                        }
                    }
                }
                self.messages_seen += batch.messages.len() as u64 + batch.messages_omitted;
                self.messages.extend(batch.messages);
                while self.messages.len() > MAX_MESSAGES {
                    self.messages.pop_front();
                }
            }
            Action::Worker(FromWorker::ExecResult { id, output, ok }) => {
                if let Some((_, text)) = self.editor_pending.take_if(|(pending, _)| *pending == id) {
                    self.editor_result = Some(EditorResult { text, output: output.clone(), ok });
                }
                if !output.is_empty() {
                    let kind = if ok { ConsoleKind::Output } else { ConsoleKind::Error };
                    self.push_console(kind, output.trim_end_matches('\n').to_string());
                }
            }
            Action::Worker(FromWorker::Error { message }) => {
                if self.connection == Connection::Connecting {
                    self.connection = Connection::Failed(message.clone());
                }
                self.push_console(ConsoleKind::Error, format!("error: {message}"));
            }
        }
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kscope_core::session::Session;
    use kscope_core::{Cluster, Scenario};
    use kscope_protocol::{ToWorker, PROTOCOL_VERSION};

    /// Feeds the UI reducer with what a real session sends, and checks that the
    /// read model matches the cluster.
    #[test]
    fn read_model_follows_a_real_session() {
        let mut session = Session::new(Cluster::new(Scenario::default()).unwrap());
        let mut state = State::default();
        for reply in session.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION }) {
            state.apply(Action::Worker(reply));
        }
        assert_eq!(state.connection, Connection::Ready);
        assert_eq!(
            state.nodes.keys().collect::<Vec<_>>(),
            ["control-plane", "control-plane2", "control-plane3", "node-1", "node-2", "node-3"]
        );
        for _ in 0..40 {
            for reply in session.tick(50) {
                state.apply(Action::Worker(reply));
            }
        }
        assert_eq!(state.meta.time_ms, 2000);
        assert!(state.messages_seen >= 12, "registration and lease traffic: {}", state.messages_seen);
        let kubelet = &state.components["kubelet/node-1"];
        assert!(kubelet.details.contains(&("registered".into(), "yes".into())));
        state.apply(Action::ConsoleSubmitted("sim kill kubelet/node-1".into()));
        for reply in session.handle(ToWorker::Exec { id: 1, line: "sim kill kubelet/node-1".into() }) {
            state.apply(Action::Worker(reply));
        }
        assert!(!state.components["kubelet/node-1"].up);
        assert_eq!(state.console.back().unwrap().text, "kubelet/node-1 stopped");
        assert_eq!(state.next_exec_id, 2);

        for reply in session.handle(ToWorker::Exec { id: 2, line: "sim reset".into() }) {
            state.apply(Action::Worker(reply));
        }
        assert_eq!(state.meta.time_ms, 0);
        assert!(
            state.messages.iter().all(|m| m.sent_ms == 0),
            "a reset clears the old run's traffic (only the new run's first messages remain)"
        );
        assert!(state.components["kubelet/node-1"].up, "a reset starts every component again");
    }

    #[test]
    fn timeout_only_fails_a_pending_connection() {
        let mut state = State::default();
        state.apply(Action::WorkerTimedOut);
        assert!(matches!(state.connection, Connection::Failed(_)));
        let mut ready = State { connection: Connection::Ready, ..State::default() };
        ready.apply(Action::WorkerTimedOut);
        assert_eq!(ready.connection, Connection::Ready);
    }

    #[test]
    fn the_watchdog_notices_a_silent_running_worker_and_forgets_it_when_it_speaks() {
        let mut session = Session::new(Cluster::new(Scenario::default()).unwrap());
        let mut state = State::default();
        for reply in session.handle(ToWorker::Hello { protocol: PROTOCOL_VERSION }) {
            state.apply(Action::Worker(reply));
        }
        state.apply(Action::WatchdogTick);
        assert!(!state.stalled, "it spoke since the start");
        state.apply(Action::WatchdogTick);
        assert!(state.stalled, "running, and silent for a whole period");
        for reply in session.tick(50) {
            state.apply(Action::Worker(reply));
        }
        assert!(!state.stalled);
        for reply in session.handle(ToWorker::Pause) {
            state.apply(Action::Worker(reply));
        }
        state.apply(Action::WatchdogTick);
        state.apply(Action::WatchdogTick);
        assert!(!state.stalled, "a paused worker is quiet on purpose");
    }

    /// The editor's apply goes through a real session; its answer, and only
    /// its, becomes the editor's result, and the console shows both.
    #[test]
    fn the_editors_apply_gets_its_own_answer() {
        use crate::components::editor::apply_command;
        let mut session = Session::new(Cluster::new(Scenario::default()).unwrap());
        let mut state = State::default();
        state.apply(Action::ConsoleSubmitted("sim status".into()));
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  bad: : :\n".to_string();
        let line = apply_command(&text);
        state.apply(Action::EditorApplied { line: line.clone(), text: text.clone() });
        assert_eq!(state.editor_pending, Some((2, text.clone())));
        // The console's answer comes first and is not the editor's.
        for reply in session.handle(ToWorker::Exec { id: 1, line: "sim status".into() }) {
            state.apply(Action::Worker(reply));
        }
        assert!(state.editor_result.is_none());
        for reply in session.handle(ToWorker::Exec { id: 2, line }) {
            state.apply(Action::Worker(reply));
        }
        let result = state.editor_result.clone().unwrap();
        assert!(!result.ok);
        assert_eq!(result.text, text);
        assert!(result.output.contains("yaml: line 5: mapping values are not allowed"), "{}", result.output);
        assert_eq!(state.editor_pending, None);
        assert!(state
            .console
            .iter()
            .any(|l| l.kind == ConsoleKind::Input && l.text.starts_with("kubectl apply -f - <<EOF\n")));
        assert_eq!(state.console.back().unwrap().kind, ConsoleKind::Error);
        // A good manifest is created, and the cluster kept nothing of the bad one.
        let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n".to_string();
        state.apply(Action::EditorApplied { line: apply_command(&good), text: good.clone() });
        for reply in session.handle(ToWorker::Exec { id: 3, line: apply_command(&good) }) {
            state.apply(Action::Worker(reply));
        }
        let result = state.editor_result.clone().unwrap();
        assert!(result.ok);
        assert_eq!(result.output, "configmap/c created\n");
    }

    #[test]
    fn logs_are_capped() {
        let mut state = State::default();
        for i in 0..(MAX_CONSOLE + 10) {
            state.apply(Action::ConsoleSubmitted(format!("line {i}")));
        }
        assert_eq!(state.console.len(), MAX_CONSOLE);
        assert_eq!(state.console.front().unwrap().text, "line 10");
    }
}
