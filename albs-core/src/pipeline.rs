//! Local pipeline.
