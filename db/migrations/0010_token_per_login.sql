-- A token per login (upstream's one token per user, shared by every login, cannot be given out
-- again when only its hash is stored: a second login used to replace it and end the first
-- session). Logout, a token reset and a password change still delete them all.
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_user_id_key;
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, created);
