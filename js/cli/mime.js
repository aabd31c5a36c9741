// A small, bounded MIME reader for TLS report mail (RFC 8460 §5.3): the host's job, since the core
// reads report JSON only. It splits a message into header fields (RFC 5322 §2.2, with unfolding)
// and a body, reads `Content-Type` and `Content-Disposition` parameters (RFC 2045 §5.1, RFC 2183,
// quoted strings, RFC 2231 `name*=` values), walks multiparts (RFC 2046 §5.1, `multipart/report`
// of RFC 6522 among them) and `message/rfc822` parts, and undoes the base64 and quoted-printable
// transfer encodings (RFC 2045 §6.7, §6.8).
//
// Everything is a "binary string": one char per byte (latin1), so that offsets are byte offsets
// and a body converts back to bytes exactly. Bounded: at most MAX_DEPTH levels of nesting and
// MAX_PARTS parts; the caller bounds the input size. Never throws anything but a MimeError.

/** The deepest nesting of multiparts and attached messages read (a report mail nests 1 or 2). */
export const MAX_DEPTH = 16;
/** The most body parts read in one message. */
export const MAX_PARTS = 1000;

/** A message the reader cannot take apart. `code` is stable (kebab-case, `mime-…`). */
export class MimeError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'MimeError';
    this.code = code;
    this.rfc = RFC[code];
  }
}

const RFC = {
  'mime-header-invalid': 'RFC 5322 §2.2',
  'mime-boundary-missing': 'RFC 2046 §5.1.1',
  'mime-boundary-not-found': 'RFC 2046 §5.1.1',
  'mime-final-boundary-missing': 'RFC 2046 §5.1.1',
  'mime-encoding-unknown': 'RFC 2045 §6.1',
  'mime-base64-invalid': 'RFC 2045 §6.8',
  'mime-too-deep': 'RFC 2046 §5.1',
  'mime-too-many-parts': 'RFC 2046 §5.1',
};

/**
 * Whether `text` (a binary string) begins like a message: a header field, or an mbox `From ` line.
 * Spec: RFC 5322 §3.6.8 allows any printable but `:` in a field name; the fields of real mail are
 * letters, digits and `-`, which tells a message from JSON text (`{"a":`).
 */
export function looksLikeMessage(text) {
  return /^(?:From [^\r\n]*\r?\n)?[A-Za-z0-9-]+[ \t]*:/.test(text);
}

/**
 * Splits a message into its header fields and body. Line ends may be CRLF or LF.
 * @returns {{ headers: Array<[string, string]>, body: string }} names lowercased, values unfolded
 * (RFC 5322 §2.2.3: a line break before white space is removed) and trimmed.
 */
export function splitMessage(text) {
  // RFC 2046 §5.1.1: a body part that begins with a blank line has no header fields.
  const end = /^\r?\n/.test(text) ? /^\r?\n/.exec(text) : /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  const lines = head.split(/\r?\n/);
  // Interop: a message saved from a mailbox (mbox) begins with a `From ` line, not a header field.
  if (lines.length > 0 && lines[0].startsWith('From ')) lines.shift();
  const headers = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    if ((line[0] === ' ' || line[0] === '\t') && headers.length > 0) {
      headers[headers.length - 1][1] += line;
      return;
    }
    const m = /^([!-9;-~]+)[ \t]*:(.*)$/s.exec(line);
    if (!m) {
      throw new MimeError('mime-header-invalid', `header line ${i + 1}: expected "name: value", found ${shown(line)}`);
    }
    headers.push([m[1].toLowerCase(), m[2]]);
  });
  for (const h of headers) h[1] = h[1].trim();
  return { headers, body };
}

/** The first value of header field `name` (lowercase), or undefined. */
export function header(headers, name) {
  return headers.find(([n]) => n === name)?.[1];
}

/**
 * Reads a `Content-Type` (RFC 2045 §5.1) or `Content-Disposition` (RFC 2183) value:
 * `value *(";" attribute "=" (token / quoted-string))`. The value and parameter names are
 * lowercased; parameter values are kept as written (unquoted). Comments are not read.
 * @returns {{ value: string, params: Record<string, string> }}
 */
export function parseParameterized(text) {
  const params = Object.create(null);
  let i = text.indexOf(';');
  const value = (i < 0 ? text : text.slice(0, i)).trim().toLowerCase();
  while (i >= 0 && i < text.length) {
    i++; // past ';'
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const name = text.slice(i, eq).trim().toLowerCase();
    let j = eq + 1;
    while (text[j] === ' ' || text[j] === '\t') j++;
    let v = '';
    if (text[j] === '"') {
      j++;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        v += text[j++];
      }
      j++; // past the closing quote (or the end)
      i = text.indexOf(';', j);
    } else {
      const semi = text.indexOf(';', j);
      v = (semi < 0 ? text.slice(j) : text.slice(j, semi)).trim();
      i = semi;
    }
    if (name === '' || name in params) continue; // a repeated parameter: the first counts
    params[name] = v;
    if (i < 0) break;
  }
  // RFC 2231 §4: `name*=charset'language'percent-encoded` (continuations `name*0=` are not read).
  for (const key of Object.keys(params)) {
    if (!key.endsWith('*')) continue;
    const plainKey = key.slice(0, -1);
    const m = /^[^']*'[^']*'(.*)$/s.exec(params[key]);
    if (m && !(plainKey in params)) {
      params[plainKey] = m[1].replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
  }
  return { value, params };
}

/** RFC 2045 §6.8. Characters outside the base64 alphabet are ignored, as the RFC says. */
export function decodeBase64(text) {
  const clean = text.replace(/[^A-Za-z0-9+/=]/g, '');
  const data = clean.replace(/=+$/, '');
  if (data.includes('=') || data.length % 4 === 1) {
    throw new MimeError('mime-base64-invalid', `base64 body of ${clean.length} characters cannot be decoded (${data.includes('=') ? "'=' before the end" : 'one character too many'})`);
  }
  return Buffer.from(data, 'base64').toString('latin1');
}

/**
 * RFC 2045 §6.7: `=XX` is a byte, `=` at a line end is a soft line break (removed with the line
 * break), white space at a line end was added in transport (removed). An `=` not followed by two
 * hex digits is kept as it is (the robust reading §6.7 note (1) suggests).
 */
export function decodeQuotedPrintable(text) {
  // Line by line, so that no pattern backtracks over a long run of white space.
  const out = [];
  const eol = /\r?\n/g;
  let start = 0;
  for (let m = eol.exec(text); ; m = eol.exec(text)) {
    let line = text.slice(start, m ? m.index : text.length);
    let end = line.length;
    while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
    line = line.slice(0, end);
    const soft = line.endsWith('=');
    out.push(unhex(soft ? line.slice(0, -1) : line));
    if (!m) break;
    if (!soft) out.push(m[0]);
    start = eol.lastIndex;
  }
  return out.join('');
}

function unhex(line) {
  return line.replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/** Undoes a part's Content-Transfer-Encoding (RFC 2045 §6.1; absent is 7bit). */
export function decodeBody(body, encoding = '7bit') {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return body;
    default:
      throw new MimeError('mime-encoding-unknown', `Content-Transfer-Encoding ${shown(encoding)} is not base64, quoted-printable, 7bit, 8bit or binary`);
  }
}

/**
 * RFC 2046 §5.1.1: the body parts between `--boundary` lines, up to the `--boundary--` line.
 * The line break before a delimiter belongs to the delimiter; white space after it is padding.
 */
export function splitMultipart(body, boundary) {
  const dash = `--${boundary}`;
  const parts = [];
  let start = -1; // where the current part's content begins
  let pos = 0;
  let closed = false;
  let delimiters = 0;
  while (pos <= body.length) {
    const nl = body.indexOf('\n', pos);
    const lineEnd = nl < 0 ? body.length : nl + 1;
    const line = body.slice(pos, nl < 0 ? body.length : nl).replace(/\r$/, '');
    if (line.startsWith(dash)) {
      const rest = line.slice(dash.length);
      const close = rest.startsWith('--');
      if (/^[ \t]*$/.test(close ? rest.slice(2) : rest)) {
        delimiters++;
        if (start >= 0) {
          let end = pos;
          if (body[end - 1] === '\n') end--;
          if (body[end - 1] === '\r') end--;
          parts.push(body.slice(start, Math.max(start, end)));
          if (parts.length > MAX_PARTS) throw new MimeError('mime-too-many-parts', `more than ${MAX_PARTS} body parts`);
        }
        if (close) {
          closed = true;
          break;
        }
        start = lineEnd;
      }
    }
    if (nl < 0) break;
    pos = lineEnd;
  }
  if (delimiters === 0) throw new MimeError('mime-boundary-not-found', `no --${shown(boundary)} line in the multipart body`);
  if (!closed) throw new MimeError('mime-final-boundary-missing', `the multipart body ends without its closing --${shown(boundary)}-- line (the message may be cut short)`);
  return parts;
}

/**
 * Every leaf part of a message, depth first, with its content type, file name and decoded body.
 * Multiparts and `message/rfc822` parts are walked into (a forwarded report is still found).
 * @returns {Array<{ type: string, params: Record<string,string>, filename: string | undefined, body: string }>}
 */
export function leafParts(text) {
  const out = [];
  walk(text, 0, out, 'text/plain');
  return out;
}

function walk(entity, depth, out, defaultType) {
  if (depth > MAX_DEPTH) throw new MimeError('mime-too-deep', `multiparts nest deeper than ${MAX_DEPTH} levels`);
  const { headers, body } = splitMessage(entity);
  const ct = header(headers, 'content-type');
  // RFC 2045 §5.2: no Content-Type is text/plain; RFC 2046 §5.1.5: in multipart/digest, message/rfc822.
  const { value: type, params } = ct ? parseParameterized(ct) : { value: defaultType, params: {} };
  if (type.startsWith('multipart/')) {
    if (!params.boundary) throw new MimeError('mime-boundary-missing', `${type} without a boundary parameter`);
    const childDefault = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const part of splitMultipart(body, params.boundary)) {
      walk(part, depth + 1, out, childDefault);
      if (out.length > MAX_PARTS) throw new MimeError('mime-too-many-parts', `more than ${MAX_PARTS} body parts`);
    }
    return;
  }
  const decoded = decodeBody(body, header(headers, 'content-transfer-encoding'));
  if (type === 'message/rfc822' || type === 'message/global') {
    walk(decoded, depth + 1, out, 'text/plain');
    return;
  }
  const disposition = header(headers, 'content-disposition');
  const filename = (disposition && parseParameterized(disposition).params.filename) ?? params.name;
  out.push({ type, params, filename, body: decoded });
}

function shown(s) {
  const t = s.length > 60 ? `${s.slice(0, 60)}…` : s;
  return JSON.stringify(t);
}
