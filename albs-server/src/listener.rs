//! The git listener: the server watches git repositories and creates a build
//! when a new tag matching a pattern appears (ALBS users tag their imports
//! `imports/a9/bash-5.1.8-6.el9`).
//!
//! Tags are listed with the `git` CLI (`git ls-remote --tags --refs`), which
//! must be installed on the server; a repository is an absolute path, a
//! `file://`, `http://` or `https://` URL, as for builds. Each matching tag is
//! recorded with [`Store::mark_tag_seen`](albs_core::db::Store::mark_tag_seen)
//! under the repository's URL, and a tag seen for the first time gets one
//! build of the tag ([`GitRef::Tag`]) on the repository's platform.
//!
//! **The first poll of a repository builds every matching tag it already
//! has**: the listener knows no tag until it has seen it once. To start
//! watching a repository with many old tags, narrow `tag_pattern` to the
//! tags to build from now on. Tags that do not match are ignored and not
//! recorded, so widening the pattern later builds the tags it newly matches.
//! A tag is recorded per URL: two watched entries with the same URL and
//! overlapping patterns build a tag once, for the first entry that polls it.
//!
//! [`watch`] polls every repository every `poll_interval` (the server runs it
//! from [`serve`](crate::serve) when a [`ListenerConfig`] is set); the
//! webhook `POST /api/v1/hooks/git` with `{"url": "<repo url>"}` polls one
//! repository at once and answers `{"builds": [ids]}`. Its caller presents
//! `Authorization: Bearer <secret>` whose sha256 is `webhook_secret_hash`
//! (`printf %s "$SECRET" | sha256sum`), or an admin's token.
//!
//! The configuration is TOML-friendly:
//!
//! ```toml
//! poll_interval = "5m"          # or a number of seconds; default 60 s
//! webhook_secret_hash = "<64 hex characters>"
//!
//! [[repos]]
//! url = "https://git.almalinux.org/rpms/bash.git"
//! tag_pattern = "imports/a9/*"
//! platform = "almalinux-9"
//! arches = ["x86_64"]           # default: every arch of the platform
//! owner = "releng"
//! ```

use std::time::Duration;

use albs_core::auth::hash_token;
use albs_core::db::{DbError, NewBuild};
use albs_core::hash::Sha256;
use albs_core::model::{Arch, BuildOptions};
use albs_core::plan;
use albs_core::platform::Platform;
use albs_core::source::{GitRef, LocationError, SourceRef};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::error::AppError;
use crate::extract::{ApiJson, UserAuth};
use crate::{AppState, now};

/// How long one `git ls-remote` may take before it is killed.
pub const LS_REMOTE_TIMEOUT: Duration = Duration::from_secs(60);

/// The poll interval when the configuration does not set one.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// The shortest poll interval [`watch`] uses.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Most characters of git's error output kept in an error message.
const MAX_GIT_ERROR: usize = 1000;

/// A git repository the server watches for new tags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedRepo {
    /// Where the repository is: an absolute path, a `file://`, `http://` or
    /// `https://` URL. Builds fetch the tag from this URL.
    pub url: String,
    /// Which tags build: a glob where `*` matches any run of characters
    /// (`/` included, as in `git tag --list`) and `?` any one character
    /// (`imports/a9/*`). See [`glob_match`].
    pub tag_pattern: String,
    /// The platform the builds are for; it must be in the store.
    pub platform: String,
    /// The arches to build; empty means every arch of the platform.
    #[serde(default)]
    pub arches: Vec<Arch>,
    /// The user name recorded as the owner of the builds.
    pub owner: String,
}

/// The git listener's configuration: [`ServerConfig::listener`](crate::ServerConfig::listener).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// The repositories to watch.
    #[serde(default)]
    pub repos: Vec<WatchedRepo>,
    /// How often every repository is polled. In TOML, a number of seconds
    /// or a string with a unit: `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "deserialize_interval"
    )]
    pub poll_interval: Duration,
    /// The sha256 of the webhook's shared secret (64 hex characters in
    /// TOML); `None` means only admin tokens may call the webhook.
    #[serde(default)]
    pub webhook_secret_hash: Option<Sha256>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            repos: Vec::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            webhook_secret_hash: None,
        }
    }
}

fn default_poll_interval() -> Duration {
    DEFAULT_POLL_INTERVAL
}

/// A duration as a number of seconds or a string with a unit.
fn deserialize_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_interval(&t).map_err(serde::de::Error::custom),
    }
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` or a bare number of seconds.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        format!(
            "poll_interval {text:?} is not a duration: write a number of seconds or a number with ms, s, m or h (\"30s\", \"5m\")"
        )
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs_per = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// Why the listener could not poll a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The configuration of the listener or of a watched repository is wrong.
    #[error("listener configuration: {0}")]
    Config(String),
    /// The watched repository's platform is not in the store.
    #[error(
        "repository {url} is watched for platform {platform:?}, which the server does not know (known: {known}); add the platform to the server's platforms.toml or POST it to /api/v1/platforms, or fix `platform` in the listener configuration"
    )]
    UnknownPlatform {
        /// The platform named in the configuration.
        platform: String,
        /// The repository (credentials removed).
        url: String,
        /// The platforms the store has.
        known: String,
    },
    /// An arch of the watched repository is not one of its platform's.
    #[error(
        "repository {url} asks for arch {arch} which platform {platform} does not build (it builds: {known}); fix `arches` in the listener configuration"
    )]
    ArchNotSupported {
        /// The repository (credentials removed).
        url: String,
        /// The platform.
        platform: String,
        /// The arch asked for.
        arch: Arch,
        /// The platform's arches.
        known: String,
    },
    /// `git` could not be started.
    #[error("cannot run `git` to list the tags of {url}: {cause}; install git on the server")]
    GitMissing {
        /// The repository (credentials removed).
        url: String,
        /// Why it could not start.
        cause: String,
    },
    /// `git ls-remote` failed.
    #[error(
        "`git ls-remote` of {url} failed: {message}; check the URL and that the server can read the repository without a password prompt"
    )]
    Git {
        /// The repository (credentials removed).
        url: String,
        /// git's error output.
        message: String,
    },
    /// `git ls-remote` took longer than allowed and was killed.
    #[error(
        "`git ls-remote` of {url} did not answer within {secs} s; check that the server can reach it"
    )]
    GitTimeout {
        /// The repository (credentials removed).
        url: String,
        /// The time allowed.
        secs: u64,
    },
    /// The tag was recorded as seen but its build could not be created; it
    /// will not be tried again.
    #[error(
        "tag {tag} of {url} was recorded as seen but its build could not be created ({source}); submit it by hand: albs submit --platform {platform} --ref {tag} {url}"
    )]
    CreateBuild {
        /// The repository (credentials removed).
        url: String,
        /// The tag.
        tag: String,
        /// The platform.
        platform: String,
        /// Why the store refused.
        source: DbError,
    },
    /// The store failed.
    #[error("recording the tags seen failed: {0}")]
    Db(#[from] DbError),
}

impl From<ListenerError> for AppError {
    fn from(e: ListenerError) -> Self {
        match e {
            ListenerError::Config(_)
            | ListenerError::UnknownPlatform { .. }
            | ListenerError::ArchNotSupported { .. } => AppError::Unprocessable(e.to_string()),
            ListenerError::Db(db) => db.into(),
            other => AppError::internal("git listener", other),
        }
    }
}

/// Whether `text` matches the glob `pattern`: `*` matches any run of
/// characters (none, and `/`, included), `?` exactly one character, every
/// other character itself. No character classes or escapes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen: the pattern index after it and the text index it
    // is currently taken to end at. Backtracking to it alone is enough, as a
    // later `*` can absorb anything an earlier one could.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((after, start)) => {
                    star = Some((after, start + 1));
                    pi = after;
                    ti = start + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `url` with any `user:password@` removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl WatchedRepo {
    /// Checks the entry: a URL the builds can fetch (absolute path, `file://`,
    /// `http(s)://`, never starting with `-`), a non-empty pattern, platform
    /// and owner.
    pub fn check(&self) -> Result<(), ListenerError> {
        check_url(&self.url)?;
        let shown = redact_url(&self.url);
        for (field, value) in [
            ("tag_pattern", &self.tag_pattern),
            ("platform", &self.platform),
            ("owner", &self.owner),
        ] {
            if value.is_empty() {
                return Err(ListenerError::Config(format!(
                    "repository {shown}: {field} is empty"
                )));
            }
            if has_space_or_control(value) {
                return Err(ListenerError::Config(format!(
                    "repository {shown}: {field} {value:?} contains whitespace or control characters"
                )));
            }
        }
        Ok(())
    }
}

impl ListenerConfig {
    /// Checks every watched repository and the poll interval.
    pub fn check(&self) -> Result<(), ListenerError> {
        if self.poll_interval < MIN_POLL_INTERVAL {
            return Err(ListenerError::Config(format!(
                "poll_interval is {:?}; it must be at least {MIN_POLL_INTERVAL:?}",
                self.poll_interval
            )));
        }
        self.repos.iter().try_for_each(WatchedRepo::check)
    }

    /// The watched entries whose URL is `url` (a trailing `/` ignored).
    pub fn repos_for<'a>(&'a self, url: &'a str) -> impl Iterator<Item = &'a WatchedRepo> + 'a {
        let want = url.trim_end_matches('/');
        self.repos
            .iter()
            .filter(move |r| r.url.trim_end_matches('/') == want)
    }
}

fn check_url(url: &str) -> Result<(), ListenerError> {
    albs_core::source::check_location(url).map_err(|why| match why {
        LocationError::Empty => ListenerError::Config("a repository url is empty".into()),
        why => ListenerError::Config(format!("repository url {:?} {why}", redact_url(url))),
    })
}

/// Whether a tag can be handed to the build pipeline as a ref name (the API
/// refuses the same names).
fn tag_is_usable(tag: &str) -> bool {
    albs_core::source::check_ref_name(tag).is_ok()
}

/// The tag names in the output of `git ls-remote --tags`, in its order;
/// lines that are not `<sha>\trefs/tags/<name>` and peeled `^{}` entries are
/// skipped.
pub fn parse_ls_remote(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| {
            let (sha, name) = line.split_once('\t')?;
            let sha_ok = matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit());
            let tag = name.strip_prefix("refs/tags/")?;
            (sha_ok && !tag.is_empty() && !tag.ends_with("^{}")).then(|| tag.to_owned())
        })
        .collect()
}

/// The tags of the repository at `url`, with `git ls-remote --tags --refs`,
/// killed after `timeout`. git never prompts for credentials.
pub async fn list_remote_tags(url: &str, timeout: Duration) -> Result<Vec<String>, ListenerError> {
    check_url(url)?;
    let shown = redact_url(url);
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(["ls-remote", "--tags", "--refs", "--", url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => {
            return Err(ListenerError::GitTimeout {
                url: shown,
                secs: timeout.as_secs(),
            });
        }
        Ok(Err(e)) => {
            return Err(ListenerError::GitMissing {
                url: shown,
                cause: e.to_string(),
            });
        }
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut message: String = stderr.trim().chars().take(MAX_GIT_ERROR).collect();
        if message.is_empty() {
            message = format!("git exited with {}", out.status);
        }
        // git may echo the URL it was given, credentials included.
        if shown != url {
            message = message.replace(url, &shown);
        }
        return Err(ListenerError::Git {
            url: shown,
            message,
        });
    }
    Ok(parse_ls_remote(&String::from_utf8_lossy(&out.stdout)))
}

/// The platform of `repo` and the arches its builds get.
async fn resolve_platform(
    state: &AppState,
    repo: &WatchedRepo,
) -> Result<(Platform, Vec<Arch>), ListenerError> {
    let url = redact_url(&repo.url);
    let Some(platform) = state.store.platform(&repo.platform).await? else {
        let known = state
            .store
            .platforms()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ListenerError::UnknownPlatform {
            platform: repo.platform.clone(),
            url,
            known: if known.is_empty() {
                "none".into()
            } else {
                known
            },
        });
    };
    let known = || {
        platform
            .arches
            .iter()
            .map(Arch::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if repo.arches.is_empty() {
        if platform.arches.is_empty() {
            return Err(ListenerError::Config(format!(
                "platform {} has no arches; give `arches` for repository {url}",
                platform.name
            )));
        }
        let arches = platform.arches.clone();
        return Ok((platform, arches));
    }
    let mut arches: Vec<Arch> = Vec::with_capacity(repo.arches.len());
    for a in &repo.arches {
        if !platform.arches.contains(a) {
            return Err(ListenerError::ArchNotSupported {
                url,
                platform: platform.name.clone(),
                arch: a.clone(),
                known: known(),
            });
        }
        if !arches.contains(a) {
            arches.push(a.clone());
        }
    }
    Ok((platform, arches))
}

/// Polls `repo` once: lists its tags, records each one matching
/// `tag_pattern` as seen, and creates a build of each one seen for the first
/// time (owned by `repo.owner`, on `repo.platform` with its timeout).
/// Returns the ids of the builds created, in tag order.
///
/// The first poll of a repository builds every matching tag (none is known
/// yet). Tags that do not match are neither built nor recorded. The
/// configuration and the platform are checked before any tag is recorded, so
/// a wrong entry records nothing; should the store refuse a build after its
/// tag was recorded, [`ListenerError::CreateBuild`] says how to submit it.
pub async fn poll_once(
    state: &AppState,
    repo: &WatchedRepo,
    now: OffsetDateTime,
) -> Result<Vec<u64>, ListenerError> {
    repo.check()?;
    let (platform, arches) = resolve_platform(state, repo).await?;
    let tags = list_remote_tags(&repo.url, LS_REMOTE_TIMEOUT).await?;
    let shown = redact_url(&repo.url);
    let options = BuildOptions::default();
    let timeout_secs = plan::timeout_secs(&platform, &options);
    let mut created = Vec::new();
    for tag in tags.iter().filter(|t| glob_match(&repo.tag_pattern, t)) {
        if !tag_is_usable(tag) {
            tracing::warn!(repo = %shown, tag = %tag, "tag skipped: its name cannot be built (whitespace, `..` or a leading `-`)");
            continue;
        }
        if !state.store.mark_tag_seen(&repo.url, tag).await? {
            continue;
        }
        let refs = vec![SourceRef::Git {
            url: repo.url.clone(),
            reference: Some(GitRef::Tag(tag.clone())),
        }];
        let new = NewBuild {
            tasks: plan::plan(&refs, &arches),
            timeout_secs,
            platform: platform.name.clone(),
            arches: arches.clone(),
            refs,
            owner: repo.owner.clone(),
            options: options.clone(),
        };
        let build = state
            .store
            .create_build(&new, now)
            .await
            .map_err(|source| ListenerError::CreateBuild {
                url: shown.clone(),
                tag: tag.clone(),
                platform: platform.name.clone(),
                source,
            })?;
        tracing::info!(build = build.id, repo = %shown, tag = %tag, owner = %build.owner, "new tag: build created");
        crate::webhooks::emit(
            state,
            crate::webhooks::Event::build(state, "created", &build),
        );
        created.push(build.id);
    }
    Ok(created)
}

/// Polls every repository of the state's [`ListenerConfig`] at once and
/// then every `poll_interval`, until `stop`. A repository that fails is
/// logged and polled again next time; the others go on. Returns at once when
/// no listener is configured.
pub async fn watch(state: AppState, stop: CancellationToken) {
    let Some(config) = state.config.listener.clone() else {
        return;
    };
    if let Err(e) = config.check() {
        tracing::error!(error = %e, "the git listener's configuration is wrong; the entries at fault fail at every poll");
    }
    if config.repos.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(config.poll_interval.max(MIN_POLL_INTERVAL));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for repo in &config.repos {
            let polled = tokio::select! {
                _ = stop.cancelled() => return,
                polled = poll_once(&state, repo, now()) => polled,
            };
            match polled {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(repo = %redact_url(&repo.url), builds = ?ids, "git listener created builds");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(repo = %redact_url(&repo.url), error = %e, "polling a watched repository failed");
                }
            }
        }
    }
}

/// The body of `POST /api/v1/hooks/git`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRequest {
    /// The URL of the repository that changed, as the listener watches it.
    pub url: String,
}

/// The answer of `POST /api/v1/hooks/git`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookResponse {
    /// The ids of the builds created.
    pub builds: Vec<u64>,
}

/// Equality of two digests in time independent of where they differ.
fn same_digest(a: &Sha256, b: &Sha256) -> bool {
    a.0.iter()
        .zip(b.0.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The bearer token of the request, if it has a well-formed one.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let text = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A webhook call with the shared secret or an admin's token.
pub(crate) struct HookAuth(Option<albs_core::db::User>);

impl FromRequestParts<AppState> for HookAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let secret = state
            .config
            .listener
            .as_ref()
            .and_then(|l| l.webhook_secret_hash.as_ref());
        if let (Some(want), Some(token)) = (secret, bearer_token(parts))
            && same_digest(want, &hash_token(token))
        {
            return Ok(HookAuth(None));
        }
        // Not the secret: a user's token (the handler asks for an admin).
        UserAuth::from_request_parts(parts, state)
            .await
            .map(|UserAuth(user)| HookAuth(Some(user)))
            .map_err(|e| match e {
                AppError::Unauthorized(_) => AppError::Unauthorized(
                    "the webhook needs `Authorization: Bearer <secret>` with the listener's webhook secret, or an admin's token".into(),
                ),
                other => other,
            })
    }
}

/// `POST /api/v1/hooks/git`: polls the watched repository `url` now.
pub(crate) async fn git_hook(
    State(state): State<AppState>,
    HookAuth(user): HookAuth,
    ApiJson(req): ApiJson<HookRequest>,
) -> Result<Json<HookResponse>, AppError> {
    use crate::authz::{Action, Scope, audit_anonymous, authorize};
    match &user {
        Some(user) => authorize(&state, user, Action::GitHook, Scope::Global).await?,
        None => audit_anonymous(&state, Action::GitHook, "webhook secret").await?,
    }
    let Some(config) = state.config.listener.as_ref() else {
        return Err(AppError::NotFound(
            "the git listener is not configured on this server; set `listener` in its configuration"
                .into(),
        ));
    };
    let repos: Vec<&WatchedRepo> = config.repos_for(&req.url).collect();
    if repos.is_empty() {
        return Err(AppError::NotFound(format!(
            "repository {} is not watched; add it to the listener's repos (the url must be spelled as there)",
            redact_url(&req.url)
        )));
    }
    let mut builds = Vec::new();
    for repo in repos {
        builds.extend(poll_once(&state, repo, now()).await?);
    }
    tracing::info!(repo = %redact_url(&req.url), builds = ?builds, "webhook: repository polled");
    Ok(Json(HookResponse { builds }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        let yes = [
            ("imports/a9/*", "imports/a9/bash-5.1.8-6.el9"),
            ("imports/a9/*", "imports/a9/"),
            ("imports/a9/*", "imports/a9/x/y"),
            ("*", ""),
            ("*", "anything/at/all"),
            ("v?.?", "v1.2"),
            ("*-*-*.el9", "bash-5.1.8-6.el9"),
            ("a*b*c", "aXbYbZc"),
            ("**a", "a"),
            ("exact", "exact"),
            ("imports/a?/*", "imports/a8/zsh-1-1.el8"),
            ("é?", "éü"),
        ];
        for (p, t) in yes {
            assert!(glob_match(p, t), "{p:?} should match {t:?}");
        }
        let no = [
            ("imports/a9/*", "imports/a8/bash-1-1.el8"),
            ("imports/a9/*", "imports/a9"),
            ("imports/a9/*", "x/imports/a9/bash"),
            ("v?.?", "v1.23"),
            ("v?.?", "v.2"),
            ("a*b*c", "aXbYbZ"),
            ("exact", "exactly"),
            ("exact", "exac"),
            ("", "x"),
            ("?", ""),
        ];
        for (p, t) in no {
            assert!(!glob_match(p, t), "{p:?} should not match {t:?}");
        }
    }

    #[test]
    fn glob_matching_does_not_blow_up() {
        let text = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&"*a".repeat(50), &text));
    }

    #[test]
    fn ls_remote_output_is_parsed() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let out = format!(
            "{sha}\trefs/tags/imports/a9/bash-5.1.8-6.el9\n\
             {sha}\trefs/tags/v1\n\
             {sha}\trefs/tags/v1^{{}}\n\
             {sha}\trefs/heads/main\n\
             nothex\trefs/tags/bogus\n\
             garbage line\n\
             {sha}\trefs/tags/\n"
        );
        assert_eq!(
            parse_ls_remote(&out),
            vec!["imports/a9/bash-5.1.8-6.el9".to_owned(), "v1".to_owned()]
        );
        assert!(parse_ls_remote("").is_empty());
    }

    #[test]
    fn urls_are_checked() {
        for ok in [
            "/srv/git/bash.git",
            "file:///srv/git/bash.git",
            "https://git.almalinux.org/rpms/bash.git",
            "http://localhost:3000/rpms/bash",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("-uhack", "starts with `-`"),
            ("--upload-pack=touch /tmp/x", "starts with `-`"),
            ("rpms/bash", "relative path"),
            ("ext::sh -c touch% /tmp/x", "whitespace"),
            ("ext::sh", "relative path"),
            ("ssh://host/x", "scheme"),
            ("https:///x", "no host"),
            ("file://x", "absolute path"),
            ("", "empty"),
        ] {
            let e = check_url(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_url("https://bob:s3cret@git.example/rpms/bash.git"),
            "https://***@git.example/rpms/bash.git"
        );
        assert_eq!(
            redact_url("https://git.example/a@b"),
            "https://git.example/a@b"
        );
        assert_eq!(redact_url("/srv/git/x"), "/srv/git/x");
        let e = check_url("https://bob:s3cret@git.example/x y").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn unusable_tags_are_recognised() {
        assert!(tag_is_usable("imports/a9/bash-5.1.8-6.el9"));
        for bad in ["", "-x", "a..b", "a b"] {
            assert!(!tag_is_usable(bad), "{bad:?}");
        }
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("42"), Ok(Duration::from_secs(42)));
        for bad in ["", "m", "5 days", "1.5s", "-3s", "99999999999999999999h"] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains("poll_interval"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_configuration_reads_from_toml() {
        let hash = hash_token("hook-secret");
        let text = format!(
            r#"
poll_interval = "5m"
webhook_secret_hash = "{hash}"

[[repos]]
url = "https://git.almalinux.org/rpms/bash.git"
tag_pattern = "imports/a9/*"
platform = "almalinux-9"
arches = ["x86_64", "aarch64"]
owner = "releng"

[[repos]]
url = "/srv/git/zsh"
tag_pattern = "imports/a9/*"
platform = "almalinux-9"
owner = "releng"
"#
        );
        let c: ListenerConfig = toml::from_str(&text).unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(300));
        assert_eq!(c.webhook_secret_hash, Some(hash));
        assert_eq!(c.repos.len(), 2);
        assert_eq!(
            c.repos[0].arches,
            vec![
                "x86_64".parse::<Arch>().unwrap(),
                "aarch64".parse().unwrap()
            ]
        );
        assert!(c.repos[1].arches.is_empty());
        c.check().unwrap();

        let defaults: ListenerConfig = toml::from_str("poll_interval = 7").unwrap();
        assert_eq!(
            defaults,
            ListenerConfig {
                poll_interval: Duration::from_secs(7),
                ..ListenerConfig::default()
            }
        );

        let typo = toml::from_str::<ListenerConfig>("poll_intreval = 7").unwrap_err();
        assert!(typo.to_string().contains("poll_intreval"), "{typo}");
        let bad_hash =
            toml::from_str::<ListenerConfig>("webhook_secret_hash = \"abc\"").unwrap_err();
        assert!(bad_hash.to_string().contains("abc"), "{bad_hash}");
    }

    #[test]
    fn configurations_are_checked() {
        let good = WatchedRepo {
            url: "/srv/git/bash".into(),
            tag_pattern: "imports/a9/*".into(),
            platform: "almalinux-9".into(),
            arches: vec![],
            owner: "releng".into(),
        };
        good.check().unwrap();
        let e = WatchedRepo {
            owner: String::new(),
            ..good.clone()
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("owner is empty"), "{e}");
        let e = WatchedRepo {
            tag_pattern: "a b".into(),
            ..good.clone()
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("tag_pattern"), "{e}");
        let c = ListenerConfig {
            repos: vec![good.clone()],
            poll_interval: Duration::ZERO,
            webhook_secret_hash: None,
        };
        assert!(c.check().unwrap_err().to_string().contains("poll_interval"));
        let c = ListenerConfig {
            repos: vec![good.clone()],
            ..ListenerConfig::default()
        };
        assert_eq!(c.repos_for("/srv/git/bash/").count(), 1);
        assert_eq!(c.repos_for("/srv/git/bas").count(), 0);
    }

    #[test]
    fn digests_compare() {
        let a = hash_token("a");
        assert!(same_digest(&a, &hash_token("a")));
        assert!(!same_digest(&a, &hash_token("b")));
    }
}
