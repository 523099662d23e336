//! The aOMR staff finding of upstream's 'Miyao Staff Finding' (`heuristic_pitch_finding/
//! StaffFinding.py` with Miyao and Otsu binarization): staves found with the highest blackness
//! that finds any, two ledger lines added above and below each staff, lines interpolated to the
//! same columns, staves ordered, and the JSOMR `{"page": ..., "staves": [...]}` of them.

use super::{Staff, StaffFinder, average_y};
use crate::gamera::conversion::to_greyscale;
use crate::gamera::threshold::otsu_threshold;
use crate::gamera::{BLACK, Image, Plane, WHITE};
use crate::pyjson::Value;

/// Why no JSOMR could be made (upstream raises these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsomrError {
    /// Every blackness from 0.8 down to 0.3 found nothing (or failed).
    #[error("no staves found, even with blackness 0.3")]
    NoStaves,
    /// A staff has fewer than four lines, which upstream's ledger-line code indexes.
    #[error("a staff of {0} lines was found; staff finding needs at least 4 lines per staff")]
    TooFewLines(usize),
}

/// `_binarize_image` with Otsu: greyscale, Otsu threshold, inverted when more than 70 % black.
pub fn binarize(image: &Image) -> Result<Plane<u8>, crate::gamera::GameraError> {
    let grey = to_greyscale(image)?;
    let mut onebit = otsu_threshold(&grey);
    let area = (onebit.width() * onebit.height()) as f64;
    let black = onebit.pixels().iter().filter(|&&v| v != WHITE).count() as f64;
    if area > 0.0 && black / area > 0.7 {
        onebit = onebit.map(|v| if v == WHITE { BLACK } else { WHITE });
    }
    Ok(onebit)
}

/// `_find_staves`' search: Miyao with 20 scan lines and blackness 0.8, lowered by 0.05 while
/// nothing (at most four lines) is found or the finder fails, down to 0.3.
pub fn find_staves(finder: &StaffFinder, lines_per_staff: i64) -> Result<Vec<Staff>, JsomrError> {
    let mut blackness = 0.8f64;
    while blackness >= 0.3 {
        if let Ok(staves) = finder.find_staves_miyao(lines_per_staff, 20, blackness, -1) {
            let averages_ok = staves.iter().flatten().all(|l| average_y(l).is_some());
            let lines: usize = staves.iter().map(Vec::len).sum();
            if averages_ok && lines > 4 {
                return Ok(staves);
            }
        }
        blackness -= 0.05;
    }
    Err(JsomrError::NoStaves)
}

/// A point of `line_positions`: Python's `False` where interpolation left none.
type Slot = (Option<i64>, Option<i64>);

/// One staff as `StaffFinding.py` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffRecord {
    /// `[ulx, uly, lrx, lry]` of the staff's own lines.
    pub coords: [i64; 4],
    /// Number of the staff's own lines.
    pub num_lines: usize,
    /// Two ledger lines, the staff's lines, two ledger lines.
    pub line_positions: Vec<Vec<Slot>>,
    /// Position after ordering, from 1.
    pub staff_no: usize,
}

/// Python 3's `int(round(v))`: halves to even.
fn py_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// The records of `staves`, with imaginary ledger lines (two staff spaces above the top line and
/// four, measured at the staff's left end; the same below the bottom line).
pub fn records(staves: &[Staff]) -> Result<Vec<StaffRecord>, JsomrError> {
    let mut out = Vec::new();
    for (i, staff) in staves.iter().enumerate() {
        if staff.len() < 4 {
            return Err(JsomrError::TooFewLines(staff.len()));
        }
        let pts = staff.iter().flatten();
        let coords = [
            pts.clone().map(|p| p.x).min().unwrap_or(0),
            pts.clone().map(|p| p.y).min().unwrap_or(0),
            pts.clone().map(|p| p.x).max().unwrap_or(0),
            pts.map(|p| p.y).max().unwrap_or(0),
        ];
        let mut lines: Vec<Vec<Slot>> = staff
            .iter()
            .map(|l| l.iter().map(|p| (Some(p.x), Some(p.y))).collect())
            .collect();
        let start_y = |l: usize| staff[l].first().map_or(0, |p| p.y);
        // Upstream subtracts the second line's end from itself, so only the start counts.
        let top = py_round((start_y(1) - start_y(0)) as f64 * 0.5);
        let n = staff.len();
        let bottom = py_round((start_y(n - 1) - start_y(n - 2)) as f64 * 0.5);
        let shifted = |l: usize, dy: i64| -> Vec<Slot> {
            staff[l]
                .iter()
                .map(|p| (Some(p.x), Some(p.y + dy)))
                .collect()
        };
        lines.insert(0, shifted(0, -top * 2));
        lines.insert(0, shifted(0, -top * 4));
        lines.push(shifted(n - 1, bottom * 2));
        lines.push(shifted(n - 1, bottom * 4));
        out.push(StaffRecord {
            coords,
            num_lines: n,
            line_positions: lines,
            staff_no: i + 1,
        });
    }
    Ok(out)
}

/// Python truthiness of a slot's column (`False` and 0 are missing).
fn present(s: &Slot) -> bool {
    matches!(s.0, Some(x) if x != 0)
}

/// `_interpolate_staff_locations`: every line gets a point at every column any line of the staff
/// has; missing points copy the row of the nearest point on the side that has one, or are
/// interpolated linearly (truncated) between the points around them.
pub fn interpolate(record: &mut StaffRecord) {
    let mut reference: Vec<i64> = Vec::new();
    for line in &record.line_positions {
        for pt in line {
            let x = pt.0.unwrap_or(0);
            if reference.is_empty() {
                reference.push(x);
                continue;
            }
            if reference.contains(&x) {
                continue;
            }
            match reference.iter().position(|&r| x < r) {
                Some(i) => reference.insert(i, x),
                None => reference.push(x),
            }
        }
    }
    let mut new_set = Vec::new();
    for line in &record.line_positions {
        let mut new: Vec<Slot> = vec![(None, None); reference.len()];
        let mut nudge = 0usize;
        for (k, &rx) in reference.iter().enumerate() {
            match line.get(k - nudge) {
                Some(&p) if p.0.unwrap_or(0) == rx => new[k] = p,
                _ => nudge += 1,
            }
        }
        for k in 0..new.len() {
            if present(&new[k]) {
                continue;
            }
            // `_find_left_pt` gives k - 1, which Python takes as missing when it is 0.
            let left = (k >= 2).then(|| k - 1);
            let right = (k + 1..new.len()).find(|&i| present(&new[i]));
            match (left, right) {
                (None, r) => new[k] = (Some(reference[k]), new[r.unwrap_or(0)].1),
                (Some(l), None) => new[k] = (Some(reference[k]), new[l].1),
                (Some(_), Some(_)) => {
                    if let Some(l) = (k + 1..new.len()).find(|&i| present(&new[i])) {
                        let lower = new[k - 1].1.unwrap_or(0);
                        let upper = new[l].1.unwrap_or(0);
                        let dif = (upper - lower) as f64;
                        let den = (l - k) as f64 + 1.0;
                        for m in 0..l - k {
                            let num = (m + 1) as f64;
                            let calc = lower as f64 + dif * (num / den);
                            new[k + m] = (Some(reference[k + m]), Some(calc as i64));
                        }
                    }
                }
            }
        }
        new_set.push(new);
    }
    record.line_positions = new_set;
}

/// `_y_intersecting_coords`.
fn y_intersecting(coords: &[i64; 4], ymin: i64, ymax: i64) -> bool {
    let lo = ymin.min(ymax);
    let hi = lo.max(ymax);
    !((coords[1] > lo && coords[1] > hi) || (coords[3] < lo && coords[3] < hi))
}

/// Python's `list.insert(index, x)` for an index of -1 or more.
fn py_insert<T>(v: &mut Vec<T>, index: i64, x: T) {
    let i = if index < 0 {
        (v.len() as i64 + index).max(0) as usize
    } else {
        (index as usize).min(v.len())
    };
    v.insert(i, x);
}

/// `_reorder_staves_LTR_TTB`: staves overlapping vertically form a row ordered left to right,
/// rows top to bottom (with upstream's placement of `-1` meaning "before the last"), numbered
/// from 1.
pub fn reorder(staves: Vec<StaffRecord>) -> Vec<StaffRecord> {
    let mut ordered: Vec<Vec<StaffRecord>> = Vec::new();
    for st in staves {
        if ordered.is_empty() {
            ordered.push(vec![st]);
            continue;
        }
        let mut col_placement = -1i64;
        let mut y_intersects = false;
        let mut placed: Option<(usize, i64)> = None;
        for (j, group) in ordered.iter().enumerate() {
            y_intersects = false;
            let mut row_placement = -1i64;
            for (k, st2) in group.iter().enumerate() {
                if y_intersecting(&st.coords, st2.coords[1], st2.coords[3]) {
                    y_intersects = true;
                    if st.coords[0] > st2.coords[0] {
                        row_placement = k as i64 + 1;
                    }
                }
            }
            if y_intersects {
                placed = Some((j, row_placement));
                break;
            } else if group
                .iter()
                .map(|s| s.coords[1])
                .max()
                .is_some_and(|m| st.coords[1] > m)
            {
                col_placement = j as i64 + 1;
            }
        }
        match placed {
            Some((j, row)) => py_insert(&mut ordered[j], row, st),
            None if !y_intersects => py_insert(&mut ordered, col_placement, vec![st]),
            None => {}
        }
    }
    let mut out: Vec<StaffRecord> = ordered.into_iter().flatten().collect();
    for (i, st) in out.iter_mut().enumerate() {
        st.staff_no = i + 1;
    }
    out
}

fn slot_value(v: Option<i64>) -> Value {
    v.map_or(Value::Bool(false), Value::Int)
}

/// The JSOMR upstream writes: `{"page": {"resolution", "bounding_box"}, "staves": [...]}`.
pub fn to_json(resolution: f64, ncols: usize, nrows: usize, staves: &[StaffRecord]) -> Value {
    let bbox = |ncols: i64, nrows: i64, ulx: i64, uly: i64| {
        Value::dict([
            ("ncols", Value::Int(ncols)),
            ("nrows", Value::Int(nrows)),
            ("ulx", Value::Int(ulx)),
            ("uly", Value::Int(uly)),
        ])
    };
    let page = Value::dict([
        ("resolution", Value::Float(resolution)),
        ("bounding_box", bbox(ncols as i64, nrows as i64, 0, 0)),
    ]);
    let staves = staves
        .iter()
        .map(|s| {
            let [ulx, uly, lrx, lry] = s.coords;
            let lines = s
                .line_positions
                .iter()
                .map(|l| {
                    Value::List(
                        l.iter()
                            .map(|&(x, y)| Value::List(vec![slot_value(x), slot_value(y)]))
                            .collect(),
                    )
                })
                .collect();
            Value::dict([
                ("staff_no", Value::Int(s.staff_no as i64)),
                ("bounding_box", bbox(lrx - ulx, lry - uly, ulx, uly)),
                ("num_lines", Value::Int(s.num_lines as i64)),
                ("line_positions", Value::List(lines)),
            ])
        })
        .collect();
    Value::dict([("page", page), ("staves", Value::List(staves))])
}

/// Upstream's whole staff finding on the ONEBIT page (the image itself, or [`binarize`]d):
/// Miyao with `lines_per_staff`, ledger lines, optional interpolation, ordering.
pub fn staff_records(
    onebit: &Plane<u8>,
    lines_per_staff: i64,
    interpolation: bool,
) -> Result<Vec<StaffRecord>, JsomrError> {
    let finder = StaffFinder::new(onebit);
    let staves = find_staves(&finder, lines_per_staff)?;
    let mut recs = records(&staves)?;
    if interpolation {
        recs.iter_mut().for_each(interpolate);
    }
    Ok(reorder(recs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::musicstaves::Point;

    fn line(y: i64, xs: &[i64]) -> Vec<Point> {
        xs.iter().map(|&x| Point { x, y }).collect()
    }

    fn record(coords: [i64; 4]) -> StaffRecord {
        StaffRecord {
            coords,
            num_lines: 4,
            line_positions: vec![],
            staff_no: 0,
        }
    }

    #[test]
    fn ledger_lines_take_half_the_first_gap_rounded_to_even_twice_and_four_times() {
        // Gaps at the left end: 21 (top) → round(10.5) = 10; 23 (bottom) → round(11.5) = 12.
        let staff = vec![
            line(100, &[10, 50]),
            line(121, &[10, 50]),
            line(142, &[10, 50]),
            line(165, &[10, 50]),
        ];
        let recs = records(&[staff]).expect("four lines");
        let ys: Vec<Option<i64>> = recs[0].line_positions.iter().map(|l| l[0].1).collect();
        let want = [60, 80, 100, 121, 142, 165, 189, 213];
        assert_eq!(ys, want.iter().map(|&y| Some(y)).collect::<Vec<_>>());
        assert_eq!(recs[0].coords, [10, 100, 50, 165]);
        assert_eq!(
            records(&[vec![line(1, &[1]); 3]]),
            Err(JsomrError::TooFewLines(3))
        );
    }

    #[test]
    fn interpolation_fills_every_column_of_the_staff() {
        let s = |x, y| (Some(x), Some(y));
        let mut rec = record([0, 0, 0, 0]);
        rec.line_positions = vec![
            vec![s(10, 100), s(20, 100), s(30, 100), s(40, 100), s(50, 100)],
            vec![s(10, 200), s(20, 200), s(60, 208)],
            vec![s(10, 300), s(30, 310), s(40, 310), s(50, 310), s(60, 310)],
        ];
        interpolate(&mut rec);
        assert_eq!(
            rec.line_positions,
            vec![
                // 60 is missing at the right end: the row of the point before.
                vec![
                    s(10, 100),
                    s(20, 100),
                    s(30, 100),
                    s(40, 100),
                    s(50, 100),
                    s(60, 100)
                ],
                // 30, 40, 50 lie between 200 and 208: a quarter, a half, three quarters.
                vec![
                    s(10, 200),
                    s(20, 200),
                    s(30, 202),
                    s(40, 204),
                    s(50, 206),
                    s(60, 208)
                ],
                // 20 is the second column: upstream's left neighbour index 0 reads as "none",
                // so it takes the row of the next point to the right.
                vec![
                    s(10, 300),
                    s(20, 310),
                    s(30, 310),
                    s(40, 310),
                    s(50, 310),
                    s(60, 310)
                ],
            ]
        );
    }

    #[test]
    fn staves_side_by_side_form_a_row_and_rows_go_top_to_bottom() {
        let recs = vec![
            record([500, 100, 900, 200]),
            record([0, 110, 400, 210]),
            record([0, 400, 900, 500]),
        ];
        let order: Vec<[i64; 4]> = reorder(recs).iter().map(|r| r.coords).collect();
        assert_eq!(
            order,
            vec![[0, 110, 400, 210], [500, 100, 900, 200], [0, 400, 900, 500]]
        );
    }

    #[test]
    fn a_mostly_black_image_is_inverted_after_otsu() {
        let mut g = Plane::new(10, 10, 0u8);
        g.set(0, 0, 255);
        let onebit = binarize(&Image::GreyScale(g)).expect("10x10");
        // Otsu makes 99 of 100 pixels black; more than 70 % → inverted.
        assert_eq!(onebit.get(0, 0), BLACK);
        assert_eq!(onebit.get(5, 5), WHITE);
    }
}
