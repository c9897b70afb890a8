//! The writer's own metrics, registered in the registry it pushes, so that they are
//! pushed (and scraped) with everything else and carry its namespace and constant labels.

use abacus::{Counter, Desc, Family, Gauge, Registry};

use super::retry::{DropReason, Outcome};

/// The families and the handles the writer keeps.
pub(crate) struct OwnMetrics {
    sent: Counter,
    dropped: Vec<(DropReason, Counter)>,
    requests: Family<Counter>,
    /// Handles already resolved, by status label; a handful at most.
    request_handles: Vec<(RequestEnd, Counter)>,
    queue_length: Gauge,
}

impl OwnMetrics {
    /// Registers the families (or finds them, registered by another writer of the same
    /// registry, whose counts they then share).
    pub(crate) fn register(registry: &Registry) -> Result<Self, abacus::Error> {
        let sent = registry
            .counter(Desc::new(
                "abacus_remote_write_samples_sent_total",
                "Samples a remote-write receiver accepted.",
            ))?
            .with_labels(&[])?;
        let dropped_family = registry.counter(
            Desc::new(
                "abacus_remote_write_samples_dropped_total",
                "Samples the remote-write client gave up on, by reason: queue_full, \
                 rejected (a 4xx), rate_limited (a 429 not retried), shutdown, encode.",
            )
            .labels(["reason"]),
        )?;
        let mut dropped = Vec::with_capacity(DropReason::ALL.len());
        for reason in DropReason::ALL {
            // Resolved now so that every reason shows, at zero, from the first push.
            dropped.push((reason, dropped_family.with_labels(&[reason.label()])?));
        }
        let requests = registry.counter(
            Desc::new(
                "abacus_remote_write_requests_total",
                "Remote-write requests by the receiver's HTTP status, or by how they ended \
                 without one: timeout, error, abandoned.",
            )
            .labels(["status"]),
        )?;
        let queue_length = registry
            .gauge(Desc::new(
                "abacus_remote_write_queue_length",
                "Snapshots waiting to be sent, the one being sent included.",
            ))?
            .with_labels(&[])?;
        Ok(OwnMetrics {
            sent,
            dropped,
            requests,
            request_handles: Vec::new(),
            queue_length,
        })
    }

    pub(crate) fn sent(&self, samples: u64) {
        self.sent.add(samples);
    }

    pub(crate) fn dropped(&self, reason: DropReason, samples: u64) {
        if let Some((_, counter)) = self.dropped.iter().find(|(r, _)| *r == reason) {
            counter.add(samples);
        }
    }

    pub(crate) fn queue_length(&self, length: usize) {
        self.queue_length
            .set(i64::try_from(length).unwrap_or(i64::MAX));
    }

    /// Counts a request by how it ended.
    pub(crate) fn request(&mut self, outcome: Outcome) {
        self.count_request(match outcome {
            Outcome::Answered { status, .. } => RequestEnd::Status(status.as_u16()),
            Outcome::TimedOut => RequestEnd::Timeout,
            Outcome::Failed => RequestEnd::Error,
        });
    }

    /// Counts a request given up on before it ended: its snapshot was pushed out of the
    /// queue, or the shutdown deadline came.
    pub(crate) fn abandoned(&mut self) {
        self.count_request(RequestEnd::Abandoned);
    }

    fn count_request(&mut self, end: RequestEnd) {
        if let Some((_, counter)) = self.request_handles.iter().find(|(e, _)| *e == end) {
            counter.inc();
            return;
        }
        let label = match end {
            RequestEnd::Status(code) => code.to_string(),
            RequestEnd::Timeout => "timeout".to_owned(),
            RequestEnd::Error => "error".to_owned(),
            RequestEnd::Abandoned => "abandoned".to_owned(),
        };
        // Resolving fails only past the family's series limit, which a few hundred HTTP
        // statuses cannot reach; the request then goes uncounted rather than wrong.
        if let Ok(counter) = self.requests.with_labels(&[&label]) {
            counter.inc();
            self.request_handles.push((end, counter));
        }
    }
}

/// The `status` label of `abacus_remote_write_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestEnd {
    /// The HTTP status code answered.
    Status(u16),
    /// No answer within the timeout: `timeout`.
    Timeout,
    /// No connection, or the exchange broke off: `error`.
    Error,
    /// Given up on before it ended: `abandoned`.
    Abandoned,
}
