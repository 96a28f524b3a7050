//! Errors: what failed, where, and what the service said.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::endpoint::EndpointError;

/// The error code and message a service put in its reply, from whichever
/// of the common shapes it used: Resource Manager's
/// `{"error":{"code","message"}}` (and App Service's capitalised
/// `{"Code","Message"}`), Google's `{"error":{"code","message","status"}}`,
/// OAuth's `{"error","error_description"}`, or plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceError {
    /// The service's error code, such as `ResourceNotFound` or `NOT_FOUND`.
    pub code: Option<String>,
    /// The service's message.
    pub message: Option<String>,
}

const MAX_MESSAGE: usize = 2_000;

impl ServiceError {
    /// Reads the error out of a reply body. Never fails: an unknown shape
    /// gives the start of the text as the message.
    pub fn from_body(body: &[u8]) -> Self {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Self::default();
        }
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            let found = Self::from_json(&value);
            if found.code.is_some() || found.message.is_some() {
                return found;
            }
        }
        let text = String::from_utf8_lossy(body);
        Self {
            code: None,
            message: Some(one_line(&text)),
        }
    }

    fn from_json(value: &Value) -> Self {
        let get = |v: &Value, key: &str| -> Option<Value> {
            v.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            })
        };
        let text = |v: Option<Value>| -> Option<String> {
            match v? {
                Value::String(s) if !s.trim().is_empty() => Some(one_line(&s)),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        match get(value, "error") {
            Some(inner @ Value::Object(_)) => {
                // Google puts the number in `code` and the name in `status`.
                let code = text(get(&inner, "status"))
                    .filter(|_| get(&inner, "code").is_some_and(|c| c.is_number()))
                    .or_else(|| text(get(&inner, "code")));
                let mut message = text(get(&inner, "message"));
                if let Some(Value::Array(details)) = get(&inner, "details")
                    && let Some(first) = details.first()
                {
                    let detail = Self::from_json(&serde_json::json!({ "error": first }));
                    if let (Some(m), Some(d)) = (&message, &detail.message)
                        && d != m
                    {
                        message = Some(format!("{m} ({d})"));
                    }
                }
                Self { code, message }
            }
            Some(Value::String(code)) => Self {
                code: Some(one_line(&code)),
                message: text(get(value, "error_description")),
            },
            _ => Self {
                code: text(get(value, "code")).or_else(|| text(get(value, "ExtendedCode"))),
                message: text(get(value, "message")),
            },
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c}: {m}"),
            (Some(c), None) => f.write_str(c),
            (None, Some(m)) => f.write_str(m),
            (None, None) => f.write_str("no error details in the reply"),
        }
    }
}

fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

/// A failed HTTP operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The service answered with an error status that is not worth
    /// repeating (or was repeated until the attempts ran out).
    #[error("{op}: {method} {url} answered {status}: {service}{}", request_id_suffix(.request_id))]
    Status {
        /// The operation, in words.
        op: String,
        /// The HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// What the service said.
        service: ServiceError,
        /// The service's request id, for its support.
        request_id: Option<String>,
    },
    /// No answer: connection refused or reset, TLS failure, a reply cut off.
    #[error("{op}: {method} {url}: {reason}")]
    Transport {
        /// The operation, in words.
        op: String,
        /// The HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// Every attempt failed with a retryable error.
    #[error("{op}: gave up after {attempts} attempts in {}: {last}", secs(*.elapsed))]
    Exhausted {
        /// The operation, in words.
        op: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long they took.
        elapsed: Duration,
        /// The last failure.
        last: Box<HttpError>,
    },
    /// The operation's deadline passed.
    #[error("{op}: no result within {}{}", secs(*.deadline), last_suffix(.last))]
    Deadline {
        /// The operation, in words.
        op: String,
        /// The deadline it had.
        deadline: Duration,
        /// What was last seen, if anything failed or was pending.
        last: Option<String>,
    },
    /// A long-running operation ended in `Failed` or `Canceled`.
    #[error("{op}: the operation ended {status}: {service}")]
    OperationFailed {
        /// The operation, in words.
        op: String,
        /// The terminal status (`Failed`, `Canceled`).
        status: String,
        /// What the service said.
        service: ServiceError,
    },
    /// A reply that does not have the documented shape.
    #[error("{op}: {url}: unexpected reply: {reason}")]
    Decode {
        /// The operation, in words.
        op: String,
        /// The URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// No token could be had for the request.
    #[error("{op}: cannot get a token: {source}")]
    Auth {
        /// The operation, in words.
        op: String,
        /// Why.
        #[source]
        source: Box<HttpError>,
    },
    /// A URL refused (plain http off loopback, not a URL).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A local file (an upload, a token file) could not be read.
    #[error("{op}: cannot read {path}: {source}")]
    File {
        /// The operation, in words.
        op: String,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Whether a failure is the caller's (configuration, credentials, input:
/// exit 2) or the outside world's (exit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Fix the configuration, credentials or input.
    Caller,
    /// The service or the network failed.
    External,
}

impl pipeline_ci::Classified for crate::EndpointError {
    fn exit(&self) -> pipeline_ci::Exit {
        pipeline_ci::Exit::Usage
    }
}

impl pipeline_ci::Classified for HttpError {
    fn exit(&self) -> pipeline_ci::Exit {
        match self.blame() {
            Blame::Caller => pipeline_ci::Exit::Usage,
            Blame::External => pipeline_ci::Exit::External,
        }
    }
}

impl HttpError {
    /// Whose fault it is: a 4xx other than 408/409/429, a refused endpoint,
    /// an unreadable local file or a refused credential is the caller's;
    /// the rest is external.
    pub fn blame(&self) -> Blame {
        match self {
            HttpError::Status { status, .. } => match status {
                408 | 409 | 429 => Blame::External,
                400..=499 => Blame::Caller,
                _ => Blame::External,
            },
            HttpError::Endpoint(_) | HttpError::File { .. } => Blame::Caller,
            HttpError::Auth { source, .. } => source.blame(),
            HttpError::Exhausted { .. }
            | HttpError::Deadline { .. }
            | HttpError::Transport { .. }
            | HttpError::OperationFailed { .. }
            | HttpError::Decode { .. } => Blame::External,
        }
    }

    /// The status code of the final answer, if the failure was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::Exhausted { last, .. } => last.status(),
            HttpError::Auth { source, .. } => source.status(),
            _ => None,
        }
    }
}

pub(crate) fn secs(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn request_id_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

fn last_suffix(last: &Option<String>) -> String {
    last.as_ref()
        .map(|l| format!("; last: {l}"))
        .unwrap_or_default()
}

/// The reason of a reqwest error with its causes, without the URL (the
/// caller names it) and without repeating a cause.
pub(crate) fn transport_reason(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut kind = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_body() || err.is_request() {
        "the connection failed".to_owned()
    } else if err.is_decode() {
        "cannot read the reply".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    for p in parts {
        kind.push_str(": ");
        kind.push_str(&p);
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServiceError {
        ServiceError::from_body(s.as_bytes())
    }

    #[test]
    fn every_common_error_shape() {
        let arm = parse(
            r#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg' could not be found."}}"#,
        );
        assert_eq!(arm.code.as_deref(), Some("ResourceGroupNotFound"));
        assert_eq!(
            arm.to_string(),
            "ResourceGroupNotFound: Resource group 'rg' could not be found."
        );

        let web = parse(r#"{"Code":"NotFound","Message":"Cannot find Site.","Target":null}"#);
        assert_eq!(web.to_string(), "NotFound: Cannot find Site.");

        let google =
            parse(r#"{"error":{"code":404,"message":"Service not found.","status":"NOT_FOUND"}}"#);
        assert_eq!(google.to_string(), "NOT_FOUND: Service not found.");

        let oauth = parse(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#,
        );
        assert_eq!(
            oauth.to_string(),
            "invalid_client: AADSTS7000215: Invalid client secret provided. Trace ID: x"
        );

        let nested = parse(
            r#"{"error":{"code":"Conflict","message":"Failed.","details":[{"code":"Inner","message":"Slot busy."}]}}"#,
        );
        assert_eq!(nested.to_string(), "Conflict: Failed. (Slot busy.)");

        assert_eq!(parse("Bad Gateway\n").to_string(), "Bad Gateway");
        assert_eq!(parse("  ").to_string(), "no error details in the reply");
        assert_eq!(parse("[1,2]").message.as_deref(), Some("[1,2]"));
        let long = "x".repeat(10_000);
        assert!(parse(&long).message.unwrap().chars().count() <= MAX_MESSAGE + 1);
    }

    #[test]
    fn blame_splits_caller_from_world() {
        let status = |status| HttpError::Status {
            op: "o".into(),
            method: "GET".into(),
            url: "u".into(),
            status,
            service: ServiceError::default(),
            request_id: Some("abc".into()),
        };
        assert_eq!(status(404).blame(), Blame::Caller);
        assert_eq!(status(403).blame(), Blame::Caller);
        assert_eq!(status(429).blame(), Blame::External);
        assert_eq!(status(500).blame(), Blame::External);
        assert!(status(404).to_string().ends_with("(request id abc)"));
    }
}
