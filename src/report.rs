//! Markdown for the change issue: a session check or a watch timeline. Pure.

use crate::messages::Identity;
use crate::session::{Check, StepKind, StepResult, Verdict};
use crate::stage::Stage;
use crate::utc::{utc, utc_time};
use crate::watch::{Sample, Watch};

/// Text safe inside a Markdown table cell: no pipes, no line breaks, no HTML, no code spans
/// breaking out, no @-mentions pinging someone by accident.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            '\\' => out.push_str("\\\\"),
            '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace(['\n', '\r', '|'], " "))
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
        Verdict::Inconclusive => "⚠️ INCONCLUSIVE",
    }
}

fn identity_text(i: &Identity) -> String {
    match i {
        Identity::SignedIn { id, username } => format!("{} (id {id})", code(username)),
        Identity::SignedOut => "signed out".into(),
        Identity::Status { status } => format!("no answer (HTTP {status})"),
        Identity::Failing { .. } if i.session_broken().is_some() => {
            "unknown: the session breaks every request".into()
        }
        Identity::Failing { .. } => "no answer, with or without the session".into(),
        Identity::Unreachable { .. } => "no answer".into(),
    }
}

/// The HTTP status `/api/v4/user` answered, with the control request's when one was made.
fn http_text(i: &Identity) -> String {
    match i {
        Identity::SignedIn { .. } => "200".into(),
        Identity::SignedOut => "401".into(),
        Identity::Status { status } => status.to_string(),
        Identity::Failing {
            status,
            without: Some(w),
        } => format!("{status} ({w} without the session)"),
        Identity::Failing {
            status,
            without: None,
        } => format!("{status} (no answer without the session)"),
        Identity::Unreachable { .. } => "—".into(),
    }
}

fn step_title(s: &StepResult) -> String {
    match (s.kind, s.target_stage) {
        (StepKind::OtherStage | StepKind::Back, Some(t)) => {
            format!("{} ({})", s.kind.title(), t.as_str())
        }
        _ => s.kind.title().to_string(),
    }
}

fn session_text(s: &StepResult) -> String {
    let Some(o) = &s.observation else {
        return "—".into();
    };
    if !o.session.present {
        return "absent".into();
    }
    let fp = o
        .session
        .fingerprint
        .as_deref()
        .map(code)
        .unwrap_or_default();
    let remember = if o.session.remember {
        ", remember-me set"
    } else {
        ""
    };
    match s.session_changed {
        Some(true) => format!("changed {fp}{remember}"),
        Some(false) => format!("same {fp}{remember}"),
        None => format!("present {fp}{remember}"),
    }
}

/// Why the check ended as it did, in one sentence: where a failure happened, what made it
/// inconclusive, or what a pass proved.
pub fn reason(c: &Check) -> String {
    let v = c.verdict.unwrap_or(Verdict::Inconclusive);
    match (v, c.first_failure()) {
        (Verdict::Fail, Some(f)) => {
            let o = f.observation.as_ref();
            let stage = match (o.map(|o| o.stage()), f.target_stage) {
                (Some(s), _) if s != Stage::Unknown => s.as_str(),
                (_, Some(t)) => t.as_str(),
                _ => "an unknown stage",
            };
            format!(
                "at step “{}”, served by {}{}: {}.",
                step_title(f),
                stage,
                o.and_then(|o| o.pod())
                    .map(|p| format!(" (pod {})", code(p)))
                    .unwrap_or_default(),
                cell(f.note.as_deref().unwrap_or("failed"))
            )
        }
        (Verdict::Inconclusive, _) => c
            .steps
            .iter()
            .find(|s| s.verdict == Verdict::Inconclusive)
            .and_then(|s| {
                s.note
                    .as_deref()
                    .map(|n| format!("step “{}”: {}.", step_title(s), cell(n)))
            })
            .unwrap_or_else(|| "the check did not run to the end.".into()),
        _ => match (&c.prepared, c.after_rollback) {
            (Some(p), _) => format!(
                "the session prepared at {} survived {}: after {}, the same user stayed signed in across refresh, both stages and back.",
                p.when(),
                c.event(),
                c.event()
            ),
            (None, true) => "after the rollback, the same user stayed signed in across refresh, both stages and back.".into(),
            (None, false) => {
                "the same user stayed signed in across refresh, both stages and back.".into()
            }
        },
    }
}

/// The one-line summary for the report: the verdict in bold, then [`reason`].
pub fn summary(c: &Check) -> String {
    let v = c.verdict.unwrap_or(Verdict::Inconclusive);
    format!("**{}** {}", v.as_str(), reason(c))
}

/// The Markdown comment for a session check.
pub fn check_markdown(c: &Check) -> String {
    let mut md = String::new();
    let v = c.verdict.unwrap_or(Verdict::Inconclusive);
    let label = if c.after_rollback {
        " (after the rollback)"
    } else if c.prepared.is_some() {
        " (after the change)"
    } else {
        ""
    };
    md.push_str(&format!(
        "### Session continuity check{label}: {}\n\n",
        verdict_mark(v)
    ));
    md.push_str(&summary(c));
    md.push_str("\n\n| | |\n|---|---|\n");
    md.push_str(&format!("| Environment | {} |\n", cell(&c.env_label)));
    if let Some((id, user)) = c.user() {
        md.push_str(&format!("| User | {} (id {id}) |\n", code(user)));
    }
    md.push_str(&format!("| Started | {} |\n", utc(c.started_ms)));
    if let Some(f) = c.finished_ms {
        md.push_str(&format!("| Finished | {} |\n", utc(f)));
    }
    if let Some(p) = &c.prepared {
        md.push_str(&format!(
            "| Prepared before {} | {} (id {}) at {}, on {}{}; `_gitlab_session` {}{}{} |\n",
            c.event(),
            code(&p.username),
            p.user_id,
            utc(p.at_ms),
            p.stage.as_str(),
            p.pod
                .as_deref()
                .map(|x| format!(" (pod {})", code(x)))
                .unwrap_or_default(),
            p.session
                .fingerprint
                .as_deref()
                .map(code)
                .unwrap_or_default(),
            if p.session.remember {
                ", remember-me set"
            } else {
                ""
            },
            match p.session.ends_with_browser {
                Some(true) => ", ends with the browser",
                Some(false) => ", has an expiry",
                None => "",
            },
        ));
    }
    if c.after_rollback {
        md.push_str("| Run | after a rollback: sessions written after the change must still be readable |\n");
    }
    md.push_str(&format!(
        "| Tool | GitLab Canary Switch {} |\n\n",
        cell(&c.extension_version)
    ));
    md.push_str("| # | Step | Time (UTC) | Stage | Pod | HTTP | Signed in as | `_gitlab_session` | Result |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (i, s) in c.steps.iter().enumerate() {
        let o = s.observation.as_ref();
        let mut result = verdict_mark(s.verdict).to_string();
        if let Some(n) = &s.note {
            result.push_str(": ");
            result.push_str(&cell(n));
        }
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            step_title(s),
            o.map_or("—".into(), |o| utc_time(o.at_ms)),
            o.map_or("—", |o| o.stage().as_str()),
            o.and_then(|o| o.pod()).map_or("—".into(), code),
            o.map_or("—".into(), |o| http_text(&o.identity)),
            o.map_or("—".into(), |o| identity_text(&o.identity)),
            session_text(s),
            result
        ));
    }
    md.push_str("\nNotes:\n");
    md.push_str("- Identity from `GET /api/v4/user` made from the page's origin, checked against the page's `data-sidebar` `is_logged_in`; stage and pod from the performance bar (or the weaker signals named in the extension).\n");
    md.push_str("- `_gitlab_session` is shown as presence and the first 8 hex digits of its SHA-256; its value is never read into the report. A step signed in with another session than the step before is a FAIL: the server dropped the session, and remember-me (`remember_user_token`, presence shown) or a sign-in made a new one, which users without remember-me experience as a sign-out.\n");
    let restored = c
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Restore)
        .map(|s| s.verdict);
    md.push_str(match restored {
        Some(Verdict::Pass) => {
            "- The `gitlab_canary` cookies were restored exactly as found at the start.\n"
        }
        Some(_) => "- The `gitlab_canary` cookies could not be restored exactly as found: check them in the browser's site data.\n",
        None => "- The check ended before restoring the `gitlab_canary` cookies: check them in the browser's site data.\n",
    });
    md
}

fn sample_text(s: &Sample) -> String {
    identity_text(&s.identity)
}

/// The Markdown timeline of a watch.
pub fn watch_markdown(w: &Watch) -> String {
    let mut md = String::new();
    let lost = w.first_loss();
    md.push_str(&format!(
        "### Session watch: {}\n\n",
        match lost {
            Some(_) => "❌ session lost",
            None if w.samples.is_empty() => "⚠️ no samples",
            None => "✅ signed in throughout",
        }
    ));
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!(
        "| Environments | {} |\n",
        cell(&w.hosts.join(", "))
    ));
    md.push_str(&format!("| Started | {} |\n", utc(w.started_ms)));
    if let Some(end) = w.stopped_ms {
        md.push_str(&format!("| Stopped | {} |\n", utc(end)));
    }
    md.push_str(&format!(
        "| Interval | {} s |\n| Tool | GitLab Canary Switch {} |\n\n",
        w.interval_secs,
        cell(&w.extension_version)
    ));
    if let Some(s) = lost {
        md.push_str(&format!(
            "First loss: {} at {} ({}).\n\n",
            cell(&s.host),
            utc(s.at_ms),
            sample_text(s)
        ));
    }
    md.push_str("| Time (UTC) | Environment | HTTP | Signed in as |\n|---|---|---|---|\n");
    for s in &w.samples {
        let http = http_text(&s.identity);
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            utc_time(s.at_ms),
            cell(&s.host),
            http,
            sample_text(s)
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Event, Observation, SessionCookie};
    use crate::stage::{Detection, PerfBar, Signal, Stage};

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a|b\nc<script>`x`"), "a\\|b c&lt;script&gt;'x'");
        assert_eq!(cell("*bold* _i_ [l]"), "\\*bold\\* \\_i\\_ \\[l\\]");
        assert_eq!(code("a`b|c"), "`a'b c`");
    }

    fn finished_check(back_signed_out: bool) -> Check {
        let mut c = Check::new(
            "id".into(),
            1,
            "staging.gitlab.com".into(),
            "staging.gitlab.com (staging)".into(),
            "0.1.0".into(),
            1_795_230_245_000.0,
            vec![],
            false,
            0.0,
        );
        let me = Identity::SignedIn {
            id: 101,
            username: "qa-user".into(),
        };
        let o = |stage: Stage, identity: Identity, fp: &str| Observation {
            at_ms: 1_795_230_246_000.0,
            identity,
            detection: Some(Detection {
                stage,
                signal: Some(Signal::PerfBar),
                pod: Some(if stage == Stage::Canary {
                    "gitlab-cny-webservice-web-1-a".into()
                } else {
                    "gitlab-webservice-web-1-a".into()
                }),
                service: None,
                request_id: None,
                pod_signal: None,
                signals: vec![],
                perf_bar: PerfBar::Rendered,
                disagreements: vec![],
                signed_in: None,
                at_ms: 0.0,
            }),
            session: SessionCookie {
                present: true,
                fingerprint: Some(fp.into()),
                remember: false,
                ends_with_browser: None,
            },
        };
        c.record(Event::Probed(o(Stage::Main, me.clone(), "a1b2c3d4")), 1.0);
        c.record(Event::Reloaded { finished: true }, 1.0);
        c.record(Event::Probed(o(Stage::Main, me.clone(), "a1b2c3d4")), 1.0);
        c.record(Event::StageSet, 1.0);
        c.record(Event::Reloaded { finished: true }, 1.0);
        c.record(Event::Probed(o(Stage::Canary, me.clone(), "a1b2c3d4")), 1.0);
        c.record(Event::StageSet, 1.0);
        c.record(Event::Reloaded { finished: true }, 1.0);
        // Signed out at Back: a new, anonymous session; signed in: the same one throughout.
        let (back, fp) = if back_signed_out {
            (Identity::SignedOut, "ffff0000")
        } else {
            (me, "a1b2c3d4")
        };
        c.record(Event::Probed(o(Stage::Main, back, fp)), 1.0);
        c.record(Event::Restored { exact: true }, 1_795_230_250_000.0);
        c
    }

    #[test]
    fn pass_report() {
        let md = check_markdown(&finished_check(false));
        assert!(
            md.starts_with("### Session continuity check: ✅ PASS\n"),
            "{md}"
        );
        assert!(md.contains("| Environment | staging.gitlab.com (staging) |"));
        assert!(md.contains("| User | `qa-user` (id 101) |"));
        assert!(md.contains("| Started | 2026-11-21 03:04:05 UTC |"));
        assert!(md.contains("| 3 | Other stage (canary) | 03:04:06 | canary | `gitlab-cny-webservice-web-1-a` | 200 | `qa-user` (id 101) | same `a1b2c3d4` | ✅ PASS |"), "{md}");
        assert!(md.contains("| 5 | Restore cookies |"));
        assert_eq!(md.matches("\n| ").count(), 5 + 5 + 2);
        assert!(md.contains("were restored exactly as found"));
    }

    #[test]
    fn a_restore_that_was_not_exact_is_said_so() {
        let mut c = finished_check(false);
        if let Some(s) = c.steps.iter_mut().find(|s| s.kind == StepKind::Restore) {
            s.verdict = Verdict::Inconclusive;
        }
        let md = check_markdown(&c);
        assert!(
            md.contains("could not be restored exactly as found"),
            "{md}"
        );
        assert!(!md.contains("were restored exactly"));
    }

    #[test]
    fn fail_report_names_step_stage_and_pod() {
        let md = check_markdown(&finished_check(true));
        assert!(md.starts_with("### Session continuity check: ❌ FAIL\n"));
        assert!(md.contains("**FAIL** at step “Back (main)”, served by main (pod `gitlab-webservice-web-1-a`): signed out on main (pod gitlab-webservice-web-1-a)."), "{md}");
        assert!(md.contains("\n**FAIL** at step"));
        assert!(
            md.contains("| 401 | signed out | changed `ffff0000` | ❌ FAIL"),
            "{md}"
        );
    }
}
