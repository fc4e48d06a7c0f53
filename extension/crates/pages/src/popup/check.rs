//! The session check and the prepared session: prepare and forget, start and cancel, the
//! status and prompt, the Markdown report, its copy and the export of the last checks.
//!
//! Elements: `session-prepare`, `session-prepared-clear`, `session-prepared`,
//! `session-check-guided`, `session-check-after-rollback`, `session-check-start`,
//! `session-check-cancel`, `session-check-status`, `session-check-prompt`,
//! `session-check-report`, `session-check-copy`, `session-check-export`.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlButtonElement;

use super::shared::{on_command, on_copy, Popup};
use crate::browser::msg;
use crate::messages::Command;
use crate::report;
use crate::session::{Check, Prepared, StepKind, Verdict};
use crate::utc::utc;

/// Wires the check's and the preparation's buttons, and the report's copy.
pub(super) fn wire(p: &Rc<Popup>) {
    on_command(p, "session-check-start", |p| Command::StartCheck {
        tab_id: p.target.as_ref().map_or(-1, |t| t.tab.id),
        guided: p.checked("session-check-guided"),
        after_rollback: p.checked("session-check-after-rollback"),
    });
    on_command(p, "session-check-cancel", |_| Command::CancelCheck);
    on_command(p, "session-prepare", |p| Command::PrepareSession {
        tab_id: p.target.as_ref().map_or(-1, |t| t.tab.id),
        issue_url: Some(p.issue_url()).filter(|u| !u.is_empty()),
    });
    on_command(p, "session-prepared-clear", |p| Command::ClearPrepared {
        host: p
            .target
            .as_ref()
            .map(|t| t.env.host.clone())
            .unwrap_or_default(),
    });
    on_copy(p, "session-check-copy", "session-check-report");
}

/// The session check in progress or last finished: status, prompt, report, and the history
/// (`checks` as stored) for the export link.
pub(super) fn render(p: &Popup, check: Option<&Check>, history: Option<JsValue>) {
    let running = check.is_some_and(Check::running);
    if let Some(b) = p
        .el("session-check-start")
        .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
    {
        b.set_disabled(running || p.target.is_none());
    }
    p.show("session-check-cancel", running);
    let Some(check) = check else { return };
    p.set_text("session-check-status", &status_line(check));
    let prompt = match check.current_step() {
        Some(StepKind::SignOut) => Some(msg("checkPromptSignOut", &[])),
        Some(StepKind::SignIn) => {
            let user = check
                .user()
                .map(|(_, u)| format!("@{u}"))
                .unwrap_or_default();
            Some(msg("checkPromptSignIn", &[&user]))
        }
        _ => None,
    };
    p.set_text(
        "session-check-prompt",
        prompt.as_deref().unwrap_or_default(),
    );
    p.show("session-check-prompt", prompt.is_some());
    let finished = !running;
    if finished {
        p.set_text("session-check-report", &report::check_markdown(check));
    }
    p.show("session-check-report", finished);
    p.show("session-check-copy", finished);
    // The history goes to the export link as stored: no round trip through Rust types.
    let href = history
        .filter(|h| js_sys::Array::is_array(h) && js_sys::Array::from(h).length() > 0)
        .and_then(|h| {
            js_sys::JSON::stringify_with_replacer_and_space(&h, &JsValue::NULL, &JsValue::from(2))
                .ok()
        })
        .map(|json| {
            format!(
                "data:application/json;charset=utf-8,{}",
                String::from(js_sys::encode_uri_component(&String::from(json)))
            )
        });
    p.link("session-check-export", href);
}

/// One line of status for the popup: progress, or the verdict and its summary.
fn status_line(check: &Check) -> String {
    match (check.verdict, check.current_step()) {
        (Some(v), _) => format!("{} — {}", v.as_str(), report::reason(check)),
        (None, Some(step)) => msg(
            "checkRunning",
            &[&(check.steps.len() + 1).min(7).to_string(), step.title()],
        ),
        (None, None) => Verdict::Inconclusive.as_str().into(),
    }
}

/// The session prepared for the target's environment, if one is kept; its change issue is
/// offered for posting.
pub(super) fn render_prepared(p: &Popup, list: Vec<Prepared>) {
    let host = p.target.as_ref().map(|t| t.env.host.as_str());
    let prepared = list.into_iter().find(|x| Some(x.host.as_str()) == host);
    let line = prepared.as_ref().map(|x| {
        msg(
            "preparedLine",
            &[
                &x.username,
                &utc(x.at_ms),
                x.session.fingerprint.as_deref().unwrap_or("?"),
                x.stage.as_str(),
            ],
        )
    });
    p.set_text("session-prepared", line.as_deref().unwrap_or_default());
    p.show("session-prepared", line.is_some());
    p.show("session-prepared-clear", line.is_some());
    // The change issue given when preparing, unless the user typed another since.
    if let Some(url) = prepared.and_then(|x| x.issue_url) {
        p.offer_issue_url(&url);
    }
    if let Some(b) = p
        .el("session-prepare")
        .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
    {
        b.set_disabled(p.target.is_none());
    }
}
