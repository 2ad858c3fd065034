//! etcd on raft-rs, as an operator would exercise it through etcdctl: elections,
//! leader loss, quorum loss and recovery, minority partitions, catch-up after a
//! restart. Named like raft-rs's harness scenarios.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, CommandOutput, Scenario};

fn cluster(members: u8, seed: u64) -> Cluster {
    let text = format!(
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {{seed: {seed}, kubernetes: false, etcd: {{members: {members}}}}}\n"
    );
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
    let (components, _, _) = c.view();
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
    assert!(out.text.contains("context deadline exceeded") || out.text.contains("etcdserver:"), "{}", out.text);
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
    assert_eq!(
        run(&mut c, "etcdctl get foo --rev 2").text,
        "Error: etcdserver: mvcc: required revision has been compacted\n"
    );
    assert_eq!(
        run(&mut c, "etcdctl get foo --rev 99").text,
        "Error: etcdserver: mvcc: required revision is a future revision\n"
    );
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

mod api {
    //! Watch and Txn through the v3 API directly (etcdctl's forms of them are
    //! still to come).
    use super::*;
    use kscope_core::component_id::ComponentId;
    use kscope_core::etcd::api::{Compare, CompareResult, CompareTarget, Reply, Request, Response, Txn, TxnOp};
    use kscope_core::etcd::mvcc::{EventKind, KeyRange};
    use kscope_core::message::Payload;

    fn send(c: &mut Cluster, client: &str, member: u8, request_id: u64, request: Request) {
        c.simulation_mut().send_as_client(
            client,
            ComponentId::Etcd(member),
            Payload::EtcdRequest { request_id, request },
        );
    }

    fn answers(c: &mut Cluster, client: &str) -> Vec<(u64, Response)> {
        c.simulation_mut()
            .take_client_inbox(client)
            .into_iter()
            .filter_map(|e| match e.payload {
                Payload::EtcdResponse { request_id, response } => Some((request_id, response)),
                _ => None,
            })
            .collect()
    }

    fn call(c: &mut Cluster, member: u8, request: Request) -> Response {
        send(c, "t", member, 99, request);
        for _ in 0..500 {
            c.advance(Duration::from_millis(10)).unwrap();
            if let Some((_, r)) = answers(c, "t").into_iter().find(|(id, _)| *id == 99) {
                return r;
            }
        }
        panic!("no answer");
    }

    fn put(key: &str, value: &str) -> TxnOp {
        TxnOp::Put { key: key.into(), value: value.into(), lease: 0 }
    }

    #[test]
    fn txn_compares_and_runs_one_branch_at_one_revision() {
        let mut c = cluster(3, 6);
        settle(&mut c, 3);
        ok(&mut c, "etcdctl put k1 v1");
        let create_if_absent = |key: &str| Txn {
            compare: vec![Compare { key: key.into(), target: CompareTarget::Create(0), result: CompareResult::Equal }],
            success: vec![put(key, "new"), put("audit", key)],
            failure: vec![TxnOp::Range { range: KeyRange::single(key.as_bytes()), limit: 0 }],
        };
        let r = call(&mut c, 1, Request::Txn(create_if_absent("k2")));
        let Ok(Reply::Txn { succeeded: true, responses }) = r.result else { panic!("{r:?}") };
        assert_eq!(responses.len(), 2);
        let r = call(&mut c, 2, Request::Txn(create_if_absent("k1")));
        let Ok(Reply::Txn { succeeded: false, responses }) = r.result else { panic!("{r:?}") };
        let [Reply::Range(read)] = responses.as_slice() else { panic!("{responses:?}") };
        assert_eq!(read.kvs[0].value, b"v1");
        // Both puts of the successful txn share one revision.
        let out = ok(&mut c, "etcdctl get audit -w json");
        assert!(out.contains("\"mod_revision\":3"), "{out}");
        assert!(ok(&mut c, "etcdctl get k2 -w json").contains("\"mod_revision\":3"));
        // A value comparison on a missing key fails, like etcd.
        let missing = Txn {
            compare: vec![Compare {
                key: "nope".into(),
                target: CompareTarget::Value(vec![]),
                result: CompareResult::Equal,
            }],
            success: vec![],
            failure: vec![],
        };
        assert!(matches!(call(&mut c, 1, Request::Txn(missing)).result, Ok(Reply::Txn { succeeded: false, .. })));
        let dup = Txn { compare: vec![], success: vec![put("a", "1"), put("a", "2")], failure: vec![] };
        assert_eq!(
            call(&mut c, 1, Request::Txn(dup)).result,
            Err("etcdserver: duplicate key given in txn request".into())
        );
    }

    #[test]
    fn watch_sees_every_revision_once_in_order_across_a_leader_change() {
        let mut c = cluster(3, 7);
        settle(&mut c, 3);
        let leader = leaders(&c, 3).pop().unwrap();
        let follower: u8 = (1..=3).find(|n| format!("etcd-{n}") != leader).unwrap();
        let watch =
            Request::Watch { range: KeyRange::prefix(b"w/"), start_revision: 0, prev_kv: true, progress_notify: false };
        send(&mut c, "watcher", follower, 1, watch);
        for i in 0..5 {
            ok(&mut c, &format!("etcdctl --endpoints=etcd-{follower} put w/{i} a{i}"));
        }
        ok(&mut c, &format!("sim kill {leader}"));
        settle(&mut c, 4);
        for i in 0..5 {
            ok(&mut c, &format!("etcdctl --endpoints=etcd-{follower} put w/{i} b{i}"));
        }
        ok(&mut c, &format!("etcdctl --endpoints=etcd-{follower} del w/0"));
        ok(&mut c, &format!("etcdctl --endpoints=etcd-{follower} put other x"));
        settle(&mut c, 1);
        let mut revisions = Vec::new();
        let mut created = 0;
        for (_, response) in answers(&mut c, "watcher") {
            let Ok(Reply::Watch(w)) = response.result else { panic!("{response:?}") };
            created += usize::from(w.created);
            for e in w.events {
                assert!(e.kv.key.starts_with(b"w/"), "only watched keys");
                if e.kind == EventKind::Put && e.kv.value.starts_with(b"b") {
                    assert!(e.prev_kv.is_some(), "prev_kv was asked for");
                }
                revisions.push(e.kv.mod_revision);
            }
        }
        assert_eq!(created, 1);
        assert_eq!(revisions.len(), 11, "{revisions:?}");
        assert!(revisions.windows(2).all(|w| w[1] == w[0] + 1), "no gaps, no duplicates: {revisions:?}");
    }

    #[test]
    fn watch_from_a_compacted_revision_is_canceled_and_history_replays() {
        let mut c = cluster(3, 8);
        settle(&mut c, 3);
        for i in 0..4 {
            ok(&mut c, &format!("etcdctl put h {i}"));
        }
        // Revisions 2..=5; watching from 3 replays 3, 4, 5.
        send(
            &mut c,
            "w",
            1,
            1,
            Request::Watch { range: KeyRange::single(b"h"), start_revision: 3, prev_kv: false, progress_notify: false },
        );
        settle(&mut c, 1);
        let revs: Vec<i64> = answers(&mut c, "w")
            .into_iter()
            .flat_map(|(_, r)| match r.result {
                Ok(Reply::Watch(w)) => w.events.into_iter().map(|e| e.kv.mod_revision).collect::<Vec<_>>(),
                _ => vec![],
            })
            .collect();
        assert_eq!(revs, [3, 4, 5]);
        ok(&mut c, "etcdctl compaction 5");
        send(
            &mut c,
            "w",
            1,
            2,
            Request::Watch { range: KeyRange::single(b"h"), start_revision: 2, prev_kv: false, progress_notify: false },
        );
        settle(&mut c, 1);
        let canceled = answers(&mut c, "w").into_iter().find_map(|(_, r)| match r.result {
            Ok(Reply::Watch(w)) if w.canceled => Some(w),
            _ => None,
        });
        let canceled = canceled.expect("the watch was canceled");
        assert_eq!(canceled.compact_revision, 5);
        assert_eq!(canceled.cancel_reason, "etcdserver: mvcc: required revision has been compacted");
    }
}

fn lease_id(granted: &str) -> String {
    // "lease 226b010000000001 granted with TTL(10s)"
    granted.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn lease_expiry_deletes_attached_keys_and_keep_alive_postpones_it() {
    let mut c = cluster(3, 9);
    settle(&mut c, 3);
    let granted = ok(&mut c, "etcdctl lease grant 10");
    assert!(granted.ends_with(" granted with TTL(10s)\n"), "{granted}");
    let id = lease_id(&granted);
    ok(&mut c, &format!("etcdctl put session alive --lease={id}"));
    let ttl = ok(&mut c, &format!("etcdctl lease timetolive {id} --keys"));
    assert_eq!(ttl, format!("lease {id} granted with TTL(10s), remaining(10s), attached keys([session])\n"));
    settle(&mut c, 6);
    assert_eq!(
        ok(&mut c, &format!("etcdctl lease keep-alive --once {id}")),
        format!("lease {id} keepalived with TTL(10)\n")
    );
    settle(&mut c, 6);
    assert_eq!(ok(&mut c, "etcdctl get session --print-value-only"), "alive\n", "the keep-alive postponed expiry");
    settle(&mut c, 6);
    assert_eq!(ok(&mut c, "etcdctl get session"), "", "expired: the key is gone");
    assert_eq!(ok(&mut c, &format!("etcdctl lease timetolive {id}")), format!("lease {id} already expired\n"));
    assert_eq!(ok(&mut c, "etcdctl lease list"), "found 0 leases\n");
    let out = run(&mut c, "etcdctl put x y --lease=123");
    assert_eq!(out.text, "Error: etcdserver: requested lease not found\n");
    // A transaction checks the leases of the branch it takes (apply.go
    // checkRequests) and writes nothing.
    let mut out = run(&mut c, "etcdctl txn");
    for line in ["", "put x y --lease=123", "put z 1", "", ""] {
        out = run(&mut c, line);
    }
    assert_eq!(out.text, "Error: etcdserver: requested lease not found\n");
    assert_eq!(ok(&mut c, "etcdctl get z"), "");
}

#[test]
fn revoke_deletes_keys_at_once() {
    let mut c = cluster(3, 10);
    settle(&mut c, 3);
    let id = lease_id(&ok(&mut c, "etcdctl lease grant 100"));
    ok(&mut c, &format!("etcdctl put a 1 --lease={id}"));
    ok(&mut c, &format!("etcdctl put b 2 --lease={id}"));
    ok(&mut c, "etcdctl put c 3");
    assert_eq!(ok(&mut c, &format!("etcdctl lease revoke {id}")), format!("lease {id} revoked\n"));
    assert_eq!(ok(&mut c, "etcdctl get a --from-key --keys-only"), "c\n\n");
    let out = run(&mut c, &format!("etcdctl lease revoke {id}"));
    assert_eq!(out.text, "Error: failed to revoke lease (etcdserver: requested lease not found)\n");
    assert_eq!(
        run(&mut c, "etcdctl lease revoke zz").text,
        "Error: bad lease ID arg (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex\n"
    );
    assert_eq!(run(&mut c, "etcdctl lease grant").text, "Error: lease grant command needs TTL argument\n");
}

#[test]
fn leases_survive_a_leader_change_extended_by_the_election_timeout() {
    let mut c = cluster(3, 11);
    settle(&mut c, 3);
    let leader = leaders(&c, 3).pop().unwrap();
    let other = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != leader).unwrap();
    let id = lease_id(&ok(&mut c, &format!("etcdctl --endpoints={other} lease grant 10")));
    ok(&mut c, &format!("etcdctl --endpoints={other} put owned yes --lease={id}"));
    settle(&mut c, 5);
    ok(&mut c, &format!("sim kill {leader}"));
    settle(&mut c, 7);
    assert_eq!(leaders(&c, 3).len(), 1);
    // Twelve seconds after a 10 s grant, past its first deadline, the key is
    // still there: the new leader gave the lease a fresh TTL on promotion...
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={other} get owned --print-value-only")), "yes\n");
    let ttl = ok(&mut c, &format!("etcdctl --endpoints={other} lease timetolive {id}"));
    assert!(ttl.contains("granted with TTL(10s), remaining("), "{ttl}");
    // ...and without keep-alives it expires within TTL + extension of the promotion.
    settle(&mut c, 12);
    assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={other} get owned")), "");
}

#[test]
fn etcdctl_txn_reads_its_sections_from_the_next_lines() {
    let mut c = cluster(3, 12);
    settle(&mut c, 3);
    ok(&mut c, "etcdctl put key1 v1");
    let lines = [
        "etcdctl txn",
        r#"mod("key1") > "0""#,
        r#"val("key1") = "v1""#,
        "",
        r#"put key1 "overwrote-key1""#,
        "get key1",
        "",
        r#"put key1 "created-key1""#,
    ];
    for line in lines {
        assert_eq!(ok(&mut c, line), "", "{line}: nothing is printed while the txn is typed");
        assert!(c.reading_txn());
    }
    assert_eq!(ok(&mut c, ""), "SUCCESS\n\nOK\n\nkey1\noverwrote-key1\n");
    assert!(!c.reading_txn());
    for line in ["etcdctl txn", r#"val("nokey") = "x""#, "", "put a b", "", "put a c", "del zz"] {
        ok(&mut c, line);
    }
    assert_eq!(ok(&mut c, ""), "FAILURE\n\nOK\n\n0\n");
    ok(&mut c, "etcdctl txn");
    let bad = run(&mut c, r#"ver("key1") = "x""#);
    assert_eq!(bad.text, "Error: invalid txn compare request: ver(\"key1\") = \"x\"\n");
    assert!(!c.reading_txn(), "an error ends the txn, as etcdctl exits");
}

#[test]
fn etcdctl_watch_streams_in_the_background_until_interrupted() {
    let mut c = cluster(3, 13);
    settle(&mut c, 3);
    ok(&mut c, "etcdctl put wk old");
    assert_eq!(ok(&mut c, "etcdctl watch wk --prev-kv"), "");
    ok(&mut c, "etcdctl put wk new");
    ok(&mut c, "etcdctl del wk");
    settle(&mut c, 1);
    assert_eq!(c.take_background_output(), "PUT\nwk\nold\nwk\nnew\nDELETE\nwk\nnew\nwk\n\n");
    assert_eq!(ok(&mut c, "sim interrupt"), "stopped 1 watch\n");
    ok(&mut c, "etcdctl put wk again");
    settle(&mut c, 1);
    assert_eq!(c.take_background_output(), "", "an interrupted watch prints nothing more");
    // A watch from an old revision replays history first.
    ok(&mut c, "etcdctl watch wk --rev 2");
    settle(&mut c, 1);
    assert_eq!(c.take_background_output(), "PUT\nwk\nold\nPUT\nwk\nnew\nDELETE\nwk\n\nPUT\nwk\nagain\n");
}

fn member_hex(c: &mut Cluster, name: &str) -> String {
    let list = ok(c, "etcdctl member list");
    list.lines().find(|l| l.contains(&format!(", {name}, "))).unwrap().split(", ").next().unwrap().to_string()
}

#[test]
fn member_add_as_learner_start_promote_and_remove() {
    let mut c = cluster(3, 14);
    settle(&mut c, 3);
    for i in 0..10 {
        ok(&mut c, &format!("etcdctl put k{i} {i}"));
    }
    let added = ok(&mut c, "etcdctl member add etcd-4 --peer-urls=https://10.0.0.14:2380 --learner");
    assert!(added.contains(" added as learner to cluster "), "{added}");
    assert!(added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""), "{added}");
    assert!(ok(&mut c, "etcdctl member list").contains(", unstarted, , https://10.0.0.14:2380, , true"));
    let id = member_hex(&mut c, "");
    // A learner that has not caught up cannot be promoted.
    let early = run(&mut c, &format!("etcdctl member promote {id}"));
    assert!(!early.ok, "{}", early.text);
    ok(&mut c, "sim start etcd-4");
    settle(&mut c, 3);
    assert_eq!(detail(&c, "etcd-4", "role"), "learner");
    assert_eq!(detail(&c, "etcd-4", "revision"), detail(&c, "etcd-1", "revision"), "the learner caught up");
    assert_eq!(
        run(&mut c, "etcdctl --endpoints=etcd-4 put x y").text,
        "Error: etcdserver: rpc not supported for learner\n"
    );
    // Promote through whichever member leads (etcdctl's default endpoint may not).
    let leader = leaders(&c, 4).pop().unwrap();
    let promoted = ok(&mut c, &format!("etcdctl --endpoints={leader} member promote {id}"));
    assert!(promoted.starts_with(&format!("Member {id:>16} promoted in cluster ")), "{promoted}");
    settle(&mut c, 1);
    assert_eq!(detail(&c, "etcd-4", "role"), "follower");
    // Remove etcd-2: it applies its own removal and shuts down; the rest go on.
    let id2 = member_hex(&mut c, "etcd-2");
    let removed = ok(&mut c, &format!("etcdctl --endpoints=etcd-4 member remove {id2}"));
    assert!(removed.starts_with(&format!("Member {id2:>16} removed from cluster ")), "{removed}");
    settle(&mut c, 3);
    assert_eq!(detail(&c, "etcd-2", "role"), "removed");
    assert_eq!(ok(&mut c, "etcdctl member list").lines().count(), 3);
    assert_eq!(ok(&mut c, "etcdctl --endpoints=etcd-4 put after removal").trim(), "OK");
    assert_eq!(
        run(&mut c, "etcdctl member remove zz").text,
        "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex\n"
    );
    assert_eq!(run(&mut c, &format!("etcdctl member remove {id2}")).text, "Error: etcdserver: member not found\n");
}

#[test]
fn move_leader_hands_leadership_over() {
    let mut c = cluster(3, 15);
    settle(&mut c, 3);
    let leader = leaders(&c, 3).pop().unwrap();
    let target = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != leader).unwrap();
    let target_id = member_hex(&mut c, &target);
    let leader_id = member_hex(&mut c, &leader);
    let endpoints = "--endpoints=etcd-1,etcd-2,etcd-3";
    let out = ok(&mut c, &format!("etcdctl {endpoints} move-leader {target_id}"));
    assert_eq!(out, format!("Leadership transferred from {leader_id} to {target_id}\n"));
    assert_eq!(leaders(&c, 3), vec![target.clone()]);
    // With only a follower as endpoint, etcdctl cannot find the leader.
    let follower = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != target).unwrap();
    let out = run(&mut c, &format!("etcdctl --endpoints={follower} move-leader {leader_id}"));
    assert_eq!(out.text, format!("Error: no leader endpoint given at [{follower}]\n"));
}

#[test]
fn lagging_member_catches_up_from_a_snapshot_and_restarts_from_its_own() {
    let text = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {seed: 16, kubernetes: false, etcd: {members: 3, snapshotCount: 20, snapshotCatchUpEntries: 5}}\n";
    let mut c = Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap();
    c.simulation_mut().trace_mut().set_recording(true);
    settle(&mut c, 3);
    let leader = leaders(&c, 3).pop().unwrap();
    let follower = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != leader).unwrap();
    ok(&mut c, &format!("sim kill {follower}"));
    for i in 0..60 {
        ok(&mut c, &format!("etcdctl --endpoints={leader} put key-{i:02} {i}"));
    }
    c.simulation_mut().trace_mut().drain();
    ok(&mut c, &format!("sim start {follower}"));
    settle(&mut c, 3);
    let snapshots = c
        .simulation_mut()
        .trace_mut()
        .drain()
        .into_iter()
        .filter(|e| matches!(&e.what, kscope_core::trace::TraceKind::Send { summary: Some(s), .. } if s.starts_with("MsgSnapshot")))
        .count();
    assert!(snapshots >= 1, "the leader's log no longer reaches back: it sent a snapshot");
    assert_eq!(detail(&c, &follower, "revision"), detail(&c, &leader, "revision"));
    let count = ok(&mut c, &format!("etcdctl --endpoints={follower} get key- --prefix --count-only"));
    assert_eq!(count, "60\n");
    // Restart the leader: it recovers from its own snapshot plus the log after it.
    let revision = detail(&c, &leader, "revision");
    ok(&mut c, &format!("sim restart {leader}"));
    settle(&mut c, 3);
    assert_eq!(detail(&c, &leader, "revision"), revision);
    assert_eq!(
        ok(&mut c, &format!("etcdctl --endpoints={leader} get key-59 --print-value-only --consistency=s")),
        "59\n"
    );
}

#[test]
fn snapshot_save_status_and_restore_into_a_new_cluster() {
    let mut c = cluster(3, 17);
    settle(&mut c, 3);
    ok(&mut c, "etcdctl put a 1");
    ok(&mut c, "etcdctl put b 2");
    assert_eq!(ok(&mut c, "etcdctl snapshot save snap.db"), "Snapshot saved at snap.db\n");
    let status = ok(&mut c, "etcdctl snapshot status snap.db -w table");
    assert!(
        status.starts_with(
            "+----------+----------+------------+------------+\n|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n"
        ),
        "{status}"
    );
    let simple = ok(&mut c, "etcdctl snapshot status snap.db");
    let fields: Vec<&str> = simple.trim().split(", ").collect();
    assert_eq!((fields.len(), fields[1], fields[2]), (4, "3", "2"), "{simple}");
    assert_eq!(run(&mut c, "etcdctl snapshot status nope.db").text, "Error: stat nope.db: no such file or directory\n");
    assert_eq!(run(&mut c, "etcdctl snapshot save").text, "Error: snapshot save expects one argument\n");
    ok(&mut c, "etcdctl put c 3");
    ok(&mut c, "etcdctl del a");
    let restored = ok(&mut c, "etcdctl snapshot restore snap.db");
    assert!(restored.starts_with("restored etcd-1, etcd-2, etcd-3 from snap.db at revision 3"), "{restored}");
    settle(&mut c, 3);
    assert_eq!(leaders(&c, 3).len(), 1, "the restored cluster elects a leader");
    assert_eq!(ok(&mut c, "etcdctl get '' --from-key"), "a\n1\nb\n2\n", "back to the snapshot's state");
    ok(&mut c, "etcdctl put d 4");
    assert!(ok(&mut c, "etcdctl get d -w json").contains("\"mod_revision\":4"), "revisions go on from the snapshot's");
    assert_eq!(ok(&mut c, "etcdctl defrag"), "Finished defragmenting etcd member[10.0.0.11:2379]\n");
    assert_eq!(ok(&mut c, "etcdctl alarm list"), "");
}

#[test]
fn a_new_cluster_bootstraps_like_etcd() {
    // etcd's log starts with one AddNode entry per member at term 1; the first
    // election is for term 2; then the leader's empty entry, each member's
    // publish and the cluster version: 3 + 1 + 3 + 1 = 8 for three members.
    let mut c = cluster(3, 18);
    settle(&mut c, 3);
    let status = ok(&mut c, "etcdctl endpoint status --cluster");
    for line in status.lines() {
        let fields: Vec<&str> = line.split(", ").collect();
        assert_eq!((fields[6], fields[7], fields[8]), ("2", "8", "8"), "{line}");
    }
    let mut one = cluster(1, 18);
    settle(&mut one, 3);
    let status = ok(&mut one, "etcdctl endpoint status");
    assert!(status.contains(", true, false, 2, 4, 4, "), "{status}");
}

mod review_regressions {
    //! Sequences a review found to crash or misbehave, kept as tests.
    use super::*;

    fn scenario(text: &str) -> Cluster {
        Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap()
    }

    #[test]
    fn many_script_steps_due_at_once_run_in_turn_without_nesting() {
        let steps: String = (0..300).map(|i| format!("  - {{at: 3s, run: etcdctl put k v{i}}}\n")).collect();
        let mut c = scenario(&format!("apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  script:\n{steps}"));
        let runs = c.advance(Duration::from_secs(5)).unwrap();
        assert_eq!(runs.len(), 300);
        assert!(runs.iter().all(|r| r.output.ok && r.output.text == "OK\n"));
        assert_eq!(ok(&mut c, "etcdctl get k --print-value-only"), "v299\n");
    }

    #[test]
    fn a_script_step_does_not_steal_the_console_commands_answer() {
        let mut c = scenario(
            "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  script:\n  - {at: 3s, run: etcdctl put a 1}\n",
        );
        c.advance(Duration::from_millis(2_998)).unwrap();
        let out = ok(&mut c, "etcdctl put b 2");
        assert!(out.starts_with("OK\n["), "the command's answer, then the step that fell due: {out}");
        assert!(out.ends_with("$ etcdctl put a 1\nOK\n"), "{out}");
    }

    #[test]
    fn huge_lease_ttls_and_snapshot_counts_are_handled() {
        let mut c = cluster(3, 20);
        settle(&mut c, 3);
        assert_eq!(
            run(&mut c, "etcdctl lease grant 9223372036854775807").text,
            "Error: etcdserver: too large lease TTL\n"
        );
        assert!(ok(&mut c, "etcdctl lease grant 9000000000").contains("granted with TTL(9000000000s)"));
        let mut c = scenario(
            "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec: {etcd: {snapshotCount: 18446744073709551615}}\n",
        );
        settle(&mut c, 3);
        ok(&mut c, "etcdctl snapshot save s");
        ok(&mut c, "etcdctl snapshot restore s");
        settle(&mut c, 3);
        assert_eq!(ok(&mut c, "etcdctl put x y"), "OK\n");
    }

    #[test]
    fn restore_stops_later_members_and_keeps_new_lease_ids_unique() {
        let mut c = cluster(3, 21);
        settle(&mut c, 3);
        ok(&mut c, "etcdctl member add etcd-4 --peer-urls=https://10.0.0.14:2380");
        ok(&mut c, "sim start etcd-4");
        settle(&mut c, 3);
        ok(&mut c, "etcdctl put k old");
        let granted = ok(&mut c, "etcdctl lease grant 600");
        ok(&mut c, "etcdctl snapshot save snap");
        ok(&mut c, "etcdctl put k newer");
        ok(&mut c, "etcdctl snapshot restore snap");
        settle(&mut c, 5);
        assert_eq!(detail(&c, "etcd-4", "role"), "stopped", "etcd-4 was not part of the restored cluster");
        assert_eq!(ok(&mut c, "etcdctl get k --print-value-only"), "old\n");
        assert_eq!(ok(&mut c, "etcdctl member list").lines().count(), 3);
        let again = ok(&mut c, "etcdctl lease grant 600");
        assert_ne!(lease_id(&again), lease_id(&granted));
        assert_eq!(ok(&mut c, "etcdctl lease list").lines().count(), 3, "the restored lease and the new one");
    }

    #[test]
    fn an_expired_lease_is_revoked_even_if_the_first_revoke_is_dropped() {
        let mut c = cluster(3, 22);
        settle(&mut c, 3);
        let leader = leaders(&c, 3).pop().unwrap();
        let other = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != leader).unwrap();
        let id = lease_id(&ok(&mut c, &format!("etcdctl --endpoints={leader} lease grant 2")));
        ok(&mut c, &format!("etcdctl --endpoints={leader} put lk v --lease={id}"));
        ok(&mut c, &format!("sim kill {other}"));
        c.advance(Duration::from_millis(1_500)).unwrap();
        let other_id = format!("{:x}", kscope_core::etcd::member::member_id(&other));
        // The transfer to a dead member stalls proposals (raft drops them) around expiry.
        let _ = run(&mut c, &format!("etcdctl --endpoints={leader} move-leader {other_id}"));
        settle(&mut c, 30);
        assert_eq!(ok(&mut c, &format!("etcdctl --endpoints={leader} get lk --consistency=s")), "");
    }

    #[test]
    fn a_caught_up_watch_gets_its_events_before_a_compaction_in_the_same_batch() {
        let mut c = cluster(3, 23);
        settle(&mut c, 3);
        let leader = leaders(&c, 3).pop().unwrap();
        let watcher = (1..=3).map(|n| format!("etcd-{n}")).find(|m| *m != leader).unwrap();
        ok(&mut c, &format!("etcdctl --endpoints={watcher} watch k"));
        ok(&mut c, &format!("sim partition {watcher}"));
        ok(&mut c, &format!("etcdctl --endpoints={leader} put k v1"));
        ok(&mut c, &format!("etcdctl --endpoints={leader} put k v2"));
        ok(&mut c, &format!("etcdctl --endpoints={leader} compaction 3"));
        ok(&mut c, "sim heal");
        settle(&mut c, 3);
        assert_eq!(c.take_background_output(), "PUT\nk\nv1\nPUT\nk\nv2\n");
    }
}

#[test]
fn a_write_to_a_member_without_a_leader_waits_and_is_abandoned_when_it_times_out() {
    let mut c = cluster(3, 24);
    settle(&mut c, 3);
    // etcd-1 alone: it loses its leader and cannot elect one.
    ok(&mut c, "sim partition etcd-1");
    settle(&mut c, 3);
    assert_eq!(detail(&c, "etcd-1", "leader"), "none");
    let out = run(&mut c, "etcdctl --endpoints=etcd-1 put orphan x");
    assert_eq!(out.text, "Error: context deadline exceeded\n", "etcdctl gives up after --command-timeout");
    // The member's own request timeout passes too; the abandoned proposal is
    // never proposed, even once the partition heals.
    settle(&mut c, 5);
    ok(&mut c, "sim heal");
    settle(&mut c, 5);
    assert_eq!(ok(&mut c, "etcdctl --endpoints=etcd-1 get orphan"), "");
}

#[test]
fn etcdctl_with_several_endpoints_uses_one_that_accepts_connections() {
    let mut c = cluster(3, 25);
    settle(&mut c, 3);
    ok(&mut c, "sim kill etcd-1");
    settle(&mut c, 3);
    assert_eq!(run(&mut c, "etcdctl put a 1").text, "Error: context deadline exceeded\n", "etcd-1 alone is down");
    assert_eq!(ok(&mut c, "etcdctl --endpoints=etcd-1,etcd-2,etcd-3 put a 1"), "OK\n");
    let json = ok(&mut c, "etcdctl --endpoints=etcd-1,etcd-2,etcd-3 get a -w json");
    let expected = format!("\"member_id\":{}", kscope_core::etcd::member::member_id("etcd-2"));
    assert!(json.contains(&expected), "answered by etcd-2, the first running endpoint: {json}");
}

mod second_review {
    //! Sequences a second review found, kept as tests.
    use super::*;

    #[test]
    fn a_member_add_the_client_gave_up_on_is_not_proposed_later() {
        let mut c = cluster(3, 26);
        settle(&mut c, 3);
        ok(&mut c, "sim kill etcd-2");
        ok(&mut c, "sim kill etcd-3");
        settle(&mut c, 3);
        let out = run(
            &mut c,
            "etcdctl --endpoints=etcd-1 --command-timeout=2s member add etcd-4 --peer-urls=https://10.0.0.14:2380",
        );
        assert_eq!(out.text, "Error: context deadline exceeded\n");
        ok(&mut c, "sim start etcd-2");
        settle(&mut c, 4);
        assert_eq!(ok(&mut c, "etcdctl member list").lines().count(), 3, "the abandoned add never happened");
    }

    #[test]
    fn script_steps_run_while_the_console_types_a_txn_and_txn_is_not_a_script_step() {
        let text =
            "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  script:\n  - {at: 5s, run: sim kill etcd-2}\n";
        let mut c = Cluster::new(Scenario::from_yaml(text, "t").unwrap()).unwrap();
        settle(&mut c, 3);
        ok(&mut c, "etcdctl put k v");
        ok(&mut c, "etcdctl txn");
        let runs = c.advance(Duration::from_secs(3)).unwrap();
        assert!(runs[0].output.ok, "{:?}", runs[0]);
        assert_eq!(detail(&c, "etcd-2", "role"), "stopped");
        for line in [r#"val("k") = "v""#, "", "put k w", ""] {
            ok(&mut c, line);
        }
        assert_eq!(ok(&mut c, ""), "SUCCESS\n\nOK\n", "the txn typed around the step still runs");
        let bad = "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  script:\n  - {at: 5s, run: etcdctl txn}\n";
        let e = Scenario::from_yaml(bad, "t").unwrap_err().to_string();
        assert!(e.contains("not allowed in a script"), "{e}");
    }

    #[test]
    fn endpoints_that_refuse_connections_are_skipped_for_watch_and_after_removal() {
        let mut c = cluster(3, 27);
        settle(&mut c, 3);
        ok(&mut c, "sim kill etcd-2");
        settle(&mut c, 2);
        ok(&mut c, "etcdctl --endpoints=etcd-2,etcd-3 watch a");
        ok(&mut c, "etcdctl --endpoints=etcd-3 put a 1");
        settle(&mut c, 1);
        assert_eq!(c.take_background_output(), "PUT\na\n1\n");
        ok(&mut c, "sim interrupt");
        ok(&mut c, "sim start etcd-2");
        settle(&mut c, 3);
        let id1 = format!("{:x}", kscope_core::etcd::member::member_id("etcd-1"));
        ok(&mut c, &format!("etcdctl --endpoints=etcd-2 member remove {id1}"));
        settle(&mut c, 2);
        assert_eq!(ok(&mut c, "etcdctl --endpoints=etcd-1,etcd-2 put b 2"), "OK\n");
    }

    #[test]
    fn command_timeouts_are_capped_at_a_day() {
        let mut c = cluster(3, 28);
        let out = run(&mut c, "etcdctl --command-timeout=100000h get a");
        assert!(
            out.text.starts_with(
                "Error: invalid argument \"100000h\" for \"--command-timeout\" flag: kscope waits at most 24h0m0s"
            ),
            "{}",
            out.text
        );
        assert_eq!(c.now_ms(), 0);
    }
}
