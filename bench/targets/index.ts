// Every target, in the order each round runs them and the table lists them.

import { direct } from './direct.ts';
import { legate } from './legate.ts';
import { nginx } from './nginx.ts';
import { haproxy } from './haproxy.ts';
import { httpProxy } from './http-proxy.ts';
import type { Scenario } from '../lib/args.ts';
import type { TargetSpec } from './types.ts';

export const TARGETS: readonly TargetSpec[] = [
  direct, legate(1), legate(2), legate(1, 'legate-dns', undefined, '', 'dns'), legate(1, 'legate-filters', undefined, '', 'filters'), nginx, haproxy, httpProxy,
];

/**
 * Targets selected by --only that take part in `scenario`: exact names, or a prefix before "-" ("legate"
 * selects legate-c1 and legate-c2). Unknown names are an error so a typo does not silently bench nothing.
 */
export function selectTargets(only: readonly string[] | null, scenario: Scenario): TargetSpec[] {
  const inScenario = TARGETS.filter((t) => t.scenarios.includes(scenario));
  if (only === null) return inScenario;
  for (const name of only) {
    if (!TARGETS.some((t) => t.name === name || t.name.startsWith(`${name}-`))) {
      throw new Error(`--only: unknown target "${name}" (known: ${TARGETS.map((t) => t.name).join(', ')})`);
    }
  }
  return inScenario.filter((t) => only.some((name) => t.name === name || t.name.startsWith(`${name}-`)));
}
