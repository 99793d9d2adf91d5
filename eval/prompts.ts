import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_PROMPT_TEMPLATE, type PromptTemplate } from '../api/reasoning/index.ts';
import { EvalInputError } from './harness.ts';

/**
 * Evaluation prompts by name, and prompt files. The `cir-*` ones are the seed's (RUCAIBox/CIR
 * evaluation/run.py): for Qwen2.5-Math the instruction and the problem as plain text, no chat
 * template (`CIR-qwen-math`); for Qwen3 the same text as the user message of the chat template with
 * thinking off (`CIR-qwen3`).
 */
const CIR_INSTRUCTION =
  'Please solve the following problem step by step. During your reasoning process, if needed, you can choose to write python code ' +
  'to enhance your reasoning. The code executor will run your code and provide the execution results back to you to support your ' +
  'reasoning process. Please put the final answer within \\boxed{}.\n';

export const PROMPTS: Record<string, PromptTemplate> = {
  'cir-qwen2.5-math': { system: null, user: (problem) => CIR_INSTRUCTION + problem, raw: true },
  'cir-qwen3': { system: null, user: (problem) => CIR_INSTRUCTION + problem, templateVariables: { enable_thinking: false } },
  default: DEFAULT_PROMPT_TEMPLATE,
};

/**
 * A prompt file: JSON `{ "user": "... {problem} ...", "system"?: string | null, "raw"?: boolean,
 * "template_variables"?: {...} }`, or any other file as the user message with `{problem}` in it.
 */
const PromptFileSchema = z.strictObject({
  user: z.string().refine((u) => u.includes('{problem}'), 'must contain {problem}'),
  system: z.string().nullable().optional(),
  raw: z.boolean().optional(),
  template_variables: z.record(z.string(), z.unknown()).optional(),
});

export function loadPrompt(nameOrFile: string): { name: string; template: PromptTemplate } {
  const named = Object.hasOwn(PROMPTS, nameOrFile) ? PROMPTS[nameOrFile] : undefined;
  if (named) return { name: nameOrFile, template: named };
  let text: string;
  try {
    text = readFileSync(nameOrFile, 'utf8');
  } catch (error) {
    throw new EvalInputError(`prompt "${nameOrFile}" is neither a known prompt (${Object.keys(PROMPTS).join(', ')}) nor a readable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const fill = (user: string) => (problem: string) => user.replaceAll('{problem}', problem);
  if (!nameOrFile.endsWith('.json')) {
    if (!text.includes('{problem}')) throw new EvalInputError(`prompt file ${nameOrFile} must contain {problem} where the problem goes`);
    return { name: nameOrFile, template: { system: null, user: fill(text) } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EvalInputError(`prompt file ${nameOrFile} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = PromptFileSchema.safeParse(json);
  if (!parsed.success) throw new EvalInputError(`prompt file ${nameOrFile}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')}`);
  const p = parsed.data;
  return {
    name: nameOrFile,
    template: { system: p.system ?? null, user: fill(p.user), ...(p.raw && { raw: true }), ...(p.template_variables && { templateVariables: p.template_variables }) },
  };
}
