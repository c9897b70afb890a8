//! What each thread resolved lately by label values, for recording calls that pass their
//! values every time (`Family::inc(&values)`): no lock, no clone and no allocation once the
//! thread has seen a tuple.
//!
//! Two ways lead to a remembered tuple, both ending in a comparison of the real values:
//!
//! - by the addresses of the value strings: label values are mostly long-lived strings (a
//!   route table, a method name, a tenant id held for a request's life), so the same
//!   addresses come back call after call. A small set-associative table keyed by the
//!   family and those addresses holds a copy of what a hit reads.
//! - by a hash of the text, when the strings are new (built for this call) or their place
//!   in the address table was taken by other tuples. A hit refreshes the address table.
//!
//! An address says nothing about the text at it (memory is freed and reused), so an
//! address hit is only a guess that the comparison confirms or rejects. The comparison is
//! most of a hit's cost, so the entry keeps each value as the few words that a hit reads
//! from the caller's string (two overlapping reads as wide as its length allows, four
//! above 16 bytes) rather than as text: a value costs one compare of lengths and two or
//! four of words, where a byte-wise comparison cost a call or a branch per length.
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

/// log2 of the sets of the address table: 64 sets of 8 ways of 200 bytes, 100 KiB per
/// thread that records by label values.
const ADDRESS_SET_BITS: u32 = 6;

/// Ways per set of the address table: tuples whose addresses land in one set do not evict
/// each other until a ninth comes. With 4 ways of 128 sets, 100 tuples filled a set in
/// one benchmark run of three, and each call of its tuples then missed.
const WAYS: usize = 8;

/// Values whose keys a way of the address table holds: the label count of most families.
const WAY_KEYS: usize = 4;

/// A way of the address table: a copy of what a hit on an entry reads. A hit reads the
/// way alone: reading the entry after it was a second dependent load on every call
/// (`Family::inc` measured 14.0 ns with it, 13.2 ns without).
///
/// A copy stays right while its entry lives: an entry is only ever replaced by a newer
/// resolution of the same values, after an expiry in its family, which leaves the copy's
/// count of expirations behind; when the entries start over, so does the table.
#[derive(Clone, Copy)]
struct AddressWay {
    /// Part of the hash of the addresses: turns away the other tuples of the set first.
    tag: u32,
    /// Index + 1 of the entry in `entries` (0 for none).
    index: u32,
    family: u64,
    expirations: u64,
    range: SlotRange,
    count: u32,
    /// Whether `keys` are the whole tuple: at most [`WAY_KEYS`] values, none
    /// longer than 32 bytes. Otherwise a hit compares the entry too.
    whole: bool,
    keys: [ValueKey; WAY_KEYS],
}

impl AddressWay {
    const EMPTY: AddressWay = AddressWay {
        tag: 0,
        index: 0,
        family: 0,
        expirations: 0,
        range: SlotRange { page: 0, offset: 0 },
        count: 0,
        whole: true,
        keys: [ValueKey::EMPTY; WAY_KEYS],
    };

    /// Whether this way remembers `values` in `family` since its `expirations`th expiry,
    /// as far as its own keys tell; see `whole`.
    #[inline(always)]
    fn hits(&self, family: u64, expirations: u64, values: &[&str]) -> bool {
        if self.family != family
            || self.expirations != expirations
            || self.count as usize != values.len()
        {
            return false;
        }
        // The differences of all values, folded: one branch at the end instead of one
        // per value.
        let mut differ = 0;
        for (key, value) in self.keys.iter().zip(values) {
            if key.len != value.len() as u64 {
                return false;
            }
            differ |= differs(&key.words, value.as_bytes());
        }
        differ == 0
    }
}

/// The cells of the series for `values` in `family`, if this thread remembers them under
/// the addresses of these strings since the family's `expirations`th expiry.
#[inline]
pub(crate) fn find_by_address(family: u64, expirations: u64, values: &[&str]) -> Option<SlotRange> {
    RESOLVED
        .try_with(|resolved| {
            let resolved = resolved.try_borrow().ok()?;
            // Up to four values, the count is a constant in the code that runs: the address
            // fold and the comparisons unroll, with no loop left (0.3 ns of 13.3).
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
    /// Copies of entries by family and addresses of the values: `1 << ADDRESS_SET_BITS`
    /// sets, allocated with the first entry.
    by_address: Option<Box<[[AddressWay; WAYS]]>>,
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
        for way in &table[set] {
            if way.tag == tag
                && way.hits(family, expirations, values)
                && (way.whole
                    || self
                        .entries
                        .get((way.index as usize).wrapping_sub(1))
                        .is_some_and(|entry| entry.matches(values)))
            {
                return Some(way.range);
            }
        }
        None
    }

    /// Copies entry `index` into the first way of the set for `values`; the other ways
    /// move down, and the last one falls out, unless one of them was this entry's.
    fn note_address(&mut self, values: &[&str], index: u32) {
        let table = self
            .by_address
            // Built on the heap: on the stack first, 100 KiB overflowed loom's threads.
            .get_or_insert_with(|| vec![[AddressWay::EMPTY; WAYS]; 1 << ADDRESS_SET_BITS].into());
        let entry = &self.entries[index as usize];
        let (set, tag) = address_key(entry.found.family, values);
        let mut noted = AddressWay {
            tag,
            index: index + 1,
            family: entry.found.family,
            expirations: entry.found.expirations,
            range: entry.found.range,
            count: entry.keys.len() as u32,
            whole: entry.keys.len() <= WAY_KEYS && entry.long.is_empty(),
            ..AddressWay::EMPTY
        };
        for (copy, key) in noted.keys.iter_mut().zip(&entry.keys) {
            *copy = *key;
        }
        let ways = &mut table[set];
        let end = ways
            .iter()
            .position(|way| way.tag == tag && way.index == noted.index)
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
        self.note_address(values, index);
        Some(range)
    }

    fn insert(&mut self, resolution: Resolution, values: &[&str]) {
        let (family, hash) = (resolution.family, resolution.hash);
        if let Some(stale) = self.position(family, hash, values) {
            // Dropping the old pin lets an expired series' cells be reclaimed.
            self.entries[stale as usize].found = resolution;
            self.note_address(values, stale);
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
        self.note_address(values, index);
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
            differ |= differs(&key.words, value);
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
#[derive(Clone, Copy)]
struct ValueKey {
    len: u64,
    words: [u64; 4],
}

impl ValueKey {
    const EMPTY: ValueKey = ValueKey {
        len: 0,
        words: [0; 4],
    };

    fn of(value: &[u8]) -> Self {
        ValueKey {
            len: value.len() as u64,
            words: words(value),
        }
    }
}

/// Nonzero when `value`, of the length that `words` were read from, is not the value they
/// were read from: the reads of [`words`], each compared as soon as it is made.
#[inline(always)]
fn differs(words: &[u64; 4], value: &[u8]) -> u64 {
    let w = words;
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
/// addresses folded together, rotated so that their order counts, then one multiplicative
/// hash, whose top bits depend on every input bit.
#[inline]
fn address_key(family: u64, values: &[&str]) -> (usize, u32) {
    let address = |value: &&str| value.as_ptr() as u64;
    // Two addresses a step, and the family last: the chain of dependent operations is
    // half as long, and does not wait for the family's id.
    let mut pairs = values.chunks_exact(2);
    let mut folded = (&mut pairs).fold(0, |h: u64, pair| {
        h.rotate_left(26) ^ (address(&pair[0]).rotate_left(13) ^ address(&pair[1]))
    });
    if let [last] = pairs.remainder() {
        folded = folded.rotate_left(26) ^ address(last);
    }
    let hash = (folded ^ family).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((hash >> (64 - ADDRESS_SET_BITS)) as usize, hash as u32)
}

thread_locals! {
    static RESOLVED: RefCell<Resolved> = RefCell::new(Resolved {
        entries: Vec::new(),
        by_text: HashTable::new(),
        by_address: None,
    });
}
