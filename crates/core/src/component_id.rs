//! Names of the components on the simulated network.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The network name of a component. Ordered, so maps keyed by it iterate the same
/// way every run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentId {
    /// `kube-apiserver`.
    ApiServer,
    /// `etcd-N`, numbered from 1.
    Etcd(u8),
    /// `kube-scheduler`.
    Scheduler,
    /// `kube-controller-manager`.
    ControllerManager,
    /// `kubelet/<node>`: the kubelet of a worker node.
    Kubelet(String),
    /// `kube-proxy/<node>`: the service proxy of a worker node.
    KubeProxy(String),
    /// `coredns/<pod>`: a CoreDNS server, the program of a coredns pod's
    /// container (the kubelet of the pod's node runs it).
    CoreDns(String),
    /// `kube-addon-manager`: applies the cluster's add-on manifests.
    AddonManager,
    /// A command-line client the user drives from the console (`etcdctl`).
    /// Clients are endpoints on the network, not components: what they receive
    /// waits in the simulation's client inbox.
    Client(String),
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentId::ApiServer => f.write_str("kube-apiserver"),
            ComponentId::Etcd(n) => write!(f, "etcd-{n}"),
            ComponentId::Scheduler => f.write_str("kube-scheduler"),
            ComponentId::ControllerManager => f.write_str("kube-controller-manager"),
            ComponentId::Kubelet(node) => write!(f, "kubelet/{node}"),
            ComponentId::KubeProxy(node) => write!(f, "kube-proxy/{node}"),
            ComponentId::CoreDns(pod) => write!(f, "coredns/{pod}"),
            ComponentId::AddonManager => f.write_str("kube-addon-manager"),
            ComponentId::Client(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for ComponentId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kube-apiserver" => return Ok(ComponentId::ApiServer),
            "kube-scheduler" => return Ok(ComponentId::Scheduler),
            "kube-controller-manager" => return Ok(ComponentId::ControllerManager),
            "etcdctl" => return Ok(ComponentId::Client("etcdctl".into())),
            "kube-addon-manager" => return Ok(ComponentId::AddonManager),
            _ => {}
        }
        if let Some(n) = s.strip_prefix("etcd-").and_then(|n| n.parse::<u8>().ok()) {
            if n > 0 {
                return Ok(ComponentId::Etcd(n));
            }
        }
        if let Some(node) = s.strip_prefix("kubelet/") {
            if !node.is_empty() {
                return Ok(ComponentId::Kubelet(node.to_string()));
            }
        }
        if let Some(node) = s.strip_prefix("kube-proxy/") {
            if !node.is_empty() {
                return Ok(ComponentId::KubeProxy(node.to_string()));
            }
        }
        if let Some(pod) = s.strip_prefix("coredns/") {
            if !pod.is_empty() {
                return Ok(ComponentId::CoreDns(pod.to_string()));
            }
        }
        Err(format!("unknown component {s:?}"))
    }
}

impl Serialize for ComponentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "kube-apiserver",
            "etcd-3",
            "kube-scheduler",
            "kube-controller-manager",
            "kubelet/node-1",
            "kube-proxy/node-1",
            "coredns/coredns-5d78c9869d-x7k2p",
            "kube-addon-manager",
        ] {
            let id: ComponentId = name.parse().unwrap();
            assert_eq!(id.to_string(), name);
        }
        for bad in ["etcd-0", "etcd-x", "kubelet/", "apiserver", "coredns/"] {
            assert!(bad.parse::<ComponentId>().is_err(), "{bad}");
        }
    }
}
