//! The lines a change adds or modifies: everything since the merge base of
//! `HEAD` and a base ref (a pull request's target branch), read with git2.
//!
//! As `diff-cover` reads them (`git diff <base>...HEAD` plus the staged and
//! unstaged changes), the diff runs from the merge base's tree to the
//! working tree through the index, with no context lines and renames
//! followed (a moved file's unchanged lines are not "changed"); untracked
//! files, binary files and deletions add no line. Paths are relative to the
//! repository's root, with `/`.
//!
//! ```
//! # use std::process::Command;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let git = |args: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
//! #     let status = Command::new("git").args(args).current_dir(dir.path())
//! #         .env("GIT_AUTHOR_NAME", "A").env("GIT_AUTHOR_EMAIL", "a@example.com")
//! #         .env("GIT_COMMITTER_NAME", "A").env("GIT_COMMITTER_EMAIL", "a@example.com")
//! #         .env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null")
//! #         .env_remove("GIT_DIR").env_remove("GIT_WORK_TREE").status()?;
//! #     assert!(status.success());
//! #     Ok(())
//! # };
//! # git(&["init", "-q", "-b", "main"])?;
//! # std::fs::write(dir.path().join("a.py"), "one\ntwo\nthree\n")?;
//! # git(&["add", "a.py"])?;
//! # git(&["commit", "-q", "-m", "base"])?;
//! # git(&["checkout", "-q", "-b", "topic"])?;
//! # std::fs::write(dir.path().join("a.py"), "one\nTWO\nthree\nfour\n")?;
//! # git(&["commit", "-q", "-am", "change"])?;
//! let changed = pipeline_gitflow::diff::changed_lines(dir.path(), "main")?;
//! assert_eq!(changed.files["a.py"], vec![(2, 2), (4, 4)]);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{DiffFindOptions, DiffLineType, DiffOptions, Repository, RepositoryOpenFlags};

/// The lines added or modified since the merge base.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedLines {
    /// The base ref, as given.
    pub base: String,
    /// The merge base's commit id.
    pub merge_base: String,
    /// Per file (repository-relative, `/`): the changed lines as inclusive
    /// ranges, sorted and not touching each other.
    pub files: BTreeMap<String, Vec<(u32, u32)>>,
}

impl ChangedLines {
    /// How many lines changed, over all files.
    pub fn line_count(&self) -> u64 {
        self.files
            .values()
            .flatten()
            .map(|(a, b)| u64::from(b - a + 1))
            .sum()
    }
}

/// Why the changed lines could not be read. Each names the repository or
/// the ref.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// No repository at or above the path.
    #[error("no git repository at {}", path.display())]
    Open {
        /// Where it was looked for.
        path: PathBuf,
        /// git2's reason.
        #[source]
        source: git2::Error,
    },
    /// The base ref names no commit.
    #[error("`{reference}` names no commit in {} (fetch it first, e.g. actions/checkout with fetch-depth: 0)", path.display())]
    UnknownRef {
        /// The ref given.
        reference: String,
        /// The repository.
        path: PathBuf,
    },
    /// `HEAD` is unborn or not a commit.
    #[error("HEAD of {} is not a commit", path.display())]
    NoHead {
        /// The repository.
        path: PathBuf,
    },
    /// The histories of `HEAD` and the base do not meet.
    #[error("`{reference}` and HEAD have no common ancestor in {} (a shallow clone? fetch the history: fetch-depth: 0)", path.display())]
    NoMergeBase {
        /// The ref given.
        reference: String,
        /// The repository.
        path: PathBuf,
    },
    /// Reading the diff failed.
    #[error("cannot read the diff against `{reference}` in {}", path.display())]
    Read {
        /// The ref given.
        reference: String,
        /// The repository.
        path: PathBuf,
        /// git2's reason.
        #[source]
        source: git2::Error,
    },
}

/// The lines added or modified in the repository at (or above) `path` since
/// the merge base of `HEAD` and `base` (a branch, a remote branch such as
/// `origin/main`, a tag or a commit id); see the [module documentation](self).
///
/// # Errors
///
/// [`DiffError`], naming the repository or the ref.
pub fn changed_lines(path: &Path, base: &str) -> Result<ChangedLines, DiffError> {
    let repo = Repository::open_ext(
        path,
        RepositoryOpenFlags::empty(),
        std::iter::empty::<&str>(),
    )
    .map_err(|source| DiffError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let where_ = || repo.workdir().unwrap_or(repo.path()).to_path_buf();
    let read = |source| DiffError::Read {
        reference: base.to_owned(),
        path: where_(),
        source,
    };
    let base_commit = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| DiffError::UnknownRef {
            reference: base.to_owned(),
            path: where_(),
        })?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|_| DiffError::NoHead { path: where_() })?;
    let merge_base =
        repo.merge_base(base_commit.id(), head.id())
            .map_err(|_| DiffError::NoMergeBase {
                reference: base.to_owned(),
                path: where_(),
            })?;
    let base_tree = repo
        .find_commit(merge_base)
        .and_then(|c| c.tree())
        .map_err(read)?;
    let mut options = DiffOptions::new();
    options
        .context_lines(0)
        .interhunk_lines(0)
        .include_untracked(false)
        .ignore_submodules(true);
    let mut diff = if repo.is_bare() {
        let head_tree = head.tree().map_err(read)?;
        repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options))
    } else {
        repo.diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options))
    }
    .map_err(read)?;
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find)).map_err(read)?;

    let mut lines: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _hunk, line| {
            if line.origin_value() == DiffLineType::Addition
                && let (Some(number), Some(file)) = (line.new_lineno(), delta.new_file().path())
            {
                let file = file.to_string_lossy().replace('\\', "/");
                lines.entry(file).or_default().push(number);
            }
            true
        }),
    )
    .map_err(read)?;
    let files = lines
        .into_iter()
        .map(|(file, mut numbers)| {
            numbers.sort_unstable();
            numbers.dedup();
            (file, ranges(&numbers))
        })
        .collect();
    Ok(ChangedLines {
        base: base.to_owned(),
        merge_base: merge_base.to_string(),
        files,
    })
}

/// Sorted, distinct numbers as inclusive ranges of consecutive ones.
fn ranges(numbers: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// The commit `reference` (`HEAD`, a tag, a branch) names in the
/// repository holding `path`, as 40 hex digits; `None` when there is no
/// repository there or the reference does not resolve to a commit.
pub fn commit_of(path: &Path, reference: &str) -> Option<String> {
    let repo = Repository::open_ext(
        path,
        RepositoryOpenFlags::empty(),
        std::iter::empty::<&str>(),
    )
    .ok()?;
    let commit = repo
        .revparse_single(reference)
        .ok()?
        .peel_to_commit()
        .ok()?;
    Some(commit.id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_numbers_make_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), vec![(1, 3), (5, 5), (7, 8)]);
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(ranges(&[u32::MAX]), vec![(u32::MAX, u32::MAX)]);
    }
}
