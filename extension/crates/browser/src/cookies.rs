//! `cookies`: read and write `gitlab_canary` in the cookie store of the target tab.
//!
//! Differences handled here by feature, not by browser name:
//! - the store of a tab is `tab.cookieStoreId` in Firefox (containers, private windows) and the
//!   store whose `tabIds` hold the tab in Chromium (incognito);
//! - with Firefox's first-party isolation on, calls need `firstPartyDomain`, and only then
//!   (Chromium rejects the key): a call refused for lacking it is retried once with it.
//!   <https://developer.mozilla.org/docs/Mozilla/Add-ons/WebExtensions/API/cookies#first-party_isolation>

use js_sys::{Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::tabs::Tab;
use super::{call, from_js, to_js, BrowserError};
use crate::preference::{same_cookies, CookieOp, FoundCookie, StoredCookie, COOKIE_NAME};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["ext", "cookies"], js_name = getAll)]
    fn cookies_get_all(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "cookies"], js_name = set)]
    fn cookies_set(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "cookies"], js_name = remove)]
    fn cookies_remove(details: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["ext", "cookies"], js_name = getAllCookieStores)]
    fn cookies_get_all_cookie_stores() -> Result<Promise, JsValue>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CookieStore {
    id: String,
    #[serde(default)]
    tab_ids: Vec<i32>,
}

/// The cookie store of `tab`; `None` means the default store.
pub async fn store_for_tab(tab: &Tab) -> Result<Option<String>, BrowserError> {
    if let Some(id) = &tab.cookie_store_id {
        return Ok(Some(id.clone()));
    }
    // Chromium: a normal tab uses the default store; only incognito tabs need looking up
    // (one API round trip less on every popup open and background event).
    if !tab.incognito {
        return Ok(None);
    }
    let stores: Vec<CookieStore> = from_js(call(cookies_get_all_cookie_stores()).await?)?;
    Ok(stores
        .into_iter()
        .find(|s| s.tab_ids.contains(&tab.id))
        .map(|s| s.id))
}

/// What a `cookies.getAll` answered, as [`FoundCookie`]s (an entry that is not a cookie is
/// left out).
pub fn found(all: &js_sys::Array) -> Vec<FoundCookie> {
    all.iter()
        .filter_map(|raw| from_js::<FoundCookie>(raw).ok())
        .collect()
}

/// Where cookies are read and written: a store, and the first-party domain when isolation is on.
#[derive(Debug, Clone, Default)]
pub struct Jar {
    pub store_id: Option<String>,
    /// Site for first-party isolation (e.g. `gitlab.com`).
    pub site: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetAll<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_id: Option<&'a str>,
}

/// `cookies.set` details, for the switch's writes and the check's restores alike.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetDetails<'a> {
    url: &'a str,
    name: &'a str,
    value: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    secure: bool,
    http_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    same_site: Option<&'a str>,
    /// Absent: a session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoveDetails<'a> {
    url: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_id: Option<&'a str>,
}

fn needs_first_party_domain(e: &BrowserError) -> bool {
    e.0.contains("firstPartyDomain")
}

/// Calls `f(details)`; if the browser asks for `firstPartyDomain`, once more with it set.
async fn with_fpi(
    f: fn(&JsValue) -> Result<Promise, JsValue>,
    details: JsValue,
    first_party: &JsValue,
) -> Result<JsValue, BrowserError> {
    match call(f(&details)).await {
        Err(e) if needs_first_party_domain(&e) => {
            Reflect::set(
                &details,
                &JsValue::from_str("firstPartyDomain"),
                first_party,
            )
            .map_err(BrowserError::from_js)?;
            call(f(&details)).await
        }
        other => other,
    }
}

impl Jar {
    /// Every `gitlab_canary` cookie in the store (filtered to a domain by the pure code).
    pub async fn canary_cookies(&self) -> Result<Vec<FoundCookie>, BrowserError> {
        self.named(COOKIE_NAME).await
    }

    /// Every `gitlab_canary` cookie with all its attributes, to be restored later.
    pub async fn canary_cookies_stored(&self) -> Result<Vec<StoredCookie>, BrowserError> {
        let details = to_js(&GetAll {
            name: COOKIE_NAME,
            store_id: self.store_id.as_deref(),
        })?;
        from_js(with_fpi(cookies_get_all, details, &JsValue::NULL).await?)
    }

    /// Puts `gitlab_canary` back exactly as `original` (all under the same cookie domain):
    /// removes what is there now, writes each original cookie with its attributes, reads back.
    /// Returns whether the store now holds exactly the original cookies.
    pub async fn restore(
        &self,
        original: &[StoredCookie],
        in_scope: impl Fn(&FoundCookie) -> bool,
    ) -> Result<bool, BrowserError> {
        let site = JsValue::from_str(&self.site);
        for c in self.canary_cookies().await?.iter().filter(|c| in_scope(c)) {
            let details = to_js(&RemoveDetails {
                url: &format!("https://{}{}", c.domain.trim_start_matches('.'), c.path),
                name: COOKIE_NAME,
                store_id: self.store_id.as_deref(),
            })?;
            with_fpi(cookies_remove, details, &site).await?;
        }
        for c in original {
            let url = c.url();
            let details = to_js(&SetDetails {
                url: &url,
                name: COOKIE_NAME,
                value: &c.value,
                path: &c.path,
                domain: (!c.host_only).then_some(c.domain.as_str()),
                secure: c.secure,
                http_only: c.http_only,
                same_site: c.same_site.as_deref(),
                expiration_date: c.expiration_date,
                store_id: self.store_id.as_deref(),
            })?;
            with_fpi(cookies_set, details, &site).await?;
        }
        let now: Vec<FoundCookie> = self
            .canary_cookies()
            .await?
            .into_iter()
            .filter(|c| in_scope(c))
            .collect();
        let want: Vec<FoundCookie> = original.iter().map(StoredCookie::found).collect();
        Ok(same_cookies(&now, &want))
    }

    /// Every cookie with this name in the store. Only `FoundCookie`'s fields are kept.
    pub async fn named(&self, name: &str) -> Result<Vec<FoundCookie>, BrowserError> {
        Ok(found(&self.named_raw(name).await?))
    }

    /// Every cookie with this name in the store, as the browser describes them.
    pub async fn named_raw(&self, name: &str) -> Result<js_sys::Array, BrowserError> {
        let details = to_js(&GetAll {
            name,
            store_id: self.store_id.as_deref(),
        })?;
        // `null` asks for cookies of every first-party domain.
        let all = with_fpi(cookies_get_all, details, &JsValue::NULL).await?;
        Ok(all.dyn_into().unwrap_or_default())
    }

    /// Takes every cookie named `name` that the browser sends to `host` out of the store, for
    /// one control request made without it; [`Jar::put_back`] restores them. The cookies stay
    /// JS objects: their values never enter the extension's own memory or storage.
    pub async fn take(&self, name: &str, host: &str) -> Result<Vec<JsValue>, BrowserError> {
        let site = JsValue::from_str(&self.site);
        let mut taken = Vec::new();
        for raw in self.named_raw(name).await?.iter() {
            let Ok(c) = from_js::<FoundCookie>(raw.clone()) else {
                continue;
            };
            if !c.sent_to(host) {
                continue;
            }
            let details = to_js(&RemoveDetails {
                url: &format!("https://{}{}", c.domain.trim_start_matches('.'), c.path),
                name,
                store_id: self.store_id.as_deref(),
            })?;
            with_fpi(cookies_remove, details, &site).await?;
            taken.push(raw);
        }
        Ok(taken)
    }

    /// Writes back cookies that [`Jar::take`] took, with every attribute they had.
    pub async fn put_back(&self, taken: &[JsValue]) -> Result<(), BrowserError> {
        let site = JsValue::from_str(&self.site);
        for raw in taken {
            let details = js_sys::Object::new();
            for key in [
                "name",
                "value",
                "path",
                "secure",
                "httpOnly",
                "sameSite",
                "expirationDate",
                "storeId",
                "firstPartyDomain",
                "partitionKey",
            ] {
                let v = crate::property(raw, key);
                if !v.is_undefined() && !v.is_null() {
                    let _ = crate::set_property(&details, key, &v);
                }
            }
            let domain = crate::property(raw, "domain")
                .as_string()
                .unwrap_or_default();
            let path = crate::property(raw, "path")
                .as_string()
                .unwrap_or_else(|| "/".into());
            if crate::property(raw, "hostOnly").as_bool() == Some(false) {
                let _ = crate::set_property(&details, "domain", &JsValue::from_str(&domain));
            }
            let url = format!("https://{}{path}", domain.trim_start_matches('.'));
            let _ = crate::set_property(&details, "url", &JsValue::from_str(&url));
            with_fpi(cookies_set, details.into(), &site).await?;
        }
        Ok(())
    }

    /// Performs one operation of a [`crate::preference::Plan`].
    pub async fn apply(&self, op: &CookieOp) -> Result<(), BrowserError> {
        let site = JsValue::from_str(&self.site);
        match op {
            CookieOp::Set {
                url,
                domain,
                value,
                secure,
                expiration_date,
            } => {
                let details = to_js(&SetDetails {
                    url,
                    name: COOKIE_NAME,
                    value,
                    path: "/",
                    domain: domain.as_deref(),
                    secure: *secure,
                    http_only: false,
                    same_site: Some("lax"),
                    expiration_date: Some(*expiration_date),
                    store_id: self.store_id.as_deref(),
                })?;
                let set = with_fpi(cookies_set, details, &site).await?;
                // Both browsers answer `null` when the store refused the cookie.
                if set.is_null() || set.is_undefined() {
                    return Err(BrowserError("the cookie store did not keep it".into()));
                }
                Ok(())
            }
            CookieOp::Remove { url, .. } => {
                let details = to_js(&RemoveDetails {
                    url,
                    name: COOKIE_NAME,
                    store_id: self.store_id.as_deref(),
                })?;
                with_fpi(cookies_remove, details, &site).await.map(|_| ())
            }
        }
    }
}
