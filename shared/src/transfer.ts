/**
 * Concatenates buffers into one fresh ArrayBuffer with the [start, end) bounds of each, so a
 * batch of Kafka values moves to a worker thread in one transfer instead of being cloned.
 * A null part gets bounds [-1, -1].
 */
export function packBuffers(parts: readonly (Uint8Array | null)[]): { buf: ArrayBuffer; bounds: Int32Array } {
  let total = 0;
  for (const p of parts) total += p?.length ?? 0;
  const buf = new ArrayBuffer(total);
  const view = new Uint8Array(buf);
  const bounds = new Int32Array(parts.length * 2);
  let pos = 0;
  parts.forEach((p, i) => {
    if (!p) {
      bounds[2 * i] = -1;
      bounds[2 * i + 1] = -1;
      return;
    }
    view.set(p, pos);
    bounds[2 * i] = pos;
    bounds[2 * i + 1] = pos + p.length;
    pos += p.length;
  });
  return { buf, bounds };
}
