/**
 * One-shot gNMI client for bench/taps, reference (a): what one `gnmi-cli set
 * "device:virtual-device,name:NAME,pipeline-name:pipe,mempool-name:MEMPOOL0,mtu:1500,port-type:TAP"`
 * does in the guide's create_interfaces.sh loop. A fresh process builds a channel, sends the
 * port's four SetRequests (one per leaf, port-type last) and exits:
 *
 *     node dist/bench/gnmi-set-one.js ADDRESS NAME
 *
 * Exit 0 when the port was created, 1 (with the error on stderr) otherwise, 2 on bad usage.
 */
import { GnmiClient } from "../daemon/host/gnmi-client";

async function main(): Promise<number> {
  const [address, name] = process.argv.slice(2);
  if (!address || !name) {
    process.stderr.write("usage: gnmi-set-one ADDRESS NAME\n");
    return 2;
  }
  const client = new GnmiClient({ address });
  try {
    await client.createTapPort(name);
    return 0;
  } catch (err) {
    process.stderr.write(`gnmi-set-one ${name}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

if (require.main === module) void main().then((code) => process.exit(code));
