//! `kscope bench apiserver`: objects created per second through
//! kubectl-like clients → kube-apiserver → etcd, and watch events delivered
//! per second to 100 watchers, in the native simulation.
//!
//! Wall-clock time is read here, in the benchmark, never in the core.

use kscope_core::component_id::ComponentId;
use kscope_core::duration::Duration;
use kscope_core::message::{ApiRequest, Method, Payload};
use kscope_core::{Cluster, Scenario};
use serde_json::json;
use std::time::Instant;

/// Creates in flight at once.
const WINDOW: u64 = 200;
/// Watchers in the fan-out measurement.
pub const WATCHERS: usize = 100;

/// The results of one run.
pub struct ApiMeasurement {
    /// Objects created per second of wall time.
    pub creates_per_second: f64,
    /// Watch events delivered per second of wall time.
    pub events_per_second: f64,
    /// Watch events delivered in all.
    pub events: u64,
}

fn cluster() -> Result<Cluster, String> {
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bench}\nspec: {seed: 1, nodes: []}\n";
    let mut cluster = Cluster::new(Scenario::from_yaml(text, "bench").map_err(|e| e.to_string())?)?;
    cluster.advance(Duration::from_secs(3))?;
    Ok(cluster)
}

fn configmap(i: u64) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}, "data": {"k": "v".repeat(100)}})
}

/// Creates `objects` ConfigMaps with `WINDOW` requests in flight; returns how
/// long it took in seconds.
fn create_all(cluster: &mut Cluster, objects: u64, first: u64) -> Result<f64, String> {
    let start = Instant::now();
    create_objects(cluster, objects, |i| ("/api/v1/namespaces/default/configmaps".to_string(), configmap(first + i)))?;
    Ok(start.elapsed().as_secs_f64())
}

/// POSTs `count` objects, `make(i)` giving the collection path and body of
/// the i-th, with `WINDOW` requests in flight, until all are created.
pub fn create_objects(
    cluster: &mut Cluster,
    count: u64,
    make: impl Fn(u64) -> (String, serde_json::Value),
) -> Result<(), String> {
    let (mut sent, mut done) = (0u64, 0u64);
    while done < count {
        while sent < count && sent - done < WINDOW {
            let (path, body) = make(sent);
            let request = ApiRequest::new(sent, Method::Post, path).with_body(body);
            cluster.simulation_mut().send_as_client("bench", ComponentId::ApiServer, Payload::ApiRequest(request));
            sent += 1;
        }
        let now = cluster.now_ms();
        cluster.advance_to(now + 1)?;
        for envelope in cluster.simulation_mut().take_client_inbox("bench") {
            if let Payload::ApiResponse(r) = envelope.payload {
                if r.code != 201 {
                    return Err(format!("a create failed with {}: {:?}", r.code, r.body));
                }
                done += 1;
            }
        }
    }
    Ok(())
}

/// Runs both measurements with `objects` creates each.
pub fn run(objects: u64) -> Result<ApiMeasurement, String> {
    let mut plain = cluster()?;
    let seconds = create_all(&mut plain, objects, 0)?;
    let creates_per_second = objects as f64 / seconds;

    let mut watched = cluster()?;
    for w in 0..WATCHERS {
        let request =
            ApiRequest::new(0, Method::Get, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0");
        watched.simulation_mut().send_as_client(
            &format!("watch-{w}"),
            ComponentId::ApiServer,
            Payload::ApiRequest(request),
        );
    }
    watched.advance(Duration::from_millis(100))?;
    let start = Instant::now();
    create_all(&mut watched, objects, 0)?;
    watched.advance(Duration::from_millis(100))?;
    let mut events = 0u64;
    for w in 0..WATCHERS {
        events += watched.simulation_mut().take_client_inbox(&format!("watch-{w}")).len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    if events < objects * WATCHERS as u64 {
        return Err(format!("watchers got {events} events, expected {}", objects * WATCHERS as u64));
    }
    Ok(ApiMeasurement { creates_per_second, events_per_second: events as f64 / seconds, events })
}
