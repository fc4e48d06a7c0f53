//! Command-line options, parsed by hand (no clap: compile time matters).

use std::net::IpAddr;
use std::path::PathBuf;

use crate::pages::Markup;
use crate::session::SessionMode;

pub const USAGE: &str = "\
usage: www [--port N] [--bind ADDR] [--seed S] [--canary-weight F] [--canary-disabled]
           [--http] [--session-format compatible|canary-new-format] [--log FILE]
           [--perf-delay-ms N] [--markup current|legacy] [--cert-out FILE] [--quiet]

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
                "--log" => o.log = Some(PathBuf::from(value("--log")?)),
                "--cert-out" => o.cert_out = Some(PathBuf::from(value("--cert-out")?)),
                "--canary-disabled" | "--http" | "--quiet" if inline.is_some() => {
                    return Err(format!("{flag} takes no value"));
                }
                "--canary-disabled" => o.canary_disabled = true,
                "--http" => o.http = true,
                "--quiet" => o.quiet = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
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
    fn errors() {
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--canary-weight", "1.5"],
            &["--session-format", "new"],
            &["--markup", "17"],
            &["--bogus"],
            &["--http=1"],
        ] {
            assert!(Options::parse(bad.iter().copied()).is_err(), "{bad:?}");
        }
        assert!(matches!(Options::parse(["--help"]), Ok(Command::Help)));
    }
}
