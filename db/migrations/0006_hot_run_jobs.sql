-- Every run job is updated three times on its way (dispatch, claim, finish), and each time its
-- status changes. While an index names `status` (in its predicate) or `lease_expires`, none of
-- these updates can be HOT: each writes a new entry into every index of the table. Measured on
-- the dispatch benchmark (docs/benchmarks.md), HOT updates ran about 17% more no-op jobs/s.
--
-- So the three indexes of 0001 and 0002 that name them go, and the lookups they served use
-- `run_jobs_run` instead: dispatch and the run-completion checks read the run's run jobs (a scan
-- of the run rather than of what is left of it, against index maintenance on every update), and
-- the reaper looks for expired leases among the run jobs of runs that still run or failed in the
-- last week (a run job can still be PROCESSING after its run failed, until its own job ends or its
-- worker is found lost), through the two small partial indexes below. Free space in each page
-- keeps the new row versions beside the old ones.
DROP INDEX run_jobs_lease;
DROP INDEX run_jobs_undispatched;
DROP INDEX run_jobs_unfinished;
ALTER TABLE run_jobs SET (fillfactor = 40);
-- Status codes: 1 PROCESSING, 11 RETRYING, -1 FAILED.
CREATE INDEX workflow_runs_running ON workflow_runs (uuid) WHERE status IN (1, 11);
CREATE INDEX workflow_runs_failed ON workflow_runs (updated) WHERE status = -1;
