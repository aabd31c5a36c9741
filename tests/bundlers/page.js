// The page both bundler builds make (tests/js/package-bundlers.test.mjs): it loads the module
// through the bundler's URL of `mtasts/wasm`, parses and lints a policy, and shows the result.
// Each bundler's entry (esbuild/app.js, vite/main.js) imports the URL its own way and calls show().

import { init, parsePolicy, lintPolicy, matchMx, MtaStsError } from 'mtasts';

const GOOD = 'version: STSv1\nmode: enforce\nmx: *.mail.example.com\nmax_age: 604800\n';
const BAD = 'version: STSv1\nmode: report\nmx: mail.example.com\nmax_age: 60\n';

/** @param {string | URL} wasmUrl */
export async function show(wasmUrl) {
  const out = document.getElementById('result');
  try {
    let before = null;
    try {
      parsePolicy(GOOD);
    } catch (e) {
      before = e instanceof MtaStsError ? e.code : String(e);
    }
    await init(wasmUrl);
    const policy = parsePolicy(GOOD);
    const lint = lintPolicy(BAD);
    const result = {
      before,
      mode: policy.mode,
      mx: policy.mx,
      matches: [matchMx(policy, 'mx1.mail.example.com'), matchMx(policy, 'a.b.mail.example.com')],
      lint: lint.diagnostics.map((d) => `${d.line}:${d.column} ${d.severity} ${d.code}`),
    };
    out.textContent = `policy: mode ${result.mode}, mx ${result.mx.join(' ')}\n` + result.lint.join('\n');
    window.mtastsResult = result;
    document.documentElement.dataset.state = 'done';
  } catch (err) {
    out.textContent = `error: ${err?.stack ?? err}`;
    document.documentElement.dataset.state = 'error';
  }
}
