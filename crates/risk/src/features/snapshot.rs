//! The store's state to and from bytes, so that it survives a restart without a replay.
//!
//! A small hand-written format (little-endian, sized integers, keys sorted so the same
//! state always gives the same bytes):
//!
//! ```text
//! magic "PGRISK" | u16 version
//! config: u8 n, n x i64 window | u8 n, n x i64 delayed window | i64 delay | i64 late | u32 cap
//! i64 high water
//! 4 x (cards, terminals, merchants, operators): u32 n, n x (u32 key, ring)
//! pairs: u32 n, n x (u64 key, ring)
//! ring: i64 dropped until | u32 n | n x (i64 time, u64 txn, i64 amount, i64 fraud known, u32 other, u8 flags)
//! txns: u32 n, n x (i64 time, u64 txn, u32 card, u32 terminal, u32 merchant, u8 has op, u32 op)
//! tracks (version 2): u32 n, n x (u32 terminal, u32 m, m x (i64 time, u64 txn, i32 lat_e6, i32 lon_e6))
//! ```
//!
//! Version 1 (before fallbacks and tracks) is still read: its entries carry no fallback
//! flag and it has no tracks, which is what such a store had seen.

use std::collections::VecDeque;

use thiserror::Error;

use super::config::{ConfigError, StoreConfig, WINDOWS_MAX};
use super::ring::{Entry, Ring, Spec};
use super::store::{FeatureStore, TxnLoc};
use super::track::{FIXES_PER_TERMINAL_MAX, Fix, Track};
use crate::geo::GeoPoint;
use crate::sharded::{ShardKey, ShardedMap};

const MAGIC: &[u8; 6] = b"PGRISK";
const FORMAT_VERSION: u16 = 2;
/// The version before terminal tracks.
const FORMAT_VERSION_NO_TRACKS: u16 = 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a risk feature snapshot")]
    Magic,
    #[error("snapshot format version {0} is not supported")]
    Version(u16),
    #[error("snapshot ends early at byte {0}")]
    Truncated(usize),
    #[error("snapshot is inconsistent at byte {0}")]
    Corrupt(usize),
    #[error("snapshot holds an invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

impl FeatureStore {
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(MAGIC);
        w.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        put_config(&mut w, &self.config);
        w.extend_from_slice(&self.high_water_ms.to_le_bytes());
        for m in [
            &self.cards,
            &self.terminals,
            &self.merchants,
            &self.operators,
        ] {
            put_map(&mut w, m, |w, k| w.extend_from_slice(&k.to_le_bytes()));
        }
        put_map(&mut w, &self.pairs, |w, k| {
            w.extend_from_slice(&k.to_le_bytes())
        });
        let kept: Vec<_> = self
            .txn_order
            .iter()
            .filter_map(|(_, id)| self.txns.get(id).map(|l| (*id, l)))
            .collect();
        put_len(&mut w, kept.len());
        for (id, l) in kept {
            w.extend_from_slice(&l.time_ms.to_le_bytes());
            w.extend_from_slice(&id.to_le_bytes());
            for k in [l.card, l.terminal, l.merchant] {
                w.extend_from_slice(&k.to_le_bytes());
            }
            w.push(u8::from(l.operator.is_some()));
            w.extend_from_slice(&l.operator.unwrap_or(0).to_le_bytes());
        }
        put_tracks(&mut w, &self.tracks);
        w
    }

    pub fn restore(bytes: &[u8]) -> Result<FeatureStore, SnapshotError> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(SnapshotError::Magic);
        }
        let version = r.u16()?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_NO_TRACKS {
            return Err(SnapshotError::Version(version));
        }
        let config = read_config(&mut r)?;
        let cap = config.events_per_entity_max as usize;
        let mut s = FeatureStore::new(config)?;
        s.high_water_ms = r.i64()?;
        // Only terminals keep delayed-label windows (see `FeatureStore::insert`).
        let spec = s.spec;
        let rings = |delayed| RingKind { cap, spec, delayed };
        s.cards = read_map(&mut r, rings(false), |r| r.u32())?;
        s.terminals = read_map(&mut r, rings(true), |r| r.u32())?;
        s.merchants = read_map(&mut r, rings(false), |r| r.u32())?;
        s.operators = read_map(&mut r, rings(false), |r| r.u32())?;
        s.pairs = read_map(&mut r, rings(false), |r| r.u64())?;
        let n = r.len(33)?;
        let mut order = VecDeque::with_capacity(n);
        for _ in 0..n {
            let (time_ms, id) = (r.i64()?, r.u64()?);
            let (card, terminal, merchant) = (r.u32()?, r.u32()?, r.u32()?);
            let has_op = r.u8()? != 0;
            let op = r.u32()?;
            let operator = has_op.then_some(op);
            let loc = TxnLoc {
                time_ms,
                card,
                terminal,
                merchant,
                operator,
            };
            if s.txns.insert(id, loc).is_some() {
                return Err(SnapshotError::Corrupt(r.at));
            }
            order.push_back((time_ms, id));
        }
        s.txn_order = order;
        if version == FORMAT_VERSION {
            s.tracks = read_tracks(&mut r)?;
        }
        if r.at != bytes.len() {
            return Err(SnapshotError::Corrupt(r.at));
        }
        Ok(s)
    }
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    // Every length is bounded far below u32::MAX (entities are u32 keys, rings are capped).
    w.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_config(w: &mut Vec<u8>, c: &StoreConfig) {
    for ws in [&c.windows_ms, &c.delayed_windows_ms] {
        w.push(u8::try_from(ws.len()).unwrap_or(u8::MAX));
        ws.iter()
            .for_each(|x| w.extend_from_slice(&x.to_le_bytes()));
    }
    w.extend_from_slice(&c.label_delay_ms.to_le_bytes());
    w.extend_from_slice(&c.late_bound_ms.to_le_bytes());
    w.extend_from_slice(&c.events_per_entity_max.to_le_bytes());
}

fn put_map<K: Ord + ShardKey>(
    w: &mut Vec<u8>,
    m: &ShardedMap<K, Ring>,
    key: impl Fn(&mut Vec<u8>, K),
) {
    let mut keys: Vec<K> = m.keys().copied().collect();
    keys.sort_unstable();
    put_len(w, keys.len());
    for k in keys {
        key(w, k);
        let ring = &m[&k];
        w.extend_from_slice(&ring.dropped_until_ms.to_le_bytes());
        put_len(w, ring.len());
        for e in ring.entries() {
            for x in [
                e.time_ms,
                e.txn_id as i64,
                e.amount_minor,
                e.fraud_known_at_ms,
            ] {
                w.extend_from_slice(&x.to_le_bytes());
            }
            w.extend_from_slice(&e.other.to_le_bytes());
            w.push(e.flags);
        }
    }
}

fn put_tracks(w: &mut Vec<u8>, tracks: &ShardedMap<u32, Track>) {
    let mut keys: Vec<u32> = tracks.keys().copied().collect();
    keys.sort_unstable();
    put_len(w, keys.len());
    for k in keys {
        w.extend_from_slice(&k.to_le_bytes());
        let fixes = &tracks[&k].fixes;
        put_len(w, fixes.len());
        for f in fixes {
            w.extend_from_slice(&f.time_ms.to_le_bytes());
            w.extend_from_slice(&f.txn_id.to_le_bytes());
            w.extend_from_slice(&f.at.lat_e6.to_le_bytes());
            w.extend_from_slice(&f.at.lon_e6.to_le_bytes());
        }
    }
}

/// Bytes of one serialised fix.
const FIX_WIRE_BYTES: usize = 24;

fn read_tracks(r: &mut Reader<'_>) -> Result<ShardedMap<u32, Track>, SnapshotError> {
    let n = r.len(8)?;
    let mut m = ShardedMap::default();
    for _ in 0..n {
        let k = r.u32()?;
        let len = r.len(FIX_WIRE_BYTES)?;
        if len > FIXES_PER_TERMINAL_MAX {
            return Err(SnapshotError::Corrupt(r.at));
        }
        let mut t = Track::default();
        for _ in 0..len {
            let (time_ms, txn_id) = (r.i64()?, r.u64()?);
            let at = GeoPoint {
                lat_e6: r.i32()?,
                lon_e6: r.i32()?,
            };
            t.fixes.push_back(Fix {
                time_ms,
                txn_id,
                at,
            });
        }
        if !t.is_sorted() || m.insert(k, t).is_some() {
            return Err(SnapshotError::Corrupt(r.at));
        }
    }
    Ok(m)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(SnapshotError::Truncated(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        self.array().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        self.array().map(i32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        self.array().map(i64::from_le_bytes)
    }

    /// A count of items of at least `item_bytes` each: rejected if the rest cannot hold
    /// them, so a corrupt count never makes us allocate.
    fn len(&mut self, item_bytes: usize) -> Result<usize, SnapshotError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item_bytes) > self.b.len() - self.at {
            return Err(SnapshotError::Truncated(self.at));
        }
        Ok(n)
    }
}

fn read_config(r: &mut Reader<'_>) -> Result<StoreConfig, SnapshotError> {
    let mut windows = [Vec::new(), Vec::new()];
    for ws in &mut windows {
        let n = usize::from(r.u8()?);
        if n > WINDOWS_MAX {
            return Err(SnapshotError::Config(ConfigError::WindowCount));
        }
        for _ in 0..n {
            ws.push(r.i64()?);
        }
    }
    let [windows_ms, delayed_windows_ms] = windows;
    let c = StoreConfig {
        windows_ms,
        delayed_windows_ms,
        label_delay_ms: r.i64()?,
        late_bound_ms: r.i64()?,
        events_per_entity_max: r.u32()?,
    };
    c.validate()?;
    Ok(c)
}

/// Bytes of one serialised entry.
const ENTRY_WIRE_BYTES: usize = 37;

/// How to rebuild the rings of one map: their bound, windows, and whether they keep
/// the delayed-label windows. The snapshot holds entries only; the running aggregates
/// are rebuilt from them.
#[derive(Clone, Copy)]
struct RingKind {
    cap: usize,
    spec: Spec,
    delayed: bool,
}

fn read_map<K: ShardKey>(
    r: &mut Reader<'_>,
    kind: RingKind,
    key: impl Fn(&mut Reader<'_>) -> Result<K, SnapshotError>,
) -> Result<ShardedMap<K, Ring>, SnapshotError> {
    let n = r.len(12)?;
    let mut m = ShardedMap::default();
    let mut entries: Vec<Entry> = Vec::new();
    for _ in 0..n {
        let k = key(r)?;
        let dropped_until_ms = r.i64()?;
        let len = r.len(ENTRY_WIRE_BYTES)?;
        if len > kind.cap {
            return Err(SnapshotError::Corrupt(r.at));
        }
        entries.clear();
        for _ in 0..len {
            let e = Entry {
                time_ms: r.i64()?,
                txn_id: r.u64()?,
                amount_minor: r.i64()?,
                fraud_known_at_ms: r.i64()?,
                other: r.u32()?,
                flags: r.u8()?,
            };
            if entries.last().is_some_and(|b| b.time_ms > e.time_ms) {
                return Err(SnapshotError::Corrupt(r.at));
            }
            entries.push(e);
        }
        let ring = Ring::restored(
            entries.iter().copied(),
            dropped_until_ms,
            &kind.spec,
            kind.delayed,
        );
        if m.insert(k, ring).is_some() {
            return Err(SnapshotError::Corrupt(r.at));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CardKey, MerchantKey, RiskEvent, TerminalKey};
    use crate::facts::TxnFacts;

    #[test]
    fn version_1_snapshots_still_restore() {
        let mut store = FeatureStore::new(StoreConfig::default()).unwrap();
        for i in 0..10u32 {
            let facts = TxnFacts::purchase(1_000_000 + i64::from(i) * 60_000, 1_000);
            let e = RiskEvent::from_facts(
                u64::from(i),
                CardKey(i % 3),
                TerminalKey(i % 2),
                MerchantKey(0),
                &facts,
            );
            store.observe(&e);
        }
        // A store without positions: version 2 is version 1 plus an empty track list.
        let mut v1 = store.snapshot();
        v1.truncate(v1.len() - 4);
        v1[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&FORMAT_VERSION_NO_TRACKS.to_le_bytes());
        let restored = FeatureStore::restore(&v1).unwrap();
        assert!(restored == store);
        let mut v3 = store.snapshot();
        v3[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            FeatureStore::restore(&v3).unwrap_err(),
            SnapshotError::Version(3)
        );
    }
}
