//! The pages' wasm module: the popup and the options page (`extension/popup.js` and
//! `extension/options.js` load it). Nothing of the background is in this module: the pages ask
//! the background for what only it does (a session check, a post) with `messages::Command`.

pub use canary_switch::{
    cli, environment, errors, explain, messages, post, preference, reading, report, session,
    settings, stage, utc, watch,
};
pub use canary_switch_browser as browser;
pub use canary_switch_browser::switch;

mod dom;
mod options;
mod popup;

/// A free-list allocator that coalesces neighbours: ~8 KB smaller in the wasm than the
/// default dlmalloc, and enough for an extension's short-lived pages and worker.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature runs on one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
