//! EVR and NEVRA with rpm's exact ordering.
//!
//! [`rpmvercmp`] follows rpm 4.18's segment comparison: separators are skipped,
//! `~` sorts before everything (even the end of the string), `^` sorts after the
//! end of the string but before any further segment, numeric segments beat
//! alphabetic ones, and numbers compare without their leading zeros.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Arch;

/// Errors from parsing an EVR or a NEVRA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvrError {
    /// The epoch is not a number.
    #[error("epoch {epoch:?} in {text:?} is not a non-negative integer")]
    BadEpoch {
        /// The whole text.
        text: String,
        /// The epoch part.
        epoch: String,
    },
    /// The version part is empty.
    #[error("{text:?} has an empty version")]
    EmptyVersion {
        /// The whole text.
        text: String,
    },
    /// The version or release holds a `:` (a second epoch separator, as in
    /// `:a:1`), which rpm refuses and which would print back as an epoch.
    #[error("{text:?} has a ':' in its version or release; only the epoch is followed by ':'")]
    ColonInVersion {
        /// The whole text.
        text: String,
    },
    /// The NEVRA lacks a part.
    #[error("{text:?} is not a NEVRA (name-[epoch:]version-release.arch): {missing} is missing")]
    BadNevra {
        /// The whole text.
        text: String,
        /// The part that could not be found.
        missing: &'static str,
    },
}

/// Compares two version (or release) strings the way rpm does.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while one.first().is_some_and(|&c| is_sep(c)) {
            one = &one[1..];
        }
        while two.first().is_some_and(|&c| is_sep(c)) {
            two = &two[1..];
        }
        if one.is_empty() && two.is_empty() {
            return Ordering::Equal;
        }
        let (c1, c2) = (one.first().copied(), two.first().copied());
        // Tilde: sorts before everything, even the end of the string.
        if c1 == Some(b'~') || c2 == Some(b'~') {
            if c1 != Some(b'~') {
                return Ordering::Greater;
            }
            if c2 != Some(b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        // Caret: sorts after the end of the string, before anything else.
        if c1 == Some(b'^') || c2 == Some(b'^') {
            if one.is_empty() {
                return Ordering::Less;
            }
            if two.is_empty() {
                return Ordering::Greater;
            }
            if c1 != Some(b'^') {
                return Ordering::Greater;
            }
            if c2 != Some(b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if one.is_empty() || two.is_empty() {
            break;
        }
        let numeric = one[0].is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let n1 = one.iter().take_while(|c| class(c)).count();
        let n2 = two.iter().take_while(|c| class(c)).count();
        let (seg1, seg2) = (&one[..n1], &two[..n2]);
        if seg2.is_empty() {
            // Segments of different types: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let s1 = trim_zeros(seg1);
            let s2 = trim_zeros(seg2);
            s1.len().cmp(&s2.len()).then_with(|| s1.cmp(s2))
        } else {
            seg1.cmp(seg2)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        one = &one[n1..];
        two = &two[n2..];
    }
    // Whichever still has characters left wins.
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// Epoch, version and release of a package.
///
/// `Eq` and `Hash` are structural; [`Evr::rpm_cmp`] is rpm's ordering, under
/// which two different strings (`1.0` and `1_0`) may be equal. `Ord` is rpm's
/// ordering with the text as a tie-break, so it stays consistent with `Eq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Evr {
    /// Epoch; a missing epoch is 0.
    pub epoch: u32,
    /// Upstream version.
    pub version: String,
    /// Package release; `None` where a dependency leaves it out.
    pub release: Option<String>,
}

impl Evr {
    /// An EVR from its parts.
    pub fn new(epoch: u32, version: impl Into<String>, release: impl Into<String>) -> Self {
        Evr {
            epoch,
            version: version.into(),
            release: Some(release.into()),
        }
    }

    /// rpm's ordering: epoch, then version, then release; a missing release
    /// sorts before any present one (as rpm's `rpmverCmp` does).
    pub fn rpm_cmp(&self, other: &Evr) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rpm_cmp(other)
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.release.cmp(&other.release))
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch > 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Evr {
    type Err = EvrError;
    /// Parses `[epoch:]version[-release]`.
    fn from_str(text: &str) -> Result<Self, EvrError> {
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => {
                let epoch = if e.is_empty() {
                    0
                } else {
                    e.parse().map_err(|_| EvrError::BadEpoch {
                        text: text.to_owned(),
                        epoch: e.to_owned(),
                    })?
                };
                (epoch, rest)
            }
            None => (0, text),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_owned())),
            None => (rest, None),
        };
        if version.is_empty() {
            return Err(EvrError::EmptyVersion {
                text: text.to_owned(),
            });
        }
        if rest.contains(':') {
            return Err(EvrError::ColonInVersion {
                text: text.to_owned(),
            });
        }
        Ok(Evr {
            epoch,
            version: version.to_owned(),
            release,
        })
    }
}

/// Name, epoch, version, release and architecture of a package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nevra {
    /// Package name.
    pub name: String,
    /// Epoch, version and release.
    pub evr: Evr,
    /// Architecture (`src` for a source package).
    pub arch: Arch,
}

impl Nevra {
    /// The file name rpmbuild gives this package: `name-version-release.arch.rpm`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name,
            self.evr.version,
            self.evr.release.as_deref().unwrap_or(""),
            self.arch
        )
    }

    /// Parses the NEVRA in a package file name (`hello-1.0-1.el9.x86_64.rpm`).
    pub fn from_file_name(file: &str) -> Result<Self, EvrError> {
        file.strip_suffix(".rpm").unwrap_or(file).parse()
    }
}

impl Ord for Nevra {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.evr.cmp(&other.evr))
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

impl PartialOrd for Nevra {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Nevra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}", self.name, self.evr, self.arch)
    }
}

impl FromStr for Nevra {
    type Err = EvrError;
    /// Parses `name-[epoch:]version-release.arch`.
    fn from_str(text: &str) -> Result<Self, EvrError> {
        let bad = |missing| EvrError::BadNevra {
            text: text.to_owned(),
            missing,
        };
        let (rest, arch) = text.rsplit_once('.').ok_or_else(|| bad("arch"))?;
        let (rest, release) = rest.rsplit_once('-').ok_or_else(|| bad("release"))?;
        let (name, version) = rest.rsplit_once('-').ok_or_else(|| bad("version"))?;
        if name.is_empty() {
            return Err(bad("name"));
        }
        if release.is_empty() {
            return Err(bad("release"));
        }
        let arch: Arch = arch.parse().map_err(|_| bad("arch"))?;
        let mut evr: Evr = version.parse()?;
        evr.release = Some(release.to_owned());
        Ok(Nevra {
            name: name.to_owned(),
            evr,
            arch,
        })
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Evr);
serde_via_str!(Nevra);

#[cfg(test)]
mod tests {
    /// Found by the `evr` fuzz target: an empty epoch followed by a version
    /// with a `:` parsed, then printed as a text whose "epoch" is not a number.
    #[test]
    fn a_colon_in_the_version_is_refused() {
        use std::str::FromStr;
        for bad in [":x:0.9-1", "1:2:3", "::1", ":1.0-:a", "1:2-3:4"] {
            assert!(
                matches!(
                    super::Evr::from_str(bad),
                    Err(super::EvrError::ColonInVersion { .. })
                ),
                "{bad}"
            );
        }
        let ok: super::Evr = ":1.0-1".parse().unwrap();
        assert_eq!(ok.to_string().parse::<super::Evr>().unwrap(), ok);
        assert!("n-:a:1-1.x86_64".parse::<super::Nevra>().is_err());
    }

    use super::*;
    use Ordering::*;

    #[test]
    fn rpm_tricky_cases() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0~rc1", Greater),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git1", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.01", Less),
            ("1.0^git1", "1.0~rc1", Greater),
            ("1.0", "1_0", Equal),
            ("010", "10", Equal),
            ("a", "1", Less),
            ("1.a", "1.1", Less),
            ("fc4", "fc.4", Equal),
            ("2a", "2.0", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_orders_epoch_first() {
        let a: Evr = "1:1.0-1".parse().unwrap();
        let b: Evr = "2.0-1".parse().unwrap();
        assert_eq!(a.rpm_cmp(&b), Greater);
        assert_eq!(a.to_string(), "1:1.0-1");
        let c: Evr = "0:2.0-1".parse().unwrap();
        assert_eq!(c, b);
        assert!("x:1.0".parse::<Evr>().is_err());
        assert!(":".parse::<Evr>().is_err());
    }

    #[test]
    fn nevra_parses_file_names() {
        let n = Nevra::from_file_name("bash-completion-1:2.11-5.el9.noarch.rpm").unwrap();
        assert_eq!(n.name, "bash-completion");
        assert_eq!(n.evr.epoch, 1);
        assert_eq!(n.evr.version, "2.11");
        assert_eq!(n.evr.release.as_deref(), Some("5.el9"));
        assert_eq!(n.arch.as_str(), "noarch");
        assert_eq!(n.to_string(), "bash-completion-1:2.11-5.el9.noarch");
        let plain = Nevra::from_file_name("hello-1.0-1.el9.x86_64.rpm").unwrap();
        assert_eq!(plain.file_name(), "hello-1.0-1.el9.x86_64.rpm");
        assert!(Nevra::from_file_name("nodash.rpm").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use Ordering::*;
    use proptest::prelude::*;

    /// Version strings from a small alphabet, so that random strings share
    /// segments and compare deep into each other.
    fn version() -> impl Strategy<Value = String> {
        "[0-9a-cA-C.~^_+]{0,10}"
    }

    /// An even smaller alphabet for triples, where transitivity needs
    /// related strings to be interesting.
    fn tiny_version() -> impl Strategy<Value = String> {
        "[001aB.~^]{0,6}"
    }

    /// A version `Evr` can parse and print: non-empty, no `-` or `:`.
    fn evr_version() -> impl Strategy<Value = String> {
        "[0-9a-zA-Z.~^_+]{1,10}"
    }

    fn evr() -> impl Strategy<Value = Evr> {
        (
            prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
            evr_version(),
            proptest::option::of("[0-9a-zA-Z.~^_+]{0,10}"),
        )
            .prop_map(|(epoch, version, release)| Evr {
                epoch,
                version,
                release,
            })
    }

    fn tiny_evr() -> impl Strategy<Value = Evr> {
        (
            0u32..2,
            "[01a.~^]{1,4}",
            proptest::option::of("[01a.~^]{0,3}"),
        )
            .prop_map(|(epoch, version, release)| Evr {
                epoch,
                version,
                release,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn rpmvercmp_is_reflexive(a in version()) {
            prop_assert_eq!(rpmvercmp(&a, &a), Equal);
            // Also when the strings are equal but not the same text.
            let dotted = format!("{a}.");
            prop_assert_eq!(rpmvercmp(&dotted, &format!("{a}_")), Equal);
        }

        #[test]
        fn rpmvercmp_is_antisymmetric(a in version(), b in version()) {
            prop_assert_eq!(rpmvercmp(&a, &b), rpmvercmp(&b, &a).reverse());
        }

        #[test]
        fn rpmvercmp_is_transitive(
            a in tiny_version(),
            b in tiny_version(),
            c in tiny_version(),
        ) {
            let le = |x: &str, y: &str| rpmvercmp(x, y) != Greater;
            if le(&a, &b) && le(&b, &c) {
                prop_assert!(le(&a, &c), "{a:?} <= {b:?} <= {c:?} but not {a:?} <= {c:?}");
            }
            let eq = |x: &str, y: &str| rpmvercmp(x, y) == Equal;
            if eq(&a, &b) && eq(&b, &c) {
                prop_assert!(eq(&a, &c));
            }
        }

        #[test]
        fn rpmvercmp_sorts_consistently(mut v in proptest::collection::vec(tiny_version(), 0..12)) {
            v.sort_by(|a, b| rpmvercmp(a, b));
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    prop_assert_ne!(
                        rpmvercmp(&v[i], &v[j]),
                        Greater,
                        "{:?} sorted before {:?}",
                        v[i],
                        v[j]
                    );
                }
            }
        }

        #[test]
        fn evr_ord_is_consistent_with_eq(a in tiny_evr(), b in tiny_evr(), c in tiny_evr()) {
            prop_assert_eq!(a.cmp(&b) == Equal, a == b);
            prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            // Ord refines rpm's order: it never contradicts it.
            if a.rpm_cmp(&b) != Equal {
                prop_assert_eq!(a.cmp(&b), a.rpm_cmp(&b));
            }
            if a == b {
                prop_assert_eq!(a.rpm_cmp(&b), Equal);
            }
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
        }

        #[test]
        fn evr_round_trips_through_display(e in evr()) {
            let text = e.to_string();
            if e.epoch == 0 {
                prop_assert!(!text.contains(':'), "{text:?} prints epoch 0");
            }
            let back: Evr = text.parse().map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
            prop_assert_eq!(back, e);
        }

        #[test]
        fn nevra_round_trips_through_display(
            name in "[a-zA-Z0-9_+][a-zA-Z0-9_+.-]{0,12}",
            mut evr in evr(),
            release in "[0-9a-zA-Z.~^_+]{0,6}[0-9a-zA-Z~^_+]",
            arch in "[a-z0-9_]{1,8}",
        ) {
            evr.release = Some(release);
            let nevra = Nevra { name, evr, arch: arch.parse().unwrap() };
            let text = nevra.to_string();
            let back: Nevra = text.parse().map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
            prop_assert_eq!(&back, &nevra);
            let file = nevra.file_name();
            if nevra.evr.epoch == 0 {
                prop_assert_eq!(Nevra::from_file_name(&file).unwrap(), nevra);
            }
        }
    }
}
