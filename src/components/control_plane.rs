//! The control plane: kube-apiserver, the etcd members, kube-scheduler and
//! kube-controller-manager, each drawn from the worker's component state.

use kscope_protocol::{ComponentKind, ComponentView};
use yew::prelude::*;

/// Props of [`ComponentCard`].
#[derive(Properties, PartialEq)]
pub struct ComponentCardProps {
    /// The component to draw.
    pub component: ComponentView,
}

/// One component: name, running or stopped, and its details.
#[function_component(ComponentCard)]
pub fn component_card(props: &ComponentCardProps) -> Html {
    let c = &props.component;
    let leader = c.up && c.details.iter().any(|(k, v)| k == "role" && v == "leader");
    let class = classes!("component", kind_class(c.kind), (!c.up).then_some("down"), leader.then_some("leader"));
    html! {
        <div class={class} data-component={c.id.clone()}>
            <div class="component-head">
                <span class="component-name">
                    if leader { <span class="crown" title="Raft leader" aria-label="leader">{ "♛ " }</span> }
                    { &c.id }
                </span>
                <span class="component-state">{ if c.up { "Running" } else { "Stopped" } }</span>
            </div>
            <dl class="details">
                { for c.details.iter().map(|(k, v)| html! { <><dt>{ k }</dt><dd>{ v }</dd></> }) }
            </dl>
        </div>
    }
}

fn kind_class(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::ApiServer => "apiserver",
        ComponentKind::Etcd => "etcd",
        ComponentKind::Scheduler => "scheduler",
        ComponentKind::ControllerManager => "controller-manager",
        ComponentKind::Kubelet => "kubelet",
        ComponentKind::KubeProxy => "kube-proxy",
        ComponentKind::Dns => "dns",
        ComponentKind::AddonManager => "addon-manager",
    }
}

/// Props of [`ControlPlane`].
#[derive(Properties, PartialEq)]
pub struct ControlPlaneProps {
    /// Every control-plane component (per-node ones are filtered out here).
    pub components: Vec<ComponentView>,
}

/// The control-plane section.
#[function_component(ControlPlane)]
pub fn control_plane(props: &ControlPlaneProps) -> Html {
    let of = |kind: ComponentKind| -> Html {
        props
            .components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| html! { <ComponentCard key={c.id.clone()} component={c.clone()} /> })
            .collect()
    };
    html! {
        <section class="control-plane" aria-label="Control plane">
            <h2>{ "Control plane" }</h2>
            <div class="cp-row">
                <div class="cp-column">{ of(ComponentKind::Scheduler) }{ of(ComponentKind::ControllerManager) }{ of(ComponentKind::AddonManager) }{ of(ComponentKind::Dns) }</div>
                <div class="cp-column">{ of(ComponentKind::ApiServer) }</div>
                <div class="cp-column etcd-ring" aria-label="etcd cluster">{ of(ComponentKind::Etcd) }</div>
            </div>
        </section>
    }
}
