//! `kscope bench etcd`: committed-and-applied puts per second through the
//! simulated etcd, against a bare raft-rs cluster driven in-process on entries
//! of the same size, in the same run.
//!
//! Wall-clock time is read here, in the benchmark, never in the core.

use kscope_core::component_id::ComponentId;
use kscope_core::duration::Duration;
use kscope_core::etcd::api::{Reply, Request};
use kscope_core::etcd::member::{MAX_INFLIGHT_MSGS, MAX_SIZE_PER_MSG};
use kscope_core::message::Payload;
use kscope_core::{Cluster, Scenario};
use raft::eraftpb::{ConfState, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};
use std::collections::VecDeque;
use std::time::Instant;

/// Puts in flight at once from the benchmark client.
const WINDOW: usize = 2_000;

/// One measurement.
pub struct Measurement {
    /// Entries per second of wall time.
    pub per_second: f64,
    /// Size of one proposal in bytes.
    pub entry_bytes: usize,
}

/// Puts `puts` 100-byte values through a simulated etcd of `members` members.
pub fn simulated(members: u8, puts: u64) -> Result<Measurement, String> {
    let text = format!(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: bench}}\nspec: {{seed: 1, etcd: {{members: {members}}}, nodes: []}}\n"
    );
    let scenario = Scenario::from_yaml(&text, "bench").map_err(|e| e.to_string())?;
    let mut cluster = Cluster::new(scenario)?;
    cluster.advance(Duration::from_secs(3))?;
    let leader = leader_of(&cluster).ok_or("no etcd leader after 3s")?;
    let value = vec![b'v'; 100];
    let mut sent = 0u64;
    let mut done = 0u64;
    let start = Instant::now();
    while done < puts {
        while sent < puts && sent - done < WINDOW as u64 {
            let key = format!("bench/{:08}", sent % 10_000).into_bytes();
            let request = Request::Put { key, value: value.clone(), lease: 0, prev_kv: false };
            cluster.simulation_mut().send_as_client(
                "bench",
                leader.clone(),
                Payload::EtcdRequest { request_id: sent, request },
            );
            sent += 1;
        }
        let now = cluster.now_ms();
        cluster.advance_to(now + 1)?;
        for envelope in cluster.simulation_mut().take_client_inbox("bench") {
            if let Payload::EtcdResponse { response, .. } = envelope.payload {
                match response.result {
                    Ok(Reply::Put { .. }) => done += 1,
                    other => return Err(format!("a put failed: {other:?}")),
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let entry_bytes = 110 + 100; // key and value plus the proposal envelope, roughly
    Ok(Measurement { per_second: puts as f64 / elapsed, entry_bytes })
}

fn leader_of(cluster: &Cluster) -> Option<ComponentId> {
    let (components, _, _) = cluster.view();
    components
        .iter()
        .find(|c| c.details.iter().any(|(k, v)| k == "role" && v == "leader"))
        .and_then(|c| c.id.parse().ok())
}

/// Commits and applies `entries` entries of `entry_bytes` bytes through a bare
/// raft-rs cluster: messages go straight from one node's Ready to the next
/// node's `step`, storage is raft-rs's MemStorage, applying only counts.
pub fn bare_raft(members: u8, entries: u64, entry_bytes: usize) -> Measurement {
    let ids: Vec<u64> = (1..=u64::from(members)).collect();
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let mut nodes: Vec<RawNode<MemStorage>> = ids
        .iter()
        .map(|id| {
            let storage = MemStorage::new_with_conf_state(ConfState::from((ids.clone(), vec![])));
            let config = Config {
                id: *id,
                election_tick: 10,
                heartbeat_tick: 1,
                pre_vote: true,
                check_quorum: true,
                max_size_per_msg: MAX_SIZE_PER_MSG,
                max_inflight_msgs: MAX_INFLIGHT_MSGS,
                ..Default::default()
            };
            RawNode::new(&config, storage, &logger).expect("valid config")
        })
        .collect();
    nodes[0].campaign().expect("campaign");
    let mut mailbox: VecDeque<Message> = VecDeque::new();
    let mut applied = vec![0u64; nodes.len()];
    pump(&mut nodes, &mut mailbox, &mut applied);
    assert_eq!(nodes[0].raft.state, StateRole::Leader);
    let base = applied[0];
    let data = vec![b'x'; entry_bytes];
    let mut proposed = 0u64;
    let start = Instant::now();
    while applied[0] - base < entries {
        while proposed < entries && proposed - (applied[0] - base) < WINDOW as u64 {
            nodes[0].propose(vec![], data.clone()).expect("leader accepts proposals");
            proposed += 1;
        }
        pump(&mut nodes, &mut mailbox, &mut applied);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Measurement { per_second: entries as f64 / elapsed, entry_bytes }
}

/// Runs every node's Ready loop and delivers messages until all is quiet.
fn pump(nodes: &mut [RawNode<MemStorage>], mailbox: &mut VecDeque<Message>, applied: &mut [u64]) {
    loop {
        let mut progress = false;
        for (i, node) in nodes.iter_mut().enumerate() {
            if !node.has_ready() {
                continue;
            }
            progress = true;
            let mut ready = node.ready();
            mailbox.extend(ready.take_messages());
            let store = node.raft.raft_log.store.clone();
            applied[i] += ready.take_committed_entries().iter().filter(|e| !e.data.is_empty()).count() as u64;
            if !ready.entries().is_empty() {
                store.wl().append(ready.entries()).expect("append");
            }
            if let Some(hs) = ready.hs() {
                store.wl().set_hardstate(hs.clone());
            }
            mailbox.extend(ready.take_persisted_messages());
            let mut light = node.advance(ready);
            if let Some(commit) = light.commit_index() {
                store.wl().mut_hard_state().set_commit(commit);
            }
            mailbox.extend(light.take_messages());
            applied[i] += light.take_committed_entries().iter().filter(|e| !e.data.is_empty()).count() as u64;
            node.advance_apply();
        }
        while let Some(m) = mailbox.pop_front() {
            progress = true;
            let to = m.to as usize - 1;
            let _ = nodes[to].step(m);
        }
        if !progress {
            return;
        }
    }
}
