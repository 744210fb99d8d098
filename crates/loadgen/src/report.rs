//! Counters of one terminal, merged into the run's report.

use crate::histogram::Histogram;
use crate::message::MacCheck;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Field 39 of a UnionPay request whose MAC the host did not verify.
const UNIONPAY_MAC_REFUSED: &str = "A0";

/// What one terminal saw; summed over terminals for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames sent, retransmissions and bad frames included.
    pub sent: u64,
    /// Answers received (to requests and bad frames).
    pub answered: u64,
    /// Answers by field 39.
    pub by_code: BTreeMap<String, u64>,
    /// Requests without an answer within the request timeout.
    pub timeouts: u64,
    /// Connections that failed or were dropped while a request was outstanding.
    pub connection_errors: u64,
    pub reconnects: u64,
    /// Requests sent again as repeats after a drop or a timeout.
    pub retransmits: u64,
    /// Requests given up after the retry window.
    pub abandoned: u64,
    /// Approvals (39 = 00) of new purchases, refunds and reversals.
    pub approved_purchases: u64,
    pub approved_refunds: u64,
    pub approved_reversals: u64,
    /// Deliberate repeats of approved requests, and those whose answer differed from
    /// the first (another code or another RRN): an exactly-once violation.
    pub repeats_checked: u64,
    pub repeat_mismatches: u64,
    pub bad_frames: u64,
    /// Bad frames answered 30, closed by the host, or neither (a defect).
    pub bad_frames_answered_30: u64,
    pub bad_frames_closed: u64,
    pub bad_frames_other: u64,
    /// Answers that did not belong to the request (wrong STAN).
    pub unexpected_answers: u64,
    /// DUKPT runs: purchases sent with a PIN block.
    pub pin_purchases: u64,
    /// DUKPT runs: answers whose MAC verified, was missing, or did not verify.
    pub macs_verified: u64,
    pub macs_missing: u64,
    pub macs_invalid: u64,
    /// DUKPT runs: 58/63 refusals without a MAC (not failures: see `MacCheck`).
    pub unsigned_refusals: u64,
    /// DUKPT devices that used their last KSN (each then stopped).
    pub ksn_exhausted: u64,
    /// UnionPay runs: sign-ons approved with keys that checked, and those that failed
    /// (no answer, a refusal, or keys whose check values did not verify).
    pub sign_ons: u64,
    pub sign_on_failures: u64,
}

impl Stats {
    pub fn merge(&mut self, other: &Stats) {
        self.sent += other.sent;
        self.answered += other.answered;
        for (code, n) in &other.by_code {
            *self.by_code.entry(code.clone()).or_default() += n;
        }
        self.timeouts += other.timeouts;
        self.connection_errors += other.connection_errors;
        self.reconnects += other.reconnects;
        self.retransmits += other.retransmits;
        self.abandoned += other.abandoned;
        self.approved_purchases += other.approved_purchases;
        self.approved_refunds += other.approved_refunds;
        self.approved_reversals += other.approved_reversals;
        self.repeats_checked += other.repeats_checked;
        self.repeat_mismatches += other.repeat_mismatches;
        self.bad_frames += other.bad_frames;
        self.bad_frames_answered_30 += other.bad_frames_answered_30;
        self.bad_frames_closed += other.bad_frames_closed;
        self.bad_frames_other += other.bad_frames_other;
        self.unexpected_answers += other.unexpected_answers;
        self.pin_purchases += other.pin_purchases;
        self.macs_verified += other.macs_verified;
        self.macs_missing += other.macs_missing;
        self.macs_invalid += other.macs_invalid;
        self.unsigned_refusals += other.unsigned_refusals;
        self.ksn_exhausted += other.ksn_exhausted;
        self.sign_ons += other.sign_ons;
        self.sign_on_failures += other.sign_on_failures;
    }

    pub(crate) fn answer(&mut self, code: &str) {
        self.answered += 1;
        *self.by_code.entry(code.to_owned()).or_default() += 1;
    }

    pub(crate) fn mac(&mut self, check: MacCheck) {
        match check {
            MacCheck::NotExpected => {}
            MacCheck::Verified => self.macs_verified += 1,
            MacCheck::UnsignedRefusal => self.unsigned_refusals += 1,
            MacCheck::Missing => self.macs_missing += 1,
            MacCheck::Invalid => self.macs_invalid += 1,
        }
    }

    /// Answers to DUKPT requests whose MAC was missing or wrong.
    pub fn mac_failures(&self) -> u64 {
        self.macs_missing + self.macs_invalid
    }

    /// Whether the run's terminals were UnionPay terminals (they signed on).
    fn unionpay(&self) -> bool {
        self.sign_ons + self.sign_on_failures > 0
    }

    /// Whether the run's terminals were DUKPT terminals (anything was signed).
    fn dukpt(&self) -> bool {
        !self.unionpay()
            && self.macs_verified
                + self.mac_failures()
                + self.unsigned_refusals
                + self.pin_purchases
                + self.ksn_exhausted
                > 0
    }
}

/// Latency percentiles, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn of(h: &Histogram) -> Latency {
        Latency {
            p50_us: h.quantile(0.50),
            p90_us: h.quantile(0.90),
            p99_us: h.quantile(0.99),
            p999_us: h.quantile(0.999),
            max_us: h.max(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub seed: u64,
    pub connections: usize,
    pub stats: Stats,
    pub elapsed: Duration,
    /// Answers per second.
    pub throughput_per_s: f64,
    /// New approved transactions (purchases, refunds, reversals) per second.
    pub approved_per_s: f64,
    /// Request to answer, including retransmissions, of transactions (not bad frames).
    /// With a rate, measured from when the request was due, so a slow host cannot
    /// hide its queueing (coordinated omission).
    pub latency: Latency,
}

impl Report {
    pub fn new(
        seed: u64,
        connections: usize,
        stats: Stats,
        latency: &Histogram,
        elapsed: Duration,
    ) -> Report {
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let approved = stats.approved_purchases + stats.approved_refunds + stats.approved_reversals;
        Report {
            seed,
            connections,
            throughput_per_s: stats.answered as f64 / secs,
            approved_per_s: approved as f64 / secs,
            latency: Latency::of(latency),
            stats,
            elapsed,
        }
    }

    /// Defects the run saw in the host: each should be zero.
    pub fn violations(&self) -> Vec<String> {
        let s = &self.stats;
        let mut v = Vec::new();
        if s.repeat_mismatches > 0 {
            v.push(format!(
                "{} repeats answered differently from the first answer",
                s.repeat_mismatches
            ));
        }
        if s.bad_frames_other > 0 {
            v.push(format!(
                "{} bad frames neither answered 30 nor closed",
                s.bad_frames_other
            ));
        }
        if s.unexpected_answers > 0 {
            v.push(format!(
                "{} answers did not match their request",
                s.unexpected_answers
            ));
        }
        if s.sign_on_failures > 0 {
            v.push(format!("{} sign-ons failed", s.sign_on_failures));
        }
        // The terminals MAC every request correctly: an A0 is a MAC the host computed
        // otherwise (another key or algorithm), a defect on one side.
        let a0 = s.by_code.get(UNIONPAY_MAC_REFUSED).copied().unwrap_or(0);
        if s.unionpay() && a0 > 0 {
            v.push(format!(
                "{a0} requests refused A0 (the host did not verify their MAC)"
            ));
        }
        if s.mac_failures() > 0 {
            v.push(format!(
                "{} response MACs failed ({} missing, {} not verifying)",
                s.mac_failures(),
                s.macs_missing,
                s.macs_invalid
            ));
        }
        v
    }

    /// Prints the report to standard output.
    pub fn print(&self) {
        print!("{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let l = &self.latency;
        writeln!(
            f,
            "loadgen seed {}  connections {}  elapsed {:.2} s",
            self.seed,
            self.connections,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  sent {}  answered {}  throughput {:.0}/s  approved {:.0}/s",
            s.sent, s.answered, self.throughput_per_s, self.approved_per_s
        )?;
        writeln!(
            f,
            "  approved: purchases {}  refunds {}  reversals {}",
            s.approved_purchases, s.approved_refunds, s.approved_reversals
        )?;
        let codes: Vec<String> = s.by_code.iter().map(|(c, n)| format!("{c}:{n}")).collect();
        writeln!(f, "  answers by field 39: {}", codes.join(" "))?;
        writeln!(
            f,
            "  latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
        )?;
        writeln!(
            f,
            "  timeouts {}  connection errors {}  reconnects {}  retransmits {}  abandoned {}",
            s.timeouts, s.connection_errors, s.reconnects, s.retransmits, s.abandoned
        )?;
        writeln!(
            f,
            "  repeats checked {} (mismatched {})  bad frames {} (answered 30: {}, closed: {}, other: {})",
            s.repeats_checked,
            s.repeat_mismatches,
            s.bad_frames,
            s.bad_frames_answered_30,
            s.bad_frames_closed,
            s.bad_frames_other
        )?;
        if s.dukpt() {
            writeln!(
                f,
                "  dukpt: PIN purchases {}  response MACs verified {}  MAC failures {} \
                 (missing {}, invalid {})  unsigned 58/63 refusals {}  KSNs exhausted {}",
                s.pin_purchases,
                s.macs_verified,
                s.mac_failures(),
                s.macs_missing,
                s.macs_invalid,
                s.unsigned_refusals,
                s.ksn_exhausted
            )?;
        }
        if s.unionpay() {
            writeln!(
                f,
                "  unionpay: sign-ons {} (failed {})  PIN purchases {}  response MACs verified {}  \
                 MAC failures {} (missing {}, invalid {})  unsigned A0/77/30 refusals {}",
                s.sign_ons,
                s.sign_on_failures,
                s.pin_purchases,
                s.macs_verified,
                s.mac_failures(),
                s.macs_missing,
                s.macs_invalid,
                s.unsigned_refusals
            )?;
        }
        for v in self.violations() {
            writeln!(f, "  VIOLATION: {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_rates_and_violations() {
        let mut a = Stats::default();
        a.answer("00");
        a.approved_purchases = 1;
        let mut b = Stats::default();
        b.answer("00");
        b.answer("51");
        b.repeat_mismatches = 1;
        a.merge(&b);
        let mut h = Histogram::default();
        h.record(1_000);
        let r = Report::new(9, 2, a, &h, Duration::from_millis(500));
        assert_eq!(r.stats.by_code.get("00"), Some(&2));
        assert_eq!((r.throughput_per_s, r.approved_per_s), (6.0, 2.0));
        assert_eq!(r.latency.p50_us, 1_000);
        assert_eq!(r.violations().len(), 1);
        let text = r.to_string();
        assert!(
            text.contains("seed 9") && text.contains("VIOLATION"),
            "{text}"
        );
    }

    #[test]
    fn unionpay_sign_on_failures_and_a0_refusals_are_violations() {
        let mut s = Stats {
            sign_ons: 2,
            ..Stats::default()
        };
        s.answer("00");
        s.mac(MacCheck::Verified);
        let r = Report::new(1, 2, s.clone(), &Histogram::default(), Duration::ZERO);
        assert!(r.violations().is_empty());
        let text = r.to_string();
        assert!(text.contains("unionpay: sign-ons 2 (failed 0)") && !text.contains("dukpt"));
        s.sign_on_failures = 1;
        s.answer("A0");
        s.mac(MacCheck::UnsignedRefusal);
        let r = Report::new(1, 2, s, &Histogram::default(), Duration::ZERO);
        assert_eq!(
            r.violations(),
            [
                "1 sign-ons failed",
                "1 requests refused A0 (the host did not verify their MAC)"
            ]
        );
    }

    #[test]
    fn mac_failures_are_a_separate_line_and_a_violation() {
        let mut s = Stats::default();
        assert!(
            !Report::new(1, 1, s.clone(), &Histogram::default(), Duration::ZERO)
                .to_string()
                .contains("dukpt")
        );
        s.pin_purchases = 3;
        for check in [MacCheck::Verified, MacCheck::UnsignedRefusal] {
            s.mac(check);
        }
        let r = Report::new(1, 1, s.clone(), &Histogram::default(), Duration::ZERO);
        assert!(r.violations().is_empty());
        assert!(
            r.to_string()
                .contains("response MACs verified 1  MAC failures 0")
        );
        s.mac(MacCheck::Invalid);
        s.mac(MacCheck::Missing);
        let r = Report::new(1, 1, s, &Histogram::default(), Duration::ZERO);
        assert_eq!(
            r.violations(),
            ["2 response MACs failed (1 missing, 1 not verifying)"]
        );
    }
}
