//! The seeded fault campaign over etcd (see `kscope_core::etcd::campaign`):
//! random puts, gets and deletes from concurrent clients while members are
//! killed and restarted, partitioned, and messages lost and delayed. Every seed
//! must keep Raft's safety properties and give a linearizable history.
//!
//! 500 seeds run by default; set KSCOPE_CAMPAIGN_SEEDS=5000 for more. A failing
//! seed replays with `kscope campaign etcd --seed N`.

use kscope_core::etcd::campaign::{run, CampaignConfig};

#[test]
fn every_seed_is_safe_and_linearizable() {
    let seeds: u64 = std::env::var("KSCOPE_CAMPAIGN_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let config = CampaignConfig::default();
    let mut operations = 0;
    let mut acknowledged = 0;
    let mut faults = 0;
    for seed in 0..seeds {
        let report = run(seed, &config);
        if let Some(violation) = &report.violation {
            panic!(
                "seed {seed} ({} members) broke etcd: {violation}\nfaults: {:#?}\nreplay: kscope campaign etcd --seed {seed}",
                report.members, report.faults
            );
        }
        operations += report.operations;
        acknowledged += report.acknowledged;
        faults += report.faults.len();
    }
    println!("{seeds} seeds: {operations} operations ({acknowledged} acknowledged), {faults} faults");
    // The campaign must actually exercise the cluster, or it proves nothing.
    assert!(acknowledged as u64 > 20 * seeds, "too few acknowledged operations: {acknowledged}");
    assert!(faults as u64 > 5 * seeds, "too few faults: {faults}");
}

#[test]
fn a_seed_replays_exactly() {
    let config = CampaignConfig::default();
    let a = run(42, &config);
    let b = run(42, &config);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.operations, b.operations);
}
