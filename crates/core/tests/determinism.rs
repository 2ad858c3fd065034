//! Same scenario + same seed = same trace, whatever the network does; another
//! seed gives another trace. This is what share URLs, replay and the
//! native-vs-wasm check (tests/e2e) stand on.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};

const FAULTY: &str = r#"
apiVersion: kscope.dev/v1alpha1
kind: Scenario
metadata: {name: faulty}
spec:
  seed: 3
  nodes: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}]
  network: {latency: {min: 1ms, max: 40ms}, loss: 0.1, duplicate: 0.05, reorder: 0.2}
  script:
  - {at: 20s, run: "sim partition kubelet/a,kubelet/b"}
  - {at: 45s, run: sim kill kubelet/c}
  - {at: 50s, run: sim heal}
  - {at: 70s, run: sim start kubelet/c}
"#;

fn run(text: &str, seed: Option<u64>, until: Duration) -> (String, u64) {
    let scenario = Scenario::from_yaml(text, "test").unwrap();
    let mut cluster = match seed {
        Some(seed) => Cluster::with_seed(scenario, seed).unwrap(),
        None => Cluster::new(scenario).unwrap(),
    };
    let runs = cluster.advance(until).unwrap();
    assert!(runs.iter().all(|r| r.output.ok), "{runs:?}");
    let trace = cluster.simulation().trace();
    (trace.hash_hex(), trace.len())
}

#[test]
fn same_seed_twice_gives_identical_trace_hash() {
    for seed in 0..20 {
        let a = run(FAULTY, Some(seed), Duration::from_secs(120));
        let b = run(FAULTY, Some(seed), Duration::from_secs(120));
        assert_eq!(a, b, "seed {seed} is not deterministic: replay with `kscope run <faulty> --seed {seed}`");
        assert!(a.1 > 100, "seed {seed}: trace suspiciously short ({} events)", a.1);
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let hashes: std::collections::BTreeSet<String> =
        (0..10).map(|seed| run(FAULTY, Some(seed), Duration::from_secs(60)).0).collect();
    assert_eq!(hashes.len(), 10);
}

#[test]
fn advancing_in_small_steps_equals_one_big_step() {
    // The worker advances a few ms per frame; the CLI jumps. Both must agree.
    let scenario = Scenario::from_yaml(FAULTY, "test").unwrap();
    let mut stepped = Cluster::new(scenario.clone()).unwrap();
    for _ in 0..(90_000 / 37) {
        stepped.advance(Duration::from_millis(37)).unwrap();
    }
    let target = stepped.now_ms();
    let mut jumped = Cluster::new(scenario).unwrap();
    jumped.advance_to(target).unwrap();
    assert_eq!(stepped.simulation().trace().hash_hex(), jumped.simulation().trace().hash_hex());
}

#[test]
fn reset_replays_the_same_run() {
    let mut cluster = Cluster::new(Scenario::default()).unwrap();
    cluster.advance(Duration::from_secs(30)).unwrap();
    let first = cluster.simulation().trace().hash_hex();
    assert!(cluster.exec("sim reset").ok);
    assert_eq!(cluster.now_ms(), 0);
    cluster.advance(Duration::from_secs(30)).unwrap();
    assert_eq!(cluster.simulation().trace().hash_hex(), first);
    assert!(cluster.exec("sim reset --seed 9").ok);
    cluster.advance(Duration::from_secs(30)).unwrap();
    assert_eq!(cluster.seed(), 9);
}

/// The default scenario's hash at 30s with seed 7, pinned. If this changes, the
/// behaviour of the simulation changed: every saved trace hash and share URL
/// changes with it. Update it only on purpose, and say so in the commit.
#[test]
fn default_scenario_hash_is_pinned() {
    let mut cluster = Cluster::with_seed(Scenario::default(), 7).unwrap();
    cluster.advance(Duration::from_secs(30)).unwrap();
    let hash = cluster.simulation().trace().hash_hex();
    assert_eq!(hash, PINNED_DEFAULT_SEED7_30S, "trace hash changed");
}

const PINNED_DEFAULT_SEED7_30S: &str = "50a8f290c8e373d6";
