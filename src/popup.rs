//! The popup: shows the target tab's environment and the stage in force, and switches it.
//!
//! `popup.html` is a static skeleton; this fills its text (from `_locales`, as text nodes) and
//! wires its controls. The target tab is `?tab=<id>` or the active tab of this window.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement};

use crate::browser::{self, msg, request_host_access, tabs, Area};
use crate::environment::{path_of, Kind};
use crate::errors::UserError;
use crate::explain::{explain, fill, LinkTemplates, Share};
use crate::messages::{share_key, tab_key, TabState};
use crate::preference::{InForce, Preference, Scope};
use crate::settings::SETTINGS_KEY;
use crate::stage::{Signal, Stage};
use crate::switch::{self, change_text, error_text, Target};

const RELOAD_TIMEOUT_MS: i32 = 30_000;

struct Popup {
    doc: Document,
    target: Option<Target>,
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

impl Popup {
    fn el(&self, testid: &str) -> Option<Element> {
        self.doc
            .query_selector(&format!("[data-testid=\"{testid}\"]"))
            .ok()
            .flatten()
    }

    fn set_text(&self, testid: &str, text: &str) {
        if let Some(e) = self.el(testid) {
            e.set_text_content(Some(text));
        }
    }

    fn body_attr(&self, name: &str, value: &str) {
        if let Some(b) = self.doc.body() {
            let _ = b.set_attribute(name, value);
        }
    }

    fn show_error(&self, e: Option<&UserError>) {
        if let Some(el) = self.el("error") {
            el.set_text_content(e.map(error_text).as_deref());
            let _ = match e {
                Some(_) => el.remove_attribute("hidden"),
                None => el.set_attribute("hidden", ""),
            };
        }
        let needs_grant = matches!(e, Some(UserError::NoHostAccess { .. }));
        if let Some(b) = self.el("grant-access") {
            let _ = if needs_grant {
                b.remove_attribute("hidden")
            } else {
                b.set_attribute("hidden", "")
            };
        }
    }

    fn scope(&self) -> Scope {
        let this_env = self
            .el("scope-this-env")
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .is_some_and(|i| i.checked());
        if this_env {
            Scope::ThisEnvironment
        } else {
            Scope::AllEnvironments
        }
    }

    fn enable_controls(&self, enabled: bool) {
        for id in ["choose-current", "choose-next", "choose-auto"] {
            if let Some(b) = self
                .el(id)
                .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
            {
                b.set_disabled(!enabled);
            }
        }
    }

    /// Reads the cookies again and shows the preference in force.
    async fn render_in_force(&self) {
        let Some(target) = &self.target else { return };
        match target.in_force().await {
            Ok(state) => {
                let pressed = state.preference();
                for (id, p) in [
                    ("choose-current", Preference::Current),
                    ("choose-next", Preference::Next),
                    ("choose-auto", Preference::Auto),
                ] {
                    if let Some(b) = self.el(id) {
                        let on = if pressed == Some(p) { "true" } else { "false" };
                        let _ = b.set_attribute("aria-pressed", on);
                    }
                }
                let text = match &state {
                    InForce::Conflict { values } => msg("popupConflict", &[&values.join(", ")]),
                    other => other
                        .preference()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                };
                self.set_text("preference", &text);
            }
            Err(e) => self.show_error(Some(&e)),
        }
    }

    fn show(&self, testid: &str, visible: bool) {
        if let Some(e) = self.el(testid) {
            let _ = if visible {
                e.remove_attribute("hidden")
            } else {
                e.set_attribute("hidden", "")
            };
        }
    }

    fn link(&self, testid: &str, href: Option<String>) {
        if let (Some(e), Some(h)) = (self.el(testid), href.as_ref()) {
            let _ = e.set_attribute("href", h);
        }
        self.show(testid, href.is_some());
    }

    /// Shows which stage served the tab's page, why it differs from the choice, the share
    /// observed on Auto, and links for the request.
    async fn render_served(&self) {
        let Some(target) = &self.target else { return };
        let state: Option<TabState> = Area::Session
            .read(&tab_key(target.tab.id))
            .await
            .ok()
            .flatten()
            .filter(|s: &TabState| target.tab.url.as_deref() == Some(s.url.as_str()));
        let in_force = target.in_force().await.unwrap_or(InForce::Auto);
        let Some(state) = state else {
            self.set_text("served-stage", Stage::Unknown.as_str());
            self.set_text("served-host", "");
            self.set_text("served-signal", &msg("popupNoSignal", &[]));
            self.render_share(&in_force).await;
            return;
        };
        let d = &state.detection;
        self.set_text("served-stage", d.stage.as_str());
        self.set_text("served-host", d.pod.as_deref().unwrap_or_default());
        let signal = match d.signal {
            Some(Signal::PerfBar) => Some("signalPerfBar"),
            Some(Signal::PeekJson) => Some("signalPeekJson"),
            Some(Signal::Sidebar) => Some("signalSidebar"),
            Some(Signal::NextBadge) => Some("signalNextBadge"),
            None => None,
        };
        let meta = match signal {
            Some(key) => msg("popupSignal", &[&msg(key, &[]), &age(d.at_ms)]),
            None => msg("popupNoSignal", &[]),
        };
        self.set_text("served-signal", &meta);
        if let Some(list) = self.el("explanations") {
            list.set_text_content(None);
            for e in explain(&in_force, d, &target.env, &path_of(&state.url)) {
                let (key, subs) = e.message();
                let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
                if let Ok(li) = self.doc.create_element("li") {
                    li.set_text_content(Some(&msg(key, &subs)));
                    let _ = list.append_child(&li);
                }
            }
        }
        let templates = LinkTemplates::defaults(target.env.kind);
        let (logs, dashboard) = match &templates {
            Some(t) => (
                fill(&t.logs, d.stage, d.request_id.as_deref(), &target.env),
                fill(&t.dashboard, d.stage, d.request_id.as_deref(), &target.env),
            ),
            None => (None, None),
        };
        self.link("logs-link", logs);
        self.link("dashboard-link", dashboard);
        self.render_share(&in_force).await;
    }

    async fn render_share(&self, in_force: &InForce) {
        let Some(target) = &self.target else { return };
        let share: Share = Area::Local
            .read(&share_key(&target.env.host))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = match (in_force, share.percent_text()) {
            (InForce::Auto, Some(p)) => msg(
                "popupShare",
                &[&share.canary.to_string(), &share.total.to_string(), &p],
            ),
            _ => String::new(),
        };
        self.set_text("share", &text);
        self.show("share-reset", !text.is_empty());
    }

    async fn choose(self: Rc<Self>, pref: Preference) {
        let Some(target) = &self.target else { return };
        self.body_attr("data-switch", "pending");
        self.show_error(None);
        self.set_text("switch-message", &msg("popupWorking", &[]));
        self.enable_controls(false);
        match target.apply(pref, self.scope()).await {
            Ok(changes) => {
                let mut text = change_text(&changes);
                self.set_text("switch-message", &text);
                self.render_in_force().await;
                let loaded = tabs::reload_and_wait(target.tab.id, RELOAD_TIMEOUT_MS).await;
                match loaded {
                    Ok(finished) => {
                        let key = if finished {
                            "popupReloaded"
                        } else {
                            "popupReloadSlow"
                        };
                        text.push(' ');
                        text.push_str(&msg(key, &[]));
                        self.set_text("switch-message", &text);
                        self.body_attr("data-switch", "done");
                    }
                    Err(_) => {
                        self.show_error(Some(&UserError::TabGone));
                        self.body_attr("data-switch", "error");
                    }
                }
            }
            Err(e) => {
                self.set_text("switch-message", "");
                self.show_error(Some(&e));
                self.body_attr("data-switch", "error");
            }
        }
        self.enable_controls(true);
    }
}

/// "12 s" / "3 min" / "2 h" since `at_ms`.
fn age(at_ms: f64) -> String {
    let secs = ((js_sys::Date::now() - at_ms) / 1000.0).max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// Replaces the text of every `[data-i18n]` element with its localised message.
fn localise(doc: &Document) {
    let Ok(nodes) = doc.query_selector_all("[data-i18n]") else {
        return;
    };
    for i in 0..nodes.length() {
        if let Some(el) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
            if let Some(key) = el.get_attribute("data-i18n") {
                el.set_text_content(Some(&msg(&key, &[])));
            }
        }
    }
}

/// `?tab=<id>` from the popup's own URL.
fn tab_param(doc: &Document) -> Option<i32> {
    let search = doc.location()?.search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix("tab="))
        .and_then(|v| v.parse().ok())
}

fn on_click(el: &Element, f: impl Fn() + 'static) {
    let cb = Closure::<dyn Fn()>::new(f);
    let _ = el.add_event_listener_with_callback("click", cb.as_ref().unchecked_ref());
    // The popup lives as long as its page: the listener is never removed.
    cb.forget();
}

fn env_label(t: &Target) -> String {
    let key = match t.env.kind {
        Kind::Production => "envProduction",
        Kind::Staging => "envStaging",
        Kind::Other => "envOther",
        Kind::Custom => "envCustom",
    };
    msg(key, &[&t.env.host])
}

/// Entry point, called by `popup.js` once the wasm module is ready.
#[wasm_bindgen]
pub async fn popup_main() {
    let Some(doc) = document() else { return };
    localise(&doc);
    let (settings, storage_error) = switch::settings().await;
    let tab_id = match tab_param(&doc) {
        Some(id) => Some(id),
        None => tabs::active(true).await.ok().flatten().map(|t| t.id),
    };
    let target = match tab_id {
        Some(id) => switch::target(id, &settings).await,
        None => Err(UserError::TabGone),
    };
    let (target, error) = match target {
        Ok(t) => (Some(t), storage_error),
        Err(e) => (None, Some(e)),
    };
    let popup = Rc::new(Popup { doc, target });
    if let Some(t) = &popup.target {
        popup.set_text("environment", &env_label(t));
    }
    if let Some(i) = popup
        .el("scope-this-env")
        .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
    {
        i.set_checked(settings.scope == Scope::ThisEnvironment);
        let s = settings.clone();
        let input = i.clone();
        let cb = Closure::<dyn Fn()>::new(move || {
            let mut s = s.clone();
            s.scope = if input.checked() {
                Scope::ThisEnvironment
            } else {
                Scope::AllEnvironments
            };
            spawn_local(async move {
                if let Err(e) = Area::Local.write(SETTINGS_KEY, &s).await {
                    browser::console_warn(&e.0);
                }
            });
        });
        let _ = i.add_event_listener_with_callback("change", cb.as_ref().unchecked_ref());
        cb.forget();
    }
    popup.enable_controls(popup.target.is_some());
    popup.show_error(error.as_ref());
    for (id, pref) in [
        ("choose-current", Preference::Current),
        ("choose-next", Preference::Next),
        ("choose-auto", Preference::Auto),
    ] {
        if let Some(el) = popup.el(id) {
            let p = popup.clone();
            on_click(&el, move || spawn_local(p.clone().choose(pref)));
        }
    }
    if let Some(el) = popup.el("grant-access") {
        let p = popup.clone();
        on_click(&el, move || {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                if request_host_access(&t.env.origin()).await.unwrap_or(false) {
                    p.show_error(None);
                    p.render_in_force().await;
                }
            });
        });
    }
    if let Some(el) = popup.el("share-reset") {
        let p = popup.clone();
        on_click(&el, move || {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                let _ = Area::Local.delete(&share_key(&t.env.host)).await;
                p.render_share(&InForce::Auto).await;
            });
        });
    }
    // The content script reports after a reload: show it when it lands.
    {
        let p = popup.clone();
        browser::on_storage_changed(move || {
            let p = p.clone();
            spawn_local(async move { p.render_served().await });
        });
    }
    popup.render_in_force().await;
    popup.render_served().await;
    popup.body_attr("data-ready", "");
}
