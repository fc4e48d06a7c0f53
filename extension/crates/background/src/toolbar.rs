//! The toolbar button of a tab: badge, icon and title, derived from the cookies in force,
//! the stored detection of its page, a running check and a running watch. Below both the
//! background's event handlers and the checker, which call it.

use crate::browser::{self, from_js, msg, set_badge, set_icon, set_title, tabs, Area};
use crate::errors::UserError;
use crate::messages::{tab_key, TabState, CHECK_KEY, WATCH_KEY};
use crate::preference::InForce;
use crate::session::Check;
use crate::settings::Settings;
use crate::stage::{Detection, Signal, Stage};
use crate::switch::{self, Target};
use crate::watch::Watch;

pub const GITLAB_TABS: &[&str] = &["*://*.gitlab.com/*"];
/// Badge colours: GitLab's green for Next, its indigo for Current.
const NEXT_GREEN: &str = "#108548";
pub const CURRENT_INDIGO: &str = "#5448c4";
pub const CHECK_BLUE: &str = "#1f75cb";
const LOST_RED: &str = "#c91c00";

/// The stored detection for a tab, if it is for the page the tab shows now.
pub async fn tab_state(tab: &tabs::Tab) -> Option<TabState> {
    let state: TabState = Area::Session.read(&tab_key(tab.id)).await.ok()??;
    (tab.url.as_deref() == Some(state.url.as_str())).then_some(state)
}

/// Toolbar icon, title and badge for one tab, all derived from the cookies and stored state.
pub async fn refresh_action(tab: tabs::Tab) {
    let (settings, _) = switch::settings().await;
    refresh_action_with(tab, &settings).await;
}

pub async fn refresh_action_with(tab: tabs::Tab, settings: &Settings) {
    let id = tab.id;
    let state = tab_state(&tab).await;
    let (target, in_force) = target_in_force(tab, settings).await;
    paint(
        id,
        target.as_ref(),
        in_force,
        state.as_ref().map(|s| &s.detection),
    )
    .await;
}

/// The tab's target (none: not a GitLab page) and the stage in force there, as
/// [`paint`] takes them.
pub async fn target_in_force(
    tab: tabs::Tab,
    settings: &Settings,
) -> (Option<Target>, Option<Result<InForce, UserError>>) {
    let target = switch::target_for(tab, settings).await.ok();
    let in_force = match &target {
        Some(t) => Some(t.in_force().await),
        None => None,
    };
    (target, in_force)
}

/// Badge, icon and title of tab `id` from what the caller has read: its target (none: not a
/// GitLab page), the stage in force there, and the detection of its page.
pub async fn paint(
    id: i32,
    target: Option<&Target>,
    in_force: Option<Result<InForce, UserError>>,
    detection: Option<&Detection>,
) {
    show_badge(id, target.map(|t| t.env.host.as_str()), detection).await;
    let (icon, title) = match (target, in_force) {
        (Some(target), Some(in_force)) => describe(target, in_force, detection),
        _ => ("auto", msg("titleNotGitLab", &[])),
    };
    // A tab closed meanwhile makes these fail; there is nothing to show then.
    let _ = set_icon(id, icon).await;
    let _ = set_title(id, &title).await;
}

/// The tab's badge: a running check's step, LOST for the host a running watch lost the session
/// on (until it stops), else the stage that served the page. One storage read.
pub async fn show_badge(id: i32, host: Option<&str>, detection: Option<&Detection>) {
    show_badge_with(Area::Local.read_all().await.ok(), id, host, detection).await;
}

/// [`show_badge`] with `storage.local` read already.
pub async fn show_badge_with(
    local: Option<browser::Stored>,
    id: i32,
    host: Option<&str>,
    detection: Option<&Detection>,
) {
    let read = |key| local.as_ref().and_then(|l| l.raw(key));
    let lost = read(WATCH_KEY)
        .and_then(|w| from_js::<Watch>(w).ok())
        .filter(Watch::active)
        .and_then(|w| w.first_loss().map(|s| s.host.clone()))
        .is_some_and(|lost_host| host == Some(lost_host.as_str()));
    let checking = read(CHECK_KEY)
        .and_then(|c| from_js::<Check>(c).ok())
        .filter(|c| c.running() && c.tab_id == id);
    let progress;
    let (badge, color) = match (checking, lost, detection.map(|d| d.stage)) {
        (Some(c), _, _) => {
            progress = c.progress_badge();
            (progress.as_str(), CHECK_BLUE)
        }
        (None, true, _) => ("LOST", LOST_RED),
        (None, false, Some(Stage::Canary)) => ("NEXT", NEXT_GREEN),
        (None, false, Some(Stage::Main)) => ("CUR", CURRENT_INDIGO),
        _ => ("", CURRENT_INDIGO),
    };
    let _ = set_badge(id, badge, color).await;
}

fn describe(
    target: &Target,
    in_force: Result<InForce, UserError>,
    served: Option<&Detection>,
) -> (&'static str, String) {
    let host = target.env.host.as_str();
    let (icon, label) = match in_force {
        Ok(InForce::Next) => ("next", msg("labelNext", &[])),
        Ok(InForce::Current) => ("current", msg("labelCurrent", &[])),
        Ok(InForce::Auto) => ("auto", msg("labelAuto", &[])),
        Ok(InForce::Conflict { .. }) => ("conflict", msg("titleConflict", &[])),
        Err(e) => return ("auto", switch::error_text(&e)),
    };
    let mut title = msg("titlePreference", &[host, &label]);
    if let Some(d) = served.filter(|d| d.stage != Stage::Unknown) {
        let pod = d.pod.as_deref().unwrap_or("?");
        title.push_str(&msg(
            "titleServed",
            &[
                d.stage.as_str(),
                pod,
                d.signal.map_or("no signal", Signal::name),
            ],
        ));
    }
    (icon, title)
}

/// Refreshes the toolbar button of every GitLab tab.
pub async fn refresh_all() {
    if let Ok(all) = tabs::matching(GITLAB_TABS).await {
        for tab in all {
            refresh_action(tab).await;
        }
    }
}
