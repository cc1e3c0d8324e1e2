import type { Options } from 'tsup';

/**
 * One build recipe for every published package: ESM first, a CJS twin, and a `.d.ts` /
 * `.d.cts` pair so that `exports` carries the right types under both resolutions.
 */
export function packageBuild(entry: Record<string, string>): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
    treeshake: true,
    // import.meta.url in the CJS build (createRequire) and __dirname in ESM, both correct.
    shims: true,
  };
}
