//! The actions emulated on this machine: `actions/checkout` (a clone of
//! the repository's URL as the real one makes it: the event's commit on its
//! branch, or the ref asked for), `actions/upload-artifact` and
//! `actions/download-artifact` (a directory per artifact, laid out from
//! the paths' least common ancestor, files handed back without their
//! permissions as GitHub's artifacts do), and `actions/cache` (always a
//! miss, said in the log).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::model::Event;

/// What an emulated action did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Done {
    pub(crate) log: Vec<String>,
    pub(crate) warnings: Vec<String>,
    pub(crate) outputs: BTreeMap<String, String>,
}

impl Done {
    pub(crate) fn new(line: impl Into<String>) -> Self {
        Self {
            log: vec![line.into()],
            ..Self::default()
        }
    }

    pub(crate) fn output(mut self, k: &str, v: impl Into<String>) -> Self {
        self.outputs.insert(k.to_owned(), v.into());
        self
    }
}

pub(crate) struct Builtin<'a> {
    pub(crate) workspace: &'a Path,
    pub(crate) artifacts: &'a Path,
    pub(crate) clone_url: &'a str,
    pub(crate) event: &'a Event,
    pub(crate) env: &'a [(String, String)],
}

type Input<'f> = &'f dyn Fn(&str) -> Option<String>;

fn flag(input: Input<'_>, name: &str, default: bool) -> Result<bool, String> {
    match input(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("input `{name}`: `{other}` is not true or false")),
    }
}

/// `path` joined to `base`, refusing what climbs out of it.
fn inside(base: &Path, path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Ok(p.to_owned());
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("`{path}` climbs out of the workspace"));
    }
    Ok(base.join(p))
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn hidden(rel: &Path) -> bool {
    rel.components()
        .any(|c| matches!(c, Component::Normal(n) if n.to_string_lossy().starts_with('.')))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            files_under(&entry.path(), out)?;
        } else if ty.is_file() || ty.is_symlink() {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn common_ancestor(paths: &[PathBuf]) -> Option<PathBuf> {
    let mut iter = paths.iter();
    let mut common: PathBuf = iter.next()?.clone();
    for p in iter {
        while !p.starts_with(&common) {
            if !common.pop() {
                return None;
            }
        }
    }
    Some(common)
}

fn copy_tree(from: &Path, to: &Path, mode: Option<u32>) -> Result<usize, String> {
    let mut files = Vec::new();
    files_under(from, &mut files).map_err(|e| format!("{}: {e}", from.display()))?;
    for f in &files {
        let rel = f.strip_prefix(from).map_err(|e| e.to_string())?;
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::copy(f, &dest)
            .map_err(|e| format!("{} → {}: {e}", f.display(), dest.display()))?;
        if let Some(mode) = mode {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(files.len())
}

impl Builtin<'_> {
    fn git(&self, dir: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `actions/checkout`.
    pub(crate) fn checkout(&self, input: Input<'_>) -> Result<Done, String> {
        if flag(input, "submodules", false).unwrap_or(true) {
            return Err("submodules are not emulated".to_owned());
        }
        // Only ever under the workspace: `clean` empties the directory.
        let path = input("path").unwrap_or_default();
        if Path::new(&path).is_absolute() {
            return Err(format!(
                "path `{path}` is not under the workspace {}",
                self.workspace.display()
            ));
        }
        let dir = inside(self.workspace, &path)?;
        if flag(input, "clean", true)? && dir.exists() {
            for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
                let p = entry.map_err(|e| e.to_string())?.path();
                let removed = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                removed.map_err(|e| format!("{}: {e}", p.display()))?;
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let depth: u32 = input("fetch-depth")
            .filter(|d| !d.trim().is_empty())
            .map_or(Ok(1), |d| d.trim().parse())
            .map_err(|_| "input `fetch-depth` is not a number".to_owned())?;
        let asked = input("ref").filter(|r| !r.trim().is_empty());
        self.git(&dir, &["init", "-q"])?;
        self.git(&dir, &["remote", "add", "origin", self.clone_url])?;
        let depth_arg = format!("--depth={depth}");
        let mut fetch = vec!["fetch", "-q", "--prune", "--no-recurse-submodules"];
        if depth > 0 {
            fetch.push(&depth_arg);
        }
        fetch.push("origin");
        fetch.push("+refs/heads/*:refs/remotes/origin/*");
        if depth == 0 || flag(input, "fetch-tags", false)? || asked.is_some() {
            fetch.push("+refs/tags/*:refs/tags/*");
        } else {
            fetch.insert(1, "--no-tags");
        }
        self.git(&dir, &fetch)?;
        // The event's commit may be no branch tip any more (the branch moved
        // on, a tag was pushed): fetched by itself, as the real action does.
        if asked.is_none()
            && self
                .git(
                    &dir,
                    &["cat-file", "-e", &format!("{}^{{commit}}", self.event.sha)],
                )
                .is_err()
        {
            let mut by_sha = vec!["fetch", "-q", "--no-tags"];
            if depth > 0 {
                by_sha.push(&depth_arg);
            }
            by_sha.extend(["origin", self.event.sha.as_str()]);
            self.git(&dir, &by_sha)?;
        }
        let (what, head) = match asked.as_deref() {
            None => {
                // The event's commit on its branch, as actions/checkout
                // leaves it (the remote-tracking branch reset to it).
                let sha = self.event.sha.as_str();
                match self.event.git_ref.strip_prefix("refs/heads/") {
                    Some(branch) => {
                        let tracking = format!("refs/remotes/origin/{branch}");
                        self.git(&dir, &["update-ref", &tracking, sha])?;
                        self.git(
                            &dir,
                            &["checkout", "-q", "--force", "-B", branch, &tracking],
                        )?;
                        (format!("{branch} at the event's commit"), sha.to_owned())
                    }
                    None => {
                        self.git(&dir, &["checkout", "-q", "--force", "--detach", sha])?;
                        (format!("{} (detached)", self.event.git_ref), sha.to_owned())
                    }
                }
            }
            Some(r) => {
                let r = r.trim();
                let branch = r.strip_prefix("refs/heads/").unwrap_or(r);
                let tag = r.strip_prefix("refs/tags/").unwrap_or(r);
                let tracking = format!("refs/remotes/origin/{branch}");
                if self
                    .git(&dir, &["rev-parse", "-q", "--verify", &tracking])
                    .is_ok()
                {
                    self.git(
                        &dir,
                        &["checkout", "-q", "--force", "-B", branch, &tracking],
                    )?;
                    (format!("branch {branch}"), String::new())
                } else if self
                    .git(
                        &dir,
                        &["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")],
                    )
                    .is_ok()
                {
                    self.git(
                        &dir,
                        &["checkout", "-q", "--force", &format!("refs/tags/{tag}")],
                    )?;
                    (format!("tag {tag} (detached)"), String::new())
                } else {
                    self.git(&dir, &["checkout", "-q", "--force", "--detach", r])
                        .map_err(|e| {
                            format!("no branch, tag or commit `{r}` in {}: {e}", self.clone_url)
                        })?;
                    (format!("{r} (detached)"), String::new())
                }
            }
        };
        let head = if head.is_empty() {
            self.git(&dir, &["rev-parse", "HEAD"])?
        } else {
            head
        };
        Ok(Done::new(format!(
            "checked out {what}: {head} from {} into {}{}",
            self.clone_url,
            dir.display(),
            if depth == 0 {
                ", all history".to_owned()
            } else {
                format!(", depth {depth}")
            }
        ))
        .output("ref", asked.unwrap_or_else(|| self.event.git_ref.clone()))
        .output("commit", head))
    }

    /// `actions/upload-artifact`.
    pub(crate) fn upload(&self, input: Input<'_>) -> Result<Done, String> {
        let name = input("name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "artifact".to_owned());
        if name.contains(['/', '\\', ':', '"', '<', '>', '|', '*', '?']) {
            return Err(format!("`{name}` is not a valid artifact name"));
        }
        let paths = input("path").unwrap_or_default();
        let hidden_ok = flag(input, "include-hidden-files", false)?;
        let overwrite = flag(input, "overwrite", false)?;
        let if_none = input("if-no-files-found").unwrap_or_else(|| "warn".to_owned());
        let mut searched = Vec::new();
        let mut files: Vec<(PathBuf, PathBuf)> = Vec::new(); // (search root, file)
        let mut excluded: Vec<glob::Pattern> = Vec::new();
        for line in paths.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(ex) = line.strip_prefix('!') {
                let full = inside(self.workspace, ex)?;
                excluded.push(
                    glob::Pattern::new(&full.to_string_lossy())
                        .map_err(|e| format!("`{line}`: {e}"))?,
                );
                continue;
            }
            let full = inside(self.workspace, line.trim_end_matches('/'))?;
            let text = full.to_string_lossy().into_owned();
            if is_glob(&text) {
                let root: PathBuf = full
                    .components()
                    .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
                    .collect();
                searched.push(root.clone());
                for hit in glob::glob(&text).map_err(|e| format!("`{line}`: {e}"))? {
                    let hit = hit.map_err(|e| e.to_string())?;
                    if hit.is_dir() {
                        let mut under = Vec::new();
                        files_under(&hit, &mut under).map_err(|e| e.to_string())?;
                        files.extend(under.into_iter().map(|f| (root.clone(), f)));
                    } else {
                        files.push((root.clone(), hit));
                    }
                }
            } else if full.is_dir() {
                searched.push(full.clone());
                let mut under = Vec::new();
                files_under(&full, &mut under).map_err(|e| e.to_string())?;
                files.extend(under.into_iter().map(|f| (full.clone(), f)));
            } else if full.is_file() {
                searched.push(full.parent().map(Path::to_owned).unwrap_or_default());
                files.push((full.parent().map(Path::to_owned).unwrap_or_default(), full));
            } else {
                searched.push(full);
            }
        }
        files.retain(|(root, f)| {
            !excluded.iter().any(|p| p.matches_path(f))
                && (hidden_ok || !hidden(f.strip_prefix(root).unwrap_or(f)))
        });
        files.sort();
        files.dedup();
        if files.is_empty() {
            let message = format!("no files were found with the provided path: {paths}");
            return match if_none.as_str() {
                "error" => Err(message),
                "ignore" => Ok(Done::new(message)),
                _ => {
                    let mut d = Done::new("no artifact uploaded");
                    d.warnings.push(message);
                    Ok(d)
                }
            };
        }
        let root = common_ancestor(&searched).unwrap_or_default();
        let dest = self.artifacts.join(&name);
        if dest.exists() {
            if !overwrite {
                return Err(format!(
                    "an artifact named {name} was uploaded already in this run (overwrite: false)"
                ));
            }
            std::fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
        for (_, f) in &files {
            let rel = f
                .strip_prefix(&root)
                .map_err(|_| format!("{} is outside {}", f.display(), root.display()))?;
            let to = dest.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::copy(f, &to).map_err(|e| format!("{}: {e}", f.display()))?;
        }
        let id = std::fs::read_dir(self.artifacts).map_or(0, Iterator::count);
        Ok(Done::new(format!(
            "artifact {name}: {} file(s) from {}",
            files.len(),
            root.display()
        ))
        .output("artifact-id", id.to_string())
        .output("artifact-url", ""))
    }

    /// `actions/download-artifact`.
    pub(crate) fn download(&self, input: Input<'_>) -> Result<Done, String> {
        let path = input("path").filter(|p| !p.trim().is_empty());
        let dest = match &path {
            Some(p) => inside(self.workspace, p.trim())?,
            None => self.workspace.to_owned(),
        };
        let merge = flag(input, "merge-multiple", false)?;
        let mut done = Done::default();
        match input("name").filter(|n| !n.trim().is_empty()) {
            Some(name) => {
                let from = self.artifacts.join(&name);
                if !from.is_dir() {
                    return Err(format!(
                        "artifact not found: {name} (none was uploaded in this run)"
                    ));
                }
                let n = copy_tree(&from, &dest, Some(0o644))?;
                done.log.push(format!(
                    "artifact {name}: {n} file(s) into {}",
                    dest.display()
                ));
            }
            None => {
                let pattern = input("pattern")
                    .filter(|p| !p.is_empty())
                    .map(|p| glob::Pattern::new(&p).map_err(|e| e.to_string()))
                    .transpose()?;
                let mut names: Vec<String> = std::fs::read_dir(self.artifacts)
                    .map_err(|e| e.to_string())?
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| pattern.as_ref().is_none_or(|p| p.matches(n)))
                    .collect();
                names.sort();
                for name in names {
                    let to = if merge {
                        dest.clone()
                    } else {
                        dest.join(&name)
                    };
                    let n = copy_tree(&self.artifacts.join(&name), &to, Some(0o644))?;
                    done.log.push(format!(
                        "artifact {name}: {n} file(s) into {}",
                        to.display()
                    ));
                }
            }
        }
        Ok(done.output("download-path", dest.display().to_string()))
    }
}
