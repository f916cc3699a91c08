//! Transformers: the per-item step between the fetcher and the encoder.

use std::convert::Infallible;

use serde::Serialize;

use crate::BoxError;

/// Turns each fetched item into what is encoded: hide a field, rename, compute, validate.
///
/// Any `Fn(T) -> Result<U, E>` closure is a transformer when `U: Serialize` and `E` converts
/// into a [`BoxError`]; [`Identity`] encodes items as they are. A transformer should be
/// stateless: it may run on another thread than the one that polled the response.
/// An error fails the stream with [`StreamErrorKind::Transform`](crate::StreamErrorKind).
///
/// ```
/// use rowstream::Transformer;
///
/// #[derive(serde::Serialize)]
/// struct Public { id: i64 }
///
/// let redact = |row: (i64, String)| -> Result<Public, std::io::Error> {
///     Ok(Public { id: row.0 })
/// };
/// let out = redact.transform((7, "secret".into())).unwrap();
/// assert_eq!(out.id, 7);
/// ```
pub trait Transformer<T>: Send + Sync + 'static {
    /// What the encoder receives.
    type Output: Serialize;
    /// The transformer's error.
    type Error: Into<BoxError>;

    /// Transforms one item.
    ///
    /// # Errors
    ///
    /// Whatever the transformer decides; it fails the stream after the items before it.
    fn transform(&self, item: T) -> Result<Self::Output, Self::Error>;
}

impl<T, U, E, F> Transformer<T> for F
where
    F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    U: Serialize,
    E: Into<BoxError>,
{
    type Output = U;
    type Error = E;

    #[inline]
    fn transform(&self, item: T) -> Result<U, E> {
        self(item)
    }
}

/// The transformer that encodes each item as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<T: Serialize> Transformer<T> for Identity {
    type Output = T;
    type Error = Infallible;

    #[inline]
    fn transform(&self, item: T) -> Result<T, Infallible> {
        Ok(item)
    }
}
