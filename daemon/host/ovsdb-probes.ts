import { OvsdbRpc, OvsdbRpcError, transactError } from "./ovsdb-rpc";

/**
 * The OVS readiness probes, spoken as OVSDB JSON-RPC on db.sock (RFC 7047) with the same meaning as
 * the ovs-vsctl calls they replace, read from openvswitch/ovs utilities/ovs-vsctl.c (do_vsctl) and
 * lib/ovsdb-idl.c (ovsdb_idl_txn_commit).
 */

const DB = "Open_vSwitch";

/** ok, or why not (the socket's failure, the server's error, or what was still awaited), in words. */
export type ProbeAnswer = { ok: true; inserted?: boolean } | { ok: false; why: string };

/**
 * What `ovs-vsctl --no-wait init` does: ovs-vsctl.c do_vsctl() takes the first Open_vSwitch row and,
 * when there is none, inserts an empty one (cmd_init itself does nothing; with no change its IDL
 * transaction is TXN_UNCHANGED and nothing is sent). Here: select the rows; if none, insert one in a
 * transaction that first waits for the table to be still empty (RFC 7047 §5.2.6 "wait", timeout 0).
 * vswitch.ovsschema's maxRows 1 already refuses a second row; the wait makes the loser of two racing
 * probes answer "initialised" instead of a constraint violation (ovs-vsctl leaves that as an "XXX").
 */
export async function ovsdbInit(sock: string, timeoutMs: number): Promise<ProbeAnswer> {
  return withRpc(sock, timeoutMs, async (rpc) => {
    const sel = await rpc.request("transact", [
      DB,
      { op: "select", table: DB, where: [], columns: ["_uuid"] },
    ]);
    const selErr = transactError(sel);
    if (selErr) return { ok: false, why: selErr };
    if (rowsOf(sel, 0).length > 0) return { ok: true };
    const ins = await rpc.request("transact", [
      DB,
      { op: "wait", table: DB, where: [], columns: ["_uuid"], until: "==", rows: [], timeout: 0 },
      { op: "insert", table: DB, row: {} },
      { op: "comment", comment: "k8s-offloadd: init (as ovs-vsctl --no-wait init)" },
    ]);
    // The wait failing means someone inserted the row in between: initialised all the same.
    const insErr = transactError(ins);
    if (insErr && !/timed out/.test(insErr)) return { ok: false, why: insErr };
    return { ok: true, inserted: !insErr };
  });
}

/**
 * What a waiting ovs-vsctl does (ovs-vsctl.c do_vsctl): its transaction carries
 * ovsdb_idl_txn_increment(next_cfg), which ovsdb-idl.c sends as a "mutate" next_cfg "+=" 1 and a
 * "select" of next_cfg in the same transaction; then it keeps the IDL (a monitor of cur_cfg) running
 * until Open_vSwitch.cur_cfg >= that next_cfg, which ovs-vswitchd writes once it has applied the
 * database. Here: monitor cur_cfg first (so no update is missed), then increment and read, then wait
 * for the monitor's updates until timeoutMs.
 */
export async function ovsdbApplied(sock: string, timeoutMs: number): Promise<ProbeAnswer> {
  let target: number | null = null;
  let cur: number | null = null;
  let reached: (() => void) | null = null;
  const seen = (updates: unknown) => {
    for (const row of Object.values(tableOf(updates))) {
      const v = (row as { new?: { cur_cfg?: unknown } } | null)?.new?.cur_cfg;
      if (typeof v === "number") cur = v;
    }
    if (target !== null && cur !== null && cur >= target) reached?.();
  };
  const answer = await withRpc(sock, timeoutMs, async (rpc) => {
    const monitorId = "k8s-offloadd-cur-cfg";
    rpc.on("update", (params) => {
      if (Array.isArray(params) && params[0] === monitorId) seen(params[1]);
    });
    seen(await rpc.request("monitor", [DB, monitorId, { [DB]: { columns: ["cur_cfg"] } }]));
    const res = await rpc.request("transact", [
      DB,
      { op: "mutate", table: DB, where: [], mutations: [["next_cfg", "+=", 1]] },
      { op: "select", table: DB, where: [], columns: ["next_cfg"] },
      { op: "comment", comment: "k8s-offloadd: ovs-vswitchd probe (as a waiting ovs-vsctl)" },
    ]);
    const err = transactError(res);
    if (err) return { ok: false, why: err };
    const next = rowsOf(res, 1)[0]?.next_cfg;
    if (typeof next !== "number") return { ok: false, why: `no ${DB} row in the database yet` };
    target = next;
    const t = target;
    if (cur === null || cur < t) {
      // Resolved by an update, or rejected by the connection's deadline or close (withRpc says which).
      await new Promise<void>((resolve, reject) => {
        reached = resolve;
        rpc.onClose(reject);
      });
    }
    return { ok: true };
  });
  if (!answer.ok && target !== null) {
    return { ok: false, why: `next_cfg ${target}, cur_cfg ${cur ?? "none"}: ${answer.why}` };
  }
  return answer;
}

/** Opens, runs, closes; a connection failure, error reply or timeout becomes { ok: false, why }. */
async function withRpc(
  sock: string,
  timeoutMs: number,
  body: (rpc: OvsdbRpc) => Promise<ProbeAnswer>,
): Promise<ProbeAnswer> {
  let rpc: OvsdbRpc | null = null;
  try {
    rpc = await OvsdbRpc.open(sock, timeoutMs);
    return await body(rpc);
  } catch (err) {
    if (err instanceof OvsdbRpcError) return { ok: false, why: err.message };
    throw err;
  } finally {
    rpc?.close();
  }
}

function rowsOf(result: unknown, i: number): Record<string, unknown>[] {
  const r = (result as { rows?: unknown }[])[i]?.rows;
  return Array.isArray(r) ? (r as Record<string, unknown>[]) : [];
}

function tableOf(updates: unknown): Record<string, unknown> {
  const t = (updates as Record<string, unknown> | null)?.[DB];
  return t && typeof t === "object" ? (t as Record<string, unknown>) : {};
}
