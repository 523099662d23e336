-- Upstream's Connection has `offset_x` and `offset_y` (nullable floats): where the workflow
-- builder of the web client draws the connection's handle, saved with a PUT of the connection.
ALTER TABLE connections ADD COLUMN offset_x double precision, ADD COLUMN offset_y double precision;
