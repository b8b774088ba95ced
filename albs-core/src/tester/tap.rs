//! TAP 13: reading what third-party tests print, writing stage results.
//!
//! The reader accepts the subset test harnesses print in practice: a version
//! line, a plan (`1..N`, possibly `1..0 # SKIP why`, first or last),
//! `ok`/`not ok` lines with an optional number, description and `# SKIP` /
//! `# TODO` directive, `Bail out!`, comments and YAML blocks (ignored).

use std::fmt::Write as _;

/// A directive on a test line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `# SKIP reason`: the test did not run; it counts as passed.
    Skip(String),
    /// `# TODO reason`: a known failure; `not ok` does not fail the run.
    Todo(String),
}

/// One test line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapTest {
    /// `ok` (true) or `not ok` (false).
    pub ok: bool,
    /// The number written, or the position when none was written.
    pub number: u32,
    /// The description, without the leading `- `.
    pub description: String,
    /// SKIP or TODO, when given.
    pub directive: Option<Directive>,
}

impl TapTest {
    /// Whether this line counts as a failure (`not ok` without TODO).
    pub fn failed(&self) -> bool {
        !self.ok && !matches!(self.directive, Some(Directive::Todo(_)))
    }
}

/// What a TAP stream says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TapSummary {
    /// The planned number of tests, when a plan was printed.
    pub plan: Option<u32>,
    /// The reason given with a `1..0 # SKIP` plan.
    pub skip_all: Option<String>,
    /// Every test line, in order.
    pub tests: Vec<TapTest>,
    /// The reason given with `Bail out!`, when the run bailed out.
    pub bailed_out: Option<String>,
}

impl TapSummary {
    /// Whether the stream holds TAP at all (a plan or a test line).
    pub fn is_tap(&self) -> bool {
        self.plan.is_some() || !self.tests.is_empty() || self.bailed_out.is_some()
    }

    /// Why the run failed, one line per problem; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tests.iter().filter(|t| t.failed()) {
            out.push(format!("not ok {} - {}", t.number, t.description));
        }
        if let Some(why) = &self.bailed_out {
            out.push(format!("bailed out: {why}"));
        }
        match self.plan {
            None if self.is_tap() => out.push("no plan (1..N) was printed".to_owned()),
            Some(n) if n as usize != self.tests.len() => {
                out.push(format!("planned {n} tests but {} ran", self.tests.len()))
            }
            _ => {}
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tests {
            if !seen.insert(t.number) {
                out.push(format!("test number {} appears twice", t.number));
            }
        }
        out
    }

    /// Whether every test passed, the count matches the plan and nothing bailed out.
    pub fn passed(&self) -> bool {
        self.is_tap() && self.problems().is_empty()
    }
}

/// Reads TAP from a test's output.
pub fn parse(text: &str) -> TapSummary {
    let mut s = TapSummary::default();
    let mut in_yaml = false;
    for raw in text.lines() {
        let line = raw.trim_end();
        if in_yaml {
            if line.trim() == "..." {
                in_yaml = false;
            }
            continue;
        }
        if line.trim() == "---" && !s.tests.is_empty() {
            in_yaml = true;
            continue;
        }
        // Indented lines are subtests (TAP 14) or free text: not ours.
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("Bail out!") {
            s.bailed_out = Some(rest.trim().to_owned());
            break;
        }
        if let Some(plan) = parse_plan(line) {
            s.plan = Some(plan.0);
            s.skip_all = plan.1;
            continue;
        }
        let (ok, rest) = if let Some(r) = line.strip_prefix("not ok") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("ok") {
            (true, r)
        } else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue; // "okay", "oklahoma": not a test line
        }
        let rest = rest.trim_start();
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let number = rest[..digits].parse().unwrap_or(s.tests.len() as u32 + 1);
        let rest = rest[digits..].trim_start();
        let rest = rest.strip_prefix("- ").unwrap_or(rest);
        let (description, directive) = split_directive(rest);
        s.tests.push(TapTest {
            ok,
            number,
            description,
            directive,
        });
    }
    s
}

fn parse_plan(line: &str) -> Option<(u32, Option<String>)> {
    let rest = line.strip_prefix("1..")?;
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = rest[..digits].parse().ok()?;
    let tail = rest[digits..].trim();
    let skip = tail
        .strip_prefix('#')
        .map(str::trim)
        .filter(|c| c.len() >= 4 && c[..4].eq_ignore_ascii_case("skip"))
        .map(|c| directive_reason(&c[4..]));
    if !tail.is_empty() && !tail.starts_with('#') {
        return None;
    }
    Some((n, skip))
}

/// The reason after a directive word, past suffixes such as `PED:` of `SKIPPED:`.
fn directive_reason(after_word: &str) -> String {
    after_word
        .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == ':')
        .trim()
        .to_owned()
}

/// Splits `desc # SKIP why` at the last unescaped `#` that starts a directive.
fn split_directive(rest: &str) -> (String, Option<Directive>) {
    let mut idx = None;
    let bytes = rest.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1] != b'\\') {
            let after = rest[i + 1..].trim_start();
            let word: String = after.chars().take(4).collect();
            if word.eq_ignore_ascii_case("skip") || word.eq_ignore_ascii_case("todo") {
                idx = Some(i);
            }
        }
    }
    let Some(i) = idx else {
        return (rest.trim().to_owned(), None);
    };
    let desc = rest[..i].trim().to_owned();
    let after = rest[i + 1..].trim_start();
    let word = &after[..4];
    let reason = directive_reason(&after[4..]);
    let d = if word.eq_ignore_ascii_case("skip") {
        Directive::Skip(reason)
    } else {
        Directive::Todo(reason)
    };
    (desc, Some(d))
}

/// Writes the TAP 13 of one stage: a plan counted at the end.
#[derive(Debug, Default)]
pub struct TapWriter {
    lines: Vec<String>,
    count: u32,
    failed: bool,
}

impl TapWriter {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A test that passed or failed, with YAML diagnostics lines when failed.
    pub fn result(&mut self, ok: bool, description: &str, diagnostics: &[String]) {
        self.count += 1;
        self.failed |= !ok;
        let mut line = format!(
            "{} {} - {}",
            if ok { "ok" } else { "not ok" },
            self.count,
            escape(description)
        );
        if !ok && !diagnostics.is_empty() {
            line.push_str("\n  ---\n  message: |");
            for d in diagnostics {
                let _ = write!(line, "\n    {d}");
            }
            line.push_str("\n  ...");
        }
        self.lines.push(line);
    }

    /// A test that did not run, with the reason.
    pub fn skip(&mut self, description: &str, reason: &str) {
        self.count += 1;
        self.lines.push(format!(
            "ok {} - {} # SKIP {reason}",
            self.count,
            escape(description)
        ));
    }

    /// A finding that does not fail the stage (`not ok … # TODO`).
    pub fn todo(&mut self, ok: bool, description: &str, reason: &str) {
        self.count += 1;
        self.lines.push(format!(
            "{} {} - {} # TODO {reason}",
            if ok { "ok" } else { "not ok" },
            self.count,
            escape(description)
        ));
    }

    /// Whether a test failed.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The stream: version, plan, tests.
    pub fn finish(&self) -> String {
        let mut out = format!("TAP version 13\n1..{}\n", self.count);
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

fn escape(description: &str) -> String {
    description.replace('#', "\\#").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_results_and_directives() {
        let s = parse(
            "TAP version 13\n1..5\nok 1 - first\nnot ok 2 - second # TODO not yet\n\
             ok 3 # SKIP no network\nnot ok 4 - broken\n  ---\n  got: 1\n  ...\nok - fifth\n",
        );
        assert_eq!(s.plan, Some(5));
        assert_eq!(s.tests.len(), 5);
        assert_eq!(
            s.tests[1].directive,
            Some(Directive::Todo("not yet".into()))
        );
        assert_eq!(
            s.tests[2].directive,
            Some(Directive::Skip("no network".into()))
        );
        assert_eq!(s.tests[2].description, "");
        assert_eq!(s.tests[4].number, 5, "a missing number is the position");
        assert_eq!(s.tests[4].description, "fifth");
        assert!(!s.tests[1].failed(), "TODO failures do not count");
        assert!(s.tests[3].failed());
        assert_eq!(s.problems(), vec!["not ok 4 - broken".to_owned()]);
        assert!(!s.passed());
    }

    #[test]
    fn missing_tests_against_the_plan_fail() {
        let s = parse("1..3\nok 1 - a\nok 2 - b\n");
        assert!(!s.passed());
        assert_eq!(s.problems(), vec!["planned 3 tests but 2 ran".to_owned()]);
        let late = parse("ok 1\nok 2\n1..2\n");
        assert!(
            late.passed(),
            "a trailing plan is fine: {:?}",
            late.problems()
        );
        let none = parse("ok 1\nok 2\n");
        assert!(!none.passed(), "no plan at all");
    }

    #[test]
    fn skip_all_bail_out_and_non_tap() {
        let s = parse("1..0 # Skipped: no display\n");
        assert_eq!(s.plan, Some(0));
        assert_eq!(s.skip_all.as_deref(), Some("no display"));
        assert!(s.passed());
        let b = parse("1..4\nok 1\nBail out! database gone\nok 2\n");
        assert_eq!(b.bailed_out.as_deref(), Some("database gone"));
        assert_eq!(b.tests.len(), 1, "nothing after a bail out counts");
        assert!(!b.passed());
        let plain = parse("hello world\nokay then\n");
        assert!(!plain.is_tap());
        assert!(!plain.passed());
    }

    #[test]
    fn escaped_hash_is_not_a_directive_and_writer_round_trips() {
        let s = parse("1..1\nok 1 - issue \\# SKIP 12 fixed\n");
        assert_eq!(s.tests[0].directive, None);
        let mut w = TapWriter::new();
        w.result(true, "a # b", &[]);
        w.result(false, "c", &["why".into(), "and more".into()]);
        w.skip("d", "not built");
        w.todo(false, "e", "informative");
        let text = w.finish();
        assert!(text.starts_with("TAP version 13\n1..4\n"), "{text}");
        assert!(w.failed());
        let back = parse(&text);
        assert_eq!(back.tests.len(), 4);
        assert_eq!(back.tests[0].description, "a \\# b");
        assert!(back.tests[1].failed());
        assert_eq!(
            back.tests[2].directive,
            Some(Directive::Skip("not built".into()))
        );
        assert!(!back.tests[3].failed());
        assert_eq!(back.problems(), vec!["not ok 2 - c".to_owned()]);
    }
}
