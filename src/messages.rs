//! Typed messages between the content script, the background and the pages (serde, tagged).
//! Anything that arrives is untrusted until it has deserialised into one of these.

use serde::{Deserialize, Serialize};

use crate::stage::Detection;

/// Content script → background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToBackground {
    /// What the page said about the stage that served it.
    #[serde(rename_all = "camelCase")]
    Detected { detection: Detection, url: String },
}

/// Background → content script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToContent {
    /// Ask who is signed in: `GET /api/v4/user` from the page's origin, plus the page's signals.
    WhoAmI,
}

/// Who `/api/v4/user` says is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
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

/// The content script's answer to [`ToContent::WhoAmI`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmIReply {
    pub identity: Identity,
    pub detection: Detection,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_or_malformed_messages_do_not_deserialise() {
        for junk in [
            r#"{}"#,
            r#"{"type":"detected"}"#,
            r#"{"type":"detected","url":"x","detection":{"stage":"pink"}}"#,
            r#"{"type":"somethingElse"}"#,
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
