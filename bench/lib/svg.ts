/**
 * The cost curves of bench/platform.ts as one SVG: requests per second and p99 latency
 * against the number of connections, a line per server and workload. Drawn by hand: a
 * charting library would be a large dependency for two panels of polylines.
 */
export interface CurvePoint {
  server: string;
  workload: string;
  connections: number;
  requestsPerSecond: number;
  p99Ms: number;
}

const WIDTH = 960;
const HEIGHT = 420;
const PANEL = { top: 50, bottom: 360, left: 70, width: 360, gap: 110 };
const COLOURS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
];

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function panel(
  points: readonly CurvePoint[],
  counts: readonly number[],
  series: readonly string[],
  pick: (point: CurvePoint) => number,
  left: number,
  title: string,
): string {
  const max = niceMax(Math.max(...points.map(pick)));
  const x = (count: number) =>
    left +
    (counts.length === 1
      ? PANEL.width / 2
      : (counts.indexOf(count) / (counts.length - 1)) * PANEL.width);
  const y = (value: number) => PANEL.bottom - (value / max) * (PANEL.bottom - PANEL.top);
  const parts: string[] = [
    `<text x="${left + PANEL.width / 2}" y="${PANEL.top - 20}" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${left}" y1="${PANEL.bottom}" x2="${left + PANEL.width}" y2="${PANEL.bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${PANEL.top}" x2="${left}" y2="${PANEL.bottom}" stroke="#333"/>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (max * tick) / 4;
    parts.push(
      `<line x1="${left}" y1="${y(value)}" x2="${left + PANEL.width}" y2="${y(value)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${Math.round(value).toLocaleString('en-US')}</text>`,
    );
  }
  for (const count of counts) {
    parts.push(
      `<text x="${x(count)}" y="${PANEL.bottom + 18}" text-anchor="middle">${count}</text>`,
    );
  }
  parts.push(
    `<text x="${left + PANEL.width / 2}" y="${PANEL.bottom + 38}" text-anchor="middle">connections</text>`,
  );
  series.forEach((name, index) => {
    const line = points
      .filter((point) => `${point.server} ${point.workload}` === name)
      .sort((a, b) => a.connections - b.connections)
      .map((point) => `${x(point.connections)},${y(pick(point))}`)
      .join(' ');
    const colour = COLOURS[index % COLOURS.length];
    // A reference (bare framework) line is dashed, so it cannot pass for a platform server.
    const dashed = name.startsWith('bare ') ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<polyline points="${line}" fill="none" stroke="${colour}" stroke-width="2"${dashed}/>`,
    );
  });
  return parts.join('\n');
}

/** The two panels and a legend, as an SVG document. */
export function costCurveSvg(points: readonly CurvePoint[]): string {
  const counts = [...new Set(points.map((point) => point.connections))].sort((a, b) => a - b);
  const series = [...new Set(points.map((point) => `${point.server} ${point.workload}`))];
  const legend = series
    .map((name, index) => {
      const colour = COLOURS[index % COLOURS.length];
      const top = PANEL.top + index * 18;
      const left = PANEL.left + 2 * PANEL.width + PANEL.gap + 40;
      return `<rect x="${left}" y="${top - 9}" width="12" height="12" fill="${colour}"/><text x="${left + 18}" y="${top + 1}">${escapeXml(name)}</text>`;
    })
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH + 160}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(`Requests per second and p99 latency against connections: ${series.join(', ')}`)}</title>`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    panel(
      points,
      counts,
      series,
      (point) => point.requestsPerSecond,
      PANEL.left,
      'requests per second',
    ),
    panel(
      points,
      counts,
      series,
      (point) => point.p99Ms,
      PANEL.left + PANEL.width + PANEL.gap,
      'p99 latency (ms)',
    ),
    legend,
    '</svg>',
    '',
  ].join('\n');
}
