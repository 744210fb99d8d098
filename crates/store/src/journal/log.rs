//! The journal's files: append-only segments of checksummed records, one record per
//! committed batch. A record is `len: u32 | crc32: u32 | seq: u64 | payload`, little
//! endian, where the CRC covers `seq` and the payload (postcard-encoded writes).
//!
//! A crash can leave a torn record at the very end of the newest segment (its fsync
//! never returned, so nothing in it was acknowledged): opening truncates it. A bad
//! record anywhere else is corruption and is reported, never skipped.
//!
//! Segments are preallocated by writing zeros (in a background thread, one spare
//! ahead) and then overwritten in place: an append changes no file metadata, so its
//! fdatasync flushes only this file's data and never waits for the file system's
//! journal, which other files' writes (the database's) would otherwise entangle it
//! with. A run of zeros after the last record is the unused rest of a segment.

use crate::error::{StoreError, StoreErrorKind};
use model::Write;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write as _};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

/// Default segment size: a segment is closed and a spare taken when a record would
/// not fit.
pub(crate) const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// Largest record accepted when reading: a bound on a batch, so a corrupt length
/// cannot make the reader allocate without limit.
const RECORD_BYTES_MAX: u32 = 256 << 20;
const HEADER_BYTES: usize = 16;
const LOCK_FILE: &str = "lock";
const SEGMENT_SUFFIX: &str = ".log";
const SPARE_SUFFIX: &str = ".spare";
/// Zeros written at a time when preallocating a segment.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

fn io(doing: &str, e: std::io::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("{doing}: {e}"))
}

fn corrupt(what: String) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, what)
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
}

/// The open journal, owned by one process (it holds the directory's lock file).
pub(crate) struct Log {
    dir: PathBuf,
    /// Closed segments, oldest first; the open one is `current`.
    closed: Vec<Segment>,
    /// The segment being written, once the first record has been appended.
    current: Option<(Segment, File)>,
    file_bytes: u64,
    segment_bytes: u64,
    next_seq: u64,
    /// Preallocated segments, made one ahead by a background thread.
    spares: Receiver<Result<(PathBuf, File), StoreError>>,
    _lock: File,
}

/// One batch read back from the journal.
pub(crate) struct Record {
    pub seq: u64,
    pub writes: Vec<Write>,
}

impl Log {
    /// Opens `dir` (creating it), takes its lock, and returns every intact record with a
    /// sequence number above `applied`. `Ok(None)`: another process holds the lock.
    /// With `segment_bytes`, the log is opened for appending (spares are prepared).
    pub(crate) fn open(
        dir: &Path,
        applied: u64,
        segment_bytes: Option<u64>,
    ) -> Result<Option<(Log, Vec<Record>)>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io("create the journal directory", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| io("open the journal lock", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock the journal", e)),
        }
        let segments = list_segments(dir)?;
        let mut pending = Vec::new();
        let mut last_seq = applied;
        let newest = segments.len().checked_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            let records = read_segment(&segment.path, Some(i) == newest)?;
            for record in records {
                if record.seq <= applied {
                    continue;
                }
                if record.seq != last_seq + 1 {
                    return Err(corrupt(format!(
                        "journal record {} follows {last_seq}",
                        record.seq
                    )));
                }
                last_seq = record.seq;
                pending.push(record);
            }
        }
        remove_spares(dir)?;
        let (spares, segment_bytes) = match segment_bytes {
            Some(bytes) => (start_preparer(dir.to_owned(), bytes), bytes),
            None => (sync_channel(0).1, 0),
        };
        let log = Log {
            dir: dir.to_owned(),
            closed: segments,
            current: None,
            file_bytes: 0,
            segment_bytes,
            next_seq: last_seq + 1,
            spares,
            _lock: lock,
        };
        Ok(Some((log, pending)))
    }

    /// The sequence number of the last record written (0: none yet).
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Appends one batch and makes it durable (fdatasync). Returns its sequence number.
    pub(crate) fn append(&mut self, batch: &[Write]) -> Result<u64, StoreError> {
        let seq = self.next_seq;
        let payload = postcard::to_allocvec(batch).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, format!("encode a batch: {e}"))
        })?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= RECORD_BYTES_MAX)
            .ok_or_else(|| StoreError::new(StoreErrorKind::Invalid, "batch too large"))?;
        let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc(seq, &payload).to_le_bytes());
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(&payload);
        // Always start a fresh segment after opening: an old one may end where a torn
        // record was cut off.
        let full =
            self.file_bytes > 0 && self.file_bytes + record.len() as u64 > self.segment_bytes;
        if self.current.is_none() || full {
            self.rotate()?;
        }
        let (_, file) = self.current.as_ref().expect("rotate installs a segment");
        file.write_all_at(&record, self.file_bytes)
            .map_err(|e| io("append to the journal", e))?;
        file.sync_data().map_err(|e| io("sync the journal", e))?;
        self.file_bytes += record.len() as u64;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Closes the current segment (cut to its records) and continues in a spare.
    fn rotate(&mut self) -> Result<(), StoreError> {
        if let Some((segment, file)) = self.current.take() {
            file.set_len(self.file_bytes)
                .map_err(|e| io("close a journal segment", e))?;
            file.sync_all()
                .map_err(|e| io("close a journal segment", e))?;
            self.closed.push(segment);
        }
        let (spare, file) = self.spares.recv().map_err(|_| {
            StoreError::new(StoreErrorKind::Io, "the journal's preallocator stopped")
        })??;
        let next = Segment {
            first_seq: self.next_seq,
            path: self
                .dir
                .join(format!("{:020}{SEGMENT_SUFFIX}", self.next_seq)),
        };
        install(&spare, &next.path)?;
        self.current = Some((next, file));
        self.file_bytes = 0;
        Ok(())
    }

    /// Deletes the closed segments whose every record is at or below `applied` (the
    /// store has made them durable itself).
    pub(crate) fn forget_upto(&mut self, applied: u64) {
        while !self.closed.is_empty() {
            let current_first = self
                .current
                .as_ref()
                .map_or(self.next_seq, |(s, _)| s.first_seq);
            let next_first = self.closed.get(1).map_or(current_first, |s| s.first_seq);
            if next_first - 1 > applied {
                return;
            }
            let segment = self.closed.remove(0);
            if let Err(e) = std::fs::remove_file(&segment.path) {
                // Harmless: its records are skipped as applied when it is read again.
                eprintln!(
                    "posguard store: remove applied journal segment {}: {e}",
                    segment.path.display()
                );
            }
        }
    }
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Creates `path` and fills it with zeros, durably, so later writes change no metadata.
fn preallocate(path: &Path, bytes: u64) -> Result<File, StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io("create a journal segment", e))?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut written = 0u64;
    while written < bytes {
        let n = (bytes - written).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all(&zeros[..n])
            .map_err(|e| io("preallocate a journal segment", e))?;
        written += n as u64;
    }
    file.sync_all()
        .map_err(|e| io("preallocate a journal segment", e))?;
    Ok(file)
}

/// Gives a preallocated spare its segment name, durably.
fn install(spare: &Path, path: &Path) -> Result<(), StoreError> {
    std::fs::rename(spare, path).map_err(|e| io("name a journal segment", e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the journal directory", e))
}

/// Keeps one preallocated spare segment ready; stops when the log is dropped.
fn start_preparer(dir: PathBuf, bytes: u64) -> Receiver<Result<(PathBuf, File), StoreError>> {
    // Rendezvous: one spare on disk, handed over when the log asks for it.
    let (tx, rx) = sync_channel(0);
    let spawned = std::thread::Builder::new()
        .name("posguard-journal-spare".into())
        .spawn(move || {
            for n in 0u64.. {
                let path = dir.join(format!("{n}{SPARE_SUFFIX}"));
                let made = preallocate(&path, bytes).map(|file| (path.clone(), file));
                let failed = made.is_err();
                if tx.send(made).is_err() {
                    let _ = std::fs::remove_file(&path);
                    return;
                }
                if failed {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        // Rotation will report the missing spare; nothing is lost until then.
        eprintln!("posguard store: start the journal preallocator: {e}");
    }
    rx
}

fn remove_spares(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io("list the journal", e))? {
        let path = entry.map_err(|e| io("list the journal", e))?.path();
        if path.extension().is_some_and(|x| x == &SPARE_SUFFIX[1..]) {
            std::fs::remove_file(&path).map_err(|e| io("remove a spare journal segment", e))?;
        }
    }
    Ok(())
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, StoreError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io("list the journal", e))? {
        let path = entry.map_err(|e| io("list the journal", e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
            continue;
        };
        let first_seq = stem.parse().map_err(|_| {
            corrupt(format!(
                "journal file {name} is not named by a sequence number"
            ))
        })?;
        out.push(Segment { first_seq, path });
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// Reads a segment's records. In the newest segment a torn tail is cut off; elsewhere
/// it is corruption.
fn read_segment(path: &Path, newest: bool) -> Result<Vec<Record>, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| io("read the journal", e))?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        match parse_record(&bytes[at..]) {
            Some((record, used)) => {
                records.push(record);
                at += used;
            }
            // The zeros of a preallocated segment's unused rest.
            None if bytes[at..].iter().all(|b| *b == 0) => break,
            None if newest => {
                truncate(path, at as u64)?;
                break;
            }
            None => {
                return Err(corrupt(format!(
                    "journal segment {} is damaged at byte {at}",
                    path.display()
                )));
            }
        }
    }
    Ok(records)
}

fn parse_record(bytes: &[u8]) -> Option<(Record, usize)> {
    let header = bytes.get(..HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    let want_crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if len > RECORD_BYTES_MAX {
        return None;
    }
    let end = HEADER_BYTES.checked_add(len as usize)?;
    let payload = bytes.get(HEADER_BYTES..end)?;
    if crc(seq, payload) != want_crc {
        return None;
    }
    let writes = postcard::from_bytes(payload).ok()?;
    Some((Record { seq, writes }, end))
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io("truncate the journal", e))?;
    file.set_len(len)
        .map_err(|e| io("truncate the journal", e))?;
    file.sync_all().map_err(|e| io("truncate the journal", e))
}
