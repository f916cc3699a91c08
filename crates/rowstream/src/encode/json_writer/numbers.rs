//! Numbers written straight into the buffer: integers up to 64 bits digit pairs at a time
//! from the last, and integral `f64`s below 10^15 as those digits and `.0`, which is
//! what `zmij` (serde_json's float formatting) writes for them; other floats through
//! `zmij`, 128-bit integers through `itoa`.

use super::buf::{JsonBuf, Storage};

/// "00" to "99".
static PAIRS: [[u8; 2]; 100] = pairs();

const fn pairs() -> [[u8; 2]; 100] {
    let mut table = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
}

/// Writes `magnitude` in decimal, after a minus sign when `negative`.
#[inline]
pub(super) fn write_u64<S: Storage>(out: &mut JsonBuf<S>, negative: bool, mut magnitude: u64) {
    // A sign and twenty digits.
    let room = &mut out.room(21)[..21];
    room[0] = b'-';
    let at = usize::from(negative);
    if magnitude < 100 {
        // One digit (the second of the pair "0d") or two.
        let pair = &PAIRS[magnitude as usize];
        let two = usize::from(magnitude >= 10);
        room[at] = pair[1 - two];
        room[at + 1] = pair[1];
        out.advance(at + 1 + two);
        return;
    }
    let len = at + magnitude.ilog10() as usize + 1;
    let mut end = len;
    while magnitude >= 100 {
        room[end - 2..end].copy_from_slice(&PAIRS[(magnitude % 100) as usize]);
        magnitude /= 100;
        end -= 2;
    }
    if magnitude >= 10 {
        room[end - 2..end].copy_from_slice(&PAIRS[magnitude as usize]);
    } else {
        room[end - 1] = b'0' + magnitude as u8;
    }
    out.advance(len);
}

/// Writes a 128-bit integer (or any other) through `itoa`.
#[inline]
pub(super) fn write_wide<S: Storage>(out: &mut JsonBuf<S>, value: impl itoa::Integer) {
    out.put_short(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes a finite `f64` as serde_json does, `null` for NaN and ±Infinity.
#[inline]
pub(super) fn write_f64<S: Storage>(out: &mut JsonBuf<S>, value: f64) {
    // Integral, non-zero (not -0.0) and below 10^15: zmij writes the digits and `.0`.
    let int = value as i64;
    if int as f64 == value && int != 0 && int.unsigned_abs() < 1_000_000_000_000_000 {
        write_u64(out, int < 0, int.unsigned_abs());
        out.put_array(b".0");
    } else if value.is_finite() {
        out.put_short(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.put_array(b"null");
    }
}

/// Writes a finite `f32` as serde_json does, `null` for NaN and ±Infinity.
#[inline]
pub(super) fn write_f32<S: Storage>(out: &mut JsonBuf<S>, value: f32) {
    if value.is_finite() {
        out.put_short(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.put_array(b"null");
    }
}
