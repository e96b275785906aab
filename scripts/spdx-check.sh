#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx-check.sh: lists the source files (scripts/spdx-files.sh) that lack an
# "SPDX-License-Identifier: Apache-2.0" line; exits 1 if there is any. It
# only reads: scripts/spdx-add.sh adds the lines.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while IFS= read -r f; do
	if ! grep -qE '^(/\* |# |\.\\" )SPDX-License-Identifier: Apache-2\.0' "$f"; then
		echo "$f"
		missing=$((missing + 1))
	fi
done < <(scripts/spdx-files.sh)
[ $missing -eq 0 ]
