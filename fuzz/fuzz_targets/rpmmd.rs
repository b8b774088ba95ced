//! The rpm-md primary reader on arbitrary bytes: it returns an error or a
//! pool, never panics; a small pool it accepts must also survive the
//! solver (installcheck, repoclosure) and print every package.
#![no_main]

use albs_core::solve::Pool;
use albs_core::solve::rpmmd::read_primary;
use albs_core::solve::sat::{installcheck, repoclosure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pool = Pool::new();
    if read_primary(&mut pool, data, "fuzz").is_err() {
        return;
    }
    for p in pool.ids() {
        let nevra = pool.nevra(p);
        if let Some(q) = pool.find_nevra(&nevra) {
            assert_eq!(pool.nevra(q), nevra);
        }
    }
    if pool.len() <= 16 {
        let _ = installcheck(&pool, pool.ids());
        let _ = repoclosure(&pool);
    }
});
