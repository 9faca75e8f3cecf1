# Sourced by .ci/run: kustomize for deploy/'s test of the rendered Kubernetes
# manifests. Uses a kustomize on PATH or in $(go env GOPATH)/bin, else
# installs v5.7.1 there with `go install` (about 15 s once, then cached).
# Idempotent; prints one line.
KUSTOMIZE_VERSION=v5.7.1
export PATH="$(go env GOPATH)/bin:$PATH"
if ! command -v kustomize >/dev/null; then
  GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}" >/dev/null 2>&1 ||
    { echo "== kustomize: go install sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION} failed"; return 1; }
fi
echo "== kustomize $(kustomize version 2>/dev/null | head -1)"
