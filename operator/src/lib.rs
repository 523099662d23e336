//! The Rodan operator: the `Rodan` custom resource and the controller that brings up and keeps
//! a complete Rodan from it.
pub mod apply;
pub mod build;
pub mod cache;
pub mod config;
pub mod controller;
pub mod crd;
pub mod http;
pub mod metrics;
pub mod status;

use kube::CustomResourceExt;

/// The `Rodan` CRD as YAML, as committed in `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd::Rodan::crd())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every property of the schema has a description: `kubectl explain` shows each one.
    #[test]
    fn every_crd_field_is_explained() {
        fn walk(path: &str, schema: &Value, missing: &mut Vec<String>) {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    let here = format!("{path}.{name}");
                    let described = prop
                        .get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.trim().is_empty());
                    if !described {
                        missing.push(here.clone());
                    }
                    walk(&here, prop, missing);
                }
            }
            if let Some(items) = schema.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
            if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                walk(&format!("{path}{{}}"), extra, missing);
            }
        }
        let crd = serde_json::to_value(<super::crd::Rodan as kube::CustomResourceExt>::crd())
            .expect("the CRD serialises");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut missing = Vec::new();
        walk("", schema, &mut missing);
        // apiVersion, kind and metadata are described by Kubernetes itself.
        missing.retain(|p| !matches!(p.as_str(), ".apiVersion" | ".kind" | ".metadata"));
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:#?}"
        );
        assert!(
            !schema["description"]
                .as_str()
                .unwrap_or_default()
                .contains("Auto-generated"),
            "the kind has its own description"
        );
    }

    /// Regenerate with `scripts/generate.sh`.
    #[test]
    fn the_committed_crd_is_generated_from_the_current_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crds/rodan.ddmal.music.mcgill.ca_rodans.yaml"
        );
        let committed = std::fs::read_to_string(path).expect("the CRD file exists");
        let generated = super::crd_yaml().expect("the CRD serialises");
        assert!(
            committed == generated,
            "crds/ is stale: run scripts/generate.sh"
        );
        let chart = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/rodan-operator/crds/rodan.ddmal.music.mcgill.ca_rodans.yaml"
        );
        let in_chart = std::fs::read_to_string(chart).expect("the chart carries the CRD");
        assert!(
            in_chart == generated,
            "the chart's CRD is stale: run scripts/generate.sh"
        );
    }
}
