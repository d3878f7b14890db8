import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import { run } from '@stella/testkit';
import {
  MIGRATION_FILE_PATTERN,
  migrationChecksum,
  orderMigrationFileNames,
  parseMigrationFileName,
} from './migration-files.js';
import { TENANT_ID_PATTERN, assertTenantId } from '../tenant/tenant-id.js';

const snake = fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 4 }).map((p) => p.join('_'));
const fileName = (v: number, name: string) => `${String(v).padStart(4, '0')}_${name}.sql`;

describe('migration file names', () => {
  test('examples', () => {
    assert.deepEqual(parseMigrationFileName('0001_schema.sql'), { version: 1, name: 'schema' });
    assert.deepEqual(parseMigrationFileName('0042_add_bundle_index.sql'), { version: 42, name: 'add_bundle_index' });
    assert.deepEqual(parseMigrationFileName('12345_big.sql'), { version: 12345, name: 'big' });
    for (const bad of [
      '1_x.sql',
      '001_x.sql',
      '0000_x.sql',
      '0001-x.sql',
      '0001_X.sql',
      '0001_x.SQL',
      '0001_.sql',
      '0001__x.sql',
      '0001_x_.sql',
      '0001_x.sql.bak',
      ' 0001_x.sql',
      '0001_x y.sql',
    ]) {
      assert.equal(parseMigrationFileName(bad), undefined, bad);
    }
  });

  test('property: well-formed names round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999_999 }), snake, (v, name) => {
        assert.deepEqual(parseMigrationFileName(fileName(v, name)), { version: v, name });
      }),
    );
  });

  test('property: any accepted string matches the documented pattern and re-formats to itself', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{3,6}_[a-z_0-9]{0,6}\.(sql|SQL)$/)), (s) => {
        const p = parseMigrationFileName(s);
        if (p === undefined) return;
        assert.match(s, MIGRATION_FILE_PATTERN);
        assert.ok(p.version >= 1);
        assert.equal(`${s.slice(0, s.indexOf('_'))}_${p.name}.sql`, s);
      }),
    );
  });

  test('property: unique versions in any order come out sorted; non-sql files are ignored', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 99_999 }), { maxLength: 30 }), snake, (versions, name) => {
        const files = [...versions.map((v) => fileName(v, name)), 'README.md', '.hidden.sql'];
        const out = orderMigrationFileNames('s', files);
        assert.deepEqual(
          out.map((f) => f.version),
          [...versions].sort((a, b) => a - b),
        );
      }),
    );
  });

  test('property: a repeated version is always rejected with MIGRATION_INVALID_NAME', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        snake,
        snake,
        fc.array(fc.integer({ min: 1, max: 9999 }), { maxLength: 5 }),
        (v, a, b, more) => {
          fc.pre(a !== b);
          const files = [fileName(v, a), fileName(v, b), ...more.filter((m) => m !== v).map((m) => fileName(m, 'x'))];
          assert.throws(
            () => orderMigrationFileNames('s', files),
            (e: unknown) => isStellaError(e, 'MIGRATION_INVALID_NAME'),
          );
        },
      ),
    );
  });

  test('checksum: sha256sum of the LF text; CRLF and a BOM do not count, content does', async () => {
    const text = 'create table x (a int);\n-- é\n';
    const r = await run('sha256sum', [], { input: Buffer.from(text, 'utf8') });
    assert.equal(migrationChecksum(text), r.stdout.toString().split(' ')[0]);
    assert.equal(migrationChecksum(`\uFEFF${text.replace(/\n/g, '\r\n')}`), migrationChecksum(text));
    assert.notEqual(migrationChecksum('create table x (a bigint);\n'), migrationChecksum(text));
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }).map((l) => l.replace(/[\r\n\uFEFF]/g, ''))), (lines) => {
        assert.equal(migrationChecksum(lines.join('\r\n')), migrationChecksum(lines.join('\n')));
      }),
    );
  });
});

describe('tenant ids', () => {
  test('property: assertTenantId accepts exactly the pattern', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 140 }), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,130}$/)),
        (s) => {
          const ok = TENANT_ID_PATTERN.test(s);
          if (ok) assertTenantId(s);
          else
            assert.throws(
              () => assertTenantId(s),
              (e: unknown) => isStellaError(e, 'TENANT_INVALID'),
            );
        },
      ),
    );
  });
});
