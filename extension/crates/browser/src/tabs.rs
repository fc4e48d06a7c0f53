//! `tabs`: find the target tab, reload it once, and learn when the reload has finished.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{call, from_js, to_js, BrowserError};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = get)]
    fn tabs_get(id: i32) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = query)]
    fn tabs_query(info: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = reload)]
    fn tabs_reload(id: i32) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = create)]
    fn tabs_create(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = remove)]
    fn tabs_remove(id: i32) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_namespace = ["ext", "tabs", "onUpdated"], js_name = addListener)]
    fn on_updated_add(f: &Function);
    #[wasm_bindgen(js_namespace = ["ext", "tabs", "onUpdated"], js_name = removeListener)]
    fn on_updated_remove(f: &Function);
}

/// Resolves after `ms` milliseconds (in pages and in the service worker: gloo-timers calls the
/// global `setTimeout`, not `window`'s).
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// The fields of `tabs.Tab` the extension uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tab {
    pub id: i32,
    #[serde(default)]
    pub url: Option<String>,
    /// `loading` or `complete`.
    #[serde(default)]
    pub status: Option<String>,
    /// A private (Chromium: incognito) window's tab.
    #[serde(default)]
    pub incognito: bool,
    /// Firefox: the container / private cookie store of this tab.
    #[serde(default)]
    pub cookie_store_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Query<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_window: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_focused_window: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a [&'a str]>,
}

pub async fn get(id: i32) -> Result<Tab, BrowserError> {
    from_js(call(tabs_get(id)).await?)
}

/// The active tab of the window the popup belongs to (or the last focused one, for commands).
pub async fn active(current_window: bool) -> Result<Option<Tab>, BrowserError> {
    let q = Query {
        active: Some(true),
        current_window: current_window.then_some(true),
        last_focused_window: (!current_window).then_some(true),
        url: None,
    };
    let tabs: Vec<Tab> = from_js(call(tabs_query(&to_js(&q)?)).await?)?;
    Ok(tabs.into_iter().next())
}

/// The first tab of what a `tabs.query` call started elsewhere (a page's loader) answers.
pub async fn first_of(query: Promise) -> Result<Option<Tab>, BrowserError> {
    let tabs: Vec<Tab> = from_js(call(Ok(query)).await?)?;
    Ok(tabs.into_iter().next())
}

/// Tabs whose URL matches one of the patterns (only those the extension has host access to).
pub async fn matching(patterns: &[&str]) -> Result<Vec<Tab>, BrowserError> {
    let q = Query {
        active: None,
        current_window: None,
        last_focused_window: None,
        url: Some(patterns),
    };
    from_js(call(tabs_query(&to_js(&q)?)).await?)
}

#[derive(Deserialize)]
struct ChangeInfo {
    #[serde(default)]
    status: Option<String>,
}

/// Reloads the tab once and resolves when it has finished loading, or after `timeout_ms`
/// (then `Ok(false)`: the page is slow, the reload itself was issued).
pub async fn reload_and_wait(id: i32, timeout_ms: u32) -> Result<bool, BrowserError> {
    let start = async move { call(tabs_reload(id)).await.map(|_| id) };
    Ok(start_and_wait(start, timeout_ms).await?.1)
}

#[derive(Serialize)]
struct CreateProperties<'a> {
    url: &'a str,
    active: bool,
}

/// Opens `url` in a new background tab and resolves with its id once it has loaded (an error
/// when it did not load in `timeout_ms`; the tab is closed then).
pub async fn open_and_wait(url: &str, timeout_ms: u32) -> Result<i32, BrowserError> {
    let details = to_js(&CreateProperties { url, active: false })?;
    let start = async move { Ok(from_js::<Tab>(call(tabs_create(&details)).await?)?.id) };
    match start_and_wait(start, timeout_ms).await? {
        (id, true) => Ok(id),
        (id, false) => {
            let _ = remove(id).await;
            Err(BrowserError(format!(
                "the page did not load in {} s",
                timeout_ms / 1000
            )))
        }
    }
}

pub async fn remove(id: i32) -> Result<(), BrowserError> {
    call(tabs_remove(id)).await.map(|_| ())
}

/// Runs `start` (which answers a tab id: a reload, a new tab) with a `tabs.onUpdated` listener
/// already registered, and resolves once that tab's page has loaded — `(id, true)` — or after
/// `timeout_ms` — `(id, false)`. A `complete` that arrives before `start` has answered is kept.
async fn start_and_wait(
    start: impl std::future::Future<Output = Result<i32, BrowserError>>,
    timeout_ms: u32,
) -> Result<(i32, bool), BrowserError> {
    type Listener = Closure<dyn FnMut(JsValue, JsValue)>;
    let want: Rc<RefCell<Option<i32>>> = Rc::new(RefCell::new(None));
    let early: Rc<RefCell<Vec<i32>>> = Rc::new(RefCell::new(Vec::new()));
    let resolver: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
    let slot: Rc<RefCell<Option<Listener>>> = Rc::new(RefCell::new(None));
    let done = Promise::new(&mut |resolve, _| {
        let (want, early, on_load) = (want.clone(), early.clone(), resolve.clone());
        let listener: Listener = Closure::new(move |tab_id: JsValue, change: JsValue| {
            let complete = from_js::<ChangeInfo>(change)
                .ok()
                .and_then(|c| c.status)
                .is_some_and(|s| s == "complete");
            let Some(t) = tab_id.as_f64().map(|t| t as i32).filter(|_| complete) else {
                return;
            };
            match *want.borrow() {
                Some(id) if id == t => {
                    let _ = on_load.call1(&JsValue::NULL, &JsValue::TRUE);
                }
                Some(_) => {}
                None => early.borrow_mut().push(t),
            }
        });
        on_updated_add(listener.as_ref().unchecked_ref());
        *slot.borrow_mut() = Some(listener);
        *resolver.borrow_mut() = Some(resolve.clone());
        // The listener's life ends with this function; the timer only settles the promise.
        gloo_timers::callback::Timeout::new(timeout_ms, move || {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::FALSE);
        })
        .forget();
    });
    let started = start.await;
    if let Ok(id) = &started {
        *want.borrow_mut() = Some(*id);
        if early.borrow().contains(id) {
            if let Some(r) = resolver.borrow().as_ref() {
                let _ = r.call1(&JsValue::NULL, &JsValue::TRUE);
            }
        }
    }
    let finished = match &started {
        Ok(_) => JsFuture::from(done).await.ok().and_then(|v| v.as_bool()),
        Err(_) => None,
    };
    if let Some(listener) = slot.borrow_mut().take() {
        on_updated_remove(listener.as_ref().unchecked_ref());
    }
    Ok((started?, finished == Some(true)))
}
