// Host grammar shared by the CORS origin rule and the config's HOST check. Internal to
// core: not exported from any entry point.

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

export function parsesAsUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

export function isIpv4(host: string): boolean {
  const parts = host.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export function isIpv6(host: string): boolean {
  return host.includes(':') && /^[0-9a-f:.]+$/i.test(host) && parsesAsUrl(`http://[${host}]/`);
}

export function isHostname(host: string): boolean {
  const labels = host.split('.');
  // All-numeric names are IPv4 or nothing: '999.1.1.1' must not pass as a hostname.
  if (labels.every((l) => /^\d+$/.test(l))) return isIpv4(host);
  return host.length <= 253 && labels.every((l) => LABEL.test(l));
}
