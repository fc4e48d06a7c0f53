//! The command's errors: each is one sentence that says what to do next, and an exit status.

use std::fmt;
use std::path::PathBuf;

use crate::net::NetError;

/// Exit statuses (sysexits for the last two).
pub const EXIT_PASS: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_INCONCLUSIVE: u8 = 2;
pub const EXIT_USAGE: u8 = 64;
pub const EXIT_UNREACHABLE: u8 = 69;

#[derive(Debug)]
pub enum CliError {
    /// A flag or argument the command cannot use.
    Usage(String),
    /// A file that could not be read or written.
    File { path: PathBuf, detail: String },
    /// GitLab did not answer.
    Net(NetError),
    /// No password: `GITLAB_PASSWORD` unset and no terminal to ask on.
    NoPassword,
    /// No token for posting.
    NoToken,
    /// No session prepared for the host (no jar file).
    NotPrepared { host: String, path: PathBuf },
    /// The jar file is not one this command wrote.
    BadJar { path: PathBuf, detail: String },
    /// The sign-in page has no form the command can fill in.
    NoSignInForm { host: String, status: u16 },
    /// GitLab refused the user name or password.
    BadCredentials { host: String },
    /// The account asks for a second factor.
    TwoFactor { host: String },
    /// The sign-in (or sign-out) answered something else than expected.
    SignInRefused { host: String, status: u16 },
    /// A session could not be prepared (the core's sentence).
    Prepare(String),
    /// The report could not be posted (the core's sentence).
    Post(String),
    /// The user said no to the post.
    Declined,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(s) => write!(f, "{s}"),
            CliError::File { path, detail } => write!(
                f,
                "{} could not be used ({detail}): check the path and its permissions, then run the command again.",
                path.display()
            ),
            CliError::Net(NetError::Tls { host, detail }) => write!(
                f,
                "The TLS connection to {host} failed ({detail}): if GitLab uses a private CA, pass it with --ca-cert FILE, then run the command again."
            ),
            CliError::Net(NetError::Unreachable { host, detail }) => write!(
                f,
                "{host} did not answer ({detail}): check the host name and the network (or --resolve / --connect-to), then run the command again."
            ),
            CliError::Net(NetError::TooManyRedirects { host }) => write!(
                f,
                "{host} redirected the request more than 10 times: open the page in a browser to see where it goes, then run the command again."
            ),
            CliError::NoPassword => write!(
                f,
                "No password: set GITLAB_PASSWORD in the environment (for example from a masked CI/CD variable), or run the command in a terminal to be asked for it."
            ),
            CliError::NoToken => write!(
                f,
                "No token: set GITLAB_TOKEN to a personal, project or group access token with the api scope, then post again."
            ),
            CliError::NotPrepared { host, path } => write!(
                f,
                "No session is prepared for {host} ({} does not exist): run `canary-switch prepare --env {host} --user NAME` before the change, then verify.",
                path.display()
            ),
            CliError::BadJar { path, detail } => write!(
                f,
                "{} is not a session prepared by this command ({detail}): prepare again before the change, then verify.",
                path.display()
            ),
            CliError::NoSignInForm { host, status } => write!(
                f,
                "{host}/users/sign_in answered HTTP {status} without GitLab's sign-in form: check that the host is a GitLab and that password sign-in is enabled there."
            ),
            CliError::BadCredentials { host } => write!(
                f,
                "{host} refused the user name or password: check --user and GITLAB_PASSWORD, then prepare again."
            ),
            CliError::TwoFactor { host } => write!(
                f,
                "{host} asks this account for a second factor, which the command does not support: use an account without two-factor authentication for the check (or the extension, in a browser)."
            ),
            CliError::SignInRefused { host, status } => write!(
                f,
                "{host} answered the sign-in with HTTP {status} and no signed-in session: try again in a moment, or sign in in a browser to see why."
            ),
            CliError::Prepare(s) | CliError::Post(s) => write!(f, "{s}"),
            CliError::Declined => write!(f, "Nothing was posted."),
        }
    }
}

impl CliError {
    /// The exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::NoPassword
            | CliError::NoToken
            | CliError::NotPrepared { .. }
            | CliError::BadJar { .. }
            | CliError::File { .. } => EXIT_USAGE,
            CliError::Net(_) => EXIT_UNREACHABLE,
            CliError::Prepare(_) => EXIT_INCONCLUSIVE,
            CliError::NoSignInForm { .. }
            | CliError::BadCredentials { .. }
            | CliError::TwoFactor { .. }
            | CliError::SignInRefused { .. }
            | CliError::Post(_)
            | CliError::Declined => EXIT_FAIL,
        }
    }
}

impl From<NetError> for CliError {
    fn from(e: NetError) -> Self {
        CliError::Net(e)
    }
}
