#!/usr/bin/env node
// The rstmem command: runs the TypeScript sources through tsx's loader, so a checkout works right after `npm ci`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
