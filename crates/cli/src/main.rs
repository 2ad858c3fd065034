//! `kscope`: the simulation core on the command line, for scripting, replay and
//! CI. `kscope run` plays a scenario headless and prints its trace hash;
//! `kscope shell` reads console commands line by line, exactly as the browser
//! console runs them.

use kscope_core::duration::Duration;
use kscope_core::{Cluster, Scenario};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

mod bench;
mod bench_apiserver;
mod bench_cluster;
mod bench_scheduler;

const USAGE: &str = "\
kscope: a simulated Kubernetes control plane

Usage:
  kscope run [SCENARIO] [--seed N] [--until DURATION] [--trace FILE]
      Run a scenario headless; print a summary and the trace hash.
      --until defaults to 1m, or the last script step if later.
      --trace writes every trace event as a JSON line to FILE.
  kscope shell [SCENARIO]
      Read console commands (sim ..., etcdctl ..., help) from standard input, one
      per line, and print their output. Exits 1 if any command failed.
  kscope campaign etcd [--seed N | --seeds N]
      Run the seeded etcd fault campaign: random client operations under random
      kills, partitions, loss and delay; checks Raft safety and linearizability.
      --seed replays one seed and prints its faults; --seeds runs 0..N (default 500).
  kscope bench etcd [--puts N]
  kscope bench apiserver [--objects N]
  kscope bench scheduler [--nodes N] [--pods N]
  kscope bench cluster [--nodes N] [--pods N] [--deployments N]
      Committed-and-applied puts per second through the simulated etcd (3 and 5
      members, 100-byte values) and through a bare raft-rs cluster on entries of
      the same size, measured in the same run; prints both and the ratio.
  kscope help | --help | --version

Without SCENARIO, the default cluster is used: 3 etcd members, 3 worker nodes
(node-1..node-3, 4 CPU and 8Gi each), seed 1.";

/// A command-line error: printed as `error: ...`, exit status 1.
struct CliError(String);

impl<T: Into<String>> From<T> for CliError {
    fn from(message: T) -> Self {
        CliError(message.into())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode, CliError> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    match command.as_str() {
        "run" => run(rest),
        "shell" => shell(rest),
        "campaign" => campaign(rest),
        "bench" => bench_command(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "--version" | "version" => {
            println!("kscope {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?} for \"kscope\"\nRun 'kscope --help' for usage.").into()),
    }
}

/// Options of `run` and `shell`: an optional scenario path and `--flag value` pairs.
struct Options {
    scenario: Option<String>,
    flags: Vec<(String, String)>,
}

fn parse_options(args: &[String], known: &[&str], command: &str) -> Result<Options, CliError> {
    let mut options = Options { scenario: None, flags: Vec::new() };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            if !known.contains(&name) {
                return Err(format!("unknown flag: --{name}").into());
            }
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: --{name}"))?
                }
            };
            options.flags.push((name.to_string(), value));
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unknown shorthand flag: '{}' in {arg}", arg[1..].chars().next().unwrap_or('-')).into());
        } else if options.scenario.is_none() {
            options.scenario = Some(arg.clone());
        } else {
            return Err(format!("\"kscope {command}\" accepts at most 1 scenario, received {arg:?} too").into());
        }
        i += 1;
    }
    Ok(options)
}

impl Options {
    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn load_scenario(&self) -> Result<Scenario, CliError> {
        let Some(path) = &self.scenario else {
            return Ok(Scenario::default());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("the path {path:?} does not exist").into())
            }
            Err(e) => return Err(format!("cannot read {path:?}: {e}").into()),
        };
        Scenario::from_yaml(&text, path).map_err(|e| CliError(e.to_string()))
    }
}

fn run(args: &[String]) -> Result<ExitCode, CliError> {
    let options = parse_options(args, &["seed", "until", "trace"], "run")?;
    let scenario = options.load_scenario()?;
    let seed = match options.flag("seed") {
        Some(v) => v.parse::<u64>().map_err(|_| {
            format!("invalid argument {v:?} for \"--seed\" flag: must be a whole number from 0 to {}", u64::MAX)
        })?,
        None => scenario.spec.seed,
    };
    let mut cluster = Cluster::with_seed(scenario, seed)?;
    let until = match options.flag("until") {
        Some(v) => Duration::parse(v).map_err(|e| format!("invalid argument {v:?} for \"--until\" flag: {e}"))?,
        None => Duration::from_millis(cluster.script_end_ms().unwrap_or(0).max(60_000)),
    };
    let mut trace_out = match options.flag("trace") {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| format!("cannot write trace to {path:?}: {e}"))?;
            cluster.simulation_mut().trace_mut().set_recording(true);
            Some((path.to_string(), std::io::BufWriter::new(file)))
        }
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed_steps = 0;
    // Advance in one-second chunks so a long trace streams to its file instead of
    // piling up in memory. Chunking does not change the run (tested in the core).
    while cluster.now_ms() < until.ms {
        let next = (cluster.now_ms() + 1000).min(until.ms);
        for run in cluster.advance_to(next)? {
            failed_steps += usize::from(!run.output.ok);
            write!(out, "{}", run.render()).map_err(|e| e.to_string())?;
        }
        if let Some((path, file)) = trace_out.as_mut() {
            for event in cluster.simulation_mut().trace_mut().drain() {
                let line = serde_json::to_string(&event).map_err(|e| e.to_string())?;
                writeln!(file, "{line}").map_err(|e| format!("cannot write trace to {path:?}: {e}"))?;
            }
        }
    }
    if let Some((path, mut file)) = trace_out {
        file.flush().map_err(|e| format!("cannot write trace to {path:?}: {e}"))?;
    }
    let trace = cluster.simulation().trace();
    let stats = cluster.simulation().stats();
    writeln!(
        out,
        "scenario {}, seed {}, ran to {}",
        cluster.name(),
        cluster.seed(),
        Duration::from_millis(cluster.now_ms())
    )
    .and_then(|_| {
        writeln!(
            out,
            "{} trace events; messages: {} sent, {} delivered, {} lost, {} partitioned, {} duplicated",
            trace.len(),
            stats.sent,
            stats.delivered,
            stats.lost,
            stats.partitioned,
            stats.duplicated
        )
    })
    .and_then(|_| writeln!(out, "trace hash: {}", trace.hash_hex()))
    .map_err(|e| e.to_string())?;
    if failed_steps > 0 {
        return Err(format!("{failed_steps} script step(s) failed").into());
    }
    Ok(ExitCode::SUCCESS)
}

fn shell(args: &[String]) -> Result<ExitCode, CliError> {
    let options = parse_options(args, &[], "shell")?;
    let mut cluster = Cluster::new(options.load_scenario()?)?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut any_failed = false;
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("kscope> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else {
            break;
        };
        let line = line.map_err(|e| format!("cannot read standard input: {e}"))?;
        if matches!(line.trim(), "exit" | "quit") {
            break;
        }
        load_local_files(&mut cluster, &line);
        let output = cluster.exec(&line);
        if output.ok {
            print!("{}", output.text);
        } else {
            any_failed = true;
            eprint!("{}", output.text);
        }
        // What background commands (etcdctl watch) received meanwhile.
        print!("{}", cluster.take_background_output());
    }
    Ok(if any_failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Copies the local files a kubectl line names with `-f` into the cluster,
/// so `kubectl apply -f deploy.yaml` in the shell reads the file on disk (the
/// core does no I/O; the browser puts its uploads in the same way).
fn load_local_files(cluster: &mut Cluster, line: &str) {
    let Ok(words) = kscope_core::command::split_words(line.trim()) else { return };
    if !matches!(words.first().map(String::as_str), Some("kubectl" | "k")) {
        return;
    }
    let mut names = Vec::new();
    let mut iter = words.iter().peekable();
    while let Some(w) = iter.next() {
        if w == "-f" || w == "--filename" {
            if let Some(name) = iter.next() {
                names.push(name.clone());
            }
        } else if let Some(name) = w.strip_prefix("--filename=").or_else(|| w.strip_prefix("-f")) {
            if !name.is_empty() {
                names.push(name.trim_start_matches('=').to_string());
            }
        }
    }
    for name in names.into_iter().filter(|n| n != "-") {
        if let Ok(contents) = std::fs::read(&name) {
            cluster.put_file(&name, contents);
        }
    }
}

fn campaign(args: &[String]) -> Result<ExitCode, CliError> {
    use kscope_core::etcd::campaign::{run, CampaignConfig};
    let options = parse_options(args, &["seed", "seeds"], "campaign")?;
    match options.scenario.as_deref() {
        Some("etcd") => {}
        Some(other) => return Err(format!("unknown campaign {other:?}: the campaigns are: etcd").into()),
        None => return Err("\"kscope campaign\" needs the campaign to run: etcd".into()),
    }
    let number = |name: &str| -> Result<Option<u64>, CliError> {
        options
            .flag(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    CliError(format!("invalid argument {v:?} for \"--{name}\" flag: must be a whole number"))
                })
            })
            .transpose()
    };
    let config = CampaignConfig::default();
    if let Some(seed) = number("seed")? {
        let report = run(seed, &config);
        println!(
            "seed {seed}: {} members, {} operations ({} acknowledged)",
            report.members, report.operations, report.acknowledged
        );
        for fault in &report.faults {
            println!("  {fault}");
        }
        println!("trace hash: {}", report.trace_hash);
        return match report.violation {
            None => {
                println!("safe and linearizable");
                Ok(ExitCode::SUCCESS)
            }
            Some(v) => Err(format!("seed {seed}: {v}").into()),
        };
    }
    let seeds = number("seeds")?.unwrap_or(500);
    let mut failed = Vec::new();
    for seed in 0..seeds {
        if let Some(v) = run(seed, &config).violation {
            eprintln!("seed {seed}: {v}\nreplay: kscope campaign etcd --seed {seed}");
            failed.push(seed);
        }
    }
    println!("{} seeds, {} failed", seeds, failed.len());
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("failing seeds: {failed:?}").into())
    }
}

fn bench_command(args: &[String]) -> Result<ExitCode, CliError> {
    let options = parse_options(args, &["puts", "objects", "nodes", "pods", "deployments"], "bench")?;
    let number = |name: &str, default: u64| -> Result<u64, CliError> {
        match options.flag(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("invalid argument {v:?} for \"--{name}\" flag: must be a whole number").into()),
            None => Ok(default),
        }
    };
    match options.scenario.as_deref() {
        Some("etcd") => {}
        Some("apiserver") => {
            let objects: u64 = match options.flag("objects") {
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("invalid argument {v:?} for \"--objects\" flag: must be a whole number"))?,
                None => 5_000,
            };
            let m = bench_apiserver::run(objects)?;
            println!("{:<40} {:>12.0}", "objects created/s (apiserver → etcd)", m.creates_per_second);
            println!(
                "{:<40} {:>12.0}  ({} events to {} watchers)",
                "watch events delivered/s",
                m.events_per_second,
                m.events,
                bench_apiserver::WATCHERS
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some("scheduler") => {
            let (nodes, pods) = (number("nodes", 1_000)?, number("pods", 5_000)?);
            let m = bench_scheduler::run(nodes, pods)?;
            println!(
                "{:<40} {:>12.0}  ({pods} pods on {nodes} nodes in {:.2} s wall, {} simulated)",
                "pods scheduled/s (watch → bind → etcd)", m.pods_per_second, m.wall_seconds, m.simulated
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some("cluster") => {
            let (nodes, pods, deployments) =
                (number("nodes", 1_000)?, number("pods", 10_000)?, number("deployments", 10)?);
            let m = bench_cluster::run(nodes, pods, deployments)?;
            println!("{:<40} {:>12}", "cluster", format!("{nodes} nodes, {pods} pods, {deployments} deployments"));
            println!("{:<40} {:>12.2} s", "wall time, start to all nodes registered", m.setup_wall_seconds);
            println!("{:<40} {:>12.2} s", "wall time, apply to all pods Running", m.wall_seconds);
            println!("{:<40} {:>12.3} s", "simulated time, apply to all Running", m.simulated_ms as f64 / 1000.0);
            if let Some(cpu) = m.cpu_seconds {
                println!("{:<40} {:>12.2} s", "CPU time, whole run (user + system)", cpu);
            }
            match m.peak_rss_kib {
                Some(kib) => println!("{:<40} {:>12.1} MiB", "peak memory (VmHWM)", kib as f64 / 1024.0),
                None => println!("{:<40} {:>12}", "peak memory (VmHWM)", "unknown"),
            }
            println!("{:<40} {:>12}  ({} events)", "trace hash", m.trace_hash, m.trace_events);
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => {
            return Err(
                format!("unknown benchmark {other:?}: the benchmarks are: etcd, apiserver, scheduler, cluster").into()
            )
        }
        None => return Err("\"kscope bench\" needs the benchmark to run: etcd, apiserver, scheduler or cluster".into()),
    }
    let puts: u64 = match options.flag("puts") {
        Some(v) => {
            v.parse().map_err(|_| format!("invalid argument {v:?} for \"--puts\" flag: must be a whole number"))?
        }
        None => 200_000,
    };
    println!("{:<8} {:>14} {:>16} {:>8}", "MEMBERS", "KSCOPE PUTS/S", "RAFT-RS ENTRIES/S", "RATIO");
    for members in [3u8, 5] {
        let simulated = bench::simulated(members, puts)?;
        let bare = bench::bare_raft(members, puts, simulated.entry_bytes);
        println!(
            "{:<8} {:>14.0} {:>16.0} {:>7.2}x",
            members,
            simulated.per_second,
            bare.per_second,
            simulated.per_second / bare.per_second
        );
    }
    Ok(ExitCode::SUCCESS)
}
