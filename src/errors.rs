//! What can go wrong, as types. Each error is shown to the user as one sentence with what to do
//! next; the sentences live in `extension/_locales/*/messages.json` under [`UserError::key`].

use crate::environment::EnvError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserError {
    /// The tab shows no web page (new tab, browser page, extension page).
    NotWeb,
    /// The tab's host is not GitLab.com or a GitLab the user added.
    NotGitLab { host: String },
    /// The tab's URL could not be read.
    Malformed,
    /// The target tab was closed or never existed.
    TabGone,
    /// The extension lacks host access to the environment.
    NoHostAccess { host: String },
    /// The cookie store refused a write or removal.
    CookieRefused { detail: String },
    /// After writing, the host still receives a contradicting cookie.
    NotRealised { host: String },
    /// Settings or state in extension storage could not be read or written.
    Storage { detail: String },
}

impl From<EnvError> for UserError {
    fn from(e: EnvError) -> Self {
        match e {
            EnvError::NotWeb => UserError::NotWeb,
            EnvError::NotGitLab { host } => UserError::NotGitLab { host },
            EnvError::Malformed => UserError::Malformed,
        }
    }
}

impl UserError {
    /// The `messages.json` key of the sentence.
    pub fn key(&self) -> &'static str {
        match self {
            UserError::NotWeb => "errNotWeb",
            UserError::NotGitLab { .. } => "errNotGitLab",
            UserError::Malformed => "errMalformed",
            UserError::TabGone => "errTabGone",
            UserError::NoHostAccess { .. } => "errNoHostAccess",
            UserError::CookieRefused { .. } => "errCookieRefused",
            UserError::NotRealised { .. } => "errNotRealised",
            UserError::Storage { .. } => "errStorage",
        }
    }

    /// The sentence's substitutions (`$1`, …), in order.
    pub fn subs(&self) -> Vec<&str> {
        match self {
            UserError::NotWeb | UserError::Malformed | UserError::TabGone => vec![],
            UserError::NotGitLab { host }
            | UserError::NoHostAccess { host }
            | UserError::NotRealised { host } => vec![host],
            UserError::CookieRefused { detail } | UserError::Storage { detail } => vec![detail],
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The English catalogue, read from the extension's source tree.
    pub(crate) fn catalogue() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/extension/_locales/en/messages.json"
        );
        let text = std::fs::read_to_string(path).expect("messages.json is readable");
        serde_json::from_str(&text).expect("messages.json is JSON")
    }

    /// Number of `$1`…`$9` placeholders a message uses.
    pub(crate) fn placeholders(message: &str) -> usize {
        (1..=9)
            .filter(|i| message.contains(&format!("${i}")))
            .count()
    }

    #[test]
    fn every_error_has_one_sentence_with_matching_placeholders() {
        let cat = catalogue();
        let all = [
            UserError::NotWeb,
            UserError::NotGitLab { host: "h".into() },
            UserError::Malformed,
            UserError::TabGone,
            UserError::NoHostAccess { host: "h".into() },
            UserError::CookieRefused { detail: "d".into() },
            UserError::NotRealised { host: "h".into() },
            UserError::Storage { detail: "d".into() },
        ];
        for e in all {
            let message = cat[e.key()]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{} missing", e.key()));
            assert_eq!(placeholders(message), e.subs().len(), "{}", e.key());
            assert!(message.ends_with('.'), "{}: one sentence", e.key());
        }
    }

    #[test]
    fn env_errors_map() {
        assert_eq!(UserError::from(EnvError::NotWeb), UserError::NotWeb);
        assert_eq!(
            UserError::from(EnvError::NotGitLab { host: "x".into() }).subs(),
            vec!["x"]
        );
    }
}
