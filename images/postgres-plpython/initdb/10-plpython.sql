-- Rodan's schema (and dumps of upstream Rodan databases) use the untrusted Python language.
CREATE EXTENSION IF NOT EXISTS plpython3u;
