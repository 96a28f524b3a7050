//! Tokens cached until shortly before they expire, and the GitHub Actions
//! OIDC token that federated credentials exchange.

use std::future::Future;
use std::time::Duration;

use pipeline_ci::Secret;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::client::{Http, Request};
use crate::endpoint::check_url;
use crate::error::HttpError;

/// How long before its expiry a token is replaced, at most.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The longest a token is kept, whatever lifetime it came with.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// One token, kept until shortly before it expires. Concurrent callers
/// wait for a single fetch instead of each fetching.
#[derive(Debug, Default)]
pub struct TokenCache {
    slot: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached token, or a new one from `fetch` (which returns the token
    /// and its lifetime) when there is none, it is about to expire, or
    /// `refresh` is set. A token is replaced `min(5 min, lifetime / 2)`
    /// before it expires, and kept a day at most.
    pub async fn get<F, Fut>(&self, refresh: bool, fetch: F) -> Result<Secret, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), HttpError>>,
    {
        let mut slot = self.slot.lock().await;
        if !refresh
            && let Some((token, renew_at)) = slot.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        // The lifetime comes from a reply (`expires_in`): one too large for
        // the clock would panic below, so a day is the most believed.
        let lifetime = lifetime.min(MAX_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        *slot = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }
}

#[derive(Deserialize)]
struct OidcReply {
    value: Option<String>,
}

/// The audience Entra ID expects of a federated GitHub token.
pub const AZURE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Asks GitHub Actions for an OIDC ID token for `audience`, as
/// `@actions/core`'s `getIDToken` does: GET `request_url` (from
/// `ACTIONS_ID_TOKEN_REQUEST_URL`) with `audience` added to its query and
/// `Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`; the reply is
/// `{"value": "<jwt>"}`.
pub async fn github_id_token(
    http: &Http,
    request_url: &str,
    request_token: &Secret,
    audience: &str,
    deadline: Instant,
) -> Result<Secret, HttpError> {
    let op = "get a GitHub Actions OIDC token";
    let mut url = Url::parse(request_url).map_err(|e| HttpError::Decode {
        op: op.to_owned(),
        url: "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
        reason: format!("not a URL: {e}"),
    })?;
    check_url("ACTIONS_ID_TOKEN_REQUEST_URL", &url)?;
    url.query_pairs_mut().append_pair("audience", audience);
    // Sent as a plain header, not a `Bearer`: a refused request token is not
    // refreshed by asking again.
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", request_token.expose()))
            .map_err(|_| HttpError::Decode {
                op: op.to_owned(),
                url: "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_owned(),
                reason: "the request token is not a valid header value".to_owned(),
            })?;
    authorization.set_sensitive(true);
    let req = Request::new(op, Method::GET, url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .header(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
    let reply = http.send(&req, deadline).await?;
    let body: OidcReply = reply.json(op)?;
    match body.value {
        Some(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(HttpError::Decode {
            op: op.to_owned(),
            url: reply.url.as_str().to_owned(),
            reason: "the reply has no `value`".to_owned(),
        }),
    }
}

/// A fixed token (a token from the environment, a request token).
#[derive(Debug, Clone)]
pub struct StaticBearer(pub Secret);

impl crate::client::Bearer for StaticBearer {
    fn bearer<'a>(
        &'a self,
        _http: &'a Http,
        _refresh: bool,
    ) -> crate::client::BoxFuture<'a, Result<Secret, HttpError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn cached_until_shortly_before_expiry() {
        let cache = TokenCache::new();
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok((Secret::new(format!("t{n}")), Duration::from_secs(3600)))
        };
        assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "t0");
        assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "t0");
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "t0");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "t1");
        assert_eq!(cache.get(true, fetch).await.unwrap().expose(), "t2");
        // A short-lived token is renewed at half its life.
        let short = TokenCache::new();
        let f = || async { Ok((Secret::new("s"), Duration::from_secs(60))) };
        short.get(false, f).await.unwrap();
        tokio::time::advance(Duration::from_secs(29)).await;
        let g = || async {
            Err(HttpError::Decode {
                op: "x".into(),
                url: "u".into(),
                reason: "no".into(),
            })
        };
        assert!(short.get(false, g).await.is_ok());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(short.get(false, g).await.is_err());
    }
}
