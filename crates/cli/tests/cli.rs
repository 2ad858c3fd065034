//! The `kscope` binary as a user runs it: `shell` reads commands from standard
//! input and prints what the browser console prints; `run` prints a summary and
//! the trace hash; bad input gets a clear error and the right exit status.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kscope(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kscope runs");
    // kscope may exit before reading its input (a bad scenario, say): a
    // broken pipe here is expected then, not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn scenario_file(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kscope-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn shell_advances_and_reports_simulated_time() {
    let out = kscope(&["shell"], "sim advance 5s\nsim status\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("advanced 5s to 5s"), "{stdout}");
    assert!(stdout.contains("Time:       5s (00:00:05.000)"), "{stdout}");
    assert!(stdout.contains("Seed:       1"), "{stdout}");
    for component in ["kube-apiserver", "etcd-1", "etcd-2", "etcd-3", "kubelet/node-3"] {
        assert!(stdout.contains(component), "{component} missing from:\n{stdout}");
    }
}

#[test]
fn shell_names_unknown_commands_and_goes_on() {
    let out = kscope(&["shell"], "frobnicate\nsim fly\nsim advance 2s\n");
    assert_eq!(out.status.code(), Some(1), "a failed line makes the exit status 1");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: unknown command \"frobnicate\""), "{stderr}");
    assert!(stderr.contains("error: unknown command \"fly\" for \"sim\""), "{stderr}");
    assert!(text(&out.stdout).contains("advanced 2s to 2s"), "the shell went on after errors");
}

#[test]
fn run_prints_the_trace_hash_and_is_deterministic() {
    let a = kscope(&["run", "--seed", "7", "--until", "30s"], "");
    let b = kscope(&["run", "--seed=7", "--until=30s"], "");
    assert!(a.status.success(), "{}", text(&a.stderr));
    let stdout = text(&a.stdout);
    assert!(stdout.contains("scenario default, seed 7, ran to 30s"), "{stdout}");
    let hash = stdout.lines().find_map(|l| l.strip_prefix("trace hash: ")).expect("hash line");
    assert_eq!(hash.len(), 16);
    assert_eq!(a.stdout, b.stdout);
    let c = kscope(&["run", "--seed", "8", "--until", "30s"], "");
    assert_ne!(text(&c.stdout), stdout);
}

#[test]
fn run_plays_a_scenario_script_and_writes_the_trace() {
    let path = scenario_file(
        "script.yaml",
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nmetadata: {name: cut}\nspec:\n  seed: 4\n  script:\n  - {at: 12s, run: sim partition kubelet/node-1}\n  - {at: 95s, run: sim heal}\n",
    );
    let trace = path.with_extension("jsonl");
    let out = kscope(&["run", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[12s] $ sim partition kubelet/node-1\npartitioned kubelet/node-1"), "{stdout}");
    assert!(stdout.contains("ran to 1m35s"), "--until defaults to the last script step: {stdout}");
    let lines = std::fs::read_to_string(&trace).unwrap();
    let count = stdout.split(" trace events").next().unwrap().lines().last().unwrap().parse::<usize>().unwrap();
    assert_eq!(lines.lines().count(), count, "every event is in the trace file");
    assert!(lines.lines().any(|l| l.contains(r#""fate":"Partitioned""#)));
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_status_1() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "/nonexistent/s.yaml"], "error: the path \"/nonexistent/s.yaml\" does not exist"),
        (
            &["run", "--until", "5x"],
            "error: invalid argument \"5x\" for \"--until\" flag: time: unknown unit \"x\" in duration \"5x\"",
        ),
        (&["run", "--seed", "-3"], "error: invalid argument \"-3\" for \"--seed\" flag"),
        (&["run", "--fast"], "error: unknown flag: --fast"),
        (&["launch"], "error: unknown command \"launch\" for \"kscope\""),
    ];
    for (args, want) in cases {
        let out = kscope(args, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).starts_with(want), "{args:?}: {}", text(&out.stderr));
    }
    let path = scenario_file(
        "broken.yaml",
        "apiVersion: kscope.dev/v1alpha1\nkind: Scenario\nspec:\n  nodes:\n  - name: a\n    cpu: lots\n",
    );
    let out = kscope(&["run", path.to_str().unwrap()], "");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {}:6:5: spec.nodes[0].cpu: quantities must match", path.display())),
        "{stderr}"
    );
    let out = kscope(&["shell", path.to_str().unwrap()], "sim status\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn campaign_replays_a_seed_and_reports_it_safe() {
    let a = kscope(&["campaign", "etcd", "--seed", "11"], "");
    assert!(a.status.success(), "{}", text(&a.stderr));
    let stdout = text(&a.stdout);
    assert!(stdout.starts_with("seed 11: "), "{stdout}");
    assert!(stdout.ends_with("safe and linearizable\n"), "{stdout}");
    assert_eq!(a.stdout, kscope(&["campaign", "etcd", "--seed", "11"], "").stdout, "replays exactly");
    let bad = kscope(&["campaign", "zookeeper"], "");
    assert_eq!(text(&bad.stderr), "error: unknown campaign \"zookeeper\": the campaigns are: etcd\n");
}

#[test]
fn shell_kubectl_reads_manifests_from_disk_and_from_heredocs() {
    let path = scenario_file(
        "web-configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-disk\ndata:\n  a: \"1\"\n",
    );
    let input = format!(
        "sim advance 3s\nkubectl apply -f {}\ncat <<EOF | kubectl apply -f -\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\nEOF\nkubectl get cm -o name\nkubectl apply -f /nonexistent/x.yaml\n",
        path.display()
    );
    let out = kscope(&["shell"], &input);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("configmap/from-disk created\nconfigmap/typed created\n"), "{stdout}");
    // kube-root-ca.crt is the root CA publisher's, in every namespace.
    assert!(stdout.contains("configmap/from-disk\nconfigmap/kube-root-ca.crt\nconfigmap/typed\n"), "{stdout}");
    assert_eq!(text(&out.stderr), "error: the path \"/nonexistent/x.yaml\" does not exist\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bench_cluster_runs_every_pod_and_prints_a_stable_trace_hash() {
    let args = ["bench", "cluster", "--nodes", "20", "--pods", "100", "--deployments", "2"];
    let a = kscope(&args, "");
    assert!(a.status.success(), "{}", text(&a.stderr));
    let stdout = text(&a.stdout);
    for line in [
        "20 nodes, 100 pods, 2 deployments",
        "wall time, apply to all pods Running",
        "simulated time, apply to all Running",
        "peak memory (VmHWM)",
        "trace hash",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    let hash = |out: &str| out.lines().find(|l| l.starts_with("trace hash")).map(str::to_string);
    let b = kscope(&args, "");
    assert_eq!(hash(&stdout), hash(&text(&b.stdout)), "same benchmark, same trace");

    let bad = kscope(&["bench", "cluster", "--nodes", "x"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("invalid argument \"x\" for \"--nodes\" flag"), "{}", text(&bad.stderr));
}
