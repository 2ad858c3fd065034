//! etcd on raft-rs, as an operator would exercise it through etcdctl: elections,
//! leader loss, quorum loss and recovery, minority partitions, catch-up after a
//! restart. Named like raft-rs's harness scenarios.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, CommandOutput, Scenario};

fn cluster(members: u8, seed: u64) -> Cluster {
    let text = format!("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {{seed: {seed}, etcd: {{members: {members}}}}}\n");
    Cluster::new(Scenario::from_yaml(&text, "test").unwrap()).unwrap()
}

fn run(c: &mut Cluster, line: &str) -> CommandOutput {
    c.exec(line)
}

fn ok(c: &mut Cluster, line: &str) -> String {
    let out = c.exec(line);
    assert!(out.ok, "{line}: {}", out.text);
    out.text
}

fn detail(c: &Cluster, id: &str, key: &str) -> String {
    let (components, _) = c.view();
    let comp = components.iter().find(|x| x.id == id).unwrap();
    comp.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// Names of the members that think they lead, and the leader each member follows.
fn leaders(c: &Cluster, members: u8) -> Vec<String> {
    (1..=members).map(|n| format!("etcd-{n}")).filter(|m| detail(c, m, "role") == "leader").collect()
}

fn settle(c: &mut Cluster, secs: u64) {
    c.advance(Duration::from_secs(secs)).unwrap();
}

#[test]
fn first_election_elects_exactly_one_leader_everyone_follows() {
    for members in [1, 3, 5] {
        for seed in 0..10 {
            let mut c = cluster(members, seed);
            settle(&mut c, 5);
            let leaders = leaders(&c, members);
            assert_eq!(leaders.len(), 1, "{members} members, seed {seed}: leaders {leaders:?}");
            for n in 1..=members {
                assert_eq!(detail(&c, &format!("etcd-{n}"), "leader"), leaders[0], "seed {seed}");
            }
        }
    }
}

#[test]
fn killing_the_leader_elects_a_new_one_and_writes_succeed() {
    let mut c = cluster(3, 1);
    settle(&mut c, 5);
    assert_eq!(ok(&mut c, "etcdctl put k1 v1"), "OK\n");
    let old = leaders(&c, 3).pop().unwrap();
    let old_term: u64 = detail(&c, &old, "term").parse().unwrap();
    ok(&mut c, &format!("sim kill {old}"));
    settle(&mut c, 5);
    let new = leaders(&c, 3);
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old);
    assert!(detail(&c, &new[0], "term").parse::<u64>().unwrap() > old_term);
    let endpoint = format!("--endpoints={}", new[0]);
    assert_eq!(ok(&mut c, &format!("etcdctl {endpoint} put k2 v2")), "OK\n");
    assert_eq!(ok(&mut c, &format!("etcdctl {endpoint} get k --prefix")), "k1\nv1\nk2\nv2\n");
}

#[test]
fn two_of_three_down_writes_fail_then_succeed_after_restart_with_no_write_lost() {
    let mut c = cluster(3, 2);
    settle(&mut c, 5);
    for i in 0..5 {
        ok(&mut c, &format!("etcdctl put before-{i} {i}"));
    }
    // Keep etcd-1 (the default endpoint) and stop the other two.
    ok(&mut c, "sim kill etcd-2");
    ok(&mut c, "sim kill etcd-3");
    let out = run(&mut c, "etcdctl put during x");
    assert!(!out.ok);
    assert!(out.text.starts_with("Error: "), "{}", out.text);
    assert!(
        out.text.contains("context deadline exceeded") || out.text.contains("etcdserver:"),
        "{}",
        out.text
    );
    ok(&mut c, "sim start etcd-2");
    ok(&mut c, "sim start etcd-3");
    settle(&mut c, 5);
    assert_eq!(ok(&mut c, "etcdctl put after y"), "OK\n");
    let all = ok(&mut c, "etcdctl get before- --prefix --print-value-only");
    assert_eq!(all, "0\n1\n2\n3\n4\n", "no acknowledged write is lost");
    assert_eq!(ok(&mut c, "etcdctl get after --print-value-only"), "y\n");
    // Every member converges on the same store.
    settle(&mut c, 2);
    let revisions: Vec<String> = (1..=3).map(|n| detail(&c, &format!("etcd-{n}"), "revision")).collect();
    assert!(revisions.iter().all(|r| r == &revisions[0]), "{revisions:?}");
}

#[test]
fn minority_partition_cannot_commit_and_the_majority_keeps_serving() {
    let mut c = cluster(5, 3);
    settle(&mut c, 5);
    let old = leaders(&c, 5).pop().unwrap();
    ok(&mut c, &format!("sim partition {old}"));
    // On the isolated leader, a write cannot reach a quorum.
    let out = run(&mut c, &format!("etcdctl --endpoints={old} put stale nope"));
    assert!(!out.ok, "{}", out.text);
    settle(&mut c, 3);
    let majority = leaders(&c, 5).into_iter().filter(|l| *l != old).collect::<Vec<_>>();
    assert_eq!(majority.len(), 1, "the majority elected a leader");
    // check-quorum made the old leader step down.
    assert_ne!(detail(&c, &old, "role"), "leader");
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={} put fresh yes", majority[0])), "OK\n");
    // A linearizable read on the minority fails; a serializable one is served locally (stale).
    let out = run(&mut c, &format!("etcdctl --endpoints={old} get fresh"));
    assert!(!out.ok, "{}", out.text);
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={old} get fresh --consistency=s")), "");
    ok(&mut c, "sim heal");
    settle(&mut c, 5);
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={old} get fresh --print-value-only")), "yes\n");
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={old} get stale")), "", "the minority write never committed");
}

#[test]
fn restarted_member_catches_up_on_the_log() {
    let mut c = cluster(3, 4);
    settle(&mut c, 5);
    let follower = (1..=3).map(|n| format!("etcd-{n}")).find(|m| detail(&c, m, "role") == "follower").unwrap();
    let leader = leaders(&c, 3).pop().unwrap();
    ok(&mut c, &format!("sim kill {follower}"));
    for i in 0..20 {
        ok(&mut c, &format!("etcdctl --endpoints={leader} put key-{i:02} {i}"));
    }
    ok(&mut c, &format!("sim start {follower}"));
    settle(&mut c, 3);
    assert_eq!(detail(&c, &follower, "revision"), detail(&c, &leader, "revision"));
    assert_eq!(detail(&c, &follower, "applied"), detail(&c, &leader, "applied"));
    let out = ok(&mut c, &format!("etcdctl --endpoints={follower} get key- --prefix --count-only"));
    assert_eq!(out, "20\n");
}

#[test]
fn etcdctl_answers_like_etcdctl() {
    let mut c = cluster(3, 5);
    settle(&mut c, 3);
    assert_eq!(ok(&mut c, "etcdctl put foo bar"), "OK\n");
    assert_eq!(ok(&mut c, "etcdctl put foo baz --prev-kv"), "OK\nfoo\nbar\n");
    assert_eq!(ok(&mut c, "etcdctl get foo --keys-only"), "foo\n\n");
    let json = ok(&mut c, "etcdctl get foo -w json");
    assert!(json.starts_with("{\"header\":{\"cluster_id\":"), "{json}");
    assert!(json.contains("\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":3,\"version\":2,\"value\":\"YmF6\"}],\"count\":1}"), "{json}");
    assert_eq!(ok(&mut c, "etcdctl del foo --prev-kv"), "1\nfoo\nbaz\n");
    assert_eq!(ok(&mut c, "etcdctl del foo"), "0\n");
    assert_eq!(ok(&mut c, "etcdctl compaction 3"), "compacted revision 3\n");
    assert_eq!(run(&mut c, "etcdctl get foo --rev 2").text, "Error: etcdserver: mvcc: required revision has been compacted\n");
    assert_eq!(run(&mut c, "etcdctl get foo --rev 99").text, "Error: etcdserver: mvcc: required revision is a future revision\n");
    assert_eq!(run(&mut c, "etcdctl put a 1 --bogus").text, "Error: unknown flag: --bogus\n");
    let members = ok(&mut c, "etcdctl member list");
    assert_eq!(members.lines().count(), 3);
    assert!(members.lines().all(|l| l.split(", ").count() == 6 && l.contains(", started, etcd-")), "{members}");
    let status = ok(&mut c, "etcdctl endpoint status --cluster -w table");
    assert!(status.contains("| RAFT APPLIED INDEX |"), "{status}");
    assert_eq!(status.matches("|      true |").count(), 1, "one leader: {status}");
    let health = ok(&mut c, "etcdctl endpoint health");
    assert!(health.starts_with("10.0.0.11:2379 is healthy: successfully committed proposal: took = "), "{health}");
    let unknown = run(&mut c, "etcdctl --endpoints=10.9.9.9:2379 get foo");
    assert_eq!(unknown.text, "Error: context deadline exceeded\n");
}
