//! The admin API on loopback: bearer-token authentication, JSON in and out,
//! the artifact streamed in. See `API.md`.

use std::net::SocketAddr;
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
use crate::error::ApiError;
use crate::spec::EnvSpec;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    expect_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    to_version: Option<String>,
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
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|t| same(t.trim().as_bytes(), token.expose().as_bytes()));
    if !authorized {
        return err(&ApiError::new(
            401,
            "Unauthorized",
            "a valid `Authorization: Bearer <token>` is required (the token is in the agent's state directory)",
        ));
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
            Ok((200, serde_json::json!({ "envs": envs })))
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
            let body: Option<SwapBody> = json_body(req, true).await?;
            let expect = body.and_then(|b| b.expect_version);
            Ok((200, to_json(&agent.swap(&name, expect.as_deref()).await?)))
        }
        (["v1", "envs", name, "rollback"], &Method::POST) => {
            let name = (*name).to_owned();
            let body: Option<RollbackBody> = json_body(req, true).await?;
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

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: TcpListener, agent: Agent, token: Secret) {
    let token = Arc::new(token);
    loop {
        let (stream, _peer): (_, SocketAddr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("admin accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let agent = agent.clone();
        let token = Arc::clone(&token);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let agent = agent.clone();
                let token = Arc::clone(&token);
                async move { Ok::<_, std::convert::Infallible>(handle(&agent, &token, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Reads the token in `dir/token`, or creates it (64 hex digits from the
/// system's random source, mode 0600, created exclusively).
pub fn load_or_create_token(dir: &std::path::Path) -> std::io::Result<Secret> {
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(Secret::new(t.trim().to_owned())),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: the token is too short; remove the file to make a new one",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(hex.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(Secret::new(hex))
}
