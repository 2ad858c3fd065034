//! The command layer shared by `kscope shell`, scenario scripts and the browser
//! console: one parser, one set of error messages.
//!
//! Today it knows the `sim` commands that drive the simulation itself; `kubectl`
//! and `etcdctl` join it with their issues. Errors follow cobra's wording
//! (`unknown command "x" for "sim"`, `unknown flag: --x`), which is what users of
//! kubectl and etcdctl are used to.

use crate::component_id::ComponentId;
use crate::duration::Duration;
use crate::etcdctl::Etcdctl;
use crate::network::parse_probability;

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`: list the commands.
    Help,
    /// `sim advance DURATION`: run simulated time forward.
    Advance(Duration),
    /// `sim status`: time, seed, trace hash, network and components.
    Status,
    /// `sim reset [--seed N]`: start the scenario again, optionally with another seed.
    Reset {
        /// Seed to use instead of the scenario's.
        seed: Option<u64>,
    },
    /// `sim partition GROUP [GROUP...]`: cut the links between groups.
    Partition(Vec<Vec<ComponentId>>),
    /// `sim heal`: restore every link.
    Heal,
    /// `sim kill COMPONENT`: stop a component.
    Kill(ComponentId),
    /// `sim start COMPONENT`: start a stopped component.
    Start(ComponentId),
    /// `sim restart COMPONENT`: stop a component (if running) and start it again.
    Restart(ComponentId),
    /// `sim network [--latency MIN..MAX] [--loss P] [--duplicate P] [--reorder P]`.
    Network(NetworkChange),
    /// `etcdctl ...`: a request to the etcd members.
    Etcdctl(Box<Etcdctl>),
    /// `kubectl ...`: requests to kube-apiserver.
    Kubectl(Box<crate::kubectl::Kubectl>),
    /// `sim curl [-n NS] POD|NODE URL`: an HTTP request from a pod or node, traced.
    Curl {
        /// The pod's namespace (default `default`).
        namespace: String,
        /// The pod or node it starts from.
        from: String,
        /// `http://host[:port][/path]`.
        url: String,
    },
    /// `sim nslookup [-n NS] POD NAME [-type=srv]`: a DNS lookup from a pod.
    Nslookup {
        /// The pod's namespace (default `default`).
        namespace: String,
        /// The pod.
        from: String,
        /// The name looked up.
        name: String,
        /// SRV instead of A.
        srv: bool,
    },
    /// `sim explain pod/NAME [-n NAMESPACE]`: the pod's last scheduling attempt.
    Explain {
        /// Namespace (default `default`).
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// `sim flow pod/NAME [-n NAMESPACE]`: the steps the pod took from create to running.
    Flow {
        /// Namespace (default `default`).
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// `sim add node NAME [--cpu Q] [--memory Q] [--labels k=v,...]`: a new
    /// worker joins (its kubelet registers the Node, its DaemonSet pods follow).
    AddNode(crate::scenario::NodeSpec),
    /// `sim remove node NAME`: drain the node, shut it down and delete its Node.
    RemoveNode(String),
    /// `sim interrupt`: what Ctrl-C does in a terminal: stop streaming
    /// commands (`etcdctl watch`) and abandon a txn being typed.
    Interrupt,
}

/// Changes requested by `sim network`; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkChange {
    /// New latency range in ms.
    pub latency_ms: Option<(u64, u64)>,
    /// New loss probability (ppm).
    pub loss_ppm: Option<u32>,
    /// New duplication probability (ppm).
    pub duplicate_ppm: Option<u32>,
    /// New reorder probability (ppm).
    pub reorder_ppm: Option<u32>,
}

impl NetworkChange {
    /// True when no flag was given (show the network instead of changing it).
    pub fn is_empty(&self) -> bool {
        *self == NetworkChange::default()
    }
}

/// Help for every command, as `help` prints it.
pub const HELP: &str = "\
Commands:
  sim advance DURATION        run simulated time forward (e.g. 5s, 1m30s, 250ms)
  sim status                  simulated time, seed, trace hash, network and components
  sim reset [--seed N]        start the scenario again (optionally with another seed)
  sim partition GROUP...      cut links between groups of components (a,b / c); one group is cut from all others
  sim heal                    restore every network link
  sim kill COMPONENT          stop a component (e.g. etcd-2, kubelet/node-1)
  sim start COMPONENT         start a stopped component
  sim restart COMPONENT       stop a component and start it again
  sim add node NAME [--cpu 4] [--memory 8Gi] [--labels k=v,...] [--taints k=v:Effect,...]
                              a new worker node joins: its kubelet registers the Node and its Lease
  sim remove node NAME        drain a worker (kubectl drain --ignore-daemonsets --force), shut it down, delete its Node
  sim explain pod/NAME [-n NS]  why kube-scheduler put a pod where it did (or left it Pending)
  sim flow pod/NAME [-n NS]   the 11 steps a pod took from create to a running container, with times
  sim curl [-n NS] POD|NODE URL   an HTTP request from a pod (or node), traced through DNS, kube-proxy and the backend
  sim nslookup [-n NS] POD NAME [-type=srv]   a DNS lookup from a pod, as bind's nslookup prints it
  sim drop P                  lose a share P of messages (0.2 or 20%)
  sim delay MIN..MAX          set one-way network latency (e.g. 50ms..200ms)
  sim network [--latency MIN..MAX] [--loss P] [--duplicate P] [--reorder P]
                              show or change network behaviour (P: 0.05 or 5%)
  kubectl get|describe|apply|create|delete|scale|label|annotate|cordon|uncordon|drain|taint|set image|
          rollout|run|expose|auth can-i|api-resources|version|cluster-info
                              talk to kube-apiserver as kubectl 1.32 does (-n, -A, -o wide|yaml|json|name, -l, --as);
                              `kubectl apply -f - <<EOF` reads a manifest from the following lines up to EOF
  etcdctl put|get|del|txn|watch|compaction|lease ...|member list|endpoint status|endpoint health
                              talk to the etcd members as etcdctl v3.5 does (--endpoints etcd-2, -w table|json|fields);
                              txn reads compares, success and failure requests from the next lines, each ended by
                              a blank line; watch streams in the background
  sim interrupt               what Ctrl-C does: stop watches, abandon a txn being typed
  help                        this list
Lines starting with # are comments.";

/// Splits a line into words like a POSIX shell: whitespace separates words,
/// single quotes keep everything literally, double quotes allow `\"` and `\\`,
/// and a backslash outside quotes escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn component(name: &str) -> Result<ComponentId, String> {
    name.parse()
}

/// Takes `--flag VALUE` or `--flag=VALUE` flags out of `args`; the rest are positional.
fn parse_flags<'a>(
    args: &'a [String],
    known: &[&'static str],
) -> Result<(Vec<(&'static str, &'a str)>, Vec<&'a str>), String> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(name) = known.iter().find(|k| **k == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).map(String::as_str).ok_or_else(|| format!("flag needs an argument: --{name}"))?
                }
            };
            flags.push((*name, value));
        } else if arg.len() > 1 && arg.starts_with('-') && !arg[1..].starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("unknown shorthand flag: '{}' in {arg}", arg[1..].chars().next().unwrap_or('-')));
        } else {
            positional.push(arg);
        }
        i += 1;
    }
    Ok((flags, positional))
}

/// `sim curl [-n NS] FROM URL` and `sim nslookup [-n NS] FROM NAME [-type=srv]`.
fn parse_from_pod(sub: &str, args: &[String]) -> Result<Command, String> {
    let mut namespace = "default".to_string();
    let mut srv = false;
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if let Some(v) = arg.strip_prefix("--namespace=").or_else(|| arg.strip_prefix("-n=")) {
            namespace = v.to_string();
        } else if arg == "-n" || arg == "--namespace" {
            i += 1;
            namespace = args.get(i).ok_or_else(|| format!("flag needs an argument: {arg}"))?.clone();
        } else if sub == "nslookup" && arg.to_ascii_lowercase().starts_with("-type=") {
            srv = match arg[6..].to_ascii_lowercase().as_str() {
                "srv" => true,
                "a" => false,
                other => return Err(format!("sim nslookup answers -type=a or -type=srv, not {other:?}")),
            };
        } else if arg.starts_with('-') {
            return Err(format!("unknown flag: {arg}"));
        } else {
            positional.push(arg.to_string());
        }
        i += 1;
    }
    exact_args(sub, &positional.iter().map(String::as_str).collect::<Vec<_>>(), 2)?;
    let from = positional[0].strip_prefix("pod/").unwrap_or(&positional[0]).to_string();
    Ok(if sub == "curl" {
        Command::Curl { namespace, from, url: positional[1].clone() }
    } else {
        Command::Nslookup { namespace, from, name: positional[1].clone(), srv }
    })
}

/// `sim add node NAME [flags]` and `sim remove node NAME`.
fn parse_node_change(sub: &str, args: &[String]) -> Result<Command, String> {
    let known: &[&'static str] = if sub == "add" { &["cpu", "memory", "labels", "taints"] } else { &[] };
    let (flags, positional) = parse_flags(args, known)?;
    match positional.first() {
        Some(&"node" | &"nodes" | &"no") => {}
        Some(other) => {
            return Err(format!("unknown command {other:?} for \"sim {sub}\" (only nodes: sim {sub} node NAME)"))
        }
        None => return Err(format!("\"sim {sub}\" requires a resource and a name: sim {sub} node NAME")),
    }
    let name = match &positional[1..] {
        [name] => name.to_string(),
        [] => return Err(format!("\"sim {sub} node\" requires 1 argument: the node's name")),
        more => return Err(format!("\"sim {sub} node\" accepts 1 arg(s), received {}", more.len())),
    };
    if !crate::scenario::is_dns1123_subdomain(&name) {
        return Err(format!("invalid node name {name:?}: must be a lowercase RFC 1123 subdomain"));
    }
    if sub == "remove" {
        return Ok(Command::RemoveNode(name));
    }
    let mut spec = crate::scenario::NodeSpec::named(&name);
    for (flag, value) in flags {
        let bad = |e: String| format!("invalid argument {value:?} for \"--{flag}\" flag: {e}");
        match flag {
            "cpu" => spec.cpu = crate::quantity::Quantity::parse(value).map_err(bad)?,
            "memory" => spec.memory = crate::quantity::Quantity::parse(value).map_err(bad)?,
            "labels" => {
                for pair in value.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
                    spec.labels.insert(k.to_string(), v.to_string());
                }
            }
            "taints" => {
                for t in value.split(',').filter(|p| !p.is_empty()) {
                    let (kv, effect) =
                        t.rsplit_once(':').ok_or_else(|| bad(format!("{t:?} is not key[=value]:Effect")))?;
                    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                        return Err(bad(format!("unsupported taint effect {effect:?}")));
                    }
                    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
                    spec.taints.push(crate::scenario::TaintSpec {
                        key: key.to_string(),
                        value: value.to_string(),
                        effect: effect.to_string(),
                    });
                }
            }
            _ => unreachable!("flag list is checked by parse_flags"),
        }
    }
    Ok(Command::AddNode(spec))
}

/// `sim explain pod/NAME [-n NS]` (also `pods/NAME`, `po/NAME`, or `NAME`).
fn parse_explain(sub: &str, args: &[String]) -> Result<Command, String> {
    let mut namespace = "default".to_string();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if let Some(v) = arg.strip_prefix("--namespace=").or_else(|| arg.strip_prefix("-n=")) {
            namespace = v.to_string();
        } else if arg == "-n" || arg == "--namespace" {
            i += 1;
            namespace = args.get(i).ok_or_else(|| format!("flag needs an argument: {arg}"))?.clone();
        } else if arg.starts_with('-') {
            return Err(format!("unknown flag: {arg}"));
        } else {
            positional.push(arg);
        }
        i += 1;
    }
    exact_args(sub, &positional, 1)?;
    let target = positional[0];
    let name = match target.split_once('/') {
        Some(("pod" | "pods" | "po", name)) => name,
        Some((kind, _)) => {
            let verb = if sub == "flow" { "follows" } else { "explains" };
            return Err(format!("sim {sub} {verb} pods, not {kind:?}: use pod/NAME"));
        }
        None => target,
    };
    if name.is_empty() {
        return Err(format!("sim {sub} needs a pod name: sim {sub} pod/NAME"));
    }
    let name = name.to_string();
    Ok(if sub == "flow" { Command::Flow { namespace, name } } else { Command::Explain { namespace, name } })
}

fn exact_args(sub: &str, positional: &[&str], n: usize) -> Result<(), String> {
    if positional.len() != n {
        let what = if n == 1 { "arg" } else { "args" };
        return Err(format!("\"sim {sub}\" accepts {n} {what}, received {}", positional.len()));
    }
    Ok(())
}

/// Splits `sim partition` arguments into groups of names. Groups are separated
/// by `/` ("a,b / c") or, when no `/` separates them, by spaces ("a,b c"); names
/// within a group by commas. The `/` in `kubelet/<node>` is part of the name.
fn partition_groups(text: &str) -> Vec<Vec<String>> {
    let mut slash_groups: Vec<String> = vec![String::new()];
    let mut word = String::new();
    for c in text.chars() {
        let current = slash_groups.last_mut().expect("never empty");
        match c {
            '/' if word != "kubelet" => {
                current.push(' ');
                slash_groups.push(String::new());
                word.clear();
                continue;
            }
            ' ' | ',' => word.clear(),
            c => word.push(c),
        }
        current.push(c);
    }
    let names = |g: &str| g.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>();
    if slash_groups.len() > 1 {
        slash_groups.iter().map(|g| names(g)).collect()
    } else {
        text.split(' ').filter(|g| !g.is_empty()).map(names).collect()
    }
}

fn parse_latency(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once("..").unwrap_or((text, text));
    let min = Duration::parse(min)?.ms;
    let max = Duration::parse(max)?.ms;
    Ok((min, max))
}

impl Command {
    /// Parses one line. Blank lines and `#` comments give `None`.
    pub fn parse(line: &str) -> Result<Option<Command>, String> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(None);
        }
        let words = split_words(trimmed)?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(None);
        };
        match first.as_str() {
            "help" | "--help" | "-h" => Ok(Some(Command::Help)),
            "sim" => Self::parse_sim(rest).map(Some),
            "etcdctl" => Etcdctl::parse(rest).map(|e| Some(Command::Etcdctl(Box::new(e)))),
            "kubectl" | "k" => crate::kubectl::Kubectl::parse(rest).map(|k| Some(Command::Kubectl(Box::new(k)))),
            other => Err(format!("unknown command {other:?}\nRun 'help' for usage.")),
        }
    }

    fn parse_sim(args: &[String]) -> Result<Command, String> {
        let Some((sub, rest)) = args.split_first() else {
            return Ok(Command::Help);
        };
        let sub = sub.as_str();
        let known: &[&'static str] = match sub {
            "reset" => &["seed"],
            "network" => &["latency", "loss", "duplicate", "reorder"],
            _ => &[],
        };
        let (flags, positional) = match sub {
            "interrupt" => return Ok(Command::Interrupt),
            "explain" | "flow" => return parse_explain(sub, rest),
            "add" | "remove" => return parse_node_change(sub, rest),
            "curl" | "nslookup" => return parse_from_pod(sub, rest),
            "advance" | "status" | "reset" | "partition" | "heal" | "kill" | "start" | "restart" | "network"
            | "drop" | "delay" => parse_flags(rest, known)?,
            "help" | "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unknown command {other:?} for \"sim\"\nRun 'help' for usage.")),
        };
        match sub {
            "advance" => {
                exact_args(sub, &positional, 1)?;
                Ok(Command::Advance(Duration::parse(positional[0])?))
            }
            "status" => exact_args(sub, &positional, 0).map(|_| Command::Status),
            "heal" => exact_args(sub, &positional, 0).map(|_| Command::Heal),
            "kill" | "start" | "restart" => {
                exact_args(sub, &positional, 1)?;
                let id = component(positional[0])?;
                Ok(match sub {
                    "kill" => Command::Kill(id),
                    "start" => Command::Start(id),
                    _ => Command::Restart(id),
                })
            }
            "drop" => {
                exact_args(sub, &positional, 1)?;
                let loss = parse_probability(positional[0])?;
                Ok(Command::Network(NetworkChange { loss_ppm: Some(loss), ..Default::default() }))
            }
            "delay" => {
                exact_args(sub, &positional, 1)?;
                let latency = parse_latency(positional[0])?;
                Ok(Command::Network(NetworkChange { latency_ms: Some(latency), ..Default::default() }))
            }
            "reset" => {
                exact_args(sub, &positional, 0)?;
                let seed = match flags.last() {
                    Some((_, v)) => Some(v.parse::<u64>().map_err(|_| {
                        format!(
                            "invalid argument {v:?} for \"--seed\" flag: must be a whole number from 0 to {}",
                            u64::MAX
                        )
                    })?),
                    None => None,
                };
                Ok(Command::Reset { seed })
            }
            "partition" => {
                if positional.is_empty() {
                    return Err(
                        "\"sim partition\" requires at least 1 arg: a group of components like etcd-1 or etcd-1,etcd-2"
                            .into(),
                    );
                }
                let joined = positional.join(" ");
                let groups = partition_groups(&joined)
                    .into_iter()
                    .map(|g| g.iter().map(|name| component(name)).collect::<Result<Vec<_>, _>>())
                    .collect::<Result<Vec<_>, _>>()?;
                if groups.iter().any(Vec::is_empty) {
                    return Err(format!("empty group in {joined:?}"));
                }
                let mut seen = std::collections::BTreeSet::new();
                for id in groups.iter().flatten() {
                    if !seen.insert(id) {
                        return Err(format!("component {id} is named in more than one group"));
                    }
                }
                Ok(Command::Partition(groups))
            }
            "network" => {
                exact_args(sub, &positional, 0)?;
                let mut change = NetworkChange::default();
                for (name, value) in flags {
                    let bad = |e: String| format!("invalid argument {value:?} for \"--{name}\" flag: {e}");
                    match name {
                        "latency" => change.latency_ms = Some(parse_latency(value).map_err(bad)?),
                        "loss" => change.loss_ppm = Some(parse_probability(value).map_err(bad)?),
                        "duplicate" => change.duplicate_ppm = Some(parse_probability(value).map_err(bad)?),
                        "reorder" => change.reorder_ppm = Some(parse_probability(value).map_err(bad)?),
                        _ => unreachable!("flag list is checked by parse_flags"),
                    }
                }
                Ok(Command::Network(change))
            }
            _ => unreachable!("sub-command list is checked above"),
        }
    }

    /// Whether a scenario script may use this command. Scripts run inside the
    /// advance of time, so they may not advance or reset it themselves.
    pub fn allowed_in_script(&self) -> bool {
        let reads_more_lines = matches!(self, Command::Etcdctl(e) if e.command == crate::etcdctl::EtcdctlCommand::Txn);
        !matches!(self, Command::Advance(_) | Command::Reset { .. } | Command::Interrupt) && !reads_more_lines
    }

    /// Whether running the command changes the simulation (and so is recorded in the trace).
    pub fn changes_simulation(&self) -> bool {
        matches!(
            self,
            Command::Partition(_)
                | Command::Heal
                | Command::Kill(_)
                | Command::Start(_)
                | Command::Restart(_)
                | Command::AddNode(_)
                | Command::RemoveNode(_)
                | Command::Etcdctl(_)
                | Command::Kubectl(_)
        ) || matches!(self, Command::Network(change) if !change.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Command>, String> {
        Command::parse(line)
    }

    #[test]
    fn splits_words_like_a_shell() {
        assert_eq!(split_words(r#"a  'b c' "d \"e\"" f\ g"#).unwrap(), ["a", "b c", "d \"e\"", "f g"]);
        assert_eq!(split_words("''").unwrap(), [""]);
        assert!(split_words("'open").is_err());
        assert!(split_words("\"open").is_err());
        assert!(split_words("x\\").is_err());
    }

    #[test]
    fn parses_sim_commands() {
        assert_eq!(parse("sim advance 5s"), Ok(Some(Command::Advance(Duration::from_secs(5)))));
        assert_eq!(parse("  sim status  "), Ok(Some(Command::Status)));
        assert_eq!(parse("sim reset --seed 7"), Ok(Some(Command::Reset { seed: Some(7) })));
        assert_eq!(parse("sim reset --seed=8"), Ok(Some(Command::Reset { seed: Some(8) })));
        assert_eq!(parse("sim reset"), Ok(Some(Command::Reset { seed: None })));
        assert_eq!(
            parse("sim partition etcd-1,etcd-2 etcd-3"),
            Ok(Some(Command::Partition(vec![
                vec![ComponentId::Etcd(1), ComponentId::Etcd(2)],
                vec![ComponentId::Etcd(3)]
            ])))
        );
        assert_eq!(parse("sim kill kubelet/node-2"), Ok(Some(Command::Kill(ComponentId::Kubelet("node-2".into())))));
        assert_eq!(parse("sim restart etcd-2"), Ok(Some(Command::Restart(ComponentId::Etcd(2)))));
        let e = |n| ComponentId::Etcd(n);
        let five = Some(Command::Partition(vec![vec![e(1), e(2)], vec![e(3), e(4), e(5)]]));
        assert_eq!(parse("sim partition etcd-1,etcd-2 / etcd-3,etcd-4,etcd-5"), Ok(five.clone()));
        assert_eq!(parse("sim partition etcd-1,etcd-2/etcd-3,etcd-4,etcd-5"), Ok(five));
        assert_eq!(
            parse("sim partition kubelet/node-1 / kube-apiserver"),
            Ok(Some(Command::Partition(vec![
                vec![ComponentId::Kubelet("node-1".into())],
                vec![ComponentId::ApiServer]
            ])))
        );
        assert_eq!(
            parse("sim drop 20%"),
            Ok(Some(Command::Network(NetworkChange { loss_ppm: Some(200_000), ..Default::default() })))
        );
        assert_eq!(
            parse("sim delay 50ms..200ms"),
            Ok(Some(Command::Network(NetworkChange { latency_ms: Some((50, 200)), ..Default::default() })))
        );
        assert_eq!(
            parse("sim network --latency 2ms..30ms --loss 1%"),
            Ok(Some(Command::Network(NetworkChange {
                latency_ms: Some((2, 30)),
                loss_ppm: Some(10_000),
                ..Default::default()
            })))
        );
        assert_eq!(parse("# comment"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("help"), Ok(Some(Command::Help)));
        assert_eq!(parse("sim"), Ok(Some(Command::Help)));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |line: &str| parse(line).unwrap_err();
        assert!(err("frobnicate now").starts_with("unknown command \"frobnicate\""));
        assert!(err("sim fly").starts_with("unknown command \"fly\" for \"sim\""));
        assert_eq!(err("sim advance 5x"), "time: unknown unit \"x\" in duration \"5x\"");
        assert_eq!(err("sim advance"), "\"sim advance\" accepts 1 arg, received 0");
        assert_eq!(err("sim status now"), "\"sim status\" accepts 0 args, received 1");
        assert_eq!(err("sim status --verbose"), "unknown flag: --verbose");
        assert_eq!(err("sim status -v"), "unknown shorthand flag: 'v' in -v");
        assert_eq!(err("sim status -é"), "unknown shorthand flag: 'é' in -é");
        assert_eq!(err("sim reset --seed"), "flag needs an argument: --seed");
        assert!(err("sim reset --seed x").starts_with("invalid argument \"x\" for \"--seed\" flag"));
        assert_eq!(err("sim kill etcd-x"), "unknown component \"etcd-x\"");
        assert!(err("sim partition").contains("requires at least 1 arg"));
        assert!(err("sim partition etcd-1 etcd-1").contains("more than one group"));
        assert!(err("sim partition etcd-1 / ").contains("empty group"));
        assert!(err("sim drop lots").starts_with("invalid probability"));
        assert!(err("sim network --loss 3").starts_with("invalid argument \"3\" for \"--loss\" flag"));
        assert_eq!(err("sim 'x"), "unterminated single quote");
    }

    #[test]
    fn script_rules() {
        assert!(!parse("sim advance 1s").unwrap().unwrap().allowed_in_script());
        assert!(!parse("sim reset").unwrap().unwrap().allowed_in_script());
        assert!(parse("sim heal").unwrap().unwrap().allowed_in_script());
        assert!(!parse("etcdctl txn").unwrap().unwrap().allowed_in_script(), "a script cannot type its sections");
        assert!(parse("etcdctl put a b").unwrap().unwrap().allowed_in_script());
        assert!(parse("sim kill etcd-1").unwrap().unwrap().changes_simulation());
        assert!(!parse("sim network").unwrap().unwrap().changes_simulation());
        assert!(!parse("sim status").unwrap().unwrap().changes_simulation());
    }
}
