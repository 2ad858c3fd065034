//! kscope's kubectl output against the real kubectl 1.32.5's for the same
//! objects. The golden files were made by pointing the real kubectl at a fake
//! apiserver serving the objects kscope stored after `golden/create.txt`
//! (documentation manifests), so every byte of `describe`, `-o yaml` and
//! `-o json` is the real client's. What the seeded RNG picked (uids, cluster
//! IPs) and resourceVersions are blanked on both sides before comparing.

use kscope_core::{Cluster, Scenario};

fn session() -> Cluster {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    for line in include_str!("golden/create.txt").lines() {
        let out = c.exec(line);
        assert!(out.ok, "{line}: {}", out.text);
    }
    c
}

/// Blanks what the seeded RNG chooses and so moves whenever the simulation's
/// use of it changes: uids, allocated cluster IPs and resourceVersions.
fn normalize(text: &str) -> String {
    let is_hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words: Vec<String> = Vec::new();
        for word in line.split(' ') {
            let bare = word.trim_matches(|c: char| "\",:".contains(c));
            let parts: Vec<&str> = bare.split('-').collect();
            let uid = parts.len() == 5 && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && is_hex(p));
            let octets: Vec<&str> = bare.split('.').collect();
            let ip = octets.len() == 4
                && octets[0] == "10"
                && octets.iter().all(|o| o.parse::<u8>().is_ok())
                && bare != "10.96.0.1";
            words.push(if uid || ip { word.replace(bare, "<random>") } else { word.to_string() });
        }
        // Ages depend on when each side ran (the real kubectl ran against
        // objects stamped in 2025): a word that is a duration (`30s`, `693d`,
        // `2m30s`) is blanked, and the padding of its line with it.
        let is_age = |w: &str| {
            // `703d)` in `(x2 over 703d)`.
            let w = w.strip_suffix(')').unwrap_or(w);
            let mut digits = false;
            let mut ok = !w.is_empty();
            for c in w.chars() {
                if c.is_ascii_digit() {
                    digits = true;
                } else if "smhdy".contains(c) && digits {
                    digits = false;
                } else {
                    ok = false;
                }
            }
            ok && !digits
        };
        // A table's header and rule lines are padded to its age column too.
        let header = words.iter().any(|w| w == "Age" || w == "AGE")
            || words.iter().all(|w| w.is_empty() || w.chars().all(|c| c == '-')) && line.contains("--");
        let aged = header || words.iter().any(|w| is_age(w));
        let line = if aged {
            words
                .iter()
                .filter(|w| !w.is_empty())
                .map(|w| if is_age(w) { "<age>" } else { w.as_str() })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            words.join(" ")
        };
        let line = match line.find("resourceVersion") {
            Some(i) => format!("{}resourceVersion <n>", &line[..i]),
            None => line,
        };
        out.push(line);
    }
    out.join("\n")
}

fn check(c: &mut Cluster, command: &str, golden: &str) {
    let out = c.exec(command);
    assert!(out.ok, "{command}: {}", out.text);
    let (golden, text) = (normalize(golden), normalize(&out.text));
    let golden = golden.as_str();
    let out = kscope_core::CommandOutput { text, ok: true };
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
    ("daemonset", "daemonset fluentd-elasticsearch -n kube-system"),
];

fn golden(kind: &str, name: &str) -> &'static str {
    match (kind, name) {
        ("describe", "deployment") => include_str!("golden/describe-deployment.txt"),
        ("describe", "service") => include_str!("golden/describe-service.txt"),
        ("describe", "pod") => include_str!("golden/describe-pod.txt"),
        ("describe", "namespace") => include_str!("golden/describe-namespace.txt"),
        ("describe", "node") => include_str!("golden/describe-node.txt"),
        ("describe", "daemonset") => include_str!("golden/describe-daemonset.txt"),
        ("yaml", "deployment") => include_str!("golden/yaml-deployment.txt"),
        ("yaml", "service") => include_str!("golden/yaml-service.txt"),
        ("yaml", "pod") => include_str!("golden/yaml-pod.txt"),
        ("yaml", "namespace") => include_str!("golden/yaml-namespace.txt"),
        ("yaml", "node") => include_str!("golden/yaml-node.txt"),
        ("yaml", "daemonset") => include_str!("golden/yaml-daemonset.txt"),
        ("json", "deployment") => include_str!("golden/json-deployment.txt"),
        ("json", "service") => include_str!("golden/json-service.txt"),
        ("json", "pod") => include_str!("golden/json-pod.txt"),
        ("json", "namespace") => include_str!("golden/json-namespace.txt"),
        ("json", "node") => include_str!("golden/json-node.txt"),
        ("json", "daemonset") => include_str!("golden/json-daemonset.txt"),
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
