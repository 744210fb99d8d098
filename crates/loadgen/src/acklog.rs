//! The ack log: one line per transaction whose approval the terminal received,
//! `TERMINAL STAN FIELD7 RRN AMOUNT_MINOR KIND`, written and flushed as soon as the
//! answer arrives, so after a crash of the host (or of the load generator) every line
//! is a promise the host made and must keep.
//!
//! Each key is logged at most once by construction: only the answer that first reports
//! a request is logged, and deliberate repeats never are.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("write the ack log {path}: {source}")]
pub struct AckLogError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub struct AckLog {
    path: PathBuf,
    out: Mutex<BufWriter<File>>,
}

/// One line of the ack log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckLine {
    pub terminal: String,
    pub stan: String,
    pub f7: String,
    pub rrn: String,
    pub amount_minor: u64,
    /// purchase, refund or reversal.
    pub kind: String,
}

impl AckLine {
    /// Parses a line written by [`AckLog`].
    pub fn parse(line: &str) -> Option<AckLine> {
        let mut it = line.split_ascii_whitespace();
        let mut next = || it.next().map(str::to_owned);
        let line = AckLine {
            terminal: next()?,
            stan: next()?,
            f7: next()?,
            rrn: next()?,
            amount_minor: next()?.parse().ok()?,
            kind: next()?,
        };
        Some(line)
    }
}

impl AckLog {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<AckLog, AckLogError> {
        let file = File::create(path).map_err(|source| AckLogError {
            path: path.to_owned(),
            source,
        })?;
        Ok(AckLog {
            path: path.to_owned(),
            out: Mutex::new(BufWriter::new(file)),
        })
    }

    pub fn record(&self, line: &AckLine) -> Result<(), AckLogError> {
        let fail = |source| AckLogError {
            path: self.path.clone(),
            source,
        };
        // A panic while holding the lock cannot leave a half line: each line is one
        // write_all into the buffer, flushed before the lock is released.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(
            out,
            "{} {} {} {} {} {}",
            line.terminal, line.stan, line.f7, line.rrn, line.amount_minor, line.kind
        )
        .map_err(fail)?;
        out.flush().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_flushed_at_once_and_parse_back() {
        let path = std::env::temp_dir().join(format!("loadgen-acklog-{}.txt", std::process::id()));
        let log = AckLog::create(&path).unwrap();
        let line = AckLine {
            terminal: "LG000001".into(),
            stan: "000001".into(),
            f7: "1122083000".into(),
            rrn: "000000000042".into(),
            amount_minor: 1250,
            kind: "purchase".into(),
        };
        log.record(&line).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "LG000001 000001 1122083000 000000000042 1250 purchase\n"
        );
        assert_eq!(AckLine::parse(text.trim_end()), Some(line));
        assert_eq!(AckLine::parse("LG000001 000001"), None);
        std::fs::remove_file(&path).unwrap();
    }
}
