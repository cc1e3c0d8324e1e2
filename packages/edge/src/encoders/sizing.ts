import zlib from 'node:zlib';

/** The number of bits that can count to `value`: ceil(log2(value)). */
function bitsFor(value: number): number {
  return 32 - Math.clz32(value - 1);
}

// Window sizes for one body of known size. A window larger than the body finds no match a
// smaller one misses, but the encoder still allocates and clears it: brotli's default
// window is 4 MiB (lgwin 22), and with a few dozen responses compressing at once in the
// thread pool that memory traffic, not the compression, sets the pace. Brotli's one-shot
// C API (BrotliEncoderCompress) shrinks the window the same way; Node's zlib bindings use
// the streaming API, which does not. zlib needs 262 bytes of lookahead on top of the body
// for every distance in it to stay reachable, and its hash table (memLevel) is sized to
// the window.
//
// The output buffer is sized to the body as well: zlib allocates a whole chunk per call and
// the result is a slice of it, so a 2 KB body compressing to 400 bytes would otherwise take
// and hold a fresh 16 KiB buffer. Half the window fits what compressible bodies shrink to
// and, for bodies of up to about 2 KB, comes from Node's buffer pool; an output that does
// not fit only costs zlib a second chunk and a copy.
function outputFor(chunkSize: number, windowBits: number): number {
  return Math.min(chunkSize, 1 << (windowBits - 1));
}

/** Brotli options for one body of `size` bytes, from the stream options `brotli`. */
export function brotliSizer(
  brotli: zlib.BrotliOptions,
  chunkSize: number,
): (size: number) => zlib.BrotliOptions {
  return (size) => {
    const lgwin = Math.min(22, Math.max(10, bitsFor(size + 16)));
    return {
      chunkSize: outputFor(chunkSize, lgwin),
      params: {
        ...brotli.params,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
        [zlib.constants.BROTLI_PARAM_LGWIN]: lgwin,
      },
    };
  };
}

/** gzip or deflate options for one body of `size` bytes, from the stream options `base`. */
export function zlibSizer(
  base: zlib.ZlibOptions,
  chunkSize: number,
): (size: number) => zlib.ZlibOptions {
  // One options object per window size (9 to 15 bits), built once: this runs per response.
  const byBits = Array.from({ length: 7 }, (_, index) => ({
    ...base,
    windowBits: index + 9,
    memLevel: Math.max(1, index + 2),
    chunkSize: outputFor(chunkSize, index + 9),
  }));
  return (size) => byBits[Math.min(15, Math.max(9, bitsFor(size + 262))) - 9] ?? base;
}
