//! What each thread resolved lately by label values, for recording calls that pass their
//! values every time (`Family::inc(&values)`): no lock, no clone and no allocation once the
//! thread has seen a tuple.
//!
//! Two ways lead to a remembered tuple, both ending in a comparison of the real values:
//!
//! - by the addresses of the value strings: label values are mostly long-lived strings (a
//!   route table, a method name, a tenant id held for a request's life), so the same
//!   addresses come back call after call. A small table keyed by the family and those
//!   addresses finds the entry without reading the text twice.
//! - by a hash of the text, when the strings are new (built for this call) or their place
//!   in the address table was taken by other tuples. A hit refreshes the address table.
//!
//! An address says nothing about the text at it (memory is freed and reused), so an
//! address hit is only a guess that the comparison confirms or rejects. The comparison is
//! most of a hit's cost, so the entry keeps each value as the few words that a hit reads
//! from the caller's string (two overlapping reads as wide as its length allows, four
//! above 16 bytes, and the whole text besides above 32) rather than as text: a value
//! costs one compare of lengths and two or four of words, where a byte-wise comparison
//! cost a call or a branch per length.
//!
//! In a family whose idle series expire, each entry pins its series (see
//! [`crate::expiry`]) and remembers the family's count of expirations: an entry whose count
//! is behind is stale, and is resolved again, in place, on its next use.

use std::cell::RefCell;

use hashbrown::HashTable;

use crate::cells::SlotRange;
use crate::expiry::Pin;
use crate::sync::thread_locals;

/// Entries per thread before the memory of resolutions starts over.
const CAPACITY: usize = 4096;

/// log2 of the sets of the address table: 256 sets of 4 ways, 8 KiB per recording thread.
const ADDRESS_SET_BITS: u32 = 8;

/// Ways per set of the address table: tuples whose addresses land in one set do not evict
/// each other until a fifth comes.
const WAYS: usize = 4;

/// A way of the address table: part of the hash of the addresses, and an index + 1 into
/// the entries (0 for none).
#[derive(Clone, Copy, PartialEq, Eq)]
struct AddressWay {
    tag: u32,
    index: u32,
}

impl AddressWay {
    const EMPTY: AddressWay = AddressWay { tag: 0, index: 0 };
}

/// The cells of the series for `values` in `family`, if this thread remembers them under
/// the addresses of these strings since the family's `expirations`th expiry.
#[inline]
pub(crate) fn find_by_address(family: u64, expirations: u64, values: &[&str]) -> Option<SlotRange> {
    RESOLVED
        .try_with(|resolved| {
            let resolved = resolved.try_borrow().ok()?;
            // Up to four values, the count is a constant in the code that runs: the address
            // fold and the comparisons unroll, with no loop left.
            match values.len() {
                1 => resolved.find_fixed::<1>(family, expirations, values),
                2 => resolved.find_fixed::<2>(family, expirations, values),
                3 => resolved.find_fixed::<3>(family, expirations, values),
                4 => resolved.find_fixed::<4>(family, expirations, values),
                _ => resolved.find_by_address(family, expirations, values),
            }
        })
        .ok()
        .flatten()
}

/// The cells of the series for `values` (whose hash is `hash`) in `family`, if this thread
/// remembers them since the family's `expirations`th expiry; the next [`find_by_address`]
/// with these strings will find them.
pub(crate) fn find_by_text(
    family: u64,
    expirations: u64,
    hash: u64,
    values: &[&str],
) -> Option<SlotRange> {
    RESOLVED
        .try_with(|resolved| {
            resolved
                .try_borrow_mut()
                .ok()?
                .find_by_text(family, expirations, hash, values)
        })
        .ok()
        .flatten()
}

/// One resolution of label values, as a thread remembers it.
pub(crate) struct Resolution {
    pub(crate) family: u64,
    /// The family's count of expirations, read before resolving.
    pub(crate) expirations: u64,
    /// The hash of the values.
    pub(crate) hash: u64,
    pub(crate) range: SlotRange,
    /// Kept for its drop, which lets an expired series' cells be reclaimed.
    pub(crate) _pin: Pin,
}

/// Remembers a resolution of `values`, or hands it back when this thread's memory is gone
/// (its thread-locals are being torn down) or in use further up the stack. A stale entry
/// for the same values is replaced, which lets go of its pin.
#[must_use = "a resolution handed back still pins its series until it is dropped"]
pub(crate) fn remember(resolution: Resolution, values: &[&str]) -> Option<Resolution> {
    let mut resolution = Some(resolution);
    let _ = RESOLVED.try_with(|resolved| {
        if let Ok(mut resolved) = resolved.try_borrow_mut() {
            if let Some(resolution) = resolution.take() {
                resolved.insert(resolution, values);
            }
        }
    });
    resolution
}

/// Runs `f` while this thread's memory is in use, as it is further up the stack when a
/// global allocator records during an insertion.
#[cfg(test)]
pub(crate) fn while_in_use<R>(f: impl FnOnce() -> R) -> R {
    RESOLVED.with(|resolved| {
        let _in_use = resolved.borrow_mut();
        f()
    })
}

struct Resolved {
    entries: Vec<Remembered>,
    /// Indices into `entries`, by family and hash of the values.
    by_text: HashTable<u32>,
    /// Entries by family and addresses of the values, allocated with the first entry.
    by_address: Option<Box<[[AddressWay; WAYS]; 1 << ADDRESS_SET_BITS]>>,
}

struct Remembered {
    found: Resolution,
    /// The values, as keys that compare quickly, so that a hit reads one buffer and not
    /// the family's series storage.
    keys: Box<[ValueKey]>,
    /// The values longer than 32 bytes, whole, one after another.
    long: Box<[u8]>,
}

impl Resolved {
    /// [`Resolved::find_by_address`] for `N` values.
    #[inline(always)]
    fn find_fixed<const N: usize>(
        &self,
        family: u64,
        expirations: u64,
        values: &[&str],
    ) -> Option<SlotRange> {
        let values: &[&str; N] = values.try_into().ok()?;
        self.find_by_address(family, expirations, values)
    }

    #[inline(always)]
    fn find_by_address(&self, family: u64, expirations: u64, values: &[&str]) -> Option<SlotRange> {
        let table = self.by_address.as_ref()?;
        let (set, tag) = address_key(family, values);
        // The tag turns away the other tuples of the set before their entries are read.
        for way in &table[set] {
            if way.tag == tag {
                if let Some(range) = self.entry_hit(way.index, family, expirations, values) {
                    return Some(range);
                }
            }
        }
        None
    }

    /// The range of entry `index` (+ 1, 0 for none) if it remembers `values` in `family`.
    #[inline(always)]
    fn entry_hit(
        &self,
        index: u32,
        family: u64,
        expirations: u64,
        values: &[&str],
    ) -> Option<SlotRange> {
        let entry = self.entries.get((index as usize).wrapping_sub(1))?;
        let found = &entry.found;
        (found.family == family && found.expirations == expirations && entry.matches(values))
            .then_some(found.range)
    }

    /// Points the address table at entry `index` for `values`, in the first way of its
    /// set; the other ways move down, and the last one falls out, unless one of them
    /// already points there.
    fn note_address(&mut self, family: u64, values: &[&str], index: u32) {
        let table = self
            .by_address
            .get_or_insert_with(|| Box::new([[AddressWay::EMPTY; WAYS]; 1 << ADDRESS_SET_BITS]));
        let (set, tag) = address_key(family, values);
        let ways = &mut table[set];
        let noted = AddressWay {
            tag,
            index: index + 1,
        };
        let end = ways
            .iter()
            .position(|&way| way == noted)
            .unwrap_or(WAYS - 1);
        ways[..=end].rotate_right(1);
        ways[0] = noted;
    }

    /// The entry for `values` in `family`, stale or not.
    fn position(&self, family: u64, hash: u64, values: &[&str]) -> Option<u32> {
        let entries = &self.entries;
        self.by_text
            .find(text_key(family, hash), |&i| {
                let entry = &entries[i as usize];
                entry.found.family == family && entry.found.hash == hash && entry.matches(values)
            })
            .copied()
    }

    fn find_by_text(
        &mut self,
        family: u64,
        expirations: u64,
        hash: u64,
        values: &[&str],
    ) -> Option<SlotRange> {
        let index = self.position(family, hash, values)?;
        let found = &self.entries[index as usize].found;
        if found.expirations != expirations {
            return None;
        }
        let range = found.range;
        self.note_address(family, values, index);
        Some(range)
    }

    fn insert(&mut self, resolution: Resolution, values: &[&str]) {
        let (family, hash) = (resolution.family, resolution.hash);
        if let Some(stale) = self.position(family, hash, values) {
            // Dropping the old pin lets an expired series' cells be reclaimed.
            self.entries[stale as usize].found = resolution;
            self.note_address(family, values, stale);
            return;
        }
        if self.entries.len() >= CAPACITY {
            self.entries.clear();
            self.by_text.clear();
            if let Some(table) = &mut self.by_address {
                table.fill([AddressWay::EMPTY; WAYS]);
            }
        }
        let index = self.entries.len() as u32;
        self.entries.push(Remembered::new(resolution, values));
        let entries = &self.entries;
        self.by_text
            .insert_unique(text_key(family, hash), index, |&i| {
                let found = &entries[i as usize].found;
                text_key(found.family, found.hash)
            });
        self.note_address(family, values, index);
    }
}

impl Remembered {
    fn new(found: Resolution, values: &[&str]) -> Self {
        let mut long = Vec::new();
        let keys = values
            .iter()
            .map(|value| {
                let value = value.as_bytes();
                if value.len() > 32 {
                    long.extend_from_slice(value);
                }
                ValueKey::of(value)
            })
            .collect();
        Remembered {
            found,
            keys,
            long: long.into_boxed_slice(),
        }
    }

    #[inline]
    fn matches(&self, values: &[&str]) -> bool {
        if self.keys.len() != values.len() {
            return false;
        }
        // The differences of all values, folded: one branch at the end instead of one
        // per value.
        let mut differ = 0;
        for (key, value) in self.keys.iter().zip(values) {
            let value = value.as_bytes();
            if key.len != value.len() as u64 {
                return false;
            }
            differ |= key.differs(value);
        }
        differ == 0 && (self.long.is_empty() || self.long_matches(values))
    }

    /// Whether the values longer than 32 bytes, of which the keys hold only the first and
    /// last 16 bytes, are the ones remembered.
    #[cold]
    fn long_matches(&self, values: &[&str]) -> bool {
        let mut long = &*self.long;
        for value in values.iter().filter(|value| value.len() > 32) {
            let Some((stored, rest)) = long.split_at_checked(value.len()) else {
                return false;
            };
            if stored != value.as_bytes() {
                return false;
            }
            long = rest;
        }
        long.is_empty()
    }
}

/// A value as a few words that determine it, given its length.
struct ValueKey {
    len: u64,
    words: [u64; 4],
}

impl ValueKey {
    fn of(value: &[u8]) -> Self {
        ValueKey {
            len: value.len() as u64,
            words: words(value),
        }
    }

    /// Nonzero when `value`, of this key's length, is not the value of this key: the
    /// reads of [`words`], each compared as soon as it is made.
    #[inline(always)]
    fn differs(&self, value: &[u8]) -> u64 {
        // Not `words(value)` compared whole, which would be shorter: that also reads and
        // compares the words a length leaves 0, and measured 17.6 ns a call against 13.9.
        let w = &self.words;
        let len = value.len();
        match len {
            17.. => {
                (read_u64(value, 0) ^ w[0])
                    | (read_u64(value, 8) ^ w[1])
                    | (read_u64(value, len - 16) ^ w[2])
                    | (read_u64(value, len - 8) ^ w[3])
            }
            8..=16 => (read_u64(value, 0) ^ w[0]) | (read_u64(value, len - 8) ^ w[1]),
            4..=7 => (read_u32(value, 0) ^ w[0]) | (read_u32(value, len - 4) ^ w[1]),
            2..=3 => (read_u16(value, 0) ^ w[0]) | (read_u16(value, len - 2) ^ w[1]),
            1 => u64::from(value[0]) ^ w[0],
            0 => 0,
        }
    }
}

/// Words that determine a value of known length: two overlapping reads of the widest size
/// it holds, which cover it whole, and for 17 to 32 bytes two more; beyond 32 bytes, its
/// first and last 16.
#[inline(always)]
fn words(value: &[u8]) -> [u64; 4] {
    let len = value.len();
    match len {
        17.. => [
            read_u64(value, 0),
            read_u64(value, 8),
            read_u64(value, len - 16),
            read_u64(value, len - 8),
        ],
        8..=16 => [read_u64(value, 0), read_u64(value, len - 8), 0, 0],
        4..=7 => [read_u32(value, 0), read_u32(value, len - 4), 0, 0],
        2..=3 => [read_u16(value, 0), read_u16(value, len - 2), 0, 0],
        1 => [u64::from(value[0]), 0, 0, 0],
        0 => [0; 4],
    }
}

#[inline(always)]
fn read_u16(bytes: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes(
        bytes[at..at + 2].try_into().unwrap_or_default(),
    ))
}

#[inline(always)]
fn read_u32(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        bytes[at..at + 4].try_into().unwrap_or_default(),
    ))
}

#[inline(always)]
fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

/// The text table's hash for a family and a hash of values.
fn text_key(family: u64, hash: u64) -> u64 {
    hash ^ family.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The address table's set and tag for a family and the addresses of its values: the
/// addresses folded together, each step rotated so that their order counts, then one
/// multiplicative hash, whose top bits depend on every input bit.
#[inline]
fn address_key(family: u64, values: &[&str]) -> (usize, u32) {
    let folded = values
        .iter()
        .fold(family, |h, value| h.rotate_left(13) ^ value.as_ptr() as u64);
    let hash = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((hash >> (64 - ADDRESS_SET_BITS)) as usize, hash as u32)
}

thread_locals! {
    static RESOLVED: RefCell<Resolved> = RefCell::new(Resolved {
        entries: Vec::new(),
        by_text: HashTable::new(),
        by_address: None,
    });
}
