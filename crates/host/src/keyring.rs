//! The host's keys (issue 3): the KEK and the keystore opened at start, the keys the
//! host makes for itself (PAN token, PIN verification), the key source of the security
//! gate, and KEK rotation while serving.
//!
//! Where the KEK comes from, in order: `kek_file` (config, `POSGUARD_KEK_FILE`,
//! `--kek-file`), the environment variable `POSGUARD_KEK`, and, for a demo only, a file
//! `kek.key` that the demo creates in the data directory. A production start without
//! one is refused.

use crate::security::KeySource;
use crate::security::pin::PinKeys;
use keystore::{Algorithm, KEK_ENV_VAR, Kek, KekSource, Keystore, KeystoreError, Usage, Writes};
use paycrypto::{AesKey, Bound, HmacKey, TdesKey};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Keystore ids of the keys the host makes for itself.
pub const PAN_TOKEN_KEY_ID: &str = "host-pan-token";
pub const PVV_KEY_ID: &str = "host-pin-verify-pvv";
pub const IBM3624_KEY_ID: &str = "host-pin-verify-ibm3624";
/// The demo's KEK file, in the data directory.
pub const DEMO_KEK_FILE: &str = "kek.key";
/// The PAN token key file of posguard before the keystore (under `data_dir`): adopted,
/// then removed.
const LEGACY_TOKEN_KEY_FILE: &str = "keys/pan-token.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error("read the store's keys: {0}")]
    Store(#[from] store::StoreError),
    #[error("{doing} {path}: {source}")]
    Io {
        doing: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("the PAN token key file {path} is malformed (not 64 hex digits)")]
    LegacyTokenKey { path: String },
    #[error("open the vault: {0}")]
    Vault(String),
}

/// Where this host's KEK comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KekOrigin {
    File(PathBuf),
    Env,
    /// The demo's own file (created on first start).
    Demo(PathBuf),
}

impl KekOrigin {
    /// The origin for a start: file, else environment, else (demo only) the demo file.
    pub fn choose(kek_file: Option<&str>, demo: bool, data_dir: &Path) -> Option<KekOrigin> {
        if let Some(file) = kek_file.filter(|f| !f.is_empty()) {
            return Some(KekOrigin::File(PathBuf::from(file)));
        }
        if std::env::var_os(KEK_ENV_VAR).is_some_and(|v| !v.is_empty()) {
            return Some(KekOrigin::Env);
        }
        demo.then(|| KekOrigin::Demo(data_dir.join(DEMO_KEK_FILE)))
    }

    fn load(&self) -> Result<Kek, KeystoreError> {
        match self {
            KekOrigin::File(path) => Kek::load(&KekSource::File(path.clone())),
            KekOrigin::Env => Kek::load(&KekSource::Env(KEK_ENV_VAR.to_owned())),
            KekOrigin::Demo(path) if path.exists() => Kek::load(&KekSource::File(path.clone())),
            KekOrigin::Demo(path) => Kek::write_new_file(path, &mut rand::rng()),
        }
    }
}

/// The keystore and what the host unwrapped from it at start.
pub struct Keyring {
    pub keystore: RwLock<Keystore>,
    pub origin: KekOrigin,
    /// Held while the keystore changes and its writes commit (imports, rotation), so
    /// a rotation never re-wraps a set of keys that an import is still adding to.
    pub changes: tokio::sync::Mutex<()>,
}

/// What `open` hands the rest of the host.
pub struct Opened {
    pub keyring: Arc<Keyring>,
    pub token_key: HmacKey,
    pub pin_keys: PinKeys,
    /// Writes to commit before serving (keys made at this start).
    pub writes: Writes,
}

impl Keyring {
    /// Opens the keystore from the store's records under the KEK of `origin` (`None`:
    /// refused with the keystore's message), making the host's own keys on first start.
    pub fn open(
        origin: Option<KekOrigin>,
        records: Vec<(String, String)>,
        data_dir: &Path,
        now_ms: i64,
    ) -> Result<Opened, KeyringError> {
        let Some(origin) = origin else {
            return Err(KeystoreError::KekNotFound {
                missing: format!(
                    "neither kek_file (POSGUARD_KEK_FILE, --kek-file) nor {KEK_ENV_VAR} is set"
                ),
            }
            .into());
        };
        let mut store = open_recovering(&origin, records)?;
        let mut writes = store.kek_kcv_write().into_iter().collect::<Writes>();
        let rng = &mut rand::rng();
        if store.info(PAN_TOKEN_KEY_ID).is_none() {
            let (_, w) = match legacy_token_key(data_dir)? {
                Some(key) => {
                    store.adopt_hmac(PAN_TOKEN_KEY_ID, Usage::PanToken, key, rng, now_ms)?
                }
                None => store.generate(
                    PAN_TOKEN_KEY_ID,
                    Usage::PanToken,
                    Algorithm::Hmac,
                    rng,
                    now_ms,
                )?,
            };
            writes.extend(w);
        }
        for (id, usage) in [
            (PVV_KEY_ID, Usage::PinVerificationPvv),
            (IBM3624_KEY_ID, Usage::PinVerificationIbm3624),
        ] {
            if store.info(id).is_none() {
                writes.extend(store.generate(id, usage, Algorithm::Tdes, rng, now_ms)?.1);
            }
        }
        let token_key = store.hmac(PAN_TOKEN_KEY_ID, Usage::PanToken)?;
        let pin_keys = PinKeys {
            pvv: Bound::new(
                store.tdes(PVV_KEY_ID, Usage::PinVerificationPvv)?,
                Usage::PinVerificationPvv.key_usage(),
            ),
            ibm3624: Bound::new(
                store.tdes(IBM3624_KEY_ID, Usage::PinVerificationIbm3624)?,
                Usage::PinVerificationIbm3624.key_usage(),
            ),
        };
        let keyring = Arc::new(Keyring {
            keystore: RwLock::new(store),
            origin,
            changes: tokio::sync::Mutex::new(()),
        });
        Ok(Opened {
            keyring,
            token_key,
            pin_keys,
            writes,
        })
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Keystore> {
        self.keystore.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keystore> {
        self.keystore.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the pre-keystore PAN token key file once its key is committed in the
    /// keystore (overwritten first: the file held the key in clear).
    pub fn retire_legacy_token_key(data_dir: &Path) {
        let path = data_dir.join(LEGACY_TOKEN_KEY_FILE);
        if path.exists() {
            let _ = std::fs::write(&path, [0u8; 64]);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "remove the adopted PAN token key file");
            }
        }
    }
}

/// The file a rotation writes the new KEK to before committing, renamed over the KEK
/// file once the re-wrapped keys are durable.
fn next_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

/// Opens the keystore under the origin's KEK, finishing a rotation that stopped between
/// its commit and its rename: if the KEK file's key does not open the store but the
/// `.next` file's does, that one is renamed into place; a `.next` left by a rotation
/// that never committed is removed.
fn open_recovering(
    origin: &KekOrigin,
    records: Vec<(String, String)>,
) -> Result<Keystore, KeyringError> {
    let kek = origin.load()?;
    let file = match origin {
        KekOrigin::File(path) | KekOrigin::Demo(path) => Some(path.clone()),
        KekOrigin::Env => None,
    };
    let next = file.as_deref().map(next_path).filter(|p| p.exists());
    match (Keystore::open(kek, records.clone()), next, file) {
        (Ok(store), Some(next), _) => {
            let _ = std::fs::remove_file(&next);
            Ok(store)
        }
        (Err(KeystoreError::KekMismatch { .. }), Some(next), Some(file)) => {
            let newer = Kek::load(&KekSource::File(next.clone()))?;
            let store = Keystore::open(newer, records)?;
            std::fs::rename(&next, &file).map_err(|source| KeyringError::Io {
                doing: "finish a KEK rotation: rename",
                path: next.display().to_string(),
                source,
            })?;
            tracing::warn!(path = %file.display(), "finished a KEK rotation interrupted by a stop");
            Ok(store)
        }
        (result, _, _) => Ok(result?),
    }
}

/// A KEK rotation under way: the new KEK is durable where the next start will find it,
/// the re-wrapped keys are ready to commit (in one batch).
pub struct KekRotation {
    rotated: Keystore,
    pub writes: Writes,
    /// `(next file, KEK file)` to rename once the writes are durable.
    rename: Option<(PathBuf, PathBuf)>,
}

impl KekRotation {
    /// Loads (or, for a KEK file, generates) the new KEK, writes it next to the current
    /// one, and re-wraps every key. Nothing is committed yet.
    pub fn prepare(keyring: &Keyring, new_file: Option<&str>) -> Result<KekRotation, KeyringError> {
        let rng = &mut rand::rng();
        let (new, rename) = match (&keyring.origin, new_file) {
            (KekOrigin::Env, None) => {
                return Err(KeystoreError::NotPermitted {
                    what: "the KEK comes from POSGUARD_KEK: give new_kek_file, then set POSGUARD_KEK to it before the next start",
                }
                .into());
            }
            (KekOrigin::Env, Some(file)) => (Kek::load(&KekSource::File(file.into()))?, None),
            (KekOrigin::File(path) | KekOrigin::Demo(path), given) => {
                let next = next_path(path);
                let _ = std::fs::remove_file(&next);
                let kek = match given {
                    Some(file) => {
                        let kek = Kek::load(&KekSource::File(file.into()))?;
                        std::fs::copy(file, &next).map_err(|source| KeyringError::Io {
                            doing: "copy the new KEK next to the KEK file",
                            path: next.display().to_string(),
                            source,
                        })?;
                        kek
                    }
                    None => Kek::write_new_file(&next, rng)?,
                };
                (kek, Some((next, path.clone())))
            }
        };
        let (rotated, writes) = keyring.read().rotate_kek(new, rng)?;
        Ok(KekRotation {
            rotated,
            writes,
            rename,
        })
    }

    /// After the writes are durable: swaps the keystore in and retires the old KEK
    /// file. Returns (old KCV, new KCV, number of keys).
    pub fn finish(self, keyring: &Keyring) -> (String, String, usize) {
        let new_kcv = self.rotated.kek_kcv().to_string();
        let keys = self.rotated.len();
        let old = std::mem::replace(&mut *keyring.write(), self.rotated);
        if let Some((next, file)) = self.rename
            && let Err(e) = std::fs::rename(&next, &file)
        {
            // The next start finds the .next file and finishes the rename itself.
            tracing::error!(path = %next.display(), error = %e, "retire the old KEK file");
        }
        (old.kek_kcv().to_string(), new_kcv, keys)
    }
}

fn legacy_token_key(data_dir: &Path) -> Result<Option<HmacKey>, KeyringError> {
    let path = data_dir.join(LEGACY_TOKEN_KEY_FILE);
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyringError::Io {
                doing: "read",
                path: shown,
                source,
            });
        }
    };
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), bytes.as_mut()).map_err(|_| {
        KeyringError::LegacyTokenKey {
            path: shown.clone(),
        }
    })?;
    HmacKey::from_bytes(bytes.as_ref())
        .map(Some)
        .map_err(|_| KeyringError::LegacyTokenKey { path: shown })
}

impl KeySource for Keyring {
    fn tdes_bdk(&self, id: &str) -> Option<TdesKey> {
        self.read().bdk_tdes(id).ok()
    }

    fn aes_bdk(&self, id: &str) -> Option<AesKey> {
        self.read().bdk_aes(id).ok()
    }

    fn zone_pin(&self, id: &str) -> Option<TdesKey> {
        self.read().tdes(id, Usage::ZonePin).ok()
    }
}
