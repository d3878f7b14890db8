/**
 * A bounded single-producer, single-consumer channel of byte chunks: lets an adapter feed a file
 * (e.g. an index) while it writes other files in the same pass. `push` waits while the consumer is
 * behind by more than `highWater` bytes, so memory stays bounded; `fail` ends the consumer's
 * iteration with an error (the sink then removes the partial file).
 */
export class ByteChannel implements AsyncIterable<Uint8Array> {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private closed = false;
  private error: unknown;
  private wakeConsumer?: () => void;
  private wakeProducer?: () => void;

  constructor(private readonly highWater = 256 * 1024) {}

  async push(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('push after close');
    this.queue.push(chunk);
    this.queued += chunk.byteLength;
    this.wakeConsumer?.();
    while (this.queued > this.highWater && this.error === undefined)
      await new Promise<void>((r) => (this.wakeProducer = r));
    if (this.error !== undefined) throw this.error;
  }

  close(): void {
    this.closed = true;
    this.wakeConsumer?.();
  }

  fail(err: unknown): void {
    this.error = err ?? new Error('channel failed');
    this.closed = true;
    this.wakeConsumer?.();
    this.wakeProducer?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (;;) {
        if (this.error !== undefined) throw this.error;
        const chunk = this.queue.shift();
        if (chunk) {
          this.queued -= chunk.byteLength;
          if (this.queued <= this.highWater) this.wakeProducer?.();
          yield chunk;
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((r) => (this.wakeConsumer = r));
      }
    } finally {
      // The consumer stopped (finished, failed or gave up): never leave the producer waiting.
      if (this.error === undefined && !this.closed) this.error = new Error('channel consumer stopped');
      this.wakeProducer?.();
    }
  }
}
