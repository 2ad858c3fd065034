//! The worker nodes, each with its status, taints, requested resources,
//! per-node components and pods (kube-ops-view style: a box per pod,
//! coloured by its STATUS), and the pods still waiting for a node.

use crate::components::control_plane::ComponentCard;
use crate::format;
use kscope_protocol::{ComponentView, NodeView, PodView};
use yew::prelude::*;

/// Props of [`Nodes`].
#[derive(Properties, PartialEq)]
pub struct NodesProps {
    /// The nodes, ordered by name.
    pub nodes: Vec<NodeView>,
    /// Per-node components (kubelets), to draw inside their node.
    pub components: Vec<ComponentView>,
    /// Pods no node has been chosen for yet.
    pub unscheduled: Vec<PodView>,
}

/// The CSS class of a pod's box, from its STATUS column.
pub fn pod_class(pod: &PodView) -> &'static str {
    match pod.status.as_str() {
        "Running" if pod.ready.split_once('/').is_some_and(|(r, t)| r == t) => "running",
        "Running" | "NotReady" => "unready",
        "Completed" | "Succeeded" => "succeeded",
        "Terminating" => "terminating",
        "Pending" | "ContainerCreating" | "PodInitializing" => "pending",
        s if s.starts_with("Init:") && !s.contains("Err") && !s.contains("BackOff") => "pending",
        _ => "failed",
    }
}

fn pod_box(pod: &PodView) -> Html {
    let title = format!(
        "{}/{}: {} ({} ready{})",
        pod.namespace,
        pod.name,
        pod.status,
        pod.ready,
        if pod.restarts > 0 { format!(", {} restarts", pod.restarts) } else { String::new() }
    );
    html! {
        <li class={classes!("pod", pod_class(pod))} key={format!("{}/{}", pod.namespace, pod.name)}
            title={title.clone()} aria-label={title} data-pod={pod.name.clone()} data-status={pod.status.clone()}>
            <span class="pod-name">{ &pod.name }</span>
            <span class="pod-status">{ &pod.status }</span>
        </li>
    }
}

/// A bar of `used` out of `total`, labelled.
fn bar(label: &str, used: u64, total: u64, text: String) -> Html {
    let percent = if total == 0 { 0 } else { (used.saturating_mul(100) / total).min(100) };
    let over = used > total;
    html! {
        <div class="bar" role="meter" aria-label={format!("{label} requested")} aria-valuemin="0" aria-valuemax="100"
             aria-valuenow={percent.to_string()} title={format!("{label} requested: {text}")}>
            <span class="bar-label">{ label }</span>
            <span class={classes!("bar-track", over.then_some("over"))}>
                <span class="bar-fill" style={format!("width: {percent}%")}></span>
            </span>
            <span class="bar-text">{ format!("{percent}%") }</span>
        </div>
    }
}

/// The nodes section.
#[function_component(Nodes)]
pub fn nodes(props: &NodesProps) -> Html {
    let unscheduled = (!props.unscheduled.is_empty()).then(|| {
        html! {
            <div class="unscheduled" data-testid="unscheduled">
                <h3>{ format!("Waiting for a node ({})", props.unscheduled.len()) }</h3>
                <ul class="pods">{ for props.unscheduled.iter().map(pod_box) }</ul>
                <p class="hint">{ "Ask why with sim explain pod/NAME in the console." }</p>
            </div>
        }
    });
    if props.nodes.is_empty() {
        return html! {
            <section class="nodes" aria-label="Nodes">
                <h2>{ "Nodes" }</h2>
                <p class="empty">{ "This scenario has no worker nodes. Add some under spec.nodes." }</p>
                { for unscheduled }
            </section>
        };
    }
    html! {
        <section class="nodes" aria-label="Nodes">
            <h2>{ format!("Nodes ({})", props.nodes.len()) }</h2>
            { for unscheduled }
            <div class="node-grid">
                { for props.nodes.iter().map(|node| {
                    let on_node: Vec<_> = props.components.iter().filter(|c| c.node.as_deref() == Some(node.name.as_str())).collect();
                    let status = if node.status.is_empty() { "Not registered".to_string() } else { node.status.clone() };
                    let not_ready = !node.status.starts_with("Ready");
                    html! {
                        <article class={classes!("node-card", not_ready.then_some("not-ready"))} key={node.name.clone()} data-node={node.name.clone()}>
                            <div class="node-head">
                                <h3>{ &node.name }</h3>
                                <span class={classes!("node-status", not_ready.then_some("bad"))} data-testid="node-status">{ status }</span>
                            </div>
                            <p class="capacity">{ format!("{} CPU · {} memory", format::cpu(node.cpu_millis), format::memory(node.memory_bytes)) }</p>
                            { bar("CPU", node.cpu_requested_millis, node.cpu_millis,
                                  format!("{} of {}", format::cpu(node.cpu_requested_millis), format::cpu(node.cpu_millis))) }
                            { bar("memory", node.memory_requested_bytes, node.memory_bytes,
                                  format!("{} of {}", format::memory(node.memory_requested_bytes), format::memory(node.memory_bytes))) }
                            if !node.labels.is_empty() {
                                <ul class="labels">
                                    { for node.labels.iter().map(|(k, v)| html! { <li>{ format!("{k}={v}") }</li> }) }
                                </ul>
                            }
                            if !node.taints.is_empty() {
                                <ul class="taints" aria-label="Taints">
                                    { for node.taints.iter().map(|t| html! { <li>{ t }</li> }) }
                                </ul>
                            }
                            { for on_node.into_iter().map(|c| html! { <ComponentCard key={c.id.clone()} component={c.clone()} /> }) }
                            if node.pods.is_empty() {
                                <p class="pods empty">{ "no pods" }</p>
                            } else {
                                <ul class="pods" aria-label={format!("Pods on {}", node.name)}>{ for node.pods.iter().map(pod_box) }</ul>
                            }
                        </article>
                    }
                }) }
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: &str, ready: &str) -> PodView {
        PodView {
            namespace: "default".into(),
            name: "p".into(),
            phase: String::new(),
            status: status.into(),
            ready: ready.into(),
            restarts: 0,
            controller: String::new(),
        }
    }

    #[test]
    fn pods_are_coloured_by_their_status() {
        assert_eq!(pod_class(&pod("Running", "1/1")), "running");
        assert_eq!(pod_class(&pod("Running", "0/1")), "unready");
        assert_eq!(pod_class(&pod("ContainerCreating", "0/1")), "pending");
        assert_eq!(pod_class(&pod("Init:0/1", "0/1")), "pending");
        assert_eq!(pod_class(&pod("Init:CrashLoopBackOff", "0/1")), "failed");
        assert_eq!(pod_class(&pod("CrashLoopBackOff", "0/1")), "failed");
        assert_eq!(pod_class(&pod("ImagePullBackOff", "0/1")), "failed");
        assert_eq!(pod_class(&pod("Completed", "0/1")), "succeeded");
        assert_eq!(pod_class(&pod("Terminating", "1/1")), "terminating");
    }
}
