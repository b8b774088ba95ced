//! Dependency semantics: version ranges compared by rpm's rules and rich
//! (boolean) dependencies.
//!
//! Range overlap follows rpm 4.18's `rpmdsCompare`: an unversioned side
//! always overlaps, a missing epoch is epoch 0, the release is compared
//! only when both sides carry one (so `foo >= 1.0` matches `foo = 1.0-3`),
//! and a release-less side that includes `=` covers every release of its
//! version (`foo = 1.0` overlaps `foo < 1.0-2`). Checked against libsolv on
//! random pairs in `tests/tests/solver.rs`.

use std::cmp::Ordering;

use crate::evr::rpmvercmp;

/// A comparison sense: any combination of [`Sense::LESS`], [`Sense::GREATER`]
/// and [`Sense::EQUAL`]; empty means "any version".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sense(pub u8);

impl Sense {
    /// `<`.
    pub const LESS: Sense = Sense(1);
    /// `>`.
    pub const GREATER: Sense = Sense(2);
    /// `=`.
    pub const EQUAL: Sense = Sense(4);
    /// No version constraint.
    pub const ANY: Sense = Sense(0);

    /// Parses rpm-md's `flags` attribute (`EQ`, `LT`, `GT`, `LE`, `GE`).
    pub fn from_rpmmd(flags: &str) -> Option<Sense> {
        Some(match flags {
            "EQ" => Sense(4),
            "LT" => Sense(1),
            "GT" => Sense(2),
            "LE" => Sense(5),
            "GE" => Sense(6),
            _ => return None,
        })
    }

    /// Parses an operator of a textual dependency (`=`, `==`, `<`, `>`, `<=`, `>=`).
    pub fn from_op(op: &str) -> Option<Sense> {
        Some(match op {
            "=" | "==" => Sense(4),
            "<" => Sense(1),
            ">" => Sense(2),
            "<=" | "=<" => Sense(5),
            ">=" | "=>" => Sense(6),
            _ => return None,
        })
    }

    /// Whether the sense contains all bits of `other`.
    pub fn has(self, other: Sense) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The operator as rpm prints it (empty for [`Sense::ANY`]).
    pub fn as_op(self) -> &'static str {
        match self.0 & 7 {
            1 => "<",
            2 => ">",
            4 => "=",
            5 => "<=",
            6 => ">=",
            3 => "!=",
            7 => "<=>",
            _ => "",
        }
    }
}

/// A borrowed epoch-version-release of a dependency; `None` parts are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvrRef<'a> {
    /// Epoch; absent means 0.
    pub epoch: Option<u32>,
    /// Version.
    pub version: &'a str,
    /// Release, when given.
    pub release: Option<&'a str>,
}

impl<'a> EvrRef<'a> {
    /// Splits `[epoch:]version[-release]`; `None` when the epoch is not a number.
    pub fn parse(text: &'a str) -> Option<EvrRef<'a>> {
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => (Some(e.parse().ok()?), rest),
            None => (None, text),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        Some(EvrRef {
            epoch,
            version,
            release,
        })
    }
}

/// rpm's `rpmverCmp`: epochs (absent = 0), versions, then releases only when
/// both are present.
pub fn evr_cmp_match(a: &EvrRef<'_>, b: &EvrRef<'_>) -> Ordering {
    a.epoch
        .unwrap_or(0)
        .cmp(&b.epoch.unwrap_or(0))
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// Whether two version ranges overlap (`rpmdsCompare`): e.g. a provide
/// `= 1.0-2` and a require `>= 1.0`.
pub fn ranges_overlap(a: Sense, a_evr: &EvrRef<'_>, b: Sense, b_evr: &EvrRef<'_>) -> bool {
    if a.0 & 7 == 0 || b.0 & 7 == 0 {
        return true;
    }
    let sense = evr_cmp_match(a_evr, b_evr);
    let (l, g, e) = (Sense::LESS.0, Sense::GREATER.0, Sense::EQUAL.0);
    // rpm's `rpmverOverlap`: when the versions are equal and only one side
    // has a release, the side without one stands for every release, so it
    // overlaps as soon as that side includes `=`.
    if sense == Ordering::Equal {
        let ra = a_evr.release.is_some_and(|r| !r.is_empty());
        let rb = b_evr.release.is_some_and(|r| !r.is_empty());
        if (ra && !rb && b.0 & e != 0) || (rb && !ra && a.0 & e != 0) {
            return true;
        }
    }
    match sense {
        Ordering::Less => a.0 & g != 0 || b.0 & l != 0,
        Ordering::Greater => a.0 & l != 0 || b.0 & g != 0,
        Ordering::Equal => {
            (a.0 & e != 0 && b.0 & e != 0)
                || (a.0 & l != 0 && b.0 & l != 0)
                || (a.0 & g != 0 && b.0 & g != 0)
        }
    }
}

/// A rich (boolean) dependency over leaves of type `T` (a simple dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rich<T> {
    /// A simple dependency: `name [op evr]`.
    Dep(T),
    /// `(a and b and …)`: all of them.
    And(Vec<Rich<T>>),
    /// `(a or b or …)`: at least one.
    Or(Vec<Rich<T>>),
    /// `(a with b with …)`: one package satisfying all of them.
    With(Vec<Rich<T>>),
    /// `(a without b)`: a package satisfying `a` but not `b`.
    Without(Box<Rich<T>>, Box<Rich<T>>),
    /// `(a if b [else c])`: `a` when `b` is installed, else `c` (if given).
    If(Box<Rich<T>>, Box<Rich<T>>, Option<Box<Rich<T>>>),
    /// `(a unless b [else c])`: `a` when `b` is not installed, else `c`; without
    /// `else`, `b` must stay out (libsolv's reading: `a and not b`).
    Unless(Box<Rich<T>>, Box<Rich<T>>, Option<Box<Rich<T>>>),
}

impl<T> Rich<T> {
    /// Calls `f` on every leaf.
    pub fn for_each_leaf(&self, f: &mut impl FnMut(&T)) {
        match self {
            Rich::Dep(t) => f(t),
            Rich::And(v) | Rich::Or(v) | Rich::With(v) => v.iter().for_each(|r| r.for_each_leaf(f)),
            Rich::Without(a, b) => {
                a.for_each_leaf(f);
                b.for_each_leaf(f);
            }
            Rich::If(a, b, c) | Rich::Unless(a, b, c) => {
                a.for_each_leaf(f);
                b.for_each_leaf(f);
                if let Some(c) = c {
                    c.for_each_leaf(f);
                }
            }
        }
    }
}

/// Why a rich dependency could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("rich dependency {text:?}: {reason} at offset {offset}")]
pub struct RichError {
    /// The whole dependency.
    pub text: String,
    /// Byte offset where parsing failed.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

/// A simple dependency as written inside a rich one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleDep<'a> {
    /// Capability name.
    pub name: &'a str,
    /// Comparison.
    pub sense: Sense,
    /// Version, when `sense` is not [`Sense::ANY`].
    pub evr: Option<&'a str>,
}

const MAX_DEPTH: usize = 64;

/// Parses a rich dependency such as `(foo >= 1.0 or (bar if baz))`.
pub fn parse_rich(text: &str) -> Result<Rich<SimpleDep<'_>>, RichError> {
    let mut p = RichParser { text, pos: 0 };
    p.skip_ws();
    if !p.rest().starts_with('(') {
        return Err(p.err("a rich dependency starts with '('"));
    }
    let r = p.group(0)?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.err("trailing text after the closing ')'"));
    }
    Ok(r)
}

struct RichParser<'a> {
    text: &'a str,
    pos: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    With,
    Without,
    If,
    Unless,
    Else,
}

impl<'a> RichParser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }
    fn err(&self, reason: &str) -> RichError {
        RichError {
            text: self.text.to_owned(),
            offset: self.pos,
            reason: reason.to_owned(),
        }
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn word(&mut self) -> &'a str {
        // A name may hold balanced parentheses, as in `font(latin)`.
        let r = self.rest();
        let mut depth = 0usize;
        let mut n = r.len();
        for (i, c) in r.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    n = i;
                    break;
                }
                ')' => depth -= 1,
                c if c.is_whitespace() && depth == 0 => {
                    n = i;
                    break;
                }
                _ => {}
            }
        }
        self.pos += n;
        &r[..n]
    }
    /// Parses `( … )` starting at '('.
    fn group(&mut self, depth: usize) -> Result<Rich<SimpleDep<'a>>, RichError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.pos += 1; // '('
        let first = self.operand(depth)?;
        let mut items = vec![first];
        let mut op: Option<Op> = None;
        let mut else_branch = None;
        loop {
            self.skip_ws();
            match self.rest().chars().next() {
                None => return Err(self.err("missing ')'")),
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let at = self.pos;
            let w = self.word();
            let this = match w {
                "and" => Op::And,
                "or" => Op::Or,
                "with" => Op::With,
                "without" => Op::Without,
                "if" => Op::If,
                "unless" => Op::Unless,
                "else" => Op::Else,
                _ => {
                    self.pos = at;
                    return Err(self.err(
                        "expected an operator (and, or, if, unless, else, with, without) or ')'",
                    ));
                }
            };
            match (op, this) {
                (Some(Op::If | Op::Unless), Op::Else)
                    if items.len() == 2 && else_branch.is_none() =>
                {
                    else_branch = Some(self.operand(depth)?);
                    continue;
                }
                (_, Op::Else) => {
                    self.pos = at;
                    return Err(self.err("'else' only follows 'if' or 'unless'"));
                }
                (None, _) => op = Some(this),
                (Some(o), _) if o == this && matches!(o, Op::And | Op::Or | Op::With) => {}
                (Some(_), _) => {
                    self.pos = at;
                    return Err(self.err("different operators need parentheses"));
                }
            }
            items.push(self.operand(depth)?);
        }
        let Some(op) = op else {
            return Ok(items.pop().expect("one operand"));
        };
        let simple =
            |r: &Rich<SimpleDep<'a>>| matches!(r, Rich::Dep(_) | Rich::With(_) | Rich::Without(..));
        Ok(match op {
            Op::And => Rich::And(items),
            Op::Or => Rich::Or(items),
            Op::With | Op::Without if !items.iter().all(simple) => {
                return Err(self.err("'with' and 'without' take simple dependencies"));
            }
            Op::With => Rich::With(items),
            Op::Without => {
                let b = items.pop().expect("two operands");
                let a = items.pop().expect("two operands");
                Rich::Without(Box::new(a), Box::new(b))
            }
            Op::If | Op::Unless => {
                let b = items.pop().expect("two operands");
                let a = items.pop().expect("two operands");
                let (a, b, c) = (Box::new(a), Box::new(b), else_branch.map(Box::new));
                if op == Op::If {
                    Rich::If(a, b, c)
                } else {
                    Rich::Unless(a, b, c)
                }
            }
            Op::Else => unreachable!("else is never the group operator"),
        })
    }
    fn operand(&mut self, depth: usize) -> Result<Rich<SimpleDep<'a>>, RichError> {
        self.skip_ws();
        match self.rest().chars().next() {
            None => Err(self.err("expected a dependency")),
            Some('(') => self.group(depth + 1),
            Some(')') => Err(self.err("expected a dependency before ')'")),
            Some(_) => {
                let at = self.pos;
                let name = self.word();
                if matches!(
                    name,
                    "and" | "or" | "if" | "unless" | "else" | "with" | "without"
                ) {
                    self.pos = at;
                    return Err(self.err("expected a dependency, found an operator"));
                }
                let save = self.pos;
                self.skip_ws();
                let op_at = self.pos;
                let op = self.word();
                if let Some(sense) = Sense::from_op(op) {
                    self.skip_ws();
                    let evr_at = self.pos;
                    let evr = self.word();
                    if evr.is_empty() {
                        self.pos = evr_at;
                        return Err(self.err("expected a version after the operator"));
                    }
                    if EvrRef::parse(evr).is_none_or(|e| e.version.is_empty()) {
                        self.pos = evr_at;
                        return Err(self.err("malformed version"));
                    }
                    Ok(Rich::Dep(SimpleDep {
                        name,
                        sense,
                        evr: Some(evr),
                    }))
                } else {
                    if op.starts_with(['<', '>', '=']) {
                        self.pos = op_at;
                        return Err(self.err("unknown comparison operator"));
                    }
                    self.pos = save;
                    Ok(Rich::Dep(SimpleDep {
                        name,
                        sense: Sense::ANY,
                        evr: None,
                    }))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> EvrRef<'_> {
        EvrRef::parse(s).unwrap()
    }

    #[test]
    fn release_less_require_matches_any_release() {
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0-3"),
            Sense::EQUAL,
            &e("1.0")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0-3"),
            Sense(6),
            &e("1.0")
        ));
        assert!(!ranges_overlap(
            Sense::EQUAL,
            &e("1.0-3"),
            Sense::GREATER,
            &e("1.0")
        ));
        assert!(!ranges_overlap(
            Sense::EQUAL,
            &e("1.0-3"),
            Sense::EQUAL,
            &e("1.0-4")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0-3"),
            Sense::LESS,
            &e("1.0-4")
        ));
    }

    #[test]
    fn release_less_equal_side_covers_every_release() {
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0"),
            Sense::LESS,
            &e("1.0-2")
        ));
        assert!(ranges_overlap(
            Sense::GREATER,
            &e("1.0-1"),
            Sense(5),
            &e("1.0")
        ));
        assert!(!ranges_overlap(
            Sense::GREATER,
            &e("1.0-1"),
            Sense::LESS,
            &e("1.0")
        ));
        assert!(!ranges_overlap(
            Sense::LESS,
            &e("1.0"),
            Sense::GREATER,
            &e("1.0-2")
        ));
    }

    #[test]
    fn epochs_tilde_caret() {
        // Missing epoch is 0.
        assert!(!ranges_overlap(
            Sense::EQUAL,
            &e("1:1.0-1"),
            Sense(5),
            &e("2.0")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("0:1.0-1"),
            Sense::EQUAL,
            &e("1.0-1")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1:0.1-1"),
            Sense::GREATER,
            &e("9.9")
        ));
        // Tilde sorts before the release, caret after.
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0~rc1-1"),
            Sense::LESS,
            &e("1.0")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0^git1-1"),
            Sense::GREATER,
            &e("1.0")
        ));
        assert!(ranges_overlap(
            Sense::EQUAL,
            &e("1.0^git1-1"),
            Sense::LESS,
            &e("1.0.1")
        ));
        // Unversioned sides overlap everything.
        assert!(ranges_overlap(Sense::ANY, &e("0"), Sense::LESS, &e("0.1")));
        // Two ranges.
        assert!(ranges_overlap(Sense(6), &e("2"), Sense(5), &e("2")));
        assert!(!ranges_overlap(
            Sense::GREATER,
            &e("2"),
            Sense::LESS,
            &e("2")
        ));
        assert!(ranges_overlap(
            Sense::GREATER,
            &e("1"),
            Sense::LESS,
            &e("3")
        ));
    }

    #[test]
    fn overlap_is_symmetric_and_reflexive() {
        let evrs = [
            "1.0", "1.0-1", "1.0-2", "0:1.0", "1:1.0", "1.0~rc1", "1.0^a-1", "2", "1.0-1~",
        ];
        let senses = [1u8, 2, 4, 5, 6];
        for a in evrs {
            for b in evrs {
                for &sa in &senses {
                    for &sb in &senses {
                        let (x, y) = (e(a), e(b));
                        assert_eq!(
                            ranges_overlap(Sense(sa), &x, Sense(sb), &y),
                            ranges_overlap(Sense(sb), &y, Sense(sa), &x),
                            "{a} {sa} vs {b} {sb}"
                        );
                    }
                }
                // Every range containing `=` overlaps itself.
                for &sa in &[4u8, 5, 6] {
                    assert!(ranges_overlap(Sense(sa), &e(a), Sense(sa), &e(a)));
                }
            }
        }
    }

    #[test]
    fn parses_every_operator() {
        let r = parse_rich("(a >= 1.0 or (b if c else d) or (e unless f))").unwrap();
        let Rich::Or(items) = &r else { panic!("{r:?}") };
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[1], Rich::If(_, _, Some(_))));
        assert!(matches!(&items[2], Rich::Unless(_, _, None)));
        assert!(matches!(parse_rich("(a with b with c)").unwrap(), Rich::With(v) if v.len() == 3));
        assert!(matches!(
            parse_rich("(a without b)").unwrap(),
            Rich::Without(..)
        ));
        let Rich::Or(v) = parse_rich("(font(latin) or pkgconfig(x) >= 2)").unwrap() else {
            panic!()
        };
        assert_eq!(
            v[0],
            Rich::Dep(SimpleDep {
                name: "font(latin)",
                sense: Sense::ANY,
                evr: None
            })
        );
        assert!(matches!(
            parse_rich("((a and b) or c)").unwrap(),
            Rich::Or(_)
        ));
        let Rich::And(v) = parse_rich("(x = 1:2-3 and y)").unwrap() else {
            panic!()
        };
        assert_eq!(
            v[0],
            Rich::Dep(SimpleDep {
                name: "x",
                sense: Sense::EQUAL,
                evr: Some("1:2-3")
            })
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "a or b",
            "(a or b",
            "(a or)",
            "(a and b or c)",
            "(a else b)",
            "(a if b else c else d)",
            "(a >= )",
            "(a => or b)",
            "((a or b) with c)",
            "(a or b) c",
            "(a xor b)",
            "()",
            "(a =~ 1)",
            "(a >= x:1)",
        ] {
            assert!(parse_rich(bad).is_err(), "{bad} parsed");
        }
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_rich(&deep).unwrap_err().reason.contains("deeply"));
    }
}
