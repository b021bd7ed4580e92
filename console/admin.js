// Admin pages: campaigns and their wheels, the default wheel's odds editor, products, users,
// merchant applications, levels and task rewards, the audit log, analytics and live figures.
// Every refusal shows the API's own `msg`; nothing is validated here that the API would not
// refuse itself (the sum shown beside the odds is a help, the API decides).
import { api, h, field, act, notice, table, fmtTime, toIso, toLocalInput, pager, liveSocket } from './lib.js';
import { bars, lines } from './charts.js';

const STATUS = { draft: '草稿', active: '进行中', paused: '已暂停', ended: '已结束' };
const NEXT = { draft: ['active', 'ended'], active: ['paused', 'ended'], paused: ['active', 'ended'], ended: [] };
const ACTION = { active: '启动', paused: '暂停', ended: '结束' };
const TYPES = { points: '积分', coupon: '优惠券', physical: '实物', empty: '谢谢参与' };

const pill = (status, text) => h('span', { class: `pill ${status}` }, text || status);
const num = (el) => (el.value === '' ? null : Number(el.value));

// ---------------------------------------------------------------- campaigns

function campaignFields(c = {}) {
  const f = {
    name: h('input', { id: 'c-name', required: true, maxlength: 64, value: c.name || '' }),
    description: h('textarea', { id: 'c-desc', rows: 2, maxlength: 500 }, c.description || ''),
    starts_at: h('input', { id: 'c-start', type: 'datetime-local', value: toLocalInput(c.starts_at) }),
    ends_at: h('input', { id: 'c-end', type: 'datetime-local', value: toLocalInput(c.ends_at) }),
    cost_points: h('input', { id: 'c-cost', type: 'number', min: 0, value: c.cost_points ?? 100 }),
    daily_limit: h('input', { id: 'c-daily', type: 'number', min: 0, value: c.daily_limit ?? 0 }),
    min_level: h('input', { id: 'c-level', type: 'number', min: 1, value: c.min_level ?? 1 }),
    pity_enabled: h('input', { id: 'c-pity', type: 'checkbox', checked: c.pity_enabled ?? true }),
    pity_limit: h('input', { id: 'c-pity-limit', type: 'number', min: 1, value: c.pity_limit ?? 10 }),
    banner_image: h('input', { id: 'c-banner', maxlength: 500, value: c.banner_image || '' }),
  };
  const body = () => ({
    name: f.name.value.trim(), description: f.description.value, starts_at: toIso(f.starts_at.value),
    ends_at: toIso(f.ends_at.value), cost_points: num(f.cost_points), daily_limit: num(f.daily_limit),
    min_level: num(f.min_level), pity_enabled: f.pity_enabled.checked, pity_limit: num(f.pity_limit),
    banner_image: f.banner_image.value.trim(),
  });
  const nodes = [
    field('活动名称', f.name), field('说明', f.description),
    h('div', { class: 'row' }, field('开始时间', f.starts_at), field('结束时间', f.ends_at)),
    h('div', { class: 'row' }, field('每次抽奖积分', f.cost_points), field('每日抽奖上限（0 = 不限）', f.daily_limit), field('最低会员等级', f.min_level)),
    h('div', { class: 'row' }, h('label', { class: 'inline' }, f.pity_enabled, '启用保底'), field('保底次数', f.pity_limit)),
    field('横幅图片地址', f.banner_image),
  ];
  return { nodes, body };
}

async function campaigns(main) {
  const listBox = h('div');
  async function load() {
    const d = await api('GET', '/api/admin/campaigns?limit=50');
    listBox.replaceChildren(table(['ID', '名称', '状态', '时间', '积分/次', '操作'], d.campaigns.map((c) => h('tr', { id: `campaign-${c.id}` },
      h('td', null, c.id), h('td', null, h('a', { href: `#/a/campaign/${c.id}` }, c.name)),
      h('td', null, pill(c.status, STATUS[c.status])),
      h('td', { class: 'muted' }, `${fmtTime(c.starts_at)} – ${fmtTime(c.ends_at)}`), h('td', null, c.cost_points),
      h('td', null, h('div', { class: 'row' }, (NEXT[c.status] || []).map((to) => {
        const b = h('button', { type: 'button', class: to === 'ended' ? 'secondary' : '', id: `status-${c.id}-${to}` }, ACTION[to]);
        b.addEventListener('click', () => act(b, async () => {
          if (to === 'ended' && !confirm(`结束活动「${c.name}」？结束后不能再启动。`)) return;
          await api('POST', `/api/admin/campaigns/${c.id}/status`, { status: to });
          notice(`活动「${c.name}」已${ACTION[to]}`);
          await load();
        }));
        return b;
      }), h('a', { href: `#/a/campaign/${c.id}` }, '详情')))))));
  }
  const { nodes, body } = campaignFields();
  const form = h('form', { class: 'card', id: 'campaign-form' }, h('h3', null, '新建活动（草稿）'), nodes, h('button', { type: 'submit', id: 'c-create' }, '创建'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(form.querySelector('#c-create'), async () => {
      const c = await api('POST', '/api/admin/campaigns', body());
      notice(`活动「${c.name}」已创建（#${c.id}，草稿）`);
      form.reset();
      await load();
    });
  });
  main.replaceChildren(h('h2', null, '活动'), listBox, form);
  await load();
}

/** The 8-sector odds editor over GET/PUT `url` (the shape of /api/admin/lottery/prizes). */
const DEFAULT_PRIZES = '/api/admin/lottery/prizes';

function wheelEditor(box, url, stockUrl) {
  let prizes = [];
  const sum = h('output', { id: 'prob-sum', class: 'sum', 'aria-live': 'polite' });
  const rowsBox = h('tbody');
  const showSum = () => {
    const total = prizes.reduce((a, p) => a + (Number(p.probability) || 0), 0);
    const good = Math.abs(total - 1) <= 1e-6;
    sum.textContent = `概率合计：${total.toFixed(6)}${good ? '' : '（须等于 1）'}`;
    sum.className = `sum ${good ? 'good' : 'bad'}`;
  };
  const render = () => {
    rowsBox.replaceChildren(...prizes.map((p, i) => {
      const lab = (t) => `${t}（第 ${i + 1} 格，${p.angle}°）`;
      const inp = (key, attrs) => {
        const el = h('input', { ...attrs, 'aria-label': lab(attrs.title), value: p[key] ?? '' });
        el.addEventListener('input', () => { p[key] = attrs.type === 'number' ? (el.value === '' ? null : Number(el.value)) : el.value; if (key === 'probability') showSum(); });
        return el;
      };
      const type = h('select', { 'aria-label': lab('类型'), id: `prize-type-${i}` }, Object.entries(TYPES).map(([v, t]) => h('option', { value: v, selected: p.type === v }, t)));
      type.addEventListener('change', () => { p.type = type.value; });
      const radio = (key, title) => {
        const el = h('input', { type: 'radio', name: key, checked: p[key], 'aria-label': lab(title) });
        el.addEventListener('change', () => prizes.forEach((q, j) => { q[key] = j === i; }));
        return el;
      };
      const act1 = h('input', { type: 'checkbox', checked: p.is_activity, 'aria-label': lab('活动奖') });
      act1.addEventListener('change', () => { p.is_activity = act1.checked; });
      const addInput = h('input', { type: 'number', min: 1, id: `add-stock-${i}`, 'aria-label': lab('追加库存'), style: 'width:80px' });
      const addBtn = h('button', { type: 'button', class: 'secondary', id: `add-stock-btn-${i}` }, '加库存');
      addBtn.addEventListener('click', () => act(addBtn, async () => {
        const d = await api('POST', stockUrl(p.id), { add: Number(addInput.value) });
        notice(`「${p.name}」库存已增加，剩余 ${d.stock_left}`);
        await load();
      }));
      return h('tr', { id: `prize-row-${i}` },
        h('td', null, p.angle, '°'),
        h('td', null, inp('name', { id: `prize-name-${i}`, title: '名称', maxlength: 32 })),
        h('td', null, type),
        h('td', null, inp('value', { id: `prize-value-${i}`, title: '数值', type: 'number' })),
        h('td', null, inp('color', { id: `prize-color-${i}`, title: '颜色', type: 'color' })),
        h('td', null, inp('probability', { id: `prize-prob-${i}`, title: '概率', type: 'number', step: 'any', min: 0, max: 1 })),
        h('td', null, act1),
        h('td', null, inp('stock', { id: `prize-stock-${i}`, title: '库存（空 = 不限）', type: 'number', min: 0 })),
        h('td', null, p.stock_left ?? '不限'),
        h('td', null, radio('is_pity_prize', '保底奖')),
        h('td', null, radio('is_fallback', '兜底奖')),
        h('td', null, p.id && p.stock_left !== null && p.stock_left !== undefined ? h('div', { class: 'row' }, addInput, addBtn) : ''));
    }));
    showSum();
  };
  async function load() {
    const d = await api('GET', url);
    prizes = d.prizes.map((p) => ({ ...p }));
    if (!prizes.length && url !== DEFAULT_PRIZES) {
      // A new campaign has no sectors yet: start from the default wheel's eight, to edit and save.
      const base = await api('GET', DEFAULT_PRIZES);
      prizes = base.prizes.map(({ id, stock_left, ...p }) => ({ ...p }));
      notice('该活动尚未配置奖项：已从默认转盘复制，修改后请保存');
    }
    render();
    return d;
  }
  const save = h('button', { type: 'submit', id: 'save-prizes' }, '保存奖项');
  const form = h('form', { class: 'card', id: 'prizes-form' },
    h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['角度', '名称', '类型', '数值', '颜色', '概率', '活动奖', '库存', '剩余', '保底', '兜底', '追加'].map((t) => h('th', { scope: 'col' }, t)))),
      rowsBox)),
    h('div', { class: 'row' }, sum, save));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(save, async () => {
      await api('PUT', url, { prizes });
      notice('奖项已保存');
      await load();
    });
  });
  box.replaceChildren(form);
  return load;
}

async function campaign(main, [id]) {
  const c = (await api('GET', '/api/admin/campaigns?limit=50')).campaigns.find((x) => String(x.id) === String(id));
  if (!c) { main.replaceChildren(h('h2', null, '活动不存在'), h('a', { href: '#/a/campaigns' }, '返回活动列表')); return; }
  const { nodes, body } = campaignFields(c);
  const form = h('form', { class: 'card', id: 'campaign-edit' }, h('h3', null, '编辑活动'), nodes, h('button', { type: 'submit', id: 'c-save' }, '保存'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(form.querySelector('#c-save'), async () => { await api('PUT', `/api/admin/campaigns/${c.id}`, body()); notice('活动已保存'); });
  });
  const prizesBox = h('div');
  const statsBox = h('section', { class: 'card', id: 'campaign-stats' });
  const fairBox = h('section', { class: 'card', id: 'fairness' });
  main.replaceChildren(h('h2', null, `活动 #${c.id}「${c.name}」 `, pill(c.status, STATUS[c.status])),
    h('p', null, h('a', { href: '#/a/campaigns' }, '← 活动列表')),
    h('h3', null, '奖项与概率'), prizesBox, h('h3', null, '数据'), statsBox, h('h3', null, '公平性'), fairBox, form);
  const loadPrizes = wheelEditor(prizesBox, `/api/admin/campaigns/${c.id}/prizes`, (pid) => `/api/admin/campaigns/${c.id}/prizes/${pid}/stock`);
  await Promise.all([
    act(null, loadPrizes),
    act(null, async () => renderStats(statsBox, await api('GET', `/api/admin/campaigns/${c.id}/stats`))),
    fairness(fairBox, c.id),
  ]);
}

function renderStats(box, st) {
  box.replaceChildren(
    h('div', { class: 'figures' }, fig('抽奖次数', st.draws), fig('参与人数', st.unique_users), fig('消耗积分', st.points_spent), fig('发放积分', st.points_awarded)),
    h('h4', null, '配置概率与实际频率'),
    bars('配置概率与实际频率', ['配置概率', '实际频率'], st.prizes.map((p) => ({ label: p.name, values: [p.configured_probability, p.observed_frequency] })), { percent: true, id: 'odds-chart' }),
    table(['奖项', '配置概率', '实际频率', '中出', '剩余库存'], st.prizes.map((p) => h('tr', null, h('td', null, p.name),
      h('td', null, `${(p.configured_probability * 100).toFixed(2)}%`), h('td', null, `${(p.observed_frequency * 100).toFixed(2)}%`),
      h('td', null, p.won), h('td', null, p.stock_left ?? '不限')))),
    h('h4', null, '按日'),
    lines('每日抽奖与参与人数', [['draws', '抽奖次数'], ['users', '参与人数']], st.by_day, { id: 'by-day-chart' }));
}

async function fairness(box, id) {
  box.replaceChildren(h('p', { class: 'muted' }, '种子承诺（SHA-256）与已公开的种子。'));
  try {
    const d = await api('GET', `/api/lottery/campaigns/${id}`);
    const f = d.fairness || {};
    box.append(h('p', null, '当前承诺：', h('code', { id: 'seed-commitment' }, f.seed_commitment || '—')),
      h('p', { class: 'muted' }, `周期：${fmtTime(f.seed_period && f.seed_period.starts_at)} – ${fmtTime(f.seed_period && f.seed_period.ends_at)}`));
    const seeds = await api('GET', `/api/lottery/campaigns/${id}/seeds`);
    const list = seeds.seeds || seeds.periods || [];
    box.append(table(['开始', '结束', '承诺', '种子'], list.map((p) => h('tr', null, h('td', null, fmtTime(p.starts_at)), h('td', null, fmtTime(p.ends_at)),
      h('td', null, h('code', null, p.seed_commitment || p.commitment || '')), h('td', null, h('code', null, p.server_seed || p.seed || '未公开'))))));
  } catch (e) {
    box.append(h('p', { class: 'muted', id: 'fairness-error' }, `无法读取：${e.msg || e.message}`));
  }
}

function fig(label, v, id) { return h('div', { class: 'figure' }, h('div', { class: 'muted' }, label), h('div', { class: 'v', id }, v)); }

// ---------------------------------------------------------------- the default wheel

async function wheel(main) {
  const prizesBox = h('div');
  const settingsBox = h('form', { class: 'card', id: 'settings-form' });
  main.replaceChildren(h('h2', null, '默认转盘（活动 1）'), h('p', { class: 'muted' }, '8 个扇区，概率合计必须为 1；恰有一个保底奖和一个兜底奖。'), prizesBox, h('h3', null, '抽奖设置'), settingsBox);
  const load = wheelEditor(prizesBox, '/api/admin/lottery/prizes', (pid) => `/api/admin/lottery/prizes/${pid}/stock`);
  await load();
  const st = await api('GET', '/api/admin/lottery/settings');
  const f = {
    cost_points: h('input', { id: 's-cost', type: 'number', min: 0, value: st.cost_points }),
    daily_limit: h('input', { id: 's-daily', type: 'number', min: 0, value: st.daily_limit }),
    pity_enabled: h('input', { id: 's-pity', type: 'checkbox', checked: st.pity_enabled }),
    pity_limit: h('input', { id: 's-pity-limit', type: 'number', min: 1, value: st.pity_limit }),
    starts_at: h('input', { id: 's-start', type: 'datetime-local', value: toLocalInput(st.starts_at) }),
    ends_at: h('input', { id: 's-end', type: 'datetime-local', value: toLocalInput(st.ends_at) }),
  };
  settingsBox.replaceChildren(
    h('div', { class: 'row' }, field('每次抽奖积分', f.cost_points), field('每日上限（0 = 不限）', f.daily_limit), field('保底次数', f.pity_limit)),
    h('label', { class: 'inline' }, f.pity_enabled, '启用保底'),
    h('div', { class: 'row' }, field('开始时间', f.starts_at), field('结束时间', f.ends_at)),
    h('button', { type: 'submit', id: 's-save' }, '保存设置'));
  settingsBox.onsubmit = (ev) => {
    ev.preventDefault();
    act(settingsBox.querySelector('#s-save'), async () => {
      await api('PUT', '/api/admin/lottery/settings', { cost_points: num(f.cost_points), daily_limit: num(f.daily_limit),
        pity_enabled: f.pity_enabled.checked, pity_limit: num(f.pity_limit), starts_at: toIso(f.starts_at.value), ends_at: toIso(f.ends_at.value) });
      notice('抽奖设置已保存');
    });
  };
}

// ---------------------------------------------------------------- products

async function products(main) {
  let page = 1; let editing = null;
  const listBox = h('div');
  const f = {
    name: h('input', { id: 'p-name', required: true, maxlength: 64 }),
    category: h('input', { id: 'p-category', required: true, maxlength: 32 }),
    exchange_points: h('input', { id: 'p-points', type: 'number', min: 1, required: true }),
    stock: h('input', { id: 'p-stock', type: 'number', min: 0, required: true }),
    description: h('textarea', { id: 'p-desc', rows: 2, maxlength: 500 }),
    image: h('input', { id: 'p-image', maxlength: 500 }),
    sort_order: h('input', { id: 'p-sort', type: 'number', value: 0 }),
    is_hot: h('input', { id: 'p-hot', type: 'checkbox' }),
  };
  const title = h('h3', null, '新增商品');
  const submit = h('button', { type: 'submit', id: 'p-save' }, '新增');
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'p-cancel', hidden: true }, '取消编辑');
  const form = h('form', { class: 'card', id: 'product-form' }, title,
    h('div', { class: 'row' }, field('名称', f.name), field('分类', f.category)),
    h('div', { class: 'row' }, field('兑换积分', f.exchange_points), field('库存', f.stock), field('排序', f.sort_order)),
    field('描述', f.description), field('图片地址', f.image), h('label', { class: 'inline' }, f.is_hot, '热门'),
    h('div', { class: 'row' }, submit, cancel));
  const reset = () => { editing = null; form.reset(); title.textContent = '新增商品'; submit.textContent = '新增'; cancel.hidden = true; f.stock.disabled = false; };
  cancel.onclick = reset;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(submit, async () => {
      const body = { name: f.name.value.trim(), category: f.category.value.trim(), exchange_points: num(f.exchange_points),
        description: f.description.value, image: f.image.value.trim(), sort_order: num(f.sort_order) ?? 0, is_hot: f.is_hot.checked };
      if (editing) {
        const p = await api('PUT', `/api/admin/products/${editing}`, body);
        notice(`商品「${p.name}」已保存`);
      } else {
        const p = await api('POST', '/api/admin/products', { ...body, stock: num(f.stock) });
        notice(`商品「${p.name}」已新增（#${p.id}）`);
      }
      reset();
      await load();
    });
  });
  const edit = (p) => {
    editing = p.id; title.textContent = `编辑商品 #${p.id}`; submit.textContent = '保存修改'; cancel.hidden = false;
    f.name.value = p.name; f.category.value = p.category; f.exchange_points.value = p.exchange_points; f.stock.value = p.stock;
    f.stock.disabled = true; f.description.value = p.description; f.image.value = p.image; f.sort_order.value = p.sort_order; f.is_hot.checked = p.is_hot;
    f.name.focus();
  };
  async function load() {
    const d = await api('GET', `/api/admin/products?page=${page}&limit=50`);
    listBox.replaceChildren(table(['ID', '名称', '分类', '积分', '库存', '销量', '状态', '操作'], d.products.map((p) => {
      const qty = h('input', { type: 'number', min: 1, id: `restock-qty-${p.id}`, 'aria-label': `「${p.name}」补货数量`, style: 'width:80px' });
      const restock = h('button', { type: 'button', id: `restock-${p.id}` }, '补货');
      restock.onclick = () => act(restock, async () => {
        const r = await api('POST', `/api/admin/products/${p.id}/restock`, { quantity: num(qty) });
        notice(`「${p.name}」已补货 ${r.added}，库存 ${r.stock}`);
        await load();
      });
      const delist = h('button', { type: 'button', class: 'secondary', id: `delist-${p.id}`, disabled: p.status === 'delisted' }, '下架');
      delist.onclick = () => act(delist, async () => {
        if (!confirm(`下架「${p.name}」？`)) return;
        await api('DELETE', `/api/admin/products/${p.id}`);
        notice(`「${p.name}」已下架`);
        await load();
      });
      const editBtn = h('button', { type: 'button', class: 'secondary', id: `edit-${p.id}` }, '编辑');
      editBtn.onclick = () => edit(p);
      const st = { available: '在售', sold_out: '售罄', delisted: '已下架' }[p.status];
      return h('tr', { id: `product-${p.id}` }, h('td', null, p.id), h('td', null, p.name), h('td', null, p.category), h('td', null, p.exchange_points),
        h('td', { id: `stock-${p.id}` }, p.stock), h('td', null, p.sales_count), h('td', null, pill(p.status, st)),
        h('td', null, h('div', { class: 'row' }, editBtn, qty, restock, delist)));
    })), pager(d.pagination, (n) => { page = n; act(null, load); }) || '');
  }
  main.replaceChildren(h('h2', null, '商品'), listBox, form);
  await load();
}

// ---------------------------------------------------------------- users

async function users(main) {
  let page = 1; let q = '';
  const search = h('input', { id: 'user-q', type: 'search', maxlength: 64, placeholder: '手机号、昵称或用户 ID' });
  const searchForm = h('form', { class: 'row', role: 'search' }, field('搜索用户', search), h('button', { type: 'submit', id: 'user-search' }, '搜索'));
  searchForm.onsubmit = (ev) => { ev.preventDefault(); q = search.value.trim(); page = 1; act(searchForm.querySelector('button'), load); };
  const listBox = h('div');
  const panel = h('section', { class: 'card', id: 'user-panel', hidden: true, 'aria-live': 'polite' });
  async function load() {
    const d = await api('GET', `/api/admin/users?page=${page}&limit=20${q ? '&q=' + encodeURIComponent(q) : ''}`);
    listBox.replaceChildren(table(['ID', '手机号', '昵称', '积分', '身份', '注册', '操作'], d.users.map((u) => h('tr', { id: `user-${u.user_id}` },
      h('td', null, u.user_id), h('td', null, u.mobile), h('td', null, u.nickname), h('td', { id: `points-${u.user_id}` }, u.total_points),
      h('td', null, u.is_merchant ? pill('active', '商家') : '', ' ', u.is_banned ? pill('banned', '已封禁') : ''),
      h('td', { class: 'muted' }, fmtTime(u.created_at)),
      h('td', null, h('button', { type: 'button', class: 'secondary', id: `manage-${u.user_id}`, onclick: () => manage(u) }, '管理'))))),
    pager(d.pagination, (n) => { page = n; act(null, load); }) || '');
    return d;
  }
  function manage(u) {
    const delta = h('input', { id: 'adj-delta', type: 'number', required: true });
    const reason = h('input', { id: 'adj-reason', required: true, maxlength: 200 });
    const adj = h('form', { class: 'row', id: 'adjust-form' }, field('积分调整（正数增加，负数扣减）', delta), field('原因', reason), h('button', { type: 'submit', id: 'adj-submit' }, '调整积分'));
    adj.onsubmit = (ev) => {
      ev.preventDefault();
      act(adj.querySelector('button'), async () => {
        const d = await api('POST', `/api/admin/users/${u.user_id}/points`, { delta: num(delta), reason: reason.value.trim() });
        notice(`用户 #${u.user_id} 积分已调整 ${d.change_points > 0 ? '+' : ''}${d.change_points}，余额 ${d.total_points}`);
        await reload();
      });
    };
    const fpoints = h('input', { id: 'freeze-points', type: 'number', min: 1 });
    const freason = h('input', { id: 'freeze-reason', maxlength: 200 });
    const move = (kind) => async () => {
      const d = await api('POST', `/api/admin/users/${u.user_id}/${kind}`, { points: num(fpoints), reason: freason.value.trim() });
      notice(`${kind === 'freeze' ? '已冻结' : '已解冻'} ${Math.abs(d.record.points)} 积分：可用 ${d.available_points}，冻结 ${d.frozen_points}`);
      await reload();
    };
    const freeze = h('button', { type: 'button', id: 'freeze-submit' }, '冻结');
    const unfreeze = h('button', { type: 'button', class: 'secondary', id: 'unfreeze-submit' }, '解冻');
    freeze.onclick = () => act(freeze, move('freeze'));
    unfreeze.onclick = () => act(unfreeze, move('unfreeze'));
    const ban = h('button', { type: 'button', id: 'ban-toggle', class: u.is_banned ? 'secondary' : '' }, u.is_banned ? '解除封禁' : '封禁');
    ban.onclick = () => act(ban, async () => {
      if (!u.is_banned && !confirm(`封禁用户 #${u.user_id}？其所有登录会话将失效。`)) return;
      const d = await api('POST', `/api/admin/users/${u.user_id}/ban`, { banned: !u.is_banned });
      notice(d.is_banned ? `用户 #${u.user_id} 已封禁` : `用户 #${u.user_id} 已解除封禁`);
      await reload();
    });
    const role = h('button', { type: 'button', id: 'merchant-toggle', class: 'secondary' }, u.is_merchant ? '取消商家身份' : '设为商家');
    role.onclick = () => act(role, async () => {
      const d = await api('POST', `/api/admin/users/${u.user_id}/merchant`, { is_merchant: !u.is_merchant });
      notice(d.is_merchant ? `用户 #${u.user_id} 已设为商家` : `用户 #${u.user_id} 已取消商家身份`);
      await reload();
    });
    const frozenList = h('div', { id: 'freeze-records' });
    act(null, async () => {
      const d = await api('GET', `/api/admin/users/${u.user_id}/freezes`);
      const recs = d.records || d.freezes || [];
      frozenList.replaceChildren(recs.length ? table(['时间', '积分', '原因', '管理员'], recs.map((r) => h('tr', null, h('td', null, fmtTime(r.created_at)), h('td', null, r.points), h('td', null, r.reason), h('td', null, r.admin)))) : h('p', { class: 'muted' }, '无冻结记录'));
    });
    async function reload() {
      const d = await load();
      const fresh = d.users.find((x) => x.user_id === u.user_id);
      if (fresh) manage(fresh); else panel.hidden = true;
    }
    panel.replaceChildren(h('h3', { tabindex: -1, id: 'panel-title' }, `管理用户 #${u.user_id}（${u.mobile}，${u.total_points} 积分）`),
      adj, h('h4', null, '冻结积分'), h('div', { class: 'row' }, field('积分', fpoints), field('原因', freason), freeze, unfreeze), frozenList,
      h('h4', null, '账号'), h('div', { class: 'row' }, ban, role));
    panel.hidden = false;
    panel.querySelector('#panel-title').focus();
  }
  main.replaceChildren(h('h2', null, '用户'), searchForm, listBox, panel);
  await load();
}

// ---------------------------------------------------------------- merchant applications

async function applications(main) {
  const status = h('select', { id: 'app-status' }, [['pending', '待审核'], ['approved', '已通过'], ['rejected', '已拒绝'], ['', '全部']].map(([v, t]) => h('option', { value: v }, t)));
  const listBox = h('div');
  async function load() {
    const d = await api('GET', `/api/admin/merchant-applications?limit=50${status.value ? '&status=' + status.value : ''}`);
    listBox.replaceChildren(d.applications.length ? table(['ID', '用户', '店铺', '联系方式', '状态', '提交时间', '操作'], d.applications.map((a) => {
      const decide = (what, text) => {
        const b = h('button', { type: 'button', id: `app-${what}-${a.application_id}`, class: what === 'reject' ? 'secondary' : '' }, text);
        b.onclick = () => act(b, async () => {
          await api('POST', `/api/admin/merchant-applications/${a.application_id}/${what}`, {});
          notice(`申请 #${a.application_id} ${what === 'approve' ? '已通过' : '已拒绝'}`);
          await load();
        });
        return b;
      };
      return h('tr', { id: `application-${a.application_id}` }, h('td', null, a.application_id), h('td', null, `#${a.user_id}`), h('td', null, a.shop_name), h('td', null, a.contact),
        h('td', null, pill(a.status)), h('td', { class: 'muted' }, fmtTime(a.created_at)),
        h('td', null, a.status === 'pending' ? h('div', { class: 'row' }, decide('approve', '通过'), decide('reject', '拒绝')) : ''));
    })) : h('p', { class: 'muted' }, '没有申请'));
  }
  status.onchange = () => act(null, load);
  main.replaceChildren(h('h2', null, '商家申请'), field('状态', status), listBox);
  await load();
}

// ---------------------------------------------------------------- levels and tasks

async function loyalty(main) {
  const [lv, tk] = await Promise.all([api('GET', '/api/admin/levels'), api('GET', '/api/admin/tasks')]);
  const levels = lv.levels.map((l) => ({ ...l }));
  const rows = h('tbody');
  const renderLevels = () => rows.replaceChildren(...levels.map((l, i) => {
    const inp = (key, attrs) => {
      const el = h('input', { ...attrs, value: l[key], 'aria-label': `${attrs.title}（等级 ${l.level}）` });
      el.oninput = () => { l[key] = attrs.type === 'number' ? Number(el.value) : el.value; };
      return el;
    };
    return h('tr', null, h('td', null, l.level), h('td', null, inp('name', { id: `level-name-${i}`, title: '名称', maxlength: 32 })),
      h('td', null, inp('experience', { id: `level-exp-${i}`, title: '所需经验', type: 'number', min: 0 })),
      h('td', null, inp('multiplier', { id: `level-mul-${i}`, title: '积分倍率', type: 'number', step: '0.01', min: 1 })));
  }));
  renderLevels();
  const addLevel = h('button', { type: 'button', class: 'secondary' }, '增加等级');
  addLevel.onclick = () => { const last = levels[levels.length - 1]; levels.push({ level: last.level + 1, name: '', experience: last.experience + 1, multiplier: last.multiplier }); renderLevels(); };
  const removeLevel = h('button', { type: 'button', class: 'secondary' }, '删除最高等级');
  removeLevel.onclick = () => { if (levels.length > 1) { levels.pop(); renderLevels(); } };
  const levelForm = h('form', { class: 'card', id: 'levels-form' },
    h('div', { class: 'table-wrap' }, h('table', null, h('thead', null, h('tr', null, ['等级', '名称', '所需经验', '积分倍率'].map((t) => h('th', { scope: 'col' }, t)))), rows)),
    h('div', { class: 'row' }, addLevel, removeLevel, h('button', { type: 'submit', id: 'levels-save' }, '保存等级')));
  levelForm.onsubmit = (ev) => {
    ev.preventDefault();
    act(levelForm.querySelector('#levels-save'), async () => { await api('PUT', '/api/admin/levels', { levels }); notice('会员等级已保存'); });
  };
  const period = { once: '一次性', daily: '每日', weekly: '每周' };
  const taskTable = table(['任务', '说明', '周期', '目标', '奖励积分', ''], tk.tasks.map((t) => {
    const pts = h('input', { type: 'number', min: 0, value: t.points, id: `task-points-${t.id}`, 'aria-label': `「${t.name}」奖励积分`, style: 'width:90px' });
    const save = h('button', { type: 'button', id: `task-save-${t.id}` }, '保存');
    save.onclick = () => act(save, async () => { await api('PUT', `/api/admin/tasks/${t.id}`, { points: num(pts) }); notice(`任务「${t.name}」奖励已保存`); });
    return h('tr', null, h('td', null, t.name), h('td', { class: 'muted' }, t.description), h('td', null, period[t.period] || t.period), h('td', null, t.target), h('td', null, pts), h('td', null, save));
  }));
  main.replaceChildren(h('h2', null, '会员等级'), levelForm, h('h2', null, '任务奖励'), h('section', { class: 'card' }, taskTable));
}

// ---------------------------------------------------------------- audit log

async function audit(main) {
  let page = 1;
  const listBox = h('div');
  const json = (v) => (v === null || v === undefined ? '—' : h('pre', { class: 'json' }, JSON.stringify(v, null, 1)));
  async function load() {
    const d = await api('GET', `/api/admin/audit-log?page=${page}&limit=20`);
    listBox.replaceChildren(table(['时间', '操作人', '操作', '对象', '之前', '之后'], d.entries.map((e) => h('tr', null,
      h('td', { class: 'muted' }, fmtTime(e.created_at)), h('td', null, `${e.actor.name}（${e.actor.kind}）`), h('td', null, h('code', null, e.action)),
      h('td', null, `${e.target_type} #${e.target_id}`), h('td', null, json(e.before)), h('td', null, json(e.after))))),
    pager(d.pagination, (n) => { page = n; act(null, load); }) || '');
  }
  main.replaceChildren(h('h2', null, '审计日志'), listBox);
  await load();
}

// ---------------------------------------------------------------- analytics

const SOURCES = { register: '注册', lottery_win: '抽奖中奖', receipt: '小票', checkin: '签到', task: '任务', refund: '退款', admin_adjust: '管理员调整', lottery: '抽奖', exchange: '兑换' };

async function analytics(main) {
  const today = new Date();
  const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const from = h('input', { id: 'an-from', type: 'date', value: iso(new Date(today.getTime() - 29 * 86400e3)) });
  const to = h('input', { id: 'an-to', type: 'date', value: iso(today) });
  const period = h('select', { id: 'an-period' }, [['day', '按日'], ['week', '按周'], ['month', '按月']].map(([v, t]) => h('option', { value: v }, t)));
  const form = h('form', { class: 'row card' }, field('开始日期', from), field('结束日期', to), field('粒度', period), h('button', { type: 'submit', id: 'an-go' }, '查询'));
  const out = h('div', { id: 'analytics' });
  const campBox = h('section', { class: 'card' });
  async function load() {
    const qs = `from=${from.value}&to=${to.value}`;
    const [o, flow] = await Promise.all([api('GET', `/api/admin/analytics/overview?${qs}`), api('GET', `/api/admin/analytics/points-flow?period=${period.value}&${qs}`)]);
    const earned = Object.entries(o.points_earned_by_source);
    const spent = Object.entries(o.points_spent_by_use);
    out.replaceChildren(
      h('div', { class: 'figures' }, fig('新用户', o.new_users), fig('活跃用户', o.active_users), fig('抽奖次数', o.draws), fig('兑换', o.exchanges),
        fig('小票通过 / 驳回', `${o.receipts.approved} / ${o.receipts.rejected}`), fig('小票积分', o.receipts.points)),
      h('h3', null, '积分流水'),
      lines('积分流水（发放、消耗、净额）', [['earned', '发放'], ['spent', '消耗'], ['net', '净额']], flow.series, { id: 'flow-chart' }),
      h('div', { class: 'grid2' },
        h('section', null, h('h3', null, '积分来源'), bars('积分来源', ['积分'], earned.map(([k, v]) => ({ label: SOURCES[k] || k, values: [v] })), { id: 'sources-chart' })),
        h('section', null, h('h3', null, '积分用途'), bars('积分用途', ['积分'], spent.map(([k, v]) => ({ label: SOURCES[k] || k, values: [v] })), { id: 'uses-chart' }))));
  }
  form.onsubmit = (ev) => { ev.preventDefault(); act(form.querySelector('button'), load); };
  main.replaceChildren(h('h2', null, '数据分析'), form, out, h('h3', null, '活动按日'), campBox);
  await load();
  const cs = await api('GET', '/api/admin/campaigns?limit=50');
  const pick = h('select', { id: 'an-campaign' }, cs.campaigns.map((c) => h('option', { value: c.id }, `#${c.id} ${c.name}`)));
  const chart = h('div', { id: 'campaign-by-day' });
  const show = () => act(null, async () => {
    const st = await api('GET', `/api/admin/campaigns/${pick.value}/stats`);
    chart.replaceChildren(lines('活动每日抽奖与参与人数', [['draws', '抽奖次数'], ['users', '参与人数']], st.by_day));
  });
  pick.onchange = show;
  campBox.replaceChildren(field('活动', pick), chart);
  if (cs.campaigns.length) await show();
}

// ---------------------------------------------------------------- live figures

async function live(main) {
  const state = h('span', { id: 'ws-state', class: 'pill' }, '连接中…');
  const dpm = h('div', { class: 'v', id: 'live-dpm' }, '—');
  const sockets = h('div', { class: 'v', id: 'live-sockets' }, '—');
  const since = h('div', { class: 'v', id: 'live-since' }, '—');
  const at = h('p', { class: 'muted', id: 'live-at' }, '');
  const history = [];
  const chart = h('div');
  main.replaceChildren(h('h2', null, '实时数据'), h('p', null, state, ' ', h('span', { class: 'muted' }, '每 2 秒通过 WebSocket 更新')),
    h('div', { class: 'figures', 'aria-live': 'polite' },
      h('div', { class: 'figure' }, h('div', { class: 'muted' }, '每分钟抽奖次数'), dpm),
      h('div', { class: 'figure' }, h('div', { class: 'muted' }, '在线连接数'), sockets),
      h('div', { class: 'figure' }, h('div', { class: 'muted' }, '打开本页以来抽奖'), since)), at, chart);
  return liveSocket((m) => {
    if (m.type !== 'live_stats') return;
    const d = m.data;
    dpm.textContent = d.draws_per_minute; sockets.textContent = d.open_sockets; since.textContent = d.draws_since_open;
    at.textContent = `更新于 ${new Date(d.server_time).toLocaleTimeString('zh-CN', { hour12: false })}`;
    history.push({ date: new Date(d.server_time).toLocaleTimeString('zh-CN', { hour12: false }), dpm: d.draws_per_minute, sockets: d.open_sockets });
    if (history.length > 60) history.shift();
    chart.replaceChildren(lines('最近两分钟', [['dpm', '每分钟抽奖'], ['sockets', '在线连接']], history.map((p) => ({ ...p, date: '00-' + p.date }))));
  }, (up) => { state.textContent = up ? '实时连接：已连接' : '实时连接：已断开，正在重连'; state.className = up ? 'pill active' : 'pill paused'; });
}

export const pages = { campaigns, campaign, wheel, products, users, applications, loyalty, audit, analytics, live };
