//! What Rodan's API server and worker both speak, with no IO.

pub mod catalogue;
pub mod detect;
pub mod interactive;
pub mod media;
pub mod message;
pub mod resource_types;
pub mod status;
pub mod workflow;
