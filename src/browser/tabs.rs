//! `tabs`: find the target tab, reload it once, and learn when the reload has finished.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{call, from_js, set_timeout, to_js, BrowserError};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = get)]
    fn tabs_get(id: i32) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = query)]
    fn tabs_query(info: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "tabs"], js_name = reload)]
    fn tabs_reload(id: i32) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_namespace = ["ext", "tabs", "onUpdated"], js_name = addListener)]
    fn on_updated_add(f: &Function);
    #[wasm_bindgen(js_namespace = ["ext", "tabs", "onUpdated"], js_name = removeListener)]
    fn on_updated_remove(f: &Function);
}

/// Resolves after `ms` milliseconds (in pages and in the service worker).
pub async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(p).await;
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
pub async fn reload_and_wait(id: i32, timeout_ms: i32) -> Result<bool, BrowserError> {
    type Listener = Closure<dyn FnMut(JsValue, JsValue)>;
    let slot: Rc<RefCell<Option<Listener>>> = Rc::new(RefCell::new(None));
    let done = Promise::new(&mut |resolve, _| {
        let resolve_on_load = resolve.clone();
        let listener: Listener = Closure::new(move |tab_id: JsValue, change: JsValue| {
            let complete = from_js::<ChangeInfo>(change)
                .ok()
                .and_then(|c| c.status)
                .is_some_and(|s| s == "complete");
            if complete && tab_id.as_f64() == Some(f64::from(id)) {
                let _ = resolve_on_load.call1(&JsValue::NULL, &JsValue::TRUE);
            }
        });
        on_updated_add(listener.as_ref().unchecked_ref());
        *slot.borrow_mut() = Some(listener);
        let timeout = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::FALSE);
        });
        set_timeout(timeout.unchecked_ref(), timeout_ms);
    });
    let reloaded = call(tabs_reload(id)).await;
    let finished = match reloaded {
        Ok(_) => JsFuture::from(done).await.ok().and_then(|v| v.as_bool()),
        Err(_) => None,
    };
    if let Some(listener) = slot.borrow_mut().take() {
        on_updated_remove(listener.as_ref().unchecked_ref());
    }
    reloaded?;
    Ok(finished == Some(true))
}
