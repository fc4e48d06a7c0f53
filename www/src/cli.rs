//! Command-line options, parsed by hand (no clap: compile time matters).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::pages::Markup;
use crate::routing::Stage;
use crate::session::{CookieLifetime, SessionMode, Unreadable};

pub const USAGE: &str = "\
usage: www [--port N] [--bind ADDR] [--seed S] [--canary-weight F] [--canary-disabled]
           [--http] [--session-format compatible|canary-new-format] [--log FILE]
           [--perf-delay-ms N] [--markup current|legacy] [--cert-out FILE] [--quiet]
           [--unreadable sign-out|error-500] [--session-cookie week|per-store]
           [--upstream main=HOST:PORT --upstream canary=HOST:PORT] [--exit-with-parent]

A local GitLab.com stand-in: main and canary stages behind a router that honours the
gitlab_canary cookie. See www/README.md.

  --port N             listen port (default 8443; 0 picks a free port)
  --bind ADDR          listen address (default 127.0.0.1)
  --seed S             seed for routing and pod names (default 1)
  --canary-weight F    share of cookie-less traffic sent to canary, 0..=1 (default 0.05)
  --canary-disabled    serve everything from main
  --http               plain HTTP instead of HTTPS
  --session-format M   compatible (default) or canary-new-format
  --log FILE           also append the JSON lines to FILE
  --perf-delay-ms N    performance bar render delay (default 150)
  --markup G           page markup: current (GitLab 18, default) or legacy (GitLab <= 17)
  --cert-out FILE      write the self-signed certificate (PEM) to FILE
  --quiet              print only the listening line on stdout
  --unreadable U       an unreadable session: sign-out (default) or error-500
  --session-cookie L   _gitlab_session's lifetime: week (default) or per-store
  --upstream S=ADDR    proxy mode: forward the GitLab hosts' requests for stage S (main or
                       canary) to ADDR over plain HTTP/1.1 (give both stages)
  --exit-with-parent   exit when the process that started www goes away
";

#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    pub bind: IpAddr,
    pub seed: u64,
    pub canary_weight: f64,
    pub canary_disabled: bool,
    pub http: bool,
    pub session_mode: SessionMode,
    pub log: Option<PathBuf>,
    pub perf_delay_ms: u64,
    pub markup: Markup,
    pub cert_out: Option<PathBuf>,
    /// Request lines go to the in-memory log (and --log) but not to stdout.
    pub quiet: bool,
    /// What a stage does with a session it cannot read.
    pub unreadable: Unreadable,
    /// `_gitlab_session`'s lifetime.
    pub session_cookie: CookieLifetime,
    /// Proxy mode: each stage's upstream, indexed by [`Stage::index`] (both or neither).
    pub upstreams: Option<[SocketAddr; 2]>,
    /// Exit when the parent process goes away (a test runner killed outright).
    pub exit_with_parent: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 8443,
            bind: IpAddr::from([127, 0, 0, 1]),
            seed: 1,
            canary_weight: 0.05,
            canary_disabled: false,
            http: false,
            session_mode: SessionMode::Compatible,
            log: None,
            perf_delay_ms: 150,
            markup: Markup::Current,
            cert_out: None,
            quiet: false,
            unreadable: Unreadable::SignOut,
            session_cookie: CookieLifetime::Week,
            upstreams: None,
            exit_with_parent: false,
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Options),
    Help,
}

pub fn parse_weight(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|w| (0.0..=1.0).contains(w))
}

impl Options {
    /// Parses arguments (without the program name). `--flag=value` is accepted too.
    pub fn parse<I, S>(args: I) -> Result<Command, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut o = Options::default();
        let mut upstreams: [Option<SocketAddr>; 2] = [None, None];
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                match inline.clone().or_else(|| args.next()) {
                    Some(v) => Ok(v),
                    None => Err(format!("{name} needs a value")),
                }
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "--port" => {
                    let v = value("--port")?;
                    o.port = v.parse().map_err(|_| format!("bad --port {v:?}"))?;
                }
                "--bind" => {
                    let v = value("--bind")?;
                    o.bind = v
                        .parse()
                        .map_err(|_| format!("bad --bind {v:?} (an IP address)"))?;
                }
                "--seed" => {
                    let v = value("--seed")?;
                    o.seed = v.parse().map_err(|_| format!("bad --seed {v:?}"))?;
                }
                "--canary-weight" => {
                    let v = value("--canary-weight")?;
                    o.canary_weight = parse_weight(&v)
                        .ok_or_else(|| format!("bad --canary-weight {v:?} (0 to 1)"))?;
                }
                "--perf-delay-ms" => {
                    let v = value("--perf-delay-ms")?;
                    o.perf_delay_ms = v
                        .parse()
                        .map_err(|_| format!("bad --perf-delay-ms {v:?}"))?;
                }
                "--session-format" => {
                    let v = value("--session-format")?;
                    o.session_mode = SessionMode::parse(&v).ok_or_else(|| {
                        format!("bad --session-format {v:?} (compatible or canary-new-format)")
                    })?;
                }
                "--markup" => {
                    let v = value("--markup")?;
                    o.markup = Markup::parse(&v)
                        .ok_or_else(|| format!("bad --markup {v:?} (current or legacy)"))?;
                }
                "--unreadable" => {
                    let v = value("--unreadable")?;
                    o.unreadable = Unreadable::parse(&v)
                        .ok_or_else(|| format!("bad --unreadable {v:?} (sign-out or error-500)"))?;
                }
                "--session-cookie" => {
                    let v = value("--session-cookie")?;
                    o.session_cookie = CookieLifetime::parse(&v)
                        .ok_or_else(|| format!("bad --session-cookie {v:?} (week or per-store)"))?;
                }
                "--upstream" => {
                    let v = value("--upstream")?;
                    let (stage, addr) = v
                        .split_once('=')
                        .and_then(|(s, a)| Some((Stage::parse(s)?, a.parse::<SocketAddr>().ok()?)))
                        .ok_or_else(|| {
                            format!("bad --upstream {v:?} (main=HOST:PORT or canary=HOST:PORT)")
                        })?;
                    upstreams[stage.index()] = Some(addr);
                }
                "--log" => o.log = Some(PathBuf::from(value("--log")?)),
                "--cert-out" => o.cert_out = Some(PathBuf::from(value("--cert-out")?)),
                "--canary-disabled" | "--http" | "--quiet" | "--exit-with-parent"
                    if inline.is_some() =>
                {
                    return Err(format!("{flag} takes no value"));
                }
                "--canary-disabled" => o.canary_disabled = true,
                "--http" => o.http = true,
                "--quiet" => o.quiet = true,
                "--exit-with-parent" => o.exit_with_parent = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        o.upstreams = match upstreams {
            [Some(canary), Some(main)] => Some([canary, main]),
            [None, None] => None,
            _ => return Err("--upstream: give both main= and canary=".into()),
        };
        Ok(Command::Run(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match Options::parse(args.iter().copied()) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = run(&[]);
        assert_eq!((o.port, o.seed, o.perf_delay_ms), (8443, 1, 150));
        assert_eq!(o.canary_weight, 0.05);
        assert!(!o.http && !o.canary_disabled);
        assert_eq!(o.markup, Markup::Current);
        let o = run(&[
            "--port",
            "0",
            "--bind",
            "::1",
            "--seed=9",
            "--canary-weight",
            "0.5",
            "--canary-disabled",
            "--http",
            "--session-format",
            "canary-new-format",
            "--log",
            "/tmp/x.log",
            "--perf-delay-ms",
            "0",
            "--markup=legacy",
        ]);
        assert_eq!(o.markup, Markup::Legacy);
        assert_eq!((o.port, o.seed, o.perf_delay_ms), (0, 9, 0));
        assert_eq!(o.bind.to_string(), "::1");
        assert_eq!(o.canary_weight, 0.5);
        assert!(o.http && o.canary_disabled);
        assert_eq!(o.session_mode, SessionMode::CanaryNewFormat);
        assert!(o.log.is_some());
    }

    #[test]
    fn session_options_and_upstreams() {
        let o = run(&[]);
        assert_eq!(o.unreadable, Unreadable::SignOut);
        assert_eq!(o.session_cookie, CookieLifetime::Week);
        assert!(o.upstreams.is_none());
        let o = run(&[
            "--unreadable",
            "error-500",
            "--session-cookie=per-store",
            "--upstream",
            "main=127.0.0.1:3001",
            "--upstream=canary=127.0.0.1:3002",
            "--exit-with-parent",
        ]);
        assert!(o.exit_with_parent);
        assert_eq!(o.unreadable, Unreadable::Error500);
        assert_eq!(o.session_cookie, CookieLifetime::PerStore);
        let [canary, main] = o.upstreams.unwrap_or_else(|| panic!("upstreams"));
        assert_eq!((canary.port(), main.port()), (3002, 3001));
    }

    #[test]
    fn errors() {
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--canary-weight", "1.5"],
            &["--session-format", "new"],
            &["--markup", "17"],
            &["--bogus"],
            &["--http=1"],
            &["--unreadable", "500"],
            &["--session-cookie", "session"],
            &["--upstream", "main=127.0.0.1:1"],
            &[
                "--upstream",
                "both=127.0.0.1:1",
                "--upstream",
                "main=127.0.0.1:2",
            ],
            &[
                "--upstream",
                "main=localhost",
                "--upstream",
                "canary=127.0.0.1:2",
            ],
        ] {
            assert!(Options::parse(bad.iter().copied()).is_err(), "{bad:?}");
        }
        assert!(matches!(Options::parse(["--help"]), Ok(Command::Help)));
    }
}
