# frozen_string_literal: true

# The markup the extension reads, in the shapes www/src/pages.rs renders for GitLab 18 (see
# shared/GITLAB-FACTS.md, "Which stage served a page"): the favicon, the CSRF meta tags, `gon`,
# `body > #js-peek`, the super sidebar's `data-sidebar`, the user menu and Devise's sign-in form.
# Small pages, no assets beyond the favicons.

require 'erb'
require 'json'

module Standin
  module Markup
    include ERB::Util
    extend ERB::Util

    Ctx = Struct.new(:stage_canary, :pod, :user, :csrf_token, :request_id, :path, :host, :perf_bar,
                     keyword_init: true) do
      # Any GitLab.com environment, not a self-managed host.
      def gitlab_com?
        host == 'gitlab.com' || host.end_with?('.gitlab.com')
      end

      def canary?
        stage_canary && gitlab_com?
      end

      def env_name
        case host
        when 'gitlab.com' then 'production'
        when 'staging.gitlab.com' then 'staging'
        when /\A([^.]+)\.gitlab\.com\z/ then Regexp.last_match(1)
        else 'self-managed'
        end
      end

      def env_short
        { 'production' => 'gprd', 'staging' => 'gstg', 'self-managed' => 'self' }.fetch(env_name, env_name)
      end

      # Gitlab::Favicon.main: favicon-yellow where ENV['CANARY'] is set.
      def favicon
        canary? ? FAVICON_CANARY : FAVICON_MAIN
      end
    end

    # rails-ujs in a few lines (the same as www's pages): links with `data-method` submit a form
    # carrying the CSRF token; the main stage's "Switch to GitLab Next" item sets the cookie.
    UJS = <<~'JS'.strip
      <script>document.addEventListener('click',function(e){var n=e.target&&e.target.closest?e.target.closest('a[data-testid=gitlab-next-item]'):null;if(n){e.preventDefault();var d=new Date();d.setTime(d.getTime()+365*24*60*60*1000);document.cookie='gitlab_canary=true;domain=.gitlab.com;path=/;expires='+d.toUTCString();window.location.reload();return;}var a=e.target&&e.target.closest?e.target.closest('a[data-method]'):null;if(!a)return;e.preventDefault();var f=document.createElement('form');f.method='post';f.action=a.getAttribute('href');var m=document.querySelector('meta[name="csrf-token"]');var t=document.createElement('input');t.type='hidden';t.name='authenticity_token';t.value=m?m.getAttribute('content'):'';f.appendChild(t);if(a.getAttribute('data-method').toLowerCase()!=='post'){var x=document.createElement('input');x.type='hidden';x.name='_method';x.value=a.getAttribute('data-method');f.appendChild(x);}document.body.appendChild(f);f.submit();});</script>
    JS

    CSS = 'body{margin:0;font:14px/1.5 system-ui,sans-serif;color:#333238}' \
          '#js-peek{background:#1f1e24;color:#ececef;min-height:20px}' \
          '.top-bar-container{display:flex;gap:12px;padding:8px 16px;border-bottom:1px solid #dcdcde}' \
          'main{padding:16px 24px}form label,form input,form button{display:block;margin:6px 0}' \
          '.flash-alert{background:#fdd4cd;color:#8d1300;padding:8px 12px}'

    module_function

    def sidebar_json(ctx)
      data = { is_logged_in: !ctx.user.nil? }
      if ctx.user
        flag = ->(on) { on ? true : nil }
        data[:gitlab_com_and_canary] = flag.call(ctx.gitlab_com? && ctx.stage_canary)
        data[:gitlab_com_but_not_canary] = flag.call(ctx.gitlab_com? && !ctx.stage_canary)
        data[:canary_toggle_com_url] = 'https://next.gitlab.com'
        data[:username] = ctx.user.username
        data[:name] = ctx.user.name
        data[:sign_out_link] = '/users/sign_out'
      end
      data.to_json
    end

    def gon_json(ctx)
      {
        version: '18.6.0-pre',
        current_username: ctx.user&.username,
        current_user_id: ctx.user&.id,
        current_user_fullname: ctx.user&.name,
        gitlab_url: "https://#{ctx.host}",
      }.to_json
    end

    def head(ctx, title, data_page)
      <<~HTML
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>#{h title} · GitLab</title>
        <link rel="icon" type="image/png" href="#{ctx.favicon}" id="favicon" data-original-href="#{ctx.favicon}">
        <meta name="csrf-param" content="authenticity_token">
        <meta name="csrf-token" content="#{h ctx.csrf_token}">
        <script>window.gon=#{json_escape(gon_json(ctx))};</script>
        <style>#{CSS}</style>
        </head><body class="ui-neutral" data-page="#{data_page}">
      HTML
    end

    def peek_div(ctx)
      return '' unless ctx.perf_bar

      env = h(ctx.env_name)
      rid = h(ctx.request_id)
      %(<div id="js-peek" class="#{env}" data-env="#{env}" data-request-id="#{rid}" data-request-method="GET" ) +
        %(data-peek-url="/-/peek/results" data-stats-url="https://log.#{h ctx.env_short}.gitlab.net/app/dashboards?correlation_id=#{rid}"></div>\n)
    end

    def header(ctx)
      out = +'<header class="top-bar-container" data-testid="top-bar"><a class="brand-logo" href="/">GitLab</a>'
      if ctx.user
        next_item = !ctx.stage_canary && ctx.gitlab_com? ? '<a data-testid="gitlab-next-item" href="#">Switch to GitLab Next</a> ' : ''
        out << %( <div class="user-bar" data-testid="user-menu"><span class="user-name" data-testid="user-name">#{h ctx.user.name}</span> ) +
               %(<span class="user-username">@#{h ctx.user.username}</span> #{next_item}) +
               %(<a data-testid="sign-out-link" data-method="post" rel="nofollow" href="/users/sign_out">Sign out</a></div>)
      else
        out << ' <a class="gl-button btn btn-default" data-testid="sign-in-link" href="/users/sign_in">Sign in</a>'
      end
      out << "</header>\n"
    end

    def project_page(ctx)
      title = ctx.path == '/' ? 'Projects' : ctx.path.delete_prefix('/')
      saas = ctx.gitlab_com? ? ' data-is-saas="true"' : ''
      head(ctx, title, 'projects:show') +
        peek_div(ctx) +
        %(<div class="layout-page">\n) +
        %(<aside class="js-super-sidebar super-sidebar-loading" data-root-path="/"#{saas} data-sidebar="#{h sidebar_json(ctx)}"></aside>\n) +
        header(ctx) +
        %(<main id="content-body" class="content">\n<h1 class="home-panel-title" data-testid="project-name-content">#{h title}</h1>\n) +
        %(<p data-testid="served-by">#{h ctx.pod}</p>\n</main>\n</div>\n#{UJS}\n</body></html>\n)
    end

    def sign_in_page(ctx, alert)
      alert_html = alert ? %(<div class="flash-container"><div class="flash-alert" data-testid="alert-danger">#{h alert}</div></div>\n) : ''
      head(ctx, 'Sign in', 'sessions:new') +
        peek_div(ctx) +
        %(<div class="layout-page">\n<main id="content-body" class="content">\n#{alert_html}<h1 class="gl-sr-only">Sign in</h1>\n) +
        %(<form class="gl-show-field-errors js-sign-in-form" id="new_user" action="/users/sign_in" accept-charset="UTF-8" method="post">) +
        %(<input type="hidden" name="authenticity_token" value="#{h ctx.csrf_token}" autocomplete="off">) +
        %(<label for="user_login">Username or primary email</label>) +
        %(<input class="form-control gl-form-input" autocomplete="username" autofocus="autofocus" id="user_login" type="text" name="user[login]" data-testid="username-field">) +
        %(<label for="user_password">Password</label>) +
        %(<input class="form-control gl-form-input" autocomplete="current-password" id="user_password" type="password" name="user[password]" data-testid="password-field">) +
        %(<div class="gl-form-checkbox custom-control custom-checkbox">) +
        %(<input name="user[remember_me]" type="hidden" value="0" autocomplete="off">) +
        %(<input class="custom-control-input" type="checkbox" value="1" name="user[remember_me]" id="user_remember_me" data-testid="remember-me-checkbox">) +
        %(<label class="custom-control-label" for="user_remember_me">Remember me</label></div>) +
        %(<button type="submit" class="gl-button btn btn-confirm" data-testid="sign-in-button">Sign in</button></form>\n) +
        %(</main>\n</div>\n</body></html>\n)
    end
  end
end
