/**
 * What the state database holds, as the daemon reads and writes it (daemon/state/store.ts). The
 * store owns these types; the engine, components, jobs and host adapters that persist something
 * import them from here (state/ imports nothing of theirs).
 */

/** An event in the node's history (persisted, capped). */
export interface NodeEvent {
  id: number;
  /** ISO time. */
  time: string;
  component: string | null;
  kind: EventKind;
  message: string;
}

export type EventKind =
  | "start"
  | "ready"
  | "exit"
  | "restart"
  | "give-up"
  | "blocked"
  | "adopt"
  | "stop"
  | "error"
  | "phase"
  | "job"
  | "job-step"
  /** Something an admin should look at that is not a failure (the TAP pool running low, TAPs lost). */
  | "warning";

/**
 * A supervised child. Written before the spawn with pid and startTime null (write-ahead), then
 * confirmed: a record with a null pid is a child that may or may not have been started.
 */
export interface ChildRecord {
  component: string;
  pid: number | null;
  /** Field 22 of /proc/PID/stat (clock ticks since boot): tells a reused pid apart. Null with pid. */
  startTime: number | null;
  argv: string[];
  /** ISO time. */
  spawnedAt: string;
  logFile: string;
  /** /proc/sys/kernel/random/boot_id when recorded; null: recorded before boot ids were kept. */
  bootId: string | null;
}

export type JobState = "running" | "succeeded" | "failed" | "interrupted";
export type StepState = "pending" | "running" | "succeeded" | "failed" | "skipped";

export interface JobStep {
  idx: number;
  name: string;
  state: StepState;
  message: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Job {
  id: number;
  kind: string;
  state: JobState;
  createdAt: string;
  updatedAt: string;
  message: string | null;
  steps: JobStep[];
}

/** What the node's datapath should be; a restarted daemon converges to it. */
export type DesiredDatapath = "up" | "down";

/** A TAP the daemon created (so teardown removes only ours). */
export interface TapRecord {
  name: string;
  backend: "gnmi" | "kernel" | "dpdk";
  createdAt: string;
  /** Written ahead: "creating" before the TAP (or port) is made, "created" once it is. */
  state: "creating" | "created";
  /**
   * Kernel backend: the kernel generation it was made in (boot and datapath namespace); dpdk: the run
   * of ovs-vswitchd that made it (boot, pid, start time); else null.
   */
  generation: string | null;
  /** Its MAC in the datapath namespace, once seen there (finds it again after a move and rename). */
  mac: string | null;
  /** Where it was last seen: available, in-use, lost, host; null before the first look. */
  placement: string | null;
  /** The named namespace holding it when in use, if known. */
  netns: string | null;
}

/** What the pool last saw of one TAP (StateStore.saveTapPlacement). */
export interface TapPlacement {
  name: string;
  mac: string | null;
  placement: string;
  netns: string | null;
}

/** A step process as recorded: pid and startTime are null until confirmed after the spawn. */
export interface StepProcessRecord {
  id: number;
  jobId: number | null;
  stepIdx: number | null;
  argv: string[];
  marker: string;
  bootId: string;
  pid: number | null;
  startTime: number | null;
}
