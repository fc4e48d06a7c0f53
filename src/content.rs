//! The content script: reads which stage served the page, and who is signed in.
//!
//! The page is untrusted. Only GitLab's own elements are read, at their known places:
//! `body > #js-peek` (Peek renders its bar right after `<body>`), its `#peek-view-host
//! .current-host`, and the sidebar and Next badge outside user content (`main`, `.md`). Issue
//! text and comments live inside those, so look-alike markup there changes nothing. The DOM is
//! watched only inside `#js-peek`, only until the host appears or a deadline passes.

use std::cell::RefCell;

use js_sys::{Promise, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, MutationObserver, MutationObserverInit};

use crate::browser::{self, call, fetch_json, from_js, to_js};
use crate::messages::{ToBackground, WhoAmIReply};
use crate::stage::{
    detect, Detection, PageSignals, PeekResults, PerfBar, PerfBarHost, SidebarFlags,
};

/// How long the performance bar may take to render its host (Vue renders after load).
const PERF_BAR_DEADLINE_MS: i32 = 3_000;
/// How long a request of the content script may take.
const FETCH_TIMEOUT_MS: u32 = 10_000;
/// Containers of user-written content: nothing inside them is GitLab's own chrome.
const USER_CONTENT: &str = "main, #content-body, .md, .content-wrapper, .note-body, .description";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(cb: &js_sys::Function, ms: i32) -> JsValue;
    #[wasm_bindgen(catch, js_namespace = ["ext", "runtime"], js_name = sendMessage)]
    fn send_message(msg: &JsValue) -> Result<Promise, JsValue>;
}

thread_local! {
    /// This page's detection, for identity probes that arrive later.
    static LAST: RefCell<Option<Detection>> = const { RefCell::new(None) };
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

/// The first element matching `selector` that is not inside user content.
fn own_element(doc: &Document, selector: &str) -> Option<Element> {
    let nodes = doc.query_selector_all(selector).ok()?;
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .find(|e| e.closest(USER_CONTENT).ok().flatten().is_none())
}

fn read_sidebar(doc: &Document) -> Option<SidebarFlags> {
    let aside = own_element(doc, "aside.js-super-sidebar[data-sidebar]")?;
    let json = aside.get_attribute("data-sidebar")?;
    let value = JSON::parse(&json).ok()?;
    // A sidebar that is not an object of the expected shape counts as absent.
    serde_wasm_bindgen::from_value(value).ok()
}

fn perf_host(peek: &Element) -> Option<Element> {
    let host = peek
        .query_selector("#peek-view-host .current-host")
        .ok()
        .flatten()?;
    let text = host.text_content().unwrap_or_default();
    (!text.trim().is_empty()).then_some(host)
}

/// Waits for the perf bar's host to render inside `peek`, or for the deadline.
async fn wait_for_host(peek: &Element) -> Option<Element> {
    if let Some(h) = perf_host(peek) {
        return Some(h);
    }
    let observed = peek.clone();
    let promise = Promise::new(&mut |resolve, _| {
        let target = observed.clone();
        let on_change = resolve.clone();
        let cb = Closure::<dyn FnMut(JsValue, MutationObserver)>::new(
            move |_records: JsValue, obs: MutationObserver| {
                if perf_host(&target).is_some() {
                    obs.disconnect();
                    let _ = on_change.call0(&JsValue::NULL);
                }
            },
        );
        let Ok(obs) = MutationObserver::new(cb.as_ref().unchecked_ref()) else {
            let _ = resolve.call0(&JsValue::NULL);
            return;
        };
        // One small closure per page load; it must outlive this function.
        cb.forget();
        let init = MutationObserverInit::new();
        init.set_child_list(true);
        init.set_subtree(true);
        init.set_character_data(true);
        let _ = obs.observe_with_options(&observed, &init);
        let stop = Closure::once_into_js(move || {
            obs.disconnect();
            let _ = resolve.call0(&JsValue::NULL);
        });
        set_timeout(stop.unchecked_ref(), PERF_BAR_DEADLINE_MS);
    });
    let _ = JsFuture::from(promise).await;
    perf_host(peek)
}

/// The peek results' `host`, when the bar itself did not render.
async fn fetch_peek(peek: &Element) -> Option<crate::stage::PeekHost> {
    let url = peek.get_attribute("data-peek-url")?;
    let id = peek.get_attribute("data-request-id")?;
    // Same origin only: a path, never `//other.host` or a scheme.
    if !url.starts_with('/') || url.starts_with("//") || url.contains('\\') {
        return None;
    }
    let id: String = js_sys::encode_uri_component(&id).into();
    match fetch_json(&format!("{url}?request_id={id}"), FETCH_TIMEOUT_MS).await {
        Ok((200, body)) => from_js::<PeekResults>(body).ok()?.host,
        _ => None,
    }
}

/// Reads every signal of the page (waiting for the perf bar if it is on) and detects.
async fn read_page(doc: &Document) -> Detection {
    let peek = doc.query_selector("body > #js-peek").ok().flatten();
    let mut signals = PageSignals {
        perf_bar: PerfBar::Off,
        perf_host: None,
        peek: None,
        sidebar: read_sidebar(doc),
        next_badge: own_element(doc, "[data-testid=\"canary-badge-link\"]").is_some(),
        request_id: None,
    };
    if let Some(peek) = peek {
        signals.request_id = peek.get_attribute("data-request-id");
        match wait_for_host(&peek).await {
            Some(host) => {
                signals.perf_bar = PerfBar::Rendered;
                signals.perf_host = Some(PerfBarHost {
                    text: host.text_content().unwrap_or_default(),
                    canary_class: host.class_list().contains("canary"),
                });
            }
            None => {
                signals.perf_bar = PerfBar::NotRendered;
                signals.peek = fetch_peek(&peek).await;
            }
        }
    }
    detect(&signals, js_sys::Date::now())
}

/// Entry point, called by `content.js` on every GitLab page.
#[wasm_bindgen]
pub async fn content_main() {
    let Some(doc) = document() else { return };
    let detection = read_page(&doc).await;
    LAST.with(|l| *l.borrow_mut() = Some(detection.clone()));
    let url = doc
        .location()
        .and_then(|l| l.href().ok())
        .unwrap_or_default();
    let msg = ToBackground::Detected { detection, url };
    match to_js(&msg) {
        // The background may be restarting; the next page reports again.
        Ok(m) => {
            if let Err(e) = call(send_message(&m)).await {
                browser::console_debug(&e.0);
            }
        }
        Err(e) => browser::console_debug(&e.0),
    }
}

/// Answers the background's `whoAmI`: identity and this page's detection.
#[wasm_bindgen]
pub async fn content_who_am_i() -> JsValue {
    // `GET /api/v4/user` from the page's origin, with its cookies.
    let identity = crate::switch::identity_at("/api/v4/user", FETCH_TIMEOUT_MS).await;
    let detection = match LAST.with(|l| l.borrow().clone()) {
        Some(d) => d,
        None => match document() {
            Some(doc) => read_page(&doc).await,
            None => return JsValue::NULL,
        },
    };
    to_js(&WhoAmIReply {
        identity,
        detection,
    })
    .unwrap_or(JsValue::NULL)
}
