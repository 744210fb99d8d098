//! Host-side per-transaction costs. Targets: DUKPT derivation + PIN block decryption
//! < 5 us (TDES and AES-128); retail MAC verification over 208 bytes < 2 us.
//!
//! `des_floor` measures what every TDES figure is made of: `des` 0.8's key schedule
//! and block function (a DUKPT step is two of each, a TDES PIN decryption two
//! schedules and three blocks, the retail MAC over 208 bytes two schedules and 28
//! chained blocks).
//!
//! Run: cargo bench -p paycrypto

use des::cipher::{BlockEncrypt, KeyInit};
use divan::black_box;
use paycrypto::dukpt_aes::{self, AesKsn, InitialKeyId, KeyType, WorkingKeyUsage};
use paycrypto::dukpt_tdes::{self, Ksn};
use paycrypto::mac::{self, Padding};
use paycrypto::{AesKey, Bound, KeyUsage, Pan, Pin, TdesKey, pinblock};
use rand::SeedableRng;

/// A typical ISO 8583 request size in posguard's load model.
const MESSAGE_BYTES: usize = 208;

fn main() {
    divan::main();
}

/// Counters with 1, 5 and 10 one bits: the cost grows with the popcount.
const TDES_COUNTERS: [u32; 3] = [0x00_0001, 0x0F_8000, 0x1F_F800];

#[divan::bench(args = TDES_COUNTERS)]
fn tdes_dukpt_derive_and_decrypt_pin(bencher: divan::Bencher, counter: u32) {
    let bdk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn = Ksn::from_hex("FFFF9876543210E00000")
        .unwrap()
        .with_counter(counter)
        .unwrap();
    let ipek = dukpt_tdes::derive_ipek(&bdk, &ksn).unwrap();
    let pan = Pan::new("4012345678909").unwrap();
    let txn = dukpt_tdes::derive_transaction_key(&ipek, &ksn).unwrap();
    let pk = txn.pin_key();
    let pin = Pin::new("1234").unwrap();
    let block = pinblock::encrypt_format0(pk.require(KeyUsage::PinEncryption).unwrap(), &pin, &pan)
        .unwrap();
    bencher.bench_local(|| {
        let txn = dukpt_tdes::derive_transaction_key(black_box(&ipek), black_box(&ksn)).unwrap();
        let pk = txn.pin_key();
        let key = pk.require(KeyUsage::PinEncryption).unwrap();
        pinblock::decrypt_format0(key, black_box(&block), &pan).unwrap()
    });
}

/// Consecutive transactions of one device through the host's per-terminal cache: the
/// average per transaction over a run of the device's counters (one key generation
/// each, plus the PIN key variant, the PIN block decryption and format 0 decoding).
#[divan::bench]
fn tdes_dukpt_cached_consecutive(bencher: divan::Bencher) {
    let bdk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn = Ksn::from_hex("FFFF9876543210E00000").unwrap();
    let ipek = dukpt_tdes::derive_ipek(&bdk, &ksn).unwrap();
    let pan = Pan::new("4012345678909").unwrap();
    let pin = Pin::new("1234").unwrap();
    let mut terminal = dukpt_tdes::TdesDukptTerminal::load(ipek.clone(), &ksn).unwrap();
    let run: Vec<(Ksn, [u8; 8])> = (0..RUN_LENGTH)
        .map(|_| {
            let (ksn, txn) = terminal.next_transaction().unwrap();
            let pk = txn.pin_key();
            let key = pk.require(KeyUsage::PinEncryption).unwrap();
            (ksn, pinblock::encrypt_format0(key, &pin, &pan).unwrap())
        })
        .collect();
    let mut cache = dukpt_tdes::TransactionKeyCache::new(&ipek, &ksn);
    let mut next = 0;
    bencher.bench_local(|| {
        // Wrapping back to the run's start costs one full derivation per RUN_LENGTH.
        let (ksn, block) = &run[next];
        next = (next + 1) % run.len();
        let txn = cache.derive(black_box(ksn)).unwrap();
        let pk = txn.pin_key();
        let key = pk.require(KeyUsage::PinEncryption).unwrap();
        pinblock::decrypt_format0(key, black_box(block), &pan).unwrap()
    });
}

/// Transactions in a cached run (the terminal's first 4096 counters).
const RUN_LENGTH: usize = 4096;

/// Counters with 1, 8 and 16 one bits.
const AES_COUNTERS: [u32; 3] = [0x0000_0001, 0x00FF_0000, 0xFFFF_0000];

#[divan::bench(args = AES_COUNTERS)]
fn aes128_dukpt_derive_and_decipher_pin(bencher: divan::Bencher, counter: u32) {
    let bdk = AesKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let id = InitialKeyId::from_hex("1234567890123456").unwrap();
    let ik = dukpt_aes::derive_initial_key(&bdk, &id);
    let ksn = AesKsn { id, counter };
    let pan = Pan::new("4111111111111111").unwrap();
    let txn = dukpt_aes::derive_transaction_key(&ik, &ksn).unwrap();
    let pk = txn
        .aes_working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes128)
        .unwrap();
    let mut zero = rand::rngs::StdRng::seed_from_u64(0);
    let pin = Pin::new("1234").unwrap();
    let block = pinblock::encipher_format4(
        pk.require(KeyUsage::PinEncryption).unwrap(),
        &pin,
        &pan,
        &mut zero,
    );
    bencher.bench_local(|| {
        let txn = dukpt_aes::derive_transaction_key(black_box(&ik), black_box(&ksn)).unwrap();
        let pk = txn
            .aes_working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes128)
            .unwrap();
        let key = pk.require(KeyUsage::PinEncryption).unwrap();
        pinblock::decipher_format4(key, black_box(&block), &pan).unwrap()
    });
}

/// As `tdes_dukpt_cached_consecutive`, for AES-128 DUKPT: one derivation step, the PIN
/// working key and format 4 deciphering per transaction.
#[divan::bench]
fn aes128_dukpt_cached_consecutive(bencher: divan::Bencher) {
    let bdk = AesKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let id = InitialKeyId::from_hex("1234567890123456").unwrap();
    let ik = dukpt_aes::derive_initial_key(&bdk, &id);
    let pan = Pan::new("4111111111111111").unwrap();
    let pin = Pin::new("1234").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut terminal = dukpt_aes::AesDukptTerminal::load(ik.clone(), id);
    let run: Vec<(AesKsn, [u8; 16])> = (0..RUN_LENGTH)
        .map(|_| {
            let txn = terminal.next_transaction().unwrap();
            let pk = txn
                .aes_working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes128)
                .unwrap();
            let key = pk.require(KeyUsage::PinEncryption).unwrap();
            (
                *txn.ksn(),
                pinblock::encipher_format4(key, &pin, &pan, &mut rng),
            )
        })
        .collect();
    let mut cache = dukpt_aes::AesTransactionKeyCache::new(&ik, id);
    let mut next = 0;
    bencher.bench_local(|| {
        let (ksn, block) = &run[next];
        next = (next + 1) % run.len();
        let txn = cache.derive(black_box(ksn)).unwrap();
        let pk = txn
            .aes_working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes128)
            .unwrap();
        let key = pk.require(KeyUsage::PinEncryption).unwrap();
        pinblock::decipher_format4(key, black_box(block), &pan).unwrap()
    });
}

#[divan::bench]
fn retail_mac_verify_208_bytes(bencher: divan::Bencher) {
    let key = Bound::new(TdesKey::from_bytes(&[0x5A; 16]).unwrap(), KeyUsage::Mac);
    let data = [0x42u8; MESSAGE_BYTES];
    let m = mac::retail_mac(
        key.require(KeyUsage::MacGenerate).unwrap(),
        &data,
        Padding::Method1,
    );
    bencher.bench_local(|| {
        mac::verify_retail_mac(black_box(&key), black_box(&data), Padding::Method1, &m).unwrap()
    });
}

#[divan::bench]
fn aes_cmac_verify_208_bytes(bencher: divan::Bencher) {
    let key = Bound::new(AesKey::from_bytes(&[0x5A; 16]).unwrap(), KeyUsage::Mac);
    let data = [0x42u8; MESSAGE_BYTES];
    let m = mac::aes_cmac(key.require(KeyUsage::MacGenerate).unwrap(), &data);
    bencher.bench_local(|| mac::verify_aes_cmac(black_box(&key), black_box(&data), &m).unwrap());
}

/// The cost floor of every TDES figure: `des` 0.8's key schedule and one block.
#[divan::bench_group]
mod des_floor {
    use super::*;

    #[divan::bench]
    fn key_schedule(bencher: divan::Bencher) {
        let key = [0x5Au8; 8];
        bencher.bench_local(|| des::Des::new(black_box(&key.into())));
    }

    /// One block, chained into the next iteration (as in CBC and DUKPT: latency).
    #[divan::bench]
    fn encrypt_block(bencher: divan::Bencher) {
        let cipher = des::Des::new(&[0x5Au8; 8].into());
        let mut block = [0x42u8; 8].into();
        bencher.bench_local(|| {
            cipher.encrypt_block(black_box(&mut block));
        });
    }
}
