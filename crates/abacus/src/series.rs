//! A family's series, stored compactly: a few `u32` words per series.
//!
//! A proxy's families hold many series that share few distinct values: 1,000 tenants
//! times 10 routes times 10 statuses is 100,000 series but only 1,020 strings. So each
//! distinct value is kept once per family and a series is its cells' location plus one
//! id per label value, in fixed-size chunks that never move or reallocate as a whole.
//! Per series that is 16 bytes for three labels, against 40 or more for a heap record
//! with its own copy of the values.
//!
//! Series of families whose idle series expire are removed: a removed series leaves a
//! hole that the next new series fills, and a value nobody uses any more is forgotten.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::cells::SlotRange;
use crate::labels::hash_values;

/// Words in a full chunk of series records: 16 KiB.
const CHUNK_WORDS: usize = 4096;

/// The series of one family, in creation order.
pub(crate) struct SeriesStore {
    /// Words per series: the packed slot range, then one string id per label value.
    stride: usize,
    /// Series per chunk.
    per_chunk: usize,
    /// Every chunk but the last is full; the last grows as series are added.
    chunks: Vec<Vec<u32>>,
    /// Records in the chunks, holes included.
    records: usize,
    /// Records that are holes, left by removed series, to be filled first.
    holes: Vec<u32>,
    strings: Interner,
}

/// The first word of a hole's record: no packed range is this large.
const HOLE: u32 = u32::MAX;

/// Every distinct label value of a family's series, once.
struct Interner {
    strings: Vec<Box<str>>,
    /// How many series use each string; a string no series uses is forgotten.
    uses: Vec<u32>,
    /// Ids of forgotten strings, to be given to new ones.
    free: Vec<u32>,
    /// Indices into `strings`, by hash of the text.
    by_text: HashTable<u32>,
}

impl SeriesStore {
    pub(crate) fn new(label_count: usize) -> Self {
        let stride = 1 + label_count;
        SeriesStore {
            stride,
            per_chunk: (CHUNK_WORDS / stride).max(1),
            chunks: Vec::new(),
            records: 0,
            holes: Vec::new(),
            strings: Interner {
                strings: Vec::new(),
                uses: Vec::new(),
                free: Vec::new(),
                by_text: HashTable::new(),
            },
        }
    }

    /// The number of series.
    pub(crate) fn len(&self) -> usize {
        self.records - self.holes.len()
    }

    /// The number of records, holes included: one more than the largest series number.
    pub(crate) fn records(&self) -> usize {
        self.records
    }

    /// The numbers of every series, in the order of their records.
    pub(crate) fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.records as u32).filter(|&number| self.record(number)[0] != HOLE)
    }

    /// Adds a series and returns its number: a hole's if there is one (so numbers are
    /// not in creation order once series have been removed), else the next. The caller
    /// checked that it is new.
    pub(crate) fn push(
        &mut self,
        range: SlotRange,
        values: &[&str],
        hasher: &DefaultHashBuilder,
    ) -> u32 {
        debug_assert_eq!(values.len() + 1, self.stride);
        let mut record = Vec::with_capacity(self.stride);
        record.push(range.pack());
        for value in values {
            record.push(self.strings.intern(value, hasher));
        }
        if let Some(hole) = self.holes.pop() {
            self.record_mut(hole).copy_from_slice(&record);
            return hole;
        }
        if self.records % self.per_chunk == 0 {
            self.chunks.push(Vec::new());
        }
        self.chunks
            .last_mut()
            .unwrap_or_else(|| unreachable!("pushed above"))
            .extend_from_slice(&record);
        self.records += 1;
        (self.records - 1) as u32
    }

    /// Removes a series, leaving a hole, and forgets the values no other series uses.
    pub(crate) fn remove(&mut self, series: u32, hasher: &DefaultHashBuilder) {
        let ids = self.record(series)[1..].to_vec();
        for id in ids {
            self.strings.release(id, hasher);
        }
        self.record_mut(series).fill(HOLE);
        self.holes.push(series);
    }

    fn record(&self, series: u32) -> &[u32] {
        let series = series as usize;
        let chunk = &self.chunks[series / self.per_chunk];
        let start = series % self.per_chunk * self.stride;
        &chunk[start..start + self.stride]
    }

    fn record_mut(&mut self, series: u32) -> &mut [u32] {
        let series = series as usize;
        let chunk = &mut self.chunks[series / self.per_chunk];
        let start = series % self.per_chunk * self.stride;
        &mut chunk[start..start + self.stride]
    }

    /// Where the cells of `series` are.
    pub(crate) fn range(&self, series: u32) -> SlotRange {
        SlotRange::unpack(self.record(series)[0])
    }

    /// The label values of `series`, in the order of the family's label names.
    pub(crate) fn values(&self, series: u32) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        self.record(series)[1..]
            .iter()
            .map(|&id| &*self.strings.strings[id as usize])
    }

    /// Whether `series` has exactly these label values.
    pub(crate) fn matches(&self, series: u32, values: &[&str]) -> bool {
        self.values(series)
            .zip(values)
            .all(|(stored, value)| stored == *value)
    }

    /// The hash of the values of `series`, as [`hash_values`] computes it from the text.
    pub(crate) fn hash(&self, series: u32, hasher: &DefaultHashBuilder) -> u64 {
        hash_values(hasher, self.values(series))
    }
}

impl Interner {
    /// The id of `value`, added if it is new, counted as used once more.
    fn intern(&mut self, value: &str, hasher: &DefaultHashBuilder) -> u32 {
        let hash = hasher.hash_one(value);
        let strings = &self.strings;
        if let Some(&id) = self
            .by_text
            .find(hash, |&id| &*strings[id as usize] == value)
        {
            self.uses[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = value.into();
                self.uses[id as usize] = 1;
                id
            }
            None => {
                self.strings.push(value.into());
                self.uses.push(1);
                (self.strings.len() - 1) as u32
            }
        };
        let strings = &self.strings;
        self.by_text
            .insert_unique(hash, id, |&id| hasher.hash_one(&*strings[id as usize]));
        id
    }

    /// Counts one use of `id` less, and forgets its string when none is left.
    fn release(&mut self, id: u32, hasher: &DefaultHashBuilder) {
        let uses = &mut self.uses[id as usize];
        *uses -= 1;
        if *uses > 0 {
            return;
        }
        let hash = hasher.hash_one(&*self.strings[id as usize]);
        if let Ok(entry) = self.by_text.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        self.strings[id as usize] = Box::default();
        self.free.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_read_back_across_chunks_and_share_their_strings() {
        let hasher = DefaultHashBuilder::default();
        let mut store = SeriesStore::new(2);
        let total = CHUNK_WORDS + 7;
        let values = |i: usize| [format!("tenant-{}", i % 10), format!("{i}")];
        for i in 0..total {
            let [a, b] = values(i);
            let range = SlotRange {
                page: (i / 1024) as u32,
                offset: (i % 1024) as u16,
            };
            assert_eq!(store.push(range, &[&a, &b], &hasher), i as u32);
        }
        assert_eq!(store.len(), total);
        assert!(store.chunks.len() > 1);
        // Ten tenants and `total` distinct numbers, each kept once.
        assert_eq!(store.strings.strings.len(), 10 + total);
        for i in [0, 1, store.per_chunk - 1, store.per_chunk, total - 1] {
            let [a, b] = values(i);
            assert_eq!(
                store.values(i as u32).collect::<Vec<_>>(),
                [a.as_str(), b.as_str()]
            );
            assert!(store.matches(i as u32, &[&a, &b]));
            assert!(!store.matches(i as u32, &[&a, "other"]));
            assert_eq!(store.range(i as u32).page, (i / 1024) as u32);
            assert_eq!(store.range(i as u32).offset, (i % 1024) as u16);
            assert_eq!(
                store.hash(i as u32, &hasher),
                hash_values(&hasher, [a.as_str(), b.as_str()])
            );
        }
    }

    #[test]
    fn removed_series_leave_holes_that_new_ones_fill_and_unused_strings_are_forgotten() {
        let hasher = DefaultHashBuilder::default();
        let mut store = SeriesStore::new(2);
        let range = |i: u16| SlotRange { page: 0, offset: i };
        assert_eq!(store.push(range(0), &["a", "shared"], &hasher), 0);
        assert_eq!(store.push(range(1), &["b", "shared"], &hasher), 1);
        assert_eq!(store.push(range(2), &["c", "shared"], &hasher), 2);
        store.remove(1, &hasher);
        assert_eq!(store.len(), 2);
        assert_eq!(store.numbers().collect::<Vec<_>>(), [0, 2]);
        // "b" is used by no series now; "shared" still is.
        assert_eq!(store.strings.free.len(), 1);
        assert!(store.strings.by_text.len() == 3);
        // The next series takes the hole, and the forgotten string's id.
        assert_eq!(store.push(range(7), &["d", "shared"], &hasher), 1);
        assert_eq!(store.numbers().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(store.values(1).collect::<Vec<_>>(), ["d", "shared"]);
        assert_eq!(store.range(1), range(7));
        assert!(store.strings.free.is_empty());
        assert_eq!(store.strings.strings.len(), 4);
        for (number, first) in [(0, "a"), (2, "c")] {
            assert_eq!(store.values(number).collect::<Vec<_>>(), [first, "shared"]);
            assert!(store.matches(number, &[first, "shared"]));
        }
        // Every series gone: every string too.
        for number in [0, 1, 2] {
            store.remove(number, &hasher);
        }
        assert_eq!(store.len(), 0);
        assert_eq!(store.strings.by_text.len(), 0);
        assert_eq!(store.strings.uses, [0, 0, 0, 0]);
    }
}
