/** Serves the gateway on its own port: node:http, or node:https when given TLS (mTLS with a client CA). */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from './gateway.js';

/** TLS as PEM, as for gRPC's `listen`. */
export interface HttpTlsOptions {
  cert: Buffer | string;
  key: Buffer | string;
  /** CA certificates client certificates must chain to; when given, every client must present one. */
  clientCa?: Buffer | string;
}

export interface HttpListenOptions {
  /** Default: 127.0.0.1. */
  host?: string;
  /** Default: 0 (any free port; see `url`). */
  port?: number;
  tls?: HttpTlsOptions;
}

export interface HttpServer {
  /** `http://HOST:PORT` (or https). */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops accepting connections, lets requests in flight finish for `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export async function listenHttp(handler: RequestHandler, options: HttpListenOptions = {}): Promise<HttpServer> {
  const host = options.host ?? '127.0.0.1';
  const tls = options.tls;
  const server: Server =
    tls === undefined
      ? createHttpServer(handler)
      : (createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa !== undefined && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          handler,
        ) as unknown as Server);
  // Longer than Node's 5 s default, so that a client (or a load balancer, which typically keeps
  // idle connections for 60 s) rarely reuses a connection the server is closing at that moment.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    server,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
