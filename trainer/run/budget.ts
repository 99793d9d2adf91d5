import type { CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import { ToolBudgetScheduleSchema } from '../../core/schemas/checkpoint.ts';

/**
 * The progressive tool-call budget: a limit per training step range, e.g. `0:2,40:3,80:4` allows 2 tool
 * calls per rollout until step 40, then 3, then 4. The trainer writes it (and the limit in force) into
 * every manifest, and the API serves each checkpoint with its limit.
 */
export type ToolBudgetSchedule = CheckpointManifest['tool_budget']['schedule'];

/** Parses `step:limit,...` (or a bare `limit`, meaning that limit from step 0 on). */
export function parseBudgetSchedule(text: string): ToolBudgetSchedule {
  const entries = text.split(',').map((part) => part.trim());
  const schedule = entries.length === 1 && /^\d+$/.test(entries[0]!)
    ? [{ step: 0, limit: Number(entries[0]) }]
    : entries.map((part) => {
        const match = /^(\d+):(\d+)$/.exec(part);
        if (!match) throw new Error(`budget schedule entry ${JSON.stringify(part)} is not step:limit (e.g. 0:2,40:3,80:4)`);
        return { step: Number(match[1]), limit: Number(match[2]) };
      });
  const parsed = ToolBudgetScheduleSchema.safeParse(schedule);
  if (!parsed.success) throw new Error(`budget schedule ${JSON.stringify(text)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

/** The limit in force at `step`. */
export function budgetAt(schedule: ToolBudgetSchedule, step: number): number {
  let limit = schedule[0]!.limit;
  for (const entry of schedule) if (entry.step <= step) limit = entry.limit;
  return limit;
}

/** The schedule as parseBudgetSchedule reads it: `0:2,40:3,80:4`. */
export function formatBudgetSchedule(schedule: ToolBudgetSchedule): string {
  return schedule.map((entry) => `${entry.step}:${entry.limit}`).join(',');
}
