//! The crate's one error type.

/// Why a terminal could not build or check a message. Bad keys and parameters are the
/// caller's; `MacMissing` and `MacInvalid` are the host's answer failing its check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    #[error("unknown DUKPT scheme {0:?} (tdes, aes128 or aes256)")]
    Scheme(String),
    #[error("{what}: {source}")]
    Crypto {
        what: &'static str,
        source: paycrypto::Error,
    },
    #[error("TDES initial KSN {0} has counter bits set (the 21 rightmost bits must be zero)")]
    KeyIdCounter(String),
    #[error("a {bdk} BDK cannot serve a {key_id} key id")]
    SchemeMismatch {
        bdk: &'static str,
        key_id: &'static str,
    },
    #[error("AES DUKPT initial keys are 16 or 32 bytes here (AES-128 or AES-256), not {0}")]
    AesKeyLength(usize),
    #[error("the DUKPT transaction counter is exhausted: the device must be reloaded")]
    CounterExhausted,
    #[error("encode the request: {0}")]
    Encode(#[from] iso8583::EncodeError),
    #[error("decode the message: {0}")]
    Decode(#[from] iso8583::DecodeError),
    #[error("field {0} must be the last field of the message to carry the MAC")]
    MacNotLast(u8),
    #[error("field {0} does not hold a 16-character MAC in this spec")]
    MacEncoding(u8),
    #[error("the response carries no MAC (field 64 or 128)")]
    MacMissing,
    #[error("the response MAC does not verify")]
    MacInvalid,
}

impl TerminalError {
    pub(crate) fn crypto(what: &'static str) -> impl FnOnce(paycrypto::Error) -> Self {
        move |source| match source {
            paycrypto::Error::CounterExhausted => TerminalError::CounterExhausted,
            source => TerminalError::Crypto { what, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_counter_is_its_own_error_never_a_wrap() {
        let exhausted = TerminalError::crypto("next key")(paycrypto::Error::CounterExhausted);
        assert!(matches!(exhausted, TerminalError::CounterExhausted));
        let other = TerminalError::crypto("next key")(paycrypto::Error::Pin);
        assert!(matches!(
            other,
            TerminalError::Crypto {
                what: "next key",
                ..
            }
        ));
    }
}
