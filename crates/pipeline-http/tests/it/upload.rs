//! Streamed uploads over a connection that drops mid-body, against a raw
//! TCP server (wiremock reads whole requests, so it cannot cut one off).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pipeline_http::{Blame, Body, HttpError, Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Recorder, http, later};

const TOTAL: usize = 8 << 20;
const CUT_AFTER: usize = 1 << 20;

/// What the server saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicUsize,
    /// Request heads, one per connection, in order.
    heads: Mutex<Vec<String>>,
    /// Body bytes read on the connection that was cut.
    cut_at: Mutex<Option<usize>>,
}

/// A server that reads the head and about 1 MiB of the body of the first
/// request and then closes the connection; later requests are read whole
/// (by `Content-Length`) and answered 200 with `<bytes> <sum of bytes>`.
async fn flaky_server() -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/publish", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let n = state.connections.fetch_add(1, Ordering::SeqCst);
            let (head, mut body) = read_head(&mut sock).await;
            state.heads.lock().unwrap().push(head.clone());
            let mut buf = vec![0u8; 64 << 10];
            if n == 0 {
                let mut got = body.len();
                while got < CUT_AFTER {
                    let r = sock.read(&mut buf).await.unwrap();
                    if r == 0 {
                        break;
                    }
                    got += r;
                }
                *state.cut_at.lock().unwrap() = Some(got);
                drop(sock);
                continue;
            }
            let len = content_length(&head);
            while body.len() < len {
                let r = sock.read(&mut buf).await.unwrap();
                if r == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..r]);
            }
            let text = format!("{} {}", body.len(), checksum(&body));
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
            sock.shutdown().await.unwrap();
        }
    });
    (url, seen)
}

/// Reads up to the end of the request head; returns it (lowercased) and
/// the body bytes read past it.
async fn read_head(sock: &mut TcpStream) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            return (head, data[end + 4..].to_vec());
        }
        let r = sock.read(&mut buf).await.unwrap();
        assert!(r > 0, "connection closed inside the request head");
        data.extend_from_slice(&buf[..r]);
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("no content-length")
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().enumerate().fold(0u64, |acc, (i, b)| {
        acc.wrapping_mul(31)
            .wrapping_add(u64::from(*b) ^ (i as u64))
    })
}

/// An 8 MiB file of varied bytes.
fn package() -> (tempfile::NamedTempFile, u64) {
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&data).unwrap();
    file.flush().unwrap();
    (file, checksum(&data))
}

fn zip(file: &tempfile::NamedTempFile) -> Body {
    Body::File {
        content_type: "application/zip",
        path: file.path().to_owned(),
    }
}

#[tokio::test]
async fn an_idempotent_upload_cut_off_is_sent_again_whole() {
    let (url, seen) = flaky_server().await;
    let (file, sum) = package();
    let progress = Recorder::new();

    let reply = http(&progress)
        .send(
            &Request::new("upload package", Method::PUT, url.parse().unwrap()).body(zip(&file)),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        std::str::from_utf8(&reply.body).unwrap(),
        format!("{TOTAL} {sum}"),
        "the second attempt delivered every byte, in order"
    );
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    let cut_at = seen.cut_at.lock().unwrap().unwrap();
    assert!(
        (CUT_AFTER..TOTAL).contains(&cut_at),
        "cut after {cut_at} bytes"
    );
    for head in seen.heads.lock().unwrap().iter() {
        assert!(head.starts_with("put /api/publish http/1.1"), "{head}");
        assert!(head.contains("content-type: application/zip"), "{head}");
        assert!(head.contains(&format!("content-length: {TOTAL}")), "{head}");
    }
    let retries = progress.retries();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        retries[0].2.starts_with("upload package: PUT "),
        "{retries:?}"
    );
    let uploads = progress.uploads();
    assert!(!uploads.is_empty());
    assert!(uploads.iter().all(|&(_, total)| total == TOTAL as u64));
    assert_eq!(uploads.last(), Some(&(TOTAL as u64, TOTAL as u64)));
    // Within each attempt the count only grows; a new attempt starts over.
    let starts = uploads.windows(2).filter(|w| w[1].0 <= w[0].0).count();
    assert!(starts <= 1, "{uploads:?}");
}

#[tokio::test]
async fn a_non_idempotent_upload_cut_off_is_not_repeated() {
    let (url, seen) = flaky_server().await;
    let (file, _) = package();
    let progress = Recorder::new();

    let err = http(&progress)
        .send(
            &Request::new("publish package", Method::POST, url.parse().unwrap()).body(zip(&file)),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Transport { op, method, .. } = &err else {
        panic!("not Transport: {err:?}");
    };
    assert_eq!(op, "publish package");
    assert_eq!(method, "POST");
    assert_eq!(err.blame(), Blame::External);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert!(progress.retries().is_empty());
}

#[tokio::test]
async fn a_missing_file_fails_before_connecting() {
    let (url, seen) = flaky_server().await;
    let dir = tempfile::tempdir().unwrap();

    let err = http(&Recorder::new())
        .send(
            &Request::new("upload package", Method::PUT, url.parse().unwrap()).body(Body::File {
                content_type: "application/zip",
                path: dir.path().join("missing.zip"),
            }),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::File { path, .. } = &err else {
        panic!("not File: {err:?}");
    };
    assert!(path.ends_with("missing.zip"));
    assert_eq!(err.blame(), Blame::Caller);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 0);
}
