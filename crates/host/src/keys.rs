//! The host's card-data key: an HMAC-SHA256 key that turns a PAN into the token it is
//! stored and looked up by. It lives in the data directory, created at first start
//! with mode 0600. (Wrapping it under a master key is the keystore's job.)

use hmac::{Hmac, Mac};
use model::{CardToken, Pan};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use zeroize::Zeroizing;

const KEY_BYTES: usize = 32;
const KEY_FILE: &str = "pan-token.key";

pub struct CardKeys {
    token_key: Zeroizing<[u8; KEY_BYTES]>,
}

impl fmt::Debug for CardKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardKeys(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("read or create the PAN token key in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the PAN token key file {path} is not {KEY_BYTES} bytes of hex")]
    Malformed { path: String },
}

impl CardKeys {
    /// Loads the key from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<CardKeys, KeyFileError> {
        let path = dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: shown.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        if !path.exists() {
            let mut key = Zeroizing::new([0u8; KEY_BYTES]);
            rand::rng().fill_bytes(key.as_mut());
            let text = Zeroizing::new(hex::encode(key.as_ref()));
            let mut file = create_private(&path).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(io)?);
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| KeyFileError::Malformed {
            path: shown.clone(),
        })?;
        Ok(CardKeys { token_key: key })
    }

    /// A fixed key for tests and benchmarks.
    pub fn for_tests() -> CardKeys {
        CardKeys {
            token_key: Zeroizing::new([7u8; KEY_BYTES]),
        }
    }

    pub fn token(&self, pan: &Pan) -> CardToken {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.token_key.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(pan.expose().as_bytes());
        CardToken(hex::encode(mac.finalize().into_bytes()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_keyed_and_stable() {
        let keys = CardKeys::for_tests();
        let pan = Pan::parse("4761739001010010").unwrap();
        let token = keys.token(&pan);
        assert_eq!(token, keys.token(&pan));
        assert_eq!(token.0.len(), 64);
        assert!(!token.0.contains("4761739001010010"));
        assert_eq!(format!("{keys:?}"), "CardKeys(<redacted>)");
    }
}
