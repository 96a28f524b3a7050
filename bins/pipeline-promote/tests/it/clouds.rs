//! `pipeline-promote promote` into cloud environments: Azure App Service
//! against `FakeAzure`, Cloud Run against `FakeGcp`, the state in a git
//! repository with a bare remote. `prod` is the first environment, so the
//! artifact and the gate are given and no agent is needed.

use crate::common::{repo_with_remote, text};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use pipeline_promotion::{GitHubStore, StateStore as _};
use pipeline_testkit::fixtures::{
    APP, CLIENT_ID, CLIENT_SECRET, RESOURCE_GROUP, SLOT, SUBSCRIPTION, TENANT,
};
use pipeline_testkit::gcp::{FakeGcp, PROJECT, REGION, REPOSITORY, SERVICE, digest_hex, image_of};
use pipeline_testkit::github::FakeGitHub;
use pipeline_testkit::{Artifact, FakeAzure, Health, artifact};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Variables of the test's own environment that would change what the
/// binary does.
const FOREIGN: &[&str] = &[
    "GITHUB_ACTIONS",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_WORKLOAD_IDENTITY_PROVIDER",
    "GOOGLE_SERVICE_ACCOUNT",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_RUN_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// A repository with a bare remote, a runtime for the fakes, and the
/// binary's environment.
struct World {
    root: tempfile::TempDir,
    repo: PathBuf,
    rt: tokio::runtime::Runtime,
    vars: Vec<(String, String)>,
    /// pipeline.toml's `[state]` table, if any.
    state: String,
}

impl World {
    fn new() -> World {
        let root = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(root.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        World {
            root,
            repo,
            rt,
            vars: Vec::new(),
            state: String::new(),
        }
    }

    /// Writes pipeline.toml: one environment, `prod`, on `target`.
    fn config(&self, target: &str) {
        let config = format!(
            r#"
{state}
[test]
command = "true"

[artifact]
source = "app"

[[environment]]
name = "prod"
target = {target}
validate = [{{ name = "smoke", command = 'test -n "$SLOT_URL"', timeout_secs = 20 }}]
verify = {{ health_for_secs = 1 }}
"#,
            state = self.state
        );
        fs::write(self.repo.join("pipeline.toml"), config).unwrap();
    }

    fn var(&mut self, k: &str, v: impl Into<String>) {
        self.vars.push((k.to_owned(), v.into()));
    }

    fn promote(&self, version: &str, sha256: &str, extra: &[&str]) -> Output {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("pipeline-promote"));
        cmd.args(["promote", "--to", "prod", "--version", version])
            .args(["--sha256", sha256, "--gate-json", "gate.json"])
            .args(extra)
            .current_dir(&self.repo)
            .env("NO_COLOR", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com");
        for k in FOREIGN {
            cmd.env_remove(k);
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
        cmd.output().unwrap()
    }

    /// `pipeline-promote status --json`.
    fn status(&self) -> Value {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("pipeline-promote"));
        cmd.args(["status", "--json"]).current_dir(&self.repo);
        for k in FOREIGN {
            cmd.env_remove(k);
        }
        let o = cmd
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// The records of `prod` in the state store, newest first.
    fn history(&self) -> Vec<Value> {
        let o = Command::new(assert_cmd::cargo::cargo_bin("pipeline-promote"))
            .args(["history", "--env", "prod", "--json"])
            .current_dir(&self.repo)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["records"].as_array().cloned().unwrap_or_default()
    }
}

// ---------------------------------------------------------------- Azure

fn azure_world(fake: &FakeAzure, w: &mut World) {
    let uri = fake.uri();
    w.config(&format!(
        r#"{{ kind = "azure-app-service", subscription = "{SUBSCRIPTION}", resource_group = "{RESOURCE_GROUP}", app = "{APP}", slot = "{SLOT}" }}"#
    ));
    w.var("AZURE_TENANT_ID", TENANT);
    w.var("AZURE_CLIENT_ID", CLIENT_ID);
    w.var("AZURE_CLIENT_SECRET", CLIENT_SECRET);
    w.var("AZURE_AUTHORITY_HOST", &uri);
    w.var("PIPELINE_AZURE_ARM_ENDPOINT", &uri);
    w.var("PIPELINE_AZURE_SCM_ENDPOINT", &uri);
    // The fixtures' host names (*.azurewebsites.net) are not the fake's.
    w.var("PIPELINE_AZURE_SLOT_URL", fake.slot_url(SLOT));
    w.var("PIPELINE_AZURE_LIVE_URL", fake.slot_url("production"));
}

fn start_azure(w: &World) -> FakeAzure {
    w.rt.block_on(
        FakeAzure::builder()
            .health(Health {
                unavailable: 0,
                stale: 0,
            })
            .start(),
    )
}

fn release(w: &World, name: &str, len: usize) -> Artifact {
    let dir = w.root.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    artifact(&dir, len)
}

#[test]
fn azure_blue_green_promotion_goes_live_and_is_recorded() {
    let mut w = World::new();
    let fake = start_azure(&w);
    azure_world(&fake, &mut w);
    let art = release(&w, "a", 32 << 10);

    let o = w.promote(
        "1.1.0",
        &art.sha256,
        &["--artifact", art.path.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1.1.0 live in prod"), "{}", text(&o));
    // Deployed into the slot, then swapped into production.
    assert_eq!(fake.swaps(), 1);
    assert_eq!(fake.version(None).as_deref(), Some("1.1.0"));
    assert_eq!(fake.serving(None).as_deref(), Some("1.1.0"));
    assert_eq!(fake.version(Some(SLOT)).as_deref(), Some("1.0.0"));
    let history = w.history();
    assert_eq!(history[0]["outcome"], "live", "{history:?}");
    assert_eq!(history[0]["live_version"], "1.1.0", "{history:?}");
    // status probes production's health path.
    let status = w.status();
    assert_eq!(status["envs"][0]["healthy"], true, "{status}");
    assert_eq!(status["envs"][0]["slot"], "production", "{status}");
    assert_eq!(status["envs"][0]["record"]["version"], "1.1.0", "{status}");
    // Without credentials it cannot ask: health unknown, not a failure.
    let mut bare = World {
        vars: Vec::new(),
        ..w
    };
    bare.var("PIPELINE_AZURE_LIVE_URL", fake.slot_url("production"));
    let status = bare.status();
    assert_eq!(
        status["envs"][0]["healthy"],
        serde_json::Value::Null,
        "{status}"
    );
    assert_eq!(
        history[0]["live_sha256"],
        art.sha256.as_str(),
        "{history:?}"
    );
}

#[test]
fn azure_failed_verification_swaps_back() {
    let mut w = World::new();
    let fake = start_azure(&w);
    azure_world(&fake, &mut w);
    let a = release(&w, "a", 32 << 10);
    let o = w.promote(
        "1.1.0",
        &a.sha256,
        &["--artifact", a.path.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fake.swaps(), 1);

    // Production stops answering healthy after the next swap.
    w.rt.block_on(
        Mock::given(method("GET"))
            .and(path("/web/production/health"))
            .respond_with(ResponseTemplate::new(503))
            .mount(fake.server()),
    );
    let b = release(&w, "b", 48 << 10);
    let o = w.promote(
        "1.2.0",
        &b.sha256,
        &["--artifact", b.path.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rolled back to 1.1.0"), "{}", text(&o));
    // Swapped in, then swapped back.
    assert_eq!(fake.swaps(), 3);
    assert_eq!(fake.version(None).as_deref(), Some("1.1.0"));
    assert_eq!(fake.version(Some(SLOT)).as_deref(), Some("1.2.0"));
    let history = w.history();
    assert_eq!(history[0]["outcome"], "rolled-back", "{history:?}");
    assert_eq!(history[0]["live_version"], "1.1.0", "{history:?}");
}

#[test]
fn azure_without_credentials_exits_2_naming_the_variable() {
    let mut w = World::new();
    let fake = start_azure(&w);
    azure_world(&fake, &mut w);
    w.vars.retain(|(k, _)| k != "AZURE_CLIENT_ID");
    let a = release(&w, "a", 4 << 10);
    let o = w.promote(
        "1.1.0",
        &a.sha256,
        &["--artifact", a.path.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("AZURE_CLIENT_ID"), "{}", text(&o));
    assert_eq!(fake.swaps(), 0);
}

// ------------------------------------------------------------- Cloud Run

fn cloud_run_world(fake: &FakeGcp, w: &mut World, version: &str) {
    w.config(&format!(
        r#"{{ kind = "cloud-run", project = "{PROJECT}", region = "{REGION}", service = "{SERVICE}", image = "{}" }}"#,
        image_of(version)
    ));
    if w.vars.is_empty() {
        let uri = fake.uri();
        let key = w.root.path().join("key.json");
        fs::write(&key, fake.key_file().to_string()).unwrap();
        w.var("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap());
        w.var("PIPELINE_GCP_RUN_ENDPOINT", &uri);
        w.var("PIPELINE_GCP_STS_ENDPOINT", &uri);
        w.var("PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT", &uri);
        w.var("PIPELINE_GCP_METADATA_ENDPOINT", &uri);
    }
}

fn start_gcp(w: &World) -> FakeGcp {
    w.rt.block_on(FakeGcp::builder().unhealthy(0).start())
}

fn revision_of(version: &str) -> String {
    pipeline_targets::cloudrun::revision_name(
        SERVICE,
        version,
        &digest_hex(version).parse().unwrap(),
    )
}

#[test]
fn cloud_run_promotion_moves_all_traffic_to_the_new_revision() {
    let mut w = World::new();
    let fake = start_gcp(&w);
    cloud_run_world(&fake, &mut w, "2.0.0");

    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rev = revision_of("2.0.0");
    assert_eq!(fake.live_revision().as_deref(), Some(rev.as_str()));
    assert_eq!(fake.tagged("green").as_deref(), Some(rev.as_str()));
    let traffic = fake.service()["traffic"].clone();
    let on_new: Vec<&Value> = traffic
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revision"].as_str().is_some_and(|r| r.ends_with(&rev)))
        .collect();
    assert_eq!(on_new.len(), 1, "{traffic}");
    assert_eq!(on_new[0]["percent"], 100, "{traffic}");
    let history = w.history();
    assert_eq!(history[0]["outcome"], "live", "{history:?}");
    assert_eq!(
        history[0]["live_sha256"],
        digest_hex("2.0.0"),
        "{history:?}"
    );
}

#[test]
fn cloud_run_refuses_a_release_whose_digest_is_not_the_image() {
    let mut w = World::new();
    let fake = start_gcp(&w);
    cloud_run_world(&fake, &mut w, "2.0.0");
    let o = w.promote("2.0.1", &digest_hex("2.0.1"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("promotion moves the same bytes"),
        "{}",
        text(&o)
    );
    assert!(w.rt.block_on(fake.patches()).is_empty());
}

#[test]
fn cloud_run_failed_verification_puts_traffic_back_on_blue() {
    let mut w = World::new();
    let fake = start_gcp(&w);
    cloud_run_world(&fake, &mut w, "2.0.0");
    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The service's URL stops answering healthy after the next swap.
    w.rt.block_on(
        Mock::given(method("GET"))
            .and(path("/run/_live/health"))
            .respond_with(ResponseTemplate::new(503))
            .mount(fake.server()),
    );
    cloud_run_world(&fake, &mut w, "2.1.0");
    let o = w.promote("2.1.0", &digest_hex("2.1.0"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rolled back to 2.0.0"), "{}", text(&o));
    let blue = revision_of("2.0.0");
    assert_eq!(fake.live_revision().as_deref(), Some(blue.as_str()));
    assert_eq!(fake.tagged("blue").as_deref(), Some(blue.as_str()));
    assert_eq!(
        fake.tagged("green").as_deref(),
        Some(revision_of("2.1.0").as_str())
    );
}

/// The image is named once in pipeline.toml, `{version}` in its tag and
/// no digest: each release fills it in and pins the release's digest, so
/// two releases go out with no edit of the file.
#[test]
fn cloud_run_image_named_once_takes_each_release_by_digest() {
    let mut w = World::new();
    let fake = start_gcp(&w);
    cloud_run_world(&fake, &mut w, "2.0.0");
    w.config(&format!(
        r#"{{ kind = "cloud-run", project = "{PROJECT}", region = "{REGION}", service = "{SERVICE}", image = "{REPOSITORY}:{{version}}" }}"#
    ));
    // The digest as the build prints it (`sha256:` in front) is fine.
    for version in ["2.0.0", "2.1.0"] {
        let o = w.promote(version, &format!("sha256:{}", digest_hex(version)), &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let rev = revision_of(version);
        assert_eq!(fake.live_revision().as_deref(), Some(rev.as_str()));
    }
    let images: Vec<String> =
        w.rt.block_on(fake.patches())
            .iter()
            .filter_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).ok()?;
                body["template"]["containers"][0]["image"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
    assert_eq!(
        images,
        [
            format!("{REPOSITORY}:2.0.0@sha256:{}", digest_hex("2.0.0")),
            format!("{REPOSITORY}:2.1.0@sha256:{}", digest_hex("2.1.0")),
        ]
    );
}

// ----------------------------------------- Azure app settings and secrets

/// `env` and `secrets` become the slot's app settings, and go live with it.
#[test]
fn azure_app_settings_and_secrets_by_reference_reach_the_app() {
    let mut w = World::new();
    let fake = start_azure(&w);
    azure_world(&fake, &mut w);
    let text_of = fs::read_to_string(w.repo.join("pipeline.toml")).unwrap();
    fs::write(
        w.repo.join("pipeline.toml"),
        text_of
            + "env = { FEATURE_X = \"on\" }\nsecrets = { DB_PASSWORD = \"PROD_DB_PASSWORD\" }\n",
    )
    .unwrap();
    let art = release(&w, "a", 16 << 10);
    let artifact = ["--artifact", art.path.to_str().unwrap()];

    let o = w.promote("1.1.0", &art.sha256, &artifact);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "environment prod: the secret DB_PASSWORD is read from the variable PROD_DB_PASSWORD"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(fake.swaps(), 0);

    let secret = "azure-db-s3cret-9";
    w.var("PROD_DB_PASSWORD", secret);
    let o = w.promote("1.1.0", &art.sha256, &artifact);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains(secret), "{}", text(&o));
    let live = fake.settings(None).unwrap();
    assert_eq!(live.get("FEATURE_X").map(String::as_str), Some("on"));
    assert_eq!(live.get("DB_PASSWORD").map(String::as_str), Some(secret));
    assert_eq!(
        live.get("PIPELINE_VERSION").map(String::as_str),
        Some("1.1.0")
    );
}

// ------------------------------------------------- GitHub Deployments

/// Cloud Run, with the state in GitHub Deployments (no git remote used).
fn github_world(w: &mut World, gcp: &FakeGcp, github: &FakeGitHub, version: &str) {
    w.state = format!(
        "[state]\nkind = \"github-deployments\"\nrepository = \"{}\"\n",
        pipeline_testkit::github::REPOSITORY
    );
    cloud_run_world(gcp, w, version);
    w.var("GITHUB_API_URL", github.uri());
    w.var("GITHUB_TOKEN", pipeline_testkit::github::TOKEN);
    w.var("GITHUB_SERVER_URL", "https://github.com");
    w.var("GITHUB_REPOSITORY", pipeline_testkit::github::REPOSITORY);
    w.var("GITHUB_RUN_ID", "4242");
    // The state is not in git: the remote is gone.
    crate::common::git(&w.repo, &["remote", "remove", "origin"]);
}

#[test]
fn github_deployments_hold_the_record_and_the_lock() {
    let mut w = World::new();
    let gcp = start_gcp(&w);
    let github = w.rt.block_on(FakeGitHub::start());
    github_world(&mut w, &gcp, &github, "2.0.0");

    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Two deployments: the intent, written before traffic moved (in
    // progress, then inactive once its outcome is recorded), and the
    // outcome.
    let deployments = github.deployments();
    assert_eq!(deployments.len(), 2, "{deployments:?}");
    let (intent, d) = (&deployments[0], &deployments[1]);
    for d in &deployments {
        assert_eq!(
            (d.environment.as_str(), d.reference.as_str()),
            ("prod", "v2.0.0")
        );
    }
    let states: Vec<String> = github
        .statuses(intent.id)
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["in_progress", "inactive"]);
    let statuses = github.statuses(d.id);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0].state, "success");
    assert_eq!(
        statuses[0].log_url,
        format!(
            "https://github.com/{}/actions/runs/4242",
            pipeline_testkit::github::REPOSITORY
        )
    );
    // The lock was taken and given back.
    let lock = github
        .reference("refs/pipeline/deploy-locks/prod")
        .expect("the lock ref");
    let message = github.commit_message(&lock).unwrap();
    assert!(
        message.starts_with("pipeline lock prod: released"),
        "{message}"
    );
    let history = w.history();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["outcome"], "live");
    assert_eq!(history[0]["version"], "2.0.0");

    // Another runner holds the lock: refused at once, naming it, and
    // nothing deployed.
    let other = GitHubStore::new(
        pipeline_http::Http::new(pipeline_cli::http::client("test").unwrap()),
        pipeline_http::Endpoint::parse("api", &github.uri()).unwrap(),
        pipeline_testkit::github::REPOSITORY,
        pipeline_ci::Secret::new(pipeline_testkit::github::TOKEN),
    )
    .unwrap();
    let now = pipeline_promotion::now();
    let guard =
        w.rt.block_on(other.lock("prod", "runner 9", "rollback", now, 3600))
            .unwrap();
    cloud_run_world(&gcp, &mut w, "3.0.0");
    let patches = w.rt.block_on(gcp.patches()).len();
    let o = w.promote("3.0.0", &digest_hex("3.0.0"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("prod is locked by runner 9"),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.rt.block_on(gcp.patches()).len(),
        patches,
        "nothing deployed"
    );
    w.rt.block_on(other.unlock(guard)).unwrap();
    assert_eq!(
        github.deployments().len(),
        2,
        "nothing recorded by the refused run"
    );
}

#[test]
fn github_deployments_without_a_token_is_a_configuration_error() {
    let mut w = World::new();
    let gcp = start_gcp(&w);
    let github = w.rt.block_on(FakeGitHub::start());
    github_world(&mut w, &gcp, &github, "2.0.0");
    w.vars.retain(|(k, _)| k != "GITHUB_TOKEN");
    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs GITHUB_TOKEN"), "{}", text(&o));

    // A token GitHub refuses: exit 2, the token never printed.
    w.var("GITHUB_TOKEN", "ghs_notTheRightTokenAtAll99");
    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Bad credentials"), "{}", text(&o));
    assert!(
        !text(&o).contains("ghs_notTheRightTokenAtAll99"),
        "{}",
        text(&o)
    );
    assert!(github.deployments().is_empty());
}

#[test]
fn a_release_tag_missing_on_github_is_found_before_traffic_moves() {
    let mut w = World::new();
    let gcp = start_gcp(&w);
    let github = w.rt.block_on(FakeGitHub::start());
    github.known_refs(&["v1.0.0"]);
    github_world(&mut w, &gcp, &github, "2.0.0");
    let o = w.promote("2.0.0", &digest_hex("2.0.0"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the tag v2.0.0 is not in octo-org/pipeline-app"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("ok switch"), "{}", text(&o));
    assert!(w.rt.block_on(gcp.patches()).is_empty(), "nothing deployed");
    assert!(github.deployments().is_empty(), "nothing recorded");
    // The lock was given back.
    let lock = github.reference("refs/pipeline/deploy-locks/prod").unwrap();
    assert!(
        github
            .commit_message(&lock)
            .unwrap()
            .starts_with("pipeline lock prod: released")
    );
}
