//! The planner: a build request becomes tasks. One `src` task per ref; one
//! task per arch per ref, each waiting for its ref's `src` task.
//!
//! In dependency order ([`BuildOptions::dependency_order`]) every arch task
//! also waits for the `src` tasks of the other refs: once every SRPM is
//! built, the store adds the edges between arch tasks that the refs'
//! BuildRequires and produced packages call for (see
//! [`crate::solve::order`]).

use crate::db::PlannedTask;
use crate::model::{Arch, BuildOptions, TaskKind};
use crate::platform::{DEFAULT_TIMEOUT_SECS, Platform};
use crate::source::SourceRef;

/// The tasks of a build of `refs` for `arches`, in creation order.
pub fn plan(refs: &[SourceRef], arches: &[Arch]) -> Vec<PlannedTask> {
    plan_with(refs, arches, &BuildOptions::default())
}

/// The tasks of a build of `refs` for `arches` under `options`, in creation
/// order.
pub fn plan_with(refs: &[SourceRef], arches: &[Arch], options: &BuildOptions) -> Vec<PlannedTask> {
    let per_ref = arches.len() + 1;
    let srcs: Vec<usize> = (0..refs.len()).map(|i| i * per_ref).collect();
    let mut tasks = Vec::with_capacity(refs.len() * per_ref);
    for (i, r) in refs.iter().enumerate() {
        let package = package_name(r);
        let src = tasks.len();
        tasks.push(PlannedTask {
            ref_index: i,
            kind: TaskKind::Src,
            depends_on: vec![],
            package: package.clone(),
        });
        // Its own src task first: a failed SRPM fails the ref's arch tasks.
        let mut depends_on = vec![src];
        if options.dependency_order {
            depends_on.extend(srcs.iter().copied().filter(|&s| s != src));
        }
        for arch in arches {
            tasks.push(PlannedTask {
                ref_index: i,
                kind: TaskKind::Arch(arch.clone()),
                depends_on: depends_on.clone(),
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
    fn in_dependency_order_arch_tasks_wait_for_every_src_task() {
        let refs = vec![
            SourceRef::Git {
                url: "https://git.example/rpms/a.git".into(),
                reference: None,
            },
            SourceRef::Git {
                url: "https://git.example/rpms/b.git".into(),
                reference: None,
            },
        ];
        let arches: Vec<Arch> = vec!["x86_64".parse().unwrap()];
        let options = BuildOptions {
            dependency_order: true,
            ..BuildOptions::default()
        };
        let t = plan_with(&refs, &arches, &options);
        assert_eq!(t.len(), 4);
        assert_eq!(t[1].depends_on, vec![0, 2]);
        assert_eq!(t[3].depends_on, vec![2, 0]);
        assert!(t[0].depends_on.is_empty() && t[2].depends_on.is_empty());
        // Without the option each arch task waits for its own src task only.
        assert_eq!(plan(&refs, &arches)[3].depends_on, vec![2]);
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
