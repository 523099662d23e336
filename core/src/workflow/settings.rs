//! Workflow job settings against the job's JSON schema (draft 4): defaults and validation.

use jsonschema::paths::{Location, LocationSegment};
use serde_json::{Map, Value};

/// The settings with every top-level property the schema gives a `default` for and the settings
/// lack filled in from that default; what is already set is kept. Settings that are not an
/// object (a new workflow job has none) count as empty.
pub fn fill_defaults(schema: &Value, settings: &Value) -> Value {
    let mut filled = match settings {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, definition) in properties {
            if let Some(default) = definition.get("default")
                && !filled.contains_key(name)
            {
                filled.insert(name.clone(), default.clone());
            }
        }
    }
    Value::Object(filled)
}

/// Check settings against a job's schema (draft 4), for a 400 on workflow job create or update.
///
/// # Errors
///
/// One message per violation, prefixed by the setting's path (`"b[0]: ..."`) when the violation
/// is below the top level; a single message when the schema itself does not compile.
pub fn validate_settings(schema: &Value, settings: &Value) -> Result<(), Vec<String>> {
    check(schema, settings)
}

pub(crate) fn check(schema: &Value, settings: &Value) -> Result<(), Vec<String>> {
    let validator = jsonschema::draft4::new(schema)
        .map_err(|e| vec![format!("The job's settings schema is invalid: {e}")])?;
    let messages: Vec<String> = validator
        .iter_errors(settings)
        .map(|e| {
            let path = dotted_path(e.instance_path());
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    if messages.is_empty() {
        Ok(())
    } else {
        Err(messages)
    }
}

/// A JSON location written as upstream writes paths: `workflow_jobs[0].input_ports[1].id`.
pub(crate) fn dotted_path(location: &Location) -> String {
    let mut path = String::new();
    for segment in location.segments() {
        match segment {
            LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
            LocationSegment::Property(p) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&p);
            }
        }
    }
    path
}
