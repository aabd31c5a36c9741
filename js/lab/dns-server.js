// The lab's embedded DNS server: authoritative for `test.` only, over UDP and TCP on one loopback port.
//
// NXDOMAIN for unknown names inside the zone, REFUSED outside it (nothing is forwarded), and the
// per-name faults of zone.js: 'timeout' drops the query, 'servfail' answers SERVFAIL.

import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { answer, TTL, ZONE_ORIGIN } from './zone.js';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const SOA = {
  name: ZONE_ORIGIN,
  type: 'SOA',
  ttl: TTL,
  data: { mname: `ns.${ZONE_ORIGIN}`, rname: `hostmaster.${ZONE_ORIGIN}`, serial: 1, refresh: 60, retry: 60, expire: 60, minimum: TTL },
};
const UDP_PAYLOAD_WITHOUT_EDNS = 512; // RFC 1035 §4.2.1

/**
 * Starts the server. `getZone()` returns the current zone (so changes show at once);
 * `onQuery(name, type)` is told of every question. Returns { host, port, close() }.
 */
export async function startDnsServer({ host, port, getZone, onQuery = () => {} }) {
  const family = net.isIPv6(host) ? 'udp6' : 'udp4';
  const sockets = new Set();

  const respond = (query, maxSize) => {
    const q = query.questions?.[0];
    const base = { id: query.id, type: 'response', questions: query.questions ?? [] };
    const rd = query.flags & dnsPacket.RECURSION_DESIRED;
    if (query.opcode !== 'QUERY' || !q) return encode({ ...base, flags: rd | RCODE.NOTIMP });
    onQuery(q.name, q.type);
    const result = answer(getZone(), q.name, q.type);
    if (result.fault === 'timeout') return null;
    if (result.fault === 'servfail') return encode({ ...base, flags: rd | RCODE.SERVFAIL });
    const flags = rd | RCODE[result.rcode] | (result.rcode === 'REFUSED' ? 0 : dnsPacket.AUTHORITATIVE_ANSWER);
    const answers = result.answers.map((a) => ({ ...a, ttl: TTL }));
    const authorities = result.rcode !== 'REFUSED' && answers.length === 0 ? [SOA] : [];
    const full = encode({ ...base, flags, answers, authorities });
    if (full.length <= maxSize) return full;
    // RFC 1035 §4.2.1 / RFC 7766: too big for UDP → truncated, the client retries over TCP.
    return encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE });
  };

  const udp = dgram.createSocket({ type: family });
  udp.on('message', (msg, rinfo) => {
    const query = decode(msg);
    if (!query) return;
    const edns = query.additionals?.find((a) => a.type === 'OPT');
    const out = respond(query, edns ? Math.max(edns.udpPayloadSize ?? 512, 512) : UDP_PAYLOAD_WITHOUT_EDNS);
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
        const query = decode(msg);
        if (!query) return socket.destroy();
        const out = respond(query, 65535);
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

function decode(msg) {
  try {
    return dnsPacket.decode(msg);
  } catch {
    return null; // Spec: an undecodable datagram is dropped; the lab never crashes on input.
  }
}

function encode(packet) {
  try {
    return dnsPacket.encode(packet);
  } catch {
    // A question dns-packet cannot re-encode (an odd type or class): answer with no question.
    return dnsPacket.encode({ ...packet, questions: [], answers: [], authorities: [], flags: packet.flags & ~0xf | RCODE.FORMERR });
  }
}

function lengthPrefix(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
