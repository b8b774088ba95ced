//! The EVR and NEVRA parsers and rpm's version comparison on arbitrary
//! text: parsing never panics, what parses prints back to itself, and the
//! comparison is an order (reflexive, antisymmetric, transitive on three
//! inputs).
#![no_main]

use std::cmp::Ordering;

use albs_core::evr::{Evr, Nevra, rpmvercmp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(3, '\n').collect();
    let mut evrs = Vec::new();
    for &s in &parts {
        assert_eq!(rpmvercmp(s, s), Ordering::Equal, "{s:?}");
        if let Ok(e) = s.parse::<Evr>() {
            let again: Evr = e.to_string().parse().expect("printed EVR parses");
            assert_eq!(again.rpm_cmp(&e), Ordering::Equal, "{s:?} -> {e}");
            evrs.push(e);
        }
        if let Ok(n) = s.parse::<Nevra>() {
            let again: Nevra = n.to_string().parse().expect("printed NEVRA parses");
            assert_eq!(again, n, "{s:?}");
        }
    }
    if let [a, b, ..] = parts[..] {
        assert_eq!(rpmvercmp(a, b), rpmvercmp(b, a).reverse(), "{a:?} {b:?}");
    }
    if let [a, b, c] = parts[..] {
        let (ab, bc, ac) = (rpmvercmp(a, b), rpmvercmp(b, c), rpmvercmp(a, c));
        if ab != Ordering::Greater && bc != Ordering::Greater {
            assert_ne!(ac, Ordering::Greater, "{a:?} <= {b:?} <= {c:?}");
        }
    }
    for x in &evrs {
        for y in &evrs {
            assert_eq!(x.cmp(y), y.cmp(x).reverse(), "{x} {y}");
            assert_eq!(x.cmp(y) == Ordering::Equal, x == y, "{x} {y}");
        }
    }
});
