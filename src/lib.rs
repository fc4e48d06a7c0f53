//! GitLab Canary Switch: the core of the extension.
//!
//! Pure modules first — they take plain data and return plain data, and are tested natively:
//! [`environment`], [`preference`]. The browser glue (`browser`, and one driver per extension
//! context) is compiled only for `wasm32`.

pub mod environment;
pub mod errors;
pub mod explain;
pub mod messages;
pub mod preference;
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
mod content;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod popup;
#[cfg(target_arch = "wasm32")]
mod switch;
