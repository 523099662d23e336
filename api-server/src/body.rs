//! Request bodies as DRF parses them: JSON, or form fields (`application/x-www-form-urlencoded`).

use crate::error::ApiError;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// Reads a JSON or form body of at most the configured `max_json` bytes: a `Content-Length`
/// over it is refused before reading, a body without one is cut as soon as it passes it (413).
async fn read_limited(req: Request, max: usize) -> Result<axum::body::Bytes, ApiError> {
    if crate::limits::content_length(req.headers()).is_some_and(|len| len > max as u64) {
        return Err(ApiError::too_large(max));
    }
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|error| {
            let too_large =
                std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::too_large(max)
            } else {
                ApiError::bad_request("Could not read the request body.")
            }
        })
}

/// A body as a JSON object; form fields become strings (repeated keys become lists).
#[derive(Debug, Clone, Default)]
pub struct Body(pub Map<String, Value>);

/// The most bytes a JSON or form body may have; the state gives it ([`FromRef`]).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A body reads as its fields' map (the checks of [`crate::limits`] take it).
impl std::ops::Deref for Body {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for Body
where
    JsonLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonLimit(max) = JsonLimit::from_ref(state);
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = read_limited(req, max).await?;
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let mut map = Map::new();
            for (k, v) in form_urlencoded::parse(&bytes) {
                let v = Value::String(v.into_owned());
                match map.get_mut(k.as_ref()) {
                    Some(Value::Array(list)) => list.push(v),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, v]);
                    }
                    None => {
                        map.insert(k.into_owned(), v);
                    }
                }
            }
            crate::limits::check_nul(&map)?;
            return Ok(Self(map));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => {
                crate::limits::check_nul(&map)?;
                Ok(Self(map))
            }
            Ok(_) => Err(ApiError::bad_request("Expected a JSON object.")),
            Err(error) => Err(ApiError::bad_request(format!("JSON parse error - {error}"))),
        }
    }
}

/// A body that must be a JSON value of any shape (lists of usernames, ...).
#[derive(Debug, Clone)]
pub struct AnyJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson
where
    JsonLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonLimit(max) = JsonLimit::from_ref(state);
        let bytes = read_limited(req, max).await?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::bad_request(format!("JSON parse error - {error}")))?;
        if crate::limits::has_nul(&value) {
            return Err(ApiError::bad_request(crate::error::NUL_MESSAGE));
        }
        Ok(Self(value))
    }
}

impl Body {
    /// The body as `T`: serde's errors become DRF's field errors (`{"field": ["message"]}`,
    /// with DRF's wording), fields `T` does not name are ignored as DRF ignores them. As DRF
    /// validates every field before it answers, a refusal names every required field of `T`
    /// that is missing or blank, not only the first one serde met.
    pub fn typed<T: serde::de::DeserializeOwned + schemars::JsonSchema>(
        &self,
    ) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(Value::Object(self.0.clone())).map_err(|error| {
            let mut refused = field_error(error);
            if let ApiError::Fields(fields) = &mut refused {
                for (name, message) in self.unmet_requirements(&schema::<T>()) {
                    fields
                        .entry(name)
                        .or_insert_with(|| vec![message.to_owned()]);
                }
            }
            refused
        })
    }

    /// The required fields of an object `schema` this body leaves out or blank, with DRF's
    /// message for each.
    fn unmet_requirements(&self, schema: &Value) -> Vec<(String, &'static str)> {
        let required = schema["required"].as_array().into_iter().flatten();
        required
            .filter_map(Value::as_str)
            .filter_map(|name| {
                let may_be_blank = schema["properties"][name]["minLength"]
                    .as_u64()
                    .unwrap_or(0)
                    == 0;
                match self.0.get(name) {
                    None => Some((name.to_owned(), "This field is required.")),
                    Some(Value::String(s)) if s.is_empty() && !may_be_blank => {
                        Some((name.to_owned(), "This field may not be blank."))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// A serde error at a path of the body as DRF's field error on that path.
fn field_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let at = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return ApiError::field(&at(name), "This field is required.");
    }
    // An item of a list is reported on the list, as DRF's `ManyRelatedField` reports it.
    let field = match path.split('[').next() {
        Some(".") => "non_field_errors".to_owned(),
        Some(field) => field.to_owned(),
        None => path,
    };
    ApiError::field(&field, drf_message(&message))
}

/// DRF's wording of a serde message; messages of this crate's own types are DRF's already.
fn drf_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or_default();
        return format!("\"{value}\" is not a valid choice.");
    }
    let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return message.to_owned();
    };
    let got = match got.split([' ', '(']).next().unwrap_or_default() {
        "string" => "str",
        "integer" => "int",
        "floating" => "float",
        "boolean" => "bool",
        "sequence" => "list",
        "map" => "dict",
        "null" => "NoneType",
        other => other,
    };
    if got == "NoneType" {
        return "This field may not be null.".to_owned();
    }
    let expected = expected.to_ascii_lowercase();
    if expected.contains("bool") {
        "Must be a valid boolean.".to_owned()
    } else if ["i64", "u64", "i32", "u32", "u16", "i16", "integer"]
        .iter()
        .any(|t| expected.contains(t))
    {
        "A valid integer is required.".to_owned()
    } else if expected.contains("f64") || expected.contains("number") {
        "A valid number is required.".to_owned()
    } else if expected.contains("sequence") || expected.contains("list") {
        format!("Expected a list of items but got type \"{got}\".")
    } else if expected.contains("map") || expected.contains("struct") {
        format!("Expected a dictionary of items but got type \"{got}\".")
    } else if expected.contains("string") || expected.contains("str") {
        "Not a valid string.".to_owned()
    } else {
        format!("Invalid value: expected {expected}.")
    }
}

/// Field types of typed bodies, read as DRF's fields read JSON and form input.
pub mod field {
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use serde::de::{Deserializer, Error};
    use serde::{Deserialize, Serialize};
    use serde_json::Value;
    use std::borrow::Cow;

    /// The JSON schema of a field type, inlined where the type is used.
    macro_rules! inline_schema {
        ($type:ident, $schema:tt) => {
            impl JsonSchema for $type {
                fn schema_name() -> Cow<'static, str> {
                    stringify!($type).into()
                }
                fn inline_schema() -> bool {
                    true
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!($schema)
                }
            }
        };
    }

    /// DRF's `CharField`: a string; a number is read as its text, as DRF reads it.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Text(pub String);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Value::deserialize(d)? {
                Value::String(s) => Ok(Self(s)),
                Value::Number(n) => Ok(Self(n.to_string())),
                Value::Null => Err(D::Error::custom("This field may not be null.")),
                _ => Err(D::Error::custom("Not a valid string.")),
            }
        }
    }

    inline_schema!(Text, {"type": "string"});

    /// A `CharField` that may not be blank (DRF's default).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct NonBlank(pub String);

    impl<'de> Deserialize<'de> for NonBlank {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let Text(s) = Text::deserialize(d)?;
            if s.is_empty() {
                return Err(D::Error::custom("This field may not be blank."));
            }
            Ok(Self(s))
        }
    }

    inline_schema!(NonBlank, {"type": "string", "minLength": 1});

    /// A hyperlink to an object (or its uuid), resolved by the handler against its route.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct Link(pub String);

    impl<'de> Deserialize<'de> for Link {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Value::deserialize(d)? {
                Value::String(s) if !s.is_empty() => Ok(Self(s)),
                Value::String(_) => Err(D::Error::custom("This field may not be blank.")),
                Value::Null => Err(D::Error::custom("This field may not be null.")),
                other => Err(D::Error::custom(format!(
                    "Incorrect type. Expected URL string, received {}.",
                    python_type(&other)
                ))),
            }
        }
    }

    inline_schema!(Link, {"type": "string", "description": "A hyperlink to the object (or its uuid)"});

    /// The name Python gives the type of a JSON value (DRF's messages name it).
    fn python_type(value: &Value) -> &'static str {
        match value {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "str",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
    }

    /// A JSON document field (settings, appearance, a workflow export): a JSON object. Its size
    /// is bounded by [`crate::limits::check_documents`] before it is read.
    #[derive(Debug, Clone, Default, PartialEq, Serialize)]
    pub struct Document(pub Value);

    impl<'de> Deserialize<'de> for Document {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Value::deserialize(d)? {
                Value::Object(map) => Ok(Self(Value::Object(map))),
                Value::Null => Err(D::Error::custom("This field may not be null.")),
                other => Err(D::Error::custom(format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    python_type(&other)
                ))),
            }
        }
    }

    inline_schema!(Document, {"type": "object"});

    /// DRF's `IntegerField`: an integer, or (from a form) its text.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Int(pub i64);

    impl<'de> Deserialize<'de> for Int {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Value::deserialize(d)? {
                Value::Number(n) => n.as_i64().map(Self),
                Value::String(s) => s.trim().parse().ok().map(Self),
                Value::Null => return Err(D::Error::custom("This field may not be null.")),
                _ => None,
            }
            .ok_or_else(|| D::Error::custom("A valid integer is required."))
        }
    }

    inline_schema!(Int, {"type": "integer"});

    /// DRF's `BooleanField`: a boolean, or (from a form) `true`/`false`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Bool(pub bool);

    impl<'de> Deserialize<'de> for Bool {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Value::deserialize(d)? {
                Value::Bool(b) => Ok(Self(b)),
                Value::String(s) if s == "true" || s == "True" => Ok(Self(true)),
                Value::String(s) if s == "false" || s == "False" => Ok(Self(false)),
                Value::Null => Err(D::Error::custom("This field may not be null.")),
                _ => Err(D::Error::custom("Must be a valid boolean.")),
            }
        }
    }

    inline_schema!(Bool, {"type": "boolean"});

    /// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`: an
    /// absent field is `None`, a null one `Some(None)` (a PATCH's "leave" and "clear").
    pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }

    /// DRF's nullable `FloatField`: a number, null, or (from a form) its text; an empty text
    /// is null.
    #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
    pub struct Float(pub Option<f64>);

    impl<'de> Deserialize<'de> for Float {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let invalid = || D::Error::custom("A valid number is required.");
            match Value::deserialize(d)? {
                Value::Null => Ok(Self(None)),
                Value::String(s) if s.is_empty() => Ok(Self(None)),
                Value::Number(n) => n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| Self(Some(f)))
                    .ok_or_else(invalid),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| Self(Some(f)))
                    .ok_or_else(invalid),
                _ => Err(invalid()),
            }
        }
    }

    inline_schema!(Float, {"type": ["number", "null"]});
}

/// The OpenAPI 3.1 (JSON Schema 2020-12) schema of a typed body.
pub fn schema<T: schemars::JsonSchema>() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::field::{Bool, Float, Int, Link, NonBlank, Text, nullable};
    use super::*;
    use axum::response::IntoResponse;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Sample {
        name: NonBlank,
        project: Link,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default)]
        count: Option<Int>,
        #[serde(default)]
        flag: Option<Bool>,
        #[serde(default)]
        offset: Option<Float>,
        #[serde(default, deserialize_with = "nullable")]
        cleared: Option<Option<Text>>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        members: Vec<Link>,
    }

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Input,
    }

    fn refusal(body: Value) -> Value {
        let Value::Object(map) = body else {
            panic!("an object")
        };
        let error = Body(map).typed::<Sample>().expect_err("refused");
        let response = error.into_response();
        assert_eq!(response.status(), axum::http::StatusCode::BAD_REQUEST);
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
                .expect("a body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn serde_errors_are_drf_field_errors_naming_the_field() {
        let ok = json!({"name": "n", "project": "p"});
        let with = |key: &str, value: Value| {
            let mut body = ok.clone();
            body[key] = value;
            body
        };
        assert_eq!(
            refusal(json!({"project": "p"})),
            json!({"name": ["This field is required."]})
        );
        assert_eq!(
            refusal(with("name", json!(""))),
            json!({"name": ["This field may not be blank."]})
        );
        assert_eq!(
            refusal(with("name", json!(null))),
            json!({"name": ["This field may not be null."]})
        );
        assert_eq!(
            refusal(with("description", json!([1]))),
            json!({"description": ["Not a valid string."]})
        );
        assert_eq!(
            refusal(with("count", json!("many"))),
            json!({"count": ["A valid integer is required."]})
        );
        assert_eq!(
            refusal(with("flag", json!(3))),
            json!({"flag": ["Must be a valid boolean."]})
        );
        assert_eq!(
            refusal(with("offset", json!("left"))),
            json!({"offset": ["A valid number is required."]})
        );
        assert_eq!(
            refusal(with("project", json!(5))),
            json!({"project": ["Incorrect type. Expected URL string, received int."]})
        );
        assert_eq!(
            refusal(with("members", json!("one"))),
            json!({"members": ["Expected a list of items but got type \"str\"."]})
        );
        assert_eq!(
            refusal(with("members", json!(["a", 2]))),
            json!({"members": ["Incorrect type. Expected URL string, received int."]})
        );
        assert_eq!(
            refusal(with("kind", json!("sideways"))),
            json!({"kind": ["\"sideways\" is not a valid choice."]})
        );
    }

    #[test]
    fn typed_bodies_read_form_text_and_tell_absent_from_null() {
        let Value::Object(map) = json!({
            "name": "n", "project": "p", "description": 7, "count": "12", "flag": "True",
            "offset": "", "cleared": null, "unknown": {"ignored": true},
        }) else {
            panic!("an object")
        };
        let sample: Sample = Body(map).typed().expect("accepted");
        assert_eq!(sample.description, Some(Text("7".into())));
        assert_eq!(sample.count, Some(Int(12)));
        assert_eq!(sample.flag, Some(Bool(true)));
        assert_eq!(sample.offset, Some(Float(None)));
        assert_eq!(sample.cleared, Some(None));
        let Value::Object(map) = json!({"name": "n", "project": "p"}) else {
            panic!("an object")
        };
        let sample: Sample = Body(map).typed().expect("accepted");
        assert_eq!(sample.cleared, None);
        assert_eq!(sample.count, None);
    }

    #[test]
    fn the_schema_of_a_typed_body_names_its_fields_and_required_ones() {
        let schema = schema::<Sample>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["name", "project"]));
        assert_eq!(schema["properties"]["name"]["minLength"], 1);
        // Optional fields take null as "not given" too.
        assert_eq!(
            schema["properties"]["count"]["type"],
            json!(["integer", "null"])
        );
        assert!(schema.get("$schema").is_none(), "{schema}");
    }
}
