//! The cookie jar as the session check sees it, and the prepared-session file.
//!
//! What the extension reads through the browser's cookies API is read here from the jar:
//! `_gitlab_session`'s presence, its one-way fingerprint and whether it ends with the browser
//! (no Expires/Max-Age), `remember_user_token`'s presence, and the `gitlab_canary` cookies,
//! which the check writes as "this environment only" does (host-only) and puts back as found.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use canary_switch::environment::{domain_matches, Environment};
use canary_switch::preference::{same_cookies, CookieOp, FoundCookie, StoredCookie, COOKIE_NAME};
use canary_switch::session::{Prepared, SessionCookie};
use cookie_store::{CookieDomain, CookieExpiration, CookieStore, RawCookie};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::CliError;

pub const SESSION_COOKIE: &str = "_gitlab_session";
/// Devise rememberable's cookie: only whether it is there is ever read.
pub const REMEMBER_COOKIE: &str = "remember_user_token";

/// First 8 hex digits of SHA-256 of `value`, as the extension's `browser::fingerprint`.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn found(c: &cookie_store::Cookie) -> FoundCookie {
    let (domain, host_only) = match &c.domain {
        CookieDomain::HostOnly(d) => (d.clone(), true),
        CookieDomain::Suffix(d) => (format!(".{}", d.trim_start_matches('.')), false),
        CookieDomain::NotPresent | CookieDomain::Empty => (String::new(), true),
    };
    FoundCookie {
        domain,
        host_only,
        path: String::from(&c.path),
        value: c.value().to_string(),
    }
}

/// The cookies named `name` in the jar (unexpired), as the cookies API describes them.
fn named<'a>(
    jar: &'a CookieStore,
    name: &'a str,
) -> impl Iterator<Item = &'a cookie_store::Cookie<'static>> + 'a {
    jar.iter_unexpired().filter(move |c| c.name() == name)
}

/// `_gitlab_session` for `host`: presence and fingerprint (the value goes into the hash and
/// nowhere else), whether it ends with the browser, and whether `remember_user_token` is there.
pub fn session_cookie(jar: &CookieStore, host: &str) -> SessionCookie {
    let remember = named(jar, REMEMBER_COOKIE).any(|c| found(c).sent_to(host));
    match named(jar, SESSION_COOKIE).find(|c| found(c).sent_to(host)) {
        Some(c) => SessionCookie {
            present: true,
            fingerprint: Some(fingerprint(c.value())),
            remember,
            ends_with_browser: Some(!c.is_persistent()),
        },
        None => SessionCookie {
            remember,
            ..SessionCookie::default()
        },
    }
}

/// The `gitlab_canary` cookies in the jar.
pub fn canary_cookies(jar: &CookieStore) -> Vec<FoundCookie> {
    named(jar, COOKIE_NAME).map(found).collect()
}

fn same_site(c: &RawCookie) -> Option<String> {
    // The cookies API's names for SameSite.
    c.same_site().map(|s| match s.to_string().as_str() {
        "Strict" => "strict".to_string(),
        "Lax" => "lax".to_string(),
        _ => "no_restriction".to_string(),
    })
}

/// The `gitlab_canary` cookies under the environment's cookie domain, with every attribute
/// needed to put them back.
pub fn stored_canary_cookies(jar: &CookieStore, env: &Environment) -> Vec<StoredCookie> {
    named(jar, COOKIE_NAME)
        .filter(|c| domain_matches(found(c).domain.trim_start_matches('.'), &env.cookie_domain))
        .map(|c| {
            let f = found(c);
            StoredCookie {
                domain: f.domain,
                host_only: f.host_only,
                path: f.path,
                value: f.value,
                secure: c.secure().unwrap_or(false),
                http_only: c.http_only().unwrap_or(false),
                same_site: same_site(c),
                expiration_date: match &c.expires {
                    CookieExpiration::AtUtc(t) => Some(t.unix_timestamp() as f64),
                    CookieExpiration::SessionEnd => None,
                },
            }
        })
        .collect()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A `Set-Cookie` line for `gitlab_canary`, parsed by the jar as a browser would.
#[allow(clippy::too_many_arguments)]
fn set_canary(
    jar: &mut CookieStore,
    host: &str,
    domain: Option<&str>,
    path: &str,
    value: &str,
    secure: bool,
    http_only: bool,
    same_site: Option<&str>,
    expiration_date: Option<f64>,
) -> bool {
    let mut line = format!("{COOKIE_NAME}={value}; Path={path}");
    if let Some(d) = domain {
        line.push_str(&format!("; Domain={}", d.trim_start_matches('.')));
    }
    if secure {
        line.push_str("; Secure");
    }
    if http_only {
        line.push_str("; HttpOnly");
    }
    match same_site {
        Some("strict") => line.push_str("; SameSite=Strict"),
        Some("lax") => line.push_str("; SameSite=Lax"),
        Some("no_restriction") => line.push_str("; SameSite=None"),
        _ => {}
    }
    if let Some(exp) = expiration_date {
        line.push_str(&format!(
            "; Max-Age={}",
            (exp - now_secs()).max(1.0).round()
        ));
    }
    let Ok(url) = Url::parse(&format!("https://{host}{path}")) else {
        return false;
    };
    jar.parse(&line, &url).is_ok()
}

/// Does one of the switch's cookie operations in the jar.
pub fn apply(jar: &mut CookieStore, op: &CookieOp) -> Result<(), String> {
    match op {
        CookieOp::Set {
            url,
            domain,
            value,
            secure,
            expiration_date,
        } => {
            let host = Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .ok_or_else(|| format!("bad cookie URL {url}"))?;
            if set_canary(
                jar,
                &host,
                domain.as_deref(),
                "/",
                value,
                *secure,
                false,
                None,
                Some(*expiration_date),
            ) {
                Ok(())
            } else {
                Err(format!("the jar refused gitlab_canary for {host}"))
            }
        }
        CookieOp::Remove { target, .. } => {
            jar.remove(
                target.domain.trim_start_matches('.'),
                &target.path,
                COOKIE_NAME,
            );
            Ok(())
        }
    }
}

/// Puts the `gitlab_canary` cookies under the environment's cookie domain back as they were
/// found. `Ok(true)` when the jar now holds exactly those.
pub fn restore(
    jar: &mut CookieStore,
    env: &Environment,
    original: &[StoredCookie],
) -> Result<bool, String> {
    for c in stored_canary_cookies(jar, env) {
        jar.remove(c.domain.trim_start_matches('.'), &c.path, COOKIE_NAME);
    }
    for c in original {
        let host = c.domain.trim_start_matches('.');
        let domain = (!c.host_only).then_some(host);
        if !set_canary(
            jar,
            host,
            domain,
            &c.path,
            &c.value,
            c.secure,
            c.http_only,
            c.same_site.as_deref(),
            c.expiration_date,
        ) {
            return Err(format!("the jar refused gitlab_canary for {host}"));
        }
    }
    let now: Vec<FoundCookie> = stored_canary_cookies(jar, env)
        .iter()
        .map(StoredCookie::found)
        .collect();
    let was: Vec<FoundCookie> = original.iter().map(StoredCookie::found).collect();
    Ok(same_cookies(&now, &was))
}

/// A cookie set by the user for a read (`--perf-bar`, `--prefer`): plain attributes.
pub fn set_plain(jar: &mut CookieStore, origin: &Url, name: &str, value: &str) {
    let _ = jar.parse(&format!("{name}={value}; Path=/"), origin);
}

/// The version of the session file's shape.
pub const JAR_VERSION: u32 = 1;

/// What `prepare` keeps for `verify`: the prepared baseline and the session's cookies.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFile {
    pub version: u32,
    /// `https://host[:port]`: where the session belongs.
    pub origin: String,
    /// The page the check loads (a path).
    pub page: String,
    pub prepared: Prepared,
    /// The jar, as `cookie_store` writes it (session cookies included: the check needs the very
    /// session that was prepared).
    pub cookies: serde_json::Value,
}

/// Where a host's prepared session is kept unless `--jar` says otherwise:
/// `$XDG_STATE_HOME/canary-switch/` (or `~/.local/state/canary-switch/`).
pub fn default_path(host: &str) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("canary-switch")
        .join(format!("{host}.session.json"))
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

impl SessionFile {
    pub fn new(origin: &Url, page: &str, prepared: Prepared, jar: &CookieStore) -> SessionFile {
        let mut buf = Vec::new();
        let cookies = cookie_store::serde::json::save_incl_expired_and_nonpersistent(jar, &mut buf)
            .ok()
            .and_then(|_| serde_json::from_slice(&buf).ok())
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        SessionFile {
            version: JAR_VERSION,
            origin: origin.origin().ascii_serialization(),
            page: page.to_string(),
            prepared,
            cookies,
        }
    }

    /// Writes the file, readable and writable by its owner only (0600), in a directory only
    /// the owner can enter when the command makes it.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| file_error(dir, e))?;
            }
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| file_error(path, e))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| file_error(path, e))?;
        // An existing file keeps its mode on open: make it 0600 before anything is written.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| file_error(path, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| file_error(path, e))
    }

    pub fn load(path: &Path, host: &str) -> Result<SessionFile, CliError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::NotPrepared {
                    host: host.to_string(),
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(file_error(path, e)),
        };
        let bad = |detail: String| CliError::BadJar {
            path: path.to_path_buf(),
            detail,
        };
        let file: SessionFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.version != JAR_VERSION {
            return Err(bad(format!("shape version {}", file.version)));
        }
        if file.prepared.host != host {
            return Err(bad(format!("it was prepared for {}", file.prepared.host)));
        }
        Ok(file)
    }

    /// The jar it holds.
    pub fn jar(&self, path: &Path) -> Result<CookieStore, CliError> {
        let bytes = serde_json::to_vec(&self.cookies).unwrap_or_default();
        cookie_store::serde::json::load_all(&bytes[..]).map_err(|e| CliError::BadJar {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_switch::environment::environment_for_url;
    use canary_switch::preference::{plan, Preference, Scope};

    fn jar_with(lines: &[(&str, &str)]) -> CookieStore {
        let mut jar = CookieStore::default();
        for (url, line) in lines {
            jar.parse(line, &Url::parse(url).unwrap()).unwrap();
        }
        jar
    }

    #[test]
    fn the_fingerprint_is_the_extension_s() {
        // printf %s abc | sha256sum → ba7816bf…
        assert_eq!(fingerprint("abc"), "ba7816bf");
        assert_eq!(fingerprint(""), "e3b0c442");
    }

    #[test]
    fn the_session_cookie_is_seen_as_the_browser_sees_it() {
        let jar = jar_with(&[
            (
                "https://staging.gitlab.com/",
                "_gitlab_session=abc; path=/; secure; HttpOnly",
            ),
            (
                "https://staging.gitlab.com/",
                "remember_user_token=x; path=/; max-age=100",
            ),
        ]);
        let s = session_cookie(&jar, "staging.gitlab.com");
        assert_eq!(
            s,
            SessionCookie {
                present: true,
                fingerprint: Some("ba7816bf".into()),
                remember: true,
                ends_with_browser: Some(true)
            }
        );
        assert!(!session_cookie(&jar, "gitlab.com").present);
        let jar = jar_with(&[(
            "https://gitlab.com/",
            "_gitlab_session=abc; path=/; expires=Wed, 01 Jan 2098 00:00:00 GMT",
        )]);
        assert_eq!(
            session_cookie(&jar, "gitlab.com").ends_with_browser,
            Some(false)
        );
    }

    #[test]
    fn this_environment_only_then_restore_as_found() {
        let env = environment_for_url("https://staging.gitlab.com/", &[]).unwrap();
        let mut jar = jar_with(&[(
            "https://staging.gitlab.com/",
            "gitlab_canary=false; Domain=gitlab.com; Path=/; Max-Age=1000",
        )]);
        let original = stored_canary_cookies(&jar, &env);
        assert_eq!(original.len(), 1);
        let p = plan(
            Preference::Next,
            Scope::ThisEnvironment,
            &env,
            &canary_cookies(&jar),
            now_secs(),
        );
        for op in &p.ops {
            apply(&mut jar, op).unwrap();
        }
        let now = canary_cookies(&jar);
        assert_eq!(
            canary_switch::preference::in_force("staging.gitlab.com", &now),
            canary_switch::preference::InForce::Next
        );
        assert!(now.iter().all(|c| c.host_only));
        let url = Url::parse("https://staging.gitlab.com/").unwrap();
        let sent: Vec<String> = jar
            .get_request_values(&url)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(sent, vec!["gitlab_canary=true"]);
        assert_eq!(restore(&mut jar, &env, &original), Ok(true));
        assert_eq!(canary_cookies(&jar)[0].domain, ".gitlab.com");
    }

    #[test]
    fn the_session_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/staging.gitlab.com.session.json");
        let jar = jar_with(&[(
            "https://staging.gitlab.com/",
            "_gitlab_session=abc; path=/; secure; HttpOnly",
        )]);
        let prepared: Prepared = serde_json::from_value(serde_json::json!({
            "version": 1, "host": "staging.gitlab.com", "userId": 101, "username": "qa-user",
            "session": {"present": true, "fingerprint": "ba7816bf"}, "stage": "main",
            "pod": null, "atMs": 1.0, "issueUrl": null
        }))
        .unwrap();
        let origin = Url::parse("https://staging.gitlab.com:8443/").unwrap();
        SessionFile::new(&origin, "/", prepared, &jar)
            .save(&path)
            .unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = SessionFile::load(&path, "staging.gitlab.com").unwrap();
        assert_eq!(back.origin, "https://staging.gitlab.com:8443");
        let jar = back.jar(&path).unwrap();
        assert!(session_cookie(&jar, "staging.gitlab.com").present);
        assert!(matches!(
            SessionFile::load(&path, "gitlab.com"),
            Err(CliError::BadJar { .. })
        ));
        assert!(matches!(
            SessionFile::load(&dir.path().join("none"), "gitlab.com"),
            Err(CliError::NotPrepared { .. })
        ));
    }
}
