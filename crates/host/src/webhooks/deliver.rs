//! One endpoint's delivery task: its queue in order, one event at a time, each retried
//! with backoff until it is delivered or dead-lettered.

use super::client::{Attempt, Client};
use super::endpoint::Target;
use super::event::Event;
use super::{DeadReason, Limits, Shared};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub(super) struct Worker {
    shared: Arc<Shared>,
    id: String,
    queue: mpsc::Receiver<Arc<Event>>,
    target: watch::Receiver<Option<Arc<Target>>>,
    full_logged: Arc<AtomicBool>,
    jitter: StdRng,
    client: Client,
}

/// How one event's delivery ended.
enum Ended {
    /// Delivered or dead-lettered: on to the next event.
    Done,
    /// The endpoint was removed (the event is dead-lettered).
    Removed,
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        id: &str,
        queue: mpsc::Receiver<Arc<Event>>,
        target: watch::Receiver<Option<Arc<Target>>>,
        full_logged: Arc<AtomicBool>,
        seed: u64,
    ) -> Worker {
        // Each endpoint its own jitter sequence, reproducible from the seed.
        let salt = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Worker {
            shared,
            id: id.to_owned(),
            queue,
            target,
            full_logged,
            jitter: StdRng::seed_from_u64(seed ^ salt),
            client: Client::default(),
        }
    }

    /// Runs until the endpoint is removed, or every sender is gone and the queue empty.
    pub async fn run(mut self) {
        loop {
            let event = tokio::select! {
                biased;
                () = removed(&mut self.target) => break,
                event = self.queue.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            if let Ended::Removed = self.deliver(&event).await {
                break;
            }
        }
        // Removed: refuse new events (emit dead-letters them) and give up the queued ones,
        // with one log line for all of them.
        self.queue.close();
        let mut queued = 0u64;
        while let Ok(event) = self.queue.try_recv() {
            let error = "endpoint removed".to_owned();
            let reason = DeadReason::EndpointRemoved;
            self.shared.dead_letter(&self.id, &event, 0, reason, error);
            queued += 1;
        }
        tracing::info!(endpoint = %self.id, queued,
            "webhook endpoint removed; its queued events dead-lettered");
    }

    async fn deliver(&mut self, event: &Event) -> Ended {
        let limits = self.shared.limits;
        let mut attempts = 0;
        loop {
            let Some(target) = self.target.borrow().clone() else {
                return self.removed(event, attempts);
            };
            attempts += 1;
            let attempt = tokio::select! {
                biased;
                () = removed(&mut self.target) => return self.removed(event, attempts),
                attempt = self.client.attempt(&self.shared, &target, event) => attempt,
            };
            let (error, retry_after) = match attempt {
                Attempt::Delivered => {
                    self.shared.counters.delivered.fetch_add(1, Relaxed);
                    self.full_logged.store(false, Relaxed);
                    return Ended::Done;
                }
                Attempt::Permanent(error) => {
                    self.give_up(event, attempts, DeadReason::Rejected, error);
                    return Ended::Done;
                }
                Attempt::Retry { error, retry_after } => (error, retry_after),
            };
            if attempts >= limits.attempts_max {
                self.give_up(event, attempts, DeadReason::Exhausted, error);
                return Ended::Done;
            }
            self.shared.counters.retried.fetch_add(1, Relaxed);
            let delay = backoff(&limits, attempts, retry_after, &mut self.jitter);
            tracing::debug!(endpoint = %self.id, event = %event.id, attempts, %error,
                delay_ms = delay.as_millis() as u64, "webhook attempt failed; will retry");
            tokio::select! {
                biased;
                () = removed(&mut self.target) => return self.removed(event, attempts),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn removed(&self, event: &Event, attempts: u32) -> Ended {
        let error = "endpoint removed".to_owned();
        self.give_up(event, attempts, DeadReason::EndpointRemoved, error);
        Ended::Removed
    }

    fn give_up(&self, event: &Event, attempts: u32, reason: DeadReason, error: String) {
        tracing::warn!(endpoint = %self.id, event = %event.id, attempts, ?reason, %error,
            "webhook not delivered; dead-lettered");
        self.shared
            .dead_letter(&self.id, event, attempts, reason, error);
    }
}

/// Resolves once the endpoint is removed (its target becomes `None`). If the sender is
/// gone without removing it (the `Webhooks` was dropped), never: the queue drains.
async fn removed(target: &mut watch::Receiver<Option<Arc<Target>>>) {
    loop {
        if target.borrow_and_update().is_none() {
            return;
        }
        if target.changed().await.is_err() {
            if target.borrow().is_none() {
                return;
            }
            std::future::pending::<()>().await;
        }
    }
}

/// The wait after failed attempt `failed` (1-based): `d = min(max, base * 2^(failed-1))`
/// jittered uniformly in `[d/2, d]`, or the receiver's `Retry-After` if longer (capped).
pub(super) fn backoff(
    limits: &Limits,
    failed: u32,
    retry_after: Option<Duration>,
    jitter: &mut impl Rng,
) -> Duration {
    let doubling = 1u64 << failed.saturating_sub(1).min(40);
    let full = limits
        .backoff_base_ms
        .saturating_mul(doubling)
        .min(limits.backoff_max_ms);
    let jittered = jitter.random_range(full / 2..=full);
    let asked = retry_after
        .map_or(0, |d| d.as_millis() as u64)
        .min(limits.backoff_max_ms);
    Duration::from_millis(jittered.max(asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let limits = Limits::default();
        let mut rng = StdRng::seed_from_u64(1);
        for failed in 1..=20u32 {
            let full = (500u64 << (failed - 1).min(40)).min(60_000);
            for _ in 0..50 {
                let ms = backoff(&limits, failed, None, &mut rng).as_millis() as u64;
                assert!((full / 2..=full).contains(&ms), "attempt {failed}: {ms} ms");
            }
        }
        let huge = backoff(&limits, 100, None, &mut rng);
        assert!(huge <= Duration::from_millis(60_000));
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_the_cap() {
        let limits = Limits::default();
        let mut rng = StdRng::seed_from_u64(2);
        let asked = Some(Duration::from_secs(30));
        assert_eq!(
            backoff(&limits, 1, asked, &mut rng),
            Duration::from_secs(30)
        );
        let too_long = Some(Duration::from_secs(3_600));
        assert_eq!(
            backoff(&limits, 1, too_long, &mut rng),
            Duration::from_secs(60)
        );
        let short = backoff(&limits, 3, Some(Duration::from_millis(1)), &mut rng);
        assert!(short >= Duration::from_millis(1_000));
    }
}
