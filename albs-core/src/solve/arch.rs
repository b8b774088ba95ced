//! Architecture rules between packages: multilib colors and allowed arch
//! changes on update.
//!
//! rpm gives each architecture a "color": 1 for 32-bit ELF, 2 for 64-bit
//! ELF; an x86_64 machine has `%_transaction_color 3`, so it can hold both
//! (`rpm --showrc`, and rpm's "multilib" documentation: "packages of the same
//! name but different color may be installed together"). libsolv models the
//! same rule with `pool_arch2color` (`ARCHCOLOR_32 = 1`, `ARCHCOLOR_64 = 2`,
//! noarch matches every color) and, with `POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS`
//! set (as dnf sets it), applies the implicit "same name obsoletes" rule only
//! between packages whose colors match.

/// The rpm color of an architecture: 1 for 32-bit, 2 for 64-bit, 0 for
/// noarch and unknown ones (which never co-install with their namesakes).
pub fn arch_color(arch: &str) -> u8 {
    match arch {
        "x86_64" | "x86_64_v2" | "x86_64_v3" | "x86_64_v4" | "amd64" | "ia32e" | "aarch64"
        | "ppc64" | "ppc64le" | "ppc64p7" | "s390x" | "sparc64" | "sparc64v" | "riscv64"
        | "ia64" | "alpha" | "loongarch64" | "mips64" | "mips64el" => 2,
        "i386" | "i486" | "i586" | "i686" | "athlon" | "pentium3" | "pentium4" | "geode"
        | "ppc" | "s390" | "sparc" | "sparcv8" | "sparcv9" | "armv7hl" | "armv7l" | "armv6l"
        | "armv5tel" | "mips" | "mipsel" | "riscv32" => 1,
        _ => 0,
    }
}

/// Whether two packages of the same name but of architectures `a` and `b`
/// may be installed together: their colors are both known and differ
/// (x86_64 with i686; never noarch with anything, never one arch twice).
pub fn multilib_compatible(a: &str, b: &str) -> bool {
    let (ca, cb) = (arch_color(a), arch_color(b));
    a != b && ca != 0 && cb != 0 && ca & cb == 0
}

/// Whether an update may replace a package of arch `from` with one of arch
/// `to`: the same arch, or a move to or from noarch (libsolv's
/// `policy_illegal_archchange` refuses any other change, so an x86_64
/// package is never "updated" by an i686 one).
pub fn arch_change_allowed(from: &str, to: &str) -> bool {
    from == to || from == "noarch" || to == "noarch"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multilib_pairs_follow_colors() {
        assert!(multilib_compatible("x86_64", "i686"));
        assert!(multilib_compatible("i586", "x86_64"));
        assert!(multilib_compatible("ppc64", "ppc"));
        assert!(multilib_compatible("s390x", "s390"));
        // One arch twice, noarch, and two 32-bit arches never pair.
        assert!(!multilib_compatible("x86_64", "x86_64"));
        assert!(!multilib_compatible("noarch", "x86_64"));
        assert!(!multilib_compatible("i686", "noarch"));
        assert!(!multilib_compatible("i686", "i586"));
        assert!(!multilib_compatible("x86_64", "aarch64"));
    }

    #[test]
    fn updates_keep_the_arch_or_move_through_noarch() {
        assert!(arch_change_allowed("x86_64", "x86_64"));
        assert!(arch_change_allowed("x86_64", "noarch"));
        assert!(arch_change_allowed("noarch", "i686"));
        assert!(!arch_change_allowed("x86_64", "i686"));
        assert!(!arch_change_allowed("i686", "x86_64"));
    }
}
