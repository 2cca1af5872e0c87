// Drop the KERN CSS rules that no KL.dialog page can use (run by vendor.sh, never at run time).
//
// Usage: node purge-css.cjs IN.css OUT.css REJECTED.txt
// PurgeCSS keeps a rule when every class, id, element and attribute in its selector occurs as a
// word in the content below. Templates also build class names in Jinja expressions, e.g.
// `kern-badge--{{ status_badges[status] }}` or `submit(label, 'secondary', 'mail')`: the
// extractor therefore joins every "open" prefix it finds (a word ending in -- or __, such as
// `kern-badge--`) with every word in the content, so a variant survives as soon as its name
// appears anywhere (in a template, in static/js or in the Python code that passes it).
"use strict";
const fs = require("fs");
const path = require("path");
const { PurgeCSS } = require("purgecss");

const [input, output, rejectedOut] = process.argv.slice(2);
const repo = path.resolve(__dirname, "..");
const pkg = path.join(repo, "kldialog");

// Where class names come from: templates, our scripts and stylesheet, and Python (flash
// categories, badge variants, form widgets). Operators' own templates in instance/templates
// see the same kept set, so the general typography and layout classes stay in (safelist).
const SOURCES = [
  ["templates", [".html", ".txt"]],
  ["static/js", [".js"]],
  ["static/css", [".css"]],
  [".", [".py"]],
];

const WORD = /[A-Za-z0-9_-]+/g;
const words = new Set();
const prefixes = new Set();
const suffixes = new Set(["--error"]);

function extract(text) {
  const found = text.match(WORD) || [];
  for (const w of found) {
    words.add(w);
    if (/^kern-[a-z0-9-]*[a-z0-9](--|__)$/.test(w)) prefixes.add(w);
  }
  return [];
}

// Gather the words of all files first, then hand PurgeCSS one combined list.
for (const [dir, exts] of SOURCES) {
  const root = path.join(pkg, dir);
  for (const rel of fs.readdirSync(root, { recursive: true })) {
    if (exts.includes(path.extname(rel))) extract(fs.readFileSync(path.join(root, rel), "utf8"));
  }
}
const combined = new Set(words);
for (const p of prefixes) {
  for (const w of words) {
    if (!/^[a-z][a-z0-9-]*$/.test(w) || w.length > 40) continue;
    combined.add(p + w);
    for (const s of suffixes) combined.add(p + w + s);
  }
}

(async () => {
  const css = fs.readFileSync(input, "utf8");
  const [result] = await new PurgeCSS().purge({
    content: [{ raw: [...combined].join(" "), extension: "txt" }],
    css: [{ raw: css }],
    defaultExtractor: (text) => text.split(" "),
    keyframes: true,
    fontFace: true,
    variables: true,
    rejected: true,
    safelist: {
      // Custom properties our own stylesheet (or a template) reads stay defined.
      variables: [...words].filter((w) => /^--kern-/.test(w)),
      // Typography, layout and list classes an operator's Impressum or privacy page may use.
      greedy: [/^kern-(heading|body|title|link|list|container|stack|table)/],
      // PurgeCSS 8 drops every `:is(...):not(...)` selector, even one that matches, such as
      // KERN's base layer `:is(body, ...):not([class*=kern-level-])` (the page's colours):
      // count :is() as present and let the other parts of the selector decide.
      standard: [":is"],
    },
  });
  fs.writeFileSync(output, result.css);
  fs.writeFileSync(rejectedOut, (result.rejected || []).sort().join("\n") + "\n");
  console.error(
    `purge-css: ${css.length} -> ${result.css.length} bytes; ` +
      `${prefixes.size} open prefixes (${[...prefixes].sort().join(", ")}); ` +
      `${(result.rejected || []).length} selectors dropped`,
  );
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
