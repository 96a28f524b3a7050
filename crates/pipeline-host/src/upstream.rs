//! The front's own HTTP/1.1 client for requests without a body (GET, HEAD,
//! most DELETEs: nearly all of a site's traffic): the request head is
//! written and the reply read on the slot's socket from the front
//! connection's own task, the reply's body streamed to the client as hyper
//! asks for it, and the connection kept for the front connection's next
//! request, as nginx keeps its upstream connections alive. No task, channel
//! or second parse per request, which is what a general client (hyper's,
//! used for requests with a body, where reading the reply while the body is
//! still being sent matters) costs.
//!
//! What it accepts from the slot: a reply head of at most 64 KiB and 64
//! headers (1xx heads before it skipped), a body framed by
//! `Transfer-Encoding: chunked` (trailers dropped), `Content-Length`, or the
//! end of the connection; HEAD, 204 and 304 have none. Anything else (a
//! malformed head, a body cut short) ends the exchange with an error, and
//! the connection is never kept after one.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

/// The largest reply head accepted.
const MAX_HEAD: usize = 64 << 10;
/// The most headers in a reply.
const MAX_HEADERS: usize = 64;
/// How much is read from the slot at a time.
const READ_CHUNK: usize = 16 << 10;

/// A connection to a slot.
#[derive(Debug)]
pub(crate) struct UpConn {
    pub(crate) port: u16,
    pub(crate) stream: TcpStream,
    buf: BytesMut,
    /// The request head being written, kept for the next one.
    head: Vec<u8>,
    /// Where the reply's headers are, kept for the next one.
    spans: Vec<(Span, Span)>,
}

/// Why an exchange with the slot failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The slot closed the connection before a whole reply head.
    #[error("the connection closed before the reply")]
    Closed,
    /// The reply head is not HTTP/1.x as this client takes it.
    #[error("a malformed reply: {0}")]
    Malformed(String),
}

impl UpConn {
    /// A new connection on `stream`, to the slot on `port`.
    pub(crate) fn new(port: u16, stream: TcpStream) -> Self {
        Self {
            port,
            stream,
            buf: BytesMut::new(),
            head: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Whether the slot has closed the connection (or sent something
    /// unasked) while it sat idle: then it is not used again. Costs a
    /// system call only when the reactor saw the socket become readable.
    pub(crate) fn is_stale(&self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        if self.stream.poll_read_ready(&mut cx).is_pending() {
            return false;
        }
        let mut probe = [0u8; 1];
        !matches!(
            self.stream.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Whether nothing was read past the last reply: the socket can go to
    /// another client (hyper's, for a request with a body).
    pub(crate) fn into_stream(self) -> Option<TcpStream> {
        self.buf.is_empty().then_some(self.stream)
    }

    /// Sends the head of `req` (which has no body): `headers` are the ones
    /// to send.
    pub(crate) async fn send_head(
        &mut self,
        req: &Request<hyper::body::Incoming>,
    ) -> Result<(), UpError> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        head.extend_from_slice(req.method().as_str().as_bytes());
        head.push(b' ');
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        head.extend_from_slice(if target.is_empty() {
            b"/"
        } else {
            target.as_bytes()
        });
        head.extend_from_slice(b" HTTP/1.1\r\n");
        if !req.headers().contains_key(header::HOST) {
            head.extend_from_slice(format!("host: 127.0.0.1:{}\r\n", self.port).as_bytes());
        }
        for (name, value) in req.headers() {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let written = self.stream.write_all(&head).await;
        self.head = head;
        written?;
        Ok(())
    }

    /// Reads more from the slot into the buffer: `Ok(0)` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        loop {
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready!(self.stream.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Reads the reply to a request of `method`: its head (1xx heads
    /// skipped) and how its body is framed.
    pub(crate) async fn read_head(
        &mut self,
        method: &Method,
    ) -> Result<(Response<()>, Framing, bool), UpError> {
        loop {
            let parsed = parse_head(&self.buf, &mut self.spans)?;
            let Some((len, status, version)) = parsed else {
                if self.buf.len() > MAX_HEAD {
                    return Err(UpError::Malformed(format!(
                        "a reply head larger than {MAX_HEAD} bytes"
                    )));
                }
                if self.fill().await? == 0 {
                    return Err(UpError::Closed);
                }
                continue;
            };
            let head = self.buf.split_to(len).freeze();
            if (100..200).contains(&status) {
                if status == 101 {
                    return Err(UpError::Malformed("101 Switching Protocols".to_owned()));
                }
                continue;
            }
            let status = StatusCode::from_u16(status)
                .map_err(|_| UpError::Malformed(format!("status {status}")))?;
            let mut headers = HeaderMap::with_capacity(self.spans.len());
            for &(name, value) in &self.spans {
                let name = HeaderName::from_bytes(&head[name.0..name.1])
                    .map_err(|e| UpError::Malformed(format!("a header name: {e}")))?;
                let value = HeaderValue::from_maybe_shared(head.slice(value.0..value.1))
                    .map_err(|e| UpError::Malformed(format!("a header value: {e}")))?;
                headers.append(name, value);
            }
            let (framing, mut reusable) = framing(method, status, &headers)?;
            let close = headers
                .get_all(header::CONNECTION)
                .iter()
                .any(|v| has_token(v.as_bytes(), b"close"));
            reusable &= version == 1 && !close;
            let mut resp = Response::new(());
            *resp.status_mut() = status;
            *resp.version_mut() = Version::HTTP_11;
            *resp.headers_mut() = headers;
            return Ok((resp, framing, reusable));
        }
    }
}

type Span = (usize, usize);

/// The reply head at the start of `buf`, if it is all there: its length,
/// status and minor version; `spans` gets where each header's name and
/// value are.
fn parse_head(
    buf: &[u8],
    spans: &mut Vec<(Span, Span)>,
) -> Result<Option<(usize, u16, u8)>, UpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let base = buf.as_ptr() as usize;
            let span = |s: &[u8]| {
                let start = s.as_ptr() as usize - base;
                (start, start + s.len())
            };
            spans.clear();
            spans.extend(
                resp.headers
                    .iter()
                    .map(|h| (span(h.name.as_bytes()), span(h.value))),
            );
            Ok(Some((
                len,
                resp.code.unwrap_or(0),
                resp.version.unwrap_or(0),
            )))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(UpError::Malformed(e.to_string())),
    }
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// How a reply's body is framed, and whether the connection may be kept
/// after it.
fn framing(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<(Framing, bool), UpError> {
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Length(0), true));
    }
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    if te.peek().is_some() {
        let chunked_last = te
            .last()
            .and_then(|v| v.as_bytes().rsplit(|b| *b == b',').next())
            .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        return Ok(if chunked_last {
            (Framing::Chunked(Chunk::Size(0)), true)
        } else {
            (Framing::UntilClose, false)
        });
    }
    let mut length: Option<u64> = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|b| *b == b',') {
            let n = std::str::from_utf8(part.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    UpError::Malformed("a content-length that is not a number".into())
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(UpError::Malformed("content-lengths that differ".into()));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => (Framing::Length(n), true),
        None => (Framing::UntilClose, false),
    })
}

/// Where a chunked body's reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading a chunk's size line (the digits so far).
    Size(u64),
    /// In a chunk: bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines, up to an empty one.
    Trailers,
    /// Done.
    Done,
}

/// How a reply's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// So many bytes left.
    Length(u64),
    /// Chunks.
    Chunked(Chunk),
    /// Until the slot closes the connection.
    UntilClose,
}

impl Framing {
    fn done(&self) -> bool {
        matches!(self, Framing::Length(0) | Framing::Chunked(Chunk::Done))
    }
}

/// Takes from `buf` what the chunked framing allows: `Ok(Some(data))` for
/// body bytes, `Ok(None)` when `buf` holds no more that can be used (read
/// more, unless the state is [`Chunk::Done`]).
pub(crate) fn dechunk(state: &mut Chunk, buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    loop {
        match *state {
            Chunk::Done => return Ok(None),
            Chunk::Size(_) => {
                let Some(eol) = buf.iter().position(|b| *b == b'\n') else {
                    if buf.len() > 4096 {
                        return Err("a chunk size line longer than 4 KiB".into());
                    }
                    return Ok(None);
                };
                let line = buf.split_to(eol + 1);
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let digits = line
                    .split(|b| *b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                let size = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.len() <= 15)
                    .and_then(|d| u64::from_str_radix(d, 16).ok())
                    .ok_or_else(|| {
                        format!("a bad chunk size {:?}", String::from_utf8_lossy(line))
                    })?;
                *state = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let data = buf.split_to(take).freeze();
                let left = left - take as u64;
                *state = if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                };
                return Ok(Some(data));
            }
            Chunk::DataEnd => {
                if buf.len() < 2 && !buf.starts_with(b"\n") {
                    if buf.first().is_some_and(|b| *b != b'\r') {
                        return Err("no line end after a chunk".into());
                    }
                    return Ok(None);
                }
                if buf.starts_with(b"\r\n") {
                    buf.advance(2);
                } else if buf.starts_with(b"\n") {
                    buf.advance(1);
                } else {
                    return Err("no line end after a chunk".into());
                }
                *state = Chunk::Size(0);
            }
            Chunk::Trailers => {
                let Some(eol) = buf.iter().position(|b| *b == b'\n') else {
                    if buf.len() > MAX_HEAD {
                        return Err("trailers larger than 64 KiB".into());
                    }
                    return Ok(None);
                };
                let line = buf.split_to(eol + 1);
                if line.as_ref() == b"\r\n" || line.as_ref() == b"\n" {
                    *state = Chunk::Done;
                    return Ok(None);
                }
            }
        }
    }
}

/// What to do with the connection once a reply's body is read: give it
/// back for the next request (`Some`) or drop it.
pub(crate) trait Home: Send + Sync + 'static {
    /// The connection is free again.
    fn put(&self, conn: UpConn);
}

/// A reply's body, read from the slot's socket as hyper asks for it.
pub(crate) struct UpBody<H: Home> {
    conn: Option<UpConn>,
    framing: Framing,
    reusable: bool,
    home: std::sync::Arc<H>,
}

impl<H: Home> std::fmt::Debug for UpBody<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpBody")
            .field("framing", &self.framing)
            .field("reusable", &self.reusable)
            .finish()
    }
}

impl<H: Home> UpBody<H> {
    pub(crate) fn new(
        conn: UpConn,
        framing: Framing,
        reusable: bool,
        home: std::sync::Arc<H>,
    ) -> Self {
        let mut body = Self {
            conn: Some(conn),
            framing,
            reusable,
            home,
        };
        body.finish_if_done();
        body
    }

    /// A body read whole gives its connection back, if it may be kept and
    /// nothing was read past the reply.
    fn finish_if_done(&mut self) {
        if self.framing.done() {
            if let Some(conn) = self.conn.take() {
                if self.reusable && conn.buf.is_empty() {
                    self.home.put(conn);
                }
            }
        }
    }
}

impl<H: Home> Body for UpBody<H> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.framing.done() {
                this.finish_if_done();
                return Poll::Ready(None);
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let cut = || {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the slot's reply was cut short",
                )
            };
            match &mut this.framing {
                Framing::Length(left) => {
                    if !conn.buf.is_empty() {
                        let take = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.buf.len());
                        *left -= take as u64;
                        let data = conn.buf.split_to(take).freeze();
                        this.finish_if_done();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::UntilClose => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::Chunked(state) => match dechunk(state, &mut conn.buf) {
                    Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(None) if *state == Chunk::Done => continue,
                    Ok(None) => {}
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            e,
                        ))));
                    }
                },
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_fill(cx)) {
                Ok(0) => {
                    if this.framing == Framing::UntilClose {
                        this.conn = None;
                        return Poll::Ready(None);
                    }
                    this.conn = None;
                    return Poll::Ready(Some(Err(cut())));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing.done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[&[u8]]) -> Result<(Vec<u8>, Chunk), String> {
        let mut state = Chunk::Size(0);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input {
            buf.extend_from_slice(piece);
            while let Some(data) = dechunk(&mut state, &mut buf)? {
                out.extend_from_slice(&data);
            }
        }
        Ok((out, state))
    }

    #[test]
    fn chunks_in_any_pieces() {
        let whole: &[u8] = b"3\r\nabc\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(
            all(&[whole]).unwrap(),
            (b"abc0123456789abcdef".to_vec(), Chunk::Done)
        );
        // Byte by byte.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(
            all(&bytes).unwrap(),
            (b"abc0123456789abcdef".to_vec(), Chunk::Done)
        );
        // Bare LF line ends, no trailers.
        assert_eq!(
            all(&[b"2\nhi\n0\n\n"]).unwrap(),
            (b"hi".to_vec(), Chunk::Done)
        );
        // Not done yet.
        assert_eq!(
            all(&[b"5\r\nhel"]).unwrap(),
            (b"hel".to_vec(), Chunk::Data(2))
        );
        assert!(all(&[b"zz\r\n"]).is_err());
        assert!(all(&[b"3\r\nabcXY"]).is_err());
        assert!(all(&[b"ffffffffffffffffff\r\n"]).is_err());
    }

    #[test]
    fn heads_and_their_framing() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        let mut spans = Vec::new();
        let head = parse_head(raw, &mut spans).unwrap().unwrap();
        assert_eq!((head, spans.len()), ((raw.len() - 5, 200, 1), 2));
        assert_eq!(&raw[spans[1].0.0..spans[1].0.1], b"X-A");
        assert_eq!(&raw[spans[1].1.0..spans[1].1.1], b"b");
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", &mut spans)
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"garbage\r\n\r\n", &mut spans).is_err());

        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("7"));
        assert_eq!(
            framing(&Method::GET, StatusCode::OK, &h).unwrap(),
            (Framing::Length(7), true)
        );
        assert_eq!(
            framing(&Method::HEAD, StatusCode::OK, &h).unwrap(),
            (Framing::Length(0), true)
        );
        assert_eq!(
            framing(&Method::GET, StatusCode::NOT_MODIFIED, &h).unwrap(),
            (Framing::Length(0), true)
        );
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("8"));
        assert!(framing(&Method::GET, StatusCode::OK, &h).is_err());
        let mut h = HeaderMap::new();
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("gzip, chunked"),
        );
        assert_eq!(
            framing(&Method::GET, StatusCode::OK, &h).unwrap(),
            (Framing::Chunked(Chunk::Size(0)), true)
        );
        assert_eq!(
            framing(&Method::GET, StatusCode::OK, &HeaderMap::new()).unwrap(),
            (Framing::UntilClose, false)
        );
    }
}
