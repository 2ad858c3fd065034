//! The 11 steps from `kubectl create` to a running container, as the
//! components take them. Each component marks its step in the trace
//! ([`crate::trace::TraceKind::Flow`]) when it takes it, so a pod's journey
//! can be narrated from the trace: by `sim flow POD` in the shell, and by the
//! UI.
//!
//! A pod created by a controller takes the same steps; its step 1 is the
//! controller's request instead of kubectl's.

use crate::component_id::ComponentId;
use std::collections::{BTreeMap, VecDeque};

/// The steps, in order: (where, what happens).
pub const STEPS: [(&str, &str); 11] = [
    ("kubectl → kube-apiserver", "the create request arrives: authentication, authorization, admission, validation"),
    ("kube-apiserver → etcd", "the Pod, without a node, is written to /registry/pods"),
    ("etcd", "the write commits; kube-apiserver answers 201 Created"),
    ("scheduler watch", "kube-scheduler's watch delivers the unscheduled Pod"),
    ("bind", "kube-scheduler picks a node and POSTs the Binding"),
    ("etcd", "spec.nodeName is stored"),
    ("kubelet watch", "the node's kubelet sees the Pod bound to it"),
    ("runtime", "the kubelet has the container runtime pull images, create the sandbox and start containers"),
    ("status", "the containers run: the kubelet sends the Pod status (Running)"),
    ("kube-apiserver", "the status update arrives"),
    ("etcd", "the Running status is stored"),
];

/// Step numbers, as components mark them.
pub mod step {
    /// The create request arrives at kube-apiserver.
    pub const REQUEST: u8 = 1;
    /// The create is written to etcd.
    pub const WRITE: u8 = 2;
    /// The create is stored.
    pub const STORED: u8 = 3;
    /// kube-scheduler's watch delivers the pod.
    pub const SCHEDULER_WATCH: u8 = 4;
    /// kube-scheduler sends the Binding.
    pub const BIND: u8 = 5;
    /// The binding is stored.
    pub const BOUND: u8 = 6;
    /// The kubelet's watch delivers the pod.
    pub const KUBELET_WATCH: u8 = 7;
    /// The kubelet starts the runtime work.
    pub const RUNTIME: u8 = 8;
    /// The kubelet sends the Running status.
    pub const STATUS: u8 = 9;
    /// The status update reaches kube-apiserver.
    pub const STATUS_REQUEST: u8 = 10;
    /// The Running status is stored.
    pub const STATUS_STORED: u8 = 11;
}

/// One step taken for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStep {
    /// 1 to 11.
    pub step: u8,
    /// When.
    pub at_ms: u64,
    /// By whom.
    pub component: ComponentId,
}

/// The steps of the most recent pods (`namespace/name`), for `sim flow`.
#[derive(Clone, Debug, Default)]
pub struct FlowLog {
    pods: BTreeMap<String, Vec<FlowStep>>,
    order: VecDeque<String>,
}

impl FlowLog {
    /// Pods remembered; the oldest are forgotten beyond this.
    pub const MAX_PODS: usize = 2_000;

    /// Notes that `component` took `step` for `pod` at `at_ms`. A pod created
    /// again under the same name starts a new journey.
    pub fn push(&mut self, pod: &str, step: u8, at_ms: u64, component: &ComponentId) {
        if step == step::REQUEST {
            self.pods.remove(pod);
            self.order.retain(|p| p != pod);
        }
        if !self.pods.contains_key(pod) {
            if self.order.len() >= Self::MAX_PODS {
                if let Some(oldest) = self.order.pop_front() {
                    self.pods.remove(&oldest);
                }
            }
            self.order.push_back(pod.to_string());
        }
        let steps = self.pods.entry(pod.to_string()).or_default();
        // Each step once: the first time is the one that moved the pod on.
        if !steps.iter().any(|s| s.step == step) {
            steps.push(FlowStep { step, at_ms, component: component.clone() });
        }
    }

    /// The steps `pod` has taken so far, in the order taken.
    pub fn steps(&self, pod: &str) -> Option<&[FlowStep]> {
        self.pods.get(pod).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_kept_once_and_forgotten_oldest_first() {
        let mut log = FlowLog::default();
        log.push("default/a", step::REQUEST, 1, &ComponentId::ApiServer);
        log.push("default/a", step::WRITE, 2, &ComponentId::ApiServer);
        log.push("default/a", step::WRITE, 3, &ComponentId::ApiServer);
        assert_eq!(
            log.steps("default/a").unwrap().iter().map(|s| (s.step, s.at_ms)).collect::<Vec<_>>(),
            [(1, 1), (2, 2)]
        );
        log.push("default/a", step::REQUEST, 9, &ComponentId::ApiServer);
        assert_eq!(log.steps("default/a").unwrap().len(), 1, "a new pod of the same name starts over");
        for i in 0..FlowLog::MAX_PODS {
            log.push(&format!("default/p{i}"), step::REQUEST, 10, &ComponentId::ApiServer);
        }
        assert!(log.steps("default/a").is_none());
        assert!(log.steps("default/p0").is_some());
    }
}
