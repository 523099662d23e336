-- Finishing a run job that produced nothing (no outputs to place, so nothing downstream became
-- runnable) in one round trip: mark it FINISHED if its worker still holds it, and finish its run
-- when it was the last one. Finishers of one run queue up on the run's row (FOR NO KEY UPDATE,
-- which does not block foreign-key checks), and every statement after the lock takes a fresh
-- snapshot, so the last finisher sees every other's commit and no run is left PROCESSING.
-- Status codes: 1 PROCESSING, 4 FINISHED, 11 RETRYING.
CREATE FUNCTION rodan_finish_run_job(
    p_run_job uuid, p_owner text,
    OUT held boolean, OUT run uuid, OUT project uuid, OUT run_finished boolean)
LANGUAGE plpgsql AS $$
BEGIN
    held := false;
    run_finished := false;
    SELECT rj.workflow_run_uuid INTO run FROM run_jobs rj WHERE rj.uuid = p_run_job;
    IF run IS NULL THEN
        RETURN;
    END IF;
    SELECT wr.project_uuid INTO project FROM workflow_runs wr
        WHERE wr.uuid = run FOR NO KEY UPDATE;
    UPDATE run_jobs SET status = 4, lease_owner = NULL, lease_expires = NULL,
            error_summary = '', error_details = '', updated = now()
        WHERE uuid = p_run_job AND lease_owner = p_owner AND status = 1;
    held := FOUND;
    IF NOT held THEN
        RETURN;
    END IF;
    UPDATE workflow_runs SET status = 4, updated = now()
        WHERE uuid = run AND status IN (1, 11)
          AND NOT EXISTS (SELECT 1 FROM run_jobs
                          WHERE workflow_run_uuid = run AND status <> 4);
    run_finished := FOUND;
END
$$;
