//! Writing helpers: a byte-counting writer and XML escaping.

use std::fmt;
use std::io::{self, Write};

/// Counts the bytes written through it, so generators can stop at a size.
#[derive(Debug)]
pub(crate) struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, bytes: 0 }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn escape<W: Write>(w: &mut W, s: &str, in_attr: bool) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if in_attr => b"&quot;",
            b'\n' if in_attr => b"&#10;",
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        w.write_all(rep)?;
        start = i + 1;
    }
    w.write_all(&bytes[start..])
}

/// Writes `s` escaped for a double-quoted attribute value (newlines as `&#10;`).
pub(crate) fn attr<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    escape(w, s, true)
}

/// Writes `s` escaped as element text.
pub(crate) fn text<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    escape(w, s, false)
}

/// Writes `s` as a CDATA section.
pub(crate) fn cdata<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    debug_assert!(!s.contains("]]>"), "CDATA content must not contain ]]>");
    w.write_all(b"<![CDATA[")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"]]>")
}

/// Microseconds shown as seconds with three decimals, as test runners write them.
pub(crate) struct Secs(pub(crate) u64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1_000_000, (self.0 / 1_000) % 1_000)
    }
}

/// A coverage rate `covered / valid` with at most four decimals, `1` when
/// nothing is valid (coverage.py's convention).
pub(crate) struct Rate(pub(crate) u64, pub(crate) u64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Rate(covered, valid) = *self;
        if valid == 0 || covered >= valid {
            return f.write_str("1");
        }
        let r = (covered * 10_000 + valid / 2) / valid;
        if r == 0 {
            return f.write_str("0");
        }
        if r >= 10_000 {
            return f.write_str("1");
        }
        let s = format!("{r:04}");
        write!(f, "0.{}", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, in_attr: bool) -> String {
        let mut out = Vec::new();
        escape(&mut out, s, in_attr).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes() {
        assert_eq!(
            esc("a<b & \"c\"\n", true),
            "a&lt;b &amp; &quot;c&quot;&#10;"
        );
        assert_eq!(esc("a<b & \"c\"\n", false), "a&lt;b &amp; \"c\"\n");
        assert_eq!(esc("plain", true), "plain");
    }

    #[test]
    fn formats() {
        assert_eq!(Secs(12_345_678).to_string(), "12.345");
        assert_eq!(Secs(999).to_string(), "0.000");
        assert_eq!(Rate(0, 0).to_string(), "1");
        assert_eq!(Rate(0, 7).to_string(), "0");
        assert_eq!(Rate(6, 7).to_string(), "0.8571");
        assert_eq!(Rate(1, 2).to_string(), "0.5");
        assert_eq!(Rate(7, 7).to_string(), "1");
        assert_eq!(Rate(99_999, 100_000).to_string(), "1");
    }

    #[test]
    fn counts_bytes() {
        let mut w = Counting::new(Vec::new());
        w.write_all(b"hello").unwrap();
        attr(&mut w, "<").unwrap();
        assert_eq!(w.bytes(), 9);
    }
}
