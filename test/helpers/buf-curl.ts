/** `buf curl` over gRPC with HTTP/2 prior knowledge: a person at a terminal, through reflection. */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const bufBin = join(dirname(createRequire(import.meta.url).resolve('@bufbuild/buf/package.json')), 'bin', 'buf');

/** The last of `args` is the path after the address (a method, or '' with --list-methods). */
export function bufCurl(address: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(bufBin, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args.slice(0, -1), `http://${address}/${args.at(-1)}`],
      { timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** `buf curl` over gRPC to a full URL (e.g. https:// with --cacert/--cert/--key); the last of `args` is the URL. */
export function bufCurlUrl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(bufBin, ['curl', '--protocol', 'grpc', ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}
