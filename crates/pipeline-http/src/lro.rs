//! Long-running operations, as Resource Manager runs them: the first reply
//! says where to poll (`Azure-AsyncOperation` first, else `Location`), and
//! polls go on, `Retry-After` apart, until a terminal state or the deadline.

use std::time::SystemTime;

use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::client::{Bearer, Http, Request, Response};
use crate::endpoint::check_url;
use crate::error::{HttpError, ServiceError};
use crate::progress::Event;
use crate::retry::retry_after;

/// How an operation finished.
#[derive(Debug)]
pub struct Finished {
    /// The last reply: the first one if it was final, else the last poll
    /// (for `Location` polling, the resource or result).
    pub last: Response,
    /// Whether any polling happened.
    pub polled: bool,
}

#[derive(Debug, Deserialize)]
struct AsyncStatus {
    status: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    properties: Option<ProvisioningProps>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProvisioningProps {
    provisioning_state: Option<String>,
}

fn terminal(status: &str) -> Option<bool> {
    match status.to_ascii_lowercase().as_str() {
        "succeeded" => Some(true),
        "failed" | "canceled" | "cancelled" => Some(false),
        _ => None,
    }
}

/// Follows the operation `initial` started (the reply to `request`) to its
/// end. A reply that names no status URL and no pending provisioning state
/// is final already. `Failed` and `Canceled` are
/// [`HttpError::OperationFailed`] with the service's error.
pub async fn follow(
    http: &Http,
    request: &Request<'_>,
    initial: Response,
    auth: Option<&dyn Bearer>,
    deadline: Instant,
) -> Result<Finished, HttpError> {
    let op = request.op();
    let started = Instant::now();
    let budget = deadline.saturating_duration_since(started);
    let async_url = initial.header("azure-asyncoperation").map(str::to_owned);
    let location = initial.header("location").map(str::to_owned);
    let pending_state = provisioning_pending(&initial);

    enum Mode {
        Async(Url),
        Location(Url),
        Resource(Url),
    }
    let parse = |what: &str, raw: &str| -> Result<Url, HttpError> {
        let url = initial.url.join(raw).map_err(|e| HttpError::Decode {
            op: op.to_owned(),
            url: initial.url.as_str().to_owned(),
            reason: format!("{what} `{raw}` is not a URL: {e}"),
        })?;
        check_url(what, &url)?;
        Ok(url)
    };
    let mut mode = match (async_url, location) {
        (Some(a), _) if initial.status.as_u16() != 200 || pending_state => {
            Mode::Async(parse("Azure-AsyncOperation", &a)?)
        }
        (_, Some(l)) if initial.status.as_u16() == 202 => Mode::Location(parse("Location", &l)?),
        _ if pending_state && *request.method() == Method::PUT => {
            Mode::Resource(request.url().clone())
        }
        _ => {
            return Ok(Finished {
                last: initial,
                polled: false,
            });
        }
    };
    let mut wait = retry_after(&initial.headers, SystemTime::now());
    let mut seen = String::from("Accepted");
    let mut polls = 0u32;
    loop {
        let delay = wait.map_or(http.policy().poll_delay(polls), |w| {
            http.policy().honoured(w)
        });
        polls += 1;
        if Instant::now() + delay > deadline {
            return Err(HttpError::Deadline {
                op: op.to_owned(),
                deadline: budget,
                last: Some(format!("the operation was still {seen}")),
            });
        }
        tokio::time::sleep(delay).await;
        let url = match &mode {
            Mode::Async(u) | Mode::Location(u) | Mode::Resource(u) => u.clone(),
        };
        let mut poll = Request::new(op, Method::GET, url);
        if let Some(a) = auth {
            poll = poll.auth(a);
        }
        // The deadline may strike during the poll itself: report it as the
        // operation's (its whole budget, the status last seen), not as the
        // poll's (the few milliseconds left when it began, no status).
        let reply = match http.send(&poll, deadline).await {
            Ok(reply) => reply,
            Err(HttpError::Deadline { last, .. }) => {
                let still = format!("the operation was still {seen}");
                return Err(HttpError::Deadline {
                    op: op.to_owned(),
                    deadline: budget,
                    last: Some(match last {
                        Some(poll) => format!("{still}; the last poll: {poll}"),
                        None => still,
                    }),
                });
            }
            Err(e) => return Err(e),
        };
        wait = retry_after(&reply.headers, SystemTime::now());
        match &mode {
            Mode::Async(_) | Mode::Resource(_) => {
                let body: AsyncStatus = reply.json(op)?;
                let status = body
                    .status
                    .or_else(|| body.properties.and_then(|p| p.provisioning_state))
                    .ok_or_else(|| HttpError::Decode {
                        op: op.to_owned(),
                        url: reply.url.as_str().to_owned(),
                        reason: "the operation status has no `status`".to_owned(),
                    })?;
                match terminal(&status) {
                    Some(true) => {
                        return Ok(Finished {
                            last: reply,
                            polled: true,
                        });
                    }
                    Some(false) => {
                        let service = body
                            .error
                            .map(|e| {
                                ServiceError::from_body(
                                    serde_json::json!({ "error": e }).to_string().as_bytes(),
                                )
                            })
                            .unwrap_or_default();
                        return Err(HttpError::OperationFailed {
                            op: op.to_owned(),
                            status,
                            service,
                        });
                    }
                    None => seen = status,
                }
            }
            Mode::Location(_) => {
                if reply.status.as_u16() != 202 {
                    return Ok(Finished {
                        last: reply,
                        polled: true,
                    });
                }
                seen = "Accepted".to_owned();
                // A service may move the operation: follow the latest Location.
                if let Some(next) = reply.header("location")
                    && let Ok(next) = reply.url.join(next)
                    && check_url("Location", &next).is_ok()
                {
                    mode = Mode::Location(next);
                }
            }
        }
        http.progress().event(&Event::Poll {
            op,
            status: &seen,
            elapsed: started.elapsed(),
        });
    }
}

fn provisioning_pending(resp: &Response) -> bool {
    if !matches!(resp.status.as_u16(), 200 | 201) {
        return false;
    }
    let Ok(body) = serde_json::from_slice::<AsyncStatus>(&resp.body) else {
        return false;
    };
    body.properties
        .and_then(|p| p.provisioning_state)
        .is_some_and(|s| terminal(&s).is_none())
}
