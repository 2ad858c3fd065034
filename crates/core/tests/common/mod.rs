//! Helpers shared by the scheduler tests.

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
