# synctool build.
#
#   make            build/synctool and build/libsynctool.a (optimised, -g)
#   make test       AddressSanitizer + UBSan build, cmocka unit tests, then the
#                   pytest end-to-end suite, with redis-server, PostgreSQL and MariaDB
#                   started on free loopback ports by scripts/with-servers
#   make unit       only the unit tests (servers still started)
#   make tsan       ThreadSanitizer build of the library and the unit tests under
#                   build/tsan (ASan and TSan cannot be combined), run under
#                   scripts/with-servers; part of make test
#   make e2e        only the end-to-end tests
#   make bench      benchmarks (bench/run), ratios against same-run baselines
#   make clean
#   make install    PREFIX=/usr/local DESTDIR= : the binary, the systemd units
#                   (contrib/systemd, paths filled in) and the docs
#
# BUILD=dir puts every artefact under dir instead of build/ (parallel checkouts).
#
# Sources are found by wildcard: a module is a folder src/<module>/ and a unit
# test is tests/unit/test_<name>.c, so adding either needs no Makefile edit.

CC      ?= cc
PKGS    := yaml-0.1 sqlite3 libpq hiredis libmicrohttpd libcurl libmariadb libcrypto jansson
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
WARN    := -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation
DEFS    := -D_GNU_SOURCE
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

CFLAGS_REL  := $(WARN) $(DEFS) $(PKG_CFLAGS) -O2 -g
CFLAGS_SAN  := $(WARN) $(DEFS) $(PKG_CFLAGS) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
CFLAGS_TSAN := $(WARN) $(DEFS) $(PKG_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=thread
LDFLAGS_TSAN := -fsanitize=thread

LIB_SRC   := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
MAIN_SRC  := src/cli/main.c
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
SUPPORT_SRC := $(wildcard tests/unit/support/*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)

REL_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/obj/%.o)

# The dashboard's files (src/dashboard/assets/*, any name) are compiled in:
# scripts/embed-assets turns them into one generated C file (xxd -i).
ASSETS  := $(sort $(wildcard src/dashboard/assets/*))
GEN_SRC := $(BUILD)/gen/dashboard_assets.c
REL_OBJ += $(BUILD)/obj/gen/dashboard_assets.o
SAN_OBJ += $(BUILD)/asan/obj/gen/dashboard_assets.o
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/asan/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/asan/tests/%)
TSAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/tsan/obj/%.o) $(BUILD)/tsan/obj/gen/dashboard_assets.o
TSAN_SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/tsan/obj/%.o)
TSAN_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tsan/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test unit unit-run e2e e2e-run bench clean asan install tsan tsan-build tsan-run
# Keep the test-support objects: they are intermediate to several binaries.
.SECONDARY:
all: $(BUILD)/synctool

$(BUILD)/libsynctool.a: $(REL_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/synctool: $(MAIN_SRC) $(BUILD)/libsynctool.a
	$(CC) $(CFLAGS_REL) -o $@ $< $(BUILD)/libsynctool.a $(PKG_LIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_REL) -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) -MMD -MP -c -o $@ $<

$(GEN_SRC): $(ASSETS) scripts/embed-assets
	@mkdir -p $(@D)
	scripts/embed-assets $@ $(ASSETS)

$(BUILD)/obj/gen/dashboard_assets.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_REL) -c -o $@ $<

$(BUILD)/asan/obj/gen/dashboard_assets.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) -c -o $@ $<

$(BUILD)/asan/libsynctool.a: $(SAN_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/asan/synctool: $(MAIN_SRC) $(BUILD)/asan/libsynctool.a
	$(CC) $(CFLAGS_SAN) -o $@ $< $(BUILD)/asan/libsynctool.a $(PKG_LIBS) $(LDFLAGS_SAN)

$(BUILD)/asan/tests/%: tests/unit/%.c $(SUPPORT_OBJ) $(BUILD)/asan/libsynctool.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) -MMD -MP -Itests/unit -o $@ $< $(SUPPORT_OBJ) $(BUILD)/asan/libsynctool.a \
	    $(PKG_LIBS) $(CMOCKA_LIBS) $(LDFLAGS_SAN)

$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TSAN) -MMD -MP -c -o $@ $<

$(BUILD)/tsan/obj/gen/dashboard_assets.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TSAN) -c -o $@ $<

$(BUILD)/tsan/libsynctool.a: $(TSAN_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/tsan/tests/%: tests/unit/%.c $(TSAN_SUPPORT_OBJ) $(BUILD)/tsan/libsynctool.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TSAN) -MMD -MP -Itests/unit -o $@ $< $(TSAN_SUPPORT_OBJ) \
	    $(BUILD)/tsan/libsynctool.a $(PKG_LIBS) $(CMOCKA_LIBS) $(LDFLAGS_TSAN)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libsynctool.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_REL) -o $@ $< $(BUILD)/libsynctool.a $(PKG_LIBS)

asan: $(BUILD)/asan/synctool $(UNIT_BIN)

tsan-build: $(TSAN_BIN)

# The unit tests under ThreadSanitizer (tests/tsan.supp: third-party only).
tsan: tsan-build
	scripts/with-servers $(MAKE) --no-print-directory tsan-run

tsan-run:
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(abspath tests/tsan.supp)" \
	    scripts/run-unit $(TSAN_BIN)

# The one command CI and the README use. The benchmarks are only built here
# (run by `make bench`), so a change that breaks their compile fails CI.
test: $(BUILD)/synctool asan tsan-build $(BENCH_BIN)
	scripts/with-servers sh -c '$(MAKE) --no-print-directory unit-run; u=$$?; \
	    $(MAKE) --no-print-directory tsan-run; t=$$?; \
	    $(MAKE) --no-print-directory e2e-run; e=$$?; \
	    echo "unit exit $$u, tsan exit $$t, e2e exit $$e"; \
	    [ $$u -eq 0 ] && [ $$t -eq 0 ] && [ $$e -eq 0 ]'

unit: asan
	scripts/with-servers $(MAKE) --no-print-directory unit-run

e2e: $(BUILD)/synctool asan
	scripts/with-servers $(MAKE) --no-print-directory e2e-run

unit-run:
	@scripts/run-unit $(UNIT_BIN)

e2e-run:
	SYNCTOOL_BIN=$(abspath $(BUILD))/asan/synctool $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

bench: $(BUILD)/synctool $(BENCH_BIN)
	BUILD=$(abspath $(BUILD)) bench/run

clean:
	rm -rf $(BUILD)

# Install layout. SYSCONFDIR holds the config directory (SYSCONFDIR/synctool)
# the units point at; units go where systemd looks for them under PREFIX.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/synctool
UNITDIR    ?= $(PREFIX)/lib/systemd/system
UNITS      := $(patsubst contrib/systemd/%.in,%,$(wildcard contrib/systemd/*.in))

install: $(BUILD)/synctool
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/synctool $(DESTDIR)$(BINDIR)/synctool
	for u in $(UNITS); do \
	    sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	        -e 's|@DOCDIR@|$(DOCDIR)|g' contrib/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u \
	    && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 README.md docs/*.md docs/openapi.yaml $(DESTDIR)$(DOCDIR)/

# Unit tests too: a change to a header they include (tests/unit/state_cases.h)
# rebuilds them.
-include $(REL_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) $(UNIT_BIN:=.d)
-include $(TSAN_OBJ:.o=.d) $(TSAN_SUPPORT_OBJ:.o=.d) $(TSAN_BIN:=.d)
