// Writes <file>.gz and <file>.br next to each file of dist/ larger than 1 KiB, at the highest
// levels (done once per build, not per request). The server sends one of them when the request's
// Accept-Encoding allows it. Node's own zlib: no dependency.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = new URL('./dist', import.meta.url).pathname;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath, entry.name);
  if (!entry.isFile() || /\.(gz|br)$/.test(path)) continue;
  const raw = readFileSync(path);
  if (raw.length <= 1024) continue;
  const variants = {
    gz: gzipSync(raw, { level: 9 }),
    br: brotliCompressSync(raw, {
      params: {
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    }),
  };
  for (const [ext, bytes] of Object.entries(variants)) {
    if (bytes.length < raw.length) writeFileSync(`${path}.${ext}`, bytes);
  }
  console.log(`${path.slice(dist.length + 1)}: ${raw.length} bytes, gzip ${variants.gz.length}, brotli ${variants.br.length}`);
}
