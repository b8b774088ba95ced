//! `updateinfo.xml`, the errata metadata of an rpm-md repository that
//! `dnf updateinfo` and `dnf upgrade --security` read, and adding it to a
//! repository written by `albs_core::repo::write_repo`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use albs_core::hash::Sha256;
use quick_xml::events::Event;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::errata::{Advisory, AdvisoryType, platform_major};
use crate::xml::esc;

/// Why updateinfo could not be added to a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateinfoError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `repomd.xml` is not what an rpm-md repository holds.
    #[error(
        "{path} is not an rpm-md repomd.xml: {why}; write the repository first (albs repo create)"
    )]
    BadRepomd {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateinfoError + '_ {
    move |source| UpdateinfoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The time format updateinfo.xml uses: `2026-11-01 10:00:00`.
fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .expect("a UTC date formats")
}

/// The display name of a platform (`almalinux-9` → `AlmaLinux 9`).
pub fn platform_title(platform: &str) -> String {
    match platform.rsplit_once('-') {
        Some(("almalinux", major)) => format!("AlmaLinux {major}"),
        _ => platform.to_owned(),
    }
}

/// Writes the `<updates>` document for `advisories`, sorted by id, each
/// with its packages sorted; the same input always gives the same bytes.
pub fn updateinfo_xml(advisories: &[Advisory]) -> String {
    let mut sorted: Vec<Advisory> = advisories.iter().map(Advisory::normalized).collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut o = String::new();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    for a in &sorted {
        write_update(&mut o, a);
    }
    o.push_str("</updates>\n");
    o
}

fn write_update(o: &mut String, a: &Advisory) {
    let _ = writeln!(
        o,
        "  <update from=\"packager@almalinux.org\" status=\"final\" type=\"{}\" version=\"2\">",
        a.kind
    );
    let _ = writeln!(o, "    <id>{}</id>", esc(&a.id));
    let _ = writeln!(o, "    <title>{}</title>", esc(&a.title));
    let _ = writeln!(o, "    <issued date=\"{}\"/>", date(a.issued));
    let _ = writeln!(o, "    <updated date=\"{}\"/>", date(a.updated));
    let _ = writeln!(
        o,
        "    <rights>Copyright {} AlmaLinux OS</rights>",
        a.issued.year()
    );
    let _ = writeln!(
        o,
        "    <release>{}</release>",
        esc(&platform_title(&a.platform))
    );
    let _ = writeln!(o, "    <pushcount>1</pushcount>");
    if let (AdvisoryType::Security, Some(s)) = (a.kind, a.severity) {
        let _ = writeln!(o, "    <severity>{s}</severity>");
    }
    let _ = writeln!(o, "    <summary>{}</summary>", esc(&a.title));
    let _ = writeln!(o, "    <description>{}</description>", esc(&a.description));
    let _ = writeln!(o, "    <solution/>");
    let mut refs: Vec<(String, String, String, String)> = a
        .references
        .iter()
        .map(|r| {
            let title = if r.title.is_empty() { &r.id } else { &r.title };
            (
                r.kind.as_str().to_owned(),
                r.id.clone(),
                r.href.clone(),
                title.clone(),
            )
        })
        .collect();
    for cve in &a.cves {
        if !refs.iter().any(|r| r.0 == "cve" && &r.1 == cve) {
            refs.push((
                "cve".into(),
                cve.clone(),
                format!("https://www.cve.org/CVERecord?id={cve}"),
                cve.clone(),
            ));
        }
    }
    refs.sort();
    if refs.is_empty() {
        let _ = writeln!(o, "    <references/>");
    } else {
        let _ = writeln!(o, "    <references>");
        for (kind, id, href, title) in &refs {
            let _ = writeln!(
                o,
                "      <reference href=\"{}\" id=\"{}\" type=\"{kind}\" title=\"{}\"/>",
                esc(href),
                esc(id),
                esc(title)
            );
        }
        let _ = writeln!(o, "    </references>");
    }
    let _ = writeln!(o, "    <pkglist>");
    let short = match &a.module {
        Some(m) => format!("{}__{}:{}", a.platform, m.name, m.stream),
        None => a.platform.clone(),
    };
    let _ = writeln!(o, "      <collection short=\"{}\">", esc(&short));
    let _ = writeln!(
        o,
        "        <name>{} for AlmaLinux {}</name>",
        esc(&short),
        esc(platform_major(&a.platform))
    );
    if let Some(m) = &a.module {
        // dnf's module filter takes every arch of the packages listed.
        let arch = a
            .packages
            .iter()
            .map(|p| p.nevra.arch.as_str())
            .find(|a| *a != "src" && *a != "noarch")
            .unwrap_or("noarch");
        let _ = writeln!(
            o,
            "        <module name=\"{}\" stream=\"{}\" version=\"{}\" context=\"{}\" arch=\"{}\"/>",
            esc(&m.name),
            esc(&m.stream),
            m.version.unwrap_or(0),
            esc(m.context.as_deref().unwrap_or("00000000")),
            esc(arch)
        );
    }
    for p in &a.packages {
        let n = &p.nevra;
        let _ = write!(
            o,
            "        <package name=\"{}\" version=\"{}\" release=\"{}\" epoch=\"{}\" arch=\"{}\"",
            esc(&n.name),
            esc(&n.evr.version),
            esc(n.evr.release.as_deref().unwrap_or("")),
            n.evr.epoch,
            esc(n.arch.as_str())
        );
        if let Some(src) = &p.source_rpm {
            let _ = write!(o, " src=\"{}\"", esc(src));
        }
        let _ = writeln!(o, ">");
        let _ = writeln!(o, "          <filename>{}</filename>", esc(&p.file_name()));
        if let Some(sum) = &p.sha256 {
            let _ = writeln!(o, "          <sum type=\"sha256\">{sum}</sum>");
        }
        let _ = writeln!(o, "        </package>");
    }
    let _ = writeln!(o, "      </collection>");
    let _ = writeln!(o, "    </pkglist>");
    let _ = writeln!(o, "  </update>");
}

/// What [`add_to_repo`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedUpdateinfo {
    /// The compressed updateinfo file.
    pub path: PathBuf,
    /// sha256 of the compressed file.
    pub checksum: Sha256,
    /// sha256 of the XML.
    pub open_checksum: Sha256,
    /// The advisories it lists.
    pub advisories: usize,
    /// A detached `repomd.xml.asc` was removed because it no longer matched;
    /// sign the repository again.
    pub removed_signature: bool,
}

/// Adds `updateinfo.xml.gz` for `advisories` to the rpm-md repository in
/// `repo` (which holds `repodata/repomd.xml`): the new file is written
/// first, then `repomd.xml` is rewritten through a temporary file and a
/// rename, listing it in place of any earlier updateinfo, which is then
/// removed. Everything else in `repomd.xml` is kept byte for byte. A
/// detached signature of the old `repomd.xml` is removed (it would no longer
/// verify).
pub fn add_to_repo(
    repo: &Path,
    advisories: &[Advisory],
) -> Result<AddedUpdateinfo, UpdateinfoError> {
    let repodata = repo.join("repodata");
    let repomd_path = repodata.join("repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path).map_err(io(&repomd_path))?;
    let spans = find_spans(&repomd).map_err(|why| UpdateinfoError::BadRepomd {
        path: repomd_path.display().to_string(),
        why,
    })?;

    let xml = updateinfo_xml(advisories);
    let open_checksum = Sha256::of(xml.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(xml.as_bytes()).expect("writing to memory");
    let gz = gz.finish().expect("writing to memory");
    let checksum = Sha256::of(&gz);
    let name = format!("{checksum}-updateinfo.xml.gz");
    let path = repodata.join(&name);
    write_atomic(&path, &gz)?;

    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let mut entry = String::new();
    let _ = writeln!(entry, "  <data type=\"updateinfo\">");
    let _ = writeln!(entry, "    <checksum type=\"sha256\">{checksum}</checksum>");
    let _ = writeln!(
        entry,
        "    <open-checksum type=\"sha256\">{open_checksum}</open-checksum>"
    );
    let _ = writeln!(entry, "    <location href=\"repodata/{name}\"/>");
    let _ = writeln!(entry, "    <timestamp>{timestamp}</timestamp>");
    let _ = writeln!(entry, "    <size>{}</size>", gz.len());
    let _ = writeln!(entry, "    <open-size>{}</open-size>", xml.len());
    let _ = writeln!(entry, "  </data>");

    let mut new = String::with_capacity(repomd.len() + entry.len());
    let mut old_hrefs = Vec::new();
    let mut at = 0;
    for (start, end, href) in &spans.updateinfo {
        // Drop the element and the indentation before it.
        let before = repomd[at..*start].trim_end_matches([' ', '\t']);
        new.push_str(before);
        at = *end;
        if repomd[at..].starts_with('\n') {
            at += 1;
        }
        old_hrefs.push(href.clone());
    }
    new.push_str(&repomd[at..spans.close]);
    new.push_str(&entry);
    new.push_str(&repomd[spans.close..]);
    write_atomic(&repomd_path, new.as_bytes())?;

    for href in old_hrefs {
        let old = repo.join(&href);
        if old != path && href.starts_with("repodata/") && !href.contains("..") {
            match std::fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&old)(e)),
            }
        }
    }
    let asc = repodata.join("repomd.xml.asc");
    let removed_signature = match std::fs::remove_file(&asc) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(&asc)(e)),
    };
    Ok(AddedUpdateinfo {
        path,
        checksum,
        open_checksum,
        advisories: advisories.len(),
        removed_signature,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), UpdateinfoError> {
    albs_core::fsutil::write_atomic(path, bytes).map_err(io(path))
}

/// Byte spans in repomd.xml: each `<data type="updateinfo">` element (with
/// its location href) and the start of `</repomd>`.
struct Spans {
    updateinfo: Vec<(usize, usize, String)>,
    close: usize,
}

fn find_spans(text: &str) -> Result<Spans, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut current: Option<(usize, String)> = None;
    let mut updateinfo = Vec::new();
    loop {
        let before = usize::try_from(reader.buffer_position()).map_err(|e| e.to_string())?;
        let ev = reader.read_event().map_err(|e| e.to_string())?;
        match ev {
            Event::Start(e) => {
                depth += 1;
                let local = e.local_name();
                if depth == 1 {
                    if local.as_ref() != "repomd" {
                        return Err("the root element is not <repomd>".into());
                    }
                    root_seen = true;
                } else if depth == 2 && local.as_ref() == "data" {
                    let kind = e
                        .try_get_attribute("type")
                        .map_err(|e| e.to_string())?
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map(|v| v.into_owned())
                        })
                        .transpose()
                        .map_err(|e| e.to_string())?;
                    if kind.as_deref() == Some("updateinfo") {
                        current = Some((before, String::new()));
                    }
                }
            }
            Event::Empty(e) if depth == 2 && e.local_name().as_ref() == "location" => {
                if let Some((_, href)) = current.as_mut() {
                    *href = e
                        .try_get_attribute("href")
                        .map_err(|e| e.to_string())?
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map(|v| v.into_owned())
                        })
                        .transpose()
                        .map_err(|e| e.to_string())?
                        .unwrap_or_default();
                }
            }
            Event::End(e) => {
                if depth == 2
                    && e.local_name().as_ref() == "data"
                    && let Some((start, href)) = current.take()
                {
                    let end =
                        usize::try_from(reader.buffer_position()).map_err(|e| e.to_string())?;
                    updateinfo.push((start, end, href));
                }
                if depth == 1 {
                    return Ok(Spans {
                        updateinfo,
                        close: before,
                    });
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => {
                return Err(if root_seen {
                    "</repomd> is missing".into()
                } else {
                    "no <repomd> element".into()
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errata::tests_support::sample;

    #[test]
    fn updateinfo_lists_the_advisory_deterministically() {
        let mut b = sample();
        b.id = "ALSA-2026:0001".into();
        let a = sample();
        let one = updateinfo_xml(&[a.clone(), b.clone()]);
        let two = updateinfo_xml(&[b, a]);
        assert_eq!(one, two);
        assert!(one.find("ALSA-2026:0001").unwrap() < one.find("ALSA-2026:0042").unwrap());
        assert!(one.contains("type=\"security\""), "{one}");
        assert!(one.contains("<severity>Important</severity>"), "{one}");
        assert!(
            one.contains("<issued date=\"2026-11-01 10:00:00\"/>"),
            "{one}"
        );
        assert!(
            one.contains("<package name=\"hello\" version=\"1.1\" release=\"1.el9\" epoch=\"0\" arch=\"x86_64\" src=\"hello-1.1-1.el9.src.rpm\">"),
            "{one}"
        );
        assert!(one.contains("<filename>hello-1.1-1.el9.x86_64.rpm</filename>"));
        assert!(one.contains("id=\"CVE-2026-12345\" type=\"cve\""), "{one}");
    }

    const REPOMD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>1</revision>\n  <data type=\"primary\">\n    <checksum type=\"sha256\">aa</checksum>\n    <location href=\"repodata/aa-primary.xml.gz\"/>\n  </data>\n</repomd>\n";

    #[test]
    fn adding_twice_replaces_the_entry_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repodata")).unwrap();
        let repomd = dir.path().join("repodata/repomd.xml");
        std::fs::write(&repomd, REPOMD).unwrap();
        std::fs::write(dir.path().join("repodata/repomd.xml.asc"), "sig").unwrap();
        let first = add_to_repo(dir.path(), &[sample()]).unwrap();
        assert!(first.removed_signature);
        assert!(first.path.exists());
        let text = std::fs::read_to_string(&repomd).unwrap();
        assert!(
            text.contains("<data type=\"primary\">\n    <checksum type=\"sha256\">aa</checksum>")
        );
        assert_eq!(text.matches("type=\"updateinfo\"").count(), 1);

        let mut b = sample();
        b.title = "Important: hello security update, again".into();
        let second = add_to_repo(dir.path(), &[b]).unwrap();
        assert_ne!(first.path, second.path);
        assert!(!first.path.exists(), "the old updateinfo is removed");
        assert!(!second.removed_signature);
        let text = std::fs::read_to_string(&repomd).unwrap();
        assert_eq!(text.matches("type=\"updateinfo\"").count(), 1, "{text}");
        assert!(text.contains(&second.checksum.to_hex()));
        assert!(text.ends_with("  </data>\n</repomd>\n"), "{text}");
        // The compressed file's checksum is what repomd says.
        let gz = std::fs::read(&second.path).unwrap();
        assert_eq!(Sha256::of(&gz), second.checksum);
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut xml)
            .unwrap();
        assert_eq!(Sha256::of(xml.as_bytes()), second.open_checksum);
        assert!(xml.contains("again"));
    }

    #[test]
    fn a_file_that_is_not_repomd_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repodata")).unwrap();
        std::fs::write(dir.path().join("repodata/repomd.xml"), "<html></html>").unwrap();
        let err = add_to_repo(dir.path(), &[sample()]).unwrap_err();
        assert!(
            err.to_string().contains("not an rpm-md repomd.xml"),
            "{err}"
        );
        let err = add_to_repo(&dir.path().join("nope"), &[sample()]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
