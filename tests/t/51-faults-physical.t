#!/usr/bin/env bash
# 50-faults.t again with every table read in physical order (read_order = physical): block ranges, ctid
# checkpoints and their splits must pass what the key-order reads pass.
FERRY_TEST_READ_ORDER=physical exec bash "$(dirname "$0")/50-faults.t"
