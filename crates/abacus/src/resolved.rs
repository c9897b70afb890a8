//! What each thread resolved lately by label values, for recording calls that pass their
//! values every time (`Family::inc(&values)`): no lock, no clone and no allocation once the
//! thread has seen a tuple.
//!
//! Two ways lead to a remembered tuple, both ending in a comparison of the real values:
//!
//! - by the addresses of the value strings: label values are mostly long-lived strings (a
//!   route table, a method name, a tenant id held for a request's life), so the same
//!   addresses come back call after call. A small direct-mapped table keyed by the family
//!   and those addresses finds the entry without reading the text twice.
//! - by a hash of the text, when the strings are new (built for this call) or their slot in
//!   the address table was taken by another tuple. A hit refreshes the address slot.
//!
//! An address says nothing about the text at it (memory is freed and reused), so an
//! address hit is only a guess that the comparison confirms or rejects.
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

/// log2 of the slots of the address table: 1,024 slots, 4 KiB per recording thread.
const ADDRESS_BITS: u32 = 10;

/// The cells of the series for `values` in `family`, if this thread remembers them under
/// the addresses of these strings since the family's `expirations`th expiry.
#[inline]
pub(crate) fn find_by_address(family: u64, expirations: u64, values: &[&str]) -> Option<SlotRange> {
    RESOLVED
        .try_with(|resolved| {
            resolved
                .try_borrow()
                .ok()?
                .find_by_address(family, expirations, values)
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

/// Remembers a resolution of `values`. A stale entry for the same values is replaced,
/// which lets go of its pin.
pub(crate) fn remember(resolution: Resolution, values: &[&str]) {
    let _ = RESOLVED.try_with(|resolved| {
        if let Ok(mut resolved) = resolved.try_borrow_mut() {
            resolved.insert(resolution, values);
        }
    });
}

struct Resolved {
    entries: Vec<Remembered>,
    /// Indices into `entries`, by family and hash of the values.
    by_text: HashTable<u32>,
    /// Index + 1 into `entries` (0 for none), by family and addresses of the values;
    /// allocated with the first entry.
    by_address: Option<Box<[u32; 1 << ADDRESS_BITS]>>,
}

struct Remembered {
    found: Resolution,
    /// A copy of the values, so that a hit reads one buffer and not the family's series
    /// storage: each value as its length (`u32`, little-endian) and then its bytes.
    values: Box<[u8]>,
}

impl Resolved {
    #[inline]
    fn find_by_address(&self, family: u64, expirations: u64, values: &[&str]) -> Option<SlotRange> {
        let table = self.by_address.as_ref()?;
        let slot = address_slot(family, values);
        // Two ways per set: two tuples whose addresses land in one slot do not evict each
        // other on every call.
        match self.entry_hit(table[slot], family, expirations, values) {
            Some(range) => Some(range),
            None => self.entry_hit(table[slot ^ 1], family, expirations, values),
        }
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

    /// Points the address table at entry `index` for `values`: in the first way of its
    /// set unless another entry holds it, then in the second.
    fn note_address(&mut self, family: u64, values: &[&str], index: u32) {
        let table = self
            .by_address
            .get_or_insert_with(|| Box::new([0; 1 << ADDRESS_BITS]));
        let slot = address_slot(family, values);
        let way = if table[slot] == 0 || table[slot] == index + 1 {
            slot
        } else {
            slot ^ 1
        };
        table[way] = index + 1;
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
                table.fill(0);
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
        let mut encoded = Vec::with_capacity(values.iter().map(|v| 4 + v.len()).sum());
        for value in values {
            // The values of a series are at most `LabelValues::MAX_BYTES` (u32::MAX)
            // together, which the family checked before it created the series.
            encoded.extend_from_slice(&(value.len() as u32).to_le_bytes());
            encoded.extend_from_slice(value.as_bytes());
        }
        Remembered {
            found,
            values: encoded.into_boxed_slice(),
        }
    }

    #[inline]
    fn matches(&self, values: &[&str]) -> bool {
        let mut rest = &*self.values;
        for value in values {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len != value.len() || tail.len() < len {
                return false;
            }
            let (stored, tail) = tail.split_at(len);
            if !short_eq(stored, value.as_bytes()) {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }
}

/// The text table's hash for a family and a hash of values.
fn text_key(family: u64, hash: u64) -> u64 {
    hash ^ family.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The address table's slot for a family and the addresses of its values: the addresses
/// rotated apart and folded together, then one multiplicative hash, whose top bits depend
/// on every input bit.
#[inline]
fn address_slot(family: u64, values: &[&str]) -> usize {
    let folded = values.iter().enumerate().fold(family, |h, (i, value)| {
        h ^ (value.as_ptr() as u64).rotate_left(i as u32 * 13)
    });
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - ADDRESS_BITS)) as usize
}

/// `a == b`, inlined: label values are mostly a few bytes long, where a call to `memcmp`
/// costs more than the comparison. Two overlapping loads cover any length from 4 to 16.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
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

thread_locals! {
    static RESOLVED: RefCell<Resolved> = RefCell::new(Resolved {
        entries: Vec::new(),
        by_text: HashTable::new(),
        by_address: None,
    });
}
