/** `buf curl` over gRPC with HTTP/2 prior knowledge: a person at a terminal, through reflection. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { runChild } from './children.js';

const bufBin = join(dirname(createRequire(import.meta.url).resolve('@bufbuild/buf/package.json')), 'bin', 'buf');

/** The last of `args` is the path after the address (a method, or '' with --list-methods). */
export function bufCurl(address: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return bufCurlUrl(['--http2-prior-knowledge', ...args.slice(0, -1), `http://${address}/${args.at(-1)}`]);
}

/** `buf curl` over gRPC to a full URL (e.g. https:// with --cacert/--cert/--key); the last of `args` is the URL. */
export async function bufCurlUrl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runChild(bufBin, ['curl', '--protocol', 'grpc', ...args]);
  return { code: code ?? 1, stdout, stderr };
}
