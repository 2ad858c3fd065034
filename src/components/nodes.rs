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
    /// Runs a console line (`sim add node ...`): the buttons here type
    /// the command they stand for, so the console shows it.
    pub on_command: Callback<String>,
}

/// The node's roles, from its `node-role.kubernetes.io/<role>` labels (the
/// ROLES column of `kubectl get nodes`).
pub fn roles(node: &NodeView) -> Vec<&str> {
    node.labels.iter().filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/")).collect()
}

/// The name `sim add node` gets from the Add node button: the first free `node-N`.
pub fn next_node_name(nodes: &[NodeView]) -> String {
    (1..).map(|n| format!("node-{n}")).find(|name| nodes.iter().all(|n| &n.name != name)).expect("a free name")
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
    // A static pod's mirror (owned by its Node) is drawn apart: the kubelet
    // runs it from a file, no controller or scheduler is involved.
    let mirror = (pod.controller == "Node").then_some("static");
    html! {
        <li class={classes!("pod", pod_class(pod), mirror)} key={format!("{}/{}", pod.namespace, pod.name)}
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
    let add = {
        let on_command = props.on_command.clone();
        let line = format!("sim add node {}", next_node_name(&props.nodes));
        Callback::from(move |_: MouseEvent| on_command.emit(line.clone()))
    };
    html! {
        <section class="nodes" aria-label="Nodes">
            <div class="nodes-head">
                <h2>{ format!("Nodes ({})", props.nodes.len()) }</h2>
                <button class="add-node" onclick={add} data-testid="add-node"
                        title="A new worker joins the cluster (sim add node)">{ "Add node" }</button>
            </div>
            { for unscheduled }
            <div class="node-grid">
                { for props.nodes.iter().map(|node| {
                    let on_node: Vec<_> = props.components.iter().filter(|c| c.node.as_deref() == Some(node.name.as_str())).collect();
                    let status = if node.status.is_empty() { "Not registered".to_string() } else { node.status.clone() };
                    let not_ready = !node.status.starts_with("Ready");
                    let roles = roles(node);
                    let control_plane = roles.contains(&"control-plane");
                    let remove = (!control_plane).then(|| {
                        let on_command = props.on_command.clone();
                        let line = format!("sim remove node {}", node.name);
                        Callback::from(move |_: MouseEvent| on_command.emit(line.clone()))
                    });
                    html! {
                        <article class={classes!("node-card", not_ready.then_some("not-ready"), control_plane.then_some("control-plane"))}
                                 key={node.name.clone()} data-node={node.name.clone()}>
                            <div class="node-head">
                                <h3>{ &node.name }</h3>
                                { for roles.iter().map(|r| html! { <span class="node-role" data-testid="node-role">{ *r }</span> }) }
                                <span class={classes!("node-status", not_ready.then_some("bad"))} data-testid="node-status">{ status }</span>
                                if let Some(remove) = remove {
                                    <button class="remove-node" onclick={remove} aria-label={format!("Remove {}", node.name)}
                                            title="Drain this node, shut it down and delete it (sim remove node)">{ "×" }</button>
                                }
                            </div>
                            <p class="capacity">{ format!("{} CPU · {} memory", format::cpu(node.cpu_millis), format::memory(node.memory_bytes)) }</p>
                            { bar("CPU", node.cpu_requested_millis, node.cpu_millis,
                                  format!("{} of {}", format::cpu(node.cpu_requested_millis), format::cpu(node.cpu_millis))) }
                            { bar("memory", node.memory_requested_bytes, node.memory_bytes,
                                  format!("{} of {}", format::memory(node.memory_requested_bytes), format::memory(node.memory_bytes))) }
                            if !node.labels.is_empty() {
                                <ul class="labels">
                                    { for node.labels.iter().filter(|(k, _)| !k.starts_with("node-role.kubernetes.io/")).map(|(k, v)| html! { <li>{ format!("{k}={v}") }</li> }) }
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

    fn node(name: &str, labels: &[(&str, &str)]) -> NodeView {
        NodeView {
            name: name.into(),
            cpu_millis: 4000,
            memory_bytes: 1 << 33,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            status: "Ready".into(),
            taints: Vec::new(),
            cpu_requested_millis: 0,
            memory_requested_bytes: 0,
            pods: Vec::new(),
        }
    }

    #[test]
    fn roles_come_from_node_role_labels() {
        let cp = node("control-plane", &[("kubernetes.io/os", "linux"), ("node-role.kubernetes.io/control-plane", "")]);
        assert_eq!(roles(&cp), ["control-plane"]);
        assert!(roles(&node("node-1", &[("zone", "a")])).is_empty());
    }

    #[test]
    fn the_added_node_takes_the_first_free_name() {
        let nodes = [node("node-1", &[]), node("node-3", &[])];
        assert_eq!(next_node_name(&nodes), "node-2");
        assert_eq!(next_node_name(&[]), "node-1");
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
