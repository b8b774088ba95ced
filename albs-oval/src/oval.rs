//! The OVAL 5.10 feed of a platform, generated from the advisories at
//! export time so that every released advisory is in it and only the
//! platform's own packages are.
//!
//! Each advisory becomes a `patch` definition whose criteria are
//! "AlmaLinux N is installed" (an `rpmverifyfile_test`: the owner of
//! `/etc/almalinux-release` is `almalinux-release` version N), optionally
//! "module X:S is enabled" (a `textfilecontent54_test` on
//! `/etc/dnf/modules.d/X.module`), and, for each fixed package, an
//! `rpminfo_test` "EVR less than the fixed EVR" on the package's arches
//! AND an `rpminfo_test` "signed with the distribution key". Tests, objects
//! and states are shared between definitions and numbered in sorted order,
//! so the same advisories always give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use albs_core::platform::Platforms;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::errata::{Advisory, AdvisoryType, ErrataError, parse_id, platform_major};
use crate::updateinfo::platform_title;
use crate::xml::esc;

/// Why a feed could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OvalError {
    /// An advisory is invalid (its packages belong to another platform, …).
    #[error(transparent)]
    Invalid(#[from] ErrataError),
    /// A package has no signing key id, which the "signed with" test needs.
    #[error(
        "advisory {id}: package {nevra} has no signing_key; the OVAL feed checks the distribution key, so record the key id the package was signed with"
    )]
    NoSigningKey {
        /// The advisory.
        id: String,
        /// The package.
        nevra: String,
    },
    /// Two advisories map to the same definition id.
    #[error("advisories {a} and {b} both map to OVAL definition {def}; one id is wrong")]
    SameDefinition {
        /// One advisory.
        a: String,
        /// The other.
        b: String,
        /// The definition id.
        def: String,
    },
    /// An advisory lists only source packages.
    #[error("advisory {id} lists no binary package; OVAL checks installed packages")]
    NoBinary {
        /// The advisory.
        id: String,
    },
}

/// The namespace of tests, objects and states.
pub const NAMESPACE: &str = "org.almalinux.alsa";

/// The definition id of an advisory: `oval:org.almalinux.alsa:def:2024000123`
/// for `ALSA-2024:0123` (`alba`, `alea` for the other types).
pub fn definition_id(advisory_id: &str) -> Result<String, ErrataError> {
    let (prefix, year, num) = parse_id(advisory_id)?;
    let n = u64::from(year) * 1_000_000 + u64::from(num);
    Ok(format!(
        "oval:org.almalinux.{}:def:{n}",
        prefix.to_ascii_lowercase()
    ))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Obj {
    Release,
    Module(String),
    Rpm(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ste {
    Release(String),
    Module(String),
    Evr { arch: String, evr: String },
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Tst {
    obj: Obj,
    ste: Ste,
    comment: String,
}

/// Regex-escapes text for an OVAL pattern (Perl syntax).
fn regex_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if "\\^$.|?*+()[]{}-/".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// The evr_string OVAL compares: `epoch:version-release`.
fn evr_string(e: &albs_core::evr::Evr) -> String {
    format!(
        "{}:{}-{}",
        e.epoch,
        e.version,
        e.release.as_deref().unwrap_or("")
    )
}

struct Def<'a> {
    advisory: &'a Advisory,
    id: String,
    release: Tst,
    module: Option<Tst>,
    /// (evr test, key test) per fixed package group.
    packages: Vec<(Tst, Tst)>,
}

/// Generates the OVAL 5.10 definitions for `platform` from `advisories`:
/// advisories of other platforms are left out; each included one must
/// validate (its packages carry the platform's dist tag) and name the key
/// its packages are signed with. The generator timestamp is the newest
/// `updated` time, so the output depends on the records only.
pub fn oval_xml(
    platform: &str,
    advisories: &[Advisory],
    platforms: &Platforms,
) -> Result<String, OvalError> {
    let major = platform_major(platform).to_owned();
    let title = platform_title(platform);
    let mut ours: Vec<Advisory> = advisories
        .iter()
        .filter(|a| a.platform == platform)
        .map(Advisory::normalized)
        .collect();
    ours.sort_by(|a, b| a.id.cmp(&b.id));
    if ours.is_empty() {
        // Refuse unknown platforms even with nothing to export.
        platforms
            .get(platform)
            .map_err(|_| ErrataError::UnknownPlatform {
                id: "-".into(),
                platform: platform.to_owned(),
                known: platforms.names().join(", "),
            })?;
    }

    let mut defs = Vec::new();
    let mut def_ids: BTreeMap<String, String> = BTreeMap::new();
    for a in &ours {
        a.validate(platforms)?;
        let id = definition_id(&a.id)?;
        if let Some(other) = def_ids.insert(id.clone(), a.id.clone()) {
            return Err(OvalError::SameDefinition {
                a: other,
                b: a.id.clone(),
                def: id,
            });
        }
        let release = Tst {
            obj: Obj::Release,
            ste: Ste::Release(major.clone()),
            comment: format!("{title} is installed"),
        };
        let module = a.module.as_ref().map(|m| Tst {
            obj: Obj::Module(m.name.clone()),
            ste: Ste::Module(m.stream.clone()),
            comment: format!("Module {}:{} is enabled", m.name, m.stream),
        });
        // (name, evr, key) → arches
        let mut groups: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
        for p in a.packages.iter().filter(|p| !p.nevra.arch.is_source()) {
            let key = p
                .signing_key
                .clone()
                .ok_or_else(|| OvalError::NoSigningKey {
                    id: a.id.clone(),
                    nevra: p.nevra.to_string(),
                })?;
            groups
                .entry((p.nevra.name.clone(), evr_string(&p.nevra.evr), key))
                .or_default()
                .insert(p.nevra.arch.as_str().to_owned());
        }
        if groups.is_empty() {
            return Err(OvalError::NoBinary { id: a.id.clone() });
        }
        let packages = groups
            .into_iter()
            .map(|((name, evr, key), arches)| {
                let arch = format!(
                    "^({})$",
                    arches
                        .iter()
                        .map(|a| regex_escape(a))
                        .collect::<Vec<_>>()
                        .join("|")
                );
                (
                    Tst {
                        obj: Obj::Rpm(name.clone()),
                        ste: Ste::Evr {
                            arch,
                            evr: evr.clone(),
                        },
                        comment: format!("{name} is earlier than {evr}"),
                    },
                    Tst {
                        obj: Obj::Rpm(name.clone()),
                        ste: Ste::Key(key.clone()),
                        comment: format!("{name} is signed with the {title} key {key}"),
                    },
                )
            })
            .collect();
        defs.push(Def {
            advisory: a,
            id,
            release,
            module,
            packages,
        });
    }

    // Shared tests, objects and states, numbered in sorted order.
    let mut tests: BTreeMap<Tst, u64> = BTreeMap::new();
    for d in &defs {
        tests.insert(d.release.clone(), 0);
        if let Some(m) = &d.module {
            tests.insert(m.clone(), 0);
        }
        for (e, k) in &d.packages {
            tests.insert(e.clone(), 0);
            tests.insert(k.clone(), 0);
        }
    }
    let mut objects: BTreeMap<Obj, u64> = tests.keys().map(|t| (t.obj.clone(), 0)).collect();
    let mut states: BTreeMap<Ste, u64> = tests.keys().map(|t| (t.ste.clone(), 0)).collect();
    for (n, v) in tests.values_mut().enumerate() {
        *v = n as u64 + 1;
    }
    for (n, v) in objects.values_mut().enumerate() {
        *v = n as u64 + 1;
    }
    for (n, v) in states.values_mut().enumerate() {
        *v = n as u64 + 1;
    }
    let tst = |t: &Tst| format!("oval:{NAMESPACE}:tst:{}", tests[t]);
    let obj = |o: &Obj| format!("oval:{NAMESPACE}:obj:{}", objects[o]);
    let ste = |s: &Ste| format!("oval:{NAMESPACE}:ste:{}", states[s]);

    let stamp = ours
        .iter()
        .map(|a| a.updated)
        .max()
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .expect("a UTC time formats");

    let mut o = String::new();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(concat!(
        "<oval_definitions xmlns=\"http://oval.mitre.org/XMLSchema/oval-definitions-5\"",
        " xmlns:oval=\"http://oval.mitre.org/XMLSchema/oval-common-5\"",
        " xmlns:red-def=\"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux\"",
        " xmlns:ind-def=\"http://oval.mitre.org/XMLSchema/oval-definitions-5#independent\"",
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
        " xsi:schemaLocation=\"http://oval.mitre.org/XMLSchema/oval-common-5 oval-common-schema.xsd",
        " http://oval.mitre.org/XMLSchema/oval-definitions-5 oval-definitions-schema.xsd",
        " http://oval.mitre.org/XMLSchema/oval-definitions-5#linux linux-definitions-schema.xsd",
        " http://oval.mitre.org/XMLSchema/oval-definitions-5#independent independent-definitions-schema.xsd\">\n"
    ));
    let _ = writeln!(
        o,
        "  <generator>\n    <oval:product_name>albs</oval:product_name>\n    <oval:product_version>{}</oval:product_version>\n    <oval:schema_version>5.10</oval:schema_version>\n    <oval:timestamp>{stamp}</oval:timestamp>\n  </generator>",
        env!("CARGO_PKG_VERSION")
    );
    if defs.is_empty() {
        o.push_str("</oval_definitions>\n");
        return Ok(o);
    }

    o.push_str("  <definitions>\n");
    for d in &defs {
        write_definition(&mut o, d, &title, &major, &tst);
    }
    o.push_str("  </definitions>\n  <tests>\n");
    for t in tests.keys() {
        let (ns, kind) = match t.obj {
            Obj::Release => ("red-def", "rpmverifyfile_test"),
            Obj::Module(_) => ("ind-def", "textfilecontent54_test"),
            Obj::Rpm(_) => ("red-def", "rpminfo_test"),
        };
        let _ = writeln!(
            o,
            "    <{ns}:{kind} check=\"at least one\" check_existence=\"at_least_one_exists\" comment=\"{}\" id=\"{}\" version=\"1\">\n      <{ns}:object object_ref=\"{}\"/>\n      <{ns}:state state_ref=\"{}\"/>\n    </{ns}:{kind}>",
            esc(&t.comment),
            tst(t),
            obj(&t.obj),
            ste(&t.ste)
        );
    }
    o.push_str("  </tests>\n  <objects>\n");
    for ob in objects.keys() {
        let id = obj(ob);
        match ob {
            Obj::Release => {
                let _ = writeln!(
                    o,
                    concat!(
                        "    <red-def:rpmverifyfile_object id=\"{}\" version=\"1\">\n",
                        "      <red-def:behaviors noconfigfiles=\"true\" noghostfiles=\"true\" nogroup=\"true\" nolinkto=\"true\" nomd5=\"true\" nomode=\"true\" nomtime=\"true\" nordev=\"true\" nosize=\"true\" nouser=\"true\"/>\n",
                        "      <red-def:name operation=\"pattern match\"/>\n",
                        "      <red-def:epoch operation=\"pattern match\"/>\n",
                        "      <red-def:version operation=\"pattern match\"/>\n",
                        "      <red-def:release operation=\"pattern match\"/>\n",
                        "      <red-def:arch operation=\"pattern match\"/>\n",
                        "      <red-def:filepath>/etc/almalinux-release</red-def:filepath>\n",
                        "    </red-def:rpmverifyfile_object>"
                    ),
                    id
                );
            }
            Obj::Module(name) => {
                let _ = writeln!(
                    o,
                    concat!(
                        "    <ind-def:textfilecontent54_object id=\"{}\" version=\"1\">\n",
                        "      <ind-def:filepath>/etc/dnf/modules.d/{}.module</ind-def:filepath>\n",
                        "      <ind-def:pattern operation=\"pattern match\">{}</ind-def:pattern>\n",
                        "      <ind-def:instance datatype=\"int\">1</ind-def:instance>\n",
                        "    </ind-def:textfilecontent54_object>"
                    ),
                    id,
                    esc(name),
                    esc(&format!("\\[{}\\][\\w\\W]*", regex_escape(name)))
                );
            }
            Obj::Rpm(name) => {
                let _ = writeln!(
                    o,
                    "    <red-def:rpminfo_object id=\"{id}\" version=\"1\">\n      <red-def:name>{}</red-def:name>\n    </red-def:rpminfo_object>",
                    esc(name)
                );
            }
        }
    }
    o.push_str("  </objects>\n  <states>\n");
    for st in states.keys() {
        let id = ste(st);
        match st {
            Ste::Release(major) => {
                let _ = writeln!(
                    o,
                    "    <red-def:rpmverifyfile_state id=\"{id}\" version=\"1\">\n      <red-def:name operation=\"pattern match\">^almalinux-release$</red-def:name>\n      <red-def:version operation=\"pattern match\">{}</red-def:version>\n    </red-def:rpmverifyfile_state>",
                    esc(&format!("^{}([^\\d]|$)", regex_escape(major)))
                );
            }
            Ste::Module(stream) => {
                let s = regex_escape(stream);
                let pattern = format!(
                    "\\nstream\\s*=\\s*{s}\\b[\\w\\W]*\\nstate\\s*=\\s*(enabled|1|true)|\\nstate\\s*=\\s*(enabled|1|true)\\b[\\w\\W]*\\nstream\\s*=\\s*{s}\\b"
                );
                let _ = writeln!(
                    o,
                    "    <ind-def:textfilecontent54_state id=\"{id}\" version=\"1\">\n      <ind-def:text operation=\"pattern match\">{}</ind-def:text>\n    </ind-def:textfilecontent54_state>",
                    esc(&pattern)
                );
            }
            Ste::Evr { arch, evr } => {
                let _ = writeln!(
                    o,
                    "    <red-def:rpminfo_state id=\"{id}\" version=\"1\">\n      <red-def:arch datatype=\"string\" operation=\"pattern match\">{}</red-def:arch>\n      <red-def:evr datatype=\"evr_string\" operation=\"less than\">{}</red-def:evr>\n    </red-def:rpminfo_state>",
                    esc(arch),
                    esc(evr)
                );
            }
            Ste::Key(key) => {
                let _ = writeln!(
                    o,
                    "    <red-def:rpminfo_state id=\"{id}\" version=\"1\">\n      <red-def:signature_keyid operation=\"equals\">{}</red-def:signature_keyid>\n    </red-def:rpminfo_state>",
                    esc(key)
                );
            }
        }
    }
    o.push_str("  </states>\n</oval_definitions>\n");
    Ok(o)
}

fn write_definition(
    o: &mut String,
    d: &Def<'_>,
    title: &str,
    major: &str,
    tst: &dyn Fn(&Tst) -> String,
) {
    let a = d.advisory;
    let _ = writeln!(
        o,
        "    <definition class=\"patch\" id=\"{}\" version=\"1\">",
        d.id
    );
    let _ = writeln!(o, "      <metadata>");
    let _ = writeln!(
        o,
        "        <title>{}: {}</title>",
        esc(&a.id),
        esc(&a.title)
    );
    let _ = writeln!(
        o,
        "        <affected family=\"unix\">\n          <platform>{}</platform>\n        </affected>",
        esc(title)
    );
    let _ = writeln!(
        o,
        "        <reference ref_id=\"{}\" ref_url=\"https://errata.almalinux.org/{}/{}.html\" source=\"{}\"/>",
        esc(&a.id),
        esc(major),
        esc(&a.id.replace(':', "-")),
        &a.id[..4]
    );
    for cve in a.all_cves() {
        let _ = writeln!(
            o,
            "        <reference ref_id=\"{0}\" ref_url=\"https://www.cve.org/CVERecord?id={0}\" source=\"CVE\"/>",
            esc(&cve)
        );
    }
    let _ = writeln!(
        o,
        "        <description>{}</description>",
        esc(&a.description)
    );
    let _ = writeln!(o, "        <advisory from=\"errata.almalinux.org\">");
    if let (AdvisoryType::Security, Some(s)) = (a.kind, a.severity) {
        let _ = writeln!(o, "          <severity>{s}</severity>");
    }
    let _ = writeln!(
        o,
        "          <rights>Copyright {} AlmaLinux OS</rights>",
        a.issued.year()
    );
    let day = format_description!("[year]-[month]-[day]");
    let _ = writeln!(
        o,
        "          <issued date=\"{}\"/>\n          <updated date=\"{}\"/>",
        a.issued
            .to_offset(time::UtcOffset::UTC)
            .format(day)
            .expect("date"),
        a.updated
            .to_offset(time::UtcOffset::UTC)
            .format(day)
            .expect("date")
    );
    for cve in a.all_cves() {
        let _ = writeln!(
            o,
            "          <cve href=\"https://www.cve.org/CVERecord?id={0}\">{0}</cve>",
            esc(&cve)
        );
    }
    let _ = writeln!(
        o,
        "          <affected_cpe_list>\n            <cpe>cpe:/o:almalinux:almalinux:{}</cpe>\n          </affected_cpe_list>",
        esc(major)
    );
    let _ = writeln!(o, "        </advisory>");
    let _ = writeln!(o, "      </metadata>");
    let _ = writeln!(o, "      <criteria operator=\"AND\">");
    let crit = |o: &mut String, indent: &str, t: &Tst| {
        let _ = writeln!(
            o,
            "{indent}<criterion comment=\"{}\" test_ref=\"{}\"/>",
            esc(&t.comment),
            tst(t)
        );
    };
    crit(o, "        ", &d.release);
    if let Some(m) = &d.module {
        crit(o, "        ", m);
    }
    let _ = writeln!(o, "        <criteria operator=\"OR\">");
    for (evr, key) in &d.packages {
        let _ = writeln!(o, "          <criteria operator=\"AND\">");
        crit(o, "            ", evr);
        crit(o, "            ", key);
        let _ = writeln!(o, "          </criteria>");
    }
    let _ = writeln!(o, "        </criteria>");
    let _ = writeln!(o, "      </criteria>");
    let _ = writeln!(o, "    </definition>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errata::tests_support::sample;
    use crate::errata::{AdvisoryPackage, ModuleStream};

    #[test]
    fn ids_and_sharing_are_deterministic() {
        let p = Platforms::bundled();
        let a = sample();
        let mut b = sample();
        b.id = "ALSA-2026:0043".into();
        b.packages.push(AdvisoryPackage {
            nevra: "hello-1.1-1.el9.aarch64".parse().unwrap(),
            sha256: None,
            signing_key: Some("d36cb86cb86b3716".into()),
            source_rpm: None,
        });
        let one = oval_xml("almalinux-9", &[a.clone(), b.clone()], &p).unwrap();
        let two = oval_xml("almalinux-9", &[b, a], &p).unwrap();
        assert_eq!(one, two);
        assert!(
            one.contains("id=\"oval:org.almalinux.alsa:def:2026000042\""),
            "{one}"
        );
        assert!(one.contains("id=\"oval:org.almalinux.alsa:def:2026000043\""));
        // One release test, one object per package name, one key state.
        assert_eq!(one.matches("<red-def:rpmverifyfile_test ").count(), 1);
        assert_eq!(one.matches("<red-def:rpminfo_object ").count(), 1);
        assert_eq!(one.matches("<red-def:signature_keyid").count(), 1);
        // Two EVR states: x86_64 alone, and aarch64|x86_64.
        assert!(one.contains(">^(x86_64)$<"), "{one}");
        assert!(one.contains(">^(aarch64|x86_64)$<"), "{one}");
        assert!(one.contains(">0:1.1-1.el9</red-def:evr>"));
        assert!(one.contains("<oval:timestamp>2026-11-02T10:00:00</oval:timestamp>"));
    }

    #[test]
    fn other_platforms_are_left_out_and_foreign_packages_refused() {
        let p = Platforms::bundled();
        let mut el8 = sample();
        el8.id = "ALSA-2026:0050".into();
        el8.platform = "almalinux-8".into();
        el8.packages[0].nevra = "hello-1.1-1.el8.x86_64".parse().unwrap();
        let feed = oval_xml("almalinux-9", &[sample(), el8.clone()], &p).unwrap();
        assert!(!feed.contains("el8"), "{feed}");
        assert!(!feed.contains("2026000050"));

        let mut bad = sample();
        bad.packages[0].nevra = "hello-1.1-1.el8.x86_64".parse().unwrap();
        let err = oval_xml("almalinux-9", &[bad], &p).unwrap_err();
        assert!(err.to_string().contains("hello-1.1-1.el8.x86_64"), "{err}");

        let mut unsigned = sample();
        unsigned.packages[0].signing_key = None;
        let err = oval_xml("almalinux-9", &[unsigned], &p).unwrap_err();
        assert!(matches!(err, OvalError::NoSigningKey { .. }), "{err}");

        let err = oval_xml("nosuch-1", &[], &p).unwrap_err();
        assert!(err.to_string().contains("nosuch-1"), "{err}");
    }

    #[test]
    fn a_module_advisory_checks_the_stream() {
        let mut a = sample();
        a.module = Some(ModuleStream {
            name: "nodejs".into(),
            stream: "18".into(),
            version: Some(9020020231115),
            context: Some("rhel9".into()),
        });
        let feed = oval_xml("almalinux-9", &[a], &Platforms::bundled()).unwrap();
        assert!(feed.contains("/etc/dnf/modules.d/nodejs.module"), "{feed}");
        assert!(feed.contains("Module nodejs:18 is enabled"));
        assert!(feed.contains("stream\\s*=\\s*18\\b"), "{feed}");
    }
}
