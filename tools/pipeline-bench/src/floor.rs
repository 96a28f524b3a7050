//! The bare quick-xml event loop: the floor for any parser built on quick-xml.
//!
//! It reads every event into one reused buffer and only counts them; a real
//! parser does this and more, so its time can approach but not beat this.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::Event;

/// What the loop saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloorCounts {
    /// Events of any kind, `Eof` excluded.
    pub events: u64,
    /// `Start` and `Empty` events named `testcase`.
    pub testcases: u64,
    /// `Start` and `Empty` events named `line`.
    pub lines: u64,
}

/// Reads `reader` to the end with `read_event_into`, clearing the buffer after
/// each event, and counts the events.
///
/// # Errors
///
/// The first malformed construct quick-xml reports; `reader.error_position()`
/// tells where.
pub fn count_events<R: BufRead>(reader: &mut Reader<R>) -> quick_xml::Result<FloorCounts> {
    let mut counts = FloorCounts::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testcase" => counts.testcases += 1,
                "line" => counts.lines += 1,
                _ => {}
            },
            _ => {}
        }
        counts.events += 1;
        buf.clear();
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_and_elements() {
        let xml = br#"<?xml version="1.0"?><r><testcase a="1"/><testcase>x &amp; y</testcase><line/></r>"#;
        let mut reader = Reader::from_reader(&xml[..]);
        let c = count_events(&mut reader).unwrap();
        assert_eq!((c.testcases, c.lines), (2, 1));
        assert!(c.events >= 7);
    }

    #[test]
    fn reports_mismatched_tags() {
        let mut reader = Reader::from_reader(&b"<a><b></a>"[..]);
        assert!(count_events(&mut reader).is_err());
    }
}
