//! The switch, end to end: find the target tab's environment and cookie store, apply a choice,
//! verify that the host now receives it, reload the tab once. Shared by the popup and the
//! keyboard command.

use crate::cookies::{store_for_tab, Jar};
use crate::environment::{environment_for_url, Environment};
use crate::errors::UserError;
use crate::messages::{Identity, PROBE_ATTEMPTS, PROBE_RETRY_MS};
use crate::preference::{in_force, plan_keeping, realised, Change, InForce, Preference, Scope};
use crate::settings::{Settings, SETTINGS_KEY};
use crate::tabs::{self, Tab};
use crate::{self as browser, has_host_access, now_secs, Area, BrowserError};

/// How many times a plan is re-derived when the browser's store did something else than asked
/// (Chromium's `cookies.remove` takes every variant a URL matches; Firefox's only the first).
const MAX_ROUNDS: usize = 3;

/// A GitLab tab, its environment and its cookie store.
pub struct Target {
    pub tab: Tab,
    pub env: Environment,
    pub jar: Jar,
}

/// Settings from storage; the defaults (and the reason) when they cannot be read.
pub async fn settings() -> (Settings, Option<UserError>) {
    settings_from(Area::Local.read::<Settings>(SETTINGS_KEY).await)
}

/// The settings in force from what storage answered: defaults when there are none, or when
/// storage failed (with the error to show).
pub fn settings_from(
    read: Result<Option<Settings>, BrowserError>,
) -> (Settings, Option<UserError>) {
    match read {
        Ok(s) => (s.unwrap_or_default().migrated(), None),
        Err(BrowserError(detail)) => (Settings::default(), Some(UserError::Storage { detail })),
    }
}

/// The target for a tab id.
pub async fn target(tab_id: i32, settings: &Settings) -> Result<Target, UserError> {
    let tab = tabs::get(tab_id).await.map_err(|_| UserError::TabGone)?;
    target_for(tab, settings).await
}

/// The target for a tab already read.
pub async fn target_for(tab: Tab, settings: &Settings) -> Result<Target, UserError> {
    // Without host access the browser hides the URL: the tab is not one we may act on.
    let url = tab.url.as_deref().ok_or(UserError::NotWeb)?;
    let env = environment_for_url(url, &settings.custom)?;
    in_tab_store(tab, env).await
}

/// The target for a known environment's host, with the cookie store of `tab` (the tab the
/// popup belongs to, whatever it shows: the choice goes to the store that tab's pages use).
pub async fn target_for_host(
    tab: Tab,
    host: &str,
    settings: &Settings,
) -> Result<Target, UserError> {
    let env = environment_for_url(&format!("https://{host}/"), &settings.custom)?;
    in_tab_store(tab, env).await
}

/// `env` in the cookie store the pages of `tab` use.
async fn in_tab_store(tab: Tab, env: Environment) -> Result<Target, UserError> {
    let store_id = store_for_tab(&tab)
        .await
        .map_err(|BrowserError(detail)| UserError::CookieRefused { detail })?;
    let jar = Jar {
        store_id,
        site: env.cookie_domain.clone(),
    };
    Ok(Target { tab, env, jar })
}

impl Target {
    /// The environment as the user reads it: "staging.gitlab.com (staging)".
    pub fn label(&self) -> String {
        use crate::environment::Kind;
        let key = match self.env.kind {
            Kind::Production => "envProduction",
            Kind::Staging => "envStaging",
            Kind::Other => "envOther",
            Kind::Custom => "envCustom",
        };
        browser::msg(key, &[&self.env.host])
    }

    /// What the tab's host receives now.
    pub async fn in_force(&self) -> Result<InForce, UserError> {
        let found = self.jar.canary_cookies().await.map_err(refused)?;
        Ok(in_force(&self.env.host, &found))
    }

    /// [`Target::in_force`] from a `cookies.getAll({name: "gitlab_canary"})` of the default
    /// store that was started earlier (the popup's loader starts it), when that is this
    /// target's store; else asked afresh.
    pub async fn in_force_from(
        &self,
        default_store: Option<&js_sys::Array>,
    ) -> Result<InForce, UserError> {
        match default_store {
            Some(all) if self.jar.store_id.is_none() => {
                Ok(in_force(&self.env.host, &crate::cookies::found(all)))
            }
            _ => self.in_force().await,
        }
    }

    /// Writes and removes cookies until the host receives `pref`. Returns what changed. For a
    /// session check's own switching, whose cookies are all put back at its end.
    pub async fn apply(&self, pref: Preference, scope: Scope) -> Result<Vec<Change>, UserError> {
        self.apply_keeping(pref, scope, &[]).await
    }

    /// [`Target::apply`], keeping the stage of the other known environments `others` (hosts,
    /// [`crate::environment::known_hosts`]) when the scope is this environment only.
    pub async fn apply_keeping(
        &self,
        pref: Preference,
        scope: Scope,
        others: &[String],
    ) -> Result<Vec<Change>, UserError> {
        let host = self.env.host.clone();
        if !has_host_access(&self.env.origin()).await.unwrap_or(false) {
            return Err(UserError::NoHostAccess { host });
        }
        let mut changes = None;
        for _ in 0..MAX_ROUNDS {
            let found = self.jar.canary_cookies().await.map_err(refused)?;
            // The first round always runs: a repeated choice refreshes the cookie's expiry.
            if changes.is_some() && realised(pref, scope, &self.env, &found) {
                break;
            }
            let plan = plan_keeping(pref, scope, &self.env, &found, now_secs(), others);
            for op in &plan.ops {
                self.jar.apply(op).await.map_err(refused)?;
            }
            changes.get_or_insert(plan.changes);
        }
        let found = self.jar.canary_cookies().await.map_err(refused)?;
        if !realised(pref, scope, &self.env, &found) {
            return Err(UserError::NotRealised { host });
        }
        Ok(changes.unwrap_or_default())
    }
}

fn refused(BrowserError(detail): BrowserError) -> UserError {
    UserError::CookieRefused { detail }
}

/// Who `GET url` (an `/api/v4/user` of `host`) says is signed in, asked with the browser's
/// cookies. A 5xx is tried [`PROBE_ATTEMPTS`] times; if it persists, the same request is made
/// once without the session ([`without_session`]) to tell a session that breaks GitLab from
/// GitLab failing for everyone.
pub async fn identity_at(url: &str, timeout_ms: u32, jar: &Jar, host: &str) -> Identity {
    let mut status = 0;
    for attempt in 0..PROBE_ATTEMPTS {
        if attempt > 0 {
            tabs::sleep(PROBE_RETRY_MS * attempt).await;
        }
        match browser::fetch_json(url, timeout_ms).await {
            Ok((s, _)) if s >= 500 => status = s,
            Ok((s, body)) => return Identity::from_api(s, browser::from_js(body).ok()),
            Err(BrowserError(detail)) => return Identity::Unreachable { detail },
        }
    }
    let without = without_session(jar, host, async {
        browser::fetch_json(url, timeout_ms).await.map(|(s, _)| s)
    })
    .await;
    Identity::Failing {
        status,
        without: without.ok(),
    }
}

/// The control request: `request` made while `_gitlab_session` and `remember_user_token` are
/// out of the jar, so that it reaches the same stage (`gitlab_canary` stays) as a visitor
/// without a session (and Devise signs nobody in again); both are put back with all their
/// attributes right after, whatever the answer.
pub async fn without_session(
    jar: &Jar,
    host: &str,
    request: impl std::future::Future<Output = Result<u16, BrowserError>>,
) -> Result<u16, BrowserError> {
    let mut taken = jar.take(SESSION_COOKIE, host).await?;
    let answer = match jar.take(REMEMBER_COOKIE, host).await {
        Ok(remember) => {
            taken.extend(remember);
            request.await
        }
        Err(e) => Err(e),
    };
    jar.put_back(&taken).await?;
    answer
}

/// GitLab's session cookie.
pub const SESSION_COOKIE: &str = "_gitlab_session";
/// Devise rememberable's cookie: only whether it is there is ever read.
pub const REMEMBER_COOKIE: &str = "remember_user_token";

/// One sentence for the user.
pub fn error_text(e: &UserError) -> String {
    browser::msg(e.key(), &e.subs())
}

/// The sentences describing a choice's changes.
pub fn change_text(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            let (key, subs) = c.message();
            let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
            browser::msg(key, &subs)
        })
        .collect::<Vec<_>>()
        .join(" ")
}
