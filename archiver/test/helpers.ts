import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TestContext, uniqueName } from '../../shared/testing';
import { ensureIndexTemplates } from '../../shared/src';

export const CLI = path.join(__dirname, '..', 'src', 'cli.js');

/** A fresh index prefix with the project's templates and a fresh S3 key prefix (deleted at cleanup). */
export async function archiveSetup(ctx: TestContext, extra: Record<string, string> = {}) {
  const prefix = ctx.indexPrefix('test-arch');
  const es = ctx.es();
  await ensureIndexTemplates(es, prefix);
  const s3Prefix = uniqueName('test-archive');
  ctx.defer(async () => {
    const { ListObjectsV2Command, DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
    const s3 = ctx.s3();
    const l = await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/` }));
    if (l.Contents?.length)
      await s3.send(new DeleteObjectsCommand({ Bucket: ctx.cfg.s3Bucket, Delete: { Objects: l.Contents.map((o) => ({ Key: o.Key! })) } }));
  });
  const env: Record<string, string> = {
    MPLP_INDEX_PREFIX: prefix,
    MPLP_S3_PREFIX: s3Prefix,
    MPLP_LOG_LEVEL: 'warn',
    MPLP_ARCHIVER_PART_MAX_BYTES: '65536',
    ...extra,
  };
  return { prefix, s3Prefix, env, es };
}

/** An aged daily index with n span documents of varied shape. */
export async function seedIndex(ctx: TestContext, index: string, n: number): Promise<void> {
  const es = ctx.es();
  const date = index.slice(-10).replace(/\./g, '-');
  for (let i = 0; i < n; i += 2000) {
    const ops: unknown[] = [];
    for (let j = i; j < Math.min(n, i + 2000); j++) {
      ops.push(
        { index: { _index: index, _id: `id-${j}` } },
        {
          traceId: (j % 97).toString(16).padStart(32, 'a'),
          spanId: j.toString(16).padStart(16, '0'),
          name: `op-${j % 5}`,
          kind: 'SERVER',
          service: `svc-${j % 3}`,
          startTime: `${date}T00:00:${String(j % 60).padStart(2, '0')}.123456789Z`,
          endTime: `${date}T00:01:00Z`,
          durationNanos: j * 1000,
          status: { code: j % 10 === 0 ? 'ERROR' : 'OK' },
          attributes: { [`key${j % 7}`]: `value-${j}`, n: j },
          resource: { 'service.name': `svc-${j % 3}` },
          scope: { name: 'seed' },
          events: [],
          links: [],
        },
      );
    }
    const r = await es.bulk({ operations: ops as never, refresh: true });
    if (r.errors) throw new Error('seeding failed');
  }
}

export async function allDocs(ctx: TestContext, index: string): Promise<Map<string, unknown>> {
  const es = ctx.es();
  const out = new Map<string, unknown>();
  let after: unknown[] | undefined;
  for (;;) {
    const r = await es.search({
      index,
      size: 5000,
      sort: [{ spanId: 'asc' }] as never,
      ...(after ? { search_after: after as never } : {}),
    } as never);
    for (const h of r.hits.hits) out.set(h._id!, h._source);
    if (r.hits.hits.length < 5000) return out;
    after = r.hits.hits[r.hits.hits.length - 1].sort as unknown[];
  }
}

export function runCli(
  ctx: TestContext,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '',
    stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

/** Every object under a key prefix with its bytes (leases left out: they come and go). */
export async function objects(ctx: TestContext, prefix: string, keep: (key: string) => boolean = () => true): Promise<Map<string, Buffer>> {
  const { ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = ctx.s3();
  const out = new Map<string, Buffer>();
  const l = await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: prefix }));
  for (const o of l.Contents ?? []) {
    if (o.Key!.endsWith('/lease.json') || !keep(o.Key!)) continue;
    out.set(
      o.Key!,
      Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: o.Key! }))).Body!.transformToByteArray()),
    );
  }
  return out;
}
