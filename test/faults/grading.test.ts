import { GRADING_ATTACKS } from './grading-attacks.ts';
import { runAttackSuite } from './harness.ts';

runAttackSuite('grading', GRADING_ATTACKS, { CIR_PYTHON_EXECUTOR: 'off' });
