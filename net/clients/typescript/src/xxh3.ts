// XXH3-64 (seed 0) of frame bodies, from hash-wasm (a WebAssembly build of
// the reference xxHash). The WebAssembly module loads asynchronously once;
// after that hashing is synchronous.

import { createXXHash3, IHasher } from "hash-wasm";

let hasher: IHasher | undefined;
let loading: Promise<void> | undefined;

/** Loads the hash function; Client.connect calls it. Safe to call many times. */
export function initChecksum(): Promise<void> {
  if (hasher) return Promise.resolve();
  loading ??= createXXHash3(0, 0).then((h) => {
    hasher = h;
  });
  return loading;
}

/** XXH3_64bits(body) with seed 0, as PROTOCOL.md's header field body_xxh3. */
export function xxh3(body: Uint8Array): bigint {
  if (!hasher) throw new Error("initChecksum() has not completed");
  hasher.init();
  hasher.update(body);
  // The digest is the canonical (big-endian) form of the 64-bit value.
  const d = hasher.digest("binary");
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).readBigUInt64BE(0);
}
