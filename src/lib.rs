//! GitLab Canary Switch: the core of the extension.
//!
//! Pure modules first — they take plain data and return plain data, and are tested natively:
//! [`environment`], [`preference`]. The browser glue (`browser`, and one driver per extension
//! context) is compiled only for `wasm32`.

pub mod environment;
pub mod errors;
pub mod explain;
pub mod messages;
pub mod post;
pub mod preference;
pub mod reading;
pub mod report;
pub mod session;
pub mod settings;
pub mod stage;
pub mod watch;

#[cfg(target_arch = "wasm32")]
mod background;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod checker;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod popup;
#[cfg(target_arch = "wasm32")]
mod switch;

/// A free-list allocator that coalesces neighbours: ~8 KB smaller in the wasm than the
/// default dlmalloc, and enough for an extension's short-lived pages and worker.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature runs on one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
