//! The front address: a reverse proxy that reads the live slot for every
//! request, so a switch moves the next request at once while requests in
//! flight finish on the slot they started on (each holds a guard that keeps
//! its slot's in-flight count up until its reply body ends).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::conn::{self, ConnLimits, Group, Tracked, TrackedIo, Tracker};

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

#[derive(Debug)]
enum Live {
    Up(Upstream),
    Down(Arc<str>),
}

/// The route of one front: swapped atomically by a switch.
#[derive(Debug)]
pub struct Route {
    live: RwLock<Live>,
}

impl Default for Route {
    fn default() -> Self {
        Self {
            live: RwLock::new(Live::Down(Arc::from(
                "no live slot: nothing has been switched to yet",
            ))),
        }
    }
}

impl Route {
    /// Sends new requests to `up` (or nowhere). Once it returns, every
    /// request that was routed to the previous upstream counts in that
    /// upstream's requests in flight.
    pub fn set(&self, up: Option<Upstream>) {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        *live = match up {
            Some(up) => Live::Up(up),
            None => Live::Down(Arc::from("no live slot: nothing has been switched to yet")),
        };
    }

    /// Sends new requests nowhere; they are answered 503 with `why`.
    pub fn set_down(&self, why: &str) {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        *live = Live::Down(Arc::from(why));
    }

    /// Where new requests go now.
    pub fn get(&self) -> Option<Upstream> {
        match &*self.live.read().unwrap_or_else(PoisonError::into_inner) {
            Live::Up(up) => Some(up.clone()),
            Live::Down(_) => None,
        }
    }

    /// The live upstream with this request counted in flight on it (read
    /// and counted under the lock a switch takes), or why there is none.
    fn acquire(&self) -> Result<(u16, Guard), Arc<str>> {
        match &*self.live.read().unwrap_or_else(PoisonError::into_inner) {
            Live::Up(up) => {
                up.inflight.fetch_add(1, Ordering::AcqRel);
                Ok((up.port, Guard(Arc::clone(&up.inflight))))
            }
            Live::Down(why) => Err(Arc::clone(why)),
        }
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
    conn: Mutex<Option<(u16, SendRequest<Incoming>)>>,
    tracker: Option<Arc<Tracker>>,
}

impl Affinity {
    /// One that has `tracker` close idle connections when the system runs
    /// out of file descriptors.
    pub fn new(tracker: Option<Arc<Tracker>>) -> Self {
        Self {
            conn: Mutex::new(None),
            tracker,
        }
    }

    fn take(&self) -> Option<(u16, SendRequest<Incoming>)> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn put(&self, port: u16, sender: SendRequest<Incoming>) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some((port, sender));
    }
}

/// Connects to the slot on `port`. Out of file descriptors, it has the
/// tracker close an idle connection and tries again (three times).
async fn connect(port: u16, tracker: Option<&Tracker>) -> Result<SendRequest<Incoming>, BoxError> {
    let mut tries = 0;
    let stream = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => break stream,
            Err(e) if tries < 3 && conn::out_of_descriptors(&e) => {
                tries += 1;
                if let Some(tracker) = tracker {
                    tracker.evict_any();
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
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
    affinity: &Affinity,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (port, guard) = match route.acquire() {
        Ok(up) => up,
        Err(why) => return full(StatusCode::SERVICE_UNAVAILABLE, &why),
    };
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
    let mut kept = affinity
        .take()
        .filter(|(p, s)| *p == port && !s.is_closed());
    // At most two tries: a kept connection the app closed while idle is
    // replaced once (the request was not sent on it).
    for _ in 0..2 {
        let mut sender = match kept.take() {
            Some((_, sender)) => sender,
            None => match connect(port, affinity.tracker.as_deref()).await {
                Ok(sender) => sender,
                Err(e) => {
                    tracing::warn!(port, "cannot connect to the live slot: {e}");
                    return full(StatusCode::BAD_GATEWAY, "the live slot did not answer");
                }
            },
        };
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                affinity.put(port, sender);
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
            Err(mut e) => match e.take_message() {
                Some(unsent) => req = unsent,
                None => {
                    tracing::warn!(port, "the live slot failed: {}", e.error());
                    return full(StatusCode::BAD_GATEWAY, "the live slot did not answer");
                }
            },
        }
    }
    full(StatusCode::BAD_GATEWAY, "the live slot did not answer")
}

/// Serves the front on `listener` until `stop` turns true: each connection
/// counted in `group` of `tracker` and held to `limits`.
pub async fn serve_front(
    listener: TcpListener,
    route: Arc<Route>,
    stop: tokio::sync::watch::Receiver<bool>,
    tracker: Arc<Tracker>,
    group: Arc<Group>,
    limits: ConnLimits,
) {
    let shed = Arc::clone(&tracker);
    conn::accept_loop(
        listener,
        tracker,
        group,
        Some(stop),
        move |stream, peer, handle| {
            let _ = stream.set_nodelay(true);
            let route = Arc::clone(&route);
            let shed = Arc::clone(&shed);
            tokio::spawn(async move {
                let state = Arc::clone(handle.state());
                let affinity = Arc::new(Affinity::new(Some(shed)));
                let service = {
                    let state = Arc::clone(&state);
                    hyper::service::service_fn(move |req| {
                        state.busy();
                        let route = Arc::clone(&route);
                        let affinity = Arc::clone(&affinity);
                        let state = Arc::clone(&state);
                        async move {
                            let resp = forward(&route, &affinity, peer, req).await;
                            Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked::new(b, state)))
                        }
                    })
                };
                let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&state)));
                let conn: conn::Serving = Box::pin(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(io, service),
                );
                conn::drive(conn, &state, limits).await;
                drop(handle);
            });
        },
    )
    .await;
}
