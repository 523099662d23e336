//! GameraXML as `gamera_xml.WriteXMLFile(glyphs=ccs, with_features=True).write_filename()`
//! writes fresh connected components (unclassified, no features computed, no properties).

use super::segmentation::Labelled;

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

/// The GameraXML document of every component of `labelled`.
pub fn glyphs_xml(labelled: &Labelled) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<gamera-database version=\"2.0\">\n");
    if !labelled.components.is_empty() {
        word_wrap(&mut out, "<glyphs>", 1);
        for c in &labelled.components {
            let tag = format!(
                "<glyph uly=\"{}\" ulx=\"{}\" nrows=\"{}\" ncols=\"{}\">",
                c.ul_y, c.ul_x, c.nrows, c.ncols
            );
            word_wrap(&mut out, &tag, 2);
            word_wrap(&mut out, "<ids state=\"UNCLASSIFIED\">", 3);
            word_wrap(&mut out, "</ids>", 3);
            word_wrap(&mut out, "<data>", 3);
            word_wrap(&mut out, &labelled.to_rle(c), 4);
            word_wrap(&mut out, "</data>", 3);
            word_wrap(&mut out, "</glyph>", 2);
        }
        word_wrap(&mut out, "</glyphs>", 1);
    }
    out.push_str("</gamera-database>\n");
    out
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
}
