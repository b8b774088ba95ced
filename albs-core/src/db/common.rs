//! What both SQL stores share that knows nothing of the backend: how values
//! are spelled in columns, error mapping, and the build state rule.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::DbError;
use crate::model::{ArtifactKind, TaskState};

/// Page size of `list_builds` when the query gives none.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// The largest page `list_builds` returns.
pub(crate) const MAX_LIMIT: u32 = 500;
/// Log lines inserted by one statement.
pub(crate) const LOG_BATCH: usize = 1000;

/// A time as stored: unix microseconds.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let m = t.unix_timestamp_nanos().div_euclid(1000);
    i64::try_from(m).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
}

/// A stored time back.
pub(crate) fn from_micros(m: i64) -> Result<OffsetDateTime, DbError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .map_err(|e| DbError::Backend(format!("stored time {m} is out of range: {e}")))
}

/// A duration in microseconds (saturating).
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// An id of the API as stored; ids past `i64::MAX` never exist, so they map
/// to -1, which no row has.
pub(crate) fn db_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// A stored id, count or size back.
pub(crate) fn api_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A stored count back as u32.
pub(crate) fn api_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The column spelling of a task state.
pub(crate) fn state_str(s: TaskState) -> &'static str {
    match s {
        TaskState::Pending => "pending",
        TaskState::Running => "running",
        TaskState::Succeeded => "succeeded",
        TaskState::Failed => "failed",
        TaskState::Excluded => "excluded",
        TaskState::TimedOut => "timed_out",
        TaskState::Cancelled => "cancelled",
    }
}

/// A task state from its column spelling.
pub(crate) fn parse_state(s: &str) -> Result<TaskState, DbError> {
    Ok(match s {
        "pending" => TaskState::Pending,
        "running" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::Failed,
        "excluded" => TaskState::Excluded,
        "timed_out" => TaskState::TimedOut,
        "cancelled" => TaskState::Cancelled,
        other => {
            return Err(DbError::Backend(format!(
                "unknown task state {other:?} stored"
            )));
        }
    })
}

/// The column spelling of an artifact kind.
pub(crate) fn kind_str(k: ArtifactKind) -> &'static str {
    match k {
        ArtifactKind::Srpm => "srpm",
        ArtifactKind::Rpm => "rpm",
        ArtifactKind::Log => "log",
    }
}

/// An artifact kind from its column spelling.
pub(crate) fn parse_kind(s: &str) -> Result<ArtifactKind, DbError> {
    Ok(match s {
        "srpm" => ArtifactKind::Srpm,
        "rpm" => ArtifactKind::Rpm,
        "log" => ArtifactKind::Log,
        other => {
            return Err(DbError::Backend(format!(
                "unknown artifact kind {other:?} stored"
            )));
        }
    })
}

/// A value stored as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| DbError::Backend(format!("cannot encode a column: {e}")))
}

/// A JSON column back; `what` names the column for the message.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, DbError> {
    serde_json::from_str(text)
        .map_err(|e| DbError::Backend(format!("stored {what} is not valid JSON: {e}")))
}

/// The state of a build from the states of its tasks (the rule of
/// [`crate::model::Build::state`]), kept in the `builds.state` column.
pub(crate) fn build_state(states: impl IntoIterator<Item = TaskState>) -> TaskState {
    use TaskState::*;
    let (mut open, mut running) = (false, false);
    let (mut cancelled, mut timed_out, mut failed) = (false, false, false);
    for s in states {
        match s {
            Pending => open = true,
            Running => {
                open = true;
                running = true;
            }
            Cancelled => cancelled = true,
            TimedOut => timed_out = true,
            Failed => failed = true,
            Succeeded | Excluded => {}
        }
    }
    if open {
        return if running { Running } else { Pending };
    }
    if cancelled {
        Cancelled
    } else if timed_out {
        TimedOut
    } else if failed {
        Failed
    } else {
        Succeeded
    }
}

/// A plain backend failure.
pub(crate) fn backend(e: sqlx::Error) -> DbError {
    DbError::Backend(e.to_string())
}

/// A failure where a unique violation means `what id` exists already.
pub(crate) fn conflict(e: sqlx::Error, what: &'static str, id: impl ToString) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict {
            what,
            id: id.to_string(),
        },
        _ => backend(e),
    }
}

/// A failure where a foreign key violation means `what id` does not exist.
pub(crate) fn missing(e: sqlx::Error, what: &'static str, id: impl ToString) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => DbError::NotFound {
            what,
            id: id.to_string(),
        },
        _ => backend(e),
    }
}

/// An RFC 3339 filter of `list_builds` as stored time.
pub(crate) fn parse_filter_time(text: &str, name: &str) -> Result<i64, DbError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(micros)
        .map_err(|e| {
            DbError::Invalid(format!(
                "{name}={text:?} is not an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
            ))
        })
}

/// Why a task that depended on `task` fails when `task` ended badly.
pub(crate) fn dependent_reason(src: bool, task: i64, state: TaskState, reason: &str) -> String {
    if src {
        format!("SRPM failed: {reason}")
    } else {
        format!(
            "the noarch packages are built by task {task}, which ended {}: {reason}",
            state_str(state)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    #[test]
    fn times_round_trip_to_the_microsecond() {
        let t = time::macros::datetime!(2026-03-04 05:06:07.123456 UTC);
        assert_eq!(from_micros(micros(t)).unwrap(), t);
        let before_epoch = time::macros::datetime!(1969-12-31 23:59:59.5 UTC);
        assert_eq!(from_micros(micros(before_epoch)).unwrap(), before_epoch);
    }

    #[test]
    fn every_state_and_kind_round_trips() {
        for s in [
            Pending, Running, Succeeded, Failed, Excluded, TimedOut, Cancelled,
        ] {
            assert_eq!(parse_state(state_str(s)).unwrap(), s);
            assert_eq!(state_str(s), s.to_string());
        }
        for k in [ArtifactKind::Srpm, ArtifactKind::Rpm, ArtifactKind::Log] {
            assert_eq!(parse_kind(kind_str(k)).unwrap(), k);
        }
        assert!(parse_state("done").is_err());
    }

    #[test]
    fn build_state_follows_the_model_rule() {
        assert_eq!(build_state([Succeeded, Pending]), Pending);
        assert_eq!(build_state([Failed, Running, Pending]), Running);
        assert_eq!(build_state([Failed, Cancelled, TimedOut]), Cancelled);
        assert_eq!(build_state([Failed, TimedOut, Succeeded]), TimedOut);
        assert_eq!(build_state([Excluded, Succeeded]), Succeeded);
        assert_eq!(build_state([Failed, Excluded]), Failed);
        assert_eq!(build_state([]), Succeeded);
    }

    #[test]
    fn build_state_agrees_with_the_model_for_every_mix_of_three() {
        let all = [
            Pending, Running, Succeeded, Failed, Excluded, TimedOut, Cancelled,
        ];
        let task = |state| crate::model::BuildTask {
            id: 1,
            build_id: 1,
            ref_index: 0,
            kind: crate::model::TaskKind::Src,
            state,
            depends_on: vec![],
            attempts: 0,
            reason: None,
            artifacts: vec![],
            package: None,
            node: None,
        };
        for a in all {
            for b in all {
                for c in all {
                    let build = crate::model::Build {
                        id: 1,
                        platform: "p".into(),
                        arches: vec![],
                        refs: vec![],
                        owner: "o".into(),
                        created: OffsetDateTime::UNIX_EPOCH,
                        options: Default::default(),
                        tasks: vec![task(a), task(b), task(c)],
                        signed: None,
                    };
                    assert_eq!(build_state([a, b, c]), build.state(), "{a} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn bad_filter_times_say_what_is_expected() {
        let e = parse_filter_time("yesterday", "since").unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        assert_eq!(
            parse_filter_time("1970-01-01T00:00:01Z", "since").unwrap(),
            1_000_000
        );
    }
}
