/**
 * A name → value table with no prototype: looking up a name a model wrote (`constructor`, `toString`,
 * `__proto__`) finds nothing rather than an Object method.
 */
export function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}
