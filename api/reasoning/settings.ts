import type { Config } from '../config.ts';
import type { ReasoningSettings } from './types.ts';

export const DEFAULT_REASONING_SETTINGS: ReasoningSettings = {
  defaultToolBudget: 4,
  maxToolCalls: 16,
  defaultMaxTokens: 2048,
  maxProblemChars: 32_000,
  maxN: 64,
  fullTraceback: false,
  toolOutputBytes: 2048,
  reward: { correct: 1, incorrect: -1 },
};

/** The loop's settings from the server configuration (CIR_TOOL_BUDGET, CIR_MAX_TOOL_CALLS, ...). */
export function reasoningSettingsFromConfig(config: Config): ReasoningSettings {
  return {
    ...DEFAULT_REASONING_SETTINGS,
    defaultToolBudget: config.CIR_TOOL_BUDGET,
    maxToolCalls: config.CIR_MAX_TOOL_CALLS,
    defaultMaxTokens: config.CIR_SOLVE_MAX_TOKENS,
    maxProblemChars: config.CIR_MAX_PROBLEM_CHARS,
    maxN: config.CIR_SOLVE_MAX_N,
    fullTraceback: config.CIR_FULL_TRACEBACK,
    toolOutputBytes: config.CIR_TOOL_OUTPUT_BYTES,
    toolTimeoutMs: config.CIR_TOOL_TIMEOUT_MS,
  };
}
