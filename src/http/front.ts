/**
 * `longrun.http`: what an embedding app calls to serve the REST form, either on a port of its own
 * (`listen`) or as a `(req, res)` handler mounted in its own node:http server (`handler`).
 */
import { Gateway, type GatewayOptions, type GatewayParts, type RequestHandler } from './gateway.js';
import { listenHttp, type HttpListenOptions, type HttpServer } from './server.js';

export interface HttpServeOptions extends GatewayOptions, HttpListenOptions {}

export class HttpFront {
  private readonly servers: HttpServer[] = [];

  /** `parts` is called when the first gateway is made, after the app has declared its methods. */
  constructor(private readonly parts: () => GatewayParts) {}

  /** A gateway over this Longrun: its `handler`, `routes` and `openApi()`. */
  gateway(options: GatewayOptions = {}): Gateway {
    return new Gateway(this.parts(), options);
  }

  /** A `(req, res)` handler to mount in your own node:http server. */
  handler(options: GatewayOptions = {}): RequestHandler {
    return this.gateway(options).handler;
  }

  /**
   * Serves the gateway on `host:port` (port 0: any free port; see `url`). Closed by `Longrun.stop()`.
   * `host` is one of the names it answers to, with `allowedHosts`.
   */
  async listen(options: HttpServeOptions = {}): Promise<HttpServer> {
    const allowedHosts = [...(options.allowedHosts ?? []), ...(options.host === undefined ? [] : [options.host])];
    const server = await listenHttp(this.handler({ ...options, allowedHosts }), options);
    this.servers.push(server);
    return server;
  }

  /** Closes every server `listen` opened. */
  async close(graceMs?: number): Promise<void> {
    await Promise.all(this.servers.splice(0).map((server) => server.close(graceMs)));
  }
}
