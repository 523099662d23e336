//! Heuristic pitch finding (upstream `heuristic_pitch_finding/PitchFinding.py`, `PitchFinder`):
//! each classified glyph is given the staff it lies on, its position on that staff (lines and
//! spaces counted from the second ledger line above), and, for neumes and custodes, the note and
//! octave the last clef before it gives.
//!
//! Upstream's numbers are kept exactly: Python's true division, `int()` truncation, `floor`,
//! Gamera's subimage coordinates (floats truncated), the stable sort on (staff, left column) and
//! the glyphs' class names as `glyphs_from_xml` orders them (ascending confidence). Two upstream
//! crashes are fixed, not copied:
//! - a glyph of a class `division.*` (pitchless: no staff) sorts before the others, as Python 2
//!   ordered `None`, where Python 3 raises `TypeError` on comparing it;
//! - a bottom-left-head neume (`neume.podatus2b`, ...) less than one average punctum plus one
//!   row high gets its note head from its own top, where Gamera raises "Image view dimensions out
//!   of range" for a view starting above the glyph.

use crate::gamera::image_utilities::{Placed, union_images};
use crate::gamera::projections::projection_rows;
use crate::gamera::segmentation::splitx;
use crate::gamera::xml::{Glyph, State};
use crate::job::JobError;
use crate::pyjson::{Value, float_repr};

/// The note names from the clef's letter up (`SCALE`).
const SCALE: [&str; 7] = ["c", "d", "e", "f", "g", "a", "b"];
/// Glyph types that have no staff.
const STAFFLESS: &[&str] = &["skip"];
/// Glyph types that have a staff but no pitch.
const PITCHLESS: &[&str] = &["division"];
/// Neumes whose lower-left note head gives the position.
const BOTTOM_LEFTS: &[&str] = &[
    "neume.podatus2b",
    "neume.podatus3",
    "neume.podatus4",
    "neume.podatus5",
    "neume.scandicus22b",
];
/// A space holds the glyph when its centre is within this middle fraction between two lines.
const SPACE_PROPORTION: f64 = 0.5;
/// A glyph belongs to a staff whose rows, widened by this many average punctums, it overlaps.
const STAFF_MARGIN: f64 = 2.0;
/// The width of the part of a glyph whose centre of mass places it, in average punctums.
const SUBIMAGE_WIDTH_FACTOR: f64 = 0.8;
/// Upstream's `always_find_staff_no`: off, so a glyph far from every staff is dropped.
const ALWAYS_FIND_STAFF_NO: bool = false;
/// Upstream's `transpose` (shift of every position, in steps).
const TRANSPOSE: i64 = 0;

/// One staff of the staff-finding JSOMR.
#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    /// `staff_no`, as its JSON number.
    pub number: StaffNo,
    /// `bounding_box` as (left, top, right, bottom): `ulx`, `uly`, `ulx + ncols`, `uly + nrows`.
    pub coords: [f64; 4],
    /// `line_positions`: each line's `[x, y]` points, top line first.
    pub lines: Vec<Vec<(f64, f64)>>,
}

/// A staff number: Python's `int` or `float` from the JSON, written with `str()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaffNo {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl StaffNo {
    fn value(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    fn py_str(self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) => float_repr(f),
        }
    }
}

fn bad(summary: impl Into<String>, details: impl Into<String>) -> JobError {
    JobError::bad_input(summary, details)
}

fn not_jsomr(details: impl Into<String>) -> JobError {
    bad(
        "the staves input is not a staff-finding JSOMR",
        format!(
            "Heuristic Pitch Finding reads the JSOMR of 'Miyao Staff Finding' ({{\"page\": ..., \
             \"staves\": [{{\"staff_no\", \"bounding_box\", \"line_positions\"}}, ...]}}): {}",
            details.into()
        ),
    )
}

fn num(v: Option<&Value>, what: &str) -> Result<f64, JobError> {
    v.and_then(Value::as_f64)
        .ok_or_else(|| not_jsomr(format!("{what} is not a number")))
}

/// The staves of a JSOMR's `staves` list.
pub fn parse_staves(staves: &Value) -> Result<Vec<Staff>, JobError> {
    let list = staves
        .as_list()
        .ok_or_else(|| not_jsomr("'staves' is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, st)| {
            let what = |k: &str| format!("staff {i}'s '{k}'");
            let number = match st.get("staff_no") {
                Some(&Value::Int(n)) => StaffNo::Int(n),
                Some(&Value::Float(f)) => StaffNo::Float(f),
                _ => return Err(not_jsomr(format!("{} is not a number", what("staff_no")))),
            };
            let bb = st
                .get("bounding_box")
                .ok_or_else(|| not_jsomr(format!("staff {i} has no 'bounding_box'")))?;
            let (ulx, uly) = (
                num(bb.get("ulx"), &what("bounding_box.ulx"))?,
                num(bb.get("uly"), &what("bounding_box.uly"))?,
            );
            let coords = [
                ulx,
                uly,
                ulx + num(bb.get("ncols"), &what("bounding_box.ncols"))?,
                uly + num(bb.get("nrows"), &what("bounding_box.nrows"))?,
            ];
            let lines = st
                .get("line_positions")
                .and_then(Value::as_list)
                .ok_or_else(|| not_jsomr(format!("{} is not a list", what("line_positions"))))?
                .iter()
                .map(|line| {
                    line.as_list()
                        .ok_or_else(|| not_jsomr(format!("a line of staff {i} is not a list")))?
                        .iter()
                        .map(|pt| match pt.as_list() {
                            Some([x, y]) => match (x.as_f64(), y.as_f64()) {
                                (Some(x), Some(y)) => Ok((x, y)),
                                _ => Err(not_jsomr(format!("a point of staff {i} is not numbers"))),
                            },
                            _ => Err(not_jsomr(format!("a point of staff {i} is not [x, y]"))),
                        })
                        .collect()
                })
                .collect::<Result<_, _>>()?;
            Ok(Staff {
                number,
                coords,
                lines,
            })
        })
        .collect()
}

/// A glyph as the pitch finder sees it: its pixels on the page and its main class name.
#[derive(Debug)]
struct Input<'a> {
    glyph: &'a Glyph,
    /// `get_main_id()`: the first of `id_name` after `glyphs_from_xml` sorted it.
    id: &'a str,
}

impl Input<'_> {
    fn kind(&self) -> &str {
        self.id.split('.').next().unwrap_or_default()
    }

    fn placed(&self) -> Placed {
        Placed::new(self.glyph.ul_x, self.glyph.ul_y, self.glyph.image.clone())
    }
}

/// The class name `get_main_id()` gives for a glyph read by `glyphs_from_xml`, whose sorted
/// `id_name` puts the least confident name first (as [`crate::gamera::xml::parse`] reads it);
/// `None` for an unclassified glyph (Gamera's `'UNCLASSIFIED'` string, on which upstream's
/// `.decode()` fails).
pub fn main_id(glyph: &Glyph) -> Option<&str> {
    if glyph.state == State::Unclassified {
        return None;
    }
    glyph.ids.first().map(|(name, _)| name.as_str())
}

/// One glyph's result: `[glyph, staff, offset, strt_pos, note, octave, clef_pos, clef]`.
#[derive(Debug)]
struct Found<'a> {
    input: &'a Input<'a>,
    staff: Option<StaffNo>,
    strt_pos: Option<i64>,
    pitch: Option<(&'static str, i64, i64, String)>,
}

/// The pitch finder with its setting, `discard_size`: glyphs of at most this many rows or
/// columns are placed by their top row.
#[derive(Debug, Clone, Copy)]
pub struct PitchFinder {
    discard_size: i64,
}

impl PitchFinder {
    /// A finder discarding glyphs of at most `discard_size` rows or columns.
    pub fn new(discard_size: i64) -> Self {
        Self { discard_size }
    }

    /// `get_pitches(glyphs, staves)`: the `glyphs` list of the output JSOMR, sorted by staff and
    /// left column, for every glyph that is not a skip and lies on or near a staff.
    pub fn get_pitches(&self, glyphs: &[Glyph], staves: &[Staff]) -> Result<Value, JobError> {
        let mut inputs = Vec::with_capacity(glyphs.len());
        for (i, g) in glyphs.iter().enumerate() {
            let id = main_id(g).ok_or_else(|| {
                bad(
                    "a glyph is not classified",
                    format!(
                        "glyph {i} at ({}, {}) has no class name; Heuristic Pitch Finding needs \
                         classified glyphs",
                        g.ul_x, g.ul_y
                    ),
                )
            })?;
            if id != "skip" {
                inputs.push(Input { glyph: g, id });
            }
        }
        let avg_punctum = average_punctum(&inputs);
        let mut found = Vec::new();
        for input in &inputs {
            let com = self.x_projection_vector(input, avg_punctum)?;
            let Some(staff) = staff_of(input, com, staves, avg_punctum) else {
                continue;
            };
            if PITCHLESS.contains(&input.kind()) {
                found.push(Found {
                    input,
                    staff: None,
                    strt_pos: None,
                    pitch: None,
                });
            } else {
                let (line_or_space, line_num) = line_or_space_no(input, com, &staff.lines)?;
                found.push(Found {
                    input,
                    staff: Some(staff.number),
                    strt_pos: Some(line_num * 2 + line_or_space + 1 - TRANSPOSE),
                    pitch: None,
                });
            }
        }
        let sorted = sort_glyphs(found)?;
        Ok(Value::List(sorted.iter().map(glyph_json).collect()))
    }

    /// `_x_projection_vector`: the row (from the glyph's top) of the centre of mass of the
    /// glyph's leftmost punctum-wide part, as a float; F clefs use their right part.
    fn x_projection_vector(&self, input: &Input<'_>, avg_punctum: f64) -> Result<f64, JobError> {
        let (g, id, mut y_add) = if input.id.contains("clef.f") {
            let (g, y_add) = f_clef_part(input)?;
            // The part is a new image: Gamera's get_main_id() of it is 'UNCLASSIFIED'.
            (g, "UNCLASSIFIED", y_add)
        } else {
            (input.placed(), input.id, 0.0)
        };
        let (ncols, nrows) = (g.ncols() as f64, g.nrows() as f64);
        let mut com = 0.0;
        if g.ncols() as i64 > self.discard_size && g.nrows() as i64 > self.discard_size {
            let cols = if ncols < avg_punctum {
                ncols
            } else {
                avg_punctum * SUBIMAGE_WIDTH_FACTOR
            };
            let rows = if nrows < avg_punctum {
                nrows
            } else {
                avg_punctum
            };
            let (sub, add) = get_subimage(&g, id, cols, rows)?;
            y_add = add;
            com = center_of_mass(&projection_rows(&sub.image));
        }
        Ok(com + y_add)
    }
}

/// `_average_punctum`: the mean width of the punctums and virgas (0 without any).
fn average_punctum(inputs: &[Input<'_>]) -> f64 {
    let widths: Vec<usize> = inputs
        .iter()
        .filter(|i| i.id == "neume.punctum" || i.id == "neume.virga")
        .map(|i| i.glyph.ncols())
        .collect();
    if widths.is_empty() {
        0.0
    } else {
        widths.iter().sum::<usize>() as f64 / widths.len() as f64
    }
}

/// Gamera's truncation of a float coordinate (`PyNumber_Long`).
fn coord(v: f64) -> i64 {
    v.trunc() as i64
}

/// `get_subimage`: the part of `g` that places it (its lower-left head for the bottom-left
/// neumes, its head for a virga, else its leftmost `cols` columns), and the part's row offset
/// from the glyph's top as upstream counts it.
fn get_subimage(g: &Placed, id: &str, cols: f64, rows: f64) -> Result<(Placed, f64), JobError> {
    let (ox, oy) = (g.ul_x as i64, g.ul_y as i64);
    let (nc, nr) = (g.ncols() as i64, g.nrows() as i64);
    let x0 = coord(ox as f64 + 0.0 * cols);
    let x1 = coord((ox as f64 + 1.0 * cols) - 1.0);
    let (y0, y1, y_add) = if BOTTOM_LEFTS.contains(&id) {
        let y0 = coord((oy + nr - 1) as f64 - rows);
        let y_add = (nr - 1) as f64 - rows;
        if y0 < oy {
            // Upstream's view would start above the glyph (Gamera raises); use its top.
            (oy, oy + nr - 1, 0.0)
        } else {
            (y0, oy + nr - 1, y_add)
        }
    } else if id == "neume.virga" {
        (oy, coord((oy as f64 + 1.0 * rows) - 1.0), 0.0)
    } else {
        (oy, oy + nr - 1, 0.0)
    };
    let sub = g.subimage(x0, y0, x1, y1).ok_or_else(|| {
        bad(
            "a glyph's placing part lies outside it",
            format!(
                "the part ({x0}, {y0})-({x1}, {y1}) of the {nc}×{nr} glyph at ({ox}, {oy}) is \
                 out of its range"
            ),
        )
    })?;
    Ok((sub, y_add))
}

/// `_center_of_mass` of a projection: the mean of the 1-based indices weighted by the values,
/// 0 for an empty projection.
fn center_of_mass(projection: &[usize]) -> f64 {
    let (mut s, mut v) = (0.0, 0.0);
    for (i, &value) in projection.iter().enumerate() {
        s += ((i + 1) * value) as f64;
        v += value as f64;
    }
    if v == 0.0 { 0.0 } else { s / v }
}

/// `_vector_process_f_clef`: of the components of the F clef split at its middle, the
/// rightmost (joined with those that overlap it in columns), and its top's offset from the
/// glyph's top.
fn f_clef_part(input: &Input<'_>) -> Result<(Placed, f64), JobError> {
    let glyph = input.glyph;
    let pieces = splitx(&glyph.image, &[0.5])?;
    let mut g: Option<Placed> = None;
    for piece in pieces {
        let gl = Placed::new(
            glyph.ul_x + piece.ul_x,
            glyph.ul_y + piece.ul_y,
            piece.image,
        );
        let Some(cur) = g.take() else {
            g = Some(gl);
            continue;
        };
        let (cur_left, cur_right) = (cur.ul_x as i64, (cur.ul_x + cur.ncols()) as i64);
        let (gl_left, gl_right) = (gl.ul_x as i64, (gl.ul_x + gl.ncols()) as i64);
        g = Some(if gl_right < cur_left {
            cur
        } else if x_intersecting(gl_left, gl_right, cur_left, cur_right, 0) {
            union_images(&[&cur, &gl]).unwrap_or(cur)
        } else if gl_left >= cur_right {
            gl
        } else {
            cur
        });
    }
    let g = g.ok_or_else(|| {
        bad(
            "an F clef has no black pixels",
            format!(
                "the clef.f glyph at ({}, {}) has no black pixels to place it by",
                glyph.ul_x, glyph.ul_y
            ),
        )
    })?;
    let y_add = g.ul_y as f64 - glyph.ul_y as f64;
    Ok((g, y_add))
}

/// `_x_intersecting_coords`: whether columns `left..right` meet `xstart..xend` widened by
/// `margin`.
fn x_intersecting(left: i64, right: i64, xstart: i64, xend: i64, margin: i64) -> bool {
    let (xmin, xmax) = (xstart.min(xend), xstart.max(xend));
    !(left > xmin - margin && left > xmax + margin
        || right < xmin - margin && right < xmax + margin)
}

/// `_y_intersecting_coords`: whether rows `top..bottom` meet `ystart..yend` widened by `margin`.
fn y_intersecting(top: f64, bottom: f64, ystart: f64, yend: f64, margin: f64) -> bool {
    let (ymin, ymax) = (ystart.min(yend), ystart.max(yend));
    !(top > ymin - margin && top > ymax + margin
        || bottom < ymin - margin && bottom < ymax + margin)
}

/// `_coord_intersect_area` of two (left, top, right, bottom) rectangles.
fn intersect_area(a: [f64; 4], b: [f64; 4]) -> f64 {
    let (l, t) = (a[0].max(b[0]), a[1].max(b[1]));
    let (r, bo) = (a[2].min(b[2]), a[3].min(b[3]));
    if l < r && t < bo {
        (r - l) * (bo - t)
    } else {
        0.0
    }
}

/// `_get_staff_no`: the staff the glyph overlaps most (the first of equal ones), else the staff
/// whose rows widened by two average punctums hold it and whose left or right edge is nearest
/// its right edge; `None` for a skip or a glyph away from every staff.
fn staff_of<'s>(
    input: &Input<'_>,
    com: f64,
    staves: &'s [Staff],
    avg_punctum: f64,
) -> Option<&'s Staff> {
    if STAFFLESS.contains(&input.kind()) {
        return None;
    }
    let g = input.glyph;
    let coords = [
        g.ul_x as f64,
        g.ul_y as f64,
        (g.ul_x + g.ncols()) as f64,
        (g.ul_y + g.nrows()) as f64,
    ];
    let margin = (STAFF_MARGIN * avg_punctum).trunc();
    let mut max_intersection = 0.0;
    let mut intersecting = None;
    let mut y_bound = Vec::new();
    for st in staves {
        let amount = intersect_area(coords, st.coords);
        if amount > max_intersection {
            max_intersection = amount;
            intersecting = Some(st);
        }
        if y_intersecting(coords[1], coords[3], st.coords[1], st.coords[3], margin) {
            y_bound.push(st);
        }
    }
    if intersecting.is_some() {
        intersecting
    } else if !y_bound.is_empty() {
        closest_y_staff(coords[2], &y_bound)
    } else if ALWAYS_FIND_STAFF_NO {
        closest_staff((coords[0], coords[1] + com), staves)
    } else {
        None
    }
}

/// `_find_closest_y_staff_no`: the staff whose left or right edge is nearest column `x` (the
/// first of equal ones).
fn closest_y_staff<'s>(x: f64, staves: &[&'s Staff]) -> Option<&'s Staff> {
    let mut closest: Option<(f64, &Staff)> = None;
    for st in staves {
        let d = (x - st.coords[0]).abs().min((x - st.coords[2]).abs());
        if closest.is_none_or(|(best, _)| best > d) {
            closest = Some((d, st));
        }
    }
    closest.map(|(_, st)| st)
}

/// `_find_closest_staff_no`: the staff whose bounding box's edges come nearest `point`.
fn closest_staff(point: (f64, f64), staves: &[Staff]) -> Option<&Staff> {
    let mut closest: Option<(f64, &Staff)> = None;
    for st in staves {
        let [l, t, r, b] = st.coords;
        let d = [
            distance_to_segment((l, t), (r, t), point),
            distance_to_segment((r, t), (r, b), point),
            distance_to_segment((r, b), (l, b), point),
            distance_to_segment((l, b), (l, t), point),
        ]
        .into_iter()
        .fold(f64::INFINITY, f64::min);
        if closest.is_none_or(|(best, _)| best > d) {
            closest = Some((d, st));
        }
    }
    closest.map(|(_, st)| st)
}

/// `_find_distance_between_line_and_point`: the distance from `p` to the horizontal or vertical
/// segment `a`-`b`: perpendicular when `p` is strictly within its span, else to the nearer end.
pub fn distance_to_segment(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> f64 {
    let vertical = a.0 == b.0;
    let perpendicular = if vertical {
        p.1 < a.1.max(b.1) && p.1 > a.1.min(b.1)
    } else {
        p.0 < a.0.max(b.0) && p.0 > a.0.min(b.0)
    };
    if !perpendicular {
        distance(p, a).min(distance(p, b))
    } else if vertical {
        (p.0 - a.0).abs()
    } else {
        (p.1 - a.1).abs()
    }
}

/// `_find_distance_between_points`: `(dx² + dy²) ** 0.5`.
pub fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).powf(0.5)
}

/// `_gen_line_func`: the line through two points, or the flat line through one.
fn line_at(left: (f64, f64), right: Option<(f64, f64)>, x: f64) -> Result<f64, JobError> {
    match right {
        Some(right) => {
            let dx = right.0 - left.0;
            if dx == 0.0 {
                return Err(bad(
                    "two staff line points share a column",
                    format!(
                        "the staff line points ({}, {}) and ({}, {}) have the same x, so no line \
                         runs through them (upstream divides by zero)",
                        left.0, left.1, right.0, right.1
                    ),
                ));
            }
            let m = (right.1 - left.1) / dx;
            Ok(m * (x - left.0) + left.1)
        }
        None => Ok(left.1),
    }
}

fn uneven_lines() -> JobError {
    bad(
        "the staff's lines have different numbers of points",
        "pitch finding compares the lines of a staff point by point, so every line needs as many \
         points as the top one ('Miyao Staff Finding' with 'Interpolation' on gives that)",
    )
}

/// `_return_line_or_space_no`: (1 for a space or 0 for a line, its number from the top line)
/// of the glyph's centre of mass (`com` rows below its top) at its left column, between the
/// staff lines interpolated there. Clefs snap to lines.
fn line_or_space_no(
    input: &Input<'_>,
    com: f64,
    lines: &[Vec<(f64, f64)>],
) -> Result<(i64, i64), JobError> {
    let g = input.glyph;
    let ref_x = g.ul_x as f64;
    let ref_y = (g.ul_y as f64 + com).trunc();
    let line_snap = input.kind().contains("clef");
    let first = lines.first().ok_or_else(|| {
        bad(
            "a staff has no lines",
            "the staff a glyph lies on has an empty 'line_positions'",
        )
    })?;
    let mut line_pos: Option<(usize, Option<usize>)> = None;
    for (i, p) in first.iter().enumerate() {
        if p.0 > ref_x {
            line_pos = Some(if i == 0 { (0, None) } else { (i - 1, Some(i)) });
            break;
        } else if i == first.len() - 1 {
            line_pos = Some((i, None));
        }
    }
    for (i, pair) in lines.windows(2).enumerate() {
        let (above, below) = (&pair[0], &pair[1]);
        let (left, right) = line_pos.ok_or_else(|| {
            bad(
                "a staff line has no points",
                "the top line of the staff a glyph lies on has no points",
            )
        })?;
        let point = |line: &[(f64, f64)], k: usize| line.get(k).copied().ok_or_else(uneven_lines);
        let (pa_left, pb_left) = (point(above, left)?, point(below, left)?);
        let (pa_right, pb_right) = match right {
            Some(r) => (Some(point(above, r)?), Some(point(below, r)?)),
            None => (None, None),
        };
        let y_above = line_at(pa_left, pa_right, ref_x)?;
        let y_below = line_at(pb_left, pb_right, ref_x)?;
        let i = i as i64;
        if y_below >= ref_y {
            let y_dif = y_below - y_above;
            let y_mid = y_above + y_dif / 2.0;
            if line_snap {
                if ref_y < y_mid {
                    return Ok((0, i));
                } else if ref_y >= y_mid {
                    return Ok((0, i + 1));
                }
            } else {
                let half = y_dif * SPACE_PROPORTION / 2.0;
                let (a, b) = (y_mid - half, y_mid + half);
                let (lo, hi) = (a.min(b), a.max(b));
                if ref_y < lo {
                    return Ok((0, i));
                } else if ref_y >= lo && ref_y <= hi {
                    return Ok((1, i));
                } else if ref_y > hi {
                    return Ok((0, i + 1));
                }
            }
        }
    }
    Ok((0, lines.len() as i64))
}

/// `_sort_glyphs`: the glyphs in (staff, left column) order (stable; pitchless glyphs, without a
/// staff, first), each clef's position turned into its line number and each neume and custos
/// given the note, octave and clef of the last clef before it (a C clef on position 7 before
/// any).
fn sort_glyphs(mut found: Vec<Found<'_>>) -> Result<Vec<Found<'_>>, JobError> {
    found.sort_by(|a, b| {
        let key = |f: &Found<'_>| (f.staff.map(StaffNo::value), f.input.glyph.ul_x);
        let (ka, kb) = (key(a), key(b));
        match (ka.0, kb.0) {
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(ka.1.cmp(&kb.1))
    });
    let mut clef: (String, i64) = ("c".to_owned(), 7);
    for f in &mut found {
        let kind = f.input.kind();
        if kind == "clef" {
            let shape = f.input.id.split('.').nth(1).ok_or_else(|| {
                bad(
                    "a clef's class name has no shape",
                    format!(
                        "the clef class '{}' names no shape after 'clef.' (upstream reads it as \
                         'clef.c', 'clef.f'...)",
                        f.input.id
                    ),
                )
            })?;
            let Some(pos) = f.strt_pos else { continue };
            clef = (shape.to_owned(), pos);
            f.strt_pos = Some(6 - pos.div_euclid(2));
        } else if kind == "neume" || kind == "custos" {
            let (shape, clef_line) = (&clef.0, clef.1);
            let Some(pos) = f.strt_pos else { continue };
            let index = SCALE.iter().position(|s| s == shape).ok_or_else(|| {
                bad(
                    "a clef is not of a note name",
                    format!(
                        "the clef 'clef.{shape}' before the {} at column {} is not one of c, d, \
                         e, f, g, a, b",
                        f.input.id, f.input.glyph.ul_x
                    ),
                )
            })? as i64;
            let note_shift = if index == 0 { 0 } else { 7 - index - 1 };
            let note = SCALE[(clef_line - pos + note_shift).rem_euclid(7) as usize];
            let base_octave = match shape.as_str() {
                "c" | "g" => 4,
                _ => 3,
            };
            let octave = if pos <= clef_line {
                base_octave + (clef_line - pos + note_shift).div_euclid(7)
            } else {
                base_octave - (7 - clef_line + pos - 1 - note_shift).div_euclid(7)
            };
            f.pitch = Some((note, octave, clef_line, format!("clef.{shape}")));
        }
    }
    Ok(found)
}

/// One entry of the output's `glyphs`: `{"pitch": {...}, "glyph": {...}}` with every pitch
/// value as Python's `str()` of it.
fn glyph_json(f: &Found<'_>) -> Value {
    let none = || Value::from("None");
    let int = |i: i64| Value::from(i.to_string());
    let g = f.input.glyph;
    let (note, octave, clef_pos, clef) = match &f.pitch {
        Some((n, o, c, name)) => (Value::from(*n), int(*o), int(*c), Value::from(name.clone())),
        None => (none(), none(), none(), none()),
    };
    let pitch = Value::dict([
        ("staff", f.staff.map_or_else(none, |s| s.py_str().into())),
        ("offset", int(g.ul_x as i64)),
        ("strt_pos", f.strt_pos.map_or_else(none, int)),
        ("note", note),
        ("octave", octave),
        ("clef_pos", clef_pos),
        ("clef", clef),
    ]);
    let glyph = Value::dict([
        (
            "bounding_box",
            Value::dict([
                ("ncols", Value::Int(g.ncols() as i64)),
                ("nrows", Value::Int(g.nrows() as i64)),
                ("ulx", Value::Int(g.ul_x as i64)),
                ("uly", Value::Int(g.ul_y as i64)),
            ]),
        ),
        ("state", Value::from(g.state.name())),
        ("name", Value::from(f.input.id)),
    ]);
    Value::dict([("pitch", pitch), ("glyph", glyph)])
}

/// The whole job: the staff-finding JSOMR text and the glyphs in, the output JSOMR text
/// (`json.dumps({"page", "staves", "glyphs"})`) out.
pub fn find_pitches(jsomr: &str, glyphs: &[Glyph], discard_size: i64) -> Result<String, JobError> {
    let doc = Value::parse(jsomr).map_err(|e| not_jsomr(format!("it is not JSON: {e}")))?;
    if !matches!(doc, Value::Dict(_)) {
        return Err(not_jsomr("it is not a JSON object"));
    }
    let page = doc
        .get("page")
        .ok_or_else(|| not_jsomr("it has no 'page'"))?;
    let staves_value = doc
        .get("staves")
        .ok_or_else(|| not_jsomr("it has no 'staves'"))?;
    let staves = parse_staves(staves_value)?;
    let pitches = PitchFinder::new(discard_size).get_pitches(glyphs, &staves)?;
    Ok(Value::dict([
        ("page", page.clone()),
        ("staves", staves_value.clone()),
        ("glyphs", pitches),
    ])
    .to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::{BLACK, Plane, WHITE};

    fn glyph(ul_x: usize, ul_y: usize, ncols: usize, nrows: usize, name: &str) -> Glyph {
        let mut g = Glyph::new(ul_x, ul_y, Plane::new(ncols, nrows, BLACK));
        g.state = State::Automatic;
        g.ids = vec![(name.to_owned(), 0.9)];
        g
    }

    fn input(g: &Glyph) -> Input<'_> {
        Input {
            glyph: g,
            id: main_id(g).expect("classified"),
        }
    }

    /// Four flat lines at rows 100, 120, 140 and 160 from column 0 to 1000.
    fn flat_staff(number: i64) -> Staff {
        Staff {
            number: StaffNo::Int(number),
            coords: [0.0, 100.0, 1000.0, 160.0],
            lines: [100.0, 120.0, 140.0, 160.0]
                .iter()
                .map(|&y| vec![(0.0, y), (1000.0, y)])
                .collect(),
        }
    }

    /// Upstream's `test_d01_find_distance_between_points`.
    #[test]
    fn distances_between_points_are_the_square_roots_of_the_squares() {
        let cases = [
            ((0.0, 0.0), (10.0, 10.0), 200.0),
            ((2.0, 2.0), (6.0, 6.0), 32.0),
            ((10.0, 7.0), (5.0, 8.0), 26.0),
            ((400.0, 73.0), (23.0, 900.0), 826_058.0),
        ];
        for (a, b, squared) in cases {
            assert_eq!(distance(a, b), f64::powf(squared, 0.5));
        }
    }

    /// Upstream's `test_d02_find_distance_between_line_and_point`: distances cut (not rounded)
    /// to three decimals.
    #[test]
    fn distances_to_segments_are_perpendicular_within_their_span_else_to_an_end() {
        let lines = [
            ((0.0, 10.0), (5.0, 10.0)),
            ((1000.0, 4500.0), (2500.0, 4500.0)),
            ((2000.0, 2500.0), (1000.0, 2500.0)),
            ((1600.0, 2000.0), (1600.0, 3000.0)),
        ];
        let points = [
            (0.0, 0.0),
            (10.0, 10.0),
            (400.0, 400.0),
            (1600.0, 1600.0),
            (3200.0, 3200.0),
            (6400.0, 6400.0),
        ];
        let expected = [
            [10.000, 5.000, 555.090, 2252.137, 4514.878, 9040.360],
            [4609.772, 4597.847, 4143.669, 2900.000, 1476.482, 4338.202],
            [2692.582, 2679.589, 2184.032, 900.000, 1389.244, 5879.625],
            [2561.249, 2547.194, 2000.0, 400.0, 1612.451, 5882.176],
        ];
        for (i, &(a, b)) in lines.iter().enumerate() {
            for (j, &p) in points.iter().enumerate() {
                let d = distance_to_segment(a, b, p);
                let text = float_repr(d);
                let (whole, frac) = text.split_once('.').expect("a decimal point");
                let cut: f64 = format!("{whole}.{}", &frac[..frac.len().min(3)])
                    .parse()
                    .expect("a number");
                assert_eq!(cut, expected[i][j], "line {i}, point {j}: {d}");
            }
        }
    }

    #[test]
    fn centres_of_mass_count_rows_from_one() {
        assert_eq!(center_of_mass(&[0, 2, 2]), (2.0 * 2.0 + 3.0 * 2.0) / 4.0);
        assert_eq!(center_of_mass(&[5]), 1.0);
        assert_eq!(center_of_mass(&[0, 0]), 0.0);
        assert_eq!(center_of_mass(&[]), 0.0);
    }

    #[test]
    fn the_main_class_name_is_the_least_confident_as_glyphs_from_xml_sorts_them() {
        // As the job gets it: read from GameraXML, ids in the file's order.
        let text = r#"<gamera-database version="2.0"><glyphs>
            <glyph uly="0" ulx="0" nrows="1" ncols="1"><ids state="AUTOMATIC">
              <id name="neume.virga" confidence="0.9"/>
              <id name="neume.punctum" confidence="0.2"/>
              <id name="clef.c" confidence="0.2"/>
            </ids><data>0 1</data></glyph></glyphs></gamera-database>"#;
        let db = crate::gamera::xml::parse(text.as_bytes()).expect("GameraXML");
        let mut g = db.glyphs[0].clone();
        assert_eq!(main_id(&g), Some("clef.c"));
        g.state = State::Unclassified;
        assert_eq!(main_id(&g), None);
        g.state = State::Manual;
        g.ids.clear();
        assert_eq!(main_id(&g), None);
    }

    #[test]
    fn positions_are_lines_and_spaces_counted_from_the_top_line() {
        let staff = flat_staff(1);
        let at = |com: f64, name: &str| {
            let g = glyph(500, 0, 20, 20, name);
            line_or_space_no(&input(&g), com, &staff.lines).expect("even lines")
        };
        // Between lines 100 and 120 the space is rows 105 to 115, both included.
        assert_eq!(at(104.0, "neume.punctum"), (0, 0));
        assert_eq!(at(105.0, "neume.punctum"), (1, 0));
        assert_eq!(at(115.9, "neume.punctum"), (1, 0));
        assert_eq!(at(116.0, "neume.punctum"), (0, 1));
        assert_eq!(at(50.0, "neume.punctum"), (0, 0));
        assert_eq!(at(150.0, "neume.punctum"), (1, 2));
        assert_eq!(at(161.0, "neume.punctum"), (0, 4));
        // Clefs snap to the nearer line, the middle going down.
        assert_eq!(at(109.0, "clef.c"), (0, 0));
        assert_eq!(at(110.0, "clef.c"), (0, 1));
    }

    #[test]
    fn staff_lines_are_interpolated_at_the_glyph_and_flat_beyond_the_ends() {
        // Lines rising by 100 rows over columns 100 to 1100.
        let lines: Vec<Vec<(f64, f64)>> = [100.0, 120.0]
            .iter()
            .map(|&y| vec![(100.0, y), (1100.0, y + 100.0)])
            .collect();
        let at = |x: usize, com: f64| {
            let g = glyph(x, 0, 20, 20, "neume.punctum");
            line_or_space_no(&input(&g), com, &lines).expect("even lines")
        };
        // At column 500 the lines are at 140 and 160: the space is 145 to 155.
        assert_eq!(at(500, 144.0), (0, 0));
        assert_eq!(at(500, 150.0), (1, 0));
        assert_eq!(at(500, 156.0), (0, 1));
        // Left of the first point, the first points; right of the last, the last ones.
        assert_eq!(at(50, 110.0), (1, 0));
        assert_eq!(at(50, 150.0), (0, 2));
        assert_eq!(at(2000, 210.0), (1, 0));
        // The line below has two points in one column where the top line has not.
        let shared_x = vec![
            vec![(0.0, 100.0), (10.0, 100.0)],
            vec![(5.0, 120.0), (5.0, 120.0)],
        ];
        let g = glyph(5, 0, 20, 20, "neume.punctum");
        let e = line_or_space_no(&input(&g), 110.0, &shared_x).expect_err("x repeats");
        assert!(matches!(e, JobError::BadInput { .. }), "{e}");
        let uneven = vec![vec![(0.0, 100.0), (50.0, 100.0)], vec![(0.0, 120.0)]];
        let g = glyph(60, 0, 20, 20, "neume.punctum");
        let e = line_or_space_no(&input(&g), 110.0, &uneven).expect_err("too few points");
        assert!(matches!(e, JobError::BadInput { .. }), "{e}");
    }

    #[test]
    fn notes_follow_the_last_clef_and_octaves_its_letter() {
        let glyphs = [
            glyph(10, 0, 5, 5, "neume.punctum"),
            glyph(20, 0, 5, 5, "clef.c"),
            glyph(30, 0, 5, 5, "neume.punctum"),
            glyph(40, 0, 5, 5, "neume.punctum"),
            glyph(50, 0, 5, 5, "clef.f"),
            glyph(60, 0, 5, 5, "custos"),
            glyph(70, 0, 5, 5, "divisio.maxima"),
        ];
        let inputs: Vec<_> = glyphs.iter().map(input).collect();
        let positions = [7, 5, 5, 6, 9, 9, 4];
        let found: Vec<_> = inputs
            .iter()
            .zip(positions)
            .rev()
            .map(|(input, p)| Found {
                input,
                staff: Some(StaffNo::Int(1)),
                strt_pos: Some(p),
                pitch: None,
            })
            .collect();
        let sorted = sort_glyphs(found).expect("known clefs");
        let got: Vec<_> = sorted
            .iter()
            .map(|f| (f.input.glyph.ul_x, f.strt_pos, f.pitch.clone()))
            .collect();
        let p = |n: &'static str, o, c, name: &str| Some((n, o, c, name.to_owned()));
        assert_eq!(
            got,
            vec![
                // Before any clef: a C clef on position 7.
                (10, Some(7), p("c", 4, 7, "clef.c")),
                // A clef's position becomes its line: 6 - floor(5 / 2).
                (20, Some(4), None),
                (30, Some(5), p("c", 4, 5, "clef.c")),
                (40, Some(6), p("b", 3, 5, "clef.c")),
                (50, Some(2), None),
                (60, Some(9), p("f", 3, 9, "clef.f")),
                (70, Some(4), None),
            ]
        );
    }

    #[test]
    fn pitchless_glyphs_sort_first_as_python_2_ordered_none() {
        // Upstream under Python 3 raises TypeError comparing (None, x) with (1, y).
        let glyphs = [
            glyph(10, 0, 5, 5, "neume.punctum"),
            glyph(90, 0, 5, 5, "division.final"),
            glyph(50, 0, 5, 5, "division.minima"),
        ];
        let inputs: Vec<_> = glyphs.iter().map(input).collect();
        let found = vec![
            Found {
                input: &inputs[0],
                staff: Some(StaffNo::Int(1)),
                strt_pos: Some(7),
                pitch: None,
            },
            Found {
                input: &inputs[1],
                staff: None,
                strt_pos: None,
                pitch: None,
            },
            Found {
                input: &inputs[2],
                staff: None,
                strt_pos: None,
                pitch: None,
            },
        ];
        let sorted = sort_glyphs(found).expect("no clefs");
        let xs: Vec<_> = sorted.iter().map(|f| f.input.glyph.ul_x).collect();
        assert_eq!(xs, vec![50, 90, 10]);
        let json = glyph_json(&sorted[0]).to_json();
        assert!(
            json.starts_with(
                r#"{"pitch": {"staff": "None", "offset": "50", "strt_pos": "None", "note": "None""#
            ),
            "{json}"
        );
    }

    #[test]
    fn equal_sort_keys_keep_the_file_order_and_float_staff_numbers_print_as_python() {
        let glyphs = [glyph(10, 0, 5, 5, "custos"), glyph(10, 9, 5, 5, "custos")];
        let inputs: Vec<_> = glyphs.iter().map(input).collect();
        let found: Vec<_> = inputs
            .iter()
            .map(|input| Found {
                input,
                staff: Some(StaffNo::Float(2.0)),
                strt_pos: Some(7),
                pitch: None,
            })
            .collect();
        let sorted = sort_glyphs(found).expect("default clef");
        assert_eq!(sorted[0].input.glyph.ul_y, 0);
        assert!(
            glyph_json(&sorted[0])
                .to_json()
                .contains(r#""staff": "2.0""#)
        );
    }

    #[test]
    fn a_clef_shape_outside_the_scale_fails_at_the_next_neume() {
        let glyphs = [
            glyph(10, 0, 5, 5, "clef.x"),
            glyph(20, 0, 5, 5, "neume.punctum"),
        ];
        let inputs: Vec<_> = glyphs.iter().map(input).collect();
        let found: Vec<_> = inputs
            .iter()
            .map(|input| Found {
                input,
                staff: Some(StaffNo::Int(1)),
                strt_pos: Some(5),
                pitch: None,
            })
            .collect();
        let e = sort_glyphs(found).expect_err("x is no note");
        assert!(matches!(e, JobError::BadInput { .. }), "{e}");
    }

    #[test]
    fn bottom_left_neumes_use_their_lower_head_and_short_ones_their_top() {
        // A 20×60 podatus with an average punctum of 30: rows 29 to 59 (31 rows), all
        // 20 columns; the offset counts from the glyph's top as upstream's float.
        let g = Placed::new(100, 200, Plane::new(20, 60, BLACK));
        let (sub, y_add) = get_subimage(&g, "neume.podatus2b", 20.0, 30.0).expect("inside");
        assert_eq!(
            (sub.ul_x, sub.ul_y, sub.ncols(), sub.nrows()),
            (100, 229, 20, 31)
        );
        assert_eq!(y_add, 29.0);
        let (sub, y_add) = get_subimage(&g, "neume.podatus2b", 20.0, 29.5).expect("inside");
        assert_eq!((sub.ul_y, sub.nrows()), (229, 31));
        assert_eq!(y_add, 29.5);
        // 25 rows, fewer than a punctum plus one: upstream's view would start at row -1 and
        // Gamera raises; the whole glyph is used, from its top.
        let short = Placed::new(100, 200, Plane::new(20, 25, BLACK));
        let (sub, y_add) = get_subimage(&short, "neume.podatus3", 20.0, 25.0).expect("clamped");
        assert_eq!((sub.ul_y, sub.nrows(), y_add), (200, 25, 0.0));
        // A virga's head: its first `rows` rows; other glyphs: every row.
        let (sub, y_add) = get_subimage(&g, "neume.virga", 24.0 * 0.8, 30.0).expect("inside");
        assert_eq!((sub.ncols(), sub.nrows(), y_add), (19, 30, 0.0));
        let (sub, _) = get_subimage(&g, "neume.clivis2", 0.0, 30.0).expect("inside");
        assert_eq!((sub.ncols(), sub.nrows()), (0, 60));
    }

    /// Two blocks: rows 0-9 of columns 0-3 and rows 4-7 of columns 8-11.
    fn f_clef() -> Glyph {
        let mut image = Plane::new(12, 10, WHITE);
        for y in 0..10 {
            for x in 0..4 {
                image.set(x, y, BLACK);
            }
        }
        for y in 4..8 {
            for x in 8..12 {
                image.set(x, y, BLACK);
            }
        }
        let mut g = glyph(300, 50, 12, 10, "clef.f");
        g.image = image;
        g
    }

    #[test]
    fn f_clefs_are_placed_by_their_right_part() {
        let g = f_clef();
        let i = input(&g);
        let (part, y_add) = f_clef_part(&i).expect("black pixels");
        assert_eq!(
            (part.ul_x, part.ul_y, part.ncols(), part.nrows()),
            (308, 54, 4, 4)
        );
        assert_eq!(y_add, 4.0);
        // The 4×4 part is not above the discard size: its top row places the clef.
        assert_eq!(
            PitchFinder::new(5)
                .x_projection_vector(&i, 10.0)
                .expect("ok"),
            4.0
        );
        // Above it, its centre of mass (2.5) counts from the part's top, and upstream drops the
        // part's offset from the glyph's top.
        assert_eq!(
            PitchFinder::new(3)
                .x_projection_vector(&i, 10.0)
                .expect("ok"),
            2.5
        );
        // Without punctums the part is zero columns wide: no mass.
        assert_eq!(
            PitchFinder::new(3)
                .x_projection_vector(&i, 0.0)
                .expect("ok"),
            0.0
        );
        let mut blank = f_clef();
        blank.image = Plane::new(12, 10, WHITE);
        let e = f_clef_part(&input(&blank)).expect_err("no pixels");
        assert!(matches!(e, JobError::BadInput { .. }), "{e}");
    }

    #[test]
    fn glyphs_take_the_staff_they_overlap_most_else_the_nearest_in_their_rows() {
        let mut a = flat_staff(1);
        a.coords = [0.0, 100.0, 400.0, 160.0];
        let mut b = flat_staff(2);
        b.coords = [500.0, 100.0, 900.0, 160.0];
        let staves = [a, b];
        let on = |g: &Glyph, avg: f64| staff_of(&input(g), 0.0, &staves, avg).map(|s| s.number);
        // Overlapping both, more of b; as much of each: the first.
        assert_eq!(
            on(&glyph(380, 110, 140, 20, "neume.punctum"), 10.0),
            Some(StaffNo::Int(1))
        );
        assert_eq!(
            on(&glyph(390, 110, 140, 20, "neume.punctum"), 10.0),
            Some(StaffNo::Int(2))
        );
        // Between the staves, in their rows: nearest edge to its right edge (460): b's 500.
        assert_eq!(
            on(&glyph(430, 110, 30, 20, "neume.punctum"), 10.0),
            Some(StaffNo::Int(2))
        );
        // Right edge at 445: a's 400 is nearer.
        assert_eq!(
            on(&glyph(415, 110, 30, 20, "neume.punctum"), 10.0),
            Some(StaffNo::Int(1))
        );
        // Above the staves within int(2 × 10.6) = 21 rows, then beyond.
        assert_eq!(
            on(&glyph(430, 60, 30, 19, "neume.punctum"), 10.6),
            Some(StaffNo::Int(2))
        );
        assert_eq!(on(&glyph(430, 60, 30, 18, "neume.punctum"), 10.6), None);
        // Skips have no staff.
        assert_eq!(on(&glyph(100, 110, 30, 20, "skip.dot"), 10.0), None);
    }

    const STAFF_JSOMR: &str = r#"{"page": {"resolution": 0.0, "bounding_box": {"ncols": 1000, "nrows": 400, "ulx": 0, "uly": 0}}, "staves": [{"staff_no": 1, "bounding_box": {"ncols": 1000, "nrows": 60, "ulx": 0, "uly": 100}, "num_lines": 4, "line_positions": [[[0, 100], [1000, 100]], [[0, 120], [1000, 120]], [[0, 140], [1000, 140]], [[0, 160], [1000, 160]]]}]}"#;

    #[test]
    fn the_output_is_the_jsomr_with_its_glyphs_as_json_dumps_writes_it() {
        let glyphs = vec![
            glyph(300, 130, 20, 20, "neume.punctum"),
            glyph(100, 112, 20, 20, "clef.c"),
            glyph(500, 350, 20, 20, "neume.punctum"),
            glyph(50, 120, 4, 4, "skip"),
        ];
        let out = find_pitches(STAFF_JSOMR, &glyphs, 12).expect("a JSOMR");
        let staves_part = &STAFF_JSOMR[1..STAFF_JSOMR.len() - 1];
        let expected = format!(
            "{{{staves_part}, \"glyphs\": [\
             {{\"pitch\": {{\"staff\": \"1\", \"offset\": \"100\", \"strt_pos\": \"5\", \
             \"note\": \"None\", \"octave\": \"None\", \"clef_pos\": \"None\", \"clef\": \"None\"}}, \
             \"glyph\": {{\"bounding_box\": {{\"ncols\": 20, \"nrows\": 20, \"ulx\": 100, \"uly\": 112}}, \
             \"state\": \"AUTOMATIC\", \"name\": \"clef.c\"}}}}, \
             {{\"pitch\": {{\"staff\": \"1\", \"offset\": \"300\", \"strt_pos\": \"5\", \
             \"note\": \"a\", \"octave\": \"3\", \"clef_pos\": \"3\", \"clef\": \"clef.c\"}}, \
             \"glyph\": {{\"bounding_box\": {{\"ncols\": 20, \"nrows\": 20, \"ulx\": 300, \"uly\": 130}}, \
             \"state\": \"AUTOMATIC\", \"name\": \"neume.punctum\"}}}}]}}"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn input_that_is_not_a_staff_jsomr_or_not_classified_is_bad_input() {
        let punctum = [glyph(300, 130, 20, 20, "neume.punctum")];
        for text in [
            "not json",
            "[]",
            r#"{"staves": []}"#,
            r#"{"page": {}}"#,
            r#"{"page": {}, "staves": {}}"#,
            r#"{"page": {}, "staves": [{"staff_no": "1"}]}"#,
            r#"{"page": {}, "staves": [{"staff_no": 1, "bounding_box": {"ulx": 0}}]}"#,
            r#"{"page": {}, "staves": [{"staff_no": 1, "bounding_box": {"ulx": 0, "uly": 0, "ncols": 9, "nrows": 9}, "line_positions": [[[1]]]}]}"#,
        ] {
            let e = find_pitches(text, &punctum, 12).expect_err(text);
            assert!(matches!(e, JobError::BadInput { .. }), "{text}: {e}");
        }
        let mut unclassified = glyph(300, 130, 20, 20, "neume.punctum");
        unclassified.state = State::Unclassified;
        let e = find_pitches(STAFF_JSOMR, &[unclassified], 12).expect_err("unclassified");
        assert!(matches!(e, JobError::BadInput { .. }), "{e}");
        // No glyphs, no staves: an empty list, upstream's too.
        let out = find_pitches(r#"{"page": 1, "staves": []}"#, &[], 12).expect("empty");
        assert_eq!(out, r#"{"page": 1, "staves": [], "glyphs": []}"#);
    }
}
