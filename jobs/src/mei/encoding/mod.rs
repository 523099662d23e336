//! MEI encoding (upstream `MEI_encoding/`).
