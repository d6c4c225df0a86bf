/**
 * Server reflection: descriptor sets built at run time match what `buf build` makes of the same
 * files, and a real server answers `buf curl` (the client PITFALLS.md names) through reflection,
 * including decoding Anys whose types only reflection can tell it.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { HealthImplementation } from 'grpc-health-check';
import { addReflection, healthDescriptorSet } from '../../src/grpc/reflection.js';
import { descriptorSetFromProtoFiles } from '../../src/protos/compile.js';
import { DESCRIPTOR_SET_PATH, LOADER_OPTIONS, PACKAGE_ROOT, PROTO_DIR } from '../../src/protos/paths.js';
import { runChild } from '../helpers/children.js';

/** Runs a command to its end; its output, or a failure with it unless it exits 0. */
async function run(command: string, args: string[], options: { cwd?: string; timeout?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const result = await runChild(command, args, { ...(options.cwd !== undefined && { cwd: options.cwd }), timeoutMs: options.timeout ?? 60_000 });
  assert.equal(result.code, 0, `${command} ${args.join(' ')}\n${result.stderr}${result.stdout}`);
  return result;
}
const BUF = join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf');
const PROTOBUFJS_DIR = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

/** An embedding app's protos, using what a runtime description must get right. */
const APP_FILES: Record<string, string> = {
  'acme/widgets/v1/color.proto': `syntax = "proto3";
package acme.widgets.v1;
enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
}
`,
  'acme/widgets/v1/widgets.proto': `syntax = "proto3";
package acme.widgets.v1;
import "acme/widgets/v1/color.proto";
import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/longrunning/operations.proto";
import "google/protobuf/duration.proto";
option java_package = "com.acme.widgets.v1";
option java_multiple_files = true;
service Widgets {
  rpc MakeWidget(MakeWidgetRequest) returns (google.longrunning.Operation) {
    option (google.api.http) = {
      post: "/v1/{parent=shops/*}/widgets"
      body: "*"
      additional_bindings { post: "/v1/widgets" body: "*" }
    };
    option (google.longrunning.operation_info) = { response_type: "Widget" metadata_type: "WidgetMetadata" };
  }
  rpc WatchWidgets(stream MakeWidgetRequest) returns (stream Widget);
}
message MakeWidgetRequest {
  string parent = 1 [(google.api.field_behavior) = REQUIRED, (google.api.field_behavior) = IMMUTABLE];
  google.protobuf.Duration ttl = 2;
  Widget.Kind kind = 3;
  optional int32 count = 4;
  oneof source {
    string template = 5;
    Widget copy_of = 6;
  }
  reserved 7, 10 to 12;
  reserved "old_field";
}
message Widget {
  enum Kind {
    KIND_UNSPECIFIED = 0;
    BIG = 1;
    SMALL = 2 [deprecated = true];
  }
  message Part { string id = 1; }
  string name = 1;
  Kind kind = 2;
  Color color = 3;
  map<string, Part> parts_by_name = 4;
  repeated int64 sizes = 5 [packed = false];
  string display_name = 6 [json_name = "label"];
  bytes blob = 7 [deprecated = true];
}
message WidgetMetadata {
  int32 progress_percent = 1;
  map<int32, Widget.Kind> kinds = 2;
}
`,
};

function protoFilesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? protoFilesUnder(path) : path.endsWith('.proto') ? [path] : [];
  });
}

const OUR_FILES = protoFilesUnder(PROTO_DIR)
  .map((file) => relative(PROTO_DIR, file).split(sep).join('/'))
  .sort();

/** Decodes descriptor sets with every option extension known, so options compare too. */
function decoder(includeDirs: string[], files: string[]): (set: Uint8Array) => Map<string, unknown> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of [...includeDirs, PROTOBUFJS_DIR]) {
      const candidate = join(dir, target);
      try {
        statSync(candidate);
        return candidate;
      } catch {
        // next
      }
    }
    return target;
  };
  root.loadSync(['google/protobuf/descriptor.proto', ...files], { keepCase: true });
  root.resolveAll();
  const FileDescriptorSet = root.lookupType('google.protobuf.FileDescriptorSet');
  return (set) => {
    const object = FileDescriptorSet.toObject(FileDescriptorSet.decode(set), { enums: String, longs: String }) as { file: { name: string }[] };
    return new Map(object.file.map((file) => [file.name, normalise(file)]));
  };
}

/** Drops empty values (buf writes `options {}` for `rpc X(...) {}`) and orders nested messages by name. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const inner = normalise((value as Record<string, unknown>)[key]);
    if (inner === undefined || (Array.isArray(inner) && inner.length === 0) || (typeof inner === 'object' && inner !== null && Object.keys(inner).length === 0)) continue;
    out[key] = inner;
  }
  for (const key of ['nested_type', 'nestedType']) {
    const nested = out[key];
    if (Array.isArray(nested)) nested.sort((a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1));
  }
  return out;
}

function assertSameFiles(runtime: Map<string, unknown>, built: Map<string, unknown>, names: string[]): void {
  assert.ok(names.length > 0);
  for (const name of names) {
    assert.ok(runtime.has(name), `runtime set lacks ${name}`);
    assert.ok(built.has(name), `buf set lacks ${name}`);
    assert.deepEqual(runtime.get(name), built.get(name), `${name}: runtime description differs from buf's`);
  }
}

describe('descriptorSetFromProtoFiles', { timeout: 180_000 }, () => {
  let appDir: string;
  before(() => {
    appDir = mkdtempSync(join(tmpdir(), 'longrun-reflection-'));
    for (const [name, text] of Object.entries(APP_FILES)) {
      mkdirSync(dirname(join(appDir, 'app', name)), { recursive: true });
      writeFileSync(join(appDir, 'app', name), text);
    }
  });
  after(() => rmSync(appDir, { recursive: true, force: true }));

  test('describes longrun\'s own protos exactly as buf build does', () => {
    const decode = decoder([PROTO_DIR], OUR_FILES);
    const runtime = decode(descriptorSetFromProtoFiles(OUR_FILES, []));
    const built = decode(readFileSync(DESCRIPTOR_SET_PATH));
    assert.deepEqual([...runtime.keys()].sort(), OUR_FILES, 'the runtime set holds our files and no well-known types');
    assertSameFiles(runtime, built, OUR_FILES);
  });

  test('describes an app\'s protos (maps, oneofs, optional, reserved, custom options) as buf build does', async () => {
    cpSync(PROTO_DIR, join(appDir, 'longrun'), { recursive: true });
    writeFileSync(join(appDir, 'buf.yaml'), 'version: v2\nmodules:\n  - path: app\n  - path: longrun\n');
    await run(BUF, ['build', '--exclude-source-info', '-o', join(appDir, 'built.binpb')], { cwd: appDir });
    const names = Object.keys(APP_FILES);
    const decode = decoder([join(appDir, 'app'), PROTO_DIR], names);
    const set = descriptorSetFromProtoFiles(['acme/widgets/v1/widgets.proto'], [join(appDir, 'app')], readFileSync(DESCRIPTOR_SET_PATH));
    const runtime = decode(set);
    assert.deepEqual([...runtime.keys()].sort(), names, 'imports are included, files `known` already describes are not');
    assertSameFiles(runtime, decode(readFileSync(join(appDir, 'built.binpb'))), names);
  });

  // Why descriptorSetFromProtoFiles exists (see its comment): the maintained alternative, protobufjs's
  // own ext/descriptor, does not describe these files as protoc and buf do. Fails once it does.
  test('protobufjs/ext/descriptor still describes these protos unlike buf build', () => {
    const requireHere = createRequire(import.meta.url);
    // Adds Root#toDescriptor; its message types encode what it describes.
    const descriptor = requireHere('protobufjs/ext/descriptor') as { MethodOptions: protobuf.Type };
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => [join(appDir, 'app'), PROTO_DIR, PROTOBUFJS_DIR].map((dir) => join(dir, target)).find((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    }) ?? target;
    root.loadSync(['google/protobuf/descriptor.proto', 'acme/widgets/v1/widgets.proto', 'google/rpc/error_details.proto'], { keepCase: true });
    root.resolveAll();
    type Described = {
      file: { name: string; package: string; dependency: string[]; messageType: { name: string; nestedType: { name: string }[]; field: { name: string; jsonName?: string }[] }[]; service: { method: { name: string; options?: object }[] }[] }[];
    };
    const set = (root as unknown as { toDescriptor(syntax: string): Described }).toDescriptor('proto3');
    const widgets = set.file.find((file) => file.package === 'acme.widgets.v1')!;
    // One file per package, named after it, where buf has one per .proto file with its imports.
    assert.deepEqual([widgets.name, widgets.dependency], ['acme_widgets_v1.proto', []]);
    // Custom options (google.api.http, operation_info) are dropped.
    const options = widgets.service[0]!.method.find((method) => method.name === 'MakeWidget')!.options;
    assert.equal(options === undefined ? 0 : descriptor.MethodOptions.encode(options).finish().length, 0);
    // Map entries are named after the field (Metadata), where protoc says MetadataEntry.
    const errorInfo = set.file.find((file) => file.package === 'google.rpc')!.messageType.find((message) => message.name === 'ErrorInfo')!;
    assert.deepEqual(errorInfo.nestedType.map((nested) => nested.name), ['Metadata']);
  });

  test('rejects editions files with a clear message', () => {
    const dir = join(appDir, 'editions');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'e.proto'), 'edition = "2023";\npackage e;\nmessage M { string s = 1; }\n');
    assert.throws(() => descriptorSetFromProtoFiles(['e.proto'], [dir]), /editions/);
  });
});

describe('addReflection', { timeout: 180_000 }, () => {
  let server: grpc.Server;
  let address: string;
  let appDir: string;

  before(async () => {
    appDir = mkdtempSync(join(tmpdir(), 'longrun-reflection-'));
    for (const [name, text] of Object.entries(APP_FILES)) {
      mkdirSync(dirname(join(appDir, name)), { recursive: true });
      writeFileSync(join(appDir, name), text);
    }
    const files = ['google/longrunning/operations.proto', 'longrun/testing/v1/sleeper.proto', 'acme/widgets/v1/widgets.proto'];
    const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [appDir, PROTO_DIR] });
    const types = new protobuf.Root();
    types.resolvePath = (_origin, target) => {
      for (const dir of [appDir, PROTO_DIR]) {
        try {
          statSync(join(dir, target));
          return join(dir, target);
        } catch {
          // next
        }
      }
      return target;
    };
    types.loadSync(files);
    const any = (typeName: string, value: Record<string, unknown>) => {
      const type = types.lookupType(typeName);
      // proto-loader keeps google.protobuf.Any's own field names: type_url, not typeUrl.
      return { type_url: `type.googleapis.com/${typeName}`, value: type.encode(type.fromObject(value)).finish() };
    };
    server = new grpc.Server();
    const operations = (grpc.loadPackageDefinition(definition) as unknown as { google: { longrunning: { Operations: grpc.ServiceClientConstructor } } }).google.longrunning.Operations;
    server.addService(operations.service, {
      GetOperation: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, {
          name: call.request.name,
          done: true,
          metadata: any('longrun.testing.v1.SleepMetadata', { progressPercent: 40, attempt: 2 }),
          response: any('acme.widgets.v1.Widget', { name: 'w1', partsByName: { wheel: { id: 'p1' } }, displayName: 'Wheel' }),
        }),
    });
    new HealthImplementation({ '': 'SERVING' }).addToServer(server);
    const ours = readFileSync(DESCRIPTOR_SET_PATH);
    addReflection(server, [ours, descriptorSetFromProtoFiles(['acme/widgets/v1/widgets.proto'], [appDir], ours), healthDescriptorSet()], {
      services: ['google.longrunning.Operations', 'acme.widgets.v1.Widgets', 'grpc.health.v1.Health'],
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    address = `http://127.0.0.1:${port}`;
  });

  after(() => {
    server.forceShutdown();
    rmSync(appDir, { recursive: true, force: true });
  });

  const curl = async (...args: string[]): Promise<string> =>
    (await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 20_000 })).stdout;

  test('buf curl lists the chosen services\' methods', async () => {
    for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
      const methods = (await curl('--reflect-protocol', protocol, '--list-methods', address)).trim().split('\n');
      assert.deepEqual(methods, [
        'acme.widgets.v1.Widgets/MakeWidget',
        'acme.widgets.v1.Widgets/WatchWidgets',
        'google.longrunning.Operations/CancelOperation',
        'google.longrunning.Operations/DeleteOperation',
        'google.longrunning.Operations/GetOperation',
        'google.longrunning.Operations/ListOperations',
        'google.longrunning.Operations/WaitOperation',
        'grpc.health.v1.Health/Check',
        'grpc.health.v1.Health/List',
        'grpc.health.v1.Health/Watch',
      ]);
    }
  });

  test('buf curl calls a method and decodes Anys of longrun\'s and the app\'s types', async () => {
    const reply = JSON.parse(await curl('-d', '{"name":"operations/x"}', `${address}/google.longrunning.Operations/GetOperation`)) as Record<string, unknown>;
    assert.deepEqual(reply, {
      name: 'operations/x',
      done: true,
      metadata: { '@type': 'type.googleapis.com/longrun.testing.v1.SleepMetadata', progressPercent: 40, attempt: 2 },
      response: { '@type': 'type.googleapis.com/acme.widgets.v1.Widget', name: 'w1', partsByName: { wheel: { id: 'p1' } }, label: 'Wheel' },
    });
  });

  test('buf curl calls the health service, described from grpc-health-check\'s proto', async () => {
    assert.deepEqual(JSON.parse(await curl('-d', '{}', `${address}/grpc.health.v1.Health/Check`)), { status: 'SERVING' });
  });
});
