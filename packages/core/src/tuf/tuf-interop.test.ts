// Acceptance: metadata written by @stella/core/tuf is consumed by tuf-js@5 (a real TUF client)
// over loopback HTTP, and checked statically by Debian's python3-securesystemslib.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, readFile, writeFile, cp } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { Updater } from 'tuf-js';
import { needTool, run, tempDir } from '@stella/testkit';
import {
  buildTufRepository,
  tufSignerFromKeyObject,
  type BuildTufRepositoryOptions,
  type TufRepository,
} from '@stella/core/tuf';
import { ed25519FromSeed } from './tuf-test-keys.js';

const enc = new TextEncoder();
const FAR = new Date(Date.now() + 365 * 86400_000);
const MANIFEST = enc.encode('{"schema":"stella/export@1","files":[]}\n');

function opts(over: Partial<BuildTufRepositoryOptions> = {}): BuildTufRepositoryOptions {
  const ed = (n: number) => tufSignerFromKeyObject(ed25519FromSeed(n));
  // Snapshot/timestamp on ECDSA P-256, as python-tuf repositories commonly do (spec §4).
  const ec = () => tufSignerFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  return {
    roles: {
      root: { signers: [ed(1), ed(2)], threshold: 2 },
      targets: { signers: [ed(3)], threshold: 1 },
      snapshot: { signers: [ec()], threshold: 1 },
      timestamp: { signers: [ec()], threshold: 1 },
    },
    targets: [
      { path: 'bundle-manifest.json', content: MANIFEST },
      { path: 'data/vex.jsonl', content: enc.encode('{"id":1}\n{"id":2}\n') },
    ],
    expires: { root: FAR, targets: FAR, snapshot: FAR, timestamp: FAR },
    ...over,
  };
}

async function writeRepo(dir: string, repo: TufRepository): Promise<void> {
  for (const f of repo.files) {
    const p = join(dir, f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.bytes);
  }
}

describe('TUF interop: tuf-js@5 Updater over loopback HTTP', () => {
  let server: Server;
  let base = '';
  let root = '';
  let cleanup: () => Promise<void>;
  const log: string[] = [];

  before(async () => {
    const t = await tempDir('stella-tuf-');
    root = t.path;
    cleanup = t.cleanup;
    server = createServer((req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const p = normalize(join(root, url));
      log.push(url);
      if (!p.startsWith(root)) return void res.writeHead(403).end();
      readFile(p).then(
        (b) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length }).end(b),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await cleanup();
  });

  /** A fresh repo under /<name>/ and a client dir trusting its 1.root.json. */
  async function setup(name: string, repo: TufRepository) {
    await writeRepo(join(root, name, 'repo'), repo);
    const client = join(root, name, 'client');
    await mkdir(join(client, 'metadata'), { recursive: true });
    await mkdir(join(client, 'targets'), { recursive: true });
    await cp(join(root, name, 'repo/metadata/1.root.json'), join(client, 'metadata/root.json'));
    return new Updater({
      metadataDir: join(client, 'metadata'),
      metadataBaseUrl: `${base}/${name}/repo/metadata`,
      targetDir: join(client, 'targets'),
      targetBaseUrl: `${base}/${name}/repo/targets`,
      config: { fetchRetries: 0, fetchTimeout: 5000 },
    });
  }

  test('refresh, then download and verify a target', async () => {
    const updater = await setup('ok', await buildTufRepository(opts()));
    await updater.refresh();
    const info = await updater.getTargetInfo('bundle-manifest.json');
    assert.ok(info, 'target info found');
    const path = await updater.downloadTarget(info!);
    assert.deepEqual(new Uint8Array(await readFile(path)), MANIFEST);
    const nested = await updater.getTargetInfo('data/vex.jsonl');
    assert.equal(nested?.length, 18);
    await updater.downloadTarget(nested!);
    assert.ok(
      log.some((l) => /^\/ok\/repo\/targets\/[0-9a-f]{64}\.bundle-manifest\.json$/.test(l)),
      log.join('\n'),
    );
    assert.ok(log.includes('/ok/repo/metadata/2.root.json'), 'root walk probed 2.root.json');
    assert.equal(await updater.getTargetInfo('missing.json'), undefined);
  });

  test('expired timestamp: tuf-js refuses', async () => {
    const past = new Date(Date.now() - 86400_000);
    const updater = await setup(
      'expired',
      await buildTufRepository(opts({ expires: { root: FAR, targets: FAR, snapshot: FAR, timestamp: past } })),
    );
    await assert.rejects(updater.refresh(), (e: Error) => /expired/i.test(`${e.name} ${e.message}`));
  });

  test('tampered target: tuf-js refuses', async () => {
    const repo = await buildTufRepository(opts());
    const updater = await setup('tampered', repo);
    const f = repo.files.find((x) => x.path.endsWith('.bundle-manifest.json'))!;
    const same = Uint8Array.from(f.bytes);
    same[5] = same[5]! ^ 1; // same length, different bytes
    await writeFile(join(root, 'tampered/repo', f.path), same);
    await updater.refresh();
    const info = await updater.getTargetInfo('bundle-manifest.json');
    await assert.rejects(updater.downloadTarget(info!), /hash|mismatch|length/i);
    await writeFile(join(root, 'tampered/repo', f.path), Buffer.concat([f.bytes, Buffer.from('x')]));
    await assert.rejects(updater.downloadTarget(info!), /length|max/i);
  });

  test('targets signed by the wrong key: tuf-js refuses', async () => {
    const roles = opts().roles;
    const good = await buildTufRepository(opts({ roles }));
    // Same snapshot/timestamp keys (so the evil snapshot and timestamp verify and pin the evil
    // targets), but targets signed by a key the root does not list for the targets role.
    const evil = await buildTufRepository(
      opts({ roles: { ...roles, targets: { signers: [tufSignerFromKeyObject(ed25519FromSeed(66))], threshold: 1 } } }),
    );
    const updater = await setup('wrongkey', good);
    for (const p of ['metadata/timestamp.json', 'metadata/1.snapshot.json', 'metadata/1.targets.json']) {
      await writeFile(join(root, 'wrongkey/repo', p), evil.files.find((f) => f.path === p)!.bytes);
    }
    await assert.rejects(updater.refresh(), /targets was signed by 0\/1 keys/);
  });
});

describe(
  'TUF interop: python3-securesystemslib static check',
  { skip: needTool('/usr/bin/python3', { args: ['-c', 'import securesystemslib.signer'] }) },
  () => {
    test('every signature verifies over securesystemslib encode_canonical; meta hashes match', async () => {
      const t = await tempDir('stella-tuf-py-');
      try {
        await writeRepo(t.path, await buildTufRepository(opts()));
        const script = `
import json, sys, hashlib, os
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import SSlibKey, Signature
d = sys.argv[1]
load = lambda p: open(os.path.join(d, p), 'rb').read()
root = json.loads(load('metadata/1.root.json'))
def check(name, raw, role):
    md = json.loads(raw)
    data = encode_canonical(md['signed']).encode()
    r = root['signed']['roles'][role]
    ok = 0
    for s in md['signatures']:
        if s['keyid'] not in r['keyids']: continue
        k = root['signed']['keys'][s['keyid']]
        key = SSlibKey(s['keyid'], k['keytype'], k['scheme'], k['keyval'])
        key.verify_signature(Signature(s['keyid'], s['sig']), data)
        ok += 1
    assert ok >= r['threshold'], (name, ok)
    return md['signed']
check('root', load('metadata/1.root.json'), 'root')
ts = check('timestamp', load('metadata/timestamp.json'), 'timestamp')
snap_raw = load('metadata/1.snapshot.json')
m = ts['meta']['snapshot.json']
assert len(snap_raw) == m['length'] and hashlib.sha256(snap_raw).hexdigest() == m['hashes']['sha256']
snap = check('snapshot', snap_raw, 'snapshot')
tg_raw = load('metadata/1.targets.json')
m = snap['meta']['targets.json']
assert len(tg_raw) == m['length'] and hashlib.sha256(tg_raw).hexdigest() == m['hashes']['sha256']
tg = check('targets', tg_raw, 'targets')
for path, info in tg['targets'].items():
    head, _, name = path.rpartition('/')
    raw = load(os.path.join('targets', head, info['hashes']['sha256'] + '.' + name))
    assert len(raw) == info['length'] and hashlib.sha256(raw).hexdigest() == info['hashes']['sha256']
print('TUF OK', len(tg['targets']))
`;
        const r = await run('/usr/bin/python3', ['-c', script, t.path]);
        assert.equal(r.code, 0, r.stderr.toString());
        assert.equal(r.stdout.toString().trim(), 'TUF OK 2');
      } finally {
        await t.cleanup();
      }
    });
  },
);
