// Merchant pages: the pending receipt queue (live over the WebSocket), approve with the
// confirmed amount or reject with a reason, batch approve; verify a code at the counter; the
// review statistics; and the application form for a customer who is not a merchant yet.
import { api, h, field, act, notice, table, fmtTime, pager, liveSocket, session } from './lib.js';

async function reviews(main) {
  let page = 1;
  const live = h('span', { id: 'ws-state', class: 'pill' }, '实时连接中…');
  const list = h('div', { class: 'receipts', id: 'receipts', 'aria-live': 'polite' });
  const pagerBox = h('div');
  const batchBtn = h('button', { type: 'button', id: 'batch-approve' }, '批量通过所选');
  const selectAll = h('input', { type: 'checkbox', id: 'select-all' });

  async function load() {
    const d = await api('GET', `/api/merchant/reviews/pending?page=${page}&limit=20`);
    list.replaceChildren(...(d.reviews.length ? d.reviews.map(card) : [h('p', { class: 'muted', id: 'empty-queue' }, '暂无待审核的小票')]));
    pagerBox.replaceChildren(pager(d.pagination, (p) => { page = p; act(null, load); }) || '');
    h2.textContent = `待审小票（${d.pagination.total}）`;
  }

  function card(r) {
    const id = r.upload_id;
    const amount = h('input', { id: `amount-${id}`, type: 'number', step: '0.01', min: '0.01', max: '10000', value: r.amount, required: true });
    const reason = h('input', { id: `reason-${id}`, maxlength: 200 });
    const approve = h('button', { type: 'button', id: `approve-${id}` }, '通过');
    const reject = h('button', { type: 'button', id: `reject-${id}`, class: 'secondary' }, '驳回');
    approve.addEventListener('click', () => act(approve, async () => {
      const d = await api('POST', `/api/merchant/reviews/${id}/approve`, { actual_amount: Number(amount.value), reason: reason.value || undefined });
      notice(`小票 #${id} 已通过，发放 ${d.points_awarded} 积分`);
      await load();
    }));
    reject.addEventListener('click', () => act(reject, async () => {
      await api('POST', `/api/merchant/reviews/${id}/reject`, { reason: reason.value });
      notice(`小票 #${id} 已驳回`);
      await load();
    }));
    return h('article', { class: 'receipt', id: `receipt-${id}`, 'data-upload-id': id, 'aria-labelledby': `rt-${id}` },
      h('div', { class: 'row' },
        h('label', { class: 'inline' }, h('input', { type: 'checkbox', class: 'pick', value: id, 'aria-label': `选择小票 #${id}` }), ''),
        h('h3', { id: `rt-${id}`, style: 'margin:0' }, `小票 #${id} · ¥${Number(r.amount).toFixed(2)}`)),
      h('a', { href: r.image_url, target: '_blank', rel: 'noopener' },
        h('img', { src: r.image_url, alt: `小票 #${id} 的照片`, loading: 'lazy' })),
      h('p', { class: 'muted' }, `顾客 #${r.user_id} · 上传于 ${fmtTime(r.created_at)}`),
      field('确认消费金额（元）', amount),
      field('原因（驳回必填）', reason),
      h('div', { class: 'row' }, approve, reject));
  }

  selectAll.addEventListener('change', () => list.querySelectorAll('input.pick').forEach((c) => { c.checked = selectAll.checked; }));
  batchBtn.addEventListener('click', () => act(batchBtn, async () => {
    const picked = [...list.querySelectorAll('input.pick:checked')].map((c) => Number(c.value));
    if (!picked.length) { notice('请先选择要通过的小票', 'error'); return; }
    const items = picked.map((id) => ({ upload_id: id, action: 'approve', actual_amount: Number(document.getElementById(`amount-${id}`).value) }));
    const d = await api('POST', '/api/merchant/reviews/batch', { items });
    const msgs = d.results.filter((r) => !r.success).map((r) => `#${r.upload_id}：${r.msg}`);
    notice(`批量通过：成功 ${d.succeeded} 条，失败 ${d.failed} 条${msgs.length ? '（' + msgs.join('；') + '）' : ''}`, d.failed ? 'error' : 'ok');
    selectAll.checked = false;
    await load();
  }));

  const h2 = h('h2', null, '待审小票');
  main.replaceChildren(h2,
    h('div', { class: 'row' }, live, h('label', { class: 'inline' }, selectAll, '全选'), batchBtn,
      h('button', { type: 'button', class: 'secondary', id: 'reload', onclick: (e) => act(e.currentTarget, load) }, '刷新')),
    list, pagerBox);
  await load();
  return liveSocket((m) => {
    if (m.type === 'new_review') {
      notice(`收到新小票 #${m.data.upload_id}（¥${m.data.amount}）`);
      act(null, load);
    }
  }, (up) => { live.textContent = up ? '实时连接：已连接' : '实时连接：已断开，正在重连'; live.className = up ? 'pill active' : 'pill paused'; });
}

async function verify(main) {
  const code = h('input', { id: 'verify-code', required: true, autocomplete: 'off', maxlength: 64, autofocus: true });
  const result = h('div', { id: 'verify-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', id: 'verify-form' },
    field('兑换码或奖品码', code, '可直接粘贴或扫码枪输入'),
    h('button', { type: 'submit', id: 'verify-submit' }, '核销'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(form.querySelector('button'), async () => {
      const d = await api('POST', '/api/merchant/orders/verify', { exchange_code: code.value.trim() });
      const what = d.type === 'prize' ? `奖品「${d.prize_name}」` : `商品「${d.product_name}」× ${d.quantity}`;
      const text = `核销成功：${what}（顾客 #${d.user_id}）`;
      result.replaceChildren(h('p', { class: 'sum good' }, text));
      notice(text);
      code.value = '';
      code.focus();
    });
  });
  main.replaceChildren(h('h2', null, '核销兑换码 / 奖品码'), form, result);
}

async function stats(main) {
  const d = await api('GET', '/api/merchant/statistics');
  const b = d.by_status;
  main.replaceChildren(h('h2', null, '审核统计'),
    h('div', { class: 'figures', id: 'merchant-stats' },
      fig('待审核', b.pending), fig('已通过', b.approved), fig('已驳回', b.rejected),
      fig('上传总数', d.total_uploads), fig('已发放积分', d.points_awarded)),
    h('h3', null, '审核人'),
    table(['审核人', '通过', '驳回', '发放积分'], d.reviewers.map((r) =>
      h('tr', null, h('td', null, `#${r.reviewer_id}` + (r.reviewer_id === session.get().user_id ? '（我）' : '')),
        h('td', null, r.approved), h('td', null, r.rejected), h('td', null, r.points_awarded)))));
}

function fig(label, v) { return h('div', { class: 'figure' }, h('div', { class: 'muted' }, label), h('div', { class: 'v' }, v)); }

async function apply(main) {
  const shop = h('input', { id: 'apply-shop', required: true, maxlength: 50 });
  const contact = h('input', { id: 'apply-contact', required: true, maxlength: 50 });
  const form = h('form', { class: 'card' },
    h('p', null, '该账号还不是商家。提交申请，管理员审核通过后重新登录即可使用。'),
    field('店铺名称', shop), field('联系方式', contact), h('button', { type: 'submit' }, '提交申请'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(form.querySelector('button'), async () => {
      await api('POST', '/api/merchant/apply', { shop_name: shop.value.trim(), contact: contact.value.trim() });
      notice('申请已提交，请等待管理员审核');
    });
  });
  main.replaceChildren(h('h2', null, '申请成为商家'), form);
}

export const pages = { reviews, verify, stats, apply };
