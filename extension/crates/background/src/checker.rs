//! Runs session checks and watches in the background: performs what the pure state machines
//! ([`crate::session`], [`crate::watch`]) ask for, and saves them after every action.
//!
//! A check survives the popup closing (it runs here, not there) and the service worker being
//! stopped: every event that wakes the worker (the reloaded page reporting, the popup opening,
//! the `session-check` alarm) calls [`resume`], which picks the saved check up at its next
//! action. One driver per worker: `DRIVING` keeps two events from driving it twice.

use std::cell::Cell;

use canary_switch::utc::utc;
use wasm_bindgen::prelude::*;

use crate::browser::cookies::Jar;
use crate::browser::{self, from_js, tabs, to_js, Area, BrowserError};
use crate::environment::domain_matches;
use crate::errors::UserError;
use crate::messages::{
    ApiUser, Command, CommandReply, Identity, UserReport, CANCEL_KEY, CHECK_KEY, HISTORY_KEY,
    PREPARED_KEY, WATCH_KEY,
};
use crate::post::{parse_issue_url, IssueRef, PostError};
use crate::preference::{under_domain, FoundCookie, Scope};
use crate::report;
use crate::session::{
    remember, Action, Check, Event, Observation, Prepared, SessionCookie, StepKind, Verdict,
};
use crate::switch::{self, Target};
use crate::watch::{Sample, Watch};

/// The alarm that wakes a stopped worker while a check runs (a backstop: page loads and the
/// popup wake it sooner).
pub const CHECK_ALARM: &str = "session-check";
pub const WATCH_ALARM: &str = "session-watch";
use crate::switch::{REMEMBER_COOKIE, SESSION_COOKIE};
const RELOAD_TIMEOUT_MS: u32 = 30_000;
/// How long a probe keeps trying a page that does not answer yet.
const PROBE_LIMIT_MS: f64 = 20_000.0;
/// How long a guided step waits for the user by default.
const GUIDED_LIMIT_MS: f64 = 5.0 * 60_000.0;
const VERSION: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    static DRIVING: Cell<bool> = const { Cell::new(false) };
    static SAMPLING: Cell<bool> = const { Cell::new(false) };
    /// Counts the watch's starts and stops: a sample asked meanwhile (asking takes seconds) is
    /// dropped, never written over them (it would undo a stop, or bring back the old watch).
    static WATCH_EPOCH: Cell<u32> = const { Cell::new(0) };
}

fn watch_changed() {
    WATCH_EPOCH.set(WATCH_EPOCH.get().wrapping_add(1));
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The running (or last) check, in today's shape whatever version stored it.
async fn load_check() -> Option<Check> {
    Area::Local
        .read::<Check>(CHECK_KEY)
        .await
        .ok()
        .flatten()
        .map(Check::migrated)
}

/// The sessions prepared before a change, one per environment.
pub async fn load_prepared() -> Vec<Prepared> {
    Area::Local
        .read::<Vec<Prepared>>(PREPARED_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

async fn save_prepared(list: &[Prepared]) -> Result<(), String> {
    Area::Local
        .write(PREPARED_KEY, &list)
        .await
        .map_err(|e| e.0)
}

async fn save_check(c: &Check) {
    if let Err(e) = Area::Local.write(CHECK_KEY, c).await {
        browser::console_warn(&e.0);
    }
}

/// Handles a command from the popup; the answer carries an error sentence, if any.
#[wasm_bindgen]
pub async fn on_command_message(message: JsValue) -> JsValue {
    let (error, result) = match from_js::<Command>(message) {
        Ok(Command::PostReport {
            check_id,
            issue_url,
        }) => match post_report(&check_id, &issue_url).await {
            Ok(url) => (None, Some(url)),
            Err(e) => (Some(e), None),
        },
        Ok(cmd) => (run_command(cmd).await.err(), None),
        Err(e) => (Some(e.0), None),
    };
    to_js(&CommandReply { error, result }).unwrap_or(JsValue::NULL)
}

async fn run_command(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::StartCheck {
            tab_id,
            guided,
            after_rollback,
        } => start_check(tab_id, guided, after_rollback).await,
        Command::PrepareSession { tab_id, issue_url } => prepare(tab_id, issue_url).await,
        Command::ClearPrepared { host } => {
            let mut list = load_prepared().await;
            list.retain(|p| p.host != host);
            save_prepared(&list).await
        }
        // Answered with its result by on_command_message.
        Command::PostReport { .. } => Ok(()),
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
            watch_changed();
            if let Some(mut w) = Area::Local.read::<Watch>(WATCH_KEY).await.ok().flatten() {
                w.stop(now_ms());
                let _ = Area::Local.write(WATCH_KEY, &w).await;
            }
            let _ = browser::clear_alarm(WATCH_ALARM).await;
            Ok(())
        }
    }
}

/// Records who is signed in on the tab's environment, with which session, before a change.
async fn prepare(tab_id: i32, issue_url: Option<String>) -> Result<(), String> {
    let (settings, _) = switch::settings().await;
    let target = switch::target(tab_id, &settings)
        .await
        .map_err(|e| switch::error_text(&e))?;
    let issue_url = issue_url.filter(|u| !u.trim().is_empty());
    if let Some(u) = &issue_url {
        parse_issue_url(u, &settings.custom).map_err(|e| e.sentence())?;
    }
    let o = probe(&target).await?;
    let p = Prepared::from_observation(&target.env.host, &o, issue_url)
        .map_err(|e| e.sentence(&target.env.host))?
        .in_browser_run(browser_run().await);
    let mut list = load_prepared().await;
    list.retain(|x| x.host != p.host);
    list.push(p);
    save_prepared(&list).await
}

async fn start_check(tab_id: i32, guided: bool, after_rollback: bool) -> Result<(), String> {
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
    )
    .with_prepared(
        load_prepared()
            .await
            .into_iter()
            .find(|p| p.host == target.env.host),
    )
    .labelled_after_rollback(after_rollback)
    .in_browser_run(browser_run().await);
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
    // The history is kept as stored: the new check goes first, older entries follow untouched
    // (one this version cannot read is kept, not dropped), at most HISTORY_LEN in all.
    let stored = Area::Local.read_all().await;
    match (stored, to_js(check)) {
        (Ok(all), Ok(new)) => {
            let mut entries: Vec<JsValue> = all
                .raw(HISTORY_KEY)
                .filter(js_sys::Array::is_array)
                .map(|old| js_sys::Array::from(&old).iter().collect())
                .unwrap_or_default();
            remember(&mut entries, new, |e| {
                browser::property(e, "id").as_string()
            });
            let history: js_sys::Array = entries.into_iter().collect();
            if let Err(e) = Area::Local.write_raw(HISTORY_KEY, &history).await {
                browser::console_warn(&e.0);
            }
        }
        // Storage unreadable: write nothing rather than replace the history with one entry.
        (Err(e), _) | (_, Err(e)) => browser::console_warn(&e.0),
    }
    // A prepared session is used once its check has judged it; kept when the baseline could
    // not (a 502 during the change): the user can check again.
    if let Some(p) = &check.prepared {
        let judged = check
            .steps
            .first()
            .is_some_and(|s| s.kind == StepKind::Baseline && s.verdict != Verdict::Inconclusive);
        if judged {
            let mut list = load_prepared().await;
            list.retain(|x| x.host != p.host || x.at_ms != p.at_ms);
            let _ = save_prepared(&list).await;
        }
    }
    let _ = browser::clear_alarm(CHECK_ALARM).await;
}

/// Brings every stored shape to today's version after an update: the running check, each
/// history entry this version can read (the others stay as they are), the watch (stopped if a
/// browser restart interrupted it). Settings migrate on every read. Writes only what was older.
pub async fn migrate_storage() {
    let Ok(all) = Area::Local.read_all().await else {
        return;
    };
    if let Ok(Some(c)) = all.get::<Check>(CHECK_KEY) {
        if c.version < crate::session::CHECK_VERSION {
            save_check(&c.migrated()).await;
        }
    }
    if let Some(old) = all.raw(HISTORY_KEY).filter(js_sys::Array::is_array) {
        let mut changed = false;
        let history = js_sys::Array::new();
        for entry in js_sys::Array::from(&old).iter() {
            match from_js::<Check>(entry.clone()) {
                Ok(c) if c.version < crate::session::CHECK_VERSION => {
                    changed = true;
                    history.push(&to_js(&c.migrated()).unwrap_or(entry));
                }
                _ => {
                    history.push(&entry);
                }
            }
        }
        if changed {
            let _ = Area::Local.write_raw(HISTORY_KEY, &history).await;
        }
    }
    // A watch that began in an earlier browser run was interrupted by a restart: it stops and
    // says so.
    if let Ok(Some(mut w)) = all.get::<Watch>(WATCH_KEY) {
        let restarted = w.stop_if_restarted(browser_run().await.as_deref(), now_ms());
        if restarted || w.version < crate::watch::WATCH_VERSION {
            let _ = Area::Local.write(WATCH_KEY, &w.migrated()).await;
        }
        if restarted {
            let _ = browser::clear_alarm(WATCH_ALARM).await;
        }
    }
}

/// The badge of the checked tab: the step in progress while running, then its stage again.
async fn show_progress(check: &Check) {
    if check.running() {
        let text = check.progress_badge();
        let _ = browser::set_badge(check.tab_id, &text, crate::toolbar::CHECK_BLUE).await;
    } else if let Ok(tab) = tabs::get(check.tab_id).await {
        crate::toolbar::refresh_action(tab).await;
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
        match identity_in_tab(tab_id, &target.jar, &target.env.host).await {
            Ok(identity) => {
                let detection = crate::page::read_detection(tab_id, target).await.ok();
                let session = session_cookie(target).await;
                return Ok(Observation {
                    at_ms: now_ms(),
                    identity,
                    detection,
                    session,
                });
            }
            Err(e) => last_error = e,
        }
        tabs::sleep(250).await;
    }
    Err(browser::msg("errProbe", &[&last_error.0]))
}

/// Who `/api/v4/user` says is signed in, asked by the page of `tab_id` (`user.js`: from the
/// page's origin, as GitLab's own pages ask; a request an extension context makes to a URL
/// that keeps answering 5xx is throttled by Chromium). When every try answered 5xx, the
/// control request follows (`control.js`, without the session of `jar` for `host`).
async fn identity_in_tab(tab_id: i32, jar: &Jar, host: &str) -> Result<Identity, BrowserError> {
    let user = browser::inject(tab_id, "user.js").await?;
    if !user.is_object() {
        return Err(BrowserError("the page gave no answer".into()));
    }
    Ok(match from_js::<UserReport>(user.clone()) {
        Ok(mut report) => {
            if report.status.is_some_and(|s| s >= 500) {
                let answer = switch::without_session(jar, host, async {
                    let raw = browser::inject(tab_id, "control.js").await?;
                    let r = from_js::<UserReport>(raw)?;
                    r.status.ok_or(BrowserError(r.error.unwrap_or_default()))
                })
                .await;
                match answer {
                    Ok(status) => report.without = Some(status),
                    Err(e) => report.without_error = Some(e.0),
                }
            }
            report.identity(from_js::<ApiUser>(user).ok())
        }
        Err(_) => Identity::Unreachable {
            detail: "unreadable answer from the page".into(),
        },
    })
}

async fn session_cookie(target: &Target) -> SessionCookie {
    session_cookie_in(&target.jar, &target.env.host).await
}

/// `_gitlab_session` for `host` in a cookie store: presence and fingerprint (the value goes
/// into the hash and nowhere else), whether it ends with the browser, and whether
/// `remember_user_token` is there.
async fn session_cookie_in(jar: &crate::browser::cookies::Jar, host: &str) -> SessionCookie {
    // With whether each ends with the browser (`session`: no expiry).
    let cookies: Vec<(FoundCookie, bool)> = match jar.named_raw(SESSION_COOKIE).await {
        Ok(all) => all
            .iter()
            .filter_map(|raw| {
                let session = browser::property(&raw, "session").as_bool() == Some(true);
                from_js::<FoundCookie>(raw).ok().map(|c| (c, session))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let remember = jar
        .named(REMEMBER_COOKIE)
        .await
        .unwrap_or_default()
        .iter()
        .any(|c| c.sent_to(host));
    let Some((c, session)) = cookies.iter().find(|(c, _)| c.sent_to(host)) else {
        return SessionCookie {
            remember,
            ..SessionCookie::default()
        };
    };
    SessionCookie {
        present: true,
        fingerprint: browser::fingerprint(&c.value).await.ok(),
        remember,
        ends_with_browser: Some(*session),
    }
}

/// `storage.session` key of this browser run's marker: the area ends with the browser, so a
/// marker that differs from a prepared session's means the browser was restarted since.
const RUN_KEY: &str = "browserRun";

/// This browser run's marker, made on first use.
pub async fn browser_run() -> Option<String> {
    if let Ok(Some(run)) = Area::Session.read::<String>(RUN_KEY).await {
        return Some(run);
    }
    let run = format!(
        "{}-{}",
        now_ms() as u64,
        (js_sys::Math::random() * 4_294_967_296.0) as u64
    );
    Area::Session.write(RUN_KEY, &run).await.ok()?;
    Some(run)
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
    )
    .from_prepared(load_prepared().await)
    .in_browser_run(browser_run().await);
    watch_changed();
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

/// Takes one sample per watched host; announces the first loss; stops at the limit. One at a
/// time: a sample that meets a 5xx takes about a second (retries, the control request), and an
/// alarm due meanwhile is skipped rather than run beside it.
async fn sample_watch() {
    if SAMPLING.with(|s| s.replace(true)) {
        return;
    }
    sample_watch_once().await;
    SAMPLING.with(|s| s.set(false));
}

async fn sample_watch_once() {
    let epoch = WATCH_EPOCH.get();
    let Some(mut w) = Area::Local
        .read::<Watch>(WATCH_KEY)
        .await
        .ok()
        .flatten()
        .map(Watch::migrated)
    else {
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
    let (settings, _) = switch::settings().await;
    let patterns: Vec<String> = w.hosts.iter().map(|h| format!("*://{h}/*")).collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let open = tabs::matching(&patterns).await.unwrap_or_default();
    for host in w.hosts.clone() {
        // The default cookie store, where the browser's own session for the host lives.
        let Ok(env) =
            crate::environment::environment_for_url(&format!("https://{host}/"), &settings.custom)
        else {
            continue;
        };
        let jar = crate::browser::cookies::Jar {
            store_id: None,
            site: env.cookie_domain,
        };
        // From a loaded page of the host in the default store when one is open (as the check
        // asks); else from here.
        let page = open.iter().find(|t| {
            t.status.as_deref() == Some("complete")
                && !t.incognito
                && t.cookie_store_id
                    .as_deref()
                    .is_none_or(|s| s == "firefox-default")
                && t.url.as_deref().is_some_and(|u| {
                    crate::environment::parse_origin(u).is_ok_and(|o| o.host == host)
                })
        });
        let asked = match page {
            Some(t) => identity_in_tab(t.id, &jar, &host).await.ok(),
            None => None,
        };
        let identity = match asked {
            Some(identity) => identity,
            None => {
                switch::identity_at(&format!("https://{host}/api/v4/user"), 15_000, &jar, &host)
                    .await
            }
        };
        let session = Some(session_cookie_in(&jar, &host).await);
        let sample = Sample {
            at_ms: now_ms(),
            host,
            identity,
            session,
        };
        if w.record(sample.clone()) {
            lost = Some(sample);
        }
    }
    if WATCH_EPOCH.get() != epoch {
        return;
    }
    if let Err(e) = Area::Local.write(WATCH_KEY, &w).await {
        browser::console_warn(&e.0);
    }
    if let Some(s) = lost {
        let _ = browser::notify(
            "session-lost",
            &browser::msg("watchLostTitle", &[]),
            &browser::msg("watchLostBody", &[&s.host, &utc(s.at_ms)]),
        )
        .await;
        crate::toolbar::refresh_all().await;
    }
}

// ------------------------------------------------------------------ posting

#[wasm_bindgen]
extern "C" {
    /// `extension/post-note.js`: the function the background injects into a page of the
    /// issue's origin to post there (the browser's session, the page's CSRF token).
    #[wasm_bindgen(thread_local_v2, js_name = canaryPostNote)]
    static POST_NOTE: JsValue;
}

/// Posts the report of check `check_id` (the running/last one or one of the history) to the
/// issue at `issue_url`, from a tab of the issue's origin; answers the new comment's URL.
async fn post_report(check_id: &str, issue_url: &str) -> Result<String, String> {
    let (settings, _) = switch::settings().await;
    let issue = parse_issue_url(issue_url, &settings.custom).map_err(|e| e.sentence())?;
    let check = find_check(check_id)
        .await
        .ok_or_else(|| browser::msg("errPostNoCheck", &[]))?;
    if check.running() {
        return Err(browser::msg("errPostRunning", &[]));
    }
    // The report as the popup previewed it: nothing else (the check holds fingerprints only).
    let body = report::check_markdown(&check);
    let (tab_id, opened) = tab_on_origin(&issue).await.map_err(|e| e.sentence())?;
    let answer = inject_post(tab_id, &issue, &body).await;
    if opened {
        let _ = tabs::remove(tab_id).await;
    }
    let answer = answer.map_err(|e| {
        PostError::Unreachable {
            host: issue.host.clone(),
            detail: e.0,
        }
        .sentence()
    })?;
    let status = browser::property(&answer, "status").as_f64().unwrap_or(0.0) as u16;
    let note_id = browser::property(&answer, "id")
        .as_f64()
        .filter(|n| n.fract() == 0.0 && *n > 0.0)
        .map(|n| n as u64);
    let no_csrf = browser::property(&answer, "noCsrf").as_bool() == Some(true);
    let error = browser::property(&answer, "error").as_string();
    issue
        .outcome(status, note_id, no_csrf, error.as_deref())
        .map_err(|e| e.sentence())
}

async fn find_check(id: &str) -> Option<Check> {
    if let Some(c) = load_check().await.filter(|c| c.id == id) {
        return Some(c);
    }
    let all = Area::Local.read_all().await.ok()?;
    let history = all.raw(HISTORY_KEY).filter(js_sys::Array::is_array)?;
    js_sys::Array::from(&history)
        .iter()
        .filter(|e| browser::property(e, "id").as_string().as_deref() == Some(id))
        .find_map(|e| from_js::<Check>(e).ok())
        .map(Check::migrated)
}

/// A tab showing a page of the issue's origin: one open already (the issue itself first), or
/// the issue opened in a background tab for the post (`true`: close it afterwards).
async fn tab_on_origin(issue: &IssueRef) -> Result<(i32, bool), PostError> {
    let no_page = |detail: String| PostError::NoPage {
        host: issue.host.clone(),
        detail,
    };
    let pattern = format!("{}/*", issue.origin);
    let open = tabs::matching(&[pattern.as_str()])
        .await
        .map_err(|e| no_page(e.0))?;
    let issue_url = issue.url();
    let ready = |t: &tabs::Tab| t.status.as_deref() == Some("complete");
    if let Some(t) = open
        .iter()
        .filter(|t| ready(t))
        .find(|t| t.url.as_deref().is_some_and(|u| u.starts_with(&issue_url)))
        .or_else(|| open.iter().find(|t| ready(t)))
    {
        return Ok((t.id, false));
    }
    let id = tabs::open_and_wait(&issue_url, RELOAD_TIMEOUT_MS)
        .await
        .map_err(|e| no_page(e.0))?;
    Ok((id, true))
}

async fn inject_post(tab_id: i32, issue: &IssueRef, body: &str) -> Result<JsValue, BrowserError> {
    let args = js_sys::Array::of2(
        &JsValue::from_str(&issue.notes_api_path()),
        &JsValue::from_str(body),
    );
    let func = POST_NOTE.with(JsValue::clone);
    browser::inject_function(tab_id, &func, &args).await
}
