//! `git daemon` serving one bare repository on a free loopback port, for
//! pushes over a network transport; killed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Daemon {
    child: Child,
    port: u16,
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Daemon {
    /// Serves `repo` (a bare repository) at `git://127.0.0.1:<port>/`,
    /// pushes allowed; returns once it accepts connections.
    pub(crate) fn serve(repo: &Path) -> Self {
        let port = free_port();
        let child = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "daemon",
                "--reuseaddr",
                &format!("--base-path={}", repo.display()),
                "--export-all",
                "--enable=receive-pack",
                &format!("--port={port}"),
                "--listen=127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let mut daemon = Self { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Poll until it accepts a connection (or has died).
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("git daemon exited before listening: {status}");
            }
            std::thread::yield_now();
        }
    }

    /// `git://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> String {
        format!("git://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
