-- One way to finish a run job.
--
-- `rodan_mark_finished` is the only statement that marks run jobs FINISHED: the worker's
-- transaction path (a run job with outputs to place, `begin_finish`, which held a copy of this
-- UPDATE in Rust) and `rodan_finish_run_jobs` (run jobs with nothing to place) both go through
-- it.

-- Marks each of `p_run_jobs` that `p_owner` still holds (PROCESSING under its lease) FINISHED,
-- clearing the lease and any earlier error; returns those it marked, with their runs. Joined on
-- the unnested array: one primary-key probe per run job (see 0004).
CREATE FUNCTION rodan_mark_finished(p_run_jobs uuid[], p_owner text)
RETURNS TABLE (run_job uuid, run uuid)
LANGUAGE sql AS $$
    UPDATE run_jobs rj SET status = rodan_status('FINISHED'), lease_owner = NULL,
            lease_expires = NULL, error_summary = '', error_details = '', updated = now()
        FROM unnest(p_run_jobs) AS mine(uuid)
        WHERE rj.uuid = mine.uuid AND rj.lease_owner = p_owner
          AND rj.status = rodan_status('PROCESSING')
        RETURNING rj.uuid, rj.workflow_run_uuid
$$;

-- As in 0004 (see 0003 for the protocol), marking through `rodan_mark_finished`.
CREATE OR REPLACE FUNCTION rodan_finish_run_jobs(p_run_jobs uuid[], p_owner text)
RETURNS TABLE (run_job uuid, held boolean, run uuid, maybe_last boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_done uuid[];
    v_runs uuid[];
BEGIN
    WITH done AS MATERIALIZED (
        SELECT m.run_job AS uuid, m.run AS workflow_run_uuid
            FROM rodan_mark_finished(p_run_jobs, p_owner) m),
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
                     AND other.status NOT IN (rodan_status('PROCESSING'),
                                              rodan_status('FINISHED'))
                     AND other.uuid <> ALL (p_run_jobs))
        FROM unnest(p_run_jobs) WITH ORDINALITY AS r(uuid, ord)
        CROSS JOIN LATERAL (SELECT r.uuid = ANY (v_done) AS held_now) h
        LEFT JOIN run_jobs rj ON rj.uuid = r.uuid
        ORDER BY r.ord;
END
$$;
