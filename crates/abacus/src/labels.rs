//! Label values of one series, stored in one compact allocation.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// The label values of a series, in the order of its family's label names.
///
/// They live in one allocation, sized to fit: the number of values and each value's length
/// as LEB128 varints, then the values' bytes back to back. Three short values cost their
/// bytes plus four, which matters when a process holds a million series.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelValues {
    encoded: Box<[u8]>,
}

impl LabelValues {
    /// The most bytes the label values of one series may hold together.
    pub const MAX_BYTES: usize = u32::MAX as usize;

    pub(crate) fn new(values: &[&str]) -> Self {
        if values.is_empty() {
            return LabelValues {
                encoded: Box::default(),
            };
        }
        // Sized exactly, so that boxing it does not reallocate.
        let size = varint_len(values.len())
            + values
                .iter()
                .map(|v| varint_len(v.len()) + v.len())
                .sum::<usize>();
        let mut encoded = Vec::with_capacity(size);
        push_varint(&mut encoded, values.len());
        for value in values {
            push_varint(&mut encoded, value.len());
        }
        for value in values {
            encoded.extend_from_slice(value.as_bytes());
        }
        LabelValues {
            encoded: encoded.into_boxed_slice(),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        read_varint(&self.encoded, &mut 0)
    }

    /// Whether the series has no labels.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// The value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.iter().nth(index)
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.raw()
            .map(|bytes| std::str::from_utf8(bytes).unwrap_or_default())
    }

    /// Whether these are exactly `values`; compares bytes, with no UTF-8 check.
    ///
    /// This is the per-call recording path's equality check, so it makes one pass: the
    /// count and every length from the header first, which rejects most mismatches
    /// without touching the text, then the text.
    #[inline]
    pub(crate) fn matches(&self, values: &[&str]) -> bool {
        let encoded = &*self.encoded;
        let mut pos = 0;
        if read_varint(encoded, &mut pos) != values.len() {
            return false;
        }
        let mut total = 0;
        for value in values {
            if read_varint(encoded, &mut pos) != value.len() {
                return false;
            }
            total += value.len();
        }
        let Some(mut text) = encoded.get(pos..) else {
            return false;
        };
        if text.len() != total {
            return false;
        }
        values.iter().all(|value| {
            let (this, rest) = text.split_at(value.len());
            text = rest;
            short_eq(this, value.as_bytes())
        })
    }

    fn raw(&self) -> RawValues<'_> {
        let mut header = 0;
        let count = read_varint(&self.encoded, &mut header);
        let mut data = header;
        for _ in 0..count {
            read_varint(&self.encoded, &mut data);
        }
        RawValues {
            encoded: &self.encoded,
            header,
            data,
            remaining: count,
        }
    }
}

/// Walks the lengths in the header and the bytes after it in step.
struct RawValues<'a> {
    encoded: &'a [u8],
    header: usize,
    data: usize,
    remaining: usize,
}

impl<'a> Iterator for RawValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.remaining = self.remaining.checked_sub(1)?;
        let len = read_varint(self.encoded, &mut self.header);
        let value = self
            .encoded
            .get(self.data..self.data + len)
            .unwrap_or_default();
        self.data += len;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RawValues<'_> {}

/// How many bytes `push_varint` writes for `n`.
fn varint_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint at `*pos` and moves past it; a truncated one reads as what it has.
#[inline]
fn read_varint(bytes: &[u8], pos: &mut usize) -> usize {
    // Label values are short: their lengths almost always fit one byte.
    if let Some(&byte) = bytes.get(*pos) {
        if byte < 0x80 {
            *pos += 1;
            return usize::from(byte);
        }
    }
    read_long_varint(bytes, pos)
}

#[cold]
fn read_long_varint(bytes: &[u8], pos: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    while let Some(&byte) = bytes.get(*pos) {
        *pos += 1;
        n |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    n
}

/// `a == b`, inlined: label values are mostly a few bytes long, where a call to `memcmp`
/// costs more than the comparison. Two overlapping loads cover any length from 4 to 16.
#[inline]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
    };
    let half = |s: &[u8], at: usize| {
        s.get(at..at + 4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap_or_default()))
    };
    match len {
        0 => true,
        // The first, middle and last bytes are every byte of a value this short.
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        _ => a == b,
    }
}

/// Hashes a tuple of label values: one `write` per value, which the hasher (foldhash)
/// folds in on its own with its length, so that `["ab", "c"]` and `["a", "bc"]` differ.
/// Lookups compare the values themselves, so this only has to spread them well.
pub(crate) fn hash_values<'a>(
    hasher: &impl BuildHasher,
    values: impl IntoIterator<Item = &'a str>,
) -> u64 {
    let mut state = hasher.build_hasher();
    for value in values {
        state.write(value.as_bytes());
    }
    state.finish()
}

impl fmt::Debug for LabelValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::LabelValues;

    #[test]
    fn values_of_every_varint_width_read_back() {
        // Lengths on both sides of the one-, two- and three-byte varint boundaries.
        let owned: Vec<String> = [0, 1, 127, 128, 300, 16_383, 16_384, 20_000]
            .map(|n| "é".repeat(n / 2))
            .to_vec();
        let values: Vec<&str> = owned.iter().map(String::as_str).collect();
        let labels = LabelValues::new(&values);
        assert_eq!(labels.len(), values.len());
        assert_eq!(labels.iter().collect::<Vec<_>>(), values);
        assert_eq!(labels.get(4), Some(values[4]));
        assert_eq!(labels.get(values.len()), None);
        assert!(labels.matches(&values));
    }

    #[test]
    fn a_value_split_differently_does_not_match() {
        let labels = LabelValues::new(&["ab", "c"]);
        assert!(!labels.matches(&["a", "bc"]));
        assert!(!labels.matches(&["ab"]));
        assert!(!labels.matches(&["ab", "c", ""]));
        assert!(labels.matches(&["ab", "c"]));
    }

    #[test]
    fn varint_lengths_match_what_is_written() {
        for n in [0, 1, 127, 128, 16_383, 16_384, usize::MAX] {
            let mut out = Vec::new();
            super::push_varint(&mut out, n);
            assert_eq!(super::varint_len(n), out.len(), "{n}");
        }
    }

    #[test]
    fn no_values_take_no_allocation() {
        let labels = LabelValues::new(&[]);
        assert!(labels.is_empty());
        assert_eq!(labels.len(), 0);
        assert_eq!(labels.iter().count(), 0);
    }
}
