//! The [`BuildExecutor`](crate::build::BuildExecutor) suite.
// Filled in with the rpmbuild executor.
