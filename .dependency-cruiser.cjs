/**
 * Which way imports may point in src/ (`npm run lint:deps`, a step of .ci/run). The layering is
 * /work/shared/STYLE.md's "shape of the house", as the code has it (low to high):
 *
 *   gen <- domain <- protos, store <- methods, observe <- operations, runner <- auth, callbacks
 *     <- grpc, http <- app <- index (the public API) <- vision, sleeper (apps on that API) <- cli
 *
 * log.ts, defaults.ts and config.ts are leaves anyone may use. Folders on one level do not import each other
 * (grpc and http; operations and runner; the two store backends): a folder that needs something
 * from a sibling or a higher one has found a missing seam.
 */
const LOWER_THAN_TRANSPORTS = '^src/(domain|protos|store|methods|observe|operations|runner|auth|callbacks)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Import cycles hide the direction of a dependency. Cycles of types alone are let be (each migration takes its ' +
        "Migration type from the index that lists it; released migrations are frozen), and so are gen/'s recursive messages.",
      from: { pathNot: '^src/gen/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'domain/ is the pure core: no other src folder, no I/O, no grpc, no SQL.',
      from: { path: '^src/domain/' },
      to: { pathNot: ['^src/(domain|gen)/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'domain-no-io',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { dependencyTypes: ['core'], path: '^(fs|net|http|http2|https|child_process|worker_threads|dgram|tls)$' },
    },
    {
      name: 'protos-and-store-on-domain',
      severity: 'error',
      comment: 'protos/ and store/ build on domain/ (and gen/) only.',
      from: { path: '^src/(protos|store)/' },
      to: { path: '^src/', pathNot: ['^src/(domain|gen|protos|store)/', '^src/(log|defaults)\\.ts$'] },
    },
    { name: 'protos-not-store', severity: 'error', from: { path: '^src/protos/' }, to: { path: '^src/store/' } },
    { name: 'store-not-protos', severity: 'error', from: { path: '^src/store/' }, to: { path: '^src/protos/' } },
    {
      name: 'store-backends-apart',
      severity: 'error',
      comment: 'One backend per folder; what both share lives in store/sql/.',
      from: { path: '^src/store/(sqlite|sql)/' },
      to: { path: '^src/store/postgres/' },
    },
    { name: 'store-backends-apart-2', severity: 'error', from: { path: '^src/store/(postgres|sql)/' }, to: { path: '^src/store/sqlite/' } },
    {
      name: 'methods-observe-below-services',
      severity: 'error',
      from: { path: '^src/(methods|observe)/' },
      to: { path: '^src/(operations|runner|auth|callbacks|grpc|http|app\\.ts|index\\.ts|vision|sleeper|cli)' },
    },
    { name: 'operations-runner-apart', severity: 'error', from: { path: '^src/operations/' }, to: { path: '^src/runner/' } },
    { name: 'runner-operations-apart', severity: 'error', from: { path: '^src/runner/' }, to: { path: '^src/operations/' } },
    {
      name: 'services-below-auth-callbacks',
      severity: 'error',
      from: { path: '^src/(domain|protos|store|methods|observe|operations|runner)/' },
      to: { path: '^src/(auth|callbacks)/' },
    },
    {
      name: 'transports-at-the-edge',
      severity: 'error',
      comment: 'Only the composition (app, index, cli) reaches the transports.',
      from: { path: LOWER_THAN_TRANSPORTS },
      to: { path: '^src/(grpc|http)/' },
    },
    { name: 'grpc-not-http', severity: 'error', from: { path: '^src/grpc/' }, to: { path: '^src/http/' } },
    { name: 'http-not-grpc', severity: 'error', from: { path: '^src/http/' }, to: { path: '^src/grpc/' } },
    {
      name: 'only-the-composition-imports-app',
      severity: 'error',
      comment: 'Nothing imports app but the public API (index.ts, which re-exports it) and cli/.',
      from: { path: '^src/', pathNot: '^src/(index\\.ts|cli/)' },
      to: { path: '^src/app\\.ts$' },
    },
    {
      name: 'apps-on-the-public-api',
      severity: 'error',
      comment: 'vision/ and sleeper/ are written against the public API, as an embedding app would.',
      from: { path: '^src/vision/' },
      to: { path: '^src/', pathNot: ['^src/index\\.ts$', '^src/vision/'] },
    },
    { name: 'apps-on-the-public-api-2', severity: 'error', from: { path: '^src/sleeper/' }, to: { path: '^src/', pathNot: ['^src/index\\.ts$', '^src/sleeper/'] } },
    {
      name: 'nothing-imports-the-apps',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|vision|sleeper)/' },
      to: { path: '^src/(vision|sleeper)/' },
    },
    { name: 'nothing-imports-cli', severity: 'error', from: { path: '^src/', pathNot: '^src/cli/' }, to: { path: '^src/cli/' } },
    { name: 'leaves-stay-leaves', severity: 'error', comment: 'log.ts and config.ts are used by all, so use nothing above domain.', from: { path: '^src/(log|config)\\.ts$' }, to: { path: '^src/', pathNot: ['^src/(log|config)\\.ts$', '^src/domain/'] } },
    {
      name: 'grpc-js-only-in-grpc',
      severity: 'error',
      comment: 'grpc/ is the only place that imports grpc-js and proto-loader (the public Longrun class in longrun.ts takes a grpc-js Server to add services onto).',
      from: { path: '^src/', pathNot: ['^src/(grpc|gen)/', '^src/longrun\\.ts$'] },
      to: { path: '^node_modules/@grpc/(grpc-js|proto-loader|reflection)/' },
    },
    {
      name: 'sql-only-in-store',
      severity: 'error',
      comment: 'Handlers and transports never touch SQL.',
      from: { path: '^src/', pathNot: '^src/store/' },
      to: { path: '^node_modules/(pg|better-sqlite3)/' },
    },
    { name: 'src-not-test', severity: 'error', from: { path: '^src/' }, to: { path: '^(test|scripts)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type is a dependency of the design even when tsc erases it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], mainFields: ['module', 'main', 'types', 'typings'] },
  },
};
