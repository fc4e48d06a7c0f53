//! The background (Chromium service worker, Firefox event page).
//!
//! `background.js` registers every listener synchronously at start-up — a service worker woken
//! by an event only delivers it to listeners registered in its first turn — and forwards each
//! event here once the wasm module is ready. Handlers keep no state in memory: the worker can be
//! stopped between any two events, so per-tab state lives in `storage.session`.

use wasm_bindgen::prelude::*;

use crate::browser::{self, set_badge, tabs, Area, BrowserJson};
use crate::environment::path_of;
use crate::errors::UserError;
use crate::explain::Share;
use crate::messages::{share_key, tab_key, TabState};
use crate::page::refine;
use crate::preference::{InForce, Preference};
use crate::stage::{detect, Detection};
use crate::switch::{self, Target};
use crate::toolbar::{
    paint, refresh_action, refresh_action_with, refresh_all, show_badge_with, tab_state,
    target_in_force, CURRENT_INDIGO, GITLAB_TABS,
};

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

/// What `tabs.onUpdated` says of a tab's page (background.js maps its `changeInfo`).
#[wasm_bindgen]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PageEvent {
    /// A URL change alone: a same-document navigation, which keeps its document and badge.
    UrlChange = 0,
    /// A new document has committed (Chromium's `loading`, Firefox's `loading` with the URL).
    Loading = 1,
    /// Firefox's bare `loading` when a navigation starts: the old document is still shown and
    /// maybe half-loaded, so a reading of it now would be of a document about to go.
    Start = 2,
    /// The page has loaded.
    Complete = 3,
}

/// `tabs.onUpdated`. `Start` only supersedes the readings under way. At `Loading` the tab loses
/// its badge and the page reader is injected at once: it answers at DOMContentLoaded, and the
/// badge is set from what the server rendered. `Complete` reads the page only when no reading
/// was accepted for it (a stale or failed one, a stopped worker), and leaves the toolbar to a
/// reading still under way: painted from storage now, it would show the state from before that
/// reading's write (an empty badge in Firefox, where `complete` often comes between the first
/// badge and the first write).
#[wasm_bindgen]
pub async fn on_tab_updated(tab_id: i32, event: PageEvent, url: String) {
    if event == PageEvent::Start {
        begin(tab_id);
        return;
    }
    if event == PageEvent::Complete {
        match PAGES.with(|p| accepted(&p.borrow(), tab_id)) {
            Some(false) => return,
            Some(true) => {
                if let Ok(tab) = tabs::get(tab_id).await {
                    refresh_action(tab).await;
                }
                return;
            }
            None => {}
        }
    }
    let generation = begin(tab_id);
    // A new document loses the old one's badge; a URL change alone keeps its document.
    if event == PageEvent::Loading {
        let _ = set_badge(tab_id, "", CURRENT_INDIGO).await;
    }
    read_page(tab_id, generation, url).await;
}

/// `runtime.onInstalled`, and every start of the worker: stored shapes are migrated, and GitLab
/// tabs (and those of the self-managed hosts added) that have loaded but have no detection for
/// their page are read.
#[wasm_bindgen]
pub async fn on_started() {
    // After an update, stored checks and watches take today's shape before anything reads them.
    crate::checker::migrate_storage().await;
    let (settings, _) = switch::settings().await;
    let mut patterns: Vec<String> = GITLAB_TABS.iter().map(|p| p.to_string()).collect();
    patterns.extend(settings.custom.iter().map(|c| format!("*://{}/*", c.host)));
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let Ok(all) = tabs::matching(&patterns).await else {
        return;
    };
    for tab in all {
        if tab.status.as_deref() == Some("complete") && tab_state(&tab).await.is_none() {
            let generation = begin(tab.id);
            read_page(tab.id, generation, tab.url.unwrap_or_default()).await;
        }
    }
}

thread_local! {
    /// Per tab: its newest page event, and whether that event's reading was accepted. A reading
    /// is accepted only if no newer event came meanwhile, so a slow reading of an earlier
    /// document can never overwrite a later one's. Lost with a stopped worker: then `complete`
    /// or the start-up reads the page again.
    static PAGES: std::cell::RefCell<Vec<Page>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Page {
    tab_id: i32,
    /// The newest page event's number.
    newest: u32,
    /// Its reading accepted: `Some(finished)`, whether the toolbar shows it all yet.
    accepted: Option<bool>,
}

/// A new page event for the tab: its number.
fn begin(tab_id: i32) -> u32 {
    PAGES.with(|p| {
        let mut p = p.borrow_mut();
        match p.iter_mut().find(|e| e.tab_id == tab_id) {
            Some(e) => {
                e.newest = e.newest.wrapping_add(1);
                e.accepted = None;
                e.newest
            }
            None => {
                p.push(Page {
                    tab_id,
                    newest: 0,
                    accepted: None,
                });
                0
            }
        }
    })
}

fn newest(pages: &[Page], tab_id: i32, generation: u32) -> bool {
    pages
        .iter()
        .any(|e| e.tab_id == tab_id && e.newest == generation)
}

/// Whether the newest event's reading was accepted: `Some(finished)`, or `None`.
fn accepted(pages: &[Page], tab_id: i32) -> Option<bool> {
    pages
        .iter()
        .find(|e| e.tab_id == tab_id)
        .and_then(|e| e.accepted)
}

/// Marks the reading of event `generation` accepted (its toolbar `finished` or still to come),
/// if that is still the newest event.
fn accept(tab_id: i32, generation: u32, finished: bool) -> bool {
    PAGES.with(|p| {
        let mut p = p.borrow_mut();
        match p
            .iter_mut()
            .find(|e| e.tab_id == tab_id && e.newest == generation)
        {
            Some(e) => {
                e.accepted = Some(finished);
                true
            }
            None => false,
        }
    })
}

/// Reads the page the tab shows (event `generation`) and sets its badge from what the server
/// rendered; then refines it with the peek results of the page's own request, and refreshes
/// icon and title. Nothing is kept from a reading that a newer event superseded, nor from one
/// of the document already read (a second event for the same document): the tab stays pending
/// for its next event.
async fn read_page(tab_id: i32, generation: u32, url: String) {
    // The injection starts first; the settings, storage.local (for the badge) and the tab's
    // last reading are read while the page is parsed: the badge waits for none of them.
    let started = browser::start_injection(tab_id, "reader.js");
    let (settings, _) = switch::settings().await;
    let local = Area::Local.read_all().await;
    let last = Area::Session.read::<TabState>(&tab_key(tab_id)).await;
    let reading = match started {
        Ok(p) => browser::injected(p).await.and_then(crate::page::reading_of),
        Err(e) => Err(e),
    };
    if !PAGES.with(|p| newest(&p.borrow(), tab_id, generation)) {
        return;
    }
    let mut reading = match reading {
        Ok(r) => r,
        // The tab navigated away or closed meanwhile, or the page is one the extension may
        // not script (not GitLab): only the toolbar button.
        Err(e) => {
            browser::console_debug(&e.0);
            if let Ok(tab) = tabs::get(tab_id).await {
                refresh_action_with(tab, &settings).await;
            }
            return;
        }
    };
    let last = last.ok().flatten();
    let document = reading.document.clone();
    // The document already read (a second event for the same document): nothing new, unless
    // its toolbar was left unfinished by a reading this event superseded; then it is finished
    // now.
    if let Some(last) = last.filter(|l| {
        document
            .as_ref()
            .is_some_and(|d| d.is_stale(l.document.as_ref()))
    }) {
        if !last.refining {
            accept(tab_id, generation, true);
            return;
        }
    }
    let page_url = document.as_ref().map_or(url, |d| d.url.clone());
    let Ok(env) = crate::environment::environment_for_url(&page_url, &settings.custom) else {
        return;
    };
    let gitlab_com = env.is_gitlab_com();
    let detection = detect(
        &reading.signals(&BrowserJson, gitlab_com),
        js_sys::Date::now(),
    );
    if !accept(tab_id, generation, false) {
        return;
    }
    let local = local.ok();
    show_badge_with(local.clone(), tab_id, Some(&env.host), Some(&detection)).await;
    let mut state = TabState {
        url: page_url,
        detection,
        document,
        // Not the last word until the toolbar shows it all (below).
        refining: true,
    };
    save_state(tab_id, &state).await;
    // The peek results of the page's own request name the pod: the badge is refined when
    // they answer (a newer page event meanwhile drops them).
    if reading.peek_request().is_some() {
        let refined = refine(tab_id, &mut reading).await;
        if !PAGES.with(|p| newest(&p.borrow(), tab_id, generation)) {
            return;
        }
        if refined {
            state.detection = detect(
                &reading.signals(&BrowserJson, gitlab_com),
                js_sys::Date::now(),
            );
            show_badge_with(local, tab_id, Some(&env.host), Some(&state.detection)).await;
            save_state(tab_id, &state).await;
        }
    }
    // Icon and title, and the badge once more with storage.local read afresh (a check or a
    // watch may have moved on): the target and the stage in force are read once, for the share
    // on Auto and for the title both.
    let Ok(tab) = tabs::get(tab_id).await else {
        return;
    };
    let (target, in_force) = target_in_force(tab, &settings).await;
    if let (Some(t), Some(Ok(InForce::Auto))) = (&target, &in_force) {
        record_share(t, &state.detection, &state.url).await;
    }
    // A newer page event meanwhile paints its own page.
    if PAGES.with(|p| newest(&p.borrow(), tab_id, generation)) {
        paint(tab_id, target.as_ref(), in_force, Some(&state.detection)).await;
        accept(tab_id, generation, true);
        state.refining = false;
        save_state(tab_id, &state).await;
    }
    // A page load may be what a check stopped with its worker was waiting for.
    crate::checker::resume().await;
}

async fn save_state(tab_id: i32, state: &TabState) {
    if let Err(e) = Area::Session.write(&tab_key(tab_id), state).await {
        browser::console_warn(&e.0);
    }
}

/// `tabs.onRemoved`: forget the tab.
#[wasm_bindgen]
pub async fn on_tab_removed(tab_id: i32) {
    PAGES.with(|p| p.borrow_mut().retain(|e| e.tab_id != tab_id));
    let _ = Area::Session.delete(&tab_key(tab_id)).await;
}

/// `cookies.onChanged` for `gitlab_canary`: every GitLab tab may show another preference now.
#[wasm_bindgen]
pub async fn on_canary_cookie_changed() {
    refresh_all().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(tab_id: i32) -> Option<bool> {
        PAGES.with(|p| accepted(&p.borrow(), tab_id))
    }

    #[test]
    fn complete_waits_for_a_reading_under_way_and_never_for_a_superseded_one() {
        let first = begin(7);
        assert_eq!(
            state(7),
            None,
            "nothing accepted yet: `complete` reads the page"
        );
        assert!(accept(7, first, false));
        assert_eq!(
            state(7),
            Some(false),
            "accepted, toolbar to come: `complete` leaves it"
        );
        assert!(accept(7, first, true));
        assert_eq!(
            state(7),
            Some(true),
            "finished: `complete` refreshes the toolbar"
        );
        let second = begin(7);
        assert_eq!(
            state(7),
            None,
            "a newer event: the old acceptance no longer counts"
        );
        assert!(
            !accept(7, first, true),
            "a superseded reading is never accepted"
        );
        assert_eq!(state(7), None);
        assert!(accept(7, second, true));
        assert_eq!(state(8), None, "other tabs are apart");
    }
}
