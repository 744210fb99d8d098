//! The exactly-once index (key text -> transaction id), split into shards that grow one
//! at a time. One `HashMap` of millions of keys doubles all at once: allocate, fault in
//! and rehash a table twice the size, hundreds of milliseconds on the authorizer thread
//! with every terminal waiting. Split in `SHARDS`, a doubling moves a `SHARDS`th of it.

use model::TxnId;
use std::collections::HashMap;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// An odd multiplier (2^64 / golden ratio) to mix each 8-byte chunk of the key.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Each shard is a std `HashMap` (SipHash, keyed per process): keys come from the
/// network. The shard choice needs no such protection: keys crowded into one shard
/// only bring back one map's doubling, never worse lookups.
#[derive(Debug)]
pub struct KeyIndex {
    shards: Box<[HashMap<String, TxnId>]>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

fn shard_of(key: &str) -> usize {
    let mut h: u64 = 0;
    for chunk in key.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(MIX);
    }
    (h >> (64 - SHARD_BITS)) as usize
}

impl KeyIndex {
    pub fn get(&self, key: &str) -> Option<TxnId> {
        self.shards[shard_of(key)].get(key).copied()
    }

    pub fn insert(&mut self, key: String, id: TxnId) -> Option<TxnId> {
        self.shards[shard_of(&key)].insert(key, id)
    }

    /// Room for `keys` more in all, spread evenly.
    pub fn reserve(&mut self, keys: usize) {
        let each = keys.div_ceil(SHARDS);
        for shard in self.shards.iter_mut() {
            shard.reserve(each);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_nothing_else() {
        let mut index = KeyIndex::default();
        for i in 0..10_000u64 {
            let key = format!("T{:07}|{:06}|1122{:06}", i % 200, i % 999_999, i);
            assert_eq!(index.insert(key, TxnId(i + 1)), None);
        }
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.get("T0000007|000007|1122000007"), Some(TxnId(8)));
        assert_eq!(index.get("T0000007|000007|1122000008"), None);
        assert_eq!(
            index.insert("T0000007|000007|1122000007".into(), TxnId(99)),
            Some(TxnId(8))
        );
    }

    #[test]
    fn terminal_keys_spread_over_every_shard() {
        let mut per_shard = [0u32; SHARDS];
        for i in 0..64_000u64 {
            let key = format!(
                "T{:07}|{:06}|1122{:06}",
                i % 200,
                (i * 7) % 999_999,
                i % 86_400
            );
            per_shard[shard_of(&key)] += 1;
        }
        // 1,000 each on average; a bad spread would leave shards empty or doubled.
        assert!(
            per_shard.iter().all(|&n| (700..1300).contains(&n)),
            "{per_shard:?}"
        );
    }
}
