//! The worker nodes, each with its kubelet and capacity.

use crate::components::control_plane::ComponentCard;
use crate::format;
use kscope_protocol::{ComponentView, NodeView};
use yew::prelude::*;

/// Props of [`Nodes`].
#[derive(Properties, PartialEq)]
pub struct NodesProps {
    /// The nodes, ordered by name.
    pub nodes: Vec<NodeView>,
    /// Per-node components (kubelets), to draw inside their node.
    pub components: Vec<ComponentView>,
}

/// The nodes section.
#[function_component(Nodes)]
pub fn nodes(props: &NodesProps) -> Html {
    if props.nodes.is_empty() {
        return html! {
            <section class="nodes" aria-label="Nodes">
                <h2>{ "Nodes" }</h2>
                <p class="empty">{ "This scenario has no worker nodes. Add some under spec.nodes." }</p>
            </section>
        };
    }
    html! {
        <section class="nodes" aria-label="Nodes">
            <h2>{ format!("Nodes ({})", props.nodes.len()) }</h2>
            <div class="node-grid">
                { for props.nodes.iter().map(|node| {
                    let on_node: Vec<_> = props.components.iter().filter(|c| c.node.as_deref() == Some(node.name.as_str())).collect();
                    html! {
                        <article class="node-card" key={node.name.clone()} data-node={node.name.clone()}>
                            <h3>{ &node.name }</h3>
                            <p class="capacity">{ format!("{} CPU · {} memory", format::cpu(node.cpu_millis), format::memory(node.memory_bytes)) }</p>
                            if !node.labels.is_empty() {
                                <ul class="labels">
                                    { for node.labels.iter().map(|(k, v)| html! { <li>{ format!("{k}={v}") }</li> }) }
                                </ul>
                            }
                            { for on_node.into_iter().map(|c| html! { <ComponentCard key={c.id.clone()} component={c.clone()} /> }) }
                            <p class="pods empty">{ "no pods" }</p>
                        </article>
                    }
                }) }
            </div>
        </section>
    }
}
