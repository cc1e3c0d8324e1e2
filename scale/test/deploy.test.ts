// The operations kit in deploy/: the Kubernetes manifests agree with each other and with the
// configuration the app really reads, the migrate Job's command applies what the server would,
// and every metric the Prometheus alerts and the Grafana dashboard query is one a running
// example-express exports.
//
//   FAIRMIND_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//     npx vitest run --project scale scale/test/deploy.test.ts
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { authMigrations } from '@fairmind/auth/sql';
import { loadConfig } from '@fairmind/core';
import { type ServerProcess, startServer, useTestDatabase } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ADMIN, platformEnv } from './http.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(root, 'examples', 'express');
const kubernetesDir = join(root, 'deploy', 'kubernetes');
const prometheusDir = join(root, 'deploy', 'prometheus');
const dashboardFile = join(root, 'deploy', 'grafana', 'fairmind-dashboard.json');
const database = useTestDatabase();

// The parts of the manifests this test reads; the YAML is cast to them once its kind is known.
type Labels = Record<string, string>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
  timeoutSeconds?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
  file: string;
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Labels };
    strategy: { type: string; rollingUpdate: { maxUnavailable: number; maxSurge: number } };
    template: { metadata: { labels: Labels }; spec: PodSpec };
  };
}
interface Service extends Manifest {
  spec: { selector: Labels; ports: { port: number; targetPort: number | string }[] };
}
interface Disruption extends Manifest {
  spec: { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Labels } };
}
interface Autoscaler extends Manifest {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } };
  };
}
interface Job extends Manifest {
  spec: {
    backoffLimit?: number;
    ttlSecondsAfterFinished?: number;
    template: { metadata: { labels: Labels }; spec: PodSpec };
  };
}
interface KeyValues extends Manifest {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Labels;
  annotations?: Record<string, string>;
}
interface RuleFile {
  file: string;
  groups: { name: string; rules: Rule[] }[];
}
interface Target {
  expr?: string;
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  __inputs?: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query?: unknown; definition?: string }[];
  };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

// Every document of a file, refusing YAML that only parses with errors or warnings.
function parseYaml(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((document) => {
    if ('errors' in document && (document.errors.length > 0 || document.warnings.length > 0)) {
      throw new Error(`${file}: ${[...document.errors, ...document.warnings].join('; ')}`);
    }
    const value: unknown = document.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

const manifests: Manifest[] = yamlFiles(kubernetesDir).flatMap((file) =>
  parseYaml(file).map((value) => ({ ...(value as Omit<Manifest, 'file'>), file })),
);
const ruleFiles: RuleFile[] = yamlFiles(prometheusDir).flatMap((file) =>
  parseYaml(file).map((value) => ({ ...(value as Omit<RuleFile, 'file'>), file })),
);
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;

function manifest<T extends Manifest>(kind: string, name: string): T {
  const found = manifests.filter((item) => item.kind === kind && item.metadata?.name === name);
  // Read at load time, outside any test: a plain error names the problem.
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} ${name} in deploy/kubernetes, found ${found.length}`);
  }
  return found[0] as T;
}

const deployment = manifest<Deployment>('Deployment', 'fairmind-api');
const pod = deployment.spec.template.spec;
const api = pod.containers[0] as Container;
const configMap = manifest<KeyValues>('ConfigMap', 'fairmind-config');
const secret = manifest<KeyValues>('Secret', 'fairmind-secrets');
const job = manifest<Job>('Job', 'fairmind-migrate');

function subsetOf(selector: Labels, labels: Labels): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

// The environment a container starts with: envFrom first, then env on top, as the kubelet does.
function containerEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      expect(source.configMapRef.name).toBe(configMap.metadata.name);
      Object.assign(env, configMap.data);
    }
    if (source.secretRef) {
      expect(source.secretRef.name).toBe(secret.metadata.name);
      Object.assign(env, secret.stringData);
    }
  }
  for (const variable of container.env ?? []) {
    const fromSecret = variable.valueFrom?.secretKeyRef;
    const fromConfig = variable.valueFrom?.configMapKeyRef;
    let value = variable.value;
    if (fromSecret) {
      expect(fromSecret.name, variable.name).toBe(secret.metadata.name);
      value = secret.stringData?.[fromSecret.key];
    } else if (fromConfig) {
      expect(fromConfig.name, variable.name).toBe(configMap.metadata.name);
      value = configMap.data?.[fromConfig.key];
    }
    expect(value, `${container.name}: ${variable.name} resolves to a value`).toBeTypeOf('string');
    env[variable.name] = value as string;
  }
  return env;
}

// The variables the app knows: .env.example, and the config schema's `shape` for any the
// example file leaves out.
function knownVariables(): Set<string> {
  const names = new Set<string>();
  for (const match of readFileSync(join(root, '.env.example'), 'utf8').matchAll(
    /^([A-Z][A-Z0-9_]*)=/gm,
  )) {
    names.add(match[1] as string);
  }
  const source = readFileSync(join(root, 'packages', 'core', 'src', 'config', 'index.ts'), 'utf8');
  const shape = /^const shape = \{\n([\s\S]*?)\n\};$/m.exec(source)?.[1] ?? '';
  for (const match of shape.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)) names.add(match[1] as string);
  return names;
}

function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const [command, seconds, ...rest] = preStop?.exec?.command ?? [];
  expect(command, 'preStop runs sleep').toBe('sleep');
  expect(rest).toEqual([]);
  expect(seconds).toMatch(/^\d+$/);
  return Number(seconds);
}

const METRIC = /\b(fairmind_[a-z0-9_]+|http_[a-z0-9_]+|nodejs_[a-z0-9_]+|process_[a-z0-9_]+)\b/g;

function metricNames(expression: string): string[] {
  return [...expression.matchAll(METRIC)].map((match) => match[1] as string);
}

function dashboardExpressions(): string[] {
  const expressions: string[] = [];
  const walk = (panels: readonly Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined) expressions.push(target.expr);
      }
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    if (variable.definition !== undefined) expressions.push(variable.definition);
    const query = variable.query;
    if (typeof query === 'object' && query !== null && 'query' in query) {
      expressions.push(String(query.query));
    }
  }
  return expressions;
}

function ruleExpressions(files: readonly RuleFile[]): string[] {
  return files.flatMap((file) => file.groups.flatMap((group) => group.rules.map((r) => r.expr)));
}

/** The metric families of a Prometheus text exposition, and the sample names it holds. */
interface Exposition {
  types: Map<string, string>;
  samples: Set<string>;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) samples.add(sample[1] as string);
  }
  return { types, samples };
}

/**
 * Which of `names` the exposition lacks. `_bucket`, `_sum` and `_count` name the series of a
 * histogram (or the last two of a summary), so they count as their family only when the
 * exposition says the family is one: `fairmind_cache_hits_total_count` is no metric.
 */
function check(names: Iterable<string>, exposition: Exposition) {
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const name of new Set(names)) {
    const suffix = /^(.+)_(bucket|sum|count)$/.exec(name);
    const family = suffix?.[1] ?? '';
    const familyType = exposition.types.get(family);
    if (
      suffix &&
      (familyType === 'histogram' || (familyType === 'summary' && suffix[2] !== 'bucket'))
    ) {
      found.set(name, `${familyType} ${family}`);
    } else if (exposition.types.has(name)) {
      found.set(name, exposition.types.get(name) as string);
    } else if (exposition.samples.has(name)) {
      found.set(name, 'sample');
    } else {
      missing.push(name);
    }
  }
  return { found, missing };
}

const execFileAsync = promisify(execFile);
// The bin the Job's image runs: db-pool's published CLI, resolved as any consumer would.
const dbPoolManifest = createRequire(import.meta.url).resolve('@fairmind/db-pool/package.json');
const dbPoolBins = (JSON.parse(readFileSync(dbPoolManifest, 'utf8')) as { bin: Labels }).bin;

// `/app/node_modules/@fairmind/auth/migrations` in the image is packages/auth/migrations here.
function workspacePath(imagePath: string): string {
  const match = /node_modules\/@fairmind\/([a-z-]+)\/(.+)$/.exec(imagePath);
  expect(match, `${imagePath} lies in a @fairmind package`).not.toBeNull();
  const [, name, rest] = match as RegExpExecArray;
  return join(root, 'packages', name as string, rest as string);
}

interface Migration {
  container: string;
  dir: string;
  table: string;
  output: string;
}
const migrations: Migration[] = [];

let server: ServerProcess;
let exposition: Exposition;
let ready: number;

async function send(path: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const response = await fetch(`${server.base}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, text: await response.text() };
}

beforeAll(async () => {
  // The Job's containers, in the order Kubernetes runs them, against the fresh database.
  const jobPod = job.spec.template.spec;
  for (const container of [...(jobPod.initContainers ?? []), ...jobPod.containers]) {
    const [command, ...more] = [...(container.command ?? []), ...(container.args ?? [])];
    const bin = dbPoolBins[basename(command ?? '')];
    expect(bin, `${container.name} runs a bin of @fairmind/db-pool`).toBeDefined();
    const args = more.map((arg) => (arg.includes('node_modules/') ? workspacePath(arg) : arg));
    const { stdout } = await execFileAsync(
      process.execPath,
      [join(dirname(dbPoolManifest), bin as string), ...args],
      {
        cwd: root,
        env: { PATH: process.env['PATH'], DATABASE_URL: database.url },
        timeout: 60_000,
      },
    );
    const dir = args[args.indexOf('--dir') + 1] ?? '';
    const table = args[args.indexOf('--table') + 1] ?? '';
    migrations.push({ container: container.name, dir, table, output: stdout });
  }
  // info, so the server's own migration step would show any file the Job left to apply.
  server = await startServer({
    script: 'src/main.ts',
    cwd: example,
    env: platformEnv({ LOG_LEVEL: 'info', DATABASE_URL: database.url }),
  });
  ready = (await send('/health/ready')).status;
  // Labelled series appear once used: exercise every family the alerts and panels read.
  const login = await send('/auth/login', { method: 'POST', body: ADMIN });
  expect(login.status).toBe(200);
  const token = (JSON.parse(login.text) as { accessToken: string }).accessToken;
  expect((await send('/api/v1/models?limit=20', { token })).status).toBe(200);
  expect((await send('/api/v1/models?limit=20', { token })).status).toBe(200);
  expect((await send('/api/v1/dashboard', { token })).status).toBe(200);
  expect((await send('/no-such-route', { token })).status).toBe(404);
  const wrong = { email: ADMIN.email, password: 'not-the-password' };
  expect((await send('/auth/login', { method: 'POST', body: wrong })).status).toBe(401);
  const metrics = await send('/metrics');
  expect(metrics.status).toBe(200);
  exposition = parseExposition(metrics.text);
});

afterAll(async () => {
  await server?.stop();
});

describe('deploy/kubernetes', () => {
  it('is plain YAML with apiVersion, kind and metadata.name, and no namespace', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(7);
    for (const item of manifests) {
      expect(item.apiVersion, item.file).toMatch(/^[a-z0-9./]+$/);
      expect(item.kind, item.file).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(item.metadata?.name, item.file).toMatch(/^[a-z0-9-]+$/);
      expect(item.metadata.namespace, `${item.file} is namespace-agnostic`).toBeUndefined();
    }
  });

  it('probes /health/live and /health/ready on the port the app listens on', () => {
    const env = containerEnv(api);
    const http = api.ports?.find((port) => port.name === 'http');
    expect(http).toBeDefined();
    expect(String(http?.containerPort)).toBe(env['PORT'] ?? '3000');
    const onHttp = (probe: Probe | undefined) => {
      const port = probe?.httpGet?.port;
      expect([http?.name, http?.containerPort]).toContain(port);
      return probe?.httpGet?.path;
    };
    expect(onHttp(api.livenessProbe)).toBe('/health/live');
    expect(onHttp(api.startupProbe)).toBe('/health/live');
    expect(onHttp(api.readinessProbe)).toBe('/health/ready');
    // /health/ready waits up to 2 s for the database before its 503.
    expect(api.readinessProbe?.timeoutSeconds).toBeGreaterThan(2);
  });

  it('gives the drain its time: grace > preStop + SHUTDOWN_TIMEOUT', () => {
    const env = containerEnv(api);
    // Written out in the Deployment, so the arithmetic does not rest on a default.
    expect(api.env?.map((variable) => variable.name)).toContain('SHUTDOWN_TIMEOUT');
    // The values as the app parses them, with NODE_ENV=production's stricter rules.
    const config = loadConfig({ env, warn: () => {} });
    const preStop = preStopSeconds(api);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    console.log(
      `[deploy] grace ${grace} s > preStop ${preStop} s + SHUTDOWN_TIMEOUT ${config.drainTimeoutMs / 1000} s`,
    );
    expect(env['NODE_ENV']).toBe('production');
    expect(preStop).toBeGreaterThan(0);
    expect(grace).toBeGreaterThan(preStop + config.drainTimeoutMs / 1000);
  });

  it('runs the container locked down and rolls without losing capacity', () => {
    expect(pod.securityContext?.runAsNonRoot ?? api.securityContext?.runAsNonRoot).toBe(true);
    expect(api.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(api.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(api.securityContext?.capabilities?.drop).toContain('ALL');
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect(
      subsetOf(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels),
    ).toBe(true);
  });

  it('points the Service, PDB and HPA at the Deployment, and the Job away from it', () => {
    const labels = deployment.spec.template.metadata.labels;
    const service = manifest<Service>('Service', 'fairmind-api');
    expect(subsetOf(service.spec.selector, labels)).toBe(true);
    expect(service.spec.ports.map((port) => port.targetPort)).toEqual(['http']);

    const pdb = manifests.find((item) => item.kind === 'PodDisruptionBudget') as Disruption;
    expect(subsetOf(pdb.spec.selector.matchLabels, labels)).toBe(true);
    const hpa = manifests.find((item) => item.kind === 'HorizontalPodAutoscaler') as Autoscaler;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(300);
    // At the HPA's minimum the budget must still leave a pod to evict, or drains block.
    const allowed = pdb.spec.maxUnavailable ?? hpa.spec.minReplicas - (pdb.spec.minAvailable ?? 0);
    expect(allowed).toBeGreaterThanOrEqual(1);
    expect(hpa.spec.minReplicas).toBe(deployment.spec.replicas);

    // The migrate pod must not join the Service or count toward the budget.
    expect(subsetOf(deployment.spec.selector.matchLabels, job.spec.template.metadata.labels)).toBe(
      false,
    );
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.backoffLimit).toBeTypeOf('number');
    expect(job.spec.ttlSecondsAfterFinished).toBeTypeOf('number');
  });

  it('keeps the pools of every replica the HPA may run under PostgreSQL max_connections', () => {
    const hpa = manifests.find((item) => item.kind === 'HorizontalPodAutoscaler') as Autoscaler;
    const config = loadConfig({ env: containerEnv(api), warn: () => {} });
    // PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
    expect(
      hpa.spec.maxReplicas * (config.database.poolSize + config.database.maxOverflow),
    ).toBeLessThan(97);
  });

  it('names only variables the app reads', () => {
    const known = knownVariables();
    const named = [
      ...Object.keys(configMap.data ?? {}),
      ...Object.keys(secret.stringData ?? {}),
      ...[
        api,
        ...(job.spec.template.spec.initContainers ?? []),
        ...job.spec.template.spec.containers,
      ]
        .flatMap((container) => container.env ?? [])
        .map((variable) => variable.name),
    ];
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((name) => !known.has(name))).toEqual([]);
  });

  it("migrates with db-pool's CLI exactly what the server migrates at start-up", () => {
    // The platform's order (packages/platform/src/app/index.ts): auth's, then its own.
    expect(migrations.map(({ dir, table }) => ({ dir: realpathSync(dir), table }))).toEqual([
      { dir: realpathSync(authMigrations.dir), table: authMigrations.table },
      {
        dir: realpathSync(join(root, 'packages', 'platform', 'migrations')),
        table: 'schema_migrations',
      },
    ]);
    for (const migration of migrations) {
      expect(existsSync(migration.dir)).toBe(true);
      expect(migration.output, migration.container).toMatch(/Applied \d+ migrations?\./);
    }
    // Nothing left for the server: it logs each file it applies at info.
    expect(server.output()).not.toMatch(/applied migration/);
    expect(ready).toBe(200);
  });
});

describe('deploy/prometheus and deploy/grafana', () => {
  it('gives every alert a for, a severity, a summary and a description', () => {
    const rules = ruleFiles.flatMap((file) => file.groups.flatMap((group) => group.rules));
    expect(rules.length).toBeGreaterThan(5);
    for (const rule of rules.filter((candidate) => candidate.alert !== undefined)) {
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.['severity']);
      expect(rule.annotations?.['summary'], rule.alert).toBeTruthy();
      expect(rule.annotations?.['description'], rule.alert).toBeTruthy();
    }
  });

  it('is a schema 39 dashboard on a templated Prometheus data source and service', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.__inputs?.map((input) => input.name)).toContain('DS_PROMETHEUS');
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.get('datasource')?.type).toBe('datasource');
    expect(variables.get('service')?.definition).toMatch(/^label_values\(\w+, service\)$/);
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      // Grafana's reference to the `datasource` variable, not a JavaScript placeholder.
      expect(panel.datasource?.uid, panel.title).toBe(`\${datasource}`);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('queries only metrics a running example-express exports', () => {
    const names = [...ruleExpressions(ruleFiles), ...dashboardExpressions()].flatMap(metricNames);
    const { found, missing } = check(names, exposition);
    console.log(
      `[deploy] ${found.size} metric names checked against /metrics:\n${[...found]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, kind]) => `  ${name} (${kind})`)
        .join('\n')}`,
    );
    expect(found.size).toBeGreaterThan(15);
    expect(missing).toEqual([]);
  });

  it('would fail on a name the server does not export', () => {
    // The same check on the rules with one made-up metric and one suffix a counter lacks.
    const tampered = ruleFiles.map((file) => ({
      ...file,
      groups: [
        ...file.groups,
        {
          name: 'bogus',
          rules: [
            { alert: 'Bogus', expr: 'rate(fairmind_bogus_requests_total[5m]) > 0' },
            { alert: 'NotAHistogram', expr: 'rate(fairmind_cache_hits_total_count[5m]) > 0' },
          ],
        },
      ],
    }));
    const { missing } = check(ruleExpressions(tampered).flatMap(metricNames), exposition);
    expect(missing).toEqual(['fairmind_bogus_requests_total', 'fairmind_cache_hits_total_count']);
  });
});
