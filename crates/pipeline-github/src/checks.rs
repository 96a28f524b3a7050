//! Check runs (`POST /repos/{owner}/{repo}/check-runs`, `PATCH
//! …/check-runs/{id}`): a completed run on a commit, its summary in
//! Markdown, and every annotation.
//!
//! The Checks API takes at most [`ANNOTATIONS_PER_REQUEST`] annotations per
//! request and appends those of each update to the run's; so a run is
//! created with the first 50 and updated with 50 more until all are sent
//! ([`GitHub::publish_check_run`]). Each update repeats the output's title
//! and summary, which the API requires with any output.
//!
//! Bounds from the API documentation, applied here rather than refused
//! there: the summary and the text at most [`MAX_SUMMARY`] characters, an
//! annotation's message and raw details at most 64 KB, its title at most
//! 255 characters.

use pipeline_http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{GitHub, GitHubError, cut_bytes, cut_chars};

/// Annotations per request, the API's limit.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// The longest summary (and text) a check run takes, in characters.
pub const MAX_SUMMARY: usize = 65_535;

/// The longest annotation message or raw details, in bytes.
pub const MAX_ANNOTATION_MESSAGE: usize = 64 * 1024;

/// The longest annotation title, in characters.
pub const MAX_ANNOTATION_TITLE: usize = 255;

/// How a check run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Conclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Neither (informational).
    Neutral,
    /// Cancelled.
    Cancelled,
    /// Skipped.
    Skipped,
    /// Timed out.
    TimedOut,
    /// Needs someone's action.
    ActionRequired,
}

/// An annotation's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    /// A notice.
    Notice,
    /// A warning.
    Warning,
    /// A failure.
    Failure,
}

/// An annotation on lines of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnnotation {
    /// The file, relative to the repository's root, with `/`.
    pub path: String,
    /// The first line (1-based).
    pub start_line: u32,
    /// The last line.
    pub end_line: u32,
    /// The level.
    pub annotation_level: AnnotationLevel,
    /// What is wrong.
    pub message: String,
    /// A title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Details shown folded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

impl CheckAnnotation {
    /// An annotation on one line (`0` is taken as line 1: the file).
    pub fn new(
        path: impl Into<String>,
        line: u32,
        level: AnnotationLevel,
        message: impl Into<String>,
    ) -> Self {
        let line = line.max(1);
        Self {
            path: path.into(),
            start_line: line,
            end_line: line,
            annotation_level: level,
            message: message.into(),
            title: None,
            raw_details: None,
        }
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Within the API's bounds: a message and details of at most 64 KB, a
    /// title of at most 255 characters, an empty message made a space (the
    /// API requires one).
    fn bounded(&self) -> Self {
        let mut a = self.clone();
        a.message = cut_bytes(&a.message, MAX_ANNOTATION_MESSAGE);
        if a.message.trim().is_empty() {
            a.message = a.title.clone().unwrap_or_else(|| " ".to_owned());
        }
        a.title = a.title.map(|t| cut_chars(&t, MAX_ANNOTATION_TITLE));
        a.raw_details = a.raw_details.map(|d| cut_bytes(&d, MAX_ANNOTATION_MESSAGE));
        a.end_line = a.end_line.max(a.start_line);
        a
    }
}

/// A completed check run to publish: see [`GitHub::publish_check_run`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRunRequest {
    name: String,
    head_sha: String,
    conclusion: Conclusion,
    title: String,
    summary: String,
    text: Option<String>,
    details_url: Option<String>,
    external_id: Option<String>,
    annotations: Vec<CheckAnnotation>,
}

impl CheckRunRequest {
    /// A run named `name` on commit `head_sha` that ended with `conclusion`.
    pub fn new(
        name: impl Into<String>,
        head_sha: impl Into<String>,
        conclusion: Conclusion,
    ) -> Self {
        let name = name.into();
        Self {
            title: name.clone(),
            name,
            head_sha: head_sha.into(),
            conclusion,
            summary: String::new(),
            text: None,
            details_url: None,
            external_id: None,
            annotations: Vec::new(),
        }
    }

    /// The output's title (the run's name by default).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The output's summary, Markdown.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// The output's text, Markdown, shown below the summary.
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// A page with the run's full details (the CI run's log).
    #[must_use]
    pub fn details_url(mut self, url: impl Into<String>) -> Self {
        self.details_url = Some(url.into());
        self
    }

    /// A reference on the caller's side.
    #[must_use]
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// Every annotation (sent in batches of 50).
    #[must_use]
    pub fn annotations(mut self, annotations: Vec<CheckAnnotation>) -> Self {
        self.annotations = annotations;
        self
    }

    fn output(&self, batch: &[CheckAnnotation]) -> serde_json::Value {
        let mut output = json!({
            "title": cut_chars(&self.title, MAX_ANNOTATION_TITLE),
            "summary": cut_chars(&self.summary, MAX_SUMMARY),
            "annotations": batch.iter().map(CheckAnnotation::bounded).collect::<Vec<_>>(),
        });
        if let Some(text) = &self.text {
            output["text"] = json!(cut_chars(text, MAX_SUMMARY));
        }
        output
    }
}

/// A check run as GitHub returns it (the fields read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    /// Its id.
    pub id: u64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The commit.
    #[serde(default)]
    pub head_sha: String,
    /// `queued`, `in_progress`, `completed`, …
    #[serde(default)]
    pub status: String,
    /// How it ended, once completed.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// What [`GitHub::publish_check_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCheckRun {
    /// The run's id.
    pub id: u64,
    /// Its page on GitHub.
    pub html_url: Option<String>,
    /// Annotations sent.
    pub annotations: usize,
    /// Requests made: one create and one update per further batch.
    pub requests: usize,
}

impl GitHub {
    /// Creates a completed check run with the first 50 annotations, then
    /// sends the rest 50 at a time as updates of it.
    ///
    /// # Errors
    ///
    /// The first request that fails, as [`GitHubError`]: a token without
    /// `checks: write` is a 403 ([`GitHubError::is_forbidden`]). When an
    /// update fails the run exists with the annotations sent so far.
    pub async fn publish_check_run(
        &self,
        run: &CheckRunRequest,
    ) -> Result<PublishedCheckRun, GitHubError> {
        let mut batches = run.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let first = batches.next().unwrap_or_default();
        let mut body = json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "status": "completed",
            "conclusion": run.conclusion,
            "output": run.output(first),
        });
        if let Some(url) = &run.details_url {
            body["details_url"] = json!(url);
        }
        if let Some(id) = &run.external_id {
            body["external_id"] = json!(id);
        }
        let created: CheckRun = self
            .send_json(
                &format!("create check run {}", run.name),
                Method::POST,
                self.repo_url("check-runs", &[]),
                Some(&body),
            )
            .await?;
        let mut published = PublishedCheckRun {
            id: created.id,
            html_url: created.html_url,
            annotations: first.len(),
            requests: 1,
        };
        for batch in batches {
            let body = json!({ "output": run.output(batch) });
            // An update appends its annotations: sent twice, they would show
            // twice. The HTTP core does not repeat a PATCH once it may have
            // reached GitHub (only where GitHub said it did nothing).
            let url = self.repo_url(&format!("check-runs/{}", created.id), &[]);
            let op = format!(
                "add annotations {}-{} to check run {}",
                published.annotations + 1,
                published.annotations + batch.len(),
                run.name
            );
            let _: CheckRun = self.send_json(&op, Method::PATCH, url, Some(&body)).await?;
            published.annotations += batch.len();
            published.requests += 1;
        }
        Ok(published)
    }
}
