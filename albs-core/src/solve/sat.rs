//! A CDCL solver over package rules, with installcheck and repoclosure.
//!
//! For a job, only the packages reachable from it through requires (and
//! recommends, when weak dependencies are on) get a variable; packages never
//! reached are not installed. Each reached package contributes clauses:
//! requires `¬p ∨ q1 ∨ … ∨ qn` (rich requires through their CNF), conflicts
//! and obsoletes `¬p ∨ ¬q`, and one name, one package `¬p ∨ ¬q`.
//!
//! Search is conflict-driven: unit propagation on two watched literals,
//! first-UIP learning, backjumping. Decisions follow a package policy rather
//! than an activity heuristic: walk the installed packages in the order they
//! were chosen and, for the first requirement not yet met, install its best
//! provider (the dependency's own name first, then the best arch, then the
//! highest EVR). Recommends are tried the same way once every requirement is
//! met, then packages whose supplements hold for what is installed. Weak
//! dependencies are only decisions: when one leads to a conflict, learning
//! takes it back, so they never make a job fail. When the job is
//! unsatisfiable, the rules that took part in the final conflict are
//! returned as the explanation.
//!
//! With an installed set ([`Solver::set_installed`]) the jobs also erase and
//! update, as libsolv and dnf do: every installed package gets a "keep" rule
//! (it stays, or a package of its name or one obsoleting it replaces it;
//! with [`Solver::set_allow_erase`] the rule is only a preference, so that
//! erasing a package takes what requires it along), an erase job forbids the
//! installed packages of a name, and an update job prefers the best
//! candidate (highest EVR, same arch or noarch) over keeping the package.
//! Install-only packages (kernels) stay next to their newer versions, and
//! packages of one name co-install when their arches are multilib partners
//! ([`super::arch`]). [`Solver::transaction`] turns a solution into the
//! installs, erasures, upgrades, downgrades and obsoletions it means.

use std::cmp::Ordering;
use std::fmt;

use super::dep::Rich;
use super::pool::{DepId, DepKind, PkgId, Pool, StrId};

/// What to install.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Job {
    /// The best package of this name.
    Install(String),
    /// This very package.
    InstallPkg(PkgId),
    /// Erase the installed packages of this name.
    Erase(String),
    /// Update the installed packages of this name to their best version.
    Update(String),
    /// Update every installed package.
    UpdateAll,
}

/// The packages to install for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// Every package of the solution, sorted by id.
    pub packages: Vec<PkgId>,
}

/// A rule that took part in making a job unsatisfiable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// No package has the requested name.
    NoSuchName(String),
    /// The job asks for this name.
    Job(String),
    /// The job asks for a package that cannot be installed on this architecture.
    WrongArch(PkgId),
    /// `pkg` requires `dep`.
    Requires(PkgId, DepId),
    /// `pkg` conflicts with `dep`, provided by `other`.
    Conflicts(PkgId, DepId, PkgId),
    /// `pkg` obsoletes `dep`, matching `other`.
    Obsoletes(PkgId, DepId, PkgId),
    /// Two packages of the same name.
    SameName(PkgId, PkgId),
    /// An erase or update job names a package that is not installed.
    NotInstalled(String),
    /// The job erases this installed package.
    Erase(PkgId),
    /// This installed package stays (or is replaced by a package of its name
    /// or one that obsoletes it), as nothing allows erasing it.
    Keep(PkgId),
}

/// Why a job cannot be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The rules involved, "nothing provides" ones first.
    pub reasons: Vec<Reason>,
    /// The rules described for people, one line each.
    pub lines: Vec<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("; "))
    }
}

impl std::error::Error for Problem {}

type Lit = u32;
type ClauseId = u32;
const NONE: u32 = u32::MAX;

fn lit(var: u32, positive: bool) -> Lit {
    var * 2 + u32::from(!positive)
}
fn var_of(l: Lit) -> u32 {
    l >> 1
}
fn is_pos(l: Lit) -> bool {
    l & 1 == 0
}

#[derive(Debug, Clone, Copy)]
enum Origin {
    Job(u32),
    Unit(PkgId),
    Requires(PkgId, DepId),
    Conflicts(PkgId, DepId),
    Obsoletes(PkgId, DepId),
    SameName,
    Erase(PkgId),
    Keep(PkgId),
    Learned(u32),
}

#[derive(Debug, Clone, Copy)]
struct Clause {
    start: u32,
    len: u32,
    origin: Origin,
}

/// A package literal before variables are assigned: (package, positive).
type PLit = (PkgId, bool);

/// A boolean formula over package sets, in negation normal form.
enum Form {
    AnyOf(Vec<PkgId>),
    NoneOf(Vec<PkgId>),
    And(Vec<Form>),
    Or(Vec<Form>),
}

/// Largest CNF expansion of one rich dependency.
const MAX_CNF: usize = 4096;

/// Solves jobs against a pool; keeps a provider cache between solves.
pub struct Solver<'p> {
    pool: &'p Pool,
    /// Per dependency: (start, len) in `prov_flat`, or NONE start when not computed.
    prov_cache: Vec<(u32, u32)>,
    prov_flat: Vec<PkgId>,
    weak: bool,
    // Per-solve state.
    var_of_pkg: Vec<u32>,
    pkgs: Vec<PkgId>,
    lits: Vec<Lit>,
    clauses: Vec<Clause>,
    derivations: Vec<Vec<ClauseId>>,
    owned: Vec<Vec<ClauseId>>,
    recs: Vec<Vec<DepId>>,
    /// Variables of packages that supplement a reached package.
    supps: Vec<u32>,
    job_clauses: Vec<ClauseId>,
    watches: Vec<Vec<ClauseId>>,
    value: Vec<i8>,
    level: Vec<u32>,
    reason: Vec<ClauseId>,
    trail: Vec<Lit>,
    trail_lim: Vec<usize>,
    qhead: usize,
    seen: Vec<bool>,
    job_names: Vec<String>,
    scratch: Vec<PkgId>,
    /// Per pool package: installed.
    installed: Vec<bool>,
    installed_list: Vec<PkgId>,
    /// Per pool package: an available package identical (NEVRA) to an
    /// installed one, left out so that keeping is not a reinstall.
    twin: Vec<bool>,
    /// Per pool package: install-only (several versions stay installed).
    installonly: Vec<bool>,
    installonly_names: Vec<String>,
    allow_erase: bool,
    /// Package name -> packages whose obsoletes name it (built with the installed set).
    obsoleted_by: super::pool::FxMap<StrId, Vec<PkgId>>,
    /// Per solve: installed packages to update, with their candidates best first.
    updates: Vec<(PkgId, Vec<PkgId>)>,
    /// Per solve: installed packages not erased by a job, in id order.
    keeps: Vec<PkgId>,
    /// Per solve: packages a job names one by one.
    job_pkgs: Vec<PkgId>,
}

/// Names and provides that make a package install-only, as dnf's
/// `installonlypkgs` default: several versions stay installed side by side.
pub const DEFAULT_INSTALLONLY: &[&str] = &[
    "kernel",
    "kernel-PAE",
    "kernel-core",
    "kernel-modules",
    "kernel-modules-core",
    "kernel-modules-extra",
    "kernel-devel",
    "kernel-uki-virt",
    "installonlypkg(kernel)",
    "installonlypkg(kernel-module)",
    "installonlypkg(vm)",
    "multiversion(kernel)",
];

/// Whether a package is install-only by [`DEFAULT_INSTALLONLY`] (its name,
/// or a provide).
pub fn installonly_by_default(pool: &Pool, p: PkgId) -> bool {
    let names = DEFAULT_INSTALLONLY;
    let own = pool.str(pool.package(p).name);
    names.contains(&own)
        || pool
            .deps(p, DepKind::Provides)
            .iter()
            .any(|&d| names.contains(&pool.str(pool.dep(d).name)))
}

/// Whether two packages of one name may be installed together: both are
/// install-only, or their arches are multilib partners.
fn may_coinstall(pool: &Pool, a: PkgId, b: PkgId, a_only: bool, b_only: bool) -> bool {
    (a_only && b_only)
        || super::arch::multilib_compatible(
            pool.str(pool.package(a).arch),
            pool.str(pool.package(b).arch),
        )
}

impl<'p> Solver<'p> {
    /// A solver for `pool`; weak dependencies (recommends) are on.
    pub fn new(pool: &'p Pool) -> Self {
        Solver {
            pool,
            prov_cache: Vec::new(),
            prov_flat: Vec::new(),
            weak: true,
            var_of_pkg: vec![NONE; pool.len()],
            pkgs: Vec::new(),
            lits: Vec::new(),
            clauses: Vec::new(),
            derivations: Vec::new(),
            owned: Vec::new(),
            recs: Vec::new(),
            supps: Vec::new(),
            job_clauses: Vec::new(),
            watches: Vec::new(),
            value: Vec::new(),
            level: Vec::new(),
            reason: Vec::new(),
            trail: Vec::new(),
            trail_lim: Vec::new(),
            qhead: 0,
            seen: Vec::new(),
            job_names: Vec::new(),
            scratch: Vec::new(),
            installed: Vec::new(),
            installed_list: Vec::new(),
            twin: Vec::new(),
            installonly: Vec::new(),
            installonly_names: DEFAULT_INSTALLONLY.iter().map(|s| s.to_string()).collect(),
            allow_erase: false,
            obsoleted_by: Default::default(),
            updates: Vec::new(),
            keeps: Vec::new(),
            job_pkgs: Vec::new(),
        }
        .with_installonly()
    }

    fn with_installonly(mut self) -> Self {
        self.compute_installonly();
        self
    }

    /// Declares the installed packages (packages of the pool, for instance
    /// loaded from an rpm-md of the installed system or found by NEVRA).
    /// Available packages with the NEVRA of an installed one are left out:
    /// keeping the installed package is the same thing.
    pub fn set_installed(&mut self, installed: &[PkgId]) {
        let pool = self.pool;
        let n = pool.len();
        self.installed = vec![false; n];
        self.twin = vec![false; n];
        let mut list = installed.to_vec();
        list.sort();
        list.dedup();
        for &p in &list {
            self.installed[p.index()] = true;
        }
        for &p in &list {
            let pk = pool.package(p);
            for &q in pool.by_name(pk.name) {
                let qk = pool.package(q);
                if !self.installed[q.index()]
                    && qk.arch == pk.arch
                    && pool.evr_cmp(qk.evr, pk.evr).is_eq()
                {
                    self.twin[q.index()] = true;
                }
            }
        }
        self.installed_list = list;
        self.obsoleted_by.clear();
        for q in pool.ids() {
            for &d in pool.deps(q, DepKind::Obsoletes) {
                self.obsoleted_by
                    .entry(pool.dep(d).name)
                    .or_default()
                    .push(q);
            }
        }
        self.prov_cache.clear();
        self.prov_flat.clear();
        self.compute_installonly();
    }

    /// The installed packages, sorted.
    pub fn installed(&self) -> &[PkgId] {
        &self.installed_list
    }

    /// Whether installed packages may be erased when a job needs it
    /// (dependents of an erased package go with it, conflicting ones make
    /// way); off by default, as `rpm -e` refuses and dnf asks for
    /// `--allowerasing`. Erase jobs themselves are always allowed.
    pub fn set_allow_erase(&mut self, allow: bool) {
        self.allow_erase = allow;
    }

    /// Replaces the install-only names and provides (default
    /// [`DEFAULT_INSTALLONLY`]).
    pub fn set_installonly(&mut self, names: &[&str]) {
        self.installonly_names = names.iter().map(|s| s.to_string()).collect();
        self.compute_installonly();
    }

    fn compute_installonly(&mut self) {
        let pool = self.pool;
        self.installonly = vec![false; pool.len()];
        for n in &self.installonly_names {
            let Some(n) = pool.lookup(n) else { continue };
            for &p in pool.by_name(n) {
                self.installonly[p.index()] = true;
            }
            for &(p, _) in pool.providers_of_name(n) {
                self.installonly[p.index()] = true;
            }
        }
    }

    fn is_installed(&self, p: PkgId) -> bool {
        self.installed.get(p.index()).copied().unwrap_or(false)
    }

    /// Whether a package is install-only for this solver.
    pub fn is_installonly(&self, p: PkgId) -> bool {
        self.installonly.get(p.index()).copied().unwrap_or(false)
    }

    /// Whether a package may be part of a solution: installed, or available
    /// for this machine's arches and not the twin of an installed one.
    fn usable(&self, p: PkgId) -> bool {
        self.is_installed(p)
            || (self.pool.arch_score(p) > 0 && !self.twin.get(p.index()).copied().unwrap_or(false))
    }

    /// Whether recommends are installed when possible (default: yes, as libsolv).
    pub fn set_weak(&mut self, weak: bool) {
        self.weak = weak;
    }

    /// Installable providers of a simple dependency (cached).
    fn providers(&mut self, dep: DepId) -> (u32, u32) {
        if self.prov_cache.len() <= dep.index() {
            self.prov_cache.resize(dep.index() + 1, (NONE, 0));
        }
        let c = self.prov_cache[dep.index()];
        if c.0 != NONE {
            return c;
        }
        let mut tmp = std::mem::take(&mut self.scratch);
        tmp.clear();
        self.pool.what_provides(dep, &mut tmp);
        let start = self.prov_flat.len() as u32;
        let mut flat = std::mem::take(&mut self.prov_flat);
        flat.extend(tmp.iter().copied().filter(|&p| self.usable(p)));
        self.prov_flat = flat;
        let r = (start, self.prov_flat.len() as u32 - start);
        self.scratch = tmp;
        self.prov_cache[dep.index()] = r;
        r
    }

    fn provider_vec(&mut self, dep: DepId) -> Vec<PkgId> {
        let (s, l) = self.providers(dep);
        self.prov_flat[s as usize..(s + l) as usize].to_vec()
    }

    /// The package set a `with`/`without` operand stands for.
    fn set_of(&mut self, r: &Rich<DepId>) -> Vec<PkgId> {
        match r {
            Rich::Dep(d) => self.provider_vec(*d),
            Rich::With(v) => {
                let mut acc = self.set_of(&v[0]);
                for x in &v[1..] {
                    let s = self.set_of(x);
                    acc.retain(|p| s.contains(p));
                }
                acc
            }
            Rich::Without(a, b) => {
                let mut acc = self.set_of(a);
                let s = self.set_of(b);
                acc.retain(|p| !s.contains(p));
                acc
            }
            other => {
                let mut leaves = Vec::new();
                other.for_each_leaf(&mut |d| leaves.push(*d));
                let mut acc = Vec::new();
                for d in leaves {
                    for p in self.provider_vec(d) {
                        if !acc.contains(&p) {
                            acc.push(p);
                        }
                    }
                }
                acc
            }
        }
    }

    fn form(&mut self, r: &Rich<DepId>, pos: bool) -> Form {
        let set = |s: Vec<PkgId>| if pos { Form::AnyOf(s) } else { Form::NoneOf(s) };
        match r {
            Rich::Dep(_) | Rich::With(_) | Rich::Without(..) => set(self.set_of(r)),
            Rich::And(v) => {
                let f = v.iter().map(|x| self.form(x, pos)).collect();
                if pos { Form::And(f) } else { Form::Or(f) }
            }
            Rich::Or(v) => {
                let f = v.iter().map(|x| self.form(x, pos)).collect();
                if pos { Form::Or(f) } else { Form::And(f) }
            }
            Rich::If(a, b, c) | Rich::Unless(a, b, c) => {
                // `a unless b` is `a if not b`.
                let unless = matches!(r, Rich::Unless(..));
                let a1 = self.form(a, pos);
                let not_cond = self.form(b, unless);
                match (c, pos) {
                    // libsolv reads `a unless b` without else as `a and not b`.
                    (None, true) if unless => Form::And(vec![a1, self.form(b, false)]),
                    (None, false) if unless => Form::Or(vec![a1, self.form(b, true)]),
                    (None, true) => Form::Or(vec![a1, not_cond]),
                    (None, false) => Form::And(vec![a1, self.form(b, !unless)]),
                    (Some(c), true) => {
                        let cond = self.form(b, !unless);
                        let c1 = self.form(c, true);
                        Form::And(vec![Form::Or(vec![a1, not_cond]), Form::Or(vec![cond, c1])])
                    }
                    (Some(c), false) => {
                        let cond = self.form(b, !unless);
                        let c1 = self.form(c, false);
                        Form::Or(vec![
                            Form::And(vec![a1, cond]),
                            Form::And(vec![not_cond, c1]),
                        ])
                    }
                }
            }
        }
    }

    /// CNF of a rich dependency (required when `pos`, forbidden otherwise).
    fn rich_cnf(&mut self, dep: DepId, pos: bool) -> Vec<Vec<PLit>> {
        let pool = self.pool;
        let Some(tree) = pool.rich(dep) else {
            let provs = self.provider_vec(dep);
            return if pos {
                vec![provs.into_iter().map(|p| (p, true)).collect()]
            } else {
                provs.into_iter().map(|p| vec![(p, false)]).collect()
            };
        };
        let f = self.form(tree, pos);
        cnf(&f)
    }

    fn ensure_var(&mut self, p: PkgId, queue: &mut Vec<PkgId>) -> u32 {
        let v = self.var_of_pkg[p.index()];
        if v != NONE {
            return v;
        }
        let v = self.pkgs.len() as u32;
        self.var_of_pkg[p.index()] = v;
        self.pkgs.push(p);
        self.owned.push(Vec::new());
        self.recs.push(Vec::new());
        queue.push(p);
        v
    }

    fn add_clause(&mut self, lits: &[Lit], origin: Origin) -> ClauseId {
        let id = self.clauses.len() as ClauseId;
        self.clauses.push(Clause {
            start: self.lits.len() as u32,
            len: lits.len() as u32,
            origin,
        });
        self.lits.extend_from_slice(lits);
        id
    }

    fn reset(&mut self) {
        for &p in &self.pkgs {
            self.var_of_pkg[p.index()] = NONE;
        }
        self.pkgs.clear();
        self.lits.clear();
        self.clauses.clear();
        self.derivations.clear();
        self.owned.clear();
        self.recs.clear();
        self.supps.clear();
        self.job_clauses.clear();
        self.trail.clear();
        self.trail_lim.clear();
        self.qhead = 0;
        self.job_names.clear();
        self.updates.clear();
        self.keeps.clear();
        self.job_pkgs.clear();
    }

    /// Builds the rules of everything reachable from the job.
    fn build(&mut self, jobs: &[Job]) -> Result<(), Problem> {
        let pool = self.pool;
        let mut queue = Vec::new();
        let mut erased: Vec<PkgId> = Vec::new();
        let mut update: Vec<PkgId> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match job {
                Job::Install(name) => {
                    self.job_names.push(name.clone());
                    let cands: Vec<PkgId> = pool
                        .lookup(name)
                        .map(|n| pool.by_name(n))
                        .unwrap_or(&[])
                        .iter()
                        .copied()
                        .filter(|&p| self.usable(p))
                        .collect();
                    if cands.is_empty() {
                        return Err(self.problem(vec![Reason::NoSuchName(name.clone())]));
                    }
                    let lits: Vec<Lit> = cands
                        .iter()
                        .map(|&p| lit(self.ensure_var(p, &mut queue), true))
                        .collect();
                    let c = self.add_clause(&lits, Origin::Job(i as u32));
                    self.job_clauses.push(c);
                }
                Job::InstallPkg(p) => {
                    self.job_names.push(pool.nevra(*p));
                    self.job_pkgs.push(*p);
                    if pool.arch_score(*p) == 0 {
                        return Err(self.problem(vec![Reason::WrongArch(*p)]));
                    }
                    let v = self.ensure_var(*p, &mut queue);
                    self.add_clause(&[lit(v, true)], Origin::Unit(*p));
                }
                Job::Erase(name) => {
                    self.job_names.push(name.clone());
                    let targets = self.installed_named(name);
                    if targets.is_empty() {
                        return Err(self.problem(vec![Reason::NotInstalled(name.clone())]));
                    }
                    for p in targets {
                        let v = self.ensure_var(p, &mut queue);
                        self.add_clause(&[lit(v, false)], Origin::Erase(p));
                        erased.push(p);
                    }
                    // libsolv's SOLVER_ERASE on a name also keeps the
                    // available packages of that name out.
                    let name_id = pool.lookup(name).expect("installed, so interned");
                    for &q in pool.by_name(name_id) {
                        if !self.is_installed(q) && self.usable(q) {
                            let v = self.ensure_var(q, &mut queue);
                            self.add_clause(&[lit(v, false)], Origin::Erase(q));
                        }
                    }
                }
                Job::Update(name) => {
                    self.job_names.push(name.clone());
                    let targets = self.installed_named(name);
                    if targets.is_empty() {
                        return Err(self.problem(vec![Reason::NotInstalled(name.clone())]));
                    }
                    update.extend(targets);
                }
                Job::UpdateAll => {
                    self.job_names.push("every installed package".into());
                    update.extend(self.installed_list.iter().copied());
                }
            }
        }
        // Installed packages are reached, and so are the candidates to
        // update them.
        erased.sort();
        update.sort();
        update.dedup();
        for i in 0..self.installed_list.len() {
            let p = self.installed_list[i];
            self.ensure_var(p, &mut queue);
            if erased.binary_search(&p).is_err() {
                self.keeps.push(p);
                // What may replace it is reached too: a kept package may
                // have to move to a newer version to let a job through.
                if !self.is_installonly(p) {
                    for q in self.replacements(p) {
                        self.ensure_var(q, &mut queue);
                    }
                }
            }
        }
        for p in update {
            if erased.binary_search(&p).is_ok() {
                continue;
            }
            let cands = self.update_candidates(p);
            for &c in &cands {
                self.ensure_var(c, &mut queue);
            }
            self.updates.push((p, cands));
        }
        // Requires (and recommends) expand the reachable set; with weak
        // dependencies on, so do packages supplementing a reached one.
        let mut buf: Vec<Lit> = Vec::new();
        loop {
            while let Some(p) = queue.pop() {
                let pv = self.var_of_pkg[p.index()];
                for &dep in pool.deps(p, DepKind::Requires) {
                    if pool.dep(dep).rich.is_none() {
                        let (s, l) = self.providers(dep);
                        if self.prov_flat[s as usize..(s + l) as usize].contains(&p) {
                            continue;
                        }
                        buf.clear();
                        buf.push(lit(pv, false));
                        for i in s..s + l {
                            let q = self.prov_flat[i as usize];
                            buf.push(lit(self.ensure_var(q, &mut queue), true));
                        }
                        let c = self.add_clause(&buf, Origin::Requires(p, dep));
                        self.owned[pv as usize].push(c);
                    } else {
                        for clause in self.rich_cnf(dep, true) {
                            if clause.contains(&(p, true)) {
                                continue;
                            }
                            buf.clear();
                            buf.push(lit(pv, false));
                            for (q, pos) in clause {
                                let l = lit(self.ensure_var(q, &mut queue), pos);
                                if !buf.contains(&l) {
                                    buf.push(l);
                                }
                            }
                            let c = self.add_clause(&buf, Origin::Requires(p, dep));
                            self.owned[pv as usize].push(c);
                        }
                    }
                }
                // A rich conflict may oblige a package (`(a if b)` forbids b
                // without a): such packages are reached too.
                for &dep in pool.deps(p, DepKind::Conflicts) {
                    if pool.dep(dep).rich.is_some() {
                        for clause in self.rich_cnf(dep, false) {
                            for (q, pos) in clause {
                                if pos && q != p {
                                    self.ensure_var(q, &mut queue);
                                }
                            }
                        }
                    }
                }
                if self.weak {
                    for &dep in pool.deps(p, DepKind::Recommends) {
                        let mut leaves = Vec::new();
                        match pool.rich(dep) {
                            Some(t) => t.for_each_leaf(&mut |d| leaves.push(*d)),
                            None => leaves.push(dep),
                        }
                        for d in leaves {
                            for q in self.provider_vec(d) {
                                self.ensure_var(q, &mut queue);
                            }
                        }
                        self.recs[pv as usize].push(dep);
                    }
                }
            }
            if !self.weak {
                break;
            }
            for &s in pool.supplementers() {
                if self.var_of_pkg[s.index()] != NONE || pool.arch_score(s) == 0 {
                    continue;
                }
                let mut leaves = Vec::new();
                for &d in pool.deps(s, DepKind::Supplements) {
                    match pool.rich(d) {
                        Some(t) => t.for_each_leaf(&mut |l| leaves.push(*l)),
                        None => leaves.push(d),
                    }
                }
                let reached = leaves.into_iter().any(|d| {
                    let (st, l) = self.providers(d);
                    self.prov_flat[st as usize..(st + l) as usize]
                        .iter()
                        .any(|q| self.var_of_pkg[q.index()] != NONE)
                });
                if reached {
                    let v = self.ensure_var(s, &mut queue);
                    self.supps.push(v);
                }
            }
            if queue.is_empty() {
                break;
            }
        }
        // Conflicts, obsoletes and same-name rules among reached packages.
        for v in 0..self.pkgs.len() as u32 {
            let p = self.pkgs[v as usize];
            for &dep in pool.deps(p, DepKind::Conflicts) {
                if pool.dep(dep).rich.is_none() {
                    let (s, l) = self.providers(dep);
                    for i in s..s + l {
                        let q = self.prov_flat[i as usize];
                        let qv = self.var_of_pkg[q.index()];
                        if q != p && qv != NONE {
                            self.add_clause(
                                &[lit(v, false), lit(qv, false)],
                                Origin::Conflicts(p, dep),
                            );
                        }
                    }
                } else {
                    let complex = pool.rich(dep).is_some_and(is_complex);
                    'cl: for clause in self.rich_cnf(dep, false) {
                        buf.clear();
                        buf.push(lit(v, false));
                        for (q, pos) in clause {
                            let qv = self.var_of_pkg[q.index()];
                            // A package never conflicts with itself through a
                            // plain alternative list; a complex dependency (with
                            // `and`, `if`, `unless`) may hit the package itself,
                            // as in libsolv.
                            if qv == NONE || (q == p && !complex) {
                                // An unreached package is not installed: a negative
                                // literal on it holds, a positive one cannot.
                                if !pos {
                                    continue 'cl;
                                }
                                continue;
                            }
                            buf.push(lit(qv, pos));
                        }
                        buf.dedup();
                        let c = self.add_clause(&buf, Origin::Conflicts(p, dep));
                        self.owned[v as usize].push(c);
                    }
                }
            }
            // Obsoletes of installed packages apply too (libsolv's default,
            // `noinstalledobsoletes` off): an obsoleted package stays out.
            for &dep in pool.deps(p, DepKind::Obsoletes) {
                let name = pool.dep(dep).name;
                for &q in pool.by_name(name) {
                    let qv = self.var_of_pkg[q.index()];
                    if q != p && qv != NONE && pool.name_matches(q, dep) {
                        self.add_clause(
                            &[lit(v, false), lit(qv, false)],
                            Origin::Obsoletes(p, dep),
                        );
                    }
                }
            }
            let p_only = self.is_installonly(p);
            for &q in pool.by_name(pool.package(p).name) {
                let qv = self.var_of_pkg[q.index()];
                if q > p && qv != NONE && !may_coinstall(pool, p, q, p_only, self.is_installonly(q))
                {
                    self.add_clause(&[lit(v, false), lit(qv, false)], Origin::SameName);
                }
            }
        }
        // Keep rules: an installed package stays, or a package of its name
        // (same arch or noarch) or one obsoleting it takes its place. An
        // install-only package is never replaced.
        if !self.allow_erase {
            for k in 0..self.keeps.len() {
                let p = self.keeps[k];
                let v = self.var_of_pkg[p.index()];
                buf.clear();
                buf.push(lit(v, true));
                if !self.is_installonly(p) {
                    for q in self.replacements(p) {
                        let qv = self.var_of_pkg[q.index()];
                        if qv != NONE && qv != v {
                            buf.push(lit(qv, true));
                        }
                    }
                }
                self.add_clause(&buf, Origin::Keep(p));
            }
        }
        Ok(())
    }

    /// Installed packages named `name`.
    fn installed_named(&self, name: &str) -> Vec<PkgId> {
        let pool = self.pool;
        pool.lookup(name)
            .map(|n| pool.by_name(n))
            .unwrap_or(&[])
            .iter()
            .copied()
            .filter(|&p| self.is_installed(p))
            .collect()
    }

    /// Packages that may take an installed package's place: same name with
    /// an allowed arch change and an EVR not lower (lower only when a job
    /// asks for that very package: a downgrade), or obsoleting it.
    fn replacements(&self, p: PkgId) -> Vec<PkgId> {
        let pool = self.pool;
        let pk = pool.package(p);
        let from = pool.str(pk.arch);
        let mut out: Vec<PkgId> = pool
            .by_name(pk.name)
            .iter()
            .copied()
            .filter(|&q| {
                let qk = pool.package(q);
                q != p
                    && self.usable(q)
                    && !self.is_installed(q)
                    && super::arch::arch_change_allowed(from, pool.str(qk.arch))
                    && (!pool.evr_cmp(qk.evr, pk.evr).is_lt() || self.job_pkgs.contains(&q))
            })
            .collect();
        for &q in self
            .obsoleted_by
            .get(&pk.name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let hit = pool
                .deps(q, DepKind::Obsoletes)
                .iter()
                .any(|&d| pool.name_matches(p, d));
            if hit
                && q != p
                && self.usable(q)
                && !self.is_installed(q)
                && super::arch::arch_change_allowed(from, pool.str(pool.package(q).arch))
                && !out.contains(&q)
            {
                out.push(q);
            }
        }
        out
    }

    /// Update candidates of an installed package, best first: a higher EVR
    /// of its name (same arch or noarch), or a package obsoleting it. An
    /// install-only package's candidates install next to it.
    fn update_candidates(&self, p: PkgId) -> Vec<PkgId> {
        let pool = self.pool;
        let pk = pool.package(p);
        let mut out: Vec<PkgId> = self
            .replacements(p)
            .into_iter()
            .filter(|&q| {
                let qk = pool.package(q);
                qk.name != pk.name || pool.evr_cmp(qk.evr, pk.evr).is_gt()
            })
            .collect();
        // Highest EVR first; among equals, the installed package's own arch
        // (libsolv keeps an i686 package i686 rather than moving it to
        // noarch), then the policy order.
        out.sort_by(|&a, &b| {
            let (ak, bk) = (pool.package(a), pool.package(b));
            let same = |k: &super::pool::Package| k.name == pk.name;
            let evr = if same(ak) && same(bk) {
                pool.evr_cmp(bk.evr, ak.evr)
            } else {
                Ordering::Equal
            };
            evr.then_with(|| (bk.arch == pk.arch).cmp(&(ak.arch == pk.arch)))
                .then_with(|| self.better(b, a, Some(pk.name)))
        });
        out
    }

    fn val(&self, l: Lit) -> i8 {
        let v = self.value[var_of(l) as usize];
        if is_pos(l) { v } else { -v }
    }

    fn assign(&mut self, l: Lit, reason: ClauseId) {
        let v = var_of(l) as usize;
        self.value[v] = if is_pos(l) { 1 } else { -1 };
        self.level[v] = self.trail_lim.len() as u32;
        self.reason[v] = reason;
        self.trail.push(l);
    }

    fn watch(&mut self, c: ClauseId) {
        let cl = self.clauses[c as usize];
        let (a, b) = (
            self.lits[cl.start as usize],
            self.lits[cl.start as usize + 1],
        );
        self.watches[(a ^ 1) as usize].push(c);
        self.watches[(b ^ 1) as usize].push(c);
    }

    /// Unit propagation; returns a conflicting clause.
    fn propagate(&mut self) -> Option<ClauseId> {
        while self.qhead < self.trail.len() {
            let l = self.trail[self.qhead];
            self.qhead += 1;
            // Clauses watching ¬l are listed under l.
            let false_lit = l ^ 1;
            let mut ws = std::mem::take(&mut self.watches[l as usize]);
            let (mut i, mut j) = (0, 0);
            let mut conflict = None;
            while i < ws.len() {
                let c = ws[i];
                i += 1;
                let cl = self.clauses[c as usize];
                let s = cl.start as usize;
                if self.lits[s] == false_lit {
                    self.lits.swap(s, s + 1);
                }
                let first = self.lits[s];
                if self.val(first) == 1 {
                    ws[j] = c;
                    j += 1;
                    continue;
                }
                let mut moved = false;
                for k in s + 2..s + cl.len as usize {
                    if self.val(self.lits[k]) != -1 {
                        self.lits.swap(s + 1, k);
                        let nw = self.lits[s + 1];
                        self.watches[(nw ^ 1) as usize].push(c);
                        moved = true;
                        break;
                    }
                }
                if moved {
                    continue;
                }
                ws[j] = c;
                j += 1;
                if self.val(first) == -1 {
                    conflict = Some(c);
                    while i < ws.len() {
                        ws[j] = ws[i];
                        i += 1;
                        j += 1;
                    }
                } else {
                    self.assign(first, c);
                }
            }
            ws.truncate(j);
            self.watches[l as usize] = ws;
            if conflict.is_some() {
                return conflict;
            }
        }
        None
    }

    fn clause_lits(&self, c: ClauseId) -> &[Lit] {
        let cl = self.clauses[c as usize];
        &self.lits[cl.start as usize..(cl.start + cl.len) as usize]
    }

    /// First-UIP analysis: the learned clause (asserting literal first), the
    /// level to jump back to, and the clauses resolved.
    fn analyze(&mut self, confl: ClauseId) -> (Vec<Lit>, u32, Vec<ClauseId>) {
        let cur = self.trail_lim.len() as u32;
        let mut learnt: Vec<Lit> = vec![0];
        let mut deriv = Vec::new();
        let mut counter = 0;
        let mut clause = confl;
        let mut p: Option<Lit> = None;
        let mut idx = self.trail.len();
        let mut touched = Vec::new();
        loop {
            deriv.push(clause);
            let cl = self.clauses[clause as usize];
            for k in 0..cl.len as usize {
                let q = self.lits[cl.start as usize + k];
                if Some(q) == p {
                    continue;
                }
                let v = var_of(q) as usize;
                if self.seen[v] || self.level[v] == 0 {
                    continue;
                }
                self.seen[v] = true;
                touched.push(v);
                if self.level[v] == cur {
                    counter += 1;
                } else {
                    learnt.push(q);
                }
            }
            loop {
                idx -= 1;
                if self.seen[var_of(self.trail[idx]) as usize] {
                    break;
                }
            }
            let pl = self.trail[idx];
            self.seen[var_of(pl) as usize] = false;
            counter -= 1;
            p = Some(pl);
            if counter == 0 {
                break;
            }
            clause = self.reason[var_of(pl) as usize];
        }
        for v in touched {
            self.seen[v] = false;
        }
        learnt[0] = p.expect("a UIP") ^ 1;
        let mut back = 0;
        let mut at = 1;
        for (k, &q) in learnt.iter().enumerate().skip(1) {
            let lv = self.level[var_of(q) as usize];
            if lv > back {
                back = lv;
                at = k;
            }
        }
        if learnt.len() > 1 {
            learnt.swap(1, at);
        }
        (learnt, back, deriv)
    }

    fn backjump(&mut self, level: u32) {
        let keep = self.trail_lim[level as usize];
        for &l in &self.trail[keep..] {
            let v = var_of(l) as usize;
            self.value[v] = 0;
            self.reason[v] = NONE;
        }
        self.trail.truncate(keep);
        self.trail_lim.truncate(level as usize);
        self.qhead = keep;
    }

    /// The rules behind a conflict at level 0.
    fn core(&self, confl: ClauseId) -> Vec<ClauseId> {
        let mut out = Vec::new();
        let mut done = vec![false; self.clauses.len()];
        let mut stack = vec![confl];
        while let Some(c) = stack.pop() {
            if c == NONE || done[c as usize] {
                continue;
            }
            done[c as usize] = true;
            match self.clauses[c as usize].origin {
                Origin::Learned(d) => stack.extend(&self.derivations[d as usize]),
                _ => out.push(c),
            }
            for &l in self.clause_lits(c) {
                let v = var_of(l) as usize;
                if self.value[v] != 0 && self.level[v] == 0 && self.reason[v] != c {
                    stack.push(self.reason[v]);
                }
            }
        }
        out
    }

    fn problem(&self, mut reasons: Vec<Reason>) -> Problem {
        let pool = self.pool;
        reasons.dedup();
        let describe = |r: &Reason| -> (u8, String) {
            match r {
                Reason::NoSuchName(n) => {
                    // Point at packages that provide the name, if any.
                    let mut by: Vec<String> = pool
                        .lookup(n)
                        .map(|id| pool.providers_of_name(id))
                        .unwrap_or(&[])
                        .iter()
                        .filter(|&&(q, _)| pool.arch_score(q) > 0)
                        .map(|&(q, _)| pool.str(pool.package(q).name).to_owned())
                        .collect();
                    by.sort();
                    by.dedup();
                    if by.is_empty() {
                        (0, format!("no package is named {n}"))
                    } else {
                        (
                            0,
                            format!(
                                "no package is named {n}; it is provided by {}",
                                by.join(", ")
                            ),
                        )
                    }
                }
                Reason::Job(n) => (3, format!("the job installs {n}")),
                Reason::WrongArch(p) => (
                    0,
                    format!("{} does not run on this architecture", pool.nevra(*p)),
                ),
                Reason::Requires(p, d) => {
                    let mut provs = Vec::new();
                    let none = match pool.rich(*d) {
                        None => {
                            pool.what_provides(*d, &mut provs);
                            !provs.iter().any(|&q| self.usable(q))
                        }
                        Some(_) => false,
                    };
                    let others = if none {
                        self.other_versions(*d)
                    } else {
                        Vec::new()
                    };
                    if !others.is_empty() {
                        (
                            0,
                            format!(
                                "{} requires {}, but only {} {} available",
                                pool.nevra(*p),
                                pool.dep_str(*d),
                                others.join(", "),
                                if others.len() == 1 { "is" } else { "are" }
                            ),
                        )
                    } else if none {
                        (
                            0,
                            format!(
                                "nothing provides {} needed by {}",
                                pool.dep_str(*d),
                                pool.nevra(*p)
                            ),
                        )
                    } else {
                        (
                            1,
                            format!(
                                "{} requires {}, but none of its providers can be installed",
                                pool.nevra(*p),
                                pool.dep_str(*d)
                            ),
                        )
                    }
                }
                Reason::Conflicts(p, d, q) => (
                    2,
                    format!(
                        "{} conflicts with {} provided by {}",
                        pool.nevra(*p),
                        pool.dep_str(*d),
                        pool.nevra(*q)
                    ),
                ),
                Reason::Obsoletes(p, d, q) => (
                    2,
                    format!(
                        "{} obsoletes {} provided by {}",
                        pool.nevra(*p),
                        pool.dep_str(*d),
                        pool.nevra(*q)
                    ),
                ),
                Reason::SameName(p, q) => (
                    2,
                    format!(
                        "only one of {} and {} can be installed",
                        pool.nevra(*p),
                        pool.nevra(*q)
                    ),
                ),
                Reason::NotInstalled(n) => (0, format!("{n} is not installed")),
                Reason::Erase(p) if self.is_installed(*p) => {
                    (3, format!("the job erases {}", pool.nevra(*p)))
                }
                Reason::Erase(p) => (
                    3,
                    format!(
                        "the job erases {}, so {} stays out",
                        pool.str(pool.package(*p).name),
                        pool.nevra(*p)
                    ),
                ),
                Reason::Keep(p) => (
                    2,
                    format!(
                        "{} is installed and stays (erasing it is not allowed)",
                        pool.nevra(*p)
                    ),
                ),
            }
        };
        let mut both: Vec<(u8, String, Reason)> = reasons
            .into_iter()
            .map(|r| {
                let (k, s) = describe(&r);
                (k, s, r)
            })
            .collect();
        both.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        both.dedup_by(|a, b| a.1 == b.1);
        Problem {
            lines: both.iter().map(|x| x.1.clone()).collect(),
            reasons: both.into_iter().map(|x| x.2).collect(),
        }
    }

    fn explain(&self, confl: ClauseId) -> Problem {
        let mut reasons = Vec::new();
        for c in self.core(confl) {
            let lits = self.clause_lits(c);
            // Watching reorders literals: find the other package by identity.
            let other_than = |p: PkgId| {
                lits.iter()
                    .map(|&l| self.pkgs[var_of(l) as usize])
                    .find(|&q| q != p)
            };
            let other = |k: usize| lits.get(k).map(|&l| self.pkgs[var_of(l) as usize]);
            match self.clauses[c as usize].origin {
                Origin::Job(i) => reasons.push(Reason::Job(self.job_names[i as usize].clone())),
                Origin::Unit(p) => reasons.push(Reason::Job(self.pool.nevra(p))),
                Origin::Requires(p, d) => reasons.push(Reason::Requires(p, d)),
                Origin::Conflicts(p, d) => {
                    if let Some(q) = other_than(p) {
                        reasons.push(Reason::Conflicts(p, d, q));
                    }
                }
                Origin::Obsoletes(p, d) => {
                    if let Some(q) = other_than(p) {
                        reasons.push(Reason::Obsoletes(p, d, q));
                    }
                }
                Origin::SameName => {
                    if let (Some(a), Some(b)) = (other(0), other(1)) {
                        reasons.push(Reason::SameName(a.min(b), a.max(b)));
                    }
                }
                Origin::Erase(p) => reasons.push(Reason::Erase(p)),
                Origin::Keep(p) => reasons.push(Reason::Keep(p)),
                Origin::Learned(_) => {}
            }
        }
        self.problem(reasons)
    }

    /// What the pool has under a dependency's name that does not match it:
    /// the versions of packages of that name, or the versioned provides of
    /// the name (`Y-1.x86_64`, `Y = 1 (by Z-1.noarch)`), at most five.
    fn other_versions(&self, d: DepId) -> Vec<String> {
        let pool = self.pool;
        let name = pool.dep(d).name;
        let mut out: Vec<String> = Vec::new();
        for &(q, prov) in pool.providers_of_name(name) {
            if !self.usable(q) {
                continue;
            }
            let s = if pool.package(q).name == name {
                pool.nevra(q)
            } else {
                format!("{} (by {})", pool.dep_str(prov), pool.nevra(q))
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out.sort();
        out.truncate(5);
        out
    }

    /// Policy order of two candidate packages (Greater = better).
    fn better(&self, a: PkgId, b: PkgId, want: Option<StrId>) -> Ordering {
        let pool = self.pool;
        let (pa, pb) = (pool.package(a), pool.package(b));
        let own = |p: &super::pool::Package| Some(p.name) == want;
        own(pa)
            .cmp(&own(pb))
            .then_with(|| pool.arch_score(a).cmp(&pool.arch_score(b)))
            .then_with(|| {
                if pa.name == pb.name {
                    pool.evr_cmp(pa.evr, pb.evr)
                } else {
                    pool.str(pb.name).cmp(pool.str(pa.name))
                }
            })
            .then_with(|| b.cmp(&a))
    }

    /// The literal to decide for an unsatisfied clause, or None if satisfied.
    fn choose(&self, c: ClauseId) -> Option<Lit> {
        let lits = self.clause_lits(c);
        if lits.iter().any(|&l| self.val(l) == 1) {
            return None;
        }
        let want = match self.clauses[c as usize].origin {
            Origin::Requires(_, d) => Some(self.pool.dep(d).name),
            _ => None,
        };
        let mut best: Option<Lit> = None;
        let mut neg: Option<Lit> = None;
        for &l in lits {
            if self.val(l) != 0 {
                continue;
            }
            if !is_pos(l) {
                neg = neg.or(Some(l));
                continue;
            }
            let p = self.pkgs[var_of(l) as usize];
            best = match best {
                Some(b)
                    if self.better(p, self.pkgs[var_of(b) as usize], want) != Ordering::Greater =>
                {
                    Some(b)
                }
                _ => Some(l),
            };
        }
        // Leaving a package out costs nothing: prefer that (the condition
        // of an `if` stays uninstalled) over installing one.
        neg.or(best)
    }

    /// For an update target: its best candidate still possible, unless a
    /// candidate is already in.
    fn choose_update(&self, k: usize) -> Option<Lit> {
        let (_, cands) = &self.updates[k];
        for &c in cands {
            let cv = self.var_of_pkg[c.index()];
            match self.value[cv as usize] {
                1 => return None,
                0 => return Some(lit(cv, true)),
                _ => {}
            }
        }
        None
    }

    /// The best unassigned provider of an unmet recommends of `p` (none for
    /// a package already installed: what it recommends was decided then).
    fn choose_recommend(&mut self, v: u32) -> Option<Lit> {
        let pool = self.pool;
        if self.is_installed(self.pkgs[v as usize]) {
            return None;
        }
        for k in 0..self.recs[v as usize].len() {
            let dep = self.recs[v as usize][k];
            let mut leaves = Vec::new();
            match pool.rich(dep) {
                Some(t) => t.for_each_leaf(&mut |d| leaves.push(*d)),
                None => leaves.push(dep),
            }
            let mut cands = Vec::new();
            for d in leaves {
                cands.extend(self.provider_vec(d));
            }
            if cands.iter().any(|q| {
                let qv = self.var_of_pkg[q.index()];
                qv != NONE && self.value[qv as usize] == 1
            }) {
                continue;
            }
            let want = Some(pool.dep(dep).name);
            let mut best: Option<PkgId> = None;
            for q in cands {
                let qv = self.var_of_pkg[q.index()];
                if qv == NONE || self.value[qv as usize] != 0 {
                    continue;
                }
                if best.is_none_or(|b| self.better(q, b, want) == Ordering::Greater) {
                    best = Some(q);
                }
            }
            if let Some(b) = best {
                return Some(lit(self.var_of_pkg[b.index()], true));
            }
        }
        None
    }

    /// Solves a job: the packages to install, or why there are none.
    pub fn solve(&mut self, jobs: &[Job]) -> Result<Solution, Problem> {
        self.reset();
        self.build(jobs)?;
        let n = self.pkgs.len();
        self.value.clear();
        self.value.resize(n, 0);
        self.level.clear();
        self.level.resize(n, 0);
        self.reason.clear();
        self.reason.resize(n, NONE);
        self.seen.clear();
        self.seen.resize(n, false);
        for w in &mut self.watches {
            w.clear();
        }
        self.watches.resize(2 * n, Vec::new());
        // Empty and unit clauses first, then watches.
        for c in 0..self.clauses.len() as ClauseId {
            let cl = self.clauses[c as usize];
            match cl.len {
                0 => return Err(self.explain(c)),
                1 => {
                    let l = self.lits[cl.start as usize];
                    match self.val(l) {
                        0 => self.assign(l, c),
                        -1 => {
                            let r = self.reason[var_of(l) as usize];
                            let mut p = self.explain(c);
                            let q = self.explain(r);
                            p.reasons.extend(q.reasons);
                            return Err(self.problem(p.reasons));
                        }
                        _ => {}
                    }
                }
                _ => self.watch(c),
            }
        }
        let mut req_scan = 0;
        let mut rec_scan = 0;
        'outer: loop {
            if let Some(confl) = self.propagate() {
                if self.trail_lim.is_empty() {
                    return Err(self.explain(confl));
                }
                let (learnt, back, deriv) = self.analyze(confl);
                self.backjump(back);
                self.derivations.push(deriv);
                let id =
                    self.add_clause(&learnt, Origin::Learned(self.derivations.len() as u32 - 1));
                if learnt.len() > 1 {
                    self.watch(id);
                }
                self.assign(learnt[0], id);
                req_scan = 0;
                rec_scan = 0;
                continue;
            }
            for k in 0..self.updates.len() {
                if let Some(l) = self.choose_update(k) {
                    self.decide(l);
                    continue 'outer;
                }
            }
            for k in 0..self.keeps.len() {
                let v = self.var_of_pkg[self.keeps[k].index()];
                if self.value[v as usize] == 0 {
                    self.decide(lit(v, true));
                    continue 'outer;
                }
            }
            for k in 0..self.job_clauses.len() {
                if let Some(l) = self.choose(self.job_clauses[k]) {
                    self.decide(l);
                    continue 'outer;
                }
            }
            while req_scan < self.trail.len() {
                let l = self.trail[req_scan];
                if is_pos(l) {
                    let v = var_of(l) as usize;
                    for k in 0..self.owned[v].len() {
                        if let Some(d) = self.choose(self.owned[v][k]) {
                            self.decide(d);
                            continue 'outer;
                        }
                    }
                }
                req_scan += 1;
            }
            if self.weak {
                while rec_scan < self.trail.len() {
                    let l = self.trail[rec_scan];
                    if is_pos(l)
                        && let Some(d) = self.choose_recommend(var_of(l))
                    {
                        self.decide(d);
                        continue 'outer;
                    }
                    rec_scan += 1;
                }
                for k in 0..self.supps.len() {
                    let v = self.supps[k];
                    if self.value[v as usize] == 0 && self.supplements_now(v) {
                        self.decide(lit(v, true));
                        continue 'outer;
                    }
                }
            }
            break;
        }
        let mut packages: Vec<PkgId> = (0..n)
            .filter(|&v| self.value[v] == 1)
            .map(|v| self.pkgs[v])
            .collect();
        packages.sort();
        Ok(Solution { packages })
    }

    /// Whether a supplements of the package holds for the packages installed so far.
    fn supplements_now(&mut self, v: u32) -> bool {
        let pool = self.pool;
        let p = self.pkgs[v as usize];
        pool.deps(p, DepKind::Supplements)
            .iter()
            .any(|&d| match pool.rich(d) {
                Some(t) => self.holds_now(t),
                None => self.holds_now(&Rich::Dep(d)),
            })
    }

    fn holds_now(&mut self, r: &Rich<DepId>) -> bool {
        match r {
            Rich::Dep(_) | Rich::With(_) | Rich::Without(..) => self.set_of(r).iter().any(|q| {
                let qv = self.var_of_pkg[q.index()];
                qv != NONE && self.value[qv as usize] == 1
            }),
            Rich::And(v) => v.iter().all(|x| self.holds_now(x)),
            Rich::Or(v) => v.iter().any(|x| self.holds_now(x)),
            Rich::If(a, b, c) => {
                if self.holds_now(b) {
                    self.holds_now(a)
                } else {
                    c.as_ref().is_none_or(|c| self.holds_now(c))
                }
            }
            Rich::Unless(a, b, c) => {
                if !self.holds_now(b) {
                    self.holds_now(a)
                } else {
                    c.as_ref().is_some_and(|c| self.holds_now(c))
                }
            }
        }
    }

    /// The transaction that takes the installed set to `solution`.
    pub fn transaction(&self, solution: &Solution) -> super::transaction::Transaction {
        super::transaction::Transaction::between(
            self.pool,
            &self.installed_list,
            &solution.packages,
            |p| self.is_installonly(p),
        )
    }

    fn decide(&mut self, l: Lit) {
        self.trail_lim.push(self.trail.len());
        self.assign(l, NONE);
    }
}

/// Whether a rich dependency is more than a list of alternatives (libsolv's
/// "complex" dependencies: `and` or `if` anywhere under `or`; libsolv 0.7
/// treats `unless`, like `with`, as a package set).
fn is_complex(r: &Rich<DepId>) -> bool {
    match r {
        Rich::And(_) | Rich::If(..) => true,
        Rich::Or(v) => v.iter().any(is_complex),
        Rich::Dep(_) | Rich::With(_) | Rich::Without(..) | Rich::Unless(..) => false,
    }
}

/// CNF of a formula, capped at [`MAX_CNF`] clauses (beyond, the excess of an
/// `or` expansion is dropped, which only loosens the rule).
fn cnf(f: &Form) -> Vec<Vec<PLit>> {
    match f {
        Form::AnyOf(s) => vec![s.iter().map(|&p| (p, true)).collect()],
        Form::NoneOf(s) => s.iter().map(|&p| vec![(p, false)]).collect(),
        Form::And(v) => v.iter().flat_map(cnf).collect(),
        Form::Or(v) => {
            let mut acc: Vec<Vec<PLit>> = vec![Vec::new()];
            for x in v {
                let part = cnf(x);
                let mut next = Vec::new();
                'a: for a in &acc {
                    'b: for b in &part {
                        if next.len() >= MAX_CNF {
                            break 'a;
                        }
                        let mut c = a.clone();
                        for &l in b {
                            // `x or not x` holds: this clause is dropped.
                            if c.contains(&(l.0, !l.1)) {
                                continue 'b;
                            }
                            if !c.contains(&l) {
                                c.push(l);
                            }
                        }
                        next.push(c);
                    }
                }
                acc = next;
            }
            acc
        }
    }
}

/// Whether a rich or simple dependency holds for an installed set.
pub fn dep_holds(pool: &Pool, dep: DepId, installed: &[PkgId]) -> bool {
    fn provs(pool: &Pool, d: DepId) -> Vec<PkgId> {
        let mut v = Vec::new();
        pool.what_provides(d, &mut v);
        v
    }
    fn set(pool: &Pool, r: &Rich<DepId>) -> Vec<PkgId> {
        match r {
            Rich::Dep(d) => provs(pool, *d),
            Rich::With(v) => {
                let mut acc = set(pool, &v[0]);
                for x in &v[1..] {
                    let s = set(pool, x);
                    acc.retain(|p| s.contains(p));
                }
                acc
            }
            Rich::Without(a, b) => {
                let s = set(pool, b);
                let mut acc = set(pool, a);
                acc.retain(|p| !s.contains(p));
                acc
            }
            other => {
                let mut v = Vec::new();
                other.for_each_leaf(&mut |d| v.extend(provs(pool, *d)));
                v
            }
        }
    }
    fn eval(pool: &Pool, r: &Rich<DepId>, inst: &[PkgId]) -> bool {
        match r {
            Rich::Dep(_) | Rich::With(_) | Rich::Without(..) => {
                set(pool, r).iter().any(|p| inst.binary_search(p).is_ok())
            }
            Rich::And(v) => v.iter().all(|x| eval(pool, x, inst)),
            Rich::Or(v) => v.iter().any(|x| eval(pool, x, inst)),
            Rich::If(a, b, c) => {
                if eval(pool, b, inst) {
                    eval(pool, a, inst)
                } else {
                    c.as_ref().is_none_or(|c| eval(pool, c, inst))
                }
            }
            Rich::Unless(a, b, c) => {
                if !eval(pool, b, inst) {
                    eval(pool, a, inst)
                } else {
                    c.as_ref().is_some_and(|c| eval(pool, c, inst))
                }
            }
        }
    }
    match pool.rich(dep) {
        Some(t) => eval(pool, t, installed),
        None => eval(pool, &Rich::Dep(dep), installed),
    }
}

/// Checks a package set: every requires met, no conflict, no obsoleted
/// package, one package per name (unless multilib partners or install-only
/// by [`DEFAULT_INSTALLONLY`]), all installable here. Returns the first
/// violation, described. `installed` must be sorted.
pub fn verify(pool: &Pool, installed: &[PkgId]) -> Result<(), String> {
    for &p in installed {
        if pool.arch_score(p) == 0 {
            return Err(format!(
                "{} cannot be installed on this architecture",
                pool.nevra(p)
            ));
        }
        for &d in pool.deps(p, DepKind::Requires) {
            if !dep_holds(pool, d, installed) {
                return Err(format!(
                    "{} requires {}, which nothing installed provides",
                    pool.nevra(p),
                    pool.dep_str(d)
                ));
            }
        }
        for &d in pool.deps(p, DepKind::Conflicts) {
            let others: Vec<PkgId> = installed.iter().copied().filter(|&q| q != p).collect();
            if dep_holds(pool, d, &others) {
                return Err(format!(
                    "{} conflicts with {}, which is installed",
                    pool.nevra(p),
                    pool.dep_str(d)
                ));
            }
        }
        for &d in pool.deps(p, DepKind::Obsoletes) {
            if let Some(&q) = installed
                .iter()
                .find(|&&q| q != p && pool.name_matches(q, d))
            {
                return Err(format!(
                    "{} obsoletes {}, but {} is installed",
                    pool.nevra(p),
                    pool.dep_str(d),
                    pool.nevra(q)
                ));
            }
        }
        let name = pool.package(p).name;
        let p_only = installonly_by_default(pool, p);
        if let Some(&q) = installed.iter().find(|&&q| {
            q != p
                && pool.package(q).name == name
                && !may_coinstall(pool, p, q, p_only, installonly_by_default(pool, q))
        }) {
            return Err(format!(
                "{} and {} share a name",
                pool.nevra(p),
                pool.nevra(q)
            ));
        }
    }
    Ok(())
}

/// Orders a package set so that every package comes after what it requires:
/// groups of packages that require each other (cycles) form one step, and
/// steps are listed dependencies first. Requires met outside the set are
/// ignored. Deterministic for a given pool and set.
pub fn install_order(pool: &Pool, set: &[PkgId]) -> Vec<Vec<PkgId>> {
    let mut sorted = set.to_vec();
    sorted.sort();
    sorted.dedup();
    let index = |p: PkgId| sorted.binary_search(&p).ok();
    // Edges: package -> the members of the set that satisfy its requires.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); sorted.len()];
    let mut provs = Vec::new();
    for (i, &p) in sorted.iter().enumerate() {
        for &d in pool.deps(p, DepKind::Requires) {
            provs.clear();
            match pool.rich(d) {
                Some(t) => t.for_each_leaf(&mut |leaf| pool.what_provides(*leaf, &mut provs)),
                None => pool.what_provides(d, &mut provs),
            }
            for &q in &provs {
                if let Some(j) = index(q).filter(|&j| j != i && !edges[i].contains(&j)) {
                    edges[i].push(j);
                }
            }
        }
    }
    // Tarjan's strongly connected components, iteratively; components come
    // out in reverse topological order of the condensation, i.e. a
    // component after all the components it points to.
    const UNSEEN: usize = usize::MAX;
    let n = sorted.len();
    let (mut idx, mut low, mut on) = (vec![UNSEEN; n], vec![0; n], vec![false; n]);
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0);
    for root in 0..n {
        if idx[root] != UNSEEN {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        idx[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on[root] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if let Some(&w) = edges[v].get(*k) {
                *k += 1;
                if idx[w] == UNSEEN {
                    idx[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on[w] = true;
                    call.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(idx[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(u, _)) = call.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == idx[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    comp.push(sorted[w]);
                    if w == v {
                        break;
                    }
                }
                comp.sort();
                out.push(comp);
            }
        }
    }
    out
}

/// Solves "install P" for each package; returns those that cannot be
/// installed, with the reason. Weak dependencies are off (they never make a
/// package uninstallable).
pub fn installcheck(
    pool: &Pool,
    packages: impl IntoIterator<Item = PkgId>,
) -> Vec<(PkgId, Problem)> {
    let mut solver = Solver::new(pool);
    solver.set_weak(false);
    let mut bad = Vec::new();
    for p in packages {
        if let Err(problem) = solver.solve(&[Job::InstallPkg(p)]) {
            bad.push((p, problem));
        }
    }
    bad
}

/// Repository closure: the packages with a requires that no installable
/// package provides, each with its first such requires.
pub fn repoclosure(pool: &Pool) -> Vec<(PkgId, DepId)> {
    let mut solver = Solver::new(pool);
    let mut broken = Vec::new();
    for p in pool.ids() {
        for &d in pool.deps(p, DepKind::Requires) {
            let unmet = if pool.dep(d).rich.is_some() {
                solver.rich_cnf(d, true).iter().any(|c| c.is_empty())
            } else {
                solver.providers(d).1 == 0
            };
            if unmet {
                broken.push((p, d));
                break;
            }
        }
    }
    broken
}
