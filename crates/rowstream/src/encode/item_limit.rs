//! The item size limit ([`Limits::max_item_size`](crate::Limits::max_item_size)) while the
//! streamer encodes one item, for the values that know their size before they are
//! encoded.
//!
//! The streamer sets the limit around each call of [`Encoder::item`](super::Encoder::item)
//! ([`scope`]); a value whose raw length alone passes it (a text or binary SQL value, whose
//! encoding in every format is at least as long as the value) refuses to be serialized
//! ([`admit`]) and marks the limit as tripped, so the streamer fails the stream with
//! [`LimitReached`](crate::StreamErrorKind::LimitReached) instead of encoding a huge value
//! only to throw it away. The limit lives in a thread-local because `serde` has no way to
//! hand it to a `Serialize` implementation: the encoder calls it synchronously on the
//! streamer's thread.

use std::cell::Cell;

thread_local! {
    static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
    static TRIPPED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `encode` with the item size limit `limit` in force; returns its result and, if a
/// value refused to be serialized under the limit, that value's size in bytes.
pub(crate) fn scope<R>(limit: Option<usize>, encode: impl FnOnce() -> R) -> (R, Option<usize>) {
    /// Clears the limit even if `encode` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            LIMIT.with(|l| l.set(None));
        }
    }
    if limit.is_none() {
        return (encode(), None);
    }
    LIMIT.with(|l| l.set(limit));
    TRIPPED.with(|t| t.set(None));
    let reset = Reset;
    let result = encode();
    drop(reset);
    (result, TRIPPED.with(Cell::take))
}

/// Checks, before it is encoded, a value that will take at least `bytes` bytes in any
/// format: an error naming the limit if that passes the item size limit in force.
///
/// # Errors
///
/// `bytes` is above the limit; the streamer then fails the stream with `LimitReached`.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) fn admit<E: serde::ser::Error>(bytes: usize) -> Result<(), E> {
    match LIMIT.with(Cell::get) {
        Some(max) if bytes > max => {
            TRIPPED.with(|t| t.set(Some(bytes)));
            Err(E::custom(format_args!(
                "a value of {bytes} bytes exceeds max_item_size ({max} bytes)"
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Error = serde_json::Error;

    #[test]
    fn a_value_above_the_limit_is_refused_and_reported_only_inside_the_scope() {
        assert!(
            admit::<Error>(usize::MAX).is_ok(),
            "no limit outside a scope"
        );
        let (result, tripped) = scope(Some(10), || admit::<Error>(11));
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("11 bytes exceeds max_item_size (10 bytes)")
        );
        assert_eq!(tripped, Some(11));
        let (result, tripped) = scope(Some(10), || admit::<Error>(10));
        assert!(result.is_ok());
        assert_eq!(tripped, None);
        assert!(admit::<Error>(11).is_ok(), "the limit ends with its scope");
        let (_, tripped) = scope(None, || admit::<Error>(11));
        assert_eq!(tripped, None);
    }
}
