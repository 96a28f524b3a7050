//! A reply, rendered either for wiremock or as raw HTTP/1.1 bytes (for the
//! raw TCP servers).

use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::fixtures::Envelope;

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![(
                "Content-Type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn text(status: u16, body: &str, content_type: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// The reply an envelope fixture describes: no body for `null`, a text
    /// body (with the envelope's `Content-Type`) for a string, JSON else.
    pub(crate) fn envelope(env: &Envelope) -> Self {
        let mut reply = match &env.body {
            Value::Null => Self {
                status: env.status,
                headers: Vec::new(),
                body: Vec::new(),
            },
            Value::String(text) => Self::text(
                env.status,
                text,
                env.header("content-type").unwrap_or("text/plain"),
            ),
            other => Self::json(env.status, other),
        };
        for (k, v) in &env.headers {
            if !k.eq_ignore_ascii_case("content-type") {
                reply.headers.push((k.clone(), v.clone()));
            }
        }
        reply
    }

    pub(crate) fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            t = t.append_header(k.as_str(), v.as_str());
        }
        if !self.body.is_empty() {
            t = t.set_body_bytes(self.body.clone());
        }
        t
    }

    /// The reply as HTTP/1.1 bytes, closing the connection.
    pub(crate) fn raw(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            202 => "Accepted",
            401 => "Unauthorized",
            404 => "Not Found",
            409 => "Conflict",
            _ => "Status",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl Envelope {
    /// The reply as a wiremock response, for mocks a test mounts itself.
    pub fn template(&self) -> ResponseTemplate {
        Reply::envelope(self).template()
    }
}
