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
#   make fuzz       each parser's libFuzzer target, FUZZ_SECONDS (60) each (clang, ASan, UBSan)
#   make install    the binary, ferry(1), the systemd units, the sysusers file and an example
#                   configuration, under PREFIX (/usr/local) and SYSCONFDIR (/etc); DESTDIR for staging
#   make deb        build/ferry_<version>_<arch>.deb, the same files under /usr (dpkg -i it)

CC      ?= cc
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
VERSION := $(shell sed -n 's/^\#define FERRY_VERSION "\(.*\)"/\1/p' include/ferry/common.h)
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
ORACLE  := $(BUILD)/oracle

.PHONY: all deps test unit demo bench bench-mongo bench-stores bench-redshift bench-postgres bench-incremental asan \
        install deb fuzz clean

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

$(ORACLE): $(BUILD)/tests/tools/oracle.o $(LIBOBJS)
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
	@$(MAKE) --no-print-directory ferry $(TESTBIN) $(RELAY) $(MONGO) $(CONTRACT) $(ORACLE)
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

# One libFuzzer target per parser (tests/fuzz/fuzz_NAME.c), built with clang under ASan and UBSan, each run
# FUZZ_SECONDS on its seeds (tests/fuzz/corpus/NAME, in the tree) and what it found before (build-fuzz/corpus).
FUZZERS      := config keytuple xml array time reader copy json numeric manifest answer
FUZZ_SECONDS ?= 60
fuzz:
	@command -v clang >/dev/null || EXTRA_COMMANDS=clang:clang tests/lib/deps.sh
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	    $(FUZZERS:%=build-fuzz/fuzz_%)
	@for t in $(FUZZERS); do mkdir -p build-fuzz/corpus/$$t; \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 -artifact_prefix=build-fuzz/$$t- build-fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	        > build-fuzz/$$t.log 2>&1; rc=$$?; \
	    echo "fuzz $$t: $$(sed -n 's/^#\([0-9]*\).*DONE *cov: \([0-9]*\) ft: \([0-9]*\).*/\1 runs, coverage \2 edges, \3 features/p' \
	        build-fuzz/$$t.log) in $(FUZZ_SECONDS) s, exit $$rc"; \
	    if [ $$rc -ne 0 ]; then grep -E 'ERROR|SUMMARY|runtime error|artifact' build-fuzz/$$t.log | head -5; exit 1; fi; done

build-fuzz/fuzz_%: build-fuzz/tests/fuzz/fuzz_%.o $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# The manual is the program's own tables, rendered (agent/manual.c).
$(BUILD)/ferry.1: ferry
	./ferry --man > $@

# The units name the binary where this install puts it.
install: ferry $(BUILD)/ferry.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(SYSCONFDIR)/ferry $(DESTDIR)$(PREFIX)/share/doc/ferry
	install -m 0755 ferry $(DESTDIR)$(PREFIX)/bin/ferry
	install -m 0644 $(BUILD)/ferry.1 $(DESTDIR)$(PREFIX)/share/man/man1/ferry.1
	sed 's|/usr/local/bin/ferry|$(PREFIX)/bin/ferry|' systemd/ferry@.service > $(DESTDIR)$(UNITDIR)/ferry@.service
	install -m 0644 systemd/ferry@.timer $(DESTDIR)$(UNITDIR)/ferry@.timer
	install -m 0644 systemd/ferry.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/ferry.conf
	install -m 0640 systemd/example.ini $(DESTDIR)$(SYSCONFDIR)/ferry/example.ini
	sed 's|/usr/local/bin/ferry|$(PREFIX)/bin/ferry|' systemd/ferry.cron > $(DESTDIR)$(PREFIX)/share/doc/ferry/ferry.cron
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/ferry/README.md

UNITDIR ?= $(PREFIX)/lib/systemd/system

# A .deb of `make install` under /usr: the packages of the libraries ferry links (its NEEDED entries) are its
# dependencies (usrmerge: a library dpkg knows under /lib is looked for there too); the postinst makes the ferry user (systemd-sysusers) and reloads systemd.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB      := $(BUILD)/ferry_$(VERSION)_$(DEB_ARCH).deb
deb: ferry $(BUILD)/ferry.1
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/DEBIAN
	$(MAKE) --no-print-directory install DESTDIR=$(BUILD)/deb PREFIX=/usr UNITDIR=/lib/systemd/system
	gzip -9n $(BUILD)/deb/usr/share/man/man1/ferry.1
	depends=$$(for lib in $$(objdump -p ferry | awk '/NEEDED/ {print $$2}'); do \
	        path=$$(realpath "$$(ldd ferry | awk -v lib=$$lib '$$1 == lib {print $$3}')"); \
	        dpkg -S "$$path" 2>/dev/null || dpkg -S "$${path#/usr}" 2>/dev/null; done | \
	    cut -d: -f1 | sort -u | grep -v '^libc6$$' | paste -sd, | sed 's/,/, /g'); \
	printf 'Package: ferry\nVersion: %s\nArchitecture: %s\nMaintainer: ferry <ferry@localhost>\nDepends: libc6, %s\nSection: database\nPriority: optional\nDescription: copy big tables out of PostgreSQL and Redshift, resumably\n ferry copies tables into a folder, S3, Azure Blob, MongoDB, PostgreSQL or\n Redshift in bounded memory, checkpointing every durable batch.\n' \
	    "$(VERSION)" "$(DEB_ARCH)" "$$depends" > $(BUILD)/deb/DEBIAN/control
	echo /etc/ferry/example.ini > $(BUILD)/deb/DEBIAN/conffiles
	printf '#!/bin/sh\nset -e\nif [ "$$1" = configure ]; then\n    command -v systemd-sysusers >/dev/null && systemd-sysusers ferry.conf || true\n    [ -d /run/systemd/system ] && systemctl daemon-reload || true\nfi\n' > $(BUILD)/deb/DEBIAN/postinst
	chmod 0755 $(BUILD)/deb/DEBIAN/postinst
	dpkg-deb --root-owner-group --build $(BUILD)/deb $(DEB)

clean:
	rm -rf build build-asan build-fuzz ferry ferry-asan

-include $(OBJS:.o=.d) $(TESTSRC:%.c=$(BUILD)/%.d) $(BUILD)/tests/tools/sink-contract.d
