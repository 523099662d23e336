-- One source for status codes in SQL.
--
-- `rodan_status(name)` is the SQL side of `rodan_core::status` (a test checks that every name
-- gives the Rust constant): functions and queries name a status, `rodan_status('FINISHED')`,
-- never write its number. It is IMMUTABLE, so a call with a constant name is folded to its
-- number when a statement is planned (plans and index use are as with the literal), and an
-- unknown name fails loudly instead of comparing as NULL. The functions of 0003 and 0004 are
-- replaced by the same functions with their statuses named. The partial indexes of 0005 and 0006
-- keep their literal predicates (an index predicate is written out); the same test checks them.

CREATE FUNCTION rodan_status(p_name text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
DECLARE
    v integer;
BEGIN
    v := CASE p_name
        WHEN 'SCHEDULED' THEN 0
        WHEN 'PROCESSING' THEN 1
        WHEN 'WAITING_FOR_INPUT' THEN 2
        WHEN 'FINISHED' THEN 4
        WHEN 'FAILED' THEN -1
        WHEN 'CANCELLED' THEN 9
        WHEN 'EXPIRED' THEN 8
        WHEN 'RETRYING' THEN 11
        WHEN 'REQUEST_PROCESSING' THEN 21
        WHEN 'REQUEST_CANCELLING' THEN 29
        WHEN 'REQUEST_RETRYING' THEN 31
    END;
    IF v IS NULL THEN
        RAISE EXCEPTION 'unknown Rodan status %', p_name;
    END IF;
    RETURN v;
END
$$;

-- Finishes `p_run` if it still runs and every run job of it is FINISHED; true when it did.
-- The same as in 0003, with the statuses named.
CREATE OR REPLACE FUNCTION rodan_finish_run(p_run uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM workflow_runs WHERE uuid = p_run FOR NO KEY UPDATE;
    -- A new statement, so a new snapshot: it sees whoever held a share until now.
    UPDATE workflow_runs SET status = rodan_status('FINISHED'), updated = now()
        WHERE uuid = p_run
          AND status IN (rodan_status('PROCESSING'), rodan_status('RETRYING'))
          AND EXISTS (SELECT 1 FROM run_jobs WHERE workflow_run_uuid = p_run)
          AND NOT EXISTS (SELECT 1 FROM run_jobs
                          WHERE workflow_run_uuid = p_run
                            AND status <> rodan_status('FINISHED'));
    RETURN FOUND;
END
$$;

-- As in 0004 (see 0003 for the protocol), with the statuses named.
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
        UPDATE run_jobs rj SET status = rodan_status('FINISHED'), lease_owner = NULL,
                lease_expires = NULL, error_summary = '', error_details = '', updated = now()
            FROM unnest(p_run_jobs) AS mine(uuid)
            WHERE rj.uuid = mine.uuid AND rj.lease_owner = p_owner
              AND rj.status = rodan_status('PROCESSING')
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
                     AND other.status NOT IN (rodan_status('PROCESSING'),
                                              rodan_status('FINISHED'))
                     AND other.uuid <> ALL (p_run_jobs))
        FROM unnest(p_run_jobs) WITH ORDINALITY AS r(uuid, ord)
        CROSS JOIN LATERAL (SELECT r.uuid = ANY (v_done) AS held_now) h
        LEFT JOIN run_jobs rj ON rj.uuid = r.uuid
        ORDER BY r.ord;
END
$$;
