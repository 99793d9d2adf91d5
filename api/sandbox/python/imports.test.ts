import { describe, expect, it } from 'vitest';
import { isModuleName, mentionsAnyOf } from './imports.ts';

describe('mentionsAnyOf', () => {
  const scientific = mentionsAnyOf(['sympy', 'numpy', 'numpy.linalg']);

  it.each([
    'import sympy\nprint(sympy.factorint(12))',
    'from sympy import *\nprint(factorint(12))',
    'import numpy as np',
    'import os, numpy',
    'def f():\n    import sympy as sp\n    return sp.pi\nprint(f())',
    'from sympy.ntheory import factorint',
    'm = __import__("sympy")',
    'import importlib\nimportlib.import_module("numpy.linalg")',
    'x = 1  # sympy would do this too',
  ])('sends %j to the preloaded sandboxes', (code) => {
    expect(scientific(code)).toBe(true);
  });

  it.each(['print(1)', 'import math\nprint(math.comb(10, 3))', 'sympy_like = 2\nprint(sympy_like)', 'mynumpy = 3', 'import numpyx'])(
    'sends %j to the plain sandboxes',
    (code) => {
      expect(scientific(code)).toBe(false);
    },
  );

  it('matches nothing without modules', () => {
    expect(mentionsAnyOf([])('import sympy')).toBe(false);
  });
});

describe('isModuleName', () => {
  it('accepts dotted identifiers only', () => {
    expect(isModuleName('numpy.linalg')).toBe(true);
    expect(isModuleName('sympy')).toBe(true);
    for (const bad of ['', 'a,b', '1x', 'a..b', 'os; rm', 'a|b']) expect(isModuleName(bad)).toBe(false);
  });
});
