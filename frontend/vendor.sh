#!/usr/bin/env bash
# Vendor the KERN UX design system (@kern-ux/native) into kldialog/static/vendor/kern/
# so the app serves CSS and fonts itself (no CDN), trimmed to what our pages use:
#   - kern.min.css without the rules no template, script or Python module can match
#     (PurgeCSS, frontend/purge-css.cjs);
#   - Fira Sans in the six faces our CSS applies, each cut into a Latin-1 file that every page
#     loads and an "other characters" file fetched only when a page needs it
#     (fonttools, frontend/subset_fonts.py).
# Rerun it after adding a KERN class or icon to a template: a test tells you when.
#
# Usage:  bash frontend/vendor.sh        (from anywhere; needs node + npm, and a Python with
#         fonttools: `pip install -e '.[vendor]'`; PYTHON=... picks another interpreter)
# To upgrade: change the pinned version in frontend/package.json, run this script,
# review the diff of kldialog/static/vendor/kern/ and commit it.
# frontend/node_modules/ is a build artefact and must stay git-ignored.
set -euo pipefail

FRONTEND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$FRONTEND_DIR/.." && pwd)"
DEST="$REPO_ROOT/kldialog/static/vendor/kern"
PKG="$FRONTEND_DIR/node_modules/@kern-ux/native"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import brotli, fontTools.subset' 2>/dev/null; then
  echo "vendor.sh: $PYTHON lacks fonttools/brotli; run: $PYTHON -m pip install -e '$REPO_ROOT[vendor]'" >&2
  exit 1
fi

cd "$FRONTEND_DIR"
npm install --no-audit --no-fund

[[ -f "$PKG/package.json" ]] || { echo "vendor.sh: $PKG not installed" >&2; exit 1; }
VERSION="$(node -p "require(process.argv[1]).version" "$PKG/package.json")"
PINNED="$(node -p "require(process.argv[1]).devDependencies['@kern-ux/native']" "$FRONTEND_DIR/package.json")"
if [[ "$VERSION" != "$PINNED" ]]; then
  echo "vendor.sh: installed @kern-ux/native $VERSION differs from pinned $PINNED" >&2
  exit 1
fi

# Build into a staging dir next to DEST, then swap it in, so a failure never
# leaves a half-vendored tree behind.
mkdir -p "$(dirname "$DEST")"
STAGE="$(mktemp -d "$REPO_ROOT/kldialog/static/vendor/.kern-stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# The stylesheets we serve, as paths relative to DEST: KERN's own CSS, pruned to the rules our
# pages can use, and the @font-face rules written together with the font subsets.
CSS_FILES=(kern.min.css fonts/fira-sans.css)

node "$FRONTEND_DIR/purge-css.cjs" "$PKG/dist/kern.min.css" "$STAGE/kern.min.css" "$STAGE/.purge-rejected.txt"
rm -f "$STAGE/.purge-rejected.txt"
"$PYTHON" "$FRONTEND_DIR/subset_fonts.py" "$PKG/dist/fonts" "$STAGE/fonts" 2>&1 \
  | { grep -v 'fsSelection bits 7, 8 and 9' || true; }  # fonttools' note on the fonts' OS/2 table

# List every url() in the CSS; fail on anything that would be fetched from another
# host (absolute or protocol-relative URLs) or on @import; print relative asset paths.
ASSETS="$(node - "$STAGE" "${CSS_FILES[@]}" <<'NODE'
const fs = require('fs');
const path = require('path');
const [dist, ...files] = process.argv.slice(2);
const urlRe = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)/g;
const assets = new Set();
let bad = 0;
for (const f of files) {
  const text = fs.readFileSync(path.join(dist, f), 'utf8');
  if (/@import\b/.test(text)) { console.error(`${f}: contains @import`); bad++; }
  for (const m of text.matchAll(urlRe)) {
    const u = (m[1] ?? m[2] ?? m[3]).trim();
    if (/^data:/i.test(u)) continue;                      // inline, never fetched
    if (/^[a-z][a-z0-9+.-]*:/i.test(u) || u.startsWith('//') || u.startsWith('/')) {
      console.error(`${f}: non-relative url(${u})`); bad++; continue;
    }
    const rel = path.posix.normalize(path.posix.join(path.posix.dirname(f), u.split(/[?#]/)[0]));
    if (rel.startsWith('..')) { console.error(`${f}: url(${u}) escapes the kern/ folder`); bad++; continue; }
    assets.add(rel);
  }
}
if (bad) process.exit(1);
console.log([...assets].sort().join('\n'));
NODE
)"

# Assets the generated CSS names are already staged; anything else comes from the package.
while IFS= read -r asset; do
  [[ -n "$asset" ]] || continue
  [[ -f "$STAGE/$asset" ]] && continue
  mkdir -p "$STAGE/$(dirname "$asset")"
  cp "$PKG/dist/$asset" "$STAGE/$asset"
done <<< "$ASSETS"

# Licences. KERN itself: EUPL-1.2 (the package ships the German-language text as LICENSE.md).
cp "$PKG/LICENSE.md" "$STAGE/LICENSE-EUPL-1.2.md"

# Fira Sans is under the SIL Open Font License 1.1, but @kern-ux/native does not ship
# the OFL text, so it is written here (verbatim OFL 1.1 as distributed by mozilla/Fira;
# copyright line taken from the fonts' own name table).
cat > "$STAGE/LICENSE-OFL-1.1-FiraSans.txt" <<'OFL'
Fira Sans (fonts/fira-sans/*.woff2, version 4.106, shipped by @kern-ux/native)
Digitized data copyright (c) 2012-2015, The Mozilla Foundation and Telefonica S.A.
Fira Sans is a trademark of The Mozilla Corporation.

The files here are subsets of the original fonts (fewer faces and characters per file, cut
by frontend/subset_fonts.py with fonttools): a Modified Version under the licence below,
distributed under the same licence, with the fonts' copyright and licence names kept.

This Font Software is licensed under the SIL Open Font License, Version 1.1.
This license is copied below, and is also available with a FAQ at:
http://scripts.sil.org/OFL


-----------------------------------------------------------
SIL OPEN FONT LICENSE Version 1.1 - 26 February 2007
-----------------------------------------------------------

PREAMBLE
The goals of the Open Font License (OFL) are to stimulate worldwide
development of collaborative font projects, to support the font creation
efforts of academic and linguistic communities, and to provide a free and
open framework in which fonts may be shared and improved in partnership
with others.

The OFL allows the licensed fonts to be used, studied, modified and
redistributed freely as long as they are not sold by themselves. The
fonts, including any derivative works, can be bundled, embedded,
redistributed and/or sold with any software provided that any reserved
names are not used by derivative works. The fonts and derivatives,
however, cannot be released under any other type of license. The
requirement for fonts to remain under this license does not apply
to any document created using the fonts or their derivatives.

DEFINITIONS
"Font Software" refers to the set of files released by the Copyright
Holder(s) under this license and clearly marked as such. This may
include source files, build scripts and documentation.

"Reserved Font Name" refers to any names specified as such after the
copyright statement(s).

"Original Version" refers to the collection of Font Software components as
distributed by the Copyright Holder(s).

"Modified Version" refers to any derivative made by adding to, deleting,
or substituting -- in part or in whole -- any of the components of the
Original Version, by changing formats or by porting the Font Software to a
new environment.

"Author" refers to any designer, engineer, programmer, technical
writer or other person who contributed to the Font Software.

PERMISSION & CONDITIONS
Permission is hereby granted, free of charge, to any person obtaining
a copy of the Font Software, to use, study, copy, merge, embed, modify,
redistribute, and sell modified and unmodified copies of the Font
Software, subject to the following conditions:

1) Neither the Font Software nor any of its individual components,
in Original or Modified Versions, may be sold by itself.

2) Original or Modified Versions of the Font Software may be bundled,
redistributed and/or sold with any software, provided that each copy
contains the above copyright notice and this license. These can be
included either as stand-alone text files, human-readable headers or
in the appropriate machine-readable metadata fields within text or
binary files as long as those fields can be easily viewed by the user.

3) No Modified Version of the Font Software may use the Reserved Font
Name(s) unless explicit written permission is granted by the corresponding
Copyright Holder. This restriction only applies to the primary font name as
presented to the users.

4) The name(s) of the Copyright Holder(s) or the Author(s) of the Font
Software shall not be used to promote, endorse or advertise any
Modified Version, except to acknowledge the contribution(s) of the
Copyright Holder(s) and the Author(s) or with their explicit written
permission.

5) The Font Software, modified or unmodified, in part or in whole,
must be distributed entirely under this license, and must not be
distributed under any other license. The requirement for fonts to
remain under this license does not apply to any document created
using the Font Software.

TERMINATION
This license becomes null and void if any of the above conditions are
not met.

DISCLAIMER
THE FONT SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO ANY WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT
OF COPYRIGHT, PATENT, TRADEMARK, OR OTHER RIGHT. IN NO EVENT SHALL THE
COPYRIGHT HOLDER BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
INCLUDING ANY GENERAL, SPECIAL, INDIRECT, INCIDENTAL, OR CONSEQUENTIAL
DAMAGES, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
FROM, OUT OF THE USE OR INABILITY TO USE THE FONT SOFTWARE OR FROM
OTHER DEALINGS IN THE FONT SOFTWARE.
OFL

printf '%s\n' "$VERSION" > "$STAGE/VERSION"

cat > "$STAGE/README.md" <<EOF
# KERN UX design system (vendored)

Plain-CSS build of [KERN](https://www.kern-ux.de), npm package \`@kern-ux/native\` version ${VERSION}, served by the app itself (no CDN):
- \`kern.min.css\`: KERN's \`dist/kern.min.css\` without the rules none of our templates, scripts or Python modules can match (PurgeCSS, \`frontend/purge-css.cjs\`).
- \`fonts/fira-sans.css\`, \`fonts/fira-sans/*.woff2\`: Fira Sans in the faces our CSS applies (400, 400 italic, 500, 600, 600 italic, 700), each cut into \`*.latin.woff2\` (Latin-1 and the punctuation our pages use) and \`*.other.woff2\` (every other character, fetched only by a page that contains one) by \`frontend/subset_fonts.py\`.

Licences: KERN CSS under EUPL-1.2 (\`LICENSE-EUPL-1.2.md\`); Fira Sans fonts under SIL OFL 1.1 (\`LICENSE-OFL-1.1-FiraSans.txt\`).
Do not edit these files by hand: bump the version in \`frontend/package.json\` (or add a KERN class to a template) and run \`bash frontend/vendor.sh\`, which regenerates this whole directory.
EOF

rm -rf "$DEST"
mv "$STAGE" "$DEST"
# mktemp -d creates the dir 0700 and the package ships some files 0755: normalise.
find "$DEST" -type d -exec chmod 755 {} +
find "$DEST" -type f -exec chmod 644 {} +
trap - EXIT

echo "Vendored @kern-ux/native $VERSION into ${DEST#"$REPO_ROOT"/}:"
(cd "$DEST" && find . -type f | sort | sed 's|^\./|  |')
