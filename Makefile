# Entry points. `make demo` and `make test` do all set-up on a fresh Debian 12
# machine (they install missing packages first).
BUILD ?= build
JOBS ?= $(shell nproc)
SERDAB := $(BUILD)/bin/serdab

.PHONY: deps configure build test tsan fuzz demo bench format clean

deps:
	./scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Unit tests two at a time; the end-to-end tests (daemons, cameras) run
# alone (RUN_SERIAL in tests/CMakeLists.txt).
test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 1800

# The concurrent parts (EPC pager, thread pool, kernels on several threads)
# under ThreadSanitizer.
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSERDAB_SANITIZE=thread \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
	cmake --build build-tsan -j $(JOBS) --target concurrency_tests
	build-tsan/bin/concurrency_tests --gtest_filter='Epc*:*Stress*:ThreadPool*:ModelTest.TwoThreads*:ConcatPlacement*:*SecureChannelTest.Records*:*SecureChannelTest.Fetch*' \
	  --gtest_brief=1

# Every parser of untrusted bytes under libFuzzer with AddressSanitizer and
# UndefinedBehaviorSanitizer, FUZZ_SECONDS each (see tests/fuzz/run.sh). At
# -O1, as libFuzzer suggests, and with line tables only (what the reports
# need): the SIMD kernels the targets link build in minutes on two cores.
FUZZ_SECONDS ?= 30
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" -DSERDAB_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

demo: build
	./scripts/demo.sh $(BUILD)

# ONNX Runtime, issue 11's anchor, is installed from npm into an ignored
# directory on first use: a benchmark tool, never a dependency of the build.
bench: build
	cmake --build $(BUILD) -j $(JOBS) --target benches
	/usr/bin/python3 bench/engine_vs_pytorch.py --bin $(dir $(SERDAB))
	test -f bench/.onnxruntime/node_modules/onnxruntime-node/package.json || \
	  npm install --ignore-scripts --no-save --prefix bench/.onnxruntime onnxruntime-node
	/usr/bin/python3 bench/engine_vs_onnxruntime.py --bin $(dir $(SERDAB)) \
	  --markdown $(BUILD)/engine_vs_onnxruntime.md

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
