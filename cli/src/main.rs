//! `canary-switch`: GitLab Canary Switch's session proof, headless — the same core as the
//! extension (`session::Check`, `watch::Watch`, the report, posting) driven natively, with an
//! HTTP client and a cookie jar in place of the browser. See README.md, "The headless command".

mod error;
mod gitlab;
mod jar;
mod net;
mod output;
mod reader;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{CliError, EXIT_USAGE};
use crate::net::{NetOptions, Override};

/// GitLab Canary Switch, headless: which stage served a page, and whether a signed-in session
/// survives a change.
#[derive(Debug, Parser)]
#[command(name = "canary-switch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Write a JUnit XML test report (one test case per step) for GitLab CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the result as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Use ADDR for HOST:PORT, as curl's --resolve (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Connect to ADDR:PORT2 for requests to HOST:PORT, as curl's --connect-to (repeatable).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT2")]
    pub connect_to: Vec<String>,
    /// Trust the CA (or self-signed) certificate(s) in this PEM file instead of the public roots.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl Common {
    pub fn net(&self) -> Result<NetOptions, CliError> {
        let mut overrides = Vec::new();
        for s in &self.connect_to {
            overrides.push(Override::parse_connect_to(s)?);
        }
        for s in &self.resolve {
            overrides.push(Override::parse_resolve(s)?);
        }
        Ok(NetOptions {
            overrides,
            ca_cert: self.ca_cert.clone(),
        })
    }
}

/// Where the check happens.
#[derive(Debug, Clone, Args)]
pub struct Session {
    /// The environment: a host (staging.gitlab.com), or https://host:port.
    #[arg(long, value_name = "HOST")]
    pub env: String,
    /// The page the check loads, as the extension's tab shows one.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub page: String,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Which stage served URL, and why: the extension's page reading and detection.
    Stage {
        url: String,
        /// Ask for a stage first, as the extension's switch does for this environment only.
        #[arg(long, value_name = "current|next|auto")]
        prefer: Option<String>,
        /// Send perf_bar_enabled=true, so that GitLab renders its performance bar for users
        /// allowed to see it (its peek results name the pod).
        #[arg(long)]
        perf_bar: bool,
        /// Write the answer as Markdown.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Before a change: sign in and record the session to prove (the jar is kept 0600).
    Prepare {
        #[command(flatten)]
        session: Session,
        /// The user to sign in as (the password comes from GITLAB_PASSWORD or a prompt).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Tick GitLab's "Remember me".
        #[arg(long)]
        remember_me: bool,
        /// The change issue the result belongs to.
        #[arg(long, value_name = "URL")]
        issue: Option<String>,
        /// Where to keep the session (default: $XDG_STATE_HOME/canary-switch/HOST.session.json).
        #[arg(long, value_name = "FILE")]
        jar: Option<PathBuf>,
        /// Write the prepared baseline as Markdown.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// After a change: the extension's session check with the prepared session.
    Verify {
        #[command(flatten)]
        session: Session,
        /// Label the check "after the rollback".
        #[arg(long)]
        after_rollback: bool,
        /// Then sign out and in again (the password from GITLAB_PASSWORD or a prompt).
        #[arg(long)]
        sign_out_in: bool,
        /// The prepared session (default: prepare's).
        #[arg(long, value_name = "FILE")]
        jar: Option<PathBuf>,
        /// Write the report (the extension's Markdown).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Through a change window: prepare in memory, sample, then verify.
    Watch {
        #[command(flatten)]
        session: Session,
        #[arg(long, value_name = "NAME")]
        user: String,
        #[arg(long)]
        remember_me: bool,
        /// Time between samples (10s, 1m…).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = run::duration)]
        every: std::time::Duration,
        /// Length of the window (30m, 2h…).
        #[arg(long = "for", value_name = "DURATION", value_parser = run::duration)]
        window: std::time::Duration,
        /// Write the watch timeline and the check (the extension's Markdown).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Post a report to a GitLab issue as a comment (token from GITLAB_TOKEN).
    Post {
        /// The issue: https://gitlab.com/group/project/-/issues/123.
        #[arg(long, value_name = "URL")]
        issue: String,
        /// The Markdown to post (a report written by verify or watch).
        #[arg(long, value_name = "FILE")]
        report: PathBuf,
        /// Post without asking.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The page reader's result for URL, as `extension/reader.js` returns it (for tests).
    #[command(hide = true)]
    ReadPage {
        url: String,
        /// Read this HTML (as served from URL) instead of fetching URL.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// A cookie to send (NAME=VALUE, repeatable; for test pages only).
        #[arg(long, value_name = "NAME=VALUE")]
        cookie: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Cmd::Stage {
            url,
            prefer,
            perf_bar,
            report,
            common,
        } => run::stage(
            &url,
            prefer.as_deref(),
            perf_bar,
            report.as_deref(),
            &common,
        ),
        Cmd::Prepare {
            session,
            user,
            remember_me,
            issue,
            jar,
            report,
            common,
        } => run::prepare(
            &session,
            &user,
            remember_me,
            issue,
            jar,
            report.as_deref(),
            &common,
        ),
        Cmd::Verify {
            session,
            after_rollback,
            sign_out_in,
            jar,
            report,
            common,
        } => run::verify(
            &session,
            after_rollback,
            sign_out_in,
            jar,
            report.as_deref(),
            &common,
        ),
        Cmd::Watch {
            session,
            user,
            remember_me,
            every,
            window,
            report,
            common,
        } => run::watch(
            &session,
            &user,
            remember_me,
            every,
            window,
            report.as_deref(),
            &common,
        ),
        Cmd::Post {
            issue,
            report,
            yes,
            common,
        } => run::post(&issue, &report, yes, &common),
        Cmd::ReadPage {
            url,
            html,
            cookie,
            common,
        } => run::read_page(&url, html.as_deref(), &cookie, &common),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("canary-switch: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
