import type {
  ClientIpResolver,
  ClientIpResolverOptions,
  HeaderRecord,
  Middleware,
} from '@fairmind/core';
import {
  booleanOption,
  clientIpOption,
  integerOption,
  type OneOfOption,
  oneOfOption,
  optionError,
  optionsObject,
  shown,
  stringListOption,
} from '../options/index.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /**
     * This request's Content-Security-Policy nonce, set by `securityHeaders()` when its CSP
     * uses nonces: put it on inline `<script nonce="...">` and `<style nonce="...">`.
     */
    cspNonce?: string;
  }
}

/** CSP directives: a name to its source list; `null` removes a directive a preset has. */
export type CspDirectives = Readonly<Record<string, readonly string[] | string | null>>;

/** The `contentSecurityPolicy` option of {@link securityHeaders}. */
export interface CspOptions {
  /**
   * Directives to set, merged over the preset's (a directive given here replaces the
   * preset's list for that directive; `null` removes it).
   * @default {}
   */
  directives?: CspDirectives | undefined;
  /**
   * Start from the preset's directives. `false` sends only `directives`.
   * @default true
   */
  useDefaults?: boolean | undefined;
  /**
   * Add a fresh nonce per request (`'nonce-...'`) to these directives; `true` means
   * `script-src` and `style-src`. A directive the policy lacks is created from `default-src`
   * plus the nonce. The nonce is on `exchange.state.cspNonce`.
   * @default false
   */
  nonce?: boolean | readonly string[] | undefined;
  /**
   * Send `Content-Security-Policy-Report-Only` instead, to try a policy without enforcing it.
   * @default false
   */
  reportOnly?: boolean | undefined;
}

/** The `strictTransportSecurity` option of {@link securityHeaders}. */
export interface HstsOptions {
  /**
   * Seconds browsers remember to use HTTPS only.
   * @default 31536000 (one year)
   */
  maxAge?: number | undefined;
  /** @default true */
  includeSubDomains?: boolean | undefined;
  /**
   * Ask to be put on browsers' preload lists (then maxAge must be at least a year).
   * @default false
   */
  preload?: boolean | undefined;
  /**
   * Send it on plain HTTP requests as well, for apps behind a TLS terminator that is not in
   * `trustedProxies`. Browsers ignore HSTS received over HTTP (RFC 6797 section 8.1).
   * @default false
   */
  force?: boolean | undefined;
}

/** Options of {@link securityHeaders}. */
export interface SecurityHeadersOptions {
  /**
   * `strict`: exactly the set HTTP-API.md requires (CSP with `default-src 'self'`,
   * `object-src 'none'`, `frame-ancestors 'none'`; `X-Frame-Options: DENY`; `nosniff`;
   * `Referrer-Policy: no-referrer`; HSTS for a year with subdomains; COOP and CORP
   * `same-origin`). `helmet`: the headers helmet 8 sends by default, byte for byte.
   * @default 'strict'
   */
  preset?: 'strict' | 'helmet' | undefined;
  /** A CSP over the preset's, a whole policy as a string, or `false` to send none. */
  contentSecurityPolicy?: CspOptions | string | false | undefined;
  /** HSTS settings, or `false` to send none. Sent only over HTTPS unless `force`. */
  strictTransportSecurity?: HstsOptions | false | undefined;
  /** @default the preset's: 'DENY' (strict), 'SAMEORIGIN' (helmet) */
  xFrameOptions?: 'DENY' | 'SAMEORIGIN' | false | undefined;
  /** `X-Content-Type-Options: nosniff`. @default true */
  xContentTypeOptions?: boolean | undefined;
  /** A `Referrer-Policy` token list, or `false`. @default 'no-referrer' */
  referrerPolicy?: string | false | undefined;
  /** @default 'same-origin' */
  crossOriginOpenerPolicy?:
    | 'same-origin'
    | 'same-origin-allow-popups'
    | 'unsafe-none'
    | false
    | undefined;
  /** @default 'same-origin' */
  crossOriginResourcePolicy?: 'same-origin' | 'same-site' | 'cross-origin' | false | undefined;
  /**
   * Any other header to add (a value) or a preset header to drop (`false`), applied last.
   * @default {}
   */
  headers?: Readonly<Record<string, string | false>> | undefined;
  /**
   * Proxies whose `X-Forwarded-Proto` is believed when deciding whether a request came over
   * HTTPS (`TRUSTED_PROXIES`).
   * @default none: only a TLS socket counts
   */
  trustedProxies?: ClientIpResolverOptions['trustedProxies'] | undefined;
  /** A shared resolver; wins over `trustedProxies`. */
  clientIp?: ClientIpResolver | undefined;
}

/**
 * The security-headers middleware. `removeHeaders` lists what must not be on a response
 * at all (`X-Powered-By`): a contract middleware can only add headers, and frameworks set
 * that one themselves, so the adapters remove what is listed here.
 */
export interface SecurityHeadersMiddleware extends Middleware {
  readonly removeHeaders: readonly string[];
}

const STRICT_CSP: CspDirectives = {
  'default-src': ["'self'"],
  'object-src': ["'none'"],
  'frame-ancestors': ["'none'"],
};

// helmet 8's getDefaultDirectives(), in its order, so the serialized header is identical.
const HELMET_CSP: CspDirectives = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'font-src': ["'self'", 'https:', 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", 'https:', "'unsafe-inline'"],
  'upgrade-insecure-requests': [],
};

interface Preset {
  readonly csp: CspDirectives;
  readonly frame: 'DENY' | 'SAMEORIGIN';
  /** Headers beyond the HTTP-API.md set, in the order helmet writes them. */
  readonly extra: Readonly<Record<string, string>>;
}

const PRESETS: Readonly<Record<'strict' | 'helmet', Preset>> = {
  strict: { csp: STRICT_CSP, frame: 'DENY', extra: {} },
  helmet: {
    csp: HELMET_CSP,
    frame: 'SAMEORIGIN',
    extra: {
      'origin-agent-cluster': '?1',
      'x-dns-prefetch-control': 'off',
      'x-download-options': 'noopen',
      'x-permitted-cross-domain-policies': 'none',
      'x-xss-protection': '0',
    },
  },
};

// Keywords that must be single-quoted in a source list; unquoted they are host names.
const QUOTED_KEYWORDS = new Set([
  'none',
  'self',
  'strict-dynamic',
  'report-sample',
  'inline-speculation-rules',
  'unsafe-inline',
  'unsafe-eval',
  'unsafe-hashes',
  'wasm-unsafe-eval',
]);
const DIRECTIVE_NAME = /^[a-z][a-z0-9-]*$/;
const NONCE_DIRECTIVES = new Set(['script-src', 'script-src-elem', 'style-src', 'style-src-elem']);
const HEADER_NAME = /^[!#$%&'*+.^`|~\w-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REFERRER_POLICIES = new Set([
  'no-referrer',
  'no-referrer-when-downgrade',
  'same-origin',
  'origin',
  'strict-origin',
  'origin-when-cross-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
  '',
]);

function sourceList(factory: string, name: string, value: readonly string[] | string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) {
    throw optionError(
      factory,
      `CSP directive ${name} must be a list of sources, got ${shown(value)}.`,
    );
  }
  for (const source of list) {
    if (typeof source !== 'string' || /[;,\r\n]/.test(source)) {
      throw optionError(
        factory,
        `CSP directive ${name} has an invalid source ${shown(source)}: sources cannot contain ';', ',' or line breaks.`,
      );
    }
    if (QUOTED_KEYWORDS.has(source) || /^(?:nonce|sha256|sha384|sha512)-/.test(source)) {
      throw optionError(
        factory,
        `CSP directive ${name} has ${JSON.stringify(source)}, which must be single-quoted: "'${source}'".`,
      );
    }
  }
  return [...list];
}

/**
 * Serializes CSP directives (`default-src 'self';object-src 'none'`), in the given order and
 * with helmet's separator, after checking names and sources: keywords such as `self` must be
 * quoted and no source may carry `;` or `,`, which would let it inject a directive.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` for a bad directive name or source.
 * @example
 * ```ts
 * buildCsp({ 'default-src': ["'self'"], 'img-src': ["'self'", 'data:'] });
 * // "default-src 'self';img-src 'self' data:"
 * ```
 */
export function buildCsp(directives: CspDirectives): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(directives)) {
    if (value === null) continue;
    if (!DIRECTIVE_NAME.test(name)) {
      throw optionError('buildCsp', `${JSON.stringify(name)} is not a CSP directive name.`);
    }
    const sources = sourceList('buildCsp', name, value);
    parts.push(sources.length === 0 ? name : `${name} ${sources.join(' ')}`);
  }
  return parts.join(';');
}

// Stands for the nonce inside the serialized policy; a control character, so it cannot be
// part of any source that passed validation and reached a header.
const NONCE_MARK = '\u0001';

/** A CSP header: its name, and its value split where each request's nonce goes. */
interface ResolvedCsp {
  readonly name: string;
  readonly template: readonly string[];
}

function resolveCsp(
  factory: string,
  value: SecurityHeadersOptions['contentSecurityPolicy'],
  preset: Preset,
): ResolvedCsp | undefined {
  if (value === false) return undefined;
  if (typeof value === 'string') {
    if (!HEADER_VALUE.test(value) || value.trim() === '') {
      throw optionError(factory, 'contentSecurityPolicy must be a non-empty header value.');
    }
    return { name: 'content-security-policy', template: [value] };
  }
  const csp = optionsObject(`${factory}: contentSecurityPolicy`, value);
  const useDefaults = booleanOption(
    factory,
    'contentSecurityPolicy.useDefaults',
    csp.useDefaults,
    true,
  );
  const directives: Record<string, readonly string[] | string | null> = useDefaults
    ? { ...preset.csp }
    : {};
  if (csp.directives !== undefined) {
    if (typeof csp.directives !== 'object' || csp.directives === null) {
      throw optionError(factory, 'contentSecurityPolicy.directives must be an object.');
    }
    for (const [name, sources] of Object.entries(csp.directives)) {
      // camelCase names as helmet takes them (scriptSrc) are accepted too.
      directives[name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)] = sources;
    }
  }
  const nonceDirectives =
    csp.nonce === undefined || csp.nonce === false
      ? []
      : csp.nonce === true
        ? ['script-src', 'style-src']
        : stringListOption(factory, 'contentSecurityPolicy.nonce', csp.nonce, []);
  for (const name of nonceDirectives) {
    if (!NONCE_DIRECTIVES.has(name)) {
      throw optionError(
        factory,
        `contentSecurityPolicy.nonce lists ${JSON.stringify(name)}; nonces apply to ` +
          `${[...NONCE_DIRECTIVES].join(', ')} only.`,
      );
    }
  }
  for (const name of nonceDirectives) {
    const base = directives[name] ?? directives['default-src'] ?? ["'self'"];
    const list = (typeof base === 'string' ? [base] : [...base]).filter((s) => s !== "'none'");
    directives[name] = [...list, `'nonce-${NONCE_MARK}'`];
  }
  const serialized = buildCsp(directives);
  if (!serialized.includes('default-src') && useDefaults) {
    throw optionError(factory, 'contentSecurityPolicy needs a default-src directive.');
  }
  const name = booleanOption(factory, 'contentSecurityPolicy.reportOnly', csp.reportOnly, false)
    ? 'content-security-policy-report-only'
    : 'content-security-policy';
  // Serialized once with a stand-in and split where the nonce goes: per request the header
  // is a join of fixed pieces around one fresh value.
  return { name, template: serialized.split(NONCE_MARK) };
}

function resolveHsts(factory: string, value: SecurityHeadersOptions['strictTransportSecurity']) {
  if (value === false) return undefined;
  const hsts = optionsObject(`${factory}: strictTransportSecurity`, value);
  const maxAge = integerOption(factory, {
    name: 'strictTransportSecurity.maxAge',
    value: hsts.maxAge,
    fallback: 31_536_000,
    min: 0,
  });
  const sub = booleanOption(
    factory,
    'strictTransportSecurity.includeSubDomains',
    hsts.includeSubDomains,
    true,
  );
  const preload = booleanOption(factory, 'strictTransportSecurity.preload', hsts.preload, false);
  if (preload && (!sub || maxAge < 31_536_000)) {
    throw optionError(
      factory,
      'strictTransportSecurity.preload needs includeSubDomains and a maxAge of at least 31536000 (the preload list requires both).',
    );
  }
  return {
    value: `max-age=${maxAge}${sub ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`,
    force: booleanOption(factory, 'strictTransportSecurity.force', hsts.force, false),
  };
}

function randomNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function referrerPolicy(factory: string, value: string | false | undefined): string | undefined {
  const referrer = value ?? 'no-referrer';
  if (referrer === false) return undefined;
  const tokens = typeof referrer === 'string' ? referrer.split(',').map((t) => t.trim()) : [];
  if (typeof referrer !== 'string' || tokens.some((t) => !REFERRER_POLICIES.has(t))) {
    throw optionError(
      factory,
      `referrerPolicy ${shown(referrer)} is not a Referrer-Policy value such as 'no-referrer'.`,
    );
  }
  return tokens.join(',');
}

/** Applies the `headers` option to `base`: a value adds or replaces, `false` drops. */
function overrideHeaders(
  factory: string,
  base: HeaderRecord,
  headers: SecurityHeadersOptions['headers'],
): void {
  if (headers === undefined) return;
  if (typeof headers !== 'object' || headers === null) {
    throw optionError(factory, 'headers must be an object of header names to values or false.');
  }
  for (const [raw, value] of Object.entries(headers)) {
    const name = raw.toLowerCase();
    if (!HEADER_NAME.test(name))
      throw optionError(factory, `headers: ${JSON.stringify(raw)} is not a header name.`);
    if (value === false) delete base[name];
    else if (typeof value === 'string' && HEADER_VALUE.test(value)) base[name] = value;
    else throw optionError(factory, `headers['${raw}'] must be a header value or false.`);
  }
}

/**
 * The headers every response gets but HSTS (and a per-request CSP), and `hstsSlot`, the
 * position HSTS takes among them.
 */
function fixedHeaders(
  factory: string,
  opts: SecurityHeadersOptions,
  resolved: { readonly preset: Preset; readonly csp: ResolvedCsp | undefined },
): { base: HeaderRecord; hstsSlot: number } {
  const { preset, csp } = resolved;
  // Built in helmet's order, so the helmet preset writes its headers the way helmet does.
  const base: HeaderRecord = {};
  // `option.value` is `false` when the header is turned off.
  const choose = <const T extends readonly string[]>(header: string, option: OneOfOption<T>) => {
    if (option.value !== false) base[header] = oneOfOption(factory, option);
  };
  const extra = (...names: string[]) => {
    for (const name of names) {
      const value = preset.extra[name];
      if (value !== undefined) base[name] = value;
    }
  };
  if (csp !== undefined && csp.template.length === 1) base[csp.name] = csp.template[0] as string;
  choose('cross-origin-opener-policy', {
    name: 'crossOriginOpenerPolicy',
    value: opts.crossOriginOpenerPolicy,
    allowed: ['same-origin', 'same-origin-allow-popups', 'unsafe-none'] as const,
    fallback: 'same-origin',
  });
  choose('cross-origin-resource-policy', {
    name: 'crossOriginResourcePolicy',
    value: opts.crossOriginResourcePolicy,
    allowed: ['same-origin', 'same-site', 'cross-origin'] as const,
    fallback: 'same-origin',
  });
  extra('origin-agent-cluster');
  const referrer = referrerPolicy(factory, opts.referrerPolicy);
  if (referrer !== undefined) base['referrer-policy'] = referrer;
  const hstsSlot = Object.keys(base).length;
  if (booleanOption(factory, 'xContentTypeOptions', opts.xContentTypeOptions, true)) {
    base['x-content-type-options'] = 'nosniff';
  }
  extra('x-dns-prefetch-control', 'x-download-options');
  choose('x-frame-options', {
    name: 'xFrameOptions',
    value: opts.xFrameOptions,
    allowed: ['DENY', 'SAMEORIGIN'] as const,
    fallback: preset.frame,
  });
  extra('x-permitted-cross-domain-policies', 'x-xss-protection');
  overrideHeaders(factory, base, opts.headers);
  return { base, hstsSlot };
}

/**
 * HSTS sits where helmet writes it (after Referrer-Policy); two frozen maps, chosen per
 * request, so the common case allocates nothing.
 */
function hstsVariants(
  base: HeaderRecord,
  hstsSlot: number,
  hsts: string | undefined,
): { plain: HeaderRecord; secure: HeaderRecord } {
  const entries = Object.entries(base);
  const plain = Object.freeze(Object.fromEntries(entries));
  const secure =
    hsts === undefined
      ? plain
      : Object.freeze(
          Object.fromEntries([
            ...entries.slice(0, hstsSlot),
            ['strict-transport-security', hsts],
            ...entries.slice(hstsSlot),
          ]),
        );
  return { plain, secure };
}

/**
 * Security headers on every response, 2xx, 4xx and 5xx alike (a reply from a later
 * middleware, such as a 429, carries them too). The `strict` preset is the HTTP-API.md
 * set; `helmet` is helmet 8's defaults. Each header can be changed or dropped; the CSP can
 * be extended, replaced or given a per-request nonce. HSTS goes out only when the request
 * came over HTTPS, directly or through a trusted proxy, unless `force`d.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const headers = securityHeaders({
 *   trustedProxies: config.trustedProxies,
 *   contentSecurityPolicy: { directives: { 'img-src': ["'self'", 'data:'] }, nonce: true },
 * });
 * // handler: `<script nonce="${exchange.state.cspNonce}">`
 * ```
 */
export function securityHeaders(options?: SecurityHeadersOptions): SecurityHeadersMiddleware {
  const factory = 'securityHeaders';
  const opts = optionsObject(factory, options);
  const preset =
    PRESETS[
      oneOfOption(factory, {
        name: 'preset',
        value: opts.preset,
        allowed: ['strict', 'helmet'] as const,
        fallback: 'strict',
      })
    ];
  const clientIp = clientIpOption(factory, opts.clientIp, opts.trustedProxies);
  const csp = resolveCsp(factory, opts.contentSecurityPolicy, preset);
  const hsts = resolveHsts(factory, opts.strictTransportSecurity);

  const { base, hstsSlot } = fixedHeaders(factory, opts, { preset, csp });
  const { plain, secure } = hstsVariants(base, hstsSlot, hsts?.value);
  const always = hsts?.force === true;
  const template = csp !== undefined && csp.template.length > 1 ? csp.template : undefined;
  const cspName = csp?.name ?? 'content-security-policy';

  const middleware: Middleware = template
    ? function securityHeadersMiddleware(exchange) {
        const nonce = randomNonce();
        exchange.state.cspNonce = nonce;
        const headers: HeaderRecord = {
          [cspName]: template.join(nonce),
          ...(always || clientIp.isHttps(exchange) ? secure : plain),
        };
        return { headers };
      }
    : function securityHeadersMiddleware(exchange) {
        return { headers: always || clientIp.isHttps(exchange) ? secure : plain };
      };
  return Object.assign(middleware, { removeHeaders: Object.freeze(['x-powered-by']) });
}
