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
