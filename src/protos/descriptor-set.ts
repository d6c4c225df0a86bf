/**
 * Serialized google.protobuf.FileDescriptorSets handled as bytes: their files are kept exactly as
 * built (a decode and re-encode could drop what the decoder does not know, such as custom options).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** The serialized FileDescriptorProtos of a set (field 1), untouched. */
export function filesOfSet(set: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}

/** FileDescriptorProto.name (field 1). */
export function fileName(file: Uint8Array): string {
  const name = stringsOf(file, 1)[0];
  if (name === undefined) throw new Error('a FileDescriptorProto in the descriptor set has no name');
  return name;
}

/** FileDescriptorProto.dependency (field 3): the names of the files it imports. */
function dependenciesOf(file: Uint8Array): string[] {
  return stringsOf(file, 3);
}

function stringsOf(message: Uint8Array, number: number): string[] {
  const reader = new BinaryReader(message);
  const found: string[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === number && wireType === WireType.LengthDelimited) found.push(reader.string());
    else reader.skip(wireType, field);
  }
  return found;
}

/** A serialized FileDescriptorSet of serialized FileDescriptorProtos. */
export function encodeSet(files: Iterable<Uint8Array>): Uint8Array {
  const writer = new BinaryWriter();
  for (const file of files) writer.tag(1, WireType.LengthDelimited).bytes(file);
  return writer.finish();
}

/** The union of `sets`, files de-duplicated by name; the first set to describe a file wins. */
export function mergeSets(sets: readonly Uint8Array[]): Uint8Array {
  return encodeSet(uniqueFiles(sets).values());
}

/**
 * The files of `sets` by name, each after the files it imports (as protoc writes a set, and as
 * @bufbuild/protobuf's createFileRegistry wants it); the first set to describe a file wins.
 */
export function uniqueFiles(sets: readonly Uint8Array[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const set of sets) {
    for (const file of filesOfSet(set)) {
      const name = fileName(file);
      if (!files.has(name)) files.set(name, file);
    }
  }
  const ordered = new Map<string, Uint8Array>();
  const visiting = new Set<string>(); // an import cycle (which protoc refuses) cannot loop here
  const visit = (name: string): void => {
    const file = files.get(name);
    if (file === undefined || ordered.has(name) || visiting.has(name)) return;
    visiting.add(name);
    for (const dependency of dependenciesOf(file)) visit(dependency);
    ordered.set(name, file);
  };
  for (const name of files.keys()) visit(name);
  return ordered;
}
