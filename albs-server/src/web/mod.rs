//! Read-only web pages, rendered on the server and readable without an
//! account or JavaScript: the build feed (`/`), a build (`/builds/{id}`), a
//! task log that follows a running task (`/tasks/{id}/log`, with a small
//! script reading the JSON log API), the nodes and queue (`/nodes`), the
//! queue with why each task waits (`/queue`) and the products with their
//! builds and repositories (`/products`, `/products/{name}`), release plans
//! (`/releases`, `/releases/{id}`) and errata (`/errata`, `/errata/{id}`).
//!
//! Builds of a private product are shown to its members and admins only
//! (see [`access`]); readers sign in by posting an API token to `/login`,
//! which sets an HttpOnly, SameSite=Strict cookie holding a random session
//! id of which the store keeps only the sha256. Templates autoescape every
//! value; no token or hash of one is ever rendered.

pub(crate) mod access;
mod product_pages;
pub(crate) mod products;
mod queue;
mod release_pages;
mod session;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use albs_core::db::User;
use albs_core::model::{TaskKind, TaskState};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::builds::MAX_LOG_READ;
use crate::error::AppError;
use crate::extract::{ApiPath, Reader};
use crate::{AppState, now, validate};

pub(crate) use session::session_cookie;

/// The scripts and styles a page may load: its own origin only, no inline
/// script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Follows a running task's log (served at `/static/log.js`).
const LOG_JS: &str = include_str!("../../templates/log.js");

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("macros.html", include_str!("../../templates/macros.html")),
        ("feed.html", include_str!("../../templates/feed.html")),
        ("build.html", include_str!("../../templates/build.html")),
        ("log.html", include_str!("../../templates/log.html")),
        ("nodes.html", include_str!("../../templates/nodes.html")),
        ("queue.html", include_str!("../../templates/queue.html")),
        (
            "products.html",
            include_str!("../../templates/products.html"),
        ),
        ("product.html", include_str!("../../templates/product.html")),
        ("login.html", include_str!("../../templates/login.html")),
        ("error.html", include_str!("../../templates/error.html")),
        (
            "releases.html",
            include_str!("../../templates/releases.html"),
        ),
        ("release.html", include_str!("../../templates/release.html")),
        ("errata.html", include_str!("../../templates/errata.html")),
        ("erratum.html", include_str!("../../templates/erratum.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            // The templates are part of the binary: a broken one is a bug
            // that the page tests catch.
            tracing::error!(template = name, error = %e, "a web template does not parse");
        }
    }
    env
});

/// The routes of the web pages, merged into the service by
/// [`crate::router`].
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(feed))
        .route("/builds/{id}", get(build_page))
        .route("/tasks/{id}/log", get(log_page))
        .route("/nodes", get(nodes_page))
        .route("/queue", get(queue::queue_page))
        .route("/products", get(product_pages::products_page))
        .route("/products/{name}", get(product_pages::product_page))
        .route("/releases", get(release_pages::releases_page))
        .route("/releases/{id}", get(release_pages::release_page))
        .route("/errata", get(release_pages::errata_page))
        .route("/errata/{id}", get(release_pages::erratum_page))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", axum::routing::post(session::logout))
        .route("/static/log.js", get(log_js))
}

/// A page that could not be shown, rendered as HTML.
#[derive(Debug)]
pub(crate) struct WebError(AppError);

impl<E: Into<AppError>> From<E> for WebError {
    fn from(e: E) -> Self {
        WebError(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match &self.0 {
            // The cause is logged by the API's error type; the reader sees
            // a generic message.
            AppError::Internal(_) => {
                tracing::error!(error = %self.0, "a web page failed");
                "the server failed; try again later".to_owned()
            }
            other => other.to_string(),
        };
        let body = render(
            "error.html",
            minijinja::context! {
                status => status.to_string(),
                message => message,
                user => Option::<String>::None,
            },
        );
        let mut resp = body.into_response();
        *resp.status_mut() = status;
        resp
    }
}

/// An HTML page with its security headers.
pub(crate) struct Page(String);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = self.0.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        resp
    }
}

/// Renders a template; a template error is a 500 page.
fn render(name: &str, ctx: minijinja::Value) -> Page {
    let out = TEMPLATES.get_template(name).and_then(|t| t.render(ctx));
    match out {
        Ok(html) => Page(html),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a web page failed");
            Page("<!doctype html><title>error</title><p>the page could not be rendered</p>".into())
        }
    }
}

fn user_name(reader: &Option<User>) -> Option<String> {
    reader.as_ref().map(|u| u.name.clone())
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// One line of the feed.
#[derive(Serialize)]
struct BuildRow {
    id: u64,
    packages: String,
    owner: String,
    platform: String,
    state: String,
    created: String,
}

impl From<albs_core::api::BuildSummary> for BuildRow {
    fn from(b: albs_core::api::BuildSummary) -> Self {
        BuildRow {
            id: b.id,
            packages: b.packages.join(", "),
            owner: b.owner,
            platform: b.platform,
            state: b.state.to_string(),
            created: fmt_time(b.created),
        }
    }
}

const STATES: [TaskState; 7] = [
    TaskState::Pending,
    TaskState::Running,
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Excluded,
    TaskState::TimedOut,
    TaskState::Cancelled,
];

/// `GET /?package=&owner=&platform=&status=&before=`: what runs now, then
/// the recent (or matching) builds.
async fn feed(
    State(state): State<AppState>,
    Reader(reader): Reader,
    RawQuery(raw): RawQuery,
) -> Result<Page, WebError> {
    let q = validate::build_query(raw.as_deref())?;
    let filtered = q.package.is_some()
        || q.owner.is_some()
        || q.platform.is_some()
        || q.status.is_some()
        || q.before.is_some();
    let running = if filtered {
        None
    } else {
        let running_q = albs_core::api::BuildQuery {
            status: Some(TaskState::Running),
            ..Default::default()
        };
        let page = state.store.list_builds(&running_q).await?;
        let page = access::visible_page(&state, reader.as_ref(), page).await?;
        Some(
            page.builds
                .into_iter()
                .map(BuildRow::from)
                .collect::<Vec<_>>(),
        )
    };
    let page = state.store.list_builds(&q).await?;
    let page = access::visible_page(&state, reader.as_ref(), page).await?;
    let next = page.next.map(|before| {
        let mut pairs: Vec<(&str, String)> = vec![];
        for (k, v) in [
            ("package", &q.package),
            ("owner", &q.owner),
            ("platform", &q.platform),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        if let Some(s) = q.status {
            pairs.push(("status", s.to_string()));
        }
        pairs.push(("before", before.to_string()));
        format!(
            "/?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let recent: Vec<BuildRow> = page.builds.into_iter().map(BuildRow::from).collect();
    Ok(render(
        "feed.html",
        minijinja::context! {
            user => user_name(&reader),
            filters => minijinja::context! {
                package => q.package,
                owner => q.owner,
                platform => q.platform,
                status => q.status.map(|s| s.to_string()),
            },
            states => STATES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            running => running,
            recent => recent,
            filtered => filtered,
            next => next,
        },
    ))
}

#[derive(Serialize)]
struct TaskRow {
    id: u64,
    package: Option<String>,
    state: String,
    node: Option<String>,
    attempts: u32,
    depends_on: String,
    reason: Option<String>,
    started: Option<String>,
    finished: Option<String>,
    /// Started → finished, or → now while it runs.
    duration: Option<String>,
}

#[derive(Serialize)]
struct TaskGroup {
    arch: String,
    tasks: Vec<TaskRow>,
}

#[derive(Serialize)]
struct ArtifactRow {
    task_id: u64,
    name: String,
    size: u64,
    sha256: String,
}

/// `GET /builds/{id}`: the build, its tasks per arch and its artifacts.
async fn build_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Page, WebError> {
    let build = access::visible_build(&state, reader.as_ref(), id).await?;
    let times = state.store.task_times(build.id).await?;
    let t_now = now();
    let mut groups: BTreeMap<(u8, String), Vec<TaskRow>> = BTreeMap::new();
    let mut artifacts = vec![];
    for t in &build.tasks {
        let key = match &t.kind {
            TaskKind::Src => (0, "src".to_owned()),
            TaskKind::Arch(a) => (1, a.as_str().to_owned()),
        };
        groups.entry(key).or_default().push(TaskRow {
            id: t.id,
            package: t.package.clone(),
            state: t.state.to_string(),
            node: t.node.clone(),
            attempts: t.attempts,
            depends_on: t
                .depends_on
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            reason: t.reason.clone(),
            started: times.get(&t.id).and_then(|x| x.started).map(fmt_time),
            finished: times.get(&t.id).and_then(|x| x.finished).map(fmt_time),
            duration: times
                .get(&t.id)
                .and_then(|x| task_duration(t.state, x, t_now)),
        });
        for a in &t.artifacts {
            artifacts.push(ArtifactRow {
                task_id: t.id,
                name: a.name.clone(),
                size: a.size,
                sha256: a.sha256.to_string(),
            });
        }
    }
    let groups: Vec<TaskGroup> = groups
        .into_iter()
        .map(|((_, arch), tasks)| TaskGroup { arch, tasks })
        .collect();
    let signed = build.signed.as_ref().map(|s| {
        minijinja::context! {
            task_id => s.task_id,
            fingerprint => s.fingerprint.clone(),
            time => fmt_time(s.time),
        }
    });
    let refs: Vec<String> = build
        .refs
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    Ok(render(
        "build.html",
        minijinja::context! {
            user => user_name(&reader),
            build => minijinja::context! {
                id => build.id,
                state => build.state().to_string(),
                owner => build.owner.clone(),
                platform => build.platform.clone(),
                arches => build.arches.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "),
                product => build.options.product.clone(),
                created => fmt_time(build.created),
                refs => refs,
                signed => signed,
            },
            groups => groups,
            artifacts => artifacts,
        },
    ))
}

/// How long a task ran: started → finished, or started → `t` while it
/// runs (`… so far`); `None` when it never started.
fn task_duration(
    state: TaskState,
    times: &albs_core::db::TaskTimes,
    t: OffsetDateTime,
) -> Option<String> {
    let started = times.started?;
    let (end, suffix) = match (state, times.finished) {
        (TaskState::Running, _) => (t, " so far"),
        (_, Some(f)) if state.is_final() => (f, ""),
        _ => return None,
    };
    Some(format!("{}{suffix}", fmt_duration(end - started)))
}

/// `1h 02m 03s`, `2m 05s`, `7s`.
fn fmt_duration(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Records that a node claimed task `id` (for its duration); a failure is
/// logged and does not fail the claim.
pub(crate) async fn task_started(state: &AppState, id: u64, t: OffsetDateTime) {
    if let Err(e) = state.store.task_started(id, t).await {
        tracing::warn!(task = id, error = %e, "recording the start of a task failed");
    }
}

/// Records that task `id` finished now; a failure is logged only.
pub(crate) async fn task_finished(state: &AppState, id: u64) {
    if let Err(e) = state.store.task_finished(id, now()).await {
        tracing::warn!(task = id, error = %e, "recording the end of a task failed");
    }
}

/// `GET /tasks/{id}/log`: the log so far; a script follows it while the
/// task runs.
async fn log_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Page, WebError> {
    let build_id = access::visible_task(&state, reader.as_ref(), id).await?;
    let chunk = state.store.read_log(id, 0, MAX_LOG_READ).await?;
    let truncated = chunk.lines.len() as u64 == u64::from(MAX_LOG_READ);
    let mut text = String::new();
    for l in &chunk.lines {
        text.push_str(l);
        text.push('\n');
    }
    Ok(render(
        "log.html",
        minijinja::context! {
            user => user_name(&reader),
            task_id => id,
            build_id => build_id,
            text => text,
            next => chunk.next,
            done => chunk.done && !truncated,
            truncated => truncated,
        },
    ))
}

#[derive(Serialize)]
struct NodeRow {
    name: String,
    arches: String,
    labels: String,
    capacity: u32,
    last_seen: Option<String>,
    age: Option<String>,
}

#[derive(Serialize)]
struct PendingRow {
    id: u64,
    build_id: u64,
    arch: String,
    package: Option<String>,
    why: String,
}

/// Pending tasks listed on `/nodes`.
const PENDING_SHOWN: u32 = 500;

/// `GET /nodes`: nodes with their last heartbeat, pending tasks per arch
/// and why each waits.
async fn nodes_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
) -> Result<Page, WebError> {
    let t = now();
    let nodes = state.store.nodes().await?;
    let hidden = state.store.hidden_products(reader.as_ref()).await?;
    let pending = state.store.pending_tasks(PENDING_SHOWN).await?;
    let mut queue: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = vec![];
    for p in pending.into_iter().filter(|p| !hidden.contains(&p.product)) {
        let arch = p.arch.clone().unwrap_or_else(|| "src".into());
        *queue.entry(arch.clone()).or_default() += 1;
        let why = if !p.ready {
            "waiting for the tasks it depends on".to_owned()
        } else if p.not_before > t {
            format!(
                "backing off after a lost lease until {}",
                fmt_time(p.not_before)
            )
        } else if nodes.is_empty() {
            "no node is registered".to_owned()
        } else if let Some(a) = &p.arch
            && !nodes
                .iter()
                .any(|n| n.arches.iter().any(|na| na.as_str() == a))
        {
            format!("no node builds {a}")
        } else {
            "waiting for a free node (with the build's labels)".to_owned()
        };
        rows.push(PendingRow {
            id: p.id,
            build_id: p.build_id,
            arch,
            package: p.package,
            why,
        });
    }
    let node_rows: Vec<NodeRow> = nodes
        .into_iter()
        .map(|n| NodeRow {
            arches: n
                .arches
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            labels: n.labels.join(", "),
            capacity: n.capacity,
            last_seen: n.last_seen.map(fmt_time),
            age: n.last_seen.map(|s| {
                let secs = (t - s).whole_seconds().max(0);
                format!("{secs} s")
            }),
            name: n.name,
        })
        .collect();
    let queue: Vec<_> = queue
        .into_iter()
        .map(|(arch, count)| minijinja::context! { arch => arch, count => count })
        .collect();
    Ok(render(
        "nodes.html",
        minijinja::context! {
            user => user_name(&reader),
            nodes => node_rows,
            queue => queue,
            pending => rows,
        },
    ))
}

/// `GET /static/log.js`.
async fn log_js() -> impl IntoResponse {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        LOG_JS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_final_or_live() {
        use albs_core::db::TaskTimes;
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let d = |s: i64| t0 + time::Duration::seconds(s);
        let ran = TaskTimes {
            started: Some(t0),
            finished: Some(d(3723)),
        };
        assert_eq!(
            task_duration(TaskState::Succeeded, &ran, d(9999)).as_deref(),
            Some("1h 02m 03s")
        );
        let running = TaskTimes {
            started: Some(t0),
            finished: None,
        };
        assert_eq!(
            task_duration(TaskState::Running, &running, d(125)).as_deref(),
            Some("2m 05s so far")
        );
        // Requeued after a lost lease: no duration until it runs again.
        assert_eq!(task_duration(TaskState::Pending, &running, d(125)), None);
        assert_eq!(
            task_duration(TaskState::Cancelled, &TaskTimes::default(), d(1)),
            None
        );
        assert_eq!(fmt_duration(time::Duration::seconds(7)), "7s");
    }

    #[test]
    fn every_template_parses_and_escapes() {
        for name in [
            "base.html",
            "macros.html",
            "feed.html",
            "build.html",
            "log.html",
            "nodes.html",
            "queue.html",
            "products.html",
            "product.html",
            "login.html",
            "error.html",
            "releases.html",
            "release.html",
            "errata.html",
            "erratum.html",
        ] {
            TEMPLATES.get_template(name).unwrap();
        }
        let row = BuildRow {
            id: 7,
            packages: "bash".into(),
            owner: "o".into(),
            platform: "p".into(),
            state: "running".into(),
            created: "t".into(),
        };
        let feed = TEMPLATES
            .get_template("feed.html")
            .unwrap()
            .render(minijinja::context! {
                user => "u",
                filters => minijinja::context! { status => "running" },
                states => vec!["pending", "running"],
                running => vec![&row],
                recent => vec![&row],
                filtered => false,
                next => "/?before=7",
            })
            .unwrap();
        assert!(feed.contains("<table id=\"running\">"), "{feed}");
        assert!(feed.contains("data-build=\"7\""), "{feed}");
        let Page(html) = render(
            "error.html",
            minijinja::context! { status => "404", message => "<script>x</script>", user => "<b>" },
        );
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
