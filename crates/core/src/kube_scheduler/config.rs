//! KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): defaults,
//! validation and the profiles built from it.
//!
//! Facts from pkg/scheduler/apis/config/v1/{defaults.go,default_plugins.go},
//! pkg/scheduler/apis/config/validation and
//! pkg/scheduler/framework/runtime/framework.go (how multiPoint expands and
//! how per-point lists override it). Errors read like kube-scheduler's
//! (`initializing profiles: creating profile for scheduler name ...`).

use super::framework::{Plugin, Point};
use super::plugins::{self, inter_pod_affinity, node_resources, pod_topology_spread, REGISTRY};
use super::types::SpreadConstraint;
use serde_json::Value;
use std::collections::BTreeMap;

/// The default scheduler name.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// The default profile's multiPoint plugins and Score weights (v1
/// default_plugins.go, v1.32; the three cloud disk limit plugins are gone).
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("NodeVolumeLimits", 0),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

/// DefaultPreemption's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreemptionArgs {
    /// minCandidateNodesPercentage (default 10).
    pub min_candidate_nodes_percentage: i64,
    /// minCandidateNodesAbsolute (default 100).
    pub min_candidate_nodes_absolute: i64,
}

impl Default for PreemptionArgs {
    fn default() -> Self {
        PreemptionArgs { min_candidate_nodes_percentage: 10, min_candidate_nodes_absolute: 100 }
    }
}

/// One scheduling profile: a framework with its plugins per extension point.
pub struct Profile {
    /// spec.schedulerName of the pods it schedules.
    pub scheduler_name: String,
    /// Its own percentageOfNodesToScore, if set.
    pub percentage_of_nodes_to_score: Option<i64>,
    /// The plugin instances.
    pub plugins: Vec<Box<dyn Plugin>>,
    /// Plugin indices per extension point, in run order.
    pub points: BTreeMap<Point, Vec<usize>>,
    /// Score weight per plugin index (Score plugins only).
    pub weights: BTreeMap<usize, i64>,
    /// DefaultPreemption's arguments when it is enabled.
    pub preemption: Option<PreemptionArgs>,
}

impl Profile {
    /// The plugins at `point`, in order.
    pub fn at(&self, point: Point) -> impl Iterator<Item = (usize, &dyn Plugin)> {
        self.points.get(&point).into_iter().flatten().map(|&i| (i, self.plugins[i].as_ref()))
    }

    /// Whether a plugin named `name` runs at `point`.
    pub fn has(&self, point: Point, name: &str) -> bool {
        self.at(point).any(|(_, p)| p.name() == name)
    }
}

/// The scheduler's configuration.
pub struct SchedulerConfig {
    /// Global percentageOfNodesToScore (0: adaptive).
    pub percentage_of_nodes_to_score: i64,
    /// podInitialBackoffSeconds, in ms.
    pub initial_backoff_ms: u64,
    /// podMaxBackoffSeconds, in ms.
    pub max_backoff_ms: u64,
    /// The profiles.
    pub profiles: Vec<Profile>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::parse(&Value::Null).expect("the default configuration is valid")
    }
}

#[derive(Clone, Debug, Default)]
struct PluginSet {
    enabled: Vec<(String, Option<i64>)>,
    disabled: Vec<String>,
}

fn plugin_set(v: Option<&Value>, path: &str) -> Result<PluginSet, String> {
    let mut set = PluginSet::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(set);
    };
    strict(v, &["enabled", "disabled"], path)?;
    for (i, p) in v.get("enabled").and_then(Value::as_array).into_iter().flatten().enumerate() {
        strict(p, &["name", "weight"], &format!("{path}.enabled[{i}]"))?;
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        set.enabled.push((name, p.get("weight").and_then(Value::as_i64)));
    }
    for (i, p) in v.get("disabled").and_then(Value::as_array).into_iter().flatten().enumerate() {
        strict(p, &["name", "weight"], &format!("{path}.disabled[{i}]"))?;
        set.disabled.push(p.get("name").and_then(Value::as_str).unwrap_or_default().to_string());
    }
    Ok(set)
}

/// Unknown fields are refused, as the scheduler's strict decoding does.
fn strict(v: &Value, known: &[&str], path: &str) -> Result<(), String> {
    let Some(map) = v.as_object() else {
        return Err(format!("strict decoding error: {path}: expected an object"));
    };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            return Err(format!("strict decoding error: unknown field \"{field}\""));
        }
    }
    Ok(())
}

/// v1 defaults.go `mergePluginSet`: default plugins stay in place unless
/// disabled (or all are, with `*`); a default the user enables again is
/// replaced in place; the user's other plugins follow.
fn merge(default: &PluginSet, custom: &PluginSet) -> PluginSet {
    let mut disabled = custom.disabled.clone();
    disabled.extend(default.disabled.iter().cloned());
    let mut enabled = Vec::new();
    let mut replaced = Vec::new();
    if !disabled.iter().any(|d| d == "*") {
        for (name, weight) in &default.enabled {
            if disabled.contains(name) {
                continue;
            }
            match custom.enabled.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    replaced.push(i);
                    enabled.push(custom.enabled[i].clone());
                }
                None => enabled.push((name.clone(), *weight)),
            }
        }
    }
    for (i, p) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(p.clone());
        }
    }
    PluginSet { enabled, disabled }
}

fn interface(point: Point) -> String {
    format!("{}Plugin", point.title())
}

fn invalid(path: &str, value: &Value, detail: &str) -> String {
    let shown = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    format!("{path}: Invalid value: {shown}: {detail}")
}

impl SchedulerConfig {
    /// Reads a KubeSchedulerConfiguration (Null: all defaults).
    pub fn parse(v: &Value) -> Result<SchedulerConfig, String> {
        let empty = serde_json::json!({});
        let v = if v.is_null() { &empty } else { v };
        strict(
            v,
            &[
                "apiVersion",
                "kind",
                "percentageOfNodesToScore",
                "podInitialBackoffSeconds",
                "podMaxBackoffSeconds",
                "profiles",
                "parallelism",
                "leaderElection",
                "clientConnection",
                "enableProfiling",
                "enableContentionProfiling",
                "extenders",
                "delayCacheUntilActive",
            ],
            "",
        )?;
        match v.get("apiVersion").and_then(Value::as_str) {
            None | Some("kubescheduler.config.k8s.io/v1") => {}
            Some(other) => {
                return Err(format!("no kind \"KubeSchedulerConfiguration\" is registered for version \"{other}\""))
            }
        }
        if let Some(kind) = v.get("kind").and_then(Value::as_str) {
            if kind != "KubeSchedulerConfiguration" {
                return Err(format!("no kind \"{kind}\" is registered for version \"kubescheduler.config.k8s.io/v1\""));
            }
        }
        let int = |key: &str, default: i64| v.get(key).and_then(Value::as_i64).unwrap_or(default);
        let percentage = int("percentageOfNodesToScore", 0);
        let initial = int("podInitialBackoffSeconds", 1);
        let max = int("podMaxBackoffSeconds", 10);
        let mut errors = Vec::new();
        if !(0..=100).contains(&percentage) {
            errors.push(invalid("percentageOfNodesToScore", &percentage.into(), "not in valid range [0-100]"));
        }
        for (field, v) in [("podInitialBackoffSeconds", initial), ("podMaxBackoffSeconds", max)] {
            if v > i64::from(i32::MAX) {
                return Err(format!("strict decoding error: {field} {v} does not fit an int32"));
            }
        }
        if initial <= 0 {
            errors.push(invalid("podInitialBackoffSeconds", &initial.into(), "must be greater than 0"));
        }
        if max < initial {
            errors.push(invalid(
                "podMaxBackoffSeconds",
                &max.into(),
                "must be greater than or equal to PodInitialBackoffSeconds",
            ));
        }
        if let Some(p) = v.get("parallelism").and_then(Value::as_i64) {
            if p <= 0 {
                errors.push(invalid("parallelism", &p.into(), "should be an integer value greater than zero"));
            }
        }
        let profiles_in: Vec<Value> = match v.get("profiles").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list.clone(),
            _ => vec![serde_json::json!({})],
        };
        let single = profiles_in.len() == 1;
        let mut names: Vec<String> = Vec::new();
        for (i, p) in profiles_in.iter().enumerate() {
            let path = format!("profiles[{i}]");
            strict(p, &["schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"], &path)?;
            let name = match p.get("schedulerName").and_then(Value::as_str) {
                Some(n) => n.to_string(),
                None if single => DEFAULT_SCHEDULER_NAME.to_string(),
                None => String::new(),
            };
            if name.is_empty() {
                errors.push(format!("{path}.schedulerName: Required value"));
            } else if let Some(first) = names.iter().position(|n| *n == name) {
                errors.push(format!("{path}.schedulerName: Duplicate value: \"profiles[{first}].schedulerName\""));
            }
            names.push(name);
            if let Some(pct) = p.get("percentageOfNodesToScore").and_then(Value::as_i64) {
                if !(0..=100).contains(&pct) {
                    errors.push(invalid(
                        &format!("{path}.percentageOfNodesToScore"),
                        &pct.into(),
                        "not in valid range [0-100]",
                    ));
                }
            }
        }
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(format!("[{}]", errors.join(", "))),
        }
        let mut profiles = Vec::new();
        for (p, name) in profiles_in.iter().zip(names) {
            let profile = build_profile(p, &name)
                .map_err(|e| format!("initializing profiles: creating profile for scheduler name {name}: {e}"))?;
            profiles.push(profile);
        }
        Ok(SchedulerConfig {
            percentage_of_nodes_to_score: percentage,
            initial_backoff_ms: initial as u64 * 1000,
            max_backoff_ms: max as u64 * 1000,
            profiles,
        })
    }

    /// The profile for pods with `scheduler_name`.
    pub fn profile(&self, scheduler_name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.scheduler_name == scheduler_name)
    }
}

/// Builds one profile (framework.go `NewFramework` with the v1 defaults merged in).
fn build_profile(p: &Value, name: &str) -> Result<Profile, String> {
    let plugins_v = p.get("plugins").cloned().unwrap_or(Value::Null);
    if !plugins_v.is_null() {
        let mut known: Vec<&str> = Point::ALL.iter().map(|pt| pt.field()).collect();
        known.push("multiPoint");
        strict(&plugins_v, &known, "plugins")?;
    }
    let default_multi = PluginSet {
        enabled: DEFAULT_PLUGINS.iter().map(|(n, w)| (n.to_string(), (*w > 0).then_some(*w))).collect(),
        disabled: Vec::new(),
    };
    let multi = merge(&default_multi, &plugin_set(plugins_v.get("multiPoint"), "plugins.multiPoint")?);
    let mut per_point = BTreeMap::new();
    for point in Point::ALL {
        let set = plugin_set(plugins_v.get(point.field()), &format!("plugins.{}", point.field()))?;
        per_point.insert(point, merge(&PluginSet::default(), &set));
    }
    // Plugin arguments.
    let mut args: BTreeMap<String, Value> = BTreeMap::new();
    for (i, c) in p.get("pluginConfig").and_then(Value::as_array).into_iter().flatten().enumerate() {
        strict(c, &["name", "args"], &format!("pluginConfig[{i}]"))?;
        let n = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if args.contains_key(&n) {
            return Err(format!("repeated config for plugin {n}"));
        }
        args.insert(n, c.get("args").cloned().unwrap_or(Value::Null));
    }
    // Instantiate every plugin named anywhere, in first-mention order.
    let mut order: Vec<String> = Vec::new();
    for (n, _) in multi.enabled.iter().chain(per_point.values().flat_map(|s| s.enabled.iter())) {
        if !order.contains(n) {
            order.push(n.clone());
        }
    }
    let mut instances: Vec<Box<dyn Plugin>> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut preemption = None;
    for n in &order {
        let Some(points) = plugins::points_of(n) else { continue };
        let _ = points;
        let (plugin, pre) = instantiate(n, args.get(n)).map_err(|e| format!("initializing plugin {n:?}: {e}"))?;
        if pre.is_some() {
            preemption = pre;
        }
        index.insert(n.clone(), instances.len());
        instances.push(plugin);
    }
    // Expand per extension point (framework.go order of checks).
    let check_order = [
        Point::PreFilter,
        Point::Filter,
        Point::PostFilter,
        Point::Reserve,
        Point::PreScore,
        Point::Score,
        Point::PreBind,
        Point::Bind,
        Point::PostBind,
        Point::Permit,
        Point::PreEnqueue,
        Point::QueueSort,
    ];
    let mut points: BTreeMap<Point, Vec<usize>> = BTreeMap::new();
    for point in check_order {
        let set = &per_point[&point];
        let mut explicit: Vec<String> = Vec::new();
        for (n, _) in &set.enabled {
            let Some(implemented) = plugins::points_of(n) else {
                return Err(format!("{} {n:?} does not exist", interface(point)));
            };
            if !implemented.contains(&point) {
                return Err(format!("plugin {n:?} does not extend {} plugin", interface(point)));
            }
            if explicit.contains(n) {
                return Err(format!("plugin {n:?} already registered as {:?}", interface(point)));
            }
            explicit.push(n.clone());
        }
        let mut list: Vec<String> = Vec::new();
        if set.disabled.iter().any(|d| d == "*") {
            list = explicit;
        } else {
            let mut overrides = Vec::new();
            let mut from_multi: Vec<String> = Vec::new();
            for (n, _) in &multi.enabled {
                let Some(implemented) = plugins::points_of(n) else {
                    return Err(format!("{} {n:?} does not exist", interface(point)));
                };
                if !implemented.contains(&point) || set.disabled.contains(n) {
                    continue;
                }
                if explicit.contains(n) {
                    overrides.push(n.clone());
                    continue;
                }
                if from_multi.contains(n) {
                    return Err(format!("plugin {n:?} already registered as {:?}", interface(point)));
                }
                from_multi.push(n.clone());
            }
            for n in &explicit {
                if overrides.contains(n) {
                    list.push(n.clone());
                }
            }
            list.extend(from_multi);
            list.extend(explicit.iter().filter(|n| !overrides.contains(n)).cloned());
        }
        points.insert(point, list.iter().map(|n| index[n]).collect());
    }
    // Score weights: explicit score entries first, then multiPoint; 0 or unset is 1.
    let mut weights: BTreeMap<usize, i64> = BTreeMap::new();
    for &i in points.get(&Point::Score).into_iter().flatten() {
        let n = instances[i].name();
        let explicit = per_point[&Point::Score].enabled.iter().find(|(x, _)| x == n).and_then(|(_, w)| *w);
        let multi_w = multi.enabled.iter().find(|(x, _)| x == n).and_then(|(_, w)| *w);
        let w = explicit.or(multi_w).filter(|w| *w != 0).unwrap_or(1);
        if w < 0 {
            return Err(format!("score plugin {n:?} should not have a negative weight, got {w}"));
        }
        if w > i32::MAX as i64 {
            return Err(format!("strict decoding error: weight {w} of plugin {n:?} does not fit an int32"));
        }
        weights.insert(i, w);
    }
    let queue_sorts = points.get(&Point::QueueSort).map_or(0, Vec::len);
    if queue_sorts != 1 {
        return Err(format!(
            "only one queue sort plugin required for profile with scheduler name {name:?}, but got {queue_sorts}"
        ));
    }
    if points.get(&Point::Bind).is_none_or(Vec::is_empty) {
        return Err(format!("at least one bind plugin is needed for profile with scheduler name {name:?}"));
    }
    let enabled_preemption = points
        .get(&Point::PostFilter)
        .into_iter()
        .flatten()
        .any(|&i| instances[i].name() == plugins::DEFAULT_PREEMPTION);
    Ok(Profile {
        scheduler_name: name.to_string(),
        percentage_of_nodes_to_score: p.get("percentageOfNodesToScore").and_then(Value::as_i64),
        plugins: instances,
        points,
        weights,
        preemption: enabled_preemption.then(|| preemption.unwrap_or_default()),
    })
}

fn resources_arg(v: Option<&Value>, path: &str) -> Result<Vec<node_resources::ResourceSpec>, String> {
    let Some(list) = v.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return Ok(node_resources::default_resources());
    };
    if list.len() > 8 {
        return Err(format!("{path}: Too many: {}: kscope scores at most 8 resources", list.len()));
    }
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        strict(r, &["name", "weight"], &format!("{path}[{i}]"))?;
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let weight = match r.get("weight").and_then(Value::as_i64).unwrap_or(0) {
            0 => 1,
            w => w,
        };
        if !(1..=100).contains(&weight) {
            return Err(invalid(
                &format!("{path}[{i}].weight"),
                &weight.into(),
                &format!("resource weight of {name} not in valid range (0, 100]"),
            ));
        }
        out.push(node_resources::ResourceSpec { name, weight });
    }
    Ok(out)
}

/// A plugin with its arguments applied and validated.
fn instantiate(name: &str, args: Option<&Value>) -> Result<(Box<dyn Plugin>, Option<PreemptionArgs>), String> {
    let args = args.filter(|a| !a.is_null());
    let mut preemption = None;
    let plugin: Box<dyn Plugin> = match (name, args) {
        (node_resources::FIT, Some(a)) => {
            strict(a, &["apiVersion", "kind", "scoringStrategy", "ignoredResources", "ignoredResourceGroups"], "")?;
            let s = a.get("scoringStrategy").cloned().unwrap_or(Value::Null);
            let mut fit = node_resources::Fit::default();
            if !s.is_null() {
                strict(&s, &["type", "resources", "requestedToCapacityRatio"], "scoringStrategy")?;
                fit.resources = resources_arg(s.get("resources"), "scoringStrategy.resources")?;
                let ratio = s.get("requestedToCapacityRatio").filter(|r| !r.is_null());
                let kind = s.get("type").and_then(Value::as_str).unwrap_or_default();
                fit.strategy = match kind {
                    "LeastAllocated" | "MostAllocated" if ratio.is_some() => {
                        return Err(
                            "scoringStrategy.requestedToCapacityRatio: Forbidden: must be nil when type is not RequestedToCapacityRatio"
                                .into(),
                        )
                    }
                    "LeastAllocated" => node_resources::Strategy::LeastAllocated,
                    "MostAllocated" => node_resources::Strategy::MostAllocated,
                    "RequestedToCapacityRatio" => {
                        let Some(ratio) = ratio else {
                            return Err("scoringStrategy.requestedToCapacityRatio: Required value: must be specified when type is RequestedToCapacityRatio".into());
                        };
                        node_resources::Strategy::RequestedToCapacityRatio(shape(ratio)?)
                    }
                    other => {
                        return Err(format!(
                            "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
                        ))
                    }
                };
            }
            Box::new(fit)
        }
        (node_resources::BALANCED_ALLOCATION, Some(a)) => {
            strict(a, &["apiVersion", "kind", "resources"], "")?;
            let resources = resources_arg(a.get("resources"), "resources")?;
            for (i, r) in resources.iter().enumerate() {
                if r.weight != 1 {
                    return Err(invalid(&format!("resources[{i}].weight"), &r.weight.into(), "must be 1"));
                }
            }
            Box::new(node_resources::BalancedAllocation { resources })
        }
        (inter_pod_affinity::NAME, Some(a)) => {
            strict(a, &["apiVersion", "kind", "hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"], "")?;
            let w = a.get("hardPodAffinityWeight").and_then(Value::as_i64).unwrap_or(1);
            if !(0..=100).contains(&w) {
                return Err(invalid("hardPodAffinityWeight", &w.into(), "not in valid range [0, 100]"));
            }
            Box::new(inter_pod_affinity::InterPodAffinity {
                hard_pod_affinity_weight: w,
                ignore_preferred_terms_of_existing_pods: a
                    .get("ignorePreferredTermsOfExistingPods")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        }
        (pod_topology_spread::NAME, Some(a)) => {
            strict(a, &["apiVersion", "kind", "defaultingType", "defaultConstraints"], "")?;
            let defaulting = a.get("defaultingType").and_then(Value::as_str).unwrap_or("System");
            let constraints: Vec<SpreadConstraint> = a
                .get("defaultConstraints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut c = c.clone();
                    // Default constraints take their selector from the workload.
                    c["labelSelector"] = serde_json::json!({});
                    SpreadConstraint::parse_for_default(&c)
                })
                .collect();
            match defaulting {
                "System" if !constraints.is_empty() => {
                    return Err(invalid("defaultingType", &"System".into(), "when .defaultConstraints are not empty"))
                }
                "System" => Box::new(pod_topology_spread::PodTopologySpread::default()),
                "List" => Box::new(pod_topology_spread::PodTopologySpread {
                    system_defaulted: false,
                    default_constraints: constraints,
                }),
                other => {
                    return Err(format!(
                        "defaultingType: Unsupported value: {other:?}: supported values: \"List\", \"System\""
                    ))
                }
            }
        }
        (plugins::DEFAULT_PREEMPTION, Some(a)) => {
            strict(a, &["apiVersion", "kind", "minCandidateNodesPercentage", "minCandidateNodesAbsolute"], "")?;
            let pct = a.get("minCandidateNodesPercentage").and_then(Value::as_i64).unwrap_or(10);
            let abs = a.get("minCandidateNodesAbsolute").and_then(Value::as_i64).unwrap_or(100);
            if !(0..=100).contains(&pct) {
                return Err(invalid("minCandidateNodesPercentage", &pct.into(), "not in valid range [0, 100]"));
            }
            if abs < 0 {
                return Err(invalid("minCandidateNodesAbsolute", &abs.into(), "not in valid range [0, inf)"));
            }
            if pct == 0 && abs == 0 {
                return Err(invalid(
                    "minCandidateNodesPercentage",
                    &0.into(),
                    "cannot be zero at the same time as minCandidateNodesAbsolute",
                ));
            }
            preemption =
                Some(PreemptionArgs { min_candidate_nodes_percentage: pct, min_candidate_nodes_absolute: abs });
            plugins::build(name).ok_or_else(|| format!("plugin {name:?} does not exist"))?
        }
        (_, Some(_)) if REGISTRY.iter().any(|(n, _)| *n == name) => {
            return Err(format!("kscope does not model the arguments of {name}"));
        }
        _ => plugins::build(name).ok_or_else(|| format!("plugin {name:?} does not exist"))?,
    };
    Ok((plugin, preemption))
}

fn shape(ratio: &Value) -> Result<Vec<node_resources::ShapePoint>, String> {
    strict(ratio, &["shape"], "scoringStrategy.requestedToCapacityRatio")?;
    let path = "scoringStrategy.requestedToCapacityRatio.shape";
    let list = ratio.get("shape").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() {
        return Err(format!("{path}: Required value: at least one point must be specified"));
    }
    let mut points = Vec::new();
    for (i, p) in list.iter().enumerate() {
        strict(p, &["utilization", "score"], &format!("{path}[{i}]"))?;
        let u = p.get("utilization").and_then(Value::as_i64).unwrap_or(0);
        let s = p.get("score").and_then(Value::as_i64).unwrap_or(0);
        if let Some(prev) = points.last().map(|p: &node_resources::ShapePoint| p.utilization) {
            if u <= prev {
                return Err(invalid(
                    &format!("{path}[{i}].utilization"),
                    &u.into(),
                    "values must be sorted in increasing order",
                ));
            }
        }
        if !(0..=100).contains(&u) {
            return Err(invalid(&format!("{path}[{i}].utilization"), &u.into(), "not in valid range [0, 100]"));
        }
        if !(0..=node_resources::MAX_CUSTOM_PRIORITY_SCORE).contains(&s) {
            return Err(invalid(&format!("{path}[{i}].score"), &s.into(), "not in valid range [0, 10]"));
        }
        points.push(node_resources::ShapePoint { utilization: u, score: s });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(profile: &Profile, point: Point) -> Vec<&'static str> {
        profile.at(point).map(|(_, p)| p.name()).collect()
    }

    #[test]
    fn the_default_profile_expands_multipoint_like_kube_scheduler() {
        let c = SchedulerConfig::default();
        let p = &c.profiles[0];
        assert_eq!(p.scheduler_name, "default-scheduler");
        assert_eq!(
            names(p, Point::Filter),
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "NodeVolumeLimits",
                "VolumeBinding",
                "VolumeZone",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        let weights: Vec<(&str, i64)> = p.at(Point::Score).map(|(i, pl)| (pl.name(), p.weights[&i])).collect();
        assert_eq!(
            weights,
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("VolumeBinding", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1)
            ]
        );
        assert_eq!(names(p, Point::PostFilter), ["DefaultPreemption"]);
        assert_eq!(c.initial_backoff_ms, 1000);
        assert_eq!(c.max_backoff_ms, 10_000);
    }

    #[test]
    fn per_point_lists_override_and_disable() {
        let c = SchedulerConfig::parse(&json!({
            "profiles": [{"plugins": {
                "score": {"enabled": [{"name": "NodeResourcesFit", "weight": 5}], "disabled": [{"name": "ImageLocality"}]},
                "postFilter": {"disabled": [{"name": "*"}]},
            }}]
        }))
        .unwrap();
        let p = &c.profiles[0];
        let score: Vec<(&str, i64)> = p.at(Point::Score).map(|(i, pl)| (pl.name(), p.weights[&i])).collect();
        // The override comes first, then the rest of multiPoint.
        assert_eq!(score[0], ("NodeResourcesFit", 5));
        assert!(!score.iter().any(|(n, _)| *n == "ImageLocality"));
        assert!(p.preemption.is_none());
    }

    #[test]
    fn bad_configurations_get_kube_scheduler_errors() {
        let err = |v: Value| SchedulerConfig::parse(&v).err().unwrap();
        assert_eq!(
            err(json!({"percentageOfNodesToScore": 120})),
            "percentageOfNodesToScore: Invalid value: 120: not in valid range [0-100]"
        );
        assert_eq!(
            err(json!({"profiles": [{"plugins": {"score": {"enabled": [{"name": "Foo"}]}}}]})),
            "initializing profiles: creating profile for scheduler name default-scheduler: ScorePlugin \"Foo\" does not exist"
        );
        assert_eq!(
            err(json!({"profiles": [{"plugins": {"score": {"enabled": [{"name": "NodeName"}]}}}]})),
            "initializing profiles: creating profile for scheduler name default-scheduler: plugin \"NodeName\" does not extend ScorePlugin plugin"
        );
        assert_eq!(
            err(json!({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]})),
            "profiles[1].schedulerName: Duplicate value: \"profiles[0].schedulerName\""
        );
        assert!(err(json!({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 200}]}}}]}]}))
            .ends_with("initializing plugin \"NodeResourcesFit\": scoringStrategy.resources[0].weight: Invalid value: 200: resource weight of cpu not in valid range (0, 100]"));
        assert!(err(json!({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 5}, {"utilization": 10, "score": 1}]}}}}]}]}))
            .ends_with("values must be sorted in increasing order"));
        assert_eq!(err(json!({"percentageOfNodes": 1})), "strict decoding error: unknown field \"percentageOfNodes\"");
    }
}
