//! A Kudu on a raw TCP socket that drops the connection in the middle of
//! the first upload: what a load balancer or a restarting SCM site does,
//! and what wiremock cannot do.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::fake::{BearerState, FakeAzure, Inner, KuduOutcome};
use crate::reply::Reply;

/// How much of the first upload's body is read before the connection is
/// dropped.
pub const FIRST_UPLOAD_CUT: usize = 16 << 10;

/// One request the flaky Kudu received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakyRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Content-Length` header.
    pub content_length: Option<usize>,
    /// The body bytes read before the connection ended.
    pub body: Vec<u8>,
}

#[derive(Debug, Default)]
struct Log {
    requests: Vec<FlakyRequest>,
    publishes: usize,
}

/// A Kudu that cuts the first `POST /api/publish` off after reading its
/// headers and some of its body, then behaves: later uploads are read whole
/// and answered 202 with `Location: /api/deployments/latest`, and
/// `GET /api/deployments/latest` answers the fake's deployment (success).
/// Every reply closes the connection. Requests need a bearer token the
/// [`FakeAzure`] it belongs to issued.
#[derive(Debug)]
pub struct FlakyKudu {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl FakeAzure {
    /// Starts a [`FlakyKudu`] whose deployments this fake's slot serves.
    pub async fn flaky_kudu(&self) -> FlakyKudu {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the flaky Kudu");
        let addr = listener.local_addr().expect("the flaky Kudu's address");
        let log = Arc::new(Mutex::new(Log::default()));
        let inner = Arc::clone(self.inner());
        let task = tokio::spawn({
            let log = Arc::clone(&log);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, Arc::clone(&inner), Arc::clone(&log)));
                }
            }
        });
        FlakyKudu { addr, log, task }
    }
}

impl FlakyKudu {
    /// The base URI, for the SCM endpoint override.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received, in order.
    pub fn requests(&self) -> Vec<FlakyRequest> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
            .clone()
    }

    /// The `POST /api/publish` requests received, in order.
    pub fn uploads(&self) -> Vec<FlakyRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.target.starts_with("/api/publish"))
            .collect()
    }
}

impl Drop for FlakyKudu {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut stream: TcpStream, inner: Arc<Inner>, log: Arc<Mutex<Log>>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let mut request = FlakyRequest {
        method,
        target,
        authorization: header("authorization"),
        content_type: header("content-type"),
        content_length: header("content-length").and_then(|v| v.parse().ok()),
        body: buf[head_end..].to_vec(),
    };
    let path = request
        .target
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();

    let publish = request.method == "POST" && path == "/api/publish";
    let first_publish = publish && {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.publishes += 1;
        log.publishes == 1
    };
    let want = request.content_length.unwrap_or(0);
    let goal = if first_publish {
        want.min(FIRST_UPLOAD_CUT)
    } else {
        want
    };
    while request.body.len() < goal {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => request.body.extend_from_slice(&chunk[..n]),
        }
    }
    let auth = inner.bearer_of(request.authorization.as_deref());
    let latest = request.method == "GET" && path == "/api/deployments/latest";
    let complete = request.body.len() >= want;
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .requests
        .push(request);
    if first_publish {
        // Drop the connection with the rest of the upload unread.
        drop(stream);
        return;
    }
    let reply = if auth != BearerState::Valid {
        Reply::text(401, "", "text/plain")
    } else if publish && complete {
        inner.start_deployment(VecDeque::new(), KuduOutcome::Success);
        Reply {
            status: 202,
            headers: vec![
                ("Location".to_owned(), "/api/deployments/latest".to_owned()),
                ("Retry-After".to_owned(), "0".to_owned()),
            ],
            body: Vec::new(),
        }
    } else if latest {
        inner.latest()
    } else {
        Reply::text(404, "Not Found", "text/plain")
    };
    let _ = stream.write_all(&reply.raw()).await;
    let _ = stream.shutdown().await;
}
