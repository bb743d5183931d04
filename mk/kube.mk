# Kubernetes integration tests against a real control plane (etcd, kube-apiserver,
# kube-controller-manager built from the Go module proxy into a cache dir). Not part of the
# default `go test ./...` run: the suite in test/kube skips unless SHOAL_KUBE_TEST_KUBECONFIG
# is set, and this target sets it.
#
#   make -f mk/kube.mk kube-test      standalone
#   make kube-test                    when the top Makefile has `include mk/kube.mk`
#
# kube-test builds the binaries if they are not cached (10-15 min cold, once), starts the
# control plane in a temporary state dir, runs the suite with -race, always stops the control
# plane, and prints what was checked and how long it took (about a minute when cached).
# Knobs: KUBE_VERSION, ETCD_VERSION, KUBE_BIN, KUBE_TEST_TIMEOUT, KUBE_TEST_RUN,
# KUBE_KEEP_STATE=1 (keep logs); see scripts/kube/*.sh.

KUBE_MK_PREVIOUS_GOAL := $(.DEFAULT_GOAL)
KUBE_MK_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
GO ?= go
KUBE_VERSION ?= 1.33.13
ETCD_VERSION ?= 3.5.21
KUBE_BIN ?= $(HOME)/.cache/kube-testbin/v$(KUBE_VERSION)
KUBE_TEST_TIMEOUT ?= 6m
KUBE_TEST_RUN ?= .
KUBE_MK_ENV = GO='$(GO)' KUBE_VERSION='$(KUBE_VERSION)' ETCD_VERSION='$(ETCD_VERSION)' KUBE_BIN='$(KUBE_BIN)'

.PHONY: kube-test kube-bin

# Build (or find cached), start, test, stop.
kube-test:
	@$(KUBE_MK_ENV) KUBE_TEST_TIMEOUT='$(KUBE_TEST_TIMEOUT)' KUBE_TEST_RUN='$(KUBE_TEST_RUN)' \
		'$(KUBE_MK_ROOT)/scripts/kube/test.sh'

# Only build (or find) the control-plane binaries.
kube-bin:
	@$(KUBE_MK_ENV) '$(KUBE_MK_ROOT)/scripts/kube/build.sh'

# Included from another Makefile: do not steal its default goal.
ifneq ($(KUBE_MK_PREVIOUS_GOAL),)
.DEFAULT_GOAL := $(KUBE_MK_PREVIOUS_GOAL)
else ifneq ($(words $(MAKEFILE_LIST)),1)
.DEFAULT_GOAL :=
endif
