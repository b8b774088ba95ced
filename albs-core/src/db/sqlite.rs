//! The SQLite store.

/// The SQLite store (being written).
pub struct SqliteStore;
