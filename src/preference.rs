//! Current | Next | Auto, and the cookie writes and removals that make the server see it.
//!
//! The `gitlab_canary` cookie can exist in two variants for one host: the "all environments"
//! cookie on `.gitlab.com` (written by next.gitlab.com) and a host-only cookie (written by
//! GitLab's `g x` shortcut). Both are sent, so a contradicting one makes the routing ambiguous.
//! [`plan`] turns a choice and the cookies found into the operations that leave exactly the
//! chosen value visible; [`in_force`] reads back what a host receives. Pure: no browser, no clock.

use serde::{Deserialize, Serialize};

use crate::environment::{domain_matches, Environment};

/// The routing cookie HAProxy reads.
pub const COOKIE_NAME: &str = "gitlab_canary";
/// How long a written cookie lives: one year, as next.gitlab.com writes it (browsers cap at 400 days).
pub const COOKIE_LIFETIME_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// The user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preference {
    /// The main stage: `gitlab_canary=false`.
    Current,
    /// The canary stage: `gitlab_canary=true`.
    Next,
    /// No cookie: HAProxy decides (about 5% canary, forced paths on production).
    Auto,
}

impl Preference {
    /// The cookie value that realises this choice; `None` means no cookie at all.
    pub fn cookie_value(self) -> Option<&'static str> {
        match self {
            Preference::Current => Some("false"),
            Preference::Next => Some("true"),
            Preference::Auto => None,
        }
    }

    /// The keyboard toggle: Next goes to Current, anything else to Next.
    pub fn toggled(self) -> Preference {
        match self {
            Preference::Next => Preference::Current,
            Preference::Current | Preference::Auto => Preference::Next,
        }
    }

    pub fn parse(s: &str) -> Option<Preference> {
        match s {
            "current" | "Current" => Some(Preference::Current),
            "next" | "Next" => Some(Preference::Next),
            "auto" | "Auto" => Some(Preference::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preference::Current => "Current",
            Preference::Next => "Next",
            Preference::Auto => "Auto",
        }
    }
}

/// Where a choice is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// A domain cookie on the environment's cookie domain (`.gitlab.com`): every environment.
    #[default]
    AllEnvironments,
    /// A host-only cookie: this environment only.
    ThisEnvironment,
}

/// A `gitlab_canary` cookie as the browser's cookies API reports it (other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundCookie {
    /// `.gitlab.com` for a domain cookie, the host for a host-only one.
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub value: String,
}

impl FoundCookie {
    /// The browser sends this cookie to `host` (path ignored: any path may be visited).
    pub fn sent_to(&self, host: &str) -> bool {
        if self.host_only {
            self.domain.trim_start_matches('.') == host
        } else {
            domain_matches(host, &self.domain)
        }
    }

    fn bare_domain(&self) -> &str {
        self.domain.trim_start_matches('.')
    }
}

/// A cookie with every attribute needed to write it back exactly as it was (the session
/// check restores the user's `gitlab_canary` cookies with these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCookie {
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub value: String,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub http_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
    /// Absent for a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<f64>,
}

impl StoredCookie {
    pub fn found(&self) -> FoundCookie {
        FoundCookie {
            domain: self.domain.clone(),
            host_only: self.host_only,
            path: self.path.clone(),
            value: self.value.clone(),
        }
    }

    /// The URL that designates this cookie for the cookies API.
    pub fn url(&self) -> String {
        format!(
            "https://{}{}",
            self.domain.trim_start_matches('.'),
            self.path
        )
    }
}

/// Whether two cookie lists hold the same cookies (name, variant, path, value), in any order.
pub fn same_cookies(a: &[FoundCookie], b: &[FoundCookie]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.contains(c)) && b.iter().all(|c| a.contains(c))
}

/// The cookies under `cookie_domain` (those a switch may touch), which the check restores.
pub fn under_domain<'a>(cookies: &'a [StoredCookie], cookie_domain: &str) -> Vec<&'a StoredCookie> {
    cookies
        .iter()
        .filter(|c| domain_matches(c.domain.trim_start_matches('.'), cookie_domain))
        .collect()
}

/// One operation on the cookie store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum CookieOp {
    /// Write `gitlab_canary=value` for `url`; `domain` set means a domain cookie, absent host-only.
    #[serde(rename_all = "camelCase")]
    Set {
        url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        value: &'static str,
        secure: bool,
        expiration_date: f64,
    },
    /// Remove the cookie that `url` (host + path) designates.
    #[serde(rename_all = "camelCase")]
    Remove { url: String, target: FoundCookie },
}

/// What a choice changed, for the one sentence the popup shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Change {
    /// Wrote the cookie: on `.domain` for all environments, or host-only on `domain`.
    #[serde(rename_all = "camelCase")]
    Wrote {
        scope: Scope,
        domain: String,
        value: &'static str,
    },
    /// Removed a cookie. `contradicted`: it disagreed with the choice (otherwise Auto removed it).
    /// `other_environments`: it also reached environments other than the target one.
    #[serde(rename_all = "camelCase")]
    Removed {
        host_only: bool,
        domain: String,
        value: String,
        contradicted: bool,
        other_environments: bool,
    },
    /// A removed `.domain` cookie's value was written again as a host-only cookie for another
    /// known environment, so that "this environment only" leaves that one's stage as it was.
    #[serde(rename_all = "camelCase")]
    Kept { host: String, value: &'static str },
    /// Auto was chosen and there was nothing to remove.
    NothingToRemove,
}

impl Change {
    /// The `messages.json` key and substitutions of the sentence that tells the user.
    pub fn message(&self) -> (&'static str, Vec<String>) {
        match self {
            Change::Wrote {
                scope,
                domain,
                value,
            } => {
                let label = if *value == "true" { "Next" } else { "Current" };
                let key = match scope {
                    Scope::AllEnvironments => "changeWroteAll",
                    Scope::ThisEnvironment => "changeWroteHost",
                };
                (key, vec![label.into(), (*value).into(), domain.clone()])
            }
            Change::Removed {
                host_only,
                domain,
                value,
                contradicted,
                ..
            } => {
                let key = match (contradicted, host_only) {
                    (true, true) => "changeRemovedHostOnly",
                    (true, false) => "changeRemovedDomain",
                    (false, true) => "changeRemovedAutoHost",
                    (false, false) => "changeRemovedAutoDomain",
                };
                (key, vec![domain.clone(), value.clone()])
            }
            Change::Kept { host, value } => {
                let label = if *value == "true" { "Next" } else { "Current" };
                (
                    "changeKeptHost",
                    vec![host.clone(), label.into(), (*value).into()],
                )
            }
            Change::NothingToRemove => ("changeNothing", vec![]),
        }
    }
}

/// The operations for one choice, and what they change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub ops: Vec<CookieOp>,
    pub changes: Vec<Change>,
}

/// What a host receives, read from the cookies that reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum InForce {
    /// No cookie: routing decides.
    Auto,
    /// Every cookie sent says `false`.
    Current,
    /// Every cookie sent says `true`.
    Next,
    /// Cookies that disagree (or a value HAProxy does not know): the stage is ambiguous.
    Conflict { values: Vec<String> },
}

impl InForce {
    pub fn preference(&self) -> Option<Preference> {
        match self {
            InForce::Auto => Some(Preference::Auto),
            InForce::Current => Some(Preference::Current),
            InForce::Next => Some(Preference::Next),
            InForce::Conflict { .. } => None,
        }
    }
}

/// What `host` receives from `cookies` (all named `gitlab_canary`).
pub fn in_force(host: &str, cookies: &[FoundCookie]) -> InForce {
    let values: Vec<String> = cookies
        .iter()
        .filter(|c| c.sent_to(host))
        .map(|c| c.value.clone())
        .collect();
    if values.is_empty() {
        InForce::Auto
    } else if values.iter().all(|v| v == "true") {
        InForce::Next
    } else if values.iter().all(|v| v == "false") {
        InForce::Current
    } else {
        InForce::Conflict { values }
    }
}

/// The cookies a choice with `scope` must bring in line: those sent to the target host, and for
/// "all environments" every cookie under the environment's cookie domain.
fn in_reach(scope: Scope, env: &Environment, c: &FoundCookie) -> bool {
    c.sent_to(&env.host)
        || (scope == Scope::AllEnvironments && domain_matches(c.bare_domain(), &env.cookie_domain))
}

/// The operations that make `env` (and, for all environments, its siblings) receive `pref`.
///
/// Removals come first and the write last: a browser that removes more than the one cookie asked
/// for (Chromium removes every variant a URL matches) still ends with the chosen cookie.
pub fn plan(
    pref: Preference,
    scope: Scope,
    env: &Environment,
    found: &[FoundCookie],
    now_secs: f64,
) -> Plan {
    plan_keeping(pref, scope, env, found, now_secs, &[])
}

/// [`plan`], keeping its word for "this environment only": when a `.domain` cookie must go
/// because it contradicts this environment's choice, each of the other known environments in
/// `others` (hosts) that it reached, and that has no host-only cookie of its own, gets its value
/// back as a host-only cookie. So only this environment changes, and no host ever receives two
/// different values.
pub fn plan_keeping(
    pref: Preference,
    scope: Scope,
    env: &Environment,
    found: &[FoundCookie],
    now_secs: f64,
    others: &[String],
) -> Plan {
    let value = pref.cookie_value();
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    let mut keep: Vec<&FoundCookie> = Vec::new();
    let target_domain = match scope {
        Scope::AllEnvironments => env.cookie_domain.as_str(),
        Scope::ThisEnvironment => env.host.as_str(),
    };
    let is_target = |c: &FoundCookie| {
        value.is_some()
            && c.path == "/"
            && c.bare_domain() == target_domain
            && c.host_only == (scope == Scope::ThisEnvironment)
    };
    for c in found.iter().filter(|c| in_reach(scope, env, c)) {
        if is_target(c) || Some(c.value.as_str()) == value {
            continue;
        }
        let reaches_others = !c.host_only && c.bare_domain() != env.host;
        ops.push(CookieOp::Remove {
            url: format!("https://{}{}", c.bare_domain(), c.path),
            target: c.clone(),
        });
        changes.push(Change::Removed {
            host_only: c.host_only,
            domain: c.bare_domain().to_string(),
            value: c.value.clone(),
            contradicted: value.is_some(),
            other_environments: reaches_others,
        });
        if scope == Scope::ThisEnvironment && reaches_others {
            keep.push(c);
        }
    }
    // The removed cookies' values, back for the other environments they reached.
    let mut kept_ops = Vec::new();
    for host in others.iter().filter(|h| **h != env.host) {
        let has_own = found.iter().any(|c| c.host_only && c.sent_to(host));
        let Some(removed) = keep.iter().find(|c| c.sent_to(host)) else {
            continue;
        };
        let value = match removed.value.as_str() {
            "true" => "true",
            "false" => "false",
            // A value HAProxy does not know is not worth keeping.
            _ => continue,
        };
        if has_own {
            continue;
        }
        kept_ops.push(CookieOp::Set {
            url: format!("https://{host}/"),
            domain: None,
            value,
            secure: true,
            expiration_date: (now_secs + COOKIE_LIFETIME_SECS).floor(),
        });
        changes.push(Change::Kept {
            host: host.clone(),
            value,
        });
    }
    ops.extend(kept_ops);
    match value {
        Some(value) => {
            ops.push(CookieOp::Set {
                url: format!("{}/", env.origin()),
                domain: (scope == Scope::AllEnvironments).then(|| env.cookie_domain.clone()),
                value,
                secure: env.https,
                expiration_date: (now_secs + COOKIE_LIFETIME_SECS).floor(),
            });
            changes.insert(
                0,
                Change::Wrote {
                    scope,
                    domain: target_domain.to_string(),
                    value,
                },
            );
        }
        None if changes.is_empty() => changes.push(Change::NothingToRemove),
        None => {}
    }
    Plan { ops, changes }
}

/// Whether the cookies after a switch realise the choice: the target host receives exactly the
/// chosen value (or nothing, for Auto), and so does every other host that had a cookie in reach.
pub fn realised(pref: Preference, scope: Scope, env: &Environment, after: &[FoundCookie]) -> bool {
    let want = match pref {
        Preference::Auto => InForce::Auto,
        Preference::Current => InForce::Current,
        Preference::Next => InForce::Next,
    };
    if in_force(&env.host, after) != want {
        return false;
    }
    match scope {
        Scope::ThisEnvironment => true,
        Scope::AllEnvironments => after
            .iter()
            .filter(|c| in_reach(scope, env, c))
            .all(|c| Some(c.value.as_str()) == pref.cookie_value()),
    }
}

/// Applies `plan`'s operations to a list of cookies the way a cookie store would (exact variant
/// match). Used by the tests, and to describe a plan's result without touching the browser.
pub fn simulate(found: &[FoundCookie], ops: &[CookieOp]) -> Vec<FoundCookie> {
    let mut jar: Vec<FoundCookie> = found.to_vec();
    for op in ops {
        match op {
            CookieOp::Remove { target, .. } => jar.retain(|c| c != target),
            CookieOp::Set {
                url, domain, value, ..
            } => {
                let host = url
                    .split_once("://")
                    .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
                    .unwrap_or(url);
                let (d, host_only) = match domain {
                    Some(d) => (format!(".{}", d.trim_start_matches('.')), false),
                    None => (host.to_string(), true),
                };
                jar.retain(|c| !(c.domain == d && c.host_only == host_only && c.path == "/"));
                jar.push(FoundCookie {
                    domain: d,
                    host_only,
                    path: "/".into(),
                    value: (*value).to_string(),
                });
            }
        }
    }
    jar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::environment_for_url;

    const NOW: f64 = 1_800_000_000.0;

    fn env(host: &str) -> Environment {
        environment_for_url(&format!("https://{host}/"), &[]).unwrap()
    }
    fn domain(value: &str) -> FoundCookie {
        FoundCookie {
            domain: ".gitlab.com".into(),
            host_only: false,
            path: "/".into(),
            value: value.into(),
        }
    }
    fn host_only(host: &str, value: &str) -> FoundCookie {
        FoundCookie {
            domain: host.into(),
            host_only: true,
            path: "/".into(),
            value: value.into(),
        }
    }

    /// Every preference × scope × combination of existing cookies (none, domain true/false/junk,
    /// host-only on the target true/false, host-only on a sibling true/false) ends realised, on
    /// both the target host and — for all environments — the sibling.
    #[test]
    fn every_choice_over_every_cookie_combination_is_realised() {
        let stg = env("staging.gitlab.com");
        let domain_opts: [Option<&str>; 4] = [None, Some("true"), Some("false"), Some("yes")];
        let host_opts: [Option<&str>; 3] = [None, Some("true"), Some("false")];
        let mut cases = 0;
        for pref in [Preference::Current, Preference::Next, Preference::Auto] {
            for scope in [Scope::AllEnvironments, Scope::ThisEnvironment] {
                for d in domain_opts {
                    for h in host_opts {
                        for sibling in host_opts {
                            let mut found = Vec::new();
                            if let Some(v) = d {
                                found.push(domain(v));
                            }
                            if let Some(v) = h {
                                found.push(host_only("staging.gitlab.com", v));
                            }
                            if let Some(v) = sibling {
                                found.push(host_only("gitlab.com", v));
                            }
                            let plan = plan(pref, scope, &stg, &found, NOW);
                            let after = simulate(&found, &plan.ops);
                            assert!(
                                realised(pref, scope, &stg, &after),
                                "{pref:?} {scope:?} {found:?} -> {after:?}"
                            );
                            // A plan applied twice changes nothing more: idempotent.
                            let again = super::plan(pref, scope, &stg, &after, NOW);
                            assert!(again
                                .ops
                                .iter()
                                .all(|op| matches!(op, CookieOp::Set { .. })));
                            if scope == Scope::AllEnvironments {
                                let prod = env("gitlab.com");
                                let want = pref.cookie_value();
                                let got = in_force("gitlab.com", &after);
                                assert_eq!(got.preference().and_then(|p| p.cookie_value()), want);
                                assert!(realised(pref, Scope::ThisEnvironment, &prod, &after));
                            } else if d.is_none() || pref == Preference::Auto {
                                // This-environment choices leave a sibling's own cookie alone.
                                assert_eq!(
                                    after.iter().any(|c| c.domain == "gitlab.com"),
                                    sibling.is_some()
                                );
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 3 * 2 * 4 * 3 * 3);
    }

    #[test]
    fn next_for_all_environments_writes_the_domain_cookie_like_next_gitlab_com() {
        let p = plan(
            Preference::Next,
            Scope::AllEnvironments,
            &env("staging.gitlab.com"),
            &[],
            NOW,
        );
        assert_eq!(
            p.ops,
            vec![CookieOp::Set {
                url: "https://staging.gitlab.com/".into(),
                domain: Some("gitlab.com".into()),
                value: "true",
                secure: true,
                expiration_date: NOW + COOKIE_LIFETIME_SECS,
            }]
        );
        assert_eq!(
            p.changes,
            vec![Change::Wrote {
                scope: Scope::AllEnvironments,
                domain: "gitlab.com".into(),
                value: "true"
            }]
        );
    }

    #[test]
    fn current_for_this_environment_writes_host_only() {
        let p = plan(
            Preference::Current,
            Scope::ThisEnvironment,
            &env("gitlab.com"),
            &[],
            NOW,
        );
        assert!(matches!(
            &p.ops[..],
            [CookieOp::Set {
                domain: None,
                value: "false",
                ..
            }]
        ));
    }

    #[test]
    fn contradicting_g_x_cookie_is_removed_with_its_own_domain_and_named() {
        let found = [host_only("staging.gitlab.com", "false")];
        let p = plan(
            Preference::Next,
            Scope::AllEnvironments,
            &env("staging.gitlab.com"),
            &found,
            NOW,
        );
        assert_eq!(
            p.ops[0],
            CookieOp::Remove {
                url: "https://staging.gitlab.com/".into(),
                target: found[0].clone()
            }
        );
        assert!(matches!(p.ops[1], CookieOp::Set { .. }));
        assert_eq!(
            p.changes[1],
            Change::Removed {
                host_only: true,
                domain: "staging.gitlab.com".into(),
                value: "false".into(),
                contradicted: true,
                other_environments: false
            }
        );
    }

    #[test]
    fn agreeing_cookies_are_left_alone() {
        let found = [host_only("staging.gitlab.com", "true"), domain("true")];
        let p = plan(
            Preference::Next,
            Scope::ThisEnvironment,
            &env("staging.gitlab.com"),
            &found,
            NOW,
        );
        assert_eq!(p.ops.len(), 1);
        assert_eq!(p.changes.len(), 1);
    }

    #[test]
    fn auto_removes_everything_in_reach_and_says_so() {
        let found = [
            domain("true"),
            host_only("staging.gitlab.com", "false"),
            host_only("gitlab.com", "true"),
        ];
        let stg = env("staging.gitlab.com");
        let p = plan(Preference::Auto, Scope::AllEnvironments, &stg, &found, NOW);
        assert_eq!(p.ops.len(), 3);
        assert!(simulate(&found, &p.ops).is_empty());
        // This environment only: the sibling's host-only cookie stays; the domain cookie goes,
        // flagged as reaching other environments.
        let p = plan(Preference::Auto, Scope::ThisEnvironment, &stg, &found, NOW);
        assert_eq!(
            simulate(&found, &p.ops),
            vec![host_only("gitlab.com", "true")]
        );
        assert!(p.changes.iter().any(|c| matches!(
            c,
            Change::Removed {
                host_only: false,
                other_environments: true,
                contradicted: false,
                ..
            }
        )));
        let p = plan(Preference::Auto, Scope::AllEnvironments, &stg, &[], NOW);
        assert_eq!(p.changes, vec![Change::NothingToRemove]);
        assert!(p.ops.is_empty());
    }

    #[test]
    fn cookies_outside_reach_are_never_touched() {
        let found = [
            host_only("staging.gitlab.com.evil.example", "false"),
            FoundCookie {
                domain: ".evil.example".into(),
                host_only: false,
                path: "/".into(),
                value: "false".into(),
            },
        ];
        let p = plan(
            Preference::Next,
            Scope::AllEnvironments,
            &env("staging.gitlab.com"),
            &found,
            NOW,
        );
        assert_eq!(p.ops.len(), 1);
    }

    #[test]
    fn a_cookie_on_another_path_is_removed_on_that_path() {
        let found = [FoundCookie {
            path: "/gitlab-org".into(),
            ..host_only("gitlab.com", "false")
        }];
        let p = plan(
            Preference::Next,
            Scope::AllEnvironments,
            &env("gitlab.com"),
            &found,
            NOW,
        );
        assert!(
            matches!(&p.ops[0], CookieOp::Remove { url, .. } if url == "https://gitlab.com/gitlab-org")
        );
    }

    #[test]
    fn in_force_reads_what_the_host_receives() {
        assert_eq!(in_force("gitlab.com", &[]), InForce::Auto);
        assert_eq!(in_force("gitlab.com", &[domain("true")]), InForce::Next);
        assert_eq!(
            in_force("staging.gitlab.com", &[host_only("gitlab.com", "true")]),
            InForce::Auto
        );
        assert_eq!(
            in_force(
                "gitlab.com",
                &[domain("true"), host_only("gitlab.com", "false")]
            ),
            InForce::Conflict {
                values: vec!["true".into(), "false".into()]
            }
        );
        assert_eq!(
            in_force("gitlab.com", &[domain("1")]),
            InForce::Conflict {
                values: vec!["1".into()]
            }
        );
    }

    #[test]
    fn http_pages_get_cookies_without_secure() {
        let e = environment_for_url("http://staging.gitlab.com/", &[]).unwrap();
        let p = plan(Preference::Next, Scope::AllEnvironments, &e, &[], NOW);
        assert!(
            matches!(&p.ops[0], CookieOp::Set { secure: false, url, .. } if url == "http://staging.gitlab.com/")
        );
    }

    #[test]
    fn every_change_has_a_sentence_with_matching_placeholders() {
        let cat = crate::errors::tests::catalogue();
        let mut changes = vec![Change::NothingToRemove];
        for scope in [Scope::AllEnvironments, Scope::ThisEnvironment] {
            changes.push(Change::Wrote {
                scope,
                domain: "d".into(),
                value: "true",
            });
        }
        for (contradicted, host_only) in
            [(true, true), (true, false), (false, true), (false, false)]
        {
            changes.push(Change::Removed {
                host_only,
                domain: "d".into(),
                value: "v".into(),
                contradicted,
                other_environments: false,
            });
        }
        for c in changes {
            let (key, subs) = c.message();
            let message = cat[key]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} missing"));
            assert!(
                crate::errors::tests::placeholders(message) <= subs.len(),
                "{key}"
            );
        }
    }

    #[test]
    fn stored_cookies_keep_every_attribute() {
        let json = r#"{"name":"gitlab_canary","value":"false","domain":"staging.gitlab.com","hostOnly":true,
            "path":"/","secure":false,"httpOnly":false,"sameSite":"unspecified","session":false,
            "expirationDate":1830000000.5,"storeId":"0"}"#;
        let c: StoredCookie = serde_json::from_str(json).unwrap();
        assert_eq!(c.url(), "https://staging.gitlab.com/");
        assert_eq!(c.expiration_date, Some(1_830_000_000.5));
        assert_eq!(c.found(), host_only("staging.gitlab.com", "false"));
        let other = StoredCookie {
            domain: ".evil.example".into(),
            ..c.clone()
        };
        let all = [c.clone(), other];
        assert_eq!(under_domain(&all, "gitlab.com"), vec![&c]);
        assert!(same_cookies(
            &[domain("true"), c.found()],
            &[c.found(), domain("true")]
        ));
        assert!(!same_cookies(&[domain("true")], &[domain("false")]));
        assert!(!same_cookies(&[domain("true")], &[]));
    }

    #[test]
    fn toggle_and_parse() {
        assert_eq!(Preference::Next.toggled(), Preference::Current);
        assert_eq!(Preference::Current.toggled(), Preference::Next);
        assert_eq!(Preference::Auto.toggled(), Preference::Next);
        for p in [Preference::Current, Preference::Next, Preference::Auto] {
            assert_eq!(Preference::parse(p.as_str()), Some(p));
        }
        assert_eq!(Preference::parse("canary"), None);
    }

    #[test]
    fn browser_cookie_objects_deserialize() {
        let json = r#"{"name":"gitlab_canary","value":"true","domain":".gitlab.com","hostOnly":false,
            "path":"/","secure":true,"httpOnly":false,"sameSite":"lax","session":false,
            "expirationDate":1830000000,"storeId":"0"}"#;
        let c: FoundCookie = serde_json::from_str(json).unwrap();
        assert_eq!(c, domain("true"));
    }

    #[test]
    fn this_environment_only_keeps_every_other_known_environment_s_stage() {
        let stg = env("staging.gitlab.com");
        let known = crate::environment::known_hosts(&[]);
        // Next for every environment, then Current for staging only.
        let found = vec![domain("true")];
        let p = plan_keeping(
            Preference::Current,
            Scope::ThisEnvironment,
            &stg,
            &found,
            NOW,
            &known,
        );
        let after = simulate(&found, &p.ops);
        assert_eq!(in_force("staging.gitlab.com", &after), InForce::Current);
        assert_eq!(
            in_force("gitlab.com", &after),
            InForce::Next,
            "gitlab.com keeps Next"
        );
        assert!(p.changes.contains(&Change::Kept {
            host: "gitlab.com".into(),
            value: "true"
        }));
        // No host receives two values, and a second round has nothing left to do.
        for h in &known {
            assert!(
                !matches!(in_force(h, &after), InForce::Conflict { .. }),
                "{h}"
            );
        }
        let again = plan_keeping(
            Preference::Current,
            Scope::ThisEnvironment,
            &stg,
            &after,
            NOW,
            &known,
        );
        assert!(
            again.ops.iter().all(|op| matches!(
                op,
                CookieOp::Set {
                    domain: None,
                    value: "false",
                    ..
                }
            )),
            "{:?}",
            again.ops
        );
        // Auto for staging only keeps gitlab.com's Next too.
        let p = plan_keeping(
            Preference::Auto,
            Scope::ThisEnvironment,
            &stg,
            &found,
            NOW,
            &known,
        );
        let after = simulate(&found, &p.ops);
        assert_eq!(in_force("staging.gitlab.com", &after), InForce::Auto);
        assert_eq!(in_force("gitlab.com", &after), InForce::Next);
        // An environment with a host-only cookie of its own needs nothing.
        let own = FoundCookie {
            domain: "gitlab.com".into(),
            host_only: true,
            path: "/".into(),
            value: "false".into(),
        };
        let found = vec![domain("true"), own];
        let p = plan_keeping(
            Preference::Current,
            Scope::ThisEnvironment,
            &stg,
            &found,
            NOW,
            &known,
        );
        assert!(!p.changes.iter().any(|c| matches!(c, Change::Kept { .. })));
        assert_eq!(
            in_force("gitlab.com", &simulate(&found, &p.ops)),
            InForce::Current
        );
        // For every environment again: the host-only cookies that contradict go.
        let after = simulate(
            &[domain("true")],
            &plan_keeping(
                Preference::Current,
                Scope::ThisEnvironment,
                &stg,
                &[domain("true")],
                NOW,
                &known,
            )
            .ops,
        );
        let p = plan_keeping(
            Preference::Next,
            Scope::AllEnvironments,
            &stg,
            &after,
            NOW,
            &known,
        );
        let all = simulate(&after, &p.ops);
        for h in &known {
            assert_eq!(in_force(h, &all), InForce::Next, "{h}");
        }
        assert!(realised(
            Preference::Next,
            Scope::AllEnvironments,
            &stg,
            &all
        ));
    }
}
