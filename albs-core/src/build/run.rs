//! Runs one build command: streams its output line by line to the log sink,
//! keeps the tail and the lines that explain a failure, and kills the whole
//! process tree on timeout or cancellation.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

use super::{BuildContext, BuildError, LOG_TAIL_LINES, LogSink, LogStream};

/// How long the output readers may run on after the process tree is gone
/// (a process that left the tree may still hold the pipes).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Longest line kept in a tail or a reason, in bytes.
const MAX_KEPT_LINE: usize = 500;
/// How many `error:` lines a reason carries.
const MAX_ERRORS: usize = 8;
/// How many lines of a failed command's own output a reason carries.
const MAX_COMMAND_OUTPUT: usize = 3;

/// A command to run.
pub(super) struct Invocation {
    /// The program (`bwrap` or `rpmbuild`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The whole environment (everything else is cleared).
    pub env: Vec<(&'static str, OsString)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Run in a process group of its own and kill the group at the end
    /// (when no sandbox tears the tree down for us).
    pub own_group: bool,
}

impl Invocation {
    fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// How a command ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// It exited by itself.
    Exited(ExitStatus),
    /// It was killed at the timeout.
    TimedOut,
    /// It was killed because the context was cancelled.
    Cancelled,
}

/// A finished command: how it ended and what its log says.
pub(super) struct Finished {
    pub ended: Ended,
    pub log: LogTracker,
}

/// Runs `inv` under `ctx`'s timeout and cancellation, streaming its output to
/// `ctx.log`.
pub(super) async fn run(inv: Invocation, ctx: &BuildContext) -> Result<Finished, BuildError> {
    if ctx.cancel.is_cancelled() {
        return Ok(Finished {
            ended: Ended::Cancelled,
            log: LogTracker::default(),
        });
    }
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if inv.own_group {
        cmd.process_group(0);
    }
    ctx.log
        .line(LogStream::Albs, &format!("albs: running {}", inv.display()));
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::ToolMissing {
                tool: inv.program.clone(),
                message: e.to_string(),
            }
        } else {
            BuildError::Io {
                what: format!("cannot start {}", inv.program),
                source: e,
            }
        }
    })?;
    let mut group = GroupGuard {
        pgid: if inv.own_group { child.id() } else { None },
    };

    let tracker = Arc::new(Mutex::new(LogTracker::default()));
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(
            out,
            LogStream::Stdout,
            tracker.clone(),
            ctx.log.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(
            err,
            LogStream::Stderr,
            tracker.clone(),
            ctx.log.clone(),
        )));
    }

    let ended = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Ended::Exited(s),
            Err(source) => {
                group.kill();
                let _ = child.start_kill();
                return Err(BuildError::Io { what: format!("cannot wait for {}", inv.program), source });
            }
        },
        _ = tokio::time::sleep(ctx.timeout) => Ended::TimedOut,
        _ = ctx.cancel.cancelled() => Ended::Cancelled,
    };
    // On timeout or cancellation this kills the build; after a normal exit it
    // kills whatever the build left running in its group. In the sandbox,
    // killing bwrap ends its PID namespace and with it every process inside.
    group.kill();
    if !matches!(ended, Ended::Exited(_)) {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    match &ended {
        Ended::TimedOut => ctx.log.line(
            LogStream::Albs,
            &format!(
                "albs: killed after the timeout of {}",
                humanize(ctx.timeout)
            ),
        ),
        Ended::Cancelled => ctx.log.line(LogStream::Albs, "albs: killed: cancelled"),
        Ended::Exited(_) => {}
    }

    let drain = async {
        for r in readers.iter_mut() {
            let _ = r.await;
        }
    };
    if tokio::time::timeout(DRAIN_LIMIT, drain).await.is_err() {
        ctx.log.line(
            LogStream::Albs,
            "albs: a process that left the build still holds its output; the log may be incomplete",
        );
    }
    for r in &readers {
        r.abort();
    }
    let log = std::mem::take(&mut *tracker.lock().expect("log tracker lock"));
    Ok(Finished { ended, log })
}

/// Formats a duration for people (`2s`, `1.5s`).
pub(super) fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Kills a process group once, when asked or when dropped.
struct GroupGuard {
    pgid: Option<u32>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take().and_then(|p| i32::try_from(p).ok()) {
            // ESRCH (nothing left in the group) is the usual, harmless answer.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn pump<R: AsyncRead + Unpin>(
    r: R,
    stream: LogStream,
    tracker: Arc<Mutex<LogTracker>>,
    sink: Arc<dyn LogSink>,
) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                sink.line(stream, line);
                tracker.lock().expect("log tracker lock").push(stream, line);
            }
        }
    }
}

/// What the log of a build says so far: its tail, the `error:` lines, and
/// the shell trace line of the command that failed.
#[derive(Debug, Default)]
pub(super) struct LogTracker {
    tail: VecDeque<String>,
    errors: Vec<String>,
    last_trace: Option<String>,
    since_trace: Vec<String>,
    failed: Option<FailedSection>,
}

/// A build script that exited non-zero.
#[derive(Debug)]
struct FailedSection {
    /// `%build`, `%install` …
    section: String,
    /// The last `+ command` traced before the failure.
    trace: Option<String>,
    /// What that command wrote to stderr.
    output: Vec<String>,
}

impl LogTracker {
    /// Takes one line of output.
    pub(super) fn push(&mut self, stream: LogStream, line: &str) {
        let line = clip(line);
        if self.tail.len() == LOG_TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        if stream != LogStream::Stderr {
            return;
        }
        if is_trace(&line) {
            self.last_trace = Some(line);
            self.since_trace.clear();
        } else if line.starts_with("error: ") {
            if self.failed.is_none()
                && let Some(section) = failed_section(&line)
            {
                self.failed = Some(FailedSection {
                    section,
                    trace: self.last_trace.clone(),
                    output: self.since_trace.clone(),
                });
            }
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(line);
            }
        } else if self.last_trace.is_some() && self.since_trace.len() < MAX_COMMAND_OUTPUT {
            self.since_trace.push(line);
        }
    }

    /// The last [`LOG_TAIL_LINES`] lines.
    pub(super) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// A one-line reason for a failure: the failing section and its traced
    /// command when a script failed, then rpmbuild's `error:` lines.
    pub(super) fn reason(&self, program: &str, status: ExitStatus) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.failed {
            let mut head = format!("{} failed", f.section);
            if let Some(t) = &f.trace {
                head.push_str(" at: ");
                head.push_str(t);
            }
            if !f.output.is_empty() {
                head.push_str(&format!(" ({})", f.output.join("; ")));
            }
            parts.push(head);
        }
        parts.extend(self.errors.iter().cloned());
        if parts.is_empty() {
            let last = self
                .tail
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            return format!("{program} failed with {status}{last}");
        }
        parts.join("; ")
    }
}

/// `+ cmd`, `++ cmd`: a line of `sh -x` tracing.
fn is_trace(line: &str) -> bool {
    let rest = line.trim_start_matches('+');
    rest.len() < line.len() && rest.starts_with(' ')
}

/// `error: Bad exit status from /var/tmp/rpm-tmp.X (%build)` → `%build`.
fn failed_section(line: &str) -> Option<String> {
    if !line.contains("Bad exit status from") {
        return None;
    }
    let open = line.rfind('(')?;
    let inner = line[open + 1..].strip_suffix(')')?;
    Some(inner.to_owned())
}

fn clip(line: &str) -> String {
    if line.len() <= MAX_KEPT_LINE {
        return line.to_owned();
    }
    let mut end = MAX_KEPT_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn feed(lines: &[(LogStream, &str)]) -> LogTracker {
        let mut t = LogTracker::default();
        for (s, l) in lines {
            t.push(*s, l);
        }
        t
    }

    #[test]
    fn script_failure_names_section_command_and_its_output() {
        use LogStream::*;
        let t = feed(&[
            (Stderr, "+ umask 022"),
            (Stderr, "+ echo building"),
            (Stdout, "building"),
            (Stderr, "+ cat /nonexistent"),
            (Stderr, "cat: /nonexistent: No such file or directory"),
            (
                Stderr,
                "error: Bad exit status from /var/tmp/rpm-tmp.Ly (%build)",
            ),
            (Stderr, ""),
            (Stderr, "RPM build errors:"),
            (
                Stderr,
                "    Bad exit status from /var/tmp/rpm-tmp.Ly (%build)",
            ),
        ]);
        let r = t.reason("rpmbuild", ExitStatus::from_raw(1 << 8));
        assert_eq!(
            r,
            "%build failed at: + cat /nonexistent (cat: /nonexistent: No such file or directory); \
             error: Bad exit status from /var/tmp/rpm-tmp.Ly (%build)"
        );
    }

    #[test]
    fn spec_errors_are_the_reason() {
        let t = feed(&[(LogStream::Stderr, "error: line 7: Unknown tag: Foo: bar")]);
        assert_eq!(
            t.reason("rpmbuild", ExitStatus::from_raw(1 << 8)),
            "error: line 7: Unknown tag: Foo: bar"
        );
    }

    #[test]
    fn without_error_lines_the_status_and_last_line_are_the_reason() {
        let t = feed(&[
            (LogStream::Stderr, "bwrap: something odd"),
            (LogStream::Stdout, ""),
        ]);
        let r = t.reason("bwrap", ExitStatus::from_raw(1 << 8));
        assert!(r.starts_with("bwrap failed with exit status: 1"), "{r}");
        assert!(r.ends_with(": bwrap: something odd"), "{r}");
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut t = LogTracker::default();
        for i in 0..LOG_TAIL_LINES + 5 {
            t.push(LogStream::Stdout, &format!("line {i}"));
        }
        let tail = t.tail();
        assert_eq!(tail.len(), LOG_TAIL_LINES);
        assert_eq!(tail[0], "line 5");
        assert_eq!(
            tail.last().unwrap(),
            &format!("line {}", LOG_TAIL_LINES + 4)
        );
    }

    #[test]
    fn traces_and_long_lines() {
        assert!(is_trace("+ exit 3"));
        assert!(is_trace("++ date"));
        assert!(!is_trace("+x"));
        assert!(!is_trace("plain"));
        let long = "é".repeat(MAX_KEPT_LINE);
        assert!(clip(&long).len() <= MAX_KEPT_LINE + '…'.len_utf8());
    }
}
