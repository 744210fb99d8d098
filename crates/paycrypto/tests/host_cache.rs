//! The host-side optimisations give exactly the answers of the straightforward code:
//! the per-terminal DUKPT key caches against uncached derivation (and the terminals'
//! own keys), and the retail MAC against a block-by-block reference.

use paycrypto::dukpt_aes::{self, AesDukptTerminal, AesKsn, AesTransactionKeyCache, InitialKeyId};
use paycrypto::dukpt_tdes::{self, Ksn, TdesDukptTerminal, TransactionKeyCache};
use paycrypto::keys::DesBlockCipher;
use paycrypto::mac::{self, Padding};
use paycrypto::{AesKey, Error, SingleDesKey, TdesKey};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Fixed seed so every run is the same.
const SEED: u64 = 0x5EED_CAC4E;

fn tdes_setup() -> (dukpt_tdes::Ipek, Ksn) {
    let bdk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn = Ksn::from_hex("FFFF9876543210E00000").unwrap();
    (dukpt_tdes::derive_ipek(&bdk, &ksn).unwrap(), ksn)
}

/// Derives `counter` through the cache and checks it against uncached derivation;
/// returns the steps the cache ran.
fn tdes_check(cache: &mut TransactionKeyCache, ipek: &dukpt_tdes::Ipek, ksn: &Ksn) -> u32 {
    let cached = cache.derive(ksn).unwrap();
    let direct = dukpt_tdes::derive_transaction_key(ipek, ksn).unwrap();
    assert_eq!(cached, direct, "{ksn:?}");
    assert_eq!(cache.last_counter(), ksn.counter());
    cache.last_steps()
}

fn tdes_usable(counter: u32) -> bool {
    counter != 0 && counter <= dukpt_tdes::COUNTER_MASK && counter.count_ones() <= 10
}

/// The next counter a TDES device uses after `counter` (skipping > 10 one bits).
fn tdes_next(counter: u32) -> Option<u32> {
    let mut c = counter + 1;
    while c.count_ones() > 10 {
        c += c & c.wrapping_neg();
    }
    (c <= dukpt_tdes::COUNTER_MASK).then_some(c)
}

#[test]
fn tdes_cache_matches_uncached_derivation_over_runs_skips_and_jumps() {
    let (ipek, ksn) = tdes_setup();
    let mut cache = TransactionKeyCache::new(&ipek, &ksn);
    // Runs of consecutive counters: from the start, through dense regions where the
    // device skips counters with more than ten one bits, and up to the last counter.
    for start in [1, 0x0F_F000, 0x0F_F800, 0x1E_F000, 0x1F_F000] {
        let mut counter = Some(start);
        for _ in 0..1500 {
            let Some(c) = counter else { break };
            assert!(tdes_usable(c));
            let steps = tdes_check(&mut cache, &ipek, &ksn.with_counter(c).unwrap());
            if c != start {
                // The next counter of a device costs one step, skips included.
                assert_eq!(steps, 1, "counter {c:#x}");
            }
            counter = tdes_next(c);
        }
    }
    assert_eq!(cache.last_counter(), 0x1F_F800);
    // Random jumps in both directions, with repeats (no steps at all).
    let mut rng = StdRng::seed_from_u64(SEED);
    for _ in 0..1500 {
        let c = loop {
            let c = rng.random_range(1..=dukpt_tdes::COUNTER_MASK);
            if tdes_usable(c) {
                break c;
            }
        };
        let k = ksn.with_counter(c).unwrap();
        tdes_check(&mut cache, &ipek, &k);
        if rng.random_bool(0.2) {
            assert_eq!(tdes_check(&mut cache, &ipek, &k), 0);
        }
    }
}

#[test]
fn tdes_cache_agrees_with_the_terminal_and_rejects_bad_ksns() {
    let (ipek, ksn) = tdes_setup();
    let mut terminal = TdesDukptTerminal::load(ipek.clone(), &ksn).unwrap();
    let mut cache = TransactionKeyCache::new(&ipek, &ksn);
    for _ in 0..3000 {
        let (tksn, key) = terminal.next_transaction().unwrap();
        assert_eq!(cache.derive(&tksn).unwrap(), key, "{tksn:?}");
        assert_eq!(cache.last_steps(), 1);
    }
    let last = cache.last_counter();
    // Unusable counters and other devices' KSNs are refused and change nothing.
    for bad in [0, 0x7FF, 0x1F_FFFF] {
        assert_eq!(
            cache.derive(&ksn.with_counter(bad).unwrap()).unwrap_err(),
            Error::InvalidCounter {
                counter: bad.into()
            }
        );
    }
    let other = Ksn::from_hex("FFFF9876543211E00005").unwrap();
    assert_eq!(cache.derive(&other).unwrap_err(), Error::KsnDevice);
    assert_eq!(cache.last_counter(), last);
    let (next_ksn, next_key) = terminal.next_transaction().unwrap();
    assert_eq!(cache.derive(&next_ksn).unwrap(), next_key);
    assert_eq!(cache.last_steps(), 1);
    // Debug shows the device and counter, never a key.
    let debug = format!("{cache:?}");
    assert!(debug.contains("FFFF9876543210E00000"), "{debug}");
    assert!(!debug.contains(&hex::encode_upper(ipek.key().expose_bytes())));
    assert!(!debug.contains(&hex::encode_upper(next_key.key().expose_bytes())));
}

fn aes_setup() -> (dukpt_aes::AesDukptInitialKey, InitialKeyId) {
    let bdk = AesKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let id = InitialKeyId::from_hex("1234567890123456").unwrap();
    (dukpt_aes::derive_initial_key(&bdk, &id), id)
}

fn aes_usable(counter: u32) -> bool {
    counter != 0 && counter.count_ones() <= 16
}

#[test]
fn aes_cache_matches_uncached_derivation_over_runs_skips_and_jumps() {
    let bdk256 = AesKey::from_bytes(&[0x3C; 32]).unwrap();
    let (ik128, id) = aes_setup();
    let ik256 = dukpt_aes::derive_initial_key(&bdk256, &id);
    for ik in [ik128, ik256] {
        let mut cache = AesTransactionKeyCache::new(&ik, id);
        let mut check = |counter: u32| {
            let ksn = AesKsn { id, counter };
            let cached = cache.derive(&ksn).unwrap();
            let direct = dukpt_aes::derive_transaction_key(&ik, &ksn).unwrap();
            assert_eq!(cached, direct, "{ksn:?}");
            cache.last_steps()
        };
        // Consecutive counters, through regions of sixteen one bits, to the last one.
        for start in [1u32, 0x00FF_FF00, 0x7FFF_8000, 0xFFFE_0000] {
            let mut c = start;
            for _ in 0..600 {
                let steps = check(c);
                assert!(c == start || steps == 1, "counter {c:#x}");
                let Some(mut next) = c.checked_add(1) else {
                    break;
                };
                while next.count_ones() > 16 {
                    let Some(n) = next.checked_add(next & next.wrapping_neg()) else {
                        break;
                    };
                    next = n;
                }
                if next.count_ones() > 16 || next <= c {
                    break;
                }
                c = next;
            }
        }
        let mut rng = StdRng::seed_from_u64(SEED);
        for _ in 0..1000 {
            let c = loop {
                let c = rng.next_u32();
                if aes_usable(c) {
                    break c;
                }
            };
            check(c);
            if rng.random_bool(0.2) {
                assert_eq!(check(c), 0);
            }
        }
    }
}

#[test]
fn aes_cache_agrees_with_the_terminal_and_rejects_bad_ksns() {
    let (ik, id) = aes_setup();
    let mut terminal = AesDukptTerminal::load(ik.clone(), id);
    let mut cache = AesTransactionKeyCache::new(&ik, id);
    for _ in 0..2000 {
        let txn = terminal.next_transaction().unwrap();
        assert_eq!(cache.derive(txn.ksn()).unwrap(), txn);
        assert_eq!(cache.last_steps(), 1);
    }
    let last = cache.last_counter();
    assert_eq!(
        cache.derive(&AesKsn { id, counter: 0 }).unwrap_err(),
        Error::InvalidCounter { counter: 0 }
    );
    let other = InitialKeyId::from_hex("1234567890123457").unwrap();
    assert_eq!(
        cache
            .derive(&AesKsn {
                id: other,
                counter: 1
            })
            .unwrap_err(),
        Error::KsnDevice
    );
    assert_eq!(cache.last_counter(), last);
    let debug = format!("{cache:?}");
    assert!(!debug.contains(&hex::encode_upper(ik.key().expose_bytes())));
}

/// ISO 9797-1 algorithm 3 the long way: pad, single-DES CBC block by block under K1
/// (a key object per block), then D(K2) and E(K1).
fn retail_mac_reference(key: &[u8; 16], data: &[u8], padding: Padding) -> [u8; 8] {
    let mut padded = data.to_vec();
    match padding {
        Padding::Method1 => {
            if padded.is_empty() || !padded.len().is_multiple_of(8) {
                padded.resize(padded.len().next_multiple_of(8).max(8), 0);
            }
        }
        Padding::Method2 => {
            padded.push(0x80);
            padded.resize(padded.len().next_multiple_of(8), 0);
        }
    }
    let k1 = SingleDesKey::from_bytes(&key[..8]).unwrap();
    let k2 = SingleDesKey::from_bytes(&key[8..]).unwrap();
    let mut h = [0u8; 8];
    for block in padded.chunks(8) {
        for (x, y) in h.iter_mut().zip(block) {
            *x ^= y;
        }
        h = k1.encrypt_block(&h);
    }
    k1.encrypt_block(&k2.decrypt_block(&h))
}

#[test]
fn retail_mac_matches_the_block_by_block_reference() {
    let mut rng = StdRng::seed_from_u64(SEED);
    for len in 0..300 {
        for padding in [Padding::Method1, Padding::Method2] {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            let tdes = TdesKey::from_bytes(&key).unwrap();
            let expected = retail_mac_reference(&key, &data, padding);
            assert_eq!(
                mac::retail_mac(&tdes, &data, padding),
                expected,
                "len {len} {padding:?}"
            );
            // A triple-length key MACs with its first two halves.
            let mut long = key.to_vec();
            long.extend_from_slice(&[0xA5; 8]);
            let tdes3 = TdesKey::from_bytes(&long).unwrap();
            assert_eq!(mac::retail_mac(&tdes3, &data, padding), expected);
        }
    }
}
