//! Workflow job settings: defaults for new workflow jobs and field-level validation messages.

use rodan_core::workflow::{fill_defaults, validate_settings};
use serde_json::json;

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["Threshold"],
        "properties": {
            "Threshold": {"type": "integer", "minimum": 0, "maximum": 255, "default": 128},
            "Method": {"enum": ["mean", "median"], "default": "mean"},
            "Scales": {"type": "array", "items": {"type": "number"}},
        },
        "job_queue": "Python3",
    })
}

#[test]
fn missing_top_level_settings_take_the_schema_defaults() {
    assert_eq!(
        fill_defaults(&schema(), &json!(null)),
        json!({"Threshold": 128, "Method": "mean"})
    );
    assert_eq!(
        fill_defaults(&schema(), &json!({"Threshold": 3, "Extra": true})),
        json!({"Threshold": 3, "Method": "mean", "Extra": true}),
        "given settings are kept, only missing ones are filled"
    );
    assert_eq!(fill_defaults(&json!({}), &json!({})), json!({}));
}

#[test]
fn filled_defaults_pass_the_schema() {
    let filled = fill_defaults(&schema(), &json!({}));
    assert_eq!(validate_settings(&schema(), &filled), Ok(()));
}

#[test]
fn violations_come_back_one_message_per_field() {
    let messages = validate_settings(
        &schema(),
        &json!({"Threshold": 300, "Method": "mode", "Scales": [1, "two"]}),
    )
    .expect_err("three violations");
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("Threshold: ")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("Method: ")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("Scales[1]: ")),
        "{messages:?}"
    );
}

#[test]
fn a_missing_required_setting_is_reported_at_the_top_level() {
    let messages = validate_settings(&schema(), &json!({})).expect_err("Threshold is required");
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Threshold"), "{messages:?}");
    assert!(
        !messages[0].contains(": \""),
        "no path prefix at the top level: {messages:?}"
    );
}

#[test]
fn a_schema_that_does_not_compile_is_reported_not_panicked_on() {
    let messages = validate_settings(&json!({"type": 12}), &json!({})).expect_err("bad schema");
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].starts_with("The job's settings schema is invalid"),
        "{messages:?}"
    );
}
