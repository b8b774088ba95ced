//! The package pool: interned strings, versions and dependencies of every
//! package loaded, and the indexes the solver queries (who provides a name,
//! which packages carry a name).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::dep::{EvrRef, Rich, Sense, ranges_overlap};
use crate::evr::rpmvercmp;

/// A small, fast, non-cryptographic hasher for interning (the pool hashes
/// millions of short strings while loading; SipHash costs too much there).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Interned strings in one arena: no allocation per string, and a table of
/// ids probed linearly (the pool interns hundreds of thousands of strings
/// while loading; an `Arc<str>` each cost a malloc and a free).
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    arena: String,
    /// Start of each string in `arena`, plus the end of the last one.
    ends: Vec<u32>,
    /// Open addressing: id + 1, 0 when empty; the length is a power of two.
    table: Vec<u32>,
}

impl Interner {
    fn hash(s: &str) -> u64 {
        let mut h = FxHasher::default();
        h.write(s.as_bytes());
        // Spread the high bits down: the table is indexed by the low ones.
        let x = h.finish();
        x ^ (x >> 29) ^ (x >> 47)
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        self.ends.len().saturating_sub(1)
    }

    /// Makes room for about `n` more strings.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.ends.reserve(n + 1);
        self.arena.reserve(n * 16);
        let want = ((self.len() + n) * 2).next_power_of_two();
        if want > self.table.len() {
            self.rehash(want);
        }
    }

    fn rehash(&mut self, size: usize) {
        let mut table = vec![0u32; size.max(16)];
        let mask = table.len() - 1;
        for id in 0..self.len() {
            let mut i = Self::hash(self.get_str(id)) as usize & mask;
            while table[i] != 0 {
                i = (i + 1) & mask;
            }
            table[i] = id as u32 + 1;
        }
        self.table = table;
    }

    /// The text of string `id`.
    pub(crate) fn get_str(&self, id: usize) -> &str {
        &self.arena[self.ends[id] as usize..self.ends[id + 1] as usize]
    }

    /// The id of `s`, if interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut i = Self::hash(s) as usize & mask;
        loop {
            match self.table[i] {
                0 => return None,
                e if self.get_str(e as usize - 1) == s => return Some(e - 1),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Interns `s`: its id, and whether it is new.
    pub(crate) fn intern(&mut self, s: &str) -> (u32, bool) {
        if (self.len() + 1) * 2 > self.table.len() {
            self.rehash((self.table.len() * 2).max(1024));
        }
        if self.ends.is_empty() {
            self.ends.push(0);
        }
        let mask = self.table.len() - 1;
        let mut i = Self::hash(s) as usize & mask;
        loop {
            match self.table[i] {
                0 => break,
                e if self.get_str(e as usize - 1) == s => return (e - 1, false),
                _ => i = (i + 1) & mask,
            }
        }
        let id = self.len() as u32;
        self.arena.push_str(s);
        self.ends.push(self.arena.len() as u32);
        self.table[i] = id + 1;
        (id, true)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta] $t:ident),*) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(pub u32);
        impl $t {
            /// The index of this id.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    )*};
}

id_type!(
    /// An interned string.
    StrId,
    /// An interned epoch-version-release.
    EvrId,
    /// An interned dependency (simple or rich).
    DepId,
    /// A package of the pool.
    PkgId
);

/// The kinds of dependency a package carries, plus its file list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DepKind {
    /// Capabilities the package offers.
    Provides,
    /// Capabilities it needs.
    Requires,
    /// Capabilities it cannot be installed with.
    Conflicts,
    /// Package names (and versions) it replaces.
    Obsoletes,
    /// Weak forward dependency, installed when possible.
    Recommends,
    /// Weaker forward dependency, never installed by the solver.
    Suggests,
    /// Weak reverse dependency.
    Supplements,
    /// Weaker reverse dependency.
    Enhances,
    /// Files listed in primary.xml, which act as provides.
    Files,
}

impl DepKind {
    /// Every kind, in storage order.
    pub const ALL: [DepKind; 9] = [
        DepKind::Provides,
        DepKind::Requires,
        DepKind::Conflicts,
        DepKind::Obsoletes,
        DepKind::Recommends,
        DepKind::Suggests,
        DepKind::Supplements,
        DepKind::Enhances,
        DepKind::Files,
    ];
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// An interned EVR; absent parts are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EvrRec {
    /// Epoch, if written.
    pub epoch: Option<u32>,
    /// Version.
    pub version: StrId,
    /// Release, if written.
    pub release: Option<StrId>,
}

/// An interned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepRec {
    /// The capability name (for a rich dependency, its whole text).
    pub name: StrId,
    /// The comparison ([`Sense::ANY`] when unversioned).
    pub sense: Sense,
    /// The version compared with, when versioned.
    pub evr: Option<EvrId>,
    /// The index of the parsed tree in the pool when the dependency is rich.
    pub rich: Option<u32>,
}

/// A package of the pool.
#[derive(Debug, Clone)]
pub struct Package {
    /// Name.
    pub name: StrId,
    /// Architecture.
    pub arch: StrId,
    /// Epoch, version and release (all present).
    pub evr: EvrId,
    deps: [(u32, u32); 9],
}

/// Loaded packages and their dependencies, with lookup indexes.
#[derive(Debug, Default)]
pub struct Pool {
    strings: Interner,
    evrs: Vec<EvrRec>,
    evr_ids: FxMap<EvrRec, EvrId>,
    deps: Vec<DepRec>,
    dep_ids: FxMap<DepRec, DepId>,
    rich: Vec<Rich<DepId>>,
    rich_ids: FxMap<StrId, DepId>,
    packages: Vec<Package>,
    dep_lists: Vec<DepId>,
    // Indexes, rebuilt by `reindex`.
    prov_off: Vec<u32>,
    prov: Vec<(PkgId, DepId)>,
    byname_off: Vec<u32>,
    byname: Vec<PkgId>,
    supplementers: Vec<PkgId>,
    arch_scores: FxMap<StrId, u8>,
    pkg_score: Vec<u8>,
    arch: String,
    pkgids: FxMap<PkgId, StrId>,
}

/// Compatible architectures of a machine, best first (noarch is always compatible).
fn compatible_arches(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" | "amd64" => &["x86_64", "athlon", "i686", "i586", "i486", "i386"],
        "x86_64_v2" => &[
            "x86_64_v2",
            "x86_64",
            "athlon",
            "i686",
            "i586",
            "i486",
            "i386",
        ],
        "aarch64" => &["aarch64"],
        "ppc64le" => &["ppc64le"],
        "s390x" => &["s390x"],
        "i686" => &["i686", "i586", "i486", "i386"],
        _ => &[],
    }
}

impl Pool {
    /// An empty pool for an x86_64 machine.
    pub fn new() -> Self {
        let mut p = Pool::default();
        p.set_arch("x86_64");
        p
    }

    /// Sets the machine architecture: packages of other arches cannot be
    /// installed, and better arches win among equal choices.
    pub fn set_arch(&mut self, arch: &str) {
        self.arch = arch.to_owned();
        self.arch_scores.clear();
        let list = compatible_arches(arch);
        let mut names: Vec<&str> = list.to_vec();
        if !names.contains(&arch) {
            names.insert(0, arch);
        }
        let n = names.len() as u8;
        for (i, a) in names.iter().enumerate() {
            let id = self.intern(a);
            self.arch_scores.insert(id, n + 1 - i as u8);
        }
        let noarch = self.intern("noarch");
        // noarch ranks with the machine's own arch (libsolv gives it no penalty).
        self.arch_scores.insert(noarch, n + 1);
        self.score_packages();
    }

    fn score_packages(&mut self) {
        self.pkg_score = self
            .packages
            .iter()
            .map(|p| self.arch_scores.get(&p.arch).copied().unwrap_or(0))
            .collect();
    }

    /// Reserves room for about `packages` more packages (from primary.xml's
    /// `packages` attribute), so the tables do not grow step by step.
    pub fn reserve(&mut self, packages: usize) {
        self.strings.reserve(packages * 3);
        self.deps.reserve(packages * 3);
        self.dep_ids.reserve(packages * 3);
        self.evrs.reserve(packages * 2);
        self.evr_ids.reserve(packages * 2);
        self.packages.reserve(packages);
        self.dep_lists.reserve(packages * 8);
    }

    /// Interns a string.
    pub fn intern(&mut self, s: &str) -> StrId {
        StrId(self.strings.intern(s).0)
    }

    /// The id of a string already interned.
    pub fn lookup(&self, s: &str) -> Option<StrId> {
        self.strings.lookup(s).map(StrId)
    }

    /// The text of an interned string.
    pub fn str(&self, id: StrId) -> &str {
        self.strings.get_str(id.index())
    }

    /// Interns an EVR.
    pub fn intern_evr(&mut self, rec: EvrRec) -> EvrId {
        if let Some(&id) = self.evr_ids.get(&rec) {
            return id;
        }
        let id = EvrId(self.evrs.len() as u32);
        self.evrs.push(rec);
        self.evr_ids.insert(rec, id);
        id
    }

    /// Interns a dependency.
    pub fn intern_dep(&mut self, rec: DepRec) -> DepId {
        if let Some(&id) = self.dep_ids.get(&rec) {
            return id;
        }
        let id = DepId(self.deps.len() as u32);
        self.deps.push(rec);
        self.dep_ids.insert(rec, id);
        id
    }

    /// Stores a parsed rich dependency tree and returns its index for [`DepRec::rich`].
    pub(crate) fn add_rich(&mut self, tree: Rich<DepId>) -> u32 {
        self.rich.push(tree);
        (self.rich.len() - 1) as u32
    }

    /// Interns the rich dependency `text`, parsing it once.
    pub fn intern_rich(&mut self, text: &str) -> Result<DepId, super::dep::RichError> {
        let name = self.intern(text);
        let key = DepRec {
            name,
            sense: Sense::ANY,
            evr: None,
            rich: None,
        };
        if let Some(&id) = self.rich_ids.get(&name) {
            return Ok(id);
        }
        let parsed = super::dep::parse_rich(text)?;
        let tree = self.intern_tree(&parsed);
        let idx = self.add_rich(tree);
        let id = self.intern_dep(DepRec {
            rich: Some(idx),
            ..key
        });
        self.rich_ids.insert(name, id);
        Ok(id)
    }

    fn intern_tree(&mut self, tree: &Rich<super::dep::SimpleDep<'_>>) -> Rich<DepId> {
        let mut leaf = |pool: &mut Pool, d: &super::dep::SimpleDep<'_>| {
            let evr = d.evr.map(|e| {
                let e = EvrRef::parse(e).expect("validated by the parser");
                let rec = EvrRec {
                    epoch: e.epoch,
                    version: pool.intern(e.version),
                    release: e.release.map(|r| pool.intern(r)),
                };
                pool.intern_evr(rec)
            });
            let name = pool.intern(d.name);
            pool.intern_dep(DepRec {
                name,
                sense: d.sense,
                evr,
                rich: None,
            })
        };
        fn walk(
            pool: &mut Pool,
            t: &Rich<super::dep::SimpleDep<'_>>,
            leaf: &mut impl FnMut(&mut Pool, &super::dep::SimpleDep<'_>) -> DepId,
        ) -> Rich<DepId> {
            let mut all = |pool: &mut Pool, v: &[Rich<super::dep::SimpleDep<'_>>]| {
                v.iter().map(|r| walk(pool, r, leaf)).collect::<Vec<_>>()
            };
            match t {
                Rich::Dep(d) => Rich::Dep(leaf(pool, d)),
                Rich::And(v) => Rich::And(all(pool, v)),
                Rich::Or(v) => Rich::Or(all(pool, v)),
                Rich::With(v) => Rich::With(all(pool, v)),
                Rich::Without(a, b) => {
                    Rich::Without(Box::new(walk(pool, a, leaf)), Box::new(walk(pool, b, leaf)))
                }
                Rich::If(a, b, c) | Rich::Unless(a, b, c) => {
                    let a = Box::new(walk(pool, a, leaf));
                    let b = Box::new(walk(pool, b, leaf));
                    let c = c.as_ref().map(|c| Box::new(walk(pool, c, leaf)));
                    if matches!(t, Rich::If(..)) {
                        Rich::If(a, b, c)
                    } else {
                        Rich::Unless(a, b, c)
                    }
                }
            }
        }
        walk(self, tree, &mut leaf)
    }

    /// Adds a package whose dependency lists are given per kind
    /// (indexed like [`DepKind::ALL`]). Call [`Pool::reindex`] when done adding.
    pub fn add_package(
        &mut self,
        name: StrId,
        arch: StrId,
        evr: EvrId,
        lists: &[Vec<DepId>; 9],
    ) -> PkgId {
        let mut deps = [(0u32, 0u32); 9];
        for (slot, list) in lists.iter().enumerate() {
            deps[slot] = (self.dep_lists.len() as u32, list.len() as u32);
            self.dep_lists.extend_from_slice(list);
        }
        self.packages.push(Package {
            name,
            arch,
            evr,
            deps,
        });
        PkgId((self.packages.len() - 1) as u32)
    }

    /// Replaces the dependencies of one kind of a package already added (for
    /// data that arrives after the package, such as filelists). Call
    /// [`Pool::reindex`] when done.
    pub fn set_deps(&mut self, pkg: PkgId, kind: DepKind, list: &[DepId]) {
        let slot = &mut self.packages[pkg.index()].deps[kind.slot()];
        let (start, len) = *slot;
        if start as usize + len as usize == self.dep_lists.len() {
            // The last list stored: rewrite it in place.
            self.dep_lists.truncate(start as usize);
        }
        *slot = (self.dep_lists.len() as u32, list.len() as u32);
        self.dep_lists.extend_from_slice(list);
    }

    /// Records the rpm-md `pkgid` (the package file's checksum) of a package.
    pub fn set_pkgid(&mut self, pkg: PkgId, pkgid: StrId) {
        self.pkgids.insert(pkg, pkgid);
    }

    /// The rpm-md `pkgid` of a package, when its primary.xml gave one.
    pub fn pkgid(&self, pkg: PkgId) -> Option<StrId> {
        self.pkgids.get(&pkg).copied()
    }

    /// Rebuilds the provider and name indexes; call after adding packages.
    pub fn reindex(&mut self) {
        let n = self.strings.len();
        let mut count = vec![0u32; n + 1];
        let mut byname_count = vec![0u32; n + 1];
        for p in &self.packages {
            byname_count[p.name.index()] += 1;
            for kind in [DepKind::Provides, DepKind::Files] {
                let (s, l) = p.deps[kind.slot()];
                for d in &self.dep_lists[s as usize..(s + l) as usize] {
                    count[self.deps[d.index()].name.index()] += 1;
                }
            }
        }
        fn prefix(count: &mut [u32]) -> Vec<u32> {
            let mut off = Vec::with_capacity(count.len() + 1);
            let mut acc = 0;
            off.push(0);
            for c in count.iter_mut() {
                acc += *c;
                off.push(acc);
                *c = acc - *c; // start position
            }
            off
        }
        self.prov_off = prefix(&mut count);
        self.byname_off = prefix(&mut byname_count);
        self.prov = vec![(PkgId(0), DepId(0)); *self.prov_off.last().unwrap_or(&0) as usize];
        self.byname = vec![PkgId(0); *self.byname_off.last().unwrap_or(&0) as usize];
        for (i, p) in self.packages.iter().enumerate() {
            let pid = PkgId(i as u32);
            let slot = &mut byname_count[p.name.index()];
            self.byname[*slot as usize] = pid;
            *slot += 1;
            for kind in [DepKind::Provides, DepKind::Files] {
                let (s, l) = p.deps[kind.slot()];
                for d in &self.dep_lists[s as usize..(s + l) as usize] {
                    let slot = &mut count[self.deps[d.index()].name.index()];
                    self.prov[*slot as usize] = (pid, *d);
                    *slot += 1;
                }
            }
        }
        self.supplementers = self
            .ids()
            .filter(|&p| !self.deps(p, DepKind::Supplements).is_empty())
            .collect();
        self.score_packages();
    }

    /// Packages with supplements (weak reverse dependencies).
    pub fn supplementers(&self) -> &[PkgId] {
        &self.supplementers
    }

    /// Number of packages.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether the pool has no packages.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Every package id.
    pub fn ids(&self) -> impl Iterator<Item = PkgId> + use<> {
        (0..self.packages.len() as u32).map(PkgId)
    }

    /// A package.
    pub fn package(&self, id: PkgId) -> &Package {
        &self.packages[id.index()]
    }

    /// The dependencies of one kind of a package.
    pub fn deps(&self, id: PkgId, kind: DepKind) -> &[DepId] {
        let (s, l) = self.packages[id.index()].deps[kind.slot()];
        &self.dep_lists[s as usize..(s + l) as usize]
    }

    /// A dependency record.
    pub fn dep(&self, id: DepId) -> &DepRec {
        &self.deps[id.index()]
    }

    /// The parsed tree of a rich dependency.
    pub fn rich(&self, id: DepId) -> Option<&Rich<DepId>> {
        self.deps[id.index()].rich.map(|r| &self.rich[r as usize])
    }

    /// An EVR record.
    pub fn evr(&self, id: EvrId) -> &EvrRec {
        &self.evrs[id.index()]
    }

    /// A borrowed view of an EVR.
    pub fn evr_ref(&self, id: EvrId) -> EvrRef<'_> {
        let e = &self.evrs[id.index()];
        EvrRef {
            epoch: e.epoch,
            version: self.str(e.version),
            release: e.release.map(|r| self.str(r)),
        }
    }

    /// Compares two package EVRs by rpm's ordering.
    pub fn evr_cmp(&self, a: EvrId, b: EvrId) -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        let (x, y) = (self.evr_ref(a), self.evr_ref(b));
        x.epoch
            .unwrap_or(0)
            .cmp(&y.epoch.unwrap_or(0))
            .then_with(|| rpmvercmp(x.version, y.version))
            .then_with(|| rpmvercmp(x.release.unwrap_or(""), y.release.unwrap_or("")))
    }

    /// The packages named `name`.
    pub fn by_name(&self, name: StrId) -> &[PkgId] {
        let i = name.index();
        if i + 1 >= self.byname_off.len() {
            return &[];
        }
        &self.byname[self.byname_off[i] as usize..self.byname_off[i + 1] as usize]
    }

    /// The (package, provide) pairs whose provide or file is named `name`.
    pub fn providers_of_name(&self, name: StrId) -> &[(PkgId, DepId)] {
        let i = name.index();
        if i + 1 >= self.prov_off.len() {
            return &[];
        }
        &self.prov[self.prov_off[i] as usize..self.prov_off[i + 1] as usize]
    }

    /// Whether a provide satisfies a simple (non-rich) dependency.
    pub fn provide_matches(&self, provide: DepId, dep: DepId) -> bool {
        let (p, d) = (&self.deps[provide.index()], &self.deps[dep.index()]);
        if p.name != d.name {
            return false;
        }
        match (p.evr, d.evr) {
            (Some(pe), Some(de)) => {
                ranges_overlap(p.sense, &self.evr_ref(pe), d.sense, &self.evr_ref(de))
            }
            _ => true,
        }
    }

    /// Whether a package's own name and EVR match a dependency (obsoletes match names, not provides).
    pub fn name_matches(&self, pkg: PkgId, dep: DepId) -> bool {
        let p = &self.packages[pkg.index()];
        let d = &self.deps[dep.index()];
        if p.name != d.name {
            return false;
        }
        match d.evr {
            Some(de) => ranges_overlap(
                Sense::EQUAL,
                &self.evr_ref(p.evr),
                d.sense,
                &self.evr_ref(de),
            ),
            None => true,
        }
    }

    /// Packages providing a simple dependency (all arches; unsorted, deduplicated).
    pub fn what_provides(&self, dep: DepId, out: &mut Vec<PkgId>) {
        let start = out.len();
        for &(pkg, prov) in self.providers_of_name(self.deps[dep.index()].name) {
            if self.provide_matches(prov, dep) && !out[start..].contains(&pkg) {
                out.push(pkg);
            }
        }
    }

    /// The arch score of a package: 0 when it cannot be installed on this machine, higher is better.
    pub fn arch_score(&self, pkg: PkgId) -> u8 {
        self.pkg_score.get(pkg.index()).copied().unwrap_or(0)
    }

    /// `name-[epoch:]version-release.arch` of a package.
    pub fn nevra(&self, pkg: PkgId) -> String {
        let p = &self.packages[pkg.index()];
        let e = self.evr_ref(p.evr);
        let epoch = match e.epoch {
            Some(n) if n > 0 => format!("{n}:"),
            _ => String::new(),
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.str(p.name),
            e.version,
            e.release.unwrap_or(""),
            self.str(p.arch)
        )
    }

    /// The package of a NEVRA as [`Pool::nevra`] prints it
    /// (`name-[epoch:]version-release.arch`; an epoch of 0 may be written or
    /// not), the first one loaded when several match.
    pub fn find_nevra(&self, nevra: &str) -> Option<PkgId> {
        // The name ends at the second-to-last `-`; names may hold `-` themselves.
        let (rest, _) = nevra.rsplit_once('-')?;
        let (name, _) = rest.rsplit_once('-')?;
        let id = self.lookup(name)?;
        let plain = nevra.replacen(&format!("{name}-0:"), &format!("{name}-"), 1);
        self.by_name(id)
            .iter()
            .copied()
            .find(|&p| self.nevra(p) == plain)
    }

    /// A dependency as rpm prints it (`foo >= 1.0`).
    pub fn dep_str(&self, dep: DepId) -> String {
        let d = &self.deps[dep.index()];
        match d.evr {
            None => self.str(d.name).to_owned(),
            Some(e) => {
                let e = self.evr_ref(e);
                let mut s = format!("{} {} ", self.str(d.name), d.sense.as_op());
                if let Some(ep) = e.epoch.filter(|&ep| ep > 0) {
                    s.push_str(&format!("{ep}:"));
                }
                s.push_str(e.version);
                if let Some(r) = e.release {
                    s.push('-');
                    s.push_str(r);
                }
                s
            }
        }
    }
}
