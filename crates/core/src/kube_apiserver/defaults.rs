//! Defaulting, as the real apiserver's scheme defaults and registry
//! strategies do it: pkg/apis/core/v1/defaults.go (`SetDefaults_PodSpec`,
//! `SetDefaults_Container`, `SetDefaults_Probe`, `SetDefaults_Service`,
//! `SetDefaults_Namespace`, `SetDefaults_Secret`), pkg/apis/apps/v1/defaults.go
//! (`SetDefaults_Deployment`, `SetDefaults_ReplicaSet`, `SetDefaults_DaemonSet`),
//! pkg/apis/discovery/v1/defaults.go (`SetDefaults_EndpointPort`) and the strategies'
//! `PrepareForCreate` (pkg/registry/*/strategy.go).

use super::typed::Typed;
use k8s_openapi::api::apps::v1::{
    DaemonSetUpdateStrategy, DeploymentStrategy, RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Applies the scheme defaults of `object`'s kind.
pub fn apply(object: &mut Typed) {
    match object {
        Typed::Pod(pod) => {
            if let Some(spec) = pod.spec.as_mut() {
                pod_spec(spec);
                spec.enable_service_links.get_or_insert(true);
                // SetDefaults_Pod: a container's requests default to its limits.
                for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
                    if let Some(res) = c.resources.as_mut() {
                        if let Some(limits) = res.limits.clone() {
                            let requests = res.requests.get_or_insert_with(Default::default);
                            for (k, v) in limits {
                                requests.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
        }
        Typed::LimitRange(lr) => {
            // SetDefaults_LimitRangeItem: for containers, max defaults the
            // default limit, and the default limit (or min) the default request.
            for item in lr.spec.as_mut().map(|s| s.limits.iter_mut()).into_iter().flatten() {
                if item.type_ != "Container" {
                    continue;
                }
                if let Some(max) = item.max.clone() {
                    let default = item.default.get_or_insert_with(Default::default);
                    for (k, v) in max {
                        default.entry(k).or_insert(v);
                    }
                }
                for source in [item.default.clone(), item.min.clone()].into_iter().flatten() {
                    let request = item.default_request.get_or_insert_with(Default::default);
                    for (k, v) in source {
                        request.entry(k).or_insert(v);
                    }
                }
            }
        }
        Typed::Deployment(d) => {
            if let Some(spec) = d.spec.as_mut() {
                spec.replicas.get_or_insert(1);
                let strategy = spec.strategy.get_or_insert_with(DeploymentStrategy::default);
                let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
                if kind == "RollingUpdate" {
                    let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDeployment::default);
                    ru.max_unavailable.get_or_insert(IntOrString::String("25%".into()));
                    ru.max_surge.get_or_insert(IntOrString::String("25%".into()));
                }
                spec.revision_history_limit.get_or_insert(10);
                spec.progress_deadline_seconds.get_or_insert(600);
                template(&mut spec.template);
            }
        }
        Typed::ReplicaSet(rs) => {
            if let Some(spec) = rs.spec.as_mut() {
                spec.replicas.get_or_insert(1);
                if let Some(t) = spec.template.as_mut() {
                    template(t);
                }
            }
        }
        // SetDefaults_DaemonSet: RollingUpdate with maxUnavailable 1 and
        // maxSurge 0, and 10 revisions of history.
        Typed::DaemonSet(ds) => {
            if let Some(spec) = ds.spec.as_mut() {
                let strategy = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
                let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
                if kind == "RollingUpdate" {
                    let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
                    ru.max_unavailable.get_or_insert(IntOrString::Int(1));
                    ru.max_surge.get_or_insert(IntOrString::Int(0));
                }
                spec.revision_history_limit.get_or_insert(10);
                template(&mut spec.template);
            }
        }
        // pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController: an
        // empty selector, and empty labels, become the template's labels.
        Typed::ReplicationController(rc) => {
            if let Some(spec) = rc.spec.as_mut() {
                spec.replicas.get_or_insert(1);
                if let Some(t) = spec.template.as_mut() {
                    if let Some(labels) = t.metadata.as_ref().and_then(|m| m.labels.clone()) {
                        if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
                            spec.selector = Some(labels.clone());
                        }
                        if rc.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                            rc.metadata.labels = Some(labels);
                        }
                    }
                    template(t);
                }
            }
        }
        Typed::Service(svc) => service(svc),
        Typed::Namespace(ns) => {
            let name = ns.metadata.name.clone().unwrap_or_default();
            ns.metadata.labels.get_or_insert_with(Default::default).insert("kubernetes.io/metadata.name".into(), name);
        }
        Typed::Secret(secret) => {
            secret.type_.get_or_insert_with(|| "Opaque".into());
        }
        Typed::PriorityClass(pc) => {
            pc.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
        }
        // pkg/apis/core/v1/defaults.go SetDefaults_EndpointPort.
        Typed::Endpoints(ep) => {
            for port in ep.subsets.iter_mut().flatten().flat_map(|s| s.ports.iter_mut().flatten()) {
                port.protocol.get_or_insert_with(|| "TCP".into());
            }
        }
        // pkg/apis/discovery/v1/defaults.go SetDefaults_EndpointPort.
        Typed::EndpointSlice(slice) => {
            for port in slice.ports.iter_mut().flatten() {
                port.name.get_or_insert_with(String::new);
                port.protocol.get_or_insert_with(|| "TCP".into());
            }
        }
        _ => {}
    }
}

fn template(t: &mut PodTemplateSpec) {
    if let Some(spec) = t.spec.as_mut() {
        pod_spec(spec);
    }
}

fn pod_spec(spec: &mut PodSpec) {
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        container(c);
    }
}

/// `Always` for `:latest` or no tag (and no digest), else `IfNotPresent`
/// (pkg/apis/core/v1/defaults.go `SetDefaults_Container`).
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container(c: &mut Container) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy = Some(image_pull_policy(c.image.as_deref().unwrap_or_default()).into());
    }
    c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy.get_or_insert_with(|| "File".into());
    c.resources.get_or_insert_with(Default::default);
    for p in c.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        self::probe(probe);
    }
}

fn probe(p: &mut Probe) {
    p.timeout_seconds.get_or_insert(1);
    p.period_seconds.get_or_insert(10);
    p.success_threshold.get_or_insert(1);
    p.failure_threshold.get_or_insert(3);
    if let Some(http) = p.http_get.as_mut() {
        http.path.get_or_insert_with(|| "/".into());
        http.scheme.get_or_insert_with(|| "HTTP".into());
    }
}

fn service(svc: &mut Service) {
    let Some(spec) = svc.spec.as_mut() else { return };
    let kind = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
    spec.session_affinity.get_or_insert_with(|| "None".into());
    for p in spec.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    let external =
        kind == "NodePort" || kind == "LoadBalancer" || spec.external_ips.as_ref().is_some_and(|v| !v.is_empty());
    if external {
        spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
    }
    if kind != "ExternalName" {
        spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
    }
    if kind == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(image_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(image_pull_policy("localhost:5000/app:v2"), "IfNotPresent");
        assert_eq!(image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}
