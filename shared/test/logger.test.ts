import { Writable } from 'node:stream';
import { createLogger, redactLogLine } from '../src';

/** A logger writing into an array of lines, flushed synchronously. */
function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ name: 't', destination }), lines };
}

describe('log redaction', () => {
  it('redacts URL userinfo at any depth: nested objects, arrays, URL objects, messages, errors, child bindings', () => {
    const { logger, lines } = capture();
    const url = 'https://elastic:s3cr3t@es.example:9200';
    logger.child({ node: url }).info(
      {
        shared: { es: { nodes: [{ url }] } },
        meta: { connection: { url: new URL(url) } }, // as the Elasticsearch client's errors carry it
        err: new Error(`connect ECONNREFUSED ${url}/_bulk`),
      },
      `starting against ${url}`,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('s3cr3t');
    expect(lines[0]).not.toContain('elastic:');
    expect(lines[0]).toContain('https://[redacted]@es.example:9200');
    const rec = JSON.parse(lines[0]);
    expect(rec.shared.es.nodes[0].url).toBe('https://[redacted]@es.example:9200');
    expect(rec.msg).toBe('starting against https://[redacted]@es.example:9200');
    expect(rec.err.message).toContain('https://[redacted]@es.example:9200/_bulk');
  });

  it('redacts secret-named values at any depth, not only at the fixed paths', () => {
    const { logger, lines } = capture();
    logger.info(
      { a: { b: { c: { kafkaSaslPassword: 'pw1', queryToken: 'tok', headers: { Authorization: 'Bearer abc' } } } }, count: 3 },
      'x',
    );
    expect(lines[0]).not.toMatch(/pw1|tok"|Bearer abc/);
    expect(JSON.parse(lines[0]).count).toBe(3);
  });

  it('handles passwords holding @, quotes and escapes, and leaves URLs without userinfo alone', () => {
    const line = JSON.stringify({ u: 'http://user:p@ss"w\\rd@host:1/x?y=a@b', v: 'http://host:9200/a@b', w: 'mail me at a@b.c' });
    const out = JSON.parse(redactLogLine(line));
    expect(out.u).toBe('http://[redacted]@host:1/x?y=a@b');
    expect(out.v).toBe('http://host:9200/a@b');
    expect(out.w).toBe('mail me at a@b.c');
  });
});
