// A loopback "proxy" that lets nothing through.
//
// Both browsers are pointed at it as their HTTP(S) proxy, with the GitLab hostnames (which the
// browsers map to the stand-in) and loopback bypassing it. So any request a browser would make to
// anywhere else (update checks, telemetry, safe browsing, a stray link in a page under test)
// ends here: it is refused at once and recorded, instead of trying to leave the machine.
//
//   const trap = await startTrap();  trap.port;  trap.attempts() -> [{target, at}];  await trap.stop();

import net from 'node:net';

export async function startTrap() {
  const attempts = [];
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(5000, () => socket.destroy());
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const eol = head.indexOf('\r\n');
      if (eol < 0 && head.length < 8192) return;
      const line = head.slice(0, eol < 0 ? 200 : eol);
      // "CONNECT host:443 HTTP/1.1" for https, "GET http://host/path HTTP/1.1" for http.
      const [, target = line] = line.split(' ');
      attempts.push({ target, at: new Date().toISOString() });
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  return {
    port: server.address().port,
    attempts: () => attempts.slice(),
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((res) => server.close(res));
    },
  };
}
