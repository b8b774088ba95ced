//! `albs build` and `albs platform`: the local pipeline with progress bars.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use albs_core::build::{LogStream, RpmbuildExecutor, Sandbox};
use albs_core::ledger::FileLedger;
use albs_core::model::Arch;
use albs_core::pipeline::{
    LocalPipeline, PipelineEvents, PipelineReport, PipelineRequest, RpmspecReader, Step,
};
use albs_core::platform::Platforms;
use albs_core::source::{GitFetcher, GitRef, Lookaside, SourceRef};
use albs_core::store::{ArtifactStore, DirStore};
use albs_core::test::IntegrityTester;
use albs_core::{Artifact, TaskState};
use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::{BuildArgs, Global, PlatformCommand};

/// The platforms: bundled, then DATA/platforms.toml, then --platforms.
pub fn load_platforms(global: &Global) -> anyhow::Result<Platforms> {
    let mut p = Platforms::bundled();
    let in_data = global.data.join("platforms.toml");
    if in_data.exists() {
        p.add_file(&in_data)?;
    }
    if let Some(file) = &global.platforms {
        p.add_file(file)?;
    }
    Ok(p)
}

pub fn platforms(global: &Global, cmd: PlatformCommand) -> anyhow::Result<ExitCode> {
    let p = load_platforms(global)?;
    match cmd {
        PlatformCommand::List { json } => {
            if json {
                let all: Vec<_> = p.iter().collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for pl in p.iter() {
                    let arches: Vec<&str> = pl.arches.iter().map(Arch::as_str).collect();
                    println!("{:<16} {:<8} {}", pl.name, pl.dist_tag, arches.join(" "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Turns a command-line source into a ref: `*.src.rpm` is an SRPM, anything
/// else a git repository; relative paths become absolute.
pub(crate) fn parse_source(text: &str, reference: Option<&str>) -> anyhow::Result<SourceRef> {
    let is_url = text.contains("://");
    let url = if is_url {
        text.to_owned()
    } else {
        std::path::absolute(text)
            .with_context(|| format!("{text} is not a usable path"))?
            .display()
            .to_string()
    };
    if text.ends_with(".src.rpm") {
        if reference.is_some() {
            anyhow::bail!("--ref applies to git repositories, not to the SRPM {text}");
        }
        return Ok(SourceRef::Srpm { url });
    }
    if !is_url && !Path::new(&url).exists() {
        anyhow::bail!("{text} does not exist: give a git repository path or URL");
    }
    Ok(SourceRef::Git {
        url,
        reference: reference.map(|r| GitRef::Auto(r.to_owned())),
    })
}

pub(crate) fn parse_lookaside(text: &str) -> Lookaside {
    if text.starts_with("http://") || text.starts_with("https://") {
        Lookaside::Http(text.trim_end_matches('/').to_owned())
    } else {
        Lookaside::Dir(PathBuf::from(text))
    }
}

/// One produced file, as printed.
#[derive(Serialize)]
struct Produced<'a> {
    #[serde(flatten)]
    artifact: &'a Artifact,
    arch: String,
    path: PathBuf,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a PipelineReport,
    files: Vec<Produced<'a>>,
}

pub async fn run(global: &Global, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let platforms = load_platforms(global)?;
    let platform = platforms.get(&args.platform)?.clone();
    let arches: Vec<Arch> = if args.arches.is_empty() {
        vec![Arch::host()]
    } else {
        args.arches
            .iter()
            .map(|a| a.parse().with_context(|| format!("--arch {a}")))
            .collect::<anyhow::Result<_>>()?
    };
    let sources = args
        .sources
        .iter()
        .map(|s| parse_source(s, args.reference.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let data = &global.data;
    std::fs::create_dir_all(data)
        .with_context(|| format!("creating the data directory {}", data.display()))?;
    let store = Arc::new(DirStore::open(data.join("artifacts"))?);
    let ledger = Arc::new(FileLedger::open(&data.join("ledger")).context("opening the ledger")?);
    let lookaside = match &args.lookaside {
        Some(l) => parse_lookaside(l),
        None => Lookaside::Dir(data.join("lookaside")),
    };
    let sandbox = if args.no_sandbox {
        Sandbox::None
    } else {
        Sandbox::detect()
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling: stopping the running build");
                cancel.cancel();
            }
        });
    }
    let pipeline = LocalPipeline {
        fetcher: Arc::new(GitFetcher::new(lookaside)),
        executor: Arc::new(RpmbuildExecutor::new(sandbox)),
        store: store.clone(),
        ledger,
        specs: Some(Arc::new(RpmspecReader)),
        tester: if args.no_test {
            None
        } else {
            Some(Arc::new(IntegrityTester))
        },
        work_dir: data.join("work"),
        host: hostname(),
        cancel,
    };
    let req = PipelineRequest {
        platform,
        arches,
        sources,
        timeout: Duration::from_secs(args.timeout),
    };
    let progress = Arc::new(Progress::new(&req.sources, args.json));
    let report = pipeline.run(&req, progress.clone()).await?;
    progress.finish();

    let results = data.join("results").join(&req.platform.name);
    let files = link_results(&report, store.as_ref(), &results)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&JsonOut {
                report: &report,
                files,
            })?
        );
    } else {
        print_report(&report, &files);
        println!(
            "ledger: {} records, tree head {}",
            report.ledger_size, report.ledger_root
        );
        println!("results: {}", results.display());
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Places every package under `results/<arch>/<file name>` (a hard link to
/// the store, or a copy) and lists them.
fn link_results<'a>(
    report: &'a PipelineReport,
    store: &DirStore,
    results: &Path,
) -> anyhow::Result<Vec<Produced<'a>>> {
    let mut out = Vec::new();
    let mut place = |artifact: &'a Artifact, arch: &str| -> anyhow::Result<()> {
        let blob = store
            .local_path(&artifact.sha256)
            .context("the directory store has local paths")?;
        let dir = results.join(arch);
        std::fs::create_dir_all(&dir)?;
        // The file name comes from the package header (NEVRA), never from input paths.
        let path = dir.join(&artifact.name);
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(&blob, &path).is_err() {
            std::fs::copy(&blob, &path)
                .with_context(|| format!("copying {} to {}", blob.display(), path.display()))?;
        }
        out.push(Produced {
            artifact,
            arch: arch.to_owned(),
            path,
        });
        Ok(())
    };
    for r in &report.refs {
        if let Some(srpm) = &r.srpm {
            place(srpm, "src")?;
        }
        for a in &r.arches {
            for rpm in &a.rpms {
                place(rpm, a.arch.as_str())?;
            }
        }
    }
    Ok(out)
}

fn print_report(report: &PipelineReport, files: &[Produced<'_>]) {
    for &i in &report.order {
        let r = &report.refs[i];
        let name = r.name.clone().unwrap_or_else(|| r.source.to_string());
        let mark = if r.succeeded() { "✔" } else { "✘" };
        let commit = r
            .commit
            .as_deref()
            .map(|c| format!(" @ {}", &c[..c.len().min(12)]))
            .unwrap_or_default();
        println!("{mark} {name}{commit}");
        if let Some(reason) = &r.reason {
            println!("    {}: {reason}", r.state);
            for line in &r.log_tail {
                println!("    | {line}");
            }
        }
        for a in &r.arches {
            if a.state != TaskState::Succeeded {
                println!(
                    "    {}: {} {}",
                    a.arch,
                    a.state,
                    a.reason.as_deref().unwrap_or_default()
                );
                for line in a.log_tail.iter().rev().take(12).rev() {
                    println!("    | {line}");
                }
            }
        }
        let mine: Vec<&Produced<'_>> = files
            .iter()
            .filter(|f| {
                r.srpm.as_ref() == Some(f.artifact)
                    || r.arches.iter().any(|a| {
                        a.arch.as_str() == f.arch && a.rpms.iter().any(|x| x == f.artifact)
                    })
            })
            .collect();
        for f in mine {
            let nevra = f
                .artifact
                .nevra
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            println!(
                "    {:<44} sha256:{}  {}",
                nevra,
                f.artifact.sha256,
                f.path.display()
            );
        }
    }
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// indicatif spinners, one per ref, showing its step and last log line.
struct Progress {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    steps: Mutex<Vec<String>>,
}

impl Progress {
    fn new(sources: &[SourceRef], quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
            .expect("valid template");
        let bars = sources
            .iter()
            .map(|s| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(short_name(s));
                b.set_message("waiting");
                b.enable_steady_tick(Duration::from_millis(120));
                b
            })
            .collect();
        Progress {
            multi,
            bars,
            steps: Mutex::new(vec![String::new(); sources.len()]),
        }
    }

    fn finish(&self) {
        for b in &self.bars {
            b.finish();
        }
        let _ = self.multi.clear();
    }
}

fn short_name(s: &SourceRef) -> String {
    let url = s.url().trim_end_matches('/');
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

impl PipelineEvents for Progress {
    fn step(&self, index: usize, _source: &SourceRef, step: &Step) {
        let text = match step {
            Step::Fetching => "fetching sources".to_owned(),
            Step::Fetched { commit, .. } => format!(
                "fetched{}",
                commit
                    .as_deref()
                    .map(|c| format!(" {}", &c[..c.len().min(12)]))
                    .unwrap_or_default()
            ),
            Step::BuildingSrpm => "building SRPM".to_owned(),
            Step::BuildingRpms(a) => format!("building RPMs for {a}"),
            Step::Testing(a) => format!("testing {a}"),
            Step::Done(s) => format!("{s}"),
        };
        if let Some(b) = self.bars.get(index) {
            b.set_message(text.clone());
            if matches!(step, Step::Done(_)) {
                b.finish();
            }
        }
        if let Some(s) = self.steps.lock().expect("progress lock").get_mut(index) {
            *s = text;
        }
    }

    fn log(&self, index: usize, _stream: LogStream, line: &str) {
        let step = self
            .steps
            .lock()
            .expect("progress lock")
            .get(index)
            .cloned()
            .unwrap_or_default();
        if let Some(b) = self.bars.get(index) {
            let line: String = line.chars().take(80).collect();
            b.set_message(format!("{step}: {line}"));
        }
    }

    fn warn(&self, message: &str) {
        let _ = self.multi.println(format!("warning: {message}"));
    }
}
