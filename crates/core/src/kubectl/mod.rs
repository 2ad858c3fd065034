//! `kubectl` in the shared command layer: flags parsed like cobra/pflag,
//! manifests read from the console (`kubectl apply -f - <<EOF`) or from files
//! the front end put in the cluster, requests sent over the simulated network
//! to kube-apiserver, and output as kubectl 1.32 prints it (success lines,
//! `Error from server (Reason): ...`, tables).
//!
//! Differences on purpose: kubectl resolves resource names from the static
//! table of served resources instead of discovery requests, and prints no
//! usage text after an error.

pub mod describe;
pub mod printers;
mod run;

pub(crate) use run::KubeWatch;
pub use run::{server_error_text, three_way_patch, with_last_applied, LAST_APPLIED, SERVER};

use std::collections::BTreeMap;

/// How a flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    Bool,
    Value,
    /// May repeat (`-f a -f b`, `--image a`).
    Multi,
}

/// (long name, shorthand, how it takes a value).
type FlagSpec = (&'static str, Option<char>, Arg);

const GLOBAL: &[FlagSpec] = &[
    ("namespace", Some('n'), Arg::Value),
    ("as", None, Arg::Value),
    ("as-group", None, Arg::Multi),
    ("request-timeout", None, Arg::Value),
    ("v", Some('v'), Arg::Value),
];

fn command_flags(verb: &str) -> &'static [FlagSpec] {
    use Arg::*;
    match verb {
        "get" => &[
            ("output", Some('o'), Value),
            ("selector", Some('l'), Value),
            ("field-selector", None, Value),
            ("all-namespaces", Some('A'), Bool),
            ("show-labels", None, Bool),
            ("watch", Some('w'), Bool),
            ("no-headers", None, Bool),
            ("sort-by", None, Value),
            ("filename", Some('f'), Multi),
            ("ignore-not-found", None, Bool),
            ("chunk-size", None, Value),
        ],
        "describe" => {
            &[("selector", Some('l'), Value), ("all-namespaces", Some('A'), Bool), ("filename", Some('f'), Multi)]
        }
        "apply" => &[
            ("filename", Some('f'), Multi),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
            ("validate", None, Value),
            ("server-side", None, Bool),
            ("force-conflicts", None, Bool),
            ("field-manager", None, Value),
            ("recursive", Some('R'), Bool),
        ],
        "create" => &[
            ("filename", Some('f'), Multi),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
            ("validate", None, Value),
            ("image", None, Multi),
            ("replicas", Some('r'), Value),
            ("port", None, Value),
            ("tcp", None, Multi),
            ("from-literal", None, Multi),
            ("verb", None, Multi),
            ("resource", None, Multi),
            ("role", None, Value),
            ("clusterrole", None, Value),
            ("user", None, Multi),
            ("group", None, Multi),
            ("serviceaccount", None, Multi),
            ("type", None, Value),
        ],
        "delete" => &[
            ("filename", Some('f'), Multi),
            ("all", None, Bool),
            ("all-namespaces", Some('A'), Bool),
            ("selector", Some('l'), Value),
            ("grace-period", None, Value),
            ("cascade", None, Value),
            ("force", None, Bool),
            ("now", None, Bool),
            ("wait", None, Value),
            ("ignore-not-found", None, Bool),
            ("output", Some('o'), Value),
            ("dry-run", None, Value),
        ],
        "scale" => &[
            ("replicas", None, Value),
            ("current-replicas", None, Value),
            ("filename", Some('f'), Multi),
            ("selector", Some('l'), Value),
            ("all", None, Bool),
        ],
        "label" | "annotate" => &[
            ("overwrite", None, Bool),
            ("all", None, Bool),
            ("selector", Some('l'), Value),
            ("filename", Some('f'), Multi),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
        ],
        "cordon" | "uncordon" => &[("selector", Some('l'), Value), ("dry-run", None, Value)],
        "drain" => &[
            ("selector", Some('l'), Value),
            ("ignore-daemonsets", None, Bool),
            ("delete-emptydir-data", None, Bool),
            ("force", None, Bool),
            ("grace-period", None, Value),
            ("timeout", None, Value),
            ("disable-eviction", None, Bool),
            ("dry-run", None, Value),
        ],
        "taint" => &[("overwrite", None, Bool), ("all", None, Bool), ("selector", Some('l'), Value)],
        "set" => &[("all", None, Bool), ("selector", Some('l'), Value), ("dry-run", None, Value)],
        "rollout" => &[
            ("revision", None, Value),
            ("watch", Some('w'), Value),
            ("timeout", None, Value),
            ("to-revision", None, Value),
        ],
        "run" => &[
            ("image", None, Value),
            ("port", None, Value),
            ("labels", Some('l'), Value),
            ("env", None, Multi),
            ("restart", None, Value),
            ("command", None, Bool),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
            ("expose", None, Bool),
        ],
        "expose" => &[
            ("port", None, Value),
            ("target-port", None, Value),
            ("type", None, Value),
            ("name", None, Value),
            ("protocol", None, Value),
            ("selector", None, Value),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
        ],
        "logs" => &[
            ("container", Some('c'), Value),
            ("follow", Some('f'), Bool),
            ("previous", Some('p'), Bool),
            ("tail", None, Value),
            ("timestamps", None, Bool),
        ],
        "auth" => &[("all-namespaces", Some('A'), Bool), ("subresource", None, Value), ("list", None, Bool)],
        "api-resources" => &[
            ("namespaced", None, Value),
            ("api-group", None, Value),
            ("output", Some('o'), Value),
            ("no-headers", None, Bool),
            ("verbs", None, Multi),
        ],
        "version" => &[("client", None, Bool), ("output", Some('o'), Value)],
        "replace" => &[
            ("filename", Some('f'), Multi),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
            ("validate", None, Value),
            ("force", None, Bool),
        ],
        "patch" => &[
            ("patch", Some('p'), Value),
            ("type", None, Value),
            ("dry-run", None, Value),
            ("output", Some('o'), Value),
            ("subresource", None, Value),
        ],
        _ => &[],
    }
}

/// The verbs kscope's kubectl knows.
pub const VERBS: &[&str] = &[
    "get",
    "describe",
    "apply",
    "create",
    "delete",
    "patch",
    "replace",
    "scale",
    "label",
    "annotate",
    "cordon",
    "uncordon",
    "drain",
    "taint",
    "set",
    "rollout",
    "run",
    "expose",
    "logs",
    "auth",
    "api-resources",
    "version",
    "cluster-info",
];

/// A parsed kubectl command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kubectl {
    /// The verb (`get`).
    pub verb: String,
    /// Positional arguments.
    pub args: Vec<String>,
    /// Flags by long name; booleans hold `"true"`/`"false"`.
    pub flags: BTreeMap<String, Vec<String>>,
    /// What `-f -` reads: the heredoc typed after the command.
    pub stdin: Option<String>,
}

impl Kubectl {
    /// Parses the words after `kubectl`. Errors are kubectl's text without the
    /// `error: ` prefix.
    pub fn parse(words: &[String]) -> Result<Kubectl, String> {
        let mut cmd = Kubectl::default();
        let mut i = 0;
        // Global flags may come before the verb.
        let mut pending: Vec<&String> = Vec::new();
        while i < words.len() && words[i].starts_with('-') && cmd.verb.is_empty() {
            pending.push(&words[i]);
            i += 1;
            let w = pending.last().expect("pushed");
            let takes_value = !w.contains('=')
                && GLOBAL.iter().any(|(long, short, arg)| {
                    *arg != Arg::Bool
                        && (w.as_str() == format!("--{long}") || short.is_some_and(|s| w.as_str() == format!("-{s}")))
                });
            if takes_value && i < words.len() {
                pending.push(&words[i]);
                i += 1;
            }
        }
        let Some(verb) = words.get(i) else {
            return Err("kubectl controls the Kubernetes cluster manager.\n\n Find more information at: https://kubernetes.io/docs/reference/kubectl/\nRun 'kubectl --help' for usage.".into());
        };
        if !VERBS.contains(&verb.as_str()) {
            return Err(format!("unknown command {verb:?} for \"kubectl\""));
        }
        cmd.verb = verb.clone();
        let rest: Vec<String> = pending.into_iter().cloned().chain(words[i + 1..].iter().cloned()).collect();
        let specs: Vec<FlagSpec> = GLOBAL.iter().chain(command_flags(&cmd.verb)).copied().collect();
        let usage = format!("\nSee 'kubectl {} --help' for usage.", cmd.verb);
        let mut j = 0;
        let mut only_positional = false;
        while j < rest.len() {
            let w = &rest[j];
            j += 1;
            if only_positional || w == "-" || !w.starts_with('-') {
                cmd.args.push(w.clone());
                continue;
            }
            if w == "--" {
                only_positional = true;
                continue;
            }
            let (spec, inline, label) = if let Some(long) = w.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let spec = specs
                    .iter()
                    .find(|(l, _, _)| *l == name)
                    .ok_or_else(|| format!("unknown flag: --{name}{usage}"))?;
                (spec, value, format!("--{name}"))
            } else {
                let mut chars = w[1..].chars();
                let c = chars.next().unwrap_or('-');
                let spec = specs
                    .iter()
                    .find(|(_, s, _)| *s == Some(c))
                    .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {w}{usage}"))?;
                let tail: String = chars.collect();
                let tail = tail.strip_prefix('=').map(str::to_string).unwrap_or(tail);
                (spec, (!tail.is_empty()).then_some(tail), format!("'{c}' in {w}"))
            };
            let (long, _, arg) = *spec;
            let value = match (arg, inline) {
                (Arg::Bool, Some(v)) => match v.as_str() {
                    "true" | "false" => v,
                    _ => return Err(format!("invalid argument {v:?} for \"{label}\" flag: strconv.ParseBool: parsing {v:?}: invalid syntax{usage}")),
                },
                (Arg::Bool, None) => "true".to_string(),
                (_, Some(v)) => v,
                (_, None) => {
                    let Some(v) = rest.get(j) else {
                        return Err(format!("flag needs an argument: {label}{usage}"));
                    };
                    j += 1;
                    v.clone()
                }
            };
            let values = cmd.flags.entry(long.to_string()).or_default();
            if arg == Arg::Multi {
                values.push(value);
            } else {
                *values = vec![value];
            }
        }
        Ok(cmd)
    }

    /// A flag's (last) value.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of a repeatable flag (comma-separated values split, like pflag's string slices).
    pub fn flag_list(&self, name: &str) -> Vec<String> {
        self.flags.get(name).into_iter().flatten().flat_map(|v| v.split(',').map(str::to_string)).collect()
    }

    /// Whether a boolean flag is set.
    pub fn is_set(&self, name: &str) -> bool {
        self.flag(name) == Some("true")
    }

    /// Whether the command reads standard input (`-f -`).
    pub fn reads_stdin(&self) -> bool {
        self.flags.get("filename").is_some_and(|f| f.iter().any(|f| f == "-"))
    }
}

/// A heredoc on a console line: `kubectl apply -f - <<EOF` or
/// `cat <<EOF | kubectl apply -f -`. Returns the command words and the
/// terminator.
pub fn split_heredoc(words: &[String]) -> Option<(Vec<String>, String)> {
    let position = words.iter().position(|w| w.starts_with("<<"))?;
    let marker = &words[position];
    let (terminator, used) = if marker.len() > 2 {
        (marker[2..].trim_start_matches('-').to_string(), 1)
    } else {
        (words.get(position + 1)?.clone(), 2)
    };
    if terminator.is_empty() {
        return None;
    }
    let mut command: Vec<String> = Vec::new();
    if words.first().map(String::as_str) == Some("cat") && position == 1 {
        // cat <<EOF | kubectl ...
        let pipe = position + used;
        if words.get(pipe).map(String::as_str) != Some("|") {
            return None;
        }
        command.extend(words[pipe + 1..].iter().cloned());
    } else {
        command.extend(words[..position].iter().cloned());
        command.extend(words[position + used..].iter().cloned());
    }
    Some((command, terminator))
}

/// One manifest document with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The object.
    pub object: serde_json::Value,
    /// The file name as kubectl names it in errors (`STDIN` for `-`).
    pub source: String,
}

/// Splits YAML (or JSON) text into its documents, skipping empty ones and
/// unpacking `List` kinds. Errors read like kubectl's.
pub fn read_manifests(text: &str, source: &str) -> Result<Vec<Manifest>, String> {
    use serde::Deserialize;
    const MAX_BYTES: usize = 3 * 1024 * 1024;
    if text.len() > MAX_BYTES {
        // The apiserver's limit on request bodies (3 MiB, etcd's max request is 1.5 MiB).
        return Err(format!("error reading {source}: the manifest is larger than {MAX_BYTES} bytes"));
    }
    const MAX_BRACKETS: usize = 200;
    if crate::apimachinery::bracket_depth(text) > MAX_BRACKETS {
        return Err(format!(
            "error parsing {source}: error converting YAML to JSON: yaml: exceeded max depth of {MAX_BRACKETS}"
        ));
    }
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_yaml_ng::Value::deserialize(document).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            format!("error parsing {source}: error converting YAML to JSON: yaml: line {line}: {message}")
        })?;
        if value.is_null() {
            continue;
        }
        let json: serde_json::Value = serde_json::to_value(&value)
            .map_err(|e| format!("error parsing {source}: error converting YAML to JSON: {e}"))?;
        if !json.is_object() {
            return Err(format!(
                "error parsing {source}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                match json {
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Number(_) => "number",
                    _ => "bool",
                }
            ));
        }
        if json.get("kind").and_then(|k| k.as_str()).is_some_and(|k| k.ends_with("List")) {
            for item in json.get("items").and_then(|i| i.as_array()).into_iter().flatten() {
                out.push(Manifest { object: item.clone(), source: source.to_string() });
            }
            continue;
        }
        out.push(Manifest { object: json, source: source.to_string() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        crate::command::split_words(line).unwrap()
    }

    #[test]
    fn flags_parse_like_pflag() {
        let k = Kubectl::parse(&words("get pods -n kube-system -owide --show-labels -l app=web x")).unwrap();
        assert_eq!(k.verb, "get");
        assert_eq!(k.args, ["pods", "x"]);
        assert_eq!(k.flag("namespace"), Some("kube-system"));
        assert_eq!(k.flag("output"), Some("wide"));
        assert!(k.is_set("show-labels"));
        let k = Kubectl::parse(&words("-n prod get po --output=yaml")).unwrap();
        assert_eq!((k.flag("namespace"), k.flag("output")), (Some("prod"), Some("yaml")));
        assert_eq!(
            Kubectl::parse(&words("get pods --foo")).unwrap_err(),
            "unknown flag: --foo\nSee 'kubectl get --help' for usage."
        );
        assert_eq!(
            Kubectl::parse(&words("get pods -n")).unwrap_err(),
            "flag needs an argument: 'n' in -n\nSee 'kubectl get --help' for usage."
        );
        assert_eq!(Kubectl::parse(&words("frobnicate")).unwrap_err(), "unknown command \"frobnicate\" for \"kubectl\"");
        let k = Kubectl::parse(&words("apply -f a.yaml -f - --dry-run=server")).unwrap();
        assert_eq!(k.flags["filename"], ["a.yaml", "-"]);
        assert!(k.reads_stdin());
    }

    #[test]
    fn heredocs_and_manifests() {
        let (cmd, end) = split_heredoc(&words("kubectl apply -f - <<EOF")).unwrap();
        assert_eq!((cmd, end.as_str()), (words("kubectl apply -f -"), "EOF"));
        let (cmd, end) = split_heredoc(&words("cat <<'EOF' | kubectl apply -f -")).unwrap();
        assert_eq!((cmd, end.as_str()), (words("kubectl apply -f -"), "EOF"));
        assert!(split_heredoc(&words("kubectl get pods")).is_none());
        let docs = read_manifests("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n", "x.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].object["metadata"]["name"], "b");
        let e = read_manifests("a: b\n  c: d\n", "bad.yaml").unwrap_err();
        assert!(e.starts_with("error parsing bad.yaml: error converting YAML to JSON: yaml: line 2:"), "{e}");
        assert!(read_manifests("- a\n", "x.yaml").unwrap_err().contains("cannot unmarshal array"));
    }
}
