-- Finishing run jobs and their runs without serialising the finishers of a run.
--
-- The rule every finisher follows: after marking its run job FINISHED, it looks at the run's
-- other run jobs, either after its commit (the worker's transaction path, through dispatch) or
-- before it while holding a FOR SHARE lock on the run's row (`rodan_finish_run_jobs` below, for
-- jobs with nothing to place). If one of them is neither FINISHED nor PROCESSING (queued,
-- waiting, failed, cancelled), this finisher is not the last: that run job's own finisher looks
-- later, and sees this commit. Else it may be the last, and after its commit it calls
-- `rodan_finish_run`, which takes the run's row exclusively (FOR NO KEY UPDATE waits for every
-- finisher still holding a share, that is, still between its look and its commit) and checks
-- again with a fresh snapshot. So whoever checks last sees every other finisher's commit and no
-- run is left PROCESSING, while the finishers of a large run only share a lock.
-- Status codes: 1 PROCESSING, 4 FINISHED, 11 RETRYING.

-- Finishes `p_run` if it still runs and every run job of it is FINISHED; true when it did.
CREATE FUNCTION rodan_finish_run(p_run uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM workflow_runs WHERE uuid = p_run FOR NO KEY UPDATE;
    -- A new statement, so a new snapshot: it sees whoever held a share until now.
    UPDATE workflow_runs SET status = 4, updated = now()
        WHERE uuid = p_run AND status IN (1, 11)
          AND EXISTS (SELECT 1 FROM run_jobs WHERE workflow_run_uuid = p_run)
          AND NOT EXISTS (SELECT 1 FROM run_jobs
                          WHERE workflow_run_uuid = p_run AND status <> 4);
    RETURN FOUND;
END
$$;

-- Marks each of `p_run_jobs` FINISHED if `p_owner` still holds it (jobs with nothing to place,
-- so nothing downstream became runnable). One row per run job, in order: whether it was held,
-- and whether its run may now be complete (then call `rodan_finish_run` after the commit).
-- Runs are share-locked in uuid order; run jobs are locked before runs, as dispatch and the
-- reaper do.
CREATE FUNCTION rodan_finish_run_jobs(p_run_jobs uuid[], p_owner text)
RETURNS TABLE (run_job uuid, held boolean, run uuid, maybe_last boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_done uuid[];
    v_runs uuid[];
BEGIN
    WITH done AS (
        UPDATE run_jobs rj SET status = 4, lease_owner = NULL, lease_expires = NULL,
                error_summary = '', error_details = '', updated = now()
            WHERE rj.uuid = ANY (p_run_jobs) AND rj.lease_owner = p_owner AND rj.status = 1
            RETURNING rj.uuid, rj.workflow_run_uuid),
    shared AS (
        SELECT wr.uuid FROM workflow_runs wr
            WHERE wr.uuid IN (SELECT done.workflow_run_uuid FROM done)
            ORDER BY wr.uuid FOR SHARE)
    SELECT (SELECT coalesce(array_agg(done.uuid), '{}') FROM done),
           (SELECT coalesce(array_agg(shared.uuid), '{}') FROM shared)
        INTO v_done, v_runs;
    -- A new statement, so a snapshot taken while holding the shares.
    RETURN QUERY
        SELECT r.uuid, held_now, rj.workflow_run_uuid,
               held_now AND NOT EXISTS (
                   SELECT 1 FROM run_jobs other
                   WHERE other.workflow_run_uuid = rj.workflow_run_uuid
                     AND other.status NOT IN (1, 4)
                     AND other.uuid <> ALL (p_run_jobs))
        FROM unnest(p_run_jobs) WITH ORDINALITY AS r(uuid, ord)
        CROSS JOIN LATERAL (SELECT r.uuid = ANY (v_done) AS held_now) h
        LEFT JOIN run_jobs rj ON rj.uuid = r.uuid
        ORDER BY r.ord;
END
$$;
