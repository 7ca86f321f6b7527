/**
 * bench/gnmi-rpc-floor: the per-RPC cost of @grpc/grpc-js on this machine, client and server in
 * separate processes (as the daemon and the P4 target are), for a gNMI Set of one leaf sent the
 * daemon's way (GnmiClient.setLeaf: deadline, UNAVAILABLE retries). The server answers at once
 * with the usual SetResponse (no validation, no TAP): what is left is gRPC + HTTP/2 + protobuf, the floor under a pool
 * bring-up's N*4 SetRequests. Both processes start cold, as in bench/taps (V8 has not optimised
 * grpc-js yet: the first thousands of calls cost about twice what later ones do).
 *
 *   node .build/perf/dist/bench/gnmi-rpc-floor.js [CALLS=1024] [CONCURRENCY list=1,16,64,256]
 *
 * FLOOR_WARMUP calls (default 0) are made before measuring; FLOOR_OPTS adds channel options (JSON).
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { GnmiClient, portLeafPath } from "../daemon/host/gnmi-client";
import { loadProto, lookup } from "../daemon/host/grpc-channel";

function serve(): void {
  const server = new grpc.Server();
  const svc = lookup<{ service: grpc.ServiceDefinition }>(loadProto("gnmi.proto"), "gnmi.gNMI").service;
  // The reply a target gives (the simulator's, Stratum's): the updated path echoed, a timestamp.
  const timestamp = String(BigInt(Date.now()) * 1_000_000n);
  server.addService(svc, {
    Set: (call: { request: { update?: { path?: unknown }[] } }, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { response: [{ path: call.request.update?.[0]?.path, op: "UPDATE" }], timestamp }),
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.send?.({ port });
  });
}

/** utime+stime of a process in ms (USER_HZ 100, so 10 ms steps). */
function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

async function run(client: GnmiClient, calls: number, c: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < calls) {
        const i = next++;
        await client.setLeaf(portLeafPath(`P4TAP_${i % 4096}`, "pipeline-name"), "pipe");
      }
    }),
  );
}

export interface FloorRow {
  calls: number;
  concurrency: number;
  wallMs: number;
  clientCpuMs: number;
  serverCpuMs: number;
}

/** A fresh null server and a fresh channel; `warmup` calls, then one row per concurrency. */
export async function rpcFloor(
  calls: number,
  concurrencies: readonly number[],
  warmup = 0,
  channelOptions: grpc.ChannelOptions = {},
): Promise<FloorRow[]> {
  const child = fork(__filename, ["--serve"], { stdio: "inherit" });
  try {
    const port = await new Promise<number>((r) => child.once("message", (m: { port: number }) => r(m.port)));
    const client = new GnmiClient({ address: `127.0.0.1:${port}`, channelOptions });
    try {
      if (warmup > 0) await run(client, warmup, 64);
      const rows: FloorRow[] = [];
      for (const c of concurrencies) {
        const c0 = process.cpuUsage();
        const s0 = procCpuMs(child.pid as number);
        const t0 = performance.now();
        await run(client, calls, c);
        const wallMs = performance.now() - t0;
        const cu = process.cpuUsage(c0);
        const serverCpuMs = procCpuMs(child.pid as number) - s0;
        rows.push({ calls, concurrency: c, wallMs, clientCpuMs: (cu.user + cu.system) / 1000, serverCpuMs });
      }
      return rows;
    } finally {
      client.close();
    }
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 1024);
  const cs = (process.argv[3] ?? "1,16,64,256").split(",").map(Number);
  const opts = JSON.parse(process.env.FLOOR_OPTS ?? "{}") as grpc.ChannelOptions;
  const rows = await rpcFloor(calls, cs, Number(process.env.FLOOR_WARMUP ?? 0), opts);
  for (const r of rows) {
    const us = (x: number) => ((x * 1000) / r.calls).toFixed(0);
    console.log(
      `${r.calls} Sets, ${r.concurrency} in flight: wall ${r.wallMs.toFixed(1)} ms (${us(r.wallMs)} us/Set); ` +
        `CPU per Set: client ${us(r.clientCpuMs)} us, server ${us(r.serverCpuMs)} us`,
    );
  }
}

if (process.argv[2] === "--serve") serve();
else if (require.main === module)
  void main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
