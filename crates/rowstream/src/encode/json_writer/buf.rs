//! The serializer's output: initialized bytes and a write position, so that short writes
//! are fixed-size stores instead of `memcpy` calls.
//!
//! A [`JsonBuf`] keeps its storage zero-filled ahead of the position (grown in steps, never
//! per write) and writes at the position by indexing. A write of a few bytes whose length
//! is only known at run time (a number's digits, a short string) is done as two
//! overlapping stores of a fixed size ([`JsonBuf::put_short`]), which the compiler emits
//! inline, where `Vec::extend_from_slice` would call `memcpy` and check the capacity.
//! Bytes past the position are scratch: the string escaper stores whole 16-byte blocks
//! and 8-byte escapes and moves the position by what it meant to write; the next write
//! overwrites the rest.

use bytes::BytesMut;

/// Storage a [`JsonBuf`] writes into: a growable run of initialized bytes.
pub(crate) trait Storage {
    /// The initialized bytes.
    fn bytes(&mut self) -> &mut [u8];
    /// How many bytes are initialized.
    fn initialized(&self) -> usize;
    /// Sets the number of initialized bytes, filling new ones with zeros.
    fn resize(&mut self, len: usize);
}

impl Storage for Vec<u8> {
    #[inline(always)]
    fn bytes(&mut self) -> &mut [u8] {
        self
    }
    #[inline(always)]
    fn initialized(&self) -> usize {
        self.len()
    }
    fn resize(&mut self, len: usize) {
        Vec::resize(self, len, 0);
    }
}

impl Storage for &mut BytesMut {
    #[inline(always)]
    fn bytes(&mut self) -> &mut [u8] {
        self
    }
    #[inline(always)]
    fn initialized(&self) -> usize {
        self.len()
    }
    fn resize(&mut self, len: usize) {
        BytesMut::resize(self, len, 0);
    }
}

/// The smallest step the storage grows by, in bytes.
const MIN_GROWTH: usize = 512;

/// Bytes written at `start..len` of `storage`; `storage` may hold initialized scratch
/// bytes past `len`.
#[derive(Clone, Default)]
pub(crate) struct JsonBuf<S> {
    storage: S,
    start: usize,
    len: usize,
}

impl<S: Storage> JsonBuf<S> {
    /// A buffer writing after what `storage` holds.
    pub(crate) fn append_to(storage: S) -> Self {
        let len = storage.initialized();
        Self {
            storage,
            start: len,
            len,
        }
    }

    /// The storage and where the written bytes end; the bytes past that end are scratch.
    pub(crate) fn into_parts(self) -> (S, usize) {
        (self.storage, self.len)
    }

    /// The bytes written since the buffer was made or last cleared.
    #[inline]
    pub(crate) fn written(&mut self) -> &[u8] {
        let (start, len) = (self.start, self.len);
        &self.storage.bytes()[start..len]
    }

    /// Forgets what was written, keeping the storage (and its initialized bytes).
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = self.start;
    }

    /// How many bytes the storage holds, written or not.
    #[inline]
    pub(crate) fn storage_len(&self) -> usize {
        self.storage.initialized()
    }

    /// At least `n` initialized bytes from the write position on, to be written and then
    /// committed with [`advance`](Self::advance).
    #[inline(always)]
    pub(super) fn room(&mut self, n: usize) -> &mut [u8] {
        if self.storage.initialized() - self.len < n {
            self.grow(n);
        }
        let len = self.len;
        &mut self.storage.bytes()[len..]
    }

    /// Moves the write position `n` bytes on, over bytes written through [`room`](Self::room).
    #[inline(always)]
    pub(super) fn advance(&mut self, n: usize) {
        self.len += n;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let step = n.max(self.len - self.start).max(MIN_GROWTH);
        self.storage.resize(self.len + step);
    }

    #[inline(always)]
    pub(super) fn put_u8(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }

    /// Writes `N` bytes known at compile time.
    #[inline(always)]
    pub(super) fn put_array<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.room(N)[..N].copy_from_slice(bytes);
        self.len += N;
    }

    /// Writes `bytes` of any length; up to 32 bytes without a `memcpy` call.
    #[inline(always)]
    pub(super) fn put_short(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n > 32 {
            return self.put_long(bytes);
        }
        copy_short(self.room(n), bytes);
        self.len += n;
    }

    /// Writes `bytes` with one copy.
    #[inline(never)]
    pub(super) fn put_long(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.room(n)[..n].copy_from_slice(bytes);
        self.len += n;
    }
}

/// Copies `src` (at most 32 bytes) to the start of `dst` (at least as long) with
/// fixed-size copies: two overlapping ones of the largest power of two that fits (or the
/// bytes one by one under 4), never past `src.len()` bytes of `dst`.
#[inline(always)]
pub(super) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n >= 16 {
        copy_pair::<16>(dst, src);
    } else if n >= 8 {
        copy_pair::<8>(dst, src);
    } else if n >= 4 {
        copy_pair::<4>(dst, src);
    } else if n > 0 {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/// Copies `src`, `N..=2N` bytes long, as its first and its last `N` bytes.
#[inline(always)]
fn copy_pair<const N: usize>(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    let head: [u8; N] = first(src);
    let tail: [u8; N] = first(&src[n - N..]);
    dst[..N].copy_from_slice(&head);
    dst[n - N..n].copy_from_slice(&tail);
}

/// The first `N` bytes of `bytes` (which holds at least `N`).
#[inline(always)]
pub(super) fn first<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// A [`JsonBuf`] writing after what a `BytesMut` holds; dropped (after a panic too), it
/// cuts the `BytesMut` back to the bytes written.
pub(crate) struct AppendTo<'a>(pub(crate) JsonBuf<&'a mut BytesMut>);

impl<'a> AppendTo<'a> {
    pub(crate) fn new(out: &'a mut BytesMut) -> Self {
        Self(JsonBuf::append_to(out))
    }
}

impl Drop for AppendTo<'_> {
    fn drop(&mut self) {
        let len = self.0.len;
        self.0.storage.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_writes_of_every_length_land_exactly() {
        let source: Vec<u8> = (1..=64).collect();
        for n in 0..=64 {
            let mut buf = JsonBuf::append_to(Vec::new());
            buf.put_u8(b'[');
            buf.put_short(&source[..n]);
            buf.put_array(b"]!");
            let mut expected = vec![b'['];
            expected.extend_from_slice(&source[..n]);
            expected.extend_from_slice(b"]!");
            assert_eq!(buf.written(), &expected[..], "{n}");
        }
    }

    #[test]
    fn appends_after_existing_bytes_and_grows() {
        let mut out = BytesMut::from(&b"abc"[..]);
        let mut buf = AppendTo::new(&mut out);
        for _ in 0..1000 {
            buf.0.put_short(b"0123456789");
        }
        assert_eq!(buf.0.written().len(), 10_000);
        drop(buf);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(out.len(), 10_003);
        assert_eq!(&out[10_003 - 10..], b"0123456789");
    }
}
