//! Upstream Rodan's status integers (rodan-reference §2.4), on the wire and in the database.

/// Waiting to run (run jobs, resources, results packages).
pub const SCHEDULED: i32 = 0;
/// Running; the default of a new workflow run.
pub const PROCESSING: i32 = 1;
/// An interactive run job waits for a person.
pub const WAITING_FOR_INPUT: i32 = 2;
/// Done.
pub const FINISHED: i32 = 4;
/// Failed; `error_summary`/`error_details` say why.
pub const FAILED: i32 = -1;
/// Cancelled.
pub const CANCELLED: i32 = 9;
/// A results package whose file was removed.
pub const EXPIRED: i32 = 8;
/// A workflow run being retried.
pub const RETRYING: i32 = 11;
/// The only status a client may give when creating a workflow run.
pub const REQUEST_PROCESSING: i32 = 21;
/// A client asks to cancel a workflow run (from processing, retrying or failed).
pub const REQUEST_CANCELLING: i32 = 29;
/// A client asks to retry a workflow run (from cancelled or failed).
pub const REQUEST_RETRYING: i32 = 31;
