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

/// How deeply objects may nest (far below what any real object needs, and
/// below the 128 levels serde_json reads back).
pub const MAX_DEPTH: usize = 100;

/// Whether `value` nests deeper than `max` levels (counted without recursion).
pub fn too_deep(value: &serde_json::Value, max: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        match v {
            serde_json::Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

/// The deepest nesting of `[`/`{` brackets in YAML or JSON text (outside quotes):
/// a cheap check before handing text to a parser whose cost grows with depth.
pub fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None);
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '\n' => {}
                _ => {}
            },
        }
    }
    max
}
pub use resources::Resource;
