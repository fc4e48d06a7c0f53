//! The same stage for curl and git: the commands that reach the stage in force for the
//! target's environment (rendered with every refresh, so they follow a choice).
//!
//! Elements: `cli-value`, `cli-curl`, `cli-git`.

use super::shared::Popup;
use crate::browser::msg;
use crate::environment::path_of;
use crate::preference::InForce;
use crate::switch::Target;

/// The commands for the page at `url` and the preference in force.
pub(super) fn render(p: &Popup, t: &Target, url: Option<&str>, in_force: &InForce) {
    let path = url.map(path_of).unwrap_or_default();
    match crate::cli::commands(&t.env.origin(), &path, in_force) {
        Some(c) => {
            let label = if c.never_canary {
                msg("cliNeverCanary", &[])
            } else if c.value == "true" {
                msg("labelNext", &[])
            } else {
                msg("labelCurrent", &[])
            };
            p.set_text("cli-value", &msg("cliValue", &[c.value, &label]));
            p.set_text("cli-curl", &c.curl);
            p.set_text("cli-git", &c.git);
        }
        None => {
            p.set_text("cli-value", &msg("cliConflict", &[]));
            p.set_text("cli-curl", "");
            p.set_text("cli-git", "");
        }
    }
}
