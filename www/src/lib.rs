//! `www`: a local GitLab.com stand-in for the Canary Switch demo and end-to-end tests.
//!
//! It plays HAProxy (the stage decision: `gitlab_canary` cookie, forced paths, weight), the
//! main and canary stages (pods, performance bar, super sidebar, `/api/v4/user`), the session
//! store both stages share (with a switch that makes main unable to read canary's sessions),
//! and next.gitlab.com. See README.md.

pub mod assets;
pub mod cli;
pub mod cookies;
pub mod notes;
pub mod pages;
pub mod proxy;
pub mod rng;
pub mod routing;
pub mod server;
pub mod session;
pub mod timefmt;
pub mod tls;

pub use cli::{Command, Options};
pub use server::Server;
