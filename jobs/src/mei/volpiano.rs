//! MEI (neume notation) to Volpiano, as the MEI2Volpiano library (0.8.1) that upstream's
//! 'MEI2Volpiano' job calls with its default, non-Western mode.
//!
//! The MEI's elements are visited in document order. Each `<syl>` opens a new entry holding what
//! was gathered since the start of its `<syllable>`; `<nc>` appends its Volpiano note, `<neume>`
//! a `-` before the next neume, `<sb>` a `7` (line break), `<syllable>` a `---` closing the
//! previous entry. Notes before any `<syl>` of a syllable are "floating" until the next `<syl>`
//! takes them; those left at the end are reported after the Volpiano.

use super::Element;

/// The clef with which the library starts every Volpiano string.
const CLEF: &str = "1---";

/// What the library writes in place of a note outside Volpiano's range.
const PNAME_ERROR: &str = "pname error";

/// Why an MEI cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("<nc> number {index} has no @{attribute}")]
pub struct MissingAttribute {
    /// The 1-based position of the `<nc>` in the document.
    pub index: usize,
    /// The missing attribute.
    pub attribute: &'static str,
}

/// The Volpiano character of a pitch name in a Volpiano octave (1 to 4, as MEI's `@oct` of
/// neume notation is read), or `None` outside the range (`f1` to `d4`).
pub fn volpiano_note(pname: &str, oct: &str) -> Option<char> {
    let c = match (oct, pname) {
        ("1", "f") => '8',
        ("1", "g") => '9',
        ("1", "a") => 'a',
        ("1", "b") => 'b',
        ("2", "c") => 'c',
        ("2", "d") => 'd',
        ("2", "e") => 'e',
        ("2", "f") => 'f',
        ("2", "g") => 'g',
        ("2", "a") => 'h',
        ("2", "b") => 'j',
        ("3", "c") => 'k',
        ("3", "d") => 'l',
        ("3", "e") => 'm',
        ("3", "f") => 'n',
        ("3", "g") => 'o',
        ("3", "a") => 'p',
        ("3", "b") => 'q',
        ("4", "c") => 'r',
        ("4", "d") => 's',
        _ => return None,
    };
    Some(c)
}

/// The Volpiano of the MEI document whose root is `root`, with the library's trailing note about
/// floating notes when some are left.
pub fn mei_to_volpiano(root: &Element) -> Result<String, MissingAttribute> {
    // The entries of the library's syllable map, in insertion order; `None` is its "dummy" key
    // that gathers notes outside any <syl>.
    let mut entries: Vec<String> = Vec::new();
    let mut floating = String::new();
    let mut last: Option<usize> = None;
    let mut nc_index = 0;
    // `findall(".//")`: every descendant, the root excluded.
    for e in root.descendants().into_iter().skip(1) {
        if e.is_mei("syl") {
            let taken = slot(&mut entries, &mut floating, last).clone();
            entries.push(taken);
            floating.clear();
            last = Some(entries.len() - 1);
        } else if e.is_mei("nc") {
            nc_index += 1;
            let attr = |attribute: &'static str| {
                e.get(attribute).ok_or(MissingAttribute {
                    index: nc_index,
                    attribute,
                })
            };
            let (pname, oct) = (attr("pname")?, attr("oct")?);
            let s = slot(&mut entries, &mut floating, last);
            match volpiano_note(pname, oct) {
                Some(c) => s.push(c),
                None => s.push_str(PNAME_ERROR),
            }
        } else {
            let mark = if e.is_mei("neume") {
                "-"
            } else if e.is_mei("sb") {
                "7"
            } else if e.is_mei("syllable") {
                "---"
            } else {
                continue;
            };
            let s = slot(&mut entries, &mut floating, last);
            if !s.is_empty() {
                s.push_str(mark);
            }
            if e.is_mei("syllable") {
                last = None;
            }
        }
    }
    let mut out = String::from(CLEF);
    out.extend(entries);
    match floating.chars().count() {
        0 => {}
        1 => out.push_str(&format!(
            "\n\nWe found one syllable-independent note at the end of the MEI file: {floating}"
        )),
        _ => out.push_str(&format!(
            "\n\nWe found numerous syllable-independent notes at the end of the MEI file: {floating}"
        )),
    }
    Ok(out)
}

/// The entry `last` points at, or the floating notes.
fn slot<'a>(
    entries: &'a mut [String],
    floating: &'a mut String,
    last: Option<usize>,
) -> &'a mut String {
    match last.and_then(|i| entries.get_mut(i)) {
        Some(s) => s,
        None => floating,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mei::Document;

    fn volpiano(body: &str) -> String {
        let xml = format!(
            "<mei xmlns=\"http://www.music-encoding.org/ns/mei\"><layer>{body}</layer></mei>"
        );
        mei_to_volpiano(&Document::parse(&xml).expect("well-formed").root).expect("converts")
    }

    #[test]
    fn syllables_neumes_and_system_breaks_become_hyphens_and_sevens() {
        let v = volpiano(
            "<syllable><syl>A</syl><neume><nc pname=\"c\" oct=\"3\"/><nc pname=\"d\" oct=\"3\"/></neume>\
             <neume><nc pname=\"f\" oct=\"2\"/></neume></syllable><sb/>\
             <syllable><syl>b</syl><neume><nc pname=\"a\" oct=\"1\"/></neume></syllable>",
        );
        assert_eq!(v, "1---kl-f7---a");
    }

    #[test]
    fn notes_before_the_syl_belong_to_it_and_a_syllable_without_syl_joins_the_next() {
        let v = volpiano(
            "<syllable><neume><nc pname=\"g\" oct=\"2\"/></neume><syl>x</syl></syllable>\
             <syllable><neume><nc pname=\"e\" oct=\"3\"/></neume></syllable>\
             <syllable><syl>y</syl><neume><nc pname=\"d\" oct=\"4\"/></neume></syllable>",
        );
        // The middle syllable's note floats, gets "---" when the next syllable starts, and
        // that syllable's <syl> takes it before its own neume adds "-".
        assert_eq!(v, "1---g---m----s");
    }

    #[test]
    fn out_of_range_notes_and_trailing_floating_notes_are_reported_as_the_library_does() {
        let v = volpiano(
            "<syllable><syl>x</syl><neume><nc pname=\"c\" oct=\"5\"/></neume></syllable>\
             <syllable><neume><nc pname=\"c\" oct=\"2\"/></neume></syllable>",
        );
        assert_eq!(
            v,
            "1---pname error---\n\nWe found one syllable-independent note at the end of the MEI file: c"
        );
    }

    #[test]
    fn elements_outside_the_mei_namespace_are_ignored_and_missing_pitches_are_errors() {
        let xml = "<mei><syllable><syl>x</syl><nc pname=\"c\" oct=\"3\"/></syllable></mei>";
        let root = Document::parse(xml).expect("well-formed").root;
        assert_eq!(mei_to_volpiano(&root), Ok("1---".into()));
        let xml = "<mei xmlns=\"http://www.music-encoding.org/ns/mei\"><nc pname=\"c\"/></mei>";
        let root = Document::parse(xml).expect("well-formed").root;
        assert_eq!(
            mei_to_volpiano(&root),
            Err(MissingAttribute {
                index: 1,
                attribute: "oct"
            })
        );
    }
}
