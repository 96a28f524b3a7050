//! The front address: a reverse proxy that reads the live slot for every
//! request, so a switch moves the next request at once while requests in
//! flight finish on the slot they started on (each holds a guard that keeps
//! its slot's in-flight count up until its reply body ends).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::conn::{self, ConnLimits, ConnState, Group, Tracked, TrackedIo, Tracker};
use crate::metrics::SlotMetrics;
use crate::upstream::{self, UpBody, UpConn};

/// A body error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The front's reply body: the slot's, streamed, or the front's own.
#[derive(Debug)]
pub enum ProxyBody {
    /// The slot's reply, its request counted in flight until it ends.
    Proxied(Guarded),
    /// The slot's reply read by the front's own client, counted the same.
    Raw(RawBody),
    /// An answer of the front itself (502, 503).
    Local(Full<Bytes>),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Proxied(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            ProxyBody::Raw(b) => Pin::new(&mut b.inner).poll_frame(cx).map_err(|e| {
                // hyper ends the client's connection: the reply is cut
                // as the slot cut it.
                tracing::warn!("the live slot's reply broke off: {e}");
                BoxError::from(e)
            }),
            ProxyBody::Local(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Proxied(b) => b.is_end_stream(),
            ProxyBody::Raw(b) => b.inner.is_end_stream(),
            ProxyBody::Local(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ProxyBody::Proxied(b) => b.size_hint(),
            ProxyBody::Raw(b) => b.inner.size_hint(),
            ProxyBody::Local(b) => b.size_hint(),
        }
    }
}

/// A reply read by the front's own client, its request counted in flight
/// until it ends.
#[derive(Debug)]
pub struct RawBody {
    inner: UpBody<FrontConn>,
    _guard: Guard,
}

/// Where live traffic goes.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The slot's port on loopback.
    pub port: u16,
    /// Requests in flight to that slot.
    pub inflight: Arc<AtomicUsize>,
    /// What the front sees of that slot's traffic.
    pub metrics: Arc<SlotMetrics>,
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
    fn acquire(&self) -> Result<(u16, Guard, Arc<SlotMetrics>), Arc<str>> {
        match &*self.live.read().unwrap_or_else(PoisonError::into_inner) {
            Live::Up(up) => {
                up.inflight.fetch_add(1, Ordering::AcqRel);
                Ok((
                    up.port,
                    Guard(Arc::clone(&up.inflight)),
                    Arc::clone(&up.metrics),
                ))
            }
            Live::Down(why) => Err(Arc::clone(why)),
        }
    }
}

#[derive(Debug)]
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A reply body that keeps its request counted in flight until it ends.
#[derive(Debug)]
pub struct Guarded {
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
    conn: Mutex<Option<Kept>>,
    tracker: Option<Arc<Tracker>>,
}

/// A connection kept to a slot: the front's own client's, or hyper's once
/// a request with a body went over it.
#[derive(Debug)]
enum Kept {
    Raw(UpConn),
    Hyper(u16, SendRequest<Incoming>),
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

    fn take(&self) -> Option<Kept> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn put(&self, kept: Kept) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(kept);
    }
}

/// Connects to the slot on `port`. Out of file descriptors, it has the
/// tracker close an idle connection and tries again (three times).
async fn connect_tcp(port: u16, tracker: Option<&Tracker>) -> std::io::Result<TcpStream> {
    let mut tries = 0;
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => break stream,
            Err(e) if tries < 3 && conn::out_of_descriptors(&e) => {
                tries += 1;
                if let Some(tracker) = tracker {
                    tracker.evict_any();
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// hyper's client over `stream`, its connection driven by a task of its
/// own.
async fn handshake(stream: TcpStream) -> Result<SendRequest<Incoming>, BoxError> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn full(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": { "code": status.canonical_reason().unwrap_or("Error").replace(' ', ""), "message": message } });
    let mut resp = Response::new(ProxyBody::Local(Full::new(Bytes::from(body.to_string()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The hop-by-hop headers (RFC 9110, 7.6.1), parsed once: a name given as
/// text would be parsed at every request.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one look at each name's length, no hashing.
    let hop = |name: &HeaderName| {
        let name = name.as_str();
        matches!(name.len(), 2 | 7 | 10 | 17..=19) && HOP_BY_HOP.iter().any(|h| h.as_str() == name)
    };
    if !headers.keys().any(hop) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        // The names it lists go too (beside `close` and `keep-alive`).
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.eq_ignore_ascii_case("close") && !n.eq_ignore_ascii_case("keep-alive"))
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Forwards one request to the live slot, over the front connection's
/// upstream connection when it still goes there.
async fn forward(ctx: &Arc<FrontConn>, req: Request<Incoming>) -> Response<ProxyBody> {
    let (port, guard, metrics) = match ctx.route.acquire() {
        Ok(up) => up,
        Err(why) => return full(StatusCode::SERVICE_UNAVAILABLE, &why),
    };
    let started = std::time::Instant::now();
    let (resp, answered) = forward_to(ctx, req, port, guard).await;
    if answered {
        metrics.answered(resp.status().as_u16(), started.elapsed());
    } else {
        metrics.failed(started.elapsed());
    }
    resp
}

/// [`forward`] to the slot on `port`: the answer, and whether the slot
/// gave it (else the front answered 502 itself).
async fn forward_to(
    ctx: &Arc<FrontConn>,
    mut req: Request<Incoming>,
    port: u16,
    guard: Guard,
) -> (Response<ProxyBody>, bool) {
    let headers = req.headers_mut();
    strip_hop_by_hop(headers);
    // The client's address after what earlier proxies wrote (one lookup).
    match headers.entry(X_FORWARDED_FOR.clone()) {
        header::Entry::Occupied(mut prior) => {
            let mut joined = Vec::new();
            for value in prior.iter() {
                joined.extend_from_slice(value.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(ctx.peer.as_bytes());
            prior.insert(HeaderValue::from_bytes(&joined).unwrap_or_else(|_| ctx.peer.clone()));
        }
        header::Entry::Vacant(slot) => {
            slot.insert(ctx.peer.clone());
        }
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    let tracker = ctx.affinity.tracker.as_deref();
    let kept = ctx.affinity.take();
    if req.body().is_end_stream() && !matches!(kept, Some(Kept::Hyper(p, _)) if p == port) {
        // No body: the front's own client, on the kept connection if it is
        // still good.
        req.headers_mut().remove(header::EXPECT);
        let kept = match kept {
            Some(Kept::Raw(c)) if c.port == port && !c.is_stale() => Some(c),
            _ => None,
        };
        return match forward_raw(ctx, &req, port, kept, tracker).await {
            Ok((parts, body)) => (
                Response::from_parts(
                    parts,
                    ProxyBody::Raw(RawBody {
                        inner: body,
                        _guard: guard,
                    }),
                ),
                true,
            ),
            Err(e) => {
                tracing::warn!(port, "the live slot did not answer: {e}");
                (did_not_answer(), false)
            }
        };
    }
    // A body: hyper's client, which reads the reply while the body is
    // still being sent. A connection of the front's own client is handed
    // over (nothing is pending on it).
    let mut kept = match kept {
        Some(Kept::Hyper(p, s)) if p == port && !s.is_closed() => Some(s),
        Some(Kept::Raw(c)) if c.port == port && !c.is_stale() => match c.into_stream() {
            Some(stream) => handshake(stream).await.ok(),
            None => None,
        },
        _ => None,
    };
    // At most two tries: a kept connection the app closed while idle is
    // replaced once (the request was not sent on it).
    for _ in 0..2 {
        let mut sender = match kept.take() {
            Some(sender) => sender,
            None => {
                let connected = match connect_tcp(port, tracker).await {
                    Ok(stream) => handshake(stream).await,
                    Err(e) => Err(e.into()),
                };
                match connected {
                    Ok(sender) => sender,
                    Err(e) => {
                        tracing::warn!(port, "cannot connect to the live slot: {e}");
                        return (did_not_answer(), false);
                    }
                }
            }
        };
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                ctx.affinity.put(Kept::Hyper(port, sender));
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = ProxyBody::Proxied(Guarded {
                    inner: body,
                    _guard: guard,
                });
                return (Response::from_parts(parts, body), true);
            }
            Err(mut e) => match e.take_message() {
                Some(unsent) => req = unsent,
                None => {
                    tracing::warn!(port, "the live slot failed: {}", e.error());
                    return (did_not_answer(), false);
                }
            },
        }
    }
    (did_not_answer(), false)
}

fn did_not_answer() -> Response<ProxyBody> {
    full(StatusCode::BAD_GATEWAY, "the live slot did not answer")
}

/// A request without a body, by the front's own client: on `kept` if
/// given, else on a new connection. A kept connection that fails before any
/// byte of a reply (the app closed it as the request left) is replaced
/// once, for a method that may be repeated.
async fn forward_raw(
    ctx: &Arc<FrontConn>,
    req: &Request<Incoming>,
    port: u16,
    kept: Option<UpConn>,
    tracker: Option<&Tracker>,
) -> Result<(hyper::http::response::Parts, UpBody<FrontConn>), upstream::UpError> {
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    );
    let mut kept = kept;
    loop {
        let reused = kept.is_some();
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => UpConn::new(port, connect_tcp(port, tracker).await?),
        };
        let exchanged = async {
            conn.send_head(req).await?;
            conn.read_head(req.method()).await
        }
        .await;
        match exchanged {
            Ok((resp, framing, reusable)) => {
                let (mut parts, ()) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = UpBody::new(conn, framing, reusable, Arc::clone(ctx));
                return Ok((parts, body));
            }
            Err(upstream::UpError::Closed | upstream::UpError::Io(_)) if reused && idempotent => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

impl upstream::Home for FrontConn {
    fn put(&self, conn: UpConn) {
        self.affinity.put(Kept::Raw(conn));
    }
}

/// One front connection: its route, its upstream connection, its client's
/// address, its phase.
struct FrontConn {
    route: Arc<Route>,
    affinity: Affinity,
    peer: HeaderValue,
    state: Arc<ConnState>,
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
                // What a request needs, in one place: one reference counted
                // per request, not four.
                let ctx = Arc::new(FrontConn {
                    route,
                    affinity: Affinity::new(Some(shed)),
                    // The client's address as X-Forwarded-For wants it,
                    // made once for all its requests.
                    peer: HeaderValue::from_str(&peer.ip().to_string())
                        .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
                    state: Arc::clone(&state),
                });
                let service = {
                    hyper::service::service_fn(move |req| {
                        ctx.state.busy();
                        let ctx = Arc::clone(&ctx);
                        async move {
                            let resp = forward(&ctx, req).await;
                            Ok::<_, std::convert::Infallible>(
                                resp.map(|b| Tracked::new(b, Arc::clone(&ctx.state))),
                            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An app of canned replies, one per path, on loopback; answers
    /// `/headers` with the request head it received.
    async fn app() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let end = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break end + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head: Vec<u8> = buf.drain(..end).collect();
                        let text = String::from_utf8_lossy(&head).into_owned();
                        let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                        let (reply, close): (Vec<u8>, bool) = match path.as_str() {
                            "/chunked" => (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(), false),
                            "/until-close" => (b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec(), true),
                            "/head" => (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(), false),
                            "/empty" => (b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(), false),
                            "/early" => (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(), false),
                            "/bye" => (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye".to_vec(), true),
                            "/quietly" => (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nquiet".to_vec(), true),
                            "/cut" => (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec(), true),
                            "/headers" => {
                                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nKeep-Alive: timeout=5\r\n\r\n", head.len()).into_bytes();
                                r.extend_from_slice(&head);
                                (r, false)
                            }
                            _ => (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(), false),
                        };
                        if stream.write_all(&reply).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    async fn front(app_port: u16) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let route = Arc::new(Route::default());
        route.set(Some(Upstream {
            port: app_port,
            inflight: Arc::new(AtomicUsize::new(0)),
            metrics: Arc::default(),
        }));
        let tracker = Tracker::new(100);
        let group = tracker.group("front", 100, true);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _keep = _tx;
            serve_front(listener, route, rx, tracker, group, ConnLimits::default()).await;
        });
        addr
    }

    /// Sends `method path` on the kept-alive connection `sender`.
    async fn ask(
        sender: &mut SendRequest<http_body_util::Empty<Bytes>>,
        method: &str,
        path: &str,
    ) -> Result<(u16, HeaderMap, Vec<u8>), String> {
        use http_body_util::BodyExt as _;
        sender.ready().await.map_err(|e| e.to_string())?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "front.test")
            .header("x-forwarded-for", "203.0.113.7")
            .header("connection", "keep-alive, x-secret")
            .header("x-secret", "hop")
            .body(http_body_util::Empty::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, headers, body.to_vec()))
    }

    async fn client(addr: std::net::SocketAddr) -> SendRequest<http_body_util::Empty<Bytes>> {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    #[tokio::test]
    async fn what_an_app_may_answer_reaches_the_client_on_one_connection() {
        let addr = front(app().await).await;
        let mut c = client(addr).await;
        let (status, _, body) = ask(&mut c, "GET", "/chunked").await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"hello world"[..]));
        let (status, headers, body) = ask(&mut c, "HEAD", "/head").await.unwrap();
        assert_eq!((status, body.len()), (200, 0));
        assert_eq!(headers["content-length"], "1000");
        let (status, _, body) = ask(&mut c, "GET", "/empty").await.unwrap();
        assert_eq!((status, body.len()), (204, 0));
        let (status, _, body) = ask(&mut c, "GET", "/early").await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        // Replies after which the app closes: said, unsaid, by the end of
        // the body. The next request on the client's connection goes on.
        for (path, expected) in [
            ("/bye", &b"bye"[..]),
            ("/quietly", &b"quiet"[..]),
            ("/until-close", &b"until the end"[..]),
        ] {
            let (status, headers, body) = ask(&mut c, "GET", path).await.unwrap();
            assert_eq!((status, &body[..]), (200, expected), "{path}");
            assert!(headers.get("connection").is_none(), "{path}: {headers:?}");
            let (status, _, body) = ask(&mut c, "GET", "/chunked").await.unwrap();
            assert_eq!(
                (status, &body[..]),
                (200, &b"hello world"[..]),
                "after {path}"
            );
        }
        // What the app sees: the client's address appended, hop-by-hop
        // headers (and those Connection names) gone.
        let (_, headers, body) = ask(&mut c, "GET", "/headers").await.unwrap();
        let seen = String::from_utf8(body).unwrap().to_ascii_lowercase();
        assert!(seen.starts_with("get /headers http/1.1\r\n"), "{seen}");
        assert!(seen.contains("host: front.test\r\n"), "{seen}");
        assert!(
            seen.contains("x-forwarded-for: 203.0.113.7, 127.0.0.1\r\n"),
            "{seen}"
        );
        assert!(seen.contains("x-forwarded-proto: http\r\n"), "{seen}");
        assert!(
            !seen.contains("x-secret") && !seen.contains("connection"),
            "{seen}"
        );
        assert!(headers.get("keep-alive").is_none(), "{headers:?}");
        // A reply cut short is cut for the client too, not completed.
        assert!(ask(&mut c, "GET", "/cut").await.is_err());
    }
}
