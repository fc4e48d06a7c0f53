//! Projects, issues and notes: just enough of `POST /api/v4/projects/:id/issues/:iid/notes`
//! for a session check to write its result into a change issue.

use std::collections::VecDeque;

use serde_json::{json, Value};

use crate::session::User;

/// Issues `1..=MAX_IID` exist in every accessible project.
pub const MAX_IID: u64 = 100_000;
/// Notes kept in memory (oldest dropped first).
const NOTES_KEEP: usize = 10_000;

/// Projects with a fixed numeric id (so `:id` may be a number). Any other well-formed path is a
/// public project with an id derived from its path.
const KNOWN: &[(u64, &str)] = &[
    (278_964, "gitlab-org/gitlab"),
    (7_444_821, "gitlab-com/gl-infra/production"),
    (7_444_822, "gitlab-com/gl-infra/readonly"),
    (1_000_001, "private-group/secret-project"),
];

/// No user can see projects under this group: GitLab answers 404, not 403.
pub const PRIVATE_GROUP: &str = "private-group";
/// qa-user may read but not comment here.
pub const READONLY_PROJECT: &str = "gitlab-com/gl-infra/readonly";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: u64,
    pub path: String,
}

fn well_formed(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    segments.len() >= 2
        && path.len() <= 255
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn derived_id(path: &str) -> u64 {
    let h = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    2_000_000 + h % 1_000_000
}

/// `:id` as GitLab takes it: a number, or the (already URL-decoded) full path.
pub fn find_project(id: &str) -> Option<Project> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = id.parse().ok()?;
        return KNOWN.iter().find(|(k, _)| *k == n).map(|(k, p)| Project {
            id: *k,
            path: p.to_string(),
        });
    }
    if !well_formed(id) {
        return None;
    }
    let id_num = KNOWN
        .iter()
        .find(|(_, p)| *p == id)
        .map(|(k, _)| *k)
        .unwrap_or_else(|| derived_id(id));
    Some(Project {
        id: id_num,
        path: id.to_string(),
    })
}

impl Project {
    /// Whether anyone can see it (private groups look like missing projects).
    pub fn visible(&self) -> bool {
        !(self.path == PRIVATE_GROUP || self.path.starts_with(&format!("{PRIVATE_GROUP}/")))
    }

    /// Whether `user` may comment (`create_note`).
    pub fn can_note(&self, user: &User) -> bool {
        self.visible() && !(self.path == READONLY_PROJECT && user.username == "qa-user")
    }

    /// `gitlab-com%2Fgl-infra%2Fproduction`, as API clients write it.
    pub fn encoded(&self) -> String {
        self.path.replace('/', "%2F")
    }
}

/// An issue iid that exists: 1 to [`MAX_IID`].
pub fn issue_exists(iid: &str) -> Option<u64> {
    if iid.is_empty() || iid.len() > 12 || !iid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    iid.parse().ok().filter(|n| (1..=MAX_IID).contains(n))
}

#[derive(Clone, Debug)]
pub struct Note {
    pub id: u64,
    pub project_id: u64,
    pub project: String,
    pub iid: u64,
    pub body: String,
    pub author_id: u64,
    pub author: &'static str,
    pub author_name: &'static str,
    pub at: String,
}

impl Note {
    /// The API's answer for a note (a subset of GitLab's Note entity).
    pub fn api_json(&self, host: &str) -> Value {
        json!({
            "id": self.id,
            "type": null,
            "body": self.body,
            "author": {
                "id": self.author_id,
                "username": self.author,
                "name": self.author_name,
                "state": "active",
                "web_url": format!("https://{host}/{}", self.author),
            },
            "created_at": self.at,
            "updated_at": self.at,
            "system": false,
            "noteable_id": self.project_id * 1000 + self.iid,
            "noteable_type": "Issue",
            "project_id": self.project_id,
            "noteable_iid": self.iid,
            "resolvable": false,
            "confidential": false,
            "internal": false,
        })
    }

    /// `/-/standin/notes`.
    pub fn admin_json(&self) -> Value {
        json!({
            "id": self.id,
            "project": self.project,
            "iid": self.iid,
            "body": self.body,
            "author": self.author,
            "at": self.at,
        })
    }
}

#[derive(Debug, Default)]
pub struct Notes {
    last_id: u64,
    notes: VecDeque<Note>,
}

impl Notes {
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// Stores a note and returns a copy of it.
    pub fn add(
        &mut self,
        project: &Project,
        iid: u64,
        body: &str,
        user: &User,
        at: String,
    ) -> Note {
        self.last_id += 1;
        let note = Note {
            id: self.last_id,
            project_id: project.id,
            project: project.path.clone(),
            iid,
            body: body.to_string(),
            author_id: user.id,
            author: user.username,
            author_name: user.name,
            at,
        };
        self.notes.push_back(note.clone());
        while self.notes.len() > NOTES_KEEP {
            self.notes.pop_front();
        }
        note
    }

    pub fn all(&self) -> impl Iterator<Item = &Note> {
        self.notes.iter()
    }

    pub fn on_issue<'a>(&'a self, project: &'a str, iid: u64) -> impl Iterator<Item = &'a Note> {
        self.notes
            .iter()
            .filter(move |n| n.project == project && n.iid == iid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::USERS;

    #[test]
    fn projects() {
        let p = find_project("gitlab-com/gl-infra/production").expect("production");
        assert_eq!(p.id, 7_444_821);
        assert_eq!(p.encoded(), "gitlab-com%2Fgl-infra%2Fproduction");
        assert_eq!(find_project("7444821"), Some(p));
        let other = find_project("some-group/some.project_1").expect("public");
        assert!(other.id >= 2_000_000 && other.visible());
        assert_eq!(find_project("some-group/some.project_1"), Some(other));
        for bad in [
            "", "single", "a//b", "a/b/", "/a/b", "a/b c", "123456", "a/<b>",
        ] {
            assert_eq!(find_project(bad), None, "{bad}");
        }
        let private = find_project("private-group/anything").expect("exists");
        assert!(!private.visible());
        assert!(!find_project("1000001").expect("known").visible());
        assert!(find_project("private-groupie/x").expect("other").visible());
        let (qa, other_user) = (&USERS[0], &USERS[1]);
        let readonly = find_project(READONLY_PROJECT).expect("readonly");
        assert!(!readonly.can_note(qa) && readonly.can_note(other_user));
        assert!(!private.can_note(other_user));
    }

    #[test]
    fn iids() {
        assert_eq!(issue_exists("1"), Some(1));
        assert_eq!(issue_exists("100000"), Some(100_000));
        for bad in ["0", "100001", "", "x", "-1", "99999999999999999999"] {
            assert_eq!(issue_exists(bad), None, "{bad}");
        }
    }

    #[test]
    fn notes_get_increasing_ids() {
        let mut notes = Notes::default();
        let p = find_project("gitlab-org/gitlab").expect("project");
        let a = notes.add(&p, 5, "first", &USERS[0], "t".into()).id;
        let b = notes.add(&p, 6, "second", &USERS[1], "t".into()).id;
        assert!(b > a);
        assert_eq!(notes.on_issue("gitlab-org/gitlab", 5).count(), 1);
        assert_eq!(notes.len(), 2);
        let j = notes
            .all()
            .next()
            .map(|n| n.api_json("gitlab.com"))
            .unwrap_or_default();
        assert_eq!(j["noteable_iid"], 5);
        assert_eq!(j["author"]["username"], "qa-user");
        assert_eq!(j["body"], "first");
    }
}
