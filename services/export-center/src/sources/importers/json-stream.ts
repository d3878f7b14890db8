/**
 * Streaming readers for source files (issue #10 "a 200 MB source file (streamed, not buffered)"):
 * the elements of a JSON array — top-level, or one member of a top-level object — one at a time
 * through stream-json's tokenizer, so memory holds one element, never the file; JSON Lines one
 * line at a time; and a bounded whole-document read for the formats whose record IS the file.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { jsonParser, type Token } from 'stream-json/core/parser.js';
import Assembler from 'stream-json/core/assembler.js';
import { getManyValues, isMany, none } from 'stream-chain/defs.js';
import { parseJson, type JsonValue } from '@stella/core/canonical-json';
import { isStellaError, StellaError } from '@stella/core/errors';
import { MAX_RECORD_BYTES } from './importer.js';

export type JsonScalar = string | number | boolean | null;

export type ElementEvent =
  /** `header`: the top-level scalar members seen so far (before this element). */
  | { readonly element: JsonValue; readonly index: number; readonly header: Readonly<Record<string, JsonScalar>> }
  /** The top-level scalar members, once the document ended (an array file has none). */
  | { readonly header: Readonly<Record<string, JsonScalar>> };

export function syntaxError(position: string, message: string): StellaError {
  return new StellaError('SOURCE_SYNTAX', message, { details: { position } });
}

/**
 * The elements of the array at `arrayKey` of a top-level object (or of the top-level array when
 * `arrayKey` is null), in order, then the object's top-level scalar members. Other nested members
 * are skipped without being assembled. A syntax error ends the stream with SOURCE_SYNTAX whose
 * `details.position` says after which element and before which byte it was found (the tokenizer
 * works on chunks, so the byte is the end of the chunk that failed).
 */
export async function* jsonElements(
  input: AsyncIterable<Uint8Array>,
  arrayKey: string | null,
): AsyncGenerator<ElementEvent> {
  const label = (i: number) => (arrayKey === null ? `[${i}]` : `${arrayKey}[${i}]`);
  const arrayDepth = arrayKey === null ? 1 : 2;
  const header: Record<string, JsonScalar> = {};
  let depth = 0; // nesting depth before the current token
  let key: string | null = null; // the current top-level member name
  let inArray = false; // inside the selected array
  let index = 0;
  let asm: Assembler | null = null; // assembling one element
  let rootIsArray: boolean | null = null;
  const ready: JsonValue[] = [];

  /** Feeds one token; complete elements are queued in `ready`. */
  const feed = (t: Token) => {
    if (asm) {
      asm.consume(t);
      if (t.name === 'startObject' || t.name === 'startArray') depth++;
      else if (t.name === 'endObject' || t.name === 'endArray') depth--;
      if (asm.done) {
        ready.push(asm.current as JsonValue);
        asm = null;
      }
      return;
    }
    if (rootIsArray === null) {
      rootIsArray = t.name === 'startArray';
      if (rootIsArray !== (arrayKey === null)) {
        throw syntaxError('byte 0', arrayKey === null ? 'expected a JSON array' : 'expected a JSON object');
      }
      if (rootIsArray) inArray = true;
    }
    if (inArray && depth === arrayDepth) {
      if (t.name === 'endArray') {
        inArray = false;
        depth--;
        return;
      }
      asm = new Assembler();
      asm.consume(t);
      if (t.name === 'startObject' || t.name === 'startArray') depth++;
      if (asm.done) {
        ready.push(asm.current as JsonValue);
        asm = null;
      }
      return;
    }
    switch (t.name) {
      case 'startObject':
      case 'startArray':
        if (depth === 1 && t.name === 'startArray' && arrayKey !== null && key === arrayKey) inArray = true;
        depth++;
        break;
      case 'endObject':
      case 'endArray':
        depth--;
        break;
      case 'keyValue':
        if (depth === 1) key = t.value;
        break;
      case 'stringValue':
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        if (depth === 1 && key !== null) header[key] = t.value;
        break;
      case 'numberValue':
        if (depth === 1 && key !== null) header[key] = Number(t.value);
        break;
      default:
        break;
    }
  };

  // The tokenizer (stream-json's synchronous core) throws a syntax error without the tokens it
  // had found before the error in the text it was given, so text is fed in small pieces: at most
  // PIECE bytes of good records just before an error go unread, and the position names the piece.
  const tokenize = jsonParser({ streamValues: false });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  const run = (text: string | typeof none, end: number) => {
    let out;
    try {
      // `none` flushes (stream-chain's flushable contract: write(none) at the end).
      out = tokenize(text as string);
    } catch (err) {
      if (isStellaError(err) || !(err instanceof Error)) throw err;
      const where = `after ${index + ready.length === 0 ? 'the start' : label(index + ready.length - 1)}, before byte ${end}`;
      throw syntaxError(where, `not well-formed JSON ${where}: ${err.message}`);
    }
    if (out === none) return;
    if (isMany(out)) for (const t of getManyValues(out)) feed(t);
    else feed(out as Token);
  };
  for await (const chunk of input) {
    for (let at = 0; at < chunk.byteLength; at += PIECE) {
      let piece = chunk.subarray(at, Math.min(at + PIECE, chunk.byteLength));
      if (offset === 0 && piece[0] === 0xef && piece[1] === 0xbb && piece[2] === 0xbf) piece = piece.subarray(3);
      let text: string;
      try {
        text = decoder.decode(piece, { stream: true });
      } catch {
        throw syntaxError(`byte ${offset}`, `invalid UTF-8 within bytes ${offset}–${offset + piece.byteLength}`);
      }
      offset += piece.byteLength;
      try {
        run(text, offset);
      } finally {
        // Elements completed before an error are still handed out (the caller imports them).
        while (ready.length) yield { element: ready.shift()!, index: index++, header };
      }
    }
  }
  run(none, offset);
  while (ready.length) yield { element: ready.shift()!, index: index++, header };
  if (rootIsArray === null) throw syntaxError('byte 0', 'the input is empty');
  yield { header };
}

/** Bytes handed to the tokenizer at a time (see jsonElements). */
const PIECE = 512;

/** JSON Lines (https://jsonlines.org/): each non-blank line parsed on its own, with its 1-based number. */
export async function* jsonLines(
  input: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ line: number; value?: JsonValue; error?: StellaError }> {
  const lines = createInterface({ input: Readable.from(input), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim().length === 0) continue;
    if (Buffer.byteLength(text, 'utf8') > MAX_RECORD_BYTES) {
      yield {
        line: n,
        error: new StellaError('SOURCE_RECORD_TOO_LARGE', `line ${n} is over ${MAX_RECORD_BYTES} bytes`),
      };
      continue;
    }
    try {
      yield { line: n, value: parseJson(text) };
    } catch (err) {
      if (!isStellaError(err)) throw err;
      yield { line: n, error: syntaxError(`line ${n}`, `line ${n} is not valid JSON: ${err.message}`) };
    }
  }
}

/** The whole input as one JSON document (strict I-JSON parse), refusing more than `max` bytes. */
export async function readDocument(input: AsyncIterable<Uint8Array>, max = MAX_RECORD_BYTES): Promise<JsonValue> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of input) {
    size += chunk.byteLength;
    if (size > max) {
      throw new StellaError('SOURCE_RECORD_TOO_LARGE', `the document is over ${max} bytes`, {
        details: { limit: max },
      });
    }
    chunks.push(chunk);
  }
  try {
    return parseJson(Buffer.concat(chunks));
  } catch (err) {
    if (isStellaError(err)) throw syntaxError('document', `not valid JSON: ${err.message}`);
    throw err;
  }
}

/**
 * The first `max` bytes of `input` (or all of it, if shorter) as text, and the input again,
 * whole — for format detection without buffering the rest.
 */
export async function peekPrefix(
  input: AsyncIterable<Uint8Array>,
  max: number,
): Promise<{ prefix: string; input: AsyncIterable<Uint8Array> }> {
  const it = input[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  while (size < max) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    seen.push(next.value);
    size += next.value.byteLength;
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    yield* seen;
    if (ended) return;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const prefix = Buffer.concat(seen).subarray(0, max).toString('utf8');
  return { prefix, input: replay() };
}

/** The first character that is not JSON whitespace (or a BOM), or '' for an empty prefix. */
export function firstJsonChar(prefix: string): string {
  return /^[\s\uFEFF]*(.)/su.exec(prefix)?.[1] ?? '';
}
