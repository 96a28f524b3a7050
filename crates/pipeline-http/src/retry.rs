//! When to retry, and how long to wait: pure functions of the answer, the
//! attempt number and a random draw, so they can be tested exhaustively.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::error::ServiceError;

/// How a request is retried and how long operations may take.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff; doubled per attempt.
    pub base_delay: Duration,
    /// The longest backoff drawn (before `Retry-After`, which is honoured
    /// up to [`RetryPolicy::max_retry_after`]).
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; longer ones are cut to this.
    pub max_retry_after: Duration,
    /// The wait between polls of a long-running operation when the service
    /// sends no `Retry-After`.
    pub poll_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` failed
    /// (`attempt` ≥ 1), given a uniform draw `unit` in `[0, 1)`: "equal
    /// jitter", half the exponential step fixed and half random, so retries
    /// from many clients spread out but never collapse to zero.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let step = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before poll `n` (0 for the first) of a long-running
    /// operation when the service asked for none: half a second, doubling,
    /// up to [`RetryPolicy::poll_interval`], so quick operations end quickly
    /// and slow ones are not polled too often.
    pub fn poll_delay(&self, n: u32) -> Duration {
        Duration::from_millis(500)
            .saturating_mul(1u32 << n.min(16))
            .min(self.poll_interval)
    }

    /// The wait the service asked for, cut to [`RetryPolicy::max_retry_after`].
    pub fn honoured(&self, asked: Duration) -> Duration {
        asked.min(self.max_retry_after)
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The answer is final (a success, or an error not worth repeating).
    Done,
    /// Try again after a backoff.
    Retry,
    /// Get a new token and try once more (a first 401).
    RefreshToken,
}

/// Classifies a status code. `idempotent` requests are retried on every
/// transient status; others only where the service said it did nothing
/// (408, 429, 503, and 409 "operation in progress"), so a swap is never
/// sent twice because a 502 hid whether the first one ran.
pub(crate) fn classify(
    status: u16,
    service: &ServiceError,
    idempotent: bool,
    token_refreshed: bool,
    has_auth: bool,
) -> Decision {
    match status {
        401 if has_auth && !token_refreshed => Decision::RefreshToken,
        408 | 429 | 503 => Decision::Retry,
        500 | 502 | 504 if idempotent => Decision::Retry,
        409 if says_in_progress(service) => Decision::Retry,
        _ => Decision::Done,
    }
}

/// Whether a 409 says another operation is running (and so is worth
/// waiting out), as Resource Manager and Kudu word it.
pub(crate) fn says_in_progress(service: &ServiceError) -> bool {
    let code = service
        .code
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let message = service
        .message
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    code.contains("inprogress")
        || code.contains("in_progress")
        || code == "conflictingoperation"
        || message.contains("in progress")
        || message.contains("another operation")
        // Kudu during an auto swap: "There is an auto swap deployment
        // currently ongoing please try again when it completes."
        || message.contains("currently ongoing")
}

/// The wait a reply asks for: `retry-after-ms` / `x-ms-retry-after-ms`
/// (milliseconds, as Azure sends them), else `Retry-After` in seconds or as
/// an HTTP date relative to `now`. Unparseable values are ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header_str(headers, name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = header_str(headers, "retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a 403 or 429 is a rate limit (GitHub's primary limit:
/// `x-ratelimit-remaining: 0` with `x-ratelimit-reset`; its secondary
/// limit: `Retry-After`, or a message that says so), so that it is waited
/// out instead of failing at once. Any other 403 is a refusal.
pub(crate) fn rate_limited(status: u16, headers: &HeaderMap, service: &ServiceError) -> bool {
    matches!(status, 403 | 429)
        && (header_str(headers, "retry-after").is_some()
            || (header_str(headers, "x-ratelimit-remaining").map(str::trim) == Some("0")
                && header_str(headers, "x-ratelimit-reset").is_some())
            || service
                .message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("rate limit")))
}

/// How long to wait on a secondary rate limit that gives no time: GitHub
/// asks for at least a minute.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The wait until a rate limit's window resets: `x-ratelimit-reset` (Unix
/// seconds) when `x-ratelimit-remaining` is 0.
pub(crate) fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if header_str(headers, "x-ratelimit-remaining").map(str::trim) != Some("0") {
        return None;
    }
    let reset = header_str(headers, "x-ratelimit-reset")?
        .trim()
        .parse::<u64>()
        .ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn svc(code: &str, message: &str) -> ServiceError {
        ServiceError {
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
        }
    }

    #[test]
    fn rate_limits_say_when_to_come_back() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut primary = HeaderMap::new();
        primary.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        primary.insert("x-ratelimit-reset", HeaderValue::from_static("1700000042"));
        let none = ServiceError::default();
        assert!(rate_limited(403, &primary, &none));
        assert!(rate_limited(429, &primary, &none));
        assert!(!rate_limited(404, &primary, &none));
        assert_eq!(
            rate_limit_reset(&primary, now),
            Some(Duration::from_secs(42))
        );
        let mut secondary = HeaderMap::new();
        secondary.insert("retry-after", HeaderValue::from_static("60"));
        assert!(rate_limited(403, &secondary, &none));
        let worded = svc(
            "",
            "You have exceeded a secondary rate limit. Please wait a few minutes",
        );
        assert!(rate_limited(403, &HeaderMap::new(), &worded));
        assert!(!rate_limited(
            403,
            &HeaderMap::new(),
            &svc("", "Resource not accessible by integration")
        ));
        assert_eq!(rate_limit_reset(&secondary, now), None);
        let mut forbidden = HeaderMap::new();
        forbidden.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        forbidden.insert("x-ratelimit-reset", HeaderValue::from_static("1700000042"));
        assert!(
            !rate_limited(403, &forbidden, &none),
            "a plain 403 is final"
        );
        assert_eq!(rate_limit_reset(&forbidden, now), None);
        let mut past = primary.clone();
        past.insert("x-ratelimit-reset", HeaderValue::from_static("1600000000"));
        assert_eq!(rate_limit_reset(&past, now), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(1500));
        assert_eq!(p.backoff(20, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_secs(15));
        for attempt in 1..12 {
            for unit in [0.0, 0.3, 0.999] {
                let d = p.backoff(attempt, unit);
                assert!(d >= p.backoff(attempt, 0.0) && d <= p.backoff(attempt, 1.0));
            }
        }
    }

    #[test]
    fn polls_start_quick_and_slow_down() {
        let p = RetryPolicy::default();
        let delays: Vec<u128> = (0..6).map(|n| p.poll_delay(n).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(p.poll_delay(u32::MAX), p.poll_interval);
        let fast = RetryPolicy {
            poll_interval: Duration::from_millis(1),
            ..p
        };
        assert_eq!(fast.poll_delay(0), Duration::from_millis(1));
    }

    #[test]
    fn statuses_are_classified() {
        let none = ServiceError::default();
        for s in [408, 429, 503] {
            assert_eq!(classify(s, &none, false, false, true), Decision::Retry);
        }
        for s in [500, 502, 504] {
            assert_eq!(classify(s, &none, true, false, true), Decision::Retry);
            assert_eq!(classify(s, &none, false, false, true), Decision::Done);
        }
        for s in [400, 403, 404, 405, 412, 422, 200, 202] {
            assert_eq!(classify(s, &none, true, false, true), Decision::Done);
        }
        assert_eq!(
            classify(401, &none, true, false, true),
            Decision::RefreshToken
        );
        assert_eq!(classify(401, &none, true, true, true), Decision::Done);
        assert_eq!(classify(401, &none, true, false, false), Decision::Done);
        assert_eq!(classify(409, &none, true, false, true), Decision::Done);
        let busy = svc(
            "Conflict",
            "There is a deployment currently in progress. Please try again when it completes.",
        );
        assert_eq!(classify(409, &busy, false, false, true), Decision::Retry);
        let autoswap = ServiceError {
            code: None,
            message: Some(
                "There is an auto swap deployment currently ongoing please try again when it completes."
                    .to_owned(),
            ),
        };
        assert_eq!(
            classify(409, &autoswap, false, false, true),
            Decision::Retry
        );
        let arm = svc("AnotherOperationInProgress", "Another operation is pending");
        assert_eq!(classify(409, &arm, false, false, true), Decision::Retry);
        let name = svc(
            "Conflict",
            "Website with given name pipeline-app already exists.",
        );
        assert_eq!(classify(409, &name, true, false, true), Decision::Done);
    }

    #[test]
    fn retry_after_in_every_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(500)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(42)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(42));
        h.insert("retry-after", HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("-3"));
        assert_eq!(retry_after(&h, now), None);
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
    }
}
