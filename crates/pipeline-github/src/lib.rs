//! A small GitHub REST client over the HTTP core ([`pipeline_http`]): typed
//! requests and replies for what the pipeline tells a pull request, sent
//! with `pipeline_http`'s retries, deadlines and error classification.
//!
//! - [`GitHub`]: the client of one repository at one REST API base URL
//!   (`https://api.github.com`, or `GITHUB_API_URL` on GitHub Enterprise
//!   Server), with a token kept in a [`Secret`].
//! - [`checks`]: a check run on a commit with a summary and any number of
//!   annotations, sent as the Checks API allows (50 per request: the run is
//!   created with the first 50, then updated with 50 more each time).
//! - [`comments`]: issue and pull-request comments, and one comment kept up
//!   to date in place: found by a hidden marker, created once, then edited.
//! - [`event`]: the pull request an Actions event payload (`GITHUB_EVENT_PATH`)
//!   is about.
//! - [`releases`]: the release of a tag, created once and kept as asked
//!   ([`GitHub::ensure_release`]): found (published or draft) and left
//!   alone or updated, never made twice.
//!
//! The crate never reads environment variables, never prints and never
//! builds a runtime: the binary passes the token, the URLs and an
//! [`Http`] with its client.
//!
//! Every failure is a [`GitHubError`], whose [`GitHubError::blame`] tells
//! the caller's mistakes (a bad token, a missing repository: exit 2) from
//! GitHub's (unreachable after retries: exit 3), and whose
//! [`GitHubError::is_forbidden`] tells a token that lacks a permission
//! (a pull request from a fork: `checks: write` is not granted).
//!
//! ```no_run
//! use pipeline_github::{GitHub, Repository};
//! use pipeline_github::checks::{AnnotationLevel, CheckAnnotation, CheckRunRequest, Conclusion};
//! use pipeline_http::{Endpoint, Http};
//! use pipeline_ci::Secret;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let api = Endpoint::parse("GITHUB_API_URL", "https://api.github.com")?;
//! let repository = Repository::parse("octo-org/app")?;
//! let github = GitHub::new(Http::new(reqwest::Client::new()), api, repository, Secret::new("ghs_…"));
//! let run = CheckRunRequest::new("tests", "ce587453ced02b1526dfb4cb910479d431683101", Conclusion::Failure)
//!     .title("1 failing test")
//!     .summary("## Report gate: failed")
//!     .annotations(vec![CheckAnnotation::new("src/a.py", 12, AnnotationLevel::Failure, "assert 4 == 5")]);
//! let published = github.publish_check_run(&run).await?;
//! println!("{}", published.html_url.unwrap_or_default());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]
// Errors carry the operation, URL and GitHub's own words.
#![allow(clippy::result_large_err)]

pub mod checks;
pub mod comments;
pub mod event;
pub mod releases;

use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_http::{
    Blame, Body, Endpoint, Http, HttpError, Method, Request, Response, StaticBearer,
};
use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;
use url::Url;

pub use pipeline_http;

/// The REST API version asked for (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";

/// Pages read at most when listing (of [`PER_PAGE`] items each).
pub const MAX_PAGES: usize = 50;

/// Items asked for per page (GitHub's maximum).
pub const PER_PAGE: usize = 100;

/// A repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    owner: String,
    name: String,
}

impl Repository {
    /// Parses `owner/name` as `GITHUB_REPOSITORY` gives it.
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadRepository`] when it is not `owner/name` of the
    /// characters GitHub allows.
    pub fn parse(text: &str) -> Result<Self, GitHubError> {
        let ok = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.trim().split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(Self {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(GitHubError::BadRepository(text.to_owned())),
        }
    }

    /// The owner.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A failed GitHub operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// The request failed: GitHub's answer (with its own message), the
    /// network, or the deadline.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Not `owner/name`.
    #[error("`{0}` is not a GitHub repository (owner/name)")]
    BadRepository(String),
    /// More pages than [`MAX_PAGES`] to read.
    #[error("{op}: more than {MAX_PAGES} pages of {PER_PAGE}; stopped reading")]
    TooManyPages {
        /// The operation.
        op: String,
    },
}

impl GitHubError {
    /// Whose fault it is: a 4xx other than 408/409/429, or a bad
    /// repository name, is the caller's (exit 2); GitHub unreachable,
    /// failing or too slow after the retries is external (exit 3).
    pub fn blame(&self) -> Blame {
        match self {
            GitHubError::Http(e) => e.blame(),
            GitHubError::BadRepository(_) => Blame::Caller,
            GitHubError::TooManyPages { .. } => Blame::External,
        }
    }

    /// The status of GitHub's final answer, if the failure was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Http(e) => e.status(),
            _ => None,
        }
    }

    /// Whether GitHub refused the token this permission (403 that is not a
    /// rate limit: "Resource not accessible by integration", as for a pull
    /// request from a fork, whose token is read-only).
    pub fn is_forbidden(&self) -> bool {
        match self {
            GitHubError::Http(HttpError::Status {
                status: 403,
                service,
                ..
            }) => !service
                .message
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .contains("rate limit"),
            _ => false,
        }
    }
}

/// The client of one repository: see the [crate documentation](crate).
#[derive(Debug)]
pub struct GitHub {
    http: Http,
    api: Endpoint,
    repository: Repository,
    token: StaticBearer,
    timeout: Duration,
}

impl GitHub {
    /// The client of `repository` at the REST API `api`, with `token` (in
    /// Actions, `GITHUB_TOKEN` with the permissions the calls need).
    pub fn new(http: Http, api: Endpoint, repository: Repository, token: Secret) -> Self {
        Self {
            http,
            api,
            repository,
            token: StaticBearer(token),
            timeout: Duration::from_secs(120),
        }
    }

    /// How long one request may take, its retries and waits included (two
    /// minutes by default).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The URL of `/repos/{owner}/{name}/{path}` with `query`.
    pub fn repo_url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        self.api.at(
            &format!(
                "repos/{}/{}/{}",
                self.repository.owner,
                self.repository.name,
                path.trim_start_matches('/')
            ),
            query,
        )
    }

    /// Sends one request with GitHub's headers and the token, retried as the
    /// HTTP core retries (a POST only where GitHub said it did nothing).
    ///
    /// # Errors
    ///
    /// [`GitHubError::Http`] with GitHub's status and message.
    pub async fn send(
        &self,
        op: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, GitHubError> {
        let mut req = Request::new(op, method, url)
            .auth(&self.token)
            .header(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            )
            .header(
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static(API_VERSION),
            );
        if let Some(body) = body {
            req = req.body(Body::json(body));
        }
        Ok(self.http.send(&req, Instant::now() + self.timeout).await?)
    }

    /// [`GitHub::send`], the reply read as `T`.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`]; a reply of another shape is
    /// [`HttpError::Decode`].
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T, GitHubError> {
        let reply = self.send(op, method, url, body).await?;
        Ok(reply.json(op)?)
    }

    /// Every item of a list, following the `Link: <…>; rel="next"` pages
    /// GitHub gives (at most [`MAX_PAGES`]).
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`]; [`GitHubError::TooManyPages`] past the bound.
    pub async fn list<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        first: Url,
    ) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(GitHubError::TooManyPages { op: op.to_owned() });
            }
            let reply = self.send(op, Method::GET, url, None).await?;
            let page: Vec<T> = reply.json(op)?;
            items.extend(page);
            next = reply
                .header("link")
                .and_then(next_link)
                .and_then(|link| Url::parse(&link).ok());
        }
        Ok(items)
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let rel_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        rel_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// `text` cut to at most `max` characters, at a character, with `…` when cut.
pub(crate) fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// `text` cut to at most `max` bytes, at a character, with `…` when cut.
pub(crate) fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The environment variables holding the token a binary hands this client
/// (`GITHUB_TOKEN`): it masks and redacts them.
pub const SECRET_VARS: &[&str] = &["GITHUB_TOKEN"];

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        let r = Repository::parse("octo-org/pipeline.app").unwrap();
        assert_eq!((r.owner(), r.name()), ("octo-org", "pipeline.app"));
        assert_eq!(r.to_string(), "octo-org/pipeline.app");
        for bad in ["", "a", "a/", "/b", "a/b/c", "a/..", "a b/c", "a/b?x"] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_next_link_is_found() {
        let h = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(
            next_link(r#"<https://api.github.com/x?page=1>; rel="prev""#),
            None
        );
    }

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(cut_chars("héllo", 10), "héllo");
        assert_eq!(cut_chars("héllo", 3), "hé…");
        assert_eq!(cut_chars("héllo", 3).chars().count(), 3);
        assert_eq!(cut_bytes("ééé", 5), "é…");
        assert!(cut_bytes(&"x".repeat(100), 10).len() <= 10);
    }
}
