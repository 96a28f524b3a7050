//! A reply cut off mid-body, from a raw TCP server: the request reached the
//! service, so only idempotent requests go again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline_http::{HttpError, Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Recorder, http, later};

/// Answers the first connection with a head promising 100 bytes, sends 3
/// and closes; later ones get a whole reply.
async fn cutting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slot", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            // Requests here have no body: the head is all there is.
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                let r = sock.read(&mut buf).await.unwrap();
                assert!(r > 0);
                data.extend_from_slice(&buf[..r]);
            }
            let reply: &[u8] = if n == 0 {
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc"
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nwhole"
            };
            sock.write_all(reply).await.unwrap();
            sock.shutdown().await.unwrap();
        }
    });
    (url, connections)
}

#[tokio::test]
async fn a_get_whose_reply_is_cut_off_is_retried() {
    let (url, connections) = cutting_server().await;
    let progress = Recorder::new();

    let reply = http(&progress)
        .send(
            &Request::new("read slot", Method::GET, url.parse().unwrap()),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"whole");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert_eq!(progress.retries().len(), 1);
}

#[tokio::test]
async fn a_post_whose_reply_is_cut_off_is_not_repeated() {
    let (url, connections) = cutting_server().await;

    let err = http(&Recorder::new())
        .send(
            &Request::new("swap", Method::POST, url.parse().unwrap()),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Transport { method, .. } = &err else {
        panic!("not Transport: {err:?}");
    };
    assert_eq!(method, "POST");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
