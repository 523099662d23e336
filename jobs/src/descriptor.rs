//! Builders for catalogue descriptors in upstream's shape (`RodanTask` class attributes).

use rodan_core::catalogue::{JobDescriptor, PortType};
use serde_json::Value;

/// The queue of a job whose settings name none (upstream's default).
pub const DEFAULT_QUEUE: &str = "celery";

/// The image resource types Gamera's PNG jobs accept.
pub const GAMERA_PNG_TYPES: [&str; 4] = [
    "image/rgb+png",
    "image/onebit+png",
    "image/greyscale+png",
    "image/grey16+png",
];

/// Every registered resource type, in upstream's registration order.
pub fn all_types() -> Vec<&'static str> {
    rodan_core::resource_types::BUILTIN
        .iter()
        .map(|t| t.mimetype)
        .collect()
}

/// The registered image types: what a port accepting `lambda mime: mime.startswith('image/')`
/// resolves to.
pub fn image_types() -> Vec<&'static str> {
    all_types()
        .into_iter()
        .filter(|t| t.starts_with("image/"))
        .collect()
}

/// A single-resource port type.
pub fn port(name: &str, minimum: u32, maximum: u32, resource_types: &[&str]) -> PortType {
    PortType {
        name: name.to_owned(),
        minimum,
        maximum,
        is_list: false,
        resource_types: resource_types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// The parts of a non-interactive, enabled job's descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// Upstream's job name.
    pub name: &'a str,
    /// Upstream's author.
    pub author: &'a str,
    /// Upstream's description.
    pub description: &'a str,
    /// Upstream's category.
    pub category: &'a str,
}

/// A descriptor from `spec`, the settings schema (whose `job_queue` names the queue) and ports.
pub fn describe(
    spec: Spec<'_>,
    settings: Value,
    input_port_types: Vec<PortType>,
    output_port_types: Vec<PortType>,
) -> JobDescriptor {
    let queue = settings
        .get("job_queue")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_QUEUE)
        .to_owned();
    JobDescriptor {
        name: spec.name.to_owned(),
        author: spec.author.to_owned(),
        category: spec.category.to_owned(),
        description: spec.description.to_owned(),
        queue,
        settings,
        interactive: false,
        enabled: true,
        input_port_types,
        output_port_types,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_ports_resolve_to_the_registered_image_types_only() {
        let types = image_types();
        assert!(types.contains(&"image/rgb+png") && types.contains(&"image/tiff"));
        assert!(types.iter().all(|t| t.starts_with("image/")));
        assert!(all_types().len() > types.len());
    }

    #[test]
    fn the_queue_comes_from_job_queue_and_defaults_to_celery() {
        let spec = Spec {
            name: "n",
            author: "a",
            description: "d",
            category: "c",
        };
        let d = describe(spec, json!({"job_queue": "Python3"}), vec![], vec![]);
        assert_eq!(d.queue, "Python3");
        let d = describe(spec, json!({}), vec![], vec![]);
        assert_eq!(d.queue, "celery");
    }
}
