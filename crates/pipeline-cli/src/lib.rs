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
//! let help = pipeline_cli::exit_codes_help(&[(Exit::Refused, "the gate failed")]);
//! assert!(help.contains("\n  1  the step said no"));
//! assert!(help.contains("; the gate failed\n  2  usage"));
//! ```
#![warn(missing_docs)]

use std::io::Write as _;

use std::process::ExitCode;

#[cfg(feature = "http")]
pub mod http;

pub use pipeline_ci::{Classified, Exit};

/// A failure as a binary reports it: the exit code and the message. Every
/// library error converts into one by its type ([`Classified`]), so the code
/// is decided once, where the error is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    exit: Exit,
    message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// A usage, configuration or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// The step said no (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The message, not yet redacted.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same failure, its message led by `context` (`environment qa: …`).
    #[must_use]
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            exit: self.exit,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl<E: Classified> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            exit: e.exit(),
            message: error_chain(&e),
        }
    }
}

/// Turns what failed in a binary's own work (a file it writes, a flag it
/// checks) into a usage [`Failure`] that says where.
pub trait OrUsage<T> {
    /// The failure, led by `context` (`--baseline: cannot read x: …`).
    ///
    /// # Errors
    ///
    /// A usage [`Failure`] when `self` holds none.
    fn or_usage(self, context: impl std::fmt::Display) -> Result<T, Failure>;

    /// As [`OrUsage::or_usage`], the context made only when needed.
    ///
    /// # Errors
    ///
    /// A usage [`Failure`] when `self` holds none.
    fn or_usage_with<C: std::fmt::Display>(self, context: impl FnOnce() -> C)
    -> Result<T, Failure>;
}

impl<T, E: std::fmt::Display> OrUsage<T> for Result<T, E> {
    fn or_usage(self, context: impl std::fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::usage(format!("{context}: {e}")))
    }

    fn or_usage_with<C: std::fmt::Display>(
        self,
        context: impl FnOnce() -> C,
    ) -> Result<T, Failure> {
        self.map_err(|e| Failure::usage(format!("{}: {e}", context())))
    }
}

impl<T> OrUsage<T> for Option<T> {
    fn or_usage(self, context: impl std::fmt::Display) -> Result<T, Failure> {
        self.ok_or_else(|| Failure::usage(context.to_string()))
    }

    fn or_usage_with<C: std::fmt::Display>(
        self,
        context: impl FnOnce() -> C,
    ) -> Result<T, Failure> {
        self.ok_or_else(|| Failure::usage(context().to_string()))
    }
}

/// The exit-code section of a binary's `--help`: the shared table, each
/// code followed by what this binary adds about it.
pub fn exit_codes_help(specifics: &[(Exit, &str)]) -> String {
    let mut s = String::from("Exit codes:");
    for (exit, meaning) in Exit::TABLE {
        s.push_str(&format!("\n  {}  {meaning}", exit.code()));
        for (e, more) in specifics {
            if *e == exit {
                s.push_str(&format!("; {more}"));
            }
        }
    }
    s
}

/// The text after a command's `--help`: what to know, examples (one
/// command line each), and the exit codes with what this command adds.
pub fn after_help(about: &str, examples: &[&str], specifics: &[(Exit, &str)]) -> String {
    let mut s = String::new();
    if !about.is_empty() {
        s.push_str(about);
        s.push_str("\n\n");
    }
    if !examples.is_empty() {
        s.push_str("Examples:");
        for e in examples {
            s.push_str("\n  ");
            s.push_str(e);
        }
        s.push_str("\n\n");
    }
    s.push_str(&exit_codes_help(specifics));
    s
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

/// What every binary does first and last: take the environment once, find
/// the secrets among it, mask them inside GitHub Actions, log with them
/// redacted; at the end, print a failure (redacted) and give the exit code.
#[derive(Debug)]
pub struct Session {
    env: pipeline_ci::Env,
    secrets: Vec<pipeline_ci::Secret>,
}

impl Session {
    /// Starts a binary: `lists` are the names of the variables that hold
    /// secrets, as the libraries it uses export them (`SECRET_VARS`).
    /// Inside Actions each secret is masked with `::add-mask::` on stderr
    /// (the runner reads workflow commands there too, and stdout stays one
    /// JSON document with `--json`).
    pub fn start(verbose: u8, lists: &[&[&str]]) -> Self {
        let env = pipeline_ci::Env::from_vars(std::env::vars());
        let mut names: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        names.sort_unstable();
        names.dedup();
        let secrets: Vec<pipeline_ci::Secret> = names
            .iter()
            .filter_map(|n| env.get_secret(n))
            .filter(|s| !s.expose().is_empty())
            .collect();
        if env.is_github_actions() {
            let mut err = std::io::stderr().lock();
            for s in &secrets {
                let _ = writeln!(err, "{}", pipeline_ci::add_mask(s));
            }
        }
        init_logging_redacted(verbose, secrets.clone());
        Self { env, secrets }
    }

    /// The environment, as it was when the binary started.
    pub fn env(&self) -> &pipeline_ci::Env {
        &self.env
    }

    /// The secrets found.
    pub fn secrets(&self) -> &[pipeline_ci::Secret] {
        &self.secrets
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let refs: Vec<&pipeline_ci::Secret> = self.secrets.iter().collect();
        pipeline_ci::redact(text, &refs)
    }

    /// Prints a failure as `error: …` on stderr, redacted, and gives the
    /// process's exit code.
    pub fn finish(&self, result: Result<Exit, Failure>) -> ExitCode {
        match result {
            Ok(exit) => exit.into(),
            Err(failure) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: {}",
                    self.redact(failure.message())
                );
                failure.exit().into()
            }
        }
    }
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
