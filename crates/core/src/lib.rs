//! kscope-core: the whole Kubernetes control plane as deterministic state
//! machines on a simulated network, with no I/O and no browser dependencies.
//!
//! Layers, bottom up:
//! - [`rng`], [`duration`], [`quantity`]: seeded randomness and the units people write.
//! - [`network`], [`trace`], [`component`], [`simulation`]: the simulated network,
//!   the event trace with its stable hash, the component interface and the
//!   driver that owns time and delivery.
//! - [`etcd`], [`kube_apiserver`], [`kube_scheduler`], [`kube_controller_manager`], [`kubelet`]: the components, one module each.
//! - [`scenario`], [`command`], [`etcdctl`], [`cluster`]: the scenario file, the command layer
//!   shared by every front end, and a whole cluster built from a scenario.
//! - [`session`]: what the web worker runs: playback, batching, deltas.
#![deny(missing_docs)]

pub mod apimachinery;
pub mod cluster;
pub mod command;
pub mod component;
pub mod component_id;
pub mod coredns;
pub mod curl;
pub mod duration;
pub mod etcd;
pub mod etcdctl;
pub mod flow;
pub mod kube_addon_manager;
pub mod kube_apiserver;
pub mod kube_controller_manager;
pub mod kube_proxy;
pub mod kube_scheduler;
pub mod kubectl;
pub mod kubelet;
pub mod message;
pub mod network;
pub mod quantity;
pub mod record;
pub mod reflector;
pub mod rng;
pub mod scenario;
pub mod session;
pub mod sha256;
pub mod simulation;
pub mod trace;

pub use cluster::{Cluster, CommandOutput, ScriptRun};
pub use scenario::Scenario;
