//! A switch is never left unrecorded: the state store fails at every
//! request of a promotion in turn, for one request's retries or for good,
//! and after each run either the environment serves what its newest record
//! says, or the run named the environment and the version it serves; a
//! plain re-run then brings the two together.
//!
//! The environment is an App Service slot on [`FakeAzure`]; the store is
//! [`FakeGitHub`] (a counted outage of its API) or a bare git remote whose
//! `upload-pack` and `receive-pack` fail when told (a wrapper script that
//! counts its runs).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline_ci::{Env, Secret};
use pipeline_http::{Endpoint, Http};
use pipeline_promotion::{
    AnyStore, GateEvidence, GitHubStore, PromoteError, PromoteOutcome, PromoteRequest, Promoter,
    StateStore as _,
};
use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN};
use pipeline_testkit::{Artifact, FakeAzure, Health, artifact};

use crate::fixture::{TestRepo, git_in};

fn quick_http() -> Http {
    crate::fixture::quick_http("fault-test")
}

fn config(dir: &Path) -> pipeline_config::PipelineConfig {
    crate::fixture::azure_config(dir, "")
}

fn azure_vars(fake: &FakeAzure) -> Env {
    crate::fixture::azure_vars(fake, "fault-test", &[])
}

/// What a run left: the version production serves and the newest record.
struct Seen {
    serving: Option<String>,
    record_live: Option<String>,
    intent: bool,
}

/// One world: the App Service, the store, two releases.
struct World {
    dir: tempfile::TempDir,
    azure: FakeAzure,
    releases: Vec<(String, Artifact)>,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let azure = FakeAzure::builder()
            .health(Health {
                unavailable: 0,
                stale: 0,
            })
            .start()
            .await;
        let releases = ["1.1.0", "1.2.0"]
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let d = dir.path().join(format!("build-{v}"));
                fs::create_dir_all(&d).unwrap();
                ((*v).to_owned(), artifact(&d, (8 + i) << 10))
            })
            .collect();
        World {
            dir,
            azure,
            releases,
        }
    }

    fn promoter(&self, store: AnyStore) -> Promoter {
        Promoter::with_store(
            config(self.dir.path()),
            "pipeline.toml",
            self.dir.path(),
            quick_http(),
            azure_vars(&self.azure),
            store,
        )
    }

    fn request(&self, i: usize) -> PromoteRequest {
        let (version, a) = &self.releases[i];
        PromoteRequest::to("prod")
            .version(version)
            .artifact(a.sha256.parse().unwrap(), Some(a.path.clone()))
            .gate(GateEvidence::parse(r#"{"gate":{"passed":true}}"#).unwrap())
    }

    async fn promote(&self, store: AnyStore, i: usize) -> Result<PromoteOutcome, PromoteError> {
        self.promoter(store)
            .promote(&self.request(i), &mut |_| {})
            .await
    }

    async fn seen(&self, store: &AnyStore) -> Seen {
        let current = store.current("prod").await.unwrap();
        Seen {
            serving: self.azure.serving(None),
            record_live: current.as_ref().and_then(|c| c.record.live_version.clone()),
            intent: current.is_some_and(|c| c.record.outcome.is_intent()),
        }
    }
}

/// The promise, after a run that may have failed.
fn check_after_fault(label: &str, result: &Result<PromoteOutcome, PromoteError>, seen: &Seen) {
    // An intent says what was live when it was written: traffic that has
    // not moved agrees with it.
    if seen.serving == seen.record_live {
        return;
    }
    let Err(e) = result else {
        panic!(
            "{label}: the run succeeded but prod serves {:?} and its record says {:?} (intent: {})",
            seen.serving, seen.record_live, seen.intent
        );
    };
    let message = e.to_string();
    let serving = seen.serving.as_deref().unwrap_or("?");
    assert!(
        message.contains("prod") && message.contains(serving),
        "{label}: prod serves {serving:?}, its record says {:?} (intent: {}), and the error does \
         not say so: {message}",
        seen.record_live,
        seen.intent
    );
    assert!(
        !message.contains("nothing was written"),
        "{label}: {message}"
    );
}

/// After the store is back, a plain re-run brings front and record together.
fn check_after_rerun(label: &str, result: &Result<PromoteOutcome, PromoteError>, seen: &Seen) {
    assert!(result.is_ok(), "{label}: the re-run failed: {result:?}");
    assert_eq!(
        (
            seen.serving.as_deref(),
            seen.record_live.as_deref(),
            seen.intent
        ),
        (Some("1.2.0"), Some("1.2.0"), false),
        "{label}: after the re-run"
    );
}

fn github_store(fake: &FakeGitHub) -> AnyStore {
    AnyStore::GitHub(
        GitHubStore::new(
            quick_http(),
            Endpoint::parse("api", &fake.uri()).unwrap(),
            REPOSITORY,
            Secret::new(TOKEN),
        )
        .unwrap()
        .with_timeout(Duration::from_secs(10)),
    )
}

#[tokio::test]
async fn github_fails_at_every_request_of_a_promotion_and_nothing_is_left_unrecorded() {
    // How many requests a clean promotion makes.
    let clean = {
        let w = World::new().await;
        let github = FakeGitHub::start().await;
        w.promote(github_store(&github), 0).await.unwrap();
        let before = github.served();
        let done = w.promote(github_store(&github), 1).await.unwrap();
        assert!(matches!(done, PromoteOutcome::Finished(_)));
        let seen = w.seen(&github_store(&github)).await;
        check_after_rerun("clean", &Ok(done), &seen);
        github.served() - before
    };
    assert!(clean > 10, "{clean} requests");
    // 3 attempts per request: an outage of 3 requests fails one request
    // after its retries; an outage of 10,000 is GitHub gone for good.
    for outage in [3, 10_000] {
        for k in 0..clean {
            let label = format!("GitHub down from request {k} of {clean} for {outage}");
            let w = World::new().await;
            let github = FakeGitHub::start().await;
            w.promote(github_store(&github), 0).await.unwrap();
            github.outage(k, outage, 502);
            let result = w.promote(github_store(&github), 1).await;
            github.outage(0, 0, 502);
            let seen = w.seen(&github_store(&github)).await;
            check_after_fault(&label, &result, &seen);
            let rerun = w.promote(github_store(&github), 1).await;
            let seen = w.seen(&github_store(&github)).await;
            check_after_rerun(&label, &rerun, &seen);
            // And the lock is free for the next run.
            let store = github_store(&github);
            assert_eq!(store.locked_by("prod").await.unwrap(), None, "{label}");
        }
    }
}

/// A bare remote whose upload-pack and receive-pack go through a script
/// that fails the runs numbered in `fail` (a file holding `FROM COUNT`).
struct FlakyRemote {
    remote: TestRepo,
    clone: TestRepo,
    counter: PathBuf,
    fail: PathBuf,
}

impl FlakyRemote {
    fn new() -> FlakyRemote {
        let remote = TestRepo::remote();
        let clone = TestRepo::clone_of(&remote, &[]);
        let dir = clone.path().join(".git");
        let counter = dir.join("flaky-count");
        let fail = dir.join("flaky-fail");
        fs::write(&counter, "0").unwrap();
        fs::write(&fail, "0 0").unwrap();
        let script = dir.join("flaky.sh");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 n=$(cat '{counter}'); echo $((n + 1)) > '{counter}'\n\
                 read from count < '{fail}'\n\
                 if [ \"$n\" -ge \"$from\" ] && [ \"$n\" -lt $((from + count)) ]; then\n\
                 echo 'remote: the server is unavailable' >&2; exit 1; fi\n\
                 prog=\"$1\"; shift; exec \"$prog\" \"$@\"\n",
                counter = counter.display(),
                fail = fail.display()
            ),
        )
        .unwrap();
        git_in(
            clone.path(),
            &[
                "config",
                "remote.origin.uploadpack",
                &format!("sh {} git-upload-pack", script.display()),
            ],
            None,
        );
        git_in(
            clone.path(),
            &[
                "config",
                "remote.origin.receivepack",
                &format!("sh {} git-receive-pack", script.display()),
            ],
            None,
        );
        FlakyRemote {
            remote,
            clone,
            counter,
            fail,
        }
    }

    fn runs(&self) -> usize {
        fs::read_to_string(&self.counter)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Fails `count` runs after `skip` more.
    fn outage(&self, skip: usize, count: usize) {
        fs::write(&self.fail, format!("{} {count}", self.runs() + skip)).unwrap();
    }

    fn store(&self) -> AnyStore {
        AnyStore::Git(self.clone.store())
    }
}

#[tokio::test]
async fn the_git_remote_fails_at_every_request_of_a_promotion_and_nothing_is_left_unrecorded() {
    let clean = {
        let w = World::new().await;
        let r = FlakyRemote::new();
        w.promote(r.store(), 0).await.unwrap();
        let before = r.runs();
        w.promote(r.store(), 1).await.unwrap();
        r.runs() - before
    };
    assert!(clean > 3, "{clean} runs of the remote");
    // GitCli tries 3 times.
    for outage in [3, 10_000] {
        for k in 0..clean {
            let label = format!("the remote down from run {k} of {clean} for {outage}");
            let w = World::new().await;
            let r = FlakyRemote::new();
            w.promote(r.store(), 0).await.unwrap();
            r.outage(k, outage);
            let result = w.promote(r.store(), 1).await;
            r.outage(0, 0);
            let seen = w.seen(&r.store()).await;
            check_after_fault(&label, &result, &seen);
            let rerun = w.promote(r.store(), 1).await;
            let seen = w.seen(&r.store()).await;
            check_after_rerun(&label, &rerun, &seen);
            assert_eq!(
                r.remote.ref_value("refs/pipeline/locks/prod"),
                None,
                "{label}: the lock is released"
            );
        }
    }
}
