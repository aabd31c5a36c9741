// The checker page: loads the core, runs checkDomain with the browser hosts (DNS over HTTPS, the
// server's policy and probe helpers), renders the report, and lints pasted text live. The report is
// `window.mtastsReport` once `document.documentElement.dataset.state === 'done'` — the object
// `mtasts check --json` prints for the same domain and world.

// First load: the first module (no verifier) with its own glue, for the linters. The check's
// assembly, hosts, rendering and the package's glue come with the first check; the full module
// (the certificate verifier) with the first MX probe.
import { loadFirstModule, lintPolicy, lintRecord, lintTlsRptRecord } from './first-module.js';
import { el, finding } from './dom.js';

let firstModule;
let checking;
/** What a check needs, loaded once: { checkDomain, memoryStore, renderReport, hosts }. */
function checker(config) {
  checking ??= Promise.all([import('../browser/index.js'), import('./render-report.js')]).then(async ([entry, { renderReport }]) => {
    // The package's glue (js/core.js) gets its own instance of the module compiled at first load.
    await entry.init(await firstModule);
    const base = config.helpers ? '' : null;
    const hosts = {
      dns: entry.createDohDns({ url: config.doh }),
      https: entry.createHelperHttps({ base }),
      probeMx: entry.createHelperProbe({ base, core: entry.loadVerifier }),
      probe: { heloName: 'page', port: 25 },
    };
    return { checkDomain: entry.checkDomain, memoryStore: entry.memoryStore, renderReport, hosts };
  });
  checking.catch(() => (checking = undefined));
  return checking;
}

const $ = (id) => document.getElementById(id);
const root = document.documentElement;

/** config.json next to the page: `mtasts serve` writes { helpers: true, doh }; a static host may
 *  give { helpers: false, doh: 'https://resolver.example/dns-query' }. */
async function loadConfig() {
  try {
    const r = await fetch(new URL('config.json', location.href));
    if (r.ok) return await r.json();
  } catch {
    // no config: static files with the default resolver below
  }
  // Spec: no third-party request unless configured; a static host names its resolver here.
  return { helpers: false, doh: '/dns-query' };
}

function selectTab(name) {
  for (const t of ['check', 'lint']) {
    const on = t === name;
    $(`tab-${t}`).setAttribute('aria-selected', String(on));
    $(`tab-${t}`).tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
  }
}

function setupTabs() {
  const tabs = [$('tab-check'), $('tab-lint')];
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => selectTab(tab.id.slice(4)));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
      selectTab(next.id.slice(4));
      next.focus();
    });
  });
}

async function runCheck(domain, config) {
  root.dataset.state = 'running';
  $('check-button').disabled = true;
  $('summary').className = '';
  $('summary').textContent = `Checking ${domain}…`;
  $('results').replaceChildren();
  $('report-actions').hidden = true;
  try {
    const { checkDomain, memoryStore, renderReport, hosts } = await checker(config);
    const report = await checkDomain(domain, { ...hosts, store: memoryStore() });
    const { verdict, state, rows } = renderReport(report);
    $('summary').className = state;
    $('summary').textContent = verdict;
    $('results').replaceChildren(...rows);
    window.mtastsReport = report;
    $('report-actions').hidden = false;
    history.replaceState(null, '', `#check=${encodeURIComponent(report.domain)}`);
    root.dataset.state = 'done';
  } catch (err) {
    window.mtastsReport = null;
    $('summary').className = 'bad';
    $('summary').textContent = `${err?.code ?? 'error'}: ${err?.message ?? err}`;
    root.dataset.state = 'error';
  } finally {
    $('check-button').disabled = false;
  }
}

function download() {
  const blob = new Blob([`${JSON.stringify(window.mtastsReport, null, 2)}\n`], { type: 'application/json' });
  const a = el('a', { href: URL.createObjectURL(blob), download: `mtasts-${window.mtastsReport.domain}.json` });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// A policy is linted as the bytes of an opened file (the core reports invalid UTF-8 itself), the
// records as text.
const asText = (t) => (typeof t === 'string' ? t : new TextDecoder().decode(t));
const LINTERS = {
  policy: (t) => lintPolicy(t),
  record: (t) => lintRecord(asText(t), '_mta-sts'),
  tlsrpt: (t) => lintTlsRptRecord(asText(t), '_smtp._tls'),
};

/** The exact bytes of an opened file; cleared as soon as the text area is edited. */
let fileBytes = null;

/** Lint runs so far, in `data-lints` (an opened file is read asynchronously: tests wait on it). */
let lints = 0;

function lintNow() {
  root.dataset.lints = String(++lints);
  const kind = $('lint-kind').value;
  const text = fileBytes ?? $('lint-text').value;
  if (text.length === 0) {
    $('lint-summary').textContent = '';
    $('lint-results').replaceChildren();
    window.mtastsLint = null;
    return;
  }
  const result = LINTERS[kind](text);
  window.mtastsLint = result;
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  $('lint-summary').textContent = result.diagnostics.length === 0 ? '✓ no problems' : `${errors} ${errors === 1 ? 'error' : 'errors'}, ${result.diagnostics.length - errors} other`;
  $('lint-results').replaceChildren(...result.diagnostics.map((d) => el('li', {}, finding(d.severity === 'error' ? 'bad' : 'warn', d.message, { where: d.line ? `line ${d.line}, column ${d.column}` : null, rfc: d.rfc }))));
}

async function main() {
  setupTabs();
  // The first module has no certificate verifier; the probe loads the full one (loadVerifier).
  firstModule = loadFirstModule();
  await firstModule;
  const config = await loadConfig();
  $('check-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const domain = $('domain').value.trim().replace(/\.$/, '');
    if (domain) runCheck(domain, config);
  });
  // Someone typing a domain is about to check it: the check's modules load meanwhile (once).
  $('domain').addEventListener('input', () => checker(config).catch(() => {}), { once: true });
  $('download').addEventListener('click', download);
  $('share').addEventListener('click', () => navigator.clipboard?.writeText(location.href));
  $('lint-text').addEventListener('input', () => {
    fileBytes = null;
    lintNow();
  });
  $('lint-file').addEventListener('change', async () => {
    const file = $('lint-file').files[0];
    if (!file) return;
    // Spec: a policy is at most 64 KiB (RFC 8461 §3.3 bounds what senders read); more is not read.
    const bytes = new Uint8Array(await file.slice(0, 65536 + 1).arrayBuffer());
    fileBytes = bytes;
    $('lint-text').value = new TextDecoder().decode(bytes);
    lintNow();
  });
  $('lint-kind').addEventListener('change', lintNow);
  root.dataset.state = 'ready';
  // A shared link (#check=<domain>) runs its check, also when pasted into this tab.
  const fromHash = () => {
    const m = /^#check=(.+)$/.exec(location.hash);
    if (!m || root.dataset.state === 'running') return;
    let domain;
    try {
      domain = decodeURIComponent(m[1]).trim();
    } catch {
      return; // not a domain of ours: a malformed escape
    }
    if (domain === window.mtastsReport?.domain) return;
    selectTab('check');
    $('domain').value = domain;
    runCheck(domain, config);
  };
  window.addEventListener('hashchange', fromHash);
  fromHash();
}

main().catch((err) => {
  root.dataset.state = 'error';
  $('summary').textContent = `the checker could not start: ${err?.message ?? err}`;
});
