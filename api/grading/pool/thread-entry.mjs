// Entry of a grading worker thread: loads the TypeScript through tsx's API (see
// api/sandbox/quickjs/thread-entry.mjs for why not execArgv).
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker-thread.ts', import.meta.url);
