//! The streaming XML layer under the JUnit and Cobertura readers.
//!
//! Character data, CDATA sections and comments between tags are consumed
//! here, straight from the buffered input, so that a text of any size (a 1 GB
//! CDATA section of captured output, say) costs no more memory than the part
//! a caller asked to keep. Start and end tags that lie whole in the buffer are
//! read here too, in place and by quick-xml's rules (a tag ends at the first
//! `>` outside quotes), with the attributes of a plainly written tag found in
//! the same pass; quick-xml reads the rest of the markup (declarations, the
//! DOCTYPE, a tag cut by the end of the buffer) and words the errors in tags.
//! Everything read is checked to be UTF-8. Errors carry a byte offset that is
//! turned into a line and column only when an error is reported.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

use memchr::memmem;
use quick_xml::events::{BytesStart, Event as QxEvent};
use quick_xml::parser::{ElementParser, Parser as _};

use crate::error::ReportError;
use crate::location::Scanner;

/// Size of one chunk of input: large enough that the per-read overhead
/// vanishes, small enough to keep a few in flight.
const CHUNK: usize = 1 << 20;

/// Where a [`PeekReader`]'s bytes come from, a chunk at a time.
pub(crate) trait Source {
    /// Replaces `buf`'s contents with the next chunk; empty at the end.
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
}

/// Chunks read from a reader on the calling thread.
#[derive(Debug)]
pub(crate) struct ReadSource<R>(pub(crate) R);

impl<R: Read> Source for ReadSource<R> {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        loop {
            match (&mut self.0).take(CHUNK as u64).read_to_end(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map(drop),
            }
        }
    }
}

/// Chunks of a file read ahead on a thread of their own, so that the
/// kernel's copying overlaps the parsing. Buffers go back to the thread to be
/// filled again, so a few chunks are all the memory it takes.
#[derive(Debug)]
pub(crate) struct Prefetched {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    spare: std::sync::mpsc::SyncSender<Vec<u8>>,
    done: bool,
}

impl Prefetched {
    /// Starts a thread that reads `file` ahead, or gives the error of
    /// starting it.
    fn start(file: File) -> io::Result<Prefetched> {
        use std::sync::mpsc::sync_channel;
        let (chunk_tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(2);
        let (spare, spare_rx) = sync_channel::<Vec<u8>>(4);
        std::thread::Builder::new()
            .name("report-read-ahead".into())
            .spawn(move || {
                let mut source = ReadSource(file);
                loop {
                    let mut buf = spare_rx.try_recv().unwrap_or_default();
                    // Room for a whole chunk at once: grown while reading,
                    // it would be copied over and over.
                    buf.reserve(CHUNK);
                    let read = source.next_chunk(&mut buf);
                    let last = !matches!(&read, Ok(()) if !buf.is_empty());
                    // A closed channel means the reader stopped early: stop too.
                    if chunk_tx.send(read.map(|()| buf)).is_err() || last {
                        return;
                    }
                }
            })?;
        Ok(Prefetched {
            chunks,
            spare,
            done: false,
        })
    }
}

impl Source for Prefetched {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if self.done {
            buf.clear();
            return Ok(());
        }
        match self.chunks.recv() {
            Ok(Ok(mut chunk)) => {
                std::mem::swap(buf, &mut chunk);
                chunk.clear();
                if chunk.capacity() >= CHUNK {
                    let _ = self.spare.try_send(chunk);
                }
                self.done = buf.is_empty();
                Ok(())
            }
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Err(io::Error::other("the read-ahead thread stopped"))
            }
        }
    }
}

/// Either source, chosen at run time.
#[derive(Debug)]
pub(crate) enum AnySource<R> {
    Read(ReadSource<R>),
    File(Prefetched),
}

impl Source for Box<dyn Source + '_> {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        (**self).next_chunk(buf)
    }
}

impl<R: Read> Source for AnySource<R> {
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        match self {
            AnySource::Read(source) => source.next_chunk(buf),
            AnySource::File(source) => source.next_chunk(buf),
        }
    }
}

/// The source for a file: read ahead on a thread when one can be had, else
/// read on this one.
pub(crate) fn file_source(path: &Path) -> io::Result<AnySource<File>> {
    match Prefetched::start(File::open(path)?) {
        Ok(prefetched) => Ok(AnySource::File(prefetched)),
        Err(_) => Ok(AnySource::Read(ReadSource(File::open(path)?))),
    }
}

/// The byte order of a UTF-16 report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf16 {
    Le,
    Be,
}

/// Whether a file starting with `head` is UTF-16, and how many bytes its
/// byte-order mark takes: by the mark, else by the first character being
/// `<` in UTF-16 (the XML declaration's `<?`, as XML's appendix F
/// describes), as .NET's and the JDK's XML readers tell.
pub(crate) fn detect_utf16(head: &[u8]) -> Option<(Utf16, usize)> {
    match head {
        [0xFF, 0xFE, ..] => Some((Utf16::Le, 2)),
        [0xFE, 0xFF, ..] => Some((Utf16::Be, 2)),
        [b'<', 0, _, 0, ..] => Some((Utf16::Le, 0)),
        [0, b'<', 0, _, ..] => Some((Utf16::Be, 0)),
        _ => None,
    }
}

/// UTF-16 turned into UTF-8, a chunk at a time: a code unit or a surrogate
/// pair cut by a chunk boundary is carried to the next chunk.
#[derive(Debug)]
pub(crate) struct Utf16Decoder {
    order: Utf16,
    carry: Vec<u8>,
    /// Input bytes decoded so far, for errors.
    offset: u64,
}

impl Utf16Decoder {
    pub(crate) fn new(order: Utf16) -> Self {
        Utf16Decoder {
            order,
            carry: Vec::new(),
            offset: 0,
        }
    }

    /// Appends `input`'s characters to `out` as UTF-8.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let joined;
        let data: &[u8] = if self.carry.is_empty() {
            input
        } else {
            let mut j = std::mem::take(&mut self.carry);
            j.extend_from_slice(input);
            joined = j;
            &joined
        };
        out.reserve(data.len() / 2 + 4);
        let unit = |pair: &[u8]| match self.order {
            Utf16::Le => u16::from_le_bytes([pair[0], pair[1]]),
            Utf16::Be => u16::from_be_bytes([pair[0], pair[1]]),
        };
        let mut i = 0;
        while i + 1 < data.len() {
            let u = unit(&data[i..i + 2]);
            if u < 0x80 {
                out.push(u as u8);
                i += 2;
                continue;
            }
            let c = if (0xD800..0xDC00).contains(&u) {
                if i + 3 >= data.len() {
                    break; // the pair's second half is in the next chunk
                }
                let low = unit(&data[i + 2..i + 4]);
                if !(0xDC00..0xE000).contains(&low) {
                    return Err(self.invalid(i));
                }
                i += 4;
                char::from_u32(
                    0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(low) - 0xDC00),
                )
            } else if (0xDC00..0xE000).contains(&u) {
                return Err(self.invalid(i));
            } else {
                i += 2;
                char::from_u32(u32::from(u))
            };
            let Some(c) = c else {
                return Err(self.invalid(i));
            };
            let mut utf8 = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        self.offset += i as u64;
        self.carry.extend_from_slice(&data[i..]);
        Ok(())
    }

    /// The input ended: nothing may be left half-decoded.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(0))
        }
    }

    fn invalid(&self, at: usize) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "invalid UTF-16 (an unpaired surrogate or a cut code unit) at byte {}",
                self.offset + at as u64
            ),
        )
    }
}

/// A buffered reader that can also look ahead a few bytes without consuming
/// them, which `std::io::BufReader` cannot do across its buffer boundary.
#[derive(Debug)]
pub(crate) struct PeekReader<S> {
    source: S,
    /// Set for a UTF-16 file: what the source gives is decoded into `buf`.
    utf16: Option<Utf16Decoder>,
    scratch: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes that may still be consumed before reading fails with
    /// [`TagTooLong`]: the bound on one tag, which quick-xml holds whole.
    budget: u64,
}

/// The error a [`PeekReader`] gives when a tag outgrows [`MAX_TAG`].
#[derive(Debug)]
struct TagTooLong;

impl std::fmt::Display for TagTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a tag longer than {} MiB", MAX_TAG >> 20)
    }
}

impl std::error::Error for TagTooLong {}

/// The longest tag (element with its attributes, declaration, DOCTYPE) read.
const MAX_TAG: u64 = 16 << 20;

/// The deepest nesting of elements read.
const MAX_DEPTH: usize = 256;

impl<S: Source> PeekReader<S> {
    pub(crate) fn new(source: S) -> Self {
        PeekReader {
            source,
            utf16: None,
            scratch: Vec::new(),
            // Grown by the first chunk: a small report costs a small buffer.
            buf: Vec::new(),
            pos: 0,
            budget: u64::MAX,
        }
    }

    /// The next chunk, decoded from UTF-16 when the file is.
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let Some(decoder) = self.utf16.as_mut() else {
            return self.source.next_chunk(buf);
        };
        buf.clear();
        loop {
            self.source.next_chunk(&mut self.scratch)?;
            if self.scratch.is_empty() {
                return decoder.finish();
            }
            decoder.decode(&self.scratch, buf)?;
            if !buf.is_empty() {
                return Ok(());
            }
        }
    }

    /// From now on the input is UTF-16 in `order`; the bytes buffered are
    /// decoded, after a byte-order mark of `bom` bytes.
    pub(crate) fn switch_to_utf16(&mut self, order: Utf16, bom: usize) -> io::Result<()> {
        let mut decoder = Utf16Decoder::new(order);
        let pending = self.buf.get(self.pos + bom..).unwrap_or_default().to_vec();
        let mut decoded = Vec::new();
        decoder.decode(&pending, &mut decoded)?;
        self.buf = decoded;
        self.pos = 0;
        self.utf16 = Some(decoder);
        Ok(())
    }

    /// The bytes buffered and not consumed yet.
    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Makes at least `n` bytes available unless the input ends first, and
    /// returns what is available. Consumes nothing.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.buf.len() - self.pos < n {
            // Rare: the look-ahead crosses a chunk boundary. The few bytes
            // left go in front of the next chunk, which is not copied.
            let mut joined = std::mem::take(&mut self.buf);
            joined.drain(..self.pos);
            self.pos = 0;
            while joined.len() < n {
                let mut next = Vec::new();
                if let Err(e) = self.next_chunk(&mut next) {
                    self.buf = joined;
                    return Err(e);
                }
                if next.is_empty() {
                    break;
                }
                if joined.len() < next.len() {
                    next.splice(..0, joined.drain(..));
                    joined = next;
                } else {
                    joined.extend_from_slice(&next);
                }
            }
            self.buf = joined;
        }
        Ok(&self.buf[self.pos..])
    }
}

impl<S: Source> Read for PeekReader<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<S: Source> BufRead for PeekReader<S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.budget == 0 {
            return Err(io::Error::other(TagTooLong));
        }
        if self.pos >= self.buf.len() {
            self.pos = 0;
            let mut buf = std::mem::take(&mut self.buf);
            let read = self.next_chunk(&mut buf);
            self.buf = buf;
            read?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
        self.budget = self.budget.saturating_sub(amt as u64);
    }
}

/// Checks that a byte stream fed in arbitrary pieces is UTF-8.
#[derive(Debug, Default)]
struct Utf8Check {
    carry: [u8; 4],
    carried: usize,
}

impl Utf8Check {
    /// Feeds the bytes found at `offset`; on error returns the offset of the
    /// first byte that is not UTF-8.
    fn feed(&mut self, mut bytes: &[u8], mut offset: u64) -> Result<(), u64> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.carried > 0 {
            // Complete the character that the previous piece cut.
            let start = offset - self.carried as u64;
            while self.carried < 4 && !bytes.is_empty() {
                self.carry[self.carried] = bytes[0];
                self.carried += 1;
                bytes = &bytes[1..];
                offset += 1;
                match std::str::from_utf8(&self.carry[..self.carried]) {
                    Ok(_) => {
                        self.carried = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(start),
                    Err(_) => {}
                }
            }
            if self.carried == 4 {
                return Err(start);
            }
            if self.carried > 0 {
                return Ok(());
            }
        }
        if bytes.is_ascii() {
            return Ok(());
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(offset + valid as u64);
                }
                let tail = &bytes[valid..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carried = tail.len();
                Ok(())
            }
        }
    }

    /// The stream (or a run that must hold whole characters) ends at `offset`.
    fn finish(&mut self, offset: u64) -> Result<(), u64> {
        if self.carried > 0 {
            let start = offset - self.carried as u64;
            self.carried = 0;
            return Err(start);
        }
        Ok(())
    }
}

/// Text kept from an element's content, bounded: the first `limit` bytes
/// are kept, the rest only counted (and, with a [`Tap`], read line by line
/// for a failure's location without being kept).
#[derive(Debug)]
pub(crate) struct Capture {
    kept: Vec<u8>,
    limit: usize,
    /// Raw (still escaped) character data of the current run.
    raw: Vec<u8>,
    /// Bytes of content seen, kept or not.
    seen: u64,
    /// Whether anything was left out because of the limit.
    dropped: bool,
    tap: Option<Box<Tap>>,
}

/// The longest line of a failure's text read for a location; the rest of a
/// longer line is skipped.
const MAX_SCANNED_LINE: usize = 4096;

/// Reads the text a [`Capture`] drops, line by line, through a location
/// [`Scanner`]: once the bound is reached, the kept text's complete lines
/// go through it first, then everything after, so that it sees the whole
/// text in order.
#[derive(Debug)]
pub(crate) struct Tap {
    /// Whether the bound was reached (the scanner has the kept text).
    active: bool,
    line: Vec<u8>,
    /// Whether `line` holds character data still escaped.
    escaped: bool,
    unescaped: Vec<u8>,
    /// The location scanner, reset by the caller for each failure.
    pub(crate) scanner: Scanner,
}

impl Tap {
    pub(crate) fn new(scanner: Scanner) -> Self {
        Tap {
            active: false,
            line: Vec::new(),
            escaped: false,
            unescaped: Vec::new(),
            scanner,
        }
    }

    fn feed(&mut self, mut bytes: &[u8], escaped: bool) {
        while !bytes.is_empty() {
            let (segment, newline) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], Some(i)),
                None => (bytes, None),
            };
            let room = MAX_SCANNED_LINE.saturating_sub(self.line.len());
            let take = segment.len().min(room);
            if take > 0 {
                self.line.extend_from_slice(&segment[..take]);
                self.escaped |= escaped;
            }
            match newline {
                Some(i) => {
                    self.end_line();
                    bytes = &bytes[i + 1..];
                }
                None => break,
            }
        }
    }

    fn end_line(&mut self) {
        let line = if self.escaped {
            self.unescaped.clear();
            unescape_into(&self.line, &mut self.unescaped);
            &self.unescaped
        } else {
            &self.line
        };
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&line[..e.valid_up_to()]).unwrap_or_default(),
        };
        self.scanner.feed_line(text);
        self.line.clear();
        self.escaped = false;
    }
}

impl Capture {
    pub(crate) fn new(limit: usize) -> Self {
        Capture {
            kept: Vec::new(),
            limit,
            raw: Vec::new(),
            seen: 0,
            dropped: false,
            tap: None,
        }
    }

    /// A capture whose dropped text goes through `tap`.
    pub(crate) fn with_tap(limit: usize, tap: Tap) -> Self {
        Capture {
            tap: Some(Box::new(tap)),
            ..Capture::new(limit)
        }
    }

    pub(crate) fn clear(&mut self) {
        self.kept.clear();
        self.raw.clear();
        self.seen = 0;
        self.dropped = false;
        if let Some(tap) = self.tap.as_mut() {
            tap.active = false;
            tap.line.clear();
            tap.escaped = false;
        }
    }

    /// The location scanner, for the caller to reset before a failure.
    pub(crate) fn scanner(&mut self) -> Option<&mut Scanner> {
        self.tap.as_mut().map(|tap| &mut tap.scanner)
    }

    /// Whether the scanner has read the whole text (the kept part included):
    /// the bound was reached. Ends the last line.
    pub(crate) fn finish_scan(&mut self) -> Option<&mut Scanner> {
        let tap = self.tap.as_mut()?;
        if !tap.active {
            return None;
        }
        if !tap.line.is_empty() {
            tap.end_line();
        }
        Some(&mut tap.scanner)
    }

    /// The bound is reached: the scanner reads the kept text's complete
    /// lines now, and its unfinished last line starts the tap's line.
    fn overflow(&mut self) {
        let Some(tap) = self.tap.as_mut() else { return };
        if tap.active {
            return;
        }
        tap.active = true;
        let valid = match std::str::from_utf8(&self.kept) {
            Ok(_) => self.kept.len(),
            Err(e) => e.valid_up_to(),
        };
        let kept = &self.kept[..valid];
        let complete = memchr::memrchr(b'\n', kept).map_or(0, |i| i + 1);
        if let Ok(text) = std::str::from_utf8(&kept[..complete]) {
            for line in crate::location::lines(text) {
                tap.scanner.feed_line(line);
            }
        }
        tap.line.clear();
        tap.line.extend_from_slice(&self.kept[complete..]);
        tap.escaped = false;
    }

    fn tap_active(&self) -> bool {
        self.tap.as_ref().is_some_and(|tap| tap.active)
    }

    fn room(&self) -> usize {
        self.limit.saturating_sub(self.kept.len())
    }

    fn push_raw_text(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if self.tap_active() {
            if let Some(tap) = self.tap.as_mut() {
                tap.feed(bytes, true);
            }
            return;
        }
        // Keep a little more than the room: an entity may shrink it.
        let want = self
            .room()
            .saturating_mul(6)
            .saturating_add(16)
            .saturating_sub(self.raw.len());
        if want < bytes.len() {
            self.dropped = true;
        }
        let take = want.min(bytes.len());
        self.raw.extend_from_slice(&bytes[..take]);
        if take < bytes.len() && self.tap.is_some() {
            // What is kept is decided now; the rest goes to the scanner, in order.
            self.end_text_run();
            self.overflow();
            if let Some(tap) = self.tap.as_mut() {
                tap.feed(&bytes[take..], true);
            }
        }
    }

    pub(crate) fn end_text_run(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        let mut decoded = Vec::with_capacity(raw.len().min(self.room() + 8));
        unescape_into(&raw, &mut decoded);
        let take = decoded.len().min(self.room());
        if take < decoded.len() {
            self.dropped = true;
        }
        self.kept.extend_from_slice(&decoded[..take]);
        if take < decoded.len() && self.tap.is_some() {
            self.overflow();
            if let Some(tap) = self.tap.as_mut() {
                tap.feed(&decoded[take..], false);
            }
        }
        self.raw = raw;
        self.raw.clear();
    }

    pub(crate) fn push_str(&mut self, text: &str) {
        self.push_cdata(text.as_bytes());
    }

    fn push_cdata(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if self.tap_active() {
            if let Some(tap) = self.tap.as_mut() {
                tap.feed(bytes, false);
            }
            return;
        }
        let take = bytes.len().min(self.room());
        if take < bytes.len() {
            self.dropped = true;
        }
        self.kept.extend_from_slice(&bytes[..take]);
        if take < bytes.len() && self.tap.is_some() {
            self.overflow();
            if let Some(tap) = self.tap.as_mut() {
                tap.feed(&bytes[take..], false);
            }
        }
    }

    /// Whether content was dropped because of the limit.
    pub(crate) fn truncated(&self) -> bool {
        self.dropped
    }

    /// The kept text, without a character cut in half at the end.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match std::str::from_utf8(&self.kept) {
            Ok(s) => Cow::Borrowed(s),
            Err(e) => {
                Cow::Owned(String::from_utf8_lossy(&self.kept[..e.valid_up_to()]).into_owned())
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

/// Appends `raw` with the five predefined entities and character references
/// decoded. Anything else that starts with `&` is kept as written: a report
/// writer's mistake is no reason to lose the message, and entities declared
/// in a DOCTYPE are refused before they can be used.
pub(crate) fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(i) = memchr::memchr(b'&', rest) {
        out.extend_from_slice(&rest[..i]);
        rest = &rest[i..];
        let end = rest.iter().take(32).position(|&b| b == b';');
        let decoded = end.and_then(|end| decode_entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                rest = &rest[end + 1..];
            }
            None => {
                out.push(b'&');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

fn decode_entity(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
        [b'#', dec @ ..] => std::str::from_utf8(dec)
            .ok()
            .and_then(|d| d.parse::<u32>().ok())
            .and_then(char::from_u32),
        _ => None,
    }
}

/// An attribute value, unescaped, as text. Values are checked to be UTF-8
/// with the tag that holds them.
pub(crate) fn attr_str(raw: Cow<'_, str>) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'&') {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len());
    unescape_into(raw.as_bytes(), &mut out);
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What a reader saw: an element opening, an element closing, or the end.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// `<name attr="…">` or `<name attr="…"/>` (whose end follows at once).
    Start { tag: Tag<'a> },
    /// `</name>`, or the end of an empty element (reported right after its start).
    End,
    /// The document ended with every element closed.
    Eof,
}

/// A start tag: its content (name and attributes, as quick-xml gives
/// them) and, when they were read with the tag, its attributes.
#[derive(Debug)]
pub(crate) struct Tag<'a> {
    start: BytesStart<'a>,
    attrs: Option<&'a [Attr]>,
    /// Whether the name may have a namespace prefix (`false`: it has none).
    prefixed: bool,
}

impl<'a> std::ops::Deref for Tag<'a> {
    type Target = BytesStart<'a>;

    fn deref(&self) -> &BytesStart<'a> {
        &self.start
    }
}

/// Where one attribute lies in a tag's content: byte offsets of its name,
/// of the name's local part (after a namespace prefix) and of its value
/// (between the quotes, still escaped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    local: u32,
    key_end: u32,
    value: u32,
    value_end: u32,
}

/// What [`scan`] found at the start of the buffered input.
#[derive(Debug)]
enum Scan {
    /// A start tag, whole in the buffer.
    Start(StartScan),
    /// An end tag of this length, whole in the buffer.
    End(usize),
    /// Something for quick-xml to read.
    Other,
}

#[derive(Debug)]
struct StartScan {
    /// Bytes from `<` to `>`.
    len: usize,
    /// The content's end (before `>` or `/>`), counted from the `<`.
    content_end: usize,
    name_len: usize,
    empty: bool,
    /// Whether the attributes were read into the reader's list (they are
    /// when the tag has the plain form `<name key="value" …>`).
    attrs_read: bool,
    /// Whether the name may have a prefix (`ns:name`); `false` when it
    /// was read and has none.
    prefixed: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads the tag at the start of `chunk` (which starts with `<` after
/// text), when it lies whole in it: a start tag, with its attributes read
/// into `attrs` when it has the plain form, or an end tag (unless
/// `ends_to_quick_xml`). The tag's end is the first `>` outside quotes, as
/// quick-xml finds it. Anything else (declarations, comments, a tag cut by
/// the buffer's end, one longer than [`MAX_TAG`]) is left to quick-xml, and
/// so is a tag that is not UTF-8, which is refused later in quick-xml's
/// words.
fn scan(chunk: &[u8], ends_to_quick_xml: bool, attrs: &mut Vec<Attr>) -> Scan {
    let Some(&second) = chunk.get(1) else {
        return Scan::Other;
    };
    if chunk[0] != b'<' {
        return Scan::Other;
    }
    match second {
        b'!' | b'?' => Scan::Other,
        b'/' if ends_to_quick_xml => Scan::Other,
        b'/' => {
            // `</name>`: a short name, then `>`.
            let end = chunk[2..]
                .iter()
                .position(|&b| matches!(b, b'>' | b'"' | b'\''))
                .map(|i| i + 2);
            match end {
                Some(i) if chunk[i] == b'>' && (i + 1) as u64 <= MAX_TAG => Scan::End(i + 1),
                // Quotes in an end tag: read as quick-xml reads them.
                Some(_) => match ElementParser::Outside.feed(&chunk[1..]) {
                    Some(i) if (i + 2) as u64 <= MAX_TAG => Scan::End(i + 2),
                    _ => Scan::Other,
                },
                None => Scan::Other,
            }
        }
        _ => {
            attrs.clear();
            if let Some(tag) = scan_plain_start(chunk, attrs) {
                return Scan::Start(tag);
            }
            attrs.clear();
            // Not the plain form: the end as quick-xml finds it, and the
            // attributes read later by [`for_each_attr`] (or not at all).
            let Some(i) = ElementParser::Outside.feed(&chunk[1..]) else {
                return Scan::Other;
            };
            let len = i + 2;
            if len as u64 > MAX_TAG {
                return Scan::Other;
            }
            let (content_end, empty) = if len >= 3 && chunk[len - 2] == b'/' {
                (len - 2, true)
            } else {
                (len - 1, false)
            };
            let name_len = chunk[1..content_end]
                .iter()
                .position(|&b| is_space(b))
                .unwrap_or(content_end - 1);
            Scan::Start(StartScan {
                len,
                content_end,
                name_len,
                empty,
                attrs_read: false,
                prefixed: true,
            })
        }
    }
}

/// Reads `<name key="value" key2='value2'>` (or `/>`): a name, then
/// attributes each written `key="value"` after white space, then `>` or
/// `/>`. Its `>` is the first outside quotes, as quick-xml finds it, and
/// its attributes are what [`for_each_attr`] reads in its content. `None`
/// for anything else.
fn scan_plain_start(chunk: &[u8], attrs: &mut Vec<Attr>) -> Option<StartScan> {
    let mut i = 1;
    let mut prefixed = false;
    loop {
        i += name_end(chunk.get(i..)?)?;
        if chunk[i] != b':' {
            break;
        }
        prefixed = true;
        i += 1;
    }
    let name_len = i - 1;
    if name_len == 0 {
        return None;
    }
    loop {
        let mut b = *chunk.get(i)?;
        let spaced = is_space(b);
        if spaced {
            // Mostly one space between attributes.
            i += 1;
            b = *chunk.get(i)?;
            while is_space(b) {
                i += 1;
                b = *chunk.get(i)?;
            }
        }
        match b {
            b'>' => {
                return Some(StartScan {
                    len: i + 1,
                    content_end: i,
                    name_len,
                    empty: false,
                    attrs_read: true,
                    prefixed,
                });
            }
            b'/' if chunk.get(i + 1) == Some(&b'>') => {
                return Some(StartScan {
                    len: i + 2,
                    content_end: i,
                    name_len,
                    empty: true,
                    attrs_read: true,
                    prefixed,
                });
            }
            _ if !spaced => return None,
            _ => {}
        }
        // `key="value"`; the local name starts after the key's first colon.
        let key = i;
        let mut local = key;
        loop {
            i += name_end(chunk.get(i..)?)?;
            if chunk[i] != b':' {
                break;
            }
            if local == key {
                local = i + 1;
            }
            i += 1;
        }
        if chunk[i] != b'=' || i == key {
            return None;
        }
        let key_end = i;
        let quote = *chunk.get(i + 1)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value = i + 2;
        let value_end = value + find_in_value(quote, chunk.get(value..)?)?;
        if value_end as u64 >= MAX_TAG {
            return None;
        }
        // Offsets in the content, which starts after `<`.
        attrs.push(Attr {
            local: (local - 1) as u32,
            key_end: (key_end - 1) as u32,
            value: (value - 1) as u32,
            value_end: (value_end - 1) as u32,
        });
        i = value_end + 1;
    }
}

/// What ends a name in a plain tag: white space, `>`, `/`, quotes, `=`
/// and `<`; and `:`, which the caller steps over.
static NAME_END: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(
            i as u8,
            b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/' | b'"' | b'\'' | b'=' | b'<' | b':'
        );
        i += 1;
    }
    table
};

/// Eight bytes from the start of `bytes` (which holds at least eight), as
/// one word, the first byte lowest.
#[inline(always)]
fn word_at(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The length of the name at the start of `bytes` (up to a [`NAME_END`]
/// byte), or `None` when it runs to the end.
///
/// Every [`NAME_END`] byte is below `A`, and most names are letters: eight
/// bytes at a time, the first byte below `A` is found in a register, then
/// looked up in the table (a digit, `-` or `.` does not end the name).
#[inline]
fn name_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(rest) = bytes.get(i..).filter(|rest| rest.len() >= 8) {
        let x = word_at(rest);
        // The lowest byte below 0x41 sets the lowest bit here (a byte from
        // 0x80 never does; higher bits may be wrong, and are not used).
        let below = x.wrapping_sub(ONES * 0x41) & !x & HIGHS;
        if below == 0 {
            i += 8;
            continue;
        }
        let j = i + (below.trailing_zeros() / 8) as usize;
        if NAME_END[usize::from(bytes[j])] {
            return Some(j);
        }
        i = j + 1;
    }
    bytes[i..]
        .iter()
        .position(|&b| NAME_END[usize::from(b)])
        .map(|n| i + n)
}

/// Where the first byte that is not white space lies among the first 128
/// of `bytes`, if one does. Indentation is mostly spaces: eight bytes at a
/// time, the first byte that is not a space is found in a register.
#[inline]
fn first_non_blank(bytes: &[u8]) -> Option<usize> {
    let end = bytes.len().min(128);
    let mut i = 0;
    while i + 8 <= end {
        let x = word_at(&bytes[i..]) ^ (ONES * u64::from(b' '));
        // Exactly the bytes that are not zero (not spaces) set their bit.
        let other = (((x & LOWS) + LOWS) | x) & HIGHS;
        if other == 0 {
            i += 8;
            continue;
        }
        let j = i + (other.trailing_zeros() / 8) as usize;
        if !matches!(bytes[j], b'\n' | b'\r' | b'\t') {
            return Some(j);
        }
        i = j + 1;
    }
    bytes[i..end]
        .iter()
        .position(|&b| !is_space(b))
        .map(|n| i + n)
}

/// The first `quote` in `haystack`, which starts an attribute's value:
/// most values are short, so the first 64 bytes are searched sixteen at a
/// time in two registers (memchr's set-up costs more than that), the rest
/// with memchr. `quote` is `"` or `'`.
#[inline]
fn find_in_value(quote: u8, haystack: &[u8]) -> Option<usize> {
    // One copy per quote, so that the pattern is a constant.
    if quote == b'"' {
        find_quote::<b'"'>(haystack)
    } else {
        debug_assert_eq!(quote, b'\'');
        find_quote::<b'\''>(haystack)
    }
}

#[inline(always)]
fn find_quote<const QUOTE: u8>(haystack: &[u8]) -> Option<usize> {
    let pattern = ONES * QUOTE as u64;
    // The lowest byte of `x` that is zero sets the lowest bit of the result
    // (higher ones may be wrong, and are not used).
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let word = |bytes: &[u8]| word_at(bytes) ^ pattern;
    let mut i = 0;
    while i < 64 {
        let Some(block) = haystack.get(i..i + 16) else {
            break;
        };
        let low = zeros(word(&block[..8]));
        let high = zeros(word(&block[8..]));
        if low | high != 0 {
            return Some(if low != 0 {
                i + (low.trailing_zeros() / 8) as usize
            } else {
                i + 8 + (high.trailing_zeros() / 8) as usize
            });
        }
        i += 16;
    }
    memchr::memchr(QUOTE, &haystack[i..]).map(|n| i + n)
}

/// Where the bytes come from, to turn offsets into lines and columns.
#[derive(Debug, Clone)]
pub(crate) enum Origin<'s> {
    File(PathBuf),
    Bytes { name: PathBuf, bytes: &'s [u8] },
}

impl Origin<'_> {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Origin::File(path) => path,
            Origin::Bytes { name, .. } => name,
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    /// Offsets count from after a UTF-8 byte-order mark, which the reader
    /// skips; it is added back here.
    fn locate(&self, offset: u64) -> (u64, u64) {
        const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];
        let mut pos = Position::default();
        if let Some(located) = self.locate_utf16(offset, &mut pos) {
            return located;
        }
        match self {
            Origin::Bytes { bytes, .. } => {
                let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
                let end = (offset as usize).min(bytes.len());
                pos.advance(&bytes[..end]);
            }
            Origin::File(path) => {
                if let Ok(mut file) = File::open(path) {
                    let mut head = [0u8; 3];
                    let bom = file.read_exact(&mut head).is_ok() && head == BOM;
                    let start = if bom { 3 } else { 0 };
                    if std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).is_err() {
                        return (pos.line, pos.column);
                    }
                    let mut reader = io::BufReader::with_capacity(CHUNK, file.take(offset));
                    while let Ok(chunk) = reader.fill_buf() {
                        if chunk.is_empty() {
                            break;
                        }
                        let n = chunk.len();
                        pos.advance(chunk);
                        reader.consume(n);
                    }
                }
            }
        }
        (pos.line, pos.column)
    }

    /// [`Origin::locate`] for a UTF-16 file, whose offsets count the UTF-8
    /// it was decoded to; `None` for a file that is not UTF-16.
    fn locate_utf16(&self, offset: u64, pos: &mut Position) -> Option<(u64, u64)> {
        let mut head = [0u8; 4];
        let mut reader: Box<dyn Read + '_> = match self {
            Origin::Bytes { bytes, .. } => Box::new(*bytes),
            Origin::File(path) => Box::new(File::open(path).ok()?),
        };
        let mut got = 0;
        while got < 4 {
            match reader.read(&mut head[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let (order, bom) = detect_utf16(&head[..got])?;
        let mut decoder = Utf16Decoder::new(order);
        let mut decoded = Vec::new();
        let _ = decoder.decode(&head[bom..got], &mut decoded);
        let mut left = offset;
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let take = (decoded.len() as u64).min(left) as usize;
            pos.advance(&decoded[..take]);
            left -= take as u64;
            if left == 0 {
                break;
            }
            decoded.clear();
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if decoder.decode(&chunk[..n], &mut decoded).is_err() {
                        break;
                    }
                }
            }
        }
        Some((pos.line, pos.column))
    }

    pub(crate) fn syntax_error(&self, offset: u64, message: impl Into<String>) -> ReportError {
        let (line, column) = self.locate(offset);
        ReportError::Syntax {
            path: self.path().to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

#[derive(Debug)]
struct Position {
    line: u64,
    column: u64,
}

impl Default for Position {
    fn default() -> Self {
        Position { line: 1, column: 1 }
    }
}

impl Position {
    fn advance(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if let Some(last) = memchr::memrchr(b'\n', bytes) {
            self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
            self.column = 1;
            rest = &bytes[last + 1..];
        }
        // Count characters, not bytes: skip UTF-8 continuation bytes.
        self.column += rest.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64;
    }
}

/// A pull reader of elements, with the text between them handed to a
/// [`Capture`] when the caller asks for it.
pub(crate) struct XmlReader<'s, S> {
    reader: quick_xml::Reader<PeekReader<S>>,
    buf: Vec<u8>,
    utf8: Utf8Check,
    origin: Origin<'s>,
    /// Names of the open elements, one after the other, and where each starts
    /// in `names` and in the input.
    names: String,
    tag: String,
    open: Vec<(usize, u64)>,
    pending_end: bool,
    seen_root: bool,
    /// Elements quick-xml opened and has not seen closed: while there are
    /// any, end tags go through it.
    qx_open: usize,
    /// Whether tags are read without quick-xml where they can be (always,
    /// but for tests comparing the two ways).
    fast_tags: bool,
    /// Bytes of the last tag, still in the buffer (its event borrows them),
    /// to consume before reading on.
    deferred: usize,
    /// The attributes of the last tag, when read with it.
    attrs: Vec<Attr>,
}

impl<S> std::fmt::Debug for XmlReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlReader")
            .field("origin", &self.origin)
            .field("depth", &self.open.len())
            .finish_non_exhaustive()
    }
}

impl<'s, S: Source> XmlReader<'s, S> {
    pub(crate) fn new(input: S, origin: Origin<'s>) -> Result<Self, ReportError> {
        let mut peek = PeekReader::new(input);
        let head = peek
            .peek(4)
            .map_err(|e| ReportError::io(origin.path(), e))?;
        if head.is_empty() {
            return Err(ReportError::format(origin.path(), "empty file"));
        }
        if let Some((order, bom)) = detect_utf16(head) {
            // Some .NET loggers write UTF-16: decoded to UTF-8 as it is read.
            peek.switch_to_utf16(order, bom)
                .map_err(|e| ReportError::io(origin.path(), e))?;
            if peek
                .peek(1)
                .map_err(|e| ReportError::io(origin.path(), e))?
                .is_empty()
            {
                return Err(ReportError::format(origin.path(), "empty file"));
            }
        } else if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            peek.consume(3);
        }
        let mut reader = quick_xml::Reader::from_reader(peek);
        let config = reader.config_mut();
        // End names are checked here, against our own stack of open elements.
        config.check_end_names = false;
        config.expand_empty_elements = false;
        // Most tags are read here without quick-xml (see [`scan`]), so its
        // list of open elements is not ours: an end tag with no element
        // open is refused here, in its words.
        config.allow_unmatched_ends = true;
        Ok(XmlReader {
            reader,
            buf: Vec::with_capacity(1024),
            utf8: Utf8Check::default(),
            origin,
            names: String::with_capacity(256),
            tag: String::with_capacity(256),
            open: Vec::with_capacity(16),
            pending_end: false,
            seen_root: false,
            qx_open: 0,
            fast_tags: true,
            deferred: 0,
            attrs: Vec::with_capacity(16),
        })
    }

    pub(crate) fn origin(&self) -> &Origin<'s> {
        &self.origin
    }

    /// The input offset just past the last event.
    pub(crate) fn offset(&self) -> u64 {
        self.reader.buffer_position() + self.deferred as u64
    }

    /// An error about the last element read.
    pub(crate) fn error_here(&self, message: impl Into<String>) -> ReportError {
        let at = self.open.last().map_or(self.offset(), |&(_, at)| at);
        self.origin.syntax_error(at, message)
    }

    fn pop(&mut self) {
        if let Some((name_start, _)) = self.open.pop() {
            self.names.truncate(name_start);
        }
    }

    /// The next element boundary. The character data before it goes to
    /// `capture` when one is given, and is only checked otherwise.
    pub(crate) fn next(
        &mut self,
        mut capture: Option<&mut Capture>,
    ) -> Result<Event<'_>, ReportError> {
        if self.deferred > 0 {
            self.reader.stream().consume(self.deferred);
            self.deferred = 0;
        }
        if self.pending_end {
            self.pending_end = false;
            self.pop();
            return Ok(Event::End);
        }
        loop {
            self.skip_text(capture.as_deref_mut())?;
            let start = self.reader.buffer_position();
            if self.fast_tags {
                let chunk = self.reader.get_ref().buffered();
                match scan(chunk, self.qx_open > 0, &mut self.attrs) {
                    Scan::Start(tag) => return self.fast_start(start, tag),
                    Scan::End(len) => {
                        self.fast_end(start, len)?;
                        return Ok(Event::End);
                    }
                    Scan::Other => {}
                }
            }
            self.buf.clear();
            self.reader.get_mut().budget = MAX_TAG;
            let read = self.reader.read_event_into(&mut self.buf);
            self.reader.get_mut().budget = u64::MAX;
            let event = match read {
                Ok(event) => event,
                Err(e) => {
                    let too_long = matches!(&e, quick_xml::Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<TagTooLong>()));
                    if too_long {
                        return Err(self.origin.syntax_error(start, TagTooLong.to_string()));
                    }
                    let at = self.reader.error_position();
                    return Err(self.origin.syntax_error(at, xml_error_message(&e)));
                }
            };
            let (tag, empty) = match event {
                QxEvent::Start(tag) => (tag, false),
                QxEvent::Empty(tag) => (tag, true),
                QxEvent::End(end) => {
                    self.qx_open = self.qx_open.saturating_sub(1);
                    let name = end.name();
                    let name = name.as_ref();
                    Self::check_end(&self.origin, &self.names, &self.open, start, name)?;
                    self.pop();
                    return Ok(Event::End);
                }
                QxEvent::Eof => {
                    if let Some(&(name_start, opened)) = self.open.last() {
                        let (line, column) = self.origin.locate(opened);
                        return Err(self.origin.syntax_error(
                            start,
                            format!(
                                "unexpected end of file: <{}> opened at {line}:{column} is not closed (is the file truncated?)",
                                &self.names[name_start..],
                            ),
                        ));
                    }
                    if !self.seen_root {
                        return Err(ReportError::format(
                            self.origin.path(),
                            "no XML element in the file",
                        ));
                    }
                    return Ok(Event::Eof);
                }
                QxEvent::DocType(doctype) => {
                    if doctype.contains("<!ENTITY") || doctype.contains('%') {
                        return Err(self.origin.syntax_error(
                            start,
                            "the DOCTYPE declares entities; they are never expanded nor fetched, so the report is refused",
                        ));
                    }
                    continue;
                }
                QxEvent::Text(text) => {
                    // Text is consumed before quick-xml sees it; this is a guard.
                    if self.open.is_empty() && !text.trim_ascii().is_empty() {
                        return Err(self
                            .origin
                            .syntax_error(start, "text outside the root element"));
                    }
                    continue;
                }
                QxEvent::CData(_) | QxEvent::GeneralRef(_) if self.open.is_empty() => {
                    return Err(self
                        .origin
                        .syntax_error(start, "content outside the root element"));
                }
                QxEvent::Decl(_)
                | QxEvent::PI(_)
                | QxEvent::Comment(_)
                | QxEvent::CData(_)
                | QxEvent::GeneralRef(_) => continue,
            };
            let name_len = tag.name().as_ref().len();
            // Copied so that the event does not hold `buf` across the loop.
            let mut text = std::mem::take(&mut self.tag);
            text.clear();
            text.push_str(&tag);
            let opened = self.open_element(start, &text[..name_len], empty);
            self.tag = text;
            opened?;
            if !empty {
                // quick-xml keeps the names of the elements it opened; it
                // must see their end tags too, or its list would grow.
                self.qx_open += 1;
            }
            let tag = Tag {
                start: BytesStart::from_content(self.tag.as_str(), name_len),
                attrs: None,
                prefixed: true,
            };
            return Ok(Event::Start { tag });
        }
    }

    /// The event of a start tag found whole in the buffer by [`scan`], as
    /// quick-xml would give it, without copying it.
    fn fast_start(&mut self, start: u64, scan: StartScan) -> Result<Event<'_>, ReportError> {
        let XmlReader {
            reader,
            origin,
            open,
            names,
            seen_root,
            pending_end,
            deferred,
            attrs,
            ..
        } = self;
        let bytes = &reader.get_ref().buffered()[..scan.len];
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            // quick-xml refuses such a tag with this error, at its `<`.
            Err(e) => {
                let error = quick_xml::Error::from(e);
                return Err(origin.syntax_error(start, xml_error_message(&error)));
            }
        };
        Self::check_open(origin, open, *seen_root, start)?;
        *seen_root = true;
        open.push((names.len(), start));
        let content = &text[1..scan.content_end];
        if !scan.empty {
            // An empty element closes at once: its name is never needed.
            names.push_str(&content[..scan.name_len]);
        }
        *pending_end = scan.empty;
        // The tag stays in the buffer until the next call.
        *deferred = scan.len;
        Ok(Event::Start {
            tag: Tag {
                start: BytesStart::from_content(content, scan.name_len),
                attrs: scan.attrs_read.then_some(&attrs[..]),
                prefixed: scan.prefixed,
            },
        })
    }

    /// Reads an end tag found whole in the buffer by [`scan`].
    fn fast_end(&mut self, start: u64, len: usize) -> Result<(), ReportError> {
        let bytes = &self.reader.get_ref().buffered()[..len];
        let name = match std::str::from_utf8(bytes) {
            Ok(text) => text[2..len - 1].trim_end_matches([' ', '\t', '\r', '\n']),
            Err(e) => {
                let error = quick_xml::Error::from(e);
                return Err(self.origin.syntax_error(start, xml_error_message(&error)));
            }
        };
        Self::check_end(&self.origin, &self.names, &self.open, start, name)?;
        self.reader.stream().consume(len);
        self.pop();
        Ok(())
    }

    /// Checks that an element may open at `start`.
    #[inline(always)]
    fn check_open(
        origin: &Origin<'_>,
        open: &[(usize, u64)],
        seen_root: bool,
        start: u64,
    ) -> Result<(), ReportError> {
        if (open.is_empty() && seen_root) || open.len() >= MAX_DEPTH {
            return Err(Self::open_error(origin, open, start));
        }
        Ok(())
    }

    /// Why an element may not open at `start` (see [`Self::check_open`]).
    #[cold]
    #[inline(never)]
    fn open_error(origin: &Origin<'_>, open: &[(usize, u64)], start: u64) -> ReportError {
        if open.is_empty() {
            origin.syntax_error(start, "a second root element; a report has exactly one")
        } else {
            origin.syntax_error(start, format!("elements nested deeper than {MAX_DEPTH}"))
        }
    }

    /// Records an element opened at `start`.
    fn open_element(&mut self, start: u64, name: &str, empty: bool) -> Result<(), ReportError> {
        Self::check_open(&self.origin, &self.open, self.seen_root, start)?;
        self.seen_root = true;
        self.open.push((self.names.len(), start));
        if !empty {
            self.names.push_str(name);
        }
        self.pending_end = empty;
        Ok(())
    }

    /// Checks that the end tag `</name>` at `start` closes the element
    /// open last.
    #[inline(always)]
    fn check_end(
        origin: &Origin<'_>,
        names: &str,
        open: &[(usize, u64)],
        start: u64,
        name: &str,
    ) -> Result<(), ReportError> {
        match open.last() {
            Some(&(name_start, _)) if names.get(name_start..) == Some(name) => Ok(()),
            _ => Err(Self::end_error(origin, names, open, start, name)),
        }
    }

    /// Why the end tag `</name>` at `start` is refused (see
    /// [`Self::check_end`]).
    #[cold]
    #[inline(never)]
    fn end_error(
        origin: &Origin<'_>,
        names: &str,
        open: &[(usize, u64)],
        start: u64,
        name: &str,
    ) -> ReportError {
        let Some(&(name_start, opened)) = open.last() else {
            // In quick-xml's words, as it said before reading tags was
            // shared with it.
            let error = quick_xml::Error::IllFormed(
                quick_xml::errors::IllFormedError::UnmatchedEndTag(name.to_owned()),
            );
            return origin.syntax_error(start, xml_error_message(&error));
        };
        let open_name = names.get(name_start..).unwrap_or_default();
        let (line, column) = origin.locate(opened);
        origin.syntax_error(
            start,
            format!("closing tag </{name}> does not match <{open_name}> opened at {line}:{column}"),
        )
    }

    /// Consumes character data, CDATA sections and comments up to the next
    /// tag, declaration or processing instruction.
    fn skip_text(&mut self, mut capture: Option<&mut Capture>) -> Result<(), ReportError> {
        let outside_root = self.open.is_empty();
        if capture.is_none() && self.utf8.carried == 0 {
            // The usual case: a little indentation, then a tag. Whitespace
            // is ASCII, so there is nothing to check or keep.
            let mut stream = self.reader.stream();
            if let Ok(chunk) = stream.fill_buf() {
                let blank = first_non_blank(chunk);
                if let Some(i) = blank {
                    if chunk[i] == b'<' && chunk.get(i + 1).is_some_and(|&b| b != b'!') {
                        stream.consume(i);
                        return Ok(());
                    }
                }
            }
        }
        loop {
            let mut stream = self.reader.stream();
            let offset = stream.offset();
            let chunk = stream
                .fill_buf()
                .map_err(|e| ReportError::io(self.origin.path(), e))?;
            if chunk.is_empty() {
                if let Err(at) = self.utf8.finish(offset) {
                    return Err(self.origin.syntax_error(at, "invalid UTF-8"));
                }
                if let Some(capture) = capture.as_deref_mut() {
                    capture.end_text_run();
                }
                return Ok(());
            }
            let (n, at_markup) = match memchr::memchr(b'<', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            // Most markup is a tag: tell from the byte after `<` when it is
            // in the buffer already, without looking further ahead.
            let plain_tag = at_markup && chunk.get(n + 1).is_some_and(|&b| b != b'!');
            let text = &chunk[..n];
            if let Err(at) = self.utf8.feed(text, offset) {
                return Err(self.origin.syntax_error(at, "invalid UTF-8"));
            }
            if outside_root {
                if let Some(i) = text.iter().position(|b| !b.is_ascii_whitespace()) {
                    let message = match text[i] {
                        b'{' | b'[' => "this is not XML: it looks like JSON (pylint output?)",
                        _ => "this is not XML: text outside the root element",
                    };
                    return Err(self.origin.syntax_error(offset + i as u64, message));
                }
            }
            if let Some(capture) = capture.as_deref_mut() {
                capture.push_raw_text(text);
            }
            stream.consume(n);
            if !at_markup {
                continue;
            }
            let markup_at = offset + n as u64;
            if let Err(at) = self.utf8.finish(markup_at) {
                return Err(self.origin.syntax_error(at, "invalid UTF-8"));
            }
            if plain_tag {
                if let Some(capture) = capture.as_deref_mut() {
                    capture.end_text_run();
                }
                return Ok(());
            }
            let head = stream
                .get_mut()
                .peek(9)
                .map_err(|e| ReportError::io(self.origin.path(), e))?;
            if head.starts_with(b"<![CDATA[") {
                if outside_root {
                    return Err(self
                        .origin
                        .syntax_error(markup_at, "a CDATA section outside the root element"));
                }
                stream.consume(9);
                if let Some(capture) = capture.as_deref_mut() {
                    capture.end_text_run();
                }
                self.skip_until(b"]]>", capture.as_deref_mut(), markup_at, "CDATA section")?;
            } else if head.starts_with(b"<!--") {
                stream.consume(4);
                self.skip_until(b"-->", None, markup_at, "comment")?;
            } else {
                if let Some(capture) = capture.as_deref_mut() {
                    capture.end_text_run();
                }
                return Ok(());
            }
        }
    }

    /// Consumes input up to and including `terminator`, handing what comes
    /// before it to `capture`.
    fn skip_until(
        &mut self,
        terminator: &[u8],
        mut capture: Option<&mut Capture>,
        opened_at: u64,
        what: &str,
    ) -> Result<(), ReportError> {
        loop {
            let mut stream = self.reader.stream();
            let offset = stream.offset();
            let chunk = stream
                .fill_buf()
                .map_err(|e| ReportError::io(self.origin.path(), e))?;
            if chunk.len() < terminator.len() {
                let available = stream
                    .get_mut()
                    .peek(terminator.len())
                    .map_err(|e| ReportError::io(self.origin.path(), e))?
                    .len();
                if available < terminator.len() {
                    return Err(self.origin.syntax_error(
                        opened_at,
                        format!("unterminated {what}: the file ends inside it (is it truncated?)"),
                    ));
                }
                continue;
            }
            let (n, found) = match memmem::find(chunk, terminator) {
                Some(i) => (i, true),
                // Keep back what could be the start of a terminator cut in two.
                None => (chunk.len() + 1 - terminator.len(), false),
            };
            if let Err(at) = self.utf8.feed(&chunk[..n], offset) {
                return Err(self.origin.syntax_error(at, "invalid UTF-8"));
            }
            if let Some(capture) = capture.as_deref_mut() {
                capture.push_cdata(&chunk[..n]);
            }
            if found {
                stream.consume(n + terminator.len());
                if let Err(at) = self.utf8.finish(offset + n as u64) {
                    return Err(self.origin.syntax_error(at, "invalid UTF-8"));
                }
                return Ok(());
            }
            stream.consume(n);
        }
    }
}

fn xml_error_message(error: &quick_xml::Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "malformed XML".to_owned(),
    }
}

/// The local name of a tag (without a namespace prefix).
pub(crate) fn local_name<'a>(tag: &'a Tag<'_>) -> &'a str {
    let name = tag.name().0;
    if !tag.prefixed {
        return name;
    }
    match name.bytes().position(|b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Calls `f` with each attribute's local name (as bytes: the readers only
/// compare it, and a byte slice is taken without looking for character
/// boundaries) and raw (still escaped) value, in order, stopping at the
/// first malformed attribute. A scanner of its own rather than quick-xml's
/// iterator: attributes are where the readers spend most of their time, and
/// they need no more than this.
#[inline]
pub(crate) fn for_each_attr<'a>(
    tag: &'a Tag<'_>,
    mut f: impl FnMut(&[u8], Cow<'a, str>),
) -> Result<(), String> {
    let Some(attrs) = tag.attrs else {
        return read_attrs(tag, &mut f);
    };
    // Read with the tag.
    let content: &'a str = &tag.start;
    for a in attrs {
        let local = content.as_bytes().get(a.local as usize..a.key_end as usize);
        let value = content.get(a.value as usize..a.value_end as usize);
        if let (Some(local), Some(value)) = (local, value) {
            f(local, Cow::Borrowed(value));
        }
    }
    Ok(())
}

/// [`for_each_attr`] for a tag whose attributes were not read with it.
fn read_attrs<'a>(tag: &'a Tag<'_>, f: &mut dyn FnMut(&[u8], Cow<'a, str>)) -> Result<(), String> {
    let text: &'a str = tag.attributes_raw();
    let bytes = text.as_bytes();
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    // Every index below sits next to an ASCII byte, so slicing `text` there
    // is on a character boundary.
    let mut at = 0;
    loop {
        while at < bytes.len() && space(bytes[at]) {
            at += 1;
        }
        if at >= bytes.len() || &bytes[at..] == b"/" {
            return Ok(());
        }
        let Some(eq) = find_byte(b'=', &bytes[at..]).map(|i| at + i) else {
            return Err(format!(
                "malformed attribute '{}': no '='",
                excerpt(&text[at..])
            ));
        };
        let mut key_end = eq;
        while key_end > at && space(bytes[key_end - 1]) {
            key_end -= 1;
        }
        let key = &text[at..key_end];
        if key.is_empty() || key.bytes().any(space) {
            return Err(format!(
                "malformed attribute near '{}'",
                excerpt(&text[at..])
            ));
        }
        let mut open = eq + 1;
        while open < bytes.len() && space(bytes[open]) {
            open += 1;
        }
        let quote = match bytes.get(open) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(format!("the value of attribute '{key}' is not quoted")),
        };
        let Some(close) = memchr::memchr(quote, &bytes[open + 1..]).map(|i| open + 1 + i) else {
            return Err(format!("the value of attribute '{key}' is not closed"));
        };
        let local = match key.bytes().position(|b| b == b':') {
            Some(i) => &key[i + 1..],
            None => key,
        };
        f(local.as_bytes(), Cow::Borrowed(&text[open + 1..close]));
        at = close + 1;
    }
}

/// The first `needle` in `haystack`: a plain loop over the first bytes
/// (attribute names are short, where memchr's set-up costs more than the
/// search), memchr beyond. (Values are searched with memchr: a loop over
/// them measured slower.)
#[inline]
fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    const SHORT: usize = 32;
    let head = haystack.len().min(SHORT);
    if let Some(i) = haystack[..head].iter().position(|&b| b == needle) {
        return Some(i);
    }
    memchr::memchr(needle, &haystack[head..]).map(|i| head + i)
}

fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(xml: &[u8]) -> Result<Vec<String>, ReportError> {
        let origin = Origin::Bytes {
            name: PathBuf::from("t.xml"),
            bytes: xml,
        };
        let mut reader = XmlReader::new(ReadSource(xml), origin)?;
        let mut out = Vec::new();
        let mut capture = Capture::new(8);
        loop {
            capture.clear();
            match reader.next(Some(&mut capture))? {
                Event::Start { tag } => out.push(format!(
                    "<{}{}",
                    tag.name().as_ref(),
                    if tag.ends_with('/') { "/" } else { "" }
                )),
                Event::End => out.push(format!(">{}", capture.text())),
                Event::Eof => return Ok(out),
            }
        }
    }

    #[test]
    fn text_cdata_and_comments_are_consumed_and_captured_bounded() {
        let got =
            events(b"<?xml version='1.0'?><a>x&amp;y<!-- c --><![CDATA[<z>]]>tail-is-cut<b/></a>")
                .unwrap();
        assert_eq!(got, vec!["<a", "<b", ">", ">"]);
        let got = events(b"<a>x&amp;y<![CDATA[<z>]]>tail-is-cut</a>").unwrap();
        assert_eq!(got, vec!["<a", ">x&y<z>ta"]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = events(b"<a>\n  <b>\n</a>").unwrap_err().to_string();
        assert_eq!(
            err,
            "t.xml:3:1: closing tag </a> does not match <b> opened at 2:3"
        );
        let err = events(b"<a>\n<b>text").unwrap_err().to_string();
        assert!(err.contains("<b> opened at 2:1 is not closed"), "{err}");
        let err = events(b"<a>\n\xff</a>").unwrap_err().to_string();
        assert_eq!(err, "t.xml:2:1: invalid UTF-8");
        let err = events(b"{\"messages\": []}").unwrap_err().to_string();
        assert!(err.contains("looks like JSON"), "{err}");
        let err = events(b"<a><![CDATA[never ends").unwrap_err().to_string();
        assert!(err.contains("t.xml:1:4: unterminated CDATA"), "{err}");
        let err = events(b"").unwrap_err().to_string();
        assert_eq!(err, "t.xml: empty file");
        let err = events(b"<!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><r>&x;</r>")
            .unwrap_err()
            .to_string();
        assert!(err.contains("declares entities"), "{err}");
    }

    #[test]
    fn utf8_cut_across_pieces_is_accepted_and_bad_bytes_are_not() {
        let text = "é€😀".as_bytes();
        for cut in 0..text.len() {
            let mut check = Utf8Check::default();
            check.feed(&text[..cut], 0).unwrap();
            check.feed(&text[cut..], cut as u64).unwrap();
            check.finish(text.len() as u64).unwrap();
        }
        let mut check = Utf8Check::default();
        check.feed(b"ab\xe2\x82", 10).unwrap();
        assert_eq!(check.feed(b"x", 14), Err(12));
    }

    /// A source that hands out a few bytes at a time, to put every
    /// boundary of the input at a chunk boundary.
    struct Tiny<'a>(&'a [u8], usize);

    impl Source for Tiny<'_> {
        fn next_chunk(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            let n = self.1.min(self.0.len());
            buf.clear();
            buf.extend_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(())
        }
    }

    #[test]
    fn chunk_boundaries_anywhere_read_the_same() {
        let xml = "<?xml version='1.0'?><!-- c --><r a=\"1\">t&amp;x<![CDATA[<y>]]]]><!-- ]] -->é€<b/><c k='v'>z</c></r>".as_bytes();
        let read = |source: &mut dyn FnMut() -> Box<dyn Source>| {
            let mut reader = XmlReader::new(
                source(),
                Origin::Bytes {
                    name: PathBuf::from("t.xml"),
                    bytes: xml,
                },
            )
            .unwrap();
            let mut out = Vec::new();
            let mut capture = Capture::new(64);
            loop {
                capture.clear();
                match reader.next(Some(&mut capture)).unwrap() {
                    Event::Start { tag } => {
                        out.push(format!("{}<{}", capture.text(), tag.name().as_ref()))
                    }
                    Event::End => out.push(format!("{}>", capture.text())),
                    Event::Eof => return out,
                }
            }
        };
        let whole = read(&mut || Box::new(ReadSource(xml)));
        assert_eq!(whole, vec!["<r", "t&x<y>]]é€<b", ">", "<c", "z>", ">"]);
        for size in 1..12 {
            assert_eq!(
                read(&mut || Box::new(Tiny(xml, size))),
                whole,
                "chunks of {size}"
            );
        }
    }

    /// Every event and the error, read with tags taken from the buffer
    /// where they can be (`fast`) or all through quick-xml as before, from
    /// chunks of `size` bytes (0: one chunk).
    fn transcript(xml: &[u8], fast: bool, size: usize) -> Vec<String> {
        let origin = Origin::Bytes {
            name: PathBuf::from("t.xml"),
            bytes: xml,
        };
        let source: Box<dyn Source> = if size == 0 {
            Box::new(ReadSource(xml))
        } else {
            Box::new(Tiny(xml, size))
        };
        let mut reader = match XmlReader::new(source, origin) {
            Ok(reader) => reader,
            Err(e) => return vec![e.to_string()],
        };
        if !fast {
            reader.fast_tags = false;
            reader.reader.config_mut().allow_unmatched_ends = false;
        }
        let mut out = Vec::new();
        let mut capture = Capture::new(64);
        loop {
            capture.clear();
            match reader.next(Some(&mut capture)) {
                Ok(Event::Start { tag }) => {
                    let mut attrs = String::new();
                    let read = for_each_attr(&tag, |key, value| {
                        attrs.push_str(&format!("{}={value};", String::from_utf8_lossy(key)));
                    });
                    out.push(format!(
                        "{}<{}|{}|{}|{attrs}|{read:?}",
                        capture.text(),
                        tag.name().as_ref(),
                        &**tag,
                        tag.attributes_raw()
                    ));
                }
                Ok(Event::End) => out.push(format!("{}>", capture.text())),
                Ok(Event::Eof) => return out,
                Err(e) => {
                    out.push(e.to_string());
                    return out;
                }
            }
            out.push(reader.offset().to_string());
        }
    }

    const PIECES: &[&str] = &[
        "<t a=\"1\" p:b='2'>",
        "<t a=\"1\"b=\"2\"/>",
        "<t  a = \"1\" />",
        "<t a=\"x>y\">",
        "<t a=1>",
        "<t :a=\"1\" a:=\"2\" ::b=\"3\">",
        "<t a=\"1\"/ >",
        "<t\r\na=\"1\"\t>",
        "<t a>",
        "<t=\"1\">",
        "</t>",
        "</t \"x\">",
        "<t a=\"&quot;\" b='\"'>",
        "<a>",
        "</a>",
        "</a >",
        "<b x='1>2' y=\"'\">",
        "</b>",
        "<c/>",
        "<c />",
        "<c\ty=\"q\"/>",
        "text",
        "&amp;",
        "&x",
        "<!-- c -->",
        "<![CDATA[x>]]>",
        "<?pi x?>",
        "<?xml version='1.0'?>",
        "<!DOCTYPE r>",
        "\u{e9}",
        " ",
        "\n",
        "<",
        ">",
        "/",
        "\"",
        "'",
        "<>",
        "</>",
        "<a/ >",
        "<a\n  k='v'\n>",
        "</a\t>",
        "<p:q r:s='t'>",
        "</p:q>",
        "=",
        "<a b>",
        "<a b=\"",
        "\r\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn tags_read_from_the_buffer_read_as_quick_xml_reads_them(
            pieces in proptest::collection::vec(0..PIECES.len(), 0..24),
            bad in proptest::option::of(0usize..200),
            size in 0usize..9,
        ) {
            let mut xml: Vec<u8> = pieces.iter().flat_map(|&i| PIECES[i].bytes()).collect();
            if let Some(at) = bad {
                // An invalid UTF-8 byte somewhere, in a tag or in text.
                let at = at.min(xml.len());
                xml.insert(at, 0xff);
            }
            let expected = transcript(&xml, false, size);
            proptest::prop_assert_eq!(transcript(&xml, true, size), expected.clone());
            proptest::prop_assert_eq!(transcript(&xml, true, 0), transcript(&xml, false, 0));
        }
    }

    #[test]
    fn tags_read_from_the_buffer_read_as_quick_xml_reads_them_on_examples() {
        for xml in [
            &b"<a><b x='>' y=\"'\"/><c></c ></a>"[..],
            b"<a/></b>",
            b"<a></a></a>",
            b"<a>\n<b>",
            b"<a x='1'\xff/>",
            b"<a><b></a>",
            b"<>text</>",
            b"<a/ >",
            b"<?xml version='1.0'?><!DOCTYPE a><a>&amp;<![CDATA[<]]><!--c--></a>",
        ] {
            for size in 0..12 {
                assert_eq!(
                    transcript(xml, true, size),
                    transcript(xml, false, size),
                    "{} in chunks of {size}",
                    String::from_utf8_lossy(xml)
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn names_end_where_the_table_says(text in proptest::collection::vec(proptest::sample::select(vec![b'a', b'Z', b'A', b'@', b'0', b'-', b'.', b'_', b':', b'=', b' ', b'\t', b'>', b'/', b'"', b'<', 0x01, 0xc3, 0xa9, 0xff]), 0..40)) {
            proptest::prop_assert_eq!(
                name_end(&text),
                text.iter().position(|&b| NAME_END[usize::from(b)])
            );
        }

        #[test]
        fn blanks_end_at_the_first_other_byte(text in proptest::collection::vec(proptest::sample::select(vec![b' ', b' ', b' ', b'\n', b'\r', b'\t', b'<', b'a', 0x0b, 0x00, 0xa0, 0x20 ^ 0x80]), 0..200)) {
            proptest::prop_assert_eq!(
                first_non_blank(&text),
                text.iter().take(128).position(|&b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            );
        }

        #[test]
        fn values_end_at_the_first_quote(text in proptest::collection::vec(proptest::sample::select(vec![b'a', b'"', b'\'', 0xe9, 0x22 ^ 0x80, 0x01]), 0..200)) {
            for quote in [b'"', b'\''] {
                proptest::prop_assert_eq!(
                    find_in_value(quote, &text),
                    text.iter().position(|&b| b == quote)
                );
            }
        }
    }

    #[test]
    fn unescape_keeps_unknown_entities() {
        let mut out = Vec::new();
        unescape_into(b"a&lt;b&#65;&#x42;&nbsp;&", &mut out);
        assert_eq!(out, "a<bAB&nbsp;&".as_bytes());
    }
}
