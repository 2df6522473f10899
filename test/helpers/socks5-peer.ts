/**
 * A minimal SOCKS5 server (RFC 1928 CONNECT, RFC 1929 username/password) on 127.0.0.1 for
 * tests without the real Dante peer: it records each CONNECT request (user, destination) and
 * forwards to a port the test maps the destination to. Test code only.
 */
import net from 'node:net';

export interface Socks5Peer {
  port: number;
  /** CONNECT requests seen, in order. */
  requests: { user: string | null; host: string; port: number }[];
  close(): Promise<void>;
}

export async function startSocks5Peer(opts: { user?: string; password?: string; route: (host: string, port: number) => number | undefined }): Promise<Socks5Peer> {
  const requests: Socks5Peer['requests'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    let stage: 'hello' | 'auth' | 'request' | 'piped' = 'hello';
    let user: string | null = null;
    c.on('data', (d: Buffer) => {
      if (stage === 'piped') return;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === 'hello') {
          if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
          const methods = [...buf.subarray(2, 2 + buf[1]!)];
          buf = buf.subarray(2 + buf[1]!);
          const want = opts.user ? 0x02 : 0x00;
          if (!methods.includes(want)) return void c.end(Buffer.from([5, 0xff]));
          c.write(Buffer.from([5, want]));
          stage = opts.user ? 'auth' : 'request';
        } else if (stage === 'auth') {
          // RFC 1929 §2: VER ULEN UNAME PLEN PASSWD.
          if (buf.length < 2) return;
          const ulen = buf[1]!;
          if (buf.length < 3 + ulen || buf.length < 3 + ulen + buf[2 + ulen]!) return;
          const u = buf.subarray(2, 2 + ulen).toString();
          const p = buf.subarray(3 + ulen, 3 + ulen + buf[2 + ulen]!).toString();
          buf = buf.subarray(3 + ulen + buf[2 + ulen]!);
          if (u !== opts.user || p !== opts.password) return void c.end(Buffer.from([1, 1]));
          user = u;
          c.write(Buffer.from([1, 0]));
          stage = 'request';
        } else {
          // RFC 1928 §4: VER CMD RSV ATYP DST.ADDR DST.PORT (IPv4 or IPv6 only: we never send names).
          if (buf.length < 4) return;
          const atyp = buf[3]!;
          const alen = atyp === 1 ? 4 : atyp === 4 ? 16 : -1;
          if (alen < 0) return void c.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]));
          if (buf.length < 6 + alen) return;
          const addr = buf.subarray(4, 4 + alen);
          const host = atyp === 1 ? [...addr].join('.') : (addr.toString('hex').match(/.{4}/g) ?? []).join(':').replace(/\b0{1,3}/g, '');
          const port = buf.readUInt16BE(4 + alen);
          requests.push({ user, host, port });
          const target = opts.route(host, port);
          if (target === undefined) return void c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
          stage = 'piped';
          const up = net.connect({ host: '127.0.0.1', port: target }, () => {
            c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            c.pipe(up).pipe(c);
          });
          up.on('error', () => c.destroy());
          sockets.add(up);
          up.on('close', () => sockets.delete(up));
          return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
