//! Resource type detection of uploaded files: upstream's `fileparse` (libmagic 5.44 plus Rodan's
//! own rules), then `create_resource`'s "not a registered type → application/octet-stream" rule.
//!
//! Upstream first asks libmagic for a MIME type, then refines it in Python. Both halves are
//! reproduced here from the file's bytes: the parts of libmagic that decide Rodan's answer (its
//! JSON and CSV recognisers, its text/binary test, and the signatures of PNG, JPEG, JPEG 2000,
//! TIFF, MIDI, ZIP and XML), then Rodan's rules. Where upstream fails instead of answering (its
//! error tuple or a Python exception, which leave the resource typed `application/octet-stream`),
//! the answer is `application/octet-stream`. The one deliberate difference is TIFF: upstream
//! fails on it, here it is `image/tiff`, a built-in type.
//!
//! Not reproduced: libmagic's many other text heuristics (HTML, scripts, source code, PDF text
//! and the like are handled as plain text here; upstream fails on them), EBCDIC text (treated as
//! binary), and the Office Open XML package test beyond the first five entries.

use crate::resource_types::{self, OCTET_STREAM};

/// libmagic looks at no more than this many leading bytes (`FILE_BYTES_MAX`).
const MAGIC_BYTES_MAX: usize = 7 * 1024 * 1024;
/// libmagic decides between text and binary from this many leading bytes (`FILE_ENCODING_MAX`).
const MAGIC_ENCODING_MAX: usize = 64 * 1024;
/// Python's text reader decodes a file this many bytes at a time (`TextIOWrapper._CHUNK_SIZE`).
const PYTHON_TEXT_CHUNK: usize = 8192;

const JSON: &str = "application/json";
const ZIP: &str = "application/zip";
const MIDI: &str = "application/midi";
const PLAIN: &str = "text/plain";
const CSV: &str = "text/csv";
const ONEBIT_PNG: &str = "image/onebit+png";
const GREY16_PNG: &str = "image/grey16+png";
const RGB_PNG: &str = "image/rgb+png";
const RGBA_PNG: &str = "image/rgba+png";
const RGB_JPG: &str = "image/rgb+jpg";
const JP2: &str = "image/jp2";
const TIFF: &str = "image/tiff";
const GAMERA_XML: &str = "application/gamera+xml";
const ACE_XML: &str = "application/ace+xml";
const MEI_XML: &str = "application/mei+xml";
// Upstream's spelling; never registered, so `detect` turns it into octet-stream.
const MUSCXML: &str = "application/x-muscxml+xml";
const GAMERA_POLYGONS: &str = "application/gamera-polygons+txt";
const ARFF: &str = "application/arff";
const ARFF_CSV: &str = "application/arff+csv";
const OCROPUS: &str = "application/ocropus+pyrnn";
const KERAS: &str = "keras/model+hdf5";

/// The Rodan resource type of a file, as upstream gives it to an upload whose type is not
/// claimed: [`fileparse`], then `application/octet-stream` for a type that is not registered.
///
/// Pass the whole file. Binary formats are decided by their first few hundred bytes, but the
/// text rules read every line (the CSV test and the XML test decode the whole file as UTF-8, as
/// upstream's Python does), and libmagic's JSON test reads up to 7 MiB.
pub fn detect(bytes: &[u8]) -> &'static str {
    resource_types::registered_or_octet_stream(fileparse(bytes))
}

/// The type of an upload given an optional claimed mimetype, as upstream's `create_resource`.
///
/// No claim, an empty one or `application/octet-stream` means [`detect`]; any other claim wins
/// if it is registered and gives `application/octet-stream` if not, without looking at the
/// bytes. A claim given as a ResourceType URL must be resolved to its mimetype first.
pub fn claimed_or_detected(claimed: Option<&str>, bytes: &[u8]) -> &'static str {
    claimed_type(claimed).unwrap_or_else(|| detect(bytes))
}

/// The type a claimed mimetype gives an upload without looking at its bytes, as upstream's
/// `create_resource`: `None` (no claim, an empty one or `application/octet-stream`) means the
/// type is to be [`detect`]ed; any other claim wins if it is registered and gives
/// `application/octet-stream` if not.
pub fn claimed_type(claimed: Option<&str>) -> Option<&'static str> {
    match claimed {
        None | Some("") | Some(OCTET_STREAM) => None,
        Some(mimetype) => Some(resource_types::registered_or_octet_stream(mimetype)),
    }
}

/// What upstream's `fileparse()` answers for a file, before the registered-type check: it may
/// be a type upstream never registered (`application/jsc+txt`, `application/x-muscxml+xml`,
/// `application/x-vis_figuredbass_pandas_series+csv`). Where upstream fails (its error tuple or
/// a Python exception), this is `application/octet-stream`, except for TIFF, which is
/// `image/tiff`. Needs the whole file, like [`detect`].
pub fn fileparse(bytes: &[u8]) -> &'static str {
    // libmagic calls a file of under two bytes "empty" or "very short" before any test.
    if bytes.len() < 2 {
        return OCTET_STREAM;
    }
    let magic = &bytes[..bytes.len().min(MAGIC_BYTES_MAX)];
    match json::classify(magic) {
        Some(json::Kind::Single) => return JSON,
        // libmagic's `application/x-ndjson` is not one of the types upstream knows.
        Some(json::Kind::Lines) => return OCTET_STREAM,
        None => {}
    }
    let text = looks_text(&magic[..magic.len().min(MAGIC_ENCODING_MAX)]);
    // libmagic's CSV test comes before its signatures, and both of its text answers lead to
    // Rodan's text rules.
    if text && looks_csv(magic) {
        return define_text(bytes);
    }
    if let Some(mimetype) = signature(magic) {
        return mimetype;
    }
    if text {
        return if starts_xml(magic) {
            define_xml(bytes)
        } else {
            define_text(bytes)
        };
    }
    if let Some(mimetype) = binary_stream(magic) {
        return mimetype;
    }
    // libmagic's last resort looks at the text again without the trailing NULs.
    let trimmed = without_trailing_nuls(magic);
    if looks_text(&trimmed[..trimmed.len().min(MAGIC_ENCODING_MAX)]) {
        define_text(bytes)
    } else {
        define_stream(bytes)
    }
}

/// `b` without its trailing NULs, as libmagic's text fallback trims them: never to nothing,
/// and never to an odd length from an even one (UTF-16 text).
fn without_trailing_nuls(b: &[u8]) -> &[u8] {
    let mut len = b.len();
    while len > 1 && b[len - 1] == 0 {
        len -= 1;
    }
    if !len.is_multiple_of(2) && b.len().is_multiple_of(2) {
        len += 1;
    }
    &b[..len]
}

/// libmagic's text test: a byte it never expects in text (most C0 controls and DEL) makes the
/// file binary; anything else is ASCII, UTF-8, ISO-8859 or "non-ISO extended ASCII" text.
fn looks_text(window: &[u8]) -> bool {
    !window
        .iter()
        .any(|&c| matches!(c, 0x00..=0x06 | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f))
}

/// The binary formats libmagic recognises by signature, mapped through upstream's rules; `None`
/// when no signature matches.
fn signature(b: &[u8]) -> Option<&'static str> {
    if let Some(mimetype) = png(b) {
        return Some(mimetype);
    }
    if b.len() >= 4 && b.starts_with(b"\xff\xd8\xff") {
        return Some(RGB_JPG);
    }
    if b.starts_with(b"\x00\x00\x00\x0cjP  \r\n\x87\n") {
        // Other brands are JPX, JPM or Motion JPEG 2000, types upstream does not know.
        return Some(if b.get(20..24) == Some(b"jp2 ") {
            JP2
        } else {
            OCTET_STREAM
        });
    }
    if b.get(4..8) == Some(b"ftyp") && matches!(b.get(8..11), Some(b"jp2" | b"JP2")) {
        return Some(JP2);
    }
    if [b"MM\x00\x2a", b"II\x2a\x00", b"MM\x00\x2b", b"II\x2b\x00"]
        .iter()
        .any(|sig| b.starts_with(*sig))
    {
        return Some(TIFF);
    }
    if b.starts_with(b"MThd") {
        return Some(MIDI);
    }
    // Formats whose first bytes can pass for text, named by libmagic with types upstream
    // does not know.
    if b.starts_with(b"GIF8") || b.starts_with(b"%PDF-") {
        return Some(OCTET_STREAM);
    }
    zip(b)
}

/// Upstream's `define_png`: libmagic's description names 1-bit and 16-bit greyscale, anything
/// else is RGBA when byte 25 (the colour type of a standard PNG) is 6, RGB otherwise, so 8-bit
/// greyscale and palette images are `image/rgb+png` and `image/greyscale+png` never comes out.
fn png(b: &[u8]) -> Option<&'static str> {
    let ihdr = if b.starts_with(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR") {
        16
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x04CgBI")
        && b.get(24..32) == Some(b"\x00\x00\x00\x0dIHDR")
    {
        32
    } else {
        return None;
    };
    // libmagic reads missing header bytes of a truncated file as zeros.
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    Some(match (at(ihdr + 8), at(ihdr + 9), b.get(25)) {
        (1, 0, _) => ONEBIT_PNG,
        (16, 0, _) => GREY16_PNG,
        (_, _, Some(6)) => RGBA_PNG,
        (_, _, Some(_)) => RGB_PNG,
        // Upstream indexes byte 25 and fails.
        (_, _, None) => OCTET_STREAM,
    })
}

fn le16(b: &[u8], at: usize) -> Option<usize> {
    let bytes = b.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([bytes[0], bytes[1]])))
}

/// libmagic's ZIP family: a plain archive is `application/zip`; documents packaged as ZIP
/// (OpenDocument, EPUB, Java archives, Office Open XML) get types upstream does not know.
fn zip(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"PK\x05\x06")
        || b.starts_with(b"PK\x07\x08PK\x03\x04")
        || b.starts_with(b"PK00PK\x03\x04")
    {
        return Some(ZIP);
    }
    if !b.starts_with(b"PK\x03\x04") {
        return None;
    }
    let name_len = le16(b, 26)?;
    // libmagic's ZIP test reads 20 bytes after the first name's start and the first extra
    // field's first two bytes; a shorter file is just data.
    if b.len() < 50.max(32 + name_len) {
        return None;
    }
    let name = &b[30..30 + name_len];
    if is_ooxml(b, name) || is_other_package(name) {
        return Some(OCTET_STREAM);
    }
    if b.get(26..38) == Some(b"\x08\x00\x00\x00mimetype") {
        const PACKAGES: [&[u8]; 6] = [
            b"vnd.kde.",
            b"vnd.sun.xml.",
            b"vnd.openofficeorg.",
            b"vnd.oasis.opendocument.",
            b"epub+zip",
            b"x-vnd.corel.",
        ];
        let declared = &b[38..];
        let packaged = declared.starts_with(b"application/")
            && PACKAGES.iter().any(|p| declared[12..].starts_with(p));
        return Some(if packaged { OCTET_STREAM } else { ZIP });
    }
    // A Java archive marks its first entry with the extra field 0xcafe.
    if le16(b, 30 + name_len) == Some(0xcafe) {
        return Some(OCTET_STREAM);
    }
    Some(ZIP)
}

/// libmagic's Office Open XML test: the first entry is a part of a document, or it is one of
/// the package's bookkeeping files and a later entry found by libmagic's hops is a part. Past
/// three such entries libmagic says "Microsoft OOXML" without a MIME type.
fn is_ooxml(b: &[u8], first_name: &[u8]) -> bool {
    const PARTS: [&[u8]; 5] = [b"word/", b"ppt/", b"xl/", b"visio/", b"AppManifest.xaml"];
    const BOOKKEEPING: [&[u8]; 4] = [
        b"[Content_Types].xml",
        b"_rels/.rels",
        b"docProps",
        b"customXml",
    ];
    let is_part = |at: usize| {
        PARTS
            .iter()
            .any(|p| b.get(at..).is_some_and(|s| s.starts_with(p)))
    };
    if is_part(30) {
        return true;
    }
    if !BOOKKEEPING.iter().any(|k| find(first_name, k).is_some()) {
        return false;
    }
    let Some(size) = b.get(18..22) else {
        return false;
    };
    let compressed = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
    // libmagic's hops: the first search starts where the second local header would follow a
    // 19-byte first name, the second at the name found, later ones 26 bytes into the name
    // found; the names after the first hop are checked.
    let mut from = compressed.saturating_add(49);
    for hop in 0..4 {
        let Some(found) = b.get(from..).and_then(|rest| {
            let window = &rest[..rest.len().min(6000 + 3)];
            find(window, b"PK\x03\x04")
        }) else {
            return false;
        };
        let name = from + found + 30;
        if hop > 0 && is_part(name) {
            return true;
        }
        from = name + if hop > 0 { 26 } else { 0 };
    }
    true
}

/// Android and iOS packages, which libmagic recognises by their first entry.
fn is_other_package(first_name: &[u8]) -> bool {
    first_name == b"AndroidManifest.xml"
        || (first_name.starts_with(b"Payload/") && find(first_name, b".app/").is_some())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// libmagic's XML test, for text: `<?xml` in any case at the very start, after a UTF-8 BOM.
fn starts_xml(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    b.get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"<?xml"))
}

/// Binary formats libmagic names before its text fallback, with types upstream does not know.
fn binary_stream(b: &[u8]) -> Option<&'static str> {
    // Atari DEGAS bitmaps start like a pickle; a real pickle's first opcode is never below 0x10.
    let degas = b.len() >= 4 && b.starts_with(b"\x80\x02") && b[2] < 0x10;
    degas.then_some(OCTET_STREAM)
}

/// Upstream's `define_stream`, for binary files: OCRopus models are protocol-2 pickles and
/// Keras models HDF5 files.
fn define_stream(b: &[u8]) -> &'static str {
    if b.starts_with(b"\x80\x02") {
        OCROPUS
    } else if b.starts_with(b"\x89HDF") {
        KERAS
    } else {
        OCTET_STREAM
    }
}

/// Upstream's `define_xml`: the second line names the XML dialect.
fn define_xml(bytes: &[u8]) -> &'static str {
    // Python decodes the whole file (UTF-8) and needs a second line; otherwise it fails.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return OCTET_STREAM;
    };
    let Some(second) = python_lines(text).nth(1) else {
        return OCTET_STREAM;
    };
    match python_strip(second) {
        r#"<gamera-database version="2.0">"# => GAMERA_XML,
        "<!DOCTYPE feature_vector_file [" => ACE_XML,
        _ if second.contains("-//Recordare//DTD MusicXML") => MUSCXML,
        _ if second.contains("<mei xml") => MEI_XML,
        _ => OCTET_STREAM,
    }
}

/// First lines that name a type outright (upstream `define_text`'s table).
const FIRST_LINES: &[(&str, &str)] = &[
    (
        "Indexer,interval.IntervalIndexer,interval.IntervalIndexer,\
        interval.IntervalIndexer,interval.IntervalIndexer,interval.IntervalIndexer,\
        interval.IntervalIndexer",
        "application/x-vis_vertical_pandas_series+csv",
    ),
    (
        "Indexer,interval.HorizontalIntervalIndexer,interval.HorizontalIntervalIndexer,\
        interval.HorizontalIntervalIndexer,interval.HorizontalIntervalIndexer,\
        interval.HorizontalIntervalIndexer",
        "application/x-vis_horizontal_pandas_series+csv",
    ),
    (
        "Indexer,offset.FilterByOffsetIndexer,offset.FilterByOffsetIndexer,\
        offset.FilterByOffsetIndexer",
        "application/x-vis_noterest_pandas_series+csv",
    ),
    (
        "Indexer,ngram.NGramIndexer",
        "application/x-vis_ngram_pandas_dataframe+csv",
    ),
    ("@relation Converted_from_ACE_XML", ARFF),
    (
        "Duration,Acoustic_Guitar_Fraction,Amount_of_Arpeggiation,\
        Average_Melodic_Interval,Average_Note_Duration,\
        Average_Note_To_Note_Dynamics_Change,Average_Number_of_Independent_Voices,\
        Average_Range_of_Glissandos,Average_Time_Between_Attacks,\
        Average_Time_Between_Attacks_For_Each_Voice,\
        Average_Variability_of_Time_Between_Attacks_For_Each_Voice,Brass_Fraction,\
        Changes_of_Meter,Chromatic_Motion,\
        Combined_Strength_of_Two_Strongest_Rhythmic_Pulses,Compound_Or_Simple_Meter,\
        Direction_of_Motion,Distance_Between_Most_Common_Melodic_Intervals,\
        Dominant_Spread,Duration_of_Melodic_Arcs,Electric_Guitar_Fraction,\
        Electric_Instrument_Fraction,Glissando_Prevalence,\
        Harmonicity_of_Two_Strongest_Rhythmic_Pulses,Importance_of_Bass_Register,\
        Importance_of_High_Register,Importance_of_Loudest_Voice,\
        Importance_of_Middle_Register,Initial_Tempo,\
        Interval_Between_Strongest_Pitch_Classes,Interval_Between_Strongest_Pitches,\
        Maximum_Note_Duration,Maximum_Number_of_Independent_Voices,Melodic_Fifths,\
        Melodic_Intervals_in_Lowest_Line,Melodic_Octaves,Melodic_Thirds,\
        Melodic_Tritones,Minimum_Note_Duration,Most_Common_Melodic_Interval,\
        Most_Common_Melodic_Interval_Prevalence,Most_Common_Pitch_Class,\
        Most_Common_Pitch_Class_Prevalence,Most_Common_Pitch,\
        Most_Common_Pitch_Prevalence,Note_Density,Number_of_Common_Melodic_Intervals,\
        Number_of_Common_Pitches,Number_of_Moderate_Pulses,\
        Number_of_Pitched_Instruments,Number_of_Relatively_Strong_Pulses,\
        Number_of_Strong_Pulses,Number_of_Unpitched_Instruments,\
        Orchestral_Strings_Fraction,Overall_Dynamic_Range,Percussion_Prevalence,\
        Pitch_Class_Variety,Pitch_Variety,Polyrhythms,Primary_Register,Quality,\
        Quintuple_Meter,Range,Range_of_Highest_Line,\
        Relative_Note_Density_of_Highest_Line,Relative_Range_of_Loudest_Voice,\
        Relative_Strength_of_Most_Common_Intervals,\
        Relative_Strength_of_Top_Pitch_Classes,Relative_Strength_of_Top_Pitches,\
        Repeated_Notes,Rhythmic_Looseness,Rhythmic_Variability,Saxophone_Fraction,\
        Second_Strongest_Rhythmic_Pulse,Size_of_Melodic_Arcs,Staccato_Incidence,\
        Stepwise_Motion,Strength_of_Second_Strongest_Rhythmic_Pulse,\
        Strength_of_Strongest_Rhythmic_Pulse,\
        Strength_Ratio_of_Two_Strongest_Rhythmic_Pulses,String_Ensemble_Fraction,\
        String_Keyboard_Fraction,Strong_Tonal_Centres,Strongest_Rhythmic_Pulse,\
        Triple_Meter,Variability_of_Note_Duration,\
        Variability_of_Note_Prevalence_of_Pitched_Instruments,\
        Variability_of_Note_Prevalence_of_Unpitched_Instruments,\
        Variability_of_Number_of_Independent_Voices,Variability_of_Time_Between_Attacks,\
        Variation_of_Dynamics,Variation_of_Dynamics_In_Each_Voice,Vibrato_Prevalence,\
        Violin_Fraction,Voice_Equality_-_Dynamics,Voice_Equality_-_Melodic_Leaps,\
        Voice_Equality_-_Note_Duration,Voice_Equality_-_Number_of_Notes,\
        Voice_Equality_-_Range,Voice_Separation,Woodwinds_Fraction,",
        ARFF_CSV,
    ),
    (
        ",Basso seguente,Figured bass",
        "application/x-vis_figuredbass_pandas_series+csv",
    ),
    ("<features_to_extract>", "application/jsc+txt"),
    (
        "imagePath,imagesBinary,name,folio,description,classification,mei,review,dob,\
        project",
        CSV,
    ),
    (
        "imagePath,imagesBinary,name,folio,description,classification,width,mei,review,\
        dob,project",
        CSV,
    ),
];

/// Upstream's `define_text`: known first lines, Gamera polygon lists, JSON that libmagic did not
/// recognise, CSV when the first two lines have the same number of commas, else plain text.
fn define_text(bytes: &[u8]) -> &'static str {
    let Some(head) = python_first_read(bytes) else {
        return OCTET_STREAM;
    };
    let first = python_strip(python_lines(head).next().unwrap_or(""));
    if let Some((_, mimetype)) = FIRST_LINES.iter().find(|(line, _)| *line == first) {
        return mimetype;
    }
    if first.starts_with("[[") && first.ends_with("]]") {
        return GAMERA_POLYGONS;
    }
    if first.starts_with('{') {
        return JSON;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return OCTET_STREAM;
    };
    let mut lines = python_lines(text);
    let commas = |line: &str| line.matches(',').count();
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) if commas(first) > 0 && commas(first) == commas(second) => CSV,
        _ => PLAIN,
    }
}

/// The text Python decodes to read a file's first line: whole chunks up to the first line
/// break (one more when a chunk ends in `\r`, which may start `\r\n`). `None` when that
/// part is not UTF-8, where upstream fails; a character cut at the chunk's end is fine.
fn python_first_read(bytes: &[u8]) -> Option<&str> {
    let line_break = bytes.iter().position(|&c| c == b'\n' || c == b'\r');
    let end = match line_break {
        None => bytes.len(),
        Some(i) => {
            let chunk_end = bytes
                .len()
                .min((i / PYTHON_TEXT_CHUNK + 1) * PYTHON_TEXT_CHUNK);
            // A `\r` that ends the decoded chunk may start `\r\n`: Python reads one more.
            let held = &bytes[i + 1..chunk_end];
            let cr_last = bytes[i] == b'\r'
                && chunk_end < bytes.len()
                && (held.is_empty()
                    || std::str::from_utf8(held)
                        .is_err_and(|e| e.valid_up_to() == 0 && e.error_len().is_none()));
            bytes
                .len()
                .min(chunk_end + if cr_last { PYTHON_TEXT_CHUNK } else { 0 })
        }
    };
    match std::str::from_utf8(&bytes[..end]) {
        Ok(text) => Some(text),
        // The decoder keeps an unfinished character for the next chunk, which it never reads
        // once the line is complete.
        Err(e) if e.error_len().is_none() && line_break.is_some() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Lines as Python's text files split them (universal newlines: `\n`, `\r\n`, `\r`), without
/// their line break.
fn python_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match rest.find(['\r', '\n']) {
            None => (rest, ""),
            Some(i) if rest[i..].starts_with("\r\n") => (&rest[..i], &rest[i + 2..]),
            Some(i) => (&rest[..i], &rest[i + 1..]),
        };
        rest = next;
        Some(line)
    })
}

/// Python's `str.strip()`: Unicode white space plus the four information separators.
fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// libmagic's CSV test (`is_csv.c`): the first ten lines, or all of at least three, have the
/// same non-zero number of commas outside double quotes.
fn looks_csv(b: &[u8]) -> bool {
    const LINES: usize = 10;
    let (mut commas, mut first_commas, mut lines) = (0, 0, 0);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'"' => i = after_quoted(b, i),
            b',' => commas += 1,
            b'\n' => {
                lines += 1;
                if lines == LINES {
                    return first_commas != 0 && first_commas == commas;
                }
                if first_commas == 0 {
                    if commas == 0 {
                        return false;
                    }
                    first_commas = commas;
                } else if first_commas != commas {
                    return false;
                }
                commas = 0;
            }
            _ => {}
        }
    }
    first_commas != 0 && lines > 2
}

/// Where a quoted CSV field that opened just before `i` ends (`""` is an escaped quote).
fn after_quoted(b: &[u8], mut i: usize) -> usize {
    let mut closing = false;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c != b'"' {
            if closing {
                return i - 1;
            }
        } else {
            closing = !closing;
        }
    }
    b.len()
}

/// libmagic's JSON test (`is_json.c`), which is laxer than JSON: trailing commas, bare `1.`,
/// control characters in strings are all accepted; the text must hold an object or an array.
mod json {
    /// What libmagic makes of a buffer that parses.
    pub(super) enum Kind {
        /// One JSON text: `application/json`.
        Single,
        /// Several texts starting with the same character: `application/x-ndjson`.
        Lines,
    }

    /// libmagic gives up past this nesting level (each container adds two).
    const MAX_LEVEL: usize = 500;

    pub(super) fn classify(b: &[u8]) -> Option<Kind> {
        let mut p = Parser {
            b,
            pos: 0,
            containers: 0,
        };
        p.skip_space();
        let first = p.pos;
        if !p.value(0) {
            return None;
        }
        if p.pos == b.len() {
            return (p.containers > 0).then_some(Kind::Single);
        }
        if b[first] == b[p.pos] && p.value(1) && p.containers > 0 {
            return Some(Kind::Lines);
        }
        None
    }

    struct Parser<'a> {
        b: &'a [u8],
        pos: usize,
        /// Objects and arrays closed so far.
        containers: usize,
    }

    impl Parser<'_> {
        fn next(&mut self) -> Option<u8> {
            let c = self.b.get(self.pos).copied();
            self.pos += usize::from(c.is_some());
            c
        }

        fn peek(&self) -> Option<u8> {
            self.b.get(self.pos).copied()
        }

        fn skip_space(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                self.pos += 1;
            }
        }

        fn value(&mut self, level: usize) -> bool {
            self.skip_space();
            let Some(c) = self.peek() else {
                return false;
            };
            if level > MAX_LEVEL {
                return false;
            }
            self.pos += 1;
            let ok = match c {
                b'"' => self.string(),
                b'[' => self.array(level + 1),
                b'{' => self.object(level + 1),
                b't' => self.constant(b"rue"),
                b'f' => self.constant(b"alse"),
                b'n' => self.constant(b"ull"),
                _ => {
                    self.pos -= 1;
                    self.number()
                }
            };
            self.skip_space();
            ok
        }

        fn string(&mut self) -> bool {
            while let Some(c) = self.next() {
                match c {
                    0 => return false,
                    b'"' => return true,
                    b'\\' => match self.next() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            for _ in 0..4 {
                                if !self.next().is_some_and(|h| h.is_ascii_hexdigit()) {
                                    return false;
                                }
                            }
                        }
                        _ => return false,
                    },
                    _ => {}
                }
            }
            false
        }

        fn array(&mut self, level: usize) -> bool {
            loop {
                self.skip_space();
                match self.peek() {
                    None => return false,
                    Some(b']') => break,
                    Some(_) => {}
                }
                if !self.value(level + 1) {
                    return false;
                }
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => break,
                    _ => return false,
                }
            }
            self.pos += 1;
            self.containers += 1;
            true
        }

        fn object(&mut self, level: usize) -> bool {
            loop {
                self.skip_space();
                match self.next() {
                    Some(b'}') => break,
                    Some(b'"') => {}
                    _ => return false,
                }
                if !self.string() {
                    return false;
                }
                self.skip_space();
                if self.next() != Some(b':') || !self.value(level + 1) {
                    return false;
                }
                match self.next() {
                    Some(b',') => {}
                    Some(b'}') => break,
                    _ => return false,
                }
            }
            self.containers += 1;
            true
        }

        /// The rest of `true`, `false` or `null`; a literal cut short by the end passes, as
        /// in libmagic (the container around it then fails).
        fn constant(&mut self, rest: &[u8]) -> bool {
            let available = &self.b[self.pos..];
            let n = rest.len().min(available.len());
            self.pos += n;
            available[..n] == rest[..n]
        }

        fn number(&mut self) -> bool {
            let b = self.b;
            let mut i = self.pos;
            let digits = |i: &mut usize| {
                let start = *i;
                while b.get(*i).is_some_and(u8::is_ascii_digit) {
                    *i += 1;
                }
                *i > start
            };
            if b.get(i) == Some(&b'-') {
                i += 1;
            }
            let mut got = digits(&mut i);
            if b.get(i) == Some(&b'.') {
                i += 1;
            }
            got |= digits(&mut i);
            if got && matches!(b.get(i), Some(b'e' | b'E')) {
                i += 1;
                if matches!(b.get(i), Some(b'+' | b'-')) {
                    i += 1;
                }
                got = digits(&mut i);
            }
            if got {
                self.pos = i;
            }
            got
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ZIP local headers only (stored, no central directory), as libmagic reads them.
    fn zip(entries: &[(&[u8], &[u8])], first_extra: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (name, data)) in entries.iter().enumerate() {
            let extra = if i == 0 { first_extra } else { b"" };
            out.extend_from_slice(b"PK\x03\x04");
            for field in [20u16, 0, 0, 0, 0x21] {
                out.extend_from_slice(&field.to_le_bytes());
            }
            let size = u32::try_from(data.len()).expect("small entry");
            for field in [0, size, size] {
                out.extend_from_slice(&field.to_le_bytes());
            }
            for field in [name.len(), extra.len()] {
                out.extend_from_slice(&u16::try_from(field).expect("short name").to_le_bytes());
            }
            out.extend_from_slice(name);
            out.extend_from_slice(extra);
            out.extend_from_slice(data);
        }
        out
    }

    /// Each file's type as upstream's own code gives it under libmagic 5.44 (failures read as
    /// `application/octet-stream`), checked by running upstream's `fileparse` on these bytes.
    #[test]
    fn fileparse_agrees_with_upstream_on_edge_cases() {
        let literal: &[(&str, &[u8], &str)] = &[
            ("empty file", b"", "application/octet-stream"),
            ("one byte", b"{", "application/octet-stream"),
            ("json object", b"{\"a\": [1, 2.5e3, true, null]}", "application/json"),
            ("json empty array", b"[]", "application/json"),
            ("json trailing comma", b"{\"a\": 1,}\n", "application/json"),
            ("json lines", b"{\"a\":1}\n{\"b\":2}\n", "application/octet-stream"),
            ("json scalar", b"\"hello\"", "text/plain"),
            ("json then another kind", b"{\"a\":1}\n[2]\n", "application/json"),
            ("json trailing garbage", b"{\"a\": 1} x", "application/json"),
            ("json latin-1 string", b"{\"a\": \"\xe9\"}", "application/json"),
            ("json nul", b"{\"a\": \"\x00\"}", "application/octet-stream"),
            ("json cut literal", b"[tru]", "text/plain"),
            ("json number 1.", b"[1.]", "application/json"),
            ("brace text", b"{not json\nsecond\n", "application/json"),
            ("csv two lines", b"a,b\nc,d", "text/csv"),
            ("csv one line", b"a,b,c\n", "text/plain"),
            ("csv cr lines", b"a,b\rc,d\r", "text/csv"),
            ("csv crlf", b"a,b\r\nc,d\r\n", "text/csv"),
            ("csv mismatch", b"a,b,c\n1,2\n", "text/plain"),
            ("first line empty", b"\na,b\nc,d\n", "text/plain"),
            ("polygons", b"[[(1, 2), (3, 4)]]", "application/gamera-polygons+txt"),
            ("polygons padded", b"  [[1]]  x\n", "text/plain"),
            ("half polygon", b"[[1, 2]\n", "text/plain"),
            ("arff crlf", b"@relation Converted_from_ACE_XML\r\n\r\n@attribute x numeric\r\n", "application/arff"),
            ("arff latin-1 next line", b"@relation Converted_from_ACE_XML\n\xe9\n", "application/octet-stream"),
            ("arff cut character", b"@relation Converted_from_ACE_XML\n\xe9", "application/arff"),
            ("arff with bom", b"\xef\xbb\xbf@relation Converted_from_ACE_XML\n\n", "text/plain"),
            ("latin-1 text", b"caf\xe9 au lait\nsecond line\n", "application/octet-stream"),
            ("utf-8 text", b"caf\xc3\xa9\nau lait\n", "text/plain"),
            ("control character", b"hello\x01world\n", "application/octet-stream"),
            ("trailing nuls", b"ab\x00\x00", "text/plain"),
            ("one trailing nul", b"abc\x00", "application/octet-stream"),
            ("xml one line", b"<?xml version=\"1.0\"?><root/>", "application/octet-stream"),
            ("xml gamera cr", b"<?xml version=\"1.0\"?>\r<gamera-database version=\"2.0\">\r</gamera-database>\r", "application/gamera+xml"),
            ("xml bom", b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<gamera-database version=\"2.0\">\n", "application/gamera+xml"),
            ("xml upper case", b"<?XML version=\"1.0\"?>\n<!DOCTYPE feature_vector_file [\n", "application/ace+xml"),
            ("xml leading space", b" <?xml version=\"1.0\"?>\n<gamera-database version=\"2.0\">\n", "text/plain"),
            ("xml latin-1 later", b"<?xml version=\"1.0\"?>\n<gamera-database version=\"2.0\">\n<x>\xe9</x>\n", "application/octet-stream"),
            ("xml mei indented", b"<?xml version=\"1.0\"?>\n  <mei xml:id=\"a\">\n</mei>\n", "application/mei+xml"),
            ("xml mei third line", b"<?xml version=\"1.0\"?>\n<?xml-model href=\"x\"?>\n<mei xml:id=\"a\">\n", "application/octet-stream"),
            ("xml other", b"<?xml version=\"1.0\"?>\n<root/>\n", "application/octet-stream"),
            ("xml with commas", b"<?xml version=\"1.0\"?>,\n<gamera-database version=\"2.0\">,\na,\nb,\n", "text/csv"),
            ("xml nul", b"<?xml version=\"1.0\"?>\n<gamera-database version=\"2.0\">\n\x00\n", "application/octet-stream"),
            ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/rgb+jpg"),
            ("jpeg-ls", b"\xff\xd8\xff\xf7\x00\x00", "image/rgb+jpg"),
            ("jpeg three bytes", b"\xff\xd8\xff", "application/octet-stream"),
            ("jp2", b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 ", "image/jp2"),
            ("jpx", b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjpx \x00\x00", "application/octet-stream"),
            ("iso media jp2", b"\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 ", "image/jp2"),
            ("tiff little-endian", b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "image/tiff"),
            ("tiff big-endian", b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00", "image/tiff"),
            ("bigtiff", b"II+\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "image/tiff"),
            ("midi", b"MThd\x00\x00\x00\x06\x00\x01\x00\x07\x00xMTrk", "application/midi"),
            ("midi-looking text", b"MThd is a header\nsecond\n", "application/midi"),
            ("gif", b"GIF89a is text\n", "application/octet-stream"),
            ("pdf", b"%PDF-1.4\nplain\n", "application/octet-stream"),
            ("png grey 8-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x08\x00\x00\x00\x00\x8c\x9a\xc1\xa2\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgb+png"),
            ("png grey 2-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x02\x00\x00\x00\x00\xc6*\xd9\x03\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgb+png"),
            ("png palette 1-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x01\x03\x00\x00\x00\x93?\x0c=\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgb+png"),
            ("png grey alpha", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x08\x04\x00\x00\x00\x03\xf8V\xf5\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgb+png"),
            ("png rgba 16-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x10\x06\x00\x00\x00\xf9aB=\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgba+png"),
            ("png cgbi rgba", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x04CgBIP\x00 \x02+\xd5\xb3\x7f\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x08\x06\x00\x00\x00\xa9\xf1\x9e~\x00\x00\x00\x00IEND\xaeB`\x82", "image/rgb+png"),
            ("png cgbi one-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x04CgBIP\x00 \x02+\xd5\xb3\x7f\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x01\x00\x00\x00\x00\x81\x8a\xa3\xd3\x00\x00\x00\x00IEND\xaeB`\x82", "image/onebit+png"),
            ("png cut at 25 one-bit", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x01", "image/onebit+png"),
            ("png cut at 25", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x08", "application/octet-stream"),
            ("png cut at 26", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x04\x08\x06", "image/rgba+png"),
            ("png signature only", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "application/octet-stream"),
            ("zip", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00\x86\xa6\x106\x05\x00\x00\x00\x05\x00\x00\x00\x05\x00\x00\x00a.txthelloPK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00!\x00\x86\xa6\x106\x05\x00\x00\x00\x05\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00a.txtPK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x003\x00\x00\x00(\x00\x00\x00\x00\x00", "application/zip"),
            ("zip cut at 49", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00\x86\xa6\x106\x05\x00\x00\x00\x05\x00\x00\x00\x05\x00\x00\x00a.txthelloPK\x01\x02\x14\x03\x14\x00\x00", "application/octet-stream"),
            ("zip cut at 50", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00\x86\xa6\x106\x05\x00\x00\x00\x05\x00\x00\x00\x05\x00\x00\x00a.txthelloPK\x01\x02\x14\x03\x14\x00\x00\x00", "application/zip"),
            ("zip empty", b"PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "application/zip"),
            ("odt", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00^\xc62\x0c'\x00\x00\x00'\x00\x00\x00\x08\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.textPK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00!\x00^\xc62\x0c'\x00\x00\x00'\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00mimetypePK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x006\x00\x00\x00M\x00\x00\x00\x00\x00", "application/octet-stream"),
            ("zip other mimetype", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00x}\\\xc6\x11\x00\x00\x00\x11\x00\x00\x00\x08\x00\x00\x00mimetypeapplication/x-fooPK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00!\x00x}\\\xc6\x11\x00\x00\x00\x11\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00mimetypePK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x006\x00\x00\x007\x00\x00\x00\x00\x00", "application/zip"),
            ("word part first", b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00+\x84&\x12\x04\x00\x00\x00\x04\x00\x00\x00\x11\x00\x00\x00word/document.xml<x/>PK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00!\x00+\x84&\x12\x04\x00\x00\x00\x04\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00word/document.xmlPK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00?\x00\x00\x003\x00\x00\x00\x00\x00", "application/octet-stream"),
            ("pickle", b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u.", "application/ocropus+pyrnn"),
            ("pickle two bytes", b"\x80\x02", "application/ocropus+pyrnn"),
            ("degas", b"\x80\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "application/octet-stream"),
            ("pickle looking text", b"\x80\x02hello\n", "application/ocropus+pyrnn"),
            ("hdf5", b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "keras/model+hdf5"),
            ("hdf5 then nul", b"\x89HDF\x00", "application/octet-stream"),
            ("hdf5 head then data", b"\x89HDF\x00\x00x", "keras/model+hdf5"),
            ("hdf5 head then text", b"\x89HDFhello\n", "application/octet-stream"),
            ("gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "application/octet-stream"),
        ];
        let zips = [
            (
                "zip",
                zip(&[(b"a.txt", b"hello hello hello hello")], b""),
                "application/zip",
            ),
            (
                "epub",
                zip(&[(b"mimetype", b"application/epub+zip"), (b"a", b"b")], b""),
                "application/octet-stream",
            ),
            (
                "odt",
                zip(
                    &[(b"mimetype", b"application/vnd.oasis.opendocument.text")],
                    b"",
                ),
                "application/octet-stream",
            ),
            (
                "zip declaring another mimetype",
                zip(&[(b"mimetype", b"application/x-foo")], b""),
                "application/zip",
            ),
            (
                "jar",
                zip(
                    &[(b"a.class", b"xxxxxxxxxxxxxxxxxxxx")],
                    b"\xfe\xca\x00\x00",
                ),
                "application/octet-stream",
            ),
            (
                "docx",
                zip(
                    &[
                        (
                            b"[Content_Types].xml",
                            b"<x/><x/><x/><x/><x/><x/><x/><x/><x/>",
                        ),
                        (b"_rels/.rels", b"<x/><x/><x/><x/><x/><x/><x/><x/><x/>"),
                        (b"word/document.xml", b"<x/>"),
                    ],
                    b"",
                ),
                "application/octet-stream",
            ),
            (
                "docx with a skipped part",
                zip(
                    &[
                        (b"[Content_Types].xml", b"<x/>"),
                        (b"_rels/.rels", b"<x/>"),
                        (b"docProps/app.xml", b"<x/>"),
                        (b"xl/workbook.xml", b"<x/>"),
                    ],
                    b"",
                ),
                "application/zip",
            ),
            (
                "ooxml without parts",
                zip(
                    &[
                        (b"[Content_Types].xml", b"x"),
                        (b"a", b"x"),
                        (b"b", b"x"),
                        (b"c", b"x"),
                        (b"d", b"x"),
                        (b"word/document.xml", b"x"),
                    ],
                    b"",
                ),
                "application/zip",
            ),
            (
                "content types then a part",
                zip(
                    &[
                        (b"[Content_Types].xml", b"x"),
                        (b"word/document.xml", b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                    ],
                    b"",
                ),
                "application/zip",
            ),
            (
                "word part first",
                zip(
                    &[(
                        b"word/document.xml",
                        b"<x/><x/><x/><x/><x/><x/><x/><x/><x/>",
                    )],
                    b"",
                ),
                "application/octet-stream",
            ),
            (
                "apk",
                zip(
                    &[
                        (b"AndroidManifest.xml", b"xxxxxxxxxxxxxxxxxxxx"),
                        (b"classes.dex", b"x"),
                    ],
                    b"",
                ),
                "application/octet-stream",
            ),
        ];
        let cases = literal
            .iter()
            .map(|&(name, bytes, mimetype)| (name, bytes.to_vec(), mimetype));
        let failures: Vec<String> = cases
            .chain(zips)
            .filter(|(_, bytes, mimetype)| fileparse(bytes) != *mimetype)
            .map(|(name, bytes, mimetype)| {
                format!("{name}: {} instead of {mimetype}", fileparse(&bytes))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    const ARFF_LINE: &[u8] = b"@relation Converted_from_ACE_XML\n";

    fn with(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn first_line_rules_need_only_the_chunks_python_decodes() {
        let bad_past_first_chunk = with(&[ARFF_LINE, &[b'x'; 9000], b"\n\xe9\n"]);
        assert_eq!(fileparse(&bad_past_first_chunk), ARFF);
        let bad_in_first_chunk = with(&[ARFF_LINE, &[b'x'; 8000], b"\xe9\n"]);
        assert_eq!(fileparse(&bad_in_first_chunk), OCTET_STREAM);

        // A first line ending in `\r` as the first chunk's last byte makes Python read on.
        let polygon = with(&[b"[[", &[b'1'; 8187], b"]]"]);
        assert_eq!(polygon.len() + 1, PYTHON_TEXT_CHUNK);
        assert_eq!(fileparse(&with(&[&polygon, b"\r\xe9xx\n"])), OCTET_STREAM);
        assert_eq!(fileparse(&with(&[&polygon, b"\rxx\n"])), GAMERA_POLYGONS);
        assert_eq!(
            fileparse(&with(&[&polygon, b"\n\xe9xx\n"])),
            GAMERA_POLYGONS
        );
    }

    #[test]
    fn only_the_first_64_kib_decide_text_or_binary() {
        let head: &[u8] = b"<?xml version=\"1.0\"?>\n<gamera-database version=\"2.0\">\n";
        let late_nul = with(&[head, &[b'a'; 70_000], b"\x00\n"]);
        assert_eq!(fileparse(&late_nul), GAMERA_XML);
        let early_nul = with(&[head, &[b'a'; 60_000], b"\x00\n"]);
        assert_eq!(fileparse(&early_nul), OCTET_STREAM);
    }

    #[test]
    fn json_nesting_and_size_limits_follow_libmagic() {
        let nested = |depth: usize| with(&[&vec![b'['; depth], &vec![b']'; depth]]);
        assert_eq!(fileparse(&nested(251)), JSON);
        // Too deep for libmagic, so it is text whose one line looks like a polygon list.
        assert_eq!(fileparse(&nested(252)), GAMERA_POLYGONS);

        let long = vec![b'x'; MAGIC_BYTES_MAX];
        // Past 7 MiB libmagic sees an unfinished text; an object still starts with `{`.
        assert_eq!(fileparse(&with(&[b"{\"a\": \"", &long, b"\"}"])), JSON);
        assert_eq!(fileparse(&with(&[b"[\"", &long, b"\"]"])), PLAIN);
    }
}
