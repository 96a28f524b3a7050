//! What the agent trusts before it starts: its state directory and its
//! token. Both must belong to the user the agent runs as, be closed to
//! others and be no symbolic link; whoever else could write there could
//! deploy code that runs as the agent's user.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use pipeline_ci::Secret;

/// Why the agent does not trust its state directory or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The path is there but not as it must be: `problem` says what, `fix`
    /// what to do.
    #[error("{}: {problem}; {fix}", path.display())]
    Untrusted {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// The path cannot be read or created.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn untrusted(path: &Path, problem: impl Into<String>, fix: impl Into<String>) -> TrustError {
    TrustError::Untrusted {
        path: path.to_path_buf(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TrustError {
    let path = path.to_path_buf();
    move |source| TrustError::Io { op, path, source }
}

/// `uid 1000 (alice)`, or `uid 1000` when the system does not name it.
fn user(uid: u32) -> String {
    let name = fs::read_to_string("/etc/passwd").ok().and_then(|text| {
        text.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?;
            (id.parse() == Ok(uid)).then(|| name.to_owned())
        })
    });
    match name {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

/// The user the agent runs as, for `chown`: its name, or its uid.
fn chown_name(uid: u32) -> String {
    let described = user(uid);
    match described.split_once(" (") {
        Some((_, name)) => name.trim_end_matches(')').to_owned(),
        None => uid.to_string(),
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Makes sure `dir` is a state directory the agent can trust: creates it
/// (mode 0700, parents as needed) when it is missing; otherwise it must be a
/// directory, not a symbolic link, owned by the agent's user and not
/// writable by its group or others.
pub fn prepare_state_dir(dir: &Path) -> Result<(), TrustError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io("create", dir))?;
        }
        Err(e) => return Err(io("read", dir)(e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(io("read", dir))?;
    if meta.file_type().is_symlink() {
        return Err(untrusted(
            dir,
            "the state directory is a symbolic link",
            "give --state-dir the directory itself",
        ));
    }
    if !meta.is_dir() {
        return Err(untrusted(
            dir,
            "not a directory",
            "give --state-dir a directory, or a path where the agent may create one",
        ));
    }
    let me = euid();
    if meta.uid() != me {
        return Err(untrusted(
            dir,
            format!(
                "the state directory is owned by {}, not by the agent's user, {}",
                user(meta.uid()),
                user(me)
            ),
            format!(
                "use a directory of the agent's user (remove this one and the agent creates \
                 it), or, if you trust everything in it, `chown -R {} {}`",
                chown_name(me),
                dir.display()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(untrusted(
            dir,
            format!(
                "the state directory can be written by its group or others (mode {mode:o}); \
                 the agent keeps its token and releases there"
            ),
            format!("`chmod go-w {}`", dir.display()),
        ));
    }
    Ok(())
}

/// Checks what was opened as the token: a regular file of the agent's user
/// that its group and others can neither read nor write.
fn check_token(path: &Path, file: &File) -> Result<(), TrustError> {
    let meta = file.metadata().map_err(io("read", path))?;
    if !meta.is_file() {
        return Err(untrusted(
            path,
            "the token is not a regular file",
            "remove it; the agent makes a new token",
        ));
    }
    let me = euid();
    if meta.uid() != me {
        return Err(untrusted(
            path,
            format!(
                "the token is owned by {}, not by the agent's user, {}",
                user(meta.uid()),
                user(me)
            ),
            format!(
                "remove it (the agent makes a new one), or `chown {} {}` if you wrote it",
                chown_name(me),
                path.display()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(untrusted(
            path,
            format!("the token can be read or written by its group or others (mode {mode:o})"),
            format!(
                "`chmod 600 {}`, and make a new token if others may have read it",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Reads the token in `dir/token`, or creates it (64 hex digits from the
/// system's random source, mode 0600, created exclusively). A token that
/// is a symbolic link, another user's, readable or writable by others, or
/// shorter than 32 characters is refused.
pub fn load_or_create_token(dir: &Path) -> Result<Secret, TrustError> {
    let path = dir.join("token");
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    match OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(&path)
    {
        Ok(mut file) => {
            check_token(&path, &file)?;
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(io("read", &path))?;
            let token = text.trim();
            if token.len() < 32 {
                return Err(untrusted(
                    &path,
                    "the token is shorter than 32 characters",
                    "remove it; the agent makes a new one",
                ));
            }
            return Ok(Secret::new(token.to_owned()));
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(untrusted(
                &path,
                "the token is a symbolic link",
                "replace the link with the token itself, a file of mode 0600",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", &path)(e)),
    }
    let mut raw = [0u8; 32];
    let random = Path::new("/dev/urandom");
    File::open(random)
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(io("read", random))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nofollow)
        .open(&path)
        .map_err(io("create", &path))?;
    file.write_all(hex.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io("write", &path))?;
    Ok(Secret::new(hex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_new_directory_and_token_are_private_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/state");
        prepare_state_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let token = load_or_create_token(&dir).unwrap();
        assert_eq!(token.expose().len(), 64);
        let meta = fs::metadata(dir.join("token")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        // The same token the next time.
        prepare_state_dir(&dir).unwrap();
        assert_eq!(load_or_create_token(&dir).unwrap().expose(), token.expose());
    }

    #[test]
    fn open_modes_links_and_short_tokens_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        prepare_state_dir(&dir).unwrap();
        let token = dir.join("token");
        fs::write(&token, "x".repeat(64)).unwrap();
        for mode in [0o644, 0o640, 0o606, 0o660] {
            fs::set_permissions(&token, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_token(&dir).unwrap_err().to_string();
            assert!(err.contains(&format!("(mode {mode:o})")), "{err}");
            assert!(
                err.contains(&format!("chmod 600 {}", token.display())),
                "{err}"
            );
        }
        fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
        load_or_create_token(&dir).unwrap();

        fs::write(&token, "short").unwrap();
        let err = load_or_create_token(&dir).unwrap_err().to_string();
        assert!(err.contains("shorter than 32"), "{err}");

        fs::remove_file(&token).unwrap();
        let elsewhere = root.path().join("elsewhere");
        fs::write(&elsewhere, "y".repeat(64)).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &token).unwrap();
        let err = load_or_create_token(&dir).unwrap_err().to_string();
        assert!(err.contains("the token is a symbolic link"), "{err}");

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = prepare_state_dir(&link).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");

        let open = root.path().join("open");
        fs::create_dir(&open).unwrap();
        for mode in [0o777, 0o770, 0o1777] {
            fs::set_permissions(&open, fs::Permissions::from_mode(mode)).unwrap();
            let err = prepare_state_dir(&open).unwrap_err().to_string();
            assert!(err.contains(&format!("(mode {mode:o})")), "{err}");
            assert!(err.contains("chmod go-w"), "{err}");
        }
        let file = root.path().join("file");
        fs::write(&file, "").unwrap();
        let err = prepare_state_dir(&file).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
