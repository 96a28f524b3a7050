//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, enough for the
//! tests: one request per connection (`Connection: close`), the answer read to
//! the end; `Content-Length`, chunked and read-to-close bodies.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for any one read or write.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The headers of an answer, in order, names as received.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (any case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `addr`: status, headers and body.
pub(crate) fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, Headers, Vec<u8>)> {
    request(addr, "GET", path, &[], &[])
}

/// `POST path` on `addr` with `body`, and `headers` (such as `Content-Type` or
/// `Authorization`) besides `Host`, `Connection` and `Content-Length`.
pub(crate) fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, Headers, Vec<u8>)> {
    request(addr, "POST", path, headers, body)
}

/// Any request; see [`send`] and [`read_response`] to do the two halves apart.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, Headers, Vec<u8>)> {
    let mut stream = send(addr, method, path, headers, body)?;
    read_response(&mut stream)
}

/// Connects and writes the request, without waiting for the answer.
pub(crate) fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let has_body = !body.is_empty() || !matches!(method, "GET" | "HEAD" | "DELETE");
    if has_body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    stream.flush()?;
    Ok(stream)
}

/// Reads the answer to the end of the connection and parses it.
pub(crate) fn read_response(stream: &mut TcpStream) -> io::Result<(u16, Headers, Vec<u8>)> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Parses a whole HTTP/1.x answer.
pub(crate) fn parse_response(raw: &[u8]) -> io::Result<(u16, Headers, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid(format!("no end of headers in {} bytes", raw.len())))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("headers are not UTF-8"))?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(proto), Some(code)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad status line {status_line:?}")));
    };
    if !proto.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status = code
        .parse::<u16>()
        .map_err(|_| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Headers::default();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers
            .0
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers.get("content-length") {
        let len = len
            .parse::<usize>()
            .map_err(|_| invalid(format!("bad content-length {len:?}")))?;
        rest.get(..len)
            .ok_or_else(|| invalid(format!("body cut short: {} of {len} bytes", rest.len())))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("chunked body cut short"))?;
        let size_line = std::str::from_utf8(&rest[..eol]).map_err(|_| invalid("bad chunk size"))?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| invalid("chunked body cut short"))?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or_else(|| invalid("chunked body cut short"))?;
    }
}

#[test]
fn parses_length_chunked_and_close_delimited_bodies() {
    let (status, headers, body) =
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello").unwrap();
    assert_eq!(
        (status, headers.get("x-a"), &body[..]),
        (200, Some("b"), &b"hello"[..])
    );

    let (status, _, body) = parse_response(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((status, &body[..]), (404, &b"abcde"[..]));

    let (_, _, body) = parse_response(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
    assert_eq!(body, b"until close");

    assert!(parse_response(b"garbage").is_err());
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
}
