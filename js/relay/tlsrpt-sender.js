// The relay sending its own TLS reports (`mtasts relay --tlsrpt-send`), instead of a cron job
// running `mtasts report send`: after each UTC day ends and a random delay has passed, the day's
// reports go out (js/tlsrpt/submit.js sendDay, the same work as the command), and temporary
// failures are retried as the ledger's backoff allows, until nothing is pending or the retry
// window has passed. Days the relay missed (it was stopped) are sent when it runs again, as long
// as their records are kept (--tlsrpt-keep-days). The relay's --policy-port does not apply to
// https: endpoints: their URIs carry their ports.
//
// RFC 8460 §4.1: a report covers one UTC day; reports are sent after the day ends, "perhaps
// several hours" later, so that receivers are not flooded at midnight. Spec: the delay is drawn
// uniformly from [0, maxDelay) once per day and relay, so a fleet spreads its reports.

import tls from 'node:tls';
import { policyTrustAnchors } from '../node/https.js';
import { RETRY_WINDOW_MS } from '../tlsrpt/ledger.js';
import { smtpMailer } from '../tlsrpt/report-mail.js';
import { sendDay } from '../tlsrpt/submit.js';
import { dayOf, oldestKeptDay } from './tlsrpt-log.js';

const DAY_MS = 86_400_000;

/**
 * @param {object} o
 * @param {object} o.tlsrpt the relay's TLS-RPT log
 * @param {string} o.ledgerDir where the ledger lives (<store dir>/tlsrpt-sent)
 * @param {object} o.send config.js's tlsrptSend (organization, contact, submitter, smtp, auth,
 *   from, dkim, onlyFailures, maxDelay, checkEvery, timeout, retryBase, retryWindow)
 * @param {object} o.dns the DNS host the relay uses (its lookup too)
 * @param {string} [o.ca] extra CA certificates (PEM) for https: endpoints and --smtp's STARTTLS
 * @param {number} o.keepDays days of records kept
 * @param {() => number} o.clock
 * @param {object} o.log pino logger
 * @param {object} o.metrics relay metrics (tlsrptReports)
 * @param {() => number} [o.random]
 * @returns {{ stop(): Promise<void>, runNow(): Promise<void> }}
 */
export function startTlsrptSender(o) {
  const { send, clock, log } = o;
  const random = o.random ?? Math.random;
  const delays = new Map(); // day → its random delay (ms)
  const firstTry = new Map(); // day → when it was first tried
  const finished = new Set();
  const post = { secureContext: tls.createSecureContext({ ca: policyTrustAnchors(o.ca), minVersion: 'TLSv1.2' }), timeout: send.timeout };
  let running = null;
  let timer = null;
  let stopped = false;

  async function tick() {
    const now = clock();
    const today = dayOf(new Date(now));
    const oldest = oldestKeptDay(now, o.keepDays);
    const days = (await o.tlsrpt.days()).filter((d) => d < today && d >= oldest && !finished.has(d));
    for (const day of days) {
      if (stopped) return;
      if (!delays.has(day)) delays.set(day, Math.floor(random() * send.maxDelay));
      if (clock() < Date.parse(`${day}T00:00:00Z`) + DAY_MS + delays.get(day)) continue;
      if (!firstTry.has(day)) firstTry.set(day, clock());
      const mailer = send.smtp ? await smtpMailer({ smtp: send.smtp, auth: send.auth, ca: o.ca, timeout: send.timeout, dkim: send.dkim, submitter: send.submitter }) : null;
      let result;
      try {
        result = await sendDay({
          log: o.tlsrpt, ledgerDir: o.ledgerDir, day,
          organization: send.organization, contact: send.contact, submitter: send.submitter,
          dns: o.dns, post, mailer, from: send.from, onlyFailures: send.onlyFailures,
          now: clock, timing: { retryBase: send.retryBase, retryWindow: send.retryWindow },
        });
      } finally {
        mailer?.close();
      }
      for (const r of result.results) {
        if (r.status === 'already-sent' || r.status === 'refused' || (r.status === 'given-up' && r.final) || r.status === 'waiting') continue;
        o.metrics.tlsrptReports.inc({ outcome: r.status });
        const entry = { event: 'tlsrpt-report', day, domain: r.domain, rua: r.rua, outcome: r.status, code: r.code, detail: r.detail };
        if (r.status === 'sent') log.info(entry);
        else if (r.status === 'deferred') log.warn({ ...entry, retryFrom: new Date(r.until).toISOString() });
        else if (r.status === 'skipped') log.info(entry);
        else log.error(entry);
      }
      // A day is done when nothing is pending; a DNS failure that never clears is given up
      // with the ledger's window (the ledger gives up deferred endpoints by itself).
      const window = send.retryWindow ?? RETRY_WINDOW_MS;
      if (result.pending === 0 || clock() - firstTry.get(day) >= window) {
        if (result.pending > 0) log.error({ event: 'tlsrpt-day-given-up', day, pending: result.pending });
        finished.add(day);
        delays.delete(day);
        firstTry.delete(day);
      }
    }
  }

  function run() {
    running ??= tick()
      .catch((err) => log.error({ event: 'tlsrpt-send-failed', err: err.message }))
      .finally(() => {
        running = null;
      });
    return running;
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => run().finally(schedule), send.checkEvery);
    timer.unref();
  }

  run().finally(schedule);
  return {
    runNow: () => run(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
