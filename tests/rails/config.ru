# frozen_string_literal: true

# One stage of the GitLab-like app: `puma -b tcp://127.0.0.1:PORT -t 1:2 tests/rails/config.ru`
# with the environment described in app.rb.
require_relative 'app'

# Started by tests/lib/rails.mjs: stop when node goes away (its end of our stdin closes).
if ENV['EXIT_WITH_STDIN'] == '1'
  Thread.new do
    $stdin.read
    Process.kill('TERM', Process.pid)
  end
end

use Standin::PodHeader
use Standin::Assets
run Rails.application
