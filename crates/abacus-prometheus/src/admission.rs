//! Which connections the `/metrics` server keeps when more clients come than it serves at
//! once.
//!
//! A place is taken from when a connection is accepted until it closes. When every place
//! is taken, the connection that has waited longest for a request gives up its place to
//! the newcomer, once it has waited [`DISPLACEABLE_AFTER`]: a client that connects and
//! sends nothing, one that trickles its request, and one that stopped reading its answers
//! all wait for a request in this sense, and none of them can keep a scraper out for
//! longer than that. Waiting is counted from the connection's first turn on the runtime
//! (not from its accept, so that a connection queued behind slow renderings is not judged
//! by the server's delay) and again from each answer.
//!
//! If no connection has waited that long, a newcomer whose request arrives whole within
//! [`NEWCOMER_GRACE`] waits for a place; one that sends less is answered `503` and closed.
//! The second rule keeps the listen backlog moving: without it, every silent client queued
//! ahead of a scraper would take its turn at holding a place for a while. The grace covers
//! a scraper accepted between its connect and its write; it costs a scraper queued behind
//! silent clients at most the backlog's length (128 with std's listener) times the grace.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::futures::Notified;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// How long a connection may wait for a request and still keep its place when a newcomer
/// needs it. Scrapers send their request as soon as they connect: a connection that has
/// waited this long sits idle between scrapes, or its client is slow or stuck.
const DISPLACEABLE_AFTER: Duration = Duration::from_secs(1);

/// How long a newcomer that finds every place taken has to send its whole request.
const NEWCOMER_GRACE: Duration = Duration::from_millis(20);

/// The answer to a newcomer turned away. Sent before its request is read, as HTTP allows.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: text/plain; charset=utf-8\r\n\
    content-length: 21\r\n\
    retry-after: 1\r\n\
    connection: close\r\n\
    \r\n\
    too many connections\n";

/// The open connections, at most `max` of them.
pub(crate) struct Connections {
    max: usize,
    table: Mutex<Table>,
    /// Wakes the accept loop when a connection closes or takes its first turn.
    changed: Notify,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Place>,
}

struct Place {
    /// Since when the connection has waited for a request; `None` before its first turn.
    waiting_since: Option<Instant>,
    /// Dropping it closes the connection.
    _keep: oneshot::Sender<()>,
}

/// A connection's hold on its place; dropping it gives the place up.
pub(crate) struct Ticket {
    connections: Arc<Connections>,
    id: u64,
}

impl Connections {
    pub(crate) fn new(max: usize) -> Self {
        Connections {
            max,
            table: Mutex::new(Table::default()),
            changed: Notify::new(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every update leaves the table whole, so a panic elsewhere does not matter here.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more connection if there is room or it can be made, by closing
    /// the connection that has waited longest for a request. Returns whether there is.
    pub(crate) fn make_room(&self) -> bool {
        let mut table = self.table();
        if table.open.len() < self.max {
            return true;
        }
        let now = Instant::now();
        let displaceable = table
            .open
            .iter()
            .filter_map(|(&id, place)| Some((place.waiting_since?, id)))
            .min()
            .filter(|&(since, _)| now.duration_since(since) >= DISPLACEABLE_AFTER);
        match displaceable {
            Some((_, id)) => {
                table.open.remove(&id);
                true
            }
            None => false,
        }
    }

    /// When the connection that has waited longest for a request becomes displaceable;
    /// if none has taken its first turn yet, a while from now (they will have by then, and
    /// [`changed`](Self::changed) resolves when they do).
    pub(crate) fn next_displaceable(&self) -> Instant {
        let longest = self
            .table()
            .open
            .values()
            .filter_map(|place| place.waiting_since)
            .min();
        longest.unwrap_or_else(Instant::now) + DISPLACEABLE_AFTER
    }

    /// Resolves when a connection closes or takes its first turn. A change while nobody
    /// waits is kept (one at most), so none is missed between a look at the table and the
    /// wait that follows it.
    pub(crate) fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    /// Takes a place for a new connection; the receiver completes when it is taken away.
    pub(crate) fn admit(self: &Arc<Self>) -> (Ticket, oneshot::Receiver<()>) {
        let (keep, displaced) = oneshot::channel();
        let mut table = self.table();
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(
            id,
            Place {
                waiting_since: None,
                _keep: keep,
            },
        );
        let ticket = Ticket {
            connections: self.clone(),
            id,
        };
        (ticket, displaced)
    }
}

impl Ticket {
    /// Records that the connection waits for a request from now on: it takes its first
    /// turn, or has just been answered.
    pub(crate) fn waiting_for_request(&self) {
        let first_turn = self
            .connections
            .table()
            .open
            .get_mut(&self.id)
            .map(|place| place.waiting_since.replace(Instant::now()).is_none());
        if first_turn == Some(true) {
            self.connections.changed.notify_one();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.connections.table().open.remove(&self.id);
        self.connections.changed.notify_one();
    }
}

/// Whether a whole request head (up to its blank line) arrives on `stream` within
/// [`NEWCOMER_GRACE`], looked at without taking it from the socket. `peek` is as long as
/// the longest head allowed.
pub(crate) async fn request_arrived(stream: &TcpStream, peek: &mut [u8]) -> bool {
    // `peek` resolves with whatever has arrived, as soon as anything has: a scraper writes
    // its request at once, so what is not whole then is a client that trickles.
    match tokio::time::timeout(NEWCOMER_GRACE, stream.peek(peek)).await {
        Ok(Ok(arrived)) => {
            let head = &peek[..arrived];
            memchr::memmem::find(head, b"\r\n\r\n").is_some()
                || memchr::memmem::find(head, b"\n\n").is_some()
        }
        Ok(Err(_)) | Err(_) => false,
    }
}

/// Answers `503 Service Unavailable` without reading the request, and closes.
pub(crate) fn turn_away(stream: TcpStream) {
    // The socket is non-blocking and nothing has been written to it: the few bytes go out
    // at once, or, to a client already gone, not at all, which is as good.
    if let Ok(mut stream) = stream.into_std() {
        let _ = stream.write_all(BUSY);
    }
}
