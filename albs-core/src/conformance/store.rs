//! The [`Store`] suite, and fixtures for tests and benchmarks of stores.
//!
//! [`store`] runs every section on one store that starts empty. Each section
//! uses its own owners, packages and node names, and cancels or completes
//! what it started, so later sections see no pending or running task of an
//! earlier one. Times are explicit (from [`T0`]); nothing sleeps.

use std::collections::HashSet;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::api::{BuildQuery, TaskResult};
use crate::db::{DbError, NewBuild, NewNode, Node, RetryPolicy, Store, TokenLookup};
use crate::evr::Nevra;
use crate::hash::Sha256;
use crate::model::{Arch, Artifact, ArtifactKind, BuildOptions, BuildTask, TaskKind, TaskState};
use crate::plan::{plan, plan_with};
use crate::platform::Platforms;
use crate::source::SourceRef;

/// The time every section starts from.
pub const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// The lease the suite claims with.
const LEASE: Duration = Duration::from_secs(60);

/// The task timeout of the suite's builds.
const TIMEOUT: u64 = 3600;

/// A task id no store has.
const NO_SUCH_TASK: u64 = 999_999_999;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn arch(a: &str) -> Arch {
    a.parse().unwrap()
}

/// The dist-git ref of package `name`.
pub fn git_ref(name: &str) -> SourceRef {
    SourceRef::Git {
        url: format!("https://git.example/rpms/{name}"),
        reference: None,
    }
}

/// A build of `packages` for `arches` on almalinux-9, planned by
/// [`crate::plan::plan`].
pub fn new_build(owner: &str, packages: &[&str], arches: &[&str]) -> NewBuild {
    let refs: Vec<SourceRef> = packages.iter().map(|p| git_ref(p)).collect();
    let arches: Vec<Arch> = arches.iter().map(|a| arch(a)).collect();
    NewBuild {
        platform: "almalinux-9".into(),
        tasks: plan(&refs, &arches),
        arches,
        refs,
        owner: owner.into(),
        options: BuildOptions::default(),
        timeout_secs: TIMEOUT,
    }
}

/// Registers a node named `name` whose token hashes to `Sha256::of(name)`.
pub async fn add_node(
    s: &dyn Store,
    name: &str,
    arches: &[&str],
    labels: &[&str],
    excluded: &[&str],
) -> Node {
    let req = NewNode {
        name: name.into(),
        arches: arches.iter().map(|a| arch(a)).collect(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        capacity: 1,
        excluded_packages: excluded.iter().map(|p| p.to_string()).collect(),
    };
    s.register_node(&req, &Sha256::of(name.as_bytes()), T0)
        .await
        .unwrap_or_else(|e| panic!("registering node {name}: {e}"))
}

/// Puts the bundled platforms into the store (again, harmlessly).
pub async fn put_bundled_platforms(s: &dyn Store) {
    for p in Platforms::bundled().iter() {
        s.put_platform(p).await.unwrap();
    }
}

/// Queues `builds` builds of `refs_per_build` src-only tasks each for
/// `owner` (one queue); returns the task ids. For load tests.
pub async fn queue_src_tasks(
    s: &dyn Store,
    owner: &str,
    builds: usize,
    refs_per_build: usize,
) -> Vec<u64> {
    put_bundled_platforms(s).await;
    let mut ids = Vec::with_capacity(builds * refs_per_build);
    for b in 0..builds {
        let names: Vec<String> = (0..refs_per_build)
            .map(|r| format!("{owner}-b{b}-r{r}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let build = s
            .create_build(&new_build(owner, &names, &[]), T0)
            .await
            .unwrap();
        ids.extend(build.tasks.iter().map(|t| t.id));
    }
    ids
}

fn srpm(name: &str) -> Artifact {
    let nevra: Nevra = format!("{name}-1.0-1.el9.src").parse().unwrap();
    Artifact {
        sha256: Sha256::of(nevra.to_string().as_bytes()),
        size: 1234,
        name: nevra.file_name(),
        kind: ArtifactKind::Srpm,
        nevra: Some(nevra),
    }
}

fn rpm(name: &str, arch: &str) -> Artifact {
    let nevra: Nevra = format!("{name}-1.0-1.el9.{arch}").parse().unwrap();
    Artifact {
        sha256: Sha256::of(nevra.to_string().as_bytes()),
        size: 4321,
        name: nevra.file_name(),
        kind: ArtifactKind::Rpm,
        nevra: Some(nevra),
    }
}

fn log_artifact(text: &str) -> Artifact {
    Artifact {
        sha256: Sha256::of(text.as_bytes()),
        size: text.len() as u64,
        name: "build.log".into(),
        kind: ArtifactKind::Log,
        nevra: None,
    }
}

fn ended(state: TaskState, reason: Option<&str>, artifacts: Vec<Artifact>) -> TaskResult {
    TaskResult {
        state,
        reason: reason.map(str::to_owned),
        artifacts,
        noarch: false,
        commit: None,
        build_requires: vec![],
        produces: vec![],
    }
}

fn succeeded(artifacts: Vec<Artifact>) -> TaskResult {
    ended(TaskState::Succeeded, None, artifacts)
}

fn failed(reason: &str) -> TaskResult {
    ended(TaskState::Failed, Some(reason), vec![])
}

async fn get(s: &dyn Store, id: u64) -> crate::model::Build {
    s.build(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("build {id} exists"))
}

async fn task(s: &dyn Store, build: u64, task: u64) -> BuildTask {
    get(s, build)
        .await
        .tasks
        .into_iter()
        .find(|t| t.id == task)
        .unwrap_or_else(|| panic!("task {task} is in build {build}"))
}

/// Claims and expects a task.
async fn claim_some(s: &dyn Store, node: &Node, now: OffsetDateTime) -> crate::db::Claim {
    s.claim(node, now, LEASE)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("node {} gets a task at {now}", node.name))
}

/// Claims and expects nothing.
async fn claim_none(s: &dyn Store, node: &Node, now: OffsetDateTime, why: &str) {
    if let Some(c) = s.claim(node, now, LEASE).await.unwrap() {
        panic!(
            "node {} got task {} ({:?} of build {}) but should not: {why}",
            node.name, c.task.id, c.task.kind, c.task.build_id
        );
    }
}

/// The build's state, checked against the state the list shows and
/// filters by (the store keeps it in a column).
async fn check_state(s: &dyn Store, id: u64) -> TaskState {
    let b = get(s, id).await;
    let want = b.state();
    let page = s
        .list_builds(&BuildQuery {
            owner: Some(b.owner.clone()),
            status: Some(want),
            limit: Some(500),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    let row = page.builds.iter().find(|r| r.id == id);
    assert!(
        row.is_some_and(|r| r.state == want),
        "build {id} is {want} by its tasks, and the list filtered by that state shows it so: {:?}",
        page.builds
    );
    want
}

/// Cancels a build and completes its running tasks as cancelled by their
/// nodes, so that nothing of it is left pending or running.
async fn finish(s: &dyn Store, id: u64) {
    let b = s.cancel_build(id, T0).await.unwrap();
    let nodes = s.nodes().await.unwrap();
    for t in b.tasks.iter().filter(|t| t.state == TaskState::Running) {
        let node = nodes
            .iter()
            .find(|n| Some(&n.name) == t.node.as_ref())
            .expect("a running task names its node");
        s.complete(
            node.id,
            t.id,
            &ended(TaskState::Cancelled, None, vec![]),
            T0,
        )
        .await
        .unwrap();
    }
    assert!(
        get(s, id).await.tasks.iter().all(|t| t.state.is_final()),
        "finish ends every task"
    );
}

fn owners_of(s: &[(u64, String)]) -> Vec<&str> {
    s.iter().map(|(_, o)| o.as_str()).collect()
}

/// The whole suite, on a store that starts empty.
pub async fn store(s: &dyn Store) {
    platforms(s).await;
    users_and_tokens(s).await;
    nodes(s).await;
    builds_and_lists(s).await;
    claims_follow_the_rules(s).await;
    fairness(s).await;
    leases(s).await;
    completion(s).await;
    src_failure_and_restart(s).await;
    noarch(s).await;
    dependency_order(s).await;
    cancel(s).await;
    logs(s).await;
    delete(s).await;
    tags(s).await;
}

/// Platforms round trip, sorted by name; a put replaces.
pub async fn platforms(s: &dyn Store) {
    let bundled = Platforms::bundled();
    put_bundled_platforms(s).await;
    let mut want: Vec<_> = bundled.iter().cloned().collect();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(s.platforms().await.unwrap(), want, "platforms round trip");
    let el9 = bundled.get("almalinux-9").unwrap().clone();
    assert_eq!(s.platform("almalinux-9").await.unwrap(), Some(el9.clone()));
    assert_eq!(s.platform("fedora-40").await.unwrap(), None);
    let mut changed = el9.clone();
    changed.timeout_secs = Some(7200);
    changed.dist_tag = ".el9_test".into();
    s.put_platform(&changed).await.unwrap();
    assert_eq!(
        s.platform("almalinux-9").await.unwrap(),
        Some(changed),
        "a put replaces"
    );
    assert_eq!(s.platforms().await.unwrap().len(), want.len());
    s.put_platform(&el9).await.unwrap();
}

/// Users have unique names; tokens are valid, expired or unknown.
pub async fn users_and_tokens(s: &dyn Store) {
    let alice = s.create_user("alice", false).await.unwrap();
    let root = s.create_user("root-admin", true).await.unwrap();
    assert_ne!(alice.id, root.id);
    assert_eq!((alice.name.as_str(), alice.admin), ("alice", false));
    assert!(root.admin);
    assert!(
        matches!(
            s.create_user("alice", true).await,
            Err(DbError::Conflict { what: "user", .. })
        ),
        "user names are unique"
    );
    let forever = Sha256::of(b"alice's token");
    s.add_user_token(alice.id, &forever, None).await.unwrap();
    let hour = Sha256::of(b"root's token");
    s.add_user_token(root.id, &hour, Some(T0 + secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        s.user_by_token(&forever, T0 + secs(10 * 365 * 86400))
            .await
            .unwrap(),
        TokenLookup::Valid(alice.clone())
    );
    assert_eq!(
        s.user_by_token(&hour, T0 + secs(3599)).await.unwrap(),
        TokenLookup::Valid(root.clone())
    );
    assert_eq!(
        s.user_by_token(&hour, T0 + secs(3600)).await.unwrap(),
        TokenLookup::Expired,
        "a token is expired from its expiry time on"
    );
    assert_eq!(
        s.user_by_token(&Sha256::of(b"made up"), T0).await.unwrap(),
        TokenLookup::Unknown
    );
    assert!(
        matches!(
            s.add_user_token(alice.id + root.id + 1000, &Sha256::of(b"x"), None)
                .await,
            Err(DbError::NotFound { what: "user", .. })
        ),
        "a token needs its user"
    );
    assert!(
        matches!(
            s.add_user_token(root.id, &forever, None).await,
            Err(DbError::Conflict { .. })
        ),
        "a token hash is unique"
    );
}

/// Nodes register with unique names and are found by token.
pub async fn nodes(s: &dyn Store) {
    let n = add_node(s, "conf-node", &["x86_64", "i686"], &["big"], &["kernel"]).await;
    assert_eq!(n.name, "conf-node");
    assert_eq!(n.arches, vec![arch("x86_64"), arch("i686")]);
    assert_eq!(n.labels, vec!["big".to_string()]);
    assert_eq!(n.excluded_packages, vec!["kernel".to_string()]);
    assert_eq!(n.capacity, 1);
    assert_eq!(n.last_seen, Some(T0));
    let again = NewNode {
        name: "conf-node".into(),
        arches: vec![],
        labels: vec![],
        capacity: 1,
        excluded_packages: vec![],
    };
    assert!(
        matches!(
            s.register_node(&again, &Sha256::of(b"other"), T0).await,
            Err(DbError::Conflict { what: "node", .. })
        ),
        "node names are unique"
    );
    assert_eq!(
        s.node_by_token(&Sha256::of(b"conf-node")).await.unwrap(),
        Some(n.clone())
    );
    assert_eq!(s.node_by_token(&Sha256::of(b"nobody")).await.unwrap(), None);
    assert!(s.nodes().await.unwrap().contains(&n));
}

/// Builds round trip with their planned tasks; the list filters by owner,
/// platform, package, state and time, newest first, page by page.
pub async fn builds_and_lists(s: &dyn Store) {
    let mut nb = new_build("lister", &["bash", "zlib"], &["x86_64", "aarch64"]);
    nb.options = BuildOptions {
        timeout_secs: Some(99),
        product: Some("almalinux".into()),
        labels: vec![],
        dependency_order: false,
    };
    let b = s.create_build(&nb, T0).await.unwrap();
    assert_eq!(b.platform, "almalinux-9");
    assert_eq!(b.owner, "lister");
    assert_eq!(b.arches, nb.arches);
    assert_eq!(b.refs, nb.refs);
    assert_eq!(b.options, nb.options);
    assert_eq!(b.created, T0, "creation time round trips");
    assert_eq!(b.tasks.len(), 6);
    for (t, p) in b.tasks.iter().zip(&nb.tasks) {
        assert_eq!(t.build_id, b.id);
        assert_eq!(t.kind, p.kind);
        assert_eq!(t.ref_index, p.ref_index);
        assert_eq!(t.package, p.package);
        assert_eq!(t.state, TaskState::Pending);
        assert_eq!((t.attempts, t.reason.as_deref()), (0, None));
        assert!(t.artifacts.is_empty() && t.node.is_none());
        let want: Vec<u64> = p.depends_on.iter().map(|&i| b.tasks[i].id).collect();
        assert_eq!(t.depends_on, want, "dependencies are task ids");
    }
    let ids: HashSet<u64> = b.tasks.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 6, "task ids are unique");
    assert_eq!(
        s.build(b.id).await.unwrap(),
        Some(b.clone()),
        "get = create"
    );
    assert_eq!(s.build(b.id + 1_000_000).await.unwrap(), None);
    assert_eq!(check_state(s, b.id).await, TaskState::Pending);
    let mut el8 = new_build("lister", &["bash"], &["x86_64"]);
    el8.platform = "almalinux-8".into();
    let b8 = s.create_build(&el8, T0 + secs(1)).await.unwrap();
    let mut unknown = new_build("lister", &["bash"], &[]);
    unknown.platform = "fedora-40".into();
    assert!(
        matches!(
            s.create_build(&unknown, T0).await,
            Err(DbError::NotFound {
                what: "platform",
                ..
            })
        ),
        "a build needs a known platform"
    );
    let q = |f: fn(&mut BuildQuery)| {
        let mut q = BuildQuery {
            owner: Some("lister".into()),
            ..BuildQuery::default()
        };
        f(&mut q);
        q
    };
    let page = s
        .list_builds(&q(|q| q.platform = Some("almalinux-8".into())))
        .await
        .unwrap();
    assert_eq!(
        page.builds.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b8.id],
        "platform filter"
    );
    let all = s.list_builds(&q(|_| {})).await.unwrap();
    assert_eq!(
        all.builds.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b8.id, b.id],
        "newest first"
    );
    let row = &all.builds[1];
    assert_eq!(row.packages, vec!["bash".to_string(), "zlib".to_string()]);
    assert_eq!(
        (
            row.platform.as_str(),
            row.owner.as_str(),
            row.state,
            row.created
        ),
        ("almalinux-9", "lister", TaskState::Pending, T0)
    );
    assert_eq!(all.next, None);

    // Seven builds a minute apart, for pages and time filters.
    let mut pager = Vec::new();
    for i in 0..7u64 {
        let pkg = if i % 2 == 0 {
            "pager-even"
        } else {
            "pager-odd"
        };
        let nb = new_build("pager", &[pkg], &["x86_64"]);
        pager.push(s.create_build(&nb, T0 + secs(60 * i)).await.unwrap().id);
    }
    let by_pager = |f: fn(&mut BuildQuery)| {
        let mut q = BuildQuery {
            owner: Some("pager".into()),
            ..BuildQuery::default()
        };
        f(&mut q);
        q
    };
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let mut q = by_pager(|q| q.limit = Some(3));
        q.before = before;
        let page = s.list_builds(&q).await.unwrap();
        pages += 1;
        assert!(page.builds.len() <= 3, "a page holds at most `limit`");
        seen.extend(page.builds.iter().map(|r| r.id));
        match page.next {
            Some(n) => {
                assert_eq!(Some(n), page.builds.last().map(|r| r.id), "next = last id");
                before = Some(n);
            }
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    let mut want = pager.clone();
    want.reverse();
    assert_eq!(seen, want, "pages of 3 give every build once, newest first");
    assert_eq!(pages, 3);
    let whole = s.list_builds(&by_pager(|_| {})).await.unwrap();
    assert_eq!(whole.builds.len(), 7, "the default limit is larger than 7");
    assert_eq!(whole.next, None);
    let even = s
        .list_builds(&BuildQuery {
            package: Some("pager-even".into()),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        even.builds.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![pager[6], pager[4], pager[2], pager[0]],
        "package filter"
    );
    let since = s
        .list_builds(&by_pager(|q| q.since = Some("2026-01-01T00:02:00Z".into())))
        .await
        .unwrap();
    assert_eq!(since.builds.len(), 5, "since is inclusive");
    let until = s
        .list_builds(&by_pager(|q| q.until = Some("2026-01-01T00:02:00Z".into())))
        .await
        .unwrap();
    assert_eq!(until.builds.len(), 2, "until is exclusive");
    let window = s
        .list_builds(&by_pager(|q| {
            q.since = Some("2026-01-01T00:01:00Z".into());
            q.until = Some("2026-01-01T00:03:00+00:00".into());
        }))
        .await
        .unwrap();
    assert_eq!(
        window.builds.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![pager[2], pager[1]]
    );
    let pending = s
        .list_builds(&by_pager(|q| q.status = Some(TaskState::Pending)))
        .await
        .unwrap();
    assert_eq!(pending.builds.len(), 7, "status filter");
    let running = s
        .list_builds(&by_pager(|q| q.status = Some(TaskState::Running)))
        .await
        .unwrap();
    assert!(running.builds.is_empty(), "status filter");
    assert!(
        matches!(
            s.list_builds(&by_pager(|q| q.since = Some("yesterday".into())))
                .await,
            Err(DbError::Invalid(_))
        ),
        "a bad time filter is refused"
    );
    for id in pager.iter().chain([&b.id, &b8.id]) {
        finish(s, *id).await;
    }
    let cancelled = s
        .list_builds(&by_pager(|q| q.status = Some(TaskState::Cancelled)))
        .await
        .unwrap();
    assert_eq!(cancelled.builds.len(), 7, "state follows cancellation");
}

/// Dependencies, arches, labels and exclusions decide who gets a task.
pub async fn claims_follow_the_rules(s: &dyn Store) {
    let x86 = add_node(s, "rules-x86", &["x86_64"], &[], &[]).await;
    let arm = add_node(s, "rules-arm", &["aarch64"], &[], &[]).await;
    let ppc = add_node(s, "rules-ppc", &["ppc64le"], &[], &[]).await;
    // The repository is bash-fork; the SRPM says the package is bash.
    let b = s
        .create_build(
            &new_build("rules", &["bash-fork"], &["x86_64", "aarch64"]),
            T0,
        )
        .await
        .unwrap();
    let (src, t_x86, t_arm) = (&b.tasks[0], &b.tasks[1], &b.tasks[2]);
    let c = claim_some(s, &ppc, T0).await;
    assert_eq!(c.task.id, src.id, "a src task runs on any node");
    assert_eq!(c.task.state, TaskState::Running);
    assert_eq!(c.task.attempts, 1, "a claim counts an attempt");
    assert_eq!(c.task.node.as_deref(), Some("rules-ppc"));
    assert_eq!(c.lease_until, T0 + LEASE);
    assert_eq!(c.source, git_ref("bash-fork"));
    assert_eq!(c.platform, "almalinux-9");
    assert_eq!(c.timeout_secs, TIMEOUT);
    assert_eq!(c.srpm, None);
    assert_eq!(check_state(s, b.id).await, TaskState::Running);
    claim_none(s, &x86, T0, "its arch task waits for the src task").await;
    claim_none(s, &arm, T0, "its arch task waits for the src task").await;
    let done = s
        .complete(ppc.id, src.id, &succeeded(vec![srpm("bash")]), T0)
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.artifacts, vec![srpm("bash")]);
    let after = get(s, b.id).await;
    assert!(
        after
            .tasks
            .iter()
            .all(|t| t.package.as_deref() == Some("bash")),
        "the SRPM names the package of every task of the ref: {:?}",
        after.tasks
    );
    let by_pkg = s
        .list_builds(&BuildQuery {
            package: Some("bash".into()),
            owner: Some("rules".into()),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_pkg.builds.len(),
        1,
        "the list finds it by the SRPM's name"
    );
    assert_eq!(by_pkg.builds[0].packages, vec!["bash".to_string()]);
    claim_none(s, &ppc, T0, "the build has no ppc64le task").await;
    let ghost = Node {
        id: x86.id + 1_000_000,
        name: "rules-ghost".into(),
        ..x86.clone()
    };
    assert!(
        matches!(
            s.claim(&ghost, T0, LEASE).await,
            Err(DbError::NotFound { what: "node", .. })
        ),
        "only registered nodes claim"
    );
    let cx = claim_some(s, &x86, T0).await;
    assert_eq!(cx.task.id, t_x86.id);
    assert_eq!(
        cx.srpm,
        Some(srpm("bash")),
        "an arch task comes with its SRPM"
    );
    claim_none(s, &x86, T0, "its one task is running already").await;
    let ca = claim_some(s, &arm, T0).await;
    assert_eq!(ca.task.id, t_arm.id);
    for (n, t, a) in [(&x86, t_x86, "x86_64"), (&arm, t_arm, "aarch64")] {
        s.complete(n.id, t.id, &succeeded(vec![rpm("bash", a)]), T0)
            .await
            .unwrap();
    }
    assert_eq!(check_state(s, b.id).await, TaskState::Succeeded);

    // Labels: the build's labels must all be the node's.
    let mut labelled = new_build("rules", &["rules-labelled"], &[]);
    labelled.options.labels = vec!["big".into(), "secure".into()];
    let bl = s.create_build(&labelled, T0).await.unwrap();
    let plain = add_node(s, "rules-plain", &["x86_64"], &[], &[]).await;
    let half = add_node(s, "rules-half", &["x86_64"], &["big"], &[]).await;
    let both = add_node(
        s,
        "rules-both",
        &["x86_64"],
        &["secure", "fast", "big"],
        &[],
    )
    .await;
    claim_none(s, &plain, T0, "the build needs labels the node lacks").await;
    claim_none(s, &half, T0, "the build needs label secure too").await;
    let c = claim_some(s, &both, T0).await;
    assert_eq!(c.task.build_id, bl.id);
    s.complete(both.id, c.task.id, &succeeded(vec![]), T0)
        .await
        .unwrap();

    // Exclusions: a node refuses packages.
    let be = s
        .create_build(&new_build("rules", &["rules-kernel"], &[]), T0)
        .await
        .unwrap();
    let picky = add_node(s, "rules-picky", &["x86_64"], &[], &["rules-kernel"]).await;
    claim_none(s, &picky, T0, "the node excludes the package").await;
    let c = claim_some(s, &plain, T0).await;
    assert_eq!(c.task.build_id, be.id);
    s.complete(plain.id, c.task.id, &succeeded(vec![]), T0)
        .await
        .unwrap();
}

/// Queues of owners and products are served in turn, oldest task first
/// within each; no task is handed out twice.
pub async fn fairness(s: &dyn Store) {
    let n = add_node(s, "fair-node", &["x86_64"], &[], &[]).await;
    let mut owner_of = std::collections::HashMap::new();
    for i in 0..10 {
        let b = s
            .create_build(&new_build("fair-alice", &[&format!("fa{i}")], &[]), T0)
            .await
            .unwrap();
        owner_of.insert(b.tasks[0].id, "fair-alice".to_string());
    }
    for i in 0..5 {
        let b = s
            .create_build(&new_build("fair-bob", &[&format!("fb{i}")], &[]), T0)
            .await
            .unwrap();
        owner_of.insert(b.tasks[0].id, "fair-bob".to_string());
    }
    let mut got = Vec::new();
    let mut builds = Vec::new();
    for _ in 0..15 {
        let c = claim_some(s, &n, T0).await;
        builds.push(c.task.build_id);
        got.push((c.task.id, owner_of[&c.task.id].clone()));
    }
    claim_none(s, &n, T0, "all 15 tasks are running").await;
    let owners = owners_of(&got);
    let a = "fair-alice";
    let b = "fair-bob";
    assert_eq!(
        owners,
        vec![a, b, a, b, a, b, a, b, a, b, a, a, a, a, a],
        "owners are served in turn although alice queued first"
    );
    let distinct: HashSet<u64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), 15, "no task is handed out twice");
    let alice: Vec<u64> = got
        .iter()
        .filter(|(_, o)| o == a)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        alice.windows(2).all(|w| w[0] < w[1]),
        "oldest first within a queue"
    );
    // Products of one owner are queues of their own.
    let mut product_of = std::collections::HashMap::new();
    for product in ["p1", "p1", "p2", "p2"] {
        let mut nb = new_build("fair-carol", &[&format!("fc-{product}")], &[]);
        nb.options.product = Some(product.into());
        let b = s.create_build(&nb, T0).await.unwrap();
        product_of.insert(b.tasks[0].id, product);
        builds.push(b.id);
    }
    let mut products = Vec::new();
    for _ in 0..4 {
        let c = claim_some(s, &n, T0).await;
        products.push(product_of[&c.task.id]);
    }
    assert_eq!(
        products,
        vec!["p1", "p2", "p1", "p2"],
        "products take turns"
    );
    for b in builds {
        finish(s, b).await;
    }
}

/// Heartbeats extend leases; a lost lease puts the task back with a backoff
/// and an attempt counted, and fails it after the last attempt.
pub async fn leases(s: &dyn Store) {
    let n1 = add_node(s, "lease-a", &["x86_64"], &[], &[]).await;
    let n2 = add_node(s, "lease-b", &["x86_64"], &[], &[]).await;
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff: secs(5),
        max_backoff: secs(300),
    };
    let b = s
        .create_build(&new_build("lease", &["lease-pkg"], &["x86_64"]), T0)
        .await
        .unwrap();
    let (src, t_arch) = (b.tasks[0].id, b.tasks[1].id);
    let c = claim_some(s, &n1, T0).await;
    assert_eq!(c.task.id, src);
    claim_none(s, &n2, T0, "a claimed task is not handed to another node").await;
    let hb = s.heartbeat(n1.id, src, T0 + secs(50), LEASE).await.unwrap();
    assert_eq!(hb.until, T0 + secs(110), "a heartbeat extends the lease");
    assert!(!hb.cancel);
    assert!(matches!(
        s.heartbeat(n2.id, src, T0 + secs(50), LEASE).await,
        Err(DbError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.heartbeat(n1.id, NO_SUCH_TASK, T0, LEASE).await,
        Err(DbError::NotFound { .. })
    ));
    assert_eq!(
        s.expire_leases(T0 + secs(100), &policy).await.unwrap(),
        Vec::<u64>::new(),
        "the heartbeat kept the lease"
    );
    assert_eq!(
        s.expire_leases(T0 + secs(111), &policy).await.unwrap(),
        vec![src]
    );
    let t = task(s, b.id, src).await;
    assert_eq!(t.state, TaskState::Pending, "a lost lease requeues");
    assert_eq!(t.attempts, 1, "the attempt stays counted");
    assert_eq!(t.node, None);
    assert_eq!(check_state(s, b.id).await, TaskState::Pending);
    assert!(matches!(
        s.complete(n1.id, src, &succeeded(vec![]), T0 + secs(112))
            .await,
        Err(DbError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.append_log(n1.id, src, &["late".into()]).await,
        Err(DbError::LeaseLost { .. })
    ));
    // backoff_after(1) = 5 s
    claim_none(s, &n2, T0 + secs(115), "the task backs off for 5 s").await;
    let c = claim_some(s, &n2, T0 + secs(116)).await;
    assert_eq!((c.task.id, c.task.attempts), (src, 2));
    assert_eq!(
        s.expire_leases(T0 + secs(177), &policy).await.unwrap(),
        vec![src]
    );
    // backoff_after(2) = 10 s
    claim_none(s, &n1, T0 + secs(186), "the second backoff is 10 s").await;
    let c = claim_some(s, &n1, T0 + secs(187)).await;
    assert_eq!((c.task.id, c.task.attempts), (src, 3));
    assert_eq!(
        s.expire_leases(T0 + secs(248), &policy).await.unwrap(),
        vec![src]
    );
    let t = task(s, b.id, src).await;
    assert_eq!(
        t.state,
        TaskState::Failed,
        "the last attempt fails the task"
    );
    let reason = t.reason.unwrap_or_default();
    assert!(
        reason.contains("lease-a") && reason.contains('3'),
        "the reason names the node and the attempts: {reason:?}"
    );
    let a = task(s, b.id, t_arch).await;
    assert_eq!(a.state, TaskState::Failed);
    assert!(
        a.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("SRPM failed: ") && r.contains("lease-a")),
        "{:?}",
        a.reason
    );
    assert_eq!(check_state(s, b.id).await, TaskState::Failed);
    claim_none(s, &n1, T0 + secs(1000), "nothing is left").await;
}

/// Completion is idempotent for the holder and refused to others.
pub async fn completion(s: &dyn Store) {
    let n = add_node(s, "done-a", &["x86_64"], &[], &[]).await;
    let other = add_node(s, "done-b", &["x86_64"], &[], &[]).await;
    let b = s
        .create_build(&new_build("done", &["done-pkg"], &[]), T0)
        .await
        .unwrap();
    let t = claim_some(s, &n, T0).await.task.id;
    assert!(
        matches!(
            s.complete(n.id, t, &ended(TaskState::Running, None, vec![]), T0)
                .await,
            Err(DbError::BadState { .. })
        ),
        "a completion must end the task"
    );
    assert!(matches!(
        s.complete(other.id, t, &succeeded(vec![]), T0).await,
        Err(DbError::LeaseLost { .. })
    ));
    let result = succeeded(vec![srpm("done-pkg"), log_artifact("ok")]);
    let first = s.complete(n.id, t, &result, T0).await.unwrap();
    assert_eq!(first.state, TaskState::Succeeded);
    assert_eq!(
        first.artifacts,
        vec![srpm("done-pkg"), log_artifact("ok")],
        "artifacts in order"
    );
    let again = s.complete(n.id, t, &result, T0 + secs(5)).await.unwrap();
    assert_eq!(again, first, "completing again changes nothing");
    assert!(matches!(
        s.complete(n.id, t, &failed("changed my mind"), T0).await,
        Err(DbError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.complete(other.id, t, &result, T0).await,
        Err(DbError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.complete(n.id, NO_SUCH_TASK, &result, T0).await,
        Err(DbError::NotFound { .. })
    ));
    assert_eq!(get(s, b.id).await.tasks[0], first);
    assert_eq!(check_state(s, b.id).await, TaskState::Succeeded);
}

/// A failed or timed-out src task fails its arch tasks; restart rebuilds
/// them with attempts, reasons and artifacts reset.
pub async fn src_failure_and_restart(s: &dyn Store) {
    let n = add_node(s, "srcfail", &["x86_64", "aarch64"], &[], &[]).await;
    let b = s
        .create_build(
            &new_build("srcfail", &["sf-broken", "sf-slow"], &["x86_64", "aarch64"]),
            T0,
        )
        .await
        .unwrap();
    let ids: Vec<u64> = b.tasks.iter().map(|t| t.id).collect();
    let c1 = claim_some(s, &n, T0).await;
    let c2 = claim_some(s, &n, T0).await;
    assert_eq!((c1.task.id, c2.task.id), (ids[0], ids[3]), "both src tasks");
    claim_none(s, &n, T0, "arch tasks wait").await;
    s.complete(n.id, ids[0], &failed("bad spec"), T0)
        .await
        .unwrap();
    let slow = ended(TaskState::TimedOut, Some("ran over 3600 s"), vec![]);
    s.complete(n.id, ids[3], &slow, T0).await.unwrap();
    let after = get(s, b.id).await;
    for (i, want) in [
        (1, "SRPM failed: bad spec"),
        (4, "SRPM failed: ran over 3600 s"),
    ] {
        for t in &after.tasks[i..i + 2] {
            assert_eq!(t.state, TaskState::Failed, "{t:?}");
            assert_eq!(t.reason.as_deref(), Some(want));
        }
    }
    assert_eq!(check_state(s, b.id).await, TaskState::TimedOut);
    claim_none(s, &n, T0, "everything ended").await;

    let r = s.restart_build(b.id).await.unwrap();
    for t in &r.tasks {
        assert_eq!(t.state, TaskState::Pending, "{t:?}");
        assert_eq!((t.attempts, t.reason.as_deref()), (0, None));
    }
    assert_eq!(check_state(s, b.id).await, TaskState::Pending);
    let c = claim_some(s, &n, T0).await;
    assert_eq!(
        (c.task.id, c.task.attempts),
        (ids[0], 1),
        "the src task reruns"
    );
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[3]);
    claim_none(s, &n, T0, "arch tasks wait for the rebuilt SRPM").await;
    s.complete(n.id, ids[0], &succeeded(vec![srpm("sf-broken")]), T0)
        .await
        .unwrap();
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[1]);
    let log = ended(
        TaskState::Failed,
        Some("tests failed"),
        vec![log_artifact("x")],
    );
    let t = s.complete(n.id, ids[1], &log, T0).await.unwrap();
    assert_eq!(t.artifacts, vec![log_artifact("x")]);
    let r = s.restart_build(b.id).await.unwrap();
    assert_eq!(r.tasks[0].state, TaskState::Succeeded, "success stays");
    assert_eq!(r.tasks[0].artifacts, vec![srpm("sf-broken")]);
    assert_eq!(r.tasks[1].state, TaskState::Pending);
    assert!(r.tasks[1].artifacts.is_empty(), "restart clears artifacts");
    assert_eq!(r.tasks[1].reason, None);
    assert_eq!(r.tasks[3].state, TaskState::Running, "running stays");
    finish(s, b.id).await;
}

/// A build in dependency order: arch tasks wait for every SRPM, then for
/// the arch tasks of the refs that produce what they build-require; a ref
/// whose SRPM failed holds nobody up; refs in a cycle do not wait for each
/// other.
pub async fn dependency_order(s: &dyn Store) {
    let n = add_node(s, "order-node", &["x86_64"], &[], &[]).await;
    let mut nb = new_build("order", &["app", "libfoo", "tool", "ca", "cb"], &["x86_64"]);
    nb.options.dependency_order = true;
    nb.tasks = plan_with(&nb.refs, &nb.arches, &nb.options);
    let b = s.create_build(&nb, T0).await.unwrap();
    let ids: Vec<u64> = b.tasks.iter().map(|t| t.id).collect();
    // ids: app src 0, x86_64 1; libfoo 2, 3; tool 4, 5; ca 6, 7; cb 8, 9.
    let src = |needs: &[&str], produces: &[&str], name: &str| TaskResult {
        build_requires: needs.iter().map(|d| d.to_string()).collect(),
        produces: produces.iter().map(|d| d.to_string()).collect(),
        ..succeeded(vec![srpm(name)])
    };
    let results = [
        src(
            &["gcc", "libfoo-devel >= 1.0"],
            &["app", "app = 1.0-1.el9"],
            "app",
        ),
        src(
            &["gcc"],
            &["libfoo", "libfoo-devel", "libfoo-devel = 1.0-1.el9"],
            "libfoo",
        ),
        ended(
            TaskState::Failed,
            Some("error: line 7: Unknown tag"),
            vec![],
        ),
        src(&["cb"], &["ca"], "ca"),
        src(&["ca"], &["cb"], "cb"),
    ];
    let mut held = Vec::new();
    for _ in 0..results.len() {
        let c = claim_some(s, &n, T0).await;
        assert_eq!(c.task.kind, TaskKind::Src, "SRPMs first: {:?}", c.task);
        held.push(c.task.id);
    }
    for (i, id) in held.iter().enumerate() {
        let r = (0..5)
            .find(|r| ids[r * 2] == *id)
            .expect("a src task of the build");
        s.complete(n.id, *id, &results[r], T0).await.unwrap();
        if i + 1 < held.len() {
            claim_none(s, &n, T0, "arch tasks wait until every SRPM is built").await;
        }
    }
    let mid = get(s, b.id).await;
    assert_eq!(mid.tasks[5].state, TaskState::Failed, "tool's SRPM failed");
    for (i, t) in mid.tasks.iter().enumerate() {
        assert!(
            !t.depends_on.contains(&ids[4]) || i == 5,
            "only tool's own arch task waits for tool's failed SRPM: {t:?}"
        );
    }
    assert!(
        mid.tasks[1].depends_on.contains(&ids[3]),
        "app's arch task waits for libfoo's: {:?}",
        mid.tasks[1]
    );
    assert!(
        !mid.tasks[3].depends_on.contains(&ids[1]),
        "libfoo needs nothing of app"
    );
    assert!(
        !mid.tasks[7].depends_on.contains(&ids[9]) && !mid.tasks[9].depends_on.contains(&ids[7]),
        "ca and cb are a cycle: built side by side"
    );
    let mut claimed = Vec::new();
    while let Some(c) = s.claim(&n, T0, LEASE).await.unwrap() {
        claimed.push(c.task.id);
        if claimed.len() > 3 {
            break;
        }
    }
    claimed.sort_unstable();
    assert_eq!(
        claimed,
        vec![ids[3], ids[7], ids[9]],
        "libfoo, ca and cb run; app waits for libfoo"
    );
    for id in [ids[7], ids[9]] {
        s.complete(n.id, id, &succeeded(vec![]), T0).await.unwrap();
    }
    claim_none(s, &n, T0, "app still waits for libfoo").await;
    s.complete(
        n.id,
        ids[3],
        &succeeded(vec![rpm("libfoo-devel", "x86_64")]),
        T0,
    )
    .await
    .unwrap();
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[1], "app builds once libfoo is built");
    s.complete(n.id, ids[1], &succeeded(vec![rpm("app", "x86_64")]), T0)
        .await
        .unwrap();
    assert_eq!(check_state(s, b.id).await, TaskState::Failed, "tool failed");
}

/// A noarch SRPM is built by its first arch task; the others mirror it.
pub async fn noarch(s: &dyn Store) {
    let n = add_node(
        s,
        "noarch-node",
        &["x86_64", "aarch64", "ppc64le"],
        &[],
        &[],
    )
    .await;
    let arches = ["x86_64", "aarch64", "ppc64le"];
    let noarch_src = TaskResult {
        noarch: true,
        ..succeeded(vec![srpm("python-six")])
    };
    let b = s
        .create_build(&new_build("noarch", &["python-six"], &arches), T0)
        .await
        .unwrap();
    let ids: Vec<u64> = b.tasks.iter().map(|t| t.id).collect();
    claim_some(s, &n, T0).await;
    s.complete(n.id, ids[0], &noarch_src, T0).await.unwrap();
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[1], "the first arch task builds");
    assert_eq!(c.task.kind, TaskKind::Arch(arch("x86_64")));
    claim_none(s, &n, T0, "the other arch tasks wait for it").await;
    let mid = get(s, b.id).await;
    for t in &mid.tasks[2..] {
        assert_eq!(t.state, TaskState::Pending);
        assert!(
            t.depends_on.contains(&ids[1]),
            "{t:?} waits for the builder"
        );
    }
    let pkgs = vec![rpm("python3-six", "noarch")];
    s.complete(n.id, ids[1], &succeeded(pkgs.clone()), T0)
        .await
        .unwrap();
    let done = get(s, b.id).await;
    for t in &done.tasks[1..] {
        assert_eq!(t.state, TaskState::Succeeded, "{t:?}");
        assert_eq!(t.artifacts, pkgs, "every arch task has the noarch packages");
    }
    assert_eq!(check_state(s, b.id).await, TaskState::Succeeded);

    // The builder fails: the others fail pointing at it.
    let b = s
        .create_build(&new_build("noarch", &["python-six"], &arches), T0)
        .await
        .unwrap();
    let ids: Vec<u64> = b.tasks.iter().map(|t| t.id).collect();
    claim_some(s, &n, T0).await;
    s.complete(n.id, ids[0], &noarch_src, T0).await.unwrap();
    claim_some(s, &n, T0).await;
    s.complete(n.id, ids[1], &failed("missing BuildRequires"), T0)
        .await
        .unwrap();
    let bad = get(s, b.id).await;
    for t in &bad.tasks[2..] {
        assert_eq!(t.state, TaskState::Failed);
        let r = t.reason.as_deref().unwrap_or_default();
        assert!(
            r.contains(&ids[1].to_string()) && r.contains("missing BuildRequires"),
            "the reason points at the builder: {r:?}"
        );
    }
    assert_eq!(check_state(s, b.id).await, TaskState::Failed);
    s.restart_build(b.id).await.unwrap();
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[1], "the builder reruns");
    claim_none(s, &n, T0, "the mirrors still wait").await;
    s.complete(n.id, ids[1], &succeeded(pkgs.clone()), T0)
        .await
        .unwrap();
    let done = get(s, b.id).await;
    assert!(done.tasks[2..].iter().all(|t| t.artifacts == pkgs));
    assert_eq!(check_state(s, b.id).await, TaskState::Succeeded);
}

/// Cancel ends pending tasks at once and flags running ones.
pub async fn cancel(s: &dyn Store) {
    let n = add_node(s, "cancel-node", &["x86_64"], &[], &[]).await;
    let b = s
        .create_build(&new_build("cancel", &["c-one", "c-two"], &["x86_64"]), T0)
        .await
        .unwrap();
    let ids: Vec<u64> = b.tasks.iter().map(|t| t.id).collect();
    assert_eq!(claim_some(s, &n, T0).await.task.id, ids[0]);
    let c = s.cancel_build(b.id, T0).await.unwrap();
    assert_eq!(c.tasks[0].state, TaskState::Running, "running tasks go on");
    for t in &c.tasks[1..] {
        assert_eq!(t.state, TaskState::Cancelled, "pending tasks end: {t:?}");
    }
    assert_eq!(check_state(s, b.id).await, TaskState::Running);
    claim_none(s, &n, T0, "the build is cancelled").await;
    let hb = s
        .heartbeat(n.id, ids[0], T0 + secs(10), LEASE)
        .await
        .unwrap();
    assert!(hb.cancel, "the heartbeat tells the node to stop");
    s.complete(n.id, ids[0], &ended(TaskState::Cancelled, None, vec![]), T0)
        .await
        .unwrap();
    assert_eq!(check_state(s, b.id).await, TaskState::Cancelled);
    assert!(matches!(
        s.cancel_build(b.id + 1_000_000, T0).await,
        Err(DbError::NotFound { what: "build", .. })
    ));
    let r = s.restart_build(b.id).await.unwrap();
    assert!(r.tasks.iter().all(|t| t.state == TaskState::Pending));
    let c = claim_some(s, &n, T0).await;
    assert_eq!(c.task.id, ids[0], "a restarted build runs again");
    let hb = s.heartbeat(n.id, ids[0], T0, LEASE).await.unwrap();
    assert!(!hb.cancel, "restart clears the cancel flag");
    // A cancelled task whose node died ends cancelled, not requeued.
    s.cancel_build(b.id, T0).await.unwrap();
    let policy = RetryPolicy::default();
    assert_eq!(
        s.expire_leases(T0 + secs(3600), &policy).await.unwrap(),
        vec![ids[0]]
    );
    assert_eq!(task(s, b.id, ids[0]).await.state, TaskState::Cancelled);
    assert_eq!(check_state(s, b.id).await, TaskState::Cancelled);
}

/// Logs are appended by the holder and read in chunks.
pub async fn logs(s: &dyn Store) {
    let n = add_node(s, "logs-a", &["x86_64"], &[], &[]).await;
    let other = add_node(s, "logs-b", &["x86_64"], &[], &[]).await;
    let b = s
        .create_build(&new_build("logs", &["logged"], &[]), T0)
        .await
        .unwrap();
    let t = claim_some(s, &n, T0).await.task.id;
    let lines = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert_eq!(s.append_log(n.id, t, &lines(&["a", "b"])).await.unwrap(), 2);
    assert_eq!(
        s.append_log(n.id, t, &lines(&["c", "d", "e"]))
            .await
            .unwrap(),
        5
    );
    assert_eq!(s.append_log(n.id, t, &[]).await.unwrap(), 5);
    assert!(matches!(
        s.append_log(other.id, t, &lines(&["x"])).await,
        Err(DbError::LeaseLost { .. })
    ));
    let c = s.read_log(t, 0, 3).await.unwrap();
    assert_eq!(
        (c.lines, c.next, c.done),
        (lines(&["a", "b", "c"]), 3, false)
    );
    let c = s.read_log(t, 3, 100).await.unwrap();
    assert_eq!((c.lines, c.next, c.done), (lines(&["d", "e"]), 5, false));
    let c = s.read_log(t, 5, 100).await.unwrap();
    assert_eq!((c.lines.len(), c.next, c.done), (0, 5, false), "running");
    s.complete(n.id, t, &succeeded(vec![]), T0).await.unwrap();
    let c = s.read_log(t, 0, 100).await.unwrap();
    assert_eq!(
        (c.lines, c.next, c.done),
        (lines(&["a", "b", "c", "d", "e"]), 5, true)
    );
    let c = s.read_log(t, 0, 2).await.unwrap();
    assert!(!c.done, "not done while lines remain to read");
    assert!(matches!(
        s.append_log(n.id, t, &lines(&["late"])).await,
        Err(DbError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.read_log(NO_SUCH_TASK, 0, 10).await,
        Err(DbError::NotFound { .. })
    ));
    assert!(matches!(
        s.append_log(n.id, NO_SUCH_TASK, &lines(&["x"])).await,
        Err(DbError::NotFound { .. })
    ));
    let many: Vec<String> = (0..2500).map(|i| format!("line {i}")).collect();
    let b2 = s
        .create_build(&new_build("logs", &["logged-long"], &[]), T0)
        .await
        .unwrap();
    let t2 = claim_some(s, &n, T0).await.task.id;
    assert_eq!(b2.tasks[0].id, t2);
    assert_eq!(s.append_log(n.id, t2, &many).await.unwrap(), 2500);
    let c = s.read_log(t2, 2498, 10).await.unwrap();
    assert_eq!(c.lines, vec!["line 2498".to_string(), "line 2499".into()]);
    finish(s, b2.id).await;
    assert_eq!(check_state(s, b.id).await, TaskState::Succeeded);
}

/// Delete refuses builds with tasks not ended and removes the rest.
pub async fn delete(s: &dyn Store) {
    let n = add_node(s, "delete-node", &["x86_64"], &[], &[]).await;
    let b = s
        .create_build(&new_build("delete", &["del-pkg"], &["x86_64"]), T0)
        .await
        .unwrap();
    assert!(
        matches!(s.delete_build(b.id).await, Err(DbError::BadState { .. })),
        "pending tasks have not ended"
    );
    let t = claim_some(s, &n, T0).await.task.id;
    s.append_log(n.id, t, &["building".into()]).await.unwrap();
    s.cancel_build(b.id, T0).await.unwrap();
    match s.delete_build(b.id).await {
        Err(DbError::BadState { task, state, .. }) => {
            assert_eq!((task, state), (t, TaskState::Running));
        }
        other => panic!("deleting a build with a running task: {other:?}"),
    }
    s.complete(n.id, t, &ended(TaskState::Cancelled, None, vec![]), T0)
        .await
        .unwrap();
    s.delete_build(b.id).await.unwrap();
    assert_eq!(s.build(b.id).await.unwrap(), None);
    assert!(matches!(
        s.read_log(t, 0, 10).await,
        Err(DbError::NotFound { .. })
    ));
    let left = s
        .list_builds(&BuildQuery {
            owner: Some("delete".into()),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert!(left.builds.is_empty());
    assert!(matches!(
        s.delete_build(b.id).await,
        Err(DbError::NotFound { what: "build", .. })
    ));
}

/// A tag is new once per repository.
pub async fn tags(s: &dyn Store) {
    let tag = "imports/c9/bash-5.1.8-9.el9";
    assert!(s.mark_tag_seen("rpms/bash", tag).await.unwrap());
    assert!(!s.mark_tag_seen("rpms/bash", tag).await.unwrap());
    assert!(s.mark_tag_seen("rpms/bash", "v2").await.unwrap());
    assert!(s.mark_tag_seen("rpms/zsh", tag).await.unwrap());
}
