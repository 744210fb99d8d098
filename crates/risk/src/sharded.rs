//! A hash map split into shards that grow one at a time. A `HashMap` doubles all at
//! once: at a million entries that is a pause of tens of milliseconds (allocate, fault in
//! and fill a table twice the size) on the authorizer thread, in the middle of one
//! transaction, and it comes back at every doubling as the feature store fills its
//! 30-day windows. Split into `SHARDS` maps, each doubling moves a `SHARDS`th of that.

use crate::fasthash::IntMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// Shards per map: a pause is a 64th of the whole map's; an empty map costs 64 empty
/// tables (about 3 KiB).
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// Spreads keys over shards with other bits than the maps' own hash uses (a different
/// odd multiplier, top bits), so that keys sharing a shard still spread in its table.
const SPREAD: u64 = 0xD6E8_FEB8_6659_FD93;

/// Integer keys the feature store uses.
pub(crate) trait ShardKey: Copy + Eq + Hash {
    fn spread(self) -> u64;
}

impl ShardKey for u32 {
    fn spread(self) -> u64 {
        u64::from(self)
    }
}

impl ShardKey for u64 {
    fn spread(self) -> u64 {
        self
    }
}

fn shard_of<K: ShardKey>(k: K) -> usize {
    (k.spread().wrapping_mul(SPREAD) >> (64 - SHARD_BITS)) as usize
}

#[derive(Clone, Debug)]
pub(crate) struct ShardedMap<K, V> {
    shards: Box<[IntMap<K, V>]>,
}

/// Equal when they hold the same entries (a key's shard is fixed, so shard by shard).
impl<K: ShardKey, V: PartialEq> PartialEq for ShardedMap<K, V> {
    fn eq(&self, o: &Self) -> bool {
        self.shards.iter().zip(o.shards.iter()).all(|(a, b)| a == b)
    }
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| IntMap::default()).collect(),
        }
    }
}

impl<K: ShardKey, V> ShardedMap<K, V> {
    pub fn get(&self, k: &K) -> Option<&V> {
        self.shards[shard_of(*k)].get(k)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.shards[shard_of(*k)].get_mut(k)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.shards[shard_of(*k)].contains_key(k)
    }

    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.shards[shard_of(k)].insert(k, v)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.shards[shard_of(*k)].remove(k)
    }

    pub fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        self.shards[shard_of(k)].entry(k)
    }
}

impl<K, V> ShardedMap<K, V> {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(IntMap::len).sum()
    }

    /// Entries the shards have room for, together.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(IntMap::capacity).sum()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.shards.iter().flat_map(IntMap::keys)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(IntMap::values)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(IntMap::values_mut)
    }
}

impl<K: ShardKey, V> std::ops::Index<&K> for ShardedMap<K, V> {
    type Output = V;

    /// Panics if `k` is absent, as `HashMap`'s does: callers index with keys they took
    /// from the map itself.
    fn index(&self, k: &K) -> &V {
        &self.shards[shard_of(*k)][k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut m: ShardedMap<u64, u64> = ShardedMap::default();
        let mut reference = std::collections::HashMap::new();
        for i in 0..20_000u64 {
            let k = i.wrapping_mul(7919) % 50_000;
            assert_eq!(m.insert(k, i), reference.insert(k, i));
            if i % 3 == 0 {
                let gone = k / 2;
                assert_eq!(m.remove(&gone), reference.remove(&gone));
            }
            *m.entry(k + 1).or_insert(0) += 1;
            *reference.entry(k + 1).or_insert(0) += 1;
        }
        assert_eq!(m.len(), reference.len());
        for (k, v) in &reference {
            assert_eq!(m.get(k), Some(v));
            assert_eq!(m[k], *v);
            assert!(m.contains_key(k));
        }
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        let mut want: Vec<u64> = reference.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert!(m.capacity() >= m.len());
    }

    #[test]
    fn dense_ids_spread_over_every_shard() {
        let mut per_shard = [0u32; SHARDS];
        for id in 0..64_000u32 {
            per_shard[shard_of(id)] += 1;
        }
        // 1,000 each on average; a bad spread would leave shards empty or doubled.
        assert!(
            per_shard.iter().all(|&n| (800..1200).contains(&n)),
            "{per_shard:?}"
        );
    }
}
