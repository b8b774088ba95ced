//! Release plans: which package of which build goes to which published
//! repository, the rules that map packages to repositories, plan edits, and
//! the repository-closure check a commit must pass.
//!
//! The mapping follows the platform: a binary RPM goes to
//! `{platform}-{arch}`, a noarch one to every arch of the platform,
//! `-debuginfo`/`-debugsource` packages to `{platform}-{arch}-debug`, the
//! SRPM to `{platform}-src`. A product's release uses the product's own
//! repositories, `{product}/{platform}-{arch}` and so on.
//!
//! Data and pure functions only; publishing happens in the server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::evr::Nevra;
use crate::hash::Sha256;
use crate::platform::Platform;
use crate::solve::Pool;

/// Errors of release plans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A repository name that is not `[product/]name` of safe characters.
    #[error(
        "repository name {0:?} is invalid: use letters, digits and '._+-', with at most one \
         'product/' prefix"
    )]
    BadRepoName(String),
    /// An edit names a package the plan (or its builds) does not have.
    #[error("{0}")]
    NoSuchPackage(String),
    /// A repository could not be read for the closure check.
    #[error("reading repository {repo} for the closure check: {reason}")]
    Repo {
        /// The repository.
        repo: String,
        /// What failed.
        reason: String,
    },
}

/// The state of a release plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    /// Made and editable, not published.
    Planned,
    /// Published.
    Committed,
    /// Published, then reverted.
    Reverted,
    /// A commit failed; the reason says why. It may be edited and committed again.
    Failed,
}

impl ReleaseState {
    /// The spelling in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Planned => "planned",
            ReleaseState::Committed => "committed",
            ReleaseState::Reverted => "reverted",
            ReleaseState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReleaseState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "planned" => ReleaseState::Planned,
            "committed" => ReleaseState::Committed,
            "reverted" => ReleaseState::Reverted,
            "failed" => ReleaseState::Failed,
            other => return Err(format!("unknown release state {other:?}")),
        })
    }
}

/// A package of a plan and the repository it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEntry {
    /// The package as built (its signed twin is published).
    pub sha256: Sha256,
    /// The build it comes from.
    pub build_id: u64,
    /// Its file name.
    pub name: String,
    /// Its NEVRA (the arch is `src` for an SRPM).
    pub nevra: Nevra,
    /// The target repository.
    pub repo: String,
}

/// A repository after a commit or revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRepoState {
    /// Its name.
    pub name: String,
    /// The sha256 of the `repodata/repomd.xml` it served after the commit.
    pub repomd_sha256: Sha256,
    /// The generation it served after the commit.
    pub generation: u64,
}

/// A release plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Id.
    pub id: u64,
    /// The platform.
    pub platform: String,
    /// The product, when the release goes to a product's repositories.
    pub product: Option<String>,
    /// Who made it.
    pub owner: String,
    /// Its state.
    pub state: ReleaseState,
    /// Why the last commit failed.
    pub reason: Option<String>,
    /// The builds it releases.
    pub builds: Vec<u64>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it was committed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub committed: Option<OffsetDateTime>,
    /// When it was reverted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reverted: Option<OffsetDateTime>,
    /// The packages and their repositories.
    pub entries: Vec<ReleaseEntry>,
    /// The repositories as the commit left them.
    pub repositories: Vec<ReleaseRepoState>,
}

/// `POST /api/v1/releases`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRelease {
    /// The builds to release (succeeded, of one platform and product).
    pub builds: Vec<u64>,
    /// The platform (default: the builds').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The product (default: the builds').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// A package (`NEVRA`, arch included) and a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRepo {
    /// `name-[epoch:]version-release.arch`.
    pub package: String,
    /// The repository.
    pub repo: String,
}

/// `PATCH /api/v1/releases/{id}`: moves, then removals, then additions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRelease {
    /// Every entry of the package goes to this repository instead.
    #[serde(default)]
    pub moves: Vec<PackageRepo>,
    /// Every entry of these packages leaves the plan.
    #[serde(default)]
    pub removes: Vec<String>,
    /// A package of the plan's builds goes (also) to a repository.
    #[serde(default)]
    pub adds: Vec<PackageRepo>,
}

/// `POST /api/v1/releases/{id}/commit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRelease {
    /// Publish even when a repository would not be closed.
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/v1/releases/repomd/pending` (sign node): the keys it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepomdPending {
    /// Fingerprints of the keys the node holds.
    pub fingerprints: Vec<String>,
}

/// A published `repomd.xml` that waits for a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepomdToSign {
    /// The repository.
    pub repo: String,
    /// The sha256 of its `repomd.xml`.
    pub repomd_sha256: Sha256,
    /// The `repomd.xml` itself.
    pub repomd: String,
    /// The key that must sign it.
    pub fingerprint: String,
}

/// `POST /api/v1/releases/repomd/signature` (sign node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepomdSignature {
    /// The repository.
    pub repo: String,
    /// The sha256 of the `repomd.xml` signed.
    pub repomd_sha256: Sha256,
    /// The key that signed.
    pub fingerprint: String,
    /// The ASCII-armored detached signature.
    pub signature: String,
}

/// The repository name prefix of a product (`product/`), or nothing.
fn prefix(product: Option<&str>) -> String {
    product
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
        .unwrap_or_default()
}

/// Whether the package is debug information.
pub fn is_debug(name: &str) -> bool {
    name.ends_with("-debuginfo") || name.ends_with("-debugsource")
}

/// The repositories a package goes to, for `platform` (and `product`).
pub fn repositories_for(platform: &Platform, product: Option<&str>, nevra: &Nevra) -> Vec<String> {
    let pre = prefix(product);
    let p = &platform.name;
    let debug = if is_debug(&nevra.name) { "-debug" } else { "" };
    if nevra.arch.is_source() {
        return vec![format!("{pre}{p}-src")];
    }
    if nevra.arch.is_noarch() {
        return platform
            .arches
            .iter()
            .map(|a| format!("{pre}{p}-{a}{debug}"))
            .collect();
    }
    vec![format!("{pre}{p}-{}{debug}", nevra.arch)]
}

/// Whether a repository holds source packages (its closure is not checked).
pub fn is_source_repo(repo: &str) -> bool {
    repo.ends_with("-src")
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// Checks a repository name: `name` or `product/name`, of letters, digits
/// and `._+-`, not starting with a dot.
pub fn check_repo_name(name: &str) -> Result<(), ReleaseError> {
    let ok = match name.split_once('/') {
        Some((a, b)) => safe_segment(a) && safe_segment(b),
        None => safe_segment(name),
    };
    if ok {
        Ok(())
    } else {
        Err(ReleaseError::BadRepoName(name.to_owned()))
    }
}

/// A package the plan's builds offer: file name, sha256, build, NEVRA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The package as built.
    pub sha256: Sha256,
    /// Its build.
    pub build_id: u64,
    /// Its file name.
    pub name: String,
    /// Its NEVRA.
    pub nevra: Nevra,
}

/// The entries of a new plan: every candidate to every repository it maps to.
pub fn plan_entries(
    platform: &Platform,
    product: Option<&str>,
    candidates: &[Candidate],
) -> Vec<ReleaseEntry> {
    let mut out: Vec<ReleaseEntry> = Vec::new();
    for c in candidates {
        for repo in repositories_for(platform, product, &c.nevra) {
            if !out.iter().any(|e| e.sha256 == c.sha256 && e.repo == repo) {
                out.push(ReleaseEntry {
                    sha256: c.sha256,
                    build_id: c.build_id,
                    name: c.name.clone(),
                    nevra: c.nevra.clone(),
                    repo,
                });
            }
        }
    }
    out
}

/// Whether `spec` names the package (an epoch of 0 may be written or not).
fn matches(e_nevra: &Nevra, spec: &str) -> bool {
    let zero = format!("{}-0:", e_nevra.name);
    let plain = format!("{}-", e_nevra.name);
    let norm = |s: &str| s.replacen(&zero, &plain, 1);
    norm(&e_nevra.to_string()) == norm(spec)
}

/// Applies an edit to a plan's entries: moves, removals, then additions (of
/// packages among `candidates`). Every package named must exist.
pub fn apply_edit(
    entries: &[ReleaseEntry],
    edit: &EditRelease,
    candidates: &[Candidate],
) -> Result<Vec<ReleaseEntry>, ReleaseError> {
    let mut out = entries.to_vec();
    for m in &edit.moves {
        check_repo_name(&m.repo)?;
        let mut hit = false;
        for e in out.iter_mut().filter(|e| matches(&e.nevra, &m.package)) {
            e.repo = m.repo.clone();
            hit = true;
        }
        if !hit {
            return Err(ReleaseError::NoSuchPackage(format!(
                "move: the plan has no package {}",
                m.package
            )));
        }
    }
    for r in &edit.removes {
        let before = out.len();
        out.retain(|e| !matches(&e.nevra, r));
        if out.len() == before {
            return Err(ReleaseError::NoSuchPackage(format!(
                "remove: the plan has no package {r}"
            )));
        }
    }
    for a in &edit.adds {
        check_repo_name(&a.repo)?;
        let c = candidates
            .iter()
            .find(|c| matches(&c.nevra, &a.package))
            .ok_or_else(|| {
                ReleaseError::NoSuchPackage(format!(
                    "add: the plan's builds have no package {}",
                    a.package
                ))
            })?;
        if !out.iter().any(|e| e.sha256 == c.sha256 && e.repo == a.repo) {
            out.push(ReleaseEntry {
                sha256: c.sha256,
                build_id: c.build_id,
                name: c.name.clone(),
                nevra: c.nevra.clone(),
                repo: a.repo.clone(),
            });
        }
    }
    // Moves may make two entries of one package and repository.
    let mut seen = BTreeSet::new();
    out.retain(|e| seen.insert((e.sha256, e.repo.clone())));
    Ok(out)
}

/// The `href` of the metadata file of `kind` that a `repomd.xml` names.
pub fn repomd_href(repomd: &str, kind: &str) -> Option<String> {
    let start = repomd.find(&format!("<data type=\"{kind}\""))?;
    let rest = &repomd[start..];
    let end = rest.find("</data>").unwrap_or(rest.len());
    let loc = rest[..end].split("<location href=\"").nth(1)?;
    loc.split('"').next().map(str::to_owned)
}

/// Adds the packages of the published repository `dir` (the primary and
/// filelists files its `repomd.xml` names) to `pool`; a directory without
/// `repodata/repomd.xml` adds nothing.
pub fn add_published(pool: &mut Pool, dir: &Path) -> Result<(), ReleaseError> {
    let repo = dir.display().to_string();
    let fail = |reason: String| ReleaseError::Repo {
        repo: repo.clone(),
        reason,
    };
    let repomd = match std::fs::read_to_string(dir.join("repodata/repomd.xml")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let primary = repomd_href(&repomd, "primary")
        .ok_or_else(|| fail("repomd.xml names no primary".into()))?;
    let first = pool.len();
    pool.add_primary(&dir.join(&primary))
        .map_err(|e| fail(e.to_string()))?;
    if let Some(fl) = repomd_href(&repomd, "filelists") {
        let reader = crate::solve::rpmmd::open(&dir.join(&fl)).map_err(|e| fail(e.to_string()))?;
        let end = pool.len() as u32;
        crate::solve::filelists::read_filelists(pool, reader, &fl, first as u32..end)
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// A requires that nothing provides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BrokenRequire {
    /// The repository.
    pub repo: String,
    /// The package (`name-[epoch:]version-release.arch`).
    pub package: String,
    /// The requires (`libfoo.so.1()(64bit)`).
    pub requires: String,
}

impl std::fmt::Display for BrokenRequire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requires {}, which nothing in {} provides",
            self.package, self.requires, self.repo
        )
    }
}

fn broken(pool: &Pool) -> BTreeSet<(String, String)> {
    crate::solve::sat::repoclosure(pool)
        .into_iter()
        .map(|(p, d)| (pool.nevra(p), pool.dep_str(d)))
        .collect()
}

/// What publishing `new_rpms` into the repository `dir` (named `repo`)
/// would break: the requires that nothing in the repository, the new
/// packages or the `base` repositories provides, and that were not already
/// unmet before.
pub fn closure_problems(
    repo: &str,
    dir: &Path,
    base: &[PathBuf],
    new_rpms: &[PathBuf],
) -> Result<Vec<BrokenRequire>, ReleaseError> {
    let mut pool = Pool::new();
    for b in base {
        add_published(&mut pool, b)?;
    }
    add_published(&mut pool, dir)?;
    pool.reindex();
    let before = broken(&pool);
    pool.add_rpms(new_rpms).map_err(|e| ReleaseError::Repo {
        repo: repo.to_owned(),
        reason: e.to_string(),
    })?;
    let after = broken(&pool);
    Ok(after
        .difference(&before)
        .map(|(package, requires)| BrokenRequire {
            repo: repo.to_owned(),
            package: package.clone(),
            requires: requires.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    fn platform() -> Platform {
        Platform {
            name: "almalinux-9".into(),
            arches: vec![
                "x86_64".parse::<Arch>().unwrap(),
                "aarch64".parse().unwrap(),
            ],
            dist_tag: ".el9".into(),
            macros: Default::default(),
            repositories: vec![],
            timeout_secs: None,
        }
    }

    fn nevra(s: &str) -> Nevra {
        s.parse().unwrap()
    }

    #[test]
    fn packages_map_to_the_platform_repositories() {
        let p = platform();
        assert_eq!(
            repositories_for(&p, None, &nevra("hello-1.0-1.el9.x86_64")),
            ["almalinux-9-x86_64"]
        );
        assert_eq!(
            repositories_for(&p, None, &nevra("docs-2.1-3.el9.noarch")),
            ["almalinux-9-x86_64", "almalinux-9-aarch64"]
        );
        assert_eq!(
            repositories_for(&p, None, &nevra("hello-debuginfo-1.0-1.el9.x86_64")),
            ["almalinux-9-x86_64-debug"]
        );
        assert_eq!(
            repositories_for(&p, None, &nevra("hello-debugsource-1.0-1.el9.aarch64")),
            ["almalinux-9-aarch64-debug"]
        );
        assert_eq!(
            repositories_for(&p, None, &nevra("hello-1.0-1.el9.src")),
            ["almalinux-9-src"]
        );
        assert_eq!(
            repositories_for(&p, Some("tools"), &nevra("hello-1.0-1.el9.x86_64")),
            ["tools/almalinux-9-x86_64"]
        );
        assert_eq!(
            repositories_for(&p, Some("tools"), &nevra("hello-1.0-1.el9.src")),
            ["tools/almalinux-9-src"]
        );
    }

    #[test]
    fn repository_names_are_checked() {
        for ok in ["almalinux-9-x86_64", "tools/almalinux-9-src", "a_b.c+d"] {
            check_repo_name(ok).unwrap();
        }
        for bad in [
            "", "..", "../etc", "a/b/c", "/abs", "a/", ".hidden", "a b", "a/..",
        ] {
            assert!(check_repo_name(bad).is_err(), "{bad}");
        }
    }

    fn cand(i: u8, n: &str) -> Candidate {
        let nevra = nevra(n);
        Candidate {
            sha256: Sha256([i; 32]),
            build_id: 1,
            name: nevra.file_name(),
            nevra,
        }
    }

    #[test]
    fn edits_move_remove_and_add() {
        let p = platform();
        let cands = [
            cand(1, "hello-1.0-1.el9.x86_64"),
            cand(2, "docs-2.1-3.el9.noarch"),
            cand(3, "hello-1.0-1.el9.src"),
        ];
        let plan = plan_entries(&p, None, &cands);
        assert_eq!(plan.len(), 4);
        let edit = EditRelease {
            moves: vec![PackageRepo {
                package: "hello-1.0-1.el9.x86_64".into(),
                repo: "extras-x86_64".into(),
            }],
            removes: vec!["docs-2.1-3.el9.noarch".into()],
            adds: vec![PackageRepo {
                package: "hello-0:1.0-1.el9.x86_64".into(),
                repo: "almalinux-9-x86_64".into(),
            }],
        };
        let out = apply_edit(&plan, &edit, &cands).unwrap();
        let repos: Vec<(&str, &str)> = out
            .iter()
            .map(|e| (e.name.as_str(), e.repo.as_str()))
            .collect();
        assert_eq!(
            repos,
            [
                ("hello-1.0-1.el9.x86_64.rpm", "extras-x86_64"),
                ("hello-1.0-1.el9.src.rpm", "almalinux-9-src"),
                ("hello-1.0-1.el9.x86_64.rpm", "almalinux-9-x86_64"),
            ]
        );
        let bad = EditRelease {
            removes: vec!["nope-1-1.x86_64".into()],
            ..Default::default()
        };
        let e = apply_edit(&plan, &bad, &cands).unwrap_err();
        assert!(e.to_string().contains("nope-1-1.x86_64"), "{e}");
        let traversal = EditRelease {
            moves: vec![PackageRepo {
                package: "hello-1.0-1.el9.x86_64".into(),
                repo: "../../etc".into(),
            }],
            ..Default::default()
        };
        assert!(matches!(
            apply_edit(&plan, &traversal, &cands),
            Err(ReleaseError::BadRepoName(_))
        ));
    }

    #[test]
    fn repomd_locations_are_found() {
        let xml = r#"<repomd><data type="primary"><checksum>x</checksum><location href="repodata/a-primary.xml.gz"/></data><data type="filelists"><location href="repodata/b-filelists.xml.gz"/></data></repomd>"#;
        assert_eq!(
            repomd_href(xml, "primary").as_deref(),
            Some("repodata/a-primary.xml.gz")
        );
        assert_eq!(
            repomd_href(xml, "filelists").as_deref(),
            Some("repodata/b-filelists.xml.gz")
        );
        assert_eq!(repomd_href(xml, "other"), None);
    }

    #[test]
    fn broken_requires_read_as_sentences() {
        let b = BrokenRequire {
            repo: "almalinux-9-x86_64".into(),
            package: "hello-extras-1.0-1.noarch".into(),
            requires: "libfoo.so.1()(64bit)".into(),
        };
        assert_eq!(
            b.to_string(),
            "hello-extras-1.0-1.noarch requires libfoo.so.1()(64bit), which nothing in \
             almalinux-9-x86_64 provides"
        );
    }
}
