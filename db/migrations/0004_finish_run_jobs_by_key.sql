-- `rodan_finish_run_jobs` found its run jobs with `uuid = ANY (p_run_jobs) AND status = 1`, for
-- which the generic plan (estimating ten array elements) ANDed a bitmap of the primary key with
-- one of `run_jobs_lease`: a scan of every PROCESSING run job's entry, dead ones included, for
-- each finish (thousands under load). Joining on the unnested array makes it one primary-key
-- probe per run job. Otherwise the same function as in 0003 (see there for the protocol).
CREATE OR REPLACE FUNCTION rodan_finish_run_jobs(p_run_jobs uuid[], p_owner text)
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
            FROM unnest(p_run_jobs) AS mine(uuid)
            WHERE rj.uuid = mine.uuid AND rj.lease_owner = p_owner AND rj.status = 1
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
