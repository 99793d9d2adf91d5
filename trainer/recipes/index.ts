import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRecipe, SettingsError, type Recipe } from './settings.ts';

/**
 * Named recipes (`cir train --recipe NAME`): JSON files beside this module, in the recipe-file format
 * any user can write (`--recipe path/to/file.json`). See settings.ts for the keys.
 */
export const BUILTIN_RECIPES = ['cir', 'drgrpo'] as const;

const HERE = dirname(fileURLToPath(import.meta.url));

/** A built-in recipe by name, or a recipe file by path (anything with a slash or ending in .json). */
export function loadRecipe(nameOrPath: string): Recipe {
  const builtin = (BUILTIN_RECIPES as readonly string[]).includes(nameOrPath);
  if (!builtin && !/[\\/]|\.json$/i.test(nameOrPath)) {
    throw new SettingsError(`unknown recipe "${nameOrPath}": the built-in ones are ${BUILTIN_RECIPES.join(', ')}, or give a recipe file (path ending in .json)`);
  }
  const path = builtin ? join(HERE, `${nameOrPath}.json`) : nameOrPath;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(`cannot read recipe ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(`recipe ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseRecipe(json, `recipe ${path}`);
}
