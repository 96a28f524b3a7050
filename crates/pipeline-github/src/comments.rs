//! Issue and pull-request comments (`GET`/`POST
//! /repos/{owner}/{repo}/issues/{number}/comments`, `PATCH
//! …/issues/comments/{id}`), and one comment kept up to date in place.
//!
//! [`GitHub::upsert_comment`] finds the comment that carries a hidden
//! marker (an HTML comment, which GitHub does not show), edits it when
//! there is one and creates it otherwise, so that every run of a pull
//! request's workflow updates the same comment instead of adding another.
//! A body is at most [`MAX_BODY`] characters.

use pipeline_http::Method;
use serde::Deserialize;
use serde_json::json;

use crate::{GitHub, GitHubError, PER_PAGE, cut_chars};

/// The longest comment body GitHub takes, in characters.
pub const MAX_BODY: usize = 65_536;

/// A comment as GitHub returns it (the fields read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    /// Its id.
    pub id: u64,
    /// Its text (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// Whether [`GitHub::upsert_comment`] created or edited the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new comment.
    Created,
    /// The comment that carried the marker, edited.
    Updated,
}

/// The hidden marker of comments tagged `tag`: an HTML comment.
pub fn marker(tag: &str) -> String {
    let mut clean = String::with_capacity(tag.len());
    for c in tag.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/');
        // `--` may not appear inside an HTML comment.
        if keep && !(c == '-' && clean.ends_with('-')) {
            clean.push(c);
        }
    }
    format!("<!-- pipeline-report:{clean} -->")
}

impl GitHub {
    /// Every comment of issue or pull request `number`, oldest first.
    ///
    /// # Errors
    ///
    /// As [`GitHub::list`].
    pub async fn issue_comments(&self, number: u64) -> Result<Vec<IssueComment>, GitHubError> {
        let per_page = PER_PAGE.to_string();
        let url = self.repo_url(
            &format!("issues/{number}/comments"),
            &[("per_page", per_page.as_str())],
        );
        self.list(&format!("list the comments of #{number}"), url)
            .await
    }

    /// Adds a comment to issue or pull request `number`.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn create_issue_comment(
        &self,
        number: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError> {
        let url = self.repo_url(&format!("issues/{number}/comments"), &[]);
        let body = json!({ "body": cut_chars(body, MAX_BODY) });
        self.send_json(
            &format!("comment on #{number}"),
            Method::POST,
            url,
            Some(&body),
        )
        .await
    }

    /// Replaces the text of comment `id`.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn update_issue_comment(
        &self,
        id: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError> {
        let url = self.repo_url(&format!("issues/comments/{id}"), &[]);
        let body = json!({ "body": cut_chars(body, MAX_BODY) });
        self.send_json(
            &format!("update comment {id}"),
            Method::PATCH,
            url,
            Some(&body),
        )
        .await
    }

    /// The one comment of `number` that carries `marker`: edited to `body`
    /// when it exists (the newest, if several do), created otherwise. The
    /// marker is put at the start of `body` unless it is there already.
    ///
    /// # Errors
    ///
    /// As [`GitHub::send`].
    pub async fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(IssueComment, Upsert), GitHubError> {
        let body = if body.contains(marker) {
            body.to_owned()
        } else {
            format!("{marker}\n{body}")
        };
        let existing = self
            .issue_comments(number)
            .await?
            .into_iter()
            .rev()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        match existing {
            Some(comment) => Ok((
                self.update_issue_comment(comment.id, &body).await?,
                Upsert::Updated,
            )),
            None => Ok((
                self.create_issue_comment(number, &body).await?,
                Upsert::Created,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_html_comments_of_safe_characters() {
        assert_eq!(marker("gate"), "<!-- pipeline-report:gate -->");
        assert_eq!(marker("a --> b"), "<!-- pipeline-report:a-b -->");
    }
}
