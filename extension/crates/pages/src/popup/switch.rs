//! The switch and its scope: the environment's name, Current / Next / Auto, the preference in
//! force, "This environment only", the switch's message, and the grant button's action.
//!
//! Elements: `environment`, `choose-current`, `choose-next`, `choose-auto`, `preference`,
//! `scope-this-env`, `switch-message`, `grant-access`; `body[data-switch]`.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, HtmlButtonElement};

use super::shared::Popup;
use crate::browser::{self, msg, request_host_access, tabs, Area};
use crate::dom;
use crate::errors::UserError;
use crate::preference::{InForce, Preference, Scope};
use crate::settings::SETTINGS_KEY;
use crate::switch::change_text;

const RELOAD_TIMEOUT_MS: u32 = 30_000;

const CHOICES: [(&str, Preference); 3] = [
    ("choose-current", Preference::Current),
    ("choose-next", Preference::Next),
    ("choose-auto", Preference::Auto),
];

/// Fills in the environment and the scope, enables the choices when there is a target, and
/// wires the choices, the scope and the grant button.
pub(super) fn wire(p: &Rc<Popup>) {
    if let Some(t) = &p.target {
        p.set_text("environment", &t.label());
    }
    if let Some(i) = p.input("scope-this-env") {
        i.set_checked(p.settings.scope == Scope::ThisEnvironment);
        let s = p.settings.clone();
        let input = i.clone();
        let target: Element = i.into();
        dom::on(&target, "change", move |_| {
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
    }
    enable_controls(p, p.target.is_some());
    for (id, pref) in CHOICES {
        if let Some(el) = p.el(id) {
            let p = p.clone();
            dom::on(&el, "click", move |_| spawn_local(choose(p.clone(), pref)));
        }
    }
    if let Some(el) = p.el("grant-access") {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                if request_host_access(&t.env.origin()).await.unwrap_or(false) {
                    p.show_error(None);
                    render_in_force(&p).await;
                }
            });
        });
    }
}

fn scope(p: &Popup) -> Scope {
    if p.checked("scope-this-env") {
        Scope::ThisEnvironment
    } else {
        Scope::AllEnvironments
    }
}

fn enable_controls(p: &Popup, enabled: bool) {
    for (id, _) in CHOICES {
        if let Some(b) = p
            .el(id)
            .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
        {
            b.set_disabled(!enabled);
        }
    }
}

/// Reads the cookies again and shows the preference in force; returns it.
async fn render_in_force(p: &Popup) -> Option<InForce> {
    let target = p.target.as_ref()?;
    show_in_force(p, target.in_force().await)
}

/// The choice buttons and the preference line for the preference in force.
pub(super) fn show_in_force(p: &Popup, in_force: Result<InForce, UserError>) -> Option<InForce> {
    match in_force {
        Ok(state) => {
            let pressed = state.preference();
            for (id, pref) in CHOICES {
                if let Some(b) = p.el(id) {
                    let on = if pressed == Some(pref) {
                        "true"
                    } else {
                        "false"
                    };
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
            p.set_text("preference", &text);
            Some(state)
        }
        Err(e) => {
            p.show_error(Some(&e));
            None
        }
    }
}

/// A choice: writes the cookies for the scope, shows what changed, and reloads the tab once
/// when the settings say so.
async fn choose(p: Rc<Popup>, pref: Preference) {
    let Some(target) = &p.target else { return };
    p.body_attr("data-switch", "pending");
    p.show_error(None);
    p.set_text("switch-message", &msg("popupWorking", &[]));
    enable_controls(&p, false);
    let others = crate::environment::known_hosts(&p.settings.custom);
    match target.apply_keeping(pref, scope(&p), &others).await {
        Ok(changes) => {
            let mut text = change_text(&changes);
            p.set_text("switch-message", &text);
            render_in_force(&p).await;
            if !p.settings.reload_after_choice {
                p.body_attr("data-switch", "done");
                enable_controls(&p, true);
                return;
            }
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
                    p.set_text("switch-message", &text);
                    p.body_attr("data-switch", "done");
                }
                Err(_) => {
                    p.show_error(Some(&UserError::TabGone));
                    p.body_attr("data-switch", "error");
                }
            }
        }
        Err(e) => {
            p.set_text("switch-message", "");
            p.show_error(Some(&e));
            p.body_attr("data-switch", "error");
        }
    }
    enable_controls(&p, true);
}
