//! [`StreamError`]: why a stream failed, and where.

use std::fmt;

/// A boxed error from user code: a fetcher's or transformer's own error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stream failed. A failed stream is never a complete document: see the crate docs
/// for what an HTTP client sees.
///
/// The error carries its [`kind`](Self::kind), the number of items that were encoded
/// before it ([`items_before`](Self::items_before)), and the underlying error as its
/// [`source`](std::error::Error::source).
pub struct StreamError(Box<Inner>);

struct Inner {
    kind: StreamErrorKind,
    items_before: u64,
    source: Option<BoxError>,
}

/// The stage of the pipeline that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The fetcher yielded an error (e.g. the database query failed).
    Fetch,
    /// The transformer returned an error for an item.
    Transform,
    /// The encoder could not encode an item (e.g. a map with non-string keys as JSON).
    Encode,
    /// A fetcher, transformer or encoder panicked. The panic was contained to this stream.
    Panic,
    /// The stream's producer task was cancelled (for example its runtime shut down).
    Cancelled,
    /// A time limit tripped: the write timeout (the client stopped reading) or the
    /// stream's deadline. See [`Limits`](crate::Limits).
    TimedOut,
    /// A size limit tripped: more items than `max_items`, or an item larger than
    /// `max_item_size`. See [`Limits`](crate::Limits).
    LimitReached,
}

impl StreamErrorKind {
    /// A short stable name: `fetch`, `transform`, `encode`, `panic`, `cancelled`,
    /// `timed_out` or `limit_reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Transform => "transform",
            Self::Encode => "encode",
            Self::Panic => "panic",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::LimitReached => "limit_reached",
        }
    }
}

impl fmt::Display for StreamErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StreamError {
    /// A new error of `kind` after `items_before` items, caused by `source`.
    pub fn new(kind: StreamErrorKind, items_before: u64, source: Option<BoxError>) -> Self {
        Self(Box::new(Inner {
            kind,
            items_before,
            source,
        }))
    }

    /// The same error, placed after `items_before` items.
    pub(crate) fn at(mut self, items_before: u64) -> Self {
        self.0.items_before = items_before;
        self
    }

    /// The stage that failed.
    pub fn kind(&self) -> StreamErrorKind {
        self.0.kind
    }

    /// How many items were encoded (and so sent or queued) before the failure. For a
    /// fetch error this is also the 0-based index of the item that could not be fetched.
    pub fn items_before(&self) -> u64 {
        self.0.items_before
    }

    /// The underlying error, if any, to inspect with `downcast_ref`.
    pub fn source_ref(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.source.as_deref()
    }
}

impl fmt::Debug for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamError")
            .field("kind", &self.0.kind)
            .field("items_before", &self.0.items_before)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} error after {} items",
            self.0.kind, self.0.items_before
        )?;
        if let Some(source) = &self.0.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An error of an [`Encoder`](crate::Encoder): the item could not be written in its
/// format. The streamer turns it into a [`StreamError`] of kind
/// [`Encode`](StreamErrorKind::Encode).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EncodeError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl EncodeError {
    /// An error with a message and no underlying cause.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error wrapping an underlying cause, e.g. a `serde_json::Error`.
    pub fn wrap(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl From<serde_json::Error> for EncodeError {
    fn from(err: serde_json::Error) -> Self {
        Self::wrap(format!("cannot encode item as JSON: {err}"), err)
    }
}
