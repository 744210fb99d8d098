//! The UnionPay (银联) terminal profile on the link: TPDU and header framing, sign-on
//! delivering working keys under the terminal master key, the ECB (or X9.19 / X9.9) MAC
//! on requests and replies, and the transaction set mapped onto the engine's requests
//! (`map`). See docs/unionpay.md.

pub mod map;
pub mod reconcile;
pub mod sessions;
pub mod texts;

use crate::keyring::Keyring;
use crate::link::{Event, LinkContext, Transport, record_event};
use crate::metrics::Dropped;
use crate::security::events::EventKind;
use crate::security::profile::Dialect;
use engine::{BatchTotals, CardInput, PinCheck};
use iso8583::unionpay::{Field63Reply, Preamble, Processing, TpduReply, UnionPayFields};
use iso8583::{Message, MessageBuilder};
use map::Action;
use model::{Pan, ResponseCode};
use paycrypto::mac::DesMacScheme;
use paycrypto::unionpay::{KeyLayout, WorkingKeys};
use sessions::{Session, Sessions};
use std::sync::{Arc, Mutex};

/// Field 39 of a MAC that does not verify (UnionPay's code).
pub const RC_MAC_FAILED: &str = "A0";
/// Field 39 to a terminal without a session: sign on again (with processing nibble 3).
pub const RC_SIGN_ON_AGAIN: &str = "77";
/// MAC bytes (field 64).
const MAC_BYTES: usize = 8;
/// Meta key id of a terminal's master key in the keystore: `tmk.<terminal>`.
pub fn tmk_id(terminal: &str) -> String {
    format!("tmk.{terminal}")
}

/// The MAC of a `link.unionpay_mac` name: `ecb`, `ecb-3des`, `x9.19` or `x9.9`.
pub fn mac_scheme(name: &str) -> Option<DesMacScheme> {
    Some(match name {
        "ecb" => DesMacScheme::UnionPayEcb,
        "ecb-3des" => DesMacScheme::UnionPayEcbTdes,
        "x9.19" => DesMacScheme::X919,
        "x9.9" => DesMacScheme::X99,
        _ => return None,
    })
}

/// A listener's UnionPay settings and the terminals' sessions.
pub struct UnionPay {
    pub tpdu_reply: TpduReply,
    /// The MAC of terminals whose profile names none (`unionpay_mac`).
    pub mac: DesMacScheme,
    /// The UnionPay field spec (the link's own on a UnionPay-only listener).
    pub spec: iso8583::Spec,
    /// Every frame on the listener is UnionPay (`link.profile = "unionpay"`); false on
    /// an auto listener, which tells them apart by the TPDU id ([`is_unionpay_frame`]).
    pub only: bool,
    pub sessions: Sessions,
    pub keyring: Arc<Keyring>,
    rng: Mutex<rand::rngs::StdRng>,
}

impl UnionPay {
    /// `rng` makes the working keys: the host's CSPRNG, or a seeded one in tests.
    pub fn new(
        tpdu_reply: TpduReply,
        mac: DesMacScheme,
        keyring: Arc<Keyring>,
        rng: rand::rngs::StdRng,
    ) -> UnionPay {
        UnionPay {
            tpdu_reply,
            mac,
            spec: iso8583::Spec::unionpay(),
            only: true,
            sessions: Sessions::default(),
            keyring,
            rng: Mutex::new(rng),
        }
    }

    fn new_keys(&self, layout: KeyLayout) -> WorkingKeys {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        WorkingKeys::generate(layout, &mut *rng)
    }
}

/// Whether a frame on an auto listener is UnionPay: its first byte (after the length)
/// is the TPDU id 0x60. A generic message starts with its MTI, whose first byte is an
/// ASCII digit (0x30-0x39) or a BCD pair (0x00-0x09); auto listeners have no fixed
/// header of their own.
pub fn is_unionpay_frame(body: &[u8]) -> bool {
    body.first() == Some(&iso8583::unionpay::TPDU_ID)
}

/// What a reply carries beyond the echoed fields.
#[derive(Default)]
struct Reply {
    code: &'static str,
    processing: Processing,
    rrn: Option<String>,
    auth_code: Option<String>,
    balance: Option<String>,
    f48: Option<String>,
    f60: Option<String>,
    f62: Option<Vec<u8>>,
    /// Field 63's texts when not those of the code (`texts::for_code`).
    f63: Option<Field63Reply>,
    /// The session whose MAK signs the reply (None: no MAC).
    mac_key: Option<Arc<Session>>,
    /// The terminal's MAC (its profile's, else the listener's).
    scheme: Option<DesMacScheme>,
}

fn reply(code: &'static str) -> Reply {
    Reply {
        code,
        ..Reply::default()
    }
}

/// Fields a reply echoes from its request (card data never).
const ECHOED: [u8; 9] = [3, 4, 11, 22, 25, 41, 42, 49, 60];

/// Answers one frame: its TPDU and header, and the message. Returns field 39 and the
/// reply's TPDU and header, with the reply message in `out`; None = no answer.
pub(crate) async fn answer(
    preamble: &[u8],
    body: &[u8],
    transport: &Transport,
    ctx: &LinkContext,
    up: &UnionPay,
    out: &mut Vec<u8>,
) -> Option<(&'static str, Vec<u8>)> {
    let preamble = match Preamble::parse(preamble) {
        Ok(p) => p,
        Err(e) => {
            ctx.metrics.dropped(Dropped::FrameMalformed);
            tracing::info!(error = %e, "read a UnionPay TPDU and header");
            return None;
        }
    };
    let msg = match up.spec.decode(body) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::info!(error = %e, "decode a UnionPay message");
            ctx.metrics.dropped(Dropped::Undecodable);
            return None;
        }
    };
    let response_mti = crate::iso_map::response_mti(&msg.mti())?;
    let r = decide(&msg, body, transport, ctx, up).await;
    let code = r.code;
    encode(&msg, &response_mti, &r, r.scheme.unwrap_or(up.mac), out).ok()?;
    let head = preamble
        .reply(up.tpdu_reply, r.processing)
        .to_bytes()
        .to_vec();
    Some((code, head))
}

async fn decide(
    msg: &Message<'_>,
    body: &[u8],
    transport: &Transport,
    ctx: &LinkContext,
    up: &UnionPay,
) -> Reply {
    let fields = match UnionPayFields::read(msg) {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(error = %e, "read UnionPay sub-fields");
            return reply(ResponseCode::FormatError.iso());
        }
    };
    let terminal = match map::terminal_id(msg) {
        Ok(t) => t,
        Err(r) => return reply(r.code.iso()),
    };
    let profile = ctx.security.profile(&terminal.0);
    if let Some(p) = &profile {
        let refused = if !p.speaks(Dialect::Unionpay) {
            Some(EventKind::DialectRefused)
        } else if !p.admits(transport, &terminal.0) {
            Some(EventKind::TransportRefused)
        } else {
            None
        };
        if let Some(kind) = refused {
            record_event(ctx, kind, Event::new(msg, transport, None)).await;
            return reply(kind.response_code().iso());
        }
    }
    let scheme = profile
        .as_ref()
        .and_then(|p| p.unionpay_mac.as_deref())
        .and_then(mac_scheme)
        .unwrap_or(up.mac);
    let action = match map::action(msg, &fields) {
        Ok(a) => a,
        Err(r) => return reply(r.code.iso()),
    };
    match action {
        Some(Action::SignOn(layout)) => {
            sign_on(msg, &fields, &terminal.0, layout, transport, ctx, up).await
        }
        Some(Action::SignOff) => {
            up.sessions.remove(&terminal.0);
            let key = format!("{}{}", sessions::SESSION_META_PREFIX, terminal.0);
            match ctx.pipeline.set_meta(key, "signed_off".into()).await {
                Ok(()) => reply(ResponseCode::Approved.iso()),
                Err(_) => reply(ResponseCode::SystemMalfunction.iso()),
            }
        }
        Some(Action::Acknowledge) => reply(ResponseCode::Approved.iso()),
        other => {
            let secured = Secured {
                msg,
                body,
                fields: &fields,
                transport,
                scheme,
            };
            secured.answer(other, ctx, up).await
        }
    }
}

/// A request that needs a session, and how its terminal MACs.
struct Secured<'a, 'm> {
    msg: &'a Message<'m>,
    body: &'a [u8],
    fields: &'a UnionPayFields,
    transport: &'a Transport,
    scheme: DesMacScheme,
}

impl Secured<'_, '_> {
    async fn answer(&self, action: Option<Action>, ctx: &LinkContext, up: &UnionPay) -> Reply {
        let mut r = secured(self, action, ctx, up).await;
        if r.mac_key.is_some() {
            r.scheme = Some(self.scheme);
        }
        r
    }
}

/// A request that needs a session: its MAC first, then its meaning.
async fn secured(
    s: &Secured<'_, '_>,
    action: Option<Action>,
    ctx: &LinkContext,
    up: &UnionPay,
) -> Reply {
    let (msg, body, fields, transport) = (s.msg, s.body, s.fields, s.transport);
    let terminal = msg
        .field_str(41)
        .map(|t| t.trim_end().to_owned())
        .unwrap_or_default();
    let Some(session) = session_of(&terminal, ctx, up).await else {
        tracing::info!(%terminal, "refuse a UnionPay request: not signed on");
        return Reply {
            processing: Processing::SignOnAgain,
            ..reply(RC_SIGN_ON_AGAIN)
        };
    };
    let mac_ok = match (msg.field(64), body.len().checked_sub(MAC_BYTES)) {
        (Some(mac), Some(end)) => {
            let computed = s.scheme.compute(&session.keys.mak, &body[..end]);
            paycrypto::mac::verify_truncated(&computed, mac).is_ok()
        }
        _ => {
            record_event(ctx, EventKind::MacMissing, Event::new(msg, transport, None)).await;
            return reply(RC_MAC_FAILED);
        }
    };
    if !mac_ok {
        record_event(ctx, EventKind::MacInvalid, Event::new(msg, transport, None)).await;
        return reply(RC_MAC_FAILED);
    }
    let mut r = match action {
        Some(Action::Settle) => settle(msg, &terminal, fields, ctx).await,
        Some(Action::BatchUpload) => batch_upload(msg, fields, &terminal, transport, ctx).await,
        _ => transaction(msg, fields, &session, ctx).await,
    };
    r.mac_key = Some(session);
    r
}

/// The terminal's session: in memory, else from the store (after a restart).
async fn session_of(terminal: &str, ctx: &LinkContext, up: &UnionPay) -> Option<Arc<Session>> {
    if let Some(s) = up.sessions.get(terminal) {
        return Some(s);
    }
    let key = format!("{}{terminal}", sessions::SESSION_META_PREFIX);
    let store = ctx.store.clone();
    let json = tokio::task::spawn_blocking(move || store.meta_get(&key))
        .await
        .ok()?
        .ok()??;
    let session = Arc::new(sessions::open(&up.keyring.read(), terminal, &json)?);
    up.sessions.put(terminal, session.clone());
    Some(session)
}

#[allow(clippy::too_many_arguments)]
async fn sign_on(
    msg: &Message<'_>,
    fields: &UnionPayFields,
    terminal: &str,
    layout: KeyLayout,
    transport: &Transport,
    ctx: &LinkContext,
    up: &UnionPay,
) -> Reply {
    let id = model::TerminalId(terminal.to_owned());
    let known = ctx
        .pipeline
        .read(move |e| e.terminal(&id).map(|t| t.status.may_transact()))
        .await;
    match known {
        Ok(Some(true)) => {}
        Ok(Some(false)) => return reply(ResponseCode::NotPermittedToTerminal.iso()),
        Ok(None) => {
            record_event(
                ctx,
                EventKind::UnknownTerminal,
                Event::new(msg, transport, None),
            )
            .await;
            return reply(ResponseCode::NotPermittedToTerminal.iso());
        }
        Err(_) => return reply(ResponseCode::SystemMalfunction.iso()),
    }
    let Ok(tmk) = up
        .keyring
        .read()
        .tdes(&tmk_id(terminal), keystore::Usage::TerminalMaster)
    else {
        record_event(
            ctx,
            EventKind::KeyUnavailable,
            Event::new(msg, transport, None),
        )
        .await;
        return reply(ResponseCode::SystemMalfunction.iso());
    };
    let batch = fields
        .batch()
        .filter(|b| *b != "000000")
        .unwrap_or("000001")
        .to_owned();
    let session = Session {
        batch: batch.clone(),
        keys: up.new_keys(layout),
    };
    let sealed = {
        let mut rng = rand::rng();
        sessions::seal(
            &up.keyring.read(),
            terminal,
            &session,
            layout,
            &mut rng,
            crate::server::now_ms(),
        )
    };
    let Some(sealed) = sealed else {
        return reply(ResponseCode::SystemMalfunction.iso());
    };
    // Durable before the terminal hears its new keys: a restart finds the same session.
    let key = format!("{}{terminal}", sessions::SESSION_META_PREFIX);
    if ctx.pipeline.set_meta(key, sealed).await.is_err() {
        return reply(ResponseCode::SystemMalfunction.iso());
    }
    let f62 = session.keys.to_field62(&tmk, layout);
    up.sessions.put(terminal, Arc::new(session));
    Reply {
        f60: Some(format!("00{batch}{}", layout.network_code())),
        f62: Some(f62),
        ..reply(ResponseCode::Approved.iso())
    }
}

/// The card of a request: PAN from 2 or track 2 (decrypted under the TDK when 53.3 says
/// so), tokenized; its PIN (52, format 0 under the PIK) checked. Clear data is dropped
/// at the end of the call.
fn card(
    msg: &Message<'_>,
    fields: &UnionPayFields,
    session: &Session,
    ctx: &LinkContext,
) -> Result<Option<CardInput>, ResponseCode> {
    let encrypted = fields.f53.is_some_and(|f| f.track_encrypted);
    let track = match (msg.field_str(35), &session.keys.tdk) {
        (Some(t), Some(tdk)) if encrypted => Some(zeroize::Zeroizing::new(
            paycrypto::unionpay::decrypt_track(tdk, &t).map_err(|_| ResponseCode::FormatError)?,
        )),
        (Some(t), _) => Some(zeroize::Zeroizing::new(t.into_owned())),
        (None, _) => None,
    };
    let parts = track.as_ref().and_then(|t| t.split_once(['D', '=']));
    let pan_text = match msg.field_str(2) {
        Some(p) => zeroize::Zeroizing::new(p.into_owned()),
        None => match parts {
            Some((p, _)) => zeroize::Zeroizing::new(p.to_owned()),
            None => return Ok(None),
        },
    };
    let pan = Pan::parse(&pan_text).map_err(|_| ResponseCode::InvalidCardNumber)?;
    let expiry = msg
        .field_str(14)
        .map(|e| e.into_owned())
        .or_else(|| parts.and_then(|(_, rest)| rest.get(..4)).map(str::to_owned));
    let token = ctx.keys.token(&pan);
    let pin = match msg.field(52) {
        None => PinCheck::NotPresent,
        Some(block) => pin_check(block, &pan, &token, session, ctx),
    };
    Ok(Some(CardInput {
        token,
        masked: pan.masked(),
        luhn_ok: pan.luhn_valid(),
        expiry,
        pin,
        entry_mode: entry_mode(msg, fields),
    }))
}

/// Field 22 as sent, except that 60.5 = 2 (an IC card read by its stripe after the chip
/// failed) is the generic dialect's fallback (`80x`), which the risk features count.
fn entry_mode(msg: &Message<'_>, fields: &UnionPayFields) -> Option<String> {
    let ic_condition = fields.f60.as_ref().and_then(|f| f.ic_condition);
    entry_mode_of(msg.field_str(22).as_deref(), ic_condition)
}

fn entry_mode_of(sent: Option<&str>, ic_condition: Option<u8>) -> Option<String> {
    match (ic_condition == Some(IC_CONDITION_FALLBACK), sent) {
        (true, Some(mode)) => Some(format!("80{}", mode.get(2..3).unwrap_or("0"))),
        (true, None) => Some("800".to_owned()),
        (false, sent) => sent.map(str::to_owned),
    }
}

/// 60.5's value for a chip card read by its stripe after a chip failure.
const IC_CONDITION_FALLBACK: u8 = 2;

fn pin_check(
    block: &[u8],
    pan: &Pan,
    token: &model::CardToken,
    s: &Session,
    ctx: &LinkContext,
) -> PinCheck {
    let Ok(encrypted) = <[u8; 8]>::try_from(block) else {
        return PinCheck::Malformed;
    };
    let Ok(ppan) = paycrypto::Pan::new(pan.expose()) else {
        return PinCheck::Malformed;
    };
    let clear = paycrypto::pinblock::PinBlock::decrypt(&s.keys.pik, &encrypted);
    match paycrypto::pinblock::decode_format0(&clear, &ppan) {
        Ok(pin) => ctx.security.verify_pin(&token.0, &ppan, &pin),
        Err(_) => PinCheck::Malformed,
    }
}

async fn transaction(
    msg: &Message<'_>,
    fields: &UnionPayFields,
    session: &Session,
    ctx: &LinkContext,
) -> Reply {
    let card = match card(msg, fields, session, ctx) {
        Ok(c) => c,
        Err(code) => return reply(code.iso()),
    };
    let currency = msg
        .field_str(49)
        .and_then(|c| model::Currency::parse(&c))
        .unwrap_or(ctx.default_currency);
    let req = match map::request(msg, fields, card, currency) {
        Ok(r) => r,
        Err(r) => {
            tracing::info!(reason = r.reason, "answer a malformed UnionPay request");
            return reply(r.code.iso());
        }
    };
    let Ok(answer) = ctx.pipeline.authorize(req).await else {
        return reply(ResponseCode::SystemMalfunction.iso());
    };
    let balance = answer.balance_minor.map(|b| {
        let sign = if b < 0 { 'D' } else { 'C' };
        format!("1002{:03}{sign}{:012}", currency.0, b.unsigned_abs())
    });
    Reply {
        rrn: answer.txn_id.map(model::TxnId::rrn),
        auth_code: answer.auth_code.clone(),
        balance,
        ..reply(answer.code.iso())
    }
}

/// 0500: the terminal's totals (domestic and foreign together: the engine keeps one
/// batch per terminal) against the host's; the reply flags each side balanced or not.
async fn settle(
    msg: &Message<'_>,
    terminal: &str,
    fields: &UnionPayFields,
    ctx: &LinkContext,
) -> Reply {
    use iso8583::unionpay::{SettleResult, Totals};
    let Some(Ok(mut totals)) = msg.field_str(48).map(|d| Totals::parse(&d)) else {
        return reply(ResponseCode::FormatError.iso());
    };
    let (d, f) = (totals.domestic, totals.foreign);
    let theirs = BatchTotals {
        debit_count: d.debit_count + f.debit_count,
        debit_minor: d.debit_minor + f.debit_minor,
        credit_count: d.credit_count + f.credit_count,
        credit_minor: d.credit_minor + f.credit_minor,
    };
    let stan = msg.field_str(11).unwrap_or_default().into_owned();
    let batch = fields.batch().unwrap_or("000000");
    let key = format!("set:{terminal}:{stan}:{}", map::transmitted(batch));
    let tid = model::TerminalId(terminal.to_owned());
    let Ok(answer) = ctx.pipeline.settle(tid, key, theirs).await else {
        return reply(ResponseCode::SystemMalfunction.iso());
    };
    let result = match answer.code {
        ResponseCode::Approved => SettleResult::Balanced,
        ResponseCode::NotPermittedToTerminal => return reply(answer.code.iso()),
        _ => SettleResult::Unbalanced,
    };
    totals.domestic.result = result;
    totals.foreign.result = result;
    Reply {
        f48: Some(totals.to_digits()),
        f63: Some(texts::settled(result)),
        ..reply(ResponseCode::Approved.iso())
    }
}

/// 0320: the records are acknowledged, and each checked against the transaction the
/// host holds under its trace in the terminal's batch (approved, same amount). Records
/// that do not match are answered in 63 and recorded as one `batch_upload_mismatch`
/// event; the upload itself is still acknowledged (the terminal must not resend it).
async fn batch_upload(
    msg: &Message<'_>,
    fields: &UnionPayFields,
    terminal: &str,
    transport: &Transport,
    ctx: &LinkContext,
) -> Reply {
    let records = match msg
        .field_str(48)
        .map(|d| iso8583::unionpay::parse_batch_records(&d))
    {
        Some(Ok(r)) => r,
        Some(Err(_)) => return reply(ResponseCode::FormatError.iso()),
        None => Vec::new(),
    };
    let transmitted = map::transmitted(fields.batch().unwrap_or("000000"));
    let keys: Vec<String> = records
        .iter()
        .map(|r| {
            model::IdemKey::Iso {
                reversal: false,
                terminal: model::TerminalId(terminal.to_owned()),
                stan: r.trace.clone(),
                transmitted: transmitted.clone(),
            }
            .to_string()
        })
        .collect();
    let held = ctx
        .pipeline
        .read(move |e| {
            keys.iter()
                .map(|k| e.txn_by_key(k).map(|t| (t.status, t.amount_minor)))
                .collect::<Vec<_>>()
        })
        .await;
    let Ok(held) = held else {
        return reply(ResponseCode::SystemMalfunction.iso());
    };
    let mismatches = reconcile::check(&records, &held);
    for m in &mismatches {
        tracing::warn!(%terminal, trace = %m.trace, finding = ?m.finding, "a UnionPay batch upload record does not match");
    }
    if !mismatches.is_empty() {
        let event = Event::new(msg, transport, None);
        record_event(ctx, EventKind::BatchUploadMismatch, event).await;
    }
    Reply {
        f63: Some(texts::batch_uploaded(mismatches.len())),
        ..reply(ResponseCode::Approved.iso())
    }
}

/// Local date (MMDD) and time (hhmmss) at +08:00 for fields 13 and 12.
fn local_now() -> (String, String) {
    let secs = crate::server::now_ms() / 1000 + 8 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let time = format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (format!("{month:02}{day:02}"), time)
}

fn encode(
    msg: &Message<'_>,
    mti: &str,
    r: &Reply,
    scheme: DesMacScheme,
    out: &mut Vec<u8>,
) -> Result<(), iso8583::EncodeError> {
    let (date, time) = local_now();
    let mut b = MessageBuilder::new();
    b.set_mti(mti);
    for n in ECHOED {
        b.copy(n, msg);
    }
    b.set(12, time.as_str()).set(13, date.as_str());
    if let Some(v) = &r.rrn {
        b.set(37, v.as_str());
    }
    if let Some(v) = &r.auth_code {
        b.set(38, v.as_str());
    }
    b.set(39, r.code);
    for (n, v) in [(48, &r.f48), (54, &r.balance), (60, &r.f60)] {
        if let Some(v) = v {
            b.set(n, v.as_str());
        }
    }
    if let Some(v) = &r.f62 {
        b.set_data(62, v);
    }
    let f63 = r
        .f63
        .clone()
        .unwrap_or_else(|| texts::for_code(r.code))
        .to_bytes();
    b.set_data(63, &f63);
    let placeholder = [0u8; MAC_BYTES];
    if r.mac_key.is_some() {
        b.set_data(64, &placeholder);
    }
    out.clear();
    b.encode_into(msg.spec(), out)?;
    if let Some(session) = &r.mac_key {
        let end = out.len() - MAC_BYTES;
        let mac = scheme.compute(&session.keys.mak, &out[..end]);
        out[end..].copy_from_slice(&mac);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::entry_mode_of;

    #[test]
    fn a_stripe_read_after_a_chip_failure_is_a_fallback() {
        let cases = [
            (Some("021"), Some(2), Some("801")),
            (Some("022"), Some(2), Some("802")),
            (None, Some(2), Some("800")),
            (Some("021"), Some(0), Some("021")),
            (Some("051"), None, Some("051")),
            (None, None, None),
        ];
        for (sent, ic, want) in cases {
            assert_eq!(entry_mode_of(sent, ic).as_deref(), want, "{sent:?} {ic:?}");
        }
        assert_eq!(
            crate::risk::entry_mode(entry_mode_of(Some("021"), Some(2)).as_deref()),
            risk::EntryMode::Fallback
        );
    }
}
