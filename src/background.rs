//! The background (Chromium service worker, Firefox event page).
//!
//! `background.js` registers every listener synchronously at start-up — a service worker woken
//! by an event only delivers it to listeners registered in its first turn — and forwards each
//! event here once the wasm module is ready. Handlers keep no state in memory: the worker can be
//! stopped between any two events.

use wasm_bindgen::prelude::*;

use crate::browser::{self, msg, set_icon, set_title, tabs};
use crate::errors::UserError;
use crate::preference::InForce;
use crate::switch::{self, Target};

const GITLAB_TABS: &[&str] = &["https://*.gitlab.com/*"];

/// Icon and title of the toolbar button for one tab: the preference in force there.
async fn refresh_action(tab: tabs::Tab) {
    let id = tab.id;
    let (settings, _) = switch::settings().await;
    let (icon, title) = match switch::target_for(tab, &settings).await {
        Ok(target) => describe(&target).await,
        Err(_) => ("auto", msg("titleNotGitLab", &[])),
    };
    // A tab closed meanwhile makes these fail; nothing to show then.
    let _ = set_icon(id, icon).await;
    let _ = set_title(id, &title).await;
}

async fn describe(target: &Target) -> (&'static str, String) {
    let host = target.env.host.as_str();
    match target.in_force().await {
        Ok(InForce::Next) => (
            "next",
            msg("titlePreference", &[host, &msg("labelNext", &[])]),
        ),
        Ok(InForce::Current) => (
            "current",
            msg("titlePreference", &[host, &msg("labelCurrent", &[])]),
        ),
        Ok(InForce::Auto) => (
            "auto",
            msg("titlePreference", &[host, &msg("labelAuto", &[])]),
        ),
        Ok(InForce::Conflict { .. }) => (
            "conflict",
            msg("titlePreference", &[host, &msg("titleConflict", &[])]),
        ),
        Err(e) => ("auto", switch::error_text(&e)),
    }
}

/// `tabs.onActivated`.
#[wasm_bindgen]
pub async fn on_tab_activated(tab_id: i32) {
    if let Ok(tab) = tabs::get(tab_id).await {
        refresh_action(tab).await;
    }
}

/// `tabs.onUpdated` with a URL or load-status change.
#[wasm_bindgen]
pub async fn on_tab_updated(tab_id: i32) {
    on_tab_activated(tab_id).await;
}

/// `cookies.onChanged` for `gitlab_canary`: every GitLab tab may show another preference now.
#[wasm_bindgen]
pub async fn on_canary_cookie_changed() {
    if let Ok(all) = tabs::matching(GITLAB_TABS).await {
        for tab in all {
            refresh_action(tab).await;
        }
    }
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
        .map(|p| p.toggled())
        .unwrap_or(crate::preference::Preference::Next);
    target.apply(next, settings.scope).await?;
    let _ = tabs::reload_and_wait(target.tab.id, 30_000).await;
    refresh_action(target.tab).await;
    Ok(())
}
