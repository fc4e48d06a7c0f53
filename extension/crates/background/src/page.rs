//! What a GitLab page says about the stage that served it: the page reader's reading, refined
//! with the peek results of the page's own request, judged by the core. Below both the
//! background's event handlers and the checker's probe, which call it.

use wasm_bindgen::prelude::*;

use crate::browser::{self, from_js, BrowserError, BrowserJson};
use crate::reading::PageReading;
use crate::stage::{detect, Detection};
use crate::switch::Target;

#[wasm_bindgen]
extern "C" {
    /// `extension/peek.js`: the function injected into a page to fetch its peek results.
    #[wasm_bindgen(thread_local_v2, js_name = canaryPeekResults)]
    static PEEK: JsValue;
}

/// Fetches the peek results the reading's performance-bar mount names (`GET <peekUrl>?
/// request_id=<id>` from the page's own origin, `peek.js`) into the reading. True when it did.
pub async fn refine(tab_id: i32, reading: &mut PageReading) -> bool {
    let Some((url, id)) = reading.peek_request() else {
        return false;
    };
    let func = PEEK.with(JsValue::clone);
    let args = js_sys::Array::of2(&JsValue::from_str(url), &JsValue::from_str(id));
    match browser::inject_function(tab_id, &func, &args).await {
        Ok(raw) => match (from_js(raw), reading.peek.as_mut()) {
            (Ok(fetched), Some(peek)) => {
                peek.results = Some(fetched);
                true
            }
            _ => false,
        },
        Err(e) => {
            browser::console_debug(&e.0);
            false
        }
    }
}

/// Injects the page reader into a loaded tab, fetches its peek results, and judges what it
/// read (the session check's probe).
pub async fn read_detection(tab_id: i32, target: &Target) -> Result<Detection, BrowserError> {
    let mut reading = reading_of(browser::inject(tab_id, "reader.js").await?)?;
    refine(tab_id, &mut reading).await;
    let signals = reading.signals(&BrowserJson, target.env.is_gitlab_com());
    Ok(detect(&signals, js_sys::Date::now()))
}

/// The page reader's answer, checked: exactly a [`PageReading`], unknown fields refused.
pub fn reading_of(raw: JsValue) -> Result<PageReading, BrowserError> {
    from_js(raw)
        .map_err(|e| BrowserError(format!("the page reader's answer is unreadable: {}", e.0)))
}
