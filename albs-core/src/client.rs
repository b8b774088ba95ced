//! The HTTP client of the `/api/v1` REST API, used by the CLI, the build
//! nodes and the bindings. Each method is one route; the routes are listed
//! here once and the server follows them.
//!
//! | method | route | auth | body → answer |
//! |---|---|---|---|
//! | GET | `/api/v1/platforms` | – | → `Vec<Platform>` |
//! | POST | `/api/v1/platforms` | admin | `Platform` → `Platform` (201) |
//! | POST | `/api/v1/builds` | user | [`CreateBuild`] → `Build` (201) |
//! | GET | `/api/v1/builds?…` | – | [`BuildQuery`] as query → [`BuildPage`] |
//! | GET | `/api/v1/builds/{id}` | – | → `Build` |
//! | POST | `/api/v1/builds/{id}/cancel` | owner/admin | → `Build` |
//! | POST | `/api/v1/builds/{id}/restart` | owner/admin | → `Build` |
//! | DELETE | `/api/v1/builds/{id}` | owner/admin | → 204 |
//! | GET | `/api/v1/tasks/{id}/log?from=N&limit=M` | – | → [`LogChunk`] |
//! | GET | `/api/v1/artifacts/{sha256}` | – | → the bytes |
//! | POST | `/api/v1/nodes` | admin | [`RegisterNode`] → [`NodeRegistered`] (201) |
//! | GET | `/api/v1/nodes` | user | → `Vec<Node>` |
//! | POST | `/api/v1/node/claim` | node | → [`ClaimResponse`] |
//! | POST | `/api/v1/node/tasks/{id}/heartbeat` | node | → [`HeartbeatResponse`] |
//! | POST | `/api/v1/node/tasks/{id}/log` | node | [`LogLines`] → `{"next": N}` |
//! | PUT | `/api/v1/node/tasks/{id}/artifacts/{sha256}` | node | bytes → [`Uploaded`] |
//! | POST | `/api/v1/node/tasks/{id}/complete` | node | [`TaskResult`] → `BuildTask` |
//! | GET | `/api/v1/ledger/checkpoint` | – | → the latest signed checkpoint (text) |
//! | GET | `/api/v1/ledger/key` | – | → the checkpoint verifier key (text) |
//! | GET | `/api/v1/ledger/records/{index}` | – | → [`LedgerEntryView`] |
//! | GET | `/api/v1/ledger/artifacts/{sha256}` | – | → `Vec<LedgerEntryView>` |
//! | GET | `/api/v1/ledger/proof/inclusion?index=I&size=N` | – | → [`InclusionProofView`] |
//! | GET | `/api/v1/ledger/proof/consistency?old=M&new=N` | – | → [`ConsistencyProofView`] |

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    ApiError, BuildPage, BuildQuery, ClaimResponse, CreateBuild, HeartbeatResponse, LogChunk,
    LogLines, NodeRegistered, RegisterNode, TaskResult, Uploaded,
};
use crate::api::{ConsistencyProofView, InclusionProofView, LedgerEntryView};
use crate::db::Node;
use crate::hash::Sha256;
use crate::model::{Build, BuildTask};
use crate::platform::Platform;

/// Errors from the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{method} {path}: {status}: {message}")]
    Api {
        /// HTTP method.
        method: String,
        /// The route.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the albs server at {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A local file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one albs server, with an optional bearer token.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client with default TLS builds");
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send_raw(method.clone(), path, build).await?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.connect_error(&e))?;
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_slice(b"null")
                .map_err(|e| self.decode(&method, path, status, e));
        }
        serde_json::from_slice(&bytes).map_err(|e| self.decode(&method, path, status, e))
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = build(self.request(method.clone(), path))
            .send()
            .await
            .map_err(|e| self.connect_error(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ApiError>(&text)
            .map(|e| e.error)
            .unwrap_or(text);
        Err(ClientError::Api {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            message,
        })
    }

    fn connect_error(&self, e: &reqwest::Error) -> ClientError {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        ClientError::Connect {
            url: self.base.clone(),
            message,
        }
    }

    fn decode(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        e: serde_json::Error,
    ) -> ClientError {
        ClientError::Api {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            message: format!("the server's answer is not what this client expects: {e}"),
        }
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(Method::POST, path, |r| r.json(body)).await
    }

    /// Sends `method path` (with a JSON body when given) and decodes the
    /// JSON answer: for the API routes this client has no method of its own.
    /// A refusal is a [`ClientError::Api`] with the server's message.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.send(method, path, |r| match body {
            Some(b) => r.json(b),
            None => r,
        })
        .await
    }

    /// As [`Client::call`], with the answer's body as text (XML feeds,
    /// armored keys).
    pub async fn call_text<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<String, ClientError> {
        let resp = self
            .send_raw(method, path, |r| match body {
                Some(b) => r.json(b),
                None => r,
            })
            .await?;
        resp.text().await.map_err(|e| self.connect_error(&e))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(Method::GET, path, |r| r).await
    }

    /// Every platform.
    pub async fn platforms(&self) -> Result<Vec<Platform>, ClientError> {
        self.get("/api/v1/platforms").await
    }

    /// Creates or replaces a platform (admin).
    pub async fn put_platform(&self, p: &Platform) -> Result<Platform, ClientError> {
        self.post("/api/v1/platforms", p).await
    }

    /// Submits a build.
    pub async fn create_build(&self, req: &CreateBuild) -> Result<Build, ClientError> {
        self.post("/api/v1/builds", req).await
    }

    /// Lists builds.
    pub async fn builds(&self, q: &BuildQuery) -> Result<BuildPage, ClientError> {
        self.send(Method::GET, "/api/v1/builds", |r| r.query(q))
            .await
    }

    /// A build with its tasks.
    pub async fn build(&self, id: u64) -> Result<Build, ClientError> {
        self.get(&format!("/api/v1/builds/{id}")).await
    }

    /// Cancels a build (running tasks too).
    pub async fn cancel_build(&self, id: u64) -> Result<Build, ClientError> {
        self.post(&format!("/api/v1/builds/{id}/cancel"), &()).await
    }

    /// Restarts the failed tasks of a build.
    pub async fn restart_build(&self, id: u64) -> Result<Build, ClientError> {
        self.post(&format!("/api/v1/builds/{id}/restart"), &())
            .await
    }

    /// Deletes a finished build.
    pub async fn delete_build(&self, id: u64) -> Result<(), ClientError> {
        self.send_raw(Method::DELETE, &format!("/api/v1/builds/{id}"), |r| r)
            .await
            .map(|_| ())
    }

    /// Log lines of a task from line `from`.
    pub async fn log(&self, task: u64, from: u64) -> Result<LogChunk, ClientError> {
        self.get(&format!("/api/v1/tasks/{task}/log?from={from}"))
            .await
    }

    /// Downloads an artifact into `dest`, checking its sha256.
    pub async fn download(&self, sha256: &Sha256, dest: &Path) -> Result<(), ClientError> {
        use sha2::Digest as _;
        use tokio::io::AsyncWriteExt as _;
        let path = format!("/api/v1/artifacts/{sha256}");
        let mut resp = self.send_raw(Method::GET, &path, |r| r).await?;
        let io = |source| ClientError::Io {
            path: dest.display().to_string(),
            source,
        };
        let tmp = dest.with_extension("part");
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.connect_error(&e))? {
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        let got = Sha256(hasher.finalize().into());
        if got != *sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ClientError::Api {
                method: "GET".into(),
                path,
                status: 200,
                message: format!("downloaded content has sha256 {got}, expected {sha256}"),
            });
        }
        tokio::fs::rename(&tmp, dest).await.map_err(io)
    }

    /// Every ledger record about an artifact (empty when there is none).
    pub async fn ledger_artifact(
        &self,
        sha256: &Sha256,
    ) -> Result<Vec<LedgerEntryView>, ClientError> {
        self.get(&format!("/api/v1/ledger/artifacts/{sha256}"))
            .await
    }

    /// The ledger record at `index`.
    pub async fn ledger_record(&self, index: u64) -> Result<LedgerEntryView, ClientError> {
        self.get(&format!("/api/v1/ledger/records/{index}")).await
    }

    /// The ledger's latest signed checkpoint (a C2SP signed note).
    pub async fn ledger_checkpoint(&self) -> Result<String, ClientError> {
        self.get_text("/api/v1/ledger/checkpoint").await
    }

    /// The verifier key the server signs checkpoints with. Trust it only
    /// after checking it against one published out of band.
    pub async fn ledger_key(&self) -> Result<String, ClientError> {
        self.get_text("/api/v1/ledger/key").await
    }

    /// The inclusion proof of record `index` in the tree of `size` records.
    pub async fn ledger_inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<InclusionProofView, ClientError> {
        self.get(&format!(
            "/api/v1/ledger/proof/inclusion?index={index}&size={size}"
        ))
        .await
    }

    /// The consistency proof between tree sizes `old` and `new`.
    pub async fn ledger_consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProofView, ClientError> {
        self.get(&format!(
            "/api/v1/ledger/proof/consistency?old={old}&new={new}"
        ))
        .await
    }

    async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self.send_raw(Method::GET, path, |r| r).await?;
        resp.text().await.map_err(|e| self.connect_error(&e))
    }

    /// Registers a build node (admin); the answer holds its token.
    pub async fn register_node(&self, n: &RegisterNode) -> Result<NodeRegistered, ClientError> {
        self.post("/api/v1/nodes", n).await
    }

    /// Every node.
    pub async fn nodes(&self) -> Result<Vec<Node>, ClientError> {
        self.get("/api/v1/nodes").await
    }

    /// Node protocol: asks for a task.
    pub async fn claim(&self) -> Result<ClaimResponse, ClientError> {
        self.post("/api/v1/node/claim", &()).await
    }

    /// Node protocol: extends the lease of a task.
    pub async fn heartbeat(&self, task: u64) -> Result<HeartbeatResponse, ClientError> {
        self.post(&format!("/api/v1/node/tasks/{task}/heartbeat"), &())
            .await
    }

    /// Node protocol: appends log lines.
    pub async fn append_log(&self, task: u64, lines: Vec<String>) -> Result<u64, ClientError> {
        #[derive(serde::Deserialize)]
        struct Next {
            next: u64,
        }
        let n: Next = self
            .post(
                &format!("/api/v1/node/tasks/{task}/log"),
                &LogLines { lines },
            )
            .await?;
        Ok(n.next)
    }

    /// Node protocol: streams the file at `path` up as artifact `sha256`.
    pub async fn upload(
        &self,
        task: u64,
        sha256: &Sha256,
        path: &Path,
    ) -> Result<Uploaded, ClientError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| ClientError::Io {
                path: path.display().to_string(),
                source,
            })?;
        let len = file
            .metadata()
            .await
            .map_err(|source| ClientError::Io {
                path: path.display().to_string(),
                source,
            })?
            .len();
        let stream = tokio_util::io::ReaderStream::new(file);
        self.send(
            Method::PUT,
            &format!("/api/v1/node/tasks/{task}/artifacts/{sha256}"),
            |r| {
                r.header(reqwest::header::CONTENT_LENGTH, len)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(reqwest::Body::wrap_stream(stream))
            },
        )
        .await
    }

    /// Node protocol: ends a task (idempotent).
    pub async fn complete(&self, task: u64, result: &TaskResult) -> Result<BuildTask, ClientError> {
        self.post(&format!("/api/v1/node/tasks/{task}/complete"), result)
            .await
    }
}

/// Signing keys and sign tasks.
///
/// | method | route | auth | body → answer |
/// |---|---|---|---|
/// | POST | `/api/v1/keys` | admin | [`RegisterKey`](crate::api::RegisterKey) → [`SignKey`](crate::api::SignKey) (201) |
/// | GET | `/api/v1/keys` | – | → `Vec<SignKey>` |
/// | POST | `/api/v1/keys/{fingerprint}/archive` | admin | → [`SignKey`](crate::api::SignKey) |
/// | POST | `/api/v1/builds/{id}/sign` | owner/admin | [`CreateSignTask`](crate::api::CreateSignTask) → [`SignTask`](crate::api::SignTask) (201) |
/// | GET | `/api/v1/builds/{id}/sign` | – | → `Vec<SignTask>` |
/// | GET | `/api/v1/sign/tasks/{id}` | – | → [`SignTask`](crate::api::SignTask) |
/// | POST | `/api/v1/sign/claim` | node | [`SignClaim`](crate::api::SignClaim) → [`SignClaimResponse`](crate::api::SignClaimResponse) |
/// | POST | `/api/v1/sign/tasks/{id}/heartbeat` | node | → [`HeartbeatResponse`] |
/// | PUT | `/api/v1/sign/tasks/{id}/packages/{unsigned sha256}` | node | signed RPM → [`SignedUploaded`](crate::api::SignedUploaded) |
/// | POST | `/api/v1/sign/tasks/{id}/complete` | node | [`SignResult`](crate::api::SignResult) → [`SignTask`](crate::api::SignTask) |
impl Client {
    /// Registers the public half of a signing key for a platform (admin);
    /// the platform's active key is archived.
    pub async fn register_key(
        &self,
        req: &crate::api::RegisterKey,
    ) -> Result<crate::api::SignKey, ClientError> {
        self.post("/api/v1/keys", req).await
    }

    /// Every registered signing key.
    pub async fn keys(&self) -> Result<Vec<crate::api::SignKey>, ClientError> {
        self.get("/api/v1/keys").await
    }

    /// Archives a signing key (admin): it signs nothing new.
    pub async fn archive_key(&self, fingerprint: &str) -> Result<crate::api::SignKey, ClientError> {
        self.post(&format!("/api/v1/keys/{fingerprint}/archive"), &())
            .await
    }

    /// Asks for the packages of a finished build to be signed.
    pub async fn sign_build(
        &self,
        build: u64,
        req: &crate::api::CreateSignTask,
    ) -> Result<crate::api::SignTask, ClientError> {
        self.post(&format!("/api/v1/builds/{build}/sign"), req)
            .await
    }

    /// The sign tasks of a build, oldest first.
    pub async fn build_sign_tasks(
        &self,
        build: u64,
    ) -> Result<Vec<crate::api::SignTask>, ClientError> {
        self.get(&format!("/api/v1/builds/{build}/sign")).await
    }

    /// A sign task.
    pub async fn sign_task(&self, id: u64) -> Result<crate::api::SignTask, ClientError> {
        self.get(&format!("/api/v1/sign/tasks/{id}")).await
    }

    /// Sign-node protocol: asks for a sign task for one of `fingerprints`.
    pub async fn sign_claim(
        &self,
        fingerprints: &[String],
    ) -> Result<crate::api::SignClaimResponse, ClientError> {
        let body = crate::api::SignClaim {
            fingerprints: fingerprints.to_vec(),
        };
        self.post("/api/v1/sign/claim", &body).await
    }

    /// Sign-node protocol: extends the lease of a sign task.
    pub async fn sign_heartbeat(&self, task: u64) -> Result<HeartbeatResponse, ClientError> {
        self.post(&format!("/api/v1/sign/tasks/{task}/heartbeat"), &())
            .await
    }

    /// Sign-node protocol: the published `repomd.xml` files that wait for a
    /// signature by one of `fingerprints`.
    pub async fn repomd_pending(
        &self,
        fingerprints: &[String],
    ) -> Result<Vec<crate::release::RepomdToSign>, ClientError> {
        let body = crate::release::RepomdPending {
            fingerprints: fingerprints.to_vec(),
        };
        self.post("/api/v1/releases/repomd/pending", &body).await
    }

    /// Sign-node protocol: posts the detached signature of a repository's
    /// `repomd.xml`; the server keeps it only if it verifies.
    pub async fn repomd_signature(
        &self,
        signature: &crate::release::RepomdSignature,
    ) -> Result<(), ClientError> {
        self.post("/api/v1/releases/repomd/signature", signature)
            .await
    }

    /// Sign-node protocol: uploads the signed twin (the file at `path`) of
    /// package `unsigned`; the server checks it before it keeps it.
    pub async fn upload_signed(
        &self,
        task: u64,
        unsigned: &Sha256,
        path: &Path,
    ) -> Result<crate::api::SignedUploaded, ClientError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| ClientError::Io {
                path: path.display().to_string(),
                source,
            })?;
        self.send(
            Method::PUT,
            &format!("/api/v1/sign/tasks/{task}/packages/{unsigned}"),
            |r| {
                r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes)
            },
        )
        .await
    }

    /// Sign-node protocol: ends a sign task (idempotent).
    pub async fn sign_complete(
        &self,
        task: u64,
        result: &crate::api::SignResult,
    ) -> Result<crate::api::SignTask, ClientError> {
        self.post(&format!("/api/v1/sign/tasks/{task}/complete"), result)
            .await
    }
}

/// Test tasks (see [`crate::db::testing`]):
///
/// | method | path | auth | body → answer |
/// |---|---|---|---|
/// | GET | `/api/v1/builds/{id}/tests` | – | → `Vec<TestTask>` |
/// | POST | `/api/v1/builds/{id}/tests/restart` | owner/admin | → `Vec<TestTask>` |
/// | POST | `/api/v1/builds/{id}/tests/cancel` | owner/admin | → `Vec<TestTask>` |
/// | POST | `/api/v1/node/test/claim` | node | → [`TestClaimResponse`](crate::api::TestClaimResponse) |
/// | POST | `/api/v1/node/test/{id}/heartbeat` | node | → [`HeartbeatResponse`] |
/// | POST | `/api/v1/node/test/{id}/log` | node | [`LogLines`](crate::api::LogLines) → line count |
/// | POST | `/api/v1/node/test/{id}/complete` | node | [`TestResult`](crate::api::TestResult) → [`TestTask`](crate::api::TestTask) |
impl Client {
    /// The test tasks of a build, by arch, with their reports and logs.
    pub async fn build_tests(&self, build: u64) -> Result<Vec<crate::api::TestTask>, ClientError> {
        self.get(&format!("/api/v1/builds/{build}/tests")).await
    }

    /// Puts the failed and cancelled test tasks of a build back to pending.
    pub async fn restart_tests(
        &self,
        build: u64,
    ) -> Result<Vec<crate::api::TestTask>, ClientError> {
        self.post(&format!("/api/v1/builds/{build}/tests/restart"), &())
            .await
    }

    /// Cancels the pending and running test tasks of a build.
    pub async fn cancel_tests(&self, build: u64) -> Result<Vec<crate::api::TestTask>, ClientError> {
        self.post(&format!("/api/v1/builds/{build}/tests/cancel"), &())
            .await
    }

    /// Node protocol: asks for a test task of one of the node's arches.
    pub async fn test_claim(&self) -> Result<crate::api::TestClaimResponse, ClientError> {
        self.post("/api/v1/node/test/claim", &()).await
    }

    /// Node protocol: extends the lease of a test task.
    pub async fn test_heartbeat(&self, task: u64) -> Result<HeartbeatResponse, ClientError> {
        self.post(&format!("/api/v1/node/test/{task}/heartbeat"), &())
            .await
    }

    /// Node protocol: appends log lines to a test task; returns the line count.
    pub async fn test_append_log(&self, task: u64, lines: Vec<String>) -> Result<u64, ClientError> {
        #[derive(serde::Deserialize)]
        struct Next {
            next: u64,
        }
        let n: Next = self
            .post(
                &format!("/api/v1/node/test/{task}/log"),
                &crate::api::LogLines { lines },
            )
            .await?;
        Ok(n.next)
    }

    /// Node protocol: ends a test task with its report (idempotent).
    pub async fn test_complete(
        &self,
        task: u64,
        result: &crate::api::TestResult,
    ) -> Result<crate::api::TestTask, ClientError> {
        self.post(&format!("/api/v1/node/test/{task}/complete"), result)
            .await
    }
}
