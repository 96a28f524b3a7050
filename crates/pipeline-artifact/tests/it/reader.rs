//! A small, strict zip reader for the tests: it checks what the artifact
//! promises (fixed dates, Unix modes, no extra fields but zip64, local
//! headers agreeing with the central directory) and returns the files.

use std::io::Read as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadEntry {
    pub(crate) name: String,
    pub(crate) mode: u32,
    pub(crate) data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads every entry of `zip`, panicking on anything unexpected.
pub(crate) fn read_zip(zip: &[u8]) -> Vec<ReadEntry> {
    let eocd = zip.len() - 22;
    assert_eq!(u32_at(zip, eocd), 0x0605_4b50, "end record at the very end");
    assert_eq!(u16_at(zip, eocd + 20), 0, "no comment");
    let mut count = u64::from(u16_at(zip, eocd + 10));
    let mut cd_size = u64::from(u32_at(zip, eocd + 12));
    let mut cd_offset = u64::from(u32_at(zip, eocd + 16));
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let locator = eocd - 20;
        assert_eq!(u32_at(zip, locator), 0x0706_4b50);
        let end64 = usize::try_from(u64_at(zip, locator + 8)).unwrap();
        assert_eq!(u32_at(zip, end64), 0x0606_4b50);
        count = u64_at(zip, end64 + 32);
        cd_size = u64_at(zip, end64 + 40);
        cd_offset = u64_at(zip, end64 + 48);
    }
    let mut at = usize::try_from(cd_offset).unwrap();
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(zip, at), 0x0201_4b50);
        assert_eq!(zip[at + 5], 3, "made by Unix");
        let method = u16_at(zip, at + 10);
        assert_eq!(u16_at(zip, at + 12), 0, "time 00:00:00");
        assert_eq!(u16_at(zip, at + 14), 0x21, "date 1980-01-01");
        let crc = u32_at(zip, at + 16);
        let mut compressed = u64::from(u32_at(zip, at + 20));
        let mut size = u64::from(u32_at(zip, at + 24));
        let name_len = usize::from(u16_at(zip, at + 28));
        let extra_len = usize::from(u16_at(zip, at + 30));
        assert_eq!(u16_at(zip, at + 32), 0, "no comment");
        let mode = u32_at(zip, at + 38) >> 16;
        let mut offset = u64::from(u32_at(zip, at + 42));
        let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let mut extra = &zip[at + 46 + name_len..at + 46 + name_len + extra_len];
        if extra_len > 0 {
            assert_eq!(u16_at(extra, 0), 1, "only the zip64 extra field");
            extra = &extra[4..];
            for field in [&mut size, &mut compressed, &mut offset] {
                if *field == 0xFFFF_FFFF {
                    *field = u64_at(extra, 0);
                    extra = &extra[8..];
                }
            }
        }
        at += 46 + name_len + extra_len;

        let local = usize::try_from(offset).unwrap();
        assert_eq!(u32_at(zip, local), 0x0403_4b50);
        assert_eq!(u16_at(zip, local + 8), method);
        let local_name_len = usize::from(u16_at(zip, local + 26));
        let local_extra_len = usize::from(u16_at(zip, local + 28));
        assert_eq!(
            &zip[local + 30..local + 30 + local_name_len],
            name.as_bytes()
        );
        let start = local + 30 + local_name_len + local_extra_len;
        let raw = &zip[start..start + usize::try_from(compressed).unwrap()];
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            other => panic!("unexpected method {other}"),
        };
        assert_eq!(data.len() as u64, size, "{name}: size");
        assert_eq!(crc32fast::hash(&data), crc, "{name}: crc");
        entries.push(ReadEntry { name, mode, data });
    }
    assert_eq!(at as u64, cd_offset + cd_size);
    entries
}
