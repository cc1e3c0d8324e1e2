// The public surface check: every entry point of every published package, as its built
// `.d.ts` declares it, is written to an API Extractor report checked into the repository
// (`packages/<name>/etc/*.api.md`), so that a change to what users can import shows up in
// review. A second check refuses one exported name that means two different things in two
// packages (a user importing both would meet two `RedisClient`s).
//
//   pnpm build && pnpm check:api            (part of `pnpm test`: fails when a report is stale)
//   pnpm build && pnpm check:api --update   (rewrites the reports after a deliberate change)
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Extractor,
  ExtractorConfig,
  ExtractorLogLevel,
  type ExtractorMessage,
} from '@microsoft/api-extractor';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const update = process.argv.includes('--update');
const problems: string[] = [];

interface Entry {
  /** The specifier a user imports: `@fairmind/edge/node`. */
  specifier: string;
  packageDir: string;
  /** The ESM declaration file the `exports` map points at. */
  types: string;
  /** The report's file name: `edge-node.api.md`. */
  report: string;
}

type ExportTarget = string | { types?: string; import?: string | { types?: string } };

function entries(): Entry[] {
  const found: Entry[] = [];
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const packageDir = join(root, 'packages', dir);
    const manifestFile = join(packageDir, 'package.json');
    if (!existsSync(manifestFile)) continue;
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      name: string;
      private?: boolean;
      exports?: Record<string, ExportTarget>;
    };
    if (manifest.private) continue;
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (subpath === './package.json') continue;
      const esm = typeof target === 'object' ? target.import : undefined;
      const types =
        typeof esm === 'object' ? esm.types : typeof target === 'object' ? target.types : undefined;
      if (types === undefined) {
        problems.push(`${manifest.name} exports ${subpath} without a types condition`);
        continue;
      }
      const suffix = subpath === '.' ? '' : `-${subpath.slice(2).replaceAll('/', '-')}`;
      found.push({
        specifier: manifest.name + subpath.slice(1),
        packageDir,
        types: join(packageDir, types),
        report: `${dir}${suffix}.api.md`,
      });
    }
  }
  return found;
}

/**
 * Writes (with --update) or compares one entry point's report. `exported` holds every name
 * some entry point of ours exports: API Extractor reads one entry point at a time, so a type
 * `@fairmind/auth/redis` uses and `@fairmind/auth` exports would otherwise count as forgotten.
 */
function report(entry: Entry, temp: string, exported: ReadonlySet<string>): void {
  if (!existsSync(entry.types)) {
    problems.push(`${entry.specifier}: ${relative(root, entry.types)} is missing (run pnpm build)`);
    return;
  }
  if (update) mkdirSync(join(entry.packageDir, 'etc'), { recursive: true });
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: entry.packageDir,
      mainEntryPointFilePath: entry.types,
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            lib: ['es2023', 'dom'],
            types: ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: [entry.types],
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: entry.report,
        reportFolder: join(entry.packageDir, 'etc'),
        reportTempFolder: temp,
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        // Release tags (@public, @beta) are not how this project marks its surface: what the
        // entry exports by name is public.
        extractorMessageReporting: {
          default: { logLevel: ExtractorLogLevel.Warning },
          'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
          // Every member documented is a goal for the JSDoc, not a gate on the surface.
          'ae-undocumented': { logLevel: ExtractorLogLevel.None },
          // {@link Handler} in an adapter's JSDoc points into @fairmind/core, which a report of
          // one entry point cannot resolve; editors and TypeDoc do.
          'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
          // A type a public signature uses but the entry does not export: users can't name it.
          'ae-forgotten-export': { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: false },
        },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
      },
    },
    configObjectFullPath: join(entry.packageDir, 'api-extractor.json'),
    packageJsonFullPath: join(entry.packageDir, 'package.json'),
  });
  const messages: string[] = [];
  const result = Extractor.invoke(config, {
    localBuild: update,
    messageCallback(message: ExtractorMessage) {
      if (
        !message.messageId.startsWith('console-') &&
        (message.logLevel === ExtractorLogLevel.Warning || message.logLevel === 'error')
      ) {
        const forgotten = /^The symbol "([^"]+)" needs to be exported/.exec(message.text)?.[1];
        if (forgotten === undefined || !exported.has(forgotten)) {
          messages.push(`${message.messageId}: ${message.text}`);
        }
      }
      message.handled = true;
    },
  });
  for (const text of messages) problems.push(`${entry.specifier}: ${text}`);
  if (result.apiReportChanged && !update) {
    problems.push(
      `${entry.specifier}: the public surface changed; review it and run pnpm check:api --update ` +
        `to rewrite ${relative(root, join(entry.packageDir, 'etc', entry.report))}`,
    );
  }
}

/**
 * One exported name, two meanings across packages: say which. Returns every name exported.
 */
function collisions(all: Entry[]): Set<string> {
  const program = ts.createProgram(
    all.map((entry) => entry.types),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      skipLibCheck: true,
      noEmit: true,
    },
  );
  const checker = program.getTypeChecker();
  const owners = new Map<string, Map<string, string[]>>();
  for (const entry of all) {
    const source = program.getSourceFile(entry.types);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) continue;
    const packageName = entry.specifier.split('/').slice(0, 2).join('/');
    for (const exported of checker.getExportsOfModule(module)) {
      const target =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = target.declarations?.[0];
      const identity = declaration
        ? `${declaration.getSourceFile().fileName}:${declaration.pos}`
        : exported.name;
      const byIdentity = owners.get(exported.name) ?? new Map<string, string[]>();
      owners.set(exported.name, byIdentity);
      const packages = byIdentity.get(identity) ?? [];
      if (!packages.includes(packageName)) packages.push(packageName);
      byIdentity.set(identity, packages);
    }
  }
  for (const [name, byIdentity] of owners) {
    if (byIdentity.size < 2) continue;
    // The framework adapters mirror one another on purpose (`fairmind`, `mount`, `handle`, ...
    // in each), and an app uses one of them: the same name in two adapters is the design.
    const packages = [...new Set([...byIdentity.values()].flat())];
    if (packages.every((name) => ADAPTERS.has(name))) continue;
    problems.push(
      `${name} is exported with different meanings by ${packages.join(', ')}: rename one`,
    );
  }
  return new Set(owners.keys());
}

const ADAPTERS = new Set([
  '@fairmind/express',
  '@fairmind/fastify',
  '@fairmind/hono',
  '@fairmind/node',
]);

const all = entries();
const exported = collisions(all);
const temp = mkdtempSync(join(tmpdir(), 'fairmind-api-'));
try {
  for (const entry of all) report(entry, temp, exported);
} finally {
  rmSync(temp, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(`[api] ${problems.length} problem(s) with the public surface:`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log(
  `[api] ${all.length} entry points ${update ? 'written to' : 'match'} their reports (packages/*/etc)`,
);
