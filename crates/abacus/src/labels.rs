//! Label values of one series, stored in a single allocation.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// The label values of a series, in the order of its family's label names.
///
/// They are kept as one string with the end offset of each value, so a series with four
/// labels costs two small allocations rather than five.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelValues {
    joined: Box<str>,
    ends: Box<[u32]>,
}

impl LabelValues {
    /// The most bytes the label values of one series may hold together: offsets are `u32`.
    pub const MAX_BYTES: usize = u32::MAX as usize;

    pub(crate) fn new(values: &[&str]) -> Self {
        let mut joined = String::with_capacity(values.iter().map(|v| v.len()).sum());
        let mut ends = Vec::with_capacity(values.len());
        for value in values {
            joined.push_str(value);
            // Cannot truncate: `resolve` refuses values longer than MAX_BYTES together.
            ends.push(joined.len() as u32);
        }
        LabelValues {
            joined: joined.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the series has no labels.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        self.joined.get(start..end)
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Whether these are exactly `values`.
    pub(crate) fn matches(&self, values: &[&str]) -> bool {
        values.len() == self.len() && self.iter().zip(values).all(|(a, b)| a == *b)
    }
}

/// Hashes a tuple of label values so that `["ab", "c"]` and `["a", "bc"]` differ: each
/// value is written with its length.
pub(crate) fn hash_values<'a>(
    hasher: &impl BuildHasher,
    values: impl IntoIterator<Item = &'a str>,
) -> u64 {
    let mut state = hasher.build_hasher();
    for value in values {
        state.write_usize(value.len());
        state.write(value.as_bytes());
    }
    state.finish()
}

impl fmt::Debug for LabelValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
