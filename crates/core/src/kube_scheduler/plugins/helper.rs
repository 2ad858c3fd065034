//! Shared scoring helpers (pkg/scheduler/framework/plugins/helper).

use crate::kube_scheduler::framework::MAX_NODE_SCORE;

/// Scales scores to 0..=`max` by the highest one, optionally reversed
/// (helper/normalize_score.go `DefaultNormalizeScore`): all zero gives 0,
/// or `max` everywhere when reversed.
pub fn default_normalize_score(max: i64, reverse: bool, scores: &mut [i64]) {
    let highest = scores.iter().copied().max().unwrap_or(0).max(0);
    if highest == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = max * *s / highest;
        if reverse {
            *s = max - *s;
        }
    }
}

/// [`default_normalize_score`] to [`MAX_NODE_SCORE`].
pub fn normalize(reverse: bool, scores: &mut [i64]) {
    default_normalize_score(MAX_NODE_SCORE, reverse, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from helper/normalize_score_test.go, re-derived.
    #[test]
    fn default_normalize_score_cases() {
        let mut s = [10, 20, 30, 40, 50];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, [20, 40, 60, 80, 100]);
        let mut s = [10, 20, 30, 40, 50];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, [80, 60, 40, 20, 0]);
        let mut s = [0, 0, 0];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, [100, 100, 100]);
        let mut s = [0, 0, 0];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, [0, 0, 0]);
        let mut s = [2, 3, 7];
        default_normalize_score(10, false, &mut s);
        assert_eq!(s, [2, 4, 10]);
    }
}
