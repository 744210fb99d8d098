//! Host-side per-transaction costs. Targets: DUKPT derivation + PIN block decryption
//! < 5 us (TDES and AES-128); retail MAC verification over 208 bytes < 2 us.
//!
//! Run: cargo bench -p paycrypto

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
