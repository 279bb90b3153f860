# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Everything goes into a local virtual environment, .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Our machines carry a local CPU build of torch 2.13.0: pinning it keeps CI from pulling
# gigabytes of CUDA packages. On a GPU machine: make TORCH_SPEC=torch test
TORCH_SPEC ?= torch==2.13.0
# `make demo` installs what the main job needs (faster CPU inference, the microphone and a
# file's sound); `make test` adds the test tools (pytest, ruff, Playwright, Gradio).
DEMO_EXTRAS ?= onnx,audio
EXTRAS ?= test

.PHONY: setup demo-setup test lint demo train-demo gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"

# The demo installs avaffect as a user gets it (a wheel: the shipped weights and the face
# detector travel as package data), redone when a source changes. The tests use an editable
# install of the working tree. Each removes the other's stamp, since they replace each other.
PACKAGE_FILES := pyproject.toml $(wildcard avaffect/*.py avaffect/weights/* train/*.py \
	train/*/*.py train/recipes/*.toml engines/*.py realtime/*.py corpus/*.py realtime/face_detector/* demo/*.py demo/bench/*.py cli/*.py)
$(VENV)/.installed-demo: $(PACKAGE_FILES) | $(BIN)/python
	$(BIN)/pip install -q ".[$(DEMO_EXTRAS)]"
	@rm -f $(VENV)/.installed-test
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-demo
	@touch $@

# System libraries some tests drive for real: Debian's chromium (the browser test) and
# PortAudio (the microphone test, against a virtual ALSA device). Installed where apt-get
# can (as root); never fatal: without them those tests are skipped with the reason.
# The demo needs only PortAudio (the microphone of `avaffect live`).
TEST_SYSTEM_CHECK := command -v chromium >/dev/null 2>&1 && ldconfig -p | grep -q libportaudio.so.2
DEMO_SYSTEM_CHECK := ldconfig -p | grep -q libportaudio.so.2
define system_packages
@{ $(1); } \
|| { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	&& { apt-get install -y -q $(2) >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(2) >/dev/null 2>&1; }; }; } \
|| echo "could not install $(2): $(3)"
endef

setup: $(VENV)/.installed-test
	$(call system_packages,$(TEST_SYSTEM_CHECK),chromium libportaudio2,the browser and microphone tests will be skipped)

demo-setup: $(VENV)/.installed-demo
	$(call system_packages,$(DEMO_SYSTEM_CHECK),libportaudio2,avaffect live will run without the microphone)

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

# The main job on the embedded default model (no training, no download): the live analyzer
# on the webcam and microphone. Without a camera, pass a video: make demo VIDEO=talk.mp4
VIDEO ?=
demo: demo-setup
	@if [ -n "$(VIDEO)" ]; then \
		$(BIN)/avaffect analyze "$(VIDEO)" --out runs/demo && echo "results in runs/demo/"; \
	elif ls /dev/video* >/dev/null 2>&1; then \
		$(BIN)/avaffect live; \
	else \
		$(BIN)/avaffect models --shipped; \
		echo "no camera on this machine: run 'make demo VIDEO=yourclip.mp4' to analyze a video file"; \
	fi

# The offline chain on a synthetic Aff-Wild2-layout database (write it, train the lite
# MT-VGG-RNN from scratch, score it), a few CPU minutes: what training your own looks like.
TRAIN_DEMO_DIR ?= runs/train-demo
train-demo: demo-setup
	rm -rf $(TRAIN_DEMO_DIR)
	$(BIN)/avaffect data synthetic $(TRAIN_DEMO_DIR)/data --videos 8 --frames 120
	$(BIN)/avaffect train mt_vgg_rnn --data $(TRAIN_DEMO_DIR)/data --out $(TRAIN_DEMO_DIR)/run \
		model.name=mt_vgg_rnn_lite model.init_from="" model.kwargs.width=0.125 face.size=64 \
		data.sequence_length=30 steps=120 eval_every=40 optim.lr=3e-4
	$(BIN)/avaffect eval --checkpoint $(TRAIN_DEMO_DIR)/run/best.safetensors --dataset affwild2 \
		--path $(TRAIN_DEMO_DIR)/data --split validation

# Once on a machine with an NVIDIA GPU (with a CUDA build of torch: make TORCH_SPEC=torch
# gpu-check): the CUDA tests, engine and stream benchmarks, a training probe; JSON and a
# short table into $$OUT (or runs/gpu-check), within 8 minutes on an H100. Without a GPU it
# prints the plan and why each part is skipped. A face video for the streams part: VIDEO=FILE
gpu-check: setup
	$(BIN)/python scripts/gpu_check.py $(if $(VIDEO),--video "$(VIDEO)")

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
