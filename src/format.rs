//! How quantities are written on screen, in Kubernetes notation.

/// Millicores as Kubernetes writes CPU: `4`, `500m`, `1500m`.
pub fn cpu(millis: u64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes with the largest binary suffix that divides them exactly: `8Gi`, `512Mi`.
pub fn memory(bytes: u64) -> String {
    const SUFFIXES: [(&str, u32); 5] = [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20)];
    for (suffix, shift) in SUFFIXES {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    if bytes >= 1024 && bytes % 1024 == 0 {
        return format!("{}Ki", bytes >> 10);
    }
    bytes.to_string()
}

pub use kscope_core::duration::clock;

/// Playback speed in percent as a multiplier: `0.1×`, `1×`, `100×`.
pub fn speed(percent: u32) -> String {
    if percent % 100 == 0 {
        format!("{}×", percent / 100)
    } else {
        format!("{}×", format!("{:.2}", f64::from(percent) / 100.0).trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(cpu(4000), "4");
        assert_eq!(cpu(500), "500m");
        assert_eq!(memory(8 << 30), "8Gi");
        assert_eq!(memory(512 << 20), "512Mi");
        assert_eq!(memory(1536 << 20), "1536Mi");
        assert_eq!(memory(1000), "1000");
        assert_eq!(speed(10), "0.1×");
        assert_eq!(speed(25), "0.25×");
        assert_eq!(speed(100), "1×");
        assert_eq!(speed(10_000), "100×");
    }
}
