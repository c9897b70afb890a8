//! The pusher: the loop on the writer's thread that takes a snapshot every interval,
//! queues it, and sends the queue in order.
//!
//! Everything here runs on one thread, in one task of a single-threaded tokio runtime
//! (plus the task that drives the open connection), so the queue needs no lock; the
//! recording threads never see any of it. The loop waits on four things at once: the stop
//! signal, the next tick, the attempt in flight, and the end of a backoff. Snapshots are
//! taken on time whatever the receiver does.
//!
//! The queue holds at most `capacity` snapshots, the one being sent included. A snapshot
//! that finds it full pushes out the oldest, even when that one is in flight: its attempt
//! is abandoned, and the newer snapshots go next. Snapshots leave in the order they were
//! taken, each only once the one before it is delivered or dropped, so every series'
//! timestamps increase from one delivered request to the next.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abacus::Registry;
use hyper::body::Bytes;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::{Client, Target};
use super::encode::{SnapshotEncoder, TooLarge};
use super::metrics::OwnMetrics;
use super::retry::{judge, Backoff, DropReason, Outcome, Verdict};

/// The longest wait a `Retry-After` can impose; longer ones are read as this. The queue
/// keeps dropping its oldest meanwhile, so the only cost of a long wait is data.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// How the pusher behaves; see the matching [`RemoteWriter`](super::RemoteWriter)
/// methods.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) interval: Duration,
    pub(crate) capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) retry_on_429: bool,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

/// A queued snapshot.
struct Batch {
    /// Tells the batch in flight apart from the others.
    id: u64,
    body: Bytes,
    samples: u64,
}

/// An attempt in flight. It owns the client while it runs and hands it back with the
/// outcome, so that the connection outlives the attempt.
struct InFlight {
    id: u64,
    attempt: Pin<Box<dyn Future<Output = (Client, Outcome)> + Send>>,
}

/// What a shutdown could not deliver before its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unsent {
    pub(crate) snapshots: usize,
    pub(crate) samples: u64,
}

pub(crate) struct Pusher {
    registry: Registry,
    encoder: SnapshotEncoder,
    metrics: OwnMetrics,
    target: Arc<Target>,
    settings: Settings,
    queue: VecDeque<Batch>,
    next_id: u64,
    backoff: Backoff,
    /// The client while no attempt holds it; `None` also after an attempt was abandoned,
    /// taking its connection with it.
    client: Option<Client>,
    in_flight: Option<InFlight>,
    /// When the next attempt may start, while backing off.
    resume_at: Option<Instant>,
}

impl Pusher {
    pub(crate) fn new(
        registry: Registry,
        encoder: SnapshotEncoder,
        metrics: OwnMetrics,
        target: Arc<Target>,
        settings: Settings,
    ) -> Self {
        Pusher {
            registry,
            encoder,
            metrics,
            backoff: Backoff::new(settings.min_backoff, settings.max_backoff),
            client: Some(Client::new(target.clone())),
            target,
            settings,
            queue: VecDeque::new(),
            next_id: 0,
            in_flight: None,
            resume_at: None,
        }
    }

    /// Pushes until `stop` says by when the last snapshot must be out (or its sender is
    /// dropped, which means now), then flushes.
    pub(crate) async fn run(mut self, mut stop: oneshot::Receiver<std::time::Instant>) -> Unsent {
        let first = Instant::now() + self.settings.interval;
        let mut ticker = tokio::time::interval_at(first, self.settings.interval);
        // A tick missed because a snapshot took long is taken late, not twice.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let deadline = loop {
            self.start_attempt(None);
            tokio::select! {
                biased;
                deadline = &mut stop => {
                    break deadline.map_or_else(|_| Instant::now(), Instant::from_std);
                }
                _ = ticker.tick() => self.take_snapshot(),
                (client, outcome) = attempt(&mut self.in_flight) => self.settle(client, outcome),
                () = wait_until(self.resume_at) => self.resume_at = None,
            }
        };
        self.flush(deadline).await
    }

    /// Takes the last snapshot and sends what is queued until the queue is empty or the
    /// deadline passes; what is left is counted as dropped.
    async fn flush(mut self, deadline: Instant) -> Unsent {
        self.take_snapshot();
        while !self.queue.is_empty() && Instant::now() < deadline {
            if let Some(at) = self.resume_at {
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
                self.resume_at = None;
            }
            self.start_attempt(Some(deadline));
            match tokio::time::timeout_at(deadline, attempt(&mut self.in_flight)).await {
                Ok((client, outcome)) => self.settle(client, outcome),
                Err(_elapsed) => break,
            }
        }
        if self.in_flight.take().is_some() {
            self.metrics.abandoned();
        }
        let unsent = Unsent {
            snapshots: self.queue.len(),
            samples: self.queue.iter().map(|batch| batch.samples).sum(),
        };
        for batch in self.queue.drain(..) {
            self.metrics.dropped(DropReason::Shutdown, batch.samples);
        }
        self.metrics.queue_length(0);
        unsent
    }

    /// Starts sending the oldest snapshot, unless an attempt is under way, a backoff is
    /// running or nothing is queued. A `deadline` shortens the request timeout to it.
    fn start_attempt(&mut self, deadline: Option<Instant>) {
        if self.in_flight.is_some() || self.resume_at.is_some() {
            return;
        }
        let Some(batch) = self.queue.front() else {
            return;
        };
        let mut client = self
            .client
            .take()
            .unwrap_or_else(|| Client::new(self.target.clone()));
        let timeout = match deadline {
            Some(deadline) => self
                .settings
                .timeout
                .min(deadline.saturating_duration_since(Instant::now())),
            None => self.settings.timeout,
        };
        let body = batch.body.clone();
        self.in_flight = Some(InFlight {
            id: batch.id,
            attempt: Box::pin(async move {
                let outcome = client.send(body, timeout).await;
                (client, outcome)
            }),
        });
    }

    /// Reads the registry into a new snapshot at the back of the queue, pushing out the
    /// oldest when the queue is full.
    fn take_snapshot(&mut self) {
        match self.encoder.encode(&self.registry, unix_millis()) {
            Ok(encoded) => {
                while self.queue.len() >= self.settings.capacity {
                    let Some(oldest) = self.queue.pop_front() else {
                        break;
                    };
                    if self.in_flight.as_ref().is_some_and(|f| f.id == oldest.id) {
                        // Dropping the attempt closes its connection.
                        self.in_flight = None;
                        self.metrics.abandoned();
                    }
                    self.metrics.dropped(DropReason::QueueFull, oldest.samples);
                }
                self.queue.push_back(Batch {
                    id: self.next_id,
                    body: encoded.body,
                    samples: encoded.samples,
                });
                self.next_id += 1;
            }
            Err(TooLarge { samples }) => self.metrics.dropped(DropReason::Encode, samples),
        }
        self.metrics.queue_length(self.queue.len());
    }

    /// Acts on the outcome of the attempt that just ended, which was for the oldest
    /// snapshot: a snapshot pushed out of the queue takes its attempt with it.
    fn settle(&mut self, client: Client, outcome: Outcome) {
        self.in_flight = None;
        self.client = Some(client);
        self.metrics.request(outcome);
        match judge(outcome, self.settings.retry_on_429) {
            Verdict::Delivered => {
                if let Some(batch) = self.queue.pop_front() {
                    self.metrics.sent(batch.samples);
                }
                self.backoff.reset();
            }
            Verdict::Drop(reason) => {
                if let Some(batch) = self.queue.pop_front() {
                    self.metrics.dropped(reason, batch.samples);
                }
                // The receiver answered: it is up, only this request was wrong.
                self.backoff.reset();
            }
            Verdict::Retry { not_before } => {
                let backoff = self.backoff.fail(fastrand::f64());
                let wait = not_before.map_or(backoff, |at_least| backoff.max(at_least));
                self.resume_at = Some(Instant::now() + wait.min(MAX_WAIT));
            }
        }
        self.metrics.queue_length(self.queue.len());
    }
}

/// The outcome of the attempt in flight; never ready while there is none.
async fn attempt(in_flight: &mut Option<InFlight>) -> (Client, Outcome) {
    match in_flight {
        Some(in_flight) => in_flight.attempt.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Ready at `at`; never without it.
async fn wait_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Now, in milliseconds since the Unix epoch; 0 for a clock set before it.
fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
