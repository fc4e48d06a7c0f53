//! The session-continuity check as a state machine: steps, observations, verdicts. Pure.
//!
//! The background asks [`Check::next_action`] what to do, does it, and reports back with
//! [`Check::record`]. The whole [`Check`] is saved after every action, so a service worker
//! stopped mid-check resumes where it was: every action is safe to repeat (a cookie written
//! twice, a page reloaded twice, a probe made twice change nothing the check depends on).
//!
//! Verdict: PASS only if every step saw the same signed-in user on a confirmed stage; FAIL when
//! a step saw the user signed out or someone else (naming the step, stage and pod); otherwise
//! INCONCLUSIVE (5xx, timeouts, unreachable stages, a stage that did not change, signals that
//! disagree). Never a false PASS: anything unproven is INCONCLUSIVE, and only a 401 or another
//! user is a FAIL.

use serde::{Deserialize, Serialize};

use crate::messages::Identity;
use crate::preference::{Preference, StoredCookie};
use crate::stage::{Detection, Stage};

/// How many checks the history keeps.
pub const HISTORY_LEN: usize = 20;

/// One step of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Baseline,
    Refresh,
    OtherStage,
    Back,
    Restore,
    SignOut,
    SignIn,
}

impl StepKind {
    pub fn title(self) -> &'static str {
        match self {
            StepKind::Baseline => "Baseline",
            StepKind::Refresh => "Refresh",
            StepKind::OtherStage => "Other stage",
            StepKind::Back => "Back",
            StepKind::Restore => "Restore cookies",
            StepKind::SignOut => "Sign out",
            StepKind::SignIn => "Sign in again",
        }
    }
}

/// `_gitlab_session` as seen by the browser: presence and a short one-way fingerprint. Never
/// the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCookie {
    pub present: bool,
    /// First 8 hex digits of SHA-256 of the value.
    pub fingerprint: Option<String>,
    /// Whether `remember_user_token` (Devise rememberable) is there: presence only.
    #[serde(default)]
    pub remember: bool,
    /// Whether the cookie has no expiry and so ends with the browser (GitLab's own
    /// `_gitlab_session` under the old store and today), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with_browser: Option<bool>,
}

impl SessionCookie {
    /// Whether `later` is another session than this one: both known, fingerprints differ (a
    /// new value means a new session: sign-in, sign-out, or one the server could not read).
    pub fn replaced_by(&self, later: &SessionCookie) -> bool {
        match (&self.fingerprint, &later.fingerprint) {
            (Some(a), Some(b)) => a != b,
            // The session cookie is gone: replaced by nothing.
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The same session: presence and fingerprint (what the cookie's lifetime or remember-me
    /// do is not the session).
    pub fn same_as(&self, other: &SessionCookie) -> bool {
        self.present == other.present && self.fingerprint == other.fingerprint
    }
}

/// The version of the stored [`Check`] shape ([`Check::migrated`]).
pub const CHECK_VERSION: u32 = 2;

/// A session prepared before a change: who was signed in, with which session, where and when.
/// Kept in `storage.local` until cleared or used by a check of its environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prepared {
    pub version: u32,
    pub host: String,
    pub user_id: u64,
    pub username: String,
    pub session: SessionCookie,
    /// The stage and pod that answered when it was prepared.
    pub stage: Stage,
    pub pod: Option<String>,
    pub at_ms: f64,
    /// The change issue the result belongs to, if the user gave one.
    pub issue_url: Option<String>,
    /// The browser run it was prepared in (a marker that ends with the browser): a check in
    /// another run knows the browser was restarted in between.
    #[serde(default)]
    pub browser_run: Option<String>,
}

/// The version of the stored [`Prepared`] shape.
pub const PREPARED_VERSION: u32 = 1;

/// Why a session cannot be prepared, as one sentence with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareError {
    SignedOut,
    NoSession,
    Unreadable(String),
}

impl PrepareError {
    pub fn sentence(&self, host: &str) -> String {
        match self {
            PrepareError::SignedOut => {
                format!("Nobody is signed in on {host}: sign in there, then prepare again.")
            }
            PrepareError::NoSession => format!(
                "The browser holds no _gitlab_session for {host}: reload a page of {host}, then prepare again."
            ),
            PrepareError::Unreadable(why) => {
                format!("{host} did not say who is signed in ({why}): reload the page, then prepare again.")
            }
        }
    }
}

impl Prepared {
    /// The session a probe saw, kept as the baseline of checks after the change.
    pub fn from_observation(
        host: &str,
        o: &Observation,
        issue_url: Option<String>,
    ) -> Result<Prepared, PrepareError> {
        let (user_id, username) = match &o.identity {
            Identity::SignedIn { id, username } => (*id, username.clone()),
            Identity::SignedOut => return Err(PrepareError::SignedOut),
            Identity::Status { status } | Identity::Failing { status, .. } => {
                return Err(PrepareError::Unreadable(format!("HTTP {status}")))
            }
            Identity::Unreachable { detail } => {
                return Err(PrepareError::Unreadable(detail.clone()))
            }
        };
        if !o.session.present || o.session.fingerprint.is_none() {
            return Err(PrepareError::NoSession);
        }
        Ok(Prepared {
            version: PREPARED_VERSION,
            host: host.to_string(),
            user_id,
            username,
            session: o.session.clone(),
            stage: o.stage(),
            pod: o.pod().map(str::to_string),
            at_ms: o.at_ms,
            issue_url,
            browser_run: None,
        })
    }

    /// Marks the browser run this session was prepared in.
    pub fn in_browser_run(mut self, run: Option<String>) -> Prepared {
        self.browser_run = run;
        self
    }

    /// `HH:MM UTC` of the preparation, for sentences.
    pub fn when(&self) -> String {
        let t = crate::utc::utc_time(self.at_ms);
        format!("{} UTC", t.get(..5).unwrap_or(&t))
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub at_ms: f64,
    pub identity: Identity,
    pub detection: Option<Detection>,
    pub session: SessionCookie,
}

impl Observation {
    pub fn stage(&self) -> Stage {
        self.detection.as_ref().map_or(Stage::Unknown, |d| d.stage)
    }
    pub fn pod(&self) -> Option<&str> {
        self.detection.as_ref().and_then(|d| d.pod.as_deref())
    }
    /// The HTTP status of `/api/v4/user`, when there was an answer.
    pub fn http_status(&self) -> Option<u16> {
        match self.identity {
            Identity::SignedIn { .. } => Some(200),
            Identity::SignedOut => Some(401),
            Identity::Status { status } | Identity::Failing { status, .. } => Some(status),
            Identity::Unreachable { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// One finished step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub kind: StepKind,
    /// The stage this step meant to reach, for stage steps.
    pub target_stage: Option<Stage>,
    pub observation: Option<Observation>,
    pub verdict: Verdict,
    /// One sentence: why, for anything but a plain pass.
    pub note: Option<String>,
    /// Whether `_gitlab_session` changed since the previous step that saw it.
    pub session_changed: Option<bool>,
}

/// What the background must do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Make the environment receive this preference (host-only cookie), then reload.
    SetStage(Preference),
    /// Reload the tab once and wait for it.
    Reload,
    /// Ask the page who is signed in, and read the stage signals and `_gitlab_session`.
    Probe,
    /// Put the `gitlab_canary` cookies back exactly as they were found.
    RestoreCookies(Vec<StoredCookie>),
    /// Tell the user to sign out (or in) and probe until they have, or the deadline passes.
    AwaitUser { sign_in: bool, deadline_ms: f64 },
    /// Nothing left.
    Done,
}

/// What the background reports after an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    StageSet,
    /// `finished`: the page finished loading before the timeout.
    Reloaded {
        finished: bool,
    },
    Probed(Observation),
    /// The action could not be done (no content script, tab closed, cookie refused…).
    Failed {
        reason: String,
    },
    /// `exact`: the cookies read back equal the ones found.
    Restored {
        exact: bool,
    },
    /// The guided wait ended without the expected state.
    UserTimedOut,
    Cancelled,
}

/// Where the check is: the step, and how far into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub step: StepKind,
    /// 0 = not started; stage steps: 1 = stage set, 2 = reloaded. Refresh: 1 = reloaded.
    pub phase: u8,
}

/// A whole check: inputs, progress, results. Saved after every action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub id: String,
    pub tab_id: i32,
    pub host: String,
    pub env_label: String,
    pub extension_version: String,
    pub started_ms: f64,
    pub finished_ms: Option<f64>,
    /// The `gitlab_canary` cookies as found, restored at the end.
    pub original_cookies: Vec<StoredCookie>,
    /// Whether the guided sign-out/sign-in steps run after the automatic ones.
    pub guided: bool,
    /// How long the user has for each guided step.
    pub guided_limit_ms: f64,
    pub position: Option<Position>,
    pub steps: Vec<StepResult>,
    pub verdict: Option<Verdict>,
    /// The stage the baseline was served by, once known.
    pub home_stage: Option<Stage>,
    /// Set by a guided step when it starts waiting.
    pub deadline_ms: Option<f64>,
    /// The stored shape's version ([`CHECK_VERSION`]); 1 for checks stored before it was kept.
    #[serde(default = "shape_v1")]
    pub version: u32,
    /// The session prepared before the change, that this check compares with first.
    #[serde(default)]
    pub prepared: Option<Prepared>,
    /// The check runs after a rollback (sessions written after the change must still read).
    #[serde(default)]
    pub after_rollback: bool,
    /// The browser run the check started in (see [`Prepared::browser_run`]).
    #[serde(default)]
    pub browser_run: Option<String>,
}

fn shape_v1() -> u32 {
    1
}

/// The preference that pins a stage.
fn pin(stage: Stage) -> Preference {
    match stage {
        Stage::Canary => Preference::Next,
        _ => Preference::Current,
    }
}

fn other(stage: Stage) -> Stage {
    match stage {
        Stage::Canary => Stage::Main,
        _ => Stage::Canary,
    }
}

impl Check {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        tab_id: i32,
        host: String,
        env_label: String,
        extension_version: String,
        started_ms: f64,
        original_cookies: Vec<StoredCookie>,
        guided: bool,
        guided_limit_ms: f64,
    ) -> Check {
        Check {
            id,
            tab_id,
            host,
            env_label,
            extension_version,
            started_ms,
            finished_ms: None,
            original_cookies,
            guided,
            guided_limit_ms,
            position: Some(Position {
                step: StepKind::Baseline,
                phase: 0,
            }),
            steps: Vec::new(),
            verdict: None,
            home_stage: None,
            deadline_ms: None,
            version: CHECK_VERSION,
            prepared: None,
            after_rollback: false,
            browser_run: None,
        }
    }

    /// Marks the browser run this check runs in.
    pub fn in_browser_run(mut self, run: Option<String>) -> Check {
        self.browser_run = run;
        self
    }

    /// "the change", or "the rollback" for a check labelled after one: the event the
    /// prepared session had to survive.
    pub fn event(&self) -> &'static str {
        if self.after_rollback {
            "the rollback"
        } else {
            "the change"
        }
    }

    /// Whether the browser was restarted between the preparation and this check.
    fn restarted_since(&self, p: &Prepared) -> bool {
        matches!((&p.browser_run, &self.browser_run), (Some(a), Some(b)) if a != b)
    }

    /// This check compares with a session prepared before the change.
    pub fn with_prepared(mut self, prepared: Option<Prepared>) -> Check {
        self.prepared = prepared;
        self
    }

    /// Labels this check as run after a rollback.
    pub fn labelled_after_rollback(mut self, after_rollback: bool) -> Check {
        self.after_rollback = after_rollback;
        self
    }

    /// A check stored by any earlier version, in today's shape: fields added since take their
    /// defaults (no prepared session, not after a rollback), and nothing is dropped.
    pub fn migrated(mut self) -> Check {
        self.version = CHECK_VERSION;
        self
    }

    pub fn running(&self) -> bool {
        self.position.is_some()
    }

    /// The user the baseline saw.
    pub fn user(&self) -> Option<(u64, &str)> {
        self.steps.first().and_then(|s| match &s.observation {
            Some(Observation {
                identity: Identity::SignedIn { id, username },
                ..
            }) => Some((*id, username.as_str())),
            _ => None,
        })
    }

    fn target_of(&self, step: StepKind) -> Option<Stage> {
        let home = self.home_stage?;
        match step {
            StepKind::OtherStage => Some(other(home)),
            StepKind::Back => Some(home),
            _ => None,
        }
    }

    /// What to do now.
    pub fn next_action(&self) -> Action {
        let Some(pos) = self.position else {
            return Action::Done;
        };
        match (pos.step, pos.phase) {
            (StepKind::Baseline, _) => Action::Probe,
            (StepKind::Refresh, 0) => Action::Reload,
            (StepKind::Refresh, _) => Action::Probe,
            (StepKind::OtherStage | StepKind::Back, 0) => {
                Action::SetStage(pin(self.target_of(pos.step).unwrap_or(Stage::Canary)))
            }
            (StepKind::OtherStage | StepKind::Back, 1) => Action::Reload,
            (StepKind::OtherStage | StepKind::Back, _) => Action::Probe,
            (StepKind::Restore, _) => Action::RestoreCookies(self.original_cookies.clone()),
            (StepKind::SignOut | StepKind::SignIn, _) => Action::AwaitUser {
                sign_in: pos.step == StepKind::SignIn,
                deadline_ms: self.deadline_ms.unwrap_or(f64::INFINITY),
            },
        }
    }

    /// Starts the deadline of a guided step, if it has none yet.
    pub fn start_wait(&mut self, now_ms: f64) {
        if self.deadline_ms.is_none() {
            self.deadline_ms = Some(now_ms + self.guided_limit_ms);
        }
    }

    fn last_fingerprint(&self) -> Option<&SessionCookie> {
        self.steps
            .iter()
            .rev()
            .filter_map(|s| s.observation.as_ref().map(|o| &o.session))
            .next()
    }

    fn finish_step(
        &mut self,
        kind: StepKind,
        observation: Option<Observation>,
        verdict: Verdict,
        note: Option<String>,
    ) {
        let session_changed = match (&observation, self.last_fingerprint()) {
            (Some(o), Some(prev)) => Some(!o.session.same_as(prev)),
            _ => None,
        };
        self.steps.push(StepResult {
            kind,
            target_stage: self.target_of(kind),
            observation,
            verdict,
            note,
            session_changed,
        });
        self.deadline_ms = None;
    }

    fn advance(&mut self, now_ms: f64) {
        let Some(pos) = self.position else { return };
        let next = match pos.step {
            StepKind::Baseline => Some(StepKind::Refresh),
            StepKind::Refresh => Some(StepKind::OtherStage),
            StepKind::OtherStage => Some(StepKind::Back),
            StepKind::Back => Some(StepKind::Restore),
            StepKind::Restore => self.guided.then_some(StepKind::SignOut),
            StepKind::SignOut => Some(StepKind::SignIn),
            StepKind::SignIn => None,
        };
        self.position = next.map(|step| Position { step, phase: 0 });
        if self.position.is_none() {
            self.conclude(now_ms);
        }
    }

    /// Skips straight to restoring cookies (the check cannot go on, but the user's cookies
    /// must still be put back), or ends when they are restored already.
    fn abort_to_restore(&mut self, now_ms: f64) {
        let restored = self.steps.iter().any(|s| s.kind == StepKind::Restore);
        if restored {
            self.position = None;
            self.conclude(now_ms);
        } else {
            self.position = Some(Position {
                step: StepKind::Restore,
                phase: 0,
            });
            // Guided steps make no sense after an aborted automatic part.
            self.guided = false;
        }
    }

    fn conclude(&mut self, now_ms: f64) {
        self.finished_ms = Some(now_ms);
        self.verdict = Some(self.overall());
    }

    /// FAIL if any step failed; else INCONCLUSIVE if any step was, or the automatic part did
    /// not run to the end; else PASS.
    pub fn overall(&self) -> Verdict {
        if self.steps.iter().any(|s| s.verdict == Verdict::Fail) {
            return Verdict::Fail;
        }
        let automatic = [
            StepKind::Baseline,
            StepKind::Refresh,
            StepKind::OtherStage,
            StepKind::Back,
            StepKind::Restore,
        ];
        let complete = automatic
            .iter()
            .all(|k| self.steps.iter().any(|s| s.kind == *k));
        if !complete
            || self
                .steps
                .iter()
                .any(|s| s.verdict == Verdict::Inconclusive)
        {
            return Verdict::Inconclusive;
        }
        Verdict::Pass
    }

    /// The first failing step, for the one-line summary.
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.verdict == Verdict::Fail)
    }

    /// The stage that answered a probe, for sentences: the page's own signals, else the stage
    /// the step asked for with `gitlab_canary` (an error page names none).
    fn place(&self, kind: StepKind, o: &Observation) -> String {
        match (o.stage(), self.target_of(kind)) {
            (Stage::Unknown, Some(t)) => {
                format!("{} (as asked; the error page names no stage)", t.as_str())
            }
            (Stage::Unknown, None) => "a stage the error page does not name".into(),
            (s, _) => format!("{}{}", s.as_str(), pod_suffix(o)),
        }
    }

    /// The sentence for a step whose every request with the session failed with a 5xx while
    /// the same request without it worked: who is locked out, and until when.
    fn broken_sentence(&self, kind: StepKind, o: &Observation, status: u16) -> String {
        let who = match (kind, self.target_of(kind)) {
            (StepKind::OtherStage | StepKind::Back, Some(t)) => format!(
                "users whose session was written by {} cannot use {} until they clear their cookies",
                other(t).as_str(),
                t.as_str()
            ),
            _ => "users with such a session cannot use GitLab until they clear their cookies".into(),
        };
        format!(
            "every request that carries this session fails with HTTP {status} on {}, while requests without it work: {who}",
            self.place(kind, o)
        )
    }

    /// Judges one probe of a step that expects the baseline user.
    fn judge(&self, kind: StepKind, o: &Observation) -> (Verdict, Option<String>) {
        if let Some(status) = o.identity.session_broken() {
            return (Verdict::Fail, Some(self.broken_sentence(kind, o, status)));
        }
        if let Some(why) = o.identity.no_verdict() {
            return (Verdict::Inconclusive, Some(why));
        }
        let user = self.user();
        let page = o.detection.as_ref().and_then(|d| d.signed_in);
        match (&o.identity, user) {
            (Identity::SignedOut, _) if page == Some(true) => (
                Verdict::Inconclusive,
                Some("the API says signed out but the page shows a signed-in user".into()),
            ),
            (Identity::SignedOut, _) => (
                Verdict::Fail,
                Some(format!(
                    "signed out on {}{}",
                    o.stage().as_str(),
                    o.pod().map(|p| format!(" (pod {p})")).unwrap_or_default()
                )),
            ),
            (Identity::SignedIn { id, username }, Some((uid, uname)))
                if *id != uid || username != uname =>
            {
                (
                    Verdict::Fail,
                    Some(format!("signed in as @{username}, not @{uname}")),
                )
            }
            (Identity::SignedIn { .. }, _) if page == Some(false) => (
                Verdict::Inconclusive,
                Some("the API says signed in but the page shows no signed-in user".into()),
            ),
            (Identity::SignedIn { .. }, _)
                if matches!(
                    kind,
                    StepKind::Refresh | StepKind::OtherStage | StepKind::Back
                ) && self
                    .last_fingerprint()
                    .is_some_and(|prev| prev.replaced_by(&o.session)) =>
            {
                (Verdict::Fail, Some(replaced_sentence(o)))
            }
            (Identity::SignedIn { .. }, _) => {
                let target = self.target_of(kind);
                match target {
                    Some(t) if o.stage() != t => (
                        Verdict::Inconclusive,
                        Some(format!(
                            "the page was served by {} instead of {} (canary may be disabled, or the page shows no stage signal)",
                            o.stage().as_str(),
                            t.as_str()
                        )),
                    ),
                    _ => (Verdict::Pass, None),
                }
            }
            // Answers that say nothing of the session were judged above.
            _ => (Verdict::Inconclusive, o.identity.no_verdict()),
        }
    }

    /// Judges the baseline against the session prepared before the change, if there is one:
    /// `None` when there is none; else the verdict, its sentence, and whether the rest of the
    /// check can still run (a signed-in user, the prepared one or not).
    fn judge_prepared(&self, o: &Observation) -> Option<(Verdict, Option<String>, bool)> {
        let p = self.prepared.as_ref()?;
        let event = self.event();
        // The browser's life-cycle is not the change: a session cookie that ends with the
        // browser is gone after a restart whatever the change did.
        if self.restarted_since(p)
            && p.session.ends_with_browser == Some(true)
            && (!o.session.present || p.session.replaced_by(&o.session))
        {
            return Some((
                Verdict::Inconclusive,
                Some(format!(
                    "the browser was restarted after the session was prepared at {}, and GitLab's session cookie ends with the browser: prepare again and keep the browser open until the check",
                    p.when()
                )),
                false,
            ));
        }
        let lost = format!("the session prepared at {} did not survive", p.when());
        if let Some(status) = o.identity.session_broken() {
            return Some((
                Verdict::Fail,
                Some(format!(
                    "{lost}: every request that carries it fails with HTTP {status} on {}, while requests without it work: users whose session was written before {event} cannot use GitLab until they clear their cookies",
                    self.place(StepKind::Baseline, o)
                )),
                false,
            ));
        }
        Some(match &o.identity {
            Identity::SignedOut => (
                Verdict::Fail,
                Some(format!(
                    "{lost}: signed out at the first request after {event} (on {}{})",
                    o.stage().as_str(),
                    pod_suffix(o)
                )),
                false,
            ),
            Identity::SignedIn { id, username } if *id != p.user_id || *username != p.username => (
                Verdict::Fail,
                Some(format!(
                    "{lost}: signed in as @{username}, not @{}",
                    p.username
                )),
                true,
            ),
            Identity::SignedIn { .. } if p.session.replaced_by(&o.session) => (
                Verdict::Fail,
                Some(format!("{lost}: {}", replaced_sentence(o))),
                true,
            ),
            Identity::SignedIn { .. } => (Verdict::Pass, None, true),
            _ => {
                let (v, note) = self.judge(StepKind::Baseline, o);
                (v, note, false)
            }
        })
    }

    /// Takes the result of the action [`Check::next_action`] asked for.
    pub fn record(&mut self, event: Event, now_ms: f64) {
        let Some(pos) = self.position else { return };
        if let Event::Cancelled = event {
            self.finish_step(
                pos.step,
                None,
                Verdict::Inconclusive,
                Some("cancelled by the user".into()),
            );
            self.abort_to_restore(now_ms);
            return;
        }
        match (pos.step, event) {
            (StepKind::Baseline, Event::Probed(o)) if self.prepared.is_some() => {
                let (verdict, note, go_on) =
                    self.judge_prepared(&o)
                        .unwrap_or((Verdict::Inconclusive, None, false));
                let stage = o.stage();
                self.home_stage = Some(if stage == Stage::Unknown {
                    Stage::Main
                } else {
                    stage
                });
                self.finish_step(StepKind::Baseline, Some(o), verdict, note);
                // A session that did not survive is the verdict already; the other steps still
                // show how the new session fares, when there is one.
                if go_on {
                    self.advance(now_ms);
                } else {
                    self.abort_to_restore(now_ms);
                }
            }
            (StepKind::Baseline, Event::Probed(o)) => {
                let signed_in = matches!(o.identity, Identity::SignedIn { .. });
                let stage = o.stage();
                let (verdict, note) = match &o.identity {
                    Identity::SignedIn { .. }
                        if o.detection.as_ref().and_then(|d| d.signed_in) == Some(false) =>
                    {
                        (
                            Verdict::Inconclusive,
                            Some(
                                "the API says signed in but the page shows no signed-in user"
                                    .into(),
                            ),
                        )
                    }
                    Identity::SignedIn { .. } => (Verdict::Pass, None),
                    Identity::SignedOut => (
                        Verdict::Inconclusive,
                        Some("nobody is signed in: sign in first, then start the check".into()),
                    ),
                    _ => self.judge(StepKind::Baseline, &o),
                };
                self.home_stage = Some(if stage == Stage::Unknown {
                    Stage::Main
                } else {
                    stage
                });
                let ok = verdict == Verdict::Pass && signed_in;
                self.finish_step(StepKind::Baseline, Some(o), verdict, note);
                if ok {
                    self.advance(now_ms);
                } else {
                    self.abort_to_restore(now_ms);
                }
            }
            (StepKind::Refresh | StepKind::OtherStage | StepKind::Back, Event::StageSet) => {
                self.position = Some(Position {
                    step: pos.step,
                    phase: 1,
                });
            }
            (
                StepKind::Refresh | StepKind::OtherStage | StepKind::Back,
                Event::Reloaded { finished },
            ) => {
                if finished {
                    self.position = Some(Position {
                        step: pos.step,
                        phase: if pos.step == StepKind::Refresh { 1 } else { 2 },
                    });
                } else {
                    self.finish_step(
                        pos.step,
                        None,
                        Verdict::Inconclusive,
                        Some("the page did not finish loading in time".into()),
                    );
                    self.abort_to_restore(now_ms);
                }
            }
            (StepKind::Refresh | StepKind::OtherStage | StepKind::Back, Event::Probed(o)) => {
                let (verdict, note) = self.judge(pos.step, &o);
                self.finish_step(pos.step, Some(o), verdict, note);
                match verdict {
                    Verdict::Pass => self.advance(now_ms),
                    // A stage that did not change is this step's problem only: go on.
                    Verdict::Inconclusive
                        if pos.step != StepKind::Refresh
                            && self
                                .steps
                                .last()
                                .and_then(|s| s.observation.as_ref())
                                .is_some_and(|o| {
                                    matches!(o.identity, Identity::SignedIn { .. })
                                }) =>
                    {
                        self.advance(now_ms)
                    }
                    _ => self.abort_to_restore(now_ms),
                }
            }
            (step, Event::Failed { reason }) => {
                self.finish_step(step, None, Verdict::Inconclusive, Some(reason));
                self.abort_to_restore(now_ms);
            }
            (StepKind::Restore, Event::Restored { exact }) => {
                let (verdict, note) = if exact {
                    (Verdict::Pass, None)
                } else {
                    (
                        Verdict::Inconclusive,
                        Some(
                            "the gitlab_canary cookies could not be put back exactly as found"
                                .into(),
                        ),
                    )
                };
                self.finish_step(StepKind::Restore, None, verdict, note);
                if self.verdict_so_far_allows_guided() {
                    self.advance(now_ms);
                } else {
                    self.position = None;
                    self.conclude(now_ms);
                }
            }
            (StepKind::SignOut, Event::Probed(o)) if o.identity == Identity::SignedOut => {
                self.finish_step(StepKind::SignOut, Some(o), Verdict::Pass, None);
                self.advance(now_ms);
            }
            (StepKind::SignIn, Event::Probed(o))
                if matches!(o.identity, Identity::SignedIn { .. }) =>
            {
                let (verdict, note) = self.judge(StepKind::SignIn, &o);
                self.finish_step(StepKind::SignIn, Some(o), verdict, note);
                self.advance(now_ms);
            }
            (step @ (StepKind::SignOut | StepKind::SignIn), Event::UserTimedOut) => {
                let what = if step == StepKind::SignOut {
                    "sign-out"
                } else {
                    "sign-in"
                };
                self.finish_step(
                    step,
                    None,
                    Verdict::Inconclusive,
                    Some(format!("no {what} was seen before the time limit")),
                );
                self.position = None;
                self.conclude(now_ms);
            }
            // Anything else is a guided step still waiting (the background probes again), or a
            // stale report from before a restart: ignore it.
            _ => {}
        }
    }

    fn verdict_so_far_allows_guided(&self) -> bool {
        self.guided && self.steps.iter().all(|s| s.verdict == Verdict::Pass)
    }

    /// The toolbar badge while the check runs: the step in progress of all the steps it will
    /// take ("2/5", or "6/7" in a guided check's sign-out step).
    pub fn progress_badge(&self) -> String {
        let total = if self.guided { 7 } else { 5 };
        format!("{}/{total}", (self.steps.len() + 1).min(total))
    }

    /// The step in progress, for the popup.
    pub fn current_step(&self) -> Option<StepKind> {
        self.position.map(|p| p.step)
    }
}

fn pod_suffix(o: &Observation) -> String {
    o.pod().map(|p| format!(", pod {p}")).unwrap_or_default()
}

/// The sentence for a signed-in probe whose session is not the one the previous step saw.
fn replaced_sentence(o: &Observation) -> String {
    let place = format!("{}{}", o.stage().as_str(), pod_suffix(o));
    if o.session.remember {
        format!("the session was replaced on {place}; remember-me signed the user in again, so users without it were signed out")
    } else {
        format!("the session was replaced on {place} while the user still appeared signed in")
    }
}

/// Keeps the newest [`HISTORY_LEN`] checks, newest first, replacing one with the same id.
/// Generic over the entry, so the background keeps entries as stored (one this version cannot
/// read is kept, not dropped): `id_of` reads an entry's id, if it has one.
pub fn remember<T>(history: &mut Vec<T>, entry: T, id_of: impl Fn(&T) -> Option<String>) {
    let id = id_of(&entry);
    history.retain(|e| id.is_none() || id_of(e) != id);
    history.insert(0, entry);
    history.truncate(HISTORY_LEN);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{PerfBar, Signal};

    const SIGNED_OUT: Identity = Identity::SignedOut;

    fn me() -> Identity {
        Identity::SignedIn {
            id: 101,
            username: "qa-user".into(),
        }
    }

    fn det(stage: Stage) -> Detection {
        Detection {
            stage,
            signal: Some(Signal::PerfBar),
            pod: Some(match stage {
                Stage::Canary => "gitlab-cny-webservice-web-1-a".into(),
                _ => "gitlab-webservice-web-1-a".into(),
            }),
            service: Some("web".into()),
            request_id: Some("r".into()),
            pod_signal: None,
            signals: vec![],
            perf_bar: PerfBar::Rendered,
            disagreements: vec![],
            signed_in: Some(true),
            at_ms: 0.0,
        }
    }

    fn obs(identity: Identity, stage: Stage, fp: &str) -> Observation {
        let mut d = det(stage);
        d.signed_in = Some(matches!(identity, Identity::SignedIn { .. }));
        Observation {
            at_ms: 1.0,
            identity,
            detection: Some(d),
            session: SessionCookie {
                present: true,
                fingerprint: Some(fp.into()),
                remember: false,
                ends_with_browser: None,
            },
        }
    }

    fn new(guided: bool) -> Check {
        Check::new(
            "c1".into(),
            7,
            "staging.gitlab.com".into(),
            "staging.gitlab.com (staging)".into(),
            "0.1.0".into(),
            0.0,
            vec![],
            guided,
            60_000.0,
        )
    }

    /// Drives a check with a scripted world: `serve(step)` says what a probe sees.
    fn drive(mut c: Check, serve: impl Fn(StepKind, Option<Stage>) -> Observation) -> Check {
        for _ in 0..50 {
            let step = c.current_step();
            match c.next_action() {
                Action::Done => break,
                Action::SetStage(_) => c.record(Event::StageSet, 1.0),
                Action::Reload => c.record(Event::Reloaded { finished: true }, 1.0),
                Action::Probe | Action::AwaitUser { .. } => {
                    let s = step.unwrap_or(StepKind::Baseline);
                    let o = serve(s, c.target_of(s));
                    c.record(Event::Probed(o), 2.0)
                }
                Action::RestoreCookies(_) => c.record(Event::Restored { exact: true }, 3.0),
            }
        }
        c
    }

    fn kinds(c: &Check) -> Vec<(StepKind, Verdict)> {
        c.steps.iter().map(|s| (s.kind, s.verdict)).collect()
    }

    #[test]
    fn pass_when_every_step_sees_the_same_user_on_the_right_stage() {
        let c = drive(new(false), |_, target| {
            obs(me(), target.unwrap_or(Stage::Main), "aa")
        });
        assert_eq!(c.verdict, Some(Verdict::Pass));
        assert_eq!(
            kinds(&c),
            vec![
                (StepKind::Baseline, Verdict::Pass),
                (StepKind::Refresh, Verdict::Pass),
                (StepKind::OtherStage, Verdict::Pass),
                (StepKind::Back, Verdict::Pass),
                (StepKind::Restore, Verdict::Pass),
            ]
        );
        assert_eq!(c.steps[2].target_stage, Some(Stage::Canary));
        assert_eq!(c.steps[3].target_stage, Some(Stage::Main));
        assert_eq!(c.steps[1].session_changed, Some(false));
        assert!(!c.running());
        assert_eq!(c.finished_ms, Some(3.0));
    }

    #[test]
    fn fail_names_the_step_stage_and_pod_when_main_cannot_read_canary_sessions() {
        // canary-new-format: after canary wrote the session, main signs the user out.
        let c = drive(new(false), |step, target| match step {
            StepKind::Back => obs(SIGNED_OUT, Stage::Main, "bb"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        let f = c.first_failure().unwrap();
        assert_eq!(f.kind, StepKind::Back);
        assert_eq!(
            f.note.as_deref(),
            Some("signed out on main (pod gitlab-webservice-web-1-a)")
        );
        assert_eq!(f.session_changed, Some(true));
        // The cookies are still restored after the failure.
        assert_eq!(c.steps.last().unwrap().kind, StepKind::Restore);
    }

    #[test]
    fn a_5xx_stage_is_inconclusive_not_fail() {
        let c = drive(new(false), |step, target| match step {
            StepKind::OtherStage => Observation {
                at_ms: 1.0,
                identity: Identity::Status { status: 502 },
                detection: Some(Detection {
                    signed_in: None,
                    ..det(Stage::Unknown)
                }),
                session: SessionCookie::default(),
            },
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        assert_eq!(
            c.steps[2].note.as_deref(),
            Some("/api/v4/user answered HTTP 502")
        );
        assert_eq!(c.steps.last().unwrap().kind, StepKind::Restore);
        assert!(c.first_failure().is_none());
    }

    #[test]
    fn a_stage_that_did_not_change_makes_that_step_inconclusive_and_the_check_goes_on() {
        // Canary disabled: everything is served by main.
        let c = drive(new(false), |_, _| obs(me(), Stage::Main, "aa"));
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        assert_eq!(c.steps[2].verdict, Verdict::Inconclusive);
        assert!(c.steps[2]
            .note
            .as_deref()
            .unwrap()
            .contains("served by main instead of canary"));
        assert_eq!(c.steps.len(), 5);
    }

    #[test]
    fn signed_out_at_baseline_is_inconclusive_sign_in_first() {
        let c = drive(new(true), |_, _| obs(SIGNED_OUT, Stage::Main, "aa"));
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        assert!(c.steps[0]
            .note
            .as_deref()
            .unwrap()
            .contains("sign in first"));
        assert_eq!(
            kinds(&c),
            vec![
                (StepKind::Baseline, Verdict::Inconclusive),
                (StepKind::Restore, Verdict::Pass)
            ]
        );
    }

    #[test]
    fn someone_else_is_a_failure() {
        let c = drive(new(false), |step, target| match step {
            StepKind::Refresh => obs(
                Identity::SignedIn {
                    id: 102,
                    username: "other-user".into(),
                },
                Stage::Main,
                "aa",
            ),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        assert_eq!(
            c.first_failure().unwrap().note.as_deref(),
            Some("signed in as @other-user, not @qa-user")
        );
    }

    #[test]
    fn api_and_page_disagreeing_is_inconclusive() {
        let c = drive(new(false), |step, target| {
            let mut o = obs(me(), target.unwrap_or(Stage::Main), "aa");
            if step == StepKind::Refresh {
                o.identity = Identity::SignedOut;
                if let Some(d) = o.detection.as_mut() {
                    d.signed_in = Some(true);
                }
            }
            o
        });
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        assert!(c.first_failure().is_none());
    }

    #[test]
    fn guided_sign_out_and_in() {
        let mut c = drive(new(true), |step, target| match step {
            StepKind::SignOut => obs(SIGNED_OUT, Stage::Main, "cc"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "dd"),
        });
        assert_eq!(c.verdict, Some(Verdict::Pass));
        assert_eq!(c.steps.len(), 7);
        assert_eq!(c.steps[6].session_changed, Some(true));
        // Timing out while waiting is inconclusive.
        c = new(true);
        c = drive(c, |step, target| match step {
            StepKind::SignOut => obs(me(), Stage::Main, "dd"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "dd"),
        });
        assert_eq!(c.current_step(), Some(StepKind::SignOut));
        c.start_wait(10.0);
        assert_eq!(
            c.next_action(),
            Action::AwaitUser {
                sign_in: false,
                deadline_ms: 60_010.0
            }
        );
        c.record(Event::UserTimedOut, 60_011.0);
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
    }

    #[test]
    fn cancel_restores_cookies_then_ends() {
        let mut c = new(false);
        c.record(Event::Probed(obs(me(), Stage::Main, "aa")), 1.0);
        c.record(Event::Cancelled, 2.0);
        assert!(matches!(c.next_action(), Action::RestoreCookies(_)));
        c.record(Event::Restored { exact: true }, 3.0);
        assert_eq!(c.next_action(), Action::Done);
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
    }

    #[test]
    fn resume_after_restart_repeats_only_the_interrupted_action() {
        let mut c = new(false);
        c.record(Event::Probed(obs(me(), Stage::Main, "aa")), 1.0);
        c.record(Event::Reloaded { finished: true }, 1.0);
        // Saved and loaded again, as after a service-worker restart.
        let saved = serde_json::to_string(&c).unwrap();
        let mut back: Check = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.next_action(), Action::Probe);
        back.record(Event::Probed(obs(me(), Stage::Main, "aa")), 2.0);
        assert_eq!(back.next_action(), Action::SetStage(Preference::Next));
        // A stale report for another step changes nothing.
        back.record(Event::Restored { exact: true }, 2.0);
        assert_eq!(back.next_action(), Action::SetStage(Preference::Next));
    }

    #[test]
    fn slow_page_or_no_content_script_is_inconclusive() {
        let mut c = new(false);
        c.record(Event::Probed(obs(me(), Stage::Canary, "aa")), 1.0);
        assert_eq!(c.home_stage, Some(Stage::Canary));
        c.record(Event::Reloaded { finished: false }, 2.0);
        assert!(matches!(c.next_action(), Action::RestoreCookies(_)));
        let mut c = new(false);
        c.record(
            Event::Failed {
                reason: "no page".into(),
            },
            1.0,
        );
        c.record(Event::Restored { exact: true }, 2.0);
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
    }

    #[test]
    fn progress_counts_every_step_the_check_will_take() {
        let mut c = new(false);
        assert_eq!(c.progress_badge(), "1/5");
        c.record(Event::Probed(obs(me(), Stage::Main, "aa")), 1.0);
        assert_eq!(c.progress_badge(), "2/5");
        let c = drive(new(true), |step, target| match step {
            StepKind::SignOut => obs(me(), Stage::Main, "dd"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "dd"),
        });
        assert_eq!(c.current_step(), Some(StepKind::SignOut));
        assert_eq!(c.progress_badge(), "6/7");
    }

    #[test]
    fn history_keeps_twenty_newest() {
        let mut h = Vec::new();
        for i in 0..25 {
            let mut c = new(false);
            c.id = format!("c{i}");
            remember(&mut h, c, |c: &Check| Some(c.id.clone()));
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0].id, "c24");
        let mut again = new(false);
        again.id = "c24".into();
        again.verdict = Some(Verdict::Pass);
        remember(&mut h, again, |c: &Check| Some(c.id.clone()));
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0].verdict, Some(Verdict::Pass));
    }

    fn remembered(identity: Identity, stage: Stage, fp: &str) -> Observation {
        let mut o = obs(identity, stage, fp);
        o.session.remember = true;
        o
    }

    #[test]
    fn a_session_replaced_while_signed_in_is_a_fail_not_a_pass() {
        // Main cannot read canary's session; remember-me signs the user in again with a new one.
        let c = drive(new(false), |step, target| match step {
            StepKind::Back => remembered(me(), Stage::Main, "new1"),
            _ => remembered(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        let f = c.first_failure().unwrap();
        assert_eq!(f.kind, StepKind::Back);
        assert_eq!(f.session_changed, Some(true));
        assert_eq!(
            f.note.as_deref(),
            Some("the session was replaced on main, pod gitlab-webservice-web-1-a; remember-me signed the user in again, so users without it were signed out")
        );
        // Without remember-me the same replacement is named as such.
        let c = drive(new(false), |step, target| match step {
            StepKind::Refresh => obs(me(), Stage::Main, "new2"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.first_failure().map(|f| f.kind), Some(StepKind::Refresh));
        assert!(c
            .first_failure()
            .unwrap()
            .note
            .as_deref()
            .unwrap()
            .ends_with("while the user still appeared signed in"));
    }

    #[test]
    fn guided_sign_out_and_in_expect_a_new_session() {
        let c = drive(new(true), |step, target| match step {
            StepKind::SignOut => obs(SIGNED_OUT, Stage::Main, "anon"),
            StepKind::SignIn => obs(me(), Stage::Main, "fresh"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Pass), "{:?}", kinds(&c));
        assert_eq!(c.steps.len(), 7);
    }

    fn prepared(fp: &str) -> Prepared {
        Prepared::from_observation(
            "staging.gitlab.com",
            &Observation {
                at_ms: 1_795_230_100_000.0,
                ..obs(me(), Stage::Main, fp)
            },
            Some("https://gitlab.com/gitlab-com/gl-infra/production/-/issues/19142".into()),
        )
        .unwrap()
    }

    #[test]
    fn a_prepared_session_that_survived_passes() {
        let c = drive(
            new(false).with_prepared(Some(prepared("aa"))),
            |_, target| obs(me(), target.unwrap_or(Stage::Main), "aa"),
        );
        assert_eq!(c.verdict, Some(Verdict::Pass), "{:?}", kinds(&c));
        assert_eq!(c.steps.len(), 5);
    }

    #[test]
    fn a_prepared_session_signed_out_by_the_change_fails_at_the_first_request() {
        let c = drive(new(false).with_prepared(Some(prepared("aa"))), |_, _| {
            obs(SIGNED_OUT, Stage::Main, "anon")
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        assert_eq!(
            c.steps[0].note.as_deref(),
            Some("the session prepared at 03:01 UTC did not survive: signed out at the first request after the change (on main, pod gitlab-webservice-web-1-a)")
        );
        // Nothing else can be checked without a session, but the cookies are put back.
        assert_eq!(
            kinds(&c),
            vec![
                (StepKind::Baseline, Verdict::Fail),
                (StepKind::Restore, Verdict::Pass)
            ]
        );
    }

    #[test]
    fn a_prepared_session_replaced_by_remember_me_fails_and_the_rest_still_runs() {
        let c = drive(
            new(false).with_prepared(Some(prepared("aa"))),
            |_, target| remembered(me(), target.unwrap_or(Stage::Main), "new1"),
        );
        assert_eq!(c.verdict, Some(Verdict::Fail));
        assert_eq!(c.first_failure().map(|f| f.kind), Some(StepKind::Baseline));
        assert!(c.steps[0].note.as_deref().unwrap().starts_with(
            "the session prepared at 03:01 UTC did not survive: the session was replaced on main"
        ));
        // The new session itself stays readable through the rest of the check.
        assert_eq!(c.steps.len(), 5);
        assert!(c.steps[1..].iter().all(|s| s.verdict == Verdict::Pass));
    }

    #[test]
    fn preparing_needs_a_signed_in_session() {
        let o = obs(SIGNED_OUT, Stage::Main, "aa");
        assert_eq!(
            Prepared::from_observation("gitlab.com", &o, None),
            Err(PrepareError::SignedOut)
        );
        let mut o = obs(me(), Stage::Main, "aa");
        o.session = SessionCookie::default();
        assert_eq!(
            Prepared::from_observation("gitlab.com", &o, None),
            Err(PrepareError::NoSession)
        );
        assert_eq!(
            PrepareError::SignedOut.sentence("gitlab.com"),
            "Nobody is signed in on gitlab.com: sign in there, then prepare again."
        );
    }

    #[test]
    fn checks_of_the_shipped_shape_still_read() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stored/0.1.0/");
        let running: Check =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}check.json")).unwrap())
                .unwrap();
        assert_eq!((running.version, running.prepared.is_none()), (1, true));
        assert!(running.running() && running.guided);
        let migrated = running.migrated();
        assert_eq!(migrated.version, CHECK_VERSION);
        assert_eq!(migrated.next_action(), Action::Reload);
        let history: Vec<Check> =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}checks.json")).unwrap())
                .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].verdict, Some(Verdict::Pass));
        assert_eq!(history[0].steps.len(), 5);
        assert!(!history[0].after_rollback);
    }

    /// What a 500 page answers: no stage signal, `/api/v4/user` failing with the session and
    /// answering `without` without it.
    fn failing(status: u16, without: Option<u16>, fp: &str) -> Observation {
        Observation {
            at_ms: 1.0,
            identity: Identity::Failing { status, without },
            detection: None,
            session: SessionCookie {
                present: true,
                fingerprint: Some(fp.into()),
                remember: false,
                ends_with_browser: Some(true),
            },
        }
    }

    #[test]
    fn a_session_that_breaks_every_request_on_the_other_stage_is_a_fail() {
        // Mixed stages: canary's store raises on the session main wrote (shared keys, no coder).
        let c = drive(new(false), |step, target| match step {
            StepKind::OtherStage => failing(500, Some(401), "aa"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        let f = c.first_failure().unwrap();
        assert_eq!(f.kind, StepKind::OtherStage);
        assert_eq!(
            f.note.as_deref(),
            Some("every request that carries this session fails with HTTP 500 on canary (as asked; the error page names no stage), while requests without it work: users whose session was written by main cannot use canary until they clear their cookies")
        );
        assert_eq!(c.steps.last().unwrap().kind, StepKind::Restore);
        let r = crate::report::reason(&c);
        assert!(
            r.starts_with("at step “Other stage (canary)”, served by canary"),
            "{r}"
        );
    }

    #[test]
    fn gitlab_failing_with_and_without_the_session_is_inconclusive() {
        let c = drive(new(false), |step, target| match step {
            StepKind::OtherStage => failing(502, Some(502), "aa"),
            _ => obs(me(), target.unwrap_or(Stage::Main), "aa"),
        });
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        assert_eq!(
            c.steps[2].note.as_deref(),
            Some("GitLab answered HTTP 502 with and without the session")
        );
        assert!(c.first_failure().is_none());
    }

    #[test]
    fn a_prepared_session_that_breaks_every_request_fails_at_the_baseline() {
        let c = drive(new(false).with_prepared(Some(prepared("aa"))), |_, _| {
            failing(500, Some(401), "aa")
        });
        assert_eq!(c.verdict, Some(Verdict::Fail));
        assert_eq!(
            c.steps[0].note.as_deref(),
            Some("the session prepared at 03:01 UTC did not survive: every request that carries it fails with HTTP 500 on a stage the error page does not name, while requests without it work: users whose session was written before the change cannot use GitLab until they clear their cookies")
        );
        // After a rollback the words follow the label.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared("aa")))
                .labelled_after_rollback(true),
            |_, _| obs(SIGNED_OUT, Stage::Main, "anon"),
        );
        let note = c.steps[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("after the rollback"), "{note}");
        let md = crate::report::check_markdown(&c);
        assert!(md.contains("| Prepared before the rollback |"), "{md}");
        assert!(md.contains("(after the rollback)"), "{md}");
        assert!(!md.contains("request after the change"), "{md}");
    }

    fn prepared_in_run(fp: &str, run: &str, ends_with_browser: bool) -> Prepared {
        let mut p = prepared(fp).in_browser_run(Some(run.into()));
        p.session.ends_with_browser = Some(ends_with_browser);
        p
    }

    #[test]
    fn a_browser_restart_that_dropped_the_session_cookie_is_no_verdict() {
        // Restarted, signed in again: a new session, not the change's doing.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared_in_run("aa", "run-1", true)))
                .in_browser_run(Some("run-2".into())),
            |_, target| obs(me(), target.unwrap_or(Stage::Main), "new1"),
        );
        assert_eq!(c.verdict, Some(Verdict::Inconclusive), "{:?}", kinds(&c));
        assert_eq!(
            c.steps[0].note.as_deref(),
            Some("the browser was restarted after the session was prepared at 03:01 UTC, and GitLab's session cookie ends with the browser: prepare again and keep the browser open until the check")
        );
        // Restarted, signed out: the same.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared_in_run("aa", "run-1", true)))
                .in_browser_run(Some("run-2".into())),
            |_, _| Observation {
                session: SessionCookie::default(),
                ..obs(SIGNED_OUT, Stage::Main, "x")
            },
        );
        assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        // The browser restored its session: the very session survived, judged as usual.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared_in_run("aa", "run-1", true)))
                .in_browser_run(Some("run-2".into())),
            |_, target| obs(me(), target.unwrap_or(Stage::Main), "aa"),
        );
        assert_eq!(c.verdict, Some(Verdict::Pass));
        // A cookie with an expiry does not end with the browser: a new session is a FAIL.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared_in_run("aa", "run-1", false)))
                .in_browser_run(Some("run-2".into())),
            |_, target| obs(me(), target.unwrap_or(Stage::Main), "new1"),
        );
        assert_eq!(c.verdict, Some(Verdict::Fail));
        // No restart: a replaced session is a FAIL.
        let c = drive(
            new(false)
                .with_prepared(Some(prepared_in_run("aa", "run-1", true)))
                .in_browser_run(Some("run-1".into())),
            |_, target| obs(me(), target.unwrap_or(Stage::Main), "new1"),
        );
        assert_eq!(c.verdict, Some(Verdict::Fail));
    }
}
