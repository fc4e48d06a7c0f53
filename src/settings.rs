//! The user's settings: typed, validated, versioned and migrated.
//!
//! Stored under one key in `storage.local`. A missing field takes its default, so settings
//! written by an older version still load; [`Settings::migrated`] brings them to
//! [`SETTINGS_VERSION`]. Settings that cannot be read at all fall back to the defaults (and the
//! user is told). [`Settings::validate`] checks what the options page is about to save.

use serde::{Deserialize, Serialize};

use crate::environment::{domain_matches, parse_origin, CustomEnvironment, Kind, GITLAB_COM};
use crate::explain::LinkTemplates;
use crate::preference::Scope;
use crate::watch::{DEFAULT_INTERVAL_SECS, DEFAULT_LIMIT_MINUTES};

/// The `storage.local` key.
pub const SETTINGS_KEY: &str = "settings";
/// 1: scope, custom environments. 2: reload, watch defaults, link templates.
pub const SETTINGS_VERSION: u32 = 2;

pub const MIN_WATCH_INTERVAL_SECS: u32 = 1;
pub const MAX_WATCH_INTERVAL_SECS: u32 = 3_600;
pub const MIN_WATCH_LIMIT_MINUTES: u32 = 1;
pub const MAX_WATCH_LIMIT_MINUTES: u32 = 24 * 60;

/// Link templates the user changed, for one environment host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkOverride {
    pub host: String,
    pub templates: LinkTemplates,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    pub version: u32,
    /// Where a choice is written unless the popup says otherwise.
    pub scope: Scope,
    /// Self-managed GitLab hosts the user added.
    pub custom: Vec<CustomEnvironment>,
    /// Reload the tab after a choice (off: the next page load uses the new stage).
    pub reload_after_choice: bool,
    pub watch_interval_secs: u32,
    pub watch_limit_minutes: u32,
    /// Log and dashboard templates that replace the defaults for a host.
    pub links: Vec<LinkOverride>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: SETTINGS_VERSION,
            scope: Scope::AllEnvironments,
            custom: Vec::new(),
            reload_after_choice: true,
            watch_interval_secs: DEFAULT_INTERVAL_SECS,
            watch_limit_minutes: DEFAULT_LIMIT_MINUTES,
            links: Vec::new(),
        }
    }
}

/// One problem with settings about to be saved: which field, and the `messages.json` key of
/// the sentence that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub key: &'static str,
}

fn invalid(field: impl Into<String>, key: &'static str) -> Invalid {
    Invalid {
        field: field.into(),
        key,
    }
}

/// A template is fine if empty (no link) or an https URL.
fn template_ok(t: &str) -> bool {
    t.is_empty() || (t.starts_with("https://") && !t.chars().any(char::is_whitespace))
}

impl Settings {
    /// Brings settings of any earlier version to the current one. Fields added since were
    /// filled with their defaults when the stored object was read.
    pub fn migrated(mut self) -> Settings {
        if self.version < 2 {
            // Version 1 had no reload setting and always reloaded.
            self.reload_after_choice = true;
        }
        self.version = SETTINGS_VERSION;
        self
    }

    /// The link templates for an environment: the user's, else the defaults.
    pub fn links_for(&self, host: &str, kind: Kind) -> Option<LinkTemplates> {
        self.links
            .iter()
            .find(|l| l.host == host)
            .map(|l| l.templates.clone())
            .or_else(|| LinkTemplates::defaults(kind))
    }

    /// Everything wrong with these settings (empty when they can be saved).
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        for (i, c) in self.custom.iter().enumerate() {
            let host_ok = parse_origin(&format!("https://{}/", c.host))
                .is_ok_and(|o| o.host == c.host && o.host.contains('.'));
            if !host_ok {
                out.push(invalid(format!("custom.{i}.host"), "invalidHost"));
            } else if domain_matches(&c.host, GITLAB_COM) {
                out.push(invalid(format!("custom.{i}.host"), "invalidHostGitLabCom"));
            } else if self.custom[..i].iter().any(|o| o.host == c.host) {
                out.push(invalid(format!("custom.{i}.host"), "invalidHostDuplicate"));
            }
            let domain = c.cookie_domain.trim_start_matches('.');
            if domain.is_empty() || !domain.contains('.') || !domain_matches(&c.host, domain) {
                out.push(invalid(
                    format!("custom.{i}.cookieDomain"),
                    "invalidCookieDomain",
                ));
            }
        }
        if !(MIN_WATCH_INTERVAL_SECS..=MAX_WATCH_INTERVAL_SECS).contains(&self.watch_interval_secs)
        {
            out.push(invalid("watchIntervalSecs", "invalidWatchInterval"));
        }
        if !(MIN_WATCH_LIMIT_MINUTES..=MAX_WATCH_LIMIT_MINUTES).contains(&self.watch_limit_minutes)
        {
            out.push(invalid("watchLimitMinutes", "invalidWatchLimit"));
        }
        for l in &self.links {
            if !template_ok(&l.templates.logs) {
                out.push(invalid(format!("links.{}.logs", l.host), "invalidTemplate"));
            }
            if !template_ok(&l.templates.dashboard) {
                out.push(invalid(
                    format!("links.{}.dashboard", l.host),
                    "invalidTemplate",
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(host: &str, domain: &str) -> CustomEnvironment {
        CustomEnvironment {
            host: host.into(),
            cookie_domain: domain.into(),
        }
    }

    #[test]
    fn version_1_migrates_with_defaults() {
        let v1: Settings = serde_json::from_str(
            r#"{"version":1,"scope":"this-environment","custom":[],"future":1}"#,
        )
        .unwrap();
        let s = v1.migrated();
        assert_eq!(s.version, SETTINGS_VERSION);
        assert_eq!(s.scope, Scope::ThisEnvironment);
        assert!(s.reload_after_choice);
        assert_eq!(s.watch_interval_secs, DEFAULT_INTERVAL_SECS);
        assert_eq!(s.watch_limit_minutes, DEFAULT_LIMIT_MINUTES);
        let empty: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Settings::default());
    }

    #[test]
    fn round_trip() {
        let s = Settings {
            scope: Scope::ThisEnvironment,
            reload_after_choice: false,
            custom: vec![custom("gitlab.example.net", "example.net")],
            ..Settings::default()
        };
        let back: Settings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(s.validate().is_empty());
    }

    #[test]
    fn validation_names_each_bad_field() {
        let s = Settings {
            custom: vec![
                custom("gitlab.example.net", "other.org"),
                custom("not a host", "example.net"),
                custom("ops.gitlab.com", "gitlab.com"),
                custom("gitlab.example.net", "example.net"),
                custom("gitlab.example.net:8443", "example.net"),
            ],
            watch_interval_secs: 0,
            watch_limit_minutes: 100_000,
            links: vec![LinkOverride {
                host: "gitlab.com".into(),
                templates: LinkTemplates {
                    logs: "javascript:alert(1)".into(),
                    dashboard: String::new(),
                },
            }],
            ..Settings::default()
        };
        let keys: Vec<(String, &str)> =
            s.validate().into_iter().map(|i| (i.field, i.key)).collect();
        assert_eq!(
            keys,
            vec![
                ("custom.0.cookieDomain".into(), "invalidCookieDomain"),
                ("custom.1.host".into(), "invalidHost"),
                ("custom.1.cookieDomain".into(), "invalidCookieDomain"),
                ("custom.2.host".into(), "invalidHostGitLabCom"),
                ("custom.3.host".into(), "invalidHostDuplicate"),
                ("custom.4.host".into(), "invalidHost"),
                ("custom.4.cookieDomain".into(), "invalidCookieDomain"),
                ("watchIntervalSecs".into(), "invalidWatchInterval"),
                ("watchLimitMinutes".into(), "invalidWatchLimit"),
                ("links.gitlab.com.logs".into(), "invalidTemplate"),
            ]
        );
    }

    #[test]
    fn link_overrides_replace_defaults() {
        let mut s = Settings::default();
        assert!(s.links_for("staging.gitlab.com", Kind::Staging).is_some());
        assert!(s.links_for("gitlab.example.net", Kind::Custom).is_none());
        let t = LinkTemplates {
            logs: "https://logs.example/{request_id}".into(),
            dashboard: String::new(),
        };
        s.links.push(LinkOverride {
            host: "gitlab.example.net".into(),
            templates: t.clone(),
        });
        assert_eq!(s.links_for("gitlab.example.net", Kind::Custom), Some(t));
    }

    #[test]
    fn every_validation_key_has_a_sentence() {
        let cat = crate::errors::tests::catalogue();
        for key in [
            "invalidHost",
            "invalidHostGitLabCom",
            "invalidHostDuplicate",
            "invalidCookieDomain",
            "invalidWatchInterval",
            "invalidWatchLimit",
            "invalidTemplate",
        ] {
            assert!(cat[key]["message"].is_string(), "{key}");
        }
    }
}
