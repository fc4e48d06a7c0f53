//! The popup: shows the target tab's environment and the stage in force, and switches it.
//!
//! `popup.html` is a static skeleton; this fills its text (from `_locales`, as text nodes) and
//! wires its controls. The target tab is `?tab=<id>` or the active tab of this window.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement};

use crate::browser::{self, local_set, msg, request_host_access, tabs};
use crate::environment::Kind;
use crate::errors::UserError;
use crate::preference::{InForce, Preference, Scope};
use crate::settings::SETTINGS_KEY;
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
                if let Err(e) = local_set(SETTINGS_KEY, &s).await {
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
    popup.render_in_force().await;
    popup.body_attr("data-ready", "");
}
