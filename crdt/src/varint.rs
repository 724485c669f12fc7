//! LEB128 varints and length-prefixed byte strings: the integer encoding every Tandem
//! format uses (CRDT encodings, wire messages, storage records). Seven bits a byte, low
//! group first, high bit set on every byte but the last.
//!
//! Readers take `&mut &[u8]` and advance it; they never panic on untrusted input and
//! return [`VarintError`], which each format maps into its own error with its context.
//!
//! ```
//! use tandem_crdt::varint;
//!
//! let mut out = Vec::new();
//! varint::put(&mut out, 300);
//! varint::put_bytes(&mut out, b"hi");
//! let mut input = &out[..];
//! assert_eq!(varint::take(&mut input), Ok(300));
//! assert_eq!(varint::take_bytes(&mut input), Ok(&b"hi"[..]));
//! assert!(input.is_empty());
//! ```

/// Why a varint or a length-prefixed byte string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the number or the byte string.
    End,
    /// The number does not fit in 64 bits.
    Overflow,
    /// A length prefix points beyond the input.
    Length,
}

impl VarintError {
    /// A short description, for errors that carry a `&'static str` reason.
    pub fn reason(self) -> &'static str {
        match self {
            VarintError::End => "unexpected end of input",
            VarintError::Overflow => "varint overflows 64 bits",
            VarintError::Length => "length exceeds the input size",
        }
    }
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for VarintError {}

/// Appends `v` as a varint.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `b` prefixed with its length.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a varint from the front of `input`. On error `input` may have advanced.
#[inline]
pub fn take(input: &mut &[u8]) -> Result<u64, VarintError> {
    // Most numbers in the encodings are below 128: one byte, no loop.
    if let Some((&b, rest)) = input.split_first()
        && b < 0x80
    {
        *input = rest;
        return Ok(u64::from(b));
    }
    take_long(input)
}

/// [`take`] for a varint of more than one byte (or none).
fn take_long(input: &mut &[u8]) -> Result<u64, VarintError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first().ok_or(VarintError::End)?;
        *input = rest;
        if shift == 63 && b > 1 {
            return Err(VarintError::Overflow);
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(VarintError::Overflow)
}

/// Reads a length-prefixed byte string from the front of `input`.
pub fn take_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], VarintError> {
    let n = take(input)?;
    if n > input.len() as u64 {
        return Err(VarintError::Length);
    }
    let (b, rest) = input.split_at(n as usize);
    *input = rest;
    Ok(b)
}

/// Maps signed integers to unsigned ones so that small magnitudes stay short.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: u64, len: usize) {
        let mut out = Vec::new();
        put(&mut out, v);
        assert_eq!(out.len(), len, "encoded length of {v}");
        let mut input = &out[..];
        assert_eq!(take(&mut input), Ok(v));
        assert!(input.is_empty());
    }

    #[test]
    fn round_trips_at_the_group_boundaries() {
        check(0, 1);
        check(127, 1);
        check(128, 2);
        check(16_383, 2);
        check(16_384, 3);
        check(u64::MAX, 10);
    }

    #[test]
    fn refuses_truncated_overlong_and_overflowing_input() {
        assert_eq!(take(&mut &[0x80][..]), Err(VarintError::End));
        assert_eq!(take(&mut &[][..]), Err(VarintError::End));
        let eleven = [0xff; 11];
        assert_eq!(take(&mut &eleven[..]), Err(VarintError::Overflow));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(take(&mut &over[..]), Err(VarintError::Overflow));
        assert_eq!(take_bytes(&mut &[5, 1, 2][..]), Err(VarintError::Length));
    }

    #[test]
    fn zigzag_keeps_small_magnitudes_small() {
        for v in [0i64, -1, 1, -64, 63, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
