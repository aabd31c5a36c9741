// A scripted hostile DNS server for the DNS half of the hostile-peer matrix (hostile-dns.test.mjs):
// UDP and TCP on one loopback port. Questions for names that `faulty(name)` picks meet the fault;
// every other question is passed to `upstream` (the lab's DNS server) and its answer returned, so
// the rest of the world (the policy host's and the MX's addresses) keeps working. Not a test file.
//
// Faults (RFC 1035 §4, RFC 7766):
//   huge          a valid answer of ~60 KiB: the asked-for records among hundreds of others (UDP: TC)
//   tc-garbage    UDP answers TC (truncated, retry over TCP); TCP answers a length and random bytes
//   cname-loop    the name is a CNAME to a name that is a CNAME back (no data, NOERROR)
//   wrong-id      the answer carries another message ID
//   wrong-question the answer's question is another name
//   other-name    the answer's TXT/MX/A record is owned by another name
//   endless-tcp   UDP answers TC; TCP announces 65535 bytes and sends one every 50 ms, forever
//   tcp-flood     UDP answers TC; TCP sends garbage as fast as the client reads, forever
//   silence       no answer at all, on either transport
//   pointer-loop  the answer's owner name is a compression pointer to itself
//   rcode-mismatch NXDOMAIN with an answer record in it

import dgram from 'node:dgram';
import net from 'node:net';

export const FAULTS = ['huge', 'tc-garbage', 'cname-loop', 'wrong-id', 'wrong-question', 'other-name', 'endless-tcp', 'tcp-flood', 'silence', 'pointer-loop', 'rcode-mismatch'];

const TYPE = { A: 1, CNAME: 5, MX: 15, TXT: 16, AAAA: 28 };
const u16 = (n) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u32 = (n) => Buffer.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

function name(text) {
  const parts = [];
  for (const label of text.replace(/\.$/, '').split('.').filter(Boolean)) parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function rr(owner, type, rdata) {
  const ownerBytes = Buffer.isBuffer(owner) ? owner : name(owner);
  return Buffer.concat([ownerBytes, u16(type), u16(1), u32(60), u16(rdata.length), rdata]);
}

const txt = (...strings) => Buffer.concat(strings.flatMap((s) => [Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]));

/** The query's parts: id, flags, the question section's bytes, its name and type. */
function readQuery(msg) {
  if (msg.length < 12) return null;
  let pos = 12;
  const labels = [];
  while (pos < msg.length && msg[pos] !== 0) {
    if (msg[pos] > 63) return null;
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + msg[pos]));
    pos += 1 + msg[pos];
  }
  if (pos + 5 > msg.length) return null;
  return {
    id: msg.readUInt16BE(0),
    rd: (msg[2] & 1) !== 0,
    question: msg.subarray(12, pos + 5),
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(pos + 1),
  };
}

/** A response: header (QR, RD echoed, RA, rcode, TC) + the question + answers. */
function response(q, { rcode = 0, tc = false, answers = [], id = q.id, question = q.question }) {
  const flags = 0x8000 | 0x0400 | (tc ? 0x0200 : 0) | (q.rd ? 0x0100 : 0) | 0x0080 | rcode;
  return Buffer.concat([u16(id), u16(flags), u16(1), u16(answers.length), u16(0), u16(0), question, ...answers]);
}

/** The record a well-behaved server would give for q (what the faults wrap or distort). */
function plausible(q, owner = q.name) {
  if (q.type === TYPE.TXT) return rr(owner, TYPE.TXT, txt('v=STSv1; id=hostile1'));
  if (q.type === TYPE.MX) return rr(owner, TYPE.MX, Buffer.concat([u16(10), name(`mx1.${q.name.replace(/^_mta-sts\./, '')}`)]));
  if (q.type === TYPE.AAAA) return rr(owner, TYPE.AAAA, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
  return rr(owner, TYPE.A, Buffer.from([127, 0, 0, 1]));
}

/**
 * @param {object} o
 * @param {string} o.upstream 'host:port' of the well-behaved server for every other question
 * @param {(name: string, type: number) => string | null} o.faultFor the fault for a question, or null
 * @param {() => number} o.random [0, 1), for garbage bytes
 * @returns {Promise<{ server: string, port: number, asked: Array<{ name, type, transport }>, close() }>}
 */
export async function startHostileDns({ upstream, faultFor, random }) {
  const [upHost, upPort] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const asked = [];
  const sockets = new Set();
  const timers = new Set();
  const garbage = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));

  /** Forwards one message to the upstream server over UDP; resolves its answer (or null). */
  function forward(msg) {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      const t = setTimeout(() => (s.close(), resolve(null)), 2000);
      s.on('message', (m) => (clearTimeout(t), s.close(), resolve(m)));
      s.on('error', () => (clearTimeout(t), s.close(), resolve(null)));
      s.send(msg, upPort, upHost);
    });
  }

  /** The faulty answer to q over `transport`, as a Buffer, or null for none. */
  function faulty(fault, q, transport) {
    switch (fault) {
      case 'huge': {
        if (transport === 'udp') return response(q, { tc: true });
        // Up to 64000 bytes in all: a TCP message's length is 16 bits (RFC 7766 §8).
        const answers = [plausible(q)];
        const filler = 'x'.repeat(200);
        let size = 12 + q.question.length + answers[0].length;
        for (let i = 0; ; i++) {
          const next = rr(q.name, TYPE.TXT, txt(`v=spf1 filler${i} ${filler}`));
          if (size + next.length > 64_000) break;
          answers.push(next);
          size += next.length;
        }
        return response(q, { answers });
      }
      case 'cname-loop': {
        const other = `loop.${q.name}`;
        return response(q, { answers: [rr(q.name, TYPE.CNAME, name(other)), rr(other, TYPE.CNAME, name(q.name))] });
      }
      case 'wrong-id':
        return response(q, { id: q.id ^ 0x5a5a, answers: [plausible(q)] });
      case 'wrong-question':
        return response(q, { question: Buffer.concat([name(`other.${q.name}`), q.question.subarray(q.question.length - 4)]), answers: [plausible(q)] });
      case 'other-name':
        return response(q, { answers: [plausible(q, `evil.test`)] });
      case 'pointer-loop': {
        // The answer's owner: a pointer to its own offset (12 + the question's length).
        const at = 12 + q.question.length;
        return response(q, { answers: [rr(Buffer.from([0xc0 | (at >> 8), at & 0xff]), TYPE.TXT, txt('v=STSv1; id=loop'))] });
      }
      case 'rcode-mismatch':
        return response(q, { rcode: 3, answers: [plausible(q)] });
      case 'tc-garbage':
      case 'endless-tcp':
      case 'tcp-flood':
        return transport === 'udp' ? response(q, { tc: true }) : null; // TCP: handled on the stream
      default: // silence
        return null;
    }
  }

  const udp = dgram.createSocket('udp4');
  udp.on('message', async (msg, rinfo) => {
    const q = readQuery(msg);
    if (!q) return;
    const fault = faultFor(q.name, q.type);
    asked.push({ name: q.name, type: q.type, transport: 'udp', fault });
    const out = fault ? faulty(fault, q, 'udp') : await forward(msg);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {});
  await new Promise((r) => udp.bind(0, '127.0.0.1', r));
  const port = udp.address().port;

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', async (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        const q = readQuery(msg);
        if (!q) continue;
        const fault = faultFor(q.name, q.type);
        asked.push({ name: q.name, type: q.type, transport: 'tcp', fault });
        if (fault === 'tc-garbage') {
          socket.write(Buffer.concat([u16(300), garbage(300)]));
        } else if (fault === 'endless-tcp') {
          socket.write(u16(0xffff));
          const t = setInterval(() => (socket.destroyed ? (clearInterval(t), timers.delete(t)) : socket.write(garbage(1))), 50);
          timers.add(t);
        } else if (fault === 'tcp-flood') {
          const block = garbage(16384);
          const pump = () => {
            while (!socket.destroyed) if (!socket.write(block)) return socket.once('drain', pump);
          };
          pump();
        } else {
          const out = fault ? faulty(fault, q, 'tcp') : await forward(msg);
          if (out && !socket.destroyed) socket.write(Buffer.concat([u16(out.length), out]));
        }
      }
    });
  });
  await new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', resolve);
  });

  return {
    server: `127.0.0.1:${port}`,
    port,
    asked,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => udp.close(r)), new Promise((r) => tcp.close(r))]);
    },
  };
}
