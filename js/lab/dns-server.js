// The lab's embedded DNS server: authoritative for `test.` only, over UDP and TCP on one loopback port.
//
// NXDOMAIN for unknown names inside the zone, REFUSED outside it (nothing is forwarded), and the
// per-name faults of zone.js: 'timeout' drops the query, 'servfail' answers SERVFAIL.

import dgram from 'node:dgram';
import net from 'node:net';
import { decodeQuery, encodeResponse } from './dns-wire.js';
import { answer, TTL, ZONE_ORIGIN } from './zone.js';

const SOA = {
  name: ZONE_ORIGIN,
  type: 'SOA',
  ttl: TTL,
  data: { mname: `ns.${ZONE_ORIGIN}`, rname: `hostmaster.${ZONE_ORIGIN}`, serial: 1, refresh: 60, retry: 60, expire: 60, minimum: TTL },
};
const UDP_PAYLOAD_WITHOUT_EDNS = 512; // RFC 1035 §4.2.1
const OPCODE_QUERY = 0;

/**
 * Starts the server. `getZone()` returns the current zone (so changes show at once);
 * `onQuery(name, type)` is told of every question; `answerQuestion(zone, name, type)` answers it
 * (default: zone.js `answer`; a large world passes an indexed one). Returns { host, port, close() }.
 */
export async function startDnsServer({ host, port, getZone, onQuery = () => {}, answerQuestion = answer }) {
  const family = net.isIPv6(host) ? 'udp6' : 'udp4';
  const sockets = new Set();

  // The response to one message (a Buffer), or null to stay silent.
  const respond = (msg, transport) => {
    const query = decodeQuery(msg);
    if (query.isResponse) return null;
    const q = query.question;
    if (query.opcode !== OPCODE_QUERY || !q) return encodeResponse(query, { rcode: 'NOTIMP' });
    onQuery(q.name, q.type);
    const result = answerQuestion(getZone(), q.name, q.type);
    if (result.fault === 'timeout') return null;
    if (result.fault === 'servfail') return encodeResponse(query, { rcode: 'SERVFAIL' });
    const answers = result.answers.map((a) => ({ ...a, ttl: TTL }));
    const authoritative = result.rcode !== 'REFUSED';
    const authorities = authoritative && answers.length === 0 ? [SOA] : [];
    const full = encodeResponse(query, { rcode: result.rcode, aa: authoritative, answers, authorities });
    const limit = transport === 'tcp' ? 65535 : Math.max(query.udpPayloadSize ?? UDP_PAYLOAD_WITHOUT_EDNS, UDP_PAYLOAD_WITHOUT_EDNS);
    if (full.length <= limit) return full;
    // RFC 1035 §4.2.1, RFC 7766 §5: too big for UDP → TC set, the client retries over TCP.
    return encodeResponse(query, { rcode: result.rcode, aa: authoritative, tc: true });
  };

  const safeRespond = (msg, transport) => {
    try {
      return respond(msg, transport);
    } catch {
      return null; // Spec: the lab drops what it cannot answer rather than crash
    }
  };

  const udp = dgram.createSocket({ type: family });
  udp.on('message', (msg, rinfo) => {
    const out = safeRespond(msg, 'udp');
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {});
  await new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  const boundPort = udp.address().port;

  // RFC 7766: the same service over TCP, each message with a two-octet length prefix.
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        const out = safeRespond(msg, 'tcp');
        if (out) socket.write(Buffer.concat([lengthPrefix(out.length), out]));
      }
    });
  });
  try {
    await new Promise((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(boundPort, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    udp.close();
    throw err;
  }

  return {
    host,
    port: boundPort,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise((r) => udp.close(r)),
        new Promise((r) => tcp.close(r)),
      ]);
    },
  };
}

function lengthPrefix(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
