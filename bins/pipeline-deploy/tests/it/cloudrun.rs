//! `pipeline-deploy cloud-run …` end to end: the real binary against
//! `pipeline_testkit::gcp::FakeGcp` (Cloud Run, the token services and the
//! tags' health paths on loopback), exit codes, JSON, and no secret in any
//! output.

use std::process::Output;

use assert_cmd::Command;
use pipeline_testkit::gcp::{
    FakeGcp, FakeGcpBuilder, OIDC_REQUEST_TOKEN, PROJECT, PROVIDER, REGION, SERVICE, gcp_json,
    image_of,
};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

struct Harness {
    fake: FakeGcp,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Harness {
    fn start(builder: FakeGcpBuilder) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(builder.start());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.json"), fake.key_file().to_string()).unwrap();
        Self { fake, rt, dir }
    }

    /// The binary with nothing from the test's environment and every
    /// endpoint on the fake; no credentials chosen yet.
    fn bare(&self, sub: &str) -> Command {
        let uri = self.fake.uri();
        let mut cmd = Command::cargo_bin("pipeline-deploy").unwrap();
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("PIPELINE_GCP_RUN_ENDPOINT", &uri)
            .env("PIPELINE_GCP_STS_ENDPOINT", &uri)
            .env("PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT", &uri)
            .env("PIPELINE_GCP_METADATA_ENDPOINT", &uri)
            .args(["cloud-run", sub])
            .args([
                "--project",
                PROJECT,
                "--region",
                REGION,
                "--service",
                SERVICE,
            ]);
        cmd
    }

    /// The same with the service-account key file.
    fn cmd(&self, sub: &str) -> Command {
        let mut cmd = self.bare(sub);
        cmd.env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            self.dir.path().join("key.json"),
        );
        cmd
    }

    fn deploy(&self, mut cmd: Command, image: &str, version: &str) -> Output {
        cmd.args([
            "--image",
            image,
            "--version",
            version,
            "--health-interval",
            "0.01",
        ])
        .output()
        .unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn deploy_prints_json_and_exits_0_then_swap_and_status() {
    let h = Harness::start(FakeGcp::builder());
    let mut cmd = h.cmd("deploy");
    cmd.arg("--json");
    let out = h.deploy(cmd, &image_of("1.1.0"), "1.1.0");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-deploy/cloud-run/v1");
    assert_eq!(doc["action"], "deploy");
    assert_eq!(doc["deployed"]["slot"], "green");
    assert_eq!(doc["deployed"]["version"], "1.1.0");
    assert_eq!(doc["service"], SERVICE);

    let out = h.cmd("swap").args(["--version", "1.1.0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = h.cmd("status").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"]["slots"][0]["slot"], "green");
    assert_eq!(doc["status"]["slots"][0]["live"], true);
    let key = h.fake.key_file();
    let pem = key["private_key"].as_str().unwrap();
    assert!(!text(&out).contains(&pem[40..80]));
}

#[test]
fn a_tag_only_image_exits_2() {
    let h = Harness::start(FakeGcp::builder());
    let out = h.deploy(
        h.cmd("deploy"),
        "europe-docker.pkg.dev/p/r/app:1.1.0",
        "1.1.0",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not pinned by digest"),
        "{}",
        text(&out)
    );
    assert!(h.rt.block_on(h.fake.requests()).is_empty());
}

#[test]
fn a_refused_token_exchange_exits_2_without_the_request_token() {
    let h = Harness::start(FakeGcp::builder().sts_refuses());
    let mut cmd = h.bare("deploy");
    cmd.env("GOOGLE_WORKLOAD_IDENTITY_PROVIDER", PROVIDER)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", h.fake.oidc_request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN);
    let out = h.deploy(cmd, &image_of("1.1.0"), "1.1.0");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("invalid_grant"), "{all}");
    assert!(!all.contains(OIDC_REQUEST_TOKEN), "{all}");
}

#[test]
fn cloud_run_unavailable_for_good_exits_3() {
    let h = Harness::start(FakeGcp::builder());
    h.rt.block_on(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).set_body_json(gcp_json("run/error.503.json")))
            .with_priority(1)
            .mount(h.fake.server()),
    );
    let mut cmd = h.cmd("deploy");
    cmd.args(["--timeout", "3"]);
    let out = h.deploy(cmd, &image_of("1.1.0"), "1.1.0");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("UNAVAILABLE"), "{}", text(&out));
}
