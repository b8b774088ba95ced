//! Artifact upload (node protocol) and download (anonymous).
//!
//! An upload is streamed into the artifact store, which keeps it only when
//! it hashes to the sha256 in the route; a body shorter or longer than its
//! `Content-Length` fails the stream, so the store keeps nothing of it either.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use albs_core::api::Uploaded;
use albs_core::store::StoreError;
use axum::Json;
use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::error::AppError;
use crate::extract::{ApiPath, NodeAuth, parse_sha256};
use crate::{AppState, now};

/// What went wrong with an upload body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// The body ended (or the connection broke) before `want` bytes.
    Truncated { got: u64, want: u64 },
    /// More bytes than `Content-Length` said.
    TooLong { want: u64 },
}

/// The body as a byte stream that fails unless it is exactly `want` bytes
/// long, noting why in `fault`.
struct Exact {
    inner: BodyDataStream,
    want: u64,
    got: u64,
    fault: Arc<Mutex<Option<Fault>>>,
    done: bool,
}

impl Exact {
    fn fail(&mut self, fault: Fault) -> Poll<Option<io::Result<Bytes>>> {
        let msg = match &fault {
            Fault::Truncated { got, want } => {
                format!("upload truncated: got {got} of {want} bytes")
            }
            Fault::TooLong { want } => format!("upload is longer than its Content-Length {want}"),
        };
        *self.fault.lock().expect("fault lock") = Some(fault);
        self.done = true;
        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg))))
    }
}

impl Stream for Exact {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
            Some(Ok(chunk)) => {
                self.got += chunk.len() as u64;
                if self.got > self.want {
                    let want = self.want;
                    return self.fail(Fault::TooLong { want });
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            // The connection broke: whatever the cause, the body is short.
            Some(Err(_)) | None if self.got < self.want => {
                let (got, want) = (self.got, self.want);
                self.fail(Fault::Truncated { got, want })
            }
            Some(Err(e)) => {
                self.done = true;
                Poll::Ready(Some(Err(io::Error::other(e))))
            }
            None => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

fn content_length(headers: &HeaderMap) -> Result<u64, AppError> {
    let v = headers.get(header::CONTENT_LENGTH).ok_or_else(|| {
        AppError::LengthRequired(
            "an upload needs a Content-Length header (chunked uploads are not accepted)".into(),
        )
    })?;
    v.to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| AppError::BadRequest("Content-Length is not a number".into()))
}

/// `PUT /api/v1/node/tasks/{id}/artifacts/{sha256}`: the node must hold the
/// task (its lease is extended); the body must hash to `sha256`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath((task, sha)): ApiPath<(u64, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Uploaded>), AppError> {
    let want = parse_sha256(&sha)?;
    let len = content_length(&headers)?;
    let max = state.config.max_upload_bytes;
    if len > max {
        return Err(AppError::TooLarge(format!(
            "upload of {len} bytes is larger than the server's limit of {max} bytes"
        )));
    }
    state
        .store
        .heartbeat(node.id, task, now(), state.config.lease)
        .await?;
    let fault = Arc::new(Mutex::new(None));
    let stream = Exact {
        inner: body.into_data_stream(),
        want: len,
        got: 0,
        fault: fault.clone(),
        done: false,
    };
    let put = state
        .artifacts
        .put(Box::pin(StreamReader::new(stream)), Some(want))
        .await;
    let fault = fault.lock().expect("fault lock").take();
    match (put, fault) {
        (Ok(stored), None) => {
            tracing::info!(task, node = %node.name, sha256 = %stored.sha256, size = stored.size, new = stored.new, "artifact uploaded");
            let status = if stored.new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(Uploaded {
                    sha256: stored.sha256,
                    size: stored.size,
                }),
            ))
        }
        (_, Some(Fault::Truncated { got, want })) => Err(AppError::BadRequest(format!(
            "upload truncated: got {got} of {want} bytes"
        ))),
        (_, Some(Fault::TooLong { want })) => Err(AppError::BadRequest(format!(
            "upload is longer than its Content-Length of {want} bytes"
        ))),
        (Err(e), None) => Err(e.into()),
    }
}

/// `GET /api/v1/artifacts/{sha256}`: streams the blob.
pub(crate) async fn download(
    State(state): State<AppState>,
    caller: crate::extract::ArtifactCaller,
    ApiPath(sha): ApiPath<String>,
) -> Result<Response, AppError> {
    let digest = parse_sha256(&sha)?;
    if let crate::extract::ArtifactCaller::Reader(reader) = &caller
        && !crate::web::access::may_read_artifact(&state, reader.as_ref(), &digest).await?
    {
        return Err(AppError::NotFound(format!(
            "no artifact has sha256 {digest}"
        )));
    }
    let reader = match state.artifacts.get(&digest).await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => {
            return Err(AppError::NotFound(format!(
                "no artifact has sha256 {digest}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(path) = state.artifacts.local_path(&digest)
        && let Ok(meta) = tokio::fs::metadata(&path).await
    {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok((headers, Body::from_stream(ReaderStream::new(reader))).into_response())
}
