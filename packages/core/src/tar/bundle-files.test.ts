import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { parseChecksumsTxt, readBundleFiles } from './bundle-files.js';
import { createTarGz } from './tar-writer.js';

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

test('readBundleFiles hashes every file and keeps only the chosen small ones', async () => {
  const meta = Buffer.from('{"a":1}');
  const data = Buffer.alloc(4096, 7);
  const big = Buffer.alloc(100, 1);
  const tgz = await collect(
    createTarGz([
      { path: 'meta.json', body: meta },
      { path: 'data/x.bin', body: data },
      { path: 'big.json', body: big },
    ]),
  );
  const files = await readBundleFiles(tgz, { keepBytes: (p) => p.endsWith('.json'), maxKeptBytes: 64 });
  assert.deepEqual([...files.keys()].sort(), ['big.json', 'data/x.bin', 'meta.json']);
  assert.equal(files.get('meta.json')!.hex, hex(meta));
  assert.deepEqual(Buffer.from(files.get('meta.json')!.bytes!), meta);
  assert.equal(files.get('data/x.bin')!.size, 4096);
  assert.equal(files.get('data/x.bin')!.bytes, undefined, 'not chosen: only hashed');
  assert.equal(files.get('big.json')!.bytes, undefined, 'chosen but over maxKeptBytes: only hashed');
});

test('parseChecksumsTxt reads sha256sum text and binary lines; names a malformed or repeated line', () => {
  const h = 'a'.repeat(64);
  const ok = parseChecksumsTxt(`${h}  x.json\n${h} *data/y.bin\n`);
  assert.ok(ok instanceof Map);
  assert.deepEqual(
    [...ok],
    [
      ['x.json', h],
      ['data/y.bin', h],
    ],
  );
  assert.equal(parseChecksumsTxt(`${h}  x\nnot a line\n`), 'line 2 is not "<sha256>  <path>"');
  assert.equal(parseChecksumsTxt(`${h}  x\n${h}  x\n`), 'line 2: x listed twice');
  assert.equal(parseChecksumsTxt(`${h.toUpperCase()}  x\n`), 'line 1 is not "<sha256>  <path>"');
});
