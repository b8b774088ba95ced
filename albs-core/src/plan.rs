//! The planner: a build request becomes tasks. One `src` task per ref; one
//! task per arch per ref, each waiting for its ref's `src` task.

use crate::db::PlannedTask;
use crate::model::{Arch, BuildOptions, TaskKind};
use crate::platform::{DEFAULT_TIMEOUT_SECS, Platform};
use crate::source::SourceRef;

/// The tasks of a build of `refs` for `arches`, in creation order.
pub fn plan(refs: &[SourceRef], arches: &[Arch]) -> Vec<PlannedTask> {
    let mut tasks = Vec::with_capacity(refs.len() * (arches.len() + 1));
    for (i, r) in refs.iter().enumerate() {
        let package = package_name(r);
        let src = tasks.len();
        tasks.push(PlannedTask {
            ref_index: i,
            kind: TaskKind::Src,
            depends_on: vec![],
            package: package.clone(),
        });
        for arch in arches {
            tasks.push(PlannedTask {
                ref_index: i,
                kind: TaskKind::Arch(arch.clone()),
                depends_on: vec![src],
                package: package.clone(),
            });
        }
    }
    tasks
}

/// The task timeout: the build's option, else the platform's, else 3 hours.
pub fn timeout_secs(platform: &Platform, options: &BuildOptions) -> u64 {
    options
        .timeout_secs
        .or(platform.timeout_secs)
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
}

/// The package a ref builds, as far as its URL tells: the repository name
/// (`…/rpms/bash.git` → `bash`) or the SRPM's name.
pub fn package_name(r: &SourceRef) -> Option<String> {
    let url = r.url().trim_end_matches('/');
    let last = url.rsplit('/').next()?;
    match r {
        SourceRef::Git { .. } => {
            let name = last.strip_suffix(".git").unwrap_or(last);
            (!name.is_empty()).then(|| name.to_owned())
        }
        SourceRef::Srpm { .. } => crate::evr::Nevra::from_file_name(last).ok().map(|n| n.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_src_task_per_ref_and_arch_tasks_wait_for_it() {
        let refs = vec![
            SourceRef::Git {
                url: "https://git.example/rpms/bash.git".into(),
                reference: None,
            },
            SourceRef::Srpm {
                url: "https://x.example/zlib-1.2.11-40.el9.src.rpm".into(),
            },
        ];
        let arches: Vec<Arch> = vec!["x86_64".parse().unwrap(), "aarch64".parse().unwrap()];
        let t = plan(&refs, &arches);
        assert_eq!(t.len(), 6);
        assert_eq!(t[0].kind, TaskKind::Src);
        assert_eq!(t[0].package.as_deref(), Some("bash"));
        assert_eq!(t[1].depends_on, vec![0]);
        assert_eq!(t[2].kind, TaskKind::Arch("aarch64".parse().unwrap()));
        assert_eq!(t[3].kind, TaskKind::Src);
        assert_eq!(t[4].depends_on, vec![3]);
        assert_eq!(t[5].package.as_deref(), Some("zlib"));
    }

    #[test]
    fn timeout_prefers_the_build_then_the_platform() {
        let mut p = crate::platform::Platforms::bundled()
            .get("almalinux-9")
            .unwrap()
            .clone();
        let mut o = BuildOptions::default();
        assert_eq!(timeout_secs(&p, &o), DEFAULT_TIMEOUT_SECS);
        p.timeout_secs = Some(60);
        assert_eq!(timeout_secs(&p, &o), 60);
        o.timeout_secs = Some(5);
        assert_eq!(timeout_secs(&p, &o), 5);
    }
}
