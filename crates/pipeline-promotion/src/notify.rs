//! `[[notify]]`: webhooks told when a promotion starts, goes live, is
//! rolled back or fails. A notification is sent once (a POST that may
//! have landed is not repeated), within a few seconds, and whatever
//! becomes of it never changes the promotion: a webhook that fails is a
//! warning. The URLs are secrets: read from the variables the file names,
//! never written in a message.

use std::time::Duration;

use pipeline_ci::Env;
use pipeline_config::{Notify, NotifyFormat, NotifyOn, PipelineConfig};
use pipeline_contracts::promote::NoticeDoc;
use pipeline_http::{Body, Http, HttpError, Method, Request};
use url::Url;

use crate::PromoteError;

/// How long one webhook may take.
pub(crate) const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The webhooks of a pipeline.toml, their URLs read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notifier {
    http: Option<Http>,
    hooks: Vec<Hook>,
}

#[derive(Debug, Clone)]
struct Hook {
    var: String,
    url: Url,
    format: NotifyFormat,
    on: Vec<NotifyOn>,
}

impl Notifier {
    /// Reads the URL of every `[[notify]]` from `vars`.
    ///
    /// # Errors
    ///
    /// [`PromoteError::Setup`] naming the variable (never its value) when
    /// it is unset, empty or not an https URL (http on loopback only).
    pub(crate) fn new(
        config: &PipelineConfig,
        vars: &Env,
        http: &Http,
    ) -> Result<Self, PromoteError> {
        let hooks = config
            .notify
            .iter()
            .enumerate()
            .map(|(i, n)| hook(i, n, vars))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            http: Some(http.clone()),
            hooks,
        })
    }

    /// As [`Notifier::new`], a webhook that cannot be read left out with a
    /// warning: what must not be stopped by a notification (a rollback).
    pub(crate) fn lenient(config: &PipelineConfig, vars: &Env, http: &Http) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let hooks = config
            .notify
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                hook(i, n, vars)
                    .map_err(|e| warnings.push(e.to_string()))
                    .ok()
            })
            .collect();
        (
            Self {
                http: Some(http.clone()),
                hooks,
            },
            warnings,
        )
    }

    /// Tells every webhook that asked for `on`; what could not be told,
    /// one warning each (naming the variable, never the URL).
    pub(crate) async fn tell(&self, on: NotifyOn, notice: &NoticeDoc) -> Vec<String> {
        let Some(http) = &self.http else {
            return Vec::new();
        };
        let sends = self
            .hooks
            .iter()
            .filter(|h| h.on.contains(&on))
            .map(|hook| async move {
                let body = match hook.format {
                    NotifyFormat::Json => Body::json(notice),
                    NotifyFormat::Slack => {
                        Body::json(&serde_json::json!({ "text": slack_text(notice) }))
                    }
                };
                let op = format!("notify {}", hook.var);
                let req = Request::new(&op, Method::POST, hook.url.clone()).body(body);
                let deadline = tokio::time::Instant::now() + NOTIFY_TIMEOUT;
                match http.send(&req, deadline).await {
                    Ok(_) => None,
                    Err(e) => Some(format!(
                        "the webhook in {} was not told of {} in {}: {}",
                        hook.var,
                        notice.event,
                        notice.env,
                        why(&e)
                    )),
                }
            });
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The `i`th webhook, its URL read from its variable.
fn hook(i: usize, n: &Notify, vars: &Env) -> Result<Hook, PromoteError> {
    let Notify {
        url_var,
        format,
        on,
    } = n;
    let setup = |why: &str| {
        PromoteError::Setup(format!(
            "notify[{i}]: the variable {url_var} {why} (it holds the webhook's URL)"
        ))
    };
    let raw = vars
        .get_secret(url_var)
        .filter(|s| !s.expose().trim().is_empty())
        .ok_or_else(|| setup("is not set"))?;
    let url = Url::parse(raw.expose().trim()).map_err(|_| setup("is not a URL"))?;
    let plain_off_loopback = url.scheme() == "http" && !pipeline_http::is_loopback(&url);
    if !matches!(url.scheme(), "https" | "http")
        || plain_off_loopback
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(setup(
            "does not hold an https URL (plain http only on loopback, no user in it)",
        ));
    }
    Ok(Hook {
        var: url_var.clone(),
        url,
        format: *format,
        on: on.clone(),
    })
}

/// Checks that every `[[notify]]` variable holds a webhook's URL, before a
/// job changes anything.
///
/// # Errors
///
/// [`PromoteError::Setup`] naming the first variable that does not.
pub fn check(config: &PipelineConfig, vars: &Env) -> Result<(), PromoteError> {
    for (i, n) in config.notify.iter().enumerate() {
        hook(i, n, vars)?;
    }
    Ok(())
}

/// Slack's mrkdwn with its three control characters escaped.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What went wrong, without the URL (which the error's text holds).
fn why(e: &HttpError) -> String {
    match e {
        HttpError::Status { status, .. } => format!("it answered {status}"),
        HttpError::Deadline { .. } => format!("no answer within {}s", NOTIFY_TIMEOUT.as_secs()),
        HttpError::Exhausted { attempts, .. } => format!("gave up after {attempts} attempts"),
        _ => "it could not be reached".to_owned(),
    }
}

/// The one line a chat shows.
fn slack_text(n: &NoticeDoc) -> String {
    let mark = match n.event.as_str() {
        "start" => ":rocket:",
        "success" => ":white_check_mark:",
        "rollback" => ":leftwards_arrow_with_hook:",
        _ => ":x:",
    };
    let url = n
        .url
        .as_deref()
        .map(|u| format!(" <{u}>"))
        .unwrap_or_default();
    format!(
        "{mark} *{}* {}{url} ({})",
        escaped(&n.env),
        escaped(&n.message),
        escaped(&n.by)
    )
}
