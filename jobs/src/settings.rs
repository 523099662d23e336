//! Typed reading of a job's JSON settings against its settings schema: values missing from the
//! settings fall back to the schema's `default`, enum settings come as indices (upstream's
//! convention; the value's string is accepted too), ranges are checked.

use serde_json::{Map, Value};

use crate::job::JobError;

/// A job's settings read against its schema.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    properties: Option<&'a Map<String, Value>>,
    values: Option<&'a Map<String, Value>>,
}

impl<'a> Settings<'a> {
    /// Reads `values` (a JSON object, or null for none) against `schema` (the descriptor's
    /// settings schema).
    pub fn new(schema: &'a Value, values: &'a Value) -> Result<Self, JobError> {
        let values = match values {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(JobError::bad_settings(
                    "settings are not a JSON object",
                    format!("the job's settings must be a JSON object, got {other}"),
                ));
            }
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        Ok(Self { properties, values })
    }

    fn schema_of(&self, key: &str) -> Option<&'a Value> {
        self.properties.and_then(|p| p.get(key))
    }

    fn raw(&self, key: &str) -> Result<&'a Value, JobError> {
        self.values
            .and_then(|v| v.get(key))
            .filter(|v| !v.is_null())
            .or_else(|| self.schema_of(key).and_then(|s| s.get("default")))
            .ok_or_else(|| {
                JobError::bad_settings(
                    format!("setting '{key}' is missing"),
                    format!("the job needs the setting '{key}' and it has no default"),
                )
            })
    }

    /// The index of an enum setting's value in the schema's `enum` list.
    pub fn enum_index(&self, key: &str) -> Result<usize, JobError> {
        let choices = self
            .schema_of(key)
            .and_then(|s| s.get("enum"))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let raw = self.raw(key)?;
        let index = match raw {
            Value::String(s) => choices.iter().position(|c| c.as_str() == Some(s.as_str())),
            Value::Number(n) => n.as_u64().and_then(|i| usize::try_from(i).ok()),
            _ => None,
        };
        match index {
            Some(i) if i < choices.len() => Ok(i),
            _ => Err(JobError::bad_settings(
                format!("setting '{key}' is not one of its choices"),
                format!(
                    "'{key}' must be an index into {} (0 to {}), got {raw}",
                    Value::Array(choices.to_vec()),
                    choices.len().saturating_sub(1)
                ),
            )),
        }
    }

    /// An integer setting, checked against the schema's `minimum` / `maximum`.
    pub fn integer(&self, key: &str) -> Result<i64, JobError> {
        let raw = self.raw(key)?;
        let value = raw
            .as_i64()
            .or_else(|| {
                raw.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    // Exact: the value is integral and well inside i64's range.
                    .map(|f| f as i64)
            })
            .ok_or_else(|| {
                JobError::bad_settings(
                    format!("setting '{key}' is not an integer"),
                    format!("'{key}' must be an integer, got {raw}"),
                )
            })?;
        self.check_range(key, value as f64)?;
        Ok(value)
    }

    /// A number setting, checked against the schema's `minimum` / `maximum`.
    pub fn number(&self, key: &str) -> Result<f64, JobError> {
        let raw = self.raw(key)?;
        let value = raw.as_f64().ok_or_else(|| {
            JobError::bad_settings(
                format!("setting '{key}' is not a number"),
                format!("'{key}' must be a number, got {raw}"),
            )
        })?;
        self.check_range(key, value)?;
        Ok(value)
    }

    /// A boolean setting.
    pub fn boolean(&self, key: &str) -> Result<bool, JobError> {
        let raw = self.raw(key)?;
        raw.as_bool().ok_or_else(|| {
            JobError::bad_settings(
                format!("setting '{key}' is not a boolean"),
                format!("'{key}' must be true or false, got {raw}"),
            )
        })
    }

    /// A string setting.
    pub fn string(&self, key: &str) -> Result<&'a str, JobError> {
        let raw = self.raw(key)?;
        raw.as_str().ok_or_else(|| {
            JobError::bad_settings(
                format!("setting '{key}' is not a string"),
                format!("'{key}' must be a string, got {raw}"),
            )
        })
    }

    fn check_range(&self, key: &str, value: f64) -> Result<(), JobError> {
        let Some(schema) = self.schema_of(key) else {
            return Ok(());
        };
        // Draft 4: `exclusiveMinimum` / `exclusiveMaximum` are booleans modifying the bounds.
        let exclusive = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let below = if exclusive("exclusiveMinimum") {
                value <= min
            } else {
                value < min
            };
            if below {
                return Err(out_of_range(key, value, schema));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let above = if exclusive("exclusiveMaximum") {
                value >= max
            } else {
                value > max
            };
            if above {
                return Err(out_of_range(key, value, schema));
            }
        }
        Ok(())
    }
}

fn out_of_range(key: &str, value: f64, schema: &Value) -> JobError {
    let bound = |k: &str| {
        schema
            .get(k)
            .map_or_else(|| "none".to_owned(), Value::to_string)
    };
    JobError::bad_settings(
        format!("setting '{key}' is out of range"),
        format!(
            "'{key}' is {value}, outside minimum {} / maximum {}",
            bound("minimum"),
            bound("maximum")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "Storage format": {"enum": ["Dense", "RLE"], "type": "string", "default": "Dense"},
                "Region size": {"type": "integer", "minimum": 1, "maximum": 50, "default": 11},
                "Scale": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "default": 1},
                "Flag": {"type": "boolean", "default": false}
            }
        })
    }

    #[test]
    fn enum_settings_are_indices_and_defaults_resolve_to_the_default_value_index() {
        let schema = schema();
        let given = json!({"Storage format": 1});
        assert_eq!(
            Settings::new(&schema, &given)
                .expect("object")
                .enum_index("Storage format")
                .expect("valid"),
            1
        );
        let empty = json!({});
        assert_eq!(
            Settings::new(&schema, &empty)
                .expect("object")
                .enum_index("Storage format")
                .expect("default"),
            0
        );
        let named = json!({"Storage format": "RLE"});
        assert_eq!(
            Settings::new(&schema, &named)
                .expect("object")
                .enum_index("Storage format")
                .expect("by name"),
            1
        );
        let bad = json!({"Storage format": 2});
        let err = Settings::new(&schema, &bad)
            .expect("object")
            .enum_index("Storage format")
            .expect_err("index 2 of 2 choices");
        assert!(err.is_permanent());
    }

    #[test]
    fn ranges_follow_draft_4_including_boolean_exclusive_minimum() {
        let schema = schema();
        let ok = json!({"Region size": 50, "Scale": 0.5});
        let s = Settings::new(&schema, &ok).expect("object");
        assert_eq!(s.integer("Region size").expect("in range"), 50);
        assert!((s.number("Scale").expect("in range") - 0.5).abs() < f64::EPSILON);
        let bad = json!({"Region size": 51, "Scale": 0});
        let s = Settings::new(&schema, &bad).expect("object");
        assert!(s.integer("Region size").is_err());
        assert!(
            s.number("Scale").is_err(),
            "0 is excluded by exclusiveMinimum"
        );
    }

    #[test]
    fn wrong_types_and_missing_settings_without_default_are_bad_settings() {
        let schema = schema();
        let values = json!({"Flag": "yes", "Region size": 2.5});
        let s = Settings::new(&schema, &values).expect("object");
        assert!(s.boolean("Flag").is_err());
        assert!(s.integer("Region size").is_err());
        assert!(s.string("Unknown").is_err());
        assert!(Settings::new(&schema, &json!([1])).is_err());
    }
}
