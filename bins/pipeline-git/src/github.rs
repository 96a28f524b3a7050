//! `--github-release`: the settings from the flags and the environment,
//! checked before anything is read or pushed, and the call to
//! `pipeline-github`'s [`GitHub::ensure_release`] once the tag is on the
//! remote.

use std::sync::Arc;
use std::time::Duration;

use pipeline_ci::{Env, Secret};
use pipeline_cli::http::StderrProgress;
use pipeline_gitflow::ReleasePlan;
use pipeline_github::releases::{Ensured, Release, ReleaseRequest};
use pipeline_github::{GitHub, GitHubError, Repository};
use pipeline_http::{Blame, Endpoint};

use crate::cli::TagArgs;
use crate::{Exit, Failure};

/// Where the GitHub Release is made, and with which token.
#[derive(Debug)]
pub(crate) struct GitHubRelease {
    api: Endpoint,
    repository: Repository,
    token: Secret,
}

/// What became of the GitHub Release.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) release: Release,
    pub(crate) how: Ensured,
}

/// The settings for `--github-release`, or `None` without it. Errors (exit
/// 2) name the flag or variable that is missing or wrong.
pub(crate) fn settings(args: &TagArgs, env: &Env) -> Result<Option<GitHubRelease>, Failure> {
    if !args.github_release {
        if args.github_repository.is_some() {
            return Err(Failure::usage(
                "--github-repository names where --github-release makes the release; give --github-release too",
            ));
        }
        return Ok(None);
    }
    let (repository, from) = match &args.github_repository {
        Some(r) => (r.as_str(), "--github-repository"),
        None => (
            env.get("GITHUB_REPOSITORY")
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| {
                    Failure::usage(
                        "--github-release needs the repository: --github-repository OWNER/NAME, or GITHUB_REPOSITORY",
                    )
                })?,
            "GITHUB_REPOSITORY",
        ),
    };
    let repository =
        Repository::parse(repository).map_err(|e| Failure::usage(format!("{from}: {e}")))?;
    let token = env
        .get_secret("GITHUB_TOKEN")
        .filter(|t| !t.expose().trim().is_empty())
        .ok_or_else(|| {
            Failure::usage(
                "--github-release needs a token in GITHUB_TOKEN (in a workflow: `GITHUB_TOKEN: ${{ github.token }}` with `permissions: contents: write`)",
            )
        })?;
    let api_url = env
        .get("GITHUB_API_URL")
        .filter(|u| !u.trim().is_empty())
        .unwrap_or("https://api.github.com");
    let api = Endpoint::parse("GITHUB_API_URL", api_url)
        .map_err(|e| Failure::usage(pipeline_cli::error_chain(&e)))?;
    Ok(Some(GitHubRelease {
        api,
        repository,
        token,
    }))
}

impl GitHubRelease {
    /// `owner/name`.
    pub(crate) fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The release of `plan`'s tag, made to carry its notes: created, or
    /// found and left alone or brought up to date.
    pub(crate) fn publish(&self, plan: &ReleasePlan) -> Result<Published, Failure> {
        let progress = Arc::new(StderrProgress::new().with_secrets(vec![self.token.clone()]));
        let http = pipeline_cli::http::http("pipeline-git", Arc::clone(&progress))
            .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))?;
        let github = GitHub::new(
            http,
            self.api.clone(),
            self.repository.clone(),
            self.token.clone(),
        )
        .with_timeout(Duration::from_secs(120));
        let runtime = pipeline_cli::http::runtime()
            .ok_or_else(|| Failure::new(Exit::External, "cannot start the runtime"))?;
        let request = ReleaseRequest::new(plan.tag())
            .body(plan.notes().unwrap_or_default().trim_end())
            .prerelease(!plan.version().pre.is_empty());
        let result = runtime.block_on(github.ensure_release(&request));
        progress.finish();
        result
            .map(|(release, how)| Published { release, how })
            .map_err(|e| self.failure(plan.tag(), &e))
    }

    fn failure(&self, tag: &str, e: &GitHubError) -> Failure {
        let exit = match e.blame() {
            Blame::Caller => Exit::Usage,
            Blame::External => Exit::External,
        };
        let hint = if e.is_forbidden() {
            "; the token may not write releases: give the job `permissions: contents: write`"
        } else if e.status() == Some(404) {
            "; the token cannot see the repository, or (GitHub's rule) a GITHUB_TOKEN may not publish a release whose commit changes .github/workflows"
        } else if e.status() == Some(401) {
            "; GITHUB_TOKEN was refused"
        } else {
            ""
        };
        Failure::new(
            exit,
            format!(
                "the tag {tag} is pushed, but its GitHub Release in {} is not made: {}{hint} (a re-run finishes it)",
                self.repository,
                pipeline_cli::error_chain(e)
            ),
        )
    }
}
