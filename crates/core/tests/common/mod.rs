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

/// Runs the simulation event by event until `from` (`kube-controller-manager`,
/// `kubelet/node-1`, ...) sends a request whose line (`METHOD /path`)
/// contains `pattern`.
pub fn until_sent(c: &mut kscope_core::Cluster, from: &str, pattern: &str) {
    record_sends(c);
    until_sent_since_recording(c, from, pattern);
}

/// Starts recording the trace afresh, so that a request sent while a
/// following command runs is seen by [`until_sent_since_recording`].
pub fn record_sends(c: &mut kscope_core::Cluster) {
    c.simulation_mut().trace_mut().set_recording(true);
    c.simulation_mut().trace_mut().drain();
}

/// [`until_sent`], counting the requests sent since [`record_sends`] too.
pub fn until_sent_since_recording(c: &mut kscope_core::Cluster, from: &str, pattern: &str) {
    use kscope_core::trace::TraceKind;
    for _ in 0..1_000_000 {
        let sent = c.simulation_mut().trace_mut().drain().into_iter().any(|e| {
            matches!(&e.what, TraceKind::Send { from: f, summary: Some(s), .. } if f.to_string() == from && s.contains(pattern))
        });
        if sent {
            return;
        }
        assert!(c.simulation_mut().step(), "the simulation ran out of events");
    }
    panic!("{from} sent no request matching {pattern:?}");
}

/// [`until_sent`], then cuts `from` off from everything: the request is
/// dropped in flight and never answered. `sim heal` restores the links.
pub fn lose_request(c: &mut kscope_core::Cluster, from: &str, pattern: &str) {
    until_sent(c, from, pattern);
    ok(c, &format!("sim partition {from}"));
}
