declare module 'snappyjs' {
  /** Raw snappy block compression (pure JavaScript). */
  export function compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  /** Throws when the block declares more than maxLength bytes. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
