/**
 * Server reflection (grpc.reflection v1 and v1alpha), so grpcurl and `buf curl` can list, describe
 * and call every method and decode every type that travels in a google.protobuf.Any.
 *
 * Reflection serves the files of the schema's FileDescriptorSet exactly as they were built (longrun's
 * by `buf build`, an app's by src/protos/compile.ts or its own build), not as proto-loader re-derives
 * them through protobufjs: that merges each package into one file without imports and renames map
 * entry messages (`Metadata` where protoc says `MetadataEntry`), and Go's protodesc, used by buf curl
 * and grpcurl, rejects those ("failed to find service named ... in schema").
 * (@grpc/reflection still re-encodes each file, which drops custom options such as google.api.http
 * from what it serves; clients do not need them to call methods.)
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { handleBidiStreamingCall, MethodDefinition, Server, ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type * as GrpcReflection from '@grpc/reflection';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { descriptorSetFromProtoFiles } from '../protos/compile.js';
import { encodeSet, uniqueFiles } from '../protos/descriptor-set.js';

export interface ReflectionOptions {
  /**
   * Fully-qualified names of the services to list (default: every service in the sets). Types of
   * unlisted services can still be looked up by symbol.
   */
  services?: readonly string[];
}

/**
 * Serves reflection over the union of `descriptorSets` (serialized google.protobuf.FileDescriptorSet).
 * Files are de-duplicated by name and the first set wins, so pass longrun's set first. Throws if a
 * type referenced by a file is in none.
 */
export function addReflection(server: Pick<Server, 'addService'>, descriptorSets: readonly Uint8Array[], options: ReflectionOptions = {}): void {
  const files = uniqueFiles(descriptorSets);
  // Resolving the union checks that every reference resolves, so a missing import fails here, at
  // startup, instead of later in a client.
  createFileRegistry(fromBinary(FileDescriptorSetSchema, encodeSet(files.values())));
  // @grpc/reflection reads nothing of a package definition but its entries' fileDescriptorProtos.
  const asBuilt = [...files.values()].map((file) => Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  const definition = { files: { fileDescriptorProtos: asBuilt } } as unknown as PackageDefinition;
  // Loaded and built on the first reflection call, not at startup: @grpc/reflection indexes every
  // file and parses its own reflection.proto twice, about 80 ms of every server's start, and most
  // servers are never asked.
  let built: Map<string, ServedMethod> | undefined;
  const served = (path: string): ServedMethod => {
    if (built === undefined) {
      const found = new Map<string, ServedMethod>();
      const { ReflectionService } = createRequire(import.meta.url)('@grpc/reflection') as typeof GrpcReflection;
      const reflection = new ReflectionService(definition, options.services === undefined ? undefined : { services: [...options.services] });
      reflection.addToServer({
        addService(service: ServiceDefinition, implementation: UntypedServiceImplementation) {
          for (const [key, method] of Object.entries(service)) found.set(method.path, { method, handler: implementation[key]! });
        },
      });
      built = found;
    }
    const method = built.get(path);
    if (method === undefined) throw new Error(`@grpc/reflection serves no ${path}`);
    return method;
  };
  for (const version of REFLECTION_VERSIONS) {
    const path = `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;
    const method: MethodDefinition<unknown, unknown> = {
      path,
      requestStream: true,
      responseStream: true,
      originalName: 'serverReflectionInfo',
      requestSerialize: (value) => served(path).method.requestSerialize(value),
      requestDeserialize: (bytes) => served(path).method.requestDeserialize(bytes),
      responseSerialize: (value) => served(path).method.responseSerialize(value),
      responseDeserialize: (bytes) => served(path).method.responseDeserialize(bytes),
    };
    const handler: handleBidiStreamingCall<unknown, unknown> = (call) => (served(path).handler as handleBidiStreamingCall<unknown, unknown>)(call);
    server.addService({ ServerReflectionInfo: method }, { ServerReflectionInfo: handler });
  }
}

/** The reflection protocol versions @grpc/reflection serves, each one ServerReflectionInfo method. */
const REFLECTION_VERSIONS = ['v1', 'v1alpha'] as const;

interface ServedMethod {
  method: MethodDefinition<unknown, unknown>;
  handler: UntypedHandleCall;
}

let health: Uint8Array | undefined;

/**
 * Describes grpc.health.v1 from grpc-health-check's own health.proto (once per process), so servers
 * that serve the standard health service can make it callable through reflection too.
 */
export function healthDescriptorSet(): Uint8Array {
  if (health === undefined) {
    const dir = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto');
    health = descriptorSetFromProtoFiles(['health/v1/health.proto'], [dir]);
  }
  return health;
}
