//! Sparklines and bars.

const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// One character per value, its height scaled to the largest value (from
/// zero): an empty cell for zero (or not a number), the lowest tick for
/// the smallest value above zero. With `from_min`, scaled between the
/// smallest and the largest value instead (for gauges), every value a tick.
pub(crate) fn sparkline(values: &[f64], from_min: bool) -> String {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let max = finite.clone().fold(f64::NEG_INFINITY, f64::max);
    let min = finite.fold(f64::INFINITY, f64::min);
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() || (!from_min && v <= 0.0) {
                return ' ';
            }
            let (low, high) = if from_min { (min, max) } else { (0.0, max) };
            if high <= low {
                return TICKS[if from_min { 3 } else { 7 }];
            }
            let share = (v - low) / (high - low);
            TICKS[((share * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// A bar `share` (0 to 1) of `width` cells long, in eighths of a cell.
pub(crate) fn bar(share: f64, width: usize) -> String {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (share * width as f64 * 8.0).round() as usize;
    let mut out: String = std::iter::repeat_n('█', eighths / 8).collect();
    if !eighths.is_multiple_of(8) {
        out.push(EIGHTHS[eighths % 8]);
    }
    out
}

/// A bar of `width` cells for a stretch of a whole: from `start` to `end`
/// as shares (0 to 1) of it, at least one cell long.
pub(crate) fn timeline(start: f64, end: f64, width: usize) -> String {
    let clamp = |x: f64| {
        if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let first = ((clamp(start) * width as f64).floor() as usize).min(width.saturating_sub(1));
    let last = ((clamp(end) * width as f64).round() as usize).clamp(first + 1, width.max(1));
    let mut out = " ".repeat(first);
    out.extend(std::iter::repeat_n('█', last - first));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest() {
        assert_eq!(sparkline(&[0.0, 1.0, 4.0, 8.0], false), " ▂▅█");
        assert_eq!(sparkline(&[0.0, 0.0], false), "  ");
        assert_eq!(sparkline(&[3.0, 3.0], false), "██");
        assert_eq!(sparkline(&[f64::NAN, 2.0], false), " █");
        assert_eq!(sparkline(&[], false), "");
        assert_eq!(sparkline(&[-5.0, 0.0, 5.0], true), "▁▅█");
        assert_eq!(sparkline(&[7.0, 7.0], true), "▄▄");
    }

    #[test]
    fn bars_in_eighths_and_timelines_at_least_a_cell() {
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██");
        assert_eq!(bar(0.53, 4), "██▏");
        assert_eq!(bar(0.0, 4), "");
        assert_eq!(bar(f64::NAN, 4), "");
        assert_eq!(bar(7.0, 2), "██");
        assert_eq!(timeline(0.0, 1.0, 10), "██████████");
        assert_eq!(timeline(0.5, 0.5, 10), "     █");
        assert_eq!(timeline(0.2, 0.6, 10), "  ████");
        assert_eq!(timeline(1.0, 1.0, 10), "         █");
        assert_eq!(timeline(0.0, 0.0, 0), "█", "never empty");
    }
}
