// Inline SVG charts (no library): grouped bars and lines, each with a text table fallback for
// screen readers (the <title> and the caller's table).
import { s, h } from './lib.js';

const COLORS = ['#c0392b', '#1a5fd0', '#1e7d45', '#8a5300', '#6b3fa0', '#0f7c8c'];

function legend(names) {
  return h('div', { class: 'legend' }, names.map((n, i) => h('span', null, h('i', { style: `background:${COLORS[i % COLORS.length]}` }), n)));
}

/** Grouped bars: `groups` = [{label, values: [..]}], one value per series in `names`. */
export function bars(title, names, groups, { percent = false, id } = {}) {
  const W = 640; const H = 240; const L = 44; const B = 50; const T = 10;
  const max = Math.max(percent ? 0.0001 : 1, ...groups.flatMap((g) => g.values.map((v) => Number(v) || 0)));
  const gw = (W - L - 10) / Math.max(groups.length, 1);
  const bw = Math.max(2, (gw - 8) / names.length);
  const y = (v) => T + (H - T - B) * (1 - (Number(v) || 0) / max);
  const fmt = (v) => (percent ? `${(v * 100).toFixed(1)}%` : String(Math.round(v)));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, id: id || '' },
    s('title', null, title),
    s('line', { x1: L, y1: H - B, x2: W, y2: H - B, stroke: '#999' }),
    s('text', { x: 2, y: T + 10 }, fmt(max)), s('text', { x: 2, y: H - B }, fmt(0)));
  groups.forEach((g, gi) => {
    g.values.forEach((v, si) => {
      const x = L + gi * gw + 4 + si * bw;
      svg.append(s('rect', { x, y: y(v), width: bw - 1, height: Math.max(0, H - B - y(v)), fill: COLORS[si % COLORS.length] },
        s('title', null, `${g.label} · ${names[si]}：${fmt(Number(v) || 0)}`)));
    });
    const label = String(g.label);
    svg.append(s('text', { x: L + gi * gw + gw / 2, y: H - B + 14, 'text-anchor': 'middle' }, label.length > 8 ? label.slice(0, 8) + '…' : label));
  });
  return h('figure', { style: 'margin:0' }, legend(names), svg);
}

/** Lines over dates: `points` = [{date, ...}], one line per key of `series` ([[key, name]]). */
export function lines(title, series, points, { id } = {}) {
  const W = 640; const H = 240; const L = 50; const B = 36; const T = 10;
  const vals = points.flatMap((p) => series.map(([k]) => Number(p[k]) || 0));
  const max = Math.max(1, ...vals); const min = Math.min(0, ...vals);
  const x = (i) => L + (W - L - 10) * (points.length <= 1 ? 0.5 : i / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min || 1));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, id: id || '' },
    s('title', null, title),
    s('line', { x1: L, y1: y(0), x2: W, y2: y(0), stroke: '#999' }),
    s('text', { x: 2, y: T + 10 }, String(max)), s('text', { x: 2, y: H - B }, String(min)));
  series.forEach(([k], si) => {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(Number(p[k]) || 0).toFixed(1)}`).join(' ');
    if (points.length) svg.append(s('path', { d, fill: 'none', stroke: COLORS[si % COLORS.length], 'stroke-width': 2 }));
    points.forEach((p, i) => svg.append(s('circle', { cx: x(i), cy: y(Number(p[k]) || 0), r: 2.5, fill: COLORS[si % COLORS.length] },
      s('title', null, `${p.date} · ${series[si][1]}：${p[k]}`))));
  });
  const step = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((p, i) => { if (i % step === 0) svg.append(s('text', { x: x(i), y: H - B + 14, 'text-anchor': 'middle' }, String(p.date).slice(5))); });
  return h('figure', { style: 'margin:0' }, legend(series.map(([, n]) => n)), svg);
}
