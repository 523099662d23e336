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

/// Every status by its name, the one list the database's `rodan_status(name)` (migration 0008)
/// must agree with: SQL names a status as `rodan_status('FINISHED')`, never as a number.
pub const ALL: [(&str, i32); 11] = [
    ("SCHEDULED", SCHEDULED),
    ("PROCESSING", PROCESSING),
    ("WAITING_FOR_INPUT", WAITING_FOR_INPUT),
    ("FINISHED", FINISHED),
    ("FAILED", FAILED),
    ("CANCELLED", CANCELLED),
    ("EXPIRED", EXPIRED),
    ("RETRYING", RETRYING),
    ("REQUEST_PROCESSING", REQUEST_PROCESSING),
    ("REQUEST_CANCELLING", REQUEST_CANCELLING),
    ("REQUEST_RETRYING", REQUEST_RETRYING),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_status_is_listed_once() {
        let mut values: Vec<i32> = super::ALL.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), super::ALL.len());
    }
}
