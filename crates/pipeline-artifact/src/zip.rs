//! The bytes of the zip format (APPNOTE 6.3.10), written with fixed values
//! wherever the format would record something about the machine: every
//! timestamp is the zip epoch, every entry was "made by" Unix, no extra field
//! but the zip64 one when a size or offset needs it.

/// Deflate, the only compression used.
pub(crate) const METHOD_DEFLATE: u16 = 8;
/// No compression: empty files and files that deflate does not shrink.
pub(crate) const METHOD_STORED: u16 = 0;

/// MS-DOS date of 1980-01-01 (the zip epoch); the time is 00:00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// Bit 3: sizes and CRC follow the data in a data descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// Bit 11: the name is UTF-8 (set only for non-ASCII names, as Info-ZIP does).
const FLAG_UTF8: u16 = 1 << 11;
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Made by" Unix (3), so readers take the permissions from the high 16 bits
/// of the external attributes.
const MADE_BY_UNIX: u16 = 3 << 8;
const S_IFREG: u32 = 0o100_000;
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// 32-bit fields hold values up to this; the value itself means "see zip64".
pub(crate) const MAX_U32: u64 = 0xFFFF_FFFF;
const MAX_U16: u64 = 0xFFFF;

/// What the central directory records of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    pub(crate) executable: bool,
    pub(crate) offset: u64,
    /// Sizes and CRC came after the data (streamed entries).
    pub(crate) descriptor: bool,
    /// The local header carries a zip64 extra field.
    pub(crate) local_zip64: bool,
}

impl Entry {
    fn flags(&self) -> u16 {
        let mut flags = 0;
        if self.descriptor {
            flags |= FLAG_DESCRIPTOR;
        }
        if !self.name.is_ascii() {
            flags |= FLAG_UTF8;
        }
        flags
    }

    fn mode(&self) -> u32 {
        S_IFREG | if self.executable { 0o755 } else { 0o644 }
    }
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A 32-bit field: the value, or the zip64 marker when it does not fit or
/// zip64 is forced.
fn field32(value: u64, zip64: bool) -> u32 {
    if zip64 || value >= MAX_U32 {
        u32::MAX
    } else {
        // Checked just above.
        value as u32
    }
}

fn name_len(name: &str) -> u16 {
    // Names longer than 65535 bytes are refused when the tree is read.
    u16::try_from(name.len()).unwrap_or(u16::MAX)
}

/// The local file header. With a descriptor, CRC and sizes are zero here
/// (zip64: zero in the extra field) and follow the data.
pub(crate) fn local_header(buf: &mut Vec<u8>, entry: &Entry) {
    let zip64 = entry.local_zip64;
    put32(buf, 0x0403_4b50);
    put16(
        buf,
        if zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFLATE
        },
    );
    put16(buf, entry.flags());
    put16(buf, entry.method);
    put16(buf, DOS_TIME);
    put16(buf, DOS_DATE);
    let (crc, compressed, size) = if entry.descriptor {
        (0, 0, 0)
    } else {
        (entry.crc32, entry.compressed_size, entry.size)
    };
    put32(buf, crc);
    if zip64 {
        put32(buf, u32::MAX);
        put32(buf, u32::MAX);
    } else {
        put32(buf, field32(compressed, false));
        put32(buf, field32(size, false));
    }
    put16(buf, name_len(&entry.name));
    put16(buf, if zip64 { 20 } else { 0 });
    buf.extend_from_slice(entry.name.as_bytes());
    if zip64 {
        put16(buf, ZIP64_EXTRA_ID);
        put16(buf, 16);
        put64(buf, size);
        put64(buf, compressed);
    }
}

/// The data descriptor after a streamed entry's data.
pub(crate) fn data_descriptor(buf: &mut Vec<u8>, entry: &Entry) {
    put32(buf, 0x0807_4b50);
    put32(buf, entry.crc32);
    if entry.local_zip64 {
        put64(buf, entry.compressed_size);
        put64(buf, entry.size);
    } else {
        put32(buf, field32(entry.compressed_size, false));
        put32(buf, field32(entry.size, false));
    }
}

/// The entry's central directory header.
pub(crate) fn central_header(buf: &mut Vec<u8>, entry: &Entry, force_zip64: bool) {
    let size_64 = force_zip64 || entry.size >= MAX_U32;
    let compressed_64 = force_zip64 || entry.compressed_size >= MAX_U32;
    let offset_64 = force_zip64 || entry.offset >= MAX_U32;
    let extra_len = 8 * (u16::from(size_64) + u16::from(compressed_64) + u16::from(offset_64));
    let version = if extra_len > 0 || entry.local_zip64 {
        VERSION_ZIP64
    } else {
        VERSION_DEFLATE
    };
    put32(buf, 0x0201_4b50);
    put16(buf, MADE_BY_UNIX | version);
    put16(buf, version);
    put16(buf, entry.flags());
    put16(buf, entry.method);
    put16(buf, DOS_TIME);
    put16(buf, DOS_DATE);
    put32(buf, entry.crc32);
    put32(buf, field32(entry.compressed_size, compressed_64));
    put32(buf, field32(entry.size, size_64));
    put16(buf, name_len(&entry.name));
    put16(buf, if extra_len > 0 { extra_len + 4 } else { 0 });
    put16(buf, 0); // comment length
    put16(buf, 0); // disk number
    put16(buf, 0); // internal attributes
    put32(buf, entry.mode() << 16);
    put32(buf, field32(entry.offset, offset_64));
    buf.extend_from_slice(entry.name.as_bytes());
    if extra_len > 0 {
        put16(buf, ZIP64_EXTRA_ID);
        put16(buf, extra_len);
        // The order is fixed by the format: size, compressed size, offset.
        if size_64 {
            put64(buf, entry.size);
        }
        if compressed_64 {
            put64(buf, entry.compressed_size);
        }
        if offset_64 {
            put64(buf, entry.offset);
        }
    }
}

/// The end of the archive: zip64 end record and locator when the count,
/// size or offset of the central directory needs them, then the classic end
/// record. They start right after the central directory.
pub(crate) fn end_records(
    buf: &mut Vec<u8>,
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
    force_zip64: bool,
) {
    let count_64 = force_zip64 || entries >= MAX_U16;
    let size_64 = force_zip64 || cd_size >= MAX_U32;
    let offset_64 = force_zip64 || cd_offset >= MAX_U32;
    if count_64 || size_64 || offset_64 {
        let zip64_end_offset = cd_offset + cd_size;
        put32(buf, 0x0606_4b50);
        put64(buf, 44); // size of the rest of this record
        put16(buf, MADE_BY_UNIX | VERSION_ZIP64);
        put16(buf, VERSION_ZIP64);
        put32(buf, 0); // this disk
        put32(buf, 0); // disk with the central directory
        put64(buf, entries);
        put64(buf, entries);
        put64(buf, cd_size);
        put64(buf, cd_offset);
        // Locator.
        put32(buf, 0x0706_4b50);
        put32(buf, 0);
        put64(buf, zip64_end_offset);
        put32(buf, 1); // total disks
    }
    let count = if count_64 {
        u16::MAX
    } else {
        // Checked above.
        entries as u16
    };
    put32(buf, 0x0605_4b50);
    put16(buf, 0);
    put16(buf, 0);
    put16(buf, count);
    put16(buf, count);
    put32(buf, field32(cd_size, size_64));
    put32(buf, field32(cd_offset, offset_64));
    put16(buf, 0); // comment length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            name: "a.txt".to_owned(),
            method: METHOD_STORED,
            crc32: crc32fast::hash(b"hi"),
            compressed_size: 2,
            size: 2,
            executable: false,
            offset: 0,
            descriptor: false,
            local_zip64: false,
        }
    }

    #[test]
    fn a_one_file_archive_matches_the_format_byte_for_byte() {
        let e = entry();
        let mut buf = Vec::new();
        local_header(&mut buf, &e);
        assert_eq!(buf.len(), 30 + 5);
        assert_eq!(&buf[..4], b"PK\x03\x04");
        assert_eq!(&buf[10..14], &[0, 0, 0x21, 0], "1980-01-01 00:00:00");
        buf.extend_from_slice(b"hi");
        let cd_offset = buf.len() as u64;
        central_header(&mut buf, &e, false);
        let cd_size = buf.len() as u64 - cd_offset;
        assert_eq!(cd_size, 46 + 5);
        end_records(&mut buf, 1, cd_offset, cd_size, false);
        assert_eq!(buf.len() as u64, cd_offset + cd_size + 22);
        let cd = &buf[cd_offset as usize..];
        assert_eq!(&cd[4..6], &[20, 3], "made by Unix, version 2.0");
        assert_eq!(&cd[38..42], &(0o100644u32 << 16).to_le_bytes());
    }

    #[test]
    fn zip64_fields_appear_only_when_needed() {
        let mut e = entry();
        e.offset = MAX_U32;
        let mut buf = Vec::new();
        central_header(&mut buf, &e, false);
        assert_eq!(buf.len(), 46 + 5 + 4 + 8);
        assert_eq!(&buf[42..46], &[0xFF; 4]);
        assert_eq!(&buf[6..8], &[45, 0]);

        let mut buf = Vec::new();
        end_records(&mut buf, 70_000, 10, 10, false);
        assert_eq!(buf.len(), 56 + 20 + 22);
        let mut buf = Vec::new();
        end_records(&mut buf, 65_534, 10, 10, false);
        assert_eq!(buf.len(), 22);
    }

    #[test]
    fn executables_get_0755() {
        let mut e = entry();
        e.executable = true;
        assert_eq!(e.mode(), 0o100_755);
        e.name = "é".to_owned();
        assert_eq!(e.flags(), FLAG_UTF8);
    }
}
