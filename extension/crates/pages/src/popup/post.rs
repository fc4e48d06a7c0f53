//! Posting the finished check's report to the change issue: the button that previews it, the
//! preview (where, and exactly what), the confirmation that posts once, and the status.
//!
//! Elements: `report-post`, `report-post-preview`, `report-post-target`, `report-post-body`,
//! `report-post-confirm`, `report-post-status`; reads `report-post-url` (shared).

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlButtonElement;

use super::shared::{command_result, Popup};
use crate::browser::{msg, Area};
use crate::dom;
use crate::messages::{Command, CHECK_KEY};
use crate::report;
use crate::session::Check;

/// Wires the preview and the confirmation.
pub(super) fn wire(p: &Rc<Popup>) {
    if let Some(el) = p.el("report-post") {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move { preview(&p).await });
        });
    }
    if let Some(el) = p.el("report-post-confirm") {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move { confirm(&p).await });
        });
    }
}

/// The post button shows once the check (if any) is finished.
pub(super) fn render(p: &Popup, check: Option<&Check>) {
    if let Some(c) = check {
        p.show("report-post", !c.running());
    }
}

/// `report-post`: shows exactly what would be posted, and where; posts nothing.
async fn preview(p: &Popup) {
    p.set_text("report-post-status", "");
    let url = p.issue_url();
    let check = Area::Local
        .read::<Check>(CHECK_KEY)
        .await
        .ok()
        .flatten()
        .map(Check::migrated)
        .filter(|c| !c.running());
    let issue = crate::post::parse_issue_url(&url, &p.settings.custom);
    match (check, issue) {
        (Some(c), Ok(issue)) => {
            p.set_text("report-post-target", &msg("postTarget", &[&issue.url()]));
            p.set_text("report-post-body", &report::check_markdown(&c));
            p.show("report-post-preview", true);
        }
        (None, _) => {
            p.show("report-post-preview", false);
            p.set_text("report-post-status", &msg("errPostNoCheck", &[]));
        }
        (_, Err(e)) => {
            p.show("report-post-preview", false);
            p.set_text("report-post-status", &e.sentence());
        }
    }
}

/// `report-post-confirm`: posts the previewed report once.
async fn confirm(p: &Popup) {
    let Some(check) = Area::Local
        .read::<Check>(CHECK_KEY)
        .await
        .ok()
        .flatten()
        .filter(|c| !c.running())
    else {
        p.set_text("report-post-status", &msg("errPostNoCheck", &[]));
        return;
    };
    let button = p
        .el("report-post-confirm")
        .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok());
    if let Some(b) = &button {
        b.set_disabled(true);
    }
    p.set_text("report-post-status", &msg("postPosting", &[]));
    let cmd = Command::PostReport {
        check_id: check.id,
        issue_url: p.issue_url(),
    };
    let text = match command_result(&cmd).await {
        Ok(Some(url)) => {
            p.show("report-post-preview", false);
            msg("postDone", &[&url])
        }
        Ok(None) => msg("errPostNoCheck", &[]),
        Err(e) => e,
    };
    p.set_text("report-post-status", &text);
    if let Some(b) = &button {
        b.set_disabled(false);
    }
}
