//! Sessions shared by both stages (one Redis in real life), users, and the format rule.

use std::collections::HashMap;

use crate::rng::Rng;
use crate::routing::Stage;

/// A seeded account. Passwords live only here and in README; they are never logged.
#[derive(Debug)]
pub struct User {
    pub id: u64,
    pub username: &'static str,
    pub name: &'static str,
    pub password: &'static str,
}

pub const USERS: &[User] = &[
    User {
        id: 101,
        username: "qa-user",
        name: "QA User",
        password: "correct-horse-battery",
    },
    User {
        id: 102,
        username: "other-user",
        name: "Other User",
        password: "staple-horse-battery",
    },
];

pub fn user_by_id(id: u64) -> Option<&'static User> {
    USERS.iter().find(|u| u.id == id)
}

/// Constant-time-ish comparison; the stand-in is local, but it costs nothing.
pub fn secure_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn authenticate(login: &str, password: &str) -> Option<&'static User> {
    USERS
        .iter()
        .find(|u| u.username == login && secure_eq(u.password, password))
}

/// How a session is stored: `Old` (RedisStore, Marshal'd Hash) or `New` (RedisCacheStore Entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Old,
    New,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Old => "old",
            Format::New => "new",
        }
    }

    /// What a stage writes: canary runs the new code.
    pub fn written_by(stage: Stage) -> Format {
        match stage {
            Stage::Canary => Format::New,
            Stage::Main => Format::Old,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// Both stages read both formats (what GitLab shipped).
    Compatible,
    /// Main cannot read sessions canary wrote: the failure QA looks for.
    CanaryNewFormat,
}

impl SessionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMode::Compatible => "compatible",
            SessionMode::CanaryNewFormat => "canary-new-format",
        }
    }

    pub fn parse(s: &str) -> Option<SessionMode> {
        match s {
            "compatible" => Some(SessionMode::Compatible),
            "canary-new-format" => Some(SessionMode::CanaryNewFormat),
            _ => None,
        }
    }

    /// Whether `stage` can read a session stored in `format`.
    pub fn readable(self, stage: Stage, format: Format) -> bool {
        !(self == SessionMode::CanaryNewFormat && stage == Stage::Main && format == Format::New)
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: Option<u64>,
    pub csrf_token: String,
    pub format: Format,
}

/// What the serving stage made of the request's `_gitlab_session`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No cookie, or an id the store does not know (expired, flushed).
    None,
    /// Readable: the id.
    Valid(String),
    /// Stored in a format this stage cannot read.
    Unreadable,
}

impl Lookup {
    pub fn as_str(&self) -> &'static str {
        match self {
            Lookup::None => "none",
            Lookup::Valid(_) => "valid",
            Lookup::Unreadable => "unreadable",
        }
    }
}

/// The shared store, keyed by cookie value.
#[derive(Debug, Default)]
pub struct Store {
    sessions: HashMap<String, Session>,
}

/// Bound on stored sessions so a runaway client cannot grow memory without end.
const MAX_SESSIONS: usize = 100_000;

impl Store {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Resolves a cookie value for `stage`. A readable session is (re)written in the
    /// stage's own format, as a Rails request that touches its session does.
    pub fn lookup(&mut self, cookie: Option<&str>, stage: Stage, mode: SessionMode) -> Lookup {
        let Some(id) = cookie else {
            return Lookup::None;
        };
        match self.sessions.get_mut(id) {
            None => Lookup::None,
            Some(s) if !mode.readable(stage, s.format) => Lookup::Unreadable,
            Some(s) => {
                s.format = Format::written_by(stage);
                Lookup::Valid(id.to_string())
            }
        }
    }

    /// A new session (anonymous or for `user_id`) written by `stage`; returns its id.
    pub fn create(&mut self, user_id: Option<u64>, stage: Stage, ids: &mut Rng) -> String {
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.clear();
        }
        let id = ids.hex(32);
        self.sessions.insert(
            id.clone(),
            Session {
                user_id,
                csrf_token: new_csrf_token(ids),
                format: Format::written_by(stage),
            },
        );
        id
    }

    pub fn destroy(&mut self, id: &str) {
        self.sessions.remove(id);
    }

    pub fn flush(&mut self) -> usize {
        let n = self.sessions.len();
        self.sessions.clear();
        n
    }

    pub fn count_by_format(&self, format: Format) -> usize {
        self.sessions
            .values()
            .filter(|s| s.format == format)
            .count()
    }

    pub fn count_signed_in(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.user_id.is_some())
            .count()
    }
}

/// A Rails-like CSRF token: 64 bytes, URL-safe base64-ish alphabet.
pub fn new_csrf_token(ids: &mut Rng) -> String {
    ids.string_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        86,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_rules() {
        use SessionMode::*;
        use Stage::*;
        for stage in [Canary, Main] {
            for format in [Format::Old, Format::New] {
                assert!(Compatible.readable(stage, format));
            }
        }
        assert!(CanaryNewFormat.readable(Canary, Format::Old));
        assert!(CanaryNewFormat.readable(Canary, Format::New));
        assert!(CanaryNewFormat.readable(Main, Format::Old));
        assert!(!CanaryNewFormat.readable(Main, Format::New));
        assert_eq!(
            SessionMode::parse("canary-new-format"),
            Some(CanaryNewFormat)
        );
        assert_eq!(SessionMode::parse("x"), None);
    }

    #[test]
    fn canary_rewrites_and_main_then_cannot_read() {
        let mut ids = Rng::new(3);
        let mut store = Store::default();
        let id = store.create(Some(101), Stage::Main, &mut ids);
        assert_eq!(id.len(), 32);
        let mode = SessionMode::CanaryNewFormat;
        assert_eq!(
            store.lookup(Some(&id), Stage::Main, mode),
            Lookup::Valid(id.clone())
        );
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::Old));
        assert_eq!(
            store.lookup(Some(&id), Stage::Canary, mode),
            Lookup::Valid(id.clone())
        );
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::New));
        assert_eq!(
            store.lookup(Some(&id), Stage::Main, mode),
            Lookup::Unreadable
        );
        // Compatible: main reads it and writes it back in the old format.
        let compat = SessionMode::Compatible;
        assert_eq!(
            store.lookup(Some(&id), Stage::Main, compat),
            Lookup::Valid(id.clone())
        );
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::Old));
        assert_eq!(
            store.lookup(Some("nope"), Stage::Main, compat),
            Lookup::None
        );
        assert_eq!(store.lookup(None, Stage::Main, compat), Lookup::None);
    }

    #[test]
    fn credentials() {
        assert_eq!(
            authenticate("qa-user", "correct-horse-battery").map(|u| u.id),
            Some(101)
        );
        assert_eq!(
            authenticate("other-user", "staple-horse-battery").map(|u| u.id),
            Some(102)
        );
        assert!(authenticate("qa-user", "staple-horse-battery").is_none());
        assert!(authenticate("nobody", "").is_none());
        assert!(secure_eq("abc", "abc") && !secure_eq("abc", "abd") && !secure_eq("ab", "abc"));
    }
}
