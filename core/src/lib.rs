//! What Rodan's API server and worker both speak, with no IO.

pub mod catalogue;
pub mod detect;
pub mod message;
pub mod status;
pub mod workflow;
