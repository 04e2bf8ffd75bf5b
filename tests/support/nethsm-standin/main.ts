#!/usr/bin/env node
/** Starts the NetHSM stand-in by hand: node dist/tests/support/nethsm-standin/main.js --port 8443 */
import { parseArgs } from "node:util";
import { startStandIn } from "./server.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8443" },
    host: { type: "string", default: "127.0.0.1" },
    "no-rate-limit": { type: "boolean", default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}
const s = await startStandIn({ port, host: values.host, rateLimitMs: values["no-rate-limit"] ? 0 : 1000 });
process.stdout.write(`NetHSM stand-in listening on ${s.url}\nTLS certificate sha256 ${s.tls.fingerprint}\n`);
const stop = (): void => {
  void s.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
