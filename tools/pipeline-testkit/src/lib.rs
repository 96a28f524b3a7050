//! Test support for the deploy targets, and only that: a dev-dependency,
//! never a dependency of code that ships.
//!
//! - [`FakeAzure`]: Microsoft Entra ID, Resource Manager (App Service
//!   sites, slots, app settings, swaps, long-running operations), Kudu's
//!   OneDeploy, GitHub Actions' OIDC endpoint and the slots' health paths
//!   on one loopback wiremock server, answering with the fixtures of
//!   `fixtures/azure` and keeping the state a deploy changes: app settings
//!   a PUT writes and a swap exchanges, the version a slot serves after a
//!   deployment, the tokens it issued.
//! - [`gcp::FakeGcp`]: the Cloud Run Admin API v2, the service-account key
//!   token endpoint, STS, IAM Credentials and the metadata server on one
//!   loopback wiremock server, from the fixtures of `fixtures/gcp`.
//! - [`github::FakeGitHub`]: GitHub's deployments, deployment statuses and
//!   Git database (refs, trees, commits), for the GitHub state store, and
//!   check runs and issue comments, for `pipeline-report`, from the shapes
//!   of `fixtures/github`.
//! - [`FlakyKudu`]: a Kudu on a raw TCP socket that drops the first upload
//!   half-way.
//! - [`fixtures`]: the fixture files and their placeholders.
//! - [`artifact`]: an artifact file and its digest.
//!
//! ```no_run
//! # async fn demo() {
//! use pipeline_testkit::{FakeAzure, Health};
//!
//! let fake = FakeAzure::builder().health(Health::NEVER).start().await;
//! let arm_endpoint = fake.uri();
//! # let _ = arm_endpoint;
//! # }
//! ```

mod fake;
pub mod fixtures;
mod flaky;
pub mod gcp;
pub mod github;
mod reply;

use std::path::{Path, PathBuf};

pub use fake::{
    BUILD_ERROR_LINES, DIGEST_SETTING, FakeAzure, FakeAzureBuilder, Health, Kudu, KuduOutcome,
    KuduStep, ROUTE_PRIORITY, SlotCreate, Swap, VERSION_SETTING, digest_of,
};
pub use flaky::{FIRST_UPLOAD_CUT, FlakyKudu, FlakyRequest};

/// An artifact written for a test.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its SHA-256, as 64 hexadecimal digits.
    pub sha256: String,
}

/// Writes `len` bytes (a zip signature, then a pattern that does not
/// repeat within a read buffer) to `dir/app.zip`.
pub fn artifact(dir: &Path, len: usize) -> Artifact {
    let mut bytes = b"PK\x03\x04".to_vec();
    let mut x: u32 = 0x9E37_79B9;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    let path = dir.join("app.zip");
    std::fs::write(&path, &bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let sha256 = pipeline_artifact::Sha256Digest::of(&bytes).to_string();
    Artifact {
        path,
        bytes,
        sha256,
    }
}
