import { parseArgs } from 'node:util';
import { importHfCheckpoint } from '../../core/hf/convert.ts';
import { UnsupportedModelError } from '../../core/hf/config.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const importUsage = `usage: cir import HF_DIR --out MODEL_DIR [--dtype fp32|fp16] [--external-data] [--force]
Makes a Hugging Face checkpoint directory (config.json, model.safetensors or its shards, tokenizer.json,
tokenizer_config.json, chat template) into a model directory that \`cir serve\` runs (CIR_MODEL_DIR=MODEL_DIR)
and \`cir train\` trains: the checkpoint's files, unchanged, plus model.onnx in the layout optimum-cli exports
for text generation with past key values. No Optimum or Python needed.
Supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM (rope: default, linear, llama3).
  --dtype          how the ONNX weights are stored: fp32 (default) or fp16 (half the size; the runtime
                   computes in float32 either way)
  --external-data  weights in model.onnx_data beside model.onnx (automatic past 1 GiB: protobuf's limit is 2 GiB)
  --force          replace MODEL_DIR if it exists
Prints a JSON summary; progress goes to stderr.`;

export async function importCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      dtype: { type: 'string', default: 'fp32' },
      'external-data': { type: 'boolean' },
      force: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one Hugging Face checkpoint directory');
  if (!values.out) throw new UsageError('--out is required');
  if (values.dtype !== 'fp32' && values.dtype !== 'fp16') throw new UsageError(`--dtype must be fp32 or fp16, got "${values.dtype}"`);
  const progress = new Progress(io.stderr as NodeJS.WritableStream & { isTTY?: boolean });
  const started = Date.now();
  try {
    const imported = await importHfCheckpoint(positionals[0]!, values.out, {
      dtype: values.dtype,
      externalData: values['external-data'],
      force: values.force,
      onTensor: (done, total) => progress.update('converting weights', done, total),
    });
    progress.clear();
    const seconds = (Date.now() - started) / 1000;
    progress.line(`imported ${imported.architecture} (${(imported.parameters / 1e6).toFixed(1)}M parameters) into ${imported.dir} in ${seconds.toFixed(1)} s`);
    io.stdout.write(`${JSON.stringify({ dir: imported.dir, architecture: imported.architecture, parameters: imported.parameters, dtype: values.dtype, files: imported.files, seconds }, null, 2)}\n`);
    return 0;
  } catch (error) {
    progress.clear();
    const message = (error as Error).message;
    io.stderr.write(`cir import: ${message}\n`);
    return error instanceof UnsupportedModelError ? 2 : 1;
  }
}
