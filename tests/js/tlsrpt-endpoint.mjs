// A scripted https: rua endpoint for the TLS-RPT sending tests: answers `status()` (a 3xx with a
// Location elsewhere) and records every request it gets. Not a test file itself.
import https from 'node:https';

/**
 * @param {{ keyPem: string, certPem: string, chainPem?: string }} cert the endpoint's certificate
 * @param {() => number} status the HTTP status of the next answer
 * @param {string} [location] the Location of a 3xx answer
 * @returns {Promise<{ got: Array<{ method, path, contentType, body: Buffer }>, port: number, close(): Promise<void> }>}
 */
export async function startEndpoint(cert, status, location = 'https://elsewhere.test/') {
  const got = [];
  const server = https.createServer({ key: cert.keyPem, cert: cert.chainPem ?? cert.certPem }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ method: req.method, path: req.url, contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      const s = status();
      res.writeHead(s, s >= 300 && s < 400 ? { Location: location } : {});
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}
