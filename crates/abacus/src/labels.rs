//! Label values of one series, stored in one compact allocation.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// The label values of a series, in the order of its family's label names.
///
/// They are kept in one buffer: the number of values and each value's length as LEB128
/// varints, then the values' bytes back to back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LabelValues {
    encoded: Vec<u8>,
}

impl LabelValues {
    /// The most bytes the label values of one series may hold together.
    pub const MAX_BYTES: usize = u32::MAX as usize;

    #[cfg(test)]
    pub(crate) fn new(values: &[&str]) -> Self {
        let mut encoded = Vec::new();
        Self::encode(&mut encoded, values.iter().copied());
        LabelValues { encoded }
    }

    /// Appends the encoding of `values` to `out`.
    pub(crate) fn encode<'a>(
        out: &mut Vec<u8>,
        values: impl ExactSizeIterator<Item = &'a str> + Clone,
    ) {
        if values.len() == 0 {
            return;
        }
        push_varint(out, values.len());
        for value in values.clone() {
            push_varint(out, value.len());
        }
        for value in values {
            out.extend_from_slice(value.as_bytes());
        }
    }

    /// Replaces the values with those `encoded` holds, as [`encode`](Self::encode) wrote
    /// them, reusing this buffer.
    pub(crate) fn set_encoded(&mut self, encoded: &[u8]) {
        self.encoded.clear();
        self.encoded.extend_from_slice(encoded);
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
    }

    #[test]
    fn a_value_split_differently_is_different() {
        let labels = LabelValues::new(&["ab", "c"]);
        assert_ne!(labels, LabelValues::new(&["a", "bc"]));
        assert_ne!(labels, LabelValues::new(&["ab"]));
        assert_ne!(labels, LabelValues::new(&["ab", "c", ""]));
        assert_eq!(labels.iter().collect::<Vec<_>>(), ["ab", "c"]);
    }

    #[test]
    fn no_values_encode_to_nothing() {
        let labels = LabelValues::new(&[]);
        assert!(labels.is_empty());
        assert_eq!(labels.len(), 0);
        assert_eq!(labels.iter().count(), 0);
    }
}
