// SMTP data transparency (RFC 5321 §4.5.2) and line endings (§2.3.8) for the message body the relay
// streams to the MX: one pass over each chunk, state carried across chunks.

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');
const EMPTY = Buffer.alloc(0);
const CR_BYTE = 0x0d;
const LF_BYTE = 0x0a;
const DOT_BYTE = 0x2e;

/**
 * RFC 5321 §4.5.2 transparency: a line starting with "." gets another ".". RFC 5321 §2.3.8: CR and
 * LF occur only together as CRLF, so a bare LF and a bare CR (one not followed by LF) each become
 * CRLF and start a new line, whose leading "." is stuffed too. No "." line in the message can then
 * end DATA at a peer that takes a bare LF or CR for a line end (SMTP smuggling: `\n.\n`, `\r.\r`,
 * `\r.\n`, `\n.\r`). A CR at the end of one chunk and an LF at the start of the next are one CRLF:
 * the output of any chunking equals that of the whole message.
 *
 * `push(buf)` returns the bytes to send (a CR at the end of `buf` is held until the next byte is
 * known); `end()` the rest and the end-of-data line.
 */
export function dotStuffer() {
  let atLineStart = true;
  let pendingCr = false; // the last chunk ended with a CR whose LF may come first in the next
  return {
    push(chunk) {
      const n = chunk.length;
      if (n === 0) return EMPTY;
      const out = [];
      let i = 0; // next byte to look at
      let seg = 0; // first byte not yet in `out`
      if (pendingCr) {
        pendingCr = false;
        out.push(CRLF); // a bare CR becomes CRLF, and a CR whose LF starts this chunk is one CRLF
        atLineStart = true;
        if (chunk[0] === LF_BYTE) i = seg = 1;
      }
      let cr = -2; // cached positions of the next CR and LF at or after i (-2: not looked yet)
      let lf = -2;
      while (i < n) {
        if (atLineStart) {
          atLineStart = false;
          if (chunk[i] === DOT_BYTE) {
            if (i > seg) out.push(chunk.subarray(seg, i));
            out.push(DOT);
            seg = i;
          }
        }
        if (cr !== -1 && cr < i) cr = chunk.indexOf(CR_BYTE, i);
        if (lf !== -1 && lf < i) lf = chunk.indexOf(LF_BYTE, i);
        const brk = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
        if (brk === -1) break; // the rest of the chunk is line content
        if (chunk[brk] === CR_BYTE && brk + 1 < n && chunk[brk + 1] === LF_BYTE) {
          i = brk + 2; // CRLF: copied as it is
        } else {
          if (brk > seg) out.push(chunk.subarray(seg, brk));
          if (chunk[brk] === CR_BYTE && brk + 1 === n) {
            pendingCr = true; // decided by the next chunk (or end)
          } else {
            out.push(CRLF); // RFC 5321 §2.3.8: a bare LF or bare CR becomes CRLF
          }
          i = seg = brk + 1;
        }
        atLineStart = true;
      }
      if (seg < n) out.push(chunk.subarray(seg));
      if (out.length === 0) return EMPTY;
      return out.length === 1 ? out[0] : Buffer.concat(out);
    },
    end() {
      // A message that does not end with a line break gets one: the terminator is a line of its own.
      const rest = pendingCr ? '\r\n' : '';
      pendingCr = false;
      return Buffer.from(`${rest}${atLineStart || rest ? '.\r\n' : '\r\n.\r\n'}`, 'latin1');
    },
  };
}
