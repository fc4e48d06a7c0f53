# frozen_string_literal: true

# One stage of the GitLab-like app: `puma -b tcp://127.0.0.1:PORT -t 1:2 tests/rails/config.ru`
# with the environment described in app.rb.
require_relative 'app'

use Standin::PodHeader
use Standin::Assets
run Rails.application
