//! Posting a check's report to the change issue as a comment: which issue a URL names, the API
//! request that posts to it, and what each answer means, as one sentence with what to do. Pure.
//!
//! The background posts from a page of the issue's own origin (the browser's session, the CSRF
//! token read there and never kept), through `POST /api/v4/projects/:id/issues/:iid/notes`
//! (GITLAB-FACTS.md, "Sessions").

use crate::environment::{environment_for_url, CustomEnvironment};

/// A GitLab issue the extension may post to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    /// `https://host` (or `http://` for a self-managed host served so).
    pub origin: String,
    pub host: String,
    /// The project's full path: `gitlab-com/gl-infra/production`.
    pub project: String,
    pub iid: u64,
}

/// Why a report was not posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    NotIssueUrl,
    UnknownHost {
        host: String,
    },
    /// No page of that origin could be used to post from.
    NoPage {
        host: String,
        detail: String,
    },
    NoCsrfToken {
        host: String,
    },
    NotSignedIn {
        host: String,
    },
    Forbidden,
    NotFound,
    Refused {
        host: String,
        status: u16,
    },
    Unreachable {
        host: String,
        detail: String,
    },
}

impl PostError {
    /// One sentence: what failed and what to do next.
    pub fn sentence(&self) -> String {
        match self {
            PostError::NotIssueUrl => "That is not a GitLab issue URL: paste one like https://gitlab.com/group/project/-/issues/123.".into(),
            PostError::UnknownHost { host } => format!(
                "{host} is not an environment the extension knows: add it in the options first, or post to a GitLab.com issue."
            ),
            PostError::NoPage { host, detail } => format!(
                "No page of {host} could be opened to post from ({detail}): open the issue in a tab, then post again."
            ),
            PostError::NoCsrfToken { host } => format!(
                "The page of {host} carries no CSRF token: reload the issue page, sign in if asked, then post again."
            ),
            PostError::NotSignedIn { host } => {
                format!("You are not signed in on {host}: sign in there, then post again.")
            }
            PostError::Forbidden => "Your account may not comment on this issue: ask for access, or post to another issue.".into(),
            PostError::NotFound => "The issue was not found, or your account cannot see it: check the URL.".into(),
            PostError::Refused { host, status } => {
                format!("{host} refused the comment (HTTP {status}): try again in a moment.")
            }
            PostError::Unreachable { host, detail } => {
                format!("{host} did not answer ({detail}): check the connection, then post again.")
            }
        }
    }
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The issue an issue URL names, on an environment the extension knows.
pub fn parse_issue_url(url: &str, custom: &[CustomEnvironment]) -> Result<IssueRef, PostError> {
    let url = url.trim();
    let env =
        environment_for_url(url, custom).map_err(|_| {
            match crate::environment::parse_origin(url) {
                Ok(o) => PostError::UnknownHost { host: o.host },
                Err(_) => PostError::NotIssueUrl,
            }
        })?;
    let path = crate::environment::path_of(url);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (project, rest) = path
        .trim_start_matches('/')
        .split_once("/-/issues/")
        .ok_or(PostError::NotIssueUrl)?;
    let iid = rest.trim_end_matches('/');
    let iid: u64 = match iid.parse() {
        Ok(n) if n > 0 && iid.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(PostError::NotIssueUrl),
    };
    let segments: Vec<&str> = project.split('/').collect();
    if segments.len() < 2 || !segments.iter().all(|s| segment_ok(s)) {
        return Err(PostError::NotIssueUrl);
    }
    Ok(IssueRef {
        origin: env.origin(),
        host: env.host.clone(),
        project: project.to_string(),
        iid,
    })
}

impl IssueRef {
    /// The issue's web URL.
    pub fn url(&self) -> String {
        format!("{}/{}/-/issues/{}", self.origin, self.project, self.iid)
    }

    /// The notes API path on the issue's origin (`:id` is the URL-encoded project path).
    pub fn notes_api_path(&self) -> String {
        format!(
            "/api/v4/projects/{}/issues/{}/notes",
            self.project.replace('/', "%2F"),
            self.iid
        )
    }

    /// The new comment's URL.
    pub fn note_url(&self, note_id: u64) -> String {
        format!("{}#note_{note_id}", self.url())
    }

    /// What the post's answer means: the comment's URL, or why there is none. `status` 0 means
    /// no answer (`error` says why); `no_csrf` that the page had no token to send.
    pub fn outcome(
        &self,
        status: u16,
        note_id: Option<u64>,
        no_csrf: bool,
        error: Option<&str>,
    ) -> Result<String, PostError> {
        let host = self.host.clone();
        match (status, note_id) {
            _ if no_csrf => Err(PostError::NoCsrfToken { host }),
            (201, Some(id)) => Ok(self.note_url(id)),
            (0, _) => Err(PostError::Unreachable {
                host,
                detail: error.unwrap_or("no answer").to_string(),
            }),
            (401, _) => Err(PostError::NotSignedIn { host }),
            (403, _) => Err(PostError::Forbidden),
            (404, _) => Err(PostError::NotFound),
            (status, _) => Err(PostError::Refused { host, status }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_urls_of_known_environments() {
        let i = parse_issue_url(
            " https://gitlab.com/gitlab-com/gl-infra/production/-/issues/19142#note_1 ",
            &[],
        )
        .unwrap();
        assert_eq!(i.host, "gitlab.com");
        assert_eq!(i.project, "gitlab-com/gl-infra/production");
        assert_eq!(i.iid, 19142);
        assert_eq!(
            i.notes_api_path(),
            "/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/19142/notes"
        );
        assert_eq!(
            i.note_url(7),
            "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/19142#note_7"
        );
        let s = parse_issue_url("https://staging.gitlab.com/g/p/-/issues/3/", &[]).unwrap();
        assert_eq!((s.host.as_str(), s.iid), ("staging.gitlab.com", 3));
        let custom = [CustomEnvironment {
            host: "gitlab.example.test".into(),
            cookie_domain: "gitlab.example.test".into(),
        }];
        assert!(parse_issue_url("https://gitlab.example.test/a/b/-/issues/1", &custom).is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            "https://gitlab.com/g/p/-/merge_requests/1",
            "https://gitlab.com/g/p/-/issues/0",
            "https://gitlab.com/g/p/-/issues/x",
            "https://gitlab.com/g/p/-/issues/1/notes",
            "https://gitlab.com/p/-/issues/1",
            "https://gitlab.com/g/../p/-/issues/1",
            "https://gitlab.com/g/p%2F/-/issues/1",
            "not a url",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                parse_issue_url(bad, &[]),
                Err(PostError::NotIssueUrl),
                "{bad}"
            );
        }
        assert_eq!(
            parse_issue_url("https://example.org/g/p/-/issues/1", &[]),
            Err(PostError::UnknownHost {
                host: "example.org".into()
            })
        );
    }

    #[test]
    fn every_answer_has_its_sentence() {
        let i = parse_issue_url("https://staging.gitlab.com/g/p/-/issues/3", &[]).unwrap();
        assert_eq!(
            i.outcome(201, Some(9), false, None),
            Ok("https://staging.gitlab.com/g/p/-/issues/3#note_9".into())
        );
        let s = |status, csrf| {
            i.outcome(status, None, csrf, Some("timeout"))
                .unwrap_err()
                .sentence()
        };
        assert_eq!(
            s(401, false),
            "You are not signed in on staging.gitlab.com: sign in there, then post again."
        );
        assert!(s(403, false).starts_with("Your account may not comment"));
        assert!(s(404, false).starts_with("The issue was not found"));
        assert!(s(0, true).starts_with("The page of staging.gitlab.com carries no CSRF token"));
        assert!(s(0, false).contains("(timeout)"));
        assert_eq!(
            s(500, false),
            "staging.gitlab.com refused the comment (HTTP 500): try again in a moment."
        );
        // A 201 without an id is not a success the user can follow.
        assert!(i.outcome(201, None, false, None).is_err());
        for e in [
            PostError::NotIssueUrl,
            PostError::Forbidden,
            PostError::NotFound,
        ] {
            let t = e.sentence();
            assert!(t.ends_with('.') && t.matches(". ").count() == 0, "{t}");
        }
    }
}
