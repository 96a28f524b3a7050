//! The front address: a reverse proxy that reads the live slot for every
//! request, so a switch moves the next request at once while requests in
//! flight finish on the slot they started on (each holds a guard that keeps
//! its slot's in-flight count up until its reply body ends).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A body error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The proxy's reply body.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Where live traffic goes.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The slot's port on loopback.
    pub port: u16,
    /// Requests in flight to that slot.
    pub inflight: Arc<AtomicUsize>,
}

/// The route of one front: swapped atomically by a switch.
#[derive(Debug, Default)]
pub struct Route {
    live: RwLock<Option<Upstream>>,
}

impl Route {
    /// Sends new requests to `up` (or nowhere).
    pub fn set(&self, up: Option<Upstream>) {
        let mut live = self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *live = up;
    }

    /// Where new requests go now.
    pub fn get(&self) -> Option<Upstream> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A reply body that keeps its request counted in flight until it ends.
struct Guarded {
    inner: Incoming,
    _guard: Guard,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream connection of one front connection: HTTP/1 requests on a
/// connection come one after another, so each front connection keeps one
/// connection to the slot it last used, and opens a new one when the route
/// points elsewhere. No pool, no lock shared between connections.
#[derive(Debug, Default)]
pub struct Affinity {
    conn: Option<(u16, SendRequest<Incoming>)>,
}

async fn connect(port: u16) -> Result<SendRequest<Incoming>, BoxError> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn full(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": { "code": status.canonical_reason().unwrap_or("Error").replace(' ', ""), "message": message } });
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Forwards one request to the live slot, over the front connection's
/// upstream connection when it still goes there.
pub async fn forward(
    route: &Route,
    affinity: &mut Affinity,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(up) = route.get() else {
        return full(
            StatusCode::SERVICE_UNAVAILABLE,
            "no live slot: nothing has been switched to yet",
        );
    };
    up.inflight.fetch_add(1, Ordering::AcqRel);
    let guard = Guard(Arc::clone(&up.inflight));
    let headers = req.headers_mut();
    strip_hop_by_hop(headers);
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // At most two tries: a kept connection the app closed while idle is
    // replaced once (the request was not sent on it).
    for _ in 0..2 {
        let reuse = matches!(&affinity.conn, Some((port, s)) if *port == up.port && !s.is_closed());
        if !reuse {
            affinity.conn = None;
            match connect(up.port).await {
                Ok(sender) => affinity.conn = Some((up.port, sender)),
                Err(e) => {
                    tracing::warn!(port = up.port, "cannot connect to the live slot: {e}");
                    return full(StatusCode::BAD_GATEWAY, "the live slot did not answer");
                }
            }
        }
        let Some((_, sender)) = affinity.conn.as_mut() else {
            break;
        };
        if sender.ready().await.is_err() {
            affinity.conn = None;
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = Guarded {
                    inner: body,
                    _guard: guard,
                }
                .map_err(|e| Box::new(e) as BoxError)
                .boxed();
                return Response::from_parts(parts, body);
            }
            Err(mut e) => {
                affinity.conn = None;
                match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => {
                        tracing::warn!(port = up.port, "the live slot failed: {}", e.error());
                        return full(StatusCode::BAD_GATEWAY, "the live slot did not answer");
                    }
                }
            }
        }
    }
    full(StatusCode::BAD_GATEWAY, "the live slot did not answer")
}

/// Serves the front on `listener` until `stop` turns true.
pub async fn serve_front(
    listener: TcpListener,
    route: Arc<Route>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("front accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let route = Arc::clone(&route);
        tokio::spawn(async move {
            let affinity = Arc::new(tokio::sync::Mutex::new(Affinity::default()));
            let service = hyper::service::service_fn(move |req| {
                let route = Arc::clone(&route);
                let affinity = Arc::clone(&affinity);
                async move {
                    let mut affinity = affinity.lock().await;
                    Ok::<_, std::convert::Infallible>(
                        forward(&route, &mut affinity, peer, req).await,
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
