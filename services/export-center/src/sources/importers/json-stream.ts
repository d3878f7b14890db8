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
 * `details.position` says after which element and at which byte it was found (the byte whose
 * character made the error detectable; every element completed before it is yielded first).
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

  // Why good records were lost: stream-json's tokenizer returns the tokens of one call only when
  // the call ends; a syntax error throws them away with the call and leaves the tokenizer's state
  // half-advanced, so it cannot be asked again. The hot path therefore stays as it was (PIECE-byte
  // pieces, one call each) and only keeps a checkpoint: the text since the end of an element of
  // the selected array after which the tokenizer held nothing unread — a call whose last token
  // closed the element, confirmed by the next call that yields tokens starting with the next
  // element's `{`/`[` (so only whitespace and a comma followed the closing character in its
  // piece). There the tokenizer's state is "in the array, after an element", which the prefix
  // `[null ` (or `{"":[null `) recreates in a fresh tokenizer. On an error, a fresh tokenizer gets
  // that prefix, the retained pieces that were read without error (one call each) and the failed
  // piece one character at a time: the tokens it yields past those already delivered (skipped by
  // count) are the ones the failed call lost, so every element completed before the error is
  // handed out, and the error surfaces at the character that made it detectable, whose byte the
  // position names. Retained text is bounded (MAX_RETAINED_CHARS; beyond it, as before, the
  // position is the failed piece's end and its lost elements are not recovered).
  const tokenize = jsonParser({ streamValues: false });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  let closed = false; // the last token fed closed an element (object or array) of the selected array
  let fresh = true; // the checkpoint is the start of the input (no prefix needed)
  let retained: string[] = []; // the text since the checkpoint, one string per call
  let retainedChars = 0;
  let overflow = false; // retained text went over MAX_RETAINED_CHARS and was dropped
  let sinceCheckpoint = 0; // tokens fed since the checkpoint
  let candidate: { at: number; tail: string } | null = null; // an unconfirmed checkpoint
  let sinceCandidate = 0;
  const tokensOf = (out: unknown): Token[] =>
    out === none ? [] : isMany(out) ? (getManyValues(out) as Token[]) : [out as Token];
  const feedAll = (ts: Token[]) => {
    for (const t of ts) feed(t);
    if (ts.length === 0) return;
    const last = ts[ts.length - 1]!.name;
    closed = asm === null && inArray && depth === arrayDepth && (last === 'endObject' || last === 'endArray');
  };
  const where = () => `after ${index + ready.length === 0 ? 'the start' : label(index + ready.length - 1)}`;
  /** Replays from the checkpoint; feeds the lost tokens and returns where the error showed. */
  const replay = (failed: string, failedByte: number): { at: number; message: string } | null => {
    const again = jsonParser({ streamValues: false });
    if (!fresh) again(arrayKey === null ? '[null ' : '{"":[null '); // the space ends the literal
    let skip = sinceCheckpoint;
    const take = (out: unknown) => {
      const ts = tokensOf(out);
      const n = Math.min(skip, ts.length);
      skip -= n;
      feedAll(n === 0 ? ts : ts.slice(n));
    };
    try {
      for (const text of retained) take(again(text));
    } catch {
      return null; // cannot happen (those pieces were read without error); keep the piece's end
    }
    let at = failedByte;
    for (const ch of failed) {
      try {
        take(again(ch));
      } catch (err) {
        return { at, message: (err as Error).message };
      }
      at += ch.length === 2 ? 4 : Buffer.byteLength(ch, 'utf8');
    }
    return null;
  };
  /** Bytes at the end of `piece` that the UTF-8 decoder holds back (an incomplete character). */
  const heldBack = (piece: Uint8Array): number => {
    for (let k = 1; k <= Math.min(3, piece.byteLength); k++) {
      const b = piece[piece.byteLength - k]!;
      if ((b & 0xc0) === 0x80) continue; // a continuation byte
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return len > k ? k : 0;
    }
    return 0;
  };
  const run = (text: string | typeof none, end: number, piece?: Uint8Array) => {
    let out;
    try {
      // `none` flushes (stream-chain's flushable contract: write(none) at the end).
      out = tokenize(text as string);
    } catch (err) {
      if (isStellaError(err) || !(err instanceof Error)) throw err;
      // The failed text starts this many bytes before the end of its piece (it may begin with the
      // completion of a character split across pieces and lack an incomplete one at the end).
      const start = text === none ? end : end - heldBack(piece!) - Buffer.byteLength(text, 'utf8');
      const found = text !== none && !overflow ? replay(text, start) : null;
      const pos = `${where()}, at byte ${found ? found.at : end}`;
      throw syntaxError(pos, `not well-formed JSON ${pos}: ${found ? found.message : err.message}`);
    }
    if (text === none) return;
    const ts = tokensOf(out);
    feedAll(ts);
    if (candidate && ts.length > 0) {
      const t0 = ts[0]!.name;
      if (t0 === 'startObject' || t0 === 'startArray') {
        // Confirmed: nothing but whitespace and a comma followed the element's end.
        retained = candidate.tail ? [candidate.tail, ...retained.slice(candidate.at)] : retained.slice(candidate.at);
        retainedChars = retained.reduce((n, r) => n + r.length, 0);
        overflow = false;
        fresh = false;
        sinceCheckpoint = sinceCandidate;
      }
      candidate = null;
    }
    sinceCheckpoint += ts.length;
    sinceCandidate += ts.length;
    if (!overflow) {
      retained.push(text);
      retainedChars += text.length;
      if (retainedChars > MAX_RETAINED_CHARS) {
        overflow = true;
        retained = [];
        retainedChars = 0;
        candidate = null;
      }
    }
    // Only a call that yielded tokens can end at an element's end: one that yielded none (e.g. a
    // piece of whitespace after the `,`) must keep the pending candidate and its tail, or the
    // comma in that tail is lost from the replay (which then fails at the next element).
    if (closed && ts.length > 0) {
      const cut = Math.max(text.lastIndexOf('}'), text.lastIndexOf(']')) + 1;
      candidate = { at: retained.length, tail: text.slice(cut) };
      sinceCandidate = 0;
    }
  };
  for await (const chunk of input) {
    for (let at = 0; at < chunk.byteLength; at += PIECE) {
      let piece = chunk.subarray(at, Math.min(at + PIECE, chunk.byteLength));
      if (offset === 0 && piece[0] === 0xef && piece[1] === 0xbb && piece[2] === 0xbf) {
        piece = piece.subarray(3);
        offset = 3;
      }
      let text: string;
      try {
        text = decoder.decode(piece, { stream: true });
      } catch {
        throw syntaxError(`byte ${offset}`, `invalid UTF-8 within bytes ${offset}–${offset + piece.byteLength}`);
      }
      offset += piece.byteLength;
      try {
        run(text, offset, piece);
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

/** Text kept for replaying an error (see jsonElements); beyond it the position is the piece's end. */
const MAX_RETAINED_CHARS = 4 * 1024 * 1024;

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
