//! The journal's files: append-only segments of checksummed records, one record per
//! committed batch. A record is `len: u32 | crc32: u32 | seq: u64 | payload`, little
//! endian, where the CRC covers `seq` and the payload (the writes, encoded by `wire`).
//!
//! Segments are preallocated (zero-filled, or recycled from applied segments) and then
//! overwritten in place: an append changes no file metadata, so its fdatasync flushes
//! only this file's data and never waits for the file system's own journal. Segments
//! are recycled rather than deleted or shrunk: on this kind of disk a delete issues
//! discards that stall every other write for a long moment.
//!
//! A segment's records carry consecutive sequence numbers starting at the number in its
//! name; a closed segment ends with an end marker. In the newest segment the records
//! end at the first thing that is not the next record (zeros, a record left from the
//! file's previous life, or a record torn by a crash: its fsync never returned, so
//! nothing in it was acknowledged); opening closes it with an end marker there. In a
//! closed segment anything but the next record before the marker is corruption, and is
//! reported, never skipped.

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
const RECYCLED_PREFIX: &str = "recycled-";
/// Applied segments kept for reuse; more are deleted.
const RECYCLED_MAX: usize = 2;
/// The end marker's header: no record has this length or sequence number.
const END_MARKER: [u8; HEADER_BYTES] = {
    let mut m = [0xFFu8; HEADER_BYTES];
    m[4] = b'E';
    m[5] = b'N';
    m[6] = b'D';
    m[7] = b'!';
    m
};
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
            let read = read_segment(segment, Some(i) == newest)?;
            if !read.closed {
                // The newest segment ends here for good: later appends go to a new one.
                close_at(&segment.path, read.end as u64)?;
            }
            for record in read.records {
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
        let payload = super::wire::encode(batch).map_err(|e| {
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
        // Always start a fresh segment after opening; rotate while there is still room
        // for the end marker.
        let room = self.segment_bytes.saturating_sub(HEADER_BYTES as u64);
        let full = self.file_bytes > 0 && self.file_bytes + record.len() as u64 > room;
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

    /// Closes the current segment with its end marker and continues in a spare.
    fn rotate(&mut self) -> Result<(), StoreError> {
        if let Some((segment, file)) = self.current.take() {
            file.write_all_at(&END_MARKER, self.file_bytes)
                .and_then(|()| file.sync_data())
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

    /// Recycles the closed segments whose every record is at or below `applied` (the
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
            if let Err(e) = recycle(&self.dir, &segment) {
                // Harmless: its records are skipped as applied when it is read again.
                eprintln!(
                    "posguard store: recycle journal segment {}: {e}",
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

/// Gives a spare its segment name, durably.
fn install(spare: &Path, path: &Path) -> Result<(), StoreError> {
    std::fs::rename(spare, path).map_err(|e| io("name a journal segment", e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the journal directory", e))
}

/// Keeps one spare segment ready (a recycled one if there is one, else zero-filled);
/// stops when the log is dropped.
fn start_preparer(dir: PathBuf, bytes: u64) -> Receiver<Result<(PathBuf, File), StoreError>> {
    // Rendezvous: one spare at a time, handed over when the log asks for it.
    let (tx, rx) = sync_channel(0);
    // Each preparer names its spares apart: one still winding down after its log was
    // dropped removes its own spare, never a later preparer's.
    static PREPARERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let preparer = PREPARERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("posguard-journal-spare".into())
        .spawn(move || {
            super::lower_priority();
            for n in 0u64.. {
                let made = match take_recycled(&dir) {
                    Some(reused) => Ok(reused),
                    None => {
                        let path = dir.join(format!("{preparer}-{n}{SPARE_SUFFIX}"));
                        preallocate(&path, bytes).map(|file| (path, file))
                    }
                };
                let (failed, path) = match &made {
                    Ok((path, _)) => (false, Some(path.clone())),
                    Err(_) => (true, None),
                };
                if tx.send(made).is_err() {
                    // Nobody will ask again; a zero-filled spare is removed, a recycled one kept.
                    if let Some(p) = path.filter(|p| !is_recycled(p)) {
                        let _ = std::fs::remove_file(p);
                    }
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

fn is_recycled(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(RECYCLED_PREFIX))
}

/// Renames an applied segment into a spare for reuse (or deletes it past the limit).
fn recycle(dir: &Path, segment: &Segment) -> std::io::Result<()> {
    let recycled = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| is_recycled(&e.path()))
        .count();
    if recycled >= RECYCLED_MAX {
        return std::fs::remove_file(&segment.path);
    }
    let name = format!("{RECYCLED_PREFIX}{}{SPARE_SUFFIX}", segment.first_seq);
    std::fs::rename(&segment.path, dir.join(name))
}

/// A recycled segment, opened for overwriting, if there is one.
fn take_recycled(dir: &Path) -> Option<(PathBuf, File)> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| is_recycled(&e.path()))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(entry.path())
        .ok()?;
    Some((entry.path(), file))
}

/// Removes half-made zero-filled spares (recycled ones are kept for reuse).
fn remove_spares(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io("list the journal", e))? {
        let path = entry.map_err(|e| io("list the journal", e))?.path();
        if !is_recycled(&path) && path.extension().is_some_and(|x| x == &SPARE_SUFFIX[1..]) {
            // The preparer of a log just dropped may remove its own spare meanwhile.
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove a spare journal segment", e));
                }
                _ => {}
            }
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

/// What reading a segment found.
struct SegmentRead {
    records: Vec<Record>,
    /// Byte offset just past the last record.
    end: usize,
    /// Whether the records end with the end marker.
    closed: bool,
}

/// Reads a segment's records up to its end marker or, in the newest segment, up to the
/// first thing that is not the next record.
fn read_segment(segment: &Segment, newest: bool) -> Result<SegmentRead, StoreError> {
    let mut bytes = Vec::new();
    File::open(&segment.path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| io("read the journal", e))?;
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut expected = segment.first_seq;
    loop {
        if bytes.get(at..at + HEADER_BYTES) == Some(&END_MARKER[..]) {
            return Ok(SegmentRead {
                records,
                end: at,
                closed: true,
            });
        }
        match parse_record(bytes.get(at..).unwrap_or(&[]), expected) {
            Some((seq, payload)) => {
                // Intact and next: it was written by `append`, so it must decode. (Read
                // as the end instead, an acknowledged batch would be silently dropped.)
                let writes = super::wire::decode(payload)
                    .map_err(|e| corrupt(format!("journal record {seq} does not decode: {e}")))?;
                records.push(Record { seq, writes });
                at += HEADER_BYTES + payload.len();
                expected += 1;
            }
            _ if newest => {
                return Ok(SegmentRead {
                    records,
                    end: at,
                    closed: false,
                });
            }
            _ => {
                return Err(corrupt(format!(
                    "journal segment {} is damaged at byte {at}",
                    segment.path.display()
                )));
            }
        }
    }
}

/// Writes the end marker at `end` of a segment that lacked one.
fn close_at(path: &Path, end: u64) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io("close a journal segment", e))?;
    file.write_all_at(&END_MARKER, end)
        .and_then(|()| file.sync_data())
        .map_err(|e| io("close a journal segment", e))
}

/// The sequence number and payload of the record at the start of `bytes` if it is
/// whole, its checksum holds and it is record `expected`.
fn parse_record(bytes: &[u8], expected: u64) -> Option<(u64, &[u8])> {
    let header = bytes.get(..HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    let want_crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if len > RECORD_BYTES_MAX || seq != expected {
        return None;
    }
    let end = HEADER_BYTES.checked_add(len as usize)?;
    let payload = bytes.get(HEADER_BYTES..end)?;
    if crc(seq, payload) != want_crc {
        return None;
    }
    Some((seq, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("posguard-log-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn meta(n: u32) -> Write {
        Write::Meta {
            key: format!("k{n}"),
            value: "v".into(),
        }
    }

    /// An intact record that does not decode was still acknowledged: reading it as the
    /// end of the journal would drop it, and everything after it, without a word.
    #[test]
    fn an_intact_record_that_does_not_decode_is_corruption_not_the_end() {
        let dir = temp_dir();
        let (mut log, _) = Log::open(&dir, 0, Some(64 * 1024)).unwrap().unwrap();
        log.append(&[meta(1)]).unwrap();
        let (segment, file) = log.current.as_ref().unwrap();
        let path = segment.path.clone();
        let payload = [0x01, 0xEE, 0xEE];
        let mut record = Vec::new();
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc(2, &payload).to_le_bytes());
        record.extend_from_slice(&2u64.to_le_bytes());
        record.extend_from_slice(&payload);
        file.write_all_at(&record, log.file_bytes).unwrap();
        drop(log);
        let err = Log::open(&dir, 0, None)
            .err()
            .expect("record 2 does not decode");
        assert_eq!(err.kind, StoreErrorKind::Corrupt, "{err}");
        assert!(err.context.contains("record 2"), "{err}");
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
