//! One GitLab environment, as the extension's tab and probes see it: the page, its reading and
//! detection, who `/api/v4/user` says is signed in (as `extension/user.js` asks), the session
//! cookie, and GitLab's own sign-in and sign-out forms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canary_switch::environment::{environment_for_url, CustomEnvironment, Environment};
use canary_switch::messages::{ApiUser, Identity, UserReport, PROBE_ATTEMPTS, PROBE_RETRY_MS};
use canary_switch::reading::{Fetched, Json, PageReading};
use canary_switch::session::{Observation, SessionCookie};
use canary_switch::stage::{detect, Detection};
use scraper::{ElementRef, Html, Selector};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::CliError;
use crate::jar;
use crate::net::{Answer, Client, NetError};
use crate::reader;

/// Milliseconds since the epoch: the clock the core takes as an argument.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `serde_json` for the page's JSON strings, where the extension uses the browser's
/// `JSON.parse` ([`canary_switch::reading::Json`]).
pub struct SerdeJson;

impl Json for SerdeJson {
    fn parse<T: DeserializeOwned>(&self, text: &str) -> Option<T> {
        serde_json::from_str(text).ok()
    }
}

/// The origin and environment that `--env` (a host, `host:port` or a URL) names. Hosts outside
/// GitLab.com are self-managed environments whose cookie domain is the host itself.
pub fn target(env: &str) -> Result<(Url, Environment), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--env {env}: expected a GitLab host such as staging.gitlab.com (or https://host:port)."
        ))
    };
    let with_scheme = if env.contains("://") {
        env.to_string()
    } else {
        format!("https://{env}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| bad())?;
    let host = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
    if !matches!(url.scheme(), "https" | "http") || url.path() != "/" {
        return Err(bad());
    }
    let custom = [CustomEnvironment {
        host: host.clone(),
        cookie_domain: host.clone(),
    }];
    let page = format!("{}://{host}/", url.scheme());
    let environment = environment_for_url(&page, &[])
        .or_else(|_| environment_for_url(&page, &custom))
        .map_err(|_| bad())?;
    let mut origin = url.clone();
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    Ok((origin, environment))
}

/// The environment's label as the extension shows it ("staging.gitlab.com (staging)").
pub fn label(env: &Environment) -> String {
    use canary_switch::environment::Kind;
    let key = match env.kind {
        Kind::Production => "envProduction",
        Kind::Staging => "envStaging",
        Kind::Other => "envOther",
        Kind::Custom => "envCustom",
    };
    crate::output::msg(key, &[&env.host])
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s:?}: {e}"))
}

/// What a page's sign-in form needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignInForm {
    action: Url,
    token_name: String,
    token: String,
}

/// The CSRF token of a page: `<meta name="csrf-token">` (its parameter from `csrf-param`).
fn csrf(doc: &Html) -> Option<(String, String)> {
    let meta = |name: &str| {
        doc.select(&sel(&format!(r#"meta[name="{name}"]"#)))
            .next()
            .and_then(|m| m.value().attr("content"))
            .map(str::to_string)
    };
    let token = meta("csrf-token").filter(|t| !t.is_empty())?;
    Some((
        meta("csrf-param").unwrap_or_else(|| "authenticity_token".into()),
        token,
    ))
}

/// GitLab asks for a second factor (OTP, WebAuthn) instead of signing in.
fn two_factor(doc: &Html) -> bool {
    doc.select(&sel(
        r#"input[name="user[otp_attempt]"], input[name="user[device_response]"], #js-authenticate-token-2fa, form[action*="two_factor"]"#,
    ))
    .next()
    .is_some()
}

/// The password sign-in form of a page, posted to the page's own origin only.
fn sign_in_form(doc: &Html, page: &Url) -> Option<SignInForm> {
    let form: ElementRef = doc.select(&sel("form")).find(|f| {
        f.select(&sel(r#"input[name="user[login]"]"#))
            .next()
            .is_some()
    })?;
    let action = page
        .join(form.value().attr("action").unwrap_or("/users/sign_in"))
        .ok()
        .filter(|a| a.origin() == page.origin())?;
    let (token_name, meta_token) = csrf(doc).unzip();
    let token_name = token_name.unwrap_or_else(|| "authenticity_token".into());
    let hidden = form
        .select(&sel(&format!(r#"input[name="{token_name}"]"#)))
        .next()
        .and_then(|i| i.value().attr("value"))
        .map(str::to_string);
    Some(SignInForm {
        action,
        token: hidden.or(meta_token)?,
        token_name,
    })
}

/// One environment, its session and the page the check loads.
pub struct Gitlab {
    pub client: Client,
    pub origin: Url,
    pub env: Environment,
    /// The page the check loads (a path).
    pub page: String,
    last_page: Option<Result<Answer, NetError>>,
}

impl Gitlab {
    pub fn new(client: Client, origin: Url, env: Environment, page: &str) -> Gitlab {
        Gitlab {
            client,
            origin,
            env,
            page: page.to_string(),
            last_page: None,
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.origin
            .join(path)
            .unwrap_or_else(|_| self.origin.clone())
    }

    /// Loads (or reloads) the page, as the tab does.
    pub fn load_page(&mut self) -> Result<u16, NetError> {
        let url = self.url(&self.page.clone());
        let answer = self.client.get(&url);
        let status = answer.as_ref().map(|a| a.status).map_err(Clone::clone);
        self.last_page = Some(answer);
        status
    }

    /// Drops the loaded page: the next probe loads it again.
    pub fn forget_page(&mut self) {
        self.last_page = None;
    }

    /// What the page reader returns for the loaded page (loading it first if none is),
    /// with the peek results fetched from the page's origin with the jar.
    pub fn reading(&mut self) -> Result<PageReading, NetError> {
        if self.last_page.is_none() {
            let _ = self.load_page();
        }
        let page = match &self.last_page {
            Some(Ok(a)) => a.clone(),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(self.unreachable("no page")),
        };
        Ok(self.read_answer(&page))
    }

    /// The reading of an answer already fetched (the peek results fetched now).
    pub fn read_answer(&mut self, page: &Answer) -> PageReading {
        let read = reader::read(&page.body, &page.url);
        let fetched = read.peek_request.clone().map(|u| self.fetch_peek(&u));
        read.complete(fetched)
    }

    fn fetch_peek(&mut self, url: &Url) -> Fetched {
        match self.client.get(url) {
            Ok(a) => Fetched {
                status: a.status,
                body: Some(a.body),
                error: None,
            },
            Err(e) => Fetched {
                status: 0,
                body: None,
                error: Some(e.to_string()),
            },
        }
    }

    /// The stage that served the loaded page, as the background decides it.
    pub fn detection(&mut self) -> Option<Detection> {
        let reading = self.reading().ok()?;
        let signals = reading.signals(&SerdeJson, self.env.is_gitlab_com());
        Some(detect(&signals, now_ms()))
    }

    fn unreachable(&self, detail: &str) -> NetError {
        NetError::Unreachable {
            host: self.env.host.clone(),
            detail: detail.into(),
        }
    }

    /// `GET /api/v4/user` as `extension/user.js` asks it: a 5xx is tried [`PROBE_ATTEMPTS`]
    /// times in all (pauses of n × [`PROBE_RETRY_MS`]); when it persists, the control request
    /// tells a session that breaks every request from GitLab failing for everyone: the same
    /// request with every cookie of the jar but `_gitlab_session` and `remember_user_token`, as
    /// the extension's `without_session` makes it. `gitlab_canary` is sent, so the control
    /// reaches the stage that failed (the router routes by it): without it, a stage down for
    /// everyone would answer the session's requests with 502 while the other stage answered
    /// the control, and look like a broken session.
    pub fn identity(&mut self) -> Identity {
        let url = self.url("/api/v4/user");
        let mut answer = self.client.get(&url);
        for attempt in 1..PROBE_ATTEMPTS {
            match &answer {
                Ok(a) if a.status >= 500 => {
                    std::thread::sleep(Duration::from_millis(u64::from(PROBE_RETRY_MS * attempt)));
                    answer = self.client.get(&url);
                }
                _ => break,
            }
        }
        let report = match answer {
            Err(e) => UserReport {
                error: Some(e.to_string()),
                ..UserReport::default()
            },
            Ok(a) if a.status >= 500 => match self
                .client
                .get_without(&url, &[jar::SESSION_COOKIE, jar::REMEMBER_COOKIE])
            {
                Ok(c) => UserReport {
                    status: Some(a.status),
                    without: Some(c.status),
                    ..UserReport::default()
                },
                Err(e) => UserReport {
                    status: Some(a.status),
                    without_error: Some(e.to_string()),
                    ..UserReport::default()
                },
            },
            Ok(a) => {
                let user = (a.status == 200)
                    .then(|| serde_json::from_str::<ApiUser>(&a.body).ok())
                    .flatten();
                return UserReport {
                    status: Some(a.status),
                    ..UserReport::default()
                }
                .identity(user);
            }
        };
        report.identity(None)
    }

    pub fn session(&self) -> SessionCookie {
        jar::session_cookie(&self.client.jar, &self.env.host)
    }

    /// One probe: who is signed in, which stage served the page, and the session cookie.
    pub fn observe(&mut self) -> Observation {
        let identity = self.identity();
        let detection = self.detection();
        Observation {
            at_ms: now_ms(),
            identity,
            detection,
            session: self.session(),
        }
    }

    /// Signs in through GitLab's sign-in form, as a person does.
    pub fn sign_in(&mut self, user: &str, password: &str, remember: bool) -> Result<(), CliError> {
        let host = self.env.host.clone();
        let page_url = self.url("/users/sign_in");
        let page = self.client.get(&page_url)?;
        let (form, two_fa) = {
            let doc = Html::parse_document(&page.body);
            (sign_in_form(&doc, &page.url), two_factor(&doc))
        };
        if two_fa {
            return Err(CliError::TwoFactor { host });
        }
        let Some(form) = form else {
            return Err(CliError::NoSignInForm {
                host,
                status: page.status,
            });
        };
        let mut fields = vec![
            (form.token_name.as_str(), form.token.as_str()),
            ("user[login]", user),
            ("user[password]", password),
            // The form sends the hidden 0, then the ticked box's 1.
            ("user[remember_me]", "0"),
        ];
        if remember {
            fields.push(("user[remember_me]", "1"));
        }
        let answer = self.client.post_form(&form.action, &fields)?;
        self.forget_page();
        let (again, two_fa) = {
            let doc = Html::parse_document(&answer.body);
            (sign_in_form(&doc, &answer.url).is_some(), two_factor(&doc))
        };
        if two_fa {
            return Err(CliError::TwoFactor { host });
        }
        match self.identity() {
            Identity::SignedIn { username, .. } if username == user => Ok(()),
            Identity::SignedIn { .. } => Err(CliError::BadCredentials { host }),
            _ if again && answer.status == 200 => Err(CliError::BadCredentials { host }),
            _ => Err(CliError::SignInRefused {
                host,
                status: answer.status,
            }),
        }
    }

    /// Signs out as GitLab's user menu does: `POST /users/sign_out` with the page's CSRF token.
    pub fn sign_out(&mut self) -> Result<(), CliError> {
        let host = self.env.host.clone();
        let page = self.client.get(&self.url(&self.page.clone()))?;
        let token = csrf(&Html::parse_document(&page.body));
        let Some((name, token)) = token else {
            return Err(CliError::SignInRefused {
                host,
                status: page.status,
            });
        };
        let answer = self.client.post_form(
            &self.url("/users/sign_out"),
            &[(name.as_str(), token.as_str())],
        )?;
        self.forget_page();
        if answer.status >= 400 {
            return Err(CliError::SignInRefused {
                host,
                status: answer.status,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_a_host_an_origin_or_a_url() {
        let (o, e) = target("staging.gitlab.com").unwrap();
        assert_eq!(o.as_str(), "https://staging.gitlab.com/");
        assert_eq!(label(&e), "staging.gitlab.com (staging)");
        let (o, e) = target("https://gitlab.com:8443").unwrap();
        assert_eq!(o.as_str(), "https://gitlab.com:8443/");
        assert_eq!(label(&e), "gitlab.com (production)");
        let (_, e) = target("gitlab.example.test").unwrap();
        assert_eq!(label(&e), "gitlab.example.test (self-managed)");
        assert!(!e.is_gitlab_com());
        for bad in ["", "https://gitlab.com/a/b", "ftp://gitlab.com", "a b"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sign_in_form_and_its_token() {
        let page = Url::parse("https://gitlab.com/users/sign_in").unwrap();
        let doc = Html::parse_document(concat!(
            r#"<head><meta name="csrf-param" content="authenticity_token"><meta name="csrf-token" content="META"></head>"#,
            r#"<body><form action="/users/sign_in" method="post"><input type="hidden" name="authenticity_token" value="FORM">"#,
            r#"<input name="user[login]"><input name="user[password]" type="password"></form></body>"#
        ));
        assert_eq!(
            sign_in_form(&doc, &page),
            Some(SignInForm {
                action: Url::parse("https://gitlab.com/users/sign_in").unwrap(),
                token_name: "authenticity_token".into(),
                token: "FORM".into()
            })
        );
        assert!(!two_factor(&doc));
        // A form that posts elsewhere never gets the password.
        let elsewhere = Html::parse_document(
            r#"<form action="https://evil.test/x"><input name="authenticity_token" value="t"><input name="user[login]"></form>"#,
        );
        assert_eq!(sign_in_form(&elsewhere, &page), None);
        let otp = Html::parse_document(
            r#"<form action="/users/sign_in"><input name="user[otp_attempt]"></form>"#,
        );
        assert!(two_factor(&otp));
    }
}
