#!/usr/bin/env bash
# 30-memory.t again with every table read in physical order (read_order = physical), into the dir and
# MongoDB sinks (the others buffer the same whatever the read order): block ranges, ctid
# checkpoints and their splits must pass what the key-order reads pass.
FERRY_TEST_READ_ORDER=physical FERRY_TEST_MEMORY_SINKS=source exec bash "$(dirname "$0")/30-memory.t"
