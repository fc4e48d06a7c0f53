//! What several popup sections use: the page and its target ([`Popup`]), DOM helpers, the
//! popup-wide error line, commands to the background, storage reads and [`join2`] (the
//! bindings' own).
//!
//! Shared elements: `error` and whether `grant-access` shows (any section's error goes there),
//! `switch-message` as the popup's status line (the copy buttons confirm there), and
//! `report-post-url`, the change issue that both preparing a session and posting use.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlInputElement};

use crate::browser::{self, msg, Stored};
use crate::dom;
use crate::errors::UserError;
use crate::messages::{Command, CommandReply};
use crate::settings::Settings;
use crate::switch::{error_text, Target};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["navigator", "clipboard"], js_name = writeText)]
    fn clipboard_write(text: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Reads and renders every section again (the wiring's refresh, handed in as a plain function
/// so that no section depends on the wiring).
pub(super) type Refresh = fn(Rc<Popup>) -> Pin<Box<dyn Future<Output = ()>>>;

/// The popup page: its document, the target tab (none on a tab that shows no GitLab page) and
/// the settings read at start.
pub(super) struct Popup {
    pub(super) doc: Document,
    pub(super) target: Option<Target>,
    pub(super) settings: Settings,
    pub(super) refresh: Refresh,
}

impl Popup {
    pub(super) fn el(&self, testid: &str) -> Option<Element> {
        dom::by_testid(&self.doc, testid)
    }

    pub(super) fn set_text(&self, testid: &str, text: &str) {
        if let Some(e) = self.el(testid) {
            e.set_text_content(Some(text));
        }
    }

    pub(super) fn body_attr(&self, name: &str, value: &str) {
        dom::set_body_attr(&self.doc, name, value);
    }

    pub(super) fn show(&self, testid: &str, visible: bool) {
        if let Some(e) = self.el(testid) {
            let _ = if visible {
                e.remove_attribute("hidden")
            } else {
                e.set_attribute("hidden", "")
            };
        }
    }

    pub(super) fn link(&self, testid: &str, href: Option<String>) {
        if let (Some(e), Some(h)) = (self.el(testid), href.as_ref()) {
            let _ = e.set_attribute("href", h);
        }
        self.show(testid, href.is_some());
    }

    pub(super) fn input(&self, testid: &str) -> Option<HtmlInputElement> {
        self.el(testid)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
    }

    pub(super) fn input_value(&self, testid: &str) -> String {
        self.input(testid)
            .map(|i| i.value().trim().to_string())
            .unwrap_or_default()
    }

    pub(super) fn checked(&self, testid: &str) -> bool {
        self.input(testid).is_some_and(|i| i.checked())
    }

    /// The change issue typed or offered (`report-post-url`), trimmed.
    pub(super) fn issue_url(&self) -> String {
        self.input_value("report-post-url")
    }

    /// Offers `url` as the change issue, unless the user typed one.
    pub(super) fn offer_issue_url(&self, url: &str) {
        if let Some(input) = self.input("report-post-url") {
            if input.value().is_empty() {
                input.set_value(url);
            }
        }
    }

    /// The error line, and the grant button when the error is missing host access.
    pub(super) fn show_error(&self, e: Option<&UserError>) {
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

    /// Sends `cmd` to the background, shows its error if any, and renders everything again.
    pub(super) async fn run(self: Rc<Self>, cmd: Command) {
        self.show_error(None);
        if let Some(e) = command(&cmd).await {
            if let Some(el) = self.el("error") {
                el.set_text_content(Some(&e));
                let _ = el.remove_attribute("hidden");
            }
        }
        (self.refresh)(self.clone()).await;
    }
}

/// Each click on `testid` sends the command `make` builds at that moment (see [`Popup::run`]).
pub(super) fn on_command(p: &Rc<Popup>, testid: &str, make: fn(&Popup) -> Command) {
    if let Some(el) = p.el(testid) {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            let cmd = make(&p);
            spawn_local(p.run(cmd));
        });
    }
}

/// Each click on `button` copies the text of `source`, and the status line says so.
pub(super) fn on_copy(p: &Rc<Popup>, button: &str, source: &'static str) {
    if let Some(el) = p.el(button) {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let text = p
                .el(source)
                .and_then(|e| e.text_content())
                .unwrap_or_default();
            // Called within the click: the clipboard needs the user's gesture.
            let written = clipboard_write(&text);
            let p = p.clone();
            spawn_local(async move {
                if browser::call(written).await.is_ok() {
                    p.set_text("switch-message", &msg("checkCopied", &[]));
                }
            });
        });
    }
}

/// Sends `{"command": cmd}` to the background; the error sentence it answers, if any.
pub(super) async fn command(cmd: &Command) -> Option<String> {
    command_result(cmd).await.err()
}

/// Sends `{"command": cmd}` to the background; what it made (a comment's URL), or its error
/// sentence.
pub(super) async fn command_result(cmd: &Command) -> Result<Option<String>, String> {
    let wrapper = js_sys::Object::new();
    let value = browser::to_js(cmd).map_err(|e| e.0)?;
    js_sys::Reflect::set(&wrapper, &"command".into(), &value)
        .map_err(|e| browser::BrowserError::from_js(e).0)?;
    let reply = browser::send_to_background(&wrapper)
        .await
        .map_err(|e| e.0)?;
    let reply = browser::from_js::<CommandReply>(reply).map_err(|e| e.0)?;
    match reply.error {
        Some(e) => Err(e),
        None => Ok(reply.result),
    }
}

/// The value stored under `key`; `None` when absent, unreadable or storage failed.
pub(super) fn stored<T: DeserializeOwned>(local: &Option<Stored>, key: &str) -> Option<T> {
    local.as_ref()?.get(key).ok().flatten()
}

pub(super) use crate::browser::join2;
