// The line protocol of the harness scripts (peer.mjs, px.mjs): events and
// answers are JSON objects written one per stdout line; commands are JSON
// objects read one per stdin line, {id, cmd, ...}, each answered with
// {id, ...result} or {id, error}. End of stdin stops the script, so it never
// outlives the Go test that started it.
import { createInterface } from "node:readline";

export const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

export function serveLines(commands, stop) {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      out({ event: "error", error: "bad command line: " + e.message });
      return;
    }
    try {
      const f = commands[req.cmd];
      if (!f) throw new Error("unknown command " + req.cmd);
      out({ id: req.id, ...(await f(req)) });
    } catch (e) {
      out({ id: req.id, error: String(e?.message ?? e) });
    }
  });
  rl.on("close", async () => {
    await stop().catch(() => {});
    process.exit(0);
  });
}
