//! Sparklines: a worker's recent heartbeats (CPU, memory, running attempts)
//! drawn as small SVG line charts, word-sized graphics after Tufte.
//!
//! Idea: a linear map from data to pixels. Time runs left to right from the
//! first sample to the last, the value bottom to top from 0 to the largest
//! value seen, so the line's height is always relative to its own peak,
//! which the label states. One polyline point per sample: the drawing
//! shows exactly the samples the master kept, no fewer and no more. As in
//! the timeline, the label is escaped and presentation attributes only are
//! used, so the SVG can be inlined in a page.

use std::fmt::Write as _;

use crate::view::markup::html_escape;
use crate::view::timeline::PALETTE;

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 64.0;
/// The plot, below the label.
const PLOT_TOP: f64 = 20.0;
const PLOT_BOTTOM: f64 = HEIGHT - 4.0;
const PAD: f64 = 3.0;

/// One sample: when (ms, on any clock) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at_ms: u64,
    pub value: f64,
}

/// A sparkline of `points` (oldest first) named `name`, its values written
/// by `show` (`12.5%`, `40 MiB`). The line is the only element with class
/// `sparkline`; it has one point per sample. No samples: says so.
pub fn render(name: &str, points: &[Point], show: impl Fn(f64) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{HEIGHT:.0}" viewBox="0 0 {WIDTH:.0} {HEIGHT:.0}" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        let _ = writeln!(
            out,
            r#"<text x="{PAD:.1}" y="14">{}: no heartbeats yet</text>"#,
            html_escape(name)
        );
        out.push_str("</svg>\n");
        return out;
    };
    let finite = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let peak = points.iter().map(|p| finite(p.value)).fold(0.0, f64::max);
    let span_ms = last.at_ms.saturating_sub(first.at_ms);
    let label = format!(
        "{name}: {} now, {} at most",
        show(finite(last.value)),
        show(peak)
    );
    let _ = writeln!(
        out,
        r#"<text x="{PAD:.1}" y="14">{}</text>"#,
        html_escape(&label)
    );
    let _ = writeln!(
        out,
        r##"<line x1="{PAD:.1}" y1="{PLOT_BOTTOM:.1}" x2="{:.1}" y2="{PLOT_BOTTOM:.1}" stroke="#cccccc"/>"##,
        WIDTH - PAD
    );
    let mut coords = String::new();
    for (i, p) in points.iter().enumerate() {
        // By time; by place when every sample has the same time.
        let share = if span_ms > 0 {
            p.at_ms.saturating_sub(first.at_ms) as f64 / span_ms as f64
        } else if points.len() > 1 {
            i as f64 / (points.len() - 1) as f64
        } else {
            0.5
        };
        let height = if peak > 0.0 {
            finite(p.value) / peak
        } else {
            0.0
        };
        let x = PAD + share.clamp(0.0, 1.0) * (WIDTH - 2.0 * PAD);
        let y = PLOT_BOTTOM - height * (PLOT_BOTTOM - PLOT_TOP);
        if i > 0 {
            coords.push(' ');
        }
        let _ = write!(coords, "{x:.1},{y:.1}");
    }
    let tooltip = format!(
        "{name}: {} sample{} over {:.1} s",
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        span_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        r#"<polyline class="sparkline" points="{coords}" fill="none" stroke="{}" stroke-width="1.5"><title>{}</title></polyline>"#,
        PALETTE[0],
        html_escape(&tooltip)
    );
    out.push_str("</svg>\n");
    out
}

/// How many points the sparkline of `svg` has (for tests of the page).
pub fn points_in(svg: &str) -> usize {
    svg.split(r#"class="sparkline" points=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map_or(0, |points| points.split_whitespace().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::markup::well_formed;

    fn points(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| Point {
                at_ms: 1000 * i as u64,
                value,
            })
            .collect()
    }

    /// The (x, y) of each point.
    fn coords(svg: &str) -> Vec<(f64, f64)> {
        let list = svg
            .split(r#"points=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        list.split_whitespace()
            .map(|xy| {
                let (x, y) = xy.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn one_point_per_sample_scaled_to_the_peak() {
        let svg = render("CPU", &points(&[0.0, 50.0, 100.0, 25.0]), |v| {
            format!("{v:.0}%")
        });
        well_formed(&svg).unwrap();
        assert_eq!(points_in(&svg), 4);
        let xy = coords(&svg);
        assert!((xy[0].0 - PAD).abs() < 0.1 && (xy[3].0 - (WIDTH - PAD)).abs() < 0.1);
        assert!((xy[0].1 - PLOT_BOTTOM).abs() < 0.1, "0 is the bottom");
        assert!((xy[2].1 - PLOT_TOP).abs() < 0.1, "the peak is the top");
        assert!(svg.contains("CPU: 25% now, 100% at most"), "{svg}");
        assert!(svg.contains("4 samples over 3.0 s"), "{svg}");
    }

    #[test]
    fn odd_samples_draw_without_nan() {
        let same_time = [Point {
            at_ms: 5,
            value: 1.0,
        }; 3];
        let one = [Point {
            at_ms: u64::MAX,
            value: f64::NAN,
        }];
        let backwards = [
            Point {
                at_ms: 10,
                value: f64::INFINITY,
            },
            Point {
                at_ms: 0,
                value: -3.0,
            },
        ];
        for case in [&same_time[..], &one[..], &backwards[..], &points(&[0.0; 5])] {
            let svg = render("<RSS & co>", case, |v| format!("{v}"));
            well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
            assert_eq!(points_in(&svg), case.len());
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.contains("&lt;RSS &amp; co&gt;"));
        }
    }

    #[test]
    fn no_samples_say_so() {
        let svg = render("running", &[], |v| format!("{v}"));
        well_formed(&svg).unwrap();
        assert!(svg.contains("no heartbeats yet"));
        assert_eq!(points_in(&svg), 0);
    }
}
