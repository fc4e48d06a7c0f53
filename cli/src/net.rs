//! HTTP in place of the browser: ureq (rustls with ring) for the requests, `cookie_store` for the
//! cookie jar, and curl's `--resolve` / `--connect-to` as a resolver.
//!
//! ureq's own cookie feature hides each cookie's expiry and host-only flag, which the session
//! check reads (`ends_with_browser`, the host-only `gitlab_canary` of "this environment only"),
//! so the jar is `cookie_store` itself: every answer's `Set-Cookie` goes into it, and every
//! request takes its `Cookie` header from it. Redirects are therefore followed here, one hop at
//! a time, so that a cookie set on a 302 (a sign-in) is kept as a browser keeps it.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cookie_store::{CookieStore, RawCookie};
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use url::Url;

use crate::error::CliError;

/// How long one request may take, all in.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Redirects followed for one request, as a browser would (it follows about 20).
const MAX_REDIRECTS: usize = 10;
/// The most of a body read: GitLab's biggest pages are a few MB.
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// A host (and port) sent elsewhere, with curl's meaning: `--resolve HOST:PORT:ADDR` gives the
/// address for HOST:PORT; `--connect-to HOST:PORT:HOST2:PORT2` connects to HOST2:PORT2 instead
/// (an empty HOST or PORT matches any). The request keeps its URL: Host, SNI and cookies are
/// the original host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    Resolve {
        host: String,
        port: u16,
        addr: String,
    },
    ConnectTo {
        host: Option<String>,
        port: Option<u16>,
        to_host: String,
        to_port: Option<u16>,
    },
}

/// Splits `s` on `:`, keeping a bracketed IPv6 address (`[::1]`) whole.
fn fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_brackets = false;
    for c in s.chars() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            ':' if !in_brackets => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if c != '[' && c != ']' {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn port(s: &str, what: &str) -> Result<Option<u16>, CliError> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u16>()
        .map(Some)
        .map_err(|_| CliError::Usage(format!("{what}: {s:?} is not a port number.")))
}

impl Override {
    pub fn parse_resolve(s: &str) -> Result<Override, CliError> {
        let bad = || {
            CliError::Usage(format!(
                "--resolve {s}: expected HOST:PORT:ADDR, for example gitlab.com:443:127.0.0.1."
            ))
        };
        let f = fields(s);
        if f.len() != 3 || f[0].is_empty() || f[2].is_empty() {
            return Err(bad());
        }
        Ok(Override::Resolve {
            host: f[0].to_ascii_lowercase(),
            port: port(&f[1], "--resolve")?.ok_or_else(bad)?,
            addr: f[2].clone(),
        })
    }

    pub fn parse_connect_to(s: &str) -> Result<Override, CliError> {
        let f = fields(s);
        if f.len() != 4 || f[2].is_empty() {
            return Err(CliError::Usage(format!(
                "--connect-to {s}: expected HOST:PORT:ADDR:PORT2, for example gitlab.com:443:127.0.0.1:8443."
            )));
        }
        Ok(Override::ConnectTo {
            host: (!f[0].is_empty()).then(|| f[0].to_ascii_lowercase()),
            port: port(&f[1], "--connect-to")?,
            to_host: f[2].clone(),
            to_port: port(&f[3], "--connect-to")?,
        })
    }
}

/// ureq's resolver with the overrides in front of it.
#[derive(Debug)]
struct OverridingResolver {
    overrides: Arc<Vec<Override>>,
}

impl OverridingResolver {
    /// Where `host:port` goes: the first matching `--connect-to`, then `--resolve`.
    fn target(&self, host: &str, port: u16) -> (String, u16, bool) {
        for o in self.overrides.iter() {
            if let Override::ConnectTo {
                host: h,
                port: p,
                to_host,
                to_port,
            } = o
            {
                if h.as_deref().is_none_or(|h| h == host) && p.is_none_or(|p| p == port) {
                    let (host, port) = (to_host.clone(), to_port.unwrap_or(port));
                    return self.resolved(host, port);
                }
            }
        }
        self.resolved(host.to_string(), port)
    }

    fn resolved(&self, host: String, port: u16) -> (String, u16, bool) {
        for o in self.overrides.iter() {
            if let Override::Resolve {
                host: h,
                port: p,
                addr,
            } = o
            {
                if *h == host.to_ascii_lowercase() && *p == port {
                    return (addr.clone(), port, true);
                }
            }
        }
        (host, port, false)
    }
}

impl Resolver for OverridingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let default_port = if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let (to, to_port, _) = self.target(&host, port);
        if to == host && to_port == port {
            return DefaultResolver::default().resolve(uri, config, timeout);
        }
        let mut out = self.empty();
        let addrs = (to.as_str(), to_port).to_socket_addrs()?;
        for a in addrs.take(16) {
            out.push(SocketAddr::new(a.ip(), to_port));
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// How to reach GitLab: the overrides and a CA certificate to trust.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    pub overrides: Vec<Override>,
    pub ca_cert: Option<std::path::PathBuf>,
}

/// One answer, after the redirects.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Where the answer came from (after redirects).
    pub url: Url,
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// No connection, a refused one, a name that does not resolve, a time-out.
    Unreachable {
        host: String,
        detail: String,
    },
    /// The TLS handshake failed: most often a certificate the command does not trust.
    Tls {
        host: String,
        detail: String,
    },
    TooManyRedirects {
        host: String,
    },
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Unreachable { detail, .. } | NetError::Tls { detail, .. } => {
                f.write_str(detail)
            }
            NetError::TooManyRedirects { .. } => f.write_str("too many redirects"),
        }
    }
}

impl NetError {
    pub fn host(&self) -> &str {
        match self {
            NetError::Unreachable { host, .. }
            | NetError::Tls { host, .. }
            | NetError::TooManyRedirects { host } => host,
        }
    }
}

/// The HTTP client and its cookie jar.
pub struct Client {
    agent: ureq::Agent,
    pub jar: CookieStore,
}

fn load_ca(path: &Path) -> Result<Vec<Certificate<'static>>, CliError> {
    let pem = std::fs::read(path).map_err(|e| CliError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(CliError::File {
            path: path.to_path_buf(),
            detail: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

impl Client {
    pub fn new(net: &NetOptions) -> Result<Client, CliError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &net.ca_cert {
            tls = tls.root_certs(RootCerts::new_with_certs(&load_ca(path)?));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("canary-switch/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        let resolver = OverridingResolver {
            overrides: Arc::new(net.overrides.clone()),
        };
        Ok(Client {
            agent: ureq::Agent::with_parts(config, DefaultConnector::new(), resolver),
            jar: CookieStore::default(),
        })
    }

    /// `GET url` as a page load: the jar's cookies sent, the answer's kept. Redirects are
    /// followed.
    pub fn get(&mut self, url: &Url) -> Result<Answer, NetError> {
        self.send(url, None, &[], Cookies::All)
    }

    /// `GET url` with the jar's cookies for it except those named `left_out`, and nothing kept
    /// from the answer: the control request, which reaches the same stage (`gitlab_canary` is
    /// sent) as a visitor without a session, and leaves the jar as it was.
    pub fn get_without(&mut self, url: &Url, left_out: &[&str]) -> Result<Answer, NetError> {
        self.send(url, None, &[], Cookies::Except(left_out))
    }

    /// `POST url` with a form, as a browser submits one (a 302/303 answer is followed with a
    /// `GET`).
    pub fn post_form(&mut self, url: &Url, form: &[(&str, &str)]) -> Result<Answer, NetError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            url,
            Some(Body {
                content_type: "application/x-www-form-urlencoded",
                bytes: body.into_bytes(),
            }),
            &[],
            Cookies::All,
        )
    }

    /// `POST url` with a JSON body and headers, no cookies (an API call with a token).
    pub fn post_json(
        &mut self,
        url: &Url,
        json: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<Answer, NetError> {
        let bytes = serde_json::to_vec(json).unwrap_or_default();
        self.send(
            url,
            Some(Body {
                content_type: "application/json",
                bytes,
            }),
            headers,
            Cookies::None,
        )
    }

    fn send(
        &mut self,
        url: &Url,
        mut body: Option<Body>,
        headers: &[(&str, &str)],
        cookies: Cookies<'_>,
    ) -> Result<Answer, NetError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let host = url.host_str().unwrap_or_default().to_string();
            let cookie_header = self
                .jar
                .get_request_values(&url)
                .filter(|(n, _)| cookies.sends(n))
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let result = match &body {
                Some(b) => {
                    let mut rq = self
                        .agent
                        .post(url.as_str())
                        .header("Content-Type", b.content_type);
                    if !cookie_header.is_empty() {
                        rq = rq.header("Cookie", &cookie_header);
                    }
                    for (k, v) in headers {
                        rq = rq.header(*k, *v);
                    }
                    rq.send(&b.bytes[..])
                }
                None => {
                    let mut rq = self.agent.get(url.as_str());
                    if !cookie_header.is_empty() {
                        rq = rq.header("Cookie", &cookie_header);
                    }
                    for (k, v) in headers {
                        rq = rq.header(*k, *v);
                    }
                    rq.call()
                }
            };
            let mut resp = result.map_err(|e| net_error(&host, e))?;
            let status = resp.status().as_u16();
            if cookies.keeps() {
                let set: Vec<RawCookie<'static>> = resp
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(|v| RawCookie::parse(v.to_string()).ok())
                    .collect();
                self.jar.store_response_cookies(set.into_iter(), &url);
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            if let (true, Some(next)) = ((300..400).contains(&status), location) {
                // A form posted and answered 301/302/303 is fetched with GET, as browsers do.
                if status != 307 && status != 308 {
                    body = None;
                }
                url = next;
                continue;
            }
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| net_error(&host, e))?;
            return Ok(Answer {
                status,
                url,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Err(NetError::TooManyRedirects {
            host: url.host_str().unwrap_or_default().to_string(),
        })
    }
}

/// Which of the jar's cookies a request sends, and whether its answer's `Set-Cookie` is kept.
#[derive(Debug, Clone, Copy)]
enum Cookies<'a> {
    /// All the jar has for the URL; the answer's cookies kept (a browser's request).
    All,
    /// All but these names; nothing kept (the control request).
    Except(&'a [&'a str]),
    /// None sent, none kept (an API call with a token).
    None,
}

impl Cookies<'_> {
    fn sends(&self, name: &str) -> bool {
        match self {
            Cookies::All => true,
            Cookies::Except(left_out) => !left_out.contains(&name),
            Cookies::None => false,
        }
    }

    fn keeps(&self) -> bool {
        matches!(self, Cookies::All)
    }
}

struct Body {
    content_type: &'static str,
    bytes: Vec<u8>,
}

fn net_error(host: &str, e: ureq::Error) -> NetError {
    let host = host.to_string();
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => NetError::Tls {
            host,
            detail: e.to_string(),
        },
        ureq::Error::Io(ref io) if io.to_string().contains("certificate") => NetError::Tls {
            host,
            detail: e.to_string(),
        },
        _ => NetError::Unreachable {
            host,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_overrides_parse_as_curl_reads_them() {
        assert_eq!(
            Override::parse_resolve("staging.gitlab.com:443:127.0.0.1").unwrap(),
            Override::Resolve {
                host: "staging.gitlab.com".into(),
                port: 443,
                addr: "127.0.0.1".into()
            }
        );
        assert_eq!(
            Override::parse_resolve("gitlab.com:8443:[::1]").unwrap(),
            Override::Resolve {
                host: "gitlab.com".into(),
                port: 8443,
                addr: "::1".into()
            }
        );
        assert_eq!(
            Override::parse_connect_to("::127.0.0.1:9443").unwrap(),
            Override::ConnectTo {
                host: None,
                port: None,
                to_host: "127.0.0.1".into(),
                to_port: Some(9443)
            }
        );
        for bad in ["gitlab.com:443", "gitlab.com:x:1.2.3.4", ":443:1.2.3.4"] {
            assert!(Override::parse_resolve(bad).is_err(), "{bad}");
        }
        assert!(Override::parse_connect_to("a:1:b").is_err());
    }

    #[test]
    fn the_control_request_sends_all_but_the_session_and_keeps_nothing() {
        let control = Cookies::Except(&["_gitlab_session", "remember_user_token"]);
        assert!(control.sends("gitlab_canary"));
        assert!(control.sends("perf_bar_enabled"));
        assert!(!control.sends("_gitlab_session"));
        assert!(!control.sends("remember_user_token"));
        assert!(!control.keeps());
        assert!(Cookies::All.sends("_gitlab_session") && Cookies::All.keeps());
        assert!(!Cookies::None.sends("gitlab_canary") && !Cookies::None.keeps());
    }

    #[test]
    fn connect_to_goes_first_then_resolve() {
        let r = OverridingResolver {
            overrides: Arc::new(vec![
                Override::parse_resolve("gitlab.com:443:127.0.0.2").unwrap(),
                Override::parse_connect_to("gitlab.com:443:localhost:8443").unwrap(),
                Override::parse_resolve("localhost:8443:127.0.0.1").unwrap(),
            ]),
        };
        assert_eq!(
            r.target("gitlab.com", 443),
            ("127.0.0.1".into(), 8443, true)
        );
        assert_eq!(
            r.target("staging.gitlab.com", 443),
            ("staging.gitlab.com".into(), 443, false)
        );
    }
}
