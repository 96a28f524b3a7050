//! The connections of the agent's listeners (the fronts and the admin
//! API): how many each may hold, how long one may take to send a request's
//! head or sit idle between requests, and what happens when there are too
//! many.
//!
//! Every connection is in one of three phases: **idle** (waiting for a
//! request, nothing of it received), **head** (part of a request's head
//! received) and **busy** (a request is being answered). An idle connection
//! is closed after [`ConnLimits::idle_timeout`]; one whose head takes longer
//! than [`ConnLimits::header_timeout`] is closed. A listener at its cap (or
//! the fronts together at theirs) closes its oldest connection that is not
//! busy before accepting another, as nginx reuses its idle connections, so
//! a flood of connections that send nothing (or half a head) never locks
//! out a client that sends a request; when every connection is busy, new
//! ones wait in the listen queue. A busy connection is never closed by any
//! of this: a request that started is answered.
//!
//! Out of file descriptors (`EMFILE`), an accept closes the 16 oldest idle
//! connections of any listener and tries again once one is gone; with none
//! idle, and for other accept errors, it backs off (10 ms, doubling to
//! 1 s). Accept errors are logged at most once per [`LOG_EVERY`], with the
//! count of those not logged.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// How many idle connections an accept that ran out of file descriptors
/// closes.
const EVICT_BATCH: usize = 16;

/// How often accept errors are logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Timeouts of a listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From the first byte of a request's head to its end.
    pub header_timeout: Duration,
    /// Between requests (and before the first), with nothing received.
    pub idle_timeout: Duration,
}

impl Default for ConnLimits {
    /// 10 s for a head, 60 s idle.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

const IDLE: u64 = 0;
const HEAD: u64 = 1;
const BUSY: u64 = 2;
const CLOSING: u64 = 3;
const KIND_SHIFT: u32 = 62;
const TIME_MASK: u64 = (1 << KIND_SHIFT) - 1;

/// Milliseconds since the first call, to stamp phases.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(TIME_MASK) & TIME_MASK
}

fn pack(kind: u64, ms: u64) -> u64 {
    (kind << KIND_SHIFT) | (ms & TIME_MASK)
}

fn unpack(phase: u64) -> (u64, u64) {
    (phase >> KIND_SHIFT, phase & TIME_MASK)
}

/// One connection's phase, shared by its task, its service and the
/// tracker.
#[derive(Debug)]
pub struct ConnState {
    phase: AtomicU64,
    close: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            phase: AtomicU64::new(pack(IDLE, now_ms())),
            close: Notify::new(),
        }
    }

    /// Bytes arrived: an idle connection is now receiving a head.
    fn received(&self) {
        let phase = self.phase.load(Ordering::Relaxed);
        if unpack(phase).0 == IDLE {
            let _ = self.phase.compare_exchange(
                phase,
                pack(HEAD, now_ms()),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// A request's head is in: the connection is busy until its answer
    /// has been sent.
    pub fn busy(&self) {
        self.phase.store(pack(BUSY, 0), Ordering::Release);
    }

    /// The answer has been sent: idle from now.
    pub fn idle(&self) {
        let phase = self.phase.load(Ordering::Relaxed);
        if unpack(phase).0 == BUSY {
            let _ = self.phase.compare_exchange(
                phase,
                pack(IDLE, now_ms()),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// When to look again, and whether the connection has overstayed.
    fn check(&self, limits: &ConnLimits) -> Result<Duration, ()> {
        let (kind, since) = unpack(self.phase.load(Ordering::Acquire));
        let now = now_ms();
        let header = limits.header_timeout;
        let left = |limit: Duration| {
            let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            match since.saturating_add(limit).checked_sub(now) {
                Some(0) | None => Err(()),
                Some(ms) => Ok(Duration::from_millis(ms)),
            }
        };
        match kind {
            // A head may start at any moment: look at least as often as a
            // head may take.
            IDLE => left(limits.idle_timeout).map(|d| d.min(header)),
            HEAD => left(header),
            BUSY => Ok(header),
            _ => Err(()),
        }
    }
}

/// A listener's share: its name (for the logs) and its cap.
#[derive(Debug)]
pub struct Group {
    id: u64,
    name: String,
    cap: usize,
    front: bool,
    count: AtomicUsize,
}

impl Group {
    /// Its connections now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
struct Entry {
    group: u64,
    front: bool,
    state: Arc<ConnState>,
}

/// Every connection of the agent's listeners.
#[derive(Debug)]
pub struct Tracker {
    conns: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    fronts: AtomicUsize,
    front_cap: usize,
    freed: Notify,
}

impl Tracker {
    /// A tracker where the fronts together hold at most `front_cap`
    /// connections.
    pub fn new(front_cap: usize) -> Arc<Self> {
        Arc::new(Self {
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            fronts: AtomicUsize::new(0),
            front_cap: front_cap.max(1),
            freed: Notify::new(),
        })
    }

    /// A listener of at most `cap` connections; a front's also count
    /// towards the fronts' cap.
    pub fn group(&self, name: &str, cap: usize, front: bool) -> Arc<Group> {
        Arc::new(Group {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            cap: cap.max(1),
            front,
            count: AtomicUsize::new(0),
        })
    }

    /// The fronts' connections now.
    pub fn front_count(&self) -> usize {
        self.fronts.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the oldest connection that is not busy, among those `pick`
    /// accepts, to close. Whether one was asked.
    fn evict(&self, pick: impl Fn(&Entry) -> bool) -> bool {
        let conns = self.lock();
        let mut candidates: Vec<(u64, u64, &Entry)> = conns
            .values()
            .filter(|e| pick(e))
            .filter_map(|e| {
                let phase = e.state.phase.load(Ordering::Acquire);
                let (kind, since) = unpack(phase);
                matches!(kind, IDLE | HEAD).then_some((since, phase, e))
            })
            .collect();
        candidates.sort_by_key(|(since, ..)| *since);
        for (_, phase, entry) in candidates {
            if entry
                .state
                .phase
                .compare_exchange(phase, pack(CLOSING, 0), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                entry.state.close.notify_one();
                return true;
            }
        }
        false
    }

    /// Closes the oldest connection that is not busy, a front's first
    /// (the system is out of file descriptors).
    pub fn evict_any(&self) -> bool {
        self.evict(|e| e.front) || self.evict(|_| true)
    }

    /// Returns once `group` may accept one more connection: at its cap (or
    /// the fronts at theirs), the oldest connection that is not busy is
    /// closed first; when all are busy, waits until one ends.
    pub async fn admit(&self, group: &Group) {
        loop {
            let freed = self.freed.notified();
            let mut freed = pin!(freed);
            freed.as_mut().enable();
            let over_group = group.count() >= group.cap;
            let over_fronts = group.front && self.front_count() >= self.front_cap;
            if !over_group && !over_fronts {
                return;
            }
            let _ = if over_group {
                self.evict(|e| e.group == group.id)
            } else {
                self.evict(|e| e.front)
            };
            // The closed connection says so; a look now and then in case a
            // closing one turned busy meanwhile.
            let _ = tokio::time::timeout(Duration::from_millis(50), freed).await;
        }
    }

    /// Records a new connection of `group`.
    pub fn register(self: &Arc<Self>, group: &Arc<Group>) -> ConnHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new());
        group.count.fetch_add(1, Ordering::AcqRel);
        if group.front {
            self.fronts.fetch_add(1, Ordering::AcqRel);
        }
        self.lock().insert(
            id,
            Entry {
                group: group.id,
                front: group.front,
                state: Arc::clone(&state),
            },
        );
        ConnHandle {
            tracker: Arc::clone(self),
            group: Arc::clone(group),
            id,
            state,
        }
    }
}

/// A connection as the tracker knows it; dropping it says it closed.
#[derive(Debug)]
pub struct ConnHandle {
    tracker: Arc<Tracker>,
    group: Arc<Group>,
    id: u64,
    state: Arc<ConnState>,
}

impl ConnHandle {
    /// Its phase.
    pub fn state(&self) -> &Arc<ConnState> {
        &self.state
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.tracker.lock().remove(&self.id);
        self.group.count.fetch_sub(1, Ordering::AcqRel);
        if self.group.front {
            self.tracker.fronts.fetch_sub(1, Ordering::AcqRel);
        }
        self.tracker.freed.notify_waiters();
    }
}

/// A connection being served (boxed: the compiler cannot prove a generic
/// hyper connection `Send` through [`drive`]).
pub type Serving = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// Runs `conn` (a hyper connection) until it ends, its phase overstays its
/// timeout, or the tracker asks it to close while it is not busy; then
/// drops it, which closes the socket.
pub async fn drive(mut conn: Serving, state: &ConnState, limits: ConnLimits) {
    loop {
        let Ok(wait) = state.check(&limits) else {
            return;
        };
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            () = state.close.notified() => {
                if unpack(state.phase.load(Ordering::Acquire)).0 == CLOSING {
                    return;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A socket that tells its connection's phase when bytes arrive.
#[derive(Debug)]
pub struct TrackedIo {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl TrackedIo {
    /// `inner`, reporting to `state`.
    pub fn new(inner: TcpStream, state: Arc<ConnState>) -> Self {
        Self { inner, state }
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.received();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A reply body that marks its connection idle once it is sent (or
/// dropped).
#[derive(Debug)]
pub struct Tracked<B> {
    inner: B,
    state: Arc<ConnState>,
}

impl<B> Tracked<B> {
    /// `inner`, for the connection of `state`.
    pub fn new(inner: B, state: Arc<ConnState>) -> Self {
        Self { inner, state }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.state.idle();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Says whether to log now: at most once per `every`, counting what was
/// not logged.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// At most once per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// One more event at `now`: `Some(n)` to log it, with `n` events not
    /// logged since the last one that was; `None` to keep quiet.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The listen queue of the agent's listeners: a burst of connections
/// (a flood, a load balancer's reconnects) waits there instead of having
/// its SYNs dropped and retried a second later, as with the 128 the
/// standard library and Tokio ask for.
pub const BACKLOG: u32 = 1024;

/// Listens on `addr` with a queue of [`BACKLOG`] (the system caps it at
/// `net.core.somaxconn`).
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Whether `e` says the process (or the system) has no file descriptor
/// left.
pub(crate) fn out_of_descriptors(e: &std::io::Error) -> bool {
    let raw = e.raw_os_error();
    raw == Some(rustix::io::Errno::MFILE.raw_os_error())
        || raw == Some(rustix::io::Errno::NFILE.raw_os_error())
}

/// Accepts connections on `listener` for `group` until `stop` turns true
/// (or forever without one), handing each to `serve` with its handle.
pub async fn accept_loop<S>(
    listener: TcpListener,
    tracker: Arc<Tracker>,
    group: Arc<Group>,
    mut stop: Option<watch::Receiver<bool>>,
    serve: S,
) where
    S: Fn(TcpStream, SocketAddr, ConnHandle),
{
    let stopped = |stop: &mut Option<watch::Receiver<bool>>| {
        let stop = stop.clone();
        async move {
            match stop {
                Some(mut rx) => {
                    let _ = rx.wait_for(|s| *s).await;
                }
                None => std::future::pending().await,
            }
        }
    };
    let mut throttle = Throttle::new(LOG_EVERY);
    let mut backoff = Duration::from_millis(10);
    loop {
        tokio::select! {
            () = tracker.admit(&group) => {}
            () = stopped(&mut stop) => return,
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                let handle = tracker.register(&group);
                serve(stream, peer, handle);
            }
            Err(e) => {
                let out = out_of_descriptors(&e);
                let freed = tracker.freed.notified();
                let mut freed = pin!(freed);
                freed.as_mut().enable();
                // Room for a burst, not only for the one connection.
                let evicted = if out {
                    (0..EVICT_BATCH).take_while(|_| tracker.evict_any()).count()
                } else {
                    0
                };
                if let Some(suppressed) = throttle.hit(Instant::now()) {
                    let more = if suppressed > 0 {
                        format!(" ({suppressed} more since the last report)")
                    } else {
                        String::new()
                    };
                    if out {
                        tracing::warn!(
                            "{}: cannot accept a connection: {e}{more}; {} connections open \
                             there, {} on the fronts; {}",
                            group.name,
                            group.count(),
                            tracker.front_count(),
                            if evicted > 0 {
                                "closing the oldest idle ones"
                            } else {
                                "none idle: backing off"
                            }
                        );
                    } else {
                        tracing::warn!(
                            "{}: cannot accept a connection: {e}{more}; backing off",
                            group.name
                        );
                    }
                }
                if evicted > 0 {
                    // Accept again as soon as one is gone.
                    tokio::select! {
                        _ = tokio::time::timeout(Duration::from_millis(50), freed) => {}
                        () = stopped(&mut stop) => return,
                    }
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stopped(&mut stop) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_says_once_per_interval_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(t.hit(start), Some(0));
        for ms in [1, 500, 9_999] {
            assert_eq!(t.hit(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(t.hit(start + Duration::from_secs(10)), Some(3));
        assert_eq!(t.hit(start + Duration::from_secs(11)), None);
        assert_eq!(t.hit(start + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn phases_and_their_deadlines() {
        let limits = ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let s = ConnState::new();
        // Idle: looked at again within a head's time.
        assert!(s.check(&limits).unwrap() <= Duration::from_secs(10));
        s.received();
        assert_eq!(unpack(s.phase.load(Ordering::Relaxed)).0, HEAD);
        s.busy();
        assert_eq!(s.check(&limits), Ok(Duration::from_secs(10)));
        // Bytes while busy change nothing.
        s.received();
        assert_eq!(unpack(s.phase.load(Ordering::Relaxed)).0, BUSY);
        s.idle();
        assert_eq!(unpack(s.phase.load(Ordering::Relaxed)).0, IDLE);
        // Overstayed: a head started long ago.
        s.phase.store(pack(HEAD, 0), Ordering::Relaxed);
        let _ = now_ms();
        std::thread::sleep(Duration::from_millis(5));
        let tight = ConnLimits {
            header_timeout: Duration::from_millis(1),
            idle_timeout: Duration::from_millis(1),
        };
        assert!(s.check(&tight).is_err());
        s.phase.store(pack(CLOSING, 0), Ordering::Relaxed);
        assert!(s.check(&limits).is_err());
    }

    #[tokio::test]
    async fn eviction_takes_the_oldest_that_is_not_busy() {
        let tracker = Tracker::new(3);
        let front = tracker.group("front", 10, true);
        let a = tracker.register(&front);
        std::thread::sleep(Duration::from_millis(3));
        let b = tracker.register(&front);
        std::thread::sleep(Duration::from_millis(3));
        let c = tracker.register(&front);
        a.state().busy();
        // The fronts are at their cap: b, the oldest not busy, is asked.
        assert!(tracker.evict(|e| e.front));
        assert_eq!(unpack(b.state().phase.load(Ordering::Relaxed)).0, CLOSING);
        assert_eq!(unpack(c.state().phase.load(Ordering::Relaxed)).0, IDLE);
        assert_eq!(unpack(a.state().phase.load(Ordering::Relaxed)).0, BUSY);
        drop(b);
        assert_eq!(front.count(), 2);
        tracker.admit(&front).await;
        // Only busy ones left (and c): c goes, then nothing can.
        assert!(tracker.evict_any());
        c.state().busy();
        assert!(!tracker.evict_any());
        drop((a, c));
        assert_eq!(tracker.front_count(), 0);
    }
}
