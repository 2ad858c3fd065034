//! kscope's kubectl output against the real kubectl 1.32.5's for the same
//! objects. The golden files were made by pointing the real kubectl at a fake
//! apiserver serving the objects kscope stored after `golden/create.txt`
//! (documentation manifests), so every byte of `describe`, `-o yaml` and
//! `-o json` is the real client's.

use kscope_core::{Cluster, Scenario};

fn session() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    for line in include_str!("golden/create.txt").lines() {
        let out = c.exec(line);
        assert!(out.ok, "{line}: {}", out.text);
    }
    c
}

fn check(c: &mut Cluster, command: &str, golden: &str) {
    let out = c.exec(command);
    assert!(out.ok, "{command}: {}", out.text);
    if out.text != golden {
        let diff: Vec<String> = golden
            .lines()
            .zip(out.text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  kubectl: {a:?}\n  kscope:  {b:?}", i + 1))
            .take(5)
            .collect();
        panic!(
            "{command} differs from kubectl 1.32:\n{}\n(lines: kubectl {}, kscope {})",
            diff.join("\n"),
            golden.lines().count(),
            out.text.lines().count()
        );
    }
}

const OBJECTS: &[(&str, &str)] = &[
    ("deployment", "deployment nginx-deployment"),
    ("service", "service my-service"),
    ("pod", "pod liveness-http"),
    ("namespace", "namespace prod"),
    ("node", "node node-1"),
];

fn golden(kind: &str, name: &str) -> &'static str {
    match (kind, name) {
        ("describe", "deployment") => include_str!("golden/describe-deployment.txt"),
        ("describe", "service") => include_str!("golden/describe-service.txt"),
        ("describe", "pod") => include_str!("golden/describe-pod.txt"),
        ("describe", "namespace") => include_str!("golden/describe-namespace.txt"),
        ("describe", "node") => include_str!("golden/describe-node.txt"),
        ("yaml", "deployment") => include_str!("golden/yaml-deployment.txt"),
        ("yaml", "service") => include_str!("golden/yaml-service.txt"),
        ("yaml", "pod") => include_str!("golden/yaml-pod.txt"),
        ("yaml", "namespace") => include_str!("golden/yaml-namespace.txt"),
        ("yaml", "node") => include_str!("golden/yaml-node.txt"),
        ("json", "deployment") => include_str!("golden/json-deployment.txt"),
        ("json", "service") => include_str!("golden/json-service.txt"),
        ("json", "pod") => include_str!("golden/json-pod.txt"),
        ("json", "namespace") => include_str!("golden/json-namespace.txt"),
        ("json", "node") => include_str!("golden/json-node.txt"),
        _ => unreachable!(),
    }
}

#[test]
fn describe_matches_kubectl() {
    let mut c = session();
    for (name, object) in OBJECTS {
        check(&mut c, &format!("kubectl describe {object}"), golden("describe", name));
    }
}

#[test]
fn get_yaml_and_json_match_kubectl() {
    let mut c = session();
    for (name, object) in OBJECTS {
        check(&mut c, &format!("kubectl get {object} -o yaml"), golden("yaml", name));
        check(&mut c, &format!("kubectl get {object} -o json"), golden("json", name));
    }
}
