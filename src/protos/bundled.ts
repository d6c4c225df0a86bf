/** longrun's own .proto files, every app loads them; a module of its own so the CLI's client commands need not load the server. */
export const BUNDLED_PROTO_FILES = [
  'google/longrunning/operations.proto',
  'google/rpc/error_details.proto',
  'longrun/testing/v1/sleeper.proto',
  'longrun/v1/watcher.proto',
  'longrun/v1/bulk.proto',
];
