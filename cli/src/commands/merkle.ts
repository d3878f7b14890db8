/**
 * `stella merkle root|prove|verify` — RFC 9162 Merkle trees over files (docs/formats/merkle.md).
 * Each file's bytes are one leaf input, in argument order; files are streamed, never loaded whole.
 * Exit codes: 0 ok, 1 error (unreadable file, index out of range in `prove`), 2 usage,
 * 3 verification failed (`verify`, with the failed check named).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseJson } from '@stella/core/canonical-json';
import { StellaError, isStellaError } from '@stella/core/errors';
import {
  MERKLE_ALGORITHM,
  MerkleTreeBuilder,
  hashEquals,
  inclusionProof,
  inclusionProofToJson,
  leafHashStream,
  parseInclusionProofJson,
  verifyInclusion,
  type InclusionProof,
} from '@stella/core/merkle';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Leaf hash of one file, streamed in 1 MiB chunks. */
function fileLeafHash(ctx: CommandContext, file: string): Promise<Uint8Array> {
  return leafHashStream(createReadStream(resolve(ctx.cwd, file), { highWaterMark: 1 << 20 }));
}

function parseCount(raw: string, option: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${option} must be an integer ≥ ${min}, got '${raw}'`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${option} ${raw} is too large`);
  return n;
}
const parseIndex = (raw: string) => parseCount(raw, 'index', 0);

const root: CommandSpec = {
  name: 'merkle root',
  summary: 'Print the RFC 9162 Merkle root over files (one leaf per file, in order)',
  args: '<file>…',
  description: [
    "Each file's bytes are one leaf input: leaf hash = SHA-256(0x00 || bytes), node = SHA-256(0x01 || l || r).",
    'Files are streamed, so size is not limited by memory. Prints the root as lowercase hex.',
    '',
    'Example: stella merkle root a.json b.json c.json',
  ].join('\n'),
  positionals: { min: 1 },
  async run(ctx) {
    const b = new MerkleTreeBuilder();
    const leaves: { file: string; leafHash: string }[] = [];
    for (const f of ctx.positionals) {
      const h = await fileLeafHash(ctx, f);
      b.push(h);
      leaves.push({ file: f, leafHash: hex(h) });
    }
    const r = hex(b.root());
    if (ctx.json)
      println(ctx.stdout, JSON.stringify({ algorithm: MERKLE_ALGORITHM, treeSize: b.size, root: r, leaves }));
    else println(ctx.stdout, r);
    return EXIT.OK;
  },
};

const prove: CommandSpec = {
  name: 'merkle prove',
  summary: 'Print an inclusion proof (JSON) for the file at --index among the given files',
  args: '<file>…',
  description: [
    'Builds the tree over all files (one leaf per file, in argument order) and prints',
    '{"algorithm":"rfc9162-sha256","treeSize":n,"leafIndex":i,"leafHash":"<hex>","auditPath":[…],"root":"<hex>"}.',
    'An --index that is not below the number of files is an error (exit 1, MERKLE_INDEX_OUT_OF_RANGE).',
    '',
    'Example: stella merkle prove --index 1 a.json b.json c.json > b.proof.json',
  ].join('\n'),
  options: {
    index: { type: 'string', short: 'i', arg: '<i>', description: '0-based leaf index of the file to prove' },
  },
  positionals: { min: 1 },
  async run(ctx) {
    const index = parseIndex(stringOpt(ctx, 'index', true));
    const n = ctx.positionals.length;
    if (index >= n) {
      throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `--index ${index} is not below the number of files (${n})`, {
        details: { index, treeSize: n },
      });
    }
    const hashes: Uint8Array[] = [];
    for (const f of ctx.positionals) hashes.push(await fileLeafHash(ctx, f));
    const b = new MerkleTreeBuilder();
    for (const h of hashes) b.push(h);
    const proof = inclusionProofToJson({
      treeSize: n,
      leafIndex: index,
      leafHash: hashes[index]!,
      auditPath: inclusionProof(hashes, index),
      root: b.root(),
    });
    println(ctx.stdout, JSON.stringify(proof, null, 2));
    return EXIT.OK;
  },
};

interface Check {
  check: 'proof-format' | 'tree-size' | 'leaf-index' | 'leaf-hash' | 'root' | 'audit-path';
  ok: boolean;
  message: string;
}

const verify: CommandSpec = {
  name: 'merkle verify',
  summary: 'Verify that a file is included under a Merkle root, using a proof from `merkle prove`',
  args: '<file>',
  description: [
    'Checks, in order: proof-format (well-formed proof JSON, path length fits treeSize/leafIndex),',
    "leaf-hash (the file hashes to the proof's leafHash), root (the proof names the expected --root),",
    "audit-path (the path from the file's leaf hash leads to --root). Exit 3 names every failed check.",
    'With --tree-size and --index, also tree-size and leaf-index: the proof must be for that leaf of a',
    'tree of that size. Without them the position is NOT checked: an edited proof (another treeSize/',
    'leafIndex with the same path) can still reach the root, so the output says so; pin them from a',
    "size you trust (e.g. a signed manifest's leafCount and the file's place in it).",
    '',
    'Example: stella merkle verify --root <hex> --tree-size 5 --index 1 --proof b.proof.json b.json',
  ].join('\n'),
  options: {
    root: { type: 'string', arg: '<hex>', description: 'Expected Merkle root (64 hex characters)' },
    proof: {
      type: 'string',
      arg: '<proof.json>',
      description: 'Inclusion proof file written by `stella merkle prove`',
    },
    'tree-size': { type: 'string', arg: '<n>', description: 'Expected tree size (number of leaves)' },
    index: { type: 'string', short: 'i', arg: '<i>', description: 'Expected 0-based leaf index of the file' },
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const rootHex = stringOpt(ctx, 'root', true).toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(rootHex))
      throw new UsageError('--root must be 64 hex characters (a SHA-256 Merkle root)');
    const expectedRoot = new Uint8Array(Buffer.from(rootHex, 'hex'));
    const treeSizeText = stringOpt(ctx, 'tree-size');
    const indexText = stringOpt(ctx, 'index');
    const pinnedSize = treeSizeText === undefined ? undefined : parseCount(treeSizeText, 'tree-size', 1);
    const pinnedIndex = indexText === undefined ? undefined : parseIndex(indexText);
    if (pinnedSize !== undefined && pinnedIndex !== undefined && pinnedIndex >= pinnedSize)
      throw new UsageError(`--index ${pinnedIndex} is not below --tree-size ${pinnedSize}`);
    const proofBytes = await readFile(resolve(ctx.cwd, stringOpt(ctx, 'proof', true)));
    const file = ctx.positionals[0]!;
    const fileHash = await fileLeafHash(ctx, file);

    const checks: Check[] = [];
    let proof: InclusionProof | undefined;
    try {
      proof = parseInclusionProofJson(parseJson(proofBytes));
      checks.push({
        check: 'proof-format',
        ok: true,
        message: `rfc9162-sha256 proof for leaf ${proof.leafIndex} of ${proof.treeSize}`,
      });
    } catch (err) {
      if (!isStellaError(err)) throw err;
      checks.push({ check: 'proof-format', ok: false, message: `malformed proof: ${err.code}: ${err.message}` });
    }
    const notChecked: string[] = [];
    if (proof) {
      // The audit path alone does not fix the position: the last leaf of a 5-leaf tree and leaf 1
      // of a 2-leaf tree share a path, so (treeSize, leafIndex) is only checked against pins.
      if (pinnedSize === undefined) notChecked.push('tree-size');
      else
        checks.push({
          check: 'tree-size',
          ok: proof.treeSize === pinnedSize,
          message:
            proof.treeSize === pinnedSize
              ? `the proof is for a tree of ${pinnedSize} leaves, as pinned`
              : `tree size mismatch: the proof says ${proof.treeSize}, expected ${pinnedSize}`,
        });
      if (pinnedIndex === undefined) notChecked.push('leaf-index');
      else
        checks.push({
          check: 'leaf-index',
          ok: proof.leafIndex === pinnedIndex,
          message:
            proof.leafIndex === pinnedIndex
              ? `the proof is for leaf ${pinnedIndex}, as pinned`
              : `leaf index mismatch: the proof says ${proof.leafIndex}, expected ${pinnedIndex}`,
        });
      const leafOk = hashEquals(fileHash, proof.leafHash);
      checks.push({
        check: 'leaf-hash',
        ok: leafOk,
        message: leafOk
          ? `${file} hashes to the proof's leafHash`
          : `leaf hash mismatch: ${file} hashes to ${hex(fileHash)}, the proof is for ${hex(proof.leafHash)}`,
      });
      const rootOk = hashEquals(proof.root, expectedRoot);
      checks.push({
        check: 'root',
        ok: rootOk,
        message: rootOk
          ? 'the proof names the expected root'
          : `root mismatch: the proof is for root ${hex(proof.root)}, expected ${rootHex}`,
      });
      try {
        verifyInclusion(fileHash, proof.leafIndex, proof.treeSize, proof.auditPath, expectedRoot);
        checks.push({ check: 'audit-path', ok: true, message: `the audit path from ${file} leads to ${rootHex}` });
      } catch (err) {
        if (!isStellaError(err)) throw err;
        checks.push({
          check: 'audit-path',
          ok: false,
          message: `the audit path from ${file} does not lead to ${rootHex} (${err.code})`,
        });
      }
    }
    const ok = checks.every((c) => c.ok);
    if (ctx.json) {
      println(
        ctx.stdout,
        JSON.stringify({
          ok,
          file,
          root: rootHex,
          ...(proof ? { treeSize: proof.treeSize, leafIndex: proof.leafIndex } : {}),
          checks,
          notChecked,
        }),
      );
    } else {
      for (const c of checks) println(ctx.stdout, `${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.message}`);
      for (const n of notChecked)
        println(
          ctx.stdout,
          `NOT CHECKED ${n}: taken from the proof (${n === 'tree-size' ? `treeSize ${proof!.treeSize}` : `leafIndex ${proof!.leafIndex}`}) and not pinned; pass --${n === 'tree-size' ? 'tree-size' : 'index'} to check it`,
        );
      if (ok)
        println(
          ctx.stdout,
          notChecked.length === 0
            ? `verified: file is leaf ${proof!.leafIndex} of ${proof!.treeSize} under the root`
            : 'verified: file is included under the root (its position in the tree was not checked)',
        );
      else
        println(
          ctx.stderr,
          `verification FAILED: ${checks
            .filter((c) => !c.ok)
            .map((c) => c.check)
            .join(', ')}`,
        );
    }
    return ok ? EXIT.OK : EXIT.VERIFY_FAILED;
  },
};

export const commands: CommandSpec[] = [root, prove, verify];
