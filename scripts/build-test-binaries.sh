#!/usr/bin/env bash
# Builds the real programs the sandbox runs — kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl and etcd (from k8s.io/kubernetes through a wrapper module), kwok and MinIO — and the older kubectl
# minors the gateway is tested with, from the Go module proxy, into a cache outside the repository keyed by
# version. Cached binaries are not rebuilt.
#
#   KUBEGATE_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/kubegate)
#   KUBEBUILDER_ASSETS   a directory with envtest binaries (etcd, kube-apiserver, kubectl) to use as they are
#   KUBEGATE_BIN_<NAME>  one binary brought by the user, e.g. KUBEGATE_BIN_KUBE_APISERVER=/opt/k8s/kube-apiserver
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=testbin-versions.env
source "$here/testbin-versions.env"
cache=${KUBEGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubegate}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
started=$SECONDS
step=""

fail() {
  echo "kubegate: building test binaries failed at step: $step" >&2
  echo "kubegate: fix the cause above, then retry with: bash scripts/build-test-binaries.sh (finished binaries are kept)" >&2
}
trap fail ERR

progress() { printf '[%4ds] %s\n' "$((SECONDS - started))" "$*"; }

# provided NAME: true when the user brought this binary (explicit variable or KUBEBUILDER_ASSETS).
provided() {
  local var="KUBEGATE_BIN_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  [[ -n "${!var:-}" && -x "${!var}" ]] && return 0
  [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$1" ]]
}

# the console's browser tests drive Debian's chromium (installed with apt-get when missing)
step="install chromium"
bash "$here/install-chromium.sh"

command -v go >/dev/null || { step="find go"; echo "kubegate: Go is required to build the test binaries" >&2; exit 1; }

# build_from_kubernetes VERSION OUT_DIR BINARY...: builds binaries of k8s.io/kubernetes at VERSION (and etcd
# from its module graph) into OUT_DIR through a wrapper module, with the version ldflags.
build_from_kubernetes() {
  local version=$1 out=$2 b pkg
  shift 2
  step="prepare wrapper module for k8s.io/kubernetes $version"
  progress "$step"
  local work="$cache/build/kubernetes-$version"
  mkdir -p "$work" "$out"
  go mod download -json "k8s.io/kubernetes@$version" >"$work/download.json"
  local k8s_src staging_version go_directive minor
  k8s_src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$work/download.json")
  staging_version="v0.${version#v1.}"
  go_directive=$(sed -n 's/^go \(.*\)$/\1/p' "$k8s_src/go.mod")
  minor=${version#v1.}; minor=${minor%%.*}
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging paths;
  # the wrapper replaces each with its published release instead.
  {
    echo "module kubegate.dev/testbin"
    echo
    echo "go $go_directive"
    echo
    echo "require k8s.io/kubernetes $version"
    # before 1.33 kubernetes pins reflect2 v1.0.2, whose map handling breaks under Go >= 1.24
    # (modern-go/reflect2#32); kubernetes itself moved to this commit (kubernetes#132269).
    ((minor < 33)) && echo "require github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$#\t\1 => \1 '"$staging_version"'#p' "$k8s_src/go.mod"
    echo ")"
  } >"$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for b in "$@"; do printf '\t_ "%s"\n' "$(package_of "$b")"; done
    printf ')\n'
  } >"$work/tools.go"
  step="resolve modules (go mod tidy) for k8s.io/kubernetes $version"
  progress "$step"
  (cd "$work" && go mod tidy)

  local build_date ldflags="-s -w"
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  for b in "$@"; do
    pkg=$(package_of "$b")
    step="go build $b $version ($pkg)"
    progress "building $b $version ..."
    (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "$pkg")
    mv "$out/$b.tmp" "$out/$b"
    progress "built $b $version"
  done
}

package_of() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

k8s_dir="$cache/bin/kubernetes-$KUBERNETES_VERSION"
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd)
need_k8s=()
for b in "${k8s_bins[@]}"; do
  provided "$b" || [[ -x "$k8s_dir/$b" ]] || need_k8s+=("$b")
done
((${#need_k8s[@]})) && build_from_kubernetes "$KUBERNETES_VERSION" "$k8s_dir" "${need_k8s[@]}"

# Older kubectl minors, so the gateway is tested with the clients users have (SPDY and WebSocket streams).
for version in ${KUBECTL_EXTRA_VERSIONS//,/ }; do
  [[ -x "$cache/bin/kubectl-$version/kubectl" ]] || build_from_kubernetes "$version" "$cache/bin/kubectl-$version" kubectl
done

# go_install NAME MODULE_PATH VERSION: builds one binary with `go install` into its versioned cache folder.
go_install() {
  local name=$1 path=$2 version=$3 dir="$cache/bin/$1-$3"
  if provided "$name" || [[ -x "$dir/$name" ]]; then return 0; fi
  step="go install $path@$version"
  progress "building $name ..."
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "$path@$version"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  progress "built $name"
}
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
go_install minio github.com/minio/minio "$MINIO_VERSION"

# kwok serves exec, attach, logs and port-forward per its Exec/Logs/Attach/PortForward resources; the
# sandbox installs those CRDs from the same kwok release.
kwok_crds="$cache/bin/kwok-$KWOK_VERSION/crds"
if [[ ! -f "$kwok_crds/kwok.x-k8s.io_clusterexecs.yaml" ]]; then
  step="fetch kwok $KWOK_VERSION CRDs"
  progress "$step"
  kwok_src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$kwok_crds.tmp"
  for kind in execs clusterexecs logs clusterlogs attaches clusterattaches portforwards clusterportforwards; do
    cp "$kwok_src/kustomize/crd/bases/kwok.x-k8s.io_$kind.yaml" "$kwok_crds.tmp/"
  done
  rm -rf "$kwok_crds" && mv "$kwok_crds.tmp" "$kwok_crds"
fi

trap - ERR
progress "test binaries ready in $cache/bin"
