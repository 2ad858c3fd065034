//! Running kubectl commands: each is one or more REST requests from the
//! `kubectl` client to kube-apiserver over the simulated network, and the
//! console waits in simulated time for each answer.

use super::printers::{self, kind_prefix, TableOptions};
use super::{read_manifests, Kubectl, Manifest};
use crate::apimachinery::errors::StatusError;
use crate::apimachinery::request::with_query;
use crate::apimachinery::resources::{self, Resource, RESOURCES};
use crate::cluster::{Cluster, CommandOutput};
use crate::component_id::ComponentId;
use crate::kube_apiserver::patch::{JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH};
use crate::message::{ApiRequest, Method, Payload};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// The apiserver's address as the kubeconfig names it.
pub const SERVER: &str = "https://172.18.0.2:6443";
/// The annotation client-side apply keeps the applied configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// How long kubectl waits for an answer (the apiserver itself gives up at 60 s).
const CLIENT_TIMEOUT_MS: u64 = 65_000;

/// A `kubectl get -w` streaming into the console.
pub(crate) struct KubeWatch {
    client: String,
    request_id: u64,
    resource: &'static Resource,
    opts: TableOptions,
    header: Vec<String>,
}

/// The answer to one request, or why there was none.
enum Answer {
    Ok(Value),
    Failed(StatusError),
}

/// Output being built: stdout and stderr lines, and whether anything failed.
#[derive(Default)]
struct Out {
    text: String,
    failed: bool,
}

impl Out {
    fn line(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn error(&mut self, text: impl AsRef<str>) {
        self.failed = true;
        self.line(text);
    }

    /// kubectl's `CheckErr` wording of a server error (cmd/util/helpers.go).
    fn server_error(&mut self, e: &StatusError) {
        self.error(server_error_text(e));
    }

    fn done(self) -> CommandOutput {
        CommandOutput { text: self.text, ok: !self.failed }
    }
}

/// The object client-side apply sends: `object` in `namespace`, with the
/// configuration as applied (without status) in the last-applied annotation.
pub fn with_last_applied(object: &Value, namespace: Option<&str>) -> Value {
    let mut applied = object.clone();
    if let Some(map) = applied.as_object_mut() {
        map.remove("status");
    }
    if let Some(ns) = namespace {
        applied["metadata"]["namespace"] = json!(ns);
    }
    let mut annotated_config = applied.clone();
    if let Some(a) = annotated_config["metadata"].get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
    }
    let last_applied = format!("{}\n", annotated_config);
    let mut desired = object.clone();
    if let Some(ns) = namespace {
        desired["metadata"]["namespace"] = json!(ns);
    }
    let annotations = desired["metadata"].as_object_mut().map(|m| m.entry("annotations").or_insert(json!({})));
    if let Some(a) = annotations {
        a[LAST_APPLIED] = json!(last_applied);
    }
    desired
}

/// How kubectl prints a server error: Invalid as `The Kind "name" is invalid:`
/// with its causes, others as `Error from server (Reason): message`.
pub fn server_error_text(e: &StatusError) -> String {
    // Code 0: kubectl never reached the server (connection refused, timeout).
    if e.code == 0 {
        return e.message.clone();
    }
    if e.reason == "Invalid" && (!e.kind.is_empty() || !e.name.is_empty()) {
        let head = format!("The {} \"{}\" is invalid: ", e.kind, e.name);
        let causes: Vec<String> = e.causes.iter().map(ToString::to_string).collect();
        return match causes.as_slice() {
            [] => format!("{head}{}", e.message.split(" is invalid: ").nth(1).unwrap_or(&e.message)),
            [one] => format!("{head}{one}"),
            many => format!("{head}\n{}", many.iter().map(|c| format!("* {c}")).collect::<Vec<_>>().join("\n")),
        };
    }
    if e.reason.is_empty() {
        format!("Error from server: {}", e.message)
    } else {
        format!("Error from server ({}): {}", e.reason, e.message)
    }
}

fn error_with_source(e: &StatusError, verb: &str, source: &str) -> StatusError {
    let mut e = e.clone();
    if e.reason != "Invalid" && e.code != 0 {
        e.message = format!("error when {verb} \"{source}\": {}", e.message);
    }
    e
}

fn meta<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

/// `deployment.apps/web` for an object of `resource`.
fn object_ref(resource: &Resource, name: &str) -> String {
    format!("{}/{name}", kind_prefix(resource))
}

fn unknown_type(name: &str) -> String {
    format!("error: the server doesn't have a resource type \"{name}\"")
}

impl Cluster {
    /// Sends one request as kubectl and waits for the answer.
    fn api(&mut self, cmd: &Kubectl, request: ApiRequest) -> Answer {
        let client = "kubectl";
        let request_id = self.next_client_request;
        self.next_client_request += 1;
        let mut request = request;
        request.request_id = request_id;
        request.impersonate = cmd.flag("as").map(str::to_string);
        request.impersonate_groups = cmd.flag_list("as-group");
        let running = self.sim.components().any(|(id, _, up)| *id == ComponentId::ApiServer && up);
        if !running {
            let mut e = StatusError::unavailable(format!(
                "The connection to the server {} was refused - did you specify the right host or port?",
                SERVER.trim_start_matches("https://")
            ));
            e.code = 0;
            return Answer::Failed(e);
        }
        let deadline = self.now_ms() + CLIENT_TIMEOUT_MS;
        self.sim.send_as_client(client, ComponentId::ApiServer, Payload::ApiRequest(request));
        loop {
            for envelope in self.sim.take_client_inbox(client) {
                if let Payload::ApiResponse(r) = envelope.payload {
                    if r.request_id == request_id {
                        let body = r.body.unwrap_or(Value::Null);
                        return if r.code < 300 {
                            Answer::Ok(body)
                        } else {
                            Answer::Failed(StatusError::from_status(r.code, &body))
                        };
                    }
                }
            }
            match self.sim.next_event_ms() {
                Some(t) if t <= deadline => {
                    if let Err(e) = self.sim.run_until(t) {
                        return Answer::Failed(StatusError::internal(e));
                    }
                }
                _ => {
                    let _ = self.sim.run_until(deadline);
                    let mut e = StatusError::timeout(format!(
                        "Unable to connect to the server: dial tcp {}: i/o timeout",
                        SERVER.trim_start_matches("https://")
                    ));
                    e.reason = "";
                    e.code = 0;
                    return Answer::Failed(e);
                }
            }
        }
    }

    fn api_get(&mut self, cmd: &Kubectl, path: String) -> Result<Value, StatusError> {
        match self.api(cmd, ApiRequest::new(0, Method::Get, path)) {
            Answer::Ok(v) => Ok(v),
            Answer::Failed(e) => Err(e),
        }
    }

    fn api_send(
        &mut self,
        cmd: &Kubectl,
        method: Method,
        path: String,
        body: Value,
        content_type: Option<&str>,
    ) -> Result<Value, StatusError> {
        let mut request = ApiRequest::new(0, method, path).with_body(body);
        request.content_type = content_type.map(str::to_string);
        match self.api(cmd, request) {
            Answer::Ok(v) => Ok(v),
            Answer::Failed(e) => Err(e),
        }
    }

    /// Runs a kubectl command.
    pub(crate) fn kubectl(&mut self, cmd: &Kubectl) -> CommandOutput {
        let mut out = Out::default();
        if let Some(ns) = cmd.flag("namespace").filter(|ns| !ns.is_empty()) {
            if let Err(e) = check_name(ns) {
                out.error(e.replace("resource name", "namespace"));
                return out.done();
            }
        }
        let result = match cmd.verb.as_str() {
            "get" => self.kubectl_get(cmd, &mut out),
            "describe" => self.kubectl_describe(cmd, &mut out),
            "apply" => self.kubectl_apply(cmd, &mut out),
            "create" => self.kubectl_create(cmd, &mut out),
            "delete" => self.kubectl_delete(cmd, &mut out),
            "scale" => self.kubectl_scale(cmd, &mut out),
            "patch" => self.kubectl_patch(cmd, &mut out),
            "replace" => self.kubectl_replace(cmd, &mut out),
            "label" | "annotate" => self.kubectl_label(cmd, &mut out),
            "cordon" | "uncordon" => self.kubectl_cordon(cmd, &mut out),
            "drain" => self.kubectl_drain(cmd, &mut out),
            "taint" => self.kubectl_taint(cmd, &mut out),
            "set" => self.kubectl_set(cmd, &mut out),
            "rollout" => self.kubectl_rollout(cmd, &mut out),
            "run" => self.kubectl_run(cmd, &mut out),
            "expose" => self.kubectl_expose(cmd, &mut out),
            "logs" => self.kubectl_logs(cmd, &mut out),
            "auth" => self.kubectl_auth(cmd, &mut out),
            "api-resources" => {
                kubectl_api_resources(cmd, &mut out);
                Ok(())
            }
            "version" => self.kubectl_version(cmd, &mut out),
            "cluster-info" => self.kubectl_cluster_info(cmd, &mut out),
            _ => Err(format!("error: unknown command {:?} for \"kubectl\"", cmd.verb)),
        };
        if let Err(message) = result {
            out.error(message);
        }
        out.done()
    }

    /// The namespace to use (`-n`, else `default`); `-n ""` means the default too.
    fn namespace(&self, cmd: &Kubectl) -> String {
        match cmd.flag("namespace") {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => "default".to_string(),
        }
    }

    /// The manifests named by `-f` (`-` is the heredoc typed after the command).
    fn manifests(&self, cmd: &Kubectl) -> Result<Vec<Manifest>, String> {
        let files = cmd.flags.get("filename").cloned().unwrap_or_default();
        let mut out = Vec::new();
        for file in files {
            let (text, source) = if file == "-" {
                match &cmd.stdin {
                    Some(text) => (text.clone(), "STDIN".to_string()),
                    None => return Err(
                        "error: no objects passed to apply (type the manifest after `-f - <<EOF` and end it with EOF)"
                            .into(),
                    ),
                }
            } else {
                match self.files.get(&file) {
                    Some(bytes) => (String::from_utf8_lossy(bytes).into_owned(), file.clone()),
                    None => return Err(format!("error: the path \"{file}\" does not exist")),
                }
            };
            out.extend(read_manifests(&text, &source).map_err(|e| format!("error: {e}"))?);
        }
        Ok(out)
    }

    /// Finds the resource of a manifest, checking what kubectl's client-side
    /// validation checks.
    fn manifest_resource(manifest: &Manifest) -> Result<&'static Resource, String> {
        let o = &manifest.object;
        let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let mut missing = Vec::new();
        if api_version.is_empty() {
            missing.push("apiVersion not set");
        }
        if kind.is_empty() {
            missing.push("kind not set");
        }
        if !missing.is_empty() {
            return Err(format!(
                "error: error validating \"{}\": error validating data: [{}]; if you choose to ignore these errors, turn validation off with --validate=false",
                manifest.source,
                missing.join(", ")
            ));
        }
        // What kubectl's schema validation catches before anything is sent.
        let type_name = |v: &Value| match v {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Array(_) => "array",
            Value::Null => "null",
            Value::Object(_) => "map",
        };
        let invalid = |path: &str, schema: &str, got: &Value| {
            format!(
                "error: error validating \"{}\": error validating data: ValidationError({kind}.{path}): invalid type for {schema}: got \"{}\", expected \"map\"; if you choose to ignore these errors, turn validation off with --validate=false",
                manifest.source,
                type_name(got)
            )
        };
        if let Some(m) = o.get("metadata").filter(|m| !m.is_object()) {
            return Err(invalid("metadata", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", m));
        }
        for field in ["labels", "annotations"] {
            if let Some(v) = o.pointer(&format!("/metadata/{field}")).filter(|v| !v.is_object() && !v.is_null()) {
                return Err(invalid(
                    &format!("metadata.{field}"),
                    &format!("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.{field}"),
                    v,
                ));
            }
        }
        resources::by_kind(api_version, kind).ok_or_else(|| {
            format!(
                "error: resource mapping not found for name: {:?} namespace: {:?} from {:?}: no matches for kind {kind:?} in version {api_version:?}\nensure CRDs are installed first",
                meta(o, "name"),
                meta(o, "namespace"),
                manifest.source
            )
        })
    }

    fn manifest_namespace(&self, cmd: &Kubectl, resource: &Resource, object: &Value) -> Result<Option<String>, String> {
        if !resource.namespaced {
            return Ok(None);
        }
        let flag = cmd.flag("namespace");
        let own = meta(object, "namespace");
        match (flag, own) {
            (Some(f), o) if !o.is_empty() && o != f => Err(format!(
                "error: the namespace from the provided object \"{o}\" does not match the namespace \"{f}\". You must pass '--namespace={o}' to perform this operation."
            )),
            (_, o) if !o.is_empty() => Ok(Some(o.to_string())),
            (Some(f), _) => Ok(Some(f.to_string())),
            _ => Ok(Some("default".to_string())),
        }
    }

    /// The resource and namespace a manifest goes to.
    fn manifest_target(&self, cmd: &Kubectl, m: &Manifest) -> Result<(&'static Resource, Option<String>), String> {
        let r = Self::manifest_resource(m)?;
        Ok((r, self.manifest_namespace(cmd, r, &m.object)?))
    }

    fn dry_run(cmd: &Kubectl) -> Result<Option<&'static str>, String> {
        match cmd.flag("dry-run") {
            None | Some("none") => Ok(None),
            Some("client") => Ok(Some("client")),
            Some("server") => Ok(Some("server")),
            Some(other) => {
                Err(format!("error: Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."))
            }
        }
    }

    fn print_result(
        &self,
        cmd: &Kubectl,
        out: &mut Out,
        resource: &Resource,
        object: &Value,
        action: &str,
        dry: Option<&str>,
    ) {
        let name = meta(object, "name");
        match cmd.flag("output") {
            Some("yaml") => out.text.push_str(&printers::to_yaml(object)),
            Some("json") => out.text.push_str(&printers::to_json(object)),
            Some("name") => out.line(object_ref(resource, name)),
            _ => {
                let suffix = match dry {
                    Some("client") => " (dry run)",
                    Some("server") => " (server dry run)",
                    _ => "",
                };
                out.line(format!("{} {action}{suffix}", object_ref(resource, name)));
            }
        }
    }

    // ---- get -------------------------------------------------------------

    /// The types and names a `get`/`describe`/`delete` addresses: `pods`,
    /// `pods x y`, `po,svc`, `pod/x svc/y`, `all`.
    fn targets(args: &[String]) -> Result<Vec<(&'static Resource, Vec<String>)>, String> {
        let mut out: Vec<(&'static Resource, Vec<String>)> = Vec::new();
        if args.is_empty() {
            return Ok(out);
        }
        // client-go refuses names that cannot be one path segment before sending.
        let names = args.iter().skip(1).chain(args.iter().filter(|a| a.contains('/')));
        for name in names {
            check_name(name.split_once('/').map_or(name.as_str(), |(_, n)| n))?;
        }
        if args.iter().any(|a| a.contains('/')) {
            for a in args {
                let Some((kind, name)) = a.split_once('/') else {
                    return Err("error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'".into());
                };
                let r = resources::resolve(kind).ok_or_else(|| unknown_type(kind))?;
                match out.iter_mut().find(|(res, _)| std::ptr::eq(*res, r)) {
                    Some((_, names)) => names.push(name.to_string()),
                    None => out.push((r, vec![name.to_string()])),
                }
            }
            return Ok(out);
        }
        let names: Vec<String> = args[1..].to_vec();
        for kind in args[0].split(',') {
            if kind == "all" {
                for plural in ["pods", "services", "replicationcontrollers", "daemonsets", "deployments", "replicasets"]
                {
                    out.push((RESOURCES.iter().find(|r| r.plural == plural).expect("served"), names.clone()));
                }
                continue;
            }
            let r = resources::resolve(kind).ok_or_else(|| unknown_type(kind))?;
            out.push((r, names.clone()));
        }
        Ok(out)
    }

    fn list_path(cmd: &Kubectl, r: &Resource, namespace: &str, all_namespaces: bool) -> String {
        let ns = (r.namespaced && !all_namespaces).then_some(namespace);
        with_query(
            &r.collection_path(ns),
            &[
                ("labelSelector", cmd.flag("selector").unwrap_or_default()),
                ("fieldSelector", cmd.flag("field-selector").unwrap_or_default()),
            ],
        )
    }

    fn kubectl_get(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let targets = Self::targets(&cmd.args)?;
        if targets.is_empty() && !cmd.flags.contains_key("filename") {
            return Err("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples".into());
        }
        let output = cmd.flag("output").unwrap_or_default().to_string();
        let valid = ["", "wide", "yaml", "json", "name"];
        if !valid.contains(&output.as_str())
            && !output.starts_with("jsonpath=")
            && !output.starts_with("custom-columns=")
        {
            return Err(format!("error: unable to match a printer suitable for the output format \"{output}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"));
        }
        if cmd.is_set("watch") && (targets.len() != 1 || !targets[0].1.is_empty() && targets[0].1.len() != 1) {
            return Err("error: you may only specify a single resource type".into());
        }
        if cmd.is_set("watch") && !matches!(output.as_str(), "" | "wide") {
            return Err("error: kscope's kubectl get --watch prints tables only (no -o yaml|json|name)".into());
        }
        let namespace = self.namespace(cmd);
        let all_ns = cmd.is_set("all-namespaces");
        let several = targets.len() > 1 || cmd.args.first().is_some_and(|a| a == "all" || a.contains('/'));
        let mut found: Vec<(&'static Resource, Vec<Value>)> = Vec::new();
        let mut list_revision = String::new();
        let mut errors: Vec<String> = Vec::new();
        for (r, names) in &targets {
            let mut objects = Vec::new();
            if names.is_empty() {
                match self.api_get(cmd, Self::list_path(cmd, r, &namespace, all_ns)) {
                    Ok(list) => {
                        let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str);
                        list_revision = rv.unwrap_or_default().to_string();
                        objects.extend(list.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
                    }
                    Err(e) => {
                        out.server_error(&e);
                        return Ok(());
                    }
                }
            } else {
                for name in names {
                    match self.api_get(cmd, r.object_path(r.namespaced.then_some(namespace.as_str()), name)) {
                        Ok(o) => objects.push(o),
                        Err(e) if e.code == 404 && cmd.is_set("ignore-not-found") => {}
                        Err(e) => errors.push(server_error_text(&e)),
                    }
                }
            }
            if let Some(sort) = cmd.flag("sort-by") {
                let path = sort.trim_start_matches('{').trim_end_matches('}').to_string();
                // kubectl's sorter compares values by their JSON type: numbers as
                // numbers, strings as strings (a total order: type rank first).
                let key = |o: &Value| -> (u8, f64, String) {
                    match printers::eval_path(&path, o).ok().and_then(|v| v.into_iter().next()) {
                        Some(Value::Number(n)) => (1, n.as_f64().unwrap_or(0.0), String::new()),
                        Some(Value::String(s)) => (2, 0.0, s),
                        Some(Value::Bool(b)) => (3, f64::from(u8::from(b)), String::new()),
                        Some(other) => (4, 0.0, other.to_string()),
                        None => (0, 0.0, String::new()),
                    }
                };
                objects.sort_by(|a, b| {
                    let (ka, kb) = (key(a), key(b));
                    ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ka.2.cmp(&kb.2))
                });
            }
            found.push((r, objects));
        }
        let total: usize = found.iter().map(|(_, o)| o.len()).sum();
        match output.as_str() {
            "yaml" | "json" => {
                let items: Vec<Value> = found
                    .iter()
                    .flat_map(|(r, objs)| {
                        objs.iter().map(|o| {
                            let mut o = o.clone();
                            o["apiVersion"] = json!(r.api_version());
                            o["kind"] = json!(r.kind);
                            o
                        })
                    })
                    .collect();
                let single = targets.len() == 1 && targets[0].1.len() == 1 && items.len() == 1;
                let value = if single {
                    items[0].clone()
                } else {
                    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
                };
                if single || total > 0 || errors.is_empty() {
                    out.text.push_str(&if output == "yaml" {
                        printers::to_yaml(&value)
                    } else {
                        printers::to_json(&value)
                    });
                }
            }
            "name" => {
                for (r, objs) in &found {
                    for o in objs {
                        out.line(object_ref(r, meta(o, "name")));
                    }
                }
            }
            o if o.starts_with("jsonpath=") => {
                let template = &o["jsonpath=".len()..];
                let single = targets.len() == 1 && targets[0].1.len() == 1 && total == 1;
                let value = if single {
                    found[0].1[0].clone()
                } else {
                    json!({"apiVersion": "v1", "kind": "List", "items": found.iter().flat_map(|(_, o)| o.clone()).collect::<Vec<_>>()})
                };
                out.text.push_str(
                    &printers::jsonpath(template, &value)
                        .map_err(|e| format!("error: error parsing jsonpath {template}, {e}"))?,
                );
            }
            o if o.starts_with("custom-columns=") => {
                let spec = &o["custom-columns=".len()..];
                let columns: Vec<(&str, &str)> = spec.split(',').filter_map(|c| c.split_once(':')).collect();
                let mut rows = vec![columns.iter().map(|(h, _)| h.to_string()).collect::<Vec<_>>()];
                for (_, objs) in &found {
                    for obj in objs {
                        rows.push(
                            columns
                                .iter()
                                .map(|(_, path)| {
                                    let path = path.trim_start_matches('{').trim_end_matches('}');
                                    let v = printers::jsonpath(&format!("{{{path}}}"), obj).unwrap_or_default();
                                    if v.is_empty() {
                                        "<none>".to_string()
                                    } else {
                                        v
                                    }
                                })
                                .collect(),
                        );
                    }
                }
                out.text.push_str(&printers::tabulate(&rows));
            }
            _ => {
                let opts = TableOptions {
                    wide: output == "wide",
                    namespace_column: all_ns,
                    show_labels: cmd.is_set("show-labels"),
                    no_headers: cmd.is_set("no-headers"),
                    kind_prefix: several,
                };
                let mut first = true;
                for (r, objs) in &found {
                    if objs.is_empty() {
                        continue;
                    }
                    if !first {
                        out.text.push('\n');
                    }
                    first = false;
                    let rows = printers::table_rows(r, objs, self.now_ms(), opts);
                    out.text.push_str(&printers::tabulate(&rows));
                }
                if total == 0 && errors.is_empty() {
                    let namespaced = found.iter().any(|(r, _)| r.namespaced);
                    if namespaced && !all_ns {
                        out.line(format!("No resources found in {namespace} namespace."));
                    } else {
                        out.line("No resources found");
                    }
                }
            }
        }
        for e in errors {
            out.error(e);
        }
        if cmd.is_set("watch") && !out.failed {
            let wide = output == "wide";
            self.start_kube_watch(cmd, targets[0].0, &namespace, all_ns, several, wide, list_revision);
        }
        Ok(())
    }

    /// Starts streaming changes after the list just printed: each event is
    /// one more table row, printed as it arrives (no header), until `sim
    /// interrupt` (Ctrl-C).
    fn start_kube_watch(
        &mut self,
        cmd: &Kubectl,
        r: &'static Resource,
        namespace: &str,
        all_ns: bool,
        several: bool,
        wide: bool,
        list_revision: String,
    ) {
        let client = format!("kubectl-watch-{}", self.next_client_request);
        let request_id = self.next_client_request;
        self.next_client_request += 1;
        let ns = (r.namespaced && !all_ns).then_some(namespace);
        // Watch from the printed list's version, so nothing between is missed.
        let start_revision =
            if list_revision.is_empty() { self.watch_start_revision(cmd, r, ns) } else { list_revision };
        let names = cmd.args.get(1).cloned().unwrap_or_default();
        let mut field_selector = cmd.flag("field-selector").unwrap_or_default().to_string();
        if !names.is_empty() {
            let by_name = format!("metadata.name={names}");
            field_selector = if field_selector.is_empty() { by_name } else { format!("{field_selector},{by_name}") };
        }
        let path = with_query(
            &r.collection_path(ns),
            &[
                ("watch", "true"),
                ("resourceVersion", &start_revision),
                ("labelSelector", cmd.flag("selector").unwrap_or_default()),
                ("fieldSelector", &field_selector),
            ],
        );
        let mut request = ApiRequest::new(request_id, Method::Get, path);
        request.impersonate = cmd.flag("as").map(str::to_string);
        request.impersonate_groups = cmd.flag_list("as-group");
        self.sim.send_as_client(&client, ComponentId::ApiServer, Payload::ApiRequest(request));
        let opts = TableOptions {
            wide,
            namespace_column: all_ns,
            show_labels: cmd.is_set("show-labels"),
            no_headers: false,
            kind_prefix: several,
        };
        let header = printers::table_rows(r, &[], self.now_ms(), opts).into_iter().next().unwrap_or_default();
        self.kube_watches.push(KubeWatch { client, request_id, resource: r, opts, header });
    }

    /// The resourceVersion of the collection now (where the watch starts).
    fn watch_start_revision(&mut self, cmd: &Kubectl, r: &Resource, ns: Option<&str>) -> String {
        let path = with_query(&r.collection_path(ns), &[("limit", "1")]);
        self.api_get(cmd, path)
            .ok()
            .and_then(|l| l.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    }

    /// Prints what the `kubectl get -w` streams received.
    pub(crate) fn drain_kube_watches(&mut self) {
        let now = self.now_ms();
        let mut ended = Vec::new();
        for (i, w) in self.kube_watches.iter().enumerate() {
            for envelope in self.sim.take_client_inbox(&w.client) {
                let Payload::ApiResponse(r) = envelope.payload else { continue };
                if r.request_id != w.request_id {
                    continue;
                }
                let Some(body) = r.body else {
                    ended.push(i);
                    continue;
                };
                if r.code >= 300 {
                    self.background
                        .push_str(&format!("{}\n", server_error_text(&StatusError::from_status(r.code, &body))));
                    ended.push(i);
                    continue;
                }
                match body["type"].as_str() {
                    Some("ADDED" | "MODIFIED" | "DELETED") => {
                        let rows = printers::table_rows(w.resource, &[body["object"].clone()], now, w.opts);
                        let table = printers::tabulate(&[w.header.clone(), rows[1].clone()]);
                        self.background.push_str(table.lines().nth(1).unwrap_or_default());
                        self.background.push('\n');
                    }
                    Some("ERROR") => {
                        let e = StatusError::from_status(
                            body["object"]["code"].as_u64().unwrap_or(500) as u16,
                            &body["object"],
                        );
                        self.background.push_str(&format!("{}\n", server_error_text(&e)));
                        ended.push(i);
                    }
                    _ => {}
                }
            }
        }
        ended.dedup();
        for i in ended.into_iter().rev() {
            self.kube_watches.remove(i);
        }
    }

    /// Ends every `kubectl get -w` (Ctrl-C): the connections close.
    pub(crate) fn stop_kube_watches(&mut self) {
        self.drain_kube_watches();
        for w in std::mem::take(&mut self.kube_watches) {
            self.sim.send_as_client(&w.client, ComponentId::ApiServer, Payload::ApiCancel { request_id: w.request_id });
        }
    }

    // ---- apply / create ----------------------------------------------------

    fn kubectl_apply(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        if !cmd.flags.contains_key("filename") {
            return Err("error: must specify one of -f and -k".into());
        }
        if cmd.is_set("server-side") {
            return Err("error: --server-side apply is not available in kscope yet; use client-side apply".into());
        }
        let dry = Self::dry_run(cmd)?;
        let manifests = self.manifests(cmd)?;
        if manifests.is_empty() {
            return Err("error: no objects passed to apply".into());
        }
        for m in manifests {
            let (r, ns) = match self.manifest_target(cmd, &m) {
                Ok(t) => t,
                Err(e) => {
                    out.error(e);
                    continue;
                }
            };
            let name = meta(&m.object, "name").to_string();
            if name.is_empty() {
                out.error(format!("error: error when retrieving current configuration of:\nResource: \"{}, Resource={}\", GroupVersionKind: \"{}, Kind={}\"\nName: \"\", Namespace: \"{}\"\nfrom server for: \"{}\": resource name may not be empty", r.api_version(), r.plural, r.api_version(), r.kind, ns.clone().unwrap_or_default(), m.source));
                continue;
            }
            let desired = with_last_applied(&m.object, ns.as_deref());
            let query = |path: String| match dry {
                Some("server") => with_query(&path, &[("fieldValidation", "Strict"), ("dryRun", "All")]),
                _ => with_query(&path, &[("fieldValidation", "Strict")]),
            };
            match self.api_get(cmd, r.object_path(ns.as_deref(), &name)) {
                Err(e) if e.code == 404 => {
                    if dry == Some("client") {
                        self.print_result(cmd, out, r, &desired, "created", dry);
                        continue;
                    }
                    match self.api_send(cmd, Method::Post, query(r.collection_path(ns.as_deref())), desired, None) {
                        Ok(created) => self.print_result(cmd, out, r, &created, "created", dry),
                        Err(e) => out.server_error(&error_with_source(&e, "creating", &m.source)),
                    }
                }
                Err(e) => out.server_error(&e),
                Ok(live) => {
                    let original: Value = live
                        .pointer("/metadata/annotations")
                        .and_then(|a| a.get(LAST_APPLIED))
                        .and_then(Value::as_str)
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or(Value::Null);
                    let patch = three_way_patch(&original, &desired, &live);
                    if patch.as_object().is_some_and(Map::is_empty) {
                        self.print_result(cmd, out, r, &live, "unchanged", dry);
                        continue;
                    }
                    if dry == Some("client") {
                        self.print_result(cmd, out, r, &live, "configured", dry);
                        continue;
                    }
                    match self.api_send(
                        cmd,
                        Method::Patch,
                        query(r.object_path(ns.as_deref(), &name)),
                        patch.clone(),
                        Some(MERGE_PATCH),
                    ) {
                        Ok(o) => self.print_result(cmd, out, r, &o, "configured", dry),
                        Err(e) if e.reason == "Invalid" => out.server_error(&e),
                        Err(mut e) => {
                            e.message = format!(
                                "error when applying patch:\n{patch}\nto:\nResource: \"{}, Resource={}\", GroupVersionKind: \"{}, Kind={}\"\nName: \"{name}\", Namespace: \"{}\"\nfor: \"{}\": error when patching \"{}\": {}",
                                r.api_version(), r.plural, r.api_version(), r.kind, ns.clone().unwrap_or_default(), m.source, m.source, e.message
                            );
                            out.server_error(&e)
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn kubectl_create(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let dry = Self::dry_run(cmd)?;
        if cmd.flags.contains_key("filename") {
            for m in self.manifests(cmd)? {
                let (r, ns) = match self.manifest_target(cmd, &m) {
                    Ok(t) => t,
                    Err(e) => {
                        out.error(e);
                        continue;
                    }
                };
                self.create_object(cmd, out, r, ns.as_deref(), m.object.clone(), &m.source, dry);
            }
            return Ok(());
        }
        let Some(kind) = cmd.args.first() else {
            return Err("error: must specify one of -f and -k".into());
        };
        let namespace = self.namespace(cmd);
        let name_arg = |i: usize| -> Result<String, String> {
            cmd.args.get(i).cloned().ok_or_else(|| "error: exactly one NAME is required, got 0".to_string())
        };
        let (r, object): (&'static Resource, Value) = match kind.as_str() {
            "namespace" | "ns" => {
                let name = name_arg(1)?;
                (
                    resources::resolve("namespaces").expect("ns"),
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {}, "status": {}}),
                )
            }
            "deployment" | "deploy" => {
                let name = name_arg(1)?;
                let images = cmd.flag_list("image");
                if images.is_empty() {
                    return Err("error: required flag(s) \"image\" not set".into());
                }
                let replicas: i64 = cmd
                    .flag("replicas")
                    .unwrap_or("1")
                    .parse()
                    .map_err(|_| "error: invalid argument for \"--replicas\" flag".to_string())?;
                let port = cmd
                    .flag("port")
                    .map(|p| p.parse::<i64>())
                    .transpose()
                    .map_err(|_| "error: invalid argument for \"--port\" flag".to_string())?;
                let containers: Vec<Value> = images
                    .iter()
                    .map(|image| {
                        let mut c = json!({"name": container_name(image), "image": image, "resources": {}});
                        if let Some(p) = port {
                            c["ports"] = json!([{"containerPort": p}]);
                        }
                        c
                    })
                    .collect();
                (
                    resources::resolve("deployments").expect("deploy"),
                    json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": name, "labels": {"app": name}},
                        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
                            "strategy": {}},
                        "status": {}}),
                )
            }
            "service" | "svc" => {
                let kind = cmd.args.get(1).map(String::as_str).unwrap_or_default();
                let svc_type = match kind {
                    "clusterip" => "ClusterIP",
                    "nodeport" => "NodePort",
                    "loadbalancer" => "LoadBalancer",
                    _ => return Err("error: expected one of: clusterip, nodeport, loadbalancer, externalname".into()),
                };
                let name = name_arg(2)?;
                let tcp = cmd.flag_list("tcp");
                if tcp.is_empty() && svc_type != "ClusterIP" {
                    return Err("error: at least one tcp port specifier must be provided".into());
                }
                let mut ports = Vec::new();
                for spec in &tcp {
                    let (port, target) = spec.split_once(':').unwrap_or((spec, spec));
                    let port: i64 = port.parse().map_err(|_| format!("error: invalid port {spec:?}"))?;
                    let target: Value = target.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(target));
                    ports.push(
                        json!({"name": spec.replace(':', "-"), "protocol": "TCP", "port": port, "targetPort": target}),
                    );
                }
                (
                    resources::resolve("services").expect("svc"),
                    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": name}},
                        "spec": {"ports": ports, "selector": {"app": name}, "type": svc_type}, "status": {"loadBalancer": {}}}),
                )
            }
            "configmap" | "cm" => {
                let name = name_arg(1)?;
                let mut data = Map::new();
                for literal in cmd.flags.get("from-literal").into_iter().flatten() {
                    let (k, v) = literal
                        .split_once('=')
                        .ok_or_else(|| format!("error: invalid literal source {literal}, expected key=value"))?;
                    data.insert(k.to_string(), json!(v));
                }
                (
                    resources::resolve("configmaps").expect("cm"),
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
                )
            }
            "role" | "clusterrole" => {
                let name = name_arg(1)?;
                let verbs = cmd.flag_list("verb");
                let resources_list = cmd.flag_list("resource");
                if verbs.is_empty() {
                    return Err("error: at least one verb must be specified".into());
                }
                if resources_list.is_empty() {
                    return Err("error: at least one resource must be specified".into());
                }
                let mut rules: Vec<Value> = Vec::new();
                for res in &resources_list {
                    let r = resources::resolve(res.split('/').next().unwrap_or(res))
                        .ok_or_else(|| format!("error: the server doesn't have a resource type \"{res}\""))?;
                    let plural = match res.split_once('/') {
                        Some((_, sub)) => format!("{}/{sub}", r.plural),
                        None => r.plural.to_string(),
                    };
                    match rules.iter_mut().find(|rule| rule["apiGroups"][0] == r.group) {
                        Some(rule) => rule["resources"].as_array_mut().expect("array").push(json!(plural)),
                        None => rules.push(json!({"apiGroups": [r.group], "resources": [plural], "verbs": verbs})),
                    }
                }
                let plural = if kind == "role" { "roles" } else { "clusterroles" };
                let kind_name = if kind == "role" { "Role" } else { "ClusterRole" };
                (
                    resources::by_plural("rbac.authorization.k8s.io", plural).expect("rbac"),
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind_name, "metadata": {"name": name}, "rules": rules}),
                )
            }
            "rolebinding" | "clusterrolebinding" => {
                let name = name_arg(1)?;
                let (role_kind, role) = match (cmd.flag("role"), cmd.flag("clusterrole")) {
                    (Some(r), None) if kind == "rolebinding" => ("Role", r),
                    (None, Some(r)) => ("ClusterRole", r),
                    (Some(_), Some(_)) => {
                        return Err("error: exactly one of clusterrole or role must be specified".into())
                    }
                    _ => {
                        return Err(if kind == "rolebinding" {
                            "error: exactly one of clusterrole or role must be specified"
                        } else {
                            "error: required flag(s) \"clusterrole\" not set"
                        }
                        .into())
                    }
                };
                let mut subjects = Vec::new();
                for user in cmd.flag_list("user") {
                    subjects.push(json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}));
                }
                for group in cmd.flag_list("group") {
                    subjects.push(json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}));
                }
                for sa in cmd.flag_list("serviceaccount") {
                    let (ns, n) = sa
                        .split_once(':')
                        .ok_or_else(|| "error: serviceaccount must be <namespace>:<name>".to_string())?;
                    subjects.push(json!({"kind": "ServiceAccount", "name": n, "namespace": ns}));
                }
                let plural = if kind == "rolebinding" { "rolebindings" } else { "clusterrolebindings" };
                let kind_name = if kind == "rolebinding" { "RoleBinding" } else { "ClusterRoleBinding" };
                (
                    resources::by_plural("rbac.authorization.k8s.io", plural).expect("rbac"),
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind_name, "metadata": {"name": name},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}, "subjects": subjects}),
                )
            }
            other => return Err(format!("error: unknown command \"{other}\" for \"kubectl create\"")),
        };
        let ns = r.namespaced.then_some(namespace);
        self.create_object(cmd, out, r, ns.as_deref(), object, "", dry);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn create_object(
        &mut self,
        cmd: &Kubectl,
        out: &mut Out,
        r: &'static Resource,
        ns: Option<&str>,
        mut object: Value,
        source: &str,
        dry: Option<&str>,
    ) {
        if let Some(ns) = ns {
            object["metadata"]["namespace"] = json!(ns);
        }
        if dry == Some("client") {
            return self.print_result(cmd, out, r, &object, "created", dry);
        }
        let path = match dry {
            Some("server") => with_query(&r.collection_path(ns), &[("fieldValidation", "Strict"), ("dryRun", "All")]),
            _ => with_query(&r.collection_path(ns), &[("fieldValidation", "Strict")]),
        };
        match self.api_send(cmd, Method::Post, path, object, None) {
            Ok(created) => self.print_result(cmd, out, r, &created, "created", dry),
            Err(e) if source.is_empty() => out.server_error(&e),
            Err(e) => out.server_error(&error_with_source(&e, "creating", source)),
        }
    }

    // ---- delete ------------------------------------------------------------

    fn kubectl_delete(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let namespace = self.namespace(cmd);
        let mut items: Vec<(&'static Resource, Option<String>, String)> = Vec::new();
        if cmd.flags.contains_key("filename") {
            for m in self.manifests(cmd)? {
                let (r, ns) = self.manifest_target(cmd, &m)?;
                items.push((r, ns, meta(&m.object, "name").to_string()));
            }
        } else {
            let targets = Self::targets(&cmd.args)?;
            if targets.is_empty() {
                return Err("error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'".into());
            }
            let select_all = cmd.is_set("all") || cmd.flag("selector").is_some();
            for (r, names) in targets {
                let ns = r.namespaced.then(|| namespace.clone());
                if names.is_empty() {
                    if !select_all {
                        return Err("error: resource(s) were provided, but no name was specified".into());
                    }
                    let list = self
                        .api_get(cmd, Self::list_path(cmd, r, &namespace, cmd.is_set("all-namespaces")))
                        .map_err(|e| server_error_text(&e))?;
                    for o in list.get("items").and_then(Value::as_array).into_iter().flatten() {
                        let ns = r.namespaced.then(|| meta(o, "namespace").to_string());
                        items.push((r, ns, meta(o, "name").to_string()));
                    }
                } else {
                    for n in names {
                        items.push((r, ns.clone(), n));
                    }
                }
            }
            if items.is_empty() {
                out.line("No resources found");
                return Ok(());
            }
        }
        let mut options = json!({});
        let force = cmd.is_set("force");
        let grace = match (cmd.flag("grace-period"), cmd.is_set("now")) {
            (Some(g), _) => Some(
                g.parse::<i64>().map_err(|_| format!("error: invalid argument {g:?} for \"--grace-period\" flag"))?,
            ),
            (None, true) => Some(1),
            (None, false) => None,
        };
        let grace = if force && grace.is_none_or(|g| g < 0) { Some(0) } else { grace };
        if let Some(g) = grace.filter(|g| *g >= 0) {
            options["gracePeriodSeconds"] = json!(g);
        }
        match cmd.flag("cascade") {
            None | Some("background") | Some("true") => options["propagationPolicy"] = json!("Background"),
            Some("foreground") => options["propagationPolicy"] = json!("Foreground"),
            Some("orphan") | Some("false") => options["propagationPolicy"] = json!("Orphan"),
            Some(other) => {
                return Err(format!(
                    "error: invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
                ))
            }
        }
        let dry = Self::dry_run(cmd)?;
        let forced = grace == Some(0);
        if forced {
            out.line("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
        }
        for (r, ns, name) in items {
            let path = r.object_path(ns.as_deref(), &name);
            let result = match dry {
                // A client dry run only checks that the object is there.
                Some("client") => self.api_get(cmd, path),
                Some(_) => {
                    self.api_send(cmd, Method::Delete, with_query(&path, &[("dryRun", "All")]), options.clone(), None)
                }
                None => self.api_send(cmd, Method::Delete, path, options.clone(), None),
            };
            match result {
                Ok(_) => {
                    if cmd.flag("output") == Some("name") {
                        out.line(object_ref(r, &name));
                    } else {
                        let force = if forced { "force " } else { "" };
                        out.line(format!("{} \"{name}\" {force}deleted{}", kind_prefix(r), Self::dry_suffix(cmd)));
                    }
                }
                Err(e) if e.code == 404 && cmd.is_set("ignore-not-found") => {}
                Err(e) => out.server_error(&e),
            }
        }
        Ok(())
    }

    // ---- changes to existing objects ---------------------------------------

    /// Resolves `TYPE NAME...` or `TYPE/NAME...` to objects.
    /// With `--all` or `-l`, a bare TYPE means every (selected) object of it.
    fn named_targets(
        &mut self,
        cmd: &Kubectl,
        args: &[String],
    ) -> Result<Vec<(&'static Resource, Option<String>, String)>, String> {
        let namespace = self.namespace(cmd);
        let mut out = Vec::new();
        for (r, names) in Self::targets(args)? {
            if names.is_empty() {
                if cmd.is_set("all") || cmd.flag("selector").is_some() {
                    let list = self
                        .api_get(cmd, Self::list_path(cmd, r, &namespace, cmd.is_set("all-namespaces")))
                        .map_err(|e| server_error_text(&e))?;
                    for o in list.get("items").and_then(Value::as_array).into_iter().flatten() {
                        let ns = r.namespaced.then(|| meta(o, "namespace").to_string());
                        out.push((r, ns, meta(o, "name").to_string()));
                    }
                    if out.is_empty() {
                        return Err("error: no objects passed to update".into());
                    }
                    continue;
                }
                return Err("error: resource(s) were provided, but no name was specified".into());
            }
            for n in names {
                out.push((r, r.namespaced.then(|| namespace.clone()), n));
            }
        }
        if out.is_empty() {
            return Err("error: resource(s) were provided, but no name was specified".into());
        }
        Ok(out)
    }

    fn patch(
        &mut self,
        cmd: &Kubectl,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        patch: Value,
        content_type: &str,
    ) -> Result<Value, StatusError> {
        // `--dry-run=client` sends nothing; `=server` asks the apiserver to change nothing.
        match cmd.flag("dry-run") {
            Some("client") => Ok(Value::Null),
            Some("server") => {
                let path = with_query(&r.object_path(ns, name), &[("dryRun", "All")]);
                self.api_send(cmd, Method::Patch, path, patch, Some(content_type))
            }
            _ => self.api_send(cmd, Method::Patch, r.object_path(ns, name), patch, Some(content_type)),
        }
    }

    /// ` (dry run)` or ` (server dry run)` after a success line.
    fn dry_suffix(cmd: &Kubectl) -> &'static str {
        match cmd.flag("dry-run") {
            Some("client") => " (dry run)",
            Some("server") => " (server dry run)",
            _ => "",
        }
    }

    /// `kubectl replace -f`: a PUT of each manifest. With the manifest's
    /// `metadata.resourceVersion` the apiserver checks it is still current
    /// (409 Conflict otherwise); without it the update is unconditional.
    fn kubectl_replace(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        if !cmd.flags.contains_key("filename") {
            return Err("error: must specify --filename to replace".into());
        }
        let dry = Self::dry_run(cmd)?;
        for m in self.manifests(cmd)? {
            let (r, ns) = match self.manifest_target(cmd, &m) {
                Ok(t) => t,
                Err(e) => {
                    out.error(e);
                    continue;
                }
            };
            let name = meta(&m.object, "name").to_string();
            let mut object = m.object.clone();
            if let Some(ns) = &ns {
                object["metadata"]["namespace"] = json!(ns);
            }
            if dry == Some("client") {
                self.print_result(cmd, out, r, &object, "replaced", dry);
                continue;
            }
            let mut params = vec![("fieldValidation", "Strict")];
            if dry == Some("server") {
                params.push(("dryRun", "All"));
            }
            let path = with_query(&r.object_path(ns.as_deref(), &name), &params);
            match self.api_send(cmd, Method::Put, path, object, None) {
                Ok(o) => self.print_result(cmd, out, r, &o, "replaced", dry),
                Err(e) => out.server_error(&error_with_source(&e, "replacing", &m.source)),
            }
        }
        Ok(())
    }

    fn kubectl_patch(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(text) = cmd.flag("patch") else {
            return Err("error: must specify -p to patch".into());
        };
        let content_type = match cmd.flag("type").unwrap_or("strategic") {
            "strategic" => STRATEGIC_MERGE_PATCH,
            "merge" => MERGE_PATCH,
            "json" => crate::kube_apiserver::patch::JSON_PATCH,
            other => return Err(format!("error: --type must be one of [json merge strategic], not {other:?}")),
        };
        if crate::apimachinery::bracket_depth(text) > 200 {
            return Err(format!(
                "error: unable to parse {:?}: yaml: exceeded max depth of 200",
                text.chars().take(40).collect::<String>()
            ));
        }
        let patch: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            format!("error: unable to parse {text:?}: {}", e.to_string().split(" at line").next().unwrap_or_default())
        })?;
        let subresource = cmd.flag("subresource").unwrap_or_default();
        if !["", "status", "scale"].contains(&subresource) {
            return Err(format!("error: invalid subresource value: {subresource:?}. Must be one of [status scale]"));
        }
        for (r, ns, name) in self.named_targets(cmd, &cmd.args)? {
            let mut path = r.object_path(ns.as_deref(), &name);
            if !subresource.is_empty() {
                path = format!("{path}/{subresource}");
            }
            let before = self.api_get(cmd, path.clone());
            let result = match cmd.flag("dry-run") {
                Some("client") => before.clone(),
                Some("server") => self.api_send(
                    cmd,
                    Method::Patch,
                    with_query(&path, &[("dryRun", "All")]),
                    patch.clone(),
                    Some(content_type),
                ),
                _ => self.api_send(cmd, Method::Patch, path, patch.clone(), Some(content_type)),
            };
            match result {
                Ok(after) => {
                    // "no change" when the object is the same apart from its version.
                    let strip = |v: &Value| {
                        let mut v = v.clone();
                        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                            m.remove("resourceVersion");
                        }
                        v
                    };
                    let same = before.as_ref().is_ok_and(|b| strip(b) == strip(&after))
                        && cmd.flag("dry-run") != Some("client");
                    let word = if same { "patched (no change)" } else { "patched" };
                    out.line(format!("{} {word}{}", object_ref(r, &name), Self::dry_suffix(cmd)));
                }
                Err(e) => out.server_error(&e),
            }
        }
        Ok(())
    }

    fn kubectl_scale(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(replicas) = cmd.flag("replicas") else {
            return Err("error: required flag(s) \"replicas\" not set".into());
        };
        let replicas: i64 = replicas.parse().map_err(|_| format!("error: invalid argument {replicas:?} for \"--replicas\" flag: strconv.ParseInt: parsing {replicas:?}: invalid syntax"))?;
        if replicas < 0 {
            return Err(
                "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0".into()
            );
        }
        for (r, ns, name) in self.named_targets(cmd, &cmd.args)? {
            if !r.subresources.contains(&"scale") {
                out.error(format!(
                    "error: cannot scale {}: the resource does not support the scale subresource",
                    r.plural
                ));
                continue;
            }
            let path = format!("{}/scale", r.object_path(ns.as_deref(), &name));
            if let Some(current) = cmd.flag("current-replicas") {
                match self.api_get(cmd, path.clone()) {
                    Ok(scale)
                        if scale
                            .pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .map(|v| v.to_string())
                            .as_deref()
                            != Some(current) =>
                    {
                        out.error(format!(
                            "error: Expected replicas to be {current}, was {}",
                            scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)
                        ));
                        continue;
                    }
                    Err(e) => {
                        out.server_error(&e);
                        continue;
                    }
                    _ => {}
                }
            }
            let body = json!({"spec": {"replicas": replicas}});
            let result = match cmd.flag("dry-run") {
                Some("client") => Ok(Value::Null),
                Some("server") => {
                    self.api_send(cmd, Method::Patch, with_query(&path, &[("dryRun", "All")]), body, Some(MERGE_PATCH))
                }
                _ => self.api_send(cmd, Method::Patch, path, body, Some(MERGE_PATCH)),
            };
            match result {
                Ok(_) => out.line(format!("{} scaled{}", object_ref(r, &name), Self::dry_suffix(cmd))),
                Err(e) => out.server_error(&e),
            }
        }
        Ok(())
    }

    fn kubectl_label(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let field = if cmd.verb == "label" { "labels" } else { "annotations" };
        let (changes, targets): (Vec<&String>, Vec<String>) = {
            let mut changes = Vec::new();
            let mut targets = Vec::new();
            for a in &cmd.args {
                if a.contains('=') || (a.ends_with('-') && !a.contains('/')) && !targets.is_empty() {
                    changes.push(a);
                } else {
                    targets.push(a.clone());
                }
            }
            (changes, targets)
        };
        if changes.is_empty() {
            return Err(format!(
                "error: at least one {} update is required",
                if field == "labels" { "label" } else { "annotation" }
            ));
        }
        let mut patch_map = Map::new();
        for c in &changes {
            if let Some(key) = c.strip_suffix('-') {
                patch_map.insert(key.to_string(), Value::Null);
            } else if let Some((k, v)) = c.split_once('=') {
                if field == "labels" {
                    let errs = crate::kube_apiserver::validation::label_value_errors_pub(v);
                    if !errs.is_empty() {
                        return Err(format!(
                            "error: invalid label value: \"{c}\": at key: \"{k}\": {}",
                            errs.join("; ")
                        ));
                    }
                }
                patch_map.insert(k.to_string(), json!(v));
            }
        }
        for (r, ns, name) in self.named_targets(cmd, &targets)? {
            let current = match self.api_get(cmd, r.object_path(ns.as_deref(), &name)) {
                Ok(o) => o,
                Err(e) => {
                    out.server_error(&e);
                    continue;
                }
            };
            let existing =
                current.pointer(&format!("/metadata/{field}")).and_then(Value::as_object).cloned().unwrap_or_default();
            if !cmd.is_set("overwrite") {
                if let Some((k, _)) =
                    patch_map.iter().find(|(k, v)| !v.is_null() && existing.get(*k).is_some_and(|old| old != *v))
                {
                    out.error(format!(
                        "error: '{k}' already has a value ({}), and --overwrite is false",
                        existing[k].as_str().unwrap_or_default()
                    ));
                    continue;
                }
            }
            // A change: a new or different value, or removing a key that is there.
            let changed = patch_map.iter().any(|(k, v)| match v {
                Value::Null => existing.contains_key(k),
                v => existing.get(k) != Some(v),
            });
            let removed_only = patch_map.values().all(Value::is_null);
            // kubectl says "unlabeled" when labels were only removed; annotate always "annotated".
            let verb = match (field, removed_only) {
                ("labels", true) => "unlabeled",
                ("labels", false) => "labeled",
                _ => "annotated",
            };
            if !changed {
                out.line(format!(
                    "{} {}",
                    object_ref(r, &name),
                    if field == "labels" { "not labeled" } else { "annotated" }
                ));
                continue;
            }
            let patch = json!({"metadata": {field: Value::Object(patch_map.clone())}});
            match self.patch(cmd, r, ns.as_deref(), &name, patch, MERGE_PATCH) {
                Ok(_) => out.line(format!("{} {verb}{}", object_ref(r, &name), Self::dry_suffix(cmd))),
                Err(e) => out.server_error(&e),
            }
        }
        Ok(())
    }

    fn kubectl_cordon(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let unschedulable = cmd.verb == "cordon";
        if cmd.args.is_empty() {
            return Err(format!(
                "error: USAGE: {} NODE [flags]\nSee 'kubectl {} -h' for help and examples",
                cmd.verb, cmd.verb
            ));
        }
        let nodes = resources::resolve("nodes").expect("nodes");
        for name in &cmd.args {
            self.set_unschedulable(cmd, out, nodes, name, unschedulable);
        }
        Ok(())
    }

    fn set_unschedulable(
        &mut self,
        cmd: &Kubectl,
        out: &mut Out,
        nodes: &'static Resource,
        name: &str,
        unschedulable: bool,
    ) -> bool {
        let node = match self.api_get(cmd, nodes.object_path(None, name)) {
            Ok(n) => n,
            Err(e) => {
                out.server_error(&e);
                return false;
            }
        };
        let now = node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
        let word = if unschedulable { "cordoned" } else { "uncordoned" };
        if now == unschedulable {
            out.line(format!("node/{name} already {word}"));
            return true;
        }
        let patch = json!({"spec": {"unschedulable": if unschedulable { json!(true) } else { Value::Null }}});
        match self.patch(cmd, nodes, None, name, patch, STRATEGIC_MERGE_PATCH) {
            Ok(_) => {
                out.line(format!("node/{name} {word}{}", Self::dry_suffix(cmd)));
                true
            }
            Err(e) => {
                out.server_error(&e);
                false
            }
        }
    }

    fn kubectl_drain(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(name) = cmd.args.first() else {
            return Err("error: USAGE: drain NODE [flags]\nSee 'kubectl drain -h' for help and examples".into());
        };
        let nodes = resources::resolve("nodes").expect("nodes");
        if !self.set_unschedulable(cmd, out, nodes, name, true) {
            return Ok(());
        }
        let pods = resources::resolve("pods").expect("pods");
        let path = with_query(&pods.collection_path(None), &[("fieldSelector", &format!("spec.nodeName={name}"))]);
        let list = self.api_get(cmd, path).map_err(|e| server_error_text(&e))?;
        // Mirror pods are skipped without a word (k8s.io/kubectl/pkg/drain/filters.go
        // `mirrorPodFilter`): only their kubelet can remove a static pod.
        let pods_on_node: Vec<Value> = list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| !crate::kubelet::static_pods::is_mirror(p))
            .cloned()
            .collect();
        // kubectl's drain filters: pods with no controller need --force,
        // DaemonSet pods need --ignore-daemonsets (and are then left alone).
        let controller = |p: &Value| {
            p.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|refs| refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
                .and_then(|r| r.get("kind").and_then(Value::as_str))
                .map(str::to_string)
        };
        let unmanaged: Vec<String> = pods_on_node
            .iter()
            .filter(|p| controller(p).is_none())
            .map(|p| format!("{}/{}", meta(p, "namespace"), meta(p, "name")))
            .collect();
        if !unmanaged.is_empty() && !cmd.is_set("force") {
            return Err(format!(
                "error: unable to drain node \"{name}\" due to error: cannot delete Pods that declare no controller (use --force to override): {}, continuing command...\nThere are pending nodes to be drained:\n {name}",
                unmanaged.join(", ")
            ));
        }
        for pod in &pods_on_node {
            if controller(pod).as_deref() == Some("DaemonSet") {
                if cmd.is_set("ignore-daemonsets") {
                    continue;
                }
                return Err(format!(
                    "error: unable to drain node \"{name}\" due to error: cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {}/{}",
                    meta(pod, "namespace"),
                    meta(pod, "name")
                ));
            }
            let (ns, pod_name) = (meta(pod, "namespace").to_string(), meta(pod, "name").to_string());
            let eviction =
                json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod_name, "namespace": ns}});
            let path = format!("{}/eviction", pods.object_path(Some(&ns), &pod_name));
            let result = match cmd.flag("dry-run") {
                Some("client") => Ok(Value::Null),
                Some("server") => {
                    self.api_send(cmd, Method::Post, with_query(&path, &[("dryRun", "All")]), eviction, None)
                }
                _ => self.api_send(cmd, Method::Post, path, eviction, None),
            };
            match result {
                Ok(_) => out.line(format!("pod/{pod_name} evicted{}", Self::dry_suffix(cmd))),
                Err(e) => out.server_error(&e),
            }
        }
        out.line(format!("node/{name} drained{}", Self::dry_suffix(cmd)));
        Ok(())
    }

    fn kubectl_taint(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let nodes = resources::resolve("nodes").expect("nodes");
        let rest = match cmd.args.split_first() {
            Some((k, rest)) if resources::resolve(k).is_some_and(|r| r.plural == "nodes") => rest,
            _ => return Err("error: at least one taint update is required".into()),
        };
        let Some((name, specs)) = rest.split_first() else {
            return Err("error: at least one taint update is required".into());
        };
        if specs.is_empty() {
            return Err("error: at least one taint update is required".into());
        }
        let node = self.api_get(cmd, nodes.object_path(None, name)).map_err(|e| server_error_text(&e))?;
        let mut taints: Vec<Value> =
            node.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut untainted = false;
        for spec in specs {
            if let Some(key_effect) = spec.strip_suffix('-') {
                let (key, effect) = key_effect.split_once(':').map_or((key_effect, None), |(k, e)| (k, Some(e)));
                let key = key.split('=').next().unwrap_or(key);
                let before = taints.len();
                taints.retain(|t| !(t["key"] == key && effect.is_none_or(|e| t["effect"] == e)));
                if taints.len() == before {
                    return Err(format!("error: taint {key_effect:?} not found"));
                }
                untainted = true;
                continue;
            }
            let (kv, effect) = spec
                .split_once(':')
                .ok_or_else(|| format!("error: invalid taint spec: {spec}, unknown taint effect"))?;
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                return Err(format!("error: invalid taint effect: {effect}, unsupported taint effect"));
            }
            let (key, value) = kv.split_once('=').map_or((kv, None), |(k, v)| (k, Some(v)));
            if let Some(existing) = taints.iter_mut().find(|t| t["key"] == key && t["effect"] == effect) {
                if !cmd.is_set("overwrite") {
                    return Err(format!(
                        "error: node {name} already has {key} taint(s) with same effect(s) and --overwrite is false"
                    ));
                }
                *existing = json!({"key": key, "value": value, "effect": effect});
            } else {
                let mut t = json!({"key": key, "effect": effect});
                if let Some(v) = value {
                    t["value"] = json!(v);
                }
                taints.push(t);
            }
        }
        let patch = json!({"spec": {"taints": taints}});
        match self.patch(cmd, nodes, None, name, patch, MERGE_PATCH) {
            Ok(_) => out.line(format!("node/{name} {}", if untainted { "untainted" } else { "tainted" })),
            Err(e) => out.server_error(&e),
        }
        Ok(())
    }

    fn kubectl_set(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        if cmd.args.first().map(String::as_str) != Some("image") {
            return Err("error: kscope's kubectl set knows only `set image`".into());
        }
        let args = &cmd.args[1..];
        let (updates, targets): (Vec<&String>, Vec<String>) = {
            let mut u = Vec::new();
            let mut t = Vec::new();
            for a in args {
                if a.contains('=') {
                    u.push(a)
                } else {
                    t.push(a.clone())
                }
            }
            (u, t)
        };
        if updates.is_empty() {
            return Err("error: at least one image update is required".into());
        }
        for (r, ns, name) in self.named_targets(cmd, &targets)? {
            let o = match self.api_get(cmd, r.object_path(ns.as_deref(), &name)) {
                Ok(o) => o,
                Err(e) => {
                    out.server_error(&e);
                    continue;
                }
            };
            let pointer = if r.kind == "Pod" { "/spec/containers" } else { "/spec/template/spec/containers" };
            let containers = o.pointer(pointer).and_then(Value::as_array).cloned().unwrap_or_default();
            let mut patch_containers = Vec::new();
            for u in &updates {
                let (c, image) = u.split_once('=').expect("has =");
                let matched: Vec<&Value> = containers.iter().filter(|x| c == "*" || x["name"] == c as &str).collect();
                if matched.is_empty() {
                    out.error(format!("error: unable to find container named \"{c}\""));
                    return Ok(());
                }
                for m in matched {
                    patch_containers.push(json!({"name": m["name"], "image": image}));
                }
            }
            let patch = if r.kind == "Pod" {
                json!({"spec": {"containers": patch_containers}})
            } else {
                json!({"spec": {"template": {"spec": {"containers": patch_containers}}}})
            };
            match self.patch(cmd, r, ns.as_deref(), &name, patch, STRATEGIC_MERGE_PATCH) {
                Ok(_) => out.line(format!("{} image updated{}", object_ref(r, &name), Self::dry_suffix(cmd))),
                Err(e) => out.server_error(&e),
            }
        }
        Ok(())
    }

    fn kubectl_rollout(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(sub) = cmd.args.first() else {
            return Err("error: required resource not specified".into());
        };
        let targets = self.named_targets(cmd, &cmd.args[1..])?;
        for (r, ns, name) in targets {
            if r.kind == "DaemonSet" {
                self.rollout_daemon_set(cmd, out, sub, r, ns.as_deref(), &name)?;
                continue;
            }
            if r.kind != "Deployment" {
                out.error(format!(
                    "error: no {} found for {}",
                    if sub == "restart" { "restarter" } else { "status viewer" },
                    r.kind
                ));
                continue;
            }
            match sub.as_str() {
                "restart" => {
                    let stamp = crate::apimachinery::time::rfc3339(self.now_ms());
                    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}});
                    match self.patch(cmd, r, ns.as_deref(), &name, patch, STRATEGIC_MERGE_PATCH) {
                        Ok(_) => out.line(format!("{} restarted", object_ref(r, &name))),
                        Err(e) => out.server_error(&e),
                    }
                }
                "status" => {
                    let d =
                        self.api_get(cmd, r.object_path(ns.as_deref(), &name)).map_err(|e| server_error_text(&e))?;
                    out.line(rollout_status(&d, &name));
                }
                "pause" | "resume" => {
                    // ObjectPauserFn / ObjectResumerFn: an empty patch is an error.
                    let d =
                        self.api_get(cmd, r.object_path(ns.as_deref(), &name)).map_err(|e| server_error_text(&e))?;
                    let pause = sub == "pause";
                    if d.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false) == pause {
                        let state = if pause { "is already paused" } else { "is not paused" };
                        out.error(format!("error: deployments.apps \"{name}\" {state}"));
                        continue;
                    }
                    let patch = json!({"spec": {"paused": pause}});
                    match self.patch(cmd, r, ns.as_deref(), &name, patch, STRATEGIC_MERGE_PATCH) {
                        Ok(_) => {
                            out.line(format!("{} {}", object_ref(r, &name), if pause { "paused" } else { "resumed" }))
                        }
                        Err(e) => out.server_error(&e),
                    }
                }
                "history" => {
                    let revision = revision_flag(cmd, "revision")?;
                    let d =
                        self.api_get(cmd, r.object_path(ns.as_deref(), &name)).map_err(|e| server_error_text(&e))?;
                    let text = self.rollout_history(cmd, &d, revision)?;
                    let with = if revision > 0 { format!("with revision #{revision}") } else { String::new() };
                    // The name printer ends the operation text with its own newline.
                    out.text.push_str(&format!("{} {with}\n{text}\n", object_ref(r, &name)));
                }
                "undo" => {
                    let to = revision_flag(cmd, "to-revision")?;
                    let d =
                        self.api_get(cmd, r.object_path(ns.as_deref(), &name)).map_err(|e| server_error_text(&e))?;
                    match self.rollout_undo(cmd, &d, to) {
                        Ok(done) => out.line(format!("{} {done}", object_ref(r, &name))),
                        Err(e) => out.error(e),
                    }
                }
                other => return Err(format!("error: unknown command \"{other}\" for \"kubectl rollout\"")),
            }
        }
        Ok(())
    }

    /// `kubectl rollout` for a DaemonSet (polymorphichelpers: the
    /// restarter, `DaemonSetStatusViewer`, `DaemonSetHistoryViewer`,
    /// `DaemonSetRollbacker`; pausing is for Deployments only).
    fn rollout_daemon_set(
        &mut self,
        cmd: &Kubectl,
        out: &mut Out,
        sub: &str,
        r: &'static Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(), String> {
        match sub {
            "restart" => {
                let stamp = crate::apimachinery::time::rfc3339(self.now_ms());
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}});
                match self.patch(cmd, r, ns, name, patch, STRATEGIC_MERGE_PATCH) {
                    Ok(_) => out.line(format!("{} restarted", object_ref(r, name))),
                    Err(e) => out.server_error(&e),
                }
            }
            "status" => {
                let ds = self.api_get(cmd, r.object_path(ns, name)).map_err(|e| server_error_text(&e))?;
                out.line(daemon_set_rollout_status(&ds, name)?);
            }
            "pause" | "resume" => {
                let verb = if sub == "pause" { "pausing" } else { "resuming" };
                out.error(format!("error: daemonsets.apps \"{name}\" {verb} is not supported"));
            }
            "history" => {
                let revision = revision_flag(cmd, "revision")?;
                let ds = self.api_get(cmd, r.object_path(ns, name)).map_err(|e| server_error_text(&e))?;
                let history = self.daemon_set_history(cmd, &ds);
                let text = if history.is_empty() {
                    "No rollout history found.".to_string()
                } else if revision > 0 {
                    let cr = history.get(&revision).ok_or("error: unable to find the specified revision")?;
                    super::describe::pod_template_text(&revision_template(cr))
                } else {
                    let mut table = String::from("REVISION\tCHANGE-CAUSE\n");
                    for (v, cr) in &history {
                        let cause = cr
                            .pointer("/metadata/annotations")
                            .and_then(|a| a.get(crate::kube_controller_manager::deployment::CHANGE_CAUSE))
                            .and_then(Value::as_str)
                            .filter(|c| !c.is_empty());
                        let _ = writeln!(table, "{v}\t{}", cause.unwrap_or("<none>"));
                    }
                    super::describe::tabwriter(&table, 2)
                };
                let with = if revision > 0 { format!("with revision #{revision}") } else { String::new() };
                out.text.push_str(&format!("{} {with}\n{text}\n", object_ref(r, name)));
            }
            "undo" => {
                let to = revision_flag(cmd, "to-revision")?;
                let ds = self.api_get(cmd, r.object_path(ns, name)).map_err(|e| server_error_text(&e))?;
                let history = self.daemon_set_history(cmd, &ds);
                let not_found = || format!("error: unable to find specified revision {to} in history");
                // findHistory: the given revision, or the second newest.
                let target = if to == 0 {
                    if history.len() <= 1 {
                        out.error("error: no last revision to roll back to");
                        return Ok(());
                    }
                    history.values().rev().nth(1)
                } else {
                    history.get(&to)
                };
                let Some(target) = target else {
                    out.error(not_found());
                    return Ok(());
                };
                let data = target.get("data").cloned().unwrap_or(json!({}));
                if data == crate::kube_controller_manager::daemonset::revision_data(&ds) {
                    out.line(format!(
                        "{} skipped rollback (current template already matches revision {to})",
                        object_ref(r, name)
                    ));
                    return Ok(());
                }
                match self.patch(cmd, r, ns, name, data, STRATEGIC_MERGE_PATCH) {
                    Ok(_) => out.line(format!("{} rolled back", object_ref(r, name))),
                    Err(e) => out.error(format!("error: failed restoring revision {to}: {}", server_error_text(&e))),
                }
            }
            other => return Err(format!("error: unknown command \"{other}\" for \"kubectl rollout\"")),
        }
        Ok(())
    }

    /// The ControllerRevisions a DaemonSet controls, by revision
    /// (history.go `daemonSetHistory`: listed by its selector, kept when it
    /// is their controller).
    fn daemon_set_history(&mut self, cmd: &Kubectl, ds: &Value) -> std::collections::BTreeMap<i64, Value> {
        let Some(revisions) = resources::by_plural("apps", "controllerrevisions") else { return Default::default() };
        let selector = ds
            .pointer("/spec/selector")
            .and_then(crate::apimachinery::labels::Selector::from_label_selector)
            .map(|sel| crate::kube_apiserver::registry::selector_string(&sel))
            .unwrap_or_default();
        let path = with_query(&revisions.collection_path(Some(meta(ds, "namespace"))), &[("labelSelector", &selector)]);
        let uid = meta(ds, "uid").to_string();
        self.api_get(cmd, path)
            .ok()
            .and_then(|l| l.get("items").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|cr| {
                cr.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|o| o["controller"] == true && o["uid"] == uid.as_str()))
            })
            .map(|cr| (cr.get("revision").and_then(Value::as_i64).unwrap_or(0), cr))
            .collect()
    }

    fn kubectl_run(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(name) = cmd.args.first() else {
            return Err("error: NAME is required for run".into());
        };
        let Some(image) = cmd.flag("image") else {
            return Err("error: required flag(s) \"image\" not set".into());
        };
        let dry = Self::dry_run(cmd)?;
        let mut labels = Map::new();
        match cmd.flag("labels") {
            Some(l) => {
                for pair in l.split(',') {
                    let (k, v) = pair.split_once('=').ok_or_else(|| format!("error: invalid label spec: {pair}"))?;
                    labels.insert(k.into(), json!(v));
                }
            }
            None => {
                labels.insert("run".into(), json!(name));
            }
        }
        let mut container = json!({"name": name, "image": image, "resources": {}});
        if let Some(p) = cmd.flag("port") {
            let p: i64 = p.parse().map_err(|_| format!("error: invalid argument {p:?} for \"--port\" flag"))?;
            container["ports"] = json!([{"containerPort": p}]);
        }
        let env: Vec<Value> = cmd
            .flags
            .get("env")
            .into_iter()
            .flatten()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        if !env.is_empty() {
            container["env"] = json!(env);
        }
        let extra: Vec<String> = cmd.args[1..].to_vec();
        if !extra.is_empty() {
            container[if cmd.is_set("command") { "command" } else { "args" }] = json!(extra);
        }
        let restart = cmd.flag("restart").unwrap_or("Always");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": restart}, "status": {}});
        let namespace = self.namespace(cmd);
        let pods = resources::resolve("pods").expect("pods");
        self.create_object(cmd, out, pods, Some(&namespace), pod, "", dry);
        Ok(())
    }

    fn kubectl_expose(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let targets = self.named_targets(cmd, &cmd.args)?;
        let dry = Self::dry_run(cmd)?;
        for (r, ns, name) in targets {
            let o = self.api_get(cmd, r.object_path(ns.as_deref(), &name)).map_err(|e| server_error_text(&e))?;
            let selector = match r.kind {
                "Deployment" | "ReplicaSet" => o.pointer("/spec/selector/matchLabels").cloned(),
                "Service" | "ReplicationController" => o.pointer("/spec/selector").cloned(),
                "Pod" => o.pointer("/metadata/labels").cloned(),
                _ => None,
            };
            let Some(selector) = selector.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) else {
                return Err(format!("error: cannot expose a {}", r.kind));
            };
            let port = match cmd.flag("port") {
                Some(p) => {
                    p.parse::<i64>().map_err(|_| format!("error: invalid argument {p:?} for \"--port\" flag"))?
                }
                None => {
                    let pointer = if r.kind == "Pod" {
                        "/spec/containers/0/ports/0/containerPort"
                    } else {
                        "/spec/template/spec/containers/0/ports/0/containerPort"
                    };
                    o.pointer(pointer).and_then(Value::as_i64).ok_or_else(|| "error: couldn't find port via --port flag or introspection\nSee 'kubectl expose -h' for help and examples".to_string())?
                }
            };
            let target: Value = match cmd.flag("target-port") {
                Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(t)),
                None => json!(port),
            };
            let svc_name = cmd.flag("name").unwrap_or(&name).to_string();
            let mut spec = json!({"ports": [{"port": port, "protocol": cmd.flag("protocol").unwrap_or("TCP"), "targetPort": target}], "selector": selector});
            if let Some(t) = cmd.flag("type") {
                spec["type"] = json!(t);
            }
            let labels = o.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
            let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc_name, "labels": labels}, "spec": spec, "status": {"loadBalancer": {}}});
            let services = resources::resolve("services").expect("svc");
            let before = out.text.len();
            self.create_object(cmd, out, services, ns.as_deref(), svc, "", dry);
            if !out.failed && cmd.flag("output").is_none() {
                out.text.truncate(before);
                out.line(format!("service/{svc_name} exposed"));
            }
        }
        Ok(())
    }

    /// `kubectl logs [-c C] [-p] [--tail N] [--timestamps] POD|TYPE/NAME`:
    /// GET `pods/NAME/log`, which kube-apiserver proxies to the pod's
    /// kubelet. For a workload (`deploy/web`, `rs/web`) the first of its
    /// pods is used (`Found 3 pods, using pod/web-...`). `-f` prints what
    /// the container has logged so far.
    fn kubectl_logs(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let Some(target) = cmd.args.first() else {
            return Err("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples".into());
        };
        let namespace = self.namespace(cmd);
        let pods = resources::resolve("pods").expect("pods");
        let name = match target.split_once('/') {
            None => target.clone(),
            Some((kind, name)) if resources::resolve(kind).is_some_and(|r| r.plural == "pods") => name.to_string(),
            Some((kind, name)) => {
                let Some(resource) = resources::resolve(kind) else {
                    return Err(format!("error: the server doesn't have a resource type \"{kind}\""));
                };
                let owner = match self.api_get(cmd, resource.object_path(Some(&namespace), name)) {
                    Ok(o) => o,
                    Err(e) => {
                        out.server_error(&e);
                        return Ok(());
                    }
                };
                let selector = owner
                    .pointer("/spec/selector/matchLabels")
                    .or_else(|| owner.pointer("/spec/selector").filter(|s| s.get("matchLabels").is_none()))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let path = format!("{}?labelSelector={}", pods.collection_path(Some(&namespace)), selector.join(","));
                let list = match self.api_get(cmd, path) {
                    Ok(l) => l,
                    Err(e) => {
                        out.server_error(&e);
                        return Ok(());
                    }
                };
                let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
                // polymorphichelpers.GetFirstPod sorts with ByLogging: running
                // and ready first, then the older.
                items.sort_by_key(|p| {
                    let running = p.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
                    let created = p
                        .pointer("/metadata/creationTimestamp")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    (!running, created)
                });
                let Some(first) = items.first() else {
                    return Err("error: timed out waiting for the condition".to_string());
                };
                let pod_name = first.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                if items.len() > 1 {
                    out.line(format!("Found {} pods, using pod/{pod_name}", items.len()));
                }
                pod_name
            }
        };
        let pod = match self.api_get(cmd, pods.object_path(Some(&namespace), &name)) {
            Ok(p) => p,
            Err(e) => {
                out.server_error(&e);
                return Ok(());
            }
        };
        let names: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let container = match cmd.flag("container") {
            Some(c) => c.to_string(),
            None => {
                let default = pod
                    .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| names.first().cloned())
                    .unwrap_or_default();
                if names.len() > 1 {
                    out.line(format!("Defaulted container {default:?} out of: {}", names.join(", ")));
                }
                default
            }
        };
        let mut query = vec![format!("container={container}")];
        if cmd.is_set("previous") {
            query.push("previous=true".into());
        }
        if let Some(n) = cmd.flag("tail").filter(|n| *n != "-1") {
            if n.parse::<i64>().is_err() {
                return Err(format!("error: invalid argument \"{n}\" for \"--tail\" flag: strconv.ParseInt: parsing \"{n}\": invalid syntax"));
            }
            query.push(format!("tailLines={n}"));
        }
        if cmd.is_set("timestamps") {
            query.push("timestamps=true".into());
        }
        let path = format!("{}/log?{}", pods.object_path(Some(&namespace), &name), query.join("&"));
        match self.api_get(cmd, path) {
            Ok(Value::String(text)) => out.text.push_str(&text),
            Ok(_) => {}
            Err(e) => out.server_error(&e),
        }
        Ok(())
    }

    fn kubectl_auth(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        if cmd.args.first().map(String::as_str) != Some("can-i") {
            return Err("error: kscope's kubectl auth knows only `auth can-i`".into());
        }
        let (Some(verb), Some(what)) = (cmd.args.get(1), cmd.args.get(2)) else {
            return Err("error: you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples".into());
        };
        let (res, name) = what.split_once('/').map_or((what.as_str(), ""), |(r, n)| (r, n));
        let Some(r) = resources::resolve(res) else {
            out.line(format!("Warning: the server doesn't have a resource type '{res}'"));
            out.error("no");
            return Ok(());
        };
        let namespace = if cmd.is_set("all-namespaces") { String::new() } else { self.namespace(cmd) };
        let resource = match cmd.flag("subresource") {
            Some(sub) => format!("{}/{sub}", r.plural),
            None => r.plural.to_string(),
        };
        // The SelfSubjectAccessReview, answered from the apiserver's RBAC state.
        let user = crate::kube_apiserver::authenticate_as(
            &ComponentId::Client("kubectl".into()),
            cmd.flag("as"),
            &cmd.flag_list("as-group"),
        );
        let allowed = self
            .sim
            .components()
            .find(|(id, _, _)| **id == ComponentId::ApiServer)
            .and_then(|(_, c, _)| c.as_any().downcast_ref::<crate::kube_apiserver::KubeApiServer>())
            .map(|api| {
                crate::kube_apiserver::rbac::allowed(
                    api.cache(),
                    &user,
                    verb,
                    r.group,
                    &resource,
                    if r.namespaced { &namespace } else { "" },
                    name,
                )
            })
            .unwrap_or(false);
        if allowed {
            out.line("yes");
        } else {
            out.error("no");
        }
        Ok(())
    }

    fn kubectl_version(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        out.line("Client Version: v1.32.0\nKustomize Version: v5.5.0");
        if !cmd.is_set("client") {
            out.line(format!("Server Version: {}", crate::kubelet::KUBELET_VERSION));
        }
        Ok(())
    }

    fn kubectl_cluster_info(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let services = resources::resolve("services").expect("svc");
        let path = with_query(
            &services.collection_path(Some("kube-system")),
            &[("labelSelector", "kubernetes.io/cluster-service=true")],
        );
        let list = self.api_get(cmd, path).map_err(|e| server_error_text(&e))?;
        out.line(format!("Kubernetes control plane is running at {SERVER}"));
        for svc in list.get("items").and_then(Value::as_array).into_iter().flatten() {
            let name = svc
                .pointer("/metadata/labels/kubernetes.io~1name")
                .and_then(Value::as_str)
                .unwrap_or(meta(svc, "name"));
            let port = svc.pointer("/spec/ports/0/name").and_then(Value::as_str).unwrap_or_default();
            out.line(format!(
                "{name} is running at {SERVER}/api/v1/namespaces/kube-system/services/{}:{port}/proxy",
                meta(svc, "name")
            ));
        }
        out.line("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.");
        Ok(())
    }

    fn kubectl_describe(&mut self, cmd: &Kubectl, out: &mut Out) -> Result<(), String> {
        let targets = Self::targets(&cmd.args)?;
        if targets.is_empty() {
            return Err("error: You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.".into());
        }
        let namespace = self.namespace(cmd);
        let mut first = true;
        for (r, names) in targets {
            let objects: Vec<Value> = if names.is_empty() {
                let list = self
                    .api_get(cmd, Self::list_path(cmd, r, &namespace, cmd.is_set("all-namespaces")))
                    .map_err(|e| server_error_text(&e))?;
                list.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
            } else {
                let mut v = Vec::new();
                for n in names {
                    match self.api_get(cmd, r.object_path(r.namespaced.then_some(namespace.as_str()), &n)) {
                        Ok(o) => v.push(o),
                        Err(e) => out.server_error(&e),
                    }
                }
                v
            };
            for o in objects {
                if !first {
                    out.text.push_str("\n\n");
                }
                first = false;
                let mut related =
                    super::describe::Related { events: self.events_for(cmd, r, &o), ..Default::default() };
                if r.plural == "nodes" {
                    let name = meta(&o, "name").to_string();
                    if let Some(leases) = resources::by_plural("coordination.k8s.io", "leases") {
                        related.lease = self.api_get(cmd, leases.object_path(Some("kube-node-lease"), &name)).ok();
                    }
                    let pods = resources::resolve("pods").expect("pods");
                    let selector = format!("spec.nodeName={name},status.phase!=Failed,status.phase!=Succeeded");
                    let path = with_query(&pods.collection_path(None), &[("fieldSelector", &selector)]);
                    related.pods = self
                        .api_get(cmd, path)
                        .ok()
                        .and_then(|l| l.get("items").and_then(Value::as_array).cloned())
                        .unwrap_or_default();
                }
                if r.plural == "services" {
                    if let Some(slices) = resources::by_plural("discovery.k8s.io", "endpointslices") {
                        let selector = format!("kubernetes.io/service-name={}", meta(&o, "name"));
                        let ns = meta(&o, "namespace").to_string();
                        let path = with_query(&slices.collection_path(Some(&ns)), &[("labelSelector", &selector)]);
                        related.endpoint_slices = self
                            .api_get(cmd, path)
                            .ok()
                            .and_then(|l| l.get("items").and_then(Value::as_array).cloned())
                            .unwrap_or_default();
                    }
                }
                if r.plural == "deployments" {
                    related.replica_sets = self.deployment_replica_sets(cmd, &o).map(|(old, new)| {
                        (
                            old.into_iter()
                                .filter(|rs| rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(0))
                                .collect(),
                            new,
                        )
                    });
                }
                if ["replicasets", "replicationcontrollers", "daemonsets"].contains(&r.plural) {
                    // getPodStatusForController: the pods its selector matches in
                    // its namespace, counted by phase when it controls them.
                    let pods = resources::resolve("pods").expect("pods");
                    let selector = if r.plural != "replicationcontrollers" {
                        o.pointer("/spec/selector")
                            .and_then(crate::apimachinery::labels::Selector::from_label_selector)
                            .map(|sel| crate::kube_apiserver::registry::selector_string(&sel))
                            .unwrap_or_default()
                    } else {
                        crate::apimachinery::labels::format_labels(&crate::apimachinery::labels::string_map(
                            o.pointer("/spec/selector"),
                        ))
                    };
                    let path = with_query(
                        &pods.collection_path(Some(meta(&o, "namespace"))),
                        &[("labelSelector", selector.as_str())],
                    );
                    let uid = meta(&o, "uid").to_string();
                    related.pods = self
                        .api_get(cmd, path)
                        .ok()
                        .and_then(|l| l.get("items").and_then(Value::as_array).cloned())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|p| {
                            p.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
                                refs.iter().any(|r| r["controller"] == true && r["uid"] == uid.as_str())
                            })
                        })
                        .collect();
                }
                out.text.push_str(&super::describe::describe(r, &o, &related, self.now_ms()));
            }
        }
        Ok(())
    }

    /// `DeploymentHistoryViewer.ViewHistory` (polymorphichelpers/history.go):
    /// the revisions of the Deployment's ReplicaSets with their change
    /// causes, or one revision's pod template.
    fn rollout_history(&mut self, cmd: &Kubectl, d: &Value, revision: i64) -> Result<String, String> {
        use crate::kube_controller_manager::deployment::{CHANGE_CAUSE, REVISION};
        let (old, new) = self.deployment_replica_sets(cmd, d).unwrap_or_default();
        let mut history: std::collections::BTreeMap<i64, Value> = std::collections::BTreeMap::new();
        for rs in old.into_iter().chain(new) {
            let v = match rs.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str) {
                None => 0,
                Some(v) => match v.parse::<i64>() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            let mut template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let cause = rs.pointer("/metadata/annotations").and_then(|a| a.get(CHANGE_CAUSE)).and_then(Value::as_str);
            if let Some(cause) = cause.filter(|c| !c.is_empty()) {
                if !template["metadata"].is_object() {
                    template["metadata"] = json!({});
                }
                if !template["metadata"]["annotations"].is_object() {
                    template["metadata"]["annotations"] = json!({});
                }
                template["metadata"]["annotations"][CHANGE_CAUSE] = json!(cause);
            }
            history.insert(v, template);
        }
        if history.is_empty() {
            return Ok("No rollout history found.".into());
        }
        if revision > 0 {
            let template = history.get(&revision).ok_or("error: unable to find the specified revision")?;
            return Ok(super::describe::pod_template_text(template));
        }
        let mut table = String::from("REVISION\tCHANGE-CAUSE\n");
        for (v, template) in &history {
            let cause =
                template.pointer("/metadata/annotations").and_then(|a| a.get(CHANGE_CAUSE)).and_then(Value::as_str);
            let _ = writeln!(table, "{v}\t{}", cause.filter(|c| !c.is_empty()).unwrap_or("<none>"));
        }
        Ok(super::describe::tabwriter(&table, 2))
    }

    /// `DeploymentRollbacker.Rollback` (polymorphichelpers/rollback.go):
    /// patches the Deployment's template back to the chosen revision's (the
    /// previous one by default), without its pod-template-hash label, and
    /// its annotations to that ReplicaSet's.
    fn rollout_undo(&mut self, cmd: &Kubectl, d: &Value, to: i64) -> Result<String, String> {
        use crate::kube_controller_manager::deployment::{
            equal_ignore_hash, ANNOTATIONS_TO_SKIP, POD_TEMPLATE_HASH, REVISION,
        };
        let name = meta(d, "name").to_string();
        let (old, new) = self.deployment_replica_sets(cmd, d).unwrap_or_default();
        let revision_of = |rs: &Value| -> Option<i64> {
            match rs.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str) {
                None => Some(0),
                Some(v) => v.parse().ok(),
            }
        };
        // deploymentRevision: the given revision, or the second newest.
        let mut latest: (i64, Option<&Value>) = (-1, None);
        let mut previous: (i64, Option<&Value>) = (-1, None);
        let mut found = None;
        let all: Vec<&Value> = old.iter().chain(new.iter()).collect();
        for rs in &all {
            let Some(v) = revision_of(rs) else { continue };
            if to == 0 {
                if latest.0 < v {
                    previous = latest;
                    latest = (v, Some(rs));
                } else if previous.0 < v {
                    previous = (v, Some(rs));
                }
            } else if to == v {
                found = Some(*rs);
                break;
            }
        }
        let target = match (to, found, previous.1) {
            (0, _, Some(rs)) => rs,
            (0, _, None) => return Err(format!("error: no rollout history found for deployment \"{name}\"")),
            (_, Some(rs), _) => rs,
            (_, None, _) => return Err(format!("error: unable to find specified revision {to} in history")),
        };
        if d.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false) {
            return Err("error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again".into());
        }
        let mut template = target.pointer("/spec/template").cloned().unwrap_or(json!({}));
        if equal_ignore_hash(&template, d.pointer("/spec/template").unwrap_or(&Value::Null)) {
            return Ok(format!("skipped rollback (current template already matches revision {to})"));
        }
        if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        let mut annotations = Map::new();
        let current = d.pointer("/metadata/annotations").and_then(Value::as_object);
        for k in ANNOTATIONS_TO_SKIP {
            if let Some(v) = current.and_then(|a| a.get(k)) {
                annotations.insert(k.to_string(), v.clone());
            }
        }
        for (k, v) in target.pointer("/metadata/annotations").and_then(Value::as_object).into_iter().flatten() {
            if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
        let patch = json!([
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]);
        let deployments = resources::by_plural("apps", "deployments").ok_or("error: no deployments")?;
        let ns = meta(d, "namespace").to_string();
        self.patch(cmd, deployments, Some(&ns), &name, patch, JSON_PATCH)
            .map_err(|e| format!("error: failed restoring revision {to}: {}", server_error_text(&e)))?;
        Ok("rolled back".into())
    }

    /// The ReplicaSets a Deployment controls (kubectl's
    /// `deploymentutil.GetAllReplicaSets`): the old ones, oldest first, and
    /// the new one (the oldest whose template equals the Deployment's but
    /// for the pod-template-hash label).
    fn deployment_replica_sets(&mut self, cmd: &Kubectl, d: &Value) -> Option<(Vec<Value>, Option<Value>)> {
        let rs = resources::by_plural("apps", "replicasets")?;
        let selector = d
            .pointer("/spec/selector")
            .and_then(crate::apimachinery::labels::Selector::from_label_selector)
            .map(|sel| crate::kube_apiserver::registry::selector_string(&sel))
            .unwrap_or_default();
        let path = with_query(&rs.collection_path(Some(meta(d, "namespace"))), &[("labelSelector", selector.as_str())]);
        let uid = meta(d, "uid").to_string();
        let mut owned: Vec<Value> = self
            .api_get(cmd, path)
            .ok()?
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|rs| {
                rs.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true && r["uid"] == uid.as_str()))
            })
            .collect();
        owned.sort_by(|a, b| {
            (meta(a, "creationTimestamp"), meta(a, "name")).cmp(&(meta(b, "creationTimestamp"), meta(b, "name")))
        });
        let template = d.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let new = owned.iter().position(|rs| {
            crate::kube_controller_manager::deployment::equal_ignore_hash(
                rs.pointer("/spec/template").unwrap_or(&Value::Null),
                &template,
            )
        });
        let new = new.map(|i| owned.remove(i));
        Some((owned, new))
    }

    /// The events about `object` (what describe's Events section lists).
    fn events_for(&mut self, cmd: &Kubectl, r: &Resource, object: &Value) -> Vec<Value> {
        let events = resources::resolve("events").expect("events");
        let ns = meta(object, "namespace");
        let selector = format!("involvedObject.name={},involvedObject.kind={}", meta(object, "name"), r.kind);
        let ns = if ns.is_empty() { "default" } else { ns };
        let path = with_query(&events.collection_path(Some(ns)), &[("fieldSelector", &selector)]);
        self.api_get(cmd, path).ok().and_then(|l| l.get("items").and_then(Value::as_array).cloned()).unwrap_or_default()
    }
}

/// A `--revision` or `--to-revision` flag (0 when absent).
fn revision_flag(cmd: &Kubectl, flag: &str) -> Result<i64, String> {
    match cmd.flag(flag) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("error: invalid argument \"{v}\" for \"--{flag}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax")),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("error: resource name may not be empty".into());
    }
    for bad in ["/", "%", "?", "#"] {
        if name.contains(bad) {
            return Err(format!("error: invalid resource name {name:?}: [may not contain '{bad}']"));
        }
    }
    if name == "." || name == ".." {
        return Err(format!("error: invalid resource name {name:?}: [may not be '{name}']"));
    }
    Ok(())
}

fn rollout_status(d: &Value, name: &str) -> String {
    let int = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let (generation, observed) = (int("/metadata/generation"), int("/status/observedGeneration"));
    let (replicas, updated, available) =
        (int("/spec/replicas"), int("/status/updatedReplicas"), int("/status/availableReplicas"));
    let total = int("/status/replicas");
    if generation > observed {
        return "Waiting for deployment spec update to be observed...".into();
    }
    if updated < replicas {
        return format!("Waiting for deployment \"{name}\" rollout to finish: {updated} out of {replicas} new replicas have been updated...");
    }
    if total > updated {
        return format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            total.saturating_sub(updated)
        );
    }
    if available < updated {
        return format!("Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available...");
    }
    format!("deployment \"{name}\" successfully rolled out")
}

/// `DaemonSetRolloutStatus` (kubectl/pkg/polymorphichelpers/rollout_status.go).
fn daemon_set_rollout_status(ds: &Value, name: &str) -> Result<String, String> {
    let int = |p: &str| ds.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if ds.pointer("/spec/updateStrategy/type").and_then(Value::as_str) != Some("RollingUpdate") {
        return Err("error: rollout status is only available for RollingUpdate strategy type".into());
    }
    if int("/metadata/generation") > int("/status/observedGeneration") {
        return Ok("Waiting for daemon set spec update to be observed...".into());
    }
    let (desired, updated, available) =
        (int("/status/desiredNumberScheduled"), int("/status/updatedNumberScheduled"), int("/status/numberAvailable"));
    if updated < desired {
        return Ok(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return Ok(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    Ok(format!("daemon set \"{name}\" successfully rolled out"))
}

/// The pod template a DaemonSet revision restores (its `data` patch's
/// template, without the `$patch` directive).
fn revision_template(cr: &Value) -> Value {
    let mut template = cr.pointer("/data/spec/template").cloned().unwrap_or(json!({}));
    if let Some(m) = template.as_object_mut() {
        m.remove("$patch");
    }
    template
}

/// kubectl's default container name for an image (`nginx:1.27` → `nginx`,
/// `registry.k8s.io/pause` → `pause`).
fn container_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let base = last.split(['@', ':']).next().unwrap_or(last);
    base.to_ascii_lowercase()
}

/// A JSON merge patch taking `live` to `desired`, and removing what was in
/// the last applied configuration `original` but is no longer wanted: the
/// three-way merge of client-side apply (lists are replaced whole).
pub fn three_way_patch(original: &Value, desired: &Value, live: &Value) -> Value {
    let mut patch = Map::new();
    let (Some(d), l) = (desired.as_object(), live.as_object()) else { return json!({}) };
    if let Some(o) = original.as_object() {
        for k in o.keys() {
            if !d.contains_key(k) && l.is_some_and(|l| l.contains_key(k)) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    for (k, dv) in d {
        let lv = l.and_then(|l| l.get(k));
        let ov = original.get(k).unwrap_or(&Value::Null);
        match (dv, lv) {
            (Value::Object(_), Some(lv @ Value::Object(_))) => {
                let sub = three_way_patch(ov, dv, lv);
                if sub.as_object().is_some_and(|m| !m.is_empty()) {
                    patch.insert(k.clone(), sub);
                }
            }
            (dv, Some(lv)) if json_equal(dv, lv) => {}
            (Value::Array(da), Some(Value::Array(la))) if array_covered(da, la) => {}
            _ => {
                patch.insert(k.clone(), dv.clone());
            }
        }
    }
    Value::Object(patch)
}

/// Whether the live list already has what the desired list asks for (the
/// server adds defaults inside list items, which must not count as a change).
fn array_covered(desired: &[Value], live: &[Value]) -> bool {
    desired.len() == live.len() && desired.iter().zip(live).all(|(d, l)| subset(d, l))
}

fn subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| l.get(k).is_some_and(|lv| subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => array_covered(d, l),
        (d, l) => json_equal(d, l),
    }
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn kubectl_api_resources(cmd: &Kubectl, out: &mut Out) {
    let mut rows = Vec::new();
    let wide = cmd.flag("output") == Some("wide");
    let name_only = cmd.flag("output") == Some("name");
    if !cmd.is_set("no-headers") && !name_only {
        let mut h: Vec<String> =
            ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"].iter().map(|s| s.to_string()).collect();
        if wide {
            h.extend(["VERBS".to_string(), "CATEGORIES".to_string()]);
        }
        rows.push(h);
    }
    // Sorted by group ("" first), then name; the Binding pseudo-resource and
    // events.k8s.io events are listed as a real apiserver lists them.
    let mut entries: Vec<(String, String, String, bool, String)> = RESOURCES
        .iter()
        .map(|r| (r.group.to_string(), r.plural.to_string(), r.short_names.join(","), r.namespaced, r.kind.to_string()))
        .collect();
    entries.push((String::new(), "bindings".into(), String::new(), true, "Binding".into()));
    entries.push(("events.k8s.io".into(), "events".into(), "ev".into(), true, "Event".into()));
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (group, plural, short, namespaced, kind) in entries {
        if let Some(ns) = cmd.flag("namespaced") {
            if ns != namespaced.to_string() {
                continue;
            }
        }
        if let Some(g) = cmd.flag("api-group") {
            if g != group {
                continue;
            }
        }
        let api_version = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
        if name_only {
            out.line(if group.is_empty() { plural } else { format!("{plural}.{group}") });
            continue;
        }
        let mut row = vec![plural.clone(), short, api_version, namespaced.to_string(), kind];
        if wide {
            let verbs = if plural == "bindings" {
                "create"
            } else {
                "create,delete,deletecollection,get,list,patch,update,watch"
            };
            let category = if ["pods", "services", "daemonsets", "deployments", "replicasets", "replicationcontrollers"]
                .contains(&plural.as_str())
            {
                "all"
            } else {
                ""
            };
            row.push(verbs.into());
            row.push(category.into());
        }
        rows.push(row);
    }
    if !name_only {
        let mut text = printers::tabulate(&rows);
        if text.is_empty() {
            text = String::new();
        }
        let _ = write!(out.text, "{text}");
    }
}
