# treeutils: the one build. Read it top to bottom.
#
#   make                 library (static and shared) and every tool, in build/
#   make check           build, then unit, CLI and hostile (quick slice) tests
#   make demo            the main job on a generated sample tree
#   make asan check      the same suite built with ASan+UBSan, in build-asan/
#   make bench           bench/run (peer comparisons; slow)
#   make check-hostile   the long race and fault campaigns
#   make install         PREFIX (default /usr/local) and DESTDIR honoured
#   make clean
#
# CI passes WERROR=-Werror.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man

CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?=
VERSION := 0.1.0

# "make asan <anything>" builds everything with the sanitizers, in its own tree,
# so a sanitizer build never mixes objects with the normal one. A build
# directory whose name contains "asan" is always a sanitizer build, so a later
# "make BUILD=build-asan install" (as the install test does) cannot fill it
# with objects built without them.
ifneq ($(filter asan,$(MAKECMDGOALS)),)
BUILD    := build-asan
endif
BUILD    ?= build
ifneq ($(findstring asan,$(notdir $(BUILD))),)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
SANFLAGS :=
endif

TU_CFLAGS  = -std=gnu17 -Wall -Wextra $(WERROR) -fPIC -D_GNU_SOURCE \
             -DTU_VERSION='"$(VERSION)"' -Ilib -Itools/common $(SANFLAGS) $(CFLAGS)
TU_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
TU_LDLIBS  = -pthread $(shell pkg-config --libs libarchive) -lacl $(LDLIBS)

LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
COMMON_SRC := $(wildcard tools/common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
TOOLS      := $(filter-out common,$(notdir $(wildcard tools/*)))
TOOL_BINS  := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c tests/hostile/*.c)
HELPER_BINS:= $(patsubst %.c,$(BUILD)/helpers/%,$(notdir $(HELPER_SRC)))

STATIC_LIB := $(BUILD)/lib/libtreeutils.a
SHARED_LIB := $(BUILD)/lib/libtreeutils.so

.SECONDARY:
.PHONY: all check demo bench asan install clean deps unit cli hostile check-hostile
all: $(STATIC_LIB) $(SHARED_LIB) $(TOOL_BINS)

# Dependencies are installed by the project itself (scripts/deps.sh), so a fresh
# machine needs nothing but make and this tree.
deps:
	@scripts/deps.sh --quiet

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(TU_CFLAGS) -MMD -MP -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libtreeutils.so.0 $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

# Each tool is tools/<tool>/*.c plus the shared front-end code, linked against
# the static library so build/bin/<tool> runs from the build tree as it is.
define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/$(1)/*.c)) $(COMMON_OBJ) $(STATIC_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TU_LDFLAGS) -o $$@ $$^ $$(TU_LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(COMMON_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ -lcmocka $(TU_LDLIBS)

$(BUILD)/helpers/%: $(BUILD)/tests/helpers/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

# The attackers of the hostile suite (tests/hostile/*.c) land beside them.
$(BUILD)/helpers/%: $(BUILD)/tests/hostile/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TU_LDFLAGS) -o $@ $^ $(TU_LDLIBS)

asan: all

unit: all $(UNIT_BINS) $(HELPER_BINS)
	tests/run unit $(BUILD)

cli: all $(HELPER_BINS)
	tests/run cli $(BUILD)

hostile: all $(HELPER_BINS)
	tests/run hostile $(BUILD)

check: all $(UNIT_BINS) $(HELPER_BINS)
	tests/run all $(BUILD)

check-hostile: all $(HELPER_BINS)
	TU_HOSTILE_LONG=1 tests/run hostile $(BUILD)

demo: all
	scripts/demo.sh $(BUILD)

bench: all $(HELPER_BINS)
	bench/run

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libtreeutils.so.$(VERSION)
	ln -sf libtreeutils.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libtreeutils.so.0
	ln -sf libtreeutils.so.0 $(DESTDIR)$(LIBDIR)/libtreeutils.so
	install -m 0644 lib/treeutils.h $(DESTDIR)$(INCDIR)/
	install -m 0644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1/

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
