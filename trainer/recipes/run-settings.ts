import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from '../run/files.ts';
import { formatBudgetSchedule } from '../run/budget.ts';
import { readRunState } from '../run/state.ts';
import { loadRecipe } from './index.ts';
import { describeChanges, mergeSettings, parseSettingFlags, RecipeSchema, type SettingName, type TrainSettings } from './settings.ts';

/**
 * The settings a `cir train` job runs with, resolved against its run directory: the run's recorded
 * settings.json (a recipe file itself, so `--recipe runs/x/settings.json` starts another run the same
 * way), then --recipe, then flags. A run started before settings.json existed contributes its budget
 * schedule from state.json.
 */
export interface ResolvedSettings {
  settings: TrainSettings;
  /** The recipe named now, or the one the run was started with. */
  recipe: string | null;
  /** "name a → b" for each setting that differs from what the run recorded (empty for a new run). */
  changes: string[];
  /** Whether the run directory already recorded settings. */
  recorded: boolean;
}

export const settingsPath = (runDir: string) => join(runDir, 'settings.json');

export async function resolveRunSettings(
  runDir: string,
  { recipe, flags }: { recipe?: string; flags: Partial<Record<SettingName, string>> },
): Promise<ResolvedSettings> {
  const recorded = await readJsonFile(settingsPath(runDir), RecipeSchema);
  const state = recorded ? null : await readRunState(runDir);
  const base = recorded ?? (state ? { budget: formatBudgetSchedule(state.schedule) } : null);
  const named = recipe === undefined ? null : loadRecipe(recipe);
  const settings = mergeSettings(base, named, parseSettingFlags(flags));
  return {
    settings,
    recipe: named?.recipe ?? (recipe !== undefined ? recipe : (recorded?.recipe ?? null)),
    changes: recorded ? describeChanges(mergeSettings(recorded), settings) : [],
    recorded: recorded !== null,
  };
}

export function writeRunSettings(runDir: string, resolved: ResolvedSettings): Promise<void> {
  return writeJsonAtomic(settingsPath(runDir), { ...(resolved.recipe !== null && { recipe: resolved.recipe }), ...resolved.settings });
}
