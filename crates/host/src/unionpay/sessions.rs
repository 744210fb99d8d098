//! Terminals' UnionPay sessions: the working keys of their last sign-on, bound to the
//! terminal and its batch. In memory for the hot path; durably in meta
//! `unionpay_session:<terminal>`, each key sealed under the KEK (never clear on disk),
//! written through the pipeline before the sign-on is answered.

use keystore::{Keystore, Usage};
use paycrypto::TdesKey;
use paycrypto::unionpay::{KeyLayout, WorkingKeys};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Meta key prefix of a terminal's session.
pub const SESSION_META_PREFIX: &str = "unionpay_session:";
/// Sessions kept in memory; beyond this the map is emptied and refilled from the store.
pub const SESSIONS_CACHED_MAX: usize = 100_000;

/// One terminal's keys. Debug shows check values only (the key types redact).
#[derive(Debug)]
pub struct Session {
    pub batch: String,
    pub keys: WorkingKeys,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    batch: String,
    layout: String,
    pik: String,
    mak: String,
    tdk: Option<String>,
}

/// `<terminal>.<batch>.<key>`: the id each sealed key is bound to.
fn key_id(terminal: &str, batch: &str, which: &str) -> String {
    format!("{terminal}.{batch}.{which}")
}

/// Seals a new session for the store; `None` if the keystore refuses (bad terminal id).
pub fn seal(
    keystore: &Keystore,
    terminal: &str,
    session: &Session,
    layout: KeyLayout,
    rng: &mut impl rand::CryptoRng,
    now_ms: i64,
) -> Option<String> {
    let b = &session.batch;
    let mut seal_one = |which, usage, key: &TdesKey| {
        keystore
            .seal_session_key(&key_id(terminal, b, which), usage, key, rng, now_ms)
            .ok()
    };
    let stored = Stored {
        batch: b.clone(),
        layout: layout.network_code().to_owned(),
        pik: seal_one("pik", Usage::SessionPin, &session.keys.pik)?,
        mak: seal_one("mak", Usage::SessionMac, &session.keys.mak)?,
        tdk: match &session.keys.tdk {
            Some(tdk) => Some(seal_one("tdk", Usage::SessionData, tdk)?),
            None => None,
        },
    };
    serde_json::to_string(&stored).ok()
}

/// Opens a stored session; `None` when it does not open (another KEK since: the
/// terminal must sign on again).
pub fn open(keystore: &Keystore, terminal: &str, json: &str) -> Option<Session> {
    let s: Stored = serde_json::from_str(json).ok()?;
    let id = |which| key_id(terminal, &s.batch, which);
    let pik = keystore
        .open_session_key(&s.pik, &id("pik"), Usage::SessionPin)
        .ok()?;
    let mak = keystore
        .open_session_key(&s.mak, &id("mak"), Usage::SessionMac)
        .ok()?;
    let tdk = match &s.tdk {
        Some(t) => Some(
            keystore
                .open_session_key(t, &id("tdk"), Usage::SessionData)
                .ok()?,
        ),
        None => None,
    };
    Some(Session {
        batch: s.batch,
        keys: WorkingKeys { pik, mak, tdk },
    })
}

/// The in-memory table.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, terminal: &str) -> Option<Arc<Session>> {
        self.lock().get(terminal).cloned()
    }

    pub fn put(&self, terminal: &str, session: Arc<Session>) {
        let mut map = self.lock();
        if map.len() >= SESSIONS_CACHED_MAX {
            map.clear();
        }
        map.insert(terminal.to_owned(), session);
    }

    pub fn remove(&self, terminal: &str) {
        self.lock().remove(terminal);
    }
}
