//! Runs session checks and watches in the background: performs what the pure state machines
//! ([`crate::session`], [`crate::watch`]) ask for, and saves them after every action.
//!
//! A check survives the popup closing (it runs here, not there) and the service worker being
//! stopped: every event that wakes the worker (the reloaded page reporting, the popup opening,
//! the `session-check` alarm) calls [`resume`], which picks the saved check up at its next
//! action. One driver per worker: `DRIVING` keeps two events from driving it twice.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

use crate::browser::{self, from_js, tabs, to_js, Area, BrowserError};
use crate::environment::domain_matches;
use crate::errors::UserError;
use crate::messages::{
    ApiUser, Command, CommandReply, Identity, UserReport, CANCEL_KEY, CHECK_KEY, HISTORY_KEY,
    WATCH_KEY,
};
use crate::preference::{under_domain, Scope};
use crate::report;
use crate::session::{remember, Action, Check, Event, Observation, SessionCookie, Verdict};
use crate::switch::{self, Target};
use crate::watch::{Sample, Watch};

/// The alarm that wakes a stopped worker while a check runs (a backstop: page loads and the
/// popup wake it sooner).
pub const CHECK_ALARM: &str = "session-check";
pub const WATCH_ALARM: &str = "session-watch";
const SESSION_COOKIE: &str = "_gitlab_session";
const RELOAD_TIMEOUT_MS: i32 = 30_000;
/// How long a probe keeps trying a page that does not answer yet.
const PROBE_LIMIT_MS: f64 = 20_000.0;
/// How long a guided step waits for the user by default.
const GUIDED_LIMIT_MS: f64 = 5.0 * 60_000.0;
const VERSION: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

async fn load_check() -> Option<Check> {
    Area::Local.read(CHECK_KEY).await.ok().flatten()
}

async fn save_check(c: &Check) {
    if let Err(e) = Area::Local.write(CHECK_KEY, c).await {
        browser::console_warn(&e.0);
    }
}

/// Handles a command from the popup; the answer carries an error sentence, if any.
#[wasm_bindgen]
pub async fn on_command_message(message: JsValue) -> JsValue {
    let error = match from_js::<Command>(message) {
        Ok(cmd) => run_command(cmd).await.err(),
        Err(e) => Some(e.0),
    };
    to_js(&CommandReply { error }).unwrap_or(JsValue::NULL)
}

async fn run_command(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::StartCheck { tab_id, guided } => start_check(tab_id, guided).await,
        Command::CancelCheck => {
            if let Some(c) = load_check().await.filter(Check::running) {
                Area::Local
                    .write(CANCEL_KEY, &c.id)
                    .await
                    .map_err(|e| e.0)?;
                // A check waiting in a step notices on its own; a stopped worker resumes here.
                wasm_bindgen_futures::spawn_local(resume());
            }
            Ok(())
        }
        Command::ResumeCheck => {
            wasm_bindgen_futures::spawn_local(resume());
            Ok(())
        }
        Command::StartWatch {
            hosts,
            interval_secs,
            limit_minutes,
        } => start_watch(hosts, interval_secs, limit_minutes).await,
        Command::StopWatch => {
            if let Some(mut w) = Area::Local.read::<Watch>(WATCH_KEY).await.ok().flatten() {
                w.stop(now_ms());
                let _ = Area::Local.write(WATCH_KEY, &w).await;
            }
            let _ = browser::clear_alarm(WATCH_ALARM).await;
            Ok(())
        }
    }
}

async fn start_check(tab_id: i32, guided: bool) -> Result<(), String> {
    if load_check().await.is_some_and(|c| c.running()) {
        return Err(browser::msg("errCheckRunning", &[]));
    }
    let (settings, _) = switch::settings().await;
    let target = switch::target(tab_id, &settings)
        .await
        .map_err(|e| switch::error_text(&e))?;
    let found = target
        .jar
        .canary_cookies_stored()
        .await
        .map_err(|e| switch::error_text(&UserError::CookieRefused { detail: e.0 }))?;
    let original = under_domain(&found, &target.env.cookie_domain)
        .into_iter()
        .cloned()
        .collect();
    let started = now_ms();
    let check = Check::new(
        format!("{}-{tab_id}", started as u64),
        tab_id,
        target.env.host.clone(),
        target.label(),
        VERSION.into(),
        started,
        original,
        guided,
        GUIDED_LIMIT_MS,
    );
    save_check(&check).await;
    let _ = Area::Local.delete(CANCEL_KEY).await;
    // Chromium's minimum period is 30 s; the alarm only matters if the worker is stopped.
    let _ = browser::alarm(CHECK_ALARM, 0.5).await;
    wasm_bindgen_futures::spawn_local(resume());
    Ok(())
}

/// Drives the saved check, if one is running, until it ends or this worker stops.
pub async fn resume() {
    if DRIVING.with(|d| d.replace(true)) {
        return;
    }
    drive().await;
    DRIVING.with(|d| d.set(false));
}

async fn cancelled(c: &Check) -> bool {
    Area::Local
        .read::<String>(CANCEL_KEY)
        .await
        .ok()
        .flatten()
        .is_some_and(|id| id == c.id)
}

async fn drive() {
    while let Some(mut check) = load_check().await.filter(Check::running) {
        let event = if cancelled(&check).await {
            let _ = Area::Local.delete(CANCEL_KEY).await;
            Event::Cancelled
        } else {
            perform(&mut check).await
        };
        // A cancel that arrived while the action ran wins over its result.
        let event = if event != Event::Cancelled && cancelled(&check).await {
            let _ = Area::Local.delete(CANCEL_KEY).await;
            Event::Cancelled
        } else {
            event
        };
        check.record(event, now_ms());
        save_check(&check).await;
        if !check.running() {
            finish(&check).await;
        }
        show_progress(&check).await;
    }
}

async fn finish(check: &Check) {
    let mut history: Vec<Check> = Area::Local
        .read(HISTORY_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    remember(&mut history, check.clone());
    if let Err(e) = Area::Local.write(HISTORY_KEY, &history).await {
        browser::console_warn(&e.0);
    }
    let _ = browser::clear_alarm(CHECK_ALARM).await;
}

/// The badge of the checked tab: the step in progress while running, then its stage again.
async fn show_progress(check: &Check) {
    if check.running() {
        let text = check.progress_badge();
        let _ = browser::set_badge(check.tab_id, &text, crate::background::CHECK_BLUE).await;
    } else if let Ok(tab) = tabs::get(check.tab_id).await {
        crate::background::refresh_action(tab).await;
    }
}

/// Does what the check asks for and says how it went.
async fn perform(check: &mut Check) -> Event {
    let (settings, _) = switch::settings().await;
    let target = match switch::target(check.tab_id, &settings).await {
        Ok(t) => t,
        Err(e) => {
            return Event::Failed {
                reason: switch::error_text(&e),
            }
        }
    };
    match check.next_action() {
        Action::Done => Event::Cancelled,
        Action::SetStage(pref) => match target.apply(pref, Scope::ThisEnvironment).await {
            Ok(_) => Event::StageSet,
            Err(e) => Event::Failed {
                reason: switch::error_text(&e),
            },
        },
        Action::Reload => match tabs::reload_and_wait(check.tab_id, RELOAD_TIMEOUT_MS).await {
            Ok(finished) => Event::Reloaded { finished },
            Err(e) => Event::Failed { reason: e.0 },
        },
        Action::Probe => match probe(&target).await {
            Ok(o) => Event::Probed(o),
            Err(reason) => Event::Failed { reason },
        },
        Action::RestoreCookies(original) => {
            let domain = target.env.cookie_domain.clone();
            let in_scope = move |c: &crate::preference::FoundCookie| {
                domain_matches(c.domain.trim_start_matches('.'), &domain)
            };
            match target.jar.restore(&original, in_scope).await {
                Ok(exact) => Event::Restored { exact },
                Err(e) => Event::Failed {
                    reason: browser::msg("errRestore", &[&e.0]),
                },
            }
        }
        Action::AwaitUser { sign_in, .. } => {
            check.start_wait(now_ms());
            save_check(check).await;
            await_user(check, &target, sign_in).await
        }
    }
}

/// Probes every two seconds until the user has signed out (or in), the deadline passes, or
/// the check is cancelled.
async fn await_user(check: &Check, target: &Target, sign_in: bool) -> Event {
    let deadline = check.deadline_ms.unwrap_or(f64::INFINITY);
    loop {
        if cancelled(check).await {
            return Event::Cancelled;
        }
        if now_ms() >= deadline {
            return Event::UserTimedOut;
        }
        if let Ok(o) = probe(target).await {
            let done = match o.identity {
                Identity::SignedOut => !sign_in,
                Identity::SignedIn { .. } => sign_in,
                _ => false,
            };
            if done {
                return Event::Probed(o);
            }
        }
        tabs::sleep(2_000).await;
    }
}

/// Asks the tab's page who is signed in (`user.js`, `/api/v4/user` from the page's origin) and
/// which stage served it (the page reader); reads `_gitlab_session`'s presence and fingerprint
/// (never its value into anything kept).
async fn probe(target: &Target) -> Result<Observation, String> {
    let tab_id = target.tab.id;
    let mut last_error = BrowserError(String::new());
    // A page that is still being replaced (a redirect after a reload, a slow stage) refuses
    // injection for a moment, or never answers it: tries for about 20 s.
    let deadline = now_ms() + PROBE_LIMIT_MS;
    while now_ms() < deadline {
        match browser::inject(tab_id, "user.js").await {
            Ok(user) if user.is_object() => {
                let identity = match from_js::<UserReport>(user.clone()) {
                    Ok(report) => report.identity(from_js::<ApiUser>(user).ok()),
                    Err(_) => Identity::Unreachable {
                        detail: "unreadable answer from the page".into(),
                    },
                };
                let detection = crate::background::read_detection(tab_id, target).await.ok();
                let session = session_cookie(target).await;
                return Ok(Observation {
                    at_ms: now_ms(),
                    identity,
                    detection,
                    session,
                });
            }
            Ok(_) => last_error = BrowserError("the page gave no answer".into()),
            Err(e) => last_error = e,
        }
        tabs::sleep(250).await;
    }
    Err(browser::msg("errProbe", &[&last_error.0]))
}

async fn session_cookie(target: &Target) -> SessionCookie {
    let cookies = target.jar.named(SESSION_COOKIE).await.unwrap_or_default();
    let Some(c) = cookies.iter().find(|c| c.sent_to(&target.env.host)) else {
        return SessionCookie::default();
    };
    SessionCookie {
        present: true,
        fingerprint: browser::fingerprint(&c.value).await.ok(),
    }
}

/// The Markdown of a check, for the popup.
pub fn markdown(check: &Check) -> String {
    report::check_markdown(check)
}

/// One line of status for the popup: progress, or the verdict and its summary.
pub fn status_line(check: &Check) -> String {
    match (check.verdict, check.current_step()) {
        (Some(v), _) => format!("{} — {}", v.as_str(), report::reason(check)),
        (None, Some(step)) => browser::msg(
            "checkRunning",
            &[&(check.steps.len() + 1).min(7).to_string(), step.title()],
        ),
        (None, None) => Verdict::Inconclusive.as_str().into(),
    }
}

// ------------------------------------------------------------------ watch

async fn start_watch(
    hosts: Vec<String>,
    interval_secs: u32,
    limit_minutes: u32,
) -> Result<(), String> {
    let hosts: Vec<String> = hosts
        .into_iter()
        .filter(|h| crate::environment::parse_origin(&format!("https://{h}/")).is_ok())
        .collect();
    if hosts.is_empty() {
        return Err(browser::msg("errWatchHosts", &[]));
    }
    let w = Watch::new(
        hosts,
        now_ms(),
        interval_secs,
        limit_minutes,
        VERSION.into(),
    );
    Area::Local.write(WATCH_KEY, &w).await.map_err(|e| e.0)?;
    browser::alarm(WATCH_ALARM, f64::from(w.interval_secs) / 60.0)
        .await
        .map_err(|e| e.0)?;
    sample_watch().await;
    Ok(())
}

/// `alarms.onAlarm`.
#[wasm_bindgen]
pub async fn on_alarm(name: String) {
    match name.as_str() {
        WATCH_ALARM => sample_watch().await,
        CHECK_ALARM => resume().await,
        _ => {}
    }
}

/// Takes one sample per watched host; announces the first loss; stops at the limit.
async fn sample_watch() {
    let Some(mut w) = Area::Local.read::<Watch>(WATCH_KEY).await.ok().flatten() else {
        let _ = browser::clear_alarm(WATCH_ALARM).await;
        return;
    };
    if !w.active() {
        let _ = browser::clear_alarm(WATCH_ALARM).await;
        return;
    }
    if w.expired(now_ms()) {
        w.stop(now_ms());
        let _ = Area::Local.write(WATCH_KEY, &w).await;
        let _ = browser::clear_alarm(WATCH_ALARM).await;
        return;
    }
    let mut lost: Option<Sample> = None;
    for host in w.hosts.clone() {
        let identity = switch::identity_at(&format!("https://{host}/api/v4/user"), 15_000).await;
        let sample = Sample {
            at_ms: now_ms(),
            host,
            identity,
        };
        if w.record(sample.clone()) {
            lost = Some(sample);
        }
    }
    if let Err(e) = Area::Local.write(WATCH_KEY, &w).await {
        browser::console_warn(&e.0);
    }
    if let Some(s) = lost {
        let _ = browser::notify(
            "session-lost",
            &browser::msg("watchLostTitle", &[]),
            &browser::msg("watchLostBody", &[&s.host, &report::utc(s.at_ms)]),
        )
        .await;
        crate::background::refresh_all().await;
    }
}
