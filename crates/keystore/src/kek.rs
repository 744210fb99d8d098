//! The master key-encrypting key (KEK) and its loader: the crate's only I/O.
//!
//! The KEK is an AES-256 key given as 64 hex digits in a file or in an environment
//! variable. It is used directly as the TR-31 version D key block protection key; TR-31
//! derives separate encryption and authentication keys from it, so no extra derivation
//! is needed here.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use paycrypto::{AesKey, Kcv};
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{KeystoreError, Result};

/// KEK length: AES-256.
pub const KEK_BYTES: usize = 32;
/// The environment variable the KEK is read from by default.
pub const KEK_ENV_VAR: &str = "POSGUARD_KEK";
/// A KEK file is 64 hex digits and a newline; anything much larger is not a KEK file,
/// and is not read into memory.
pub const KEK_FILE_BYTES_MAX: u64 = 1024;

/// Where the KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A file holding 64 hex digits (surrounding whitespace ignored).
    File(PathBuf),
    /// An environment variable holding 64 hex digits.
    Env(String),
}

impl Default for KekSource {
    fn default() -> Self {
        KekSource::Env(KEK_ENV_VAR.to_owned())
    }
}

impl fmt::Display for KekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSource::File(p) => write!(f, "the KEK file {}", p.display()),
            KekSource::Env(v) => write!(f, "the environment variable {v}"),
        }
    }
}

/// The master key. Zeroized on drop (the inner `AesKey` is); `Debug` shows only its KCV.
pub struct Kek {
    key: AesKey,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(kcv: {})", self.kcv())
    }
}

impl Kek {
    /// Parses 64 hex digits; surrounding whitespace (a trailing newline) is ignored.
    pub fn from_hex(text: &str) -> Result<Kek> {
        Self::parse(text, "the text given")
    }

    fn parse(text: &str, origin: &str) -> Result<Kek> {
        let malformed = || KeystoreError::KekMalformed {
            origin: origin.to_owned(),
        };
        let text = text.trim();
        if text.len() != KEK_BYTES * 2 {
            return Err(malformed());
        }
        let mut bytes = Zeroizing::new([0u8; KEK_BYTES]);
        hex::decode_to_slice(text, bytes.as_mut()).map_err(|_| malformed())?;
        let key = AesKey::from_bytes(bytes.as_ref()).map_err(|_| malformed())?;
        Ok(Kek { key })
    }

    /// A fresh random KEK.
    pub fn generate(rng: &mut impl CryptoRng) -> Kek {
        let mut bytes = Zeroizing::new([0u8; KEK_BYTES]);
        rng.fill_bytes(bytes.as_mut());
        let key = AesKey::from_bytes(bytes.as_ref()).expect("32 bytes is an AES-256 key");
        Kek { key }
    }

    /// Loads the KEK from its source. A missing file or unset variable is
    /// [`KeystoreError::KekNotFound`], whose message tells the operator what to provide.
    pub fn load(source: &KekSource) -> Result<Kek> {
        let origin = source.to_string();
        match source {
            KekSource::Env(var) => {
                let value = std::env::var_os(var)
                    .ok_or_else(|| KeystoreError::KekNotFound {
                        missing: format!("{origin} is not set"),
                    })?
                    .into_string()
                    .map_err(|_| KeystoreError::KekMalformed {
                        origin: origin.clone(),
                    })?;
                // The process environment keeps its own copy; ours is wiped at least.
                let value = Zeroizing::new(value);
                Self::parse(&value, &origin)
            }
            KekSource::File(path) => {
                let text = read_private(path, &origin)?;
                Self::parse(&text, &origin)
            }
        }
    }

    /// Creates a new KEK file for the demo: refuses to overwrite, mode 0600, flushed
    /// (file and directory) before returning, so a crash cannot leave keys wrapped under
    /// a KEK that was never on disk.
    pub fn write_new_file(path: &Path, rng: &mut impl CryptoRng) -> Result<Kek> {
        let kek = Kek::generate(rng);
        let shown = path.display().to_string();
        let io = |doing| {
            let path = shown.clone();
            move |source| KeystoreError::KekIo {
                doing,
                path,
                source,
            }
        };
        let mut file = create_private(path).map_err(io("create"))?;
        let mut text = Zeroizing::new(hex::encode_upper(kek.key.expose_bytes()));
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io("write"))?;
        file.sync_all().map_err(io("flush"))?;
        sync_parent(path).map_err(io("flush the directory of"))?;
        Ok(kek)
    }

    /// The KEK's check value (AES CMAC KCV), recorded with every key it wraps.
    pub fn kcv(&self) -> Kcv {
        self.key.kcv()
    }

    /// Whether two KEKs are the same key (constant time).
    pub fn same_key(&self, other: &Kek) -> bool {
        self.key
            .expose_bytes()
            .ct_eq(other.key.expose_bytes())
            .into()
    }

    /// The key, as the TR-31 key block protection key.
    pub(crate) fn aes(&self) -> &AesKey {
        &self.key
    }
}

/// Reads the KEK file, refusing one other users may read or change. The mode is
/// checked on the opened handle, so the file checked is the file read.
fn read_private(path: &Path, origin: &str) -> Result<Zeroizing<String>> {
    let shown = path.display().to_string();
    let io = |doing| {
        let path = shown.clone();
        move |source| KeystoreError::KekIo {
            doing,
            path,
            source,
        }
    };
    let file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeystoreError::KekNotFound {
                missing: format!("{origin} does not exist"),
            });
        }
        other => other.map_err(io("open"))?,
    };
    let meta = file.metadata().map_err(io("inspect"))?;
    if !meta.is_file() {
        let source = std::io::Error::other("not a regular file");
        return Err(io("read")(source));
    }
    check_private(&meta, &shown)?;
    let mut text = Zeroizing::new(String::new());
    file.take(KEK_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|_| KeystoreError::KekMalformed {
            origin: origin.to_owned(),
        })?;
    if text.len() as u64 > KEK_FILE_BYTES_MAX {
        return Err(KeystoreError::KekMalformed {
            origin: origin.to_owned(),
        });
    }
    Ok(text)
}

#[cfg(unix)]
fn check_private(meta: &std::fs::Metadata, path: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeystoreError::KekFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_meta: &std::fs::Metadata, _path: &str) -> Result<()> {
    // No portable owner-only check; access control is the operator's on this platform.
    Ok(())
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
