//! The options page: switching defaults, watch defaults, self-managed environments (with their
//! host access requested when added and given back when removed), link templates.
//!
//! Environments are saved as soon as they are added or removed (the permission change is
//! immediate too); the other fields when the form is submitted, after validation.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlInputElement};

use crate::browser::{self, msg, remove_host_access, request_host_access, Area};
use crate::dom;
use crate::environment::{CustomEnvironment, Kind};
use crate::explain::LinkTemplates;
use crate::settings::{Invalid, LinkOverride, Settings, SETTINGS_KEY};
use crate::switch;

struct Options {
    doc: Document,
    settings: RefCell<Settings>,
}

/// The hosts whose link templates can be edited.
fn link_hosts(s: &Settings) -> Vec<(String, Kind)> {
    let mut v = vec![
        ("gitlab.com".to_string(), Kind::Production),
        ("staging.gitlab.com".to_string(), Kind::Staging),
    ];
    v.extend(s.custom.iter().map(|c| (c.host.clone(), Kind::Custom)));
    v
}

impl Options {
    fn el(&self, testid: &str) -> Option<Element> {
        dom::by_testid(&self.doc, testid)
    }

    fn input(&self, testid: &str) -> Option<HtmlInputElement> {
        self.el(testid)?.dyn_into().ok()
    }

    fn value(&self, testid: &str) -> String {
        self.input(testid)
            .map(|i| i.value().trim().to_string())
            .unwrap_or_default()
    }

    fn status(&self, text: &str) {
        if let Some(e) = self.el("options-status") {
            e.set_text_content(Some(text));
        }
    }

    /// Marks fields with problems (and clears the others): `aria-invalid` plus a sentence
    /// right after the field, linked with `aria-describedby`.
    fn show_invalid(&self, problems: &[Invalid]) {
        if let Ok(old) = self.doc.query_selector_all(".field-error") {
            for i in 0..old.length() {
                if let Some(n) = old.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                    n.remove();
                }
            }
        }
        let Ok(fields) = self.doc.query_selector_all("[data-field]") else {
            return;
        };
        for i in 0..fields.length() {
            let Some(field) = fields.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let name = field.get_attribute("data-field").unwrap_or_default();
            match problems.iter().find(|p| p.field == name) {
                Some(p) => {
                    let _ = field.set_attribute("aria-invalid", "true");
                    let id = format!("err-{}", name.replace('.', "-"));
                    let _ = field.set_attribute("aria-describedby", &id);
                    if let Ok(note) = self.doc.create_element("p") {
                        let _ = note.set_attribute("class", "field-error");
                        let _ = note.set_attribute("id", &id);
                        let _ = note.set_attribute("data-testid", &format!("invalid-{name}"));
                        note.set_text_content(Some(&msg(p.key, &[])));
                        let _ = field.after_with_node_1(&note);
                    }
                }
                None => {
                    let _ = field.remove_attribute("aria-invalid");
                    let _ = field.remove_attribute("aria-describedby");
                }
            }
        }
    }

    fn render(self: &Rc<Self>) {
        let s = self.settings.borrow().clone();
        if let Some(i) = self.input("opt-scope-this-env") {
            i.set_checked(s.scope == crate::preference::Scope::ThisEnvironment);
        }
        if let Some(i) = self.input("opt-reload") {
            i.set_checked(s.reload_after_choice);
        }
        if let Some(i) = self.input("opt-watch-interval") {
            i.set_value(&s.watch_interval_secs.to_string());
        }
        if let Some(i) = self.input("opt-watch-limit") {
            i.set_value(&s.watch_limit_minutes.to_string());
        }
        self.render_custom(&s);
        self.render_links(&s);
    }

    fn render_custom(self: &Rc<Self>, s: &Settings) {
        let Some(list) = self.el("custom-list") else {
            return;
        };
        list.set_text_content(None);
        if s.custom.is_empty() {
            if let Ok(li) = self.doc.create_element("li") {
                li.set_text_content(Some(&msg("optionsNoCustom", &[])));
                let _ = list.append_child(&li);
            }
        }
        for c in &s.custom {
            let (Ok(li), Ok(button)) = (
                self.doc.create_element("li"),
                self.doc.create_element("button"),
            ) else {
                continue;
            };
            let _ =
                li.append_with_str_1(&format!("{} (cookie domain {}) ", c.host, c.cookie_domain));
            let _ = button.set_attribute("type", "button");
            let _ = button.set_attribute("data-testid", &format!("custom-remove-{}", c.host));
            let _ = button.set_attribute(
                "aria-label",
                &format!("{} {}", msg("optionsRemove", &[]), c.host),
            );
            button.set_text_content(Some(&msg("optionsRemove", &[])));
            let o = self.clone();
            let host = c.host.clone();
            dom::on(&button, "click", move |_| {
                let o = o.clone();
                let host = host.clone();
                spawn_local(async move { o.remove_custom(&host).await });
            });
            let _ = li.append_child(&button);
            let _ = list.append_child(&li);
        }
    }

    fn render_links(&self, s: &Settings) {
        let Some(box_) = self.el("links") else { return };
        box_.set_text_content(None);
        for (host, kind) in link_hosts(s) {
            let t = s.links_for(&host, kind).unwrap_or(LinkTemplates {
                logs: String::new(),
                dashboard: String::new(),
            });
            let Ok(row) = self.doc.create_element("div") else {
                continue;
            };
            let _ = row.set_attribute("class", "link-row");
            if let Ok(h) = self.doc.create_element("h3") {
                h.set_text_content(Some(&host));
                let _ = row.append_child(&h);
            }
            for (what, key, value) in [
                ("logs", "optionsLogs", &t.logs),
                ("dashboard", "optionsDashboard", &t.dashboard),
            ] {
                let (Ok(label), Ok(input)) = (
                    self.doc.create_element("label"),
                    self.doc.create_element("input"),
                ) else {
                    continue;
                };
                let _ = label.append_with_str_1(&msg(key, &[]));
                let _ = input.set_attribute("type", "url");
                let _ = input.set_attribute("spellcheck", "false");
                let _ = input.set_attribute("data-testid", &format!("links-{host}-{what}"));
                let _ = input.set_attribute("data-field", &format!("links.{host}.{what}"));
                if let Ok(i) = input.clone().dyn_into::<HtmlInputElement>() {
                    i.set_value(value);
                }
                let _ = label.append_child(&input);
                let _ = row.append_child(&label);
            }
            let _ = box_.append_child(&row);
        }
    }

    /// The settings as the form shows them now.
    fn read_form(&self) -> Settings {
        let mut s = self.settings.borrow().clone();
        s.scope = if self
            .input("opt-scope-this-env")
            .is_some_and(|i| i.checked())
        {
            crate::preference::Scope::ThisEnvironment
        } else {
            crate::preference::Scope::AllEnvironments
        };
        s.reload_after_choice = self.input("opt-reload").is_some_and(|i| i.checked());
        // Unparseable numbers become 0, which validation then names.
        s.watch_interval_secs = self.value("opt-watch-interval").parse().unwrap_or(0);
        s.watch_limit_minutes = self.value("opt-watch-limit").parse().unwrap_or(0);
        let mut links = Vec::new();
        for (host, kind) in link_hosts(&s) {
            let t = LinkTemplates {
                logs: self.value(&format!("links-{host}-logs")),
                dashboard: self.value(&format!("links-{host}-dashboard")),
            };
            if LinkTemplates::defaults(kind).as_ref() != Some(&t) {
                links.push(LinkOverride { host, templates: t });
            }
        }
        s.links = links;
        s
    }

    async fn save(&self, s: Settings) -> bool {
        match Area::Local.write(SETTINGS_KEY, &s).await {
            Ok(()) => {
                *self.settings.borrow_mut() = s;
                true
            }
            Err(e) => {
                self.status(&msg("errStorage", &[&e.0]));
                false
            }
        }
    }

    async fn submit(self: Rc<Self>) {
        let s = self.read_form();
        let problems = s.validate();
        self.show_invalid(&problems);
        if !problems.is_empty() {
            self.status(&msg("optionsInvalid", &[]));
            return;
        }
        if self.save(s).await {
            self.status(&msg("optionsSaved", &[]));
        }
        self.body_attr("data-saved", "");
    }

    fn body_attr(&self, name: &str, value: &str) {
        dom::set_body_attr(&self.doc, name, value);
    }

    async fn add_custom(self: Rc<Self>) {
        let host = self.value("custom-host").to_ascii_lowercase();
        let cookie_domain = self.value("custom-cookie-domain").to_ascii_lowercase();
        let mut s = self.settings.borrow().clone();
        s.custom.push(CustomEnvironment {
            host: host.clone(),
            cookie_domain: if cookie_domain.is_empty() {
                host.clone()
            } else {
                cookie_domain
            },
        });
        let index = s.custom.len() - 1;
        // Only this entry's problems count here; the form's other fields are saved on submit.
        let problems: Vec<Invalid> = s
            .validate()
            .into_iter()
            .filter(|p| p.field.starts_with(&format!("custom.{index}.")))
            .map(|p| Invalid {
                field: p.field.replace(&format!("custom.{index}."), "custom.new."),
                key: p.key,
            })
            .collect();
        self.show_invalid(&problems);
        if !problems.is_empty() {
            self.status(&msg("optionsInvalid", &[]));
            return;
        }
        // Asked for in the click's own turn: browsers grant permissions only to a user gesture.
        let granted = request_host_access(&format!("*://{host}"))
            .await
            .unwrap_or(false);
        if !granted {
            self.status(&msg("optionsAccessDenied", &[&host]));
            return;
        }
        let mut saved = self.settings.borrow().clone();
        saved.custom = s.custom;
        if self.save(saved).await {
            for id in ["custom-host", "custom-cookie-domain"] {
                if let Some(i) = self.input(id) {
                    i.set_value("");
                }
            }
            self.status(&msg("optionsSaved", &[]));
            self.render();
        }
    }

    async fn remove_custom(self: Rc<Self>, host: &str) {
        let mut s = self.settings.borrow().clone();
        s.custom.retain(|c| c.host != host);
        s.links.retain(|l| l.host != host);
        if let Err(e) = remove_host_access(&format!("*://{host}")).await {
            browser::console_warn(&e.0);
        }
        if self.save(s).await {
            self.status(&msg("optionsSaved", &[]));
            self.render();
        }
    }
}

/// Entry point, called by `options.js` once the wasm module is ready.
#[wasm_bindgen]
pub async fn options_main() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    dom::localise(&doc);
    let (settings, storage_error) = switch::settings().await;
    let o = Rc::new(Options {
        doc,
        settings: RefCell::new(settings),
    });
    o.render();
    if let Some(e) = storage_error {
        o.status(&switch::error_text(&e));
    }
    if let Some(form) = o.el("options-form") {
        let opts = o.clone();
        dom::on(&form, "submit", move |ev| {
            ev.prevent_default();
            spawn_local(opts.clone().submit());
        });
    }
    if let Some(add) = o.el("custom-add") {
        let opts = o.clone();
        dom::on(&add, "click", move |_| {
            spawn_local(opts.clone().add_custom())
        });
    }
    o.body_attr("data-ready", "");
}
