//! `albs errata`, `albs oval`, `albs sbom`, `albs provenance`: security data
//! offline, over advisory JSON files in a directory and package files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use albs_core::checkpoint::CheckpointSigner;
use albs_core::platform::Platforms;
use albs_oval::errata::ErrataError;
use albs_oval::export::{file_name, read_advisory, read_dir};
use albs_oval::package::built_package;
use albs_oval::{Advisory, AdvisoryType, ModuleStream, Reference, ReferenceKind, Severity, Wanted};
use albs_sbom::{Component, Subject, cyclonedx, provenance, spdx};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

/// `albs errata …`
#[derive(Debug, Subcommand)]
pub enum ErrataCommand {
    /// Start an advisory: writes DIR/ID.json (without packages; add them with `match`).
    New(NewArgs),
    /// Add the built packages an advisory fixes, read from package files of its platform.
    Match {
        /// The advisory file.
        #[arg(long)]
        file: PathBuf,
        /// Package files or directories holding them (searched recursively).
        #[arg(long = "rpms", required = true, num_args = 1..)]
        rpms: Vec<PathBuf>,
        /// The packages to take: NAME-VERSION[-RELEASE][@ARCH,…]; repeat.
        #[arg(long = "want", required = true)]
        want: Vec<String>,
        /// Print the advisory as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check an advisory and show it.
    Show {
        /// The advisory file.
        #[arg(long)]
        file: PathBuf,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write updateinfo.xml for the advisories in ERRATA_DIR, into an rpm-md
    /// repository (--repo) or to stdout.
    Updateinfo {
        /// Directory of advisory JSON files.
        errata_dir: PathBuf,
        /// Only this platform's advisories.
        #[arg(long)]
        platform: Option<String>,
        /// Add it to this repository (rewrites repodata/repomd.xml).
        #[arg(long)]
        repo: Option<PathBuf>,
    },
}

/// `albs errata new` arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Advisory id (ALSA-YYYY:NNNN, ALBA-…, ALEA-…).
    #[arg(long)]
    id: String,
    /// security, bugfix or enhancement.
    #[arg(long = "type")]
    kind: AdvisoryType,
    /// low, moderate, important or critical (security only).
    #[arg(long)]
    severity: Option<Severity>,
    /// One-line title.
    #[arg(long)]
    title: String,
    /// What it fixes.
    #[arg(long)]
    description: String,
    /// Platform (almalinux-9).
    #[arg(long)]
    platform: String,
    /// CVE ids; repeat.
    #[arg(long = "cve")]
    cves: Vec<String>,
    /// Bug tracker URLs; repeat.
    #[arg(long = "bug")]
    bugs: Vec<String>,
    /// Module stream NAME:STREAM for modular packages.
    #[arg(long)]
    module: Option<String>,
    /// Directory to write the advisory into.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// `albs oval …`
#[derive(Debug, Subcommand)]
pub enum OvalCommand {
    /// Export a platform's feed from the advisories in ERRATA_DIR.
    Export {
        /// Directory of advisory JSON files.
        errata_dir: PathBuf,
        /// The platform (almalinux-9).
        #[arg(long)]
        platform: String,
        /// oval (OVAL 5.10 XML), json (the advisories) or osv (one OSV record per line).
        #[arg(long, value_enum, default_value_t = FeedFormat::Oval)]
        format: FeedFormat,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Feed formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeedFormat {
    /// OVAL 5.10 definitions.
    Oval,
    /// The advisories as a JSON array.
    Json,
    /// OSV records, one JSON object per line.
    Osv,
}

/// `albs sbom …`
#[derive(Debug, Subcommand)]
pub enum SbomCommand {
    /// The SBOM of one package file.
    Rpm {
        /// The package.
        file: PathBuf,
        /// Its platform.
        #[arg(long, default_value = "almalinux-9")]
        platform: String,
        /// Document format.
        #[arg(long, value_enum, default_value_t = SbomFormat::CyclonedxJson)]
        format: SbomFormat,
        /// Add the package's ledger record (sources, build, leaf) from the
        /// ledger in the data directory; fails when it has none.
        #[arg(long)]
        ledger: bool,
    },
    /// The SBOM of a build, from the ledger in the data directory.
    Build {
        /// Build id.
        build: u64,
        /// The build's platform.
        #[arg(long, default_value = "almalinux-9")]
        platform: String,
        /// URL of the build, recorded in the document.
        #[arg(long)]
        url: Option<String>,
        /// A signed checkpoint note (`albs ledger checkpoint`) to attach to
        /// the packages it covers.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Document format.
        #[arg(long, value_enum, default_value_t = SbomFormat::CyclonedxJson)]
        format: SbomFormat,
    },
}

/// SBOM formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.5 JSON.
    CyclonedxJson,
    /// CycloneDX 1.5 XML.
    CyclonedxXml,
    /// SPDX 2.3 JSON.
    Spdx,
}

/// `albs provenance …`
#[derive(Debug, Subcommand)]
pub enum ProvenanceCommand {
    /// Sign SLSA provenance for package files (one statement, all as subjects).
    Rpm {
        /// The packages.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Their platform.
        #[arg(long, default_value = "almalinux-9")]
        platform: String,
        /// Builder id written into the provenance.
        #[arg(long, default_value = "https://build.almalinux.org/albs")]
        builder: String,
        /// The signing key (from `albs ledger keygen`).
        #[arg(long, env = "ALBS_PROVENANCE_KEY", hide_env_values = true)]
        key: String,
    },
    /// Sign SLSA provenance for a build, from the ledger in the data directory.
    Build {
        /// Build id.
        build: u64,
        /// The build's platform.
        #[arg(long, default_value = "almalinux-9")]
        platform: String,
        /// URL of the build.
        #[arg(long)]
        url: Option<String>,
        /// Builder id written into the provenance.
        #[arg(long, default_value = "https://build.almalinux.org/albs")]
        builder: String,
        /// The signing key (from `albs ledger keygen`).
        #[arg(long, env = "ALBS_PROVENANCE_KEY", hide_env_values = true)]
        key: String,
    },
    /// Verify a DSSE envelope with a verifier key; optionally check that it
    /// covers package files.
    Verify {
        /// The envelope file.
        envelope: PathBuf,
        /// The verifier key (published out of band).
        #[arg(long)]
        key: String,
        /// Package files the provenance must name.
        #[arg(long = "rpm")]
        rpms: Vec<PathBuf>,
    },
}

fn write_json(path: &Path, a: &Advisory) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(&a.normalized())?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn print_advisory(a: &Advisory) {
    println!(
        "{}  {}  {}",
        a.id,
        a.kind,
        a.severity.map_or("-", Severity::as_str)
    );
    println!("  {}", a.title);
    println!(
        "  platform {}{}",
        a.platform,
        a.module
            .as_ref()
            .map_or(String::new(), |m| format!(", module {m}"))
    );
    let cves = a.all_cves();
    if !cves.is_empty() {
        println!("  CVEs: {}", cves.join(", "));
    }
    for p in &a.packages {
        println!(
            "  {}  key {}  sha256 {}",
            p.nevra,
            p.signing_key.as_deref().unwrap_or("(unsigned)"),
            p.sha256.map_or("-".into(), |s| s.to_hex())
        );
    }
}

fn rpm_files(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            for e in std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))? {
                let path = e?.path();
                if path.is_dir() {
                    out.extend(rpm_files(&[path])?);
                } else if path.extension().is_some_and(|x| x == "rpm") {
                    out.push(path);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `albs errata …`.
pub fn errata(cmd: ErrataCommand) -> anyhow::Result<ExitCode> {
    let platforms = Platforms::bundled();
    match cmd {
        ErrataCommand::New(a) => {
            let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
            let module = a
                .module
                .map(|m| {
                    let (name, stream) = m
                        .split_once(':')
                        .with_context(|| format!("--module {m:?} is not NAME:STREAM"))?;
                    anyhow::Ok(ModuleStream {
                        name: name.into(),
                        stream: stream.into(),
                        version: None,
                        context: None,
                    })
                })
                .transpose()?;
            let mut references: Vec<Reference> = a
                .cves
                .iter()
                .map(|c| Reference {
                    kind: ReferenceKind::Cve,
                    id: c.clone(),
                    href: format!("https://www.cve.org/CVERecord?id={c}"),
                    title: String::new(),
                })
                .collect();
            references.extend(a.bugs.iter().map(|b| Reference {
                kind: ReferenceKind::Bugzilla,
                id: b.rsplit(['=', '/']).next().unwrap_or(b).to_owned(),
                href: b.clone(),
                title: String::new(),
            }));
            let adv = Advisory {
                id: a.id,
                kind: a.kind,
                severity: a.severity,
                title: a.title,
                description: a.description,
                issued: now,
                updated: now,
                cves: a.cves,
                references,
                platform: a.platform,
                module,
                packages: vec![],
            };
            match adv.validate(&platforms) {
                Ok(()) | Err(ErrataError::NoPackages { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let path = a.dir.join(file_name(&adv.id));
            if path.exists() {
                bail!("{} exists; edit it or choose another id", path.display());
            }
            write_json(&path, &adv)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        ErrataCommand::Match {
            file,
            rpms,
            want,
            json,
        } => {
            let mut adv = read_advisory(&file)?;
            let wanted = want
                .iter()
                .map(|w| w.parse::<Wanted>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let built = rpm_files(&rpms)?
                .iter()
                .map(|p| built_package(p, &adv.platform))
                .collect::<Result<Vec<_>, _>>()?;
            let added = albs_oval::match_packages(&mut adv, &wanted, &built)?;
            adv.validate(&platforms)
                .with_context(|| format!("{} after matching", file.display()))?;
            write_json(&file, &adv)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&adv)?);
            } else {
                eprintln!("{added} package(s) added to {}", adv.id);
                print_advisory(&adv);
            }
            Ok(ExitCode::SUCCESS)
        }
        ErrataCommand::Show { file, json } => {
            let adv = read_advisory(&file)?;
            let check = adv.validate(&platforms);
            if json {
                println!("{}", serde_json::to_string_pretty(&adv)?);
            } else {
                print_advisory(&adv);
            }
            check.with_context(|| format!("{} is not ready to publish", file.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        ErrataCommand::Updateinfo {
            errata_dir,
            platform,
            repo,
        } => {
            let all: Vec<Advisory> = read_dir(&errata_dir)?
                .into_iter()
                .map(|(_, a)| a)
                .filter(|a| platform.as_ref().is_none_or(|p| &a.platform == p))
                .collect();
            for a in &all {
                a.validate(&platforms)?;
            }
            match repo {
                Some(repo) => {
                    let added = albs_oval::add_to_repo(&repo, &all)?;
                    println!("{}", added.path.display());
                    if added.removed_signature {
                        eprintln!(
                            "repodata/repomd.xml.asc was removed: it no longer matches; sign the repository again (albs repo sign)"
                        );
                    }
                }
                None => print!("{}", albs_oval::updateinfo_xml(&all)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs `albs oval …`.
pub fn oval(cmd: OvalCommand) -> anyhow::Result<ExitCode> {
    let OvalCommand::Export {
        errata_dir,
        platform,
        format,
        output,
    } = cmd;
    let all: Vec<Advisory> = read_dir(&errata_dir)?.into_iter().map(|(_, a)| a).collect();
    let text = match format {
        FeedFormat::Oval => albs_oval::oval_xml(&platform, &all, &Platforms::bundled())?,
        FeedFormat::Json => albs_oval::export::json_feed(&platform, &all),
        FeedFormat::Osv => {
            let mut o = String::new();
            for a in all.iter().filter(|a| a.platform == platform) {
                a.validate(&Platforms::bundled())?;
                o.push_str(&serde_json::to_string(&albs_oval::export::osv(a))?);
                o.push('\n');
            }
            o
        }
    };
    match output {
        Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The packages of a build from the ledger in the data directory.
async fn ledger_build(
    global: &crate::cli::Global,
    build: u64,
    platform: &str,
    url: Option<String>,
    checkpoint: Option<&Path>,
) -> anyhow::Result<Subject> {
    let ledger = albs_core::ledger::FileLedger::open(&global.data.join("ledger"))
        .context("opening the ledger")?;
    let note = match checkpoint {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let body = text.split("\n\n").next().unwrap_or_default().to_owned() + "\n";
            let size = albs_core::checkpoint::Checkpoint::parse_body(&body)
                .with_context(|| format!("{} is not a checkpoint note", p.display()))?
                .size;
            Some((text, size))
        }
        None => None,
    };
    let comps = albs_sbom::build_components(
        &ledger,
        build,
        url.as_deref(),
        note.as_ref().map(|(t, s)| (t.as_str(), *s)),
    )
    .await?;
    Ok(Subject::build(build, platform, url, comps))
}

/// Runs `albs sbom …`.
pub async fn sbom(global: &crate::cli::Global, cmd: SbomCommand) -> anyhow::Result<ExitCode> {
    let (subject, format) = match cmd {
        SbomCommand::Rpm {
            file,
            platform,
            format,
            ledger,
        } => {
            let mut c = Component::from_rpm(&file, &platform)?;
            if ledger {
                use albs_core::ledger::Ledger as _;
                let l = albs_core::ledger::FileLedger::open(&global.data.join("ledger"))
                    .context("opening the ledger")?;
                let index = *l.find_artifact(&c.sha256).await?.last().with_context(|| {
                    format!(
                        "the ledger in {} has no record of {} (sha256 {})",
                        global.data.display(),
                        file.display(),
                        c.sha256
                    )
                })?;
                let entry = l
                    .get(index)
                    .await?
                    .with_context(|| format!("ledger record {index} is missing"))?;
                c.attach_ledger(&entry, None)?;
            }
            (Subject::Package(Box::new(c)), format)
        }
        SbomCommand::Build {
            build,
            platform,
            url,
            checkpoint,
            format,
        } => (
            ledger_build(global, build, &platform, url, checkpoint.as_deref()).await?,
            format,
        ),
    };
    let text = match format {
        SbomFormat::CyclonedxJson => cyclonedx::to_json(&subject),
        SbomFormat::CyclonedxXml => cyclonedx::to_xml(&subject),
        SbomFormat::Spdx => spdx::to_json(&subject),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Runs `albs provenance …`.
pub async fn provenance(
    global: &crate::cli::Global,
    cmd: ProvenanceCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ProvenanceCommand::Build {
            build,
            platform,
            url,
            builder,
            key,
        } => {
            let signer = CheckpointSigner::from_signer_key(&key)
                .context("the key is not a signing key from `albs ledger keygen`")?;
            let subject = ledger_build(global, build, &platform, url, None).await?;
            let st = provenance::statement(&subject, &builder);
            println!(
                "{}",
                serde_json::to_string_pretty(&provenance::sign(&st, &signer))?
            );
            eprintln!("verifier key: {}", signer.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        ProvenanceCommand::Rpm {
            files,
            platform,
            builder,
            key,
        } => {
            let signer = CheckpointSigner::from_signer_key(&key)
                .context("the key is not a signing key from `albs ledger keygen`")?;
            let comps = files
                .iter()
                .map(|f| Component::from_rpm(f, &platform))
                .collect::<Result<Vec<_>, _>>()?;
            let subject = match <[Component; 1]>::try_from(comps) {
                Ok([one]) => Subject::Package(Box::new(one)),
                Err(comps) => Subject::build(0, &platform, None, comps),
            };
            let st = provenance::statement(&subject, &builder);
            println!(
                "{}",
                serde_json::to_string_pretty(&provenance::sign(&st, &signer))?
            );
            eprintln!("verifier key: {}", signer.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        ProvenanceCommand::Verify {
            envelope,
            key,
            rpms,
        } => {
            let text = std::fs::read_to_string(&envelope)
                .with_context(|| format!("reading {}", envelope.display()))?;
            let st = provenance::verify(&text, &key)?;
            for r in &rpms {
                let c = Component::from_rpm(r, "almalinux-9")?;
                if !provenance::covers(&st, &c.sha256) {
                    bail!(
                        "{} (sha256 {}) is not a subject of {}",
                        r.display(),
                        c.sha256,
                        envelope.display()
                    );
                }
            }
            let subjects = st["subject"].as_array().map_or(0, Vec::len);
            println!("OK: {} verified; {subjects} subject(s)", envelope.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
