//! What a simulated container does, read from its spec.
//!
//! kscope runs no real processes: a container's behaviour comes from its
//! `command` and `args` (or, without them, its image's default entrypoint),
//! the way a reader of the manifest would predict it. The words understood:
//!
//! - `sh -c "<script>"` (also `/bin/sh`, `bash`, `ash`): the script's
//!   statements, separated by `;`, `&&`, `||` or new lines, run in order;
//!   `while true; do ...; done` (or `while :`) repeats its body forever.
//! - `sleep N` (seconds, or `infinity`), `echo TEXT` (a log line; `$(date)`
//!   and `$HOSTNAME` are expanded), `exit N`, `true`, `false`, `touch F`,
//!   `rm [-f] F`, `trap ... TERM` (the container then stops at once on
//!   SIGTERM), `exec CMD` (runs CMD). Anything else is a no-op.
//! - At the end of a script the container exits with the last status.
//! - A server image's own binary (e.g. `nginx`) or an unknown program
//!   serves forever; a server stops at once on SIGTERM, while a shell script
//!   (PID 1 without a `trap`) ignores it and is killed at the end of the
//!   grace period, exit code 137, as in a real container.
//!
//! Exec probes understand `cat F`, `test -e|-f F`, `ls F`, `stat F` (succeed
//! while F exists), `true`, `false`, `exit N`, and `sh -c` over the same.

use std::collections::{BTreeMap, BTreeSet};

/// One instruction of a container's program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Writes a log line.
    Echo(String),
    /// Waits; `None` waits forever.
    Sleep(Option<u64>),
    /// Exits with this code.
    Exit(i32),
    /// Sets the last exit status (`true`, `false`).
    Status(i32),
    /// Creates a file.
    Touch(String),
    /// Removes a file.
    Rm(String),
    /// Serves forever (listens on the image's ports and the declared ones).
    Serve,
    /// Continues at this instruction (the end of a `while` body).
    Jump(usize),
    /// Sets a shell variable: `i=0`, `i=$((i+1))`.
    Set(String, Value),
}

/// A variable's new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Literal text.
    Text(String),
    /// `$((name + n))`.
    Add(String, i64),
}

/// A container's program: its instructions and how it takes SIGTERM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Instructions, run from the first.
    pub ops: Vec<Op>,
    /// Whether SIGTERM stops it at once (servers, scripts with a `trap`).
    pub stops_on_sigterm: bool,
    /// Its HTTP server answers 500 once it has run this long (agnhost
    /// `liveness`, the documentation's liveness example: 200 for 10 s, then 500).
    pub healthy_for_ms: Option<u64>,
}

/// What an image runs when the pod gives no command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entrypoint {
    /// A server that runs until stopped (nginx, redis, ...).
    Server,
    /// A shell that exits at once with no terminal attached (busybox, alpine, ubuntu, ...).
    Shell,
}

/// The program of a container from its `command` and `args` and the image's
/// entrypoint kind and binary names.
pub fn program(command: &[String], args: &[String], entrypoint: Entrypoint, binaries: &[&str]) -> Program {
    // Docker's rule: a command replaces the entrypoint; args replace the default cmd.
    let words: Vec<String> = if !command.is_empty() {
        command.iter().chain(args).cloned().collect()
    } else if !args.is_empty() && entrypoint == Entrypoint::Shell {
        args.to_vec()
    } else {
        return match entrypoint {
            Entrypoint::Server => Program { ops: vec![Op::Serve], stops_on_sigterm: true, healthy_for_ms: None },
            Entrypoint::Shell => Program { ops: vec![Op::Exit(0)], stops_on_sigterm: false, healthy_for_ms: None },
        };
    };
    let mut ops = Vec::new();
    let mut trap = false;
    compile_words(&words, binaries, &mut ops, &mut trap);
    let serves = ops.contains(&Op::Serve);
    Program { ops, stops_on_sigterm: trap || serves, healthy_for_ms: None }
}

fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_shell(word: &str) -> bool {
    matches!(base(word), "sh" | "bash" | "ash" | "dash" | "zsh")
}

/// Compiles one command (a word list) into `ops`.
fn compile_words(words: &[String], binaries: &[&str], ops: &mut Vec<Op>, trap: &mut bool) {
    let Some(first) = words.first() else { return };
    if is_shell(first) {
        if let Some(i) = words.iter().position(|w| w == "-c") {
            if let Some(script) = words.get(i + 1) {
                compile_script(script, binaries, ops, trap);
            }
        }
        // A shell with no script and no terminal exits at once.
        return;
    }
    let rest = &words[1..];
    match base(first) {
        "sleep" => ops.push(Op::Sleep(rest.first().and_then(|s| parse_seconds(s)).unwrap_or(Some(0)))),
        "echo" => ops.push(Op::Echo(rest.iter().map(|w| unquote(w)).collect::<Vec<_>>().join(" "))),
        "exit" => ops.push(Op::Exit(rest.first().and_then(|s| s.parse().ok()).unwrap_or(0))),
        "true" | ":" => ops.push(Op::Status(0)),
        "false" => ops.push(Op::Status(1)),
        "touch" => ops.extend(rest.iter().map(|f| Op::Touch(unquote(f)))),
        "rm" => ops.extend(rest.iter().filter(|f| !f.starts_with('-')).map(|f| Op::Rm(unquote(f)))),
        "exec" => compile_words(rest, binaries, ops, trap),
        "trap" => {
            if rest.iter().any(|w| matches!(w.as_str(), "TERM" | "SIGTERM" | "15")) {
                *trap = true;
            }
        }
        b if binaries.contains(&b) => ops.push(Op::Serve),
        "cd" | "cat" | "ls" | "export" | "set" | "mkdir" | "date" | "env" | "printf" | "wait" => {}
        _ if first.contains('=') => {
            if let Some(op) = assignment(first) {
                ops.push(op);
            }
        }
        _ => ops.push(Op::Serve),
    }
}

/// `name=value` or `name=$((name+N))` (also `$(( $name + N ))`, `-`).
fn assignment(word: &str) -> Option<Op> {
    let (name, value) = word.split_once('=')?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return None;
    }
    let value = unquote(value);
    if let Some(expr) = value.strip_prefix("$((").and_then(|v| v.strip_suffix("))")) {
        let expr: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
        let (var, sign, n) = match expr.find(['+', '-']) {
            Some(i) => (&expr[..i], &expr[i..i + 1], expr[i + 1..].parse::<i64>().ok()?),
            None => (expr.as_str(), "+", 0),
        };
        let var = var.trim_start_matches('$').to_string();
        return Some(Op::Set(name.to_string(), Value::Add(var, if sign == "-" { -n } else { n })));
    }
    Some(Op::Set(name.to_string(), Value::Text(value)))
}

/// `N`, `Ns`, `Nm`, `Nh` or `infinity` → `Some(Some(ms))` / `Some(None)`.
fn parse_seconds(s: &str) -> Option<Option<u64>> {
    if s == "infinity" || s == "inf" {
        return Some(None);
    }
    let (number, unit_ms) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1_000.0),
        'm' => (&s[..s.len() - 1], 60_000.0),
        'h' => (&s[..s.len() - 1], 3_600_000.0),
        'd' => (&s[..s.len() - 1], 86_400_000.0),
        _ => (s, 1_000.0),
    };
    let n: f64 = number.parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| Some((n * unit_ms).min(1e15) as u64))
}

fn unquote(w: &str) -> String {
    w.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// Splits a shell script into statements (on `;`, `&&`, `||` and new lines
/// outside quotes), each a word list.
fn statements(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    let end_word = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ';' | '\n') => {
                end_word(&mut word, &mut words);
                out.push(std::mem::take(&mut words));
            }
            (None, '&' | '|') if chars.peek() == Some(&c) => {
                chars.next();
                end_word(&mut word, &mut words);
                out.push(std::mem::take(&mut words));
            }
            (None, c) if c.is_whitespace() => end_word(&mut word, &mut words),
            (None, c) => word.push(c),
        }
    }
    end_word(&mut word, &mut words);
    out.push(words);
    out.retain(|w| !w.is_empty());
    out
}

fn compile_script(script: &str, binaries: &[&str], ops: &mut Vec<Op>, trap: &mut bool) {
    // Loop starts waiting for their `done`.
    let mut loops: Vec<usize> = Vec::new();
    for mut words in statements(script) {
        match words.first().map(String::as_str) {
            Some("while" | "until") => {
                loops.push(ops.len());
                continue;
            }
            Some("do") => {
                words.remove(0);
                if words.is_empty() {
                    continue;
                }
            }
            Some("done") => {
                if let Some(start) = loops.pop() {
                    ops.push(Op::Jump(start));
                }
                continue;
            }
            _ => {}
        }
        compile_words(&words, binaries, ops, trap);
    }
}

/// A running instance of a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pc: usize,
    /// The instruction waits until this time (a `sleep`).
    pub wake_ms: Option<u64>,
    /// Whether it serves (listens) now.
    pub serving: bool,
    /// Exit status of the last command.
    status: i32,
    /// Files in the container's writable layer.
    pub files: BTreeSet<String>,
    /// Shell variables.
    vars: BTreeMap<String, String>,
}

/// What a step of a process produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Log lines written.
    pub logs: Vec<String>,
    /// The exit code, if the process ended.
    pub exited: Option<i32>,
    /// When it next needs to run (`None`: it waits forever or ended).
    pub wake_ms: Option<u64>,
}

/// Instructions run per step at most before a busy loop is made to wait a
/// second (a `while` without `sleep` would otherwise never yield).
const OPS_PER_STEP_MAX: usize = 1_000;

impl Process {
    /// `$name` and `${name}` replaced by the variables set so far (unset
    /// ones are left for the caller: `$HOSTNAME`, ...).
    fn substitute(&self, text: &str) -> String {
        if !text.contains('$') {
            return text.to_string();
        }
        let mut out = text.to_string();
        // Longest names first, so `$ii` is not read as `$i` followed by `i`.
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in names {
            let value = &self.vars[name];
            out = out.replace(&format!("${{{name}}}"), value).replace(&format!("${name}"), value);
        }
        out
    }

    /// A fresh process (empty writable layer) that starts at `start_ms`.
    pub fn starting_at(start_ms: u64) -> Process {
        Process { wake_ms: Some(start_ms), ..Process::default() }
    }

    /// Runs `program` from where it stands up to time `now_ms`.
    /// `expand` turns `$(date)`/`$HOSTNAME` into their values.
    pub fn run(&mut self, program: &Program, now_ms: u64, expand: &dyn Fn(&str) -> String) -> Step {
        let mut step = Step::default();
        if let Some(wake) = self.wake_ms {
            if wake > now_ms {
                step.wake_ms = Some(wake);
                return step;
            }
            self.wake_ms = None;
        }
        let mut budget = OPS_PER_STEP_MAX;
        loop {
            let Some(op) = program.ops.get(self.pc) else {
                step.exited = Some(self.status);
                return step;
            };
            if budget == 0 {
                self.wake_ms = Some(now_ms + 1_000);
                step.wake_ms = self.wake_ms;
                return step;
            }
            budget -= 1;
            self.pc += 1;
            match op {
                Op::Echo(text) => {
                    step.logs.push(expand(&self.substitute(text)));
                    self.status = 0;
                }
                Op::Set(name, value) => {
                    let text = match value {
                        Value::Text(t) => self.substitute(t),
                        Value::Add(var, n) => {
                            let base: i64 = self.vars.get(var).and_then(|v| v.parse().ok()).unwrap_or(0);
                            base.saturating_add(*n).to_string()
                        }
                    };
                    self.vars.insert(name.clone(), text);
                    self.status = 0;
                }
                Op::Sleep(None) | Op::Serve => {
                    self.serving |= *op == Op::Serve;
                    self.pc -= 1; // stays here forever
                    return step;
                }
                Op::Sleep(Some(ms)) => {
                    self.status = 0;
                    if *ms > 0 {
                        self.wake_ms = Some(now_ms.saturating_add(*ms));
                        step.wake_ms = self.wake_ms;
                        return step;
                    }
                }
                Op::Exit(code) => {
                    step.exited = Some(*code);
                    return step;
                }
                Op::Status(code) => self.status = *code,
                Op::Touch(f) => {
                    self.files.insert(f.clone());
                    self.status = 0;
                }
                Op::Rm(f) => {
                    self.files.remove(f);
                    self.status = 0;
                }
                Op::Jump(to) => self.pc = *to,
            }
        }
    }
}

/// The result of an exec probe command run in a container with `files`:
/// `Ok(())` or `Err(output)`.
pub fn exec_probe(command: &[String], files: &BTreeSet<String>) -> Result<(), String> {
    let statements: Vec<Vec<String>> = match command.first() {
        Some(first) if is_shell(first) => command
            .iter()
            .position(|w| w == "-c")
            .and_then(|i| command.get(i + 1))
            .map(|s| statements(s))
            .unwrap_or_default(),
        _ => vec![command.to_vec()],
    };
    for words in statements {
        let Some(first) = words.first() else { continue };
        let file = words.iter().skip(1).find(|w| !w.starts_with('-')).map(|w| unquote(w));
        match base(first) {
            "cat" => {
                if let Some(f) = file.filter(|f| !files.contains(f)) {
                    return Err(format!("cat: can't open '{f}': No such file or directory"));
                }
            }
            "ls" => {
                if let Some(f) = file.filter(|f| !files.contains(f)) {
                    return Err(format!("ls: {f}: No such file or directory"));
                }
            }
            "stat" => {
                if let Some(f) = file.filter(|f| !files.contains(f)) {
                    return Err(format!("stat: can't stat '{f}': No such file or directory"));
                }
            }
            "test" | "[" => {
                if file.is_some_and(|f| !files.contains(&f)) {
                    return Err(String::new());
                }
            }
            "false" => return Err(String::new()),
            "exit" => {
                if words.get(1).is_some_and(|c| c != "0") {
                    return Err(String::new());
                }
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    fn run_to(p: &Program, process: &mut Process, until_ms: u64) -> (Vec<String>, Option<i32>) {
        let mut now = 0;
        let mut logs = Vec::new();
        loop {
            let step = process.run(p, now, &|s| s.replace("$(date)", "DATE"));
            logs.extend(step.logs);
            if step.exited.is_some() {
                return (logs, step.exited);
            }
            match step.wake_ms {
                Some(w) if w <= until_ms => now = w,
                _ => return (logs, None),
            }
        }
    }

    #[test]
    fn images_without_command_serve_or_exit() {
        let nginx = program(&[], &[], Entrypoint::Server, &["nginx"]);
        assert_eq!(nginx, Program { ops: vec![Op::Serve], stops_on_sigterm: true, healthy_for_ms: None });
        let busybox = program(&[], &[], Entrypoint::Shell, &[]);
        assert_eq!(busybox.ops, vec![Op::Exit(0)]);
    }

    #[test]
    fn liveness_example_from_the_kubernetes_docs() {
        // https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
        let p = program(
            &[],
            &words(&["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"]),
            Entrypoint::Shell,
            &[],
        );
        assert!(!p.stops_on_sigterm);
        let mut process = Process::default();
        process.run(&p, 0, &|s| s.to_string());
        assert!(exec_probe(&words(&["cat", "/tmp/healthy"]), &process.files).is_ok());
        process.run(&p, 30_000, &|s| s.to_string());
        assert_eq!(
            exec_probe(&words(&["cat", "/tmp/healthy"]), &process.files),
            Err("cat: can't open '/tmp/healthy': No such file or directory".into())
        );
        assert_eq!(process.wake_ms, Some(630_000));
    }

    #[test]
    fn scripts_log_loop_and_exit() {
        let p = program(
            &words(&["sh", "-c"]),
            &words(&["i=0; while true; do echo \"tick $(date)\"; sleep 1; done"]),
            Entrypoint::Shell,
            &[],
        );
        let (logs, exited) = run_to(&p, &mut Process::default(), 2_500);
        assert_eq!(logs, vec!["tick DATE"; 3]);

        // The counter pod of the logging documentation.
        let counter = program(
            &[],
            &words(&["/bin/sh", "-c", "i=0; while true; do echo \"$i: $(date)\"; i=$((i+1)); sleep 1; done"]),
            Entrypoint::Shell,
            &[],
        );
        let (logs, _) = run_to(&counter, &mut Process::default(), 2_000);
        assert_eq!(logs, vec!["0: DATE", "1: DATE", "2: DATE"]);
        assert_eq!(exited, None);

        let crash = program(&words(&["sh", "-c", "echo starting && sleep 2 && exit 3"]), &[], Entrypoint::Shell, &[]);
        assert_eq!(run_to(&crash, &mut Process::default(), 10_000), (vec!["starting".to_string()], Some(3)));

        let falls_off = program(&words(&["sh", "-c", "echo hi; false"]), &[], Entrypoint::Shell, &[]);
        assert_eq!(run_to(&falls_off, &mut Process::default(), 10_000).1, Some(1));

        let sleeper = program(&words(&["sleep", "3600"]), &[], Entrypoint::Shell, &[]);
        assert_eq!(run_to(&sleeper, &mut Process::default(), 3_600_000).1, Some(0));
        assert_eq!(sleeper.ops, vec![Op::Sleep(Some(3_600_000))]);
    }

    #[test]
    fn busy_loops_yield_and_traps_stop_on_sigterm() {
        let p =
            program(&words(&["sh", "-c", "trap 'exit 0' TERM; while :; do echo x; done"]), &[], Entrypoint::Shell, &[]);
        assert!(p.stops_on_sigterm);
        let step = Process::default().run(&p, 0, &|s| s.to_string());
        assert_eq!(step.wake_ms, Some(1_000));
        assert!(step.logs.len() < OPS_PER_STEP_MAX);
    }

    #[test]
    fn server_binaries_and_unknown_programs_serve() {
        let p = program(&words(&["nginx", "-g", "daemon off;"]), &[], Entrypoint::Server, &["nginx"]);
        assert_eq!(p.ops, vec![Op::Serve]);
        let p = program(&words(&["/app/server", "--port=8080"]), &[], Entrypoint::Shell, &[]);
        assert_eq!(p.ops, vec![Op::Serve]);
        let mut process = Process::default();
        assert_eq!(process.run(&p, 0, &|s| s.to_string()), Step::default());
        assert!(process.serving);
    }

    #[test]
    fn sleep_units() {
        assert_eq!(parse_seconds("5"), Some(Some(5_000)));
        assert_eq!(parse_seconds("1.5"), Some(Some(1_500)));
        assert_eq!(parse_seconds("2m"), Some(Some(120_000)));
        assert_eq!(parse_seconds("infinity"), Some(None));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("x"), None);
    }
}
