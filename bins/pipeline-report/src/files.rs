//! Turning `--junit 'reports/**/*.xml'` into files.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Expands each pattern: an existing path is taken as is, anything else as
/// a glob. Files are sorted and each is listed once. A pattern matching
/// nothing is an error unless `allow_missing`.
pub(crate) fn expand(
    flag: &str,
    patterns: &[String],
    allow_missing: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for pattern in patterns {
        if Path::new(pattern).is_file() {
            files.push(PathBuf::from(pattern));
            continue;
        }
        let matches = glob::glob(pattern)
            .with_context(|| format!("--{flag} '{pattern}' is not a valid glob"))?;
        let mut found = 0;
        for entry in matches {
            let path =
                entry.with_context(|| format!("--{flag} '{pattern}': cannot read a directory"))?;
            if path.is_file() {
                files.push(path);
                found += 1;
            }
        }
        if found == 0 && !allow_missing {
            bail!("--{flag} '{pattern}' matches no file (pass --allow-missing if that can happen)");
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_expand_sorted_and_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for f in ["a/2.xml", "a/b/1.xml", "a/x.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let root = dir.path().display();
        let got = expand(
            "junit",
            &[format!("{root}/a/**/*.xml"), format!("{root}/a/2.xml")],
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![dir.path().join("a/2.xml"), dir.path().join("a/b/1.xml")]
        );
        let err = expand("junit", &[format!("{root}/none/*.xml")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches no file"), "{err}");
        assert!(
            expand("junit", &[format!("{root}/none/*.xml")], true)
                .unwrap()
                .is_empty()
        );
    }
}
