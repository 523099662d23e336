-- Workers dispatch after every run job they finish: they look for the undispatched SCHEDULED run
-- jobs of the run, and for any unfinished one before finishing the run. These partial indexes keep
-- both lookups proportional to what is left of the run, not to its size (a batch run of a few
-- hundred pages otherwise rescans every run job of the run after each one).
CREATE INDEX run_jobs_undispatched ON run_jobs (workflow_run_uuid)
    WHERE status = 0 AND celery_task_id IS NULL;
CREATE INDEX run_jobs_unfinished ON run_jobs (workflow_run_uuid) WHERE status <> 4;
