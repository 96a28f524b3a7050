//! The GitHub Actions event payload (the JSON file `GITHUB_EVENT_PATH`
//! names): which pull request a run is about.

use serde::Deserialize;

/// A pull request, as an event payload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// The commit at the head of its branch (absent in `issue_comment`
    /// events).
    pub head_sha: Option<String>,
    /// The branch it merges into.
    pub base_ref: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    pull_request: Option<PrPayload>,
    issue: Option<IssuePayload>,
}

#[derive(Deserialize)]
struct PrPayload {
    number: u64,
    head: Option<RefPayload>,
    base: Option<RefPayload>,
}

#[derive(Deserialize)]
struct RefPayload {
    sha: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct IssuePayload {
    number: u64,
    pull_request: Option<serde_json::Value>,
}

/// The pull request of a `pull_request`, `pull_request_target` or
/// `pull_request_review` event, or of an `issue_comment` on a pull request;
/// `None` for other events (a push).
///
/// # Errors
///
/// When the payload is not JSON of an event's shape.
///
/// ```
/// let payload = br#"{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"sha":"abc","ref":"fix"},"base":{"ref":"main","sha":"def"}}}"#;
/// let pr = pipeline_github::event::pull_request(payload).unwrap().unwrap();
/// assert_eq!((pr.number, pr.head_sha.as_deref(), pr.base_ref.as_deref()), (7, Some("abc"), Some("main")));
/// assert_eq!(pipeline_github::event::pull_request(br#"{"ref":"refs/heads/main"}"#).unwrap(), None);
/// ```
pub fn pull_request(payload: &[u8]) -> Result<Option<PullRequest>, serde_json::Error> {
    let payload: Payload = serde_json::from_slice(payload)?;
    if let Some(pr) = payload.pull_request {
        return Ok(Some(PullRequest {
            number: pr.number,
            head_sha: pr.head.and_then(|h| h.sha),
            base_ref: pr.base.and_then(|b| b.reference),
        }));
    }
    Ok(payload
        .issue
        .filter(|issue| issue.pull_request.is_some())
        .map(|issue| PullRequest {
            number: issue.number,
            head_sha: None,
            base_ref: None,
        }))
}
