//! Components whose model has not landed yet.
//!
//! etcd members (issue 4), kube-scheduler (issue 6) and kube-controller-manager
//! (issue 7) already exist on the network, so they are drawn, can be stopped and
//! partitioned, and are counted in the trace; until their issue lands they send
//! nothing and ignore what they receive. Each issue replaces its use of this type.

use crate::component::{Component, Context, Envelope};
use kscope_protocol::ComponentKind;

/// A component that is present on the network but not yet modelled.
#[derive(Debug)]
pub struct Dormant {
    kind: ComponentKind,
}

impl Dormant {
    /// A not-yet-modelled component of `kind`.
    pub fn new(kind: ComponentKind) -> Self {
        Dormant { kind }
    }
}

impl Component for Dormant {
    fn kind(&self) -> ComponentKind {
        self.kind
    }
    fn start(&mut self, _ctx: &mut Context<'_>) {}
    fn receive(&mut self, _ctx: &mut Context<'_>, _envelope: Envelope) {}
    fn timer(&mut self, _ctx: &mut Context<'_>, _token: u64) {}
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![("model".into(), "not simulated yet".into())]
    }
}
