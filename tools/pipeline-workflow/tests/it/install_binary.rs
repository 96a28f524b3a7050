//! `.github/actions/install-binary.sh`, the composite actions' installer,
//! run as a process against the GitHub fake of `pipeline-testkit` on
//! loopback: which release a moving tag, an exact tag or a commit resolves
//! to, the asset for each runner, the SHA256SUMS check, the cache, and the
//! fall back to a build from source.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN};
use sha2::{Digest as _, Sha256};

const BIN: &str = "pipeline-report";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.github/actions/install-binary.sh")
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn commit(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

/// A release's files: each asset's bytes, and SHA256SUMS listing them
/// (`bad` lists a wrong digest for every asset).
fn files(assets: &[&str], tag: &str, bad: bool) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = assets
        .iter()
        .map(|a| {
            (
                (*a).to_owned(),
                format!("#!/bin/sh\necho {a} {tag}\n").into_bytes(),
            )
        })
        .collect();
    let sums: String = out
        .iter()
        .map(|(name, bytes)| {
            let digest = if bad {
                sha256(b"something else")
            } else {
                sha256(bytes)
            };
            format!("{digest}  {name}\n")
        })
        .collect();
    out.push(("SHA256SUMS".to_owned(), sums.into_bytes()));
    out
}

fn add_release(fake: &FakeGitHub, tag: &str, n: u8, prerelease: bool, assets: &[&str], bad: bool) {
    let files = files(assets, tag, bad);
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    fake.insert_release(tag, &commit(n), false, prerelease, &refs);
}

const MUSL: &str = "pipeline-report-linux-x64-musl";
const GNU: &str = "pipeline-report-linux-x64";
const MAC: &str = "pipeline-report-macos-arm64";

async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    add_release(&fake, "v0.9.0", 1, false, &[MUSL, GNU], false);
    add_release(&fake, "v1.2.0", 2, false, &[MUSL, GNU, MAC], false);
    add_release(&fake, "v1.2.1", 3, false, &[GNU], false);
    add_release(&fake, "v1.3.0", 4, false, &[MUSL, GNU], false);
    // Newer, but not for Linux; a pre-release; another major line.
    add_release(&fake, "v1.5.0", 5, false, &[MAC], false);
    add_release(&fake, "v1.6.0-rc.1", 6, true, &[MUSL, GNU, MAC], false);
    add_release(&fake, "v10.0.0", 7, false, &[MUSL, GNU, MAC], false);
    // A release whose SHA256SUMS does not match its files.
    add_release(&fake, "v3.0.0", 8, false, &[MUSL], true);
    // A tag with no release, and a second tag on v1.2.0's commit.
    fake.insert_tag("v0.0.1", &commit(9));
    fake.insert_tag("latest-good", &commit(2));
    fake
}

/// A runner: its temp and tool cache, the env files.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, phase: &str, api: &str, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .arg(phase)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("BINARY", BIN)
            .env("ACTION_REPOSITORY", REPOSITORY)
            .env("GITHUB_API_URL", api)
            .env("GH_API_TOKEN", TOKEN)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", self.path("temp"))
            .env("RUNNER_TOOL_CACHE", self.path("tool-cache"))
            .env("GITHUB_OUTPUT", self.path("output"))
            .env("GITHUB_PATH", self.path("path"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `resolve`: its outputs and the process's output.
    async fn resolve(&self, api: &str, env: &[(&str, &str)]) -> (BTreeMap<String, String>, Output) {
        let _ = fs::remove_file(self.path("output"));
        let o = run(self.cmd("resolve", api, env)).await;
        let text = fs::read_to_string(self.path("output")).unwrap_or_default();
        let outputs = pipeline_ci::read_outputs(&text)
            .unwrap()
            .into_iter()
            .collect();
        (outputs, o)
    }

    /// `install` with what `resolve` gave.
    async fn install(&self, api: &str, resolved: &BTreeMap<String, String>) -> Output {
        let mut cmd = self.cmd("install", api, &[]);
        for (k, v) in resolved {
            cmd.env(
                format!("RESOLVED_{}", k.to_ascii_uppercase().replace('-', "_")),
                v,
            );
        }
        run(cmd).await
    }
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_resolve_to_the_release_for_this_runner() {
    let fake = fake().await;
    let api = fake.uri();
    let r = Runner::new();
    // The version asked for, the runner, the release and asset expected.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        // A moving major tag: the newest full release of v1 with a Linux
        // asset (not v1.5.0, macOS only; not the rc; not v10).
        ("v1", &[], "v1.3.0", MUSL),
        // A moving minor tag; only the glibc build there.
        ("v1.2", &[], "v1.2.1", GNU),
        // An exact tag: the static build first.
        ("v1.2.0", &[], "v1.2.0", MUSL),
        // On macOS (arm64) the same v1 is v1.5.0.
        (
            "v1",
            &[("RUNNER_OS", "macOS"), ("RUNNER_ARCH", "ARM64")],
            "v1.5.0",
            MAC,
        ),
    ];
    for (asked, env, tag, asset) in cases {
        let mut env = env.to_vec();
        env.push(("ACTION_REF", asked));
        let (out, o) = r.resolve(&api, &env).await;
        assert_eq!(o.status.code(), Some(0), "{asked}: {}", text(&o));
        assert_eq!(out["mode"], "release", "{asked}: {out:?}");
        assert_eq!(
            (out["tag"].as_str(), out["asset"].as_str()),
            (*tag, *asset),
            "{asked}"
        );
        assert_eq!(
            out["asset-url"],
            format!("{api}/{REPOSITORY}/releases/download/{tag}/{asset}")
        );
        let os = if asset.contains("macos") {
            "macos-arm64"
        } else {
            "linux-x64"
        };
        assert_eq!(
            out["cache-key"],
            format!("pipeline-orchestrator-{BIN}-{tag}-{os}")
        );
        assert!(!text(&o).contains(TOKEN), "{}", text(&o));
    }
    // A commit: the release whose tag points at it (v1.2.0's commit also
    // carries a tag without a release).
    let (out, o) = r.resolve(&api, &[("ACTION_REF", &commit(2))]).await;
    assert_eq!(out["tag"], "v1.2.0", "{}", text(&o));
    // INPUT_VERSION wins over the ref the action is used at.
    let (out, _) = r
        .resolve(&api, &[("ACTION_REF", "v1"), ("INPUT_VERSION", "v0.9.0")])
        .await;
    assert_eq!(out["tag"], "v0.9.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_release_the_last_resort_is_a_build_from_source() {
    let fake = fake().await;
    let api = fake.uri();
    let r = Runner::new();
    for (asked, input) in [
        ("main", ""),      // a branch
        (&*commit(9), ""), // a commit whose tag has no release
        ("v1", "source"),  // asked for
        ("v2", ""),        // no such line
    ] {
        let (out, o) = r
            .resolve(&api, &[("ACTION_REF", asked), ("INPUT_VERSION", input)])
            .await;
        assert_eq!(o.status.code(), Some(0), "{asked}: {}", text(&o));
        assert_eq!(out["mode"], "source", "{asked}: {out:?}");
        assert!(out["cache-key"].starts_with(&format!("pipeline-orchestrator-{BIN}-src-")));
        if input.is_empty() {
            assert!(text(&o).contains("it is built from source"), "{}", text(&o));
        }
    }
    // A build made by an earlier job, restored by the cache, is used.
    let (resolved, _) = r.resolve(&api, &[("ACTION_REF", "main")]).await;
    let dir = PathBuf::from(&resolved["dir"]);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(BIN), "#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join(BIN), fs::Permissions::from_mode(0o755)).unwrap();
    let o = r.install(&api, &resolved).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("built from source earlier"),
        "{}",
        text(&o)
    );
    // A commit pin keys the build by that commit.
    let (out, _) = r.resolve(&api, &[("ACTION_REF", &commit(9))]).await;
    assert!(
        out["cache-key"].contains(&format!("src-{}", &commit(9)[..12])),
        "{out:?}"
    );
    // GitHub unreachable: a build too, not a failure.
    let (out, o) = r
        .resolve("http://127.0.0.1:9", &[("ACTION_REF", "v1")])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(out["mode"], "source");
    // Binaries a job built itself win, and GitHub is not asked.
    let bins = r.path("bins");
    fs::create_dir_all(&bins).unwrap();
    fs::write(bins.join(BIN), "#!/bin/sh\n").unwrap();
    fs::set_permissions(bins.join(BIN), fs::Permissions::from_mode(0o755)).unwrap();
    let served = fake.served();
    let (out, _) = r
        .resolve(
            &api,
            &[
                ("ACTION_REF", "v1"),
                ("PIPELINE_BIN_DIR", bins.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (out["mode"].as_str(), out["cache-key"].as_str()),
        ("bin-dir", "")
    );
    assert_eq!(fake.served(), served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_is_checked_installed_and_taken_from_the_cache_next_time() {
    let fake = fake().await;
    let api = fake.uri();
    let r = Runner::new();
    let (resolved, _) = r.resolve(&api, &[("ACTION_REF", "v1")]).await;
    let o = r.install(&api, &resolved).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = PathBuf::from(&resolved["dir"]);
    let installed = dir.join(BIN);
    assert_eq!(
        fs::read_to_string(&installed).unwrap(),
        format!("#!/bin/sh\necho {MUSL} v1.3.0\n")
    );
    assert_eq!(
        fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(
        fs::read_to_string(r.path("path"))
            .unwrap()
            .lines()
            .any(|l| Path::new(l) == dir),
        "GITHUB_PATH holds the directory"
    );
    // It runs.
    let ran = Command::new(&installed).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        format!("{MUSL} v1.3.0\n")
    );

    // The next job: the cache restored the directory; only SHA256SUMS is
    // fetched to check it.
    let downloads = |reqs: &[wiremock::Request]| {
        reqs.iter()
            .filter(|q| q.url.path().ends_with(&format!("/v1.3.0/{MUSL}")))
            .count()
    };
    let before = downloads(&fake.requests().await);
    assert_eq!(before, 1);
    let o = r.install(&api, &resolved).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("from the cache"), "{}", text(&o));
    assert_eq!(downloads(&fake.requests().await), 1);

    // A cached file that does not match is fetched again.
    fs::write(&installed, "#!/bin/sh\necho tampered\n").unwrap();
    let o = r.install(&api, &resolved).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("does not match SHA256SUMS"),
        "{}",
        text(&o)
    );
    assert_eq!(downloads(&fake.requests().await), 2);
    assert!(fs::read_to_string(&installed).unwrap().contains("v1.3.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_that_does_not_match_sha256sums_is_never_installed() {
    let fake = fake().await;
    let api = fake.uri();
    let r = Runner::new();
    let (resolved, _) = r.resolve(&api, &[("ACTION_REF", "v3.0.0")]).await;
    assert_eq!(resolved["tag"], "v3.0.0");
    let o = r.install(&api, &resolved).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("SHA256SUMS says"), "{}", text(&o));
    assert!(!Path::new(&resolved["dir"]).join(BIN).exists());
    assert!(
        fs::read_to_string(r.path("path"))
            .unwrap_or_default()
            .is_empty()
    );
}
