//! # albs-python
//!
//! The `albs` Python package: a facade over albs-core, albs-sign, albs-sbom and
//! albs-oval built with pyo3 and maturin, with one exception class per error
//! kind, typed stubs and calls that release the GIL.
//!
//! Today it holds the functions the module will expose first, in plain Rust.
#![deny(missing_docs)]

use std::cmp::Ordering;

/// rpm's version comparison as Python's `cmp` convention: -1, 0 or 1.
pub fn vercmp(a: &str, b: &str) -> i32 {
    match albs_core::evr::rpmvercmp(a, b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vercmp_follows_rpm() {
        assert_eq!(super::vercmp("1.0~rc1", "1.0"), -1);
        assert_eq!(super::vercmp("1.0^git1", "1.0"), 1);
        assert_eq!(super::vercmp("010", "10"), 0);
    }
}
