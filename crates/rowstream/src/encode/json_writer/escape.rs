//! JSON string escaping (RFC 8259 §7) that scans and copies sixteen bytes at a time.
//!
//! A string needs escaping only at `"`, `\` and the control characters U+0000–U+001F;
//! everything else, non-ASCII UTF-8 included, is copied as it is. Instead of looking up
//! every byte (serde_json's loop), [`write_str`] stores sixteen bytes of the string at the
//! write position with one fixed-size copy and tests them, as two 64-bit words, with a few
//! integer operations. Clean, the position moves sixteen bytes on. Otherwise it moves to
//! the first byte to escape, that byte's escape is stored (a fixed eight bytes from a
//! table, of which the position keeps two or six), and the next block starts after it;
//! the bytes stored past the position are overwritten by what comes next. The last
//! fifteen bytes or fewer are tested as two overlapping words and copied with
//! [`JsonBuf::put_short`]. No write of a run or an escape is a `memcpy` call; capacity
//! is checked once a block.
//!
//! The output is byte for byte what serde_json writes: the short escapes
//! `\b \t \n \f \r \" \\`, and `\u00xx` with lowercase hex digits for the other control
//! characters.

use super::buf::{JsonBuf, Storage, copy_short, first};

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest byte lane of `word` (the first byte of the
/// eight, read little-endian) that needs escaping, and possibly in lanes above it; zero
/// exactly when no byte of `word` needs escaping.
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

/// The byte lane of the lowest set bit of a non-zero mask.
#[inline(always)]
fn lane(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// Each byte's escape: its first bytes, and in the last byte how many of them there are
/// (0 for a byte written as it is).
static ESCAPES: [[u8; 8]; 256] = escapes();

const fn escapes() -> [[u8; 8]; 256] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const fn short(c: u8) -> [u8; 8] {
        [b'\\', c, 0, 0, 0, 0, 0, 2]
    }
    let mut table = [[0; 8]; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = match byte {
            0x08 => short(b'b'),
            0x09 => short(b't'),
            0x0a => short(b'n'),
            0x0c => short(b'f'),
            0x0d => short(b'r'),
            _ => [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[byte >> 4],
                HEX[byte & 0xf],
                0,
                6,
            ],
        };
        byte += 1;
    }
    table[b'"' as usize] = short(b'"');
    table[b'\\' as usize] = short(b'\\');
    table
}

/// Writes `value` as a JSON string, quotes included.
#[inline]
pub(crate) fn write_str<S: Storage>(out: &mut JsonBuf<S>, value: &str) {
    let bytes = value.as_bytes();
    let n = bytes.len();
    if n < 16 && short_mask(bytes) == 0 {
        // Quotes and fifteen bytes at most, in one room.
        let room = &mut out.room(17)[..17];
        room[0] = b'"';
        copy_short(&mut room[1..], bytes);
        room[n + 1] = b'"';
        out.advance(n + 2);
    } else {
        out.put_u8(b'"');
        write_str_contents(out, value);
        out.put_u8(b'"');
    }
}

/// Writes `value` escaped, without quotes.
#[inline]
pub(crate) fn write_str_contents<S: Storage>(out: &mut JsonBuf<S>, value: &str) {
    let mut rest = value.as_bytes();
    if rest.len() >= 16 {
        rest = write_blocks(out, rest);
    }
    write_tail(out, rest);
}

/// Writes `bytes` sixteen at a time while at least sixteen are left; returns the rest.
#[inline(never)]
fn write_blocks<'s, S: Storage>(out: &mut JsonBuf<S>, mut rest: &'s [u8]) -> &'s [u8] {
    while rest.len() >= 16 {
        let block: [u8; 16] = first(rest);
        // The block, and an escape stored at any of its bytes.
        let room = &mut out.room(16 + 8)[..16 + 8];
        room[..16].copy_from_slice(&block);
        let low = needs_escape(u64::from_le_bytes(first(&block)));
        let hit = if low != 0 {
            lane(low)
        } else {
            let high = needs_escape(u64::from_le_bytes(first(&block[8..])));
            if high == 0 {
                out.advance(16);
                rest = &rest[16..];
                continue;
            }
            8 + lane(high)
        };
        let escape = &ESCAPES[usize::from(block[hit])];
        // The lowest marked lane is a byte to escape ([`needs_escape`]).
        debug_assert_ne!(escape[7], 0, "byte {:#x} needs no escape", block[hit]);
        room[hit..hit + 8].copy_from_slice(escape);
        out.advance(hit + usize::from(escape[7]));
        rest = &rest[hit + 1..];
    }
    rest
}

/// Writes the last bytes of a string, fewer than sixteen.
#[inline(always)]
fn write_tail<S: Storage>(out: &mut JsonBuf<S>, tail: &[u8]) {
    if tail.is_empty() {
        return;
    }
    if short_mask(tail) == 0 {
        out.put_short(tail);
    } else {
        escape_each(out, tail);
    }
}

/// [`needs_escape`] for fewer than sixteen bytes: zero exactly when none needs escaping.
/// They are read as two overlapping words (or, under four, three bytes and padding).
#[inline(always)]
fn short_mask(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 8 {
        needs_escape(u64::from_le_bytes(first(bytes)))
            | needs_escape(u64::from_le_bytes(first(&bytes[n - 8..])))
    } else if n >= 4 {
        let head = u32::from_le_bytes(first(bytes));
        let last = u32::from_le_bytes(first(&bytes[n - 4..]));
        needs_escape(u64::from(head) | u64::from(last) << 32)
    } else if n > 0 {
        needs_escape(u64::from_le_bytes([
            bytes[0],
            bytes[n / 2],
            bytes[n - 1],
            b' ',
            b' ',
            b' ',
            b' ',
            b' ',
        ]))
    } else {
        0
    }
}

/// Writes an object key and its colon, `"key":`, after a comma when `comma` is set.
///
/// A key of fewer than sixteen bytes with nothing to escape (a struct's field names,
/// most column names) is written with one capacity check and fixed-size stores.
#[inline(always)]
pub(crate) fn write_key<S: Storage>(out: &mut JsonBuf<S>, comma: bool, key: &str) {
    let bytes = key.as_bytes();
    let n = bytes.len();
    if n < 16 && short_mask(bytes) == 0 {
        // `,"`, fifteen bytes and `":`.
        let room = &mut out.room(19)[..19];
        let at = usize::from(comma);
        room[0] = b',';
        room[at] = b'"';
        copy_short(&mut room[at + 1..], bytes);
        room[at + 1 + n] = b'"';
        room[at + 2 + n] = b':';
        out.advance(at + 3 + n);
    } else {
        if comma {
            out.put_u8(b',');
        }
        write_str(out, key);
        out.put_u8(b':');
    }
}

/// Writes `bytes` (the last few of a string) escaping byte by byte.
#[inline(never)]
fn escape_each<S: Storage>(out: &mut JsonBuf<S>, bytes: &[u8]) {
    // Six bytes an escape at most, the last one stored as eight.
    let room = out.room(bytes.len() * 6 + 2);
    let mut at = 0;
    for &byte in bytes {
        let escape = &ESCAPES[usize::from(byte)];
        if escape[7] == 0 {
            room[at] = byte;
            at += 1;
        } else {
            room[at..at + 8].copy_from_slice(escape);
            at += usize::from(escape[7]);
        }
    }
    out.advance(at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn escaped(value: &str) -> String {
        let mut out = JsonBuf::append_to(Vec::new());
        write_str(&mut out, value);
        String::from_utf8(out.written().to_vec()).unwrap()
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
