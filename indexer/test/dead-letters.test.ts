import type { Message, Producer } from 'kafkajs';
import { CancelledError, createLogger } from '../../shared/src';
import { DeadLetterSender } from '../src/dead-letters';

/** A scripted producer: answers each send with the next outcome (undefined = acknowledged). */
function scripted(outcomes: Array<{ type: string; retriable: boolean } | undefined>) {
  const sent: Message[][] = [];
  const producer = {
    async send({ messages }: { messages: Message[] }) {
      sent.push(messages);
      const o = outcomes.shift();
      if (o) throw Object.assign(new Error(o.type), { name: 'KafkaJSProtocolError', ...o });
    },
  } as unknown as Producer;
  return { producer, sent };
}

const tooLarge = { type: 'MESSAGE_TOO_LARGE', retriable: false };
const letters = [1, 2].map((i) => ({ value: Buffer.alloc(3000, 0x61), code: 'index_too_large', reason: 'r', source: `t/0/${i}` }));

describe('DeadLetterSender', () => {
  const settings = { maxDlqValueBytes: 2048, retryBaseMs: 1, retryMaxMs: 2 };
  const logger = createLogger({ name: 'test', level: 'silent' });

  function sender(producer: Producer, signal = new AbortController().signal) {
    const lost: string[] = [];
    const s = new DeadLetterSender(
      () => producer,
      'dlq',
      settings,
      {
        lost: {
          inc: ({ code }) => {
            lost.push(code);
          },
        },
      },
      logger,
      signal,
    );
    return { s, lost };
  }

  it('sends values cut to the cap', async () => {
    const { producer, sent } = scripted([]);
    await sender(producer).s.send(letters);
    const all = sent.flat();
    expect(all).toHaveLength(2);
    for (const m of all) {
      expect((m.value as Buffer).length).toBe(2048);
      expect(m.headers!['mplp-truncated']).toBe('true');
    }
  });

  it('retries what is retryable', async () => {
    const { producer, sent } = scripted([{ type: 'LEADER_NOT_AVAILABLE', retriable: true }]);
    await sender(producer).s.send(letters.slice(0, 1));
    expect(sent).toHaveLength(2);
  });

  it('a permanently refused send: each letter again as a reference without value', async () => {
    const { producer, sent } = scripted([tooLarge]);
    const { s, lost } = sender(producer);
    await s.send(letters.slice(0, 1));
    expect(sent).toHaveLength(2);
    expect(sent[1][0].value).toBeNull();
    expect(sent[1][0].headers!['mplp-original-bytes']).toBe('3000');
    expect(sent[1][0].headers!['mplp-source']).toBe('t/0/1');
    expect(lost).toEqual([]);
  });

  it('a reference refused too is counted lost and the send resolves', async () => {
    const { producer } = scripted([tooLarge, tooLarge]);
    const { s, lost } = sender(producer);
    await expect(s.send(letters.slice(0, 1))).resolves.toBeUndefined();
    expect(lost).toEqual(['index_too_large']);
  });

  it('shutdown is not a refusal: the send rejects as cancelled, nothing counted lost', async () => {
    const abort = new AbortController();
    const { producer, sent } = scripted(Array.from({ length: 100 }, () => ({ type: 'LEADER_NOT_AVAILABLE', retriable: true })));
    const { s, lost } = sender(producer, abort.signal);
    const p = s.send(letters.slice(0, 1));
    setTimeout(() => abort.abort(), 20);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(lost).toEqual([]);
    expect(sent.every((m) => m[0].value !== null)).toBe(true);
  });
});
