import {
  encodeMemRegion,
  decodeMemRegion,
  validateMemRegion,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_MEM_RW,
} from "./index.ts";
const b = encodeMemRegion(
  {
    sender_id: 1,
    attributes: FFA_NORMAL_MEM_REG_ATTR,
    flags: 0,
    emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
    constituents: [{ address: 0x8000_0000n, page_count: 4 }],
  },
  "1.1",
);
const N = 3_000_000;
function bench(name: string, f: () => number) {
  for (let i = 0; i < 200000; i++) f();
  const t = process.hrtime.bigint();
  let k = 0;
  for (let i = 0; i < N; i++) k += f();
  const dt = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(name, (N / dt / 1e6).toFixed(2), "M/s", k > -1 ? "" : "");
}
const d0 = decodeMemRegion(b, "1.1");
if (!d0.ok) throw 1;
bench("decode", () => {
  const d = decodeMemRegion(b, "1.1");
  return d.ok ? 1 : 0;
});
bench("validate", () => validateMemRegion(d0.value, "1.1").length);
bench("both", () => {
  const d = decodeMemRegion(b, "1.1");
  return d.ok ? validateMemRegion(d.value, "1.1").length : 0;
});
