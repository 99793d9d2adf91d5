/**
 * Which snippets go to the preloaded sandboxes: a word match on the source rather than a parse.
 * `import sympy`, `from sympy import *`, `import numpy as np`, an import inside a function or
 * `__import__("sympy")` all name the package; so do comments, strings and attributes that
 * happen to, which only sends a snippet to an interpreter that has the package loaded, with the
 * same result. A name built at run time (`__import__("sym" + "py")`) takes the plain path and
 * pays the import there.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export function isModuleName(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** A test for "this source names one of these packages" (dotted names count by their top-level package). */
export function mentionsAnyOf(modules: readonly string[]): (code: string) => boolean {
  const packages = [...new Set(modules.map((name) => name.split('.')[0]!))];
  if (packages.length === 0) return () => false;
  // Names are identifiers (checked with the options), so they need no escaping.
  const pattern = new RegExp(`(?<![A-Za-z0-9_])(?:${packages.join('|')})(?![A-Za-z0-9_])`);
  return (code) => pattern.test(code);
}
