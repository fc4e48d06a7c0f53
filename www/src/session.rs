//! Sessions shared by both stages (one Redis in real life), users, and the format rule.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

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

/// Personal access tokens (`PRIVATE-TOKEN`, for the API only): one per seeded user. Test values,
/// documented in README; never logged.
pub const ACCESS_TOKENS: &[(&str, u64)] = &[
    ("glpat-standin-qa-user-000001", 101),
    ("glpat-standin-other-user-0002", 102),
];

/// The user a personal access token belongs to.
pub fn user_by_access_token(token: &str) -> Option<&'static User> {
    ACCESS_TOKENS
        .iter()
        .find(|(t, _)| secure_eq(t, token))
        .and_then(|(_, id)| user_by_id(*id))
}

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

/// What a stage does with a session it finds but cannot read (`unreadable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// A fresh, signed-out session (the stores do not share keys: the session is not found).
    SignOut,
    /// HTTP 500 for every request that carries it, remember-me or not (the stores share
    /// GitLab's keys and one raises on the other's format, as Rails does without the coders).
    Error500,
}

impl Unreadable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreadable::SignOut => "sign-out",
            Unreadable::Error500 => "error-500",
        }
    }

    pub fn parse(s: &str) -> Option<Unreadable> {
        match s {
            "sign-out" => Some(Unreadable::SignOut),
            "error-500" => Some(Unreadable::Error500),
            _ => None,
        }
    }
}

/// `_gitlab_session`'s lifetime (`session_cookie`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieLifetime {
    /// Expires one week ahead, set only with a new session id (the stand-in's first model).
    Week,
    /// As each store does: the old `RedisStore` sets no Expires (the cookie ends with the
    /// browser); the new `CacheStore` (`expire_after` one week) sets Expires one week ahead and
    /// re-sends the cookie on every answer that reads the session.
    PerStore,
}

impl CookieLifetime {
    pub fn as_str(self) -> &'static str {
        match self {
            CookieLifetime::Week => "week",
            CookieLifetime::PerStore => "per-store",
        }
    }

    pub fn parse(s: &str) -> Option<CookieLifetime> {
        match s {
            "week" => Some(CookieLifetime::Week),
            "per-store" => Some(CookieLifetime::PerStore),
            _ => None,
        }
    }
}

/// A production change under test (`/-/standin/change`), as a change request applies and
/// perhaps rolls back a session-store change. Sessions record the generation of the code that
/// last wrote them: 0 before the change (and after a rollback), 1 after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Old and new code read both generations (what a careful change ships).
    Compatible,
    /// After apply, sessions last written before the change cannot be read.
    UnreadableBefore,
    /// Fine while applied; after a rollback the old code cannot read generation 1.
    UnreadableAfterOnRollback,
    /// Only canary runs the new code: main cannot read what canary wrote (and after a
    /// rollback nobody can).
    CanaryNewFormat,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Compatible => "compatible",
            ChangeKind::UnreadableBefore => "unreadable-before",
            ChangeKind::UnreadableAfterOnRollback => "unreadable-after-on-rollback",
            ChangeKind::CanaryNewFormat => "canary-new-format",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        match s {
            "compatible" => Some(ChangeKind::Compatible),
            "unreadable-before" => Some(ChangeKind::UnreadableBefore),
            "unreadable-after-on-rollback" => Some(ChangeKind::UnreadableAfterOnRollback),
            "canary-new-format" => Some(ChangeKind::CanaryNewFormat),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Change {
    #[default]
    Before,
    Applied(ChangeKind),
    RolledBack(ChangeKind),
}

impl Change {
    /// `before`, `applied` or `rolled-back` (the log's `change`).
    pub fn phase(self) -> &'static str {
        match self {
            Change::Before => "before",
            Change::Applied(_) => "applied",
            Change::RolledBack(_) => "rolled-back",
        }
    }

    pub fn kind(self) -> Option<ChangeKind> {
        match self {
            Change::Before => None,
            Change::Applied(k) | Change::RolledBack(k) => Some(k),
        }
    }

    /// The generation `stage`'s code writes.
    pub fn writes(self, stage: Stage) -> u8 {
        match self {
            Change::Applied(ChangeKind::CanaryNewFormat) if stage == Stage::Main => 0,
            Change::Applied(_) => 1,
            Change::Before | Change::RolledBack(_) => 0,
        }
    }

    /// Whether `stage`'s code can read a session last written by generation `generation`.
    pub fn reads(self, stage: Stage, generation: u8) -> bool {
        use ChangeKind::*;
        match self {
            Change::Before => true,
            Change::Applied(Compatible | UnreadableAfterOnRollback) => true,
            Change::Applied(UnreadableBefore) => generation != 0,
            Change::Applied(CanaryNewFormat) => stage == Stage::Canary || generation == 0,
            Change::RolledBack(Compatible | UnreadableBefore) => true,
            Change::RolledBack(UnreadableAfterOnRollback | CanaryNewFormat) => generation == 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: Option<u64>,
    pub csrf_token: String,
    pub format: Format,
    /// The change generation of the code that last wrote it.
    pub generation: u8,
}

/// Who reads and writes sessions for one request: the stage and the rules in force.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub stage: Stage,
    pub mode: SessionMode,
    pub change: Change,
}

impl Access {
    pub fn can_read(&self, s: &Session) -> bool {
        self.mode.readable(self.stage, s.format) && self.change.reads(self.stage, s.generation)
    }

    /// Whether the stage runs the new store (Rails' `CacheStore`): it writes the new format
    /// (canary) or the code of an applied change (generation 1).
    pub fn new_store(&self) -> bool {
        Format::written_by(self.stage) == Format::New || self.change.writes(self.stage) == 1
    }
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
    /// Missing, unreadable or anonymous, but a valid `remember_user_token` signed the user
    /// back in with a new session (set by the app, never by [`Store::lookup`]).
    Remembered,
}

impl Lookup {
    pub fn as_str(&self) -> &'static str {
        match self {
            Lookup::None => "none",
            Lookup::Valid(_) => "valid",
            Lookup::Unreadable => "unreadable",
            Lookup::Remembered => "remembered",
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

    /// Resolves a cookie value without touching it (faulted requests).
    pub fn peek(&self, cookie: Option<&str>, access: Access) -> Lookup {
        match cookie.and_then(|id| self.sessions.get(id).map(|s| (id, s))) {
            None => Lookup::None,
            Some((_, s)) if !access.can_read(s) => Lookup::Unreadable,
            Some((id, _)) => Lookup::Valid(id.to_string()),
        }
    }

    /// Resolves a cookie value for the serving stage. A readable session is (re)written in
    /// the stage's own format and change generation, as a Rails request that touches its
    /// session does.
    pub fn lookup(&mut self, cookie: Option<&str>, access: Access) -> Lookup {
        let Some(id) = cookie else {
            return Lookup::None;
        };
        match self.sessions.get_mut(id) {
            None => Lookup::None,
            Some(s) if !access.can_read(s) => Lookup::Unreadable,
            Some(s) => {
                s.format = Format::written_by(access.stage);
                s.generation = access.change.writes(access.stage);
                Lookup::Valid(id.to_string())
            }
        }
    }

    /// A new session (anonymous or for `user_id`) written by the serving stage; its id.
    pub fn create(&mut self, user_id: Option<u64>, access: Access, ids: &mut Rng) -> String {
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.clear();
        }
        let id = ids.hex(32);
        self.sessions.insert(
            id.clone(),
            Session {
                user_id,
                csrf_token: new_csrf_token(ids),
                format: Format::written_by(access.stage),
                generation: access.change.writes(access.stage),
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

    pub fn count_by_generation(&self, generation: u8) -> usize {
        self.sessions
            .values()
            .filter(|s| s.generation == generation)
            .count()
    }

    pub fn count_signed_in(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.user_id.is_some())
            .count()
    }
}

/// Devise rememberable's lifetime (`config.remember_for`): two weeks.
pub const REMEMBER_FOR: Duration = Duration::from_secs(14 * 24 * 3600);

/// `remember_user_token` values the server maps to users (the users table's
/// `remember_created_at` in real life). Opaque: the cookie carries no user id.
#[derive(Debug, Default)]
pub struct RememberTokens {
    tokens: HashMap<String, (u64, SystemTime)>,
}

impl RememberTokens {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// A new token for `user_id`, valid for [`REMEMBER_FOR`] from `now`.
    pub fn issue(&mut self, user_id: u64, now: SystemTime, ids: &mut Rng) -> String {
        if self.tokens.len() >= MAX_SESSIONS {
            self.tokens.retain(|_, (_, expires)| *expires > now);
            if self.tokens.len() >= MAX_SESSIONS {
                self.tokens.clear();
            }
        }
        let token = ids.string_from(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            64,
        );
        self.tokens
            .insert(token.clone(), (user_id, now + REMEMBER_FOR));
        token
    }

    /// The user a token remembers, if it is known and not expired.
    pub fn user(&self, token: &str, now: SystemTime) -> Option<u64> {
        self.tokens
            .get(token)
            .filter(|(_, expires)| *expires > now)
            .map(|(user, _)| *user)
    }

    /// Sign-out: Devise's `forget_me!` with `expire_all_remember_me_on_sign_out` forgets
    /// every token of the user, and the presented token in any case. Returns how many.
    pub fn forget(&mut self, token: Option<&str>, user_id: Option<u64>) -> usize {
        let before = self.tokens.len();
        if let Some(t) = token {
            self.tokens.remove(t);
        }
        if let Some(u) = user_id {
            self.tokens.retain(|_, (owner, _)| *owner != u);
        }
        before - self.tokens.len()
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

    fn access(stage: Stage, mode: SessionMode, change: Change) -> Access {
        Access {
            stage,
            mode,
            change,
        }
    }

    #[test]
    fn canary_rewrites_and_main_then_cannot_read() {
        let mut ids = Rng::new(3);
        let mut store = Store::default();
        let mode = SessionMode::CanaryNewFormat;
        let main = access(Stage::Main, mode, Change::Before);
        let canary = access(Stage::Canary, mode, Change::Before);
        let id = store.create(Some(101), main, &mut ids);
        assert_eq!(id.len(), 32);
        assert_eq!(store.lookup(Some(&id), main), Lookup::Valid(id.clone()));
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::Old));
        assert_eq!(store.lookup(Some(&id), canary), Lookup::Valid(id.clone()));
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::New));
        assert_eq!(store.peek(Some(&id), main), Lookup::Unreadable);
        assert_eq!(store.lookup(Some(&id), main), Lookup::Unreadable);
        // Compatible: main reads it and writes it back in the old format.
        let compat = access(Stage::Main, SessionMode::Compatible, Change::Before);
        assert_eq!(store.lookup(Some(&id), compat), Lookup::Valid(id.clone()));
        assert_eq!(store.get(&id).map(|s| s.format), Some(Format::Old));
        assert_eq!(store.lookup(Some("nope"), compat), Lookup::None);
        assert_eq!(store.lookup(None, compat), Lookup::None);
        assert_eq!(Lookup::Remembered.as_str(), "remembered");
    }

    #[test]
    fn change_generations() {
        use ChangeKind::*;
        use Stage::*;
        for stage in [Canary, Main] {
            assert_eq!(Change::Before.writes(stage), 0);
            assert!(Change::Before.reads(stage, 0) && Change::Before.reads(stage, 1));
            for kind in [Compatible, UnreadableBefore, UnreadableAfterOnRollback] {
                assert_eq!(Change::Applied(kind).writes(stage), 1);
                assert_eq!(Change::RolledBack(kind).writes(stage), 0);
            }
            assert!(Change::Applied(Compatible).reads(stage, 0));
            assert!(!Change::Applied(UnreadableBefore).reads(stage, 0));
            assert!(Change::Applied(UnreadableBefore).reads(stage, 1));
            assert!(Change::Applied(UnreadableAfterOnRollback).reads(stage, 0));
            assert!(Change::RolledBack(Compatible).reads(stage, 1));
            assert!(Change::RolledBack(UnreadableBefore).reads(stage, 1));
            assert!(!Change::RolledBack(UnreadableAfterOnRollback).reads(stage, 1));
            assert!(Change::RolledBack(UnreadableAfterOnRollback).reads(stage, 0));
            assert!(!Change::RolledBack(CanaryNewFormat).reads(stage, 1));
        }
        let cnf = Change::Applied(CanaryNewFormat);
        assert_eq!((cnf.writes(Canary), cnf.writes(Main)), (1, 0));
        assert!(cnf.reads(Canary, 1) && cnf.reads(Canary, 0));
        assert!(cnf.reads(Main, 0) && !cnf.reads(Main, 1));
        assert_eq!(
            (
                Change::Before.phase(),
                cnf.phase(),
                Change::RolledBack(Compatible).phase()
            ),
            ("before", "applied", "rolled-back")
        );
        for kind in [
            Compatible,
            UnreadableBefore,
            UnreadableAfterOnRollback,
            CanaryNewFormat,
        ] {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("x"), None);

        // A session written before an unreadable-before change is lost after it.
        let mut ids = Rng::new(4);
        let mut store = Store::default();
        let mode = SessionMode::Compatible;
        let id = store.create(Some(101), access(Main, mode, Change::Before), &mut ids);
        assert_eq!(store.count_by_generation(0), 1);
        let after = access(Main, mode, Change::Applied(UnreadableBefore));
        assert_eq!(store.lookup(Some(&id), after), Lookup::Unreadable);
        let fresh = store.create(Some(101), after, &mut ids);
        assert_eq!(store.get(&fresh).map(|s| s.generation), Some(1));
        let rolled = access(Canary, mode, Change::RolledBack(UnreadableBefore));
        assert_eq!(
            store.lookup(Some(&fresh), rolled),
            Lookup::Valid(fresh.clone())
        );
        assert_eq!(store.get(&fresh).map(|s| s.generation), Some(0));
    }

    #[test]
    fn options_and_stores() {
        for u in [Unreadable::SignOut, Unreadable::Error500] {
            assert_eq!(Unreadable::parse(u.as_str()), Some(u));
        }
        for l in [CookieLifetime::Week, CookieLifetime::PerStore] {
            assert_eq!(CookieLifetime::parse(l.as_str()), Some(l));
        }
        assert_eq!(Unreadable::parse("500"), None);
        assert_eq!(CookieLifetime::parse("session"), None);
        let mode = SessionMode::Compatible;
        assert!(access(Stage::Canary, mode, Change::Before).new_store());
        assert!(!access(Stage::Main, mode, Change::Before).new_store());
        let applied = Change::Applied(ChangeKind::Compatible);
        assert!(access(Stage::Main, mode, applied).new_store());
        let rolled = Change::RolledBack(ChangeKind::Compatible);
        assert!(!access(Stage::Main, mode, rolled).new_store());
    }

    #[test]
    fn remember_tokens() {
        let mut ids = Rng::new(5);
        let mut tokens = RememberTokens::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = tokens.issue(101, now, &mut ids);
        let b = tokens.issue(101, now, &mut ids);
        let c = tokens.issue(102, now, &mut ids);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(tokens.user(&a, now), Some(101));
        assert_eq!(
            tokens.user(&c, now + REMEMBER_FOR - Duration::from_secs(1)),
            Some(102)
        );
        assert_eq!(tokens.user(&c, now + REMEMBER_FOR), None, "expired");
        assert_eq!(tokens.user("nope", now), None);
        assert_eq!(tokens.forget(Some(&a), Some(101)), 2);
        assert_eq!(tokens.user(&b, now), None);
        assert_eq!(tokens.user(&c, now), Some(102));
        assert_eq!(tokens.forget(Some(&c), None), 1);
        assert!(tokens.is_empty());
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
