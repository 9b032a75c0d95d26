import type { BenchReport } from './sweep.js';

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { top: 50, right: 30, bottom: 60, left: 80 };
const MiB = 2 ** 20;

const escape = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A self-contained SVG: aggregate and per-connection (median) throughput against connection
 * count, counts evenly spaced, the knee marked.
 */
export function renderSvg(report: BenchReport): string {
  const points = report.results;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceCeiling(Math.max(...points.map((p) => p.throughput)) / MiB);
  const x = (i: number) => MARGIN.left + (points.length === 1 ? plotWidth / 2 : (i * plotWidth) / (points.length - 1));
  const y = (bytesPerSecond: number) => MARGIN.top + plotHeight - (bytesPerSecond / MiB / top) * plotHeight;
  const series = (values: number[], color: string, name: string) => [
    `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`,
    ...values.map((v, i) => `<circle class="point" data-series="${name}" data-connections="${points[i]!.connections}" data-value="${Math.round(v)}" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="4" fill="${color}"><title>${points[i]!.connections} connections: ${(v / MiB).toFixed(1)} MiB/s ${name}</title></circle>`),
  ];
  const kneeIndex = points.findIndex((p) => p.connections === report.knee);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="13">`,
    `<title>rangeget bench: ${escape(report.url)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">Throughput by connection count: ${escape(new URL(report.url).host)}</text>`,
    ...ticks.map((t) => `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t * MiB).toFixed(1)}" y2="${y(t * MiB).toFixed(1)}" stroke="#ddd"/><text x="${MARGIN.left - 8}" y="${(y(t * MiB) + 4).toFixed(1)}" text-anchor="end">${formatTick(t)}</text>`),
    ...points.map((p, i) => `<text x="${x(i).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 20}" text-anchor="middle">${p.connections}</text>`),
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 18}" text-anchor="middle">connections</text>`,
    `<text transform="translate(20 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">MiB/s</text>`,
    `<line class="knee" x1="${x(kneeIndex).toFixed(1)}" x2="${x(kneeIndex).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#888" stroke-dasharray="5 4"/>`,
    `<text x="${(x(kneeIndex) + 6).toFixed(1)}" y="${MARGIN.top + 14}">knee: ${report.knee}</text>`,
    ...series(points.map((p) => p.throughput), '#1f77b4', 'aggregate'),
    ...series(points.map((p) => p.perConnection.median), '#ff7f0e', 'per connection'),
    `<g transform="translate(${MARGIN.left + 12} ${MARGIN.top + 8})"><rect width="12" height="3" y="-6" fill="#1f77b4"/><text x="18">aggregate</text><rect width="12" height="3" y="12" fill="#ff7f0e"/><text x="18" y="18">per connection (median)</text></g>`,
    '</svg>',
  ].join('\n') + '\n';
}

function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((v) => v >= value)!;
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
