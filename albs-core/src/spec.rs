//! Spec queries.
