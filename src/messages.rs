//! Typed messages between the content script, the background and the pages (serde, tagged).
//! Anything that arrives is untrusted until it has deserialised into one of these.

use serde::{Deserialize, Serialize};

use crate::stage::Detection;

/// Content script → background. Externally tagged (`{"detected":{…}}`): internally tagged
/// enums make serde buffer the whole message first, which costs the wasm ~10 KiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToBackground {
    /// What the page said about the stage that served it.
    #[serde(rename_all = "camelCase")]
    Detected { detection: Detection, url: String },
}

/// Extension page (popup) → background, sent as `{"command": <Command>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Command {
    #[serde(rename_all = "camelCase")]
    StartCheck {
        tab_id: i32,
        guided: bool,
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
}

/// `storage.local` keys of the check in progress (or last finished), the history and the watch.
pub const CHECK_KEY: &str = "check";
pub const HISTORY_KEY: &str = "checks";
pub const WATCH_KEY: &str = "watch";
/// `storage.local` key holding the id of a check the user asked to cancel.
pub const CANCEL_KEY: &str = "checkCancel";

/// Background → content script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToContent {
    /// Ask who is signed in: `GET /api/v4/user` from the page's origin, plus the page's signals.
    WhoAmI,
}

/// Who `/api/v4/user` says is signed in (externally tagged, like [`ToBackground`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Identity {
    /// 200 with a user.
    SignedIn { id: u64, username: String },
    /// 401: nobody.
    SignedOut,
    /// Any other status (5xx, 429…): the check cannot say.
    Status { status: u16 },
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
}

/// The content script's answer to [`ToContent::WhoAmI`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmIReply {
    pub identity: Identity,
    pub detection: Detection,
}

/// What the background keeps per tab in `storage.session` (key [`tab_key`]), so the badge and
/// popup survive a service-worker restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabState {
    /// The page the detection is for (from the browser's tab, not from the page).
    pub url: String,
    pub detection: Detection,
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
    fn unknown_or_malformed_messages_do_not_deserialise() {
        for junk in [
            r#"{}"#,
            r#"{"detected":{}}"#,
            r#"{"detected":{"url":"x","detection":{"stage":"pink"}}}"#,
            r#"{"somethingElse":{}}"#,
            r#"[1,2]"#,
        ] {
            assert!(
                serde_json::from_str::<ToBackground>(junk).is_err(),
                "{junk}"
            );
        }
        assert_eq!(
            serde_json::from_str::<ToContent>(r#"{"type":"whoAmI"}"#).unwrap(),
            ToContent::WhoAmI
        );
    }

    #[test]
    fn commands_parse() {
        let c: Command =
            serde_json::from_str(r#"{"startCheck":{"tabId":3,"guided":true}}"#).unwrap();
        assert_eq!(
            c,
            Command::StartCheck {
                tab_id: 3,
                guided: true
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
    fn identity_round_trips() {
        for i in [
            Identity::SignedIn {
                id: 101,
                username: "qa-user".into(),
            },
            Identity::SignedOut,
            Identity::Status { status: 502 },
            Identity::Unreachable {
                detail: "timeout".into(),
            },
        ] {
            let back: Identity = serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
            assert_eq!(back, i);
        }
    }
}
