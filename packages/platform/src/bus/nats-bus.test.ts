import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { needService, services, uniqueName } from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { busContract } from './testing/bus-contract.js';
import { deleteNatsStream, openNatsBus } from './nats-bus.js';
import { newEvent } from './event-envelope.js';

const skip = await needService('nats');
const url = services.nats.url;

busContract(
  'nats',
  async () => {
    const stream = uniqueName('STELLA_TEST').toUpperCase();
    const subjectPrefix = `t.${stream.toLowerCase()}`;
    const base = { stream, subjectPrefix, ackWaitMs: 1_500, drainTimeoutMs: 200 };
    return {
      open: (extra) => openNatsBus(url, { ...base, ...extra }),
      child: { url, options: base },
      async poison(raw) {
        const nc = await connect({ servers: url });
        await nc.jetstream().publish(`${subjectPrefix}.poison`, Buffer.from(raw, 'utf8'));
        await nc.close();
      },
      cleanup: () => deleteNatsStream(url, stream),
    };
  },
  skip,
);

describe('nats bus specifics', { skip }, () => {
  test('stream layout: subjects <prefix>.<kind>, Nats-Msg-Id <tenant>:<eventId>, duplicate flagged by the server', async () => {
    const stream = uniqueName('STELLA_LAYOUT').toUpperCase();
    const prefix = `t.${stream.toLowerCase()}`;
    const bus = await openNatsBus(url, { stream, subjectPrefix: prefix });
    const nc = await connect({ servers: url });
    try {
      const e = newEvent({ tenant: 'acme', kind: 'evidence.bundle.sealed', source: 'test' });
      await bus.publish(e);
      await bus.publish(e); // dropped by the duplicate window
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(stream);
      assert.deepEqual(info.config.subjects, [`${prefix}.>`]);
      assert.equal(info.state.messages, 1);
      const msg = await jsm.streams.getMessage(stream, { seq: 1 });
      assert.equal(msg.subject, `${prefix}.evidence.bundle.sealed`);
      assert.equal(msg.header.get('Nats-Msg-Id'), `acme:${e.eventId}`);
      assert.deepEqual(msg.json(), e);
    } finally {
      await nc.close();
      await bus.close();
      await deleteNatsStream(url, stream);
    }
  });

  test('an unreachable server is BUS_UNAVAILABLE; bad stream names are CONFIG_INVALID', async () => {
    await assert.rejects(openNatsBus('nats://127.0.0.1:1'), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));
    await assert.rejects(openNatsBus(url, { stream: 'bad.name' }), (err: unknown) =>
      isStellaError(err, 'CONFIG_INVALID'),
    );
    await assert.rejects(openNatsBus(url, { subjectPrefix: 'a.>' }), (err: unknown) =>
      isStellaError(err, 'CONFIG_INVALID'),
    );
  });
});
