//! Any bytes given to the unpacker give an extracted tree or an error, never
//! a panic; a tree holds only regular files and directories inside the
//! destination, and an error leaves nothing behind.
#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pipeline_artifact::{UnpackLimits, unpack};

fn check_tree(root: &Path, dir: &Path) {
    for item in fs::read_dir(dir).expect("list the release") {
        let path = item.expect("list the release").path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        assert!(path.starts_with(root));
        if meta.is_dir() {
            check_tree(root, &path);
        } else {
            assert!(meta.is_file(), "{} is not a regular file", path.display());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let zip = dir.path().join("fuzz.zip");
    fs::write(&zip, data).expect("write the archive");
    let dest = dir.path().join("release");
    let limits = UnpackLimits {
        max_entries: 256,
        max_total_bytes: 4 << 20,
        max_ratio: 200,
        ratio_floor: 1 << 20,
    };
    match unpack(&zip, &dest, &limits) {
        Ok(unpacked) => {
            assert!(unpacked.files <= unpacked.entries);
            assert!(unpacked.bytes <= limits.max_total_bytes);
            check_tree(&dest, &dest);
        }
        Err(_) => {
            assert!(!dest.exists());
            assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
        }
    }
});
