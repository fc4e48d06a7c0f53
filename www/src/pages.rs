//! HTML and JS in GitLab's shape. The extension's content script reads this markup, so the
//! ids, classes and data attributes follow GitLab's views (see shared/GITLAB-FACTS.md).

use serde_json::json;

use crate::assets::{pipeline_favicon_script, FAVICON_CANARY, FAVICON_CUSTOM, FAVICON_MAIN};
use crate::notes::{Note, Project};
use crate::routing::{Environment, Stage};
use crate::session::User;

pub const CANARY_TOGGLE_URL: &str = "https://next.gitlab.com";

/// Which GitLab release's markup the pages follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Markup {
    /// GitLab 18: the performance bar hides the host in an info modal, no Next badge, a
    /// "Switch to GitLab Next" user-menu item, Snowplow `host_name` = the configured host.
    #[default]
    Current,
    /// GitLab ≤ 17 (17.7): `#peek-view-host` with the pod, the Next badge, Snowplow
    /// `host_name` = the pod.
    Legacy,
}

impl Markup {
    pub fn as_str(self) -> &'static str {
        match self {
            Markup::Current => "current",
            Markup::Legacy => "legacy",
        }
    }

    pub fn parse(s: &str) -> Option<Markup> {
        match s {
            "current" => Some(Markup::Current),
            "legacy" => Some(Markup::Legacy),
            _ => None,
        }
    }

    /// `gon.version`; the performance bar's JS reads its major to pick the markup.
    pub fn gitlab_version(self) -> &'static str {
        match self {
            Markup::Current => "18.6.0-pre",
            Markup::Legacy => "17.7.0-pre",
        }
    }

    fn snowplow_schema(self) -> &'static str {
        match self {
            Markup::Current => "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-7",
            Markup::Legacy => "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-1",
        }
    }
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The JSON object of the real super sidebar's `data-sidebar` in a page this module rendered
/// (for tests: the attribute unescaped as a browser would, then parsed).
pub fn sidebar_json_of(html: &str) -> Option<serde_json::Value> {
    let attr = html
        .split("super-sidebar-loading\" data-root-path=\"/\" data-sidebar=\"")
        .nth(1)?
        .split('"')
        .next()?;
    let raw = attr
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    serde_json::from_str(&raw).ok()
}

/// JSON safe inside an inline `<script>`: no `</script>` or `<!--` can close it.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Everything a page needs to know about the request that asked for it.
pub struct PageCtx<'a> {
    pub path: &'a str,
    pub stage: Stage,
    pub env: &'a Environment,
    pub request_id: &'a str,
    pub method: &'a str,
    /// The pod serving the request (legacy Snowplow `host_name`).
    pub pod: &'a str,
    pub user: Option<&'static User>,
    pub csrf_token: &'a str,
    pub revision: &'a str,
    pub markup: Markup,
    /// Cookie `perf_bar_enabled=true` and no `perf=none` in the query.
    pub perf_bar: bool,
    /// Not `sidebar=none` in the query.
    pub sidebar: bool,
    /// The page query's `favicon=`: `custom` (a self-managed custom appearance favicon), or the
    /// test devices `yellow` / `plain` (canary's / main's icon whatever the stage).
    pub favicon_override: Option<&'static str>,
}

impl PageCtx<'_> {
    /// Any GitLab.com environment (`gitlab.com`, `staging.gitlab.com`, `X.gitlab.com`), not
    /// the self-managed host.
    fn gitlab_com(&self) -> bool {
        !self.env.is_self_managed()
    }

    /// What `Gitlab::Favicon.main` serves: `favicon-yellow` only where `ENV['CANARY']` is set,
    /// which a self-managed instance never has.
    pub fn favicon(&self) -> &'static str {
        if let Some(icon) = self.favicon_override {
            icon
        } else if self.stage == Stage::Canary && self.gitlab_com() {
            FAVICON_CANARY
        } else {
            FAVICON_MAIN
        }
    }
}

/// The favicon a page query `favicon=` asks for, if any.
pub fn favicon_override(query_value: Option<&str>) -> Option<&'static str> {
    match query_value? {
        "custom" => Some(FAVICON_CUSTOM),
        "yellow" => Some(FAVICON_CANARY),
        "plain" => Some(FAVICON_MAIN),
        _ => None,
    }
}

/// The body's main content and what surrounds it.
pub struct Content {
    pub title: String,
    pub data_page: &'static str,
    pub main_html: String,
    /// Markup placed before the real aside (the look-alike page's first hostile copy).
    pub before_aside: Option<String>,
    /// Devise pages (sign-in) have neither super sidebar nor top bar.
    pub chrome: bool,
    /// Holds the first paint until the parser reaches the element with this id (`<link
    /// rel=expect blocking=render>`), so no frame is drawn in the middle of parsing.
    pub render_after: Option<&'static str>,
    /// An inline script at the end of the body (pipeline pages swap the favicon).
    pub body_script: Option<String>,
}

impl Content {
    pub fn new(title: impl Into<String>, data_page: &'static str, main_html: String) -> Self {
        Content {
            title: title.into(),
            data_page,
            main_html,
            before_aside: None,
            chrome: true,
            render_after: None,
            body_script: None,
        }
    }
}

fn sidebar_json(ctx: &PageCtx) -> serde_json::Value {
    let canary = ctx.stage == Stage::Canary;
    let base = ctx.path.trim_end_matches('/');
    let mut obj = serde_json::Map::new();
    obj.insert("is_logged_in".into(), json!(ctx.user.is_some()));
    // GitLab adds the canary keys only to the logged-in context; outside GitLab.com both
    // flags are null (`Gitlab.com_and_canary?` is about GitLab.com).
    if ctx.user.is_some() {
        let flag = |on: bool| if on { json!(true) } else { json!(null) };
        obj.insert(
            "gitlab_com_and_canary".into(),
            flag(ctx.gitlab_com() && canary),
        );
        obj.insert(
            "gitlab_com_but_not_canary".into(),
            flag(ctx.gitlab_com() && !canary),
        );
        obj.insert("canary_toggle_com_url".into(), json!(CANARY_TOGGLE_URL));
    }
    obj.insert(
        "current_menu_items".into(),
        json!([
            {"id": "project_overview", "title": "Project overview", "icon": "project", "link": escape(ctx.path)},
            {"id": "issues", "title": "Issues", "icon": "issues", "link": format!("{base}/-/issues")},
            {"id": "merge_requests", "title": "Merge requests", "icon": "merge-request", "link": format!("{base}/-/merge_requests")},
            {"id": "pipelines", "title": "Pipelines", "icon": "rocket", "link": format!("{base}/-/pipelines")},
        ]),
    );
    if let Some(user) = ctx.user {
        obj.insert("username".into(), json!(user.username));
        obj.insert("name".into(), json!(user.name));
        obj.insert("sign_out_link".into(), json!("/users/sign_out"));
        obj.insert(
            "avatar_url".into(),
            json!(format!(
                "/uploads/-/system/user/avatar/{}/avatar.png",
                user.id
            )),
        );
    }
    serde_json::Value::Object(obj)
}

fn gon_json(ctx: &PageCtx) -> serde_json::Value {
    json!({
        "version": ctx.markup.gitlab_version(),
        "revision": ctx.revision,
        "current_username": ctx.user.map(|u| u.username),
        "current_user_id": ctx.user.map(|u| u.id),
        "current_user_fullname": ctx.user.map(|u| u.name),
        "gitlab_url": format!("https://{}", ctx.env.host),
    })
}

/// A small stable number for a path segment (the pseudonymised URL's ids).
fn segment_id(s: &str) -> u64 {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1 + h % 9_999_999
}

/// The page URL Snowplow may see: the query dropped and, on project pages (`…/-/…`), the
/// namespace and project replaced by `namespace<id>/project<id>`.
fn pseudonymized_url(ctx: &PageCtx) -> String {
    let path = match ctx.path.split_once("/-/") {
        Some((project, rest)) => match project.trim_start_matches('/').rsplit_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => format!(
                "/namespace{}/project{}/-/{rest}",
                segment_id(namespace),
                segment_id(project)
            ),
            _ => ctx.path.to_string(),
        },
        None => ctx.path.to_string(),
    };
    format!("https://{}{path}", ctx.env.host)
}

/// The inline `<head>` script with the Snowplow options and standard context. `host_name`:
/// the configured host (schema 1-1-7, GitLab 18) or the pod (schema 1-1-1, GitLab 17.7).
fn snowplow_script(ctx: &PageCtx) -> String {
    let host_name = match ctx.markup {
        Markup::Current => ctx.env.host.as_str(),
        Markup::Legacy => ctx.pod,
    };
    let cookie_domain = if ctx.gitlab_com() {
        ".gitlab.com".to_string()
    } else {
        format!(".{}", ctx.env.host)
    };
    let options = json!({
        "namespace": "gl",
        "hostname": "snowplow.trx.gitlab.net",
        "cookieDomain": cookie_domain,
        "appId": "gitlab",
        "formTracking": false,
        "linkClickTracking": false,
    });
    let context = json!({
        "schema": ctx.markup.snowplow_schema(),
        "data": {
            "environment": ctx.env.name,
            "source": "gitlab-rails",
            "plan": "free",
            "extra": {},
            "user_id": null,
            "is_gitlab_team_member": null,
            "namespace_id": null,
            "project_id": null,
            "feature_enabled_by_namespace_ids": null,
            "realm": if ctx.gitlab_com() { "saas" } else { "self-managed" },
            "instance_id": null,
            "host_name": host_name,
            "correlation_id": ctx.request_id,
        },
    });
    format!(
        "<script>window.snowplowOptions = {}; gl = window.gl || {{}}; gl.snowplowStandardContext = {}; gl.snowplowPseudonymizedPageUrl = {};</script>",
        script_json(&options),
        script_json(&context),
        script_json(&json!(pseudonymized_url(ctx))),
    )
}

fn peek_div(ctx: &PageCtx) -> String {
    format!(
        concat!(
            r#"<div id="js-peek" class="{env}" data-env="{env}" data-request-id="{rid}" "#,
            r#"data-request-method="{method}" data-peek-url="/-/peek/results" "#,
            r#"data-stats-url="https://log.{short}.gitlab.net/app/dashboards#/view/15df37d0-e7d5-11eb-9e2f-e9cc5d3b3b5e?correlation_id={rid}"></div>"#
        ),
        env = escape(&ctx.env.name),
        short = escape(&ctx.env.short),
        rid = escape(ctx.request_id),
        method = escape(ctx.method),
    )
}

fn header(ctx: &PageCtx) -> String {
    let mut h = String::from(
        r#"<header class="top-bar-container" data-testid="top-bar"><div class="top-bar-fixed"><a class="brand-logo" href="/" title="Homepage"><span class="gl-sr-only">Homepage</span>GitLab</a>"#,
    );
    let canary = ctx.stage == Stage::Canary;
    // The green badge is GitLab ≤ 17 only, and shown when `gitlab_com_and_canary`.
    if ctx.markup == Markup::Legacy && canary && ctx.user.is_some() && ctx.gitlab_com() {
        h.push_str(r#" <a data-testid="canary-badge-link" class="gl-badge badge badge-pill badge-success gl-badge-sm" href="https://next.gitlab.com">Next</a>"#);
    }
    match ctx.user {
        Some(user) => {
            let next_item = if ctx.markup == Markup::Current && !canary && ctx.gitlab_com() {
                r##"<a data-testid="gitlab-next-item" href="#">Switch to GitLab Next</a> "##
            } else {
                ""
            };
            h.push_str(&format!(
                concat!(
                    r#" <div class="user-bar" data-testid="user-menu"><span class="user-name" data-testid="user-name">{name}</span> "#,
                    r#"<span class="user-username">@{username}</span> {next_item}"#,
                    r#"<a data-testid="sign-out-link" data-method="post" rel="nofollow" href="/users/sign_out">Sign out</a></div>"#
                ),
                name = escape(user.name),
                username = escape(user.username),
                next_item = next_item,
            ));
        }
        None => h.push_str(
            r#" <a class="gl-button btn btn-default" data-testid="sign-in-link" href="/users/sign_in">Sign in</a>"#,
        ),
    }
    h.push_str("</div></header>");
    h
}

/// Just enough style for demo screenshots to look like GitLab's layout.
const CSS: &str = concat!(
    "body{margin:0;font:14px/1.5 system-ui,sans-serif;color:#333238}",
    ".gl-sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0,0,0,0)}",
    "#js-peek{background:#1f1e24;color:#ececef;font:12px monospace;min-height:20px;padding:4px 12px}",
    "#js-peek .current-host.canary{color:#fdd9a3}#js-peek .view{display:inline-block;margin-right:12px}",
    "#js-peek .gl-modal{background:#2b2a30;padding:4px 8px;margin-top:4px}#js-peek [hidden]{display:none}",
    ".layout-page{display:grid;grid-template-columns:220px 1fr;grid-template-rows:auto 1fr;min-height:90vh}",
    ".layout-page>aside{grid-column:1;grid-row:1/span 2;background:#f6f6f8;border-right:1px solid #dcdcde}",
    ".layout-page>header,.layout-page>main{grid-column:2}",
    ".layout-page>.detail-page-header{grid-column:1/-1;padding:0 16px;border-bottom:1px solid #dcdcde}",
    ".top-bar-container{display:flex;align-items:center;padding:8px 16px;border-bottom:1px solid #dcdcde}",
    ".top-bar-fixed{display:flex;gap:12px;align-items:center;width:100%}.user-bar{margin-left:auto}",
    ".badge-success{background:#c3e6cd;color:#24663b;border-radius:1rem;padding:0 8px;text-decoration:none;font-weight:600}",
    "main{padding:16px 24px}form label,form input,form button{display:block;margin:6px 0}",
    ".flash-alert{background:#fdd4cd;color:#8d1300;padding:8px 12px}"
);

/// rails-ujs in a few lines: links with `data-method` submit a form carrying the CSRF token.
/// The user menu's "Switch to GitLab Next" sets `gitlab_canary=true` on `.gitlab.com` for a
/// year and reloads.
const UJS: &str = r#"<script>document.addEventListener('click',function(e){var n=e.target&&e.target.closest?e.target.closest('a[data-testid=gitlab-next-item]'):null;if(n){e.preventDefault();var d=new Date();d.setTime(d.getTime()+365*24*60*60*1000);document.cookie='gitlab_canary=true;domain=.gitlab.com;path=/;expires='+d.toUTCString();window.location.reload();return;}var a=e.target&&e.target.closest?e.target.closest('a[data-method]'):null;if(!a)return;e.preventDefault();var f=document.createElement('form');f.method='post';f.action=a.getAttribute('href');var m=document.querySelector('meta[name="csrf-token"]');var t=document.createElement('input');t.type='hidden';t.name='authenticity_token';t.value=m?m.getAttribute('content'):'';f.appendChild(t);if(a.getAttribute('data-method').toLowerCase()!=='post'){var x=document.createElement('input');x.type='hidden';x.name='_method';x.value=a.getAttribute('data-method');f.appendChild(x);}document.body.appendChild(f);f.submit();});</script>"#;

pub fn layout(ctx: &PageCtx, content: &Content) -> String {
    let mut out = String::with_capacity(content.main_html.len() + 6144);
    let favicon = ctx.favicon();
    out.push_str(&format!(
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · GitLab</title>\n",
            "<link rel=\"icon\" type=\"image/png\" href=\"{favicon}\" id=\"favicon\" data-original-href=\"{favicon}\">\n",
            "<meta name=\"csrf-param\" content=\"authenticity_token\">\n",
            "<meta name=\"csrf-token\" content=\"{token}\">\n",
            "<script>window.gon={gon};</script>\n",
            "{snowplow}\n",
            "<style>{css}</style>\n{expect}",
            "</head><body class=\"ui-neutral\" data-page=\"{page}\">\n"
        ),
        title = escape(&content.title),
        favicon = escape(favicon),
        token = escape(ctx.csrf_token),
        gon = script_json(&gon_json(ctx)),
        snowplow = snowplow_script(ctx),
        page = content.data_page,
        css = CSS,
        expect = content
            .render_after
            .map(|id| format!("<link rel=\"expect\" href=\"#{id}\" blocking=\"render\">\n"))
            .unwrap_or_default(),
    ));
    if ctx.perf_bar {
        out.push_str(&peek_div(ctx));
        out.push('\n');
    }
    out.push_str("<div class=\"layout-page\">\n");
    if let Some(before) = &content.before_aside {
        out.push_str(before);
        out.push('\n');
    }
    if content.chrome && ctx.sidebar {
        out.push_str(&format!(
            "<aside class=\"js-super-sidebar super-sidebar-loading\" data-root-path=\"/\" data-sidebar=\"{}\"></aside>\n",
            escape(&sidebar_json(ctx).to_string())
        ));
    }
    if content.chrome {
        out.push_str(&header(ctx));
        out.push('\n');
    }
    out.push_str("<main id=\"content-body\" class=\"content\">\n");
    out.push_str(&content.main_html);
    out.push_str("\n</main>\n</div>\n");
    out.push_str(UJS);
    if let Some(script) = &content.body_script {
        out.push('\n');
        out.push_str(script);
    }
    out.push_str("\n<script src=\"/assets/perf_bar.js\" defer></script></body></html>\n");
    out
}

/// An ordinary project-like page titled by its path.
pub fn project_page(path: &str) -> Content {
    let main_html = format!(
        concat!(
            "<h1 class=\"home-panel-title\" data-testid=\"project-name-content\">{t}</h1>\n",
            "<div class=\"description md\" data-testid=\"project-description\">",
            "<p>A stand-in page for <code>{t}</code>. The project is fictional; its text is user content.</p>",
            "<ul><li>Fork</li><li>Star</li><li>Clone</li></ul></div>"
        ),
        t = escape(path)
    );
    Content::new(path, "projects:show", main_html)
}

/// `/<namespace…>/<project>/-/<what>/<n>` → (`namespace…/project`, `n`), `n` all digits.
pub fn project_sub_page<'a>(path: &'a str, what: &str) -> Option<(&'a str, &'a str)> {
    let (project, n) = path.split_once(&format!("/-/{what}/"))?;
    let project = project.strip_prefix('/')?;
    let segments_ok = project.split('/').count() >= 2 && project.split('/').all(|s| !s.is_empty());
    let n_ok = !n.is_empty() && n.len() <= 12 && n.bytes().all(|b| b.is_ascii_digit());
    (segments_ok && n_ok).then_some((project, n))
}

/// `/<group>/<project>/-/pipelines/<n>`: the favicon turns into the CI status icon at load.
pub fn pipeline_page(project: &str, id: &str) -> Content {
    let main_html = format!(
        concat!(
            "<h1 class=\"page-title\" data-testid=\"pipeline-title\">Pipeline #{id}</h1>\n",
            "<div class=\"ci-header-container\"><span class=\"ci-status ci-running\" data-testid=\"ci-badge-text\">running</span> ",
            "for <code>{project}</code></div>\n",
            "<div class=\"description md\"><p>Jobs: build, test, deploy.</p></div>"
        ),
        id = escape(id),
        project = escape(project),
    );
    let mut content = Content::new(
        format!("Pipeline #{id} · {project}"),
        "projects:pipelines:show",
        main_html,
    );
    content.body_script = Some(pipeline_favicon_script());
    content
}

/// A large issue list: well over 6,000 DOM nodes, to keep content scripts honest about cost.
pub fn big_page() -> Content {
    let mut main_html = String::with_capacity(400_000);
    main_html.push_str("<h1 class=\"page-title\">Issues</h1>\n<div class=\"description md\"><p>1,500 open issues.</p></div>\n<ul class=\"content-list issuable-list issues-list\">\n");
    for n in 1..=1500 {
        main_html.push_str(&format!(
            "<li class=\"issue\" id=\"issue_{n}\"><div class=\"issue-title\"><a href=\"/gitlab-org/gitlab/-/issues/{n}\">Issue {n}: flaky spec in the stand-in</a></div><span class=\"issuable-reference\">#{n}</span></li>\n"
        ));
    }
    main_html.push_str("</ul><div id=\"issues-end\"></div>");
    let mut content = Content::new("Issues", "projects:issues:index", main_html);
    // Whether a frame lands mid-parse is a race in the renderer's scheduler; when one does,
    // style and layout of the half-parsed list add about 100 ms to the load (2 cores), in
    // a fifth to a half of loads, with or without the extension. The bench compares loads
    // of this page, so it paints once, after parsing.
    content.render_after = Some("issues-end");
    content
}

/// User content that imitates every stage signal, old and new. Real GitLab prefixes user ids
/// with `user-content-`, so no copy carries `id="js-peek"`, `id="peek-view-host"`,
/// `id="environment-info"` or `id="favicon"`.
fn hostile_copy(tag: &str) -> String {
    format!(
        concat!(
            "<div class=\"lookalike-{tag}\">",
            "<div id=\"user-content-js-peek\" class=\"production\" data-env=\"production\" data-request-id=\"fake\" data-peek-url=\"/-/peek/results\">",
            "<div id=\"user-content-peek-view-host\" class=\"view\"><span class=\"current-host canary\">\u{1F424} gitlab-cny-webservice-web-fake-00000</span></div></div>",
            "<span class=\"current-host canary\"><span><gl-emoji data-name=\"baby_chick\">\u{1F424}</gl-emoji></span> gitlab-cny-webservice-web-fake-00000</span>",
            "<div id=\"user-content-environment-info\" class=\"gl-modal\" role=\"dialog\">",
            "<gl-emoji data-testid=\"host-emoji\" data-name=\"computer\">\u{1F4BB}</gl-emoji><span>gitlab-cny-webservice-web-fake-00000</span>",
            "<gl-emoji data-testid=\"canary-emoji\" data-name=\"baby_chick\">\u{1F424}</gl-emoji><span>Request made from Canary</span></div>",
            "<p><img src=\"{yellow}\" alt=\"canary favicon\" width=\"16\" height=\"16\"></p>",
            "<link rel=\"icon\" type=\"image/png\" href=\"{yellow}\" data-original-href=\"{yellow}\">",
            "<a data-testid=\"canary-badge-link\" class=\"gl-badge badge-success\" href=\"https://next.gitlab.com\">Next</a>",
            "<aside class=\"js-super-sidebar\" data-sidebar='{{\"gitlab_com_and_canary\":true,\"gitlab_com_but_not_canary\":null,\"is_logged_in\":true}}'></aside>",
            "<p>&lt;script&gt;window.gon={{\"current_username\":\"fake\",\"revision\":\"0000000\"}};&lt;/script&gt;</p>",
            "<pre><code>&lt;div id=&quot;js-peek&quot; data-request-id=&quot;fake&quot;&gt;&lt;/div&gt;</code></pre>",
            "<pre><code>gl.snowplowStandardContext = {{&quot;data&quot;:{{&quot;host_name&quot;:&quot;gitlab-cny-webservice-web-fake&quot;}}}}</code></pre>",
            "<p>gitlab-cny-webservice-web-fake-00000 \u{1F424} canary Next</p>",
            "</div>"
        ),
        tag = tag,
        yellow = FAVICON_CANARY,
    )
}

/// An issue whose description (and title area) imitates the stage signals.
pub fn lookalike_page() -> Content {
    let before_aside = format!(
        "<div class=\"detail-page-header issue-sticky-header\"><h1 class=\"title\" data-testid=\"issue-title\">Canary look-alikes in user content</h1><div class=\"title-description md\">{}</div></div>",
        hostile_copy("title")
    );
    let main_html = format!(
        concat!(
            "<h1 class=\"title\">Canary look-alikes in user content</h1>\n",
            "<div class=\"description md\" data-testid=\"issue-description\">{}</div>"
        ),
        hostile_copy("description")
    );
    let mut content = Content::new(
        "Canary look-alikes in user content (#4242) · Issues",
        "projects:issues:show",
        main_html,
    );
    content.before_aside = Some(before_aside);
    content
}

/// `/<namespace…>/<project>/-/issues/<iid>`: the issue, its notes, and (signed in) a comment
/// form that posts to the notes API with the page's CSRF token.
pub fn issue_page(project: &Project, iid: u64, notes: &[&Note], signed_in: bool) -> Content {
    let mut list = String::new();
    for n in notes {
        list.push_str(&format!(
            "<li id=\"note_{id}\" class=\"note\" data-note-id=\"{id}\"><span class=\"note-author\">@{author}</span> <div class=\"note-text md\">{body}</div></li>",
            id = n.id,
            author = escape(n.author),
            body = escape(&n.body),
        ));
    }
    let form = if signed_in {
        format!(
            concat!(
                "<form id=\"new-note-form\" class=\"js-main-target-form\" data-testid=\"comment-form\" data-notes-url=\"/api/v4/projects/{enc}/issues/{iid}/notes\">",
                "<textarea id=\"note-body\" name=\"note[note]\" data-testid=\"comment-field\"></textarea>",
                "<button type=\"submit\" class=\"gl-button btn btn-confirm\" data-testid=\"comment-button\">Comment</button></form>",
                "<div id=\"note-status\" data-testid=\"note-status\" role=\"status\"></div>"
            ),
            enc = escape(&project.encoded()),
            iid = iid,
        )
    } else {
        "<p class=\"disabled-comment\" data-testid=\"sign-in-to-comment\">Please <a href=\"/users/sign_in\">sign in</a> to reply</p>".to_string()
    };
    let main_html = format!(
        concat!(
            "<h1 class=\"title\" data-testid=\"issue-title\">Issue #{iid}</h1>\n",
            "<div class=\"description md\" data-testid=\"issue-description\"><p>A stand-in issue in <code>{project}</code>.</p></div>\n",
            "<ul id=\"notes-list\" class=\"notes main-notes-list\" data-testid=\"notes-list\">{list}</ul>\n{form}"
        ),
        iid = iid,
        project = escape(&project.path),
        list = list,
        form = form,
    );
    let mut content = Content::new(
        format!("Issue #{iid} · Issues · {}", project.path),
        "projects:issues:show",
        main_html,
    );
    if signed_in {
        content.body_script = Some(format!("<script>{NOTE_FORM_JS}</script>"));
    }
    content
}

/// The comment form: `POST` JSON `{"body"}` with `X-CSRF-Token` from the page's meta tag; the
/// answer's status goes to `#note-status[data-status]`, a new note to `#notes-list`.
const NOTE_FORM_JS: &str = "(function(){var form=document.getElementById('new-note-form');if(!form)return;form.addEventListener('submit',function(e){e.preventDefault();var field=document.getElementById('note-body');var status=document.getElementById('note-status');var meta=document.querySelector('meta[name=csrf-token]');fetch(form.getAttribute('data-notes-url'),{method:'POST',credentials:'same-origin',headers:{'Content-Type':'application/json','Accept':'application/json','X-CSRF-Token':meta?meta.getAttribute('content'):''},body:JSON.stringify({body:field.value})}).then(function(r){return r.json().then(function(j){return{status:r.status,json:j};},function(){return{status:r.status,json:{}};});}).then(function(res){status.setAttribute('data-status',String(res.status));if(res.status===201){var li=document.createElement('li');li.id='note_'+res.json.id;li.className='note';li.setAttribute('data-note-id',String(res.json.id));var a=document.createElement('span');a.className='note-author';a.textContent='@'+res.json.author.username;var t=document.createElement('div');t.className='note-text md';t.textContent=res.json.body;li.appendChild(a);li.appendChild(document.createTextNode(' '));li.appendChild(t);document.getElementById('notes-list').appendChild(li);field.value='';status.textContent='Comment added (note '+res.json.id+')';}else{var m=res.json.message||res.json.error||'';status.textContent=res.status+' '+(typeof m==='string'?m:JSON.stringify(m));}}).catch(function(err){status.setAttribute('data-status','error');status.textContent=String(err);});});})();";

pub fn sign_in_page(csrf_token: &str, alert: Option<&str>) -> Content {
    let alert_html = alert
        .map(|a| {
            format!(
                "<div class=\"flash-container\"><div class=\"flash-alert\" data-testid=\"alert-danger\">{}</div></div>\n",
                escape(a)
            )
        })
        .unwrap_or_default();
    let main_html = format!(
        concat!(
            "{alert}<h1 class=\"gl-sr-only\">Sign in</h1>\n",
            "<form class=\"gl-show-field-errors js-sign-in-form\" id=\"new_user\" action=\"/users/sign_in\" accept-charset=\"UTF-8\" method=\"post\">",
            "<input type=\"hidden\" name=\"authenticity_token\" value=\"{token}\" autocomplete=\"off\">",
            "<label for=\"user_login\">Username or primary email</label>",
            "<input class=\"form-control gl-form-input\" autocomplete=\"username\" autofocus=\"autofocus\" id=\"user_login\" type=\"text\" name=\"user[login]\" data-testid=\"username-field\">",
            "<label for=\"user_password\">Password</label>",
            "<input class=\"form-control gl-form-input\" autocomplete=\"current-password\" id=\"user_password\" type=\"password\" name=\"user[password]\" data-testid=\"password-field\">",
            "<div class=\"gl-form-checkbox custom-control custom-checkbox\">",
            "<input name=\"user[remember_me]\" type=\"hidden\" value=\"0\" autocomplete=\"off\">",
            "<input class=\"custom-control-input\" type=\"checkbox\" value=\"1\" name=\"user[remember_me]\" id=\"user_remember_me\" data-testid=\"remember-me-checkbox\">",
            "<label class=\"custom-control-label\" for=\"user_remember_me\">Remember me</label></div>",
            "<button type=\"submit\" class=\"gl-button btn btn-confirm\" data-testid=\"sign-in-button\">Sign in</button>",
            "</form>"
        ),
        alert = alert_html,
        token = escape(csrf_token),
    );
    let mut content = Content::new("Sign in", "sessions:new", main_html);
    content.chrome = false;
    content
}

/// GitLab's public/422.html.
pub fn rejected_page() -> String {
    static_error(
        "422",
        "The change you requested was rejected.",
        "Make sure you have access to the thing you tried to change. Please contact your GitLab administrator if you think this is a mistake.",
    )
}

/// GitLab's public/404.html.
pub fn not_found_page() -> String {
    static_error(
        "404",
        "Page Not Found",
        "Make sure the address is correct and the page hasn't moved.",
    )
}

/// The page Workhorse/HAProxy shows when the stage fails (public/502.html and friends).
pub fn fault_page(status: u16) -> String {
    if status == 502 {
        static_error(
            "502",
            "Whoops, GitLab is taking too much time to respond.",
            "Try refreshing the page, or going back and attempting the action again.",
        )
    } else {
        static_error(
            &status.to_string(),
            "Whoops, something went wrong on our end.",
            "Try refreshing the page, or going back and attempting the action again.",
        )
    }
}

fn static_error(code: &str, headline: &str, text: &str) -> String {
    format!(
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{h} ({c})</title></head>",
            "<body><div class=\"container\"><h1>{c}</h1><div class=\"container\"><h3>{h}</h3><hr><p>{t}</p></div></div></body></html>\n"
        ),
        c = escape(code),
        h = escape(headline),
        t = escape(text),
    )
}

/// next.gitlab.com: shows the current choice, and "Current"/"Next" set the cookie for a year
/// on `.gitlab.com` (the real page's `public/index.js` does the same; it never deletes it).
pub fn next_switch_page(current_is_next: bool) -> String {
    let state = if current_is_next { "Next" } else { "Current" };
    format!(
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>GitLab Next</title></head>\n",
            "<body><main class=\"container\"><h1>GitLab Next</h1>\n",
            "<p>GitLab Next lets you use the canary stage of GitLab.com, where changes land first.</p>\n",
            "<p>You are currently using: <strong id=\"current-state\" data-testid=\"current-state\">{state}</strong></p>\n",
            "<button type=\"button\" id=\"switch-current\" data-testid=\"switch-current\" data-value=\"false\">Current</button>\n",
            "<button type=\"button\" id=\"switch-next\" data-testid=\"switch-next\" data-value=\"true\">Next</button>\n",
            "</main>\n<script>\n{script}</script></body></html>\n"
        ),
        state = state,
        script = NEXT_SWITCH_JS,
    )
}

const NEXT_SWITCH_JS: &str = r#"(function () {
  'use strict';
  function current() {
    var m = document.cookie.match(/(?:^|;\s*)gitlab_canary=([^;]*)/);
    return m && m[1] === 'true' ? 'Next' : 'Current';
  }
  function set(value) {
    var d = new Date();
    d.setTime(d.getTime() + 365 * 24 * 60 * 60 * 1000);
    document.cookie = 'gitlab_canary=' + value + ';domain=.gitlab.com;path=/;expires=' + d.toUTCString();
    document.getElementById('current-state').textContent = current();
  }
  document.getElementById('switch-current').addEventListener('click', function () { set(false); });
  document.getElementById('switch-next').addEventListener('click', function () { set(true); });
  document.getElementById('current-state').textContent = current();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::FAVICON_CI_RUNNING;
    use crate::routing::{classify_host, HostKind, SELF_MANAGED_HOST};
    use crate::session::USERS;

    fn env_of(host: &str) -> Environment {
        match classify_host(host) {
            HostKind::Routed(e) => e,
            _ => panic!("{host} not routed"),
        }
    }

    fn env() -> Environment {
        env_of("staging.gitlab.com")
    }

    const POD: &str = "gitlab-cny-webservice-web-bcdfghjkl-mnpqr";

    fn ctx<'a>(e: &'a Environment, stage: Stage, perf: bool) -> PageCtx<'a> {
        PageCtx {
            path: "/a/<b>",
            stage,
            env: e,
            request_id: "01JD3K8X2V5Q7R9T0W4Y6Z8A1B",
            method: "GET",
            pod: POD,
            user: USERS.first(),
            csrf_token: "tok",
            revision: "abc1234",
            markup: Markup::Current,
            perf_bar: perf,
            sidebar: true,
            favicon_override: None,
        }
    }

    /// The `data-sidebar` JSON of the real aside.
    fn sidebar(html: &str) -> serde_json::Value {
        sidebar_json_of(html).expect("the real aside's JSON")
    }

    /// The JSON assigned to `gl.snowplowStandardContext`.
    fn snowplow(html: &str) -> serde_json::Value {
        let raw = html
            .split("gl.snowplowStandardContext = ")
            .nth(1)
            .and_then(|r| r.split("; gl.snowplowPseudonymizedPageUrl").next())
            .unwrap_or_default();
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"))
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let v = json!({"a": "</script><!--\u{2028}"});
        let s = script_json(&v);
        assert!(!s.contains("</script>") && !s.contains("<!--") && !s.contains('\u{2028}'));
        assert_eq!(Markup::parse("legacy"), Some(Markup::Legacy));
        assert_eq!(Markup::parse("17"), None);
        assert_eq!(Markup::default().as_str(), "current");
        assert_eq!(favicon_override(Some("yellow")), Some(FAVICON_CANARY));
        assert_eq!(favicon_override(Some("plain")), Some(FAVICON_MAIN));
        assert_eq!(favicon_override(Some("custom")), Some(FAVICON_CUSTOM));
        assert_eq!(favicon_override(Some("x")), None);
        assert_eq!(favicon_override(None), None);
    }

    #[test]
    fn canary_page_markup() {
        let e = env();
        let c = ctx(&e, Stage::Canary, true);
        let html = layout(&c, &project_page(c.path));
        assert!(html.contains("<title>/a/&lt;b&gt; · GitLab</title>"));
        let body = html.split("<body").nth(1).unwrap_or_default();
        let first_child = body.split_once(">\n").map(|(_, r)| r).unwrap_or_default();
        assert!(
            first_child.starts_with("<div id=\"js-peek\" class=\"staging\" data-env=\"staging\"")
        );
        // GitLab 18: no Next badge, no "Switch to GitLab Next" on canary.
        assert!(!html.contains("canary-badge-link"));
        assert!(!html.contains("data-testid=\"gitlab-next-item\""));
        let sb = sidebar(&html);
        assert_eq!(sb["is_logged_in"], true);
        assert_eq!(sb["gitlab_com_and_canary"], true);
        assert_eq!(sb["gitlab_com_but_not_canary"], json!(null));
        assert_eq!(sb["canary_toggle_com_url"], CANARY_TOGGLE_URL);
        assert!(html.contains("\"current_username\":\"qa-user\""));
        assert!(html.contains("\"version\":\"18.6.0-pre\""));
        assert!(html.contains("data-testid=\"sign-out-link\""));
        assert_eq!(html.matches("id=\"js-peek\"").count(), 1);
        let icon = format!("<link rel=\"icon\" type=\"image/png\" href=\"{FAVICON_CANARY}\" id=\"favicon\" data-original-href=\"{FAVICON_CANARY}\">");
        let head = html.split("</head>").next().unwrap_or_default();
        assert!(head.contains(&icon), "{head}");
        assert!(head.contains("<script>window.snowplowOptions = {"));
        assert!(head.contains("; gl = window.gl || {}; gl.snowplowStandardContext = {"));
        assert!(head.contains("gl.snowplowPseudonymizedPageUrl = \"https://staging.gitlab.com/a/\\u003cb\\u003e\";</script>"));
        assert_eq!(
            snowplow(&html),
            json!({"schema": "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-7", "data": {
                "environment": "staging", "source": "gitlab-rails", "plan": "free", "extra": {},
                "user_id": null, "is_gitlab_team_member": null, "namespace_id": null,
                "project_id": null, "feature_enabled_by_namespace_ids": null, "realm": "saas",
                "instance_id": null, "host_name": "staging.gitlab.com",
                "correlation_id": "01JD3K8X2V5Q7R9T0W4Y6Z8A1B"}})
        );
        assert!(!html.contains(FAVICON_CI_RUNNING));
    }

    #[test]
    fn main_page_markup() {
        let e = env();
        let mut c = ctx(&e, Stage::Main, false);
        let html = layout(&c, &project_page(c.path));
        assert!(html
            .contains("<a data-testid=\"gitlab-next-item\" href=\"#\">Switch to GitLab Next</a>"));
        let sb = sidebar(&html);
        assert_eq!(sb["gitlab_com_and_canary"], json!(null));
        assert_eq!(sb["gitlab_com_but_not_canary"], true);
        assert!(html.contains(&format!("href=\"{FAVICON_MAIN}\" id=\"favicon\"")));

        c.user = None;
        let html = layout(&c, &project_page(c.path));
        assert!(!html.contains("id=\"js-peek\""));
        assert!(
            !html.contains("canary-badge-link")
                && !html.contains("data-testid=\"gitlab-next-item\"")
        );
        let sb = sidebar(&html);
        assert_eq!(sb["is_logged_in"], false);
        for key in [
            "gitlab_com_and_canary",
            "gitlab_com_but_not_canary",
            "canary_toggle_com_url",
        ] {
            assert!(sb.get(key).is_none(), "signed out: no {key}");
        }
        assert!(html.contains("\"current_username\":null"));
        assert!(html.contains("data-testid=\"sign-in-link\""));
    }

    #[test]
    fn legacy_markup() {
        let e = env();
        let mut c = ctx(&e, Stage::Canary, true);
        c.markup = Markup::Legacy;
        let html = layout(&c, &project_page(c.path));
        assert!(html.contains("data-testid=\"canary-badge-link\""));
        assert!(!html.contains("data-testid=\"gitlab-next-item\""));
        assert!(html.contains("\"version\":\"17.7.0-pre\""));
        let sp = snowplow(&html);
        assert_eq!(
            sp["schema"],
            "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-1"
        );
        assert_eq!(sp["data"]["host_name"], POD);
        assert_eq!(sidebar(&html)["gitlab_com_and_canary"], true);
        // The badge needs a signed-in user, and canary.
        c.user = None;
        assert!(!layout(&c, &project_page(c.path)).contains("canary-badge-link"));
        c.user = USERS.first();
        c.stage = Stage::Main;
        let main = layout(&c, &project_page(c.path));
        assert!(
            !main.contains("canary-badge-link")
                && !main.contains("data-testid=\"gitlab-next-item\"")
        );
    }

    #[test]
    fn self_managed_is_not_gitlab_com() {
        let e = env_of(SELF_MANAGED_HOST);
        for markup in [Markup::Current, Markup::Legacy] {
            for stage in [Stage::Canary, Stage::Main] {
                let mut c = ctx(&e, stage, false);
                c.markup = markup;
                let html = layout(&c, &project_page(c.path));
                let sb = sidebar(&html);
                assert_eq!(sb["gitlab_com_and_canary"], json!(null));
                assert_eq!(sb["gitlab_com_but_not_canary"], json!(null));
                assert_eq!(sb["is_logged_in"], true);
                assert!(html.contains(&format!("href=\"{FAVICON_MAIN}\" id=\"favicon\"")));
                assert!(
                    !html.contains("canary-badge-link")
                        && !html.contains("data-testid=\"gitlab-next-item\"")
                );
                assert_eq!(snowplow(&html)["data"]["realm"], "self-managed");
                c.favicon_override = favicon_override(Some("custom"));
                let custom = layout(&c, &project_page(c.path));
                assert!(custom.contains(&format!(
                    "href=\"{FAVICON_CUSTOM}\" id=\"favicon\" data-original-href=\"{FAVICON_CUSTOM}\""
                )));
            }
        }
    }

    #[test]
    fn pipeline_pages_swap_the_favicon_at_load() {
        assert_eq!(
            project_sub_page("/gitlab-org/gitlab/-/pipelines/123", "pipelines"),
            Some(("gitlab-org/gitlab", "123"))
        );
        assert_eq!(
            project_sub_page("/a/b/c/-/pipelines/7", "pipelines"),
            Some(("a/b/c", "7"))
        );
        for bad in [
            "/gitlab/-/pipelines/1",
            "/a/b/-/pipelines/",
            "/a/b/-/pipelines/1/jobs",
            "/a/b/-/pipelines/x",
            "/a//b/-/pipelines/1",
            "/a/b/-/issues/1",
        ] {
            assert_eq!(project_sub_page(bad, "pipelines"), None, "{bad}");
        }
        let e = env();
        let c = ctx(&e, Stage::Canary, false);
        let html = layout(&c, &pipeline_page("g/p", "9"));
        assert!(html.contains(&format!(
            "id=\"favicon\" data-original-href=\"{FAVICON_CANARY}\""
        )));
        assert!(html.contains("window.addEventListener('load',"));
        assert!(html.contains(&format!("f.setAttribute('href','{FAVICON_CI_RUNNING}')")));
        assert!(html.contains("data-page=\"projects:pipelines:show\""));
        assert!(pseudonymized_url(&PageCtx {
            path: "/g/p/-/pipelines/9",
            ..ctx(&e, Stage::Main, false)
        })
        .starts_with("https://staging.gitlab.com/namespace"));
    }

    #[test]
    fn lookalike_never_repeats_real_ids() {
        let e = env();
        for markup in [Markup::Current, Markup::Legacy] {
            let mut c = ctx(&e, Stage::Main, true);
            c.markup = markup;
            let html = layout(&c, &lookalike_page());
            assert_eq!(html.matches("id=\"js-peek\"").count(), 1);
            assert_eq!(html.matches("id=\"favicon\"").count(), 1);
            for id in ["peek-view-host", "environment-info"] {
                assert!(!html.contains(&format!("id=\"{id}\"")), "{id}");
                assert_eq!(
                    html.matches(&format!("id=\"user-content-{id}\"")).count(),
                    2
                );
            }
            let hostile_aside = html.find("data-sidebar='").unwrap_or(usize::MAX);
            let real_aside = html.find("super-sidebar-loading").unwrap_or(0);
            assert!(hostile_aside < real_aside);
            assert_eq!(
                html.matches("gitlab-cny-webservice-web-fake-00000").count(),
                8
            );
            let body = html.split("<body").nth(1).unwrap_or_default();
            assert_eq!(
                body.matches(&format!("<img src=\"{FAVICON_CANARY}\""))
                    .count(),
                2
            );
            assert_eq!(body.matches("<link rel=\"icon\"").count(), 2);
            assert_eq!(body.matches("data-testid=\"canary-badge-link\"").count(), 2);
            assert_eq!(body.matches("gl.snowplowStandardContext = {&quot;data&quot;:{&quot;host_name&quot;:&quot;gitlab-cny-webservice-web-fake&quot;}}").count(), 2);
            // The real markup still says main.
            assert!(html.contains(&format!("href=\"{FAVICON_MAIN}\" id=\"favicon\"")));
            assert_eq!(sidebar(&html)["gitlab_com_but_not_canary"], true);
        }
    }

    #[test]
    fn big_page_is_big() {
        let html = big_page().main_html;
        assert!(html.matches('<').count() - html.matches("</").count() >= 6000);
    }

    #[test]
    fn sign_in_form_has_remember_me() {
        let html = sign_in_page("tok", None).main_html;
        let hidden = html
            .find("<input name=\"user[remember_me]\" type=\"hidden\" value=\"0\"")
            .unwrap_or(usize::MAX);
        let checkbox = html.find("<input class=\"custom-control-input\" type=\"checkbox\" value=\"1\" name=\"user[remember_me]\" id=\"user_remember_me\" data-testid=\"remember-me-checkbox\">").unwrap_or(0);
        assert!(
            hidden < checkbox,
            "the hidden 0 comes first, as Rails renders it"
        );
    }
}
