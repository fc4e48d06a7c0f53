//! GitLab Canary Switch: the pure core of the extension.
//!
//! Every module takes plain data and returns plain data, and is tested natively. Nothing here
//! can reach the browser: this crate depends on serde alone. The wasm side lives in
//! `extension/crates/` (`canary-switch-browser`: the bindings and the switch;
//! `canary-switch-background` and `canary-switch-pages`: one module per context).

pub mod cli;
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
pub mod utc;
pub mod watch;
