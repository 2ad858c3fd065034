//! The Kubernetes API machinery the apiserver and its clients share: the
//! resource table, request paths, `Status` errors, field errors, label and
//! field selectors, and timestamps on the virtual clock. Like
//! `k8s.io/apimachinery`, nothing here knows about etcd or the network.

pub mod errors;
pub mod labels;
pub mod request;
pub mod resources;
pub mod time;

pub use errors::{FieldError, StatusError};
pub use resources::Resource;
