//! Environments on any tab: on a tab that shows no GitLab page, the GitLab-page sections go,
//! and one row per known environment comes, with the preference in force there, Current /
//! Next / Auto (for that environment only, nothing reloaded) and a link that opens it.
//!
//! Elements: `environments`, `env-rows`, `env-message`; each row `env-row[data-host]` with its
//! own `preference`, `choose-current`, `choose-next`, `choose-auto` and `env-open`; hides
//! `[data-gitlab-only]`.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::Element;

use super::shared::Popup;
use crate::browser::{msg, tabs};
use crate::dom;
use crate::errors::UserError;
use crate::preference::{InForce, Preference, Scope};
use crate::switch::{self, change_text, error_text, Target};

const CHOICES: [(&str, Preference); 3] = [
    ("choose-current", Preference::Current),
    ("choose-next", Preference::Next),
    ("choose-auto", Preference::Auto),
];

/// Hides the GitLab-page sections and renders and wires a row per known environment for `tab`.
pub(super) async fn render(p: &Rc<Popup>, tab: tabs::Tab) {
    if let Ok(nodes) = p.doc.query_selector_all("[data-gitlab-only]") {
        for i in 0..nodes.length() {
            if let Some(e) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                let _ = e.set_attribute("hidden", "");
            }
        }
    }
    p.show("environments", true);
    let Some(rows) = p.el("env-rows") else {
        return;
    };
    for host in crate::environment::known_hosts(&p.settings.custom) {
        let Ok(target) = switch::target_for_host(tab.clone(), &host, &p.settings).await else {
            continue;
        };
        let Some(row) = env_row(p, &target) else {
            continue;
        };
        let _ = rows.append_child(&row);
        let target = Rc::new(target);
        show_row_in_force(&row, target.in_force().await);
        for (id, pref) in CHOICES {
            let Ok(Some(button)) = row.query_selector(&format!("[data-testid={id}]")) else {
                continue;
            };
            let (p, t, r) = (p.clone(), target.clone(), row.clone());
            dom::on(&button, "click", move |_| {
                let (p, t, r) = (p.clone(), t.clone(), r.clone());
                spawn_local(async move { choose_for_row(&p, &t, &r, pref).await });
            });
        }
    }
}

/// One environment's row: its name, what it receives, the three choices, a link to it.
fn env_row(p: &Popup, target: &Target) -> Option<Element> {
    let doc = &p.doc;
    let row = doc.create_element("div").ok()?;
    let _ = row.set_attribute("class", "env-row");
    let _ = row.set_attribute("data-testid", "env-row");
    let _ = row.set_attribute("data-host", &target.env.host);
    let name = doc.create_element("h3").ok()?;
    name.set_text_content(Some(&target.label()));
    let state = doc.create_element("strong").ok()?;
    let _ = state.set_attribute("data-testid", "preference");
    let choices = doc.create_element("div").ok()?;
    let _ = choices.set_attribute("class", "row");
    for (id, key) in [
        ("choose-current", "labelCurrent"),
        ("choose-next", "labelNext"),
        ("choose-auto", "labelAuto"),
    ] {
        let b = doc.create_element("button").ok()?;
        let _ = b.set_attribute("type", "button");
        let _ = b.set_attribute("data-testid", id);
        let _ = b.set_attribute("aria-pressed", "false");
        b.set_text_content(Some(&msg(key, &[])));
        let _ = choices.append_child(&b);
    }
    let open = doc.create_element("a").ok()?;
    let _ = open.set_attribute("data-testid", "env-open");
    let _ = open.set_attribute("href", &format!("{}/", target.env.origin()));
    let _ = open.set_attribute("target", "_blank");
    let _ = open.set_attribute("rel", "noopener noreferrer");
    open.set_text_content(Some(&msg("popupOpenEnv", &[&target.env.host])));
    for child in [&name, &state, &choices, &open] {
        let _ = row.append_child(child);
    }
    Some(row)
}

fn show_row_in_force(row: &Element, in_force: Result<InForce, UserError>) {
    let (text, pressed) = match &in_force {
        Ok(InForce::Conflict { values }) => (msg("popupConflict", &[&values.join(", ")]), None),
        Ok(state) => (
            state
                .preference()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            state.preference(),
        ),
        Err(e) => (error_text(e), None),
    };
    if let Ok(Some(el)) = row.query_selector("[data-testid=preference]") {
        el.set_text_content(Some(&text));
    }
    for (id, p) in CHOICES {
        if let Ok(Some(b)) = row.query_selector(&format!("[data-testid={id}]")) {
            let on = if pressed == Some(p) { "true" } else { "false" };
            let _ = b.set_attribute("aria-pressed", on);
        }
    }
}

/// A row's choice: that environment only, nothing reloaded; the other known environments
/// keep their stage.
async fn choose_for_row(p: &Popup, target: &Target, row: &Element, pref: Preference) {
    let others = crate::environment::known_hosts(&p.settings.custom);
    let text = match target
        .apply_keeping(pref, Scope::ThisEnvironment, &others)
        .await
    {
        Ok(changes) => change_text(&changes),
        Err(e) => error_text(&e),
    };
    p.set_text("env-message", &text);
    // Every row: a choice here may have re-homed another environment's cookie.
    if let Ok(rows) = p.doc.query_selector_all("[data-testid=env-row]") {
        for i in 0..rows.length() {
            let Some(r) = rows.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let in_force = if r == *row {
                target.in_force().await
            } else {
                match r.get_attribute("data-host") {
                    Some(h) => {
                        match switch::target_for_host(target.tab.clone(), &h, &p.settings).await {
                            Ok(t) => t.in_force().await,
                            Err(e) => Err(e),
                        }
                    }
                    None => continue,
                }
            };
            show_row_in_force(&r, in_force);
        }
    }
}
