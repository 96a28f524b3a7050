//! The apps the agent runs: started in their own process group with output
//! to a log file (so they outlive an agent that dies and can be adopted by
//! the next), stopped with SIGTERM then SIGKILL, recognised by pid and
//! start time.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal};

/// How to start an app.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The shell command.
    pub command: String,
    /// Its working directory (the release).
    pub dir: PathBuf,
    /// Its environment, besides the agent's own.
    pub vars: BTreeMap<String, String>,
    /// The log file for stdout and stderr.
    pub log: PathBuf,
}

/// Starts the app: `sh -c COMMAND` in its own process group, stdin from
/// /dev/null, stdout and stderr appended to the log.
pub fn spawn(launch: &Launch) -> std::io::Result<tokio::process::Child> {
    if let Some(parent) = launch.log.parent() {
        fs::create_dir_all(parent)?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)?;
    let err = log.try_clone()?;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&launch.command)
        .current_dir(&launch.dir)
        .envs(&launch.vars)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn()
}

/// The start time of `pid` in clock ticks since boot, from
/// `/proc/PID/stat` (field 22), or `None` when there is no such process.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is the process that started at `ticks` and has not
/// exited (a zombie counts as exited).
pub fn is_running(pid: i32, ticks: Option<u64>) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    if fields.next() == Some("Z") {
        return false;
    }
    match ticks {
        Some(t) => start_ticks(pid) == Some(t),
        None => true,
    }
}

/// Sends `signal` to the process group led by `pid`.
fn signal_group(pid: i32, signal: Signal) {
    // Never the init process, never "every process" (-1).
    if pid <= 1 {
        return;
    }
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(p, signal);
    }
}

/// Stops the process group of `pid`: SIGTERM, then SIGKILL after `grace`.
/// Waits for `child` when it is ours; polls for an adopted process.
pub async fn stop(
    pid: i32,
    ticks: Option<u64>,
    child: Option<&mut tokio::process::Child>,
    grace: Duration,
) {
    if !is_running(pid, ticks) && child.is_none() {
        return;
    }
    signal_group(pid, Signal::TERM);
    match child {
        Some(child) => {
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                signal_group(pid, Signal::KILL);
                let _ = child.wait().await;
            }
        }
        None => {
            let deadline = tokio::time::Instant::now() + grace;
            while is_running(pid, ticks) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if is_running(pid, ticks) {
                signal_group(pid, Signal::KILL);
            }
        }
    }
    // Whatever the app left behind in its group goes too.
    signal_group(pid, Signal::KILL);
}

/// The size at which a log is rotated.
pub const LOG_LIMIT: u64 = 10 << 20;
/// How many rotated logs are kept (`.1` … `.3`).
pub const LOG_KEEP: u32 = 3;

/// Rotates `log` when it is over `limit`: `.2` → `.3`, `.1` → `.2`, a copy
/// to `.1`, then the log truncated in place (the app keeps appending to the
/// same open file).
pub fn rotate(log: &Path, limit: u64) -> std::io::Result<bool> {
    let len = match fs::metadata(log) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if len <= limit {
        return Ok(false);
    }
    let numbered = |n: u32| {
        let mut p = log.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    for n in (1..LOG_KEEP).rev() {
        let from = numbered(n);
        if from.exists() {
            fs::rename(&from, numbered(n + 1))?;
        }
    }
    fs::copy(log, numbered(1))?;
    OpenOptions::new().write(true).open(log)?.set_len(0)?;
    Ok(true)
}

/// The last `lines` lines of `log` (reading at most its last 64 KiB).
pub fn tail(log: &Path, lines: usize) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut f) = fs::File::open(log) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 << 10);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    all[skip..].iter().map(|l| (*l).to_owned()).collect()
}

/// A free port on loopback, as the system picks it.
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawn_logs_and_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/app.log");
        let launch = Launch {
            command: "echo started $GREETING; sleep 30 & sleep 30".into(),
            dir: dir.path().to_path_buf(),
            vars: [("GREETING".to_owned(), "hi".to_owned())].into(),
            log: log.clone(),
        };
        let mut child = spawn(&launch).unwrap();
        let pid = child.id().unwrap() as i32;
        let ticks = start_ticks(pid);
        assert!(ticks.is_some());
        assert!(is_running(pid, ticks));
        assert!(!is_running(pid, ticks.map(|t| t + 1)));
        // Wait for the echo (bounded).
        for _ in 0..200 {
            if fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("started hi")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(tail(&log, 5), ["started hi"]);
        stop(pid, ticks, Some(&mut child), Duration::from_secs(5)).await;
        assert!(!is_running(pid, ticks));
        // The background sleep of the group is gone too (zombies aside:
        // their reaping is their new parent's business).
        let mut alive = live_members(pid);
        for _ in 0..200 {
            if alive.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            alive = live_members(pid);
        }
        assert!(alive.is_empty(), "{alive:?}");
    }

    /// The processes of group `pgid` that have not exited.
    fn live_members(pgid: i32) -> Vec<i32> {
        let mut out = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // Fields after the name: state, ppid, pgrp.
            if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
                out.push(pid);
            }
        }
        out
    }

    #[test]
    fn rotation_keeps_three() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        for round in 0..5 {
            fs::write(&log, format!("round {round} ").repeat(100)).unwrap();
            assert!(rotate(&log, 10).unwrap());
            assert_eq!(fs::metadata(&log).unwrap().len(), 0);
        }
        assert!(!rotate(&log, 10).unwrap());
        let one = fs::read_to_string(dir.path().join("a.log.1")).unwrap();
        assert!(one.starts_with("round 4"));
        assert!(
            fs::read_to_string(dir.path().join("a.log.3"))
                .unwrap()
                .starts_with("round 2")
        );
        assert!(!dir.path().join("a.log.4").exists());
    }
}
