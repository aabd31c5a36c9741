// The MX probe as a transcript: what the server's probe helper (js/serve/probe-helper.js) saw when
// it ran the core's Delivery machine in probe mode against an MX host — the clock at each step, the
// step the machine asked for, the bytes it sent, and every answer the host gave it (addresses,
// connect result, bytes received, TLS result with the peer chain as DER). Raw facts only: the page
// feeds the same answers to its own machine (probe-replay.js), which makes every verdict.
//
// JSON-safe: bytes are base64, the TLS answer's trust store and signature host are the replaying
// side's own.

/** The machine's answer methods a transcript may hold (src/wasm/delivery.rs). */
export const ANSWERS = new Set(['onMx', 'onMxFailed', 'onAddresses', 'onAddressesFailed', 'onConnected', 'onConnectFailed', 'onTimeout', 'onData', 'onClose', 'onTls', 'onTlsFailed']);

export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** One answer as the transcript keeps it. onTls(chain, store, hostCrypto, version, cipher). */
export function encodeAnswer(call, args) {
  switch (call) {
    case 'onData':
      return { call, data: toBase64(args[0]) };
    case 'onTls':
      return { call, chain: args[0].map((c) => toBase64(c)), version: args[3], cipher: args[4] ?? null };
    default:
      return { call, args: args.map((a) => (a === undefined ? null : a)) };
  }
}

/**
 * The arguments to give the machine for a transcript answer, with the replaying side's trust
 * store (made only when a chain is judged) and signature host.
 * @returns {unknown[]}
 */
export function decodeAnswer(answer, { store, hostCrypto }) {
  switch (answer.call) {
    case 'onData':
      return [fromBase64(answer.data)];
    case 'onTls':
      return [answer.chain.map(fromBase64), store(), hostCrypto, answer.version, answer.cipher];
    default:
      return answer.args;
  }
}
