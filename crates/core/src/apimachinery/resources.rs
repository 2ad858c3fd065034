//! The resources kscope's apiserver serves: names, kinds, groups, scope,
//! short names (as `kubectl api-resources` lists them) and the etcd key prefix
//! a real kube-apiserver stores each under (pkg/registry/*/storage/storage.go
//! `DefaultQualifiedResource`, with the historical prefixes `minions` for
//! nodes, `services/specs` and `services/endpoints`, `controllers` for
//! replication controllers).

/// One REST resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// Plural name, the path segment (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`).
    pub singular: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// API group, empty for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: &'static [&'static str],
    /// Where objects are stored in etcd, without the trailing slash.
    pub etcd_prefix: &'static str,
    /// Subresources served (`status`, `binding`, `scale`, ...).
    pub subresources: &'static [&'static str],
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as kubectl and errors name it.
    pub fn group_resource(&self) -> String {
        super::errors::group_resource(self.group, self.plural)
    }

    /// The REST path of the collection, in `namespace` when namespaced.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }

    /// The REST path of one object.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }

    /// The etcd key of one object (`/registry/pods/default/web`).
    pub fn etcd_key(&self, namespace: &str, name: &str) -> String {
        if self.namespaced {
            format!("{}/{namespace}/{name}", self.etcd_prefix)
        } else {
            format!("{}/{name}", self.etcd_prefix)
        }
    }

    /// The etcd key prefix of a list (all namespaces when `namespace` is empty),
    /// with its trailing slash.
    pub fn etcd_list_prefix(&self, namespace: &str) -> String {
        if self.namespaced && !namespace.is_empty() {
            format!("{}/{namespace}/", self.etcd_prefix)
        } else {
            format!("{}/", self.etcd_prefix)
        }
    }
}

macro_rules! resource {
    ($plural:literal, $singular:literal, $kind:literal, $group:literal, $ns:literal, [$($short:literal),*], $prefix:literal, [$($sub:literal),*]) => {
        Resource {
            plural: $plural,
            singular: $singular,
            kind: $kind,
            group: $group,
            version: "v1",
            namespaced: $ns,
            short_names: &[$($short),*],
            etcd_prefix: $prefix,
            subresources: &[$($sub),*],
        }
    };
}

/// Every served resource, in `kubectl api-resources` order (core group first,
/// then groups alphabetically).
pub static RESOURCES: &[Resource] = &[
    resource!("configmaps", "configmap", "ConfigMap", "", true, ["cm"], "/registry/configmaps", []),
    resource!("endpoints", "endpoints", "Endpoints", "", true, ["ep"], "/registry/services/endpoints", []),
    resource!("events", "event", "Event", "", true, ["ev"], "/registry/events", []),
    resource!("limitranges", "limitrange", "LimitRange", "", true, ["limits"], "/registry/limitranges", []),
    resource!(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        false,
        ["ns"],
        "/registry/namespaces",
        ["status", "finalize"]
    ),
    resource!("nodes", "node", "Node", "", false, ["no"], "/registry/minions", ["status"]),
    resource!("pods", "pod", "Pod", "", true, ["po"], "/registry/pods", ["status", "binding", "eviction", "log"]),
    resource!(
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        "",
        true,
        ["rc"],
        "/registry/controllers",
        ["status", "scale"]
    ),
    resource!(
        "resourcequotas",
        "resourcequota",
        "ResourceQuota",
        "",
        true,
        ["quota"],
        "/registry/resourcequotas",
        ["status"]
    ),
    resource!("secrets", "secret", "Secret", "", true, [], "/registry/secrets", []),
    resource!("serviceaccounts", "serviceaccount", "ServiceAccount", "", true, ["sa"], "/registry/serviceaccounts", []),
    resource!("services", "service", "Service", "", true, ["svc"], "/registry/services/specs", ["status"]),
    resource!(
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        "apps",
        true,
        [],
        "/registry/controllerrevisions",
        []
    ),
    resource!("daemonsets", "daemonset", "DaemonSet", "apps", true, ["ds"], "/registry/daemonsets", ["status"]),
    resource!(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        true,
        ["deploy"],
        "/registry/deployments",
        ["status", "scale"]
    ),
    resource!(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        true,
        ["rs"],
        "/registry/replicasets",
        ["status", "scale"]
    ),
    resource!("leases", "lease", "Lease", "coordination.k8s.io", true, [], "/registry/leases", []),
    resource!(
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        "discovery.k8s.io",
        true,
        [],
        "/registry/endpointslices",
        []
    ),
    resource!(
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        false,
        [],
        "/registry/clusterrolebindings",
        []
    ),
    resource!(
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        "rbac.authorization.k8s.io",
        false,
        [],
        "/registry/clusterroles",
        []
    ),
    resource!(
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        true,
        [],
        "/registry/rolebindings",
        []
    ),
    resource!("roles", "role", "Role", "rbac.authorization.k8s.io", true, [], "/registry/roles", []),
    resource!(
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        "scheduling.k8s.io",
        false,
        ["pc"],
        "/registry/priorityclasses",
        []
    ),
];

/// The resource served at `group`/`plural`.
pub fn by_plural(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
}

/// The resource of objects with this apiVersion and kind.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Whether some resource has this kind (in any version).
pub fn kind_exists(kind: &str) -> bool {
    RESOURCES.iter().any(|r| r.kind == kind)
}

/// The resource a kubectl user means by `name`: plural, singular, short name
/// or kind, case-insensitively, optionally qualified with its group
/// (`deployments.apps`, `deploy.apps`).
pub fn resolve(name: &str) -> Option<&'static Resource> {
    let name = name.to_ascii_lowercase();
    let (base, group) = match name.split_once('.') {
        Some((base, group)) => (base.to_string(), Some(group.to_string())),
        None => (name.clone(), None),
    };
    RESOURCES.iter().find(|r| {
        let group_ok = group.as_deref().is_none_or(|g| g == r.group || format!("{}.{}", r.version, r.group) == g);
        group_ok
            && (r.plural == base
                || r.singular == base
                || r.short_names.contains(&base.as_str())
                || r.kind.to_ascii_lowercase() == base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_names_resolve() {
        for name in ["po", "pod", "pods", "Pod", "PODS"] {
            assert_eq!(resolve(name).map(|r| r.plural), Some("pods"), "{name}");
        }
        assert_eq!(resolve("deploy").unwrap().etcd_key("default", "web"), "/registry/deployments/default/web");
        assert_eq!(resolve("deployments.apps").unwrap().kind, "Deployment");
        assert_eq!(resolve("deployments.v1.apps").unwrap().kind, "Deployment");
        assert_eq!(resolve("no").unwrap().etcd_key("", "node-1"), "/registry/minions/node-1");
        assert_eq!(resolve("svc").unwrap().etcd_list_prefix("default"), "/registry/services/specs/default/");
        assert!(resolve("podz").is_none());
        assert!(resolve("pods.apps").is_none());
        assert_eq!(
            resolve("ds").unwrap().etcd_key("kube-system", "kube-proxy"),
            "/registry/daemonsets/kube-system/kube-proxy"
        );
        assert_eq!(resolve("controllerrevisions.apps").unwrap().kind, "ControllerRevision");
        assert_eq!(
            resolve("rs").unwrap().object_path(Some("default"), "web-1"),
            "/apis/apps/v1/namespaces/default/replicasets/web-1"
        );
        assert_eq!(resolve("ns").unwrap().object_path(None, "prod"), "/api/v1/namespaces/prod");
    }
}
