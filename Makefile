# SPDX-License-Identifier: Apache-2.0
# treeutils: the one build. Read it top to bottom.
#
#   make                 library (static and shared) and every tool, in build/
#   make check           build, then unit, CLI and hostile (quick slice) tests
#   make demo            the main job on a generated sample tree
#   make asan check      the same suite built with ASan+UBSan, in build-asan/
#   make bench           bench/run (peer comparisons; slow)
#   make check-hostile   the long race and fault campaigns
#   make install         tools, libraries, header, treeutils.pc, man pages and
#                        shell completions; PREFIX (default /usr/local),
#                        DESTDIR, BINDIR, LIBDIR, INCLUDEDIR (INCDIR is an
#                        alias), MANDIR, PKGCONFIGDIR, BASHCOMPDIR, ZSHCOMPDIR
#   make uninstall       removes exactly what make install put there
#   make deb-check       builds the Debian packages, lints, installs them with
#                        dpkg, runs every tool's --version, removes them
#   make deb-check-chroot  the same build in a fresh Debian 12 chroot that
#                        holds only build-essential and the Build-Depends (slow)
#   make clean
#
# Packages. make, make all and make install need no network and install
# nothing: they check the build dependencies and name what is missing.
# demo, check, bench and deb-check install what they need first (as root;
# as non-root they print the apt-get line). NO_DEPS=1 skips all of it.
# The package lists are in scripts/deps.sh.
#
# Flags. CPPFLAGS, CFLAGS and LDFLAGS are used as given (CFLAGS defaults to
# -O2 -g), after the project's own, so the caller's win; a Debian build
# passes dpkg-buildflags' hardening flags here. CI passes WERROR=-Werror.

# The version, in one place: --version, treeutils.pc and the library's file
# name come from here; tests check debian/changelog and NEWS against it.
VERSION   := 0.1.0
# The N of libtreeutils.so.N. The rule for changing it is in libtreeutils(3)
# and the README: any incompatible change of what treeutils.h declares.
SOVERSION := 0
SONAME    := libtreeutils.so.$(SOVERSION)

PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCDIR       ?= $(PREFIX)/include
INCLUDEDIR   ?= $(INCDIR)
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR  ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR   ?= $(DATADIR)/zsh/site-functions

CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?=

# "make asan <anything>" builds everything with the sanitizers, in its own tree,
# so a sanitizer build never mixes objects with the normal one. A build
# directory whose name contains "asan" is always a sanitizer build, so a later
# "make BUILD=build-asan install" (as the install test does) cannot fill it
# with objects built without them.
ifneq ($(filter asan,$(MAKECMDGOALS)),)
BUILD    := build-asan
endif
# "make tsan <anything>": the same with ThreadSanitizer, in build-tsan/.
ifneq ($(filter tsan,$(MAKECMDGOALS)),)
BUILD    := build-tsan
endif
BUILD    ?= build
ifneq ($(findstring asan,$(notdir $(BUILD))),)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifneq ($(findstring tsan,$(notdir $(BUILD))),)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
SANFLAGS :=
endif

TU_CPPFLAGS = -D_GNU_SOURCE -DTU_VERSION='"$(VERSION)"' -Ilib -Itools/common $(CPPFLAGS)
TU_CFLAGS   = -std=gnu17 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 $(WERROR) -fPIC $(SANFLAGS) $(CFLAGS)
TU_LDFLAGS  = $(SANFLAGS) $(LDFLAGS)
TU_LDLIBS   = -pthread $(shell pkg-config --libs libarchive 2>/dev/null || echo -larchive) -lacl $(LDLIBS)

LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
COMMON_SRC := $(wildcard tools/common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
TOOLS      := $(filter-out common,$(notdir $(wildcard tools/*)))
TOOL_BINS  := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Programs the tests run (tests/helpers: tree makers and racers; the hostile
# suite's own), all in BUILD/helpers, which tests/run puts on PATH.
HELPER_SRC := $(wildcard tests/helpers/*.c tests/hostile/*.c)
HELPER_BINS:= $(patsubst %.c,$(BUILD)/helpers/%,$(notdir $(HELPER_SRC)))
# LD_PRELOAD fault shims, tests/data/NAME.c -> BUILD/shims/NAME.so.
SHIM_SRC   := $(wildcard tests/data/*.c)
SHIMS      := $(SHIM_SRC:tests/data/%.c=$(BUILD)/shims/%.so)
BENCH_BINS := $(BUILD)/bench/spooky_bench
MAN1       := $(TOOLS:%=man/%.1)

STATIC_LIB := $(BUILD)/lib/libtreeutils.a
SHARED_LIB := $(BUILD)/lib/libtreeutils.so
# The unit tests' variant of the static library: the same code with the test
# hooks of lib/dedup.h and lib/hashstore.h compiled in (TU_TEST_HOOKS). The
# shipped libraries have none; it is never installed.
TEST_OBJ   := $(LIB_SRC:%.c=$(BUILD)/test-lib/%.o)
TEST_LIB   := $(BUILD)/lib/libtreeutils-test.a

.SECONDARY:
.PHONY: all check demo bench asan install uninstall clean deps unit cli hostile \
	check-hostile helpers deb-check deb-check-chroot print-version print-tools print-soversion

all: $(STATIC_LIB) $(SHARED_LIB) $(TOOL_BINS)

# ---- packages ------------------------------------------------------------------
# Which groups of scripts/deps.sh the goals asked for need: build alone is
# only checked; anything more is installed.
DEP_GROUPS := build
ifneq ($(filter check unit cli hostile check-hostile helpers,$(MAKECMDGOALS)),)
DEP_GROUPS += test
endif
ifneq ($(filter demo,$(MAKECMDGOALS)),)
DEP_GROUPS += demo
endif
ifneq ($(filter bench,$(MAKECMDGOALS)),)
DEP_GROUPS += bench
endif
ifneq ($(filter deb-check,$(MAKECMDGOALS)),)
DEP_GROUPS += deb
endif
ifneq ($(filter deb-check-chroot,$(MAKECMDGOALS)),)
DEP_GROUPS += deb chroot
endif
ifeq ($(DEP_GROUPS),build)
DEP_MODE := --check
endif

deps:
ifneq ($(NO_DEPS),1)
	@scripts/deps.sh --quiet $(DEP_MODE) $(DEP_GROUPS)
endif

# ---- compiling -----------------------------------------------------------------
$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(TU_CPPFLAGS) $(TU_CFLAGS) $(OBJFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/test-lib/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(TU_CPPFLAGS) -DTU_TEST_HOOKS $(TU_CFLAGS) -fvisibility=hidden -MMD -MP -c $< -o $@

# The library exports only what treeutils.h marks TU_API; a tool's globals
# (argp_program_version_hook, which libc reads) must stay visible.
$(LIB_OBJ): OBJFLAGS := -fvisibility=hidden
$(UNIT_OBJ): OBJFLAGS := -DTU_TEST_HOOKS

$(STATIC_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(TEST_LIB): $(TEST_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# Only what treeutils.h declares with TU_API is exported (tests/cli/abi.bats).
$(SHARED_LIB): $(LIB_OBJ) lib/treeutils.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/treeutils.map \
		-Wl,-z,defs $(TU_LDFLAGS) -o $@ $(LIB_OBJ) $(TU_LDLIBS)

# Each tool is tools/<tool>/*.c plus the shared front-end code, linked against
# the static library so build/bin/<tool> runs from the build tree as it is.
define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/$(1)/*.c)) $(COMMON_OBJ) $(STATIC_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TU_LDFLAGS) -o $$@ $$^ $$(TU_LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(COMMON_OBJ) $(TEST_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ -lcmocka $(TU_LDLIBS)

$(BUILD)/helpers/%: $(BUILD)/tests/helpers/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

$(BUILD)/helpers/%: $(BUILD)/tests/hostile/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

# A shim is preloaded into the tools, sanitizer builds included, so it is
# built without the sanitizers (it defines _GNU_SOURCE itself).
$(BUILD)/shims/%.so: tests/data/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -Wall -Wextra $(WERROR) -shared -fPIC $(CPPFLAGS) $(CFLAGS) \
		$(LDFLAGS) -o $@ $< -ldl

$(BUILD)/bench/spooky_bench: $(BUILD)/bench/spooky_bench.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

helpers: $(HELPER_BINS) $(SHIMS)

# ---- running -------------------------------------------------------------------
asan: all

unit: all $(UNIT_BINS) helpers
	tests/run unit $(BUILD)

cli: all helpers
	tests/run cli $(BUILD)

hostile: all helpers
	tests/run hostile $(BUILD)

check: all $(UNIT_BINS) helpers
	tests/run all $(BUILD)

check-hostile: all helpers
	TU_HOSTILE_LONG=1 tests/run hostile $(BUILD)

demo: all | deps
	scripts/demo.sh $(BUILD)

bench: all helpers $(BENCH_BINS)
	bench/run

# ---- robustness: fuzzing, sanitizers, lint, valgrind ---------------------------
# (docs/robustness.md says what each shows.)
#   make fuzz        every tests/fuzz target under libFuzzer (clang, ASan+UBSan),
#                    FUZZ_TIME seconds each (default 30), in build-fuzz/; new
#                    inputs go to build-fuzz/corpus/, crashers to build-fuzz/
# make check replays the checked-in corpora (tests/fuzz/corpus/NAME) through
# the same targets built with CC, without libFuzzer (tests/cli/fuzz-corpus.bats).
.PHONY: fuzz tsan clean-robust
clean: clean-robust
clean-robust:
	rm -rf build-fuzz build-tsan

#   make tsan check  the suite built with ThreadSanitizer, in build-tsan/
#                    (tests/run fails the suite on any report)
tsan: all

#   make lint        clang-tidy and cppcheck on lib/ and tools/, with the
#                    configuration and justified suppressions of tests/lint/;
#                    any finding fails
#   make valgrind    the unit tests and one run of each tool under memcheck
#                    (tests/lint/valgrind.sh); any error or leak fails
.PHONY: lint valgrind
LINT_SRC   := $(LIB_SRC) $(wildcard tools/*/*.c)
LINT_FLAGS := -std=gnu17 -D_GNU_SOURCE -DTU_VERSION='"$(VERSION)"' -Ilib -Itools/common
lint: | deps
	cppcheck -q --std=c11 --enable=warning,portability,performance --error-exitcode=1 \
		--suppress=missingIncludeSystem --suppressions-list=tests/lint/cppcheck.supp \
		--inline-suppr -j2 -D_GNU_SOURCE -DTU_VERSION='"$(VERSION)"' -Ilib -Itools/common lib tools
	printf '%s\n' $(LINT_SRC) | xargs -P2 -I{} clang-tidy -quiet \
		--config-file=tests/lint/clang-tidy.yaml {} -- $(LINT_FLAGS)
	@echo "lint: clean ($(words $(LINT_SRC)) files)"

valgrind: all $(UNIT_BINS)
	tests/lint/valgrind.sh $(BUILD)

FUZZ_DIR     := build-fuzz
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 30
FUZZ_TARGETS := sidecar xattr quote exclude $(TOOLS:%=options_%)
FUZZ_CFLAGS  := -g -O1 -std=gnu17 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o) $(COMMON_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)

$(FUZZ_DIR)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(TU_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libfuzz.a: $(FUZZ_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

# fuzz_options.c includes the tool's source; its usage errors are wrapped.
FUZZ_WRAP    := -Wl,--wrap=argp_error,--wrap=argp_failure
$(FUZZ_DIR)/fuzz_options_%: tests/fuzz/fuzz_options.c tests/fuzz/fuzz.h tools/%/*.c $(FUZZ_DIR)/libfuzz.a
	$(FUZZ_CC) $(TU_CPPFLAGS) -DTOOL=$* $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_WRAP) -o $@ $< \
		$(FUZZ_DIR)/libfuzz.a $(TU_LDLIBS) -lm

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_DIR)/libfuzz.a
	$(FUZZ_CC) $(TU_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_DIR)/libfuzz.a $(TU_LDLIBS) -lm

# Each target for FUZZ_TIME seconds; a crash, leak or broken property stops
# make with the input saved as build-fuzz/crash-NAME-*. The option targets
# run without the per-input leak check: what they could leak lies below
# argp_parse, which they cannot check (fuzz_options.c), and the check costs
# 10 ms an input there; the corpus replay of make check still checks at exit.
fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t; \
		echo "fuzz $$t: $(FUZZ_TIME) s"; \
		case $$t in options_*) leaks=0 ;; *) leaks=1 ;; esac; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
			-detect_leaks=$$leaks \
			-close_fd_mask=3 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
			$(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_DIR)/log-$$t 2>&1; \
		rc=$$?; grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
			$(FUZZ_DIR)/log-$$t; \
		if [ $$rc -ne 0 ]; then tail -60 $(FUZZ_DIR)/log-$$t; exit 1; fi; \
	done

# The corpus replay, built with CC and the suite's flags (ASan in build-asan).
$(BUILD)/tests/fuzz/fuzz_options_%.o: tests/fuzz/fuzz_options.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(TU_CPPFLAGS) -DTOOL=$* $(TU_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/replay_options_%: TU_LDFLAGS += $(FUZZ_WRAP)
$(BUILD)/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(COMMON_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS) -lm

check cli: $(FUZZ_REPLAY)

# ---- installing ----------------------------------------------------------------
# Shared libraries are 0644, as Debian wants them. Completions are written by
# hand, one per tool (completions/bash/TOOL, completions/zsh/_TOOL).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libtreeutils.a
	install -m 0644 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libtreeutils.so.$(VERSION)
	ln -sf libtreeutils.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtreeutils.so
	install -m 0644 lib/treeutils.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		lib/treeutils.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/treeutils.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/treeutils.pc
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/libtreeutils.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 $(TOOLS:%=completions/bash/%) $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 $(TOOLS:%=completions/zsh/_%) $(DESTDIR)$(ZSHCOMPDIR)/

# Files and links only: the directories are shared with everything else
# installed under PREFIX.
uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(DESTDIR)$(LIBDIR)/libtreeutils.a $(DESTDIR)$(LIBDIR)/libtreeutils.so \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtreeutils.so.$(VERSION)
	rm -f $(DESTDIR)$(INCLUDEDIR)/treeutils.h $(DESTDIR)$(PKGCONFIGDIR)/treeutils.pc
	rm -f $(TOOLS:%=$(DESTDIR)$(MANDIR)/man1/%.1) $(DESTDIR)$(MANDIR)/man3/libtreeutils.3
	rm -f $(TOOLS:%=$(DESTDIR)$(BASHCOMPDIR)/%) $(TOOLS:%=$(DESTDIR)$(ZSHCOMPDIR)/_%)

# ---- Debian packages -----------------------------------------------------------
deb-check: | deps
	scripts/deb-check.sh

deb-check-chroot: | deps
	scripts/deb-check.sh --chroot

# For scripts and tests: the one VERSION, and the tools.
print-version:
	@echo $(VERSION)
print-tools:
	@echo $(TOOLS)
print-soversion:
	@echo $(SOVERSION)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
