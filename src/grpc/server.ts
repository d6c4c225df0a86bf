/**
 * Puts longrun on a grpc-js server: google.longrunning.Operations, longrun.v1.Watcher (progress
 * streams), the services of declared long-running methods, server reflection and the standard
 * health service.
 */
import { Server, ServerCredentials, setLogger, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import { Authenticator, type AuthOptions } from '../auth/authenticator.js';
import type { Logger } from '../log.js';
import type { MethodTable } from '../methods/table.js';
import type { Telemetry } from '../observe/telemetry.js';
import type { Caller, OperationsService } from '../operations/service.js';
import type { TypeRegistry } from '../protos/registry.js';
import { callContextOf, callInterceptor } from './interceptor.js';
import { serviceImplementation } from './methods.js';
import { MalformedRequest } from './unary.js';
import { operationsHandlers } from './operations.js';
import { WATCHER_SERVICE, watcherHandlers } from './watch.js';
import { packageDefinitionOf } from './definitions.js';
import { addReflection, healthDescriptorSet } from './reflection.js';

export const OPERATIONS_SERVICE = 'google.longrunning.Operations';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface GrpcParts {
  service: OperationsService;
  methods: MethodTable;
  registry: TypeRegistry;
  logger: Logger;
  telemetry: Telemetry;
  /** The caller of every call when `auth` is not given (the one principal of an open server). */
  caller: Caller;
}

export interface AddToServerOptions {
  /** Serve grpc.reflection (v1 and v1alpha) for grpcurl and buf curl (default: true). */
  reflection?: boolean;
  /** Serve grpc.health.v1.Health (default: true). */
  health?: boolean;
  /** Serve longrun.v1.Watcher, the progress stream (default: true). */
  watcher?: boolean;
  /** Your own handlers for other (not long-running) methods of services longrun serves, by service name. */
  implementations?: Record<string, UntypedServiceImplementation>;
  /**
   * Require credentials on google.longrunning.Operations, longrun.v1.Watcher and the declared long-running methods
   * (default: none; every call is `Longrun.caller`). Reflection, health and your own
   * `implementations` are not checked.
   */
  auth?: AuthOptions;
}

/** TLS for `listen`, as PEM. */
export interface TlsOptions {
  cert: Buffer | string;
  key: Buffer | string;
  /** CA certificates that client certificates must chain to; when given, every client must present one (mTLS). */
  clientCa?: Buffer | string;
}

export interface ListenOptions {
  /** Serve TLS instead of plaintext (default: plaintext). */
  tls?: TlsOptions;
}

export interface ServedLongrun {
  /** Set to NOT_SERVING while shutting down, if health is on. */
  health?: HealthImplementation;
  services: string[];
}

export function addToServer(server: Server, parts: GrpcParts, options: AddToServerOptions = {}): ServedLongrun {
  // grpc-js, reflection and the registry are fed from the same set (src/protos/schema.ts).
  const schema = parts.registry.schema;
  const definition = packageDefinitionOf(schema);
  const identify = callerOfCalls(parts.caller, options.auth);
  const callerOf = (call: ServerUnaryCall<unknown, unknown>): Caller => {
    const caller = identify(call);
    callContextOf(call).principal = caller.principal;
    return caller;
  };
  const deps = { ...parts, callerOf };
  server.addService(
    tolerantDefinition(serviceDefinition(definition, OPERATIONS_SERVICE)),
    operationsHandlers(deps) as UntypedServiceImplementation,
  );
  const services = [OPERATIONS_SERVICE];
  if (options.watcher ?? true) {
    server.addService(
      tolerantDefinition(serviceDefinition(definition, WATCHER_SERVICE)),
      watcherHandlers(deps) as unknown as UntypedServiceImplementation,
    );
    services.push(WATCHER_SERVICE);
  }
  for (const name of parts.methods.services()) {
    const implementation = serviceImplementation(deps, name, parts.registry.methodsOf(name), options.implementations?.[name]);
    // The app's own implementations get requests exactly as grpc-js decodes them.
    const own = Object.keys(options.implementations?.[name] ?? {});
    // A declared method's request is parsed straight into the message create stores (once).
    const parse = (path: string) => {
      const declared = parts.methods.get(path);
      return declared === undefined ? undefined : (bytes: Buffer) => parts.registry.parseBytes(declared.info.requestType, bytes);
    };
    server.addService(tolerantDefinition(serviceDefinition(definition, name), own, parse), implementation);
    services.push(name);
  }
  const health = options.health ?? true;
  if (options.reflection ?? true) {
    const sets = [schema.set];
    if (health) sets.push(healthDescriptorSet());
    // Only what is served is listed; the built-in Sleeper's types stay describable when it is off.
    addReflection(server, sets, { services: health ? [...services, HEALTH_SERVICE] : services });
  }
  const served: ServedLongrun = { services };
  if (health) {
    const statuses: ServingStatusMap = { '': 'SERVING' };
    for (const name of services) statuses[name] = 'SERVING';
    served.health = new HealthImplementation(statuses);
    served.health.addToServer(server);
  }
  return served;
}

function callerOfCalls(open: Caller, auth: AuthOptions | undefined): (call: ServerUnaryCall<unknown, unknown>) => Caller {
  if (auth === undefined) return () => open;
  const authenticator = new Authenticator(auth);
  // Once per call: the handler and the call's log line both ask.
  const known = new WeakMap<ServerUnaryCall<unknown, unknown>, Caller>();
  return (call) => {
    let caller = known.get(call);
    if (caller === undefined) {
      const [authorization] = call.metadata.get(AUTHORIZATION_HEADER);
      caller = authenticator.authenticate({
        authorization: authorization === undefined ? undefined : String(authorization),
        // grpc-js only reports a certificate that the handshake verified against the client CA.
        certificateSubject: () => call.getAuthContext().sslPeerCertificate?.subject?.CN,
      });
      known.set(call, caller);
    }
    return caller;
  };
}

const AUTHORIZATION_HEADER = 'authorization';

/**
 * Binds `host:port` (0 = any free port) and resolves with the bound port. A failure rejects as
 * node:net's `listen` would: an Error with `code` (EADDRINUSE, EADDRNOTAVAIL, EACCES...),
 * `syscall: 'listen'`, `address` and `port`, instead of grpc-js's "No address added out of total
 * N resolved" with the reasons folded into its message.
 */
export function listen(server: Server, host: string, port: number, options: ListenOptions = {}): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const credentials =
    options.tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(
          options.tls.clientCa === undefined ? null : Buffer.from(options.tls.clientCa),
          [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }],
          // With a client CA, a client without a certificate it signed is refused at the handshake.
          options.tls.clientCa !== undefined,
        );
  const binding = new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(listenErrorOf(error, host, port)) : resolve(bound))),
  );
  const pending = binding.then(
    () => undefined,
    () => undefined,
  );
  binds.set(server, [...(binds.get(server) ?? []), pending]);
  return binding;
}

/**
 * Binds in progress per server. grpc-js shuts a server down without waiting for them, and a bind
 * that completes afterwards stays listening with nothing to close it: `shutdown` waits for them.
 */
const binds = new WeakMap<Server, Promise<void>[]>();

/** grpc-js's bind failure as node:net's errno error; the first resolved address's reason wins. */
function listenErrorOf(error: Error, host: string, port: number): Error {
  if ((error as { code?: unknown }).code !== undefined) return error;
  // grpc-js: "No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:50051]"
  const reason = /errors: \[(?:listen|bind) ([A-Z]+): ([^,\]]*)/.exec(error.message);
  if (reason === null) return error;
  return Object.assign(new Error(`listen ${reason[1]}: ${reason[2]}`, { cause: error }), {
    code: reason[1],
    syscall: 'listen',
    address: host,
    port,
  });
}

/**
 * Sends grpc-js's own log lines to `logger` (its errors as warnings) instead of straight to
 * stderr. A failed bind is logged by grpc-js as an error and also rejects `listen`, which says it
 * better: that line goes to debug, so a taken port is reported once.
 */
export function logGrpcTo(logger: Logger): void {
  const text = (args: unknown[]) => args.map(String).join(' ');
  setLogger({
    error: (...args: unknown[]) => {
      const line = text(args);
      if (/No address added out of total \d+ resolved/.test(line)) logger.debug({ grpc: line }, 'grpc-js could not bind');
      else logger.warn({ grpc: line }, 'grpc-js');
    },
    info: (...args: unknown[]) => logger.info({ grpc: text(args) }, 'grpc-js'),
    debug: (...args: unknown[]) => logger.debug({ grpc: text(args) }, 'grpc-js'),
  });
}

/** Stops accepting calls, lets running ones finish for `graceMs`, then cuts the rest. */
export async function shutdown(server: Server, graceMs: number): Promise<void> {
  await Promise.all(binds.get(server) ?? []);
  binds.delete(server);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function serviceDefinition(definition: PackageDefinition, name: string): ServiceDefinition {
  const service = definition[name];
  if (service === undefined || 'format' in service) throw new Error(`${name} is not a service in the loaded protos`);
  return service as ServiceDefinition;
}

/**
 * The same service, with request decoding that cannot fail: bytes that are not a valid message
 * become a MalformedRequest, which `unary` answers with INVALID_ARGUMENT. grpc-js itself answers
 * a decoding failure with INTERNAL, which would blame the server for the client's bytes.
 */
function tolerantDefinition(
  service: ServiceDefinition,
  except: readonly string[] = [],
  decoderOf: (path: string) => ((bytes: Buffer) => unknown) | undefined = () => undefined,
): ServiceDefinition {
  const tolerant: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = decoderOf(method.path) ?? method.requestDeserialize;
    tolerant[name] = except.includes(name)
      ? method
      : {
          ...method,
          responseSerialize: encodedOnce(method.responseSerialize),
          requestDeserialize: (bytes: Buffer) => {
            try {
              return decode(bytes);
            } catch (error) {
              return new MalformedRequest(method.path, error);
            }
          },
        };
  }
  return tolerant;
}

/**
 * `serialize`, keeping the bytes of frozen messages (a finished operation's, see convert.ts) for
 * as long as the message lives: the poll of a finished operation is the call made most often.
 */
function encodedOnce(serialize: (value: unknown) => Buffer): (value: unknown) => Buffer {
  const encoded = new WeakMap<object, Buffer>();
  return (value) => {
    if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return serialize(value);
    let bytes = encoded.get(value);
    if (bytes === undefined) {
      bytes = serialize(value);
      encoded.set(value, bytes);
    }
    return bytes;
  };
}

/** Receive limit for one message; large enough for any request longrun's methods take. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * A grpc-js server with longrun's per-call interceptor (each call's context and record: see
 * interceptor.ts). Without channelz: nothing here serves it, and grpc-js's channelz bookkeeping
 * (call counters and a per-session lookup on every call) was paid for nothing.
 * An app that serves channelz makes its own Server and adds longrun to it (addToServer).
 */
export function createServer(): Server {
  return new Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.enable_channelz': 0,
    interceptors: [callInterceptor],
  });
}
