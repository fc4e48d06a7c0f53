//! HTML and JS in GitLab's shape. The extension's content script reads this markup, so the
//! ids, classes and data attributes follow GitLab's views (see shared/GITLAB-FACTS.md).

use serde_json::json;

use crate::routing::{Environment, Stage};
use crate::session::User;

pub const GITLAB_VERSION: &str = "17.7.0-pre";
pub const CANARY_TOGGLE_URL: &str = "https://next.gitlab.com";

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

/// JSON safe inside an inline `<script>`: no `</script>` or `<!--` can close it.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Everything a page needs to know about the request that asked for it.
pub struct PageCtx<'a> {
    pub path: &'a str,
    pub stage: Stage,
    pub env: &'a Environment,
    pub request_id: &'a str,
    pub method: &'a str,
    pub user: Option<&'static User>,
    pub csrf_token: &'a str,
    pub revision: &'a str,
    /// Cookie `perf_bar_enabled=true` and no `perf=none` in the query.
    pub perf_bar: bool,
    /// Not `sidebar=none` in the query.
    pub sidebar: bool,
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
}

fn sidebar_json(ctx: &PageCtx) -> serde_json::Value {
    let canary = ctx.stage == Stage::Canary;
    let link = escape(ctx.path);
    let mut v = json!({
        "is_logged_in": ctx.user.is_some(),
        "gitlab_com_and_canary": if canary { json!(true) } else { json!(null) },
        "gitlab_com_but_not_canary": if canary { json!(null) } else { json!(true) },
        "canary_toggle_com_url": CANARY_TOGGLE_URL,
        "current_menu_items": [
            {"id": "project_overview", "title": "Project overview", "icon": "project", "link": link},
            {"id": "issues", "title": "Issues", "icon": "issues", "link": format!("{}/-/issues", ctx.path.trim_end_matches('/'))},
            {"id": "merge_requests", "title": "Merge requests", "icon": "merge-request", "link": format!("{}/-/merge_requests", ctx.path.trim_end_matches('/'))},
            {"id": "pipelines", "title": "Pipelines", "icon": "rocket", "link": format!("{}/-/pipelines", ctx.path.trim_end_matches('/'))},
        ],
    });
    if let (Some(user), Some(obj)) = (ctx.user, v.as_object_mut()) {
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
    v
}

fn gon_json(ctx: &PageCtx) -> serde_json::Value {
    json!({
        "version": GITLAB_VERSION,
        "revision": ctx.revision,
        "current_username": ctx.user.map(|u| u.username),
        "current_user_id": ctx.user.map(|u| u.id),
        "current_user_fullname": ctx.user.map(|u| u.name),
        "gitlab_url": format!("https://{}", host_of(ctx.env)),
    })
}

fn host_of(env: &Environment) -> String {
    match env.name.as_str() {
        "production" => "gitlab.com".to_string(),
        other => format!("{other}.gitlab.com"),
    }
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
    if ctx.stage == Stage::Canary {
        h.push_str(r#" <a data-testid="canary-badge-link" class="gl-badge badge badge-pill badge-success gl-badge-sm" href="https://next.gitlab.com">Next</a>"#);
    }
    match ctx.user {
        Some(user) => h.push_str(&format!(
            concat!(
                r#" <div class="user-bar" data-testid="user-menu"><span class="user-name" data-testid="user-name">{name}</span> "#,
                r#"<span class="user-username">@{username}</span> "#,
                r#"<a data-testid="sign-out-link" data-method="post" rel="nofollow" href="/users/sign_out">Sign out</a></div>"#
            ),
            name = escape(user.name),
            username = escape(user.username),
        )),
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
    "#js-peek .current-host.canary{color:#fdd9a3}",
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
const UJS: &str = r#"<script>document.addEventListener('click',function(e){var a=e.target&&e.target.closest?e.target.closest('a[data-method]'):null;if(!a)return;e.preventDefault();var f=document.createElement('form');f.method='post';f.action=a.getAttribute('href');var m=document.querySelector('meta[name="csrf-token"]');var t=document.createElement('input');t.type='hidden';t.name='authenticity_token';t.value=m?m.getAttribute('content'):'';f.appendChild(t);if(a.getAttribute('data-method').toLowerCase()!=='post'){var x=document.createElement('input');x.type='hidden';x.name='_method';x.value=a.getAttribute('data-method');f.appendChild(x);}document.body.appendChild(f);f.submit();});</script>"#;

pub fn layout(ctx: &PageCtx, content: &Content) -> String {
    let mut out = String::with_capacity(content.main_html.len() + 4096);
    out.push_str(&format!(
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · GitLab</title>\n",
            "<meta name=\"csrf-param\" content=\"authenticity_token\">\n",
            "<meta name=\"csrf-token\" content=\"{token}\">\n",
            "<script>window.gon={gon};</script>\n",
            "<style>{css}</style>\n{expect}",
            "</head><body class=\"ui-neutral\" data-page=\"{page}\">\n"
        ),
        title = escape(&content.title),
        token = escape(ctx.csrf_token),
        gon = script_json(&gon_json(ctx)),
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
    out.push_str("\n<script src=\"/assets/perf_bar.js\" defer></script></body></html>\n");
    out
}

/// An ordinary project-like page titled by its path.
pub fn project_page(path: &str) -> Content {
    let title = path.to_string();
    let main_html = format!(
        concat!(
            "<h1 class=\"home-panel-title\" data-testid=\"project-name-content\">{t}</h1>\n",
            "<div class=\"description md\" data-testid=\"project-description\">",
            "<p>A stand-in page for <code>{t}</code>. The project is fictional; its text is user content.</p>",
            "<ul><li>Fork</li><li>Star</li><li>Clone</li></ul></div>"
        ),
        t = escape(&title)
    );
    Content {
        title,
        data_page: "projects:show",
        main_html,
        before_aside: None,
        chrome: true,
        render_after: None,
    }
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
    Content {
        title: "Issues".into(),
        data_page: "projects:issues:index",
        main_html,
        before_aside: None,
        chrome: true,
        // Whether a frame lands mid-parse is a race in the renderer's scheduler; when one does,
        // style and layout of the half-parsed list add about 100 ms to the load (2 cores), in
        // a fifth to a half of loads, with or without the extension. The bench compares loads
        // of this page, so it paints once, after parsing.
        render_after: Some("issues-end"),
    }
}

/// User content that imitates every stage signal. Real GitLab prefixes user ids with
/// `user-content-`, so no copy carries `id="js-peek"` or `id="peek-view-host"`.
fn hostile_copy(tag: &str) -> String {
    format!(
        concat!(
            "<div class=\"lookalike-{tag}\">",
            "<div id=\"user-content-js-peek\" class=\"production\" data-env=\"production\" data-request-id=\"fake\" data-peek-url=\"/-/peek/results\">",
            "<div id=\"user-content-peek-view-host\" class=\"view\"><span class=\"current-host canary\">\u{1F424} gitlab-cny-webservice-web-fake-00000</span></div></div>",
            "<span class=\"current-host canary\">\u{1F424} gitlab-cny-webservice-web-fake-00000</span>",
            "<a data-testid=\"canary-badge-link\" class=\"gl-badge badge-success\" href=\"https://next.gitlab.com\">Next</a>",
            "<aside class=\"js-super-sidebar\" data-sidebar='{{\"gitlab_com_and_canary\":true,\"gitlab_com_but_not_canary\":null,\"is_logged_in\":false}}'></aside>",
            "<p>&lt;script&gt;window.gon={{\"current_username\":\"fake\",\"revision\":\"0000000\"}};&lt;/script&gt;</p>",
            "<pre><code>&lt;div id=&quot;js-peek&quot; data-request-id=&quot;fake&quot;&gt;&lt;/div&gt;</code></pre>",
            "<p>gitlab-cny-webservice-web-fake-00000 \u{1F424} canary Next</p>",
            "</div>"
        ),
        tag = tag
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
    Content {
        title: "Canary look-alikes in user content (#4242) · Issues".into(),
        data_page: "projects:issues:show",
        main_html,
        before_aside: Some(before_aside),
        chrome: true,
        render_after: None,
    }
}

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
            "<button type=\"submit\" class=\"gl-button btn btn-confirm\" data-testid=\"sign-in-button\">Sign in</button>",
            "</form>"
        ),
        alert = alert_html,
        token = escape(csrf_token),
    );
    Content {
        title: "Sign in".into(),
        data_page: "sessions:new",
        main_html,
        before_aside: None,
        chrome: false,
        render_after: None,
    }
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

/// /assets/perf_bar.js: plays the Vue performance bar. After a delay it asks the peek
/// endpoint about this page's request (as the real bar does) and renders the host.
pub fn perf_bar_js(default_delay_ms: u64) -> String {
    PERF_BAR_JS.replace("__DEFAULT_DELAY_MS__", &default_delay_ms.to_string())
}

const PERF_BAR_JS: &str = r#"// Stand-in for GitLab's performance bar (performance_bar_app.vue): renders
// <div id="peek-view-host" class="view"><span class="current-host [canary]">[🐤 ]POD</span></div>
(function () {
  'use strict';
  var params = new URLSearchParams(window.location.search);
  // perf=stuck: the markup is there but the bar never renders (clients fall back to peek JSON).
  if (params.get('perf') === 'stuck') { return; }
  var delay = parseInt(params.get('perf_delay'), 10);
  if (!(delay >= 0)) { delay = __DEFAULT_DELAY_MS__; }
  function render(data) {
    var peek = document.getElementById('js-peek');
    if (!peek || !data || !data.host || document.getElementById('peek-view-host')) { return; }
    var view = document.createElement('div');
    view.id = 'peek-view-host';
    view.className = 'view';
    var span = document.createElement('span');
    span.className = data.host.canary ? 'current-host canary' : 'current-host';
    span.textContent = (data.host.canary ? '\uD83D\uDC24 ' : '') + data.host.hostname;
    view.appendChild(span);
    peek.appendChild(view);
  }
  function load() {
    var peek = document.getElementById('js-peek');
    if (!peek) { return; }
    var url = peek.getAttribute('data-peek-url') + '?request_id=' +
      encodeURIComponent(peek.getAttribute('data-request-id') || '');
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(render)
      .catch(function (err) { console.warn('performance bar: peek request failed', err); });
  }
  setTimeout(load, delay);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{classify_host, HostKind};
    use crate::session::USERS;

    fn env() -> Environment {
        match classify_host("staging.gitlab.com") {
            HostKind::Routed(e) => e,
            _ => panic!("staging not routed"),
        }
    }

    fn ctx<'a>(e: &'a Environment, stage: Stage, perf: bool) -> PageCtx<'a> {
        PageCtx {
            path: "/a/<b>",
            stage,
            env: e,
            request_id: "01JD3K8X2V5Q7R9T0W4Y6Z8A1B",
            method: "GET",
            user: USERS.first(),
            csrf_token: "tok",
            revision: "abc1234",
            perf_bar: perf,
            sidebar: true,
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let v = json!({"a": "</script><!--"});
        assert!(!script_json(&v).contains("</script>"));
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
        assert!(html.contains("data-testid=\"canary-badge-link\""));
        assert!(html.contains("&quot;gitlab_com_and_canary&quot;:true"));
        assert!(html.contains("&quot;gitlab_com_but_not_canary&quot;:null"));
        assert!(html.contains("&quot;is_logged_in&quot;:true"));
        assert!(html.contains("\"current_username\":\"qa-user\""));
        assert!(html.contains("data-testid=\"sign-out-link\""));
        assert_eq!(html.matches("id=\"js-peek\"").count(), 1);
    }

    #[test]
    fn main_page_markup() {
        let e = env();
        let mut c = ctx(&e, Stage::Main, false);
        c.user = None;
        let html = layout(&c, &project_page(c.path));
        assert!(!html.contains("id=\"js-peek\""));
        assert!(!html.contains("canary-badge-link"));
        assert!(html.contains("&quot;gitlab_com_and_canary&quot;:null"));
        assert!(html.contains("&quot;gitlab_com_but_not_canary&quot;:true"));
        assert!(html.contains("&quot;is_logged_in&quot;:false"));
        assert!(html.contains("\"current_username\":null"));
    }

    #[test]
    fn lookalike_never_repeats_real_ids() {
        let e = env();
        let c = ctx(&e, Stage::Main, true);
        let html = layout(&c, &lookalike_page());
        assert_eq!(html.matches("id=\"js-peek\"").count(), 1);
        assert!(!html.contains("id=\"peek-view-host\""));
        let hostile_aside = html.find("data-sidebar='").unwrap_or(usize::MAX);
        let real_aside = html.find("super-sidebar-loading").unwrap_or(0);
        assert!(hostile_aside < real_aside);
        assert_eq!(
            html.matches("gitlab-cny-webservice-web-fake-00000").count(),
            6
        );
    }

    #[test]
    fn big_page_is_big() {
        let html = big_page().main_html;
        assert!(html.matches('<').count() - html.matches("</").count() >= 6000);
    }
}
