//! One simulated terminal on one connection: it keeps its own STAN counter, remembers
//! its recent approvals to refund, reverse and repeat them, and behaves like a real
//! terminal when the host goes away: it reconnects and sends the unanswered request
//! again as a repeat (same STAN and field 7), until the retry window closes.

use crate::LoadgenError;
use crate::acklog::{AckLine, AckLog};
use crate::config::LoadgenConfig;
use crate::histogram::Histogram;
use crate::link::{Link, LinkError};
use crate::message::{Answer, BadFrame, Check, Original, Station, Txn, transmission_time};
use crate::mix::Kind;
use crate::report::Stats;
use crate::rng::SplitMix64;
use crate::unionpay::Device;
use paycrypto::Pan;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use terminal::{DukptTerminal, PinEntry, TerminalError, Transaction};
use tokio::time::Instant;

/// Approved purchases a terminal remembers for refunds and reversals.
const RECENT_PURCHASES_MAX: usize = 64;
/// Answered requests a terminal remembers for deliberate repeats.
const RECENT_ANSWERS_MAX: usize = 16;
const APPROVED: &str = "00";
const FORMAT_ERROR: &str = "30";
/// Stream of the PIN choices and PIN block fill, apart from the request mix's stream,
/// so a DUKPT run sends the same mix as a plain run with the same seed.
const PIN_STREAM: u64 = 1 << 62;

/// What every terminal of a run shares.
pub(crate) struct Shared {
    pub cfg: LoadgenConfig,
    pub ack_log: Option<AckLog>,
    /// No new request starts after this.
    pub deadline: Instant,
    /// Retransmissions stop after this, so a run ends even if the host stays down.
    pub retry_end: Instant,
}

/// A purchase the host approved, and how much of it was refunded since.
#[derive(Clone, Debug)]
struct Approved {
    txn: Txn,
    rrn: String,
    refunded_minor: u64,
}

pub(crate) struct Terminal {
    index: usize,
    shared: Arc<Shared>,
    station: Station,
    rng: SplitMix64,
    /// This connection's DUKPT device, in DUKPT runs.
    device: Option<DukptTerminal>,
    /// This connection's UnionPay terminal, in UnionPay runs.
    up: Option<Device>,
    pin_rng: SplitMix64,
    stan_first: u32,
    stan_count: u32,
    stan_step: u32,
    purchases: VecDeque<Approved>,
    answers: VecDeque<(Txn, Answer)>,
    link: Option<Link>,
    frame: Vec<u8>,
    stats: Stats,
    latency: Histogram,
    /// The host could not be reached for a whole retry window: this terminal stops.
    gave_up: bool,
    connected_once: bool,
}

fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Terminal {
    pub(crate) fn new(index: usize, shared: Arc<Shared>) -> Result<Terminal, LoadgenError> {
        let cfg = &shared.cfg;
        let device = match (&cfg.dukpt, cfg.key_id_of(index)) {
            (Some(d), Some(key_id)) => Some(DukptTerminal::from_bdk(&d.bdk, key_id)?),
            _ => None,
        };
        let up = match (&cfg.unionpay, cfg.tmk_of(index)) {
            (Some(u), Some(tmk)) => Some(Device::new(
                u,
                tmk.clone(),
                cfg.terminal_of(index),
                &pad(
                    cfg.merchant.as_deref().unwrap_or(""),
                    crate::config::MERCHANT_ID_LEN_MAX,
                ),
            )),
            _ => None,
        };
        let station = Station {
            spec: cfg.spec.clone(),
            framing: cfg.framing,
            terminal: pad(cfg.terminal_of(index), crate::config::TERMINAL_ID_LEN_MAX),
            merchant: cfg
                .merchant
                .as_deref()
                .map(|m| pad(m, crate::config::MERCHANT_ID_LEN_MAX)),
            currency: cfg.currency.clone(),
        };
        let (stan_first, stan_count) = cfg.stan_range(index);
        let mut rng = SplitMix64::stream(cfg.seed, index as u64);
        // Start somewhere in the range so two runs a second apart do not reuse keys.
        let stan_step = rng.below(u64::from(stan_count)) as u32;
        Ok(Terminal {
            index,
            station,
            rng,
            device,
            up,
            pin_rng: SplitMix64::stream(cfg.seed, index as u64 ^ PIN_STREAM),
            stan_first,
            stan_count,
            stan_step,
            purchases: VecDeque::with_capacity(RECENT_PURCHASES_MAX),
            answers: VecDeque::with_capacity(RECENT_ANSWERS_MAX),
            link: None,
            frame: Vec::with_capacity(512),
            stats: Stats::default(),
            latency: Histogram::default(),
            gave_up: false,
            connected_once: false,
            shared,
        })
    }

    /// The DUKPT protection of a new request (None for a plain terminal): the next KSN,
    /// and a PIN on the configured share of purchases.
    fn secure(
        &mut self,
        kind: Kind,
        card: usize,
    ) -> Result<Option<Arc<Transaction>>, TerminalError> {
        let (Some(device), Some(d)) = (&mut self.device, &self.shared.cfg.dukpt) else {
            return Ok(None);
        };
        let with_pin = kind == Kind::Purchase && self.pin_rng.below(100) < u64::from(d.pin_percent);
        let pan = with_pin.then(|| {
            Pan::new(&self.shared.cfg.pans[card].0).expect("LoadgenConfig::check checked PANs")
        });
        let entry = pan.as_ref().map(|pan| PinEntry { pin: &d.pin, pan });
        let txn = device.next_transaction(entry, d.mac_field, &mut self.pin_rng)?;
        if with_pin {
            self.stats.pin_purchases += 1;
        }
        Ok(Some(Arc::new(txn)))
    }

    /// Whether a UnionPay purchase carries a PIN (the run's share of purchases).
    fn unionpay_pin(&mut self) -> bool {
        let Some(u) = &self.shared.cfg.unionpay else {
            return false;
        };
        let with_pin = self.pin_rng.below(100) < u64::from(u.pin_percent);
        if with_pin {
            self.stats.pin_purchases += 1;
        }
        with_pin
    }

    /// Signs the UnionPay terminal on (new working keys under its TMK); false when the
    /// host could not be reached or the answer was not an approval with good keys.
    async fn sign_on(&mut self) -> bool {
        let give_up = (Instant::now() + self.shared.cfg.retry_window).min(self.shared.retry_end);
        let Some(device) = &mut self.up else {
            return false;
        };
        let cfg = &self.shared.cfg;
        device.sign_on(cfg.framing, &mut self.frame);
        let Some(mut link) = self.link(give_up).await else {
            self.stats.sign_on_failures += 1;
            return false;
        };
        let cfg = &self.shared.cfg;
        self.stats.sent += 1;
        let reply = link
            .round_trip_raw(&self.frame, cfg.framing, cfg.request_timeout)
            .await;
        let Some(device) = &mut self.up else {
            return false;
        };
        match reply.map(|r| device.accept_sign_on(&r)) {
            Ok(Ok(code)) => {
                self.stats.answer(&code);
                self.link = Some(link);
                if code == APPROVED {
                    self.stats.sign_ons += 1;
                    return true;
                }
                self.stats.sign_on_failures += 1;
                false
            }
            _ => {
                self.stats.sign_on_failures += 1;
                false
            }
        }
    }

    /// The device has used its last KSN: this terminal stops, as a real one must.
    fn exhausted(&mut self) {
        self.stats.ksn_exhausted += 1;
        self.gave_up = true;
    }

    fn next_stan(&mut self) -> String {
        let stan = self.stan_first + self.stan_step % self.stan_count;
        self.stan_step = self.stan_step.wrapping_add(1);
        format!("{stan:06}")
    }

    /// Runs until the deadline; returns the terminal's counters and latencies.
    pub(crate) async fn run(mut self) -> Result<(Stats, Histogram), LoadgenError> {
        let cfg = &self.shared.cfg;
        let interval = cfg
            .rate
            .map(|r| Duration::from_secs_f64(cfg.connections as f64 / f64::from(r)));
        // Spread the terminals' first requests over one interval.
        let mut next_at = Instant::now()
            + interval.map_or(Duration::ZERO, |iv| {
                iv.mul_f64(self.index as f64 / cfg.connections as f64)
            });
        let deadline = self.shared.deadline;
        if self.up.is_some() && !self.sign_on().await {
            self.gave_up = true;
        }
        while !self.gave_up {
            let due = match interval {
                Some(iv) => {
                    tokio::time::sleep_until(next_at).await;
                    next_at += iv;
                    next_at - iv
                }
                None => Instant::now(),
            };
            if Instant::now() >= deadline {
                break;
            }
            let kind = self.shared.cfg.mix.pick(&mut self.rng);
            self.step(kind, due).await?;
        }
        Ok((self.stats, self.latency))
    }

    async fn step(&mut self, kind: Kind, due: Instant) -> Result<(), LoadgenError> {
        match kind {
            Kind::BadFrame => return self.bad_frame().await,
            Kind::Repeat if !self.answers.is_empty() => return self.repeat(due).await,
            Kind::Refund | Kind::Reversal if !self.purchases.is_empty() => {
                let at = self.rng.below(self.purchases.len() as u64) as usize;
                let sale = self.purchases.remove(at).expect("index below len");
                return self.act_on(kind, sale, due).await;
            }
            _ => {}
        }
        let card = self.rng.below(self.shared.cfg.pans.len() as u64) as usize;
        let cfg = &self.shared.cfg;
        let amount_minor = self.rng.between(cfg.amount_min_minor, cfg.amount_max_minor);
        let security = match self.secure(Kind::Purchase, card) {
            Err(TerminalError::CounterExhausted) => {
                self.exhausted();
                return Ok(());
            }
            other => other?,
        };
        let pin = self.unionpay_pin();
        let txn = Txn {
            kind: Kind::Purchase,
            stan: self.next_stan(),
            f7: transmission_time(unix_secs()),
            amount_minor,
            card,
            original: None,
            security,
            pin,
        };
        if let Some(answer) = self.exchange(&txn, false, due).await? {
            self.answered(txn, answer)?;
        }
        Ok(())
    }

    /// A refund of part of `sale`, or its reversal.
    async fn act_on(
        &mut self,
        kind: Kind,
        sale: Approved,
        due: Instant,
    ) -> Result<(), LoadgenError> {
        let left = sale.txn.amount_minor - sale.refunded_minor;
        let amount_minor = match kind {
            Kind::Refund => self.rng.between(1, left.max(1)),
            _ => sale.txn.amount_minor,
        };
        let security = match self.secure(kind, sale.txn.card) {
            Err(TerminalError::CounterExhausted) => {
                self.exhausted();
                return Ok(());
            }
            other => other?,
        };
        // A UnionPay reversal names its original by trace (and batch) number.
        let stan = match (&self.up, kind) {
            (Some(_), Kind::Reversal) => sale.txn.stan.clone(),
            _ => self.next_stan(),
        };
        let txn = Txn {
            kind,
            stan,
            f7: transmission_time(unix_secs()),
            amount_minor,
            card: sale.txn.card,
            original: Some(Original {
                rrn: sale.rrn.clone(),
                stan: sale.txn.stan.clone(),
                f7: sale.txn.f7.clone(),
            }),
            security,
            pin: false,
        };
        let Some(answer) = self.exchange(&txn, false, due).await? else {
            return Ok(());
        };
        let approved = answer.code == APPROVED;
        self.answered(txn, answer)?;
        if kind == Kind::Refund && approved && amount_minor < left {
            let refunded_minor = sale.refunded_minor + amount_minor;
            self.purchases.push_back(Approved {
                refunded_minor,
                ..sale
            });
        }
        Ok(())
    }

    /// Sends an answered request again as a repeat: an approval must come back as the
    /// same approval (same RRN), and must not be logged again.
    async fn repeat(&mut self, due: Instant) -> Result<(), LoadgenError> {
        let at = self.rng.below(self.answers.len() as u64) as usize;
        let (txn, first) = self.answers[at].clone();
        let Some(again) = self.exchange(&txn, true, due).await? else {
            return Ok(());
        };
        if first.code == APPROVED {
            self.stats.repeats_checked += 1;
            if again.code != first.code || again.rrn != first.rrn {
                self.stats.repeat_mismatches += 1;
            }
        }
        Ok(())
    }

    /// Books the first answer to a new request: counters, recent lists, ack log.
    fn answered(&mut self, txn: Txn, answer: Answer) -> Result<(), LoadgenError> {
        if answer.code == APPROVED
            && let Some(rrn) = &answer.rrn
        {
            match txn.kind {
                Kind::Purchase => self.stats.approved_purchases += 1,
                Kind::Refund => self.stats.approved_refunds += 1,
                _ => self.stats.approved_reversals += 1,
            }
            if let Some(log) = &self.shared.ack_log {
                log.record(&AckLine {
                    terminal: self.shared.cfg.terminal_of(self.index).to_owned(),
                    stan: txn.stan.clone(),
                    f7: txn.f7.clone(),
                    rrn: rrn.clone(),
                    amount_minor: txn.amount_minor,
                    kind: txn.kind.name().to_owned(),
                })?;
            }
            if txn.kind == Kind::Purchase {
                if self.purchases.len() == RECENT_PURCHASES_MAX {
                    self.purchases.pop_front();
                }
                let sale = Approved {
                    txn: txn.clone(),
                    rrn: rrn.clone(),
                    refunded_minor: 0,
                };
                self.purchases.push_back(sale);
            }
        }
        if self.answers.len() == RECENT_ANSWERS_MAX {
            self.answers.pop_front();
        }
        self.answers.push_back((txn, answer));
        Ok(())
    }

    /// The connection, reconnecting if it is down; None when the host stayed away.
    async fn link(&mut self, until: Instant) -> Option<Link> {
        if let Some(link) = self.link.take() {
            return Some(link);
        }
        if self.connected_once && !self.shared.cfg.reconnect {
            return None;
        }
        let link = Link::connect_until(&self.shared.cfg.link_addr, until).await;
        match &link {
            Some(_) if self.connected_once => self.stats.reconnects += 1,
            Some(_) => self.connected_once = true,
            None => self.stats.connection_errors += 1,
        }
        link
    }

    /// Sends `txn` until it is answered. A drop or a timeout means: reconnect and send
    /// it again as a repeat, as a real terminal does, until the retry window closes.
    /// None: abandoned.
    async fn exchange(
        &mut self,
        txn: &Txn,
        repeat: bool,
        due: Instant,
    ) -> Result<Option<Answer>, LoadgenError> {
        let give_up = (Instant::now() + self.shared.cfg.retry_window).min(self.shared.retry_end);
        let mut as_repeat = repeat;
        let mut signed_on_again = false;
        loop {
            let Some(mut link) = self.link(give_up).await else {
                self.stats.abandoned += 1;
                self.gave_up = true;
                return Ok(None);
            };
            let (pan, expiry) = &self.shared.cfg.pans[txn.card];
            let pending = match &mut self.up {
                Some(device) => {
                    device.encode(txn, pan, self.shared.cfg.framing, &mut self.frame);
                    None
                }
                None => self
                    .station
                    .encode(txn, (pan, expiry), as_repeat, &mut self.frame)?,
            };
            let check = match (&self.up, &pending) {
                (Some(device), _) => Check::UnionPay(device),
                (None, Some(p)) => Check::Dukpt(p),
                (None, None) => Check::Plain,
            };
            self.stats.sent += 1;
            if as_repeat && !repeat {
                self.stats.retransmits += 1;
            }
            let cfg = &self.shared.cfg;
            let result = link
                .round_trip(
                    &self.frame,
                    &cfg.spec,
                    cfg.framing,
                    cfg.request_timeout,
                    check,
                )
                .await;
            match result {
                // The host lost (or never had) this terminal's session: sign on once
                // and send the request again.
                Ok(answer)
                    if answer.sign_on_again
                        && !signed_on_again
                        && answer.stan.as_deref() == Some(txn.stan.as_str()) =>
                {
                    self.stats.answer(&answer.code);
                    self.stats.mac(answer.mac);
                    self.link = Some(link);
                    signed_on_again = true;
                    if !self.sign_on().await {
                        self.gave_up = true;
                        return Ok(None);
                    }
                    continue;
                }
                Ok(answer) if answer.stan.as_deref() == Some(txn.stan.as_str()) => {
                    self.link = Some(link);
                    self.stats.answer(&answer.code);
                    self.stats.mac(answer.mac);
                    self.latency.record(due.elapsed().as_micros() as u64);
                    return Ok(Some(answer));
                }
                Ok(_) => self.stats.unexpected_answers += 1,
                Err(LinkError::Timeout) => self.stats.timeouts += 1,
                Err(_) => self.stats.connection_errors += 1,
            }
            // The old connection may still deliver a stale answer: never reuse it.
            drop(link);
            as_repeat = true;
            if Instant::now() >= give_up {
                self.stats.abandoned += 1;
                return Ok(None);
            }
        }
    }

    /// Sends one bad frame: a correct host answers 30 or closes the connection.
    async fn bad_frame(&mut self) -> Result<(), LoadgenError> {
        let which = [BadFrame::Garbage, BadFrame::Truncated, BadFrame::BadLength]
            [self.rng.below(3) as usize];
        // A UnionPay host answers no message it cannot read (UNIONPAY.md): only a bad
        // length, which closes the connection, is told apart from a lost answer.
        let which = if self.up.is_some() {
            BadFrame::BadLength
        } else {
            which
        };
        let sample = Txn {
            kind: Kind::Purchase,
            stan: "000000".into(),
            f7: transmission_time(unix_secs()),
            amount_minor: 1,
            card: 0,
            original: None,
            security: None,
            pin: false,
        };
        let (pan, expiry) = &self.shared.cfg.pans[0];
        self.station
            .bad_frame(which, &sample, (pan, expiry), &mut self.frame)?;
        let give_up = (Instant::now() + self.shared.cfg.retry_window).min(self.shared.retry_end);
        let Some(mut link) = self.link(give_up).await else {
            self.gave_up = true;
            return Ok(());
        };
        self.stats.sent += 1;
        self.stats.bad_frames += 1;
        let cfg = &self.shared.cfg;
        let result = link
            .round_trip(
                &self.frame,
                &cfg.spec,
                cfg.framing,
                cfg.request_timeout,
                Check::Plain,
            )
            .await;
        match result {
            Ok(answer) if answer.code == FORMAT_ERROR => {
                self.stats.answer(&answer.code);
                self.stats.bad_frames_answered_30 += 1;
                self.link = Some(link);
            }
            Ok(answer) => {
                self.stats.answer(&answer.code);
                self.stats.bad_frames_other += 1;
            }
            Err(LinkError::Closed | LinkError::Io(_)) => self.stats.bad_frames_closed += 1,
            Err(_) => self.stats.bad_frames_other += 1,
        }
        Ok(())
    }
}
