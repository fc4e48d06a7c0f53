//! Commands that reach the same stage from a shell: only browser traffic follows the cookie,
//! so the API and git over HTTPS need it sent explicitly (GITLAB-FACTS.md, "Stages"). Pure.

use crate::preference::InForce;

/// The commands the popup offers for one environment and the stage in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    /// The `gitlab_canary` value the commands send: `true` for Next, `false` for Current, and
    /// `false` ("never canary") on Auto, whose routing a shell cannot share with the browser.
    pub value: &'static str,
    /// Whether the value stands for Auto's "never canary".
    pub never_canary: bool,
    /// `curl` for the API.
    pub curl: String,
    /// git over HTTPS, for the project of the page when it names one.
    pub git: String,
}

/// A URL path's project, when it names one: everything before `/-/`, or the first two
/// segments (`group/project`), without a trailing `.git`.
fn project_of(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let before = path.split("/-/").next().unwrap_or_default();
    let segments: Vec<&str> = before
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let ok = |s: &&str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if segments.len() < 2 || !segments.iter().all(ok) {
        return None;
    }
    let take = if path.contains("/-/") {
        segments.len()
    } else {
        2
    };
    Some(
        segments[..take]
            .join("/")
            .trim_end_matches(".git")
            .to_string(),
    )
}

/// The commands for `origin` (`https://host`), the page's `path` and what the host receives.
/// `None` when the cookies contradict each other (the user should choose first).
pub fn commands(origin: &str, path: &str, in_force: &InForce) -> Option<Commands> {
    let (value, never_canary) = match in_force {
        InForce::Next => ("true", false),
        InForce::Current => ("false", false),
        InForce::Auto => ("false", true),
        InForce::Conflict { .. } => return None,
    };
    let project = project_of(path).unwrap_or_else(|| "GROUP/PROJECT".into());
    Some(Commands {
        value,
        never_canary,
        curl: format!("curl --cookie gitlab_canary={value} {origin}/api/v4/version"),
        git: format!(
            "git -c http.extraHeader=\"Cookie: gitlab_canary={value}\" clone {origin}/{project}.git"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_has_its_value_and_the_project_is_the_page_s() {
        let next = commands(
            "https://staging.gitlab.com",
            "/gitlab-org/gitlab/-/issues/1",
            &InForce::Next,
        )
        .unwrap();
        assert_eq!(
            next.curl,
            "curl --cookie gitlab_canary=true https://staging.gitlab.com/api/v4/version"
        );
        assert_eq!(
            next.git,
            "git -c http.extraHeader=\"Cookie: gitlab_canary=true\" clone https://staging.gitlab.com/gitlab-org/gitlab.git"
        );
        let cur = commands(
            "https://gitlab.com",
            "/a/b/c/-/tree/main",
            &InForce::Current,
        )
        .unwrap();
        assert!(
            cur.git.ends_with("clone https://gitlab.com/a/b/c.git"),
            "{}",
            cur.git
        );
        assert!(!cur.never_canary);
        let auto = commands("https://gitlab.com", "/", &InForce::Auto).unwrap();
        assert_eq!((auto.value, auto.never_canary), ("false", true));
        assert!(auto.git.ends_with("/GROUP/PROJECT.git"));
        assert_eq!(
            commands(
                "https://gitlab.com",
                "/",
                &InForce::Conflict {
                    values: vec!["true".into(), "false".into()]
                }
            ),
            None
        );
        // Nothing of a hostile path reaches the command line.
        let odd = commands("https://gitlab.com", "/a;rm -rf/b", &InForce::Next).unwrap();
        assert!(odd.git.ends_with("/GROUP/PROJECT.git"), "{}", odd.git);
        let plain = commands("https://gitlab.com", "/group/proj.git", &InForce::Next).unwrap();
        assert!(plain.git.ends_with("/group/proj.git"));
    }
}
