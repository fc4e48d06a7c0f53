//! What served the tab's page: the stage and pod, the deciding signal and every signal seen,
//! why the stage differs from the choice, the canary share on Auto, and links for the request.
//!
//! Elements: `served-stage`, `served-host`, `served-signal`, `served-signals`, `explanations`,
//! `share`, `share-reset`, `logs-link`, `dashboard-link`.

use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;

use super::shared::Popup;
use crate::browser::{msg, Area};
use crate::dom;
use crate::environment::path_of;
use crate::explain::{explain, fill, Share};
use crate::messages::{share_key, TabState};
use crate::preference::InForce;
use crate::stage::Stage;
use crate::switch::Target;

/// Wires the share's reset.
pub(super) fn wire(p: &Rc<Popup>) {
    if let Some(el) = p.el("share-reset") {
        let p = p.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                let _ = Area::Local.delete(&share_key(&t.env.host)).await;
                show_share(&p, &InForce::Auto, &Share::default());
            });
        });
    }
}

/// Shows which stage served the tab's page (`state`, when it is about the page at `url`),
/// why it differs from the choice, the share observed on Auto, and links for the request.
pub(super) fn render(
    p: &Popup,
    target: &Target,
    url: Option<String>,
    state: Option<TabState>,
    in_force: &InForce,
    share: &Share,
) {
    let state = state.filter(|s| url.as_deref() == Some(s.url.as_str()));
    let Some(state) = state else {
        p.set_text("served-stage", Stage::Unknown.as_str());
        p.set_text("served-host", "");
        p.set_text("served-signal", &msg("popupNoSignal", &[]));
        p.set_text("served-signals", "");
        // Nothing about an earlier page may stay on screen.
        if let Some(list) = p.el("explanations") {
            list.set_text_content(None);
        }
        p.link("logs-link", None);
        p.link("dashboard-link", None);
        show_share(p, in_force, share);
        return;
    };
    let d = &state.detection;
    p.set_text("served-stage", d.stage.as_str());
    p.set_text("served-host", d.pod.as_deref().unwrap_or_default());
    let mut meta = match d.signal {
        Some(s) => msg("popupSignal", &[&msg(s.message_key(), &[]), &age(d.at_ms)]),
        None => msg("popupNoSignal", &[]),
    };
    if let Some(s) = d.pod_signal.filter(|s| Some(*s) != d.signal) {
        meta.push(' ');
        meta.push_str(&msg("popupPodFrom", &[&msg(s.message_key(), &[])]));
    }
    p.set_text("served-signal", &meta);
    let seen: Vec<String> = d
        .signals
        .iter()
        .map(|r| {
            msg(
                "popupSignalSays",
                &[&msg(r.signal.message_key(), &[]), r.stage.as_str()],
            )
        })
        .collect();
    let seen = if seen.is_empty() {
        String::new()
    } else {
        msg("popupSignals", &[&seen.join(", ")])
    };
    p.set_text("served-signals", &seen);
    if let Some(list) = p.el("explanations") {
        list.set_text_content(None);
        for e in explain(in_force, d, &target.env, &path_of(&state.url)) {
            let (key, subs) = e.message();
            let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
            if let Ok(li) = p.doc.create_element("li") {
                li.set_text_content(Some(&msg(key, &subs)));
                let _ = list.append_child(&li);
            }
        }
    }
    let templates = p.settings.links_for(&target.env.host, target.env.kind);
    let (logs, dashboard) = match &templates {
        Some(t) => (
            fill(&t.logs, d.stage, d.request_id.as_deref(), &target.env),
            fill(&t.dashboard, d.stage, d.request_id.as_deref(), &target.env),
        ),
        None => (None, None),
    };
    p.link("logs-link", logs);
    p.link("dashboard-link", dashboard);
    show_share(p, in_force, share);
}

fn show_share(p: &Popup, in_force: &InForce, share: &Share) {
    let text = match (in_force, share.percent_text()) {
        (InForce::Auto, Some(pct)) => msg(
            "popupShare",
            &[&share.canary.to_string(), &share.total.to_string(), &pct],
        ),
        _ => String::new(),
    };
    p.set_text("share", &text);
    p.show("share-reset", !text.is_empty());
}

/// "12 s" / "3 min" / "2 h" since `at_ms`.
fn age(at_ms: f64) -> String {
    let secs = ((js_sys::Date::now() - at_ms) / 1000.0).max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}
