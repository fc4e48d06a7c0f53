# frozen_string_literal: true

# A small GitLab-like Rails 6.1 app for the end-to-end tests: Devise (database_authenticatable +
# rememberable), the session store of GitLab's seed change (redis-actionpack's RedisStore or
# Rails' CacheStore over RedisCacheStore, each with or without GitLab's compatibility coders),
# `/api/v4/user`, the peek results and the markup the extension reads. Debian's gems only.
# See README.md. Settings come from the environment (one puma process per stage):
#
#   CANARY=true|false   HOSTNAME=<pod>            like GitLab's pods
#   SESSION_STORE=redis_store|cache_store         the store this stage runs
#   SESSION_KEYS=gitlab|rails                     cache_store's Redis keys (see README.md)
#   SESSION_CODER=none|compat                     GitLab's compatibility coders
#   REDIS_URL=redis://127.0.0.1:PORT/0            the Redis both stages share
#   DATABASE_PATH=/tmp/…/users.sqlite3            the users both stages share
#   ERROR_LOG=/tmp/…/main.log                     this stage's error log

require 'logger'
require 'json'
require 'zlib'
require 'rails'
require 'active_record/railtie'
require 'action_controller/railtie'
require 'action_view/railtie'
require 'devise'
require 'redis'
require 'redis-actionpack'
require 'active_support/cache/redis_cache_store'

module Standin
  def self.env(name, default = nil, allowed: nil)
    value = ENV.fetch(name, default)
    abort "tests/rails: #{name} is not set" if value.nil? || value.empty?
    if allowed && !allowed.include?(value)
      abort "tests/rails: #{name}=#{value.inspect}, expected one of #{allowed.join(', ')}"
    end
    value
  end

  CANARY = %w[true 1 yes].include?(ENV.fetch('CANARY', 'false').downcase)
  HOSTNAME = env('HOSTNAME')
  SESSION_STORE = env('SESSION_STORE', 'redis_store', allowed: %w[redis_store cache_store])
  SESSION_KEYS = env('SESSION_KEYS', 'gitlab', allowed: %w[gitlab rails])
  SESSION_CODER = env('SESSION_CODER', 'none', allowed: %w[none compat])
  REDIS_URL = env('REDIS_URL')
  DATABASE_PATH = env('DATABASE_PATH')
  ERROR_LOG = env('ERROR_LOG')

  # GitLab's `Gitlab::Redis::Sessions::SESSION_NAMESPACE`.
  SESSION_NAMESPACE = 'session:gitlab'
  COOKIE = '_gitlab_session'
  SESSION_EXPIRE = 1.week

  FAVICON_MAIN = '/assets/favicon-32a692c22f840557b511bdb2ddf2a504ddae7c3fcd1a535269f7b321931b8284.png'
  FAVICON_CANARY = '/assets/favicon-yellow-84482a3d2d1bc5bfac60276055771fb9a3ca8513a6c0817a00ad85980d45b3c0.png'

  USERS = [
    { id: 101, username: 'qa-user', name: 'QA User', password: 'correct-horse-battery' },
    { id: 102, username: 'other-user', name: 'Other User', password: 'staple-horse-battery' },
  ].freeze

  def self.redis_options
    uri = URI.parse(REDIS_URL)
    { host: uri.host, port: uri.port, db: uri.path.delete('/').then { |d| d.empty? ? 0 : d.to_i } }
  end

  # One connection per process for the peek results (redis-rb 4 clients are thread-safe).
  def self.redis
    @redis ||= Redis.new(**redis_options)
  end

  # GitLab's Gitlab::Sessions::CacheStoreCoder (MR !176108): the cache store reads the old
  # store's sessions, Marshal'd Hashes, by wrapping them in an Entry.
  module CacheStoreCoder
    def self.dump(entry)
      Marshal.dump(entry)
    end

    def self.load(payload)
      value = Marshal.load(payload)
      value.is_a?(ActiveSupport::Cache::Entry) ? value : ActiveSupport::Cache::Entry.new(value)
    end
  end

  # GitLab's Gitlab::Sessions::RedisStoreSerializer (MR !176876): the old store reads the new
  # store's sessions, ActiveSupport::Cache::Entry objects, by unwrapping them.
  module RedisStoreSerializer
    def self.dump(value)
      Marshal.dump(value)
    end

    def self.load(payload)
      value = Marshal.load(payload)
      value.is_a?(ActiveSupport::Cache::Entry) ? value.value : value
    end
  end

  # `SESSION_KEYS=gitlab`: the cache store's keys are the RedisStore's, `session:gitlab:<private
  # id>` (GitLab's Gitlab::Sessions::CacheStore drops Rails' `_session_id:` prefix), so both
  # stores meet the same sessions.
  class GitlabKeysCacheStore < ActionDispatch::Session::CacheStore
    private

    def cache_key(id)
      id.to_s
    end
  end

  # Answers every response with the pod's name, for the router's log (outermost middleware, so
  # the 500s that Rails' exception handling produces carry it too).
  class PodHeader
    def initialize(app)
      @app = app
    end

    def call(env)
      status, headers, body = @app.call(env)
      headers['x-standin-pod'] = HOSTNAME
      [status, headers, body]
    end
  end

  # Fingerprinted favicons as tiny PNGs, before Rails (no session: Workhorse or a CDN serves
  # GitLab's assets). `/favicon.ico` too, so a browser's own fetch never meets the session.
  class Assets
    def initialize(app)
      @app = app
      @main = Standin.png([0xe2, 0x43, 0x29])
      @yellow = Standin.png([0xfc, 0xa3, 0x26])
    end

    def call(env)
      path = env['PATH_INFO']
      png = if path.start_with?('/assets/favicon-yellow') && path.end_with?('.png')
              @yellow
            elsif (path.start_with?('/assets/favicon') && path.end_with?('.png')) || path == '/favicon.ico'
              @main
            end
      return @app.call(env) unless png

      [200, { 'content-type' => 'image/png', 'cache-control' => 'max-age=31536000, public',
              'content-length' => png.bytesize.to_s }, [png]]
    end
  end

  # A 16×16 single-colour PNG.
  def self.png(rgb)
    chunk = lambda do |type, data|
      [data.bytesize].pack('N') + type + data + [Zlib.crc32(type + data)].pack('N')
    end
    rows = ([0] + rgb * 16).pack('C*') * 16
    "\x89PNG\r\n\x1a\n".b +
      chunk.call('IHDR', [16, 16, 8, 2, 0, 0, 0].pack('NNCCCCC')) +
      chunk.call('IDAT', Zlib::Deflate.deflate(rows)) +
      chunk.call('IEND', '')
  end

  # The exceptions of the 500s quote the session they could not read: keep the password salt
  # (which `remember_user_token` carries) and the CSRF token out of the error log.
  class RedactingFormatter < ::Logger::Formatter
    def call(severity, time, progname, msg)
      super.gsub(/\$2[aby]?\$\d\d\$[.\/A-Za-z0-9]+/, '[FILTERED]')
           .gsub(/("_csrf_token"=>)"[^"]*"/, '\\1"[FILTERED]"')
    end
  end

  # GitLab's static error pages (public/500.html and friends) and the API's JSON errors.
  EXCEPTIONS_APP = lambda do |env|
    status = env['PATH_INFO'].delete('/').to_i
    status = 500 unless status.between?(400, 599)
    original = env['action_dispatch.original_path'].to_s
    if original.start_with?('/api/')
      [status, { 'content-type' => 'application/json' },
       [{ message: "#{status} #{Rack::Utils::HTTP_STATUS_CODES[status]}" }.to_json]]
    else
      headline = { 404 => 'Page Not Found', 422 => 'The change you requested was rejected.' }
                 .fetch(status, "We're sorry, something went wrong on our end")
      [status, { 'content-type' => 'text/html; charset=utf-8' },
       ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>#{headline} (#{status})</title></head>" \
        "<body><div class=\"container\"><h1>#{status}</h1><h3>#{headline}</h3></div></body></html>\n"]]
    end
  end
end

ENV['DATABASE_URL'] = "sqlite3:#{Standin::DATABASE_PATH}"

class GitlabLike < Rails::Application
  config.root = __dir__
  config.load_defaults 6.1
  config.eager_load = false
  config.cache_classes = true
  config.consider_all_requests_local = false
  config.hosts.clear
  config.secret_key_base = 'e2e-only-5f3b1c9e0d8a7f6e5d4c3b2a19087f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918'
  config.logger = Logger.new(Standin::ERROR_LOG).tap do |logger|
    logger.level = Logger::ERROR
    logger.formatter = Standin::RedactingFormatter.new
  end
  config.log_level = :error
  config.active_record.logger = nil
  config.public_file_server.enabled = false
  config.exceptions_app = Standin::EXCEPTIONS_APP
  config.action_dispatch.cookies_same_site_protection = :lax
  config.filter_parameters += %i[password authenticity_token]

  common = { key: Standin::COOKIE, secure: true, httponly: true, path: '/' }
  case Standin::SESSION_STORE
  when 'redis_store'
    # config/initializers/session_store.rb before the change: the Redis TTL is `expires_in`; no
    # `expire_after`, so the cookie has no Expires.
    server = Standin.redis_options.merge(namespace: Standin::SESSION_NAMESPACE)
    server[:serializer] = Standin::RedisStoreSerializer if Standin::SESSION_CODER == 'compat'
    config.session_store :redis_store, **common, redis_server: server, expires_in: Standin::SESSION_EXPIRE
  when 'cache_store'
    cache = ActiveSupport::Cache::RedisCacheStore.new(
      url: Standin::REDIS_URL, namespace: Standin::SESSION_NAMESPACE, expires_in: Standin::SESSION_EXPIRE,
      **(Standin::SESSION_CODER == 'compat' ? { coder: Standin::CacheStoreCoder } : {}),
    )
    store = Standin::SESSION_KEYS == 'gitlab' ? Standin::GitlabKeysCacheStore : :cache_store
    config.session_store store, **common, cache: cache, expire_after: Standin::SESSION_EXPIRE
  end
end

Devise.setup do |config|
  require 'devise/orm/active_record'
  config.secret_key = GitlabLike.config.secret_key_base
  config.mailer_sender = 'gitlab@example.test'
  config.authentication_keys = [:login]
  config.case_insensitive_keys = []
  config.strip_whitespace_keys = [:login]
  config.stretches = 4
  config.remember_for = 2.weeks
  config.expire_all_remember_me_on_sign_out = true
  config.sign_out_via = :post
  config.skip_session_storage = []
end

Rails.application.initialize!

# The users table, migrated and seeded once per database file; both stages boot at the same
# time, so under a file lock.
File.open("#{Standin::DATABASE_PATH}.lock", File::RDWR | File::CREAT, 0o600) do |lock|
  lock.flock(File::LOCK_EX)
  conn = ActiveRecord::Base.connection
  unless conn.table_exists?(:users)
    conn.create_table :users do |t|
      t.string :username, null: false, index: { unique: true }
      t.string :name, null: false
      t.string :email, null: false
      t.string :encrypted_password, null: false, default: ''
      t.datetime :remember_created_at
      t.timestamps
    end
  end
end

class User < ActiveRecord::Base
  devise :database_authenticatable, :rememberable
  attr_accessor :login

  # GitLab signs in with a username or an email in `user[login]`.
  def self.find_for_database_authentication(conditions)
    login = conditions[:login].to_s
    where(username: login).or(where(email: login)).first
  end
end

File.open("#{Standin::DATABASE_PATH}.lock", File::RDWR | File::CREAT, 0o600) do |lock|
  lock.flock(File::LOCK_EX)
  Standin::USERS.each do |u|
    next if User.exists?(u[:id])

    User.create!(id: u[:id], username: u[:username], name: u[:name], email: "#{u[:username]}@example.test",
                 password: u[:password])
  end
end

require_relative 'markup'

class ApplicationController < ActionController::Base
  protect_from_forgery with: :exception, prepend: true
  layout false
  before_action :identify_user
  after_action :tag_response

  private

  # Who the stage recognised: from the session, else (outside Devise's own actions) from
  # `remember_user_token`, as GitLab's `authenticate_user!` does on every request.
  def identify_user
    @standin_user = warden.user(:user)
    @standin_session = @standin_user ? 'valid' : 'none'
    return if @standin_user || devise_controller?

    remembered = warden.authenticate(:rememberable, scope: :user)
    return unless remembered

    @standin_user = remembered
    @standin_session = 'remembered'
  end

  # For the router's log: the user at the end of the request, else the one it started with
  # (a sign-out), and how the session was found.
  def tag_response
    user = warden.user(:user) || @standin_user
    response.headers['x-standin-user'] = user.username if user
    response.headers['x-standin-session'] = @standin_session if @standin_session
  end

  def after_sign_in_path_for(_resource)
    '/'
  end

  def after_sign_out_path_for(_scope)
    new_user_session_path
  end

  # The page's context; a page for a performance-bar user leaves its peek details in the shared
  # Redis (`peek:requests:<id>`) for the bar to fetch, so any pod answers for any other.
  def page_ctx
    @page_ctx ||= Standin::Markup::Ctx.new(
      stage_canary: Standin::CANARY,
      pod: Standin::HOSTNAME,
      user: warden.user(:user),
      csrf_token: form_authenticity_token,
      request_id: request.request_id,
      path: request.path,
      host: request.host,
      perf_bar: cookies['perf_bar_enabled'] == 'true',
    ).tap do |ctx|
      if ctx.perf_bar
        data = { hostname: Standin::HOSTNAME, canary: Standin::CANARY ? true : nil }
        Standin.redis.setex("peek:requests:#{ctx.request_id}", 1800, data.to_json)
      end
    end
  end
  helper_method :page_ctx
end

class PagesController < ApplicationController
  def show
    render html: Standin::Markup.project_page(page_ctx).html_safe
  end
end

class PeekController < ApplicationController
  # lib/peek/views/host.rb: `canary` is `Gitlab::Utils.to_boolean(ENV['CANARY'])` (null on main).
  def results
    raw = Standin.redis.get("peek:requests:#{params[:request_id]}") if cookies['perf_bar_enabled'] == 'true'
    return render(json: { message: '404 Not Found' }, status: :not_found) unless raw

    render json: { context: {}, data: { host: JSON.parse(raw) }, has_warnings: false }
  end
end

class ApiController < ApplicationController
  skip_forgery_protection

  def user
    user = warden.user(:user) || (@standin_session == 'remembered' && @standin_user) || nil
    if user
      render json: { id: user.id, username: user.username, name: user.name }
    else
      render json: { message: '401 Unauthorized' }, status: :unauthorized
    end
  end

  def not_found
    render json: { message: '404 Not Found' }, status: :not_found
  end
end

Rails.application.routes.draw do
  devise_for :users, only: :sessions
  get '/api/v4/user', to: 'api#user'
  match '/api/*rest', to: 'api#not_found', via: :all, format: false
  get '/-/peek/results', to: 'peek#results'
  root to: 'pages#show'
  get '*path', to: 'pages#show', format: false
end

# Devise configures Warden once, when routes are first finalized: during initialize!, before
# `devise_for` above existed. Configure it again now that the mapping is known.
Devise.class_variable_set(:@@warden_configured, nil)
Devise.configure_warden!
