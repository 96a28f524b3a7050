//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, enough for the
//! tests: one request per connection (`Connection: close`), the answer read to
//! the end; `Content-Length`, chunked and read-to-close bodies. And
//! [`KeepAlive`], one connection reused for request after request.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
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
    let (status, headers) = parse_head(&raw[..end])?;
    let rest = &raw[end + 4..];
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

/// Parses the status line and the headers (without the blank line).
fn parse_head(raw: &[u8]) -> io::Result<(u16, Headers)> {
    let head = std::str::from_utf8(raw).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
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
    Ok((status, headers))
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

/// One connection kept open for request after request, as browsers and
/// load balancers use a front: each answer is read exactly (by
/// `Content-Length` or chunks), so the next request goes on the same
/// connection.
#[derive(Debug)]
pub(crate) struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub(crate) fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// `GET path` on this connection: status, headers and body. An error
    /// leaves the connection unusable.
    pub(crate) fn get(&mut self, path: &str) -> io::Result<(u16, Headers, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        let stream = self.reader.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.flush()?;
        let mut head = Vec::new();
        loop {
            let start = head.len();
            if self.reader.read_until(b'\n', &mut head)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the connection closed after {} bytes of the answer",
                        head.len()
                    ),
                ));
            }
            if &head[start..] == b"\r\n" {
                break;
            }
        }
        let (status, headers) = parse_head(&head)?;
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            self.read_chunks()?
        } else if let Some(len) = headers.get("content-length") {
            let len = len
                .parse::<usize>()
                .map_err(|_| invalid(format!("bad content-length {len:?}")))?;
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body)?;
            body
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            return Err(invalid(
                "an answer without a length cannot be followed on the same connection",
            ));
        };
        Ok((status, headers, body))
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line)? == 0 {
            return Err(invalid("chunked body cut short"));
        }
        String::from_utf8(line).map_err(|_| invalid("bad chunk line"))
    }

    fn read_chunks(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_hex = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                while self.read_line()? != "\r\n" {}
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf)?;
        }
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

#[test]
fn keep_alive_reads_answers_exactly_and_reuses_the_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let answers: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Pipeline-Version: 1\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ];
        let mut paths = Vec::new();
        for answer in answers {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            paths.push(head.split(' ').nth(1).unwrap().to_owned());
            reader.get_mut().write_all(answer).unwrap();
        }
        paths
    });
    let mut conn = KeepAlive::connect(addr).unwrap();
    let (status, headers, body) = conn.get("/a").unwrap();
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
    assert_eq!(headers.get("x-pipeline-version"), Some("1"));
    let (status, _, body) = conn.get("/b").unwrap();
    assert_eq!((status, &body[..]), (200, &b"abcde"[..]));
    let (status, _, body) = conn.get("/c").unwrap();
    assert_eq!((status, body.len()), (204, 0));
    assert_eq!(server.join().unwrap(), ["/a", "/b", "/c"]);
    // The server is gone: the next request fails.
    assert!(conn.get("/d").is_err());
}
