//! `pipeline-deploy azure …` end to end: the real binary against
//! `pipeline_testkit::FakeAzure` (Entra ID, Resource Manager, Kudu and the
//! slot on loopback), exit codes, JSON, GitHub Actions OIDC and masks, and
//! no secret in any output.

use std::collections::BTreeMap;
use std::process::Output;

use assert_cmd::Command;
use pipeline_testkit::fixtures::{
    APP, CLIENT_ID, CLIENT_SECRET, JWT, JWT_BEARER, OIDC_AUDIENCE, OIDC_PATH, OIDC_REQUEST_TOKEN,
    RESOURCE_GROUP, SLOT, SUBSCRIPTION, TENANT,
};
use pipeline_testkit::{
    Artifact, BUILD_ERROR_LINES, FakeAzure, FakeAzureBuilder, Health, Kudu, KuduOutcome, KuduStep,
    artifact,
};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// A fake Azure on a runtime of its own that lives as long as the test, an
/// artifact, and the binary pointed at both.
struct Harness {
    fake: FakeAzure,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    art: Artifact,
}

impl Harness {
    fn start(builder: FakeAzureBuilder) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(builder.start());
        let dir = tempfile::tempdir().unwrap();
        let art = artifact(dir.path(), 64 << 10);
        Self { fake, rt, dir, art }
    }

    /// The binary with nothing from the test's environment (no proxies, no
    /// `AZURE_*`, `ACTIONS_*` or `GITHUB_*`), the fixtures' service
    /// principal with a client secret, and every endpoint on the fake.
    fn cmd(&self) -> Command {
        let uri = self.fake.uri();
        let mut cmd = Command::cargo_bin("pipeline-deploy").unwrap();
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
            .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
            .env("AZURE_AUTHORITY_HOST", &uri)
            .env("PIPELINE_AZURE_ARM_ENDPOINT", &uri)
            .env("PIPELINE_AZURE_SCM_ENDPOINT", &uri)
            .env("PIPELINE_AZURE_RESOURCE_GROUP", RESOURCE_GROUP)
            .env("PIPELINE_AZURE_APP", APP)
            .arg("azure");
        cmd
    }

    /// `azure deploy` of the artifact as `version`, probing every 10 ms.
    fn deploy(&self, version: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.arg("deploy")
            .arg("--artifact")
            .arg(&self.art.path)
            .args(["--sha256", &self.art.sha256])
            .args(["--version", version])
            .args(["--slot-url", &self.fake.slot_url(SLOT)])
            .args(["--health-interval", "0.01"]);
        cmd
    }

    fn requests(&self) -> Vec<wiremock::Request> {
        self.rt.block_on(self.fake.requests())
    }

    fn requests_to(&self, method: &str, path: &str) -> Vec<wiremock::Request> {
        self.rt.block_on(self.fake.requests_to(method, path))
    }

    fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(self.fake.server()));
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts the exit code, showing the output when it differs.
fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn form(req: &wiremock::Request) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

#[test]
fn deploy_prints_one_json_document() {
    let h = Harness::start(FakeAzure::builder());
    let o = run(h
        .deploy("1.1.0")
        .args(["--json", "--setting", "FEATURE_FLAGS=beta"]));
    assert_code(&o, 0);
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["schema"], "pipeline-deploy/azure/v1");
    assert_eq!(doc["action"], "deploy");
    assert_eq!(doc["app"], APP);
    assert_eq!(doc["deployed"]["version"], "1.1.0");
    assert_eq!(doc["deployed"]["slot"], SLOT);
    assert_eq!(doc["deployed"]["sha256"], h.art.sha256);
    assert_eq!(doc["deployed"]["url"], h.fake.slot_url(SLOT));
    assert_eq!(
        doc["deployed"]["deployment_id"],
        pipeline_testkit::fixtures::DEPLOYMENT_ID
    );
    assert_eq!(h.fake.version(Some(SLOT)).as_deref(), Some("1.1.0"));
    assert_eq!(
        h.fake.settings(Some(SLOT)).unwrap()["FEATURE_FLAGS"],
        "beta"
    );
    let uploads = h.requests_to("POST", "/api/publish");
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].body, h.art.bytes);
}

#[test]
fn deploy_prints_a_line_of_text() {
    let h = Harness::start(FakeAzure::builder());
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "deployed 1.1.0 ({}) to slot staging of azure:pipeline-app in ",
            &h.art.sha256[..12]
        )),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("; it serves at {}\n", h.fake.slot_url(SLOT))),
        "{out}"
    );
}

#[test]
fn swap_then_rollback() {
    let h = Harness::start(FakeAzure::builder().versions(Some("1.0.0"), Some("1.1.0")));

    let o = run(h.cmd().args(["swap", "--version", "1.1.0"]));
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "switched azure:pipeline-app: 1.1.0 live, 1.0.0 in the idle slot\n"
    );
    assert_eq!(h.fake.version(None).as_deref(), Some("1.1.0"));

    // The same swap again is a no-op.
    let o = run(h.cmd().args(["swap", "--version", "1.1.0", "--json"]));
    assert_code(&o, 0);
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["action"], "swap");
    assert_eq!(doc["switched"]["already"], true);
    assert_eq!(h.fake.swaps(), 1);

    let o = run(h.cmd().arg("rollback"));
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "rolled back azure:pipeline-app: 1.0.0 live again, 1.1.0 in the idle slot\n"
    );
    assert_eq!(h.fake.version(None).as_deref(), Some("1.0.0"));
    assert_eq!(h.fake.swaps(), 2);
    let swap = format!("{}/slotsswap", h.fake.site_path(Some(SLOT)));
    assert_eq!(h.requests_to("POST", &swap).len(), 2);
}

#[test]
fn swap_to_a_version_the_slot_does_not_hold_exits_1() {
    let h = Harness::start(FakeAzure::builder().versions(Some("1.0.0"), Some("1.1.0")));
    let o = run(h.cmd().args(["swap", "--version", "2.0.0"]));
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("holds 1.1.0, not 2.0.0"),
        "{}",
        stderr(&o)
    );
    let swap = format!("{}/slotsswap", h.fake.site_path(Some(SLOT)));
    assert!(h.requests_to("POST", &swap).is_empty());
}

#[test]
fn status_lists_production_and_the_slot() {
    let h = Harness::start(FakeAzure::builder().versions(Some("1.1.0"), Some("1.0.0")));
    let o = run(h.cmd().arg("status"));
    assert_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "azure:pipeline-app");
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let production = words(lines[1]);
    assert_eq!(production[..3], ["production", "live", "1.1.0"]);
    assert_eq!(
        production[4..],
        ["Running", "https://pipeline-app.azurewebsites.net/"]
    );
    let staging = words(lines[2]);
    assert_eq!(staging[..3], ["staging", "idle", "1.0.0"]);
    assert_eq!(
        staging[3],
        &pipeline_testkit::digest_of("1.0.0")[..12],
        "the digest, shortened"
    );

    let o = run(h.cmd().args(["status", "--json"]));
    assert_code(&o, 0);
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["status"]["slots"][1]["slot"], "staging");
    assert_eq!(doc["status"]["slots"][1]["version"], "1.0.0");
}

#[test]
fn inside_actions_each_step_says_what_went_where_and_the_url() {
    let h = Harness::start(FakeAzure::builder().versions(Some("1.0.0"), Some("1.0.0")));
    let in_actions = |name: &str, cmd: &mut Command| {
        let outputs = h.dir.path().join(format!("{name}.output"));
        let summary = h.dir.path().join(format!("{name}.md"));
        let o = run(cmd
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary));
        assert_code(&o, 0);
        let written: BTreeMap<String, String> =
            pipeline_ci::read_outputs(&std::fs::read_to_string(&outputs).unwrap_or_default())
                .unwrap()
                .into_iter()
                .collect();
        (
            written,
            std::fs::read_to_string(&summary).unwrap_or_default(),
        )
    };
    let (out, md) = in_actions("deploy", &mut h.deploy("1.1.0"));
    assert_eq!(out["url"], h.fake.slot_url(SLOT));
    assert_eq!(out["version"], "1.1.0");
    assert!(
        md.starts_with(&format!(
            "### ✅ 1.1.0 deployed to slot {SLOT} of azure:{APP}\n"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!("| serves at | {} |", h.fake.slot_url(SLOT))),
        "{md}"
    );
    assert!(md.contains("Live traffic has not moved"), "{md}");

    let (out, md) = in_actions("swap", h.cmd().args(["swap", "--version", "1.1.0"]));
    assert_eq!(out["version"], "1.1.0");
    // The live slot's address as Azure reports it (the site's host name).
    assert_eq!(
        out["url"],
        format!("https://{APP}.azurewebsites.net/"),
        "{out:?}"
    );
    assert!(
        md.contains("switched azure:pipeline-app: 1.1.0 live"),
        "{md}"
    );
    assert!(
        md.contains("| idle slot | 1.0.0 (what a switch back restores) |"),
        "{md}"
    );

    let (out, md) = in_actions("rollback", h.cmd().arg("rollback"));
    assert_eq!(out["version"], "1.0.0");
    assert!(
        md.contains("rolled back azure:pipeline-app: 1.0.0 live"),
        "{md}"
    );
}

#[test]
fn github_actions_oidc_is_exchanged_for_a_token() {
    let h = Harness::start(FakeAzure::builder());
    let outputs = h.dir.path().join("github_output");
    std::fs::write(&outputs, "").unwrap();
    let o = run(h
        .deploy("1.1.0")
        .arg("--json")
        .env_remove("AZURE_CLIENT_SECRET")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", h.fake.oidc_request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN));
    assert_code(&o, 0);

    // The request token is masked first thing, on stderr, and only there in
    // the mask; stdout is the one JSON document.
    let err = stderr(&o);
    let mask = format!("::add-mask::{OIDC_REQUEST_TOKEN}");
    assert_eq!(err.lines().next(), Some(mask.as_str()), "{err}");
    assert_eq!(err.matches(OIDC_REQUEST_TOKEN).count(), 1, "{err}");
    let out = stdout(&o);
    let rest: Vec<&str> = out.lines().collect();
    assert_eq!(rest.len(), 1, "{out}");
    assert!(!out.contains(OIDC_REQUEST_TOKEN));
    let doc: Value = serde_json::from_str(rest[0]).unwrap();
    assert_eq!(doc["deployed"]["version"], "1.1.0");
    let written = pipeline_ci::read_outputs(&std::fs::read_to_string(&outputs).unwrap()).unwrap();
    assert_eq!(
        written,
        [
            ("slot_url".to_owned(), h.fake.slot_url(SLOT)),
            ("url".to_owned(), h.fake.slot_url(SLOT)),
            ("version".to_owned(), "1.1.0".to_owned()),
        ]
    );

    // GitHub was asked for a token for Entra ID's audience, with the
    // request token; Entra ID got it as a client assertion.
    let oidc = h.requests_to("GET", OIDC_PATH);
    assert_eq!(oidc.len(), 1);
    let q: BTreeMap<String, String> = oidc[0].url.query_pairs().into_owned().collect();
    assert_eq!(q["api-version"], "2.0");
    assert_eq!(q["audience"], OIDC_AUDIENCE);
    assert_eq!(
        oidc[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {OIDC_REQUEST_TOKEN}")
    );
    let tokens = h.rt.block_on(h.fake.token_requests());
    assert_eq!(tokens.len(), 1);
    let f = form(&tokens[0]);
    assert_eq!(f["client_assertion"], JWT);
    assert_eq!(f["client_assertion_type"], JWT_BEARER);
    assert_eq!(f["client_id"], CLIENT_ID);
    assert_eq!(f["grant_type"], "client_credentials");
    assert!(!f.contains_key("client_secret"));
}

#[test]
fn a_federated_token_file_is_sent_as_the_assertion() {
    let assertion = "eyJhbGciOiJSUzI1NiJ9.federated-from-file.sig";
    let h = Harness::start(FakeAzure::builder().client_assertion(assertion));
    let file = h.dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{assertion}\n")).unwrap();
    let o = run(h
        .cmd()
        .arg("status")
        .env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_FEDERATED_TOKEN_FILE", &file));
    assert_code(&o, 0);
    let tokens = h.rt.block_on(h.fake.token_requests());
    assert_eq!(tokens.len(), 1);
    let f = form(&tokens[0]);
    assert_eq!(f["client_assertion"], assertion);
    assert_eq!(f["client_assertion_type"], JWT_BEARER);
    assert!(!f.contains_key("client_secret"));
}

#[test]
fn a_refused_client_secret_exits_2() {
    let h = Harness::start(FakeAzure::builder().client_secret("the-secret-entra-knows"));
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(!err.contains(CLIENT_SECRET), "{err}");
    assert_eq!(h.rt.block_on(h.fake.token_requests()).len(), 1);
    assert!(h.requests_to("POST", "/api/publish").is_empty());
}

#[test]
fn an_app_that_does_not_exist_exits_2() {
    let h = Harness::start(FakeAzure::builder().without_app());
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("404"), "{err}");
    assert!(err.contains("ResourceNotFound"), "{err}");
}

/// Resource Manager answering 503 to every GET of the site, with a
/// `Retry-After` of zero so that the attempts run out at once.
fn unavailable(h: &Harness) {
    h.mount(
        Mock::given(method("GET"))
            .and(path(h.fake.site_path(None)))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("Retry-After", "0")
                    .set_body_json(serde_json::json!({ "error": {
                        "code": "ServiceUnavailable",
                        "message": "The service is temporarily unavailable."
                    }})),
            ),
    );
}

#[test]
fn a_service_that_stays_unavailable_exits_3() {
    let h = Harness::start(FakeAzure::builder());
    unavailable(&h);
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("gave up after 6 attempts"), "{err}");
    assert!(err.contains("ServiceUnavailable"), "{err}");
    assert_eq!(h.requests_to("GET", &h.fake.site_path(None)).len(), 6);
}

#[test]
fn a_slot_never_healthy_exits_1() {
    let h = Harness::start(FakeAzure::builder().health(Health::NEVER));
    let o = run(h.deploy("1.1.0").args(["--health-timeout", "1"]));
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("slot staging is not healthy"), "{err}");
    assert!(err.contains("version 0.9.0"), "{err}");
}

fn kudu_fails() -> FakeAzureBuilder {
    FakeAzure::builder().kudu(Kudu {
        conflicts: 0,
        steps: vec![KuduStep::Building],
        outcome: KuduOutcome::Failed,
    })
}

#[test]
fn a_failed_deployment_exits_1_with_its_log() {
    let h = Harness::start(kudu_fails());
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("deployment a1b2c3d4e5f60718293a4b5c6d7e8f90 to slot staging failed"),
        "{err}"
    );
    for line in ["Running deployment command...", "Deployment Failed."]
        .into_iter()
        .chain(BUILD_ERROR_LINES)
    {
        assert!(err.contains(line), "{err}");
    }
    assert!(h.requests_to("GET", "/web/staging/health").is_empty());
}

#[test]
fn a_plain_http_endpoint_off_loopback_exits_2_without_a_request() {
    let h = Harness::start(FakeAzure::builder());
    let o = run(h
        .deploy("1.1.0")
        .env("PIPELINE_AZURE_ARM_ENDPOINT", "http://10.0.0.1"));
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("PIPELINE_AZURE_ARM_ENDPOINT"), "{err}");
    assert!(err.contains("http://10.0.0.1"), "{err}");
    assert!(h.requests().is_empty());
}

#[test]
fn an_artifact_with_another_digest_exits_2_without_a_request() {
    let h = Harness::start(FakeAzure::builder());
    std::fs::write(&h.art.path, b"PK\x03\x04 other bytes").unwrap();
    let o = run(&mut h.deploy("1.1.0"));
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(err.contains(&format!("expected {}", h.art.sha256)), "{err}");
    assert!(h.requests().is_empty());
}

#[test]
fn missing_credentials_exit_2_without_a_request() {
    let h = Harness::start(FakeAzure::builder());
    let o = run(h.deploy("1.1.0").env_remove("AZURE_CLIENT_ID"));
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("no Azure credentials"),
        "{}",
        stderr(&o)
    );

    let o = run(h.deploy("1.1.0").env_remove("AZURE_CLIENT_SECRET"));
    assert_code(&o, 2);
    assert!(stderr(&o).contains("has no proof"), "{}", stderr(&o));
    assert!(h.requests().is_empty());
}

/// What every run of [`no_secret_or_token_is_ever_printed`] must keep out
/// of stdout and stderr.
const SECRET: &str = "client-SECRET-value-5b0e1c";
const REQUEST_TOKEN: &str = "actions-REQUEST-token-9d2c77";
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.OIDC-ID-token-77aa.sig";
const ACCESS: &str = "ACCESS-token-e41f03-";

fn distinctive() -> FakeAzureBuilder {
    FakeAzure::builder()
        .client_secret(SECRET)
        .token_prefix(ACCESS)
        .oidc_request_token(REQUEST_TOKEN)
        .client_assertion(ID_TOKEN)
}

fn check_no_secret(name: &str, o: &Output, code: i32) {
    assert_code(o, code);
    for (what, text) in [("stdout", stdout(o)), ("stderr", stderr(o))] {
        for secret in [SECRET, REQUEST_TOKEN, ID_TOKEN, ACCESS] {
            assert!(
                !text.contains(secret),
                "{name}: {secret} in {what}:\n{text}"
            );
        }
    }
}

#[test]
fn no_secret_or_token_is_ever_printed() {
    type Tweak = fn(&Harness, &mut Command);
    let cases: Vec<(&str, FakeAzureBuilder, Tweak, i32)> = vec![
        ("deployed", distinctive(), |_, _| {}, 0),
        (
            "client secret refused",
            distinctive().client_secret("the-secret-entra-knows"),
            |_, _| {},
            2,
        ),
        (
            "federated token refused",
            distinctive()
                .oidc_id_token(ID_TOKEN)
                .client_assertion("an-assertion-entra-would-take"),
            |h, cmd| {
                cmd.env_remove("AZURE_CLIENT_SECRET")
                    .env("ACTIONS_ID_TOKEN_REQUEST_URL", h.fake.oidc_request_url());
            },
            2,
        ),
        ("app not found", distinctive().without_app(), |_, _| {}, 2),
        ("unavailable", distinctive(), |h, _| unavailable(h), 3),
        (
            "never healthy",
            distinctive().health(Health::NEVER),
            |_, cmd| {
                cmd.args(["--health-timeout", "0"]);
            },
            1,
        ),
        (
            "deployment failed",
            kudu_fails()
                .client_secret(SECRET)
                .token_prefix(ACCESS)
                .oidc_request_token(REQUEST_TOKEN),
            |_, _| {},
            1,
        ),
        (
            "http endpoint",
            distinctive(),
            |_, cmd| {
                cmd.env("PIPELINE_AZURE_ARM_ENDPOINT", "http://10.0.0.1");
            },
            2,
        ),
        (
            "digest mismatch",
            distinctive(),
            |h, _| std::fs::write(&h.art.path, b"other bytes").unwrap(),
            2,
        ),
        (
            "missing credentials",
            distinctive(),
            |_, cmd| {
                cmd.env_remove("AZURE_TENANT_ID");
            },
            2,
        ),
    ];
    for (name, builder, tweak, code) in cases {
        for verbose in [None, Some("-vv")] {
            // A fresh fake each time: the first run changes its state.
            let h = Harness::start(builder.clone());
            let mut cmd = h.deploy("1.1.0");
            cmd.env("AZURE_CLIENT_SECRET", SECRET)
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN);
            cmd.args(verbose);
            tweak(&h, &mut cmd);
            let o = run(&mut cmd);
            check_no_secret(&format!("{name} {verbose:?}"), &o, code);
            // The distinctive values did travel where they belong.
            if name == "deployed" {
                let tokens = h.rt.block_on(h.fake.token_requests());
                assert_eq!(form(&tokens[0])["client_secret"], SECRET);
                assert!(h.fake.issued_tokens()[0].starts_with(ACCESS));
            }
        }
    }
}

#[test]
fn the_secret_of_a_refused_credential_is_not_echoed_even_when_the_service_does() {
    // An Entra reply that quotes the secret back: the binary must redact it.
    let h = Harness::start(distinctive());
    h.mount(
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("AADSTS7000215: Invalid client secret provided: '{SECRET}'."),
            }))),
    );
    let o = run(h.deploy("1.1.0").env("AZURE_CLIENT_SECRET", SECRET));
    check_no_secret("echoed secret", &o, 2);
    assert!(stderr(&o).contains("AADSTS7000215"), "{}", stderr(&o));
}

#[test]
fn a_secret_quoted_in_a_retried_reply_is_not_in_the_retry_lines() {
    // Retries print the service's words as they happen (progress and -v
    // logs), before any final error: they are redacted too.
    let h = Harness::start(distinctive());
    h.mount(
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(503).set_body_json(serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": format!("busy, try again (you sent '{SECRET}')"),
            }))),
    );
    let o =
        run(h
            .deploy("1.1.0")
            .env("AZURE_CLIENT_SECRET", SECRET)
            .args(["-vv", "--timeout", "2"]));
    check_no_secret("secret in a retried reply", &o, 3);
    let err = stderr(&o);
    assert!(err.contains("retrying in"), "{err}");
    assert!(err.contains("you sent '***'"), "{err}");
}

#[test]
fn status_shows_a_digest_setting_that_is_not_hex() {
    // App settings are anyone's to edit: a digest with characters of more
    // than one byte is shortened on a character boundary.
    let h = Harness::start(FakeAzure::builder().setting(
        Some(SLOT),
        "PIPELINE_ARTIFACT_SHA256",
        "a€€€€€€€€€€€€€€",
    ));
    let o = run(h.cmd().arg("status"));
    assert_code(&o, 0);
    let out = stdout(&o);
    let staging = out
        .lines()
        .find(|l| l.trim_start().starts_with("staging"))
        .unwrap();
    assert_eq!(
        staging.split_whitespace().nth(3),
        Some("a€€€€€€€€€€€"),
        "{out}"
    );
}

#[test]
fn a_health_interval_out_of_range_exits_2() {
    let h = Harness::start(FakeAzure::builder());
    for interval in ["1e20", "-1", "NaN", "inf"] {
        let mut cmd = h.cmd();
        cmd.arg("deploy")
            .arg("--artifact")
            .arg(&h.art.path)
            .args(["--sha256", &h.art.sha256, "--version", "1.1.0"])
            .arg(format!("--health-interval={interval}"));
        let o = run(&mut cmd);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("--health-interval"), "{}", stderr(&o));
    }
}
