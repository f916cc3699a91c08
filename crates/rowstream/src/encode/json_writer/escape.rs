//! JSON string escaping (RFC 8259 §7) that scans eight bytes at a time.
//!
//! A string needs escaping only at `"`, `\` and the control characters U+0000–U+001F;
//! everything else, non-ASCII UTF-8 included, is copied as it is. Instead of looking up
//! every byte (serde_json's loop), [`write_str`] tests a whole 64-bit word for those bytes
//! with a few integer operations and copies clean runs with one `put_slice`. The output is
//! byte for byte what serde_json writes: the short escapes `\b \t \n \f \r \" \\`, and
//! `\u00xx` with lowercase hex digits for the other control characters.

use bytes::BufMut;

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest byte lane of `word` (the first byte of the
/// eight, read little-endian) that needs escaping, and possibly in lanes above it.
///
/// Each test is the classic "has a zero byte" trick; a borrow may mark a lane above a
/// true hit, never one below it, so the lowest marked lane is always exact.
#[inline(always)]
fn needs_escape(word: u64) -> u64 {
    let quote = word ^ (LANES * u64::from(b'"'));
    let backslash = word ^ (LANES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(LANES) & !quote;
    let zero_backslash = backslash.wrapping_sub(LANES) & !backslash;
    let control = word.wrapping_sub(LANES * 0x20) & !word;
    (zero_quote | zero_backslash | control) & HIGH
}

/// Whether `byte` must be escaped in a JSON string.
#[inline(always)]
fn must_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Writes the escape sequence of `byte`, one of the bytes [`must_escape`] accepts.
#[cold]
fn write_escape<B: BufMut>(out: &mut B, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        _ => {
            out.put_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
            return;
        }
    };
    out.put_slice(&[b'\\', short]);
}

/// Writes `value` as a JSON string, quotes included.
#[inline]
pub(crate) fn write_str<B: BufMut>(out: &mut B, value: &str) {
    out.put_u8(b'"');
    write_str_contents(out, value);
    out.put_u8(b'"');
}

/// Writes `value` escaped, without quotes.
pub(crate) fn write_str_contents<B: BufMut>(out: &mut B, value: &str) {
    let bytes = value.as_bytes();
    // `run` is where the clean bytes not yet written start; `at` is the word scanned.
    let mut run = 0;
    let mut at = 0;
    // Sixteen bytes (two words) per step while there are that many.
    let mut pairs = bytes.chunks_exact(16);
    for pair in &mut pairs {
        let (low, high) = pair.split_at(8);
        let low = needs_escape(word(low));
        let high = needs_escape(word(high));
        if low | high != 0 {
            if low != 0 {
                run = escape_lanes(out, bytes, at, low, run);
            }
            if high != 0 {
                run = escape_lanes(out, bytes, at + 8, high, run);
            }
        }
        at += 16;
    }
    // Then one word, and the last bytes padded with spaces (which need no escaping).
    let mut rest = pairs.remainder();
    if rest.len() >= 8 {
        let (full, tail) = rest.split_at(8);
        let mask = needs_escape(word(full));
        if mask != 0 {
            run = escape_lanes(out, bytes, at, mask, run);
        }
        at += 8;
        rest = tail;
    }
    if !rest.is_empty() {
        let mut padded = [b' '; 8];
        padded[..rest.len()].copy_from_slice(rest);
        let mask = needs_escape(u64::from_le_bytes(padded));
        if mask != 0 {
            run = escape_lanes(out, bytes, at, mask, run);
        }
    }
    out.put_slice(&bytes[run..]);
}

/// The eight bytes of `bytes` (exactly eight) as a little-endian word.
#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([b' '; 8]))
}

/// Writes the clean run up to each byte the lanes of `mask` mark in the word at `at`, and
/// that byte's escape; returns where the clean run goes on. A marked lane above a true
/// hit may be a false one (a borrow), and a lane past the end is padding: each is checked.
#[inline]
fn escape_lanes<B: BufMut>(
    out: &mut B,
    bytes: &[u8],
    at: usize,
    mut mask: u64,
    mut run: usize,
) -> usize {
    while mask != 0 {
        let hit = at + (mask.trailing_zeros() / 8) as usize;
        mask &= mask - 1;
        if let Some(&byte) = bytes.get(hit) {
            if must_escape(byte) {
                out.put_slice(&bytes[run..hit]);
                write_escape(out, byte);
                run = hit + 1;
            }
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn escaped(value: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_byte_escapes_as_serde_json_does() {
        for byte in 0u8..=0x7f {
            let text = format!("ab{}cdefghijkl{}", byte as char, byte as char);
            assert_eq!(
                escaped(&text),
                serde_json::to_string(&text).unwrap(),
                "{byte:#x}"
            );
        }
    }

    #[test]
    fn hits_in_every_lane_and_at_the_ends() {
        for len in 0..40 {
            for at in 0..len {
                let mut text: Vec<char> = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
                    .chars()
                    .take(len)
                    .collect();
                text[at] = '"';
                let text: String = text.into_iter().collect();
                assert_eq!(escaped(&text), serde_json::to_string(&text).unwrap());
            }
        }
    }

    proptest! {
        #[test]
        fn same_bytes_as_serde_json(text in any::<String>()) {
            prop_assert_eq!(escaped(&text), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn same_bytes_as_serde_json_on_json_heavy_text(
            text in proptest::string::string_regex("[\"\\\\\\x00-\\x1f a-zé€😀]{0,64}").unwrap()
        ) {
            prop_assert_eq!(escaped(&text), serde_json::to_string(&text).unwrap());
        }
    }
}
