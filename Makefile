# ferry — build, test, demo, benchmark.
#
#   make            build ./ferry
#   make deps       install what is missing (Debian packages, pinned npm test servers)
#   make test       deps, build, and every test (TAP, via prove)
#   make demo       deps, build, and a real copy of a 1,000,000-row table, killed and resumed
#   make bench      the benchmark in profiling/ (dir sink, none/gzip/zstd); make bench-mongo for the
#                   MongoDB sink, make bench-stores for S3 and Azure beside the dir sink and aws s3 cp
#                   make bench-redshift for Redshift read by cursor beside UNLOAD (through the test front)
#                   make bench-postgres for PostgreSQL → PostgreSQL beside pgcopydb and a psql COPY pipe
#                   make bench-incremental for an incremental run beside a full copy and a COPY of the changes
#   make asan       build ./ferry-asan with AddressSanitizer and UBSan
#   make install PREFIX=/usr/local

CC      ?= cc
PREFIX  ?= /usr/local
PKGS    := libpq sqlite3 zlib libzstd libdeflate jemalloc libmongoc-1.0 libcurl libcrypto
CFLAGS  ?= -O2 -g
# Paths are built by file_path (files.h), which refuses to truncate; messages are cut on purpose where they are.
# ALL_CFLAGS keeps the flags ferry needs apart from CFLAGS, so `make CFLAGS=...` only tunes.
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -Wvla -pthread -MMD -MP \
           -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -lsqlite3 -lz -ljemalloc -lmongoc-1.0 -lbson-1.0 -lcurl -lcrypto -lzstd -ldeflate) -lm -pthread

BUILD   := build
BIN     := ferry
SRCS    := $(wildcard core/*.c agent/*.c state/*.c sinks/*.c)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(filter-out $(BUILD)/agent/main.o,$(OBJS))
TESTSRC := $(wildcard tests/unit/*.c)
TESTBIN := $(BUILD)/unit-tests
RELAY   := $(BUILD)/relay
MONGO   := $(BUILD)/minimongo $(BUILD)/mongo-tool
CONTRACT := $(BUILD)/sink-contract

.PHONY: all deps test unit demo bench bench-mongo bench-stores bench-redshift bench-postgres bench-incremental asan \
        install clean

all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(TESTBIN): $(TESTSRC:%.c=$(BUILD)/%.o) $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(CONTRACT): $(BUILD)/tests/tools/sink-contract.o $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(RELAY): tests/tools/relay.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/minimongo $(BUILD)/mongo-tool: $(BUILD)/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -D_DEFAULT_SOURCE -o $@ $< $(shell pkg-config --libs libmongoc-1.0 libcrypto) -pthread

deps:
	@tests/lib/deps.sh

unit: $(TESTBIN)

test: deps
	@$(MAKE) --no-print-directory ferry $(TESTBIN) $(RELAY) $(MONGO) $(CONTRACT)
	timeout 1200 prove -j2 -f --timer tests/t/*.t   # two at a time: most tests wait on servers; a hang fails the run

demo: deps
	@$(MAKE) --no-print-directory ferry
	tests/demo.sh

bench:
	@EXTRA_PACKAGES=python3-psycopg2 tests/lib/deps.sh
	@$(MAKE) --no-print-directory ferry
	profiling/bench.sh

bench-mongo: deps
	@$(MAKE) --no-print-directory ferry $(MONGO)
	profiling/bench-mongo.sh

bench-stores: deps
	@$(MAKE) --no-print-directory ferry
	profiling/bench-stores.sh

bench-redshift: deps
	@$(MAKE) --no-print-directory ferry
	profiling/bench-redshift.sh

bench-postgres:
	@EXTRA_COMMANDS=pgcopydb:pgcopydb tests/lib/deps.sh
	@$(MAKE) --no-print-directory ferry
	profiling/bench-postgres.sh

bench-incremental: deps
	@$(MAKE) --no-print-directory ferry
	profiling/bench-incremental.sh

asan:
	$(MAKE) --no-print-directory BUILD=build-asan BIN=ferry-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"

install: ferry
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 ferry $(DESTDIR)$(PREFIX)/bin/ferry

clean:
	rm -rf build build-asan ferry ferry-asan

-include $(OBJS:.o=.d) $(TESTSRC:%.c=$(BUILD)/%.d) $(BUILD)/tests/tools/sink-contract.d
