// The consumer test: what a stranger meets after `npm install @fairmind/<x>`. It packs every
// published package, checks each tarball's files and manifest, publishes the tarballs to a
// private registry (verdaccio on a loopback port), installs them from it with plain npm into
// fresh projects outside the workspace, imports and requires every entry point, and compiles
// a small app (and every TypeScript block of the guides) under the module settings users
// have, with skipLibCheck off. Any failure exits 1 with every problem listed.
//
//   pnpm build && pnpm check:consumer          (part of `pnpm test`)
//   FAIRMIND_CONSUMER_KEEP=1 keeps the projects for a look afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokenLinks, type DocBlock, docBlocks, moduleSource, sourceLine } from './docs.js';
import { npmEnv, startLocalRegistry } from './registry.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'fairmind-consumer-'));
const problems: string[] = [];
const started = performance.now();

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  keywords?: string[];
  license?: string;
  homepage?: string;
  bugs?: { url?: string };
  repository?: { type?: string; url?: string; directory?: string };
  engines?: { node?: string };
  files?: string[];
  sideEffects?: boolean;
  publishConfig?: { access?: string; provenance?: boolean };
  exports?: Record<string, string | Record<string, unknown>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

interface Published {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly tarball: string;
  /** `@fairmind/x` and `@fairmind/x/sub` for every `exports` entry. */
  readonly specifiers: string[];
}

function step(title: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`[consumer] ${seconds}s ${title}`);
}

function run(command: string, args: string[], cwd: string): { ok: boolean; output: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: npmEnv(),
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Pack, and check each tarball as npm would publish it

const rootManifest = readJson<Manifest & { repository?: { url?: string } }>(
  join(root, 'package.json'),
);
const license = readFileSync(join(root, 'LICENSE'), 'utf8');
const engines = rootManifest.engines?.node;

function pack(dir: string, manifest: Manifest): string {
  const destination = join(work, 'tarballs');
  mkdirSync(destination, { recursive: true });
  // pnpm pack rewrites workspace:^ ranges to real versions, as `pnpm publish` does.
  execFileSync('pnpm', ['pack', '--pack-destination', destination], {
    cwd: join(root, 'packages', dir),
    stdio: 'ignore',
  });
  const file = join(
    destination,
    `${manifest.name.slice(1).replace('/', '-')}-${manifest.version}.tgz`,
  );
  if (!existsSync(file)) throw new Error(`pnpm pack wrote no ${file}`);
  return file;
}

function checkTarball(dir: string, tarball: string): void {
  const unpacked = join(work, 'unpacked', dir);
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
  const at = join(unpacked, 'package');
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((name) => name.replace(/^package\//, ''));
  const m = readJson<Manifest>(join(at, 'package.json'));
  const bad = (what: string) => problems.push(`${m.name} tarball: ${what}`);

  for (const required of ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) {
    if (!files.includes(required)) bad(`has no ${required}`);
  }
  if (files.includes('LICENSE') && readFileSync(join(at, 'LICENSE'), 'utf8') !== license) {
    bad('LICENSE differs from the repository LICENSE');
  }
  const readme = files.includes('README.md') ? readFileSync(join(at, 'README.md'), 'utf8') : '';
  if (!readme.includes(`npm install ${m.name}`)) bad(`README.md has no \`npm install ${m.name}\``);
  if (!/^## Quick start$/m.test(readme)) bad('README.md has no "## Quick start" section');
  const leaked = files.filter((name) =>
    /\.test\.ts$|\/fixtures?(\/|\.ts$)|test-support/.test(name),
  );
  if (leaked.length > 0) bad(`ships test files: ${leaked.join(', ')}`);

  if (!m.description || m.description.length < 20) bad('description is missing or too short');
  if (!Array.isArray(m.keywords) || m.keywords.length < 3) bad('keywords: fewer than three');
  if (m.license !== 'MIT') bad(`license is ${m.license}, not MIT`);
  if (m.sideEffects !== false) bad('sideEffects is not false');
  if (m.engines?.node !== engines)
    bad(`engines.node is ${m.engines?.node}, not the root's ${engines}`);
  const repo = rootManifest.repository?.url;
  if (m.repository?.type !== 'git' || m.repository.url !== repo)
    bad(`repository.url is not ${repo}`);
  if (m.repository?.directory !== `packages/${dir}`)
    bad(`repository.directory is not packages/${dir}`);
  if (!m.homepage?.startsWith('https://')) bad('homepage is missing');
  if (!m.bugs?.url?.startsWith('https://')) bad('bugs.url is missing');
  if (!Array.isArray(m.files) || !m.files.includes('dist')) bad('files does not list dist');
  if (m.publishConfig?.access !== 'public' || m.publishConfig.provenance !== true) {
    bad('publishConfig is not { access: "public", provenance: true }');
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
    for (const [name, range] of Object.entries(m[field] ?? {})) {
      if (range.startsWith('workspace:')) bad(`${field}.${name} is still ${range}`);
    }
  }
  // Every file an exports condition names is in the tarball.
  const targets = (value: unknown): string[] =>
    typeof value === 'string'
      ? [value]
      : value && typeof value === 'object'
        ? Object.values(value).flatMap(targets)
        : [];
  for (const target of targets(m.exports)) {
    if (!files.includes(target.replace(/^\.\//, '')))
      bad(`exports names ${target}, not in the tarball`);
  }
  console.log(`  ${m.name}@${m.version}: ${files.length} files, README.md, LICENSE, CHANGELOG.md`);
}

const published: Published[] = [];
step('packing the published packages');
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const file = join(root, 'packages', dir, 'package.json');
  if (!existsSync(file)) continue;
  const manifest = readJson<Manifest>(file);
  if (manifest.private) continue;
  const tarball = pack(dir, manifest);
  checkTarball(dir, tarball);
  const specifiers = Object.keys(manifest.exports ?? { '.': '' })
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
  published.push({ dir, manifest, tarball, specifiers });
}

// ---------------------------------------------------------------------------------------------
// Publish, as the release job does, to a registry of our own

step('publishing every tarball to a private registry (verdaccio on loopback)');
const upstream = execFileSync('npm', ['config', 'get', 'registry'], {
  encoding: 'utf8',
  env: npmEnv(),
}).trim();
const registry = await startLocalRegistry(
  join(work, 'registry'),
  join(root, 'node_modules', '.cache', 'fairmind-verdaccio'),
  upstream,
);
process.on('exit', () => registry.stop());
for (const p of published) {
  try {
    registry.publish(p.tarball);
  } catch (error) {
    problems.push(
      `${p.manifest.name}: npm publish failed: ${(error as { stderr?: string }).stderr ?? error}`,
    );
  }
}
step(`published ${published.length} packages to ${registry.url}`);

// ---------------------------------------------------------------------------------------------
// Fresh npm projects outside the workspace

const tsVersion = readJson<{ version: string }>(
  join(root, 'node_modules', 'typescript', 'package.json'),
).version;
const typesNodeMajor = process.versions.node.split('.')[0];

function project(
  name: string,
  packages: readonly Published[],
  extra: Record<string, string>,
  dev: Record<string, string> = { typescript: tsVersion, '@types/node': `^${typesNodeMajor}` },
): string {
  const dir = join(work, name);
  // What a user writes: `npm install @fairmind/auth`, from the registry, with the ranges npm
  // saves. Our packages come from the private registry only (it never asks upstream for them).
  const ours = Object.fromEntries(packages.map((p) => [p.manifest.name, `^${p.manifest.version}`]));
  writeJson(join(dir, 'package.json'), {
    name: `fairmind-consumer-${name}`,
    private: true,
    dependencies: { ...ours, ...extra },
    devDependencies: dev,
  });
  writeFileSync(join(dir, '.npmrc'), `registry=${registry.url}\n`);
  const install = run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-package-lock'],
    dir,
  );
  if (!install.ok) throw new Error(`npm install failed in ${dir}:\n${install.output}`);
  return dir;
}

interface Variant {
  readonly name: string;
  readonly type: 'module' | 'commonjs';
  readonly options: Record<string, unknown>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'node16-esm', type: 'module', options: { module: 'node16', moduleResolution: 'node16' } },
  {
    name: 'node16-cjs',
    type: 'commonjs',
    options: { module: 'node16', moduleResolution: 'node16' },
  },
  {
    name: 'nodenext-esm',
    type: 'module',
    options: { module: 'nodenext', moduleResolution: 'nodenext' },
  },
  {
    name: 'nodenext-cjs',
    type: 'commonjs',
    options: { module: 'nodenext', moduleResolution: 'nodenext' },
  },
  { name: 'bundler', type: 'module', options: { module: 'esnext', moduleResolution: 'bundler' } },
];

/** Compiles `sources` (name to text) in a sub-project of `dir` with the variant's settings. */
function typecheck(
  dir: string,
  label: string,
  variant: Variant,
  sources: Record<string, string>,
  blocks: ReadonlyMap<string, DocBlock> = new Map(),
  lib: readonly string[] = ['ES2023'],
): void {
  const at = join(dir, blocks.size > 0 ? `docs-${variant.name}` : variant.name);
  rmSync(at, { recursive: true, force: true });
  writeJson(join(at, 'package.json'), { private: true, type: variant.type });
  writeJson(join(at, 'tsconfig.json'), {
    compilerOptions: {
      ...variant.options,
      target: 'ES2022',
      lib,
      types: ['node'],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
    },
    include: ['*.ts'],
  });
  for (const [name, text] of Object.entries(sources)) writeFileSync(join(at, name), text);
  const tsc = run(
    process.execPath,
    [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', at],
    dir,
  );
  if (tsc.ok) {
    console.log(`  ${label} ${variant.name}: ${Object.keys(sources).length} files compile`);
    return;
  }
  const mapped = tsc.output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^(.+?\.ts)\((\d+),(\d+)\): (.*)$/.exec(line);
      const block = match ? blocks.get(match[1]?.split('/').pop() ?? '') : undefined;
      if (!match || !block) return line;
      return `${sourceLine(block, Number(match[2]))}: ${match[4]}`;
    });
  problems.push(`${label} does not compile under ${variant.name}:\n    ${mapped.join('\n    ')}`);
}

function runtime(dir: string, specifiers: readonly string[]): void {
  const esm = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const out = {};
       for (const s of ${JSON.stringify(specifiers)}) {
         try { out[s] = Object.keys(await import(s)).filter((k) => k !== 'default').sort(); }
         catch (e) { out[s] = 'FAILED: ' + e.message.split('\\n')[0]; }
       }
       console.log(JSON.stringify(out));`,
    ],
    dir,
  );
  const cjs = run(
    process.execPath,
    [
      '-e',
      `const out = {};
       for (const s of ${JSON.stringify(specifiers)}) {
         try { out[s] = Object.keys(require(s)).filter((k) => k !== 'default' && k !== '__esModule').sort(); }
         catch (e) { out[s] = 'FAILED: ' + e.message.split('\\n')[0]; }
       }
       console.log(JSON.stringify(out));`,
    ],
    dir,
  );
  const parse = (result: { ok: boolean; output: string }, how: string) => {
    try {
      return JSON.parse(result.output.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    } catch {
      problems.push(`${how} of the entry points crashed:\n${result.output}`);
      return {};
    }
  };
  const imported = parse(esm, 'import');
  const required = parse(cjs, 'require');
  for (const specifier of specifiers) {
    const a = imported[specifier];
    const b = required[specifier];
    if (typeof a === 'string') problems.push(`import('${specifier}') ${a}`);
    if (typeof b === 'string') problems.push(`require('${specifier}') ${b}`);
    if (Array.isArray(a) && Array.isArray(b) && a.join() !== b.join()) {
      problems.push(`${specifier}: import and require export different names`);
    }
  }
  console.log(`  import and require of ${specifiers.length} entry points`);
}

// The whole toolkit, with the frameworks and clients a platform app brings.
step('installing every package with npm into a fresh project');
const full = project('full', published, {
  express: '^5.1.0',
  '@types/express': '^5.0.3',
  fastify: '^5.0.0',
  hono: '^4.0.0',
  '@hono/node-server': '^2.1.0',
  ioredis: '^5.7.0',
  zod: '^4.1.0',
});
step('importing and requiring every entry point');
runtime(
  full,
  published.flatMap((p) => p.specifiers),
);

step("compiling the app and the guides' TypeScript blocks");
const guides = [
  join(root, 'README.md'),
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(root, 'docs', name)),
  ...published.map((p) => join(root, 'packages', p.dir, 'README.md')),
].filter((file) => existsSync(file));
const blocks = new Map<string, DocBlock>();
for (const file of guides) {
  for (const link of brokenLinks(file, existsSync)) {
    problems.push(`${relative(root, file)} links to ${link}`);
  }
  for (const block of docBlocks(file)) {
    const slug = relative(root, file).replace(/[^a-zA-Z0-9]+/g, '-');
    blocks.set(`doc-${slug}-${block.line}.ts`, { ...block, file: relative(root, file) });
  }
}
const docSources = Object.fromEntries(
  [...blocks].map(([name, block]) => [name, moduleSource(block)]),
);
const app = { 'app.ts': readFileSync(join(here, 'app.ts'), 'utf8') };
for (const variant of VARIANTS) {
  // Without the DOM library: none of our types may lean on it.
  typecheck(full, 'the app', variant, app);
  // Guides use top-level await, which only ES modules have, and the Hono ones
  // @hono/node-server, whose own types need the DOM library (RequestInfo, CloseEvent).
  if (variant.type === 'module') {
    typecheck(full, 'the guides', variant, docSources, blocks, ['ES2023', 'DOM']);
  }
}

// A user of four packages and nothing else: the optional peers must stay optional in the types.
step('a project with only core, db-pool, auth and edge (no better-sqlite3, ioredis or @types/pg)');
const few = published.filter((p) => ['core', 'db-pool', 'auth', 'edge'].includes(p.dir));
const minimal = project('minimal', few, {});
for (const absent of ['better-sqlite3', 'ioredis', '@types/pg', '@types/better-sqlite3']) {
  if (existsSync(join(minimal, 'node_modules', absent))) {
    problems.push(`the minimal project installed ${absent}, which it did not ask for`);
  }
}
runtime(
  minimal,
  few.flatMap((p) => p.specifiers).filter((s) => !/\/(redis|sql)$/.test(s)),
);
const small = { 'minimal.ts': readFileSync(join(here, 'minimal.ts'), 'utf8') };
for (const variant of VARIANTS) typecheck(minimal, 'the minimal app', variant, small);

// What `npm install -D typescript @types/node` gives a user today, not the versions we pin:
// @types/node 25 moved node:crypto's JsonWebKey into `webcrypto`, which broke our declarations
// for every such user while the pinned check above stayed green.
step('the same app with the newest typescript and @types/node from the registry');
const newest = project('newest', few, {}, { typescript: 'latest', '@types/node': 'latest' });
const versions = ['typescript', '@types/node']
  .map(
    (name) =>
      `${name} ${readJson<{ version: string }>(join(newest, 'node_modules', name, 'package.json')).version}`,
  )
  .join(', ');
console.log(`  ${versions}`);
for (const variant of VARIANTS) typecheck(newest, 'the minimal app', variant, small);

// ---------------------------------------------------------------------------------------------

step(
  `${blocks.size} guide blocks, ${published.length} packages, ${VARIANTS.length} module settings`,
);
if (problems.length > 0) {
  registry.stop();
  console.error(`\n[consumer] ${problems.length} problem(s); the projects are kept in ${work}\n`);
  for (const problem of problems) console.error(`- ${problem}\n`);
  process.exit(1);
}
registry.stop();
if (process.env['FAIRMIND_CONSUMER_KEEP']) console.log(`[consumer] kept in ${work}`);
else rmSync(work, { recursive: true, force: true });
console.log('[consumer] every check passed');
