//! Spooled exports, for readers that open a URL like a file (Polars, DuckDB's httpfs,
//! fsspec): they ask `HEAD` for the size, then read byte ranges, which a streamed body
//! cannot give.
//!
//! With `?spool`, or on any `GET` with a `Range` header, the export is first written to a
//! file in a private temporary folder, then served from it with `Content-Length`, a
//! strong `ETag`, `Accept-Ranges: bytes` and `Range` (RFC 9110 §14): `206` with one range,
//! `416` for an unsatisfiable one, the whole for several. Requests for the same export
//! (same path, query and format) share one file while it is in use: each use keeps it
//! [`SpoolSettings::ttl`] longer, and it is removed once that has passed and no response
//! still reads it. The files of all spooled exports together may take
//! [`SpoolSettings::max_bytes`]; an export that would pass it is refused with `507`.
//! Because the whole export is written before the first byte is sent, a failure is always
//! a status (a problem+json body), never a cut body; a spooled response is never
//! compressed (its ranges are ranges of the file) and has no trailers.

mod range;

use std::collections::HashMap;
use std::future::Future;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use rowstream::ChunkStream;
use rowstream::axum::Problem;
use rowstream::tower::StreamPermit;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

/// Where spooled exports are written, how much they may take, and how long they are
/// kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// The folder in which the server makes its private spool folder (removed when the
    /// server stops). Default: `None`, the system's temporary folder (`TMPDIR`).
    pub dir: Option<PathBuf>,
    /// Bytes all spooled exports may take on disk at once; `0` turns spooling off
    /// (`?spool` is then a `400` and `Range` is ignored). Default: 1 GiB.
    pub max_bytes: u64,
    /// How long a spooled export is kept after its last use. Default: 60 s.
    pub ttl: Duration,
}

/// [`SpoolSettings::max_bytes`] by default: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// [`SpoolSettings::ttl`] by default: 60 s.
pub const DEFAULT_SPOOL_TTL: Duration = Duration::from_secs(60);

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            dir: None,
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            ttl: DEFAULT_SPOOL_TTL,
        }
    }
}

/// The server's spooled exports (cheap to clone: one shared set).
#[derive(Debug, Clone)]
pub(super) struct Spool(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: SpoolSettings,
    /// The private folder, made on first use.
    dir: Mutex<Option<tempfile::TempDir>>,
    /// Bytes of the spool files on disk, written or being written.
    used: AtomicU64,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    next_id: AtomicU64,
    sweeping: AtomicBool,
}

/// One export's place in the spool: its file once written.
#[derive(Debug)]
struct Entry {
    file: tokio::sync::OnceCell<Arc<Spooled>>,
    last_used: Mutex<Instant>,
}

impl Entry {
    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }
}

/// A spooled export, complete on disk; the file is removed when the last holder (the
/// spool, or a response reading it) lets go.
#[derive(Debug)]
struct Spooled {
    path: PathBuf,
    len: u64,
    etag: HeaderValue,
    content_type: HeaderValue,
    disposition: Option<HeaderValue>,
    spool: Weak<Inner>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        release(&self.spool, &self.path, self.len);
    }
}

/// A spool file being written: removed, and its bytes given back, unless it becomes a
/// [`Spooled`].
struct Writing {
    /// `None` once the file is kept.
    path: Option<PathBuf>,
    reserved: u64,
    spool: Weak<Inner>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            release(&self.spool, &path, self.reserved);
        }
    }
}

fn release(spool: &Weak<Inner>, path: &Path, bytes: u64) {
    // The folder may be gone with the spool; nothing is left to remove then.
    let _ = std::fs::remove_file(path);
    if let Some(inner) = spool.upgrade() {
        let used = inner.used.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        metrics::gauge!("rowstream_spool_bytes").set(used as f64);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A started export to spool: its chunks, the export slot it holds while it runs, and
/// the headers of its responses.
pub(super) struct Started {
    pub(super) chunks: ChunkStream,
    pub(super) permit: StreamPermit,
    pub(super) disposition: Option<HeaderValue>,
}

impl Spool {
    pub(super) fn new(settings: SpoolSettings) -> Self {
        Self(Arc::new(Inner {
            settings,
            dir: Mutex::new(None),
            used: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
        }))
    }

    /// Whether this request is to be spooled: `?spool` (empty, `true` or `1`; `false`
    /// or `0` say no), or a `Range` header unless `?spool=false`. The error is the `400`
    /// to send: a value that is none of those, or `?spool` on a server that does not
    /// spool.
    #[allow(clippy::result_large_err)]
    pub(super) fn requested(
        &self,
        params: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<bool, Response> {
        let asked = match crate::url::last(params, "spool") {
            None => None,
            Some("" | "true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => {
                return Err(invalid(format!(
                    "spool must be true or false (1 and 0 too; empty means true), not \"{other}\""
                )));
            }
        };
        let enabled = self.0.settings.max_bytes > 0;
        match asked {
            Some(true) if !enabled => Err(invalid(
                "this server does not spool exports (--spool-max-bytes 0); ask without ?spool"
                    .to_owned(),
            )),
            Some(asked) => Ok(asked),
            None => Ok(enabled && headers.contains_key(header::RANGE)),
        }
    }

    /// The response to a spooled request for the export `key` (see [`key`]): from the
    /// spool if it holds the export, else after `start` has started it and its chunks
    /// have all been written. `head` answers the headers alone. An error of `start`, a
    /// failure of the export (as its problem+json status) or of the disk (`500`), and an
    /// export larger than the space left (`507`) are answers too; none is kept.
    pub(super) async fn respond<F, Fut>(
        &self,
        key: String,
        request: &HeaderMap,
        head: bool,
        start: F,
    ) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Started, Response>>,
    {
        self.start_sweeping();
        self.sweep();
        let entry = lock(&self.0.entries)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Entry {
                    file: tokio::sync::OnceCell::new(),
                    last_used: Mutex::new(Instant::now()),
                })
            })
            .clone();
        entry.touch();
        let file = entry
            .file
            .get_or_try_init(|| async { self.write(start().await?).await })
            .await
            .cloned();
        match file {
            Ok(file) => {
                entry.touch();
                serve(file, request, head).await
            }
            Err(response) => {
                let mut entries = lock(&self.0.entries);
                if entries
                    .get(&key)
                    .is_some_and(|e| Arc::ptr_eq(e, &entry) && !e.file.initialized())
                {
                    entries.remove(&key);
                }
                response
            }
        }
    }

    /// Writes `started`'s chunks to a new spool file.
    async fn write(&self, started: Started) -> Result<Arc<Spooled>, Response> {
        let Started {
            mut chunks,
            permit,
            disposition,
        } = started;
        let content_type = HeaderValue::from_str(chunks.content_type())
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let path = self.dir()?.join(format!("{id}.export"));
        let mut writing = Writing {
            path: Some(path.clone()),
            reserved: 0,
            spool: Arc::downgrade(&self.0),
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Readable by this user alone, as its folder is.
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await.map_err(disk_problem)?;
        let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|err| Problem::for_stream_error(&err).to_response())?;
            let len = chunk.len() as u64;
            self.reserve(len)?;
            writing.reserved += len;
            file.write_all(&chunk).await.map_err(disk_problem)?;
        }
        file.flush().await.map_err(disk_problem)?;
        drop(file);
        drop(permit);
        let len = writing.reserved;
        writing.path = None;
        Ok(Arc::new(Spooled {
            path,
            len,
            etag: etag(id, len),
            content_type,
            disposition,
            spool: Arc::downgrade(&self.0),
        }))
    }

    /// Takes `len` more bytes of the spool's space, or answers `507`.
    #[allow(clippy::result_large_err)]
    fn reserve(&self, len: u64) -> Result<(), Response> {
        let max = self.0.settings.max_bytes;
        let used = self.0.used.fetch_add(len, Ordering::AcqRel) + len;
        if used > max {
            self.0.used.fetch_sub(len, Ordering::AcqRel);
            return Err(Problem::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "The export does not fit in the spool",
            )
            .with_detail(format!(
                "spooled exports may take {max} bytes at once (--spool-max-bytes) and this \
                 one passed what was left; ask without ?spool and without Range to stream it"
            ))
            .into_response());
        }
        metrics::gauge!("rowstream_spool_bytes").set(used as f64);
        Ok(())
    }

    /// The private spool folder, made on first use.
    #[allow(clippy::result_large_err)]
    fn dir(&self) -> Result<PathBuf, Response> {
        let mut dir = lock(&self.0.dir);
        if let Some(dir) = dir.as_ref() {
            return Ok(dir.path().to_owned());
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("rowstream-spool-");
        // Private: exports may hold data other local users must not read.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let made = match &self.0.settings.dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(disk_problem)?;
        let path = made.path().to_owned();
        *dir = Some(made);
        Ok(path)
    }

    /// Forgets the exports unused for longer than the TTL (their files go when no
    /// response reads them any more).
    fn sweep(&self) {
        let ttl = self.0.settings.ttl;
        lock(&self.0.entries).retain(|_, entry| lock(&entry.last_used).elapsed() < ttl);
    }

    /// Sweeps in the background, every half TTL (at most every 10 s), while the spool
    /// lives.
    fn start_sweeping(&self) {
        if self.0.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let spool = Arc::downgrade(&self.0);
        let every =
            (self.0.settings.ttl / 2).clamp(Duration::from_millis(50), Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = spool.upgrade() else { break };
                Spool(inner).sweep();
            }
        });
    }
}

/// The spool key of an export: the format, the path and the query parameters but
/// `spool`, sorted (so `?a=1&b=2` and `?b=2&a=1` share a file).
pub(super) fn key(format: &str, path: &str, params: &[(String, String)]) -> String {
    let mut params: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "spool").collect();
    params.sort();
    // JSON: no value can pass for a separator.
    serde_json::json!([format, path, params]).to_string()
}

/// A strong entity tag (RFC 9110 §8.8.3) unique to one spooled file: the file's number
/// in this process, its length, and a random number drawn once per process, so that a
/// restarted server (in a container, always PID 1) never hands out a tag it gave to other
/// bytes before.
fn etag(id: u64, len: u64) -> HeaderValue {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let nonce = *NONCE.get_or_init(|| {
        use std::hash::BuildHasher as _;
        // RandomState's keys are random per process; the clock adds the start time.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::collections::hash_map::RandomState::new().hash_one((now, std::process::id()))
    });
    HeaderValue::from_str(&format!("\"{nonce:016x}-{id:x}-{len:x}\"")).unwrap_or_else(|_| {
        // Hex digits and dashes are always a valid header value.
        HeaderValue::from_static("\"0\"")
    })
}

/// Whether `header`, an `If-None-Match` or `If-Range` list of entity tags, names `etag`:
/// `*`, or the same opaque tag (`W/` ignored when `weak` is allowed, RFC 9110 §8.8.3.2).
fn names(header: Option<&HeaderValue>, etag: &HeaderValue, weak: bool) -> bool {
    let Some(text) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || (weak && tag.strip_prefix("W/") == Some(etag)))
}

/// The response from a spooled file.
async fn serve(file: Arc<Spooled>, request: &HeaderMap, head: bool) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::ETAG, file.etag.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    if names(request.get(header::IF_NONE_MATCH), &file.etag, true) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    // If-Range: the range only for this very file (a strong match), else the whole.
    let range = match request.get(header::IF_RANGE) {
        Some(tag) if !names(Some(tag), &file.etag, false) => None,
        _ => request.get(header::RANGE).and_then(|h| h.to_str().ok()),
    };
    let (status, first, len) = match range::wanted(range, file.len) {
        range::Wanted::Whole => (StatusCode::OK, 0, file.len),
        range::Wanted::Part(part) => {
            let (first, last) = part.into_inner();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                content_range(&format!("bytes {first}-{last}/{}", file.len)),
            );
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        range::Wanted::Unsatisfiable => {
            let mut refused =
                Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                    .with_detail(format!(
                        "the export is {} bytes long; ask for one range of bytes within it",
                        file.len
                    ))
                    .into_response();
            let headers = refused.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                content_range(&format!("bytes */{}", file.len)),
            );
            headers.insert(header::ETAG, file.etag.clone());
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return refused;
        }
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, file.content_type.clone());
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(disposition) = &file.disposition {
        headers.insert(header::CONTENT_DISPOSITION, disposition.clone());
    }
    if head || len == 0 {
        return response;
    }
    let reader = match open_at(&file.path, first).await {
        Ok(reader) => reader,
        Err(err) => return disk_problem(err),
    };
    let body = tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(reader, len),
        64 * 1024,
    )
    // The stream keeps the file (and so its path) until the last byte is read.
    .map(move |read| {
        let _keep = &file;
        read
    });
    *response.body_mut() = Body::from_stream(body);
    response
}

async fn open_at(path: &Path, first: u64) -> std::io::Result<tokio::fs::File> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(SeekFrom::Start(first)).await?;
    Ok(file)
}

fn content_range(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

fn invalid(detail: String) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid parameter")
        .with_detail(detail)
        .with_extension("parameter", "spool")
        .into_response()
}

fn disk_problem(err: std::io::Error) -> Response {
    tracing::error!(%err, "cannot spool an export");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The export could not be spooled",
    )
    .with_detail(format!("writing the spool file failed: {err}"))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_spool_and_order() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            key(
                "csv",
                "/tables/t",
                &p(&[("spool", ""), ("b", "2"), ("a", "1")])
            ),
            key("csv", "/tables/t", &p(&[("a", "1"), ("b", "2")]))
        );
        assert_ne!(
            key("csv", "/tables/t", &p(&[("a", "1")])),
            key("json", "/tables/t", &p(&[("a", "1")]))
        );
        assert_ne!(
            key("csv", "/tables/t", &p(&[("a", "1\nb=2")])),
            key("csv", "/tables/t", &p(&[("a", "1"), ("b", "2")]))
        );
    }

    #[test]
    fn entity_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let h = HeaderValue::from_static;
        assert!(names(Some(&h("\"abc\"")), &etag, false));
        assert!(names(Some(&h("\"x\", \"abc\"")), &etag, false));
        assert!(names(Some(&h("*")), &etag, false));
        assert!(names(Some(&h("W/\"abc\"")), &etag, true));
        assert!(!names(Some(&h("W/\"abc\"")), &etag, false));
        assert!(!names(Some(&h("\"abcd\"")), &etag, true));
        assert!(!names(None, &etag, true));
    }
}
