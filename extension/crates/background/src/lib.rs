//! The background's wasm module (Chromium service worker, Firefox event page): toolbar badges
//! from the page reader's readings, the session check and the watch. `extension/background.js`
//! loads it and forwards every browser event to the `#[wasm_bindgen]` handlers here; nothing of
//! the popup or the options page is in this module.

pub use canary_switch::{
    environment, errors, explain, messages, post, preference, reading, report, session, settings,
    stage, watch,
};
pub use canary_switch_browser as browser;
pub use canary_switch_browser::switch;

mod background;
mod checker;
mod page;
mod toolbar;

/// A free-list allocator that coalesces neighbours: ~8 KB smaller in the wasm than the
/// default dlmalloc, and enough for an extension's short-lived pages and worker.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature runs on one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
