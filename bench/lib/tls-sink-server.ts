/**
 * A TLS-capable SMTP sink (RFC 5321 server side, RFC 3207 STARTTLS, RFC 2920 PIPELINING) for
 * the benchmark, run as its own process so its CPU is not the engine's: it accepts every
 * transaction and discards the data, like Postfix's smtp-sink, which has no STARTTLS. It counts
 * the messages it accepted and prints `mesg=N` on stdout whenever the count changes (at most
 * every 20 ms), the same counter format bench/lib/sink.ts reads from smtp-sink -c.
 *
 *   node --import tsx bench/lib/tls-sink-server.ts CERT.pem KEY.pem PORT ADDRESS...
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [certFile, keyFile, portArg, ...addresses] = process.argv.slice(2);
const secureContext = tls.createSecureContext({ cert: fs.readFileSync(certFile!), key: fs.readFileSync(keyFile!) });
const HOST = 'sink.bench.test';
let messages = 0;
let reported = -1;

setInterval(() => {
  if (messages !== reported) {
    reported = messages;
    process.stdout.write(`mesg=${messages}\n`);
  }
}, 20).unref();

/** One SMTP session; after STARTTLS the same state machine reads the TLS socket. */
function session(raw: net.Socket): void {
  raw.setNoDelay(true);
  let sock: net.Socket | tls.TLSSocket = raw;
  let secure = false;
  let buf = '';
  let inData = false;

  const onData = (chunk: Buffer): void => {
    buf += chunk.toString('latin1');
    let out = '';
    for (;;) {
      if (inData) {
        // The data ends at CRLF.CRLF; the sink never looks inside (dot-stuffing is irrelevant).
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) {
          // Keep only a tail long enough to hold a terminator split across chunks.
          if (buf.length > 4) buf = buf.slice(-4);
          break;
        }
        buf = buf.slice(end + 5);
        inData = false;
        messages++;
        out += '250 2.0.0 Ok: queued\r\n';
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) break;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') {
        out += `250-${HOST}\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n${secure ? '' : '250-STARTTLS\r\n'}250 SMTPUTF8\r\n`;
      } else if (verb === 'HELO') out += `250 ${HOST}\r\n`;
      else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') out += '250 2.0.0 Ok\r\n';
      else if (verb === 'DATA') {
        inData = true;
        // A data end right after DATA's CRLF ("\r\n.\r\n" needs the CRLF before the dot).
        buf = `\r\n${buf}`;
        out += '354 End data with <CR><LF>.<CR><LF>\r\n';
      } else if (verb === 'STAR' && !secure) {
        sock.write(out + '220 2.0.0 Ready to start TLS\r\n');
        out = '';
        sock.removeListener('data', onData);
        buf = '';
        const t = new tls.TLSSocket(raw, { isServer: true, secureContext });
        t.on('error', () => raw.destroy());
        t.on('data', onData);
        sock = t;
        secure = true;
        return;
      } else if (verb === 'QUIT') {
        sock.end(out + '221 2.0.0 Bye\r\n');
        return;
      } else out += '502 5.5.2 Error: command not recognized\r\n';
    }
    if (out) sock.write(out);
  };
  raw.on('data', onData);
  raw.on('error', () => raw.destroy());
  sock.write(`220 ${HOST} ESMTP bench sink\r\n`);
}

let listening = 0;
for (const a of addresses) {
  const server = net.createServer(session);
  server.listen({ host: a, port: Number(portArg), backlog: 1000 }, () => {
    if (++listening === addresses.length) process.stdout.write('ready\n');
  });
}
process.on('SIGTERM', () => process.exit(0));
