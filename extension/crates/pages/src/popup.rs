//! The popup: shows the target tab's environment and the stage in force, and switches it.
//!
//! `popup.html` is a static skeleton; each section's module fills in its part (text from
//! `_locales`, as text nodes) and wires its controls. This module wires the sections: it
//! decides the target (`?tab=<id>` or the active tab of this window), reads what every section
//! shows in one round ([`refresh`]), remembers which sections are open, and sets `data-ready`.
//! Sections depend on [`shared`] and on the crates, never on each other or on this module.

mod anytab;
mod check;
mod cli;
mod post;
mod served;
mod shared;
mod switch;
mod watch;

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element};

use self::shared::{command, join2, stored, Popup};
use crate::browser::{self, tabs, Area, Stored};
use crate::dom;
use crate::errors::UserError;
use crate::messages::{
    share_key, tab_key, Command, TabState, CHECK_KEY, HISTORY_KEY, PREPARED_KEY, WATCH_KEY,
};
use crate::preference::InForce;
use crate::session::Check;
use crate::settings::SETTINGS_KEY;

/// What [`refresh`] need not read again.
#[derive(Default)]
struct Known {
    /// All of storage.local.
    local: Option<Stored>,
    /// The target tab's URL.
    url: Option<Option<String>>,
    /// All of storage.session.
    session: Option<Stored>,
    /// The default store's `gitlab_canary` cookies.
    canary: Option<js_sys::Array>,
}

/// Reads what every section shows in one round of extension-API calls (all of storage.local,
/// the tab's URL now, its stored detection, the cookies in force) and renders them all. What
/// the caller has just read is not asked again.
async fn refresh(p: &Popup, known: Known) {
    let target = p.target.as_ref();
    let local = async {
        match known.local {
            Some(l) => Some(l),
            None => Area::Local.read_all().await.ok(),
        }
    };
    // The tab may have navigated since the popup opened.
    let url = async {
        match (known.url, target) {
            (Some(u), _) => u,
            (None, Some(t)) => tabs::get(t.tab.id).await.ok().and_then(|t| t.url),
            (None, None) => None,
        }
    };
    let session = known.session;
    let state = async {
        let key = tab_key(target?.tab.id);
        match &session {
            Some(s) => s.get::<TabState>(&key).ok().flatten(),
            None => Area::Session.read::<TabState>(&key).await.ok().flatten(),
        }
    };
    let canary = known.canary;
    let in_force = async { Some(target?.in_force_from(canary.as_ref()).await) };
    let ((local, url), (state, in_force)) = join2(join2(local, url), join2(state, in_force)).await;
    if let Some(t) = target {
        let in_force = in_force
            .and_then(|r| switch::show_in_force(p, r))
            .unwrap_or(InForce::Auto);
        let share = stored(&local, &share_key(&t.env.host)).unwrap_or_default();
        cli::render(p, t, url.as_deref(), &in_force);
        served::render(p, t, url, state, &in_force, &share);
    }
    let check = stored::<Check>(&local, CHECK_KEY).map(Check::migrated);
    check::render(
        p,
        check.as_ref(),
        local.as_ref().and_then(|l| l.raw(HISTORY_KEY)),
    );
    post::render(p, check.as_ref());
    check::render_prepared(p, stored(&local, PREPARED_KEY).unwrap_or_default());
    watch::render(p, stored(&local, WATCH_KEY));
}

/// [`refresh`] with nothing known, for the sections (a [`shared::Refresh`]).
fn refresh_all(p: Rc<Popup>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move { refresh(&p, Known::default()).await })
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

/// The value of `name=` in the page's query, if any.
fn query_param(doc: &Document, name: &str) -> Option<String> {
    let search = doc.location()?.search().ok()?;
    let prefix = format!("{name}=");
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix(prefix.as_str()).map(str::to_string))
}

/// `?tab=<id>` from the popup's own URL.
fn tab_param(doc: &Document) -> Option<i32> {
    query_param(doc, "tab")?.parse().ok()
}

/// `storage.local` key of which collapsible sections the user left open.
const SECTIONS_KEY: &str = "popupSections";

/// The collapsible sections (`details[data-section]`): open as the user left them (closed the
/// first time), every one with `?expand=1` (CONTRACT.md); each toggle is remembered.
fn setup_sections(doc: &Document, local: &Option<Stored>) {
    let expand = query_param(doc, "expand").as_deref() == Some("1");
    let open: Vec<String> = stored(local, SECTIONS_KEY).unwrap_or_default();
    let Ok(nodes) = doc.query_selector_all("details[data-section]") else {
        return;
    };
    for i in 0..nodes.length() {
        let Some(d) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
            continue;
        };
        let name = d.get_attribute("data-section").unwrap_or_default();
        if expand || open.contains(&name) {
            let _ = d.set_attribute("open", "");
        }
        // Opened for a script: nothing to remember.
        if expand {
            continue;
        }
        let doc = doc.clone();
        dom::on(&d, "toggle", move |_| {
            let list = open_sections(&doc);
            spawn_local(async move {
                if let Err(e) = Area::Local.write(SECTIONS_KEY, &list).await {
                    browser::console_warn(&e.0);
                }
            });
        });
    }
}

fn open_sections(doc: &Document) -> Vec<String> {
    let Ok(nodes) = doc.query_selector_all("details[data-section][open]") else {
        return Vec::new();
    };
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .filter_map(|d| d.get_attribute("data-section"))
        .collect()
}

/// Entry point, called by `popup.js` once the wasm module is ready.
///
/// `local`, `active`, `session` and `canary` are `storage.local.get(null)`,
/// `tabs.query({active, currentWindow})`, `storage.session.get(null)` and the default store's
/// `gitlab_canary` cookies, which `popup.js` starts before the module compiles, so that the
/// browser answers them meanwhile. Which tab is the target is decided here: `?tab=<id>` wins over the active tab.
#[wasm_bindgen]
pub async fn popup_main(
    local: js_sys::Promise,
    active: js_sys::Promise,
    session: js_sys::Promise,
    canary: js_sys::Promise,
) {
    let Some(doc) = document() else { return };
    dom::localise(&doc);
    let tab_id = tab_param(&doc);
    let tab = async {
        match tab_id {
            Some(id) => tabs::get(id).await.ok(),
            None => tabs::first_of(active).await.ok().flatten(),
        }
    };
    let (local, tab) = join2(Stored::from_promise(local), tab).await;
    let (settings, storage_error) = crate::switch::settings_from(match &local {
        Ok(l) => l.get(SETTINGS_KEY),
        Err(e) => Err(e.clone()),
    });
    let local = local.ok();
    let url = tab.as_ref().map(|t| t.url.clone());
    let tab_for_rows = tab.clone();
    let target = match tab {
        Some(tab) => crate::switch::target_for(tab, &settings).await,
        None => Err(UserError::TabGone),
    };
    // A tab that shows no GitLab page: every known environment, each with its own choice.
    let elsewhere = match (&target, &tab_for_rows) {
        (Err(UserError::NotWeb | UserError::NotGitLab { .. } | UserError::Malformed), Some(t)) => {
            Some(t.clone())
        }
        _ => None,
    };
    let (target, error) = match target {
        Ok(t) => (Some(t), storage_error),
        Err(_) if elsewhere.is_some() => (None, storage_error),
        Err(e) => (None, Some(e)),
    };
    let popup = Rc::new(Popup {
        doc,
        target,
        settings,
        refresh: refresh_all,
    });
    watch::fill_inputs(&popup);
    switch::wire(&popup);
    popup.show_error(error.as_ref());
    served::wire(&popup);
    setup_sections(&popup.doc, &local);
    watch::fill_hosts(&popup);
    if let Some(tab) = elsewhere {
        anytab::render(&popup, tab).await;
    }
    check::wire(&popup);
    watch::wire(&popup);
    post::wire(&popup);
    // Storage changes: the content script reported, or a check or watch moved on.
    {
        let p = popup.clone();
        browser::on_storage_changed(move || {
            let p = p.clone();
            spawn_local(async move { refresh(&p, Known::default()).await });
        });
    }
    // A check left half-done by a stopped worker goes on now.
    let half_done = stored::<Check>(&local, CHECK_KEY).is_some_and(|c| c.running());
    let resume = async {
        if half_done {
            let _ = command(&Command::ResumeCheck).await;
        }
    };
    // Everything was asked for by the loader: the first render reads nothing more (but for a
    // cookie store other than the default one).
    let (session, canary) = join2(Stored::from_promise(session), browser::call(Ok(canary))).await;
    let known = Known {
        local,
        url,
        session: session.ok(),
        canary: canary.ok().and_then(|c| c.dyn_into().ok()),
    };
    join2(refresh(&popup, known), resume).await;
    popup.body_attr("data-ready", "");
}
