/**
 * A stand-in for the vendor's pipeline loader (`ovs-p4ctl set-pipe br0 k8s_dp.pb.bin p4Info.txt`),
 * which cannot run here, for the simulator: it becomes the primary client for the device over
 * P4Runtime (StreamChannel arbitration) and pushes the device config with
 * SetForwardingPipelineConfig, as the real tool does. The real tool converts p4Info.txt (protobuf
 * text format) into a binary P4Info; nothing here parses text format (docs/architecture.md#p4runtime), so this
 * stand-in checks the file is readable and sends the device config without P4Info, which the
 * simulator accepts. Exit 0 on success, 1 with the error on stderr.
 *
 *   node dist/test/sim/set-pipe.js --p4rt 127.0.0.1:9559 [--device 1] PB_BIN P4INFO
 */
import { readFileSync } from "node:fs";
import { P4RuntimeClient } from "../../daemon/host/p4runtime-client";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let address = "127.0.0.1:9559";
  let device = 1;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--p4rt") address = args[++i] as string;
    else if (a === "--device") device = Number(args[++i]);
    else files.push(a);
  }
  const [pbBin, p4info] = files;
  if (!pbBin || !p4info) throw new Error("usage: set-pipe --p4rt ADDR [--device N] PB_BIN P4INFO");
  const client = new P4RuntimeClient({ address, timeoutMs: 5000 });
  try {
    const arb = await client.becomePrimary(device, { high: 0, low: 1 });
    if (!arb.primary) throw new Error(`not primary for device ${device}`);
    readFileSync(p4info); // must exist and be readable, as for the real tool
    await client.setPipeline(device, undefined, readFileSync(pbBin), Date.now());
  } finally {
    client.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`set-pipe: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
