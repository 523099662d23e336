//! Building the MEI of a page (upstream `build_mei_file.py`), step by step as upstream's
//! `process`: glyphs are flattened, ordered and flagged where systems begin; syllables of the text
//! alignment are anchored to glyphs; with column-splitting data every box is moved back to its
//! place on the unsplit page; each glyph becomes MEI through the mapping table (neumes split into
//! components with pitches resolved from their intervals), placed by the syllable state machine,
//! with a zone per box on the surface; finally nearby neumes of a syllable are merged.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::classifier_table::ClassifierTable;
use super::state_machine::SylMachine;
use super::{new_element, py_str};
use crate::mei::{Element, MEI_NS, MEI_VERSION, Node, python_int};

/// Why a page cannot be encoded: the inputs do not hold what upstream's encoder reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EncodingError(pub String);

fn error(message: impl Into<String>) -> EncodingError {
    EncodingError(message.into())
}

/// The scale degrees, as upstream orders them for intervals.
const SCALE: [&str; 7] = ["c", "d", "e", "f", "g", "a", "b"];

/// A box by its corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// Left.
    pub ulx: f64,
    /// Top.
    pub uly: f64,
    /// Right.
    pub lrx: f64,
    /// Bottom.
    pub lry: f64,
}

/// One glyph of the pitch-finding JSON, its `glyph` and `pitch` objects merged as upstream
/// merges them. Equality is over everything, as upstream finds glyphs with `list.index`.
#[derive(Debug, Clone, PartialEq)]
struct Glyph {
    /// The merged object's other keys.
    rest: Map<String, Value>,
    name: String,
    bbox: Bbox,
    ncols: f64,
    nrows: f64,
    /// The boxes of a neume's components, once it has been divided.
    divided: Option<Vec<Bbox>>,
    /// 0-based.
    staff: i64,
    offset: i64,
    note: Value,
    octave: Value,
    strt_pos: Option<Value>,
    system_begin: bool,
    column: usize,
    column_begin: bool,
}

/// A syllable of the text alignment.
#[derive(Debug, Clone, PartialEq)]
struct SylBox {
    syl: String,
    bbox: Bbox,
}

impl SylBox {
    /// Upstream's stand-in for glyphs without a syllable.
    fn dummy() -> Self {
        Self {
            syl: String::new(),
            bbox: Bbox {
                ulx: 0.0,
                uly: 0.0,
                lrx: 0.0,
                lry: 0.0,
            },
        }
    }
}

/// The column-splitting data: the unsplit page's size and each column's horizontal range.
#[derive(Debug, Clone)]
struct Columns {
    width: f64,
    height: f64,
    /// The left edge of each column on the unsplit page.
    lefts: Vec<f64>,
    /// The column of each staff.
    staff_to_column: Vec<usize>,
}

fn number(v: &Value, what: &str) -> Result<f64, EncodingError> {
    v.as_f64()
        .ok_or_else(|| error(format!("{what} is not a number: {v}")))
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, EncodingError> {
    v.get(key)
        .ok_or_else(|| error(format!("{what} has no '{key}'")))
}

/// Python's `int()` of a JSON value: integers, floats truncated, integer strings.
fn py_int(v: &Value, what: &str) -> Result<i64, EncodingError> {
    let bad = || error(format!("{what} is not an integer: {v}"));
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => n
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                // Truncation is what Python's int() of a float does.
                .map(|f| f.trunc() as i64)
                .ok_or_else(bad),
        },
        Value::String(s) => python_int(s)
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Python's `float()` of a JSON value.
fn py_float(v: &Value, what: &str) -> Result<f64, EncodingError> {
    let parsed = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| error(format!("{what} is not a number: {v}")))
}

/// `str(math.trunc(x))`.
fn trunc(x: f64) -> Result<String, EncodingError> {
    if !x.is_finite() || x.abs() >= 9.0e18 {
        return Err(error(format!("coordinate {x} is not a finite integer")));
    }
    // Exact: a finite value well inside i64's range, truncated as math.trunc does.
    Ok((x.trunc() as i64).to_string())
}

/// A pitch-finding box `{ulx, uly, ncols, nrows}` as corners, and its size.
fn pitch_box(v: &Value, what: &str) -> Result<(Bbox, f64, f64), EncodingError> {
    let get = |k: &str| number(field(v, k, what)?, &format!("{what}'s {k}"));
    let (ulx, uly, ncols, nrows) = (get("ulx")?, get("uly")?, get("ncols")?, get("nrows")?);
    Ok((
        Bbox {
            ulx,
            uly,
            lrx: ulx + ncols,
            lry: uly + nrows,
        },
        ncols,
        nrows,
    ))
}

impl Glyph {
    /// Upstream's `add_flags_to_glyphs` for one glyph: the keys of `glyph` and then of `pitch`
    /// lifted to the top, the box's corners computed, the staff made 0-based.
    fn from_json(v: &Value, i: usize) -> Result<Self, EncodingError> {
        let what = format!("glyph {i}");
        let object = v
            .as_object()
            .ok_or_else(|| error(format!("{what} is not an object")))?;
        let mut merged = object.clone();
        for part in ["glyph", "pitch"] {
            let inner = field(v, part, &what)?
                .as_object()
                .ok_or_else(|| error(format!("{what}'s '{part}' is not an object")))?;
            merged.extend(inner.clone());
        }
        merged.remove("glyph");
        merged.remove("pitch");
        let mut take = |k: &str| {
            merged
                .remove(k)
                .ok_or_else(|| error(format!("{what} has no '{k}'")))
        };
        let (bbox, ncols, nrows) = pitch_box(&take("bounding_box")?, &format!("{what}'s box"))?;
        let name = match take("name")? {
            Value::String(s) => s,
            other => return Err(error(format!("{what}'s name is not a string: {other}"))),
        };
        let staff = py_int(&take("staff")?, &format!("{what}'s staff"))?.saturating_sub(1);
        let offset = py_int(&take("offset")?, &format!("{what}'s offset"))?;
        let (note, octave) = (take("note")?, take("octave")?);
        let strt_pos = merged.remove("strt_pos");
        Ok(Self {
            rest: merged,
            name,
            bbox,
            ncols,
            nrows,
            divided: None,
            staff,
            offset,
            note,
            octave,
            strt_pos,
            system_begin: false,
            column: 0,
            column_begin: false,
        })
    }
}

/// Orders the glyphs by staff and offset, swaps a glyph with the next one when the next starts
/// left of its middle and lower, and flags each glyph after which a new system begins.
fn add_flags(glyphs: &mut [Glyph]) {
    glyphs.sort_by_key(|g| (g.staff, g.offset));
    for i in 0..glyphs.len().saturating_sub(1) {
        let (a, b) = (&glyphs[i].bbox, &glyphs[i + 1].bbox);
        let midpoint = (a.lrx + a.ulx) / 2.0;
        if b.ulx < midpoint && b.ulx >= a.ulx && a.uly < b.uly {
            glyphs.swap(i, i + 1);
        }
    }
    for i in 0..glyphs.len() {
        let begins = glyphs
            .get(i + 1)
            .is_some_and(|next| glyphs[i].staff < next.staff);
        glyphs[i].system_begin = begins;
    }
}

/// The (glyphs, syllable) pairs (upstream's `neume_to_lyric_alignment`): each syllable is
/// anchored at the leftmost unassigned glyph within a line spacing above it and right of its
/// left edge, and holds the glyphs up to the next anchor. Without syllables, each staff is one
/// syllable without text.
fn align(
    glyphs: &[Glyph],
    syl_boxes: &[SylBox],
    median_line_spacing: f64,
) -> Vec<(Vec<usize>, SylBox)> {
    if syl_boxes.is_empty() {
        let mut order: Vec<usize> = (0..glyphs.len()).collect();
        order.sort_by_key(|&i| glyphs[i].staff);
        let mut pairs: Vec<(Vec<usize>, SylBox)> = Vec::new();
        for i in order {
            match pairs.last_mut() {
                Some((group, _)) if glyphs[group[0]].staff == glyphs[i].staff => group.push(i),
                _ => pairs.push((vec![i], SylBox::dummy())),
            }
        }
        return pairs;
    }
    let mut starts: Vec<usize> = Vec::new();
    let mut last_used = 0;
    for syl in syl_boxes {
        let (left, top) = (syl.bbox.ulx, syl.bbox.uly);
        let nearest = (last_used..glyphs.len())
            .filter(|&j| {
                let g = &glyphs[j];
                top - median_line_spacing < g.bbox.uly
                    && g.bbox.uly < top
                    && left < g.bbox.ulx + (g.ncols / 2.0).floor()
            })
            .fold(None, |best: Option<usize>, j| match best {
                Some(b) if glyphs[b].bbox.ulx <= glyphs[j].bbox.ulx => Some(b),
                _ => Some(j),
            });
        let Some(nearest) = nearest else {
            starts.push(last_used);
            continue;
        };
        // `list.index`: the first glyph equal to the nearest one.
        let index = glyphs
            .iter()
            .position(|g| *g == glyphs[nearest])
            .unwrap_or(nearest);
        starts.push(index);
        last_used = starts.iter().copied().max().unwrap_or(index);
    }
    let mut pairs = Vec::new();
    if starts[0] != 0 {
        pairs.push(((0..starts[0]).collect(), SylBox::dummy()));
    }
    starts.push(glyphs.len());
    for (i, syl) in syl_boxes.iter().enumerate() {
        let (from, to) = (starts[i], starts[i + 1]);
        if from < to {
            pairs.push(((from..to).collect(), syl.clone()));
        }
    }
    pairs
}

impl Columns {
    fn from_json(v: &Value, staves: &[Bbox]) -> Result<Self, EncodingError> {
        let what = "the column splitting data";
        let width = number(field(v, "width", what)?, "the page width")?;
        let height = number(field(v, "height", what)?, "the column height")?;
        let ranges = field(v, "split_ranges", what)?
            .as_array()
            .ok_or_else(|| error("split_ranges is not a list"))?;
        let lefts = ranges
            .iter()
            .map(|r| number(r.get(0).unwrap_or(&Value::Null), "a split range's start"))
            .collect::<Result<Vec<_>, _>>()?;
        if lefts.is_empty() {
            return Err(error("the column splitting data has no split ranges"));
        }
        // Upstream's `staff_to_columns_dict`.
        let mut column = 0;
        let mut staff_to_column = Vec::with_capacity(staves.len());
        for staff in staves {
            if staff.uly > (column + 1) as f64 * height {
                column += 1;
            }
            column = column.min(lefts.len() - 1);
            staff_to_column.push(column);
        }
        Ok(Self {
            width,
            height,
            lefts,
            staff_to_column,
        })
    }

    /// Moves a box of the stacked columns back to column `col` of the unsplit page.
    fn translate(&self, b: Bbox, col: usize) -> Bbox {
        let (dx, dy) = (self.lefts[col], self.height * col as f64);
        Bbox {
            ulx: b.ulx + dx,
            uly: b.uly - dy,
            lrx: b.lrx + dx,
            lry: b.lry - dy,
        }
    }

    /// The column a syllable box lies in, by its top (upstream's `bbox_to_col_num`).
    fn column_of(&self, b: &Bbox) -> usize {
        (0..self.lefts.len())
            .find(|&i| b.uly <= (i + 1) as f64 * self.height)
            .unwrap_or(0)
    }

    fn column_of_staff(&self, staff: i64) -> Result<usize, EncodingError> {
        usize::try_from(staff)
            .ok()
            .and_then(|s| self.staff_to_column.get(s).copied())
            .ok_or_else(|| {
                error(format!(
                    "a glyph is on staff {}, which the page lacks",
                    i128::from(staff) + 1
                ))
            })
    }

    /// Upstream's `precompute_multi_column`: glyph and staff boxes moved to their columns, and
    /// the first system of each new column flagged.
    fn place(&self, glyphs: &mut [Glyph], staves: &mut [Bbox]) -> Result<(), EncodingError> {
        let mut previous = 0;
        for g in glyphs.iter_mut() {
            let col = self.column_of_staff(g.staff)?;
            g.bbox = self.translate(g.bbox, col);
            g.column = col;
            g.column_begin = g.system_begin && col > previous;
            if g.column_begin {
                previous = col;
            }
        }
        for (staff, col) in staves.iter_mut().zip(&self.staff_to_column) {
            *staff = self.translate(*staff, *col);
        }
        Ok(())
    }

    /// The union of each column's staff boxes (upstream's `column_bboxes`).
    fn boxes(&self, staves: &[Bbox]) -> Vec<Bbox> {
        let mut out: Vec<Bbox> = Vec::new();
        for (b, &col) in staves.iter().zip(&self.staff_to_column) {
            match out.get_mut(col) {
                Some(u) => {
                    *u = Bbox {
                        ulx: u.ulx.min(b.ulx),
                        uly: u.uly.min(b.uly),
                        lrx: u.lrx.max(b.lrx),
                        lry: u.lry.max(b.lry),
                    }
                }
                None => out.push(*b),
            }
        }
        out
    }
}

/// The facsimile's surface: its zones in creation order.
#[derive(Debug, Default)]
struct Surface {
    zones: Vec<Element>,
}

impl Surface {
    /// Adds a zone for `b` (corners truncated) and returns its id.
    fn zone(&mut self, b: &Bbox) -> Result<String, EncodingError> {
        let mut zone = new_element("zone");
        for (k, v) in [
            ("ulx", b.ulx),
            ("uly", b.uly),
            ("lrx", b.lrx),
            ("lry", b.lry),
        ] {
            zone.set(k, trunc(v)?);
        }
        let id = zone.get("xml:id").unwrap_or_default().to_owned();
        self.zones.push(zone);
        Ok(id)
    }
}

/// An element of the mapping table with the glyph's pitch, and a zone for box `index` of the
/// glyph (upstream's `create_primitive_element`).
fn primitive(
    template: &Element,
    glyph: &Glyph,
    index: usize,
    surface: &mut Surface,
) -> Result<Element, EncodingError> {
    let mut e = new_element(&template.name);
    let mut attributes = template.attributes.clone();
    let mut put = |k: &str, v: String| match attributes.iter_mut().find(|(key, _)| key == k) {
        Some((_, old)) => *old = v,
        None => attributes.push((k.to_owned(), v)),
    };
    if template.name == "clef" {
        let position = glyph
            .strt_pos
            .as_ref()
            .ok_or_else(|| error(format!("the clef glyph '{}' has no strt_pos", glyph.name)))?;
        let line = py_float(position, "a clef's strt_pos")?;
        put("line", trunc(line)?);
    }
    put("oct", py_str(&glyph.octave));
    put("pname", py_str(&glyph.note));
    for (k, v) in attributes {
        // Upstream leaves out what Python prints as "None" (the pitch of clefs and the like).
        if v != "None" {
            e.set(&k, v);
        }
    }
    let b = match &glyph.divided {
        None => glyph.bbox,
        Some(boxes) => *boxes
            .get(index)
            .ok_or_else(|| error(format!("'{}' has no box {index}", glyph.name)))?,
    };
    let zone = surface.zone(&b)?;
    e.set("facs", format!("#{zone}"));
    Ok(e)
}

/// The pitch of `current` from the pitch of `previous` and `current`'s `@intm` (in scale steps,
/// `"2S"`, `"-1S"`), the octave changing by one when the step crosses c (upstream's
/// `resolve_interval`).
fn resolve_interval(
    previous: &Element,
    current: &Element,
) -> Result<(String, String), EncodingError> {
    // Python's integers do not overflow; i128 with saturation is as good for any real input.
    let interval = current
        .get("intm")
        .and_then(|i| python_int(&i.to_lowercase().replace('s', "")))
        .unwrap_or(0);
    let pname = previous
        .get("pname")
        .ok_or_else(|| error("a neume component before an interval has no pitch name"))?;
    let octave = previous
        .get("oct")
        .and_then(python_int)
        .ok_or_else(|| error("a neume component before an interval has no octave"))?;
    let start = SCALE
        .iter()
        .position(|s| *s == pname)
        .ok_or_else(|| error(format!("pname {pname} is not in the scale {SCALE:?}")))?;
    let end = (start as i128).saturating_add(interval);
    let end_octave = if end >= 7 {
        octave.saturating_add(1)
    } else if end < 0 {
        octave.saturating_sub(1)
    } else {
        octave
    };
    let end = end.rem_euclid(7) as usize;
    Ok((SCALE[end].to_owned(), end_octave.to_string()))
}

/// The MEI of one glyph (upstream's `glyph_to_element`), or `None` when the table has no entry
/// for its classification. A neume's box is divided into slices by the table's widths, one zone
/// per component.
fn glyph_element(
    table: &ClassifierTable,
    glyph: &mut Glyph,
    surface: &mut Surface,
) -> Result<Option<Element>, EncodingError> {
    let Some(entry) = table.get(&glyph.name) else {
        return Ok(None);
    };
    let components: Vec<&Element> = entry.mei.elements().collect();
    if components.is_empty() {
        return primitive(&entry.mei, glyph, 0, surface).map(Some);
    }
    if entry.width.is_empty() {
        return Err(error(format!(
            "the mapping table's width of '{}' has no digits",
            glyph.name
        )));
    }
    let b = glyph.bbox;
    let slice = (b.lrx - b.ulx) / entry.width.len() as f64;
    let mut boxes = Vec::new();
    for (i, &count) in entry.width.iter().enumerate() {
        for _ in 0..count {
            // Upstream's slices: the right edge is measured from the glyph's right edge and
            // the bottom is the top; kept, as the MEI it encodes has these zones.
            boxes.push(Bbox {
                ulx: b.ulx + i as f64 * slice,
                uly: b.uly,
                lrx: b.lrx + (i + 1) as f64 * slice,
                lry: b.uly,
            });
        }
    }
    let count = boxes.len();
    glyph.divided = Some(boxes);
    let mut children = Vec::new();
    // Components beyond the widths' count are left out, as upstream does.
    for (i, nc) in components.into_iter().enumerate().take(count) {
        children.push(primitive(nc, glyph, i, surface)?);
    }
    for i in 1..children.len() {
        let (pname, octave) = resolve_interval(&children[i - 1], &children[i])?;
        let nc = &mut children[i];
        nc.set("pname", pname);
        nc.set("oct", octave);
        nc.remove("intm");
    }
    let mut parent = new_element(&entry.mei.name);
    parent.children = children.into_iter().map(Node::Element).collect();
    Ok(Some(parent))
}

/// A custos takes the pitch of the first neume after a clef that comes within five glyphs of
/// it; otherwise it keeps its own (upstream's `get_custos_pitch_heuristic`).
fn custos_pitch(glyphs: &[Glyph], all: &[usize], custos: usize) -> (Value, Value) {
    let own = (glyphs[custos].note.clone(), glyphs[custos].octave.clone());
    let Some(at) = all.iter().position(|&g| glyphs[g] == glyphs[custos]) else {
        return own;
    };
    let next =
        |from: usize, kind: &str| (from..all.len()).find(|&k| glyphs[all[k]].name.contains(kind));
    let Some(clef) = next(at + 1, "clef") else {
        return own;
    };
    if clef - at > 5 {
        return own;
    }
    match next(clef + 1, "neume") {
        Some(k) => (glyphs[all[k]].note.clone(), glyphs[all[k]].octave.clone()),
        None => own,
    }
}

fn staff_box(staves: &[Bbox], staff: i64) -> Result<&Bbox, EncodingError> {
    usize::try_from(staff)
        .ok()
        .and_then(|s| staves.get(s))
        .ok_or_else(|| error(format!("the page has no staff {}", i128::from(staff) + 1)))
}

/// The layer's content and the surface's zones (upstream's `build_mei` without the skeleton).
fn build_layer(
    glyphs: &mut [Glyph],
    pairs: &[(Vec<usize>, SylBox)],
    table: &ClassifierTable,
    staves: &[Bbox],
    columns: Option<&Columns>,
    surface: &mut Surface,
    surface_id: &str,
) -> Result<Vec<Element>, EncodingError> {
    let mut layer = Vec::new();
    let mut pb = new_element("pb");
    pb.set("n", "1");
    pb.set("facs", format!("#{surface_id}"));
    layer.push(pb);
    let first_staff = staves
        .first()
        .ok_or_else(|| error("the pitch-finding JSON has no staves"))?;
    let column_boxes = columns.map(|c| c.boxes(staves)).unwrap_or_default();
    if columns.is_some() {
        let first = column_boxes
            .first()
            .ok_or_else(|| error("no column holds a staff"))?;
        let mut cb = new_element("cb");
        cb.set("n", "1");
        cb.set("facs", format!("#{}", surface.zone(first)?));
        layer.push(cb);
    }
    let mut sb = new_element("sb");
    sb.set("facs", format!("#{}", surface.zone(first_staff)?));
    sb.set("n", "1");
    layer.push(sb);

    let all: Vec<usize> = pairs.iter().flat_map(|(g, _)| g.iter().copied()).collect();
    for (members, syl) in pairs {
        let mut b = syl.bbox;
        if let Some(c) = columns {
            b = c.translate(b, c.column_of(&b));
        }
        let zone = surface.zone(&b)?;
        let mut machine = SylMachine::new(&syl.syl, &zone);
        let last_neume = members
            .iter()
            .rposition(|&g| glyphs[g].name.contains("neume"))
            .unwrap_or(0);
        for (i, &g) in members.iter().enumerate() {
            if glyphs[g].name == "custos" {
                let (note, octave) = custos_pitch(glyphs, &all, g);
                glyphs[g].note = note;
                glyphs[g].octave = octave;
            }
            // Upstream skips the rest for a glyph the table lacks, system breaks included.
            let Some(element) = glyph_element(table, &mut glyphs[g], surface)? else {
                continue;
            };
            if i <= last_neume {
                machine.read(element);
            } else {
                machine.read_outside_syllable(element);
            }
            let glyph = &glyphs[g];
            if columns.is_some() && glyph.column_begin {
                let b = column_boxes
                    .get(glyph.column)
                    .ok_or_else(|| error(format!("no staff lies in column {}", glyph.column)))?;
                let mut cb = new_element("cb");
                cb.set("n", (glyph.column + 1).to_string());
                cb.set("facs", format!("#{}", surface.zone(b)?));
                machine.read(cb);
            }
            if glyph.system_begin {
                let next = glyph.staff.saturating_add(1);
                let zone = surface.zone(staff_box(staves, next)?)?;
                let mut sb = new_element("sb");
                sb.set("facs", format!("#{zone}"));
                sb.set("n", (i128::from(next) + 1).to_string());
                machine.read(sb);
            }
        }
        layer.extend(machine.into_layer());
    }
    Ok(layer)
}

/// Merges consecutive neumes of a syllable whose gap is at most `width_mult` times the median
/// zone width (upstream's `merge_nearby_neume_components`): the later neumes' components move
/// into the first neume of the run.
fn merge_nearby_neumes(layer: &mut [Element], zones: &[Element], width_mult: f64) {
    let mut boxes: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut widths = Vec::new();
    for z in zones {
        let coordinate = |k: &str| z.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let (ulx, lrx) = (coordinate("ulx"), coordinate("lrx"));
        boxes.insert(z.get("xml:id").unwrap_or_default(), (ulx, lrx));
        widths.push((lrx - ulx) as f64);
    }
    let limit = median(&mut widths) * width_mult;
    let bound = |neume: &Element, right: bool| {
        let edges = neume.elements().filter_map(|nc| {
            let id = nc.get("facs")?.strip_prefix('#')?;
            boxes.get(id).map(|&(l, r)| if right { r } else { l })
        });
        if right { edges.max() } else { edges.min() }
    };
    let close = |left: &Element, right: &Element| {
        if left.name != "neume" || right.name != "neume" {
            return false;
        }
        match (bound(left, true), bound(right, false)) {
            (Some(r), Some(l)) => ((l - r) as f64) <= limit,
            _ => false,
        }
    };
    for syllable in layer.iter_mut().filter(|e| e.name == "syllable") {
        let n = syllable.children.len();
        let element = |nodes: &[Node], i: usize| match nodes.get(i) {
            Some(Node::Element(e)) => Some(e.clone()),
            _ => None,
        };
        let mut merged_away = Vec::new();
        let mut run: Option<(usize, Vec<usize>)> = None;
        for i in 0..n {
            let next_close = match (
                element(&syllable.children, i),
                element(&syllable.children, i + 1),
            ) {
                (Some(a), Some(b)) => close(&a, &b),
                _ => false,
            };
            if next_close {
                run.get_or_insert((i, Vec::new())).1.push(i + 1);
                continue;
            }
            if let Some((target, members)) = run.take() {
                let moved: Vec<Node> = members
                    .iter()
                    .filter_map(|&m| match syllable.children.get(m) {
                        Some(Node::Element(e)) => Some(e.children.clone()),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                if let Some(Node::Element(t)) = syllable.children.get_mut(target) {
                    t.children.extend(moved);
                }
                merged_away.extend(members);
            }
        }
        merged_away.sort_unstable();
        for i in merged_away.into_iter().rev() {
            syllable.children.remove(i);
        }
    }
}

/// numpy's median: the middle value, or the mean of the two middle values; NaN when empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The document's skeleton around the surface's zones and the layer's content (upstream's
/// `generate_base_document`).
fn document(
    surface: Element,
    layer: Vec<Element>,
    columns: Option<&Columns>,
    column_count: usize,
) -> Element {
    fn with(mut e: Element, children: Vec<Element>) -> Element {
        e.children.extend(children.into_iter().map(Node::Element));
        e
    }
    let mut mei = new_element("mei");
    mei.set("xmlns", MEI_NS);
    mei.set("meiversion", MEI_VERSION);
    let mut title = new_element("title");
    title
        .children
        .push(Node::Text("MEI Encoding Output (1.0.0)".into()));
    let head = with(
        new_element("meiHead"),
        vec![with(
            new_element("fileDesc"),
            vec![
                with(new_element("titleStmt"), vec![title]),
                new_element("pubStmt"),
            ],
        )],
    );
    let mut staff_def = new_element("staffDef");
    for (k, v) in [
        ("n", "1"),
        ("lines", "4"),
        ("notationtype", "neume"),
        ("clef.line", "3"),
        ("clef.shape", "C"),
    ] {
        staff_def.set(k, v);
    }
    let score_def = with(
        new_element("scoreDef"),
        vec![with(new_element("staffGrp"), vec![staff_def])],
    );
    let mut score_children = vec![score_def];
    if columns.is_some() {
        let mut col_layout = new_element("colLayout");
        col_layout.set("cols", column_count.to_string());
        score_children.push(col_layout);
    }
    let section = with(
        new_element("section"),
        vec![with(
            new_element("staff"),
            vec![with(new_element("layer"), layer)],
        )],
    );
    score_children.push(section);
    let body = with(
        new_element("body"),
        vec![with(
            new_element("mdiv"),
            vec![with(new_element("score"), score_children)],
        )],
    );
    let music = with(
        new_element("music"),
        vec![with(new_element("facsimile"), vec![surface]), body],
    );
    with(mei, vec![head, music])
}

fn syl_boxes(syls: &Value) -> Result<(Vec<SylBox>, f64), EncodingError> {
    let what = "the text alignment JSON";
    let boxes = field(syls, "syl_boxes", what)?;
    let spacing = field(syls, "median_line_spacing", what)?;
    let boxes = match boxes {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        other => return Err(error(format!("syl_boxes is not a list: {other}"))),
    };
    let mut out = Vec::new();
    for (i, b) in boxes.iter().enumerate() {
        let what = format!("syllable box {i}");
        let point = |k: &str| -> Result<(f64, f64), EncodingError> {
            let p = field(b, k, &what)?;
            let c = |j: usize| number(p.get(j).unwrap_or(&Value::Null), &format!("{what}'s {k}"));
            Ok((c(0)?, c(1)?))
        };
        let ((ulx, uly), (lrx, lry)) = (point("ul")?, point("lr")?);
        let syl = match field(b, "syl", &what)? {
            Value::String(s) => s.clone(),
            other => py_str(other),
        };
        out.push(SylBox {
            syl,
            bbox: Bbox { ulx, uly, lrx, lry },
        });
    }
    let spacing = if out.is_empty() {
        0.0
    } else {
        number(spacing, "median_line_spacing")?
    };
    Ok((out, spacing))
}

/// The MEI document (its root) of a page: `jsomr` is the pitch-finding JSON, `syls` the text
/// alignment JSON if given, `split` the column-splitting data if given, `width_mult` the 'Neume
/// Component Spacing' setting (0 merges no neumes).
pub fn encode(
    jsomr: &Value,
    syls: Option<&Value>,
    table: &ClassifierTable,
    width_mult: f64,
    split: Option<&Value>,
) -> Result<Element, EncodingError> {
    let what = "the pitch-finding JSON";
    let mut staves = field(jsomr, "staves", what)?
        .as_array()
        .ok_or_else(|| error("staves is not a list"))?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let what = format!("staff {}", i + 1);
            pitch_box(field(s, "bounding_box", &what)?, &what).map(|(b, _, _)| b)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut glyphs = field(jsomr, "glyphs", what)?
        .as_array()
        .ok_or_else(|| error("glyphs is not a list"))?
        .iter()
        .enumerate()
        .map(|(i, g)| Glyph::from_json(g, i))
        .collect::<Result<Vec<_>, _>>()?;
    let (page, _, _) = pitch_box(
        field(field(jsomr, "page", what)?, "bounding_box", "the page")?,
        "the page's box",
    )?;
    let (boxes, spacing) = match syls {
        Some(s) if !s.is_null() => syl_boxes(s)?,
        _ => (Vec::new(), 0.0),
    };

    add_flags(&mut glyphs);
    let pairs = align(&glyphs, &boxes, spacing);
    let columns = match split {
        Some(s) if !s.is_null() => Some(Columns::from_json(s, &staves)?),
        _ => None,
    };
    if let Some(c) = &columns {
        c.place(&mut glyphs, &mut staves)?;
    }

    let mut surface_element = new_element("surface");
    let surface_id = surface_element.get("xml:id").unwrap_or_default().to_owned();
    let mut surface = Surface::default();
    let mut layer = build_layer(
        &mut glyphs,
        &pairs,
        table,
        &staves,
        columns.as_ref(),
        &mut surface,
        &surface_id,
    )?;
    let (lrx, lry) = match &columns {
        Some(c) => (c.width, c.height),
        None => (page.lrx, page.lry),
    };
    for (k, v) in [
        ("lry", lry),
        ("lrx", lrx),
        ("ulx", page.ulx),
        ("uly", page.uly),
    ] {
        surface_element.set(k, trunc(v)?);
    }
    if width_mult > 0.0 {
        merge_nearby_neumes(&mut layer, &surface.zones, width_mult);
    }
    // Upstream's `removeEmptySyl`: syllables holding only their <syl>. (Upstream tests for
    // attributes named xml:precedes / xml:follows, which never exist; these are meant.)
    layer.retain(|e| {
        let only_syl = e.name == "syllable"
            && e.children.len() == 1
            && e.elements().next().is_some_and(|c| c.name == "syl");
        !(only_syl && e.get("precedes").is_none() && e.get("follows").is_none())
    });
    surface_element.children = surface.zones.into_iter().map(Node::Element).collect();
    let column_count = columns.as_ref().map_or(0, |c| c.lefts.len());
    Ok(document(
        surface_element,
        layer,
        columns.as_ref(),
        column_count,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn glyph(name: &str, staff: u32, ulx: i64, uly: i64, note: &str, octave: &str) -> Value {
        json!({
            "glyph": {"bounding_box": {"ncols": 20, "nrows": 20, "ulx": ulx, "uly": uly},
                      "state": "MANUAL", "name": name},
            "pitch": {"staff": staff.to_string(), "offset": ulx.to_string(), "strt_pos": "3",
                      "note": note, "octave": octave, "clef_pos": "None", "clef": "None"}
        })
    }

    fn table() -> ClassifierTable {
        ClassifierTable::from_csv(
            "classification,width,mei\n\
             clef.c,1,\"<clef shape=\"\"C\"\"/>\"\n\
             custos,1,<custos/>\n\
             neume.punctum,1,<neume><nc/></neume>\n\
             neume.clivis3,\"[1, 1]\",\"<neume><nc tilt=\"\"n\"\"/><nc intm=\"\"-2S\"\"/></neume>\"\n\
             neume.scandicus,\"[1, 2]\",\"<neume><nc/><nc intm=\"\"1S\"\"/><nc intm=\"\"1S\"\"/></neume>\"\n",
        )
        .expect("the table reads")
    }

    fn page(glyphs: Vec<Value>) -> Value {
        json!({
            "page": {"resolution": 0.0, "bounding_box": {"ncols": 1000, "nrows": 800, "ulx": 0, "uly": 0}},
            "staves": [
                {"staff_no": 1, "bounding_box": {"ncols": 900, "nrows": 100, "ulx": 50, "uly": 100}},
                {"staff_no": 2, "bounding_box": {"ncols": 900, "nrows": 100, "ulx": 50, "uly": 400}}
            ],
            "glyphs": glyphs
        })
    }

    fn layer_of(root: &Element) -> &Element {
        root.descendants()
            .into_iter()
            .find(|e| e.name == "layer")
            .expect("a layer")
    }

    fn summary(e: &Element) -> String {
        let mut s = e.name.clone();
        for k in ["pname", "oct", "line", "n", "precedes"] {
            if let Some(v) = e.get(k) {
                s.push_str(&format!(" {k}={}", if k == "precedes" { "#" } else { v }));
            }
        }
        if let Some(t) = e.text() {
            s.push_str(&format!(" '{t}'"));
        }
        let inner: Vec<String> = e.elements().map(summary).collect();
        if !inner.is_empty() {
            s.push_str(&format!(" [{}]", inner.join(", ")));
        }
        s
    }

    #[test]
    fn intervals_resolve_across_octaves() {
        let nc = |p: &str, o: &str, intm: Option<&str>| {
            let mut e = Element::new("nc");
            e.set("pname", p);
            e.set("oct", o);
            if let Some(i) = intm {
                e.set("intm", i);
            }
            e
        };
        let r = |a: &Element, b: &Element| resolve_interval(a, b).expect("resolves");
        assert_eq!(
            r(&nc("b", "2", None), &nc("x", "x", Some("1S"))),
            ("c".into(), "3".into())
        );
        assert_eq!(
            r(&nc("d", "3", None), &nc("x", "x", Some("-2S"))),
            ("b".into(), "2".into())
        );
        assert_eq!(
            r(&nc("e", "3", None), &nc("x", "x", Some("junk"))),
            ("e".into(), "3".into())
        );
        assert!(resolve_interval(&Element::new("nc"), &nc("c", "3", None)).is_err());
        // Huge values do not overflow.
        let huge = nc("x", "x", Some("170141183460469231731687303715884105727S"));
        assert_eq!(r(&nc("c", "3", None), &huge).1, "4");
    }

    #[test]
    fn without_text_each_staff_is_one_syllable_with_breaks_custos_pitch_and_intervals() {
        let jsomr = page(vec![
            glyph("clef.c", 1, 60, 120, "None", "None"),
            glyph("neume.clivis3", 1, 200, 130, "d", "3"),
            glyph("custos", 1, 900, 150, "g", "2"),
            glyph("clef.c", 2, 60, 420, "None", "None"),
            glyph("neume.scandicus", 2, 300, 430, "a", "2"),
        ]);
        let root = encode(&jsomr, None, &table(), 0.0, None).expect("encodes");
        let layer = layer_of(&root);
        let got: Vec<String> = layer.elements().map(summary).collect();
        assert_eq!(
            got,
            [
                "pb n=1",
                "sb n=1",
                "clef line=3",
                "syllable [syl, neume [nc pname=d oct=3, nc pname=b oct=2]]",
                // The custos takes the pitch of the first neume after the next clef.
                "custos pname=a oct=2",
                "sb n=2",
                "clef line=3",
                "syllable [syl, neume [nc pname=a oct=2, nc pname=b oct=2, nc pname=c oct=3]]",
            ]
        );
        // A zone per box: two staves, two dummy syllables, eight glyph boxes (a clivis has
        // two, a scandicus three).
        let surface = root
            .descendants()
            .into_iter()
            .find(|e| e.name == "surface")
            .expect("a surface");
        assert_eq!(surface.elements().count(), 12);
        assert_eq!(
            (surface.get("lrx"), surface.get("lry")),
            (Some("1000"), Some("800"))
        );
    }

    #[test]
    fn syllables_anchor_at_the_leftmost_glyph_above_them_and_nearby_neumes_merge() {
        let jsomr = page(vec![
            glyph("clef.c", 1, 60, 120, "None", "None"),
            glyph("neume.punctum", 1, 200, 130, "c", "3"),
            glyph("neume.punctum", 1, 225, 130, "d", "3"),
            glyph("neume.punctum", 1, 500, 130, "e", "3"),
        ]);
        let syls = json!({"median_line_spacing": 300.0, "syl_boxes": [
            {"syl": "Ky", "ul": [190, 220], "lr": [260, 260]},
            {"syl": "ri", "ul": [480, 220], "lr": [560, 260]},
            {"syl": "e", "ul": [900, 220], "lr": [960, 260]}
        ]});
        let root = encode(&jsomr, Some(&syls), &table(), 1.0, None).expect("encodes");
        let got: Vec<String> = layer_of(&root).elements().map(summary).collect();
        // The clef before the first anchor goes to a syllable without text, which never enters
        // the layer. "e" finds no glyph, so it starts where "ri" does and "ri" is left empty
        // and dropped: upstream gives the last glyph to "e".
        assert_eq!(
            got,
            [
                "pb n=1",
                "sb n=1",
                "clef line=3",
                "syllable [syl 'Ky', neume [nc pname=c oct=3, nc pname=d oct=3]]",
                "syllable [syl 'e', neume [nc pname=e oct=3]]",
            ]
        );
        // Merging off: the two close neumes stay apart.
        let root = encode(&jsomr, Some(&syls), &table(), 0.0, None).expect("encodes");
        let got: Vec<String> = layer_of(&root).elements().map(summary).collect();
        assert_eq!(
            got[3],
            "syllable [syl 'Ky', neume [nc pname=c oct=3], neume [nc pname=d oct=3]]"
        );
    }

    #[test]
    fn columns_move_boxes_back_and_add_column_breaks() {
        // Two stacked columns of height 300: staves 2 and 3 (uly 400, 550) are in column 2.
        let mut jsomr = page(vec![
            glyph("neume.punctum", 1, 200, 130, "c", "3"),
            glyph("neume.punctum", 2, 600, 430, "d", "3"),
            glyph("neume.punctum", 3, 300, 580, "e", "3"),
        ]);
        jsomr["staves"]
            .as_array_mut()
            .expect("staves")
            .push(json!({"bounding_box": {"ncols": 900, "nrows": 100, "ulx": 50, "uly": 550}}));
        let split =
            json!({"width": 2000, "height": 300, "split_ranges": [[0, 1000], [1000, 2000]]});
        let root = encode(&jsomr, None, &table(), 0.0, Some(&split)).expect("encodes");
        let got: Vec<String> = layer_of(&root).elements().map(summary).collect();
        assert_eq!(
            got,
            [
                "pb n=1",
                "cb n=1",
                "sb n=1",
                "syllable [syl, neume [nc pname=c oct=3]]",
                "sb n=2",
                // Upstream flags the column's start on the last glyph of its first staff.
                "syllable [syl, neume [nc pname=d oct=3]]",
                "cb n=2",
                "sb n=3",
                "syllable [syl, neume [nc pname=e oct=3]]",
            ]
        );
        let zones: Vec<(String, String)> = root
            .descendants()
            .into_iter()
            .filter(|e| e.name == "zone")
            .map(|z| {
                let g = |k| z.get(k).unwrap_or_default().to_owned();
                (g("ulx"), g("uly"))
            })
            .collect();
        // The second glyph's zone: x + 1000, y - 300.
        assert!(zones.contains(&("1600".into(), "130".into())), "{zones:?}");
        let col_layout = root
            .descendants()
            .into_iter()
            .find(|e| e.name == "colLayout")
            .and_then(|e| e.get("cols").map(str::to_owned));
        assert_eq!(col_layout.as_deref(), Some("2"));
    }

    #[test]
    fn inputs_without_what_the_encoder_reads_are_errors() {
        let t = table();
        assert!(encode(&json!({}), None, &t, 0.5, None).is_err());
        let mut no_staves = page(vec![]);
        no_staves["staves"] = json!([]);
        assert!(encode(&no_staves, None, &t, 0.5, None).is_err());
        let bad_glyph = page(vec![json!({"glyph": {}, "pitch": {}})]);
        assert!(encode(&bad_glyph, None, &t, 0.5, None).is_err());
    }
}
