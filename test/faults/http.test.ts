import { runAttackSuite } from './harness.ts';
import { HTTP_ATTACKS, HTTP_SUITE_ENV } from './http-attacks.ts';

/** The HTTP layer of the real server under attack (test/faults/README.md); the table of results is printed at the end. */
runAttackSuite('http', HTTP_ATTACKS, HTTP_SUITE_ENV);
