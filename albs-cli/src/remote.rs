//! `albs submit`, `status`, `logs`, `cancel`, `restart`: talking to a server.

use std::process::ExitCode;
use std::time::Duration;

use albs_core::api::{BuildQuery, CreateBuild};
use albs_core::client::Client;
use albs_core::model::{Arch, Build, TaskKind, TaskState};
use albs_core::source::{GitRef, SourceRef};
use anyhow::Context;

use crate::cli::{LogsArgs, NodeAddArgs, Remote, StatusArgs, SubmitArgs};

fn client(remote: &Remote) -> Client {
    Client::new(&remote.server, remote.token.clone())
}

/// A ref for the server: URLs pass as given, local paths become absolute.
fn remote_source(text: &str, reference: Option<&str>) -> anyhow::Result<SourceRef> {
    if text.contains("://") {
        return Ok(if text.ends_with(".src.rpm") {
            SourceRef::Srpm { url: text.into() }
        } else {
            SourceRef::Git {
                url: text.into(),
                reference: reference.map(|r| GitRef::Auto(r.into())),
            }
        });
    }
    crate::build::parse_source(text, reference)
}

pub async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let c = client(&args.remote);
    let refs = args
        .sources
        .iter()
        .map(|s| remote_source(s, args.reference.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let arches = args
        .arches
        .iter()
        .map(|a| a.parse::<Arch>().with_context(|| format!("--arch {a}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let req = CreateBuild {
        platform: args.platform,
        arches,
        refs,
        options: albs_core::api::BuildOptions {
            timeout_secs: args.timeout,
            product: args.product,
            labels: vec![],
            dependency_order: args.dependency_order,
        },
    };
    let build = c.create_build(&req).await?;
    eprintln!("build {} submitted ({} tasks)", build.id, build.tasks.len());
    if !args.wait {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&build)?);
        } else {
            println!("{}", build.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let build = wait(&c, build.id).await?;
    if let Some(dir) = &args.download {
        std::fs::create_dir_all(dir)?;
        for t in &build.tasks {
            for a in &t.artifacts {
                // Names come from the package header the node read, checked
                // here to be plain file names before use.
                if a.name.contains('/') || a.name.starts_with('.') {
                    anyhow::bail!("artifact name {:?} is not a plain file name", a.name);
                }
                c.download(&a.sha256, &dir.join(&a.name)).await?;
            }
        }
    }
    print_build(&build, args.json)?;
    Ok(exit_for(&build))
}

async fn wait(c: &Client, id: u64) -> anyhow::Result<Build> {
    let mut last = String::new();
    loop {
        let b = c.build(id).await?;
        let line = summary(&b);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if b.state().is_final() {
            return Ok(b);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn summary(b: &Build) -> String {
    let count = |s: TaskState| b.tasks.iter().filter(|t| t.state == s).count();
    format!(
        "build {}: {} ({} succeeded, {} running, {} pending, {} failed)",
        b.id,
        b.state(),
        count(TaskState::Succeeded) + count(TaskState::Excluded),
        count(TaskState::Running),
        count(TaskState::Pending),
        count(TaskState::Failed) + count(TaskState::TimedOut) + count(TaskState::Cancelled),
    )
}

fn exit_for(b: &Build) -> ExitCode {
    if b.state() == TaskState::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_build(b: &Build, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(b)?);
        return Ok(());
    }
    println!(
        "build {} · {} · {} · {}",
        b.id,
        b.platform,
        b.owner,
        b.state()
    );
    for t in &b.tasks {
        let what = match &t.kind {
            TaskKind::Src => "src".to_owned(),
            TaskKind::Arch(a) => a.to_string(),
        };
        println!(
            "  task {:<6} {:<12} {:<8} {:<10} {}",
            t.id,
            t.package.as_deref().unwrap_or("?"),
            what,
            t.state,
            t.reason.as_deref().unwrap_or_default()
        );
        for a in &t.artifacts {
            println!("      {}  sha256:{}", a.name, a.sha256);
        }
    }
    Ok(())
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let c = client(&args.remote);
    match args.build {
        Some(id) => {
            let b = c.build(id).await?;
            print_build(&b, args.json)?;
        }
        None => {
            let page = c
                .builds(&BuildQuery {
                    limit: Some(args.limit),
                    ..BuildQuery::default()
                })
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                for b in &page.builds {
                    println!(
                        "{:<6} {:<10} {:<14} {:<10} {}",
                        b.id,
                        b.state,
                        b.platform,
                        b.owner,
                        b.packages.join(" ")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let c = client(&args.remote);
    let mut from = 0;
    loop {
        let chunk = c.log(args.task, from).await?;
        for l in &chunk.lines {
            println!("{l}");
        }
        from = chunk.next;
        if chunk.done || !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        if chunk.lines.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

pub async fn cancel(remote: &Remote, id: u64) -> anyhow::Result<ExitCode> {
    let b = client(remote).cancel_build(id).await?;
    println!("{}", summary(&b));
    Ok(ExitCode::SUCCESS)
}

pub async fn restart(remote: &Remote, id: u64) -> anyhow::Result<ExitCode> {
    let b = client(remote).restart_build(id).await?;
    println!("{}", summary(&b));
    Ok(ExitCode::SUCCESS)
}

pub async fn node_add(args: NodeAddArgs) -> anyhow::Result<ExitCode> {
    let arches = if args.arches.is_empty() {
        vec![Arch::host()]
    } else {
        args.arches
            .iter()
            .map(|a| a.parse::<Arch>().with_context(|| format!("--arch {a}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let reg = client(&args.remote)
        .register_node(&albs_core::api::RegisterNode {
            name: args.name.clone(),
            arches,
            labels: args.labels,
            capacity: args.capacity,
            excluded_packages: args.excluded_packages,
        })
        .await?;
    eprintln!(
        "node {} registered (id {}); its token follows, shown once",
        args.name, reg.id
    );
    println!("{}", reg.token);
    Ok(ExitCode::SUCCESS)
}
