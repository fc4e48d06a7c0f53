//! Proxy mode (`--upstream main=ADDR --upstream canary=ADDR`): the router in front of real
//! stage processes (the GitLab-like Rails app in `tests/rails/`). The stage decision, the log
//! and the admin API stay in the server; this module forwards one request over plain HTTP/1.1
//! and reads what the stage reports about it.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Headers a stage adds for the router's log; never passed on to the client.
pub const POD_HEADER: &str = "x-standin-pod";
pub const USER_HEADER: &str = "x-standin-user";
pub const SESSION_HEADER: &str = "x-standin-session";

/// How long a stage may take to accept the connection (a stopped stage refuses at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stage may take to send its response headers.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Hop-by-hop headers (RFC 9110 7.6.1), dropped in both directions; hyper frames the bodies.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
    headers.remove(hyper::header::UPGRADE);
}

/// What the stage said about the request, read from (and removed from) its response headers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StageReport {
    /// `x-standin-pod`: the pod (the stage's `HOSTNAME`).
    pub pod: Option<String>,
    /// `x-standin-user`: who the stage recognised.
    pub user: Option<String>,
    /// `x-standin-session`: `none`, `valid` or `remembered`.
    pub session: Option<String>,
}

/// Removes the stage's `x-standin-*` headers and returns what they said.
pub fn take_report(headers: &mut HeaderMap) -> StageReport {
    let mut take = |name: &str| {
        let v = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        headers.remove(name);
        v.filter(|s| !s.is_empty())
    };
    StageReport {
        pod: take(POD_HEADER),
        user: take(USER_HEADER),
        session: take(SESSION_HEADER),
    }
}

/// A `Set-Cookie` header's cookie name and value.
fn set_cookie_pair(v: &str) -> Option<(&str, &str)> {
    let first = v.split(';').next()?;
    let (name, value) = first.split_once('=')?;
    Some((name.trim(), value.trim()))
}

/// Names of the cookies the response sets, in order (values never leave this module).
pub fn set_cookie_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(set_cookie_pair)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The value the response gives cookie `name` (empty for a deletion), if it sets it.
pub fn set_cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(set_cookie_pair)
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// Why a request could not be forwarded (logged; the client gets a 502).
#[derive(Debug)]
pub struct ForwardError(pub String);

/// Sends the request to `upstream` on a new connection and returns the stage's response with
/// its body still streaming. `Host` and every other end-to-end header are kept; the router adds
/// `X-Forwarded-Proto` (the scheme the client used) and `X-Forwarded-For`.
pub async fn forward(
    upstream: SocketAddr,
    mut parts: Parts,
    body: Incoming,
    peer: SocketAddr,
    https: bool,
) -> Result<Response<Incoming>, ForwardError> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ForwardError(format!("connect {upstream}: {e}"))),
        Err(_) => return Err(ForwardError(format!("connect {upstream}: timed out"))),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ForwardError(format!("handshake with {upstream}: {e}")))?;
    // The connection drives itself until the response body is read to its end.
    tokio::spawn(async move {
        let _ = conn.await;
    });

    strip_hop_by_hop(&mut parts.headers);
    let scheme = if https { "https" } else { "http" };
    parts.headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(scheme),
    );
    if let Ok(v) = HeaderValue::from_str(&peer.ip().to_canonical().to_string()) {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    parts.uri = path
        .parse()
        .map_err(|e| ForwardError(format!("bad path {path:?}: {e}")))?;
    parts.version = Version::HTTP_11;
    let request = Request::from_parts(parts, body);

    let response = match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(request)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(ForwardError(format!("{upstream}: {e}"))),
        Err(_) => return Err(ForwardError(format!("{upstream}: no response in time"))),
    };
    let (mut head, body) = response.into_parts();
    strip_hop_by_hop(&mut head.headers);
    Ok(Response::from_parts(head, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        h
    }

    #[test]
    fn reports_are_taken_out() {
        let mut h = headers(&[
            ("x-standin-pod", "gitlab-cny-webservice-web-abc"),
            ("x-standin-user", "qa-user"),
            ("x-standin-session", ""),
            ("content-type", "text/html"),
        ]);
        let report = take_report(&mut h);
        assert_eq!(
            report,
            StageReport {
                pod: Some("gitlab-cny-webservice-web-abc".into()),
                user: Some("qa-user".into()),
                session: None,
            }
        );
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn set_cookies_by_name() {
        let h = headers(&[
            (
                "set-cookie",
                "remember_user_token=abc; path=/; expires=Fri, 18 Dec 2026 23:40:31 GMT",
            ),
            (
                "set-cookie",
                "_gitlab_session=0123; path=/; secure; HttpOnly",
            ),
            ("set-cookie", "_gitlab_session=4567; path=/"),
        ]);
        assert_eq!(
            set_cookie_names(&h),
            ["remember_user_token", "_gitlab_session", "_gitlab_session"]
        );
        assert_eq!(
            set_cookie_value(&h, "_gitlab_session").as_deref(),
            Some("4567")
        );
        assert_eq!(set_cookie_value(&h, "gitlab_canary"), None);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("cookie", "a=b"),
            ("host", "gitlab.com"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["cookie", "host"]);
    }
}
