//! Thin bindings to the WebExtension APIs: the one place that calls the browser, shared by the
//! background's and the pages' modules; and [`switch`], the choice end to end, which both use.
//!
//! Every API is reached through the global `ext`, which the per-browser `ext-compat.js` loader
//! defines (`browser` in Firefox, `chrome` in Chromium; both return promises in MV3). Nothing
//! here decides anything: it converts between JS objects and the typed data of the pure modules.

use js_sys::{Promise, Reflect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub mod cookies;
pub mod switch;
pub mod tabs;

// The pure core's modules, under the paths the glue names them by.
pub use canary_switch::{environment, errors, messages, preference, reading, settings};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["ext", "i18n"], js_name = getMessage)]
    fn i18n_get_message(key: &str, subs: &JsValue) -> String;

    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "local"], js_name = get)]
    fn storage_local_get(keys: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "local"], js_name = set)]
    fn storage_local_set(items: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "local"], js_name = remove)]
    fn storage_local_remove(keys: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "session"], js_name = get)]
    fn storage_session_get(keys: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "session"], js_name = set)]
    fn storage_session_set(items: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "storage", "session"], js_name = remove)]
    fn storage_session_remove(keys: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["ext", "storage", "onChanged"], js_name = addListener)]
    fn storage_on_changed_add(f: &js_sys::Function);

    #[wasm_bindgen(catch, js_namespace = ["ext", "action"], js_name = setBadgeText)]
    fn action_set_badge_text(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "action"], js_name = setBadgeBackgroundColor)]
    fn action_set_badge_background_color(details: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["ext", "action"], js_name = setIcon)]
    fn action_set_icon(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "action"], js_name = setTitle)]
    fn action_set_title(details: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["ext", "permissions"], js_name = contains)]
    fn permissions_contains(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "permissions"], js_name = request)]
    fn permissions_request(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "permissions"], js_name = remove)]
    fn permissions_remove(details: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["ext", "scripting"], js_name = executeScript)]
    fn scripting_execute_script(details: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["ext", "alarms"], js_name = create)]
    fn alarms_create(name: &str, info: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "alarms"], js_name = clear)]
    fn alarms_clear(name: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "notifications"], js_name = create)]
    fn notifications_create(id: &str, options: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "runtime"], js_name = sendMessage)]
    fn runtime_send_message(msg: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = digest)]
    fn subtle_digest(algorithm: &str, data: &js_sys::Uint8Array) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = fetch)]
    fn global_fetch(url: &str, init: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_timeout(ms: u32) -> JsValue;

    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn console_warn(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = debug)]
    pub fn console_debug(s: &str);

}

/// A browser API call that failed, with the browser's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserError(pub String);

impl BrowserError {
    pub fn from_js(e: JsValue) -> BrowserError {
        let message = Reflect::get(&e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .or_else(|| e.as_string())
            .unwrap_or_else(|| "unknown error".to_string());
        BrowserError(message)
    }
}

impl From<serde_wasm_bindgen::Error> for BrowserError {
    fn from(e: serde_wasm_bindgen::Error) -> Self {
        BrowserError(e.to_string())
    }
}

/// `object[key]`; `undefined` when it is absent or reading it throws (a value from a page or a
/// message, whose shape is checked afterwards).
pub fn property(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[key] = value`; fails only on objects that refuse it (frozen, or a throwing setter).
pub fn set_property(object: &JsValue, key: &str, value: &JsValue) -> Result<(), JsValue> {
    Reflect::set(object, &JsValue::from_str(key), value).map(|_| ())
}

/// Awaits a promise-returning API call that may also throw synchronously.
pub async fn call(p: Result<Promise, JsValue>) -> Result<JsValue, BrowserError> {
    let p = p.map_err(BrowserError::from_js)?;
    JsFuture::from(p).await.map_err(BrowserError::from_js)
}

/// Plain objects for the APIs (`None` fields are left out, not sent as `undefined`).
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, BrowserError> {
    // The shapes the APIs and storage take: plain objects, `null` for a None (fields the APIs
    // must not receive are skipped by their structs).
    let s = serde_wasm_bindgen::Serializer::new()
        .serialize_missing_as_null(true)
        .serialize_maps_as_objects(true);
    Ok(v.serialize(&s)?)
}

pub fn from_js<T: DeserializeOwned>(v: JsValue) -> Result<T, BrowserError> {
    Ok(serde_wasm_bindgen::from_value(v)?)
}

/// A localised string from `_locales/<lang>/messages.json`; the key itself if it is missing.
pub fn msg(key: &str, subs: &[&str]) -> String {
    let arr = js_sys::Array::new();
    for s in subs {
        arr.push(&JsValue::from_str(s));
    }
    let s = i18n_get_message(key, &arr);
    if s.is_empty() {
        key.to_string()
    } else {
        s
    }
}

/// A storage area: `local` (kept) or `session` (kept while the browser runs, across restarts
/// of the service worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Local,
    Session,
}

impl Area {
    fn get(self, keys: &JsValue) -> Result<Promise, JsValue> {
        match self {
            Area::Local => storage_local_get(keys),
            Area::Session => storage_session_get(keys),
        }
    }
    fn set(self, items: &JsValue) -> Result<Promise, JsValue> {
        match self {
            Area::Local => storage_local_set(items),
            Area::Session => storage_session_set(items),
        }
    }
    fn remove(self, keys: &JsValue) -> Result<Promise, JsValue> {
        match self {
            Area::Local => storage_local_remove(keys),
            Area::Session => storage_session_remove(keys),
        }
    }

    /// `storage.<area>.get(keys)`: one key's name, or `null` for every key. Not generic: one
    /// copy of the async part in the wasm, not one per type read.
    async fn fetch(self, keys: &JsValue) -> Result<Stored, BrowserError> {
        call(self.get(keys)).await.map(Stored)
    }

    /// Reads one key; `None` when absent.
    pub async fn read<T: DeserializeOwned>(self, key: &str) -> Result<Option<T>, BrowserError> {
        self.fetch(&JsValue::from_str(key)).await?.get(key)
    }

    /// Reads every key at once: one API call where a page shows many keys.
    pub async fn read_all(self) -> Result<Stored, BrowserError> {
        self.fetch(&JsValue::NULL).await
    }

    /// Writes one key.
    pub async fn write<T: Serialize>(self, key: &str, value: &T) -> Result<(), BrowserError> {
        self.write_raw(key, &to_js(value)?).await
    }

    /// Writes one key's value as it is (a JS value read from storage, kept untouched).
    pub async fn write_raw(self, key: &str, value: &JsValue) -> Result<(), BrowserError> {
        let obj = js_sys::Object::new();
        Reflect::set(&obj, &JsValue::from_str(key), value).map_err(BrowserError::from_js)?;
        call(self.set(&obj)).await.map(|_| ())
    }

    pub async fn delete(self, key: &str) -> Result<(), BrowserError> {
        call(self.remove(&JsValue::from_str(key))).await.map(|_| ())
    }
}

/// What `storage.<area>.get` answered: the stored keys and their values.
#[derive(Clone)]
pub struct Stored(JsValue);

impl Stored {
    /// What a `storage.<area>.get` call started elsewhere (a page's loader) answers.
    pub async fn from_promise(p: Promise) -> Result<Stored, BrowserError> {
        call(Ok(p)).await.map(Stored)
    }

    /// The value of `key` as stored; `None` when absent.
    pub fn raw(&self, key: &str) -> Option<JsValue> {
        let v = property(&self.0, key);
        (!v.is_undefined() && !v.is_null()).then_some(v)
    }

    /// The value of `key`; `None` when absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, BrowserError> {
        self.raw(key).map(from_js).transpose()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IconDetails<'a> {
    tab_id: i32,
    path: IconPaths<'a>,
}

#[derive(Serialize)]
struct IconPaths<'a> {
    #[serde(rename = "16")]
    s16: &'a str,
    #[serde(rename = "32")]
    s32: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitleDetails<'a> {
    tab_id: i32,
    title: &'a str,
}

/// Sets the toolbar icon for one tab to `icons/<name>-16.png` / `-32.png`.
pub async fn set_icon(tab_id: i32, name: &str) -> Result<(), BrowserError> {
    let s16 = format!("icons/{name}-16.png");
    let s32 = format!("icons/{name}-32.png");
    let details = IconDetails {
        tab_id,
        path: IconPaths {
            s16: &s16,
            s32: &s32,
        },
    };
    call(action_set_icon(&to_js(&details)?)).await.map(|_| ())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BadgeText<'a> {
    tab_id: i32,
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BadgeColor<'a> {
    tab_id: i32,
    color: &'a str,
}

/// Sets the badge of one tab: text (empty clears it) and background colour.
pub async fn set_badge(tab_id: i32, text: &str, color: &str) -> Result<(), BrowserError> {
    call(action_set_badge_text(&to_js(&BadgeText { tab_id, text })?)).await?;
    if !text.is_empty() {
        call(action_set_badge_background_color(&to_js(&BadgeColor {
            tab_id,
            color,
        })?))
        .await?;
    }
    Ok(())
}

pub async fn set_title(tab_id: i32, title: &str) -> Result<(), BrowserError> {
    call(action_set_title(&to_js(&TitleDetails { tab_id, title })?))
        .await
        .map(|_| ())
}

#[derive(Serialize, Deserialize)]
struct Origins {
    origins: Vec<String>,
}

/// Whether the extension may read and write cookies for `origin` (`https://host`).
pub async fn has_host_access(origin: &str) -> Result<bool, BrowserError> {
    let details = to_js(&Origins {
        origins: vec![format!("{origin}/*")],
    })?;
    Ok(call(permissions_contains(&details)).await?.as_bool() == Some(true))
}

/// Asks the user for access to `origin`; needs a user gesture (a click in the popup).
pub async fn request_host_access(origin: &str) -> Result<bool, BrowserError> {
    let details = to_js(&Origins {
        origins: vec![format!("{origin}/*")],
    })?;
    Ok(call(permissions_request(&details)).await?.as_bool() == Some(true))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InjectionTarget {
    tab_id: i32,
    frame_ids: [i32; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Injection<'a> {
    target: InjectionTarget,
    files: &'a [&'a str],
    /// Run as soon as possible, not at `document_idle` (the page reader waits for
    /// DOMContentLoaded itself).
    inject_immediately: bool,
}

/// How long an injected script may take, its requests included.
const INJECTION_TIMEOUT_MS: u32 = 12_000;

/// Runs one extension file in the top frame of a tab (the page reader, the identity probe) and
/// answers its completion value, awaited when it is a promise: plain data, still unchecked.
pub async fn inject(tab_id: i32, file: &str) -> Result<JsValue, BrowserError> {
    injected(start_injection(tab_id, file)?).await
}

/// Starts [`inject`] now (the browser works on it while the caller awaits other things);
/// [`injected`] answers it.
pub fn start_injection(tab_id: i32, file: &str) -> Result<Promise, BrowserError> {
    let details = to_js(&Injection {
        target: InjectionTarget {
            tab_id,
            frame_ids: [0],
        },
        files: &[file],
        inject_immediately: true,
    })?;
    scripting_execute_script(&details).map_err(BrowserError::from_js)
}

/// Runs `func(...args)` in the top frame of a tab (a function of an extension script, such as
/// `post-note.js`'s) and answers its value, awaited when it is a promise.
pub async fn inject_function(
    tab_id: i32,
    func: &JsValue,
    args: &js_sys::Array,
) -> Result<JsValue, BrowserError> {
    let details = to_js(&InjectionTarget {
        tab_id,
        frame_ids: [0],
    })
    .map(|target| {
        let d = js_sys::Object::new();
        let _ = set_property(&d, "target", &target);
        let _ = set_property(&d, "func", func);
        let _ = set_property(&d, "args", args);
        JsValue::from(d)
    })?;
    injected(scripting_execute_script(&details).map_err(BrowserError::from_js)?).await
}

/// The completion value of a started injection.
pub async fn injected(injected: Promise) -> Result<JsValue, BrowserError> {
    // Firefox never settles an injection into a document that is being navigated away from:
    // give up after a while (the scripts' own requests time out at 10 s), and let the caller
    // try again on the new document.
    let timer = Promise::new(&mut |resolve, _| {
        gloo_timers::callback::Timeout::new(INJECTION_TIMEOUT_MS, move || {
            let _ = resolve.call0(&JsValue::NULL);
        })
        .forget();
    });
    let results = JsFuture::from(Promise::race(&js_sys::Array::of2(&injected, &timer)))
        .await
        .map_err(BrowserError::from_js)?;
    if results.is_undefined() {
        return Err(BrowserError("the page did not answer in time".into()));
    }
    // [{result, frameId, …}] (Firefox: `error` instead of `result` when the script threw).
    let first = Reflect::get_u32(&results, 0).map_err(BrowserError::from_js)?;
    let error = property(&first, "error");
    if !error.is_undefined() && !error.is_null() {
        return Err(BrowserError::from_js(error));
    }
    Ok(property(&first, "result"))
}

/// The browser's own `JSON.parse` for page JSON ([`crate::reading::Json`]): no JSON parser in
/// the wasm.
pub struct BrowserJson;

impl crate::reading::Json for BrowserJson {
    fn parse<T: DeserializeOwned>(&self, text: &str) -> Option<T> {
        from_js(js_sys::JSON::parse(text).ok()?).ok()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlarmInfo {
    delay_in_minutes: f64,
    period_in_minutes: f64,
}

/// A repeating alarm (browsers may raise the period to their minimum).
pub async fn alarm(name: &str, period_minutes: f64) -> Result<(), BrowserError> {
    let info = to_js(&AlarmInfo {
        delay_in_minutes: period_minutes,
        period_in_minutes: period_minutes,
    })?;
    call(alarms_create(name, &info)).await.map(|_| ())
}

pub async fn clear_alarm(name: &str) -> Result<(), BrowserError> {
    call(alarms_clear(name)).await.map(|_| ())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    icon_url: &'a str,
    title: &'a str,
    message: &'a str,
}

/// A basic system notification.
pub async fn notify(id: &str, title: &str, message: &str) -> Result<(), BrowserError> {
    let n = to_js(&Notification {
        kind: "basic",
        icon_url: "icons/app-128.png",
        title,
        message,
    })?;
    call(notifications_create(id, &n)).await.map(|_| ())
}

/// Sends a message to the background (from an extension page).
pub async fn send_to_background(msg: &JsValue) -> Result<JsValue, BrowserError> {
    call(send_to_background_now(msg)).await
}

/// Sends a message to the background without awaiting it: the browser's promise of the reply
/// (or the error thrown at once), for callers that hand it on to JS.
pub fn send_to_background_now(msg: &JsValue) -> Result<Promise, JsValue> {
    runtime_send_message(msg)
}

/// First 8 hex digits of SHA-256: a one-way fingerprint that tells two values apart without
/// revealing either.
pub async fn fingerprint(value: &str) -> Result<String, BrowserError> {
    let bytes = js_sys::Uint8Array::from(value.as_bytes());
    let digest = call(subtle_digest("SHA-256", &bytes)).await?;
    let arr = js_sys::Uint8Array::new(&digest);
    let mut out = String::with_capacity(8);
    for i in 0..4 {
        let b = arr.get_index(i);
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    Ok(out)
}

#[derive(Serialize)]
struct FetchInit {
    credentials: &'static str,
    cache: &'static str,
}

/// `GET url` with the browser's cookies, no cache and a timeout: the status, and the JSON body of
/// a 200 (null otherwise).
pub async fn fetch_json(url: &str, timeout_ms: u32) -> Result<(u16, JsValue), BrowserError> {
    let init = to_js(&FetchInit {
        credentials: "include",
        cache: "no-store",
    })?;
    Reflect::set(&init, &"signal".into(), &abort_timeout(timeout_ms))
        .map_err(BrowserError::from_js)?;
    let resp = call(global_fetch(url, &init)).await?;
    let status = Reflect::get(&resp, &"status".into())
        .ok()
        .and_then(|s| s.as_f64())
        .unwrap_or(0.0) as u16;
    let json = Reflect::get(&resp, &"json".into()).map_err(BrowserError::from_js)?;
    // A body that is not JSON reads as null: callers judge the shape, not the parse.
    let body = match json.dyn_ref::<js_sys::Function>() {
        Some(f) if status == 200 => call(f.call0(&resp).map(Promise::from))
            .await
            .unwrap_or(JsValue::NULL),
        _ => JsValue::NULL,
    };
    Ok((status, body))
}

/// Calls `f` on every change of extension storage, for the life of the page.
pub fn on_storage_changed(f: impl Fn() + 'static) {
    let cb = Closure::<dyn Fn()>::new(f);
    storage_on_changed_add(cb.as_ref().unchecked_ref());
    cb.forget();
}

/// Gives access to `origin` back (an environment the user removed).
pub async fn remove_host_access(origin: &str) -> Result<bool, BrowserError> {
    let details = to_js(&Origins {
        origins: vec![format!("{origin}/*")],
    })?;
    Ok(call(permissions_remove(&details)).await?.as_bool() == Some(true))
}

/// Current time in seconds since the epoch.
pub fn now_secs() -> f64 {
    js_sys::Date::now() / 1000.0
}

/// Both futures' results, polled together so that their extension-API calls overlap (each
/// context is single-threaded: this is all the concurrency there is).
pub async fn join2<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::task::Poll;
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}
