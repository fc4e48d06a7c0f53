// Writes one browser's manifest.json: extension/manifest.base.json, overlaid with the browser's
// own extension/<browser>/manifest.json, version from Cargo.toml.
//   node tools/manifest.mjs <chromium|firefox> <version> <out-file>
// One source, two manifests: a single manifest with both `background.service_worker` and
// `background.scripts` loads in both browsers but Chromium warns about it and `web-ext lint`
// flags it, so each browser gets only its own keys.
import { readFileSync, writeFileSync } from 'node:fs';

const [browser, version, out] = process.argv.slice(2);
if (!browser || !version || !out) {
  console.error('usage: node tools/manifest.mjs <chromium|firefox> <version> <out-file>');
  process.exit(2);
}
const root = new URL('../extension/', import.meta.url);
const read = (p) => JSON.parse(readFileSync(new URL(p, root), 'utf8'));

const merge = (base, over) => {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const isObj = (x) => x && typeof x === 'object' && !Array.isArray(x);
    out[k] = isObj(v) && isObj(base[k]) ? merge(base[k], v) : v;
  }
  return out;
};

const manifest = merge(read('manifest.base.json'), read(`${browser}/manifest.json`));
manifest.version = version;
writeFileSync(out, JSON.stringify(manifest, null, 2) + '\n');
