/**
 * A counter bumped by whatever changes what GET /v1/status shows: a component's state, phase, pid,
 * restarts or log tail. The API serializes the status document once per value and serves those bytes
 * until it moves (api/routes/status.ts). Process-wide on purpose: the log followers and supervisors that
 * bump it know no engine, and a bump too many only costs one serialization, never a stale answer.
 */
let epoch = 0;

/** Something shown by the status document changed. */
export function statusChanged(): void {
  epoch++;
}

/** The current value: equal values mean an unchanged status (apart from uptimeSec). */
export function statusEpoch(): number {
  return epoch;
}
