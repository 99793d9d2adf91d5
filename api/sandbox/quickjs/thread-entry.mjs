// Entry of a sandbox worker thread. Node starts worker threads without the parent's module
// hooks (tsx's register() in bin/cir.mjs, vitest's transform), and `--import tsx` in execArgv
// would resolve tsx from the working directory, so the TypeScript is loaded through tsx's API,
// which scopes its loader to this import graph and works under `tsx`, `node --import tsx`,
// bin/cir.mjs and vitest alike.
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker-thread.ts', import.meta.url);
