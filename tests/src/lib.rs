//! Shared helpers of the albs end-to-end tests: fixtures made by scripts
//! and servers started on loopback.

pub mod fixtures;
pub mod git_http;
