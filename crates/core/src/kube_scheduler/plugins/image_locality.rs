//! ImageLocality: prefer nodes that already have the pod's images, weighted
//! by image size and by how few nodes have them
//! (pkg/scheduler/framework/plugins/imagelocality/image_locality.go).

use crate::kube_scheduler::framework::{CycleState, Plugin, Point, Snapshot, MAX_NODE_SCORE};
use crate::kube_scheduler::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
/// Below this sum of image sizes a node scores 0 (`minThreshold`, 23 MB).
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this a node scores 100 (`maxContainerThreshold`, 1000 MB).
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The plugin.
pub struct ImageLocality;

/// The score for a sum of scaled image sizes and a number of containers
/// (`calculatePriority`).
pub fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * containers as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max_threshold.max(MIN_THRESHOLD));
    if max_threshold <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn points(&self) -> &'static [Point] {
        &[Point::Score]
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> i64 {
        let total = snapshot.nodes.len().max(1) as f64;
        let mut sum = 0;
        if node.images.is_empty() {
            return calculate_priority(0, pod.images.len());
        }
        for name in &pod.images {
            if let Some(size) = node.images.get(name) {
                let spread = *snapshot.image_nodes.get(name).unwrap_or(&0) as f64 / total;
                sum += (*size as f64 * spread) as i64;
            }
        }
        calculate_priority(sum, pod.images.len())
    }
}
