//! Outbound webhooks: on build events (created, succeeded, failed,
//! cancelled) and release events (committed, reverted), the server POSTs a
//! JSON document to each configured URL.
//!
//! Each request carries `X-Albs-Event: <event>` and, when the target has a
//! secret, `X-Albs-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact
//! body under that secret. Deliveries run in the background with retries
//! and exponential backoff, so that no request of a user or a node waits
//! for a receiver; a receiver that answers 2xx has the event. Secrets are
//! never logged.

use std::sync::Arc;
use std::time::Duration;

use albs_core::hash::Sha256;
use albs_core::model::{Build, TaskState};
use serde::Serialize;
use serde_json::Value;

use crate::AppState;

/// Header naming the event.
pub const EVENT_HEADER: &str = "X-Albs-Event";
/// Header holding `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Albs-Signature";

/// Deliveries of one event to one target, at most.
const ATTEMPTS: u32 = 6;
/// The wait before the first retry; it doubles after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go: a URL and the secret their bodies are signed with.
#[derive(Clone)]
pub struct WebhookTarget {
    /// The `http://` or `https://` URL that receives the POSTs.
    pub url: String,
    /// The HMAC key; no signature header when `None`.
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.shown_url())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl WebhookTarget {
    /// The URL as logs show it: without user info and query, which may
    /// carry credentials.
    pub fn shown_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        format!("{scheme}://{host}/{path}")
    }

    /// Checks the target: an absolute http(s) URL, a non-empty secret.
    pub fn check(&self) -> Result<(), String> {
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') => {}
            _ => {
                return Err(format!(
                    "webhook URL {:?} must be an absolute http:// or https:// URL",
                    self.url
                ));
            }
        }
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(format!("the secret of webhook {} is empty", self.url));
        }
        Ok(())
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::of(key).0);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&Sha256::of(&inner).0);
    Sha256::of(&outer).0
}

/// The `X-Albs-Signature` value of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// An event to deliver: its name (`build.created`, `release.committed`, …)
/// and what it is about.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Event {
    event: String,
    #[serde(with = "time::serde::rfc3339")]
    time: time::OffsetDateTime,
    #[serde(flatten)]
    data: serde_json::Map<String, Value>,
}

impl Event {
    /// `build.<what>` about `build`, with a link to its page.
    pub(crate) fn build(state: &AppState, what: &str, build: &Build) -> Event {
        let base = state
            .config
            .public_base_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/');
        let mut data = serde_json::Map::new();
        data.insert(
            "build".into(),
            serde_json::json!({
                "id": build.id,
                "state": build.state().to_string(),
                "owner": build.owner,
                "platform": build.platform,
                "arches": build.arches.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "product": build.options.product,
                "packages": build.tasks.iter().filter_map(|t| t.package.clone())
                    .collect::<std::collections::BTreeSet<_>>(),
                "url": format!("{base}/builds/{}", build.id),
            }),
        );
        Event {
            event: format!("build.{what}"),
            time: crate::now(),
            data,
        }
    }

    /// `release.<what>` (`committed`, `reverted`) about `release`, any
    /// serialisable description of it.
    pub(crate) fn release(what: &str, release: &impl Serialize) -> Event {
        let mut data = serde_json::Map::new();
        data.insert(
            "release".into(),
            serde_json::to_value(release).unwrap_or(Value::Null),
        );
        Event {
            event: format!("release.{what}"),
            time: crate::now(),
            data,
        }
    }
}

/// The configured targets and the HTTP client that delivers to them.
#[derive(Clone, Default)]
pub(crate) struct Webhooks {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    targets: Vec<WebhookTarget>,
    http: reqwest::Client,
}

impl Webhooks {
    /// Delivers to `targets`; none when empty.
    pub(crate) fn new(targets: &[WebhookTarget]) -> Webhooks {
        if targets.is_empty() {
            return Webhooks::default();
        }
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Webhooks {
            inner: Some(Arc::new(Inner {
                targets: targets.to_vec(),
                http,
            })),
        }
    }

    /// Whether any target is configured.
    pub(crate) fn enabled(&self) -> bool {
        self.inner.is_some()
    }
}

/// Queues `event` for every target and returns at once.
pub(crate) fn emit(state: &AppState, event: Event) {
    let Some(inner) = state.webhooks.inner.clone() else {
        return;
    };
    let body = match serde_json::to_vec(&event) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            tracing::error!(event = %event.event, error = %e, "a webhook event does not serialise");
            return;
        }
    };
    for (i, target) in inner.targets.iter().enumerate() {
        let inner = inner.clone();
        let body = body.clone();
        let name = event.event.clone();
        let sig = target
            .secret
            .as_ref()
            .map(|s| signature(s.as_bytes(), &body));
        tokio::spawn(async move {
            let target = &inner.targets[i];
            deliver(&inner.http, target, &name, body, sig).await;
        });
    }
}

async fn deliver(
    http: &reqwest::Client,
    target: &WebhookTarget,
    event: &str,
    body: bytes::Bytes,
    sig: Option<String>,
) {
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut req = http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event)
            .body(body.clone());
        if let Some(s) = &sig {
            req = req.header(SIGNATURE_HEADER, s);
        }
        let why = match req.send().await {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(url = %target.shown_url(), %event, attempt, "webhook delivered");
                return;
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => format!("{e}"),
        };
        if attempt == ATTEMPTS {
            tracing::warn!(url = %target.shown_url(), %event, attempts = ATTEMPTS, reason = %why, "webhook not delivered; giving up");
            return;
        }
        tracing::info!(url = %target.shown_url(), %event, attempt, reason = %why, retry_in = ?wait, "webhook delivery failed; retrying");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

/// Whether the build of task `task_id` has ended (`None` without targets,
/// so that no lookup is made for nothing).
pub(crate) async fn build_of_task_ended(state: &AppState, task_id: u64) -> Option<bool> {
    if !state.webhooks.enabled() {
        return None;
    }
    let build_id = state.store.task_build(task_id).await.ok()??;
    let build = state.store.build(build_id).await.ok()??;
    Some(build.state().is_final())
}

/// After a task of build `build_id` ended: `build.succeeded` or
/// `build.failed` when that made the build end (`ended_before` from
/// [`build_of_task_ended`]). A cancelled build's event is sent by the cancel.
pub(crate) async fn task_ended(state: &AppState, build_id: u64, ended_before: Option<bool>) {
    if ended_before != Some(false) {
        return;
    }
    let Ok(Some(build)) = state.store.build(build_id).await else {
        return;
    };
    let what = match build.state() {
        TaskState::Succeeded => "succeeded",
        TaskState::Failed | TaskState::TimedOut => "failed",
        _ => return,
    };
    emit(state, Event::build(state, what, &build));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 of RFC 4231.
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn targets_are_checked_and_secrets_not_shown() {
        let t = WebhookTarget {
            url: "https://hooks.example/albs".into(),
            secret: Some("s3cret".into()),
        };
        t.check().unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
        let t = WebhookTarget {
            url: "https://u:pw@hooks.example/in?token=abc".into(),
            secret: None,
        };
        assert_eq!(t.shown_url(), "https://hooks.example/in");
        for bad in ["ftp://x", "hooks.example", "http://", "https:///x"] {
            let t = WebhookTarget {
                url: bad.into(),
                secret: None,
            };
            assert!(t.check().unwrap_err().contains(bad), "{bad}");
        }
    }
}
