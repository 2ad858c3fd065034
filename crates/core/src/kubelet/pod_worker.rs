//! One pod on one node: its sandbox, its containers in the simulated
//! runtime, its probes, and the status the kubelet reports for it.
//!
//! `PodWorker::sync` is level-triggered like the kubelet's `SyncPod`: given
//! the time, it takes every step that is due (sandbox, image pulls, init
//! containers one by one, then the app containers; restarts with
//! CrashLoopBackOff; probes; graceful termination) and says when it next
//! needs to run. Facts from pkg/kubelet (v1.32):
//!
//! - Crash-loop back-off is client-go's `flowcontrol.Backoff` with 10 s
//!   initial and 300 s maximum (`kubelet.go`: `backOffPeriod`,
//!   `MaxContainerBackOff`): the first restart is immediate, the delay then
//!   doubles; an entry older than twice the maximum is forgotten
//!   (`hasExpired`). The waiting message is `back-off 10s restarting failed
//!   container=web pod=web-1_default(uid)` (kuberuntime_manager.go `doBackOff`).
//! - Image pulls back off the same way, keyed by pod and image
//!   (images/image_manager.go `EnsureImageExists`).
//! - A pod worker that failed to sync retries after 10 s
//!   (`backOffPeriod`), so back-off events repeat about every 10 s.
//! - Phase follows kubelet_pods.go `getPhase`; conditions come in the order
//!   `generateAPIPodStatus` writes them.

use super::images::{hex64, lookup, ImageRef, ImageStore, Pull};
use super::program::{exec_probe, program, Entrypoint, Process, Program};
use crate::apimachinery::time::rfc3339;
use crate::duration::Duration;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// How long creating the pod sandbox (pause container and network) takes.
pub const SANDBOX_MS: u64 = 500;
/// How long creating and starting a container takes.
const CONTAINER_START_MS: u64 = 100;
/// How long a program that handles SIGTERM takes to stop.
const STOP_MS: u64 = 100;
/// Back-off: first delay, longest delay (`backOffPeriod`, `MaxContainerBackOff`).
const BACKOFF_INITIAL_MS: u64 = 10_000;
const BACKOFF_MAX_MS: u64 = 300_000;
/// A failed pod sync is retried after this long.
const RETRY_MS: u64 = 10_000;
/// Log lines kept per container (the kubelet rotates logs at 10 MiB).
const LOG_LINES_MAX: usize = 1_000;

/// client-go's `flowcontrol.Backoff` entry for one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Backoff {
    delay_ms: u64,
    last_update_ms: u64,
}

impl Backoff {
    fn expired(&self, at_ms: u64) -> bool {
        at_ms.saturating_sub(self.last_update_ms) > 2 * BACKOFF_MAX_MS
    }

    /// `IsInBackOffSinceUpdate`.
    fn active(entry: &Option<Backoff>, at_ms: u64) -> bool {
        entry.is_some_and(|b| !b.expired(at_ms) && at_ms.saturating_sub(b.last_update_ms) < b.delay_ms)
    }

    /// `IsInBackOffSince(event)`: less than the delay has passed since `event_ms`.
    fn since(entry: &Option<Backoff>, event_ms: u64, now_ms: u64) -> bool {
        entry.is_some_and(|b| !b.expired(event_ms) && now_ms.saturating_sub(event_ms) < b.delay_ms)
    }

    /// `Next`: the first delay, or double the last.
    fn next(entry: &mut Option<Backoff>, at_ms: u64) {
        let delay_ms = match entry {
            Some(b) if !b.expired(at_ms) => (b.delay_ms * 2).min(BACKOFF_MAX_MS),
            _ => BACKOFF_INITIAL_MS,
        };
        *entry = Some(Backoff { delay_ms, last_update_ms: at_ms });
    }
}

/// A container that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    /// Exit code (137 after SIGKILL).
    pub exit_code: i32,
    /// `Completed`, `Error`, or `Unknown` (lost with its node).
    pub reason: String,
    /// When it started.
    pub started_ms: u64,
    /// When it ended.
    pub finished_ms: u64,
    /// Its runtime id.
    pub container_id: String,
}

/// Where a container stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not running: `ContainerCreating`, `PodInitializing`, `ErrImagePull`, `CrashLoopBackOff`, ...
    Waiting {
        /// Reason.
        reason: String,
        /// Message (may be empty).
        message: String,
    },
    /// Running since `started_ms`.
    Running {
        /// Start time.
        started_ms: u64,
    },
    /// Ended.
    Terminated(Terminated),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Handler {
    Exec(Vec<String>),
    Http { port: Option<u16>, path: String, scheme: String },
    Tcp { port: Option<u16> },
}

/// One probe of a container, with its worker's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Probe {
    kind: &'static str,
    handler: Handler,
    initial_delay_ms: u64,
    period_ms: u64,
    success_threshold: u32,
    failure_threshold: u32,
    next_ms: u64,
    successes: u32,
    failures: u32,
}

impl Probe {
    /// A probe from its spec (defaults from pkg/apis/core/v1/defaults.go:
    /// period 10 s, thresholds 1 and 3, initial delay 0).
    fn from_spec(kind: &'static str, spec: &Value, container: &Value) -> Option<Probe> {
        if !spec.is_object() {
            return None;
        }
        let int = |f: &str, default: u64| spec.get(f).and_then(Value::as_u64).unwrap_or(default);
        let port = |p: Option<&Value>| -> Option<u16> {
            match p? {
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Value::String(name) => container
                    .get("ports")
                    .and_then(Value::as_array)?
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|p| p.get("containerPort")?.as_u64())
                    .and_then(|n| u16::try_from(n).ok()),
                _ => None,
            }
        };
        let handler = if let Some(exec) = spec.get("exec") {
            let words = exec.get("command").and_then(Value::as_array).cloned().unwrap_or_default();
            Handler::Exec(words.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
        } else if let Some(http) = spec.get("httpGet") {
            Handler::Http {
                port: port(http.get("port")),
                path: http.get("path").and_then(Value::as_str).unwrap_or("/").to_string(),
                scheme: http.get("scheme").and_then(Value::as_str).unwrap_or("HTTP").to_ascii_lowercase(),
            }
        } else if let Some(tcp) = spec.get("tcpSocket").or_else(|| spec.get("grpc")) {
            Handler::Tcp { port: port(tcp.get("port")) }
        } else {
            return None;
        };
        Some(Probe {
            kind,
            handler,
            initial_delay_ms: int("initialDelaySeconds", 0).saturating_mul(1000),
            period_ms: int("periodSeconds", 10).max(1).saturating_mul(1000),
            success_threshold: int("successThreshold", 1).max(1) as u32,
            failure_threshold: int("failureThreshold", 3).max(1) as u32,
            next_ms: 0,
            successes: 0,
            failures: 0,
        })
    }
}

/// One container of the pod.
#[derive(Clone, Debug)]
pub struct Container {
    /// Its name.
    pub name: String,
    image: String,
    image_ref: Option<ImageRef>,
    pull_policy: String,
    program: Program,
    ports: Vec<u16>,
    probes: Vec<Probe>,
    /// Where it stands.
    pub state: State,
    /// How its previous instance ended.
    pub last_state: Option<Terminated>,
    /// Restarts so far.
    pub restart_count: u32,
    container_id: String,
    process: Process,
    crash_backoff: Option<Backoff>,
    pull_backoff: Option<Backoff>,
    /// The pull this container waits for.
    pulling: Option<Pull>,
    last_pull_error: String,
    grace_ms: u64,
    restart_policy: String,
    /// Once created, it has used the image.
    created: bool,
    ready: bool,
    started: bool,
    /// When it is to be stopped, and whether it is then to be restarted.
    stopping: Option<(u64, bool)>,
    /// Log lines of the current and the previous instance.
    pub logs: VecDeque<(u64, String)>,
    /// Log lines of the previous instance (`kubectl logs --previous`).
    pub previous_logs: VecDeque<(u64, String)>,
    field_path: String,
    /// For a static pod's container: the simulated component it runs.
    link: Option<Link>,
}

/// A static pod container's process as the runtime sees it: the component
/// runs or not, and how often it was stopped (see [`crate::simulation::Process`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    up: bool,
    stops: u64,
    /// `stops` when the current instance started.
    started_at_stops: u64,
}

/// Something to tell the user about, as a kubelet event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `spec.containers{web}` or empty for the pod.
    pub field_path: String,
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What a sync needs from the kubelet: the images and somewhere to put events.
pub struct Env<'a> {
    /// The node's image store.
    pub images: &'a mut ImageStore,
    /// Events to record.
    pub events: Vec<Event>,
}

impl Container {
    fn new(spec: &Value, field: &str) -> Container {
        let s = |f: &str| spec.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        let words = |f: &str| -> Vec<String> {
            spec.get(f)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let name = s("name");
        let image = s("image");
        let image_ref = ImageRef::parse(&image);
        let meta = image_ref.as_ref().and_then(lookup);
        let entrypoint = meta.map_or(Entrypoint::Server, |m| m.entrypoint);
        let binaries = meta.map_or(&[][..], |m| m.binaries);
        let mut ports: Vec<u16> = meta.map(|m| m.ports.to_vec()).unwrap_or_default();
        for p in spec.get("ports").and_then(Value::as_array).into_iter().flatten() {
            if let Some(n) = p.get("containerPort").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()) {
                ports.push(n);
            }
        }
        let probes = [("Startup", "startupProbe"), ("Liveness", "livenessProbe"), ("Readiness", "readinessProbe")]
            .into_iter()
            .filter_map(|(kind, f)| Probe::from_spec(kind, spec.get(f).unwrap_or(&Value::Null), spec))
            .collect();
        let mut program = program(&words("command"), &words("args"), entrypoint, binaries);
        let agnhost = image_ref.as_ref().is_some_and(|r| r.repository.ends_with("/agnhost"));
        if agnhost && words("command").is_empty() && words("args").first().map(String::as_str) == Some("liveness") {
            program.healthy_for_ms = Some(10_000);
        }
        Container {
            field_path: format!("{field}{{{name}}}"),
            name,
            program,
            image,
            image_ref,
            pull_policy: s("imagePullPolicy"),
            ports,
            probes,
            state: State::Waiting { reason: "ContainerCreating".into(), message: String::new() },
            last_state: None,
            restart_count: 0,
            container_id: String::new(),
            process: Process::default(),
            crash_backoff: None,
            pull_backoff: None,
            pulling: None,
            last_pull_error: String::new(),
            grace_ms: 30_000,
            restart_policy: "Always".into(),
            created: false,
            ready: false,
            started: false,
            stopping: None,
            logs: VecDeque::new(),
            previous_logs: VecDeque::new(),
            link: None,
        }
    }

    /// The image's repository (`registry.k8s.io/kube-proxy`), if the image name is valid.
    pub fn repository(&self) -> Option<&str> {
        self.image_ref.as_ref().map(|r| r.repository.as_str())
    }

    /// The runtime's id of the current instance (empty before the first start).
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    /// Whether its program runs at `now` (created and started).
    pub fn running_at(&self, now: u64) -> bool {
        matches!(self.state, State::Running { started_ms } if started_ms <= now)
    }

    fn event(&self, env: &mut Env<'_>, kind: &'static str, reason: &'static str, message: String) {
        env.events.push(Event { field_path: self.field_path.clone(), kind, reason, message });
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    fn log(&mut self, at_ms: u64, line: String) {
        if self.logs.len() >= LOG_LINES_MAX {
            self.logs.pop_front();
        }
        self.logs.push_back((at_ms, line));
    }

    /// Makes sure the image is there (images/image_manager.go
    /// `EnsureImageExists`): `Ok` when it is, else when to look again (the
    /// pull ends, or the failed sync is retried).
    fn ensure_image(&mut self, now: u64, env: &mut Env<'_>) -> Result<(), u64> {
        let Some(image) = self.image_ref.clone() else {
            let message = format!(
                "Failed to apply default image tag {:?}: couldn't parse image name {:?}: invalid reference format",
                self.image, self.image
            );
            self.event(env, "Warning", "InspectFailed", message.clone());
            self.state = State::Waiting { reason: "InvalidImageName".into(), message };
            return Err(now + RETRY_MS);
        };
        let present = env.images.present(&image);
        if let Some(pull) = self.pulling.clone() {
            if pull.done_ms > now {
                return Err(pull.done_ms);
            }
            env.images.finish(&image, now);
            self.pulling = None;
            match pull.result {
                Ok(size) => {
                    let took = Duration::from_millis(pull.done_ms - pull.started_ms);
                    let total = Duration::from_millis(pull.done_ms - pull.requested_ms);
                    self.event(
                        env,
                        "Normal",
                        "Pulled",
                        format!(
                            "Successfully pulled image {:?} in {took} ({total} including waiting). Image size: {size} bytes.",
                            self.image
                        ),
                    );
                    return Ok(());
                }
                Err(error) => {
                    self.event(env, "Warning", "Failed", format!("Failed to pull image {:?}: {error}", self.image));
                    Backoff::next(&mut self.pull_backoff, now);
                    self.event(env, "Warning", "Failed", "Error: ErrImagePull".into());
                    self.last_pull_error = error.clone();
                    self.state = State::Waiting { reason: "ErrImagePull".into(), message: error };
                    return Err(now + RETRY_MS);
                }
            }
        }
        let policy = match self.pull_policy.as_str() {
            "" if image.tag == "latest" && !image.digest => "Always",
            "" => "IfNotPresent",
            p => p,
        };
        if present && policy != "Always" {
            self.event(env, "Normal", "Pulled", format!("Container image {:?} already present on machine", self.image));
            return Ok(());
        }
        if policy == "Never" {
            let message = format!("Container image {:?} is not present with pull policy of Never", self.image);
            self.event(env, "Warning", "ErrImageNeverPull", message.clone());
            self.state = State::Waiting { reason: "ErrImageNeverPull".into(), message };
            return Err(now + RETRY_MS);
        }
        if Backoff::active(&self.pull_backoff, now) {
            let message = format!("Back-off pulling image {:?}", self.image);
            self.event(env, "Normal", "BackOff", message.clone());
            self.event(env, "Warning", "Failed", "Error: ImagePullBackOff".into());
            // The waiting message adds the error that started the back-off (kubernetes#127918, v1.32).
            let message = format!("{message}: ErrImagePull: {}", self.last_pull_error);
            self.state = State::Waiting { reason: "ImagePullBackOff".into(), message };
            return Err(now + RETRY_MS);
        }
        self.event(env, "Normal", "Pulling", format!("Pulling image {:?}", self.image));
        let pull = env.images.pull(&image, now, present);
        self.pulling = Some(pull.clone());
        if pull.done_ms <= now {
            return self.ensure_image(now, env);
        }
        Err(pull.done_ms)
    }
}

/// The kubelet's view of one pod.
#[derive(Clone, Debug)]
pub struct PodWorker {
    /// The pod's uid.
    pub uid: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    pod: Value,
    restart_policy: String,
    grace_ms: u64,
    /// When the kubelet took the pod on (`status.startTime`).
    pub start_ms: u64,
    sandbox_ready_ms: Option<u64>,
    /// The pod's IP, once its sandbox is up.
    pub ip: Option<String>,
    /// Init containers.
    pub init: Vec<Container>,
    /// App containers.
    pub containers: Vec<Container>,
    /// Condition type → (status, since).
    transitions: BTreeMap<&'static str, (bool, u64)>,
    /// Deletion under way: when the containers must be gone.
    pub deleting: Option<u64>,
}

impl PodWorker {
    /// A worker for `pod`, first seen at `now`.
    pub fn new(pod: &Value, now: u64) -> PodWorker {
        let s = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let containers = |f: &str, field: &str| -> Vec<Container> {
            pod.pointer(&format!("/spec/{f}"))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|c| Container::new(c, field)).collect())
                .unwrap_or_default()
        };
        let mut init = containers("initContainers", "spec.initContainers");
        let mut app = containers("containers", "spec.containers");
        if !init.is_empty() {
            for c in &mut app {
                c.state = State::Waiting { reason: "PodInitializing".into(), message: String::new() };
            }
            for c in init.iter_mut().skip(1) {
                c.state = State::Waiting { reason: "PodInitializing".into(), message: String::new() };
            }
        }
        // A pod whose containers ran before (the kubelet or its node
        // restarted) starts them again as restarts.
        for (list, field) in [(&mut init, "initContainerStatuses"), (&mut app, "containerStatuses")] {
            for status in pod.pointer(&format!("/status/{field}")).and_then(Value::as_array).into_iter().flatten() {
                let Some(c) = list.iter_mut().find(|c| status.get("name").and_then(Value::as_str) == Some(&c.name))
                else {
                    continue;
                };
                let restarts = status.get("restartCount").and_then(Value::as_u64).unwrap_or(0) as u32;
                if let Some(id) = status.get("containerID").and_then(Value::as_str) {
                    c.restart_count = restarts + 1;
                    c.last_state = Some(Terminated {
                        exit_code: 255,
                        reason: "Unknown".into(),
                        started_ms: now,
                        finished_ms: now,
                        container_id: id.to_string(),
                    });
                }
            }
        }
        let grace = pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_u64).unwrap_or(30);
        let restart_policy = match pod.pointer("/spec/restartPolicy").and_then(Value::as_str) {
            None | Some("") => "Always".to_string(),
            Some(p) => p.to_string(),
        };
        for c in init.iter_mut().chain(app.iter_mut()) {
            c.grace_ms = grace.saturating_mul(1000);
            c.restart_policy = restart_policy.clone();
        }
        PodWorker {
            uid: s("/metadata/uid"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            restart_policy,
            grace_ms: grace.saturating_mul(1000),
            pod: pod.clone(),
            start_ms: now,
            sandbox_ready_ms: None,
            ip: None,
            init,
            containers: app,
            transitions: BTreeMap::new(),
            deleting: None,
        }
    }

    /// Takes the newest version of the pod from the watch.
    pub fn update(&mut self, pod: &Value, now: u64) -> bool {
        self.pod = pod.clone();
        if self.deleting.is_none() && pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            let grace = pod
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_u64)
                .map_or(self.grace_ms, |s| s.saturating_mul(1000));
            self.deleting = Some(now.saturating_add(grace));
            return true;
        }
        false
    }

    /// Ties container `name` to a simulated component's process (a static
    /// pod): the container runs while the process runs and exits when it
    /// stops. Returns whether this changed what the kubelet sees, so the
    /// pod must be synced.
    pub fn observe_process(&mut self, name: &str, up: bool, stops: u64) -> bool {
        let Some(c) = self.containers.iter_mut().find(|c| c.name == name) else { return false };
        let old = c.link;
        if old.is_none() {
            // Its probes ask the component itself (etcd's /livez on
            // 127.0.0.1:2381, ...): they pass exactly while it runs.
            c.probes.clear();
        }
        let started_at_stops = old.map_or(stops, |l| l.started_at_stops);
        c.link = Some(Link { up, stops, started_at_stops });
        if up && old.is_some_and(|l| !l.up) {
            // It runs again (`sim restart`): the runtime's next start
            // attempt finds it up, whatever the back-off had left to wait.
            c.crash_backoff = None;
        }
        old.map(|l| (l.up, l.stops)) != Some((up, stops))
    }

    /// The program of container `name` was killed (SIGKILL from outside the
    /// kubelet): it ends with exit code 137, and the next sync restarts it
    /// as its restart policy says.
    pub fn kill_container(&mut self, name: &str, now: u64) {
        let Some(c) = self.containers.iter_mut().find(|c| c.name == name) else { return };
        let State::Running { started_ms } = c.state else { return };
        c.state = State::Terminated(Terminated {
            exit_code: 137,
            reason: "Error".into(),
            started_ms,
            finished_ms: now,
            container_id: c.container_id.clone(),
        });
        c.ready = false;
        c.stopping = None;
    }

    /// The container (app or init) named `name`.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.all().find(|c| c.name == name)
    }

    /// The running container that serves on `port`, with its image.
    pub fn server_on(&self, port: u16) -> Option<(&str, &str)> {
        self.containers
            .iter()
            .find(|c| c.running() && c.process.serving && c.ports.contains(&port))
            .map(|c| (c.name.as_str(), c.image.as_str()))
    }

    /// The args of container `name`.
    pub fn args_of(&self, name: &str) -> Vec<String> {
        let spec = self
            .pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(name)).cloned());
        spec.and_then(|c| c.get("args").and_then(Value::as_array).cloned())
            .map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// The pod object the worker was last given.
    pub fn pod(&self) -> &Value {
        &self.pod
    }

    /// Whether every container has stopped for good after a deletion.
    pub fn terminated(&self) -> bool {
        self.deleting.is_some() && self.all().all(|c| !c.running())
    }

    fn all(&self) -> impl Iterator<Item = &Container> {
        self.init.iter().chain(&self.containers)
    }

    fn pod_key(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }

    /// Whether the pod has reached a phase it never leaves.
    pub fn finished(&self) -> bool {
        matches!(self.phase().as_str(), "Succeeded" | "Failed")
    }

    /// Runs every step due at `now`; returns when to run next (`None`: not
    /// before something changes). `ip` gives the sandbox its address.
    pub fn sync(&mut self, now: u64, env: &mut Env<'_>, ip: &mut dyn FnMut() -> String) -> Option<u64> {
        if let Some(deadline) = self.deleting {
            return self.sync_deletion(now, deadline, env);
        }
        if self.finished() {
            return None;
        }
        match self.sandbox_ready_ms {
            None => {
                self.sandbox_ready_ms = Some(now + SANDBOX_MS);
                return Some(now + SANDBOX_MS);
            }
            Some(t) if t > now => return Some(t),
            Some(_) => {
                if self.ip.is_none() {
                    self.ip = Some(ip());
                }
            }
        }
        let pod_key = self.pod_key();
        let ip = self.ip.clone().unwrap_or_default();
        let policy = self.restart_policy.clone();
        let mut wake: Option<u64> = None;
        let mut merge = |w: Option<u64>| {
            wake = match (wake, w) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        for i in 0..self.init.len() {
            if self.init[i].succeeded() {
                continue;
            }
            let w = drive(&mut self.init[i], now, env, &pod_key, &policy, true, &ip);
            if !self.init[i].succeeded() {
                merge(w);
                return wake;
            }
            if let Some(next) = self.init.get_mut(i + 1) {
                next.state = State::Waiting { reason: "PodInitializing".into(), message: String::new() };
            }
        }
        for c in &mut self.containers {
            merge(drive(c, now, env, &pod_key, &policy, false, &ip));
        }
        wake
    }

    /// Stops every container, SIGTERM then SIGKILL at the deadline.
    fn sync_deletion(&mut self, now: u64, deadline: u64, env: &mut Env<'_>) -> Option<u64> {
        let mut wake = None::<u64>;
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            match &c.state {
                State::Running { started_ms } => {
                    let started_ms = *started_ms;
                    let stop_at = match c.stopping {
                        Some((at, _)) => at.min(deadline),
                        None => {
                            c.event(env, "Normal", "Killing", format!("Stopping container {}", c.name));
                            let at = if c.program.stops_on_sigterm { now + STOP_MS } else { deadline };
                            c.stopping = Some((at.min(deadline), false));
                            at.min(deadline)
                        }
                    };
                    if stop_at <= now {
                        let killed = !c.program.stops_on_sigterm || stop_at == deadline && deadline < now + STOP_MS;
                        c.state = State::Terminated(Terminated {
                            exit_code: if killed { 137 } else { 0 },
                            reason: if killed { "Error" } else { "Completed" }.into(),
                            started_ms,
                            finished_ms: now,
                            container_id: c.container_id.clone(),
                        });
                        c.ready = false;
                        c.stopping = None;
                    } else {
                        wake = Some(wake.map_or(stop_at, |w| w.min(stop_at)));
                    }
                }
                State::Waiting { .. } => c.pulling = None,
                State::Terminated(_) => {}
            }
        }
        wake
    }

    /// `getPhase` (kubelet_pods.go).
    pub fn phase(&self) -> String {
        let never = self.restart_policy == "Never";
        let init_pending = self.init.iter().any(|c| !c.succeeded());
        let init_failed =
            never && self.init.iter().any(|c| matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        if init_failed {
            return "Failed".into();
        }
        if init_pending {
            return "Pending".into();
        }
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in &self.containers {
            match &c.state {
                State::Running { .. } => running += 1,
                State::Terminated(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                State::Waiting { .. } if c.last_state.is_some() => stopped += 1,
                State::Waiting { .. } => waiting += 1,
            }
        }
        if waiting > 0 {
            return "Pending".into();
        }
        if running > 0 {
            return "Running".into();
        }
        if stopped > 0 {
            if self.deleting.is_some() || self.restart_policy != "Always" {
                if stopped == succeeded {
                    return "Succeeded".into();
                }
                if never || self.deleting.is_some() {
                    return "Failed".into();
                }
            }
            return "Running".into();
        }
        "Pending".into()
    }

    fn transition(&mut self, kind: &'static str, status: bool, now: u64) -> u64 {
        match self.transitions.get(kind) {
            Some(&(s, since)) if s == status => since,
            _ => {
                self.transitions.insert(kind, (status, now));
                now
            }
        }
    }

    /// The pod status the kubelet reports (`generateAPIPodStatus`).
    pub fn api_status(&mut self, now: u64, host_ip: &str) -> Value {
        let phase = self.phase();
        let names = |list: &[Container], f: &dyn Fn(&Container) -> bool| -> Vec<String> {
            list.iter().filter(|c| !f(c)).map(|c| c.name.clone()).collect()
        };
        let sandbox = self.ip.is_some() && !self.terminated();
        let uninitialized = names(&self.init, &|c| c.succeeded());
        let unready = names(&self.containers, &|c| c.ready);
        let mut conditions = Vec::new();
        let mut condition = |w: &mut PodWorker, kind: &'static str, ok: bool, reason: &str, message: String| {
            let since = w.transition(kind, ok, now);
            let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null,
                "lastTransitionTime": rfc3339(since)});
            if !reason.is_empty() {
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
            conditions.push(c);
        };
        let list = |names: &[String]| format!("[{}]", names.join(" "));
        condition(self, "PodReadyToStartContainers", sandbox, "", String::new());
        if uninitialized.is_empty() || phase == "Succeeded" {
            let reason = if phase == "Succeeded" { "PodCompleted" } else { "" };
            condition(self, "Initialized", true, reason, String::new());
        } else {
            condition(
                self,
                "Initialized",
                false,
                "ContainersNotInitialized",
                format!("containers with incomplete status: {}", list(&uninitialized)),
            );
        }
        for kind in ["Ready", "ContainersReady"] {
            if phase == "Succeeded" {
                condition(self, kind, false, "PodCompleted", String::new());
            } else if !uninitialized.is_empty() || !unready.is_empty() {
                let all = names(&self.containers, &|_| false);
                let message = format!(
                    "containers with unready status: {}",
                    list(if unready.is_empty() { &all } else { &unready })
                );
                condition(self, kind, false, "ContainersNotReady", message);
            } else {
                condition(self, kind, true, "", String::new());
            }
        }
        // `generateAPIPodStatus` reports PodScheduled True too; a pod the
        // scheduler bound has it already (kept below with its time), a
        // static pod or one created with `nodeName` gets it here.
        let existing = self.pod.pointer("/status/conditions").and_then(Value::as_array);
        if !existing.into_iter().flatten().any(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
            condition(self, "PodScheduled", true, "", String::new());
        }
        // The kubelet keeps the conditions it does not own (PodScheduled, DisruptionTarget, ...).
        for c in self.pod.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten() {
            let kind = c.get("type").and_then(Value::as_str).unwrap_or_default();
            if !["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"].contains(&kind) {
                conditions.push(c.clone());
            }
        }
        let mut status = Map::new();
        status.insert("phase".into(), json!(phase));
        status.insert("conditions".into(), json!(conditions));
        status.insert("hostIP".into(), json!(host_ip));
        status.insert("hostIPs".into(), json!([{"ip": host_ip}]));
        if let Some(ip) = &self.ip {
            status.insert("podIP".into(), json!(ip));
            status.insert("podIPs".into(), json!([{"ip": ip}]));
        }
        status.insert("startTime".into(), json!(rfc3339(self.start_ms)));
        if !self.init.is_empty() {
            status.insert("initContainerStatuses".into(), self.init.iter().map(container_status).collect());
        }
        // Sorted by name (`SortedContainerStatuses`); init containers keep spec order.
        let mut sorted: Vec<&Container> = self.containers.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        status.insert("containerStatuses".into(), sorted.into_iter().map(container_status).collect());
        Value::Object(status)
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut v = json!({"exitCode": t.exit_code, "reason": t.reason, "startedAt": rfc3339(t.started_ms),
        "finishedAt": rfc3339(t.finished_ms)});
    if !t.container_id.is_empty() {
        v["containerID"] = json!(t.container_id);
    }
    v
}

/// A `containerStatuses` entry (kubelet_pods.go `convertToAPIContainerStatuses`).
fn container_status(c: &Container) -> Value {
    let state = match &c.state {
        State::Waiting { reason, message } if message.is_empty() => json!({"waiting": {"reason": reason}}),
        State::Waiting { reason, message } => json!({"waiting": {"reason": reason, "message": message}}),
        State::Running { started_ms } => json!({"running": {"startedAt": rfc3339(*started_ms)}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    };
    let (image, image_id) = match (&c.image_ref, c.created) {
        (Some(r), true) => (r.full(), r.digest_ref()),
        _ => (c.image.clone(), String::new()),
    };
    let mut v = json!({
        "name": c.name,
        "state": state,
        "lastState": c.last_state.as_ref().map_or(json!({}), |t| json!({"terminated": terminated_json(t)})),
        "ready": c.ready,
        "restartCount": c.restart_count,
        "image": image,
        "imageID": image_id,
        "started": c.started && c.running(),
    });
    if !c.container_id.is_empty() {
        v["containerID"] = json!(c.container_id);
    }
    v
}

/// Takes one container as far as it can go at `now`; returns its next wake.
fn drive(
    c: &mut Container,
    now: u64,
    env: &mut Env<'_>,
    pod_key: &str,
    policy: &str,
    init: bool,
    ip: &str,
) -> Option<u64> {
    // A container is started, runs, ends and is restarted within one call
    // at most a few times (a crash at once is then in back-off).
    for _ in 0..4 {
        match c.state.clone() {
            State::Waiting { .. } => {
                // `doBackOff` measures from when the last instance exited.
                let finished = c.last_state.as_ref().map(|t| t.finished_ms);
                if finished.is_some_and(|f| Backoff::since(&c.crash_backoff, f, now)) {
                    let delay = Duration::from_millis(c.crash_backoff.map_or(0, |b| b.delay_ms));
                    let message = format!("back-off {delay} restarting failed container={} pod={pod_key}", c.name);
                    c.event(
                        env,
                        "Warning",
                        "BackOff",
                        format!("Back-off restarting failed container {} in pod {pod_key}", c.name),
                    );
                    c.state = State::Waiting { reason: "CrashLoopBackOff".into(), message };
                    let until = finished.unwrap_or(now) + c.crash_backoff.map_or(0, |b| b.delay_ms);
                    return Some(until.min(now + RETRY_MS));
                }
                if let Err(wake) = c.ensure_image(now, env) {
                    return Some(wake);
                }
                if let Some(finished) = finished {
                    // A restart (`doBackOff` found no back-off): the next one waits longer.
                    Backoff::next(&mut c.crash_backoff, finished);
                    if c.created {
                        c.restart_count += 1;
                    }
                }
                start(c, now, env, pod_key);
            }
            State::Running { started_ms } => {
                if let Some((at, restart)) = c.stopping {
                    if at > now {
                        return Some(at);
                    }
                    let killed = !c.program.stops_on_sigterm;
                    c.state = State::Terminated(Terminated {
                        exit_code: if killed { 137 } else { 0 },
                        reason: if killed { "Error" } else { "Completed" }.into(),
                        started_ms,
                        finished_ms: now,
                        container_id: c.container_id.clone(),
                    });
                    c.stopping = None;
                    c.ready = false;
                    if restart {
                        restart_after_exit(c);
                    }
                    continue;
                }
                if c.link.is_some_and(|l| !l.up || l.stops != l.started_at_stops) {
                    // Its component's process was stopped (`sim kill`): the
                    // container died as if SIGKILLed.
                    c.state = State::Terminated(Terminated {
                        exit_code: 137,
                        reason: "Error".into(),
                        started_ms,
                        finished_ms: now.max(started_ms),
                        container_id: c.container_id.clone(),
                    });
                    c.ready = false;
                    continue;
                }
                let program = c.program.clone();
                let step = c.process.run(&program, now, &|s| expand(s, pod_key, now));
                for line in step.logs {
                    c.log(now, line);
                }
                if let Some(code) = step.exited {
                    c.state = State::Terminated(Terminated {
                        exit_code: code,
                        reason: if code == 0 { "Completed" } else { "Error" }.into(),
                        started_ms,
                        finished_ms: now,
                        container_id: c.container_id.clone(),
                    });
                    c.ready = false;
                    continue;
                }
                let probe_wake = if init { None } else { run_probes(c, now, env, ip) };
                if c.stopping.is_some() {
                    continue;
                }
                return [step.wake_ms, probe_wake].into_iter().flatten().min();
            }
            State::Terminated(t) => {
                let restart = if init {
                    t.exit_code != 0 && policy != "Never"
                } else {
                    policy == "Always" || policy == "OnFailure" && t.exit_code != 0
                };
                if !restart {
                    return None;
                }
                restart_after_exit(c);
            }
        }
    }
    Some(now + 1)
}

/// Moves an ended container to waiting for its restart.
fn restart_after_exit(c: &mut Container) {
    let State::Terminated(t) = c.state.clone() else { return };
    c.previous_logs = std::mem::take(&mut c.logs);
    c.last_state = Some(t);
    c.started = false;
    c.state = State::Waiting { reason: "ContainerCreating".into(), message: String::new() };
}

fn start(c: &mut Container, now: u64, env: &mut Env<'_>, pod_key: &str) {
    if let Some(link) = &mut c.link {
        link.started_at_stops = link.stops;
    }
    c.created = true;
    c.container_id = format!("containerd://{}", hex64(&format!("{pod_key}/{}/{}", c.name, c.restart_count)));
    c.event(env, "Normal", "Created", format!("Created container: {}", c.name));
    c.event(env, "Normal", "Started", format!("Started container {}", c.name));
    let started_ms = now + CONTAINER_START_MS;
    c.state = State::Running { started_ms };
    c.process = Process::starting_at(started_ms);
    c.started = !c.probes.iter().any(|p| p.kind == "Startup");
    c.ready = c.started && !c.probes.iter().any(|p| p.kind == "Readiness");
    for p in &mut c.probes {
        p.next_ms = started_ms.saturating_add(p.initial_delay_ms);
        p.successes = 0;
        p.failures = 0;
    }
}

/// `$(date)` and `$HOSTNAME` in echo lines.
fn expand(text: &str, pod_key: &str, now: u64) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let name = pod_key.split('_').next().unwrap_or_default();
    text.replace("$(date)", &crate::apimachinery::time::unix_date(now))
        .replace("$HOSTNAME", name)
        .replace("${HOSTNAME}", name)
}

/// Runs the probes that are due; returns when the next one is.
fn run_probes(c: &mut Container, now: u64, env: &mut Env<'_>, ip: &str) -> Option<u64> {
    let mut next: Option<u64> = None;
    for i in 0..c.probes.len() {
        let kind = c.probes[i].kind;
        // Liveness and readiness wait for the startup probe to succeed.
        if kind != "Startup" && !c.started || kind == "Startup" && c.started {
            continue;
        }
        while c.probes[i].next_ms <= now {
            let p = &mut c.probes[i];
            p.next_ms = p.next_ms.saturating_add(p.period_ms);
            let result = match &p.handler {
                // The output is the command's, trailing newline included (pkg/probe/exec).
                Handler::Exec(words) => {
                    exec_probe(words, &c.process.files)
                        .map_err(|out| if out.is_empty() { out } else { format!("{out}\n") })
                }
                Handler::Http { port, path, scheme } => {
                    let target = format!("{}:{}", ip, port.map_or("0".into(), |p| p.to_string()));
                    let running_ms = match c.state {
                        State::Running { started_ms } => now.saturating_sub(started_ms),
                        _ => 0,
                    };
                    if !port.is_some_and(|p| c.process.serving && c.ports.contains(&p)) {
                        Err(format!(
                            "Get \"{scheme}://{target}{path}\": dial tcp {target}: connect: connection refused"
                        ))
                    } else if c.program.healthy_for_ms.is_some_and(|ms| running_ms > ms) {
                        // pkg/probe/http: a status of 400 or more fails the probe.
                        Err("HTTP probe failed with statuscode: 500".into())
                    } else {
                        Ok(())
                    }
                }
                Handler::Tcp { port } => {
                    let target = format!("{}:{}", ip, port.map_or("0".into(), |p| p.to_string()));
                    if port.is_some_and(|p| c.process.serving && c.ports.contains(&p)) {
                        Ok(())
                    } else {
                        Err(format!("dial tcp {target}: connect: connection refused"))
                    }
                }
            };
            let p = &mut c.probes[i];
            match result {
                Ok(()) => {
                    p.failures = 0;
                    p.successes += 1;
                    if p.successes >= p.success_threshold {
                        match kind {
                            "Startup" => c.started = true,
                            "Readiness" => c.ready = true,
                            _ => {}
                        }
                    }
                }
                Err(output) => {
                    p.successes = 0;
                    p.failures += 1;
                    let failed = p.failures >= p.failure_threshold;
                    env.events.push(Event {
                        field_path: c.field_path.clone(),
                        kind: "Warning",
                        reason: "Unhealthy",
                        message: format!("{kind} probe failed: {output}"),
                    });
                    if failed {
                        match kind {
                            "Readiness" => c.ready = false,
                            _ => {
                                let what = kind.to_ascii_lowercase();
                                let restart = c.restart_policy != "Never";
                                let suffix = if restart { ", will be restarted" } else { "" };
                                c.event(
                                    env,
                                    "Normal",
                                    "Killing",
                                    format!("Container {} failed {what} probe{suffix}", c.name),
                                );
                                let at =
                                    now.saturating_add(if c.program.stops_on_sigterm { STOP_MS } else { c.grace_ms });
                                c.stopping = Some((at, restart));
                                c.ready = false;
                                return None;
                            }
                        }
                    }
                }
            }
            if kind == "Startup" && c.started {
                // Liveness and readiness start now.
                for q in c.probes.iter_mut().filter(|q| q.kind != "Startup") {
                    q.next_ms = q.next_ms.max(now);
                }
                return Some(now);
            }
        }
        let due = c.probes[i].next_ms;
        next = Some(next.map_or(due, |n| n.min(due)));
    }
    next
}
