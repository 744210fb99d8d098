//! The commit pipeline: one authorizer thread owns the engine and decides requests in
//! batches; one committer thread makes each batch durable in a single store
//! transaction (group commit) and only then releases its answers.
//!
//! Batches commit in the order they were decided, so an answer that repeats an
//! earlier one (a duplicate) is never sent before the earlier one is durable. While
//! batch N is being flushed, batch N+1 is being decided: a flush is shared by every
//! request that arrived during the previous one.
//!
//! A failed commit stops the process: the engine's memory has moved past the disk, and
//! continuing would answer from state that was never saved. Nothing uncommitted was
//! acknowledged, so a restart (which rebuilds the engine from the store) loses nothing.

use crate::metrics::Metrics;
use engine::{
    Answer, BatchTotals, Begin, Engine, Forward, ProvisionError, Request, SettleAnswer,
    UpstreamPolicy, UpstreamResult,
};
use model::{Card, Merchant, Terminal, TerminalId, TimestampMs, Write};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;
use store::Store;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the authorizer, across all connections.
pub const QUEUE_DEPTH_MAX: usize = 65_536;
/// Most requests decided into one batch (one durable commit).
pub const BATCH_JOBS_MAX: usize = 4_096;
/// Decided batches waiting to be committed; 1 lets deciding overlap one flush.
const COMMIT_QUEUE_DEPTH: usize = 1;

pub enum Provision {
    Merchant(Merchant),
    Terminal(Terminal),
    Card(Card),
}

/// A question about the engine's state, answered on the authorizer thread.
pub type ReadFn = Box<dyn FnOnce(&Engine) + Send>;

/// Releases a command's result once its batch is durable.
type Release = Box<dyn FnOnce() + Send>;
type CommandFn = Box<dyn FnOnce(&mut Engine, TimestampMs, &mut Vec<Write>) -> Release + Send>;

// Jobs move through a channel by value; boxing the request would add an allocation per
// transaction.
#[allow(clippy::large_enum_variant)]
enum Job {
    Authorize(Request, oneshot::Sender<Answer>),
    Begin(Request, bool, oneshot::Sender<Begin>),
    Finish(Box<Finish>, oneshot::Sender<Answer>),
    Settle {
        terminal: TerminalId,
        key: String,
        totals: BatchTotals,
        reply: oneshot::Sender<SettleAnswer>,
    },
    Provision(Provision, oneshot::Sender<Result<(), ProvisionError>>),
    Read(ReadFn),
    /// Host bookkeeping made durable in decision order (e.g. a pending upstream reversal).
    Meta(Vec<(String, String)>, oneshot::Sender<()>),
    /// A host command on the engine's state (risk control's rules and cases); what it
    /// returns is released after its writes commit.
    Command(CommandFn),
}

struct Finish {
    req: Request,
    forward: Forward,
    result: UpstreamResult,
    policy: UpstreamPolicy,
}

#[allow(clippy::large_enum_variant)]
enum Reply {
    Answer(oneshot::Sender<Answer>, Answer),
    Begin(oneshot::Sender<Begin>, Begin),
    Settle(oneshot::Sender<SettleAnswer>, SettleAnswer),
    Provision(
        oneshot::Sender<Result<(), ProvisionError>>,
        Result<(), ProvisionError>,
    ),
    Done(oneshot::Sender<()>),
    Deferred(Release),
}

struct Batch {
    writes: Vec<Write>,
    replies: Vec<Reply>,
}

#[derive(Debug, thiserror::Error)]
#[error("posguard is shutting down")]
pub struct Closed;

/// The handle connections and the API use to reach the engine.
#[derive(Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Job>,
}

impl Pipeline {
    /// Starts the authorizer and committer threads.
    pub fn start(
        engine: Engine,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        clock: crate::config::Clock,
    ) -> Pipeline {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH_MAX);
        let (commit_tx, commit_rx) = std_mpsc::sync_channel(COMMIT_QUEUE_DEPTH);
        let committer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("posguard-committer".into())
            .spawn(move || run_committer(store, commit_rx, committer_metrics))
            .expect("spawn the committer thread");
        std::thread::Builder::new()
            .name("posguard-authorizer".into())
            .spawn(move || run_authorizer(engine, rx, commit_tx, clock))
            .expect("spawn the authorizer thread");
        Pipeline { tx }
    }

    pub async fn authorize(&self, req: Request) -> Result<Answer, Closed> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Authorize(req, reply))
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Starts a request that may go to the upstream issuer (`routed`).
    pub async fn begin(&self, req: Request, routed: bool) -> Result<Begin, Closed> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Begin(req, routed, reply))
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Records what the upstream said about a forwarded request.
    pub async fn finish(
        &self,
        req: Request,
        forward: Forward,
        result: UpstreamResult,
        policy: UpstreamPolicy,
    ) -> Result<Answer, Closed> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Finish(
            Box::new(Finish {
                req,
                forward,
                result,
                policy,
            }),
            reply,
        );
        self.tx.send(job).await.map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    pub async fn settle(
        &self,
        terminal: TerminalId,
        key: String,
        totals: BatchTotals,
    ) -> Result<SettleAnswer, Closed> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Settle {
                terminal,
                key,
                totals,
                reply,
            })
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    pub async fn provision(&self, what: Provision) -> Result<Result<(), ProvisionError>, Closed> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Provision(what, reply))
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Makes a metadata entry durable, after every decision taken before it.
    pub async fn set_meta(&self, key: String, value: String) -> Result<(), Closed> {
        self.set_metas(vec![(key, value)]).await
    }

    /// Makes several metadata entries durable together: all or none (one batch).
    pub async fn set_metas(&self, entries: Vec<(String, String)>) -> Result<(), Closed> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Job::Meta(entries, reply))
            .await
            .map_err(|_| Closed)?;
        done.await.map_err(|_| Closed)
    }

    /// Runs `f` on the authorizer thread with the engine's state and the batch's writes;
    /// returns its result once those writes are durable.
    pub async fn command<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, TimestampMs, &mut Vec<Write>) -> T + Send + 'static,
    ) -> Result<T, Closed> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Command(Box::new(move |engine, now, writes| {
            let value = f(engine, now, writes);
            Box::new(move || {
                let _ = reply.send(value);
            })
        }));
        self.tx.send(job).await.map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Runs `f` against the engine's current state (which may include decisions whose
    /// commit is still under way).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> Result<T, Closed> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Read(Box::new(move |engine| {
            let _ = reply.send(f(engine));
        }));
        self.tx.send(job).await.map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }
}

fn run_authorizer(
    mut engine: Engine,
    mut rx: mpsc::Receiver<Job>,
    commit_tx: std_mpsc::SyncSender<Batch>,
    clock: crate::config::Clock,
) {
    let mut jobs = Vec::with_capacity(BATCH_JOBS_MAX);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < BATCH_JOBS_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let mut batch = Batch {
            writes: Vec::with_capacity(jobs.len() * 3),
            replies: Vec::with_capacity(jobs.len()),
        };
        for job in jobs.drain(..) {
            decide(&mut engine, job, now, &mut batch);
        }
        if commit_tx.send(batch).is_err() {
            return;
        }
    }
}

fn decide(engine: &mut Engine, job: Job, now: TimestampMs, batch: &mut Batch) {
    match job {
        Job::Authorize(req, reply) => {
            let answer = engine.authorize(&req, now, &mut batch.writes);
            batch.replies.push(Reply::Answer(reply, answer));
        }
        Job::Begin(req, routed, reply) => {
            let begin = engine.begin(&req, routed, now, &mut batch.writes);
            batch.replies.push(Reply::Begin(reply, begin));
        }
        Job::Finish(f, reply) => {
            let Finish {
                req,
                forward,
                result,
                policy,
            } = *f;
            let answer =
                engine.finish_forwarded(&req, forward, result, policy, now, &mut batch.writes);
            batch.replies.push(Reply::Answer(reply, answer));
        }
        Job::Settle {
            terminal,
            key,
            totals,
            reply,
        } => {
            let answer = engine.settle(&terminal, &key, totals, now, &mut batch.writes);
            batch.replies.push(Reply::Settle(reply, answer));
        }
        Job::Provision(what, reply) => {
            let result = match what {
                Provision::Merchant(m) => engine.upsert_merchant(m, &mut batch.writes),
                Provision::Terminal(t) => engine.upsert_terminal(t, &mut batch.writes),
                Provision::Card(c) => engine.upsert_card(c, &mut batch.writes),
            };
            batch.replies.push(Reply::Provision(reply, result));
        }
        Job::Read(f) => f(engine),
        Job::Command(f) => {
            let release = f(engine, now, &mut batch.writes);
            batch.replies.push(Reply::Deferred(release));
        }
        Job::Meta(entries, reply) => {
            // One job's entries land in one batch, and a batch commits all or nothing.
            let writes = entries
                .into_iter()
                .map(|(key, value)| Write::Meta { key, value });
            batch.writes.extend(writes);
            batch.replies.push(Reply::Done(reply));
        }
    }
}

fn run_committer(store: Arc<dyn Store>, rx: std_mpsc::Receiver<Batch>, metrics: Arc<Metrics>) {
    use std::sync::atomic::Ordering::Relaxed;
    for batch in rx {
        if !batch.writes.is_empty() {
            let started = Instant::now();
            let writes = batch.writes.len();
            if let Err(e) = store.commit_owned(batch.writes) {
                tracing::error!(error = %e, writes, "commit a batch of decisions; stopping so that memory and disk cannot disagree");
                eprintln!(
                    "posguard: commit failed ({e}); stopping. Nothing uncommitted was acknowledged; restart to resume."
                );
                std::process::exit(70);
            }
            metrics.commits.fetch_add(1, Relaxed);
            metrics.committed_writes.fetch_add(writes as u64, Relaxed);
            metrics
                .commit_micros_total
                .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        }
        for reply in batch.replies {
            // A receiver that went away (client disconnected) is fine: the decision is durable.
            match reply {
                Reply::Answer(tx, a) => drop(tx.send(a)),
                Reply::Begin(tx, b) => drop(tx.send(b)),
                Reply::Settle(tx, a) => drop(tx.send(a)),
                Reply::Provision(tx, r) => drop(tx.send(r)),
                Reply::Done(tx) => drop(tx.send(())),
                Reply::Deferred(release) => release(),
            }
        }
    }
}
