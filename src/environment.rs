//! Which GitLab environment a page URL belongs to, and which cookie domain reaches it.
//!
//! Pure: takes strings, returns data. The URL is untrusted (a tab can hold anything), so the
//! host is extracted the way a browser does for special schemes — userinfo dropped, `\` treated
//! as `/`, port and trailing dot removed — and then matched label by label, never by substring.

use serde::{Deserialize, Serialize};

/// GitLab.com's parent domain: the `gitlab_canary` cookie for every environment lives here.
pub const GITLAB_COM: &str = "gitlab.com";
pub const STAGING: &str = "staging.gitlab.com";

/// The environments the extension knows, as hosts: GitLab.com's two, then the self-managed ones
/// the user added.
pub fn known_hosts(custom: &[CustomEnvironment]) -> Vec<String> {
    let mut hosts = vec![GITLAB_COM.to_string(), STAGING.to_string()];
    for c in custom {
        if !hosts.contains(&c.host) {
            hosts.push(c.host.clone());
        }
    }
    hosts
}

/// What kind of environment a host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// gitlab.com itself.
    Production,
    /// staging.gitlab.com.
    Staging,
    /// Any other host under gitlab.com (ops, pre, next, …).
    Other,
    /// A self-managed host the user added, with its own cookie domain.
    Custom,
}

/// A self-managed GitLab the user added in the options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEnvironment {
    /// Host name, lowercase, no port (e.g. `gitlab.example.net`).
    pub host: String,
    /// Domain the cookie is written for when the scope is "all environments" (e.g. `example.net`).
    pub cookie_domain: String,
}

/// The environment of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Lowercase host, no port, no trailing dot.
    pub host: String,
    pub kind: Kind,
    /// Domain of the "all environments" cookie, without a leading dot.
    pub cookie_domain: String,
    /// Whether the page is on https (cookies are then written `Secure`).
    pub https: bool,
}

impl Environment {
    /// The origin the extension writes cookies for and asks `/api/v4/user` on.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    /// A GitLab.com environment (gitlab.com, staging, any other `*.gitlab.com`), where the
    /// stage markers of GitLab.com apply (its plain favicon is main's, for one).
    pub fn is_gitlab_com(&self) -> bool {
        self.kind != Kind::Custom
    }
}

/// Why a URL is not a GitLab environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvError {
    /// Not an http(s) page (a new tab, an extension page, a file…).
    NotWeb,
    /// A web page, but not on GitLab.com or a GitLab the user added.
    NotGitLab { host: String },
    /// The URL could not be read at all.
    Malformed,
}

/// Scheme and host of an http(s) URL, as a browser would read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
}

/// Reads scheme and host from an absolute http(s) URL.
pub fn parse_origin(url: &str) -> Result<Origin, EnvError> {
    let url = url.trim_matches(|c: char| c <= ' ');
    let (scheme, rest) = url.split_once(':').ok_or(EnvError::NotWeb)?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(EnvError::NotWeb);
    };
    // Special schemes: any run of '/' or '\' starts the authority.
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if host_port.starts_with('[') {
        // An IPv6 literal is never a GitLab host name.
        return Err(EnvError::NotGitLab {
            host: host_port.to_ascii_lowercase(),
        });
    }
    let host = match host_port.split_once(':') {
        Some((host, port)) => {
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
                return Err(EnvError::Malformed);
            }
            host
        }
        None => host_port,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if !is_host_name(&host) {
        return Err(EnvError::Malformed);
    }
    Ok(Origin { https, host })
}

/// A DNS host name: labels of `[a-z0-9-]`, none empty, at most 253 bytes in all.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The path of an http(s) URL (from the first `/` after the authority, query and fragment
/// included), `/` when it has none or is not an http(s) URL.
pub fn path_of(url: &str) -> String {
    if parse_origin(url).is_err() {
        return "/".into();
    }
    let rest = url.trim().split_once(':').map(|(_, r)| r).unwrap_or(url);
    let rest = rest.trim_start_matches(['/', '\\']);
    match rest.find(['/', '?', '#']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
        _ => "/".into(),
    }
}

/// `host` is `domain` or a subdomain of it (label-wise).
pub fn domain_matches(host: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// The environment a page URL belongs to.
pub fn environment_for_url(
    url: &str,
    custom: &[CustomEnvironment],
) -> Result<Environment, EnvError> {
    let Origin { https, host } = parse_origin(url)?;
    if let Some(c) = custom.iter().find(|c| c.host == host) {
        let cookie_domain = if domain_matches(&host, &c.cookie_domain) {
            c.cookie_domain.trim_start_matches('.').to_string()
        } else {
            host.clone()
        };
        return Ok(Environment {
            host,
            kind: Kind::Custom,
            cookie_domain,
            https,
        });
    }
    if !domain_matches(&host, GITLAB_COM) {
        return Err(EnvError::NotGitLab { host });
    }
    let kind = match host.as_str() {
        "gitlab.com" => Kind::Production,
        "staging.gitlab.com" => Kind::Staging,
        _ => Kind::Other,
    };
    Ok(Environment {
        host,
        kind,
        cookie_domain: GITLAB_COM.to_string(),
        https,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(url: &str) -> Result<Environment, EnvError> {
        environment_for_url(url, &[])
    }

    #[test]
    fn known_environments() {
        let prod = env("https://gitlab.com/gitlab-org/gitlab/-/issues/1").unwrap();
        assert_eq!(prod.kind, Kind::Production);
        assert_eq!(prod.host, "gitlab.com");
        assert_eq!(prod.cookie_domain, "gitlab.com");
        assert!(prod.https);
        let stg = env("https://staging.gitlab.com/").unwrap();
        assert_eq!(stg.kind, Kind::Staging);
        assert_eq!(stg.origin(), "https://staging.gitlab.com");
        assert_eq!(env("https://ops.gitlab.com/x").unwrap().kind, Kind::Other);
        assert_eq!(env("https://next.gitlab.com").unwrap().kind, Kind::Other);
    }

    #[test]
    fn case_port_trailing_dot_and_userinfo_are_normalised() {
        for url in [
            "HTTPS://GitLab.COM/",
            "https://gitlab.com:443/a",
            "https://gitlab.com./",
            "https://user:pw@gitlab.com/",
            "  https://gitlab.com  ",
            "https:\\\\gitlab.com\\foo",
            "https://gitlab.com?x",
            "https://gitlab.com#frag",
        ] {
            assert_eq!(env(url).unwrap().host, "gitlab.com", "{url}");
        }
        assert!(!env("http://staging.gitlab.com/").unwrap().https);
    }

    #[test]
    fn hostile_urls_are_not_gitlab() {
        for url in [
            "https://gitlab.com.evil.example/",
            "https://evilgitlab.com/",
            "https://evil.example/?u=https://gitlab.com/",
            "https://evil.example/gitlab.com",
            "https://gitlab.com@evil.example/",
            "https://gitlab.com%2F@evil.example/",
            "https://evil.example#@gitlab.com",
            "https://evil.example\\@gitlab.com",
            "https://[::1]/",
            "https://127.0.0.1/",
            "https://xn--gitlab-xyz.example/",
        ] {
            match env(url) {
                Err(EnvError::NotGitLab { .. }) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn non_web_and_malformed() {
        for url in [
            "chrome://newtab/",
            "about:blank",
            "moz-extension://x/popup.html",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "",
            "gitlab.com",
        ] {
            assert_eq!(env(url), Err(EnvError::NotWeb), "{url}");
        }
        for url in [
            "https://",
            "https:///",
            "https://gitlab..com/",
            "https://gitlab.com:99999999/",
            "https://gitlab.com:abc/",
            "https://gitl ab.com/",
            "https://gitläb.com/",
            "https://.gitlab.com/",
        ] {
            assert_eq!(env(url), Err(EnvError::Malformed), "{url}");
        }
        let long = format!("https://{}.gitlab.com/", "a".repeat(300));
        assert_eq!(env(&long), Err(EnvError::Malformed));
    }

    #[test]
    fn paths() {
        assert_eq!(
            path_of("https://gitlab.com/gitlab-org/gitlab?x=1"),
            "/gitlab-org/gitlab?x=1"
        );
        assert_eq!(path_of("https://gitlab.com"), "/");
        assert_eq!(path_of("https://gitlab.com?q"), "/");
        assert_eq!(path_of("about:blank"), "/");
    }

    #[test]
    fn domain_matching_is_label_wise() {
        assert!(domain_matches("staging.gitlab.com", "gitlab.com"));
        assert!(domain_matches("staging.gitlab.com", ".gitlab.com"));
        assert!(domain_matches("gitlab.com", ".gitlab.com"));
        assert!(!domain_matches("evilgitlab.com", "gitlab.com"));
        assert!(!domain_matches("gitlab.com", "staging.gitlab.com"));
        assert!(!domain_matches("com", "gitlab.com"));
    }

    #[test]
    fn custom_environments() {
        let custom = [CustomEnvironment {
            host: "gitlab.example.net".into(),
            cookie_domain: ".example.net".into(),
        }];
        let e = environment_for_url("https://gitlab.example.net/x", &custom).unwrap();
        assert_eq!(e.kind, Kind::Custom);
        assert_eq!(e.cookie_domain, "example.net");
        // A cookie domain that does not cover the host falls back to the host itself.
        let bad = [CustomEnvironment {
            host: "gitlab.example.net".into(),
            cookie_domain: "other.org".into(),
        }];
        let e = environment_for_url("https://gitlab.example.net/", &bad).unwrap();
        assert_eq!(e.cookie_domain, "gitlab.example.net");
        assert!(environment_for_url("https://example.net/", &custom).is_err());
    }
}
