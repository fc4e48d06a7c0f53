//! Typed messages between the background and the extension's pages, and what the injected
//! identity probe answers (serde, tagged).
//! Anything that arrives is untrusted until it has deserialised into one of these.

use serde::{Deserialize, Serialize};

use crate::stage::Detection;

/// `GET /api/v4/user` as the injected identity probe (`extension/user.js`) saw it from the
/// page's origin: the status, with the body's `id` and `username` next to it (read as
/// [`ApiUser`]), or the error that stopped the request.
///
/// When the request with the session kept answering 5xx ([`PROBE_ATTEMPTS`] tries), the probe
/// asks the same URL once more as a visitor without a session (`_gitlab_session` and
/// `remember_user_token` left out, `gitlab_canary` kept, so the same stage answers): `without`
/// is that control request's status,
/// `withoutError` says it got no answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserReport {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub without: Option<u16>,
    #[serde(default)]
    pub without_error: Option<String>,
}

impl UserReport {
    /// Who is signed in, given the user the same object named (if it parsed).
    pub fn identity(self, user: Option<ApiUser>) -> Identity {
        match self.status {
            Some(status)
                if status >= 500 && (self.without.is_some() || self.without_error.is_some()) =>
            {
                Identity::Failing {
                    status,
                    without: self.without,
                }
            }
            Some(status) => Identity::from_api(status, user),
            None => Identity::Unreachable {
                detail: self.error.unwrap_or_else(|| "no answer".into()),
            },
        }
    }
}

/// How many times a probe sends a request with the session that answers 5xx before it makes
/// the control request without the session (bounded: a stage that fails for a moment is
/// retried, a session that breaks every request is not retried for ever).
pub const PROBE_ATTEMPTS: u32 = 3;
/// The pause before the n-th retry is n times this.
pub const PROBE_RETRY_MS: u32 = 300;

/// Extension page (popup) → background, sent as `{"command": <Command>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Command {
    #[serde(rename_all = "camelCase")]
    StartCheck {
        tab_id: i32,
        guided: bool,
        /// Label the check "after rollback" in its report.
        #[serde(default)]
        after_rollback: bool,
    },
    /// Record who is signed in on the tab's environment, and with which session, before a
    /// change ([`crate::session::Prepared`]).
    #[serde(rename_all = "camelCase")]
    PrepareSession {
        tab_id: i32,
        #[serde(default)]
        issue_url: Option<String>,
    },
    /// Forget the session prepared for one environment.
    ClearPrepared {
        host: String,
    },
    /// Post a check's report to a GitLab issue as a comment (after the user's confirm click).
    #[serde(rename_all = "camelCase")]
    PostReport {
        check_id: String,
        issue_url: String,
    },
    CancelCheck,
    /// Nudge: drive a check that a stopped service worker left half-done.
    ResumeCheck,
    #[serde(rename_all = "camelCase")]
    StartWatch {
        hosts: Vec<String>,
        interval_secs: u32,
        limit_minutes: u32,
    },
    StopWatch,
}

/// The background's answer to a [`Command`]: an error sentence, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandReply {
    pub error: Option<String>,
    /// What a command that makes something answers: the new comment's URL.
    #[serde(default)]
    pub result: Option<String>,
}

/// `storage.local` keys of the check in progress (or last finished), the history and the watch.
pub const CHECK_KEY: &str = "check";
pub const HISTORY_KEY: &str = "checks";
pub const WATCH_KEY: &str = "watch";
/// `storage.local` key of the sessions prepared before a change (one per environment).
pub const PREPARED_KEY: &str = "prepared";
/// `storage.local` key holding the id of a check the user asked to cancel.
pub const CANCEL_KEY: &str = "checkCancel";

/// Who `/api/v4/user` says is signed in (externally tagged: `{"signedIn":{…}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Identity {
    /// 200 with a user.
    SignedIn { id: u64, username: String },
    /// 401: nobody.
    SignedOut,
    /// Any other status (5xx, 429…) and no control request: the check cannot say.
    Status { status: u16 },
    /// Every try with the session answered `status` (5xx); the same request without the
    /// session answered `without` (`None`: no answer). A working answer without it means the
    /// session itself breaks GitLab ([`Identity::session_broken`]).
    Failing { status: u16, without: Option<u16> },
    /// No answer (network error, timeout).
    Unreachable { detail: String },
}

/// The user `GET /api/v4/user` names (other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiUser {
    pub id: u64,
    pub username: String,
}

impl Identity {
    /// What `GET /api/v4/user` answered: its status and, for a 200, the user its body named.
    pub fn from_api(status: u16, user: Option<ApiUser>) -> Identity {
        match (status, user) {
            (200, Some(u)) => Identity::SignedIn {
                id: u.id,
                username: u.username,
            },
            (200, None) => Identity::Unreachable {
                detail: "unreadable /api/v4/user answer".into(),
            },
            (401, _) => Identity::SignedOut,
            (status, _) => Identity::Status { status },
        }
    }

    /// The status every request carrying the session failed with, when the same request
    /// without it worked: GitLab cannot use this session (not an outage).
    pub fn session_broken(&self) -> Option<u16> {
        match self {
            Identity::Failing {
                status,
                without: Some(w),
            } if *w < 500 => Some(*status),
            _ => None,
        }
    }

    /// One clause for an answer that says nothing about the session (an error for everyone,
    /// no answer, an unexpected status), or `None` for a signed-in, signed-out or broken
    /// session.
    pub fn no_verdict(&self) -> Option<String> {
        match self {
            Identity::SignedIn { .. } | Identity::SignedOut => None,
            Identity::Failing { .. } if self.session_broken().is_some() => None,
            Identity::Failing {
                status,
                without: Some(w),
            } if w == status => Some(format!(
                "GitLab answered HTTP {status} with and without the session"
            )),
            Identity::Failing {
                status,
                without: Some(w),
            } => Some(format!(
                "GitLab answered HTTP {status} with the session and HTTP {w} without it"
            )),
            Identity::Failing {
                status,
                without: None,
            } => Some(format!(
                "GitLab answered HTTP {status} with the session and did not answer without it"
            )),
            Identity::Status { status } => Some(format!("/api/v4/user answered HTTP {status}")),
            Identity::Unreachable { detail } => {
                Some(format!("/api/v4/user did not answer ({detail})"))
            }
        }
    }
}

/// What the background keeps per tab in `storage.session` (key [`tab_key`]), so the badge and
/// popup survive a service-worker restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabState {
    /// The page the detection is for.
    pub url: String,
    pub detection: Detection,
    /// The document that was read ([`crate::reading::DocumentRef`]).
    #[serde(default)]
    pub document: Option<crate::reading::DocumentRef>,
    /// The toolbar is not final yet: the detection may still be refined by the peek results
    /// of the page's request, and the title and icon follow.
    #[serde(default)]
    pub refining: bool,
}

pub fn tab_key(tab_id: i32) -> String {
    format!("tab:{tab_id}")
}

/// `storage.local` key of the canary share observed on Auto for one host.
pub fn share_key(host: &str) -> String {
    format!("share:{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let c: Command =
            serde_json::from_str(r#"{"startCheck":{"tabId":3,"guided":true}}"#).unwrap();
        assert_eq!(
            c,
            Command::StartCheck {
                tab_id: 3,
                guided: true,
                after_rollback: false
            }
        );
        assert_eq!(
            serde_json::from_str::<Command>(r#""cancelCheck""#).unwrap(),
            Command::CancelCheck
        );
        assert!(serde_json::from_str::<Command>(r#"{"startCheck":{"tabId":"x"}}"#).is_err());
    }

    #[test]
    fn api_answers_map_to_identities() {
        let qa = ApiUser {
            id: 101,
            username: "qa-user".into(),
        };
        assert_eq!(
            Identity::from_api(200, Some(qa)),
            Identity::SignedIn {
                id: 101,
                username: "qa-user".into()
            }
        );
        assert!(matches!(
            Identity::from_api(200, None),
            Identity::Unreachable { .. }
        ));
        assert_eq!(Identity::from_api(401, None), Identity::SignedOut);
        assert_eq!(
            Identity::from_api(502, None),
            Identity::Status { status: 502 }
        );
        let u: ApiUser =
            serde_json::from_str(r#"{"id":7,"username":"x","name":"X","state":"active"}"#).unwrap();
        assert_eq!(u.id, 7);
    }

    #[test]
    fn user_reports_map_to_identities() {
        let ok: UserReport =
            serde_json::from_str(r#"{"status":200,"id":7,"username":"x"}"#).unwrap();
        let user = ApiUser {
            id: 7,
            username: "x".into(),
        };
        assert_eq!(
            ok.identity(Some(user)),
            Identity::SignedIn {
                id: 7,
                username: "x".into()
            }
        );
        let out: UserReport = serde_json::from_str(r#"{"status":401}"#).unwrap();
        assert_eq!(out.identity(None), Identity::SignedOut);
        let err: UserReport = serde_json::from_str(r#"{"error":"Failed to fetch"}"#).unwrap();
        assert_eq!(
            err.identity(None),
            Identity::Unreachable {
                detail: "Failed to fetch".into()
            }
        );
        assert_eq!(
            UserReport::default().identity(None),
            Identity::Unreachable {
                detail: "no answer".into()
            }
        );
    }

    #[test]
    fn a_control_request_tells_a_broken_session_from_an_outage() {
        let broken: UserReport = serde_json::from_str(r#"{"status":500,"without":401}"#).unwrap();
        let broken = broken.identity(None);
        assert_eq!(broken.session_broken(), Some(500));
        assert_eq!(broken.no_verdict(), None);
        let outage: UserReport = serde_json::from_str(r#"{"status":502,"without":502}"#).unwrap();
        let outage = outage.identity(None);
        assert_eq!(outage.session_broken(), None);
        assert_eq!(
            outage.no_verdict().as_deref(),
            Some("GitLab answered HTTP 502 with and without the session")
        );
        let silent: UserReport =
            serde_json::from_str(r#"{"status":503,"withoutError":"timeout"}"#).unwrap();
        assert_eq!(
            silent.identity(None).no_verdict().as_deref(),
            Some("GitLab answered HTTP 503 with the session and did not answer without it")
        );
        // No control request made (an older probe): an unexplained status, as before.
        let old: UserReport = serde_json::from_str(r#"{"status":500}"#).unwrap();
        assert_eq!(old.identity(None), Identity::Status { status: 500 });
        // A 4xx is never retried into a control request.
        let teapot: UserReport = serde_json::from_str(r#"{"status":429,"without":200}"#).unwrap();
        assert_eq!(teapot.identity(None), Identity::Status { status: 429 });
    }

    #[test]
    fn identity_round_trips() {
        for i in [
            Identity::SignedIn {
                id: 101,
                username: "qa-user".into(),
            },
            Identity::SignedOut,
            Identity::Status { status: 502 },
            Identity::Failing {
                status: 500,
                without: Some(401),
            },
            Identity::Failing {
                status: 502,
                without: None,
            },
            Identity::Unreachable {
                detail: "timeout".into(),
            },
        ] {
            let back: Identity = serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
            assert_eq!(back, i);
        }
    }
}
