-- Uploads wait in processing status SCHEDULED (0), with their file, until a `celery`-queue
-- worker settles them (type detection); run outputs wait in the same status without a file.
-- Workers look for uploads whose message was lost (the API could not publish it) by age; this
-- keeps that lookup to the few waiting rows.
CREATE INDEX resources_scheduled_uploads ON resources (updated)
    WHERE processing_status = 0 AND resource_file IS NOT NULL;
