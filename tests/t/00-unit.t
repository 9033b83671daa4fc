#!/usr/bin/env bash
# Unit tests: configuration errors, budget arithmetic, partitioning, value encoding.
exec "$(dirname "$0")/../../build/unit-tests"
