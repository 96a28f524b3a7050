//! A command of the user's (the test command, a validation or verification
//! check): `sh -c COMMAND` in a directory, in a process group of its own,
//! within a deadline. When the shell ends, or the deadline passes, the
//! whole group is stopped: nothing it started outlives it, and a background
//! process still holding its output cannot hang the caller.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

/// How long the output is still read once the group has been stopped.
const DRAIN: Duration = Duration::from_secs(2);

/// A command to run.
#[derive(Debug, Clone)]
pub struct UserCommand {
    command: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    capture: bool,
    to_stderr: bool,
}

/// How a command ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ended {
    /// It exited (or was killed by a signal) within its deadline.
    Exited {
        /// Its status.
        status: ExitStatus,
        /// Its stdout then stderr, when captured.
        output: Vec<u8>,
    },
    /// Its deadline passed: the group was killed.
    TimedOut {
        /// What it wrote before, when captured.
        output: Vec<u8>,
    },
}

impl Ended {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Ended::Exited { status, .. } if status.success())
    }

    /// What it wrote, when captured.
    pub fn output(&self) -> &[u8] {
        match self {
            Ended::Exited { output, .. } | Ended::TimedOut { output } => output,
        }
    }
}

impl UserCommand {
    /// `sh -c command` in `dir`, within `timeout`; its output goes where
    /// the caller's goes.
    pub fn new(command: impl Into<String>, dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            dir: dir.into(),
            env: Vec::new(),
            timeout,
            capture: false,
            to_stderr: false,
        }
    }

    /// Sends its stdout to the caller's stderr (when the caller's stdout
    /// carries a document of its own).
    #[must_use]
    pub fn stdout_to_stderr(mut self, yes: bool) -> Self {
        self.to_stderr = yes;
        self
    }

    /// Sets an environment variable for it.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Keeps its stdout and stderr instead of passing them through.
    #[must_use]
    pub fn capture(mut self, yes: bool) -> Self {
        self.capture = yes;
        self
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Runs it to its end or its deadline; see the [module docs](self).
    ///
    /// # Errors
    ///
    /// When the shell cannot be started.
    pub async fn run(&self) -> std::io::Result<Ended> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&self.command)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.capture {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else if self.to_stderr {
            cmd.stdout(stderr_copy()?);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn()?;
        let group = child.id();
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        // Both pipes are read at once: a command that fills one while we
        // wait on the other would hang.
        let collect = async {
            let mut a = Vec::new();
            let mut b = Vec::new();
            let read_out = async {
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_end(&mut a).await;
                }
            };
            let read_err = async {
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_end(&mut b).await;
                }
            };
            tokio::join!(read_out, read_err);
            a.extend_from_slice(&b);
            a
        };
        tokio::pin!(collect);
        let waited = tokio::time::timeout(self.timeout, child.wait()).await;
        // Whatever it left behind in its group goes with it.
        kill_group(group);
        let status = match waited {
            Ok(status) => Some(status?),
            Err(_) => {
                let _ = child.kill().await;
                None
            }
        };
        let output = tokio::time::timeout(DRAIN, &mut collect)
            .await
            .unwrap_or_default();
        Ok(match status {
            Some(status) => Ended::Exited { status, output },
            None => Ended::TimedOut { output },
        })
    }
}

/// A copy of this process's stderr, for a child's stdout.
fn stderr_copy() -> std::io::Result<Stdio> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        Ok(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsHandle as _;
        Ok(Stdio::from(
            std::io::stderr().as_handle().try_clone_to_owned()?,
        ))
    }
}

/// Stops every process of the group `leader` leads.
#[cfg(unix)]
fn kill_group(leader: Option<u32>) {
    let Some(pid) = leader
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The group may be gone already: nothing to do then.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// Without process groups, the child itself is stopped by the caller.
#[cfg(not(unix))]
fn kill_group(_leader: Option<u32>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_status_and_deadline() {
        let dir = std::env::temp_dir();
        let ok = UserCommand::new(
            "echo out; echo err >&2; exit 3",
            &dir,
            Duration::from_secs(20),
        )
        .capture(true)
        .run()
        .await
        .unwrap();
        assert!(!ok.success());
        let text = String::from_utf8_lossy(ok.output()).into_owned();
        assert!(text.contains("out") && text.contains("err"), "{text}");
        assert!(matches!(ok, Ended::Exited { status, .. } if status.code() == Some(3)));

        let env = UserCommand::new("test \"$X\" = y", &dir, Duration::from_secs(20))
            .env("X", "y")
            .run()
            .await
            .unwrap();
        assert!(env.success());

        let slow = UserCommand::new("echo started; sleep 30", &dir, Duration::from_millis(300))
            .capture(true)
            .run()
            .await
            .unwrap();
        assert!(matches!(slow, Ended::TimedOut { .. }), "{slow:?}");
        assert_eq!(slow.output(), b"started\n");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn nothing_it_started_outlives_it() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The shell exits at once, leaving a sleeper that holds its output.
        let ended = UserCommand::new(
            format!("sleep 60 & echo $! > '{}'", pidfile.display()),
            dir.path(),
            Duration::from_secs(20),
        )
        .capture(true)
        .run()
        .await
        .unwrap();
        assert!(ended.success());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed with the group (a zombie at most, until its parent, init,
        // reaps it).
        let mut gone = false;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the background sleeper survived its command");
    }
}
