//! Workflows as graphs: validation, run planning, export and import.
