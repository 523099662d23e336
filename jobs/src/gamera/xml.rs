//! GameraXML, the glyph format of Gamera's classifiers (`gamera_xml.py`, format version 2.0):
//! read as `glyphs_from_xml` / `LoadXML` read it, and written with the layout of
//! `WriteXMLFile(glyphs, with_features).write_filename()` (Gamera's `word_wrap` at column 78,
//! two spaces an indent), so that files compare line for line with Gamera's.
//!
//! Markup is read and serialised by `quick-xml`; only the line layout is Gamera's own.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::Writer;
use quick_xml::events::{BytesStart, Event};

use super::segmentation::{Component, Labelled};
use super::{BLACK, Plane, WHITE};
use crate::pyjson::float_repr;

/// The version `WriteXMLFile` writes.
pub const FORMAT_VERSION: &str = "2.0";

/// How a glyph got its class (Gamera's `classification_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Not classified.
    #[default]
    Unclassified,
    /// Classified by a person.
    Manual,
    /// Classified by a heuristic (a group found by the grouping algorithm, a split part).
    Heuristic,
    /// Classified by the classifier.
    Automatic,
}

impl State {
    /// Gamera's name of the state, as written in `<ids state="...">`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unclassified => "UNCLASSIFIED",
            Self::Manual => "MANUAL",
            Self::Heuristic => "HEURISTIC",
            Self::Automatic => "AUTOMATIC",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Self::Unclassified,
            Self::Manual,
            Self::Heuristic,
            Self::Automatic,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One glyph: a one-bit image placed on its page, its class names and features.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    /// Left column on the page.
    pub ul_x: usize,
    /// Top row on the page.
    pub ul_y: usize,
    /// The glyph's pixels over its bounding box ([`BLACK`] or [`WHITE`]); its size is
    /// `ncols` × `nrows`.
    pub image: Plane<u8>,
    /// How it was classified.
    pub state: State,
    /// `(class name, confidence)` pairs as Gamera's `id_name` holds them: best first where a
    /// classifier set them; as [`parse`] read them, in `LoadXML`'s order (ascending
    /// `(confidence, name)`, so the least confident first).
    pub ids: Vec<(String, f64)>,
    /// `<features scaling="...">`.
    pub scaling: f64,
    /// Feature name → values, in Gamera's feature order; empty when none were computed.
    pub features: Vec<(String, Vec<f64>)>,
    /// `<property name type>` values as written (name, Python type name, text), name order.
    pub properties: Vec<(String, String, String)>,
}

impl Glyph {
    /// An unclassified glyph of `image` at (`ul_x`, `ul_y`).
    pub fn new(ul_x: usize, ul_y: usize, image: Plane<u8>) -> Self {
        Self {
            ul_x,
            ul_y,
            image,
            state: State::Unclassified,
            ids: Vec::new(),
            scaling: 1.0,
            features: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// The glyph of connected component `c` of `labelled`: its pixels only (other components
    /// inside its box are white), as Gamera's CCs share the labelled image.
    pub fn from_component(labelled: &Labelled, c: &Component) -> Self {
        let mut image = Plane::new(c.ncols, c.nrows, WHITE);
        for y in 0..c.nrows {
            for x in 0..c.ncols {
                if labelled.labels.get(c.ul_x + x, c.ul_y + y) == c.label {
                    image.set(x, y, BLACK);
                }
            }
        }
        Self::new(c.ul_x, c.ul_y, image)
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.image.height()
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.image.width()
    }

    /// The first class name, as Gamera's `get_main_id()` (`UNCLASSIFIED` without one): the best
    /// of a classifier's answer, the least confident of a glyph read from a file.
    pub fn main_id(&self) -> &str {
        self.ids.first().map_or("UNCLASSIFIED", |(name, _)| name)
    }

    /// The confidence of the [`main_id`](Self::main_id) (0 without one).
    pub fn main_confidence(&self) -> f64 {
        self.ids.first().map_or(0.0, |&(_, c)| c)
    }

    /// Gamera's `to_rle`: alternating white and black run lengths over the box in row-major
    /// order, white first, each followed by a space; a white last run is followed by `0 `.
    pub fn to_rle(&self) -> String {
        let mut out = String::new();
        let mut black = false;
        let mut run = 0usize;
        for &p in self.image.pixels() {
            let is_black = p != WHITE;
            if is_black != black {
                let _ = write!(out, "{run} ");
                black = is_black;
                run = 0;
            }
            run += 1;
        }
        let _ = write!(out, "{run} ");
        if !black {
            out.push_str("0 ");
        }
        out
    }
}

/// A GameraXML document: its symbol table and glyphs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Database {
    /// `<symbols>`: class names known to a classifier, also when no glyph has them.
    pub symbols: Vec<String>,
    /// `<glyphs>`, in file order.
    pub glyphs: Vec<Glyph>,
}

/// Why a GameraXML document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read GameraXML: {0}")]
pub struct XmlError(String);

fn err(message: impl Into<String>) -> XmlError {
    XmlError(message.into())
}

impl From<XmlError> for crate::job::JobError {
    fn from(e: XmlError) -> Self {
        crate::job::JobError::bad_input(
            "the input is not a GameraXML file this job can read",
            e.to_string(),
        )
    }
}

/// Reads a GameraXML document as `LoadXML().parse_string` does: glyphs with their position,
/// RLE pixels, class names and confidences, state, scaling, features (Gamera itself recomputes
/// features rather than reading them; they are kept here for who needs them) and properties.
pub fn parse(text: &[u8]) -> Result<Database, XmlError> {
    let mut reader = quick_xml::Reader::from_reader(text);
    let mut buf = Vec::new();
    let mut db = Database::default();
    let mut seen_root = false;
    let mut glyph: Option<PartialGlyph> = None;
    let mut text_target: Option<TextTarget> = None;
    let mut text_buf = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| err(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name();
                match name.as_ref() {
                    "gamera-database" => {
                        seen_root = true;
                    }
                    "symbol" => {
                        db.symbols.push(attr(e, "name", "symbol")?.into_owned());
                    }
                    "glyph" => {
                        let get = |key| -> Result<usize, XmlError> {
                            let v = attr(e, key, "glyph")?;
                            v.trim().parse().map_err(|_| {
                                err(format!("<glyph {key}=\"{v}\"> is not a whole number"))
                            })
                        };
                        glyph = Some(PartialGlyph {
                            ul_y: get("uly")?,
                            ul_x: get("ulx")?,
                            nrows: get("nrows")?,
                            ncols: get("ncols")?,
                            state: State::Unclassified,
                            ids: Vec::new(),
                            scaling: 1.0,
                            rle: String::new(),
                            features: Vec::new(),
                            properties: Vec::new(),
                        });
                    }
                    "ids" => {
                        let g = in_glyph(&mut glyph, "ids")?;
                        if let Some(state) = opt_attr(e, "state")? {
                            g.state = State::from_name(&state).ok_or_else(|| {
                                err(format!("unknown classification state '{state}'"))
                            })?;
                        }
                    }
                    "id" => {
                        let name = attr(e, "name", "id")?.into_owned();
                        let confidence = match opt_attr(e, "confidence")? {
                            Some(c) => c.trim().parse().map_err(|_| {
                                err(format!("<id confidence=\"{c}\"> is not a number"))
                            })?,
                            None => 1.0,
                        };
                        in_glyph(&mut glyph, "id")?.ids.push((name, confidence));
                    }
                    "features" => {
                        let g = in_glyph(&mut glyph, "features")?;
                        if let Some(s) = opt_attr(e, "scaling")? {
                            g.scaling = s.trim().parse().map_err(|_| {
                                err(format!("<features scaling=\"{s}\"> is not a number"))
                            })?;
                        }
                    }
                    "feature" if !empty => {
                        let name = attr(e, "name", "feature")?.into_owned();
                        in_glyph(&mut glyph, "feature")?;
                        text_target = Some(TextTarget::Feature(name));
                        text_buf.clear();
                    }
                    "data" if !empty => {
                        in_glyph(&mut glyph, "data")?;
                        text_target = Some(TextTarget::Data);
                        text_buf.clear();
                    }
                    "property" => {
                        let name = attr(e, "name", "property")?.into_owned();
                        let kind = attr(e, "type", "property")?.into_owned();
                        in_glyph(&mut glyph, "property")?;
                        if empty {
                            if let Some(g) = glyph.as_mut() {
                                g.properties.push((name, kind, String::new()));
                            }
                        } else {
                            text_target = Some(TextTarget::Property(name, kind));
                            text_buf.clear();
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if text_target.is_some() => {
                text_buf.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if text_target.is_some() => {
                let name = r.xml10_content();
                match r.resolve_char_ref() {
                    Ok(Some(c)) => text_buf.push(c),
                    Ok(None) => text_buf.push_str(
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| err(format!("unknown entity &{name};")))?,
                    ),
                    Err(e) => return Err(err(format!("bad character reference &{name};: {e}"))),
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "feature" | "data" | "property" => {
                    let g = in_glyph(&mut glyph, "data")?;
                    match text_target.take() {
                        Some(TextTarget::Data) => g.rle.push_str(&text_buf),
                        Some(TextTarget::Feature(name)) => {
                            let values = text_buf
                                .split_whitespace()
                                .map(|v| {
                                    v.parse::<f64>().map_err(|_| {
                                        err(format!("feature {name} holds '{v}', not a number"))
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            g.features.push((name, values));
                        }
                        Some(TextTarget::Property(name, kind)) => {
                            g.properties.push((name, kind, text_buf.clone()));
                        }
                        None => {}
                    }
                }
                "glyph" => {
                    let g = glyph
                        .take()
                        .ok_or_else(|| err("</glyph> without <glyph>"))?;
                    db.glyphs.push(g.finish()?);
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(err("no <gamera-database> element"));
    }
    if glyph.is_some() {
        return Err(err("the document ends inside a <glyph>"));
    }
    Ok(db)
}

/// Reads the GameraXML file at `path`; a file that is not GameraXML is bad input.
pub fn read_file(path: &std::path::Path) -> Result<Database, crate::job::JobError> {
    let bytes = crate::limits::read_text_input(path, "the GameraXML input")?;
    Ok(parse(&bytes)?)
}

enum TextTarget {
    Data,
    Feature(String),
    Property(String, String),
}

struct PartialGlyph {
    ul_x: usize,
    ul_y: usize,
    nrows: usize,
    ncols: usize,
    state: State,
    ids: Vec<(String, f64)>,
    scaling: f64,
    rle: String,
    features: Vec<(String, Vec<f64>)>,
    properties: Vec<(String, String, String)>,
}

/// The largest right or bottom edge of a glyph read (`i32::MAX`, as no page is larger).
const MAX_COORD: usize = i32::MAX as usize;

impl PartialGlyph {
    fn finish(self) -> Result<Glyph, XmlError> {
        // Coordinates past 2^31 reach no page, and would overflow where jobs add a glyph's
        // size to its corner or multiply coordinates.
        let beyond = |ul: usize, len: usize| ul.checked_add(len).is_none_or(|e| e > MAX_COORD);
        if beyond(self.ul_x, self.ncols) || beyond(self.ul_y, self.nrows) {
            return Err(err(format!(
                "a glyph at ({}, {}) of {}x{} reaches beyond {MAX_COORD} pixels",
                self.ul_x, self.ul_y, self.ncols, self.nrows
            )));
        }
        let size = self
            .nrows
            .checked_mul(self.ncols)
            .filter(|&n| n <= 1 << 30)
            .ok_or_else(|| {
                err(format!(
                    "a glyph of {}x{} is too large",
                    self.ncols, self.nrows
                ))
            })?;
        let mut pixels = vec![WHITE; size];
        let mut pos = 0usize;
        for (i, run) in self.rle.split_whitespace().enumerate() {
            let run: usize = run
                .parse()
                .map_err(|_| err(format!("glyph data holds '{run}', not a run length")))?;
            let end = pos.checked_add(run).filter(|&e| e <= size).ok_or_else(|| {
                err(format!(
                    "the glyph data at ({}, {}) runs past its {}x{} box",
                    self.ul_x, self.ul_y, self.ncols, self.nrows
                ))
            })?;
            if i % 2 == 1 {
                pixels[pos..end].fill(BLACK);
            }
            pos = end;
        }
        let image = Plane::from_vec(self.ncols, self.nrows, pixels)
            .ok_or_else(|| err("glyph size mismatch"))?;
        // LoadXML sorts `id_name`, a list of (confidence, name) tuples, ascending.
        let mut ids = self.ids;
        ids.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
        });
        Ok(Glyph {
            ul_x: self.ul_x,
            ul_y: self.ul_y,
            image,
            state: self.state,
            ids,
            scaling: self.scaling,
            features: self.features,
            properties: self.properties,
        })
    }
}

fn in_glyph<'a>(
    glyph: &'a mut Option<PartialGlyph>,
    tag: &str,
) -> Result<&'a mut PartialGlyph, XmlError> {
    glyph
        .as_mut()
        .ok_or_else(|| err(format!("<{tag}> outside a <glyph>")))
}

fn opt_attr<'a>(e: &'a BytesStart<'_>, key: &str) -> Result<Option<Cow<'a, str>>, XmlError> {
    match e.try_get_attribute(key) {
        Ok(Some(a)) => a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(Some)
            .map_err(|x| err(format!("attribute {key}: {x}"))),
        Ok(None) => Ok(None),
        Err(x) => Err(err(format!("attribute {key}: {x}"))),
    }
}

fn attr<'a>(e: &'a BytesStart<'_>, key: &str, tag: &str) -> Result<Cow<'a, str>, XmlError> {
    opt_attr(e, key)?.ok_or_else(|| err(format!("<{tag}> has no {key} attribute")))
}

/// Gamera's `util.word_wrap`: `text` indented by `indent` levels of two spaces, broken at the
/// last space before column 78.
pub fn word_wrap(out: &mut String, text: &str, indent: usize) {
    let indent = indent * 2;
    let width = 78usize.saturating_sub(indent);
    let spaces = " ".repeat(indent);
    let mut p = 0;
    loop {
        out.push_str(&spaces);
        if text.len() - p < width {
            out.push_str(&text[p..]);
            out.push('\n');
            return;
        }
        let window = &text[p..(p + width).min(text.len())];
        match window.rfind(' ') {
            None => {
                out.push_str(&text[p..]);
                out.push('\n');
                return;
            }
            Some(offset) => {
                out.push_str(&text[p..p + offset]);
                out.push('\n');
                p += offset + 1;
            }
        }
    }
}

/// One tag serialised by quick-xml (attribute values escaped), to be laid out by [`word_wrap`].
fn tag(event: Event<'_>) -> String {
    let mut writer = Writer::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_event(event);
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

fn start<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
    let mut e = BytesStart::new(name);
    for &(k, v) in attributes {
        e.push_attribute((k, v));
    }
    e
}

fn end(name: &str) -> String {
    tag(Event::End(quick_xml::events::BytesEnd::new(name)))
}

/// The document `WriteXMLFile(glyphs=..., with_features=...)` writes for `db` (a symbol table is
/// written sorted, as Gamera sorts it).
pub fn write(db: &Database, with_features: bool) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&tag(Event::Start(start(
        "gamera-database",
        &[("version", FORMAT_VERSION)],
    ))));
    out.push('\n');
    if !db.symbols.is_empty() {
        let mut symbols: Vec<&str> = db.symbols.iter().map(String::as_str).collect();
        symbols.sort_unstable();
        word_wrap(&mut out, &tag(Event::Start(start("symbols", &[]))), 1);
        for s in symbols {
            word_wrap(
                &mut out,
                &tag(Event::Empty(start("symbol", &[("name", s)]))),
                2,
            );
        }
        word_wrap(&mut out, &end("symbols"), 1);
    }
    if !db.glyphs.is_empty() {
        word_wrap(&mut out, &tag(Event::Start(start("glyphs", &[]))), 1);
        for g in &db.glyphs {
            write_glyph(&mut out, g, with_features);
        }
        word_wrap(&mut out, &end("glyphs"), 1);
    }
    out.push_str(&end("gamera-database"));
    out.push('\n');
    out
}

fn write_glyph(out: &mut String, g: &Glyph, with_features: bool) {
    let (uly, ulx, nrows, ncols) = (
        g.ul_y.to_string(),
        g.ul_x.to_string(),
        g.nrows().to_string(),
        g.ncols().to_string(),
    );
    let attributes = [
        ("uly", uly.as_str()),
        ("ulx", ulx.as_str()),
        ("nrows", nrows.as_str()),
        ("ncols", ncols.as_str()),
    ];
    word_wrap(out, &tag(Event::Start(start("glyph", &attributes))), 2);
    word_wrap(
        out,
        &tag(Event::Start(start("ids", &[("state", g.state.name())]))),
        3,
    );
    for (name, confidence) in &g.ids {
        let confidence = format!("{confidence:.6}");
        let id = start(
            "id",
            &[("name", name.as_str()), ("confidence", &confidence)],
        );
        word_wrap(out, &tag(Event::Empty(id)), 4);
    }
    word_wrap(out, &end("ids"), 3);
    word_wrap(out, &tag(Event::Start(start("data", &[]))), 3);
    word_wrap(out, &g.to_rle(), 4);
    word_wrap(out, &end("data"), 3);
    if with_features && !g.features.is_empty() {
        let scaling = float_repr(g.scaling);
        word_wrap(
            out,
            &tag(Event::Start(start("features", &[("scaling", &scaling)]))),
            3,
        );
        for (name, values) in &g.features {
            word_wrap(
                out,
                &tag(Event::Start(start("feature", &[("name", name.as_str())]))),
                4,
            );
            let values: Vec<String> = values.iter().map(|&v| float_repr(v)).collect();
            word_wrap(out, &values.join(" "), 5);
            word_wrap(out, &end("feature"), 4);
        }
        word_wrap(out, &end("features"), 3);
    }
    let mut properties: Vec<_> = g.properties.iter().collect();
    properties.sort();
    for (name, kind, value) in properties {
        let mut writer = Writer::new(Vec::new());
        let _ = writer
            .create_element("property")
            .with_attributes([("name", name.as_str()), ("type", kind.as_str())])
            .write_text_content(quick_xml::events::BytesText::new(value));
        word_wrap(out, &String::from_utf8_lossy(&writer.into_inner()), 3);
    }
    word_wrap(out, &end("glyph"), 2);
}

/// The GameraXML document of every component of `labelled`, as upstream's 'CC Analysis' writes
/// it (unclassified glyphs, no features computed).
pub fn glyphs_xml(labelled: &Labelled) -> String {
    let glyphs = labelled
        .components
        .iter()
        .map(|c| Glyph::from_component(labelled, c))
        .collect();
    write(
        &Database {
            symbols: Vec::new(),
            glyphs,
        },
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_wrap_breaks_at_the_last_space_and_leaves_an_empty_line_after_a_trailing_space() {
        let mut out = String::new();
        // Width 78 - 74 = 4.
        word_wrap(&mut out, "ab cd ef", 37);
        assert_eq!(out, format!("{0}ab\n{0}cd\n{0}ef\n", " ".repeat(74)));
        let mut out = String::new();
        // The space that ends the window is the last character: an indented empty line follows.
        word_wrap(&mut out, "abc ", 37);
        assert_eq!(out, format!("{0}abc\n{0}\n", " ".repeat(74)));
        let mut out = String::new();
        word_wrap(&mut out, "abcdef", 37);
        assert_eq!(out, format!("{}abcdef\n", " ".repeat(74)));
    }

    #[test]
    fn no_components_write_no_glyphs_element() {
        let labelled = Labelled {
            labels: super::super::Plane::new(1, 1, 0),
            components: vec![],
        };
        assert_eq!(
            glyphs_xml(&labelled),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<gamera-database version=\"2.0\">\n</gamera-database>\n"
        );
    }

    fn sample() -> Glyph {
        // 3 x 2: . # #
        //        # . .
        let image = Plane::from_vec(3, 2, vec![0, 1, 1, 1, 0, 0]).expect("6 pixels");
        let mut g = Glyph::new(7, 5, image);
        g.state = State::Automatic;
        g.ids = vec![
            (
                "neume.punctum.u2.punctum.u2.punctum.d2.punctum".into(),
                0.5077274,
            ),
            ("clef.c".into(), 0.25),
        ];
        g.features = vec![
            ("area".into(), vec![6.0]),
            ("moments".into(), vec![0.1; 12]),
        ];
        g.properties = vec![("note".into(), "str".into(), "a<b".into())];
        g
    }

    #[test]
    fn a_classified_glyph_is_written_in_gamera_layout_and_reads_back() {
        let db = Database {
            symbols: vec!["z".into(), "a".into()],
            glyphs: vec![sample()],
        };
        let text = write(&db, true);
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<gamera-database version=\"2.0\">
  <symbols>
    <symbol name=\"a\"/>
    <symbol name=\"z\"/>
  </symbols>
  <glyphs>
    <glyph uly=\"5\" ulx=\"7\" nrows=\"2\" ncols=\"3\">
      <ids state=\"AUTOMATIC\">
        <id name=\"neume.punctum.u2.punctum.u2.punctum.d2.punctum\"
        confidence=\"0.507727\"/>
        <id name=\"clef.c\" confidence=\"0.250000\"/>
      </ids>
      <data>
        1 3 2 0 
      </data>
      <features scaling=\"1.0\">
        <feature name=\"area\">
          6.0
        </feature>
        <feature name=\"moments\">
          0.1 0.1 0.1 0.1 0.1 0.1 0.1 0.1 0.1 0.1 0.1 0.1
        </feature>
      </features>
      <property name=\"note\" type=\"str\">a&lt;b</property>
    </glyph>
  </glyphs>
</gamera-database>
";
        assert_eq!(text, expected);
        let back = parse(text.as_bytes()).expect("our own output parses");
        let mut want = db.clone();
        want.glyphs[0].ids[0].1 = 0.507727;
        // Read back in LoadXML's order: ascending (confidence, name).
        want.glyphs[0].ids.reverse();
        want.symbols.sort();
        assert_eq!(back, want);
        assert_eq!(back.glyphs[0].main_id(), "clef.c");
        // Without features, no <features> element.
        assert!(!write(&db, false).contains("<features"));
    }

    #[test]
    fn malformed_documents_are_refused_with_a_reason() {
        let cases: [(&str, &str); 7] = [
            ("<glyphs/>", "no <gamera-database>"),
            (
                "<gamera-database><glyphs><glyph uly=\"1\" ulx=\"a\" nrows=\"1\" ncols=\"1\"></glyph></glyphs></gamera-database>",
                "not a whole number",
            ),
            (
                "<gamera-database><glyphs><glyph uly=\"1\" ulx=\"1\" nrows=\"1\" ncols=\"2\"><data>0 3</data></glyph></glyphs></gamera-database>",
                "runs past",
            ),
            (
                "<gamera-database><glyphs><glyph uly=\"1\" ulx=\"1\" nrows=\"1\" ncols=\"1\"><ids state=\"MAYBE\"/></glyph></glyphs></gamera-database>",
                "unknown classification state",
            ),
            ("<gamera-database><glyphs><glyph", "failed to read"),
            (
                "<gamera-database><glyphs><glyph uly=\"1\" ulx=\"18446744073709551615\" nrows=\"1\" ncols=\"1\"><data>0 1</data></glyph></glyphs></gamera-database>",
                "reaches beyond",
            ),
            (
                "<gamera-database><glyphs><glyph uly=\"2147483647\" ulx=\"0\" nrows=\"1\" ncols=\"1\"><data>0 1</data></glyph></glyphs></gamera-database>",
                "reaches beyond",
            ),
        ];
        for (text, why) in cases {
            let e = parse(text.as_bytes()).expect_err(text);
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_upstream_classified_fixture_reads_with_its_classes_and_features() {
        let shared = std::env::var_os("RODAN_SHARED_DIR").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
            std::path::PathBuf::from,
        );
        let path = shared.join("fixtures/upstream-jobs/files/238r-nic.xml");
        let bytes = std::fs::read(&path).expect("the upstream fixtures are beside the repository");
        let db = parse(&bytes).expect("upstream's NIC output parses");
        assert_eq!(db.glyphs.len(), 1052);
        let g = &db.glyphs[0];
        assert_eq!((g.ul_x, g.ul_y, g.ncols(), g.nrows()), (93, 60, 10, 8));
        assert_eq!(g.state, State::Automatic);
        assert_eq!(g.ids, vec![("skip.dot".to_owned(), 0.507727)]);
        assert_eq!(g.image.pixels().iter().filter(|&&p| p == BLACK).count(), 30);
        assert_eq!(g.features[0], ("area".to_owned(), vec![80.0]));
        assert_eq!(g.features.len(), 16);
    }
}
