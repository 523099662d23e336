//! Scaling an MEI facsimile, as upstream's 'MEI Resizing' (`MEI_resizing/mei_resize.py`): every
//! `ulx`, `uly`, `lrx`, `lry` of the first surface and its descendants becomes
//! `int(int(value) * factor)`.

use super::{Element, Node, python_int};

/// The coordinate attributes that are scaled.
pub const COORDINATES: [&str; 4] = ["ulx", "uly", "lrx", "lry"];

/// Why a facsimile cannot be scaled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResizeError {
    /// The document has no node where upstream looks for the surface (`root[1][0][0]`).
    #[error("the MEI has no {0}")]
    NoSurface(&'static str),
    /// A coordinate is not an integer.
    #[error("@{attribute}=\"{value}\" of <{element}> is not an integer")]
    NotAnInteger {
        /// The element.
        element: String,
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
    },
    /// The scaled value is not a finite integer.
    #[error("@{attribute}=\"{value}\" of <{element}> scaled by {factor} is not a finite number")]
    NotFinite {
        /// The element.
        element: String,
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
        /// The factor.
        factor: f64,
    },
}

/// Child `index` as lxml indexes an element: elements, comments and processing instructions
/// count, text does not.
fn lxml_child_mut(e: &mut Element, index: usize) -> Option<&mut Node> {
    e.children
        .iter_mut()
        .filter(|n| !matches!(n, Node::Text(_)))
        .nth(index)
}

/// Scales the facsimile of the MEI whose root is `root` by `factor`, where upstream does:
/// `root[1][0][0]` (music, facsimile, surface) and everything under it.
pub fn scale_facsimile(root: &mut Element, factor: f64) -> Result<(), ResizeError> {
    let Some(Node::Element(music)) = lxml_child_mut(root, 1) else {
        return Err(ResizeError::NoSurface("second child of the root (music)"));
    };
    let Some(Node::Element(facsimile)) = lxml_child_mut(music, 0) else {
        return Err(ResizeError::NoSurface("facsimile (first child of music)"));
    };
    match lxml_child_mut(facsimile, 0) {
        Some(Node::Element(surface)) => scale_tree(surface, factor),
        // A comment or processing instruction has no coordinates, as in lxml.
        Some(_) => Ok(()),
        None => Err(ResizeError::NoSurface("surface (first child of facsimile)")),
    }
}

fn scale_tree(e: &mut Element, factor: f64) -> Result<(), ResizeError> {
    for attribute in COORDINATES {
        if let Some(value) = e.get(attribute) {
            let scaled = scale_value(value, factor).map_err(|not_int| {
                let (element, value) = (e.name.clone(), value.to_owned());
                if not_int {
                    ResizeError::NotAnInteger {
                        element,
                        attribute,
                        value,
                    }
                } else {
                    ResizeError::NotFinite {
                        element,
                        attribute,
                        value,
                        factor,
                    }
                }
            })?;
            e.set(attribute, scaled);
        }
    }
    for child in &mut e.children {
        if let Node::Element(c) = child {
            scale_tree(c, factor)?;
        }
    }
    Ok(())
}

/// `str(int(int(value) * factor))`; `Err(true)` when `value` is not an integer as Python's
/// `int()` reads one, `Err(false)` when the product is not finite.
pub fn scale_value(value: &str, factor: f64) -> Result<String, bool> {
    let n = python_int(value).ok_or(true)?;
    // Python multiplies an int by a float in floating point (the int rounded to nearest).
    let product = (n as f64) * factor;
    if !product.is_finite() {
        return Err(false);
    }
    let truncated = product.trunc();
    if truncated.abs() >= 1.0e38 {
        return Err(false);
    }
    // Exact: an integral float well inside i128's range.
    Ok(format!("{}", truncated as i128))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mei::Document;

    #[test]
    fn values_scale_and_truncate_as_python() {
        assert_eq!(scale_value("1165", 0.7), Ok("815".into()));
        assert_eq!(scale_value(" 10 ", 0.7), Ok("7".into()));
        // 0.7 * 3 is 2.0999999999999996 in floating point.
        assert_eq!(scale_value("3", 0.7), Ok("2".into()));
        assert_eq!(scale_value("-5", 0.5), Ok("-2".into()));
        assert_eq!(scale_value("1_000", 2.0), Ok("2000".into()));
        assert_eq!(scale_value("12.5", 2.0), Err(true));
        assert_eq!(scale_value("", 2.0), Err(true));
        assert_eq!(scale_value("1__0", 2.0), Err(true));
        assert_eq!(scale_value("5", f64::NAN), Err(false));
    }

    #[test]
    fn only_the_first_surface_and_its_descendants_are_scaled() {
        let xml = "<mei><meiHead ulx=\"10\"/>\n<music><facsimile>\
                   <surface lrx=\"100\" lry=\"50\"><zone ulx=\"10\" uly=\"20\" lrx=\"30\" lry=\"41\"/>\
                   </surface><!--c--><surface lrx=\"100\"/></facsimile></music></mei>";
        let mut doc = Document::parse(xml).expect("well-formed");
        scale_facsimile(&mut doc.root, 0.5).expect("scales");
        let all: Vec<_> = doc
            .root
            .descendants()
            .iter()
            .map(|e| (e.name.clone(), e.attributes.clone()))
            .collect();
        let attrs = |n: usize| all[n].1.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(attrs(1), ["10"]); // meiHead: untouched
        assert_eq!(attrs(4), ["50", "25"]); // surface
        assert_eq!(attrs(5), ["5", "10", "15", "20"]); // zone
        assert_eq!(attrs(6), ["100"]); // second surface: untouched
    }

    #[test]
    fn a_document_without_a_surface_or_with_bad_coordinates_is_an_error() {
        let mut doc = Document::parse("<mei><meiHead/><music/></mei>").expect("well-formed");
        assert!(matches!(
            scale_facsimile(&mut doc.root, 0.5),
            Err(ResizeError::NoSurface(_))
        ));
        // As in lxml, a comment is a child: root[1] is the comment here, which has no children.
        let mut doc =
            Document::parse("<mei><h/><!--c--><music><f><s ulx=\"1\"/></f></music></mei>")
                .expect("well-formed");
        assert_eq!(
            scale_facsimile(&mut doc.root, 0.5),
            Err(ResizeError::NoSurface("second child of the root (music)"))
        );
        let mut doc =
            Document::parse("<mei><h/><music><f><s ulx=\"x\"/></f></music></mei>").expect("ok");
        assert!(matches!(
            scale_facsimile(&mut doc.root, 0.5),
            Err(ResizeError::NotAnInteger { .. })
        ));
    }
}
