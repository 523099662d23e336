//! Resource type detection of uploaded files (upstream `fileparse`).
