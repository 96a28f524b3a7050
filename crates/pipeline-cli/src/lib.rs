//! What every pipeline binary shares: the documented exit codes, argument
//! parsing whose errors map to them, and the log set-up.
//!
//! This crate is for the binaries in `bins/` only. Unlike the library crates
//! it installs a logger and reads `NO_COLOR`: that is exactly the glue the
//! house style keeps out of libraries and that every binary would otherwise
//! repeat.
//!
//! ```
//! use std::process::ExitCode;
//! use pipeline_cli::Exit;
//!
//! assert_eq!(ExitCode::from(Exit::Usage), ExitCode::from(2));
//! assert_eq!(Exit::External as u8, 3);
//! ```
#![warn(missing_docs)]

use std::process::ExitCode;

#[cfg(feature = "http")]
pub mod http;

/// The exit codes, the same in every pipeline binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the step succeeded.
    Success = 0,
    /// 1: the step said no (a gate failed, a merge conflicted, the remote
    /// moved, validation failed and was rolled back).
    Refused = 1,
    /// 2: usage, configuration or input error.
    Usage = 2,
    /// 3: an external system failed after retries.
    External = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause
/// whose words the message already holds (errors that embed their source).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// The `-v` flag every binary takes; flatten it into the top-level parser.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Verbosity {
    /// More log output on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Parses the command line. `--help` and `--version` print and give
/// `Err(0)`; a usage error prints clap's message and gives `Err(2)`.
pub fn parse<C: clap::Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            Exit::Usage.into()
        } else {
            Exit::Success.into()
        }
    })
}

/// Logs to stderr: warnings by default, more with each `-v`; colour only on
/// a terminal and never when `NO_COLOR` is set.
pub fn init_logging(verbose: u8) {
    init_logging_redacted(verbose, Vec::new());
}

/// As [`init_logging`], with every occurrence of `secrets` in a log line
/// replaced by `***` (a service may quote what it was sent).
pub fn init_logging_redacted(verbose: u8, secrets: Vec<pipeline_ci::Secret>) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let ansi = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = RedactingStderr(std::sync::Arc::new(secrets));
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The secrets among the environment variables `names` (empty ones left
/// out), to redact from everything a binary prints.
pub fn secrets_from_env(names: &[&str]) -> Vec<pipeline_ci::Secret> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .filter(|v| !v.is_empty())
        .map(pipeline_ci::Secret::new)
        .collect()
}

/// Stderr, with secrets redacted from each write (the formatter writes a
/// whole event at once).
#[derive(Clone)]
struct RedactingStderr(std::sync::Arc<Vec<pipeline_ci::Secret>>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if self.0.is_empty() {
            return err.write(buf);
        }
        let text = String::from_utf8_lossy(buf);
        let refs: Vec<&pipeline_ci::Secret> = self.0.iter().collect();
        err.write_all(pipeline_ci::redact(&text, &refs).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
