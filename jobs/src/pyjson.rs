//! JSON as upstream's Python jobs read and write it: `json.load` keeps the order of an object's
//! keys and tells integers (`1`) from floats (`1.0`), and `json.dumps` with its defaults writes
//! `", "` and `": "` separators, floats as `repr(float)` does, and every non-ASCII character as a
//! `\uXXXX` escape. Jobs whose outputs upstream compares as text (staff finding, pitch finding)
//! write through [`Value::to_json`] so that their files equal upstream's line for line.

use std::fmt::{self, Write as _};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value as Python's `json` module holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True` / `False`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<Value>),
    /// A `dict`, keys in insertion order.
    Dict(Vec<(String, Value)>),
}

impl Value {
    /// A dict from `(key, value)` pairs, in that order.
    pub fn dict<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Self {
        Self::Dict(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value under `key` of a dict (the last one, as Python keeps for a repeated key).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Dict(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number as a float, for an `int` or a `float`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Int(i) => Some(i as f64),
            Self::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The integer, for an `int` (or a `float` holding a whole number, as Python's `int()` of one).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int(i) => Some(i),
            Self::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            _ => None,
        }
    }

    /// The string, for a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, for a `list`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Self::List(items) => Some(items),
            _ => None,
        }
    }

    /// Parses a JSON text as `json.loads` does (keys in order, `1` an int and `1.0` a float).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The text `json.dumps(value)` writes with its default arguments.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(true) => out.push_str("true"),
            Self::Bool(false) => out.push_str("false"),
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::Float(f) => out.push_str(&float_json(*f)),
            Self::Str(s) => write_str(out, s),
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Dict(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(out, k);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Self::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Self::List(items.into_iter().map(Into::into).collect())
    }
}

/// `json.dumps` of a float: `repr(f)`, and `NaN`, `Infinity`, `-Infinity`.
pub fn float_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(f)` of a finite float: the shortest digits that read back as `f`, in fixed
/// notation with at least one decimal (`1.0`, `0.0001`) when the decimal point falls within
/// 16 digits, otherwise in scientific notation with a signed exponent of at least two digits
/// (`1e-05`, `1.5e+16`).
pub fn float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits too: "d.ddde<exp>". Where two such
    // digit strings are equally near the value, Rust rounds the tie up and Python to even; Rust's
    // fixed-precision formatting rounds exactly, half to even, so that string of the same length
    // is Python's whenever it reads back as the value.
    let shortest = format!("{:e}", f.abs());
    let len = shortest
        .split_once('e')
        .map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let even = format!("{:.*e}", len.saturating_sub(1), f.abs());
    let sci = if even.parse::<f64>().ok() == Some(f.abs()) {
        even
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if digits.bytes().all(|b| b == b'0') {
        return format!("{sign}0.0");
    }
    // Python's decpt: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    let n = digits.len() as i32;
    if -4 < decpt && decpt <= 16 {
        let mut s = String::from(sign);
        if decpt <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-decpt) as usize));
            s.push_str(&digits);
        } else if decpt >= n {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            s.push_str(".0");
        } else {
            s.push_str(&digits[..decpt as usize]);
            s.push('.');
            s.push_str(&digits[decpt as usize..]);
        }
        s
    } else {
        let mut s = String::from(sign);
        s.push_str(&digits[..1]);
        if n > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(s, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
        s
    }
}

/// A JSON string as `json.dumps` (`ensure_ascii=True`) writes it.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        // Python's ints are unbounded; beyond i64 keep the value as a float.
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            pairs.push((k, v));
        }
        Ok(Value::Dict(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_repr() {
        // Each pair checked against CPython 3.11's repr().
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.25, "1.25"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456789.0, "123456789.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (-2.5e-300, "-2.5e-300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-0.01889394883140458, "-0.01889394883140458"),
            (100.5, "100.5"),
            // -0.0084018707275390625: two shortest strings equally near, Python takes the even.
            (-4405.0 / 524288.0, "-0.008401870727539062"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "repr of {f:e}");
        }
        assert_eq!(float_json(f64::NAN), "NaN");
        assert_eq!(float_json(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn dumps_keeps_key_order_separators_and_escapes_non_ascii() {
        let v = Value::dict([
            ("z", Value::Int(1)),
            (
                "a",
                Value::from(vec![Value::Float(2.0), Value::Null, Value::Bool(true)]),
            ),
            ("s", Value::from("é\"\\\n\u{1}~\u{7f}𝄞")),
            ("e", Value::Dict(vec![])),
        ]);
        assert_eq!(
            v.to_json(),
            r#"{"z": 1, "a": [2.0, null, true], "s": "\u00e9\"\\\n\u0001~\u007f\ud834\udd1e", "e": {}}"#
        );
    }

    #[test]
    fn parsing_keeps_order_and_tells_ints_from_floats() {
        let text = r#"{"b": 1, "a": 1.0, "c": [1e2, -3], "d": {"y": null, "x": "t"}}"#;
        let v = Value::parse(text).expect("valid JSON");
        assert_eq!(
            v.to_json(),
            r#"{"b": 1, "a": 1.0, "c": [100.0, -3], "d": {"y": null, "x": "t"}}"#
        );
        assert_eq!(v.get("b"), Some(&Value::Int(1)));
        assert_eq!(v.get("a").and_then(Value::as_f64), Some(1.0));
        assert!(Value::parse("{").is_err());
    }
}
