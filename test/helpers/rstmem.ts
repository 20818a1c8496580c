/** Runs the rstmem command in-process, as a user would type it, and collects its output and exit status. */
import { main } from "../../src/cli/main.ts";

export async function rstmem(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["node", "rstmem", ...args], {
    out: (s) => (out += s),
    err: (s) => (err += s),
    errIsTty: false,
  });
  return { code, out, err };
}
