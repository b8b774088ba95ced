//! The public, read-only ledger API: signed checkpoints, the verifier key,
//! records by index or artifact, inclusion and consistency proofs. No token
//! is needed: anyone may check what the log says.
//!
//! Bad input (a non-numeric index or size, an index not below the size, a
//! size past the end of the log, a digest that is not 64 hex characters) is
//! a 400 whose message names the parameter at fault.

use albs_core::api::{ConsistencyProofView, InclusionProofView, LedgerEntryView};
use albs_core::ledger::{Entry, LedgerExt as _};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;
use crate::extract::parse_sha256;

/// What the checkpoint and key routes say when the server has no key.
const NO_KEY: &str = "this server signs no ledger checkpoints: it was started without a ledger \
     key (set ALBS_LEDGER_KEY to the output of `albs ledger keygen`); records and proofs are \
     still served, but nothing vouches for the tree head";

fn view(e: Entry) -> LedgerEntryView {
    LedgerEntryView {
        index: e.index,
        leaf_hash: hex::encode(e.leaf_hash),
        record: e.record,
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Parses a number parameter, naming it when it is not one.
fn number(name: &str, value: &str) -> Result<u64, AppError> {
    value.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "{name} {value:?} is not a number: give a record count or index from 0"
        ))
    })
}

/// The query's parameters among `names`; any other one is refused.
fn query(raw: Option<String>, names: &[&str]) -> Result<Vec<Option<u64>>, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the query string does not parse: {e}")))?;
    let mut out = vec![None; names.len()];
    for (k, v) in pairs {
        let at = names.iter().position(|n| *n == k).ok_or_else(|| {
            AppError::BadRequest(format!(
                "unknown query parameter {k:?}; this route takes {}",
                names.join(", ")
            ))
        })?;
        out[at] = Some(number(&k, &v)?);
    }
    Ok(out)
}

/// A tree size asked for, checked against the log's size `have`.
fn tree_size(name: &str, size: Option<u64>, have: u64) -> Result<u64, AppError> {
    match size {
        None => Ok(have),
        Some(s) if s > have => Err(AppError::BadRequest(format!(
            "{name} {s} is larger than the ledger, which has {have} records"
        ))),
        Some(s) => Ok(s),
    }
}

/// `GET /api/v1/ledger/checkpoint`: the signed checkpoint of the current tree.
pub(crate) async fn checkpoint(State(state): State<AppState>) -> Result<Response, AppError> {
    let signer = state
        .ledger_signer
        .as_ref()
        .ok_or_else(|| AppError::NotFound(NO_KEY.into()))?;
    let size = state.ledger.size().await?;
    let root = state.ledger.root_at(size).await?;
    let note = signer
        .sign(signer.name(), size, &root)
        .map_err(|e| AppError::internal("signing the checkpoint", e))?;
    Ok(text(note))
}

/// `GET /api/v1/ledger/key`: the verifier key of the checkpoints.
pub(crate) async fn key(State(state): State<AppState>) -> Result<Response, AppError> {
    let signer = state
        .ledger_signer
        .as_ref()
        .ok_or_else(|| AppError::NotFound(NO_KEY.into()))?;
    Ok(text(format!("{}\n", signer.verifier_key())))
}

/// `GET /api/v1/ledger/records/{index}`.
pub(crate) async fn record(
    State(state): State<AppState>,
    crate::extract::Reader(reader): crate::extract::Reader,
    Path(index): Path<String>,
) -> Result<Json<LedgerEntryView>, AppError> {
    let index = number("index", &index)?;
    match state.ledger.get(index).await? {
        Some(e) if readable(&state, reader.as_ref(), &e.record).await? => Ok(Json(view(e))),
        Some(_) => Err(AppError::NotFound(format!(
            "index {index}: the record is of a private product's build"
        ))),
        None => Err(AppError::NotFound(format!(
            "index {index}: the ledger has {} records",
            state.ledger.size().await?
        ))),
    }
}

/// Whether `reader` may see a record: not one of a hidden build, nor of an
/// artifact only hidden builds made. (Proofs and checkpoints carry hashes
/// only and stay public.)
async fn readable(
    state: &AppState,
    reader: Option<&albs_core::db::User>,
    record: &albs_core::ledger::LedgerRecord,
) -> Result<bool, AppError> {
    if let Some(build) = record.task.build_id
        && !crate::web::access::may_read_build_id(state, reader, build).await?
    {
        return Ok(false);
    }
    match &record.artifact {
        Some(a) => crate::web::access::may_read_artifact(state, reader, a).await,
        None => Ok(true),
    }
}

/// `GET /api/v1/ledger/artifacts/{sha256}`: every record of an artifact.
pub(crate) async fn artifact(
    State(state): State<AppState>,
    crate::extract::Reader(reader): crate::extract::Reader,
    Path(sha256): Path<String>,
) -> Result<Json<Vec<LedgerEntryView>>, AppError> {
    let digest = parse_sha256(&sha256)?;
    let mut out = Vec::new();
    for i in state.ledger.find_artifact(&digest).await? {
        if let Some(e) = state.ledger.get(i).await?
            && readable(&state, reader.as_ref(), &e.record).await?
        {
            out.push(view(e));
        }
    }
    Ok(Json(out))
}

/// `GET /api/v1/ledger/proof/inclusion?index=I&size=N` (size defaults to
/// the current one).
pub(crate) async fn inclusion(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InclusionProofView>, AppError> {
    let q = query(raw, &["index", "size"])?;
    let index =
        q[0].ok_or_else(|| AppError::BadRequest("index is required: ?index=I&size=N".into()))?;
    let have = state.ledger.size().await?;
    let size = tree_size("size", q[1], have)?;
    if index >= size {
        return Err(AppError::BadRequest(format!(
            "index {index} is not in a tree of size {size}: it must be below size"
        )));
    }
    let leaf = state.ledger.leaves(index, index + 1).await?;
    let proof = state.ledger.inclusion_proof(index, size).await?;
    Ok(Json(InclusionProofView {
        index,
        size,
        leaf_hash: leaf.first().map(hex::encode).unwrap_or_default(),
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

/// `GET /api/v1/ledger/proof/consistency?old=M&new=N` (new defaults to the
/// current size).
pub(crate) async fn consistency(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConsistencyProofView>, AppError> {
    let q = query(raw, &["old", "new"])?;
    let old = q[0].ok_or_else(|| AppError::BadRequest("old is required: ?old=M&new=N".into()))?;
    let have = state.ledger.size().await?;
    let new = tree_size("new", q[1], have)?;
    if old > new {
        return Err(AppError::BadRequest(format!(
            "old {old} is larger than new {new}: a log only grows"
        )));
    }
    let proof = state.ledger.consistency_proof(old, new).await?;
    Ok(Json(ConsistencyProofView {
        old,
        new,
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use albs_core::checkpoint::{self, CheckpointSigner};
    use albs_core::conformance::sample_record;
    use albs_core::db::SqliteStore;
    use albs_core::ledger::{Ledger, MemoryLedger, leaf_hash};
    use albs_core::merkle;
    use albs_core::store::DirStore;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::{ServerConfig, router};

    struct Fixture {
        _dir: tempfile::TempDir,
        state: AppState,
        ledger: Arc<MemoryLedger>,
    }

    async fn fixture(signer: Option<CheckpointSigner>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("albs.db"))
                .await
                .unwrap(),
        );
        let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
        let ledger = Arc::new(MemoryLedger::new());
        let records: Vec<_> = (0..9).map(sample_record).collect();
        ledger.append_batch(&records).await.unwrap();
        // Record 3's artifact is recorded twice.
        ledger.append(&sample_record(3)).await.unwrap();
        let mut state = AppState::new(store, artifacts, ledger.clone(), ServerConfig::default());
        if let Some(s) = signer {
            state = state.with_ledger_signer(s);
        }
        Fixture {
            _dir: dir,
            state,
            ledger,
        }
    }

    async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
        let resp = router(state.clone())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn hash(h: &str) -> merkle::TreeHash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn records_by_artifact_and_index() {
        let f = fixture(None).await;
        let art = sample_record(3).artifact.unwrap();
        let (status, body) = get(&f.state, &format!("/api/v1/ledger/artifacts/{art}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let got: Vec<LedgerEntryView> = serde_json::from_str(&body).unwrap();
        assert_eq!(got.iter().map(|e| e.index).collect::<Vec<_>>(), vec![3, 9]);
        for e in &got {
            assert_eq!(e.record, sample_record(3));
            assert_eq!(
                e.leaf_hash,
                hex::encode(leaf_hash(&sample_record(3).canonical_bytes()))
            );
        }
        let none = albs_core::Sha256::of(b"never built");
        let (status, body) = get(&f.state, &format!("/api/v1/ledger/artifacts/{none}")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));

        let (status, body) = get(&f.state, "/api/v1/ledger/records/5").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let e: LedgerEntryView = serde_json::from_str(&body).unwrap();
        assert_eq!((e.index, e.record), (5, sample_record(5)));
        let (status, body) = get(&f.state, "/api/v1/ledger/records/10").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("10 records"), "{body}");
    }

    #[tokio::test]
    async fn proofs_verify_against_the_signed_checkpoint() {
        let signer = CheckpointSigner::from_seed("albs.test/ledger", [9; 32]).unwrap();
        let vkey = signer.verifier_key();
        let f = fixture(Some(signer)).await;
        let (status, key) = get(&f.state, "/api/v1/ledger/key").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(key.trim(), vkey);
        let (status, note) = get(&f.state, "/api/v1/ledger/checkpoint").await;
        assert_eq!(status, StatusCode::OK, "{note}");
        let cp = checkpoint::verify(&note, &vkey).unwrap();
        assert_eq!(cp.size, 10);
        for i in 0..10 {
            let (status, body) = get(
                &f.state,
                &format!("/api/v1/ledger/proof/inclusion?index={i}&size=10"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let p: InclusionProofView = serde_json::from_str(&body).unwrap();
            let proof: Vec<_> = p.proof.iter().map(|h| hash(h)).collect();
            let rec = f.ledger.get(i).await.unwrap().unwrap().record;
            checkpoint::verify_record(&rec.canonical_bytes(), i, &proof, &cp).unwrap();
            // The wrong record does not verify with this proof.
            let other = sample_record(i + 1).canonical_bytes();
            assert!(checkpoint::verify_record(&other, i, &proof, &cp).is_err());
        }
        // A smaller tree's head is consistent with the current one.
        let old_root = f.ledger.root_at(4).await.unwrap();
        let (status, body) = get(&f.state, "/api/v1/ledger/proof/consistency?old=4").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let p: ConsistencyProofView = serde_json::from_str(&body).unwrap();
        assert_eq!((p.old, p.new), (4, 10));
        let proof: Vec<_> = p.proof.iter().map(|h| hash(h)).collect();
        merkle::verify_consistency(4, 10, &old_root, &cp.root, &proof).unwrap();
        // Another key does not verify the checkpoint.
        let other = CheckpointSigner::from_seed("albs.test/ledger", [8; 32]).unwrap();
        assert!(checkpoint::verify(&note, &other.verifier_key()).is_err());
    }

    #[tokio::test]
    async fn without_a_key_there_is_no_checkpoint_and_it_says_why() {
        let f = fixture(None).await;
        for uri in ["/api/v1/ledger/checkpoint", "/api/v1/ledger/key"] {
            let (status, body) = get(&f.state, uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert!(body.contains("ALBS_LEDGER_KEY"), "{body}");
        }
        let (status, _) = get(&f.state, "/api/v1/ledger/proof/inclusion?index=0").await;
        assert_eq!(status, StatusCode::OK, "proofs are served without a key");
    }

    #[tokio::test]
    async fn bad_input_is_a_400_naming_the_parameter() {
        let f = fixture(None).await;
        for (uri, names) in [
            ("/api/v1/ledger/records/abc", "index"),
            ("/api/v1/ledger/records/-1", "index"),
            ("/api/v1/ledger/artifacts/xyz", "sha256"),
            ("/api/v1/ledger/artifacts/ABCDEFG", "sha256"),
            ("/api/v1/ledger/proof/inclusion?index=x&size=3", "index"),
            ("/api/v1/ledger/proof/inclusion?index=1&size=many", "size"),
            ("/api/v1/ledger/proof/inclusion?index=3&size=3", "index 3"),
            ("/api/v1/ledger/proof/inclusion?index=0&size=11", "size 11"),
            ("/api/v1/ledger/proof/inclusion?size=3", "index is required"),
            ("/api/v1/ledger/proof/inclusion?index=0&sise=3", "sise"),
            ("/api/v1/ledger/proof/consistency?old=5&new=4", "old 5"),
            ("/api/v1/ledger/proof/consistency?old=1&new=11", "new 11"),
            ("/api/v1/ledger/proof/consistency?old=z", "old"),
            ("/api/v1/ledger/proof/consistency?new=3", "old is required"),
        ] {
            let (status, body) = get(&f.state, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(body.contains(names), "{uri}: {body}");
        }
    }
}
