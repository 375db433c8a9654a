import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

/**
 * HDR histogram helpers. Latencies are recorded in integer microseconds. hdr-histogram-js 3
 * defaults to its pure-JS implementation; `useWebAssembly` switches to the wasm one, which
 * must be initialised first and whose histograms must be destroyed (they live in wasm memory).
 */
export interface HdrOptions { digits: number; wasm: boolean }

let wasmReady = false;
export function hdrImplementation(opts: HdrOptions): 'webassembly' | 'javascript' {
  if (opts.wasm && !wasmReady) { hdr.initWebAssemblySync(); wasmReady = true; }
  return opts.wasm ? 'webassembly' : 'javascript';
}

export function newHistogram(opts: HdrOptions): Histogram {
  hdrImplementation(opts);
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000, // 60 s in µs; autoResize grows it for longer spans
    autoResize: true,
    numberOfSignificantValueDigits: opts.digits as 1 | 2 | 3 | 4 | 5,
    useWebAssembly: opts.wasm,
  });
}

export function decodeHistogram(b64: string, opts: HdrOptions): Histogram {
  hdrImplementation(opts);
  return hdr.decodeFromCompressedBase64(b64, 32, opts.wasm);
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Merges encoded histograms into one encoded histogram. */
export function mergeEncoded(pieces: readonly string[], opts: HdrOptions): { merged: Histogram; free: () => void } {
  const merged = newHistogram(opts);
  for (const p of pieces) {
    const h = decodeHistogram(p, opts);
    merged.add(h);
    h.destroy();
  }
  return { merged, free: () => merged.destroy() };
}

/** Nanoseconds to the recorded unit (µs, rounded). */
export function nanosToMicros(ns: number): number { return Math.round(ns / 1000); }
