//! Latency percentiles.

use std::time::Duration;

/// The `p`-th percentile (0..=100, nearest rank) of `sorted`, which must be
/// sorted ascending; `None` when it is empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `value` in milliseconds with three decimals, or `nan`.
pub fn millis(value: Option<Duration>) -> String {
    value.map_or_else(
        || "nan".to_string(),
        |d| format!("{:.3}", d.as_secs_f64() * 1e3),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let values: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&values, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&values, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(
            percentile(&values[..1], 99.0),
            Some(Duration::from_millis(1))
        );
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(millis(None), "nan");
        assert_eq!(millis(Some(Duration::from_micros(1500))), "1.500");
    }
}
