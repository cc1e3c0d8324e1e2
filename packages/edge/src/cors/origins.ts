import { type CorsOrigin, parseCorsOrigin } from '@fairmind/core/rules';
import { optionError } from '../options/index.js';

interface Pattern {
  readonly scheme: string;
  /** `.example.com` */
  readonly suffix: string;
  /** `''` or `:8443` */
  readonly port: string;
}

/** The `origins` option, compiled for matching. */
export interface AllowedOrigins {
  /** `*` was listed: every origin is allowed. */
  readonly any: boolean;
  /** Exact origins, normalized to `scheme://host[:port]`. */
  readonly exact: ReadonlySet<string>;
  /** `scheme://*.host[:port]` entries. */
  readonly patterns: readonly Pattern[];
}

// The origin grammar is the one CORS_ORIGINS is checked with (core's config), so an entry
// the config accepts is never refused here, nor the other way round.
function parseOrigin(text: string): CorsOrigin | undefined {
  const origin = parseCorsOrigin(text);
  return typeof origin === 'string' ? undefined : origin;
}

export function compileOrigins(factory: string, origins: readonly string[]): AllowedOrigins {
  const exact = new Set<string>();
  const patterns: Pattern[] = [];
  let any = false;
  for (const entry of origins) {
    if (entry === '*') {
      any = true;
      continue;
    }
    const parsed = parseOrigin(entry);
    if (parsed === undefined) {
      throw optionError(
        factory,
        `origins has ${JSON.stringify(entry)}, which is not '*' or scheme://host[:port] ` +
          '(host may start with *. for subdomains; no path, no trailing slash).',
      );
    }
    if (parsed.wildcard) {
      patterns.push({ scheme: parsed.scheme, suffix: `.${parsed.host}`, port: parsed.port });
    } else {
      exact.add(`${parsed.scheme}://${parsed.host}${parsed.port}`);
    }
  }
  return { any, exact, patterns };
}

/** Whether a request's `Origin` is one of `allowed`. */
export function isAllowedOrigin(allowed: AllowedOrigins, origin: string): boolean {
  if (allowed.any) return true;
  const parsed = parseOrigin(origin);
  if (parsed === undefined || parsed.wildcard) return false;
  const normal = `${parsed.scheme}://${parsed.host}${parsed.port}`;
  if (allowed.exact.has(normal)) return true;
  for (const pattern of allowed.patterns) {
    if (
      parsed.scheme === pattern.scheme &&
      parsed.port === pattern.port &&
      parsed.host.length > pattern.suffix.length &&
      parsed.host.endsWith(pattern.suffix)
    ) {
      return true;
    }
  }
  return false;
}
