//! What long waits report, for the binary to show: a line on a terminal,
//! a periodic line in CI. The library only emits events.

use std::time::Duration;

/// One thing worth showing during a long wait.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A request failed and will be tried again after `delay`.
    Retry {
        /// The operation.
        op: &'a str,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next one.
        delay: Duration,
        /// Why.
        reason: &'a str,
    },
    /// A long-running operation is still running.
    Poll {
        /// The operation.
        op: &'a str,
        /// The status the service reported.
        status: &'a str,
        /// Time since the operation started.
        elapsed: Duration,
    },
    /// Bytes of an upload sent so far.
    Upload {
        /// The operation.
        op: &'a str,
        /// Bytes sent.
        sent: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Waiting for a condition (a health check, a version to show).
    Wait {
        /// The operation.
        op: &'a str,
        /// What was last seen.
        seen: &'a str,
        /// Time since the wait started.
        elapsed: Duration,
    },
}

/// Receives [`Event`]s. Implementations must be cheap: upload events come
/// for every chunk.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// Called for each event.
    fn event(&self, event: &Event<'_>);
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: &Event<'_>) {}
}
