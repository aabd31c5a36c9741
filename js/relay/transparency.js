// SMTP data transparency (RFC 5321 §4.5.2) and line endings (§2.3.8) for the message body the relay
// streams to the MX: one pass over each chunk, state carried across chunks.

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');

/**
 * RFC 5321 §4.5.2 transparency: a line starting with "." gets another "."; bare LF becomes CRLF
 * (§2.3.8), so an LF-only "." line in the message cannot end DATA at a peer that accepts bare LF
 * (SMTP smuggling). `push(buf)` returns the bytes to send; `end()` the end-of-data line.
 */
export function dotStuffer() {
  let atLineStart = true;
  let lastByte = -1;
  return {
    push(chunk) {
      const out = [];
      let start = 0;
      const n = chunk.length;
      if (n === 0) return Buffer.alloc(0);
      if (atLineStart && chunk[0] === 0x2e) out.push(DOT);
      for (;;) {
        const i = chunk.indexOf(0x0a, start);
        if (i === -1) {
          out.push(chunk.subarray(start));
          atLineStart = false;
          break;
        }
        const before = i > 0 ? chunk[i - 1] : lastByte;
        if (before === 0x0d) {
          out.push(chunk.subarray(start, i + 1));
        } else {
          out.push(chunk.subarray(start, i), CRLF);
        }
        start = i + 1;
        atLineStart = true;
        if (start === n) break;
        if (chunk[start] === 0x2e) out.push(DOT);
      }
      lastByte = chunk[n - 1];
      return out.length === 1 ? out[0] : Buffer.concat(out);
    },
    end() {
      // A message that does not end with a line break gets one: the terminator is a line of its own.
      return Buffer.from(atLineStart ? '.\r\n' : '\r\n.\r\n', 'latin1');
    },
  };
}
