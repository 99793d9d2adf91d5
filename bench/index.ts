/**
 * `npm run bench [-- suite ...]`: each suite measures our component and a baseline in the same
 * run and prints the ratio, because absolute figures on a shared 2-core machine are noise.
 */
const SUITES: Record<string, () => Promise<void>> = {
  sandbox: async () => (await import('./sandbox.ts')).benchSandbox(),
  python: async () => (await import('./python.ts')).benchPython(),
  http: async () => (await import('./http.ts')).benchHttp(),
  grading: async () => (await import('./grading.ts')).benchGrading(),
  models: async () => (await import('./models.ts')).benchModels(),
  rollout: async () => (await import('./rollout.ts')).benchRollout(),
  swap: async () => (await import('./swap.ts')).benchSwap(),
  trainer: async () => (await import('./trainer.ts')).benchTrainer(),
  'default-model': async () => (await import('./default-model.ts')).benchDefaultModel(),
  hf: async () => (await import('./hf.ts')).benchHf(),
};

async function main(wanted: string[]): Promise<void> {
  const unknown = wanted.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; available: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
  for (const name of wanted.length > 0 ? wanted : Object.keys(SUITES)) {
    console.log(`\n=== ${name} ===`);
    await SUITES[name]!();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
