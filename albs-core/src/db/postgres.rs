//! The PostgreSQL store.

/// The PostgreSQL store (being written).
pub struct PgStore;
