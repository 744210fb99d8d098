//! An event as it is queued: its id, its type and its body, serialized once and shared
//! by every endpoint's queue.

use super::EmitError;
use hyper::body::Bytes;
use model::TimestampMs;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub(super) struct Event {
    pub id: String,
    pub event_type: String,
    /// `{"id","type","created_ms","data"}` as JSON.
    pub body: Bytes,
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_ms: TimestampMs,
    data: &'a serde_json::Value,
}

impl Event {
    pub fn new(
        id: String,
        event_type: &str,
        created_ms: TimestampMs,
        data: &serde_json::Value,
        body_size_max_bytes: usize,
    ) -> Result<Event, EmitError> {
        let envelope = Envelope {
            id: &id,
            event_type,
            created_ms,
            data,
        };
        let body = serde_json::to_vec(&envelope).expect("JSON values and strings serialize");
        if body.len() > body_size_max_bytes {
            return Err(EmitError::TooLarge {
                bytes: body.len(),
                max: body_size_max_bytes,
            });
        }
        Ok(Event {
            id,
            event_type: event_type.to_owned(),
            body: Bytes::from(body),
        })
    }
}

/// Crockford's base 32, as in ULIDs.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LOW_48_BITS: u64 = (1 << 48) - 1;

/// Event ids shaped like ULIDs: `evt_` and 26 characters encoding 128 bits, namely 48
/// bits of milliseconds, 32 bits drawn once per process and a 48-bit counter. Unique in
/// a process (the counter), across processes (the draw and the time), and sorting by
/// time first.
pub(super) struct EventIds {
    process: u32,
    counter: AtomicU64,
}

impl EventIds {
    pub fn new(seed: u64) -> EventIds {
        EventIds {
            process: (seed ^ (seed >> 32)) as u32,
            counter: AtomicU64::new(0),
        }
    }

    pub fn next(&self, now_ms: TimestampMs) -> String {
        let count = self.counter.fetch_add(1, Relaxed) & LOW_48_BITS;
        let ms = u64::try_from(now_ms).unwrap_or(0) & LOW_48_BITS;
        let value = (u128::from(ms) << 80) | (u128::from(self.process) << 48) | u128::from(count);
        let mut id = String::with_capacity(30);
        id.push_str("evt_");
        // 26 characters of 5 bits cover 130 bits: the first carries the top 3.
        for i in (0..26).rev() {
            id.push(ALPHABET[((value >> (5 * i)) & 31) as usize] as char);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_by_time_and_shaped_like_ulids() {
        let ids = EventIds::new(7);
        let a = ids.next(1_700_000_000_000);
        let b = ids.next(1_700_000_000_000);
        let c = ids.next(1_700_000_000_001);
        assert_ne!(a, b);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), 30);
        assert!(a[4..].bytes().all(|ch| ALPHABET.contains(&ch)));
        let other_process = EventIds::new(8).next(1_700_000_000_000);
        assert_ne!(a, other_process);
    }

    #[test]
    fn body_is_the_envelope_in_order_and_bounded() {
        let data = serde_json::json!({"alert": 1});
        let event = Event::new("evt_1".into(), "alert.created", 5, &data, 1024).unwrap();
        assert_eq!(
            &event.body[..],
            br#"{"id":"evt_1","type":"alert.created","created_ms":5,"data":{"alert":1}}"#
        );
        let big = Event::new("evt_2".into(), "alert.created", 5, &data, 10);
        assert!(matches!(big, Err(EmitError::TooLarge { max: 10, .. })));
    }
}
