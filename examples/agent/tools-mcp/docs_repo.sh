#!/bin/sh
# Makes the team's documents (../docs/*.md) a Git repository at $1, unless one is there: three
# commits with fixed authors and dates, so its history (and every commit id) is the same on every
# machine and in every run. The agent reads it through mcp-server-git (git.sh). Built in a
# temporary folder and moved into place, so two servers starting at once never see half a repository.
set -e
here=$(cd "$(dirname "$0")" && pwd)
repo=$1
[ -d "$repo/.git" ] && exit 0
tmp="$repo.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
git() { command git -C "$tmp" -c commit.gpgsign=false -c core.hooksPath=/dev/null "$@"; }
git init -q -b main
export GIT_AUTHOR_NAME="Grace Hopper" GIT_AUTHOR_EMAIL="grace@example.com"
export GIT_COMMITTER_NAME="Grace Hopper" GIT_COMMITTER_EMAIL="grace@example.com"
commit() {  # commit DATE FILE MESSAGE
  cp "$here/../docs/$2" "$tmp/$2"
  git add "$2"
  GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git commit -q -m "$3"
}
commit "2025-06-02T09:00:00+00:00" security.md "Security when travelling: VPN, lost devices, customer data"
commit "2025-09-15T14:20:00+00:00" expenses.md "Expense reports: 30 days, receipts above 25 EUR"
commit "2026-01-05T10:00:00+00:00" travel-policy.md "Travel policy: hotel limit 160 EUR per night in Lisbon, Porto and Madrid"
mv -T "$tmp" "$repo" 2>/dev/null || rm -rf "$tmp"  # another start made it first: keep that one
