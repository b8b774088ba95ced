//! A loopback HTTP server for tests: git smart HTTP through
//! `git http-backend` (run as a CGI program) under `/git/`, and plain files
//! from a directory under `/lookaside/<name>`.
//!
//! ```no_run
//! # async fn demo(root: std::path::PathBuf, blobs: std::path::PathBuf) {
//! let server = albs_tests::git_http::start(root, blobs).await;
//! let url = server.git_url("hello"); // http://127.0.0.1:PORT/git/hello
//! # }
//! ```
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; stopped when dropped or by [`GitHttp::shutdown`].
pub struct GitHttp {
    /// Where it listens (loopback, a port the system chose).
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GitHttp {
    /// The smart-HTTP URL of repository `name` under the git root.
    pub fn git_url(&self, name: &str) -> String {
        format!("http://{}/git/{name}", self.addr)
    }

    /// The base URL of the lookaside files.
    pub fn lookaside_url(&self) -> String {
        format!("http://{}/lookaside", self.addr)
    }

    /// The method and path (with query) of every request served so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct State {
    git_root: PathBuf,
    lookaside_dir: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Starts a server on `127.0.0.1:0` serving the repositories under
/// `git_root` at `/git/<repo>` and the files of `lookaside_dir` at
/// `/lookaside/<name>`.
pub async fn start(git_root: PathBuf, lookaside_dir: PathBuf) -> GitHttp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = Arc::new(State {
        git_root,
        lookaside_dir,
        requests: requests.clone(),
    });
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    GitHttp {
        addr,
        requests,
        stop: Some(stop),
        task: Some(task),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if let Ok(mut log) = state.requests.lock() {
        log.push(if query.is_empty() {
            format!("{} {path}", req.method())
        } else {
            format!("{} {path}?{query}", req.method())
        });
    }
    if let Some(name) = path.strip_prefix("/lookaside/") {
        return lookaside(&state.lookaside_dir, name).await;
    }
    if let Some(rest) = path.strip_prefix("/git/") {
        if rest.split('/').any(|p| p == "..") {
            return plain(StatusCode::FORBIDDEN, "no .. in paths\n");
        }
        return cgi(&state.git_root, req, &format!("/{rest}"), &query).await;
    }
    plain(StatusCode::NOT_FOUND, "not found\n")
}

async fn lookaside(dir: &Path, name: &str) -> Response<Full<Bytes>> {
    let plain_name = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    if !plain_name {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    match tokio::fs::read(dir.join(name)).await {
        Ok(data) => Response::new(Full::new(Bytes::from(data))),
        Err(_) => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Runs `git http-backend` for one request, as a web server runs CGI.
async fn cgi(
    git_root: &Path,
    req: Request<Incoming>,
    path_info: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let method = req.method().to_string();
    let content_type = header("content-type");
    let protocol = header("git-protocol");
    let encoding = header("content-encoding");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("reading body: {e}\n")),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_remove("GIT_DIR")
        .env("GIT_PROJECT_ROOT", git_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", &content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !protocol.is_empty() {
        cmd.env("HTTP_GIT_PROTOCOL", &protocol);
    }
    if !encoding.is_empty() {
        cmd.env("HTTP_CONTENT_ENCODING", &encoding);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("git http-backend: {e}\n"),
            );
        }
    };
    // Feed stdin while stdout is read, so that neither pipe fills up.
    let feeder = child.stdin.take().map(|mut stdin| {
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        })
    });
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("git http-backend: {e}\n"),
            );
        }
    };
    if let Some(f) = feeder {
        let _ = f.await;
    }
    cgi_response(&out.stdout).unwrap_or_else(|| {
        plain(
            StatusCode::BAD_GATEWAY,
            &format!(
                "git http-backend gave no CGI headers: {}\n",
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
}

/// Turns CGI output (headers, a blank line, the body) into a response.
fn cgi_response(stdout: &[u8]) -> Option<Response<Full<Bytes>>> {
    let (head_len, sep_len) = find(stdout, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(stdout, b"\n\n").map(|i| (i, 2)))?;
    let head = std::str::from_utf8(&stdout[..head_len]).ok()?;
    let body = Bytes::copy_from_slice(&stdout[head_len + sep_len..]);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse::<u16>().ok()?;
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder.body(Full::new(body)).ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_headers_are_parsed() {
        let r =
            cgi_response(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope").unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let r = cgi_response(b"Content-Type: application/x-git\n\nbody").unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(cgi_response(b"no headers at all").is_none());
    }
}
