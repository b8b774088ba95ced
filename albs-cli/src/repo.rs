//! `albs repo`: rpm-md repositories published incrementally and atomically,
//! with `repomd.xml.asc` signed by an albs-sign key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use albs_core::repo::{MdCompression, Published, Repo, RetainPolicy, verify_repo};
use albs_sign::{Keyring, Passphrase, SigningKey};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};

/// The environment variable the keyring passphrase is read from.
pub const PASSPHRASE_ENV: &str = "ALBS_SIGN_PASSPHRASE";

/// `albs repo …`.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Write repodata for every .rpm under DIR (createrepo-style); on a
    /// repository already published, only new or changed files are read.
    Create {
        /// The repository directory.
        dir: PathBuf,
        /// Metadata compression.
        #[arg(long, value_name = "gz|zst")]
        compress: Option<MdCompression>,
        /// Retention and signing.
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// Add packages (copied into DIR/Packages/ when outside DIR) and publish.
    Add {
        /// The repository directory.
        dir: PathBuf,
        /// The packages.
        #[arg(required = true)]
        rpms: Vec<PathBuf>,
        /// Retention and signing.
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// Remove packages by NEVRA (name-[epoch:]version-release.arch) or path
    /// and publish; the files stay on disk.
    Remove {
        /// The repository directory.
        dir: PathBuf,
        /// The packages.
        #[arg(required = true, value_name = "NEVRA")]
        nevras: Vec<String>,
        /// Retention and signing.
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// Sign the served repomd.xml: writes repodata/repomd.xml.asc.
    Sign {
        /// The repository directory.
        dir: PathBuf,
        /// The key.
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Serve the previous generation again (repomd.xml and its signature
    /// restored byte for byte).
    Revert {
        /// The repository directory.
        dir: PathBuf,
    },
    /// Check that every file repomd.xml names is there with its checksums.
    Verify {
        /// The repository directory.
        dir: PathBuf,
    },
    /// List the packages of the repository.
    List {
        /// The repository directory.
        dir: PathBuf,
    },
}

/// Which key signs, and how to unlock it.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The albs-sign keyring (secret keys encrypted at rest).
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Fingerprint of the key (default: the keyring's only key).
    #[arg(long, value_name = "FPR", requires = "keyring")]
    pub key: Option<String>,
    /// Read the passphrase from this file (default: the ALBS_SIGN_PASSPHRASE
    /// environment variable).
    #[arg(long, value_name = "FILE", requires = "keyring")]
    pub passphrase_file: Option<PathBuf>,
}

/// How a publish keeps old generations and signs the new one.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Keep at least this many generations (saved with the repository;
    /// default 3).
    #[arg(long)]
    pub keep: Option<usize>,
    /// Keep a superseded generation's files this many seconds (saved with
    /// the repository; default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
    /// Sign repomd.xml with a key of this keyring as it is published.
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Unlocks the key `args` name, if any.
fn signing_key(args: &KeyArgs) -> anyhow::Result<Option<SigningKey>> {
    let Some(path) = &args.keyring else {
        return Ok(None);
    };
    let ring =
        Keyring::open(path).with_context(|| format!("opening keyring {}", path.display()))?;
    let fpr = match &args.key {
        Some(f) => f.clone(),
        None => match ring.fingerprints().as_slice() {
            [one] => one.clone(),
            [] => bail!("keyring {} holds no key", path.display()),
            many => bail!(
                "keyring {} holds {} keys ({}): choose one with --key",
                path.display(),
                many.len(),
                many.join(", ")
            ),
        },
    };
    let pass = match &args.passphrase_file {
        Some(f) => Passphrase::from_file(f)?,
        None => Passphrase::from_env(PASSPHRASE_ENV)?,
    };
    Ok(Some(ring.unlock(&fpr, &pass)?))
}

fn open(dir: &Path, publish: Option<&PublishArgs>) -> anyhow::Result<Repo> {
    let mut repo =
        Repo::open(dir).with_context(|| format!("opening repository {}", dir.display()))?;
    if let Some(p) = publish
        && (p.keep.is_some() || p.grace.is_some())
    {
        let now = repo.retain();
        repo.set_retain(RetainPolicy {
            generations: p.keep.unwrap_or(now.generations),
            grace: p.grace.map_or(now.grace, Duration::from_secs),
        });
    }
    Ok(repo)
}

/// Lets go of `repo` as the command ends without freeing its index entry
/// by entry (tens of thousands of strings for a large repository): the
/// process exits next, which releases the memory and the lock at once.
/// Everything on disk was made durable by the commit.
fn exiting(repo: Repo) {
    std::mem::forget(repo);
}

/// Stages, signs when a key is given, and commits.
fn publish(repo: &mut Repo, key: Option<&SigningKey>) -> anyhow::Result<Published> {
    let staged = repo.stage()?;
    let signature = match key {
        Some(k) if !staged.unchanged() || !repo.dir().join("repodata/repomd.xml.asc").exists() => {
            Some(k.sign_detached(staged.repomd())?)
        }
        _ => None,
    };
    Ok(repo.commit(staged, signature.as_deref())?)
}

fn report(dir: &Path, p: &Published) {
    if p.changed {
        eprintln!(
            "{}: generation {} with {} packages{}",
            dir.display(),
            p.generation,
            p.packages,
            if p.signed { ", signed" } else { "" }
        );
    } else {
        eprintln!(
            "{}: unchanged (generation {}, {} packages)",
            dir.display(),
            p.generation,
            p.packages
        );
    }
    if !p.pruned.is_empty() {
        eprintln!("pruned {} old metadata files", p.pruned.len());
    }
}

/// Runs `albs repo …`.
pub fn run(cmd: RepoCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RepoCommand::Create {
            dir,
            compress,
            publish: args,
        } => {
            let key = signing_key(&args.key)?;
            let mut repo = open(&dir, Some(&args))?;
            if let Some(c) = compress {
                repo.set_compression(c);
            }
            let s = repo.sync()?;
            eprintln!(
                "read {} packages, reused {}, dropped {}",
                s.read, s.reused, s.removed
            );
            let p = publish(&mut repo, key.as_ref())?;
            report(&dir, &p);
            exiting(repo);
        }
        RepoCommand::Add {
            dir,
            rpms,
            publish: args,
        } => {
            let key = signing_key(&args.key)?;
            let mut repo = open(&dir, Some(&args))?;
            let mut inside = Vec::new();
            for rpm in &rpms {
                let abs = rpm
                    .canonicalize()
                    .with_context(|| format!("reading {}", rpm.display()))?;
                if abs.starts_with(repo.dir()) {
                    inside.push(abs);
                } else {
                    let name = abs
                        .file_name()
                        .with_context(|| format!("{} has no file name", rpm.display()))?;
                    let to = repo.dir().join("Packages").join(name);
                    std::fs::create_dir_all(repo.dir().join("Packages"))?;
                    std::fs::copy(&abs, &to).with_context(|| {
                        format!("copying {} to {}", rpm.display(), to.display())
                    })?;
                    inside.push(to);
                }
            }
            for n in repo.add(&inside)? {
                eprintln!("added {n}");
            }
            let p = publish(&mut repo, key.as_ref())?;
            report(&dir, &p);
            exiting(repo);
        }
        RepoCommand::Remove {
            dir,
            nevras,
            publish: args,
        } => {
            let key = signing_key(&args.key)?;
            let mut repo = open(&dir, Some(&args))?;
            for n in repo.remove(&nevras)? {
                eprintln!("removed {n}");
            }
            let p = publish(&mut repo, key.as_ref())?;
            report(&dir, &p);
            exiting(repo);
        }
        RepoCommand::Sign { dir, key } => {
            if key.keyring.is_none() {
                bail!("albs repo sign needs --keyring FILE");
            }
            let key = signing_key(&key)?.expect("a keyring was given");
            let mut repo = open(&dir, None)?;
            let repomd = dir.join("repodata/repomd.xml");
            let bytes = std::fs::read(&repomd)
                .with_context(|| format!("reading {}: publish first", repomd.display()))?;
            let asc = key.sign_detached(&bytes)?;
            repo.attach_signature(&asc)?;
            eprintln!("signed {} with {}", repomd.display(), key.fingerprint());
        }
        RepoCommand::Revert { dir } => {
            let mut repo = open(&dir, None)?;
            let p = repo.revert()?;
            eprintln!(
                "{}: serving generation {} again ({} packages)",
                dir.display(),
                p.generation,
                p.packages
            );
        }
        RepoCommand::Verify { dir } => {
            for f in verify_repo(&dir)? {
                println!("{} {} ok", f.kind, f.href);
            }
        }
        RepoCommand::List { dir } => {
            let repo = open(&dir, None)?;
            for p in repo.packages() {
                println!("{}\t{}", p.nevra, p.href);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
