# Entry points. `make demo` and `make test` do all set-up on a fresh Debian 12
# machine (they install missing packages first).
BUILD ?= build
JOBS ?= $(shell nproc)
SERDAB := $(BUILD)/bin/serdab

.PHONY: deps configure build test demo bench format clean

deps:
	./scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1 --timeout 1800

demo: build
	./scripts/demo.sh $(BUILD)

bench: build
	/usr/bin/python3 bench/engine_vs_pytorch.py --serdab $(SERDAB)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
