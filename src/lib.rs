//! The kscope web app: a Yew UI on the main thread and a web worker that owns
//! the simulation core. They talk only through `kscope-protocol` messages.
//!
//! - [`app`]: the root component; starts the worker and wires the panels.
//! - [`state`]: the UI's read model, one reducer over worker messages.
//! - [`components`]: one file per panel.
//! - [`format`]: how numbers are written on screen.
//! - [`worker`]: the worker side.
#![deny(missing_docs)]

pub mod app;
pub mod components;
pub mod format;
pub mod state;
pub mod worker;
