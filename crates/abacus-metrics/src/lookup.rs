//! The per-call path of the macros: from a `metrics::Key` to its handle in one lookup.
//!
//! `metrics` computes a key's hash when the key is built (at compile time for static
//! keys), and its `counter!`-style macros call the recorder's `register_*` on every use.
//! So the recorder keys its handles by that hash, never hashing names or labels itself,
//! and compares the real key on a hit, so two keys with one hash never share a series.

use std::sync::Arc;

use hashbrown::HashTable;
use metrics::Key;
use parking_lot::RwLock;

/// How many independently locked tables the keys are spread over. Readers of one shard
/// only share a lock word; sharding keeps that word from being the one cache line every
/// recording thread writes.
const SHARDS: usize = 32;

/// Handles of type `H` by key; `None` stands for a refused key, which records nothing.
pub(crate) struct Lookup<H> {
    shards: Box<[Shard<H>]>,
}

/// Keys and their handles.
type Table<H> = HashTable<(Key, Option<Arc<H>>)>;

/// One shard on a cache line (two, for processors that fetch lines in pairs) of its own.
#[repr(align(128))]
struct Shard<H>(RwLock<Table<H>>);

impl<H> Lookup<H> {
    pub(crate) fn new() -> Self {
        Lookup {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::new())))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> &RwLock<Table<H>> {
        // hashbrown picks buckets with the low bits and tags with the top seven, so the
        // shard takes bits from the middle: the keys of one shard still spread over its
        // table.
        &self.shards[(hash >> 32) as usize & (SHARDS - 1)].0
    }

    /// The handle registered for `key`: `Some(None)` for a refused key, `None` when the
    /// key is new.
    #[inline]
    pub(crate) fn get(&self, key: &Key) -> Option<Option<Arc<H>>> {
        let hash = key.get_hash();
        let table = self.shard(hash).read();
        table
            .find(hash, |(known, _)| known == key)
            .map(|(_, handle)| handle.clone())
    }

    /// Forgets the handles that only this table holds, so that their series can expire;
    /// a key used again is registered again, and finds its series if it is still there.
    /// Refused keys are kept: they have no series.
    pub(crate) fn forget_unheld(&self) {
        for shard in self.shards.iter() {
            shard.0.write().retain(|(_, handle)| match handle {
                Some(handle) => Arc::strong_count(handle) > 1,
                None => true,
            });
        }
    }

    /// The handle for `key`, made by `make` unless another thread registered it first.
    /// `make` runs outside this table's lock, so it may be slow.
    pub(crate) fn get_or_insert(
        &self,
        key: &Key,
        make: impl FnOnce() -> Option<Arc<H>>,
    ) -> Option<Arc<H>> {
        let made = make();
        let hash = key.get_hash();
        let mut table = self.shard(hash).write();
        if let Some((_, handle)) = table.find(hash, |(known, _)| known == key) {
            return handle.clone();
        }
        table.insert_unique(hash, (key.clone(), made.clone()), |(known, _)| {
            known.get_hash()
        });
        made
    }
}
