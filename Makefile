# ngx_mastodon: an nginx-native Mastodon server.
#   make            build the nginx module (.so), the worker and the lib/ unit tests
#   make run        install missing packages, build, start PostgreSQL, Redis, the worker and nginx under var/
#   make stop       stop what `make run` started
#   make run INSTANCE=2 / make stop INSTANCE=2   a second, independent instance (var/instance2/, port 8081)
#   make test       the same set-up, ephemeral, then the whole suite (normal and ASan builds)
#   make asan       AddressSanitizer build into build-asan/;  make test-asan runs the suite with it only
#   make bench      wrk against loopback: API endpoints vs nginx serving the same bytes statically
#   make fuzz       libFuzzer harnesses of lib/'s parsers (lib/fuzz/), FUZZ_SECONDS (60) each

BUILD      ?= build
SANITIZE   ?=
NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
INSTANCE   ?= 1

CC         ?= cc
PG_INC     := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
OPT        ?= -O2
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_ALL := -std=gnu11 -g $(OPT) $(WARN) -fPIC -D_GNU_SOURCE -Ilib -I$(PG_INC)
LDLIBS_ALL := -lpq -lhiredis -lyajl -lssl -lcrypto -lcrypt -lcurl -lunistring -lidn -lpthread -lm
# libvips for the worker's media processing only
VIPS_CFLAGS := $(shell pkg-config --cflags vips 2>/dev/null)
VIPS_LIBS   := $(shell pkg-config --libs vips 2>/dev/null)
ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
  CFLAGS_ALL += $(SAN_FLAGS)
endif

LIB_SRCS    := $(wildcard lib/*.c)
LIB_HDRS    := $(wildcard lib/*.h)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
WORKER_SRCS := $(wildcard worker/*.c)
WORKER_HDRS := $(wildcard worker/*.h)
WORKER_OBJS := $(WORKER_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard lib/t/*.c)
UNIT_BINS   := $(UNIT_SRCS:lib/t/%.c=$(BUILD)/unit/%)
MODULE_SRCS := $(wildcard ngx_mastodon_module/*/*.c ngx_mastodon_module/*/*.h)
MODULE_SO   := $(BUILD)/nginx/ngx_http_mastodon_module.so

.PHONY: all module worker unit deps run stop test test-asan asan bench clean \
        fuzz fuzz-build
all: module worker unit

deps:
	@scripts/install-deps.sh

# --- lib/ and the worker ----------------------------------------------------
$(BUILD)/lib/libmastodon.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c $(LIB_HDRS) $(WORKER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

worker: $(BUILD)/mastodon-worker
$(BUILD)/mastodon-worker: $(WORKER_OBJS) $(BUILD)/lib/libmastodon.a
	$(CC) $(CFLAGS_ALL) -rdynamic -o $@ $^ $(LDLIBS_ALL) $(VIPS_LIBS) -lz

$(BUILD)/worker/media_image.o: CFLAGS_ALL += $(VIPS_CFLAGS)
$(BUILD)/worker/emoji_cli.o: CFLAGS_ALL += $(VIPS_CFLAGS)

unit: $(UNIT_BINS)
$(BUILD)/unit/%: lib/t/%.c $(BUILD)/lib/libmastodon.a $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/lib/libmastodon.a -lcmocka $(LDLIBS_ALL)

# --- the nginx module ---------------------------------------------------------
# Debian's recipe (nginx-dev): configure a copy of the source tree with the
# binary's own flags, then `make modules`.  NGINX_SRC=/path/to/nginx-x.y.z
# builds against any other nginx source tree instead.
module: $(MODULE_SO)

$(BUILD)/nginx/Makefile: config $(MODULE_SRCS) $(LIB_SRCS) $(LIB_HDRS)
	@scripts/configure-nginx.sh "$(NGINX_SRC)" "$(BUILD)" "$(SAN_FLAGS)"

$(MODULE_SO): $(BUILD)/nginx/Makefile $(MODULE_SRCS) $(LIB_SRCS) $(LIB_HDRS)
	$(MAKE) -C $(BUILD)/nginx-src -f $(abspath $(BUILD))/nginx/Makefile modules
	@test -f $@

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 OPT=-O1 all

# --- libFuzzer harnesses (clang): lib/ instrumented, one binary a parser ------
FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -std=gnu11 -g -O1 $(WARN) -D_GNU_SOURCE -Ilib -I$(PG_INC) \
                -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_SRCS    := $(wildcard lib/fuzz/*.c)
FUZZ_BINS    := $(FUZZ_SRCS:lib/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_OBJS    := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/lib/%.o: lib/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libmastodon.a: $(FUZZ_OBJS)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/%: lib/fuzz/%.c lib/fuzz/fuzz_tree.h $(FUZZ_BUILD)/libmastodon.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_BUILD)/libmastodon.a $(LDLIBS_ALL)

fuzz-build: $(FUZZ_BINS)

fuzz: deps fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BUILD)

# --- running and testing --------------------------------------------------------
run: deps all
	@INSTANCE=$(INSTANCE) scripts/run.sh start

stop:
	@INSTANCE=$(INSTANCE) scripts/run.sh stop

# the whole suite twice: the normal build, then the AddressSanitizer one
# (the first run also runs each fuzz harness for FUZZ_TEST_SECONDS)
test: deps all asan fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/test.sh "$(BUILD)"
	@scripts/test.sh build-asan

test-asan: deps asan
	@scripts/test.sh build-asan

bench: deps all
	@scripts/bench.sh "$(BUILD)"

clean:
	rm -rf build build-asan $(FUZZ_BUILD)
