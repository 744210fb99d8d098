//! The keystore over the API: import keys (clear components with their check values, or
//! a TR-31 block under a stored KBPK), list them (check values only), rotate the KEK.
//! Key material never leaves; errors never carry it.

use super::AppState;
use super::body::JsonBody;
use crate::api_error::{ApiError, ErrorKind};
use crate::keyring::KekRotation;
use axum::Json;
use axum::extract::State;
use keystore::{Algorithm, KeyInfo, KeystoreError, Usage};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

type Reply<T> = Result<Json<T>, ApiError>;

/// One custodian's component: the key in hex and its check value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Component {
    key: String,
    kcv: String,
}

impl Drop for Component {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.key.zeroize();
    }
}

/// A keystore refusal as an API error: a validation error that names what is wrong,
/// never the key.
fn refused(e: KeystoreError) -> ApiError {
    match e {
        KeystoreError::DuplicateId { .. } => {
            ApiError::with_detail(ErrorKind::Conflict, e.to_string())
        }
        KeystoreError::NotFound { .. } => ApiError::with_detail(ErrorKind::NotFound, e.to_string()),
        other => ApiError::validation("key", other.to_string()),
    }
}

pub async fn import(State(app): State<AppState>, JsonBody(mut f): JsonBody) -> Reply<KeyInfo> {
    let id = f.string("id")?;
    let components: Option<Vec<Component>> = f.opt_object("components")?;
    let tr31 = f.opt_string("tr31")?.map(Zeroizing::new);
    let kbpk = f.opt_string("kbpk")?;
    let usage = f.opt_string("usage")?;
    let algorithm = f.opt_string("algorithm")?;
    f.finish()?;
    let _changing = app.keyring.changes.lock().await;
    let now = crate::server::now_ms();
    let (info, writes) = match (components, tr31) {
        (Some(parts), None) => {
            let usage = usage.ok_or_else(|| ApiError::validation("usage", "is required"))?;
            let usage = Usage::parse(&usage)
                .ok_or_else(|| ApiError::validation("usage", "is not a keystore usage"))?;
            let algorithm =
                algorithm.ok_or_else(|| ApiError::validation("algorithm", "is required"))?;
            let algorithm = Algorithm::parse(&algorithm).ok_or_else(|| {
                ApiError::validation("algorithm", "is not tdes, aes128, aes192 or aes256")
            })?;
            let parts: Vec<(&str, &str)> = parts
                .iter()
                .map(|c| (c.key.as_str(), c.kcv.as_str()))
                .collect();
            app.keyring
                .write()
                .import_components(&id, usage, algorithm, &parts, &mut rand::rng(), now)
                .map_err(refused)?
        }
        (None, Some(block)) => {
            if usage.is_some() || algorithm.is_some() {
                return Err(ApiError::validation(
                    "usage",
                    "a TR-31 block's header names its usage and algorithm",
                ));
            }
            let kbpk = kbpk.ok_or_else(|| ApiError::validation("kbpk", "is required with tr31"))?;
            app.keyring
                .write()
                .import_tr31(&id, &block, &kbpk, &mut rand::rng(), now)
                .map_err(refused)?
        }
        _ => {
            return Err(ApiError::validation(
                "components",
                "give either components (2 or 3) or tr31 with kbpk",
            ));
        }
    };
    app.pipeline.set_metas(writes).await?;
    tracing::info!(id = %info.id, usage = %info.usage, kcv = %info.kcv, "import a key");
    Ok(Json(info))
}

pub async fn list(State(app): State<AppState>) -> Reply<Vec<KeyInfo>> {
    Ok(Json(app.keyring.read().list()))
}

#[derive(Serialize)]
pub struct Rotated {
    old_kcv: String,
    new_kcv: String,
    keys: usize,
}

/// Re-wraps every key under a new KEK while the host keeps serving: from
/// `new_kek_file` (a file on the host, 64 hex digits, mode 0600) or, when absent and the
/// KEK is a file, a KEK the host generates.
pub async fn rotate_kek(State(app): State<AppState>, JsonBody(mut f): JsonBody) -> Reply<Rotated> {
    let new_file = f.opt_string("new_kek_file")?;
    f.finish()?;
    let _changing = app.keyring.changes.lock().await;
    let rotation = KekRotation::prepare(&app.keyring, new_file.as_deref())
        .map_err(|e| ApiError::validation("new_kek_file", e.to_string()))?;
    app.pipeline.set_metas(rotation.writes.clone()).await?;
    let done = rotation.finish(&app.keyring);
    tracing::info!(old_kcv = %done.0, new_kcv = %done.1, keys = done.2, "rotate the KEK");
    Ok(Json(Rotated {
        old_kcv: done.0,
        new_kcv: done.1,
        keys: done.2,
    }))
}

/// Values re-sealed per durable batch during a vault key rotation.
const RESEAL_BATCH: usize = 500;

#[derive(Serialize)]
pub struct VaultRotated {
    key: String,
    resealed: usize,
}

/// Makes a new vault key current and re-seals every vaulted PAN and merchant's personal
/// data under it (in batches; values sealed under older keys stay readable meanwhile).
pub async fn rotate_vault(State(app): State<AppState>) -> Reply<VaultRotated> {
    use crate::http::views::MerchantPii;
    use crate::vault::{PAN_META_PREFIX, PII_META_PREFIX, pan_binding, pii_binding};
    let _changing = app.keyring.changes.lock().await;
    let (number, writes) = app
        .vault
        .rotate(&app.keyring, crate::server::now_ms())
        .map_err(|e| ApiError::with_detail(ErrorKind::Internal, e.to_string()))?;
    app.pipeline.set_metas(writes).await?;
    let (pans, pii) = super::read_store(&app, |s| {
        Ok((
            s.meta_with_prefix(PAN_META_PREFIX)?,
            s.meta_with_prefix(PII_META_PREFIX)?,
        ))
    })
    .await?;
    let vault = &app.vault;
    let mut resealed = Vec::new();
    for (key, sealed) in pans {
        let binding = pan_binding(&key[PAN_META_PREFIX.len()..]);
        if vault.is_stale(&sealed)
            && let Ok(clear) = vault.open_sealed(&binding, &sealed)
        {
            resealed.push((key, vault.seal(&binding, &clear)));
        }
    }
    for (key, value) in pii {
        let merchant = key[PII_META_PREFIX.len()..].to_owned();
        let Ok(mut record) = serde_json::from_str::<MerchantPii>(&value) else {
            continue;
        };
        let mut changed = false;
        for (field, f) in record.fields.iter_mut() {
            let binding = pii_binding(&merchant, field);
            if vault.is_stale(&f.sealed)
                && let Ok(clear) = vault.open_sealed(&binding, &f.sealed)
            {
                f.sealed = vault.seal(&binding, &clear);
                changed = true;
            }
        }
        if changed {
            let value =
                serde_json::to_string(&record).map_err(|_| ApiError::new(ErrorKind::Internal))?;
            resealed.push((key, value));
        }
    }
    let count = resealed.len();
    let mut rest = resealed;
    while !rest.is_empty() {
        let batch: Vec<_> = rest.drain(..rest.len().min(RESEAL_BATCH)).collect();
        app.pipeline.set_metas(batch).await?;
    }
    tracing::info!(key = number, resealed = count, "rotate the vault key");
    Ok(Json(VaultRotated {
        key: format!("{}{number}", crate::vault::VAULT_KEY_PREFIX),
        resealed: count,
    }))
}
