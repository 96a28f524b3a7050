//! Reading the source tree: which files go into the artifact, in which order.

use std::fs;
use std::path::{Path, PathBuf};

use crate::PackageError;
use crate::ignore::Rules;

/// A file to package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceFile {
    /// Relative to the source root, `/`-separated: the name in the archive.
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// The size when the tree was read (the bytes read later decide).
    pub(crate) size: u64,
    /// Any of the execute bits is set.
    pub(crate) executable: bool,
}

/// The files under `root` that `rules` do not exclude, sorted by name (byte
/// order of the `/`-separated path). Excluded directories are not entered;
/// symbolic links and special files that are not excluded are refused.
pub(crate) fn collect(root: &Path, rules: &Rules) -> Result<Vec<SourceFile>, PackageError> {
    let mut files = Vec::new();
    let mut pending: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let read_error = |source| PackageError::ReadDir {
            path: dir.clone(),
            source,
        };
        for item in fs::read_dir(&dir).map_err(read_error)? {
            let item = item.map_err(read_error)?;
            let path = item.path();
            let file_name = item.file_name();
            let Some(file_name) = file_name.to_str() else {
                return Err(PackageError::NonUtf8Name { path });
            };
            let name = if prefix.is_empty() {
                file_name.to_owned()
            } else {
                format!("{prefix}/{file_name}")
            };
            let file_type = item.file_type().map_err(|source| PackageError::Read {
                path: path.clone(),
                source,
            })?;
            if file_type.is_dir() {
                if !rules.is_excluded(&name, true) {
                    pending.push((path, name));
                }
                continue;
            }
            if rules.is_excluded(&name, false) {
                continue;
            }
            if file_type.is_symlink() {
                let target = fs::read_link(&path).unwrap_or_default();
                return Err(PackageError::Symlink { path, target });
            }
            if !file_type.is_file() {
                return Err(PackageError::NotAFile { path });
            }
            if name.len() > usize::from(u16::MAX) {
                return Err(PackageError::NameTooLong { path });
            }
            let metadata = item.metadata().map_err(|source| PackageError::Read {
                path: path.clone(),
                source,
            })?;
            files.push(SourceFile {
                name,
                path,
                size: metadata.len(),
                executable: is_executable(&metadata),
            });
        }
    }
    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_sorted_by_bytes_and_excluded_directories_are_not_entered() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["b", "a/z", "a.txt", "a/b/c", "skip/x", "B", "a-b"] {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, name).unwrap();
        }
        let mut rules = Rules::default();
        rules.add_file("t", "skip/\n!skip/x\n").unwrap();
        let names: Vec<String> = collect(root, &rules)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        // '-' (0x2d) < '.' (0x2e) < '/' (0x2f): byte order of the whole path.
        assert_eq!(names, ["B", "a-b", "a.txt", "a/b/c", "a/z", "b"]);
    }
}
