// Building the page's DOM: every string from DNS, a policy host or an MX host is set as text
// (textContent), never parsed as markup.

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

const MARKS = { ok: ['✓', 'passed'], bad: ['✗', 'failed'], warn: ['!', 'warning'], info: ['·', 'information'] };

/** One row of checks: a mark (✓ ✗ !), a title, a brief line, and details to expand. */
export function checkRow(state, title, brief, ...body) {
  const [mark, label] = MARKS[state];
  return el(
    'li',
    { class: `check ${state}`, 'data-check': title },
    el('details', { open: state === 'bad' || undefined }, el('summary', {}, el('span', { class: `mark ${state}`, 'aria-label': label, role: 'img' }, mark), el('span', { class: 'title' }, title), el('span', { class: 'brief' }, brief)), el('div', { class: 'body' }, ...body)),
  );
}

/** A text block with a button that copies it. */
export function copyable(text, label) {
  const pre = el('pre', {}, text);
  const button = el('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${label}`, onclick: () => navigator.clipboard?.writeText(text).then(() => (button.textContent = 'Copied'), () => {}) }, 'Copy');
  return el('div', { class: 'copyable' }, pre, button);
}

/** One finding: what is wrong, where, the RFC section. */
export function finding(state, message, { where, rfc, fix } = {}) {
  return el('div', { class: `finding ${state}` }, el('p', {}, message), where ? el('p', { class: 'where' }, where) : null, fix ? el('p', {}, `Fix: ${fix}`) : null, rfc ? el('p', { class: 'rfc' }, rfc) : null);
}
