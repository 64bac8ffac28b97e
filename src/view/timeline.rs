//! The timeline: a job's task attempts drawn as an SVG Gantt chart, for
//! `client timeline JOB > job.svg` and for the master's web page.
//!
//! Idea: interval partitioning. Each worker runs several attempts at once,
//! one per slot, but the report only says when each attempt started and
//! ended, not which slot it used. `lanes` rebuilds the slots: take the
//! attempts in start order and put each in the lowest lane that is free by
//! then. This greedy rule never uses more lanes than the most attempts that
//! overlap at one instant, so a worker's lanes are exactly the slots it had
//! in use. Everything else is a linear scale (milliseconds to pixels) with
//! ticks at round values, and SVG written as plain text.
//!
//! SVG is XML, so every piece of text that comes from the user (a file name,
//! an operator chain) is escaped before it goes in; one stray `<` or `&`
//! would make the whole document unreadable. The drawing uses presentation
//! attributes only, no `<style>`, because a style sheet inside an SVG that
//! is inlined in HTML applies to the whole page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::protocol::{AttemptOutcome, AttemptReport, JobReport};
use crate::view::markup::html_escape;

// The layout, in pixels. The chart is `WIDTH` wide: a column of row labels,
// then the plot, then a margin wide enough for the last tick's label.
const WIDTH: f64 = 1000.0;
const LABEL_W: f64 = 160.0;
const RIGHT_PAD: f64 = 40.0;
const PLOT_W: f64 = WIDTH - LABEL_W - RIGHT_PAD;
/// Where the first row starts, below the title.
const TOP: f64 = 36.0;
const ROW_H: f64 = 22.0;
/// Space between a bar and the edges of its row.
const BAR_PAD: f64 = 3.0;
/// A bar is never thinner than this, so even a 0 ms attempt shows.
const MIN_BAR_W: f64 = 1.0;
/// Room for the tick marks and their labels under the plot.
const AXIS_H: f64 = 36.0;
const LEGEND_LINE: f64 = 18.0;
const SWATCH: f64 = 12.0;
/// How many lines of the legend explain outcome markings.
const OUTCOME_KEYS: usize = 3;
/// Half the size of the `×` drawn where a failed attempt ended.
const CROSS: f64 = 4.0;

/// The axis never has more intervals than this, so at most 10 ticks.
const MAX_INTERVALS: u128 = 9;

/// Stage colours, picked by stage number and cycling. No red: red marks
/// failures. The DAG (`dag.rs`) colours its boxes from the same set.
pub(crate) const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac",
];
pub(crate) const FAILURE_RED: &str = "#d62728";
const OUTLINE: &str = "#222222";
/// The neutral fill of the legend's outcome swatches.
const KEY_FILL: &str = "#999999";
/// How visible an aborted attempt is: its work was thrown away.
const ABORTED_OPACITY: &str = "0.35";

/// Renders the job's attempts as a standalone SVG document (with the XML
/// declaration omitted so it can also be inlined in HTML). Running attempts
/// are drawn up to `report.elapsed_ms`. A report without attempts gives a
/// small SVG that says so.
pub fn render(report: &JobReport) -> String {
    let title = format!("job {} {} {}", report.id, report.file, report.state);
    if report.attempts.is_empty() {
        return render_empty(&title);
    }
    let now = report.elapsed_ms;
    let spans: Vec<(u64, u64)> = report.attempts.iter().map(|a| span(a, now)).collect();
    let lanes = lanes(&report.attempts, now);

    // One row per (worker, lane) in use, workers in id order.
    let mut rows = lanes.clone();
    rows.sort_unstable();
    rows.dedup();

    let latest = spans.iter().map(|&(_, end)| end).max().unwrap_or(0);
    let axis = Axis::new(latest.max(now));
    let legend = legend_stages(report);

    let plot_bottom = TOP + rows.len() as f64 * ROW_H;
    let legend_top = plot_bottom + AXIS_H;
    let height = legend_top + (legend.len() + OUTCOME_KEYS) as f64 * LEGEND_LINE + BAR_PAD;

    let mut out = String::new();
    open_svg(&mut out, WIDTH, height);
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
        html_escape(&title)
    );

    // Row backgrounds, shaded per worker so a worker's slots read as a group,
    // and the row labels.
    let mut shaded = false;
    let mut previous_worker = None;
    for (i, &(worker, lane)) in rows.iter().enumerate() {
        if previous_worker != Some(worker) {
            shaded = !shaded;
            previous_worker = Some(worker);
        }
        let y = TOP + i as f64 * ROW_H;
        if shaded {
            let _ = writeln!(
                out,
                r##"<rect x="0" y="{y:.1}" width="{WIDTH:.1}" height="{ROW_H:.1}" fill="#f0f0f0"/>"##
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">worker {worker} slot {lane}</text>"#,
            LABEL_W - 6.0,
            y + ROW_H / 2.0 + 4.0
        );
    }

    draw_axis(&mut out, &axis, plot_bottom);

    for ((attempt, &(start, end)), lane) in report.attempts.iter().zip(&spans).zip(&lanes) {
        // Every lane is in `rows`, so the search always finds it; `Err` would
        // still be a valid row index.
        let row = rows.binary_search(lane).unwrap_or_else(|i| i);
        let y = TOP + row as f64 * ROW_H;
        draw_attempt(&mut out, attempt, start, end, &axis, y);
    }

    draw_legend(&mut out, &legend, legend_top);
    out.push_str("</svg>\n");
    out
}

/// Assigns each attempt a lane (row): per worker, the lowest lane whose
/// previous attempt ended before this one started (greedy interval
/// partitioning, attempts sorted by start); lanes of a worker are its slots
/// in use. Running attempts last until `now_ms`. Returns (worker, lane) per
/// attempt, in the input order.
pub fn lanes(attempts: &[AttemptReport], now_ms: u64) -> Vec<(u32, u32)> {
    // Attempts by start time; the sort is stable, so ties keep input order.
    let mut order: Vec<usize> = (0..attempts.len()).collect();
    order.sort_by_key(|&i| attempts[i].start_ms);

    // For each worker, when the last attempt in each of its lanes ends.
    let mut lane_ends: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut assigned = vec![(0, 0); attempts.len()];
    for i in order {
        let attempt = &attempts[i];
        let (start, end) = span(attempt, now_ms);
        let ends = lane_ends.entry(attempt.worker).or_default();
        let lane = match ends.iter().position(|&free_at| free_at <= start) {
            Some(lane) => {
                ends[lane] = end;
                lane
            }
            None => {
                ends.push(end);
                ends.len() - 1
            }
        };
        // A worker has at most one lane per attempt, so this always fits.
        assigned[i] = (attempt.worker, u32::try_from(lane).unwrap_or(u32::MAX));
    }
    assigned
}

/// When an attempt starts and ends, in ms since submit: a running attempt
/// lasts until `now_ms`, and an end before the start is taken as the start.
fn span(attempt: &AttemptReport, now_ms: u64) -> (u64, u64) {
    let end = if attempt.outcome == AttemptOutcome::Running {
        now_ms
    } else {
        attempt.end_ms
    };
    (attempt.start_ms, end.max(attempt.start_ms))
}

/// Whether the attempt ended badly, which the chart marks in red.
fn is_failure(outcome: AttemptOutcome) -> bool {
    matches!(
        outcome,
        AttemptOutcome::Failed
            | AttemptOutcome::Lost
            | AttemptOutcome::FetchFailed
            | AttemptOutcome::TimedOut
    )
}

/// The time axis: from 0 to `end` ms, with a tick every `step` ms. `step` is
/// 1, 2 or 5 times a power of ten, and `end` a multiple of it, so every tick
/// falls on a round value. `u128` so no value of a `u64` can overflow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Axis {
    step: u128,
    end: u128,
}

impl Axis {
    /// The finest round step that covers `0..=latest` in at most
    /// `MAX_INTERVALS` intervals. The next finer one needed more, which
    /// makes this one need at least 4: 5 to 10 ticks, 0 included (fewer only
    /// when `latest` is under 4 ms).
    fn new(latest: u64) -> Axis {
        let latest = u128::from(latest);
        let mut power: u128 = 1;
        // Ends by 10^19 at the latest: one step of that covers any u64.
        loop {
            for factor in [1, 2, 5] {
                let step = factor * power;
                let intervals = latest.div_ceil(step).max(1);
                if intervals <= MAX_INTERVALS {
                    return Axis {
                        step,
                        end: intervals * step,
                    };
                }
            }
            power *= 10;
        }
    }

    /// The x pixel of a time in ms.
    fn x(&self, ms: u128) -> f64 {
        LABEL_W + ms as f64 / self.end as f64 * PLOT_W
    }

    /// The ticks: 0, step, 2 step, ... up to and including `end`.
    fn ticks(&self) -> impl Iterator<Item = u128> + '_ {
        (0..=self.end / self.step).map(move |i| i * self.step)
    }

    /// A tick's label, in whole seconds when every tick is one, else in ms.
    fn label(&self, ms: u128) -> String {
        if self.step.is_multiple_of(1000) {
            format!("{} s", ms / 1000)
        } else {
            format!("{ms} ms")
        }
    }
}

/// The axis line under the plot, a tick and label per round value, and a
/// faint grid line up through the rows.
fn draw_axis(out: &mut String, axis: &Axis, plot_bottom: f64) {
    let _ = writeln!(
        out,
        r##"<line x1="{LABEL_W:.1}" y1="{plot_bottom:.1}" x2="{:.1}" y2="{plot_bottom:.1}" stroke="#444444"/>"##,
        LABEL_W + PLOT_W
    );
    for tick in axis.ticks() {
        let x = axis.x(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{plot_bottom:.1}" stroke="#dddddd"/>"##
        );
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{plot_bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444444"/>"##,
            plot_bottom + 5.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            plot_bottom + 18.0,
            axis.label(tick)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">since submit</text>"#,
        LABEL_W - 30.0,
        plot_bottom + 18.0
    );
}

/// One attempt: its bar (the only element with class `attempt`) with a
/// tooltip, and a red `×` where it ended if it failed.
fn draw_attempt(
    out: &mut String,
    attempt: &AttemptReport,
    start: u64,
    end: u64,
    axis: &Axis,
    y: f64,
) {
    let x = axis.x(u128::from(start));
    let width = (axis.x(u128::from(end)) - x).max(MIN_BAR_W);
    let failed = is_failure(attempt.outcome);
    let extra = attempt.speculative != 0 || attempt.retry != 0;

    let mut style = String::new();
    if failed {
        let _ = write!(style, r#" stroke="{FAILURE_RED}" stroke-width="2""#);
    } else if extra {
        let _ = write!(style, r#" stroke="{OUTLINE}" stroke-width="1.5""#);
    }
    if extra {
        style.push_str(r#" stroke-dasharray="4 2""#);
    }
    if attempt.outcome == AttemptOutcome::Aborted {
        let _ = write!(style, r#" opacity="{ABORTED_OPACITY}""#);
    }

    let mut tooltip = format!(
        "attempt {}: stage {} task {} on worker {}, {start}\u{2013}{end} ms, {}",
        attempt.attempt, attempt.stage, attempt.task, attempt.worker, attempt.outcome
    );
    if attempt.speculative != 0 {
        tooltip.push_str(", speculative copy");
    }
    if attempt.retry != 0 {
        tooltip.push_str(", retry");
    }

    let _ = writeln!(
        out,
        r#"<rect class="attempt" x="{x:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" fill="{}"{style}><title>{}</title></rect>"#,
        y + BAR_PAD,
        ROW_H - 2.0 * BAR_PAD,
        stage_colour(attempt.stage),
        html_escape(&tooltip)
    );
    if failed {
        cross(out, x + width, y + ROW_H / 2.0);
    }
}

/// A red `×` centred on (x, y).
fn cross(out: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r#"<path d="M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}" stroke="{FAILURE_RED}" stroke-width="2"/>"#,
        x - CROSS,
        y - CROSS,
        x + CROSS,
        y + CROSS,
        x - CROSS,
        y + CROSS,
        x + CROSS,
        y - CROSS
    );
}

/// The fill of a stage's bars.
pub(crate) fn stage_colour(stage: u32) -> &'static str {
    PALETTE[stage as usize % PALETTE.len()]
}

/// Legend lines for stages: every stage the report lists, plus any an
/// attempt names that it does not (those without ops), in stage order.
fn legend_stages(report: &JobReport) -> BTreeMap<u32, &str> {
    let mut stages: BTreeMap<u32, &str> = report
        .stages
        .iter()
        .map(|s| (s.stage, s.ops.as_str()))
        .collect();
    for attempt in &report.attempts {
        stages.entry(attempt.stage).or_insert("");
    }
    stages
}

/// The legend: a swatch per stage, then one per outcome marking.
fn draw_legend(out: &mut String, stages: &BTreeMap<u32, &str>, top: f64) {
    let mut line = 0;
    let mut next_y = || {
        let y = top + line as f64 * LEGEND_LINE;
        line += 1;
        y
    };
    for (&stage, ops) in stages {
        let y = next_y();
        let text = if ops.is_empty() {
            format!("stage {stage}")
        } else {
            format!("stage {stage}: {ops}")
        };
        swatch(out, y, stage_colour(stage), "", &text);
    }

    let y = next_y();
    let red = format!(r#" stroke="{FAILURE_RED}" stroke-width="2""#);
    swatch(
        out,
        y,
        KEY_FILL,
        &red,
        "failed, lost, fetch failed or timed out (\u{d7} where it ended)",
    );
    cross(out, 10.0 + SWATCH, y + SWATCH / 2.0);

    let faded = format!(r#" opacity="{ABORTED_OPACITY}""#);
    let text = "aborted: another attempt won, or the job ended first";
    swatch(out, next_y(), KEY_FILL, &faded, text);

    let dashed = format!(r#" stroke="{OUTLINE}" stroke-width="1.5" stroke-dasharray="4 2""#);
    swatch(
        out,
        next_y(),
        KEY_FILL,
        &dashed,
        "speculative copy or retry",
    );
}

/// One legend line at `y`: a small square drawn with `fill` and `style`
/// (extra attributes), and its text.
fn swatch(out: &mut String, y: f64, fill: &str, style: &str, text: &str) {
    let _ = writeln!(
        out,
        r#"<rect x="10.0" y="{y:.1}" width="{SWATCH:.1}" height="{SWATCH:.1}" fill="{fill}"{style}/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
        10.0 + SWATCH + 8.0,
        y + SWATCH - 2.0,
        html_escape(text)
    );
}

/// The small SVG for a job that has not launched anything yet.
fn render_empty(title: &str) -> String {
    let mut out = String::new();
    open_svg(&mut out, 400.0, 60.0);
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
        html_escape(title)
    );
    out.push_str("<text x=\"10\" y=\"46\">no attempts yet</text>\n</svg>\n");
    out
}

/// The `<svg>` start tag and a white background, so the chart reads the same
/// in a dark viewer.
fn open_svg(out: &mut String, width: f64, height: f64) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{JobState, StageReport};
    use crate::view::markup::well_formed;

    fn attempt(worker: u32, start_ms: u64, end_ms: u64, outcome: AttemptOutcome) -> AttemptReport {
        AttemptReport {
            worker,
            start_ms,
            end_ms,
            outcome,
            ..Default::default()
        }
    }

    /// Two stages on two workers, one attempt of every outcome, a speculative
    /// copy, a retry and one still running.
    fn busy_report() -> JobReport {
        use AttemptOutcome::*;
        let mut attempts = vec![
            attempt(1, 0, 400, Succeeded),
            attempt(1, 10, 300, Failed),
            attempt(1, 300, 900, Lost),
            attempt(2, 20, 500, FetchFailed),
            attempt(2, 500, 800, TimedOut),
            attempt(2, 600, 700, Aborted),
            attempt(3, 650, 0, Running),
        ];
        attempts[5].speculative = 1;
        attempts[6].retry = 1;
        for (i, a) in attempts.iter_mut().enumerate() {
            a.attempt = i as u64;
            a.task = i as u32;
            a.stage = u32::from(i >= 4);
        }
        JobReport {
            id: 4,
            file: "jobs/wc.job".into(),
            state: JobState::Running,
            elapsed_ms: 1234,
            stages: vec![
                StageReport {
                    stage: 0,
                    ops: "read_text > flat_map > shuffle".into(),
                    ..Default::default()
                },
                StageReport {
                    stage: 1,
                    ops: "reduce > save".into(),
                    ..Default::default()
                },
            ],
            attempts,
            ..Default::default()
        }
    }

    /// Text that breaks XML unless escaped, in every field that is drawn.
    fn nasty_report() -> JobReport {
        JobReport {
            id: 9,
            file: r#"jobs/<b>&"quoted" 'single'.job"#.into(),
            state: JobState::Failed,
            error: "boom < & >".into(),
            elapsed_ms: 50,
            stages: vec![StageReport {
                stage: 0,
                ops: "read_text > filter(\"a&b<c\") > save\u{1}".into(),
                ..Default::default()
            }],
            attempts: vec![attempt(0, 0, 50, AttemptOutcome::Failed)],
            ..Default::default()
        }
    }

    /// Times that are odd or extreme: an end before its start, a running
    /// attempt that started after "now", the largest times there are, and a
    /// stage no `StageReport` describes.
    fn odd_reports() -> Vec<JobReport> {
        let mut huge = attempt(u32::MAX, u64::MAX - 5, u64::MAX, AttemptOutcome::Succeeded);
        huge.stage = u32::MAX;
        huge.attempt = u64::MAX;
        vec![
            JobReport {
                id: 1,
                attempts: vec![attempt(0, 0, 0, AttemptOutcome::Running)],
                ..Default::default()
            },
            JobReport {
                id: 2,
                elapsed_ms: 10,
                attempts: vec![
                    attempt(5, 100, 20, AttemptOutcome::Succeeded),
                    attempt(5, 70, 0, AttemptOutcome::Running),
                ],
                ..Default::default()
            },
            JobReport {
                id: u64::MAX,
                elapsed_ms: u64::MAX,
                attempts: vec![huge, attempt(0, 0, 0, AttemptOutcome::Running)],
                ..Default::default()
            },
        ]
    }

    fn all_reports() -> Vec<JobReport> {
        let mut reports = vec![
            JobReport {
                id: 1,
                ..Default::default()
            },
            nasty_report(),
            busy_report(),
        ];
        reports.extend(odd_reports());
        reports
    }

    /// The attributes of every attempt bar, in order.
    fn attempt_bars(svg: &str) -> Vec<BTreeMap<String, String>> {
        svg.split(r#"<rect class="attempt" "#)
            .skip(1)
            .map(|rest| {
                let tag = &rest[..rest.find('>').unwrap()];
                tag.split('"')
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .filter(|pair| pair.len() == 2)
                    .map(|pair| {
                        let key = pair[0].trim().trim_end_matches('=');
                        (key.to_string(), pair[1].to_string())
                    })
                    .collect()
            })
            .collect()
    }

    fn number(bar: &BTreeMap<String, String>, key: &str) -> f64 {
        bar[key].parse().unwrap()
    }

    #[test]
    fn render_is_well_formed() {
        for report in all_reports() {
            let svg = render(&report);
            if let Err(why) = well_formed(&svg) {
                panic!("job {}: {why}\n{svg}", report.id);
            }
            assert!(svg.starts_with("<svg "), "{svg}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn render_escapes_text() {
        let svg = render(&nasty_report());
        assert!(
            svg.contains("job 9 jobs/&lt;b&gt;&amp;&quot;quoted&quot; &#39;single&#39;.job FAILED")
        );
        assert!(svg.contains(
            "stage 0: read_text &gt; filter(&quot;a&amp;b&lt;c&quot;) &gt; save\u{fffd}"
        ));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn one_attempt_bar_per_attempt() {
        for report in all_reports() {
            let svg = render(&report);
            assert_eq!(
                svg.matches(r#"class="attempt""#).count(),
                report.attempts.len(),
                "{svg}"
            );
            for bar in attempt_bars(&svg) {
                assert!(number(&bar, "width") >= MIN_BAR_W, "{bar:?}");
            }
        }
    }

    #[test]
    fn bars_are_coloured_and_marked() {
        let svg = render(&busy_report());
        let bars = attempt_bars(&svg);
        assert_eq!(bars[0]["fill"], PALETTE[0]);
        assert_eq!(bars[4]["fill"], PALETTE[1]);
        assert!(!bars[0].contains_key("stroke"));
        for failed in &bars[1..=4] {
            assert_eq!(failed["stroke"], FAILURE_RED);
        }
        assert_eq!(bars[5]["opacity"], ABORTED_OPACITY);
        assert!(bars[5].contains_key("stroke-dasharray"));
        assert!(bars[6].contains_key("stroke-dasharray"));
        // One × per failed attempt, one more in the legend.
        assert_eq!(svg.matches("<path ").count(), 5);
        assert!(svg.contains("stage 1: reduce &gt; save"));
        assert!(svg.contains("speculative copy or retry"));
    }

    #[test]
    fn rows_are_worker_slots() {
        let svg = render(&busy_report());
        for row in [
            "worker 1 slot 0",
            "worker 1 slot 1",
            "worker 2 slot 0",
            "worker 2 slot 1",
        ] {
            assert!(svg.contains(row), "{row}");
        }
        assert!(svg.contains("worker 3 slot 0"));
        assert!(!svg.contains("worker 1 slot 2") && !svg.contains("worker 3 slot 1"));
    }

    #[test]
    fn tooltips_describe_each_attempt() {
        let svg = render(&busy_report());
        assert!(svg.contains(
            "<title>attempt 1: stage 0 task 1 on worker 1, 10\u{2013}300 ms, FAILED</title>"
        ));
        assert!(svg.contains(", 600\u{2013}700 ms, ABORTED, speculative copy</title>"));
        assert!(svg.contains(", 650\u{2013}1234 ms, RUNNING, retry</title>"));
    }

    #[test]
    fn running_attempt_is_drawn_to_elapsed() {
        let report = JobReport {
            id: 3,
            elapsed_ms: 1000,
            attempts: vec![
                attempt(1, 0, 500, AttemptOutcome::Succeeded),
                attempt(2, 0, 0, AttemptOutcome::Running),
            ],
            ..Default::default()
        };
        let bars = attempt_bars(&render(&report));
        let right_end = |bar: &BTreeMap<String, String>| number(bar, "x") + number(bar, "width");
        // The axis runs 0..1000 ms, so 500 ms is the middle of the plot and
        // "now" its right edge.
        assert!((right_end(&bars[0]) - (LABEL_W + PLOT_W / 2.0)).abs() < 0.2);
        assert!((right_end(&bars[1]) - (LABEL_W + PLOT_W)).abs() < 0.2);
    }

    #[test]
    fn overlapping_attempts_get_different_lanes() {
        let attempts = [
            attempt(1, 0, 100, AttemptOutcome::Succeeded),
            attempt(1, 50, 150, AttemptOutcome::Succeeded),
            attempt(1, 60, 0, AttemptOutcome::Running),
        ];
        assert_eq!(lanes(&attempts, 200), vec![(1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn sequential_attempts_reuse_lane_zero() {
        let attempts = [
            attempt(1, 200, 300, AttemptOutcome::Succeeded),
            attempt(1, 0, 100, AttemptOutcome::Failed),
            attempt(1, 100, 200, AttemptOutcome::Succeeded),
        ];
        assert_eq!(lanes(&attempts, 300), vec![(1, 0); 3]);
    }

    #[test]
    fn lanes_take_the_lowest_free_one() {
        let attempts = [
            attempt(1, 0, 100, AttemptOutcome::Succeeded),
            attempt(1, 0, 40, AttemptOutcome::Succeeded),
            attempt(1, 0, 60, AttemptOutcome::Succeeded),
            attempt(1, 50, 70, AttemptOutcome::Succeeded),
            attempt(1, 100, 110, AttemptOutcome::Succeeded),
        ];
        assert_eq!(
            lanes(&attempts, 0),
            vec![(1, 0), (1, 1), (1, 2), (1, 1), (1, 0)]
        );
    }

    #[test]
    fn different_workers_are_independent() {
        let attempts = [
            attempt(1, 0, 100, AttemptOutcome::Succeeded),
            attempt(2, 0, 100, AttemptOutcome::Succeeded),
            attempt(1, 10, 90, AttemptOutcome::Succeeded),
            attempt(7, 10, 90, AttemptOutcome::Succeeded),
        ];
        assert_eq!(lanes(&attempts, 100), vec![(1, 0), (2, 0), (1, 1), (7, 0)]);
    }

    #[test]
    fn a_running_attempt_holds_its_lane_until_now() {
        let attempts = [
            attempt(1, 0, 0, AttemptOutcome::Running),
            attempt(1, 50, 60, AttemptOutcome::Succeeded),
        ];
        assert_eq!(lanes(&attempts, 100), vec![(1, 0), (1, 1)]);
    }

    #[test]
    fn axis_ticks_are_round() {
        assert_eq!(
            Axis::new(1000),
            Axis {
                step: 200,
                end: 1000
            }
        );
        assert_eq!(
            Axis::new(1234),
            Axis {
                step: 200,
                end: 1400
            }
        );
        assert_eq!(Axis::new(0), Axis { step: 1, end: 1 });
        assert_eq!(Axis::new(7_500).label(2000), "2 s");
        assert_eq!(Axis::new(1000).label(400), "400 ms");
        for latest in (4..20_000).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let axis = Axis::new(latest);
            let ticks = axis.ticks().count();
            assert!((5..=10).contains(&ticks), "{latest}: {axis:?}");
            assert!(axis.end >= u128::from(latest));
        }
    }

    #[test]
    fn empty_report_says_no_attempts_yet() {
        let report = JobReport {
            id: 1,
            file: "a&b.job".into(),
            ..Default::default()
        };
        let svg = render(&report);
        assert!(svg.contains("no attempts yet"));
        assert!(svg.contains("job 1 a&amp;b.job RUNNING"));
        assert!(!svg.contains("class=\"attempt\""));
        assert!(well_formed(&svg).is_ok());
    }
}
