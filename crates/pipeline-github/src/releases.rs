//! Releases (`GET /repos/{owner}/{repo}/releases/tags/{tag}`, `GET
//! …/releases`, `POST …/releases`, `PATCH …/releases/{release_id}`), and
//! one release per tag kept as asked: [`GitHub::ensure_release`].
//!
//! What the REST documentation says, and what this module does with it:
//!
//! - "Get a release by tag name" returns a *published* release only; a
//!   draft is found by listing ("only users with push access will receive
//!   listings for draft releases"), newest first. [`GitHub::find_release`]
//!   looks both ways.
//! - "Create a release" takes `tag_name` (required), `target_commitish`
//!   ("unused if the Git tag already exists"), `name`, `body`, `draft`,
//!   `prerelease`, `make_latest`; a second release for the same tag is a
//!   422 (`Validation Failed`, `{"resource":"Release","code":"already_exists",
//!   "field":"tag_name"}`, as GitHub answers it in practice).
//! - "Update a release" takes the same fields, each optional.
//!
//! [`GitHub::ensure_release`] makes the release of a tag say what it is
//! asked to, whatever happened before: found and left alone when it does
//! already, found and updated when it does not (a draft is published),
//! created when there is none. A create that fails without a clear answer
//! (the network, a 5xx: it may have landed) or that GitHub refuses with a
//! 422 is followed by a second look, so that a re-run, or two runs at
//! once, never make two releases of one tag.

use pipeline_http::{HttpError, Method};
use serde::Deserialize;
use serde_json::json;

use crate::{GitHub, GitHubError, PER_PAGE, cut_chars};

/// The longest release body GitHub takes, in characters (the 422 GitHub
/// answers beyond it says "maximum is 125000 characters"; not in the REST
/// documentation).
pub const MAX_BODY: usize = 125_000;

/// Pages of releases read when looking for a draft (newest first).
pub const DRAFT_PAGES: usize = 3;

/// Whether a release becomes the repository's latest (`make_latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MakeLatest {
    /// It becomes the latest (GitHub's default for a published release).
    Yes,
    /// It does not (a hotfix of an older line).
    No,
    /// GitHub decides by creation date and semantic version.
    Legacy,
}

impl MakeLatest {
    fn as_str(self) -> &'static str {
        match self {
            MakeLatest::Yes => "true",
            MakeLatest::No => "false",
            MakeLatest::Legacy => "legacy",
        }
    }
}

/// The release a tag should have: see [`GitHub::ensure_release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    tag: String,
    name: String,
    body: String,
    prerelease: bool,
    target_commitish: Option<String>,
    make_latest: Option<MakeLatest>,
}

impl ReleaseRequest {
    /// The published release of `tag`, named after it, with an empty body.
    pub fn new(tag: impl Into<String>) -> Self {
        let tag = tag.into();
        Self {
            name: tag.clone(),
            tag,
            body: String::new(),
            prerelease: false,
            target_commitish: None,
            make_latest: None,
        }
    }

    /// Its title (the tag by default).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Its notes, Markdown (cut to [`MAX_BODY`] characters).
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = cut_chars(&body.into(), MAX_BODY);
        self
    }

    /// Marks it a pre-release.
    #[must_use]
    pub fn prerelease(mut self, yes: bool) -> Self {
        self.prerelease = yes;
        self
    }

    /// Where GitHub creates the tag if it does not exist yet (a branch or
    /// a commit); unused when it does.
    #[must_use]
    pub fn target_commitish(mut self, commitish: impl Into<String>) -> Self {
        self.target_commitish = Some(commitish.into());
        self
    }

    /// Whether it becomes the latest release.
    #[must_use]
    pub fn make_latest(mut self, latest: MakeLatest) -> Self {
        self.make_latest = Some(latest);
        self
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn json(&self) -> serde_json::Value {
        let mut body = json!({
            "tag_name": self.tag,
            "name": self.name,
            "body": self.body,
            "draft": false,
            "prerelease": self.prerelease,
        });
        if let Some(c) = &self.target_commitish {
            body["target_commitish"] = json!(c);
        }
        if let Some(latest) = self.make_latest {
            body["make_latest"] = json!(latest.as_str());
        }
        body
    }

    /// Whether `release` already says what this asks.
    fn matches(&self, release: &Release) -> bool {
        release.tag_name == self.tag
            && release.name.as_deref().unwrap_or_default() == self.name
            && release.body.as_deref().unwrap_or_default() == self.body
            && !release.draft
            && release.prerelease == self.prerelease
    }
}

/// A release as GitHub returns it (the fields read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Release {
    /// Its id.
    pub id: u64,
    /// Its tag.
    pub tag_name: String,
    /// Its title.
    #[serde(default)]
    pub name: Option<String>,
    /// Its notes.
    #[serde(default)]
    pub body: Option<String>,
    /// Whether it is a draft (unpublished).
    #[serde(default)]
    pub draft: bool,
    /// Whether it is a pre-release.
    #[serde(default)]
    pub prerelease: bool,
    /// Its page.
    #[serde(default)]
    pub html_url: String,
    /// Its files.
    #[serde(default)]
    pub assets: Vec<ReleaseAsset>,
}

/// A file of a release (the fields read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReleaseAsset {
    /// Its id.
    pub id: u64,
    /// Its file name.
    pub name: String,
    /// Where a browser downloads it.
    #[serde(default)]
    pub browser_download_url: String,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// `sha256:<hex>`, where GitHub computed it.
    #[serde(default)]
    pub digest: Option<String>,
}

/// What [`GitHub::ensure_release`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// There was no release of the tag: it was created.
    Created,
    /// There was one that said something else (or was a draft): updated.
    Updated,
    /// There was one that said it already: left alone.
    Unchanged,
}

impl Ensured {
    /// `created`, `updated` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ensured::Created => "created",
            Ensured::Updated => "updated",
            Ensured::Unchanged => "unchanged",
        }
    }
}

impl GitHub {
    /// The published release of `tag`, or `None` (GitHub's 404).
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`], but for the 404.
    pub async fn release_by_tag(&self, tag: &str) -> Result<Option<Release>, GitHubError> {
        let url = self.repo_url(&format!("releases/tags/{tag}"), &[]);
        match self
            .send_json(
                &format!("read the release of {tag}"),
                Method::GET,
                url,
                None,
            )
            .await
        {
            Ok(release) => Ok(Some(release)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The newest releases, drafts included for a token with push access,
    /// at most `pages` pages of [`PER_PAGE`].
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn recent_releases(&self, pages: usize) -> Result<Vec<Release>, GitHubError> {
        let per_page = PER_PAGE.to_string();
        let mut out: Vec<Release> = Vec::new();
        for page in 1..=pages.max(1) {
            let page_text = page.to_string();
            let url = self.repo_url(
                "releases",
                &[
                    ("per_page", per_page.as_str()),
                    ("page", page_text.as_str()),
                ],
            );
            let batch: Vec<Release> = self
                .send_json("list the releases", Method::GET, url, None)
                .await?;
            let last = batch.len() < PER_PAGE;
            out.extend(batch);
            if last {
                break;
            }
        }
        Ok(out)
    }

    /// The release of `tag`: the published one, else a draft among the
    /// newest [`DRAFT_PAGES`] pages.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn find_release(&self, tag: &str) -> Result<Option<Release>, GitHubError> {
        if let Some(found) = self.release_by_tag(tag).await? {
            return Ok(Some(found));
        }
        Ok(self
            .recent_releases(DRAFT_PAGES)
            .await?
            .into_iter()
            .find(|r| r.tag_name == tag))
    }

    /// Creates the release `request` describes. Not repeated once it may
    /// have reached GitHub: see [`GitHub::ensure_release`] for a call that
    /// can be.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`]: 422 when the tag has a release already.
    pub async fn create_release(&self, request: &ReleaseRequest) -> Result<Release, GitHubError> {
        self.send_json(
            &format!("create the release of {}", request.tag),
            Method::POST,
            self.repo_url("releases", &[]),
            Some(&request.json()),
        )
        .await
    }

    /// Makes release `id` say what `request` does (and publishes a draft).
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn update_release(
        &self,
        id: u64,
        request: &ReleaseRequest,
    ) -> Result<Release, GitHubError> {
        let mut body = request.json();
        // The tag is not moved, nor created elsewhere.
        if let Some(map) = body.as_object_mut() {
            map.remove("target_commitish");
        }
        self.send_json(
            &format!("update the release of {}", request.tag),
            Method::PATCH,
            self.repo_url(&format!("releases/{id}"), &[]),
            Some(&body),
        )
        .await
    }

    /// The release of `request`'s tag, as it asks: left alone when it says
    /// that already, updated when it says something else or is a draft,
    /// created when there is none. Never two releases of one tag: a create
    /// that may have landed (no clear answer) or that GitHub refuses with a
    /// 422 is followed by another look.
    ///
    /// # Errors
    ///
    /// The first request that fails, as [`GitHubError`] (a token without
    /// `contents: write` is a 403, [`GitHubError::is_forbidden`]).
    pub async fn ensure_release(
        &self,
        request: &ReleaseRequest,
    ) -> Result<(Release, Ensured), GitHubError> {
        if let Some(existing) = self.find_release(&request.tag).await? {
            return self.bring_up_to_date(existing, request).await;
        }
        match self.create_release(request).await {
            Ok(created) => Ok((created, Ensured::Created)),
            Err(e) if may_exist_now(&e) => match self.find_release(&request.tag).await {
                // It landed, or another run made it meanwhile.
                Ok(Some(existing)) => {
                    let (release, how) = self.bring_up_to_date(existing, request).await?;
                    let how = match (&e, how) {
                        // Our own create, its reply lost: created all the same.
                        (GitHubError::Http(err), Ensured::Unchanged) if is_unclear(err) => {
                            Ensured::Created
                        }
                        (_, how) => how,
                    };
                    Ok((release, how))
                }
                Ok(None) | Err(_) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn bring_up_to_date(
        &self,
        existing: Release,
        request: &ReleaseRequest,
    ) -> Result<(Release, Ensured), GitHubError> {
        if request.matches(&existing) {
            return Ok((existing, Ensured::Unchanged));
        }
        let updated = self.update_release(existing.id, request).await?;
        Ok((updated, Ensured::Updated))
    }
}

/// A failure after which the release may exist: GitHub's 422 (the tag has
/// one), or no clear answer to the create.
fn may_exist_now(e: &GitHubError) -> bool {
    match e {
        GitHubError::Http(err) => err.status() == Some(422) || is_unclear(err),
        _ => false,
    }
}

/// No answer, or a server error: the request may have been carried out.
fn is_unclear(e: &HttpError) -> bool {
    match e {
        HttpError::Status { status, .. } => *status >= 500,
        HttpError::Exhausted { last, .. } => is_unclear(last),
        HttpError::Transport { .. } | HttpError::Deadline { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(name: &str, body: &str, draft: bool) -> Release {
        Release {
            id: 1,
            tag_name: "v1.0.0".into(),
            name: Some(name.into()),
            body: Some(body.into()),
            draft,
            prerelease: false,
            html_url: String::new(),
            assets: Vec::new(),
        }
    }

    #[test]
    fn a_release_matches_when_it_says_what_is_asked_and_is_published() {
        let request = ReleaseRequest::new("v1.0.0").body("notes");
        assert!(request.matches(&release("v1.0.0", "notes", false)));
        assert!(!request.matches(&release("v1.0.0", "notes", true)));
        assert!(!request.matches(&release("v1.0.0", "other notes", false)));
        assert!(!request.matches(&release("1.0.0", "notes", false)));
        assert!(
            !request
                .clone()
                .prerelease(true)
                .matches(&release("v1.0.0", "notes", false))
        );
    }

    #[test]
    fn the_request_body_is_the_documented_one_within_bounds() {
        let request = ReleaseRequest::new("v2.0.0-rc.1")
            .name("2.0.0-rc.1")
            .body("é".repeat(MAX_BODY + 10))
            .prerelease(true)
            .target_commitish("abc")
            .make_latest(MakeLatest::No);
        let json = request.json();
        assert_eq!(json["tag_name"], "v2.0.0-rc.1");
        assert_eq!(json["draft"], false);
        assert_eq!(json["prerelease"], true);
        assert_eq!(json["make_latest"], "false");
        assert_eq!(json["target_commitish"], "abc");
        assert_eq!(
            json["body"].as_str().map(|b| b.chars().count()),
            Some(MAX_BODY)
        );
    }
}
