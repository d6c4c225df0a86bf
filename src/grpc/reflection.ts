/**
 * Server reflection (grpc.reflection v1 and v1alpha) over real FileDescriptorSets, so grpcurl and
 * `buf curl` can list, describe and call every method, and decode every type in an Any.
 *
 * Why not @grpc/reflection's ReflectionService: it derives a file's dependencies from the types
 * the file references and misses imports used only by options and extensions (google/api/*,
 * descriptor.proto), so clients receive incomplete file sets and fail with "failed to find
 * service named ... in schema". Here a file's dependencies are its declared imports. The service
 * contract itself (reflection.proto) is the one @grpc/reflection ships.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server, ServerDuplexStream, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { TypeRegistry } from '../protos/registry.js';

interface DescribedMessage {
  name: string;
  nestedType?: DescribedMessage[];
  enumType?: { name: string }[];
  extension?: DescribedExtension[];
}
interface DescribedExtension {
  extendee: string;
  number: number;
}
interface DescribedFile extends DescribedMessage {
  package?: string;
  dependency?: string[];
  messageType?: DescribedMessage[];
  service?: { name: string; method?: { name: string }[] }[];
}

const descriptors = descriptor as unknown as { FileDescriptorSet: protobuf.Type; FileDescriptorProto: protobuf.Type };
const reflectionProtos = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto');

interface ReflectionRequest {
  host: string;
  message_request?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type: string; extension_number: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

class ReflectionIndex {
  private readonly files = new Map<string, { proto: DescribedFile; bytes: Uint8Array }>();
  private readonly symbols = new Map<string, string>();
  private readonly extensions = new Map<string, Map<number, string>>();
  readonly services: string[] = [];

  constructor(descriptorSets: readonly Uint8Array[]) {
    for (const set of descriptorSets) {
      const decoded = descriptors.FileDescriptorSet.decode(set) as unknown as { file: (DescribedFile & protobuf.Message)[] };
      for (const file of decoded.file) {
        if (this.files.has(file.name)) continue;
        this.files.set(file.name, { proto: file, bytes: descriptors.FileDescriptorProto.encode(file).finish() });
        this.index(file);
      }
    }
  }

  answer(request: ReflectionRequest): Record<string, unknown> {
    const base = { valid_host: request.host, original_request: request };
    try {
      switch (request.message_request) {
        case 'list_services':
          return { ...base, list_services_response: { service: this.services.map((name) => ({ name })) } };
        case 'file_by_filename':
          return { ...base, file_descriptor_response: this.withDependencies(request.file_by_filename!) };
        case 'file_containing_symbol': {
          const file = this.symbols.get(request.file_containing_symbol!.replace(/^\./, ''));
          if (file === undefined) throw new Error(`symbol not found: ${request.file_containing_symbol}`);
          return { ...base, file_descriptor_response: this.withDependencies(file) };
        }
        case 'file_containing_extension': {
          const { containing_type: type, extension_number: number } = request.file_containing_extension!;
          const file = this.extensions.get(type.replace(/^\./, ''))?.get(number);
          if (file === undefined) throw new Error(`extension ${number} of ${type} not found`);
          return { ...base, file_descriptor_response: this.withDependencies(file) };
        }
        case 'all_extension_numbers_of_type': {
          const type = request.all_extension_numbers_of_type!.replace(/^\./, '');
          return {
            ...base,
            all_extension_numbers_response: { base_type_name: type, extension_number: [...(this.extensions.get(type)?.keys() ?? [])] },
          };
        }
        default:
          return { ...base, error_response: { error_code: 12, error_message: `unsupported request ${request.message_request}` } };
      }
    } catch (error) {
      return { ...base, error_response: { error_code: 5, error_message: (error as Error).message } };
    }
  }

  /** The file and, transitively, every file it imports. */
  private withDependencies(name: string): { file_descriptor_proto: Uint8Array[] } {
    if (!this.files.has(name)) throw new Error(`file not found: ${name}`);
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file) || !this.files.has(file)) return;
      seen.add(file);
      for (const dependency of this.files.get(file)!.proto.dependency ?? []) visit(dependency);
    };
    visit(name);
    return { file_descriptor_proto: [...seen].map((file) => this.files.get(file)!.bytes) };
  }

  private index(file: DescribedFile): void {
    const prefix = file.package ? `${file.package}.` : '';
    const add = (symbol: string) => this.symbols.set(symbol, file.name);
    const addExtensions = (extensions: DescribedExtension[] | undefined) => {
      for (const extension of extensions ?? []) {
        const extendee = extension.extendee.replace(/^\./, '');
        if (!this.extensions.has(extendee)) this.extensions.set(extendee, new Map());
        this.extensions.get(extendee)!.set(extension.number, file.name);
      }
    };
    const addMessage = (scope: string, message: DescribedMessage) => {
      const name = `${scope}${message.name}`;
      add(name);
      for (const nested of message.nestedType ?? []) addMessage(`${name}.`, nested);
      for (const nested of message.enumType ?? []) add(`${name}.${nested.name}`);
      addExtensions(message.extension);
    };
    for (const message of file.messageType ?? []) addMessage(prefix, message);
    for (const enumType of file.enumType ?? []) add(`${prefix}${enumType.name}`);
    addExtensions(file.extension);
    for (const service of file.service ?? []) {
      add(`${prefix}${service.name}`);
      this.services.push(`${prefix}${service.name}`);
      for (const method of service.method ?? []) add(`${prefix}${service.name}.${method.name}`);
    }
  }
}

/** Serves reflection over the union of `descriptorSets` (the first set wins for a file name). */
export function addReflection(server: Server, descriptorSets: readonly Uint8Array[]): void {
  const index = new ReflectionIndex(descriptorSets);
  for (const version of ['v1', 'v1alpha']) {
    const definition = loadSync(join(reflectionProtos, 'grpc', 'reflection', version, 'reflection.proto'), {
      keepCase: true,
      oneofs: true,
      defaults: true,
      longs: String,
    });
    const service = definition[`grpc.reflection.${version}.ServerReflection`] as ServiceDefinition;
    server.addService(service, {
      ServerReflectionInfo: (stream: ServerDuplexStream<ReflectionRequest, unknown>) => {
        stream.on('data', (request: ReflectionRequest) => stream.write(index.answer(request)));
        stream.on('end', () => stream.end());
      },
    });
  }
}

/**
 * Describes an app's own .proto files at run time. Packages that `base` (longrun's set) already
 * describes are left out, and every new file imports all of `base`'s files so references resolve.
 */
export function descriptorSetFromProtoFiles(files: readonly string[], includeDirs: readonly string[], base: Uint8Array): Uint8Array {
  const known = (descriptors.FileDescriptorSet.decode(base) as unknown as { file: DescribedFile[] }).file;
  const knownPackages = new Set(known.map((file) => file.package ?? ''));
  const root = new TypeRegistry(files, includeDirs).root as protobuf.Root & { toDescriptor(syntax: string): protobuf.Message };
  const set = root.toDescriptor('proto3') as unknown as { file: DescribedFile[] };
  const own = set.file.filter((file) => !knownPackages.has(file.package ?? ''));
  const ownNames = own.map((file) => file.name);
  for (const file of own) {
    file.dependency = [...known.map((k) => k.name), ...ownNames.filter((name) => name !== file.name)];
  }
  return descriptors.FileDescriptorSet.encode(descriptors.FileDescriptorSet.create({ file: own })).finish();
}
