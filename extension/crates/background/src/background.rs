//! The background (Chromium service worker, Firefox event page).
//!
//! `background.js` registers every listener synchronously at start-up — a service worker woken
//! by an event only delivers it to listeners registered in its first turn — and forwards each
//! event here once the wasm module is ready. Handlers keep no state in memory: the worker can be
//! stopped between any two events, so per-tab state lives in `storage.session`.

use wasm_bindgen::prelude::*;

use crate::browser::{
    self, from_js, msg, set_badge, set_icon, set_title, tabs, Area, BrowserError, BrowserJson,
};
use crate::environment::path_of;
use crate::errors::UserError;
use crate::explain::Share;
use crate::messages::{share_key, tab_key, TabState, CHECK_KEY, WATCH_KEY};
use crate::preference::{InForce, Preference};
use crate::reading::PageReading;
use crate::session::Check;
use crate::settings::Settings;
use crate::stage::{detect, Detection, Signal, Stage};
use crate::switch::{self, Target};
use crate::watch::Watch;

const GITLAB_TABS: &[&str] = &["*://*.gitlab.com/*"];
/// Badge colours: GitLab's green for Next, its indigo for Current.
const NEXT_GREEN: &str = "#108548";
const CURRENT_INDIGO: &str = "#5448c4";
pub const CHECK_BLUE: &str = "#1f75cb";
const LOST_RED: &str = "#c91c00";

/// The stored detection for a tab, if it is for the page the tab shows now.
async fn tab_state(tab: &tabs::Tab) -> Option<TabState> {
    let state: TabState = Area::Session.read(&tab_key(tab.id)).await.ok()??;
    (tab.url.as_deref() == Some(state.url.as_str())).then_some(state)
}

/// Toolbar icon, title and badge for one tab, all derived from the cookies and stored state.
pub async fn refresh_action(tab: tabs::Tab) {
    let (settings, _) = switch::settings().await;
    refresh_action_with(tab, &settings).await;
}

async fn refresh_action_with(tab: tabs::Tab, settings: &Settings) {
    let id = tab.id;
    let state = tab_state(&tab).await;
    let target = switch::target_for(tab, settings).await.ok();
    let host = target.as_ref().map(|t| t.env.host.clone());
    show_badge(id, host.as_deref(), state.as_ref().map(|s| &s.detection)).await;
    let (icon, title) = match &target {
        Some(target) => describe(target, state.as_ref().map(|s| &s.detection)).await,
        None => ("auto", msg("titleNotGitLab", &[])),
    };
    // A tab closed meanwhile makes these fail; there is nothing to show then.
    let _ = set_icon(id, icon).await;
    let _ = set_title(id, &title).await;
}

/// The tab's badge: a running check's step, LOST for the host a running watch lost the session
/// on (until it stops), else the stage that served the page. One storage read.
async fn show_badge(id: i32, host: Option<&str>, detection: Option<&Detection>) {
    let local = Area::Local.read_all().await.ok();
    let read = |key| local.as_ref().and_then(|l| l.raw(key));
    let lost = read(WATCH_KEY)
        .and_then(|w| from_js::<Watch>(w).ok())
        .filter(Watch::active)
        .and_then(|w| w.first_loss().map(|s| s.host.clone()))
        .is_some_and(|lost_host| host == Some(lost_host.as_str()));
    let checking = read(CHECK_KEY)
        .and_then(|c| from_js::<Check>(c).ok())
        .filter(|c| c.running() && c.tab_id == id);
    let progress;
    let (badge, color) = match (checking, lost, detection.map(|d| d.stage)) {
        (Some(c), _, _) => {
            progress = c.progress_badge();
            (progress.as_str(), CHECK_BLUE)
        }
        (None, true, _) => ("LOST", LOST_RED),
        (None, false, Some(Stage::Canary)) => ("NEXT", NEXT_GREEN),
        (None, false, Some(Stage::Main)) => ("CUR", CURRENT_INDIGO),
        _ => ("", CURRENT_INDIGO),
    };
    let _ = set_badge(id, badge, color).await;
}

async fn describe(target: &Target, served: Option<&Detection>) -> (&'static str, String) {
    let host = target.env.host.as_str();
    let (icon, label) = match target.in_force().await {
        Ok(InForce::Next) => ("next", msg("labelNext", &[])),
        Ok(InForce::Current) => ("current", msg("labelCurrent", &[])),
        Ok(InForce::Auto) => ("auto", msg("labelAuto", &[])),
        Ok(InForce::Conflict { .. }) => ("conflict", msg("titleConflict", &[])),
        Err(e) => return ("auto", switch::error_text(&e)),
    };
    let mut title = msg("titlePreference", &[host, &label]);
    if let Some(d) = served.filter(|d| d.stage != Stage::Unknown) {
        let pod = d.pod.as_deref().unwrap_or("?");
        title.push_str(&msg(
            "titleServed",
            &[
                d.stage.as_str(),
                pod,
                d.signal.map_or("no signal", Signal::name),
            ],
        ));
    }
    (icon, title)
}

/// `tabs.onActivated`. A tab still loading is left alone: its `complete` refreshes it, and
/// work now would compete with the page's load.
#[wasm_bindgen]
pub async fn on_tab_activated(tab_id: i32) {
    if let Ok(tab) = tabs::get(tab_id).await {
        if tab.status.as_deref() != Some("loading") {
            refresh_action(tab).await;
        }
    }
}

/// `tabs.onUpdated` with a URL or load-status change. While a new page loads the tab only loses
/// its detection badge (one call, nothing read): every storage, cookie and icon call waits for
/// `complete`, so the extension costs the loading page nothing. Once the page has loaded, the
/// page reader is injected and icon, title and badge are derived afresh.
#[wasm_bindgen]
pub async fn on_tab_updated(tab_id: i32, complete: bool) {
    if !complete {
        let _ = set_badge(tab_id, "", CURRENT_INDIGO).await;
        return;
    }
    let Ok(tab) = tabs::get(tab_id).await else {
        return;
    };
    let (settings, _) = switch::settings().await;
    read_page(tab, &settings).await;
}

/// `runtime.onInstalled`, and every start of the worker: stored shapes are migrated, and GitLab
/// tabs (and those of the self-managed hosts added) that have loaded but have no detection for
/// their page are read.
#[wasm_bindgen]
pub async fn on_started() {
    // After an update, stored checks and watches take today's shape before anything reads them.
    crate::checker::migrate_storage().await;
    // A watch that began before a browser restart stops and says so.
    crate::checker::notice_restart().await;
    let (settings, _) = switch::settings().await;
    let mut patterns: Vec<String> = GITLAB_TABS.iter().map(|p| p.to_string()).collect();
    patterns.extend(settings.custom.iter().map(|c| format!("*://{}/*", c.host)));
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let Ok(all) = tabs::matching(&patterns).await else {
        return;
    };
    for tab in all {
        if tab.status.as_deref() == Some("complete") && tab_state(&tab).await.is_none() {
            read_page(tab, &settings).await;
        }
    }
}

thread_local! {
    /// Tabs a reading is under way in, and whether their page loaded again meanwhile (then it
    /// is read once more when the first reading ends: the first may be of the old document).
    static READING: std::cell::RefCell<Vec<(i32, bool)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads a GitLab page that has loaded and refreshes the tab's toolbar button. The reader is
/// injected after `load`: a declared content script would be injected while the page loads, and
/// Chromium's set-up of its isolated world alone delays the page's `load` by tens of
/// milliseconds.
async fn read_page(tab: tabs::Tab, settings: &Settings) {
    let id = tab.id;
    let busy = READING.with(|r| {
        let mut r = r.borrow_mut();
        match r.iter_mut().find(|(t, _)| *t == id) {
            Some(entry) => {
                entry.1 = true;
                true
            }
            None => {
                r.push((id, false));
                false
            }
        }
    });
    if busy {
        return;
    }
    let mut tab = tab;
    loop {
        read_once(tab.clone(), settings).await;
        let again = READING.with(|r| {
            let mut r = r.borrow_mut();
            match r.iter_mut().find(|(t, _)| *t == id) {
                Some(entry) if entry.1 => {
                    entry.1 = false;
                    true
                }
                _ => {
                    r.retain(|(t, _)| *t != id);
                    false
                }
            }
        });
        if !again {
            break;
        }
        match tabs::get(id).await {
            Ok(t) => tab = t,
            Err(_) => {
                READING.with(|r| r.borrow_mut().retain(|(t, _)| *t != id));
                break;
            }
        }
    }
}

async fn read_once(tab: tabs::Tab, settings: &Settings) {
    let Ok(target) = switch::target_for(tab.clone(), settings).await else {
        // Not a GitLab page: only the toolbar button.
        refresh_action_with(tab, settings).await;
        return;
    };
    let Some(url) = tab.url.clone() else { return };
    match read_detection(tab.id, &target).await {
        Ok(detection) => {
            // The badge first: what the user waits for. Storage, icon and title follow.
            show_badge(tab.id, Some(&target.env.host), Some(&detection)).await;
            let state = TabState {
                url: url.clone(),
                detection,
            };
            if let Err(e) = Area::Session.write(&tab_key(tab.id), &state).await {
                browser::console_warn(&e.0);
            }
            if matches!(target.in_force().await, Ok(InForce::Auto)) {
                record_share(&target, &state.detection, &url).await;
            }
        }
        // The tab navigated away or closed meanwhile, or the page is an error page the
        // extension may not script: its next load reads it again.
        Err(e) => browser::console_debug(&e.0),
    }
    refresh_action_with(tab, settings).await;
    // A page load may be what a check stopped with its worker was waiting for.
    crate::checker::resume().await;
}

/// Injects the page reader into the tab and judges what it read.
pub async fn read_detection(tab_id: i32, target: &Target) -> Result<Detection, BrowserError> {
    let raw = browser::inject(tab_id, "reader.js").await?;
    let reading: PageReading = from_js(raw)
        .map_err(|e| BrowserError(format!("the page reader's answer is unreadable: {}", e.0)))?;
    let signals = reading.signals(&BrowserJson, target.env.is_gitlab_com());
    Ok(detect(&signals, js_sys::Date::now()))
}

/// `tabs.onRemoved`: forget the tab.
#[wasm_bindgen]
pub async fn on_tab_removed(tab_id: i32) {
    let _ = Area::Session.delete(&tab_key(tab_id)).await;
}

/// `cookies.onChanged` for `gitlab_canary`: every GitLab tab may show another preference now.
#[wasm_bindgen]
pub async fn on_canary_cookie_changed() {
    refresh_all().await;
}

/// Refreshes the toolbar button of every GitLab tab.
pub async fn refresh_all() {
    if let Ok(all) = tabs::matching(GITLAB_TABS).await {
        for tab in all {
            refresh_action(tab).await;
        }
    }
}

async fn record_share(target: &Target, d: &Detection, url: &str) {
    let key = share_key(&target.env.host);
    let mut share: Share = Area::Local
        .read(&key)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    share.record(d, &target.env, &path_of(url));
    let _ = Area::Local.write(&key, &share).await;
}

/// `commands.onCommand`: `toggle-stage` flips Current and Next on the active tab and reloads it.
#[wasm_bindgen]
pub async fn on_command(command: String) {
    if command != "toggle-stage" {
        return;
    }
    if let Err(e) = toggle_active_tab().await {
        browser::console_warn(&switch::error_text(&e));
    }
}

async fn toggle_active_tab() -> Result<(), UserError> {
    let tab = tabs::active(false)
        .await
        .ok()
        .flatten()
        .ok_or(UserError::TabGone)?;
    let (settings, _) = switch::settings().await;
    let target = switch::target_for(tab, &settings).await?;
    let now = target.in_force().await?;
    let next = now
        .preference()
        .map(Preference::toggled)
        .unwrap_or(Preference::Next);
    let others = crate::environment::known_hosts(&settings.custom);
    target.apply_keeping(next, settings.scope, &others).await?;
    if settings.reload_after_choice {
        let _ = tabs::reload_and_wait(target.tab.id, 30_000).await;
    }
    Ok(())
}
