//! Images: the simulated registry and a node's image store.
//!
//! The registry knows common public images (by repository; any tag exists)
//! with their approximate compressed sizes, default entrypoints and ports.
//! A pull takes a fixed 300 ms plus the size at 50 MB/s; pulls on a node
//! are serialized (`serializeImagePulls` defaults to true), so a pull also
//! waits for the ones before it — the "including waiting" in the Pulled
//! event. An image the registry does not know fails like containerd does
//! for a missing Docker Hub repository.

use super::program::Entrypoint;
use std::collections::BTreeMap;

/// What the registry knows about a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageMeta {
    /// Compressed size in bytes, as the Pulled event reports it.
    pub size_bytes: u64,
    /// What it runs without a command.
    pub entrypoint: Entrypoint,
    /// Ports its default program listens on.
    pub ports: &'static [u16],
    /// Its server binaries (a command naming one runs the server).
    pub binaries: &'static [&'static str],
}

const fn server(size_bytes: u64, ports: &'static [u16], binaries: &'static [&'static str]) -> ImageMeta {
    ImageMeta { size_bytes, entrypoint: Entrypoint::Server, ports, binaries }
}

const fn shell(size_bytes: u64) -> ImageMeta {
    ImageMeta { size_bytes, entrypoint: Entrypoint::Shell, ports: &[], binaries: &[] }
}

/// The simulated registry, by fully qualified repository.
const REGISTRY: &[(&str, ImageMeta)] = &[
    ("docker.io/library/nginx", server(72_099_410, &[80], &["nginx", "docker-entrypoint.sh"])),
    ("docker.io/library/httpd", server(58_186_723, &[80], &["httpd", "httpd-foreground"])),
    ("docker.io/library/redis", server(45_006_577, &[6379], &["redis-server", "docker-entrypoint.sh"])),
    ("docker.io/library/memcached", server(32_512_440, &[11211], &["memcached"])),
    ("docker.io/library/postgres", server(153_403_618, &[5432], &["postgres", "docker-entrypoint.sh"])),
    ("docker.io/library/mysql", server(171_204_611, &[3306], &["mysqld", "docker-entrypoint.sh"])),
    ("docker.io/library/mongo", server(284_507_154, &[27017], &["mongod", "docker-entrypoint.sh"])),
    ("docker.io/library/rabbitmq", server(102_845_012, &[5672], &["rabbitmq-server", "docker-entrypoint.sh"])),
    ("docker.io/library/traefik", server(55_327_403, &[80], &["traefik"])),
    ("docker.io/library/busybox", shell(2_155_502)),
    ("docker.io/library/alpine", shell(3_653_068)),
    ("docker.io/library/ubuntu", shell(29_754_422)),
    ("docker.io/library/debian", shell(48_494_272)),
    ("docker.io/library/python", shell(374_216_128)),
    ("docker.io/library/node", shell(391_046_817)),
    ("docker.io/library/golang", shell(299_318_734)),
    ("docker.io/curlimages/curl", shell(11_102_445)),
    ("docker.io/hashicorp/http-echo", server(3_610_416, &[5678], &["http-echo", "/http-echo"])),
    ("docker.io/traefik/whoami", server(3_423_154, &[80], &["whoami", "/whoami"])),
    ("docker.io/kicbase/echo-server", server(2_372_971, &[8080], &["echo-server"])),
    ("registry.k8s.io/pause", server(320_368, &[], &["pause", "/pause"])),
    // The add-ons' images: their containers run kscope's CoreDns and KubeProxy
    // components (see `crate::kubelet` on hosted programs).
    ("registry.k8s.io/coredns/coredns", server(18_562_039, &[53, 8080, 8181, 9153], &["coredns", "/coredns"])),
    ("registry.k8s.io/kube-proxy", server(30_907_828, &[10249, 10256], &["kube-proxy", "/usr/local/bin/kube-proxy"])),
    ("registry.k8s.io/echoserver", server(46_237_695, &[8080], &["echoserver"])),
    ("registry.k8s.io/e2e-test-images/agnhost", server(51_158_462, &[8080, 9376], &["agnhost", "/agnhost"])),
    ("registry.k8s.io/busybox", shell(1_144_547)),
    // The control plane's images (kubeadm v1.32), which `kubeadm init` pulls before it starts them.
    ("registry.k8s.io/etcd", server(57_680_541, &[2379, 2380, 2381], &["etcd"])),
    ("registry.k8s.io/kube-apiserver", server(28_674_424, &[6443], &["kube-apiserver"])),
    ("registry.k8s.io/kube-controller-manager", server(26_256_276, &[10257], &["kube-controller-manager"])),
    ("registry.k8s.io/kube-scheduler", server(20_006_556, &[10259], &["kube-scheduler"])),
    ("registry.k8s.io/addon-manager/kube-addon-manager", server(29_145_116, &[], &["/opt/kube-addons-main.sh"])),
    ("gcr.io/google-samples/hello-app", server(11_405_624, &[8080], &["hello-app", "/hello-app"])),
    ("us-docker.pkg.dev/google-samples/containers/gke/hello-app", server(11_405_624, &[8080], &["hello-app"])),
];

/// An image reference split the way containerd normalizes it:
/// `nginx` → `docker.io/library/nginx:latest`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    /// Fully qualified repository (`docker.io/library/nginx`).
    pub repository: String,
    /// Tag (`latest` when none is given), or the digest after `@`.
    pub tag: String,
    /// Whether the reference pins a digest.
    pub digest: bool,
}

impl ImageRef {
    /// Parses a reference; `None` when it is not a valid image name.
    pub fn parse(image: &str) -> Option<ImageRef> {
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_ascii_uppercase()) {
            return None;
        }
        let (name, tag, digest) = if let Some((n, d)) = image.split_once('@') {
            (n, d.to_string(), true)
        } else {
            // A colon after the last slash starts the tag (one before it is a registry port).
            let slash = image.rfind('/').map_or(0, |i| i + 1);
            match image[slash..].rfind(':') {
                Some(i) => (&image[..slash + i], image[slash + i + 1..].to_string(), false),
                None => (image, "latest".to_string(), false),
            }
        };
        if name.is_empty() || tag.is_empty() || name.ends_with('/') || name.contains("//") {
            return None;
        }
        let first = name.split('/').next().unwrap_or_default();
        let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
        let repository = if has_registry {
            name.to_string()
        } else if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        };
        Some(ImageRef { repository, tag, digest })
    }

    /// The full reference (`docker.io/library/nginx:latest`).
    pub fn full(&self) -> String {
        if self.digest {
            format!("{}@{}", self.repository, self.tag)
        } else {
            format!("{}:{}", self.repository, self.tag)
        }
    }

    /// The repository digest reference the runtime reports as `imageID`.
    pub fn digest_ref(&self) -> String {
        if self.digest {
            return self.full();
        }
        format!("{}@sha256:{}", self.repository, hex64(&self.full()))
    }
}

/// The registry's entry for a reference (`None`: no such repository).
pub fn lookup(image: &ImageRef) -> Option<ImageMeta> {
    REGISTRY.iter().find(|(repo, _)| *repo == image.repository).map(|(_, m)| *m)
}

/// 64 hex digits derived from `text` (a stand-in for a sha256 digest or a
/// container id: stable for the same input).
pub fn hex64(text: &str) -> String {
    let mut out = String::with_capacity(64);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u8 {
        for b in text.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// A pull's fixed cost.
const PULL_BASE_MS: u64 = 300;
/// Registry bandwidth: 50 MB/s, i.e. 50,000 bytes per ms.
const PULL_BYTES_PER_MS: u64 = 50_000;
/// How long the registry takes to refuse a missing repository.
const PULL_REFUSED_MS: u64 = 600;

/// One pull, queued or done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pull {
    /// When the kubelet asked for it.
    pub requested_ms: u64,
    /// When it started (after the pulls before it).
    pub started_ms: u64,
    /// When it ends.
    pub done_ms: u64,
    /// The image's size, or containerd's error.
    pub result: Result<u64, String>,
}

/// A node's images and its serialized puller.
#[derive(Clone, Debug, Default)]
pub struct ImageStore {
    /// Present images: full reference → size.
    present: BTreeMap<String, (ImageRef, u64)>,
    /// Pulls not yet collected, by full reference.
    pulls: BTreeMap<String, Pull>,
    /// When the puller is free.
    busy_until_ms: u64,
}

impl ImageStore {
    /// Whether the image is on the node.
    pub fn present(&self, image: &ImageRef) -> bool {
        self.present.contains_key(&image.full())
    }

    /// Adds an image without pulling it (preloaded on the node).
    pub fn preload(&mut self, image: &ImageRef) {
        if let Some(meta) = lookup(image) {
            self.present.insert(image.full(), (image.clone(), meta.size_bytes));
        }
    }

    /// Starts pulling `image` (or joins the pull under way) and returns it.
    /// `fresh` is true for an `Always` pull of an image already present:
    /// only the manifest is fetched.
    pub fn pull(&mut self, image: &ImageRef, now_ms: u64, fresh: bool) -> Pull {
        let key = image.full();
        if let Some(p) = self.pulls.get(&key) {
            return p.clone();
        }
        let started_ms = self.busy_until_ms.max(now_ms);
        let (took_ms, result) = match lookup(image) {
            Some(meta) if fresh => (PULL_BASE_MS, Ok(meta.size_bytes)),
            Some(meta) => (PULL_BASE_MS + meta.size_bytes / PULL_BYTES_PER_MS, Ok(meta.size_bytes)),
            None => (
                PULL_REFUSED_MS,
                Err(format!(
                    "failed to pull and unpack image \"{key}\": failed to resolve reference \"{key}\": \
                     pull access denied, repository does not exist or may require authorization: \
                     server message: insufficient_scope: authorization failed"
                )),
            ),
        };
        let pull = Pull { requested_ms: now_ms, started_ms, done_ms: started_ms + took_ms, result };
        self.busy_until_ms = pull.done_ms;
        self.pulls.insert(key, pull.clone());
        pull
    }

    /// Collects a pull that has ended (the image is then present if it
    /// worked); `None` if no pull of it has ended.
    pub fn finish(&mut self, image: &ImageRef, now_ms: u64) -> Option<Pull> {
        let key = image.full();
        if self.pulls.get(&key).is_none_or(|p| p.done_ms > now_ms) {
            return None;
        }
        let pull = self.pulls.remove(&key)?;
        if let Ok(size) = pull.result {
            self.present.insert(key, (image.clone(), size));
        }
        Some(pull)
    }

    /// How many images are present: images are only ever added, so a
    /// different count means the Node's `status.images` is out of date.
    pub fn version(&self) -> usize {
        self.present.len()
    }

    /// `status.images` of the Node: each image's digest and tag names, the
    /// largest first, at most 50 (`nodeStatusMaxImages`).
    pub fn node_images(&self) -> Vec<serde_json::Value> {
        let mut images: Vec<(&ImageRef, u64)> = self.present.values().map(|(r, s)| (r, *s)).collect();
        images.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        images
            .into_iter()
            .take(50)
            .map(|(r, size)| {
                let names = if r.digest { vec![r.full()] } else { vec![r.digest_ref(), r.full()] };
                serde_json::json!({"names": names, "sizeBytes": size})
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_like_containerd() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.full(), "docker.io/library/nginx:latest");
        assert_eq!(ImageRef::parse("nginx:1.27").unwrap().full(), "docker.io/library/nginx:1.27");
        assert_eq!(ImageRef::parse("hashicorp/http-echo:1.0").unwrap().full(), "docker.io/hashicorp/http-echo:1.0");
        assert_eq!(ImageRef::parse("registry.k8s.io/pause:3.10").unwrap().full(), "registry.k8s.io/pause:3.10");
        assert_eq!(ImageRef::parse("localhost:5000/app").unwrap().full(), "localhost:5000/app:latest");
        assert!(ImageRef::parse("Nginx").is_none());
        assert!(ImageRef::parse("nginx:").is_none());
        assert!(r.digest_ref().starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(r.digest_ref().len(), "docker.io/library/nginx@sha256:".len() + 64);
    }

    #[test]
    fn pulls_are_serialized_and_missing_repositories_fail() {
        let mut store = ImageStore::default();
        let nginx = ImageRef::parse("nginx").unwrap();
        let redis = ImageRef::parse("redis:7").unwrap();
        let first = store.pull(&nginx, 0, false);
        assert_eq!(first.done_ms, 300 + 72_099_410 / 50_000);
        let second = store.pull(&redis, 10, false);
        assert_eq!(second.started_ms, first.done_ms, "the second pull waits for the first");
        assert_eq!(store.pull(&nginx, 20, false), first, "a second request joins the pull");
        assert!(store.finish(&nginx, first.done_ms - 1).is_none());
        assert!(store.finish(&nginx, first.done_ms).is_some());
        assert!(store.present(&nginx));
        let missing = store.pull(&ImageRef::parse("nginy").unwrap(), 0, false);
        assert!(missing.result.unwrap_err().contains("pull access denied, repository does not exist"));
        let images = store.node_images();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0]["names"][1], "docker.io/library/nginx:latest");
    }
}
