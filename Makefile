# Development tasks. `make test` sets up the venv on first use (scripts/setup_env.sh).
# VENV=/some/path make ... uses another venv location.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV ?= .venv
STAMP := $(VENV)/.setup-stamp
# Run a command inside the activated venv (console scripts on PATH, activate's DDS settings).
IN_VENV := . $(VENV)/bin/activate &&

# Inherited from a parent Python process, this guard would stop the ROS wheels' bootstrapper
# in every interpreter started here (see rgbt_tracking/ros/environment.py).
unexport _ROS_WHEELS_BOOTSTRAP_COMPLETE

SETUP_INPUTS := scripts/setup_env.sh \
	$(wildcard requirements/*.txt) \
	setup.py setup.cfg package.xml \
	$(wildcard build_fixtures/vision_msgs/package.xml build_fixtures/vision_msgs/CMakeLists.txt \
	           build_fixtures/vision_msgs/msg/*.msg)

.PHONY: setup test demo bench clean-venv

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	VENV=$(VENV) scripts/setup_env.sh
	touch $@

test: $(STAMP)
	$(IN_VENV) python -m pytest -q -m "not slow" test

demo: $(STAMP)
	$(IN_VENV) rgbt-track demo

bench: $(STAMP)
	$(IN_VENV) python benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
