// One log format per stream, probes at debug (issue 7 point 7), through the real app builder.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertStellaError, tempDir } from '@stella/testkit';
import { createTokenVerifier, loadOrCreateDevIssuer, type DevIssuer } from '@stella/platform/auth';
import { loadConfig, type LogFormat, type LogLevel } from '@stella/platform/config';
import { buildApp } from '@stella/platform/http';
import { createLogger, formatTextLine } from '@stella/platform/telemetry';

/** A stderr stand-in that records lines and says whether it is a terminal. */
function captureStream(isTTY: boolean) {
  const lines: string[] = [];
  return { isTTY, lines, write: (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')) };
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let dev: DevIssuer;
before(async () => {
  dir = await tempDir('stella-logger-');
  dev = await loadOrCreateDevIssuer(dir.path);
});
after(() => dir.cleanup());

/** Builds the app logging into `stream`, sends `urls`, returns the captured lines. */
async function logsOf(stream: ReturnType<typeof captureStream>, level: LogLevel, format: LogFormat, urls: string[]) {
  const app = await buildApp({
    config: { http: { bodyLimit: 4096 }, logLevel: level, logFormat: format },
    verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
    version: '1.2.3',
    logStream: stream,
  });
  try {
    for (const url of urls) await app.inject({ url });
  } finally {
    await app.close();
  }
  return stream.lines;
}

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

describe('log format', () => {
  test('auto: JSON lines when the stream is not a terminal', async () => {
    const lines = await logsOf(captureStream(false), 'info', 'auto', ['/v1/whoami']);
    assert.ok(lines.length >= 2, lines.join('\n'));
    assert.ok(lines.every(isJson), lines.join('\n'));
    assert.ok(lines.map((l) => JSON.parse(l)).some((r) => r.msg === 'request completed' && r.res.statusCode === 401));
  });

  test('auto: readable lines, no JSON, on a terminal', async () => {
    const lines = await logsOf(captureStream(true), 'info', 'auto', ['/v1/whoami']);
    assert.ok(lines.length >= 2);
    assert.ok(!lines.some(isJson), lines.join('\n'));
    assert.ok(
      lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} (INFO|WARN|ERROR) {1,2}\S/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => / incoming request .*GET \/v1\/whoami/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => / request completed .*status=401 \d+\.\dms/.test(l)),
      lines.join('\n'),
    );
  });

  test('json and text can be forced either way', async () => {
    assert.ok((await logsOf(captureStream(true), 'info', 'json', ['/v1/whoami'])).every(isJson));
    assert.ok(!(await logsOf(captureStream(false), 'info', 'text', ['/v1/whoami'])).some(isJson));
  });

  test('health, readiness and metrics polls are debug, not info', async () => {
    const probes = ['/healthz', '/readyz', '/metrics'];
    const atInfo = await logsOf(captureStream(false), 'info', 'json', [...probes, '/v1/whoami']);
    for (const p of probes) assert.ok(!atInfo.some((l) => l.includes(p)), `${p} at info:\n${atInfo.join('\n')}`);
    assert.ok(atInfo.some((l) => l.includes('/v1/whoami')));
    const atDebug = (await logsOf(captureStream(false), 'debug', 'json', probes)).map((l) => JSON.parse(l));
    for (const p of probes)
      assert.ok(
        atDebug.some((r) => r.level === 20 && r.req?.url === p),
        `${p} not at debug`,
      );
    assert.ok(atDebug.filter((r) => r.msg === 'request completed').every((r) => r.level === 20));
  });

  test('createLogger (for work outside requests) follows the same format', () => {
    const tty = captureStream(true);
    createLogger({ level: 'info', format: 'auto', stream: tty }).warn({ variable: 'STELLA_X' }, 'unknown variable');
    assert.match(tty.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}unknown variable variable=STELLA_X$/);
    const pipe = captureStream(false);
    createLogger({ level: 'info', format: 'auto', stream: pipe }).info('stopped');
    assert.equal(JSON.parse(pipe.lines[0]!).msg, 'stopped');
  });

  test('text lines quote values with spaces and indent an error stack', () => {
    const err = new Error('boom');
    const text = formatTextLine({
      level: 50,
      time: 0,
      msg: 'unhandled error',
      err: { message: err.message, stack: err.stack },
      who: 'a b',
    });
    const [first, ...stack] = text.trimEnd().split('\n');
    assert.equal(first, '00:00:00.000 ERROR unhandled error err=boom who="a b"');
    assert.ok(stack.length > 0 && stack.every((l) => l.startsWith('    ')));
  });

  test('STELLA_LOG_FORMAT is validated with the rest of the configuration', () => {
    assert.equal(loadConfig({}).logFormat, 'auto');
    assert.equal(loadConfig({ STELLA_LOG_FORMAT: 'JSON' }).logFormat, 'json');
    assertStellaError(() => loadConfig({ STELLA_LOG_FORMAT: 'xml' }), 'CONFIG_INVALID');
  });
});
