//! What the command shows and writes: the extension's own sentences (its `messages.json`), one
//! progress line per step (an indicatif spinner on a terminal, plain lines otherwise), and the
//! JUnit XML that GitLab CI reads.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use quick_xml::escape::escape;

use crate::error::CliError;

/// The extension's strings: the same sentences in the popup and here.
const MESSAGES: &str = include_str!("../../extension/_locales/en/messages.json");

/// The extension's `i18n.getMessage(key, subs)`: `$1`…`$9` replaced, `$$` a dollar sign.
pub fn msg(key: &str, subs: &[&str]) -> String {
    static PARSED: OnceLock<serde_json::Value> = OnceLock::new();
    let all = PARSED.get_or_init(|| serde_json::from_str(MESSAGES).unwrap_or_default());
    let Some(text) = all
        .get(key)
        .and_then(|m| m.get("message"))
        .and_then(|m| m.as_str())
    else {
        return key.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(d @ '1'..='9') => {
                chars.next();
                let i = d as usize - '1' as usize;
                out.push_str(subs.get(i).copied().unwrap_or_default());
            }
            _ => out.push('$'),
        }
    }
    out
}

/// One line per step on stderr; on a terminal, a spinner shows the step in progress.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    /// What is under way now (the spinner's text; nothing without a terminal).
    pub fn working(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    /// A finished step.
    pub fn line(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A JUnit test case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseResult {
    Pass,
    /// `<failure>`: the check failed here.
    Fail(String),
    /// `<error>`: the step could not say (INCONCLUSIVE).
    Error(String),
}

/// One JUnit test case: one step of a check (or a command's one step).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub seconds: f64,
    pub result: CaseResult,
    /// Shown by GitLab as the case's output: what the step saw.
    pub output: String,
}

/// A JUnit XML report as GitLab CI reads it (`artifacts:reports:junit`):
/// `testsuites` > `testsuite` > `testcase` with `failure` / `error` and `system-out`.
pub fn junit(suite: &str, classname: &str, timestamp: &str, cases: &[Case]) -> String {
    let count = |f: fn(&CaseResult) -> bool| cases.iter().filter(|c| f(&c.result)).count();
    let failures = count(|r| matches!(r, CaseResult::Fail(_)));
    let errors = count(|r| matches!(r, CaseResult::Error(_)));
    let time: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"canary-switch\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n",
        cases.len()
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\">\n",
        escape(suite),
        cases.len(),
        escape(timestamp)
    ));
    for c in cases {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">\n",
            escape(c.name.as_str()),
            escape(classname),
            c.seconds
        ));
        match &c.result {
            CaseResult::Pass => {}
            CaseResult::Fail(m) => x.push_str(&format!(
                "      <failure type=\"FAIL\" message=\"{}\">{}</failure>\n",
                escape(m.as_str()),
                escape(m.as_str())
            )),
            CaseResult::Error(m) => x.push_str(&format!(
                "      <error type=\"INCONCLUSIVE\" message=\"{}\">{}</error>\n",
                escape(m.as_str()),
                escape(m.as_str())
            )),
        }
        if !c.output.is_empty() {
            x.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                escape(c.output.as_str())
            ));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Writes a file the command was asked for (`--report`, `--junit`).
pub fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for JUnit's `timestamp`.
pub fn iso(ms: f64) -> String {
    canary_switch::utc::utc(ms)
        .trim_end_matches(" UTC")
        .replacen(' ', "T", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_s_sentences_with_their_substitutions() {
        assert_eq!(
            msg("envStaging", &["staging.gitlab.com"]),
            "staging.gitlab.com (staging)"
        );
        assert_eq!(
            msg(
                "watchLost",
                &["gitlab.com", "2026-01-01 00:00:00 UTC", "signed out"]
            ),
            "Session lost on gitlab.com at 2026-01-01 00:00:00 UTC: signed out."
        );
        assert_eq!(msg("noSuchKey", &[]), "noSuchKey");
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = junit(
            "session check <x>",
            "canary-switch.verify",
            "2026-01-01T00:00:00",
            &[
                Case {
                    name: "1 Baseline".into(),
                    seconds: 0.5,
                    result: CaseResult::Pass,
                    output: String::new(),
                },
                Case {
                    name: "2 Refresh".into(),
                    seconds: 0.25,
                    result: CaseResult::Fail("signed out on \"main\" & <gone>".into()),
                    output: "a".into(),
                },
            ],
        );
        assert!(
            x.contains(r#"tests="2" failures="1" errors="0" time="0.750""#),
            "{x}"
        );
        assert!(x.contains("session check &lt;x&gt;"));
        assert!(x.contains("signed out on &quot;main&quot; &amp; &lt;gone&gt;"));
        assert_eq!(iso(1_795_230_245_000.0), "2026-11-21T03:04:05");
    }
}
