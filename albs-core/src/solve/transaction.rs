//! What a solution means for an installed system: the packages to install,
//! erase, upgrade, downgrade or reinstall, and those obsoleted, in the words
//! dnf prints them.

use std::cmp::Ordering;

use super::pool::{DepKind, PkgId, Pool};

/// One step of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A package that was not installed, and replaces nothing.
    Install(PkgId),
    /// An installed package that goes, replaced by nothing.
    Erase(PkgId),
    /// `to` (a higher EVR of the same name) replaces `from`.
    Upgrade {
        /// The installed package.
        from: PkgId,
        /// Its replacement.
        to: PkgId,
    },
    /// `to` (a lower EVR of the same name) replaces `from`.
    Downgrade {
        /// The installed package.
        from: PkgId,
        /// Its replacement.
        to: PkgId,
    },
    /// `to` (same EVR, another build of it) replaces `from`.
    Reinstall {
        /// The installed package.
        from: PkgId,
        /// Its replacement.
        to: PkgId,
    },
    /// `by` is installed and obsoletes the installed `old`, which goes.
    Obsolete {
        /// The new package.
        by: PkgId,
        /// The installed packages it obsoletes.
        old: Vec<PkgId>,
    },
}

impl Step {
    /// dnf's word for the step.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Install(_) => "install",
            Step::Erase(_) => "erase",
            Step::Upgrade { .. } => "upgrade",
            Step::Downgrade { .. } => "downgrade",
            Step::Reinstall { .. } => "reinstall",
            Step::Obsolete { .. } => "obsolete",
        }
    }

    /// The step as one line: `upgrade a-1-1.x86_64 -> a-2-1.x86_64`.
    pub fn describe(&self, pool: &Pool) -> String {
        match self {
            Step::Install(p) | Step::Erase(p) => format!("{} {}", self.kind(), pool.nevra(*p)),
            Step::Upgrade { from, to }
            | Step::Downgrade { from, to }
            | Step::Reinstall { from, to } => {
                format!(
                    "{} {} -> {}",
                    self.kind(),
                    pool.nevra(*from),
                    pool.nevra(*to)
                )
            }
            Step::Obsolete { by, old } => {
                let old: Vec<String> = old.iter().map(|&p| pool.nevra(p)).collect();
                format!("install {} (obsoletes {})", pool.nevra(*by), old.join(", "))
            }
        }
    }

    /// The package the step leaves installed, if any.
    pub fn new_package(&self) -> Option<PkgId> {
        match self {
            Step::Install(p) => Some(*p),
            Step::Erase(_) => None,
            Step::Upgrade { to, .. } | Step::Downgrade { to, .. } | Step::Reinstall { to, .. } => {
                Some(*to)
            }
            Step::Obsolete { by, .. } => Some(*by),
        }
    }
}

/// The steps from an installed set to a solution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    /// Steps sorted by the NEVRA of the package they concern (new one first).
    pub steps: Vec<Step>,
}

impl Transaction {
    /// Compares `installed` with `result` (both lists of pool packages): a
    /// new package replaces an installed one of its name (same arch, or to
    /// or from noarch), unless it is install-only; else the installed
    /// packages it obsoletes; else it is a plain install. Installed packages
    /// left over are erased.
    pub fn between(
        pool: &Pool,
        installed: &[PkgId],
        result: &[PkgId],
        installonly: impl Fn(PkgId) -> bool,
    ) -> Transaction {
        let mut inst = installed.to_vec();
        inst.sort();
        let mut res = result.to_vec();
        res.sort();
        let gone: Vec<PkgId> = inst
            .iter()
            .copied()
            .filter(|p| res.binary_search(p).is_err())
            .collect();
        let mut new: Vec<PkgId> = res
            .iter()
            .copied()
            .filter(|p| inst.binary_search(p).is_err())
            .collect();
        new.sort_by_key(|&p| pool.nevra(p));
        let mut taken = vec![false; gone.len()];
        let mut steps = Vec::new();
        for &n in &new {
            let nk = pool.package(n);
            let narch = pool.str(nk.arch);
            let same = (!installonly(n))
                .then(|| {
                    gone.iter().enumerate().position(|(k, &g)| {
                        let gk = pool.package(g);
                        !taken[k]
                            && gk.name == nk.name
                            && super::arch::arch_change_allowed(pool.str(gk.arch), narch)
                    })
                })
                .flatten();
            if let Some(k) = same {
                taken[k] = true;
                let from = gone[k];
                steps.push(match pool.evr_cmp(nk.evr, pool.package(from).evr) {
                    Ordering::Greater => Step::Upgrade { from, to: n },
                    Ordering::Less => Step::Downgrade { from, to: n },
                    Ordering::Equal => Step::Reinstall { from, to: n },
                });
                continue;
            }
            let mut old = Vec::new();
            for (k, &g) in gone.iter().enumerate() {
                if !taken[k]
                    && pool
                        .deps(n, DepKind::Obsoletes)
                        .iter()
                        .any(|&d| pool.name_matches(g, d))
                {
                    taken[k] = true;
                    old.push(g);
                }
            }
            steps.push(if old.is_empty() {
                Step::Install(n)
            } else {
                Step::Obsolete { by: n, old }
            });
        }
        for (k, &g) in gone.iter().enumerate() {
            if !taken[k] {
                steps.push(Step::Erase(g));
            }
        }
        steps.sort_by_cached_key(|s| {
            let p = match s {
                Step::Erase(p) => *p,
                Step::Upgrade { from, .. }
                | Step::Downgrade { from, .. }
                | Step::Reinstall { from, .. } => *from,
                Step::Install(p) => *p,
                Step::Obsolete { by, .. } => *by,
            };
            pool.nevra(p)
        });
        Transaction { steps }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
