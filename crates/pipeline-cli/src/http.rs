//! The HTTP client of the binaries that call services, and how their long
//! waits show: a line rewritten in place on a terminal, a periodic line in
//! CI logs.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pipeline_http::{Event, Http, Progress};

/// The reqwest client every binary uses: rustls with the ring provider and
/// the platform's roots, a connect timeout, a user agent naming the binary.
/// Redirects are not followed. Operation deadlines are set per request by
/// `pipeline-http`.
pub fn client(binary: &str) -> Result<reqwest::Client, reqwest::Error> {
    // Installing twice is harmless: the second call reports the first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(format!("{binary}/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .pool_idle_timeout(Duration::from_secs(60))
        // No redirects: every URL is checked before a token goes to it, and
        // the services called answer where they are asked.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// The current-thread runtime the step binaries that call services run
/// on; `None` (after saying why on stderr) when it cannot start.
pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot start the runtime: {e}");
            None
        }
    }
}

/// The HTTP core of `binary`'s targets: [`client`], with its waits and
/// retries shown by `progress`.
///
/// # Errors
///
/// When the TLS back end cannot be set up.
pub fn http(
    binary: &str,
    progress: std::sync::Arc<StderrProgress>,
) -> Result<Http, reqwest::Error> {
    Ok(Http::new(client(binary)?).with_progress(progress))
}

/// Shows [`Event`]s on stderr: on a terminal one line rewritten in place;
/// elsewhere (CI logs) a line per retry and at most one progress line per
/// `every` for each kind of wait.
#[derive(Debug)]
pub struct StderrProgress {
    secrets: Vec<pipeline_ci::Secret>,
    terminal: bool,
    every: Duration,
    last: Mutex<Option<(String, Instant)>>,
}

impl StderrProgress {
    /// Progress on stderr.
    pub fn new() -> Self {
        Self {
            secrets: Vec::new(),
            terminal: std::io::stderr().is_terminal(),
            every: Duration::from_secs(15),
            last: Mutex::new(None),
        }
    }

    /// Replaces `secrets` with `***` in every line shown (a service may
    /// quote what it was sent).
    pub fn with_secrets(mut self, secrets: Vec<pipeline_ci::Secret>) -> Self {
        self.secrets = secrets;
        self
    }

    fn redact(&self, line: &str) -> String {
        let refs: Vec<&pipeline_ci::Secret> = self.secrets.iter().collect();
        pipeline_ci::redact(line, &refs)
    }

    fn show(&self, key: &str, line: &str) {
        let line = self.redact(line);
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            *last = Some((key.to_owned(), Instant::now()));
            return;
        }
        let due = match last.as_ref() {
            Some((k, at)) => k != key || at.elapsed() >= self.every,
            None => true,
        };
        if due {
            let _ = writeln!(err, "{line}");
            *last = Some((key.to_owned(), Instant::now()));
        }
    }

    /// Ends the in-place line on a terminal (call before other output).
    pub fn finish(&self) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.terminal && last.take().is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// `op: 12.5 of 40.0 MiB (31%)`, in the unit that fits the total: bytes
/// under 1 KiB, KiB under 1 MiB, MiB above.
fn upload_line(op: &str, sent: u64, total: u64) -> String {
    let pct = sent.saturating_mul(100).checked_div(total).unwrap_or(100);
    let amount = if total < 1024 {
        format!("{sent} of {total} bytes")
    } else if total < 1024 * 1024 {
        format!(
            "{:.1} of {:.1} KiB",
            sent as f64 / 1024.0,
            total as f64 / 1024.0
        )
    } else {
        format!(
            "{:.1} of {:.1} MiB",
            sent as f64 / 1_048_576.0,
            total as f64 / 1_048_576.0
        )
    };
    format!("{op}: {amount} ({pct}%)")
}

fn secs(d: Duration) -> String {
    format!("{:.0}s", d.as_secs_f64())
}

impl Progress for StderrProgress {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Retry {
                op,
                attempt,
                delay,
                reason,
            } => {
                self.finish();
                let line = self.redact(&format!(
                    "{op}: attempt {attempt} failed ({reason}); retrying in {:.1}s",
                    delay.as_secs_f64()
                ));
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            Event::Poll {
                op,
                status,
                elapsed,
            } => self.show(op, &format!("{op}: {status} ({})", secs(*elapsed))),
            Event::Upload { op, sent, total } => {
                self.show(op, &upload_line(op, *sent, *total));
            }
            Event::Wait { op, seen, elapsed } => {
                self.show(op, &format!("{op}: {seen} ({})", secs(*elapsed)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_amounts_in_a_unit_that_shows_them() {
        assert_eq!(upload_line("up", 115, 115), "up: 115 of 115 bytes (100%)");
        assert_eq!(upload_line("up", 0, 0), "up: 0 of 0 bytes (100%)");
        assert_eq!(
            upload_line("up", 3 * 1024, 12 * 1024),
            "up: 3.0 of 12.0 KiB (25%)"
        );
        assert_eq!(
            upload_line("up", 5 << 20, 40 << 20),
            "up: 5.0 of 40.0 MiB (12%)"
        );
    }
}
