#!/usr/bin/env bash
# What actions/checkout does, on a local git server: the workspace is emptied, then
# init + fetch + detached checkout (a branch is checked out as a local branch).
set -euo pipefail
dest="$GITHUB_WORKSPACE/${DEST:-}"
mkdir -p "$dest"
cd "$dest"
find . -mindepth 1 -delete
git init -q .
# $ACT_GIT_SERVER: the harness's local stand-in for $GITHUB_SERVER_URL (bare repositories).
git remote add origin "$ACT_GIT_SERVER/$REPOSITORY"
depth=()
[ "${DEPTH:-1}" = 0 ] || depth=(--depth "$DEPTH")
sha=""
ref="$REF"
if [ -z "$ref" ]; then
  ref="$GITHUB_REF"
  sha="$GITHUB_SHA"
fi
if [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
  sha="$ref"
  ref=""
fi
if [ "${DEPTH:-1}" = 0 ]; then
  git fetch -q --no-tags --prune origin '+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'
fi
ref="${ref#refs/heads/}"
case "$ref" in
  "") ;;
  refs/pull/*) git fetch -q --no-tags "${depth[@]}" origin "+$ref:refs/remotes/${ref#refs/}" ;;
  refs/tags/*) git fetch -q --no-tags "${depth[@]}" origin "+$ref:$ref" ;;
  *) git fetch -q --no-tags "${depth[@]}" origin "+refs/heads/$ref:refs/remotes/origin/$ref" ;;
esac
if [ -n "$sha" ]; then
  git cat-file -e "$sha^{commit}" 2>/dev/null || git fetch -q --no-tags "${depth[@]}" origin "$sha"
  git checkout -q --force --detach "$sha"
elif [[ "$ref" == refs/pull/* ]]; then
  git checkout -q --force --detach "refs/remotes/${ref#refs/}"
elif [[ "$ref" == refs/tags/* ]]; then
  git checkout -q --force --detach "$ref"
else
  git checkout -q --force -B "$ref" "refs/remotes/origin/$ref"
fi
echo "checked out $(git rev-parse HEAD) (${REF:-$GITHUB_REF}) from $REPOSITORY"
