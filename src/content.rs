//! The content script: reads what a GitLab page says about the stage that served it, and who
//! is signed in, and hands the raw readings to the background, which checks and judges them
//! ([`crate::messages::PageReport`], [`crate::stage::detect`]).
//!
//! It deserialises nothing and decides nothing: it reads a handful of attributes and texts and
//! sends them as they are, so the code that runs in the page's process stays small. Its fetches
//! and messages go through [`crate::browser`], like the rest of the extension's.
//!
//! The page is untrusted. Only GitLab's own elements are read, at their known places:
//! `body > #js-peek` (Peek renders its bar right after `<body>`), its `#peek-view-host
//! .current-host`, and the sidebar and Next badge outside user content (`main`, `.md`). Issue
//! text and comments live inside those, so look-alike markup there changes nothing. The DOM is
//! watched only inside `#js-peek`, only until the host appears or a deadline passes.

use std::cell::RefCell;

use js_sys::{Object, Promise, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, MutationObserver, MutationObserverInit};

use crate::browser::{self, fetch_json, property as get, set_timeout};

/// How long the performance bar may take to render its host (Vue renders after load).
const PERF_BAR_DEADLINE_MS: i32 = 3_000;
/// How long a request of the content script may take.
const FETCH_TIMEOUT_MS: u32 = 10_000;
/// Containers of user-written content: nothing inside them is GitLab's own chrome.
const USER_CONTENT: &str = "main, #content-body, .md, .content-wrapper, .note-body, .description";
/// The longest `data-sidebar` parsed (UTF-16 units). GitLab's is a few KiB; a page cannot make
/// the reader parse megabytes.
const SIDEBAR_MAX_LEN: u32 = 256 * 1024;

thread_local! {
    /// This page's reading, for identity probes that arrive later.
    static LAST: RefCell<Option<Object>> = const { RefCell::new(None) };
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

fn set(o: &Object, key: &str, value: &JsValue) {
    // Setting a plain property on a fresh object cannot fail.
    let _ = browser::set_property(o, key, value);
}

/// A plain object (not an array, not null), as `JSON.parse` gives them.
fn is_plain_object(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v)
}

/// The first element matching `selector` that is not inside user content.
fn own_element(doc: &Document, selector: &str) -> Option<Element> {
    let nodes = doc.query_selector_all(selector).ok()?;
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .find(|e| e.closest(USER_CONTENT).ok().flatten().is_none())
}

/// The flags of [`crate::stage::SidebarFlags`], the only part of the sidebar JSON that leaves the
/// page: the rest (menus, the user's name and avatar) is not the extension's business.
const SIDEBAR_FLAGS: [&str; 3] = [
    "gitlab_com_and_canary",
    "gitlab_com_but_not_canary",
    "is_logged_in",
];

/// The stage flags of the sidebar's `data-sidebar` JSON object, as the page has them; no
/// sidebar, or JSON that is not an object, counts as absent.
fn read_sidebar(doc: &Document) -> Option<JsValue> {
    let aside = own_element(doc, "aside.js-super-sidebar[data-sidebar]")?;
    let json = aside.get_attribute("data-sidebar")?;
    if js_sys::JsString::from(json.as_str()).length() > SIDEBAR_MAX_LEN {
        return None;
    }
    let sidebar = JSON::parse(&json).ok().filter(is_plain_object)?;
    let flags = Object::new();
    for key in SIDEBAR_FLAGS {
        let value = get(&sidebar, key);
        if !value.is_undefined() {
            set(&flags, key, &value);
        }
    }
    Some(flags.into())
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
async fn fetch_peek(peek: &Element) -> Option<JsValue> {
    let url = peek.get_attribute("data-peek-url")?;
    let id = peek.get_attribute("data-request-id")?;
    // Same origin only: a path, never `//other.host` or a scheme.
    if !url.starts_with('/') || url.starts_with("//") || url.contains('\\') {
        return None;
    }
    let mut query = url;
    query.push_str("?request_id=");
    query.push_str(&String::from(js_sys::encode_uri_component(&id)));
    let (_, body) = fetch_json(&query, FETCH_TIMEOUT_MS).await.ok()?;
    Some(get(&body, "host")).filter(is_plain_object)
}

/// What the page shows at once: sidebar flags, Next badge, request id, and the perf bar's host
/// if it has rendered. `Err` holds the bar (`body > #js-peek`) when it is on but its host has
/// not rendered yet: then [`finish_reading`] waits for it.
fn read_now(doc: &Document) -> Result<Object, (Object, Element)> {
    let page = Object::new();
    if let Some(sidebar) = read_sidebar(doc) {
        set(&page, "sidebar", &sidebar);
    }
    let badge = own_element(doc, "[data-testid=\"canary-badge-link\"]").is_some();
    set(&page, "nextBadge", &badge.into());
    let Some(peek) = doc.query_selector("body > #js-peek").ok().flatten() else {
        set(&page, "perfBar", &"off".into());
        return Ok(page);
    };
    if let Some(id) = peek.get_attribute("data-request-id") {
        set(&page, "requestId", &id.into());
    }
    match perf_host(&peek) {
        Some(host) => {
            set_perf_host(&page, &host);
            Ok(page)
        }
        None => Err((page, peek)),
    }
}

fn set_perf_host(page: &Object, host: &Element) {
    let h = Object::new();
    set(&h, "text", &host.text_content().unwrap_or_default().into());
    set(
        &h,
        "canaryClass",
        &host.class_list().contains("canary").into(),
    );
    set(page, "perfHost", &h);
    set(page, "perfBar", &"rendered".into());
}

/// The rest of [`read_now`]'s reading when the perf bar's host had not rendered: waits for it,
/// or past the deadline asks the peek results.
async fn finish_reading(page: Object, peek: Element) -> Object {
    match wait_for_host(&peek).await {
        Some(host) => set_perf_host(&page, &host),
        None => {
            set(&page, "perfBar", &"not-rendered".into());
            if let Some(host) = fetch_peek(&peek).await {
                set(&page, "peek", &host);
            }
        }
    }
    page
}

/// Reads every signal of the page, waiting for the perf bar if it is on. The object has the
/// shape of [`crate::messages::PageReport`] plus `peek` and `sidebar` (page JSON, unchecked).
async fn read_page(doc: &Document) -> Object {
    match read_now(doc) {
        Ok(page) => page,
        Err((page, peek)) => finish_reading(page, peek).await,
    }
}

/// `{page}` to the background, remembered for later identity probes.
fn report(page: Object) -> Result<Promise, JsValue> {
    LAST.with(|l| *l.borrow_mut() = Some(page.clone()));
    let msg = Object::new();
    set(&msg, "page", &page);
    browser::send_to_background_now(&msg)
}

/// Entry point, called by `content.js` on every GitLab page: `{page}` to the background. The
/// reader is injected after `load`, so the perf bar has usually rendered: then it reads and
/// sends at once, without a future (the page's main thread runs less code); otherwise it waits.
/// The promise settles with the send; `content.js` logs a failure (the background may be
/// restarting: the next page reports again).
#[wasm_bindgen]
pub fn content_main() -> Result<Promise, JsValue> {
    let Some(doc) = document() else {
        return Ok(Promise::resolve(&JsValue::UNDEFINED));
    };
    match read_now(&doc) {
        Ok(page) => report(page),
        Err((page, peek)) => Ok(wasm_bindgen_futures::future_to_promise(async move {
            let page = finish_reading(page, peek).await;
            JsFuture::from(report(page)?).await
        })),
    }
}

/// Answers the background's `whoAmI`: `{page, user}`, where `user` is `{status, id,
/// username}` from `GET /api/v4/user` on the page's origin (only those two fields of the
/// body), or `{error}` when the request got no answer.
#[wasm_bindgen]
pub async fn content_who_am_i() -> JsValue {
    let user = Object::new();
    match fetch_json("/api/v4/user", FETCH_TIMEOUT_MS).await {
        Ok((status, body)) => {
            set(&user, "status", &status.into());
            if is_plain_object(&body) {
                set(&user, "id", &get(&body, "id"));
                set(&user, "username", &get(&body, "username"));
            }
        }
        Err(e) => set(&user, "error", &e.0.into()),
    }
    let page = match LAST.with(|l| l.borrow().clone()) {
        Some(p) => p,
        None => match document() {
            Some(doc) => read_page(&doc).await,
            None => return JsValue::NULL,
        },
    };
    let reply = Object::new();
    set(&reply, "page", &page);
    set(&reply, "user", &user);
    reply.into()
}
