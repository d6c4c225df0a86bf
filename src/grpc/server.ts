/**
 * Puts longrun on a grpc-js server: google.longrunning.Operations, the services of declared
 * long-running methods, server reflection and the standard health service.
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { MethodTable } from '../methods/table.js';
import type { Telemetry } from '../observe/telemetry.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { DESCRIPTOR_SET_PATH, LOADER_OPTIONS, PROTO_DIR } from '../protos/paths.js';
import type { TypeRegistry } from '../protos/registry.js';
import { serviceImplementation } from './methods.js';
import { operationsHandlers } from './operations.js';
import { addReflection, descriptorSetFromProtoFiles, healthDescriptorSet } from './reflection.js';

export const OPERATIONS_SERVICE = 'google.longrunning.Operations';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface GrpcParts {
  service: OperationsService;
  methods: MethodTable;
  registry: TypeRegistry;
  logger: Logger;
  telemetry: Telemetry;
  /** Every .proto file loaded (longrun's and the app's), relative to the include dirs. */
  protoFiles: readonly string[];
  /** The app's include dirs (longrun's own proto/ is implied). */
  includeDirs: readonly string[];
  /** Principal of unauthenticated callers. */
  principal: string;
}

export interface AddToServerOptions {
  /** Serve grpc.reflection (v1 and v1alpha) for grpcurl and buf curl (default: true). */
  reflection?: boolean;
  /** Serve grpc.health.v1.Health (default: true). */
  health?: boolean;
  /** Your own handlers for other (not long-running) methods of services longrun serves, by service name. */
  implementations?: Record<string, UntypedServiceImplementation>;
}

export interface ServedLongrun {
  /** Set to NOT_SERVING while shutting down, if health is on. */
  health?: HealthImplementation;
  services: string[];
}

export function addToServer(server: Server, parts: GrpcParts, options: AddToServerOptions = {}): ServedLongrun {
  const definition = loadSync([...parts.protoFiles], { ...LOADER_OPTIONS, includeDirs: [...parts.includeDirs, PROTO_DIR] });
  const caller: Caller = { principal: parts.principal };
  const deps = { ...parts, callerOf: () => caller };
  server.addService(serviceDefinition(definition, OPERATIONS_SERVICE), operationsHandlers(deps) as UntypedServiceImplementation);
  const services = [OPERATIONS_SERVICE];
  for (const name of parts.methods.services()) {
    const implementation = serviceImplementation(deps, name, parts.registry.methodsOf(name), options.implementations?.[name]);
    server.addService(serviceDefinition(definition, name), implementation);
    services.push(name);
  }
  const health = options.health ?? true;
  if (options.reflection ?? true) {
    const longrunSet = readFileSync(DESCRIPTOR_SET_PATH);
    // Files longrun's prebuilt set already describes are skipped, so only the app's are described here.
    const sets = [longrunSet, descriptorSetFromProtoFiles(parts.protoFiles, parts.includeDirs, longrunSet)];
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

/** Binds `host:port` (0 = any free port) and resolves with the bound port. */
export function listen(server: Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
}

/** Stops accepting calls, lets running ones finish for `graceMs`, then cuts the rest. */
export async function shutdown(server: Server, graceMs: number): Promise<void> {
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

/** Receive limit for one message; large enough for any request longrun's methods take. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

export function createServer(): Server {
  return new Server({ 'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES });
}
