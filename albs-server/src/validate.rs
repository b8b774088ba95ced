//! Checks of request bodies and query strings before anything is stored. Each
//! refusal names the field at fault (`refs[1].url`, `status`).

use albs_core::api::{BuildQuery, CreateBuild, RegisterNode};
use albs_core::model::{Arch, Artifact, TaskState};
use albs_core::platform::{Platform, PlatformError};
use albs_core::source::{GitRef, LocationError, SourceRef, check_location, check_ref_name};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::AppError;

/// Most refs one build may have.
pub(crate) const MAX_REFS: usize = 1000;
/// Largest page of the build list.
pub(crate) const MAX_PAGE: u32 = 500;

fn bad(msg: String) -> AppError {
    AppError::BadRequest(msg)
}

fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A location or ref name refused by the core's checks, naming the field.
fn refused(field: &str, value: &str, why: LocationError) -> AppError {
    match why {
        LocationError::Empty => bad(format!("{field} is empty")),
        why => bad(format!("{field} {value:?} {why}")),
    }
}

/// Checks every ref of a build.
pub(crate) fn check_refs(refs: &[SourceRef]) -> Result<(), AppError> {
    if refs.is_empty() {
        return Err(bad(
            "refs is empty: give at least one git ref or SRPM URL".into()
        ));
    }
    if refs.len() > MAX_REFS {
        return Err(bad(format!(
            "refs has {} entries; one build takes at most {MAX_REFS}",
            refs.len()
        )));
    }
    for (i, r) in refs.iter().enumerate() {
        match r {
            SourceRef::Git { url, reference } => {
                check_location(url).map_err(|e| refused(&format!("refs[{i}].url"), url, e))?;
                if let Some(
                    GitRef::Branch(n) | GitRef::Tag(n) | GitRef::Commit(n) | GitRef::Auto(n),
                ) = reference
                {
                    check_ref_name(n).map_err(|e| refused(&format!("refs[{i}].ref"), n, e))?;
                }
            }
            SourceRef::Srpm { url } => {
                let field = format!("refs[{i}].url");
                check_location(url).map_err(|e| refused(&field, url, e))?;
                if !url.ends_with(".src.rpm") {
                    return Err(bad(format!("{field} {url:?} does not end with .src.rpm")));
                }
            }
        }
    }
    Ok(())
}

/// The arches a build asks for: all of the platform's when none are given,
/// else each given one must be the platform's (duplicates dropped).
pub(crate) fn build_arches(platform: &Platform, asked: &[Arch]) -> Result<Vec<Arch>, AppError> {
    if asked.is_empty() {
        if platform.arches.is_empty() {
            return Err(AppError::Unprocessable(format!(
                "platform {} has no arches",
                platform.name
            )));
        }
        return Ok(platform.arches.clone());
    }
    let mut out: Vec<Arch> = Vec::with_capacity(asked.len());
    for a in asked {
        if !platform.arches.contains(a) {
            let known = platform
                .arches
                .iter()
                .map(Arch::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(bad(format!(
                "arches: {}",
                PlatformError::ArchNotSupported {
                    platform: platform.name.clone(),
                    arch: a.clone(),
                    known,
                }
            )));
        }
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// Checks the options of a build.
pub(crate) fn check_build(req: &CreateBuild) -> Result<(), AppError> {
    check_refs(&req.refs)?;
    if req.options.timeout_secs == Some(0) {
        return Err(bad("options.timeout_secs must be at least 1".into()));
    }
    for (i, l) in req.options.labels.iter().enumerate() {
        check_word(&format!("options.labels[{i}]"), l)?;
    }
    if let Some(p) = &req.options.product {
        check_word("options.product", p)?;
    }
    Ok(())
}

/// A name: non-empty, at most 200 characters, no whitespace or control
/// characters.
fn check_word(field: &str, s: &str) -> Result<(), AppError> {
    if s.is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    if s.chars().count() > 200 {
        return Err(bad(format!("{field} is longer than 200 characters")));
    }
    if has_space_or_control(s) {
        return Err(bad(format!(
            "{field} {s:?} contains whitespace or control characters"
        )));
    }
    Ok(())
}

/// Checks a platform before it is stored.
pub(crate) fn check_platform(p: &Platform) -> Result<(), AppError> {
    check_word("name", &p.name)?;
    if p.arches.is_empty() {
        return Err(bad(
            "arches is empty: a platform builds at least one arch".into()
        ));
    }
    if p.timeout_secs == Some(0) {
        return Err(bad("timeout_secs must be at least 1".into()));
    }
    Ok(())
}

/// Checks a node registration.
pub(crate) fn check_node(n: &RegisterNode) -> Result<(), AppError> {
    check_word("name", &n.name)?;
    if n.arches.is_empty() {
        return Err(bad(
            "arches is empty: a node builds at least one arch".into()
        ));
    }
    if n.capacity == 0 {
        return Err(bad("capacity must be at least 1".into()));
    }
    for (i, l) in n.labels.iter().enumerate() {
        check_word(&format!("labels[{i}]"), l)?;
    }
    Ok(())
}

/// Checks the artifacts of a completion: their names are display names,
/// never paths.
pub(crate) fn check_artifacts(artifacts: &[Artifact]) -> Result<(), AppError> {
    for (i, a) in artifacts.iter().enumerate() {
        let n = &a.name;
        if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\\') {
            return Err(bad(format!(
                "artifacts[{i}].name {n:?} must be a file name, not a path"
            )));
        }
        if n.chars().any(char::is_control) {
            return Err(bad(format!(
                "artifacts[{i}].name {n:?} contains control characters"
            )));
        }
    }
    Ok(())
}

/// The names of the task states, as the API spells them.
const STATES: &str = "pending, running, succeeded, failed, excluded, timed_out, cancelled";

fn parse_state(s: &str) -> Option<TaskState> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// The build list's query string as a [`BuildQuery`]; a bad parameter is a
/// 400 naming it.
pub(crate) fn build_query(raw: Option<&str>) -> Result<BuildQuery, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad(format!("the query string is malformed: {e}")))?;
    let mut q = BuildQuery::default();
    for (key, value) in pairs {
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "package" => q.package = Some(value),
            "owner" => q.owner = Some(value),
            "platform" => q.platform = Some(value),
            "status" => {
                q.status = Some(parse_state(&value).ok_or_else(|| {
                    bad(format!(
                        "status: {value:?} is not a task state; use one of {STATES}"
                    ))
                })?)
            }
            "since" | "until" => {
                OffsetDateTime::parse(&value, &Rfc3339).map_err(|e| {
                    bad(format!(
                        "{key}: {value:?} is not an RFC 3339 time (2025-01-31T00:00:00Z): {e}"
                    ))
                })?;
                if key == "since" {
                    q.since = Some(value);
                } else {
                    q.until = Some(value);
                }
            }
            "before" => {
                q.before = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("before: {value:?} is not a build id")))?,
                )
            }
            "limit" => {
                let n: u32 = value
                    .parse()
                    .map_err(|_| bad(format!("limit: {value:?} is not a number")))?;
                if n == 0 || n > MAX_PAGE {
                    return Err(bad(format!("limit: must be between 1 and {MAX_PAGE}")));
                }
                q.limit = Some(n);
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}; known: package, owner, platform, status, since, until, before, limit"
                )));
            }
        }
    }
    Ok(q)
}

/// `from` and `limit` of a log read.
pub(crate) fn log_query(raw: Option<&str>, max: u32) -> Result<(u64, u32), AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad(format!("the query string is malformed: {e}")))?;
    let (mut from, mut limit) = (0u64, max);
    for (key, value) in pairs {
        match key.as_str() {
            "from" => {
                from = value
                    .parse()
                    .map_err(|_| bad(format!("from: {value:?} is not a line number")))?
            }
            "limit" => {
                let n: u32 = value
                    .parse()
                    .map_err(|_| bad(format!("limit: {value:?} is not a number")))?;
                if n == 0 || n > max {
                    return Err(bad(format!("limit: must be between 1 and {max}")));
                }
                limit = n;
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}; known: from, limit"
                )));
            }
        }
    }
    Ok((from, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(url: &str, r: Option<&str>) -> SourceRef {
        SourceRef::Git {
            url: url.into(),
            reference: r.map(|n| GitRef::Branch(n.into())),
        }
    }

    fn refused(refs: &[SourceRef]) -> String {
        check_refs(refs).unwrap_err().to_string()
    }

    #[test]
    fn good_refs_pass() {
        check_refs(&[
            git("https://git.example/rpms/bash.git", Some("c9")),
            git("http://git.example/rpms/bash", None),
            git("file:///srv/git/bash.git", Some("imports/c9/bash-5.1")),
            git("/srv/git/bash", None),
            SourceRef::Srpm {
                url: "https://x.example/zlib-1.2.11-40.el9.src.rpm".into(),
            },
        ])
        .unwrap();
    }

    #[test]
    fn bad_refs_name_the_field() {
        let m = refused(&[git("/ok", None), git("rpms/bash", None)]);
        assert!(m.contains("refs[1].url") && m.contains("relative"), "{m}");
        let m = refused(&[git("ftp://x.example/bash.git", None)]);
        assert!(m.contains("refs[0].url") && m.contains("ftp"), "{m}");
        let m = refused(&[git("file://relative/x", None)]);
        assert!(m.contains("file:///"), "{m}");
        let m = refused(&[git("https:///x", None)]);
        assert!(m.contains("no host"), "{m}");
        let m = refused(&[git("/a b", None)]);
        assert!(m.contains("whitespace"), "{m}");
        let m = refused(&[git("/x", Some("a/../b"))]);
        assert!(m.contains("refs[0].ref") && m.contains(".."), "{m}");
        let m = refused(&[git("/x", Some(""))]);
        assert!(m.contains("refs[0].ref is empty"), "{m}");
        let m = refused(&[git("/x", Some("c9 x"))]);
        assert!(m.contains("refs[0].ref"), "{m}");
        let m = refused(&[git("/x", Some("--upload-pack=x"))]);
        assert!(m.contains("refs[0].ref"), "{m}");
        let m = refused(&[SourceRef::Srpm {
            url: "https://x.example/zlib.rpm".into(),
        }]);
        assert!(m.contains("refs[0].url") && m.contains(".src.rpm"), "{m}");
        let m = refused(&[]);
        assert!(m.contains("refs is empty"), "{m}");
    }

    #[test]
    fn arches_default_to_the_platform_and_must_be_its_own() {
        let p = albs_core::platform::Platforms::bundled()
            .get("almalinux-9")
            .unwrap()
            .clone();
        assert_eq!(build_arches(&p, &[]).unwrap(), p.arches);
        let x86: Arch = "x86_64".parse().unwrap();
        assert_eq!(
            build_arches(&p, &[x86.clone(), x86.clone()]).unwrap(),
            vec![x86]
        );
        let m = build_arches(&p, &["sparc".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(m.contains("sparc") && m.contains("x86_64"), "{m}");
        let m = build_arches(&p, &[Arch::src()]).unwrap_err().to_string();
        assert!(m.contains("src"), "{m}");
    }

    #[test]
    fn build_queries_name_the_bad_parameter() {
        let q = build_query(Some(
            "owner=alice&status=timed_out&since=2025-01-01T00:00:00Z&before=9&limit=5&package=",
        ))
        .unwrap();
        assert_eq!(q.owner.as_deref(), Some("alice"));
        assert_eq!(q.status, Some(TaskState::TimedOut));
        assert_eq!(q.before, Some(9));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.package, None);
        for (raw, name) in [
            ("status=done", "status"),
            ("since=yesterday", "since"),
            ("until=2025-13-01", "until"),
            ("before=x", "before"),
            ("limit=100000", "limit"),
            ("colour=red", "colour"),
        ] {
            let m = build_query(Some(raw)).unwrap_err().to_string();
            assert!(m.contains(name), "{raw}: {m}");
        }
        assert_eq!(build_query(None).unwrap(), BuildQuery::default());
    }

    #[test]
    fn the_client_query_round_trips() {
        let q = BuildQuery {
            status: Some(TaskState::Running),
            platform: Some("almalinux-9".into()),
            since: Some("2025-01-01T00:00:00+01:00".into()),
            limit: Some(10),
            ..BuildQuery::default()
        };
        let raw = serde_urlencoded::to_string(&q).unwrap();
        assert_eq!(build_query(Some(&raw)).unwrap(), q);
    }

    #[test]
    fn log_queries() {
        assert_eq!(log_query(None, 100).unwrap(), (0, 100));
        assert_eq!(log_query(Some("from=5&limit=7"), 100).unwrap(), (5, 7));
        assert!(
            log_query(Some("from=-1"), 100)
                .unwrap_err()
                .to_string()
                .contains("from")
        );
        assert!(
            log_query(Some("limit=101"), 100)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
    }

    #[test]
    fn artifact_names_are_not_paths() {
        use albs_core::model::ArtifactKind;
        let a = |name: &str| Artifact {
            sha256: albs_core::Sha256::of(b"x"),
            size: 1,
            name: name.into(),
            kind: ArtifactKind::Rpm,
            nevra: None,
        };
        check_artifacts(&[a("bash-5.1-1.el9.x86_64.rpm")]).unwrap();
        for bad in ["../x.rpm", "a/b.rpm", "..", "", "x\n.rpm"] {
            assert!(check_artifacts(&[a(bad)]).is_err(), "{bad:?}");
        }
    }
}
