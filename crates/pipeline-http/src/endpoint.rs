//! Endpoints: base URLs that may be overridden for sovereign clouds,
//! proxies and tests, and that refuse plain `http://` off loopback.

use std::net::IpAddr;

use url::Url;

/// A base URL checked for use with credentials: `https://` anywhere,
/// `http://` only on a loopback address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

/// Why an endpoint was refused. Names where it came from (a flag, a
/// variable, a header) and the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("{what}: `{url}` is not a URL: {source}")]
    Invalid {
        /// Where the URL came from.
        what: String,
        /// The text given.
        url: String,
        /// The parser's reason.
        #[source]
        source: url::ParseError,
    },
    /// A scheme other than https (or http on loopback).
    #[error(
        "{what}: `{url}` uses {scheme}://; only https:// is accepted, and http:// only on a loopback address"
    )]
    Scheme {
        /// Where the URL came from.
        what: String,
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// Credentials embedded in the URL (`user:pass@`).
    #[error("{what}: the URL carries a user name or password; pass credentials another way")]
    Userinfo {
        /// Where the URL came from.
        what: String,
    },
}

impl Endpoint {
    /// Parses and checks `raw`; `what` names its origin for errors, such as
    /// `--arm-endpoint` or `PIPELINE_AZURE_ARM_ENDPOINT`.
    pub fn parse(what: &str, raw: &str) -> Result<Self, EndpointError> {
        let url = Url::parse(raw.trim()).map_err(|source| EndpointError::Invalid {
            what: what.to_owned(),
            url: raw.to_owned(),
            source,
        })?;
        check_url(what, &url)?;
        Ok(Self { url })
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The base URL with `path` appended to its own path (which a plain
    /// [`Url::join`] would replace) and `query` pairs added.
    pub fn at(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// The host, as written in the URL.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.url.fmt(f)
    }
}

/// Checks a URL that will carry credentials, for instance one a server sent
/// back in `Location`: `https://`, or `http://` on loopback, no user info.
pub fn check_url(what: &str, url: &Url) -> Result<(), EndpointError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Userinfo {
            what: what.to_owned(),
        });
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(EndpointError::Scheme {
            what: what.to_owned(),
            url: url.as_str().to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// Whether the URL's host is a loopback address (`127.0.0.0/8`, `::1`) or
/// `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert!(Endpoint::parse("x", "https://management.azure.com").is_ok());
        assert!(Endpoint::parse("x", "http://127.0.0.1:8080/").is_ok());
        assert!(Endpoint::parse("x", "http://127.9.9.9/").is_ok());
        assert!(Endpoint::parse("x", "http://[::1]:1/").is_ok());
        assert!(Endpoint::parse("x", "http://localhost:3000").is_ok());
        let err = Endpoint::parse("PIPELINE_AZURE_ARM_ENDPOINT", "http://10.0.0.1/")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("PIPELINE_AZURE_ARM_ENDPOINT: `http://10.0.0.1/` uses http://"));
        assert!(Endpoint::parse("x", "http://localhost.evil.com/").is_err());
        assert!(Endpoint::parse("x", "ftp://127.0.0.1/").is_err());
        assert!(Endpoint::parse("x", "management.azure.com").is_err());
        let err = Endpoint::parse("x", "https://u:p@example.com/").unwrap_err();
        assert!(!err.to_string().contains("u:p"));
    }

    #[test]
    fn at_appends_to_the_base_path() {
        let e = Endpoint::parse("x", "http://127.0.0.1:9/proxy/").unwrap();
        let u = e.at("/subscriptions/s", &[("api-version", "2024-11-01")]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/proxy/subscriptions/s?api-version=2024-11-01"
        );
        let e = Endpoint::parse("x", "https://login.microsoftonline.com").unwrap();
        assert_eq!(
            e.at("t/oauth2/v2.0/token", &[]).as_str(),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
    }
}
