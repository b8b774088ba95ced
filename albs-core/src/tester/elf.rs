//! A small ELF reader: what the integrity stage and the host checks need of
//! a binary (its class, the libraries it needs, its run paths and the symbol
//! versions a library defines), read from the section headers.

/// What is known of an ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// 64-bit (ELFCLASS64) rather than 32-bit.
    pub is_64: bool,
    /// `e_machine`.
    pub machine: u16,
    /// DT_NEEDED entries, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH or DT_RPATH entries, split at `:`.
    pub runpath: Vec<String>,
    /// DT_SONAME, when set.
    pub soname: Option<String>,
    /// Version names the file defines (`.gnu.version_d`), such as `GLIBC_2.34`.
    pub version_defs: Vec<String>,
}

/// Whether `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

struct Reader<'a> {
    data: &'a [u8],
    is_64: bool,
    little: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, off: u64) -> Option<[u8; N]> {
        let off = usize::try_from(off).ok()?;
        self.data.get(off..off.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, off: u64) -> Option<u16> {
        let b = self.bytes::<2>(off)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, off: u64) -> Option<u32> {
        let b = self.bytes::<4>(off)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(&self, off: u64) -> Option<u64> {
        let b = self.bytes::<8>(off)?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, off: u64) -> Option<u64> {
        if self.is_64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }
    fn cstr(&self, off: u64) -> Option<String> {
        let off = usize::try_from(off).ok()?;
        let rest = self.data.get(off..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

#[derive(Clone, Copy)]
struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

const SHT_STRTAB: u32 = 3;
const SHT_DYNAMIC: u32 = 6;
const SHT_GNU_VERDEF: u32 = 0x6fff_fffd;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Reads an ELF file; `None` when it is not ELF or is truncated.
pub fn parse(data: &[u8]) -> Option<ElfInfo> {
    if !is_elf(data) || data.len() < 0x34 {
        return None;
    }
    let is_64 = match data[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match data[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let r = Reader {
        data,
        is_64,
        little,
    };
    let machine = r.u16(0x12)?;
    let (shoff, shentsize, shnum) = if is_64 {
        (r.u64(0x28)?, r.u16(0x3a)?, r.u16(0x3c)?)
    } else {
        (u64::from(r.u32(0x20)?), r.u16(0x2e)?, r.u16(0x30)?)
    };
    let mut sections = Vec::with_capacity(usize::from(shnum));
    for i in 0..u64::from(shnum) {
        let base = shoff.checked_add(i * u64::from(shentsize))?;
        let s = if is_64 {
            Section {
                kind: r.u32(base + 4)?,
                offset: r.u64(base + 0x18)?,
                size: r.u64(base + 0x20)?,
                link: r.u32(base + 0x28)?,
                entsize: r.u64(base + 0x38)?,
            }
        } else {
            Section {
                kind: r.u32(base + 4)?,
                offset: u64::from(r.u32(base + 0x10)?),
                size: u64::from(r.u32(base + 0x14)?),
                link: r.u32(base + 0x18)?,
                entsize: u64::from(r.u32(base + 0x24)?),
            }
        };
        sections.push(s);
    }
    let mut info = ElfInfo {
        is_64,
        machine,
        ..ElfInfo::default()
    };
    let strtab = |link: u32| -> Option<Section> {
        sections
            .get(link as usize)
            .copied()
            .filter(|s| s.kind == SHT_STRTAB)
    };
    for s in sections.iter().filter(|s| s.kind == SHT_DYNAMIC) {
        let Some(strs) = strtab(s.link) else { continue };
        let ent = if s.entsize != 0 {
            s.entsize
        } else if is_64 {
            16
        } else {
            8
        };
        let word = if is_64 { 8 } else { 4 };
        let mut off = s.offset;
        while off + ent <= s.offset + s.size {
            let tag = r.word(off)?;
            let val = r.word(off + word)?;
            off += ent;
            let text = || r.cstr(strs.offset + val);
            match tag {
                DT_NULL => break,
                DT_NEEDED => info.needed.extend(text()),
                DT_SONAME => info.soname = text(),
                DT_RPATH | DT_RUNPATH => {
                    if let Some(t) = text() {
                        info.runpath
                            .extend(t.split(':').filter(|p| !p.is_empty()).map(str::to_owned));
                    }
                }
                _ => {}
            }
        }
    }
    for s in sections.iter().filter(|s| s.kind == SHT_GNU_VERDEF) {
        let Some(strs) = strtab(s.link) else { continue };
        let mut off = s.offset;
        // Verdef: version(2) flags(2) ndx(2) cnt(2) hash(4) aux(4) next(4).
        for _ in 0..4096 {
            let flags = r.u16(off + 2)?;
            let aux = r.u32(off + 12)?;
            let next = r.u32(off + 16)?;
            // The first aux entry names the version; VER_FLG_BASE (1) is the file itself.
            if flags & 1 == 0 {
                let name = r.u32(off + u64::from(aux))?;
                info.version_defs
                    .extend(r.cstr(strs.offset + u64::from(name)));
            }
            if next == 0 {
                break;
            }
            off += u64::from(next);
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_libc() -> Option<Vec<u8>> {
        [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/libc.so.6",
            "/usr/lib64/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
    }

    #[test]
    fn reads_the_host_shell_and_libc() {
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        let info = parse(&sh).expect("/bin/sh is ELF");
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{info:?}"
        );
        let libc = parse(&host_libc().expect("a libc")).unwrap();
        assert_eq!(libc.soname.as_deref(), Some("libc.so.6"));
        assert!(
            libc.version_defs
                .iter()
                .any(|v| v == "GLIBC_2.2.5" || v == "GLIBC_2.0")
        );
        assert!(parse(b"#!/bin/sh\n").is_none());
        assert!(parse(&sh[..40]).is_none(), "truncated files are refused");
    }
}
