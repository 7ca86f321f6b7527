import type { SupervisorConfig } from "../config/types";

/** Restart delay after the given number of recent exits: initial × 2^attempt, capped. */
export function nextBackoff(
  attempt: number,
  policy: Pick<SupervisorConfig, "backoffInitialMs" | "backoffMaxMs">,
): number {
  return Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** Math.min(attempt, 30));
}
