//! The admin API on loopback: bearer-token authentication, JSON in and out,
//! the artifact streamed in. See `API.md`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use pipeline_ci::Secret;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::agent::Agent;
use crate::conn::{self, ConnLimits, Group, Tracked, TrackedIo, Tracker};
use crate::error::ApiError;
use crate::spec::EnvSpec;
use pipeline_contracts::agent::{EnvList, RollbackRequest, SwapRequest};

/// The largest JSON body accepted.
pub const MAX_JSON: usize = 1 << 20;

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reply(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn err(e: &ApiError) -> Response<Full<Bytes>> {
    reply(e.status, &e.body())
}

async fn json_body<T: for<'de> Deserialize<'de>>(
    req: Request<Incoming>,
    optional: bool,
) -> Result<Option<T>, ApiError> {
    let bytes = Limited::new(req.into_body(), MAX_JSON)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    413,
                    "TooLarge",
                    format!("the body is larger than {MAX_JSON} bytes"),
                )
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    if optional && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::new(
            400,
            "BadJson",
            format!("the body is not the JSON expected: {e}"),
        )
    })
}

fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The credentials of a `Bearer` authorization: the scheme is matched
/// without regard to case (RFC 9110, 11.1), then one or more spaces.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// Handles one request.
pub async fn handle(
    agent: &Agent,
    token: &Secret,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .is_some_and(|t| same(t.as_bytes(), token.expose().as_bytes()));
    if !authorized {
        return err(&ApiError::new(
            401,
            "Unauthorized",
            "a valid `Authorization: Bearer <token>` is required (the token is in the agent's state directory)",
        ));
    }
    if req.uri().path() == "/metrics" && matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut resp = Response::new(Full::new(Bytes::from(agent.metrics())));
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return resp;
    }
    match route(agent, req).await {
        Ok((status, body)) => reply(status, &body),
        Err(e) => err(&e),
    }
}

async fn route(
    agent: &Agent,
    req: Request<Incoming>,
) -> Result<(u16, serde_json::Value), ApiError> {
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let to_json = |v: &dyn erased::Ser| v.value();
    match (parts.as_slice(), &method) {
        (["v1", "envs"], &Method::GET) => {
            let envs = agent.status().await;
            Ok((200, to_json(&EnvList { envs })))
        }
        (["v1", "envs", name], &Method::GET) => Ok((200, to_json(&agent.env_status(name).await?))),
        (["v1", "envs", name], &Method::PUT) => {
            let name = (*name).to_owned();
            let spec: EnvSpec = json_body(req, false)
                .await?
                .ok_or_else(|| ApiError::bad_request("an environment is required"))?;
            Ok((200, to_json(&agent.declare(&name, spec).await?)))
        }
        (["v1", "envs", name, "deploy"], &Method::POST) => {
            let name = (*name).to_owned();
            let q = query(&req);
            let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let version =
                get("version").ok_or_else(|| ApiError::bad_request("the query needs `version`"))?;
            let sha256 =
                get("sha256").ok_or_else(|| ApiError::bad_request("the query needs `sha256`"))?;
            let body = req.into_body();
            Ok((
                200,
                to_json(&agent.deploy(&name, &version, &sha256, body).await?),
            ))
        }
        (["v1", "envs", name, "swap"], &Method::POST) => {
            let name = (*name).to_owned();
            let body: Option<SwapRequest> = json_body(req, true).await?;
            let expect = body.and_then(|b| b.expect_version);
            Ok((200, to_json(&agent.swap(&name, expect.as_deref()).await?)))
        }
        (["v1", "envs", name, "rollback"], &Method::POST) => {
            let name = (*name).to_owned();
            let body: Option<RollbackRequest> = json_body(req, true).await?;
            let to = body.and_then(|b| b.to_version);
            Ok((200, to_json(&agent.rollback(&name, to.as_deref()).await?)))
        }
        (
            ["v1", "envs"] | ["v1", "envs", _] | ["v1", "envs", _, "deploy" | "swap" | "rollback"],
            _,
        ) => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("no route {method} {path}"),
        )),
    }
}

mod erased {
    pub(super) trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Serves the API on `listener` until the process ends: each connection
/// counted in `group` of `tracker` and held to `limits`.
pub async fn serve(
    listener: TcpListener,
    agent: Agent,
    token: Secret,
    tracker: Arc<Tracker>,
    group: Arc<Group>,
    limits: ConnLimits,
) {
    let token = Arc::new(token);
    conn::accept_loop(
        listener,
        tracker,
        group,
        None,
        move |stream, _peer, conn_handle| {
            let agent = agent.clone();
            let token = Arc::clone(&token);
            tokio::spawn(async move {
                let state = Arc::clone(conn_handle.state());
                let service = {
                    let state = Arc::clone(&state);
                    hyper::service::service_fn(move |req| {
                        state.busy();
                        let agent = agent.clone();
                        let token = Arc::clone(&token);
                        let state = Arc::clone(&state);
                        async move {
                            let resp = handle(&agent, &token, req).await;
                            Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked::new(b, state)))
                        }
                    })
                };
                let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&state)));
                let conn: conn::Serving = Box::pin(
                    hyper::server::conn::http1::Builder::new().serve_connection(io, service),
                );
                conn::drive(conn, &state, limits).await;
                drop(conn_handle);
            });
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_in_any_case() {
        for header in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc ",
            " Bearer abc",
        ] {
            assert_eq!(bearer(header), Some("abc"), "{header:?}");
        }
        for header in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer(header), None, "{header:?}");
        }
    }
}
