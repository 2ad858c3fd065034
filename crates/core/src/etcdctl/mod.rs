//! `etcdctl` in the shared command layer: parsing and output as etcdctl v3.5
//! prints them (etcdctl/ctlv3/command/*.go and printer*.go in etcd), over the
//! simulated network to the members.
//!
//! Checked against the real etcdctl (Debian's etcd-client) where the versions
//! agree. Differences on purpose: endpoints are the members' simulated
//! addresses (https://10.0.0.1N:2379, or a member name such as `etcd-2`), and
//! usage text is not printed after an error.

mod run;

pub(crate) use run::{ConsoleWatch, TxnInput};

use crate::etcd::api::{
    Compare, CompareResult, CompareTarget, Member, Reply, Request, Response, ResponseHeader, Status, Txn, TxnOp,
    WatchResponse,
};
use crate::etcd::mvcc::{EventKind, KeyRange, KeyValue};
use serde_json::json;

/// Output format (`-w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOut {
    /// `simple` (default).
    Simple,
    /// `json`.
    Json,
    /// `fields`.
    Fields,
    /// `table`.
    Table,
}

/// A parsed etcdctl command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Etcdctl {
    /// `--endpoints`, as given (comma-separated).
    pub endpoints: Option<Vec<String>>,
    /// `-w/--write-out`.
    pub write_out: WriteOut,
    /// `--command-timeout` in ms (default 5s).
    pub command_timeout_ms: u64,
    /// The sub-command.
    pub command: EtcdctlCommand,
    /// For `txn`: the transaction read from the following lines.
    pub txn: Option<Txn>,
}

/// The etcdctl sub-commands kscope knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtcdctlCommand {
    /// `put KEY VALUE`.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// `--prev-kv`.
        prev_kv: bool,
        /// `--lease` (parsed from hex).
        lease: i64,
    },
    /// `get KEY [RANGE_END]`.
    Get {
        /// Keys to read.
        range: KeyRange,
        /// `--rev`.
        rev: i64,
        /// `--limit`.
        limit: i64,
        /// `--keys-only`.
        keys_only: bool,
        /// `--count-only`.
        count_only: bool,
        /// `--print-value-only`.
        print_value_only: bool,
        /// `--consistency=s`.
        serializable: bool,
    },
    /// `del KEY [RANGE_END]`.
    Del {
        /// Keys to delete.
        range: KeyRange,
        /// `--prev-kv`.
        prev_kv: bool,
    },
    /// `compaction REV`.
    Compaction {
        /// Revision.
        rev: i64,
    },
    /// `txn`: reads compares, success and failure requests from the following
    /// console lines, each section ended by a blank line, as etcdctl reads stdin.
    Txn,
    /// `watch KEY [RANGE_END]`: streams events in the background.
    Watch {
        /// Keys to watch.
        range: KeyRange,
        /// `--rev`.
        rev: i64,
        /// `--prev-kv`.
        prev_kv: bool,
        /// `--progress-notify`.
        progress_notify: bool,
    },
    /// `lease grant TTL`.
    LeaseGrant {
        /// TTL in seconds.
        ttl_secs: i64,
    },
    /// `lease revoke ID`.
    LeaseRevoke {
        /// Lease id.
        id: i64,
    },
    /// `lease timetolive ID [--keys]`.
    LeaseTimeToLive {
        /// Lease id.
        id: i64,
        /// `--keys`.
        keys: bool,
    },
    /// `lease keep-alive --once ID`.
    LeaseKeepAlive {
        /// Lease id.
        id: i64,
    },
    /// `lease list`.
    LeaseList,
    /// `member list`.
    MemberList,
    /// `member add NAME --peer-urls=URLS [--learner]`.
    MemberAdd {
        /// Name.
        name: String,
        /// Peer URLs (kscope fills in the member's simulated address if omitted).
        peer_urls: Vec<String>,
        /// `--learner`.
        learner: bool,
    },
    /// `member remove ID`.
    MemberRemove {
        /// Member id.
        id: u64,
    },
    /// `member promote ID`.
    MemberPromote {
        /// Member id.
        id: u64,
    },
    /// `member update ID --peer-urls=URLS`.
    MemberUpdate {
        /// Member id.
        id: u64,
        /// New peer URLs.
        peer_urls: Vec<String>,
    },
    /// `snapshot save FILE`.
    SnapshotSave {
        /// File name (in kscope's virtual file system).
        file: String,
    },
    /// `snapshot status FILE`.
    SnapshotStatus {
        /// File name.
        file: String,
    },
    /// `snapshot restore FILE`: kscope restores the whole etcd cluster from it.
    SnapshotRestore {
        /// File name.
        file: String,
    },
    /// `defrag`.
    Defrag {
        /// `--cluster`.
        cluster: bool,
    },
    /// `alarm list`.
    AlarmList,
    /// `move-leader ID`.
    MoveLeader {
        /// Target member id.
        target: u64,
    },
    /// `endpoint status`.
    EndpointStatus {
        /// `--cluster`.
        cluster: bool,
    },
    /// `endpoint health`.
    EndpointHealth {
        /// `--cluster`.
        cluster: bool,
    },
}

/// Boolean flags take no value (`--prefix`), unless written `--prefix=false`.
const BOOL_FLAGS: &[&str] = &[
    "prefix",
    "from-key",
    "keys-only",
    "count-only",
    "print-value-only",
    "prev-kv",
    "cluster",
    "hex",
    "debug",
    "keys",
    "once",
    "progress-notify",
    "interactive",
    "learner",
];

struct Flags {
    values: Vec<(String, String)>,
    args: Vec<String>,
}

impl Flags {
    fn parse(words: &[String], known: &[&str]) -> Result<Flags, String> {
        let mut flags = Flags { values: Vec::new(), args: Vec::new() };
        let mut i = 0;
        let mut only_args = false;
        while i < words.len() {
            let word = &words[i];
            i += 1;
            if only_args || !word.starts_with('-') || word == "-" {
                flags.args.push(word.clone());
                continue;
            }
            if word == "--" {
                only_args = true;
                continue;
            }
            let (name, inline) = match word.strip_prefix("--") {
                Some(body) => match body.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (body.to_string(), None),
                },
                None => {
                    let short = &word[1..];
                    let first_len = short.chars().next().map_or(0, char::len_utf8);
                    let (s, rest) = short.split_at(first_len);
                    let long = match s {
                        "w" => "write-out",
                        _ => return Err(format!("unknown shorthand flag: '{s}' in {word}")),
                    };
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    (long.to_string(), (!rest.is_empty()).then(|| rest.to_string()))
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown flag: --{name}"));
            }
            let value = if BOOL_FLAGS.contains(&name.as_str()) {
                inline.unwrap_or_else(|| "true".into())
            } else {
                match inline {
                    Some(v) => v,
                    None => {
                        let v = words.get(i).cloned().ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                        i += 1;
                        v
                    }
                }
            };
            flags.values.push((name, value));
        }
        Ok(flags)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn bool(&self, name: &str) -> Result<bool, String> {
        match self.get(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(format!(
                "invalid argument {v:?} for \"--{name}\" flag: strconv.ParseBool: parsing {v:?}: invalid syntax"
            )),
        }
    }

    fn int(&self, name: &str) -> Result<i64, String> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| {
                format!("invalid argument {v:?} for \"--{name}\" flag: strconv.ParseInt: parsing {v:?}: invalid syntax")
            }),
        }
    }
}

/// A member id as etcdctl reads it (hex), with its error for `what` ("member", "leader").
fn hex_id(text: &str, what: &str) -> Result<u64, String> {
    u64::from_str_radix(text, 16).map_err(|_| {
        format!("bad {what} ID arg (strconv.ParseUint: parsing {text:?}: invalid syntax), expecting ID in Hex")
    })
}

const GLOBAL_FLAGS: [&str; 5] = ["endpoints", "write-out", "command-timeout", "hex", "debug"];

fn range_of(command: &str, flags: &Flags) -> Result<KeyRange, String> {
    let needs = || format!("{command} command needs one argument as key and an optional argument as range_end");
    let key = flags.args.first().ok_or_else(needs)?;
    let (prefix, from_key) = (flags.bool("prefix")?, flags.bool("from-key")?);
    if prefix && from_key {
        return Err("`--prefix` and `--from-key` cannot be set at the same time, choose one".into());
    }
    let end = flags.args.get(1);
    if end.is_some() && (prefix || from_key) {
        return Err("too many arguments, only accept one argument when `--prefix` or `--from-key` is set".to_string());
    }
    Ok(if prefix {
        KeyRange::prefix(key.as_bytes())
    } else if from_key {
        KeyRange::from_key(key.as_bytes())
    } else if let Some(end) = end {
        KeyRange { key: key.as_bytes().to_vec(), range_end: end.as_bytes().to_vec() }
    } else {
        KeyRange::single(key.as_bytes())
    })
}

impl Etcdctl {
    /// Parses the words after `etcdctl`. Errors are etcdctl's text without the
    /// `Error: ` prefix.
    pub fn parse(words: &[String]) -> Result<Etcdctl, String> {
        // The command is the first word that is neither a flag nor a global flag's value.
        let mut command_index = None;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if !w.starts_with('-') {
                command_index = Some(i);
                break;
            }
            let takes_value = matches!(w.as_str(), "--endpoints" | "--write-out" | "-w" | "--command-timeout");
            i += if takes_value { 2 } else { 1 };
        }
        // Global flags may come before the command; everything is parsed together.
        let Some(command_index) = command_index else {
            return Err(
                "etcdctl needs a command: put, get, del, compaction, member list, endpoint status|health".into()
            );
        };
        let name = words[command_index].as_str();
        let mut rest: Vec<String> = words[..command_index].to_vec();
        rest.extend_from_slice(&words[command_index + 1..]);
        let (sub, rest) = match name {
            "member" | "endpoint" | "lease" | "snapshot" | "alarm" => {
                let position = rest.iter().position(|w| !w.starts_with('-'));
                match position {
                    Some(p) => {
                        let sub = rest[p].clone();
                        let mut others = rest.clone();
                        others.remove(p);
                        (Some(sub), others)
                    }
                    None => (None, rest),
                }
            }
            _ => (None, rest),
        };
        let local: &[&str] = match (name, sub.as_deref()) {
            ("put", _) => &["prev-kv", "lease"],
            ("get", _) => {
                &["prefix", "from-key", "keys-only", "count-only", "print-value-only", "limit", "rev", "consistency"]
            }
            ("del", _) => &["prefix", "from-key", "prev-kv"],
            ("watch", _) => &["prefix", "rev", "prev-kv", "progress-notify"],
            ("txn", _) => &["interactive"],
            ("endpoint", _) | ("defrag", _) => &["cluster"],
            ("lease", Some("timetolive")) => &["keys"],
            ("member", Some("add")) => &["peer-urls", "learner"],
            ("member", Some("update")) => &["peer-urls"],
            ("lease", Some("keep-alive")) => &["once"],
            _ => &[],
        };
        let known: Vec<&str> = GLOBAL_FLAGS.iter().chain(local.iter()).copied().collect();
        let flags = Flags::parse(&rest, &known)?;
        let write_out = match flags.get("write-out").unwrap_or("simple") {
            "simple" => WriteOut::Simple,
            "json" => WriteOut::Json,
            "fields" => WriteOut::Fields,
            "table" => WriteOut::Table,
            "protobuf" => return Err("protobuf output is not supported by kscope's etcdctl".into()),
            _ => return Err("unsupported output format".into()),
        };
        let command_timeout_ms = match flags.get("command-timeout") {
            Some(v) => {
                let timeout = crate::duration::Duration::parse(v)
                    .map_err(|e| format!("invalid argument {v:?} for \"--command-timeout\" flag: {e}"))?;
                // kscope waits in simulated time; a day is the most one line may run.
                if timeout > crate::cluster::MAX_ADVANCE {
                    return Err(format!(
                        "invalid argument {v:?} for \"--command-timeout\" flag: kscope waits at most {}",
                        crate::cluster::MAX_ADVANCE
                    ));
                }
                timeout.ms
            }
            None => 5_000,
        };
        let endpoints = flags.get("endpoints").map(|e| e.split(',').map(str::to_string).collect());
        let command = match (name, sub.as_deref()) {
            ("put", _) => {
                if flags.args.len() != 2 {
                    return Err("put command needs 1 argument and input from stdin or 2 arguments".into());
                }
                let lease = match flags.get("lease") {
                    None => 0,
                    Some(v) => i64::from_str_radix(v, 16).map_err(|_| {
                        format!("bad lease ID (strconv.ParseInt: parsing {v:?}: invalid syntax), expecting ID in Hex")
                    })?,
                };
                EtcdctlCommand::Put {
                    key: flags.args[0].clone(),
                    value: flags.args[1].clone(),
                    prev_kv: flags.bool("prev-kv")?,
                    lease,
                }
            }
            ("get", _) => {
                let serializable = match flags.get("consistency").unwrap_or("l") {
                    "l" => false,
                    "s" => true,
                    other => return Err(format!("unknown consistency flag {other:?}")),
                };
                EtcdctlCommand::Get {
                    range: range_of("get", &flags)?,
                    rev: flags.int("rev")?,
                    limit: flags.int("limit")?,
                    keys_only: flags.bool("keys-only")?,
                    count_only: flags.bool("count-only")?,
                    print_value_only: flags.bool("print-value-only")?,
                    serializable,
                }
            }
            ("del", _) => EtcdctlCommand::Del { range: range_of("del", &flags)?, prev_kv: flags.bool("prev-kv")? },
            ("txn", _) => EtcdctlCommand::Txn,
            ("watch", _) => {
                if flags.args.is_empty() {
                    return Err(
                        "watch in non-interactive mode requires one or two arguments as key or prefix, with range end"
                            .into(),
                    );
                }
                EtcdctlCommand::Watch {
                    range: range_of("watch", &flags)?,
                    rev: flags.int("rev")?,
                    prev_kv: flags.bool("prev-kv")?,
                    progress_notify: flags.bool("progress-notify")?,
                }
            }
            ("compaction", _) => {
                let [rev] = flags.args.as_slice() else {
                    return Err("compaction command needs 1 argument".into());
                };
                let rev = rev.parse().map_err(|_| format!("strconv.ParseInt: parsing {rev:?}: invalid syntax"))?;
                EtcdctlCommand::Compaction { rev }
            }
            ("member", Some("list")) => EtcdctlCommand::MemberList,
            ("member", Some("add")) => {
                let [name] = flags.args.as_slice() else {
                    return Err("member name not provided".into());
                };
                let peer_urls: Vec<String> =
                    flags.get("peer-urls").map(|u| u.split(',').map(str::to_string).collect()).unwrap_or_default();
                EtcdctlCommand::MemberAdd { name: name.clone(), peer_urls, learner: flags.bool("learner")? }
            }
            ("member", Some(sub @ ("remove" | "promote" | "update"))) => {
                let [id] = flags.args.as_slice() else {
                    return Err("member ID is not provided".into());
                };
                let id = hex_id(id, "member")?;
                match sub {
                    "remove" => EtcdctlCommand::MemberRemove { id },
                    "promote" => EtcdctlCommand::MemberPromote { id },
                    _ => match flags.get("peer-urls") {
                        Some(urls) => EtcdctlCommand::MemberUpdate {
                            id,
                            peer_urls: urls.split(',').map(str::to_string).collect(),
                        },
                        None => return Err("member peer urls not provided".into()),
                    },
                }
            }
            ("snapshot", Some(sub @ ("save" | "status" | "restore"))) => {
                let [file] = flags.args.as_slice() else {
                    return Err(format!("snapshot {sub} expects one argument"));
                };
                let file = file.clone();
                match sub {
                    "save" => EtcdctlCommand::SnapshotSave { file },
                    "status" => EtcdctlCommand::SnapshotStatus { file },
                    _ => EtcdctlCommand::SnapshotRestore { file },
                }
            }
            ("defrag", _) => EtcdctlCommand::Defrag { cluster: flags.bool("cluster")? },
            ("alarm", Some("list")) => EtcdctlCommand::AlarmList,
            ("move-leader", _) => {
                let [id] = flags.args.as_slice() else {
                    return Err("move-leader command needs 1 argument".into());
                };
                let target = hex_id(id, "leader")?;
                EtcdctlCommand::MoveLeader { target }
            }
            ("lease", Some("grant")) => {
                let [ttl] = flags.args.as_slice() else {
                    return Err("lease grant command needs TTL argument".into());
                };
                let ttl_secs: i64 =
                    ttl.parse().map_err(|_| format!("bad TTL (strconv.ParseInt: parsing {ttl:?}: invalid syntax)"))?;
                EtcdctlCommand::LeaseGrant { ttl_secs }
            }
            ("lease", Some(sub @ ("revoke" | "timetolive" | "keep-alive"))) => {
                let [id] = flags.args.as_slice() else {
                    return Err(format!("lease {sub} command needs 1 argument"));
                };
                let id = i64::from_str_radix(id, 16).map_err(|_| {
                    format!("bad lease ID arg (strconv.ParseInt: parsing {id:?}: invalid syntax), expecting ID in Hex")
                })?;
                match sub {
                    "revoke" => EtcdctlCommand::LeaseRevoke { id },
                    "timetolive" => EtcdctlCommand::LeaseTimeToLive { id, keys: flags.bool("keys")? },
                    _ if flags.bool("once")? => EtcdctlCommand::LeaseKeepAlive { id },
                    _ => {
                        return Err(
                            "kscope's etcdctl runs lease keep-alive with --once only (one renewal per command)".into()
                        )
                    }
                }
            }
            ("lease", Some("list")) => EtcdctlCommand::LeaseList,
            ("endpoint", Some("status")) => EtcdctlCommand::EndpointStatus { cluster: flags.bool("cluster")? },
            ("endpoint", Some("health")) => EtcdctlCommand::EndpointHealth { cluster: flags.bool("cluster")? },
            ("member", Some(other))
            | ("endpoint", Some(other))
            | ("lease", Some(other))
            | ("snapshot", Some(other))
            | ("alarm", Some(other)) => return Err(format!("unknown command {other:?} for \"etcdctl {name}\"")),
            ("member", None) => return Err("member needs a sub-command: add, list, promote, remove or update".into()),
            ("endpoint", None) => return Err("endpoint needs a sub-command: status or health".into()),
            ("snapshot", None) => return Err("snapshot needs a sub-command: save, status or restore".into()),
            ("alarm", None) => return Err("alarm needs a sub-command: list".into()),
            ("lease", None) => {
                return Err("lease needs a sub-command: grant, revoke, timetolive, keep-alive or list".into())
            }
            (other, _) => {
                return Err(format!("unknown command {other:?} for \"etcdctl\"\nRun 'etcdctl --help' for usage."))
            }
        };
        Ok(Etcdctl { endpoints, write_out, command_timeout_ms, command, txn: None })
    }

    /// The request this command sends, for commands with one request.
    pub fn request(&self) -> Request {
        match &self.command {
            EtcdctlCommand::Put { key, value, lease, prev_kv } => Request::Put {
                key: key.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
                lease: *lease,
                prev_kv: *prev_kv,
            },
            EtcdctlCommand::Get { range, rev, limit, serializable, .. } => {
                Request::Range { range: range.clone(), revision: *rev, limit: *limit, serializable: *serializable }
            }
            EtcdctlCommand::Del { range, .. } => Request::DeleteRange { range: range.clone() },
            EtcdctlCommand::Compaction { rev } => Request::Compact { revision: *rev },
            EtcdctlCommand::MemberList => Request::MemberList,
            EtcdctlCommand::MemberAdd { name, peer_urls, learner } => {
                Request::MemberAdd { name: name.clone(), peer_urls: peer_urls.clone(), is_learner: *learner }
            }
            EtcdctlCommand::MemberRemove { id } => Request::MemberRemove { id: *id },
            EtcdctlCommand::MemberPromote { id } => Request::MemberPromote { id: *id },
            EtcdctlCommand::MemberUpdate { id, peer_urls } => {
                Request::MemberUpdate { id: *id, peer_urls: peer_urls.clone() }
            }
            EtcdctlCommand::MoveLeader { target } => Request::MoveLeader { target: *target },
            EtcdctlCommand::SnapshotSave { .. } => Request::Snapshot,
            EtcdctlCommand::Defrag { .. } => Request::Defragment,
            EtcdctlCommand::AlarmList => Request::AlarmList,
            // Local commands: they read a file and send nothing.
            EtcdctlCommand::SnapshotStatus { .. } | EtcdctlCommand::SnapshotRestore { .. } => Request::Status,
            EtcdctlCommand::Txn => Request::Txn(self.txn.clone().unwrap_or(Txn {
                compare: Vec::new(),
                success: Vec::new(),
                failure: Vec::new(),
            })),
            EtcdctlCommand::Watch { range, rev, prev_kv, progress_notify } => Request::Watch {
                range: range.clone(),
                start_revision: *rev,
                prev_kv: *prev_kv,
                progress_notify: *progress_notify,
            },
            EtcdctlCommand::LeaseGrant { ttl_secs } => Request::LeaseGrant { ttl_secs: *ttl_secs, id: 0 },
            EtcdctlCommand::LeaseRevoke { id } => Request::LeaseRevoke { id: *id },
            EtcdctlCommand::LeaseTimeToLive { id, keys } => Request::LeaseTimeToLive { id: *id, keys: *keys },
            EtcdctlCommand::LeaseKeepAlive { id } => Request::LeaseKeepAlive { id: *id },
            EtcdctlCommand::LeaseList => Request::LeaseLeases,
            EtcdctlCommand::EndpointStatus { .. } => Request::Status,
            // etcdctl's health check is a linearizable get of the key "health".
            EtcdctlCommand::EndpointHealth { .. } => {
                Request::Range { range: KeyRange::single(b"health"), revision: 0, limit: 0, serializable: false }
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn header_json(h: &ResponseHeader) -> serde_json::Value {
    let mut v = json!({"cluster_id": h.cluster_id, "member_id": h.member_id});
    if h.revision != 0 {
        v["revision"] = json!(h.revision);
    }
    v["raft_term"] = json!(h.raft_term);
    v
}

fn kv_json(kv: &KeyValue) -> serde_json::Value {
    let mut v = json!({
        "key": base64(&kv.key),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
    });
    if !kv.value.is_empty() {
        v["value"] = json!(base64(&kv.value));
    }
    if kv.lease != 0 {
        v["lease"] = json!(kv.lease);
    }
    v
}

fn kv_simple(out: &mut String, kv: &KeyValue, keys_only: bool, value_only: bool) {
    if !value_only {
        out.push_str(&text(&kv.key));
        out.push('\n');
    }
    if !keys_only {
        out.push_str(&text(&kv.value));
        out.push('\n');
    } else if !value_only {
        out.push('\n');
    }
}

fn header_fields(out: &mut String, h: &ResponseHeader) {
    out.push_str(&format!(
        "\"ClusterID\" : {}\n\"MemberID\" : {}\n\"Revision\" : {}\n\"RaftTerm\" : {}\n",
        h.cluster_id, h.member_id, h.revision, h.raft_term
    ));
}

fn kv_fields(out: &mut String, kv: &KeyValue) {
    out.push_str(&format!(
        "\"Key\" : {:?}\n\"CreateRevision\" : {}\n\"ModRevision\" : {}\n\"Version\" : {}\n\"Value\" : {:?}\n\"Lease\" : {}\n",
        text(&kv.key),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        text(&kv.value),
        kv.lease
    ));
}

/// A table as etcdctl draws it (olekukonko/tablewriter with right-aligned
/// cells and centred headers).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| rows.iter().map(|r| r[i].chars().count()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let rule = format!("+{}+\n", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let mut out = rule.clone();
    out.push('|');
    for (h, w) in headers.iter().zip(&widths) {
        let gap = w - h.len();
        out.push_str(&format!(" {}{}{} |", " ".repeat(gap / 2), h, " ".repeat(gap - gap / 2)));
    }
    out.push('\n');
    out.push_str(&rule);
    for row in rows {
        out.push('|');
        for (cell, w) in row.iter().zip(&widths) {
            out.push_str(&format!(" {cell:>w$} |"));
        }
        out.push('\n');
    }
    out.push_str(&rule);
    out
}

/// go-humanize's `Bytes`: SI units, as etcdctl prints DB SIZE.
pub fn humanize_bytes(n: i64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exp = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let value = n as f64 / 1000f64.powi(exp as i32);
    if value < 10.0 {
        format!("{value:.1} {}", units[exp])
    } else {
        format!("{value:.0} {}", units[exp])
    }
}

/// Parses one compare line of `etcdctl txn`: `mod("key") > "0"`,
/// `val("key") = "v"`, `ver(...)`, `create(...)`, `lease(...)` (etcdctl's
/// txn_command.go `parseCompare`).
pub fn parse_compare(line: &str) -> Result<Compare, String> {
    let malformed = |why: &str| format!("malformed comparison: {line}{why}");
    let Some((target, rest)) = line.split_once('(') else {
        return Err(malformed(""));
    };
    let words = crate::command::split_words(rest).map_err(|e| malformed(&format!(" ({e})")))?;
    // After shell-style splitting, `"key") > "0"` is [key), >, 0].
    let [key_paren, op, value] = words.as_slice() else {
        return Err(malformed(""));
    };
    let Some(key) = key_paren.strip_suffix(')') else {
        return Err(malformed(""));
    };
    let result = match op.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        "<" => CompareResult::Less,
        ">" => CompareResult::Greater,
        other => return Err(malformed(&format!(" (unknown op {other})"))),
    };
    let number = || value.parse::<i64>().map_err(|_| format!("invalid txn compare request: {line}"));
    let target = match target.trim() {
        "ver" | "version" => CompareTarget::Version(number()?),
        "c" | "create" => CompareTarget::Create(number()?),
        "m" | "mod" => CompareTarget::Mod(number()?),
        "val" | "value" => CompareTarget::Value(value.as_bytes().to_vec()),
        "lease" => CompareTarget::Lease(
            i64::from_str_radix(value, 16).map_err(|_| format!("invalid txn compare request: {line}"))?,
        ),
        other => return Err(malformed(&format!(" (unknown target {other})"))),
    };
    Ok(Compare { key: key.as_bytes().to_vec(), target, result })
}

/// Parses one request line of `etcdctl txn` (`put k v`, `get k --prefix`, `del k`).
pub fn parse_txn_op(line: &str) -> Result<TxnOp, String> {
    let words = crate::command::split_words(line)?;
    let invalid = || format!("invalid txn request: {line}");
    match words.first().map(String::as_str) {
        Some("put" | "get" | "del") => {}
        _ => return Err(invalid()),
    }
    let parsed = Etcdctl::parse(&words)?;
    Ok(match parsed.command {
        EtcdctlCommand::Put { key, value, lease, .. } => {
            TxnOp::Put { key: key.into_bytes(), value: value.into_bytes(), lease }
        }
        EtcdctlCommand::Get { range, limit, .. } => TxnOp::Range { range, limit },
        EtcdctlCommand::Del { range, .. } => TxnOp::DeleteRange { range },
        _ => return Err(invalid()),
    })
}

/// Formats one watch response as etcdctl's simple printer does: the event
/// type, the previous key-value if asked for, then the key and value.
pub fn format_watch(w: &WatchResponse, json_out: bool, h: &ResponseHeader) -> String {
    if json_out {
        let events: Vec<serde_json::Value> = w
            .events
            .iter()
            .map(|e| {
                let mut v = json!({});
                if e.kind == EventKind::Delete {
                    v["type"] = json!(1);
                }
                v["kv"] = kv_json(&e.kv);
                if let Some(prev) = &e.prev_kv {
                    v["prev_kv"] = kv_json(prev);
                }
                v
            })
            .collect();
        let mut v = json!({"Header": header_json(h), "Events": events, "CompactRevision": w.compact_revision});
        v["Canceled"] = json!(w.canceled);
        v["Created"] = json!(w.created);
        return format!("{v}\n");
    }
    let mut out = String::new();
    if w.canceled && w.compact_revision > 0 {
        out.push_str(&format!("watch was canceled ({})\n", w.cancel_reason));
        return out;
    }
    for e in &w.events {
        out.push_str(match e.kind {
            EventKind::Put => "PUT\n",
            EventKind::Delete => "DELETE\n",
        });
        if let Some(prev) = &e.prev_kv {
            kv_simple(&mut out, prev, false, false);
        }
        kv_simple(&mut out, &e.kv, false, false);
    }
    out
}

/// Formats a successful reply the way etcdctl prints it.
pub fn format_reply(cmd: &Etcdctl, response: &Response, reply: &Reply) -> Result<String, String> {
    let h = &response.header;
    let mut out = String::new();
    match (&cmd.command, reply, cmd.write_out) {
        (_, _, WriteOut::Table) if !matches!(cmd.command, EtcdctlCommand::MemberList) => {
            return Err("table not supported as output format".into());
        }
        (EtcdctlCommand::Put { prev_kv, .. }, Reply::Put { prev_kv: prev }, WriteOut::Simple) => {
            out.push_str("OK\n");
            if let (true, Some(prev)) = (prev_kv, prev) {
                kv_simple(&mut out, prev, false, false);
            }
        }
        (EtcdctlCommand::Put { .. }, Reply::Put { prev_kv: prev }, WriteOut::Json) => {
            let mut v = json!({"header": header_json(h)});
            if let Some(prev) = prev {
                v["prev_kv"] = kv_json(prev);
            }
            out = format!("{v}\n");
        }
        (EtcdctlCommand::Get { keys_only, count_only, print_value_only, .. }, Reply::Range(r), WriteOut::Simple) => {
            if *count_only {
                out = format!("{}\n", r.count);
            } else {
                for kv in &r.kvs {
                    kv_simple(&mut out, kv, *keys_only, *print_value_only);
                }
            }
        }
        (EtcdctlCommand::Get { keys_only, count_only, .. }, Reply::Range(r), WriteOut::Json) => {
            let mut v = json!({"header": header_json(h)});
            if !r.kvs.is_empty() && !count_only {
                v["kvs"] = r
                    .kvs
                    .iter()
                    .map(|kv| {
                        let mut j = kv_json(kv);
                        if *keys_only {
                            j.as_object_mut().expect("object").remove("value");
                        }
                        j
                    })
                    .collect();
            }
            if r.more {
                v["more"] = json!(true);
            }
            if r.count != 0 {
                v["count"] = json!(r.count);
            }
            out = format!("{v}\n");
        }
        (EtcdctlCommand::Get { .. }, Reply::Range(r), WriteOut::Fields) => {
            header_fields(&mut out, h);
            for kv in &r.kvs {
                kv_fields(&mut out, kv);
            }
            out.push_str(&format!("\"More\" : {}\n\"Count\" : {}\n", r.more, r.count));
        }
        (EtcdctlCommand::Del { prev_kv, .. }, Reply::DeleteRange { prev_kvs }, WriteOut::Simple) => {
            out = format!("{}\n", prev_kvs.len());
            if *prev_kv {
                for kv in prev_kvs {
                    kv_simple(&mut out, kv, false, false);
                }
            }
        }
        (EtcdctlCommand::Del { prev_kv, .. }, Reply::DeleteRange { prev_kvs }, WriteOut::Json) => {
            let mut v = json!({"header": header_json(h)});
            if !prev_kvs.is_empty() {
                v["deleted"] = json!(prev_kvs.len());
            }
            if *prev_kv && !prev_kvs.is_empty() {
                v["prev_kvs"] = prev_kvs.iter().map(kv_json).collect();
            }
            out = format!("{v}\n");
        }
        (EtcdctlCommand::Compaction { rev }, Reply::Compact, _) => out = format!("compacted revision {rev}\n"),
        (_, Reply::Txn { succeeded, responses }, WriteOut::Json) => {
            let mut v = json!({"header": header_json(h)});
            if *succeeded {
                v["succeeded"] = json!(true);
            }
            if !responses.is_empty() {
                v["responses"] = json!(responses.len());
            }
            out = format!("{v}\n");
        }
        (_, Reply::Txn { succeeded, responses }, _) => {
            out.push_str(if *succeeded { "SUCCESS\n" } else { "FAILURE\n" });
            for r in responses {
                out.push('\n');
                match r {
                    Reply::Put { .. } => out.push_str("OK\n"),
                    Reply::DeleteRange { prev_kvs } => out.push_str(&format!("{}\n", prev_kvs.len())),
                    Reply::Range(range) => range.kvs.iter().for_each(|kv| kv_simple(&mut out, kv, false, false)),
                    _ => {}
                }
            }
        }
        (EtcdctlCommand::MemberList, Reply::MemberList(members), w) => out = format_members(h, members, w),
        (EtcdctlCommand::MemberAdd { name, .. }, Reply::MemberAdd { member, members }, _) => {
            let learner = if member.is_learner { " as learner " } else { " " };
            out = format!("Member {:16x} added{learner}to cluster {:16x}\n", member.id, h.cluster_id);
            let conf: Vec<String> = members
                .iter()
                .flat_map(|m| {
                    let n = if m.id == member.id { name.clone() } else { m.name.clone() };
                    m.peer_urls.iter().map(move |u| format!("{n}={u}"))
                })
                .collect();
            out.push_str(&format!(
                "\nETCD_NAME={name:?}\nETCD_INITIAL_CLUSTER={:?}\nETCD_INITIAL_ADVERTISE_PEER_URLS={:?}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
                conf.join(","),
                member.peer_urls.join(",")
            ));
        }
        (EtcdctlCommand::MemberRemove { id }, _, _) => {
            out = format!("Member {id:16x} removed from cluster {:16x}\n", h.cluster_id)
        }
        (EtcdctlCommand::MemberPromote { id }, _, _) => {
            out = format!("Member {id:16x} promoted in cluster {:16x}\n", h.cluster_id)
        }
        (EtcdctlCommand::MemberUpdate { id, .. }, _, _) => {
            out = format!("Member {id:16x} updated in cluster {:16x}\n", h.cluster_id)
        }
        (_, Reply::AlarmList(alarms), _) => {
            for alarm in alarms {
                out.push_str(&format!("{alarm}\n"));
            }
        }
        (_, Reply::LeaseGrant { id, ttl_secs }, WriteOut::Json) => {
            let mut v = header_json(h);
            v["ID"] = json!(id);
            v["TTL"] = json!(ttl_secs);
            v["Error"] = json!("");
            out = format!("{v}\n");
        }
        (_, Reply::LeaseGrant { id, ttl_secs }, _) => out = format!("lease {id:016x} granted with TTL({ttl_secs}s)\n"),
        (EtcdctlCommand::LeaseRevoke { id }, Reply::LeaseRevoke, _) => out = format!("lease {id:016x} revoked\n"),
        (_, Reply::LeaseKeepAlive { id, ttl_secs }, _) => {
            out = format!("lease {id:016x} keepalived with TTL({ttl_secs})\n")
        }
        (_, Reply::LeaseTimeToLive { id, ttl_secs: -1, .. }, _) => out = format!("lease {id:016x} already expired\n"),
        (
            EtcdctlCommand::LeaseTimeToLive { keys: show_keys, .. },
            Reply::LeaseTimeToLive { id, ttl_secs, granted_ttl_secs, keys },
            _,
        ) => {
            out = format!("lease {id:016x} granted with TTL({granted_ttl_secs}s), remaining({ttl_secs}s)");
            if *show_keys {
                let names: Vec<String> = keys.iter().map(|k| text(k)).collect();
                out.push_str(&format!(", attached keys([{}])", names.join(" ")));
            }
            out.push('\n');
        }
        (_, Reply::LeaseLeases(ids), _) => {
            out = format!("found {} leases\n", ids.len());
            for id in ids {
                out.push_str(&format!("{id:016x}\n"));
            }
        }
        (_, _, WriteOut::Fields) => {
            header_fields(&mut out, h);
        }
        _ => out = format!("{}\n", json!({"header": header_json(h)})),
    }
    Ok(out)
}

fn format_members(h: &ResponseHeader, members: &[Member], w: WriteOut) -> String {
    let row = |m: &Member| {
        vec![
            format!("{:x}", m.id),
            if m.name.is_empty() { "unstarted" } else { "started" }.to_string(),
            m.name.clone(),
            m.peer_urls.join(","),
            m.client_urls.join(","),
            m.is_learner.to_string(),
        ]
    };
    match w {
        WriteOut::Table => table(
            &["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
            &members.iter().map(row).collect::<Vec<_>>(),
        ),
        WriteOut::Json => {
            let list: Vec<serde_json::Value> = members
                .iter()
                .map(|m| {
                    let mut v =
                        json!({"ID": m.id, "name": m.name, "peerURLs": m.peer_urls, "clientURLs": m.client_urls});
                    if m.is_learner {
                        v["isLearner"] = json!(true);
                    }
                    v
                })
                .collect();
            let mut header = header_json(h);
            header.as_object_mut().expect("object").remove("revision");
            format!("{}\n", json!({"header": header, "members": list}))
        }
        _ => members.iter().map(|m| format!("{}\n", row(m).join(", "))).collect(),
    }
}

/// `snapshot status` of a snapshot blob: hash, revision, total keys, size.
pub fn format_snapshot_status(data: &[u8], revision: i64, keys: usize, w: WriteOut) -> String {
    let hash = crate::trace::fnv1a(0xcbf2_9ce4_8422_2325, data) as u32;
    let size = data.len() as i64;
    match w {
        WriteOut::Table => table(
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
            &[vec![format!("{hash:x}"), revision.to_string(), keys.to_string(), humanize_bytes(size)]],
        ),
        WriteOut::Json => {
            format!("{}\n", json!({"hash": hash, "revision": revision, "totalKey": keys, "totalSize": size}))
        }
        _ => format!("{hash:x}, {revision}, {keys}, {}\n", humanize_bytes(size)),
    }
}

/// One endpoint's `endpoint status` row.
pub fn status_row(endpoint: &str, h: &ResponseHeader, s: &Status) -> Vec<String> {
    vec![
        endpoint.to_string(),
        format!("{:x}", h.member_id),
        s.version.clone(),
        humanize_bytes(s.db_size),
        (s.leader == h.member_id).to_string(),
        s.is_learner.to_string(),
        s.raft_term.to_string(),
        s.raft_index.to_string(),
        s.raft_applied_index.to_string(),
        s.errors.join(", "),
    ]
}

/// Formats `endpoint status` for every endpoint that answered.
pub fn format_status(rows: &[(String, ResponseHeader, Status)], w: WriteOut) -> String {
    match w {
        WriteOut::Table => table(
            &[
                "ENDPOINT",
                "ID",
                "VERSION",
                "DB SIZE",
                "IS LEADER",
                "IS LEARNER",
                "RAFT TERM",
                "RAFT INDEX",
                "RAFT APPLIED INDEX",
                "ERRORS",
            ],
            &rows.iter().map(|(e, h, s)| status_row(e, h, s)).collect::<Vec<_>>(),
        ),
        WriteOut::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(e, h, s)| {
                    json!({"Endpoint": e, "Status": {
                        "header": header_json(h), "version": s.version, "dbSize": s.db_size, "leader": s.leader,
                        "raftIndex": s.raft_index, "raftTerm": s.raft_term, "raftAppliedIndex": s.raft_applied_index,
                        "dbSizeInUse": s.db_size,
                    }})
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        _ => rows.iter().map(|(e, h, s)| format!("{}\n", status_row(e, h, s).join(", "))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Etcdctl, String> {
        Etcdctl::parse(&crate::command::split_words(line).unwrap())
    }

    #[test]
    fn parses_like_etcdctl() {
        let c = parse("get foo --prefix --limit 2 -w json").unwrap();
        assert_eq!(c.write_out, WriteOut::Json);
        assert!(
            matches!(c.command, EtcdctlCommand::Get { ref range, limit: 2, .. } if *range == KeyRange::prefix(b"foo"))
        );
        let c = parse("--endpoints=etcd-2 put k v --prev-kv").unwrap();
        assert_eq!(c.endpoints, Some(vec!["etcd-2".to_string()]));
        assert!(matches!(c.command, EtcdctlCommand::Put { prev_kv: true, .. }));
        assert_eq!(parse("member list -w table").unwrap().command, EtcdctlCommand::MemberList);
        assert_eq!(
            parse("endpoint status --cluster").unwrap().command,
            EtcdctlCommand::EndpointStatus { cluster: true }
        );
        assert!(matches!(parse("put k v --lease 1f").unwrap().command, EtcdctlCommand::Put { lease: 31, .. }));
        assert!(
            matches!(parse("put -- k -v").unwrap().command, EtcdctlCommand::Put { ref value, .. } if value == "-v")
        );
    }

    #[test]
    fn errors_are_etcdctls() {
        let cases = [
            ("put a 1 --bogus", "unknown flag: --bogus"),
            ("put onlykey", "put command needs 1 argument and input from stdin or 2 arguments"),
            ("get", "get command needs one argument as key and an optional argument as range_end"),
            ("del", "del command needs one argument as key and an optional argument as range_end"),
            ("get a --prefix --from-key", "`--prefix` and `--from-key` cannot be set at the same time, choose one"),
            (
                "get a --rev x",
                "invalid argument \"x\" for \"--rev\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
            ),
            (
                "get a --limit x",
                "invalid argument \"x\" for \"--limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
            ),
            ("compaction", "compaction command needs 1 argument"),
            ("compaction x", "strconv.ParseInt: parsing \"x\": invalid syntax"),
            (
                "put a 1 --lease xyz",
                "bad lease ID (strconv.ParseInt: parsing \"xyz\": invalid syntax), expecting ID in Hex",
            ),
            ("get a -w yaml", "unsupported output format"),
            ("get k -é", "unknown shorthand flag: 'é' in -é"),
            ("frob", "unknown command \"frob\" for \"etcdctl\"\nRun 'etcdctl --help' for usage."),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).unwrap_err(), want, "{line}");
        }
    }

    #[test]
    fn txn_lines() {
        let c = parse_compare(r#"mod("key1") > "0""#).unwrap();
        assert_eq!(
            (c.key.as_slice(), c.target, c.result),
            (&b"key1"[..], CompareTarget::Mod(0), CompareResult::Greater)
        );
        let c = parse_compare(r#"val("key1") = "v 1""#).unwrap();
        assert_eq!(c.target, CompareTarget::Value(b"v 1".to_vec()));
        assert_eq!(
            parse_compare(r#"bogus("k") = "1""#).unwrap_err(),
            r#"malformed comparison: bogus("k") = "1" (unknown target bogus)"#
        );
        assert_eq!(
            parse_compare(r#"ver("key1") = "x""#).unwrap_err(),
            r#"invalid txn compare request: ver("key1") = "x""#
        );
        assert_eq!(parse_txn_op("frob a").unwrap_err(), "invalid txn request: frob a");
        assert_eq!(
            parse_txn_op("put a").unwrap_err(),
            "put command needs 1 argument and input from stdin or 2 arguments"
        );
        assert!(matches!(parse_txn_op(r#"put k "v v""#).unwrap(), TxnOp::Put { value, .. } if value == b"v v"));
    }

    #[test]
    fn base64_and_humanize_and_table() {
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"bar2"), "YmFyMg==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(humanize_bytes(20_480), "20 kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5 MB");
        // The real etcdctl's member list table, byte for byte.
        let t = table(
            &["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
            &[vec![
                "8e9e05c52164694d".into(),
                "started".into(),
                "default".into(),
                "http://localhost:2380".into(),
                "http://127.0.0.1:2379".into(),
                "false".into(),
            ]],
        );
        let want = "\
+------------------+---------+---------+-----------------------+-----------------------+------------+
|        ID        | STATUS  |  NAME   |      PEER ADDRS       |     CLIENT ADDRS      | IS LEARNER |
+------------------+---------+---------+-----------------------+-----------------------+------------+
| 8e9e05c52164694d | started | default | http://localhost:2380 | http://127.0.0.1:2379 |      false |
+------------------+---------+---------+-----------------------+-----------------------+------------+
";
        assert_eq!(t, want);
    }
}
