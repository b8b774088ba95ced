//! Packages read from `.rpm` files into the pool, from their headers.
//!
//! What is kept matches the rpm-md reader: name, arch (`src` for source
//! packages), EVR, the eight dependency lists and every file (as file
//! provides). `rpmlib(...)` requires are left out, as createrepo_c does:
//! they are features of rpm itself, which no package provides.

use std::path::Path;

use super::RepoError;
use super::dep::{EvrRef, Sense};
use super::pool::{DepId, DepKind, DepRec, EvrRec, PkgId, Pool};

impl Pool {
    /// Adds the package of an `.rpm` file; returns its id. The indexes are
    /// rebuilt, so the package can be solved with at once.
    pub fn add_rpm(&mut self, path: &Path) -> Result<PkgId, RepoError> {
        let id = self.add_rpm_unindexed(path)?;
        self.reindex();
        Ok(id)
    }

    /// Adds the packages of several `.rpm` files, rebuilding the indexes once.
    pub fn add_rpms<P: AsRef<Path>>(
        &mut self,
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Vec<PkgId>, RepoError> {
        let mut ids = Vec::new();
        let res = paths
            .into_iter()
            .try_for_each(|p| self.add_rpm_unindexed(p.as_ref()).map(|id| ids.push(id)));
        // Index what was added even on error, so the pool stays consistent.
        self.reindex();
        res.map(|()| ids)
    }

    fn add_rpm_unindexed(&mut self, path: &Path) -> Result<PkgId, RepoError> {
        let input = path.display().to_string();
        let fail = |reason: String| RepoError::Package {
            input: input.clone(),
            reason,
        };
        let meta = rpm::PackageMetadata::open(path).map_err(|e| fail(e.to_string()))?;
        let text =
            |r: Result<&str, rpm::Error>| r.map(str::to_owned).map_err(|e| fail(e.to_string()));
        let name = text(meta.get_name())?;
        let arch = if meta.is_source_package() {
            "src".to_owned()
        } else {
            text(meta.get_arch())?
        };
        let version = text(meta.get_version())?;
        let release = text(meta.get_release())?;
        let epoch = match meta.get_epoch() {
            Ok(e) => e,
            Err(rpm::Error::TagNotFound(_)) => 0,
            Err(e) => return Err(fail(e.to_string())),
        };
        if name.is_empty() || arch.is_empty() || version.is_empty() {
            return Err(fail("empty name, arch or version".into()));
        }
        let name_id = self.intern(&name);
        let arch_id = self.intern(&arch);
        let evr_rec = EvrRec {
            epoch: Some(epoch),
            version: self.intern(&version),
            release: Some(self.intern(&release)),
        };
        let evr = self.intern_evr(evr_rec);

        let mut lists: [Vec<DepId>; 9] = Default::default();
        let kinds: [(DepKind, Result<Vec<rpm::Dependency>, rpm::Error>); 8] = [
            (DepKind::Provides, meta.get_provides()),
            (DepKind::Requires, meta.get_requires()),
            (DepKind::Conflicts, meta.get_conflicts()),
            (DepKind::Obsoletes, meta.get_obsoletes()),
            (DepKind::Recommends, meta.get_recommends()),
            (DepKind::Suggests, meta.get_suggests()),
            (DepKind::Supplements, meta.get_supplements()),
            (DepKind::Enhances, meta.get_enhances()),
        ];
        for (kind, deps) in kinds {
            let deps = deps.map_err(|e| fail(format!("{kind:?}: {e}")))?;
            let list = &mut lists[kind.slot()];
            for d in &deps {
                if kind == DepKind::Requires
                    && (d.name.starts_with("rpmlib(")
                        || d.flags.contains(rpm::DependencyFlags::RPMLIB))
                {
                    continue;
                }
                let id = self
                    .header_dep(d)
                    .map_err(|r| fail(format!("{kind:?} {:?}: {r}", d.name)))?;
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        // The implicit `name = evr` provide (rpm writes it; older headers may not).
        let own = self.intern_dep(DepRec {
            name: name_id,
            sense: Sense::EQUAL,
            evr: Some(evr),
            rich: None,
        });
        let provides = &mut lists[DepKind::Provides.slot()];
        if !provides.contains(&own) {
            provides.push(own);
        }
        let files = meta.get_file_paths().map_err(|e| fail(e.to_string()))?;
        for f in files {
            let f = f.to_string_lossy();
            let fname = self.intern(&f);
            lists[DepKind::Files.slot()].push(self.intern_dep(DepRec {
                name: fname,
                sense: Sense::ANY,
                evr: None,
                rich: None,
            }));
        }
        Ok(self.add_package(name_id, arch_id, evr, &lists))
    }

    /// Interns a dependency of a header.
    fn header_dep(&mut self, d: &rpm::Dependency) -> Result<DepId, String> {
        if d.name.is_empty() {
            return Err("empty name".into());
        }
        if d.name.starts_with('(') {
            return self.intern_rich(&d.name).map_err(|e| e.to_string());
        }
        let f = d.flags;
        let mut sense = 0u8;
        if f.contains(rpm::DependencyFlags::LESS) {
            sense |= Sense::LESS.0;
        }
        if f.contains(rpm::DependencyFlags::GREATER) {
            sense |= Sense::GREATER.0;
        }
        if f.contains(rpm::DependencyFlags::EQUAL) {
            sense |= Sense::EQUAL.0;
        }
        let (sense, evr) = if sense == 0 || d.version.is_empty() {
            (Sense::ANY, None)
        } else {
            let e = EvrRef::parse(&d.version)
                .filter(|e| !e.version.is_empty())
                .ok_or_else(|| format!("bad version {:?}", d.version))?;
            let rec = EvrRec {
                epoch: e.epoch,
                version: self.intern(e.version),
                release: e.release.map(|r| self.intern(r)),
            };
            (Sense(sense), Some(self.intern_evr(rec)))
        };
        let name = self.intern(&d.name);
        Ok(self.intern_dep(DepRec {
            name,
            sense,
            evr,
            rich: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broken.rpm");
        std::fs::write(&p, b"\xed\xab\xee\xdbnot really").unwrap();
        let mut pool = Pool::new();
        let err = pool.add_rpm(&p).unwrap_err().to_string();
        assert!(err.contains("broken.rpm"), "{err}");
        assert!(pool.is_empty());
        let missing = dir.path().join("missing.rpm");
        let err = pool.add_rpms([&p, &missing]).unwrap_err().to_string();
        assert!(err.contains("broken.rpm"), "{err}");
    }
}
