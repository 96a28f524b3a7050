//! [`GitHubStore`]: the state of the environments in GitHub's Deployments
//! API, so that every promotion shows in the repository's environments
//! view, and locks in refs made through the Git database API. Nothing of it
//! needs a clone: only the REST API and a token.
//!
//! **Records** are deployments of the environment with the task
//! `deploy:pipeline`, the release's tag as `ref` (`v1.2.0`), the
//! [`Record`] and the revision it follows in `payload.pipeline`, and one
//! final status: `success` for a release that went live (GitHub then marks
//! the environment's earlier successful deployments `inactive`, except in an
//! environment it counts as production), `failure` for one that was rolled
//! back or never went live. A revision is a deployment's id.
//!
//! **Appends are compare-and-swap** although the API has no such request:
//! the deployment is created first, without a status (so no reader counts
//! it), then the environment's deployments are listed again. Of all the
//! deployments that follow the same revision, the one GitHub numbered first
//! wins: it gets its final status; any other is marked `error` (discarded,
//! never a record) and its writer gets [`StoreError::Conflict`]. Readers
//! skip deployments with no final status and those with an `error` status
//! anywhere in their history. A deployment left without a status by a
//! writer that died is taken as abandoned after [`ABANDONED_AFTER`]
//! seconds, and discarded by the next writer. Once its status is set, a
//! writer looks again: if it was discarded meanwhile (it stalled and was
//! taken for abandoned), or a rival numbered before it shows up late in
//! GitHub's lists, it yields (discarding itself) and reports a conflict.
//!
//! **History** follows the `previous` links from the newest record, as git
//! follows parents, reading older pages as it needs them.
//!
//! Every request has [`GitHubStore::with_timeout`] (two minutes by default)
//! for its retries and waits: a rate limit that resets later than that
//! fails the operation (exit 3) rather than holding the promotion.
//!
//! **Locks** are the ref `refs/pipeline/deploy-locks/<env>`, a chain of
//! commits whose messages say `held` or `released` (with the owner, the
//! purpose and the time, as JSON), made with `POST /git/trees` and
//! `POST /git/commits` and moved only by fast-forward
//! (`PATCH /git/refs/…` with `force: false`) to a child of the commit the
//! writer read: of two writers from one commit, one fast-forwards and the
//! other is refused, which makes taking, taking over and releasing a lock
//! compare-and-swap.

use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_http::{Body, Endpoint, Http, HttpError, Method, Request, Response, StaticBearer};
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{LockGuard, LockInfo, Revision, StoreError, Stored};
use crate::record::{Outcome, Record};
use pipeline_config::valid_env_name;

/// The deployments' task.
pub const TASK: &str = "deploy:pipeline";
/// Where the locks are.
const LOCKS: &str = "refs/pipeline/deploy-locks/";
/// The REST API version asked for.
const API_VERSION: &str = "2022-11-28";
/// Seconds after which a deployment still without a status is abandoned.
pub const ABANDONED_AFTER: u64 = 120;
/// Deployments asked for per page (GitHub's maximum).
const PER_PAGE: usize = 100;
/// Pages read at most when looking for records.
const MAX_PAGES: usize = 20;
/// GitHub's limit on a status description.
const MAX_DESCRIPTION: usize = 140;
/// How often a lock is tried when it keeps moving under us.
const LOCK_ATTEMPTS: usize = 4;

/// Where the GitHub store is and how it talks: see the [module
/// documentation](self).
#[derive(Debug)]
pub struct GitHubStore {
    http: Http,
    api: Endpoint,
    repository: String,
    token: StaticBearer,
    tag_prefix: String,
    log_url: Option<String>,
    timeout: Duration,
    /// Deployments seen discarded (an `error` status is for good): read
    /// once per process, however many walks pass them.
    discarded: std::sync::Mutex<std::collections::BTreeSet<u64>>,
}

/// A repository name that is not `owner/name`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a GitHub repository (owner/name)")]
pub struct BadRepository(String);

impl GitHubStore {
    /// The store of `repository` (`owner/name`) at the REST API `api`
    /// (`https://api.github.com`, or `GITHUB_API_URL` on GitHub Enterprise
    /// Server), with a token that may write deployments, statuses and refs
    /// (`GITHUB_TOKEN` with `deployments: write` and `contents: write`).
    ///
    /// # Errors
    ///
    /// [`BadRepository`] when `repository` is not `owner/name`.
    pub fn new(
        http: Http,
        api: Endpoint,
        repository: &str,
        token: Secret,
    ) -> Result<Self, BadRepository> {
        let ok = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && part != "."
                && part != ".."
        };
        match repository.split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => {}
            _ => return Err(BadRepository(repository.to_owned())),
        }
        Ok(Self {
            http,
            api,
            repository: repository.to_owned(),
            token: StaticBearer(token),
            tag_prefix: "v".to_owned(),
            log_url: None,
            timeout: Duration::from_secs(120),
            discarded: std::sync::Mutex::default(),
        })
    }

    /// The prefix that makes a version its release tag, the deployments'
    /// `ref` (`v`).
    #[must_use]
    pub fn with_tag_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tag_prefix = prefix.into();
        self
    }

    /// The page the statuses link to (the CI run's log).
    #[must_use]
    pub fn with_log_url(mut self, url: Option<String>) -> Self {
        self.log_url = url;
        self
    }

    /// How long one operation may take, retries included.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `owner/name`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn check_env(env: &str) -> Result<(), StoreError> {
        if valid_env_name(env) {
            Ok(())
        } else {
            Err(StoreError::InvalidEnvironment {
                env: env.to_owned(),
            })
        }
    }

    /// One request to `/repos/{repository}/{path}`.
    async fn call(
        &self,
        env: &str,
        op: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Response, StoreError> {
        self.call_as(env, op, method, path, query, body, None).await
    }

    /// [`GitHubStore::call`], saying whether the request may be sent again
    /// after a failure that may have reached GitHub (`None`: by its method).
    #[allow(clippy::too_many_arguments)]
    async fn call_as(
        &self,
        env: &str,
        op: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotent: Option<bool>,
    ) -> Result<Response, StoreError> {
        let url = self
            .api
            .at(&format!("repos/{}/{path}", self.repository), query);
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
        if let Some(yes) = idempotent {
            req = req.idempotent(yes);
        }
        self.http
            .send(&req, Instant::now() + self.timeout)
            .await
            .map_err(api_error(env))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        env: &str,
        op: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, StoreError> {
        let reply = self.call(env, op, method, path, query, body).await?;
        reply.json(op).map_err(api_error(env))
    }

    /// [`GitHubStore::json`] for a request that makes a new object each
    /// time (a tree, a commit): sending it again does no harm.
    async fn json_idempotent<T: serde::de::DeserializeOwned>(
        &self,
        env: &str,
        op: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, StoreError> {
        let reply = self
            .call_as(env, op, method, path, query, body, Some(true))
            .await?;
        reply.json(op).map_err(api_error(env))
    }

    /// One page of the environment's record deployments, newest first.
    async fn deployments_page(
        &self,
        env: &str,
        page: usize,
    ) -> Result<Vec<Deployment>, StoreError> {
        let per_page = PER_PAGE.to_string();
        let page = page.to_string();
        let mut list: Vec<Deployment> = self
            .json(
                env,
                &format!("list the deployments of {env}"),
                Method::GET,
                "deployments",
                &[
                    ("environment", env),
                    ("task", TASK),
                    ("per_page", &per_page),
                    ("page", &page),
                ],
                None,
            )
            .await?;
        list.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(list)
    }

    /// The first page of the environment's deployments with a pipeline
    /// payload; [`GitHubStore::more`] reads the next.
    async fn listing(&self, env: &str) -> Result<Listing, StoreError> {
        let mut l = Listing::default();
        self.more(env, &mut l).await?;
        Ok(l)
    }

    /// Reads the next page into `l`; false when there is none (or the
    /// reading limit is reached).
    async fn more(&self, env: &str, l: &mut Listing) -> Result<bool, StoreError> {
        if l.done || l.pages >= MAX_PAGES {
            l.done = true;
            return Ok(false);
        }
        l.pages += 1;
        let batch = self.deployments_page(env, l.pages).await?;
        if batch.len() < PER_PAGE {
            l.done = true;
        }
        l.all
            .extend(batch.into_iter().filter(|d| d.pipeline().is_some()));
        l.all.sort_by_key(|d| std::cmp::Reverse(d.id));
        l.all.dedup_by_key(|d| d.id);
        Ok(true)
    }

    /// What the statuses of deployment `id` make of it, a discarded one
    /// remembered (for reads: a writer's checks ask [`Self::standing_now`]).
    async fn standing(&self, env: &str, id: u64) -> Result<Standing, StoreError> {
        if self.is_discarded(id) {
            return Ok(Standing::Discarded);
        }
        self.standing_now(env, id).await
    }

    fn is_discarded(&self, id: u64) -> bool {
        self.discarded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&id)
    }

    /// What the statuses of deployment `id` make of it now.
    async fn standing_now(&self, env: &str, id: u64) -> Result<Standing, StoreError> {
        let mut statuses: Vec<Status> = self
            .json(
                env,
                &format!("read the statuses of deployment {id}"),
                Method::GET,
                &format!("deployments/{id}/statuses"),
                &[("per_page", "100")],
                None,
            )
            .await?;
        statuses.sort_by_key(|s| std::cmp::Reverse(s.id));
        let standing = standing_of(&statuses);
        if standing == Standing::Discarded {
            self.discarded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id);
        }
        Ok(standing)
    }

    /// The newest record and the deployments listed to find it.
    async fn newest(&self, env: &str) -> Result<(Option<Stored>, Listing), StoreError> {
        let mut l = self.listing(env).await?;
        let mut checked = std::collections::BTreeSet::new();
        loop {
            let unchecked: Vec<Deployment> = l
                .all
                .iter()
                .filter(|d| !checked.contains(&d.id))
                .cloned()
                .collect();
            for d in &unchecked {
                checked.insert(d.id);
                if self.standing(env, d.id).await? == Standing::Record {
                    let stored = self.stored(env, d)?;
                    return Ok((Some(stored), l));
                }
            }
            if !self.more(env, &mut l).await? {
                return Ok((None, l));
            }
        }
    }

    fn stored(&self, env: &str, d: &Deployment) -> Result<Stored, StoreError> {
        Ok(Stored {
            record: self.record_of(env, d)?,
            revision: Revision::new(d.id.to_string()),
        })
    }

    fn record_of(&self, env: &str, d: &Deployment) -> Result<Record, StoreError> {
        let reference = self.deployment_ref(d.id);
        let payload = d.pipeline().ok_or_else(|| StoreError::Corrupt {
            reference: reference.clone(),
            reason: "its payload has no `pipeline` record".to_owned(),
        })?;
        let record: Record =
            serde_json::from_value(payload.record.clone()).map_err(|e| StoreError::Corrupt {
                reference: reference.clone(),
                reason: format!("payload.pipeline.record: {e}"),
            })?;
        if record.env != env {
            return Err(StoreError::Corrupt {
                reference,
                reason: format!("it holds a record of {}, not {env}", record.env),
            });
        }
        Ok(record)
    }

    fn deployment_ref(&self, id: u64) -> String {
        format!("{}/repos/{}/deployments/{id}", self.api, self.repository)
            .replace("//repos", "/repos")
    }

    async fn post_status(
        &self,
        env: &str,
        id: u64,
        state: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let mut body = json!({
            "state": state,
            "description": truncate(description, MAX_DESCRIPTION),
            "auto_inactive": state == "success",
        });
        if let Some(url) = &self.log_url {
            body["log_url"] = json!(url);
        }
        // Posting the same status twice changes nothing that matters: it
        // is retried like a read when its reply is lost.
        self.call_as(
            env,
            &format!("set deployment {id} of {env} to {state}"),
            Method::POST,
            &format!("deployments/{id}/statuses"),
            &[],
            Some(&body),
            Some(true),
        )
        .await?;
        Ok(())
    }

    /// Records made by following `previous` from `from`, newest first.
    fn chain(
        &self,
        env: &str,
        from: &Deployment,
        list: &[Deployment],
        limit: usize,
    ) -> Result<(Vec<Record>, Option<u64>), StoreError> {
        let mut out = Vec::new();
        let mut at = Some(from.id);
        while let Some(id) = at {
            if out.len() >= limit {
                return Ok((out, None));
            }
            let Some(d) = list.iter().find(|d| d.id == id) else {
                return Ok((out, Some(id)));
            };
            out.push(self.record_of(env, d)?);
            at = d.pipeline().and_then(|p| p.previous_id());
        }
        Ok((out, None))
    }

    /// `{PREFIX}<env>` without `refs/`, as the ref endpoints take it.
    fn lock_ref(env: &str) -> String {
        format!("{LOCKS}{env}")
    }

    /// The lock ref's commit, or `None` when there is no ref.
    async fn lock_tip(&self, env: &str) -> Result<Option<String>, StoreError> {
        let reference = Self::lock_ref(env);
        let path = format!("git/ref/{}", reference.trim_start_matches("refs/"));
        match self
            .call(
                env,
                &format!("read {reference}"),
                Method::GET,
                &path,
                &[],
                None,
            )
            .await
        {
            Ok(reply) => {
                let r: GitRef = reply.json("read the lock ref").map_err(api_error(env))?;
                Ok(Some(r.object.sha))
            }
            Err(StoreError::Api { source, .. }) if source.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What the lock commit `sha` says.
    async fn lock_commit(&self, env: &str, sha: &str) -> Result<LockMessage, StoreError> {
        let commit: GitCommit = self
            .json(
                env,
                &format!("read lock commit {sha}"),
                Method::GET,
                &format!("git/commits/{sha}"),
                &[],
                None,
            )
            .await?;
        LockMessage::parse(&commit.message).ok_or_else(|| StoreError::Corrupt {
            reference: Self::lock_ref(env),
            reason: format!("commit {sha} does not say who holds the lock"),
        })
    }

    /// Writes a lock commit (child of `parent`) saying `message`.
    async fn lock_write(
        &self,
        env: &str,
        message: &LockMessage,
        parent: Option<&str>,
    ) -> Result<String, StoreError> {
        let text = message.render(env);
        let tree: GitObject = self
            .json_idempotent(
                env,
                &format!("write the tree of {env}'s lock"),
                Method::POST,
                "git/trees",
                &[],
                Some(&json!({"tree": [{
                    "path": "lock.json",
                    "mode": "100644",
                    "type": "blob",
                    "content": message.json(),
                }]})),
            )
            .await?;
        let parents: Vec<&str> = parent.into_iter().collect();
        let commit: GitObject = self
            .json_idempotent(
                env,
                &format!("write the commit of {env}'s lock"),
                Method::POST,
                "git/commits",
                &[],
                Some(&json!({"message": text, "tree": tree.sha, "parents": parents})),
            )
            .await?;
        Ok(commit.sha)
    }

    /// Moves the lock ref from `from` (absent: creates it) to `to`; false
    /// when it moved meanwhile (or appeared, or went).
    async fn lock_move(&self, env: &str, from: Option<&str>, to: &str) -> Result<bool, StoreError> {
        let reference = Self::lock_ref(env);
        let result = match from {
            None => {
                self.call(
                    env,
                    &format!("create {reference}"),
                    Method::POST,
                    "git/refs",
                    &[],
                    Some(&json!({"ref": reference, "sha": to})),
                )
                .await
            }
            // Moving a ref to where it is already is a fast-forward of
            // nothing: sent again after a lost reply, it changes nothing.
            Some(_) => {
                self.call_as(
                    env,
                    &format!("move {reference}"),
                    Method::PATCH,
                    &format!("git/refs/{}", reference.trim_start_matches("refs/")),
                    &[],
                    Some(&json!({"sha": to, "force": false})),
                    Some(true),
                )
                .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::Api { source, .. }) if lost_race(&source) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Takes the lock, over a stale one, one whose run recorded its end,
    /// or the one `released` names.
    async fn lock_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
        released: Option<&str>,
    ) -> Result<LockGuard, StoreError> {
        Self::check_env(env)?;
        let reference = Self::lock_ref(env);
        let mine = LockMessage {
            state: LockState::Held,
            by: owner.to_owned(),
            what: what.to_owned(),
            since: now,
            id: format!("{:016x}", fastrand::u64(..)),
        };
        let guard = |commit: String, mine: LockMessage| {
            LockGuard::new(
                env,
                Revision::new(commit),
                LockInfo {
                    by: mine.by,
                    what: mine.what,
                    since: mine.since,
                    id: mine.id,
                },
            )
        };
        for _ in 0..LOCK_ATTEMPTS {
            let tip = self.lock_tip(env).await?;
            if let Some(sha) = &tip {
                let held = self.lock_commit(env, sha).await?;
                if held.state == LockState::Held {
                    if released.is_some_and(|id| id == held.id && !id.is_empty()) {
                        tracing::info!(
                            env,
                            by = held.by,
                            "the lock was left by a run of this checkout that ended: taking it over"
                        );
                    } else if self.finished(env, &held.id).await? {
                        tracing::info!(
                            env,
                            by = held.by,
                            what = held.what,
                            "the lock's run recorded its end: taking the lock as released"
                        );
                    } else if now.saturating_sub(held.since) <= stale_after {
                        return Err(StoreError::Locked {
                            env: env.to_owned(),
                            reference,
                            by: held.by,
                            what: held.what,
                            since: held.since,
                            id: held.id,
                        });
                    } else {
                        tracing::warn!(
                            env,
                            by = held.by,
                            what = held.what,
                            "taking over a stale lock held since {}",
                            held.since
                        );
                    }
                }
            }
            let commit = self.lock_write(env, &mine, tip.as_deref()).await?;
            if self.lock_move(env, tip.as_deref(), &commit).await? {
                return Ok(guard(commit, mine));
            }
            // Refused: someone else moved it, or this very request landed
            // and its reply was lost (then the ref is at our commit).
            if self.lock_tip(env).await?.as_deref() == Some(commit.as_str()) {
                return Ok(guard(commit, mine));
            }
        }
        Err(StoreError::Corrupt {
            reference,
            reason: format!("it kept moving over {LOCK_ATTEMPTS} attempts to take it"),
        })
    }

    /// Whether the run that took the lock `id` has written its final
    /// record: its lock is as good as released.
    async fn finished(&self, env: &str, id: &str) -> Result<bool, StoreError> {
        if id.is_empty() {
            return Ok(false);
        }
        let (newest, _) = self.newest(env).await?;
        Ok(newest
            .is_some_and(|n| n.record.lock.as_deref() == Some(id) && !n.record.outcome.is_intent()))
    }

    async fn discard(&self, env: &str, mine: u64, winner: u64) -> Result<(), StoreError> {
        self.post_status(
            env,
            mine,
            "error",
            &format!("discarded: deployment {winner} was first"),
        )
        .await
    }

    /// The first deployment, numbered before `mine`, that follows the same
    /// revision and is a record or may still become one; one left without
    /// a status for [`ABANDONED_AFTER`] seconds before `now` (by GitHub's
    /// clock) is discarded as abandoned instead.
    ///
    /// A writer that holds the environment's lock (`locked`) knows every
    /// deployment still without a status was left by a writer that lost
    /// it or died: those are discarded at once.
    async fn first_rival(
        &self,
        env: &str,
        mine: u64,
        expected_id: Option<u64>,
        now: u64,
        locked: bool,
    ) -> Result<Option<u64>, StoreError> {
        let mut l = self.listing(env).await?;
        // Every deployment after `expected` is needed: read on until one
        // at or below it shows (or the list ends).
        while !l.all.iter().any(|d| expected_id.is_some_and(|e| d.id <= e))
            && self.more(env, &mut l).await?
        {}
        let mut rivals: Vec<&Deployment> = l
            .all
            .iter()
            .filter(|d| {
                d.id < mine
                    && expected_id.is_none_or(|e| d.id > e)
                    && d.pipeline().and_then(|p| p.previous_id()) == expected_id
            })
            .collect();
        rivals.sort_by_key(|d| d.id);
        for rival in rivals {
            match self.standing_now(env, rival.id).await? {
                Standing::Discarded => {}
                Standing::Record => return Ok(Some(rival.id)),
                Standing::Undecided => {
                    // An unreadable time is never taken for old.
                    let age = rival
                        .created_unix()
                        .map_or(0, |born| now.saturating_sub(born));
                    if locked || (now != u64::MAX && age > ABANDONED_AFTER) {
                        tracing::warn!(
                            env,
                            deployment = rival.id,
                            "a deployment left without a status for {age} s is discarded as abandoned"
                        );
                        self.post_status(env, rival.id, "error", "abandoned: never finished")
                            .await?;
                    } else {
                        return Ok(Some(rival.id));
                    }
                }
            }
        }
        Ok(None)
    }
}

/// The [`StateStore`](super::StateStore) operations; see the [module
/// documentation](self) for how each is made safe.
impl super::StateStore for GitHubStore {
    async fn current(&self, env: &str) -> Result<Option<Stored>, StoreError> {
        Self::check_env(env)?;
        Ok(self.newest(env).await?.0)
    }

    async fn history(&self, env: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        Self::check_env(env)?;
        let (Some(newest), mut l) = self.newest(env).await? else {
            return Ok(Vec::new());
        };
        let head = newest.revision.as_str().parse::<u64>().ok();
        loop {
            let Some(from) = l.all.iter().find(|d| Some(d.id) == head) else {
                return Ok(Vec::new());
            };
            let (records, missing) = self.chain(env, from, &l.all, limit)?;
            if missing.is_none() || !self.more(env, &mut l).await? {
                return Ok(records);
            }
        }
    }

    async fn append(
        &self,
        env: &str,
        record: &Record,
        expected: Option<&Revision>,
    ) -> Result<Revision, StoreError> {
        Self::check_env(env)?;
        if record.env != env {
            return Err(StoreError::WrongEnvironment {
                env: env.to_owned(),
                record_env: record.env.clone(),
            });
        }
        let reference = format!("deployments of {env} (task {TASK})");
        let conflict = |actual: Option<Revision>| StoreError::Conflict {
            env: env.to_owned(),
            reference: reference.clone(),
            expected: expected.cloned(),
            actual,
        };
        let (now, _) = self.newest(env).await?;
        let previous_was_intent = now.as_ref().is_some_and(|s| s.record.outcome.is_intent());
        let now = now.map(|s| s.revision);
        if now.as_ref() != expected {
            return Err(conflict(now));
        }
        let expected_id = expected.and_then(|r| r.as_str().parse::<u64>().ok());
        let tag = format!("{}{}", self.tag_prefix, record.version);
        let summary = summary(record);
        let created: Deployment = self
            .json(
                env,
                &format!("create the deployment of {tag} in {env}"),
                Method::POST,
                "deployments",
                &[],
                Some(&json!({
                    "ref": tag,
                    "task": TASK,
                    "auto_merge": false,
                    "required_contexts": [],
                    "environment": env,
                    "description": truncate(&summary, MAX_DESCRIPTION),
                    "transient_environment": false,
                    "payload": {"pipeline": {
                        "previous": expected.map(Revision::as_str),
                        "record": record,
                    }},
                })),
            )
            .await?;
        let mine = created.id;
        let locked = record.lock.is_some();
        if let Some(rival) = self
            .first_rival(
                env,
                mine,
                expected_id,
                created.created_unix().unwrap_or(0),
                locked,
            )
            .await?
        {
            self.discard(env, mine, rival).await?;
            return Err(conflict(Some(Revision::new(rival.to_string()))));
        }
        let state = match record.outcome {
            Outcome::Live | Outcome::ManualRollback => "success",
            Outcome::RolledBack | Outcome::Failed => "failure",
            Outcome::Switching | Outcome::RollingBack => "in_progress",
        };
        self.post_status(env, mine, state, &summary).await?;
        // Checked again once decided: a rival GitHub listed late, or a
        // writer that took this deployment for abandoned while this one
        // stalled, wins over it.
        let discarded = self.standing_now(env, mine).await? == Standing::Discarded;
        let late = self
            .first_rival(env, mine, expected_id, u64::MAX, false)
            .await?;
        if discarded || late.is_some() {
            if let (false, Some(winner)) = (discarded, late) {
                self.discard(env, mine, winner).await?;
            }
            let (actual, _) = self.newest(env).await?;
            return Err(conflict(actual.map(|s| s.revision)));
        }
        // The intent this record ends shows as done in GitHub's view.
        if let (Some(previous), false) = (expected_id, record.outcome.is_intent())
            && previous_was_intent
            && let Err(e) = self
                .post_status(env, previous, "inactive", "superseded by its outcome")
                .await
        {
            tracing::info!(
                env,
                "the intent {previous} stays in progress in GitHub's view: {e}"
            );
        }
        Ok(Revision::new(mine.to_string()))
    }

    async fn lock(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
    ) -> Result<LockGuard, StoreError> {
        self.lock_over(env, owner, what, now, stale_after, None)
            .await
    }

    async fn take_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        held: &str,
    ) -> Result<LockGuard, StoreError> {
        self.lock_over(env, owner, what, now, u64::MAX, Some(held))
            .await
    }

    async fn unlock(&self, guard: LockGuard) -> Result<(), StoreError> {
        let env = guard.env();
        Self::check_env(env)?;
        let released = LockMessage {
            state: LockState::Released,
            by: guard.info().by.clone(),
            what: guard.info().what.clone(),
            since: guard.info().since,
            id: guard.id().to_owned(),
        };
        let ours = guard.revision().as_str();
        let commit = self.lock_write(env, &released, Some(ours)).await?;
        if self.lock_move(env, Some(ours), &commit).await? {
            return Ok(());
        }
        // Moved: by whom? Only this guard's own release counts as
        // released; a lock someone took over (and perhaps released since)
        // was lost while this one believed it held it.
        match self.lock_tip(env).await? {
            None => Ok(()),
            Some(sha) => {
                let now = self.lock_commit(env, &sha).await?;
                if now.state == LockState::Released && now.id == released.id && !now.id.is_empty()
                    || now == released
                {
                    return Ok(());
                }
                Err(StoreError::LockLost {
                    env: env.to_owned(),
                    reference: Self::lock_ref(env),
                    by: now.by,
                    what: now.what,
                    since: now.since,
                })
            }
        }
    }

    async fn locked_by(&self, env: &str) -> Result<Option<LockInfo>, StoreError> {
        Self::check_env(env)?;
        let Some(sha) = self.lock_tip(env).await? else {
            return Ok(None);
        };
        let lock = self.lock_commit(env, &sha).await?;
        Ok((lock.state == LockState::Held).then_some(LockInfo {
            by: lock.by,
            what: lock.what,
            since: lock.since,
            id: lock.id,
        }))
    }

    async fn holds(&self, guard: &LockGuard) -> Result<bool, StoreError> {
        Self::check_env(guard.env())?;
        Ok(self.lock_tip(guard.env()).await?.as_deref() == Some(guard.revision().as_str()))
    }

    async fn preflight(&self, env: &str, version: &str) -> Result<(), StoreError> {
        Self::check_env(env)?;
        let tag = format!("{}{version}", self.tag_prefix);
        match self
            .call(
                env,
                &format!("read the tag {tag}"),
                Method::GET,
                &format!("git/ref/tags/{tag}"),
                &[],
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Api { source, .. }) if source.status() == Some(404) => {
                Err(StoreError::MissingTag {
                    env: env.to_owned(),
                    tag,
                    repository: self.repository.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether a refused ref update says only that another writer got there
/// first (GitHub's 422 "Reference already exists", "Update is not a fast
/// forward", "Reference does not exist"); any other 422, such as "Object
/// does not exist", is an error of its own.
fn lost_race(e: &HttpError) -> bool {
    match e {
        HttpError::Status {
            status: 422,
            service,
            ..
        } => service.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("reference already exists")
                || m.contains("not a fast forward")
                || m.contains("reference does not exist")
        }),
        _ => false,
    }
}

/// The store's error for what the API said about `env`.
fn api_error(env: &str) -> impl FnOnce(HttpError) -> StoreError + '_ {
    move |source| StoreError::Api {
        env: env.to_owned(),
        source: Box::new(source),
    }
}

fn summary(record: &Record) -> String {
    let word = match record.outcome {
        Outcome::Live => "live",
        Outcome::RolledBack => "rolled back",
        Outcome::Failed => "failed",
        Outcome::ManualRollback => "rolled back to by hand",
        Outcome::Switching => "switching",
        Outcome::RollingBack => "rolling back to by hand",
    };
    let mut s = format!("{} {word} by {}", record.version, record.by);
    if !record.note.is_empty() {
        s.push_str(": ");
        s.push_str(&record.note);
    }
    s
}

fn truncate(text: &str, max: usize) -> String {
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.chars().count() <= max {
        return one;
    }
    let mut out: String = one.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The environment's deployments read so far, newest first.
#[derive(Debug, Default)]
struct Listing {
    all: Vec<Deployment>,
    pages: usize,
    done: bool,
}

/// What a deployment's statuses make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// A final status (or `in_progress`, an intent's) and never `error`:
    /// a record.
    Record,
    /// An `error` status somewhere: discarded, never a record.
    Discarded,
    /// No final status yet.
    Undecided,
}

fn standing_of(statuses: &[Status]) -> Standing {
    if statuses.iter().any(|s| s.state == "error") {
        Standing::Discarded
    } else if statuses.iter().any(|s| {
        matches!(
            s.state.as_str(),
            "success" | "failure" | "inactive" | "in_progress"
        )
    }) {
        Standing::Record
    } else {
        Standing::Undecided
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Deployment {
    id: u64,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Payload {
    #[serde(default)]
    previous: Option<String>,
    record: Value,
}

impl Payload {
    fn previous_id(&self) -> Option<u64> {
        self.previous.as_deref().and_then(|p| p.parse().ok())
    }
}

impl Deployment {
    /// `payload.pipeline`, when this is one of ours. GitHub may hand the
    /// payload back as a JSON string.
    fn pipeline(&self) -> Option<Payload> {
        let payload = match &self.payload {
            Value::String(s) => serde_json::from_str(s).ok()?,
            v => v.clone(),
        };
        serde_json::from_value(payload.get("pipeline")?.clone()).ok()
    }

    fn created_unix(&self) -> Option<u64> {
        crate::parse_rfc3339(&self.created_at)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    id: u64,
    state: String,
}

#[derive(Debug, Clone, Deserialize)]
struct GitRef {
    object: GitObject,
}

#[derive(Debug, Clone, Deserialize)]
struct GitObject {
    sha: String,
}

#[derive(Debug, Clone, Deserialize)]
struct GitCommit {
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LockState {
    Held,
    Released,
}

/// The JSON of a lock commit (its message's last line, and `lock.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct LockMessage {
    state: LockState,
    by: String,
    what: String,
    since: u64,
    /// The lock's id, which the records of its run carry.
    #[serde(default)]
    id: String,
}

impl LockMessage {
    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn render(&self, env: &str) -> String {
        let word = match self.state {
            LockState::Held => "held",
            LockState::Released => "released",
        };
        format!(
            "pipeline lock {env}: {word} by {} ({})\n\n{}\n",
            truncate(&self.by, 200),
            truncate(&self.what, 200),
            self.json()
        )
    }

    fn parse(message: &str) -> Option<Self> {
        message
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, state: &str) -> Status {
        Status {
            id,
            state: state.to_owned(),
        }
    }

    #[test]
    fn statuses_decide_what_a_deployment_is() {
        assert_eq!(standing_of(&[]), Standing::Undecided);
        assert_eq!(standing_of(&[status(1, "queued")]), Standing::Undecided);
        // An intent, written before traffic moves, is a record.
        assert_eq!(standing_of(&[status(1, "in_progress")]), Standing::Record);
        assert_eq!(standing_of(&[status(1, "success")]), Standing::Record);
        assert_eq!(
            standing_of(&[status(2, "inactive"), status(1, "success")]),
            Standing::Record
        );
        assert_eq!(standing_of(&[status(1, "failure")]), Standing::Record);
        assert_eq!(
            standing_of(&[status(2, "success"), status(1, "error")]),
            Standing::Discarded,
            "a discarded deployment stays discarded whatever comes after"
        );
    }

    #[test]
    fn lock_messages_round_trip_and_strangers_do_not_parse() {
        let m = LockMessage {
            state: LockState::Held,
            by: "ci run 7\nforged line".to_owned(),
            what: "promote 1.2.0 to qa".to_owned(),
            since: 1_700_000_000,
            id: "ab12".to_owned(),
        };
        let text = m.render("qa");
        assert!(text.starts_with("pipeline lock qa: held by ci run 7 forged line ("));
        assert_eq!(LockMessage::parse(&text), Some(m));
        assert_eq!(LockMessage::parse("Merge branch 'x'"), None);
        assert_eq!(LockMessage::parse("x\n\n{\"state\":\"maybe\"}"), None);
    }

    #[test]
    fn descriptions_fit_githubs_limit_on_one_line() {
        let long = "é".repeat(300);
        let t = truncate(&long, MAX_DESCRIPTION);
        assert_eq!(t.chars().count(), MAX_DESCRIPTION);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("a\nb", 10), "a b");
    }
}
