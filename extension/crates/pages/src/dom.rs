//! Small DOM helpers shared by the extension's pages (popup, options): text nodes and
//! attributes only, never HTML.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element};

use crate::browser::msg;

/// The element with `data-testid="<testid>"`.
pub fn by_testid(doc: &Document, testid: &str) -> Option<Element> {
    doc.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .ok()
        .flatten()
}

/// Sets an attribute of `<body>` (the pages' `data-ready`, `data-switch`, `data-saved`).
pub fn set_body_attr(doc: &Document, name: &str, value: &str) {
    if let Some(b) = doc.body() {
        let _ = b.set_attribute(name, value);
    }
}

/// Calls `f` on every `event` on `el`, for the life of the page (gloo-events).
pub fn on(el: &Element, event: &'static str, f: impl Fn(web_sys::Event) + 'static) {
    // Not passive (gloo's default): handlers such as the options form's submit prevent the
    // default action.
    let options = gloo_events::EventListenerOptions::enable_prevent_default();
    let listener =
        gloo_events::EventListener::new_with_options(el, event, options, move |e| f(e.clone()));
    // A page lives as long as its listeners: they are never removed.
    listener.forget();
}

/// Replaces the text of every `[data-i18n]` element with its localised message.
pub fn localise(doc: &Document) {
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
