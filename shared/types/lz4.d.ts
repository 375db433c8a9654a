// Minimal typing of the `lz4` package (no @types published): frame encode/decode and streams.
declare module 'lz4' {
  import { Transform } from 'node:stream';
  export interface EncoderOptions {
    blockMaxSize?: number;
    blockIndependence?: boolean;
    blockChecksum?: boolean;
    streamSize?: boolean;
    streamChecksum?: boolean;
    dict?: boolean;
    dictId?: number;
    highCompression?: boolean;
  }
  export function encode(input: Buffer, options?: EncoderOptions): Buffer;
  export function decode(input: Buffer): Buffer;
  export function decodeBlock(input: Buffer, output: Buffer, start?: number, end?: number): number;
  export function encodeBlock(input: Buffer, output: Buffer): number;
  export function encodeBound(n: number): number;
  export function createEncoderStream(options?: EncoderOptions): Transform;
  export function createDecoderStream(options?: Record<string, unknown>): Transform;
  const lz4: {
    encode: typeof encode;
    decode: typeof decode;
    decodeBlock: typeof decodeBlock;
    encodeBlock: typeof encodeBlock;
    encodeBound: typeof encodeBound;
    createEncoderStream: typeof createEncoderStream;
    createDecoderStream: typeof createDecoderStream;
  };
  export default lz4;
}
