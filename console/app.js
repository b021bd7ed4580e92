// The console's shell: sign-in (merchant by phone and code, admin by username and password),
// the navigation for each role, and the hash router (#/m/… merchant pages, #/a/… admin pages).
import { session, api, publicApi, h, field, act, notice, clearNotice } from './lib.js';
import * as merchant from './merchant.js';
import * as admin from './admin.js';

const MERCHANT_NAV = [['#/m/reviews', '待审小票'], ['#/m/verify', '核销'], ['#/m/stats', '审核统计']];
const ADMIN_NAV = [
  ['#/a/campaigns', '活动'], ['#/a/wheel', '默认转盘'], ['#/a/products', '商品'], ['#/a/users', '用户'],
  ['#/a/applications', '商家申请'], ['#/a/loyalty', '等级与任务'], ['#/a/audit', '审计日志'],
  ['#/a/analytics', '数据分析'], ['#/a/live', '实时'],
];

let cleanup = null;

function renderChrome(role) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.replaceChildren();
  who.replaceChildren();
  const s = session.get();
  if (!s) return;
  const items = role === 'admin' ? ADMIN_NAV : MERCHANT_NAV;
  const here = location.hash.split('/').slice(0, 3).join('/');
  for (const [href, text] of items) {
    nav.append(h('a', { href, 'aria-current': here === href || (href === '#/a/campaigns' && here === '#/a/campaign') ? 'page' : null }, text));
  }
  who.append(h('span', null, (s.role === 'admin' ? '管理员 ' : '商家 ') + s.name),
    h('button', { type: 'button', id: 'logout', onclick: logout }, '退出'));
}

async function logout() {
  try { await api('POST', '/api/auth/logout', {}); } catch { /* signing out locally is enough */ }
  session.clear();
  location.hash = '#/login';
}

function loginPage(main) {
  const phone = h('input', { id: 'm-phone', name: 'phone', type: 'tel', inputmode: 'numeric', autocomplete: 'tel', required: true, maxlength: 11 });
  const code = h('input', { id: 'm-code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, maxlength: 6 });
  const sendBtn = h('button', { type: 'button', id: 'm-send', class: 'secondary' }, '获取验证码');
  sendBtn.addEventListener('click', () => act(sendBtn, async () => {
    const d = await publicApi('POST', '/api/auth/send-code', { phone: phone.value.trim() });
    notice(`验证码已发送，${Math.round((d.expires_in || 300) / 60)} 分钟内有效`);
  }));
  const mForm = h('form', { class: 'card', id: 'merchant-login', 'aria-labelledby': 'm-title' },
    h('h2', { id: 'm-title' }, '商家登录'),
    field('手机号', phone),
    h('div', { class: 'row' }, field('验证码', code), sendBtn),
    h('button', { type: 'submit', id: 'm-login' }, '登录'));
  mForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(mForm.querySelector('#m-login'), async () => {
      const d = await publicApi('POST', '/api/auth/login', { phone: phone.value.trim(), code: code.value.trim() });
      session.set({ role: 'merchant', token: d.access_token, refresh: d.refresh_token, name: d.user_info.mobile,
        user_id: d.user_info.user_id, is_merchant: d.user_info.is_merchant });
      clearNotice();
      location.hash = d.user_info.is_merchant ? '#/m/reviews' : '#/m/apply';
    });
  });
  const user = h('input', { id: 'a-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'a-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const aForm = h('form', { class: 'card', id: 'admin-login', 'aria-labelledby': 'a-title' },
    h('h2', { id: 'a-title' }, '管理员登录'),
    field('用户名', user), field('密码', pass),
    h('button', { type: 'submit', id: 'a-login' }, '登录'),
    h('p', { class: 'muted' }, '管理员账号由服务器命令 create-admin 创建。'));
  aForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(aForm.querySelector('#a-login'), async () => {
      const d = await publicApi('POST', '/api/auth/admin-login', { username: user.value.trim(), password: pass.value });
      session.set({ role: 'admin', token: d.access_token, refresh: d.refresh_token, name: user.value.trim() });
      clearNotice();
      location.hash = '#/a/campaigns';
    });
  });
  main.replaceChildren(h('div', { class: 'grid2' }, mForm, aForm));
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  const main = document.getElementById('main');
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const s = session.get();
  const area = parts[0];
  if (!s || area === 'login' || area === '' || (area === 'a' && s.role !== 'admin') || (area === 'm' && s.role !== 'merchant')) {
    if (s && (area === '' || area === 'login')) { location.hash = s.role === 'admin' ? '#/a/campaigns' : '#/m/reviews'; return; }
    renderChrome(null);
    document.getElementById('who').replaceChildren();
    loginPage(main);
    return;
  }
  renderChrome(s.role);
  main.replaceChildren(h('p', { class: 'muted' }, '正在加载…'));
  const pages = s.role === 'admin' ? admin.pages : merchant.pages;
  const page = pages[parts[1]] || pages[Object.keys(pages)[0]];
  try {
    cleanup = (await page(main, parts.slice(2))) || null;
  } catch (e) {
    main.replaceChildren(h('p', { class: 'muted' }, '页面加载失败'));
    (await import('./lib.js')).fail(e);
  }
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => { clearNotice(); route(); });
route();
