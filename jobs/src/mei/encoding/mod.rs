//! MEI encoding of a page (upstream `MEI_encoding/`): pitch-finding glyphs, optionally
//! text-alignment syllables and column-splitting data, and the MEI mapping table become an MEI
//! document in neume notation, as upstream's `build_mei_file.process` builds it.
//!
//! - [`classifier_table`]: the MEI mapping CSV (`parse_classifier_table.py`).
//! - [`state_machine`]: where an element goes relative to its syllable (`state_machine.py`).
//! - [`build`]: glyph ordering, syllable alignment, columns, elements and zones, the merging of
//!   nearby neume components (`build_mei_file.py`).

pub mod build;
pub mod classifier_table;
pub mod state_machine;

use serde_json::Value;

use super::Element;

pub use build::{EncodingError, encode};
pub use classifier_table::ClassifierTable;

/// A new element with a fresh `xml:id` (`m-` and a random UUID, as upstream's ids).
pub fn new_element(name: &str) -> Element {
    let mut e = Element::new(name);
    e.set("xml:id", new_id());
    e
}

/// A fresh MEI id: `m-` and a version 4 UUID.
pub fn new_id() -> String {
    format!("m-{}", uuid::Uuid::new_v4())
}

/// Python's `str()` of a JSON value as `json.loads` gives it.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => match n.as_u64() {
                Some(u) => u.to_string(),
                None => py_float_repr(n.as_f64().unwrap_or(f64::NAN)),
            },
        },
        other => other.to_string(),
    }
}

/// Python's `repr()` of a float.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Python writes these with an exponent of at least two digits and a sign.
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_m_and_a_uuid_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 38);
        assert!(a.starts_with("m-") && uuid::Uuid::parse_str(&a[2..]).is_ok());
        assert_eq!(new_element("nc").get("xml:id").map(str::len), Some(38));
    }

    #[test]
    fn values_print_as_python_prints_them() {
        let cases = [
            (json!("c"), "c"),
            (json!(3), "3"),
            (json!(3.0), "3.0"),
            (json!(2.5), "2.5"),
            (json!(1e20), "1e+20"),
            (json!(1.5e-5), "1.5e-05"),
            (json!(null), "None"),
            (json!(true), "True"),
        ];
        for (v, s) in cases {
            assert_eq!(py_str(&v), s, "{v}");
        }
    }
}
