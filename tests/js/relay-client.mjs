// A raw SMTP client for the relay tests: one line in, one (possibly multi-line) reply out, so a
// test can stop in the middle of DATA or hold a transaction open. Not a test file itself.
//
//   const c = await rawSmtp(port);  c.greeting;  await c.cmd('EHLO client.test');  c.write(bytes);
//   await c.next();  c.destroy();  await c.closed;

import net from 'node:net';

export function rawSmtp(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let buffer = '';
    let lines = [];
    const replies = [];
    const waiters = [];
    let ended = false;
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let i;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        lines.push(line);
        if (!/^\d{3}-/.test(line)) {
          const reply = lines.join('\n');
          lines = [];
          const w = waiters.shift();
          if (w) w(reply);
          else replies.push(reply);
        }
      }
    });
    socket.once('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(null);
    });
    const next = () => {
      if (replies.length) return Promise.resolve(replies.shift());
      if (ended) return Promise.resolve(null);
      return new Promise((r) => waiters.push(r));
    };
    socket.once('error', (err) => {
      if (!socket.readyState || socket.connecting) reject(err);
    });
    socket.once('connect', async () => {
      const greeting = await next();
      resolve({
        greeting,
        socket,
        closed,
        next,
        write: (data) => socket.write(data),
        cmd(line) {
          socket.write(`${line}\r\n`);
          return next();
        },
        destroy: () => socket.destroy(),
      });
    });
  });
}

/** Whether a TCP connection to host:port is refused (resolves true) or accepted (false). */
export function refused(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}
