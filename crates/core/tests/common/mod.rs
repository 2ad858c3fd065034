//! Helpers shared by the cluster tests (scheduler, controller manager).
// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use kscope_core::quantity::Quantity;
use serde_json::Value;

/// CPU (millicores) and memory (bytes) requested by a pod's containers (the
/// tests' pods have no init containers or overhead).
pub fn requests(p: &Value) -> (i128, i128) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in p["spec"]["containers"].as_array().into_iter().flatten() {
        if let Some(v) = c["resources"]["requests"]["cpu"].as_str() {
            cpu += Quantity::parse(v).unwrap().millis();
        }
        if let Some(v) = c["resources"]["requests"]["memory"].as_str() {
            mem += Quantity::parse(v).unwrap().value();
        }
    }
    (cpu, mem)
}

/// Runs a console command, and the lines of its heredoc when it has one.
pub fn run(c: &mut kscope_core::Cluster, text: &str) -> kscope_core::CommandOutput {
    let mut lines = text.lines();
    let mut out = c.exec(lines.next().unwrap_or_default());
    for line in lines {
        out = c.exec(line);
    }
    out
}

/// [`run`], which must succeed; its output.
pub fn ok(c: &mut kscope_core::Cluster, text: &str) -> String {
    let out = run(c, text);
    assert!(out.ok, "{text}\n=> {}", out.text);
    out.text
}

/// [`ok`] of a command printing JSON, parsed.
pub fn json(c: &mut kscope_core::Cluster, command: &str) -> Value {
    serde_json::from_str(&ok(c, command)).unwrap()
}
