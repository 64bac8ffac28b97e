//! The DAG: a job's stages drawn as SVG boxes, left to right, with an
//! arrow per shuffle from the stage that writes it to each stage that
//! reads it, for the job page and `/jobs/ID/dag.svg`.
//!
//! Idea: layering a graph, the first step of how `dot` draws one. A stage's
//! column is its depth, the longest path to it from a stage that reads
//! only sources, so every arrow points right. Depths are found by relaxing
//! every edge once per stage (Bellman-Ford, looking for the longest path
//! instead of the shortest): in a DAG of `n` stages no path is longer than
//! `n - 1` edges, so `n` passes settle every depth, and a cycle, which a
//! plan never has but a damaged report could, stops there instead of
//! looping. Stages of the same depth are stacked in their column, in stage
//! order. A loop unrolled over many rounds makes a long chain of depths:
//! past `MAX_COLUMNS` the columns wrap into bands below, like lines of
//! text, and an arrow to the next band runs down a gap between columns
//! and along the gap between bands, so it never crosses a box.
//!
//! Boxes are coloured by the stage's state with the timeline's colours
//! (`timeline::PALETTE`, its red for failures), and carry the stage's
//! timeline colour as a stripe, so a box and its bars are seen together.
//! As in the timeline, every piece of text from the job is escaped and
//! only presentation attributes are used: the SVG can be inlined in a page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::protocol::{JobReport, JobState, StageReport};
use crate::view::markup::html_escape;
use crate::view::timeline::{stage_colour, FAILURE_RED, PALETTE};

// The layout, in pixels.
const BOX_W: f64 = 200.0;
/// Between two columns: room for an arrow's curve and its label.
const COL_GAP: f64 = 90.0;
/// Between two boxes of a column.
const ROW_GAP: f64 = 18.0;
/// Between two bands of wrapped columns: the lane for arrows to the next.
const BAND_GAP: f64 = 46.0;
const MARGIN: f64 = 24.0;
/// Below the title: where the first band's gutter starts.
const TOP: f64 = 30.0;
const HEADER_H: f64 = 20.0;
const LINE_H: f64 = 14.0;
const BOX_PAD: f64 = 6.0;
/// The stripe of the stage's timeline colour down the left of its box.
const STRIPE: f64 = 5.0;
/// Columns side by side before they wrap into another band.
pub const MAX_COLUMNS: usize = 4;
/// Characters of operators on one line of a box, and lines of them at most.
const LINE_CHARS: usize = 30;
const OPS_LINES: usize = 4;
/// How far an arrow to another band runs right of its box before it turns.
const ELBOW: f64 = 22.0;
const HEAD: f64 = 7.0;
const LEGEND_LINE: f64 = 18.0;
const SWATCH: f64 = 12.0;

const ARROW: &str = "#555555";
const DARK_TEXT: &str = "#222222";

/// Where a stage is in its life, as its box and the job page show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageState {
    /// Nothing launched yet.
    Pending,
    Running,
    /// Every task done.
    Done,
    /// The job ended before this stage was done.
    Failed,
}

impl StageState {
    pub const ALL: [StageState; 4] = [
        StageState::Pending,
        StageState::Running,
        StageState::Done,
        StageState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Pending => "PENDING",
            StageState::Running => "RUNNING",
            StageState::Done => "DONE",
            StageState::Failed => "FAILED",
        }
    }

    /// The fill of its box's header, and the colour of the header's text.
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            StageState::Pending => (PALETTE[7], DARK_TEXT),
            StageState::Running => (PALETTE[0], "white"),
            StageState::Done => (PALETTE[2], "white"),
            StageState::Failed => (FAILURE_RED, "white"),
        }
    }
}

/// The state of stage `s` of a job in state `job`: done when every task
/// is; otherwise running while the job runs and something was launched,
/// failed when the job ended after something was, pending if nothing was.
pub fn stage_state(job: JobState, s: &StageReport) -> StageState {
    let launched = s.attempts > 0 || s.tasks_running > 0;
    if s.tasks_done >= s.tasks_total {
        StageState::Done
    } else if !launched {
        StageState::Pending
    } else if job.is_final() {
        StageState::Failed
    } else {
        StageState::Running
    }
}

/// One arrow: from the box of stage index `from` to that of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The shuffle it carries; `None` for a stage that waits for another
    /// without reading from it (a sort's map side waits for its sample).
    pub shuffle: Option<u32>,
}

/// The arrows between `stages` (indexes into it): one per shuffle and
/// (writer, reader) pair, then one per parent that no shuffle explains.
/// Ids that name no stage, and a stage reading what it writes, draw
/// nothing.
pub fn edges(stages: &[StageReport]) -> Vec<Edge> {
    // The first stage of each id, should a report repeat one.
    let mut index: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, s) in stages.iter().enumerate() {
        index.entry(s.stage).or_insert(i);
    }
    let mut writers: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in stages.iter().enumerate() {
        for &shuffle in &s.writes {
            writers.entry(shuffle).or_default().push(i);
        }
    }
    let mut edges = Vec::new();
    for (to, s) in stages.iter().enumerate() {
        for &shuffle in &s.reads {
            for &from in writers.get(&shuffle).into_iter().flatten() {
                if from != to {
                    edges.push(Edge {
                        from,
                        to,
                        shuffle: Some(shuffle),
                    });
                }
            }
        }
    }
    for (to, s) in stages.iter().enumerate() {
        for parent in &s.parents {
            let Some(&from) = index.get(parent) else {
                continue;
            };
            let explained = edges.iter().any(|e| e.from == from && e.to == to);
            if from != to && !explained {
                edges.push(Edge {
                    from,
                    to,
                    shuffle: None,
                });
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// Each stage's depth: the most edges on a path to it. `n` passes over the
/// edges settle a DAG of `n` stages, where no depth is over `n - 1`; on a
/// cycle, depths stop there.
pub fn depths(count: usize, edges: &[Edge]) -> Vec<usize> {
    let mut depth = vec![0; count];
    for _ in 0..count {
        let mut changed = false;
        for e in edges {
            let (Some(&from), Some(&to)) = (depth.get(e.from), depth.get(e.to)) else {
                continue;
            };
            if to < from + 1 && from + 1 < count {
                depth[e.to] = from + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

/// A stage's place in the drawing.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    band: usize,
    /// Its column within the band.
    column: usize,
    x: f64,
    y: f64,
    h: f64,
}

/// Renders the job's stages as a standalone SVG document (it can also be
/// inlined in HTML). Each box links to the stage's page.
pub fn render(report: &JobReport) -> String {
    let stages = &report.stages;
    let title = format!(
        "job {} {}: {} stage{}",
        report.id,
        report.file,
        stages.len(),
        if stages.len() == 1 { "" } else { "s" }
    );
    if stages.is_empty() {
        let mut out = String::new();
        open_svg(&mut out, 400.0, 60.0);
        title_text(&mut out, &title);
        out.push_str("<text x=\"10\" y=\"46\">no stages</text>\n</svg>\n");
        return out;
    }
    let edges = edges(stages);
    let depth = depths(stages.len(), &edges);
    let lines: Vec<Vec<String>> = stages.iter().map(box_lines).collect();

    // Bands of up to MAX_COLUMNS depths; in each column, its stages stacked.
    let columns = depth.iter().max().map_or(1, |d| d + 1);
    let per_band = columns.min(MAX_COLUMNS);
    let bands = columns.div_ceil(per_band);
    let mut places = vec![Place::default(); stages.len()];
    let mut column_h = vec![0.0; columns];
    for (i, &d) in depth.iter().enumerate() {
        let h = HEADER_H + lines[i].len() as f64 * LINE_H + BOX_PAD;
        places[i] = Place {
            band: d / per_band,
            column: d % per_band,
            x: MARGIN + (d % per_band) as f64 * (BOX_W + COL_GAP),
            y: column_h[d],
            h,
        };
        column_h[d] += h + ROW_GAP;
    }
    // Each band has a gutter above it, for the arrows that run to it.
    let mut band_top = vec![TOP + BAND_GAP; bands + 1];
    for b in 0..bands {
        let tallest = column_h[b * per_band..((b + 1) * per_band).min(columns)]
            .iter()
            .fold(0.0_f64, |a, &h| a.max(h));
        band_top[b + 1] = band_top[b] + tallest - ROW_GAP + BAND_GAP;
    }
    for p in &mut places {
        p.y += band_top[p.band];
    }

    let width = 2.0 * MARGIN + per_band as f64 * BOX_W + (per_band - 1) as f64 * COL_GAP;
    let legend_top = band_top[bands] - BAND_GAP + 10.0;
    let height = legend_top + 2.0 * LEGEND_LINE + 8.0;

    let mut out = String::new();
    open_svg(&mut out, width, height);
    title_text(&mut out, &title);
    let anchors = anchors(&edges, &places);
    // Arrows sharing a gutter are spread over three lanes in it.
    let mut in_gutter = vec![0usize; bands];
    for (e, &ends) in edges.iter().zip(&anchors) {
        let (from, to) = (places[e.from], places[e.to]);
        let route = if to.band == from.band && to.column == from.column + 1 {
            Route::Curve
        } else {
            let lane = in_gutter[to.band] % 3;
            in_gutter[to.band] += 1;
            Route::Around {
                gutter: band_top[to.band] - BAND_GAP / 2.0 + (lane as f64 - 1.0) * 10.0,
            }
        };
        let ids = (stages[e.from].stage, stages[e.to].stage);
        draw_edge(&mut out, e, ids, ends, route);
    }
    for (i, s) in stages.iter().enumerate() {
        draw_stage(&mut out, report, s, &lines[i], places[i]);
    }
    draw_legend(&mut out, legend_top);
    out.push_str("</svg>\n");
    out
}

/// Where each edge leaves its source box (on its right side) and enters
/// its target (on its left), spread along the side so that arrows never
/// share an end; each side's arrows in the order of the other ends.
fn anchors(edges: &[Edge], places: &[Place]) -> Vec<((f64, f64), (f64, f64))> {
    let key = |p: &Place| (p.band, p.column, (p.y * 10.0) as i64);
    let spread = |ends: &mut Vec<(usize, usize)>, place: &Place| -> Vec<(usize, f64)> {
        ends.sort_by_key(|&(other, _)| key(&places[other]));
        let n = ends.len() as f64;
        ends.iter()
            .enumerate()
            .map(|(k, &(_, edge))| (edge, place.y + place.h * (k as f64 + 1.0) / (n + 1.0)))
            .collect()
    };
    let mut out_y = vec![0.0; edges.len()];
    let mut in_y = vec![0.0; edges.len()];
    for (i, place) in places.iter().enumerate() {
        let mut leaving: Vec<(usize, usize)> = edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.from == i)
            .map(|(k, e)| (e.to, k))
            .collect();
        for (edge, y) in spread(&mut leaving, place) {
            out_y[edge] = y;
        }
        let mut entering: Vec<(usize, usize)> = edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.to == i)
            .map(|(k, e)| (e.from, k))
            .collect();
        for (edge, y) in spread(&mut entering, place) {
            in_y[edge] = y;
        }
    }
    edges
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let (from, to) = (&places[e.from], &places[e.to]);
            ((from.x + BOX_W, out_y[k]), (to.x, in_y[k]))
        })
        .collect()
}

/// How an arrow gets from one box to another.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// To the next column of the same band: a curve through the gap.
    Curve,
    /// Anywhere else: right into the gap beside its box, up or down to
    /// the gutter at `gutter` (above the target's band, where no box is),
    /// along it, and down the gap left of the target.
    Around { gutter: f64 },
}

/// One arrow (the only element with class `dag-arrow`, or `dag-wait` for a
/// dashed one that carries no shuffle), its head and its label, from
/// `(sx, sy)` to `(tx, ty)`; `ids` are the two stages.
fn draw_edge(
    out: &mut String,
    e: &Edge,
    ids: (u32, u32),
    ((sx, sy), (tx, ty)): ((f64, f64), (f64, f64)),
    route: Route,
) {
    let (class, dash, label, tooltip) = match e.shuffle {
        Some(id) => (
            "dag-arrow",
            "",
            format!("shuffle {id}"),
            format!(
                "shuffle {id}: written by stage {}, read by stage {}",
                ids.0, ids.1
            ),
        ),
        None => (
            "dag-wait",
            r#" stroke-dasharray="5 3""#,
            String::new(),
            format!("stage {} waits for stage {}", ids.1, ids.0),
        ),
    };
    let end = tx - HEAD;
    let (path, (label_x, label_y)) = match route {
        Route::Curve => {
            let dx = ((tx - sx) / 2.0).max(30.0);
            let path = format!(
                "M{sx:.1} {sy:.1}C{:.1} {sy:.1} {:.1} {ty:.1} {end:.1} {ty:.1}",
                sx + dx,
                tx - dx
            );
            // Near the curve's middle, just above it.
            (path, ((sx + tx) / 2.0, (sy + ty) / 2.0 - 4.0))
        }
        Route::Around { gutter } => {
            let (out_x, in_x) = (sx + ELBOW, tx - ELBOW);
            let path =
                format!("M{sx:.1} {sy:.1}H{out_x:.1}V{gutter:.1}H{in_x:.1}V{ty:.1}H{end:.1}");
            (path, ((out_x + in_x) / 2.0, gutter - 3.0))
        }
    };
    let _ = writeln!(
        out,
        r#"<g class="{class}"><title>{}</title><path d="{path}" fill="none" stroke="{ARROW}" stroke-width="1.5"{dash}/><path d="M{tx:.1} {ty:.1}l{:.1} {:.1}v{HEAD:.1}z" fill="{ARROW}"/>"#,
        html_escape(&tooltip),
        -HEAD,
        -HEAD / 2.0
    );
    if !label.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{label_x:.1}" y="{label_y:.1}" text-anchor="middle" fill="{ARROW}">{label}</text>"#
        );
    }
    out.push_str("</g>\n");
}

/// One stage's box (the only element with class `dag-stage`): a header in
/// its state's colour with its number, tasks and state, then its
/// operators; it links to the stage's page.
fn draw_stage(out: &mut String, job: &JobReport, s: &StageReport, lines: &[String], p: Place) {
    let state = stage_state(job.state, s);
    let (fill, text) = state.colours();
    let tooltip = format!(
        "stage {}: {} ({}, {}/{} tasks)",
        s.stage,
        s.ops,
        state.as_str(),
        s.tasks_done,
        s.tasks_total
    );
    let _ = writeln!(
        out,
        r#"<g class="dag-stage"><a href="/jobs/{}/stages/{}"><title>{}</title>"#,
        job.id,
        s.stage,
        html_escape(&tooltip)
    );
    let _ = writeln!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="{BOX_W:.1}" height="{:.1}" rx="4" fill="white" stroke="{fill}" stroke-width="2"/>"#,
        p.x, p.y, p.h
    );
    let _ = writeln!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="{BOX_W:.1}" height="{HEADER_H:.1}" rx="4" fill="{fill}"/>"#,
        p.x, p.y
    );
    // The stage's colour on the timeline, as a stripe down the body.
    let _ = writeln!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="{STRIPE:.1}" height="{:.1}" fill="{}"/>"#,
        p.x + 1.0,
        p.y + HEADER_H,
        p.h - HEADER_H - 1.0,
        stage_colour(s.stage)
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" fill="{text}" font-weight="bold">stage {}</text>"#,
        p.x + BOX_PAD,
        p.y + 14.0,
        s.stage
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" fill="{text}" text-anchor="end">{}/{} {}</text>"#,
        p.x + BOX_W - 6.0,
        p.y + 14.0,
        s.tasks_done,
        s.tasks_total,
        state.as_str()
    );
    for (k, line) in lines.iter().enumerate() {
        let failures = s.attempts_failed > 0 && k + 1 == lines.len();
        let colour = if failures { FAILURE_RED } else { DARK_TEXT };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
            p.x + STRIPE + BOX_PAD,
            p.y + HEADER_H + (k as f64 + 1.0) * LINE_H - 2.0,
            html_escape(line)
        );
    }
    out.push_str("</a></g>\n");
}

/// The text lines of a stage's box: its operators wrapped at ` > ` to
/// `LINE_CHARS`, at most `OPS_LINES` of them (the last cut short with `…`
/// if more were needed), then a line of failed attempts if any.
fn box_lines(s: &StageReport) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for (k, op) in s.ops.split(" > ").enumerate() {
        let op = shorten(op, LINE_CHARS);
        let joined = if k == 0 {
            op.clone()
        } else {
            format!("{current} > {op}")
        };
        if k == 0 || joined.chars().count() <= LINE_CHARS {
            current = joined;
        } else {
            lines.push(format!("{current} >"));
            current = op;
        }
    }
    lines.push(current);
    if lines.len() > OPS_LINES {
        lines.truncate(OPS_LINES);
        if let Some(last) = lines.last_mut() {
            *last = format!("{} \u{2026}", shorten(last, LINE_CHARS - 2));
        }
    }
    if s.attempts_failed > 0 {
        lines.push(format!(
            "{} failed attempt{}",
            s.attempts_failed,
            if s.attempts_failed == 1 { "" } else { "s" }
        ));
    }
    lines
}

/// `text` in at most `max` characters: cut, with `…` last, if longer.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('\u{2026}');
    cut
}

/// The legend: a swatch per state, and what the arrows are.
fn draw_legend(out: &mut String, top: f64) {
    let mut x = MARGIN;
    for state in StageState::ALL {
        let (fill, _) = state.colours();
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{top:.1}" width="{SWATCH:.1}" height="{SWATCH:.1}" fill="{fill}"/>"#
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + SWATCH + 5.0,
            top + SWATCH - 2.0,
            state.as_str().to_lowercase()
        );
        x += 90.0;
    }
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN:.1}" y="{:.1}">arrow: a shuffle, from the stage that writes it to each that reads it; dashed: waits for (a sort's sample)</text>"#,
        top + LEGEND_LINE + SWATCH - 2.0
    );
}

fn title_text(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
        html_escape(title)
    );
}

/// The `<svg>` start tag and a white background.
fn open_svg(out: &mut String, width: f64, height: f64) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::markup::well_formed;

    fn stage(id: u32, ops: &str, reads: &[u32], writes: &[u32], parents: &[u32]) -> StageReport {
        StageReport {
            stage: id,
            ops: ops.into(),
            tasks_total: 2,
            tasks_done: 2,
            attempts: 2,
            reads: reads.to_vec(),
            writes: writes.to_vec(),
            parents: parents.to_vec(),
            ..Default::default()
        }
    }

    fn job(stages: Vec<StageReport>) -> JobReport {
        JobReport {
            id: 5,
            file: "jobs/join.job".into(),
            state: JobState::Succeeded,
            stages,
            ..Default::default()
        }
    }

    /// `jobs/join.job`: two sides shuffled into one join.
    fn join() -> JobReport {
        job(vec![
            stage(0, "read_csv > map > shuffle 0", &[], &[0], &[]),
            stage(1, "read_csv > map > shuffle 1", &[], &[1], &[]),
            stage(2, "join > save", &[0, 1], &[], &[0, 1]),
        ])
    }

    /// A sort: the map side waits for its sample, then shuffles by range.
    fn sort() -> JobReport {
        job(vec![
            stage(0, "read_text > map > sample for shuffle 0", &[], &[], &[]),
            stage(1, "read_text > map > shuffle 0", &[], &[0], &[0]),
            stage(2, "sort_by_key > save", &[0], &[], &[1]),
        ])
    }

    /// A loop of `rounds` rounds, as transitive closure makes: each round
    /// reads the last round's cache and the edges (cached by stage 0), and
    /// caches its own.
    fn looped(rounds: u32) -> JobReport {
        let mut stages = vec![stage(0, "read_text > filter > map > cache", &[], &[0], &[])];
        for r in 1..=rounds {
            let ops = format!("round {r}: cache > union > distinct > cache > shuffle {r}");
            stages.push(stage(r, &ops, &[0, r - 1], &[r], &[0, r - 1]));
        }
        job(stages)
    }

    fn count(svg: &str, class: &str) -> usize {
        svg.matches(&format!("class=\"{class}\"")).count()
    }

    /// Every number in an attribute of the drawing, to check they are sane.
    fn numbers(svg: &str) -> Vec<f64> {
        svg.split('"')
            .filter_map(|v| v.parse::<f64>().ok())
            .collect()
    }

    #[test]
    fn a_join_is_three_boxes_and_two_arrows() {
        let svg = render(&join());
        well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "dag-stage"), 3, "{svg}");
        assert_eq!(count(&svg, "dag-arrow"), 2, "{svg}");
        assert_eq!(count(&svg, "dag-wait"), 0, "{svg}");
        assert!(svg.contains(">shuffle 0</text>") && svg.contains(">shuffle 1</text>"));
        assert!(svg.contains(r#"href="/jobs/5/stages/2""#));
        // Both sides in the first column, the join in the second.
        assert_eq!(depths(3, &edges(&join().stages)), vec![0, 0, 1]);
    }

    #[test]
    fn a_parent_without_a_shuffle_is_a_dashed_arrow() {
        let report = sort();
        let found = edges(&report.stages);
        assert_eq!(
            found,
            vec![
                Edge {
                    from: 0,
                    to: 1,
                    shuffle: None
                },
                Edge {
                    from: 1,
                    to: 2,
                    shuffle: Some(0)
                },
            ]
        );
        let svg = render(&report);
        well_formed(&svg).unwrap();
        assert_eq!((count(&svg, "dag-arrow"), count(&svg, "dag-wait")), (1, 1));
        assert_eq!(depths(3, &found), vec![0, 1, 2]);
    }

    #[test]
    fn one_arrow_per_writer_reader_and_shuffle() {
        // Stage 0 writes shuffles 0 and 1, both read by stage 1 and one by
        // stage 2; stage 3 reads a shuffle nobody writes.
        let report = job(vec![
            stage(0, "read_text > {shuffle 0, shuffle 1}", &[], &[0, 1], &[]),
            stage(1, "join > save", &[0, 1], &[], &[0]),
            stage(2, "reduce_by_key > save", &[1], &[], &[0]),
            stage(3, "cache > save", &[9], &[], &[7]),
        ]);
        let svg = render(&report);
        well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "dag-stage"), 4);
        assert_eq!(count(&svg, "dag-arrow"), 3, "{svg}");
        assert_eq!(count(&svg, "dag-wait"), 0, "{svg}");
    }

    #[test]
    fn forty_rounds_wrap_into_bands_and_stay_readable() {
        let report = looped(45);
        let svg = render(&report);
        well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "dag-stage"), 46);
        // Each round reads the edges and the previous round: one arrow
        // from stage 0 to round 1, two into every later round.
        assert_eq!(count(&svg, "dag-arrow"), 1 + 2 * 44);
        let width: f64 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        let widest = 2.0 * MARGIN + MAX_COLUMNS as f64 * (BOX_W + COL_GAP);
        assert!(width <= widest, "{width}");
        // Wrapped, not scaled: only the root and the title set a font size.
        assert_eq!(svg.matches("font-size=").count(), 2);
        assert!(numbers(&svg).iter().all(|n| n.is_finite() && *n >= 0.0));
    }

    #[test]
    fn text_is_escaped_and_long_chains_are_wrapped() {
        let mut nasty = stage(
            0,
            "read_text > filter(\"a&b<c\") > map > flat_map > map > map > map > map > \
             distinct > pipe('sed s/x/y/') > reduce_by_key > map > shuffle 0\u{1}",
            &[],
            &[0],
            &[],
        );
        nasty.attempts_failed = 3;
        let mut report = job(vec![nasty]);
        report.file = "jobs/<b>&.job".into();
        let svg = render(&report);
        well_formed(&svg).unwrap();
        assert!(svg.contains("jobs/&lt;b&gt;&amp;.job"), "{svg}");
        assert!(svg.contains("filter(&quot;a&amp;b&lt;c&quot;)"), "{svg}");
        assert!(!svg.contains("<b>"));
        let lines = box_lines(&report.stages[0]);
        assert_eq!(lines.len(), OPS_LINES + 1, "{lines:?}");
        assert!(lines[OPS_LINES - 1].ends_with('\u{2026}'), "{lines:?}");
        assert_eq!(lines[OPS_LINES], "3 failed attempts");
        for line in &lines {
            assert!(line.chars().count() <= LINE_CHARS + 2, "{line:?}");
        }
        assert_eq!(
            shorten("\u{e9}\u{e9}\u{e9}\u{e9}", 3),
            "\u{e9}\u{e9}\u{2026}"
        );
    }

    #[test]
    fn damaged_reports_still_draw() {
        let cycle = job(vec![
            stage(0, "a", &[1], &[0], &[1]),
            stage(1, "b", &[0], &[1], &[0]),
            stage(1, "again", &[1], &[1], &[1, 1, 99]),
        ]);
        let empty = job(Vec::new());
        let mut huge = stage(u32::MAX, "", &[u32::MAX], &[u32::MAX], &[u32::MAX]);
        huge.tasks_total = u32::MAX;
        for report in [cycle, empty, job(vec![huge])] {
            let svg = render(&report);
            well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
            assert_eq!(count(&svg, "dag-stage"), report.stages.len());
            assert!(numbers(&svg).iter().all(|n| n.is_finite()), "{svg}");
        }
        let two = job(vec![
            stage(0, "", &[1], &[0], &[]),
            stage(1, "", &[0], &[1], &[]),
        ]);
        let depth = depths(2, &edges(&two.stages));
        assert!(depth.iter().all(|&d| d <= 1), "{depth:?}");
    }

    #[test]
    fn boxes_are_coloured_by_state() {
        let mut s = stage(0, "x", &[], &[], &[]);
        assert_eq!(stage_state(JobState::Running, &s), StageState::Done);
        s.tasks_done = 1;
        assert_eq!(stage_state(JobState::Running, &s), StageState::Running);
        assert_eq!(stage_state(JobState::Failed, &s), StageState::Failed);
        assert_eq!(stage_state(JobState::Cancelled, &s), StageState::Failed);
        s.tasks_done = 0;
        s.attempts = 0;
        assert_eq!(stage_state(JobState::Running, &s), StageState::Pending);
        assert_eq!(stage_state(JobState::Failed, &s), StageState::Pending);
        let mut report = join();
        report.state = JobState::Failed;
        report.stages[2].tasks_done = 0;
        let svg = render(&report);
        assert!(svg.contains(&format!(r#"fill="{FAILURE_RED}""#)), "{svg}");
        assert!(svg.contains(&format!(r#"fill="{}""#, PALETTE[2])), "{svg}");
        assert!(svg.contains("0/2 FAILED"), "{svg}");
    }
}
